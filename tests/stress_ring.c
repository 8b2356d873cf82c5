/* SPDX-License-Identifier: MIT */
/*
 * stress_ring.c - one writer laps several readers, as fast as it can, and
 * every reader checks every batch it is given.
 *
 * Two rounds: three reader threads on a segment in plain memory, then
 * three reader processes on a segment in /dev/shm, attached by name.  The
 * ring is small (8 batches) and the readers pause now and then, so the
 * writer laps them over and over, often in the middle of a copy.  The
 * writer never waits: it publishes a fixed number of batches, updates the
 * counters every 64 of them, then closes the segment.
 *
 * Every field of batch n is a function of n, and the last reading holds a
 * hash of the others, so a torn batch (a slot copied while the writer
 * rewrote it) cannot pass.  For each reader: sequence numbers strictly
 * increase, each batch's seq is exactly the previous one + 1 + lost, and
 * at the end returned + lost covers every batch from 1 to the last one
 * published.  Counters read through the stats seqlock are never a mix of
 * two updates.
 *
 * A plain program rather than a Criterion test so that it also runs under
 * ThreadSanitizer.  Exit status 0 when every check held, 1 otherwise; one
 * line of summary on stdout.  `stress_ring [BATCHES]` sets the number of
 * batches per round.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ringside.h"

#define STRESS_RING 8
#define STRESS_SENSORS 12
#define STRESS_READERS 3
#define STRESS_BATCHES 500000 /* per round, by default */
#define STRESS_STATS_EVERY 64 /* batches between counter updates */
#define STRESS_ALARM_S 60     /* a hang fails rather than blocks CI */

struct stress_result {
	uint64_t returned;    /* batches returned */
	uint64_t lost;	      /* sum of b.lost */
	uint64_t first, last; /* seq of the first and last batch returned */
	uint64_t stats_ok;    /* consistent counter snapshots checked */
	uint64_t stats_busy;  /* -EAGAIN from ringside_reader_stats */
	uint64_t timeouts;
	int failed;
	char why[160];
};

