/* SPDX-License-Identifier: MIT */
/*
 * segment.c - what writer and reader share: the geometry of a segment, the
 * validation of an untrusted header, the path of a name, the liveness lock
 * and the futex; and what the engine's segment shares with the counters
 * segments of other programs (aux.c): how a file in /dev/shm is built and
 * renamed into place, how one is opened and trusted by a reader, and the
 * counters' seqlock.  See layout.h for the bytes.
 *
 * Liveness: the engine holds an open-file-description write lock on the
 * whole segment for as long as it runs.  The kernel drops it when the
 * engine's last descriptor goes, however the engine ends (SIGKILL
 * included), so a reader that asks with F_OFD_GETLK learns at once whether
 * a writer is still there, without a heartbeat and without trusting a pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"

const uint32_t ringside_hist_bound_us[RINGSIDE_HIST_BUCKETS] = {
	50,    100,   250,    500,    1000,   2500,    5000,	10000,
	25000, 50000, 100000, 250000, 500000, 1000000, 2500000, UINT32_MAX,
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

int seg_geometry(uint32_t ring, uint32_t nsensors, struct seg_geometry *g)
{
	uint64_t slot;

	if (ring < RINGSIDE_RING_MIN || ring > RINGSIDE_RING_MAX ||
	    (ring & (ring - 1)) != 0 || nsensors > RINGSIDE_SENSORS_MAX)
		return -EINVAL;
	/* With both bounds above, no product below can overflow 64 bits. */
	slot = align_up(sizeof(struct seg_slot) +
				(uint64_t)nsensors *
					sizeof(struct ringside_reading),
			SEG_CACHELINE);
	g->slot_size = (uint32_t)slot;
	g->sensors_off = sizeof(struct seg_header);
	g->ring_off = align_up(
		g->sensors_off + (uint64_t)nsensors * sizeof(struct seg_sensor),
		SEG_PAGE);
	g->total_size = g->ring_off + (uint64_t)ring * slot;
	return 0;
}

int seg_check_header(const struct seg_header *h, uint64_t file_size,
		     const char **why)
{
	struct seg_geometry g;

	if (file_size < sizeof(*h)) {
		*why = "file too small for a segment header";
		return -EPROTO;
	}
	if (h->magic != SEG_MAGIC) {
		*why = "not a ringside segment (bad magic)";
		return -EPROTO;
	}
	if (h->version != SEG_VERSION) {
		*why = "unsupported segment layout version";
		return -EPROTO;
	}
	if (h->header_size != sizeof(struct seg_header) ||
	    h->sensor_size != sizeof(struct seg_sensor) ||
	    h->reading_size != sizeof(struct ringside_reading)) {
		*why = "segment record sizes do not match this layout";
		return -EPROTO;
	}
	if (seg_geometry(h->ring, h->nsensors, &g) < 0) {
		*why = "segment ring size or sensor count out of range";
		return -EPROTO;
	}
	if (h->slot_size != g.slot_size || h->sensors_off != g.sensors_off ||
	    h->ring_off != g.ring_off || h->total_size != g.total_size) {
		*why = "segment offsets and sizes do not add up";
		return -EPROTO;
	}
	if (h->total_size != file_size) {
		*why = "segment file size does not match its header";
		return -EPROTO;
	}
	if (memchr(h->name, '\0', sizeof(h->name)) == NULL ||
	    !ringside_name_valid(h->name)) {
		*why = "segment holds an invalid engine name";
		return -EPROTO;
	}
	return 0;
}

