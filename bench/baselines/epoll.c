/* SPDX-License-Identifier: MIT */
/*
 * epoll.c - peer-epoll: the engine's semantics as the best hand-written
 * single-threaded C loop, with epoll instead of io_uring.
 *
 * One thread, one epoll set, one timerfd.  The timerfd is armed, on an
 * absolute CLOCK_MONOTONIC time, at the earliest thing the loop waits for:
 * the next tick, the deadline of the batch being collected, or the top of
 * a min-heap of per-sensor deadlines (attempt timeouts, retry backoffs,
 * breaker open -> half-open).  Entries of the heap are never removed when
 * what they time ends; they are recognised as stale by a generation, and
 * stale entries on top are dropped before the timer is armed, so that a
 * call that ended in time costs no wake-up.
 *
 * At a tick every sensor without a call in flight asks its breaker
 * (engine_breaker_admit); a refused call shows as "open" without any
 * syscall; an admitted one starts its first attempt:
 *
 *   file:           pread at offset 0 and parse, inline (the attempt ends
 *                   on the spot);
 *   stream:, push sockets
 *                   the descriptor stays registered for EPOLLIN and is
 *                   drained as data arrives (one read per readiness), each
 *                   line parsed and stamped; an attempt takes the newest
 *                   record if it is fresh (age <= max_age) and unused, or
 *                   waits up to the timeout for the next one;
 *   request sockets non-blocking connect (EPOLLOUT while it is in
 *                   progress), send the request, take the first line read
 *                   after it; a timed-out attempt closes the connection, so
 *                   a late reply is never taken for a later request.
 *
 * A failed attempt is retried after engine_backoff_delay(); the call's
 * result goes to the breaker (engine_breaker_record) and becomes the
 * sensor's engine_result.  The batch of a tick, assembled with
 * engine_batch_entry() exactly as the engine assembles it, is published
 * when every call started at that tick has ended, or at tick + deadline.
 * A sensor has at most one call in flight; ticks missed while the loop
 * could not run are skipped and counted, never published late.
 *
 * The batch goes into memory (counted), as docs/bench.md allows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "backoff.h"
#include "batch.h"
#include "breaker.h"
#include "common.h"
#include "deadline.h"

#define SYSTEM "epoll"
#define EVENTS_MAX 512
#define TIMER_TAG UINT64_MAX

/* The kind of a heap entry, in the top bits of its sensor field. */
enum timer_kind {
	TIMER_ATTEMPT = 0, /* the attempt's timeout */
	TIMER_BACKOFF = 1, /* the wait before the next attempt */
	TIMER_BREAKER = 2, /* open -> half-open */
};
#define KIND_SHIFT 30
#define SENSOR_MASK ((1u << KIND_SHIFT) - 1)

enum phase {
	PHASE_IDLE,
	PHASE_BACKOFF,
	PHASE_ATTEMPT,
};

enum conn {
	CONN_CLOSED,
	CONN_CONNECTING,
	CONN_OPEN,
};

struct sensor {
	const struct engine_config_sensor *cfg;
	uint32_t index;
	bool push;
	bool socket;

	/* The call in flight and its attempt. */
	enum phase phase;
	uint64_t call_tick;
	uint64_t call_start_ns;
	uint32_t attempt;
	uint64_t prev_wait_ns;
	uint32_t attempt_gen;
	uint32_t backoff_gen;
	uint32_t breaker_gen;
	struct engine_breaker_ticket ticket;
	uint64_t rejected_tick;
	struct engine_result result;
	struct engine_breaker *breaker;
	struct engine_backoff_rng rng;

	/* The source. */
	int fd;
	enum conn conn;
	uint32_t io_gen; /* tells this descriptor's events from older ones */
	bool sending;	 /* a request is out, its reply awaited */
	struct engine_frame *frame;
	struct peer_record rec;
	struct peer_addr addr;
};

struct loop {
	struct engine_config cfg;
	struct sensor *sensors;
	uint32_t nsensors;
	int epfd;
	int tfd;
	uint64_t armed_ns; /* what the timerfd is set to; 0: nothing */
	struct engine_deadlines heap;
	struct peer_ticks ticks;
	struct peer_report rep;

