/* SPDX-License-Identifier: MIT */
/*
 * exporter.c - ringside-exporter: serve a segment's newest batch, counters,
 * breaker states and latency histograms to Prometheus, in the text
 * exposition format 0.0.4 on /metrics.
 *
 * Every scrape reads the segment afresh and never waits for the engine:
 * it takes whatever batches are ready (copying only the newest one's
 * readings), a consistent snapshot of the counters, and the engine's
 * liveness.  The segment is attached at the first scrape that finds it,
 * and a replaced, stopped or dead engine's successor is picked up by the
 * scrape that finds a new file at the path, so the exporter can be started
 * before the engine and outlive any number of its restarts.
 *
 * What a series means decides when it is served.  The present state of a
 * sensor (value, up, status, breaker state) is served only while the
 * engine lives, and a sensor's value only when its newest status is ok: a
 * failed sensor's value series goes stale rather than repeat an old value
 * or read NaN.  Totals (counters, the latency histogram) stay true after
 * the engine has stopped and are served as long as its segment is there.
 * ringside_engine_up is always served, 0 when there is no live engine.
 *
 * Threads: libmicrohttpd's one internal thread answers requests one after
 * another and owns everything a scrape touches; the main thread only
 * starts the server, sleeps in sigwait() until SIGINT or SIGTERM, and
 * stops it.  Buffers are sized when a segment is attached, and the page
 * buffer only grows, so a scrape allocates nothing but the response copy
 * libmicrohttpd keeps.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common.h"
#include "ringside.h"

#define PROG "ringside-exporter"

#define EXP_LISTEN_DEFAULT "127.0.0.1:9750"
#define EXP_PAGE_INITIAL (64 * 1024)
#define EXP_HTTP_TIMEOUT_S 10 /* a client that stalls is dropped */
#define EXP_HTTP_CONNECTIONS 64
#define EXP_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Where the exporter stands with its segment, to log changes only. */
enum exp_state {
	EXP_NONE,   /* nothing attached, nothing said yet */
	EXP_ABSENT, /* no segment at the path */
	EXP_LIVE,
	EXP_CLOSED,
	EXP_DEAD,
	EXP_ERROR, /* the last attach failed with exp.error */
};

/* The page being built, grown as needed and kept between scrapes. */
struct exp_page {
	char *buf;
	size_t len;
	size_t cap;
	int failed; /* out of memory: the page is incomplete */
};

struct exporter {
	/* From the command line. */
	const char *name;
	const char *listen;

	/* The segment, when attached (r.base set). */
	struct ringside_reader r;
	struct client_sensors sensors;
	struct ringside_reading *v;	     /* newest batch's readings */
	struct ringside_sensor_stats *stats; /* r.nsensors entries */
	struct ringside_params params;
	struct ringside_batch batch; /* the newest batch taken */
	int have_batch;		     /* batch and v hold the newest batch */
	int live;		     /* the engine was alive at this scrape */

	enum exp_state state;
	int error; /* -errno of the last failed attach */

	struct exp_page page;
};

/* ---- command line ------------------------------------------------------ */

static void exp_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " NAME [--listen HOST:PORT]\n"
		"Serve the counters, breaker states and newest values of "
		"the ringside segment\n"
		"/dev/shm/ringside.NAME to Prometheus, on "
		"http://HOST:PORT/metrics.\n"
		"\n"
		"  -l, --listen HOST:PORT  the address to listen on "
		"(default " EXP_LISTEN_DEFAULT ");\n"
		"                          an IPv6 address goes in brackets, "
		"[::1]:9750; an\n"
		"                          empty HOST, :9750, listens on "
		"every address\n"
		"  -h, --help              show this help and exit\n"
		"  -V, --version           show the version and exit\n"
		"\n"
		"The segment need not exist yet: until it does, and while no "
		"engine runs,\n"
		"ringside_engine_up is 0.  A restarted engine is picked up by "
		"the next scrape.\n"
		"Exit status: 0 on SIGINT/SIGTERM, 1 when the address cannot "
		"be listened on,\n"
		"2 on a usage error.\n");
}

