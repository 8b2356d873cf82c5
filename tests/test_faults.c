/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c - the fault matrix: each fault of the hardening issue that
 * test_engine.c and test_lecture.c do not already show, injected against
 * a running ringsided with two healthy sensors beside the faulty one (a
 * tmpfs file holding 21.5 and /proc/loadavg).  docs/faults.md holds the
 * whole table, with references to the tests elsewhere.
 *
 * Key invariant checked by every test: the engine survives; every batch
 * is taken by the harness's checked reader (seq gapless, no batch lost,
 * every sensor present); the healthy sensors are "ok" in every batch; the
 * engine's late_batches counter stays within what scheduler noise makes
 * (H_OFF_TIME: a blocked engine is late on most ticks); the faulty sensor
 * shows the
 * status and errno the fault calls for, and only those; and it gives
 * values again once the fault ends.  Nothing asserts timing: loops are
 * bounded by batch counts, and bounds are generous.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "harness.h"
#include "ringside.h"

TestSuite(faults, .init = h_init, .fini = h_fini, .timeout = 30);

enum { TEMP, LOAD, FAULTY, N };

/* The keys of a faulty sensor: one attempt a call, the breaker kept shut. */
#define FM_KEYS "retry_attempts = 1\nbreaker_failures = 1000\ntimeout = 30ms\n"

/*
 * What a sensor on a closed port may show: a refused connect ends at once,
 * but on a loaded machine its completion can miss a short deadline, and
 * the sensor is then pending in that batch (missing, not a failure).
 */
#define FM_REFUSED " ECONNREFUSED pending "

/*
 * Start an engine named after @tag, with period @period, on the two
 * healthy sensors followed by @faulty (sections), and attach @f to it with
 * @n sensors.  Returns the engine's pid.
 */
static pid_t fm_start(struct h_feed *f, char *name, size_t len, const char *tag,
		      const char *period, const char *faulty, uint32_t n)
{
	char cfg[256], temp[256];
	pid_t pid;

	h_name(name, len, tag);
	h_path(temp, sizeof(temp), "temp");
	h_put_text(temp, "21.5\n");
	h_config(cfg, sizeof(cfg), name, period,
		 "[sensor temp]\nsource = file:%s\n" H_FILE_KEYS
		 "[sensor load]\nsource = file:/proc/loadavg\n" H_FILE_KEYS
		 "%s",
		 temp, faulty);
	pid = h_engine(cfg, "25");
	h_attach(f, name, pid, n);
	return pid;
}

/* Take the next batch: checked, and the healthy sensors both there. */
static void fm_next(struct h_feed *f)
{
	h_next(f);
	h_expect_value(f, TEMP, 21.5);
	cr_assert(h_is(&f->v[LOAD], "ok"), "batch %llu load: %s",
		  (unsigned long long)f->b.seq, h_what(&f->v[LOAD]));
}

/* The engine published no batch late, and is still running. */
static void fm_end(struct h_feed *f)
{
	struct ringside_sensor_stats st[H_SENSORS_MAX];
	struct ringside_engine_stats es;

	h_stats(f, &es, st);
	h_expect_timely(f, &es);
	cr_assert_eq(waitpid(f->engine, NULL, WNOHANG), 0,
		     "the engine is gone");
	h_done();
}

/* The faulty sensor shows a value @value, or one of the words in @allowed. */
static void fm_expect(const struct h_feed *f, double value, const char *allowed)
{
	const struct ringside_reading *v = &f->v[FAULTY];
	char word[24];

	if (h_is(v, "ok")) {
		cr_assert(value != value || v->value == value,
			  "batch %llu: value %g, not %g",
			  (unsigned long long)f->b.seq, v->value, value);
		return;
	}
	snprintf(word, sizeof(word), " %s ", h_what(v));
	cr_assert_not_null(strstr(allowed, word),
			   "batch %llu: the faulty sensor shows %s, not one of"
			   "%s",
			   (unsigned long long)f->b.seq, h_what(v), allowed);
}

static int fm_fifo(char *path, size_t len, const char *name)
{
	int fd;

	h_mkfifo(path, len, name);
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	h_keep_fd(fd);
	return fd;
}

static void fm_write(int fd, const void *data, size_t len)
{
	cr_assert_eq(write(fd, data, len), (ssize_t)len, "write: %s",
		     strerror(errno));
}

/* Write @line after each batch until the faulty sensor gives @value. */
static void fm_until_value(struct h_feed *f, int fd, const char *line,
			   double value, const char *allowed, uint64_t max)
{
	uint64_t end = f->batches + max;

	for (;;) {
		if (fd >= 0)
			fm_write(fd, line, strlen(line));
		fm_next(f);
		fm_expect(f, NAN, allowed);
		if (h_is(&f->v[FAULTY], "ok") && f->v[FAULTY].value == value)
			return;
		cr_assert_lt(f->batches, end, "no value %g in %llu batches",
			     value, (unsigned long long)max);
	}
}

