/* SPDX-License-Identifier: MIT */
/*
 * test_bridge.c - ringside-bridge against a real 3-node NATS JetStream
 * cluster on loopback (tests/nats.h): every batch of every engine must
 * reach the stream exactly once and in order, whatever happens to the
 * cluster or to the bridge, and an outage longer than the ring must be
 * reported and marked with the exact loss.
 *
 * Each scenario runs real engines (ringsided, period 10 ms, one file
 * sensor) and real bridges.  A recorder thread per engine reads the
 * engine's segment from its first batch, as any client would, and keeps
 * the JSON line of every batch; once the engines have stopped and the
 * bridges have caught up and been stopped, the whole stream is read back
 * message by message and walked per subject: the Nats-Msg-Id of each
 * message names the batch (HOST/NAME/EPOCH/SEQ) or the gap it stands for
 * (HOST/NAME/EPOCH/gap-FIRST-LAST), sequence numbers must follow each
 * other without a repeat or a hole that no gap marker accounts for, the
 * data must be that batch's JSON line (its "lost" field aside, which is
 * the bridge's reader's own), and nothing may sit in the stream that no
 * engine published.  The bridge's counters (its ringside_aux segment) and
 * the cursor it leaves are checked at the end.
 *
 * Nothing is timed.  Every wait is for something that must happen (a
 * batch stored, the breaker open, a process gone) with a generous bound;
 * outages last until the behaviour they are meant to cause has been seen.
 * The cluster tests skip when nats-server is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <criterion/parameterized.h>

#include "harness.h"
#include "nats.h"
#include "ringside.h"

#define BR_STREAM "RINGSIDE"
#define BR_HOST "rack1.site"	     /* as given: in the Nats-Msg-Id */
#define BR_HOST_SUBJECT "rack1_site" /* its dots as '_': in the subject */
#define BR_PERIOD "10ms"
#define BR_ENGINE_S "110"    /* an engine stops by itself after this */
#define BR_BATCHES_MAX 12000 /* more than BR_ENGINE_S at BR_PERIOD */
#define BR_ENGINES_MAX 2
#define BR_GAPS_MAX 32
#define BR_LINE_MAX 2048
#define BR_WAIT_MS 60000	/* what must happen happens by then */
#define BR_STOP_MS 15000	/* SIGTERM: 5 s for the acks, then exit 0 */
#define BR_PERIOD_NS 10000000LL /* BR_PERIOD */
#define BR_DUP_MIN_NS 120000000000LL /* the shortest duplicate window */

/* ---- engines and their recorders --------------------------------------- */

struct br_engine {
	char name[40];
	char cfg[256];
	char subject[128]; /* ringside.HOST_.NAME */
	char idpre[128];   /* HOST/NAME/EPOCH/ */
	pid_t pid;
	uint32_t ring;
	uint64_t epoch;
	struct ringside_reader r;
	pthread_t thread;
	bool recording;
	atomic_bool stop;
	_Atomic uint64_t head; /* the last batch recorded */
	uint64_t final;	       /* the last batch, once the engine stopped */
	uint64_t rec_lost;     /* batches the recorder itself missed */
	int end;	       /* the event that ended the recording */
	char **line;	       /* [seq]: the JSON line, "lost" set to 0 */
	/* What the stream holds for this engine (br_verify). */
	uint64_t batches;
	unsigned gaps;
	uint64_t gap_lost;
	uint64_t gap_first[BR_GAPS_MAX], gap_last[BR_GAPS_MAX];
};

/* One ringside-bridge publishing an engine's batches. */
struct br_bridge {
	pid_t pid; /* 0 when not running */
	const struct br_engine *e;
	char state[256]; /* its --state file */
	char log[64];	 /* stdout and stderr of the latest run */
	unsigned starts;
};

/* Statics, not the test's stack: .fini runs after an assertion left it. */
static struct {
	struct br_engine e[BR_ENGINES_MAX];
	struct br_bridge b[BR_ENGINES_MAX];
	unsigned ne, nb;
} br;

/* The counters of contract order, found by name in the aux segment. */
enum br_counter {
	BR_PUBLISHED,
	BR_ACKED,
	BR_DUPLICATES,
	BR_RETRIES,
	BR_FAILURES,
	BR_TIMEOUTS,
	BR_BREAKER,
	BR_FAST_FAILS,
	BR_LAG,
	BR_GAPS,
	BR_LOST,
	BR_EPOCH,
	BR_LAST_SEQ,
	BR_OUTSTANDING,
	BR_CONNECTED,
	BR_COUNTERS
};

static const char *const br_keys[BR_COUNTERS] = {
	"published", "acked",	"duplicates", "retries",     "failures",
	"timeouts",  "breaker", "fast_fails", "lag",	     "gaps",
	"lost",	     "epoch",	"last_seq",   "outstanding", "connected",
};

/* Stop the recorders and free what they kept (also from .fini). */
static void br_fini(void *arg)
{
	unsigned i;
	uint64_t s;

	(void)arg;
	for (i = 0; i < br.ne; i++) {
		struct br_engine *e = &br.e[i];

		if (e->recording) {
			atomic_store(&e->stop, true);
			pthread_join(e->thread, NULL);
			e->recording = false;
		}
		if (e->r.base != NULL)
			ringside_reader_detach(&e->r);
		memset(&e->r, 0, sizeof(e->r));
		for (s = 0; e->line != NULL && s < BR_BATCHES_MAX; s++)
			free(e->line[s]);
		free(e->line);
		e->line = NULL;
	}
	br.ne = 0;
}

/*
 * The suite's .init: the harness's h_init(), and the recorders' clean-up
 * hooked into its .fini (h_fini), which the suite names.
 */
static void br_init(void)
{
	h_init();
	memset(&br, 0, sizeof(br));
	h_at_fini(br_fini, NULL);
}

TestSuite(bridge, .init = br_init, .fini = h_fini, .timeout = 180);

/* @line with the value of its "lost" field made 0, into @out. */
static void br_unlost(const char *line, char *out, size_t len)
{
	const char *p = strstr(line, "\"lost\":");
	size_t head;

	if (p == NULL) {
		snprintf(out, len, "%s", line);
		return;
	}
	p += strlen("\"lost\":");
	head = (size_t)(p - line);
	while (*p >= '0' && *p <= '9')
		p++;
	snprintf(out, len, "%.*s0%s", (int)head, line, p);
}

/*
 * The recorder: every batch of the segment from its first, as a client
 * reads it, until the engine stops (or the test says stop).  Only this
 * thread writes the engine's line[] and counts until it is joined; the
 * test reads head meanwhile.
 */
