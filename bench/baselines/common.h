/* SPDX-License-Identifier: MIT */
/*
 * common.h - what the C benchmark peers (floor, epoll, threads) share.
 *
 * A peer is started as `PEER -c FILE --duration SECONDS`, reads the same
 * INI file as ringsided through the engine's own parser, does the engine's
 * work its own way and prints one JSON line at the end (docs/bench.md).
 * This header holds the parts that are not the point of the comparison:
 * arguments, configuration, the tick schedule, the report, and the small
 * source helpers (open a file, a FIFO or a socket; read one chunk through
 * the engine's line framer; parse with the engine's value parser), so that
 * every peer does the same syscalls per reading as the others where their
 * designs agree.
 *
 * Times are CLOCK_MONOTONIC nanoseconds.  Errors are -errno; a source
 * helper that returns a failure of the sensor returns it as the engine
 * reports it (EOF of a socket is -ECONNRESET, of a FIFO -EPIPE).
 */
#ifndef BENCH_BASELINES_COMMON_H
#define BENCH_BASELINES_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "breaker.h"
#include "config.h"
#include "frame.h"
#include "value.h"

#define PEER_NS 1000000000ULL
/* A file is read whole; one byte more tells an over-long one. */
#define PEER_FILE_BUF (ENGINE_VALUE_RECORD_MAX + 1)

/* Set by SIGTERM and SIGINT: finish the tick in progress and stop. */
extern volatile sig_atomic_t peer_stop_requested;

struct peer_args {
	const char *config;
	uint64_t duration_ns; /* 0: until SIGTERM or SIGINT */
};

/*
 * Parse the command line of peer @system.  Returns 0 to run, 1 when --help
 * was printed (exit 0), -EINVAL on a usage error (printed; exit 2).
 */
int peer_args_parse(int argc, char **argv, const char *system, const char *what,
		    struct peer_args *a);

/*
 * Load and check the configuration: the engine's parser, then the source
 * kinds the peers support (not udp:).  Problems are printed as
 * "FILE:LINE: message", prefixed by nothing else.  Returns 0, or -EINVAL
 * (or -errno when the file cannot be read).
 */
int peer_config_load(struct engine_config *cfg, const char *path,
		     const char *system);

/*
 * Process setup shared by the peers: RLIMIT_NOFILE raised to its hard
 * limit, SIGPIPE ignored, SIGTERM and SIGINT setting peer_stop_requested
 * (without SA_RESTART, so that a sleep returns).
 */
void peer_process_init(void);

uint64_t peer_now_ns(void);

/* Sleep until @at_ns (absolute); returns early only for a stop request. */
void peer_sleep_until(uint64_t at_ns);

/* ---- the tick schedule --------------------------------------------------- */

struct peer_ticks {
	uint64_t base_ns; /* tick 0 */
	uint64_t period_ns;
	uint64_t deadline_ns; /* a batch is published by tick + deadline */
	uint64_t stop_ns;     /* no tick at or after this starts */
};

void peer_ticks_init(struct peer_ticks *t, const struct engine_config *cfg,
		     uint64_t duration_ns, uint64_t now);

/* The time of tick @n. */
uint64_t peer_tick_ns(const struct peer_ticks *t, uint64_t n);

/*
 * The tick to run when tick @scheduled is due and the clock reads @now, as
 * the engine decides it: the tick in progress at @now, never earlier than
 * @scheduled, or the one after it when its deadline is already over; the
 * ticks passed over are added to *@missed.  The result may lie in the
 * future (then the caller sleeps until it and asks again).
 */
uint64_t peer_tick_due(const struct peer_ticks *t, uint64_t scheduled,
		       uint64_t now, uint64_t *missed);

/* The first tick, not before @first, whose time is at or after @now. */
uint64_t peer_tick_from(const struct peer_ticks *t, uint64_t first,
			uint64_t now);

/* True when tick @n must not start (past the duration, or a stop). */
bool peer_tick_stops(const struct peer_ticks *t, uint64_t n);

/* ---- the report ---------------------------------------------------------- */

/*
 * The steady state: startup (opening thousands of sources, an interpreter's
 * imports) would dominate a short run, so CPU per reading is measured from
 * the end of batch @warmup to the end of the last batch, on the process's
 * own getrusage(RUSAGE_SELF), every thread counted.  The warm-up is
 * max(2, ticks / 5) of the run's ticks, as ringside-bench counts it for
 * every system (docs/bench.md).
 */
struct peer_report {
	uint64_t batches;
	uint64_t readings; /* ok entries over all batches */
	uint64_t degraded; /* batches with an entry not ok */
	uint64_t missed_ticks;
	uint32_t *lateness_us; /* one per batch; grows (not a hot path) */
	size_t cap;
	uint64_t warmup;	/* batches before the steady state */
	uint64_t warm_cpu_us;	/* CPU at the end of batch @warmup */
	uint64_t warm_readings; /* readings of batches 1..@warmup */
	uint64_t last_cpu_us;	/* CPU at the end of the latest batch */
};

