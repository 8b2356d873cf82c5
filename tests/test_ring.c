/* SPDX-License-Identifier: MIT */
/*
 * test_ring.c - the behaviour of libringside's batch ring, first on plain
 * memory (ringside_writer_init_mem, ringside_reader_attach_mem), where
 * every outcome is exact and nothing sleeps, then on real segments in
 * /dev/shm, where liveness, epochs, permissions and hostile files come in.
 *
 * Every segment a test makes is named rt<pid>-<tag>, with the pid of the
 * test's own process (Criterion runs each test in a process of its own),
 * and the suite's .fini removes every /dev/shm entry carrying that prefix,
 * whether the test passed or failed.  Tests that involve another process
 * fork it; the child never asserts, it reports through its exit status.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <criterion/parameterized.h>

#include "layout.h"
#include "ringside.h"

/* ---- fixtures ----------------------------------------------------------- */

/* "rt<pid>-": the prefix of every segment name this test process uses. */
static char test_prefix[24];

static void ring_remove_files(void)
{
	char dot[48], plain[48];
	struct dirent *de;
	DIR *d;

	if (test_prefix[0] == '\0')
		return;
	snprintf(plain, sizeof(plain), "ringside.%s", test_prefix);
	snprintf(dot, sizeof(dot), ".ringside.%s", test_prefix);
	d = opendir("/dev/shm");
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strncmp(de->d_name, plain, strlen(plain)) != 0 &&
		    strncmp(de->d_name, dot, strlen(dot)) != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		unlinkat(dirfd(d), de->d_name,
			 S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
	}
	closedir(d);
}

static void ring_setup(void)
{
	snprintf(test_prefix, sizeof(test_prefix), "rt%ld-", (long)getpid());
}

static void ring_teardown(void)
{
	ring_remove_files();
}

TestSuite(ring, .init = ring_setup, .fini = ring_teardown);

/* A segment name for this test: rt<pid>-@tag (at most 32 characters). */
static void seg_name(char name[RINGSIDE_NAME_MAX + 1], const char *tag)
{
	int n = snprintf(name, RINGSIDE_NAME_MAX + 1, "%s%s", test_prefix, tag);

	cr_assert(n > 0 && n <= RINGSIDE_NAME_MAX, "name too long: %s", tag);
	cr_assert(ringside_name_valid(name));
}

static void seg_file(char *path, size_t len, const char *name)
{
	snprintf(path, len, "/dev/shm/ringside.%s", name);
}

/* Sensor names s0, s1, ...; units u0, u1, ... in one allocation. */
struct sensor_names {
	const char **names;
	const char **units;
	char (*buf)[2][16];
};

static void sensor_names_init(struct sensor_names *s, uint32_t n)
{
	uint32_t i;

	s->names = calloc(n, sizeof(*s->names));
	s->units = calloc(n, sizeof(*s->units));
	s->buf = calloc(n, sizeof(*s->buf));
	cr_assert(s->names && s->units && s->buf);
	for (i = 0; i < n; i++) {
		snprintf(s->buf[i][0], sizeof(s->buf[i][0]), "s%u", i);
		snprintf(s->buf[i][1], sizeof(s->buf[i][1]), "u%u", i);
		s->names[i] = s->buf[i][0];
		s->units[i] = s->buf[i][1];
	}
}

static void sensor_names_exit(struct sensor_names *s)
{
	free(s->names);
	free(s->units);
	free(s->buf);
}

static void params_init(struct ringside_params *p, const char *name,
			uint32_t ring, uint32_t nsensors)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->ring = ring;
	p->nsensors = nsensors;
	p->period_ns = 100000000;
	p->deadline_ns = 80000000;
	p->mode = 0600;
}

/* A segment in plain memory, with its writer. */
struct memseg {
	struct ringside_writer w;
	void *mem;
	size_t len;
	uint32_t ring;
	uint32_t nsensors;
};

static void memseg_init(struct memseg *m, uint32_t ring, uint32_t nsensors)
{
	struct ringside_params p;
	struct sensor_names sn;
	size_t alloc;

	m->ring = ring;
	m->nsensors = nsensors;
	m->len = ringside_segment_size(ring, nsensors);
	cr_assert_gt(m->len, 0);
	alloc = (m->len + SEG_PAGE - 1) / SEG_PAGE * SEG_PAGE;
	m->mem = aligned_alloc(SEG_PAGE, alloc);
	cr_assert_not_null(m->mem);
	memset(m->mem, 0xa5, alloc); /* init_mem must clear what it uses */
	params_init(&p, "memseg", ring, nsensors);
	sensor_names_init(&sn, nsensors);
	cr_assert_eq(ringside_writer_init_mem(&m->w, m->mem, m->len, &p,
					      sn.names, sn.units),
		     0);
	sensor_names_exit(&sn);
}

static void memseg_exit(struct memseg *m)
{
	free(m->mem);
	m->mem = NULL;
}

static void memseg_attach(struct memseg *m, struct ringside_reader *r,
			  unsigned flags)
{
	cr_assert_eq(ringside_reader_attach_mem(r, m->mem, m->len, flags), 0);
}

/*
 * The content of batch @seq: every field derived from seq and the sensor's
 * index, so that a reader can tell exactly which batch it holds.
 */
static void batch_make(uint64_t seq, uint32_t n, struct ringside_batch *b,
		       struct ringside_reading *v)
{
	uint32_t i;

	memset(b, 0, sizeof(*b));
	memset(v, 0, n * sizeof(*v));
	b->tick_us = 1700000000000000ull + seq * 100000;
	b->published_us = b->tick_us + 7;
	b->tick_mono_ns = seq * 1000003;
	b->published_mono_ns = b->tick_mono_ns + 11;
	b->total = n;
	for (i = 0; i < n; i++) {
		v[i].value = (double)seq * 1000.0 + i + 0.25;
		v[i].latency_us = (uint32_t)(seq * 31 + i);
		v[i].status = (uint8_t)((seq + i) % 4);
		v[i].flags = (uint8_t)(i & 1);
		v[i].attempts = (uint8_t)(1 + (seq + i) % 5);
		v[i].error = v[i].status == RINGSIDE_OK ? 0 : (uint8_t)(i + 1);
		if (v[i].status == RINGSIDE_OK)
			b->available++;
	}
	b->flags = b->available < n ? RINGSIDE_BATCH_DEGRADED : 0;
}

/* Publish one batch through @w; returns its seq. */
static uint64_t publish_one(struct ringside_writer *w, uint32_t n)
{
	struct ringside_reading *v = calloc(n, sizeof(*v));
	struct ringside_batch b;
	uint64_t seq = w->seq + 1;

	cr_assert_not_null(v);
	batch_make(seq, n, &b, v);
	cr_assert_eq(ringside_writer_publish(w, &b, v), 0);
	cr_assert_eq(b.seq, seq, "publish assigned seq %llu, expected %llu",
		     (unsigned long long)b.seq, (unsigned long long)seq);
	free(v);
	return seq;
}

static void publish_n(struct ringside_writer *w, uint32_t n, uint64_t count)
{
	uint64_t i;

	for (i = 0; i < count; i++)
		publish_one(w, n);
}

/* Check that @b and @v are batch @b->seq exactly as batch_make made it. */
static void batch_check(const struct ringside_batch *b,
			const struct ringside_reading *v, uint32_t n)
{
	struct ringside_reading *want = calloc(n, sizeof(*want));
	struct ringside_batch wb;

	cr_assert_not_null(want);
	batch_make(b->seq, n, &wb, want);
	cr_assert_eq(b->tick_us, wb.tick_us);
	cr_assert_eq(b->published_us, wb.published_us);
	cr_assert_eq(b->tick_mono_ns, wb.tick_mono_ns);
	cr_assert_eq(b->published_mono_ns, wb.published_mono_ns);
	cr_assert_eq(b->available, wb.available);
	cr_assert_eq(b->total, n);
	cr_assert_eq(b->flags, wb.flags);
	cr_assert_eq(b->nreadings, n);
	cr_assert_eq(memcmp(v, want, n * sizeof(*v)), 0,
		     "readings of batch %llu differ",
		     (unsigned long long)b->seq);
	free(want);
}

