/* SPDX-License-Identifier: MIT */
/*
 * top.c - ringside-top: a live terminal view of one engine.  A header
 * with the engine's state and counters, then one row per sensor: its
 * newest value (or why there is none), a sparkline of its recent batches,
 * its status, its breaker state in colour, its retry and failure rates.
 *
 * The program sleeps in poll() on the terminal, with a timeout of one
 * update interval.  Keys are answered at once.  At each update every
 * batch the ring holds for us is taken (the ring keeps far more than an
 * interval's worth; batches lost all the same, to a short ring and a fast
 * period, show as gaps), the counters are copied, the segment's state is
 * looked at and the screen is drawn again.  The futex wait of the library
 * is not used for sleeping because it cannot watch the terminal too, and
 * redrawing per batch would only cost bandwidth over ssh.  Between two
 * updates of a long interval the state alone is looked at twice a second,
 * so that a dead or stopped engine is reported within a second whatever
 * the interval.
 *
 * The screen is drawn into the standard screen after erase(), and
 * refresh() sends only what changed, once per update: nothing flickers
 * and nothing but the changes crosses a slow link.  The layout is worked
 * out from COLS at every draw, so a resize (KEY_RESIZE) needs nothing but
 * a redraw; a terminal too small for the table gets one line saying so.
 *
 * Everything a segment needs (readings, the history behind the
 * sparklines, counter snapshots behind the rates) is allocated when the
 * segment is attached, sized from its sensor count, and freed when the
 * next one is; an update allocates nothing.
 */
#define NCURSES_WIDECHAR 1

#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#include <curses.h>

#include "common.h"
#include "ringside.h"

#define PROG "ringside-top"

#define TOP_INTERVAL_MS 1000 /* default update interval */
#define TOP_INTERVAL_MIN 50
#define TOP_INTERVAL_MAX 60000
#define TOP_CHECK_MS 500 /* the state is looked at this often */
#define TOP_MSG_MS 5000	 /* how long a passing message stays */

#define TOP_HIST 40 /* batches kept per sensor for the sparkline */
#define TOP_WINDOW_NS 10000000000ULL /* rates over the last 10 s */
#define TOP_SNAPS 12		     /* counter snapshots behind them */

#define TOP_MIN_COLS 40
#define TOP_MIN_LINES 6
#define TOP_TOP_ROWS 3 /* title, summary, column header */

/* Colour pairs. */
#define TOP_GREEN 1
#define TOP_YELLOW 2
#define TOP_RED 3
#define TOP_CYAN 4

enum top_state {
	TOP_WAITING, /* no segment yet */
	TOP_LIVE,
	TOP_CLOSED, /* stopped cleanly (or replaced, moving on) */
	TOP_DEAD,   /* gone without a clean stop */
};

enum top_sort {
	TOP_SORT_CONFIG,
	TOP_SORT_NAME,
	TOP_SORT_FAILURES,
	TOP_SORT_BREAKER,
	TOP_SORT_COUNT,
};

static const char *const top_sort_name[TOP_SORT_COUNT] = { "config", "name",
							   "failures",
							   "breaker" };

/* The counters behind the per-sensor rates, as kept in a snapshot. */
enum top_counter {
	TOP_C_CALLS,
	TOP_C_FAILED,
	TOP_C_FAST_FAILS,
	TOP_C_RETRIES,
	TOP_C_LATENCY_SUM,
	TOP_C_COUNT,
};

static const unsigned top_counter_index[TOP_C_COUNT] = {
	RINGSIDE_SC_CALLS, RINGSIDE_SC_FAILED, RINGSIDE_SC_FAST_FAILS,
	RINGSIDE_SC_RETRIES, RINGSIDE_SC_LATENCY_SUM
};

/* The engine's counters at one moment; the sensors' are in snap_c. */
struct top_snap {
	uint64_t mono_ns;
	uint64_t batches;
	uint64_t degraded;
};

/* Widths of the table's columns for the current COLS; 0: not shown. */
struct top_layout {
	int name, value, spark, status, breaker, retry, fail, latency, opens;
	int rows; /* sensor rows on the screen */
};

struct top {
	/* From the command line. */
	const char *name;
	unsigned interval_ms;

	/* The segment and what was made of it. */
	struct ringside_reader r;
	struct client_sensors sensors;
	enum top_state state;
	uint32_t n;			  /* sensors */
	struct ringside_reading *v;	  /* one batch, n entries */
	struct ringside_reading *last;	  /* newest reading of each */
	float *hist;			  /* n x TOP_HIST values */
	unsigned char *hist_ok;		  /* n x TOP_HIST: a value is there */
	uint64_t nhist;			  /* batch columns recorded */
	uint64_t batches_read;		  /* batches taken from the ring */
	struct ringside_sensor_stats *st; /* n, the newest copy */
	struct ringside_engine_stats est;
	int have_stats;

	/* Counter snapshots, a ring of TOP_SNAPS, and the rates from them. */
	struct top_snap snap[TOP_SNAPS];
	uint64_t *snap_c; /* TOP_SNAPS x n x TOP_C_COUNT */
	unsigned nsnap, snap_head;
	double *fail_pct;   /* n; < 0: no calls in the window */
	double *retry_rate; /* n, per second; < 0: unknown */
	double *latency_ms; /* n, mean; < 0: no calls */
	double degraded_pct;
	double batch_rate; /* over the last interval (a second at least) */
	uint64_t prev_batches, prev_mono_ns;
	uint64_t stats_mono_ns;	   /* when the counters were copied */
	uint64_t last_pub_mono_ns; /* publication of the newest batch */
	uint64_t frozen_uptime_ns; /* once the engine has stopped */

	/* The view. */
	uint32_t *order;
	enum top_sort sort;
	int session_rates; /* rates over the engine's life, not 10 s */
	uint32_t scroll;
	int help;
	int utf8;
	int colour;
	unsigned unit_w;       /* widest unit, for the value column */
	unsigned name_w;       /* widest name */
	char msg[160];	       /* a line for the footer */
	uint64_t msg_until_ns; /* 0: for as long as the state lasts */
};

static volatile sig_atomic_t top_stop;

static void top_on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

/* ---- command line ------------------------------------------------------ */

