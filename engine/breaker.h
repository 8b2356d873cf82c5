/* SPDX-License-Identifier: MIT */
/*
 * breaker.h - a lock-free circuit breaker, one per sensor.
 *
 * The breaker wraps a call (one tick's whole chain of attempts): it counts a
 * call's result once, opens when `failures` failed calls fall within
 * `window_ns`, fails fast while open, lets `probes` calls through once
 * `reset_ns` has passed (half-open), closes when they all succeed and opens
 * again, with the reset time started over, when one fails.
 *
 * Key invariant: the state is ONE 64-bit atomic word (state, generation,
 * probes admitted, probe successes) changed only by compare-and-swap, so any
 * number of threads, or processes when the struct sits in shared memory,
 * can read it, and concurrent callers can neither admit a probe twice nor
 * lose a transition.  Every transition bumps the generation; an admission
 * hands out a ticket carrying it, and a result whose generation is no longer
 * current is ignored (ENGINE_BREAKER_STALE).
 *
 * Layout (fixed width, no pointers, 64-byte lines):
 *
 *   line 0   word | deadline_ns | cfg (failures, probes, window, reset)
 *   line 1   opens | fast_fails | probes | transitions | changed_ns
 *   line 2.. fail_seq | fail_ns[ENGINE_BREAKER_MAX_FAILURES]
 *
 * The word packs, from bit 0: state (2 bits), probes admitted (10 bits),
 * probe successes (10 bits), generation (42 bits).
 *
 * Everything is a function of the struct, its input and a clock passed in
 * (CLOCK_MONOTONIC nanoseconds); nothing sleeps, allocates or logs.
 */
#ifndef RINGSIDE_ENGINE_BREAKER_H
#define RINGSIDE_ENGINE_BREAKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENGINE_BREAKER_MAX_FAILURES 1000
#define ENGINE_BREAKER_MAX_PROBES 1000
/* Returned as the next deadline when the clock drives no transition. */
#define ENGINE_BREAKER_NO_DEADLINE UINT64_MAX

enum engine_breaker_state {
	ENGINE_BREAKER_STATE_CLOSED = 0,
	ENGINE_BREAKER_STATE_OPEN = 1,
	ENGINE_BREAKER_STATE_HALF_OPEN = 2,
};

/* What engine_breaker_admit() decided for a call. */
enum engine_breaker_admission {
	ENGINE_BREAKER_ADMIT,  /* closed: make the call */
	ENGINE_BREAKER_PROBE,  /* half-open: make the call, it is a probe */
	ENGINE_BREAKER_REJECT, /* fail fast: no I/O, not a failure */
};

/* The transition a call's result (or the clock) caused. */
enum engine_breaker_transition {
	ENGINE_BREAKER_NONE,	    /* recorded, no transition */
	ENGINE_BREAKER_OPENED,	    /* closed -> open */
	ENGINE_BREAKER_HALF_OPENED, /* open -> half-open (clock) */
	ENGINE_BREAKER_CLOSED,	    /* half-open -> closed: all probes ok */
	ENGINE_BREAKER_REOPENED,    /* half-open -> open: a probe failed */
	ENGINE_BREAKER_STALE,	    /* ignored: its generation is over */
};

struct engine_breaker_config {
	uint32_t failures;  /* 1 .. ENGINE_BREAKER_MAX_FAILURES */
	uint32_t probes;    /* 1 .. ENGINE_BREAKER_MAX_PROBES */
	uint64_t window_ns; /* > 0 */
	uint64_t reset_ns;  /* > 0 */
};

/*
 * Handed out by engine_breaker_admit() and given back, unchanged, to
 * engine_breaker_record() when the call ends.  Private to the engine.
 */
struct engine_breaker_ticket {
	uint64_t generation;
	enum engine_breaker_admission admission;
	/* ENGINE_BREAKER_HALF_OPENED if this admission moved the breaker
	 * from open to half-open (its deadline had passed), else NONE. */
	enum engine_breaker_transition transition;
};

/* A snapshot for display; each field is read atomically, not all at once. */
struct engine_breaker_stats {
	enum engine_breaker_state state;
	uint64_t generation;
	uint64_t deadline_ns; /* while open: when it goes half-open */
	uint64_t changed_ns;  /* clock of the latest transition (or init) */
	uint64_t opens;	      /* closed -> open and half-open -> open */
	uint64_t fast_fails;  /* calls rejected without I/O */
	uint64_t probes;      /* calls admitted as probes */
	uint64_t transitions; /* every state change */
};

struct engine_breaker {
	/* Line 0: read by every admission; cfg is written by init only. */
	_Alignas(64) _Atomic uint64_t word;
	_Atomic uint64_t deadline_ns;
	struct engine_breaker_config cfg;

