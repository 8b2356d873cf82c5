/* SPDX-License-Identifier: MIT */
/*
 * stat.c - ringside-stat: the counters of a segment, once or every few
 * seconds, as a table for people or as the JSON object of the users'
 * contract for scripts.
 *
 * Everything shown comes from one consistent snapshot of the counters
 * (ringside_reader_stats, a seqlock read retried a few times), plus the
 * state of the segment: live, closed (the engine stopped cleanly), dead
 * (the engine went away without closing it) or replaced (a reload built a
 * new segment; watch mode moves to it).  The reader is attached read-only
 * and takes batches with no readings copied, only to stay at the head of
 * the ring, so that the segment's state can be asked and the time of the
 * newest batch is known: a stopped engine's uptime is the time it ran.
 *
 * The latency percentiles are estimates from the per-sensor histogram:
 * the bucket holding the rank is found, and the value interpolated
 * linearly inside it, as Prometheus' histogram_quantile() does.  The +Inf
 * bucket has no upper edge, so a rank there reports its lower edge.
 * clients/python/ringside.py makes the same computation and must agree.
 *
 * Other programs that work on the engine's batches (ringside-bridge) keep
 * counters of their own in segments /dev/shm/ringside.NAME@PROGRAM
 * (ringside_aux_*): each one found is shown after the engine's, with its
 * state, in every snapshot.  They are extras: one that vanished or cannot
 * be read is left out, a corrupt one too with a warning on stderr (once
 * per program), and neither changes the exit status.
 *
 * The retry success rate is retry_ok over the calls that retried.  No
 * counter holds the latter, but it follows from the others: a call that
 * failed made every attempt the configuration allows, so when the sensor
 * retries at all (retries > 0) every failed call retried, and the calls
 * that retried are retry_ok + failed.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "ringside.h"

#define PROG "ringside-stat"

#define STAT_STATS_TRIES 5  /* ringside_reader_stats() -EAGAIN retries */
#define STAT_STATS_PAUSE 20 /* milliseconds between two of them */
#define STAT_WATCH_MIN 0.1  /* seconds */
#define STAT_WATCH_MAX 86400.0
#define STAT_PROGS_MAX 16  /* other programs' segments shown */
#define STAT_WARNED_MAX 32 /* programs warned about, once each */
#define STAT_LINE 80	   /* a program's counters wrap at this column */

/* The segment's state as shown: what ringside_reader_state() says once
 * every batch has been taken. */
enum stat_state {
	STAT_LIVE,
	STAT_CLOSED,
	STAT_DEAD,
	STAT_REPLACED,
};

static const char *const stat_state_names[] = {
	[STAT_LIVE] = "live",
	[STAT_CLOSED] = "closed",
	[STAT_DEAD] = "dead",
	[STAT_REPLACED] = "replaced",
};

/* One snapshot: the counters and when they were taken. */
struct stat_snap {
	struct ringside_engine_stats e;
	struct ringside_sensor_stats *s; /* nsensors entries */
	uint64_t mono_ns;		 /* CLOCK_MONOTONIC when taken */
	enum stat_state state;
	double uptime_s;
	int valid;
};

/* The counters of another program, from its own segment. */
struct stat_prog {
	char name[RINGSIDE_NAME_MAX + 1];
	const char *state; /* "running", "stopped" or "dead" */
	uint32_t n;
	char keys[RINGSIDE_AUX_MAX][RINGSIDE_AUX_KEY_MAX + 1];
	uint64_t v[RINGSIDE_AUX_MAX];
};

struct stat_ctx {
	/* From the command line. */
	const char *name;
	int json;
	double watch_s; /* 0: print once */

	/* The segment shown and what its snapshots need. */
	struct ringside_reader r;
	struct client_sensors sensors;
	uint64_t last_pub_mono_ns; /* newest batch taken, 0: none yet */
	struct stat_snap cur, prev;
	int tty; /* stdout is a terminal: watch mode clears it */

	/* Other programs' counters, taken with each snapshot. */
	struct stat_prog progs[STAT_PROGS_MAX];
	int nprogs;
	char warned[STAT_WARNED_MAX][RINGSIDE_NAME_MAX + 1];
	int nwarned;
};

