/* test_list.c: TSV lists: header detection, bare lists, pass-through, typed
 * access, every malformed input with its exact message, the writer, and the
 * streaming reader (answers before its pipe ends, bounded memory). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "li_error.h"
#include "li_list.h"
#include "tap.h"
#include "testdir.h"

/* The list must be refused with message "'<path>'<rest>". */
static void refused(const char *name, const char *text, const char *rest)
{
	const char *p = put(name, text);
	char want[1024];
	snprintf(want, sizeof want, "'%s'%s", p, rest);
	li_list *l = li_list_read(p);
	ok(l == NULL, "%s refused", name);
	is_str(li_errmsg(), want, "%s message", name);
	li_list_free(l);
}

static void typed_bad(li_list *l, size_t row, const char *col, int kind, const char *rest)
{
	char want[1024];
	snprintf(want, sizeof want, "'%s'%s", l->name, rest);
	int c = li_list_col(l, col), v;
	double d;
	long n;
	int rc = kind == 0 ? li_list_label(l, &l->rows[row], c, &v)
		 : kind == 1 ? li_list_double(l, &l->rows[row], c, &d)
			     : li_list_long(l, &l->rows[row], c, &n);
	is_int(rc, -1, "row %zu %s refused", row, col);
	is_str(li_errmsg(), want, "its message");
}

static void generate_rows(int fd, long n)
{
	FILE *f = fdopen(fd, "w");
	fprintf(f, "path\tlabel\tprob\n");
	for (long i = 0; i < n; i++)
		fprintf(f, "dir/patch_%07ld.png\t%ld\t0.5\n", i, i & 1);
	fclose(f);
}

