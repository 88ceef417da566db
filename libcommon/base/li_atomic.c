/* li_atomic.c: atomic output files (temp file, fsync, rename) with a signal
 * handler that removes temp files of a killed run.
 *
 * The registry of open temp paths is a fixed array of static char buffers so
 * the handler touches nothing but memory that is always there and unlink(),
 * both async-signal-safe. A slot is claimed with an atomic compare-exchange
 * (several threads may write outputs at once) and only published (state
 * ACTIVE) after its path is complete, so the handler never sees half a path.
 *
 * Handlers are installed lazily, on the first li_atomic_open, and only for
 * signals whose disposition is still the default: a program that installed
 * its own handler (or ignores SIGPIPE) keeps it, and should call
 * li_atomic_cleanup_signal() from that handler. */
#include "li_atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "li_error.h"

#define SLOTS 64
#define SLOT_PATH 4096

enum { FREE, CLAIMED, ACTIVE };

static char slot_path[SLOTS][SLOT_PATH];
static pid_t slot_pid[SLOTS]; /* a forked child killed by a signal must not remove its parent's files */
static atomic_int slot_state[SLOTS];
static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static mode_t file_mode = 0644;

void li_atomic_cleanup_signal(void)
{
	pid_t self = getpid();
	for (int i = 0; i < SLOTS; i++)
		if (atomic_load(&slot_state[i]) == ACTIVE && slot_pid[i] == self)
			unlink(slot_path[i]);
}

static void on_signal(int sig)
{
	int saved = errno;
	li_atomic_cleanup_signal();
	/* Die the way the signal would have killed us, so the parent sees it. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	raise(sig);
	errno = saved;
}

static void init(void)
{
	/* mkstemp creates 0600; outputs get what open(2) would give them. umask
	 * can only be read by setting it, so do it once. */
	mode_t m = umask(022);
	umask(m);
	file_mode = 0666 & ~m;
	for (size_t i = 0; i < LI_ARRAY_LEN(cleanup_signals); i++) {
		struct sigaction old;
		if (sigaction(cleanup_signals[i], NULL, &old) != 0)
			continue;
		if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
			continue; /* the program's own choice wins */
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		for (size_t j = 0; j < LI_ARRAY_LEN(cleanup_signals); j++)
			sigaddset(&sa.sa_mask, cleanup_signals[j]);
		sigaction(cleanup_signals[i], &sa, NULL);
	}
}

static int slot_claim(const char *tmp)
{
	size_t n = strlen(tmp);
	if (n >= SLOT_PATH)
		return li_error("temporary path '%s' is too long", tmp);
	for (int i = 0; i < SLOTS; i++) {
		int expect = FREE;
		if (atomic_compare_exchange_strong(&slot_state[i], &expect, CLAIMED)) {
			memcpy(slot_path[i], tmp, n + 1);
			slot_pid[i] = getpid();
			atomic_store(&slot_state[i], ACTIVE);
			return i;
		}
	}
	return li_error("too many output files open at once (%d)", SLOTS);
}

static void slot_release(int i)
{
	if (i >= 0 && i < SLOTS)
		atomic_store(&slot_state[i], FREE);
}

static void reset(li_atomic *a)
{
	free(a->path);
	free(a->tmp);
	a->path = a->tmp = NULL;
	a->fp = NULL;
	a->slot = -1;
}

FILE *li_atomic_open(li_atomic *a, const char *path)
{
	a->path = a->tmp = NULL;
	a->fp = NULL;
	a->slot = -1;
	if (strcmp(path, "-") == 0) {
		a->path = li_strdup(path);
		if (!a->path)
			return NULL;
		a->fp = stdout;
		return a->fp;
	}
	pthread_once(&init_once, init);
	/* ".<name>.<pid>.XXXXXX" next to the destination, so rename stays in
	 * one file system, and a later run can tell a killed run's leftover. */
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	const char *base = path + dirlen;
	if (!*base) {
		li_error("cannot write '%s': not a file name", path);
		return NULL;
	}
	size_t n = dirlen + 1 + strlen(base) + 32;
	a->path = li_strdup(path);
	a->tmp = li_malloc(n);
	if (!a->path || !a->tmp) {
		reset(a);
		return NULL;
	}
	snprintf(a->tmp, n, "%.*s.%s.%ld.XXXXXX", (int)dirlen, path, base, (long)getpid());
	int fd = mkstemp(a->tmp);
	if (fd < 0) {
		li_error("cannot create '%s': %s", path, strerror(errno));
		reset(a);
		return NULL;
	}
	a->slot = slot_claim(a->tmp);
	if (a->slot < 0) {
		unlink(a->tmp);
		close(fd);
		reset(a);
		return NULL;
	}
	if (fchmod(fd, file_mode) != 0 || !(a->fp = fdopen(fd, "wb"))) {
		li_error("cannot create '%s': %s", path, strerror(errno));
		unlink(a->tmp);
		slot_release(a->slot);
		close(fd);
		reset(a);
		return NULL;
	}
	return a->fp;
}

/* The directory part of path ("." when none, "/" for "/x") and its base name. */
static char *split_dir(const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	*base = slash ? slash + 1 : path;
	if (!slash)
		return li_strdup(".");
	size_t n = (size_t)(slash - path);
	char *dir = li_malloc(n + 2);
	if (dir) {
		memcpy(dir, path, n ? n : 1);
		dir[n ? n : 1] = '\0';
	}
	return dir;
}

