/* SPDX-License-Identifier: MIT */
/*
 * bench.c - ringside-bench: ringsided against the programs a user would
 * write instead, on the same sensors, side by side in one run.
 *
 * The systems (docs/bench.md): `ringside` (ringsided, batches into the
 * segment), and the peers `floor` (a plain read loop, no resilience),
 * `epoll` (one thread, epoll + timerfd), `threads` (a thread per sensor)
 * and `asyncio` (the lecture's Python).  Each run is one child process on
 * one generated INI file, started as `PROGRAM -c FILE --duration S`.
 * What it did comes from the peer's one JSON line, or for ringside from
 * the segment, read live by a thread of this process that sleeps on the
 * segment's futex (its CPU is not the engine's) and also records
 * publish-to-reader latency.  Its CPU per reading is a steady-state
 * figure, since startup (thousands of opens, a segment, Python's imports)
 * would swamp a run of seconds: user + system time of the whole process,
 * every thread (io-wq workers too), from the end of a warm-up of
 * max(2, ticks / 5) batches to the end of the last batch, over the
 * readings of those batches; each process reads it with getrusage() on
 * itself (ringsided into its counters after every batch, the peers into
 * their JSON line).  wait4() gives the whole run's figure, startup
 * included, and the peak RSS.
 *
 * Feeds are set up before the measured child starts and are never part
 * of it: files written once (tmpfs) or real procfs files, and for FIFOs,
 * Unix and TCP sockets ringside-sim processes started per run.  Failures
 * are injected by ringside-sim (fail=P drops a pushed record, garbage=P
 * makes a reply junk) or, for a file sensor, by junk in the file.
 *
 * The matrix (kinds x sensor counts x failure shares) runs in rounds; in
 * each round every workload runs every system, in an order reversed from
 * one round to the next, so that drift on a shared machine falls on all
 * of them.  Then a search for the highest rate each system sustains and,
 * on ringsided alone, the lecture's figures.  Results go to DIR/latest.json
 * (every run, and medians with min-max), DIR/latest.md (tables) and SVG
 * plots drawn by gnuplot from bench/plot.gp.
 *
 * Everything the bench creates (a private directory under /dev/shm, its
 * files, FIFOs and sockets, the children, each run's segment) is removed
 * on every way out, SIGINT and SIGTERM included.  Exit status: 0; 1 when
 * the bench could not run (a setup failure, an interruption); 2 on a usage
 * error.  A run that fails is recorded as failed, and the bench goes on.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "breaker.h"
#include "common.h"
#include "config.h"
#include "ringside.h"

#ifndef RINGSIDE_VERSION
#define RINGSIDE_VERSION "unknown"
#endif

#define NS 1000000000ULL
#define MS 1000000ULL
#define US 1000ULL

#define BENCH_NAME "ringside-bench"
#define BENCH_SIZES_MAX 8
#define BENCH_FAILS_MAX 4
#define BENCH_ROUNDS_MAX 50
#define BENCH_CHILDREN_MAX 64
#define BENCH_SIMS_MAX 32
/* Feeds per ringside-sim process: a TCP feed takes a listener and a
 * connection (and a second one while a reconnect is in flight). */
#define BENCH_SIM_CHUNK 2500
/* Descriptors a measured process needs beyond one per sensor. */
#define BENCH_FD_SLACK 64
#define BENCH_OUT_MAX (64 * 1024) /* a peer's stdout kept */
#define BENCH_TW_MAX 30000	  /* TIME_WAIT sockets a TCP run waits out */
#define PROC_GOOD "/proc/loadavg" /* field 0 is a number */
#define PROC_BAD "/proc/sys/kernel/ostype" /* "Linux": not a number */
#define FILE_GOOD "20.5\n"
#define FILE_BAD "junk\n"

/* ---- systems, kinds, metrics ------------------------------------------- */

enum bench_system {
	SYS_FLOOR,
	SYS_EPOLL,
	SYS_RINGSIDE,
	SYS_THREADS,
	SYS_ASYNCIO,
	SYS_COUNT,
};

static const char *const sys_name[SYS_COUNT] = {
	[SYS_FLOOR] = "floor",	     [SYS_EPOLL] = "epoll",
	[SYS_RINGSIDE] = "ringside", [SYS_THREADS] = "threads",
	[SYS_ASYNCIO] = "asyncio",
};

enum bench_kind {
	KIND_TMPFS,
	KIND_PROCFS,
	KIND_FIFO,
	KIND_UNIX,
	KIND_TCP,
	KIND_COUNT,
};

static const char *const kind_name[KIND_COUNT] = {
	[KIND_TMPFS] = "tmpfs", [KIND_PROCFS] = "procfs", [KIND_FIFO] = "fifo",
	[KIND_UNIX] = "unix",	[KIND_TCP] = "tcp",
};

static const char *const kind_title[KIND_COUNT] = {
	[KIND_TMPFS] = "tmpfs files (`file:`)",
	[KIND_PROCFS] = "procfs `" PROC_GOOD "` (`file:`)",
	[KIND_FIFO] = "FIFOs, pushed lines (`stream:`)",
	[KIND_UNIX] = "Unix sockets, pushed lines (`unix:`)",
	[KIND_TCP] = "TCP request/response on loopback (`tcp:`)",
};

/* What one run measured; NaN where it does not apply. */
enum bench_metric {
	M_CPU,	    /* µs of CPU per reading, after the warm-up */
	M_CPU_RUN,  /* µs of CPU per reading, the whole run with startup */
	M_LATE_P50, /* tick lateness, µs */
	M_LATE_P99,
	M_LATE_MAX,
	M_READER_P50, /* publish to reader, µs (ringside) */
	M_READER_P99,
	M_RSS_KB,     /* peak RSS */
	M_RSS_SENSOR, /* peak RSS / sensors, bytes */
	M_DELIVERED,  /* readings / (sensors x ticks) */
	M_MISSED,     /* missed ticks */
	M_COUNT,
};

static const char *const metric_key[M_COUNT] = {
	[M_CPU] = "cpu_us_per_reading",
	[M_CPU_RUN] = "cpu_us_per_reading_run",
	[M_LATE_P50] = "lateness_p50_us",
	[M_LATE_P99] = "lateness_p99_us",
	[M_LATE_MAX] = "lateness_max_us",
	[M_READER_P50] = "reader_p50_us",
	[M_READER_P99] = "reader_p99_us",
	[M_RSS_KB] = "peak_rss_kb",
	[M_RSS_SENSOR] = "rss_per_sensor_bytes",
	[M_DELIVERED] = "delivered",
	[M_MISSED] = "missed_ticks",
};

/* ---- structures ---------------------------------------------------------- */

/* One set of sensors: what the feeds are and how often they are read. */
struct bench_workload {
	enum bench_kind kind;
	uint32_t n;
	uint32_t fail_pct; /* injected failures, percent */
	uint64_t period_ns;
	const char *feed_opts; /* extra ringside-sim options, or NULL */
	int down;	       /* a feed down the whole run, or -1 */
	bool outage;	       /* no reading is expected (the lecture) */
	unsigned systems;      /* bit per enum bench_system; 0: all */
};

/* The resilience settings written into [defaults]. */
struct bench_policy {
	uint64_t timeout_ns;
	uint32_t attempts;
	uint64_t base_ns;
	uint64_t max_ns;
	const char *jitter;
	uint32_t breaker_failures;
	uint64_t window_ns;
	uint64_t reset_ns;
	uint32_t probes;
};

enum bench_status { RUN_OK, RUN_FAILED, RUN_SKIPPED };

static const char *const status_name[] = {
	[RUN_OK] = "ok", [RUN_FAILED] = "failed", [RUN_SKIPPED] = "skipped"
};

struct bench_run {
	const char *phase; /* "matrix", "maxrate", "lecture" */
	int workload;	   /* index in the matrix, or -1 */
	uint32_t round;
	enum bench_system sys;
	struct bench_workload w;
	double seconds;
	enum bench_status status;
	char note[160];
	double cpu_us; /* the whole run, from wait4() */
	uint64_t warmup;
	double steady_cpu_us; /* after the warm-up; NaN when unknown */
	uint64_t steady_readings;
	double wall_s;
	double tw_wait_s; /* waited for TIME_WAIT sockets to drain */
	uint64_t batches, readings, degraded, missed;
	double m[M_COUNT];
};

/* Median and range of one metric over the rounds. */
struct bench_stat {
	double med, lo, hi;
	uint32_t n;
};

/* Feeds of one run: the simulator processes, and TCP ports they bound. */
struct bench_feeds {
	pid_t pid[BENCH_SIMS_MAX];
	int out[BENCH_SIMS_MAX]; /* their stdout: kept open until stopped */
	int nsims;
	uint16_t *ports; /* tcp: one per sensor */
};

/*
 * The reader of a ringside run, a thread of this process: it attaches to
 * the segment as soon as it appears, sleeps on its futex, and takes every
 * batch.  Main sets @stop once the engine has been reaped.
 */
struct bench_reader {
	pthread_t thread;
	char name[RINGSIDE_NAME_MAX + 1];
	uint32_t n;
	bool collect;	 /* copy every reading, for the per-status figures */
	uint64_t warmup; /* batches before the steady state */
	atomic_int stop;
	/* Results, read by main after the join. */
	int err;
	bool attached;
	uint64_t batches, readings, degraded, lost, missed;
	uint64_t *cum; /* readings of batches 1..seq, at [seq]; [0] is 0 */
	size_t ncum, cum_cap;
	bool cum_failed; /* out of memory: no steady figure */
	/*
	 * The engine's counters (EC_BATCHES and EC_CPU_US of one snapshot)
	 * once past the warm-up, and after the engine closed the segment.
	 */
	bool warm, have_end;
	uint64_t warm_batches, warm_cpu_us, end_batches, end_cpu_us;
	uint64_t *late_ns; /* publish - tick, one per batch */
	size_t nlate, late_cap;
	uint64_t *wake_ns; /* reader wake - publish */
	size_t nwake, wake_cap;
	struct ringside_sensor_stats *stats; /* n, at the end */
	bool have_stats;
	uint64_t status_count[4];
	double status_latency_us[4]; /* sum of latency_us per status */
	uint64_t available_sum, total_sum;
};

struct bench_opts {
	unsigned systems; /* bit per enum bench_system */
	unsigned kinds;	  /* bit per enum bench_kind */
	uint32_t sizes[BENCH_SIZES_MAX];
	uint32_t nsizes;
	uint32_t fails[BENCH_FAILS_MAX]; /* percent */
	uint32_t nfails;
	uint32_t rounds;
	double seconds;
	uint64_t period_ns;
	unsigned maxrate_kinds; /* bit per kind; 0: no search */
	uint32_t maxrate_n;
	double maxrate_seconds;
	bool lecture;
	bool full;
	bool extra; /* quick: tmpfs x 10000 on floor, epoll and ringside */
	char out[PATH_MAX];
};

/* One system's search for its highest sustainable rate on one kind. */
struct bench_maxrate {
	enum bench_kind kind;
	enum bench_system sys;
	uint64_t best_period_ns;   /* 0: not even the slowest step passed */
	uint64_t failed_period_ns; /* the first step that failed, or 0 */
	char why[96];		   /* why that step failed */
	bool ran;
};

struct bench_lecture {
	bool ran;
	/* (1) 60% failures, 4 attempts, breaker off. */
	uint64_t l1_calls, l1_failed, l1_attempts, l1_retries;
	uint32_t l1_n;
	/* (2) a sustained outage: retry alone, then retry + breaker. */
	uint64_t l2a_calls, l2a_latency_us;
	uint64_t l2b_calls, l2b_latency_us, l2b_fast_fails, l2b_opens;
	double l2b_open_latency_us; /* mean latency of `open` entries */
	uint64_t l2b_open_entries;
	/* (3) one sensor of five down. */
	uint64_t l3_available, l3_total, l3_batches, l3_late, l3_expected;
	/* The fast-fail itself, in this process. */
	double admit_ns;
	bool l1_ok, l2a_ok, l2b_ok, l3_ok;
};

struct bench {
	struct bench_opts o;
	char dir[64]; /* private: /dev/shm/ringside-bench.XXXXXX */
	bool dir_made;
	char engine[PATH_MAX];
	char sim[PATH_MAX];
	char peer[SYS_COUNT][PATH_MAX];
	char srcdir[PATH_MAX];
	bool have[SYS_COUNT];
	char missing[SYS_COUNT][PATH_MAX + 32];
	rlim_t nofile;
	uint32_t files_n;	 /* tmpfs files f0.. written */
	uint32_t files_fail_pct; /* the failure share they were written for */
	uint32_t fifos_n;	 /* FIFOs p0.. made */
	uint64_t seq;		 /* runs started: names segments */
	char segment[RINGSIDE_NAME_MAX + 1]; /* of the run in progress */
	struct bench_workload *wl;	     /* the matrix */
	size_t nwl;
	struct bench_run *runs;
	size_t nruns, runs_cap;
	char **notes; /* what was skipped, and why */
	size_t nnotes;
	struct bench_maxrate *mr;
	size_t nmr;
	struct bench_lecture lec;
	/* Progress. */
	bool tty;
	uint64_t t0;
	size_t planned, done;
	char started[32];
	double elapsed_s;
};

/* ---- signals and children ---------------------------------------------- */

/* Set by SIGINT/SIGTERM: the bench stops its children and cleans up. */
static volatile sig_atomic_t bench_interrupted;

static void bench_on_signal(int sig)
{
	(void)sig;
	bench_interrupted = 1;
}

/* Every child alive, so that any way out can stop them all. */
static pid_t bench_children[BENCH_CHILDREN_MAX];

static void bench_child_add(pid_t pid)
{
	int i;

	for (i = 0; i < BENCH_CHILDREN_MAX; i++)
		if (bench_children[i] == 0) {
			bench_children[i] = pid;
			return;
		}
}

static void bench_child_del(pid_t pid)
{
	int i;

	for (i = 0; i < BENCH_CHILDREN_MAX; i++)
		if (bench_children[i] == pid)
			bench_children[i] = 0;
}

/* SIGTERM every child, SIGKILL those alive 2 s later, reap them all. */
static void bench_children_stop(void)
{
	uint64_t until = bench_now_ns() + 2 * NS;
	bool any;
	int i;

	for (i = 0; i < BENCH_CHILDREN_MAX; i++)
		if (bench_children[i] > 0)
			kill(bench_children[i], SIGTERM);
	do {
		any = false;
		for (i = 0; i < BENCH_CHILDREN_MAX; i++) {
			pid_t p = bench_children[i];

			if (p <= 0)
				continue;
			if (waitpid(p, NULL, WNOHANG) == p ||
			    (errno == ECHILD && kill(p, 0) < 0))
				bench_children[i] = 0;
			else
				any = true;
		}
		if (any)
			usleep(10000);
	} while (any && bench_now_ns() < until);
	for (i = 0; i < BENCH_CHILDREN_MAX; i++) {
		if (bench_children[i] <= 0)
			continue;
		kill(bench_children[i], SIGKILL);
		waitpid(bench_children[i], NULL, 0);
		bench_children[i] = 0;
	}
}

/*
 * Start @argv (searched in PATH when it has no slash) with stdout on
 * @out_fd and stderr on @err_fd (-1: /dev/null), in a process group of
 * its own (a ^C reaches the bench, which stops its children itself), and
 * killed with SIGTERM if the bench dies.  Returns the pid or -errno.
 */