int ringside_name_valid(const char *name)
{
	size_t n;

	for (n = 0; name[n] != '\0'; n++) {
		char c = name[n];

		if (n >= RINGSIDE_NAME_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

int seg_path(char *buf, size_t len, const char *name)
{
	int n;

	if (!ringside_name_valid(name))
		return -EINVAL;
	n = snprintf(buf, len, "/dev/shm/ringside.%s", name);
	if (n < 0 || (size_t)n >= len)
		return -EINVAL;
	return 0;
}

int seg_alive(int fd)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0,
	};

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

/* ---- building a file in /dev/shm ---------------------------------------- */

/*
 * The writer replaces only what it owns: in the sticky /dev/shm the kernel
 * would refuse the rename of another user's file anyway, with a bare EPERM
 * that tells nobody what to do.
 */
int seg_foreign(const struct stat *st, const char *what, const char *path)
{
	if (st->st_uid == geteuid())
		return 0;
	seg_set_why_err(-EPERM,
			"a %s owned by another user (uid %u) stands at %s",
			what, (unsigned)st->st_uid, path);
	return -EPERM;
}

/*
 * One writer per name: checking the lock of the file at the path and then
 * renaming would let two writers starting at once both win; the lock file
 * cannot.  After locking, the path must still name the file locked (a
 * closing writer unlinks it), or the lock is on a file nobody else will
 * see.
 *
 * The lock file is never a way in for another user: a symbolic link there
 * is not followed (O_NOFOLLOW), and a file that is not ours is neither
 * locked nor written; both are refused with -EPERM.
 */
int seg_name_lock(const char *tag)
{
	char path[128];
	struct stat a, b;
	int fd, tries, ret;

	ret = snprintf(path, sizeof(path), "/dev/shm/.ringside.%s.lock", tag);
	if (ret < 0 || (size_t)ret >= sizeof(path))
		return -EINVAL;
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
			    seg_foreign(&a, "lock file", path) < 0)
				return -EPERM;
			return ret;
		}
		if (fstat(fd, &a) < 0) {
			ret = -errno;
			close(fd);
			return ret;
		}
		ret = seg_foreign(&a, "lock file", path);
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

void seg_name_unlock(const char *tag, int fd)
{
	char path[128];

	if (fd < 0)
		return;
	snprintf(path, sizeof(path), "/dev/shm/.ringside.%s.lock", tag);
	unlink(path);
	close(fd);
}

/* A file of another user is not even opened: only its lstat is read. */
int seg_previous(const char *path, struct stat *st)
{
	int fd, ret;

	if (lstat(path, st) < 0)
		return -errno;
	ret = seg_foreign(st, "file", path);
	if (ret < 0)
		return ret;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -ENOENT : -errno;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		ret = -ENOENT;
		goto err_close;
	}
	ret = seg_foreign(st, "file", path); /* swapped since the lstat */
	if (ret < 0)
		goto err_close;
	if (seg_alive(fd) == 1) {
		ret = -EBUSY;
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
	return ret;
}

int seg_create(const char *path, const char *tag, uint32_t mode, uint64_t size,
	       seg_fill_fn fill, void *arg, void **basep, int *fdp)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char tmp[128];
	void *base;
	int fd, ret;

	ret = snprintf(tmp, sizeof(tmp), "/dev/shm/.ringside.%s.XXXXXX", tag);
	if (ret < 0 || (size_t)ret >= sizeof(tmp))
		return -EINVAL;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		goto err_errno;
	/* posix_fallocate returns the error rather than setting errno. */
	ret = posix_fallocate(fd, 0, (off_t)size);
	if (ret != 0) {
		ret = -ret;
		goto err_unlink;
	}
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		goto err_errno;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		goto err_errno;

	/* The file is private until renamed: plain stores suffice here. */
	fill(base, arg);

	if (rename(tmp, path) < 0) {
		struct stat st;

		ret = -errno;
		/* Another user's file appeared since the caller looked. */
		if (ret == -EPERM && lstat(path, &st) == 0)
			seg_foreign(&st, "file", path);
		munmap(base, size);
		goto err_unlink;
	}
	*basep = base;
	*fdp = fd;
	return 0;

err_errno:
	ret = -errno;
err_unlink:
	unlink(tmp);
	close(fd);
	return ret;
}

/* ---- reading a file in /dev/shm by name ---------------------------------- */

int seg_open_ro(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0)
		return fd;
	if (errno == ELOOP) {
		seg_set_why("a symbolic link stands in place of the segment");
		return -EPROTO;
	}
	return -errno;
}

/*
 * 1 if a segment owned by @uid may be trusted: ours, root's, any with
 * RINGSIDE_ANY_OWNER, or one listed in RINGSIDE_TRUST_UID ("998,1001").
 * secure_getenv: a set-user-ID reader never takes that list from its
 * caller.
 */
