/* SPDX-License-Identifier: MIT */
/*
 * tail.c - ringside-tail: print the batches of a segment as they are
 * published, one line per batch (readable text, the JSON line of the
 * users' contract, or CSV), flushed per batch so that it pipes into jq or
 * grep live.
 *
 * It sleeps on the segment's futex between batches and takes every batch
 * that is ready when it wakes.  A segment's life ends in one of three
 * ways, and the tail follows the users' contract for each: closed cleanly
 * (everything is drained: exit 0, or with -F wait for the next segment),
 * replaced by a new epoch (announced and followed from its first batch),
 * or abandoned by a dead engine (announced: exit 1, or wait with -F).
 *
 * Everything a batch needs (readings, the JSON line, the sensor table) is
 * allocated when a segment is attached, sized from its sensor count; the
 * per-batch path allocates nothing.
 *
 * Signals: SIGPIPE is ignored, so a consumer that leaves (`| head -1`)
 * shows up as EPIPE on the next flush and the tail exits 0 quietly; it
 * also looks for a vanished consumer while idle.  SIGINT and SIGTERM exit
 * 0 at once while the tail is waiting, and after the line in progress
 * while it is printing, so that no half line is left behind.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "ringside.h"

#define PROG "ringside-tail"

/* JSON line bounds: a batch's fixed part, and the most one sensor adds (a
 * 32-byte name, a unit of 23 control characters escaped as \u00XX, the
 * widest %.17g, 255 attempts, a 10-digit latency and the late flag). */
#define JSON_FIXED 512
#define JSON_PER_SENSOR 384

/* An idle check found that nobody reads our output any more. */
#define TAIL_QUIT 1

enum tail_format {
	TAIL_TEXT,
	TAIL_JSON,
	TAIL_CSV,
};

struct tail {
	/* From the command line. */
	const char *name;
	enum tail_format format;
	unsigned from;	/* RINGSIDE_FROM_* for the segment found at start */
	uint64_t count; /* batches to print before exiting 0; 0: no limit */
	int follow;	/* -F */

	/* The segment being followed and what its batches need. */
	struct ringside_reader r;
	struct client_sensors sensors;
	struct ringside_reading *v; /* r.nsensors entries */
	char *json;		    /* the JSON line, json_len bytes */
	size_t json_len;
	int csv_header; /* a CSV header has been printed */

	uint64_t printed;
};

static volatile sig_atomic_t tail_busy; /* a line is being written */
static volatile sig_atomic_t tail_stop; /* SIGINT or SIGTERM came */

static void tail_on_signal(int sig)
{
	(void)sig;
	/* Nothing is half written while not busy: every line was flushed. */
	if (!tail_busy)
		_exit(0);
	tail_stop = 1;
}

static void tail_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " NAME [--json | --csv] [--from oldest|now] "
		"[--count N] [-F]\n"
		"Print the batches of the ringside segment "
		"/dev/shm/ringside.NAME as they\n"
		"are published, one line per batch.\n"
		"\n"
		"  --json             one JSON object per batch (JSON lines)\n"
		"  --csv              a header, then one CSV row per batch\n"
		"  --from oldest|now  where to start in the segment found at "
		"start: the oldest\n"
		"                     batch the ring still holds, or the next "
		"one published\n"
		"                     (default: now, as tail -f)\n"
		"  --count N          exit after N batches\n"
		"  -F                 when the engine stops or dies, wait for "
		"its next segment\n"
		"                     instead of exiting, as tail -F does\n"
		"  -h, --help         show this help and exit\n"
		"  -V, --version      show the version and exit\n"
		"\n"
		"A segment that does not exist yet is waited for.  A new "
		"segment (a restarted\n"
		"or reloaded engine) is announced on stderr and followed from "
		"its first batch.\n"
		"Exit status: 0 when the engine stopped cleanly and every "
		"batch was printed,\n"
		"after --count batches, or on SIGINT/SIGTERM or a closed "
		"pipe; 1 when the\n"
		"engine died (without -F) or the segment is invalid; 2 on a "
		"usage error.\n");
}