static void top_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " NAME [--interval MS]\n"
		"A live terminal view of the ringside engine whose segment "
		"is\n"
		"/dev/shm/ringside.NAME: its state and counters and, per "
		"sensor, the newest\n"
		"value, a sparkline of the recent batches, the status, the "
		"breaker state and\n"
		"the retry and failure rates.\n"
		"\n"
		"  -i, --interval MS  redraw every MS milliseconds "
		"(default 1000, 50 to 60000)\n"
		"  -h, --help         show this help and exit\n"
		"  -V, --version      show the version and exit\n"
		"\n"
		"Keys: q quit, s change the sort (config order, name, "
		"failures, breaker state),\n"
		"r rates over the last 10 s or the engine's life, j/k or "
		"arrows scroll, ? help.\n"
		"A segment that does not exist yet is waited for; a stopped, "
		"dead or restarted\n"
		"engine is shown as such, and its next segment is followed.\n"
		"Exit status: 0 on q or SIGINT/SIGTERM; 1 when the segment is "
		"invalid or the\n"
		"terminal cannot be used; 2 on a usage error.\n");
}

static void top_parse(struct top *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t ms;
	int opt;

	opterr = 0; /* our own one-line messages */
	while ((opt = getopt_long(argc, argv, ":i:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (client_parse_u64(optarg, &ms) < 0 ||
			    ms < TOP_INTERVAL_MIN || ms > TOP_INTERVAL_MAX)
				client_usage_error(
					PROG,
					"--interval takes milliseconds "
					"from %d to %d, not '%s'",
					TOP_INTERVAL_MIN, TOP_INTERVAL_MAX,
					optarg);
			t->interval_ms = (unsigned)ms;
			break;
		case 'h':
			top_usage(stdout);
			exit(0);
		case 'V':
			printf(PROG " %s\n", RINGSIDE_VERSION);
			exit(0);
		default:
			client_bad_option(PROG, opt, argv);
		}
	}
	t->name = client_name_operand(PROG, argc, argv);
}

/* ---- the segment ------------------------------------------------------- */

static void top_set_msg(struct top *t, uint64_t for_ns, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void top_set_msg(struct top *t, uint64_t for_ns, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->msg, sizeof(t->msg), fmt, ap);
	va_end(ap);
	t->msg_until_ns = for_ns > 0 ? client_now_ns() + for_ns : 0;
}

static void top_free_segment(struct top *t)
{
	client_sensors_exit(&t->sensors);
	free(t->v);
	free(t->last);
	free(t->hist);
	free(t->hist_ok);
	free(t->st);
	free(t->snap_c);
	free(t->fail_pct);
	free(t->retry_rate);
	free(t->latency_ms);
	free(t->order);
	t->v = t->last = NULL;
	t->hist = NULL;
	t->hist_ok = NULL;
	t->st = NULL;
	t->snap_c = NULL;
	t->fail_pct = t->retry_rate = t->latency_ms = NULL;
	t->order = NULL;
	t->n = 0;
}

/* Display columns @s takes (control characters count as one '?'). */
static unsigned top_text_width(const char *s)
{
	mbstate_t ps;
	unsigned w = 0;
	size_t k;
	wchar_t c;
	int cw;

	memset(&ps, 0, sizeof(ps));
	while (*s != '\0') {
		k = mbrtowc(&c, s, MB_CUR_MAX, &ps);
		if (k == (size_t)-1 || k == (size_t)-2) {
			memset(&ps, 0, sizeof(ps));
			k = 1;
			cw = 1;
		} else {
			cw = wcwidth(c);
			if (cw < 0)
				cw = 1;
		}
		w += (unsigned)cw;
		s += k;
	}
	return w;
}

/*
 * A segment has just been attached: allocate what its sensors need and
 * start from an empty history.  Returns 0 or -ENOMEM.
 */
static int top_adopt(struct top *t)
{
	size_t n;
	uint32_t i;

	top_free_segment(t);
	if (client_sensors_load(&t->sensors, &t->r) < 0)
		goto err_nomem;
	t->n = t->r.nsensors;
	n = t->n > 0 ? t->n : 1;
	t->v = calloc(n, sizeof(*t->v));
	t->last = calloc(n, sizeof(*t->last));
	t->hist = calloc(n * TOP_HIST, sizeof(*t->hist));
	t->hist_ok = calloc(n * TOP_HIST, 1);
	t->st = calloc(n, sizeof(*t->st));
	t->snap_c = calloc(n * TOP_SNAPS * TOP_C_COUNT, sizeof(*t->snap_c));
	t->fail_pct = calloc(n, sizeof(*t->fail_pct));
	t->retry_rate = calloc(n, sizeof(*t->retry_rate));
	t->latency_ms = calloc(n, sizeof(*t->latency_ms));
	t->order = calloc(n, sizeof(*t->order));
	if (t->v == NULL || t->last == NULL || t->hist == NULL ||
	    t->hist_ok == NULL || t->st == NULL || t->snap_c == NULL ||
	    t->fail_pct == NULL || t->retry_rate == NULL ||
	    t->latency_ms == NULL || t->order == NULL)
		goto err_free;

	t->unit_w = t->name_w = 0;
	for (i = 0; i < t->n; i++) {
		unsigned w = top_text_width(t->sensors.units[i]);

		if (w > t->unit_w)
			t->unit_w = w;
		w = top_text_width(t->sensors.names[i]);
		if (w > t->name_w)
			t->name_w = w;
		t->fail_pct[i] = t->retry_rate[i] = t->latency_ms[i] = -1;
		t->last[i].status = 0xff; /* no batch yet */
		t->order[i] = i;
	}
	t->nhist = 0;
	t->batches_read = 0;
	t->have_stats = 0;
	memset(&t->est, 0, sizeof(t->est));
	t->nsnap = t->snap_head = 0;
	t->degraded_pct = -1;
	t->batch_rate = -1;
	t->prev_batches = t->prev_mono_ns = t->stats_mono_ns = 0;
	t->last_pub_mono_ns = t->frozen_uptime_ns = 0;
	t->state = TOP_LIVE;
	return 0;

err_free:
	top_free_segment(t);
err_nomem:
	return -ENOMEM;
}

/* Take one batch into the history of each sensor. */
static void top_record(struct top *t, const struct ringside_batch *b)
{
	uint64_t gaps = b->lost < TOP_HIST ? b->lost : TOP_HIST;
	uint32_t i;
	size_t col;

	/* Batches lost by a slow reader are columns without values. */
	for (; gaps > 0; gaps--, t->nhist++)
		for (i = 0; i < t->n; i++)
			t->hist_ok[(size_t)i * TOP_HIST + t->nhist % TOP_HIST] =
				0;
	col = t->nhist % TOP_HIST;
	for (i = 0; i < t->n; i++) {
		size_t k = (size_t)i * TOP_HIST + col;

		if (i < b->nreadings) {
			t->last[i] = t->v[i];
			t->hist_ok[k] = t->v[i].status == RINGSIDE_OK;
			t->hist[k] = (float)t->v[i].value;
		} else {
			t->hist_ok[k] = 0;
		}
	}
	t->nhist++;
	t->batches_read++;
	t->last_pub_mono_ns = b->published_mono_ns;
}

