/* SPDX-License-Identifier: MIT */
/*
 * threads.c - peer-threads: the lecture's decorators ported to C as they
 * stand, one thread per sensor.
 *
 * Each sensor thread runs its own tick loop on the shared schedule
 * (clock_nanosleep to an absolute CLOCK_MONOTONIC tick time) and at each
 * tick makes one call through its own circuit breaker (engine_breaker_*),
 * which wraps the retry loop: attempts made with blocking reads bounded by
 * poll() timeouts, and between attempts a sleep of engine_backoff_delay().
 *
 *   file:            pread at offset 0 and parse;
 *   stream:, push sockets
 *                    the thread drains the descriptor whenever it waits
 *                    (between ticks, in a backoff), so every line is
 *                    stamped when it arrives; an attempt takes the newest
 *                    record if fresh (age <= max_age) and unused, or polls
 *                    up to the timeout for the next one;
 *   request sockets  connect (poll for POLLOUT), send, poll + read one
 *                    line; a timed-out attempt closes the connection.
 *
 * A call that runs past the next tick makes the thread skip the ticks it
 * overran, so a sensor has at most one call in flight, as in the engine.
 *
 * The collector (the main thread) publishes a batch per tick from the
 * sensors' newest results with engine_batch_entry(), the engine's rule:
 * at tick + deadline, or as soon as every call started at that tick has
 * ended.  To know that, each sensor has an "open tick", the one tick whose
 * batch still waits for it (the tick of its call in flight, or the next
 * tick it will run), and open_count[] counts sensors per open tick; the
 * batch of tick n is complete when open_count[n] is zero.  One mutex
 * guards the results, the open ticks and the counts; the breakers, the
 * generators and the sources are each owned by one sensor thread.
 *
 * Threads get 64 KiB stacks, so that 10000 sensors fit.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "batch.h"
#include "breaker.h"
#include "common.h"

#define SYSTEM "threads"
#define STACK_SIZE (64 * 1024)
/*
 * Open ticks are counted modulo OPEN_RING: a call would have to outlast
 * OPEN_RING periods to be counted in a later tick's slot (which would only
 * hold that batch back until its deadline).
 */
#define OPEN_RING 4096

struct tsensor {
	const struct engine_config_sensor *cfg;
	bool push;
	bool socket;
	struct engine_breaker *breaker;
	struct engine_backoff_rng rng;
	int fd;
	struct engine_frame *frame;
	struct peer_record rec;
	struct peer_addr addr;

	/* Under col.lock. */
	struct engine_result result;
	uint64_t rejected_tick;
	uint64_t open_tick;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t done; /* open_count[waiting % OPEN_RING] became 0 */
	uint32_t open_count[OPEN_RING];
	uint64_t waiting; /* the tick the collector waits for, or MAX */
	/*
	 * Ticks below `collected` are published (or skipped).  Written under
	 * the lock, read without it by a sensor about to start a call; one
	 * that finds its previous tick not yet published waits on `turn`.
	 */
	_Atomic uint64_t collected;
	pthread_cond_t turn;
	uint32_t turn_waiters;
	struct peer_ticks ticks;
	struct tsensor *sensors;
	uint32_t nsensors;
} col = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.turn = PTHREAD_COND_INITIALIZER,
	.waiting = UINT64_MAX,
};

/*
 * Before a call of tick @n, the batch of tick n - 1 must be out: it may
 * still need this sensor's previous result, which the call would replace.
 * The engine keeps that order by publishing a batch before it starts the
 * next tick; here the collector may be a moment behind the sensors when
 * the deadline is the period (the tick and the deadline fall together).
 */
static void turn_wait(uint64_t n)
{
	if (atomic_load_explicit(&col.collected, memory_order_acquire) >= n)
		return;
	pthread_mutex_lock(&col.lock);
	col.turn_waiters++;
	while (atomic_load_explicit(&col.collected, memory_order_relaxed) < n &&
	       !peer_stop_requested)
		pthread_cond_wait(&col.turn, &col.lock);
	col.turn_waiters--;
	pthread_mutex_unlock(&col.lock);
}

