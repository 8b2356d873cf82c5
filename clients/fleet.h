/* SPDX-License-Identifier: MIT */
/*
 * fleet.h - the pure core of ringside-bridge: the names it gives batches
 * in a NATS JetStream stream, the cursor file it leaves behind, where it
 * resumes, and the window of publishes awaiting their acks.
 *
 * One engine's batches become one chain of messages on one subject,
 * PREFIX.HOST_.NAME, each named by its Nats-Msg-Id HOST/NAME/EPOCH/SEQ so
 * that the server drops a replay as a duplicate; a gap marker
 * HOST/NAME/EPOCH/gap-FIRST-LAST stands in the chain for batches the ring
 * no longer held.  The bridge (clients/bridge.c) is the thin shell that
 * feeds this core what libnats and libringside tell it.
 *
 * Nothing here touches NATS, the segment, a clock or a lock: time comes in
 * as an argument (CLOCK_MONOTONIC nanoseconds), and the only I/O is the
 * cursor file.  Functions return 0 (or a length, a count) or a negative
 * errno value, and never print.
 */
#ifndef RINGSIDE_CLIENTS_FLEET_H
#define RINGSIDE_CLIENTS_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringside.h"

#define FLEET_HOST_MAX 255   /* a host name, without NUL */
#define FLEET_PREFIX_MAX 128 /* a subject prefix, without NUL */
#define FLEET_STREAM_MAX 128 /* a stream name, without NUL */
/* PREFIX.HOST_.NAME and its NUL. */
#define FLEET_SUBJECT_MAX \
	(FLEET_PREFIX_MAX + 1 + FLEET_HOST_MAX + 1 + RINGSIDE_NAME_MAX + 1)
/* HOST/NAME/EPOCH/gap-FIRST-LAST and its NUL: three 20-digit numbers. */
#define FLEET_ID_MAX (FLEET_HOST_MAX + 1 + RINGSIDE_NAME_MAX + 4 + 3 * 20 + 4)
/* The gap marker's JSON: the host may double in length when escaped. */
#define FLEET_GAP_DATA_MAX (128 + RINGSIDE_NAME_MAX + 2 * FLEET_HOST_MAX + 80)
#define FLEET_URLS_MAX 32 /* servers in one --nats list */

/* The NATS headers the bridge sets. */
#define FLEET_HDR_MSG_ID "Nats-Msg-Id"
#define FLEET_HDR_GAP "Ringside-Gap"
/* The order guards: the subject's last message is this stream sequence;
 * the stream's last message (of those with an id) has this id. */
#define FLEET_HDR_EXPECT_SEQ "Nats-Expected-Last-Subject-Sequence"
#define FLEET_HDR_EXPECT_ID "Nats-Expected-Last-Msg-Id"

/* ---- names -------------------------------------------------------------- */

/*
 * What a Nats-Msg-Id names: batch @seq of one engine's epoch, or (@gap) the
 * batches @first..@seq that the ring no longer held.  For a batch, @first
 * equals @seq.  Either way @seq is the message's place in the chain: the
 * batch that comes after it is @seq + 1.
 */
struct fleet_id {
	char host[FLEET_HOST_MAX + 1];
	char name[RINGSIDE_NAME_MAX + 1];
	uint64_t epoch;
	uint64_t first;
	uint64_t seq;
	bool gap;
};

/*
 * 1 if @host can name a host in a Nats-Msg-Id and a subject: 1 to
 * FLEET_HOST_MAX printable ASCII characters, no '/' (the id's separator),
 * no '*' or '>' (subject wildcards); 0 if not.
 */
int fleet_host_valid(const char *host);

/* 1 if @prefix is a literal subject: dot-separated non-empty tokens of
 * printable ASCII without wildcards, at most FLEET_PREFIX_MAX long. */
int fleet_prefix_valid(const char *prefix);

/* 1 if @stream is a JetStream stream name: 1 to FLEET_STREAM_MAX printable
 * ASCII characters without '.', '*', '>', '/' or '\\'. */
