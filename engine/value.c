/* SPDX-License-Identifier: MIT */
/*
 * value.c - turn one sensor record into a number.
 *
 * The grammar is checked by hand before strtod() sees the text, for two
 * reasons: strtod() accepts more than a sensor should send (hex floats,
 * "nan", "infinity", leading blanks), and it needs a NUL-terminated string
 * while records are raw bytes. So the chosen field is validated byte by
 * byte, copied into a bounded stack buffer, and only then converted. strtod()
 * reads '.' as the decimal point because ringsided never calls setlocale().
 *
 * A field is at most ENGINE_VALUE_RECORD_MAX bytes, because the record is
 * checked first, so the copy always fits.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

void engine_value_spec_init(struct engine_value_spec *spec)
{
	spec->line = 0;
	spec->field = 0;
	spec->offset = 0.0;
	spec->scale = 1.0;
	spec->min = -INFINITY;
	spec->max = INFINITY;
}

static bool value_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	       c == '\f';
}

static bool value_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * [+-]? (D+ ('.' D*)? | '.' D+) ([eE] [+-]? D+)?  and nothing else.
 */
static bool value_is_decimal(const char *s, size_t len)
{
	size_t i = 0, digits = 0;

	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < len && value_is_digit((unsigned char)s[i])) {
		i++;
		digits++;
	}
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && value_is_digit((unsigned char)s[i])) {
			i++;
			digits++;
		}
	}
	if (digits == 0)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp_digits = 0;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < len && value_is_digit((unsigned char)s[i])) {
			i++;
			exp_digits++;
		}
		if (exp_digits == 0)
			return false;
	}
	return i == len;
}

int engine_value_number(const char *buf, size_t len, double *raw)
{
	char copy[ENGINE_VALUE_RECORD_MAX + 1];
	char *end;
	double v;

	if (len == 0 || len > ENGINE_VALUE_RECORD_MAX ||
	    !value_is_decimal(buf, len))
		return -EBADMSG;
	memcpy(copy, buf, len);
	copy[len] = '\0';
	errno = 0;
	v = strtod(copy, &end);
	/*
	 * ERANGE with a finite result is an underflow to a tiny or zero
	 * value, which is still the best reading of the text; an overflow
	 * gives HUGE_VAL and is caught by isfinite().
	 */
	if (end != copy + len || !isfinite(v))
		return -EBADMSG;
	*raw = v;
	return 0;
}

int engine_value_pick_field(const char *rec, size_t len, uint32_t field,
			    const char **out, size_t *out_len)
{
	size_t i = 0;
	uint32_t n = 0;

	for (;;) {
		size_t start;

		while (i < len && value_is_space((unsigned char)rec[i]))
			i++;
		if (i == len)
			return -EBADMSG;
		start = i;
		while (i < len && !value_is_space((unsigned char)rec[i]))
			i++;
		if (n == field) {
			*out = rec + start;
			*out_len = i - start;
			return 0;
		}
		n++;
	}
}

int engine_value_pick_line(const char *buf, size_t len, uint32_t line,
			   const char **out, size_t *out_len)
{
	size_t pos = 0;
	uint32_t n = 0;

	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;

		if (n == line) {
			*out = buf + pos;
			*out_len = end - pos;
			return 0;
		}
		pos = end + 1;
		n++;
	}
	return -EBADMSG;
}

int engine_value_parse(const struct engine_value_spec *spec, const char *rec,
		       size_t len, double *value)
{
	const char *f;
	size_t flen;
	double raw, v;
	int ret;

	if (len > ENGINE_VALUE_RECORD_MAX)
		return -EMSGSIZE;
	ret = engine_value_pick_field(rec, len, spec->field, &f, &flen);
	if (ret < 0)
		return ret;
	ret = engine_value_number(f, flen, &raw);
	if (ret < 0)
		return ret;
	v = (raw + spec->offset) * spec->scale;
	if (!isfinite(v))
		return -EBADMSG;
	if (v < spec->min || v > spec->max)
		return -ERANGE;
	*value = v;
	return 0;
}

int engine_value_parse_lines(const struct engine_value_spec *spec,
			     const char *buf, size_t len, double *value)
{
	const char *l;
	size_t llen;
	int ret;

	ret = engine_value_pick_line(buf, len, spec->line, &l, &llen);
	if (ret < 0)
		return ret;
	return engine_value_parse(spec, l, llen, value);
}