static void exp_parse(struct exporter *x, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0; /* our own one-line messages */
	while ((opt = getopt_long(argc, argv, ":l:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			x->listen = optarg;
			break;
		case 'h':
			exp_usage(stdout);
			exit(0);
		case 'V':
			printf(PROG " %s\n", RINGSIDE_VERSION);
			exit(0);
		default:
			client_bad_option(PROG, opt, argv);
		}
	}
	x->name = client_name_operand(PROG, argc, argv);
}

/*
 * Split "HOST:PORT", "[V6]:PORT" or ":PORT" into @host (empty: every
 * address) and @port.  Returns 0, or -EINVAL with *@why set.
 */
static int exp_split_listen(const char *s, char *host, size_t hlen, char *port,
			    size_t plen, const char **why)
{
	const char *colon, *h = s;
	size_t n;
	uint64_t p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':') {
			*why = "an IPv6 address is written [ADDRESS]:PORT";
			return -EINVAL;
		}
		h = s + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			*why = "HOST:PORT is needed";
			return -EINVAL;
		}
		n = (size_t)(colon - s);
		if (memchr(s, ':', n) != NULL) {
			*why = "an IPv6 address goes in brackets, "
			       "[ADDRESS]:PORT";
			return -EINVAL;
		}
	}
	if (n >= hlen) {
		*why = "the host is too long";
		return -EINVAL;
	}
	if (client_parse_u64(colon + 1, &p) < 0 || p == 0 || p > 65535 ||
	    strlen(colon + 1) >= plen) {
		*why = "the port is a number from 1 to 65535";
		return -EINVAL;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	snprintf(port, plen, "%u", (unsigned)p);
	return 0;
}

/*
 * Bind and listen on @addr ("HOST:PORT", already checked).  Returns the
 * socket, or -1 after printing one line (exit status 1).
 */
static int exp_listen_socket(const char *addr, const char *host,
			     const char *port, int *family)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, err = 0, one = 1, ret;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	ret = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
	if (ret != 0) {
		fprintf(stderr, PROG ": cannot listen on %s: %s\n", addr,
			ret == EAI_SYSTEM ? strerror(errno)
					  : gai_strerror(ret));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 64) == 0) {
			*family = ai->ai_family;
			break;
		}
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, PROG ": cannot listen on %s: %s\n", addr,
			strerror(err));
	return fd;
}

/* ---- the page ---------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void exp_printf(struct exp_page *p,
							     const char *fmt,
							     ...)
{
	va_list ap;
	size_t room;
	char *bigger;
	int n;

	if (p->failed)
		return;
	for (;;) {
		room = p->cap - p->len;
		va_start(ap, fmt);
		n = vsnprintf(p->buf + p->len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			p->failed = 1;
			return;
		}
		if ((size_t)n < room)
			break;
		bigger = realloc(p->buf, p->cap * 2 + (size_t)n);
		if (bigger == NULL) {
			p->failed = 1;
			return;
		}
		p->buf = bigger;
		p->cap = p->cap * 2 + (size_t)n;
	}
	p->len += (size_t)n;
}

/* Append @n bytes of @s as they are. */
static void exp_put(struct exp_page *p, const char *s, size_t n)
{
	size_t cap;
	char *bigger;

	if (p->failed)
		return;
	if (p->cap - p->len <= n) {
		cap = p->cap * 2 + n;
		bigger = realloc(p->buf, cap);
		if (bigger == NULL) {
			p->failed = 1;
			return;
		}
		p->buf = bigger;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, s, n);
	p->len += n;
}

