/* li_util.c: strict number parsing and a monotonic clock (see li_util.h). */
#include "li_util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "li_error.h"

int li_parse_long(const char *s, long *out)
{
	char *end;
	if (!s || !*s)
		return li_error("empty number");
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || *end)
		return li_error("'%s' is not an integer", s);
	if (errno == ERANGE)
		return li_error("'%s' is out of range", s);
	*out = v;
	return 0;
}

int li_parse_double(const char *s, double *out)
{
	char *end;
	if (!s || !*s)
		return li_error("empty number");
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end)
		return li_error("'%s' is not a number", s);
	if (errno == ERANGE || !isfinite(v))
		return li_error("'%s' is out of range", s);
	*out = v;
	return 0;
}

double li_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}
