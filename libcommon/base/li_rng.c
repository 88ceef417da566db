/* li_rng.c: xoshiro256** (Blackman & Vigna) with SplitMix64 seeding. */
#include "li_rng.h"

#include <math.h>

uint64_t li_hash64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void li_rng_seed(li_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++) {
		x += 0x9e3779b97f4a7c15ULL;
		uint64_t z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		r->s[i] = z ^ (z >> 31);
	}
	/* The all-zero state is the one state xoshiro cannot leave. */
	if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
		r->s[0] = 1;
}

li_rng li_rng_derive(uint64_t seed, uint64_t stream)
{
	li_rng r;
	li_rng_seed(&r, li_hash64(seed ^ li_hash64(stream + 0x632be59bd9b4e019ULL)));
	return r;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t li_rng_u64(li_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t li_rng_below(li_rng *r, uint64_t n)
{
	/* Lemire: multiply-shift with rejection of the biased low region. */
	unsigned __int128 m = (unsigned __int128)li_rng_u64(r) * n;
	uint64_t lo = (uint64_t)m;
	if (lo < n) {
		uint64_t threshold = -n % n;
		while (lo < threshold) {
			m = (unsigned __int128)li_rng_u64(r) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

double li_rng_uniform(li_rng *r) { return (li_rng_u64(r) >> 11) * 0x1.0p-53; }

double li_rng_normal(li_rng *r)
{
	double u1 = 1.0 - li_rng_uniform(r); /* (0, 1]: log is finite */
	double u2 = li_rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