/* Take the next batch, which must be @seq after @lost lost ones. */
static void expect_next(struct ringside_reader *r, uint64_t seq, uint64_t lost)
{
	struct ringside_reading *v = calloc(r->nsensors, sizeof(*v));
	struct ringside_batch b;

	cr_assert_not_null(v);
	cr_assert_eq(ringside_reader_next(r, &b, v, r->nsensors), 1,
		     "no batch where %llu was expected",
		     (unsigned long long)seq);
	cr_assert_eq(b.seq, seq, "got batch %llu, expected %llu",
		     (unsigned long long)b.seq, (unsigned long long)seq);
	cr_assert_eq(b.lost, lost, "batch %llu: lost %llu, expected %llu",
		     (unsigned long long)seq, (unsigned long long)b.lost,
		     (unsigned long long)lost);
	batch_check(&b, v, r->nsensors);
	free(v);
}

static void expect_caught_up(struct ringside_reader *r)
{
	struct ringside_reading v[1];
	struct ringside_batch b = { 0 };

	cr_assert_eq(ringside_reader_next(r, &b, v, 1), 0,
		     "a batch (%llu) where none was expected",
		     (unsigned long long)b.seq);
}

/* Drain every batch there is; returns how many, checking each. */
static uint64_t drain(struct ringside_reader *r, uint64_t *last)
{
	struct ringside_reading *v = calloc(r->nsensors, sizeof(*v));
	struct ringside_batch b;
	uint64_t n = 0;

	cr_assert_not_null(v);
	while (ringside_reader_next(r, &b, v, r->nsensors) == 1) {
		batch_check(&b, v, r->nsensors);
		if (last != NULL) {
			cr_assert_eq(b.seq, *last + 1 + b.lost);
			*last = b.seq;
		}
		n++;
	}
	free(v);
	return n;
}

/* ---- the ring on plain memory ------------------------------------------- */

Test(ring, publishes_batches_that_a_reader_takes_in_order)
{
	struct ringside_reader r;
	struct memseg m;
	uint64_t i;

	memseg_init(&m, 8, 5);
	memseg_attach(&m, &r, RINGSIDE_FROM_OLDEST);
	cr_assert_eq(ringside_reader_head(&r), 0);
	expect_caught_up(&r);
	cr_assert_eq(ringside_reader_state(&r), RINGSIDE_TIMEOUT);

	publish_n(&m.w, 5, 5);
	cr_assert_eq(ringside_reader_head(&r), 5);
	cr_assert_eq(ringside_reader_state(&r), RINGSIDE_READY);
	for (i = 1; i <= 5; i++)
		expect_next(&r, i, 0);
	expect_caught_up(&r);
	cr_assert_eq(ringside_reader_state(&r), RINGSIDE_TIMEOUT);
	cr_assert_eq(ringside_reader_wait(&r, 0), RINGSIDE_TIMEOUT);
	ringside_reader_detach(&r);
	memseg_exit(&m);
}

Test(ring, wraps_around_without_loss_when_the_reader_keeps_up)
{
	struct ringside_reader r;
	struct memseg m;
	uint64_t seq = 0, round;

	memseg_init(&m, 4, 3);
	memseg_attach(&m, &r, 0);
	/* Bursts of 1..4 batches: the slot index wraps many times over. */
	for (round = 0; round < 40; round++) {
		uint64_t burst = 1 + round % 4, i;

		publish_n(&m.w, 3, burst);
		for (i = 0; i < burst; i++)
			expect_next(&r, ++seq, 0);
		expect_caught_up(&r);
	}
	cr_assert_eq(seq, 100);
	ringside_reader_detach(&r);
	memseg_exit(&m);
}

Test(ring, a_full_ring_is_read_whole_and_one_more_batch_loses_one)
{
	struct ringside_reader full, over;
	struct memseg m;
	uint64_t i;

	memseg_init(&m, 8, 2);
	memseg_attach(&m, &full, 0);
	memseg_attach(&m, &over, 0);
	publish_n(&m.w, 2, 8);
	for (i = 1; i <= 8; i++)
		expect_next(&full, i, 0);
	expect_caught_up(&full);

	/* Batch 9 takes batch 1's slot: a reader still at 1 lost it. */
	publish_one(&m.w, 2);
	expect_next(&over, 2, 1);
	for (i = 3; i <= 9; i++)
		expect_next(&over, i, 0);
	expect_caught_up(&over);
	expect_next(&full, 9, 0);
	memseg_exit(&m);
}

struct lag_case {
	uint32_t ring;
	uint32_t read_first; /* batches taken before falling behind (< ring) */
	uint64_t k;	     /* batches published beyond what the ring holds */
};