	/* Line 1: counters, kept off the word's line. */
	_Alignas(64) _Atomic uint64_t opens;
	_Atomic uint64_t fast_fails;
	_Atomic uint64_t probes;
	_Atomic uint64_t transitions;
	_Atomic uint64_t changed_ns;

	/* Lines 2..: the times of the latest cfg.failures failed calls in
	 * closed state, a ring indexed by fail_seq; 0 is an empty slot, a
	 * failure at time t is stored as t + 1. */
	_Alignas(64) _Atomic uint64_t fail_seq;
	_Atomic uint64_t fail_ns[ENGINE_BREAKER_MAX_FAILURES];
};

_Static_assert(offsetof(struct engine_breaker, word) == 0, "word at 0");
_Static_assert(offsetof(struct engine_breaker, opens) == 64, "line 1");
_Static_assert(offsetof(struct engine_breaker, fail_seq) == 128, "line 2");
_Static_assert(sizeof(struct engine_breaker) == 8192, "breaker size");

/*
 * The bytes a breaker of @failures needs, a multiple of 64: the struct up to
 * its failure history and that many slots of it.  A breaker may live in
 * that much memory (a slab of them); sizeof covers the largest history.
 */
static inline size_t engine_breaker_size(uint32_t failures)
{
	size_t n = offsetof(struct engine_breaker, fail_ns) +
		   (size_t)failures * sizeof(uint64_t);

	return (n + 63) & ~(size_t)63;
}

/*
 * Check a configuration against the ranges above.  Returns 0, or -EINVAL.
 */
int engine_breaker_config_check(const struct engine_breaker_config *cfg);

/*
 * Initialise @b closed, generation 0, with an empty failure history and
 * zero counters, at clock @now.  Not thread-safe: publish @b to other
 * threads or processes only after it returns.  There is nothing to release,
 * so there is no exit.  Returns 0, or -EINVAL for a bad @cfg (@b untouched).
 */
int engine_breaker_init(struct engine_breaker *b,
			const struct engine_breaker_config *cfg, uint64_t now);

/*
 * Ask whether a call may start at @now.  Closed: ADMIT.  Half-open: PROBE
 * while fewer than cfg.probes probes have been admitted in this generation,
 * else REJECT.  Open: REJECT, counted as a fast-fail and never as a failure;
 * but once @now has reached the open deadline the admission performs the
 * open -> half-open transition itself (reported in @ticket->transition) and
 * goes on as half-open, so a late timer never holds a probe back.
 * Fills @ticket in every case.  Returns the admission.
 */
enum engine_breaker_admission engine_breaker_admit(
	struct engine_breaker *b, uint64_t now,
	struct engine_breaker_ticket *ticket);

/*
 * Record the result of the call admitted with @ticket, ended at @now; call
 * it once per admitted call.  A failed call in closed state joins the
 * failure history and opens the breaker (OPENED) once cfg.failures of them
 * lie in (now - window_ns, now]; a successful call in closed state does NOT
 * clear the history (the window alone ages failures out).  A probe success
 * closes the breaker when it is the cfg.probes-th (CLOSED, history
 * cleared); a probe failure opens it again, with a new deadline
 * @now + reset_ns (REOPENED).  Returns the transition, NONE when there is
 * none, STALE when the ticket's generation is over or the ticket was a
 * REJECT (the result is then ignored).
 */
enum engine_breaker_transition engine_breaker_record(
	struct engine_breaker *b, const struct engine_breaker_ticket *ticket,
	bool ok, uint64_t now);

/*
 * Drive the clock: when open and @now has reached the deadline, move to
 * half-open.  *@next_deadline receives the time at which the next call of
 * engine_breaker_poll() would do something (the open deadline), or
 * ENGINE_BREAKER_NO_DEADLINE when the breaker is not open afterwards; the
 * engine arms a timer for it.  Returns HALF_OPENED or NONE.
 */
enum engine_breaker_transition engine_breaker_poll(struct engine_breaker *b,
						   uint64_t now,
						   uint64_t *next_deadline);

/*
 * Returns the current state: one acquire load, for any reader (another
 * thread, or another process mapping the struct).
 */
enum engine_breaker_state engine_breaker_state(const struct engine_breaker *b);

/* Fill @out with the breaker's state and counters. */
void engine_breaker_stats(const struct engine_breaker *b,
			  struct engine_breaker_stats *out);

/*
 * Names for logs and clients: "closed", "open", "half_open"; "none",
 * "opened", "half_opened", "closed", "reopened", "stale"; "admit", "probe",
 * "reject".  Return a static string ("?" for an unknown value).
 */
const char *engine_breaker_state_name(enum engine_breaker_state state);
const char *engine_breaker_transition_name(enum engine_breaker_transition t);
const char *engine_breaker_admission_name(
	enum engine_breaker_admission admission);

#endif /* RINGSIDE_ENGINE_BREAKER_H */
