/* SPDX-License-Identifier: MIT */
/*
 * soak.c - ringside-soak: run ringsided for a long time on many sensors, a
 * share of them faulty, and check that it neither grows nor falls behind.
 *
 * The run: N sensors (default 2000), period and deadline 100 ms.  A share P
 * (default 20%) is faulty, in turn: a tmpfs file holding text junk, one
 * holding binary junk, a tmpfs file that vanishes for 5 s in every 20 and
 * comes back (done by this program), a FIFO fed by ringside-sim with
 * fail=/garbage=, a FIFO that flaps, a TCP request feed with
 * fail=/hang=/garbage=, a TCP request feed that flaps, and a TCP push feed
 * with garbage= that flaps.  The healthy rest are tmpfs files, one in ten
 * rewritten by ringside-sim at each tick.  Everything lives in a temporary
 * directory under /dev/shm.
 *
 * Every second the engine's RSS (VmRSS), open descriptors (/proc/PID/fd),
 * threads and CPU time are sampled, and every batch is taken from the
 * segment as a reader does: its lateness (published_mono_ns -
 * tick_mono_ns), whether it was published after tick + deadline, and gaps
 * in the sequence.  One CSV line per sample goes to --csv.
 *
 * Pass (exit 0): after the warm-up (the first 20% of the samples), the
 * descriptors do not grow (the median and the maximum of the last quarter
 * of the samples are no higher than those of the first quarter, so the
 * connections that come and go with the flapping feeds are allowed, a
 * leak is not); the RSS median of the last quarter exceeds that of the
 * first by less than 2% or 1 MiB, whichever is larger; and no batch was
 * late, missed, lost or out of sequence, and the engine stopped with
 * status 0 on SIGTERM.  Otherwise exit 1 with the reason; 2 on a usage
 * error.  Children die with this program (PR_SET_PDEATHSIG); the
 * directory, the segment and its lock are removed on every exit path.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "ringside.h"

#ifndef RINGSIDE_VERSION
#define RINGSIDE_VERSION "unknown"
#endif

#define NS 1000000000ULL
#define SOAK_PERIOD_MS 100
#define START_WAIT_MS 15000 /* for the simulator and for the segment */
#define EXIT_WAIT_MS 10000  /* for a child to go after SIGTERM */
#define VANISH_EVERY 20	    /* a vanishing file is away ... */
#define VANISH_FOR 5	    /* ... this many seconds of every VANISH_EVERY */
#define RSS_SLACK_KIB 1024
#define RSS_SLACK_FRAC 0.02
#define LATE_SLACK_NS 1000000 /* as the engine's own count of late batches */
/*
 * The segment is shared memory in the engine's RSS, its pages touched for
 * the first time during the first lap of the ring: with a ring of 1024
 * batches of 2000 sensors that is 32 MiB over 102 s, which looks like a
 * leak.  A ring of 64 (6.4 s, 2 MiB) is all touched before the warm-up
 * ends; RssShmem goes into the CSV too.
 */
#define SOAK_RING 64
#define STARTUP_S 5 /* batches this soon after the start: start-up */

static volatile sig_atomic_t soak_interrupted;

/* What a sensor is, in the order the faulty ones take turns. */
enum soak_kind {
	SK_JUNK_TEXT,
	SK_JUNK_BINARY,
	SK_VANISH,
	SK_FIFO_BAD,
	SK_FIFO_FLAP,
	SK_TCP_REQ_BAD,
	SK_TCP_REQ_FLAP,
	SK_TCP_PUSH_FLAP,
	SK_FAULTS, /* the healthy kinds follow */
	SK_FILE = SK_FAULTS,
	SK_FILE_SIM,
	SK_KINDS
};

static const char *const kind_name[SK_KINDS] = {
	[SK_JUNK_TEXT] = "file, text junk",
	[SK_JUNK_BINARY] = "file, binary junk",
	[SK_VANISH] = "file, vanishes 5 s in 20",
	[SK_FIFO_BAD] = "FIFO, fail 0.2 garbage 0.2",
	[SK_FIFO_FLAP] = "FIFO, flap 5/3",
	[SK_TCP_REQ_BAD] = "TCP request, fail/hang/garbage 0.1",
	[SK_TCP_REQ_FLAP] = "TCP request, flap 7/4",
	[SK_TCP_PUSH_FLAP] = "TCP push, garbage 0.1 flap 6/4",
	[SK_FILE] = "healthy file (static)",
	[SK_FILE_SIM] = "healthy file (rewritten)",
};

/*
 * The simulator's feed for kind @k, or NULL if this program does it: a
 * path feed (FIFO, file) named after the sensor, or a TCP listener.
 */