	uint64_t tick;	       /* the tick being or last collected */
	uint64_t tick_ns;      /* its time */
	uint64_t next_tick;    /* the tick to start next */
	uint64_t next_tick_ns; /* its time */
	bool collecting;
	uint32_t outstanding; /* calls of this tick not ended */
	bool stopping;
	bool heap_failed;
	char filebuf[PEER_FILE_BUF];
};

static void start_attempt(struct loop *l, struct sensor *s, uint64_t now);

/* ---- timers -------------------------------------------------------------- */

static void timer_push(struct loop *l, struct sensor *s, enum timer_kind kind,
		       uint64_t at, uint32_t gen)
{
	if (engine_deadlines_push(&l->heap, at,
				  s->index | (uint32_t)kind << KIND_SHIFT,
				  gen) < 0)
		l->heap_failed = true;
}

/* True when the heap entry @d still times something. */
static bool timer_live(const struct loop *l, const struct engine_deadline *d)
{
	const struct sensor *s = &l->sensors[d->sensor & SENSOR_MASK];

	switch ((enum timer_kind)(d->sensor >> KIND_SHIFT)) {
	case TIMER_ATTEMPT:
		return s->phase == PHASE_ATTEMPT && s->attempt_gen == d->gen;
	case TIMER_BACKOFF:
		return s->phase == PHASE_BACKOFF && s->backoff_gen == d->gen;
	case TIMER_BREAKER:
		return s->breaker_gen == d->gen;
	}
	return false;
}

