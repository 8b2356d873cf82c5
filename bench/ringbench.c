/* SPDX-License-Identifier: MIT */
/*
 * ringbench.c - ringside-ringbench: what the shared-memory ring costs.
 *
 * Two measurements, side by side in one run so that their ratios mean
 * something on whatever machine runs them:
 *
 *   throughput  one writer thread publishes as fast as it can for a few
 *               seconds into a ring of 1024 batches of 64 or 1000
 *               readings, while 0, 1, 2 or 4 reader threads take what
 *               they can (sleeping in ringside_reader_wait when caught
 *               up, or with --poll never sleeping).  The writer never
 *               waits for a reader: a slow one is lapped.  What readers
 *               still cost the writer (shared CPUs and caches, and the
 *               FUTEX_WAKE of a sleeper on every publish) shows as the
 *               ratio of its rate to that of the 0-reader row.
 *   wake        a reader in another process sleeps on the segment's futex
 *               in ringside_reader_wait(); the writer publishes one batch
 *               every millisecond, stamped with published_mono_ns, and
 *               the reader records now - published_mono_ns as it wakes.
 *
 * A program, so it prints and exits; the library it measures does
 * neither.  Exit status 0, or 1 when a run could not be set up.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ringside.h"

#ifndef RINGSIDE_VERSION
#define RINGSIDE_VERSION "unknown"
#endif

#define BENCH_RING 1024
#define BENCH_READERS_MAX 4
#define BENCH_WAKE_SENSORS 16
#define BENCH_WAKE_PERIOD_NS 1000000

static uint64_t bench_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* Sensor names s0..sN-1 for a segment, in caller storage. */
static void bench_names(const char **names, char (*buf)[12], uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		snprintf(buf[i], sizeof(buf[i]), "s%u", i);
		names[i] = buf[i];
	}
}

static void bench_params(struct ringside_params *p, const char *name,
			 uint32_t ring, uint32_t nsensors)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->ring = ring;
	p->nsensors = nsensors;
	p->period_ns = BENCH_WAKE_PERIOD_NS;
	p->mode = 0600;
}

/* ---- throughput --------------------------------------------------------- */

struct bench_reader {
	pthread_t tid;
	int poll; /* never sleep: wait with a timeout of 0 */
	struct ringside_reader r;
	struct ringside_reading *v;
	uint64_t batches;  /* batches returned */
	uint64_t readings; /* readings returned */
	uint64_t lost;
	int error;
};

static void *bench_reader_main(void *arg)
{
	struct bench_reader *br = arg;
	struct ringside_batch b;
	int ev, rc;

	for (;;) {
		ev = ringside_reader_wait(&br->r, br->poll ? 0 : 100);
		while ((rc = ringside_reader_next(&br->r, &b, br->v,
						  br->r.nsensors)) == 1) {
			br->batches++;
			br->readings += b.nreadings;
			br->lost += b.lost;
		}
		if (rc < 0 || ev < 0) {
			br->error = rc < 0 ? rc : ev;
			break;
		}
		if (ev == RINGSIDE_CLOSED)
			break;
	}
	return NULL;
}

struct bench_tput {
	uint32_t nsensors;
	unsigned nreaders;
	double seconds;		/* the writer's */
	uint64_t published;	/* batches */
	uint64_t read_batches;	/* summed over readers */
	uint64_t read_readings; /* summed over readers */
	uint64_t min_readings;	/* the slowest reader's */
};

