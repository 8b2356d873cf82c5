/* SPDX-License-Identifier: MIT */
/*
 * hangbench.c - ringside-hangbench: does one stuck file sensor delay the
 * batches, or the other sensors, of a running ringsided?
 *
 * A sysfs attribute whose driver hangs blocks its reader inside the kernel,
 * where no timeout reaches it.  tests/tool_fuse stands in for such a driver:
 * a FUSE file `hang` whose read blocks until released, and `slow`, which
 * answers after 3 s.  For each scenario this program writes a configuration
 * of 100 healthy sensors (tmpfs files) plus, but for the baseline, one
 * `file:` sensor on the FUSE file, starts ringsided on it (period 100 ms),
 * follows its segment through libringside for a few seconds, and reports:
 *
 *   lateness   published_mono_ns - tick_mono_ns of every batch (p50, p99,
 *              max): a batch waits for calls started at its tick, at most
 *              until the deadline (here the period);
 *   healthy    readings of the 100 healthy sensors that were not ok, over
 *              all batches: a hung file must cost the others nothing;
 *   faulty     the statuses the faulty sensor showed, and how many reads of
 *              its file the file system saw;
 *   exit       milliseconds from SIGTERM to the engine's exit.  A thread
 *              blocked in a FUSE (or sysfs) read cannot be killed, so a
 *              process with one cannot finish exiting until the read ends:
 *              if the engine has not gone after EXIT_WAIT_MS, the hang is
 *              released and that is reported.
 *
 * Everything lives in a temporary directory under /dev/shm (tmpfs, so the
 * healthy reads are tmpfs reads), removed at the end, as are the segments;
 * the children die with the bench (PR_SET_PDEATHSIG) and tool_fuse mounts
 * with auto_unmount.  ringsided is found through RINGSIDE_BIN or beside
 * this program, tool_fuse through RINGSIDE_TESTS or in ../tests.  Exit
 * status 0; 1 when a run could not be set up or the engine failed; 2 on a
 * usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
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

#define HB_HEALTHY 100
#define HB_PERIOD_MS 100
#define HB_SLOW_MS 3000
#define START_WAIT_MS 5000 /* for the mount and for the segment */
#define EXIT_WAIT_MS 3000  /* for a child to go after a signal */
#define DRAIN_WAIT_MS 3000 /* for the closed segment after SIGTERM */

static volatile sig_atomic_t hb_interrupted;

struct hb_env {
	char dir[64]; /* /dev/shm/ringside-hangbench.XXXXXX */
	char mnt[96]; /* dir/mnt, where tool_fuse mounts */
	char engine[PATH_MAX];
	char tool[PATH_MAX];
	pid_t fuse_pid;
	int fuse_out; /* tool_fuse's stdout */
	unsigned nhealthy;
	unsigned files_made; /* healthy files created, to remove */
	double seconds;
	bool keep;
	bool fault_first; /* the faulty sensor first in the config, not last */
};

struct hb_scenario {
	const char *name;
	const char *fault; /* the FUSE file, or NULL for the baseline */
};

struct hb_result {
	uint64_t batches, lost, gaps;
	uint64_t p50_ns, p99_ns, max_ns;
	uint64_t healthy_bad; /* healthy readings not ok */
	uint64_t healthy_status[4], healthy_late;
	uint64_t bad_batches; /* batches with one of those */
	uint64_t first_bad;   /* seq of the first such batch */
	uint64_t last_bad;    /* and of the last */
	uint64_t fault_status[4], fault_late;
	uint64_t fault_reads; /* reads of the faulty file, as FUSE saw them */
	unsigned fault_hung;  /* of which blocked when the run ended */
	struct ringside_engine_stats es;
	struct ringside_sensor_stats fs; /* the faulty sensor's counters */
	unsigned threads;		 /* the engine's, at the end */
	int exit_ms;			 /* SIGTERM to exit; -1: did not */
	bool exit_released;		 /* exited only once released */
	int exit_status;		 /* as from waitpid */
	bool died;			 /* the segment said the engine died */
};

