/* li-geojson: the tiles of one slide in a list (li-tile's manifest scored by
 * li-score, li-mine's lists) as QuPath objects in GeoJSON, for review; and,
 * with --import, the classes of QuPath's export of them back into the list
 * as labels. See li-geojson(1). */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li_atomic.h"
#include "li_cli.h"
#include "li_error.h"
#include "li_geojson.h"
#include "li_list.h"
#include "li_qupath.h"

typedef struct opts {
	const char *list, *out, *import, *slide, *class_col, *pos, *neg, *ign;
	double threshold, tile;
	li_qp_object object;
	bool threshold_set, object_set, legacy, skip_unmatched, drop_missing;
} opts;

_Noreturn static void usage(void)
{
	printf("Usage: li-geojson [OPTION]... [LIST|-]\n"
	       "       li-geojson --import FILE.geojson [OPTION]... [LIST|-]\n"
	       "Write the tiles of one slide in LIST (li-tile's manifest scored by li-score,\n"
	       "li-mine's lists) as GeoJSON that QuPath imports: one object per tile, a\n"
	       "square in level-0 pixels, its class from the prediction (prob >= threshold)\n"
	       "or a column, the numeric columns as measurements. With --import, read\n"
	       "QuPath's GeoJSON export of those tiles after review and write LIST with\n"
	       "each tile's class as its label.\n"
	       "\n"
	       "  -o, --output FILE        write to FILE (atomically) instead of stdout\n"
	       "      --slide NAME         the rows whose slide column is NAME (needed when\n"
	       "                           LIST has several slides)\n"
	       "  -t, --threshold T        class from prob >= T (default 0.5)\n"
	       "  -c, --class-column COL   class from column COL, or with --import into it\n"
	       "                           (default label); 1 and 0 are the positive and\n"
	       "                           negative class, other values class names\n"
	       "      --positive NAME      the positive class (default LI)\n"
	       "      --negative NAME      the negative class (default Negative)\n"
	       "      --ignore NAME        import: tiles of this class are dropped\n"
	       "                           (default Ignore*)\n"
	       "      --object TYPE        tile (default), detection or annotation\n"
	       "      --tile N             tile side in level-0 pixels, for lists without\n"
	       "                           size and downsample columns\n"
	       "      --legacy             for QuPath 0.3: measurements as [{name, value}],\n"
	       "                           the object type as object_type too\n"
	       "      --import FILE        QuPath's GeoJSON export of the tiles\n"
	       "      --skip-unmatched     import: skip features that are not a tile of LIST\n"
	       "                           (other objects) instead of failing\n"
	       "      --drop-missing       import: drop the slide's rows that have no\n"
	       "                           feature in FILE (default: keep them as they are)\n"
	       "  -h, --help               show this help and exit\n"
	       "  -V, --version            show the version and exit\n"
	       "\n"
	       "See li-geojson(1).\n");
	exit(LI_EXIT_OK);
}

/* A class name must reach QuPath and come back unchanged. */
static bool class_ok(const char *name)
{
	char *c = li_qp_class_canonical(name);
	if (!c)
		li_die_lib();
	bool same = name[0] && strcmp(c, name) == 0;
	free(c);
	for (const unsigned char *p = (const unsigned char *)name; same && *p; p++)
		same = *p >= 0x20 && *p != 0x7f;
	return same;
}

static void check_name(const char *opt, const char *name)
{
	if (!class_ok(name)) {
		char *c = li_qp_class_canonical(name);
		li_usage_error("%s: '%s' is not a class name QuPath keeps as it is%s%s%s", opt, name,
			       c && c[0] ? " (it would be '" : " (it would be unclassified)",
			       c && c[0] ? c : "", c && c[0] ? "')" : "");
	}
}

