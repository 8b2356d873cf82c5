/* SPDX-License-Identifier: MIT */
/*
 * common.h - helpers every bench program shares: the clock, child
 * processes that die with the bench, /proc values of a child, attaching to
 * an engine's segment once it appears, and finding sibling programs.
 *
 * These are program helpers, not library code: they may sleep and poll,
 * but they neither print nor exit; errors come back as -errno.
 */
#ifndef RINGSIDE_BENCH_COMMON_H
#define RINGSIDE_BENCH_COMMON_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "ringside.h"

/* Returns CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Sleeps @ms milliseconds (less if a signal arrives); returns nothing. */
void bench_sleep_ms(unsigned ms);

/* qsort() comparator of uint64_t: returns <0, 0 or >0. */
int bench_cmp_u64(const void *a, const void *b);

/* qsort() comparator of double: returns <0, 0 or >0. */
int bench_cmp_double(const void *a, const void *b);

/* Returns user + system time of @ru in microseconds. */
double bench_cpu_us(const struct rusage *ru);

/*
 * Raises the open-file limit to the hard limit, which children inherit;
 * returns nothing (a limit it cannot raise stays as it was).
 */
void bench_raise_nofile(void);

/*
 * Starts @argv[0] (a path) with stdout on @out_fd and stderr on @err_fd
 * (-1: inherit); the child gets @deathsig when the bench dies
 * (PR_SET_PDEATHSIG).  Returns the pid, or -errno if fork() failed.
 */
pid_t bench_fork_exec(char *const argv[], int out_fd, int err_fd, int deathsig);

/*
 * Reaps @pid within @ms milliseconds (0: just look), its wait status into
 * @status.  Returns 1 if it was reaped (or is no child), else 0.
 */
int bench_reap(pid_t pid, unsigned ms, int *status);

/*
 * Attaches @r to segment @name from the oldest batch once engine @pid has
 * created it, waiting up to @ms.  Returns what ringside_reader_attach()
 * returns unless that is -ENOENT throughout: -ECHILD if @pid exited (its
 * wait status in @status), -EINTR once *@interrupted is set, -ETIMEDOUT.
 */
int bench_attach_wait(struct ringside_reader *r, const char *name, pid_t pid,
		      unsigned ms, const volatile sig_atomic_t *interrupted,
		      int *status);

/*
 * Returns the number at the start of field @field ("VmRSS", "Threads")
 * of /proc/@pid/status, in the field's unit; 0 if unknown.
 */
uint64_t bench_proc_status(pid_t pid, const char *field);

/*
 * The directory of this program, from /proc/self/exe, into @dir.
 * Returns 0, or -errno.
 */
int bench_self_dir(char *dir, size_t len);

/*
 * DIR/@name into @out, DIR being $@env_name if set and not empty, else
 * @fallback.  Returns 0 if that is executable, -ENAMETOOLONG if it does
 * not fit, else -errno from access().
 */
int bench_find(char *out, size_t len, const char *env_name,
	       const char *fallback, const char *name);

#endif