static const char *const kind_feed[SK_KINDS] = {
	[SK_FIFO_BAD] = "fifo:,rate=10,fail=0.2,garbage=0.2",
	[SK_FIFO_FLAP] = "fifo:,rate=10,flap=5/3",
	[SK_TCP_REQ_BAD] = "tcp:127.0.0.1:0,mode=request,fail=0.1,hang=0.1,"
			   "garbage=0.1",
	[SK_TCP_REQ_FLAP] = "tcp:127.0.0.1:0,mode=request,flap=7/4",
	[SK_TCP_PUSH_FLAP] = "tcp:127.0.0.1:0,rate=10,garbage=0.1,flap=6/4",
	[SK_FILE_SIM] = "file:,rate=10,noise=1",
};

struct soak_sensor {
	uint8_t kind;
	bool present;  /* SK_VANISH: the file is there now */
	char addr[64]; /* from the simulator's ready line */
};

struct soak_sample {
	double t; /* seconds since the segment appeared */
	uint64_t rss_kib;
	uint64_t shmem_kib; /* of which the segment (RssShmem) */
	unsigned fds, threads;
	double cpu_s;
};

struct soak {
	/* options */
	unsigned nsensors;
	double seconds, faults;
	const char *csv_path;
	bool keep;
	uint64_t slack_ns; /* a batch this far past its deadline is late */
	uint64_t late_max; /* late batches that still pass */
	/* environment */
	char dir[64];
	char engine_bin[PATH_MAX], sim_bin[PATH_MAX];
	char name[RINGSIDE_NAME_MAX + 1];
	pid_t engine_pid, sim_pid;
	int sim_out;
	struct soak_sensor *s;
	unsigned kind_count[SK_KINDS];
	/* results */
	struct soak_sample *smp;
	size_t nsmp, capsmp;
	uint32_t *lat_us; /* lateness of every batch */
	size_t nlat, caplat;
	uint64_t batches, late, lost, gaps, last_seq, degraded;
	uint64_t late_startup, first_late, last_late; /* seq numbers */
	uint64_t first_tick_ns;
	uint64_t status_sum[4];
	uint64_t deadline_ns;
	struct ringside_engine_stats es;
	bool have_es, died;
	int exit_status; /* as from waitpid; -1: did not exit */
	char reason[512];
};

static void on_signal(int sig)
{
	(void)sig;
	soak_interrupted = 1;
}

