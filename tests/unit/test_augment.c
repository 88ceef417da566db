/* test_augment.c: augmentation operations keep the size, flips and
 * rotations are exact permutations with the right group structure, presets
 * are deterministic for a seed and differ between seeds, HED jitter with
 * alpha 1 and beta 0 is the identity within rounding, and filters do what
 * they say on images with a known answer. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "li_augment.h"
#include "li_error.h"
#include "tap.h"

/* A test image whose every pixel is distinct (for permutation checks). */
static li_image *pattern(int w, int h, int c, uint64_t seed)
{
	li_image *img = li_image_new(w, h, c);
	li_rng r;
	li_rng_seed(&r, seed);
	for (size_t i = 0; i < (size_t)w * h * c; i++)
		img->data[i] = (uint8_t)li_rng_below(&r, 256);
	return img;
}

static bool same(const li_image *a, const li_image *b)
{
	return a->width == b->width && a->height == b->height && a->channels == b->channels &&
	       memcmp(a->data, b->data, (size_t)a->width * a->height * a->channels) == 0;
}

static const uint8_t *px(const li_image *img, int x, int y)
{
	return img->data + ((size_t)y * img->width + x) * img->channels;
}

static void test_permutations(void)
{
	li_image *a = pattern(9, 9, 3, 1), *b = li_image_clone(a);
	li_aug_hflip(b);
	ok(memcmp(px(b, 0, 2), px(a, 8, 2), 3) == 0 && memcmp(px(b, 3, 5), px(a, 5, 5), 3) == 0,
	   "hflip maps (x, y) to (w-1-x, y)");
	li_aug_hflip(b);
	ok(same(a, b), "hflip twice is the identity");
	li_aug_vflip(b);
	ok(memcmp(px(b, 4, 0), px(a, 4, 8), 3) == 0, "vflip maps (x, y) to (x, h-1-y)");
	li_aug_vflip(b);
	ok(same(a, b), "vflip twice is the identity");
	ok(li_aug_transpose(b) == 0 && memcmp(px(b, 2, 7), px(a, 7, 2), 3) == 0, "transpose swaps x and y");
	li_aug_transpose(b);
	ok(same(a, b), "transpose twice is the identity");
	/* counter-clockwise: the top-right corner goes to the top-left */
	ok(li_aug_rot90(b, 1) == 0 && memcmp(px(b, 0, 0), px(a, 8, 0), 3) == 0, "rot90 is counter-clockwise");
	li_aug_rot90(b, 1);
	li_image *c = li_image_clone(a);
	li_aug_hflip(c);
	li_aug_vflip(c);
	ok(same(b, c), "rot90 twice equals hflip + vflip");
	li_aug_rot90(b, 2);
	ok(same(a, b), "four quarter turns are the identity");
	li_aug_rot90(b, -1);
	li_image_free(c);
	li_aug_rot90(c = li_image_clone(a), 3);
	ok(same(b, c), "rot90 by -1 equals rot90 by 3");
	li_image_free(c);
	li_aug_rot90(b, 1);
	/* the 8 dihedral transforms are distinct permutations of the same pixels */
	li_image *d[8];
	int distinct = 1, sums = 1;
	long sa = 0;
	for (size_t i = 0; i < 81 * 3; i++)
		sa += a->data[i];
	for (int k = 0; k < 8; k++) {
		d[k] = li_image_clone(a);
		li_aug_dihedral(d[k], k);
		long s = 0;
		for (size_t i = 0; i < 81 * 3; i++)
			s += d[k]->data[i];
		sums &= s == sa;
		for (int j = 0; j < k; j++)
			distinct &= !same(d[j], d[k]);
	}
	ok(distinct, "the 8 dihedral transforms are distinct");
	ok(sums, "dihedral transforms keep the pixel values");
	for (int k = 0; k < 8; k++)
		li_image_free(d[k]);
	li_image *r = pattern(8, 6, 3, 2);
	ok(li_aug_transpose(r) < 0, "transpose refuses a non-square image");
	is_str(li_errmsg(), "transpose needs a square image, not 8x6", "its message");
	ok(li_aug_rot90(r, 1) < 0, "rot90 refuses a non-square image");
	li_image_free(r);
	li_image_free(a);
	li_image_free(b);
}

