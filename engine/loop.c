/* SPDX-License-Identifier: MIT */
/*
 * loop.c - the io_uring shell of the engine.
 *
 * One thread submits every request and handles every completion.  Ticks
 * are absolute kernel timeouts on CLOCK_MONOTONIC (tick n at base + n *
 * period), so the schedule never drifts.  At a tick every sensor without a
 * call in flight asks its breaker; a refused call costs nothing and shows
 * as "open"; an admitted one starts its first attempt:
 *
 *   file:            the read goes to a file worker (files.c);
 *   stream:, push sockets, udp:
 *                    a read is always outstanding on the source (with a
 *                    linked timeout), each record is parsed and stamped as
 *                    it arrives, and an attempt takes the newest fresh one
 *                    or waits for the next;
 *   request sockets: connect, then send + recv with a linked timeout.
 *
 * A failed attempt is retried after a backoff that is a ring timeout: no
 * thread sleeps.  Every attempt also has an application deadline, checked
 * by one "sweep" timer armed at the earliest of them; it bounds what a
 * linked timeout cannot (a file read stuck in a worker, a push source that
 * stays silent).  The batch of a tick is published when every call started
 * at that tick has ended, or at the tick's deadline, whichever is first.
 *
 * user_data is (kind, sensor, generation); a completion whose generation
 * is no longer the sensor's current one is counted and ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "deadline.h"
#include "value.h"

/*
 * valgrind does not see the kernel write a buffer through io_uring: say
 * so where a completion hands one over, when its header is there.
 */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define RING_FILLED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#endif
#endif
#ifndef RING_FILLED
#define RING_FILLED(p, n) ((void)(p), (void)(n))
#endif

#define NS 1000000000ULL
#define DRAIN_IDLE_NS NS      /* a push read's linked timeout, re-armed */
#define LATE_SLACK_NS 1000000 /* a batch this far past its deadline is late */
#define DGRAM_MAX (ENGINE_VALUE_RECORD_MAX + 2)
#define ENGINE_OP_READ_MULTISHOT 49 /* IORING_OP_READ_MULTISHOT, 6.7+ */
#define ENGINE_BUF_GROUP 1
#define ENGINE_BUF_SIZE 1024

enum ud_kind {
	UD_IGNORE = 0, /* link timeouts, cancels */
	UD_TICK,
	UD_DEADLINE,
	UD_SWEEP,
	UD_SIGNAL,
	UD_WAKE,
	UD_READ,
	UD_MREAD, /* a multishot drain of a push stream */
	UD_CONNECT,
	UD_SEND,
	UD_BACKOFF,
	UD_BREAKER,
	UD_POOL, /* the file workers' watchdog */
};

/*
 * user_data: kind (8 bits), reload generation (8), sensor (16), the
 * sensor's generation of that kind (32).  A reload bumps the reload
 * generation, so completions of the old sensors are recognised and
 * dropped whatever their index.
 */
static uint64_t ud_make(const struct engine *e, enum ud_kind kind,
			uint32_t sensor, uint32_t gen)
{
	return (uint64_t)kind << 56 | (uint64_t)(e->rgen & 0xff) << 48 |
	       (uint64_t)(sensor & 0xffff) << 32 | gen;
}

static uint32_t ud_rgen(uint64_t ud)
{
	return (uint32_t)(ud >> 48) & 0xff;
}

static enum ud_kind ud_kind(uint64_t ud)
{
	return (enum ud_kind)(ud >> 56);
}

static uint32_t ud_sensor(uint64_t ud)
{
	return (uint32_t)(ud >> 32) & 0xffff;
}

static uint32_t ud_gen(uint64_t ud)
{
	return (uint32_t)ud;
}

uint64_t engine_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void set_ts(struct __kernel_timespec *ts, uint64_t ns)
{
	ts->tv_sec = (long long)(ns / NS);
	ts->tv_nsec = (long long)(ns % NS);
}

/*
 * How long a file read may hold a worker before the pool grows: a quarter
 * of the shortest file timeout, so that the other files are still read
 * within theirs.
 */
static uint64_t pool_patience(const struct engine *e)
{
	uint64_t p = e->min_file_timeout_ns / 4;

	return p < 1000000 ? 1000000 : p > 10000000 ? 10000000 : p;
}

/*
 * The deadline timer fires this much before the deadline, so that a batch
 * is out by its deadline even when a busy machine wakes the engine a
 * millisecond late: 1 ms, or a twentieth of a short deadline.
 */
static uint64_t deadline_lead(const struct engine *e)
{
	uint64_t lead = e->cfg->deadline_ns / 20;

	return lead < 1000000 ? lead : 1000000;
}

/* An SQE, submitting what is queued if the SQ is full. */
static struct io_uring_sqe *get_sqe(struct engine *e)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);

	while (sqe == NULL) {
		io_uring_submit(&e->ring);
		sqe = io_uring_get_sqe(&e->ring);
	}
	return sqe;
}

static bool is_push(const struct engine_sensor *s)
{
	switch (s->cfg->source.kind) {
	case ENGINE_CONFIG_SOURCE_STREAM:
	case ENGINE_CONFIG_SOURCE_UDP:
		return true;
	case ENGINE_CONFIG_SOURCE_TCP:
	case ENGINE_CONFIG_SOURCE_UNIX:
		return s->cfg->request_len == 0;
	default:
		return false;
	}
}

static bool is_stream_socket(const struct engine_sensor *s)
{
	return s->cfg->source.kind == ENGINE_CONFIG_SOURCE_TCP ||
	       s->cfg->source.kind == ENGINE_CONFIG_SOURCE_UNIX;
}

/* ---- timers ------------------------------------------------------------ */

static void arm_abs(struct engine *e, struct __kernel_timespec *ts,
		    uint64_t at_ns, uint64_t ud)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	set_ts(ts, at_ns);
	io_uring_prep_timeout(sqe, ts, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, ud);
}

static void arm_rel(struct engine *e, struct __kernel_timespec *ts,
		    uint64_t after_ns, uint64_t ud)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	set_ts(ts, after_ns);
	io_uring_prep_timeout(sqe, ts, 0, 0);
	io_uring_sqe_set_data64(sqe, ud);
}

/* Make sure the sweep runs by @at. */
static void arm_sweep(struct engine *e, uint64_t at)
{
	if (e->sweep_at_ns != 0 && e->sweep_at_ns <= at)
		return;
	e->sweep_at_ns = at;
	arm_abs(e, &e->sweep_ts, at, ud_make(e, UD_SWEEP, 0, ++e->sweep_gen));
}

/* The attempt under way must end by s->deadline_ns. */
static void watch_deadline(struct engine *e, struct engine_sensor *s)
{
	if (engine_deadlines_push(&e->deadlines, s->deadline_ns, s->index,
				  s->attempt_gen) < 0)
		e->deadline_overflow = true; /* reported, engine stops */
	arm_sweep(e, s->deadline_ns);
}

/* ---- logging of failures, at most once a second per sensor ------------- */

static void log_failure(struct engine_sensor *s, int err, uint64_t now)
{
	if (now < s->log_next_ns) {
		s->log_suppressed++;
		return;
	}
	if (s->log_suppressed > 0)
		engine_log(ENGINE_LOG_INFO,
			   "sensor %s: call failed: %s (%llu more not shown)",
			   s->cfg->name, ringside_errno_name(err),
			   (unsigned long long)s->log_suppressed);
	else
		engine_log(ENGINE_LOG_INFO, "sensor %s: call failed: %s",
			   s->cfg->name, ringside_errno_name(err));
	s->log_suppressed = 0;
	s->log_next_ns = now + NS;
}

/*
 * A source (re)opened or (re)connected: at info, but like failures at
 * most once a second per sensor, since a request peer that times out is
 * reconnected at every attempt.
 */