int fleet_stream_valid(const char *stream);

/*
 * fleet_subject - PREFIX.HOST_.NAME into @buf: the host's dots become '_'
 * (a dot would split it into two subject tokens).  Returns the length,
 * -EINVAL for an invalid prefix, host or name, -ENOSPC if @len is short.
 */
int fleet_subject(char *buf, size_t len, const char *prefix, const char *host,
		  const char *name);

/*
 * 1 if subject @subject is matched by the subject filter @pattern, whose
 * tokens may be '*' (any one token) or a final '>' (one or more); 0 if not.
 */
int fleet_subject_match(const char *pattern, const char *subject);

/*
 * fleet_id_format - the Nats-Msg-Id of @id into @buf: HOST/NAME/EPOCH/SEQ,
 * or HOST/NAME/EPOCH/gap-FIRST-LAST.  Returns the length, -EINVAL for an
 * invalid host, name or numbers (epoch 0, seq 0, first > seq), -ENOSPC.
 */
int fleet_id_format(char *buf, size_t len, const struct fleet_id *id);

/*
 * fleet_id_parse - the other way round, for an id read back from the
 * stream, which may hold anything: @s must be exactly one of the two forms
 * above, with a valid host and engine name and decimal numbers (no sign,
 * no leading zero, no overflow, epoch and seq > 0, first <= last).
 * Returns 0, or -EINVAL (and @id is zeroed).
 */
int fleet_id_parse(const char *s, struct fleet_id *id);

/* The Ringside-Gap header's value, "FIRST-LAST".  Returns the length, or
 * -EINVAL (first 0 or > last), -ENOSPC. */
int fleet_gap_header(char *buf, size_t len, uint64_t first, uint64_t last);

/*
 * fleet_gap_data - the gap marker's data, one JSON object:
 * {"engine":"NAME","host":"HOST","epoch":EPOCH,
 *  "gap":{"first":FIRST,"last":LAST,"lost":N}}
 * with HOST escaped as a JSON string.  Returns the length, -EINVAL, or
 * -ENOSPC (FLEET_GAP_DATA_MAX bytes are always enough).
 */
int fleet_gap_data(char *buf, size_t len, const struct fleet_id *gap);

/* ---- the command line ---------------------------------------------------- */

/*
 * fleet_urls_split - split the --nats list @list (modified: each ',' becomes
 * a NUL) into up to @max server URLs in @urls.  Each must be
 * [nats://|tls://][USER[:PASS]@]HOST[:PORT], HOST a name, an IPv4 address
 * or a bracketed IPv6 address, PORT 1-65535.  Returns the count (>= 1),
 * -EINVAL for an empty or malformed URL, -E2BIG for more than @max.
 */
int fleet_urls_split(char *list, const char **urls, int max);

/*
 * fleet_duration_parse - a duration as the engine's configuration writes
 * it: a decimal number with an optional fraction and a unit, us, ms, s, m
 * or h, a bare number being milliseconds ("2s", "250ms", "1.5s", "100").
 * Returns 0, -EINVAL for anything else, -ERANGE past UINT64_MAX ns.
 */
int fleet_duration_parse(const char *text, uint64_t *ns);

/*
 * The number of different servers (HOST:PORT, the port 4222 when none is
 * given; scheme and user left aside) among the @n URLs @urls, which
 * fleet_urls_split() accepted.  Returns the count.
 */
int fleet_servers_distinct(const char *const *urls, int n);

/*
 * The stream's duplicate window, in nanoseconds: at least 2 minutes, and
 * long enough for a replay of the whole ring (2 x ring x period), so that
 * whatever the bridge publishes again is still recognised.  Saturates at
 * INT64_MAX (the stream config's type).
 */
uint64_t fleet_dup_window_ns(uint32_t ring, uint64_t period_ns);

/* ---- the cursor file ---------------------------------------------------- */