/* Arm the timerfd at the earliest thing waited for. */
static void timer_arm(struct loop *l)
{
	const struct engine_deadline *top;
	struct engine_deadline d;
	struct itimerspec its;
	uint64_t at = l->next_tick_ns;

	while ((top = engine_deadlines_peek(&l->heap)) != NULL &&
	       !timer_live(l, top))
		engine_deadlines_pop(&l->heap, &d);
	if (top != NULL && top->at < at)
		at = top->at;
	if (l->collecting && l->tick_ns + l->ticks.deadline_ns < at)
		at = l->tick_ns + l->ticks.deadline_ns;
	if (at == l->armed_ns)
		return;
	l->armed_ns = at;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(at / PEER_NS);
	its.it_value.tv_nsec = (long)(at % PEER_NS);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1; /* 0 would disarm it */
	timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* ---- publication --------------------------------------------------------- */

static void publish(struct loop *l, uint64_t now)
{
	struct ringside_reading r;
	uint32_t i, ok = 0;

	for (i = 0; i < l->nsensors; i++) {
		struct sensor *s = &l->sensors[i];

		ok += (uint32_t)engine_batch_entry(&s->result, s->rejected_tick,
						   l->tick, &r);
	}
	peer_report_batch(&l->rep, ok, l->nsensors, now - l->tick_ns);
	l->collecting = false;
}

/* ---- calls and attempts -------------------------------------------------- */

static void call_end(struct loop *l, struct sensor *s, int err, double value,
		     uint64_t now)
{
	enum engine_breaker_transition t;

	s->phase = PHASE_IDLE;
	engine_result_end(&s->result, s->call_tick, err, value, s->attempt,
			  s->call_start_ns, now);

	/* The breaker wraps the retry: one result per call. */
	t = engine_breaker_record(s->breaker, &s->ticket, err == 0, now);
	if (t == ENGINE_BREAKER_OPENED || t == ENGINE_BREAKER_REOPENED) {
		struct engine_breaker_stats bs;

		engine_breaker_stats(s->breaker, &bs);
		timer_push(l, s, TIMER_BREAKER, bs.deadline_ns,
			   ++s->breaker_gen);
	}
	if (l->collecting && s->call_tick == l->tick && --l->outstanding == 0)
		publish(l, now);
}

static void attempt_end(struct loop *l, struct sensor *s, int err, double value,
			uint64_t now)
{
	struct engine_backoff_policy pol;
	uint64_t wait;

	if (s->phase != PHASE_ATTEMPT)
		return;
	if (err == 0 || s->attempt >= s->cfg->retry_attempts) {
		call_end(l, s, err, value, now);
		return;
	}
	pol.base_ns = s->cfg->retry_base_ns;
	pol.max_ns = s->cfg->retry_max_ns;
	pol.jitter = (enum engine_backoff_jitter)s->cfg->retry_jitter;
	wait = engine_backoff_delay(&pol, s->attempt, s->prev_wait_ns, &s->rng);
	s->prev_wait_ns = wait;
	s->phase = PHASE_BACKOFF;
	timer_push(l, s, TIMER_BACKOFF, now + wait, ++s->backoff_gen);
}

static void start_call(struct loop *l, struct sensor *s, uint64_t now)
{
	if (engine_breaker_admit(s->breaker, now, &s->ticket) ==
	    ENGINE_BREAKER_REJECT) {
		s->rejected_tick = l->tick; /* fail fast: no syscall */
		return;
	}
	s->call_tick = l->tick;
	s->call_start_ns = now;
	s->attempt = 0;
	s->prev_wait_ns = 0;
	l->outstanding++;
	start_attempt(l, s, now);
}

/* ---- sources ------------------------------------------------------------- */

static void source_close(struct sensor *s)
{
	if (s->fd < 0)
		return;
	close(s->fd); /* leaves the epoll set with it */
	s->fd = -1;
	s->conn = CONN_CLOSED;
	s->sending = false;
	s->io_gen++; /* events already fetched for it are stale */
	engine_frame_reset(s->frame);
}

static int watch(struct loop *l, struct sensor *s, int op, uint32_t events)
{
	struct epoll_event ev = {
		.events = events,
		.data.u64 = (uint64_t)s->index << 32 | s->io_gen,
	};

	return epoll_ctl(l->epfd, op, s->fd, &ev) < 0 ? errno : 0;
}

/* Open a stream or start a connect; 0, or a positive errno. */
static int source_open(struct loop *l, struct sensor *s)
{
	bool pending = false;
	int fd, err;

	if (s->socket)
		fd = peer_socket_connect(&s->addr, 0, &pending);
	else
		fd = peer_stream_open(s->cfg->source.path);
	if (fd < 0)
		return -fd;
	s->fd = fd;
	s->conn = pending ? CONN_CONNECTING : CONN_OPEN;
	engine_frame_reset(s->frame);
	err = watch(l, s, EPOLL_CTL_ADD, pending ? EPOLLOUT : EPOLLIN);
	if (err != 0)
		source_close(s);
	return err;
}

static void send_request(struct loop *l, struct sensor *s, uint64_t now)
{
	int ret;

	/* Leftovers of an earlier reply are never this one's answer. */
	engine_frame_reset(s->frame);
	ret = peer_request_send(s->fd, s->cfg);
	if (ret < 0) {
		source_close(s);
		attempt_end(l, s, -ret, 0, now);
		return;
	}
	s->sending = true;
}

static bool take_record(struct loop *l, struct sensor *s, uint64_t now)
{
	double v;
	int err;

	if (!peer_record_take(&s->rec, now, s->cfg->max_age_ns, &err, &v))
		return false;
	attempt_end(l, s, err, v, now);
	return true;
}

static void start_attempt(struct loop *l, struct sensor *s, uint64_t now)
{
	double v = 0;
	int err;

	s->attempt++;
	s->phase = PHASE_ATTEMPT;
	s->attempt_gen++;
	if (s->cfg->source.kind == ENGINE_CONFIG_SOURCE_FILE) {
		err = -peer_file_read(s->cfg, &s->fd, l->filebuf, &v);
		attempt_end(l, s, err, v, now);
		return;
	}
	if (s->conn == CONN_CLOSED) {
		err = source_open(l, s);
		if (err != 0) {
			attempt_end(l, s, err, 0, now);
			return;
		}
	}
	if (s->push && s->conn == CONN_OPEN && take_record(l, s, now))
		return;
	timer_push(l, s, TIMER_ATTEMPT, now + s->cfg->timeout_ns,
		   s->attempt_gen);
	if (!s->push && s->conn == CONN_OPEN)
		send_request(l, s, now);
}

/* Readiness of a sensor's descriptor. */
static void on_event(struct loop *l, struct sensor *s, uint32_t events,
		     uint64_t now)
{
	int ret, err;
	double v;

	if (s->conn == CONN_CONNECTING) {
		ret = peer_socket_error(s->fd);
		if (ret == 0 && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (ret == 0)
			ret = -watch(l, s, EPOLL_CTL_MOD, EPOLLIN);
		if (ret < 0) {
			source_close(s);
			attempt_end(l, s, -ret, 0, now);
			return;
		}
		s->conn = CONN_OPEN;
		if (s->phase != PHASE_ATTEMPT)
			return;
		if (!s->push)
			send_request(l, s, now);
		else
			take_record(l, s, now);
		return;
	}
	if (s->push) {
		ret = peer_push_read(s->fd, s->socket, s->frame, &s->cfg->value,
				     &s->rec, now);
		if (ret == -EAGAIN)
			return;
		if (ret < 0) {
			/* EOF or an error: reopened by the next attempt. */
			source_close(s);
			attempt_end(l, s, -ret, 0, now);
			return;
		}
		if (s->phase == PHASE_ATTEMPT)
			take_record(l, s, now);
		return;
	}
	ret = peer_reply_read(s->fd, s->frame, &s->cfg->value, &err, &v);
	if (ret == -EAGAIN || ret == 0)
		return;
	if (ret < 0) {
		source_close(s);
		attempt_end(l, s, -ret, 0, now);
		return;
	}
	/* The first line after the request answers it; others are noise. */
	if (s->sending && s->phase == PHASE_ATTEMPT) {
		s->sending = false;
		attempt_end(l, s, err, v, now);
	}
}

/* ---- time ---------------------------------------------------------------- */

static void on_timer_entry(struct loop *l, const struct engine_deadline *d,
			   uint64_t now)
{
	struct sensor *s = &l->sensors[d->sensor & SENSOR_MASK];
	uint64_t next;

	switch ((enum timer_kind)(d->sensor >> KIND_SHIFT)) {
	case TIMER_ATTEMPT:
		/* A request's connection closes, and so does a connect in
		 * progress; a push source stays open and drained. */
		if (!s->push || s->conn == CONN_CONNECTING)
			source_close(s);
		attempt_end(l, s, ETIMEDOUT, 0, now);
		break;
	case TIMER_BACKOFF:
		start_attempt(l, s, now);
		break;
	case TIMER_BREAKER:
		engine_breaker_poll(s->breaker, now, &next);
		break;
	}
}

static void start_tick(struct loop *l, uint64_t n, uint64_t now)
{
	uint32_t i;

	l->tick = n;
	l->tick_ns = peer_tick_ns(&l->ticks, n);
	l->collecting = true;
	/* One extra count while calls start: a call that ends on the spot
	 * must not publish before the sensors after it have started. */
	l->outstanding = 1;
	for (i = 0; i < l->nsensors; i++) {
		struct sensor *s = &l->sensors[i];

		if (s->phase == PHASE_IDLE)
			start_call(l, s, now);
	}
	if (--l->outstanding == 0)
		publish(l, peer_now_ns());
}

static void on_tick(struct loop *l, uint64_t now)
{
	uint64_t n;

	if (l->collecting)
		publish(l, now); /* its deadline is this very moment */
	n = peer_tick_due(&l->ticks, l->next_tick, now, &l->rep.missed_ticks);
	if (peer_tick_stops(&l->ticks, n)) {
		l->stopping = true;
		l->next_tick_ns = UINT64_MAX;
		return;
	}
	l->next_tick = n;
	l->next_tick_ns = peer_tick_ns(&l->ticks, n);
	if (l->next_tick_ns > now)
		return; /* skipped to a tick still to come */
	start_tick(l, n, now);
	l->next_tick = n + 1;
	l->next_tick_ns = peer_tick_ns(&l->ticks, n + 1);
}

/* Everything due at the clock, in time order: heap, deadline, tick. */
static void on_time(struct loop *l)
{
	for (;;) {
		uint64_t now = peer_now_ns();
		const struct engine_deadline *top;
		struct engine_deadline d;

		top = engine_deadlines_peek(&l->heap);
		if (top != NULL && top->at <= now) {
			engine_deadlines_pop(&l->heap, &d);
			if (timer_live(l, &d))
				on_timer_entry(l, &d, now);
			continue;
		}
		if (l->collecting && now >= l->tick_ns + l->ticks.deadline_ns) {
			publish(l, now);
			continue;
		}
		if (!l->stopping && now >= l->next_tick_ns) {
			on_tick(l, now);
			continue;
		}
		return;
	}
}

/* ---- setup --------------------------------------------------------------- */

static int sensors_init(struct loop *l)
{
	uint64_t seed = peer_seed();
	uint32_t i;

	l->nsensors = (uint32_t)l->cfg.nr_sensors;
	l->sensors = calloc(l->nsensors, sizeof(*l->sensors));
	if (l->sensors == NULL)
		return -ENOMEM;
	for (i = 0; i < l->nsensors; i++) {
		struct sensor *s = &l->sensors[i];
		const struct engine_config_sensor *c = &l->cfg.sensors[i];
		s->cfg = c;
		s->index = i;
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
	return 0;
}

static void sensors_exit(struct loop *l)
{
	uint32_t i;

	for (i = 0; l->sensors != NULL && i < l->nsensors; i++) {
		struct sensor *s = &l->sensors[i];

		if (s->fd >= 0)
			close(s->fd);
		free(s->frame);
		free(s->breaker);
	}
	free(l->sensors);
}

static int run(struct loop *l, uint64_t duration_ns)
{
	struct epoll_event evs[EVENTS_MAX], tev = {
		.events = EPOLLIN,
		.data.u64 = TIMER_TAG,
	};
	uint64_t now;
	int i, n;

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->epfd < 0 || l->tfd < 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &tev) < 0) {
		perror("peer-epoll: epoll");
		return 1;
	}
	now = peer_now_ns();
	peer_ticks_init(&l->ticks, &l->cfg, duration_ns, now);
	l->next_tick = 0;
	l->next_tick_ns = now;
	on_time(l);
	timer_arm(l);
	while (!(l->stopping && !l->collecting)) {
		n = epoll_wait(l->epfd, evs, EVENTS_MAX, -1);
		if (n < 0) {
			if (errno != EINTR) {
				perror("peer-epoll: epoll_wait");
				return 1;
			}
			n = 0;
		}
		now = peer_now_ns();
		for (i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			struct sensor *s;

			if (tag == TIMER_TAG) {
				uint64_t exp;

				if (read(l->tfd, &exp, sizeof(exp)) < 0)
					(void)0; /* spurious: armed again */
				l->armed_ns = 0;
				on_time(l);
				now = peer_now_ns();
				continue;
			}
			s = &l->sensors[tag >> 32];
			if ((uint32_t)tag == s->io_gen && s->fd >= 0)
				on_event(l, s, evs[i].events, now);
		}
		if (peer_stop_requested && !l->stopping) {
			l->stopping = true;
			l->next_tick_ns = UINT64_MAX;
		}
		if (l->heap_failed) {
			fprintf(stderr, "peer-epoll: out of memory\n");
			return 1;
		}
		timer_arm(l);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct loop l;
	struct peer_args args;
	int ret;

	ret = peer_args_parse(argc, argv, SYSTEM,
			      "one thread, epoll + timerfd, the full semantics",
			      &args);
	if (ret != 0)
		return ret > 0 ? 0 : 2;
	peer_process_init();
	if (peer_config_load(&l.cfg, args.config, SYSTEM) < 0)
		return 2;
	if (sensors_init(&l) < 0 || engine_deadlines_init(&l.heap, 1024) < 0 ||
	    peer_report_init(&l.rep, args.duration_ns, l.cfg.period_ns) < 0) {
		fprintf(stderr, "peer-%s: out of memory\n", SYSTEM);
		return 1;
	}
	ret = run(&l, args.duration_ns);
	if (ret == 0)
		peer_report_print(&l.rep, SYSTEM, l.nsensors);
	sensors_exit(&l);
	engine_deadlines_exit(&l.heap);
	peer_report_exit(&l.rep);
	engine_config_exit(&l.cfg);
	return ret;
}