/* Take batches (writing nothing) until the faulty sensor shows @what. */
static void fm_until(struct h_feed *f, const char *what, const char *allowed,
		     uint64_t max)
{
	uint64_t end = f->batches + max;

	do {
		cr_assert_lt(f->batches, end, "no %s in %llu batches", what,
			     (unsigned long long)max);
		fm_next(f);
		fm_expect(f, NAN, allowed);
	} while (!h_is(&f->v[FAULTY], what));
}

/* ---- streams ----------------------------------------------------------- */

Test(faults, binary_bytes_on_a_stream_fail_with_ebadmsg_then_it_resynchronises)
{
	static const char bin[] = "\x00\xff\xfe\x01\x7f\x80\x1b[2J\x00\n";
	static const char nul[] = "2\0"
				  "5\n"; /* "2", a NUL, then "5" */
	const char *allowed = " ok EBADMSG ETIMEDOUT pending ";
	char name[40], fifo[256], faulty[512];
	struct h_feed f;
	int fd;

	fd = fm_fifo(fifo, sizeof(fifo), "bin.fifo");
	snprintf(faulty, sizeof(faulty),
		 "[sensor s]\nsource = stream:%s\n" FM_KEYS "max_age = 1s\n",
		 fifo);
	fm_start(&f, name, sizeof(name), "b", "50ms", faulty, N);
	fm_until_value(&f, fd, "1.5\n", 1.5, allowed, 40);

	fm_write(fd, bin, sizeof(bin) - 1);
	fm_until(&f, "EBADMSG", allowed, 40);
	/* A NUL inside a number: never the digits before it. */
	fm_write(fd, nul, sizeof(nul) - 1);
	fm_until(&f, "EBADMSG", allowed, 40);
	fm_until_value(&f, fd, "2.5\n", 2.5, allowed, 40);
	fm_end(&f);
}

Test(faults, one_mib_line_fails_with_emsgsize_and_the_stream_resynchronises)
{
	const char *allowed = " ok EMSGSIZE ETIMEDOUT pending ";
	enum { BIG = 1 << 20 };
	char name[40], fifo[256], faulty[512], *big;
	struct h_feed f;
	bool seen = false;
	size_t done = 0;
	int fd;

	fd = fm_fifo(fifo, sizeof(fifo), "big.fifo");
	snprintf(faulty, sizeof(faulty),
		 "[sensor s]\nsource = stream:%s\n" FM_KEYS "max_age = 1s\n",
		 fifo);
	fm_start(&f, name, sizeof(name), "m", "50ms", faulty, N);
	fm_until_value(&f, fd, "1.5\n", 1.5, allowed, 40);

	big = malloc(BIG + 1);
	cr_assert_not_null(big);
	memset(big, '7', BIG);
	big[BIG] = '\n';
	/* The pipe holds 64 KiB: write what fits, then let a batch pass. */
	while (done < BIG + 1) {
		ssize_t r = write(fd, big + done, BIG + 1 - done);

		cr_assert(r > 0 || errno == EAGAIN, "write: %s",
			  strerror(errno));
		if (r > 0)
			done += (size_t)r;
		fm_next(&f);
		fm_expect(&f, 1.5, allowed);
		seen = seen || h_is(&f.v[FAULTY], "EMSGSIZE");
		cr_assert_lt(f.batches, 400, "the 1 MiB line was not drained");
	}
	free(big);
	if (!seen)
		fm_until(&f, "EMSGSIZE", allowed, 40);
	fm_until_value(&f, fd, "2.5\n", 2.5, allowed, 40);
	fm_end(&f);
}

Test(faults, fifo_writer_that_dies_gives_etimedout_and_its_return_values)
{
	const char *allowed = " ok ETIMEDOUT pending ";
	char name[40], fifo[256], faulty[512], sh[512];
	char *argv[] = { "sh", "-c", sh, NULL };
	struct h_feed f;
	pid_t w;

	h_mkfifo(fifo, sizeof(fifo), "w.fifo");
	snprintf(faulty, sizeof(faulty),
		 "[sensor s]\nsource = stream:%s\n" FM_KEYS, fifo);
	fm_start(&f, name, sizeof(name), "w", "50ms", faulty, N);
	snprintf(sh, sizeof(sh),
		 "while :; do echo 4.5; sleep 0.01; done > '%s'", fifo);
	w = h_spawn(argv, NULL, NULL);
	fm_until_value(&f, -1, "", 4.5, allowed, 60);

	h_kill(w); /* the writer dies: its FIFO is held open by the engine */
	fm_until(&f, "ETIMEDOUT", allowed, 40);
	fm_until(&f, "ETIMEDOUT", allowed, 40); /* and stays down, no EPIPE */

	snprintf(sh, sizeof(sh),
		 "while :; do echo 5.5; sleep 0.01; done > '%s'", fifo);
	h_spawn(argv, NULL, NULL);
	fm_until_value(&f, -1, "", 5.5, allowed, 60);
	fm_end(&f);
}