static void add_reason(struct soak *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Append one reason for failure (they are joined by "; "). */
static void add_reason(struct soak *k, const char *fmt, ...)
{
	size_t len = strlen(k->reason);
	va_list ap;

	if (len > 0 && len + 2 < sizeof(k->reason)) {
		strcpy(k->reason + len, "; ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(k->reason + len, sizeof(k->reason) - len, fmt, ap);
	va_end(ap);
}

/* ---- children ----------------------------------------------------------- */

/* SIGTERM, then SIGKILL if it lingers.  Returns the wait status or -1. */
static int stop_child(pid_t *pid)
{
	int status = -1;

	if (*pid <= 0)
		return -1;
	kill(*pid, SIGTERM);
	if (!bench_reap(*pid, EXIT_WAIT_MS, &status)) {
		kill(*pid, SIGKILL);
		bench_reap(*pid, EXIT_WAIT_MS, &status);
		status = -1;
	}
	*pid = 0;
	return status;
}

/* ---- the directory ------------------------------------------------------ */

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

static void sensor_path(const struct soak *k, unsigned i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/s%05u", k->dir, i);
}

/* Put vanishing file @i in place or take it away. */
static void vanish_set(struct soak *k, unsigned i, bool present)
{
	char path[96], text[32];

	sensor_path(k, i, path, sizeof(path));
	if (present) {
		snprintf(text, sizeof(text), "%u\n", 3000 + i);
		write_file(path, text, strlen(text));
	} else {
		unlink(path);
	}
	k->s[i].present = present;
}

/* Which kind sensor @i is: faulty ones spread evenly through the list. */
static void assign_kinds(struct soak *k)
{
	unsigned nfault = (unsigned)lround(k->nsensors * k->faults);
	unsigned i, f = 0, h = 0;
	double acc = 0;

	for (i = 0; i < k->nsensors; i++) {
		acc += (double)nfault / k->nsensors;
		if (acc >= 1.0 - 1e-9 && f < nfault) {
			acc -= 1.0;
			k->s[i].kind = (uint8_t)(f++ % SK_FAULTS);
		} else {
			k->s[i].kind = h++ % 10 == 0 ? SK_FILE_SIM : SK_FILE;
		}
		k->kind_count[k->s[i].kind]++;
	}
}

static int dir_init(struct soak *k)
{
	static const char binary[] = { 0x01,	   (char)0xff, 0x00,
				       (char)0x80, '\x1b',     '[',
				       '2',	   'J',	       '\n' };
	char path[96], text[32];
	unsigned i;
	int ret = 0;

	snprintf(k->dir, sizeof(k->dir), "/dev/shm/ringside-soak.XXXXXX");
	if (mkdtemp(k->dir) == NULL) {
		k->dir[0] = '\0';
		return -errno;
	}
	for (i = 0; i < k->nsensors && ret == 0; i++) {
		sensor_path(k, i, path, sizeof(path));
		switch (k->s[i].kind) {
		case SK_FILE:
			snprintf(text, sizeof(text), "%u\n", 1000 + i);
			ret = write_file(path, text, strlen(text));
			break;
		case SK_JUNK_TEXT:
			ret = write_file(path, "not a number\n", 13);
			break;
		case SK_JUNK_BINARY:
			ret = write_file(path, binary, sizeof(binary));
			break;
		case SK_VANISH:
			vanish_set(k, i, true);
			break;
		default:
			break; /* the simulator's */
		}
	}
	return ret;
}

/* Remove what is ours: the files by name, never a recursive walk. */
static void dir_exit(struct soak *k)
{
	char path[128];
	unsigned i;

	if (k->dir[0] == '\0')
		return;
	if (k->keep) {
		fprintf(stderr, "ringside-soak: kept %s\n", k->dir);
		return;
	}
	for (i = 0; i < k->nsensors; i++) {
		sensor_path(k, i, path, sizeof(path));
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/soak.ini", k->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/engine.log", k->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sim.log", k->dir);
	unlink(path);
	if (rmdir(k->dir) < 0)
		fprintf(stderr, "ringside-soak: rmdir %s: %s\n", k->dir,
			strerror(errno));
	k->dir[0] = '\0';
}

/* ---- the simulator ------------------------------------------------------ */

/* Start ringside-sim with every feed and take the ready lines. */
static int sim_start(struct soak *k)
{
	char **argv, logpath[96];
	unsigned i, n = 0, nfeeds = 0, got = 0;
	char line[256];
	size_t len = 0;
	int pipefd[2], logfd, ret = 0;
	uint64_t until;

	argv = calloc(k->nsensors + 5, sizeof(*argv));
	if (argv == NULL)
		return -ENOMEM;
	argv[n++] = k->sim_bin;
	argv[n++] = "--seed";
	argv[n++] = "7";
	argv[n++] = "--quiet";
	for (i = 0; i < k->nsensors; i++) {
		const char *fmt = kind_feed[k->s[i].kind];

		if (fmt == NULL)
			continue;
		argv[n] = malloc(160);
		if (argv[n] == NULL) {
			ret = -ENOMEM;
			goto out;
		}
		if (fmt[strlen(fmt) > 5 ? 5 : 0] == ',')
			/* "fifo:," or "file:,": the path goes in between. */
			snprintf(argv[n], 160, "%.5s%s/s%05u%s", fmt, k->dir, i,
				 fmt + 5);
		else
			snprintf(argv[n], 160, "%s", fmt);
		n++;
		nfeeds++;
	}
	if (nfeeds == 0)
		goto out;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out;
	}
	snprintf(logpath, sizeof(logpath), "%s/sim.log", k->dir);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	k->sim_pid = bench_fork_exec(argv, pipefd[1], logfd, SIGKILL);
	close(pipefd[1]);
	if (logfd >= 0)
		close(logfd);
	if (k->sim_pid < 0) {
		ret = k->sim_pid;
		k->sim_pid = 0;
		close(pipefd[0]);
		goto out;
	}
	k->sim_out = pipefd[0];
	/* One ready line per feed, in the order of the feeds. */
	until = bench_now_ns() + (uint64_t)START_WAIT_MS * 1000000;
	i = 0;
	while (got < nfeeds) {
		struct pollfd pfd = { k->sim_out, POLLIN, 0 };
		char word[16], kind[16], addr[64], *nl;
		ssize_t r;

		nl = memchr(line, '\n', len);
		if (nl != NULL) {
			*nl = '\0';
			if (sscanf(line, "%15s %15s %63s", word, kind, addr) !=
				    3 ||
			    strcmp(word, "ready") != 0) {
				ret = -EPROTO;
				break;
			}
			while (i < k->nsensors &&
			       kind_feed[k->s[i].kind] == NULL)
				i++;
			if (i == k->nsensors) {
				ret = -EPROTO;
				break;
			}
			snprintf(k->s[i].addr, sizeof(k->s[i].addr), "%s",
				 addr);
			i++;
			got++;
			len -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, len);
			continue;
		}
		if (len == sizeof(line)) {
			ret = -EPROTO;
			break;
		}
		if (soak_interrupted) {
			ret = -EINTR;
			break;
		}
		if (bench_now_ns() >= until) {
			ret = -ETIMEDOUT;
			break;
		}
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		r = read(k->sim_out, line + len, sizeof(line) - len);
		if (r <= 0) {
			ret = -EIO; /* it exited: sim.log says why */
			break;
		}
		len += (size_t)r;
	}
out:
	for (i = 4; i < n; i++)
		free(argv[i]);
	free(argv);
	return ret;
}

/* ---- the engine --------------------------------------------------------- */

static int write_config(const struct soak *k, const char *path)
{
	unsigned i;
	int ret = 0;
	FILE *f;

	f = fopen(path, "we");
	if (f == NULL)
		return -errno;
	fprintf(f, "; ringside-soak: %u sensors, %.0f%% faulty\n", k->nsensors,
		k->faults * 100);
	fprintf(f,
		"[engine]\nname = %s\nperiod = %dms\ndeadline = %dms\n"
		"ring = %d\n\n",
		k->name, SOAK_PERIOD_MS, SOAK_PERIOD_MS, SOAK_RING);
	for (i = 0; i < k->nsensors; i++) {
		char path_i[96];

		fprintf(f, "[sensor s%05u]\n", i);
		switch (k->s[i].kind) {
		case SK_FIFO_BAD:
		case SK_FIFO_FLAP:
			fprintf(f, "source = stream:%s\n", k->s[i].addr);
			break;
		case SK_TCP_REQ_BAD:
		case SK_TCP_REQ_FLAP:
			fprintf(f, "source = tcp:%s\nrequest = READ\\n\n",
				k->s[i].addr);
			break;
		case SK_TCP_PUSH_FLAP:
			fprintf(f, "source = tcp:%s\n", k->s[i].addr);
			break;
		case SK_FILE_SIM:
			fprintf(f, "source = file:%s\n", k->s[i].addr);
			break;
		default:
			sensor_path(k, i, path_i, sizeof(path_i));
			fprintf(f, "source = file:%s\n", path_i);
			break;
		}
	}
	if (ferror(f))
		ret = -EIO;
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	return ret;
}

static unsigned proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* utime + stime of @pid, all threads, in seconds. */
static double proc_cpu(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		   &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the run ------------------------------------------------------------ */

static int push_sample(struct soak *k, const struct soak_sample *s)
{
	if (k->nsmp == k->capsmp) {
		size_t cap = k->capsmp ? 2 * k->capsmp : 256;
		struct soak_sample *p = realloc(k->smp, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		k->smp = p;
		k->capsmp = cap;
	}
	k->smp[k->nsmp++] = *s;
	return 0;
}

/* Take every batch there is; the worst lateness seen goes to @max_ns. */
static int drain(struct soak *k, struct ringside_reader *r,
		 struct ringside_reading *v, uint64_t *max_ns,
		 unsigned status_now[4])
{
	struct ringside_batch b;
	uint32_t i;
	int rc;

	while ((rc = ringside_reader_next(r, &b, v, r->nsensors)) == 1) {
		uint64_t lat = b.published_mono_ns > b.tick_mono_ns
				       ? b.published_mono_ns - b.tick_mono_ns
				       : 0;

		if (k->nlat == k->caplat) {
			size_t cap = k->caplat ? 2 * k->caplat : 4096;
			uint32_t *p = realloc(k->lat_us, cap * sizeof(*p));

			if (p == NULL)
				return -ENOMEM;
			k->lat_us = p;
			k->caplat = cap;
		}
		k->lat_us[k->nlat++] = (uint32_t)(lat / 1000);
		if (lat > *max_ns)
			*max_ns = lat;
		k->batches++;
		k->lost += b.lost;
		if (k->first_tick_ns == 0)
			k->first_tick_ns = b.tick_mono_ns;
		if (lat > k->deadline_ns + k->slack_ns) {
			k->late++;
			if (b.tick_mono_ns <
			    k->first_tick_ns + (uint64_t)STARTUP_S * NS)
				k->late_startup++;
			if (k->first_late == 0)
				k->first_late = b.seq;
			k->last_late = b.seq;
		}
		if (k->last_seq != 0 && b.seq != k->last_seq + 1 + b.lost)
			k->gaps++;
		k->last_seq = b.seq;
		k->degraded += (b.flags & RINGSIDE_BATCH_DEGRADED) != 0;
		memset(status_now, 0, 4 * sizeof(*status_now));
		for (i = 0; i < b.nreadings; i++)
			if (v[i].status < 4) {
				status_now[v[i].status]++;
				k->status_sum[v[i].status]++;
			}
	}
	return rc;
}

static int run(struct soak *k)
{
	char cfg[96], logpath[96];
	char *argv[] = {
		k->engine_bin, "-c", cfg, "--log-level", "warn", NULL
	};
	struct ringside_reading *v = NULL;
	struct ringside_params p;
	struct ringside_reader r;
	bool attached = false;
	uint64_t t0, t_end, next_sample, lat_max = 0;
	unsigned status_now[4] = { 0 }, sec = 0, i;
	FILE *csv = NULL;
	int logfd, ret, ev, status;

	snprintf(cfg, sizeof(cfg), "%s/soak.ini", k->dir);
	ret = write_config(k, cfg);
	if (ret < 0)
		return ret;
	snprintf(logpath, sizeof(logpath), "%s/engine.log", k->dir);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0)
		return -errno;
	k->engine_pid = bench_fork_exec(argv, logfd, logfd, SIGKILL);
	close(logfd);
	if (k->engine_pid < 0) {
		ret = k->engine_pid;
		k->engine_pid = 0;
		return ret;
	}
	ret = bench_attach_wait(&r, k->name, k->engine_pid, START_WAIT_MS,
				&soak_interrupted, &status);
	if (ret == -ECHILD) {
		k->engine_pid = 0;
		k->exit_status = status;
	}
	if (ret < 0) {
		add_reason(k, "the engine did not start (%s); see %s (--keep)",
			   strerror(-ret), logpath);
		goto out;
	}
	attached = true;
	ringside_reader_params(&r, &p);
	k->deadline_ns = p.deadline_ns;
	v = calloc(r.nsensors ? r.nsensors : 1, sizeof(*v));
	csv = fopen(k->csv_path, "we");
	if (v == NULL || csv == NULL) {
		ret = v == NULL ? -ENOMEM : -errno;
		add_reason(k, "%s: %s", v == NULL ? "memory" : k->csv_path,
			   strerror(-ret));
		goto out;
	}
	fprintf(csv, "t_s,rss_kib,shmem_kib,fds,threads,cpu_s,batches,late,"
		     "lateness_max_us,ok,failed,open,pending\n");
	t0 = bench_now_ns();
	t_end = t0 + (uint64_t)(k->seconds * NS);
	next_sample = t0 + NS;
	for (;;) {
		uint64_t now;

		ev = ringside_reader_wait(&r, 100);
		ret = drain(k, &r, v, &lat_max, status_now);
		if (ret < 0) {
			add_reason(k, "reading the segment: %s",
				   strerror(-ret));
			goto out;
		}
		if (ev == RINGSIDE_DEAD || ev == RINGSIDE_CLOSED ||
		    ev == RINGSIDE_REPLACED) {
			k->died = true;
			add_reason(k, "the engine %s after %.0f s",
				   ev == RINGSIDE_DEAD ? "died"
				   : ev == RINGSIDE_CLOSED
					   ? "stopped by itself"
					   : "replaced its segment",
				   (bench_now_ns() - t0) / 1e9);
			break;
		}
		now = bench_now_ns();
		if (now >= next_sample) {
			struct soak_sample s = {
				.t = (now - t0) / 1e9,
				.rss_kib = bench_proc_status(k->engine_pid,
							     "VmRSS"),
				.shmem_kib = bench_proc_status(k->engine_pid,
							       "RssShmem"),
				.fds = proc_fds(k->engine_pid),
				.threads = (unsigned)bench_proc_status(
					k->engine_pid, "Threads"),
				.cpu_s = proc_cpu(k->engine_pid),
			};

			if (push_sample(k, &s) < 0) {
				ret = -ENOMEM;
				goto out;
			}
			fprintf(csv,
				"%.1f,%" PRIu64 ",%" PRIu64
				",%u,%u,%.2f,%" PRIu64 ",%" PRIu64 ",%" PRIu64
				",%u,%u,%u,%u\n",
				s.t, s.rss_kib, s.shmem_kib, s.fds, s.threads,
				s.cpu_s, k->batches, k->late, lat_max / 1000,
				status_now[0], status_now[1], status_now[2],
				status_now[3]);
			fflush(csv);
			lat_max = 0;
			next_sample += NS;
			sec++;
			/* The vanishing files keep their timetable. */
			for (i = 0; i < k->nsensors; i++)
				if (k->s[i].kind == SK_VANISH) {
					bool want = (sec + i) % VANISH_EVERY <
						    VANISH_EVERY - VANISH_FOR;

					if (want != k->s[i].present)
						vanish_set(k, i, want);
				}
			if (sec % 60 == 0)
				fprintf(stderr,
					"ringside-soak: %u s: RSS %" PRIu64
					" KiB, %u fds, %" PRIu64
					" batches, %" PRIu64 " late\n",
					sec, s.rss_kib, s.fds, k->batches,
					k->late);
		}
		if (now >= t_end)
			break;
		if (soak_interrupted) {
			add_reason(k, "interrupted after %.0f s",
				   (now - t0) / 1e9);
			break;
		}
	}
	/* The engine's own counters, then stop it and take the last batch. */
	if (!k->died) {
		k->have_es = ringside_reader_stats(&r, &k->es, NULL, 0) == 0;
		k->exit_status = stop_child(&k->engine_pid);
		while (ringside_reader_state(&r) == RINGSIDE_READY)
			drain(k, &r, v, &lat_max, status_now);
	}
	ret = 0;
out:
	if (csv != NULL)
		fclose(csv);
	if (attached)
		ringside_reader_detach(&r);
	free(v);
	return ret;
}

/* ---- the verdict -------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Median and maximum of field @what over samples [from, to). */
static void stat_range(const struct soak *k, size_t from, size_t to, int what,
		       uint64_t *median, uint64_t *max)
{
	uint64_t *x = calloc(to - from, sizeof(*x));
	size_t i;

	*median = *max = 0;
	if (x == NULL || to <= from) {
		free(x);
		return;
	}
	for (i = from; i < to; i++)
		x[i - from] = what ? k->smp[i].fds : k->smp[i].rss_kib;
	qsort(x, to - from, sizeof(*x), bench_cmp_u64);
	*median = x[(to - from - 1) / 2];
	*max = x[to - from - 1];
	free(x);
}

/* Least-squares slope of RSS over [from, to), KiB per second. */
static double rss_slope(const struct soak *k, size_t from, size_t to)
{
	double sx = 0, sy = 0, sxx = 0, sxy = 0, n = (double)(to - from);
	size_t i;

	if (to - from < 2)
		return 0;
	for (i = from; i < to; i++) {
		double x = k->smp[i].t, y = (double)k->smp[i].rss_kib;

		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
	}
	return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

static int verdict(struct soak *k)
{
	size_t warm = k->nsmp / 5, q, n = k->nsmp;
	uint64_t rss_med1, rss_max1, rss_med4, rss_max4;
	uint64_t fd_med1, fd_max1, fd_med4, fd_max4, fd_min = UINT64_MAX,
						     fd_max = 0;
	uint64_t rss_allow, fd_allow, p50 = 0, p99 = 0, pmax = 0;
	uint64_t missed = 0, elate = 0;
	double slope, fit_growth;
	size_t i;

	if (k->nlat > 0) {
		qsort(k->lat_us, k->nlat, sizeof(*k->lat_us), cmp_u32);
		p50 = k->lat_us[(k->nlat - 1) / 2];
		p99 = k->lat_us[(k->nlat * 99 + 99) / 100 - 1];
		pmax = k->lat_us[k->nlat - 1];
	}
	if (k->have_es) {
		missed = k->es.counter[RINGSIDE_EC_MISSED_TICKS];
		elate = k->es.counter[RINGSIDE_EC_LATE];
	}
	printf("\nbatches %" PRIu64 " (degraded %" PRIu64
	       "), lateness p50 %" PRIu64 " us, p99 %" PRIu64
	       " us, max %" PRIu64 " us (deadline %" PRIu64 " ms)\n",
	       k->batches, k->degraded, p50, p99, pmax,
	       k->deadline_ns / 1000000);
	printf("late batches (> deadline + %.1f ms) %" PRIu64
	       " (engine counter %" PRIu64 "; in the first %d s %" PRIu64
	       "; seq %" PRIu64 "..%" PRIu64 "), missed ticks %" PRIu64
	       ", seq gaps %" PRIu64 ", lost by the reader %" PRIu64 "\n",
	       (double)k->slack_ns / 1e6, k->late, elate, STARTUP_S,
	       k->late_startup, k->first_late, k->last_late, missed, k->gaps,
	       k->lost);
	if (k->batches > 0)
		printf("readings: ok %.1f%%, failed %.1f%%, open %.1f%%, "
		       "pending %.1f%%\n",
		       100.0 * k->status_sum[0] / (k->batches * k->nsensors),
		       100.0 * k->status_sum[1] / (k->batches * k->nsensors),
		       100.0 * k->status_sum[2] / (k->batches * k->nsensors),
		       100.0 * k->status_sum[3] / (k->batches * k->nsensors));

	if (n < 10) {
		add_reason(k, "only %zu samples: run for at least 10 s", n);
	} else {
		q = (n - warm) / 4;
		if (q == 0)
			q = 1;
		stat_range(k, warm, warm + q, 0, &rss_med1, &rss_max1);
		stat_range(k, n - q, n, 0, &rss_med4, &rss_max4);
		stat_range(k, warm, warm + q, 1, &fd_med1, &fd_max1);
		stat_range(k, n - q, n, 1, &fd_med4, &fd_max4);
		for (i = warm; i < n; i++) {
			if (k->smp[i].fds < fd_min)
				fd_min = k->smp[i].fds;
			if (k->smp[i].fds > fd_max)
				fd_max = k->smp[i].fds;
		}
		slope = rss_slope(k, warm, n);
		fit_growth = slope * (k->smp[n - 1].t - k->smp[warm].t);
		/*
		 * Sensors whose descriptor comes and goes (failing and
		 * flapping feeds, vanishing files) make the count wobble;
		 * a leak on any of those paths adds one per event, hundreds
		 * a minute.  Allowed: 2% of them, at least 2.
		 */
		fd_allow = (k->nsensors - k->kind_count[SK_FILE] -
			    k->kind_count[SK_FILE_SIM] -
			    k->kind_count[SK_JUNK_TEXT] -
			    k->kind_count[SK_JUNK_BINARY]) /
			   50;
		if (fd_allow < 2)
			fd_allow = 2;
		rss_allow = (uint64_t)(rss_med1 * RSS_SLACK_FRAC);
		if (rss_allow < RSS_SLACK_KIB)
			rss_allow = RSS_SLACK_KIB;
		printf("samples %zu, warm-up %zu (%.0f s), quarter %zu\n", n,
		       warm, k->smp[warm].t, q);
		printf("RSS KiB: start %" PRIu64
		       ", after warm-up median %" PRIu64
		       " -> last quarter median %" PRIu64 " (max %" PRIu64
		       "), linear fit %+.1f KiB over the "
		       "run (%+.3f KiB/s); allowed growth %" PRIu64 "\n",
		       k->smp[0].rss_kib, rss_med1, rss_med4, rss_max4,
		       fit_growth, slope, rss_allow);
		printf("fds: start %u, after warm-up min %" PRIu64
		       " max %" PRIu64 "; first quarter median %" PRIu64
		       " max %" PRIu64 ", last quarter median %" PRIu64
		       " max %" PRIu64 "\n",
		       k->smp[0].fds, fd_min, fd_max, fd_med1, fd_max1, fd_med4,
		       fd_max4);
		printf("threads: start %u, end %u; engine CPU %.1f s "
		       "(%.1f%% of one CPU)\n",
		       k->smp[0].threads, k->smp[n - 1].threads,
		       k->smp[n - 1].cpu_s,
		       100.0 * k->smp[n - 1].cpu_s / k->smp[n - 1].t);
		if (rss_med4 > rss_med1 + rss_allow)
			add_reason(k,
				   "RSS grew %" PRIu64 " KiB after warm-up "
				   "(allowed %" PRIu64 ")",
				   rss_med4 - rss_med1, rss_allow);
		if (fd_med4 > fd_med1 + fd_allow)
			add_reason(
				k,
				"open fds grew after warm-up (median %" PRIu64
				" -> %" PRIu64 ", allowed +%" PRIu64 ")",
				fd_med1, fd_med4, fd_allow);
	}
	/* The engine counts late past 1 ms; with a wider --slack-ms only the
	 * soak's own count decides.  --late-max forgives a shared guest the
	 * odd wake-up that comes late: a stalled engine is late on every
	 * tick of its stall, or misses them. */
	if (k->late > k->late_max ||
	    (k->slack_ns <= LATE_SLACK_NS && elate > k->late_max))
		add_reason(k, "%" PRIu64 " batches late (engine: %" PRIu64 ")",
			   k->late, elate);
	if (missed > 0)
		add_reason(k, "%" PRIu64 " ticks missed", missed);
	if (k->gaps > 0 || k->lost > 0)
		add_reason(k,
			   "%" PRIu64 " sequence gaps, %" PRIu64
			   " batches lost by the reader",
			   k->gaps, k->lost);
	if (!k->died && (k->exit_status == -1 || !WIFEXITED(k->exit_status) ||
			 WEXITSTATUS(k->exit_status) != 0))
		add_reason(k, "the engine did not exit 0 on SIGTERM (%s %d)",
			   k->exit_status == -1	       ? "killed"
			   : WIFEXITED(k->exit_status) ? "status"
						       : "signal",
			   k->exit_status == -1 ? 0
			   : WIFEXITED(k->exit_status)
				   ? WEXITSTATUS(k->exit_status)
				   : WTERMSIG(k->exit_status));
	if (k->reason[0] != '\0') {
		printf("FAIL: %s\n", k->reason);
		return 1;
	}
	printf("PASS: RSS and fds flat after warm-up, %s\n",
	       k->late == 0 ? "no batch late"
			    : "late batches within --late-max");
	return 0;
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringside-soak [--sensors N] [--minutes M | --seconds "
		"S] [--faults P]\n"
		"                     [--csv FILE] [--keep]\n"
		"\n"
		"Run ringsided (period %d ms) on N sensors, a share P of them "
		"faulty (junk,\n"
		"vanishing files; FIFOs and TCP feeds from ringside-sim with "
		"fail, hang,\n"
		"garbage, flap), sample its RSS, open fds and batch lateness "
		"every second,\n"
		"and pass when RSS and fds are flat after the warm-up (the "
		"first 20%%) and\n"
		"no batch was late.  ringsided and ringside-sim are taken from "
		"RINGSIDE_BIN\n"
		"or beside this program.\n"
		"\n"
		"  --sensors N   sensors (default 2000)\n"
		"  --minutes M   length of the run (default 30)\n"
		"  --seconds S   the same in seconds\n"
		"  --faults P    share of faulty sensors, 0 to 1 (default "
		"0.2)\n"
		"  --csv FILE    the samples (default ringside-soak.csv)\n"
		"  --keep        keep the temporary directory\n"
		"  --slack-ms MS a batch more than MS past its deadline is late"
		" [1]\n"
		"  --late-max N  pass with up to N late batches [0]\n"
		"\n"
		"Exit status 0 pass, 1 fail (the reason is printed), 2 "
		"usage.\n",
		SOAK_PERIOD_MS);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sensors", required_argument, NULL, 'n' },
		{ "minutes", required_argument, NULL, 'm' },
		{ "seconds", required_argument, NULL, 's' },
		{ "faults", required_argument, NULL, 'f' },
		{ "csv", required_argument, NULL, 'c' },
		{ "keep", no_argument, NULL, 'k' },
		{ "slack-ms", required_argument, NULL, 'l' },
		{ "late-max", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct soak k = { .slack_ns = LATE_SLACK_NS,
			  .nsensors = 2000,
			  .seconds = 30 * 60,
			  .faults = 0.2,
			  .csv_path = "ringside-soak.csv",
			  .sim_out = -1,
			  .exit_status = -1 };
	char self[PATH_MAX], *end;
	struct sigaction sa;
	unsigned long ul;
	unsigned kd;
	int c, ret, status = 1;

	while ((c = getopt_long(argc, argv, "n:m:s:f:c:kl:L:hV", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'n':
			errno = 0;
			ul = strtoul(optarg, &end, 10);
			if (errno || *end != '\0' || ul < 1 || ul > 20000) {
				fprintf(stderr, "ringside-soak: --sensors: "
						"expected 1 to 20000\n");
				return 2;
			}
			k.nsensors = (unsigned)ul;
			break;
		case 'm':
		case 's':
			k.seconds = strtod(optarg, &end);
			if (c == 'm')
				k.seconds *= 60;
			if (*end != '\0' ||
			    !(k.seconds >= 10 && k.seconds <= 7 * 86400)) {
				fprintf(stderr,
					"ringside-soak: --%s: expected "
					"10 s to a week\n",
					c == 'm' ? "minutes" : "seconds");
				return 2;
			}
			break;
		case 'f':
			k.faults = strtod(optarg, &end);
			if (*end != '\0' || !(k.faults >= 0 && k.faults <= 1)) {
				fprintf(stderr, "ringside-soak: --faults: "
						"expected 0 to 1\n");
				return 2;
			}
			break;
		case 'c':
			k.csv_path = optarg;
			break;
		case 'k':
			k.keep = true;
			break;
		case 'l': {
			double ms = strtod(optarg, &end);

			if (*end != '\0' || !(ms >= 0 && ms <= 60000)) {
				fprintf(stderr, "ringside-soak: --slack-ms: "
						"expected 0 to 60000\n");
				return 2;
			}
			k.slack_ns = (uint64_t)(ms * 1e6);
			break;
		}
		case 'L': {
			unsigned long long n = strtoull(optarg, &end, 10);

			if (*end != '\0' || optarg[0] == '-' || n > 1000000) {
				fprintf(stderr, "ringside-soak: --late-max: "
						"expected 0 to 1000000\n");
				return 2;
			}
			k.late_max = n;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ringside-soak %s\n", RINGSIDE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	ret = bench_self_dir(self, sizeof(self));
	if (ret < 0) {
		fprintf(stderr, "ringside-soak: /proc/self/exe: %s\n",
			strerror(-ret));
		return 1;
	}
	if (bench_find(k.engine_bin, sizeof(k.engine_bin), "RINGSIDE_BIN", self,
		       "ringsided") < 0 ||
	    bench_find(k.sim_bin, sizeof(k.sim_bin), "RINGSIDE_BIN", self,
		       "ringside-sim") < 0) {
		fprintf(stderr, "ringside-soak: no ringsided or ringside-sim "
				"beside this program (set RINGSIDE_BIN)\n");
		return 1;
	}
	/* Every sensor may hold a descriptor, and the simulator as many. */
	bench_raise_nofile();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(k.name, sizeof(k.name), "soak%d", (int)getpid());
	k.s = calloc(k.nsensors, sizeof(*k.s));
	if (k.s == NULL) {
		perror("ringside-soak");
		return 1;
	}
	assign_kinds(&k);
	ret = dir_init(&k);
	if (ret < 0) {
		fprintf(stderr, "ringside-soak: %s: %s\n",
			k.dir[0] ? k.dir : "/dev/shm", strerror(-ret));
		goto out;
	}
	ret = sim_start(&k);
	if (ret < 0) {
		fprintf(stderr,
			"ringside-soak: ringside-sim did not start: %s (see "
			"%s/sim.log with --keep)\n",
			strerror(-ret), k.dir);
		goto out;
	}

	printf("ringside-soak %s: %u sensors, %u faulty (%.0f%%), period %d "
	       "ms, %.0f s, %ld CPUs\n",
	       RINGSIDE_VERSION, k.nsensors,
	       k.nsensors - k.kind_count[SK_FILE] - k.kind_count[SK_FILE_SIM],
	       k.faults * 100, SOAK_PERIOD_MS, k.seconds,
	       sysconf(_SC_NPROCESSORS_ONLN));
	for (kd = 0; kd < SK_KINDS; kd++)
		if (k.kind_count[kd] > 0)
			printf("  %5u  %s\n", k.kind_count[kd], kind_name[kd]);
	fflush(stdout);
	ret = run(&k);
	if (ret < 0 && k.reason[0] == '\0')
		add_reason(&k, "%s", strerror(-ret));
	stop_child(&k.engine_pid);
	stop_child(&k.sim_pid);
	status = verdict(&k);
	printf("samples in %s\n", k.csv_path);
out:
	stop_child(&k.engine_pid);
	stop_child(&k.sim_pid);
	if (k.sim_out >= 0)
		close(k.sim_out);
	dir_exit(&k);
	{
		char path[96];

		snprintf(path, sizeof(path), "/dev/shm/ringside.%s", k.name);
		unlink(path);
		snprintf(path, sizeof(path), "/dev/shm/.ringside.%s.lock",
			 k.name);
		unlink(path);
	}
	free(k.s);
	free(k.smp);
	free(k.lat_us);
	return status;
}