static volatile sig_atomic_t stat_stop; /* SIGINT or SIGTERM came */

static void stat_on_signal(int sig)
{
	(void)sig;
	stat_stop = 1;
}

static void stat_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " NAME [--json] [--watch SECONDS]\n"
		"Show the engine counters and the per-sensor counters and "
		"breaker states of the\n"
		"ringside segment /dev/shm/ringside.NAME, then the counters "
		"of other programs\n"
		"(such as ringside-bridge) kept in "
		"/dev/shm/ringside.NAME@PROGRAM.\n"
		"\n"
		"  --json             one JSON object instead of a table\n"
		"  --watch SECONDS    repeat every SECONDS (0.1 or more), with "
		"what changed\n"
		"                     in the last interval; JSON: one object "
		"per line\n"
		"  -h, --help         show this help and exit\n"
		"  -V, --version      show the version and exit\n"
		"\n"
		"Latency percentiles are estimated from a histogram.  "
		"Exit status: 0 on\n"
		"success or SIGINT/SIGTERM in watch mode; 1 when there is no "
		"segment, it is\n"
		"invalid or its counters cannot be read; 2 on a usage "
		"error.\n");
}

/* A number of seconds: decimal, finite, within the watch bounds. */
static int stat_parse_seconds(const char *s, double *v)
{
	char *end;
	double x;

	if ((*s < '0' || *s > '9') && *s != '.')
		return -EINVAL;
	errno = 0;
	x = strtod(s, &end);
	if (*end != '\0' || errno != 0 || !isfinite(x))
		return -EINVAL;
	if (x < STAT_WATCH_MIN || x > STAT_WATCH_MAX)
		return -ERANGE;
	*v = x;
	return 0;
}

static void stat_parse(struct stat_ctx *st, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "watch", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0; /* our own one-line messages */
	while ((opt = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			st->json = 1;
			break;
		case 'w':
			if (stat_parse_seconds(optarg, &st->watch_s) < 0)
				client_usage_error(PROG,
						   "--watch takes a number of "
						   "seconds from 0.1 to 86400, "
						   "not '%s'",
						   optarg);
			break;
		case 'h':
			stat_usage(stdout);
			exit(0);
		case 'V':
			printf(PROG " %s\n", RINGSIDE_VERSION);
			exit(0);
		default:
			client_bad_option(PROG, opt, argv);
		}
	}
	st->name = client_name_operand(PROG, argc, argv);
}

/* ---- what is computed from the counters ---------------------------------- */

/*
 * stat_quantile - estimate the @q quantile (0 < q < 1) of a sensor's call
 * latency from its histogram, in whole microseconds.  Returns 0 with *us
 * set, or -ENODATA when no call has ended yet.
 */
static int stat_quantile(const struct ringside_sensor_stats *s, double q,
			 uint64_t *us)
{
	uint64_t total = 0, below = 0;
	double rank, lo, hi, est;
	unsigned i;

	for (i = 0; i < RINGSIDE_HIST_BUCKETS; i++)
		total += s->hist[i];
	if (total == 0)
		return -ENODATA;
	rank = q * (double)total;
	for (i = 0; i < RINGSIDE_HIST_BUCKETS - 1; i++) {
		if ((double)(below + s->hist[i]) >= rank)
			break;
		below += s->hist[i];
	}
	lo = i > 0 ? (double)ringside_hist_bound_us[i - 1] : 0.0;
	if (i == RINGSIDE_HIST_BUCKETS - 1 || s->hist[i] == 0) {
		/* The +Inf bucket has no upper edge to interpolate to. */
		est = lo;
	} else {
		hi = (double)ringside_hist_bound_us[i];
		est = lo +
		      (hi - lo) * (rank - (double)below) / (double)s->hist[i];
	}
	*us = (uint64_t)floor(est + 0.5);
	return 0;
}

/* Calls that made more than one attempt (see the top of this file). */
static uint64_t stat_retried_calls(const uint64_t *c)
{
	if (c[RINGSIDE_SC_RETRIES] == 0)
		return 0;
	return c[RINGSIDE_SC_RETRY_OK] + c[RINGSIDE_SC_FAILED];
}

/* ---- taking a snapshot ----------------------------------------------------- */