static pid_t bench_spawn(char *const *argv, int out_fd, int err_fd)
{
	pid_t parent = getpid(), pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		sigset_t none;
		int null = open("/dev/null", O_RDWR);

		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (null >= 0)
			dup2(null, 0);
		dup2(out_fd >= 0 ? out_fd : null, 1);
		dup2(err_fd >= 0 ? err_fd : null, 2);
		execvp(argv[0], argv);
		dprintf(2, BENCH_NAME ": %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	bench_child_add(pid);
	return pid;
}

/* Bytes a child wrote on a pipe, kept up to BENCH_OUT_MAX. */
struct bench_text {
	char *buf;
	size_t len;
};

static void bench_text_read(int fd, struct bench_text *t, bool *eof)
{
	char scratch[4096];

	for (;;) {
		char *dst = scratch;
		size_t room = sizeof(scratch);
		ssize_t n;

		if (t != NULL && t->buf != NULL && t->len < BENCH_OUT_MAX - 1) {
			dst = t->buf + t->len;
			room = BENCH_OUT_MAX - 1 - t->len;
		}
		n = read(fd, dst, room);
		if (n > 0) {
			if (dst != scratch) {
				t->len += (size_t)n;
				t->buf[t->len] = '\0';
			}
			continue;
		}
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			*eof = true;
		if (n < 0 && errno == EINTR)
			continue;
		return;
	}
}

enum bench_wait_end { WAIT_EXITED, WAIT_TIMED_OUT, WAIT_INTERRUPTED };

/*
 * Wait for child @pid, collecting what it writes on @out_fd (non-blocking,
 * or -1) into @out (may be NULL).  Past @limit_ns, or on an interruption,
 * it gets SIGTERM, and SIGKILL 3 s later.  Fills @ru and *@end.  Returns
 * the wait status, or -errno.
 */
static int bench_wait(pid_t pid, int out_fd, struct bench_text *out,
		      uint64_t limit_ns, struct rusage *ru,
		      enum bench_wait_end *end)
{
	uint64_t deadline = bench_now_ns() + limit_ns, term_at = 0;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool eof = out_fd < 0;
	int status;

	*end = WAIT_EXITED;
	for (;;) {
		struct pollfd p[2];
		uint64_t now;
		int np = 0, ms = 200;

		if (pidfd >= 0)
			p[np++] = (struct pollfd){ .fd = pidfd,
						   .events = POLLIN };
		else
			ms = 20; /* no pidfd: look again soon */
		if (!eof)
			p[np++] = (struct pollfd){ .fd = out_fd,
						   .events = POLLIN };
		if (poll(p, (nfds_t)np, ms) > 0) {
			if (!eof && p[np - 1].revents)
				bench_text_read(out_fd, out, &eof);
			if (pidfd >= 0 && p[0].revents)
				break;
		}
		if (pidfd < 0) {
			siginfo_t si = { 0 };

			if (waitid(P_PID, (id_t)pid, &si,
				   WEXITED | WNOHANG | WNOWAIT) == 0 &&
			    si.si_pid == pid)
				break;
		}
		now = bench_now_ns();
		if (term_at == 0 && (bench_interrupted || now >= deadline)) {
			*end = bench_interrupted ? WAIT_INTERRUPTED
						 : WAIT_TIMED_OUT;
			kill(pid, SIGTERM);
			term_at = now;
		} else if (term_at != 0 && now >= term_at + 3 * NS) {
			kill(pid, SIGKILL);
		}
	}
	if (!eof)
		bench_text_read(out_fd, out, &eof);
	if (pidfd >= 0)
		close(pidfd);
	while (wait4(pid, &status, 0, ru) < 0) {
		if (errno != EINTR) {
			bench_child_del(pid);
			return -errno;
		}
	}
	bench_child_del(pid);
	return status;
}

/* ---- small helpers ------------------------------------------------------- */

/*
 * snprintf() for texts that may be cut (messages, paths from the
 * environment): true when @buf holds the whole text.
 */
__attribute__((format(printf, 3, 4))) static bool bench_fmt(char *buf,
							    size_t len,
							    const char *fmt,
							    ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < len;
}

static void bench_progress_end(struct bench *B);

__attribute__((format(printf, 2, 3))) static void bench_note(struct bench *B,
							     const char *fmt,
							     ...)
{
	char buf[512], **n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = realloc(B->notes, (B->nnotes + 1) * sizeof(*n));
	if (n == NULL)
		return;
	B->notes = n;
	B->notes[B->nnotes] = strdup(buf);
	if (B->notes[B->nnotes] != NULL)
		B->nnotes++;
	bench_progress_end(B);
	fprintf(stderr, BENCH_NAME ": %s\n", buf);
}

/* Nearest-rank percentile @p (0..100) of @n sorted values. */
static uint64_t bench_pct(const uint64_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)ceil(p / 100 * (double)n);
	if (k < 1)
		k = 1;
	return v[k > n ? n - 1 : k - 1];
}

/* Median and range of the finite values among @n (reordered). */
static struct bench_stat bench_stat_of(double *v, uint32_t n)
{
	struct bench_stat s = { NAN, NAN, NAN, 0 };
	uint32_t i, k = 0;

	for (i = 0; i < n; i++)
		if (isfinite(v[i]))
			v[k++] = v[i];
	if (k == 0)
		return s;
	qsort(v, k, sizeof(*v), bench_cmp_double);
	s.med = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
	s.lo = v[0];
	s.hi = v[k - 1];
	s.n = k;
	return s;
}

static bool bench_append_u64(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		uint64_t *p = realloc(*v, c * sizeof(*p));

		if (p == NULL)
			return false;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return true;
}

static int bench_write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len) {
		int err = errno ? -errno : -EIO;

		close(fd);
		return err;
	}
	return close(fd) < 0 ? -errno : 0;
}

static int bench_rm_one(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* The segment of the run in progress, and its lock file. */
static void bench_segment_remove(struct bench *B)
{
	char path[96];

	if (B->segment[0] == '\0')
		return;
	snprintf(path, sizeof(path), "/dev/shm/ringside.%s", B->segment);
	unlink(path);
	snprintf(path, sizeof(path), "/dev/shm/.ringside.%s.lock", B->segment);
	unlink(path);
	B->segment[0] = '\0';
}

static void bench_cleanup(struct bench *B)
{
	bench_children_stop();
	bench_segment_remove(B);
	if (B->dir_made) {
		nftw(B->dir, bench_rm_one, 16, FTW_DEPTH | FTW_PHYS);
		B->dir_made = false;
	}
}

/* The last non-empty line of file @path, for a message. */
static void bench_log_tail(const char *path, char *out, size_t len)
{
	char buf[4096];
	ssize_t n;
	char *end, *start;
	int fd;

	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	{
		struct stat st;

		if (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof(buf) - 1)
			n = pread(fd, buf, sizeof(buf) - 1,
				  st.st_size - (off_t)sizeof(buf) + 1);
	}
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	end = buf + n;
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	start = strrchr(buf, '\n');
	start = start != NULL ? start + 1 : buf;
	bench_fmt(out, len, "%s", start);
}

/* ---- feeds ---------------------------------------------------------------- */

/*
 * Whether sensor @i is one of the @pct percent that fail, spread evenly
 * (at 20%, every fifth one).
 */
static bool bench_bad(uint32_t pct, uint32_t i)
{
	return (uint64_t)(i + 1) * pct / 100 > (uint64_t)i * pct / 100;
}

/*
 * tmpfs files f0..f(n-1): a number, or junk for the failing ones (which
 * then fail every attempt with EBADMSG and have their breakers opened).
 */
static int bench_files_setup(struct bench *B, uint32_t n, uint32_t pct)
{
	char path[PATH_MAX];
	uint32_t i;
	int ret;

	if (B->files_n >= n && B->files_fail_pct == pct)
		return 0;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%u", B->dir, i);
		ret = bench_write_file(path, bench_bad(pct, i) ? FILE_BAD
							       : FILE_GOOD);
		if (ret < 0)
			return ret;
	}
	B->files_n = n;
	B->files_fail_pct = pct;
	return 0;
}

static int bench_fifos_setup(struct bench *B, uint32_t n)
{
	char path[PATH_MAX];
	uint32_t i;

	for (i = B->fifos_n; i < n; i++) {
		snprintf(path, sizeof(path), "%s/p%u", B->dir, i);
		if (mkfifo(path, 0600) < 0 && errno != EEXIST)
			return -errno;
	}
	if (n > B->fifos_n)
		B->fifos_n = n;
	return 0;
}

static void bench_sockets_remove(struct bench *B, uint32_t n)
{
	char path[PATH_MAX];
	uint32_t i;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/u%u", B->dir, i);
		unlink(path);
	}
}

/* The ringside-sim FEED argument of sensor @i. */
static void bench_feed_spec(const struct bench *B,
			    const struct bench_workload *w, uint32_t i,
			    char *buf, size_t len)
{
	double rate = 1e9 / (double)w->period_ns;
	char opts[192];
	int k = 0;

	/*
	 * A TCP feed's failures are junk replies, not fail=P's closed
	 * connections: at 1000 sensors those are thousands of connections a
	 * second, and once some 45 000 sockets sit in TIME_WAIT, loopback
	 * connects here start to time out, for every system alike, whatever
	 * it does.  Push feeds drop that share of their records.
	 */
	opts[0] = '\0';
	if (w->fail_pct > 0)
		k += snprintf(opts + k, sizeof(opts) - (size_t)k, ",%s=%.2f",
			      w->kind == KIND_TCP ? "garbage" : "fail",
			      w->fail_pct / 100.0);
	if (w->feed_opts != NULL)
		k += snprintf(opts + k, sizeof(opts) - (size_t)k, ",%s",
			      w->feed_opts);
	if ((int)i == w->down)
		snprintf(opts + k, sizeof(opts) - (size_t)k, ",down=0+86400");
	switch (w->kind) {
	case KIND_FIFO:
		snprintf(buf, len, "fifo:%s/p%u,rate=%.6g%s", B->dir, i, rate,
			 opts);
		break;
	case KIND_UNIX:
		snprintf(buf, len, "unix:%s/u%u,rate=%.6g%s", B->dir, i, rate,
			 opts);
		break;
	default:
		snprintf(buf, len, "tcp:127.0.0.1:0,mode=request%s", opts);
		break;
	}
}

static void bench_feeds_stop(struct bench *B, const struct bench_workload *w,
			     struct bench_feeds *f)
{
	enum bench_wait_end end;
	struct rusage ru;
	int s;

	for (s = 0; s < f->nsims; s++)
		if (f->pid[s] > 0)
			kill(f->pid[s], SIGTERM);
	for (s = 0; s < f->nsims; s++) {
		if (f->pid[s] > 0)
			bench_wait(f->pid[s], -1, NULL, 5 * NS, &ru, &end);
		if (f->out[s] >= 0)
			close(f->out[s]);
		f->pid[s] = 0;
		f->out[s] = -1;
	}
	f->nsims = 0;
	free(f->ports);
	f->ports = NULL;
	if (w->kind == KIND_UNIX)
		bench_sockets_remove(B, w->n);
}

/*
 * Read simulator @s's ready lines, one per feed, in feed order; a TCP
 * feed's names the port it bound.  Returns 0, or -errno (-EPIPE when the
 * simulator exited first, -ETIMEDOUT after 30 s, -EINTR).
 */
static int bench_sim_ready(const struct bench_workload *w,
			   struct bench_feeds *f, int s, uint32_t first,
			   uint32_t count)
{
	uint64_t deadline = bench_now_ns() + 30 * NS;
	char buf[8192];
	size_t len = 0;
	uint32_t got = 0;

	while (got < count) {
		struct pollfd p = { .fd = f->out[s], .events = POLLIN };
		char *line, *nl;
		ssize_t n;

		if (bench_interrupted)
			return -EINTR;
		if (bench_now_ns() > deadline)
			return -ETIMEDOUT;
		if (poll(&p, 1, 200) <= 0)
			continue;
		n = read(f->out[s], buf + len, sizeof(buf) - 1 - len);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		len += (size_t)n;
		buf[len] = '\0';
		line = buf;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			if (strncmp(line, "ready ", 6) == 0 && got < count) {
				if (w->kind == KIND_TCP) {
					char *colon = strrchr(line, ':');

					f->ports[first + got] =
						(uint16_t)(colon ? atoi(colon +
									1)
								 : 0);
				}
				got++;
			}
			line = nl + 1;
		}
		len = (size_t)(buf + len - line);
		memmove(buf, line, len);
		if (len == sizeof(buf) - 1)
			len = 0; /* a line that long is not a ready line */
	}
	return 0;
}

/*
 * Set up the feeds of @w for a run of @seconds: files, or ringside-sim
 * processes (several when the feeds are many), ready when this returns.
 * @seed makes the simulators' faults the same for every system of a
 * round.  Returns 0, or -errno with @why filled.
 */
static int bench_feeds_start(struct bench *B, const struct bench_workload *w,
			     double seconds, uint32_t seed,
			     struct bench_feeds *f, char *why, size_t whylen)
{
	uint32_t chunk = BENCH_SIM_CHUNK, first;
	char seedbuf[16], durbuf[32];
	int s, ret = 0;

	memset(f, 0, sizeof(*f));
	for (s = 0; s < BENCH_SIMS_MAX; s++)
		f->out[s] = -1;
	why[0] = '\0';
	switch (w->kind) {
	case KIND_TMPFS:
		ret = bench_files_setup(B, w->n, w->fail_pct);
		if (ret < 0)
			snprintf(why, whylen, "files: %s", strerror(-ret));
		return ret;
	case KIND_PROCFS:
		return 0;
	case KIND_FIFO:
		ret = bench_fifos_setup(B, w->n);
		if (ret < 0) {
			snprintf(why, whylen, "mkfifo: %s", strerror(-ret));
			return ret;
		}
		break;
	case KIND_UNIX:
		bench_sockets_remove(B, w->n);
		break;
	case KIND_TCP:
		f->ports = calloc(w->n, sizeof(*f->ports));
		if (f->ports == NULL)
			return -ENOMEM;
		break;
	default:
		return -EINVAL;
	}
	if ((B->nofile - BENCH_FD_SLACK) / 3 < chunk)
		chunk = (uint32_t)((B->nofile - BENCH_FD_SLACK) / 3);
	snprintf(seedbuf, sizeof(seedbuf), "%u", seed);
	snprintf(durbuf, sizeof(durbuf), "%.0f", seconds + 60);
	for (first = 0, s = 0; first < w->n; first += chunk, s++) {
		uint32_t count = w->n - first < chunk ? w->n - first : chunk;
		const size_t spec_len = 256;
		char **argv, *specs, log[PATH_MAX];
		int p[2], logfd;
		uint32_t i;
		pid_t pid;

		if (s == BENCH_SIMS_MAX) {
			ret = -E2BIG;
			snprintf(why, whylen, "too many feeds");
			break;
		}
		argv = calloc(count + 8, sizeof(*argv));
		specs = malloc(count * spec_len);
		if (argv == NULL || specs == NULL) {
			free(argv);
			free(specs);
			ret = -ENOMEM;
			break;
		}
		argv[0] = B->sim;
		argv[1] = "--quiet";
		argv[2] = "--seed";
		argv[3] = seedbuf;
		argv[4] = "--duration";
		argv[5] = durbuf;
		for (i = 0; i < count; i++) {
			bench_feed_spec(B, w, first + i, specs + i * spec_len,
					spec_len);
			argv[6 + i] = specs + i * spec_len;
		}
		snprintf(log, sizeof(log), "%s/sim-%d.log", B->dir, s);
		logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			     0600);
		if (pipe2(p, O_CLOEXEC) < 0) {
			ret = -errno;
			if (logfd >= 0)
				close(logfd);
			free(argv);
			free(specs);
			break;
		}
		pid = bench_spawn(argv, p[1], logfd);
		close(p[1]);
		if (logfd >= 0)
			close(logfd);
		free(argv);
		free(specs);
		if (pid < 0) {
			close(p[0]);
			ret = pid;
			break;
		}
		f->pid[s] = pid;
		f->out[s] = p[0];
		f->nsims = s + 1;
		ret = bench_sim_ready(w, f, s, first, count);
		if (ret < 0) {
			char tail[256];

			bench_log_tail(log, tail, sizeof(tail));
			bench_fmt(why, whylen, "ringside-sim: %s%s%s",
				  ret == -EPIPE ? "exited" : strerror(-ret),
				  tail[0] ? ": " : "", tail);
			break;
		}
	}
	if (ret < 0) {
		if (why[0] == '\0')
			snprintf(why, whylen, "feeds: %s", strerror(-ret));
		bench_feeds_stop(B, w, f);
	}
	return ret;
}

/* TIME_WAIT sockets of this network namespace, or -1 when unknown. */
static long bench_time_wait(void)
{
	char line[512];
	long tw = -1;
	FILE *f;

	f = fopen("/proc/net/sockstat", "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = strstr(line, " tw ");

		if (strncmp(line, "TCP:", 4) == 0 && p != NULL)
			tw = strtol(p + 4, NULL, 10);
	}
	fclose(f);
	return tw;
}

/*
 * Before a TCP run: wait (15 s at most, 60 s over the whole bench, so
 * that --quick keeps its time) while more than BENCH_TW_MAX sockets are
 * in TIME_WAIT, earlier runs' or anyone's, since past some 45 000 of them
 * loopback connects here start to time out.  Returns the seconds waited.
 */
static double bench_time_wait_drain(void)
{
	static double budget_s = 60;
	uint64_t t0 = bench_now_ns(), until = t0 + 15 * NS;
	double waited;

	while (budget_s > 0 && bench_time_wait() > BENCH_TW_MAX &&
	       !bench_interrupted && bench_now_ns() < until)
		usleep(200000);
	waited = (double)(bench_now_ns() - t0) / 1e9;
	budget_s -= waited;
	return waited;
}

/* ---- the configuration ---------------------------------------------------- */

/*
 * The resilience settings of the matrix, the same for every system: a
 * per-attempt timeout of 50 ms, 2 attempts with a full-jitter backoff of
 * 10 ms (at most 20 ms), the engine's default breaker (3 failed calls in
 * 5 s open it for 5 s, 1 probe).  Below a 125 ms period the timeout and
 * backoff shrink (to 0.4 and 0.1 of the period) so that a failing call's
 * whole chain still ends within the period.
 */
static struct bench_policy bench_policy_for(uint64_t period_ns)
{
	struct bench_policy p = {
		.timeout_ns = 50 * MS,
		.attempts = 2,
		.base_ns = 10 * MS,
		.jitter = "full",
		.breaker_failures = 3,
		.window_ns = 5 * NS,
		.reset_ns = 5 * NS,
		.probes = 1,
	};

	if (p.timeout_ns > period_ns * 2 / 5)
		p.timeout_ns = period_ns * 2 / 5;
	if (p.base_ns > period_ns / 10)
		p.base_ns = period_ns / 10;
	p.max_ns = 2 * p.base_ns;
	return p;
}

