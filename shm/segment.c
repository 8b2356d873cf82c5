/* SPDX-License-Identifier: MIT */
/*
 * segment.c - what writer and reader share: the geometry of a segment, the
 * validation of an untrusted header, the path of a name, the liveness lock
 * and the futex.  See layout.h for the bytes.
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
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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