static void parse(int argc, char **argv, opts *o)
{
	enum { O_SLIDE = 256, O_POS, O_NEG, O_IGN, O_OBJECT, O_TILE, O_LEGACY, O_IMPORT, O_SKIP, O_DROP };
	static const struct option lo[] = {
		{"output", 1, 0, 'o'}, {"slide", 1, 0, O_SLIDE}, {"threshold", 1, 0, 't'},
		{"class-column", 1, 0, 'c'}, {"positive", 1, 0, O_POS}, {"negative", 1, 0, O_NEG},
		{"ignore", 1, 0, O_IGN}, {"object", 1, 0, O_OBJECT}, {"tile", 1, 0, O_TILE},
		{"legacy", 0, 0, O_LEGACY}, {"import", 1, 0, O_IMPORT},
		{"skip-unmatched", 0, 0, O_SKIP}, {"drop-missing", 0, 0, O_DROP},
		{"help", 0, 0, 'h'}, {"version", 0, 0, 'V'}, {0, 0, 0, 0}};
	static const char *const objects[] = {"tile", "detection", "annotation", NULL};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:t:c:hV", lo, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case O_SLIDE: o->slide = optarg; break;
		case 't':
			o->threshold = li_opt_double("--threshold", optarg, 0, 1);
			o->threshold_set = true;
			break;
		case 'c': o->class_col = optarg; break;
		case O_POS: o->pos = optarg; break;
		case O_NEG: o->neg = optarg; break;
		case O_IGN: o->ign = optarg; break;
		case O_OBJECT:
			o->object = (li_qp_object)li_opt_choice("--object", optarg, objects);
			o->object_set = true;
			break;
		case O_TILE: o->tile = li_opt_double("--tile", optarg, 1, LI_GEO_MAX_COORD); break;
		case O_LEGACY: o->legacy = true; break;
		case O_IMPORT: o->import = optarg; break;
		case O_SKIP: o->skip_unmatched = true; break;
		case O_DROP: o->drop_missing = true; break;
		case 'h': usage();
		case 'V': li_cli_version();
		case ':':
		default: li_cli_bad_option(c, argv);
		}
	}
	o->list = li_cli_list_operand(argc, argv, "-");
	if (o->import) {
		if (o->threshold_set || o->object_set || o->legacy || o->tile > 0)
			li_usage_error("--threshold, --object, --tile and --legacy are for the export, "
				       "not --import");
		if (strcmp(o->import, "-") == 0)
			li_usage_error("--import: give the GeoJSON as a file (the list may come on stdin)");
	} else {
		if (o->skip_unmatched || o->drop_missing)
			li_usage_error("--skip-unmatched and --drop-missing need --import");
		if (o->threshold_set && o->class_col)
			li_usage_error("--threshold classifies by prob; --class-column by a column: give one");
	}
	check_name("--positive", o->pos);
	check_name("--negative", o->neg);
	check_name("--ignore", o->ign);
	if (!strcmp(o->pos, o->neg) || !strcmp(o->pos, o->ign) || !strcmp(o->neg, o->ign))
		li_usage_error("--positive, --negative and --ignore must be three different classes");
	if (o->slide && !o->slide[0])
		li_usage_error("--slide: the name is empty");
}

/* ---- the tiles of the slide ---- */

typedef struct tiles {
	li_list *l;
	int cslide;
	const char *slide; /* its name, NULL when the list has no slide column */
	size_t n;
	size_t *rows;     /* list rows of the slide, in list order */
	double *x, *y, *side;
} tiles;

/* The slide: --slide, or the one slide of the list (an error when there are
 * several). */
static void pick_slide(const opts *o, tiles *t)
{
	const li_list *l = t->l;
	t->cslide = li_list_col(l, "slide");
	if (t->cslide < 0) {
		if (o->slide)
			li_die("'%s': no column 'slide' to choose slide '%s' by", l->name, o->slide);
		return;
	}
	if (o->slide) {
		t->slide = o->slide;
		return;
	}
	for (size_t r = 0; r < l->nrows; r++) {
		const char *s = l->rows[r].field[t->cslide];
		if (!t->slide)
			t->slide = s;
		else if (strcmp(s, t->slide) != 0)
			li_die("'%s': rows of several slides ('%s' on line %ld, '%s' on line %ld): choose one "
			       "with --slide", l->name, t->slide, l->rows[0].line, s, l->rows[r].line);
	}
}