static void *br_record(void *arg)
{
	struct br_engine *e = arg;
	struct ringside_reading v[H_SENSORS_MAX];
	char names[H_SENSORS_MAX][RINGSIDE_NAME_MAX + 1];
	char units[H_SENSORS_MAX][RINGSIDE_UNIT_MAX + 1];
	const char *np[H_SENSORS_MAX], *up[H_SENSORS_MAX];
	struct ringside_batch b;
	struct ringside_params p;
	uint32_t i;

	ringside_reader_params(&e->r, &p);
	for (i = 0; i < p.nsensors && i < H_SENSORS_MAX; i++) {
		ringside_reader_sensor(&e->r, i, names[i], units[i]);
		np[i] = names[i];
		up[i] = units[i];
	}
	for (;;) {
		int ev;

		while (ringside_reader_next(&e->r, &b, v, H_SENSORS_MAX) > 0) {
			char line[BR_LINE_MAX], norm[BR_LINE_MAX];

			e->rec_lost += b.lost;
			if (b.seq < BR_BATCHES_MAX &&
			    ringside_json_batch(line, sizeof(line), e->name,
						e->epoch, np, up, &b, v) > 0) {
				br_unlost(line, norm, sizeof(norm));
				e->line[b.seq] = strdup(norm);
			}
			atomic_store(&e->head, b.seq);
		}
		if (atomic_load(&e->stop)) {
			e->end = RINGSIDE_TIMEOUT;
			return NULL;
		}
		ev = ringside_reader_wait(&e->r, 100);
		if (ev == RINGSIDE_CLOSED || ev == RINGSIDE_DEAD ||
		    ev == RINGSIDE_REPLACED) {
			if (ringside_reader_state(&e->r) == RINGSIDE_READY)
				continue; /* drain what is left first */
			e->end = ev;
			return NULL;
		}
	}
}

/*
 * Start engine te<pid>@tag (period 10 ms, a ring of @ring batches, one
 * file sensor) and its recorder, attached before its first batch can be
 * overwritten.
 */
static struct br_engine *br_engine_start(const char *tag, uint32_t ring)
{
	struct br_engine *e;
	struct ringside_params p;
	char file[256], vname[64];
	int ret;

	cr_assert_lt(br.ne, BR_ENGINES_MAX);
	e = &br.e[br.ne++];
	memset(e, 0, sizeof(*e));
	h_name(e->name, sizeof(e->name), tag);
	snprintf(vname, sizeof(vname), "%s.value", e->name);
	h_path(file, sizeof(file), vname);
	h_put_text(file, "21.5\n");
	h_config(e->cfg, sizeof(e->cfg), e->name, BR_PERIOD,
		 "ring = %u\n\n[sensor temp]\nsource = file:%s\nunit = "
		 "C\n" H_FILE_KEYS,
		 ring, file);
	e->pid = h_engine_ready(e->cfg, BR_ENGINE_S, e->name, 0, H_ATTACH_MS);
	ret = ringside_reader_attach(&e->r, e->name, 0);
	cr_assert_eq(ret, 0, "attach %s: %s", e->name, ringside_strerror(ret));
	cr_assert_eq(ringside_reader_pid(&e->r), e->pid);
	cr_assert_eq(ringside_reader_params(&e->r, &p), 0);
	cr_assert_eq(p.ring, ring, "ring of %u, not %u", p.ring, ring);
	e->ring = ring;
	e->epoch = e->r.epoch_us;
	cr_assert_str_eq(p.name, e->name);
	snprintf(e->subject, sizeof(e->subject), "ringside.%s.%s",
		 BR_HOST_SUBJECT, p.name);
	snprintf(e->idpre, sizeof(e->idpre), "%s/%s/%" PRIu64 "/", BR_HOST,
		 p.name, e->epoch);
	e->line = calloc(BR_BATCHES_MAX, sizeof(*e->line));
	cr_assert_not_null(e->line);
	cr_assert_eq(pthread_create(&e->thread, NULL, br_record, e), 0);
	e->recording = true;
	return e;
}

/* Wait until the recorder has seen batch @seq of @e. */
static void br_wait_head(struct br_engine *e, uint64_t seq)
{
	uint64_t end = h_now_ms() + BR_WAIT_MS;

	while (atomic_load(&e->head) < seq) {
		cr_assert_lt(h_now_ms(), end,
			     "engine %s: batch %" PRIu64 " not published "
			     "after %d ms (head %" PRIu64 ")",
			     e->name, seq, BR_WAIT_MS,
			     (uint64_t)atomic_load(&e->head));
		h_sleep_ms(10);
	}
}

/* Stop engine @e cleanly; its recorder drains it, and e->final is set. */
static void br_engine_stop(struct br_engine *e)
{
	kill(e->pid, SIGTERM);
	h_expect_exit(e->pid, 10000, 0);
	pthread_join(e->thread, NULL);
	e->recording = false;
	cr_assert_eq(e->end, RINGSIDE_CLOSED,
		     "engine %s: the recorder ended on event %d", e->name,
		     e->end);
	e->final = atomic_load(&e->head);
	cr_assert_gt(e->final, 0);
	cr_assert_lt(e->final, BR_BATCHES_MAX);
	if (e->rec_lost > 0)
		cr_log_warn("engine %s: the test's own reader missed %" PRIu64
			    " batches (their data is checked by fields)",
			    e->name, e->rec_lost);
}

/* ---- bridges ------------------------------------------------------------- */

