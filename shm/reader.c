/* SPDX-License-Identifier: MIT */
/*
 * reader.c - a reader's side of a segment: attach read-only, validate,
 * take batches in order, sleep on the futex, notice a closed, dead or
 * replaced engine.
 *
 * A reader trusts nothing in the file.  The header is read with pread and
 * validated against the file's size before anything is mapped, and the
 * validated copy (ring, sensor count, offsets) is all that is used to find
 * things afterwards: a writer that scribbles over its header later cannot
 * make a reader look outside the mapping.
 *
 * Nor does it trust every file at the path: in the shared /dev/shm any user
 * may have put one there while no engine ran.  Attached by name, a segment
 * must belong to a trusted owner: the reader's own euid, root, a uid named
 * in RINGSIDE_TRUST_UID, or anyone with RINGSIDE_ANY_OWNER.  Who else may
 * write it is its owner's choice (shm_mode); docs/security.md says why.
 *
 * Taking a batch is the read side of the slot's seqlock: load the slot's
 * seq (acquire), copy, fence, load it again; the copy stands only if both
 * loads found the sequence number wanted.  Otherwise the writer has lapped
 * the reader, which then counts what it lost and moves to the oldest batch
 * still held.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"

#define WAIT_SLICE_NS 500000000LL /* liveness is checked this often */

static const struct seg_header *header(const struct ringside_reader *r)
{
	return r->base;
}

/*
 * The newest published sequence number.  The acquire pairs with the
 * writer's release store of head: the slot it names was written before.
 * head is the writer's word, so it is not validated with the header: a
 * writer never gets near 2^64 batches, but a corrupt head of UINT64_MAX
 * would let the next sequence number to read, head + 1, wrap to 0 and
 * ringside_reader_next() go round for ever.  It reads as UINT64_MAX - 1,
 * which keeps r->next at most UINT64_MAX.
 */
static uint64_t load_head(const struct seg_header *h)
{
	uint64_t head = seg_load_acquire(&h->head);

	return head == UINT64_MAX ? UINT64_MAX - 1 : head;
}

static uint64_t oldest_held(const struct ringside_reader *r, uint64_t head)
{
	return head >= r->ring ? head - r->ring + 1 : 1;
}

/* Fill @r from a validated header copy @h and the mapping @base. */
static void adopt(struct ringside_reader *r, const struct seg_header *h,
		  const void *base, unsigned flags)
{
	uint64_t head;

	r->base = base;
	r->size = h->total_size;
	r->nsensors = h->nsensors;
	r->ring = h->ring;
	r->mask = h->ring - 1;
	r->slot_size = h->slot_size;
	r->ring_off = h->ring_off;
	r->sensors_off = h->sensors_off;
	r->epoch_us = h->epoch_us;
	memcpy(r->name, h->name, sizeof(r->name) - 1);
	r->name[sizeof(r->name) - 1] = '\0';
	head = load_head(header(r));
	r->next = (flags & RINGSIDE_FROM_NOW) ? head + 1 : oldest_held(r, head);
}

/*
 * Takes ownership of @fd, on success and on failure alike.  @by_name: @fd
 * was opened at the segment's path, so its owner and mode are checked.
 */
static int attach_fd(struct ringside_reader *r, int fd, unsigned flags,
		     int by_name)
{
	struct seg_header h;
	struct stat st;
	const char *why;
	void *base;
	ssize_t n;
	int ret;

	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		seg_set_why("not a regular file");
		ret = -EPROTO;
		goto err_close;
	}
	if (by_name) {
		ret = seg_check_trust(&st, flags);
		if (ret < 0)
			goto err_close;
	}
	n = pread(fd, &h, sizeof(h), 0);
	if (n < 0) {
		ret = -errno;
		goto err_close;
	}
	if (n != (ssize_t)sizeof(h)) {
		seg_set_why("file too small for a segment header");
		ret = -EPROTO;
		goto err_close;
	}
	ret = seg_check_header(&h, (uint64_t)st.st_size, &why);
	if (ret < 0) {
		seg_set_why(why);
		goto err_close;
	}
	base = mmap(NULL, h.total_size, PROT_READ, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	r->fd = fd;
	r->mapped = 1;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	adopt(r, &h, base, flags);
	return 0;

err_close:
	close(fd);
	return ret;
}

int ringside_reader_attach_mem(struct ringside_reader *r, const void *mem,
			       size_t len, unsigned flags)
{
	struct seg_header h;
	const char *why;
	int ret;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	seg_clear_why();
	if (len < sizeof(h)) {
		seg_set_why("file too small for a segment header");
		return -EPROTO;
	}
	/* Validate a private copy of the immutable part: the memory may
	 * change under us, and the writer's words are not ours to copy. */
	memset(&h, 0, sizeof(h));
	memcpy(&h, mem, offsetof(struct seg_header, head));
	ret = seg_check_header(&h, len, &why);
	if (ret < 0) {
		seg_set_why(why);
		return ret;
	}
	adopt(r, &h, mem, flags);
	return 0;
}

