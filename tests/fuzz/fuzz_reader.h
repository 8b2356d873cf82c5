/* SPDX-License-Identifier: MIT */
/*
 * fuzz_reader.h - what the two reader targets (fuzz_reader.c, in memory,
 * and fuzz_reader_fd.c, through a file) do with a segment once attached:
 * everything a client does, checking what ringside.h promises.
 *
 * Nobody writes the segment while the target reads it, so it holds at most
 * `ring` batches: the reader must return them in increasing order, each
 * with sane counts, then say it is caught up, and from then on neither
 * _next() nor _state() may claim there is more (a client's wait-and-drain
 * loop would spin).  Names and units come back as NUL-terminated strings of
 * bounded length, whatever bytes the segment holds, and the JSON line of a
 * batch is one line.  Reads outside the segment are for AddressSanitizer to
 * catch.  A broken promise calls __builtin_trap() so that libFuzzer reports
 * it.
 */
#ifndef FUZZ_READER_H
#define FUZZ_READER_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ringside.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

/* Format batch b as a client does, and check that it is one line. */
static void fuzz_reader_json(const struct ringside_reader *r,
			     const struct ringside_batch *b,
			     const struct ringside_reading *v)
{
	char(*name)[RINGSIDE_NAME_MAX + 1] = NULL;
	char(*unit)[RINGSIDE_UNIT_MAX + 1] = NULL;
	const char **names = NULL, **units = NULL;
	size_t size = 512 + (size_t)b->nreadings * 512;
	char *buf = malloc(size);
	uint32_t i;
	int n;

	if (b->nreadings > 0) {
		name = calloc(b->nreadings, sizeof(*name));
		unit = calloc(b->nreadings, sizeof(*unit));
		names = calloc(b->nreadings, sizeof(*names));
		units = calloc(b->nreadings, sizeof(*units));
		if (!name || !unit || !names || !units)
			goto out;
	}
	if (!buf)
		goto out;
	for (i = 0; i < b->nreadings; i++) {
		check(ringside_reader_sensor(r, i, name[i], unit[i]) == 0);
		names[i] = name[i];
		units[i] = unit[i];
	}
	n = ringside_json_batch(buf, size, r->name, r->epoch_us, names, units,
				b, v);
	check(n > 0 && (size_t)n < size && strlen(buf) == (size_t)n);
	check(memchr(buf, '\n', (size_t)n) == NULL);
out:
	free(buf);
	free(name);
	free(unit);
	free(names);
	free(units);
}

static void fuzz_reader_batches(struct ringside_reader *r, uint32_t nsensors,
				uint32_t ring)
{
	struct ringside_reading *v;
	struct ringside_batch b;
	uint64_t head = ringside_reader_head(r), last = 0;
	uint32_t got = 0, max;
	int ret;

	v = malloc(((size_t)nsensors + 1) * sizeof(*v));
	if (!v)
		return;
	for (;;) {
		/* Ask for every reading, then for fewer. */
		max = got == 0 ? nsensors : nsensors / 2;
		memset(&b, 0xa5, sizeof(b));
		ret = ringside_reader_next(r, &b, v, max);
		check(ret == 0 || ret == 1);
		if (ret == 0)
			break;
		check(++got <= ring);
		check(b.seq >= 1 && b.seq <= head && b.seq > last);
		check(b.total == nsensors && b.available <= b.total);
		check(b.nreadings == (max < nsensors ? max : nsensors));
		last = b.seq;
		fuzz_reader_json(r, &b, v);
	}
	/* Caught up, and it stays so. */
	check(ringside_reader_next(r, &b, v, nsensors) == 0);
	ret = ringside_reader_state(r);
	check(ret >= 0 && ret <= RINGSIDE_REPLACED && ret != RINGSIDE_READY);
	check(ringside_reader_wait(r, 0) == ret);
	free(v);
}

static void fuzz_reader_exercise(struct ringside_reader *r, size_t len)
{
	char name[RINGSIDE_NAME_MAX + 1], unit[RINGSIDE_UNIT_MAX + 1];
	struct ringside_sensor_stats *s;
	struct ringside_engine_stats e;
	struct ringside_params p;
	uint32_t i;
	int ret;

	check(ringside_reader_params(r, &p) == 0);
	check(ringside_name_valid(p.name));
	check(ringside_segment_size(p.ring, p.nsensors) == len);
	for (i = 0; i < p.nsensors; i++) {
		check(ringside_reader_sensor(r, i, name, unit) == 0);
		check(strlen(name) <= RINGSIDE_NAME_MAX);
		check(strlen(unit) <= RINGSIDE_UNIT_MAX);
	}
	check(ringside_reader_sensor(r, p.nsensors, name, unit) == -EINVAL);
	(void)ringside_reader_pid(r);

	s = calloc((size_t)p.nsensors + 1, sizeof(*s));
	if (s) {
		ret = ringside_reader_stats(r, &e, s, p.nsensors + 1);
		check(ret == 0 || ret == -EAGAIN);
		free(s);
	}
	ret = ringside_reader_state(r);
	check(ret >= RINGSIDE_TIMEOUT && ret <= RINGSIDE_REPLACED);
	fuzz_reader_batches(r, p.nsensors, p.ring);
}

#endif /* FUZZ_READER_H */
