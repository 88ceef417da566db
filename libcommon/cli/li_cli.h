/* li_cli.h: what every li-* program shares: its name, exit codes, messages,
 * strict number parsing for options, --version, the stdout check at exit and
 * a progress bar that appears only when stderr is a terminal.
 *
 * Programs call li_cli_init(argv[0]) first, parse options with getopt_long
 * into a struct, cross-check them, then run. Runtime failures print
 * "li-x: message" and exit LI_EXIT_FAILURE; option misuse prints the message
 * and "Try 'li-x --help'." and exits LI_EXIT_USAGE. */
#ifndef LI_CLI_H
#define LI_CLI_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "li_util.h"

enum { LI_EXIT_OK = 0, LI_EXIT_FAILURE = 1, LI_EXIT_USAGE = 2 };

void li_cli_init(const char *argv0);
const char *li_prog(void);

/* The noreturn attribute repeats _Noreturn for cppcheck, which reads only
 * the former and would otherwise flag every "if (!p) li_die(...)". */

/* "prog: warning: message" on stderr: something the user should look at (a
 * fallback taken, input ignored, a result undefined); the run goes on. */
void li_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: message" on stderr: what the run did (counts, choices), or the error
 * of one item when the program goes on with the others and exits 1 at the end. */
void li_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: message", exit 1. */
_Noreturn void li_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* "prog: <li_errmsg()>", exit 1: for a library call that failed. */
_Noreturn void li_die_lib(void) __attribute__((noreturn));
/* "prog: message" + "Try 'prog --help'.", exit 2. */
_Noreturn void li_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The usage error for what getopt_long (with opterr = 0) returned as c when
 * it was ':' (missing argument) or '?' (unknown option); exits 2. */
_Noreturn void li_cli_bad_option(int c, char *const argv[]) __attribute__((noreturn));
/* Print "prog VERSION" on stdout and exit 0. */
_Noreturn void li_cli_version(void) __attribute__((noreturn));
/* The same, then more(stdout) (li-train and li-score: the CPU and kernels). */
_Noreturn void li_cli_version_and(void (*more)(FILE *f)) __attribute__((noreturn));
/* The list operand left after getopt (argv[optind]), or dflt when there is
 * none; more than one is a usage error ("one list at most"). */
const char *li_cli_list_operand(int argc, char *const argv[], const char *dflt);
/* Flush and close stdout, dying with a message if anything failed (ENOSPC,
 * EPIPE to a closed reader). Registered with atexit by li_cli_init. */
void li_cli_close_stdout(void);

/* Strict option-argument parsing: the whole string must be a number in range,
 * otherwise a usage error naming the option ("--epochs: 'x' is not an integer"). */
long li_opt_long(const char *opt, const char *arg, long min, long max);
double li_opt_double(const char *opt, const char *arg, double min, double max);
uint64_t li_opt_u64(const char *opt, const char *arg);
/* Pick one of a NULL-terminated list of names; returns its index. */
int li_opt_choice(const char *opt, const char *arg, const char *const *names);
/* The same checks without dying: li_parse_long and li_parse_double (li_util.h). */

/* Colour on stderr: only on a TTY, never when NO_COLOR is set (no-color.org). */
bool li_cli_color(void);
/* --threads default: LI_THREADS if set, else the number of online CPUs. */
int li_cli_default_threads(void);

/* A progress bar on stderr, drawn only when stderr is a TTY (and redrawn at
 * most ten times a second). total may be 0 for an unknown total. */
typedef struct li_progress {
	const char *label;
	uint64_t total, done;
	double start, last_draw;
	bool enabled;
	char extra[96];
} li_progress;
void li_progress_start(li_progress *p, const char *label, uint64_t total);
void li_progress_update(li_progress *p, uint64_t done, const char *extra);
void li_progress_end(li_progress *p);
#endif