/* The ring: at least 64 batches and half a second of them. */
static uint32_t bench_ring(uint64_t period_ns)
{
	uint32_t ring = 64;

	while (ring < RINGSIDE_RING_MAX && (uint64_t)ring * period_ns < NS / 2)
		ring <<= 1;
	return ring;
}

static void bench_source(const struct bench *B, const struct bench_workload *w,
			 const struct bench_feeds *f, uint32_t i, char *buf,
			 size_t len)
{
	switch (w->kind) {
	case KIND_TMPFS:
		snprintf(buf, len, "file:%s/f%u", B->dir, i);
		break;
	case KIND_PROCFS:
		snprintf(buf, len, "file:%s",
			 bench_bad(w->fail_pct, i) ? PROC_BAD : PROC_GOOD);
		break;
	case KIND_FIFO:
		snprintf(buf, len, "stream:%s/p%u", B->dir, i);
		break;
	case KIND_UNIX:
		snprintf(buf, len, "unix:%s/u%u", B->dir, i);
		break;
	default:
		snprintf(buf, len, "tcp:127.0.0.1:%u", f->ports[i]);
		break;
	}
}

static int bench_write_config(const struct bench *B,
			      const struct bench_workload *w,
			      const struct bench_policy *p,
			      const struct bench_feeds *f, const char *name,
			      const char *path)
{
	char src[PATH_MAX];
	uint32_t i;
	FILE *fp;

	fp = fopen(path, "we");
	if (fp == NULL)
		return -errno;
	fprintf(fp,
		"; generated by ringside-bench: %u %s sensors, %u%% failing\n"
		"[engine]\nname = %s\nperiod = %lluus\ndeadline = %lluus\n"
		"ring = %u\n\n[defaults]\ntimeout = %lluus\n"
		"retry_attempts = %u\nretry_base = %lluus\n"
		"retry_max = %lluus\nretry_jitter = %s\n"
		"breaker_failures = %u\nbreaker_window = %lluus\n"
		"breaker_reset = %lluus\nbreaker_probes = %u\n",
		w->n, kind_name[w->kind], w->fail_pct, name,
		(unsigned long long)(w->period_ns / US),
		(unsigned long long)(w->period_ns / US),
		bench_ring(w->period_ns),
		(unsigned long long)(p->timeout_ns / US), p->attempts,
		(unsigned long long)(p->base_ns / US),
		(unsigned long long)(p->max_ns / US), p->jitter,
		p->breaker_failures, (unsigned long long)(p->window_ns / US),
		(unsigned long long)(p->reset_ns / US), p->probes);
	if (w->kind == KIND_TCP)
		fprintf(fp, "request = r\\n\n");
	for (i = 0; i < w->n; i++) {
		bench_source(B, w, f, i, src, sizeof(src));
		fprintf(fp, "\n[sensor s%u]\nsource = %s\n", i, src);
	}
	if (fclose(fp) != 0)
		return -errno;
	return 0;
}

/* ---- the reader of ringside's segment ------------------------------------ */

/*
 * The warm-up of a run of @seconds at @period_ns: max(2, ticks / 5) of its
 * ticks, the same for every system (the peers count it alike).
 */
static uint64_t bench_warmup(double seconds, uint64_t period_ns)
{
	uint64_t ticks = (uint64_t)(seconds * 1e9) / period_ns;

	return ticks / 5 > 2 ? ticks / 5 : 2;
}

/*
 * After batch @seq, whose readings took rd->readings from @before: the
 * readings of batches 1..@seq into rd->cum[@seq], batches the reader lost
 * counting none, so that the steady state can be summed over exactly the
 * batches between two snapshots of the engine's counters.
 */
static void bench_reader_cum(struct bench_reader *rd, uint64_t seq,
			     uint64_t before)
{
	while (!rd->cum_failed && rd->ncum < seq)
		rd->cum_failed = !bench_append_u64(&rd->cum, &rd->ncum,
						   &rd->cum_cap, before);
	if (!rd->cum_failed && rd->ncum == seq)
		rd->cum_failed = !bench_append_u64(&rd->cum, &rd->ncum,
						   &rd->cum_cap, rd->readings);
}

/*
 * The engine's CPU at the end of the warm-up.  Its counters go out just
 * after each batch, so a reader woken by batch W may see them still at
 * W - 1 (or, behind, already at W + 1): EC_BATCHES of the same snapshot
 * says which batch EC_CPU_US ends.  One short of the warm-up is looked at
 * again for a millisecond (the engine is writing them), then left to the
 * next batch: a longer warm-up, the steady state still exact.
 */
static void bench_reader_warm(struct bench_reader *rd,
			      const struct ringside_reader *r)
{
	struct ringside_engine_stats es;
	int tries;

	for (tries = 0; tries < 50; tries++) {
		if (ringside_reader_stats(r, &es, NULL, 0) == 0 &&
		    es.counter[RINGSIDE_EC_BATCHES] >= rd->warmup) {
			rd->warm = true;
			rd->warm_batches = es.counter[RINGSIDE_EC_BATCHES];
			rd->warm_cpu_us = es.counter[RINGSIDE_EC_CPU_US];
			return;
		}
		usleep(20);
	}
}

static void *bench_reader_main(void *arg)
{
	struct bench_reader *rd = arg;
	struct ringside_engine_stats es;
	struct ringside_reading one, *v = &one;
	struct ringside_reader r;
	struct ringside_batch b;
	bool caught_up = false;
	uint32_t max = 1;
	int ret, ev, tries;

	if (rd->collect) {
		v = calloc(rd->n, sizeof(*v));
		if (v == NULL) {
			rd->err = -ENOMEM;
			return NULL;
		}
		max = rd->n;
	}
	while ((ret = ringside_reader_attach(&r, rd->name,
					     RINGSIDE_FROM_OLDEST)) < 0) {
		if (atomic_load(&rd->stop)) {
			rd->err = ret;
			goto out;
		}
		usleep(1000);
	}
	rd->attached = true;
	for (;;) {
		bool woke;

		ev = ringside_reader_wait(&r, 100);
		woke = ev == RINGSIDE_READY && caught_up;
		while (ringside_reader_next(&r, &b, v, max) > 0) {
			uint64_t now = bench_now_ns();
			uint32_t i;

			/* Publish-to-reader latency: only of a batch this
			 * reader was asleep waiting for. */
			if (woke && b.lost == 0 &&
			    b.seq == ringside_reader_head(&r))
				bench_append_u64(
					&rd->wake_ns, &rd->nwake, &rd->wake_cap,
					now > b.published_mono_ns
						? now - b.published_mono_ns
						: 0);
			woke = false;
			bench_append_u64(
				&rd->late_ns, &rd->nlate, &rd->late_cap,
				b.published_mono_ns > b.tick_mono_ns
					? b.published_mono_ns - b.tick_mono_ns
					: 0);
			rd->batches++;
			rd->readings += b.available;
			bench_reader_cum(rd, b.seq, rd->readings - b.available);
			rd->available_sum += b.available;
			rd->total_sum += b.total;
			rd->lost += b.lost;
			if (b.flags & RINGSIDE_BATCH_DEGRADED)
				rd->degraded++;
			for (i = 0; rd->collect && i < b.nreadings; i++) {
				unsigned st = v[i].status & 3;

				rd->status_count[st]++;
				rd->status_latency_us[st] += v[i].latency_us;
			}
			if (!rd->warm && b.seq >= rd->warmup)
				bench_reader_warm(rd, &r);
		}
		caught_up = true;
		if (ev == RINGSIDE_CLOSED || ev == RINGSIDE_DEAD ||
		    ev == RINGSIDE_REPLACED)
			break;
		if (ev == RINGSIDE_TIMEOUT && atomic_load(&rd->stop))
			break;
	}
	rd->stats = calloc(rd->n, sizeof(*rd->stats));
	for (tries = 0; rd->stats != NULL && tries < 100; tries++) {
		if (ringside_reader_stats(&r, &es, rd->stats, rd->n) == 0) {
			rd->missed = es.counter[RINGSIDE_EC_MISSED_TICKS];
			rd->have_stats = true;
			/* Written as the engine closed the segment: every
			 * batch is in it. */
			rd->have_end = true;
			rd->end_batches = es.counter[RINGSIDE_EC_BATCHES];
			rd->end_cpu_us = es.counter[RINGSIDE_EC_CPU_US];
			break;
		}
		usleep(1000);
	}
	ringside_reader_detach(&r);
out:
	if (v != &one)
		free(v);
	return NULL;
}

/* Start the reader thread with SIGINT and SIGTERM blocked in it. */
static int bench_reader_start(struct bench_reader *rd, const char *name,
			      uint32_t n)
{
	sigset_t block, old;
	int ret;

	snprintf(rd->name, sizeof(rd->name), "%s", name);
	rd->n = n;
	atomic_store(&rd->stop, 0);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	ret = pthread_create(&rd->thread, NULL, bench_reader_main, rd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -ret;
}

static void bench_reader_exit(struct bench_reader *rd)
{
	free(rd->late_ns);
	free(rd->wake_ns);
	free(rd->cum);
	free(rd->stats);
	memset(rd, 0, sizeof(*rd));
}

/* ---- one run ------------------------------------------------------------- */

/* The number after "KEY": in JSON text @js; false when absent. */
static bool bench_json_number(const char *js, const char *key, double *out)
{
	char pat[48], *end;
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(js, pat);
	if (p == NULL)
		return false;
	p += strlen(pat);
	while (*p == ' ' || *p == ':' || *p == '\t')
		p++;
	*out = strtod(p, &end);
	return end != p;
}

/* Fill @run from a peer's JSON line (the last line that opens with '{'). */
static int bench_parse_peer(char *text, struct bench_run *run)
{
	double batches, readings, degraded, missed, p50, p99, max, scpu, sread;
	char *line = NULL, *p = text;

	while (p != NULL && *p != '\0') {
		char *nl = strchr(p, '\n');

		while (*p == ' ')
			p++;
		if (*p == '{')
			line = p;
		p = nl != NULL ? nl + 1 : NULL;
	}
	if (line == NULL)
		return -ENOMSG;
	if (!bench_json_number(line, "batches", &batches) ||
	    !bench_json_number(line, "readings", &readings) ||
	    !bench_json_number(line, "missed_ticks", &missed))
		return -EBADMSG;
	if (!bench_json_number(line, "degraded", &degraded))
		degraded = 0;
	if (!bench_json_number(line, "p50", &p50))
		p50 = NAN;
	if (!bench_json_number(line, "p99", &p99))
		p99 = NAN;
	if (!bench_json_number(line, "max", &max))
		max = NAN;
	run->batches = (uint64_t)batches;
	run->readings = (uint64_t)readings;
	run->degraded = (uint64_t)degraded;
	run->missed = (uint64_t)missed;
	run->m[M_LATE_P50] = p50;
	run->m[M_LATE_P99] = p99;
	run->m[M_LATE_MAX] = max;
	/* Absent when the peer ran no batch past its warm-up. */
	if (bench_json_number(line, "steady_cpu_us", &scpu) &&
	    bench_json_number(line, "steady_readings", &sread)) {
		run->steady_cpu_us = scpu;
		run->steady_readings = (uint64_t)sread;
	}
	return 0;
}

static void bench_run_ringside(struct bench_reader *rd, struct bench_run *run)
{
	run->batches = rd->batches;
	run->readings = rd->readings;
	run->degraded = rd->degraded;
	run->missed = rd->missed;
	if (rd->nlate > 0) {
		qsort(rd->late_ns, rd->nlate, sizeof(uint64_t), bench_cmp_u64);
		run->m[M_LATE_P50] =
			(double)bench_pct(rd->late_ns, rd->nlate, 50) / 1e3;
		run->m[M_LATE_P99] =
			(double)bench_pct(rd->late_ns, rd->nlate, 99) / 1e3;
		run->m[M_LATE_MAX] = (double)rd->late_ns[rd->nlate - 1] / 1e3;
	}
	if (rd->nwake > 0) {
		qsort(rd->wake_ns, rd->nwake, sizeof(uint64_t), bench_cmp_u64);
		run->m[M_READER_P50] =
			(double)bench_pct(rd->wake_ns, rd->nwake, 50) / 1e3;
		run->m[M_READER_P99] =
			(double)bench_pct(rd->wake_ns, rd->nwake, 99) / 1e3;
	}
	if (rd->lost > 0)
		snprintf(run->note, sizeof(run->note),
			 "the reader lost %llu batches: readings undercounted",
			 (unsigned long long)rd->lost);
	/*
	 * The steady state: the engine's CPU between the two snapshots, over
	 * the readings of exactly the batches between them (rd->cum holds
	 * every batch the reader took, up to the last one).
	 */
	if (rd->warm && rd->have_end && !rd->cum_failed &&
	    rd->end_batches > rd->warm_batches && rd->end_batches < rd->ncum &&
	    rd->end_cpu_us >= rd->warm_cpu_us) {
		run->steady_cpu_us = (double)(rd->end_cpu_us - rd->warm_cpu_us);
		run->steady_readings =
			rd->cum[rd->end_batches] - rd->cum[rd->warm_batches];
	}
}

/*
 * Run system @sys on workload @w for @seconds under policy @pol (NULL: the
 * matrix's), into @run.  For ringside, @rd (NULL: one of its own) is the
 * reader, left filled for the caller, who releases it.  A run that fails
 * is recorded as such.  Returns 0, or -EINTR when the bench was
 * interrupted.
 */
static int bench_run(struct bench *B, enum bench_system sys,
		     const struct bench_workload *w,
		     const struct bench_policy *pol, double seconds,
		     uint32_t round, struct bench_reader *rd,
		     struct bench_run *run)
{
	char cfg[PATH_MAX], log[PATH_MAX], dur[32], name[RINGSIDE_NAME_MAX + 1];
	struct bench_text out = { 0 };
	struct bench_reader own = { 0 };
	struct bench_policy def;
	struct bench_feeds feeds;
	enum bench_wait_end end;
	char *argv[10], why[256];
	struct rusage ru;
	uint64_t t0, limit;
	int ret, status, p[2] = { -1, -1 }, logfd, k;
	bool reading = false;
	pid_t pid;

	memset(run, 0, sizeof(*run));
	run->sys = sys;
	run->w = *w;
	run->seconds = seconds;
	run->round = round;
	run->workload = -1;
	run->warmup = bench_warmup(seconds, w->period_ns);
	run->steady_cpu_us = NAN;
	for (k = 0; k < M_COUNT; k++)
		run->m[k] = NAN;
	if (!B->have[sys]) {
		run->status = RUN_SKIPPED;
		snprintf(run->note, sizeof(run->note), "%s", B->missing[sys]);
		return 0;
	}
	if (pol == NULL) {
		def = bench_policy_for(w->period_ns);
		pol = &def;
	}
	if (rd == NULL)
		rd = &own;
	run->status = RUN_FAILED;
	if (w->kind == KIND_TCP)
		run->tw_wait_s = bench_time_wait_drain();
	ret = bench_feeds_start(B, w, seconds, round + 1, &feeds, why,
				sizeof(why));
	if (ret < 0) {
		snprintf(run->note, sizeof(run->note), "%s", why);
		return bench_interrupted ? -EINTR : 0;
	}
	snprintf(name, sizeof(name), "bench-%d-%llu", (int)getpid(),
		 (unsigned long long)++B->seq);
	snprintf(cfg, sizeof(cfg), "%s/run.ini", B->dir);
	snprintf(log, sizeof(log), "%s/run.log", B->dir);
	snprintf(dur, sizeof(dur), "%.3f", seconds);
	ret = bench_write_config(B, w, pol, &feeds, name, cfg);
	if (ret < 0) {
		bench_fmt(run->note, sizeof(run->note), "%s: %s", cfg,
			  strerror(-ret));
		goto out_feeds;
	}
	k = 0;
	if (sys == SYS_RINGSIDE) {
		argv[k++] = B->engine;
	} else if (sys == SYS_ASYNCIO) {
		argv[k++] = "python3";
		argv[k++] = B->peer[sys];
	} else {
		argv[k++] = B->peer[sys];
	}
	argv[k++] = "-c";
	argv[k++] = cfg;
	argv[k++] = "--duration";
	argv[k++] = dur;
	if (sys == SYS_RINGSIDE) {
		argv[k++] = "--log-level";
		argv[k++] = "warn";
	}
	argv[k] = NULL;
	if (sys == SYS_RINGSIDE) {
		snprintf(B->segment, sizeof(B->segment), "%s", name);
		rd->warmup = run->warmup;
		ret = bench_reader_start(rd, name, w->n);
		if (ret < 0) {
			snprintf(run->note, sizeof(run->note), "reader: %s",
				 strerror(-ret));
			goto out_feeds;
		}
		reading = true;
	} else {
		out.buf = malloc(BENCH_OUT_MAX);
		if (out.buf == NULL || pipe2(p, O_CLOEXEC) < 0) {
			snprintf(run->note, sizeof(run->note), "out of memory");
			goto out_feeds;
		}
		out.buf[0] = '\0';
		fcntl(p[0], F_SETFL, O_NONBLOCK);
	}
	logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	t0 = bench_now_ns();
	pid = bench_spawn(argv, p[1], logfd);
	if (p[1] >= 0)
		close(p[1]);
	if (logfd >= 0)
		close(logfd);
	if (pid < 0) {
		snprintf(run->note, sizeof(run->note), "fork: %s",
			 strerror(-pid));
		goto out_reader;
	}
	limit = (uint64_t)((seconds + 30 + w->n / 200.0) * 1e9);
	status = bench_wait(pid, p[0], &out, limit, &ru, &end);
	run->wall_s = (double)(bench_now_ns() - t0) / 1e9;
	if (reading) {
		atomic_store(&rd->stop, 1);
		pthread_join(rd->thread, NULL);
		reading = false;
	}
	bench_segment_remove(B);
	if (end == WAIT_INTERRUPTED) {
		snprintf(run->note, sizeof(run->note), "interrupted");
		goto out_reader;
	}
	if (end == WAIT_TIMED_OUT) {
		snprintf(run->note, sizeof(run->note),
			 "still running %.0f s after its duration: killed",
			 (double)limit / 1e9 - seconds);
		goto out_reader;
	}
	if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char tail[200];

		bench_log_tail(log, tail, sizeof(tail));
		if (status >= 0 && WIFSIGNALED(status))
			bench_fmt(run->note, sizeof(run->note),
				  "killed by signal %d%s%s", WTERMSIG(status),
				  tail[0] ? ": " : "", tail);
		else
			bench_fmt(run->note, sizeof(run->note),
				  "exit status %d%s%s",
				  status >= 0 ? WEXITSTATUS(status) : -1,
				  tail[0] ? ": " : "", tail);
		goto out_reader;
	}
	if (sys == SYS_RINGSIDE) {
		if (!rd->attached) {
			snprintf(run->note, sizeof(run->note),
				 "no segment appeared");
			goto out_reader;
		}
		bench_run_ringside(rd, run);
	} else {
		ret = bench_parse_peer(out.buf, run);
		if (ret < 0) {
			snprintf(run->note, sizeof(run->note),
				 ret == -ENOMSG ? "no JSON line on stdout"
						: "a JSON line without "
						  "batches/readings/"
						  "missed_ticks");
			goto out_reader;
		}
	}
	run->cpu_us = bench_cpu_us(&ru);
	if (run->batches == 0 || (run->readings == 0 && !w->outage)) {
		char tail[200];

		bench_log_tail(log, tail, sizeof(tail));
		bench_fmt(run->note, sizeof(run->note), "%s%s%s",
			  run->batches == 0 ? "no batches" : "no readings",
			  tail[0] ? "; its last words: " : "", tail);
		goto out_reader;
	}
	run->status = RUN_OK;
	if (run->readings > 0)
		run->m[M_CPU_RUN] = run->cpu_us / (double)run->readings;
	if (isfinite(run->steady_cpu_us) && run->steady_readings > 0) {
		run->m[M_CPU] =
			run->steady_cpu_us / (double)run->steady_readings;
	} else if (run->readings > 0) {
		size_t len = strlen(run->note);

		bench_fmt(run->note + len, sizeof(run->note) - len,
			  "%sno steady-state CPU figure: %llu batches, a "
			  "warm-up of %llu",
			  len ? "; " : "", (unsigned long long)run->batches,
			  (unsigned long long)run->warmup);
	}
	run->m[M_DELIVERED] =
		(double)run->readings /
		((double)w->n * (double)(run->batches + run->missed));
	run->m[M_MISSED] = (double)run->missed;
	run->m[M_RSS_KB] = (double)ru.ru_maxrss;
	run->m[M_RSS_SENSOR] = (double)ru.ru_maxrss * 1024 / w->n;

out_reader:
	if (reading) {
		atomic_store(&rd->stop, 1);
		pthread_join(rd->thread, NULL);
	}
	if (rd == &own)
		bench_reader_exit(&own);
out_feeds:
	bench_segment_remove(B);
	if (p[0] >= 0)
		close(p[0]);
	free(out.buf);
	bench_feeds_stop(B, w, &feeds);
	return bench_interrupted ? -EINTR : 0;
}