/* The last @len - 1 bytes (at most) of log @log, NUL-terminated. */
static const char *br_log_tail(const char *log, char *buf, size_t len)
{
	char path[256];
	struct stat st;
	ssize_t n = 0;
	off_t from;
	int fd;

	h_path(path, sizeof(path), log);
	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	if (fstat(fd, &st) == 0) {
		from = st.st_size > (off_t)(len - 1)
			       ? st.st_size - (off_t)(len - 1)
			       : 0;
		n = pread(fd, buf, len - 1, from);
	}
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/*
 * Start ringside-bridge for engine @e towards cluster @c (@nats: URLs
 * instead of the cluster's, when not NULL), with its cursor in the
 * temporary directory and the arguments @extra (NULL-terminated, may be
 * NULL) added.
 */
static struct br_bridge *br_bridge_run(struct br_bridge *b,
				       const struct br_engine *e,
				       const char *nats,
				       const char *const *extra)
{
	char bin[256], cursor[64];
	char *argv[24];
	unsigned n = 0;

	b->e = e;
	snprintf(cursor, sizeof(cursor), "%s.cursor", e->name);
	h_path(b->state, sizeof(b->state), cursor);
	snprintf(b->log, sizeof(b->log), "bridge-%s-%u.log", e->name,
		 b->starts++);
	h_bin(bin, sizeof(bin), "ringside-bridge");
	argv[n++] = bin;
	argv[n++] = (char *)e->name;
	argv[n++] = "--nats";
	argv[n++] = (char *)nats;
	argv[n++] = "--host";
	argv[n++] = BR_HOST;
	argv[n++] = "--state";
	argv[n++] = b->state;
	while (extra != NULL && *extra != NULL && n < 23)
		argv[n++] = (char *)*extra++;
	argv[n] = NULL;
	b->pid = h_spawn_io(argv, &(struct h_stdio){ .out_file = b->log,
						     .err_file = b->log });
	return b;
}

static struct br_bridge *br_bridge_start(const struct hn_cluster *c,
					 const struct br_engine *e)
{
	cr_assert_lt(br.nb, BR_ENGINES_MAX);
	return br_bridge_run(&br.b[br.nb++], e, c->urls, NULL);
}

/* Fail if bridge @b has exited, quoting its log. */
static void br_bridge_alive(struct br_bridge *b)
{
	char tail[2048];
	int status = 0;

	cr_assert_gt(b->pid, 0, "the bridge of %s is not running", b->e->name);
	if (h_wait(b->pid, 0, &status) != 0)
		return;
	b->pid = 0;
	cr_assert_fail("ringside-bridge %s exited (status 0x%x): %s",
		       b->e->name, (unsigned)status,
		       br_log_tail(b->log, tail, sizeof(tail)));
}

/*
 * The bridge's counters for engine @name in contract order: 0, or
 * -ENOENT (no counters segment yet), another -errno.  *@state (may be
 * NULL) gets ringside_aux_state().
 */
static int br_counters(const char *name, uint64_t v[BR_COUNTERS], int *state)
{
	uint64_t all[RINGSIDE_AUX_MAX];
	uint32_t idx[BR_COUNTERS];
	struct ringside_aux a;
	unsigned k, i, tries;
	int ret;

	memset(&a, 0, sizeof(a));
	ret = ringside_aux_attach(&a, name, "bridge", 0);
	if (ret < 0)
		return ret;
	for (k = 0; k < BR_COUNTERS; k++) {
		char key[RINGSIDE_AUX_KEY_MAX + 1];

		for (i = 0; i < a.n && i < RINGSIDE_AUX_MAX; i++)
			if (ringside_aux_key(&a, i, key) == 0 &&
			    strcmp(key, br_keys[k]) == 0)
				break;
		if (i == a.n) {
			ringside_aux_detach(&a);
			cr_assert_fail("the bridge of %s has no counter %s",
				       name, br_keys[k]);
		}
		idx[k] = i;
	}
	ret = -EAGAIN;
	for (tries = 0; tries < 1000 && ret == -EAGAIN; tries++)
		ret = ringside_aux_read(&a, all, a.n);
	if (ret == 0) {
		for (k = 0; k < BR_COUNTERS; k++)
			v[k] = all[idx[k]];
		if (state != NULL)
			*state = ringside_aux_state(&a);
	}
	ringside_aux_detach(&a);
	return ret;
}

/* The counters @v as text, for a failure message. */
static const char *br_counters_text(const uint64_t v[BR_COUNTERS], char *buf,
				    size_t len)
{
	size_t n = 0;
	unsigned k;

	buf[0] = '\0';
	for (k = 0; k < BR_COUNTERS && n < len; k++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s=%" PRIu64,
				      k > 0 ? " " : "", br_keys[k], v[k]);
	return buf;
}

/* The counters of a running bridge @b, which must have them. */
static void br_counters_of(struct br_bridge *b, uint64_t v[BR_COUNTERS])
{
	uint64_t end = h_now_ms() + BR_WAIT_MS;
	int ret;

	for (;;) {
		ret = br_counters(b->e->name, v, NULL);
		if (ret == 0)
			return;
		br_bridge_alive(b);
		cr_assert(ret == -ENOENT || ret == -EAGAIN,
			  "counters of the bridge of %s: %s", b->e->name,
			  ringside_strerror(ret));
		cr_assert_lt(h_now_ms(), end,
			     "the bridge of %s shows no counters after %d ms",
			     b->e->name, BR_WAIT_MS);
		h_sleep_ms(20);
	}
}

/*
 * The seq of the last message the stream holds for engine @e (a gap
 * marker counts as its LAST): 0 when none, -1 when the cluster gave no
 * answer.
 */
static int64_t br_stored(struct hn_cluster *c, const struct br_engine *e)
{
	size_t pre = strlen(e->idpre);
	char id[128];
	uint64_t first, last;
	int ret = hn_last_id(c, BR_STREAM, e->subject, id, sizeof(id));

	if (ret < 0)
		return -1;
	if (ret == 0)
		return 0;
	cr_assert(strncmp(id, e->idpre, pre) == 0,
		  "the last message of %s has the id '%s', not %s...",
		  e->subject, id, e->idpre);
	if (sscanf(id + pre, "gap-%" SCNu64 "-%" SCNu64, &first, &last) == 2)
		return (int64_t)last;
	return (int64_t)strtoull(id + pre, NULL, 10);
}

/* What the stream holds of @e now, asking until the cluster answers. */
static uint64_t br_stored_now(struct hn_cluster *c, const struct br_engine *e)
{
	uint64_t end = h_now_ms() + BR_WAIT_MS;
	int64_t got;

	while ((got = br_stored(c, e)) < 0) {
		cr_assert_lt(h_now_ms(), end, "the cluster does not answer");
		h_sleep_ms(50);
	}
	return (uint64_t)got;
}

/* Wait until the stream holds batch @seq of @b's engine, or later ones. */
static uint64_t br_wait_stored(struct hn_cluster *c, struct br_bridge *b,
			       uint64_t seq)
{
	uint64_t end = h_now_ms() + BR_WAIT_MS;
	int64_t got = -1;

	for (;;) {
		char tail[1536], text[512];
		uint64_t v[BR_COUNTERS];

		got = br_stored(c, b->e);
		if (got >= (int64_t)seq)
			return (uint64_t)got;
		br_bridge_alive(b);
		if (h_now_ms() >= end) {
			if (br_counters(b->e->name, v, NULL) == 0)
				br_counters_text(v, text, sizeof(text));
			else
				snprintf(text, sizeof(text), "no counters");
			cr_assert_fail("the stream holds batch %" PRId64
				       " of %s, not %" PRIu64 ", after %d ms; "
				       "bridge: %s; log: %s",
				       got, b->e->name, seq, BR_WAIT_MS, text,
				       br_log_tail(b->log, tail, sizeof(tail)));
		}
		h_sleep_ms(50);
	}
}

/*
 * Once engine @e has stopped: wait until its last batch is in the stream
 * and the bridge's counters say so (last_seq, nothing outstanding, no
 * lag).  The counters go into @v.
 */
static void br_caught_up(struct hn_cluster *c, struct br_bridge *b,
			 uint64_t v[BR_COUNTERS])
{
	const struct br_engine *e = b->e;
	uint64_t end;
	char text[512];

	cr_assert_eq(br_wait_stored(c, b, e->final), e->final,
		     "the stream holds more of %s than it published", e->name);
	end = h_now_ms() + BR_WAIT_MS;
	for (;;) {
		br_counters_of(b, v);
		if (v[BR_LAST_SEQ] == e->final && v[BR_OUTSTANDING] == 0 &&
		    v[BR_LAG] == 0)
			break;
		cr_assert_lt(h_now_ms(), end,
			     "bridge of %s: batch %" PRIu64 " is stored, but "
			     "its counters say %s",
			     e->name, e->final,
			     br_counters_text(v, text, sizeof(text)));
		h_sleep_ms(20);
	}
	cr_assert_eq(v[BR_EPOCH], e->epoch, "bridge of %s: epoch %" PRIu64,
		     e->name, v[BR_EPOCH]);
	cr_assert_eq(v[BR_BREAKER], RINGSIDE_BREAKER_CLOSED,
		     "bridge of %s: the breaker is not closed: %s", e->name,
		     br_counters_text(v, text, sizeof(text)));
	cr_assert_eq(v[BR_CONNECTED], 1, "bridge of %s: not connected: %s",
		     e->name, br_counters_text(v, text, sizeof(text)));
	cr_assert_geq(v[BR_PUBLISHED], v[BR_ACKED]);
}

/*
 * Stop bridge @b with SIGTERM: it exits 0, leaves its counters stopped
 * and its cursor on the last batch acked.
 */
static void br_bridge_stop(struct br_bridge *b)
{
	uint64_t v[BR_COUNTERS];
	char cursor[128], want[64], tail[1536];
	int state = 0, status = 0;

	kill(b->pid, SIGTERM);
	cr_assert_eq(h_wait(b->pid, BR_STOP_MS, &status), 0,
		     "bridge of %s still running %d ms after SIGTERM",
		     b->e->name, BR_STOP_MS);
	b->pid = 0;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "bridge of %s: status 0x%x after SIGTERM: %s", b->e->name,
		  (unsigned)status, br_log_tail(b->log, tail, sizeof(tail)));
	cr_assert_eq(br_counters(b->e->name, v, &state), 0);
	cr_assert_eq(state, RINGSIDE_CLOSED,
		     "bridge of %s: counters in state %d after SIGTERM",
		     b->e->name, state);
	snprintf(cursor, sizeof(cursor), "%s.cursor", b->e->name);
	h_slurp(cursor, want, sizeof(want));
	snprintf(cursor, sizeof(cursor), "%" PRIu64 " %" PRIu64 "\n",
		 b->e->epoch, b->e->final);
	cr_assert_str_eq(want, cursor, "bridge of %s: cursor '%s', not '%s'",
			 b->e->name, want, cursor);
}

