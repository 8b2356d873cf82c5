/* SPDX-License-Identifier: MIT */
/*
 * ringside.h - the public API of libringside: the shared-memory segment in
 * which ringsided publishes one batch of sensor readings per tick, and from
 * which any number of reader processes take them.
 *
 * One writer (the engine) owns a segment; readers map it read-only, so no
 * reader can slow the writer or corrupt what others see.  A reader that
 * falls behind by more than the ring's capacity learns exactly how many
 * batches it lost and resumes at the oldest one still held.  A reader
 * never returns a torn batch: every slot is guarded by a sequence word
 * (a seqlock), checked before and after the copy.
 *
 * Functions return 0 (or a count, or a positive event code where said) on
 * success and a negative errno value on failure, as liburing does.  Nothing
 * here logs, exits or installs signal handlers.  The caller allocates every
 * structure; init/create/attach pair with exit/close/detach.
 *
 * Reading batches takes a few lines:
 *
 *	struct ringside_reader r;
 *	struct ringside_batch b;
 *	struct ringside_reading v[64];
 *
 *	if (ringside_reader_attach(&r, "plant1") < 0)
 *		...;
 *	for (;;) {
 *		int ev = ringside_reader_wait(&r, 1000);
 *		while (ringside_reader_next(&r, &b, v, 64) > 0)
 *			printf("%llu %u/%u\n", b.seq, b.available, b.total);
 *		if (ev == RINGSIDE_CLOSED || ev == RINGSIDE_DEAD)
 *			break;
 *	}
 *	ringside_reader_detach(&r);
 *
 * The layout of the segment itself is drawn in shm/layout.h and
 * docs/segment.md.
 */
#ifndef RINGSIDE_H
#define RINGSIDE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGSIDE_NAME_MAX 32 /* engine and sensor names, without NUL */
#define RINGSIDE_UNIT_MAX 23 /* a sensor's unit, without NUL */
#define RINGSIDE_RING_MIN 2  /* batches held in the ring */
#define RINGSIDE_RING_MAX 65536
#define RINGSIDE_SENSORS_MAX 65535
#define RINGSIDE_HIST_BUCKETS 16 /* latency histogram, see below */

/* A sensor's status in one batch. */
enum ringside_status {
	RINGSIDE_OK = 0,      /* a value, with the attempts it took */
	RINGSIDE_FAILED = 1,  /* every attempt failed; error holds the last */
	RINGSIDE_OPEN = 2,    /* the breaker was open: no I/O was done */
	RINGSIDE_PENDING = 3, /* the call had not ended by the deadline */
};

/* Flags of one reading. */
#define RINGSIDE_READING_LATE 0x01 /* the result of an earlier tick's call */

/* Flags of one batch. */
#define RINGSIDE_BATCH_DEGRADED 0x01 /* some sensor is not RINGSIDE_OK */

/* Breaker states, as kept in RINGSIDE_SC_BREAKER. */
enum ringside_breaker {
	RINGSIDE_BREAKER_CLOSED = 0,
	RINGSIDE_BREAKER_OPEN = 1,
	RINGSIDE_BREAKER_HALF_OPEN = 2,
};

/*
 * One sensor's entry in a batch: 16 bytes, fixed width, the same in memory
 * and in the segment.
 */
struct ringside_reading {
	double value;	     /* valid when status is RINGSIDE_OK */
	uint32_t latency_us; /* first attempt's start to the call's end */
	uint8_t status;	     /* enum ringside_status */
	uint8_t flags;	     /* RINGSIDE_READING_* */
	uint8_t attempts;    /* attempts the call made */
	uint8_t error;	     /* errno of the last failure, 0 when ok */
};

/*
 * A batch's header, as a reader receives it.  Times: tick_us and
 * published_us are CLOCK_REALTIME in microseconds (for display);
 * the *_mono_ns twins are CLOCK_MONOTONIC (for lateness and latency).
 */
struct ringside_batch {
	uint64_t seq;		    /* 1, 2, 3, ... without gap */
	uint64_t tick_us;	    /* wall-clock time of the tick */
	uint64_t published_us;	    /* wall-clock time of publication */
	uint64_t tick_mono_ns;	    /* monotonic time of the tick */
	uint64_t published_mono_ns; /* monotonic time of publication */
	uint64_t lost; /* batches this reader missed just before this one */
	uint32_t available; /* sensors with status RINGSIDE_OK */
	uint32_t total;	    /* sensors in the batch */
	uint32_t flags;	    /* RINGSIDE_BATCH_* */
	uint32_t nreadings; /* readings copied out (<= total) */
};

