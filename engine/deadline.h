/* SPDX-License-Identifier: MIT */
/*
 * deadline.h - the application deadlines of attempts in flight, a binary
 * min-heap of (time, sensor, attempt generation).
 *
 * The engine arms one ring timer at the earliest deadline; when it fires,
 * the expired entries are popped.  An entry whose attempt has already
 * ended is not removed when the attempt ends (that would cost a search):
 * it is recognised by its generation when popped, and dropped.
 */
#ifndef ENGINE_DEADLINE_H
#define ENGINE_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

struct engine_deadline {
	uint64_t at; /* CLOCK_MONOTONIC, nanoseconds */
	uint32_t sensor;
	uint32_t gen;
};

struct engine_deadlines {
	struct engine_deadline *heap;
	uint32_t len, cap;
};

/* Returns 0 or -ENOMEM. */
int engine_deadlines_init(struct engine_deadlines *d, uint32_t cap);
void engine_deadlines_exit(struct engine_deadlines *d);

/* Returns 0, or -ENOMEM when the heap could not grow. */
int engine_deadlines_push(struct engine_deadlines *d, uint64_t at,
			  uint32_t sensor, uint32_t gen);

/* The earliest entry, or NULL when empty. */
const struct engine_deadline *engine_deadlines_peek(
	const struct engine_deadlines *d);

/* Remove the earliest entry into @out; false when empty. */
bool engine_deadlines_pop(struct engine_deadlines *d,
			  struct engine_deadline *out);

#endif