static uint64_t *top_snap_c(struct top *t, unsigned slot, uint32_t sensor)
{
	return t->snap_c + ((size_t)slot * t->n + sensor) * TOP_C_COUNT;
}

/*
 * Work the rates out from the newest counters: over the last 10 s (the
 * newest snapshot at least that old, else the oldest one there is), or
 * over the engine's life.  A snapshot is kept at most every 1/10 of the
 * window, so TOP_SNAPS of them always cover it.
 */
static void top_rates(struct top *t, uint64_t now)
{
	const uint64_t *ec = t->est.counter;
	const struct top_snap *base = NULL;
	struct top_snap zero;
	unsigned i, slot = 0, newest;
	uint64_t dt;
	uint32_t s;

	newest = (t->snap_head + TOP_SNAPS - 1) % TOP_SNAPS;
	if (t->nsnap == 0 ||
	    now - t->snap[newest].mono_ns >= TOP_WINDOW_NS / 10) {
		struct top_snap *p = &t->snap[t->snap_head];

		p->mono_ns = now;
		p->batches = ec[RINGSIDE_EC_BATCHES];
		p->degraded = ec[RINGSIDE_EC_DEGRADED];
		for (s = 0; s < t->n; s++)
			for (i = 0; i < TOP_C_COUNT; i++)
				top_snap_c(t, t->snap_head, s)[i] =
					t->st[s].counter[top_counter_index[i]];
		t->snap_head = (t->snap_head + 1) % TOP_SNAPS;
		if (t->nsnap < TOP_SNAPS)
			t->nsnap++;
	}

	if (t->session_rates) {
		memset(&zero, 0, sizeof(zero));
		zero.mono_ns = ec[RINGSIDE_EC_STARTED_MONO_NS];
		base = &zero;
	} else {
		/* From the oldest snapshot to the newest, the last one old
		 * enough; the newest of all is now, never a base. */
		for (i = t->nsnap; i >= 2; i--) {
			unsigned k = (t->snap_head + TOP_SNAPS - i) % TOP_SNAPS;

			if (base == NULL ||
			    now - t->snap[k].mono_ns >= TOP_WINDOW_NS) {
				base = &t->snap[k];
				slot = k;
			}
		}
	}
	for (s = 0; s < t->n; s++)
		t->fail_pct[s] = t->retry_rate[s] = t->latency_ms[s] = -1;
	t->degraded_pct = -1;
	if (base == NULL || now <= base->mono_ns)
		return;
	dt = now - base->mono_ns;
	if (ec[RINGSIDE_EC_BATCHES] > base->batches)
		t->degraded_pct =
			100.0 *
			(double)(ec[RINGSIDE_EC_DEGRADED] - base->degraded) /
			(double)(ec[RINGSIDE_EC_BATCHES] - base->batches);
	for (s = 0; s < t->n; s++) {
		const uint64_t *c = t->st[s].counter;
		uint64_t d[TOP_C_COUNT];

		for (i = 0; i < TOP_C_COUNT; i++) {
			uint64_t now_c = c[top_counter_index[i]];
			uint64_t then =
				base == &zero ? 0 : top_snap_c(t, slot, s)[i];

			d[i] = now_c > then ? now_c - then : 0;
		}
		/* A call refused by the open breaker gave no value either. */
		if (d[TOP_C_CALLS] + d[TOP_C_FAST_FAILS] > 0)
			t->fail_pct[s] =
				100.0 *
				(double)(d[TOP_C_FAILED] +
					 d[TOP_C_FAST_FAILS]) /
				(double)(d[TOP_C_CALLS] + d[TOP_C_FAST_FAILS]);
		t->retry_rate[s] = (double)d[TOP_C_RETRIES] * 1e9 / (double)dt;
		if (d[TOP_C_CALLS] > 0)
			t->latency_ms[s] = (double)d[TOP_C_LATENCY_SUM] /
					   (double)d[TOP_C_CALLS] / 1000.0;
	}
}

/*
 * Copy the counters and work out the rates.  The batch rate is measured
 * over the last interval, but over a second at least: a shorter span
 * holds too few batches to say anything.
 */
static void top_read_stats(struct top *t, uint64_t now)
{
	uint64_t batches, span = (uint64_t)t->interval_ms * 1000000;

	if (ringside_reader_stats(&t->r, &t->est, t->st, t->n) < 0 &&
	    !t->have_stats)
		return; /* the writer kept changing them: next time */
	t->have_stats = 1;
	t->stats_mono_ns = now;
	if (span < 1000000000ULL)
		span = 1000000000ULL;
	batches = t->est.counter[RINGSIDE_EC_BATCHES];
	if (t->prev_mono_ns == 0 || batches < t->prev_batches) {
		t->prev_batches = batches;
		t->prev_mono_ns = now;
	} else if (now - t->prev_mono_ns >= span) {
		t->batch_rate = (double)(batches - t->prev_batches) * 1e9 /
				(double)(now - t->prev_mono_ns);
		t->prev_batches = batches;
		t->prev_mono_ns = now;
	}
	top_rates(t, now);
}

/* An invalid segment or a failed allocation: the error, then exit 1. */
static int top_fail(struct top *t, int err)
{
	endwin();
	if (err == -ENOMEM)
		fputs(PROG ": out of memory\n", stderr);
	else
		fprintf(stderr, PROG ": %s: %s\n", t->name,
			ringside_strerror(err));
	return 1;
}

/*
 * A new segment is attached: adopt it and say so.  Returns -1 to go on,
 * or the exit status.
 */
static int top_new_segment(struct top *t, const char *what)
{
	int ret = top_adopt(t);

	if (ret < 0)
		return top_fail(t, ret);
	top_set_msg(t, (uint64_t)TOP_MSG_MS * 1000000, "%s, epoch %llu", what,
		    (unsigned long long)t->r.epoch_us);
	return -1;
}

/*
 * Look for a segment other than the one held (any, when none is): a
 * segment that is not there yet, or still the same, is not an error.
 * Returns -1 to go on, or the exit status.
 */
