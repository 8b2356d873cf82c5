/* SPDX-License-Identifier: MIT */
/*
 * engine.h - the running engine: one io_uring, one thread that owns every
 * sensor's state, and a small pool of file workers.
 *
 * Who owns what: the engine thread owns struct engine and every struct
 * engine_sensor, and is the only thread that touches the ring and the
 * segment.  A file worker owns the descriptor of the file it reads and
 * hands back results through struct engine_files (under its mutex); the
 * engine thread never blocks on a file.
 */
#ifndef ENGINE_ENGINE_H
#define ENGINE_ENGINE_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "backoff.h"
#include "batch.h"
#include "breaker.h"
#include "config.h"
#include "deadline.h"
#include "frame.h"
#include "ringside.h"

/* What a sensor's attempt is doing. */
enum engine_phase {
	ENGINE_IDLE,	/* no call in flight */
	ENGINE_BACKOFF, /* waiting on a ring timer before the next attempt */
	ENGINE_ATTEMPT, /* an attempt is under way */
};

/* A stream socket's connection, or a stream's open file. */
enum engine_conn {
	ENGINE_CLOSED,
	ENGINE_CONNECTING,
	ENGINE_OPEN,
};

/* A file read handed to a worker, and its outcome. */
struct engine_file_job {
	bool queued;  /* in the workers' queue or being read */
	bool done;    /* result below is ready for the engine */
	int error;    /* 0, or a positive errno */
	double value; /* when error is 0 */
	int fd;	      /* the worker's descriptor, -1 when closed */
	dev_t dev;    /* identity of the file open in fd */
	ino_t ino;
	uint64_t checked_ns; /* when fd's identity was last checked */
	bool watched;	     /* its directory is watched (inotify wd) */
	bool stale;	     /* the name changed: reopen before reading */
	bool inline_lane;    /* read by the engine thread (see files.c) */
	int wd;
	char base[ENGINE_CONFIG_PATH_MAX]; /* the file's name in its dir */
};

struct engine_sensor {
	const struct engine_config_sensor *cfg;
	uint32_t index;

	/* The call in flight, and its current attempt. */
	enum engine_phase phase;
	uint64_t call_tick;	/* tick number the call started at */
	uint64_t call_start_ns; /* first attempt's start */
	uint32_t attempt;	/* attempts made in this call */
	uint64_t prev_wait_ns;	/* last backoff wait, for decorrelated */
	uint64_t deadline_ns;	/* the attempt's application deadline */
	uint32_t attempt_gen;	/* tells this attempt's deadline entry */
	uint64_t used_record;	/* newest push record this call consumed */
	struct engine_breaker_ticket ticket;
	uint64_t rejected_tick; /* tick at which the breaker refused */
	struct engine_result result;

	/* I/O state. */
	int fd; /* stream, socket; -1 when closed */
	enum engine_conn conn;
	uint32_t io_gen;      /* generation of the current ring I/O */
	uint32_t timer_gen;   /* of the current backoff timer */
	uint32_t breaker_gen; /* of the current breaker timer */
	uint32_t io_inflight; /* ring requests using fd or buffers */
	bool sending;	      /* request mode: request in flight */
	bool no_multishot;    /* a file that cannot be polled */
	struct __kernel_timespec io_ts, timer_ts, breaker_ts;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int addr_error; /* resolution failed: this errno */

	/* Push sources: the newest record, parsed when it arrived. */
	uint64_t record_seq; /* records received so far */
	uint64_t record_ns;  /* when the newest arrived */
	double record_value;
	int record_error;

	struct engine_file_job job; /* file sources */
	struct engine_frame *frame; /* stream and stream-socket sources */
	char *dgram;		    /* udp: one datagram */

	struct engine_backoff_rng rng;
	struct engine_breaker *breaker;

	/* Counters, copied into the segment at every batch. */
	struct ringside_sensor_stats stats;
	uint64_t log_next_ns; /* failures are logged at most once a second */
	uint64_t log_suppressed;
	uint64_t log_conn_next_ns; /* reconnects too, at most once a second */
};

/*
 * What a reload leaves behind: the old sensors and their configuration,
 * kept until exit because a completion or a stuck file read may still
 * point into them.
 */
struct engine_retired {
	struct engine_retired *next;
	struct engine_sensor *sensors;
	uint32_t nsensors;
	struct ringside_reading *readings;
	struct engine_config *cfg;
	bool cfg_owned;
	bool files_stuck;
};