/* A new pty pair, echo off; its slave's path into @path.  The master. */
static int fm_pty(char *path, size_t len)
{
	struct termios t;
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	cr_assert_geq(m, 0, "posix_openpt: %s", strerror(errno));
	h_keep_fd(m);
	cr_assert_eq(grantpt(m), 0);
	cr_assert_eq(unlockpt(m), 0);
	cr_assert_eq(ptsname_r(m, path, len), 0);
	cr_assert_eq(tcgetattr(m, &t), 0);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	cr_assert_eq(tcsetattr(m, TCSANOW, &t), 0);
	return m;
}

/*
 * The sensor reads a stable name (a symlink, as /dev/serial/by-id gives)
 * that is pointed at the new pty when the device comes back.
 */
Test(faults, pty_hang_up_fails_the_sensor_and_a_new_pty_brings_it_back)
{
	const char *allowed = " ok EIO ENOENT EPIPE ETIMEDOUT pending ";
	char name[40], link[256], pts[128], faulty[512];
	struct ringside_sensor_stats st[N];
	struct h_feed f;
	bool hup = false;
	int m;

	m = fm_pty(pts, sizeof(pts));
	h_path(link, sizeof(link), "tty");
	cr_assert_eq(symlink(pts, link), 0);
	snprintf(faulty, sizeof(faulty),
		 "[sensor s]\nsource = stream:%s\n" FM_KEYS, link);
	fm_start(&f, name, sizeof(name), "p", "50ms", faulty, N);
	fm_until_value(&f, m, "5.5\n", 5.5, allowed, 60);

	h_close(m); /* hang-up: the slave's reads end with EIO */
	while (f.batches < 400 && !hup) {
		fm_next(&f);
		fm_expect(&f, 5.5, allowed);
		hup = h_is(&f.v[FAULTY], "EIO") || h_is(&f.v[FAULTY], "ENOENT");
	}
	cr_assert(hup, "no EIO or ENOENT after the hang-up");
	cr_log_info("pty hang-up shown as %s", h_what(&f.v[FAULTY]));
	fm_until(&f, "ENOENT", allowed, 40); /* the device is gone */

	m = fm_pty(pts, sizeof(pts));
	cr_assert_eq(unlink(link), 0);
	cr_assert_eq(symlink(pts, link), 0);
	fm_until_value(&f, m, "6.5\n", 6.5, allowed, 60);
	h_stats(&f, NULL, st);
	cr_assert_geq(st[FAULTY].counter[RINGSIDE_SC_RECONNECTS], 2);
	fm_end(&f);
}

/* ---- values ------------------------------------------------------------ */

Test(faults, out_of_range_value_fails_with_erange_and_recovers)
{
	const char *allowed = " ok ERANGE ";
	char name[40], path[256], faulty[512];
	struct h_feed f;

	h_path(path, sizeof(path), "ranged");
	h_put_text(path, "50\n");
	snprintf(faulty, sizeof(faulty),
		 "[sensor r]\nsource = file:%s\nmin = 0\nmax = 100\n" FM_KEYS,
		 path);
	fm_start(&f, name, sizeof(name), "e", "50ms", faulty, N);
	fm_until_value(&f, -1, "", 50, allowed, 40);
	h_put_text(path, "150\n");
	fm_until(&f, "ERANGE", allowed, 40);
	h_put_text(path, "-0.5\n");
	fm_next(&f);
	fm_until(&f, "ERANGE", allowed, 40);
	h_put_text(path, "99.5\n");
	fm_until_value(&f, -1, "", 99.5, allowed, 40);
	fm_end(&f);
}

/* ---- sockets ----------------------------------------------------------- */

/* Accept a connection on listener @l if one is waiting; -1 if none. */
static int fm_accept(int l)
{
	int c = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (c >= 0)
		h_keep_fd(c);
	return c;
}

/*
 * A reset (SO_LINGER 0, then close) that reaches the engine while an
 * attempt waits for data fails that attempt with ECONNRESET; a reset
 * between attempts only shows at the next one, which reconnects.  So the
 * test resets 10 ms after a tick at which no data was sent.
 */
