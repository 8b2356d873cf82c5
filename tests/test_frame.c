/* SPDX-License-Identifier: MIT */
/*
 * test_frame.c - engine/frame.c cuts streams into lines: partial lines wait
 * for the rest across feeds, several lines in one feed come out one by one,
 * "\r\n" is accepted, a line of exactly 4096 bytes passes, and a longer one
 * (5000 bytes, or 1 MiB fed in chunks) gives exactly one -EMSGSIZE before
 * the framer picks up at the next line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "frame.h"

#define MAX_OUT 64

/* What came out of the framer: a line's text, or an error. */
struct out {
	int n;
	int ret[MAX_OUT];
	char *line[MAX_OUT];
};

static struct engine_frame fr;
static struct out out;

static void setup(void)
{
	engine_frame_init(&fr);
	memset(&out, 0, sizeof(out));
}

static void teardown(void)
{
	int i;

	for (i = 0; i < out.n; i++) {
		free(out.line[i]);
		out.line[i] = NULL;
	}
	out.n = 0;
}

TestSuite(frame, .init = setup, .fini = teardown);

static void drain(void)
{
	const char *line;
	int ret;

	while ((ret = engine_frame_next(&fr, &line)) != -EAGAIN) {
		cr_assert_lt(out.n, MAX_OUT, "too many results");
		out.ret[out.n] = ret;
		if (ret >= 0) {
			out.line[out.n] = malloc((size_t)ret + 1);
			memcpy(out.line[out.n], line, (size_t)ret);
			out.line[out.n][ret] = '\0';
		}
		out.n++;
	}
}

/* Feed len bytes the way the engine does: feed, drain, until all taken. */
static void feed(const char *data, size_t len)
{
	while (len > 0) {
		size_t k = engine_frame_feed(&fr, data, len);

		cr_assert_leq(k, len);
		data += k;
		len -= k;
		drain();
	}
}

static void feed_str(const char *s)
{
	feed(s, strlen(s));
}

static void expect_line(int i, const char *want)
{
	cr_assert_gt(out.n, i, "result %d missing", i);
	cr_assert_eq(out.ret[i], (int)strlen(want), "result %d: %d", i,
		     out.ret[i]);
	cr_assert_str_eq(out.line[i], want);
}

static void expect_error(int i, int err)
{
	cr_assert_gt(out.n, i, "result %d missing", i);
	cr_assert_eq(out.ret[i], err, "result %d: %d", i, out.ret[i]);
}

Test(frame, keeps_a_partial_line_across_feeds)
{
	feed_str("12");
	cr_assert_eq(out.n, 0);
	feed_str(".5");
	cr_assert_eq(out.n, 0);
	feed_str("\n3");
	cr_assert_eq(out.n, 1);
	expect_line(0, "12.5");
	feed_str("4\n");
	cr_assert_eq(out.n, 2);
	expect_line(1, "34");
}

Test(frame, hands_out_several_lines_of_one_feed_in_order)
{
	feed_str("1\n22\n333\n");
	cr_assert_eq(out.n, 3);
	expect_line(0, "1");
	expect_line(1, "22");
	expect_line(2, "333");
}

Test(frame, strips_crlf_and_returns_empty_lines)
{
	feed_str("a\r\nb\r\n\n\r\nc\rd\n");
	cr_assert_eq(out.n, 5);
	expect_line(0, "a");
	expect_line(1, "b");
	expect_line(2, "");
	expect_line(3, "");
	expect_line(4, "c\rd");
}

Test(frame, a_crlf_split_between_feeds_is_one_line_end)
{
	feed_str("7\r");
	cr_assert_eq(out.n, 0);
	feed_str("\n");
	cr_assert_eq(out.n, 1);
	expect_line(0, "7");
}

Test(frame, keeps_nul_and_binary_bytes_inside_a_line)
{
	const char *line;

	feed("a\0b\xff\n", 5);
	cr_assert_eq(out.n, 1);
	cr_assert_eq(out.ret[0], 4);
	cr_assert(memcmp(out.line[0], "a\0b\xff", 4) == 0);
	cr_assert_eq(engine_frame_next(&fr, &line), -EAGAIN);
}

struct size_case {
	size_t len; /* bytes before the line ending */
	bool crlf;
	int ret;
};