/* Length of the valid UTF-8 sequence at @s, or 0 if there is none. */
static size_t exp_utf8_len(const unsigned char *s)
{
	size_t n, i;
	unsigned c = s[0];
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/*
 * A label value as the format wants it: backslash, double quote and line
 * feed escaped.  Names and units come from the segment, which the exporter
 * does not trust: bytes that are not UTF-8 become '?', so that one odd
 * unit cannot make Prometheus reject the whole page.
 */
static void exp_label_value(struct exp_page *p, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n;

	while (*u != '\0') {
		if (*u == '\\' || *u == '"') {
			exp_put(p, "\\", 1);
			exp_put(p, (const char *)u, 1);
			u++;
		} else if (*u == '\n') {
			exp_put(p, "\\n", 2);
			u++;
		} else if ((n = exp_utf8_len(u)) == 0) {
			exp_put(p, "?", 1);
			u++;
		} else {
			exp_put(p, (const char *)u, n);
			u += n;
		}
	}
}

static void exp_family(struct exp_page *p, const char *name, const char *type,
		       const char *help)
{
	exp_printf(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * The start of a sample, up to the value: NAME{engine="E"[,sensor="S"]
 * [,KEY="VAL"]} .  @sensor is an index, or -1 for none; @key may be NULL.
 */
static void exp_series(struct exporter *x, const char *name, long sensor,
		       const char *key, const char *val)
{
	struct exp_page *p = &x->page;

	exp_printf(p, "%s{engine=\"", name);
	exp_label_value(p, x->name);
	if (sensor >= 0) {
		exp_printf(p, "\",sensor=\"");
		exp_label_value(p, x->sensors.names[sensor]);
	}
	if (key != NULL) {
		exp_printf(p, "\",%s=\"", key);
		exp_label_value(p, val);
	}
	exp_printf(p, "\"} ");
}

static void exp_u64(struct exp_page *p, uint64_t v)
{
	exp_printf(p, "%llu\n", (unsigned long long)v);
}

/*
 * Microseconds as seconds, exactly: 2500000 is "2.5", 50 is "0.00005".
 * @buf holds 32 bytes; returns it.
 */
static const char *exp_format_seconds(char buf[32], uint64_t us)
{
	int n;

	n = snprintf(buf, 32, "%llu.%06u", (unsigned long long)(us / 1000000),
		     (unsigned)(us % 1000000));
	while (buf[n - 1] == '0')
		buf[--n] = '\0';
	if (buf[n - 1] == '.')
		buf[n - 1] = '\0';
	return buf;
}

static void exp_seconds(struct exp_page *p, uint64_t us)
{
	char buf[32];

	exp_printf(p, "%s\n", exp_format_seconds(buf, us));
}

/* ---- the segment ------------------------------------------------------- */

static void exp_drop_segment(struct exporter *x)
{
	/* Detached, the reader has no mapping and no descriptor (fd -1),
	 * as after a failed attach. */
	ringside_reader_detach(&x->r);
	x->have_batch = 0;
	x->live = 0;
}

/*
 * A segment has just been attached: load its sensor table and size the
 * buffers from its sensor count.  Returns 0 or -ENOMEM (then the segment
 * is let go, to be tried again at the next scrape).
 */
static int exp_adopt(struct exporter *x)
{
	size_t n = x->r.nsensors > 0 ? x->r.nsensors : 1;
	struct ringside_sensor_stats *stats;
	struct ringside_reading *v;
	struct client_sensors s;

	if (client_sensors_load(&s, &x->r) < 0)
		goto err_nomem;
	v = calloc(n, sizeof(*v));
	stats = calloc(n, sizeof(*stats));
	if (v == NULL || stats == NULL)
		goto err_free;
	client_sensors_exit(&x->sensors);
	free(x->v);
	free(x->stats);
	x->sensors = s;
	x->v = v;
	x->stats = stats;
	ringside_reader_params(&x->r, &x->params);
	x->have_batch = 0;
	fprintf(stderr, PROG ": %s: attached, epoch %llu, %u sensors\n",
		x->name, (unsigned long long)x->r.epoch_us, x->r.nsensors);
	return 0;

err_free:
	free(v);
	free(stats);
	client_sensors_exit(&s);
err_nomem:
	fprintf(stderr, PROG ": %s: out of memory\n", x->name);
	exp_drop_segment(x);
	return -ENOMEM;
}

/* Log a change of state, once. */
static void exp_set_state(struct exporter *x, enum exp_state st, int err)
{
	if (st == x->state && (st != EXP_ERROR || err == x->error))
		return;
	switch (st) {
	case EXP_ABSENT:
		fprintf(stderr, PROG ": %s: no segment, waiting for one\n",
			x->name);
		break;
	case EXP_CLOSED:
		fprintf(stderr, PROG ": %s: engine stopped\n", x->name);
		break;
	case EXP_DEAD:
		fprintf(stderr, PROG ": %s: engine (pid %d) is gone\n", x->name,
			(int)ringside_reader_pid(&x->r));
		break;
	case EXP_ERROR:
		fprintf(stderr, PROG ": %s: %s\n", x->name,
			ringside_strerror(err));
		break;
	case EXP_NONE:
	case EXP_LIVE:
		break;
	}
	x->state = st;
	x->error = err;
}

/*
 * Take every batch that is ready and keep the newest.  Only the batch at
 * the head when it is taken has its readings copied: the others are
 * skipped by taking their headers alone, so catching up on a full ring
 * costs little.  If the head moves on between the look and the copy, a
 * batch taken without readings can end up the newest; have_batch then
 * stays 0 and this scrape serves no values rather than older ones.
 */
static void exp_take_newest(struct exporter *x)
{
	struct ringside_batch b;
	uint64_t head;
	uint32_t max;

	for (;;) {
		head = ringside_reader_head(&x->r);
		max = x->r.next >= head ? x->r.nsensors : 0;
		if (ringside_reader_next(&x->r, &b, x->v, max) <= 0)
			break;
		x->batch = b;
		x->have_batch = b.nreadings == x->r.nsensors;
	}
}

/*
 * Attach to whatever segment is at the path, or move on to a successor,
 * then bring the newest batch up to date and see whether the engine lives.
 * Never waits.
 */
static void exp_refresh(struct exporter *x)
{
	int ret, ev, tries;

	x->live = 0;
	if (x->r.base == NULL) {
		ret = ringside_reader_attach(&x->r, x->name,
					     RINGSIDE_FROM_OLDEST);
		if (ret < 0) {
			/* The failed attach left x->r empty (fd -1). */
			exp_set_state(x,
				      ret == -ENOENT ? EXP_ABSENT : EXP_ERROR,
				      ret);
			return;
		}
		if (exp_adopt(x) < 0)
			return;
	}
	/* A successor found below is taken at once; a second successor
	 * within one scrape waits for the next. */
	for (tries = 0; tries < 2; tries++) {
		exp_take_newest(x);
		ev = ringside_reader_state(&x->r);
		if (ev == RINGSIDE_READY || ev == RINGSIDE_TIMEOUT) {
			x->live = 1;
			exp_set_state(x, EXP_LIVE, 0);
			return;
		}
		if (ev == RINGSIDE_CLOSED)
			exp_set_state(x, EXP_CLOSED, 0);
		else if (ev == RINGSIDE_DEAD)
			exp_set_state(x, EXP_DEAD, 0);
		else if (ev < 0)
			exp_set_state(x, EXP_ERROR, ev);
		ret = ringside_reader_reattach(&x->r, RINGSIDE_FROM_OLDEST);
		if (ret == -EAGAIN)
			return; /* still the same file: no successor yet */
		if (ret == -ENOENT) {
			/* The file is gone: so are its totals. */
			exp_drop_segment(x);
			exp_set_state(x, EXP_ABSENT, 0);
			return;
		}
		if (ret < 0) {
			exp_set_state(x, EXP_ERROR, ret);
			return;
		}
		if (exp_adopt(x) < 0)
			return;
	}
}

/* ---- the metrics ------------------------------------------------------- */

/* Per-sensor counters, each served as a Prometheus counter. */
static const struct exp_counter {
	const char *name;
	const char *help;
	unsigned index; /* RINGSIDE_SC_* */
} exp_sensor_counters[] = {
	{ "ringside_reads_total",
	  "Calls ended: one tick's chain of attempts to read a sensor.",
	  RINGSIDE_SC_CALLS },
	{ "ringside_read_failures_total", "Calls whose every attempt failed.",
	  RINGSIDE_SC_FAILED },
	{ "ringside_attempts_total", "Read attempts made.",
	  RINGSIDE_SC_ATTEMPTS },
	{ "ringside_retries_total", "Attempts after the first of a call.",
	  RINGSIDE_SC_RETRIES },
	{ "ringside_retry_successes_total",
	  "Calls that gave a value after a retry.", RINGSIDE_SC_RETRY_OK },
	{ "ringside_timeouts_total", "Attempts ended by their deadline.",
	  RINGSIDE_SC_TIMEOUTS },
	{ "ringside_breaker_opens_total",
	  "Transitions of the circuit breaker to open.", RINGSIDE_SC_OPENS },
	{ "ringside_fast_fails_total",
	  "Calls refused without I/O by the open breaker.",
	  RINGSIDE_SC_FAST_FAILS },
	{ "ringside_probes_total",
	  "Calls let through while the breaker was half-open.",
	  RINGSIDE_SC_PROBES },
	{ "ringside_pending_total",
	  "Batches in which the sensor's call had not ended by the deadline.",
	  RINGSIDE_SC_PENDING },
	{ "ringside_late_readings_total",
	  "Results of an earlier tick's call published late.",
	  RINGSIDE_SC_LATE },
	{ "ringside_missing_total",
	  "Batches in which the sensor had no value (made them degraded).",
	  RINGSIDE_SC_DEGRADED },
	{ "ringside_reconnects_total", "Reopens and reconnects of the source.",
	  RINGSIDE_SC_RECONNECTS },
};

/* Engine counters. */
static const struct exp_counter exp_engine_counters[] = {
	{ "ringside_batches_total", "Batches published.", RINGSIDE_EC_BATCHES },
	{ "ringside_batches_degraded_total",
	  "Batches published with some sensor not ok.", RINGSIDE_EC_DEGRADED },
	{ "ringside_batches_late_total",
	  "Batches published after their deadline.", RINGSIDE_EC_LATE },
	{ "ringside_missed_ticks_total",
	  "Ticks skipped while the engine could not run.",
	  RINGSIDE_EC_MISSED_TICKS },
	{ "ringside_reloads_total", "Configuration reloads.",
	  RINGSIDE_EC_RELOADS },
};

#define EXP_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void exp_engine_metrics(struct exporter *x,
			       const struct ringside_engine_stats *e)
{
	struct exp_page *p = &x->page;
	size_t i;

	exp_family(p, "ringside_engine_up", "gauge",
		   "1 while the engine publishes to the segment, 0 when it "
		   "has stopped or died or there is no segment.");
	exp_series(x, "ringside_engine_up", -1, NULL, NULL);
	exp_u64(p, (uint64_t)x->live);
	if (x->r.base == NULL)
		return;

	exp_family(p, "ringside_engine_epoch_seconds", "gauge",
		   "Creation time of the segment, identifying one life of it.");
	exp_series(x, "ringside_engine_epoch_seconds", -1, NULL, NULL);
	exp_seconds(p, x->r.epoch_us);
	exp_family(p, "ringside_engine_period_seconds", "gauge",
		   "Time between two ticks.");
	exp_series(x, "ringside_engine_period_seconds", -1, NULL, NULL);
	exp_seconds(p, x->params.period_ns / 1000);
	if (x->have_batch) {
		exp_family(p, "ringside_last_batch_timestamp_seconds", "gauge",
			   "Publication time of the newest batch.");
		exp_series(x, "ringside_last_batch_timestamp_seconds", -1, NULL,
			   NULL);
		exp_seconds(p, x->batch.published_us);
	}
	if (e == NULL)
		return;
	if (e->counter[RINGSIDE_EC_STARTED_US] != 0) {
		exp_family(p, "ringside_engine_start_time_seconds", "gauge",
			   "Start time of the engine.");
		exp_series(x, "ringside_engine_start_time_seconds", -1, NULL,
			   NULL);
		exp_seconds(p, e->counter[RINGSIDE_EC_STARTED_US]);
	}
	for (i = 0; i < EXP_COUNT(exp_engine_counters); i++) {
		const struct exp_counter *c = &exp_engine_counters[i];

		exp_family(p, c->name, "counter", c->help);
		exp_series(x, c->name, -1, NULL, NULL);
		exp_u64(p, e->counter[c->index]);
	}
}

/* The present state of each sensor: only while the engine lives. */
static void exp_sensor_state(struct exporter *x, int have_stats)
{
	static const unsigned statuses[] = { RINGSIDE_OK, RINGSIDE_FAILED,
					     RINGSIDE_OPEN, RINGSIDE_PENDING };
	struct exp_page *p = &x->page;
	uint32_t i, n = x->r.nsensors;
	size_t k;
	char val[32];

	if (!x->live)
		return;
	if (x->have_batch) {
		exp_family(p, "ringside_sensor_value", "gauge",
			   "Value of the sensor in the newest batch, present "
			   "only when it is ok.");
		for (i = 0; i < n; i++) {
			const struct ringside_reading *v = &x->v[i];

			if (v->status != RINGSIDE_OK || !isfinite(v->value) ||
			    client_format_value(val, sizeof(val), v->value) < 0)
				continue;
			if (x->sensors.units[i][0] != '\0')
				exp_series(x, "ringside_sensor_value", i,
					   "unit", x->sensors.units[i]);
			else
				exp_series(x, "ringside_sensor_value", i, NULL,
					   NULL);
			exp_printf(p, "%s\n", val);
		}
		exp_family(p, "ringside_sensor_up", "gauge",
			   "1 when the sensor is ok in the newest batch, 0 "
			   "when it failed, its breaker is open or its call is "
			   "pending.");
		for (i = 0; i < n; i++) {
			exp_series(x, "ringside_sensor_up", i, NULL, NULL);
			exp_u64(p, x->v[i].status == RINGSIDE_OK);
		}
		exp_family(p, "ringside_sensor_status", "gauge",
			   "Status of the sensor in the newest batch: 1 for "
			   "its status, 0 for the others.");
		for (i = 0; i < n; i++) {
			for (k = 0; k < EXP_COUNT(statuses); k++) {
				exp_series(x, "ringside_sensor_status", i,
					   "status",
					   ringside_status_name(statuses[k]));
				exp_u64(p, x->v[i].status == statuses[k]);
			}
		}
	}
	if (have_stats) {
		exp_family(p, "ringside_breaker_state", "gauge",
			   "State of the sensor's circuit breaker: 0 closed, "
			   "1 open, 2 half-open.");
		for (i = 0; i < n; i++) {
			exp_series(x, "ringside_breaker_state", i, NULL, NULL);
			exp_u64(p, x->stats[i].counter[RINGSIDE_SC_BREAKER]);
		}
	}
}

/* Totals per sensor: counters and the latency histogram. */
static void exp_sensor_totals(struct exporter *x)
{
	struct exp_page *p = &x->page;
	uint32_t i, n = x->r.nsensors;
	unsigned b;
	size_t k;

	for (k = 0; k < EXP_COUNT(exp_sensor_counters); k++) {
		const struct exp_counter *c = &exp_sensor_counters[k];

		exp_family(p, c->name, "counter", c->help);
		for (i = 0; i < n; i++) {
			exp_series(x, c->name, i, NULL, NULL);
			exp_u64(p, x->stats[i].counter[c->index]);
		}
	}
	exp_family(p, "ringside_last_success_timestamp_seconds", "gauge",
		   "Time of the sensor's last value.");
	for (i = 0; i < n; i++) {
		uint64_t us = x->stats[i].counter[RINGSIDE_SC_LAST_OK_US];

		if (us == 0)
			continue;
		exp_series(x, "ringside_last_success_timestamp_seconds", i,
			   NULL, NULL);
		exp_seconds(p, us);
	}
	exp_family(p, "ringside_read_duration_seconds", "histogram",
		   "Duration of calls, from the start of the first attempt "
		   "to the end of the last.");
	for (i = 0; i < n; i++) {
		const struct ringside_sensor_stats *s = &x->stats[i];
		uint64_t cum = 0;

		for (b = 0; b < RINGSIDE_HIST_BUCKETS; b++) {
			char le[32];

			cum += s->hist[b];
			exp_series(
				x, "ringside_read_duration_seconds_bucket", i,
				"le",
				b == RINGSIDE_HIST_BUCKETS - 1
					? "+Inf"
					: exp_format_seconds(
						  le,
						  ringside_hist_bound_us[b]));
			exp_u64(p, cum);
		}
		exp_series(x, "ringside_read_duration_seconds_sum", i, NULL,
			   NULL);
		exp_seconds(p, s->counter[RINGSIDE_SC_LATENCY_SUM]);
		exp_series(x, "ringside_read_duration_seconds_count", i, NULL,
			   NULL);
		exp_u64(p, s->counter[RINGSIDE_SC_CALLS]);
	}
}

/*
 * Build the page for one scrape into x->page.  Returns 0, or -ENOMEM
 * when it could not be built whole.
 */
static int exp_scrape(struct exporter *x)
{
	struct ringside_engine_stats e;
	int have_stats = 0, tries, ret;

	x->page.len = 0;
	x->page.failed = 0;
	exp_refresh(x);
	if (x->r.base != NULL) {
		/* -EAGAIN: the writer kept changing them (or died in the
		 * middle of an update); the totals sit this scrape out. */
		for (tries = 0; tries < 3; tries++) {
			ret = ringside_reader_stats(&x->r, &e, x->stats,
						    x->r.nsensors);
			if (ret != -EAGAIN)
				break;
		}
		have_stats = ret == 0;
	}
	exp_engine_metrics(x, have_stats ? &e : NULL);
	if (x->r.base != NULL) {
		exp_sensor_state(x, have_stats);
		if (have_stats)
			exp_sensor_totals(x);
	}
	return x->page.failed ? -ENOMEM : 0;
}

/* ---- HTTP -------------------------------------------------------------- */

static enum MHD_Result exp_reply_text(struct MHD_Connection *c, unsigned status,
				      const char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
					       MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					"GET, HEAD");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result exp_handle(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **req)
{
	struct exporter *x = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)version;
	(void)upload;
	/* The first call brings the headers alone: answering only on the
	 * next one, after any body has been read and dropped, keeps the
	 * connection alive for the next scrape. */
	if (*req == NULL) {
		*req = x;
		return MHD_YES;
	}
	if (*upload_len != 0) {
		*upload_len = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0)
		return exp_reply_text(c, MHD_HTTP_NOT_FOUND, "Not Found\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return exp_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				      "Method Not Allowed\n");
	if (exp_scrape(x) < 0)
		return exp_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				      "out of memory\n");
	resp = MHD_create_response_from_buffer(x->page.len, x->page.buf,
					       MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				EXP_CONTENT_TYPE);
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

int main(int argc, char **argv)
{
	char host[256], port[8];
	struct MHD_Daemon *d;
	struct exporter x;
	sigset_t stop;
	const char *why;
	unsigned flags;
	int fd, family = AF_INET, sig;

	memset(&x, 0, sizeof(x));
	x.r.fd = -1; /* no descriptor: detach must close nothing */
	x.listen = EXP_LISTEN_DEFAULT;
	exp_parse(&x, argc, argv);
	if (exp_split_listen(x.listen, host, sizeof(host), port, sizeof(port),
			     &why) < 0)
		client_usage_error(PROG, "--listen '%s': %s", x.listen, why);

	x.page.cap = EXP_PAGE_INITIAL;
	x.page.buf = malloc(x.page.cap);
	if (x.page.buf == NULL) {
		fputs(PROG ": out of memory\n", stderr);
		return 1;
	}

	/* Blocked here, so that the server's thread inherits the mask and
	 * the signals wait for sigwait() below. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	fd = exp_listen_socket(x.listen, host, port, &family);
	if (fd < 0)
		goto err_page;
	/* ITC: a pipe that wakes the server's thread, so that stopping it
	 * does not wait out its poll. */
	flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC;
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(
		flags, 0, NULL, NULL, exp_handle, &x, MHD_OPTION_LISTEN_SOCKET,
		fd, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)EXP_HTTP_TIMEOUT_S,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)EXP_HTTP_CONNECTIONS,
		MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, PROG ": cannot start the HTTP server on %s\n",
			x.listen);
		close(fd);
		goto err_page;
	}
	fprintf(stderr, PROG ": %s: serving http://%s/metrics\n", x.name,
		x.listen);

	while (sigwait(&stop, &sig) != 0)
		;
	/* This also closes the listening socket. */
	MHD_stop_daemon(d);
	ringside_reader_detach(&x.r);
	client_sensors_exit(&x.sensors);
	free(x.v);
	free(x.stats);
	free(x.page.buf);
	return 0;

err_page:
	free(x.page.buf);
	return 1;
}