/*
 * Take every batch published since the last look (no readings copied) and
 * remember the newest one's publication time.  Returns 0 or -errno.
 */
static int stat_drain(struct stat_ctx *st)
{
	struct ringside_batch b;
	int ret;

	while ((ret = ringside_reader_next(&st->r, &b, NULL, 0)) > 0)
		st->last_pub_mono_ns = b.published_mono_ns;
	return ret;
}

/* The segment's state once drained.  Returns 0 or -errno. */
static int stat_state_of(struct stat_ctx *st, enum stat_state *state)
{
	int ev, tries;

	for (tries = 0; tries < 3; tries++) {
		ev = stat_drain(st);
		if (ev < 0)
			return ev;
		ev = ringside_reader_state(&st->r);
		switch (ev) {
		case RINGSIDE_READY:
			continue; /* one more batch came meanwhile */
		case RINGSIDE_TIMEOUT:
			*state = STAT_LIVE;
			return 0;
		case RINGSIDE_CLOSED:
			*state = STAT_CLOSED;
			return 0;
		case RINGSIDE_DEAD:
			*state = STAT_DEAD;
			return 0;
		case RINGSIDE_REPLACED:
			*state = STAT_REPLACED;
			return 0;
		default:
			return ev < 0 ? ev : -EPROTO;
		}
	}
	/* Batches keep coming: it is publishing. */
	*state = STAT_LIVE;
	return 0;
}

/* A program name (at most RINGSIDE_NAME_MAX bytes, as listed) into @dst. */
static void stat_copy_name(char dst[RINGSIDE_NAME_MAX + 1], const char *src)
{
	size_t n = strnlen(src, RINGSIDE_NAME_MAX);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * 1 the first time @program is named here: a corrupt segment is reported
 * once, not at every snapshot of a watch.
 */
static int stat_first_warning(struct stat_ctx *st, const char *program)
{
	int i;

	for (i = 0; i < st->nwarned; i++)
		if (strcmp(st->warned[i], program) == 0)
			return 0;
	if (st->nwarned < STAT_WARNED_MAX)
		stat_copy_name(st->warned[st->nwarned++], program);
	return 1;
}

/*
 * Read the counters of @program into @p.  Returns 0, or -errno when it
 * is not to be shown: gone since it was listed (-ENOENT) or not ours to
 * read (-EACCES) silently, any other reason with a warning.
 */
static int stat_take_prog(struct stat_ctx *st, const char *program,
			  struct stat_prog *p)
{
	struct ringside_aux a;
	int ret, state = 0, tries;
	uint32_t i;

	ret = ringside_aux_attach(&a, st->name, program, 0);
	if (ret == -ENOENT || ret == -EACCES)
		return ret;
	if (ret == 0) {
		for (tries = 0;; tries++) {
			ret = ringside_aux_read(&a, p->v, a.n);
			if (ret != -EAGAIN || tries + 1 >= STAT_STATS_TRIES)
				break;
			client_sleep_ms(STAT_STATS_PAUSE);
		}
		/* A writer stops after its last update: asked afterwards,
		 * "stopped" never comes with counters older than its last. */
		state = ringside_aux_state(&a);
		if (ret == 0 && state < 0)
			ret = state;
		p->n = a.n;
		for (i = 0; ret == 0 && i < a.n; i++)
			ret = ringside_aux_key(&a, i, p->keys[i]);
		ringside_aux_detach(&a);
		if (ret == -EAGAIN)
			return ret; /* busy: shown again at the next look */
	}
	if (ret < 0) {
		if (stat_first_warning(st, program))
			fprintf(stderr,
				PROG ": warning: %s: "
				     "/dev/shm/ringside.%s@%s: %s\n",
				st->name, st->name, program,
				ringside_strerror(ret));
		return ret;
	}
	stat_copy_name(p->name, program);
	p->state = state == RINGSIDE_CLOSED ? "stopped"
		   : state == RINGSIDE_DEAD ? "dead"
					    : "running";
	return 0;
}

/* The counters of every other program of the engine, in name order. */
static void stat_take_progs(struct stat_ctx *st)
{
	char names[STAT_PROGS_MAX][RINGSIDE_NAME_MAX + 1];
	int i, n;

	st->nprogs = 0;
	n = ringside_aux_list(st->name, names, STAT_PROGS_MAX);
	if (n > STAT_PROGS_MAX)
		n = STAT_PROGS_MAX;
	for (i = 0; i < n; i++)
		if (stat_take_prog(st, names[i], &st->progs[st->nprogs]) == 0)
			st->nprogs++;
}

/*
 * Take a snapshot into @sn.  A live engine's uptime runs to now; a stopped
 * or dead one's to its last batch.  Returns 0, or -EAGAIN when no
 * consistent copy of the counters could be had, or another -errno.
 */
static int stat_take(struct stat_ctx *st, struct stat_snap *sn)
{
	uint64_t started, end;
	int ret, tries;

	sn->valid = 0;
	ret = stat_state_of(st, &sn->state);
	if (ret < 0)
		return ret;
	for (tries = 0;; tries++) {
		ret = ringside_reader_stats(&st->r, &sn->e, sn->s,
					    st->r.nsensors);
		if (ret != -EAGAIN || tries + 1 >= STAT_STATS_TRIES)
			break;
		client_sleep_ms(STAT_STATS_PAUSE);
	}
	if (ret < 0)
		return ret;
	sn->mono_ns = client_now_ns();
	started = sn->e.counter[RINGSIDE_EC_STARTED_MONO_NS];
	end = sn->state == STAT_LIVE ? sn->mono_ns : st->last_pub_mono_ns;
	sn->uptime_s = 0;
	if (started != 0 && end > started)
		sn->uptime_s = (double)(end - started) / 1e9;
	sn->valid = 1;
	stat_take_progs(st);
	return 0;
}

/* ---- output ---------------------------------------------------------------- */

/* A sensor name as a JSON string.  Names are [A-Za-z0-9_.-] by contract;
 * any other byte (a corrupt segment) is shown as '?'. */
static void stat_put_name(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		putc(c < 0x20 || c >= 0x7f || c == '"' || c == '\\' ? '?' : c,
		     f);
	}
}