/* Ticks below @n are done with; called under col.lock. */
static void turn_give(uint64_t n)
{
	atomic_store_explicit(&col.collected, n, memory_order_release);
	if (col.turn_waiters > 0)
		pthread_cond_broadcast(&col.turn);
}

/* Move @s's open tick to @to; called under col.lock. */
static void open_move(struct tsensor *s, uint64_t to)
{
	uint32_t *from = &col.open_count[s->open_tick % OPEN_RING];

	if (--*from == 0 && col.waiting == s->open_tick)
		pthread_cond_signal(&col.done);
	col.open_count[to % OPEN_RING]++;
	s->open_tick = to;
}

/* ---- sources ------------------------------------------------------------- */

static void source_close(struct tsensor *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->frame != NULL)
		engine_frame_reset(s->frame);
}

/* Poll @fd for @events until @deadline: 1 ready, 0 timed out, -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		uint64_t now = peer_now_ns();
		struct timespec ts;
		int r;

		if (now >= deadline)
			return 0;
		ts.tv_sec = (time_t)((deadline - now) / PEER_NS);
		ts.tv_nsec = (long)((deadline - now) % PEER_NS);
		r = ppoll(&pfd, 1, &ts, NULL);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* Take in what a push source has; a failure closes it.  Returns 0/-errno. */
static int drain_once(struct tsensor *s)
{
	int ret = peer_push_read(s->fd, s->socket, s->frame, &s->cfg->value,
				 &s->rec, peer_now_ns());

	if (ret >= 0 || ret == -EAGAIN)
		return 0;
	source_close(s);
	return ret;
}

/*
 * Wait until @at; a push source open meanwhile is drained, so that its
 * records are stamped when they arrive, as the engine stamps them.
 */
static void wait_until(struct tsensor *s, uint64_t at)
{
	while (s->push && s->fd >= 0 && !peer_stop_requested) {
		if (wait_fd(s->fd, POLLIN, at) <= 0)
			return;
		drain_once(s);
	}
	peer_sleep_until(at);
}

/* Open a stream or connect a socket by @deadline: 0 or -errno. */
static int source_open(struct tsensor *s, uint64_t deadline)
{
	bool pending;
	int fd, r;

	if (!s->socket) {
		fd = peer_stream_open(s->cfg->source.path);
		if (fd < 0)
			return fd;
		s->fd = fd;
		engine_frame_reset(s->frame);
		return 0;
	}
	fd = peer_socket_connect(&s->addr, 0, &pending);
	if (fd < 0)
		return fd;
	s->fd = fd;
	engine_frame_reset(s->frame);
	if (!pending)
		return 0;
	r = wait_fd(fd, POLLOUT, deadline);
	if (r == 0)
		r = -ETIMEDOUT;
	else if (r > 0)
		r = peer_socket_error(fd);
	if (r < 0)
		source_close(s);
	return r;
}

/* ---- attempts and calls -------------------------------------------------- */

static int attempt_push(struct tsensor *s, uint64_t deadline, double *value)
{
	int ret, err;

	if (s->fd < 0 && (ret = source_open(s, deadline)) < 0)
		return ret;
	for (;;) {
		if (peer_record_take(&s->rec, peer_now_ns(), s->cfg->max_age_ns,
				     &err, value))
			return -err;
		ret = wait_fd(s->fd, POLLIN, deadline);
		if (ret == 0)
			return -ETIMEDOUT; /* the source stays open */
		if (ret < 0 || (ret = drain_once(s)) < 0)
			return ret;
	}
}

static int attempt_request(struct tsensor *s, uint64_t deadline, double *value)
{
	int ret, err;

	if (s->fd < 0 && (ret = source_open(s, deadline)) < 0)
		return ret;
	/* Leftovers of an earlier reply are never this one's answer. */
	engine_frame_reset(s->frame);
	ret = peer_request_send(s->fd, s->cfg);
	while (ret == 0) {
		ret = wait_fd(s->fd, POLLIN, deadline);
		if (ret == 0)
			ret = -ETIMEDOUT;
		else if (ret > 0)
			ret = peer_reply_read(s->fd, s->frame, &s->cfg->value,
					      &err, value);
		if (ret == -EAGAIN)
			ret = 0;
		else if (ret == 1)
			return -err;
	}
	/* A late reply must never answer a later request. */
	source_close(s);
	return ret;
}

