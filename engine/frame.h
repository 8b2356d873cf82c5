/* SPDX-License-Identifier: MIT */
/*
 * frame.h - cut a byte stream into lines.
 *
 * Stream sources (FIFOs, ttys, stream sockets) deliver bytes in whatever
 * pieces the kernel hands over; a record is one line. The framer keeps the
 * bytes of an unfinished line across reads and hands out complete lines, one
 * at a time, without their "\n" or "\r\n".
 *
 * A line may hold at most ENGINE_FRAME_LINE_MAX bytes. A longer one produces
 * exactly one -EMSGSIZE, and everything up to and including its newline is
 * dropped: the framer resynchronises on the next line and carries on.
 *
 * The caller owns the struct (the buffer lives inside it, so no allocation is
 * ever made) and uses it from one thread. Bytes go in either by copy
 * (engine_frame_feed) or by reading straight into the buffer
 * (engine_frame_space then engine_frame_commit). A typical loop:
 *
 *	while (n > 0) {
 *		size_t k = engine_frame_feed(&fr, data, n);
 *		data += k, n -= k;
 *		while ((len = engine_frame_next(&fr, &line)) != -EAGAIN)
 *			handle(len, line);	// len < 0: -EMSGSIZE
 *	}
 *
 * Draining engine_frame_next() until -EAGAIN always leaves room for at least
 * one more byte, so the loop always makes progress.
 */
#ifndef ENGINE_FRAME_H
#define ENGINE_FRAME_H

#include <stdbool.h>
#include <stddef.h>

#include "value.h"

/* The longest line, without its line ending; the same limit as a record. */
#define ENGINE_FRAME_LINE_MAX ENGINE_VALUE_RECORD_MAX

/*
 * Room for a full line plus its '\r', and one byte more: an unfinished line
 * that fills the buffer is over-long whatever comes next.
 */
#define ENGINE_FRAME_BUF_SIZE (ENGINE_FRAME_LINE_MAX + 2)

struct engine_frame {
	size_t start;	 /* first byte not yet handed out */
	size_t end;	 /* one past the last byte received */
	size_t scan;	 /* bytes in [start, scan) hold no '\n' */
	bool discarding; /* dropping the rest of an over-long line */
	char buf[ENGINE_FRAME_BUF_SIZE];
};

/* Start empty. */
void engine_frame_init(struct engine_frame *fr);

/* Forget everything buffered (after a reconnect or reopen). */
void engine_frame_reset(struct engine_frame *fr);

/*
 * Copy in up to len bytes of data. Returns how many were taken (0 to len):
 * fewer than len when the buffer is full, in which case the caller drains
 * engine_frame_next() and feeds the rest. Lines previously returned by
 * engine_frame_next() become invalid.
 */
size_t engine_frame_feed(struct engine_frame *fr, const char *data, size_t len);

/*
 * Where to receive directly: returns a pointer to *avail free bytes at the
 * end of the buffer (compacting it first, which invalidates earlier lines).
 * *avail is at least 1 once engine_frame_next() has returned -EAGAIN. The
 * pointer stays valid until the next call on fr, so a read into it must
 * have completed (and been committed) before the framer is used again.
 */
char *engine_frame_space(struct engine_frame *fr, size_t *avail);

/* Account for n bytes written at engine_frame_space(); n <= *avail. */
void engine_frame_commit(struct engine_frame *fr, size_t n);

/*
 * Take the next complete line. Returns its length (0 to
 * ENGINE_FRAME_LINE_MAX) with *line pointing at it inside the framer, valid
 * until the next feed, space, commit or reset; or -EAGAIN when no complete
 * line is buffered; or -EMSGSIZE once for each over-long line. A trailing
 * '\r' is removed; an empty line is returned as length 0.
 */
int engine_frame_next(struct engine_frame *fr, const char **line);

#endif