/* ---- what the stream holds ----------------------------------------------- */

/* The value of "key": in JSON text @json, as an unsigned number. */
static bool br_json_u64(const char *json, const char *key, uint64_t *out)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	if (p == NULL)
		return false;
	p += strlen(pat);
	if (*p < '0' || *p > '9')
		return false;
	*out = strtoull(p, NULL, 10);
	return true;
}

/* Check batch message @m (batch @seq of @e) against what @e published. */
static void br_check_batch(const struct br_engine *e, const struct hn_msg *m,
			   uint64_t seq)
{
	char norm[BR_LINE_MAX], name[64];
	uint64_t got = 0, epoch = 0;

	cr_assert_str_empty(m->gap,
			    "stream seq %" PRIu64 ": batch %" PRIu64
			    " of %s carries Ringside-Gap: %s",
			    m->seq, seq, e->name, m->gap);
	if (seq < BR_BATCHES_MAX && e->line[seq] != NULL) {
		br_unlost(m->data, norm, sizeof(norm));
		cr_assert_str_eq(norm, e->line[seq],
				 "stream seq %" PRIu64 ": batch %" PRIu64
				 " of %s is\n  %s\nnot\n  %s",
				 m->seq, seq, e->name, m->data, e->line[seq]);
		return;
	}
	/* A batch the test's own reader missed: its fields, then. */
	snprintf(name, sizeof(name), "{\"engine\":\"%s\",", e->name);
	cr_assert(strncmp(m->data, name, strlen(name)) == 0 &&
			  br_json_u64(m->data, "seq", &got) && got == seq &&
			  br_json_u64(m->data, "epoch", &epoch) &&
			  epoch == e->epoch,
		  "stream seq %" PRIu64 ": batch %" PRIu64 " of %s is %s",
		  m->seq, seq, e->name, m->data);
}

/* Check gap marker @m (FIRST-LAST) of @e and note it. */
static void br_check_gap(struct br_engine *e, const struct hn_msg *m,
			 uint64_t first, uint64_t last)
{
	char want[512], hdr[64];

	snprintf(hdr, sizeof(hdr), "%" PRIu64 "-%" PRIu64, first, last);
	cr_assert_str_eq(m->gap, hdr,
			 "stream seq %" PRIu64 ": gap %s of %s has the "
			 "Ringside-Gap header '%s'",
			 m->seq, hdr, e->name, m->gap);
	snprintf(want, sizeof(want),
		 "{\"engine\":\"%s\",\"host\":\"%s\",\"epoch\":%" PRIu64
		 ",\"gap\":{\"first\":%" PRIu64 ",\"last\":%" PRIu64
		 ",\"lost\":%" PRIu64 "}}",
		 e->name, BR_HOST, e->epoch, first, last, last - first + 1);
	cr_assert_str_eq(m->data, want,
			 "stream seq %" PRIu64 ": gap marker of %s is\n  %s\n"
			 "not\n  %s",
			 m->seq, e->name, m->data, want);
	cr_assert_lt(e->gaps, BR_GAPS_MAX, "too many gaps");
	e->gap_first[e->gaps] = first;
	e->gap_last[e->gaps] = last;
	e->gaps++;
	e->gap_lost += last - first + 1;
}