static void test_sizes_and_presets(void)
{
	for (int p = 0; p < LI_AUG_COUNT; p++) {
		for (int ch = 1; ch <= 3; ch += 2) {
			int size_ok = 1, det = 1, differ = 0;
			for (uint64_t s = 0; s < 20; s++) {
				li_image *a = pattern(32, 32, ch, 7), *b = li_image_clone(a), *c = li_image_clone(a);
				li_rng r1 = li_rng_derive(42, s), r2 = li_rng_derive(42, s), r3 = li_rng_derive(43, s);
				size_ok &= li_augment(a, p, &r1) == 0 && a->width == 32 && a->height == 32 &&
					   a->channels == ch;
				li_augment(b, p, &r2);
				li_augment(c, p, &r3);
				det &= same(a, b);
				differ += !same(a, c);
				li_image_free(a);
				li_image_free(b);
				li_image_free(c);
			}
			ok(size_ok, "preset %s keeps a 32x32x%d image's size", li_aug_names[p], ch);
			ok(det, "preset %s (%d ch) is deterministic for a seed and stream", li_aug_names[p], ch);
			if (p == LI_AUG_NONE)
				ok(differ == 0, "preset none changes nothing");
			else
				ok(differ >= 12, "preset %s (%d ch) differs between seeds (%d of 20)",
				   li_aug_names[p], ch, differ);
		}
	}
	li_image *a = pattern(32, 32, 3, 3);
	ok(li_aug_affine(a, 1.3, 17) == 0 && a->width == 32, "affine keeps the size");
	li_rng r = li_rng_derive(1, 1);
	ok(li_aug_elastic(a, &r, 2, 8) == 0 && a->width == 32, "elastic keeps the size");
	ok(li_aug_box_blur(a, 5) == 0 && li_aug_gauss_blur(a, 7, 0) == 0 && li_aug_median_blur(a, 3) == 0,
	   "blurs succeed");
	ok(li_aug_box_blur(a, 4) < 0, "an even kernel is refused");
	is_str(li_errmsg(), "kernel size must be odd and between 3 and 99, not 4", "its message");
	li_image_free(a);
}

static void test_values(void)
{
	/* identity warps */
	li_image *a = pattern(16, 16, 3, 5), *b = li_image_clone(a);
	li_aug_affine(b, 1.0, 0.0);
	ok(same(a, b), "affine with scale 1 and angle 0 is the identity");
	li_aug_affine(b, 1.0, 90.0);
	li_image *c = li_image_clone(a);
	li_aug_rot90(c, 1);
	int maxd = 0;
	for (size_t i = 0; i < 16 * 16 * 3; i++) {
		int d = abs(b->data[i] - c->data[i]);
		maxd = d > maxd ? d : maxd;
	}
	ok(maxd <= 1, "affine by 90 degrees equals rot90 (max difference %d)", maxd);
	li_rng r = li_rng_derive(9, 9);
	li_image_free(b);
	b = li_image_clone(a);
	li_aug_elastic(b, &r, 0.0, 4);
	ok(same(a, b), "elastic with amplitude 0 is the identity");
	li_image_free(b);
	li_image_free(c);

	/* constant images stay constant under blurs; a spike spreads */
	li_image *k = li_image_new(11, 11, 1);
	memset(k->data, 100, 121);
	li_aug_gauss_blur(k, 5, 0);
	li_aug_box_blur(k, 3);
	li_aug_median_blur(k, 5);
	int flat = 1;
	for (int i = 0; i < 121; i++)
		flat &= k->data[i] == 100;
	ok(flat, "blurs keep a constant image");
	memset(k->data, 0, 121);
	k->data[5 * 11 + 5] = 255;
	li_image *m = li_image_clone(k);
	li_aug_median_blur(m, 3);
	ok(m->data[5 * 11 + 5] == 0, "median removes a single bright pixel");
	li_aug_box_blur(k, 3);
	ok(k->data[5 * 11 + 5] == 28 && k->data[4 * 11 + 4] == 28 && k->data[3 * 11 + 3] == 0,
	   "box blur 3 spreads a spike to its 3x3 neighbours (255/9)");
	li_image_free(k);
	li_image_free(m);

	li_image *bc = li_image_new(2, 1, 1);
	bc->data[0] = 100;
	bc->data[1] = 250;
	li_aug_brightness_contrast(bc, 1.2, -10);
	ok(bc->data[0] == 110 && bc->data[1] == 255, "brightness/contrast: 1.2 v - 10, clipped");
	li_image_free(bc);

	/* HED: identity with alpha 1, beta 0 (0 reads as 1) */
	double one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
	b = li_image_clone(a);
	ok(li_aug_hed(b, one, zero) == 0, "hed jitter runs");
	maxd = 0;
	for (size_t i = 0; i < 16 * 16 * 3; i++) {
		int d = abs(b->data[i] - (a->data[i] ? a->data[i] : 1));
		maxd = d > maxd ? d : maxd;
	}
	ok(maxd <= 1, "hed with alpha 1 and beta 0 is the identity within rounding (max %d)", maxd);
	/* more haematoxylin darkens a white-ish pixel, most in red (H absorbs red) */
	li_image *w = li_image_new(1, 1, 3);
	w->data[0] = 200, w->data[1] = 150, w->data[2] = 200;
	double beta[3] = {0.2, 0, 0};
	li_aug_hed(w, one, beta);
	ok(w->data[0] < 200 && w->data[1] < 150 && 200 - w->data[0] > 200 - w->data[2],
	   "hed beta on haematoxylin darkens, red most (%d %d %d)", w->data[0], w->data[1], w->data[2]);
	li_image_free(w);
	li_image *g = li_image_new(4, 4, 1);
	ok(li_aug_hed(g, one, zero) < 0, "hed refuses a gray image");
	li_image_free(g);
	li_image_free(b);
	li_image_free(a);
}

int main(void)
{
	test_permutations();
	test_sizes_and_presets();
	test_values();
	return done_testing();
}