static void hb_on_signal(int sig)
{
	hb_interrupted = 1;
}

/* ---- the FUSE file system ----------------------------------------------- */

static int hb_fuse_write(const struct hb_env *env, const char *file,
			 const char *text)
{
	char path[160];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", env->mnt, file);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -EIO : 0;
}

/* The read counts of tool_fuse's `stats`.  Returns 0 or -errno. */
static int hb_fuse_stats(const struct hb_env *env, uint64_t *slow,
			 uint64_t *hang, unsigned *hung)
{
	char path[160], buf[160];
	unsigned long long fast, s, h;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/stats", env->mnt);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	if (sscanf(buf, "fast %llu slow %llu hang %llu hung %u", &fast, &s, &h,
		   hung) != 4)
		return -EPROTO;
	*slow = s;
	*hang = h;
	return 0;
}

/* Start tool_fuse on env->mnt and wait for "ready".  Returns 0 or -errno. */
static int hb_fuse_start(struct hb_env *env)
{
	char slow[16], line[256];
	char *argv[] = { env->tool, "--slow-ms", slow, env->mnt, NULL };
	struct pollfd pfd;
	size_t len = 0;
	int pipefd[2];
	pid_t pid;

	snprintf(slow, sizeof(slow), "%d", HB_SLOW_MS);
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = bench_fork_exec(argv, pipefd[1], -1, SIGTERM);
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		return (int)pid;
	}
	env->fuse_pid = pid;
	env->fuse_out = pipefd[0];
	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	while (len < sizeof(line) - 1 && !hb_interrupted) {
		ssize_t n;

		if (poll(&pfd, 1, START_WAIT_MS) <= 0)
			return -ETIMEDOUT;
		n = read(pipefd[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			return -EIO; /* it exited: it said why on stderr */
		len += (size_t)n;
		line[len] = '\0';
		if (strchr(line, '\n') != NULL)
			return strncmp(line, "ready ", 6) == 0 ? 0 : -EPROTO;
	}
	return -EINTR;
}

/*
 * Stop tool_fuse: SIGTERM ends every blocked read and unmounts.  If it does
 * not go, SIGKILL, and make sure no dead mount is left behind.
 */
static void hb_fuse_stop(struct hb_env *env)
{
	char *argv[] = { "/bin/fusermount3", "-u", "-z", env->mnt, NULL };
	int status, devnull;
	pid_t pid;

	if (env->fuse_pid <= 0)
		return;
	kill(env->fuse_pid, SIGTERM);
	if (!bench_reap(env->fuse_pid, EXIT_WAIT_MS, &status)) {
		kill(env->fuse_pid, SIGKILL);
		bench_reap(env->fuse_pid, EXIT_WAIT_MS, &status);
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (access(argv[0], X_OK) != 0)
			argv[0] = "/usr/bin/fusermount3";
		pid = bench_fork_exec(argv, devnull, devnull, SIGTERM);
		if (pid > 0)
			bench_reap(pid, EXIT_WAIT_MS, &status);
		if (devnull >= 0)
			close(devnull);
	}
	env->fuse_pid = 0;
	close(env->fuse_out);
	env->fuse_out = -1;
}

/* ---- the directory ------------------------------------------------------ */

static int hb_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

static int hb_dir_init(struct hb_env *env)
{
	char path[128], text[32];
	unsigned i;
	int ret;

	snprintf(env->dir, sizeof(env->dir),
		 "/dev/shm/ringside-hangbench.XXXXXX");
	if (mkdtemp(env->dir) == NULL) {
		env->dir[0] = '\0';
		return -errno;
	}
	snprintf(env->mnt, sizeof(env->mnt), "%s/mnt", env->dir);
	if (mkdir(env->mnt, 0755) < 0)
		return -errno;
	for (i = 0; i < env->nhealthy; i++) {
		snprintf(path, sizeof(path), "%s/h%03u", env->dir, i);
		snprintf(text, sizeof(text), "%u\n", 1000 + i);
		ret = hb_write_file(path, text);
		if (ret < 0)
			return ret;
		env->files_made = i + 1;
	}
	return 0;
}

static void hb_dir_exit(struct hb_env *env, const struct hb_scenario *sc,
			unsigned nsc)
{
	char path[160];
	unsigned i;

	if (env->dir[0] == '\0')
		return;
	if (env->keep) {
		fprintf(stderr, "ringside-hangbench: kept %s\n", env->dir);
		return;
	}
	for (i = 0; i < env->files_made; i++) {
		snprintf(path, sizeof(path), "%s/h%03u", env->dir, i);
		unlink(path);
	}
	for (i = 0; i < nsc; i++) {
		snprintf(path, sizeof(path), "%s/%s.ini", env->dir, sc[i].name);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s.log", env->dir, sc[i].name);
		unlink(path);
	}
	/* Never recursed into: if a dead mount were left, rmdir fails. */
	rmdir(env->mnt);
	rmdir(env->dir);
}

static int hb_config(const struct hb_env *env, const struct hb_scenario *sc,
		     const char *name, char *path, size_t len)
{
	FILE *f;
	unsigned i;
	int ret = 0;

	snprintf(path, len, "%s/%s.ini", env->dir, sc->name);
	f = fopen(path, "we");
	if (f == NULL)
		return -errno;
	fprintf(f, "; ringside-hangbench, scenario %s\n", sc->name);
	fprintf(f, "[engine]\nname = %s\nperiod = %dms\n\n", name,
		HB_PERIOD_MS);
	if (sc->fault != NULL && env->fault_first)
		fprintf(f, "[sensor fault]\nsource = file:%s/%s\n", env->mnt,
			sc->fault);
	for (i = 0; i < env->nhealthy; i++)
		fprintf(f, "[sensor h%03u]\nsource = file:%s/h%03u\n", i,
			env->dir, i);
	if (sc->fault != NULL && !env->fault_first)
		fprintf(f, "[sensor fault]\nsource = file:%s/%s\n", env->mnt,
			sc->fault);
	if (ferror(f))
		ret = -EIO;
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	return ret;
}

/* ---- one scenario ------------------------------------------------------- */

struct hb_collect {
	uint64_t *lat;
	size_t nlat, cap;
	uint64_t last_seq;
	struct ringside_reading *v;
	uint32_t n;
	uint32_t fault; /* the faulty sensor's index, UINT32_MAX if none */
};

/* Take every batch there is; returns 0 or -errno. */
static int hb_drain(struct ringside_reader *r, struct hb_collect *c,
		    struct hb_result *res)
{
	struct ringside_batch b;
	uint32_t i, bad;
	int rc;

	while ((rc = ringside_reader_next(r, &b, c->v, c->n)) == 1) {
		if (c->nlat == c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 1024;
			uint64_t *p = realloc(c->lat, cap * sizeof(*p));

			if (p == NULL)
				return -ENOMEM;
			c->lat = p;
			c->cap = cap;
		}
		c->lat[c->nlat++] = b.published_mono_ns - b.tick_mono_ns;
		res->batches++;
		res->lost += b.lost;
		if (c->last_seq != 0 && b.seq != c->last_seq + 1 + b.lost)
			res->gaps++;
		c->last_seq = b.seq;
		for (i = 0, bad = 0; i < b.nreadings; i++) {
			const struct ringside_reading *v = &c->v[i];

			if (i == c->fault) {
				if (v->status < 4)
					res->fault_status[v->status]++;
				if (v->flags & RINGSIDE_READING_LATE)
					res->fault_late++;
				continue;
			}
			bad += v->status != RINGSIDE_OK;
			if (v->status < 4)
				res->healthy_status[v->status]++;
			if (v->flags & RINGSIDE_READING_LATE)
				res->healthy_late++;
		}
		res->healthy_bad += bad;
		if (bad > 0) {
			res->bad_batches++;
			if (res->first_bad == 0)
				res->first_bad = b.seq;
			res->last_bad = b.seq;
		}
	}
	return rc;
}

/*
 * SIGTERM the engine and time its exit.  A thread blocked in a FUSE read
 * holds the exit up; after EXIT_WAIT_MS the hang is released, then the
 * file system is told to fail its reads, then SIGKILL.
 */
static void hb_engine_stop(struct hb_env *env, pid_t pid, uint64_t t_kill,
			   bool signalled, struct hb_result *res)
{
	uint64_t left_ns, since;
	int status = 0;

	res->exit_ms = -1;
	if (!signalled)
		kill(pid, SIGTERM);
	since = bench_now_ns() - t_kill;
	left_ns = since < (uint64_t)EXIT_WAIT_MS * 1000000
			  ? (uint64_t)EXIT_WAIT_MS * 1000000 - since
			  : 0;
	if (bench_reap(pid, (unsigned)(left_ns / 1000000), &status)) {
		res->exit_ms = (int)((bench_now_ns() - t_kill) / 1000000);
		res->exit_status = status;
		return;
	}
	if (hb_fuse_write(env, "release", "1\n") == 0 &&
	    bench_reap(pid, EXIT_WAIT_MS, &status)) {
		res->exit_ms = (int)((bench_now_ns() - t_kill) / 1000000);
		res->exit_released = true;
		res->exit_status = status;
		return;
	}
	kill(pid, SIGKILL);
	if (!bench_reap(pid, EXIT_WAIT_MS, &status)) {
		/* Still inside a FUSE read: end the file system. */
		hb_fuse_stop(env);
		bench_reap(pid, EXIT_WAIT_MS, &status);
	}
	res->exit_status = status;
}

static int hb_run(struct hb_env *env, const struct hb_scenario *sc,
		  struct hb_result *res)
{
	char name[RINGSIDE_NAME_MAX + 1], cfg[160], logpath[160], shm[96];
	char *argv[] = { env->engine, "-c", cfg, NULL };
	struct hb_collect c = { 0 };
	struct ringside_reader r;
	uint64_t t_end, t_kill = 0, slow0 = 0, hang0 = 0, slow1, hang1;
	bool attached = false, stopping = false;
	unsigned hung;
	pid_t pid;
	int logfd, ev, ret, status;

	memset(res, 0, sizeof(*res));
	snprintf(name, sizeof(name), "hangbench%d-%s", (int)getpid(), sc->name);
	snprintf(shm, sizeof(shm), "/dev/shm/ringside.%s", name);
	ret = hb_config(env, sc, name, cfg, sizeof(cfg));
	if (ret < 0)
		return ret;
	if (sc->fault != NULL && hb_fuse_stats(env, &slow0, &hang0, &hung) < 0)
		return -EIO;
	snprintf(logpath, sizeof(logpath), "%s/%s.log", env->dir, sc->name);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0)
		return -errno;
	pid = bench_fork_exec(argv, logfd, logfd, SIGTERM);
	close(logfd);
	if (pid < 0)
		return (int)pid;

	ret = bench_attach_wait(&r, name, pid, START_WAIT_MS, &hb_interrupted,
				&status);
	if (ret < 0)
		goto err_engine;
	attached = true;
	c.n = r.nsensors;
	c.fault = sc->fault == NULL  ? UINT32_MAX
		  : env->fault_first ? 0
				     : c.n - 1;
	c.v = calloc(c.n, sizeof(*c.v));
	if (c.v == NULL) {
		ret = -ENOMEM;
		goto err_engine;
	}
	t_end = bench_now_ns() + (uint64_t)(env->seconds * 1e9);
	for (;;) {
		uint64_t now;

		ev = ringside_reader_wait(&r, 100);
		ret = hb_drain(&r, &c, res);
		if (ev < 0 || ret < 0) {
			ret = ev < 0 ? ev : ret;
			goto err_engine;
		}
		if (ev == RINGSIDE_DEAD)
			res->died = true;
		if (ev == RINGSIDE_CLOSED || ev == RINGSIDE_DEAD ||
		    ev == RINGSIDE_REPLACED)
			break;
		now = bench_now_ns();
		if (!stopping && (now >= t_end || hb_interrupted)) {
			/* The counters as they stand, then stop. */
			res->threads =
				(unsigned)bench_proc_status(pid, "Threads");
			if (sc->fault != NULL &&
			    hb_fuse_stats(env, &slow1, &hang1,
					  &res->fault_hung) == 0)
				res->fault_reads = strcmp(sc->fault, "hang")
							   ? slow1 - slow0
							   : hang1 - hang0;
			kill(pid, SIGTERM);
			t_kill = now;
			stopping = true;
		}
		if (stopping &&
		    now - t_kill >= (uint64_t)DRAIN_WAIT_MS * 1000000)
			break;
	}
	/* Counters are final once the segment is closed. */
	{
		struct ringside_sensor_stats *ss = calloc(c.n, sizeof(*ss));

		if (ss != NULL &&
		    ringside_reader_stats(&r, &res->es, ss, c.n) == 0 &&
		    sc->fault != NULL)
			res->fs = ss[c.fault];
		free(ss);
	}
	if (!stopping)
		t_kill = bench_now_ns();
	hb_engine_stop(env, pid, t_kill, stopping, res);
	if (c.nlat > 0) {
		qsort(c.lat, c.nlat, sizeof(*c.lat), bench_cmp_u64);
		res->p50_ns = c.lat[(c.nlat - 1) / 2];
		res->p99_ns = c.lat[(c.nlat * 99 + 99) / 100 - 1];
		res->max_ns = c.lat[c.nlat - 1];
	}
	ret = 0;
	goto out;

err_engine:
	if (!stopping)
		t_kill = bench_now_ns();
	hb_engine_stop(env, pid, t_kill, stopping, res);
out:
	if (attached)
		ringside_reader_detach(&r);
	unlink(shm);
	/* The engine's name lock: gone after a clean exit, not after a kill. */
	snprintf(shm, sizeof(shm), "/dev/shm/.ringside.%s.lock", name);
	unlink(shm);
	free(c.v);
	free(c.lat);
	if (ret == -ECHILD || ret == -ETIMEDOUT)
		fprintf(stderr,
			"ringside-hangbench: %s: the engine did not start; "
			"see %s (--keep)\n",
			sc->name, logpath);
	return ret;
}