int ringside_reader_attach_fd(struct ringside_reader *r, int fd, unsigned flags)
{
	int dfd;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	seg_clear_why();
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return -errno;
	return attach_fd(r, dfd, flags, 0);
}

int ringside_reader_attach(struct ringside_reader *r, const char *name,
			   unsigned flags)
{
	int fd;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	seg_clear_why();
	if (seg_path(r->path, sizeof(r->path), name) < 0)
		return -EINVAL;
	fd = seg_open_ro(r->path);
	if (fd < 0)
		return fd;
	return attach_fd(r, fd, flags, 1);
}

void ringside_reader_detach(struct ringside_reader *r)
{
	if (r->base != NULL && r->mapped)
		munmap((void *)r->base, r->size);
	if (r->fd >= 0)
		close(r->fd);
	r->base = NULL;
	r->fd = -1;
}

int ringside_reader_reattach(struct ringside_reader *r, unsigned flags)
{
	struct ringside_reader nr;
	struct stat st;
	int fd, ret;

	seg_clear_why();
	if (r->path[0] == '\0')
		return -EINVAL;
	fd = seg_open_ro(r->path);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) == 0 && st.st_dev == r->dev && st.st_ino == r->ino) {
		close(fd);
		return -EAGAIN; /* the same segment: nothing new yet */
	}
	memset(&nr, 0, sizeof(nr));
	memcpy(nr.path, r->path, sizeof(nr.path));
	ret = attach_fd(&nr, fd, flags, 1);
	if (ret < 0)
		return ret;
	ringside_reader_detach(r);
	*r = nr;
	return 0;
}

/* Copy batch @seq if its slot holds it, stable: 1, else 0. */
static int read_slot(const struct ringside_reader *r, uint64_t seq,
		     struct ringside_batch *b,
		     struct ringside_reading *readings, uint32_t max)
{
	const struct seg_slot *slot;
	uint32_t n = max < r->nsensors ? max : r->nsensors;

	slot = seg_slot_at((void *)r->base, r->ring_off, r->slot_size,
			   seq & r->mask);
	/* Seqlock, read side: acquire pairs with the writer's release of
	 * slot->seq, so a matching seq means the data was stored before. */
	if (seg_load_acquire(&slot->seq) != seq)
		return 0;
	b->tick_us = seg_load_relaxed(&slot->tick_us);
	b->published_us = seg_load_relaxed(&slot->published_us);
	b->tick_mono_ns = seg_load_relaxed(&slot->tick_mono_ns);
	b->published_mono_ns = seg_load_relaxed(&slot->published_mono_ns);
	b->available = seg_load_relaxed(&slot->available);
	b->flags = seg_load_relaxed(&slot->flags);
	seg_load_words(readings, (const uint64_t *)(slot + 1),
		       (size_t)n * sizeof(*readings));
	/* The acquire fence keeps every copy above ahead of the second load:
	 * if the writer began to overwrite any word we copied, this load sees
	 * the slot's seq changed (pairs with the writer's release fence). */
	seg_fence_acquire();
	if (seg_load_relaxed(&slot->seq) != seq)
		return 0;
	b->seq = seq;
	b->total = r->nsensors;
	if (b->available > b->total)
		b->available = b->total;
	b->nreadings = n;
	return 1;
}

int ringside_reader_next(struct ringside_reader *r, struct ringside_batch *b,
			 struct ringside_reading *readings, uint32_t max)
{
	const struct seg_header *h = header(r);
	uint64_t head, oldest;

	if (r->base == NULL)
		return -EINVAL;
	head = load_head(h);
	for (;;) {
		if (r->next > head)
			return 0; /* r->lost waits for the next batch */
		oldest = oldest_held(r, head);
		if (r->next < oldest) {
			r->lost += oldest - r->next;
			r->next = oldest;
		}
		if (read_slot(r, r->next, b, readings, max)) {
			b->lost = r->lost;
			r->lost = 0;
			r->next++;
			return 1;
		}
		/*
		 * The writer overwrote the slot while (or before) we copied
		 * it: that batch is gone.  Count it and look again from a
		 * fresh head.
		 */
		r->lost++;
		r->next++;
		head = load_head(h);
	}
}

uint64_t ringside_reader_head(const struct ringside_reader *r)
{
	return load_head(header(r));
}