static void log_reconnect(struct engine_sensor *s, uint64_t now)
{
	const struct engine_config_source *src = &s->cfg->source;

	if (now < s->log_conn_next_ns)
		return;
	s->log_conn_next_ns = now + NS;
	if (src->kind == ENGINE_CONFIG_SOURCE_TCP ||
	    src->kind == ENGINE_CONFIG_SOURCE_UDP)
		engine_log(ENGINE_LOG_INFO, "sensor %s: %s %s:%u (%llu so far)",
			   s->cfg->name,
			   src->kind == ENGINE_CONFIG_SOURCE_UDP
				   ? "bound to"
				   : "connected to",
			   src->host, src->port,
			   (unsigned long long)
				   s->stats.counter[RINGSIDE_SC_RECONNECTS]);
	else
		engine_log(ENGINE_LOG_INFO, "sensor %s: %s %s (%llu so far)",
			   s->cfg->name,
			   src->kind == ENGINE_CONFIG_SOURCE_UNIX
				   ? "connected to"
				   : "opened",
			   src->path,
			   (unsigned long long)
				   s->stats.counter[RINGSIDE_SC_RECONNECTS]);
}

static void log_transition(struct engine_sensor *s,
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
	engine_log(ENGINE_LOG_INFO, "sensor %s: breaker %s", s->cfg->name,
		   what[t]);
}

/* ---- publication ------------------------------------------------------- */

static void sync_breaker_stats(struct engine_sensor *s)
{
	struct engine_breaker_stats bs;

	engine_breaker_stats(s->breaker, &bs);
	s->stats.counter[RINGSIDE_SC_BREAKER] = (uint64_t)bs.state;
	s->stats.counter[RINGSIDE_SC_OPENS] = bs.opens;
	s->stats.counter[RINGSIDE_SC_FAST_FAILS] = bs.fast_fails;
	s->stats.counter[RINGSIDE_SC_PROBES] = bs.probes;
}

/* The engine's CPU time so far, every thread (io-wq workers too). */
static uint64_t cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void write_stats(struct engine *e, uint64_t now)
{
	uint32_t i;

	e->stats.counter[RINGSIDE_EC_CPU_US] = cpu_us();
	ringside_writer_stats_begin(&e->seg);
	ringside_writer_engine_set(&e->seg, &e->stats);
	for (i = 0; i < e->nsensors; i++) {
		sync_breaker_stats(&e->sensors[i]);
		ringside_writer_sensor_set(&e->seg, i, &e->sensors[i].stats);
	}
	ringside_writer_stats_end(&e->seg);
	e->stats_at_ns = now;
}

static void publish(struct engine *e)
{
	struct ringside_batch b;
	uint64_t now = engine_now_ns();
	uint32_t i, ok = 0;

	memset(&b, 0, sizeof(b));
	for (i = 0; i < e->nsensors; i++) {
		struct engine_sensor *s = &e->sensors[i];
		struct ringside_reading *r = &e->readings[i];

		ok += (uint32_t)engine_batch_entry(&s->result, s->rejected_tick,
						   e->tick, r);
		if (r->status == RINGSIDE_PENDING)
			s->stats.counter[RINGSIDE_SC_PENDING]++;
		if (r->flags & RINGSIDE_READING_LATE)
			s->stats.counter[RINGSIDE_SC_LATE]++;
		if (r->status != RINGSIDE_OK)
			s->stats.counter[RINGSIDE_SC_DEGRADED]++;
	}
	b.tick_us = e->tick_wall_us;
	b.tick_mono_ns = e->tick_mono_ns;
	b.published_mono_ns = now;
	b.published_us = wall_us();
	b.available = ok;
	b.total = e->nsensors;
	b.nreadings = e->nsensors;
	if (ok < e->nsensors)
		b.flags |= RINGSIDE_BATCH_DEGRADED;

	e->stats.counter[RINGSIDE_EC_BATCHES]++;
	if (ok < e->nsensors)
		e->stats.counter[RINGSIDE_EC_DEGRADED]++;
	if (now > e->tick_mono_ns + e->cfg->deadline_ns + LATE_SLACK_NS)
		e->stats.counter[RINGSIDE_EC_LATE]++;
	if (now - e->tick_mono_ns >
	    e->stats.counter[RINGSIDE_EC_LATENESS_MAX_NS])
		e->stats.counter[RINGSIDE_EC_LATENESS_MAX_NS] =
			now - e->tick_mono_ns;

	ringside_writer_publish(&e->seg, &b, e->readings);
	/* Counters go out with every batch, so that a reader who saw a batch
	 * finds it counted (a copy of ~40 words per sensor). */
	write_stats(e, now);
	e->collecting = false;

	if (e->once) {
		engine_print_json(e, &b);
		e->stopping = true;
	}
}

/* ---- calls and attempts ------------------------------------------------ */

static void start_attempt(struct engine *e, struct engine_sensor *s,
			  uint64_t now);

static void hist_add(struct ringside_sensor_stats *st, uint32_t us)
{
	unsigned i;

	for (i = 0; i < RINGSIDE_HIST_BUCKETS - 1; i++)
		if (us <= ringside_hist_bound_us[i])
			break;
	st->hist[i]++;
}

static void arm_breaker_timer(struct engine *e, struct engine_sensor *s)
{
	struct engine_breaker_stats bs;

	engine_breaker_stats(s->breaker, &bs);
	if (bs.state != ENGINE_BREAKER_STATE_OPEN)
		return;
	arm_abs(e, &s->breaker_ts, bs.deadline_ns,
		ud_make(e, UD_BREAKER, s->index, ++s->breaker_gen));
}

static void call_end(struct engine *e, struct engine_sensor *s, int err,
		     double value, uint64_t now)
{
	struct ringside_sensor_stats *st = &s->stats;
	enum engine_breaker_transition t;

	s->phase = ENGINE_IDLE;
	engine_result_end(&s->result, s->call_tick, err, value, s->attempt,
			  s->call_start_ns, now);

	st->counter[RINGSIDE_SC_CALLS]++;
	st->counter[RINGSIDE_SC_LATENCY_SUM] += s->result.latency_us;
	hist_add(st, s->result.latency_us);
	if (err == 0) {
		st->counter[RINGSIDE_SC_OK]++;
		st->counter[RINGSIDE_SC_LAST_OK_US] = e->wall_now_us;
		if (s->attempt > 1)
			st->counter[RINGSIDE_SC_RETRY_OK]++;
	} else {
		st->counter[RINGSIDE_SC_FAILED]++;
		log_failure(s, err, now);
	}

	/* The breaker wraps the retry: one result per call. */
	t = engine_breaker_record(s->breaker, &s->ticket, err == 0, now);
	log_transition(s, t);
	if (t == ENGINE_BREAKER_OPENED || t == ENGINE_BREAKER_REOPENED)
		arm_breaker_timer(e, s);

	if (e->collecting && s->call_tick == e->tick) {
		if (--e->outstanding == 0)
			publish(e);
	}
}

static void attempt_end(struct engine *e, struct engine_sensor *s, int err,
			double value, uint64_t now)
{
	struct engine_backoff_policy pol;
	uint64_t wait;

	if (s->phase != ENGINE_ATTEMPT)
		return;
	if (err == 0) {
		call_end(e, s, 0, value, now);
		return;
	}
	s->stats.counter[RINGSIDE_SC_LAST_ERROR] = (uint64_t)err;
	if (err == ETIMEDOUT)
		s->stats.counter[RINGSIDE_SC_TIMEOUTS]++;
	if (s->attempt >= s->cfg->retry_attempts) {
		call_end(e, s, err, 0, now);
		return;
	}
	pol.base_ns = s->cfg->retry_base_ns;
	pol.max_ns = s->cfg->retry_max_ns;
	pol.jitter = (enum engine_backoff_jitter)s->cfg->retry_jitter;
	wait = engine_backoff_delay(&pol, s->attempt, s->prev_wait_ns, &s->rng);
	s->prev_wait_ns = wait;
	s->phase = ENGINE_BACKOFF;
	engine_log(ENGINE_LOG_DEBUG,
		   "sensor %s: attempt %u failed (%s), retry in %.3f ms",
		   s->cfg->name, s->attempt, ringside_errno_name(err),
		   (double)wait / 1e6);
	arm_rel(e, &s->timer_ts, wait,
		ud_make(e, UD_BACKOFF, s->index, ++s->timer_gen));
}

