/* SPDX-License-Identifier: MIT */
/*
 * layout.h - the bytes of a ringside segment, private to libringside.
 *
 * A segment is one file in /dev/shm, written by one engine and mapped
 * read-only by every reader.  It holds no pointer: every position is an
 * offset from the start, every field has a fixed width, every size and
 * offset is checked by _Static_assert below and validated by readers.
 *
 *   0      +------------------------------------------------------+
 *          | struct seg_header: immutable once the file is renamed |
 *          |   magic, version, sizes, offsets, epoch, name, pid    |
 *   256    +------------------------------------------------------+
 *          | head, futex, state       (writer's hot line)          |
 *   320    +------------------------------------------------------+
 *          | stats_seq                (counters' seqlock)          |
 *   384    +------------------------------------------------------+
 *          | engine counters: u64[16]                              |
 *   512    +------------------------------------------------------+
 *          | sensor table: nsensors x struct seg_sensor (384 B)    |
 *          |   name, unit, u64 counters[24], u64 histogram[16]     |
 *   ring_off (a multiple of 4096)
 *          +------------------------------------------------------+
 *          | slot 0: struct seg_slot (64 B) + nsensors readings    |
 *          | slot 1                                                |
 *          | ...        ring slots of slot_size bytes each         |
 *   total_size +--------------------------------------------------+
 *
 * The writer is the only process that stores into the segment.  Readers
 * have no word of their own in it (they map it PROT_READ), so nothing a
 * reader does can be seen by the writer or by another reader.
 *
 * Batch n (n >= 1) lives in slot n & (ring - 1).  A slot's seq word is
 * the sequence number it holds while stable and 0 while being written: a
 * seqlock.  head is the newest published sequence number.
 */
#ifndef RINGSIDE_LAYOUT_H
#define RINGSIDE_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "ringside.h"

#define SEG_MAGIC 0x47455352u /* "RSEG" in a little-endian dump */
#define SEG_VERSION 1u
#define SEG_CACHELINE 64
#define SEG_PAGE 4096

/* Values of seg_header.state. */
#define SEG_LIVE 1u	/* the writer publishes into it */
#define SEG_CLOSED 2u	/* the writer stopped cleanly */
#define SEG_REPLACED 3u /* a newer segment stands at the same path */

struct seg_header {
	/* Immutable: written before the file is renamed into place. */
	uint32_t magic;	       /* 0: SEG_MAGIC */
	uint32_t version;      /* 4: SEG_VERSION */
	uint32_t header_size;  /* 8: sizeof(struct seg_header) */
	uint32_t sensor_size;  /* 12: sizeof(struct seg_sensor) */
	uint64_t total_size;   /* 16: bytes in the file */
	uint64_t epoch_us;     /* 24: creation time, strictly increasing */
	uint32_t ring;	       /* 32: slots, a power of two */
	uint32_t slot_size;    /* 36: bytes per slot */
	uint32_t nsensors;     /* 40: readings per batch */
	uint32_t reading_size; /* 44: sizeof(struct ringside_reading) */
	uint64_t sensors_off;  /* 48: offset of the sensor table */
	uint64_t ring_off;     /* 56: offset of slot 0 */
	uint64_t period_ns;    /* 64 */
	uint64_t deadline_ns;  /* 72 */
	int32_t pid;	       /* 80: the engine's pid, for messages */
	uint32_t mode;	       /* 84: permission bits asked for */
	char name[40];	       /* 88: engine name, NUL-padded */
	uint8_t reserved[128]; /* 128 */

	/* The writer's hot line: read by every reader, written per batch. */
	_Alignas(SEG_CACHELINE) uint64_t head; /* 256: newest seq, 0: none */
	uint32_t futex; /* 264: bumped on every publish and state change */
	uint32_t state; /* 268: SEG_LIVE, SEG_CLOSED, SEG_REPLACED */

	/* Counters' seqlock: odd while the writer updates counters. */
	_Alignas(SEG_CACHELINE) uint64_t stats_seq; /* 320 */

	_Alignas(SEG_CACHELINE) uint64_t engine[RINGSIDE_EC_SLOTS]; /* 384 */
};

struct seg_sensor {
	char name[40]; /* NUL-padded */
	char unit[24]; /* NUL-padded */
	uint64_t counter[RINGSIDE_SC_SLOTS];
	uint64_t hist[RINGSIDE_HIST_BUCKETS];
};