ParameterizedTestParameters(ring,
			    counts_exactly_the_batches_lost_by_a_lagging_reader)
{
	static struct lag_case cases[] = {
		{ 2, 0, 0 },	   { 2, 0, 1 },	      { 2, 1, 1 },
		{ 2, 1, 7 },	   { 8, 0, 1 },	      { 8, 0, 7 },
		{ 8, 0, 8 },	   { 8, 5, 9 },	      { 8, 2, 1000 },
		{ 64, 0, 63 },	   { 64, 10, 65 },    { 1024, 0, 1 },
		{ 1024, 1, 1023 }, { 1024, 7, 5000 },
	};

	return cr_make_param_array(struct lag_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct lag_case *c, ring,
		  counts_exactly_the_batches_lost_by_a_lagging_reader)
{
	struct ringside_reader r;
	struct memseg m;
	uint64_t i, first;

	memseg_init(&m, c->ring, 2);
	memseg_attach(&m, &r, 0);
	publish_n(&m.w, 2, c->read_first);
	for (i = 1; i <= c->read_first; i++)
		expect_next(&r, i, 0);

	/* ring + k more: the oldest k of the unread ones are overwritten. */
	publish_n(&m.w, 2, c->ring + c->k);
	first = c->read_first + c->k + 1;
	expect_next(&r, first, c->k);
	for (i = first + 1; i <= c->read_first + c->ring + c->k; i++)
		expect_next(&r, i, 0);
	expect_caught_up(&r);

	/* Caught up again, it loses nothing more. */
	publish_n(&m.w, 2, c->ring);
	for (i = 1; i <= c->ring; i++)
		expect_next(&r, c->read_first + c->ring + c->k + i, 0);
	expect_caught_up(&r);
	memseg_exit(&m);
}

Test(ring,
     from_now_waits_for_the_next_batch_and_from_oldest_takes_the_held_ones)
{
	struct ringside_reader oldest, now, dflt;
	struct memseg m;
	uint64_t i;

	memseg_init(&m, 8, 3);
	publish_n(&m.w, 3, 12); /* batches 5..12 are held */
	memseg_attach(&m, &oldest, RINGSIDE_FROM_OLDEST);
	memseg_attach(&m, &now, RINGSIDE_FROM_NOW);
	memseg_attach(&m, &dflt, 0);

	cr_assert_eq(ringside_reader_state(&now), RINGSIDE_TIMEOUT);
	expect_caught_up(&now);
	cr_assert_eq(ringside_reader_state(&oldest), RINGSIDE_READY);
	for (i = 5; i <= 12; i++) {
		expect_next(&oldest, i, 0);
		expect_next(&dflt, i, 0);
	}

	publish_one(&m.w, 3);
	expect_next(&now, 13, 0);
	expect_next(&oldest, 13, 0);
	expect_caught_up(&now);
	memseg_exit(&m);
}

Test(ring, readings_round_trip_bit_exact)
{
	static const uint64_t bits[] = {
		0x7ff8000000000001ull, /* quiet NaN with a payload */
		0x7ff0000000000001ull, /* signalling NaN */
		0xfff8000000000000ull, /* negative NaN */
		0x8000000000000000ull, /* -0.0 */
		0x7ff0000000000000ull, /* +inf */
		0xfff0000000000000ull, /* -inf */
		0x0000000000000001ull, /* smallest subnormal */
		0x7fefffffffffffffull, /* DBL_MAX */
	};
	enum { N = 8 };
	struct ringside_reading in[N], out[N + 2];
	struct ringside_batch b, got;
	struct ringside_reader r;
	struct memseg m;
	uint32_t i;

	memseg_init(&m, 4, N);
	memseg_attach(&m, &r, 0);
	memset(&b, 0, sizeof(b));
	for (i = 0; i < N; i++) {
		memcpy(&in[i].value, &bits[i], sizeof(double));
		in[i].latency_us = UINT32_MAX - i;
		in[i].status = (uint8_t)(i % 4);
		in[i].flags = 0xff;
		in[i].attempts = (uint8_t)(250 + i % 6);
		in[i].error = (uint8_t)(200 + i);
	}
	b.total = N;
	b.available = N + 100; /* a writer's lie is clamped to total */
	b.flags = 0xfffffffe;
	b.tick_us = UINT64_MAX;
	b.published_us = UINT64_MAX - 1;
	b.tick_mono_ns = 1;
	b.published_mono_ns = 0;
	cr_assert_eq(ringside_writer_publish(&m.w, &b, in), 0);

	memset(out, 0x5a, sizeof(out));
	cr_assert_eq(ringside_reader_next(&r, &got, out, N + 2), 1);
	cr_assert_eq(got.nreadings, N, "more readings than sensors");
	cr_assert_eq(memcmp(out, in, sizeof(in)), 0);
	for (i = 0; i < sizeof(out[N]) * 2; i++)
		cr_assert_eq(((unsigned char *)&out[N])[i], 0x5a,
			     "written past the readings");
	cr_assert_eq(got.total, N);
	cr_assert_eq(got.available, N);
	cr_assert_eq(got.flags, 0xfffffffe);
	cr_assert_eq(got.tick_us, UINT64_MAX);
	cr_assert_eq(got.published_us, UINT64_MAX - 1);
	cr_assert_eq(got.tick_mono_ns, 1);
	cr_assert_eq(got.published_mono_ns, 0);
	memseg_exit(&m);
}

Test(ring, copies_no_more_readings_than_the_caller_has_room_for)
{
	struct ringside_reading out[8];
	struct ringside_reader r;
	struct ringside_batch b;
	struct memseg m;
	uint32_t i;

	memseg_init(&m, 4, 6);
	memseg_attach(&m, &r, 0);
	publish_n(&m.w, 6, 2);
	memset(out, 0x5a, sizeof(out));
	cr_assert_eq(ringside_reader_next(&r, &b, out, 3), 1);
	cr_assert_eq(b.nreadings, 3);
	cr_assert_eq(b.total, 6);
	cr_assert_eq(out[0].value, 1000.25);
	cr_assert_eq(out[2].value, 1002.25);
	for (i = 3 * sizeof(out[0]); i < sizeof(out); i++)
		cr_assert_eq(((unsigned char *)out)[i], 0x5a);
	/* No room at all still yields the batch's header. */
	cr_assert_eq(ringside_reader_next(&r, &b, NULL, 0), 1);
	cr_assert_eq(b.seq, 2);
	cr_assert_eq(b.nreadings, 0);
	memseg_exit(&m);
}

Test(ring, never_returns_a_slot_the_writer_is_rewriting)
{
	struct seg_slot *slot;
	struct ringside_reader r;
	struct memseg m;

	memseg_init(&m, 8, 2);
	memseg_attach(&m, &r, 0);
	publish_n(&m.w, 2, 4);
	expect_next(&r, 1, 0);

	/* Batch 2's slot as the writer leaves it mid-copy (seq 0), and
	 * batch 3's as if already rewritten for batch 11: both are gone. */
	slot = seg_slot_at(m.mem, ((struct seg_header *)m.mem)->ring_off,
			   m.w.slot_size, 2 & 7);
	slot->seq = 0;
	slot = seg_slot_at(m.mem, ((struct seg_header *)m.mem)->ring_off,
			   m.w.slot_size, 3 & 7);
	slot->seq = 11;
	expect_next(&r, 4, 2);
	expect_caught_up(&r);
	memseg_exit(&m);
}

Test(ring, counters_round_trip_through_the_stats_seqlock)
{
	struct ringside_sensor_stats in[3], out[3];
	struct ringside_engine_stats ein, eout;
	struct ringside_reader r;
	struct memseg m;
	uint32_t i, j;

	memseg_init(&m, 4, 3);
	memseg_attach(&m, &r, 0);
	for (j = 0; j < RINGSIDE_EC_SLOTS; j++)
		ein.counter[j] = 0x0123456789abcdefull ^ (j * 0x1111);
	for (i = 0; i < 3; i++) {
		for (j = 0; j < RINGSIDE_SC_SLOTS; j++)
			in[i].counter[j] = ((uint64_t)i << 48) | j;
		for (j = 0; j < RINGSIDE_HIST_BUCKETS; j++)
			in[i].hist[j] = UINT64_MAX - i * 100 - j;
	}
	ringside_writer_stats_begin(&m.w);
	ringside_writer_engine_set(&m.w, &ein);
	for (i = 0; i < 3; i++)
		ringside_writer_sensor_set(&m.w, i, &in[i]);
	ringside_writer_sensor_set(&m.w, 3, &in[0]); /* out of range: no-op */
	ringside_writer_stats_end(&m.w);

	memset(out, 0, sizeof(out));
	cr_assert_eq(ringside_reader_stats(&r, &eout, out, 3), 0);
	cr_assert_eq(memcmp(&eout, &ein, sizeof(ein)), 0);
	cr_assert_eq(memcmp(out, in, sizeof(in)), 0);

	/* Fewer sensors than there are, no engine counters, too many. */
	memset(out, 0, sizeof(out));
	cr_assert_eq(ringside_reader_stats(&r, NULL, out, 1), 0);
	cr_assert_eq(memcmp(&out[0], &in[0], sizeof(in[0])), 0);
	cr_assert_eq(out[1].counter[1], 0);
	memset(out, 0, sizeof(out));
	cr_assert_eq(ringside_reader_stats(&r, NULL, out, 3), 0);
	cr_assert_eq(memcmp(out, in, sizeof(in)), 0);
	memseg_exit(&m);
}

Test(ring, counters_caught_mid_update_are_refused_with_eagain, .timeout = 10)
{
	struct ringside_engine_stats e = { { 0 } };
	struct ringside_reader r;
	struct memseg m;

	memseg_init(&m, 4, 1);
	memseg_attach(&m, &r, 0);
	ringside_writer_stats_begin(&m.w);
	e.counter[RINGSIDE_EC_BATCHES] = 42;
	ringside_writer_engine_set(&m.w, &e);
	/* A writer that dies here leaves the seqlock odd for good. */
	cr_assert_eq(ringside_reader_stats(&r, &e, NULL, 0), -EAGAIN);
	ringside_writer_stats_end(&m.w);
	memset(&e, 0, sizeof(e));
	cr_assert_eq(ringside_reader_stats(&r, &e, NULL, 0), 0);
	cr_assert_eq(e.counter[RINGSIDE_EC_BATCHES], 42);
	memseg_exit(&m);
}

Test(ring, reports_the_params_sensor_names_and_units_it_was_built_with)
{
	const char *names[] = { "temp", "p_1", "flow-2" };
	const char *units[] = { "degC", "", "l/min" };
	char name[RINGSIDE_NAME_MAX + 1], unit[RINGSIDE_UNIT_MAX + 1];
	struct ringside_writer w;
	struct ringside_params p, got;
	struct ringside_reader r;
	size_t len = ringside_segment_size(16, 3);
	void *mem = aligned_alloc(SEG_PAGE,
				  (len + SEG_PAGE - 1) / SEG_PAGE * SEG_PAGE);

	cr_assert_not_null(mem);
	params_init(&p, "plant_1-x", 16, 3);
	p.mode = 0640;
	cr_assert_eq(ringside_writer_init_mem(&w, mem, len, &p, names, units),
		     0);
	cr_assert_eq(ringside_reader_attach_mem(&r, mem, len, 0), 0);
	cr_assert_eq(ringside_reader_params(&r, &got), 0);
	cr_assert_str_eq(got.name, "plant_1-x");
	cr_assert_eq(got.ring, 16);
	cr_assert_eq(got.nsensors, 3);
	cr_assert_eq(got.period_ns, p.period_ns);
	cr_assert_eq(got.deadline_ns, p.deadline_ns);
	cr_assert_eq(got.mode, 0640);
	cr_assert_eq(r.epoch_us, w.epoch_us);
	cr_assert_eq(ringside_reader_pid(&r), getpid());
	for (uint32_t i = 0; i < 3; i++) {
		cr_assert_eq(ringside_reader_sensor(&r, i, name, unit), 0);
		cr_assert_str_eq(name, names[i]);
		cr_assert_str_eq(unit, units[i]);
	}
	cr_assert_eq(ringside_reader_sensor(&r, 3, name, unit), -EINVAL);
	free(mem);
}

Test(ring, publish_refuses_a_batch_of_the_wrong_size)
{
	struct ringside_reading v[4] = { { 0 } };
	struct ringside_reader r;
	struct ringside_batch b = { 0 };
	struct memseg m;

	memseg_init(&m, 4, 3);
	memseg_attach(&m, &r, 0);
	b.total = 4;
	cr_assert_eq(ringside_writer_publish(&m.w, &b, v), -EINVAL);
	b.total = 2;
	cr_assert_eq(ringside_writer_publish(&m.w, &b, v), -EINVAL);
	cr_assert_eq(ringside_reader_head(&r), 0);
	expect_caught_up(&r);
	publish_one(&m.w, 3);
	expect_next(&r, 1, 0);
	memseg_exit(&m);
}

struct bad_params {
	char name[40];
	uint32_t ring;
	uint32_t nsensors;
	uint32_t mode;
	int short_mem; /* offer one byte less than needed */
	int want;
};

ParameterizedTestParameters(ring, init_mem_refuses_bad_params)
{
	static struct bad_params cases[] = {
		{ "ok", 8, 4, 0600, 0, 0 },
		{ "ok", 3, 4, 0600, 0, -EINVAL },
		{ "ok", 1, 4, 0600, 0, -EINVAL },
		{ "ok", 0, 4, 0600, 0, -EINVAL },
		{ "ok", RINGSIDE_RING_MAX * 2, 4, 0600, 0, -EINVAL },
		{ "ok", 8, 0, 0600, 0, -EINVAL },
		{ "ok", 8, RINGSIDE_SENSORS_MAX + 1, 0600, 0, -EINVAL },
		{ "", 8, 4, 0600, 0, -EINVAL },
		{ "a.b", 8, 4, 0600, 0, -EINVAL },
		{ "a/b", 8, 4, 0600, 0, -EINVAL },
		{ "x23456789012345678901234567890123", 8, 4, 0600, 0, -EINVAL },
		{ "x2345678901234567890123456789012", 8, 4, 0600, 0, 0 },
		{ "ok", 8, 4, 01644, 0, -EINVAL },
		{ "ok", 8, 4, 0600, 1, -ENOSPC },
	};

	return cr_make_param_array(struct bad_params, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_params *c, ring, init_mem_refuses_bad_params)
{
	const char *names[] = { "a", "b", "c", "d" };
	struct ringside_writer w;
	struct ringside_params p;
	size_t len = ringside_segment_size(8, 4);
	void *mem = aligned_alloc(SEG_PAGE,
				  (len + SEG_PAGE - 1) / SEG_PAGE * SEG_PAGE);

	cr_assert_not_null(mem);
	memset(&p, 0, sizeof(p));
	memcpy(p.name, c->name, sizeof(p.name));
	p.ring = c->ring;
	p.nsensors = c->nsensors;
	p.mode = c->mode;
	cr_assert_eq(ringside_writer_init_mem(&w, mem,
					      c->short_mem ? len - 1 : len, &p,
					      names, NULL),
		     c->want, "name \"%s\" ring %u nsensors %u mode %o",
		     c->name, c->ring, c->nsensors, c->mode);
	free(mem);
}

Test(ring, segment_size_is_zero_for_an_impossible_geometry)
{
	cr_assert_eq(ringside_segment_size(3, 4), 0);
	cr_assert_eq(ringside_segment_size(0, 4), 0);
	cr_assert_eq(ringside_segment_size(RINGSIDE_RING_MAX * 2, 4), 0);
	cr_assert_eq(ringside_segment_size(8, RINGSIDE_SENSORS_MAX + 1), 0);
	cr_assert_eq(
		ringside_segment_size(RINGSIDE_RING_MAX, RINGSIDE_SENSORS_MAX) %
			SEG_CACHELINE,
		0);
	/* The header, the sensor table, then page-aligned slots. */
	cr_assert_eq(ringside_segment_size(8, 4), SEG_PAGE + 8 * (64 + 64));
}

Test(ring, names_are_one_to_32_of_letters_digits_dash_and_underscore)
{
	cr_assert(ringside_name_valid("a"));
	cr_assert(ringside_name_valid("Plant_1-b"));
	cr_assert(ringside_name_valid("x2345678901234567890123456789012"));
	cr_assert_not(ringside_name_valid("x23456789012345678901234567890123"));
	cr_assert_not(ringside_name_valid(""));
	cr_assert_not(ringside_name_valid("a b"));
	cr_assert_not(ringside_name_valid("../x"));
	cr_assert_not(ringside_name_valid("a.b"));
	cr_assert_not(ringside_name_valid("caf\xc3\xa9"));
}

Test(ring, a_closed_or_replaced_memory_segment_is_drained_first, .timeout = 10)
{
	struct ringside_reader r1, r2;
	struct memseg m1, m2;

	memseg_init(&m1, 4, 1);
	memseg_init(&m2, 4, 1);
	memseg_attach(&m1, &r1, 0);
	memseg_attach(&m2, &r2, 0);
	publish_n(&m1.w, 1, 2);
	publish_n(&m2.w, 1, 2);
	ringside_writer_close(&m1.w, 0);
	ringside_writer_close(&m2.w, 1);
	cr_assert_eq(ringside_reader_wait(&r1, 1000), RINGSIDE_READY);
	cr_assert_eq(ringside_reader_wait(&r2, 1000), RINGSIDE_READY);
	cr_assert_eq(drain(&r1, NULL), 2);
	cr_assert_eq(drain(&r2, NULL), 2);
	cr_assert_eq(ringside_reader_wait(&r1, 1000), RINGSIDE_CLOSED);
	cr_assert_eq(ringside_reader_wait(&r2, 1000), RINGSIDE_REPLACED);
	cr_assert_eq(ringside_reader_state(&r1), RINGSIDE_CLOSED);
	memseg_exit(&m1);
	memseg_exit(&m2);
}

Test(ring, a_detached_reader_refuses_to_work)
{
	struct ringside_reader r;
	struct ringside_batch b;
	struct ringside_params p;
	struct memseg m;

	memseg_init(&m, 4, 1);
	memseg_attach(&m, &r, 0);
	ringside_reader_detach(&r);
	cr_assert_eq(ringside_reader_next(&r, &b, NULL, 0), -EINVAL);
	cr_assert_eq(ringside_reader_wait(&r, 0), -EINVAL);
	cr_assert_eq(ringside_reader_state(&r), -EINVAL);
	cr_assert_eq(ringside_reader_params(&r, &p), -EINVAL);
	cr_assert_eq(ringside_reader_stats(&r, NULL, NULL, 0), -EINVAL);
	cr_assert_eq(ringside_reader_reattach(&r, 0), -EINVAL);
	memseg_exit(&m);
}

/* ---- header validation -------------------------------------------------- */

enum corrupt_field {
	C_MAGIC,
	C_VERSION,
	C_HEADER_SIZE,
	C_SENSOR_SIZE,
	C_READING_SIZE,
	C_RING_NOT_POW2,
	C_RING_ZERO,
	C_RING_ONE,
	C_RING_TOO_BIG,
	C_RING_DOUBLED,
	C_NSENSORS_TOO_BIG,
	C_NSENSORS_MORE,
	C_SLOT_SIZE,
	C_SENSORS_OFF,
	C_RING_OFF,
	C_TOTAL_SIZE,
	C_TOTAL_SIZE_AND_LEN,
	C_NAME_NO_NUL,
	C_NAME_BAD_CHARS,
	C_NAME_EMPTY,
	C_NAME_TOO_LONG,
	C_LEN_SHORT,
	C_LEN_LONG,
	C_LEN_HEADER_ONLY,
	C_LEN_NO_HEADER,
};

struct corrupt_case {
	enum corrupt_field field;
	char why[48]; /* expected in ringside_strerror(-EPROTO) */
};

ParameterizedTestParameters(ring, attach_mem_refuses_a_corrupt_header)
{
	static struct corrupt_case cases[] = {
		{ C_MAGIC, "magic" },
		{ C_VERSION, "version" },
		{ C_HEADER_SIZE, "record sizes" },
		{ C_SENSOR_SIZE, "record sizes" },
		{ C_READING_SIZE, "record sizes" },
		{ C_RING_NOT_POW2, "out of range" },
		{ C_RING_ZERO, "out of range" },
		{ C_RING_ONE, "out of range" },
		{ C_RING_TOO_BIG, "out of range" },
		{ C_RING_DOUBLED, "do not add up" },
		{ C_NSENSORS_TOO_BIG, "out of range" },
		{ C_NSENSORS_MORE, "do not add up" },
		{ C_SLOT_SIZE, "do not add up" },
		{ C_SENSORS_OFF, "do not add up" },
		{ C_RING_OFF, "do not add up" },
		{ C_TOTAL_SIZE, "do not add up" },
		{ C_TOTAL_SIZE_AND_LEN, "do not add up" },
		{ C_NAME_NO_NUL, "engine name" },
		{ C_NAME_BAD_CHARS, "engine name" },
		{ C_NAME_EMPTY, "engine name" },
		{ C_NAME_TOO_LONG, "engine name" },
		{ C_LEN_SHORT, "file size" },
		{ C_LEN_LONG, "file size" },
		{ C_LEN_HEADER_ONLY, "file size" },
		{ C_LEN_NO_HEADER, "too small" },
	};

	return cr_make_param_array(struct corrupt_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct corrupt_case *c, ring,
		  attach_mem_refuses_a_corrupt_header)
{
	struct ringside_reader r;
	struct seg_header *h;
	struct memseg m;
	size_t len;
	int ret;

	memseg_init(&m, 8, 4);
	publish_n(&m.w, 4, 3);
	cr_assert_eq(ringside_reader_attach_mem(&r, m.mem, m.len, 0), 0,
		     "the uncorrupted segment must be accepted");
	h = m.mem;
	len = m.len;
	switch (c->field) {
	case C_MAGIC:
		h->magic ^= 1;
		break;
	case C_VERSION:
		h->version = SEG_VERSION + 1;
		break;
	case C_HEADER_SIZE:
		h->header_size += 8;
		break;
	case C_SENSOR_SIZE:
		h->sensor_size -= 8;
		break;
	case C_READING_SIZE:
		h->reading_size = 24;
		break;
	case C_RING_NOT_POW2:
		h->ring = 6;
		break;
	case C_RING_ZERO:
		h->ring = 0;
		break;
	case C_RING_ONE:
		h->ring = 1;
		break;
	case C_RING_TOO_BIG:
		h->ring = RINGSIDE_RING_MAX * 2;
		break;
	case C_RING_DOUBLED:
		h->ring = 16;
		break;
	case C_NSENSORS_TOO_BIG:
		h->nsensors = RINGSIDE_SENSORS_MAX + 1;
		break;
	case C_NSENSORS_MORE:
		h->nsensors = 5;
		break;
	case C_SLOT_SIZE:
		h->slot_size += 64;
		break;
	case C_SENSORS_OFF:
		h->sensors_off += 64;
		break;
	case C_RING_OFF:
		h->ring_off += SEG_PAGE;
		break;
	case C_TOTAL_SIZE:
		h->total_size += 64;
		break;
	case C_TOTAL_SIZE_AND_LEN:
		/* Sizes that agree with each other but not with the layout. */
		h->total_size -= 64;
		len -= 64;
		break;
	case C_NAME_NO_NUL:
		memset(h->name, 'a', sizeof(h->name));
		break;
	case C_NAME_BAD_CHARS:
		snprintf(h->name, sizeof(h->name), "../etc");
		break;
	case C_NAME_EMPTY:
		memset(h->name, 0, sizeof(h->name));
		break;
	case C_NAME_TOO_LONG:
		memset(h->name, 0, sizeof(h->name));
		memset(h->name, 'a', RINGSIDE_NAME_MAX + 1);
		break;
	case C_LEN_SHORT:
		len -= 1;
		break;
	case C_LEN_LONG:
		len += 1;
		break;
	case C_LEN_HEADER_ONLY:
		len = sizeof(struct seg_header);
		break;
	case C_LEN_NO_HEADER:
		len = sizeof(struct seg_header) - 1;
		break;
	}
	ret = ringside_reader_attach_mem(&r, m.mem, len, 0);
	cr_assert_eq(ret, -EPROTO, "case %d: attach gave %d", c->field, ret);
	cr_assert_not_null(strstr(ringside_strerror(ret), c->why),
			   "case %d: message \"%s\" does not say \"%s\"",
			   c->field, ringside_strerror(ret), c->why);
	cr_assert_eq(r.base, NULL);
	memseg_exit(&m);
}

/* ---- segments in /dev/shm ----------------------------------------------- */

/* A writer on /dev/shm/ringside.rt<pid>-@tag. */
static void file_create(struct ringside_writer *w, char name[], const char *tag,
			uint32_t ring, uint32_t nsensors)
{
	struct ringside_params p;
	struct sensor_names sn;
	int ret;

	seg_name(name, tag);
	params_init(&p, name, ring, nsensors);
	sensor_names_init(&sn, nsensors);
	ret = ringside_writer_create(w, &p, sn.names, sn.units);
	sensor_names_exit(&sn);
	cr_assert_eq(ret, 0, "create %s: %s", name, ringside_strerror(ret));
}

static void attach_ok(struct ringside_reader *r, const char *name,
		      unsigned flags)
{
	int ret = ringside_reader_attach(r, name, flags);

	cr_assert_eq(ret, 0, "attach %s: %s", name, ringside_strerror(ret));
}

/* Copy the file at @from to @to, byte for byte. */
static void copy_file(const char *from, const char *to)
{
	char buf[4096];
	ssize_t n;
	int in, out;

	in = open(from, O_RDONLY);
	cr_assert_geq(in, 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(out, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert_eq(write(out, buf, (size_t)n), n);
	cr_assert_eq(n, 0);
	close(in);
	close(out);
}

static int count_temp_files(const char *name)
{
	char prefix[64];
	struct dirent *de;
	DIR *d = opendir("/dev/shm");
	int n = 0;

	cr_assert_not_null(d);
	snprintf(prefix, sizeof(prefix), ".ringside.%s.", name);
	/* The name's lock file (.lock) lives as long as the writer: it is
	 * not a temporary segment. */
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    strcmp(de->d_name + strlen(prefix), "lock") != 0)
			n++;
	closedir(d);
	return n;
}

Test(ring, a_segment_created_in_dev_shm_is_read_by_name, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1], path[80],
		sname[RINGSIDE_NAME_MAX + 1];
	struct ringside_writer w;
	struct ringside_reader r;
	struct ringside_params p;
	struct stat st;
	uint64_t i;

	file_create(&w, name, "byname", 8, 3);
	seg_file(path, sizeof(path), name);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq((uint64_t)st.st_size, ringside_segment_size(8, 3));
	cr_assert_eq(count_temp_files(name), 0, "a temporary file was left");

	attach_ok(&r, name, 0);
	cr_assert_eq(ringside_reader_params(&r, &p), 0);
	cr_assert_str_eq(p.name, name);
	cr_assert_eq(p.ring, 8);
	cr_assert_eq(p.nsensors, 3);
	cr_assert_eq(ringside_reader_pid(&r), getpid());
	cr_assert_eq(r.epoch_us, w.epoch_us);
	cr_assert_eq(ringside_reader_sensor(&r, 2, sname, NULL), 0);
	cr_assert_str_eq(sname, "s2");
	cr_assert_eq(ringside_reader_state(&r), RINGSIDE_TIMEOUT,
		     "a live writer with nothing new");
	cr_assert_eq(ringside_reader_wait(&r, 50), RINGSIDE_TIMEOUT);

	publish_n(&w, 3, 5);
	cr_assert_eq(ringside_reader_wait(&r, 1000), RINGSIDE_READY);
	for (i = 1; i <= 5; i++)
		expect_next(&r, i, 0);
	expect_caught_up(&r);
	ringside_reader_detach(&r);
	ringside_writer_close(&w, 0);
}

ParameterizedTestParameters(ring, a_late_reader_starts_at_the_oldest_batch_held)
{
	static uint64_t started_after[] = { 0, 1, 7, 8, 9, 16, 43 };

	return cr_make_param_array(uint64_t, started_after,
				   sizeof(started_after) /
					   sizeof(started_after[0]));
}

ParameterizedTest(uint64_t *n, ring,
		  a_late_reader_starts_at_the_oldest_batch_held, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_reader old, now;
	struct ringside_writer w;
	uint64_t i, first = *n > 8 ? *n - 8 + 1 : 1;

	file_create(&w, name, "late", 8, 2);
	publish_n(&w, 2, *n);
	attach_ok(&old, name, RINGSIDE_FROM_OLDEST);
	attach_ok(&now, name, RINGSIDE_FROM_NOW);
	cr_assert_eq(ringside_reader_head(&old), *n);
	for (i = first; i <= *n; i++)
		expect_next(&old, i, 0);
	expect_caught_up(&old);
	expect_caught_up(&now);
	publish_one(&w, 2);
	expect_next(&old, *n + 1, 0);
	expect_next(&now, *n + 1, 0);
	ringside_writer_close(&w, 0);
}

Test(ring, an_abandoned_writer_reads_as_dead_once_drained, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_reader before, after;
	struct ringside_writer w;
	uint64_t last = 0;

	file_create(&w, name, "abandon", 8, 2);
	attach_ok(&before, name, 0);
	publish_n(&w, 2, 3);
	cr_assert_eq(ringside_reader_state(&before), RINGSIDE_READY);
	ringside_writer_abandon(&w);

	/* Batches published before the death are still delivered. */
	cr_assert_eq(ringside_reader_wait(&before, 1000), RINGSIDE_READY);
	cr_assert_eq(drain(&before, &last), 3);
	cr_assert_eq(ringside_reader_wait(&before, 1000), RINGSIDE_DEAD);
	cr_assert_eq(ringside_reader_state(&before), RINGSIDE_DEAD);

	/* A reader that comes after the death reads it too. */
	attach_ok(&after, name, 0);
	cr_assert_eq(ringside_reader_state(&after), RINGSIDE_READY);
	cr_assert_eq(drain(&after, NULL), 3);
	cr_assert_eq(ringside_reader_wait(&after, 1000), RINGSIDE_DEAD);
}

static int read_byte(int fd)
{
	char c;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? (unsigned char)c : -1;
}

static void write_byte(int fd, char c)
{
	ssize_t n;

	do
		n = write(fd, &c, 1);
	while (n < 0 && errno == EINTR);
}

static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

/* In a child: create @name, publish @n batches, say so, then run @then. */
enum child_then { THEN_PAUSE, THEN_SIGKILL_SELF };

static pid_t fork_writer(const char *name, uint32_t nsensors, uint64_t n,
			 enum child_then then, int *ready_fd)
{
	int fds[2];
	pid_t pid;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		const char *names[] = { "a", "b", "c", "d" };
		struct ringside_reading v[4];
		struct ringside_writer w;
		struct ringside_params p;
		struct ringside_batch b;
		uint64_t i;

		close(fds[0]);
		params_init(&p, name, 8, nsensors);
		if (nsensors > 4 ||
		    ringside_writer_create(&w, &p, names, NULL) < 0)
			_exit(2);
		for (i = 1; i <= n; i++) {
			batch_make(i, nsensors, &b, v);
			if (ringside_writer_publish(&w, &b, v) < 0)
				_exit(3);
		}
		write_byte(fds[1], 'r');
		if (then == THEN_SIGKILL_SELF) {
			struct timespec ts = { 0, 200 * 1000 * 1000 };

			/* Die while the reader sleeps in its wait. */
			nanosleep(&ts, NULL);
			raise(SIGKILL);
		}
		for (;;)
			pause();
	}
	close(fds[1]);
	*ready_fd = fds[0];
	return pid;
}

Test(ring, a_writer_killed_by_sigkill_reads_as_dead_within_two_seconds,
     .timeout = 20)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_reader r;
	uint64_t got = 0, last = 0;
	int ev, fd, status, waits = 0;
	pid_t pid;

	seg_name(name, "killed");
	pid = fork_writer(name, 2, 3, THEN_SIGKILL_SELF, &fd);
	cr_assert_eq(read_byte(fd), 'r', "the writer child did not start");
	close(fd);
	attach_ok(&r, name, 0);
	cr_assert_eq(ringside_reader_pid(&r), pid);

	/* Each wait is bounded by 2 s: the death must be seen in one. */
	while ((ev = ringside_reader_wait(&r, 2000)) == RINGSIDE_READY) {
		got += drain(&r, &last);
		cr_assert_lt(++waits, 100);
	}
	cr_assert_eq(ev, RINGSIDE_DEAD, "wait gave %d, not DEAD", ev);
	cr_assert_eq(got, 3, "the batches before the death were delivered");
	status = wait_child(pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

Test(ring, a_clean_close_reads_as_closed_once_drained, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_writer w;
	struct ringside_reader r, late;
	uint64_t last = 0;

	file_create(&w, name, "close", 4, 2);
	attach_ok(&r, name, 0);
	publish_n(&w, 2, 6); /* 3..6 held; 1 and 2 lapped */
	ringside_writer_close(&w, 0);
	cr_assert_eq(w.base, NULL);

	cr_assert_eq(ringside_reader_wait(&r, 1000), RINGSIDE_READY);
	expect_next(&r, 3, 2);
	last = 3;
	cr_assert_eq(drain(&r, &last), 3);
	cr_assert_eq(last, 6);
	cr_assert_eq(ringside_reader_wait(&r, 1000), RINGSIDE_CLOSED);
	cr_assert_eq(ringside_reader_wait(&r, -1), RINGSIDE_CLOSED);

	/* The file stays for late readers, who drain it and stop too. */
	attach_ok(&late, name, 0);
	cr_assert_eq(drain(&late, NULL), 4);
	cr_assert_eq(ringside_reader_state(&late), RINGSIDE_CLOSED);
	ringside_writer_close(&w, 0); /* twice is harmless */
}

Test(ring, a_second_writer_on_a_live_name_gets_ebusy, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_writer w1, w2;
	struct ringside_reader r;
	struct ringside_params p;
	const char *names[] = { "a", "b" };

	file_create(&w1, name, "busy", 8, 2);
	params_init(&p, name, 8, 2);
	cr_assert_eq(ringside_writer_create(&w2, &p, names, NULL), -EBUSY);
	cr_assert_not_null(strstr(ringside_strerror(-EBUSY), "already"));
	cr_assert_eq(count_temp_files(name), 0);

	/* The first writer is untouched. */
	attach_ok(&r, name, 0);
	cr_assert_eq(r.epoch_us, w1.epoch_us);
	publish_one(&w1, 2);
	expect_next(&r, 1, 0);
	ringside_writer_close(&w1, 0);

	cr_assert_eq(ringside_writer_create(&w2, &p, names, NULL), 0);
	cr_assert_gt(w2.epoch_us, w1.epoch_us);
	ringside_writer_close(&w2, 0);
}

Test(ring, a_writer_in_another_process_holds_the_name_until_it_dies,
     .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	const char *names[] = { "a", "b" };
	struct ringside_writer w;
	struct ringside_params p;
	int fd;
	pid_t pid;

	seg_name(name, "busyproc");
	pid = fork_writer(name, 2, 1, THEN_PAUSE, &fd);
	cr_assert_eq(read_byte(fd), 'r');
	close(fd);
	params_init(&p, name, 8, 2);
	cr_assert_eq(ringside_writer_create(&w, &p, names, NULL), -EBUSY);
	kill(pid, SIGKILL);
	wait_child(pid);
	cr_assert_eq(ringside_writer_create(&w, &p, names, NULL), 0);
	ringside_writer_close(&w, 0);
}

enum restart_how { RESTART_AFTER_CLOSE, RESTART_AFTER_DEATH };

ParameterizedTestParameters(ring,
			    a_restart_gives_a_greater_epoch_that_readers_follow)
{
	static enum restart_how how[] = { RESTART_AFTER_CLOSE,
					  RESTART_AFTER_DEATH };

	return cr_make_param_array(enum restart_how, how,
				   sizeof(how) / sizeof(how[0]));
}

ParameterizedTest(enum restart_how *how, ring,
		  a_restart_gives_a_greater_epoch_that_readers_follow,
		  .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_writer w1, w2;
	struct ringside_reader r;
	uint64_t old_epoch;
	int want;

	file_create(&w1, name, "restart", 8, 2);
	attach_ok(&r, name, 0);
	old_epoch = r.epoch_us;
	cr_assert_eq(ringside_reader_reattach(&r, 0), -EAGAIN,
		     "nothing new at the path yet");
	publish_n(&w1, 2, 4);
	if (*how == RESTART_AFTER_CLOSE) {
		ringside_writer_close(&w1, 0);
		want = RINGSIDE_CLOSED;
	} else {
		ringside_writer_abandon(&w1);
		want = RINGSIDE_DEAD;
	}
	file_create(&w2, name, "restart", 8, 2);
	cr_assert_gt(w2.epoch_us, old_epoch);
	publish_n(&w2, 2, 2);

	/* The old reader finishes the old segment, then moves on. */
	cr_assert_eq(drain(&r, NULL), 4);
	cr_assert_eq(ringside_reader_wait(&r, 1000), want);
	cr_assert_eq(ringside_reader_reattach(&r, 0), 0);
	cr_assert_gt(r.epoch_us, old_epoch);
	cr_assert_eq(r.epoch_us, w2.epoch_us);
	expect_next(&r, 1, 0);
	expect_next(&r, 2, 0);
	expect_caught_up(&r);
	cr_assert_eq(ringside_reader_state(&r), RINGSIDE_TIMEOUT);
	ringside_reader_detach(&r);
	ringside_writer_close(&w2, 0);
}

Test(ring, replace_sends_readers_to_the_new_segment, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	const char *names[] = { "a", "b", "c", "d", "e" };
	struct ringside_writer w1, w2, w3;
	struct ringside_params p;
	struct ringside_reader r;
	uint64_t old_epoch;

	file_create(&w1, name, "replace", 8, 2);
	attach_ok(&r, name, 0);
	publish_n(&w1, 2, 3);
	old_epoch = r.epoch_us;

	/* A reload that changed the sensors: 2 -> 5. */
	params_init(&p, name, 16, 5);
	cr_assert_eq(ringside_writer_replace(&w2, &w1, &p, names, NULL), 0);
	cr_assert_eq(w1.base, NULL, "the old writer is closed");
	cr_assert_gt(w2.epoch_us, old_epoch);
	publish_n(&w2, 5, 1);

	cr_assert_eq(ringside_reader_wait(&r, 1000), RINGSIDE_READY);
	cr_assert_eq(drain(&r, NULL), 3);
	cr_assert_eq(ringside_reader_wait(&r, 1000), RINGSIDE_REPLACED);
	cr_assert_eq(ringside_reader_reattach(&r, 0), 0);
	cr_assert_eq(r.epoch_us, w2.epoch_us);
	cr_assert_eq(r.nsensors, 5);
	cr_assert_eq(r.ring, 16);
	expect_next(&r, 1, 0);

	/* Replacing with another name, or a writer not in a file, fails
	 * and leaves the old one as it was. */
	params_init(&p, "other", 16, 5);
	cr_assert_eq(ringside_writer_replace(&w3, &w2, &p, names, NULL),
		     -EINVAL);
	cr_assert_not_null(w2.base);
	publish_n(&w2, 5, 1);
	expect_next(&r, 2, 0);
	ringside_writer_close(&w2, 0);
}

struct truncate_case {
	int64_t len;	/* bytes to keep ... */
	int from_total; /* ... counted from the end when set */
};

ParameterizedTestParameters(ring, attach_refuses_a_truncated_segment_file)
{
	static struct truncate_case cases[] = {
		{ 0, 0 },    { 1, 0 },	  { 100, 0 }, { 511, 0 },  { 512, 0 },
		{ 4096, 0 }, { -128, 1 }, { -1, 1 },  { 4096, 1 },
	};

	return cr_make_param_array(struct truncate_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct truncate_case *c, ring,
		  attach_refuses_a_truncated_segment_file, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1], copy[RINGSIDE_NAME_MAX + 1];
	char path[80], cpath[80];
	struct ringside_writer w;
	struct ringside_reader r;
	int64_t len;
	int ret;

	file_create(&w, name, "orig", 8, 4);
	publish_n(&w, 4, 5);
	seg_file(path, sizeof(path), name);
	seg_name(copy, "trunc");
	seg_file(cpath, sizeof(cpath), copy);
	copy_file(path, cpath);
	attach_ok(&r, copy, 0); /* the copy is valid before truncation */
	ringside_reader_detach(&r);

	len = c->from_total ? (int64_t)w.size + c->len : c->len;
	cr_assert_eq(truncate(cpath, len), 0);
	ret = ringside_reader_attach(&r, copy, 0);
	cr_assert_eq(ret, -EPROTO, "length %lld: attach gave %d (%s)",
		     (long long)len, ret, ringside_strerror(ret));
	cr_assert(strstr(ringside_strerror(ret), "size") != NULL ||
			  strstr(ringside_strerror(ret), "small") != NULL,
		  "message: %s", ringside_strerror(ret));
	ringside_writer_close(&w, 0);
}

Test(ring, attach_refuses_a_file_of_garbage, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1], path[80];
	unsigned char *junk;
	size_t len = ringside_segment_size(8, 4), i;
	uint32_t x = 2463534242u;
	struct ringside_reader r;
	int fd, ret;

	seg_name(name, "garbage");
	seg_file(path, sizeof(path), name);
	junk = malloc(len);
	cr_assert_not_null(junk);
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		junk[i] = (unsigned char)x;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, junk, len), (ssize_t)len);
	close(fd);
	ret = ringside_reader_attach(&r, name, 0);
	cr_assert_eq(ret, -EPROTO, "attach gave %d", ret);
	cr_assert_not_null(strstr(ringside_strerror(ret), "magic"));

	/* The right magic and version on garbage still gets nowhere. */
	((struct seg_header *)junk)->magic = SEG_MAGIC;
	((struct seg_header *)junk)->version = SEG_VERSION;
	fd = open(path, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, junk, len), (ssize_t)len);
	close(fd);
	cr_assert_eq(ringside_reader_attach(&r, name, 0), -EPROTO);
	free(junk);
}