static void start_call(struct engine *e, struct engine_sensor *s, uint64_t now)
{
	enum engine_breaker_admission a;

	a = engine_breaker_admit(s->breaker, now, &s->ticket);
	log_transition(s, s->ticket.transition);
	if (a == ENGINE_BREAKER_REJECT) {
		/* Fail fast: no syscall, and not a failure. */
		s->rejected_tick = e->tick;
		return;
	}
	s->call_tick = e->tick;
	s->call_start_ns = now;
	s->attempt = 0;
	s->prev_wait_ns = 0;
	e->outstanding++;
	start_attempt(e, s, now);
}

/* ---- sources ----------------------------------------------------------- */

static void close_source(struct engine *e, struct engine_sensor *s)
{
	if (s->fd < 0)
		return;
	if (s->io_inflight > 0) {
		/* close() does not cancel reads in flight; this does.  The
		 * cancel is issued at submission, before the close. */
		struct io_uring_sqe *sqe = get_sqe(e);

		io_uring_prep_cancel_fd(sqe, s->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, ud_make(e, UD_IGNORE, 0, 0));
		io_uring_submit(&e->ring);
	}
	close(s->fd);
	s->fd = -1;
	s->conn = ENGINE_CLOSED;
	s->sending = false;
	s->io_gen++; /* whatever completes now is stale */
	if (s->frame != NULL)
		engine_frame_reset(s->frame);
}

/* A read (with its linked timeout) into the frame or datagram buffer. */
static void submit_read(struct engine *e, struct engine_sensor *s,
			uint64_t timeout_ns, bool linked_after_send)
{
	struct io_uring_sqe *sqe;
	void *buf;
	size_t len;

	if (s->cfg->source.kind == ENGINE_CONFIG_SOURCE_UDP) {
		buf = s->dgram;
		len = DGRAM_MAX;
	} else {
		buf = engine_frame_space(s->frame, &len);
		if (len == 0) {
			/* Cannot happen: the framer drops over-long lines. */
			engine_frame_reset(s->frame);
			buf = engine_frame_space(s->frame, &len);
		}
	}
	sqe = get_sqe(e);
	if (s->cfg->source.kind == ENGINE_CONFIG_SOURCE_STREAM)
		io_uring_prep_read(sqe, s->fd, buf, (unsigned)len, 0);
	else
		io_uring_prep_recv(sqe, s->fd, buf, len,
				   s->cfg->source.kind ==
						   ENGINE_CONFIG_SOURCE_UDP
					   ? MSG_TRUNC
					   : 0);
	io_uring_sqe_set_data64(sqe, ud_make(e, UD_READ, s->index, s->io_gen));
	sqe->flags |= IOSQE_IO_LINK;
	s->io_inflight++;
	(void)linked_after_send;

	sqe = get_sqe(e);
	set_ts(&s->io_ts, timeout_ns);
	io_uring_prep_link_timeout(sqe, &s->io_ts, 0);
	io_uring_sqe_set_data64(sqe, ud_make(e, UD_IGNORE, s->index, 0));
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

/*
 * The drain of a push stream (FIFO, pty, push socket): one multishot read
 * into the engine's provided buffers, which produces a completion per
 * chunk of data without being submitted again.  A multishot request has
 * no per-read timeout (a linked timeout would bound the whole stream);
 * what bounds an attempt is its application deadline.  A file that
 * cannot be polled falls back to single reads with a linked timeout.
 */
static void submit_drain(struct engine *e, struct engine_sensor *s)
{
	struct io_uring_sqe *sqe;

	if (e->bufs == NULL || s->no_multishot ||
	    s->cfg->source.kind == ENGINE_CONFIG_SOURCE_UDP) {
		submit_read(e, s, DRAIN_IDLE_NS, false);
		return;
	}
	sqe = get_sqe(e);
	if (s->cfg->source.kind == ENGINE_CONFIG_SOURCE_STREAM) {
		/* IORING_OP_READ_MULTISHOT: no helper in liburing 2.3. */
		io_uring_prep_rw(ENGINE_OP_READ_MULTISHOT, sqe, s->fd, NULL, 0,
				 0);
	} else {
		io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
	}
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = ENGINE_BUF_GROUP;
	io_uring_sqe_set_data64(sqe, ud_make(e, UD_MREAD, s->index, s->io_gen));
	s->io_inflight++;
}

static void send_request(struct engine *e, struct engine_sensor *s,
			 uint64_t now)
{
	struct io_uring_sqe *sqe;
	uint64_t left = s->deadline_ns > now ? s->deadline_ns - now : 1;

	/* A reply to an earlier request can never be taken for this one:
	 * a timed-out request closed the connection, and leftovers go. */
	engine_frame_reset(s->frame);
	sqe = get_sqe(e);
	io_uring_prep_send(sqe, s->fd, s->cfg->request, s->cfg->request_len,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(e, UD_SEND, s->index, s->io_gen));
	sqe->flags |= IOSQE_IO_LINK;
	s->io_inflight++;
	s->sending = true;
	submit_read(e, s, left, true);
}

static int serial_setup(int fd, const struct engine_config_serial *ser)
{
	struct termios t;

	if (!ser->set)
		return 0;
	if (tcgetattr(fd, &t) < 0)
		return -errno;
	cfmakeraw(&t);
	cfsetispeed(&t, ser->speed);
	cfsetospeed(&t, ser->speed);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB);
	t.c_cflag |= ser->data_bits == 5   ? CS5
		     : ser->data_bits == 6 ? CS6
		     : ser->data_bits == 7 ? CS7
					   : CS8;
	if (ser->parity != 'N')
		t.c_cflag |= PARENB | (ser->parity == 'O' ? PARODD : 0);
	if (ser->stop_bits == 2)
		t.c_cflag |= CSTOPB;
	t.c_cflag |= CLOCAL | CREAD;
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		return -errno;
	return 0;
}

/* Open a stream path: a FIFO read-write, so no writer never means EOF. */
static int open_stream(struct engine_sensor *s)
{
	const char *path = s->cfg->source.path;
	struct stat st;
	int fd, flags = O_RDONLY;

	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISFIFO(st.st_mode))
		flags = O_RDWR;
	/* O_NONBLOCK only for the open (a tty may wait for carrier); reads
	 * go through the ring, which polls. */
	fd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_SETFL, 0) < 0 || serial_setup(fd, &s->cfg->serial)) {
		int err = -errno;

		close(fd);
		return err < 0 ? err : -EIO;
	}
	return fd;
}

static int open_udp(struct engine_sensor *s)
{
	int fd, one = 1;

	if (s->addr_error != 0)
		return -s->addr_error;
	fd = socket(s->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&s->addr, s->addrlen) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void start_connect(struct engine *e, struct engine_sensor *s,
			  uint64_t now)
{
	struct io_uring_sqe *sqe;
	uint64_t left = s->deadline_ns > now ? s->deadline_ns - now : 1;
	int fd;

	if (s->addr_error != 0) {
		attempt_end(e, s, s->addr_error, 0, now);
		return;
	}
	fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		attempt_end(e, s, errno, 0, now);
		return;
	}
	s->fd = fd;
	s->conn = ENGINE_CONNECTING;
	s->stats.counter[RINGSIDE_SC_RECONNECTS]++;
	sqe = get_sqe(e);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&s->addr, s->addrlen);
	io_uring_sqe_set_data64(sqe,
				ud_make(e, UD_CONNECT, s->index, s->io_gen));
	sqe->flags |= IOSQE_IO_LINK;
	s->io_inflight++;
	sqe = get_sqe(e);
	set_ts(&s->io_ts, left);
	io_uring_prep_link_timeout(sqe, &s->io_ts, 0);
	io_uring_sqe_set_data64(sqe, ud_make(e, UD_IGNORE, s->index, 0));
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

