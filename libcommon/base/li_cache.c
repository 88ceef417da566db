/* li_cache.c: small key-value text files in the user's cache directory
 * (li_cache.h). */
#include "li_cache.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li_atomic.h"
#include "li_error.h"
#include "li_util.h"

int li_cache_path(const char *name, char *buf, size_t size)
{
	const char *dir = getenv("LI_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
		   *home = getenv("HOME");
	int n;
	if (dir)
		n = *dir ? snprintf(buf, size, "%s/%s", dir, name) : -1;
	else if (xdg && *xdg == '/') /* the XDG spec: a relative path is to be ignored */
		n = snprintf(buf, size, "%s/li/%s", xdg, name);
	else if (home && *home)
		n = snprintf(buf, size, "%s/.cache/li/%s", home, name);
	else
		n = -1;
	if (n < 0 || (size_t)n >= size) {
		if (size)
			buf[0] = '\0';
		return -1;
	}
	return 0;
}

static bool text_char(char c) { return c >= 0x20 && c <= 0x7e; }

int li_cache_text_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!text_char(s[n]) || n >= LI_CACHE_LINE / 2)
			return 0;
	return n > 0;
}

/* The line at text[*pos]: its key and value spans when it is valid
 * ("KEY<TAB>VALUE", each 1 to LI_CACHE_LINE / 2 printable characters), the
 * position moved past its newline (or to the end). */
static bool next_line(const char *text, size_t len, size_t *pos, const char **key, size_t *klen,
		      const char **val, size_t *vlen)
{
	size_t start = *pos, end = start;
	while (end < len && text[end] != '\n')
		end++;
	*pos = end < len ? end + 1 : len;
	const char *tab = memchr(text + start, '\t', end - start);
	if (!tab)
		return false;
	*key = text + start;
	*klen = (size_t)(tab - *key);
	*val = tab + 1;
	*vlen = (size_t)(text + end - *val);
	if (*klen < 1 || *klen > LI_CACHE_LINE / 2 || *vlen < 1 || *vlen > LI_CACHE_LINE / 2)
		return false;
	for (size_t i = 0; i < *klen; i++)
		if (!text_char((*key)[i]))
			return false;
	for (size_t i = 0; i < *vlen; i++)
		if (!text_char((*val)[i]))
			return false;
	return true;
}

int li_cache_find(const char *text, size_t len, const char *key, char *val, size_t size)
{
	size_t want = strlen(key), pos = 0;
	int found = 0;
	while (pos < len) {
		const char *k, *v;
		size_t kl, vl;
		if (!next_line(text, len, &pos, &k, &kl, &v, &vl) || kl != want ||
		    memcmp(k, key, kl) != 0)
			continue;
		if (size) {
			size_t n = vl < size - 1 ? vl : size - 1;
			memcpy(val, v, n);
			val[n] = '\0';
		}
		found = 1;
	}
	return found;
}

/* The start of the file (at most LI_CACHE_BYTES, whole lines: a line cut
 * by the limit could read as a shorter valid one) into a new buffer, *len
 * bytes; NULL when there is none to read (no file, not readable). */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(LI_CACHE_BYTES);
	if (buf) {
		*len = fread(buf, 1, LI_CACHE_BYTES, f);
		if (*len == LI_CACHE_BYTES && fgetc(f) != EOF)
			while (*len > 0 && buf[*len - 1] != '\n')
				(*len)--;
	}
	if (buf && ferror(f)) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int li_cache_get(const char *name, const char *key, char *val, size_t size)
{
	char path[4096];
	size_t len = 0;
	if (li_cache_path(name, path, sizeof path) < 0)
		return 0;
	char *text = slurp(path, &len);
	if (!text)
		return 0;
	int found = li_cache_find(text, len, key, val, size);
	free(text);
	return found;
}

/* The directory part of path and its parents (new ones mode 0700). */
static int make_parents(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (li_mkdirs(dir, 0700) < 0) {
		char why[1024];
		snprintf(why, sizeof why, "%s", li_errmsg());
		return li_error("cannot make the cache directory: %s", why);
	}
	return 0;
}

int li_cache_check(const char *name)
{
	char path[4096];
	if (li_cache_path(name, path, sizeof path) < 0)
		return li_error("no cache directory (LI_CACHE_DIR is empty, or there is no HOME)");
	if (make_parents(path) < 0)
		return -1;
	return li_atomic_check(path);
}

int li_cache_put(const char *name, const char *key, const char *val)
{
	char path[4096];
	if (!li_cache_text_ok(key) || !li_cache_text_ok(val))
		return li_error("a cache key or value must be printable text without tabs");
	if (li_cache_path(name, path, sizeof path) < 0)
		return li_error("no cache directory (LI_CACHE_DIR is empty, or there is no HOME)");
	if (make_parents(path) < 0)
		return -1;
	size_t len = 0, pos = 0, want = strlen(key);
	char *text = slurp(path, &len);
	/* the valid lines of other keys, oldest first: keep the newest */
	size_t starts[LI_CACHE_LINES], ends[LI_CACHE_LINES];
	int kept = 0, first = 0;
	while (text && pos < len) {
		size_t at = pos, kl, vl;
		const char *k, *v;
		if (!next_line(text, len, &pos, &k, &kl, &v, &vl) ||
		    (kl == want && memcmp(k, key, kl) == 0))
			continue;
		int slot = (first + kept) % (LI_CACHE_LINES - 1);
		if (kept == LI_CACHE_LINES - 1)
			first = (first + 1) % (LI_CACHE_LINES - 1);
		else
			kept++;
		starts[slot] = at;
		ends[slot] = (size_t)(v + vl - text);
	}
	li_atomic a = {0};
	FILE *f = li_atomic_open(&a, path);
	if (!f) {
		free(text);
		return -1;
	}
	for (int i = 0; i < kept; i++) {
		int slot = (first + i) % (LI_CACHE_LINES - 1);
		fwrite(text + starts[slot], 1, ends[slot] - starts[slot], f);
		fputc('\n', f);
	}
	fprintf(f, "%s\t%s\n", key, val);
	free(text);
	return li_atomic_commit(&a);
}
