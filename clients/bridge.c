/* SPDX-License-Identifier: MIT */
/*
 * bridge.c - ringside-bridge: ship every batch of an engine's segment to a
 * NATS JetStream stream, exactly once and in order, and read a stream back
 * (--follow).
 *
 * The cluster is the engine's downstream service, so the bridge treats it
 * the way the engine treats a sensor: every publish is bounded by an ack
 * timeout, a failed round of publishes is retried after an exponential
 * backoff with full jitter (engine/backoff.h), and a circuit breaker
 * (engine/breaker.h) fails fast while the cluster is down and lets one
 * probe through once its reset time has passed.
 *
 * Exactly once, in order.  One engine's batches are one chain of messages
 * on one subject; each carries a Nats-Msg-Id naming its batch, so the
 * server drops a replay within its duplicate window.  Work goes in rounds.
 * A round starts by asking the stream for the last message on our subject
 * (resync), decides where to resume (fleet_resume_decide: this process's
 * own acks first, then the stream, the cursor file, --from), positions the
 * reader there and publishes.  Results are taken back in send order, so
 * the progress that reaches the cursor is always a prefix of the chain.
 * The first failure ends the round: nothing more is sent, what is in
 * flight settles (an ack, an error or the ack timeout), and the next round
 * resumes at the first batch not acked.  Sending a batch the stream
 * already holds costs a "duplicate" ack and nothing else.
 *
 * Keeping the chain in order is the server's job, because only the server
 * can: with several publishes in flight, a message lost at a leader that
 * steps down (a rolling restart does that) would let the next one, taken
 * by the new leader, be stored first, and no replay can move it back
 * (the duplicate window drops a message stored, deleted and sent again).
 * So every publish carries a guard that makes the server refuse it unless
 * it lands right after its predecessor in the chain.  A publish alone in
 * flight names the stream sequence of the subject's last message
 * (Nats-Expected-Last-Subject-Sequence, known exactly from the resync or
 * the last ack).  A publish behind others names the id of the message
 * sent just before it (Nats-Expected-Last-Msg-Id): nats-server 2.9 checks
 * the subject guard against what it has already applied, which refuses
 * any pipelined message, but the id guard as it applies each message.
 * The id guard is about the whole stream, so a message of another engine
 * in between refuses ours too: that is a lost race, not a failure (no
 * breaker, no backoff); the bridge goes on from the first batch not
 * stored, alone in flight first, then with fewer in flight (additive
 * increase, halving on each race).  Publishes go one at a time while the
 * bridge keeps up with the engine, pipelined only on a backlog (a replay),
 * up to --window, and never behind a publish whose ack is later than an
 * eighth of the ack timeout.
 *
 * Threads: libnats calls the ack handler and the connection callbacks on
 * its own threads.  The ack handler only records a result in the window
 * (under mu) and signals; the connection callbacks only set atomics.
 * Everything else, every decision and every counter, is the main thread's.
 *
 * Signals: SIGINT and SIGTERM set a flag; every wait in the main loop is
 * bounded (BRIDGE_TICK_MS), so the flag is seen promptly.  The bridge then
 * stops reading, waits up to 5 s for the publishes in flight, writes its
 * cursor, marks its counters stopped and exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "backoff.h"
#include "breaker.h"
#include "common.h"
#include "fleet.h"
#include "ringside.h"

#define PROG "ringside-bridge"

/* JSON line bounds, as in ringside-tail. */
#define JSON_FIXED 512
#define JSON_PER_SENSOR 384

#define MS 1000000ULL		     /* nanoseconds */
#define BRIDGE_TICK_MS 100	     /* the longest sleep of the main loop */
#define BRIDGE_CURSOR_NS (100 * MS)  /* the cursor is written so often */
#define BRIDGE_STATS_NS (10 * MS)    /* counters are published so often */
#define BRIDGE_STOP_NS (5000 * MS)   /* SIGTERM: wait so long for acks */
#define BRIDGE_SEGMENT_MS 200	     /* look for a new segment so often */
#define BRIDGE_RECONNECT_WAIT_MS 250 /* libnats: between two servers */
#define BRIDGE_CLOSE_WAIT_MS 2000    /* libnats's threads, at exit */
#define BRIDGE_EXPIRE_SLACK_NS (500 * MS) /* our own ack timeout's slack */
#define BRIDGE_PIPELINE_MIN 4		  /* a backlog this deep is a replay */
#define BRIDGE_WINDOW_MAX 65536
#define BRIDGE_REPLICAS_MAX 5

/* The retry policy of the contract: 100 ms doubling to 5 s, full jitter. */
#define BRIDGE_BACKOFF_BASE_NS (100 * MS)
#define BRIDGE_BACKOFF_MAX_NS (5000 * MS)
/* The breaker: 5 failed rounds within 10 s open it for 2 s, 1 probe. */
#define BRIDGE_BREAKER_FAILURES 5
#define BRIDGE_BREAKER_WINDOW_NS (10000 * MS)
#define BRIDGE_BREAKER_RESET_NS (2000 * MS)

/* The counters, in the contract's order (docs/ringside-bridge.1). */
enum bridge_counter {
	BC_PUBLISHED,
	BC_ACKED,
	BC_DUPLICATES,
	BC_RETRIES,
	BC_FAILURES,
	BC_TIMEOUTS,
	BC_BREAKER,
	BC_FAST_FAILS,
	BC_LAG,
	BC_GAPS,
	BC_LOST,
	BC_EPOCH,
	BC_LAST_SEQ,
	BC_OUTSTANDING,
	BC_CONNECTED,
	BC_COUNT
};

static const char *const bridge_keys[BC_COUNT] = {
	"published", "acked",	"duplicates", "retries",     "failures",
	"timeouts",  "breaker", "fast_fails", "lag",	     "gaps",
	"lost",	     "epoch",	"last_seq",   "outstanding", "connected",
};

enum bridge_phase {
	BRIDGE_SEGMENT, /* no segment, or the one attached is over */
	BRIDGE_WAIT,	/* between rounds: backoff, or the breaker open */
	BRIDGE_RUN,	/* a round: publishing */
	BRIDGE_SETTLE,	/* a round failed: its publishes settle */
};

struct bridge {
	/* The command line. */
	const char *name;
	const char *prefix;
	const char *stream;
	const char *host;
	const char *creds;
	const char *tls_ca;
	char *state_path;
	const char *urls[FLEET_URLS_MAX];
	int nurls;
	char *url_list; /* the split copy behind urls[] */
	uint32_t window;
	uint64_t ack_timeout_ns;
	int replicas; /* 0: from the cluster's size */
	enum fleet_from from;
	int verbose;
	char subject[FLEET_SUBJECT_MAX];

	/* The connection.  The atomics are written by libnats's threads. */
	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	atomic_int connected;
	atomic_uint conn_gen; /* bumped on every disconnect */
	atomic_bool closing;  /* our own close: no news to tell */
	unsigned conn_seen;   /* conn_gen as the main thread last saw it */
	unsigned stream_gen;  /* conn_gen when the stream was last checked */
	bool stream_checked;
	bool stream_warned; /* a subject or duplicates warning was given */
	bool async_used;    /* libnats has its pending list (see abandon) */

	/* The window, shared with the ack handler under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fleet_window win;
	struct fleet_pending *slots;
	char fail_text[160]; /* the first failure's words, this round */

	/* The segment. */
	struct ringside_reader r;
	struct client_sensors sensors;
	struct ringside_reading *v;
	char *json;
	size_t json_len;
	uint32_t ring;
	uint64_t period_ns;
	bool attached;
	bool adopted_once;
	enum fleet_from epoch_from; /* for the segment attached */
	bool said_waiting;
	int attach_err; /* the last attach error reported */

	/* What is read but not yet sent: a gap marker, then a batch. */
	bool have_gap;
	uint64_t gap_first, gap_last;
	bool have_batch;
	struct ringside_batch b;

	/* Progress in the chain of the attached segment's epoch. */
	bool have_done;
	struct fleet_pos done;	    /* acked in order */
	uint64_t sent_hwm;	    /* the furthest place sent in this epoch */
	uint64_t dup_until;	    /* the stream holds up to here already */
	uint32_t depth;		    /* publishes in flight allowed, <= window */
	uint32_t depth_acks;	    /* acks towards the next depth step */
	char last_id[FLEET_ID_MAX]; /* the id of the message sent last */
	bool chain_known;	/* chain_sseq is the subject's last message */
	uint64_t chain_sseq;	/* its stream sequence (0: none) */
	uint64_t counted_first; /* the gap marker last counted */
	uint64_t counted_last;
	uint64_t counted_epoch;
	bool have_cursor_hint;
	struct fleet_cursor cursor_hint; /* the cursor file at start */
	struct fleet_cursor cursor_written;
	uint64_t cursor_at_ns;
	bool cursor_warned;

	/* Rounds, backoff and the breaker. */
	enum bridge_phase phase;
	uint64_t retry_at_ns;
	struct engine_breaker *breaker;
	struct engine_breaker_ticket ticket;
	bool ticket_live; /* admitted, result not recorded yet */
	bool probing;	  /* half-open: one publish, then wait */
	bool round_failed;
	bool round_hard; /* a failure other than a lost race for the stream */
	bool round_acked;
	bool reorder_warned;
	unsigned attempt; /* failed rounds in a row */
	uint64_t prev_wait_ns;
	struct engine_backoff_rng rng;
	uint64_t settle_until_ns;
	uint64_t stop_until_ns;

