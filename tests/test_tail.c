/* SPDX-License-Identifier: MIT */
/*
 * test_tail.c - ringside-tail from the outside, as a script or a terminal
 * uses it: the program runs as a child with its stdout and stderr on
 * pipes, and what it prints and how it exits are checked against what the
 * users' contract and its man page promise.
 *
 * Most tests write the segment themselves through the writer API, so that
 * every batch, the ring's size and the segment's end (closed, abandoned as
 * if the engine had been killed, replaced by a reload) are under exact
 * control: each line printed is compared with the line expected for that
 * batch (for JSON, the line ringside_json_batch() gives), sequence numbers
 * must be gapless and the number of batches lost exactly right.  A few
 * tests run the real ringsided on a sensor served by ringside-sim and one
 * whose port refuses connections, and kill or stop it.
 *
 * Nothing is timed.  A test that needs the tail to have taken its starting
 * point (--from now) waits until the tail has the segment mapped and
 * sleeps on its futex (/proc/PID/maps and /proc/PID/syscall); every other
 * wait is for output, with a generous limit.
 *
 * The children (tails, engines, the simulator), the descriptors kept, the
 * segments (te<pid><tag>) and the temporary directory are the harness's
 * (tests/harness.h): its .fini takes them down whether the test passed or
 * not, and its .init removes what a test process killed by its timeout
 * left behind.  Programs come from $RINGSIDE_BIN, else build/bin.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "harness.h"
#include "ringside.h"

#define TL_WAIT_MS 10000 /* what is expected happens by then */
#define TL_TAILS_MAX 4
#define TL_OUT_MAX (1 << 18)
#define TL_ERR_MAX 8192
#define TL_LINE_MAX 4096
#define TL_T0_US 1795995621000000ULL /* the first tick of our batches */
#define TL_ENGINE_S "55" /* a real engine stops by itself after this */

/* One ringside-tail running, its output gathered from two pipes. */
struct tl_tail {
	pid_t pid;
	int out, err;	   /* read ends (kept); -1 once closed */
	size_t olen, opos; /* stdout bytes held; start of the next line */
	size_t elen;
	char obuf[TL_OUT_MAX]; /* NUL-terminated */
	char ebuf[TL_ERR_MAX]; /* NUL-terminated */
};

static struct {
	unsigned ntails;
	struct tl_tail tail[TL_TAILS_MAX];
} tl;

/* Three sensors that go through every status (see tl_fill), and the two
 * of a reloaded configuration. */
static const char *const tl_names[] = { "temp", "load", "hum" };
static const char *const tl_units[] = { "C", "", "%" };
static const char *const tl_names2[] = { "fan", "temp" };
static const char *const tl_units2[] = { "rpm", "C" };

/* ---- running ringside-tail --------------------------------------------- */

TestSuite(tail, .init = h_init, .fini = h_fini, .timeout = 60);