static int bench_throughput(uint32_t nsensors, unsigned nreaders, int poll,
			    double seconds, struct bench_tput *t)
{
	struct bench_reader rd[BENCH_READERS_MAX];
	struct ringside_reading *v;
	struct ringside_writer w;
	struct ringside_params p;
	struct ringside_batch b;
	const char **names;
	char(*nbuf)[12];
	uint64_t t0, now, stop;
	size_t len;
	void *mem;
	unsigned i, started = 0;
	int ret = -ENOMEM;

	memset(t, 0, sizeof(*t));
	t->nsensors = nsensors;
	t->nreaders = nreaders;
	len = ringside_segment_size(BENCH_RING, nsensors);
	mem = aligned_alloc(4096, (len + 4095) / 4096 * 4096);
	names = calloc(nsensors, sizeof(*names));
	nbuf = calloc(nsensors, sizeof(*nbuf));
	v = calloc(nsensors, sizeof(*v));
	if (mem == NULL || names == NULL || nbuf == NULL || v == NULL)
		goto out;
	bench_names(names, nbuf, nsensors);
	bench_params(&p, "ringbench", BENCH_RING, nsensors);
	ret = ringside_writer_init_mem(&w, mem, len, &p, names, NULL);
	if (ret < 0)
		goto out;
	memset(rd, 0, sizeof(rd));
	for (i = 0; i < nreaders; i++) {
		rd[i].poll = poll;
		rd[i].v = calloc(nsensors, sizeof(*rd[i].v));
		if (rd[i].v == NULL) {
			ret = -ENOMEM;
			goto out_readers;
		}
		ret = ringside_reader_attach_mem(&rd[i].r, mem, len,
						 RINGSIDE_FROM_OLDEST);
		if (ret < 0)
			goto out_readers;
		ret = -pthread_create(&rd[i].tid, NULL, bench_reader_main,
				      &rd[i]);
		if (ret < 0)
			goto out_readers;
		started++;
	}

	for (i = 0; i < nsensors; i++) {
		v[i].value = i;
		v[i].status = RINGSIDE_OK;
		v[i].attempts = 1;
	}
	memset(&b, 0, sizeof(b));
	b.total = nsensors;
	b.available = nsensors;
	t0 = bench_mono_ns();
	stop = t0 + (uint64_t)(seconds * 1e9);
	do {
		/* Look at the clock only now and then: publishing is the
		 * thing measured. */
		for (i = 0; i < 256; i++) {
			b.tick_mono_ns = b.published_mono_ns = t0;
			ringside_writer_publish(&w, &b, v);
		}
		now = bench_mono_ns();
	} while (now < stop);
	t->seconds = (double)(now - t0) / 1e9;
	t->published = w.seq;
	ringside_writer_close(&w, 0);
	ret = 0;

out_readers:
	if (ret < 0 && w.base != NULL)
		ringside_writer_close(&w, 0); /* lets started readers stop */
	t->min_readings = UINT64_MAX;
	for (i = 0; i < started; i++) {
		pthread_join(rd[i].tid, NULL);
		if (rd[i].error < 0 && ret == 0)
			ret = rd[i].error;
		t->read_batches += rd[i].batches;
		t->read_readings += rd[i].readings;
		if (rd[i].readings < t->min_readings)
			t->min_readings = rd[i].readings;
	}
	if (started == 0)
		t->min_readings = 0;
	for (i = 0; i < nreaders; i++)
		free(rd[i].v);
out:
	free(v);
	free(nbuf);
	free(names);
	free(mem);
	return ret;
}

/* ---- publish-to-wake latency -------------------------------------------- */

struct bench_wake {
	uint64_t n;
	uint64_t p50_ns, p99_ns, max_ns, mean_ns;
	uint64_t lost;
	int error;
};