ParameterizedTestParameters(frame, limits_a_line_to_4096_bytes)
{
	static struct size_case cases[] = {
		{ 4095, false, 4095 },	    { 4096, false, 4096 },
		{ 4096, true, 4096 },	    { 4097, false, -EMSGSIZE },
		{ 4097, true, -EMSGSIZE },  { 4098, false, -EMSGSIZE },
		{ 5000, false, -EMSGSIZE }, { 9000, true, -EMSGSIZE },
	};
	return cr_make_param_array(struct size_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

/* The line, then a good one: the framer must resynchronise either way. */
ParameterizedTest(struct size_case *c, frame, limits_a_line_to_4096_bytes)
{
	size_t total = c->len + 2 + 5;
	char *data = malloc(total);
	size_t n = c->len;

	memset(data, 'x', c->len);
	if (c->crlf)
		data[n++] = '\r';
	data[n++] = '\n';
	memcpy(data + n, "42\n", 3);
	n += 3;
	feed(data, n);
	free(data);
	cr_assert_eq(out.n, 2, "%d results", out.n);
	cr_assert_eq(out.ret[0], c->ret);
	expect_line(1, "42");
}

Test(frame, a_5000_byte_line_fed_byte_by_byte_gives_one_error)
{
	size_t i;

	for (i = 0; i < 5000; i++)
		feed_str("9");
	feed_str("\nok\n");
	cr_assert_eq(out.n, 2);
	expect_error(0, -EMSGSIZE);
	expect_line(1, "ok");
}

Test(frame, a_1mib_line_in_chunks_gives_one_error_then_resyncs)
{
	static char chunk[4000];
	size_t left = 1 << 20;

	memset(chunk, 'z', sizeof(chunk));
	feed_str("before\n");
	while (left > 0) {
		size_t n = left < sizeof(chunk) ? left : sizeof(chunk);

		feed(chunk, n);
		left -= n;
	}
	feed_str("\r\n23.5\nafter");
	cr_assert_eq(out.n, 3);
	expect_line(0, "before");
	expect_error(1, -EMSGSIZE);
	expect_line(2, "23.5");
	feed_str("\n");
	expect_line(3, "after");
}

Test(frame, the_rest_of_a_discarded_line_can_hold_the_next_lines)
{
	static char big[6000];

	memset(big, 'q', sizeof(big));
	feed(big, sizeof(big));
	cr_assert_eq(out.n, 1);
	expect_error(0, -EMSGSIZE);
	feed_str("qqq\n1\n2\n");
	cr_assert_eq(out.n, 3);
	expect_line(1, "1");
	expect_line(2, "2");
}

Test(frame, many_lines_larger_than_the_buffer_in_one_feed)
{
	static char data[10000 * 5];
	const char *line;
	size_t i, taken = 0, len = sizeof(data);
	int count = 0, ret;

	for (i = 0; i < 10000; i++)
		memcpy(data + 5 * i, "1234\n", 5);
	while (taken < len) {
		taken += engine_frame_feed(&fr, data + taken, len - taken);
		while ((ret = engine_frame_next(&fr, &line)) != -EAGAIN) {
			cr_assert_eq(ret, 4);
			cr_assert(memcmp(line, "1234", 4) == 0);
			count++;
		}
	}
	cr_assert_eq(count, 10000);
}

Test(frame, reset_forgets_a_partial_line_and_a_discard)
{
	static char big[5000];

	feed_str("half a li");
	engine_frame_reset(&fr);
	feed_str("1\n");
	cr_assert_eq(out.n, 1);
	expect_line(0, "1");

	memset(big, 'b', sizeof(big));
	feed(big, sizeof(big));
	expect_error(1, -EMSGSIZE);
	engine_frame_reset(&fr);
	feed_str("2\n");
	cr_assert_eq(out.n, 3);
	expect_line(2, "2");
}

Test(frame, reads_straight_into_the_buffer_with_space_and_commit)
{
	const char *line;
	size_t avail;
	char *p;

	p = engine_frame_space(&fr, &avail);
	cr_assert_eq(avail, ENGINE_FRAME_BUF_SIZE);
	memcpy(p, "10\n2", 4);
	engine_frame_commit(&fr, 4);
	cr_assert_eq(engine_frame_next(&fr, &line), 2);
	cr_assert(memcmp(line, "10", 2) == 0);
	cr_assert_eq(engine_frame_next(&fr, &line), -EAGAIN);

	/* The partial "2" moves to the front; the room behind it is free. */
	p = engine_frame_space(&fr, &avail);
	cr_assert_eq(avail, ENGINE_FRAME_BUF_SIZE - 1);
	memcpy(p, "0\n", 2);
	engine_frame_commit(&fr, 2);
	cr_assert_eq(engine_frame_next(&fr, &line), 2);
	cr_assert(memcmp(line, "20", 2) == 0);
}

Test(frame, commit_drops_the_tail_of_an_overlong_line)
{
	const char *line;
	size_t avail;
	char *p;

	p = engine_frame_space(&fr, &avail);
	memset(p, 'x', avail);
	engine_frame_commit(&fr, avail);
	cr_assert_eq(engine_frame_next(&fr, &line), -EMSGSIZE);
	cr_assert_eq(engine_frame_next(&fr, &line), -EAGAIN);

	p = engine_frame_space(&fr, &avail);
	cr_assert_eq(avail, ENGINE_FRAME_BUF_SIZE);
	memcpy(p, "xxxx\n5\n", 7);
	engine_frame_commit(&fr, 7);
	cr_assert_eq(engine_frame_next(&fr, &line), 1);
	cr_assert_eq(line[0], '5');
	cr_assert_eq(engine_frame_next(&fr, &line), -EAGAIN);
}

Test(frame, draining_always_leaves_room_for_one_more_byte)
{
	const char *line;
	size_t i, avail;

	/* Fill to one byte short of an over-long line, one byte at a time. */
	for (i = 0; i < ENGINE_FRAME_BUF_SIZE - 1; i++) {
		cr_assert_eq(engine_frame_feed(&fr, "y", 1), 1);
		cr_assert_eq(engine_frame_next(&fr, &line), -EAGAIN);
		engine_frame_space(&fr, &avail);
		cr_assert_geq(avail, 1);
	}
	cr_assert_eq(engine_frame_feed(&fr, "y", 1), 1);
	cr_assert_eq(engine_frame_next(&fr, &line), -EMSGSIZE);
	cr_assert_eq(engine_frame_next(&fr, &line), -EAGAIN);
}