	/* Counters. */
	uint64_t c[BC_COUNT];
	uint64_t stats_at_ns;
	struct ringside_aux aux;
	bool aux_ok;
};

static volatile sig_atomic_t bridge_stop;

static void bridge_on_signal(int sig)
{
	(void)sig;
	bridge_stop = 1;
}

/* ---- the command line ---------------------------------------------------- */

static void bridge_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " NAME --nats URL[,URL...] [--subject PREFIX] "
		"[--stream STREAM]\n"
		"         [--state FILE] [--host HOST] [--window N] "
		"[--ack-timeout DUR]\n"
		"         [--replicas N] [--creds FILE] [--tls-ca FILE] "
		"[--from oldest|now] [-v]\n"
		"       " PROG " --follow STREAM --nats URL[,URL...] "
		"[--subject FILTER]\n"
		"         [--from first|new] [--count N] [--creds FILE] "
		"[--tls-ca FILE]\n"
		"Publish every batch of the ringside segment "
		"/dev/shm/ringside.NAME to a NATS\n"
		"JetStream stream, exactly once and in order; or print a "
		"stream back (--follow).\n"
		"\n"
		"  --nats URL[,URL...]  the cluster's servers "
		"(nats://HOST:PORT, tls://...)\n"
		"  --subject PREFIX     batches go to PREFIX.HOST.NAME "
		"(default: ringside);\n"
		"                       with --follow, a subject filter "
		"(default: all)\n"
		"  --stream STREAM      the stream (default: RINGSIDE), "
		"created when missing\n"
		"  --state FILE         the cursor file (default: "
		"$STATE_DIRECTORY/bridge-NAME.cursor,\n"
		"                       else ./ringside-bridge-NAME.cursor)\n"
		"  --host HOST          this host's name (default: "
		"gethostname)\n"
		"  --window N           publishes awaiting their ack at most "
		"(default: 256)\n"
		"  --ack-timeout DUR    wait so long for an ack (default: "
		"2s; ms, s, m)\n"
		"  --replicas N         replicas of a stream it creates "
		"(default: 3 when the\n"
		"                       cluster has 3 servers or more, "
		"else 1)\n"
		"  --creds FILE         NATS credentials (JWT and seed)\n"
		"  --tls-ca FILE        trust this CA, and use TLS\n"
		"  --from oldest|now    where to start when neither the stream "
		"nor the cursor\n"
		"                       says (default: oldest)\n"
		"  --follow STREAM      print the stream's messages, one per "
		"line\n"
		"  --from first|new     with --follow: from the stream's first "
		"message (default)\n"
		"                       or only new ones\n"
		"  --count N            with --follow: exit after N messages\n"
		"  -v, --verbose        say more on stderr\n"
		"  -h, --help           show this help and exit\n"
		"  -V, --version        show the version and exit\n"
		"\n"
		"An unreachable cluster is waited for, under a circuit "
		"breaker.  Counters are\n"
		"shown by ringside-stat NAME.  Exit status: 0 after SIGINT or "
		"SIGTERM (or --count\n"
		"messages), 1 on a fatal error, 2 on a usage error.\n");
}

/* What the command line asks for, before it is checked. */
struct bridge_args {
	const char *follow;
	const char *nats;
	const char *subject;
	const char *from;
	const char *count;
	const char *window;
	const char *ack_timeout;
	const char *replicas;
	const char *state;
	const char *host;
};

