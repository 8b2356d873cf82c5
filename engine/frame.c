/* SPDX-License-Identifier: MIT */
/*
 * frame.c - cut a byte stream into lines.
 *
 * The buffer holds [start, end): bytes received but not yet handed out.
 * [start, scan) is known to hold no '\n', so each byte is searched once.
 * Free room is made by moving the unfinished line to the front, which only
 * happens when bytes come in, never while a returned line is in use.
 *
 * Over-long lines are detected in two places. If the buffer fills up with no
 * newline, the line is over-long whatever follows: the framer reports it,
 * drops the buffer and enters discard mode, in which incoming bytes are
 * thrown away up to and including the next '\n'. If a newline arrives while
 * the line still fits in the buffer but exceeds ENGINE_FRAME_LINE_MAX (the
 * buffer keeps one spare byte for a '\r'), that line is reported and skipped.
 * Either way one over-long line gives exactly one -EMSGSIZE.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "frame.h"

void engine_frame_init(struct engine_frame *fr)
{
	fr->start = 0;
	fr->end = 0;
	fr->scan = 0;
	fr->discarding = false;
}

void engine_frame_reset(struct engine_frame *fr)
{
	engine_frame_init(fr);
}

static void frame_compact(struct engine_frame *fr)
{
	size_t n = fr->end - fr->start;

	if (fr->start == 0)
		return;
	memmove(fr->buf, fr->buf + fr->start, n);
	fr->scan -= fr->start;
	fr->start = 0;
	fr->end = n;
}

char *engine_frame_space(struct engine_frame *fr, size_t *avail)
{
	frame_compact(fr);
	*avail = sizeof(fr->buf) - fr->end;
	return fr->buf + fr->end;
}

void engine_frame_commit(struct engine_frame *fr, size_t n)
{
	char *p = fr->buf + fr->end;
	char *nl;

	assert(n <= sizeof(fr->buf) - fr->end);
	if (!fr->discarding) {
		fr->end += n;
		return;
	}
	/* The bytes up to the newline belong to the over-long line. */
	nl = memchr(p, '\n', n);
	if (!nl)
		return;
	fr->discarding = false;
	n -= (size_t)(nl + 1 - p);
	memmove(p, nl + 1, n);
	fr->end += n;
}

size_t engine_frame_feed(struct engine_frame *fr, const char *data, size_t len)
{
	size_t taken = 0;

	while (taken < len) {
		size_t avail, n;
		char *dst;

		if (fr->discarding) {
			/* Skip without copying: the line may be huge. */
			const char *nl =
				memchr(data + taken, '\n', len - taken);

			if (!nl)
				return len;
			fr->discarding = false;
			taken = (size_t)(nl + 1 - data);
			continue;
		}
		dst = engine_frame_space(fr, &avail);
		if (avail == 0)
			break;
		n = len - taken < avail ? len - taken : avail;
		memcpy(dst, data + taken, n);
		engine_frame_commit(fr, n);
		taken += n;
	}
	return taken;
}

int engine_frame_next(struct engine_frame *fr, const char **line)
{
	const char *nl;
	size_t len;

	nl = memchr(fr->buf + fr->scan, '\n', fr->end - fr->scan);
	if (!nl) {
		fr->scan = fr->end;
		if (fr->end - fr->start < sizeof(fr->buf))
			return -EAGAIN;
		/* A full buffer and no newline: over-long for sure. */
		engine_frame_init(fr);
		fr->discarding = true;
		return -EMSGSIZE;
	}
	*line = fr->buf + fr->start;
	len = (size_t)(nl - *line);
	fr->start += len + 1;
	fr->scan = fr->start;
	if (len > 0 && (*line)[len - 1] == '\r')
		len--;
	if (len > ENGINE_FRAME_LINE_MAX)
		return -EMSGSIZE;
	return (int)len;
}
