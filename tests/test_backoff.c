/* SPDX-License-Identifier: MIT */
/*
 * test_backoff.c - the retry waits of engine/backoff.c: the cap doubles and
 * saturates without overflow, every jitter stays in its range and keeps
 * spreading at the cap, each distribution has the mean of its formula, and
 * the per-sensor generator is repeatable and distinct per sensor.
 */
#include <errno.h>
#include <stdint.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "backoff.h"

#define MS 1000000ULL
#define SEC 1000000000ULL
#define DRAWS 100000

TestSuite(backoff);

static struct engine_backoff_policy policy(enum engine_backoff_jitter jitter,
					   uint64_t base, uint64_t max)
{
	struct engine_backoff_policy p = {
		.base_ns = base,
		.max_ns = max,
		.jitter = jitter,
	};
	return p;
}

struct cap_case {
	unsigned attempt_done;
	uint64_t base, max, want;
};

ParameterizedTestParameters(backoff, cap_doubles_then_saturates)
{
	static struct cap_case cases[] = {
		{ 0, 100 * MS, 2 * SEC, 100 * MS }, /* 0 taken as 1 */
		{ 1, 100 * MS, 2 * SEC, 100 * MS },
		{ 2, 100 * MS, 2 * SEC, 200 * MS },
		{ 3, 100 * MS, 2 * SEC, 400 * MS },
		{ 4, 100 * MS, 2 * SEC, 800 * MS },
		{ 5, 100 * MS, 2 * SEC, 1600 * MS },
		{ 6, 100 * MS, 2 * SEC, 2 * SEC },
		{ 64, 100 * MS, 2 * SEC, 2 * SEC },
		{ 65, 1, UINT64_MAX, UINT64_MAX },
		{ 64, 1, UINT64_MAX, 1ULL << 63 },
		{ 100, 100 * MS, 3600 * SEC, 3600 * SEC },
		{ UINT32_MAX, 100 * MS, 3600 * SEC, 3600 * SEC },
		{ 1, 5 * SEC, 5 * SEC, 5 * SEC },
		{ 2, 3, 5, 5 },
	};
	return cr_make_param_array(struct cap_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct cap_case *c, backoff, cap_doubles_then_saturates)
{
	struct engine_backoff_policy p =
		policy(ENGINE_BACKOFF_JITTER_NONE, c->base, c->max);
	struct engine_backoff_rng rng;

	engine_backoff_rng_seed(&rng, 1, 2);
	cr_assert_eq(
		engine_backoff_cap(&p, c->attempt_done), c->want,
		"attempt %u: cap %llu, want %llu", c->attempt_done,
		(unsigned long long)engine_backoff_cap(&p, c->attempt_done),
		(unsigned long long)c->want);
	cr_assert_eq(engine_backoff_delay(&p, c->attempt_done, 0, &rng),
		     c->want, "jitter none waits the cap");
}

Test(backoff, every_wait_lies_within_zero_and_the_cap)
{
	enum engine_backoff_jitter jitters[] = { ENGINE_BACKOFF_JITTER_NONE,
						 ENGINE_BACKOFF_JITTER_FULL,
						 ENGINE_BACKOFF_JITTER_EQUAL };

	for (unsigned j = 0; j < 3; j++) {
		struct engine_backoff_policy p =
			policy(jitters[j], 100 * MS, 2 * SEC);
		struct engine_backoff_rng rng;

		engine_backoff_rng_seed(&rng, 42, j);
		for (unsigned n = 1; n <= 70; n++) {
			uint64_t cap = engine_backoff_cap(&p, n);

			for (int i = 0; i < 1000; i++) {
				uint64_t w =
					engine_backoff_delay(&p, n, 0, &rng);

				cr_assert_leq(
					w, cap, "%s n=%u: %llu > cap",
					engine_backoff_jitter_name(jitters[j]),
					n, (unsigned long long)w);
				if (jitters[j] == ENGINE_BACKOFF_JITTER_EQUAL)
					cr_assert_geq(w, cap / 2);
			}
		}
	}
}

/* At the cap the draws must still differ: jitter is not clamped away. */
static void check_jitter_survives_the_cap(enum engine_backoff_jitter jitter)
{
	struct engine_backoff_policy p = policy(jitter, 100 * MS, 2 * SEC);
	struct engine_backoff_rng rng;
	uint64_t lo = UINT64_MAX, hi = 0;
	unsigned at_cap = 0;

	engine_backoff_rng_seed(&rng, 7, 7);
	for (int i = 0; i < 10000; i++) {
		uint64_t w = engine_backoff_delay(&p, 60, 0, &rng);

		lo = w < lo ? w : lo;
		hi = w > hi ? w : hi;
		at_cap += w == 2 * SEC;
	}
	cr_assert_lt(at_cap, 10, "%u of 10000 draws equal the cap", at_cap);
	/* The draws cover most of their range. */
	if (jitter == ENGINE_BACKOFF_JITTER_FULL)
		cr_assert(lo < 20 * MS && hi > 1980 * MS);
	else
		cr_assert(lo < 1010 * MS && hi > 1990 * MS);
}

Test(backoff, full_jitter_still_spreads_at_the_cap)
{
	check_jitter_survives_the_cap(ENGINE_BACKOFF_JITTER_FULL);
}

Test(backoff, equal_jitter_still_spreads_at_the_cap)
{
	check_jitter_survives_the_cap(ENGINE_BACKOFF_JITTER_EQUAL);
}

Test(backoff, decorrelated_stays_within_base_and_max)
{
	struct engine_backoff_policy p =
		policy(ENGINE_BACKOFF_JITTER_DECORRELATED, 100 * MS, 2 * SEC);
	struct engine_backoff_rng rng;
	unsigned at_max = 0, total = 0;

	engine_backoff_rng_seed(&rng, 3, 4);
	for (int call = 0; call < 2000; call++) {
		uint64_t prev = 0;

		for (unsigned n = 1; n <= 20; n++) {
			uint64_t w = engine_backoff_delay(&p, n, prev, &rng);

			cr_assert_geq(w, 100 * MS);
			cr_assert_leq(w, 2 * SEC);
			if (n == 1)
				cr_assert_leq(w, 300 * MS, "first: U[b, 3b]");
			at_max += w == 2 * SEC;
			total++;
			prev = w;
		}
	}
	/* It reaches max and is clamped there, but keeps moving. */
	cr_assert_gt(at_max, 0);
	cr_assert_lt(at_max, total);
}

static double mean_of(const struct engine_backoff_policy *p, unsigned n,
		      uint64_t prev, uint64_t seed)
{
	struct engine_backoff_rng rng;
	double sum = 0;

	engine_backoff_rng_seed(&rng, seed, 0);
	for (int i = 0; i < DRAWS; i++)
		sum += (double)engine_backoff_delay(p, n, prev, &rng);
	return sum / DRAWS;
}

static void assert_near(double got, double want, const char *what)
{
	cr_assert(got > want * 0.98 && got < want * 1.02,
		  "%s: mean %.0f, formula %.0f", what, got, want);
}

Test(backoff, each_distribution_has_the_mean_of_its_formula)
{
	struct engine_backoff_policy p;
	/* n = 3: cap = 400 ms. */
	double cap = 400 * MS;

	p = policy(ENGINE_BACKOFF_JITTER_NONE, 100 * MS, 2 * SEC);
	assert_near(mean_of(&p, 3, 0, 11), cap, "none");
	p.jitter = ENGINE_BACKOFF_JITTER_FULL;
	assert_near(mean_of(&p, 3, 0, 12), cap / 2, "full");
	p.jitter = ENGINE_BACKOFF_JITTER_EQUAL;
	assert_near(mean_of(&p, 3, 0, 13), cap * 3 / 4, "equal");
	p.jitter = ENGINE_BACKOFF_JITTER_DECORRELATED;
	/* First retry: U[base, 3 base], mean 2 base. */
	assert_near(mean_of(&p, 1, 0, 14), 200 * MS, "decorrelated, first");
	/* prev = 500 ms: U[100 ms, 1.5 s], mean 800 ms. */
	assert_near(mean_of(&p, 2, 500 * MS, 15), 800 * MS,
		    "decorrelated, prev 500 ms");
	/*
	 * prev = 1 s: min(2 s, U[0.1 s, 3 s]); its mean is
	 * ((2^2 - 0.1^2) / 2 + (3 - 2) * 2) / 2.9 s = 1.37759 s.
	 */
	assert_near(mean_of(&p, 4, 1 * SEC, 16), 1.3775862 * SEC,
		    "decorrelated, clamped at max");
}

Test(backoff, the_same_seed_and_sensor_repeat_the_sequence)
{
	struct engine_backoff_policy p =
		policy(ENGINE_BACKOFF_JITTER_FULL, 100 * MS, 2 * SEC);
	struct engine_backoff_rng a, b;
	uint64_t stream = engine_backoff_hash("s3");

	engine_backoff_rng_seed(&a, 1234, stream);
	engine_backoff_rng_seed(&b, 1234, stream);
	for (unsigned i = 0; i < 1000; i++)
		cr_assert_eq(engine_backoff_delay(&p, 1 + i % 8, 0, &a),
			     engine_backoff_delay(&p, 1 + i % 8, 0, &b));
}

static unsigned count_equal_draws(uint64_t seed_a, uint64_t stream_a,
				  uint64_t seed_b, uint64_t stream_b)
{
	struct engine_backoff_rng a, b;
	unsigned same = 0;

	engine_backoff_rng_seed(&a, seed_a, stream_a);
	engine_backoff_rng_seed(&b, seed_b, stream_b);
	for (int i = 0; i < 1000; i++)
		same += engine_backoff_rng_next(&a) ==
			engine_backoff_rng_next(&b);
	return same;
}

Test(backoff, different_sensors_draw_different_sequences)
{
	const char *names[] = { "s0", "s1", "s2", "s3", "s4", "flaky" };
	uint64_t h[6];

	for (int i = 0; i < 6; i++)
		h[i] = engine_backoff_hash(names[i]);
	for (int i = 0; i < 6; i++)
		for (int j = i + 1; j < 6; j++) {
			cr_assert_neq(h[i], h[j]);
			cr_assert_eq(count_equal_draws(1, h[i], 1, h[j]), 0,
				     "%s and %s share draws", names[i],
				     names[j]);
		}
	/* Neighbouring indices, neighbouring seeds, swapped inputs. */
	cr_assert_eq(count_equal_draws(1, 0, 1, 1), 0);
	cr_assert_eq(count_equal_draws(0, 7, 1, 7), 0);
	cr_assert_eq(count_equal_draws(5, 9, 9, 5), 0);
	cr_assert_eq(count_equal_draws(0, 0, 0, 0), 1000);
}

Test(backoff, no_overflow_at_attempt_100_with_max_one_hour)
{
	enum engine_backoff_jitter jitters[] = {
		ENGINE_BACKOFF_JITTER_NONE, ENGINE_BACKOFF_JITTER_FULL,
		ENGINE_BACKOFF_JITTER_EQUAL, ENGINE_BACKOFF_JITTER_DECORRELATED
	};
	uint64_t hour = 3600 * SEC;

	for (unsigned j = 0; j < 4; j++) {
		struct engine_backoff_policy p =
			policy(jitters[j], 100 * MS, hour);
		struct engine_backoff_rng rng;
		uint64_t prev = hour;

		engine_backoff_rng_seed(&rng, 99, j);
		cr_assert_eq(engine_backoff_cap(&p, 100), hour);
		for (int i = 0; i < 1000; i++) {
			uint64_t w = engine_backoff_delay(&p, 100, prev, &rng);

			cr_assert_leq(w, hour);
			prev = w;
		}
		/* A previous wait near UINT64_MAX cannot wrap 3 * prev. */
		cr_assert_leq(engine_backoff_delay(&p, 100, UINT64_MAX, &rng),
			      hour);
	}
}

Test(backoff, uniform_draws_cover_both_ends_without_bias)
{
	struct engine_backoff_rng rng;
	unsigned ones = 0, seen[3] = { 0 };

	engine_backoff_rng_seed(&rng, 5, 5);
	cr_assert_eq(engine_backoff_rng_uniform(&rng, 17, 17), 17);
	cr_assert_eq(engine_backoff_rng_uniform(&rng, 0, 0), 0);
	for (int i = 0; i < DRAWS; i++)
		ones += (unsigned)engine_backoff_rng_uniform(&rng, 0, 1);
	cr_assert(ones > DRAWS * 49 / 100 && ones < DRAWS * 51 / 100,
		  "%u ones in %d", ones, DRAWS);
	for (int i = 0; i < 30000; i++) {
		uint64_t x = engine_backoff_rng_uniform(&rng, 10, 12);

		cr_assert(x >= 10 && x <= 12);
		seen[x - 10]++;
	}
	for (int i = 0; i < 3; i++)
		cr_assert(seen[i] > 9500 && seen[i] < 10500, "%u", seen[i]);
	/* The full 64-bit range, and reversed bounds. */
	(void)engine_backoff_rng_uniform(&rng, 0, UINT64_MAX);
	for (int i = 0; i < 100; i++) {
		uint64_t x = engine_backoff_rng_uniform(&rng, 20, 10);

		cr_assert(x >= 10 && x <= 20);
	}
}

Test(backoff, policies_and_jitter_words_are_checked)
{
	struct engine_backoff_policy p =
		policy(ENGINE_BACKOFF_JITTER_FULL, 100 * MS, 2 * SEC);

	cr_assert_eq(engine_backoff_policy_check(&p), 0);
	p.base_ns = 0;
	cr_assert_eq(engine_backoff_policy_check(&p), -EINVAL);
	p.base_ns = 3 * SEC;
	cr_assert_eq(engine_backoff_policy_check(&p), -EINVAL);
	p.base_ns = 100 * MS;
	p.jitter = (enum engine_backoff_jitter)9;
	cr_assert_eq(engine_backoff_policy_check(&p), -EINVAL);

	cr_assert_eq(engine_backoff_jitter_parse("none"),
		     ENGINE_BACKOFF_JITTER_NONE);
	cr_assert_eq(engine_backoff_jitter_parse("decorrelated"),
		     ENGINE_BACKOFF_JITTER_DECORRELATED);
	cr_assert_eq(engine_backoff_jitter_parse("Full"), -EINVAL);
	cr_assert_str_eq(
		engine_backoff_jitter_name(ENGINE_BACKOFF_JITTER_EQUAL),
		"equal");
	cr_assert_str_eq(
		engine_backoff_jitter_name((enum engine_backoff_jitter)9), "?");
}