/*
 * Per-sensor counters, updated live by the engine.  Indexes into
 * struct ringside_sensor_stats.counter[].
 */
enum ringside_sensor_counter {
	RINGSIDE_SC_CALLS,	 /* calls ended */
	RINGSIDE_SC_OK,		 /* calls that gave a value */
	RINGSIDE_SC_FAILED,	 /* calls whose every attempt failed */
	RINGSIDE_SC_ATTEMPTS,	 /* attempts made */
	RINGSIDE_SC_RETRIES,	 /* attempts after the first of a call */
	RINGSIDE_SC_RETRY_OK,	 /* calls that succeeded after a retry */
	RINGSIDE_SC_TIMEOUTS,	 /* attempts ended by their deadline */
	RINGSIDE_SC_OPENS,	 /* breaker transitions to open */
	RINGSIDE_SC_FAST_FAILS,	 /* calls refused by the open breaker */
	RINGSIDE_SC_PROBES,	 /* calls let through while half-open */
	RINGSIDE_SC_LAST_ERROR,	 /* errno of the last failed attempt */
	RINGSIDE_SC_BREAKER,	 /* enum ringside_breaker */
	RINGSIDE_SC_PENDING,	 /* batches where the sensor was pending */
	RINGSIDE_SC_LATE,	 /* late readings published */
	RINGSIDE_SC_DEGRADED,	 /* batches this sensor made degraded */
	RINGSIDE_SC_LATENCY_SUM, /* sum of call latencies, microseconds */
	RINGSIDE_SC_LAST_OK_US,	 /* wall-clock time of the last value */
	RINGSIDE_SC_RECONNECTS,	 /* reopens and reconnects */
	RINGSIDE_SC_COUNT,
	RINGSIDE_SC_SLOTS = 24 /* room kept in the layout */
};

/*
 * Call-latency histogram: bucket i counts calls whose latency was at most
 * ringside_hist_bound_us[i] (cumulative counts are derived by readers);
 * the last bucket is +Inf.
 */
extern const uint32_t ringside_hist_bound_us[RINGSIDE_HIST_BUCKETS];

struct ringside_sensor_stats {
	uint64_t counter[RINGSIDE_SC_SLOTS];
	uint64_t hist[RINGSIDE_HIST_BUCKETS];
};

/* Engine counters: indexes into struct ringside_engine_stats.counter[]. */
enum ringside_engine_counter {
	RINGSIDE_EC_BATCHES,	     /* batches published */
	RINGSIDE_EC_DEGRADED,	     /* of which degraded */
	RINGSIDE_EC_LATE,	     /* published after their deadline */
	RINGSIDE_EC_MISSED_TICKS,    /* ticks skipped while not running */
	RINGSIDE_EC_STARTED_US,	     /* wall-clock start time */
	RINGSIDE_EC_STARTED_MONO_NS, /* monotonic start time */
	RINGSIDE_EC_RELOADS,	     /* configuration reloads */
	RINGSIDE_EC_LATENESS_MAX_NS, /* worst publish - tick */
	RINGSIDE_EC_CPU_US,	     /* user + system CPU of every thread */
	RINGSIDE_EC_COUNT,
	RINGSIDE_EC_SLOTS = 16
};

struct ringside_engine_stats {
	uint64_t counter[RINGSIDE_EC_SLOTS];
};

/* What a segment is made of: given to the writer, reported to readers. */
struct ringside_params {
	char name[RINGSIDE_NAME_MAX + 1]; /* engine name: [A-Za-z0-9_-]{1,32} */
	uint32_t ring;			  /* batches kept: power of two */
	uint32_t nsensors;		  /* sensors in every batch */
	uint64_t period_ns;
	uint64_t deadline_ns;
	uint32_t mode; /* permission bits of the file, e.g. 0640 */
};

/* ---- writer ------------------------------------------------------------ */

struct ringside_writer {
	void *base;	    /* the mapping, read-write */
	size_t size;	    /* bytes mapped */
	int fd;		    /* holds the liveness lock */
	int lock_fd;	    /* holds the name's lock file */
	uint32_t nsensors;  /* copied from the header: never read back */
	uint32_t mask;	    /* ring - 1 */
	uint32_t slot_size; /* bytes per slot */
	uint64_t seq;	    /* last published sequence number */
	uint64_t epoch_us;
	char path[64]; /* /dev/shm/ringside.NAME */
};

