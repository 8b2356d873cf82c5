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
 *
 * The counters segment of another program (aux.c) is a file of its own,
 * drawn further down.
 */
#ifndef RINGSIDE_LAYOUT_H
#define RINGSIDE_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

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
 * The counters segment of another program (aux.c), a file of its own,
 * /dev/shm/ringside.NAME@PROGRAM: one writer, the same liveness lock as
 * the engine's segment, n named counters under one seqlock.
 *
 *   0      +------------------------------------------------------+
 *          | struct aux_header: immutable once the file is renamed |
 *          |   magic, version, total_size, n, pid, key_size        |
 *          |   state                     (written once, on close)  |
 *   64     +------------------------------------------------------+
 *          | seq                         (the counters' seqlock)   |
 *   128    +------------------------------------------------------+
 *          | keys: n x char[32], NUL-padded, [a-z0-9_]{1,31}       |
 *   128 + 32 n  +-------------------------------------------------+
 *          | values: n x u64                                       |
 *   128 + 40 n = total_size +-------------------------------------+
 */
#define AUX_MAGIC 0x58554152u /* "RAUX" in a little-endian dump */
#define AUX_VERSION 1u
#define AUX_KEY_SIZE 32 /* bytes per key, NUL-padded */

struct aux_header {
	/* Immutable: written before the file is renamed into place. */
	uint32_t magic;	     /* 0: AUX_MAGIC */
	uint32_t version;    /* 4: AUX_VERSION */
	uint64_t total_size; /* 8: bytes in the file */
	uint32_t n;	     /* 16: counters, 1 to RINGSIDE_AUX_MAX */
	int32_t pid;	     /* 20: the writer's pid, for messages */
	uint32_t key_size;   /* 24: AUX_KEY_SIZE */
	uint32_t state;	     /* 28: SEG_LIVE, then SEG_CLOSED */
	uint8_t reserved[32];

	/* The counters' seqlock: odd while the writer updates counters. */
	_Alignas(SEG_CACHELINE) uint64_t seq; /* 64 */
	uint8_t reserved1[56];
};

_Static_assert(offsetof(struct aux_header, magic) == 0, "magic at 0");
_Static_assert(offsetof(struct aux_header, version) == 4, "version at 4");
_Static_assert(offsetof(struct aux_header, total_size) == 8, "layout");
_Static_assert(offsetof(struct aux_header, n) == 16, "layout");
_Static_assert(offsetof(struct aux_header, state) == 28, "layout");
_Static_assert(offsetof(struct aux_header, seq) == 64, "seqlock");
_Static_assert(sizeof(struct aux_header) == 128, "aux header size");
_Static_assert(RINGSIDE_AUX_KEY_MAX < AUX_KEY_SIZE, "key fits");

/* Bytes of a counters segment of @n counters. */
static inline uint64_t aux_size(uint32_t n)
{
	return sizeof(struct aux_header) + (uint64_t)n * (AUX_KEY_SIZE + 8);
}

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
 * Building a file in /dev/shm, for the engine's segment and for the
 * counters segment of another program alike.  @tag is what follows
 * "ringside." in the file's name: the engine's name, or NAME@PROGRAM.
 *
 * seg_foreign - refuse a file of another user (@st) at @path, -EPERM with
 * a text naming its owner and what it is (@what); 0 when it is ours.
 */
int seg_foreign(const struct stat *st, const char *what, const char *path);

/*
 * seg_name_lock - take the lock file /dev/shm/.ringside.@tag.lock (flock,
 * exclusive), which makes "is a writer there? if not, build and rename"
 * one step: a descriptor to hand to seg_name_unlock(), -EBUSY when
 * another process holds it, -EPERM for a symbolic link or a file of
 * another user there, other -errno.
 */
int seg_name_lock(const char *tag);
/* Remove the lock file and release it; nothing when @fd < 0. */
void seg_name_unlock(const char *tag, int fd);

/*
 * seg_previous - look at whatever stands at @path before replacing it,
 * only reading it, never adopting it.  Returns a read-only descriptor of
 * a regular file of ours that no live writer holds (its stat in @st; the
 * caller closes it), -ENOENT when nothing there is worth reading (no
 * file, a symbolic link, not a regular file), -EBUSY when a live writer
 * holds it, -EPERM when another user owns it (not even opened), other
 * -errno.
 */
int seg_previous(const char *path, struct stat *st);

/* Lays a new file out in @base (@size zeroed bytes, not yet visible). */
typedef void (*seg_fill_fn)(void *base, void *arg);

/*
 * seg_create - make the file of @size bytes for @path under the temporary
 * name /dev/shm/.ringside.@tag.XXXXXX (mkostemp), set its mode to @mode
 * (fchmod: the umask does not matter), size it with posix_fallocate (a
 * full /dev/shm is an error now, not a SIGBUS later), take the liveness
 * lock (F_OFD_SETLK), map it read-write, let @fill lay it out, and rename
 * it to @path.  Returns 0 with the mapping in *@basep and the descriptor
 * holding the lock in *@fdp; -EPERM when another user's file stands at
 * @path (the rename is refused in the sticky /dev/shm), -ENOSPC, other
 * -errno.  On failure nothing is left behind.
 */
int seg_create(const char *path, const char *tag, uint32_t mode, uint64_t size,
	       seg_fill_fn fill, void *arg, void **basep, int *fdp);

/*
 * Reading a file in /dev/shm by name.
 *
 * seg_open_ro - open @path read-only, no symbolic link followed (-EPROTO
 * with a text saying so), no controlling tty, no blocking: a descriptor or
 * -errno.
 */
int seg_open_ro(const char *path);

/*
 * seg_check_trust - 0 when the owner of @st may be trusted: the reader's
 * euid, root, anyone with RINGSIDE_ANY_OWNER in @flags, or a uid listed in
 * RINGSIDE_TRUST_UID; else -EPERM with a text naming the owner.
 */
int seg_check_trust(const struct stat *st, unsigned flags);

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

/* Store @n bytes of @src as relaxed 64-bit words (n a multiple of 8). */
static inline void seg_store_words(uint64_t *dst, const void *src, size_t n)
{
	size_t i;

	for (i = 0; i < n / 8; i++) {
		uint64_t v;

		memcpy(&v, (const char *)src + i * 8, 8);
		seg_store_relaxed(&dst[i], v);
	}
}

/* Load @n bytes of relaxed 64-bit words into @dst (n a multiple of 8). */
static inline void seg_load_words(void *dst, const uint64_t *src, size_t n)
{
	size_t i;

	for (i = 0; i < n / 8; i++) {
		uint64_t v = seg_load_relaxed(&src[i]);

		memcpy((char *)dst + i * 8, &v, 8);
	}
}

/*
 * Counters' seqlock, write side: the word is odd while an update is under
 * way.  _begin's release fence keeps the counter stores that follow
 * behind the odd value, as in a slot's seqlock; _end's release store
 * orders every counter store before the even value.
 */
static inline void seg_seqlock_begin(uint64_t *seq)
{
	seg_store_relaxed(seq, seg_load_relaxed(seq) + 1);
	seg_fence_release();
}

static inline void seg_seqlock_end(uint64_t *seq)
{
	seg_store_release(seq, seg_load_relaxed(seq) + 1);
}

/* Copies the counters a seqlock guards, with relaxed loads. */
typedef void (*seg_copy_fn)(void *arg);

/*
 * seg_seqlock_read - the read side: @copy until a copy was made between
 * two loads of *@seq that found the same even value.  A writer killed in
 * the middle of an update leaves the word odd for good, so once the tries
 * are spent a segment whose liveness lock (@fd; -1: none) is free is
 * copied as it stands.  Returns 0, or -EAGAIN when the writer kept
 * changing the counters.
 */
int seg_seqlock_read(const uint64_t *seq, int fd, seg_copy_fn copy, void *arg);

static inline struct seg_slot *seg_slot_at(void *base, uint64_t ring_off,
					   uint32_t slot_size, uint64_t idx)
{
	return (struct seg_slot *)((char *)base + ring_off + idx * slot_size);
}

#endif /* RINGSIDE_LAYOUT_H */