/* The file workers. */
struct engine_files {
	pthread_mutex_t lock;
	pthread_cond_t work;
	uint32_t *queue; /* sensor indexes to read, a ring */
	uint32_t qcap, qhead, qlen;
	uint32_t *done; /* sensor indexes with a result */
	uint32_t ndone;
	bool signalled;	  /* the eventfd was written for these results */
	uint32_t *staged; /* engine thread only: reads for the next kick */
	uint32_t nstaged;
	int eventfd;	  /* written when done goes from empty to not */
	int inotify;	  /* watches the directories of regular files */
	char *inline_buf; /* the engine thread's read buffer */
	long tick_nvcsw;  /* its voluntary switches when the tick began */
	uint32_t *wtable; /* (wd, name) -> sensor, open addressing */
	uint32_t wmask;
	uint32_t nsensors;
	uint32_t nworkers, busy, max_workers;
	uint64_t *busy_since; /* per worker: monotonic ns, 0 when idle */
	pthread_t *threads;
	bool stop;
	struct engine_sensor *sensors; /* of the generation it serves */
};

struct engine {
	struct engine_config *cfg;
	bool cfg_owned;			/* cfg was allocated by a reload */
	const char *name_override;	/* --name, kept across reloads */
	uint32_t rgen;			/* reload generation, in user_data */
	struct engine_retired *retired; /* sensors of earlier configurations */
	struct io_uring ring;
	struct ringside_writer seg;
	bool seg_open;

	struct engine_sensor *sensors;
	uint32_t nsensors;
	struct ringside_reading *readings;

	/* The schedule: tick n starts at base_ns + n * period_ns. */
	uint64_t base_ns;
	uint64_t tick;	       /* the tick being collected */
	bool collecting;       /* its batch is not yet published */
	uint32_t outstanding;  /* calls started at this tick, not ended */
	uint64_t tick_wall_us; /* wall-clock time of the tick */
	uint64_t tick_mono_ns;
	struct __kernel_timespec tick_ts, deadline_ts, sweep_ts;
	uint32_t tick_gen, deadline_gen, sweep_gen;
	uint64_t sweep_at_ns; /* the armed sweep, 0 when none */
	struct __kernel_timespec pool_ts;
	uint32_t pool_gen;
	bool pool_armed; /* the file workers' watchdog is set */

	int signal_fd;
	uint64_t signal_buf[16];
	uint64_t wake_buf;
	struct io_uring_buf_ring *br; /* provided buffers of push streams */
	char *bufs;
	uint32_t nbufs;
	struct engine_files *files; /* NULL when no file sensor */
	bool have_files;
	bool files_stuck; /* a worker of this generation never returned */

	struct engine_deadlines deadlines; /* attempts' application deadlines */
	bool deadline_overflow;
	uint64_t min_file_timeout_ns;
	struct ringside_engine_stats stats;
	uint64_t stats_at_ns; /* counters last copied to the segment */
	uint64_t wall_now_us; /* CLOCK_REALTIME at the last wake */
	uint64_t stop_at_ns;  /* --duration; 0: none */
	bool stopping;
	bool reload;
	bool once; /* print the first batch as JSON and stop */
	int exit_code;
	const char *config_path;
};

/* Monotonic clock, nanoseconds. */
uint64_t engine_now_ns(void);

/*
 * engine_run - start every sensor, create the segment and run until
 * SIGTERM/SIGINT, --duration or --once.  Returns the exit code.
 */
int engine_run(struct engine *e);

/* Free what engine_run() left for the caller to read (sensors, counters). */
void engine_release(struct engine *e);

/* The file workers, in files.c. */
/* Returns 0 or -errno. */
int engine_files_init(struct engine_files *f, struct engine_sensor *sensors,
		      uint32_t nsensors);
/* Returns true if @f was freed-ready, false if a worker is stuck in a read
 * and still uses @f and its sensors (then they must outlive the process). */
bool engine_files_exit(struct engine_files *f);
/* Before the first tick: open an inline file, so that the first tick
 * costs what every other does (a missing file is left to its attempt). */
void engine_files_prepare(struct engine_files *f, uint32_t sensor,
			  uint64_t now);
/* At each tick, before any read: reopen files renamed or removed. */
void engine_files_begin_tick(struct engine_files *f);
/*
 * Read @sensor's file in the calling (engine) thread; a read longer than
 * @slow_ns moves the file to the worker lane.  Returns 0 with *value, or
 * -errno as a failed attempt.
 */
int engine_files_read_inline(struct engine_files *f, uint32_t sensor,
			     uint64_t now, uint64_t slow_ns, double *value);
void engine_files_submit(struct engine_files *f, uint32_t sensor);
void engine_files_kick(struct engine_files *f);
uint32_t engine_files_take(struct engine_files *f, uint32_t *out, uint32_t max);
/*
 * If every worker has been in one read for @stuck_ns or more while reads
 * wait, add a worker.  Returns true while reads are queued or running.
 */
bool engine_files_check_stuck(struct engine_files *f, uint64_t now,
			      uint64_t stuck_ns);

/* The batch's JSON line, as SPEC.md shows it (used by --once). */
void engine_print_json(struct engine *e, const struct ringside_batch *b);

#endif
