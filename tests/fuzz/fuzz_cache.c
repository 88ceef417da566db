/* fuzz_cache: the cache files of li_cache (li_cache_find on the input as a
 * file's text, with its first line as the key), then the input written as
 * a cache file, read back (li_cache_get) and rewritten (li_cache_put): the
 * rewritten file must hold only valid lines, the new one last. */
#include <sys/stat.h>

#include "fuzz.h"
#include "li_cache.h"

/* Abort unless every line of the file is "KEY<TAB>VALUE" of printable text
 * and the last is key = val. */
static void check_file(const char *path, const char *key, const char *val)
{
	FILE *f = fopen(path, "rb");
	static char text[LI_CACHE_BYTES + 2 * LI_CACHE_LINE];
	size_t len = f ? fread(text, 1, sizeof text, f) : 0;
	if (f)
		fclose(f);
	char last[LI_CACHE_LINE] = "";
	for (size_t at = 0; at < len;) {
		size_t end = at;
		while (end < len && text[end] != '\n')
			end++;
		if (end == len) {
			fprintf(stderr, "fuzz: li_cache_put left a line without a newline\n");
			abort();
		}
		char line[2 * LI_CACHE_LINE], k[LI_CACHE_LINE], v[LI_CACHE_LINE];
		size_t n = end - at;
		if (n >= sizeof line || memchr(text + at, '\t', n) == NULL) {
			fprintf(stderr, "fuzz: li_cache_put kept a malformed line\n");
			abort();
		}
		memcpy(line, text + at, n);
		line[n] = '\0';
		char *tab = strchr(line, '\t');
		*tab = '\0';
		snprintf(k, sizeof k, "%s", line);
		snprintf(v, sizeof v, "%s", tab + 1);
		if (!li_cache_text_ok(k) || !li_cache_text_ok(v)) {
			fprintf(stderr, "fuzz: li_cache_put kept a line that is not text\n");
			abort();
		}
		snprintf(last, sizeof last, "%s\t%s", k, v);
		at = end + 1;
	}
	char want[LI_CACHE_LINE];
	snprintf(want, sizeof want, "%s\t%s", key, val);
	if (strcmp(last, want) != 0) {
		fprintf(stderr, "fuzz: the line written is not the last\n");
		abort();
	}
}

static char dir[256], path[300];

static void remove_dir(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/li-fuzz-cache-%ld", t && *t ? t : "/dev/shm",
			 (long)getpid());
		mkdir(dir, 0700);
		setenv("LI_CACHE_DIR", dir, 1);
		snprintf(path, sizeof path, "%s/c", dir);
		atexit(remove_dir);
	}
	li_error_clear();
	const char *text = (const char *)data;
	const char *nl = memchr(text, '\n', size);
	size_t klen = nl ? (size_t)(nl - text) : size;
	char key[LI_CACHE_LINE], val[LI_CACHE_LINE];
	snprintf(key, sizeof key, "%.*s", (int)(klen < sizeof key - 1 ? klen : sizeof key - 1), text);
	if (li_cache_find(text, size, key, val, sizeof val) && !li_cache_text_ok(val)) {
		fprintf(stderr, "fuzz: li_cache_find returned a value that is not text\n");
		abort();
	}
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	if (li_cache_get("c", key, val, sizeof val) && !li_cache_text_ok(val)) {
		fprintf(stderr, "fuzz: li_cache_get returned a value that is not text\n");
		abort();
	}
	const char *k = li_cache_text_ok(key) ? key : "fuzz key";
	if (li_cache_put("c", k, "fuzz value") < 0) {
		FUZZ_FAILED("li_cache_put");
		return 0;
	}
	if (!li_cache_get("c", k, val, sizeof val) || strcmp(val, "fuzz value") != 0) {
		fprintf(stderr, "fuzz: the value written is not read back\n");
		abort();
	}
	check_file(path, k, "fuzz value");
	return 0;
}