/*
 * ringside_writer_create - build /dev/shm/ringside.NAME for @p under a
 * temporary name (sized with posix_fallocate, permissions from p->mode
 * applied with fchmod), then rename it into place.  Sensor names and units
 * come from @names and @units (arrays of p->nsensors strings; @units may
 * be NULL).  The epoch is the creation time in microseconds, made strictly
 * greater than that of the segment it replaces.
 *
 * Returns 0; -EINVAL for bad parameters; -EBUSY if a live engine already
 * holds that name; -EPERM when a file of another user stands at the path
 * or at the name's lock file, or a symbolic link at the lock file
 * (ringside_strerror() names the owner and the path); -ENOSPC when
 * /dev/shm is full; other -errno from the system.  Nothing at the path
 * is ever adopted or written through: a file (or symbolic link) of our
 * own there is replaced by the rename, one of another user is left alone
 * and refused.
 */
int ringside_writer_create(struct ringside_writer *w,
			   const struct ringside_params *p,
			   const char *const *names, const char *const *units);

/*
 * ringside_writer_replace - build a new segment at the path of @old (a
 * reload that changed the sensors), with an epoch greater than old's, then
 * close @old marked as replaced so that its readers move to the new one.
 * On failure @old is left as it was.  Returns as ringside_writer_create.
 */
int ringside_writer_replace(struct ringside_writer *w,
			    struct ringside_writer *old,
			    const struct ringside_params *p,
			    const char *const *names, const char *const *units);

/*
 * ringside_writer_publish - copy one batch into the next slot and make it
 * visible: the batch's seq is assigned here (returned through b->seq).
 * @readings holds b->total entries, which must equal the segment's sensor
 * count.  No syscall but one futex wake.  Returns 0 or -EINVAL.
 */
int ringside_writer_publish(struct ringside_writer *w, struct ringside_batch *b,
			    const struct ringside_reading *readings);

/*
 * Counters: updates between ringside_writer_stats_begin() and _end() are
 * seen by readers all together or not at all.  Each setter is one relaxed
 * atomic store.
 */
void ringside_writer_stats_begin(struct ringside_writer *w);
void ringside_writer_stats_end(struct ringside_writer *w);
void ringside_writer_sensor_set(struct ringside_writer *w, uint32_t sensor,
				const struct ringside_sensor_stats *s);
void ringside_writer_engine_set(struct ringside_writer *w,
				const struct ringside_engine_stats *s);

/*
 * ringside_writer_close - mark the segment closed (readers drain it and
 * stop), wake every reader, unmap.  The file stays, so late readers can
 * still read the last batches.  With @replaced set, the segment is marked
 * as superseded by a new one at the same path (a reload that changed the
 * sensors), and readers move to it.
 */
void ringside_writer_close(struct ringside_writer *w, int replaced);

/*
 * ringside_writer_init_mem - lay a segment out in caller memory of @len
 * bytes instead of a file (tests, benchmarks); ringside_segment_size()
 * says how much is needed.  Returns 0, -EINVAL, or -ENOSPC if @len is
 * too small.  Readers take it with ringside_reader_attach_mem().
 */
int ringside_writer_init_mem(struct ringside_writer *w, void *mem, size_t len,
			     const struct ringside_params *p,
			     const char *const *names,
			     const char *const *units);

/* Bytes a segment of @ring batches of @nsensors takes; 0 if invalid. */
size_t ringside_segment_size(uint32_t ring, uint32_t nsensors);

/*
 * ringside_writer_abandon - unmap and close without marking anything, as if
 * the process had died (tests use it).
 */
void ringside_writer_abandon(struct ringside_writer *w);

/* ---- reader ------------------------------------------------------------ */

/* Events returned by ringside_reader_wait() (all >= 0). */
enum ringside_event {
	RINGSIDE_TIMEOUT = 0,  /* nothing new within the timeout */
	RINGSIDE_READY = 1,    /* at least one batch to take with _next() */
	RINGSIDE_CLOSED = 2,   /* the engine stopped cleanly; all drained */
	RINGSIDE_DEAD = 3,     /* the engine died; all drained */
	RINGSIDE_REPLACED = 4, /* a new segment (epoch) is at the path */
};

struct ringside_reader {
	const void *base; /* the mapping, read-only */
	size_t size;
	int fd;
	uint32_t nsensors;
	uint32_t mask;
	uint32_t slot_size;
	uint32_t ring;
	int mapped;	   /* base is our mapping, to unmap on detach */
	uint64_t ring_off; /* validated copies of the header's offsets */
	uint64_t sensors_off;
	uint64_t next;	   /* sequence number of the next batch to return */
	uint64_t lost;	   /* batches lost, to report with the next one */
	uint64_t epoch_us; /* the segment's epoch */
	dev_t dev;	   /* identity of the file mapped */
	ino_t ino;
	char path[64];
	char name[RINGSIDE_NAME_MAX + 1];
};

