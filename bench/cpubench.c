/* SPDX-License-Identifier: MIT */
/*
 * cpubench.c - ringside-cpubench: the CPU time ringsided spends per
 * reading, against a plain loop that does the same reads at the same tick.
 *
 * For each workload (N tmpfs files, N opens of one procfs file, N FIFOs fed
 * by a writer process), two processes run one after the other for the same
 * duration at the same period:
 *
 *   engine    ringsided on a generated configuration, deadline = period,
 *             every resilience default on; its readings are the sum of
 *             `available` over the batches it published, counted from the
 *             segment after it has stopped (the ring is sized to hold the
 *             whole run), so no reader runs while it is measured;
 *   baseline  a fork of this program: every period (clock_nanosleep on an
 *             absolute time) a pread at offset 0 + strtod per file, or one
 *             non-blocking read per FIFO + strtod per line; no timeout, no
 *             retry, no breaker, no publication.
 *
 * Each one's CPU time is user + system of the whole process, all its
 * threads included (io-wq workers are threads of the process), as wait4
 * reports it once the process has been reaped; startup is in both.  The
 * FIFO writer is a third process and is not counted.  Rounds are
 * interleaved (engine first in odd rounds, baseline first in even ones) so
 * that drift on a shared machine falls on both sides.
 *
 * A program, so it prints and exits: a markdown table on stdout, progress
 * on stderr.  Exit status 0; 1 when a run failed; 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "ringside.h"

#ifndef RINGSIDE_VERSION
#define RINGSIDE_VERSION "unknown"
#endif

#define NS 1000000000ULL
#define READ_BUF 4096 /* as the engine's file workers: a record's maximum */
#define ROUNDS_MAX 99
#define PROC_PATH "/proc/loadavg" /* cheap, and field 0 is a number */

enum cpubench_workload {
	CPUBENCH_TMPFS,
	CPUBENCH_PROCFS,
	CPUBENCH_PIPE,
	CPUBENCH_WORKLOADS,
};

static const char *const workload_key[CPUBENCH_WORKLOADS] = {
	[CPUBENCH_TMPFS] = "tmpfs",
	[CPUBENCH_PROCFS] = "procfs",
	[CPUBENCH_PIPE] = "pipe",
};

static const char *const workload_title[CPUBENCH_WORKLOADS] = {
	[CPUBENCH_TMPFS] = "tmpfs files (`file:`)",
	[CPUBENCH_PROCFS] = "procfs `" PROC_PATH "` (`file:`)",
	[CPUBENCH_PIPE] = "FIFOs (`stream:`)",
};

struct cpubench_opts {
	uint32_t sensors;
	uint64_t period_ns;
	double duration_s;
	uint32_t rounds;
	unsigned workloads; /* bit i: enum cpubench_workload i */
	char engine[PATH_MAX];
	char dir[64]; /* the tmpfs directory of files, FIFOs, config */
	bool dir_made;
};

/* What one measured process did. */
struct cpubench_run {
	double cpu_us;	   /* user + system, every thread */
	uint64_t readings; /* values obtained */
	uint64_t ticks;	   /* batches published, or baseline ticks */
	uint64_t missed;   /* the engine's missed_ticks */
};

/* Set by SIGINT/SIGTERM: the bench stops its children and cleans up. */
static volatile sig_atomic_t cpubench_interrupted;

static void cpubench_on_signal(int sig)
{
	(void)sig;
	cpubench_interrupted = 1;
}