int ringside_reader_state(struct ringside_reader *r)
{
	const struct seg_header *h = header(r);
	uint32_t state;
	int alive;

	if (r->base == NULL)
		return -EINVAL;
	if (load_head(h) >= r->next)
		return RINGSIDE_READY;
	/* The writer stores state with release after its last batch: load
	 * it with acquire, then look at head again before saying "drained". */
	state = seg_load_acquire(&h->state);
	if (state == SEG_CLOSED || state == SEG_REPLACED) {
		if (load_head(h) >= r->next)
			return RINGSIDE_READY;
		return state == SEG_CLOSED ? RINGSIDE_CLOSED
					   : RINGSIDE_REPLACED;
	}
	/* A segment in plain memory has no lock: it lives until closed. */
	alive = r->fd >= 0 ? seg_alive(r->fd) : 1;
	if (alive < 0)
		return alive;
	if (alive == 0) {
		if (load_head(h) >= r->next)
			return RINGSIDE_READY;
		return RINGSIDE_DEAD;
	}
	return RINGSIDE_TIMEOUT;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int ringside_reader_wait(struct ringside_reader *r, int timeout_ms)
{
	const struct seg_header *h = header(r);
	int64_t deadline = 0, slice;
	uint32_t word;
	int ev;

	if (r->base == NULL)
		return -EINVAL;
	if (timeout_ms > 0)
		deadline = mono_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		/* Read the futex word before looking: a batch published after
		 * this load changes the word, so the wait below cannot sleep
		 * through it. */
		word = seg_load_acquire(&h->futex);
		ev = ringside_reader_state(r);
		if (ev != RINGSIDE_TIMEOUT || timeout_ms == 0)
			return ev;
		slice = WAIT_SLICE_NS;
		if (timeout_ms > 0) {
			int64_t left = deadline - mono_ns();

			if (left <= 0)
				return RINGSIDE_TIMEOUT;
			if (left < slice)
				slice = left;
		}
		seg_futex_wait(&h->futex, word, slice);
	}
}

int ringside_reader_params(const struct ringside_reader *r,
			   struct ringside_params *p)
{
	const struct seg_header *h = header(r);

	if (r->base == NULL)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	memcpy(p->name, r->name, sizeof(p->name));
	p->ring = r->ring;
	p->nsensors = r->nsensors;
	p->period_ns = h->period_ns;
	p->deadline_ns = h->deadline_ns;
	p->mode = h->mode;
	return 0;
}

static const struct seg_sensor *sensor_at(const struct ringside_reader *r,
					  uint32_t i)
{
	return (const struct seg_sensor *)((const char *)r->base +
					   r->sensors_off) +
	       i;
}

static void copy_text(char *dst, const char *src, size_t max)
{
	size_t n = strnlen(src, max);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

int ringside_reader_sensor(const struct ringside_reader *r, uint32_t i,
			   char name[RINGSIDE_NAME_MAX + 1],
			   char unit[RINGSIDE_UNIT_MAX + 1])
{
	const struct seg_sensor *s;

	if (r->base == NULL || i >= r->nsensors)
		return -EINVAL;
	s = sensor_at(r, i);
	if (name != NULL)
		copy_text(name, s->name, RINGSIDE_NAME_MAX);
	if (unit != NULL)
		copy_text(unit, s->unit, RINGSIDE_UNIT_MAX);
	return 0;
}

pid_t ringside_reader_pid(const struct ringside_reader *r)
{
	return r->base != NULL ? header(r)->pid : 0;
}

/* What ringside_reader_stats() copies under the counters' seqlock. */
struct reader_stats_copy {
	const struct ringside_reader *r;
	struct ringside_engine_stats *e;
	struct ringside_sensor_stats *s;
	uint32_t n;
};

static void reader_stats_copy(void *arg)
{
	const struct reader_stats_copy *c = arg;
	uint32_t i;

	if (c->e != NULL)
		seg_load_words(c->e->counter, header(c->r)->engine,
			       sizeof(c->e->counter));
	for (i = 0; i < c->n; i++) {
		const struct seg_sensor *t = sensor_at(c->r, i);

		seg_load_words(c->s[i].counter, t->counter,
			       sizeof(c->s[i].counter));
		seg_load_words(c->s[i].hist, t->hist, sizeof(c->s[i].hist));
	}
}

int ringside_reader_stats(const struct ringside_reader *r,
			  struct ringside_engine_stats *e,
			  struct ringside_sensor_stats *s, uint32_t n)
{
	struct reader_stats_copy c = { r, e, s, n };

	if (r->base == NULL)
		return -EINVAL;
	if (n > r->nsensors)
		c.n = r->nsensors;
	return seg_seqlock_read(&header(r)->stats_seq, r->fd, reader_stats_copy,
				&c);
}