static void stat_put_quantile(FILE *f, const struct ringside_sensor_stats *s,
			      double q)
{
	uint64_t us;

	if (stat_quantile(s, q, &us) < 0)
		fputs("null", f);
	else
		fprintf(f, "%llu", (unsigned long long)us);
}

/* Counter @i of @p as text: a key named "breaker" holds a breaker state,
 * shown by its name as the sensors' are. */
static const char *stat_prog_value(char *buf, size_t len,
				   const struct stat_prog *p, uint32_t i,
				   int quoted)
{
	uint64_t v = p->v[i];

	if (strcmp(p->keys[i], "breaker") == 0)
		snprintf(buf, len, quoted ? "\"%s\"" : "%s",
			 ringside_breaker_name(v > UINT_MAX ? UINT_MAX
							    : (unsigned)v));
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

/*
 * The names of the engine's own members: a program of one of these names
 * would make a second member of that name, which JSON parsers treat
 * differently; it is shown in the table only.
 */
static int stat_prog_clashes(const char *program)
{
	static const char *const own[] = {
		"engine",	"epoch",	"state",
		"uptime_s",	"batches",	"degraded_batches",
		"late_batches", "missed_ticks", "sensors",
	};
	size_t i;

	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strcmp(program, own[i]) == 0)
			return 1;
	return 0;
}

/* One member per other program: "bridge":{"state":"running",...}. */
static void stat_print_progs_json(struct stat_ctx *st)
{
	char val[32];
	uint32_t i;
	int k;

	for (k = 0; k < st->nprogs; k++) {
		const struct stat_prog *p = &st->progs[k];

		if (stat_prog_clashes(p->name)) {
			if (stat_first_warning(st, p->name))
				fprintf(stderr,
					PROG ": warning: %s: program %s is "
					     "left out of the JSON: the "
					     "engine's object has a member "
					     "of that name\n",
					st->name, p->name);
			continue;
		}
		fputs(",\"", stdout);
		stat_put_name(stdout, p->name);
		printf("\":{\"state\":\"%s\"", p->state);
		for (i = 0; i < p->n; i++) {
			fputs(",\"", stdout);
			stat_put_name(stdout, p->keys[i]);
			printf("\":%s",
			       stat_prog_value(val, sizeof(val), p, i, 1));
		}
		putchar('}');
	}
}