/* Bring a push source up if it is down; 0, or a positive errno. */
static int ensure_open(struct engine *e, struct engine_sensor *s, uint64_t now)
{
	int fd;

	if (s->conn != ENGINE_CLOSED)
		return 0;
	if (s->io_inflight > 0)
		return 0; /* the old descriptor's requests are still ending */
	if (is_stream_socket(s)) {
		start_connect(e, s, now);
		return 0;
	}
	fd = s->cfg->source.kind == ENGINE_CONFIG_SOURCE_UDP ? open_udp(s)
							     : open_stream(s);
	if (fd < 0)
		return -fd;
	s->fd = fd;
	s->conn = ENGINE_OPEN;
	s->stats.counter[RINGSIDE_SC_RECONNECTS]++;
	log_reconnect(s, now);
	if (s->frame != NULL)
		engine_frame_reset(s->frame);
	submit_drain(e, s);
	return 0;
}

/* A push attempt takes the newest record if it is fresh and unused. */
static bool take_record(struct engine *e, struct engine_sensor *s, uint64_t now)
{
	if (s->record_seq == 0 || s->record_seq == s->used_record ||
	    now - s->record_ns > s->cfg->max_age_ns)
		return false;
	s->used_record = s->record_seq;
	attempt_end(e, s, s->record_error, s->record_value, now);
	return true;
}

static void start_attempt(struct engine *e, struct engine_sensor *s,
			  uint64_t now)
{
	int err;

	s->attempt++;
	s->stats.counter[RINGSIDE_SC_ATTEMPTS]++;
	if (s->attempt > 1)
		s->stats.counter[RINGSIDE_SC_RETRIES]++;
	s->phase = ENGINE_ATTEMPT;
	s->attempt_gen++;
	s->deadline_ns = now + s->cfg->timeout_ns;

	switch (s->cfg->source.kind) {
	case ENGINE_CONFIG_SOURCE_FILE:
		if (s->job.inline_lane && !s->job.queued) {
			double v = 0;
			int ret = engine_files_read_inline(
				e->files, s->index, now, pool_patience(e), &v);

			if (!s->job.inline_lane)
				engine_log(
					ENGINE_LOG_INFO,
					"sensor %s: a read took over %.1f ms;"
					" moved to the file workers",
					s->cfg->name,
					(double)pool_patience(e) / 1e6);
			attempt_end(e, s, ret < 0 ? -ret : 0, v, now);
			return;
		}
		engine_files_submit(e->files, s->index);
		watch_deadline(e, s);
		return;
	default:
		break;
	}
	if (is_push(s)) {
		err = ensure_open(e, s, now);
		if (err != 0) {
			attempt_end(e, s, err, 0, now);
			return;
		}
		if (take_record(e, s, now))
			return;
		watch_deadline(e, s);
		return;
	}
	/* Request mode. */
	watch_deadline(e, s);
	if (s->conn == ENGINE_OPEN && s->io_inflight == 0)
		send_request(e, s, now);
	else if (s->conn == ENGINE_CLOSED && s->io_inflight == 0)
		start_connect(e, s, now);
	/* else: the old connection's requests are still being cancelled; the
	 * sweep fails the attempt if they outlast it. */
}

/* ---- completions ------------------------------------------------------- */

static void handle_line(struct engine *e, struct engine_sensor *s,
			const char *line, int len, uint64_t now)
{
	double v = 0;
	int err = 0;

	if (len < 0)
		err = -len;
	else
		err = -engine_value_parse(&s->cfg->value, line, (size_t)len,
					  &v);
	if (!is_push(s)) {
		/* Request mode: the first line after the request answers it. */
		if (s->phase == ENGINE_ATTEMPT && s->sending)
			attempt_end(e, s, err, v, now);
		s->sending = false;
		return;
	}
	s->record_seq++;
	s->record_ns = now;
	s->record_value = v;
	s->record_error = err;
}

static void on_read(struct engine *e, struct engine_sensor *s, int res,
		    bool stale, uint64_t now)
{
	const char *line;
	int len;

	s->io_inflight--;
	if (stale) {
		if (s->io_inflight == 0 && s->phase == ENGINE_ATTEMPT &&
		    s->conn == ENGINE_CLOSED) {
			/* The old descriptor is gone: bring up the new one. */
			if (is_push(s)) {
				int err = ensure_open(e, s, now);

				if (err)
					attempt_end(e, s, err, 0, now);
			} else {
				start_connect(e, s, now);
			}
		}
		return;
	}
	if (res == -ECANCELED || res == -ETIME || res == -EINTR) {
		if (is_push(s)) {
			submit_read(e, s, DRAIN_IDLE_NS, false); /* idle */
			return;
		}
		/* Request mode: the reply did not come in time.  Close, so a
		 * late reply is never taken for the next request's. */
		close_source(e, s);
		attempt_end(e, s, ETIMEDOUT, 0, now);
		return;
	}
	if (res <= 0) {
		int err = res == 0 ? (is_stream_socket(s) ? ECONNRESET : EPIPE)
				   : -res;

		close_source(e, s);
		attempt_end(e, s, err, 0, now);
		return;
	}
	if (s->cfg->source.kind == ENGINE_CONFIG_SOURCE_UDP) {
		size_t n = (size_t)res;
		double v = 0;
		int err;

		/* MSG_TRUNC: res may be the datagram's size, not what fit. */
		RING_FILLED(s->dgram, n < DGRAM_MAX ? n : DGRAM_MAX);
		if (n > ENGINE_VALUE_RECORD_MAX + 1) {
			err = EMSGSIZE;
		} else {
			while (n > 0 && (s->dgram[n - 1] == '\n' ||
					 s->dgram[n - 1] == '\r'))
				n--;
			err = n > ENGINE_VALUE_RECORD_MAX
				      ? EMSGSIZE
				      : -engine_value_parse(&s->cfg->value,
							    s->dgram, n, &v);
		}
		s->record_seq++;
		s->record_ns = now;
		s->record_value = v;
		s->record_error = err;
	} else {
		RING_FILLED(s->frame->buf + s->frame->end, (size_t)res);
		engine_frame_commit(s->frame, (size_t)res);
		while ((len = engine_frame_next(s->frame, &line)) != -EAGAIN)
			handle_line(e, s, line, len, now);
	}
	if (is_push(s)) {
		if (s->phase == ENGINE_ATTEMPT)
			take_record(e, s, now);
		if (s->conn == ENGINE_OPEN)
			submit_read(e, s, DRAIN_IDLE_NS, false);
		return;
	}
	/* Request mode: no full line yet, read on within the deadline. */
	if (s->phase == ENGINE_ATTEMPT && s->sending)
		submit_read(e, s,
			    s->deadline_ns > now ? s->deadline_ns - now : 1,
			    false);
}

/* Give buffer @bid back to the kernel. */
static void recycle_buffer(struct engine *e, unsigned bid)
{
	io_uring_buf_ring_add(e->br, e->bufs + (size_t)bid * ENGINE_BUF_SIZE,
			      ENGINE_BUF_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(e->nbufs), 0);
	io_uring_buf_ring_advance(e->br, 1);
}

