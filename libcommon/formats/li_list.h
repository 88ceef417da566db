/* li_list.h: TSV lists, the contract between the li programs (li-formats(5)).
 *
 * A list is UTF-8 text, one row per line, fields separated by tabs. When the
 * first field of the first line is exactly "path" that line is a header of
 * column names; otherwise the input is a bare list of paths, one per line,
 * read as the single column "path" (so `find ... | li-score` works). Unknown
 * columns are kept and passed through unchanged; programs add theirs at the
 * end. "-" means stdin (shown as 'stdin' in messages).
 *
 * Reading rules: a CRLF line end is accepted and the CR stripped (a CR anywhere
 * else in a line is refused); a UTF-8 byte-order mark before the first line is
 * skipped; empty lines at the end are tolerated, an empty line followed by more
 * rows is refused; every row must have as many fields as the header; the path
 * field must not be empty; header names must be non-empty and distinct. Every
 * error names the file and line: "'train.tsv' line 7: has 3 fields, header
 * has 4". Writing refuses a tab, CR or newline inside any field.
 *
 * Two readers: li_list_read loads a whole list (li-train, li-split, li-eval);
 * li_list_reader returns one row at a time in bounded memory, so li-score can
 * answer rows from a pipe before the pipe ends. */
#ifndef LI_LIST_H
#define LI_LIST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* One row: field[c] for each of the list's ncols columns, and the line it
 * came from (0 for rows added in memory). */
typedef struct li_row {
	char **field;
	long line;
} li_row;

/* A whole list. Read the fields directly: l->rows[i].field[col]. */
typedef struct li_list {
	char *name;    /* for messages: the path, or "stdin" */
	bool header;   /* the input had a header line */
	int ncols;
	char **cols;   /* column names; cols[0] is "path" for lists read from files */
	size_t nrows;
	li_row *rows;
	/* private */
	size_t cap;
	void *pool;
} li_list;

/* Read a whole list; NULL + li_error. name labels messages for _fp. */
li_list *li_list_read(const char *path);
li_list *li_list_read_fp(FILE *fp, const char *name);
/* An empty list with the given columns (for lists built in memory). */
li_list *li_list_new(const char *name, int ncols, const char *const *cols);
void li_list_free(li_list *l);

/* Column index by name, -1 when absent (no error recorded). */
int li_list_col(const li_list *l, const char *name);
/* The same, but absence is an error: "'x.tsv': no column 'label'", or for
 * an empty input "'x.tsv': the list is empty (no header, no rows)". */
int li_list_require(const li_list *l, const char *name);
/* Add a column at the end (every row gets ""); returns its index, or the
 * existing index if the column is already there. */
int li_list_add_col(li_list *l, const char *name);
/* Append a row of ncols fields (copied); 0 or -1. */
int li_list_append(li_list *l, const char *const *fields);
/* Replace one field (copied); 0 or -1. */
int li_list_set(li_list *l, size_t row, int col, const char *value);

/* Typed access with line numbers in errors ("'x.tsv' line 7: label 'x' is not
 * 0 or 1", "'x.tsv' line 7: prob 'abc' is not a finite number", "... x '1.5'
 * is not an integer"); the column name in the message is l->cols[col]. */
int li_list_label(const li_list *l, const li_row *r, int col, int *out);
int li_list_double(const li_list *l, const li_row *r, int col, double *out);
int li_list_long(const li_list *l, const li_row *r, int col, long *out);

/* Write the whole list (header always) or, with idx != NULL, rows idx[0..n)
 * in that order; atomic (li_atomic), "-" is stdout. 0 or -1. */
int li_list_write(const li_list *l, const char *path, const size_t *idx, size_t n);
/* The same on a FILE* it does not close (name labels messages): for lists
 * that must be committed together (li_atomic_commit_all). 0 or -1. */
int li_list_write_fp(const li_list *l, FILE *fp, const char *name, const size_t *idx, size_t n);

/* Streaming reader. Open reads the first line (to detect the header), so it
 * blocks until that line arrives. The returned list has the columns and name
 * and no rows. next() returns 1 with *row valid until the next call, 0 at the
 * end, -1 on error. */
typedef struct li_list_reader li_list_reader;
li_list_reader *li_list_reader_open(const char *path);
li_list_reader *li_list_reader_open_fp(FILE *fp, const char *name);
const li_list *li_list_reader_list(const li_list_reader *r);
int li_list_reader_next(li_list_reader *r, const li_row **row);
void li_list_reader_close(li_list_reader *r);

/* Streaming writer on a FILE* it does not close. The header is printed at
 * creation: the columns of base (may be NULL) followed by the nextra extra
 * names. put() prints base_row's fields (NULL when base is NULL) followed by
 * the extra values. name labels messages. Errors: a field with a tab, CR or
 * newline ("'out.tsv': column 'path' of row 3 contains a tab or newline"),
 * a write error. */
typedef struct li_list_writer li_list_writer;
li_list_writer *li_list_writer_new(FILE *fp, const char *name, const li_list *base,
				   int nextra, const char *const *extra);
int li_list_writer_put(li_list_writer *w, const li_row *base_row, const char *const *extra);
void li_list_writer_free(li_list_writer *w);
#endif
