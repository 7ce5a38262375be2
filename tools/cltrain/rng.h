/* cltrain's random numbers: xoshiro256** (Blackman & Vigna), seeded through SplitMix64.
 * Its whole state is four words, so a checkpoint saves it and a resumed run draws the
 * same numbers as one that never stopped. Header-only and without globals: every user
 * holds its own state. */
#ifndef CLTRAIN_RNG_H
#define CLTRAIN_RNG_H

#include <stdint.h>

struct rng {
    uint64_t s[4];
};

static inline uint64_t rng_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = rng_splitmix64(&seed);
}

static inline uint64_t rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n) for n >= 1, without modulo bias (Lemire's method). */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
    for (;;) {
        const unsigned __int128 m = (unsigned __int128)rng_next(r) * n;
        const uint64_t low = (uint64_t)m;
        if (low >= n || low >= (0 - n) % n)
            return (uint64_t)(m >> 64);
    }
}

/* Uniform in [0, 1), 53 bits. */
static inline double rng_uniform(struct rng *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }

#endif