/* ---- main --------------------------------------------------------------- */

static void hb_print(const struct hb_scenario *sc, const struct hb_result *r)
{
	char faulty[96], exit_txt[32];

	if (sc->fault == NULL)
		snprintf(faulty, sizeof(faulty), "-");
	else
		snprintf(faulty, sizeof(faulty),
			 "ok %" PRIu64 " failed %" PRIu64 " open %" PRIu64
			 " pending %" PRIu64 " late %" PRIu64,
			 r->fault_status[RINGSIDE_OK],
			 r->fault_status[RINGSIDE_FAILED],
			 r->fault_status[RINGSIDE_OPEN],
			 r->fault_status[RINGSIDE_PENDING], r->fault_late);
	if (r->exit_ms < 0)
		snprintf(exit_txt, sizeof(exit_txt), "killed");
	else
		snprintf(exit_txt, sizeof(exit_txt), "%d%s", r->exit_ms,
			 r->exit_released ? " (released)" : "");
	printf("%-9s %7" PRIu64 " %8.0f %8.0f %8.0f %8" PRIu64 "  %-15s %s\n",
	       sc->name, r->batches, r->p50_ns / 1e3, r->p99_ns / 1e3,
	       r->max_ns / 1e3, r->healthy_bad, exit_txt, faulty);
}

