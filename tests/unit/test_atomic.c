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

static char dir[] = "/tmp/li-test-atomic.XXXXXX";

static const char *in_dir(const char *name)
{
	static char buf[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

/* Entries in the test directory (temp files start with '.'). */
static int entries(void)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	if (d)
		closedir(d);
	return n;
}

static const char *slurp(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	return f ? buf : "(absent)";
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
			execl("/proc/self/exe", "test_atomic", "--own-handler", dir, fd, (char *)NULL);
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

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--own-handler") == 0) {
		snprintf(dir, sizeof dir, "%s", argv[2]);
		signal(SIGTERM, on_term_own);
		child_writes((int)strtol(argv[3], NULL, 10));
	}
	umask(022);
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return done_testing();
	}
	li_atomic a;
	FILE *f = li_atomic_open(&a, in_dir("out.txt"));
	ok(f != NULL && a.fp == f && a.tmp && a.slot >= 0, "open");
	ok(a.tmp && strncmp(a.tmp, in_dir(".out.txt."), strlen(in_dir(".out.txt."))) == 0,
	   "temp file is .<name>.XXXXXX next to the destination: %s", a.tmp ? a.tmp : "");
	fputs("good\n", f);
	ok(access(in_dir("out.txt"), F_OK) != 0, "nothing at the destination before commit");
	is_int(li_atomic_commit(&a), 0, "commit");
	is_str(slurp(in_dir("out.txt")), "good\n", "committed content");
	is_int(entries(), 1, "no temp file left after commit");
	struct stat sb;
	ok(stat(in_dir("out.txt"), &sb) == 0 && (sb.st_mode & 0777) == 0644, "mode follows the umask (0644)");
	li_atomic_abort(&a); /* no-op after commit */
	is_str(slurp(in_dir("out.txt")), "good\n", "abort after commit changes nothing");

	f = li_atomic_open(&a, in_dir("out.txt"));
	fputs("bad\n", f);
	li_atomic_abort(&a);
	is_str(slurp(in_dir("out.txt")), "good\n", "abort keeps the old file");
	is_int(entries(), 1, "abort removes the temp file");

	/* A commit that fails at the flush (the descriptor is gone). */
	f = li_atomic_open(&a, in_dir("out.txt"));
	fputs("bad\n", f);
	close(fileno(f));
	is_int(li_atomic_commit(&a), -1, "commit fails when the data cannot be written");
	char want[1024];
	snprintf(want, sizeof want, "cannot write '%s': Bad file descriptor", in_dir("out.txt"));
	is_str(li_errmsg(), want, "its message");
	is_str(slurp(in_dir("out.txt")), "good\n", "a failed commit keeps the good file");
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
	is_str(slurp(in_dir("parent.txt")), "parent\n", "its content");
	unlink(in_dir("parent.txt"));

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
	is_str(slurp(in_dir("g1.txt")), "old\n", "the other destinations are untouched");
	ok(access(in_dir("g2.txt"), F_OK) != 0, "and nothing new appeared");
	is_int(entries(), 2, "no temporary left (g1.txt and the directory g3.txt)");
	rmdir(in_dir("g3.txt"));
	for (int i = 0; i < 3; i++)
		fprintf(li_atomic_open(&g[i], in_dir(names[i])), "new %d\n", i);
	is_int(li_atomic_commit_all(g, 3), 0, "commit_all");
	ok(strcmp(slurp(in_dir("g1.txt")), "new 0\n") == 0 && strcmp(slurp(in_dir("g3.txt")), "new 2\n") == 0,
	   "all three in place");
	is_int(entries(), 3, "no temporary left");

	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ok(system(cmd) == 0, "cleanup");
	return done_testing();
}