static void bridge_parse_args(int argc, char **argv, struct bridge_args *a,
			      struct bridge *br)
{
	static const struct option longopts[] = {
		{ "nats", required_argument, NULL, 'N' },
		{ "subject", required_argument, NULL, 's' },
		{ "stream", required_argument, NULL, 'S' },
		{ "state", required_argument, NULL, 't' },
		{ "host", required_argument, NULL, 'H' },
		{ "window", required_argument, NULL, 'w' },
		{ "ack-timeout", required_argument, NULL, 'a' },
		{ "replicas", required_argument, NULL, 'r' },
		{ "creds", required_argument, NULL, 'c' },
		{ "tls-ca", required_argument, NULL, 'C' },
		{ "from", required_argument, NULL, 'f' },
		{ "follow", required_argument, NULL, 'F' },
		{ "count", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0; /* our own one-line messages */
	while ((opt = getopt_long(argc, argv, ":vhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'N':
			a->nats = optarg;
			break;
		case 's':
			a->subject = optarg;
			break;
		case 'S':
			br->stream = optarg;
			break;
		case 't':
			a->state = optarg;
			break;
		case 'H':
			a->host = optarg;
			break;
		case 'w':
			a->window = optarg;
			break;
		case 'a':
			a->ack_timeout = optarg;
			break;
		case 'r':
			a->replicas = optarg;
			break;
		case 'c':
			br->creds = optarg;
			break;
		case 'C':
			br->tls_ca = optarg;
			break;
		case 'f':
			a->from = optarg;
			break;
		case 'F':
			a->follow = optarg;
			break;
		case 'n':
			a->count = optarg;
			break;
		case 'v':
			br->verbose++;
			break;
		case 'h':
			bridge_usage(stdout);
			exit(0);
		case 'V':
			printf(PROG " %s\n", RINGSIDE_VERSION);
			exit(0);
		default:
			client_bad_option(PROG, opt, argv);
		}
	}
}

/* A whole number in [@lo, @hi] from option @what, or a usage error. */
static uint64_t bridge_number_arg(const char *what, const char *s, uint64_t lo,
				  uint64_t hi)
{
	uint64_t v;

	if (client_parse_u64(s, &v) < 0 || v < lo || v > hi)
		client_usage_error(PROG,
				   "%s takes a whole number from %llu to %llu, "
				   "not '%s'",
				   what, (unsigned long long)lo,
				   (unsigned long long)hi, s);
	return v;
}

/* The --nats list: split into br->urls, or a usage error. */
static void bridge_urls_arg(struct bridge *br, const char *list)
{
	int n;

	br->url_list = strdup(list);
	if (br->url_list == NULL) {
		fputs(PROG ": out of memory\n", stderr);
		exit(1);
	}
	n = fleet_urls_split(br->url_list, br->urls, FLEET_URLS_MAX);
	if (n == -E2BIG)
		client_usage_error(PROG, "--nats takes at most %d URLs",
				   FLEET_URLS_MAX);
	if (n < 0)
		client_usage_error(PROG,
				   "--nats takes URLs such as "
				   "nats://HOST:PORT separated by commas, "
				   "not '%s'",
				   list);
	br->nurls = n;
}

/*
 * Check the common options of both modes, then those of the mode chosen.
 * Returns 1 for --follow, 0 for a bridge.
 */
static int bridge_check_args(int argc, char **argv, struct bridge_args *a,
			     struct bridge *br, uint64_t *count)
{
	if (a->nats == NULL)
		client_usage_error(PROG, "--nats URL[,URL...] is needed");
	bridge_urls_arg(br, a->nats);
	if (br->tls_ca != NULL && br->tls_ca[0] == '\0')
		client_usage_error(PROG, "--tls-ca needs a file");
	if (br->creds != NULL && br->creds[0] == '\0')
		client_usage_error(PROG, "--creds needs a file");

	if (a->follow != NULL) {
		if (!fleet_stream_valid(a->follow))
			client_usage_error(PROG, "invalid stream name '%s'",
					   a->follow);
		br->stream = a->follow;
		if (optind < argc)
			client_usage_error(PROG,
					   "--follow takes no segment NAME, "
					   "got '%s'",
					   argv[optind]);
		if (a->window != NULL || a->ack_timeout != NULL ||
		    a->replicas != NULL || a->state != NULL || a->host != NULL)
			client_usage_error(PROG,
					   "--window, --ack-timeout, "
					   "--replicas, --state and --host do "
					   "not go with --follow");
		br->prefix = a->subject != NULL ? a->subject : ">";
		if (a->subject != NULL && !fleet_subject_match(">", a->subject))
			client_usage_error(PROG, "invalid subject filter '%s'",
					   a->subject);
		br->from = FLEET_FROM_OLDEST;
		if (a->from != NULL) {
			if (strcmp(a->from, "new") == 0)
				br->from = FLEET_FROM_NOW;
			else if (strcmp(a->from, "first") != 0)
				client_usage_error(PROG,
						   "--from takes 'first' or "
						   "'new' with --follow, not "
						   "'%s'",
						   a->from);
		}
		*count = 0;
		if (a->count != NULL)
			*count = bridge_number_arg("--count", a->count, 1,
						   UINT64_MAX);
		return 1;
	}

	br->name = client_name_operand(PROG, argc, argv);
	if (a->count != NULL)
		client_usage_error(PROG, "--count goes with --follow only");
	br->prefix = a->subject != NULL ? a->subject : "ringside";
	if (!fleet_prefix_valid(br->prefix))
		client_usage_error(PROG,
				   "invalid subject prefix '%s' (tokens "
				   "separated by dots, no wildcards)",
				   br->prefix);
	if (!fleet_stream_valid(br->stream))
		client_usage_error(PROG, "invalid stream name '%s'",
				   br->stream);
	if (a->from != NULL) {
		if (strcmp(a->from, "oldest") == 0)
			br->from = FLEET_FROM_OLDEST;
		else if (strcmp(a->from, "now") == 0)
			br->from = FLEET_FROM_NOW;
		else
			client_usage_error(PROG,
					   "--from takes 'oldest' or 'now', "
					   "not '%s'",
					   a->from);
	}
	if (a->window != NULL)
		br->window = (uint32_t)bridge_number_arg("--window", a->window,
							 1, BRIDGE_WINDOW_MAX);
	if (a->replicas != NULL)
		br->replicas = (int)bridge_number_arg("--replicas", a->replicas,
						      1, BRIDGE_REPLICAS_MAX);
	if (a->ack_timeout != NULL &&
	    (fleet_duration_parse(a->ack_timeout, &br->ack_timeout_ns) < 0 ||
	     br->ack_timeout_ns < MS || br->ack_timeout_ns > 600000 * MS))
		client_usage_error(PROG,
				   "--ack-timeout takes a duration from 1ms "
				   "to 10m, such as 2s or 500ms, not '%s'",
				   a->ack_timeout);
	if (a->host != NULL && !fleet_host_valid(a->host))
		client_usage_error(PROG,
				   "invalid host '%s' (printable, without "
				   "'/', '*' or '>')",
				   a->host);
	br->host = a->host;
	if (a->state != NULL && a->state[0] == '\0')
		client_usage_error(PROG, "--state needs a file");
	return 0;
}

/* ---- counters and the cursor --------------------------------------------- */

static void bridge_stats(struct bridge *br, uint64_t now, bool force)
{
	struct engine_breaker_stats bs;
	uint32_t i;

	if (!force && now - br->stats_at_ns < BRIDGE_STATS_NS)
		return;
	br->stats_at_ns = now;
	engine_breaker_stats(br->breaker, &bs);
	br->c[BC_BREAKER] = (uint64_t)bs.state;
	br->c[BC_FAST_FAILS] = bs.fast_fails;
	br->c[BC_CONNECTED] = (uint64_t)atomic_load(&br->connected);
	br->c[BC_OUTSTANDING] = br->win.count;
	br->c[BC_EPOCH] = br->attached ? br->r.epoch_us : 0;
	br->c[BC_LAST_SEQ] = 0;
	br->c[BC_LAG] = 0;
	if (br->attached) {
		uint64_t head = ringside_reader_head(&br->r);
		uint64_t done = 0;

		if (br->have_done && br->done.epoch == br->r.epoch_us)
			done = br->done.seq;
		br->c[BC_LAST_SEQ] = done;
		br->c[BC_LAG] = head > done ? head - done : 0;
	}
	if (!br->aux_ok)
		return;
	ringside_aux_begin(&br->aux);
	for (i = 0; i < BC_COUNT; i++)
		ringside_aux_set(&br->aux, i, br->c[i]);
	ringside_aux_end(&br->aux);
}

/* Write the cursor if it moved, at most every BRIDGE_CURSOR_NS unless
 * @force. */
static void bridge_cursor(struct bridge *br, uint64_t now, bool force)
{
	struct fleet_cursor c;
	int ret;

	if (!br->have_done || br->done.seq == 0)
		return;
	c.epoch = br->done.epoch;
	c.seq = br->done.seq;
	if (c.epoch == br->cursor_written.epoch &&
	    c.seq == br->cursor_written.seq)
		return;
	if (!force && now - br->cursor_at_ns < BRIDGE_CURSOR_NS)
		return;
	br->cursor_at_ns = now;
	ret = fleet_cursor_write(br->state_path, &c);
	if (ret < 0) {
		if (!br->cursor_warned)
			fprintf(stderr,
				PROG ": %s: cannot write the cursor %s: "
				     "%s\n",
				br->name, br->state_path, strerror(-ret));
		br->cursor_warned = true;
		return;
	}
	br->cursor_warned = false;
	br->cursor_written = c;
}

/* ---- the connection ------------------------------------------------------- */

static void bridge_on_connected(natsConnection *nc, void *closure)
{
	struct bridge *br = closure;
	char url[256];

	atomic_store(&br->connected, 1);
	if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) == NATS_OK)
		fprintf(stderr, PROG ": %s: connected to %s\n",
			br->name != NULL ? br->name : br->stream, url);
}

static void bridge_on_disconnected(natsConnection *nc, void *closure)
{
	struct bridge *br = closure;

	(void)nc;
	atomic_fetch_add(&br->conn_gen, 1);
	if (atomic_exchange(&br->connected, 0) && !atomic_load(&br->closing))
		fprintf(stderr, PROG ": %s: disconnected, reconnecting\n",
			br->name != NULL ? br->name : br->stream);
}

static void bridge_on_async_error(natsConnection *nc, natsSubscription *sub,
				  natsStatus err, void *closure)
{
	struct bridge *br = closure;

	(void)nc;
	(void)sub;
	if (br->verbose)
		fprintf(stderr, PROG ": %s: %s\n",
			br->name != NULL ? br->name : br->stream,
			natsStatus_GetText(err));
}

/*
 * The result of one publish, on a libnats thread: record it for the main
 * thread, which reads results in send order.  The message is ours to free.
 */
static void bridge_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa,
			  jsPubAckErr *pae, void *closure)
{
	struct bridge *br = closure;
	enum fleet_ack state = FLEET_FAILED;
	uint64_t sseq = 0;
	int err = 0, code = 0;

	(void)js;
	if (pa != NULL) {
		state = pa->Duplicate ? FLEET_DUPLICATE : FLEET_STORED;
		sseq = pa->Sequence;
	} else if (pae != NULL) {
		err = (int)pae->Err;
		code = (int)pae->ErrCode;
		state = pae->Err == NATS_TIMEOUT ? FLEET_TIMEDOUT
						 : FLEET_FAILED;
	}
	pthread_mutex_lock(&br->mu);
	if (fleet_window_settle(&br->win, (uintptr_t)msg, state, sseq, err,
				code) == 0 &&
	    state != FLEET_STORED && state != FLEET_DUPLICATE &&
	    br->fail_text[0] == '\0' && pae != NULL)
		snprintf(br->fail_text, sizeof(br->fail_text), "%s (%d)",
			 pae->ErrText != NULL && pae->ErrText[0] != '\0'
				 ? pae->ErrText
				 : natsStatus_GetText(pae->Err),
			 code);
	pthread_cond_signal(&br->cv);
	pthread_mutex_unlock(&br->mu);
	natsMsg_Destroy(msg);
}

/*
 * The options both modes share: every server, reconnecting for ever and
 * quickly, the first connect retried in the background, and a reconnect
 * buffer of one byte, so that nothing published while the connection is
 * down is sent behind our back when it comes back (libnats takes 0 as its
 * 8 MB default).  Returns 0, or -1 with a message.
 */