static int top_look_for_segment(struct top *t)
{
	int ret;

	if (t->r.base != NULL)
		ret = ringside_reader_reattach(&t->r, RINGSIDE_FROM_OLDEST);
	else
		ret = ringside_reader_attach(&t->r, t->name,
					     RINGSIDE_FROM_OLDEST);
	if (ret == -ENOENT || ret == -EAGAIN)
		return -1;
	if (ret < 0)
		return top_fail(t, ret);
	return top_new_segment(t, t->state == TOP_WAITING ? "attached"
							  : "new segment");
}

/* Note the end of the segment's life, once. */
static void top_set_state(struct top *t, enum top_state state, uint64_t now)
{
	uint64_t started = t->est.counter[RINGSIDE_EC_STARTED_MONO_NS];
	uint64_t end = now;

	if (t->state == state)
		return;
	t->state = state;
	/* The engine's life ended with its last batch, maybe long before
	 * we looked (a segment left by an engine stopped yesterday). */
	if (t->last_pub_mono_ns != 0 && t->last_pub_mono_ns < now)
		end = t->last_pub_mono_ns;
	if (state == TOP_CLOSED || state == TOP_DEAD)
		t->frozen_uptime_ns = end > started ? end - started : 0;
	if (state == TOP_CLOSED)
		top_set_msg(t, 0, "engine stopped; waiting for a new segment");
	else if (state == TOP_DEAD)
		top_set_msg(t, 0,
			    "engine (pid %d) is gone; waiting for a new "
			    "segment",
			    (int)ringside_reader_pid(&t->r));
}

/* Take every ready batch, then copy the counters. */
static void top_take(struct top *t, uint64_t now)
{
	struct ringside_batch b;

	while (ringside_reader_next(&t->r, &b, t->v, t->n) > 0)
		top_record(t, &b);
	top_read_stats(t, now);
}

/*
 * One update: take every ready batch, copy the counters, follow the
 * segment's life.  Once the engine has stopped, what it left stays on the
 * screen as it was (rates included) until a new segment comes.  Returns
 * -1 to go on, or the exit status.
 */
static int top_update(struct top *t, uint64_t now)
{
	int ev, ret;

	if (t->r.base == NULL || t->state != TOP_LIVE) {
		ret = top_look_for_segment(t);
		if (ret >= 0 || t->state != TOP_LIVE)
			return ret;
	}
	top_take(t, now);

	ev = ringside_reader_state(&t->r);
	switch (ev) {
	case RINGSIDE_TIMEOUT:
	case RINGSIDE_READY:
		return -1;
	case RINGSIDE_CLOSED:
		top_set_state(t, TOP_CLOSED, now);
		break;
	case RINGSIDE_DEAD:
		top_set_state(t, TOP_DEAD, now);
		break;
	case RINGSIDE_REPLACED:
		/* A reload that changed the sensors: move on at once. */
		top_set_state(t, TOP_CLOSED, now);
		top_set_msg(t, 0, "segment replaced; waiting for the new one");
		break;
	default:
		return top_fail(t, ev);
	}
	ret = top_look_for_segment(t);
	if (ret < 0 && t->state == TOP_LIVE)
		top_take(t, now); /* the new segment's batches, now */
	return ret;
}

/* Between updates: 1 when the segment's life has moved on. */
static int top_state_changed(struct top *t)
{
	int ev;

	if (t->r.base == NULL || t->state != TOP_LIVE)
		return 1; /* looking for a segment: look again */
	ev = ringside_reader_state(&t->r);
	return ev != RINGSIDE_TIMEOUT && ev != RINGSIDE_READY;
}

/* ---- drawing ----------------------------------------------------------- */

/*
 * Put @s at (@y, @x) in at most @w columns, right-aligned when @right.
 * Text from the segment is not trusted: what is not printable becomes '?',
 * so no unit can move the cursor.  Text cut short ends with an ellipsis.
 * Returns the columns written.
 */
static int top_put(struct top *t, int y, int x, int w, const char *s, int right)
{
	wchar_t buf[256];
	int cols[256];
	mbstate_t ps;
	int n = 0, used = 0, cw;
	size_t k;
	wchar_t c;

	if (w <= 0)
		return 0;
	memset(&ps, 0, sizeof(ps));
	while (*s != '\0' && n < (int)(sizeof(buf) / sizeof(buf[0])) - 1) {
		k = mbrtowc(&c, s, MB_CUR_MAX, &ps);
		if (k == (size_t)-1 || k == (size_t)-2) {
			memset(&ps, 0, sizeof(ps));
			k = 1;
			c = L'?';
		}
		cw = wcwidth(c);
		if (cw < 0 || !iswprint(c)) {
			c = L'?';
			cw = 1;
		}
		buf[n] = c;
		cols[n++] = cw;
		used += cw;
		s += k;
	}
	if (used > w) {
		/* Drop characters until the ellipsis fits. */
		while (n > 0 && used > w - 1)
			used -= cols[--n];
		buf[n++] = t->utf8 ? L'\u2026' : L'~';
		used++;
	}
	buf[n] = L'\0';
	if (right && used < w)
		x += w - used;
	mvaddnwstr(y, x, buf, n);
	return used;
}

