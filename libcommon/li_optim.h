/* li_optim.h: optimizers and learning-rate schedules with PyTorch semantics.
 * An optimizer updates one flat parameter arena from its gradient arena. */
#ifndef LI_OPTIM_H
#define LI_OPTIM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { LI_OPTIM_ADAM, LI_OPTIM_ADAMW, LI_OPTIM_SGD } li_optim_kind;

typedef struct li_optim_config {
	li_optim_kind kind;
	double beta1, beta2, eps;   /* Adam: 0.9, 0.999, 1e-8 */
	double weight_decay;        /* Adam: L2 added to the gradient; AdamW: decoupled */
	double momentum, dampening; /* SGD */
	bool nesterov;
} li_optim_config;

void li_optim_config_default(li_optim_config *cfg, li_optim_kind kind);

typedef struct li_optim li_optim;
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

typedef enum { LI_SCHED_CONSTANT, LI_SCHED_COSINE, LI_SCHED_COSINE_RESTART } li_sched_kind;

typedef struct li_sched {
	li_sched_kind kind;
	double base_lr, min_lr;
	int64_t t_max;        /* CosineAnnealingLR T_max / restart period T_0, in schedule units */
	int64_t warmup;       /* linear warm-up units (0 = none) */
} li_sched;
/* The learning rate at unit t (step or epoch, as the caller counts). */
double li_sched_lr(const li_sched *s, int64_t t);
#endif
