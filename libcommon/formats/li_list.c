/* li_list.c: TSV lists (see li_list.h for the rules). Text, column names and
 * field arrays live in a chunk arena owned by the list, so a million-row list
 * costs a handful of allocations and li_list_free is one walk. */
#include "li_list.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "li_atomic.h"
#include "li_error.h"

/* ---- arena ---- */

typedef struct chunk {
	struct chunk *next;
	size_t used, cap;
	_Alignas(max_align_t) char data[];
} chunk;

#define CHUNK_MIN (64u << 10)

static void *arena_alloc(void **pool, size_t n)
{
	chunk *c = *pool;
	n = (n + 7) & ~(size_t)7;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
		chunk *nc = li_malloc(sizeof *nc + cap);
		if (!nc)
			return NULL;
		nc->used = 0;
		nc->cap = cap;
		/* A big one-off block goes behind the current chunk so the
		 * current chunk's free space is not abandoned. */
		if (c && cap == n && c->cap - c->used >= 256) {
			nc->next = c->next;
			c->next = nc;
			nc->used = n;
			return nc->data;
		}
		nc->next = c;
		*pool = c = nc;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

static char *arena_strdup(void **pool, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(pool, n);
	if (p)
		memcpy(p, s, n);
	return p;
}

static void arena_free(void *pool)
{
	for (chunk *c = pool, *next; c; c = next) {
		next = c->next;
		free(c);
	}
}

/* ---- lists ---- */

static li_list *list_alloc(const char *name)
{
	li_list *l = li_calloc(1, sizeof *l);
	if (!l)
		return NULL;
	if (!(l->name = li_strdup(name))) {
		free(l);
		return NULL;
	}
	return l;
}

void li_list_free(li_list *l)
{
	if (!l)
		return;
	free(l->name);
	free(l->rows);
	arena_free(l->pool);
	free(l);
}

static int bad_text(const char *s)
{
	return strpbrk(s, "\t\r\n") != NULL;
}

/* Set the columns (copied into the arena), refusing empty and repeated names. */
static int set_cols(li_list *l, int ncols, const char *const *cols, long line)
{
	char where[32] = "";
	if (line > 0)
		snprintf(where, sizeof where, " line %ld", line);
	l->cols = arena_alloc(&l->pool, (size_t)ncols * sizeof *l->cols);
	if (!l->cols)
		return -1;
	for (int i = 0; i < ncols; i++) {
		if (!cols[i][0])
			return li_error("'%s'%s: column %d has an empty name", l->name, where, i + 1);
		if (bad_text(cols[i]))
			return li_error("'%s'%s: column name '%s' contains a tab or newline", l->name,
					where, cols[i]);
		for (int j = 0; j < i; j++)
			if (strcmp(cols[i], cols[j]) == 0)
				return li_error("'%s'%s: duplicate column '%s'", l->name, where, cols[i]);
		if (!(l->cols[i] = arena_strdup(&l->pool, cols[i])))
			return -1;
	}
	l->ncols = ncols;
	return 0;
}

li_list *li_list_new(const char *name, int ncols, const char *const *cols)
{
	LI_ASSERT(ncols >= 1);
	li_list *l = list_alloc(name);
	if (!l)
		return NULL;
	l->header = true;
	if (set_cols(l, ncols, cols, 0) < 0) {
		li_list_free(l);
		return NULL;
	}
	return l;
}

int li_list_col(const li_list *l, const char *name)
{
	for (int i = 0; i < l->ncols; i++)
		if (strcmp(l->cols[i], name) == 0)
			return i;
	return -1;
}

int li_list_require(const li_list *l, const char *name)
{
	int c = li_list_col(l, name);
	if (c < 0 && !l->header && l->nrows == 0)
		return li_error("'%s': the list is empty (no header, no rows)", l->name);
	if (c < 0)
		return li_error("'%s': no column '%s'", l->name, name);
	return c;
}

static int grow_rows(li_list *l)
{
	if (l->nrows < l->cap)
		return 0;
	size_t cap = l->cap ? l->cap * 2 : 256;
	li_row *r = li_realloc_array(l->rows, cap, sizeof *r);
	if (!r)
		return -1;
	l->rows = r;
	l->cap = cap;
	return 0;
}

int li_list_append(li_list *l, const char *const *fields)
{
	if (grow_rows(l) < 0)
		return -1;
	char **f = arena_alloc(&l->pool, (size_t)l->ncols * sizeof *f);
	if (!f)
		return -1;
	for (int i = 0; i < l->ncols; i++)
		if (!(f[i] = arena_strdup(&l->pool, fields[i])))
			return -1;
	l->rows[l->nrows++] = (li_row){f, 0};
	return 0;
}

int li_list_set(li_list *l, size_t row, int col, const char *value)
{
	LI_ASSERT(row < l->nrows && col >= 0 && col < l->ncols);
	char *v = arena_strdup(&l->pool, value);
	if (!v)
		return -1;
	l->rows[row].field[col] = v;
	return 0;
}

int li_list_add_col(li_list *l, const char *name)
{
	int c = li_list_col(l, name);
	if (c >= 0)
		return c;
	if (!name[0] || bad_text(name))
		return li_error("'%s': bad column name '%s'", l->name, name);
	/* Old arrays stay in the arena until the list is freed: adding a column
	 * happens once or twice per program. */
	int n = l->ncols + 1;
	char **cols = arena_alloc(&l->pool, (size_t)n * sizeof *cols);
	char *copy = arena_strdup(&l->pool, name);
	if (!cols || !copy)
		return -1;
	memcpy(cols, l->cols, (size_t)l->ncols * sizeof *cols);
	cols[n - 1] = copy;
	for (size_t i = 0; i < l->nrows; i++) {
		char **f = arena_alloc(&l->pool, (size_t)n * sizeof *f);
		if (!f)
			return -1;
		memcpy(f, l->rows[i].field, (size_t)l->ncols * sizeof *f);
		f[n - 1] = "";
		l->rows[i].field = f;
	}
	l->cols = cols;
	l->ncols = n;
	return n - 1;
}

/* ---- typed access ---- */

static void where(const li_list *l, const li_row *r, char *buf, size_t cap)
{
	if (r->line > 0)
		snprintf(buf, cap, "'%s' line %ld", l->name, r->line);
	else
		snprintf(buf, cap, "'%s'", l->name);
}

int li_list_label(const li_list *l, const li_row *r, int col, int *out)
{
	LI_ASSERT(col >= 0 && col < l->ncols);
	const char *s = r->field[col];
	if ((s[0] == '0' || s[0] == '1') && !s[1]) {
		*out = s[0] - '0';
		return 0;
	}
	char w[LI_ERRMSG_MAX];
	where(l, r, w, sizeof w);
	return li_error("%s: %s '%s' is not 0 or 1", w, l->cols[col], s);
}

int li_list_double(const li_list *l, const li_row *r, int col, double *out)
{
	LI_ASSERT(col >= 0 && col < l->ncols);
	const char *s = r->field[col];
	char *end;
	errno = 0;
	double v = s[0] && s[0] != ' ' ? strtod(s, &end) : NAN;
	/* ERANGE on underflow still gives a usable tiny number; overflow is inf. */
	if (isfinite(v) && *end == '\0') {
		*out = v;
		return 0;
	}
	char w[LI_ERRMSG_MAX];
	where(l, r, w, sizeof w);
	return li_error("%s: %s '%s' is not a finite number", w, l->cols[col], s);
}

int li_list_long(const li_list *l, const li_row *r, int col, long *out)
{
	LI_ASSERT(col >= 0 && col < l->ncols);
	const char *s = r->field[col];
	char *end = NULL;
	errno = 0;
	long v = 0;
	if ((s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+')
		v = strtol(s, &end, 10);
	if (end && *end == '\0' && end != s && errno == 0) {
		*out = v;
		return 0;
	}
	char w[LI_ERRMSG_MAX];
	where(l, r, w, sizeof w);
	return li_error("%s: %s '%s' is not an integer", w, l->cols[col], s);
}

/* ---- reading ---- */

struct li_list_reader {
	FILE *fp;
	bool own;
	li_list *list; /* name and columns, no rows */
	char *buf;
	size_t cap;
	long lineno;
	long empty_line;  /* first of a run of empty lines, 0 if none pending */
	bool have_first;  /* the first line was a data row, not yet returned */
	bool done;
	li_row row;
};

/* Read one line into r->buf without its end; 1, 0 at EOF, -1. */
static int read_line(li_list_reader *r, size_t *len)
{
	errno = 0;
	ssize_t n = getline(&r->buf, &r->cap, r->fp);
	if (n < 0) {
		if (ferror(r->fp))
			return li_error("cannot read '%s': %s", r->list->name, strerror(errno ? errno : EIO));
		return 0;
	}
	r->lineno++;
	size_t k = (size_t)n;
	if (k && r->buf[k - 1] == '\n')
		r->buf[--k] = '\0';
	if (k && r->buf[k - 1] == '\r') /* CRLF: accepted, CR dropped */
		r->buf[--k] = '\0';
	if (strlen(r->buf) != k)
		return li_error("'%s' line %ld: NUL byte in line", r->list->name, r->lineno);
	if (memchr(r->buf, '\r', k))
		return li_error("'%s' line %ld: carriage return inside a line", r->list->name, r->lineno);
	*len = k;
	return 1;
}

/* Split r->buf in place into the row's fields. */
static int split(li_list_reader *r)
{
	const li_list *l = r->list;
	int n = 1;
	for (const char *p = r->buf; *p; p++)
		n += *p == '\t';
	if (n != l->ncols) {
		if (!l->header)
			return li_error("'%s' line %ld: has %d fields, a list without a header has 1 "
					"(a header starts with 'path')", l->name, r->lineno, n);
		return li_error("'%s' line %ld: has %d fields, header has %d", l->name, r->lineno, n,
				l->ncols);
	}
	char *p = r->buf;
	for (int i = 0; i < n; i++) {
		r->row.field[i] = p;
		p = strchr(p, '\t');
		if (p)
			*p++ = '\0';
	}
	int pc = li_list_col(l, "path");
	if (pc >= 0 && !r->row.field[pc][0])
		return li_error("'%s' line %ld: empty path", l->name, r->lineno);
	r->row.line = r->lineno;
	return 0;
}

li_list_reader *li_list_reader_open_fp(FILE *fp, const char *name)
{
	li_list_reader *r = li_calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->fp = fp;
	if (!(r->list = list_alloc(name)))
		goto fail;
	size_t len;
	int rc = read_line(r, &len);
	if (rc < 0)
		goto fail;
	char *line = r->buf;
	if (rc > 0 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
	    (unsigned char)line[2] == 0xBF)
		memmove(line, line + 3, (len -= 3) + 1); /* byte-order mark */
	size_t first = rc > 0 ? strcspn(line, "\t") : 0;
	if (rc > 0 && first == 4 && memcmp(line, "path", 4) == 0) {
		int n = 1;
		for (const char *p = line; *p; p++)
			n += *p == '\t';
		const char **names = li_malloc_array((size_t)n, sizeof *names);
		if (!names)
			goto fail;
		char *p = line;
		for (int i = 0; i < n; i++) {
			names[i] = p;
			p = strchr(p, '\t');
			if (p)
				*p++ = '\0';
		}
		r->list->header = true;
		rc = set_cols(r->list, n, names, 1);
		free(names);
		if (rc < 0)
			goto fail;
	} else {
		static const char *const bare[] = {"path"};
		if (set_cols(r->list, 1, bare, 0) < 0)
			goto fail;
		if (rc > 0 && len == 0)
			r->empty_line = 1;
		else
			r->have_first = rc > 0;
		r->done = rc == 0;
	}
	r->row.field = li_malloc_array((size_t)r->list->ncols, sizeof *r->row.field);
	if (!r->row.field)
		goto fail;
	if (r->have_first && split(r) < 0)
		goto fail;
	return r;
fail:
	li_list_reader_close(r);
	return NULL;
}

li_list_reader *li_list_reader_open(const char *path)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *fp = is_stdin ? stdin : fopen(path, "r");
	if (!fp) {
		li_error("cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	li_list_reader *r = li_list_reader_open_fp(fp, is_stdin ? "stdin" : path);
	if (!r) {
		if (!is_stdin)
			fclose(fp);
		return NULL;
	}
	r->own = !is_stdin;
	return r;
}

const li_list *li_list_reader_list(const li_list_reader *r) { return r->list; }

int li_list_reader_next(li_list_reader *r, const li_row **row)
{
	if (r->have_first) {
		r->have_first = false;
		*row = &r->row;
		return 1;
	}
	while (!r->done) {
		size_t len;
		int rc = read_line(r, &len);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			r->done = true;
			break;
		}
		if (len == 0) {
			if (!r->empty_line)
				r->empty_line = r->lineno;
			continue;
		}
		if (r->empty_line)
			return li_error("'%s' line %ld: empty line", r->list->name, r->empty_line);
		if (split(r) < 0)
			return -1;
		*row = &r->row;
		return 1;
	}
	return 0;
}

void li_list_reader_close(li_list_reader *r)
{
	if (!r)
		return;
	if (r->own)
		fclose(r->fp);
	li_list_free(r->list);
	free(r->row.field);
	free(r->buf);
	free(r);
}

li_list *li_list_read_fp(FILE *fp, const char *name)
{
	li_list_reader *r = li_list_reader_open_fp(fp, name);
	if (!r)
		return NULL;
	/* Take the header list over from the reader and fill it. */
	li_list *l = r->list;
	const li_row *row;
	int rc;
	while ((rc = li_list_reader_next(r, &row)) > 0) {
		if (grow_rows(l) < 0) {
			rc = -1;
			break;
		}
		/* One arena block per row: the field pointers, then the text. */
		size_t text = 0;
		for (int i = 0; i < l->ncols; i++)
			text += strlen(row->field[i]) + 1;
		char **f = arena_alloc(&l->pool, (size_t)l->ncols * sizeof *f + text);
		if (!f) {
			rc = -1;
			break;
		}
		char *p = (char *)(f + l->ncols);
		for (int i = 0; i < l->ncols; i++) {
			size_t n = strlen(row->field[i]) + 1;
			memcpy(p, row->field[i], n);
			f[i] = p;
			p += n;
		}
		l->rows[l->nrows++] = (li_row){f, row->line};
	}
	if (rc < 0) {
		li_list_reader_close(r);
		return NULL;
	}
	r->list = NULL;
	li_list_reader_close(r);
	return l;
}

li_list *li_list_read(const char *path)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *fp = is_stdin ? stdin : fopen(path, "r");
	if (!fp) {
		li_error("cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	li_list *l = li_list_read_fp(fp, is_stdin ? "stdin" : path);
	if (!is_stdin)
		fclose(fp);
	return l;
}

/* ---- writing ---- */

struct li_list_writer {
	FILE *fp;
	char *name;
	int nbase, nextra, ncols;
	int *extra_col; /* output column of each extra value */
	char **cols;    /* output column names, for messages */
	size_t rows;
};

static int put_line(li_list_writer *w, const char *const *f, bool is_header)
{
	for (int i = 0; i < w->ncols; i++) {
		if (bad_text(f[i])) {
			if (is_header)
				return li_error("'%s': column name '%s' contains a tab or newline", w->name, f[i]);
			return li_error("'%s': column '%s' of row %zu contains a tab or newline",
					w->name, w->cols[i], w->rows + 1);
		}
	}
	for (int i = 0; i < w->ncols; i++) {
		if (i)
			putc('\t', w->fp);
		fputs(f[i], w->fp);
	}
	if (putc('\n', w->fp) == EOF || ferror(w->fp))
		return li_error("cannot write '%s': %s", w->name, strerror(errno ? errno : EIO));
	return 0;
}

li_list_writer *li_list_writer_new(FILE *fp, const char *name, const li_list *base, int nextra,
				   const char *const *extra)
{
	li_list_writer *w = li_calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->fp = fp;
	w->nbase = base ? base->ncols : 0;
	w->nextra = nextra;
	const char **names = li_malloc_array((size_t)(w->nbase + nextra) + 1, sizeof *names);
	w->name = li_strdup(name);
	w->extra_col = li_malloc_array((size_t)nextra + 1, sizeof *w->extra_col);
	if (!names || !w->name || !w->extra_col)
		goto fail;
	for (int i = 0; i < w->nbase; i++)
		names[i] = base->cols[i];
	w->ncols = w->nbase;
	/* An extra column the input already has replaces it in place, so
	 * re-scoring a scored list does not grow a second 'prob'. */
	for (int j = 0; j < nextra; j++) {
		int c = -1;
		for (int i = 0; i < w->ncols; i++)
			if (strcmp(names[i], extra[j]) == 0)
				c = i;
		if (c < 0) {
			c = w->ncols++;
			names[c] = extra[j];
		}
		w->extra_col[j] = c;
	}
	if (w->ncols == 0) {
		li_error("'%s': a list needs at least one column", w->name);
		goto fail;
	}
	for (int i = 0; i < w->ncols; i++)
		if (!names[i][0]) {
			li_error("'%s': column %d has an empty name", w->name, i + 1);
			goto fail;
		}
	if (!(w->cols = li_calloc((size_t)w->ncols, sizeof *w->cols)))
		goto fail;
	for (int i = 0; i < w->ncols; i++)
		if (!(w->cols[i] = li_strdup(names[i])))
			goto fail;
	errno = 0;
	if (put_line(w, names, true) < 0)
		goto fail;
	free(names);
	return w;
fail:
	free(names);
	li_list_writer_free(w);
	return NULL;
}

int li_list_writer_put(li_list_writer *w, const li_row *base_row, const char *const *extra)
{
	const char *stack[32];
	const char **f = w->ncols <= 32 ? stack : li_malloc_array((size_t)w->ncols, sizeof *f);
	if (!f)
		return -1;
	for (int i = 0; i < w->nbase; i++)
		f[i] = base_row->field[i];
	for (int j = 0; j < w->nextra; j++)
		f[w->extra_col[j]] = extra[j];
	errno = 0;
	int rc = put_line(w, f, false);
	if (f != stack)
		free(f);
	if (rc == 0)
		w->rows++;
	return rc;
}

void li_list_writer_free(li_list_writer *w)
{
	if (!w)
		return;
	if (w->cols)
		for (int i = 0; i < w->ncols; i++)
			free(w->cols[i]);
	free(w->cols);
	free(w->name);
	free(w->extra_col);
	free(w);
}

int li_list_write_fp(const li_list *l, FILE *fp, const char *name, const size_t *idx, size_t n)
{
	li_list_writer *w = li_list_writer_new(fp, name, l, 0, NULL);
	if (!w)
		return -1;
	size_t count = idx ? n : l->nrows;
	for (size_t i = 0; i < count; i++) {
		size_t k = idx ? idx[i] : i;
		LI_ASSERT(k < l->nrows);
		if (li_list_writer_put(w, &l->rows[k], NULL) < 0) {
			li_list_writer_free(w);
			return -1;
		}
	}
	li_list_writer_free(w);
	return 0;
}

int li_list_write(const li_list *l, const char *path, const size_t *idx, size_t n)
{
	li_atomic at;
	FILE *fp = li_atomic_open(&at, path);
	if (!fp)
		return -1;
	if (li_list_write_fp(l, fp, strcmp(path, "-") ? path : "stdout", idx, n) < 0) {
		li_atomic_abort(&at);
		return -1;
	}
	return li_atomic_commit(&at);
}
