/* bench_net.c: our side of the ResNet speed benchmark (bench/run runs the
 * PyTorch side and prints ratios). Prints machine-readable lines:
 *   train_img_s X      training: forward, loss, backward, Adam step (median)
 *   infer_img_s X      eval forward at --batch (median)
 *   infer1_img_s X     eval forward at batch 1 (median)
 *   peak_rss_mb X      getrusage ru_maxrss
 *   layer NAME fwd_ms X bwd_ms Y fwd_gflop_s Z bwd_gflop_s W [fwd_path P] [bwd_path Q]
 *                      (per iteration; P, Q: the conv's path, li_conv_path)
 * usage: bench_net [--describe] [--arch A] [--size S] [--batch B] [--classes K]
 *                  [--threads T] [--iters N] [--warmup W] [--mode all|train|infer]
 *                  [--im2col]   (no Winograd: every conv as im2col + GEMM)
 * Timings are wall-clock; cpu_s X (process CPU seconds) is printed too, a
 * steadier figure on a busy machine for comparing two builds at --threads 1. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "li_cli.h"
#include "li_error.h"
#include "li_net.h"
#include "li_nn.h"
#include "li_optim.h"
#include "li_rng.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void print_profile(const li_net *net, int iters, const char *prefix)
{
	for (int i = 0; i < li_net_prof_count(net); i++) {
		const li_net_prof *p = li_net_prof_at(net, i);
		if (!p->forward_calls && !p->backward_calls)
			continue;
		printf("%s %s fwd_ms %.2f bwd_ms %.2f fwd_gflop_s %.1f bwd_gflop_s %.1f", prefix,
		       p->name, 1e3 * p->forward_s / iters, 1e3 * p->backward_s / iters,
		       p->forward_s > 0 ? p->forward_flop / p->forward_s / 1e9 : 0.0,
		       p->backward_s > 0 ? p->backward_flop / p->backward_s / 1e9 : 0.0);
		if (p->forward_path)
			printf(" fwd_path %s", p->forward_path);
		if (p->backward_path && p->backward_calls)
			printf(" bwd_path %s", p->backward_path);
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	li_cli_init(argv[0]);
	li_net_config cfg;
	li_net_config_default(&cfg);
	int size = 224, batch = 32, threads = 2, iters = 5, warmup = 1, mode = 0;
	bool im2col = false, bf16 = false;
	static const char *const modes[] = {"all", "train", "infer", NULL};
	static const struct option opts[] = {
		{"arch", required_argument, NULL, 'a'}, {"size", required_argument, NULL, 's'},
		{"batch", required_argument, NULL, 'b'}, {"classes", required_argument, NULL, 'k'},
		{"threads", required_argument, NULL, 't'}, {"iters", required_argument, NULL, 'n'},
		{"warmup", required_argument, NULL, 'w'}, {"mode", required_argument, NULL, 'm'},
		{"width", required_argument, NULL, 'W'}, {"im2col", no_argument, NULL, 'I'},
		{"describe", no_argument, NULL, 'D'}, {"bf16", no_argument, NULL, 'B'},
		{NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': snprintf(cfg.arch, sizeof cfg.arch, "%s", optarg); break;
		case 's': size = (int)li_opt_long("--size", optarg, 32, 4096); break;
		case 'b': batch = (int)li_opt_long("--batch", optarg, 1, 4096); break;
		case 'k': cfg.classes = (int)li_opt_long("--classes", optarg, 2, 100000); break;
		case 't': threads = (int)li_opt_long("--threads", optarg, 1, 256); break;
		case 'n': iters = (int)li_opt_long("--iters", optarg, 1, 10000); break;
		case 'w': warmup = (int)li_opt_long("--warmup", optarg, 0, 10000); break;
		case 'm': mode = li_opt_choice("--mode", optarg, modes); break;
		case 'W': cfg.width = (int)li_opt_long("--width", optarg, 1, 1024); break;
		case 'I': im2col = true; break;
		case 'B': bf16 = true; break;
		case 'D': li_net_describe_cpu(stdout); return 0;
		default: li_usage_error("unknown option");
		}
	}
	li_net *net = li_net_new(&cfg);
	if (!net)
		li_die_lib();
	li_net_init(net, 1);
	li_net_force_im2col(net, im2col);
	li_net_set_threads(net, threads);
	if (bf16 && (li_net_set_bf16(net, true) < 0 || li_net_set_train_bf16(net, true) < 0))
		li_die_lib();
	if (li_net_prepare(net, batch, size, size) < 0)
		li_die_lib();
	size_t per = (size_t)cfg.in_channels * size * size;
	float *x = li_malloc_array(per * batch, sizeof(float));
	float *logits = li_malloc_array((size_t)batch * cfg.classes, sizeof(float));
	float *dl = li_malloc_array((size_t)batch * cfg.classes, sizeof(float));
	int *labels = li_malloc_array((size_t)batch, sizeof(int));
	double *t = li_malloc_array((size_t)iters, sizeof(double));
	if (!x || !logits || !dl || !labels || !t)
		li_die_lib();
	li_rng r;
	li_rng_seed(&r, 7);
	for (size_t i = 0; i < per * batch; i++)
		x[i] = (float)li_rng_normal(&r);
	for (int i = 0; i < batch; i++)
		labels[i] = i % cfg.classes;
	printf("config arch %s size %d batch %d threads %d iters %d\n", cfg.arch, size, batch, threads,
	       iters);

	if (mode == 0 || mode == 1) {
		li_optim_config oc;
		li_optim_config_default(&oc, LI_OPTIM_ADAM);
		li_optim *opt = li_optim_new(&oc, li_net_param_count(net));
		if (!opt)
			li_die_lib();
		li_net_set_training(net, true);
		for (int i = 0; i < warmup + iters; i++) {
			if (i == warmup)
				li_net_prof_reset(net);
			double t0 = now();
			li_net_zero_grad(net);
			if (li_net_forward(net, x, batch, logits, NULL) < 0)
				li_die_lib();
			li_softmax_xent(logits, labels, batch, cfg.classes, NULL, dl);
			li_net_backward(net, dl);
			li_optim_step(opt, li_net_params(net), li_net_grads(net), 1e-4);
			li_net_params_changed(net);
			if (i >= warmup)
				t[i - warmup] = now() - t0;
		}
		printf("train%s_img_s %.2f\n", bf16 ? "_bf16" : "", batch / median(t, iters));
		print_profile(net, iters, "train_layer");
		li_optim_free(opt);
	}
	if (mode == 0 || mode == 2) {
		li_net_set_training(net, false);
		for (int b = 0; b < 2; b++) {
			int n = b == 0 ? batch : 1;
			int reps = b == 0 ? iters : iters * 4;
			double *tt = li_malloc_array((size_t)reps, sizeof(double));
			for (int i = 0; i < warmup + reps; i++) {
				if (i == warmup)
					li_net_prof_reset(net);
				double t0 = now();
				li_net_forward(net, x, n, logits, NULL);
				if (i >= warmup)
					tt[i - warmup] = now() - t0;
			}
			printf("%s%s_img_s %.2f\n", b == 0 ? "infer" : "infer1", bf16 ? "_bf16" : "",
			       n / median(tt, reps));
			if (b == 0)
				print_profile(net, reps, "infer_layer");
			free(tt);
		}
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("cpu_s %.2f\n", (double)ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec +
				       (double)ru.ru_stime.tv_sec + 1e-6 * ru.ru_stime.tv_usec);
	printf("peak_rss_mb %.1f\n", ru.ru_maxrss / 1024.0);
	free(x);
	free(logits);
	free(dl);
	free(labels);
	free(t);
	li_net_free(net);
	return 0;
}
