/* test_atomic.c: atomic output: commit, abort, failed commits that must not
 * touch the good file, and children killed by a signal while writing. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "li_atomic.h"
#include "li_error.h"
#include "tap.h"
#include "testdir.h"

/* Entries in the test directory (temp files start with '.'). */
static int entries(void)
{
	DIR *d = opendir(test_dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	if (d)
		closedir(d);
	return n;
}

static void on_term_own(int sig)
{
	(void)sig;
	li_atomic_cleanup_signal();
	_exit(7);
}

/* The child's side: open dest, write, tell the parent on fd, wait for the signal. */
static _Noreturn void child_writes(int fd)
{
	li_atomic a;
	FILE *f = li_atomic_open(&a, in_dir("killed"));
	if (!f)
		_exit(2);
	fputs("half a model", f);
	fflush(f);
	if (write(fd, "r", 1) != 1)
		_exit(3);
	for (;;)
		pause();
}

/* A child opens dest, writes, tells us, and waits to be killed by sig. With
 * own_handler the child is a fresh exec of this test (so li_atomic has not
 * installed anything yet) that installs its own handler first, as a program may. */
static void killed_child(int sig, int own_handler, const char *label)
{
	int p[2];
	if (pipe(p) != 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (own_handler) {
			char fd[16];
			snprintf(fd, sizeof fd, "%d", p[1]);
			execl("/proc/self/exe", "test_atomic", "--own-handler", test_dir, fd, (char *)NULL);
			_exit(4);
		}
		child_writes(p[1]);
	}
	close(p[1]);
	char c;
	int ready = read(p[0], &c, 1) == 1;
	close(p[0]);
	ok(ready && entries() == 1, "%s: the temp file exists while writing", label);
	kill(pid, sig);
	int st = 0;
	waitpid(pid, &st, 0);
	if (own_handler)
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 7, "%s: the program's own handler ran", label);
	else
		ok(WIFSIGNALED(st) && WTERMSIG(st) == sig, "%s: the child died of the signal", label);
	is_int(entries(), 0, "%s: no temp file and no destination left", label);
}

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");
	if (f)
		fclose(f);
}

/* Temporaries of killed runs (kill -9 leaves them) are removed; those of live
 * processes and of other outputs are not. */
static void test_stale(void)
{
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	char name[128];
	snprintf(name, sizeof name, ".m.st.%ld.aB3xYz", (long)dead);
	touch(in_dir(name));                 /* stale: removed */
	snprintf(name, sizeof name, ".m.st.%ld.Qq0000", (long)getpid());
	touch(in_dir(name));                 /* this process's: kept */
	snprintf(name, sizeof name, ".m.st.%ld.Qq0000", (long)getppid());
	touch(in_dir(name));                 /* a live parent's: kept */
	snprintf(name, sizeof name, ".xm.st.%ld.aB3xYz", (long)dead);
	touch(in_dir(name));                 /* another output's: kept */
	snprintf(name, sizeof name, ".m.st.%ld.aB3xY", (long)dead);
	touch(in_dir(name));                 /* not the pattern (5 letters): kept */
	touch(in_dir(".m.st.aB3xYz"));       /* no pid (an older version's): kept */
	li_atomic a;
	FILE *f = li_atomic_open(&a, in_dir("m.st")); /* an open one: kept */
	int before = entries();
	is_int(li_atomic_remove_stale(in_dir("m.st")), 1, "one stale temporary removed");
	snprintf(name, sizeof name, ".m.st.%ld.aB3xYz", (long)dead);
	ok(access(in_dir(name), F_OK) != 0, "the dead process's temporary is gone");
	is_int(entries(), before - 1, "live, open, foreign and unrecognised temporaries are kept");
	ok(f && li_atomic_commit(&a) == 0, "the open output still commits");
	is_int(li_atomic_remove_stale(in_dir("nope/m.st")), -1, "a missing directory is an error");
	char want[1024];
	snprintf(want, sizeof want, "cannot read the directory of '%s': No such file or directory", in_dir("nope/m.st"));
	is_str(li_errmsg(), want, "its message");
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -f '%s'/.m.st* '%s'/.xm.st* '%s'", test_dir, test_dir, in_dir("m.st"));
	ok(system(cmd) == 0, "clean");
}