/* Bytes of a push stream, through the framer, one record per line. */
static void consume(struct engine *e, struct engine_sensor *s, const char *data,
		    size_t n, uint64_t now)
{
	const char *line;
	int len;

	while (n > 0) {
		size_t k = engine_frame_feed(s->frame, data, n);

		data += k;
		n -= k;
		while ((len = engine_frame_next(s->frame, &line)) != -EAGAIN)
			handle_line(e, s, line, len, now);
	}
}

static void on_mread(struct engine *e, struct engine_sensor *s,
		     const struct io_uring_cqe *cqe, bool stale, uint64_t now)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	int res = cqe->res;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		if (res > 0)
			RING_FILLED(e->bufs + (size_t)bid * ENGINE_BUF_SIZE,
				    (size_t)res);
		if (!stale && res > 0)
			consume(e, s, e->bufs + (size_t)bid * ENGINE_BUF_SIZE,
				(size_t)res, now);
		recycle_buffer(e, bid);
	}
	if (more) {
		if (!stale && s->phase == ENGINE_ATTEMPT)
			take_record(e, s, now);
		return;
	}
	/* The multishot request has ended. */
	if (stale) {
		on_read(e, s, 0, true, now); /* counts it, reopens if due */
		return;
	}
	s->io_inflight--;
	if (res > 0 || res == -ENOBUFS) {
		/* Buffers ran short, or the kernel stopped it: go on. */
		if (s->phase == ENGINE_ATTEMPT)
			take_record(e, s, now);
		if (s->conn == ENGINE_OPEN)
			submit_drain(e, s);
		return;
	}
	if ((res == -EINVAL || res == -EOPNOTSUPP || res == -EBADFD) &&
	    !s->no_multishot) {
		/* Not pollable (some character devices): single reads. */
		s->no_multishot = true;
		submit_drain(e, s);
		return;
	}
	s->io_inflight++; /* on_read counts the end itself */
	on_read(e, s, res, false, now);
}

static void on_connect(struct engine *e, struct engine_sensor *s, int res,
		       bool stale, uint64_t now)
{
	s->io_inflight--;
	if (stale)
		return;
	if (res < 0) {
		int err = res == -ECANCELED || res == -ETIME ? ETIMEDOUT : -res;

		close_source(e, s);
		attempt_end(e, s, err, 0, now);
		return;
	}
	s->conn = ENGINE_OPEN;
	log_reconnect(s, now);
	if (is_push(s)) {
		engine_frame_reset(s->frame);
		submit_drain(e, s);
		if (s->phase == ENGINE_ATTEMPT)
			take_record(e, s, now);
	} else if (s->phase == ENGINE_ATTEMPT) {
		send_request(e, s, now);
	}
}

static void on_send(struct engine *e, struct engine_sensor *s, int res,
		    bool stale, uint64_t now)
{
	s->io_inflight--;
	if (stale || res >= 0)
		return;
	/* The linked recv ends with -ECANCELED and is handled there; make
	 * sure the attempt reports the send's error instead of a timeout. */
	close_source(e, s);
	attempt_end(e, s, res == -ECANCELED ? ETIMEDOUT : -res, 0, now);
}

static void on_files(struct engine *e, uint64_t now)
{
	uint32_t idx[256], n, i;

	while ((n = engine_files_take(e->files, idx, 256)) > 0) {
		for (i = 0; i < n; i++) {
			struct engine_sensor *s = &e->sensors[idx[i]];

			s->job.queued = false;
			if (s->phase == ENGINE_ATTEMPT)
				attempt_end(e, s, s->job.error, s->job.value,
					    now);
		}
	}
}

/* Hand the staged file reads to the workers and watch them. */
static void kick_files(struct engine *e, uint64_t now)
{
	if (e->files->nstaged == 0)
		return; /* every file of this tick was read inline */
	engine_files_kick(e->files);
	if (!e->pool_armed) {
		e->pool_armed = true;
		arm_abs(e, &e->pool_ts, now + pool_patience(e),
			ud_make(e, UD_POOL, 0, ++e->pool_gen));
	}
}

/*
 * The watchdog: a read stuck in the kernel must hold neither the reads
 * queued behind it (the pool grows) nor the results finished before it
 * (they are collected here, without waiting for the workers' signal).
 */
static void on_pool(struct engine *e, uint64_t now)
{
	e->pool_armed = false;
	if (engine_files_check_stuck(e->files, now, pool_patience(e))) {
		e->pool_armed = true;
		arm_abs(e, &e->pool_ts, now + pool_patience(e),
			ud_make(e, UD_POOL, 0, ++e->pool_gen));
	}
	on_files(e, now);
}

static void sweep(struct engine *e, uint64_t now)
{
	const struct engine_deadline *top;
	struct engine_deadline d;

	e->sweep_at_ns = 0;
	while ((top = engine_deadlines_peek(&e->deadlines)) != NULL &&
	       top->at <= now) {
		struct engine_sensor *s;

		engine_deadlines_pop(&e->deadlines, &d);
		s = &e->sensors[d.sensor];
		if (s->phase != ENGINE_ATTEMPT || s->attempt_gen != d.gen)
			continue; /* that attempt ended in time */
		/* A file's read may still be in a worker: a retry joins it.
		 * A request's connection closes: a late reply is never taken
		 * for the next request's. */
		if (s->cfg->source.kind != ENGINE_CONFIG_SOURCE_FILE &&
		    (!is_push(s) || s->conn == ENGINE_CONNECTING))
			close_source(e, s);
		attempt_end(e, s, ETIMEDOUT, 0, now);
	}
	if (top != NULL)
		arm_sweep(e, top->at);
}

/* ---- ticks ------------------------------------------------------------- */

static void start_tick(struct engine *e, uint64_t n, uint64_t now)
{
	uint32_t i;

	e->tick = n;
	e->tick_mono_ns = e->base_ns + n * e->cfg->period_ns;
	e->tick_wall_us = wall_us() - (now - e->tick_mono_ns) / 1000;
	e->collecting = true;
	/*
	 * One extra count while calls start: a call that ends on the spot
	 * (a missing path, an open breaker) must not publish the batch
	 * before the sensors after it have started theirs.
	 */
	e->outstanding = 1;
	arm_abs(e, &e->deadline_ts,
		e->tick_mono_ns + e->cfg->deadline_ns - deadline_lead(e),
		ud_make(e, UD_DEADLINE, 0, ++e->deadline_gen));
	if (e->have_files)
		engine_files_begin_tick(e->files);
	for (i = 0; i < e->nsensors; i++) {
		struct engine_sensor *s = &e->sensors[i];

		if (s->phase == ENGINE_IDLE)
			start_call(e, s, now);
	}
	if (e->have_files)
		kick_files(e, now);
	if (e->collecting && --e->outstanding == 0)
		publish(e);
	arm_abs(e, &e->tick_ts, e->tick_mono_ns + e->cfg->period_ns,
		ud_make(e, UD_TICK, 0, ++e->tick_gen));
}

static void on_tick(struct engine *e, uint64_t now)
{
	uint64_t n = (now - e->base_ns) / e->cfg->period_ns;

	if (e->collecting)
		publish(e); /* its deadline is this very moment */
	if (e->stopping)
		return;
	if (n < e->tick + 1)
		n = e->tick + 1;
	/*
	 * Ticks that passed while the engine could not run are skipped,
	 * never published late; so is the current one if its deadline is
	 * already over.
	 */
	if (now > e->base_ns + n * e->cfg->period_ns + e->cfg->deadline_ns)
		n++;
	if (n > e->tick + 1)
		e->stats.counter[RINGSIDE_EC_MISSED_TICKS] += n - e->tick - 1;
	if (n > e->tick + 1 && e->base_ns + n * e->cfg->period_ns > now) {
		/* The tick to run is in the future: wait for it. */
		e->tick = n - 1;
		arm_abs(e, &e->tick_ts, e->base_ns + n * e->cfg->period_ns,
			ud_make(e, UD_TICK, 0, ++e->tick_gen));
		return;
	}
	start_tick(e, n, now);
}