/* The last batch acked, as the cursor file keeps it: one line "EPOCH SEQ". */
struct fleet_cursor {
	uint64_t epoch;
	uint64_t seq;
};

/*
 * Parse the @len bytes at @text: "EPOCH SEQ" and an optional newline,
 * decimal, epoch > 0.  Returns 0, or -EINVAL for anything else.
 */
int fleet_cursor_parse(const char *text, size_t len, struct fleet_cursor *c);

/*
 * fleet_cursor_read - read cursor file @path.  Returns 0; -ENOENT when there
 * is none; -EINVAL when it is not a regular file of one valid line (a
 * corrupt cursor, to be ignored: it is only a hint); other -errno.
 */
int fleet_cursor_read(const char *path, struct fleet_cursor *c);

/*
 * fleet_cursor_write - replace @path atomically: write "EPOCH SEQ\n" to
 * @path.tmp, fsync it, rename it over @path, fsync the directory.  A crash
 * leaves the old cursor or the new one, never a torn one.  Returns 0,
 * -ENAMETOOLONG, or another -errno (the .tmp file is removed).
 */
int fleet_cursor_write(const char *path, const struct fleet_cursor *c);

/* ---- where to resume ----------------------------------------------------- */

/* Where to start when nothing says where to resume. */
enum fleet_from {
	FLEET_FROM_OLDEST, /* the oldest batch the ring holds (--from oldest) */
	FLEET_FROM_NOW,	   /* the next batch published (--from now) */
	FLEET_FROM_FIRST,  /* batch 1 of the epoch: a new epoch is followed
			      from its start, its losses marked */
};

/* What told the bridge where to resume. */
enum fleet_source {
	FLEET_SOURCE_DONE,   /* this process's own acks (after a failure) */
	FLEET_SOURCE_STREAM, /* the stream's last message */
	FLEET_SOURCE_CURSOR, /* the cursor file */
	FLEET_SOURCE_FROM,   /* nothing: --from, or the epoch's start */
};

/* A place in an epoch's chain: every batch <= seq is settled. */
struct fleet_pos {
	uint64_t epoch;
	uint64_t seq;
};

struct fleet_resume_in {
	/* Each may be NULL: nothing known. */
	const struct fleet_pos *done;	/* this process: acked in order */
	const struct fleet_pos *stream; /* the stream's last id, parsed */
	const struct fleet_pos *cursor; /* the cursor file */
	uint64_t epoch;			/* the segment's */
	uint64_t oldest;		/* the oldest batch the ring holds */
	uint64_t newest;		/* the newest published (0: none) */
	enum fleet_from from;
};

/* Sources that were ignored because they named a batch not published yet
 * (junk in the stream, a cursor of a segment that looked the same). */
#define FLEET_IGNORED_STREAM 0x1
#define FLEET_IGNORED_CURSOR 0x2
#define FLEET_IGNORED_DONE 0x4

struct fleet_resume {
	uint64_t next;	    /* the first batch to publish */
	uint64_t gap_first; /* batches gap_first..gap_last are gone: */
	uint64_t gap_last;  /* a gap marker first (gap_first 0: none) */
	enum fleet_source source;
	unsigned ignored; /* FLEET_IGNORED_* */
};

/*
 * fleet_resume_decide - where publishing resumes.  A source counts only
 * when it is about this epoch and names a batch already published
 * (<= newest); the first that counts wins: this process's own progress
 * (@done, exact), then the stream's last message, then the cursor file (a
 * hint).  With @done, a stream that holds less than it (purged, or a
 * node that lost its disk) is taken at its word, so that what it lost is
 * published again: nothing is skipped.  When none counts, a source naming
 * an older epoch of this engine means the bridge was following it, so this
 * epoch is taken from its first batch; otherwise @from decides.  A @next
 * before @oldest is moved to @oldest, with a gap marker for the batches
 * before it that neither our acks nor the stream's last message cover.
 */