Test(ring, attach_refuses_a_symlink_at_the_path, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1], link[RINGSIDE_NAME_MAX + 1];
	char path[80], lpath[80];
	struct ringside_writer w;
	struct ringside_reader r;
	int ret;

	file_create(&w, name, "target", 8, 2);
	seg_file(path, sizeof(path), name);
	seg_name(link, "link");
	seg_file(lpath, sizeof(lpath), link);
	cr_assert_eq(symlink(path, lpath), 0);
	ret = ringside_reader_attach(&r, link, 0);
	cr_assert_eq(ret, -EPROTO, "attach through a symlink gave %d", ret);
	cr_assert_not_null(strstr(ringside_strerror(ret), "symbolic link"));
	ringside_writer_close(&w, 0);
}

Test(ring, attach_refuses_a_directory_at_the_path, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1], path[80];
	struct ringside_reader r;
	int ret;

	seg_name(name, "dir");
	seg_file(path, sizeof(path), name);
	cr_assert_eq(mkdir(path, 0700), 0);
	ret = ringside_reader_attach(&r, name, 0);
	cr_assert_eq(ret, -EPROTO, "attach on a directory gave %d", ret);
	cr_assert_not_null(strstr(ringside_strerror(ret), "regular"));
}

Test(ring, attach_says_enoent_for_no_segment_and_einval_for_a_bad_name)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_reader r;

	seg_name(name, "absent");
	cr_assert_eq(ringside_reader_attach(&r, name, 0), -ENOENT);
	cr_assert_str_eq(ringside_strerror(-ENOENT), "no such segment");
	cr_assert_eq(ringside_reader_attach(&r, "../etc/passwd", 0), -EINVAL);
	cr_assert_eq(ringside_reader_attach(&r, "", 0), -EINVAL);
}