/* Where a new reader starts. */
#define RINGSIDE_FROM_OLDEST 0x1 /* the oldest batch still held (default) */
#define RINGSIDE_FROM_NOW 0x2	 /* the next batch published */
/*
 * Trust a segment whatever user owns it.  Without this flag, attaching by
 * name accepts only a segment owned by the reader's effective uid, by
 * root, or by a uid listed in the environment variable RINGSIDE_TRUST_UID
 * (decimal uids separated by commas); see docs/security.md.
 */
#define RINGSIDE_ANY_OWNER 0x4

/*
 * ringside_reader_attach - open /dev/shm/ringside.@name read-only (no
 * symlink followed), check that it is a regular file owned by a trusted
 * user (see RINGSIDE_ANY_OWNER) whose size matches its header, validate
 * the header and map it PROT_READ.
 *
 * Returns 0; -EINVAL for a bad name; -ENOENT when there is no segment;
 * -EPERM for a segment of an untrusted owner (see RINGSIDE_ANY_OWNER);
 * -EPROTO for a foreign or corrupt file or a wrong layout version (the
 * text from ringside_strerror() says which); other -errno.
 */
int ringside_reader_attach(struct ringside_reader *r, const char *name,
			   unsigned flags);

/*
 * The same on an open file descriptor (fuzzing, tests); @fd is dup'ed.
 * Its owner and mode are the caller's business: only the type, size and
 * header are checked.
 */
int ringside_reader_attach_fd(struct ringside_reader *r, int fd,
			      unsigned flags);

/*
 * The same on @len bytes of memory (tests, fuzzing, benchmarks), which
 * must stay mapped until detach; such a writer counts as alive until the
 * segment is closed.
 */
int ringside_reader_attach_mem(struct ringside_reader *r, const void *mem,
			       size_t len, unsigned flags);

void ringside_reader_detach(struct ringside_reader *r);

/*
 * ringside_reader_next - copy the next batch, or nothing.  Up to @max
 * readings are copied into @readings (b->nreadings says how many).  b->lost
 * is the number of batches skipped just before this one because the
 * writer lapped the reader.  Returns 1 with a batch, 0 when caught up.
 */
int ringside_reader_next(struct ringside_reader *r, struct ringside_batch *b,
			 struct ringside_reading *readings, uint32_t max);

/*
 * ringside_reader_wait - sleep on the segment's futex until a batch is
 * there to take, the engine stops or dies, a new segment replaces this one,
 * or @timeout_ms passes (-1: forever).  Liveness is checked at least every
 * 500 ms while waiting, so a killed engine is noticed within a second.
 * Returns an enum ringside_event.
 */
int ringside_reader_wait(struct ringside_reader *r, int timeout_ms);

/*
 * ringside_reader_state - without waiting: RINGSIDE_READY when a batch is
 * there to take, else RINGSIDE_CLOSED, _DEAD or _REPLACED when so (and
 * drained), else RINGSIDE_TIMEOUT meaning "live, nothing new".
 */
int ringside_reader_state(struct ringside_reader *r);

/* Reattach to whatever segment is now at the path (after _REPLACED). */
int ringside_reader_reattach(struct ringside_reader *r, unsigned flags);

/* Static facts of the segment. */
int ringside_reader_params(const struct ringside_reader *r,
			   struct ringside_params *p);
/* Sensor @i's name and unit, NUL-terminated copies. */
int ringside_reader_sensor(const struct ringside_reader *r, uint32_t i,
			   char name[RINGSIDE_NAME_MAX + 1],
			   char unit[RINGSIDE_UNIT_MAX + 1]);
/* The newest published sequence number (0 when none yet). */
uint64_t ringside_reader_head(const struct ringside_reader *r);
/* The pid of the engine that built the segment. */
pid_t ringside_reader_pid(const struct ringside_reader *r);

/*
 * ringside_reader_stats - a consistent snapshot of the counters: engine
 * counters into @e (may be NULL), then the counters of sensors 0..@n-1 into
 * @s.  Returns 0, or -EAGAIN when the writer kept changing them (or died in
 * the middle of an update) and no consistent copy could be had.
 */
int ringside_reader_stats(const struct ringside_reader *r,
			  struct ringside_engine_stats *e,
			  struct ringside_sensor_stats *s, uint32_t n);

/* ---- counters of other programs ------------------------------------------ */

/*
 * A program that works on an engine's batches (ringside-bridge) keeps its
 * own counters in a small segment of its own, /dev/shm/ringside.NAME@PROGRAM
 * ('@' is never part of an engine name, so the two cannot clash):
 * up to RINGSIDE_AUX_MAX named 64-bit counters under one seqlock, alive
 * while its writer holds an OFD lock on it, as the engine's segment is.
 * ringside-stat NAME shows every such segment it finds beside the engine's.
 */