void fleet_resume_decide(const struct fleet_resume_in *in,
			 struct fleet_resume *out);

/* ---- the window of publishes awaiting their acks ---------------------- */

/* The state of one publish. */
enum fleet_ack {
	FLEET_SENT,	 /* awaiting its ack */
	FLEET_STORED,	 /* acked: stored for the first time */
	FLEET_DUPLICATE, /* acked: the stream already held it */
	FLEET_FAILED,	 /* refused, or not sent */
	FLEET_TIMEDOUT,	 /* no ack within the ack timeout */
};

struct fleet_pending {
	uint64_t first;	  /* a gap marker's FIRST; == seq for a batch */
	uint64_t seq;	  /* the batch, or the gap marker's LAST */
	uint64_t sent_ns; /* when it was handed to the client library */
	uint64_t sseq;	  /* the stream sequence from its ack */
	uintptr_t tag;	  /* the shell's handle, to match its result */
	int err;	  /* the shell's error code, when it failed */
	int code;	  /* the server's error code, when it failed */
	bool gap;
	enum fleet_ack state;
};

/*
 * Publishes in the order they were sent, oldest first: a ring of @cap
 * entries in caller memory.  Results may come in any order; they are
 * taken back in send order (fleet_window_pop), which is what keeps the
 * chain's progress in order.
 */
struct fleet_window {
	struct fleet_pending *slot;
	uint32_t cap;
	uint32_t head;	/* the oldest entry */
	uint32_t count; /* entries held */
	uint32_t unsettled;
};

/* @slots: @cap entries (>= 1), owned by the caller for the window's life. */
void fleet_window_init(struct fleet_window *w, struct fleet_pending *slots,
		       uint32_t cap);

/* Forget every entry (their results will be ignored as stale). */
void fleet_window_clear(struct fleet_window *w);

/*
 * Add @p (its state set to FLEET_SENT, @now its send time) as the newest
 * entry; @now never goes back from one push to the next.  Returns 0, or
 * -ENOSPC when the window is full.
 */
int fleet_window_push(struct fleet_window *w, const struct fleet_pending *p,
		      uint64_t now);

/*
 * Record the result @state (not FLEET_SENT) of the entry with @tag, with
 * the stream sequence @sseq (acks) or the error codes @err and @code.  The
 * first result of an entry wins.  Returns 0, or -ENOENT for a tag the
 * window does not hold (a result of publishes already given up).
 */
int fleet_window_settle(struct fleet_window *w, uintptr_t tag,
			enum fleet_ack state, uint64_t sseq, int err, int code);

/*
 * Mark FLEET_TIMEDOUT every entry still awaiting its ack that was sent at
 * or before @now - @timeout_ns.  Returns how many.
 */
uint32_t fleet_window_expire(struct fleet_window *w, uint64_t now,
			     uint64_t timeout_ns);

/*
 * Take the oldest entry into @out if it has its result.  Returns 1, or 0
 * when the window is empty or its oldest entry still awaits its ack.
 */
int fleet_window_pop(struct fleet_window *w, struct fleet_pending *out);

/* The send time of the oldest entry still awaiting its ack; UINT64_MAX
 * when none does. */
uint64_t fleet_window_oldest_unsettled(const struct fleet_window *w);

/* The oldest entry, or NULL when the window is empty. */
const struct fleet_pending *fleet_window_front(const struct fleet_window *w);

/*
 * fleet_window_may_send - whether one more publish may go out at @now.
 * Always when nothing is in flight.  Otherwise only while the window has
 * room under @limit (1 makes it stop-and-wait), and only while every
 * publish in flight is younger than @fence_ns: an ack that is late means
 * trouble, and whatever is sent behind a lost message is sent for nothing
 * (the order guards make the server refuse it).  Returns true or false.
 */
bool fleet_window_may_send(const struct fleet_window *w, uint32_t limit,
			   uint64_t now, uint64_t fence_ns);

#endif /* RINGSIDE_CLIENTS_FLEET_H */
