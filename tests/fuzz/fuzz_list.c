/* fuzz_list: TSV lists, whole (li_list_read_fp) and streamed
 * (li_list_reader), with the typed field readers, the writer, and the rows
 * as sources (li_source: image files or slide regions; no file is opened). */
#include <math.h>

#include "fuzz.h"
#include "li_list.h"
#include "li_source.h"

/* Every row as a source: a region that parses must be one li_source_read
 * can take (the rest of its checks need the slide). */
static void sources(const li_list *l, const li_row *r)
{
	li_source_cols c;
	if (li_source_cols_find(l, &c) < 0) {
		FUZZ_FAILED("li_source_cols_find");
		return;
	}
	li_source s;
	if (li_source_from_row(l, &c, r, &s) < 0) {
		FUZZ_FAILED("li_source_from_row");
		return;
	}
	if (s.slide && (!s.slide[0] || s.level < 0 || !(s.downsample > 0) || !isfinite(s.downsample) ||
			s.size < 1 || s.size > LI_SOURCE_MAX_SIDE)) {
		fprintf(stderr, "fuzz: li_source_from_row accepted a bad region\n");
		abort();
	}
}

static void typed(const li_list *l, const li_row *r)
{
	for (int c = 0; c < l->ncols; c++) {
		int lab;
		double d;
		long x;
		if (li_list_label(l, r, c, &lab) < 0)
			FUZZ_FAILED("li_list_label");
		if (li_list_double(l, r, c, &d) < 0)
			FUZZ_FAILED("li_list_double");
		if (li_list_long(l, r, c, &x) < 0)
			FUZZ_FAILED("li_list_long");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	li_error_clear();
	/* fmemopen refuses a zero size. */
	FILE *fp = size ? fmemopen((void *)data, size, "rb") : fopen("/dev/null", "rb");
	li_list *l = li_list_read_fp(fp, "fuzz.tsv");
	fclose(fp);
	if (!l) {
		FUZZ_FAILED("li_list_read_fp");
	} else {
		FILE *out = fopen("/dev/null", "w");
		li_list_writer *w = li_list_writer_new(out, "out.tsv", l, 1, (const char *[]){"prob"});
		for (size_t i = 0; i < l->nrows; i++) {
			typed(l, &l->rows[i]);
			sources(l, &l->rows[i]);
			if (w && li_list_writer_put(w, &l->rows[i], (const char *[]){"0.5"}) < 0)
				FUZZ_FAILED("li_list_writer_put");
		}
		if (!w)
			FUZZ_FAILED("li_list_writer_new");
		li_list_writer_free(w);
		fclose(out);
		if (li_list_require(l, "label") < 0)
			FUZZ_FAILED("li_list_require");
		li_list_free(l);
	}
	fp = size ? fmemopen((void *)data, size, "rb") : fopen("/dev/null", "rb");
	li_list_reader *r = li_list_reader_open_fp(fp, "fuzz.tsv");
	if (!r) {
		FUZZ_FAILED("li_list_reader_open_fp");
	} else {
		const li_row *row;
		int rc;
		while ((rc = li_list_reader_next(r, &row)) == 1) {
			typed(li_list_reader_list(r), row);
			sources(li_list_reader_list(r), row);
		}
		if (rc < 0)
			FUZZ_FAILED("li_list_reader_next");
		li_list_reader_close(r);
	}
	fclose(fp);
	return 0;
}
