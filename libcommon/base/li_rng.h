/* li_rng.h: a seeded, splittable random number generator (xoshiro256**,
 * seeded through SplitMix64). There is no global state: each thread, sample
 * or purpose owns an li_rng. li_rng_derive(seed, stream) gives independent
 * generators for (seed, stream) pairs, e.g. stream = epoch * N + sample, so a
 * sample's augmentation does not depend on which thread drew it. */
#ifndef LI_RNG_H
#define LI_RNG_H
#include <stdint.h>

typedef struct li_rng {
	uint64_t s[4];
} li_rng;

void li_rng_seed(li_rng *r, uint64_t seed);
/* A generator for stream number `stream` of `seed`; streams do not overlap in practice. */
li_rng li_rng_derive(uint64_t seed, uint64_t stream);
uint64_t li_rng_u64(li_rng *r);
/* Uniform in [0, n), unbiased (Lemire's method); n > 0. */
uint64_t li_rng_below(li_rng *r, uint64_t n);
/* Uniform double in [0, 1) with 53 random bits. */
double li_rng_uniform(li_rng *r);
/* Standard normal (Box-Muller on two uniforms; no cached state). */
double li_rng_normal(li_rng *r);
/* SplitMix64 finaliser: a good 64-bit hash, exposed for deriving seeds. */
uint64_t li_hash64(uint64_t x);
#endif