/* ---- signals ----------------------------------------------------------- */

static void submit_signal_read(struct engine *e)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	io_uring_prep_read(sqe, e->signal_fd, e->signal_buf,
			   sizeof(struct signalfd_siginfo), 0);
	io_uring_sqe_set_data64(sqe, ud_make(e, UD_SIGNAL, 0, 0));
}

static void submit_wake_read(struct engine *e)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	io_uring_prep_read(sqe, e->files->eventfd, &e->wake_buf,
			   sizeof(e->wake_buf), 0);
	io_uring_sqe_set_data64(sqe, ud_make(e, UD_WAKE, 0, 0));
}

static void on_signal(struct engine *e, int res)
{
	struct signalfd_siginfo *si = (struct signalfd_siginfo *)e->signal_buf;

	if (res > 0)
		RING_FILLED(e->signal_buf, (size_t)res);
	if (res == (int)sizeof(*si)) {
		if (si->ssi_signo == SIGHUP) {
			e->reload = true;
		} else {
			engine_log(ENGINE_LOG_INFO,
				   "signal %u: finishing the tick and stopping",
				   si->ssi_signo);
			e->stopping = true;
		}
	}
	submit_signal_read(e);
}

/* ---- setup ------------------------------------------------------------- */

static void resolve(struct engine_sensor *s)
{
	const struct engine_config_source *src = &s->cfg->source;
	struct addrinfo hints, *ai;
	char port[8];
	int ret;

	if (src->kind == ENGINE_CONFIG_SOURCE_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)&s->addr;

		if (strlen(src->path) >= sizeof(un->sun_path)) {
			s->addr_error = ENAMETOOLONG;
			return;
		}
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, src->path);
		s->addrlen = sizeof(*un);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = src->kind == ENGINE_CONFIG_SOURCE_UDP ? SOCK_DGRAM
								  : SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", src->port);
	ret = getaddrinfo(src->host, port, &hints, &ai);
	if (ret != 0) {
		s->addr_error = EHOSTUNREACH;
		return;
	}
	memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
	s->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
}

static int sensors_init(struct engine *e)
{
	size_t slab = 0;
	char *at = NULL;
	uint32_t i;

	e->nsensors = (uint32_t)e->cfg->nr_sensors;
	e->deadlines.len = 0; /* entries of earlier sensors mean nothing now */
	e->min_file_timeout_ns = UINT64_MAX;
	e->sensors = calloc(e->nsensors, sizeof(*e->sensors));
	e->readings = calloc(e->nsensors, sizeof(*e->readings));
	if (e->sensors == NULL || e->readings == NULL)
		return -ENOMEM;
	/*
	 * The breakers sit in one slab, each as long as its history needs:
	 * a few hundred bytes a sensor, one allocation in all.  The first
	 * sensor's breaker is the slab's start, which sensors_free() frees.
	 */
	for (i = 0; i < e->nsensors; i++)
		slab += engine_breaker_size(
			e->cfg->sensors[i].breaker_failures);
	if (e->nsensors > 0) {
		at = aligned_alloc(64, slab);
		if (at == NULL)
			return -ENOMEM;
	}
	for (i = 0; i < e->nsensors; i++) {
		struct engine_sensor *s = &e->sensors[i];
		const struct engine_config_sensor *c = &e->cfg->sensors[i];
		struct engine_breaker_config bc = {
			.failures = c->breaker_failures,
			.probes = c->breaker_probes,
			.window_ns = c->breaker_window_ns,
			.reset_ns = c->breaker_reset_ns,
		};

		s->cfg = c;
		s->index = i;
		s->fd = -1;
		s->job.fd = -1;
		s->rejected_tick = UINT64_MAX;
		s->breaker = (struct engine_breaker *)at;
		at += engine_breaker_size(c->breaker_failures);
		engine_breaker_init(s->breaker, &bc, engine_now_ns());
		engine_backoff_rng_seed(&s->rng, (uint64_t)getpid() ^ wall_us(),
					engine_backoff_hash(c->name));
		switch (c->source.kind) {
		case ENGINE_CONFIG_SOURCE_FILE:
			e->have_files = true;
			if (c->timeout_ns < e->min_file_timeout_ns)
				e->min_file_timeout_ns = c->timeout_ns;
			break;
		case ENGINE_CONFIG_SOURCE_UDP:
			s->dgram = malloc(DGRAM_MAX);
			if (s->dgram == NULL)
				return -ENOMEM;
			resolve(s);
			break;
		default:
			s->frame = malloc(sizeof(*s->frame));
			if (s->frame == NULL)
				return -ENOMEM;
			engine_frame_init(s->frame);
			if (is_stream_socket(s))
				resolve(s);
			break;
		}
	}
	return 0;
}

static void sensors_free(struct engine_sensor *sensors, uint32_t n,
			 struct ringside_reading *readings)
{
	uint32_t i;

	if (sensors == NULL)
		return;
	for (i = 0; i < n; i++) {
		struct engine_sensor *s = &sensors[i];

		if (s->fd >= 0)
			close(s->fd);
		if (s->job.fd >= 0 && !s->job.queued)
			close(s->job.fd);
		free(s->frame);
		free(s->dgram);
	}
	if (n > 0)
		free(sensors[0].breaker); /* the slab of them all */
	free(sensors);
	free(readings);
}

static int segment_create(struct engine *e)
{
	struct ringside_params p;
	const char **names, **units;
	uint32_t i;
	int ret;

	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", e->cfg->name);
	p.ring = e->cfg->ring;
	p.nsensors = e->nsensors;
	p.period_ns = e->cfg->period_ns;
	p.deadline_ns = e->cfg->deadline_ns;
	p.mode = (uint32_t)e->cfg->shm_mode;
	names = calloc(e->nsensors, sizeof(*names));
	units = calloc(e->nsensors, sizeof(*units));
	if (names == NULL || units == NULL) {
		free(names);
		free(units);
		return -ENOMEM;
	}
	for (i = 0; i < e->nsensors; i++) {
		names[i] = e->cfg->sensors[i].name;
		units[i] = e->cfg->sensors[i].unit;
	}
	if (e->seg_open) {
		struct ringside_writer w;

		/* A reload that changed the sensors: a new segment with a
		 * new epoch, the old one marked replaced. */
		ret = ringside_writer_replace(&w, &e->seg, &p, names, units);
		if (ret == 0)
			e->seg = w;
	} else {
		ret = ringside_writer_create(&e->seg, &p, names, units);
	}
	free(names);
	free(units);
	if (ret == 0)
		e->seg_open = true;
	return ret;
}

static int ring_init(struct engine *e)
{
	struct io_uring_params p;
	unsigned entries = 256;
	int ret;

	memset(&p, 0, sizeof(p));
	/* Worst case in the CQ: per sensor a read, a send, a backoff and a
	 * breaker timer, plus the engine's own. */
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
		  IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = 4 * e->nsensors + 64;
	if (p.cq_entries < 2 * entries)
		p.cq_entries = 2 * entries;
	ret = io_uring_queue_init_params(entries, &e->ring, &p);
	if (ret == -EINVAL) {
		p.flags = IORING_SETUP_CQSIZE;
		ret = io_uring_queue_init_params(entries, &e->ring, &p);
	}
	return ret;
}

/*
 * The provided buffers of the push streams' multishot reads.  Without
 * them (an old kernel) every drain is a single read.
 */
