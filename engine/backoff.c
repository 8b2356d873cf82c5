/* SPDX-License-Identifier: MIT */
/*
 * backoff.c - exponential backoff with jitter, and the per-sensor generator
 * it draws from.
 *
 * The generator is xoshiro256** (Blackman and Vigna): 256 bits of state,
 * four shifts, xors and rotations per draw, and statistically far better than
 * anything a retry schedule can notice.  Its state must never be all zero,
 * which seeding rules out.  Seeding expands the 64-bit global seed and the
 * 64-bit per-sensor stream through two splitmix64 sequences and mixes them
 * into every word, so the first draw already depends on both.
 *
 * The backoff itself is arithmetic on the cap, min(max, base * 2^(n-1)).
 * The doubling is done by comparing base against max >> (n-1), never by
 * shifting base, so no attempt count can overflow it.
 */
#include <errno.h>
#include <string.h>

#include "backoff.h"

#define GOLDEN_GAMMA 0x9e3779b97f4a7c15ULL

static uint64_t rotl64(uint64_t x, unsigned k)
{
	return (x << k) | (x >> (64 - k));
}

/* One step of splitmix64: advance the counter by the golden gamma, mix it. */
static uint64_t splitmix64_next(uint64_t *state)
{
	uint64_t z = (*state += GOLDEN_GAMMA);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int engine_backoff_policy_check(const struct engine_backoff_policy *p)
{
	if (p->base_ns == 0 || p->max_ns == 0 || p->base_ns > p->max_ns)
		return -EINVAL;
	switch (p->jitter) {
	case ENGINE_BACKOFF_JITTER_NONE:
	case ENGINE_BACKOFF_JITTER_FULL:
	case ENGINE_BACKOFF_JITTER_EQUAL:
	case ENGINE_BACKOFF_JITTER_DECORRELATED:
		return 0;
	}
	return -EINVAL;
}

static const char *const jitter_names[] = {
	[ENGINE_BACKOFF_JITTER_NONE] = "none",
	[ENGINE_BACKOFF_JITTER_FULL] = "full",
	[ENGINE_BACKOFF_JITTER_EQUAL] = "equal",
	[ENGINE_BACKOFF_JITTER_DECORRELATED] = "decorrelated",
};

#define N_JITTERS (sizeof(jitter_names) / sizeof(jitter_names[0]))

const char *engine_backoff_jitter_name(enum engine_backoff_jitter jitter)
{
	if ((unsigned)jitter >= N_JITTERS)
		return "?";
	return jitter_names[jitter];
}

int engine_backoff_jitter_parse(const char *word)
{
	for (unsigned i = 0; i < N_JITTERS; i++)
		if (strcmp(word, jitter_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

uint64_t engine_backoff_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
		h ^= *c;
		h *= 0x100000001b3ULL;
	}
	return h;
}

void engine_backoff_rng_seed(struct engine_backoff_rng *rng, uint64_t seed,
			     uint64_t stream)
{
	/*
	 * Two independent splitmix64 sequences, one per input; the stream's
	 * starts from a different constant and is rotated so that swapping
	 * seed and stream does not give the same state.
	 */
	uint64_t a = seed;
	uint64_t b = stream ^ 0x6a09e667f3bcc909ULL;

	for (int i = 0; i < 4; i++)
		rng->s[i] =
			splitmix64_next(&a) ^ rotl64(splitmix64_next(&b), 29);
	if ((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0)
		rng->s[0] = GOLDEN_GAMMA;
}

uint64_t engine_backoff_rng_next(struct engine_backoff_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return result;
}

uint64_t engine_backoff_rng_uniform(struct engine_backoff_rng *rng, uint64_t lo,
				    uint64_t hi)
{
	uint64_t span, limit, x;

	if (hi < lo) {
		uint64_t t = lo;

		lo = hi;
		hi = t;
	}
	span = hi - lo;
	if (span == UINT64_MAX)
		return engine_backoff_rng_next(rng);
	/*
	 * Accept only draws below the largest multiple of span + 1, so every
	 * residue is equally likely.  At most span + 1 values out of 2^64 are
	 * rejected: for any wait shorter than centuries, almost never.
	 */
	span++;
	limit = UINT64_MAX - (UINT64_MAX % span + 1) % span;
	do {
		x = engine_backoff_rng_next(rng);
	} while (x > limit);
	return lo + x % span;
}

uint64_t engine_backoff_cap(const struct engine_backoff_policy *p,
			    unsigned attempt_done)
{
	unsigned shift = attempt_done > 1 ? attempt_done - 1 : 0;

	/* base << shift <= max exactly when base <= max >> shift. */
	if (shift >= 64 || p->base_ns > (p->max_ns >> shift))
		return p->max_ns;
	return p->base_ns << shift;
}

uint64_t engine_backoff_delay(const struct engine_backoff_policy *p,
			      unsigned attempt_done, uint64_t prev_wait_ns,
			      struct engine_backoff_rng *rng)
{
	uint64_t cap, half, prev, hi, draw;

	switch (p->jitter) {
	case ENGINE_BACKOFF_JITTER_NONE:
		return engine_backoff_cap(p, attempt_done);
	case ENGINE_BACKOFF_JITTER_FULL:
		cap = engine_backoff_cap(p, attempt_done);
		return engine_backoff_rng_uniform(rng, 0, cap);
	case ENGINE_BACKOFF_JITTER_EQUAL:
		cap = engine_backoff_cap(p, attempt_done);
		half = cap / 2;
		return half + engine_backoff_rng_uniform(rng, 0, cap - half);
	case ENGINE_BACKOFF_JITTER_DECORRELATED:
		prev = prev_wait_ns;
		if (attempt_done <= 1 || prev < p->base_ns)
			prev = p->base_ns;
		hi = prev > UINT64_MAX / 3 ? UINT64_MAX : 3 * prev;
		draw = engine_backoff_rng_uniform(rng, p->base_ns, hi);
		return draw < p->max_ns ? draw : p->max_ns;
	}
	/* An unknown jitter (a policy that failed its check): no jitter. */
	return engine_backoff_cap(p, attempt_done);
}