static int bridge_nats_options(struct bridge *br, const char *who)
{
	char name[128];
	natsStatus s;

	s = natsOptions_Create(&br->opts);
	if (s != NATS_OK)
		goto err;
	snprintf(name, sizeof(name), PROG " %s", who);
	s = natsOptions_SetName(br->opts, name);
	if (s == NATS_OK)
		s = natsOptions_SetServers(br->opts, br->urls, br->nurls);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(br->opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(br->opts,
						 BRIDGE_RECONNECT_WAIT_MS);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectBufSize(br->opts, 1);
	if (s == NATS_OK)
		s = natsOptions_SetFailRequestsOnDisconnect(br->opts, true);
	/* A dead peer that sends no RST is noticed within ~15 s. */
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(br->opts, 5000);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(br->opts, 2);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(br->opts, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(
			br->opts, true, bridge_on_connected, br);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(br->opts, bridge_on_connected,
						 br);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(br->opts,
						  bridge_on_disconnected, br);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(br->opts, bridge_on_async_error,
						br);
	if (s == NATS_OK && br->creds != NULL) {
		s = natsOptions_SetUserCredentialsFromFiles(br->opts, br->creds,
							    NULL);
		if (s != NATS_OK) {
			fprintf(stderr, PROG ": %s: --creds %s: %s\n", who,
				br->creds, nats_GetLastError(NULL));
			return -1;
		}
	}
	if (s == NATS_OK && br->tls_ca != NULL) {
		s = natsOptions_SetSecure(br->opts, true);
		if (s == NATS_OK)
			s = natsOptions_LoadCATrustedCertificates(br->opts,
								  br->tls_ca);
		if (s != NATS_OK) {
			fprintf(stderr, PROG ": %s: --tls-ca %s: %s\n", who,
				br->tls_ca, nats_GetLastError(NULL));
			return -1;
		}
	}
	if (s != NATS_OK)
		goto err;
	return 0;

err:
	fprintf(stderr, PROG ": %s: NATS options: %s\n", who,
		nats_GetLastError(NULL));
	return -1;
}

/*
 * Connect (in the background when no server answers yet) and make the
 * JetStream context whose asynchronous publishes report to bridge_on_ack.
 * Returns 0, or -1 with a message (a fatal error: TLS, credentials).
 */
static int bridge_connect(struct bridge *br, const char *who, bool publish)
{
	jsOptions jo;
	natsStatus s;

	s = natsConnection_Connect(&br->nc, br->opts);
	if (s == NATS_OK) {
		char url[256];

		atomic_store(&br->connected, 1);
		if (natsConnection_GetConnectedUrl(br->nc, url, sizeof(url)) ==
		    NATS_OK)
			fprintf(stderr, PROG ": %s: connected to %s\n", who,
				url);
	} else if (s == NATS_NOT_YET_CONNECTED) {
		fprintf(stderr,
			PROG ": %s: no server answers yet, trying in the "
			     "background\n",
			who);
	} else {
		fprintf(stderr, PROG ": %s: cannot connect: %s\n", who,
			nats_GetLastError(NULL));
		return -1;
	}
	jsOptions_Init(&jo);
	jo.Wait = (int64_t)(br->ack_timeout_ns / MS);
	if (publish) {
		jo.PublishAsync.AckHandler = bridge_on_ack;
		jo.PublishAsync.AckHandlerClosure = br;
	}
	s = natsConnection_JetStream(&br->js, br->nc, &jo);
	if (s != NATS_OK) {
		fprintf(stderr, PROG ": %s: JetStream: %s\n", who,
			nats_GetLastError(NULL));
		return -1;
	}
	return 0;
}

/* What libnats said about the call that just failed with @s and @jerr,
 * into br->fail_text. */
static const char *bridge_nats_why(struct bridge *br, const char *what,
				   natsStatus s, jsErrCode jerr)
{
	const char *last = nats_GetLastError(NULL);

	if (last == NULL || last[0] == '\0')
		last = natsStatus_GetText(s);
	snprintf(br->fail_text, sizeof(br->fail_text), "%s: %s (%d)", what,
		 last, (int)jerr);
	return br->fail_text;
}

static void bridge_js_options(struct bridge *br, jsOptions *jo)
{
	jsOptions_Init(jo);
	jo->Wait = (int64_t)(br->ack_timeout_ns / MS);
}

/* ---- the stream ------------------------------------------------------------ */

/* The replicas of a stream we create: --replicas, else 3 when the
 * connection knows of 3 servers or more (those given and those the
 * cluster announced), else 1. */
static int bridge_replicas(struct bridge *br)
{
	char **servers = NULL;
	int n = 0, i, count;

	if (br->replicas > 0)
		return br->replicas;
	if (natsConnection_GetServers(br->nc, &servers, &n) != NATS_OK)
		n = 0;
	count = fleet_servers_distinct((const char *const *)servers, n);
	for (i = 0; i < n; i++)
		free(servers[i]);
	free(servers);
	if (count < br->nurls)
		count = fleet_servers_distinct(br->urls, br->nurls);
	return count >= 3 ? 3 : 1;
}

/* Returns 0 when created, 1 when another bridge created it first,
 * -EAGAIN. */
static int bridge_stream_create(struct bridge *br, uint64_t dup_ns)
{
	char subjects[FLEET_PREFIX_MAX + 3];
	const char *subj[1] = { subjects };
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	jsOptions jo;
	natsStatus s;

	snprintf(subjects, sizeof(subjects), "%s.>", br->prefix);
	jsStreamConfig_Init(&cfg);
	cfg.Name = br->stream;
	cfg.Subjects = subj;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Replicas = bridge_replicas(br);
	cfg.Duplicates = (int64_t)dup_ns;
	bridge_js_options(br, &jo);
	s = js_AddStream(&si, br->js, &cfg, &jo, &jerr);
	if (s != NATS_OK && jerr == JSStreamReplicasNotSupportedErr &&
	    cfg.Replicas > 1) {
		/* One server that is not clustered: it can hold one copy. */
		cfg.Replicas = 1;
		s = js_AddStream(&si, br->js, &cfg, &jo, &jerr);
	}
	if (s == NATS_OK) {
		fprintf(stderr,
			PROG ": %s: created stream %s (subjects %s, %d "
			     "replicas, duplicate window %llu s)\n",
			br->name, br->stream, subjects, (int)cfg.Replicas,
			(unsigned long long)(dup_ns / 1000000000ULL));
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (jerr == JSStreamNameExistErr)
		return 1; /* made by another bridge meanwhile */
	bridge_nats_why(br, "creating the stream", s, jerr);
	return -EAGAIN;
}

/*
 * Make sure the stream exists and keeps duplicates long enough for a
 * replay of the whole ring; warn if it does not take our subject.  An
 * existing stream is otherwise left alone.  Returns 0 or -EAGAIN.
 */
static int bridge_stream_check(struct bridge *br)
{
	uint64_t dup_ns = fleet_dup_window_ns(br->ring, br->period_ns);
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	jsOptions jo;
	natsStatus s;
	int i, ok = 0, ret;

	bridge_js_options(br, &jo);
	s = js_GetStreamInfo(&si, br->js, br->stream, &jo, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
		ret = bridge_stream_create(br, dup_ns);
		if (ret <= 0)
			return ret;
		/* Another bridge made it first: check the one it made. */
		s = js_GetStreamInfo(&si, br->js, br->stream, &jo, &jerr);
	}
	if (s != NATS_OK) {
		bridge_nats_why(br, "stream info", s, jerr);
		return -EAGAIN;
	}
	for (i = 0; i < si->Config->SubjectsLen; i++)
		ok |= fleet_subject_match(si->Config->Subjects[i], br->subject);
	if (!ok && !br->stream_warned)
		fprintf(stderr,
			PROG ": %s: stream %s does not take subject %s: "
			     "nothing can be stored\n",
			br->name, br->stream, br->subject);
	if (si->Config->Duplicates < (int64_t)dup_ns) {
		jsStreamInfo *nsi = NULL;

		si->Config->Duplicates = (int64_t)dup_ns;
		s = js_UpdateStream(&nsi, br->js, si->Config, &jo, &jerr);
		if (s == NATS_OK)
			fprintf(stderr,
				PROG ": %s: stream %s: duplicate window "
				     "raised to %llu s\n",
				br->name, br->stream,
				(unsigned long long)(dup_ns / 1000000000ULL));
		else if (!br->stream_warned)
			fprintf(stderr,
				PROG ": %s: stream %s: cannot raise its "
				     "duplicate window to %llu s: %s\n",
				br->name, br->stream,
				(unsigned long long)(dup_ns / 1000000000ULL),
				nats_GetLastError(NULL));
		jsStreamInfo_Destroy(nsi);
		ok = ok && s == NATS_OK;
	}
	br->stream_warned = !ok;
	jsStreamInfo_Destroy(si);
	return 0;
}

/* ---- the segment ------------------------------------------------------------ */

/* Size the buffers for the attached segment and load its sensor table.
 * Returns 0 or -ENOMEM. */
static int bridge_adopt(struct bridge *br)
{
	struct ringside_params p;
	size_t n = br->r.nsensors > 0 ? br->r.nsensors : 1;
	struct ringside_reading *v;
	char *json;

	client_sensors_exit(&br->sensors);
	if (client_sensors_load(&br->sensors, &br->r) < 0)
		return -ENOMEM;
	v = realloc(br->v, n * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	br->v = v;
	json = realloc(br->json, JSON_FIXED + n * JSON_PER_SENSOR);
	if (json == NULL)
		return -ENOMEM;
	br->json = json;
	br->json_len = JSON_FIXED + n * JSON_PER_SENSOR;
	ringside_reader_params(&br->r, &p);
	br->ring = p.ring;
	br->period_ns = p.period_ns;
	/* The stream's duplicate window depends on the ring: check it. */
	br->stream_checked = false;
	br->have_gap = br->have_batch = false;
	br->chain_known = false;
	br->sent_hwm = 0;
	br->epoch_from = br->adopted_once ? FLEET_FROM_FIRST : br->from;
	br->adopted_once = true;
	br->attached = true;
	br->phase = BRIDGE_WAIT;
	br->retry_at_ns = 0;
	return 0;
}

/*
 * Attach a segment (a first one, or a different one at the path once the
 * attached one is over).  Returns 1 when one was adopted, 0 when there is
 * none yet, -1 on a fatal error.
 */
static int bridge_segment(struct bridge *br)
{
	int ret;

	if (br->r.base != NULL)
		ret = ringside_reader_reattach(&br->r, 0);
	else
		ret = ringside_reader_attach(&br->r, br->name, 0);
	if (ret == -ENOENT || ret == -EAGAIN) {
		if (!br->said_waiting && br->r.base == NULL)
			fprintf(stderr,
				PROG ": %s: no segment yet, waiting for "
				     "one\n",
				br->name);
		br->said_waiting = true;
		return 0;
	}
	if (ret < 0) {
		/* A corrupt or foreign file: say so once, and look again
		 * (an engine restarted over it replaces it). */
		if (ret != br->attach_err)
			fprintf(stderr,
				PROG ": %s: %s (waiting for a valid "
				     "segment)\n",
				br->name, ringside_strerror(ret));
		br->attach_err = ret;
		return 0;
	}
	br->attach_err = 0;
	br->said_waiting = false;
	if (bridge_adopt(br) < 0) {
		fputs(PROG ": out of memory\n", stderr);
		return -1;
	}
	fprintf(stderr, PROG ": %s: following epoch %llu\n", br->name,
		(unsigned long long)br->r.epoch_us);
	return 1;
}

/* The oldest batch the ring still holds. */
static uint64_t bridge_oldest(const struct bridge *br, uint64_t head)
{
	return head >= br->ring ? head - br->ring + 1 : 1;
}

/* Batches readable now, with what is staged. */
static uint64_t bridge_backlog(const struct bridge *br)
{
	uint64_t head = ringside_reader_head(&br->r);
	uint64_t n = head >= br->r.next ? head - br->r.next + 1 : 0;

	return n + br->have_gap + br->have_batch;
}

/*
 * Stage the next batch read from the ring, with a gap marker before it
 * when the ring lost some.  Returns 1 when something is staged, 0 when
 * the reader is caught up.
 */
static int bridge_stage(struct bridge *br)
{
	if (br->have_gap || br->have_batch)
		return 1;
	if (ringside_reader_next(&br->r, &br->b, br->v, br->r.nsensors) <= 0)
		return 0;
	if (br->b.lost > 0) {
		br->have_gap = true;
		br->gap_first = br->b.seq - br->b.lost;
		br->gap_last = br->b.seq - 1;
	}
	br->have_batch = true;
	return 1;
}

/* ---- publishing ------------------------------------------------------------ */

/* The batch's JSON line into br->json.  Returns its length, or -ENOMEM. */
static int bridge_batch_json(struct bridge *br)
{
	int n;

	for (;;) {
		char *bigger;

		n = ringside_json_batch(br->json, br->json_len, br->r.name,
					br->r.epoch_us, br->sensors.names,
					br->sensors.units, &br->b, br->v);
		if (n >= 0)
			return n;
		bigger = realloc(br->json, br->json_len * 2);
		if (bigger == NULL)
			return -ENOMEM;
		br->json = bigger;
		br->json_len *= 2;
	}
}

/*
 * A batch the server would refuse for its size can never be stored, and
 * must not hold the chain up for ever: it becomes a gap marker of its own
 * (joined to one staged before it).
 */
static void bridge_oversize(struct bridge *br, int len)
{
	fprintf(stderr,
		PROG ": %s: batch %llu of epoch %llu is %d bytes, more than "
		     "the server takes: marked lost\n",
		br->name, (unsigned long long)br->b.seq,
		(unsigned long long)br->r.epoch_us, len);
	if (!br->have_gap)
		br->gap_first = br->b.seq;
	br->have_gap = true;
	br->gap_last = br->b.seq;
	br->have_batch = false;
}

/* Print and count gap marker @first..@last once, when it is stored. */
static void bridge_count_gap(struct bridge *br, uint64_t epoch, uint64_t first,
			     uint64_t last)
{
	if (br->counted_epoch == epoch && br->counted_first == first &&
	    br->counted_last == last)
		return;
	br->counted_epoch = epoch;
	br->counted_first = first;
	br->counted_last = last;
	br->c[BC_GAPS]++;
	br->c[BC_LOST] += last - first + 1;
	fprintf(stderr,
		PROG ": %s: batches %llu-%llu of epoch %llu lost (%llu)\n",
		br->name, (unsigned long long)first, (unsigned long long)last,
		(unsigned long long)epoch,
		(unsigned long long)(last - first + 1));
}

/*
 * Publish the first staged message.  @expect: the window is empty and the
 * subject's last message is known, so the message carries the guard that
 * makes the server refuse it unless it comes right after that one.
 * Returns 0, or -1 when the publish could not even be handed over (the
 * round fails).
 */
static int bridge_send(struct bridge *br, uint64_t now)
{
	char id[FLEET_ID_MAX], hdr[48], data_gap[FLEET_GAP_DATA_MAX];
	struct fleet_id fid;
	struct fleet_pending p;
	jsPubOptions po;
	natsMsg *msg = NULL;
	const char *data;
	natsStatus s;
	int len, maxp;

	memset(&fid, 0, sizeof(fid));
	snprintf(fid.host, sizeof(fid.host), "%s", br->host);
	snprintf(fid.name, sizeof(fid.name), "%s", br->name);
	fid.epoch = br->r.epoch_us;
	if (!br->have_gap) {
		len = bridge_batch_json(br);
		if (len < 0) {
			fputs(PROG ": out of memory\n", stderr);
			return -1;
		}
		/* The headers count too: two ids (ours and the one the
		 * order guard names) and the names around them. */
		maxp = (int)natsConnection_GetMaxPayload(br->nc);
		if (maxp > 0 && len + 2 * FLEET_ID_MAX + 256 > maxp) {
			bridge_oversize(br, len);
			return bridge_send(br, now);
		}
		fid.first = fid.seq = br->b.seq;
		data = br->json;
	} else {
		fid.gap = true;
		fid.first = br->gap_first;
		fid.seq = br->gap_last;
		len = fleet_gap_data(data_gap, sizeof(data_gap), &fid);
		data = data_gap;
	}
	if (len < 0 || fleet_id_format(id, sizeof(id), &fid) < 0)
		return -1;
	s = natsMsg_Create(&msg, br->subject, NULL, data, len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(msg, FLEET_HDR_MSG_ID, id);
	if (s == NATS_OK && fid.gap) {
		fleet_gap_header(hdr, sizeof(hdr), fid.first, fid.seq);
		s = natsMsgHeader_Set(msg, FLEET_HDR_GAP, hdr);
	}
	/*
	 * The order guards: the server stores this message only right after
	 * the one before it in the chain.  Alone in flight, it must follow
	 * the subject's last message, whose stream sequence we know exactly;
	 * behind others, the stream's last message must be the one sent just
	 * before (nats-server 2.9 checks this one when it applies the
	 * message, so it can be pipelined).  A message lost at a leader that
	 * stepped down thus makes every later one refused, never stored
	 * ahead of it.
	 */
	if (s == NATS_OK && br->win.count == 0) {
		snprintf(hdr, sizeof(hdr), "%llu",
			 (unsigned long long)br->chain_sseq);
		s = natsMsgHeader_Set(msg, FLEET_HDR_EXPECT_SEQ, hdr);
	} else if (s == NATS_OK) {
		s = natsMsgHeader_Set(msg, FLEET_HDR_EXPECT_ID, br->last_id);
	}
	if (s != NATS_OK) {
		natsMsg_Destroy(msg);
		return -1;
	}

	memset(&p, 0, sizeof(p));
	p.first = fid.first;
	p.seq = fid.seq;
	p.gap = fid.gap;
	p.tag = (uintptr_t)msg;
	/* In the window before it is sent: its ack may come back before
	 * js_PublishMsgAsync() returns. */
	pthread_mutex_lock(&br->mu);
	fleet_window_push(&br->win, &p, now);
	pthread_mutex_unlock(&br->mu);
	jsPubOptions_Init(&po);
	po.MaxWait = (int64_t)(br->ack_timeout_ns / MS);
	br->async_used = true;
	s = js_PublishMsgAsync(br->js, &msg, &po);
	if (s != NATS_OK) {
		/* Not handed over: we still own the message. */
		pthread_mutex_lock(&br->mu);
		fleet_window_settle(&br->win, p.tag, FLEET_FAILED, 0, (int)s,
				    0);
		if (br->fail_text[0] == '\0')
			snprintf(br->fail_text, sizeof(br->fail_text), "%s",
				 natsStatus_GetText(s));
		pthread_mutex_unlock(&br->mu);
		natsMsg_Destroy(msg);
		return -1;
	}
	br->c[BC_PUBLISHED]++;
	memcpy(br->last_id, id, sizeof(id));
	if (fid.seq <= br->sent_hwm)
		br->c[BC_RETRIES]++;
	else
		br->sent_hwm = fid.seq;
	if (fid.gap)
		br->have_gap = false;
	else
		br->have_batch = false;
	return 0;
}

/*
 * Whether the staged message may be published now.  Behind others in
 * flight only on a replay (a backlog; keeping up, one at a time costs
 * nothing), once the round has shown that the cluster answers, and not
 * over batches the stream already holds: a duplicate stores nothing, so
 * the message after it would find another last id than it expects.
 */
static bool bridge_may_send(struct bridge *br, uint64_t now)
{
	uint64_t place = br->have_gap ? br->gap_last : br->b.seq;
	bool ok;

	if (!br->chain_known)
		return false;
	if (br->win.count > 0) {
		if (br->probing || !br->round_acked)
			return false;
		if (place <= br->dup_until)
			return false;
		if (bridge_backlog(br) < BRIDGE_PIPELINE_MIN)
			return false;
	}
	/* The states and send times are the ack handler's to change. */
	pthread_mutex_lock(&br->mu);
	ok = fleet_window_may_send(&br->win, br->probing ? 1 : br->depth, now,
				   br->ack_timeout_ns / 8);
	pthread_mutex_unlock(&br->mu);
	return ok;
}

/* ---- rounds ----------------------------------------------------------------- */

static void bridge_log_transition(struct bridge *br,
				  enum engine_breaker_transition t)
{
	static const char *const what[] = {
		[ENGINE_BREAKER_OPENED] = "closed -> open",
		[ENGINE_BREAKER_HALF_OPENED] = "open -> half_open",
		[ENGINE_BREAKER_CLOSED] = "half_open -> closed",
		[ENGINE_BREAKER_REOPENED] = "half_open -> open",
	};

	if (t == ENGINE_BREAKER_NONE || t == ENGINE_BREAKER_STALE)
		return;
	fprintf(stderr, PROG ": %s: breaker %s\n", br->name, what[t]);
}

/* The round failed (@why): count it, tell the breaker, back off. */
static void bridge_round_fail(struct bridge *br, uint64_t now, const char *why)
{
	struct engine_backoff_policy pol = {
		.base_ns = BRIDGE_BACKOFF_BASE_NS,
		.max_ns = BRIDGE_BACKOFF_MAX_NS,
		.jitter = ENGINE_BACKOFF_JITTER_FULL,
	};
	enum engine_breaker_transition t;
	uint64_t wait;

	br->c[BC_FAILURES]++;
	if (!br->ticket_live) {
		/* The round's own result was recorded at its first ack:
		 * this failure is another call. */
		engine_breaker_admit(br->breaker, now, &br->ticket);
		bridge_log_transition(br, br->ticket.transition);
	}
	t = engine_breaker_record(br->breaker, &br->ticket, false, now);
	bridge_log_transition(br, t);
	br->ticket_live = false;
	br->probing = false;
	br->attempt++;
	wait = engine_backoff_delay(&pol, br->attempt, br->prev_wait_ns,
				    &br->rng);
	br->prev_wait_ns = wait;
	br->retry_at_ns = now + wait;
	br->phase = BRIDGE_WAIT;
	if (br->attempt == 1 || br->verbose)
		fprintf(stderr,
			PROG ": %s: publishing failed: %s; retrying in %llu "
			     "ms\n",
			br->name, why, (unsigned long long)(wait / MS));
}

/*
 * Ask the stream for the last message on our subject and decide where to
 * resume; position the reader there.  Returns 0, or -1 with @why set.
 */
static int bridge_resync(struct bridge *br, const char **why)
{
	struct fleet_resume_in in;
	struct fleet_resume out;
	struct fleet_pos stream, cursor;
	struct fleet_id id;
	const char *hdr = NULL;
	natsMsg *m = NULL;
	jsErrCode jerr = 0;
	jsOptions jo;
	natsStatus s;
	uint64_t head;
	bool have_stream = false;

	if (!br->stream_checked || br->stream_gen != br->conn_seen) {
		if (bridge_stream_check(br) < 0) {
			*why = br->fail_text;
			return -1;
		}
		br->stream_checked = true;
		br->stream_gen = br->conn_seen;
	}
	bridge_js_options(br, &jo);
	s = js_GetLastMsg(&m, br->js, br->stream, br->subject, &jo, &jerr);
	if (s == NATS_OK) {
		br->chain_sseq = natsMsg_GetSequence(m);
		if (natsMsgHeader_Get(m, FLEET_HDR_MSG_ID, &hdr) == NATS_OK &&
		    fleet_id_parse(hdr, &id) == 0 &&
		    strcmp(id.host, br->host) == 0 &&
		    strcmp(id.name, br->name) == 0) {
			stream.epoch = id.epoch;
			stream.seq = id.seq;
			have_stream = true;
			/* A gap marker we sent whose ack was lost is
			 * counted now that the stream shows it. */
			if (id.gap && id.epoch == br->r.epoch_us &&
			    id.seq <= br->sent_hwm)
				bridge_count_gap(br, id.epoch, id.first,
						 id.seq);
		} else {
			fprintf(stderr,
				PROG ": %s: the last message on %s (stream "
				     "sequence %llu) has the id '%s', not one "
				     "of ours: ignored\n",
				br->name, br->subject,
				(unsigned long long)br->chain_sseq,
				hdr != NULL ? hdr : "");
		}
		natsMsg_Destroy(m);
	} else if (jerr == JSNoMessageFoundErr) {
		br->chain_sseq = 0;
	} else {
		if (jerr == JSStreamNotFoundErr)
			br->stream_checked = false;
		*why = bridge_nats_why(br, "the stream's last message", s,
				       jerr);
		return -1;
	}
	br->chain_known = true;

	head = ringside_reader_head(&br->r);
	memset(&in, 0, sizeof(in));
	in.epoch = br->r.epoch_us;
	in.oldest = bridge_oldest(br, head);
	in.newest = head;
	in.from = br->epoch_from;
	in.done = br->have_done ? &br->done : NULL;
	in.stream = have_stream ? &stream : NULL;
	if (br->have_cursor_hint) {
		cursor.epoch = br->cursor_hint.epoch;
		cursor.seq = br->cursor_hint.seq;
		in.cursor = &cursor;
	}
	fleet_resume_decide(&in, &out);
	if (out.ignored & FLEET_IGNORED_STREAM)
		fprintf(stderr,
			PROG ": %s: the stream names batch %llu of epoch "
			     "%llu, which is not published yet: ignored\n",
			br->name, (unsigned long long)stream.seq,
			(unsigned long long)stream.epoch);
	if (out.ignored & FLEET_IGNORED_CURSOR) {
		fprintf(stderr,
			PROG ": %s: the cursor names batch %llu, which is not "
			     "published yet: ignored\n",
			br->name, (unsigned long long)cursor.seq);
		br->have_cursor_hint = false;
	}
	if (br->verbose || out.source != FLEET_SOURCE_DONE)
		fprintf(stderr,
			PROG ": %s: resuming at batch %llu of epoch %llu "
			     "(%s)\n",
			br->name,
			(unsigned long long)(out.gap_first ? out.gap_first
							   : out.next),
			(unsigned long long)in.epoch,
			out.source == FLEET_SOURCE_DONE	    ? "first not acked"
			: out.source == FLEET_SOURCE_STREAM ? "after the "
							      "stream's last"
			: out.source == FLEET_SOURCE_CURSOR ? "after the cursor"
							    : "start");
	/*
	 * Position the reader: the struct is the caller's, and next is the
	 * batch it returns next.  A place the ring has overwritten comes
	 * back as lost batches, which the next read turns into a gap
	 * marker, with the loss as it stands by then.
	 */
	br->r.next = out.gap_first ? out.gap_first : out.next;
	br->r.lost = 0;
	br->have_gap = br->have_batch = false;
	br->have_done = true;
	br->done.epoch = in.epoch;
	br->done.seq = br->r.next - 1;
	br->dup_until =
		have_stream && stream.epoch == in.epoch && stream.seq <= head
			? stream.seq
			: 0;
	return 0;
}

/* Start a round: ask the breaker, then the stream.  */
static void bridge_round_start(struct bridge *br, uint64_t now)
{
	enum engine_breaker_admission a;
	struct engine_breaker_stats bs;
	const char *why = "?";

	a = engine_breaker_admit(br->breaker, now, &br->ticket);
	bridge_log_transition(br, br->ticket.transition);
	if (a == ENGINE_BREAKER_REJECT) {
		/* Fail fast, without I/O, until the breaker lets a probe
		 * through. */
		engine_breaker_stats(br->breaker, &bs);
		br->retry_at_ns =
			bs.deadline_ns > now ? bs.deadline_ns : now + 10 * MS;
		return;
	}
	br->ticket_live = true;
	br->probing = a == ENGINE_BREAKER_PROBE;
	br->round_failed = false;
	br->round_hard = false;
	br->round_acked = false;
	br->depth = br->window;
	br->fail_text[0] = '\0';
	if (!atomic_load(&br->connected)) {
		bridge_round_fail(br, now, "not connected");
		return;
	}
	if (bridge_resync(br, &why) < 0) {
		bridge_round_fail(br, now, why);
		return;
	}
	br->phase = BRIDGE_RUN;
}

/*
 * Take back the results at the front of the window, in send order, and
 * account for them.  A failure ends the round (BRIDGE_SETTLE).
 */
static void bridge_results(struct bridge *br, uint64_t now)
{
	struct fleet_pending e;
	uint64_t epoch = br->r.epoch_us;

	pthread_mutex_lock(&br->mu);
	/* Our own bound, should a timeout of the library not come. */
	fleet_window_expire(&br->win, now,
			    br->ack_timeout_ns + BRIDGE_EXPIRE_SLACK_NS);
	while (fleet_window_pop(&br->win, &e)) {
		switch (e.state) {
		case FLEET_STORED:
		case FLEET_DUPLICATE:
			if (e.state == FLEET_DUPLICATE)
				br->c[BC_DUPLICATES]++;
			else if (!e.gap)
				br->c[BC_ACKED]++;
			if (e.state == FLEET_STORED && !br->round_hard)
				br->chain_sseq = e.sseq;
			/* One more in flight per depth's worth of acks:
			 * every message refused after a lost race is one
			 * in flight, so the depth grows back slowly. */
			if (br->depth < br->window &&
			    ++br->depth_acks >= br->depth) {
				br->depth++;
				br->depth_acks = 0;
			}
			if (e.gap)
				bridge_count_gap(br, epoch, e.first, e.seq);
			if (br->round_failed) {
				if (e.state == FLEET_STORED &&
				    !br->reorder_warned) {
					fprintf(stderr,
						PROG ": %s: batch %llu was "
						     "stored after a failed "
						     "one: the stream may hold "
						     "them out of order\n",
						br->name,
						(unsigned long long)e.seq);
					br->reorder_warned = true;
				}
				break;
			}
			br->done.epoch = epoch;
			br->done.seq = e.seq;
			br->have_done = true;
			if (!br->round_acked) {
				enum engine_breaker_transition t;

				br->round_acked = true;
				br->attempt = 0;
				br->prev_wait_ns = 0;
				if (br->ticket_live) {
					t = engine_breaker_record(br->breaker,
								  &br->ticket,
								  true, now);
					bridge_log_transition(br, t);
					br->ticket_live = false;
				}
				br->probing = false;
			}
			break;
		case FLEET_TIMEDOUT:
			br->c[BC_TIMEOUTS]++;
			/* fall through */
		case FLEET_FAILED:
		case FLEET_SENT:
			/* A pipelined message refused because the stream's
			 * last message is another engine's (or, after a
			 * restart, none) lost a race, not the cluster: no
			 * failure, the chain as the acks left it still
			 * stands. */
			if (e.state != FLEET_FAILED ||
			    e.code != JSStreamWrongLastMsgIDErr)
				br->round_hard = true;
			if (!br->round_failed) {
				br->round_failed = true;
				if (br->fail_text[0] == '\0')
					snprintf(br->fail_text,
						 sizeof(br->fail_text), "%s",
						 e.state == FLEET_TIMEDOUT
							 ? "no ack in time"
							 : "refused");
			}
			break;
		}
	}
	pthread_mutex_unlock(&br->mu);
	if (br->round_hard)
		br->chain_known = false;
	if (br->round_failed && br->phase == BRIDGE_RUN) {
		br->phase = BRIDGE_SETTLE;
		br->settle_until_ns =
			now + br->ack_timeout_ns + BRIDGE_EXPIRE_SLACK_NS;
	}
}

/*
 * The round lost a race for the stream's last message (another engine's
 * came in between): every message refused is known not stored, and the
 * chain stands where the acks left it.  Go on from the first batch not
 * acked, one publish at a time at first, with fewer in flight.
 */
static void bridge_round_resume(struct bridge *br)
{
	br->r.next = br->done.seq + 1;
	br->r.lost = 0;
	br->have_gap = br->have_batch = false;
	br->round_failed = false;
	br->fail_text[0] = '\0';
	br->depth = br->depth / 2 > 2 ? br->depth / 2 : 2;
	br->phase = BRIDGE_RUN;
	if (br->verbose)
		fprintf(stderr,
			PROG ": %s: another engine's message came in between: "
			     "going on at batch %llu\n",
			br->name, (unsigned long long)(br->done.seq + 1));
}

/*
 * Give up on every publish in flight: their results, should they come,
 * are ignored, and the library forgets them.
 */
static void bridge_abandon(struct bridge *br)
{
	natsMsgList pending;

	pthread_mutex_lock(&br->mu);
	fleet_window_clear(&br->win);
	pthread_mutex_unlock(&br->mu);
	/* libnats 3.4 crashes here before the first asynchronous publish
	 * has made its pending list. */
	memset(&pending, 0, sizeof(pending));
	if (br->js != NULL && br->async_used &&
	    js_PublishAsyncGetPendingList(&pending, br->js) == NATS_OK)
		natsMsgList_Destroy(&pending);
}

/* A disconnect ends the round at once: nothing in flight can be trusted
 * to settle on the connection it was sent on. */
static void bridge_check_connection(struct bridge *br, uint64_t now)
{
	unsigned gen = atomic_load(&br->conn_gen);

	if (gen == br->conn_seen)
		return;
	br->conn_seen = gen;
	if (br->phase != BRIDGE_RUN && br->phase != BRIDGE_SETTLE)
		return;
	bridge_results(br, now);
	bridge_abandon(br);
	bridge_round_fail(br, now, "disconnected");
}

/* Publishes in flight still awaiting their result. */
static uint32_t bridge_unsettled(struct bridge *br)
{
	uint32_t n;

	pthread_mutex_lock(&br->mu);
	n = br->win.unsettled;
	pthread_mutex_unlock(&br->mu);
	return n;
}

/* Wait on the window's condition up to @ns, or until a result comes. */
static void bridge_wait_acks(struct bridge *br, uint64_t ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns += (uint64_t)ts.tv_nsec;
	ts.tv_sec += (time_t)(ns / 1000000000ULL);
	ts.tv_nsec = (long)(ns % 1000000000ULL);
	pthread_mutex_lock(&br->mu);
	if (br->win.unsettled > 0 || br->win.count == 0)
		pthread_cond_timedwait(&br->cv, &br->mu, &ts);
	pthread_mutex_unlock(&br->mu);
}

/*
 * A message that could not even be built (no memory) is in no window
 * entry, so nothing else ends the round: it fails as if refused, once
 * what is in flight has settled, and the next one starts after a backoff
 * (never a busy loop over the same staged batch).
 */
static void bridge_send_failed(struct bridge *br, uint64_t now)
{
	pthread_mutex_lock(&br->mu);
	if (br->fail_text[0] == '\0')
		snprintf(br->fail_text, sizeof(br->fail_text), "%s",
			 "cannot build the message");
	pthread_mutex_unlock(&br->mu);
	br->round_failed = true;
	br->round_hard = true;
	br->chain_known = false;
	br->phase = BRIDGE_SETTLE;
	br->settle_until_ns = now + br->ack_timeout_ns + BRIDGE_EXPIRE_SLACK_NS;
}

/*
 * A round in progress: publish what the window allows, then sleep until
 * something can change that.  Moves to BRIDGE_SEGMENT once the segment is
 * over and everything of it is acked.
 */
static void bridge_run_round(struct bridge *br, uint64_t now)
{
	int ev;

	while (!bridge_stop && br->phase == BRIDGE_RUN && bridge_stage(br) &&
	       bridge_may_send(br, now)) {
		if (bridge_send(br, now) < 0) {
			bridge_results(br, now);
			if (br->phase == BRIDGE_RUN)
				bridge_send_failed(br, now);
			return;
		}
		bridge_results(br, now);
		now = client_now_ns();
	}
	if (br->phase != BRIDGE_RUN || bridge_stop)
		return;
	if (br->win.count > 0) {
		/* Waiting for acks; a replay may also go on when the ring
		 * grows, so look again soon. */
		bridge_wait_acks(br, bridge_backlog(br) > 0
					     ? 2 * MS
					     : BRIDGE_TICK_MS * MS);
		return;
	}
	if (br->have_gap || br->have_batch) {
		/* Staged but held back with nothing in flight: not expected,
		 * but never a busy loop. */
		bridge_wait_acks(br, BRIDGE_TICK_MS * MS);
		return;
	}
	ev = ringside_reader_wait(&br->r, BRIDGE_TICK_MS);
	if (ev < 0) {
		/* It returns at once then: never a busy loop. */
		client_sleep_ms(BRIDGE_TICK_MS);
		return;
	}
	if (ev == RINGSIDE_CLOSED || ev == RINGSIDE_DEAD ||
	    ev == RINGSIDE_REPLACED) {
		if (ev == RINGSIDE_CLOSED)
			fprintf(stderr,
				PROG ": %s: engine stopped, every batch "
				     "acked; waiting for a new segment\n",
				br->name);
		else if (ev == RINGSIDE_DEAD)
			fprintf(stderr,
				PROG ": %s: engine (pid %d) is gone, every "
				     "batch acked; waiting for a new "
				     "segment\n",
				br->name, (int)ringside_reader_pid(&br->r));
		br->phase = BRIDGE_SEGMENT;
	}
}

/* ---- the bridge's life ------------------------------------------------------ */

static int bridge_init(struct bridge *br)
{
	static char hostbuf[FLEET_HOST_MAX + 1];
	struct engine_breaker_config bc = {
		.failures = BRIDGE_BREAKER_FAILURES,
		.probes = 1,
		.window_ns = BRIDGE_BREAKER_WINDOW_NS,
		.reset_ns = BRIDGE_BREAKER_RESET_NS,
	};
	pthread_condattr_t ca;
	int ret;

	if (br->host == NULL) {
		if (gethostname(hostbuf, sizeof(hostbuf)) < 0 ||
		    !fleet_host_valid(hostbuf)) {
			fprintf(stderr,
				PROG ": %s: this host's name is not usable "
				     "here: give --host\n",
				br->name);
			return -1;
		}
		br->host = hostbuf;
	}
	if (fleet_subject(br->subject, sizeof(br->subject), br->prefix,
			  br->host, br->name) < 0) {
		fprintf(stderr, PROG ": %s: no valid subject from %s, %s\n",
			br->name, br->prefix, br->host);
		return -1;
	}
	br->slots = calloc(br->window, sizeof(*br->slots));
	br->breaker = aligned_alloc(64, sizeof(*br->breaker));
	if (br->slots == NULL || br->breaker == NULL) {
		fputs(PROG ": out of memory\n", stderr);
		return -1;
	}
	fleet_window_init(&br->win, br->slots, br->window);
	engine_breaker_init(br->breaker, &bc, client_now_ns());
	engine_backoff_rng_seed(&br->rng,
				(uint64_t)getpid() ^ (uint64_t)time(NULL),
				engine_backoff_hash(br->name));
	pthread_mutex_init(&br->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&br->cv, &ca);
	pthread_condattr_destroy(&ca);

	ret = fleet_cursor_read(br->state_path, &br->cursor_hint);
	if (ret == 0) {
		br->have_cursor_hint = true;
		br->cursor_written = br->cursor_hint;
	} else if (ret == -EINVAL) {
		fprintf(stderr,
			PROG ": %s: the cursor %s is corrupt: ignored\n",
			br->name, br->state_path);
	} else if (ret != -ENOENT) {
		fprintf(stderr, PROG ": %s: cannot read the cursor %s: %s\n",
			br->name, br->state_path, strerror(-ret));
	}

	ret = ringside_aux_create(&br->aux, br->name, "bridge", bridge_keys,
				  BC_COUNT, 0640);
	if (ret == -EBUSY) {
		fprintf(stderr,
			PROG ": %s: another ringside-bridge is running for "
			     "this engine\n",
			br->name);
		return -1;
	}
	if (ret < 0)
		fprintf(stderr,
			PROG ": %s: no counters segment (%s): going on "
			     "without\n",
			br->name, ringside_strerror(ret));
	br->aux_ok = ret == 0;
	br->phase = BRIDGE_SEGMENT;
	return 0;
}

static void bridge_exit(struct bridge *br)
{
	bool closed;

	atomic_store(&br->closing, true);
	bridge_abandon(br);
	jsCtx_Destroy(br->js);
	natsConnection_Destroy(br->nc);
	natsOptions_Destroy(br->opts);
	/* An ack handler may still be running on a libnats thread, about to
	 * take br->mu: let every such thread end before the mutex goes. */
	closed = nats_CloseAndWait(BRIDGE_CLOSE_WAIT_MS) == NATS_OK;
	if (br->aux_ok)
		ringside_aux_close(&br->aux);
	if (br->r.base != NULL)
		ringside_reader_detach(&br->r);
	client_sensors_exit(&br->sensors);
	free(br->v);
	free(br->json);
	free(br->slots);
	free(br->breaker);
	free(br->url_list);
	free(br->state_path);
	if (closed) {
		pthread_cond_destroy(&br->cv);
		pthread_mutex_destroy(&br->mu);
	}
}

/*
 * SIGTERM: no more reading; the publishes in flight have up to
 * BRIDGE_STOP_NS to settle.  Returns 1 while still waiting.
 */
static int bridge_stopping(struct bridge *br, uint64_t now)
{
	if (br->stop_until_ns == 0)
		br->stop_until_ns = now + BRIDGE_STOP_NS;
	if (br->phase != BRIDGE_RUN && br->phase != BRIDGE_SETTLE)
		return 0;
	bridge_results(br, now);
	if (br->win.count == 0 || now >= br->stop_until_ns)
		return 0;
	bridge_wait_acks(br, BRIDGE_TICK_MS * MS);
	return 1;
}

static int bridge_run(struct bridge *br)
{
	uint64_t now, left_ms;
	int ret;

	if (bridge_connect(br, br->name, true) < 0)
		return 1;
	for (;;) {
		now = client_now_ns();
		bridge_check_connection(br, now);
		if (bridge_stop && !bridge_stopping(br, now))
			break;
		if (bridge_stop)
			continue;
		switch (br->phase) {
		case BRIDGE_SEGMENT:
			ret = bridge_segment(br);
			if (ret < 0)
				return 1;
			if (ret == 0)
				client_sleep_ms(BRIDGE_SEGMENT_MS);
			break;
		case BRIDGE_WAIT:
			if (now >= br->retry_at_ns) {
				bridge_round_start(br, now);
				break;
			}
			left_ms = (br->retry_at_ns - now) / MS + 1;
			client_sleep_ms(left_ms < BRIDGE_TICK_MS
						? (unsigned)left_ms
						: BRIDGE_TICK_MS);
			break;
		case BRIDGE_RUN:
			bridge_results(br, now);
			if (br->phase == BRIDGE_RUN)
				bridge_run_round(br, now);
			break;
		case BRIDGE_SETTLE:
			bridge_results(br, now);
			if (bridge_unsettled(br) == 0 ||
			    now >= br->settle_until_ns) {
				bridge_results(br, now);
				bridge_abandon(br);
				if (!br->round_hard) {
					bridge_round_resume(br);
					break;
				}
				bridge_round_fail(br, now,
						  br->fail_text[0] != '\0'
							  ? br->fail_text
							  : "failed");
				break;
			}
			bridge_wait_acks(br, BRIDGE_TICK_MS * MS);
			break;
		}
		now = client_now_ns();
		bridge_cursor(br, now, false);
		bridge_stats(br, now, false);
	}
	bridge_results(br, client_now_ns());
	bridge_abandon(br);
	bridge_cursor(br, client_now_ns(), true);
	bridge_stats(br, client_now_ns(), true);
	return 0;
}

/* ---- consumer mode ---------------------------------------------------------- */

struct follow {
	struct bridge *br;
	uint64_t count; /* 0: no limit */
	uint64_t printed;
	bool done; /* --count reached, or the output is gone */
	int status;
};

/* One message of the stream: its data, one line, flushed. */
static void follow_on_msg(natsConnection *nc, natsSubscription *sub,
			  natsMsg *msg, void *closure)
{
	struct follow *f = closure;
	struct bridge *br = f->br;
	bool done;

	(void)nc;
	(void)sub;
	pthread_mutex_lock(&br->mu);
	done = f->done;
	pthread_mutex_unlock(&br->mu);
	if (!done) {
		fwrite(natsMsg_GetData(msg), 1,
		       (size_t)natsMsg_GetDataLength(msg), stdout);
		putchar('\n');
		if (fflush(stdout) != 0 || ferror(stdout))
			done = true;
		pthread_mutex_lock(&br->mu);
		if (++f->printed == f->count && f->count > 0)
			done = true;
		f->done = f->done || done;
		pthread_cond_signal(&br->cv);
		pthread_mutex_unlock(&br->mu);
	}
	natsMsg_Destroy(msg);
}

/* Subscribe: an ordered consumer, which libnats re-creates by itself
 * after a gap or a reconnect.  Returns 0, or -1 (retry later). */
static int follow_subscribe(struct follow *f, natsSubscription **sub,
			    bool *said)
{
	struct bridge *br = f->br;
	jsSubOptions so;
	jsErrCode jerr = 0;
	jsOptions jo;
	natsStatus s;

	bridge_js_options(br, &jo);
	jsSubOptions_Init(&so);
	so.Stream = br->stream;
	so.Ordered = true;
	so.Config.DeliverPolicy =
		br->from == FLEET_FROM_NOW ? js_DeliverNew : js_DeliverAll;
	s = js_Subscribe(sub, br->js, br->prefix, follow_on_msg, f, &jo, &so,
			 &jerr);
	if (s == NATS_OK)
		return 0;
	if (!*said || br->verbose)
		fprintf(stderr, PROG ": %s: cannot follow yet: %s\n",
			br->stream, nats_GetLastError(NULL));
	*said = true;
	*sub = NULL;
	return -1;
}

static int follow_run(struct bridge *br, uint64_t count)
{
	/* Static: libnats's thread may still be in follow_on_msg() after
	 * this returns, until main() has closed the library. */
	static struct follow f;
	natsSubscription *sub = NULL;
	pthread_condattr_t ca;
	bool said = false, done = false;
	uint64_t retry_at = 0;

	f.br = br;
	f.count = count;
	pthread_mutex_init(&br->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&br->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (bridge_connect(br, br->stream, false) < 0)
		return 1;
	while (!bridge_stop && !done) {
		uint64_t now = client_now_ns();

		if (sub == NULL && atomic_load(&br->connected) &&
		    now >= retry_at && follow_subscribe(&f, &sub, &said) < 0)
			retry_at = now + 1000 * MS;
		bridge_wait_acks(br, BRIDGE_TICK_MS * MS);
		pthread_mutex_lock(&br->mu);
		done = f.done;
		pthread_mutex_unlock(&br->mu);
	}
	if (sub != NULL) {
		/* Deletes the ephemeral consumer on the server. */
		natsSubscription_Unsubscribe(sub);
		natsSubscription_Destroy(sub);
	}
	return 0;
}

/* ---- main ------------------------------------------------------------------- */

/* The default cursor path, in the service's state directory if any. */
static char *bridge_state_path(const char *given, const char *name)
{
	const char *dir = getenv("STATE_DIRECTORY");
	char *path = NULL;
	int ret;

	if (given != NULL)
		return strdup(given);
	if (dir != NULL && dir[0] != '\0') {
		/* systemd may list several directories: the first is ours. */
		size_t n = strcspn(dir, ":");

		ret = asprintf(&path, "%.*s/bridge-%s.cursor", (int)n, dir,
			       name);
	} else {
		ret = asprintf(&path, "./ringside-bridge-%s.cursor", name);
	}
	return ret < 0 ? NULL : path;
}

int main(int argc, char **argv)
{
	static char outbuf[1 << 16];
	struct bridge_args a;
	struct bridge br;
	struct sigaction sa;
	uint64_t count = 0;
	int follow, ret;

	memset(&a, 0, sizeof(a));
	memset(&br, 0, sizeof(br));
	br.stream = "RINGSIDE";
	br.window = 256;
	br.ack_timeout_ns = 2000 * MS;
	br.from = FLEET_FROM_OLDEST;
	bridge_parse_args(argc, argv, &a, &br);
	follow = bridge_check_args(argc, argv, &a, &br, &count);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = bridge_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (follow) {
		setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
		ret = 1;
		if (bridge_nats_options(&br, br.stream) == 0)
			ret = follow_run(&br, count);
		atomic_store(&br.closing, true);
		jsCtx_Destroy(br.js);
		natsConnection_Destroy(br.nc);
		natsOptions_Destroy(br.opts);
		free(br.url_list);
		/* The message handler may still run: it uses br (and the
		 * follower, static for that reason) until the threads end. */
		nats_CloseAndWait(BRIDGE_CLOSE_WAIT_MS);
		return ret;
	}

	br.state_path = bridge_state_path(a.state, br.name);
	if (br.state_path == NULL) {
		fputs(PROG ": out of memory\n", stderr);
		return 1;
	}
	ret = 1;
	if (bridge_init(&br) == 0 && bridge_nats_options(&br, br.name) == 0) {
		fprintf(stderr,
			PROG ": %s: publishing to %s on stream %s (host %s)\n",
			br.name, br.subject, br.stream, br.host);
		ret = bridge_run(&br);
	}
	bridge_exit(&br);
	return ret;
}