static void buffers_init(struct engine *e)
{
	struct io_uring_buf_reg reg;
	uint32_t n = 1024;
	size_t ring_size;
	void *br;
	char *bufs;

	while (n < 2 * e->nsensors && n < 32768)
		n *= 2;
	ring_size = n * sizeof(struct io_uring_buf);
	br = mmap(NULL, ring_size, PROT_READ | PROT_WRITE,
		  MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED)
		return;
	bufs = malloc((size_t)n * ENGINE_BUF_SIZE);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = n;
	reg.bgid = ENGINE_BUF_GROUP;
	if (bufs == NULL || io_uring_register_buf_ring(&e->ring, &reg, 0) < 0) {
		free(bufs);
		munmap(br, ring_size);
		return;
	}
	e->br = br;
	e->bufs = bufs;
	e->nbufs = n;
	io_uring_buf_ring_init(e->br);
	for (n = 0; n < e->nbufs; n++)
		io_uring_buf_ring_add(e->br, bufs + (size_t)n * ENGINE_BUF_SIZE,
				      ENGINE_BUF_SIZE, (unsigned short)n,
				      io_uring_buf_ring_mask(e->nbufs), (int)n);
	io_uring_buf_ring_advance(e->br, (int)e->nbufs);
}

static int signals_init(struct engine *e)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Blocked before the file workers start, so they inherit the mask. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -EINVAL;
	e->signal_fd = signalfd(-1, &set, SFD_CLOEXEC);
	return e->signal_fd < 0 ? -errno : 0;
}

/*
 * Open what can be opened before the first tick: inline files, streams,
 * UDP sockets, and the connects of stream sockets.  A source that fails
 * here is simply tried again by its first attempt.
 */
static void prepare_sources(struct engine *e, uint64_t now)
{
	uint32_t i;

	for (i = 0; i < e->nsensors; i++) {
		struct engine_sensor *s = &e->sensors[i];

		if (s->cfg->source.kind == ENGINE_CONFIG_SOURCE_FILE) {
			engine_files_prepare(e->files, i, now);
		} else if (is_stream_socket(s)) {
			/* The connect goes out now, bounded by the timeout;
			 * the first attempt sends on it, or waits for it. */
			s->deadline_ns = now + s->cfg->timeout_ns;
			if (s->conn == ENGINE_CLOSED && s->io_inflight == 0 &&
			    s->addr_error == 0)
				start_connect(e, s, now);
		} else if (is_push(s)) {
			ensure_open(e, s, now);
		}
	}
}

/* Files first, then ring I/O: what the old sensors have in flight ends. */
static void dataplane_stop(struct engine *e)
{
	uint32_t i;

	for (i = 0; i < e->nsensors; i++)
		close_source(e, &e->sensors[i]);
	if (e->have_files) {
		struct io_uring_sqe *sqe = get_sqe(e);

		io_uring_prep_cancel_fd(sqe, e->files->eventfd,
					IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, ud_make(e, UD_IGNORE, 0, 0));
		io_uring_submit(&e->ring);
		if (engine_files_exit(e->files))
			free(e->files);
		else
			e->files_stuck = true; /* left to the stuck worker */
		e->files = NULL;
	}
}

static int dataplane_start(struct engine *e)
{
	int ret;

	if (!e->have_files)
		return 0;
	e->files = malloc(sizeof(*e->files));
	if (e->files == NULL)
		return -ENOMEM;
	ret = engine_files_init(e->files, e->sensors, e->nsensors);
	if (ret < 0) {
		free(e->files);
		e->files = NULL;
		engine_log(ENGINE_LOG_ERROR, "file workers: %s",
			   strerror(-ret));
		return ret;
	}
	submit_wake_read(e);
	return 0;
}

/* Old sensor @name's index, or -1: a small open-addressing table. */
static int find_old(const struct engine_sensor *old, uint32_t nold,
		    const int32_t *table, uint32_t mask, const char *name)
{
	uint32_t h = (uint32_t)engine_backoff_hash(name) & mask;

	for (; table[h] >= 0; h = (h + 1) & mask)
		if (strcmp(old[table[h]].cfg->name, name) == 0)
			return table[h];
	(void)nold;
	return -1;
}

/* Unchanged sensors keep their breaker and counters across a reload. */
static void carry_over(struct engine *e, struct engine_sensor *old,
		       uint32_t nold)
{
	uint32_t i, mask = 1;
	int32_t *table;

	while (mask < 2 * nold + 1)
		mask <<= 1;
	table = malloc(mask * sizeof(*table));
	if (table == NULL)
		return; /* counters restart: not worth failing a reload */
	memset(table, 0xff, mask * sizeof(*table));
	mask--;
	for (i = 0; i < nold; i++) {
		uint32_t h =
			(uint32_t)engine_backoff_hash(old[i].cfg->name) & mask;

		while (table[h] >= 0)
			h = (h + 1) & mask;
		table[h] = (int32_t)i;
	}
	for (i = 0; i < e->nsensors; i++) {
		struct engine_sensor *s = &e->sensors[i];
		const struct engine_config_sensor *c = s->cfg, *oc;
		int j = find_old(old, nold, table, mask, c->name);

		if (j < 0)
			continue;
		oc = old[j].cfg;
		s->stats = old[j].stats;
		if (oc->breaker_failures == c->breaker_failures &&
		    oc->breaker_window_ns == c->breaker_window_ns &&
		    oc->breaker_reset_ns == c->breaker_reset_ns &&
		    oc->breaker_probes == c->breaker_probes) {
			/* Single-threaded here: a plain copy of the words. */
			memcpy((void *)s->breaker, (void *)old[j].breaker,
			       engine_breaker_size(c->breaker_failures));
			arm_breaker_timer(e, s);
		}
	}
	free(table);
}

static bool same_segment(const struct engine_config *a,
			 const struct engine_config *b)
{
	return engine_config_same_sensors(a, b) && a->ring == b->ring &&
	       a->period_ns == b->period_ns &&
	       a->deadline_ns == b->deadline_ns && a->shm_mode == b->shm_mode;
}

/*
 * SIGHUP, between batches: load the file again; on any problem report it
 * and keep running as before.  Otherwise stop the old sensors, start the
 * new ones (breakers and counters of unchanged sensors carried over), and
 * publish into a new segment only if the set of sensors changed.
 */
static int reload(struct engine *e, uint64_t now)
{
	struct engine_config *nc = malloc(sizeof(*nc));
	struct engine_retired *old;
	size_t i;
	int ret;

	if (nc == NULL)
		return 0;
	engine_config_init(nc);
	ret = engine_config_load(nc, e->config_path);
	if (ret == 0 && e->name_override != NULL)
		snprintf(nc->name, sizeof(nc->name), "%s", e->name_override);
	if (ret == 0 && strcmp(nc->name, e->cfg->name) != 0) {
		engine_log(ENGINE_LOG_WARN,
			   "reload: %s: the engine name cannot change "
			   "(%s -> %s); keeping the running configuration",
			   e->config_path, e->cfg->name, nc->name);
		goto err_keep;
	}
	if (ret < 0) {
		if (engine_config_error_count(nc) == 0)
			engine_log(ENGINE_LOG_WARN, "reload: %s: %s",
				   e->config_path, strerror(-ret));
		for (i = 0; i < engine_config_error_count(nc); i++)
			engine_log(ENGINE_LOG_WARN, "reload: %s",
				   engine_config_error(nc, i));
		engine_log(ENGINE_LOG_WARN,
			   "reload: keeping the running configuration");
		goto err_keep;
	}
	old = calloc(1, sizeof(*old));
	if (old == NULL)
		goto err_keep;

	dataplane_stop(e);
	old->sensors = e->sensors;
	old->nsensors = e->nsensors;
	old->readings = e->readings;
	old->cfg = e->cfg;
	old->cfg_owned = e->cfg_owned;
	old->files_stuck = e->files_stuck;
	e->files_stuck = false;
	old->next = e->retired;
	e->retired = old;

	e->rgen++;
	e->cfg = nc;
	e->cfg_owned = true;
	e->sensors = NULL;
	e->readings = NULL;
	e->have_files = false;
	e->sweep_at_ns = 0;
	e->pool_armed = false;
	ret = sensors_init(e);
	if (ret == 0) {
		carry_over(e, old->sensors, old->nsensors);
		ret = dataplane_start(e);
	}
	if (ret == 0 && !same_segment(old->cfg, nc))
		ret = segment_create(e);
	if (ret < 0) {
		engine_log(ENGINE_LOG_ERROR, "reload: %s; stopping",
			   ringside_strerror(ret));
		return ret;
	}
	e->stats.counter[RINGSIDE_EC_RELOADS]++;
	engine_log(ENGINE_LOG_INFO, "reload: %u sensors, %s", e->nsensors,
		   same_segment(old->cfg, nc) ? "same segment"
					      : "new segment (new epoch)");
	prepare_sources(e, now);
	e->base_ns = now;
	start_tick(e, 0, now);
	return 0;

err_keep:
	engine_config_exit(nc);
	free(nc);
	return 0;
}