static int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* In the reader process: sleep, wake, stamp, until the segment closes. */
static void bench_wake_reader(const char *name, uint64_t want, int ready_fd,
			      int result_fd)
{
	struct ringside_reading v[BENCH_WAKE_SENSORS];
	struct bench_wake res = { 0 };
	struct ringside_reader r;
	struct ringside_batch b;
	uint64_t *lat, sum = 0;
	int ev, rc;

	lat = calloc(want, sizeof(*lat));
	res.error = lat == NULL ? -ENOMEM : ringside_reader_attach(&r, name, 0);
	if (write(ready_fd, "r", 1) != 1 || res.error < 0)
		goto out;
	for (;;) {
		ev = ringside_reader_wait(&r, 2000);
		/* Stamp at once: the first batch taken is the one that woke
		 * us; the rest (if we fell behind) are not wakes. */
		rc = ringside_reader_next(&r, &b, v, BENCH_WAKE_SENSORS);
		if (rc == 1) {
			uint64_t d = bench_mono_ns() - b.published_mono_ns;

			if (res.n < want) {
				lat[res.n++] = d;
				sum += d;
			}
			res.lost += b.lost;
			while (ringside_reader_next(&r, &b, v,
						    BENCH_WAKE_SENSORS) == 1)
				res.lost += b.lost + 1;
		}
		if (ev < 0 || rc < 0) {
			res.error = ev < 0 ? ev : rc;
			break;
		}
		if (ev == RINGSIDE_CLOSED || ev == RINGSIDE_DEAD)
			break;
	}
	ringside_reader_detach(&r);
	if (res.n > 0) {
		qsort(lat, res.n, sizeof(*lat), bench_cmp_u64);
		res.p50_ns = lat[res.n / 2];
		res.p99_ns = lat[res.n * 99 / 100];
		res.max_ns = lat[res.n - 1];
		res.mean_ns = sum / res.n;
	}
out:
	if (write(result_fd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(1);
	free(lat);
	_exit(0);
}

static int bench_read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		got += (size_t)n;
	}
	return 0;
}

