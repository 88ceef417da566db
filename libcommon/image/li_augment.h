/* li_augment.h: training-time augmentation of 8-bit patches, as presets.
 *
 * Every operation works in place on an li_image (HWC, 1 or 3 channels) and
 * keeps its size. Randomness comes only from the li_rng passed in, so a
 * sample's augmentation is a function of its stream (li_rng_derive(seed,
 * epoch * N + position)) and never of thread timing.
 *
 * Presets (li-train --augment):
 *   none        nothing
 *   basic       one of the 8 dihedral transforms (flips, transpose, rot90)
 *   paper       the author's albumentations pipeline, re-implemented:
 *               scale 1 + U(-0.5, 0.5) about the centre (p 1);
 *               one of transpose / h-flip / v-flip (p 0.5);
 *               one of elastic deformation / rotation U(-25, 25) deg (p 0.8);
 *               one of box blur / Gaussian blur / Gaussian noise / median
 *               blur (p 0.2); brightness and contrast +-0.2 (p 0.5).
 *               Geometric warps sample bilinearly with a mirrored border
 *               (OpenCV's BORDER_REFLECT_101, albumentations' default).
 *   paper+stain paper, then HED stain jitter (Tellez et al. 2018: per stain
 *               s' = alpha s + beta, alpha U(0.95, 1.05), beta U(-0.05, 0.05))
 *               and a random rotation by k * 90 degrees.
 * Transpose and rot90 need a square image (the loader resizes to the square
 * input size before augmenting); on other images they return -1. */
#ifndef LI_AUGMENT_H
#define LI_AUGMENT_H
#include "li_image.h"
#include "li_rng.h"

typedef enum li_aug_preset {
	LI_AUG_NONE,
	LI_AUG_BASIC,
	LI_AUG_PAPER,
	LI_AUG_PAPER_STAIN,
	LI_AUG_COUNT
} li_aug_preset;

/* Preset names in enum order, NULL-terminated (for li_opt_choice). */
extern const char *const li_aug_names[LI_AUG_COUNT + 1];

/* Apply a preset; 0, or -1 with li_error (no memory, non-square image). */
int li_augment(li_image *img, li_aug_preset preset, li_rng *rng);

/* The operations. Flips, transpose and rot90 permute pixels exactly. */
void li_aug_hflip(li_image *img);
void li_aug_vflip(li_image *img);
int li_aug_transpose(li_image *img);
/* Rotate by k * 90 degrees counter-clockwise (any integer k). */
int li_aug_rot90(li_image *img, int k);
/* Dihedral transform d in 0..7: rot90 by d % 4, then h-flip when d >= 4. */
int li_aug_dihedral(li_image *img, int d);
/* Scale by `scale` and rotate by `degrees` (counter-clockwise) about the
 * centre; output pixel p samples the source at centre + A^-1 (p - centre). */
int li_aug_affine(li_image *img, double scale, double degrees);
/* Elastic deformation: a random displacement field on a coarse grid
 * (cells of `cell` pixels, normal displacements with s.d. `amplitude`
 * pixels), interpolated bilinearly to every pixel. */
int li_aug_elastic(li_image *img, li_rng *rng, double amplitude, int cell);
/* Blurs with an odd kernel size k >= 3: box mean, Gaussian (sigma <= 0: the
 * OpenCV rule 0.3 ((k - 1) / 2 - 1) + 0.8), median. Borders mirrored. */
int li_aug_box_blur(li_image *img, int k);
int li_aug_gauss_blur(li_image *img, int k, double sigma);
int li_aug_median_blur(li_image *img, int k);
/* Add N(0, sd^2) noise to every sample (sd in 0..255 units), clipped. */
void li_aug_noise(li_image *img, li_rng *rng, double sd);
/* v' = alpha v + beta (beta in 0..255 units), rounded and clipped. */
void li_aug_brightness_contrast(li_image *img, double alpha, double beta);
/* HED stain jitter of an RGB image: optical density OD = -ln(max(v, 1) / 255)
 * per channel, stains = OD M^-1 with the Ruifrok-Johnston matrix M (rows:
 * haematoxylin, eosin, DAB), s' = alpha s + beta per stain, back to RGB.
 * alpha 1, beta 0 is the identity up to rounding (and 0 read as 1). */
int li_aug_hed(li_image *img, const double alpha[3], const double beta[3]);
#endif