static void test_check(void)
{
	int before = entries();
	is_int(li_atomic_check(in_dir("c.txt")), 0, "an output in a writable directory passes");
	is_int(entries(), before, "and leaves nothing behind");
	is_int(li_atomic_check(in_dir("nope/c.txt")), -1, "a missing directory fails");
	char want[1024];
	snprintf(want, sizeof want, "cannot create '%s': No such file or directory", in_dir("nope/c.txt"));
	is_str(li_errmsg(), want, "its message");
	mkdir(in_dir("d"), 0755);
	is_int(li_atomic_check(in_dir("d")), -1, "a directory as the output fails");
	snprintf(want, sizeof want, "cannot write '%s': Is a directory", in_dir("d"));
	is_str(li_errmsg(), want, "its message");
	rmdir(in_dir("d"));
}

int main(int argc, char **argv)
{
	/* A shell starts background jobs with SIGINT ignored, and li_atomic keeps
	 * a program's choice, so the killed-child checks would wait forever: the
	 * signals this test sends start at their defaults. */
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], SIG_DFL);
	if (argc == 4 && strcmp(argv[1], "--own-handler") == 0) {
		snprintf(test_dir, sizeof test_dir, "%s", argv[2]);
		signal(SIGTERM, on_term_own);
		child_writes((int)strtol(argv[3], NULL, 10));
	}
	umask(022);
	if (test_dir_make() < 0)
		return done_testing();
	li_atomic a;
	FILE *f = li_atomic_open(&a, in_dir("out.txt"));
	ok(f != NULL && a.fp == f && a.tmp && a.slot >= 0, "open");
	char prefix[600];
	snprintf(prefix, sizeof prefix, "%s.%ld.", in_dir(".out.txt"), (long)getpid());
	ok(a.tmp && strncmp(a.tmp, prefix, strlen(prefix)) == 0 && strlen(a.tmp) == strlen(prefix) + 6,
	   "temp file is .<name>.<pid>.XXXXXX next to the destination: %s", a.tmp ? a.tmp : "");
	fputs("good\n", f);
	ok(access(in_dir("out.txt"), F_OK) != 0, "nothing at the destination before commit");
	is_int(li_atomic_commit(&a), 0, "commit");
	is_str(read_text(in_dir("out.txt")), "good\n", "committed content");
	is_int(entries(), 1, "no temp file left after commit");
	struct stat sb;
	ok(stat(in_dir("out.txt"), &sb) == 0 && (sb.st_mode & 0777) == 0644, "mode follows the umask (0644)");
	li_atomic_abort(&a); /* no-op after commit */
	is_str(read_text(in_dir("out.txt")), "good\n", "abort after commit changes nothing");

	f = li_atomic_open(&a, in_dir("out.txt"));
	fputs("bad\n", f);
	li_atomic_abort(&a);
	is_str(read_text(in_dir("out.txt")), "good\n", "abort keeps the old file");
	is_int(entries(), 1, "abort removes the temp file");

	/* A commit that fails at the flush (the descriptor is gone). */
	f = li_atomic_open(&a, in_dir("out.txt"));
	fputs("bad\n", f);
	close(fileno(f));
	is_int(li_atomic_commit(&a), -1, "commit fails when the data cannot be written");
	char want[1024];
	snprintf(want, sizeof want, "cannot write '%s': Bad file descriptor", in_dir("out.txt"));
	is_str(li_errmsg(), want, "its message");
	is_str(read_text(in_dir("out.txt")), "good\n", "a failed commit keeps the good file");
	is_int(entries(), 1, "and removes the temp file");

	/* A commit that fails at the rename (the destination is a directory). */
	mkdir(in_dir("sub"), 0755);
	f = li_atomic_open(&a, in_dir("sub"));
	fputs("x", f);
	is_int(li_atomic_commit(&a), -1, "rename over a directory fails");
	snprintf(want, sizeof want, "cannot write '%s': Is a directory", in_dir("sub"));
	is_str(li_errmsg(), want, "its message");
	is_int(entries(), 2, "no temp file left");
	rmdir(in_dir("sub"));

	ok(li_atomic_open(&a, in_dir("nope/x")) == NULL, "open in a missing directory fails");
	snprintf(want, sizeof want, "cannot create '%s': No such file or directory", in_dir("nope/x"));
	is_str(li_errmsg(), want, "its message");
	ok(li_atomic_open(&a, "-") == stdout && a.tmp == NULL, "'-' is stdout");
	is_int(li_atomic_commit(&a), 0, "commit on stdout flushes");

	/* The registry is finite: the 65th open file is refused, not unprotected. */
	static li_atomic many[65];
	int opened = 0;
	char name[32];
	for (int i = 0; i < 65; i++) {
		snprintf(name, sizeof name, "m%d", i);
		opened += li_atomic_open(&many[i], in_dir(name)) != NULL;
	}
	is_int(opened, 64, "64 files open at once");
	is_str(li_errmsg(), "too many output files open at once (64)", "the next one is refused");
	for (int i = 0; i < 64; i++)
		li_atomic_abort(&many[i]);
	is_int(entries(), 1, "all aborted");
	unlink(in_dir("out.txt"));

	/* A forked child (no exec) inherits the handler and the registry; its
	 * death must not remove the parent's temp file. */
	f = li_atomic_open(&a, in_dir("parent.txt"));
	fputs("parent\n", f);
	pid_t pid = fork();
	if (pid == 0)
		for (;;)
			pause();
	kill(pid, SIGTERM);
	int st = 0;
	waitpid(pid, &st, 0);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "forked child killed");
	is_int(li_atomic_commit(&a), 0, "the parent's file survives and commits");
	is_str(read_text(in_dir("parent.txt")), "parent\n", "its content");
	unlink(in_dir("parent.txt"));

	test_stale();
	test_check();

	killed_child(SIGTERM, 0, "SIGTERM");
	killed_child(SIGINT, 0, "SIGINT");
	killed_child(SIGHUP, 0, "SIGHUP");
	killed_child(SIGPIPE, 0, "SIGPIPE");
	killed_child(SIGTERM, 1, "own SIGTERM handler");

	/* Files committed together: all or nothing (li-split's lists). */
	li_atomic g[3];
	const char *names[3] = {"g1.txt", "g2.txt", "g3.txt"};
	for (int i = 0; i < 3; i++) {
		FILE *gf = li_atomic_open(&g[i], in_dir(names[i]));
		fprintf(gf, "new %d\n", i);
	}
	mkdir(in_dir("g3.txt"), 0777); /* g3 cannot be replaced */
	FILE *old = fopen(in_dir("g1.txt"), "w");
	fputs("old\n", old);
	fclose(old);
	is_int(li_atomic_commit_all(g, 3), -1, "commit_all fails when one destination cannot be replaced");
	ok(strstr(li_errmsg(), "g3.txt': Is a directory") != NULL, "message names it: %s", li_errmsg());
	is_str(read_text(in_dir("g1.txt")), "old\n", "the other destinations are untouched");
	ok(access(in_dir("g2.txt"), F_OK) != 0, "and nothing new appeared");
	is_int(entries(), 2, "no temporary left (g1.txt and the directory g3.txt)");
	rmdir(in_dir("g3.txt"));
	for (int i = 0; i < 3; i++)
		fprintf(li_atomic_open(&g[i], in_dir(names[i])), "new %d\n", i);
	is_int(li_atomic_commit_all(g, 3), 0, "commit_all");
	ok(strcmp(read_text(in_dir("g1.txt")), "new 0\n") == 0 && strcmp(read_text(in_dir("g3.txt")), "new 2\n") == 0,
	   "all three in place");
	is_int(entries(), 3, "no temporary left");

	ok(test_dir_remove() == 0, "cleanup");
	return done_testing();
}