Test(faults, tcp_reset_mid_stream_gives_econnreset_then_it_reconnects)
{
	const char *allowed = " ok ECONNRESET ETIMEDOUT pending ";
	char name[40], faulty[512];
	struct linger lin = { .l_onoff = 1, .l_linger = 0 };
	unsigned port, round;
	struct h_feed f;
	bool reset = false;
	int l, c = -1;

	l = h_listen(0, 16, &port);
	cr_assert_eq(fcntl(l, F_SETFL, O_NONBLOCK), 0);
	snprintf(faulty, sizeof(faulty),
		 "[sensor s]\nsource = tcp:127.0.0.1:%u\n" FM_KEYS, port);
	fm_start(&f, name, sizeof(name), "r", "50ms", faulty, N);

	for (round = 0; round < 3 && !reset; round++) {
		uint64_t at, end = f.batches + 80;
		bool ok = false;

		while (!ok) {
			if (c < 0)
				c = fm_accept(l);
			if (c >= 0)
				(void)!write(c, "3.5\n", 4);
			fm_next(&f);
			fm_expect(&f, 3.5, allowed);
			ok = h_is(&f.v[FAULTY], "ok");
			cr_assert_lt(f.batches, end, "no value from the peer");
		}
		/* Send nothing more: the next tick's attempt waits. */
		at = f.b.tick_mono_ns + 60000000ULL;
		while (h_now_ns() < at)
			h_sleep_ms(1);
		cr_assert_eq(
			setsockopt(c, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin)),
			0);
		h_close(c);
		c = -1;
		for (end = f.batches + 5; f.batches < end && !reset;) {
			fm_next(&f);
			fm_expect(&f, NAN, allowed);
			reset = h_is(&f.v[FAULTY], "ECONNRESET");
		}
	}
	cr_assert(reset, "3 resets mid-attempt, no ECONNRESET");
	for (round = 0; round < 40; round++) {
		if (c < 0)
			c = fm_accept(l);
		if (c >= 0)
			(void)!write(c, "4.5\n", 4);
		fm_next(&f);
		fm_expect(&f, NAN, allowed);
		if (h_is(&f.v[FAULTY], "ok") && f.v[FAULTY].value == 4.5)
			break;
	}
	cr_assert_lt(round, 40, "no value after the reset");
	fm_end(&f);
}

static volatile sig_atomic_t fm_drain;

static void fm_on_usr1(int sig)
{
	(void)sig;
	fm_drain = 1;
}

/*
 * The peer's child: accepts on @l, sends "7.5\n" to every connection each
 * 5 ms, and never reads until SIGUSR1, after which it reads and discards
 * all it is sent.  Never returns.
 */
static void fm_deaf_peer(int l)
{
	int c[64], n = 0, i;
	char buf[65536];

	signal(SIGUSR1, fm_on_usr1);
	for (;;) {
		int a = accept4(l, NULL, NULL, SOCK_NONBLOCK);

		if (a >= 0 && n < 64)
			c[n++] = a;
		else if (a >= 0)
			close(a);
		for (i = 0; i < n; i++) {
			if (c[i] < 0)
				continue;
			if (send(c[i], "7.5\n", 4, MSG_NOSIGNAL) < 0 &&
			    errno != EAGAIN) {
				close(c[i]);
				c[i] = -1;
				continue;
			}
			while (fm_drain && read(c[i], buf, sizeof(buf)) > 0)
				;
		}
		usleep(5000);
	}
}

/*
 * Request mode against a peer that answers but never reads: the requests
 * pile up in the socket buffers until the engine's send cannot go on.  The
 * engine must not block: the attempt ends at its deadline (ETIMEDOUT), the
 * connection is closed and made again, and batches go on.  A Unix socket
 * fills fastest (its buffer counts whole packets).
 */
Test(faults, peer_that_accepts_and_never_reads_never_blocks_the_engine)
{
	const char *allowed = " ok ETIMEDOUT pending ";
	char name[40], faulty[512], path[256], req[160];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ringside_sensor_stats st[N];
	unsigned timeouts = 0, ok = 0, i;
	struct h_feed f;
	pid_t peer;
	int l;

	h_path(path, sizeof(path), "deaf.sock");
	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	cr_assert_geq(l, 0);
	h_keep_fd(l);
	cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(l, 16), 0);
	peer = fork();
	cr_assert_geq(peer, 0);
	if (peer == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fm_deaf_peer(l);
	}
	h_keep_child(peer);

	memset(req, 'x', 150);
	req[150] = '\0';
	snprintf(faulty, sizeof(faulty),
		 "[sensor s]\nsource = unix:%s\nrequest = %s\\n\n" FM_KEYS,
		 path, req);
	fm_start(&f, name, sizeof(name), "d", "10ms", faulty, N);
	/*
	 * A call that fails at its deadline, 3 ticks on, ends just before
	 * the tick whose own call (on a new connection) gives a value: the
	 * batches show "pending", the counters the failure.
	 */
	do {
		fm_next(&f);
		fm_expect(&f, 7.5, allowed);
		h_stats(&f, NULL, st);
		cr_assert_lt(f.batches, 1500, "the send buffer never filled");
	} while (st[FAULTY].counter[RINGSIDE_SC_TIMEOUTS] < 2);
	cr_assert_eq(st[FAULTY].counter[RINGSIDE_SC_LAST_ERROR], ETIMEDOUT);
	cr_log_info("deaf peer: 2 timeouts by batch %llu",
		    (unsigned long long)f.batches);

	kill(peer, SIGUSR1); /* the fault ends: it reads */
	for (i = 0; i < 50; i++) {
		fm_next(&f);
		fm_expect(&f, 7.5, allowed);
	}
	h_stats(&f, NULL, st);
	timeouts = (unsigned)st[FAULTY].counter[RINGSIDE_SC_TIMEOUTS];
	/*
	 * Values again.  The peer polls every 5 ms, so a loaded machine can
	 * hold its reply past the 30 ms timeout now and then; the deaf
	 * peer timed out every call, this one nearly none.
	 */
	for (i = 0; i < 400; i++) {
		fm_next(&f);
		fm_expect(&f, 7.5, " ok pending ETIMEDOUT ");
		ok += h_is(&f.v[FAULTY], "ok");
	}
	h_stats(&f, NULL, st);
	cr_assert_geq(ok, 200, "%u values in 400 batches once the peer read",
		      ok);
	cr_assert_leq(st[FAULTY].counter[RINGSIDE_SC_TIMEOUTS] - timeouts,
		      H_OFF_TIME(400), "timeouts went on once the peer read");
	fm_end(&f);
}