int engine_run(struct engine *e)
{
	struct io_uring_cqe *cqe;
	uint64_t now;
	int ret;

	signal(SIGPIPE, SIG_IGN);
	ret = signals_init(e);
	if (ret < 0) {
		engine_log(ENGINE_LOG_ERROR, "signalfd: %s", strerror(-ret));
		return 1;
	}
	ret = engine_deadlines_init(&e->deadlines, 1024);
	if (ret < 0)
		goto err_sensors;
	ret = sensors_init(e);
	if (ret < 0)
		goto err_sensors;
	ret = ring_init(e);
	if (ret < 0) {
		engine_log(ENGINE_LOG_ERROR, "io_uring: %s", strerror(-ret));
		goto err_sensors;
	}
	buffers_init(e);
	ret = dataplane_start(e);
	if (ret < 0)
		goto err_ring;
	ret = segment_create(e);
	if (ret < 0) {
		engine_log(ENGINE_LOG_ERROR, "segment /dev/shm/ringside.%s: %s",
			   e->cfg->name, ringside_strerror(ret));
		goto err_files;
	}
	engine_log(ENGINE_LOG_INFO,
		   "engine %s: %u sensors, period %.3f ms, segment %s",
		   e->cfg->name, e->nsensors, (double)e->cfg->period_ns / 1e6,
		   e->seg.path);
	submit_signal_read(e);

	now = engine_now_ns();
	prepare_sources(e, now);
	now = engine_now_ns();
	e->base_ns = now;
	e->stats.counter[RINGSIDE_EC_STARTED_US] = wall_us();
	e->stats.counter[RINGSIDE_EC_STARTED_MONO_NS] = now;
	start_tick(e, 0, now);

	for (;;) {
		unsigned head, seen = 0;

		if (e->stopping && !e->collecting)
			break;
		ret = io_uring_submit_and_wait(&e->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -ETIME &&
		    ret != -EAGAIN && ret != -EBUSY) {
			engine_log(ENGINE_LOG_ERROR, "io_uring_enter: %s",
				   strerror(-ret));
			break;
		}
		now = engine_now_ns();
		e->wall_now_us = wall_us();
		io_uring_for_each_cqe(&e->ring, head, cqe)
		{
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			struct engine_sensor *s = NULL;
			uint32_t idx = ud_sensor(ud);
			int res = cqe->res;

			seen++;
			if (ud_rgen(ud) != (e->rgen & 0xff) &&
			    ud_kind(ud) != UD_SIGNAL) {
				/* From before a reload: only its buffer is
				 * of interest. */
				if (cqe->flags & IORING_CQE_F_BUFFER)
					recycle_buffer(
						e,
						cqe->flags >>
							IORING_CQE_BUFFER_SHIFT);
				continue;
			}
			if (idx < e->nsensors)
				s = &e->sensors[idx];
			switch (ud_kind(ud)) {
			case UD_TICK:
				if (ud_gen(ud) == e->tick_gen)
					on_tick(e, now);
				break;
			case UD_DEADLINE:
				if (ud_gen(ud) == e->deadline_gen &&
				    e->collecting)
					publish(e);
				break;
			case UD_SWEEP:
				if (ud_gen(ud) == e->sweep_gen)
					sweep(e, now);
				break;
			case UD_SIGNAL:
				on_signal(e, res);
				break;
			case UD_WAKE:
				if (res > 0)
					RING_FILLED(&e->wake_buf, (size_t)res);
				on_files(e, now);
				submit_wake_read(e);
				break;
			case UD_READ:
				on_read(e, s, res, ud_gen(ud) != s->io_gen,
					now);
				break;
			case UD_MREAD:
				on_mread(e, s, cqe, ud_gen(ud) != s->io_gen,
					 now);
				break;
			case UD_CONNECT:
				on_connect(e, s, res, ud_gen(ud) != s->io_gen,
					   now);
				break;
			case UD_SEND:
				on_send(e, s, res, ud_gen(ud) != s->io_gen,
					now);
				break;
			case UD_BACKOFF:
				if (ud_gen(ud) == s->timer_gen &&
				    s->phase == ENGINE_BACKOFF) {
					start_attempt(e, s, now);
					if (e->have_files)
						kick_files(e, now);
				}
				break;
			case UD_POOL:
				if (ud_gen(ud) == e->pool_gen && e->have_files)
					on_pool(e, now);
				break;
			case UD_BREAKER:
				if (ud_gen(ud) == s->breaker_gen) {
					uint64_t next;

					log_transition(s, engine_breaker_poll(
								  s->breaker,
								  now, &next));
					arm_breaker_timer(e, s);
				}
				break;
			default:
				break;
			}
		}
		io_uring_cq_advance(&e->ring, seen);
		if (e->reload && !e->collecting && !e->stopping) {
			e->reload = false;
			if (reload(e, now) < 0)
				break;
		}
		if (e->stop_at_ns != 0 && now >= e->stop_at_ns && !e->stopping)
			e->stopping = true;
		if (e->deadline_overflow) {
			engine_log(ENGINE_LOG_ERROR,
				   "out of memory for attempt deadlines");
			ret = -ENOMEM;
			break;
		}
	}
	ret = 0;
	write_stats(e, engine_now_ns());
	ringside_writer_close(&e->seg, 0);
	e->seg_open = false;
	engine_log(ENGINE_LOG_INFO, "engine %s: stopped after %llu batches",
		   e->cfg->name,
		   (unsigned long long)e->stats.counter[RINGSIDE_EC_BATCHES]);
err_files:
	dataplane_stop(e);
err_ring:
	io_uring_queue_exit(&e->ring);
	if (e->br != NULL)
		munmap(e->br, e->nbufs * sizeof(struct io_uring_buf));
	free(e->bufs);
	e->br = NULL;
	e->bufs = NULL;
err_sensors:
	close(e->signal_fd);
	e->signal_fd = -1;
	return ret < 0 ? 1 : 0;
}

void engine_release(struct engine *e)
{
	engine_deadlines_exit(&e->deadlines);
	struct engine_retired *r, *next;
	bool stuck = e->files_stuck;

	/*
	 * A file worker still stuck in a read points into its sensors: those
	 * are left to the process's exit rather than freed under it.
	 */
	for (r = e->retired; r != NULL; r = next) {
		next = r->next;
		if (!r->files_stuck)
			sensors_free(r->sensors, r->nsensors, r->readings);
		if (r->cfg_owned) {
			engine_config_exit(r->cfg);
			free(r->cfg);
		}
		free(r);
	}
	e->retired = NULL;
	if (!stuck)
		sensors_free(e->sensors, e->nsensors, e->readings);
	e->sensors = NULL;
	e->readings = NULL;
	if (e->cfg_owned) {
		engine_config_exit(e->cfg);
		free(e->cfg);
		e->cfg = NULL;
	}
}