/* The ids of the messages around @i of @s, for a failure message. */
static const char *br_around(const struct hn_stream *s, size_t i, char *buf,
			     size_t len)
{
	size_t j = i >= 3 ? i - 3 : 0, n = 0;

	buf[0] = '\0';
	for (; j < s->n && j <= i + 2 && n < len; j++)
		n += (size_t)snprintf(
			buf + n, len - n, "%s[%" PRIu64 "] %s%s%s",
			n > 0 ? ", " : "", s->msg[j].seq, s->msg[j].id,
			s->msg[j].gap[0] != '\0' ? " gap " : "", s->msg[j].gap);
	return buf;
}

/*
 * Walk stream @s: every message belongs to one of the @n engines, and per
 * engine its batches 1..final follow each other exactly once, in order,
 * a hole being allowed only where a gap marker (when @gaps_allowed) says
 * exactly which batches it stands for.
 */
static void br_verify(const struct hn_stream *s, struct br_engine *const *e,
		      unsigned n, bool gaps_allowed)
{
	uint64_t next[BR_ENGINES_MAX];
	size_t i;
	unsigned k;

	for (k = 0; k < n; k++) {
		next[k] = 1;
		e[k]->batches = 0;
		e[k]->gaps = 0;
		e[k]->gap_lost = 0;
	}
	for (i = 0; i < s->n; i++) {
		const struct hn_msg *m = &s->msg[i];
		uint64_t first, last;
		const char *rest;
		char *endp, near[1024];

		for (k = 0; k < n && strcmp(m->subject, e[k]->subject) != 0;
		     k++)
			;
		cr_assert_lt(k, n,
			     "stream seq %" PRIu64 ": a message on %s (id '%s')"
			     " that no engine of ours published: %s",
			     m->seq, m->subject, m->id, m->data);
		cr_assert(strncmp(m->id, e[k]->idpre, strlen(e[k]->idpre)) == 0,
			  "stream seq %" PRIu64 ": Nats-Msg-Id '%s' on %s, "
			  "not %s...",
			  m->seq, m->id, m->subject, e[k]->idpre);
		rest = m->id + strlen(e[k]->idpre);
		if (sscanf(rest, "gap-%" SCNu64 "-%" SCNu64, &first, &last) ==
		    2) {
			cr_assert(gaps_allowed,
				  "stream seq %" PRIu64 ": gap marker %s of %s "
				  "where nothing may be lost: %s",
				  m->seq, rest, e[k]->name, m->data);
			cr_assert(first == next[k] && last >= first,
				  "stream seq %" PRIu64 ": gap %s of %s where "
				  "batch %" PRIu64 " comes next; stream: %s",
				  m->seq, rest, e[k]->name, next[k],
				  br_around(s, i, near, sizeof(near)));
			br_check_gap(e[k], m, first, last);
			next[k] = last + 1;
			continue;
		}
		first = strtoull(rest, &endp, 10);
		cr_assert(*rest >= '0' && *rest <= '9' && *endp == '\0',
			  "stream seq %" PRIu64 ": Nats-Msg-Id '%s'", m->seq,
			  m->id);
		cr_assert(first >= next[k],
			  "stream seq %" PRIu64 ": batch %" PRIu64 " of %s "
			  "again (or out of order) after batch %" PRIu64
			  "; stream: %s",
			  m->seq, first, e[k]->name, next[k] - 1,
			  br_around(s, i, near, sizeof(near)));
		cr_assert(first == next[k],
			  "stream seq %" PRIu64 ": batch %" PRIu64 " of %s "
			  "follows batch %" PRIu64 ": batches %" PRIu64
			  "-%" PRIu64 " are missing, unmarked; stream: %s",
			  m->seq, first, e[k]->name, next[k] - 1, next[k],
			  first - 1, br_around(s, i, near, sizeof(near)));
		br_check_batch(e[k], m, first);
		e[k]->batches++;
		next[k] = first + 1;
	}
	for (k = 0; k < n; k++)
		cr_assert_eq(next[k], e[k]->final + 1,
			     "engine %s published batches 1-%" PRIu64
			     ", the stream ends at %" PRIu64,
			     e[k]->name, e[k]->final, next[k] - 1);
}

/* Read the whole stream and walk it as br_verify() does. */
static void br_check_stream(struct hn_cluster *c, struct br_engine *const *e,
			    unsigned n, bool gaps_allowed)
{
	struct hn_stream s;
	unsigned k;

	hn_stream_read(c, BR_STREAM, &s);
	br_verify(&s, e, n, gaps_allowed);
	for (k = 0; k < n; k++)
		cr_log_info("%s: %" PRIu64 " batches, %u gaps (%" PRIu64
			    " lost) in %zu messages",
			    e[k]->name, e[k]->batches, e[k]->gaps,
			    e[k]->gap_lost, s.n);
	hn_stream_exit(&s);
}

/* The duplicate window the bridge keeps: max(2 min, 2 x ring x period). */
static int64_t br_dup_ns(uint32_t ring)
{
	int64_t two_rings = 2 * (int64_t)ring * BR_PERIOD_NS;

	return two_rings > BR_DUP_MIN_NS ? two_rings : BR_DUP_MIN_NS;
}

/*
 * The stream as the bridges leave it: subjects ringside.>, file storage,
 * @replicas replicas, a duplicate window of at least @dup_ns.
 */
static void br_expect_stream(struct hn_cluster *c, int replicas, int64_t dup_ns)
{
	struct hn_stream_config cfg;

	hn_stream_config(c, BR_STREAM, &cfg);
	cr_assert(cfg.nsubjects == 1 && strcmp(cfg.subject, "ringside.>") == 0,
		  "stream %s: %d subjects, the first '%s'", BR_STREAM,
		  cfg.nsubjects, cfg.subject);
	cr_assert(cfg.file, "stream %s is not stored in files", BR_STREAM);
	cr_assert_eq(cfg.replicas, replicas, "stream %s: %d replicas, not %d",
		     BR_STREAM, cfg.replicas, replicas);
	cr_assert_geq(cfg.duplicates_ns, dup_ns,
		      "stream %s: a duplicate window of %.3f s, not %.3f s",
		      BR_STREAM, cfg.duplicates_ns / 1e9, dup_ns / 1e9);
}

/* ---- the scenarios ------------------------------------------------------- */

