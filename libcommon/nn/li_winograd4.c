/* li_winograd4.c: the transforms of Winograd F(4x4, 3x3), for li_wino_conv
 * (li_winograd.c) when it is asked for m = 4.
 *
 * Each 4x4 output tile comes from a 6x6 input tile, y = A^T [(G g G^T) .
 * (B^T d B)] A, with the points 0, +-1, +-2 (Lavin and Gray):
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * 36 GEMMs of a quarter of the tiles: 4x fewer multiplications than the
 * direct product where F(2x2) has 2.25x, and 2.25 transformed values per
 * input value where F(2x2) has 4. The price is rounding: the coefficients
 * up to 8 make the error about ten times F(2x2)'s (a few 1e-6 of the largest
 * output for 64-256 channels, float). li_conv takes it for convs of up to
 * 128 channels (li_conv_wino_m), for all three passes.
 *
 * The layout, blocking, GEMMs and workspace are li_winograd.c's with 36
 * planes for 16; the transforms take eight tiles at a time as there. */
#include "li_wino_impl.h"

/* o = G a: three values to six (by reciprocals: a division a value was
 * most of the weight transform's time). */
LI_INLINE void g6(const double a[3], double o[6])
{
	const double sixth = 1.0 / 6, twelfth = 1.0 / 12, twentyfourth = 1.0 / 24;
	double s = a[0] + a[2];
	o[0] = 0.25 * a[0];
	o[1] = -(s + a[1]) * sixth;
	o[2] = -(s - a[1]) * sixth;
	o[3] = a[0] * twentyfourth + a[1] * twelfth + a[2] * sixth;
	o[4] = a[0] * twentyfourth - a[1] * twelfth + a[2] * sixth;
	o[5] = a[2];
}

/* F(4x4)'s G g G^T of one kernel s into u, u + plane, ... (36 planes), in
 * double, then rounded once. */
LI_INLINE void wt4(const float *s, bool rot, float *u, size_t plane)
{
	double g[9];
	for (int i = 0; i < 9; i++)
		g[i] = s[rot ? 8 - i : i];
	double t[6][3]; /* G g: columns of g to six rows */
	for (int c = 0; c < 3; c++) {
		double a[3] = {g[c], g[3 + c], g[6 + c]}, o[6];
		g6(a, o);
		for (int i = 0; i < 6; i++)
			t[i][c] = o[i];
	}
	for (int i = 0; i < 6; i++) {
		double o[6];
		g6(t[i], o);
		for (int l = 0; l < 6; l++)
			u[(6 * i + l) * plane] = (float)o[l];
	}
}

LI_INLINE void weights4_body(void *ctx, int begin, int end) { wt_walk(ctx, begin, end, 36, wt4); }

LI_ISA_DISPATCH(weights4, (void *ctx, int begin, int end), (ctx, begin, end))

void li_wino4_weights_task(void *ctx, int begin, int end) { weights4(ctx, begin, end); }

/* ph[r][i], r < 4, i < count: column 4 (tx0 + i) + r - off of row `row`
 * (zero outside it): off 1 for the zero-padded input (padded column c is
 * input column c - 1), 0 for dY. As deinterleave in li_winograd.c, eight i
 * at a time, also past the row's end while the 32 floats stay before limit
 * (the lanes past the row are set after); each ph[r] has room for 8 floats
 * past count. */