Test(ring, a_writer_never_writes_through_a_symlink_at_its_path, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1], victim[RINGSIDE_NAME_MAX + 1];
	char path[80], vpath[80], buf[16] = { 0 };
	struct ringside_writer w;
	struct stat st;
	int fd;

	seg_name(name, "wlink");
	seg_file(path, sizeof(path), name);
	seg_name(victim, "victim");
	seg_file(vpath, sizeof(vpath), victim);
	fd = open(vpath, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "precious", 8), 8);
	close(fd);
	cr_assert_eq(symlink(vpath, path), 0);

	file_create(&w, name, "wlink", 8, 2);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode), "the symlink was replaced by the file");
	fd = open(vpath, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(read(fd, buf, sizeof(buf)), 8);
	close(fd);
	cr_assert_str_eq(buf, "precious");
	ringside_writer_close(&w, 0);
}

Test(ring, a_writer_refuses_a_directory_at_its_path, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1], path[80];
	const char *names[] = { "a" };
	struct ringside_writer w;
	struct ringside_params p;
	int ret;

	seg_name(name, "wdir");
	seg_file(path, sizeof(path), name);
	cr_assert_eq(mkdir(path, 0700), 0);
	params_init(&p, name, 8, 1);
	ret = ringside_writer_create(&w, &p, names, NULL);
	cr_assert_lt(ret, 0, "create over a directory succeeded");
	cr_assert_eq(count_temp_files(name), 0);
}