/* As top_put, formatted. */
static int top_putf(struct top *t, int y, int x, int w, int right,
		    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int top_putf(struct top *t, int y, int x, int w, int right,
		    const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return top_put(t, y, x, w, buf, right);
}

static attr_t top_colour(const struct top *t, short pair)
{
	return t->colour ? COLOR_PAIR(pair) : A_NORMAL;
}

static void top_duration(char *buf, size_t len, uint64_t ns)
{
	uint64_t s = ns / 1000000000ULL;

	if (s >= 86400)
		snprintf(buf, len, "%llud%02u:%02u:%02u",
			 (unsigned long long)(s / 86400),
			 (unsigned)(s % 86400 / 3600),
			 (unsigned)(s % 3600 / 60), (unsigned)(s % 60));
	else
		snprintf(buf, len, "%u:%02u:%02u", (unsigned)(s / 3600),
			 (unsigned)(s % 3600 / 60), (unsigned)(s % 60));
}

/* Line 0: name, state, uptime, epoch; the sort on the right. */
static void top_draw_title(struct top *t, uint64_t now)
{
	static const char *const state_name[] = { "waiting", "live", "closed",
						  "dead" };
	static const short state_pair[] = { TOP_YELLOW, TOP_GREEN, TOP_YELLOW,
					    TOP_RED };
	uint64_t started = t->est.counter[RINGSIDE_EC_STARTED_MONO_NS];
	char sort[40], up[32];
	int x = 0, sw;

	snprintf(sort, sizeof(sort), "sort: %s  ? help",
		 top_sort_name[t->sort]);
	sw = (int)strlen(sort);
	attron(A_BOLD);
	x += top_put(t, 0, x, COLS, t->name, 0);
	attroff(A_BOLD);
	x++;
	attron(A_BOLD | top_colour(t, state_pair[t->state]));
	x += top_put(t, 0, x, COLS - x, state_name[t->state], 0);
	attroff(A_BOLD | top_colour(t, state_pair[t->state]));
	if (t->r.base != NULL && t->have_stats) {
		uint64_t ns = t->frozen_uptime_ns;

		if (t->state == TOP_LIVE)
			ns = now > started ? now - started : 0;
		top_duration(up, sizeof(up), ns);
		if (x + 4 + (int)strlen(up) <= COLS - sw - 2)
			x += top_putf(t, 0, x, COLS - x, 0, "  up %s", up);
	}
	if (t->r.base != NULL && x + 24 <= COLS - sw - 2)
		x += top_putf(t, 0, x, COLS - x, 0, "  epoch %llu",
			      (unsigned long long)t->r.epoch_us);
	if (x + 2 + sw <= COLS)
		top_put(t, 0, COLS - sw, sw, sort, 0);
}

static void top_rate_text(char *buf, size_t len, double pct)
{
	if (pct < 0)
		snprintf(buf, len, "-");
	else if (pct > 0 && pct < 9.95)
		snprintf(buf, len, "%.1f%%", pct);
	else
		snprintf(buf, len, "%.0f%%", pct);
}

/* Line 1: batches, their rate, the degraded share, late, missed. */
static void top_draw_summary(struct top *t)
{
	const uint64_t *ec = t->est.counter;
	char rate[32], deg[32];
	uint32_t i, ok = 0;
	int x = 0;

	if (t->r.base == NULL) {
		top_putf(t, 1, 0, COLS, 0,
			 "no segment /dev/shm/ringside.%s yet: waiting for the "
			 "engine",
			 t->name);
		return;
	}
	for (i = 0; i < t->n; i++)
		ok += t->last[i].status == RINGSIDE_OK;
	if (t->batch_rate < 0 || t->state != TOP_LIVE)
		snprintf(rate, sizeof(rate), "-");
	else
		snprintf(rate, sizeof(rate), "%.1f", t->batch_rate);
	top_rate_text(deg, sizeof(deg), t->degraded_pct);
	x += top_putf(t, 1, x, COLS - x, 0, "batches %llu  %s/s",
		      (unsigned long long)ec[RINGSIDE_EC_BATCHES], rate);
	x += top_putf(t, 1, x, COLS - x, 0, "  degraded %s", deg);
	x += top_putf(t, 1, x, COLS - x, 0, " (%s)",
		      t->session_rates ? "life" : "10s");
	x += top_putf(t, 1, x, COLS - x, 0, "  late %llu  missed %llu",
		      (unsigned long long)ec[RINGSIDE_EC_LATE],
		      (unsigned long long)ec[RINGSIDE_EC_MISSED_TICKS]);
	if (t->batches_read > 0)
		top_putf(t, 1, x, COLS - x, 0, "  ok %u/%u", ok, t->n);
}

/* Widen column *@w (if shown) towards @to, out of *@room. */
static void top_grow(int *w, int to, int *room)
{
	int grow = to - *w;

	if (grow > *room)
		grow = *room;
	if (*w > 0 && grow > 0) {
		*w += grow;
		*room -= grow;
	}
}

/*
 * Column widths for the terminal's width: the name, the value, the
 * status and the breaker always; then the sparkline, the failure and
 * retry rates as room allows; then each grows towards a comfortable
 * width; latency and opens only on a wide terminal.  Returns 0, or -1
 * when not even the table's minimum fits.
 */
static int top_layout(const struct top *t, struct top_layout *l)
{
	int name_nat = (int)t->name_w, room;

	memset(l, 0, sizeof(*l));
	if (name_nat < 6)
		name_nat = 6;
	if (name_nat > RINGSIDE_NAME_MAX)
		name_nat = RINGSIDE_NAME_MAX;
	l->name = 6;
	l->value = 10;
	l->status = 7;
	l->breaker = 9;
	room = COLS - (l->name + l->value + l->status + l->breaker + 3);
	if (room < 0 || LINES < TOP_MIN_LINES)
		return -1;
	/* Optional columns, each with the space before it, and a value
	 * wide enough for most numbers and units before the rates. */
	if (room >= 9) {
		l->spark = 8;
		room -= 9;
	}
	top_grow(&l->value, 14, &room);
	if (room >= 7) {
		l->fail = 6;
		room -= 7;
	}
	if (room >= 8) {
		l->retry = 7;
		room -= 8;
	}
	/* Then each grows towards a comfortable width, in turn. */
	top_grow(&l->spark, 12, &room);
	top_grow(&l->value, 16, &room);
	top_grow(&l->name, name_nat < 16 ? name_nat : 16, &room);
	top_grow(&l->spark, 20, &room);
	top_grow(&l->value, 20, &room);
	top_grow(&l->name, name_nat, &room);
	if (room >= 9 + 7) {
		l->latency = 8;
		l->opens = 6;
		room -= 9 + 7;
	}
	top_grow(&l->value, 24, &room);
	top_grow(&l->spark, TOP_HIST, &room);
	l->rows = LINES - TOP_TOP_ROWS - 1;
	return 0;
}

static const char *top_breaker_name(unsigned b)
{
	return b <= RINGSIDE_BREAKER_HALF_OPEN ? ringside_breaker_name(b) : "?";
}

static int top_breaker_rank(unsigned b)
{
	return b == RINGSIDE_BREAKER_OPEN	 ? 0
	       : b == RINGSIDE_BREAKER_HALF_OPEN ? 1
						 : 2;
}

static int top_compare(const void *pa, const void *pb, void *arg)
{
	const struct top *t = arg;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	int d = 0;

	switch (t->sort) {
	case TOP_SORT_CONFIG:
		break;
	case TOP_SORT_NAME:
		d = strcmp(t->sensors.names[a], t->sensors.names[b]);
		break;
	case TOP_SORT_FAILURES:
		if (t->fail_pct[a] != t->fail_pct[b])
			d = t->fail_pct[a] > t->fail_pct[b] ? -1 : 1;
		else if (t->st[a].counter[RINGSIDE_SC_FAILED] !=
			 t->st[b].counter[RINGSIDE_SC_FAILED])
			d = t->st[a].counter[RINGSIDE_SC_FAILED] >
					    t->st[b].counter[RINGSIDE_SC_FAILED]
				    ? -1
				    : 1;
		break;
	case TOP_SORT_BREAKER:
		d = top_breaker_rank(
			    (unsigned)t->st[a].counter[RINGSIDE_SC_BREAKER]) -
		    top_breaker_rank(
			    (unsigned)t->st[b].counter[RINGSIDE_SC_BREAKER]);
		break;
	case TOP_SORT_COUNT:
		break;
	}
	if (d != 0)
		return d;
	return a < b ? -1 : a > b;
}

static void top_sort_rows(struct top *t)
{
	uint32_t i;

	for (i = 0; i < t->n; i++)
		t->order[i] = i;
	if (t->sort != TOP_SORT_CONFIG && t->n > 1)
		qsort_r(t->order, t->n, sizeof(*t->order), top_compare, t);
}

/* The sparkline of sensor @i in @w columns, newest on the right. */
static void top_draw_spark(struct top *t, int y, int x, int w, uint32_t i)
{
	static const wchar_t blocks[] = L"\u2581\u2582\u2583\u2584\u2585"
					L"\u2586\u2587\u2588";
	static const wchar_t ascii[] = L"_.-:=+*#";
	const wchar_t *ramp = t->utf8 ? blocks : ascii;
	const float *hv = t->hist + (size_t)i * TOP_HIST;
	const unsigned char *hok = t->hist_ok + (size_t)i * TOP_HIST;
	wchar_t buf[TOP_HIST + 1];
	float lo = 0, hi = 0;
	int k, have = 0;

	if (w > TOP_HIST)
		w = TOP_HIST;
	/* Scale to this sensor's own range over what is shown. */
	for (k = 0; k < w; k++) {
		uint64_t back = (uint64_t)(w - k);
		size_t c;

		if (back > t->nhist)
			continue;
		c = (t->nhist - back) % TOP_HIST;
		if (!hok[c] || !isfinite(hv[c]))
			continue;
		if (!have || hv[c] < lo)
			lo = hv[c];
		if (!have || hv[c] > hi)
			hi = hv[c];
		have = 1;
	}
	for (k = 0; k < w; k++) {
		uint64_t back = (uint64_t)(w - k);
		size_t c;
		int level;

		buf[k] = L' ';
		if (back > t->nhist)
			continue;
		c = (t->nhist - back) % TOP_HIST;
		if (!hok[c] || !isfinite(hv[c]))
			continue;
		if (hi > lo)
			level = (int)lrintf((hv[c] - lo) / (hi - lo) * 7.0f);
		else
			level = 3; /* a flat line sits in the middle */
		buf[k] = ramp[level < 0 ? 0 : level > 7 ? 7 : level];
	}
	buf[w] = L'\0';
	attron(top_colour(t, TOP_CYAN));
	mvaddnwstr(y, x, buf, w);
	attroff(top_colour(t, TOP_CYAN));
}

/* One sensor's row. */
static void top_draw_row(struct top *t, const struct top_layout *l, int y,
			 uint32_t i)
{
	const struct ringside_reading *v = &t->last[i];
	const uint64_t *c = t->st[i].counter;
	unsigned breaker = (unsigned)c[RINGSIDE_SC_BREAKER];
	char text[96], num[32];
	short pair = 0;
	int x = 0;

	top_put(t, y, x, l->name, t->sensors.names[i], 0);
	x += l->name + 1;

	switch (v->status) {
	case RINGSIDE_OK:
		snprintf(num, sizeof(num), "%.6g", v->value);
		if (t->sensors.units[i][0] != '\0')
			snprintf(text, sizeof(text), "%s %s", num,
				 t->sensors.units[i]);
		else
			snprintf(text, sizeof(text), "%s", num);
		break;
	case RINGSIDE_FAILED:
		snprintf(text, sizeof(text), "failed(%s)",
			 ringside_errno_name(v->error));
		pair = TOP_RED;
		break;
	case RINGSIDE_OPEN:
		snprintf(text, sizeof(text), "open");
		pair = TOP_RED;
		break;
	case RINGSIDE_PENDING:
		snprintf(text, sizeof(text), "pending");
		pair = TOP_YELLOW;
		break;
	default:
		snprintf(text, sizeof(text), "-"); /* no batch yet */
		break;
	}
	if (pair != 0)
		attron(top_colour(t, pair));
	top_put(t, y, x, l->value, text, 0);
	if (pair != 0)
		attroff(top_colour(t, pair));
	x += l->value + 1;

	if (l->spark > 0) {
		top_draw_spark(t, y, x, l->spark, i);
		x += l->spark + 1;
	}

	if (v->status <= RINGSIDE_PENDING)
		top_putf(t, y, x, l->status, 0, "%s%s",
			 ringside_status_name(v->status),
			 (v->flags & RINGSIDE_READING_LATE) ? "*" : "");
	x += l->status + 1;

	if (t->have_stats) {
		attr_t a;

		pair = breaker == RINGSIDE_BREAKER_CLOSED      ? TOP_GREEN
		       : breaker == RINGSIDE_BREAKER_HALF_OPEN ? TOP_YELLOW
							       : TOP_RED;
		/* Without colours, the states that matter still stand out. */
		if (t->colour)
			a = COLOR_PAIR(pair) |
			    (breaker != RINGSIDE_BREAKER_CLOSED ? A_BOLD : 0);
		else
			a = breaker == RINGSIDE_BREAKER_OPEN	    ? A_REVERSE
			    : breaker == RINGSIDE_BREAKER_HALF_OPEN ? A_BOLD
								    : A_NORMAL;
		attron(a);
		top_put(t, y, x, l->breaker, top_breaker_name(breaker), 0);
		attroff(a);
	}
	x += l->breaker + 1;

	if (l->retry > 0) {
		if (t->retry_rate[i] < 0)
			top_put(t, y, x, l->retry, "-", 1);
		else
			top_putf(t, y, x, l->retry, 1, "%.*f",
				 t->retry_rate[i] < 10 ? 2 : 1,
				 t->retry_rate[i]);
		x += l->retry + 1;
	}
	if (l->fail > 0) {
		top_rate_text(text, sizeof(text), t->fail_pct[i]);
		top_put(t, y, x, l->fail, text, 1);
		x += l->fail + 1;
	}
	if (l->latency > 0) {
		if (t->latency_ms[i] < 0)
			top_put(t, y, x, l->latency, "-", 1);
		else
			top_putf(t, y, x, l->latency, 1, "%.*f",
				 t->latency_ms[i] < 10 ? 2 : 1,
				 t->latency_ms[i]);
		x += l->latency + 1;
	}
	if (l->opens > 0)
		top_putf(t, y, x, l->opens, 1, "%llu",
			 (unsigned long long)c[RINGSIDE_SC_OPENS]);
}

/* A column's label; the column the rows are sorted by carries an arrow. */
static void top_label(struct top *t, int y, int x, int w, const char *label,
		      enum top_sort by, int right)
{
	char buf[32];

	if (t->sort == by)
		snprintf(buf, sizeof(buf), "%s%s", label,
			 t->utf8 ? "\u2193" : "v");
	else
		snprintf(buf, sizeof(buf), "%s", label);
	top_put(t, y, x, w, buf, right);
}

/* The column header, in reverse video across the screen. */
static void top_draw_header(struct top *t, const struct top_layout *l, int y)
{
	int x = 0;

	attron(A_REVERSE);
	mvhline(y, 0, ' ', COLS);
	top_label(t, y, x, l->name, "SENSOR", TOP_SORT_NAME, 0);
	x += l->name + 1;
	top_put(t, y, x, l->value, "VALUE", 0);
	x += l->value + 1;
	if (l->spark > 0) {
		top_put(t, y, x, l->spark, "RECENT", 0);
		x += l->spark + 1;
	}
	top_put(t, y, x, l->status, "STATUS", 0);
	x += l->status + 1;
	top_label(t, y, x, l->breaker, "BREAKER", TOP_SORT_BREAKER, 0);
	x += l->breaker + 1;
	if (l->retry > 0) {
		top_put(t, y, x, l->retry, "RETRY/S", 1);
		x += l->retry + 1;
	}
	if (l->fail > 0) {
		top_label(t, y, x, l->fail, "FAIL%", TOP_SORT_FAILURES, 1);
		x += l->fail + 1;
	}
	if (l->latency > 0) {
		top_put(t, y, x, l->latency, "LAT ms", 1);
		x += l->latency + 1;
	}
	if (l->opens > 0)
		top_put(t, y, x, l->opens, "OPENS", 1);
	attroff(A_REVERSE);
}

/* The last line: a passing message, else the keys; the rows shown. */
static void top_draw_footer(struct top *t, const struct top_layout *l,
			    uint64_t now)
{
	char pos[48];
	int y = LINES - 1, pw = 0;

	if (t->msg[0] != '\0' && t->msg_until_ns != 0 && now >= t->msg_until_ns)
		t->msg[0] = '\0';
	if (t->n > (uint32_t)l->rows) {
		uint32_t last = t->scroll + (uint32_t)l->rows;

		snprintf(pos, sizeof(pos), "%u-%u of %u", t->scroll + 1,
			 last < t->n ? last : t->n, t->n);
		pw = (int)strlen(pos);
		top_put(t, y, COLS - pw, pw, pos, 0);
		pw += 2;
	}
	if (t->msg[0] != '\0') {
		attron(A_BOLD);
		top_put(t, y, 0, COLS - pw, t->msg, 0);
		attroff(A_BOLD);
	} else {
		top_put(t, y, 0, COLS - pw,
			"q quit  s sort  r rates  j/k scroll  ? help", 0);
	}
}

static void top_draw_help(struct top *t)
{
	static const char *const lines[] = {
		"ringside-top keys",
		"",
		"q            quit",
		"s            sort: config order, name, failures, breaker",
		"r            rates over the last 10 s / the engine's life",
		"j k, arrows  scroll one row",
		"PgUp PgDn    scroll one page",
		"g G          first / last rows",
		"?            this help; any key closes it",
		"",
		"VALUE    newest value, else failed(ERRNO), open, pending",
		"RECENT   one column per batch, scaled per sensor;",
		"         blank: no value in that batch",
		"STATUS   ok, failed, open, pending; * a late result",
		"BREAKER  closed, half_open, open",
		"RETRY/S  retries per second",
		"FAIL%    calls without a value, open breaker included",
		"LAT ms   mean call latency;  OPENS  breaker openings",
	};
	int n = (int)(sizeof(lines) / sizeof(lines[0]));
	int w = 62, h = n + 2, y0, x0, i;

	if (w > COLS)
		w = COLS;
	if (h > LINES)
		h = LINES;
	y0 = (LINES - h) / 2;
	x0 = (COLS - w) / 2;
	for (i = 0; i < h; i++)
		mvhline(y0 + i, x0, ' ', w);
	mvhline(y0, x0, ACS_HLINE, w);
	mvhline(y0 + h - 1, x0, ACS_HLINE, w);
	mvvline(y0, x0, ACS_VLINE, h);
	mvvline(y0, x0 + w - 1, ACS_VLINE, h);
	mvaddch(y0, x0, ACS_ULCORNER);
	mvaddch(y0, x0 + w - 1, ACS_URCORNER);
	mvaddch(y0 + h - 1, x0, ACS_LLCORNER);
	mvaddch(y0 + h - 1, x0 + w - 1, ACS_LRCORNER);
	for (i = 0; i < n && i < h - 2; i++) {
		if (i == 0)
			attron(A_BOLD);
		top_put(t, y0 + 1 + i, x0 + 2, w - 4, lines[i], 0);
		if (i == 0)
			attroff(A_BOLD);
	}
}

static void top_clamp_scroll(struct top *t, const struct top_layout *l)
{
	uint32_t max = t->n > (uint32_t)l->rows ? t->n - (uint32_t)l->rows : 0;

	if (t->scroll > max)
		t->scroll = max;
}

static void top_draw(struct top *t)
{
	struct top_layout l;
	uint64_t now = client_now_ns();
	int row;

	erase();
	if (COLS < TOP_MIN_COLS || top_layout(t, &l) < 0) {
		top_putf(t, 0, 0, COLS, 0, "terminal too small (%dx%d)",
			 TOP_MIN_COLS, TOP_MIN_LINES);
		refresh();
		return;
	}
	top_draw_title(t, now);
	top_draw_summary(t);
	top_draw_header(t, &l, 2);
	if (t->r.base != NULL) {
		top_sort_rows(t);
		top_clamp_scroll(t, &l);
		for (row = 0; row < l.rows && t->scroll + (uint32_t)row < t->n;
		     row++)
			top_draw_row(t, &l, TOP_TOP_ROWS + row,
				     t->order[t->scroll + (uint32_t)row]);
	}
	top_draw_footer(t, &l, now);
	if (t->help)
		top_draw_help(t);
	refresh();
}

/* ---- keys and the main loop -------------------------------------------- */

#define TOP_QUIT 1

static int top_key(struct top *t, int ch)
{
	int page = LINES - TOP_TOP_ROWS - 1;

	if (ch == KEY_RESIZE)
		return 0;
	if (t->help) {
		/* Any key closes the help; q still quits. */
		t->help = 0;
		return ch == 'q' || ch == 'Q' ? TOP_QUIT : 0;
	}
	if (page < 1)
		page = 1;
	switch (ch) {
	case 'q':
	case 'Q':
		return TOP_QUIT;
	case 's':
		t->sort = (t->sort + 1) % TOP_SORT_COUNT;
		t->scroll = 0;
		break;
	case 'S':
		t->sort = (t->sort + TOP_SORT_COUNT - 1) % TOP_SORT_COUNT;
		t->scroll = 0;
		break;
	case 'r':
		t->session_rates = !t->session_rates;
		/* As of the last copy of the counters. */
		if (t->r.base != NULL && t->have_stats)
			top_rates(t, t->stats_mono_ns);
		break;
	case '?':
	case 'h':
		t->help = 1;
		break;
	case 'j':
	case KEY_DOWN:
		t->scroll++;
		break;
	case 'k':
	case KEY_UP:
		if (t->scroll > 0)
			t->scroll--;
		break;
	case ' ':
	case KEY_NPAGE:
		t->scroll += (uint32_t)page;
		break;
	case KEY_PPAGE:
		t->scroll = t->scroll > (uint32_t)page
				    ? t->scroll - (uint32_t)page
				    : 0;
		break;
	case 'g':
	case KEY_HOME:
		t->scroll = 0;
		break;
	case 'G':
	case KEY_END:
		t->scroll = UINT32_MAX; /* clamped when drawn */
		break;
	case 12: /* ^L: the terminal was messed up by someone else */
		clearok(curscr, TRUE);
		break;
	default:
		break;
	}
	return 0;
}

static int top_ms_until(uint64_t when, uint64_t now)
{
	if (when <= now)
		return 0;
	return (int)((when - now + 999999) / 1000000);
}

static int top_run(struct top *t)
{
	uint64_t now, next_update = 0, next_check = 0;
	uint64_t interval = (uint64_t)t->interval_ms * 1000000;
	uint64_t check = (uint64_t)TOP_CHECK_MS * 1000000;
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	int ret, ch, dirty = 1, timeout;

	if (check > interval)
		check = interval;
	for (;;) {
		now = client_now_ns();
		if (now >= next_update ||
		    (now >= next_check && top_state_changed(t))) {
			ret = top_update(t, now);
			if (ret >= 0)
				return ret;
			next_update = now + interval;
			dirty = 1;
		}
		if (now >= next_check)
			next_check = now + check;
		/* A passing message goes when its time is up. */
		if (t->msg[0] != '\0' && t->msg_until_ns != 0 &&
		    now >= t->msg_until_ns)
			dirty = 1;
		if (dirty)
			top_draw(t);
		dirty = 0;

		timeout = top_ms_until(next_update < next_check ? next_update
								: next_check,
				       now);
		ret = poll(&pfd, 1, timeout);
		if (top_stop)
			return 0;
		if (ret < 0 && errno != EINTR) {
			endwin();
			fprintf(stderr, PROG ": poll: %s\n", strerror(errno));
			return 1;
		}
		if (ret > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)))
			return 1; /* the terminal has gone */
		/* EINTR may be a SIGWINCH: getch() then says KEY_RESIZE. */
		while ((ch = getch()) != ERR) {
			if (top_key(t, ch) == TOP_QUIT)
				return 0;
			dirty = 1;
		}
	}
}