static int attempt(struct tsensor *s, double *value)
{
	char buf[PEER_FILE_BUF];
	uint64_t deadline = peer_now_ns() + s->cfg->timeout_ns;

	switch (s->cfg->source.kind) {
	case ENGINE_CONFIG_SOURCE_FILE:
		return peer_file_read(s->cfg, &s->fd, buf, value);
	default:
		break;
	}
	if (s->push)
		return attempt_push(s, deadline, value);
	return attempt_request(s, deadline, value);
}

/* The lecture's retry decorator: attempts, with a backoff between. */
static int call(struct tsensor *s, double *value, uint32_t *attempts)
{
	struct engine_backoff_policy pol = {
		.base_ns = s->cfg->retry_base_ns,
		.max_ns = s->cfg->retry_max_ns,
		.jitter = (enum engine_backoff_jitter)s->cfg->retry_jitter,
	};
	uint64_t prev_wait = 0;
	uint32_t n = 0;
	int ret;

	for (;;) {
		ret = attempt(s, value);
		n++;
		if (ret == 0 || n >= s->cfg->retry_attempts)
			break;
		prev_wait = engine_backoff_delay(&pol, n, prev_wait, &s->rng);
		wait_until(s, peer_now_ns() + prev_wait);
	}
	*attempts = n;
	return ret;
}

static void *sensor_main(void *p)
{
	struct tsensor *s = p;
	struct engine_breaker_ticket ticket;
	uint64_t n = 0, now, start, dummy;
	uint32_t attempts;
	double value = 0;
	int err;

	/* The schedule is set by the time the creator lets go of the lock. */
	pthread_mutex_lock(&col.lock);
	pthread_mutex_unlock(&col.lock);
	for (;;) {
		uint64_t due;

		if (peer_tick_stops(&col.ticks, n))
			break;
		wait_until(s, peer_tick_ns(&col.ticks, n));
		if (peer_now_ns() < peer_tick_ns(&col.ticks, n))
			continue; /* a push source failed while waiting */
		turn_wait(n);
		now = peer_now_ns();
		/* Woken late: the batch of tick n may be over already. */
		due = peer_tick_due(&col.ticks, n, now, &dummy);
		if (due != n) {
			pthread_mutex_lock(&col.lock);
			open_move(s, due);
			pthread_mutex_unlock(&col.lock);
			n = due;
			continue;
		}
		/* The lecture's circuit breaker wraps the retry decorator. */
		if (engine_breaker_admit(s->breaker, now, &ticket) ==
		    ENGINE_BREAKER_REJECT) {
			pthread_mutex_lock(&col.lock);
			s->rejected_tick = n;
			open_move(s, n + 1);
			pthread_mutex_unlock(&col.lock);
			n++;
			continue;
		}
		start = now;
		err = -call(s, &value, &attempts);
		now = peer_now_ns();
		engine_breaker_record(s->breaker, &ticket, err == 0, now);

		pthread_mutex_lock(&col.lock);
		engine_result_end(&s->result, n, err, value, attempts, start,
				  now);
		/* The ticks this call overran start no call of this sensor. */
		n = peer_tick_from(&col.ticks, n + 1, now);
		open_move(s, n);
		pthread_mutex_unlock(&col.lock);
	}
	return NULL;
}

/* ---- the collector ------------------------------------------------------- */