struct seg_slot {
	uint64_t seq; /* the seqlock word: batch seq, or 0 while written */
	uint64_t tick_us;
	uint64_t published_us;
	uint64_t tick_mono_ns;
	uint64_t published_mono_ns;
	uint32_t available;
	uint32_t total;
	uint32_t flags;
	uint32_t reserved0;
	uint64_t reserved1;
	/* followed by nsensors struct ringside_reading */
};

_Static_assert(offsetof(struct seg_header, magic) == 0, "magic at 0");
_Static_assert(offsetof(struct seg_header, version) == 4, "version at 4");
_Static_assert(offsetof(struct seg_header, total_size) == 16, "layout");
_Static_assert(offsetof(struct seg_header, ring_off) == 56, "layout");
_Static_assert(offsetof(struct seg_header, name) == 88, "layout");
_Static_assert(offsetof(struct seg_header, head) == 256, "hot line");
_Static_assert(offsetof(struct seg_header, futex) == 264, "hot line");
_Static_assert(offsetof(struct seg_header, stats_seq) == 320, "seqlock");
_Static_assert(offsetof(struct seg_header, engine) == 384, "counters");
_Static_assert(sizeof(struct seg_header) == 512, "header size");
_Static_assert(sizeof(struct seg_sensor) == 384, "sensor size");
_Static_assert(offsetof(struct seg_sensor, counter) == 64, "layout");
_Static_assert(sizeof(struct seg_slot) == 64, "slot header size");
_Static_assert(sizeof(struct ringside_reading) == 16, "reading size");
_Static_assert(offsetof(struct ringside_reading, latency_us) == 8, "layout");
_Static_assert(offsetof(struct ringside_reading, status) == 12, "layout");
_Static_assert(sizeof(struct ringside_sensor_stats) ==
		       sizeof(((struct seg_sensor *)0)->counter) +
			       sizeof(((struct seg_sensor *)0)->hist),
	       "sensor stats mirror the table");
_Static_assert(RINGSIDE_SC_COUNT <= RINGSIDE_SC_SLOTS, "counter room");
_Static_assert(RINGSIDE_EC_COUNT <= RINGSIDE_EC_SLOTS, "counter room");
_Static_assert(RINGSIDE_NAME_MAX < sizeof(((struct seg_header *)0)->name),
	       "name fits");
_Static_assert(RINGSIDE_UNIT_MAX < sizeof(((struct seg_sensor *)0)->unit),
	       "unit fits");

/*
 * The geometry of a segment, derived from (ring, nsensors) alone: the
 * writer lays the file out with it, and a reader recomputes it to check
 * that the header's sizes add up.
 */
struct seg_geometry {
	uint64_t sensors_off;
	uint64_t ring_off;
	uint32_t slot_size;
	uint64_t total_size;
};

/* Returns 0, or -EINVAL when ring or nsensors is out of range. */
int seg_geometry(uint32_t ring, uint32_t nsensors, struct seg_geometry *g);

/*
 * seg_check_header - validate an untrusted header against the size of the
 * file holding it.  Returns 0, or -EPROTO with *why set to a static text.
 */
int seg_check_header(const struct seg_header *h, uint64_t file_size,
		     const char **why);

/* Remember why the last check failed, for ringside_strerror(-EPROTO). */
void seg_set_why(const char *why);
/*
 * The same for error @err (a -errno) with a printf-formatted text, kept in
 * a per-thread buffer; seg_clear_why() forgets it.
 */
__attribute__((format(printf, 2, 3))) void seg_set_why_err(int err,
							   const char *fmt,
							   ...);
void seg_clear_why(void);

/* "/dev/shm/ringside.NAME" into @buf; -EINVAL for a bad name. */
int seg_path(char *buf, size_t len, const char *name);

/*
 * seg_alive - 1 if a writer holds the segment's liveness lock, 0 if none
 * does (the engine died or closed), -errno on error.  Works on a read-only
 * descriptor: it only asks (F_OFD_GETLK).
 */
int seg_alive(int fd);

/* Wake every waiter on a shared futex word; wait while *word == val. */
void seg_futex_wake(uint32_t *word);
int seg_futex_wait(const uint32_t *word, uint32_t val, int64_t timeout_ns);

/*
 * Memory-ordering points.  Each names what it orders; see the callers.
 */
#define seg_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define seg_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define seg_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define seg_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define seg_fence_acquire() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define seg_fence_release() __atomic_thread_fence(__ATOMIC_RELEASE)

static inline struct seg_slot *seg_slot_at(void *base, uint64_t ring_off,
					   uint32_t slot_size, uint64_t idx)
{
	return (struct seg_slot *)((char *)base + ring_off + idx * slot_size);
}

#endif /* RINGSIDE_LAYOUT_H */