/* ---- the clock and the engine's process --------------------------------- */

static void fm_faketime(const char *file, const char *offset)
{
	char tmp[300];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	fp = fopen(tmp, "w");
	cr_assert_not_null(fp);
	fprintf(fp, "%s\n", offset);
	fclose(fp);
	cr_assert_eq(rename(tmp, file), 0);
}

/*
 * The engine runs under libfaketime with only the wall clock faked, read
 * from a file at every call, so the test steps it by an hour back and
 * forth while the engine runs.  Ticks follow CLOCK_MONOTONIC: no burst,
 * no hole, nothing missed; only the batches' wall-clock stamps jump.
 */
Test(faults, wall_clock_steps_move_no_tick)
{
	static const char lib[] =
		"/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
	char name[40], cfg[256], temp[256], file[256], bin[256];
	char env_file[300], env_pre[300];
	char *argv[] = { "env",
			 env_pre,
			 env_file,
			 "FAKETIME_NO_CACHE=1",
			 "FAKETIME_DONT_FAKE_MONOTONIC=1",
			 bin,
			 "-c",
			 cfg,
			 "--duration",
			 "20",
			 NULL };
	static const char *const step[] = { "-3600", "+3600", "+0" };
	static const int64_t jump[] = { -3600, 7200, -3600 };
	struct ringside_sensor_stats st[N];
	struct ringside_engine_stats es;
	struct h_feed f;
	unsigned i;
	pid_t pid;

	if (access(lib, R_OK) != 0)
		h_skip("libfaketime is not installed (apt-get install "
		       "faketime)");
	/* A sanitized engine refuses to start with another library
	 * preloaded before its runtime; the plain build runs this test. */
	if (getenv("RINGSIDE_SANITIZE") != NULL &&
	    getenv("RINGSIDE_SANITIZE")[0] != '\0')
		h_skip("the engine is built with -fsanitize=%s",
		       getenv("RINGSIDE_SANITIZE"));
	h_bin(bin, sizeof(bin), "ringsided");
	h_path(file, sizeof(file), "faketime");
	fm_faketime(file, "+0");
	snprintf(env_pre, sizeof(env_pre), "LD_PRELOAD=%s", lib);
	snprintf(env_file, sizeof(env_file), "FAKETIME_TIMESTAMP_FILE=%s",
		 file);
	h_name(name, sizeof(name), "c");
	h_path(temp, sizeof(temp), "temp");
	h_put_text(temp, "21.5\n");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor temp]\nsource = file:%s\n" H_FILE_KEYS
		 "[sensor load]\nsource = file:/proc/loadavg\n" H_FILE_KEYS
		 "[sensor gone]\nsource = tcp:127.0.0.1:%u\n" FM_KEYS,
		 temp, h_closed_port(SOCK_STREAM));
	pid = h_spawn(argv, NULL, "engine-faketime.log");
	h_attach(&f, name, pid, N);
	fm_next(&f);
	for (i = 0; i < 3; i++) {
		uint64_t wall = f.b.tick_us, mono = f.b.tick_mono_ns;
		uint64_t end = f.batches + 60;
		int64_t moved;

		fm_faketime(file, step[i]);
		for (;;) {
			fm_next(&f);
			fm_expect(&f, NAN, FM_REFUSED);
			moved = (int64_t)(f.b.tick_us - wall) / 1000000 -
				(int64_t)((f.b.tick_mono_ns - mono) /
					  1000000000ULL);
			/* The next tick is the period after the last one. */
			cr_assert_geq(
				f.b.tick_mono_ns - mono, 49000000ULL,
				"ticks %llu ns apart",
				(unsigned long long)(f.b.tick_mono_ns - mono));
			cr_assert_lt(
				f.b.tick_mono_ns - mono, 2000000000ULL,
				"ticks %llu ns apart",
				(unsigned long long)(f.b.tick_mono_ns - mono));
			mono = f.b.tick_mono_ns;
			wall = f.b.tick_us;
			if (moved <= jump[i] + 2 && moved >= jump[i] - 2)
				break;
			cr_assert_lt(f.batches, end,
				     "step %s never showed in tick stamps",
				     step[i]);
		}
		cr_log_info("step %s seen at batch %llu", step[i],
			    (unsigned long long)f.b.seq);
		for (end = f.batches + 10; f.batches < end;)
			fm_next(&f);
	}
	h_stats(&f, &es, st);
	cr_assert_leq(es.counter[RINGSIDE_EC_MISSED_TICKS],
		      H_OFF_TIME(f.batches),
		      "%llu ticks missed over wall-clock steps",
		      (unsigned long long)es.counter[RINGSIDE_EC_MISSED_TICKS]);
	fm_end(&f);
	/* libfaketime leaves a shared-memory segment and a semaphore named
	 * after the process it ran in. */
	snprintf(file, sizeof(file), "/dev/shm/faketime_shm_%d", (int)pid);
	unlink(file);
	snprintf(file, sizeof(file), "/dev/shm/sem.faketime_sem_%d", (int)pid);
	unlink(file);
}