static int sync_dir(const char *path)
{
	const char *base;
	char *dir = split_dir(path, &base);
	if (!dir)
		return -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int rc = 0;
	/* Some file systems cannot fsync a directory (EINVAL); the rename is
	 * still as durable as they allow. */
	if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL && errno != EROFS))
		rc = li_error("cannot sync the directory of '%s': %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

/* Flush, fsync and close the temporary file (it stays registered for
 * cleanup); on failure remove it and reset a. 0 or -1 with li_error. */
static int finish_tmp(li_atomic *a)
{
	int err = 0;
	errno = 0;
	if (fflush(a->fp) != 0 || ferror(a->fp))
		err = errno ? errno : EIO;
	else if (fsync(fileno(a->fp)) != 0)
		err = errno;
	if (fclose(a->fp) != 0 && !err)
		err = errno ? errno : EIO;
	a->fp = NULL;
	if (err) {
		li_error("cannot write '%s': %s", a->path, strerror(err));
		unlink(a->tmp);
		slot_release(a->slot);
		reset(a);
		return -1;
	}
	return 0;
}

int li_atomic_commit(li_atomic *a)
{
	if (!a->fp)
		return li_error("cannot commit '%s': not open", a->path ? a->path : "?");
	if (!a->tmp) { /* stdout: flush and report, li_cli closes it at exit */
		errno = 0;
		int bad = fflush(a->fp) != 0 || ferror(a->fp);
		int err = errno;
		if (bad)
			li_error("cannot write '%s': %s", "stdout", strerror(err ? err : EIO));
		reset(a);
		return bad ? -1 : 0;
	}
	if (finish_tmp(a) < 0)
		return -1;
	if (rename(a->tmp, a->path) != 0) {
		li_error("cannot write '%s': %s", a->path, strerror(errno));
		unlink(a->tmp);
		slot_release(a->slot);
		reset(a);
		return -1;
	}
	slot_release(a->slot);
	int rc = sync_dir(a->path);
	reset(a);
	return rc;
}

void li_atomic_abort(li_atomic *a)
{
	if (a->tmp) {
		if (a->fp)
			fclose(a->fp);
		unlink(a->tmp);
		slot_release(a->slot);
	}
	reset(a);
}

/* The pid of a temporary of the output named base ("." base "." pid "."
 * six letters or digits, as li_atomic_open makes it), or 0 when name is not one. */
static long stale_pid(const char *name, const char *base)
{
	size_t bl = strlen(base);
	if (name[0] != '.' || strncmp(name + 1, base, bl) != 0 || name[1 + bl] != '.')
		return 0;
	const char *p = name + 2 + bl;
	long pid = 0;
	while (*p >= '0' && *p <= '9' && pid < 1L << 40)
		pid = pid * 10 + (*p++ - '0');
	if (pid <= 0 || *p++ != '.' || strlen(p) != 6)
		return 0;
	for (; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return 0;
	return pid;
}

int li_atomic_remove_stale(const char *path)
{
	const char *base;
	char *dir = split_dir(path, &base);
	if (!dir)
		return -1;
	DIR *d = opendir(dir);
	if (!d) {
		int rc = li_error("cannot read the directory of '%s': %s", path, strerror(errno));
		free(dir);
		return rc;
	}
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		long pid = stale_pid(e->d_name, base);
		/* ESRCH: no such process. EPERM means it exists (another user's). */
		if (pid == 0 || (pid_t)pid != pid || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	free(dir);
	return removed;
}

int li_atomic_check(const char *path)
{
	struct stat sb;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return li_error("cannot write '%s': %s", path, strerror(EISDIR));
	li_atomic a;
	if (!li_atomic_open(&a, path))
		return -1;
	li_atomic_abort(&a);
	return 0;
}

int li_atomic_commit_all(li_atomic *a, int n)
{
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		struct stat st;
		if (!a[i].fp || !a[i].tmp)
			rc = li_error("cannot commit '%s': not an open file", a[i].path ? a[i].path : "?");
		else if (stat(a[i].path, &st) == 0 && S_ISDIR(st.st_mode))
			rc = li_error("cannot write '%s': %s", a[i].path, strerror(EISDIR));
		else
			rc = finish_tmp(&a[i]);
	}
	if (rc < 0) {
		for (int i = 0; i < n; i++)
			li_atomic_abort(&a[i]);
		return -1;
	}
	/* Every file is complete on disk: only the renames are left, and they
	 * can hardly fail within one directory. Should one fail all the same,
	 * the files already renamed are removed, so no mix of runs remains. */
	for (int i = 0; i < n; i++) {
		if (rename(a[i].tmp, a[i].path) != 0) {
			rc = li_error("cannot write '%s': %s", a[i].path, strerror(errno));
			for (int k = 0; k < i; k++)
				unlink(a[k].path);
			for (int k = i; k < n; k++)
				unlink(a[k].tmp);
			break;
		}
	}
	for (int i = 0; i < n; i++) {
		slot_release(a[i].slot);
		if (rc == 0)
			rc = sync_dir(a[i].path);
		reset(&a[i]);
	}
	return rc;
}