LI_INLINE void deinterleave4(const float *row, int w, int tx0, int count, float *ph[4],
			     const float *limit, int off)
{
	/* inside: columns 4 (tx0 + i) - off >= 0 and 4 (tx0 + i) + 3 - off < w */
	int i0 = tx0 == 0 && off > 0 ? 1 : 0;
	int i1 = w - 4 + off >= 0 ? (w - 4 + off) / 4 + 1 - tx0 : 0;
	if (i1 > count)
		i1 = count;
	if (i1 < i0)
		i1 = i0;
	for (int e = 0; e < i0 && e < count; e++)
		for (int r = 0; r < 4; r++) {
			int col = 4 * (tx0 + e) + r - off;
			ph[r][e] = col >= 0 && col < w ? row[col] : 0.0f;
		}
	int i = i0;
	const float *p = row + 4 * (tx0 + i) - off;
	for (; i < i1 && (i + 8 <= i1 || limit - p >= 32); i += 8, p += 32) {
		v8 a, b, c, d;
		load8(&a, p);
		load8(&b, p + 8);
		load8(&c, p + 16);
		load8(&d, p + 24);
		v8 ab01 = SHUFFLE8(a, b, 0, 4, 8, 12, 1, 5, 9, 13);
		v8 ab23 = SHUFFLE8(a, b, 2, 6, 10, 14, 3, 7, 11, 15);
		v8 cd01 = SHUFFLE8(c, d, 0, 4, 8, 12, 1, 5, 9, 13);
		v8 cd23 = SHUFFLE8(c, d, 2, 6, 10, 14, 3, 7, 11, 15);
		v8 p0 = SHUFFLE8(ab01, cd01, 0, 1, 2, 3, 8, 9, 10, 11);
		v8 p1 = SHUFFLE8(ab01, cd01, 4, 5, 6, 7, 12, 13, 14, 15);
		v8 p2 = SHUFFLE8(ab23, cd23, 0, 1, 2, 3, 8, 9, 10, 11);
		v8 p3 = SHUFFLE8(ab23, cd23, 4, 5, 6, 7, 12, 13, 14, 15);
		store8(ph[0] + i, &p0);
		store8(ph[1] + i, &p1);
		store8(ph[2] + i, &p2);
		store8(ph[3] + i, &p3);
	}
	if (i > i1) /* lanes past the row: set below */
		i = i1;
	for (; i < count; i++)
		for (int r = 0; r < 4; r++) {
			int col = 4 * (tx0 + i) + r - off;
			ph[r][i] = col >= 0 && col < w ? row[col] : 0.0f;
		}
}

/* The first n (< 8) lanes of o[x] at dst + x plane, x < 36: the end of a
 * run at the end of a row of V or Yt, where the next channel's row follows. */
LI_INLINE void store36(float *dst, size_t plane, const v8 o[36], int n)
{
	for (int x = 0; x < 36; x++) {
		float tmp[8];
		store8(tmp, &o[x]);
		memcpy(dst + x * plane, tmp, sizeof(float) * (size_t)n);
	}
}

