/* SPDX-License-Identifier: MIT */
/*
 * common.h - helpers shared by the ringside-* clients: the sensor name and
 * unit table of a segment, waiting for a segment to appear, ISO-8601 time,
 * number parsing and noticing that our reader (a pipe) has gone.
 *
 * Like libringside, nothing here prints or exits: the programs' main()
 * decides what to tell the user.  Functions return 0 or -errno.
 */
#ifndef RINGSIDE_CLIENTS_COMMON_H
#define RINGSIDE_CLIENTS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "ringside.h"

/* How often a client looks again for a segment that is not there yet. */
#define CLIENT_POLL_MS 200

/*
 * The names and units of a segment's sensors, copied out once per attach
 * (they never change during a segment's life).  names[] and units[] point
 * into the same allocation and have the shape ringside_json_batch() takes.
 */
struct client_sensors {
	uint32_t n;
	const char **names;
	const char **units;
	void *mem; /* the one allocation behind all of the above */
};

/*
 * client_sensors_load - copy the names and units of @r's sensors into @s,
 * in one allocation.  Returns 0 or -ENOMEM; on failure @s is empty, so
 * client_sensors_exit() is always safe.
 */
int client_sensors_load(struct client_sensors *s,
			const struct ringside_reader *r);
void client_sensors_exit(struct client_sensors *s);

/* 1 when @a and @b list the same sensor names in the same order. */
int client_sensors_same(const struct client_sensors *a,
			const struct client_sensors *b);

/*
 * Called between two looks for a segment; a nonzero return ends the wait
 * and is returned by client_segment_wait().
 */
typedef int (*client_idle_fn)(void *arg);

/*
 * client_segment_wait - attach @r to a segment at /dev/shm/ringside.@name
 * that @r does not hold yet, looking every CLIENT_POLL_MS milliseconds.
 * If @r is attached (r->base set), it waits for a different file to stand
 * at the path (a restarted engine) and moves to it, detaching the old one;
 * otherwise @r must be zeroed or left by a failed attach, and it waits for
 * any segment.  @idle (may be NULL) runs before each pause.
 *
 * Returns 0 when attached, the nonzero value @idle returned, or a -errno
 * from the attach other than "not there yet" (-ENOENT, -EAGAIN): -EPROTO
 * for an invalid segment, -EACCES, ...
 */
int client_segment_wait(struct ringside_reader *r, const char *name,
			unsigned flags, client_idle_fn idle, void *arg);

/*
 * client_format_time - wall-clock microseconds @us as ISO-8601 UTC,
 * "2026-11-29T23:40:21.100Z", with @digits (0, 3 or 6) fractional digits.
 * Returns the length, or -ENOSPC if @len is too small (32 is enough).
 */
int client_format_time(char *buf, size_t len, uint64_t us, unsigned digits);

/*
 * client_format_value - @v in the fewest digits (up to 17) that read back
 * as exactly @v.  Returns the length, or -ENOSPC (32 bytes are enough).
 */
int client_format_value(char *buf, size_t len, double v);

/*
 * client_parse_u64 - a whole decimal number, nothing before or after it.
 * Returns 0, -EINVAL if @s is not one, -ERANGE if it does not fit.
 */
int client_parse_u64(const char *s, uint64_t *v);

/*
 * client_output_gone - 1 when @fd is a pipe or socket whose reading end
 * has been closed (the consumer, such as `head`, has exited), 0 otherwise.
 * It lets a client that is waiting for data leave at once, instead of
 * finding out at its next write.
 */
int client_output_gone(int fd);

/* Sleep @ms milliseconds (a signal may cut it short). */
void client_sleep_ms(unsigned ms);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t client_now_ns(void);

/* One line "PROG: message (see --help)" on stderr, then exit 2. */
__attribute__((format(printf, 2, 3), noreturn)) void client_usage_error(
	const char *prog, const char *fmt, ...);

/* A bad option as getopt_long reported it (with ":" leading its option
 * string): a usage error. */
__attribute__((noreturn)) void client_bad_option(const char *prog, int opt,
						 char **argv);

/* The one segment NAME operand at argv[optind]; a usage error if it is
 * missing, not alone or not a valid name. */
const char *client_name_operand(const char *prog, int argc, char **argv);

#endif /* RINGSIDE_CLIENTS_COMMON_H */