/* Start curses on the terminal.  Returns 0, or -1 with a message. */
static int top_curses_init(struct top *t, SCREEN **scr)
{
	const char *term = getenv("TERM");

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fputs(PROG ": standard input and output must be a terminal\n",
		      stderr);
		return -1;
	}
	if (term == NULL || *term == '\0') {
		fputs(PROG ": TERM is not set\n", stderr);
		return -1;
	}
	*scr = newterm(NULL, stdout, stdin);
	if (*scr == NULL) {
		fprintf(stderr, PROG ": cannot use terminal type '%s'\n", term);
		return -1;
	}
	set_term(*scr);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	if (has_colors() && start_color() == OK) {
		short bg = use_default_colors() == OK ? -1 : COLOR_BLACK;

		init_pair(TOP_GREEN, COLOR_GREEN, bg);
		init_pair(TOP_YELLOW, COLOR_YELLOW, bg);
		init_pair(TOP_RED, COLOR_RED, bg);
		init_pair(TOP_CYAN, COLOR_CYAN, bg);
		t->colour = 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct top t;
	SCREEN *scr = NULL;
	const char *cs;
	int ret;

	memset(&t, 0, sizeof(t));
	t.interval_ms = TOP_INTERVAL_MS;
	t.r.fd = -1;
	top_parse(&t, argc, argv);

	setlocale(LC_ALL, "");
	cs = nl_langinfo(CODESET);
	t.utf8 = cs != NULL && strcmp(cs, "UTF-8") == 0;

	/* An invalid segment is reported before the screen is taken. */
	ret = ringside_reader_attach(&t.r, t.name, RINGSIDE_FROM_OLDEST);
	if (ret < 0 && ret != -ENOENT) {
		fprintf(stderr, PROG ": %s: %s\n", t.name,
			ringside_strerror(ret));
		return 1;
	}
	if (ret == 0 && top_adopt(&t) < 0) {
		fputs(PROG ": out of memory\n", stderr);
		ret = 1;
		goto out;
	}

	/* Ours before curses starts, so that it leaves them alone; no
	 * SA_RESTART, so that poll() wakes up. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = top_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (top_curses_init(&t, &scr) < 0) {
		ret = 1;
		goto out;
	}
	ret = top_run(&t);
	endwin();
	delscreen(scr);
out:
	ringside_reader_detach(&t.r);
	top_free_segment(&t);
	return ret;
}