/* ---- progress ------------------------------------------------------------- */

static double bench_elapsed(const struct bench *B)
{
	return (double)(bench_now_ns() - B->t0) / 1e9;
}

/* A line on stderr: rewritten in place on a terminal, else one per call. */
__attribute__((format(printf, 3, 4))) static void bench_progress(
	struct bench *B, bool final, const char *fmt, ...)
{
	char line[256];
	double el = bench_elapsed(B), left = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (B->done > 0 && B->planned > B->done)
		left = el / (double)B->done * (double)(B->planned - B->done);
	if (B->tty)
		fprintf(stderr, "\r\033[K[%zu/%zu %02d:%02d, ~%d:%02d left] %s",
			B->done, B->planned, (int)el / 60, (int)el % 60,
			(int)left / 60, (int)left % 60, line);
	else if (final)
		fprintf(stderr, "[%zu/%zu %02d:%02d] %s\n", B->done, B->planned,
			(int)el / 60, (int)el % 60, line);
}

/* End a rewritten line before something else is printed. */
static void bench_progress_end(struct bench *B)
{
	if (B->tty)
		fprintf(stderr, "\r\033[K");
}

static void bench_describe(const struct bench_run *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s n=%u fail=%u%% %gms r%u %s", r->phase,
		 kind_name[r->w.kind], r->w.n, r->w.fail_pct,
		 (double)r->w.period_ns / 1e6, r->round + 1, sys_name[r->sys]);
}

