/* li_util.h: small helpers the library and the programs share: strict
 * number parsing (the whole string, in range, or -1 with li_error set), a
 * monotonic clock and mkdir -p. The programs' option parsing (li_opt_long, ...) is built
 * on these in li_cli.h. */
#ifndef LI_UTIL_H
#define LI_UTIL_H

/* 0 and *out, or -1 with li_error ("'x' is not an integer", "... out of
 * range", "empty number"); *out is unchanged on failure. */
int li_parse_long(const char *s, long *out);
/* The same for a finite double ("'x' is not a number"; nan, inf refused). */
int li_parse_double(const char *s, double *out);

/* Monotonic seconds (CLOCK_MONOTONIC), for timing. */
double li_now(void);

/* mkdir -p: dir and every missing parent (those made get mode, less the
 * umask), then dir must be a directory. 0, or -1 with li_error ("cannot
 * create 'P': reason", "'P' is not a directory"). */
int li_mkdirs(const char *dir, unsigned mode);
#endif
