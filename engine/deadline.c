/* SPDX-License-Identifier: MIT */
/*
 * deadline.c - a binary min-heap of attempt deadlines; see deadline.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "deadline.h"

int engine_deadlines_init(struct engine_deadlines *d, uint32_t cap)
{
	d->len = 0;
	d->cap = cap > 16 ? cap : 16;
	d->heap = malloc(d->cap * sizeof(*d->heap));
	return d->heap != NULL ? 0 : -ENOMEM;
}

void engine_deadlines_exit(struct engine_deadlines *d)
{
	free(d->heap);
	d->heap = NULL;
	d->len = d->cap = 0;
}

int engine_deadlines_push(struct engine_deadlines *d, uint64_t at,
			  uint32_t sensor, uint32_t gen)
{
	struct engine_deadline *h;
	uint32_t i;

	if (d->len == d->cap) {
		h = realloc(d->heap, 2 * (size_t)d->cap * sizeof(*h));
		if (h == NULL)
			return -ENOMEM;
		d->heap = h;
		d->cap *= 2;
	}
	h = d->heap;
	/* Sift up: parents later than the new entry move down. */
	for (i = d->len++; i > 0 && h[(i - 1) / 2].at > at; i = (i - 1) / 2)
		h[i] = h[(i - 1) / 2];
	h[i].at = at;
	h[i].sensor = sensor;
	h[i].gen = gen;
	return 0;
}

const struct engine_deadline *engine_deadlines_peek(
	const struct engine_deadlines *d)
{
	return d->len > 0 ? &d->heap[0] : NULL;
}

bool engine_deadlines_pop(struct engine_deadlines *d,
			  struct engine_deadline *out)
{
	struct engine_deadline *h = d->heap, last;
	uint32_t i, c;

	if (d->len == 0)
		return false;
	*out = h[0];
	last = h[--d->len];
	/* Sift the last entry down from the root. */
	for (i = 0; (c = 2 * i + 1) < d->len; i = c) {
		if (c + 1 < d->len && h[c + 1].at < h[c].at)
			c++;
		if (h[c].at >= last.at)
			break;
		h[i] = h[c];
	}
	if (d->len > 0)
		h[i] = last;
	return true;
}