static void stat_print_json(struct stat_ctx *st, const struct stat_snap *sn)
{
	const uint64_t *e = sn->e.counter;
	uint32_t i;

	printf("{\"engine\":\"%s\",\"epoch\":%llu,\"state\":\"%s\","
	       "\"uptime_s\":%.1f,\"batches\":%llu,\"degraded_batches\":%llu,"
	       "\"late_batches\":%llu,\"missed_ticks\":%llu,\"sensors\":[",
	       st->r.name, (unsigned long long)st->r.epoch_us,
	       stat_state_names[sn->state], sn->uptime_s,
	       (unsigned long long)e[RINGSIDE_EC_BATCHES],
	       (unsigned long long)e[RINGSIDE_EC_DEGRADED],
	       (unsigned long long)e[RINGSIDE_EC_LATE],
	       (unsigned long long)e[RINGSIDE_EC_MISSED_TICKS]);
	for (i = 0; i < st->r.nsensors; i++) {
		const uint64_t *c = sn->s[i].counter;
		int err = (int)c[RINGSIDE_SC_LAST_ERROR];

		printf("%s{\"sensor\":\"", i > 0 ? "," : "");
		stat_put_name(stdout, st->sensors.names[i]);
		printf("\",\"breaker\":\"%s\",\"calls\":%llu,\"ok\":%llu,"
		       "\"failed\":%llu,\"attempts\":%llu,\"retries\":%llu,"
		       "\"retry_ok\":%llu,\"timeouts\":%llu,\"opens\":%llu,"
		       "\"fast_fails\":%llu,\"probes\":%llu,\"last_error\":",
		       ringside_breaker_name((unsigned)c[RINGSIDE_SC_BREAKER]),
		       (unsigned long long)c[RINGSIDE_SC_CALLS],
		       (unsigned long long)c[RINGSIDE_SC_OK],
		       (unsigned long long)c[RINGSIDE_SC_FAILED],
		       (unsigned long long)c[RINGSIDE_SC_ATTEMPTS],
		       (unsigned long long)c[RINGSIDE_SC_RETRIES],
		       (unsigned long long)c[RINGSIDE_SC_RETRY_OK],
		       (unsigned long long)c[RINGSIDE_SC_TIMEOUTS],
		       (unsigned long long)c[RINGSIDE_SC_OPENS],
		       (unsigned long long)c[RINGSIDE_SC_FAST_FAILS],
		       (unsigned long long)c[RINGSIDE_SC_PROBES]);
		if (err == 0)
			fputs("null", stdout);
		else
			printf("\"%s\"", ringside_errno_name(err));
		fputs(",\"latency_us\":{\"p50\":", stdout);
		stat_put_quantile(stdout, &sn->s[i], 0.5);
		fputs(",\"p99\":", stdout);
		stat_put_quantile(stdout, &sn->s[i], 0.99);
		fputs("}}", stdout);
	}
	putchar(']');
	stat_print_progs_json(st);
	fputs("}\n", stdout);
}

/* @part out of @whole as "12.3%", or "-" when @whole is 0. */
static const char *stat_percent(char *buf, size_t len, uint64_t part,
				uint64_t whole)
{
	if (whole == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f%%",
			 100.0 * (double)part / (double)whole);
	return buf;
}

static void stat_print_header(struct stat_ctx *st, const struct stat_snap *sn)
{
	const uint64_t *e = sn->e.counter;
	char pct[16];

	printf("%s  epoch %llu  ", st->r.name,
	       (unsigned long long)st->r.epoch_us);
	switch (sn->state) {
	case STAT_LIVE:
		printf("live (pid %d)", (int)ringside_reader_pid(&st->r));
		break;
	case STAT_CLOSED:
		fputs("closed: the engine stopped", stdout);
		break;
	case STAT_DEAD:
		printf("dead: the engine (pid %d) is gone",
		       (int)ringside_reader_pid(&st->r));
		break;
	case STAT_REPLACED:
		fputs("replaced by a new segment", stdout);
		break;
	}
	printf("  uptime %.1fs\n", sn->uptime_s);
	printf("batches %llu  degraded %llu (%s)  late %llu  missed ticks "
	       "%llu  reloads %llu\n",
	       (unsigned long long)e[RINGSIDE_EC_BATCHES],
	       (unsigned long long)e[RINGSIDE_EC_DEGRADED],
	       stat_percent(pct, sizeof(pct), e[RINGSIDE_EC_DEGRADED],
			    e[RINGSIDE_EC_BATCHES]),
	       (unsigned long long)e[RINGSIDE_EC_LATE],
	       (unsigned long long)e[RINGSIDE_EC_MISSED_TICKS],
	       (unsigned long long)e[RINGSIDE_EC_RELOADS]);
}

