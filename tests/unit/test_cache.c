/* test_cache.c: li_cache, the user's cache of remembered decisions: where
 * the file goes (LI_CACHE_DIR, XDG_CACHE_HOME, HOME, off), get and put,
 * replacing a key, the newest LI_CACHE_LINES kept, malformed and hostile
 * files ignored and cleaned by the next write, and a write that cannot
 * happen leaving the file as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "li_cache.h"
#include "li_error.h"
#include "tap.h"
#include "testdir.h"

static void test_path(void)
{
	char buf[256];
	setenv("LI_CACHE_DIR", "/x/y", 1);
	setenv("XDG_CACHE_HOME", "/xdg", 1);
	setenv("HOME", "/home/u", 1);
	ok(li_cache_path("f", buf, sizeof buf) == 0 && strcmp(buf, "/x/y/f") == 0,
	   "LI_CACHE_DIR first: %s", buf);
	unsetenv("LI_CACHE_DIR");
	ok(li_cache_path("f", buf, sizeof buf) == 0 && strcmp(buf, "/xdg/li/f") == 0,
	   "then XDG_CACHE_HOME/li: %s", buf);
	setenv("XDG_CACHE_HOME", "rel", 1);
	ok(li_cache_path("f", buf, sizeof buf) == 0 && strcmp(buf, "/home/u/.cache/li/f") == 0,
	   "a relative XDG_CACHE_HOME is ignored (the XDG spec): %s", buf);
	unsetenv("XDG_CACHE_HOME");
	ok(li_cache_path("f", buf, sizeof buf) == 0 && strcmp(buf, "/home/u/.cache/li/f") == 0,
	   "then HOME/.cache/li: %s", buf);
	unsetenv("HOME");
	ok(li_cache_path("f", buf, sizeof buf) < 0 && buf[0] == '\0', "no HOME: no cache");
	setenv("LI_CACHE_DIR", "", 1);
	ok(li_cache_path("f", buf, sizeof buf) < 0, "LI_CACHE_DIR empty: the cache is off");
	char val[64] = "x";
	ok(li_cache_get("f", "k", val, sizeof val) == 0, "off: nothing found");
	ok(li_cache_put("f", "k", "v") < 0 && strstr(li_errmsg(), "no cache directory"),
	   "off: a write is an error: %s", li_errmsg());
	ok(li_cache_check("f") < 0, "off: not writable");
	setenv("LI_CACHE_DIR", "/a-rather-long-directory-name", 1);
	char small[16];
	ok(li_cache_path("file", small, sizeof small) < 0 && small[0] == '\0',
	   "a path that does not fit: no cache");
}

static void test_find(void)
{
	char val[LI_CACHE_LINE];
	const char *t = "a\t1\nb\t2\na\t3\n";
	ok(li_cache_find(t, strlen(t), "a", val, sizeof val) == 1 && strcmp(val, "3") == 0,
	   "the last line of a key wins: %s", val);
	ok(li_cache_find(t, strlen(t), "b", val, sizeof val) == 1 && strcmp(val, "2") == 0,
	   "another key");
	ok(li_cache_find(t, strlen(t), "c", val, sizeof val) == 0, "a key not there");
	ok(li_cache_find(t, 3, "a", val, sizeof val) == 1 && strcmp(val, "1") == 0,
	   "only len bytes are read; a last line without a newline counts");
	const char *bad = "a\n\tv\nb\t\nc\td\te\nf\tg\x01h\n\xff\tz\nk k\tv v\n";
	ok(li_cache_find(bad, strlen(bad), "a", val, sizeof val) == 0, "no tab: ignored");
	ok(li_cache_find(bad, strlen(bad), "", val, sizeof val) == 0, "an empty key never matches");
	ok(li_cache_find(bad, strlen(bad), "b", val, sizeof val) == 0, "an empty value: ignored");
	ok(li_cache_find(bad, strlen(bad), "c", val, sizeof val) == 0, "two tabs: ignored");
	ok(li_cache_find(bad, strlen(bad), "f", val, sizeof val) == 0, "a control byte: ignored");
	ok(li_cache_find(bad, strlen(bad), "k k", val, sizeof val) == 1 && strcmp(val, "v v") == 0,
	   "spaces are text");
	const char nul[] = "a\tx\0y\nq\tr\n";
	ok(li_cache_find(nul, sizeof nul - 1, "a", val, sizeof val) == 0 &&
	       li_cache_find(nul, sizeof nul - 1, "q", val, sizeof val) == 1,
	   "a NUL inside a line spoils that line only");
	char tiny[3];
	ok(li_cache_find(t, strlen(t), "a", tiny, sizeof tiny) == 1 && strcmp(tiny, "3") == 0,
	   "the value fits the buffer");
	const char *longv = "k\t123456\n";
	ok(li_cache_find(longv, strlen(longv), "k", tiny, sizeof tiny) == 1 && strcmp(tiny, "12") == 0,
	   "a longer value is cut to the buffer");
	char big[LI_CACHE_LINE + 8];
	memset(big, 'v', sizeof big);
	big[0] = 'k';
	big[1] = '\t';
	big[sizeof big - 1] = '\n';
	ok(li_cache_find(big, sizeof big, "k", val, sizeof val) == 0,
	   "a value over LI_CACHE_LINE / 2: ignored");
	ok(li_cache_text_ok("ours 0.5 0.7") && !li_cache_text_ok("") && !li_cache_text_ok("a\tb") &&
	       !li_cache_text_ok("a\nb") && !li_cache_text_ok("\xc3\xa9"),
	   "li_cache_text_ok: printable ASCII, no tab, not empty");
}

static void test_put_get(void)
{
	char val[LI_CACHE_LINE], dir[256];
	snprintf(dir, sizeof dir, "%s/new/sub", test_dir);
	setenv("LI_CACHE_DIR", dir, 1);
	ok(li_cache_get("c", "k", val, sizeof val) == 0, "no file yet: nothing found");
	ok(li_cache_check("c") == 0, "checked writable (the directories made): %s", li_errmsg());
	struct stat st;
	ok(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700, "a new directory is mode 0700");
	ok(li_cache_put("c", "k", "v1") == 0 && li_cache_put("c", "j", "w") == 0 &&
	       li_cache_put("c", "k", "v2") == 0,
	   "three writes");
	ok(li_cache_get("c", "k", val, sizeof val) == 1 && strcmp(val, "v2") == 0, "the new value");
	char path[300];
	snprintf(path, sizeof path, "%s/c", dir);
	is_str(read_text(path), "j\tw\nk\tv2\n", "one line a key, the newest last");
	ok(li_cache_put("c", "a\tb", "v") < 0 && li_cache_put("c", "k", "x\ny") < 0 &&
	       li_cache_put("c", "k", "") < 0,
	   "keys and values with tabs, newlines or nothing are refused: %s", li_errmsg());
	is_str(read_text(path), "j\tw\nk\tv2\n", "and the file is unchanged");

	/* a damaged file: its valid lines survive the next write, the rest go */
	FILE *f = fopen(path, "wb");
	fputs("junk\nx\tkept\n\x01\x02\tbin\nhalf", f);
	fclose(f);
	ok(li_cache_get("c", "x", val, sizeof val) == 1 && strcmp(val, "kept") == 0,
	   "a valid line among junk is read");
	ok(li_cache_put("c", "n", "new") == 0, "written over a damaged file");
	is_str(read_text(path), "x\tkept\nn\tnew\n", "the junk is dropped");

	/* binary junk, larger than any cache */
	f = fopen(path, "wb");
	for (size_t i = 0; i < 2 * LI_CACHE_BYTES; i++)
		fputc((int)((i * 2654435761u) >> 13) & 0xff, f);
	fclose(f);
	ok(li_cache_get("c", "n", val, sizeof val) == 0, "random bytes hold no value");
	ok(li_cache_put("c", "n", "again") == 0 && li_cache_get("c", "n", val, sizeof val) == 1 &&
	       strcmp(val, "again") == 0,
	   "and are replaced by a good file");

	/* a file longer than is read: a line the limit cuts is not read short */
	f = fopen(path, "wb");
	for (size_t i = 0; i < LI_CACHE_BYTES - 10; i++)
		fputc(i + 1 == LI_CACHE_BYTES - 10 ? '\n' : 'x', f);
	fputs("k\tours 0.123456\n", f);
	fclose(f);
	ok(li_cache_get("c", "k", val, sizeof val) == 0, "a line cut by the read limit is not read");

	/* the newest LI_CACHE_LINES lines are kept */
	char key[32];
	for (int i = 0; i < LI_CACHE_LINES + 10; i++) {
		snprintf(key, sizeof key, "key%d", i);
		li_cache_put("c", key, "v");
	}
	int lines = 0;
	for (const char *p = read_text(path); *p; p++)
		lines += *p == '\n';
	is_int(lines, LI_CACHE_LINES, "the file keeps LI_CACHE_LINES lines");
	snprintf(key, sizeof key, "key%d", LI_CACHE_LINES + 9);
	ok(li_cache_get("c", key, val, sizeof val) == 1, "the newest is there");
	ok(li_cache_get("c", "key10", val, sizeof val) == 1 &&
	       li_cache_get("c", "key9", val, sizeof val) == 0,
	   "the oldest are gone");
	ok(li_cache_put("c", "key10", "moved") == 0, "an old key written again");
	read_text(path);
	ok(li_cache_get("c", "key10", val, sizeof val) == 1 && strcmp(val, "moved") == 0 &&
	       li_cache_get("c", "key11", val, sizeof val) == 1,
	   "replaces its line and drops no other");

	/* a directory where the file should be, a file where a directory should */
	snprintf(dir, sizeof dir, "%s", in_dir("blocked"));
	put("blocked", "a file, not a directory");
	char under[300];
	snprintf(under, sizeof under, "%s/sub", dir);
	setenv("LI_CACHE_DIR", under, 1);
	ok(li_cache_check("c") < 0 && strstr(li_errmsg(), "cache directory"),
	   "a file in the way of the directory: %s", li_errmsg());
	ok(li_cache_put("c", "k", "v") < 0, "and no write");
	ok(li_cache_get("c", "k", val, sizeof val) == 0, "and nothing read");
	setenv("LI_CACHE_DIR", test_dir, 1);
	mkdir(in_dir("isdir"), 0755);
	ok(li_cache_get("isdir", "k", val, sizeof val) == 0, "a directory reads as empty");
	ok(li_cache_put("isdir", "k", "v") < 0, "and cannot be written: %s", li_errmsg());
	if (geteuid() != 0) {
		mkdir(in_dir("ro"), 0500);
		setenv("LI_CACHE_DIR", in_dir("ro"), 1);
		ok(li_cache_check("c") < 0, "a read-only directory: %s", li_errmsg());
		chmod(in_dir("ro"), 0700);
	} else {
		skip("running as root: a read-only directory is writable");
	}
}

int main(void)
{
	if (test_dir_make() < 0)
		return done_testing();
	test_path();
	test_find();
	test_put_get();
	test_dir_remove();
	return done_testing();
}