static int bench_record(struct bench *B, const struct bench_run *run)
{
	char what[128];

	if (B->nruns == B->runs_cap) {
		size_t cap = B->runs_cap ? B->runs_cap * 2 : 256;
		struct bench_run *p = realloc(B->runs, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		B->runs = p;
		B->runs_cap = cap;
	}
	B->runs[B->nruns++] = *run;
	if (run->status == RUN_SKIPPED)
		return 0;
	B->done++;
	bench_describe(run, what, sizeof(what));
	if (run->status == RUN_OK && run->readings == 0)
		bench_progress(B, true,
			       "%s: no readings (as expected), lateness p99 "
			       "%.0f us",
			       what, run->m[M_LATE_P99]);
	else if (run->status == RUN_OK)
		bench_progress(
			B, true,
			"%s: %.3f us/reading (%.3f with startup), %.1f%% "
			"delivered, lateness p99 %.0f us, %.1f MB",
			what, run->m[M_CPU], run->m[M_CPU_RUN],
			100 * run->m[M_DELIVERED], run->m[M_LATE_P99],
			run->m[M_RSS_KB] / 1024);
	else
		bench_progress(B, true, "%s: FAILED: %s", what, run->note);
	return 0;
}

static int bench_run_one(struct bench *B, const char *phase, int workload,
			 enum bench_system sys, const struct bench_workload *w,
			 const struct bench_policy *pol, double seconds,
			 uint32_t round, struct bench_reader *rd,
			 struct bench_run *run)
{
	struct bench_run tmp = {
		.phase = phase, .sys = sys, .w = *w, .round = round
	};
	char what[128];
	int ret;

	if (B->have[sys]) {
		bench_describe(&tmp, what, sizeof(what));
		bench_progress(B, false, "%s ...", what);
	}
	ret = bench_run(B, sys, w, pol, seconds, round, rd, run);
	run->phase = phase;
	run->workload = workload;
	if (ret < 0)
		return ret;
	return bench_record(B, run);
}

/* ---- the matrix ------------------------------------------------------------ */

/* Whether workload @w runs system @sys at all (built or not). */
static bool bench_selected(const struct bench *B,
			   const struct bench_workload *w, int sys)
{
	return (B->o.systems & (1u << sys)) &&
	       (w == NULL || w->systems == 0 || (w->systems & (1u << sys)));
}

/* The systems that will run on @w (NULL: any workload). */
static unsigned bench_present(const struct bench *B,
			      const struct bench_workload *w)
{
	unsigned n = 0;
	int s;

	for (s = 0; s < SYS_COUNT; s++)
		if (bench_selected(B, w, s) && B->have[s])
			n++;
	return n;
}

/* The workloads of the matrix, those the open-file limit allows. */
static int bench_plan(struct bench *B)
{
	uint32_t k, si, fi;

	B->wl = calloc((size_t)KIND_COUNT * B->o.nsizes * B->o.nfails,
		       sizeof(*B->wl));
	if (B->wl == NULL)
		return -ENOMEM;
	for (si = 0; si < B->o.nsizes; si++) {
		uint32_t n = B->o.sizes[si];

		if ((rlim_t)n + BENCH_FD_SLACK > B->nofile ||
		    n > ENGINE_CONFIG_SENSORS_MAX) {
			bench_note(B,
				   "%u sensors skipped: a process would need "
				   "%u descriptors, the open-file limit is "
				   "%llu (and a configuration holds at most "
				   "%u sensors)",
				   n, n + BENCH_FD_SLACK,
				   (unsigned long long)B->nofile,
				   ENGINE_CONFIG_SENSORS_MAX);
			continue;
		}
		for (k = 0; k < KIND_COUNT; k++) {
			if (!(B->o.kinds & (1u << k)))
				continue;
			for (fi = 0; fi < B->o.nfails; fi++) {
				struct bench_workload *w = &B->wl[B->nwl++];

				w->kind = (enum bench_kind)k;
				w->n = n;
				w->fail_pct = B->o.fails[fi];
				w->period_ns = B->o.period_ns;
				w->down = -1;
			}
		}
	}
	/*
	 * --quick stops at 1000 sensors, but two goals speak of 10000: one
	 * cell of them, on the systems those goals compare.
	 */
	if (B->o.extra && 10000 + BENCH_FD_SLACK <= B->nofile) {
		struct bench_workload *w;

		for (si = 0; si < B->o.nsizes; si++)
			if (B->o.sizes[si] == 10000)
				return 0;
		w = realloc(B->wl, (B->nwl + 1) * sizeof(*w));
		if (w == NULL)
			return -ENOMEM;
		B->wl = w;
		w = &B->wl[B->nwl++];
		memset(w, 0, sizeof(*w));
		w->kind = KIND_TMPFS;
		w->n = 10000;
		w->period_ns = B->o.period_ns;
		w->down = -1;
		w->systems = (1u << SYS_FLOOR) | (1u << SYS_EPOLL) |
			     (1u << SYS_RINGSIDE);
	}
	return 0;
}

static const enum bench_system bench_order[SYS_COUNT] = {
	SYS_FLOOR, SYS_EPOLL, SYS_RINGSIDE, SYS_THREADS, SYS_ASYNCIO,
};

/*
 * Every workload on every system, @rounds times; the systems' order is
 * reversed from one round to the next.
 */
static int bench_matrix(struct bench *B)
{
	struct bench_run run;
	uint32_t r;
	size_t wi;
	int k, ret;

	for (r = 0; r < B->o.rounds; r++) {
		for (wi = 0; wi < B->nwl; wi++) {
			for (k = 0; k < SYS_COUNT; k++) {
				enum bench_system sys =
					bench_order[r % 2 ? SYS_COUNT - 1 - k
							  : k];

				if (!bench_selected(B, &B->wl[wi], sys))
					continue;
				if (!B->have[sys] && r > 0)
					continue; /* recorded once */
				ret = bench_run_one(
					B, "matrix", (int)wi, sys, &B->wl[wi],
					NULL, B->o.seconds, r, NULL, &run);
				if (ret < 0)
					return ret;
			}
		}
	}
	return 0;
}

/* ---- the highest sustainable rate ------------------------------------------ */

static const uint32_t bench_steps_ms[] = { 100, 50, 20, 10, 5, 2, 1 };
#define BENCH_STEPS (sizeof(bench_steps_ms) / sizeof(bench_steps_ms[0]))

/*
 * Whether @run kept up: it missed at most 1% of its ticks, delivered at
 * least 98% of sensors x ticks, and ran at least 80% of the ticks its
 * duration holds (a slow start counts against it).
 */
static bool bench_sustained(const struct bench_run *run, char *why, size_t len)
{
	uint64_t ticks = run->batches + run->missed;
	double expected = run->seconds * 1e9 / (double)run->w.period_ns;

	if (run->status != RUN_OK) {
		bench_fmt(why, len, "%s", run->note);
		return false;
	}
	if ((double)run->missed > 0.01 * (double)ticks) {
		snprintf(why, len, "missed %llu of %llu ticks",
			 (unsigned long long)run->missed,
			 (unsigned long long)ticks);
		return false;
	}
	if ((double)run->readings < 0.98 * run->w.n * (double)ticks) {
		snprintf(why, len, "delivered %.1f%% of the readings",
			 100 * run->m[M_DELIVERED]);
		return false;
	}
	if ((double)ticks < 0.8 * expected) {
		snprintf(why, len, "ran %llu of %.0f ticks",
			 (unsigned long long)ticks, expected);
		return false;
	}
	return true;
}

static int bench_maxrate(struct bench *B)
{
	struct bench_workload w = { .n = B->o.maxrate_n, .down = -1 };
	struct bench_run run;
	int k, s, ret, tries;
	size_t step;

	for (k = 0; k < KIND_COUNT; k++) {
		struct bench_maxrate *mr;

		if (!(B->o.maxrate_kinds & (1u << k)))
			continue;
		if ((rlim_t)w.n + BENCH_FD_SLACK > B->nofile) {
			bench_note(B,
				   "max-rate search on %s skipped: %u "
				   "sensors exceed the open-file limit",
				   kind_name[k], w.n);
			continue;
		}
		mr = realloc(B->mr, (B->nmr + SYS_COUNT) * sizeof(*mr));
		if (mr == NULL)
			return -ENOMEM;
		B->mr = mr;
		mr = B->mr + B->nmr;
		B->nmr += SYS_COUNT;
		for (s = 0; s < SYS_COUNT; s++) {
			memset(&mr[s], 0, sizeof(mr[s]));
			mr[s].kind = (enum bench_kind)k;
			mr[s].sys = (enum bench_system)s;
			mr[s].ran = (B->o.systems & (1u << s)) && B->have[s];
		}
		w.kind = (enum bench_kind)k;
		for (step = 0; step < BENCH_STEPS; step++) {
			size_t alive = 0;

			for (s = 0; s < SYS_COUNT; s++)
				alive += mr[s].ran && !mr[s].failed_period_ns;
			/* Progress: at most every system left, every step. */
			B->planned = B->done + alive * (BENCH_STEPS - step) +
				     (B->o.lecture ? 4 : 0);
			w.period_ns = bench_steps_ms[step] * MS;
			for (s = 0; s < SYS_COUNT; s++) {
				enum bench_system sys =
					bench_order[step % 2 ? SYS_COUNT - 1 - s
							     : s];
				struct bench_maxrate *m = &mr[sys];

				if (!m->ran || m->failed_period_ns != 0)
					continue;
				/* A step fails only when it fails twice: one
				 * run is at the mercy of a busy machine. */
				for (tries = 0; tries < 2; tries++) {
					ret = bench_run_one(
						B, "maxrate", -1, sys, &w, NULL,
						B->o.maxrate_seconds,
						(uint32_t)step, NULL, &run);
					if (ret < 0)
						return ret;
					if (bench_sustained(&run, m->why,
							    sizeof(m->why)))
						break;
				}
				if (tries < 2)
					m->best_period_ns = w.period_ns;
				else
					m->failed_period_ns = w.period_ns;
			}
		}
	}
	return 0;
}

/* ---- the lecture's figures --------------------------------------------------- */

/*
 * The cost of a fast-fail: engine_breaker_admit() on an open breaker, in
 * this process, 100 blocks of 100 000 calls; the median block's mean.
 */
static double bench_admit_ns(void)
{
	struct engine_breaker_config cfg = {
		.failures = 1,
		.probes = 1,
		.window_ns = NS,
		.reset_ns = 3600 * NS,
	};
	struct engine_breaker_ticket t;
	struct engine_breaker *b;
	double per[100];
	uint64_t now = bench_now_ns(), bad = 0;
	int blk, i;

	b = aligned_alloc(64, sizeof(*b));
	if (b == NULL)
		return NAN;
	if (engine_breaker_init(b, &cfg, now) < 0) {
		free(b);
		return NAN;
	}
	engine_breaker_admit(b, now, &t);
	engine_breaker_record(b, &t, false, now);
	for (blk = 0; blk < 100; blk++) {
		uint64_t t0 = bench_now_ns();

		for (i = 0; i < 100000; i++)
			if (engine_breaker_admit(b, now, &t) !=
			    ENGINE_BREAKER_REJECT)
				bad++;
		per[blk] = (double)(bench_now_ns() - t0) / 1e5;
	}
	free(b);
	if (bad != 0)
		return NAN; /* the breaker was not open: no figure */
	return bench_stat_of(per, 100).med;
}

static void bench_sum_stats(const struct bench_reader *rd, uint64_t *calls,
			    uint64_t *failed, uint64_t *attempts,
			    uint64_t *retries, uint64_t *latency,
			    uint64_t *fast_fails, uint64_t *opens)
{
	uint32_t i;

	*calls = *failed = *attempts = *retries = *latency = *fast_fails =
		*opens = 0;
	for (i = 0; rd->have_stats && i < rd->n; i++) {
		const uint64_t *c = rd->stats[i].counter;

		*calls += c[RINGSIDE_SC_CALLS];
		*failed += c[RINGSIDE_SC_FAILED];
		*attempts += c[RINGSIDE_SC_ATTEMPTS];
		*retries += c[RINGSIDE_SC_RETRIES];
		*latency += c[RINGSIDE_SC_LATENCY_SUM];
		*fast_fails += c[RINGSIDE_SC_FAST_FAILS];
		*opens += c[RINGSIDE_SC_OPENS];
	}
}

/*
 * The lecture's three figures, on ringsided with TCP request/response
 * feeds from ringside-sim:
 *   (1) 50 sensors whose every request fails (the connection is closed)
 *       with probability 0.6, 4 attempts, the breaker effectively off
 *       (1000 failures to open): failed calls / calls;
 *   (2) 5 sensors that never answer (hang=1), 20 ms timeout, 4 attempts,
 *       backoff 10, 20, 40 ms without jitter: 150 ms per record, the
 *       lecture's 15 s scaled by 1/100; once with the breaker off, once
 *       with 3 failures opening it for 60 s;
 *   (3) five sensors, the fourth down all along (connection refused),
 *       the matrix's policy: available / total over every batch.
 */
static int bench_lecture(struct bench *B)
{
	struct bench_lecture *L = &B->lec;
	double secs = B->o.full ? 10 : 3;
	struct bench_workload w = { .kind = KIND_TCP, .down = -1 };
	struct bench_reader rd;
	struct bench_policy p;
	struct bench_run run;
	uint64_t x, calls, failed, attempts, retries, lat, ff, opens;
	int ret;

	L->admit_ns = bench_admit_ns();
	if (!B->have[SYS_RINGSIDE] || !(B->o.systems & (1u << SYS_RINGSIDE)))
		return 0;
	L->ran = true;

	/* (1) */
	w.n = L->l1_n = 50;
	w.feed_opts = "fail=0.6";
	w.period_ns = 50 * MS;
	p = (struct bench_policy){ .timeout_ns = 50 * MS,
				   .attempts = 4,
				   .base_ns = 1 * MS,
				   .max_ns = 8 * MS,
				   .jitter = "none",
				   .breaker_failures = 1000,
				   .window_ns = NS,
				   .reset_ns = NS,
				   .probes = 1 };
	memset(&rd, 0, sizeof(rd));
	ret = bench_run_one(B, "lecture", -1, SYS_RINGSIDE, &w, &p, secs + 1, 0,
			    &rd, &run);
	if (ret == 0 && run.status == RUN_OK && rd.have_stats) {
		bench_sum_stats(&rd, &calls, &failed, &attempts, &retries, &lat,
				&ff, &opens);
		L->l1_calls = calls;
		L->l1_failed = failed;
		L->l1_attempts = attempts;
		L->l1_retries = retries;
		L->l1_ok = calls > 0;
	}
	bench_reader_exit(&rd);
	if (ret < 0)
		return ret;

	/* (2) without the breaker, then with it. */
	w.n = 5;
	w.fail_pct = 0;
	w.fail_pct = 0;
	w.feed_opts = "hang=1";
	w.outage = true;
	w.period_ns = 200 * MS;
	p = (struct bench_policy){ .timeout_ns = 20 * MS,
				   .attempts = 4,
				   .base_ns = 10 * MS,
				   .max_ns = 40 * MS,
				   .jitter = "none",
				   .breaker_failures = 1000,
				   .window_ns = NS,
				   .reset_ns = NS,
				   .probes = 1 };
	memset(&rd, 0, sizeof(rd));
	ret = bench_run_one(B, "lecture", -1, SYS_RINGSIDE, &w, &p, secs, 0,
			    &rd, &run);
	if (ret == 0 && run.status == RUN_OK && rd.have_stats) {
		bench_sum_stats(&rd, &calls, &x, &x, &x, &lat, &ff, &opens);
		L->l2a_calls = calls;
		L->l2a_latency_us = lat;
		L->l2a_ok = calls > 0;
	}
	bench_reader_exit(&rd);
	if (ret < 0)
		return ret;
	p.breaker_failures = 3;
	p.window_ns = 5 * NS;
	p.reset_ns = 60 * NS;
	memset(&rd, 0, sizeof(rd));
	rd.collect = true;
	ret = bench_run_one(B, "lecture", -1, SYS_RINGSIDE, &w, &p, secs, 1,
			    &rd, &run);
	if (ret == 0 && run.status == RUN_OK && rd.have_stats) {
		bench_sum_stats(&rd, &calls, &x, &x, &x, &lat, &ff, &opens);
		L->l2b_calls = calls;
		L->l2b_latency_us = lat;
		L->l2b_fast_fails = ff;
		L->l2b_opens = opens;
		L->l2b_open_entries = rd.status_count[RINGSIDE_OPEN];
		L->l2b_open_latency_us =
			rd.status_count[RINGSIDE_OPEN]
				? rd.status_latency_us[RINGSIDE_OPEN] /
					  (double)rd.status_count[RINGSIDE_OPEN]
				: NAN;
		L->l2b_ok = calls + ff > 0;
	}
	bench_reader_exit(&rd);
	if (ret < 0)
		return ret;

	/* (3) */
	w.n = 5;
	w.feed_opts = NULL;
	w.outage = false;
	w.down = 3;
	w.period_ns = 100 * MS;
	memset(&rd, 0, sizeof(rd));
	ret = bench_run_one(B, "lecture", -1, SYS_RINGSIDE, &w, NULL, secs, 0,
			    &rd, &run);
	if (ret == 0 && run.status == RUN_OK) {
		L->l3_available = rd.available_sum;
		L->l3_total = rd.total_sum;
		L->l3_batches = rd.batches;
		L->l3_expected = (uint64_t)(secs * 1e9 / (double)w.period_ns);
		L->l3_late = 0;
		for (x = 0; x < rd.nlate; x++)
			if (rd.late_ns[x] > w.period_ns + MS)
				L->l3_late++;
		L->l3_ok = rd.total_sum > 0;
	}
	bench_reader_exit(&rd);
	return ret;
}

/* ---- summaries and goals ---------------------------------------------------- */

/* Medians over the rounds of every (workload, system, metric). */
struct bench_summary {
	struct bench_stat *cell; /* [nwl][SYS_COUNT][M_COUNT] */
	uint32_t *ok;		 /* [nwl][SYS_COUNT] runs that succeeded */
	uint32_t *failed;	 /* [nwl][SYS_COUNT] runs that failed */
};

static struct bench_stat *bench_cell(const struct bench_summary *S, size_t wi,
				     int sys)
{
	return &S->cell[(wi * SYS_COUNT + (size_t)sys) * M_COUNT];
}

static int bench_summarize(const struct bench *B, struct bench_summary *S)
{
	double *v;
	size_t wi, i;
	int s, m;

	S->cell = calloc(B->nwl * SYS_COUNT * M_COUNT, sizeof(*S->cell));
	S->ok = calloc(B->nwl * SYS_COUNT, sizeof(*S->ok));
	S->failed = calloc(B->nwl * SYS_COUNT, sizeof(*S->failed));
	v = calloc(B->nruns + 1, sizeof(*v));
	if (S->cell == NULL || S->ok == NULL || S->failed == NULL ||
	    v == NULL) {
		free(v);
		return -ENOMEM;
	}
	for (wi = 0; wi < B->nwl; wi++) {
		for (s = 0; s < SYS_COUNT; s++) {
			for (m = 0; m < M_COUNT; m++) {
				uint32_t k = 0;

				for (i = 0; i < B->nruns; i++) {
					const struct bench_run *r = &B->runs[i];

					if (r->workload != (int)wi ||
					    r->sys != (enum bench_system)s ||
					    strcmp(r->phase, "matrix") != 0)
						continue;
					if (r->status == RUN_OK)
						v[k++] = r->m[m];
					if (m == 0 && r->status == RUN_OK)
						S->ok[wi * SYS_COUNT +
						      (size_t)s]++;
					else if (m == 0 &&
						 r->status == RUN_FAILED)
						S->failed[wi * SYS_COUNT +
							  (size_t)s]++;
				}
				bench_cell(S, wi, s)[m] = bench_stat_of(v, k);
			}
		}
	}
	free(v);
	return 0;
}

enum bench_verdict { GOAL_UNMEASURED, GOAL_MET, GOAL_MISSED };

static const char *const verdict_name[] = {
	[GOAL_UNMEASURED] = "not measured",
	[GOAL_MET] = "met",
	[GOAL_MISSED] = "**not met**",
};

struct bench_goal {
	const char *text;
	enum bench_verdict verdict;
	char figure[512];
};

#define BENCH_GOALS 6

/*
 * A ratio goal over the matrix cells with at least @min_n (and, when
 * @only_n, exactly that many) sensors, and with no failures injected when
 * @no_failures: @num's median CPU per reading over @den's must stay at or
 * below @limit (@below) or at or above it.
 */
static void bench_goal_ratio(const struct bench *B,
			     const struct bench_summary *S,
			     struct bench_goal *g, enum bench_system num,
			     enum bench_system den, uint32_t min_n, bool only_n,
			     bool no_failures, double limit, bool below)
{
	double worst = NAN;
	size_t wi, worst_wi = 0, cells = 0, kinds_seen = 0;
	char missing[256] = "";
	int k, len = 0;
	bool seen[KIND_COUNT] = { false };

	for (wi = 0; wi < B->nwl; wi++) {
		const struct bench_workload *w = &B->wl[wi];
		double a = bench_cell(S, wi, num)[M_CPU].med;
		double b = bench_cell(S, wi, den)[M_CPU].med;
		double r;
		if (w->n < min_n || (only_n && w->n != min_n) ||
		    (no_failures && w->fail_pct != 0))
			continue;
		if (!isfinite(a) || !isfinite(b) || b <= 0)
			continue;
		r = a / b;
		cells++;
		seen[w->kind] = true;
		if (!isfinite(worst) || (below ? r > worst : r < worst)) {
			worst = r;
			worst_wi = wi;
		}
	}
	for (k = 0; k < KIND_COUNT; k++) {
		if (seen[k]) {
			kinds_seen++;
			continue;
		}
		len += snprintf(missing + len, sizeof(missing) - (size_t)len,
				"%s%s", len ? ", " : "", kind_name[k]);
	}
	if (cells == 0) {
		g->verdict = GOAL_UNMEASURED;
		snprintf(g->figure, sizeof(g->figure),
			 "no cell with both %s and %s at %s%u sensors",
			 sys_name[num], sys_name[den],
			 only_n ? "" : ">= ", min_n);
		return;
	}
	g->verdict = (below ? worst <= limit : worst >= limit) ? GOAL_MET
							       : GOAL_MISSED;
	snprintf(g->figure, sizeof(g->figure),
		 "worst %s/%s = %.2f (%s, %u sensors, %u%% failures), over %zu "
		 "cells%s%s%s",
		 sys_name[num], sys_name[den], worst,
		 kind_name[B->wl[worst_wi].kind], B->wl[worst_wi].n,
		 B->wl[worst_wi].fail_pct, cells,
		 no_failures ? " without failures (the floor has no "
			       "resilience to pay for)"
			     : "",
		 kinds_seen < KIND_COUNT ? "; kinds not measured: " : "",
		 kinds_seen < KIND_COUNT ? missing : "");
}

static void bench_goals(const struct bench *B, const struct bench_summary *S,
			struct bench_goal *g)
{
	bool have10k = false;
	double worst = NAN;
	size_t wi, worst_wi = 0;

	g[0].text = "ringside CPU/reading <= epoll's, at 1000 and 10000 "
		    "sensors, every kind";
	bench_goal_ratio(B, S, &g[0], SYS_RINGSIDE, SYS_EPOLL, 1000, false,
			 false, 1.0, true);
	g[1].text = "ringside CPU/reading within 1.1x of the floor, at 1000 "
		    "and 10000 sensors, no failures";
	bench_goal_ratio(B, S, &g[1], SYS_RINGSIDE, SYS_FLOOR, 1000, false,
			 true, 1.1, true);
	g[2].text = "ringside >= 3x less CPU/reading than threads at 1000 "
		    "sensors";
	bench_goal_ratio(B, S, &g[2], SYS_THREADS, SYS_RINGSIDE, 1000, true,
			 false, 3.0, false);
	g[3].text = "ringside >= 30x less CPU/reading than asyncio (1000 "
		    "sensors and up)";
	bench_goal_ratio(B, S, &g[3], SYS_ASYNCIO, SYS_RINGSIDE, 1000, false,
			 false, 30.0, false);

	g[4].text = "tick lateness p99 < 1 ms at 10000 sensors at 10 Hz";
	for (wi = 0; wi < B->nwl; wi++) {
		double p99 = bench_cell(S, wi, SYS_RINGSIDE)[M_LATE_P99].med;

		if (B->wl[wi].n != 10000 || B->wl[wi].period_ns != 100 * MS ||
		    !isfinite(p99))
			continue;
		have10k = true;
		if (!isfinite(worst) || p99 > worst) {
			worst = p99;
			worst_wi = wi;
		}
	}
	if (!have10k) {
		g[4].verdict = GOAL_UNMEASURED;
		snprintf(g[4].figure, sizeof(g[4].figure),
			 "no ringside run at 10000 sensors and 10 Hz (%s)",
			 B->o.full ? "see the failed runs"
				   : "--quick stops at 1000; make bench-full");
	} else {
		g[4].verdict = worst < 1000 ? GOAL_MET : GOAL_MISSED;
		snprintf(g[4].figure, sizeof(g[4].figure),
			 "worst median p99 = %.0f us (%s, %u%% failures)",
			 worst, kind_name[B->wl[worst_wi].kind],
			 B->wl[worst_wi].fail_pct);
	}

	g[5].text = "a fast-fail under 1 us";
	if (isfinite(B->lec.admit_ns)) {
		g[5].verdict = B->lec.admit_ns < 1000 ? GOAL_MET : GOAL_MISSED;
		snprintf(g[5].figure, sizeof(g[5].figure),
			 "engine_breaker_admit() on an open breaker: %.1f ns "
			 "(median of 100 blocks of 100 000 calls)",
			 B->lec.admit_ns);
	} else {
		g[5].verdict = GOAL_UNMEASURED;
		snprintf(g[5].figure, sizeof(g[5].figure),
			 "the breaker did not open");
	}
}

/* ---- output: JSON -------------------------------------------------------------- */

static void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_stat(FILE *f, struct bench_stat s)
{
	fputs("{\"median\":", f);
	json_num(f, s.med);
	fputs(",\"min\":", f);
	json_num(f, s.lo);
	fputs(",\"max\":", f);
	json_num(f, s.hi);
	fprintf(f, ",\"n\":%u}", s.n);
}

static void json_workload(FILE *f, const struct bench_workload *w)
{
	fprintf(f,
		"\"kind\":\"%s\",\"sensors\":%u,\"failures_pct\":%u,"
		"\"period_ms\":",
		kind_name[w->kind], w->n, w->fail_pct);
	json_num(f, (double)w->period_ns / 1e6);
}

static void bench_json_policy(FILE *f, const struct bench_policy *p)
{
	fprintf(f,
		"{\"timeout_ms\":%g,\"retry_attempts\":%u,\"retry_base_ms\":%g,"
		"\"retry_max_ms\":%g,\"retry_jitter\":\"%s\","
		"\"breaker_failures\":%u,\"breaker_window_s\":%g,"
		"\"breaker_reset_s\":%g,\"breaker_probes\":%u}",
		(double)p->timeout_ns / 1e6, p->attempts,
		(double)p->base_ns / 1e6, (double)p->max_ns / 1e6, p->jitter,
		p->breaker_failures, (double)p->window_ns / 1e9,
		(double)p->reset_ns / 1e9, p->probes);
}

static int bench_write_json(const struct bench *B,
			    const struct bench_summary *S,
			    const struct bench_goal *g, const char *path)
{
	const struct bench_lecture *L = &B->lec;
	struct bench_policy pol = bench_policy_for(B->o.period_ns);
	struct utsname u;
	size_t i, wi;
	int s, m;
	FILE *f;

	f = fopen(path, "we");
	if (f == NULL)
		return -errno;
	uname(&u);
	fprintf(f, "{\"program\":\"ringside-bench\",\"version\":\"%s\",",
		RINGSIDE_VERSION);
	fprintf(f, "\"started\":\"%s\",\"elapsed_s\":%.1f,", B->started,
		B->elapsed_s);
	fprintf(f, "\"host\":{\"kernel\":");
	json_str(f, u.release);
	fprintf(f, ",\"machine\":");
	json_str(f, u.machine);
	fprintf(f, ",\"cpus\":%ld,\"open_files\":%llu},",
		sysconf(_SC_NPROCESSORS_ONLN), (unsigned long long)B->nofile);
	fprintf(f,
		"\"options\":{\"preset\":\"%s\",\"rounds\":%u,\"seconds\":%g,"
		"\"period_ms\":%g,\"maxrate_sensors\":%u,"
		"\"maxrate_seconds\":%g},",
		B->o.full ? "full" : "quick", B->o.rounds, B->o.seconds,
		(double)B->o.period_ns / 1e6, B->o.maxrate_n,
		B->o.maxrate_seconds);
	fprintf(f, "\"policy\":");
	bench_json_policy(f, &pol);
	fprintf(f, ",\"systems\":[");
	for (s = 0; s < SYS_COUNT; s++) {
		fprintf(f, "%s{\"name\":\"%s\",\"present\":%s", s ? "," : "",
			sys_name[s], B->have[s] ? "true" : "false");
		if (!B->have[s]) {
			fprintf(f, ",\"why\":");
			json_str(f, B->missing[s]);
		}
		fputc('}', f);
	}
	fprintf(f, "],\n\"runs\":[\n");
	for (i = 0; i < B->nruns; i++) {
		const struct bench_run *r = &B->runs[i];

		fprintf(f,
			"%s{\"phase\":\"%s\",\"round\":%u,\"system\":\"%s\",",
			i ? ",\n" : "", r->phase, r->round + 1,
			sys_name[r->sys]);
		json_workload(f, &r->w);
		fprintf(f, ",\"seconds\":%g,\"status\":\"%s\",", r->seconds,
			status_name[r->status]);
		if (r->note[0] != '\0') {
			fprintf(f, "\"note\":");
			json_str(f, r->note);
			fputc(',', f);
		}
		fprintf(f,
			"\"cpu_us\":%.0f,\"wall_s\":%.3f,\"tw_wait_s\":%.1f,"
			"\"batches\":%llu,"
			"\"readings\":%llu,\"degraded\":%llu,"
			"\"missed_ticks\":%llu,\"warmup_batches\":%llu,"
			"\"steady_cpu_us\":",
			r->cpu_us, r->wall_s, r->tw_wait_s,
			(unsigned long long)r->batches,
			(unsigned long long)r->readings,
			(unsigned long long)r->degraded,
			(unsigned long long)r->missed,
			(unsigned long long)r->warmup);
		if (isfinite(r->steady_cpu_us))
			fprintf(f, "%.0f", r->steady_cpu_us);
		else
			fputs("null", f);
		fprintf(f, ",\"steady_readings\":%llu",
			(unsigned long long)r->steady_readings);
		for (m = 0; m < M_COUNT; m++) {
			if (m == M_MISSED)
				continue;
			fprintf(f, ",\"%s\":", metric_key[m]);
			json_num(f, r->m[m]);
		}
		fputc('}', f);
	}
	fprintf(f, "\n],\n\"summary\":[\n");
	for (wi = 0, i = 0; wi < B->nwl; wi++) {
		for (s = 0; s < SYS_COUNT; s++) {
			const struct bench_stat *c = bench_cell(S, wi, s);

			if (!bench_selected(B, &B->wl[wi], s))
				continue;
			fprintf(f, "%s{\"system\":\"%s\",", i++ ? ",\n" : "",
				sys_name[s]);
			json_workload(f, &B->wl[wi]);
			fprintf(f, ",\"runs_ok\":%u,\"runs_failed\":%u",
				S->ok[wi * SYS_COUNT + (size_t)s],
				S->failed[wi * SYS_COUNT + (size_t)s]);
			for (m = 0; m < M_COUNT; m++) {
				fprintf(f, ",\"%s\":", metric_key[m]);
				json_stat(f, c[m]);
			}
			fputc('}', f);
		}
	}
	fprintf(f, "\n],\n\"maxrate\":[");
	for (i = 0; i < B->nmr; i++) {
		const struct bench_maxrate *x = &B->mr[i];

		fprintf(f,
			"%s{\"kind\":\"%s\",\"system\":\"%s\","
			"\"sensors\":%u,\"ran\":%s,\"best_period_ms\":",
			i ? "," : "", kind_name[x->kind], sys_name[x->sys],
			B->o.maxrate_n, x->ran ? "true" : "false");
		json_num(f, x->best_period_ns ? (double)x->best_period_ns / 1e6
					      : NAN);
		fprintf(f, ",\"readings_per_s\":");
		json_num(f, x->best_period_ns
				    ? B->o.maxrate_n * 1e9 /
					      (double)x->best_period_ns
				    : NAN);
		fprintf(f, ",\"failed_period_ms\":");
		json_num(f, x->failed_period_ns
				    ? (double)x->failed_period_ns / 1e6
				    : NAN);
		fprintf(f, ",\"why\":");
		json_str(f, x->why);
		fputc('}', f);
	}
	fprintf(f, "],\n\"lecture\":{\"ran\":%s,\"fast_fail_ns\":",
		L->ran ? "true" : "false");
	json_num(f, L->admit_ns);
	fprintf(f,
		",\"failed_call_share\":{\"lecture\":0.1296,\"sensors\":%u,"
		"\"calls\":%llu,\"failed\":%llu,\"attempts\":%llu,"
		"\"retries\":%llu,\"share\":",
		L->l1_n, (unsigned long long)L->l1_calls,
		(unsigned long long)L->l1_failed,
		(unsigned long long)L->l1_attempts,
		(unsigned long long)L->l1_retries);
	json_num(f,
		 L->l1_ok ? (double)L->l1_failed / (double)L->l1_calls : NAN);
	fprintf(f, "},\"outage\":{\"lecture_without_s\":15,"
		   "\"lecture_with_s\":0.001,\"scale\":0.01,"
		   "\"without_breaker_ms_per_record\":");
	json_num(f, L->l2a_ok ? (double)L->l2a_latency_us /
					(double)L->l2a_calls / 1e3
			      : NAN);
	fprintf(f,
		",\"with_breaker_calls\":%llu,\"with_breaker_fast_fails\":"
		"%llu,\"with_breaker_opens\":%llu,"
		"\"with_breaker_ms_per_record\":",
		(unsigned long long)L->l2b_calls,
		(unsigned long long)L->l2b_fast_fails,
		(unsigned long long)L->l2b_opens);
	json_num(f, L->l2b_ok ? (double)L->l2b_latency_us /
					(double)(L->l2b_calls +
						 L->l2b_fast_fails) /
					1e3
			      : NAN);
	fprintf(f, ",\"open_entry_latency_us\":");
	json_num(f, L->l2b_open_latency_us);
	fprintf(f,
		"},\"one_of_five_down\":{\"lecture\":0.8,\"available\":%llu,"
		"\"total\":%llu,\"batches\":%llu,\"share\":",
		(unsigned long long)L->l3_available,
		(unsigned long long)L->l3_total,
		(unsigned long long)L->l3_batches);
	json_num(f, L->l3_ok ? (double)L->l3_available / (double)L->l3_total
			     : NAN);
	fprintf(f, "}},\n\"goals\":[");
	for (i = 0; i < BENCH_GOALS; i++) {
		fprintf(f, "%s{\"goal\":", i ? "," : "");
		json_str(f, g[i].text);
		fprintf(f, ",\"verdict\":\"%s\",\"figure\":",
			g[i].verdict == GOAL_MET      ? "met"
			: g[i].verdict == GOAL_MISSED ? "not met"
						      : "not measured");
		json_str(f, g[i].figure);
		fputc('}', f);
	}
	fprintf(f, "],\n\"notes\":[");
	for (i = 0; i < B->nnotes; i++) {
		fprintf(f, "%s", i ? "," : "");
		json_str(f, B->notes[i]);
	}
	fprintf(f, "]}\n");
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

/* ---- output: markdown ------------------------------------------------------------ */

static void md_num(char *buf, size_t len, double v)
{
	if (!isfinite(v))
		snprintf(buf, len, "–");
	else if (v == 0)
		snprintf(buf, len, "0");
	else if (fabs(v) >= 100)
		snprintf(buf, len, "%.0f", v);
	else if (fabs(v) >= 10)
		snprintf(buf, len, "%.1f", v);
	else if (fabs(v) >= 1)
		snprintf(buf, len, "%.2f", v);
	else
		snprintf(buf, len, "%.3f", v);
}

static void md_stat(char *buf, size_t len, struct bench_stat s)
{
	char a[32], b[32], c[32];

	md_num(a, sizeof(a), s.med);
	if (s.n <= 1) {
		snprintf(buf, len, "%s", a);
		return;
	}
	md_num(b, sizeof(b), s.lo);
	md_num(c, sizeof(c), s.hi);
	snprintf(buf, len, "%s (%s–%s)", a, b, c);
}

/* A readings-per-second figure: 1 000 000 -> "1.0M". */
static void md_rate(char *buf, size_t len, double v)
{
	if (v >= 1e6)
		snprintf(buf, len, "%.1fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.0fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
}

typedef void (*md_cell_fn)(const struct bench *B, const struct bench_summary *S,
			   size_t wi, int sys, char *buf, size_t len);

/* The text of a cell with no figure, or NULL when there is one. */
static const char *md_absent(const struct bench *B,
			     const struct bench_summary *S, size_t wi, int sys)
{
	if (!B->have[sys])
		return "not built";
	if (!bench_selected(B, &B->wl[wi], sys))
		return "not run";
	if (S->ok[wi * SYS_COUNT + (size_t)sys] == 0)
		return S->failed[wi * SYS_COUNT + (size_t)sys] ? "failed" : "–";
	return NULL;
}

static void md_cell_cpu(const struct bench *B, const struct bench_summary *S,
			size_t wi, int sys, char *buf, size_t len)
{
	md_stat(buf, len, bench_cell(S, wi, sys)[M_CPU]);
}

/* The whole run's figure, medians alone: a table for comparison. */
static void md_cell_cpu_run(const struct bench *B,
			    const struct bench_summary *S, size_t wi, int sys,
			    char *buf, size_t len)
{
	md_num(buf, len, bench_cell(S, wi, sys)[M_CPU_RUN].med);
}

static void md_cell_late(const struct bench *B, const struct bench_summary *S,
			 size_t wi, int sys, char *buf, size_t len)
{
	const struct bench_stat *c = bench_cell(S, wi, sys);
	char a[32], b[32], d[32];

	md_num(a, sizeof(a), c[M_LATE_P50].med);
	md_num(b, sizeof(b), c[M_LATE_P99].med);
	md_num(d, sizeof(d), c[M_LATE_MAX].med);
	snprintf(buf, len, "%s / %s / %s", a, b, d);
}

static void md_cell_delivered(const struct bench *B,
			      const struct bench_summary *S, size_t wi, int sys,
			      char *buf, size_t len)
{
	const struct bench_stat *c = bench_cell(S, wi, sys);

	snprintf(buf, len, "%.1f%% · %.0f", 100 * c[M_DELIVERED].med,
		 c[M_MISSED].med);
}

static void md_cell_rss(const struct bench *B, const struct bench_summary *S,
			size_t wi, int sys, char *buf, size_t len)
{
	const struct bench_stat *c = bench_cell(S, wi, sys);
	char a[32], b[32];

	md_num(a, sizeof(a), c[M_RSS_KB].med / 1024);
	md_num(b, sizeof(b), c[M_RSS_SENSOR].med / 1024);
	snprintf(buf, len, "%s MB · %s KB", a, b);
}

/* Workloads in reading order: by kind, then sensors, then failures. */
static size_t *md_order(const struct bench *B)
{
	size_t *order = calloc(B->nwl + 1, sizeof(*order)), i, j;

	if (order == NULL)
		return NULL;
	for (i = 0; i < B->nwl; i++) {
		const struct bench_workload *w = &B->wl[i];

		for (j = i; j > 0; j--) {
			const struct bench_workload *v = &B->wl[order[j - 1]];

			if (v->kind < w->kind ||
			    (v->kind == w->kind &&
			     (v->n < w->n ||
			      (v->n == w->n && v->fail_pct <= w->fail_pct))))
				break;
			order[j] = order[j - 1];
		}
		order[j] = i;
	}
	return order;
}

static void md_table(FILE *f, const struct bench *B,
		     const struct bench_summary *S, const size_t *order,
		     md_cell_fn fn)
{
	char cell[160];
	size_t i;
	int s;

	fprintf(f, "| kind | sensors | failures |");
	for (s = 0; s < SYS_COUNT; s++)
		if (B->o.systems & (1u << s))
			fprintf(f, " %s |", sys_name[s]);
	fprintf(f, "\n| --- | ---: | ---: |");
	for (s = 0; s < SYS_COUNT; s++)
		if (B->o.systems & (1u << s))
			fprintf(f, " ---: |");
	fputc('\n', f);
	for (i = 0; i < B->nwl; i++) {
		const struct bench_workload *w = &B->wl[order[i]];

		fprintf(f, "| %s | %u | %u%% |", kind_name[w->kind], w->n,
			w->fail_pct);
		for (s = 0; s < SYS_COUNT; s++) {
			const char *absent;

			if (!(B->o.systems & (1u << s)))
				continue;
			absent = md_absent(B, S, order[i], s);
			if (absent == NULL)
				fn(B, S, order[i], s, cell, sizeof(cell));
			fprintf(f, " %s |", absent ? absent : cell);
		}
		fputc('\n', f);
	}
	fputc('\n', f);
}

static void md_ratio(char *buf, size_t len, double a, double b)
{
	if (isfinite(a) && isfinite(b) && b > 0)
		snprintf(buf, len, "%.2f", a / b);
	else
		snprintf(buf, len, "–");
}

static void md_lecture(FILE *f, const struct bench *B)
{
	const struct bench_lecture *L = &B->lec;
	char a[256], b[64];

	fprintf(f, "## The lecture's figures beside ours\n\n");
	if (!L->ran) {
		fprintf(f,
			"Not run (ringsided not selected or not built).\n\n");
		return;
	}
	fprintf(f, "| figure | the lecture | ringside, measured | how |\n"
		   "| --- | --- | --- | --- |\n");
	if (L->l1_ok) {
		uint64_t ok = L->l1_calls - L->l1_failed;
		uint64_t bad_attempts =
			L->l1_attempts > ok ? L->l1_attempts - ok : 0;

		snprintf(a, sizeof(a),
			 "**%.1f%%** (%llu of %llu calls); %.1f%% of the "
			 "%llu attempts failed",
			 100.0 * (double)L->l1_failed / (double)L->l1_calls,
			 (unsigned long long)L->l1_failed,
			 (unsigned long long)L->l1_calls,
			 L->l1_attempts ? 100.0 * (double)bad_attempts /
						  (double)L->l1_attempts
					: NAN,
			 (unsigned long long)L->l1_attempts);
	} else {
		snprintf(a, sizeof(a), "failed (see the runs)");
	}
	fprintf(f,
		"| failed calls at 60%% failure, 4 attempts | 0.6^4 = 13%% | "
		"%s | %u TCP sensors answering 20 times a second; ringside-sim "
		"`fail=0.6` closes the connection instead of a reply; "
		"retry_attempts 4, backoff 1 ms ×2^k, breaker off "
		"(breaker_failures 1000); failed / calls from the counters "
		"|\n",
		a, L->l1_n);
	if (L->l2a_ok) {
		double ms =
			(double)L->l2a_latency_us / (double)L->l2a_calls / 1e3;

		snprintf(a, sizeof(a),
			 "**%.0f ms** per record (×100: %.1f s), %llu calls",
			 ms, ms / 10, (unsigned long long)L->l2a_calls);
	} else {
		snprintf(a, sizeof(a), "failed (see the runs)");
	}
	fprintf(f,
		"| time per record in a sustained outage, retry alone | 15 s "
		"| %s | time scaled by 1/100: 5 TCP sensors that never answer "
		"(`hang=1`), 4 attempts of 20 ms, backoff 10, 20, 40 ms "
		"without jitter, period 200 ms, breaker off; latency sum / "
		"calls |\n",
		a);
	if (L->l2b_ok) {
		uint64_t records = L->l2b_calls + L->l2b_fast_fails;

		md_num(b, sizeof(b), L->l2b_open_latency_us);
		snprintf(a, sizeof(a),
			 "**%llu of %llu records fast-failed**, %s µs each in "
			 "the batch (no I/O), %.1f ns of CPU each; the %llu "
			 "calls before the breaker opened took %.0f ms each",
			 (unsigned long long)L->l2b_fast_fails,
			 (unsigned long long)records, b, L->admit_ns,
			 (unsigned long long)L->l2b_calls,
			 L->l2b_calls ? (double)L->l2b_latency_us /
						(double)L->l2b_calls / 1e3
				      : NAN);
	} else {
		snprintf(a, sizeof(a), "failed (see the runs)");
	}
	fprintf(f,
		"| … with retry + breaker | a fast-fail under 1 ms | %s | the "
		"same, breaker_failures 3, breaker_reset 60 s; the breaker's "
		"fast_fails counter, the `open` entries' latency, and "
		"engine_breaker_admit() timed in-process |\n",
		a);
	if (L->l3_ok)
		snprintf(a, sizeof(a),
			 "**%.1f%%** (%llu of %llu readings); %llu batches "
			 "for %llu ticks, %llu past the deadline",
			 100.0 * (double)L->l3_available / (double)L->l3_total,
			 (unsigned long long)L->l3_available,
			 (unsigned long long)L->l3_total,
			 (unsigned long long)L->l3_batches,
			 (unsigned long long)L->l3_expected,
			 (unsigned long long)L->l3_late);
	else
		snprintf(a, sizeof(a), "failed (see the runs)");
	fprintf(f,
		"| output preserved with one sensor of five down | 80%% | %s | "
		"5 TCP sensors at 10 Hz, the fourth refusing connections all "
		"along; the matrix's policy; available / total over every "
		"batch |\n\n",
		a);
}

static void md_maxrate(FILE *f, const struct bench *B)
{
	char a[64], b[64];
	size_t i;
	int s;

	if (B->nmr == 0)
		return;
	fprintf(f,
		"## Highest sustainable rate (%u sensors, no failures)\n\n"
		"The period is shortened (100, 50, 20, 10, 5, 2, 1 ms) until a "
		"system misses more than 1%% of its ticks, delivers less than "
		"98%% of sensors × ticks, or runs less than 80%% of the ticks "
		"of its %.3g s, twice in a row; the last period passed is "
		"shown as readings per second.\n\n| kind |",
		B->o.maxrate_n, B->o.maxrate_seconds);
	for (s = 0; s < SYS_COUNT; s++)
		if (B->o.systems & (1u << s))
			fprintf(f, " %s |", sys_name[s]);
	fprintf(f, "\n| --- |");
	for (s = 0; s < SYS_COUNT; s++)
		if (B->o.systems & (1u << s))
			fprintf(f, " ---: |");
	fputc('\n', f);
	for (i = 0; i < B->nmr; i += SYS_COUNT) {
		fprintf(f, "| %s |", kind_name[B->mr[i].kind]);
		for (s = 0; s < SYS_COUNT; s++) {
			const struct bench_maxrate *x = &B->mr[i + (size_t)s];

			if (!(B->o.systems & (1u << s)))
				continue;
			if (!x->ran) {
				fprintf(f, " not built |");
				continue;
			}
			if (x->best_period_ns == 0) {
				md_rate(a, sizeof(a),
					B->o.maxrate_n * 1e9 /
						(double)(bench_steps_ms[0] *
							 MS));
				fprintf(f, " < %s/s |", a);
				continue;
			}
			md_rate(a, sizeof(a),
				B->o.maxrate_n * 1e9 /
					(double)x->best_period_ns);
			snprintf(b, sizeof(b), "%g ms",
				 (double)x->best_period_ns / 1e6);
			fprintf(f, " **%s/s** (%s)%s |", a, b,
				x->failed_period_ns ? ""
						    : ", the fastest step");
		}
		fputc('\n', f);
	}
	fprintf(f, "\nWhere each search stopped:\n\n");
	for (i = 0; i < B->nmr; i++) {
		const struct bench_maxrate *x = &B->mr[i];

		if (!x->ran || x->failed_period_ns == 0)
			continue;
		fprintf(f, "- %s, %s: at %g ms, %s\n", kind_name[x->kind],
			sys_name[x->sys], (double)x->failed_period_ns / 1e6,
			x->why);
	}
	fputc('\n', f);
}

static int bench_write_md(const struct bench *B, const struct bench_summary *S,
			  const struct bench_goal *g, const char *path)
{
	struct bench_policy pol = bench_policy_for(B->o.period_ns);
	uint64_t warmup = bench_warmup(B->o.seconds, B->o.period_ns);
	char cell[4][64];
	size_t *order, i, nfail = 0;
	struct utsname u;
	FILE *f;
	int s;

	order = md_order(B);
	if (order == NULL)
		return -ENOMEM;
	f = fopen(path, "we");
	if (f == NULL) {
		free(order);
		return -errno;
	}
	uname(&u);
	fprintf(f,
		"# ringside-bench results\n\n"
		"%s, %s preset: %u round(s) of %.3g s per system and workload, "
		"interleaved (the order of the systems reversed every round); "
		"tick %g ms, deadline = period; Linux %s, %ld CPUs, open-file "
		"limit %llu; %.0f s in all.\n\n"
		"Every system reads the same generated configuration: "
		"timeout %g ms, retry_attempts %u, backoff %g ms ×2^k up to "
		"%g ms with %s jitter, breaker: %u failed calls in %g s open "
		"it for %g s, %u probe. Failures: for file sensors, that share "
		"of the files hold junk (tmpfs) or are `%s` (procfs) and fail "
		"every attempt with EBADMSG, so their breakers open; for the "
		"simulated feeds, ringside-sim `fail=P` drops that share of "
		"pushed records, and `garbage=P` makes that share of TCP "
		"replies junk (EBADMSG; not `fail=P`, whose closed "
		"connections pile up in TIME_WAIT until loopback connects "
		"time out).\n\n",
		B->started, B->o.full ? "--full" : "--quick", B->o.rounds,
		B->o.seconds, (double)B->o.period_ns / 1e6, u.release,
		sysconf(_SC_NPROCESSORS_ONLN), (unsigned long long)B->nofile,
		B->elapsed_s, (double)pol.timeout_ns / 1e6, pol.attempts,
		(double)pol.base_ns / 1e6, (double)pol.max_ns / 1e6, pol.jitter,
		pol.breaker_failures, (double)pol.window_ns / 1e9,
		(double)pol.reset_ns / 1e9, pol.probes, PROC_BAD);
	fprintf(f,
		"CPU per reading is the steady state's, what an engine that "
		"runs around the clock costs: CPU is measured after a warm-up "
		"of %llu batches (max(2, ticks / 5), of the %llu ticks of a "
		"run), from the end of batch %llu to the end of the last "
		"batch, over the readings of the batches in between. It is "
		"user + system time of the whole process, every thread (io-wq "
		"workers too) included, from getrusage() inside it: ringsided "
		"puts it in its counters after every batch, the peers in their "
		"JSON line. The whole run's figure, startup included (opening "
		"every source, the segment, Python's imports), comes from "
		"wait4() and has a table of its own. Feeds and ringside's "
		"reader are other processes and threads, not counted. Cells: "
		"median (min–max) over the rounds.\n\n",
		(unsigned long long)warmup,
		(unsigned long long)((uint64_t)(B->o.seconds * 1e9) /
				     B->o.period_ns),
		(unsigned long long)warmup);

	fprintf(f, "Kinds:");
	for (s = 0, i = 0; s < KIND_COUNT; s++)
		if (B->o.kinds & (1u << s))
			fprintf(f, "%s `%s`: %s", i++ ? ";" : "", kind_name[s],
				kind_title[s]);
	fprintf(f,
		".\n\n## CPU per reading, steady state (µs)\n\n"
		"After a warm-up of %llu batches.\n\n",
		(unsigned long long)warmup);
	md_table(f, B, S, order, md_cell_cpu);

	fprintf(f,
		"### CPU per reading, whole run incl. startup (µs)\n\n"
		"User + system time from wait4() over every reading of "
		"the run, medians: how far startup weighs on a run of "
		"%.3g s.\n\n",
		B->o.seconds);
	md_table(f, B, S, order, md_cell_cpu_run);

	fprintf(f, "## Ratios of the medians\n\n"
		   "ringside against the others, CPU per reading in the "
		   "steady state: below 1 in the first two columns, and "
		   "above 1 in the last two, ringside uses less.\n\n"
		   "| kind | sensors | failures | ringside / floor | "
		   "ringside / epoll | threads / ringside | asyncio / "
		   "ringside |\n| --- | ---: | ---: | ---: | ---: | ---: "
		   "| ---: |\n");
	for (i = 0; i < B->nwl; i++) {
		const struct bench_workload *w = &B->wl[order[i]];
		double rs = bench_cell(S, order[i], SYS_RINGSIDE)[M_CPU].med;

		md_ratio(cell[0], sizeof(cell[0]), rs,
			 bench_cell(S, order[i], SYS_FLOOR)[M_CPU].med);
		md_ratio(cell[1], sizeof(cell[1]), rs,
			 bench_cell(S, order[i], SYS_EPOLL)[M_CPU].med);
		md_ratio(cell[2], sizeof(cell[2]),
			 bench_cell(S, order[i], SYS_THREADS)[M_CPU].med, rs);
		md_ratio(cell[3], sizeof(cell[3]),
			 bench_cell(S, order[i], SYS_ASYNCIO)[M_CPU].med, rs);
		fprintf(f, "| %s | %u | %u%% | %s | %s | %s | %s |\n",
			kind_name[w->kind], w->n, w->fail_pct, cell[0], cell[1],
			cell[2], cell[3]);
	}
	fputc('\n', f);

	fprintf(f, "## Tick lateness (publish − tick, µs): p50 / p99 / max\n\n"
		   "Medians over the rounds of each run's percentiles. A "
		   "run of fewer than 100 batches has its p99 at its max, "
		   "which is often its first tick, the one that opens "
		   "every source.\n\n");
	md_table(f, B, S, order, md_cell_late);

	fprintf(f, "## Readings delivered · missed ticks\n\n"
		   "Readings over sensors × ticks (published and missed); "
		   "with failures injected, the failing share and the "
		   "sensors whose breakers are open are not delivered.\n\n");
	md_table(f, B, S, order, md_cell_delivered);

	fprintf(f, "## Memory: peak RSS · per sensor\n\n"
		   "ru_maxrss; for ringside it includes the pages of the "
		   "shared-memory ring it wrote.\n\n");
	md_table(f, B, S, order, md_cell_rss);

	if ((B->o.systems & (1u << SYS_RINGSIDE)) && B->have[SYS_RINGSIDE]) {
		fprintf(f, "## ringside: publish-to-reader latency (µs)\n\n"
			   "A reader in another process asleep on the "
			   "segment's futex: its clock when it has the batch "
			   "minus published_mono_ns.\n\n"
			   "| kind | sensors | failures | p50 | p99 |\n"
			   "| --- | ---: | ---: | ---: | ---: |\n");
		for (i = 0; i < B->nwl; i++) {
			const struct bench_workload *w = &B->wl[order[i]];
			const struct bench_stat *c =
				bench_cell(S, order[i], SYS_RINGSIDE);

			md_stat(cell[0], sizeof(cell[0]), c[M_READER_P50]);
			md_stat(cell[1], sizeof(cell[1]), c[M_READER_P99]);
			fprintf(f, "| %s | %u | %u%% | %s | %s |\n",
				kind_name[w->kind], w->n, w->fail_pct, cell[0],
				cell[1]);
		}
		fputc('\n', f);
	}

	md_maxrate(f, B);
	md_lecture(f, B);

	fprintf(f, "## Goals\n\nCPU per reading as in the first table: "
		   "the steady state, after the warm-up.\n\n"
		   "| goal | verdict | figure |\n| --- | --- | --- |\n");
	for (i = 0; i < BENCH_GOALS; i++)
		fprintf(f, "| %s | %s | %s |\n", g[i].text,
			verdict_name[g[i].verdict], g[i].figure);
	fputc('\n', f);

	fprintf(f, "## Notes\n\n");
	for (s = 0; s < SYS_COUNT; s++)
		if ((B->o.systems & (1u << s)) && !B->have[s])
			fprintf(f, "- %s skipped: %s\n", sys_name[s],
				B->missing[s]);
	for (i = 0; i < B->nnotes; i++)
		fprintf(f, "- %s\n", B->notes[i]);
	for (i = 0; i < B->nruns; i++) {
		const struct bench_run *r = &B->runs[i];
		char what[128];

		if (r->status != RUN_FAILED)
			continue;
		if (nfail++ < 20) {
			bench_describe(r, what, sizeof(what));
			fprintf(f, "- failed: %s: %s\n", what, r->note);
		}
	}
	if (nfail > 20)
		fprintf(f, "- … and %zu more failed runs (latest.json)\n",
			nfail - 20);
	for (i = 0; i < B->nruns; i++)
		if (B->runs[i].status == RUN_OK && B->runs[i].note[0] != '\0') {
			char what[128];

			bench_describe(&B->runs[i], what, sizeof(what));
			fprintf(f, "- %s: %s\n", what, B->runs[i].note);
		}
	if (nfail == 0 && B->nnotes == 0)
		fprintf(f, "- every run succeeded.\n");
	free(order);
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

/* ---- output: plots --------------------------------------------------------------- */

static bool bench_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX], full[PATH_MAX * 2];

	while (path != NULL && *path != '\0') {
		size_t n = strcspn(path, ":");

		snprintf(dir, sizeof(dir), "%.*s", (int)n, path);
		snprintf(full, sizeof(full), "%s/%s", n ? dir : ".", prog);
		if (access(full, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

/*
 * DIR/cpu-KIND.dat and DIR/lateness-KIND.dat (no failures, the matrix's
 * tick): a line per sensor count, then per system median, min and max;
 * then gnuplot draws them with bench/plot.gp.
 */
static void bench_plots(const struct bench *B, const struct bench_summary *S)
{
	static const int metric[2] = { M_CPU, M_LATE_P99 };
	static const char *const base[2] = { "cpu", "lateness" };
	char script[PATH_MAX + 32], expr[4096], path[PATH_MAX + 64];
	uint32_t sizes[BENCH_SIZES_MAX], nsizes = 0, i, j;
	size_t el = 0, wi;
	int k, s, p, kinds = 0;
	char *argv[5];

	snprintf(script, sizeof(script), "%s/bench/plot.gp", B->srcdir);
	if (access(script, R_OK) != 0) {
		fprintf(stderr, BENCH_NAME ": %s not found: no plots\n",
			script);
		return;
	}
	if (!bench_in_path("gnuplot")) {
		fprintf(stderr, BENCH_NAME ": gnuplot not found (Debian: "
					   "gnuplot-nox): no plots\n");
		return;
	}
	for (wi = 0; wi < B->nwl; wi++) {
		for (i = 0; i < nsizes && sizes[i] != B->wl[wi].n; i++)
			;
		if (i == nsizes && nsizes < BENCH_SIZES_MAX)
			sizes[nsizes++] = B->wl[wi].n;
	}
	for (i = 1; i < nsizes; i++) /* ascending, for the lines */
		for (j = i; j > 0 && sizes[j - 1] > sizes[j]; j--) {
			uint32_t t = sizes[j];

			sizes[j] = sizes[j - 1];
			sizes[j - 1] = t;
		}
	el += (size_t)snprintf(expr + el, sizeof(expr) - el, "dir='%s'",
			       B->o.out);
	for (k = 0; k < KIND_COUNT; k++) {
		char list[128] = "";
		size_t ll = 0;

		for (s = 0; s < SYS_COUNT; s++) {
			bool any = false;

			for (wi = 0; wi < B->nwl; wi++)
				if (B->wl[wi].kind == (enum bench_kind)k &&
				    B->wl[wi].fail_pct == 0 &&
				    bench_cell(S, wi, s)[M_CPU].n > 0)
					any = true;
			if (any)
				ll += (size_t)snprintf(
					list + ll, sizeof(list) - ll, "%s%s",
					ll ? " " : "", sys_name[s]);
		}
		if (ll == 0)
			continue;
		for (p = 0; p < 2; p++) {
			FILE *f;

			snprintf(path, sizeof(path), "%s/%s-%s.dat", B->o.out,
				 base[p], kind_name[k]);
			f = fopen(path, "we");
			if (f == NULL)
				continue;
			fprintf(f, "# sensors");
			for (s = 0; s < SYS_COUNT; s++)
				fprintf(f, " %s_median %s_min %s_max",
					sys_name[s], sys_name[s], sys_name[s]);
			fputc('\n', f);
			for (i = 0; i < nsizes; i++) {
				fprintf(f, "%u", sizes[i]);
				for (s = 0; s < SYS_COUNT; s++) {
					struct bench_stat st = { NAN, NAN, NAN,
								 0 };

					for (wi = 0; wi < B->nwl; wi++)
						if (B->wl[wi].kind ==
							    (enum bench_kind)
								    k &&
						    B->wl[wi].fail_pct == 0 &&
						    B->wl[wi].n == sizes[i])
							st = bench_cell(
								S, wi,
								s)[metric[p]];
					if (st.n == 0)
						fprintf(f, " NaN NaN NaN");
					else
						fprintf(f, " %g %g %g", st.med,
							st.lo, st.hi);
				}
				fputc('\n', f);
			}
			fclose(f);
		}
		el += (size_t)snprintf(expr + el, sizeof(expr) - el,
				       "; sys_%s='%s'", kind_name[k], list);
		kinds++;
	}
	if (kinds == 0) {
		fprintf(stderr, BENCH_NAME ": nothing measured without "
					   "failures: no plots\n");
		return;
	}
	el += (size_t)snprintf(expr + el, sizeof(expr) - el, "; kinds='");
	for (k = 0, i = 0; k < KIND_COUNT; k++) {
		char needle[48];

		snprintf(needle, sizeof(needle), "sys_%s=", kind_name[k]);
		if (strstr(expr, needle) != NULL)
			el += (size_t)snprintf(expr + el, sizeof(expr) - el,
					       "%s%s", i++ ? " " : "",
					       kind_name[k]);
	}
	snprintf(expr + el, sizeof(expr) - el, "'; period_ms=%g",
		 (double)B->o.period_ns / 1e6);
	argv[0] = "gnuplot";
	argv[1] = "-e";
	argv[2] = expr;
	argv[3] = script;
	argv[4] = NULL;
	{
		enum bench_wait_end end;
		struct rusage ru;
		pid_t pid = bench_spawn(argv, -1, -1);
		int st =
			pid < 0 ? pid
				: bench_wait(pid, -1, NULL, 60 * NS, &ru, &end);

		if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fprintf(stderr,
				BENCH_NAME ": gnuplot failed, no plots; to "
					   "see why: gnuplot -e \"%s\" %s\n",
				expr, script);
	}
}

/* ---- options -------------------------------------------------------------------- */

static void bench_usage(FILE *out)
{
	fprintf(out,
		"usage: ringside-bench [--quick | --full] [--out DIR] "
		"[--systems LIST]\n"
		"                      [--kinds LIST] [--sizes LIST] "
		"[--failures LIST]\n"
		"                      [--rounds N] [--seconds S] [--period "
		"MS]\n"
		"                      [--maxrate KINDS|none] [--no-lecture]\n"
		"\n"
		"ringsided against the peers of bench/baselines on the same "
		"sensors, side by\n"
		"side: CPU per reading, tick lateness, RSS, the highest "
		"sustainable rate, and\n"
		"the lecture's figures. Writes DIR/latest.json, "
		"DIR/latest.md, DIR/*.svg.\n"
		"\n"
		"  --quick           the small matrix (default): tmpfs, fifo, "
		"tcp; 100 and 1000\n"
		"                    sensors; 0 and 20%% failures; 3 rounds "
		"of 2 s; plus tmpfs at\n"
		"                    10000 on floor, epoll and ringside; max "
		"rate on tmpfs\n"
		"  --full            every kind, 100, 1000 and 10000 sensors, "
		"3 rounds of 5 s;\n"
		"                    max rate on tmpfs and fifo\n"
		"  --out DIR         where results go (default "
		"bench/results)\n"
		"  --systems LIST    of floor,epoll,ringside,threads,asyncio "
		"(default all)\n"
		"  --kinds LIST      of tmpfs,procfs,fifo,unix,tcp\n"
		"  --sizes LIST      sensor counts, e.g. 100,1000\n"
		"  --failures LIST   injected failure shares in percent, "
		"e.g. 0,20\n"
		"  --rounds N        interleaved rounds (1 to %d)\n"
		"  --seconds S       seconds per run\n"
		"  --period MS       the matrix's tick (default 100)\n"
		"  --maxrate KINDS   kinds searched for the highest rate at "
		"1000 sensors, or none\n"
		"  --no-lecture      skip the lecture's figures\n"
		"  -h, --help        this text\n"
		"  -V, --version     the version\n"
		"\n"
		"Programs are taken beside this one ($RINGSIDE_BIN "
		"overrides): ringsided,\n"
		"ringside-sim, ../bench/peer-NAME; asyncio runs "
		"bench/baselines/asyncio_peer.py\n"
		"with python3. A peer that is missing is reported as "
		"skipped. See\n"
		"ringside-bench(1) and docs/bench.md.\n",
		BENCH_ROUNDS_MAX);
}

static int bench_usage_error(const char *opt, const char *arg)
{
	fprintf(stderr, BENCH_NAME ": %s: invalid value: %s (see --help)\n",
		opt, arg);
	return 2;
}

static bool bench_number(const char *s, double lo, double hi, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0' && *v >= lo && *v <= hi;
}

/* A comma-separated list of @names into a bit mask. */
static int bench_parse_names(const char *list, const char *const *names,
			     int count, unsigned *mask)
{
	char buf[256], *tok, *save;
	int i;

	snprintf(buf, sizeof(buf), "%s", list);
	*mask = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < count; i++)
			if (strcmp(tok, names[i]) == 0)
				break;
		if (i == count)
			return -EINVAL;
		*mask |= 1u << i;
	}
	return 0;
}

/* A comma-separated list of integers in [lo, hi]. */
static int bench_parse_ints(const char *list, uint32_t *out, uint32_t max,
			    uint32_t *count, double lo, double hi)
{
	char buf[256], *tok, *save;
	double v;

	snprintf(buf, sizeof(buf), "%s", list);
	*count = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (*count == max || !bench_number(tok, lo, hi, &v) ||
		    v != floor(v))
			return -EINVAL;
		out[(*count)++] = (uint32_t)v;
	}
	return *count > 0 ? 0 : -EINVAL;
}

static void bench_preset(struct bench_opts *o, bool full)
{
	o->systems = (1u << SYS_COUNT) - 1;
	o->full = full;
	o->rounds = 3;
	o->period_ns = 100 * MS;
	o->lecture = true;
	o->maxrate_n = 1000;
	o->nfails = 2;
	o->fails[0] = 0;
	o->fails[1] = 20;
	if (full) {
		o->kinds = (1u << KIND_COUNT) - 1;
		o->nsizes = 3;
		o->sizes[0] = 100;
		o->sizes[1] = 1000;
		o->sizes[2] = 10000;
		o->seconds = 5;
		o->maxrate_kinds = (1u << KIND_TMPFS) | (1u << KIND_FIFO);
		o->maxrate_seconds = 3;
	} else {
		o->kinds = (1u << KIND_TMPFS) | (1u << KIND_FIFO) |
			   (1u << KIND_TCP);
		o->nsizes = 2;
		o->sizes[0] = 100;
		o->sizes[1] = 1000;
		o->seconds = 2;
		o->extra = true;
		o->maxrate_kinds = 1u << KIND_TMPFS;
		o->maxrate_seconds = 2;
	}
	snprintf(o->out, sizeof(o->out), "bench/results");
}

/* Returns -1 to go on, else the exit status. */
static int bench_parse_args(struct bench_opts *o, int argc, char **argv)
{
	enum {
		OPT_QUICK = 256,
		OPT_FULL,
		OPT_OUT,
		OPT_SYSTEMS,
		OPT_KINDS,
		OPT_SIZES,
		OPT_FAILURES,
		OPT_ROUNDS,
		OPT_SECONDS,
		OPT_PERIOD,
		OPT_MAXRATE,
		OPT_NO_LECTURE
	};
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "full", no_argument, NULL, OPT_FULL },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "systems", required_argument, NULL, OPT_SYSTEMS },
		{ "kinds", required_argument, NULL, OPT_KINDS },
		{ "sizes", required_argument, NULL, OPT_SIZES },
		{ "failures", required_argument, NULL, OPT_FAILURES },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "seconds", required_argument, NULL, OPT_SECONDS },
		{ "period", required_argument, NULL, OPT_PERIOD },
		{ "maxrate", required_argument, NULL, OPT_MAXRATE },
		{ "no-lecture", no_argument, NULL, OPT_NO_LECTURE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool full = false;
	double v;
	int c, i;

	/* The preset first, so that the other options refine it wherever
	 * they stand. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--full") == 0)
			full = true;
		else if (strcmp(argv[i], "--quick") == 0)
			full = false;
	}
	bench_preset(o, full);
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case OPT_QUICK:
		case OPT_FULL:
			break;
		case OPT_OUT:
			if (optarg[0] == '\0' ||
			    strlen(optarg) >= sizeof(o->out) - 32 ||
			    strchr(optarg, '\'') != NULL)
				return bench_usage_error("--out", optarg);
			snprintf(o->out, sizeof(o->out), "%s", optarg);
			break;
		case OPT_SYSTEMS:
			if (bench_parse_names(optarg, sys_name, SYS_COUNT,
					      &o->systems) < 0 ||
			    o->systems == 0)
				return bench_usage_error("--systems", optarg);
			break;
		case OPT_KINDS:
			if (bench_parse_names(optarg, kind_name, KIND_COUNT,
					      &o->kinds) < 0)
				return bench_usage_error("--kinds", optarg);
			o->extra = false;
			break;
		case OPT_SIZES:
			if (bench_parse_ints(optarg, o->sizes, BENCH_SIZES_MAX,
					     &o->nsizes, 1,
					     RINGSIDE_SENSORS_MAX) < 0)
				return bench_usage_error("--sizes", optarg);
			o->extra = false;
			break;
		case OPT_FAILURES:
			if (bench_parse_ints(optarg, o->fails, BENCH_FAILS_MAX,
					     &o->nfails, 0, 100) < 0)
				return bench_usage_error("--failures", optarg);
			o->extra = false;
			break;
		case OPT_ROUNDS:
			if (!bench_number(optarg, 1, BENCH_ROUNDS_MAX, &v) ||
			    v != floor(v))
				return bench_usage_error("--rounds", optarg);
			o->rounds = (uint32_t)v;
			break;
		case OPT_SECONDS:
			if (!bench_number(optarg, 0.5, 3600, &v))
				return bench_usage_error("--seconds", optarg);
			o->seconds = v;
			o->maxrate_seconds = v;
			break;
		case OPT_PERIOD:
			if (!bench_number(optarg, 1, 3600000, &v) ||
			    v != floor(v))
				return bench_usage_error("--period", optarg);
			o->period_ns = (uint64_t)v * MS;
			break;
		case OPT_MAXRATE:
			if (strcmp(optarg, "none") == 0)
				o->maxrate_kinds = 0;
			else if (bench_parse_names(optarg, kind_name,
						   KIND_COUNT,
						   &o->maxrate_kinds) < 0)
				return bench_usage_error("--maxrate", optarg);
			break;
		case OPT_NO_LECTURE:
			o->lecture = false;
			break;
		case 'h':
			bench_usage(stdout);
			return 0;
		case 'V':
			printf("ringside-bench %s\n", RINGSIDE_VERSION);
			return 0;
		default:
			bench_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, BENCH_NAME ": unexpected argument: %s\n",
			argv[optind]);
		return 2;
	}
	return -1;
}

/* ---- the programs ---------------------------------------------------------------- */

static bool bench_exists(const char *path, int mode)
{
	return access(path, mode) == 0;
}

/*
 * ringsided and ringside-sim from $RINGSIDE_BIN or beside this program;
 * the C peers in ../bench/; the source tree (for asyncio_peer.py and
 * plot.gp) two levels up from the programs, else the current directory.
 */
static int bench_find_programs(struct bench *B)
{
	const char *env = getenv("RINGSIDE_BIN");
	char bin[PATH_MAX];
	int s;

	if (env != NULL && env[0] != '\0') {
		snprintf(bin, sizeof(bin), "%s", env);
	} else {
		int ret = bench_self_dir(bin, sizeof(bin));

		if (ret < 0)
			return ret;
	}
	if (!bench_fmt(B->engine, sizeof(B->engine), "%s/ringsided", bin) ||
	    !bench_fmt(B->sim, sizeof(B->sim), "%s/ringside-sim", bin))
		return -ENAMETOOLONG;
	env = getenv("RINGSIDE_SRC");
	if (env != NULL && env[0] != '\0') {
		snprintf(B->srcdir, sizeof(B->srcdir), "%s", env);
	} else {
		char probe[PATH_MAX * 2];

		snprintf(probe, sizeof(probe), "%s/../../bench/bench.c", bin);
		if (bench_exists(probe, R_OK))
			bench_fmt(B->srcdir, sizeof(B->srcdir), "%s/../..",
				  bin);
		else
			snprintf(B->srcdir, sizeof(B->srcdir), ".");
	}
	for (s = 0; s < SYS_COUNT; s++) {
		switch (s) {
		case SYS_RINGSIDE:
			snprintf(B->peer[s], sizeof(B->peer[s]), "%s",
				 B->engine);
			break;
		case SYS_ASYNCIO:
			bench_fmt(B->peer[s], sizeof(B->peer[s]),
				  "%s/bench/baselines/asyncio_peer.py",
				  B->srcdir);
			break;
		default:
			bench_fmt(B->peer[s], sizeof(B->peer[s]),
				  "%s/../bench/peer-%s", bin, sys_name[s]);
			break;
		}
		if (s == SYS_ASYNCIO) {
			B->have[s] = bench_exists(B->peer[s], R_OK) &&
				     bench_in_path("python3");
			if (!B->have[s])
				snprintf(B->missing[s], sizeof(B->missing[s]),
					 "%s",
					 bench_exists(B->peer[s], R_OK)
						 ? "python3 not found"
						 : "asyncio_peer.py "
						   "not found");
		} else {
			B->have[s] = bench_exists(B->peer[s], X_OK);
			if (!B->have[s])
				snprintf(B->missing[s], sizeof(B->missing[s]),
					 "%s not built", B->peer[s]);
		}
	}
	if (!bench_exists(B->sim, X_OK))
		return -ENOENT;
	return 0;
}

/* ---- main ---------------------------------------------------------------------- */

static int bench_mkdirs(const char *path)
{
	char buf[PATH_MAX], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void bench_free(struct bench *B)
{
	size_t i;

	for (i = 0; i < B->nnotes; i++)
		free(B->notes[i]);
	free(B->notes);
	free(B->runs);
	free(B->wl);
	free(B->mr);
}

static int bench_outputs(struct bench *B)
{
	struct bench_goal goals[BENCH_GOALS];
	struct bench_summary S = { 0 };
	char json[PATH_MAX + 16], md[PATH_MAX + 16];
	int ret;

	memset(goals, 0, sizeof(goals));
	ret = bench_mkdirs(B->o.out);
	if (ret < 0) {
		fprintf(stderr, BENCH_NAME ": %s: %s\n", B->o.out,
			strerror(-ret));
		return 1;
	}
	ret = bench_summarize(B, &S);
	if (ret < 0)
		goto out;
	bench_goals(B, &S, goals);
	snprintf(json, sizeof(json), "%s/latest.json", B->o.out);
	snprintf(md, sizeof(md), "%s/latest.md", B->o.out);
	ret = bench_write_json(B, &S, goals, json);
	if (ret < 0) {
		fprintf(stderr, BENCH_NAME ": %s: %s\n", json, strerror(-ret));
		goto out;
	}
	ret = bench_write_md(B, &S, goals, md);
	if (ret < 0) {
		fprintf(stderr, BENCH_NAME ": %s: %s\n", md, strerror(-ret));
		goto out;
	}
	bench_plots(B, &S);
	fprintf(stderr, BENCH_NAME ": results in %s and %s (%.0f s)\n", md,
		json, B->elapsed_s);
out:
	free(S.cell);
	free(S.ok);
	free(S.failed);
	return ret < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct bench B;
	struct sigaction sa;
	struct rlimit rl;
	char tmpl[64];
	time_t now;
	size_t i;
	int ret, s;

	ret = bench_parse_args(&B.o, argc, argv);
	if (ret >= 0)
		return ret;
	ret = bench_find_programs(&B);
	if (ret < 0) {
		fprintf(stderr,
			BENCH_NAME ": %s not found: build first (make), or "
				   "set RINGSIDE_BIN\n",
			B.sim[0] ? B.sim : "ringside-sim");
		return 1;
	}
	if ((B.o.systems & (1u << SYS_RINGSIDE)) && !B.have[SYS_RINGSIDE]) {
		fprintf(stderr, BENCH_NAME ": %s not found: build first\n",
			B.engine);
		return 1;
	}

	/* Every measured process and simulator inherits the hard limit. */
	bench_raise_nofile();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		B.nofile = rl.rlim_cur;
	} else {
		B.nofile = 1024;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bench_on_signal; /* no SA_RESTART: waits return */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(tmpl, sizeof(tmpl), "/dev/shm/ringside-bench.XXXXXX");
	if (mkdtemp(tmpl) == NULL) {
		fprintf(stderr, BENCH_NAME ": %s: %s\n", tmpl, strerror(errno));
		return 1;
	}
	snprintf(B.dir, sizeof(B.dir), "%s", tmpl);
	B.dir_made = true;
	B.tty = isatty(STDERR_FILENO);
	B.t0 = bench_now_ns();
	now = time(NULL);
	strftime(B.started, sizeof(B.started), "%Y-%m-%dT%H:%M:%SZ",
		 gmtime(&now));
	for (s = 0; s < SYS_COUNT; s++)
		if ((B.o.systems & (1u << s)) && !B.have[s])
			fprintf(stderr, BENCH_NAME ": %s skipped: %s\n",
				sys_name[s], B.missing[s]);

	ret = bench_plan(&B);
	if (ret < 0)
		goto fail;
	for (i = 0; i < B.nwl; i++)
		B.planned += B.o.rounds * bench_present(&B, &B.wl[i]);
	B.planned += B.o.lecture ? 4 : 0;
	for (s = 0; s < KIND_COUNT; s++)
		if (B.o.maxrate_kinds & (1u << s))
			B.planned += 5 * bench_present(&B, NULL);
	ret = bench_matrix(&B);
	if (ret == 0)
		ret = bench_maxrate(&B);
	if (ret == 0 && B.o.lecture)
		ret = bench_lecture(&B);
	else if (ret == 0)
		B.lec.admit_ns = bench_admit_ns();
	if (ret < 0)
		goto fail;
	B.elapsed_s = bench_elapsed(&B);
	bench_progress_end(&B);
	bench_cleanup(&B);
	ret = bench_outputs(&B);
	bench_free(&B);
	return ret;

fail:
	bench_progress_end(&B);
	bench_cleanup(&B);
	if (ret == -EINTR)
		fprintf(stderr,
			BENCH_NAME ": interrupted: children stopped, "
				   "files removed, no results written\n");
	else
		fprintf(stderr, BENCH_NAME ": %s\n", strerror(-ret));
	bench_free(&B);
	return 1;
}