/* The whole of file @path, NUL-terminated, into @buf; false if unread. */
static bool tl_read_file(const char *path, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	while (n + 1 < len && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return true;
}

/* Start ringside-tail with the arguments @args (NULL-terminated). */
static struct tl_tail *tl_tailv(char *const args[])
{
	char bin[PATH_MAX];
	char *argv[16] = { bin };
	struct tl_tail *t;
	unsigned n = 1;

	cr_assert_lt(tl.ntails, TL_TAILS_MAX, "harness: too many tails");
	h_bin(bin, sizeof(bin), "ringside-tail");
	while (n < 15 && args[n - 1] != NULL) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	t = &tl.tail[tl.ntails++];
	t->out = t->err = -1;
	t->pid = h_spawn_io(
		argv, &(struct h_stdio){ .out = &t->out, .err = &t->err });
	return t;
}

/* The same with the arguments as a list ending with NULL. */
static struct tl_tail *tl_tail(const char *arg, ...)
{
	char *args[15];
	unsigned n = 0;
	va_list ap;

	va_start(ap, arg);
	for (; arg != NULL && n < 14; arg = va_arg(ap, const char *))
		args[n++] = (char *)arg;
	va_end(ap);
	args[n] = NULL;
	return tl_tailv(args);
}

/* Take what stdout or stderr has, waiting up to @ms for something. */
static void tl_pump(struct tl_tail *t, int ms)
{
	struct pollfd p[2];
	nfds_t n = 0, i;

	if (t->out >= 0)
		p[n++] = (struct pollfd){ .fd = t->out, .events = POLLIN };
	if (t->err >= 0)
		p[n++] = (struct pollfd){ .fd = t->err, .events = POLLIN };
	if (n == 0) {
		h_sleep_ms((unsigned)ms);
		return;
	}
	if (poll(p, n, ms) <= 0)
		return;
	for (i = 0; i < n; i++) {
		ssize_t r;

		if (p[i].revents == 0)
			continue;
		if (p[i].fd == t->out) {
			if (t->opos > 0) {
				memmove(t->obuf, t->obuf + t->opos,
					t->olen - t->opos);
				t->olen -= t->opos;
				t->opos = 0;
			}
			cr_assert_lt(t->olen + 1, sizeof(t->obuf),
				     "harness: too much output unread");
			r = read(t->out, t->obuf + t->olen,
				 sizeof(t->obuf) - 1 - t->olen);
			if (r > 0) {
				t->olen += (size_t)r;
				t->obuf[t->olen] = '\0';
			} else if (r == 0 || errno != EINTR) {
				h_close(t->out);
				t->out = -1;
			}
		} else {
			char sink[512];
			bool room = t->elen + 1 < sizeof(t->ebuf);

			r = read(t->err, room ? t->ebuf + t->elen : sink,
				 room ? sizeof(t->ebuf) - 1 - t->elen
				      : sizeof(sink));
			if (r > 0 && room) {
				t->elen += (size_t)r;
				t->ebuf[t->elen] = '\0';
			} else if (r == 0 || (r < 0 && errno != EINTR)) {
				h_close(t->err);
				t->err = -1;
			}
		}
	}
}

/*
 * The next line of the tail's stdout, without its newline, into @buf.
 * Returns false at end of file, or when none came within TL_WAIT_MS.
 */
static bool tl_line(struct tl_tail *t, char *buf, size_t len)
{
	uint64_t end = h_now_ms() + TL_WAIT_MS;

	for (;;) {
		char *start = t->obuf + t->opos;
		char *nl = memchr(start, '\n', t->olen - t->opos);

		if (nl != NULL) {
			size_t n = (size_t)(nl - start);

			cr_assert_lt(n, len, "a line of %zu bytes: %.200s", n,
				     start);
			memcpy(buf, start, n);
			buf[n] = '\0';
			t->opos += n + 1;
			return true;
		}
		if (t->out < 0 || h_now_ms() >= end)
			return false;
		tl_pump(t, 100);
	}
}

static void tl_expect_line(struct tl_tail *t, char *buf, size_t len)
{
	cr_assert(tl_line(t, buf, len),
		  "ringside-tail printed no line (at end: %s); stderr: %s",
		  t->out < 0 ? "yes" : "no", t->ebuf);
}

/* Wait until the tail's stderr holds @text; false after TL_WAIT_MS. */
static bool tl_says(struct tl_tail *t, const char *text)
{
	uint64_t end = h_now_ms() + TL_WAIT_MS;

	while (strstr(t->ebuf, text) == NULL) {
		if (t->err < 0 || h_now_ms() >= end)
			return false;
		tl_pump(t, 100);
	}
	return true;
}

static void tl_expect_says(struct tl_tail *t, const char *text)
{
	cr_assert(tl_says(t, text), "stderr never said \"%s\"; it holds: %s",
		  text, t->ebuf);
}

static bool tl_running(struct tl_tail *t)
{
	return t->pid > 0 && waitpid(t->pid, NULL, WNOHANG) == 0;
}

/*
 * Wait for the tail to end (draining its pipes meanwhile, so that it is
 * never held up by them), then for the end of its output.  Returns its
 * wait status.
 */
static int tl_wait(struct tl_tail *t)
{
	uint64_t end = h_now_ms() + TL_WAIT_MS;
	int status = 0;
	pid_t r;

	cr_assert_gt(t->pid, 0, "harness: the tail was reaped already");
	while ((r = waitpid(t->pid, &status, WNOHANG)) == 0) {
		cr_assert_lt(h_now_ms(), end,
			     "ringside-tail is still running; stderr: %s",
			     t->ebuf);
		tl_pump(t, 50);
	}
	cr_assert_eq(r, t->pid, "waitpid: %s", strerror(errno));
	h_forget_child(t->pid);
	t->pid = 0;
	while ((t->out >= 0 || t->err >= 0) && h_now_ms() < end)
		tl_pump(t, 50);
	return status;
}

/* The tail must exit (not die of a signal) with status @code. */
static void tl_expect_exit(struct tl_tail *t, int code)
{
	int status = tl_wait(t);

	cr_assert(WIFEXITED(status),
		  "ringside-tail died of signal %d; stderr: %s",
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0, t->ebuf);
	cr_assert_eq(WEXITSTATUS(status), code,
		     "ringside-tail exited %d, not %d; stderr: %s",
		     WEXITSTATUS(status), code, t->ebuf);
}

/* Every line still to come, up to the end of the output. */
static unsigned tl_lines_left(struct tl_tail *t)
{
	char line[TL_LINE_MAX];
	unsigned n = 0;

	while (tl_line(t, line, sizeof(line)))
		n++;
	return n;
}

/* Stderr must be exactly one line that starts with @start and holds @text. */
static void tl_expect_one_error_line(struct tl_tail *t, const char *start,
				     const char *text)
{
	cr_assert_eq(strncmp(t->ebuf, start, strlen(start)), 0,
		     "stderr does not start with \"%s\": %s", start, t->ebuf);
	cr_assert_not_null(strstr(t->ebuf, text),
			   "stderr does not say \"%s\": %s", text, t->ebuf);
	cr_assert(t->elen > 0 && strchr(t->ebuf, '\n') == t->ebuf + t->elen - 1,
		  "stderr is not one line: %s", t->ebuf);
}

/*
 * Wait until tail @t has segment @name mapped and sleeps on its futex: it
 * has attached and taken its starting point.  Where /proc/PID/syscall
 * cannot be read, the mapping and a pause have to do.
 */
static void tl_wait_sleeping(struct tl_tail *t, const char *name)
{
	static char text[1 << 18]; /* maps of a sanitized build are long */
	char path[64], seg[96];
	uint64_t end = h_now_ms() + TL_WAIT_MS;

	snprintf(seg, sizeof(seg), "/dev/shm/ringside.%s\n", name);
	for (;;) {
		bool mapped, in_futex = false, known = true;

		cr_assert(tl_running(t), "ringside-tail exited; stderr: %s",
			  t->ebuf);
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)t->pid);
		mapped = tl_read_file(path, text, sizeof(text)) &&
			 strstr(text, seg) != NULL;
		snprintf(path, sizeof(path), "/proc/%d/syscall", (int)t->pid);
		if (!tl_read_file(path, text, sizeof(text)) || text[0] == '\0')
			known = false;
		else
			in_futex = atol(text) == SYS_futex &&
				   strncmp(text, "running", 7) != 0;
		if (mapped && !known) {
			h_sleep_ms(500);
			return;
		}
		if (mapped && in_futex)
			return;
		cr_assert_lt(h_now_ms(), end,
			     "ringside-tail never settled on %s; stderr: %s",
			     name, t->ebuf);
		tl_pump(t, 10);
	}
}

/* ---- batches ----------------------------------------------------------- */

/*
 * What batch @seq of an @n-sensor segment holds: sensor i takes pattern
 * (seq + i) % 8, so that consecutive batches go through every status, a
 * value that needs 16 digits to read back, late results, batches that are
 * degraded and batches that are not.
 */
static void tl_fill(uint64_t seq, uint32_t n, struct ringside_batch *b,
		    struct ringside_reading *v)
{
	uint32_t i;

	memset(b, 0, sizeof(*b));
	b->tick_us = TL_T0_US + seq * 100000;
	b->published_us = b->tick_us + 350 + seq % 1000;
	b->tick_mono_ns = seq * 100000000ULL;
	b->published_mono_ns = b->tick_mono_ns + 350000;
	b->total = n;
	b->nreadings = n;
	for (i = 0; i < n; i++) {
		struct ringside_reading *r = &v[i];

		memset(r, 0, sizeof(*r));
		r->latency_us = 80 + (uint32_t)(seq % 1000) + i;
		r->attempts = 1;
		switch ((seq + i) % 8) {
		case 0:
			r->value = 20 + 0.25 * (double)seq;
			break;
		case 1:
			r->value = (double)seq / 3.0;
			r->attempts = 2;
			break;
		case 2:
			r->value = -1.5 * (double)seq;
			r->flags = RINGSIDE_READING_LATE;
			break;
		case 3:
			r->value = 0.1 * (double)seq;
			break;
		case 4:
			r->status = RINGSIDE_FAILED;
			r->error = ECONNREFUSED;
			r->attempts = 4;
			break;
		case 5:
			r->status = RINGSIDE_OPEN;
			r->attempts = 0;
			r->latency_us = 0;
			break;
		case 6:
			r->status = RINGSIDE_PENDING;
			break;
		case 7:
			r->status = RINGSIDE_FAILED;
			r->error = ETIMEDOUT;
			r->flags = RINGSIDE_READING_LATE;
			r->attempts = 3;
			break;
		}
		if (r->status == RINGSIDE_OK)
			b->available++;
	}
	if (b->available < n)
		b->flags |= RINGSIDE_BATCH_DEGRADED;
}