Test(faults, sigstop_of_the_engine_skips_ticks_and_publishes_none_late)
{
	char name[40], faulty[512];
	struct ringside_sensor_stats st[N];
	struct ringside_engine_stats es;
	uint64_t t_stop, t_cont;
	struct h_feed f;
	unsigned inside = 0;
	pid_t pid;

	snprintf(faulty, sizeof(faulty),
		 "[sensor gone]\nsource = tcp:127.0.0.1:%u\n" FM_KEYS,
		 h_closed_port(SOCK_STREAM));
	pid = fm_start(&f, name, sizeof(name), "z", "50ms", faulty, N);
	while (f.batches < 5) {
		fm_next(&f);
		fm_expect(&f, NAN, FM_REFUSED);
	}
	t_stop = h_now_ns();
	cr_assert_eq(kill(pid, SIGSTOP), 0);
	h_sleep_ms(400);
	t_cont = h_now_ns();
	cr_assert_eq(kill(pid, SIGCONT), 0);
	while (f.batches < 20) {
		fm_next(&f);
		fm_expect(&f, NAN, FM_REFUSED);
		if (f.b.tick_mono_ns > t_stop + 50000000ULL &&
		    f.b.tick_mono_ns + 50000000ULL < t_cont)
			inside++;
	}
	cr_assert_eq(inside, 0, "%u ticks of the stopped stretch published",
		     inside);
	fm_next(&f);
	h_stats(&f, &es, st);
	cr_assert_geq(es.counter[RINGSIDE_EC_MISSED_TICKS], 4,
		      "%llu missed ticks for a 400 ms stop at 50 ms",
		      (unsigned long long)es.counter[RINGSIDE_EC_MISSED_TICKS]);
	fm_end(&f);
}

Test(faults, sigkill_and_restart_give_a_new_epoch_that_readers_follow)
{
	char name[40], faulty[512], cfg[256], seg[96];
	uint64_t epoch;
	struct h_feed f;
	struct stat st;
	pid_t pid;
	int ev = 0;

	snprintf(faulty, sizeof(faulty),
		 "[sensor gone]\nsource = tcp:127.0.0.1:%u\n" FM_KEYS,
		 h_closed_port(SOCK_STREAM));
	pid = fm_start(&f, name, sizeof(name), "k", "50ms", faulty, N);
	while (f.batches < 5)
		fm_next(&f);
	epoch = f.r.epoch_us;
	h_segment_path(seg, sizeof(seg), name);
	cr_assert_eq(stat(seg, &st), 0);

	cr_assert_eq(kill(pid, SIGKILL), 0);
	h_reap(pid);
	while (ev != RINGSIDE_DEAD) {
		ev = h_try_next(&f, 3000);
		cr_assert(ev == 1 || ev == RINGSIDE_DEAD,
			  "a killed engine gave event %d", ev);
	}

	h_path(cfg, sizeof(cfg), "");
	snprintf(cfg + strlen(cfg), sizeof(cfg) - strlen(cfg), "%s.ini", name);
	pid = h_engine_ready(cfg, "25", name, st.st_ino, 5000);
	cr_assert_eq(ringside_reader_reattach(&f.r, 0), 0);
	cr_assert_gt(f.r.epoch_us, epoch, "epoch %llu after %llu",
		     (unsigned long long)f.r.epoch_us,
		     (unsigned long long)epoch);
	cr_assert_eq(ringside_reader_pid(&f.r), pid);
	f.engine = pid;
	f.seq = 0; /* the new epoch counts from 1 */
	while (f.batches < 15) {
		fm_next(&f);
		fm_expect(&f, NAN, FM_REFUSED);
	}
	fm_end(&f);
}

