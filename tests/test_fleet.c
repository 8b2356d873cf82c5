/* SPDX-License-Identifier: MIT */
/*
 * test_fleet.c - the pure core of ringside-bridge (clients/fleet.c): the
 * names of batches in a stream and their parsers fed with junk, the
 * cursor file and its corruptions, the resume decision with its gap
 * cases, and the window of publishes awaiting acks.  No NATS server and
 * no segment: plain functions of their input and a clock passed in.
 *
 * Parameters hold arrays, not pointers: Criterion runs each case in a
 * fresh process where the parent's addresses mean nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "../clients/fleet.h"

TestSuite(fleet, .timeout = 10);

/* ---- message ids ---------------------------------------------------------- */

struct id_case {
	char text[160];
	char host[64];
	char name[RINGSIDE_NAME_MAX + 1];
	unsigned long long epoch, first, seq;
	bool gap;
};

ParameterizedTestParameters(fleet, formats_and_parses_message_ids)
{
	static struct id_case cases[] = {
		{ "rack1.site/plant1/1795995621000000/42", "rack1.site",
		  "plant1", 1795995621000000ULL, 42, 42, false },
		{ "h/e/1/1", "h", "e", 1, 1, 1, false },
		{ "h/e/7/gap-3-9", "h", "e", 7, 3, 9, true },
		{ "h/e/7/gap-5-5", "h", "e", 7, 5, 5, true },
		{ "a-b_c:1/E_2-x/18446744073709551615/18446744073709551615",
		  "a-b_c:1", "E_2-x", 18446744073709551615ULL,
		  18446744073709551615ULL, 18446744073709551615ULL, false },
		{ "h.x.y/e/10/gap-1-18446744073709551615", "h.x.y", "e", 10, 1,
		  18446744073709551615ULL, true },
	};

	return cr_make_param_array(struct id_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct id_case *c, fleet, formats_and_parses_message_ids)
{
	struct fleet_id id, back;
	char buf[FLEET_ID_MAX];

	memset(&id, 0, sizeof(id));
	snprintf(id.host, sizeof(id.host), "%s", c->host);
	snprintf(id.name, sizeof(id.name), "%s", c->name);
	id.epoch = c->epoch;
	id.first = c->first;
	id.seq = c->seq;
	id.gap = c->gap;
	cr_assert_eq(fleet_id_format(buf, sizeof(buf), &id),
		     (int)strlen(c->text));
	cr_assert_str_eq(buf, c->text);
	cr_assert_eq(fleet_id_parse(c->text, &back), 0, "%s", c->text);
	cr_assert_str_eq(back.host, c->host);
	cr_assert_str_eq(back.name, c->name);
	cr_assert_eq(back.epoch, c->epoch);
	cr_assert_eq(back.first, c->first);
	cr_assert_eq(back.seq, c->seq);
	cr_assert_eq(back.gap, c->gap);
}

struct junk_case {
	char text[96];
};

ParameterizedTestParameters(fleet, refuses_message_ids_that_are_not_ours)
{
	static struct junk_case cases[] = {
		{ "" },
		{ "junk" },
		{ "h/e/1" },
		{ "h/e/1/" },
		{ "h/e//2" },
		{ "h//1/2" },
		{ "/e/1/2" },
		{ "h/e/1/2/3" },
		{ "h/e/0/2" },
		{ "h/e/1/0" },
		{ "h/e/01/2" },
		{ "h/e/1/02" },
		{ "h/e/1/+2" },
		{ "h/e/-1/2" },
		{ "h/e/1/2x" },
		{ "h/e/1/ 2" },
		{ "h/e/1/2\n" },
		{ "h/e/18446744073709551616/2" },
		{ "h/e/1/99999999999999999999" },
		{ "h/e!/1/2" },
		{ "h/012345678901234567890123456789012/1/2" },
		{ "h x/e/1/2" },
		{ "h*/e/1/2" },
		{ "h/e/1/gap-5-4" },
		{ "h/e/1/gap-0-4" },
		{ "h/e/1/gap-1" },
		{ "h/e/1/gap-1-" },
		{ "h/e/1/gap--2" },
		{ "h/e/1/gap-1-2-3" },
		{ "h/e/1/GAP-1-2" },
		{ "h/e/1/gap1-2" },
	};

	return cr_make_param_array(struct junk_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct junk_case *c, fleet,
		  refuses_message_ids_that_are_not_ours)
{
	struct fleet_id id;

	memset(&id, 0x5a, sizeof(id));
	cr_assert_eq(fleet_id_parse(c->text, &id), -EINVAL, "'%s'", c->text);
	cr_assert_eq(id.epoch, 0, "a refused id leaves no position behind");
	cr_assert_eq(id.seq, 0);
	cr_assert_eq(id.host[0], '\0');
}

Test(fleet, refuses_to_format_ids_it_could_not_parse_back)
{
	struct fleet_id id;
	char buf[FLEET_ID_MAX];

	memset(&id, 0, sizeof(id));
	strcpy(id.host, "a/b");
	strcpy(id.name, "e");
	id.epoch = id.seq = id.first = 1;
	cr_assert_eq(fleet_id_format(buf, sizeof(buf), &id), -EINVAL);
	strcpy(id.host, "h");
	strcpy(id.name, "bad name");
	cr_assert_eq(fleet_id_format(buf, sizeof(buf), &id), -EINVAL);
	strcpy(id.name, "e");
	id.epoch = 0;
	cr_assert_eq(fleet_id_format(buf, sizeof(buf), &id), -EINVAL);
	id.epoch = 1;
	id.seq = 0;
	cr_assert_eq(fleet_id_format(buf, sizeof(buf), &id), -EINVAL);
	id.gap = true;
	id.first = 5;
	id.seq = 4;
	cr_assert_eq(fleet_id_format(buf, sizeof(buf), &id), -EINVAL);
	id.first = 4;
	cr_assert_eq(fleet_id_format(buf, 8, &id), -ENOSPC);
	cr_assert_eq(fleet_id_format(buf, sizeof(buf), &id), 13);
	cr_assert_str_eq(buf, "h/e/1/gap-4-4");
}

/* ---- subjects, names --------------------------------------------------------- */

struct subject_case {
	char prefix[48];
	char host[48];
	char name[40];
	char want[96]; /* "" when refused */
};

ParameterizedTestParameters(
	fleet, builds_the_subject_with_the_hosts_dots_as_underscores)
{
	static struct subject_case cases[] = {
		{ "ringside", "rack1.site", "plant1",
		  "ringside.rack1_site.plant1" },
		{ "a.b", "h", "e", "a.b.h.e" },
		{ "ringside", "h.", "e", "ringside.h_.e" },
		{ "ringside", ".h", "e", "ringside._h.e" },
		{ "ringside", "h:1", "e-x_y", "ringside.h:1.e-x_y" },
		{ "", "h", "e", "" },
		{ ".a", "h", "e", "" },
		{ "a.", "h", "e", "" },
		{ "a..b", "h", "e", "" },
		{ "a.*", "h", "e", "" },
		{ "a.>", "h", "e", "" },
		{ "a b", "h", "e", "" },
		{ "ringside", "", "e", "" },
		{ "ringside", "h*", "e", "" },
		{ "ringside", "h/x", "e", "" },
		{ "ringside", "h x", "e", "" },
		{ "ringside", "h", "", "" },
		{ "ringside", "h", "e.x", "" },
	};

	return cr_make_param_array(struct subject_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct subject_case *c, fleet,
		  builds_the_subject_with_the_hosts_dots_as_underscores)
{
	char buf[FLEET_SUBJECT_MAX];
	int ret = fleet_subject(buf, sizeof(buf), c->prefix, c->host, c->name);

	if (c->want[0] == '\0') {
		cr_assert_eq(ret, -EINVAL, "'%s' '%s' '%s' gave %d", c->prefix,
			     c->host, c->name, ret);
		return;
	}
	cr_assert_eq(ret, (int)strlen(c->want));
	cr_assert_str_eq(buf, c->want);
}

Test(fleet, a_subject_too_long_for_the_buffer_is_refused)
{
	char buf[16];

	cr_assert_eq(
		fleet_subject(buf, sizeof(buf), "ringside", "host", "engine"),
		-ENOSPC);
}

struct match_case {
	char pattern[32];
	char subject[32];
	int want;
};

ParameterizedTestParameters(fleet, matches_subjects_as_nats_does)
{
	static struct match_case cases[] = {
		{ "ringside.>", "ringside.h.e", 1 },
		{ "ringside.>", "ringside.h", 1 },
		{ "ringside.>", "ringside", 0 },
		{ ">", "a", 1 },
		{ ">", "a.b.c", 1 },
		{ "ringside.*.e", "ringside.h.e", 1 },
		{ "ringside.*.e", "ringside.h.f", 0 },
		{ "ringside.*", "ringside.h.e", 0 },
		{ "*.*.*", "a.b.c", 1 },
		{ "a.b.c", "a.b.c", 1 },
		{ "a.b.c", "a.b", 0 },
		{ "a.b", "a.b.c", 0 },
		{ "a.bc", "a.b", 0 },
		{ "ringsid.>", "ringside.h", 0 },
		{ "other.>", "ringside.h.e", 0 },
	};

	return cr_make_param_array(struct match_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct match_case *c, fleet, matches_subjects_as_nats_does)
{
	cr_assert_eq(fleet_subject_match(c->pattern, c->subject), c->want,
		     "'%s' ~ '%s'", c->pattern, c->subject);
}

Test(fleet, checks_hosts_prefixes_and_stream_names)
{
	char big[300];

	cr_assert(fleet_host_valid("rack1.site"));
	cr_assert(fleet_host_valid("h\"x"));
	cr_assert_not(fleet_host_valid(""));
	cr_assert_not(fleet_host_valid("a\tb"));
	cr_assert_not(fleet_host_valid("a\xc3\xa9"));
	memset(big, 'h', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_not(fleet_host_valid(big));
	big[FLEET_HOST_MAX] = '\0';
	cr_assert(fleet_host_valid(big));

	cr_assert(fleet_stream_valid("RINGSIDE"));
	cr_assert(fleet_stream_valid("plant-1_x"));
	cr_assert_not(fleet_stream_valid(""));
	cr_assert_not(fleet_stream_valid("A.B"));
	cr_assert_not(fleet_stream_valid("A*"));
	cr_assert_not(fleet_stream_valid("A>"));
	cr_assert_not(fleet_stream_valid("a/b"));
	cr_assert_not(fleet_stream_valid("a\\b"));
	cr_assert_not(fleet_stream_valid("a b"));
}

/* ---- gap markers -------------------------------------------------------------- */

Test(fleet, writes_the_gap_marker_of_the_contract)
{
	struct fleet_id gap;
	char buf[FLEET_GAP_DATA_MAX];

	memset(&gap, 0, sizeof(gap));
	strcpy(gap.host, "rack1.site");
	strcpy(gap.name, "plant1");
	gap.epoch = 1795995621000000ULL;
	gap.first = 101;
	gap.seq = 350;
	gap.gap = true;
	cr_assert_gt(fleet_gap_data(buf, sizeof(buf), &gap), 0);
	cr_assert_str_eq(buf,
			 "{\"engine\":\"plant1\",\"host\":\"rack1.site\","
			 "\"epoch\":1795995621000000,\"gap\":{\"first\":101,"
			 "\"last\":350,\"lost\":250}}");
	cr_assert_eq(fleet_gap_header(buf, sizeof(buf), 101, 350), 7);
	cr_assert_str_eq(buf, "101-350");
	cr_assert_eq(fleet_gap_header(buf, sizeof(buf), 0, 350), -EINVAL);
	cr_assert_eq(fleet_gap_header(buf, sizeof(buf), 351, 350), -EINVAL);
	cr_assert_eq(fleet_gap_header(buf, 4, 101, 350), -ENOSPC);
}

Test(fleet, escapes_a_host_in_the_gap_markers_json)
{
	struct fleet_id gap;
	char buf[FLEET_GAP_DATA_MAX];

	memset(&gap, 0, sizeof(gap));
	strcpy(gap.host, "a\"b\\c");
	strcpy(gap.name, "e");
	gap.epoch = 1;
	gap.first = gap.seq = 7;
	gap.gap = true;
	cr_assert_gt(fleet_gap_data(buf, sizeof(buf), &gap), 0);
	cr_assert_str_eq(buf, "{\"engine\":\"e\",\"host\":\"a\\\"b\\\\c\","
			      "\"epoch\":1,\"gap\":{\"first\":7,\"last\":7,"
			      "\"lost\":1}}");
	/* The longest host, every character escaped, still fits. */
	memset(gap.host, '"', FLEET_HOST_MAX);
	gap.host[FLEET_HOST_MAX] = '\0';
	gap.epoch = gap.seq = UINT64_MAX;
	gap.first = 1;
	cr_assert_gt(fleet_gap_data(buf, sizeof(buf), &gap), 0);
	gap.gap = false;
	cr_assert_eq(fleet_gap_data(buf, sizeof(buf), &gap), -EINVAL);
}

/* ---- the command line ---------------------------------------------------------- */

struct urls_case {
	char list[128];
	int want; /* count, or -errno */
	int distinct;
};

ParameterizedTestParameters(fleet, splits_and_checks_the_nats_list)
{
	static struct urls_case cases[] = {
		{ "nats://127.0.0.1:4222", 1, 1 },
		{ "nats://a:1,nats://b:2,nats://c:3", 3, 3 },
		{ "nats://a:1,tls://a:1,a:1", 3, 1 },
		{ "nats://a,nats://a:4222", 2, 1 },
		{ "nats://user:pw@h:4222,nats://h:4222", 2, 1 },
		{ "host", 1, 1 },
		{ "nats://[::1]:4222,[::1]", 2, 1 },
		{ "nats://h.example.com:65535", 1, 1 },
		{ "", -EINVAL, 0 },
		{ ",", -EINVAL, 0 },
		{ "nats://a:1,", -EINVAL, 0 },
		{ "nats://a:1,,nats://b:2", -EINVAL, 0 },
		{ "http://a:1", -EINVAL, 0 },
		{ "nats://", -EINVAL, 0 },
		{ "nats://:4222", -EINVAL, 0 },
		{ "nats://h:", -EINVAL, 0 },
		{ "nats://h:0", -EINVAL, 0 },
		{ "nats://h:65536", -EINVAL, 0 },
		{ "nats://h:42x", -EINVAL, 0 },
		{ "nats://h:4222/", -EINVAL, 0 },
		{ "nats://h h:1", -EINVAL, 0 },
		{ "nats://@h:1", -EINVAL, 0 },
		{ "nats://[::1", -EINVAL, 0 },
		{ "nats://[::1]x", -EINVAL, 0 },
		{ "nats://[zz]:1", -EINVAL, 0 },
		{ "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,A,B,C,"
		  "D,E,F,G",
		  -E2BIG, 0 },
	};

	return cr_make_param_array(struct urls_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct urls_case *c, fleet, splits_and_checks_the_nats_list)
{
	const char *urls[FLEET_URLS_MAX];
	char list[128];
	int n;

	memcpy(list, c->list, sizeof(list));
	n = fleet_urls_split(list, urls, FLEET_URLS_MAX);
	cr_assert_eq(n, c->want, "'%s' gave %d", c->list, n);
	if (n > 0)
		cr_assert_eq(fleet_servers_distinct(urls, n), c->distinct,
			     "'%s'", c->list);
}

struct duration_case {
	char text[24];
	int ret;
	unsigned long long ns;
};

ParameterizedTestParameters(fleet, parses_durations_as_the_engine_does)
{
	static struct duration_case cases[] = {
		{ "2s", 0, 2000000000ULL },
		{ "250ms", 0, 250000000ULL },
		{ "1.5s", 0, 1500000000ULL },
		{ "100", 0, 100000000ULL },
		{ "2m", 0, 120000000000ULL },
		{ "1h", 0, 3600000000000ULL },
		{ "10us", 0, 10000ULL },
		{ ".5s", 0, 500000000ULL },
		{ "0.0000000001s", 0, 0 },
		{ "", -EINVAL, 0 },
		{ "soon", -EINVAL, 0 },
		{ "s", -EINVAL, 0 },
		{ "-1s", -EINVAL, 0 },
		{ "1 s", -EINVAL, 0 },
		{ "1sec", -EINVAL, 0 },
		{ "1.s.", -EINVAL, 0 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "18446744073709551615h", -ERANGE, 0 },
	};

	return cr_make_param_array(struct duration_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct duration_case *c, fleet,
		  parses_durations_as_the_engine_does)
{
	uint64_t ns = 12345;

	cr_assert_eq(fleet_duration_parse(c->text, &ns), c->ret, "'%s'",
		     c->text);
	if (c->ret == 0)
		cr_assert_eq(ns, c->ns, "'%s': %llu", c->text,
			     (unsigned long long)ns);
	else
		cr_assert_eq(ns, 12345, "a refused duration is not stored");
}

Test(fleet, keeps_duplicates_long_enough_to_replay_the_ring)
{
	const uint64_t min = 120ULL * 1000000000ULL;

	cr_assert_eq(fleet_dup_window_ns(1024, 10000000ULL), min);
	cr_assert_eq(fleet_dup_window_ns(65536, 10000000ULL),
		     2ULL * 65536 * 10000000ULL);
	cr_assert_eq(fleet_dup_window_ns(6000, 10000000ULL), min);
	cr_assert_eq(fleet_dup_window_ns(6001, 10000000ULL),
		     2ULL * 6001 * 10000000ULL);
	cr_assert_eq(fleet_dup_window_ns(0, 0), min);
	cr_assert_eq(fleet_dup_window_ns(65536, UINT64_MAX),
		     (uint64_t)INT64_MAX);
	cr_assert_eq(fleet_dup_window_ns(65536, 3600ULL * 1000000000ULL * 24),
		     (uint64_t)INT64_MAX);
}

/* ---- the cursor file ---------------------------------------------------------- */

/* A fresh directory for this test's files; removed by the caller. */
static void fleet_tmpdir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/fleet-test-%d-XXXXXX", (int)getpid());
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void fleet_put(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void fleet_slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

Test(fleet, writes_the_cursor_atomically_and_reads_it_back)
{
	struct fleet_cursor c = { 1795995621000000ULL, 42 }, back;
	char dir[64], path[128], tmp[160], text[64];

	fleet_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/bridge-plant1.cursor", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cr_assert_eq(fleet_cursor_read(path, &back), -ENOENT);
	cr_assert_eq(fleet_cursor_write(path, &c), 0);
	fleet_slurp(path, text, sizeof(text));
	cr_assert_str_eq(text, "1795995621000000 42\n");
	cr_assert_eq(access(tmp, F_OK), -1, "the .tmp file is left behind");
	cr_assert_eq(fleet_cursor_read(path, &back), 0);
	cr_assert_eq(back.epoch, c.epoch);
	cr_assert_eq(back.seq, c.seq);

	/* Over an older cursor, and over a stale .tmp of a crashed run. */
	fleet_put(tmp, "junk", 4);
	c.seq = UINT64_MAX;
	cr_assert_eq(fleet_cursor_write(path, &c), 0);
	cr_assert_eq(fleet_cursor_read(path, &back), 0);
	cr_assert_eq(back.seq, UINT64_MAX);
	cr_assert_eq(access(tmp, F_OK), -1);

	unlink(path);
	rmdir(dir);
}

Test(fleet, a_cursor_that_cannot_be_written_leaves_nothing_behind)
{
	struct fleet_cursor c = { 7, 8 };
	char dir[64], path[160], longpath[PATH_MAX + 16];

	fleet_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/missing/bridge.cursor", dir);
	cr_assert_eq(fleet_cursor_write(path, &c), -ENOENT);
	/* A directory where the cursor should be: the rename fails. */
	snprintf(path, sizeof(path), "%s/adir", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_lt(fleet_cursor_write(path, &c), 0);
	snprintf(longpath, sizeof(longpath), "%s.tmp", path);
	cr_assert_eq(access(longpath, F_OK), -1, "the .tmp file stays");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	cr_assert_eq(fleet_cursor_write(longpath, &c), -ENAMETOOLONG);
	rmdir(path);
	rmdir(dir);
}

struct cursor_case {
	char text[80];
	size_t len; /* 0: strlen(text) */
	int ret;
	unsigned long long epoch, seq;
};

ParameterizedTestParameters(fleet, parses_cursor_files_and_refuses_corrupt_ones)
{
	static struct cursor_case cases[] = {
		{ "1795995621000000 42\n", 0, 0, 1795995621000000ULL, 42 },
		{ "5 0\n", 0, 0, 5, 0 },
		{ "5 7", 0, 0, 5, 7 },
		{ "18446744073709551615 18446744073709551615\n", 0, 0,
		  18446744073709551615ULL, 18446744073709551615ULL },
		{ "", 0, -EINVAL, 0, 0 },
		{ "\n", 0, -EINVAL, 0, 0 },
		{ "junk\n", 0, -EINVAL, 0, 0 },
		{ "5\n", 0, -EINVAL, 0, 0 },
		{ "5 \n", 0, -EINVAL, 0, 0 },
		{ " 5 7\n", 0, -EINVAL, 0, 0 },
		{ "5  7\n", 0, -EINVAL, 0, 0 },
		{ "5\t7\n", 0, -EINVAL, 0, 0 },
		{ "5 7 9\n", 0, -EINVAL, 0, 0 },
		{ "5 7\n\n", 0, -EINVAL, 0, 0 },
		{ "5 7\r\n", 0, -EINVAL, 0, 0 },
		{ "0 7\n", 0, -EINVAL, 0, 0 },
		{ "-5 7\n", 0, -EINVAL, 0, 0 },
		{ "5 -7\n", 0, -EINVAL, 0, 0 },
		{ "05 7\n", 0, -EINVAL, 0, 0 },
		{ "18446744073709551616 7\n", 0, -EINVAL, 0, 0 },
		{ "5 7\0garbage", 11, -EINVAL, 0, 0 },
		{ "5 7\n"
		  "000000000000000000000000000000000000000000000000000000000000"
		  "0",
		  0, -EINVAL, 0, 0 },
	};

	return cr_make_param_array(struct cursor_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct cursor_case *c, fleet,
		  parses_cursor_files_and_refuses_corrupt_ones)
{
	size_t len = c->len ? c->len : strlen(c->text);
	struct fleet_cursor cur = { 99, 99 };
	char dir[64], path[128];

	cr_assert_eq(fleet_cursor_parse(c->text, len, &cur), c->ret);
	if (c->ret == 0) {
		cr_assert_eq(cur.epoch, c->epoch);
		cr_assert_eq(cur.seq, c->seq);
	} else {
		cr_assert_eq(cur.epoch, 99, "a corrupt cursor is not stored");
	}
	/* The same bytes as a file. */
	fleet_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/c", dir);
	fleet_put(path, c->text, len);
	cr_assert_eq(fleet_cursor_read(path, &cur), c->ret);
	unlink(path);
	rmdir(dir);
}

Test(fleet, a_cursor_that_is_no_regular_file_is_corrupt_and_never_blocks)
{
	struct fleet_cursor c;
	char dir[64], path[128];

	fleet_tmpdir(dir, sizeof(dir));
	cr_assert_eq(fleet_cursor_read(dir, &c), -EINVAL);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	/* No writer: a blocking open or read would hang the test. */
	cr_assert_eq(fleet_cursor_read(path, &c), -EINVAL);
	unlink(path);
	rmdir(dir);
	cr_assert_eq(fleet_cursor_read("/dev/null", &c), -EINVAL);
}

/* ---- where to resume ------------------------------------------------------- */

/* A position, or none (epoch 0). */
struct pos {
	unsigned long long epoch, seq;
};

struct resume_case {
	char what[72];
	struct pos done, stream, cursor;
	unsigned long long oldest, newest;
	enum fleet_from from;
	/* The decision. */
	unsigned long long next, gap_first, gap_last;
	enum fleet_source source;
	unsigned ignored;
};

#define EP 1000 /* the segment's epoch */
#define OLD 900
#define NEWER 1100

ParameterizedTestParameters(fleet, decides_where_to_resume)
{
	static struct resume_case cases[] = {
		/* A first start: nothing known. */
		{ "fresh, --from oldest, ring full",
		  { 0 },
		  { 0 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  77,
		  0,
		  0,
		  FLEET_SOURCE_FROM,
		  0 },
		{ "fresh, --from oldest, nothing lost yet",
		  { 0 },
		  { 0 },
		  { 0 },
		  1,
		  40,
		  FLEET_FROM_OLDEST,
		  1,
		  0,
		  0,
		  FLEET_SOURCE_FROM,
		  0 },
		{ "fresh, --from now",
		  { 0 },
		  { 0 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_NOW,
		  1101,
		  0,
		  0,
		  FLEET_SOURCE_FROM,
		  0 },
		{ "fresh, --from now, empty ring",
		  { 0 },
		  { 0 },
		  { 0 },
		  1,
		  0,
		  FLEET_FROM_NOW,
		  1,
		  0,
		  0,
		  FLEET_SOURCE_FROM,
		  0 },
		{ "fresh, empty ring",
		  { 0 },
		  { 0 },
		  { 0 },
		  1,
		  0,
		  FLEET_FROM_OLDEST,
		  1,
		  0,
		  0,
		  FLEET_SOURCE_FROM,
		  0 },
		/* The stream says where: it wins over the cursor. */
		{ "stream",
		  { 0 },
		  { EP, 500 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_NOW,
		  501,
		  0,
		  0,
		  FLEET_SOURCE_STREAM,
		  0 },
		{ "stream over an older cursor",
		  { 0 },
		  { EP, 500 },
		  { EP, 300 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  501,
		  0,
		  0,
		  FLEET_SOURCE_STREAM,
		  0 },
		{ "stream over a newer cursor",
		  { 0 },
		  { EP, 500 },
		  { EP, 700 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  501,
		  0,
		  0,
		  FLEET_SOURCE_STREAM,
		  0 },
		{ "stream caught up",
		  { 0 },
		  { EP, 1100 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  1101,
		  0,
		  0,
		  FLEET_SOURCE_STREAM,
		  0 },
		{ "stream ends with a gap marker",
		  { 0 },
		  { EP, 600 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  601,
		  0,
		  0,
		  FLEET_SOURCE_STREAM,
		  0 },
		/* Gaps: the ring no longer holds the next batch. */
		{ "stream behind the ring: gap",
		  { 0 },
		  { EP, 50 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  77,
		  51,
		  76,
		  FLEET_SOURCE_STREAM,
		  0 },
		{ "stream one behind the ring: one lost",
		  { 0 },
		  { EP, 75 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  77,
		  76,
		  76,
		  FLEET_SOURCE_STREAM,
		  0 },
		{ "stream right before the ring: no gap",
		  { 0 },
		  { EP, 76 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  77,
		  0,
		  0,
		  FLEET_SOURCE_STREAM,
		  0 },
		{ "cursor behind the ring: gap",
		  { 0 },
		  { 0 },
		  { EP, 10 },
		  77,
		  1100,
		  FLEET_FROM_NOW,
		  77,
		  11,
		  76,
		  FLEET_SOURCE_CURSOR,
		  0 },
		{ "an ack lost, then the ring lapped us: the gap after the "
		  "stream",
		  { EP, 303 },
		  { EP, 304 },
		  { 0 },
		  1114,
		  2000,
		  FLEET_FROM_OLDEST,
		  1114,
		  305,
		  1113,
		  FLEET_SOURCE_DONE,
		  0 },
		{ "the stream holds up to the ring: no gap",
		  { EP, 303 },
		  { EP, 1113 },
		  { 0 },
		  1114,
		  2000,
		  FLEET_FROM_OLDEST,
		  1114,
		  0,
		  0,
		  FLEET_SOURCE_DONE,
		  0 },
		{ "own progress behind the ring: gap",
		  { EP, 20 },
		  { EP, 20 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  77,
		  21,
		  76,
		  FLEET_SOURCE_DONE,
		  0 },
		/* The cursor, when the stream knows nothing of this epoch. */
		{ "cursor, stream empty",
		  { 0 },
		  { 0 },
		  { EP, 300 },
		  77,
		  1100,
		  FLEET_FROM_NOW,
		  301,
		  0,
		  0,
		  FLEET_SOURCE_CURSOR,
		  0 },
		{ "cursor, stream of an older epoch",
		  { 0 },
		  { OLD, 9000 },
		  { EP, 300 },
		  77,
		  1100,
		  FLEET_FROM_NOW,
		  301,
		  0,
		  0,
		  FLEET_SOURCE_CURSOR,
		  0 },
		{ "cursor of an older epoch: from batch 1",
		  { 0 },
		  { 0 },
		  { OLD, 300 },
		  77,
		  1100,
		  FLEET_FROM_NOW,
		  77,
		  1,
		  76,
		  FLEET_SOURCE_FROM,
		  0 },
		/* A new epoch of an engine we followed: from its batch 1. */
		{ "new epoch after the stream's",
		  { 0 },
		  { OLD, 9000 },
		  { 0 },
		  1,
		  30,
		  FLEET_FROM_NOW,
		  1,
		  0,
		  0,
		  FLEET_SOURCE_FROM,
		  0 },
		{ "new epoch, its start overwritten",
		  { 0 },
		  { OLD, 9000 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  77,
		  1,
		  76,
		  FLEET_SOURCE_FROM,
		  0 },
		{ "new epoch after our own",
		  { OLD, 9000 },
		  { 0 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_NOW,
		  77,
		  1,
		  76,
		  FLEET_SOURCE_FROM,
		  0 },
		{ "new epoch, asked from the first",
		  { 0 },
		  { 0 },
		  { 0 },
		  5,
		  1100,
		  FLEET_FROM_FIRST,
		  5,
		  1,
		  4,
		  FLEET_SOURCE_FROM,
		  0 },
		{ "a newer epoch in the stream does not count",
		  { 0 },
		  { NEWER, 3 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  77,
		  0,
		  0,
		  FLEET_SOURCE_FROM,
		  0 },
		/* Our own progress after a failure. */
		{ "first not acked",
		  { EP, 400 },
		  { EP, 400 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  401,
		  0,
		  0,
		  FLEET_SOURCE_DONE,
		  0 },
		{ "first not acked, the stream holds more",
		  { EP, 400 },
		  { EP, 460 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  401,
		  0,
		  0,
		  FLEET_SOURCE_DONE,
		  0 },
		{ "the stream lost what was acked",
		  { EP, 400 },
		  { EP, 350 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  351,
		  0,
		  0,
		  FLEET_SOURCE_STREAM,
		  0 },
		{ "own progress, the stream empty",
		  { EP, 400 },
		  { 0 },
		  { EP, 10 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  401,
		  0,
		  0,
		  FLEET_SOURCE_DONE,
		  0 },
		{ "own progress, nothing acked yet",
		  { EP, 0 },
		  { 0 },
		  { 0 },
		  1,
		  1100,
		  FLEET_FROM_NOW,
		  1,
		  0,
		  0,
		  FLEET_SOURCE_DONE,
		  0 },
		/* Positions past what is published are junk. */
		{ "stream ahead of the ring: ignored",
		  { 0 },
		  { EP, 5000 },
		  { EP, 300 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  301,
		  0,
		  0,
		  FLEET_SOURCE_CURSOR,
		  FLEET_IGNORED_STREAM },
		{ "cursor ahead of the ring: ignored",
		  { 0 },
		  { 0 },
		  { EP, 5000 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  77,
		  0,
		  0,
		  FLEET_SOURCE_FROM,
		  FLEET_IGNORED_CURSOR },
		{ "both ahead: --from",
		  { 0 },
		  { EP, 1101 },
		  { EP, 1101 },
		  77,
		  1100,
		  FLEET_FROM_NOW,
		  1101,
		  0,
		  0,
		  FLEET_SOURCE_FROM,
		  FLEET_IGNORED_STREAM | FLEET_IGNORED_CURSOR },
		{ "stream ahead of own progress: own wins",
		  { EP, 400 },
		  { EP, 1200 },
		  { 0 },
		  77,
		  1100,
		  FLEET_FROM_OLDEST,
		  401,
		  0,
		  0,
		  FLEET_SOURCE_DONE,
		  FLEET_IGNORED_STREAM },
		{ "anything on an empty ring is ahead",
		  { 0 },
		  { EP, 1 },
		  { 0 },
		  1,
		  0,
		  FLEET_FROM_OLDEST,
		  1,
		  0,
		  0,
		  FLEET_SOURCE_FROM,
		  FLEET_IGNORED_STREAM },
	};

	return cr_make_param_array(struct resume_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

static const struct fleet_pos *pos_of(const struct pos *p,
				      struct fleet_pos *out)
{
	if (p->epoch == 0)
		return NULL;
	out->epoch = p->epoch;
	out->seq = p->seq;
	return out;
}

ParameterizedTest(struct resume_case *c, fleet, decides_where_to_resume)
{
	struct fleet_pos done, stream, cursor;
	struct fleet_resume_in in = {
		.done = pos_of(&c->done, &done),
		.stream = pos_of(&c->stream, &stream),
		.cursor = pos_of(&c->cursor, &cursor),
		.epoch = EP,
		.oldest = c->oldest,
		.newest = c->newest,
		.from = c->from,
	};
	struct fleet_resume out;

	memset(&out, 0x5a, sizeof(out));
	fleet_resume_decide(&in, &out);
	cr_assert_eq(out.next, c->next, "%s: next %llu, not %llu", c->what,
		     (unsigned long long)out.next, c->next);
	cr_assert_eq(out.gap_first, c->gap_first, "%s: gap from %llu", c->what,
		     (unsigned long long)out.gap_first);
	cr_assert_eq(out.gap_last, c->gap_last, "%s: gap to %llu", c->what,
		     (unsigned long long)out.gap_last);
	cr_assert_eq(out.source, c->source, "%s: source %d", c->what,
		     (int)out.source);
	cr_assert_eq(out.ignored, c->ignored, "%s: ignored 0x%x", c->what,
		     out.ignored);
	/* A gap always ends right before the batch that follows it. */
	if (out.gap_first != 0)
		cr_assert_eq(out.gap_last + 1, out.next, "%s", c->what);
}

/* ---- the window -------------------------------------------------------------- */

static void push(struct fleet_window *w, uint64_t seq, uintptr_t tag,
		 uint64_t now)
{
	struct fleet_pending p;

	memset(&p, 0, sizeof(p));
	p.first = p.seq = seq;
	p.tag = tag;
	cr_assert_eq(fleet_window_push(w, &p, now), 0);
}

Test(fleet, gives_results_back_in_send_order_whatever_order_they_come_in)
{
	struct fleet_pending slots[4], e;
	struct fleet_window w;

	fleet_window_init(&w, slots, 4);
	push(&w, 10, 0xa, 100);
	push(&w, 11, 0xb, 101);
	push(&w, 12, 0xc, 102);
	cr_assert_eq(w.count, 3);
	cr_assert_eq(w.unsettled, 3);
	/* The later ones answer first: nothing comes out yet. */
	cr_assert_eq(fleet_window_settle(&w, 0xc, FLEET_STORED, 502, 0, 0), 0);
	cr_assert_eq(fleet_window_settle(&w, 0xb, FLEET_DUPLICATE, 501, 0, 0),
		     0);
	cr_assert_eq(fleet_window_pop(&w, &e), 0);
	cr_assert_eq(fleet_window_oldest_unsettled(&w), 100);
	cr_assert_eq(fleet_window_settle(&w, 0xa, FLEET_STORED, 500, 0, 0), 0);
	cr_assert_eq(w.unsettled, 0);
	cr_assert_eq(fleet_window_oldest_unsettled(&w), UINT64_MAX);
	cr_assert_eq(fleet_window_pop(&w, &e), 1);
	cr_assert(e.seq == 10 && e.state == FLEET_STORED && e.sseq == 500);
	cr_assert_eq(fleet_window_pop(&w, &e), 1);
	cr_assert(e.seq == 11 && e.state == FLEET_DUPLICATE);
	cr_assert_eq(fleet_window_pop(&w, &e), 1);
	cr_assert(e.seq == 12 && e.sseq == 502);
	cr_assert_eq(fleet_window_pop(&w, &e), 0);
	cr_assert_eq(w.count, 0);
}

Test(fleet, wraps_round_its_ring_and_refuses_a_push_when_full)
{
	struct fleet_pending slots[3], p, e;
	struct fleet_window w;
	uint64_t seq;

	fleet_window_init(&w, slots, 3);
	memset(&p, 0, sizeof(p));
	for (seq = 1; seq <= 10; seq++) {
		push(&w, seq, (uintptr_t)seq, seq);
		if (seq >= 3) {
			cr_assert_eq(fleet_window_push(&w, &p, seq), -ENOSPC);
			cr_assert_eq(
				fleet_window_settle(&w, (uintptr_t)(seq - 2),
						    FLEET_STORED, seq, 0, 0),
				0);
			cr_assert_eq(fleet_window_pop(&w, &e), 1);
			cr_assert_eq(e.seq, seq - 2, "out of order");
		}
	}
	cr_assert_eq(w.count, 2);
	cr_assert_eq(fleet_window_front(&w)->seq, 9);
	fleet_window_clear(&w);
	cr_assert_eq(w.count, 0);
	cr_assert_null(fleet_window_front(&w));
	/* Results of what was given up are stale. */
	cr_assert_eq(fleet_window_settle(&w, 9, FLEET_STORED, 1, 0, 0),
		     -ENOENT);
}

Test(fleet, keeps_the_first_result_of_a_publish)
{
	struct fleet_pending slots[2], e;
	struct fleet_window w;

	fleet_window_init(&w, slots, 2);
	push(&w, 5, 0x55, 0);
	cr_assert_eq(fleet_window_settle(&w, 0x55, FLEET_TIMEDOUT, 0, 0, 0), 0);
	/* The ack that comes after the timeout changes nothing. */
	cr_assert_eq(fleet_window_settle(&w, 0x55, FLEET_STORED, 9, 0, 0), 0);
	cr_assert_eq(w.unsettled, 0);
	cr_assert_eq(fleet_window_pop(&w, &e), 1);
	cr_assert_eq(e.state, FLEET_TIMEDOUT);
	cr_assert_eq(e.sseq, 0);
	cr_assert_eq(fleet_window_settle(&w, 0x77, FLEET_FAILED, 0, 3, 10071),
		     -ENOENT);
}

Test(fleet, gives_a_reused_tag_its_result_at_the_publish_awaiting_it)
{
	struct fleet_pending slots[4], e;
	struct fleet_window w;

	fleet_window_init(&w, slots, 4);
	push(&w, 1, 0x1, 100);
	push(&w, 2, 0x2, 101);
	/* 2 answers before 1; its message is freed and the next publish
	 * gets the same address while 2 still waits behind 1. */
	cr_assert_eq(fleet_window_settle(&w, 0x2, FLEET_STORED, 52, 0, 0), 0);
	push(&w, 3, 0x2, 102);
	cr_assert_eq(w.unsettled, 2);
	cr_assert_eq(fleet_window_settle(&w, 0x2, FLEET_STORED, 53, 0, 0), 0);
	cr_assert_eq(w.unsettled, 1, "3's ack is not lost on 2's entry");
	/* A second result for that tag now finds no publish awaiting one. */
	cr_assert_eq(fleet_window_settle(&w, 0x2, FLEET_FAILED, 0, 1, 0), 0);
	cr_assert_eq(w.unsettled, 1);
	cr_assert_eq(fleet_window_settle(&w, 0x1, FLEET_STORED, 51, 0, 0), 0);
	cr_assert_eq(fleet_window_pop(&w, &e), 1);
	cr_assert(e.seq == 1 && e.sseq == 51);
	cr_assert_eq(fleet_window_pop(&w, &e), 1);
	cr_assert(e.seq == 2 && e.state == FLEET_STORED && e.sseq == 52);
	cr_assert_eq(fleet_window_pop(&w, &e), 1);
	cr_assert(e.seq == 3 && e.state == FLEET_STORED && e.sseq == 53);
	cr_assert_eq(fleet_window_pop(&w, &e), 0);
}

Test(fleet, times_out_publishes_by_their_own_send_time)
{
	struct fleet_pending slots[4], e;
	struct fleet_window w;

	fleet_window_init(&w, slots, 4);
	push(&w, 1, 1, 1000);
	push(&w, 2, 2, 1500);
	push(&w, 3, 3, 2000);
	cr_assert_eq(fleet_window_settle(&w, 1, FLEET_STORED, 7, 0, 0), 0);
	cr_assert_eq(fleet_window_expire(&w, 2499, 1000), 0);
	cr_assert_eq(fleet_window_expire(&w, 2500, 1000), 1);
	cr_assert_eq(fleet_window_oldest_unsettled(&w), 2000);
	cr_assert_eq(fleet_window_expire(&w, 2500, 1000), 0, "twice");
	cr_assert_eq(fleet_window_pop(&w, &e), 1);
	cr_assert_eq(e.state, FLEET_STORED, "an acked one does not expire");
	cr_assert_eq(fleet_window_pop(&w, &e), 1);
	cr_assert_eq(e.state, FLEET_TIMEDOUT);
	cr_assert_eq(fleet_window_pop(&w, &e), 0);
	/* A send time in the future (a clock passed in wrongly) is not
	 * taken as ancient. */
	cr_assert_eq(fleet_window_expire(&w, 10, 1000), 0);
}

Test(fleet, lets_a_publish_out_only_within_the_limit_and_the_fence)
{
	struct fleet_pending slots[4];
	struct fleet_window w;

	fleet_window_init(&w, slots, 4);
	cr_assert(fleet_window_may_send(&w, 1, 0, 100), "an empty window");
	push(&w, 1, 1, 1000);
	cr_assert_not(fleet_window_may_send(&w, 1, 1001, 100), "stop-and-wait");
	cr_assert(fleet_window_may_send(&w, 4, 1099, 100));
	cr_assert_not(fleet_window_may_send(&w, 4, 1100, 100),
		      "an ack late by the fence stops further sends");
	push(&w, 2, 2, 1050);
	push(&w, 3, 3, 1060);
	cr_assert_eq(fleet_window_settle(&w, 1, FLEET_STORED, 1, 0, 0), 0);
	cr_assert(fleet_window_may_send(&w, 4, 1120, 100),
		  "the fence counts from the oldest still in flight");
	push(&w, 4, 4, 1120);
	cr_assert_not(fleet_window_may_send(&w, 8, 1121, 100), "full");
	cr_assert_not(fleet_window_may_send(&w, 3, 1121, 100), "the limit");
	/* Everything settled, but not taken back yet: room decides. */
	cr_assert_eq(fleet_window_settle(&w, 2, FLEET_STORED, 2, 0, 0), 0);
	cr_assert_eq(fleet_window_settle(&w, 3, FLEET_STORED, 3, 0, 0), 0);
	cr_assert_eq(fleet_window_settle(&w, 4, FLEET_STORED, 4, 0, 0), 0);
	cr_assert_not(fleet_window_may_send(&w, 8, 99999, 100));
}