static void cpubench_sleep_until(uint64_t at_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(at_ns / NS),
		.tv_nsec = (long)(at_ns % NS),
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/* A forked child: default signal actions, as an exec would leave them. */
static void cpubench_child_signals(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
}

static void cpubench_path(char *buf, size_t len, const struct cpubench_opts *o,
			  char kind, uint32_t i)
{
	snprintf(buf, len, "%s/%c%u", o->dir, kind, i);
}

/*
 * Reap @pid into @ru.  An interrupted bench sends the child SIGTERM (the
 * engine then stops as on its own) and goes on waiting for it.  Returns
 * the wait status, or -errno.
 */
static int cpubench_reap(pid_t pid, struct rusage *ru)
{
	bool forwarded = false;
	int status;

	for (;;) {
		if (wait4(pid, &status, 0, ru) == pid)
			return status;
		if (errno != EINTR)
			return -errno;
		if (cpubench_interrupted && !forwarded) {
			kill(pid, SIGTERM);
			forwarded = true;
		}
	}
}

/* ---- the workloads' files ------------------------------------------- */

static int cpubench_setup(struct cpubench_opts *o)
{
	char path[PATH_MAX];
	uint32_t i;
	int fd;

	snprintf(o->dir, sizeof(o->dir), "/dev/shm/ringside-cpubench.XXXXXX");
	if (mkdtemp(o->dir) == NULL)
		return -errno;
	o->dir_made = true;
	for (i = 0; i < o->sensors; i++) {
		cpubench_path(path, sizeof(path), o, 'f', i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		if (write(fd, "23.5\n", 5) != 5) {
			close(fd);
			return -EIO;
		}
		close(fd);
		cpubench_path(path, sizeof(path), o, 'p', i);
		if (mkfifo(path, 0600) < 0)
			return -errno;
	}
	return 0;
}

/* Remove what cpubench_setup made; whatever is missing is skipped. */
static void cpubench_cleanup(const struct cpubench_opts *o)
{
	char path[PATH_MAX];
	uint32_t i;

	if (!o->dir_made)
		return;
	for (i = 0; i < o->sensors; i++) {
		cpubench_path(path, sizeof(path), o, 'f', i);
		unlink(path);
		cpubench_path(path, sizeof(path), o, 'p', i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/engine.ini", o->dir);
	unlink(path);
	rmdir(o->dir);
}

/* The source of sensor @i of workload @w, for a config or an open(). */
static void cpubench_source(char *buf, size_t len,
			    const struct cpubench_opts *o,
			    enum cpubench_workload w, uint32_t i)
{
	switch (w) {
	case CPUBENCH_TMPFS:
		cpubench_path(buf, len, o, 'f', i);
		break;
	case CPUBENCH_PROCFS:
		snprintf(buf, len, "%s", PROC_PATH);
		break;
	default:
		cpubench_path(buf, len, o, 'p', i);
		break;
	}
}

/* ---- the FIFO writer (not measured) --------------------------------- */

/*
 * A process that writes one line per FIFO per period.  It opens them
 * read-write and non-blocking, so that it never waits for a reader and
 * never blocks on a full pipe.  Returns its pid once every FIFO is open,
 * with the time of its first write in @first_ns, or -errno.
 */
static pid_t cpubench_writer_start(const struct cpubench_opts *o,
				   uint64_t *first_ns)
{
	int ready[2];
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(ready[0]);
		close(ready[1]);
		return err;
	}
	if (pid == 0) {
		char path[PATH_MAX];
		uint64_t next;
		uint32_t i;
		int *fds;

		cpubench_child_signals();
		close(ready[0]);
		fds = calloc(o->sensors, sizeof(*fds));
		if (fds == NULL)
			_exit(1);
		for (i = 0; i < o->sensors; i++) {
			cpubench_path(path, sizeof(path), o, 'p', i);
			fds[i] = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
			if (fds[i] < 0) {
				fprintf(stderr, "ringside-cpubench: %s: %s\n",
					path, strerror(errno));
				_exit(1);
			}
		}
		next = bench_now_ns() + o->period_ns / 2;
		if (write(ready[1], &next, sizeof(next)) != sizeof(next))
			_exit(1);
		close(ready[1]);
		for (;;) {
			cpubench_sleep_until(next);
			for (i = 0; i < o->sensors; i++)
				if (write(fds[i], "1.5\n", 4) < 0)
					(void)0; /* full: the reader is away */
			next += o->period_ns;
		}
	}
	close(ready[1]);
	if (read(ready[0], first_ns, sizeof(*first_ns)) != sizeof(*first_ns)) {
		close(ready[0]);
		cpubench_reap(pid, &(struct rusage){ 0 });
		return -EIO;
	}
	close(ready[0]);
	return pid;
}

static void cpubench_writer_stop(pid_t pid)
{
	struct rusage ru;

	kill(pid, SIGTERM);
	cpubench_reap(pid, &ru);
}

/* ---- the engine ------------------------------------------------------ */

static uint32_t cpubench_ring(const struct cpubench_opts *o)
{
	double batches = o->duration_s * 1e9 / (double)o->period_ns + 16;
	uint32_t ring = 2;

	while (ring < RINGSIDE_RING_MAX && (double)ring < batches)
		ring <<= 1;
	return ring;
}

static int cpubench_write_config(const struct cpubench_opts *o,
				 enum cpubench_workload w, const char *name,
				 const char *path)
{
	char src[PATH_MAX];
	uint32_t i;
	FILE *f;

	f = fopen(path, "we");
	if (f == NULL)
		return -errno;
	fprintf(f,
		"[engine]\nname = %s\nperiod = %lluus\ndeadline = %lluus\n"
		"ring = %u\n\n",
		name, (unsigned long long)(o->period_ns / 1000),
		(unsigned long long)(o->period_ns / 1000), cpubench_ring(o));
	for (i = 0; i < o->sensors; i++) {
		cpubench_source(src, sizeof(src), o, w, i);
		fprintf(f, "[sensor s%u]\nsource = %s:%s\n", i,
			w == CPUBENCH_PIPE ? "stream" : "file", src);
	}
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

/* Sum `available` over every batch still in segment @name, then remove it. */
static int cpubench_count_batches(const char *name, struct cpubench_run *out)
{
	struct ringside_engine_stats es;
	struct ringside_reader r;
	struct ringside_batch b;
	struct ringside_reading one;
	bool gap = false;
	char path[64];
	int ret;

	ret = ringside_reader_attach(&r, name, RINGSIDE_FROM_OLDEST);
	if (ret < 0)
		return ret;
	while ((ret = ringside_reader_next(&r, &b, &one, 1)) > 0) {
		out->readings += b.available;
		out->ticks++;
		if (b.lost > 0 || b.seq != out->ticks)
			gap = true; /* the ring was too small */
	}
	if (ret == 0 && gap)
		ret = -EOVERFLOW;
	if (ringside_reader_stats(&r, &es, NULL, 0) == 0)
		out->missed = es.counter[RINGSIDE_EC_MISSED_TICKS];
	ringside_reader_detach(&r);
	snprintf(path, sizeof(path), "/dev/shm/ringside.%s", name);
	unlink(path);
	if (ret == 0 && out->ticks == 0)
		ret = -ENODATA;
	return ret;
}

static int cpubench_run_engine(const struct cpubench_opts *o,
			       enum cpubench_workload w,
			       struct cpubench_run *out)
{
	char cfg[PATH_MAX], name[RINGSIDE_NAME_MAX + 1], dur[32];
	struct rusage ru;
	pid_t pid;
	int ret, status;

	snprintf(name, sizeof(name), "cpubench-%d", (int)getpid());
	snprintf(cfg, sizeof(cfg), "%s/engine.ini", o->dir);
	snprintf(dur, sizeof(dur), "%.3f", o->duration_s);
	ret = cpubench_write_config(o, w, name, cfg);
	if (ret < 0)
		return ret;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		cpubench_child_signals();
		execl(o->engine, "ringsided", "-c", cfg, "--duration", dur,
		      "--log-level", "warn", (char *)NULL);
		fprintf(stderr, "ringside-cpubench: %s: %s\n", o->engine,
			strerror(errno));
		_exit(127);
	}
	status = cpubench_reap(pid, &ru);
	if (status < 0)
		return status;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char seg[64];

		fprintf(stderr,
			"ringside-cpubench: ringsided exited with "
			"status %d\n",
			WIFEXITED(status) ? WEXITSTATUS(status) : 128);
		snprintf(seg, sizeof(seg), "/dev/shm/ringside.%s", name);
		unlink(seg); /* whatever it left */
		return -ECHILD;
	}
	out->cpu_us = bench_cpu_us(&ru);
	return cpubench_count_batches(name, out);
}

/* ---- the baseline ---------------------------------------------------- */

/* strtod a NUL-terminated record: 1 for a finite number, else 0. */
static int cpubench_parse(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	return end != s && isfinite(v);
}

/* Parse every line of what one read of a FIFO gave: 1 if any is a value. */
static int cpubench_parse_lines(char *buf, size_t n)
{
	char *p = buf, *nl;
	int got = 0;

	buf[n] = '\0';
	while ((nl = memchr(p, '\n', (size_t)(buf + n - p))) != NULL) {
		*nl = '\0';
		got |= cpubench_parse(p);
		p = nl + 1;
	}
	return got;
}

/*
 * The plain loop, in the forked child; its totals go out through @fd.
 * With a writer (@writer_ns its first write), the ticks fall half a period
 * after the writes, so that each read finds exactly one new line.
 */
static void cpubench_baseline_child(const struct cpubench_opts *o,
				    enum cpubench_workload w,
				    uint64_t writer_ns, int fd)
{
	static char buf[READ_BUF + 1];
	struct cpubench_run run = { 0 };
	char path[PATH_MAX];
	uint64_t start, end, next;
	uint32_t i;
	int *fds;

	fds = calloc(o->sensors, sizeof(*fds));
	if (fds == NULL)
		_exit(1);
	for (i = 0; i < o->sensors; i++) {
		cpubench_source(path, sizeof(path), o, w, i);
		fds[i] = open(
			path,
			w == CPUBENCH_PIPE ? O_RDWR | O_NONBLOCK : O_RDONLY, 0);
		if (fds[i] < 0) {
			fprintf(stderr, "ringside-cpubench: %s: %s\n", path,
				strerror(errno));
			_exit(1);
		}
	}
	start = bench_now_ns();
	end = start + (uint64_t)(o->duration_s * 1e9);
	next = start + o->period_ns;
	if (writer_ns != 0) {
		uint64_t anchor = writer_ns + o->period_ns / 2;

		if (anchor < next)
			anchor += (next - anchor + o->period_ns - 1) /
				  o->period_ns * o->period_ns;
		next = anchor;
	}
	for (; next <= end; next += o->period_ns) {
		cpubench_sleep_until(next);
		if (bench_now_ns() > next + o->period_ns)
			run.missed++; /* a whole period late: counted, run */
		for (i = 0; i < o->sensors; i++) {
			ssize_t n;

			if (w == CPUBENCH_PIPE) {
				n = read(fds[i], buf, READ_BUF);
				if (n > 0)
					run.readings +=
						(uint64_t)cpubench_parse_lines(
							buf, (size_t)n);
				continue;
			}
			n = pread(fds[i], buf, READ_BUF + 1, 0);
			if (n <= 0 || n > READ_BUF)
				continue;
			buf[n] = '\0';
			run.readings += (uint64_t)cpubench_parse(buf);
		}
		run.ticks++;
	}
	if (write(fd, &run, sizeof(run)) != (ssize_t)sizeof(run))
		_exit(1);
	_exit(0);
}

static int cpubench_run_baseline(const struct cpubench_opts *o,
				 enum cpubench_workload w, uint64_t writer_ns,
				 struct cpubench_run *out)
{
	struct cpubench_run run;
	struct rusage ru;
	int res[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe2(res, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(res[0]);
		close(res[1]);
		return err;
	}
	if (pid == 0) {
		cpubench_child_signals();
		close(res[0]);
		cpubench_baseline_child(o, w, writer_ns, res[1]);
	}
	close(res[1]);
	status = cpubench_reap(pid, &ru);
	/* The child's totals fit in the pipe: read them after it is gone. */
	n = read(res[0], &run, sizeof(run));
	close(res[0]);
	if (status < 0)
		return status;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    n != (ssize_t)sizeof(run))
		return -ECHILD;
	run.cpu_us = bench_cpu_us(&ru);
	*out = run;
	return 0;
}

/* ---- one measurement, and the table ---------------------------------- */

static int cpubench_measure(const struct cpubench_opts *o,
			    enum cpubench_workload w, bool engine,
			    struct cpubench_run *out)
{
	uint64_t writer_ns = 0;
	pid_t writer = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (w == CPUBENCH_PIPE) {
		writer = cpubench_writer_start(o, &writer_ns);
		if (writer < 0)
			return writer;
	}
	ret = engine ? cpubench_run_engine(o, w, out)
		     : cpubench_run_baseline(o, w, writer_ns, out);
	if (writer > 0)
		cpubench_writer_stop(writer);
	if (ret == 0 && out->readings == 0)
		ret = -ENODATA;
	return ret;
}

/* Median, min and max of @n values (sorted in place). */
static void cpubench_stats(double *v, uint32_t n, double *med, double *lo,
			   double *hi)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	*med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*lo = v[0];
	*hi = v[n - 1];
}

static void cpubench_row(const struct cpubench_opts *o,
			 enum cpubench_workload w,
			 struct cpubench_run (*runs)[2])
{
	double eng[ROUNDS_MAX], base[ROUNDS_MAX], erd[ROUNDS_MAX],
		brd[ROUNDS_MAX];
	double em, el, eh, bm, bl, bh, erm, brm, x, y;
	uint32_t r;

	for (r = 0; r < o->rounds; r++) {
		eng[r] = runs[r][0].cpu_us / (double)runs[r][0].readings;
		base[r] = runs[r][1].cpu_us / (double)runs[r][1].readings;
		erd[r] = (double)runs[r][0].readings / (double)runs[r][0].ticks;
		brd[r] = (double)runs[r][1].readings / (double)runs[r][1].ticks;
	}
	cpubench_stats(eng, o->rounds, &em, &el, &eh);
	cpubench_stats(base, o->rounds, &bm, &bl, &bh);
	cpubench_stats(erd, o->rounds, &erm, &x, &y);
	cpubench_stats(brd, o->rounds, &brm, &x, &y);
	printf("| %s | %.3f (%.3f–%.3f) | %.3f (%.3f–%.3f) | %.2f "
	       "| %.1f / %.1f |\n",
	       workload_title[w], em, el, eh, bm, bl, bh, em / bm, erm, brm);
}

/* ---- options ---------------------------------------------------------- */

static void cpubench_usage(FILE *out)
{
	fprintf(out,
		"usage: ringside-cpubench [--sensors N] [--period MS] "
		"[--duration S]\n"
		"                         [--rounds R] [--workloads LIST] "
		"[--engine PATH]\n"
		"\n"
		"CPU time (user + system, all threads) per reading of "
		"ringsided, against a\n"
		"plain pread/read + strtod loop at the same period; rounds "
		"interleaved,\n"
		"median and min-max reported as a markdown table.\n"
		"\n"
		"  -n, --sensors N      sensors per workload (default 1000)\n"
		"  -p, --period MS      tick period, deadline = period "
		"(default 10)\n"
		"  -d, --duration S     seconds per run (default 5)\n"
		"  -r, --rounds R       interleaved rounds (default 3)\n"
		"  -w, --workloads LIST comma-separated: tmpfs,procfs,pipe "
		"(default all)\n"
		"  -e, --engine PATH    ringsided to run (default: "
		"$RINGSIDE_BIN/ringsided,\n"
		"                       else the one beside this program)\n"
		"  -h, --help           this text\n"
		"  -V, --version        the version\n");
}

static int cpubench_usage_error(const char *opt, const char *arg)
{
	fprintf(stderr, "ringside-cpubench: %s: invalid value: %s\n", opt, arg);
	return 2;
}

static bool cpubench_number(const char *s, double lo, double hi, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0' && *v >= lo && *v <= hi;
}

static int cpubench_parse_workloads(const char *list, unsigned *mask)
{
	char buf[64], *tok, *save;
	unsigned i;

	snprintf(buf, sizeof(buf), "%s", list);
	*mask = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < CPUBENCH_WORKLOADS; i++)
			if (strcmp(tok, workload_key[i]) == 0)
				break;
		if (i == CPUBENCH_WORKLOADS)
			return -EINVAL;
		*mask |= 1u << i;
	}
	return *mask != 0 ? 0 : -EINVAL;
}