/* ---- readers ------------------------------------------------------------ */

/*
 * A reader's child: follows segment @name from now, checking that it
 * loses nothing and sees seq without a gap, until the engine stops
 * (exit 0 once it saw @least batches), or is killed.  @busy: never
 * sleeps, so that a kill lands in the middle of a read.
 */
static pid_t fm_reader(const char *name, uint64_t least, bool busy)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct ringside_reader r;
		struct ringside_batch b;
		struct ringside_reading v[H_SENSORS_MAX];
		uint64_t seq = 0, n = 0;
		int ev;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (ringside_reader_attach(&r, name, RINGSIDE_FROM_NOW) != 0)
			_exit(10);
		for (;;) {
			while (ringside_reader_next(&r, &b, v, H_SENSORS_MAX) >
			       0) {
				if (b.lost != 0 || (seq && b.seq != seq + 1) ||
				    b.nreadings != N)
					_exit(11);
				seq = b.seq;
				n++;
			}
			ev = busy ? ringside_reader_state(&r)
				  : ringside_reader_wait(&r, 1000);
			if (ev == RINGSIDE_CLOSED || ev == RINGSIDE_DEAD)
				_exit(n >= least ? 0 : 12);
		}
	}
	return pid;
}

Test(faults, readers_killed_mid_read_go_unnoticed_by_the_engine)
{
	char name[40], faulty[512];
	struct h_feed f;
	pid_t r[4];
	unsigned i;

	snprintf(faulty, sizeof(faulty),
		 "[sensor gone]\nsource = tcp:127.0.0.1:%u\n" FM_KEYS,
		 h_closed_port(SOCK_STREAM));
	fm_start(&f, name, sizeof(name), "q", "20ms", faulty, N);
	for (i = 0; i < 4; i++) {
		r[i] = fm_reader(name, 1, true);
		h_keep_child(r[i]);
	}
	for (i = 0; i < 4; i++) {
		uint64_t end = f.batches + 10;

		while (f.batches < end) {
			fm_next(&f);
			fm_expect(&f, NAN, FM_REFUSED);
		}
		h_kill(r[i]); /* SIGKILL, in the middle of its reading */
	}
	while (f.batches < 60) {
		fm_next(&f);
		fm_expect(&f, NAN, FM_REFUSED);
	}
	fm_end(&f);
}

Test(faults, hundred_readers_at_once_leave_the_batches_unaffected,
     .timeout = 40)
{
	enum { READERS = 100 };
	char name[40], faulty[512];
	pid_t r[READERS], pid;
	struct h_feed f;
	unsigned i, bad = 0;
	uint64_t end;

	snprintf(faulty, sizeof(faulty),
		 "[sensor gone]\nsource = tcp:127.0.0.1:%u\n" FM_KEYS,
		 h_closed_port(SOCK_STREAM));
	pid = fm_start(&f, name, sizeof(name), "o", "50ms", faulty, N);
	fm_next(&f);
	for (i = 0; i < READERS; i++)
		r[i] = fm_reader(name, 20, false);
	while (f.batches < 60) {
		fm_next(&f);
		fm_expect(&f, NAN, FM_REFUSED);
	}
	{
		struct ringside_sensor_stats st[N];
		struct ringside_engine_stats es;

		h_stats(&f, &es, st);
		h_expect_timely(&f, &es);
	}
	/* A clean stop: each reader drains to the end and reports. */
	kill(pid, SIGTERM);
	h_expect_exit(pid, 5000, 0);
	end = h_now_ms() + 10000;
	for (i = 0; i < READERS; i++) {
		int status = 0;

		while (waitpid(r[i], &status, WNOHANG) == 0 && h_now_ms() < end)
			h_sleep_ms(5);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			if (bad++ == 0)
				cr_log_error("reader %u: status 0x%x", i,
					     status);
			kill(r[i], SIGKILL);
			waitpid(r[i], NULL, 0);
		}
	}
	cr_assert_eq(bad, 0, "%u of %u readers saw a gap or no end", bad,
		     READERS);
	h_done();
}

/* ---- resources ---------------------------------------------------------- */

/*
 * ringsided under a low RLIMIT_NOFILE (prlimit execs it in place), with
 * more FIFO sensors than descriptors left: the sensors that get none fail
 * with EMFILE, every other works, nothing crashes; raising the limit of the
 * running engine brings them all up.
 */
