/* SPDX-License-Identifier: MIT */
/*
 * fuzz_value.c - libFuzzer target for the value parser, engine/value.c.
 *
 * The first bytes of the input make the spec, the rest is the record:
 *
 *	byte 0-1   field, little-endian (the configuration allows 0 to 65535)
 *	byte 2-3   line, the same
 *	byte 4     which of offset, scale, min, max follow (bits 0 to 3);
 *	           each one present is 8 raw bytes of a double, any bits,
 *	           the others keep their default
 *	then       the record (or the file, for engine_value_parse_lines)
 *
 * Besides the sanitizers, the target checks what value.h promises:
 * results are 0, -EMSGSIZE, -EBADMSG or -ERANGE and nothing else;
 * -EMSGSIZE only for a record over ENGINE_VALUE_RECORD_MAX bytes; a value
 * returned is finite and within [min, max]; *value is untouched on error;
 * a record without '\n' parses the same as one line of a file; and a number
 * accepted is the one strtod() reads from the same text.  A broken promise
 * calls __builtin_trap() so that libFuzzer reports it.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

#define SENTINEL 12345.678

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

static const uint8_t *take(const uint8_t **data, size_t *len, size_t n)
{
	const uint8_t *p = *data;

	if (*len < n)
		return NULL;
	*data += n;
	*len -= n;
	return p;
}

/* Fill spec from the head of the input; false when it is too short. */
static bool make_spec(struct engine_value_spec *spec, const uint8_t **data,
		      size_t *len)
{
	double *slot[4] = { &spec->offset, &spec->scale, &spec->min,
			    &spec->max };
	const uint8_t *p;
	uint8_t which;
	int i;

	engine_value_spec_init(spec);
	p = take(data, len, 5);
	if (!p)
		return false;
	spec->field = (uint32_t)(p[0] | p[1] << 8);
	spec->line = (uint32_t)(p[2] | p[3] << 8);
	which = p[4];
	for (i = 0; i < 4; i++) {
		if (!(which & (1u << i)))
			continue;
		p = take(data, len, sizeof(double));
		if (!p)
			return false;
		memcpy(slot[i], p, sizeof(double));
	}
	return true;
}

static void check_result(const struct engine_value_spec *spec, int ret,
			 double v, size_t reclen)
{
	check(ret == 0 || ret == -EMSGSIZE || ret == -EBADMSG ||
	      ret == -ERANGE);
	if (ret != 0) {
		check(v == SENTINEL);
		return;
	}
	check(reclen <= ENGINE_VALUE_RECORD_MAX);
	check(isfinite(v));
	/* A NaN bound bounds nothing (the configuration cannot set one). */
	check(isnan(spec->min) || v >= spec->min);
	check(isnan(spec->max) || v <= spec->max);
}

/* engine_value_number() agrees with strtod() on text it accepts. */
static void check_number(const char *rec, size_t len)
{
	const char *f;
	size_t flen;
	double raw = SENTINEL, ref;
	char *copy, *end;

	if (engine_value_pick_field(rec, len, 0, &f, &flen) < 0) {
		check(raw == SENTINEL);
		return;
	}
	check(f >= rec && flen >= 1 && f + flen <= rec + len);
	if (engine_value_number(f, flen, &raw) < 0) {
		check(raw == SENTINEL);
		return;
	}
	copy = malloc(flen + 1);
	if (!copy)
		return;
	memcpy(copy, f, flen);
	copy[flen] = '\0';
	ref = strtod(copy, &end);
	check(end == copy + flen);
	check(isfinite(raw) && raw == ref);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct engine_value_spec spec;
	const char *rec, *l;
	size_t llen;
	double v1 = SENTINEL, v2 = SENTINEL;
	int r1, r2, ret;

	if (!make_spec(&spec, &data, &len))
		return 0;
	rec = (const char *)data;

	r1 = engine_value_parse(&spec, rec, len, &v1);
	check_result(&spec, r1, v1, len);
	check((r1 == -EMSGSIZE) == (len > ENGINE_VALUE_RECORD_MAX));

	r2 = engine_value_parse_lines(&spec, rec, len, &v2);
	ret = engine_value_pick_line(rec, len, spec.line, &l, &llen);
	if (ret < 0) {
		check(r2 == -EBADMSG && v2 == SENTINEL);
	} else {
		check(l >= rec && l + llen <= rec + len);
		check(memchr(l, '\n', llen) == NULL);
		check_result(&spec, r2, v2, llen);
	}
	/* Without '\n', line 0 is the whole record. */
	if (spec.line == 0 && len > 0 && !memchr(rec, '\n', len)) {
		check(r1 == r2);
		check(r1 != 0 || v1 == v2);
	}
	check_number(rec, len);
	return 0;
}