/* $RINGSIDE_BIN/ringsided (or $RINGSIDE_BIN itself if it is the program),
 * else ringsided beside this program. */
static int cpubench_find_engine(struct cpubench_opts *o)
{
	const char *env = getenv("RINGSIDE_BIN");
	char self[PATH_MAX];
	struct stat st;
	int ret;

	if (o->engine[0] != '\0')
		return access(o->engine, X_OK) == 0 ? 0 : -errno;
	if (env != NULL && env[0] != '\0') {
		if (stat(env, &st) == 0 && S_ISDIR(st.st_mode))
			snprintf(o->engine, sizeof(o->engine), "%s/ringsided",
				 env);
		else
			snprintf(o->engine, sizeof(o->engine), "%s", env);
		return access(o->engine, X_OK) == 0 ? 0 : -errno;
	}
	ret = bench_self_dir(self, sizeof(self));
	if (ret < 0)
		return ret;
	if (snprintf(o->engine, sizeof(o->engine), "%s/ringsided", self) >=
	    (int)sizeof(o->engine))
		return -ENAMETOOLONG;
	return access(o->engine, X_OK) == 0 ? 0 : -errno;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sensors", required_argument, NULL, 'n' },
		{ "period", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "workloads", required_argument, NULL, 'w' },
		{ "engine", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct cpubench_run runs[CPUBENCH_WORKLOADS][ROUNDS_MAX][2];
	struct cpubench_opts o = {
		.sensors = 1000,
		.period_ns = 10000000,
		.duration_s = 5,
		.rounds = 3,
		.workloads = (1u << CPUBENCH_WORKLOADS) - 1,
	};
	struct sigaction sa;
	struct rlimit rl;
	uint32_t r, k;
	unsigned w;
	double v;
	int c, ret, status = 0;

	while ((c = getopt_long(argc, argv, "n:p:d:r:w:e:hV", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'n':
			if (!cpubench_number(optarg, 1, RINGSIDE_SENSORS_MAX,
					     &v))
				return cpubench_usage_error("--sensors",
							    optarg);
			o.sensors = (uint32_t)v;
			break;
		case 'p':
			if (!cpubench_number(optarg, 1, 1000, &v))
				return cpubench_usage_error("--period", optarg);
			o.period_ns = (uint64_t)(v * 1e6);
			break;
		case 'd':
			if (!cpubench_number(optarg, 0.1, 600, &v))
				return cpubench_usage_error("--duration",
							    optarg);
			o.duration_s = v;
			break;
		case 'r':
			if (!cpubench_number(optarg, 1, ROUNDS_MAX, &v))
				return cpubench_usage_error("--rounds", optarg);
			o.rounds = (uint32_t)v;
			break;
		case 'w':
			if (cpubench_parse_workloads(optarg, &o.workloads) < 0)
				return cpubench_usage_error("--workloads",
							    optarg);
			break;
		case 'e':
			snprintf(o.engine, sizeof(o.engine), "%s", optarg);
			break;
		case 'h':
			cpubench_usage(stdout);
			return 0;
		case 'V':
			printf("ringside-cpubench %s\n", RINGSIDE_VERSION);
			return 0;
		default:
			cpubench_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringside-cpubench: unexpected argument: %s\n",
			argv[optind]);
		return 2;
	}
	if (o.duration_s * 1e9 / (double)o.period_ns + 16 > RINGSIDE_RING_MAX) {
		fprintf(stderr, "ringside-cpubench: --duration / --period is "
				"more batches than a ring holds\n");
		return 2;
	}
	ret = cpubench_find_engine(&o);
	if (ret < 0) {
		fprintf(stderr,
			"ringside-cpubench: ringsided not found (%s): %s; set "
			"RINGSIDE_BIN or --engine\n",
			o.engine, strerror(-ret));
		return 1;
	}
	bench_raise_nofile();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)o.sensors + 64) {
		fprintf(stderr,
			"ringside-cpubench: %u sensors need more open files "
			"than the limit of %llu\n",
			o.sensors, (unsigned long long)rl.rlim_cur);
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cpubench_on_signal; /* no SA_RESTART: wait4 returns */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	ret = cpubench_setup(&o);
	if (ret < 0) {
		fprintf(stderr, "ringside-cpubench: %s: %s\n", o.dir,
			strerror(-ret));
		cpubench_cleanup(&o);
		return 1;
	}

	for (r = 0; r < o.rounds && status == 0; r++) {
		for (w = 0; w < CPUBENCH_WORKLOADS && status == 0; w++) {
			if (!(o.workloads & (1u << w)))
				continue;
			for (k = 0; k < 2 && status == 0; k++) {
				/* Engine first in odd rounds, baseline first
				 * in even ones. */
				bool engine = (k == 0) == (r % 2 == 0);
				struct cpubench_run *run =
					&runs[w][r][engine ? 0 : 1];

				ret = cpubench_measure(
					&o, (enum cpubench_workload)w, engine,
					run);
				if (cpubench_interrupted) {
					status = 1;
					break;
				}
				if (ret < 0) {
					fprintf(stderr,
						"ringside-cpubench: round %u, "
						"%s, %s: %s\n",
						r + 1, workload_key[w],
						engine ? "engine" : "baseline",
						ret == -ECHILD
							? "the process failed"
							: strerror(-ret));
					status = 1;
					break;
				}
				fprintf(stderr,
					"  round %u %-6s %-8s %8.0f ms CPU, "
					"%llu readings in %llu ticks (%llu "
					"missed)\n",
					r + 1, workload_key[w],
					engine ? "engine" : "baseline",
					run->cpu_us / 1000,
					(unsigned long long)run->readings,
					(unsigned long long)run->ticks,
					(unsigned long long)run->missed);
			}
		}
	}
	cpubench_cleanup(&o);
	if (status != 0)
		return status;

	printf("CPU per reading: %u sensors, period %.3g ms, deadline = "
	       "period, %.3g s per run, %u interleaved rounds; engine %s\n\n",
	       o.sensors, (double)o.period_ns / 1e6, o.duration_s, o.rounds,
	       o.engine);
	printf("| workload | engine µs/reading, median (min–max) "
	       "| baseline µs/reading, median (min–max) | engine/baseline "
	       "| readings per tick, engine / baseline |\n");
	printf("| --- | --- | --- | --- | --- |\n");
	for (w = 0; w < CPUBENCH_WORKLOADS; w++)
		if (o.workloads & (1u << w))
			cpubench_row(&o, (enum cpubench_workload)w, runs[w]);
	return 0;
}