/* The parameters of segment @name: @ring batches of @n sensors. */
static void tl_params(struct ringside_params *p, const char *name,
		      uint32_t ring, uint32_t n)
{
	size_t len = strlen(name);

	cr_assert_leq(len, RINGSIDE_NAME_MAX, "name too long: %s", name);
	memset(p, 0, sizeof(*p));
	memcpy(p->name, name, len + 1);
	p->ring = ring;
	p->nsensors = n;
	p->period_ns = 100000000;
	p->deadline_ns = 100000000;
	p->mode = 0600;
}

/* Create segment @name of @ring batches of the sensors @names. */
static void tl_writer(struct ringside_writer *w, const char *name,
		      uint32_t ring, uint32_t n, const char *const *names,
		      const char *const *units)
{
	struct ringside_params p;
	int ret;

	tl_params(&p, name, ring, n);
	ret = ringside_writer_create(w, &p, names, units);
	cr_assert_eq(ret, 0, "ringside_writer_create %s: %s", name,
		     ringside_strerror(ret));
}

/* Publish the next batch of @w, which must get sequence number @seq. */
static void tl_publish(struct ringside_writer *w, uint64_t seq)
{
	struct ringside_reading v[8];
	struct ringside_batch b;

	cr_assert_leq(w->nsensors, 8);
	tl_fill(seq, w->nsensors, &b, v);
	cr_assert_eq(ringside_writer_publish(w, &b, v), 0);
	cr_assert_eq(b.seq, seq, "published as %llu, not %llu",
		     (unsigned long long)b.seq, (unsigned long long)seq);
}

static void tl_publish_range(struct ringside_writer *w, uint64_t first,
			     uint64_t last)
{
	uint64_t seq;

	for (seq = first; seq <= last; seq++)
		tl_publish(w, seq);
}

/* The JSON line of batch @seq, reported with @lost batches lost. */
static void tl_json(char *buf, size_t len, const char *name, uint64_t epoch,
		    uint32_t n, const char *const *names,
		    const char *const *units, uint64_t seq, uint64_t lost)
{
	struct ringside_reading v[8];
	struct ringside_batch b;
	int ret;

	tl_fill(seq, n, &b, v);
	b.seq = seq;
	b.lost = lost;
	ret = ringside_json_batch(buf, len, name, epoch, names, units, &b, v);
	cr_assert_gt(ret, 0, "ringside_json_batch: %d", ret);
}