Test(faults, open_file_limit_fails_the_extra_sensors_with_emfile)
{
	enum { FIFOS = 12, M = 2 + FIFOS };
	char name[40], cfg[256], temp[256], fifo[256], sensors[4096];
	char bin[256], lim[32], pidarg[16];
	char *argv[] = { "prlimit", lim,	  "--", bin, "-c",
			 cfg,	    "--duration", "25", NULL };
	int fd[FIFOS];
	unsigned i, emfile, ok;
	struct h_feed f;
	size_t n = 0;
	pid_t pid;

	for (i = 0; i < FIFOS; i++) {
		char fname[32];

		snprintf(fname, sizeof(fname), "f%u.fifo", i);
		fd[i] = fm_fifo(fifo, sizeof(fifo), fname);
		n += (size_t)snprintf(sensors + n, sizeof(sensors) - n,
				      "[sensor f%u]\nsource = stream:%s\n"
				      "retry_attempts = 1\n"
				      "breaker_failures = 1000\n"
				      "timeout = 30ms\nmax_age = 1s\n\n",
				      i, fifo);
	}
	h_name(name, sizeof(name), "n");
	h_path(temp, sizeof(temp), "temp");
	h_put_text(temp, "21.5\n");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor temp]\nsource = file:%s\n" H_FILE_KEYS
		 "[sensor load]\nsource = file:/proc/loadavg\n" H_FILE_KEYS
		 "%s",
		 temp, sensors);
	h_bin(bin, sizeof(bin), "ringsided");
	snprintf(lim, sizeof(lim), "--nofile=%d:%d", 20, 4096);
	pid = h_spawn(argv, NULL, "engine-nofile.log");
	h_attach(&f, name, pid, M);

	for (i = 0; i < 40; i++) {
		unsigned j;

		for (j = 0; j < FIFOS; j++)
			(void)!write(fd[j], "8.5\n", 4);
		fm_next(&f);
	}
	emfile = ok = 0;
	for (i = 2; i < M; i++) {
		emfile += h_is(&f.v[i], "EMFILE");
		ok += h_is(&f.v[i], "ok");
		cr_assert(h_is(&f.v[i], "ok") || h_is(&f.v[i], "EMFILE"),
			  "sensor %u: %s", i, h_what(&f.v[i]));
	}
	cr_log_info("at 20 descriptors: %u FIFO sensors ok, %u EMFILE", ok,
		    emfile);
	cr_assert_geq(emfile, 1, "every sensor found a descriptor");
	cr_assert_geq(ok, 1, "no sensor found a descriptor");

	/* The fault ends: the running engine gets more descriptors. */
	snprintf(pidarg, sizeof(pidarg), "%d", (int)pid);
	{
		char *raise[] = { "prlimit", "--pid", pidarg,
				  "--nofile=1024:4096", NULL };
		pid_t p = h_spawn(raise, NULL, NULL);

		h_expect_exit(p, 5000, 0);
	}
	for (i = 0; i < 60 && ok < FIFOS; i++) {
		unsigned j;

		for (j = 0; j < FIFOS; j++)
			(void)!write(fd[j], "8.5\n", 4);
		fm_next(&f);
		for (ok = 0, j = 2; j < M; j++)
			ok += h_is(&f.v[j], "ok");
	}
	cr_assert_eq(ok, FIFOS, "%u of %u sensors up after the limit rose", ok,
		     FIFOS);
	fm_end(&f);
}

/*
 * /dev/shm full: a 64 KiB tmpfs over /dev/shm in a private mount namespace
 * (root only), and a ring far larger.  The engine must exit 1 with one
 * clear line naming the lack of space, never crash.
 */
Test(faults, full_dev_shm_is_a_clear_exit_1)
{
	char name[40], cfg[256], bin[256], log[4096];
	char *argv[] = {
		"unshare",
		"-m",
		"sh",
		"-c",
		"exec 3<\"$1\" &&"
		" mount -t tmpfs -o size=64k tmpfs /dev/shm || exit 99;"
		" exec \"$0\" -c /dev/fd/3 --duration 5",
		bin,
		cfg,
		NULL
	};
	int status = 0;
	pid_t pid;

	if (geteuid() != 0)
		h_skip("/dev/shm full needs root for unshare -m and mount");
	h_bin(bin, sizeof(bin), "ringsided");
	h_name(name, sizeof(name), "f");
	h_config(
		cfg, sizeof(cfg), name, "50ms",
		"ring = 65536\n\n[sensor load]\nsource = file:/proc/loadavg\n");
	pid = h_spawn(argv, NULL, "shm.log");
	cr_assert_eq(h_wait(pid, 10000, &status), 0, "the engine hangs");
	h_slurp("shm.log", log, sizeof(log));
	cr_assert(WIFEXITED(status), "ended by signal %d: %s",
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0, log);
	if (WEXITSTATUS(status) == 99)
		h_skip("cannot mount a tmpfs in a private namespace: %s", log);
	cr_assert_eq(WEXITSTATUS(status), 1, "exit %d: %s", WEXITSTATUS(status),
		     log);
	cr_assert(strcasestr(log, "no space left") != NULL ||
			  strstr(log, "ENOSPC") != NULL,
		  "no word of the lack of space: %s", log);
	cr_assert_eq(strchr(log, '\n'), log + strlen(log) - 1,
		     "more than one line: %s", log);
}