static void load_tiles(const opts *o, tiles *t)
{
	li_list *l = t->l;
	const int cx = li_list_require(l, "x"), cy = li_list_require(l, "y");
	if (cx < 0 || cy < 0)
		li_die_lib();
	const int csize = li_list_col(l, "size"), cds = li_list_col(l, "downsample");
	if (!(o->tile > 0) && (csize < 0 || cds < 0))
		li_die("'%s': no columns 'size' and 'downsample' (give --tile)", l->name);
	pick_slide(o, t);
	t->rows = li_malloc_array(l->nrows ? l->nrows : 1, sizeof *t->rows);
	t->x = li_malloc_array(l->nrows ? l->nrows : 1, sizeof *t->x);
	t->y = li_malloc_array(l->nrows ? l->nrows : 1, sizeof *t->y);
	t->side = li_malloc_array(l->nrows ? l->nrows : 1, sizeof *t->side);
	if (!t->rows || !t->x || !t->y || !t->side)
		li_die_lib();
	for (size_t r = 0; r < l->nrows; r++) {
		const li_row *row = &l->rows[r];
		if (t->slide && strcmp(row->field[t->cslide], t->slide) != 0)
			continue;
		long x, y;
		double side = o->tile, size, ds;
		if (li_list_long(l, row, cx, &x) < 0 || li_list_long(l, row, cy, &y) < 0)
			li_die_lib();
		if (!(side > 0)) {
			if (li_list_double(l, row, csize, &size) < 0 || li_list_double(l, row, cds, &ds) < 0)
				li_die_lib();
			if (!(size > 0) || !(ds > 0))
				li_die("'%s' line %ld: size and downsample must be positive", l->name, row->line);
			side = size * ds;
		}
		if (fabs((double)x) > LI_GEO_MAX_COORD || fabs((double)y) > LI_GEO_MAX_COORD ||
		    fabs(x + side) > LI_GEO_MAX_COORD || fabs(y + side) > LI_GEO_MAX_COORD)
			li_die("'%s' line %ld: the tile at (%ld, %ld) of side %g lies beyond %g pixels", l->name,
			       row->line, x, y, side, LI_GEO_MAX_COORD);
		t->x[t->n] = (double)x;
		t->y[t->n] = (double)y;
		t->side[t->n] = side;
		t->rows[t->n++] = r;
	}
	if (t->slide && t->n == 0 && o->slide)
		li_die("'%s': no rows for slide '%s' (column 'slide')", l->name, t->slide);
}

/* The tiles' squares, sorted; two rows with the same square are an error,
 * as no feature could tell them apart. */
static li_qp_square *squares(const tiles *t)
{
	li_qp_square *sq = li_malloc_array(t->n ? t->n : 1, sizeof *sq);
	if (!sq)
		li_die_lib();
	for (size_t i = 0; i < t->n; i++)
		sq[i] = (li_qp_square){t->x[i], t->y[i], t->x[i] + t->side[i], t->y[i] + t->side[i], i};
	size_t a, b;
	if (li_qp_squares_sort(sq, t->n, &a, &b))
		li_die("'%s' line %ld: the same tile square as line %ld (a QuPath object could not be "
		       "matched back to one row)", t->l->name, t->l->rows[t->rows[b]].line,
		       t->l->rows[t->rows[a]].line);
	return sq;
}

static void free_tiles(tiles *t)
{
	free(t->rows);
	free(t->x);
	free(t->y);
	free(t->side);
	li_list_free(t->l);
}

/* "slide 'NAME'" for messages, or "the list" when it has no slide column. */
static const char *slide_label(const tiles *t)
{
	static char buf[512];
	if (!t->slide)
		return "the list";
	snprintf(buf, sizeof buf, "slide '%s'", t->slide);
	return buf;
}

/* ---- export ---- */

/* The tile's name: its path's file name without the extension. */
static char *tile_name(const char *path)
{
	const char *b = strrchr(path, '/');
	char *s = li_strdup(b ? b + 1 : path);
	if (!s)
		li_die_lib();
	char *dot = strrchr(s, '.');
	if (dot && dot != s)
		*dot = '\0';
	return s;
}

/* Columns whose every value in the slide's rows is a number (or NA, or
 * empty): the measurements. path and slide never are. */
static int numeric_columns(const tiles *t, int *cols)
{
	const li_list *l = t->l;
	int n = 0;
	for (int c = 0; c < l->ncols; c++) {
		if (c == t->cslide || strcmp(l->cols[c], "path") == 0)
			continue;
		bool numeric = true, any = false;
		for (size_t i = 0; numeric && i < t->n; i++) {
			const char *f = l->rows[t->rows[i]].field[c];
			double v;
			if (!f[0] || strcmp(f, "NA") == 0)
				continue;
			numeric = li_parse_double(f, &v) == 0;
			any = true;
		}
		if (numeric && any)
			cols[n++] = c;
	}
	li_error_clear();
	return n;
}

/* The class of a row: 1/0 of the class column are the positive/negative
 * class, its other values class names ("" none); without the column, the
 * prediction. */
static const char *row_class(const opts *o, const li_list *l, const li_row *row, int ccls, int cprob)
{
	if (ccls >= 0) {
		const char *v = row->field[ccls];
		if (strcmp(v, "1") == 0)
			return o->pos;
		if (strcmp(v, "0") == 0)
			return o->neg;
		if (v[0] && !class_ok(v)) {
			char *c = li_qp_class_canonical(v);
			li_die("'%s' line %ld: %s '%s' is not a class name QuPath keeps as it is (%s%s%s)", l->name,
			       row->line, l->cols[ccls], v, c && c[0] ? "it would be '" : "it would be unclassified",
			       c && c[0] ? c : "", c && c[0] ? "'" : "");
		}
		return v;
	}
	double p;
	if (li_list_double(l, row, cprob, &p) < 0)
		li_die_lib();
	return p >= o->threshold ? o->pos : o->neg;
}

