/* li_atomic.h: atomic output files. Output goes to a temporary file in the
 * destination's directory (".<name>.<pid>.XXXXXX"), which li_atomic_commit flushes,
 * fsyncs and renames over the destination; li_atomic_abort (or a SIGINT,
 * SIGTERM, SIGHUP or SIGPIPE while the file is open) removes it. A failed or
 * killed run never leaves a half-written model, list or tensor behind, and
 * never replaces a good file with a bad one. Path "-" writes to stdout
 * directly (nothing to rename). */
#ifndef LI_ATOMIC_H
#define LI_ATOMIC_H
#include <stdbool.h>
#include <stdio.h>

typedef struct li_atomic {
	char *path;  /* destination */
	char *tmp;   /* temporary file, NULL for stdout */
	FILE *fp;
	int slot;    /* index in the signal-cleanup registry, -1 if none */
} li_atomic;

/* Open for writing; returns the FILE* (also in a->fp) or NULL with li_error. */
FILE *li_atomic_open(li_atomic *a, const char *path);
/* Flush, fsync, close and rename into place; 0 or -1 with li_error (the
 * temporary file is removed on failure). */
int li_atomic_commit(li_atomic *a);
/* Commit n files together, all or nothing: every file is flushed, synced
 * and closed first (any failure removes every temporary and leaves every
 * destination as it was), then all are renamed. For outputs that belong
 * together, such as li-split's lists. Not for stdout. 0 or -1. */
int li_atomic_commit_all(li_atomic *a, int n);
/* Close and remove the temporary file; a no-op after commit, after a failed
 * open, and on a zero-initialised struct. */
void li_atomic_abort(li_atomic *a);
/* The cleanup handlers are installed on the first open, and only for signals
 * still at their default action: a program with its own SIGINT/SIGTERM/
 * SIGHUP/SIGPIPE handler keeps it and should call this (async-signal-safe:
 * it only unlinks the open temporary files) from that handler. */
void li_atomic_cleanup_signal(void);
/* A run killed with SIGKILL cannot remove its temporary file. Remove those
 * of the output `path`: files ".<name>.<pid>.XXXXXX" in its directory whose
 * process <pid> no longer exists (kill(pid, 0) fails with ESRCH). A live
 * process's temporaries (this one's, a concurrent run's, another user's) are
 * never touched; a recycled pid only delays the cleanup. Returns how many
 * were removed, or -1 with li_error when the directory cannot be read. */
int li_atomic_remove_stale(const char *path);
/* Can an output be written at path? Creates and removes a temporary file in
 * its directory, and refuses a directory as the destination, so a program
 * can fail before a long run rather than after it. 0, or -1 with li_error
 * ("cannot create 'out/m.st': No such file or directory"). */
int li_atomic_check(const char *path);
#endif
