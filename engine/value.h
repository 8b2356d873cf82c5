/* SPDX-License-Identifier: MIT */
/*
 * value.h - turn one sensor record into a number.
 *
 * A record is the bytes a source delivered: a line of a stream, a datagram,
 * the contents of a file. It is not NUL-terminated and may hold any byte.
 * The parser picks the whitespace-separated field `field` (0-based) and reads
 * it as a decimal number, then applies the IIO-style calibration
 *
 *	value = (raw + offset) * scale
 *
 * and checks the result against [min, max]. For a multi-line file,
 * engine_value_parse_lines() first picks line `line` (0-based).
 *
 * Only plain decimal numbers are accepted: an optional sign, digits with an
 * optional fraction, an optional exponent ("23.5", "-1e3", "+.5", "7E-2").
 * Hexadecimal ("0x1A"), "nan", "inf" and anything with trailing bytes are not
 * numbers. Every function here is pure: no allocation, no I/O, no locks; the
 * engine calls them on its hot path.
 */
#ifndef ENGINE_VALUE_H
#define ENGINE_VALUE_H

#include <stddef.h>
#include <stdint.h>

/* The largest record, in bytes; a longer one is -EMSGSIZE. */
#define ENGINE_VALUE_RECORD_MAX 4096

/*
 * How to read a sensor's records. Filled by engine_value_spec_init() with the
 * defaults (line 0, field 0, offset 0, scale 1, no bounds) and then by the
 * configuration.
 */
struct engine_value_spec {
	uint32_t line;	/* line of a multi-line file, 0-based */
	uint32_t field; /* whitespace-separated field, 0-based */
	double offset;	/* added to the raw number */
	double scale;	/* multiplies raw + offset */
	double min;	/* smallest accepted value; -INFINITY: no bound */
	double max;	/* largest accepted value; +INFINITY: no bound */
};

/* Set the defaults: line 0, field 0, offset 0, scale 1, min -inf, max +inf. */
void engine_value_spec_init(struct engine_value_spec *spec);

/*
 * Read the whole of buf[0..len) as one decimal number into *raw.
 * Leading and trailing bytes are not skipped: "1 " is not a number.
 * Returns 0, or -EBADMSG when it is not a decimal number, is empty,
 * or is not finite (out of the range of a double).
 */
int engine_value_number(const char *buf, size_t len, double *raw);

/*
 * Find field `field` (0-based) of rec[0..len), fields being separated by
 * runs of spaces, tabs, CR, LF, VT or FF. Sets *out and *out_len to the
 * field, which points into rec. Returns 0, or -EBADMSG when the record has
 * fewer fields.
 */
int engine_value_pick_field(const char *rec, size_t len, uint32_t field,
			    const char **out, size_t *out_len);

/*
 * Find line `line` (0-based) of buf[0..len): lines end with '\n'; a final
 * line without one counts, an empty tail after the last '\n' does not.
 * Sets *out and *out_len to the line without its '\n'. Returns 0, or
 * -EBADMSG when there are fewer lines.
 */
int engine_value_pick_line(const char *buf, size_t len, uint32_t line,
			   const char **out, size_t *out_len);

/*
 * Parse one record rec[0..len) with spec (spec->line is not used).
 * Returns 0 with *value set, or:
 *   -EMSGSIZE  the record is longer than ENGINE_VALUE_RECORD_MAX bytes;
 *   -EBADMSG   the field is missing or not a number, or the value is not
 *              finite (NaN, an infinity, an overflow);
 *   -ERANGE    the value lies outside [spec->min, spec->max].
 * *value is left alone on error.
 */
int engine_value_parse(const struct engine_value_spec *spec, const char *rec,
		       size_t len, double *value);

/*
 * Parse the contents of a multi-line file: pick line spec->line, then as
 * engine_value_parse() on that line (the line is the record, so the size
 * limit applies to it, not to the whole buffer). A missing line is -EBADMSG.
 */
int engine_value_parse_lines(const struct engine_value_spec *spec,
			     const char *buf, size_t len, double *value);

#endif