static int run_export(const opts *o, tiles *t)
{
	const li_list *l = t->l;
	int ccls = -1, cprob = -1;
	if (o->class_col && (ccls = li_list_require(l, o->class_col)) < 0)
		li_die_lib();
	if (!o->class_col && (cprob = li_list_col(l, "prob")) < 0)
		li_die("'%s': no column 'prob' to classify by (score the list with li-score, or give "
		       "--class-column)", l->name);
	free(squares(t));
	int *mcol = li_malloc_array((size_t)l->ncols, sizeof *mcol);
	const char **mname = li_malloc_array((size_t)l->ncols, sizeof *mname);
	double *mval = li_malloc_array((size_t)l->ncols, sizeof *mval);
	if (!mcol || !mname || !mval)
		li_die_lib();
	const int nm = numeric_columns(t, mcol);
	for (int k = 0; k < nm; k++)
		mname[k] = l->cols[mcol[k]];
	const char **cls = li_malloc_array(t->n ? t->n : 1, sizeof *cls);
	if (!cls)
		li_die_lib();
	size_t npos = 0, nneg = 0;
	/* pass 0 checks every row as the writer will (nothing is written, not
	 * even on stdout, unless all are good); pass 1 writes */
	li_atomic a = {0};
	li_qp_writer *w = NULL;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			FILE *fp = li_atomic_open(&a, o->out ? o->out : "-");
			w = fp ? li_qp_writer_new(fp, o->out ? o->out : "stdout", o->object, o->legacy) : NULL;
			if (!w)
				li_die_lib();
		}
		for (size_t i = 0; i < t->n; i++) {
			const li_row *row = &l->rows[t->rows[i]];
			if (pass == 0) {
				cls[i] = row_class(o, l, row, ccls, cprob);
				npos += cls[i] == o->pos;
				nneg += cls[i] == o->neg;
			}
			for (int k = 0; k < nm; k++) {
				const char *f = row->field[mcol[k]];
				mval[k] = NAN;
				if (f[0] && strcmp(f, "NA") != 0 && li_parse_double(f, &mval[k]) < 0)
					li_die_lib(); /* numeric_columns saw it parse */
			}
			uint8_t rgb[3];
			li_qp_class_color(cls[i], rgb);
			char *name = tile_name(row->field[0]);
			li_qp_tile tile = {t->x[i], t->y[i], t->side[i], name, cls[i], rgb, nm, mname, mval};
			if ((pass == 0 ? li_qp_tile_check(&tile) : li_qp_writer_add(w, &tile)) < 0) {
				li_error_prefix("'%s' line %ld", l->name, row->line);
				li_atomic_abort(&a);
				li_die_lib();
			}
			free(name);
		}
	}
	if (li_qp_writer_end(w) < 0 || li_atomic_commit(&a) < 0) {
		li_atomic_abort(&a);
		li_die_lib();
	}
	li_qp_writer_free(w);
	if (t->n == 0)
		li_warn("'%s': no rows: the FeatureCollection is empty", l->name);
	else
		li_note("%zu tiles of %s: %zu '%s', %zu '%s', %zu of other classes", t->n,
			slide_label(t), npos, o->pos, nneg, o->neg, t->n - npos - nneg);
	free(cls);
	free(mcol);
	free(mname);
	free(mval);
	return 0;
}

/* ---- import ---- */

/* The value a reviewed class gives the column; NULL drops the row. Dies on
 * a class the column cannot hold. */
static const char *class_value(const opts *o, const li_qp_feature *f, const char *col, bool *drop)
{
	*drop = false;
	if (strcmp(f->cls, o->pos) == 0)
		return "1";
	if (strcmp(f->cls, o->neg) == 0)
		return "0";
	if (strcmp(f->cls, o->ign) == 0) {
		*drop = true;
		return NULL;
	}
	if (strcmp(col, "label") == 0) {
		if (!f->cls[0])
			li_die("'%s': feature %zu has no class (give it '%s', '%s' or '%s')", o->import, f->index,
			       o->pos, o->neg, o->ign);
		li_die("'%s': feature %zu: class '%s' is not '%s', '%s' or '%s' (see --positive, --negative, "
		       "--ignore)", o->import, f->index, f->cls, o->pos, o->neg, o->ign);
	}
	return f->cls;
}

