/* SPDX-License-Identifier: MIT */
/*
 * fuzz_frame.c - libFuzzer target for the line framer, engine/frame.c.
 *
 * The input is a schedule, then a byte stream:
 *
 *	byte 0       schedule length minus one (low 4 bits: 1 to 16 entries)
 *	next bytes   the schedule, used round-robin, one entry per chunk:
 *	             low 6 bits n, high 2 bits how the chunk goes in:
 *	               0  n + 1 bytes through engine_frame_feed()
 *	               1  (n + 1) * 128 bytes through engine_frame_feed()
 *	               2  (n + 1) * 64 bytes through engine_frame_space()
 *	                  and engine_frame_commit()
 *	               3  engine_frame_reset(), then n + 1 bytes fed
 *	the rest     the stream, cut into those chunks
 *
 * After every piece the framer takes, the target drains engine_frame_next()
 * until -EAGAIN, as the engine does.  What comes out is compared with a
 * model of frame.h's contract, run over the same bytes: every complete line
 * of at most ENGINE_FRAME_LINE_MAX bytes (a final '\r' removed) comes out
 * whole and in order, with no '\n' in it; every longer one gives exactly one
 * -EMSGSIZE, as soon as the buffer fills or at its newline; an unfinished
 * line gives nothing until it fills the buffer.  A drained framer must take
 * at least one more byte, or the engine's loop would spin.  A broken promise
 * calls __builtin_trap() so that libFuzzer reports it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

/*
 * The model: the line being received, and what the framer owes the caller
 * (lines and -EMSGSIZE, in order) for the chunk being put in.
 */
struct model {
	char cur[ENGINE_FRAME_BUF_SIZE];
	size_t curlen;	 /* bytes of the line so far, kept up to the buffer */
	bool reported;	 /* its -EMSGSIZE is already owed */
	int *ret;	 /* owed results: a length or -EMSGSIZE */
	size_t *off;	 /* where an owed line's text starts in text */
	size_t nr, next; /* owed results, and the next one to come */
	char *text;
	size_t textlen;
};

static void model_owe(struct model *m, int ret, const char *line)
{
	m->ret[m->nr] = ret;
	m->off[m->nr] = m->textlen;
	if (ret > 0) {
		memcpy(m->text + m->textlen, line, (size_t)ret);
		m->textlen += (size_t)ret;
	}
	m->nr++;
}

static void model_byte(struct model *m, char c)
{
	size_t n;

	if (c == '\n') {
		n = m->curlen;
		if (n > 0 && n <= sizeof(m->cur) && m->cur[n - 1] == '\r')
			n--;
		if (!m->reported)
			model_owe(m,
				  n > ENGINE_FRAME_LINE_MAX ? -EMSGSIZE
							    : (int)n,
				  m->cur);
		m->curlen = 0;
		m->reported = false;
		return;
	}
	if (m->curlen < sizeof(m->cur))
		m->cur[m->curlen] = c;
	m->curlen++;
	/* A line that fills the buffer is over-long whatever follows. */
	if (m->curlen == sizeof(m->cur) && !m->reported) {
		model_owe(m, -EMSGSIZE, NULL);
		m->reported = true;
	}
}

/* Take everything the framer has, matching it with what the model owes. */
static void drain(struct engine_frame *fr, struct model *m)
{
	const char *line;
	int ret;

	while ((ret = engine_frame_next(fr, &line)) != -EAGAIN) {
		check(ret == -EMSGSIZE ||
		      (ret >= 0 && ret <= ENGINE_FRAME_LINE_MAX));
		check(m->next < m->nr);
		check(ret == m->ret[m->next]);
		if (ret >= 0) {
			check(line >= fr->buf &&
			      line + ret <= fr->buf + sizeof(fr->buf));
			check(memchr(line, '\n', (size_t)ret) == NULL);
			check(memcmp(line, m->text + m->off[m->next],
				     (size_t)ret) == 0);
		}
		m->next++;
	}
	check(fr->start <= fr->scan && fr->scan <= fr->end &&
	      fr->end <= sizeof(fr->buf));
}

static void put_chunk(struct engine_frame *fr, struct model *m, const char *p,
		      size_t n, bool direct)
{
	size_t i, k, avail;
	char *dst;

	/* What these bytes owe: lines are at most one per byte. */
	m->nr = m->next = 0;
	m->textlen = 0;
	for (i = 0; i < n; i++)
		model_byte(m, p[i]);
	while (n > 0) {
		if (direct) {
			dst = engine_frame_space(fr, &avail);
			check(avail >= 1 && dst >= fr->buf &&
			      dst + avail <= fr->buf + sizeof(fr->buf));
			k = n < avail ? n : avail;
			memcpy(dst, p, k);
			engine_frame_commit(fr, k);
		} else {
			k = engine_frame_feed(fr, p, n);
			check(k >= 1 && k <= n);
		}
		p += k;
		n -= k;
		drain(fr, m);
	}
	check(m->next == m->nr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct engine_frame fr;
	static struct model m;
	const uint8_t *sched;
	size_t nsched, i, n, max;

	if (len < 1)
		return 0;
	nsched = (data[0] & 15u) + 1;
	if (len < 1 + nsched)
		return 0;
	sched = data + 1;
	data += 1 + nsched;
	len -= 1 + nsched;

	/*
	 * A chunk is at most 64 * 128 bytes, and owes at most one result per
	 * byte; its first line may have begun in earlier chunks.
	 */
	max = 64 * 128;
	memset(&m, 0, offsetof(struct model, ret));
	m.ret = malloc(max * sizeof(*m.ret));
	m.off = malloc(max * sizeof(*m.off));
	m.text = malloc(max + ENGINE_FRAME_BUF_SIZE);
	if (!m.ret || !m.off || !m.text)
		goto out;
	engine_frame_init(&fr);
	for (i = 0; len > 0; i++) {
		uint8_t s = sched[i % nsched];
		unsigned int op = s >> 6;

		n = (s & 0x3fu) + 1;
		if (op == 1)
			n *= 128;
		else if (op == 2)
			n *= 64;
		if (n > len)
			n = len;
		if (op == 3) {
			engine_frame_reset(&fr);
			m.curlen = 0;
			m.reported = false;
		}
		put_chunk(&fr, &m, (const char *)data, n, op == 2);
		data += n;
		len -= n;
	}
out:
	free(m.ret);
	free(m.off);
	free(m.text);
	m.ret = NULL;
	m.off = NULL;
	m.text = NULL;
	return 0;
}