int main(void)
{
	if (test_dir_make() < 0)
		return done_testing();
	/* A header list with an unknown column, UTF-8, CRLF ends and trailing empty lines. */
	const char *p = put("a.tsv", "path\tlabel\tstain\tprob\r\n"
				     "pos_p1_s1_0001.png\t1\tH&E\t0.93\r\n"
				     "neg/ünïcode 图像.png\t0\t\t1e-3\r\n"
				     "c.png\t1\tD2-40\t-0\n\n\n");
	li_list *l = li_list_read(p);
	if (!ok(l != NULL, "header list reads")) {
		diag("%s", li_errmsg());
		return done_testing();
	}
	ok(l && l->header && l->ncols == 4 && l->nrows == 3, "header, 4 columns, 3 rows (empty lines at the end ignored)");
	is_int(li_list_col(l, "stain"), 2, "unknown column found by name");
	is_int(li_list_col(l, "slide"), -1, "absent column is -1");
	is_int(li_list_require(l, "slide"), -1, "require: absent column is an error");
	char want[1024];
	snprintf(want, sizeof want, "'%s': no column 'slide'", p);
	is_str(li_errmsg(), want, "require message");
	{
		/* An empty file says so, rather than naming the first column asked for. */
		const char *e = put("empty.tsv", "");
		li_list *el = li_list_read(e);
		ok(el && li_list_require(el, "label") == -1, "require on an empty list fails");
		snprintf(want, sizeof want, "'%s': the list is empty (no header, no rows)", e);
		is_str(li_errmsg(), want, "an empty list says it is empty");
		li_list_free(el);
	}
	is_str(l->rows[1].field[0], "neg/ünïcode 图像.png", "UTF-8 path passed through");
	is_str(l->rows[0].field[3], "0.93", "CR stripped from the last field");
	is_str(l->rows[1].field[2], "", "empty field kept");
	is_int(l->rows[2].line, 4, "line numbers count the header");
	int lab = -1;
	double d = -1;
	is_int(li_list_label(l, &l->rows[0], 1, &lab), 0, "label reads");
	is_int(lab, 1, "label value");
	is_int(li_list_double(l, &l->rows[1], 3, &d), 0, "prob reads");
	is_close(d, 1e-3, 1e-15, "prob value");

	/* Pass-through and added columns. */
	int pc = li_list_add_col(l, "fold");
	is_int(pc, 4, "added column goes at the end");
	is_int(li_list_add_col(l, "label"), 1, "adding an existing column returns it");
	is_int(li_list_set(l, 1, pc, "2"), 0, "set a field");
	const char *row4[] = {"d.png", "0", "x", "0.5", "1"};
	is_int(li_list_append(l, row4), 0, "append a row");
	size_t idx[] = {3, 1};
	const char *q = in_dir("out.tsv");
	is_int(li_list_write(l, q, idx, 2), 0, "write a subset");
	const char *subset = "path\tlabel\tstain\tprob\tfold\nd.png\t0\tx\t0.5\t1\n"
			     "neg/ünïcode 图像.png\t0\t\t1e-3\t2\n";
	is_str(read_text(q), subset, "subset written with header, unknown column and new column");
	li_list *m = li_list_read(q);
	ok(m && m->nrows == 2 && m->ncols == 5 && strcmp(m->rows[1].field[4], "2") == 0, "written list reads back");
	li_list_free(m);
	li_list_set(l, 0, 2, "H\tE");
	is_int(li_list_write(l, q, NULL, 0), -1, "tab inside a field refused on write");
	snprintf(want, sizeof want, "'%s': column 'stain' of row 1 contains a tab or newline", q);
	is_str(li_errmsg(), want, "its message");
	is_str(read_text(q), subset, "the failed write left the old file alone");
	li_list_free(l);

	/* Typed access errors, with line numbers. */
	p = put("train.tsv", "path\tlabel\tprob\tx\n"
			     "a\t0\t0.1\t5\n"
			     "b\tx\tnan\t1.5\n"
			     "c\t2\tinf\t\n"
			     "d\t 1\tabc\t-7\n"
			     "e\t1\t\t99999999999999999999\n"
			     "f\t1\t0.5 \t+3\n");
	l = li_list_read(p);
	ok(l && l->nrows == 6, "typed list reads");
	typed_bad(l, 1, "label", 0, " line 3: label 'x' is not 0 or 1");
	typed_bad(l, 2, "label", 0, " line 4: label '2' is not 0 or 1");
	typed_bad(l, 3, "label", 0, " line 5: label ' 1' is not 0 or 1");
	typed_bad(l, 1, "prob", 1, " line 3: prob 'nan' is not a finite number");
	typed_bad(l, 2, "prob", 1, " line 4: prob 'inf' is not a finite number");
	typed_bad(l, 3, "prob", 1, " line 5: prob 'abc' is not a finite number");
	typed_bad(l, 4, "prob", 1, " line 6: prob '' is not a finite number");
	typed_bad(l, 5, "prob", 1, " line 7: prob '0.5 ' is not a finite number");
	typed_bad(l, 1, "x", 2, " line 3: x '1.5' is not an integer");
	typed_bad(l, 2, "x", 2, " line 4: x '' is not an integer");
	typed_bad(l, 4, "x", 2, " line 6: x '99999999999999999999' is not an integer");
	long n = 0;
	is_int(li_list_long(l, &l->rows[3], 3, &n), 0, "x -7 reads");
	is_int(n, -7, "x value");
	is_int(li_list_long(l, &l->rows[5], 3, &n), 0, "x +3 reads");
	li_list_free(l);

	/* A bare path list: no header, one column "path", a BOM skipped, no final newline. */
	p = put("bare.txt", "\xEF\xBB\xBF" "a/1.png\nb/2.png\nc/3.png");
	l = li_list_read(p);
	ok(l && !l->header && l->ncols == 1 && l->nrows == 3, "bare list: 3 paths, no header");
	is_str(l ? l->cols[0] : NULL, "path", "bare list column is 'path'");
	is_str(l ? l->rows[0].field[0] : NULL, "a/1.png", "BOM skipped");
	is_str(l ? l->rows[2].field[0] : NULL, "c/3.png", "last line without newline");
	li_list_free(l);
	l = li_list_read(put("empty.tsv", ""));
	ok(l && l->nrows == 0 && l->ncols == 1, "an empty file is an empty bare list");
	li_list_free(l);
	l = li_list_read(put("hdronly.tsv", "path\tlabel\n"));
	ok(l && l->nrows == 0 && l->ncols == 2 && l->header, "a header alone is an empty list");
	li_list_free(l);

	/* Malformed lists. */
	refused("fields.tsv", "path\tlabel\tslide\tprob\na\t1\ts\t0.5\nb\t1\ts\n", " line 3: has 3 fields, header has 4");
	refused("more.tsv", "path\tlabel\na\t1\tx\n", " line 2: has 3 fields, header has 2");
	refused("gap.tsv", "path\ta\n1\t2\n\n\n3\t4\n", " line 3: empty line");
	refused("gap0.txt", "\na.png\n", " line 1: empty line");
	refused("dup.tsv", "path\tlabel\tlabel\n", " line 1: duplicate column 'label'");
	refused("noname.tsv", "path\t\tlabel\n", " line 1: column 2 has an empty name");
	refused("emptypath.tsv", "path\tlabel\n\t1\n", " line 2: empty path");
	refused("cr.tsv", "path\tlabel\na\rb\t1\n", " line 2: carriage return inside a line");
	refused("nohdr.tsv", "a.png\t1\nb.png\t0\n",
		" line 1: has 2 fields, a list without a header has 1 (a header starts with 'path')");
	refused("bare2.txt", "a.png\nb.png\t0\n",
		" line 2: has 2 fields, a list without a header has 1 (a header starts with 'path')");
	l = li_list_read(in_dir("absent.tsv"));
	snprintf(want, sizeof want, "cannot open '%s': No such file or directory", in_dir("absent.tsv"));
	ok(l == NULL, "absent file refused");
	is_str(li_errmsg(), want, "its message");

	/* Streaming writer: header once, extra columns appended, an existing one replaced. */
	l = li_list_read(put("s.tsv", "path\tprob\tslide\na\t0.1\ts1\nb\t0.2\ts2\n"));
	FILE *f = fopen(in_dir("w.tsv"), "w");
	const char *extra_names[] = {"label", "prob"};
	li_list_writer *w = li_list_writer_new(f, "w.tsv", l, 2, extra_names);
	ok(w != NULL, "writer with extra columns");
	const char *e1[] = {"1", "0.75"}, *e2[] = {"0", "a\nb"};
	is_int(li_list_writer_put(w, &l->rows[0], e1), 0, "put row 1");
	is_int(li_list_writer_put(w, &l->rows[1], e2), -1, "newline inside a field refused");
	is_str(li_errmsg(), "'w.tsv': column 'prob' of row 2 contains a tab or newline", "its message");
	li_list_writer_free(w);
	fclose(f);
	is_str(read_text(in_dir("w.tsv")), "path\tprob\tslide\tlabel\na\t0.75\ts1\t1\n",
	       "header once; 'label' appended, 'prob' replaced in place");
	li_list_free(l);
	const char *cols[] = {"path", "label"};
	l = li_list_new("mem", 2, cols);
	const char *r1[] = {"x.png", "x"};
	li_list_append(l, r1);
	typed_bad(l, 0, "label", 0, ": label 'x' is not 0 or 1");
	li_list_free(l);

	/* Streaming reader: a row is answered while its pipe is still open. */
	int data[2], ack[2];
	if (pipe(data) != 0 || pipe(ack) != 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		close(data[0]);
		close(ack[1]);
		FILE *o = fdopen(data[1], "w");
		fputs("a.png\n", o); /* a bare list, so the first line is a row */
		fflush(o);
		char c;
		if (read(ack[0], &c, 1) != 1)
			_exit(1);
		fputs("b.png\n", o);
		fclose(o);
		_exit(0);
	}
	close(data[1]);
	close(ack[0]);
	alarm(10); /* a reader that waits for EOF would hang here: die instead */
	FILE *in = fdopen(data[0], "r");
	li_list_reader *rd = li_list_reader_open_fp(in, "pipe");
	const li_row *row = NULL;
	is_int(rd ? li_list_reader_next(rd, &row) : -1, 1, "first row arrives before the pipe ends");
	is_str(row ? row->field[0] : NULL, "a.png", "first row value");
	if (write(ack[1], "x", 1) != 1)
		ok(0, "ack");
	close(ack[1]);
	is_int(li_list_reader_next(rd, &row), 1, "second row");
	is_str(row->field[0], "b.png", "second row value");
	is_int(li_list_reader_next(rd, &row), 0, "end");
	alarm(0);
	li_list_reader_close(rd);
	fclose(in);
	waitpid(pid, NULL, 0);

	/* Streaming reader: a million rows in bounded memory. */
	if (pipe(data) != 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		close(data[0]);
		generate_rows(data[1], 1000000);
		_exit(0);
	}
	close(data[1]);
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	in = fdopen(data[0], "r");
	rd = li_list_reader_open_fp(in, "big");
	long rows = 0, ones = 0;
	int rc;
	const li_list *hl = li_list_reader_list(rd);
	int lc = li_list_col(hl, "label");
	while ((rc = li_list_reader_next(rd, &row)) > 0) {
		int v = 0;
		if (li_list_label(hl, row, lc, &v) < 0)
			break;
		rows++;
		ones += v;
	}
	getrusage(RUSAGE_SELF, &ru1);
	is_int(rc, 0, "a million rows stream without error");
	is_int(rows, 1000000, "all rows seen");
	is_int(ones, 500000, "labels read");
	ok(ru1.ru_maxrss - ru0.ru_maxrss < 8 * 1024, "memory grew by %ld KiB for ~38 MB of input",
	   ru1.ru_maxrss - ru0.ru_maxrss);
	li_list_reader_close(rd);
	fclose(in);
	waitpid(pid, NULL, 0);

	ok(test_dir_remove() == 0, "cleanup");
	return done_testing();
}
