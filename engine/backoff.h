/* SPDX-License-Identifier: MIT */
/*
 * backoff.h - how long to wait before the next attempt of a call.
 *
 * A failed attempt is retried after a wait that doubles with each attempt,
 * up to a cap, and is spread by jitter so that many sensors failing together
 * do not retry together.  Everything here is a plain function of a policy,
 * the attempt count, the previous wait and a random generator owned by the
 * caller: no clock, no sleeping, no allocation.  The engine turns the wait
 * into a kernel timer.
 *
 * The random generator is per sensor and seedable (xoshiro256** seeded with
 * splitmix64), so a run with a given global seed is repeatable and no two
 * sensors draw the same sequence unless they share both seed and name.
 */
#ifndef RINGSIDE_ENGINE_BACKOFF_H
#define RINGSIDE_ENGINE_BACKOFF_H

#include <stdint.h>

/*
 * State of one sensor's generator.  The caller allocates it (usually inside
 * the sensor's own struct) and seeds it with engine_backoff_rng_seed(); it
 * is not thread-safe, as each sensor's calls are driven by one thread.
 */
struct engine_backoff_rng {
	uint64_t s[4];
};

enum engine_backoff_jitter {
	ENGINE_BACKOFF_JITTER_NONE,	    /* wait the cap */
	ENGINE_BACKOFF_JITTER_FULL,	    /* uniform in [0, cap] */
	ENGINE_BACKOFF_JITTER_EQUAL,	    /* cap/2 + uniform in [0, cap/2] */
	ENGINE_BACKOFF_JITTER_DECORRELATED, /* min(max, U[base, 3 prev]) */
};

struct engine_backoff_policy {
	uint64_t base_ns; /* retry_base: the cap before the first retry */
	uint64_t max_ns;  /* retry_max: no wait is ever longer */
	enum engine_backoff_jitter jitter;
};

/*
 * Check a policy: base_ns and max_ns non-zero, base_ns <= max_ns, a known
 * jitter.  Returns 0, or -EINVAL.
 */
int engine_backoff_policy_check(const struct engine_backoff_policy *p);

/*
 * The jitter's configuration word ("none", "full", "equal",
 * "decorrelated").  engine_backoff_jitter_name() returns a static string
 * ("?" for an unknown value); engine_backoff_jitter_parse() returns the
 * enum value (>= 0), or -EINVAL for an unknown word.
 */
const char *engine_backoff_jitter_name(enum engine_backoff_jitter jitter);
int engine_backoff_jitter_parse(const char *word);

/*
 * A 64-bit FNV-1a hash of a sensor name, meant as the stream argument of
 * engine_backoff_rng_seed().  Returns the hash.
 */
uint64_t engine_backoff_hash(const char *name);

/*
 * Seed @rng from the global seed and a per-sensor stream (the hash of the
 * sensor's name, or its index).  Every word of the state depends on both,
 * so two sensors with different streams differ from their first draw.
 */
void engine_backoff_rng_seed(struct engine_backoff_rng *rng, uint64_t seed,
			     uint64_t stream);

/* Returns the next 64 uniformly distributed bits of @rng. */
uint64_t engine_backoff_rng_next(struct engine_backoff_rng *rng);

/*
 * Returns a draw uniform in [lo, hi], both included, without modulo bias
 * (out-of-range draws are rejected).  hi < lo is taken as [hi, lo].
 */
uint64_t engine_backoff_rng_uniform(struct engine_backoff_rng *rng, uint64_t lo,
				    uint64_t hi);

/*
 * The cap before attempt n+1, n = @attempt_done >= 1 attempts having been
 * made: min(max_ns, base_ns * 2^(n-1)), computed without overflow for any
 * n.  An @attempt_done of 0 is taken as 1.  Returns the cap in nanoseconds.
 */
uint64_t engine_backoff_cap(const struct engine_backoff_policy *p,
			    unsigned attempt_done);

/*
 * The wait before attempt n+1, n = @attempt_done >= 1, as SPEC.md
 * "Resilience" defines it.  The jitter is drawn after capping and never
 * clamped back, so it still spreads the waits once the cap is reached:
 *
 *   none          cap
 *   full          uniform in [0, cap]
 *   equal         floor(cap/2) + uniform in [0, cap - floor(cap/2)]
 *   decorrelated  min(max_ns, uniform in [base_ns, 3 * prev])
 *
 * @prev_wait_ns is the wait returned for the previous retry of the same
 * call; it is used by the decorrelated jitter only, which takes base_ns
 * instead for the first retry (@attempt_done <= 1) or when @prev_wait_ns is
 * below base_ns.  Draws from @rng except for "none".  Returns the wait in
 * nanoseconds.
 */
uint64_t engine_backoff_delay(const struct engine_backoff_policy *p,
			      unsigned attempt_done, uint64_t prev_wait_ns,
			      struct engine_backoff_rng *rng);

#endif /* RINGSIDE_ENGINE_BACKOFF_H */
