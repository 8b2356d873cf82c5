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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
 * Refuse a file of another user at @path (whatever its type) with -EPERM
 * and a text naming its owner: the engine replaces only what it owns, and
 * in the sticky /dev/shm the kernel would refuse the rename anyway, with
 * a bare EPERM that tells nobody what to do.  Returns 0 when @st is ours.
 */
static int foreign(const struct stat *st, const char *what, const char *path)
{
	if (st->st_uid == geteuid())
		return 0;
	seg_set_why_err(-EPERM,
			"a %s owned by another user (uid %u) stands at %s",
			what, (unsigned)st->st_uid, path);
	return -EPERM;
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
	int fd, ret = 0;

	*epoch = 0;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	ret = foreign(&st, "file", path);
	if (ret < 0)
		return ret;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? 0 : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	ret = foreign(&st, "file", path); /* swapped since the lstat */
	if (ret < 0)
		goto out;
	if (seg_alive(fd) == 1) {
		ret = -EBUSY;
		goto out;
	}
	n = pread(fd, &h, sizeof(h), 0);
	if (n == (ssize_t)sizeof(h) &&
	    seg_check_header(&h, (uint64_t)st.st_size, &why) == 0)
		*epoch = h.epoch_us;
out:
	close(fd);
	return ret;
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
 * One engine per name: a lock file beside the segment, held (flock) for
 * the engine's life.  Checking the segment's own lock and then renaming
 * would let two engines starting at once both win; the lock file cannot.
 * After locking, the path must still name the file locked (a closing
 * engine unlinks it), or the lock is on a file nobody else will see.
 *
 * The lock file is never a way in for another user: a symbolic link there
 * is not followed (O_NOFOLLOW), and a file that is not ours is neither
 * locked nor written; both are refused with -EPERM.
 */
static int name_lock(const char *name)
{
	char path[80];
	struct stat a, b;
	int fd, tries, ret;

	snprintf(path, sizeof(path), "/dev/shm/.ringside.%s.lock", name);
	for (tries = 0; tries < 100; tries++) {
		fd = open(path,
			  O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY |
				  O_NONBLOCK | O_CLOEXEC,
			  0600);
		if (fd < 0) {
			ret = -errno;
			/* fs.protected_regular refuses another user's file
			 * here with EACCES: say whose it is. */
			if (lstat(path, &a) == 0 && S_ISLNK(a.st_mode)) {
				seg_set_why_err(-EPERM,
						"a symbolic link stands at %s",
						path);
				return -EPERM;
			}
			if (ret == -EACCES && lstat(path, &a) == 0 &&
			    foreign(&a, "lock file", path) < 0)
				return -EPERM;
			return ret;
		}
		if (fstat(fd, &a) < 0) {
			ret = -errno;
			close(fd);
			return ret;
		}
		ret = foreign(&a, "lock file", path);
		if (ret == 0 && !S_ISREG(a.st_mode)) {
			seg_set_why_err(-EPERM, "%s is not a regular file",
					path);
			ret = -EPERM;
		}
		if (ret < 0) {
			close(fd);
			return ret;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int err = errno;

			close(fd);
			return err == EWOULDBLOCK ? -EBUSY : -err;
		}
		if (stat(path, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino)
			return fd;
		close(fd);
	}
	return -EBUSY;
}

static void name_unlock(struct ringside_writer *w)
{
	char path[80];

	if (w->lock_fd < 0)
		return;
	snprintf(path, sizeof(path), "/dev/shm/.ringside.%s.lock",
		 w->path + strlen("/dev/shm/ringside."));
	unlink(path);
	close(w->lock_fd);
	w->lock_fd = -1;
}

static int writer_build(struct ringside_writer *w, struct ringside_writer *old,
			const struct ringside_params *p,
			const char *const *names, const char *const *units)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct seg_geometry g;
	char tmp[80];
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
		w->lock_fd = name_lock(p->name);
		if (w->lock_fd < 0)
			return w->lock_fd;
		ret = previous_epoch(w->path, &prev);
		if (ret < 0)
			goto err_lock;
	}

	snprintf(tmp, sizeof(tmp), "/dev/shm/.ringside.%s.XXXXXX", p->name);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto err_lock;
	}
	if (fchmod(fd, p->mode) < 0)
		goto err_errno;
	/* posix_fallocate returns the error rather than setting errno. */
	ret = posix_fallocate(fd, 0, (off_t)g.total_size);
	if (ret != 0) {
		ret = -ret;
		goto err_unlink;
	}
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		goto err_errno;
	base = mmap(NULL, g.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    0);
	if (base == MAP_FAILED)
		goto err_errno;

	/* The file is private until renamed: plain stores suffice here. */
	format(base, &g, p, names, units, prev);

	if (rename(tmp, w->path) < 0) {
		struct stat st;

		ret = -errno;
		/* Another user's file appeared since previous_epoch(). */
		if (ret == -EPERM && lstat(w->path, &st) == 0)
			foreign(&st, "file", w->path);
		munmap(base, g.total_size);
		goto err_unlink;
	}
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

err_errno:
	ret = -errno;
err_unlink:
	unlink(tmp);
	close(fd);
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

/* Store @n bytes of @src as relaxed 64-bit words (n a multiple of 8). */
static void store_words(uint64_t *dst, const void *src, size_t n)
{
	size_t i;

	for (i = 0; i < n / 8; i++) {
		uint64_t v;

		memcpy(&v, (const char *)src + i * 8, 8);
		seg_store_relaxed(&dst[i], v);
	}
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
	store_words((uint64_t *)(slot + 1), readings,
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
	struct seg_header *h = header(w);

	/* Odd: an update is under way.  The fence keeps the counter stores
	 * that follow behind this one, as in the slot's seqlock. */
	seg_store_relaxed(&h->stats_seq, seg_load_relaxed(&h->stats_seq) + 1);
	seg_fence_release();
}

void ringside_writer_stats_end(struct ringside_writer *w)
{
	struct seg_header *h = header(w);

	/* Even again: the release orders every counter store before it. */
	seg_store_release(&h->stats_seq, seg_load_relaxed(&h->stats_seq) + 1);
}

void ringside_writer_sensor_set(struct ringside_writer *w, uint32_t sensor,
				const struct ringside_sensor_stats *s)
{
	struct seg_header *h = header(w);
	struct seg_sensor *t;

	if (sensor >= w->nsensors)
		return;
	t = (struct seg_sensor *)((char *)w->base + h->sensors_off) + sensor;
	store_words(t->counter, s->counter, sizeof(s->counter));
	store_words(t->hist, s->hist, sizeof(s->hist));
}

void ringside_writer_engine_set(struct ringside_writer *w,
				const struct ringside_engine_stats *s)
{
	store_words(header(w)->engine, s->counter, sizeof(s->counter));
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