static int owner_trusted(uid_t uid, unsigned flags)
{
	const char *s;

	if ((flags & RINGSIDE_ANY_OWNER) != 0 || uid == geteuid() || uid == 0)
		return 1;
	s = secure_getenv("RINGSIDE_TRUST_UID");
	while (s != NULL && *s >= '0' && *s <= '9') {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno == 0 && (*end == ',' || *end == '\0') &&
		    v == (unsigned long)uid)
			return 1;
		if (*end != ',')
			break;
		s = end + 1;
	}
	return 0;
}

int seg_check_trust(const struct stat *st, unsigned flags)
{
	if (!owner_trusted(st->st_uid, flags)) {
		seg_set_why_err(-EPERM,
				"segment owned by uid %u, not by us "
				"(see docs/security.md)",
				(unsigned)st->st_uid);
		return -EPERM;
	}
	return 0;
}

/* ---- the counters' seqlock, read side ------------------------------------ */

int seg_seqlock_read(const uint64_t *seq, int fd, seg_copy_fn copy, void *arg)
{
	uint64_t s0;
	int tries;

	for (tries = 0; tries < 1000; tries++) {
		/* Acquire pairs with the writer's release of the even value:
		 * an odd one means it is in the middle of an update. */
		s0 = seg_load_acquire(seq);
		if (s0 & 1) {
			if (tries > 10)
				sched_yield();
			continue;
		}
		copy(arg);
		/* The acquire fence keeps every copy above ahead of the
		 * second load (pairs with the writer's release fence). */
		seg_fence_acquire();
		if (seg_load_relaxed(seq) == s0)
			return 0;
	}
	/*
	 * A writer killed in the middle of an update leaves the seqlock odd
	 * for good: its last counters are still worth reading, and nothing
	 * will change them again.
	 */
	if (fd >= 0 && seg_alive(fd) == 0) {
		copy(arg);
		return 0;
	}
	return -EAGAIN;
}

/* ---- the futex ------------------------------------------------------------ */

void seg_futex_wake(uint32_t *word)
{
	/* Shared (not FUTEX_PRIVATE): the waiters are other processes. */
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

int seg_futex_wait(const uint32_t *word, uint32_t val, int64_t timeout_ns)
{
	struct timespec ts = {
		.tv_sec = timeout_ns / 1000000000,
		.tv_nsec = timeout_ns % 1000000000,
	};

	if (syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0) < 0)
		return -errno;
	return 0;
}

/*
 * Why the last call in this thread failed, for ringside_strerror(): a text
 * that belongs to one error code only, so that a later failure with
 * another code never borrows it.  Formatted texts (which name a uid or a
 * path) live in a per-thread buffer.
 */
static __thread int last_why_err;
static __thread const char *last_why;
static __thread char last_why_buf[160];

void seg_set_why(const char *why)
{
	last_why_err = -EPROTO;
	last_why = why;
}

void seg_set_why_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_why_buf, sizeof(last_why_buf), fmt, ap);
	va_end(ap);
	last_why_err = err;
	last_why = last_why_buf;
}

void seg_clear_why(void)
{
	last_why_err = 0;
	last_why = NULL;
}

const char *ringside_strerror(int err)
{
	if (err != 0 && err == last_why_err && last_why != NULL)
		return last_why;
	switch (err) {
	case -ENOENT:
		return "no such segment";
	case -EBUSY:
		return "an engine with that name is already running";
	case -EINVAL:
		return "invalid argument";
	case -ENOSPC:
		return "no space left in /dev/shm";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

const char *ringside_status_name(unsigned status)
{
	static const char *const names[] = { "ok", "failed", "open",
					     "pending" };

	return status < 4 ? names[status] : "unknown";
}

const char *ringside_breaker_name(unsigned state)
{
	static const char *const names[] = { "closed", "open", "half_open" };

	return state < 3 ? names[state] : "unknown";
}

const char *ringside_version(void)
{
	return RINGSIDE_VERSION;
}
