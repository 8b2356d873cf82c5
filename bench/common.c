/* SPDX-License-Identifier: MIT */
/*
 * common.c - the helpers the bench programs share (see common.h).
 *
 * Every child started here asks the kernel for a signal when its parent
 * dies, and checks that the parent is still the one that forked it, so
 * that no child outlives a bench that was killed: the invariant every
 * bench program relies on to leave nothing running behind it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

void bench_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_cpu_us(const struct rusage *ru)
{
	return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1e6 +
	       (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec);
}

void bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

pid_t bench_fork_exec(char *const argv[], int out_fd, int err_fd, int deathsig)
{
	pid_t parent = getpid(), pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, deathsig);
		/* The parent died before prctl(): nobody would stop us. */
		if (getppid() != parent)
			_exit(127);
		if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
			_exit(127);
		if (err_fd >= 0 && dup2(err_fd, STDERR_FILENO) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int bench_reap(pid_t pid, unsigned ms, int *status)
{
	uint64_t until = bench_now_ns() + (uint64_t)ms * 1000000;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return 1;
		if (bench_now_ns() >= until)
			return 0;
		bench_sleep_ms(2);
	}
}

int bench_attach_wait(struct ringside_reader *r, const char *name, pid_t pid,
		      unsigned ms, const volatile sig_atomic_t *interrupted,
		      int *status)
{
	uint64_t until = bench_now_ns() + (uint64_t)ms * 1000000;
	int ret;

	for (;;) {
		ret = ringside_reader_attach(r, name, RINGSIDE_FROM_OLDEST);
		if (ret != -ENOENT)
			return ret;
		if (bench_reap(pid, 0, status))
			return -ECHILD;
		if (*interrupted)
			return -EINTR;
		if (bench_now_ns() >= until)
			return -ETIMEDOUT;
		bench_sleep_ms(5);
	}
}

uint64_t bench_proc_status(pid_t pid, const char *field)
{
	char path[64], line[160];
	size_t flen = strlen(field);
	uint64_t v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			v = strtoull(line + flen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

int bench_self_dir(char *dir, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", dir, len - 1);
	char *slash;

	if (n < 0)
		return -errno;
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	return 0;
}

int bench_find(char *out, size_t len, const char *env_name,
	       const char *fallback, const char *name)
{
	const char *dir = getenv(env_name);

	if (dir == NULL || dir[0] == '\0')
		dir = fallback;
	if ((size_t)snprintf(out, len, "%s/%s", dir, name) >= len)
		return -ENAMETOOLONG;
	return access(out, X_OK) == 0 ? 0 : -errno;
}