/* Watch mode: what changed since the previous snapshot @pv. */
static void stat_print_interval(const struct stat_snap *sn,
				const struct stat_snap *pv)
{
	uint64_t db, dd;
	double dt;
	char pct[16];

	dt = (double)(sn->mono_ns - pv->mono_ns) / 1e9;
	db = sn->e.counter[RINGSIDE_EC_BATCHES] -
	     pv->e.counter[RINGSIDE_EC_BATCHES];
	dd = sn->e.counter[RINGSIDE_EC_DEGRADED] -
	     pv->e.counter[RINGSIDE_EC_DEGRADED];
	printf("last %.1fs: %.1f batches/s, %llu degraded (%s)\n", dt,
	       dt > 0 ? (double)db / dt : 0.0, (unsigned long long)dd,
	       stat_percent(pct, sizeof(pct), dd, db));
}

/* A latency quantile for the table: the estimate, or "-" with no call. */
static const char *stat_quantile_text(char *buf, size_t len,
				      const struct ringside_sensor_stats *s,
				      double q)
{
	uint64_t us;

	if (stat_quantile(s, q, &us) < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%llu", (unsigned long long)us);
	return buf;
}

/*
 * The table: the engine's lines, then one row per sensor.  In watch mode
 * (@pv set) the engine's rates over the last interval are added, and a
 * +DEG column: the batches each sensor made degraded in that interval.
 */
static void stat_print_table(struct stat_ctx *st, const struct stat_snap *sn,
			     const struct stat_snap *pv)
{
	uint64_t batches = sn->e.counter[RINGSIDE_EC_BATCHES];
	char lat[48], rate[16], share[16], p50[24], p99[24];
	int w = 6; /* "SENSOR" */
	uint32_t i;

	for (i = 0; i < st->r.nsensors; i++) {
		int n = (int)strlen(st->sensors.names[i]);

		if (n > w)
			w = n;
	}
	stat_print_header(st, sn);
	if (pv != NULL)
		stat_print_interval(sn, pv);
	putchar('\n');
	printf("%-*s %-9s %9s %8s %8s %6s %8s %5s %9s %8s %6s", w, "SENSOR",
	       "BREAKER", "CALLS", "FAILED", "RETRY_OK", "RATE", "TIMEOUTS",
	       "OPENS", "FASTFAILS", "DEGRADED", "SHARE");
	if (pv != NULL)
		printf(" %6s", "+DEG");
	printf(" %13s %s\n", "P50/P99_US", "LAST_ERROR");
	for (i = 0; i < st->r.nsensors; i++) {
		const uint64_t *c = sn->s[i].counter;
		int err = (int)c[RINGSIDE_SC_LAST_ERROR];

		stat_put_name(stdout, st->sensors.names[i]);
		printf("%*s %-9s %9llu %8llu %8llu %6s %8llu %5llu %9llu "
		       "%8llu %6s",
		       w - (int)strlen(st->sensors.names[i]), "",
		       ringside_breaker_name((unsigned)c[RINGSIDE_SC_BREAKER]),
		       (unsigned long long)c[RINGSIDE_SC_CALLS],
		       (unsigned long long)c[RINGSIDE_SC_FAILED],
		       (unsigned long long)c[RINGSIDE_SC_RETRY_OK],
		       stat_percent(rate, sizeof(rate), c[RINGSIDE_SC_RETRY_OK],
				    stat_retried_calls(c)),
		       (unsigned long long)c[RINGSIDE_SC_TIMEOUTS],
		       (unsigned long long)c[RINGSIDE_SC_OPENS],
		       (unsigned long long)c[RINGSIDE_SC_FAST_FAILS],
		       (unsigned long long)c[RINGSIDE_SC_DEGRADED],
		       stat_percent(share, sizeof(share),
				    c[RINGSIDE_SC_DEGRADED], batches));
		if (pv != NULL)
			printf(" %6llu",
			       (unsigned long long)(c[RINGSIDE_SC_DEGRADED] -
						    pv->s[i].counter
							    [RINGSIDE_SC_DEGRADED]));
		snprintf(lat, sizeof(lat), "%s/%s",
			 stat_quantile_text(p50, sizeof(p50), &sn->s[i], 0.5),
			 stat_quantile_text(p99, sizeof(p99), &sn->s[i], 0.99));
		printf(" %13s %s\n", lat,
		       err != 0 ? ringside_errno_name(err) : "-");
	}
}

/*
 * One block per other program, after the sensors:
 * "bridge (running): published 12  gaps 0  breaker closed", wrapped at
 * STAT_LINE columns.
 */
static void stat_print_progs(const struct stat_ctx *st)
{
	char val[32];
	const char *sep;
	uint32_t i;
	int k, col, w;

	for (k = 0; k < st->nprogs; k++) {
		const struct stat_prog *p = &st->progs[k];

		putchar('\n');
		stat_put_name(stdout, p->name);
		col = printf(" (%s):", p->state) + (int)strlen(p->name);
		sep = " ";
		for (i = 0; i < p->n; i++) {
			stat_prog_value(val, sizeof(val), p, i, 0);
			w = (int)(strlen(sep) + strlen(p->keys[i]) + 1 +
				  strlen(val));
			if (col + w > STAT_LINE && i > 0) {
				putchar('\n');
				col = 0;
			}
			fputs(sep, stdout);
			stat_put_name(stdout, p->keys[i]);
			col += w;
			printf(" %s", val);
			sep = "  ";
		}
		putchar('\n');
	}
}

/*
 * Write what is buffered.  Returns -1 to go on, or the exit status: 0
 * when the consumer has gone (EPIPE), 1 on another write error.
 */
static int stat_flush(void)
{
	int err = 0;

	if (fflush(stdout) != 0 || ferror(stdout))
		err = errno;
	if (err == EPIPE)
		return 0;
	if (err != 0) {
		fprintf(stderr, PROG ": cannot write: %s\n", strerror(err));
		return 1;
	}
	return -1;
}

/* Print the current snapshot, with deltas when a comparable previous one
 * exists.  Returns -1 to go on, or the exit status. */
static int stat_print(struct stat_ctx *st, int separate)
{
	const struct stat_snap *pv = NULL;

	if (st->watch_s > 0 && st->prev.valid &&
	    st->cur.e.counter[RINGSIDE_EC_BATCHES] >=
		    st->prev.e.counter[RINGSIDE_EC_BATCHES])
		pv = &st->prev;
	if (st->json) {
		stat_print_json(st, &st->cur);
	} else {
		if (st->watch_s > 0 && st->tty)
			fputs("\033[H\033[2J", stdout);
		else if (separate)
			putchar('\n');
		stat_print_table(st, &st->cur, pv);
		stat_print_progs(st);
	}
	return stat_flush();
}

/* ---- the segment ----------------------------------------------------------- */

static void stat_release(struct stat_ctx *st)
{
	client_sensors_exit(&st->sensors);
	free(st->cur.s);
	free(st->prev.s);
	st->cur.s = st->prev.s = NULL;
	st->cur.valid = st->prev.valid = 0;
}

/* A segment has just been attached: load its sensor table and size the
 * snapshots from it.  Returns 0 or -ENOMEM. */
static int stat_adopt(struct stat_ctx *st)
{
	size_t n = st->r.nsensors > 0 ? st->r.nsensors : 1;

	stat_release(st);
	st->last_pub_mono_ns = 0;
	if (client_sensors_load(&st->sensors, &st->r) < 0)
		return -ENOMEM;
	st->cur.s = calloc(n, sizeof(*st->cur.s));
	st->prev.s = calloc(n, sizeof(*st->prev.s));
	if (st->cur.s == NULL || st->prev.s == NULL) {
		stat_release(st);
		return -ENOMEM;
	}
	return 0;
}

static void stat_attach_error(const struct stat_ctx *st, int err)
{
	if (err == -ENOENT)
		fprintf(stderr,
			PROG ": %s: no segment /dev/shm/ringside.%s "
			     "(is ringsided running?)\n",
			st->name, st->name);
	else if (err == -ENOMEM)
		fputs(PROG ": out of memory\n", stderr);
	else
		fprintf(stderr, PROG ": %s: /dev/shm/ringside.%s: %s\n",
			st->name, st->name, ringside_strerror(err));
}

static void stat_snap_error(const struct stat_ctx *st, int err)
{
	if (err == -EAGAIN)
		fprintf(stderr, PROG ": %s: %s\n", st->name,
			st->cur.state == STAT_DEAD
				? "the engine died while updating its "
				  "counters; they cannot be read"
				: "the counters kept changing; no consistent "
				  "copy could be had");
	else
		fprintf(stderr, PROG ": %s: %s\n", st->name,
			ringside_strerror(err));
}

/* Sleep until @deadline_ns (CLOCK_MONOTONIC) or a stop signal. */
static void stat_sleep_until(uint64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ns / 1000000000ULL),
		.tv_nsec = (long)(deadline_ns % 1000000000ULL),
	};

	while (!stat_stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
					     &ts, NULL) == EINTR)
		;
}