static void tail_parse(struct tail *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "csv", no_argument, NULL, 'c' },
		{ "from", required_argument, NULL, 'f' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, json = 0, csv = 0;

	opterr = 0; /* our own one-line messages */
	while ((opt = getopt_long(argc, argv, ":FhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = 1;
			break;
		case 'c':
			csv = 1;
			break;
		case 'f':
			if (strcmp(optarg, "oldest") == 0)
				t->from = RINGSIDE_FROM_OLDEST;
			else if (strcmp(optarg, "now") == 0)
				t->from = RINGSIDE_FROM_NOW;
			else
				client_usage_error(PROG,
						   "--from takes 'oldest' or "
						   "'now', not '%s'",
						   optarg);
			break;
		case 'n':
			if (client_parse_u64(optarg, &t->count) < 0 ||
			    t->count == 0)
				client_usage_error(PROG,
						   "--count takes a positive "
						   "whole number, not '%s'",
						   optarg);
			break;
		case 'F':
			t->follow = 1;
			break;
		case 'h':
			tail_usage(stdout);
			exit(0);
		case 'V':
			printf(PROG " %s\n", RINGSIDE_VERSION);
			exit(0);
		default:
			client_bad_option(PROG, opt, argv);
		}
	}
	if (json && csv)
		client_usage_error(PROG,
				   "--json and --csv cannot be used together");
	t->format = json ? TAIL_JSON : csv ? TAIL_CSV : TAIL_TEXT;
	t->name = client_name_operand(PROG, argc, argv);
}

/*
 * A line has been put into stdout's buffer: write it out.  Returns -1 to
 * go on, or the exit status: 0 when the consumer has gone (EPIPE) or a
 * stop signal came in while writing, 1 on another write error.
 */
static int tail_flush(void)
{
	int err = 0;

	if (fflush(stdout) != 0 || ferror(stdout))
		err = errno;
	tail_busy = 0;
	if (tail_stop)
		return 0;
	if (err == EPIPE)
		return 0;
	if (err != 0) {
		fprintf(stderr, PROG ": cannot write: %s\n", strerror(err));
		return 1;
	}
	return -1;
}

static void tail_csv_header(const struct client_sensors *s)
{
	uint32_t i;

	fputs("seq,tick,degraded,available,total", stdout);
	for (i = 0; i < s->n; i++) {
		putchar(',');
		fputs(s->names[i], stdout);
	}
	putchar('\n');
}

/* Free text from the segment (a unit) on a terminal: control characters
 * become '?', so a unit cannot move the cursor or end the line. */
static void tail_put_text(const char *s)
{
	for (; *s != '\0'; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

static void tail_print_text(struct tail *t, const struct ringside_batch *b)
{
	char when[40], val[32];
	uint32_t i;

	client_format_time(when, sizeof(when), b->tick_us, 3);
	printf("#%llu %s %s %u/%u", (unsigned long long)b->seq, when,
	       (b->flags & RINGSIDE_BATCH_DEGRADED) ? "degraded" : "ok",
	       b->available, b->total);
	if (b->lost > 0)
		printf(" lost=%llu", (unsigned long long)b->lost);
	for (i = 0; i < b->nreadings; i++) {
		const struct ringside_reading *v = &t->v[i];

		if (v->status == RINGSIDE_OK) {
			snprintf(val, sizeof(val), "%g", v->value);
			printf(" %s=%s", t->sensors.names[i], val);
			tail_put_text(t->sensors.units[i]);
		} else {
			printf(" %s:%s", t->sensors.names[i],
			       ringside_status_name(v->status));
			if (v->status == RINGSIDE_FAILED)
				printf("(%s)", ringside_errno_name(v->error));
		}
		if (v->flags & RINGSIDE_READING_LATE)
			fputs("(late)", stdout);
	}
	putchar('\n');
}

static void tail_print_csv(struct tail *t, const struct ringside_batch *b)
{
	char when[40], val[32];
	uint32_t i;

	client_format_time(when, sizeof(when), b->tick_us, 6);
	printf("%llu,%s,%s,%u,%u", (unsigned long long)b->seq, when,
	       (b->flags & RINGSIDE_BATCH_DEGRADED) ? "true" : "false",
	       b->available, b->total);
	for (i = 0; i < b->nreadings; i++) {
		putchar(',');
		if (t->v[i].status == RINGSIDE_OK &&
		    client_format_value(val, sizeof(val), t->v[i].value) > 0)
			fputs(val, stdout);
	}
	putchar('\n');
}

/* Returns 0, or -ENOMEM if the line would not fit in any buffer. */
static int tail_print_json(struct tail *t, const struct ringside_batch *b)
{
	char *bigger;
	int n;

	for (;;) {
		n = ringside_json_batch(t->json, t->json_len, t->r.name,
					t->r.epoch_us, t->sensors.names,
					t->sensors.units, b, t->v);
		if (n >= 0)
			break;
		/* Not expected with the bound above; grow rather than
		 * drop a batch. */
		bigger = realloc(t->json, t->json_len * 2);

		if (bigger == NULL)
			return -ENOMEM;
		t->json = bigger;
		t->json_len *= 2;
	}
	fwrite(t->json, 1, (size_t)n, stdout);
	putchar('\n');
	return 0;
}

/* Print one batch.  Returns -1 to go on, or the exit status. */
static int tail_print(struct tail *t, const struct ringside_batch *b)
{
	tail_busy = 1;
	switch (t->format) {
	case TAIL_TEXT:
		tail_print_text(t, b);
		break;
	case TAIL_CSV:
		tail_print_csv(t, b);
		break;
	case TAIL_JSON:
		if (tail_print_json(t, b) < 0) {
			tail_busy = 0;
			fputs(PROG ": out of memory\n", stderr);
			return 1;
		}
		break;
	}
	return tail_flush();
}

/* Print every batch ready.  Returns -1 to go on, or the exit status. */
static int tail_drain(struct tail *t)
{
	struct ringside_batch b;
	int ret;

	while ((ret = ringside_reader_next(&t->r, &b, t->v, t->r.nsensors)) >
	       0) {
		ret = tail_print(t, &b);
		if (ret >= 0)
			return ret;
		if (t->count > 0 && ++t->printed >= t->count)
			return 0;
	}
	if (ret < 0) {
		fprintf(stderr, PROG ": %s: %s\n", t->name,
			ringside_strerror(ret));
		return 1;
	}
	return -1;
}

/*
 * A segment has just been attached: size the buffers from its sensor
 * count and load its sensor table; in CSV, print the header when the
 * sensors are not those of the previous segment.  Returns -1 to go on, or
 * the exit status.
 */
static int tail_adopt(struct tail *t)
{
	struct client_sensors s;
	size_t n = t->r.nsensors > 0 ? t->r.nsensors : 1;
	int ret = -1;

	if (client_sensors_load(&s, &t->r) < 0)
		goto err_nomem;
	free(t->v);
	free(t->json);
	t->json_len = JSON_FIXED + n * JSON_PER_SENSOR;
	t->v = malloc(n * sizeof(*t->v));
	t->json = t->format == TAIL_JSON ? malloc(t->json_len) : NULL;
	if (t->v == NULL || (t->format == TAIL_JSON && t->json == NULL))
		goto err_sensors;
	if (t->format == TAIL_CSV &&
	    (!t->csv_header || !client_sensors_same(&s, &t->sensors))) {
		tail_busy = 1;
		tail_csv_header(&s);
		t->csv_header = 1;
		ret = tail_flush();
	}
	client_sensors_exit(&t->sensors);
	t->sensors = s;
	return ret;

err_sensors:
	client_sensors_exit(&s);
err_nomem:
	fputs(PROG ": out of memory\n", stderr);
	return 1;
}

/* Between two looks for a segment: leave if nobody reads us any more. */
static int tail_idle(void *arg)
{
	(void)arg;
	return client_output_gone(STDOUT_FILENO) ? TAIL_QUIT : 0;
}

/*
 * Wait for a segment other than the one attached (if any), then adopt it,
 * announcing its epoch.  Returns -1 to go on, or the exit status.
 */
static int tail_next_segment(struct tail *t)
{
	int ret;

	ret = client_segment_wait(&t->r, t->name, RINGSIDE_FROM_OLDEST,
				  tail_idle, NULL);
	if (ret == TAIL_QUIT)
		return 0;
	if (ret < 0) {
		fprintf(stderr, PROG ": %s: %s\n", t->name,
			ringside_strerror(ret));
		return 1;
	}
	fprintf(stderr, PROG ": %s: new epoch %llu\n", t->name,
		(unsigned long long)t->r.epoch_us);
	return tail_adopt(t);
}

static int tail_run(struct tail *t)
{
	int ret, ev;

	ret = ringside_reader_attach(&t->r, t->name, t->from);
	if (ret == -ENOENT) {
		fprintf(stderr, PROG ": %s: no segment yet, waiting for one\n",
			t->name);
		ret = tail_next_segment(t);
	} else if (ret < 0) {
		fprintf(stderr, PROG ": %s: %s\n", t->name,
			ringside_strerror(ret));
		return 1;
	} else {
		ret = tail_adopt(t);
	}
	if (ret >= 0)
		return ret;

	for (;;) {
		/* A bounded wait, so that an idle tail still notices when
		 * its consumer has gone. */
		ev = ringside_reader_wait(&t->r, 1000);
		if (ev < 0) {
			fprintf(stderr, PROG ": %s: %s\n", t->name,
				ringside_strerror(ev));
			return 1;
		}
		ret = tail_drain(t);
		if (ret >= 0)
			return ret;
		switch (ev) {
		case RINGSIDE_TIMEOUT:
			if (client_output_gone(STDOUT_FILENO))
				return 0;
			continue;
		case RINGSIDE_READY:
			continue;
		case RINGSIDE_CLOSED:
			if (!t->follow)
				return 0;
			fprintf(stderr,
				PROG ": %s: engine stopped, waiting for "
				     "a new segment\n",
				t->name);
			break;
		case RINGSIDE_DEAD:
			fprintf(stderr,
				PROG ": %s: engine (pid %d) is gone%s\n",
				t->name, (int)ringside_reader_pid(&t->r),
				t->follow ? ", waiting for a new segment" : "");
			if (!t->follow)
				return 1;
			break;
		case RINGSIDE_REPLACED:
			break;
		}
		ret = tail_next_segment(t);
		if (ret >= 0)
			return ret;
	}
}

int main(int argc, char **argv)
{
	static char outbuf[1 << 16];
	struct sigaction sa;
	struct tail t;
	int ret;

	memset(&t, 0, sizeof(t));
	t.from = RINGSIDE_FROM_NOW;
	tail_parse(&t, argc, argv);

	/* Whole lines go out in one write each, at the flush per batch. */
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* No SA_RESTART: a write blocked on a full pipe is cut short. */
	sa.sa_handler = tail_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	ret = tail_run(&t);
	ringside_reader_detach(&t.r);
	client_sensors_exit(&t.sensors);
	free(t.v);
	free(t.json);
	return ret;
}