Test(bridge, two_engines_on_one_host_arrive_whole_and_in_order)
{
	struct br_engine *e[2];
	struct br_bridge *b[2];
	struct hn_cluster c;
	uint64_t v[BR_COUNTERS];
	char bin[256], out[16384], text[512];
	unsigned k;
	int fd;

	hn_start(&c);
	e[0] = br_engine_start("a", 1024);
	e[1] = br_engine_start("b", 1024);
	b[0] = br_bridge_start(&c, e[0]);
	b[1] = br_bridge_start(&c, e[1]);
	for (k = 0; k < 2; k++)
		br_wait_stored(&c, b[k], 100);
	for (k = 0; k < 2; k++)
		br_wait_head(e[k], 300);
	for (k = 0; k < 2; k++)
		br_engine_stop(e[k]);
	for (k = 0; k < 2; k++) {
		br_caught_up(&c, b[k], v);
		br_counters_text(v, text, sizeof(text));
		cr_assert_eq(v[BR_ACKED], e[k]->final, "%s: %s", e[k]->name,
			     text);
		cr_assert_eq(v[BR_GAPS], 0, "%s: %s", e[k]->name, text);
		cr_assert_eq(v[BR_LOST], 0, "%s: %s", e[k]->name, text);
		cr_log_info("%s: %s", e[k]->name, text);
	}

	/* ringside-stat shows the bridge's counters beside the engine's. */
	{
		char *argv[] = { bin, e[0]->name, "--json", NULL };
		char want[64];
		size_t i, j;
		pid_t pid;

		h_bin(bin, sizeof(bin), "ringside-stat");
		pid = h_spawn(argv, &fd, NULL);
		h_read_all(fd, out, sizeof(out), 10000);
		h_expect_exit(pid, 10000, 0);
		for (i = j = 0; out[i] != '\0'; i++)
			if (out[i] != ' ' && out[i] != '\n')
				out[j++] = out[i];
		out[j] = '\0';
		snprintf(want, sizeof(want), "\"last_seq\":%" PRIu64,
			 e[0]->final);
		cr_assert(strstr(out, "\"bridge\":{\"state\":\"running\"") !=
					  NULL &&
				  strstr(out, want) != NULL &&
				  strstr(out, "\"breaker\":\"closed\"") != NULL,
			  "ringside-stat %s --json: %s", e[0]->name, out);
	}

	for (k = 0; k < 2; k++)
		br_bridge_stop(b[k]);
	/* Created by the first bridge: replicated on the 3 nodes. */
	br_expect_stream(&c, 3, BR_DUP_MIN_NS);
	br_check_stream(&c, e, 2, false);
}

Test(bridge, a_killed_stream_leader_loses_and_duplicates_nothing)
{
	struct br_engine *e;
	struct br_bridge *b;
	struct hn_cluster c;
	uint64_t v[BR_COUNTERS], at;
	unsigned leader, now;
	char text[512];

	hn_start(&c);
	e = br_engine_start("k", 4096);
	b = br_bridge_start(&c, e);
	at = br_wait_stored(&c, b, 100);
	leader = hn_stream_leader(&c, BR_STREAM);
	cr_log_info("killing %s, the leader of %s, at batch %" PRIu64,
		    c.node[leader].name, BR_STREAM, at);
	hn_node_kill(&c, leader);
	/* The two left elect a leader; the bridge goes on through it. */
	at = br_wait_stored(&c, b, at + 200);
	now = hn_stream_leader(&c, BR_STREAM);
	cr_assert_neq(now, leader, "the killed node %s still leads",
		      c.node[leader].name);
	hn_node_start(&c, leader);
	cr_assert_eq(hn_wait_ready(&c, HN_READY_MS), 0);
	br_wait_head(e, atomic_load(&e->head) + 100);
	br_wait_stored(&c, b, at + 100);
	hn_node_expect_alive(&c, leader);
	br_engine_stop(e);
	br_caught_up(&c, b, v);
	br_counters_text(v, text, sizeof(text));
	cr_log_info("%s", text);
	cr_assert_eq(v[BR_GAPS], 0, "%s", text);
	cr_assert_eq(v[BR_LOST], 0, "%s", text);
	br_bridge_stop(b);
	br_check_stream(&c, &e, 1, false);
}

Test(bridge, the_whole_cluster_down_opens_the_breaker_and_loses_nothing)
{
	struct br_engine *e;
	struct br_bridge *b;
	struct hn_cluster c;
	uint64_t v[BR_COUNTERS], end, at;
	char text[512];

	hn_start(&c);
	/* The ring holds 82 s: more than the outage and the recovery. */
	e = br_engine_start("d", 8192);
	b = br_bridge_start(&c, e);
	br_wait_stored(&c, b, 100);
	hn_stop_all(&c);
	/* Down until the breaker has opened, and a second more. */
	end = h_now_ms() + BR_WAIT_MS;
	for (;;) {
		br_counters_of(b, v);
		if (v[BR_BREAKER] == RINGSIDE_BREAKER_OPEN)
			break;
		br_bridge_alive(b);
		cr_assert_lt(h_now_ms(), end,
			     "the breaker did not open with every node down: "
			     "%s",
			     br_counters_text(v, text, sizeof(text)));
		h_sleep_ms(20);
	}
	cr_log_info("breaker open: %s",
		    br_counters_text(v, text, sizeof(text)));
	cr_assert_eq(v[BR_CONNECTED], 0, "%s", text);
	cr_assert_gt(v[BR_FAILURES], 0, "%s", text);
	br_wait_head(e, atomic_load(&e->head) + 100);
	br_bridge_alive(b);
	at = atomic_load(&e->head);
	hn_start_all(&c);
	cr_assert_eq(hn_wait_ready(&c, HN_READY_MS), 0);
	br_wait_stored(&c, b, at + 100);
	br_engine_stop(e);
	br_caught_up(&c, b, v);
	br_counters_text(v, text, sizeof(text));
	cr_log_info("%s", text);
	cr_assert_eq(v[BR_GAPS], 0, "%s", text);
	cr_assert_eq(v[BR_LOST], 0, "%s", text);
	br_bridge_stop(b);
	/* Two rings of 82 s: more than the 2 min minimum. */
	br_expect_stream(&c, 3, br_dup_ns(e->ring));
	br_check_stream(&c, &e, 1, false);
}