static void hb_print_detail(const struct hb_scenario *sc,
			    const struct hb_result *r)
{
	const uint64_t *fc = r->fs.counter;

	printf("  %-7s lost %" PRIu64 " gaps %" PRIu64 " missed_ticks %" PRIu64
	       " late_batches %" PRIu64 " engine threads %u, exit status %d",
	       sc->name, r->lost, r->gaps,
	       r->es.counter[RINGSIDE_EC_MISSED_TICKS],
	       r->es.counter[RINGSIDE_EC_LATE], r->threads,
	       WIFEXITED(r->exit_status) ? WEXITSTATUS(r->exit_status)
					 : -WTERMSIG(r->exit_status));
	if (r->bad_batches > 0)
		printf("\n          healthy not ok in %" PRIu64
		       " batches (seq %" PRIu64 "..%" PRIu64
		       "): failed %" PRIu64 " open %" PRIu64 " pending %" PRIu64
		       "; late readings %" PRIu64,
		       r->bad_batches, r->first_bad, r->last_bad,
		       r->healthy_status[RINGSIDE_FAILED],
		       r->healthy_status[RINGSIDE_OPEN],
		       r->healthy_status[RINGSIDE_PENDING], r->healthy_late);
	printf("\n");
	if (sc->fault == NULL)
		return;
	printf("          fault: reads of %s %" PRIu64 " (%u blocked at the "
	       "end), calls %" PRIu64 " ok %" PRIu64 " failed %" PRIu64
	       " attempts %" PRIu64 " timeouts %" PRIu64 " opens %" PRIu64
	       " fast_fails %" PRIu64 " last_error %s\n",
	       sc->fault, r->fault_reads, r->fault_hung, fc[RINGSIDE_SC_CALLS],
	       fc[RINGSIDE_SC_OK], fc[RINGSIDE_SC_FAILED],
	       fc[RINGSIDE_SC_ATTEMPTS], fc[RINGSIDE_SC_TIMEOUTS],
	       fc[RINGSIDE_SC_OPENS], fc[RINGSIDE_SC_FAST_FAILS],
	       fc[RINGSIDE_SC_LAST_ERROR]
		       ? ringside_errno_name((int)fc[RINGSIDE_SC_LAST_ERROR])
		       : "-");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringside-hangbench [--seconds S] [--fault-first] "
		"[--keep]\n"
		"\n"
		"Run ringsided on %d healthy file sensors (tmpfs) plus one on "
		"a FUSE file\n"
		"that hangs, or answers after %d ms (tests/tool_fuse), period "
		"%d ms, and\n"
		"report batch lateness (publish - tick), healthy sensors not "
		"ok, the faulty\n"
		"sensor's statuses and the engine's exit time; a baseline run "
		"has no\n"
		"faulty sensor.  ringsided is taken from RINGSIDE_BIN or "
		"beside this\n"
		"program, tool_fuse from RINGSIDE_TESTS or ../tests.\n"
		"\n"
		"  --seconds S    length of each run (default 10)\n"
		"  --fault-first  put the faulty sensor first in the "
		"configuration, not last\n"
		"  --keep         keep the temporary directory (configs, "
		"engine logs)\n"
		"  --help         this text\n"
		"  --version      the version\n",
		HB_HEALTHY, HB_SLOW_MS, HB_PERIOD_MS);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "keep", no_argument, NULL, 'k' },
		{ "fault-first", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct hb_scenario sc[] = {
		{ "baseline", NULL },
		{ "hang", "hang" },
		{ "slow", "slow" },
	};
	const unsigned nsc = sizeof(sc) / sizeof(sc[0]);
	struct hb_result res[sizeof(sc) / sizeof(sc[0])];
	struct hb_env env = { .nhealthy = HB_HEALTHY,
			      .seconds = 10,
			      .fuse_out = -1 };
	char self[PATH_MAX], bindir[PATH_MAX], testdir[PATH_MAX + 16];
	struct sigaction sa;
	unsigned i, done = 0;
	char *end;
	int c, ret, status = 1;

	while ((c = getopt_long(argc, argv, "s:kfhV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			env.seconds = strtod(optarg, &end);
			if (*end != '\0' ||
			    !(env.seconds >= 1 && env.seconds <= 600)) {
				fprintf(stderr,
					"ringside-hangbench: --seconds: "
					"expected 1 to 600, not %s\n",
					optarg);
				return 2;
			}
			break;
		case 'k':
			env.keep = true;
			break;
		case 'f':
			env.fault_first = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ringside-hangbench %s\n", RINGSIDE_VERSION);
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
		fprintf(stderr, "ringside-hangbench: /proc/self/exe: %s\n",
			strerror(-ret));
		return 1;
	}
	snprintf(bindir, sizeof(bindir), "%s", self);
	snprintf(testdir, sizeof(testdir), "%s/../tests", self);
	if (bench_find(env.engine, sizeof(env.engine), "RINGSIDE_BIN", bindir,
		       "ringsided") < 0) {
		fprintf(stderr,
			"ringside-hangbench: no ringsided at %s (set "
			"RINGSIDE_BIN)\n",
			env.engine);
		return 1;
	}
	if (bench_find(env.tool, sizeof(env.tool), "RINGSIDE_TESTS", testdir,
		       "tool_fuse") < 0) {
		fprintf(stderr,
			"ringside-hangbench: no tool_fuse at %s (set "
			"RINGSIDE_TESTS; make build/tests/tool_fuse)\n",
			env.tool);
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = hb_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ret = hb_dir_init(&env);
	if (ret < 0) {
		fprintf(stderr, "ringside-hangbench: %s: %s\n",
			env.dir[0] ? env.dir : "/dev/shm", strerror(-ret));
		goto out;
	}
	ret = hb_fuse_start(&env);
	if (ret < 0) {
		fprintf(stderr,
			"ringside-hangbench: tool_fuse on %s: %s (is /dev/fuse "
			"usable?)\n",
			env.mnt, strerror(-ret));
		goto out;
	}

	printf("ringside-hangbench %s: %u healthy file sensors (tmpfs), "
	       "faulty sensor %s, period %d ms, %.0f s per run, slow = %d ms, "
	       "%ld CPUs\n\n",
	       RINGSIDE_VERSION, env.nhealthy,
	       env.fault_first ? "first" : "last", HB_PERIOD_MS, env.seconds,
	       HB_SLOW_MS, sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-9s %7s %8s %8s %8s %8s  %-15s %s\n", "scenario", "batches",
	       "p50 us", "p99 us", "max us", "healthy", "engine exit",
	       "faulty sensor statuses");
	printf("%-9s %7s %8s %8s %8s %8s  %-15s\n", "", "", "lateness",
	       "lateness", "lateness", "not ok", "ms");
	fflush(stdout);
	for (i = 0; i < nsc && !hb_interrupted; i++) {
		ret = hb_run(&env, &sc[i], &res[i]);
		if (ret < 0) {
			fprintf(stderr, "ringside-hangbench: %s: %s\n",
				sc[i].name, strerror(-ret));
			goto out;
		}
		hb_print(&sc[i], &res[i]);
		fflush(stdout);
		done++;
	}
	printf("\n");
	for (i = 0; i < done; i++)
		hb_print_detail(&sc[i], &res[i]);
	status = 0;
	for (i = 0; i < done; i++)
		if (res[i].died || res[i].exit_ms < 0 ||
		    !WIFEXITED(res[i].exit_status) ||
		    WEXITSTATUS(res[i].exit_status) != 0)
			status = 1;
	if (hb_interrupted)
		status = 1;
out:
	hb_fuse_stop(&env);
	hb_dir_exit(&env, sc, nsc);
	return status;
}
