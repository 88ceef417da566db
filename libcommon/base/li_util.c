/* li_util.c: strict number parsing, a monotonic clock, mkdir -p (see li_util.h). */
#include "li_util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int li_mkdirs(const char *dir, unsigned mode)
{
	char *s = li_strdup(dir);
	if (!s)
		return -1;
	char e[512];
	int rc = 0;
	/* each prefix that ends at a slash, then the whole */
	for (char *p = s + (*s == '/');; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (*s && mkdir(s, (mode_t)mode) < 0 && errno != EEXIST)
			rc = li_error("cannot create '%s': %s", li_escape(s, e, sizeof e), strerror(errno));
		*p = c;
		if (!c || rc)
			break;
	}
	struct stat st;
	if (rc == 0 && (stat(s, &st) < 0 || !S_ISDIR(st.st_mode)))
		rc = li_error("'%s' is not a directory", li_escape(s, e, sizeof e));
	free(s);
	return rc;
}