Test(bridge, a_bridge_killed_and_restarted_replays_without_duplicates)
{
	struct br_engine *e;
	struct br_bridge *b;
	struct hn_cluster c;
	uint64_t v[BR_COUNTERS], at;
	char text[512];
	int state = 0;
	unsigned round;

	hn_start(&c);
	/*
	 * A stream that exists already, with a duplicate window too short
	 * for a replay: the bridge leaves it, but raises the window.
	 */
	hn_stream_create(&c, BR_STREAM, "ringside.>", 3, 5000000000LL);
	e = br_engine_start("r", 4096);
	b = br_bridge_start(&c, e);
	br_wait_stored(&c, b, 150);
	br_expect_stream(&c, 3, br_dup_ns(e->ring));
	for (round = 0; round < 2; round++) {
		/*
		 * First while it keeps up, then as soon as its successor has
		 * stored something: while it replays a backlog, with
		 * publishes in flight.
		 */
		h_kill(b->pid);
		b->pid = 0;
		cr_assert_eq(br_counters(e->name, v, &state), 0);
		cr_assert_eq(state, RINGSIDE_DEAD,
			     "a killed bridge's counters say state %d", state);
		at = br_stored_now(&c, e);
		br_wait_head(e, atomic_load(&e->head) + 150);
		br_bridge_run(b, e, c.urls, NULL);
		br_wait_stored(&c, b, at + 1);
	}
	br_wait_head(e, atomic_load(&e->head) + 100);
	br_engine_stop(e);
	br_caught_up(&c, b, v);
	br_counters_text(v, text, sizeof(text));
	cr_log_info("%s", text);
	cr_assert_eq(v[BR_GAPS], 0, "%s", text);
	cr_assert_eq(v[BR_LOST], 0, "%s", text);
	br_bridge_stop(b);
	br_check_stream(&c, &e, 1, false);
}

Test(bridge, an_outage_longer_than_the_ring_is_counted_and_marked_exactly)
{
	struct br_engine *e;
	struct br_bridge *b;
	struct hn_cluster c;
	static char log[1 << 20];
	uint64_t v[BR_COUNTERS], before, at;
	char text[512], line[256];
	unsigned g;
	bool after = false;

	hn_start(&c);
	/* The ring holds 2.56 s; the cluster stays down far longer. */
	e = br_engine_start("g", 256);
	b = br_bridge_start(&c, e);
	before = br_wait_stored(&c, b, 300);
	hn_stop_all(&c);
	br_wait_head(e, atomic_load(&e->head) + e->ring);
	br_bridge_alive(b);
	at = atomic_load(&e->head);
	hn_start_all(&c);
	cr_assert_eq(hn_wait_ready(&c, HN_READY_MS), 0);
	br_wait_stored(&c, b, at + 100);
	br_engine_stop(e);
	br_caught_up(&c, b, v);
	br_counters_text(v, text, sizeof(text));
	cr_log_info("%s", text);
	br_bridge_stop(b);
	br_check_stream(&c, &e, 1, true);

	cr_assert_geq(e->gaps, 1,
		      "no gap marker after an outage of %" PRIu64
		      " batches: %s",
		      at - before, text);
	cr_assert_eq(v[BR_GAPS], e->gaps, "%u gap markers, but %s", e->gaps,
		     text);
	cr_assert_eq(v[BR_LOST], e->gap_lost,
		     "the markers account for %" PRIu64 " batches, but %s",
		     e->gap_lost, text);
	h_slurp(b->log, log, sizeof(log));
	for (g = 0; g < e->gaps; g++) {
		snprintf(line, sizeof(line),
			 "ringside-bridge: %s: batches %" PRIu64 "-%" PRIu64
			 " of epoch %" PRIu64 " lost (%" PRIu64 ")\n",
			 e->name, e->gap_first[g], e->gap_last[g], e->epoch,
			 e->gap_last[g] - e->gap_first[g] + 1);
		cr_assert_not_null(strstr(log, line),
				   "no line '%.*s' from the bridge: %s",
				   (int)strlen(line) - 1, line,
				   br_log_tail(b->log, text, sizeof(text)));
		if (e->gap_first[g] > before)
			after = true;
	}
	cr_assert(after,
		  "no gap after batch %" PRIu64 ", stored before the "
		  "outage",
		  before);
}

/* ---- consumer mode ------------------------------------------------------- */

struct br_follower {
	pid_t pid;
	int out;
	char buf[8192];
	size_t len;
};

static void br_follow(struct br_follower *f, const struct hn_cluster *c,
		      const char *a1, const char *a2, const char *a3,
		      const char *a4)
{
	char bin[256];
	char *argv[] = { bin,	     "--follow",      BR_STREAM,
			 "--nats",   (char *)c->urls, (char *)a1,
			 (char *)a2, (char *)a3,      (char *)a4,
			 NULL };

	memset(f, 0, sizeof(*f));
	h_bin(bin, sizeof(bin), "ringside-bridge");
	f->pid =
		h_spawn_io(argv, &(struct h_stdio){ .out = &f->out,
						    .err_file = "follow.log" });
}

/* Read what @f prints until it holds @lines lines (or EOF with @lines 0). */
static void br_follow_read(struct br_follower *f, unsigned lines)
{
	uint64_t end = h_now_ms() + BR_WAIT_MS;
	char err[2048];

	for (;;) {
		struct pollfd p = { .fd = f->out, .events = POLLIN };
		unsigned have = 0;
		size_t i;
		ssize_t r;

		for (i = 0; i < f->len; i++)
			have += f->buf[i] == '\n';
		if (lines > 0 && have >= lines)
			return;
		if (h_now_ms() >= end) {
			br_log_tail("follow.log", err, sizeof(err));
			cr_assert_fail("the follower printed %u lines, not %u, "
				       "in %d ms: %s; stderr: %s",
				       have, lines, BR_WAIT_MS, f->buf, err);
		}
		if (poll(&p, 1, 100) <= 0)
			continue;
		r = read(f->out, f->buf + f->len, sizeof(f->buf) - 1 - f->len);
		if (r <= 0) {
			cr_assert_eq(lines, 0,
				     "the follower's output ended "
				     "after %u lines: %s",
				     have, f->buf);
			return;
		}
		f->len += (size_t)r;
		f->buf[f->len] = '\0';
	}
}