static int run_import(const opts *o, tiles *t)
{
	li_list *l = t->l;
	const char *col = o->class_col ? o->class_col : "label";
	li_qp_square *sq = squares(t);
	li_qp_features *fs = li_qp_read(o->import);
	if (!fs)
		li_die_lib();
	size_t *match = li_malloc_array(fs->n ? fs->n : 1, sizeof *match);
	size_t *by = li_malloc_array(t->n ? t->n : 1, sizeof *by); /* tile -> feature index + 1 */
	if (!match || !by)
		li_die_lib();
	memset(by, 0, (t->n ? t->n : 1) * sizeof *by);
	li_qp_match(fs, sq, t->n, match);
	size_t skipped = 0;
	for (size_t i = 0; i < fs->n; i++) {
		const li_qp_feature *f = &fs->f[i];
		if (match[i] == SIZE_MAX) {
			if (o->skip_unmatched) {
				skipped++;
				continue;
			}
			if (f->not_tile)
				li_die("'%s': feature %zu: %s (see --skip-unmatched)", o->import, f->index, f->not_tile);
			li_die("'%s': feature %zu: the rectangle (%g, %g)-(%g, %g) is no tile of %s in '%s' "
			       "(see --skip-unmatched)", o->import, f->index, f->x0, f->y0, f->x1, f->y1,
			       slide_label(t), l->name);
		}
		size_t tile = sq[match[i]].row;
		if (by[tile])
			li_die("'%s': features %zu and %zu are the same tile (line %ld of '%s')", o->import,
			       by[tile], f->index, l->rows[t->rows[tile]].line, l->name);
		by[tile] = f->index;
	}
	/* every feature is checked before anything is changed */
	const int c = li_list_add_col(l, col);
	if (c < 0)
		li_die_lib();
	bool *keep = li_malloc_array(l->nrows ? l->nrows : 1, sizeof *keep);
	size_t *idx = li_malloc_array(l->nrows ? l->nrows : 1, sizeof *idx);
	if (!keep || !idx)
		li_die_lib();
	for (size_t r = 0; r < l->nrows; r++)
		keep[r] = true;
	size_t matched = 0, set = 0, changed = 0, ignored = 0, missing = 0;
	for (size_t i = 0; i < t->n; i++) {
		const size_t r = t->rows[i];
		if (!by[i]) {
			missing++;
			keep[r] = !o->drop_missing;
			continue;
		}
		bool drop;
		const char *v = class_value(o, &fs->f[by[i] - 1], col, &drop);
		matched++;
		if (drop) {
			ignored++;
			keep[r] = false;
			continue;
		}
		const char *old = l->rows[r].field[c];
		if (strcmp(old, v) != 0) {
			set += !old[0];
			changed += old[0] != '\0';
			if (li_list_set(l, r, c, v) < 0)
				li_die_lib();
		}
	}
	size_t n = 0;
	for (size_t r = 0; r < l->nrows; r++)
		if (keep[r])
			idx[n++] = r;
	if (li_list_write(l, o->out ? o->out : "-", idx, n) < 0)
		li_die_lib();
	li_note("'%s': %zu of %zu tiles of %s reviewed: %s set on %zu, changed on %zu, the same on %zu; "
		"%zu '%s' dropped; %zu without a feature %s; %zu other features skipped", o->import, matched,
		t->n, slide_label(t), col, set, changed, matched - ignored - set - changed, ignored, o->ign,
		missing, o->drop_missing ? "dropped" : "kept", skipped);
	if (missing && !o->drop_missing && strcmp(col, "label") == 0) {
		size_t empty = 0;
		for (size_t i = 0; i < t->n; i++)
			empty += !by[i] && !l->rows[t->rows[i]].field[c][0];
		if (empty)
			li_warn("%zu rows of %s have no feature in '%s' and no label", empty,
				slide_label(t), o->import);
	}
	free(keep);
	free(idx);
	free(by);
	free(match);
	free(sq);
	li_qp_features_free(fs);
	return 0;
}

int main(int argc, char **argv)
{
	li_cli_init(argv[0]);
	opts o = {.threshold = 0.5, .pos = "LI", .neg = "Negative", .ign = "Ignore*", .object = LI_QP_TILE};
	parse(argc, argv, &o);
	tiles t = {.cslide = -1};
	if (o.out && li_atomic_check(o.out) < 0)
		li_die_lib();
	t.l = li_list_read(o.list);
	if (!t.l)
		li_die_lib();
	load_tiles(&o, &t);
	int rc = o.import ? run_import(&o, &t) : run_export(&o, &t);
	free_tiles(&t);
	return rc;
}
