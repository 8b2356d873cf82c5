/* SPDX-License-Identifier: MIT */
/*
 * stress_breaker.c - several threads hammer one circuit breaker with
 * admissions, results and polls, on a fake clock they advance together.
 * A plain program (Criterion cannot start under ThreadSanitizer): exit 0
 * when every check held, 1 otherwise; it runs for about two seconds.
 *
 * What it checks, while running and at the end of each phase (when every
 * thread waits at a barrier):
 *   - no half-open generation ever admits more than `probes` probes, and a
 *     generation that closed admitted exactly `probes`;
 *   - the breaker is never stuck open: a poll past the deadline moves it to
 *     half-open, and when all threads poll at the deadline together exactly
 *     one of them makes the transition (the classic CAS race);
 *   - the breaker's `opens` counter equals the number of OPENED and
 *     REOPENED results the threads saw, its `transitions` the number of all
 *     transitions they saw, `probes` and `fast_fails` the PROBE and REJECT
 *     admissions;
 *   - the counts of transitions agree with the state the breaker is in.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backoff.h"
#include "breaker.h"

#define THREADS 4
#define OPS_PER_PHASE 20000
#define RUN_NS 2000000000ULL
#define MAX_GEN (1u << 21)
#define PENDING 4

#define FAILURES 3
#define PROBES 2
#define WINDOW 5000
#define RESET 2000

static struct engine_breaker breaker;
static _Atomic uint64_t fake_clock;
static _Atomic uint32_t *probes_in_gen;
static pthread_barrier_t barrier;
static atomic_bool stop;
static atomic_int failures_seen;

/* What the threads saw. */
static _Atomic uint64_t seen_opened, seen_reopened, seen_half_opened,
	seen_closed, seen_stale, seen_probes, seen_rejects, seen_admits;
static _Atomic uint64_t phase_half_opened;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "stress_breaker: %s:%d: ", __FILE__, \
				__LINE__);                                   \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
			atomic_fetch_add(&failures_seen, 1);                 \
		}                                                            \
	} while (0)

static uint64_t ld(_Atomic uint64_t *a)
{
	return atomic_load(a);
}