Test(bridge, follow_prints_the_stream_as_json_lines)
{
	struct br_follower f;
	struct hn_cluster c;
	struct hn_stream s;
	char all[4096], first[4096], only_b[4096];
	char subject[64], id[64], data[128];
	size_t alen = 0, flen = 0, blen = 0;
	unsigned i;

	hn_start(&c);
	hn_stream_create(&c, BR_STREAM, "ringside.>", 3, 0);
	for (i = 1; i <= 25; i++) {
		const char *eng = i % 2 ? "a" : "b";

		snprintf(subject, sizeof(subject), "ringside.h.%s", eng);
		snprintf(id, sizeof(id), "h/%s/1/%u", eng, i);
		snprintf(data, sizeof(data), "{\"engine\":\"%s\",\"seq\":%u}",
			 eng, i);
		alen += (size_t)snprintf(all + alen, sizeof(all) - alen, "%s\n",
					 data);
		if (i > 20)
			continue; /* published later */
		hn_publish(&c, subject, id, data);
		flen += (size_t)snprintf(first + flen, sizeof(first) - flen,
					 "%s\n", data);
		if (i % 2 == 0)
			blen += (size_t)snprintf(only_b + blen,
						 sizeof(only_b) - blen, "%s\n",
						 data);
	}

	/* The harness reads back what it was given, headers and all. */
	hn_stream_read(&c, BR_STREAM, &s);
	cr_assert_eq(s.n, 20);
	for (i = 0; i < s.n; i++) {
		snprintf(id, sizeof(id), "h/%s/1/%u", i % 2 ? "b" : "a", i + 1);
		cr_assert_str_eq(s.msg[i].id, id);
		cr_assert_eq(s.msg[i].seq, i + 1);
	}
	hn_stream_exit(&s);
	cr_assert_eq(hn_last_id(&c, BR_STREAM, "ringside.h.b", id, sizeof(id)),
		     1);
	cr_assert_str_eq(id, "h/b/1/20");
	cr_assert_eq(hn_last_id(&c, BR_STREAM, "ringside.h.c", id, sizeof(id)),
		     0);

	/* --count N: the first N messages, in order, then exit 0. */
	br_follow(&f, &c, "--count", "20", NULL, NULL);
	br_follow_read(&f, 0);
	h_expect_exit(f.pid, BR_STOP_MS, 0);
	cr_assert_str_eq(f.buf, first);

	/* --subject: only those. */
	br_follow(&f, &c, "--subject", "ringside.h.b", "--count", "10");
	br_follow_read(&f, 0);
	h_expect_exit(f.pid, BR_STOP_MS, 0);
	cr_assert_str_eq(f.buf, only_b);

	/* It waits for what is published next; SIGTERM ends it with 0. */
	br_follow(&f, &c, NULL, NULL, NULL, NULL);
	br_follow_read(&f, 20);
	for (i = 21; i <= 25; i++) {
		const char *eng = i % 2 ? "a" : "b";

		snprintf(subject, sizeof(subject), "ringside.h.%s", eng);
		snprintf(id, sizeof(id), "h/%s/1/%u", eng, i);
		snprintf(data, sizeof(data), "{\"engine\":\"%s\",\"seq\":%u}",
			 eng, i);
		hn_publish(&c, subject, id, data);
	}
	br_follow_read(&f, 25);
	cr_assert_str_eq(f.buf, all);
	kill(f.pid, SIGTERM);
	h_expect_exit(f.pid, BR_STOP_MS, 0);
}

/* ---- the command line and an unreachable cluster ------------------------- */

struct br_usage {
	char args[7][40]; /* "" ends the list */
};

ParameterizedTestParameters(bridge, bad_usage_exits_2_with_a_message)
{
	static struct br_usage bad[] = {
		{ { "" } },
		{ { "--bogus" } },
		{ { "eng" } },
		{ { "eng", "--nats" } },
		{ { "bad/name", "--nats", "nats://127.0.0.1:1" } },
		{ { "eng", "other", "--nats", "nats://127.0.0.1:1" } },
		{ { "eng", "--nats", "nats://127.0.0.1:1", "--window",
		    "lots" } },
		{ { "eng", "--nats", "nats://127.0.0.1:1", "--ack-timeout",
		    "soon" } },
		{ { "eng", "--nats", "nats://127.0.0.1:1", "--from",
		    "yesterday" } },
		{ { "--follow", BR_STREAM } },
		{ { "--follow", BR_STREAM, "--nats", "nats://127.0.0.1:1",
		    "--count", "some" } },
	};

	return cr_make_param_array(struct br_usage, bad,
				   sizeof(bad) / sizeof(bad[0]));
}

ParameterizedTest(struct br_usage *u, bridge, bad_usage_exits_2_with_a_message)
{
	char bin[256], err[2048], out[2048];
	char *argv[10] = { bin };
	int efd, ofd;
	unsigned n;
	pid_t pid;

	h_bin(bin, sizeof(bin), "ringside-bridge");
	for (n = 0; n < 7 && u->args[n][0] != '\0'; n++)
		argv[n + 1] = u->args[n];
	argv[n + 1] = NULL;
	pid = h_spawn_io(argv, &(struct h_stdio){ .out = &ofd, .err = &efd });
	h_read_all(efd, err, sizeof(err), 10000);
	h_read_all(ofd, out, sizeof(out), 1000);
	h_expect_exit(pid, 10000, 2);
	cr_assert_str_not_empty(err, "no message on stderr");
	cr_assert_str_empty(out, "a usage error printed on stdout: %s", out);
}

Test(bridge, help_prints_the_usage_and_exits_0)
{
	char bin[256], out[8192];
	char *argv[] = { bin, "--help", NULL };
	int fd;
	pid_t pid;

	h_bin(bin, sizeof(bin), "ringside-bridge");
	pid = h_spawn(argv, &fd, NULL);
	h_read_all(fd, out, sizeof(out), 10000);
	h_expect_exit(pid, 10000, 0);
	cr_assert(strstr(out, "--nats") != NULL &&
			  strstr(out, "--follow") != NULL,
		  "--help: %s", out);
}

Test(bridge, an_unreachable_cluster_is_waited_for_under_the_breaker)
{
	struct br_engine *e;
	struct br_bridge *b;
	uint64_t v[BR_COUNTERS], end;
	char url[64], text[512];

	/* A port held for the test, on which nothing listens. */
	snprintf(url, sizeof(url), "nats://127.0.0.1:%u", h_reserve_port());
	e = br_engine_start("u", 1024);
	cr_assert_lt(br.nb, BR_ENGINES_MAX);
	b = br_bridge_run(&br.b[br.nb++], e, url, NULL);
	end = h_now_ms() + BR_WAIT_MS;
	for (;;) {
		br_counters_of(b, v);
		if (v[BR_BREAKER] == RINGSIDE_BREAKER_OPEN)
			break;
		cr_assert_lt(h_now_ms(), end,
			     "the breaker did not open against %s: %s", url,
			     br_counters_text(v, text, sizeof(text)));
		h_sleep_ms(20);
	}
	br_counters_text(v, text, sizeof(text));
	cr_log_info("%s", text);
	cr_assert_eq(v[BR_CONNECTED], 0, "%s", text);
	cr_assert_eq(v[BR_ACKED], 0, "%s", text);
	/* It waits on: still there once the engine has gone on a while. */
	br_wait_head(e, atomic_load(&e->head) + 100);
	br_bridge_alive(b);
	kill(b->pid, SIGTERM);
	h_expect_exit(b->pid, BR_STOP_MS, 0);
	b->pid = 0;
	br_engine_stop(e);
}