static int bench_wake(uint64_t wakes, struct bench_wake *res)
{
	const char *names[BENCH_WAKE_SENSORS];
	struct ringside_reading v[BENCH_WAKE_SENSORS];
	char nbuf[BENCH_WAKE_SENSORS][12], name[RINGSIDE_NAME_MAX + 1], c;
	struct ringside_writer w;
	struct ringside_params p;
	struct ringside_batch b;
	struct timespec next;
	int ready[2], result[2], status, ret;
	uint64_t i, tick;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	snprintf(name, sizeof(name), "ringbench%ld", (long)getpid());
	bench_names(names, nbuf, BENCH_WAKE_SENSORS);
	bench_params(&p, name, BENCH_RING, BENCH_WAKE_SENSORS);
	ret = ringside_writer_create(&w, &p, names, NULL);
	if (ret < 0)
		return ret;
	if (pipe(ready) < 0 || pipe(result) < 0) {
		ret = -errno;
		goto err_close;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto err_close;
	}
	if (pid == 0) {
		ringside_writer_abandon(&w); /* the child is no writer */
		close(ready[0]);
		close(result[0]);
		bench_wake_reader(name, wakes, ready[1], result[1]);
	}
	close(ready[1]);
	close(result[1]);
	if (bench_read_full(ready[0], &c, 1) < 0) {
		ret = -EIO;
		goto err_wait;
	}

	memset(v, 0, sizeof(v));
	memset(&b, 0, sizeof(b));
	b.total = BENCH_WAKE_SENSORS;
	clock_gettime(CLOCK_MONOTONIC, &next);
	/* Some more than asked: a batch that finds the reader awake (it fell
	 * behind) is counted as missed, not as a wake. */
	for (i = 0; i < wakes + wakes / 20 + 20; i++) {
		next.tv_nsec += BENCH_WAKE_PERIOD_NS;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		tick = (uint64_t)next.tv_sec * 1000000000 +
		       (uint64_t)next.tv_nsec;
		b.tick_mono_ns = tick;
		b.published_mono_ns = bench_mono_ns();
		ringside_writer_publish(&w, &b, v);
	}
	ringside_writer_close(&w, 0);
	ret = bench_read_full(result[0], res, sizeof(*res));
err_wait:
	close(ready[0]);
	close(result[0]);
	if (ret < 0)
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	unlink(w.path);
	return ret < 0 ? ret : res->error;

err_close:
	ringside_writer_close(&w, 0);
	unlink(w.path);
	return ret;
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringside-ringbench [--seconds S] [--wakes N] [--poll]\n"
		"\n"
		"Measure libringside's batch ring: readings per second from\n"
		"publish to read with 0, 1, 2 and 4 reader threads (64 and "
		"1000\n"
		"sensors, ring %d), and publish-to-wake latency of a reader\n"
		"asleep in another process.\n"
		"\n"
		"  --seconds S  length of each throughput run (default 2)\n"
		"  --wakes N    wakes timed for the latency (default 5000)\n"
		"  --poll       throughput readers poll instead of sleeping\n"
		"  --help       this text\n"
		"  --version    the version\n",
		BENCH_RING);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "wakes", required_argument, NULL, 'w' },
		{ "poll", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const uint32_t sensors[] = { 64, 1000 };
	static const unsigned readers[] = { 0, 1, 2, 4 };
	double seconds = 2.0;
	uint64_t wakes = 5000;
	struct bench_tput t;
	struct bench_wake wk;
	unsigned si, ri;
	char *end;
	int c, ret, poll = 0;

	while ((c = getopt_long(argc, argv, "s:w:phV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			seconds = strtod(optarg, &end);
			if (*end != '\0' || !(seconds > 0 && seconds <= 60)) {
				fprintf(stderr,
					"ringside-ringbench: bad "
					"--seconds '%s'\n",
					optarg);
				return 1;
			}
			break;
		case 'w':
			wakes = strtoull(optarg, &end, 10);
			if (*end != '\0' || wakes < 10 || wakes > 1000000) {
				fprintf(stderr,
					"ringside-ringbench: bad "
					"--wakes '%s'\n",
					optarg);
				return 1;
			}
			break;
		case 'p':
			poll = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ringside-ringbench %s\n", RINGSIDE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}

	printf("ringside-ringbench %s: ring %d, %.1f s per run, %ld CPUs\n\n",
	       RINGSIDE_VERSION, BENCH_RING, seconds,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("publish -> read, threads on one segment in memory, readers "
	       "%s\n",
	       poll ? "polling" : "sleeping in ringside_reader_wait");
	printf("%7s %7s %14s %16s %20s %16s %9s\n", "sensors", "readers",
	       "writer batch/s", "writer reading/s", "per-reader reading/s",
	       "slowest reader/s", "returned");
	fflush(stdout);
	for (si = 0; si < sizeof(sensors) / sizeof(sensors[0]); si++) {
		for (ri = 0; ri < sizeof(readers) / sizeof(readers[0]); ri++) {
			ret = bench_throughput(sensors[si], readers[ri], poll,
					       seconds, &t);
			if (ret < 0) {
				fprintf(stderr, "ringside-ringbench: %s\n",
					ringside_strerror(ret));
				return 1;
			}
			if (t.nreaders == 0) {
				printf("%7u %7u %14.0f %16.0f %20s %16s %9s\n",
				       t.nsensors, t.nreaders,
				       t.published / t.seconds,
				       t.published * t.nsensors / t.seconds,
				       "-", "-", "-");
			} else {
				printf("%7u %7u %14.0f %16.0f %20.0f %16.0f "
				       "%8.1f%%\n",
				       t.nsensors, t.nreaders,
				       t.published / t.seconds,
				       t.published * t.nsensors / t.seconds,
				       t.read_readings / t.nreaders / t.seconds,
				       t.min_readings / t.seconds,
				       100.0 * t.read_batches / t.nreaders /
					       (t.published ? t.published : 1));
			}
			fflush(stdout);
		}
	}

	printf("\npublish -> wake of a reader asleep in ringside_reader_wait "
	       "(another process, one batch per ms)\n");
	fflush(stdout);
	ret = bench_wake(wakes, &wk);
	if (ret < 0) {
		fprintf(stderr, "ringside-ringbench: wake: %s\n",
			ringside_strerror(ret));
		return 1;
	}
	printf("%7s %10s %10s %10s %10s %7s\n", "wakes", "p50 us", "p99 us",
	       "max us", "mean us", "missed");
	printf("%7" PRIu64 " %10.1f %10.1f %10.1f %10.1f %7" PRIu64 "\n", wk.n,
	       wk.p50_ns / 1e3, wk.p99_ns / 1e3, wk.max_ns / 1e3,
	       wk.mean_ns / 1e3, wk.lost);
	return 0;
}