/* o = B^T d for six vectors. */
LI_INLINE void bt6(const v8 d[6], v8 o[6])
{
	o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
	v8 a = d[4] - 4.0f * d[2], b = d[3] - 4.0f * d[1];
	o[1] = a + b;
	o[2] = a - b;
	v8 c = d[4] - d[2], e = 2.0f * (d[3] - d[1]);
	o[3] = c + e;
	o[4] = c - e;
	o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

/* Column c (0-5) of eight tiles' input row r: padded columns 4 q + c. */
LI_INLINE void load_col(float *const ph[6][4], int r, int c, int q, v8 *d)
{
	load8(d, ph[r][c & 3] + q + (c >> 2));
}

/* Row k of B^T d B for eight tiles, k = 0 or 5, or rows k and k + 1 for
 * k = 1 or 3 (they share their terms: a + b and a - b), stored at
 * dst + (6 k + l) plane when whole, else into o[6 k + l]. */
LI_INLINE void btdb_rows(float *const ph[6][4], int q, int k, float *dst, size_t plane, bool whole,
			 v8 o[36])
{
	v8 t1[6], t2[6];
#pragma GCC unroll 6
	for (int c = 0; c < 6; c++) {
		v8 d0, d1, d2, d3, d4, d5;
		switch (k) {
		case 0:
			load_col(ph, 0, c, q, &d0);
			load_col(ph, 2, c, q, &d2);
			load_col(ph, 4, c, q, &d4);
			t1[c] = 4.0f * d0 - 5.0f * d2 + d4;
			break;
		case 1:
		case 3: {
			load_col(ph, 1, c, q, &d1);
			load_col(ph, 2, c, q, &d2);
			load_col(ph, 3, c, q, &d3);
			load_col(ph, 4, c, q, &d4);
			v8 a = k == 1 ? d4 - 4.0f * d2 : d4 - d2;
			v8 b = k == 1 ? d3 - 4.0f * d1 : 2.0f * (d3 - d1);
			t1[c] = a + b;
			t2[c] = a - b;
			break;
		}
		default:
			load_col(ph, 1, c, q, &d1);
			load_col(ph, 3, c, q, &d3);
			load_col(ph, 5, c, q, &d5);
			t1[c] = 4.0f * d1 - 5.0f * d3 + d5;
		}
	}
	v8 r1[6], r2[6];
	bt6(t1, r1);
	bool two = k == 1 || k == 3;
	if (two)
		bt6(t2, r2);
#pragma GCC unroll 6
	for (int l = 0; l < 6; l++) {
		if (whole) {
			store8(dst + (6 * k + l) * plane, &r1[l]);
			if (two)
				store8(dst + (6 * (k + 1) + l) * plane, &r2[l]);
		} else {
			o[6 * k + l] = r1[l];
			if (two)
				o[6 * (k + 1) + l] = r2[l];
		}
	}
}

LI_INLINE void input4_body(const wino_job *j, int t0, int t1, float *v, int ci0, int ci1)
{
	int w = j->w, h = j->h, ldv = v_stride(t1 - t0);
	size_t plane = plane_floats(j->cin, ldv);
	int wide = j->tw + 9;
	float buf[6][4][wide];
	float *ph[6][4];
	for (int r = 0; r < 6; r++)
		for (int c = 0; c < 4; c++)
			ph[r][c] = buf[r][c];
	const float *x_end = j->x + (size_t)j->cin * j->n * h * w;
	for (int ci = ci0; ci < ci1; ci++) {
		float *vc = v + (size_t)ci * ldv;
		for (int t = t0, img, ty, tx0, len; t < t1; t += len) {
			len = segment(j, t, t1, &img, &ty, &tx0);
			int loc = t - t0;
			const float *src = j->x + ((size_t)ci * j->n + img) * h * w;
			if (ci + 1 < ci1)
				prefetch_next_input(j, src, ty, tx0, len);
			for (int k = 0; k < 6; k++) {
				int ih = 4 * ty - 1 + k;
				if (ih < 0 || ih >= h) {
					for (int c = 0; c < 4; c++)
						memset(ph[k][c], 0, sizeof(float) * (size_t)(len + 1));
					continue;
				}
				deinterleave4(src + (size_t)ih * w, w, tx0, len + 1, ph[k], x_end, 1);
			}
			for (int q = 0; q < len; q += 8) {
				float *dst = vc + loc + q;
				bool whole = whole8(loc + q, len - q, ldv);
				v8 o[36];
				btdb_rows(ph, q, 0, dst, plane, whole, o);
				btdb_rows(ph, q, 1, dst, plane, whole, o);
				btdb_rows(ph, q, 3, dst, plane, whole, o);
				btdb_rows(ph, q, 5, dst, plane, whole, o);
				if (!whole)
					store36(vc + loc + q, plane, o, len - q);
			}
		}
	}
}

LI_ISA_DISPATCH(input4, (const wino_job *j, int t0, int t1, float *v, int ci0, int ci1),
		(j, t0, t1, v, ci0, ci1))

void li_wino4_input(const wino_job *j, int t0, int t1, float *v, int ci0, int ci1)
{
	input4(j, t0, t1, v, ci0, ci1);
}

/* Output row r of eight tiles: e[c] = column c of (A^T M A) row r. */
LI_INLINE void atma_row(const float *mq, size_t plane, int r, v8 e[4])
{
	v8 s[6];
#pragma GCC unroll 6
	for (int l = 0; l < 6; l++) {
		v8 m0, m1, m2, m3, m4, m5;
		load8(&m1, mq + (6 + l) * plane);
		load8(&m2, mq + (12 + l) * plane);
		load8(&m3, mq + (18 + l) * plane);
		load8(&m4, mq + (24 + l) * plane);
		switch (r) {
		case 0:
			load8(&m0, mq + l * plane);
			s[l] = m0 + (m1 + m2) + (m3 + m4);
			break;
		case 1: s[l] = (m1 - m2) + 2.0f * (m3 - m4); break;
		case 2: s[l] = (m1 + m2) + 4.0f * (m3 + m4); break;
		default:
			load8(&m5, mq + (30 + l) * plane);
			s[l] = (m1 - m2) + 8.0f * (m3 - m4) + m5;
		}
	}
	e[0] = s[0] + (s[1] + s[2]) + (s[3] + s[4]);
	e[1] = (s[1] - s[2]) + 2.0f * (s[3] - s[4]);
	e[2] = (s[1] + s[2]) + 4.0f * (s[3] + s[4]);
	e[3] = (s[1] - s[2]) + 8.0f * (s[3] - s[4]) + s[5];
}

/* Output row r of eight 4x4 tiles, columns in order (tile i's at 4 i + c):
 * two rounds of interleaving. */
LI_INLINE void atma_row4(const float *mq, size_t plane, int r, v8 *out)
{
	v8 e[4];
	atma_row(mq, plane, r, e);
	v8 ab_lo = SHUFFLE8(e[0], e[1], 0, 8, 1, 9, 2, 10, 3, 11);
	v8 ab_hi = SHUFFLE8(e[0], e[1], 4, 12, 5, 13, 6, 14, 7, 15);
	v8 cd_lo = SHUFFLE8(e[2], e[3], 0, 8, 1, 9, 2, 10, 3, 11);
	v8 cd_hi = SHUFFLE8(e[2], e[3], 4, 12, 5, 13, 6, 14, 7, 15);
	out[0] = SHUFFLE8(ab_lo, cd_lo, 0, 1, 8, 9, 2, 3, 10, 11);
	out[1] = SHUFFLE8(ab_lo, cd_lo, 4, 5, 12, 13, 6, 7, 14, 15);
	out[2] = SHUFFLE8(ab_hi, cd_hi, 0, 1, 8, 9, 2, 3, 10, 11);
	out[3] = SHUFFLE8(ab_hi, cd_hi, 4, 5, 12, 13, 6, 7, 14, 15);
}

LI_INLINE void output4_body(const wino_job *j, int t0, int t1, const float *m, int co0, int co1)
{
	output_walk(j, t0, t1, m, co0, co1, 4, atma_row4);
}

LI_ISA_DISPATCH(output4, (const wino_job *j, int t0, int t1, const float *m, int co0, int co1),
		(j, t0, t1, m, co0, co1))

void li_wino4_output(const wino_job *j, int t0, int t1, const float *m, int co0, int co1)
{
	output4(j, t0, t1, m, co0, co1);
}

/* ---- weight gradient: dW += G^T [sum over tiles of (A dY A^T) . (B^T d B)] G ----
 * (li_wino_wgrad in li_winograd.c, with these for m = 4). A (6x4) is A^T's
 * transpose: a 4-vector d goes to d0, d0 + d1 + d2 + d3, d0 - d1 + d2 - d3,
 * d0 + 2 d1 + 4 d2 + 8 d3, d0 - 2 d1 + 4 d2 - 8 d3, d3. */
LI_INLINE void a6(const v8 d[4], v8 o[6])
{
	v8 e = d[0] + d[2], f = d[1] + d[3];
	v8 e2 = d[0] + 4.0f * d[2], f2 = 2.0f * d[1] + 8.0f * d[3];
	o[0] = d[0];
	o[1] = e + f;
	o[2] = e - f;
	o[3] = e2 + f2;
	o[4] = e2 - f2;
	o[5] = d[3];
}

LI_INLINE void dy4_body(const wgrad_job *g, int co0, int co1)
{
	const wino_job *j = &g->w;
	int h = j->h, w = j->w, ldv = g->ldv;
	size_t plane = plane_floats(j->cout, ldv);
	int wide = j->tw + 9;
	float buf[4][4][wide];
	float *ph[4][4];
	for (int r = 0; r < 4; r++)
		for (int c = 0; c < 4; c++)
			ph[r][c] = buf[r][c];
	const float *dy_end = g->dy + (size_t)j->cout * j->n * h * w;
	for (int co = co0; co < co1; co++) {
		float *dst = g->yt + (size_t)co * ldv;
		for (int t = g->t0, img, ty, tx0, len; t < g->t1; t += len) {
			len = segment(j, t, g->t1, &img, &ty, &tx0);
			const float *src = g->dy + ((size_t)co * j->n + img) * h * w;
			int oy = 4 * ty, rows = h - oy < 4 ? h - oy : 4;
			if (co + 1 < co1)
				prefetch_next_rows(j, src, ty, tx0, len, false);
			for (int r = 0; r < 4; r++) {
				if (r >= rows) {
					for (int c = 0; c < 4; c++)
						memset(ph[r][c], 0, sizeof(float) * (size_t)len);
					continue;
				}
				deinterleave4(src + (size_t)(oy + r) * w, w, tx0, len, ph[r], dy_end, 0);
			}
			for (int q = 0; q < len; q += 8) {
				int col = (t - g->t0) + q;
				bool whole = whole8(col, len - q, ldv);
				v8 o[36];
				v8 d[4][4]; /* [row][column] of eight tiles */
				for (int r = 0; r < 4; r++)
					for (int c = 0; c < 4; c++)
						load8(&d[r][c], ph[r][c] + q);
				v8 ad[6][4]; /* A dY: rows */
				for (int c = 0; c < 4; c++) {
					v8 col4[4] = {d[0][c], d[1][c], d[2][c], d[3][c]}, o6[6];
					a6(col4, o6);
					for (int k = 0; k < 6; k++)
						ad[k][c] = o6[k];
				}
#pragma GCC unroll 6
				for (int k = 0; k < 6; k++) {
					v8 o6[6];
					a6(ad[k], o6);
#pragma GCC unroll 6
					for (int l = 0; l < 6; l++) {
						if (whole)
							store8(dst + col + (6 * k + l) * plane, &o6[l]);
						else
							o[6 * k + l] = o6[l];
					}
				}
				if (!whole)
					store36(dst + col, plane, o, len - q);
			}
		}
	}
}

LI_ISA_DISPATCH(dy4, (const wgrad_job *g, int co0, int co1), (g, co0, co1))

void li_wino4_dy(const wgrad_job *g, int co0, int co1) { dy4(g, co0, co1); }

/* o = G^T a: six values to three. */
static inline void gt3(const float a[6], float o[3])
{
	const float sixth = 1.0f / 6, twelfth = 1.0f / 12, twentyfourth = 1.0f / 24;
	float s12 = a[1] + a[2], s34 = a[3] + a[4];
	o[0] = 0.25f * a[0] - s12 * sixth + s34 * twentyfourth;
	o[1] = (a[2] - a[1]) * sixth + (a[3] - a[4]) * twelfth;
	o[2] = (s34 - s12) * sixth + a[5];
}

void li_wino4_back(const wgrad_job *g, int co0, int co1)
{
	int cin = g->w.cin, cout = g->w.cout;
	size_t plane = plane_floats(cout, cin);
	for (int co = co0; co < co1; co++)
		for (int ci = 0; ci < cin; ci++) {
			const float *m = g->m + (size_t)co * cin + ci;
			float t[3][6]; /* G^T M: columns of M to three rows */
			for (int l = 0; l < 6; l++) {
				float a[6], o[3];
				for (int k = 0; k < 6; k++)
					a[k] = m[(6 * k + l) * plane];
				gt3(a, o);
				for (int i = 0; i < 3; i++)
					t[i][l] = o[i];
			}
			float *dw = g->dw + ((size_t)co * cin + ci) * 9;
			for (int i = 0; i < 3; i++) {
				float o[3];
				gt3(t[i], o);
				for (int c = 0; c < 3; c++)
					dw[3 * i + c] += o[c];
			}
		}
}
