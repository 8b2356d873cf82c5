/* SPDX-License-Identifier: MIT */
/*
 * writer.c - the engine's side of a segment: build it, publish batches,
 * update counters, close it.
 *
 * There is exactly one writer per segment, and it never waits for a
 * reader: publishing is a copy into the next slot under the slot's
 * seqlock, a release store of head, a bump of the futex word and one
 * FUTEX_WAKE.  Readers cannot tell the writer they are there (their
 * mapping is read-only), so the wake is unconditional; it costs one
 * syscall per batch whether or not anyone sleeps.
 *
 * Every store into the data of a slot or into the counters is a relaxed
 * atomic store of a 64-bit word: readers copy the same words with relaxed
 * loads while they may be changing, and the seqlock tells them afterwards
 * whether what they copied was stable.  The words make that race a
 * well-defined one (and one ThreadSanitizer accepts).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void copy_name(char *dst, size_t len, const char *src)
{
	size_t n = src != NULL ? strnlen(src, len - 1) : 0;

	memset(dst, 0, len);
	if (n > 0)
		memcpy(dst, src, n);
}

/*
 * Look at whatever stands at @path now: -EBUSY if a live engine holds it,
 * -EPERM if another user owns it, else the epoch to beat (0 when there is
 * no valid segment there).  The file is only read, never adopted, and a
 * file of another user is not even opened.
 */
static int previous_epoch(const char *path, uint64_t *epoch)
{
	struct seg_header h;
	struct stat st;
	const char *why;
	ssize_t n;
	int fd;

	*epoch = 0;
	fd = seg_previous(path, &st);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	n = pread(fd, &h, sizeof(h), 0);
	if (n == (ssize_t)sizeof(h) &&
	    seg_check_header(&h, (uint64_t)st.st_size, &why) == 0)
		*epoch = h.epoch_us;
	close(fd);
	return 0;
}

/* Lay out a fresh segment in @base, which holds g->total_size zeroes. */
static void format(void *base, const struct seg_geometry *g,
		   const struct ringside_params *p, const char *const *names,
		   const char *const *units, uint64_t prev_epoch)
{
	struct seg_header *h = base;
	struct seg_sensor *t;
	uint32_t i;

	h->magic = SEG_MAGIC;
	h->version = SEG_VERSION;
	h->header_size = sizeof(*h);
	h->sensor_size = sizeof(struct seg_sensor);
	h->reading_size = sizeof(struct ringside_reading);
	h->total_size = g->total_size;
	h->ring = p->ring;
	h->slot_size = g->slot_size;
	h->nsensors = p->nsensors;
	h->sensors_off = g->sensors_off;
	h->ring_off = g->ring_off;
	h->period_ns = p->period_ns;
	h->deadline_ns = p->deadline_ns;
	h->pid = (int32_t)getpid();
	h->mode = p->mode;
	copy_name(h->name, sizeof(h->name), p->name);
	h->state = SEG_LIVE;
	t = (struct seg_sensor *)((char *)base + g->sensors_off);
	for (i = 0; i < p->nsensors; i++) {
		copy_name(t[i].name, sizeof(t[i].name), names[i]);
		copy_name(t[i].unit, sizeof(t[i].unit),
			  units != NULL ? units[i] : NULL);
	}
	h->epoch_us = now_us();
	if (h->epoch_us <= prev_epoch)
		h->epoch_us = prev_epoch + 1;
}

static int check_params(const struct ringside_params *p,
			const char *const *names, struct seg_geometry *g)
{
	seg_clear_why();
	if (!ringside_name_valid(p->name) || (p->mode & ~0777u) != 0 ||
	    p->nsensors == 0 || names == NULL)
		return -EINVAL;
	return seg_geometry(p->ring, p->nsensors, g);
}

int ringside_writer_init_mem(struct ringside_writer *w, void *mem, size_t len,
			     const struct ringside_params *p,
			     const char *const *names, const char *const *units)
{
	struct seg_geometry g;
	int ret;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->lock_fd = -1;
	ret = check_params(p, names, &g);
	if (ret < 0)
		return ret;
	if (len < g.total_size)
		return -ENOSPC;
	memset(mem, 0, g.total_size);
	format(mem, &g, p, names, units, 0);
	w->base = mem;
	w->size = 0; /* not ours to unmap */
	w->nsensors = p->nsensors;
	w->mask = p->ring - 1;
	w->slot_size = g.slot_size;
	w->epoch_us = ((struct seg_header *)mem)->epoch_us;
	return 0;
}

size_t ringside_segment_size(uint32_t ring, uint32_t nsensors)
{
	struct seg_geometry g;

	return seg_geometry(ring, nsensors, &g) < 0 ? 0 : g.total_size;
}

/*
 * One engine per name: the name's lock file (seg_name_lock), held for the
 * engine's life, and removed when it closes.
 */
static void name_unlock(struct ringside_writer *w)
{
	seg_name_unlock(w->path + strlen("/dev/shm/ringside."), w->lock_fd);
	w->lock_fd = -1;
}

/* What format() needs, through seg_create(). */
struct writer_layout {
	const struct seg_geometry *g;
	const struct ringside_params *p;
	const char *const *names;
	const char *const *units;
	uint64_t prev_epoch;
};

static void writer_fill(void *base, void *arg)
{
	const struct writer_layout *l = arg;

	format(base, l->g, l->p, l->names, l->units, l->prev_epoch);
}

