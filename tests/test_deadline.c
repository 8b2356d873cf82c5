/* SPDX-License-Identifier: MIT */
/*
 * test_deadline.c - the deadline heap pops entries in time order, however
 * they were pushed, and grows past its first capacity.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "deadline.h"

static struct engine_deadlines d;

static void setup(void)
{
	cr_assert_eq(engine_deadlines_init(&d, 4), 0);
}

static void teardown(void)
{
	engine_deadlines_exit(&d);
}

TestSuite(deadline, .init = setup, .fini = teardown);

Test(deadline, an_empty_heap_has_nothing_to_peek_or_pop)
{
	struct engine_deadline out;

	cr_assert_null(engine_deadlines_peek(&d));
	cr_assert_not(engine_deadlines_pop(&d, &out));
}

Test(deadline, entries_come_out_in_time_order_whatever_the_push_order)
{
	struct engine_deadline out;
	uint64_t prev = 0;
	unsigned i, n = 5000;

	srand(7);
	for (i = 0; i < n; i++)
		cr_assert_eq(engine_deadlines_push(&d, (uint64_t)rand() % 1000,
						   i, i * 3),
			     0);
	for (i = 0; i < n; i++) {
		cr_assert(engine_deadlines_pop(&d, &out));
		cr_assert_geq(out.at, prev, "pop %u: %llu after %llu", i,
			      (unsigned long long)out.at,
			      (unsigned long long)prev);
		cr_assert_eq(out.gen, out.sensor * 3, "entry kept whole");
		prev = out.at;
	}
	cr_assert_not(engine_deadlines_pop(&d, &out));
}

Test(deadline, peek_shows_the_earliest_without_removing_it)
{
	engine_deadlines_push(&d, 30, 1, 0);
	engine_deadlines_push(&d, 10, 2, 0);
	engine_deadlines_push(&d, 20, 3, 0);
	cr_assert_eq(engine_deadlines_peek(&d)->sensor, 2);
	cr_assert_eq(engine_deadlines_peek(&d)->sensor, 2);
	cr_assert_eq(d.len, 3);
}
