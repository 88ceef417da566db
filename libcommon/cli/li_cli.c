/* li_cli.c: program name, messages, exit codes, option parsing, progress bar. */
#include "li_cli.h"
#include "li_cpu.h"
#include "li_error.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *prog = "li";

const char *li_prog(void) { return prog; }

void li_cli_init(const char *argv0)
{
	if (argv0 && *argv0) {
		const char *slash = strrchr(argv0, '/');
		prog = slash ? slash + 1 : argv0;
	}
	atexit(li_cli_close_stdout);
	/* LI_ISA steers the net's kernels: a typo must not silently run them all */
	if (li_cpu_check_env() < 0)
		li_die_lib();
}

/* "prog: " (and the label, "warning: ", when given), the message, a newline:
 * one line on stderr, escaped (li_escape) as library messages are, since
 * tools quote names from the command line and from files too. */
static void vmsg(const char *label, const char *fmt, va_list ap)
{
	char stack[1024], *raw = stack, *out = NULL;
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(stack, sizeof stack, fmt, ap);
	if (n >= (int)sizeof stack && (raw = malloc((size_t)n + 1)))
		vsnprintf(raw, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	if (!raw)
		raw = stack; /* out of memory: the message cut to its first 1 KB */
	size_t cap = 4 * strlen(raw) + 1;
	out = malloc(cap);
	fprintf(stderr, "%s: %s%s\n", prog, label ? label : "",
		out ? li_escape(raw, out, cap) : "(out of memory)");
	free(out);
	if (raw != stack)
		free(raw);
}

void li_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(NULL, fmt, ap);
	va_end(ap);
}

void li_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void li_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(NULL, fmt, ap);
	va_end(ap);
	exit(LI_EXIT_FAILURE);
}

void li_die_lib(void)
{
	const char *m = li_errmsg();
	li_die("%s", m[0] ? m : "unknown error");
}

void li_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(NULL, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	exit(LI_EXIT_USAGE);
}

void li_cli_bad_option(int c, char *const argv[])
{
	if (c == ':')
		li_usage_error("option '%s' needs an argument", argv[optind - 1]);
	if (optopt)
		li_usage_error("unknown option '-%c'", optopt);
	li_usage_error("unknown option '%s'", argv[optind - 1]);
}

void li_cli_version(void)
{
	li_cli_version_and(NULL);
}

void li_cli_version_and(void (*more)(FILE *f))
{
	printf("%s %s\n", prog, LI_VERSION);
	if (more)
		more(stdout);
	exit(LI_EXIT_OK);
}

void li_cli_close_stdout(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	int err = ferror(stdout);
	if (fclose(stdout) != 0 || err) {
		/* A reader that went away (head) is not our failure to report loudly. */
		if (errno == EPIPE)
			_exit(LI_EXIT_FAILURE);
		fprintf(stderr, "%s: write error on standard output: %s\n", prog,
			errno ? strerror(errno) : "I/O error");
		_exit(LI_EXIT_FAILURE);
	}
}

long li_opt_long(const char *opt, const char *arg, long min, long max)
{
	long v;
	if (li_parse_long(arg, &v) < 0)
		li_usage_error("%s: %s", opt, li_errmsg());
	if (v < min || v > max)
		li_usage_error("%s: %ld is out of range [%ld, %ld]", opt, v, min, max);
	return v;
}

double li_opt_double(const char *opt, const char *arg, double min, double max)
{
	double v;
	if (li_parse_double(arg, &v) < 0)
		li_usage_error("%s: %s", opt, li_errmsg());
	if (v < min || v > max)
		li_usage_error("%s: %g is out of range [%g, %g]", opt, v, min, max);
	return v;
}

uint64_t li_opt_u64(const char *opt, const char *arg)
{
	char *end;
	errno = 0;
	if (!arg || !*arg || *arg == '-')
		li_usage_error("%s: '%s' is not a non-negative integer", opt, arg ? arg : "");
	unsigned long long v = strtoull(arg, &end, 10);
	if (end == arg || *end || errno == ERANGE)
		li_usage_error("%s: '%s' is not a non-negative integer", opt, arg);
	return (uint64_t)v;
}

int li_opt_choice(const char *opt, const char *arg, const char *const *names)
{
	char list[512] = "";
	for (int i = 0; names[i]; i++) {
		if (strcmp(arg, names[i]) == 0)
			return i;
		size_t len = strlen(list);
		snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
	}
	li_usage_error("%s: '%s' is not one of %s", opt, arg, list);
}

bool li_cli_color(void)
{
	const char *nc = getenv("NO_COLOR");
	if (nc && *nc)
		return false;
	return isatty(STDERR_FILENO);
}

int li_cli_default_threads(void)
{
	const char *e = getenv("LI_THREADS");
	long v;
	if (e && li_parse_long(e, &v) == 0 && v >= 1 && v <= 1024)
		return (int)v;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n >= 1 ? (int)(n > 1024 ? 1024 : n) : 1;
}

void li_progress_start(li_progress *p, const char *label, uint64_t total)
{
	memset(p, 0, sizeof *p);
	p->label = label;
	p->total = total;
	p->start = li_now();
	p->enabled = isatty(STDERR_FILENO) && !getenv("LI_NO_PROGRESS");
}

static void fmt_time(char *buf, size_t n, double s)
{
	if (s < 0 || !isfinite(s))
		snprintf(buf, n, "--:--");
	else if (s < 3600)
		snprintf(buf, n, "%02d:%02d", (int)s / 60, (int)s % 60);
	else
		snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
}

static void draw(li_progress *p)
{
	double el = li_now() - p->start;
	char eta[32], ela[32];
	fmt_time(ela, sizeof ela, el);
	bool color = li_cli_color();
	if (p->total) {
		double f = (double)p->done / (double)p->total;
		if (f > 1)
			f = 1;
		int w = 30, fill = (int)(f * w);
		char bar[64];
		for (int i = 0; i < w; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[w] = '\0';
		fmt_time(eta, sizeof eta, f > 0 ? el / f - el : -1);
		fprintf(stderr, "\r%s%s%s [%s] %3d%% %llu/%llu %s<%s %s\033[K",
			color ? "\033[1m" : "", p->label, color ? "\033[0m" : "", bar, (int)(f * 100),
			(unsigned long long)p->done, (unsigned long long)p->total, ela, eta, p->extra);
	} else {
		fprintf(stderr, "\r%s %llu %s %s\033[K", p->label, (unsigned long long)p->done, ela,
			p->extra);
	}
	fflush(stderr);
}

void li_progress_update(li_progress *p, uint64_t done, const char *extra)
{
	p->done = done;
	if (extra)
		snprintf(p->extra, sizeof p->extra, "%s", extra);
	if (!p->enabled)
		return;
	double t = li_now();
	if (t - p->last_draw < 0.1 && done != p->total)
		return;
	p->last_draw = t;
	draw(p);
}

void li_progress_end(li_progress *p)
{
	if (!p->enabled)
		return;
	draw(p);
	fputc('\n', stderr);
	p->enabled = false;
}

const char *li_cli_list_operand(int argc, char *const argv[], const char *dflt)
{
	if (argc - optind > 1)
		li_usage_error("one list at most (got %d)", argc - optind);
	return optind < argc ? argv[optind] : dflt;
}