static int writer_build(struct ringside_writer *w, struct ringside_writer *old,
			const struct ringside_params *p,
			const char *const *names, const char *const *units)
{
	struct seg_geometry g;
	struct writer_layout l;
	uint64_t prev;
	void *base;
	int fd, ret;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->lock_fd = -1;
	ret = check_params(p, names, &g);
	if (ret < 0)
		return ret;
	if (seg_path(w->path, sizeof(w->path), p->name) < 0)
		return -EINVAL;
	if (old != NULL) {
		/* Our own segment stands there, locked by us. */
		if (strcmp(old->path, w->path) != 0)
			return -EINVAL;
		prev = old->epoch_us;
	} else {
		w->lock_fd = seg_name_lock(p->name);
		if (w->lock_fd < 0)
			return w->lock_fd;
		ret = previous_epoch(w->path, &prev);
		if (ret < 0)
			goto err_lock;
	}

	l = (struct writer_layout){ &g, p, names, units, prev };
	ret = seg_create(w->path, p->name, p->mode, g.total_size, writer_fill,
			 &l, &base, &fd);
	if (ret < 0)
		goto err_lock;
	w->base = base;
	w->size = g.total_size;
	w->fd = fd;
	w->nsensors = p->nsensors;
	w->mask = p->ring - 1;
	w->slot_size = g.slot_size;
	w->epoch_us = ((struct seg_header *)base)->epoch_us;
	w->seq = 0;
	if (old != NULL) {
		w->lock_fd = old->lock_fd; /* the name stays ours */
		old->lock_fd = -1;
	}
	return 0;

err_lock:
	if (old == NULL)
		name_unlock(w);
	return ret;
}

int ringside_writer_create(struct ringside_writer *w,
			   const struct ringside_params *p,
			   const char *const *names, const char *const *units)
{
	return writer_build(w, NULL, p, names, units);
}

int ringside_writer_replace(struct ringside_writer *w,
			    struct ringside_writer *old,
			    const struct ringside_params *p,
			    const char *const *names, const char *const *units)
{
	int ret = writer_build(w, old, p, names, units);

	if (ret == 0)
		ringside_writer_close(old, 1);
	return ret;
}

static struct seg_header *header(struct ringside_writer *w)
{
	return w->base;
}

int ringside_writer_publish(struct ringside_writer *w, struct ringside_batch *b,
			    const struct ringside_reading *readings)
{
	struct seg_header *h = header(w);
	uint64_t seq = w->seq + 1;
	struct seg_slot *slot;

	if (b->total != w->nsensors)
		return -EINVAL;
	slot = seg_slot_at(w->base, h->ring_off, w->slot_size, seq & w->mask);

	/*
	 * Seqlock, write side.  seq = 0 marks the slot unstable; the release
	 * fence keeps that store ahead of every data store below, so a reader
	 * that copied any new data word also sees the slot's seq change when
	 * it checks again.
	 */
	seg_store_relaxed(&slot->seq, 0);
	seg_fence_release();
	seg_store_relaxed(&slot->tick_us, b->tick_us);
	seg_store_relaxed(&slot->published_us, b->published_us);
	seg_store_relaxed(&slot->tick_mono_ns, b->tick_mono_ns);
	seg_store_relaxed(&slot->published_mono_ns, b->published_mono_ns);
	seg_store_relaxed(&slot->available, b->available);
	seg_store_relaxed(&slot->total, b->total);
	seg_store_relaxed(&slot->flags, b->flags);
	seg_store_words((uint64_t *)(slot + 1), readings,
			(size_t)w->nsensors * sizeof(*readings));

	/*
	 * Publish: the release store of the slot's seq orders the data before
	 * it; the release store of head orders the slot before it, so a
	 * reader that loads head with acquire and finds n finds slot n whole
	 * (unless the writer has lapped it since, which the seqlock shows).
	 */
	seg_store_release(&slot->seq, seq);
	seg_store_release(&h->head, seq);
	w->seq = seq;
	b->seq = seq;

	/*
	 * Wake sleepers: the futex word changes after head, so a reader that
	 * read the old word before checking head either saw the new head or
	 * sleeps on a value that is already stale and returns at once.
	 */
	__atomic_fetch_add(&h->futex, 1, __ATOMIC_RELEASE);
	seg_futex_wake(&h->futex);
	return 0;
}

void ringside_writer_stats_begin(struct ringside_writer *w)
{
	seg_seqlock_begin(&header(w)->stats_seq);
}

void ringside_writer_stats_end(struct ringside_writer *w)
{
	seg_seqlock_end(&header(w)->stats_seq);
}

void ringside_writer_sensor_set(struct ringside_writer *w, uint32_t sensor,
				const struct ringside_sensor_stats *s)
{
	struct seg_header *h = header(w);
	struct seg_sensor *t;

	if (sensor >= w->nsensors)
		return;
	t = (struct seg_sensor *)((char *)w->base + h->sensors_off) + sensor;
	seg_store_words(t->counter, s->counter, sizeof(s->counter));
	seg_store_words(t->hist, s->hist, sizeof(s->hist));
}

void ringside_writer_engine_set(struct ringside_writer *w,
				const struct ringside_engine_stats *s)
{
	seg_store_words(header(w)->engine, s->counter, sizeof(s->counter));
}

void ringside_writer_abandon(struct ringside_writer *w)
{
	if (w->base != NULL && w->size != 0)
		munmap(w->base, w->size);
	if (w->fd >= 0)
		close(w->fd);
	w->base = NULL;
	w->fd = -1;
	name_unlock(w);
}

void ringside_writer_close(struct ringside_writer *w, int replaced)
{
	struct seg_header *h = header(w);

	if (w->base == NULL)
		return;
	/* The state is read with acquire by readers once they are drained:
	 * the release orders it after the last batch. */
	seg_store_release(&h->state, replaced ? SEG_REPLACED : SEG_CLOSED);
	__atomic_fetch_add(&h->futex, 1, __ATOMIC_RELEASE);
	seg_futex_wake(&h->futex);
	ringside_writer_abandon(w);
}