/* Wall-clock @us as ISO-8601 UTC with @digits (3 or 6) decimals. */
static void tl_iso(char *buf, size_t len, uint64_t us, int digits)
{
	time_t sec = (time_t)(us / 1000000);
	struct tm tm;
	size_t n;

	gmtime_r(&sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (digits == 3)
		snprintf(buf + n, len - n, ".%03uZ",
			 (unsigned)(us % 1000000 / 1000));
	else
		snprintf(buf + n, len - n, ".%06uZ", (unsigned)(us % 1000000));
}

/* The text line the man page describes for batch @seq. */
static void tl_text(char *buf, size_t len, uint32_t n, const char *const *names,
		    const char *const *units, uint64_t seq, uint64_t lost)
{
	struct ringside_reading v[8];
	struct ringside_batch b;
	char when[40];
	size_t at;
	uint32_t i;

	tl_fill(seq, n, &b, v);
	tl_iso(when, sizeof(when), b.tick_us, 3);
	at = (size_t)snprintf(
		buf, len, "#%llu %s %s %u/%u", (unsigned long long)seq, when,
		b.flags & RINGSIDE_BATCH_DEGRADED ? "degraded" : "ok",
		b.available, b.total);
	if (lost > 0)
		at += (size_t)snprintf(buf + at, len - at, " lost=%llu",
				       (unsigned long long)lost);
	for (i = 0; i < n; i++) {
		const struct ringside_reading *r = &v[i];

		switch (r->status) {
		case RINGSIDE_OK:
			at += (size_t)snprintf(buf + at, len - at, " %s=%g%s",
					       names[i], r->value, units[i]);
			break;
		case RINGSIDE_FAILED:
			at += (size_t)snprintf(
				buf + at, len - at, " %s:failed(%s)", names[i],
				r->error == ECONNREFUSED ? "ECONNREFUSED"
							 : "ETIMEDOUT");
			break;
		case RINGSIDE_OPEN:
			at += (size_t)snprintf(buf + at, len - at, " %s:open",
					       names[i]);
			break;
		default:
			at += (size_t)snprintf(buf + at, len - at,
					       " %s:pending", names[i]);
			break;
		}
		if (r->flags & RINGSIDE_READING_LATE)
			at += (size_t)snprintf(buf + at, len - at, "(late)");
		cr_assert_lt(at, len);
	}
}

/*
 * Check CSV row @line against batch @seq: seq, tick (microseconds),
 * degraded, available, total, then a cell per sensor that reads back as
 * exactly the value, or is empty when the sensor is missing.
 */
static void tl_expect_csv_row(const char *line, uint32_t n, uint64_t seq)
{
	struct ringside_reading v[8];
	struct ringside_batch b;
	char want[256], when[40], copy[TL_LINE_MAX];
	char *cell, *rest;
	uint32_t i;
	int len;

	tl_fill(seq, n, &b, v);
	tl_iso(when, sizeof(when), b.tick_us, 6);
	len = snprintf(want, sizeof(want), "%llu,%s,%s,%u,%u,",
		       (unsigned long long)seq, when,
		       b.flags & RINGSIDE_BATCH_DEGRADED ? "true" : "false",
		       b.available, b.total);
	cr_assert_eq(strncmp(line, want, (size_t)len), 0,
		     "batch %llu: row \"%s\" does not start with \"%s\"",
		     (unsigned long long)seq, line, want);
	snprintf(copy, sizeof(copy), "%s", line + len);
	rest = copy;
	for (i = 0; i < n; i++) {
		cell = rest;
		cr_assert_not_null(cell, "batch %llu: %u cells, not %u: %s",
				   (unsigned long long)seq, i, n, line);
		rest = strchr(cell, ',');
		if (rest != NULL)
			*rest++ = '\0';
		if (v[i].status != RINGSIDE_OK) {
			cr_assert_str_empty(cell, "batch %llu, %s missing: %s",
					    (unsigned long long)seq,
					    tl_names[i], line);
		} else {
			char *end;
			double x = strtod(cell, &end);

			cr_assert(*cell != '\0' && *end == '\0' &&
					  x == v[i].value,
				  "batch %llu, %s: cell \"%s\" is not %.17g",
				  (unsigned long long)seq, tl_names[i], cell,
				  v[i].value);
		}
	}
	cr_assert_null(rest, "batch %llu: cells left over: %s",
		       (unsigned long long)seq, line);
}

/* The number after "@key": in JSON line @line. */
static uint64_t tl_json_u64(const char *line, const char *key)
{
	char pat[40];
	const char *at;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	at = strstr(line, pat);
	cr_assert_not_null(at, "no %s in %s", key, line);
	return strtoull(at + strlen(pat), NULL, 10);
}

/* ---- a real engine ----------------------------------------------------- */

/*
 * Write the configuration of engine @name: sensor "sim" asks the
 * simulator for its value (42.5, unit C) each tick, sensor "refused"
 * connects to a port that refuses, once per call, its breaker never
 * opening.
 */
static void tl_config(char *path, size_t len, const char *name,
		      unsigned sim_port, unsigned refused_port)
{
	h_config(path, len, name, "50ms",
		 "[defaults]\ntimeout = 40ms\nretry_base = 1ms\n"
		 "retry_max = 2ms\n\n"
		 "[sensor sim]\nsource = tcp:127.0.0.1:%u\n"
		 "request = get\\n\nunit = C\n\n"
		 "[sensor refused]\nsource = tcp:127.0.0.1:%u\n"
		 "retry_attempts = 1\nbreaker_failures = 1000\n",
		 sim_port, refused_port);
}

/* The newest sequence number in segment @name, whatever its state. */
static uint64_t tl_head(const char *name)
{
	struct ringside_reader r;
	uint64_t head;
	int ret = ringside_reader_attach(&r, name, RINGSIDE_FROM_OLDEST);

	cr_assert_eq(ret, 0, "attach %s: %s", name, ringside_strerror(ret));
	head = ringside_reader_head(&r);
	ringside_reader_detach(&r);
	return head;
}

/* ---- output formats ---------------------------------------------------- */

Test(tail, json_lines_equal_the_library_line_one_per_batch_as_published)
{
	char name[40], line[TL_LINE_MAX], want[TL_LINE_MAX];
	struct ringside_writer w;
	struct tl_tail *t;
	uint64_t seq;

	h_name(name, sizeof(name), "json");
	tl_writer(&w, name, 16, 3, tl_names, tl_units);
	t = tl_tail(name, "--json", "--from", "oldest", NULL);
	/* Each line is read while the writer lives and the tail follows:
	 * it was flushed with its batch, not at exit.  More batches than
	 * the ring holds, none lost, since the tail keeps up. */
	for (seq = 1; seq <= 24; seq++) {
		tl_publish(&w, seq);
		tl_expect_line(t, line, sizeof(line));
		tl_json(want, sizeof(want), name, w.epoch_us, 3, tl_names,
			tl_units, seq, 0);
		cr_assert_str_eq(line, want, "batch %llu",
				 (unsigned long long)seq);
		cr_assert(tl_running(t), "the tail stopped following");
	}
	ringside_writer_close(&w, 0);
	cr_assert_not(tl_line(t, line, sizeof(line)),
		      "a line after the last batch: %s", line);
	tl_expect_exit(t, 0);
	cr_assert_str_empty(t->ebuf);
}

Test(tail, csv_has_a_header_then_a_row_per_batch_with_empty_missing_cells)
{
	char name[40], line[TL_LINE_MAX];
	struct ringside_writer w;
	struct tl_tail *t;
	uint64_t seq;

	h_name(name, sizeof(name), "csv");
	tl_writer(&w, name, 16, 3, tl_names, tl_units);
	tl_publish_range(&w, 1, 9);
	t = tl_tail(name, "--csv", "--from", "oldest", NULL);
	tl_expect_line(t, line, sizeof(line));
	cr_assert_str_eq(line, "seq,tick,degraded,available,total,temp,load,"
			       "hum");
	for (seq = 1; seq <= 9; seq++) {
		tl_expect_line(t, line, sizeof(line));
		tl_expect_csv_row(line, 3, seq);
		/* As many digits as it takes to read back, no more. */
		if (seq == 1)
			cr_assert_str_eq(strchr(line, 'Z'),
					 "Z,false,3,3,0.3333333333333333,-1.5,"
					 "0.1",
					 "%s", line);
	}
	tl_publish(&w, 10);
	tl_expect_line(t, line, sizeof(line));
	tl_expect_csv_row(line, 3, 10);
	ringside_writer_close(&w, 0);
	tl_expect_exit(t, 0);
	cr_assert_eq(tl_lines_left(t), 0);
}

Test(tail, text_shows_values_with_units_and_why_sensors_are_missing)
{
	char name[40], line[TL_LINE_MAX], want[TL_LINE_MAX];
	static const char *const marks[] = {
		"failed(ECONNREFUSED)",
		"failed(ETIMEDOUT)(late)",
		":open",
		":pending",
		"(late)",
		" ok 3/3",
		" degraded ",
	};
	bool seen[sizeof(marks) / sizeof(marks[0])] = { false };
	struct ringside_writer w;
	struct tl_tail *t;
	uint64_t seq;
	unsigned i;

	h_name(name, sizeof(name), "text");
	tl_writer(&w, name, 16, 3, tl_names, tl_units);
	tl_publish_range(&w, 1, 8);
	ringside_writer_close(&w, 0);
	t = tl_tail(name, "--from", "oldest", NULL);
	for (seq = 1; seq <= 8; seq++) {
		tl_expect_line(t, line, sizeof(line));
		tl_text(want, sizeof(want), 3, tl_names, tl_units, seq, 0);
		cr_assert_str_eq(line, want, "batch %llu",
				 (unsigned long long)seq);
		for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
			seen[i] |= strstr(line, marks[i]) != NULL;
	}
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		cr_assert(seen[i], "no line shows \"%s\"", marks[i]);
	tl_expect_exit(t, 0);
	cr_assert_eq(tl_lines_left(t), 0);
}

/* ---- where it starts, when it stops ------------------------------------ */

Test(tail, from_oldest_prints_what_the_ring_holds_then_follows)
{
	char name[40], line[TL_LINE_MAX], want[TL_LINE_MAX];
	struct ringside_writer w;
	struct tl_tail *t;
	uint64_t seq;

	h_name(name, sizeof(name), "oldest");
	tl_writer(&w, name, 8, 3, tl_names, tl_units);
	tl_publish_range(&w, 1, 12); /* the ring holds 5..12 */
	t = tl_tail(name, "--json", "--from", "oldest", NULL);
	for (seq = 5; seq <= 14; seq++) {
		if (seq > 12)
			tl_publish(&w, seq);
		tl_expect_line(t, line, sizeof(line));
		/* A reader that starts late has lost nothing. */
		tl_json(want, sizeof(want), name, w.epoch_us, 3, tl_names,
			tl_units, seq, 0);
		cr_assert_str_eq(line, want);
	}
	ringside_writer_close(&w, 0);
	tl_expect_exit(t, 0);
	cr_assert_eq(tl_lines_left(t), 0);
}

Test(tail, from_now_and_by_default_starts_at_the_next_batch)
{
	char name[40], line[TL_LINE_MAX], want[TL_LINE_MAX];
	struct ringside_writer w;
	struct tl_tail *now, *dflt;

	h_name(name, sizeof(name), "now");
	tl_writer(&w, name, 16, 3, tl_names, tl_units);
	tl_publish_range(&w, 1, 5);
	now = tl_tail(name, "--json", "--from", "now", NULL);
	dflt = tl_tail(name, "--json", NULL);
	tl_wait_sleeping(now, name);
	tl_wait_sleeping(dflt, name);
	tl_publish_range(&w, 6, 7);
	tl_json(want, sizeof(want), name, w.epoch_us, 3, tl_names, tl_units, 6,
		0);
	tl_expect_line(now, line, sizeof(line));
	cr_assert_str_eq(line, want, "--from now");
	tl_expect_line(dflt, line, sizeof(line));
	cr_assert_str_eq(line, want, "no --from");
	ringside_writer_close(&w, 0);
	tl_expect_exit(now, 0);
	tl_expect_exit(dflt, 0);
	cr_assert_eq(tl_lines_left(now), 1);
	cr_assert_eq(tl_lines_left(dflt), 1);
}

Test(tail, count_n_exits_0_after_n_batches)
{
	char name[40], line[TL_LINE_MAX];
	struct ringside_writer w;
	struct tl_tail *t;
	uint64_t seq;

	h_name(name, sizeof(name), "count");
	tl_writer(&w, name, 16, 3, tl_names, tl_units);
	tl_publish_range(&w, 1, 5);
	/* The writer lives on: only the count ends the tail. */
	t = tl_tail(name, "--from", "oldest", "--count", "3", NULL);
	for (seq = 1; seq <= 3; seq++) {
		tl_expect_line(t, line, sizeof(line));
		cr_assert_eq(strtoull(line + 1, NULL, 10), seq, "%s", line);
	}
	tl_expect_exit(t, 0);
	cr_assert_eq(tl_lines_left(t), 0);
	cr_assert_str_empty(t->ebuf);
	ringside_writer_close(&w, 0);
}

Test(tail, a_clean_close_is_drained_to_the_last_batch_then_exit_0)
{
	char name[40], line[TL_LINE_MAX], want[TL_LINE_MAX];
	struct ringside_writer w;
	struct tl_tail *t;
	uint64_t seq;

	h_name(name, sizeof(name), "close");
	tl_writer(&w, name, 64, 3, tl_names, tl_units);
	t = tl_tail(name, "--json", NULL);
	tl_wait_sleeping(t, name);
	/* A burst, and the close right behind it. */
	tl_publish_range(&w, 1, 40);
	ringside_writer_close(&w, 0);
	for (seq = 1; seq <= 40; seq++) {
		tl_expect_line(t, line, sizeof(line));
		tl_json(want, sizeof(want), name, w.epoch_us, 3, tl_names,
			tl_units, seq, 0);
		cr_assert_str_eq(line, want);
	}
	tl_expect_exit(t, 0);
	cr_assert_eq(tl_lines_left(t), 0);
	cr_assert_str_empty(t->ebuf);
}

Test(tail, an_abandoned_segment_is_drained_then_reported_gone_exit_1)
{
	char name[40], line[TL_LINE_MAX], gone[128];
	struct ringside_writer w;
	struct tl_tail *t;
	uint64_t seq;

	h_name(name, sizeof(name), "dead");
	tl_writer(&w, name, 16, 3, tl_names, tl_units);
	t = tl_tail(name, "--from", "oldest", NULL);
	tl_publish_range(&w, 1, 3);
	for (seq = 1; seq <= 3; seq++)
		tl_expect_line(t, line, sizeof(line));
	/* Two more, then the writer vanishes as if killed. */
	tl_publish_range(&w, 4, 5);
	ringside_writer_abandon(&w);
	for (seq = 4; seq <= 5; seq++) {
		tl_expect_line(t, line, sizeof(line));
		cr_assert_eq(strtoull(line + 1, NULL, 10), seq, "%s", line);
	}
	tl_expect_exit(t, 1);
	cr_assert_eq(tl_lines_left(t), 0);
	snprintf(gone, sizeof(gone),
		 "ringside-tail: %s: engine (pid %d) is gone\n", name,
		 (int)getpid());
	cr_assert_str_eq(t->ebuf, gone);
}

/* Append the line @fmt to @all, and wait for stderr to say it. */
__attribute__((format(printf, 3, 4))) static void tl_expect_news(
	struct tl_tail *t, char *all, const char *fmt, ...)
{
	size_t n = strlen(all);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(all + n, TL_ERR_MAX - n, fmt, ap);
	va_end(ap);
	tl_expect_says(t, all + n);
}

Test(tail, with_F_it_waits_out_a_stop_and_a_death_and_follows_each_new_epoch)
{
	char name[40], line[TL_LINE_MAX], want[TL_LINE_MAX];
	static char all[TL_ERR_MAX]; /* what stderr is to hold */
	struct ringside_writer w1, w2, w3;
	struct tl_tail *t;
	uint64_t seq;

	h_name(name, sizeof(name), "follow");
	tl_writer(&w1, name, 16, 3, tl_names, tl_units);
	t = tl_tail(name, "--json", "--from", "oldest", "-F", NULL);
	tl_publish_range(&w1, 1, 2);
	for (seq = 1; seq <= 2; seq++)
		tl_expect_line(t, line, sizeof(line));

	/* A clean stop: it keeps waiting instead of exiting 0. */
	ringside_writer_close(&w1, 0);
	tl_expect_news(t, all,
		       "ringside-tail: %s: engine stopped, waiting for a new "
		       "segment\n",
		       name);
	cr_assert(tl_running(t), "-F exited after a clean stop");

	/* The next segment is announced and followed from its first
	 * batch, on its own epoch, although it holds several already. */
	tl_writer(&w2, name, 16, 3, tl_names, tl_units);
	cr_assert_gt(w2.epoch_us, w1.epoch_us);
	tl_publish_range(&w2, 1, 3);
	tl_expect_news(t, all, "ringside-tail: %s: new epoch %llu\n", name,
		       (unsigned long long)w2.epoch_us);
	for (seq = 1; seq <= 3; seq++) {
		tl_expect_line(t, line, sizeof(line));
		tl_json(want, sizeof(want), name, w2.epoch_us, 3, tl_names,
			tl_units, seq, 0);
		cr_assert_str_eq(line, want);
	}

	/* A death: announced, and waited out too. */
	ringside_writer_abandon(&w2);
	tl_expect_news(t, all,
		       "ringside-tail: %s: engine (pid %d) is gone, waiting "
		       "for a new segment\n",
		       name, (int)getpid());
	cr_assert(tl_running(t), "-F exited after the engine died");

	tl_writer(&w3, name, 16, 3, tl_names, tl_units);
	cr_assert_gt(w3.epoch_us, w2.epoch_us);
	tl_publish(&w3, 1);
	tl_expect_news(t, all, "ringside-tail: %s: new epoch %llu\n", name,
		       (unsigned long long)w3.epoch_us);
	tl_expect_line(t, line, sizeof(line));
	tl_json(want, sizeof(want), name, w3.epoch_us, 3, tl_names, tl_units, 1,
		0);
	cr_assert_str_eq(line, want);

	/* Nothing else was said, and SIGTERM while waiting exits 0. */
	cr_assert_str_eq(t->ebuf, all);
	kill(t->pid, SIGTERM);
	tl_expect_exit(t, 0);
	cr_assert_eq(tl_lines_left(t), 0);
	ringside_writer_close(&w3, 0);
}

Test(tail, a_reload_that_replaces_the_segment_is_announced_and_followed)
{
	char name[40], line[TL_LINE_MAX], want[TL_LINE_MAX], text[128];
	struct ringside_params p;
	struct ringside_writer w1, w2;
	struct tl_tail *json, *csv;
	uint64_t seq;
	int ret;

	h_name(name, sizeof(name), "reload");
	tl_writer(&w1, name, 16, 3, tl_names, tl_units);
	json = tl_tail(name, "--json", "--from", "oldest", NULL);
	csv = tl_tail(name, "--csv", "--from", "oldest", NULL);
	tl_publish_range(&w1, 1, 2);
	tl_expect_line(csv, line, sizeof(line));
	cr_assert_str_eq(line, "seq,tick,degraded,available,total,temp,load,"
			       "hum");
	for (seq = 1; seq <= 2; seq++) {
		tl_expect_line(json, line, sizeof(line));
		tl_expect_line(csv, line, sizeof(line));
		tl_expect_csv_row(line, 3, seq);
	}

	/* The sensors change: a new segment with a new epoch. */
	tl_params(&p, name, 16, 2);
	ret = ringside_writer_replace(&w2, &w1, &p, tl_names2, tl_units2);
	cr_assert_eq(ret, 0, "replace: %s", ringside_strerror(ret));
	cr_assert_gt(w2.epoch_us, w1.epoch_us);
	tl_publish_range(&w2, 1, 3);
	snprintf(text, sizeof(text), "ringside-tail: %s: new epoch %llu\n",
		 name, (unsigned long long)w2.epoch_us);
	tl_expect_says(json, text);
	tl_expect_says(csv, text);
	for (seq = 1; seq <= 3; seq++) {
		tl_expect_line(json, line, sizeof(line));
		tl_json(want, sizeof(want), name, w2.epoch_us, 2, tl_names2,
			tl_units2, seq, 0);
		cr_assert_str_eq(line, want);
	}
	/* CSV: a new header, since the columns are not the same. */
	tl_expect_line(csv, line, sizeof(line));
	cr_assert_str_eq(line, "seq,tick,degraded,available,total,fan,temp");
	tl_expect_line(csv, line, sizeof(line));
	cr_assert_eq(strncmp(line, "1,", 2), 0, "%s", line);

	ringside_writer_close(&w2, 0);
	tl_expect_exit(json, 0);
	tl_expect_exit(csv, 0);
	cr_assert_str_eq(json->ebuf, text);
	cr_assert_eq(tl_lines_left(csv), 2);
}

Test(tail, a_reader_stopped_past_the_ring_learns_exactly_what_it_lost)
{
	char name[40], line[TL_LINE_MAX], want[TL_LINE_MAX];
	struct ringside_writer w;
	struct tl_tail *json, *text;
	uint64_t seq;
	int status;

	h_name(name, sizeof(name), "lost");
	tl_writer(&w, name, 8, 3, tl_names, tl_units);
	json = tl_tail(name, "--json", "--from", "oldest", NULL);
	text = tl_tail(name, "--from", "oldest", NULL);
	tl_publish(&w, 1);
	tl_expect_line(json, line, sizeof(line));
	tl_expect_line(text, line, sizeof(line));

	/* Stopped while 8 + 5 batches go by: 2..14, of which the ring of
	 * 8 still holds 7..14, so 2..6 are lost. */
	kill(json->pid, SIGSTOP);
	kill(text->pid, SIGSTOP);
	cr_assert_eq(waitpid(json->pid, &status, WUNTRACED), json->pid);
	cr_assert(WIFSTOPPED(status));
	cr_assert_eq(waitpid(text->pid, &status, WUNTRACED), text->pid);
	cr_assert(WIFSTOPPED(status));
	tl_publish_range(&w, 2, 14);
	kill(json->pid, SIGCONT);
	kill(text->pid, SIGCONT);

	for (seq = 7; seq <= 14; seq++) {
		tl_expect_line(json, line, sizeof(line));
		tl_json(want, sizeof(want), name, w.epoch_us, 3, tl_names,
			tl_units, seq, seq == 7 ? 5 : 0);
		cr_assert_str_eq(line, want);
		tl_expect_line(text, line, sizeof(line));
		tl_text(want, sizeof(want), 3, tl_names, tl_units, seq,
			seq == 7 ? 5 : 0);
		cr_assert_str_eq(line, want);
	}
	ringside_writer_close(&w, 0);
	tl_expect_exit(json, 0);
	tl_expect_exit(text, 0);
	cr_assert_eq(tl_lines_left(json), 0);
	cr_assert_eq(tl_lines_left(text), 0);
}

Test(tail, no_segment_at_start_is_waited_for_and_followed_from_batch_1)
{
	char name[40], line[TL_LINE_MAX], want[TL_LINE_MAX], text[160];
	struct ringside_writer w;
	struct tl_tail *t;
	uint64_t seq;

	h_name(name, sizeof(name), "later");
	/* --from now applies to a segment found at start only. */
	t = tl_tail(name, "--json", "--from", "now", NULL);
	snprintf(text, sizeof(text),
		 "ringside-tail: %s: no segment yet, waiting for one\n", name);
	tl_expect_says(t, text);
	cr_assert(tl_running(t));

	tl_writer(&w, name, 16, 3, tl_names, tl_units);
	tl_publish_range(&w, 1, 3);
	for (seq = 1; seq <= 3; seq++) {
		tl_expect_line(t, line, sizeof(line));
		tl_json(want, sizeof(want), name, w.epoch_us, 3, tl_names,
			tl_units, seq, 0);
		cr_assert_str_eq(line, want);
	}
	snprintf(text + strlen(text), sizeof(text) - strlen(text),
		 "ringside-tail: %s: new epoch %llu\n", name,
		 (unsigned long long)w.epoch_us);
	ringside_writer_close(&w, 0);
	tl_expect_exit(t, 0);
	cr_assert_str_eq(t->ebuf, text);
}

/* ---- what is not a segment --------------------------------------------- */

struct tl_invalid {
	char what[16];
	char message[64];
};

ParameterizedTestParameters(tail, an_invalid_segment_is_one_clear_line_exit_1)
{
	static struct tl_invalid cases[] = {
		{ "garbage", "not a ringside segment (bad magic)" },
		{ "short", "file too small for a segment header" },
		{ "empty", "file too small for a segment header" },
		{ "truncated", "segment file size does not match its header" },
		{ "version", "unsupported segment layout version" },
		{ "symlink", "a symbolic link stands in place of the segment" },
		{ "directory", "not a regular file" },
	};

	return cr_make_param_array(struct tl_invalid, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct tl_invalid *c, tail,
		  an_invalid_segment_is_one_clear_line_exit_1)
{
	char name[40], valid[40], path[96], src[96], start[96];
	static unsigned char bytes[1 << 20];
	struct ringside_writer w;
	struct tl_tail *t;
	uint32_t version;
	size_t i, size = 0;
	int fd;

	/* A valid segment, closed, to copy from or point to. */
	h_name(valid, sizeof(valid), "valid");
	tl_writer(&w, valid, 16, 3, tl_names, tl_units);
	tl_publish_range(&w, 1, 3);
	ringside_writer_close(&w, 0);
	h_segment_path(src, sizeof(src), valid);
	fd = open(src, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	size = (size_t)read(fd, bytes, sizeof(bytes));
	close(fd);
	cr_assert_gt(size, 4096, "a segment of %zu bytes", size);
	cr_assert_lt(size, sizeof(bytes));

	h_name(name, sizeof(name), c->what);
	h_segment_path(path, sizeof(path), name);
	if (strcmp(c->what, "garbage") == 0) {
		/* Junk the size of a segment, from a fixed generator. */
		uint32_t x = 12345;

		for (i = 0; i < size; i++) {
			x = x * 1103515245u + 12345u;
			bytes[i] = (unsigned char)(x >> 16);
		}
		h_put(path, bytes, size);
	} else if (strcmp(c->what, "short") == 0) {
		h_put(path, bytes, 100);
	} else if (strcmp(c->what, "empty") == 0) {
		h_put(path, bytes, 0);
	} else if (strcmp(c->what, "truncated") == 0) {
		h_put(path, bytes, size / 2);
	} else if (strcmp(c->what, "version") == 0) {
		memcpy(&version, bytes + 4, sizeof(version));
		version++;
		memcpy(bytes + 4, &version, sizeof(version));
		h_put(path, bytes, size);
	} else if (strcmp(c->what, "symlink") == 0) {
		/* To a valid segment: following it would be wrong. */
		cr_assert_eq(symlink(src, path), 0, "symlink: %s",
			     strerror(errno));
	} else {
		cr_assert_eq(mkdir(path, 0700), 0, "mkdir: %s",
			     strerror(errno));
	}

	t = tl_tail(name, "--json", "--from", "oldest", NULL);
	tl_expect_exit(t, 1);
	snprintf(start, sizeof(start), "ringside-tail: %s: ", name);
	tl_expect_one_error_line(t, start, c->message);
	cr_assert_eq(t->olen, 0, "stdout: %s", t->obuf);
}

/* ---- the command line -------------------------------------------------- */

struct tl_usage {
	char args[4][48]; /* "" ends the list */
};

ParameterizedTestParameters(tail, a_usage_error_is_one_line_exit_2)
{
	static struct tl_usage cases[] = {
		{ { "" } },
		{ { "a", "b" } },
		{ { "no/slash" } },
		{ { "this-name-has-more-than-32-characters" } },
		{ { "a", "--from" } },
		{ { "a", "--from", "soon" } },
		{ { "a", "--count" } },
		{ { "a", "--count", "0" } },
		{ { "a", "--count", "-3" } },
		{ { "a", "--count", "3x" } },
		{ { "a", "--count", "99999999999999999999999" } },
		{ { "a", "--json", "--csv" } },
		{ { "a", "--colour" } },
		{ { "a", "-x" } },
	};

	return cr_make_param_array(struct tl_usage, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct tl_usage *c, tail, a_usage_error_is_one_line_exit_2)
{
	char *args[5] = { NULL };
	struct tl_tail *t;
	unsigned i;

	for (i = 0; i < 4 && c->args[i][0] != '\0'; i++)
		args[i] = c->args[i];
	t = tl_tailv(args);
	tl_expect_exit(t, 2);
	tl_expect_one_error_line(t, "ringside-tail: ", "");
	cr_assert_eq(t->olen, 0, "stdout: %s", t->obuf);
}

Test(tail, help_and_version_exit_0)
{
	char want[64];
	struct tl_tail *help, *version;

	help = tl_tail("--help", NULL);
	tl_expect_exit(help, 0);
	cr_assert_eq(strncmp(help->obuf, "Usage: ringside-tail NAME", 25), 0,
		     "%s", help->obuf);
	cr_assert_str_empty(help->ebuf);

	version = tl_tail("--version", NULL);
	tl_expect_exit(version, 0);
	snprintf(want, sizeof(want), "ringside-tail %s\n", ringside_version());
	cr_assert_str_eq(version->obuf, want);
}

/* ---- a consumer that leaves -------------------------------------------- */

Test(tail, exits_0_when_the_reader_of_its_output_leaves_after_a_line)
{
	char name[40], line[TL_LINE_MAX];
	struct ringside_writer w;
	struct tl_tail *t;

	h_name(name, sizeof(name), "head");
	tl_writer(&w, name, 16, 3, tl_names, tl_units);
	t = tl_tail(name, "--json", "--from", "oldest", NULL);
	tl_publish(&w, 1);
	tl_expect_line(t, line, sizeof(line));
	/* As `| head -1` does: read one line, close, go. */
	h_close(t->out);
	t->out = -1;
	tl_publish_range(&w, 2, 3);
	tl_expect_exit(t, 0);
	cr_assert_str_empty(t->ebuf);
	ringside_writer_close(&w, 0);
}

Test(tail, exits_0_when_the_reader_of_its_output_leaves_while_it_waits)
{
	char name[40], missing[40];
	struct ringside_writer w;
	struct tl_tail *idle, *waiting;

	h_name(name, sizeof(name), "idle");
	h_name(missing, sizeof(missing), "none");
	tl_writer(&w, name, 16, 3, tl_names, tl_units);
	idle = tl_tail(name, "--json", NULL);
	waiting = tl_tail(missing, "--json", NULL);
	tl_wait_sleeping(idle, name);
	tl_expect_says(waiting, "no segment yet");
	/* No batch will come to find out by writing. */
	h_close(idle->out);
	idle->out = -1;
	h_close(waiting->out);
	waiting->out = -1;
	tl_expect_exit(idle, 0);
	tl_expect_exit(waiting, 0);
	cr_assert_str_empty(idle->ebuf);
	ringside_writer_close(&w, 0);
}

/* ---- a real engine ----------------------------------------------------- */

/*
 * Start ringside-sim on one TCP request feed answering 42.5, and an
 * engine on it as segment @name, whose sensor "refused" gets a port that
 * refuses connections, held until .fini so that nobody else takes it.
 */
static pid_t tl_real_engine(const char *name, char *config, size_t len)
{
	const char *feed = "tcp:127.0.0.1:0,mode=request,value=42.5";
	char addr[1][128];

	h_sim_with(TL_ENGINE_S, NULL, &feed, 1, addr);
	tl_config(config, len, name, h_addr_port(addr[0]), h_reserve_port());
	return h_engine_ready(config, TL_ENGINE_S, name, 0, TL_WAIT_MS);
}

Test(tail, follows_a_real_engine_fed_by_the_simulator_until_it_is_killed)
{
	char name[40], config[256], line[TL_LINE_MAX], gone[128];
	bool both = false;
	struct tl_tail *t;
	uint64_t seq = 0;
	pid_t engine;

	h_name(name, sizeof(name), "real");
	engine = tl_real_engine(name, config, sizeof(config));
	t = tl_tail(name, "--from", "oldest", NULL);
	/* The value and the refusal show in the same batch soon. */
	while (!both) {
		tl_expect_line(t, line, sizeof(line));
		cr_assert_eq(strtoull(line + 1, NULL, 10), ++seq, "%s", line);
		cr_assert_not_null(strstr(line, " refused:"), "%s", line);
		both = strstr(line, " sim=42.5C") != NULL &&
		       strstr(line, " refused:failed(ECONNREFUSED)") != NULL;
		cr_assert_lt(seq, 100, "never both: %s", line);
	}

	h_kill(engine);
	/* Every batch it left is printed, gapless, then the news. */
	while (tl_line(t, line, sizeof(line)))
		cr_assert_eq(strtoull(line + 1, NULL, 10), ++seq, "%s", line);
	tl_expect_exit(t, 1);
	cr_assert_eq(seq, tl_head(name));
	snprintf(gone, sizeof(gone),
		 "ringside-tail: %s: engine (pid %d) is gone\n", name,
		 (int)engine);
	cr_assert_str_eq(t->ebuf, gone);
}

Test(tail, a_real_engine_stopped_cleanly_is_drained_and_exit_0)
{
	char name[40], config[256], line[TL_LINE_MAX], head[64];
	struct tl_tail *t;
	uint64_t seq;
	pid_t engine;
	int status;

	h_name(name, sizeof(name), "stop");
	engine = tl_real_engine(name, config, sizeof(config));
	t = tl_tail(name, "--json", "--from", "oldest", NULL);
	for (seq = 1; seq <= 3; seq++) {
		tl_expect_line(t, line, sizeof(line));
		snprintf(head, sizeof(head),
			 "{\"engine\":\"%s\",\"epoch\":", name);
		cr_assert_eq(strncmp(line, head, strlen(head)), 0, "%s", line);
		cr_assert_eq(tl_json_u64(line, "seq"), seq, "%s", line);
		cr_assert_eq(tl_json_u64(line, "total"), 2, "%s", line);
		cr_assert_not_null(strstr(line, "{\"sensor\":\"refused\","
						"\"status\":\"failed\","
						"\"error\":\"ECONNREFUSED\""),
				   "%s", line);
	}
	kill(engine, SIGTERM);
	status = h_reap(engine);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "ringsided: status %d", status);
	while (tl_line(t, line, sizeof(line)))
		cr_assert_eq(tl_json_u64(line, "seq"), seq++, "%s", line);
	tl_expect_exit(t, 0);
	cr_assert_eq(seq - 1, tl_head(name));
	cr_assert_str_empty(t->ebuf);
}

Test(tail, with_F_follows_a_killed_real_engine_into_its_restart)
{
	char name[40], config[256], line[TL_LINE_MAX], text[128];
	uint64_t epoch1, epoch2;
	struct tl_tail *t;
	struct stat st;
	pid_t engine;
	char *at;

	h_name(name, sizeof(name), "restart");
	engine = tl_real_engine(name, config, sizeof(config));
	t = tl_tail(name, "--json", "--from", "oldest", "-F", NULL);
	tl_expect_line(t, line, sizeof(line));
	cr_assert_eq(tl_json_u64(line, "seq"), 1, "%s", line);
	epoch1 = tl_json_u64(line, "epoch");

	h_kill(engine);
	snprintf(text, sizeof(text),
		 "ringside-tail: %s: engine (pid %d) is gone, waiting for a "
		 "new segment\n",
		 name, (int)engine);
	tl_expect_says(t, text);
	cr_assert(tl_running(t), "-F exited after the engine died");

	h_segment_path(text, sizeof(text), name);
	cr_assert_eq(stat(text, &st), 0);
	engine = h_engine_ready(config, TL_ENGINE_S, name, st.st_ino,
				TL_WAIT_MS);
	snprintf(text, sizeof(text), "ringside-tail: %s: new epoch ", name);
	tl_expect_says(t, text);
	at = strstr(t->ebuf, text) + strlen(text);
	epoch2 = strtoull(at, NULL, 10);
	cr_assert_gt(epoch2, epoch1);
	/* The old segment's lines, then the new one's from seq 1. */
	do {
		tl_expect_line(t, line, sizeof(line));
	} while (tl_json_u64(line, "epoch") == epoch1);
	cr_assert_eq(tl_json_u64(line, "epoch"), epoch2, "%s", line);
	cr_assert_eq(tl_json_u64(line, "seq"), 1, "%s", line);
	tl_expect_line(t, line, sizeof(line));
	cr_assert_eq(tl_json_u64(line, "seq"), 2, "%s", line);

	kill(t->pid, SIGTERM);
	tl_expect_exit(t, 0);
}