/*
 * Watch mode, between two snapshots: when the engine was no longer
 * publishing into this segment at the last one (prev), move to a newer
 * segment at the path if there is one (a reload, a restart).  Returns 0
 * when still on the same segment, 1 when moved, -ENOMEM.
 */
static int stat_follow(struct stat_ctx *st)
{
	int ret;

	if (!st->prev.valid || st->prev.state == STAT_LIVE)
		return 0;
	ret = ringside_reader_reattach(&st->r, RINGSIDE_FROM_OLDEST);
	if (ret < 0)
		return 0; /* nothing new (or nothing valid) at the path */
	ret = stat_adopt(st);
	return ret < 0 ? ret : 1;
}

static int stat_run(struct stat_ctx *st)
{
	struct stat_snap tmp;
	uint64_t interval_ns, next;
	int ret, shown = 0;

	ret = ringside_reader_attach(&st->r, st->name, RINGSIDE_FROM_OLDEST);
	if (ret == 0)
		ret = stat_adopt(st);
	if (ret < 0) {
		stat_attach_error(st, ret);
		return 1;
	}
	if (st->watch_s <= 0) {
		ret = stat_take(st, &st->cur);
		if (ret < 0) {
			stat_snap_error(st, ret);
			return 1;
		}
		ret = stat_print(st, 0);
		return ret >= 0 ? ret : 0;
	}

	interval_ns = (uint64_t)(st->watch_s * 1e9);
	next = client_now_ns();
	while (!stat_stop) {
		ret = stat_take(st, &st->cur);
		if (ret == 0) {
			ret = stat_print(st, shown++);
			if (ret >= 0)
				return ret;
			/* The snapshot shown becomes the base of the next
			 * interval's deltas. */
			tmp = st->prev;
			st->prev = st->cur;
			st->cur = tmp;
		} else if (ret != -EAGAIN || st->cur.state == STAT_DEAD) {
			stat_snap_error(st, ret);
			return 1;
		}
		/* Otherwise the writer was busy: try again next time. */
		/* A watch that was stopped (^Z) resumes its rhythm from now
		 * instead of printing the intervals it missed at once. */
		next += interval_ns;
		if (next < client_now_ns())
			next = client_now_ns();
		stat_sleep_until(next);
		ret = stat_follow(st);
		if (ret < 0) {
			stat_attach_error(st, ret);
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char outbuf[1 << 16];
	struct sigaction sa;
	struct stat_ctx st;
	int ret;

	memset(&st, 0, sizeof(st));
	st.r.fd = -1;
	stat_parse(&st, argc, argv);
	st.tty = isatty(STDOUT_FILENO);

	/* Each snapshot goes out in one write, at its flush. */
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* No SA_RESTART: the sleep between two snapshots is cut short. */
	sa.sa_handler = stat_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	ret = stat_run(&st);
	ringside_reader_detach(&st.r);
	stat_release(&st);
	return ret;
}