static void bump(_Atomic uint64_t *a)
{
	atomic_fetch_add(a, 1);
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void seen_transition(enum engine_breaker_transition t)
{
	switch (t) {
	case ENGINE_BREAKER_OPENED:
		bump(&seen_opened);
		break;
	case ENGINE_BREAKER_REOPENED:
		bump(&seen_reopened);
		break;
	case ENGINE_BREAKER_HALF_OPENED:
		bump(&seen_half_opened);
		break;
	case ENGINE_BREAKER_CLOSED:
		bump(&seen_closed);
		break;
	case ENGINE_BREAKER_STALE:
		bump(&seen_stale);
		break;
	case ENGINE_BREAKER_NONE:
		break;
	}
}

static void do_poll(void)
{
	uint64_t now = atomic_load(&fake_clock);
	uint64_t next;
	enum engine_breaker_transition t;

	t = engine_breaker_poll(&breaker, now, &next);
	CHECK(t == ENGINE_BREAKER_NONE || t == ENGINE_BREAKER_HALF_OPENED,
	      "poll returned %s", engine_breaker_transition_name(t));
	if (t == ENGINE_BREAKER_NONE && next != ENGINE_BREAKER_NO_DEADLINE)
		CHECK(next > now, "poll at %llu left it open, deadline %llu",
		      (unsigned long long)now, (unsigned long long)next);
	seen_transition(t);
}

static void do_record(struct engine_breaker_ticket *t, bool ok)
{
	uint64_t now = atomic_load(&fake_clock);
	enum engine_breaker_transition r;

	r = engine_breaker_record(&breaker, t, ok, now);
	seen_transition(r);
	switch (r) {
	case ENGINE_BREAKER_OPENED:
		CHECK(!ok && t->admission == ENGINE_BREAKER_ADMIT,
		      "opened by a %s that %s",
		      engine_breaker_admission_name(t->admission),
		      ok ? "succeeded" : "failed");
		break;
	case ENGINE_BREAKER_REOPENED:
		CHECK(!ok && t->admission == ENGINE_BREAKER_PROBE,
		      "reopened by a non-probe or a success");
		break;
	case ENGINE_BREAKER_CLOSED:
		CHECK(ok && t->admission == ENGINE_BREAKER_PROBE,
		      "closed by a non-probe or a failure");
		CHECK(atomic_load(&probes_in_gen[t->generation]) == PROBES,
		      "generation %llu closed after %u probes",
		      (unsigned long long)t->generation,
		      atomic_load(&probes_in_gen[t->generation]));
		break;
	case ENGINE_BREAKER_HALF_OPENED:
		CHECK(false, "record returned half_opened");
		break;
	case ENGINE_BREAKER_NONE:
	case ENGINE_BREAKER_STALE:
		break;
	}
}

struct worker {
	pthread_t thread;
	unsigned id;
	struct engine_backoff_rng rng;
	struct engine_breaker_ticket pending[PENDING];
	unsigned n_pending;
};

static void do_admit(struct worker *w)
{
	uint64_t now = atomic_load(&fake_clock);
	struct engine_breaker_ticket t;
	enum engine_breaker_admission a;

	a = engine_breaker_admit(&breaker, now, &t);
	CHECK(a == t.admission, "ticket disagrees with the admission");
	seen_transition(t.transition);
	if (a == ENGINE_BREAKER_REJECT) {
		bump(&seen_rejects);
		return;
	}
	if (a == ENGINE_BREAKER_PROBE) {
		uint32_t n;

		bump(&seen_probes);
		CHECK(t.generation < MAX_GEN, "generation overflowed the test");
		if (t.generation >= MAX_GEN)
			return;
		n = atomic_fetch_add(&probes_in_gen[t.generation], 1) + 1;
		CHECK(n <= PROBES, "generation %llu admitted %u probes",
		      (unsigned long long)t.generation, n);
	} else {
		bump(&seen_admits);
	}
	/* Keep the call in flight for a while; results come back later and
	 * out of order, so some of them go stale. */
	if (w->n_pending == PENDING) {
		do_record(&w->pending[0], false);
		w->pending[0] = w->pending[--w->n_pending];
	}
	w->pending[w->n_pending++] = t;
}

static void one_op(struct worker *w)
{
	uint64_t r = engine_backoff_rng_uniform(&w->rng, 0, 99);

	if (r < 10) {
		atomic_fetch_add(&fake_clock,
				 engine_backoff_rng_uniform(&w->rng, 0, 300));
	} else if (r < 30) {
		do_poll();
	} else if (r < 70) {
		do_admit(w);
	} else if (w->n_pending > 0) {
		unsigned i = (unsigned)engine_backoff_rng_uniform(
			&w->rng, 0, w->n_pending - 1);
		struct engine_breaker_ticket t = w->pending[i];
		/* Probes succeed more often, so that some generations close. */
		unsigned ok_pct = t.admission == ENGINE_BREAKER_PROBE ? 75 : 40;
		bool ok = engine_backoff_rng_uniform(&w->rng, 0, 99) < ok_pct;

		w->pending[i] = w->pending[--w->n_pending];
		do_record(&t, ok);
	}
}

/* Counters and state agree with what the threads saw; run at quiescence. */
static void check_consistent(const char *when)
{
	struct engine_breaker_stats s;
	uint64_t opened = ld(&seen_opened), reopened = ld(&seen_reopened);
	uint64_t half = ld(&seen_half_opened), closed = ld(&seen_closed);

	engine_breaker_stats(&breaker, &s);
	CHECK(s.opens == opened + reopened,
	      "%s: opens %llu, seen %llu opened + %llu reopened", when,
	      (unsigned long long)s.opens, (unsigned long long)opened,
	      (unsigned long long)reopened);
	CHECK(s.transitions == opened + reopened + half + closed,
	      "%s: transitions %llu, seen %llu", when,
	      (unsigned long long)s.transitions,
	      (unsigned long long)(opened + reopened + half + closed));
	CHECK(s.transitions == s.generation, "%s: transitions %llu, gen %llu",
	      when, (unsigned long long)s.transitions,
	      (unsigned long long)s.generation);
	CHECK(s.probes == ld(&seen_probes), "%s: probes %llu, seen %llu", when,
	      (unsigned long long)s.probes,
	      (unsigned long long)ld(&seen_probes));
	CHECK(s.fast_fails == ld(&seen_rejects),
	      "%s: fast_fails %llu, seen %llu", when,
	      (unsigned long long)s.fast_fails,
	      (unsigned long long)ld(&seen_rejects));
	/* Every open but the current one went half-open; every half-open
	 * but the current one closed or reopened. */
	CHECK(half + (s.state == ENGINE_BREAKER_STATE_OPEN) == s.opens,
	      "%s: %llu half-opens for %llu opens, state %s", when,
	      (unsigned long long)half, (unsigned long long)s.opens,
	      engine_breaker_state_name(s.state));
	CHECK(closed + reopened + (s.state == ENGINE_BREAKER_STATE_HALF_OPEN) ==
		      half,
	      "%s: %llu closes + %llu reopens for %llu half-opens, state %s",
	      when, (unsigned long long)closed, (unsigned long long)reopened,
	      (unsigned long long)half, engine_breaker_state_name(s.state));
}

static uint64_t current_generation(void)
{
	struct engine_breaker_stats s;

	engine_breaker_stats(&breaker, &s);
	return s.generation;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t start = wall_ns();
	bool expect_half = false;

	while (!atomic_load(&stop)) {
		for (int i = 0; i < OPS_PER_PHASE; i++)
			one_op(w);

		pthread_barrier_wait(&barrier);
		if (w->id == 0) {
			struct engine_breaker_stats s;

			check_consistent("phase end");
			engine_breaker_stats(&breaker, &s);
			expect_half = s.state == ENGINE_BREAKER_STATE_OPEN;
			/* Jump the clock to the deadline, not past it. */
			if (expect_half &&
			    atomic_load(&fake_clock) < s.deadline_ns)
				atomic_store(&fake_clock, s.deadline_ns);
			atomic_store(&phase_half_opened, 0);
		}
		pthread_barrier_wait(&barrier);

		/* Everyone polls at the deadline together. */
		{
			uint64_t next;
			enum engine_breaker_transition t = engine_breaker_poll(
				&breaker, atomic_load(&fake_clock), &next);

			seen_transition(t);
			if (t == ENGINE_BREAKER_HALF_OPENED)
				bump(&phase_half_opened);
		}
		pthread_barrier_wait(&barrier);

		if (w->id == 0) {
			uint64_t n = ld(&phase_half_opened);

			CHECK(n == (expect_half ? 1u : 0u),
			      "%llu threads half-opened it at the deadline",
			      (unsigned long long)n);
			CHECK(engine_breaker_state(&breaker) !=
				      ENGINE_BREAKER_STATE_OPEN,
			      "still open after a poll at the deadline");
			check_consistent("after the deadline poll");
			if (wall_ns() - start > RUN_NS ||
			    current_generation() > MAX_GEN / 2)
				atomic_store(&stop, true);
		}
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

int main(void)
{
	static struct worker workers[THREADS];
	struct engine_breaker_config cfg = {
		.failures = FAILURES,
		.probes = PROBES,
		.window_ns = WINDOW,
		.reset_ns = RESET,
	};
	uint64_t start = wall_ns();

	probes_in_gen = calloc(MAX_GEN, sizeof(*probes_in_gen));
	if (!probes_in_gen) {
		perror("stress_breaker: calloc");
		return 1;
	}
	if (engine_breaker_init(&breaker, &cfg, 0) < 0) {
		fprintf(stderr, "stress_breaker: bad configuration\n");
		return 1;
	}
	pthread_barrier_init(&barrier, NULL, THREADS);
	for (unsigned i = 0; i < THREADS; i++) {
		workers[i].id = i;
		engine_backoff_rng_seed(&workers[i].rng, 2024, i);
		if (pthread_create(&workers[i].thread, NULL, work,
				   &workers[i]) != 0) {
			fprintf(stderr, "stress_breaker: pthread_create\n");
			return 1;
		}
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(workers[i].thread, NULL);
	pthread_barrier_destroy(&barrier);

	/* The results still in flight come back: all stale or consistent. */
	for (unsigned i = 0; i < THREADS; i++)
		for (unsigned j = 0; j < workers[i].n_pending; j++)
			do_record(&workers[i].pending[j], true);
	check_consistent("end");

	/* A run that never closed, reopened or went stale proved nothing. */
	CHECK(ld(&seen_opened) > 0 && ld(&seen_reopened) > 0 &&
		      ld(&seen_closed) > 0 && ld(&seen_stale) > 0,
	      "the run did not exercise every transition");
	printf("stress_breaker: %d threads, %.1f s: %llu admits, %llu probes, "
	       "%llu rejects; %llu opened, %llu half-opened, %llu closed, "
	       "%llu reopened, %llu stale: %s\n",
	       THREADS, (double)(wall_ns() - start) / 1e9,
	       (unsigned long long)ld(&seen_admits),
	       (unsigned long long)ld(&seen_probes),
	       (unsigned long long)ld(&seen_rejects),
	       (unsigned long long)ld(&seen_opened),
	       (unsigned long long)ld(&seen_half_opened),
	       (unsigned long long)ld(&seen_closed),
	       (unsigned long long)ld(&seen_reopened),
	       (unsigned long long)ld(&seen_stale),
	       atomic_load(&failures_seen) ? "FAILED" : "ok");
	free(probes_in_gen);
	return atomic_load(&failures_seen) ? 1 : 0;
}
