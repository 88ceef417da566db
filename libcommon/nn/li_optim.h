/* li_optim.h: optimizers and learning-rate schedules with PyTorch semantics.
 * An optimizer updates one flat parameter arena from its gradient arena. */
#ifndef LI_OPTIM_H
#define LI_OPTIM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* _COUNT: the number of kinds, for name tables (li-train). */
typedef enum { LI_OPTIM_ADAM, LI_OPTIM_ADAMW, LI_OPTIM_SGD, LI_OPTIM_COUNT } li_optim_kind;

typedef struct li_optim_config {
	li_optim_kind kind;
	double beta1, beta2, eps;   /* Adam: 0.9, 0.999, 1e-8 */
	double weight_decay;        /* Adam: L2 added to the gradient; AdamW: decoupled */
	double momentum, dampening; /* SGD */
	bool nesterov;
} li_optim_config;

/* Defaults as torch: Adam/AdamW betas (0.9, 0.999), eps 1e-8, weight decay 0
 * (AdamW: 0.01); SGD momentum 0, dampening 0, no nesterov. */
void li_optim_config_default(li_optim_config *cfg, li_optim_kind kind);

/* One step, per element, in float as torch 1.13's single-tensor kernels:
 *   Adam:  g += wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 *          p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   AdamW: p *= 1 - lr*wd first, then Adam without the wd term
 *   SGD:   g += wd*p; buf = g on the first step, else buf = mom*buf + (1-damp)*g;
 *          g = nesterov ? g + mom*buf : buf (when mom != 0); p -= lr*g */
typedef struct li_optim li_optim;
/* NULL + li_error for a bad config (betas outside [0, 1), negative eps or
 * weight decay, nesterov without momentum or with dampening, as torch refuses). */
li_optim *li_optim_new(const li_optim_config *cfg, size_t nparams);
void li_optim_free(li_optim *opt);
/* One step at learning rate lr (torch.optim.Adam / AdamW / SGD step()). */
void li_optim_step(li_optim *opt, float *params, const float *grads, double lr);
/* State for checkpoints: the step count and the state arenas (Adam: exp_avg,
 * exp_avg_sq; SGD: momentum buffer, second NULL). */
int64_t li_optim_steps(const li_optim *opt);
void li_optim_set_steps(li_optim *opt, int64_t steps);
float *li_optim_state(li_optim *opt, int which);
size_t li_optim_size(const li_optim *opt);

typedef enum { LI_SCHED_CONSTANT, LI_SCHED_COSINE, LI_SCHED_COSINE_RESTART, LI_SCHED_COUNT } li_sched_kind;

/* Learning-rate schedules, as torch.optim.lr_scheduler computes them:
 *   constant: base_lr
 *   cosine:   CosineAnnealingLR(T_max=t_max, eta_min=min_lr), closed form
 *             min + (base - min) * (1 + cos(pi * t / t_max)) / 2; past t_max
 *             it rises again (period 2 * t_max), exactly as torch does
 *   cosine_restart: CosineAnnealingWarmRestarts(T_0=t_max, T_mult=1, eta_min=min_lr)
 * With warmup = w > 0 the first w units follow LinearLR(start_factor=f,
 * end_factor=1, total_iters=w): base * (f + (1 - f) * t / w), and the schedule
 * above then starts at unit w (torch: SequentialLR(milestones=[w])), so t_max
 * counts units after the warm-up. f = warmup_start, or 1 / w when it is 0
 * (so the first unit runs at base_lr / w). Units are steps or epochs, as the
 * caller counts them. */
typedef struct li_sched {
	li_sched_kind kind;
	double base_lr, min_lr;
	int64_t t_max;        /* CosineAnnealingLR T_max / restart period T_0, in schedule units */
	int64_t warmup;       /* linear warm-up units (0 = none) */
	double warmup_start;  /* LinearLR start_factor in (0, 1]; 0 = 1 / warmup */
} li_sched;
/* The learning rate at unit t >= 0 (the value torch's scheduler holds after t
 * calls of scheduler.step()). */
double li_sched_lr(const li_sched *s, int64_t t);
#endif