static void fail(struct stress_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct stress_result *res, const char *fmt, ...)
{
	va_list ap;

	if (res->failed)
		return;
	res->failed = 1;
	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* FNV-1a over @n readings, seeded with the batch's seq. */
static uint64_t readings_hash(uint64_t seq, const struct ringside_reading *v,
			      uint32_t n)
{
	const unsigned char *p = (const unsigned char *)v;
	uint64_t h = 0xcbf29ce484222325ull ^ mix64(seq);
	size_t i;

	for (i = 0; i < n * sizeof(*v); i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Batch @seq as the writer publishes it; every field is a function of seq. */
static void batch_make(uint64_t seq, struct ringside_batch *b,
		       struct ringside_reading *v)
{
	uint64_t h;
	uint32_t i;

	memset(b, 0, sizeof(*b));
	memset(v, 0, STRESS_SENSORS * sizeof(*v));
	for (i = 0; i < STRESS_SENSORS - 1; i++) {
		uint64_t x = mix64(seq * STRESS_SENSORS + i);

		v[i].value = (double)seq + (double)i / 16;
		v[i].latency_us = (uint32_t)x;
		v[i].status = (uint8_t)((x >> 32) % 4);
		v[i].flags = (uint8_t)(x >> 40) & RINGSIDE_READING_LATE;
		v[i].attempts = (uint8_t)(x >> 48);
		v[i].error = (uint8_t)(x >> 56);
		if (v[i].status == RINGSIDE_OK)
			b->available++;
	}
	/* The last reading seals the others. */
	h = readings_hash(seq, v, STRESS_SENSORS - 1);
	memcpy(&v[i].value, &h, sizeof(h));
	v[i].latency_us = (uint32_t)seq;
	v[i].status = RINGSIDE_OK;
	b->available++;
	b->total = STRESS_SENSORS;
	b->flags = b->available < b->total ? RINGSIDE_BATCH_DEGRADED : 0;
	b->tick_us = seq * 1000;
	b->published_us = seq * 1000 + 1;
	b->tick_mono_ns = mix64(seq);
	b->published_mono_ns = ~seq;
}

/* Returns NULL when @b and @v are exactly batch b->seq, else what is not. */
static const char *batch_verify(const struct ringside_batch *b,
				const struct ringside_reading *v)
{
	struct ringside_reading want[STRESS_SENSORS];
	struct ringside_batch wb;
	uint64_t h;

	if (b->total != STRESS_SENSORS || b->nreadings != STRESS_SENSORS)
		return "wrong number of readings";
	memcpy(&h, &v[STRESS_SENSORS - 1].value, sizeof(h));
	if (h != readings_hash(b->seq, v, STRESS_SENSORS - 1))
		return "torn batch: the readings' hash does not match";
	batch_make(b->seq, &wb, want);
	if (memcmp(v, want, sizeof(want)) != 0)
		return "torn batch: readings of another batch";
	if (b->tick_us != wb.tick_us || b->published_us != wb.published_us ||
	    b->tick_mono_ns != wb.tick_mono_ns ||
	    b->published_mono_ns != wb.published_mono_ns ||
	    b->available != wb.available || b->flags != wb.flags)
		return "torn batch: header of another batch";
	return NULL;
}

/*
 * The counters after update @k: all derived from k, so a mix of two
 * updates shows; k = 0 gives the zeroes of a segment never updated.
 */
static void stats_make(uint64_t k, struct ringside_engine_stats *e,
		       struct ringside_sensor_stats *s)
{
	uint32_t i, j;

	for (j = 0; j < RINGSIDE_EC_SLOTS; j++)
		e->counter[j] = k;
	for (i = 0; i < STRESS_SENSORS; i++) {
		for (j = 0; j < RINGSIDE_SC_SLOTS; j++)
			s[i].counter[j] = k * (i + 1);
		for (j = 0; j < RINGSIDE_HIST_BUCKETS; j++)
			s[i].hist[j] = k * (i + 2);
	}
}

/* ---- the reader --------------------------------------------------------- */

static uint32_t xorshift(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Reader 0 never pauses; 1 yields often; 2 sleeps now and then. */
static void reader_pause(unsigned id, uint32_t *rng)
{
	uint32_t x = xorshift(rng);
	struct timespec ts = { 0, 0 };

	if (id == 1 && x % 8 == 0) {
		sched_yield();
	} else if (id == 1 && x % 512 == 1) {
		ts.tv_nsec = 50000;
		nanosleep(&ts, NULL);
	} else if (id == 2 && x % 256 == 0) {
		ts.tv_nsec = (long)(x >> 8) % 1000000;
		nanosleep(&ts, NULL);
	}
}

static void reader_check_stats(struct ringside_reader *r, uint64_t *last_k,
			       struct stress_result *res)
{
	struct ringside_sensor_stats s[STRESS_SENSORS], ws[STRESS_SENSORS];
	struct ringside_engine_stats e, we;
	int ret = ringside_reader_stats(r, &e, s, STRESS_SENSORS);

	if (ret == -EAGAIN) {
		res->stats_busy++;
		return;
	}
	if (ret < 0) {
		fail(res, "ringside_reader_stats: %s", ringside_strerror(ret));
		return;
	}
	stats_make(e.counter[0], &we, ws);
	if (memcmp(&e, &we, sizeof(e)) != 0 || memcmp(s, ws, sizeof(s)) != 0)
		fail(res, "counters mixed from two updates (k=%" PRIu64 ")",
		     e.counter[0]);
	if (e.counter[0] < *last_k)
		fail(res, "counters went back: %" PRIu64 " after %" PRIu64,
		     e.counter[0], *last_k);
	*last_k = e.counter[0];
	res->stats_ok++;
}

/*
 * Take batches until the segment is closed, checking each; @start is the
 * seq the reader was positioned at, @end the last one the writer will
 * publish.
 */
static void reader_run(struct ringside_reader *r, unsigned id, uint64_t end,
		       struct stress_result *res)
{
	struct ringside_reading v[STRESS_SENSORS];
	struct ringside_batch b;
	uint64_t start = r->next, prev = r->next - 1, last_k = 0;
	uint32_t rng = 0x9e3779b9u * (id + 1);
	const char *why;
	int ev, rc;

	memset(res, 0, sizeof(*res));
	for (;;) {
		ev = ringside_reader_wait(r, 1000);
		if (ev < 0) {
			fail(res, "wait: %s", ringside_strerror(ev));
			return;
		}
		while ((rc = ringside_reader_next(r, &b, v, STRESS_SENSORS)) ==
		       1) {
			why = batch_verify(&b, v);
			if (why != NULL) {
				fail(res, "batch %" PRIu64 ": %s", b.seq, why);
				return;
			}
			if (b.seq != prev + 1 + b.lost) {
				fail(res,
				     "batch %" PRIu64 " after %" PRIu64
				     " with lost %" PRIu64,
				     b.seq, prev, b.lost);
				return;
			}
			if (res->returned == 0)
				res->first = b.seq;
			res->returned++;
			res->lost += b.lost;
			prev = b.seq;
			if (res->returned % 50 == 0)
				reader_check_stats(r, &last_k, res);
			if (res->failed)
				return;
			reader_pause(id, &rng);
		}
		if (rc < 0) {
			fail(res, "next: %s", ringside_strerror(rc));
			return;
		}
		if (ev == RINGSIDE_CLOSED)
			break;
		if (ev == RINGSIDE_TIMEOUT)
			res->timeouts++;
		else if (ev != RINGSIDE_READY) {
			fail(res, "unexpected event %d", ev);
			return;
		}
	}
	res->last = prev;
	if (prev != end)
		fail(res, "drained up to %" PRIu64 ", not %" PRIu64, prev, end);
	else if (res->returned + res->lost != end - start + 1)
		fail(res,
		     "returned %" PRIu64 " + lost %" PRIu64 " != %" PRIu64
		     " published",
		     res->returned, res->lost, end - start + 1);
}

/* ---- the writer --------------------------------------------------------- */

/* Publish batches 1..@n without ever waiting; returns publishes per second. */
static double writer_run(struct ringside_writer *w, uint64_t n,
			 struct stress_result *res)
{
	struct ringside_sensor_stats s[STRESS_SENSORS];
	struct ringside_reading v[STRESS_SENSORS];
	struct ringside_engine_stats e;
	struct ringside_batch b;
	uint64_t seq, t0 = mono_ns(), k = 0;
	uint32_t i;
	int ret;

	for (seq = 1; seq <= n; seq++) {
		batch_make(seq, &b, v);
		ret = ringside_writer_publish(w, &b, v);
		if (ret < 0 || b.seq != seq) {
			fail(res, "publish %" PRIu64 ": %d", seq, ret);
			break;
		}
		if (seq % STRESS_STATS_EVERY == 0) {
			stats_make(++k, &e, s);
			ringside_writer_stats_begin(w);
			ringside_writer_engine_set(w, &e);
			for (i = 0; i < STRESS_SENSORS; i++)
				ringside_writer_sensor_set(w, i, &s[i]);
			ringside_writer_stats_end(w);
		}
	}
	t0 = mono_ns() - t0;
	ringside_writer_close(w, 0);
	return (double)n * 1e9 / (double)(t0 ? t0 : 1);
}

static void params_init(struct ringside_params *p, const char *name,
			const char **names)
{
	static char buf[STRESS_SENSORS][8];
	uint32_t i;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->ring = STRESS_RING;
	p->nsensors = STRESS_SENSORS;
	p->period_ns = 1000000;
	p->mode = 0600;
	for (i = 0; i < STRESS_SENSORS; i++) {
		snprintf(buf[i], sizeof(buf[i]), "s%u", i);
		names[i] = buf[i];
	}
}

/* What a round saw, summed over its readers. */
struct round {
	double rate;
	uint64_t returned, lost, stats_ok, stats_busy;
	int failed;
};

static void round_add(struct round *rd, const struct stress_result *res,
		      const char *mode, unsigned id)
{
	rd->returned += res->returned;
	rd->lost += res->lost;
	rd->stats_ok += res->stats_ok;
	rd->stats_busy += res->stats_busy;
	if (res->failed) {
		rd->failed = 1;
		fprintf(stderr, "stress_ring: %s reader %u: %s\n", mode, id,
			res->why);
	}
}

/* A round must have made the writer lap its readers, or it tested little. */
static void round_check(struct round *rd, const char *mode)
{
	if (!rd->failed && rd->lost == 0) {
		rd->failed = 1;
		fprintf(stderr, "stress_ring: %s: no reader was ever lapped\n",
			mode);
	}
	if (!rd->failed && rd->stats_ok == 0) {
		rd->failed = 1;
		fprintf(stderr, "stress_ring: %s: no counters were checked\n",
			mode);
	}
}

/* ---- round 1: threads on plain memory ----------------------------------- */

struct reader_thread {
	pthread_t tid;
	struct ringside_reader r;
	unsigned id;
	uint64_t end;
	struct stress_result res;
};

static void *reader_thread_main(void *arg)
{
	struct reader_thread *t = arg;

	reader_run(&t->r, t->id, t->end, &t->res);
	return NULL;
}

static int round_threads(uint64_t n, struct round *rd)
{
	struct reader_thread t[STRESS_READERS];
	const char *names[STRESS_SENSORS];
	struct stress_result wres = { 0 };
	struct ringside_writer w;
	struct ringside_params p;
	size_t len = ringside_segment_size(STRESS_RING, STRESS_SENSORS);
	void *mem = aligned_alloc(4096, (len + 4095) / 4096 * 4096);
	unsigned i;
	int ret;

	memset(rd, 0, sizeof(*rd));
	if (mem == NULL)
		return -ENOMEM;
	params_init(&p, "stress", names);
	ret = ringside_writer_init_mem(&w, mem, len, &p, names, NULL);
	if (ret < 0)
		goto out;
	/* Attached before the writer starts: every reader begins at 1. */
	for (i = 0; i < STRESS_READERS; i++) {
		t[i].id = i;
		t[i].end = n;
		ret = ringside_reader_attach_mem(&t[i].r, mem, len, 0);
		if (ret < 0)
			goto out;
	}
	for (i = 0; i < STRESS_READERS; i++) {
		ret = -pthread_create(&t[i].tid, NULL, reader_thread_main,
				      &t[i]);
		if (ret < 0) {
			fprintf(stderr, "stress_ring: pthread_create: %s\n",
				strerror(-ret));
			exit(1);
		}
	}
	rd->rate = writer_run(&w, n, &wres);
	for (i = 0; i < STRESS_READERS; i++) {
		pthread_join(t[i].tid, NULL);
		round_add(rd, &t[i].res, "threads", i);
		ringside_reader_detach(&t[i].r);
	}
	round_add(rd, &wres, "threads", 99);
	round_check(rd, "threads");
out:
	free(mem);
	return ret;
}

/* ---- round 2: processes on /dev/shm ------------------------------------- */

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, (char *)buf + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void on_alarm(int sig)
{
	static const char msg[] = "stress_ring: FAIL: timed out\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

static void reader_child(const char *name, unsigned id, uint64_t n,
			 int ready_fd, int result_fd)
{
	struct ringside_reader r;
	struct stress_result res;
	int ret;

	alarm(STRESS_ALARM_S);
	ret = ringside_reader_attach(&r, name, RINGSIDE_FROM_OLDEST);
	/* One byte either way, so that the writer never waits for us. */
	if (write(ready_fd, ret < 0 ? "f" : "a", 1) != 1)
		_exit(1);
	if (ret < 0) {
		memset(&res, 0, sizeof(res));
		fail(&res, "attach %s: %s", name, ringside_strerror(ret));
	} else {
		reader_run(&r, id, n, &res);
		ringside_reader_detach(&r);
	}
	if (write(result_fd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(1);
	_exit(res.failed ? 1 : 0);
}

static int round_processes(uint64_t n, struct round *rd)
{
	const char *names[STRESS_SENSORS];
	struct stress_result wres = { 0 }, res;
	pid_t pid[STRESS_READERS];
	struct ringside_writer w;
	struct ringside_params p;
	int ready[2], result[2], status, ret;
	char name[RINGSIDE_NAME_MAX + 1], c;
	unsigned i;

	memset(rd, 0, sizeof(*rd));
	snprintf(name, sizeof(name), "stress%ld", (long)getpid());
	params_init(&p, name, names);
	ret = ringside_writer_create(&w, &p, names, NULL);
	if (ret < 0)
		return ret;
	if (pipe(ready) < 0 || pipe(result) < 0)
		return -errno;
	for (i = 0; i < STRESS_READERS; i++) {
		pid[i] = fork();
		if (pid[i] < 0)
			return -errno;
		if (pid[i] == 0) {
			/* Not the writer: drop its mapping and its lock. */
			ringside_writer_abandon(&w);
			close(ready[0]);
			close(result[0]);
			reader_child(name, i, n, ready[1], result[1]);
		}
	}
	close(ready[1]);
	close(result[1]);
	for (i = 0; i < STRESS_READERS; i++)
		if (read_full(ready[0], &c, 1) < 0)
			break; /* a child failed to attach: it reports why */
	rd->rate = writer_run(&w, n, &wres);
	round_add(rd, &wres, "processes", 99);
	for (i = 0; i < STRESS_READERS; i++) {
		if (read_full(result[0], &res, sizeof(res)) < 0) {
			memset(&res, 0, sizeof(res));
			fail(&res, "a reader process gave no result");
		}
		round_add(rd, &res, "processes", i);
	}
	for (i = 0; i < STRESS_READERS; i++) {
		if (waitpid(pid[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr,
				"stress_ring: reader process %ld: "
				"status %#x\n",
				(long)pid[i], status);
			rd->failed = 1;
		}
	}
	close(ready[0]);
	close(result[0]);
	unlink(w.path);
	round_check(rd, "processes");
	return 0;
}

int main(int argc, char **argv)
{
	struct round th, pr;
	uint64_t n = STRESS_BATCHES;
	int ret;

	if (argc > 1) {
		n = strtoull(argv[1], NULL, 10);
		if (n < 1000) {
			fprintf(stderr, "usage: %s [BATCHES >= 1000]\n",
				argv[0]);
			return 1;
		}
	}
	signal(SIGALRM, on_alarm);
	alarm(STRESS_ALARM_S);

	ret = round_threads(n, &th);
	if (ret < 0) {
		fprintf(stderr, "stress_ring: threads: %s\n",
			ringside_strerror(ret));
		return 1;
	}
	ret = round_processes(n, &pr);
	if (ret < 0) {
		fprintf(stderr, "stress_ring: processes: %s\n",
			ringside_strerror(ret));
		return 1;
	}
	printf("stress_ring: %s: %" PRIu64 " batches x2, ring %d, %d readers; "
	       "threads: writer %.0f/s, returned %" PRIu64 " lost %" PRIu64
	       " stats %" PRIu64 "/%" PRIu64 " busy; processes: writer "
	       "%.0f/s, returned %" PRIu64 " lost %" PRIu64 " stats %" PRIu64
	       "/%" PRIu64 " busy\n",
	       th.failed || pr.failed ? "FAIL" : "ok", n, STRESS_RING,
	       STRESS_READERS, th.rate, th.returned, th.lost, th.stats_ok,
	       th.stats_busy, pr.rate, pr.returned, pr.lost, pr.stats_ok,
	       pr.stats_busy);
	return th.failed || pr.failed ? 1 : 0;
}