/* The permissions of the mapping that starts at @addr, from maps. */
static int mapping_perms(const void *addr, char perms[5])
{
	unsigned long start, end;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3)
			continue;
		if (start == (unsigned long)addr) {
			found = 1;
			break;
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

Test(ring, readers_map_the_segment_read_only, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1], perms[5];
	struct ringside_writer w;
	struct ringside_reader r;

	file_create(&w, name, "rdonly", 8, 2);
	attach_ok(&r, name, 0);
	cr_assert_eq(mapping_perms(w.base, perms), 0);
	cr_assert_str_eq(perms, "rw-s", "the writer's own mapping");
	cr_assert_eq(mapping_perms(r.base, perms), 0);
	cr_assert_str_eq(perms, "r--s", "the reader maps %s", perms);
	cr_assert_eq(fcntl(r.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	ringside_reader_detach(&r);
	ringside_writer_close(&w, 0);
}

static void exit_on_segv(int sig)
{
	(void)sig;
	_exit(42);
}

Test(ring, a_store_through_a_reader_mapping_faults, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_writer w;
	struct ringside_reader r;
	int status;
	pid_t pid;

	file_create(&w, name, "fault", 8, 2);
	attach_ok(&r, name, 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = exit_on_segv;
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		/* The head word: what a buggy reader would most like to
		 * scribble on. */
		*(volatile uint64_t *)((char *)r.base + 256) = 1;
		_exit(0);
	}
	status = wait_child(pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 42,
		  "the store did not fault (status %#x)", status);
	cr_assert_eq(ringside_reader_head(&r), 0);
	ringside_writer_close(&w, 0);
}

/* @pid's scheduler state letter, from /proc/PID/stat; 0 if unknown. */
static char proc_state(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything */
	return p != NULL && p[1] == ' ' ? p[2] : 0;
}

/*
 * Wait (bounded) until @pid sleeps in futex(2), as /proc shows it: 1 when
 * seen, 0 when not within 2 s, -1 when /proc cannot tell (no
 * /proc/PID/syscall on this kernel).
 */
static int proc_sleeps_in_futex(pid_t pid)
{
	char path[64], buf[64];
	int i;

	snprintf(path, sizeof(path), "/proc/%ld/syscall", (long)pid);
	for (i = 0; i < 400; i++) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		FILE *f = fopen(path, "r");
		long nr = -1;

		if (f == NULL)
			return -1;
		if (fgets(buf, sizeof(buf), f) != NULL)
			nr = strtol(buf, NULL, 10);
		fclose(f);
		if (nr == SYS_futex && proc_state(pid) == 'S')
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

Test(ring, a_reader_asleep_in_another_process_wakes_for_a_publish,
     .timeout = 30)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_writer w;
	int fds[2], status, asleep;
	pid_t pid;

	file_create(&w, name, "wake", 8, 3);
	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct ringside_reading v[3];
		struct ringside_reader r;
		struct ringside_batch b;
		int ev;

		close(fds[0]);
		if (ringside_reader_attach(&r, name, 0) < 0)
			_exit(10);
		write_byte(fds[1], 'a');
		ev = ringside_reader_wait(&r, 20000);
		if (ev != RINGSIDE_READY)
			_exit(20 + (ev & 7));
		if (ringside_reader_next(&r, &b, v, 3) != 1 || b.seq != 1 ||
		    v[2].value != 1002.25)
			_exit(30);
		_exit(0);
	}
	close(fds[1]);
	cr_assert_eq(read_byte(fds[0]), 'a', "the reader child did not attach");
	close(fds[0]);
	/* A reader with nothing to take sleeps: it does not spin. */
	asleep = proc_sleeps_in_futex(pid);
	if (asleep < 0)
		cr_log_warn(
			"no /proc/PID/syscall: cannot see the reader sleep");
	else
		cr_expect_eq(asleep, 1, "the reader never slept in futex(2)");
	publish_one(&w, 3);
	status = wait_child(pid);
	cr_assert(WIFEXITED(status), "the reader child died (%#x)", status);
	cr_assert_eq(WEXITSTATUS(status), 0,
		     "the reader child failed: %d (2x: wait event x)",
		     WEXITSTATUS(status));
	ringside_writer_close(&w, 0);
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

Test(ring, a_reader_waiting_for_nothing_sleeps_rather_than_spins, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_writer w;
	struct ringside_reader r;
	uint64_t cpu;

	file_create(&w, name, "nospin", 8, 1);
	attach_ok(&r, name, 0);
	/*
	 * A bound on CPU time, not on elapsed time: a sleeping reader uses
	 * next to none of its 600 ms; one that spun would use them all, or
	 * at worst (on a crowded machine) fewer, never more.
	 */
	cpu = thread_cpu_ns();
	cr_assert_eq(ringside_reader_wait(&r, 600), RINGSIDE_TIMEOUT);
	cpu = thread_cpu_ns() - cpu;
	cr_assert_lt(cpu, 200 * 1000 * 1000ull, "waiting took %llu ns of CPU",
		     (unsigned long long)cpu);
	ringside_writer_close(&w, 0);
}

ParameterizedTestParameters(ring,
			    the_file_gets_the_mode_asked_for_despite_umask)
{
	static uint32_t modes[] = { 0644, 0640, 0600, 0444, 0666 };

	return cr_make_param_array(uint32_t, modes,
				   sizeof(modes) / sizeof(modes[0]));
}

ParameterizedTest(uint32_t *mode, ring,
		  the_file_gets_the_mode_asked_for_despite_umask, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1], path[80];
	const char *names[] = { "a" };
	struct ringside_writer w;
	struct ringside_params p;
	struct ringside_reader r;
	struct stat st;

	umask(077);
	seg_name(name, "mode");
	seg_file(path, sizeof(path), name);
	params_init(&p, name, 8, 1);
	p.mode = *mode;
	cr_assert_eq(ringside_writer_create(&w, &p, names, NULL), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, *mode, "mode %o, asked for %o",
		     st.st_mode & 07777, *mode);
	attach_ok(&r, name, 0);
	cr_assert_eq(ringside_reader_params(&r, &p), 0);
	cr_assert_eq(p.mode, *mode);
	ringside_writer_close(&w, 0);
}