static void collect(struct peer_report *rep)
{
	struct ringside_reading r;
	uint64_t n = 0, now = peer_now_ns();

	for (;;) {
		uint64_t tick_ns, dl;
		struct timespec ts;
		uint32_t i, ok = 0;

		n = peer_tick_due(&col.ticks, n, now, &rep->missed_ticks);
		if (peer_tick_stops(&col.ticks, n))
			break;
		tick_ns = peer_tick_ns(&col.ticks, n);
		if (tick_ns > now) {
			peer_sleep_until(tick_ns);
			now = peer_now_ns();
			continue; /* asks again: the sleep may have overrun */
		}
		dl = tick_ns + col.ticks.deadline_ns;
		ts.tv_sec = (time_t)(dl / PEER_NS);
		ts.tv_nsec = (long)(dl % PEER_NS);
		pthread_mutex_lock(&col.lock);
		if (atomic_load_explicit(&col.collected, memory_order_relaxed) <
		    n)
			turn_give(n); /* the ticks skipped */
		col.waiting = n;
		while (col.open_count[n % OPEN_RING] > 0 &&
		       !peer_stop_requested)
			if (pthread_cond_timedwait(&col.done, &col.lock, &ts) ==
			    ETIMEDOUT)
				break;
		col.waiting = UINT64_MAX;
		for (i = 0; i < col.nsensors; i++) {
			struct tsensor *s = &col.sensors[i];

			ok += (uint32_t)engine_batch_entry(
				&s->result, s->rejected_tick, n, &r);
		}
		turn_give(n + 1);
		pthread_mutex_unlock(&col.lock);
		now = peer_now_ns();
		peer_report_batch(rep, ok, col.nsensors, now - tick_ns);
		n++;
	}
}

/* ---- setup --------------------------------------------------------------- */

static int sensors_init(const struct engine_config *cfg)
{
	uint64_t seed = peer_seed();
	uint32_t i;

	col.nsensors = (uint32_t)cfg->nr_sensors;
	col.sensors = calloc(col.nsensors, sizeof(*col.sensors));
	if (col.sensors == NULL)
		return -ENOMEM;
	for (i = 0; i < col.nsensors; i++) {
		struct tsensor *s = &col.sensors[i];
		const struct engine_config_sensor *c = &cfg->sensors[i];
		s->cfg = c;
		s->fd = -1;
		s->rejected_tick = UINT64_MAX;
		s->push = peer_is_push(c);
		s->socket = c->source.kind == ENGINE_CONFIG_SOURCE_TCP ||
			    c->source.kind == ENGINE_CONFIG_SOURCE_UNIX;
		s->breaker = peer_breaker_new(c);
		if (s->breaker == NULL)
			return -ENOMEM;
		engine_backoff_rng_seed(&s->rng, seed,
					engine_backoff_hash(c->name));
		if (c->source.kind == ENGINE_CONFIG_SOURCE_FILE)
			continue;
		s->frame = malloc(sizeof(*s->frame));
		if (s->frame == NULL)
			return -ENOMEM;
		engine_frame_init(s->frame);
		if (s->socket)
			peer_addr_resolve(c, &s->addr);
	}
	/* Every sensor owes tick 0 its call. */
	col.open_count[0] = col.nsensors;
	return 0;
}

int main(int argc, char **argv)
{
	struct engine_config cfg;
	struct peer_report rep;
	struct peer_args args;
	pthread_condattr_t ca;
	pthread_attr_t attr;
	pthread_t tid;
	uint32_t i;
	int ret;

	ret = peer_args_parse(argc, argv, SYSTEM,
			      "one thread per sensor, blocking reads with "
			      "poll timeouts, sleeping backoff",
			      &args);
	if (ret != 0)
		return ret > 0 ? 0 : 2;
	peer_process_init();
	if (peer_config_load(&cfg, args.config, SYSTEM) < 0)
		return 2;
	if (sensors_init(&cfg) < 0 ||
	    peer_report_init(&rep, args.duration_ns, cfg.period_ns) < 0) {
		fprintf(stderr, "peer-%s: out of memory\n", SYSTEM);
		return 1;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&col.done, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);

	/* The schedule starts once every thread exists (creating them is
	 * startup, not a tick); they wait on the lock until it is set. */
	pthread_mutex_lock(&col.lock);
	for (i = 0; i < col.nsensors; i++) {
		ret = pthread_create(&tid, &attr, sensor_main, &col.sensors[i]);
		if (ret != 0) {
			fprintf(stderr, "peer-%s: thread %u of %u: %s\n",
				SYSTEM, i + 1, col.nsensors, strerror(ret));
			return 1;
		}
	}
	pthread_attr_destroy(&attr);
	peer_ticks_init(&col.ticks, &cfg, args.duration_ns, peer_now_ns());
	pthread_mutex_unlock(&col.lock);

	collect(&rep);
	peer_report_print(&rep, SYSTEM, col.nsensors);
	/* Sensor threads may be inside a call (a backoff of seconds); the
	 * process ends them. */
	_exit(0);
}