/*
 * Room for the batches of a run of @duration_ns (0: until stopped) at
 * @period_ns up front, and its warm-up.  Returns 0 or -ENOMEM.
 */
int peer_report_init(struct peer_report *r, uint64_t duration_ns,
		     uint64_t period_ns);
void peer_report_exit(struct peer_report *r);

/*
 * Count one batch: @ok of @total entries ok, published @lateness_ns late.
 * Past the warm-up it also reads the process's CPU time (a getrusage() per
 * batch, as ringsided does for its counters).
 */
void peer_report_batch(struct peer_report *r, uint32_t ok, uint32_t total,
		       uint64_t lateness_ns);

/*
 * Print the JSON line of docs/bench.md on stdout (sorts the lateness); with
 * steady_cpu_us and steady_readings once the run got past its warm-up.
 */
void peer_report_print(struct peer_report *r, const char *system,
		       size_t sensors);

/* ---- sources ------------------------------------------------------------- */

/* A push sensor's newest record, stamped when it arrived. */
struct peer_record {
	uint64_t seq;	/* records received; 0: none yet */
	uint64_t used;	/* seq of the record a call last took */
	uint64_t at_ns; /* arrival of the newest */
	double value;
	int error; /* positive errno of the newest, 0 when it parsed */
};

/* A stream socket's resolved address (tcp:, unix:). */
struct peer_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	int error; /* positive errno when it cannot be resolved */
};

/* True for stream:, and for sockets without `request`. */
bool peer_is_push(const struct engine_config_sensor *c);

/* A breaker set up from sensor @c's breaker keys (aligned_alloc: free()
 * it); NULL when out of memory. */
struct engine_breaker *peer_breaker_new(const struct engine_config_sensor *c);

/* Resolve the address of a tcp: or unix: sensor into @a (once, at start). */
void peer_addr_resolve(const struct engine_config_sensor *c,
		       struct peer_addr *a);

/*
 * Read file sensor @c whole at offset 0 into @buf (PEER_FILE_BUF bytes)
 * and parse it, opening *@fd first when it is -1 (O_NOATIME where allowed,
 * as the engine does) and closing it after a read error.  Returns 0 with
 * *@value set, or -errno.
 */
int peer_file_read(const struct engine_config_sensor *c, int *fd, char *buf,
		   double *value);

/*
 * Open a stream: path without blocking (a FIFO read-write, so that a
 * missing writer is never EOF).  Returns the descriptor or -errno.
 */
int peer_stream_open(const char *path);

/*
 * A stream socket for @a and its connect: non-blocking when @timeout_ns is
 * 0, else blocking with SO_SNDTIMEO and SO_RCVTIMEO of @timeout_ns set
 * before the connect (which they bound).  Returns the descriptor, with
 * *@pending set when a non-blocking connect is still in progress, or
 * -errno (nothing left open; a blocking connect that timed out is
 * -ETIMEDOUT).
 */
int peer_socket_connect(const struct peer_addr *a, uint64_t timeout_ns,
			bool *pending);

/* The outcome of a connect that was in progress: 0 or -errno. */
int peer_socket_error(int fd);

/*
 * One read of a push source into @fr; every complete line becomes the
 * newest record of @rec, parsed with @spec and stamped @now.  Returns the
 * bytes read (> 0), -EAGAIN when there were none, or the failure of the
 * source: -ECONNRESET (a socket's EOF), -EPIPE (a stream's EOF), -errno.
 */
int peer_push_read(int fd, bool socket, struct engine_frame *fr,
		   const struct engine_value_spec *spec,
		   struct peer_record *rec, uint64_t now);

/*
 * Take @rec's newest record for a call if it is fresh (at most @max_age_ns
 * old at @now) and no call took it before.  Returns true with *@err and
 * *@value set (err a positive errno, 0 when ok).
 */
bool peer_record_take(struct peer_record *rec, uint64_t now,
		      uint64_t max_age_ns, int *err, double *value);

/*
 * One read of a request's reply into @fr.  Returns 1 when a complete line
 * arrived (*@err, *@value set as for a record), 0 when the line is not
 * complete yet, -EAGAIN when nothing was there, -ECONNRESET at EOF, or
 * -errno.
 */
int peer_reply_read(int fd, struct engine_frame *fr,
		    const struct engine_value_spec *spec, int *err,
		    double *value);

/* Send the sensor's request whole.  Returns 0 or -errno (-EAGAIN short). */
int peer_request_send(int fd, const struct engine_config_sensor *c);

/* A seed for the sensors' backoff generators, different every run. */
uint64_t peer_seed(void);

#endif
