/* li_cache.h: what is worth remembering from one run to the next on this
 * machine (li_net: which convolutions are faster here), in small text files
 * of the user's cache directory: $LI_CACHE_DIR when set (set to the empty
 * string: no cache), else $XDG_CACHE_HOME/li, else $HOME/.cache/li.
 *
 * A file is lines "KEY<TAB>VALUE\n", keys and values printable ASCII without
 * tabs. It is a cache, never input a run depends on: a missing or unreadable
 * file is empty, a line of any other form is ignored (and dropped by the next
 * write), and a write replaces the whole file atomically (li_atomic), keeping
 * the newest LI_CACHE_LINES lines. Two processes writing at once: the last
 * rename wins, and the other's line is measured again some day. */
#ifndef LI_CACHE_H
#define LI_CACHE_H
#include <stddef.h>

#define LI_CACHE_LINES 256
/* Longest line kept (key, tab, value); bytes of a file read at most. */
#define LI_CACHE_LINE 1024
#define LI_CACHE_BYTES ((size_t)LI_CACHE_LINES * (LI_CACHE_LINE + 2))

/* The path of cache file `name` (a plain file name) into buf: 0, or -1 when
 * caching is off (LI_CACHE_DIR empty, or no HOME to put it in) or the path
 * does not fit; no li_error either way. */
int li_cache_path(const char *name, char *buf, size_t size);
/* Whether s is a usable key or value: 1 to LI_CACHE_LINE / 2 printable ASCII
 * characters, no tab. */
int li_cache_text_ok(const char *s);
/* The value of key in text (len bytes, NUL not needed), the last line with
 * it winning: 1 and val (NUL-terminated; size >= LI_CACHE_LINE holds any),
 * or 0 (not there, or only on malformed lines). */
int li_cache_find(const char *text, size_t len, const char *key, char *val, size_t size);
/* key's value in cache file name: 1 and val, or 0 (cache off, no file, no
 * line). Never an error. */
int li_cache_get(const char *name, const char *key, char *val, size_t size);
/* Whether cache file name can be written: makes its directory (mode 0700)
 * and tries a temporary file there. 0, or -1 + li_error. */
int li_cache_check(const char *name);
/* key = val in cache file name (the file's other valid lines kept, the
 * oldest dropped past LI_CACHE_LINES): 0, or -1 + li_error, the file as it
 * was. */
int li_cache_put(const char *name, const char *key, const char *val);
#endif