#define RINGSIDE_AUX_MAX 32
#define RINGSIDE_AUX_KEY_MAX 31

struct ringside_aux {
	void *mem;    /* the mapping */
	size_t size;  /* bytes mapped */
	int fd;	      /* the writer's liveness lock; the reader's open file */
	uint32_t n;   /* counters, copied from the header when attaching */
	int writable; /* 1 for the writer */
	char path[96];
};

/*
 * ringside_aux_create - build /dev/shm/ringside.@name@@program (mode
 * @mode; @program is [a-z0-9_-]{1,32}) with the @n counters named @keys
 * (each [a-z0-9_]{1,31}, none twice, and none "state", under which
 * ringside-stat shows the program's state), all 0, under a temporary name,
 * lock it and rename it into place.  Returns 0; -EINVAL for a bad name,
 * program, key or count; -EBUSY when a live writer holds that segment;
 * other -errno.
 */
int ringside_aux_create(struct ringside_aux *a, const char *name,
			const char *program, const char *const *keys,
			uint32_t n, mode_t mode);
/* Updates between _begin and _end are seen all together or not at all. */
void ringside_aux_begin(struct ringside_aux *a);
void ringside_aux_set(struct ringside_aux *a, uint32_t i, uint64_t value);
void ringside_aux_end(struct ringside_aux *a);
/* Mark the segment stopped (it stays, so a reader sees the last values)
 * and release it. */
void ringside_aux_close(struct ringside_aux *a);

/*
 * ringside_aux_attach - open an existing /dev/shm/ringside.@name@@program
 * read-only with the owner checks of ringside_reader_attach (@flags may
 * hold RINGSIDE_ANY_OWNER), validate and map it.  Returns 0, -ENOENT,
 * -EPERM, -EPROTO (corrupt or foreign), other -errno.
 */
int ringside_aux_attach(struct ringside_aux *a, const char *name,
			const char *program, unsigned flags);
/* Unmap and close; a writer detached so, without _close, reads as dead. */
void ringside_aux_detach(struct ringside_aux *a);
/* Counter @i's name (a NUL-terminated copy into @key), 0 or -EINVAL. */
int ringside_aux_key(const struct ringside_aux *a, uint32_t i,
		     char key[RINGSIDE_AUX_KEY_MAX + 1]);
/* A consistent copy of the first @n counters into @values: 0, or -EAGAIN
 * when the writer kept changing them. */
int ringside_aux_read(const struct ringside_aux *a, uint64_t *values,
		      uint32_t n);
/* RINGSIDE_TIMEOUT (live), RINGSIDE_CLOSED (stopped cleanly) or
 * RINGSIDE_DEAD (its writer is gone without stopping). */
int ringside_aux_state(const struct ringside_aux *a);
/*
 * ringside_aux_list - the programs with a counters segment for engine
 * @name: up to @max names written into @programs, sorted; returns how many
 * there are (which may exceed @max), or -errno.
 */
int ringside_aux_list(const char *name, char programs[][RINGSIDE_NAME_MAX + 1],
		      int max);

/* ---- helpers ----------------------------------------------------------- */

/* 1 if @name is a valid engine name, [A-Za-z0-9_-]{1,32}; 0 if not. */
int ringside_name_valid(const char *name);

/* A text for a -errno from this library, more precise than strerror()
 * for -EPROTO (which header check failed) and -EPERM (whose file stands
 * where), for the last call in this thread; valid until this thread's
 * next call into the library. */
const char *ringside_strerror(int err);

/* Names of statuses and breaker states, as in the JSON. */
const char *ringside_status_name(unsigned status);
const char *ringside_breaker_name(unsigned state);

/* The symbolic name of an errno value ("ETIMEDOUT"), as in the JSON. */
const char *ringside_errno_name(int err);

/*
 * ringside_json_batch - format batch @b with readings @v as the one-line
 * JSON object of the users' contract (no newline).  @names and @units hold
 * b->nreadings entries (@units may be NULL).  Returns the length, or
 * -ENOSPC when @len is too small.
 */
int ringside_json_batch(char *buf, size_t len, const char *engine,
			uint64_t epoch_us, const char *const *names,
			const char *const *units,
			const struct ringside_batch *b,
			const struct ringside_reading *v);

/* The library's version string. */
const char *ringside_version(void);

#ifdef __cplusplus
}
#endif

#endif /* RINGSIDE_H */
