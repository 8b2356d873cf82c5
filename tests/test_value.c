/* SPDX-License-Identifier: MIT */
/*
 * test_value.c - engine/value.c turns records into numbers: plain decimal
 * numbers only (no hex, NaN or infinities), the chosen field of the chosen
 * line, (raw + offset) * scale, EBADMSG for anything that is not a finite
 * number, ERANGE outside [min, max], EMSGSIZE past 4096 bytes.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "value.h"

TestSuite(value);

/* A record given by text, or by bytes and a length when it holds NULs. */
/*
 * Parameters hold arrays, not pointers: Criterion runs each case in a fresh
 * process where the parent's addresses mean nothing.
 */
struct number_case {
	char rec[48];
	size_t len; /* 0: strlen(rec) */
	int ret;
	double want;
};

static size_t case_len(const char *rec, size_t len)
{
	return len ? len : strlen(rec);
}

ParameterizedTestParameters(value, parses_decimal_records)
{
	static struct number_case cases[] = {
		{ "23.5", 0, 0, 23.5 },
		{ "-1e3", 0, 0, -1000.0 },
		{ "+.5", 0, 0, 0.5 },
		{ "7E-2", 0, 0, 0.07 },
		{ "42.", 0, 0, 42.0 },
		{ "0", 0, 0, 0.0 },
		{ "007", 0, 0, 7.0 },
		{ "  42  \r", 0, 0, 42.0 },
		{ "\t-3\r\n", 0, 0, -3.0 },
		{ "23500\n", 0, 0, 23500.0 },
		{ "1.7976931348623157e308", 0, 0, 1.7976931348623157e308 },
	};
	return cr_make_param_array(struct number_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct number_case *c, value, parses_decimal_records)
{
	struct engine_value_spec spec;
	double v = -12345.0;
	int ret;

	engine_value_spec_init(&spec);
	ret = engine_value_parse(&spec, c->rec, case_len(c->rec, c->len), &v);
	cr_assert_eq(ret, 0, "'%s': got %d", c->rec, ret);
	cr_assert_eq(v, c->want, "'%s': got %.17g", c->rec, v);
}

ParameterizedTestParameters(value, rejects_what_is_not_a_finite_number)
{
	static struct number_case cases[] = {
		{ "", 0, -EBADMSG, 0 },
		{ "   ", 0, -EBADMSG, 0 },
		{ "\r", 0, -EBADMSG, 0 },
		{ "\r\n", 0, -EBADMSG, 0 },
		{ "abc", 0, -EBADMSG, 0 },
		{ "12abc", 0, -EBADMSG, 0 },
		{ "12.5C", 0, -EBADMSG, 0 },
		{ "0x1A", 0, -EBADMSG, 0 },
		{ "0x1p3", 0, -EBADMSG, 0 },
		{ "nan", 0, -EBADMSG, 0 },
		{ "NaN", 0, -EBADMSG, 0 },
		{ "-nan", 0, -EBADMSG, 0 },
		{ "inf", 0, -EBADMSG, 0 },
		{ "-inf", 0, -EBADMSG, 0 },
		{ "Infinity", 0, -EBADMSG, 0 },
		{ "1e400", 0, -EBADMSG, 0 },
		{ "-1e400", 0, -EBADMSG, 0 },
		{ "1e", 0, -EBADMSG, 0 },
		{ "1e+", 0, -EBADMSG, 0 },
		{ ".", 0, -EBADMSG, 0 },
		{ "-", 0, -EBADMSG, 0 },
		{ "+-1", 0, -EBADMSG, 0 },
		{ "1.2.3", 0, -EBADMSG, 0 },
		{ "12,5", 0, -EBADMSG, 0 },
		{ "1_000", 0, -EBADMSG, 0 },
		{ "\x01\x02\x03", 0, -EBADMSG, 0 },
		{ "\xff\xfe", 0, -EBADMSG, 0 },
		{ "23\0", 3, -EBADMSG, 0 },
		{ "\0", 1, -EBADMSG, 0 },
		{ "2\x003", 3, -EBADMSG, 0 },
		{ "1\x7f", 0, -EBADMSG, 0 },
	};
	return cr_make_param_array(struct number_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct number_case *c, value,
		  rejects_what_is_not_a_finite_number)
{
	struct engine_value_spec spec;
	double v = -12345.0;
	int ret;

	engine_value_spec_init(&spec);
	ret = engine_value_parse(&spec, c->rec, case_len(c->rec, c->len), &v);
	cr_assert_eq(ret, c->ret, "record %zu bytes: got %d", c->len, ret);
	cr_assert_eq(v, -12345.0, "the value is left alone on error");
}

Test(value, huge_digit_strings_are_numbers_until_they_overflow)
{
	struct engine_value_spec spec;
	char rec[400];
	double v;

	engine_value_spec_init(&spec);
	memset(rec, '9', 300);
	cr_assert_eq(engine_value_parse(&spec, rec, 300, &v), 0);
	cr_assert(isfinite(v) && v > 9e299);
	memset(rec, '9', 310);
	cr_assert_eq(engine_value_parse(&spec, rec, 310, &v), -EBADMSG);
}

Test(value, an_underflow_is_read_as_the_nearest_value)
{
	struct engine_value_spec spec;
	double v = 1.0;

	engine_value_spec_init(&spec);
	cr_assert_eq(engine_value_parse(&spec, "1e-400", 6, &v), 0);
	cr_assert(v >= 0.0 && v < 1e-300);
}

Test(value, a_finite_raw_that_calibrates_to_infinity_is_ebadmsg)
{
	struct engine_value_spec spec;
	double v;

	engine_value_spec_init(&spec);
	spec.scale = 10.0;
	cr_assert_eq(engine_value_parse(&spec, "1e308", 5, &v), -EBADMSG);
	spec.scale = 1.0;
	spec.offset = 1e308;
	cr_assert_eq(engine_value_parse(&spec, "1e308", 5, &v), -EBADMSG);
}

Test(value, applies_offset_then_scale)
{
	struct engine_value_spec spec;
	double v;

	engine_value_spec_init(&spec);
	spec.scale = 0.001;
	cr_assert_eq(engine_value_parse(&spec, "23500", 5, &v), 0);
	cr_assert_float_eq(v, 23.5, 1e-12);

	spec.offset = -5.0;
	spec.scale = 2.0;
	cr_assert_eq(engine_value_parse(&spec, "10", 2, &v), 0);
	cr_assert_eq(v, 10.0);
}

struct range_case {
	char rec[16];
	int ret;
};

ParameterizedTestParameters(value, checks_the_calibrated_value_against_min_max)
{
	static struct range_case cases[] = {
		{ "0", 0 },	      { "100", 0 },
		{ "50.5", 0 },	      { "100.0001", -ERANGE },
		{ "-0.5", -ERANGE },  { "1e6", -ERANGE },
		{ "-1e-9", -ERANGE },
	};
	return cr_make_param_array(struct range_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct range_case *c, value,
		  checks_the_calibrated_value_against_min_max)
{
	struct engine_value_spec spec;
	double v;

	engine_value_spec_init(&spec);
	spec.min = 0.0;
	spec.max = 100.0;
	cr_assert_eq(engine_value_parse(&spec, c->rec, strlen(c->rec), &v),
		     c->ret, "'%s'", c->rec);
}

Test(value, min_max_apply_after_calibration)
{
	struct engine_value_spec spec;
	double v;

	engine_value_spec_init(&spec);
	spec.scale = 0.001;
	spec.max = 30.0;
	cr_assert_eq(engine_value_parse(&spec, "29999", 5, &v), 0);
	cr_assert_eq(engine_value_parse(&spec, "30001", 5, &v), -ERANGE);
}

struct field_case {
	char rec[32];
	unsigned field;
	int ret;
	double want;
};

ParameterizedTestParameters(value, picks_the_whitespace_separated_field)
{
	static struct field_case cases[] = {
		{ "a 1 2.5  3", 2, 0, 2.5 },
		{ "a 1 2.5  3", 3, 0, 3.0 },
		{ "a 1 2.5  3", 4, -EBADMSG, 0 },
		{ "a 1 2.5  3", 0, -EBADMSG, 0 },
		{ "cpu\t 17\t\t4", 1, 0, 17.0 },
		{ "  5 6\r\n", 1, 0, 6.0 },
		{ "  5 6\r\n", 2, -EBADMSG, 0 },
		{ "23.5 \xc2\xb0"
		  "C",
		  0, 0, 23.5 },
		{ "\x01\x02 8", 1, 0, 8.0 },
		{ "", 0, -EBADMSG, 0 },
	};
	return cr_make_param_array(struct field_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct field_case *c, value,
		  picks_the_whitespace_separated_field)
{
	struct engine_value_spec spec;
	double v = -1.0;

	engine_value_spec_init(&spec);
	spec.field = c->field;
	cr_assert_eq(engine_value_parse(&spec, c->rec, strlen(c->rec), &v),
		     c->ret, "'%s' field %u", c->rec, c->field);
	if (c->ret == 0)
		cr_assert_eq(v, c->want);
}

Test(value, a_record_of_4096_bytes_is_read_and_4097_is_emsgsize)
{
	static char rec[ENGINE_VALUE_RECORD_MAX + 1];
	struct engine_value_spec spec;
	double v = 0;

	engine_value_spec_init(&spec);
	memset(rec, ' ', sizeof(rec));
	rec[ENGINE_VALUE_RECORD_MAX - 1] = '7';
	cr_assert_eq(
		engine_value_parse(&spec, rec, ENGINE_VALUE_RECORD_MAX, &v), 0);
	cr_assert_eq(v, 7.0);
	cr_assert_eq(engine_value_parse(&spec, rec, sizeof(rec), &v),
		     -EMSGSIZE);
}

Test(value, a_4096_digit_field_fits_the_bounded_copy)
{
	static char rec[ENGINE_VALUE_RECORD_MAX];
	struct engine_value_spec spec;
	double v = 0;

	engine_value_spec_init(&spec);
	memset(rec, '0', sizeof(rec));
	rec[sizeof(rec) - 1] = '5';
	cr_assert_eq(engine_value_parse(&spec, rec, sizeof(rec), &v), 0);
	cr_assert_eq(v, 5.0);
}

struct line_case {
	char buf[32];
	unsigned line, field;
	int ret;
	double want;
};

ParameterizedTestParameters(value, picks_the_line_then_the_field)
{
	static struct line_case cases[] = {
		{ "a\nb 7\nc", 1, 1, 0, 7.0 },
		{ "a\nb 7\nc", 2, 0, -EBADMSG, 0 },
		{ "a\nb 7\nc", 3, 0, -EBADMSG, 0 },
		{ "1\n2\n", 1, 0, 0, 2.0 },
		{ "1\n2\n", 2, 0, -EBADMSG, 0 },
		{ "1\r\n2\r\n", 1, 0, 0, 2.0 },
		{ "1\n\n3\n", 1, 0, -EBADMSG, 0 },
		{ "1\n\n3\n", 2, 0, 0, 3.0 },
		{ "42", 0, 0, 0, 42.0 },
		{ "", 0, 0, -EBADMSG, 0 },
		{ "cpu 1 2 3\ncpu0 4 5 6\n", 1, 3, 0, 6.0 },
	};
	return cr_make_param_array(struct line_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct line_case *c, value, picks_the_line_then_the_field)
{
	struct engine_value_spec spec;
	double v = -1.0;

	engine_value_spec_init(&spec);
	spec.line = c->line;
	spec.field = c->field;
	cr_assert_eq(
		engine_value_parse_lines(&spec, c->buf, strlen(c->buf), &v),
		c->ret, "line %u field %u", c->line, c->field);
	if (c->ret == 0)
		cr_assert_eq(v, c->want);
}

Test(value, the_size_limit_applies_to_the_chosen_line)
{
	static char buf[3 * ENGINE_VALUE_RECORD_MAX];
	struct engine_value_spec spec;
	size_t len;
	double v = 0;

	/* Line 0 is 5000 bytes, line 1 is "9": a big file, a small record. */
	memset(buf, 'x', 5000);
	buf[5000] = '\n';
	memcpy(buf + 5001, "9\n", 2);
	len = 5003;
	engine_value_spec_init(&spec);
	spec.line = 1;
	cr_assert_eq(engine_value_parse_lines(&spec, buf, len, &v), 0);
	cr_assert_eq(v, 9.0);
	spec.line = 0;
	cr_assert_eq(engine_value_parse_lines(&spec, buf, len, &v), -EMSGSIZE);
}

Test(value, pick_line_and_field_point_into_the_input)
{
	const char *buf = "x y\nfoo  bar baz\n", *out;
	size_t len;

	cr_assert_eq(engine_value_pick_line(buf, strlen(buf), 1, &out, &len),
		     0);
	cr_assert_eq(out, buf + 4);
	cr_assert_eq(len, 12);
	cr_assert_eq(engine_value_pick_field(out, len, 2, &out, &len), 0);
	cr_assert_eq(len, 3);
	cr_assert(memcmp(out, "baz", 3) == 0);
}

Test(value, number_takes_the_whole_text_and_nothing_else)
{
	double v;

	cr_assert_eq(engine_value_number("12.5", 4, &v), 0);
	cr_assert_eq(v, 12.5);
	cr_assert_eq(engine_value_number("12.5 ", 5, &v), -EBADMSG);
	cr_assert_eq(engine_value_number(" 12.5", 5, &v), -EBADMSG);
	/* Only the given length is read: "12.5" cut after "12". */
	cr_assert_eq(engine_value_number("12.5", 2, &v), 0);
	cr_assert_eq(v, 12.0);
}

Test(value, spec_defaults_are_identity_and_unbounded)
{
	struct engine_value_spec spec;

	engine_value_spec_init(&spec);
	cr_assert_eq(spec.line, 0);
	cr_assert_eq(spec.field, 0);
	cr_assert_eq(spec.offset, 0.0);
	cr_assert_eq(spec.scale, 1.0);
	cr_assert(isinf(spec.min) && spec.min < 0);
	cr_assert(isinf(spec.max) && spec.max > 0);
}
