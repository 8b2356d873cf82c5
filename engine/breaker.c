/* SPDX-License-Identifier: MIT */
/*
 * breaker.c - the lock-free circuit breaker.
 *
 * All of the breaker's state that matters for a decision lives in one 64-bit
 * word, and the word only ever changes by compare-and-swap from a value the
 * caller has just read.  A CAS that fails hands back the current word and
 * the caller decides again from it, so two callers can never both take the
 * last probe, and two transitions out of the same state can never both
 * happen: exactly one CAS moves the word out of a given (state, generation),
 * and every transition bumps the generation.
 *
 *     closed --N failures in window--> open --clock >= deadline--> half-open
 *       ^                                ^                            |
 *       +-------- P probes succeed ------|------- a probe fails ------+
 *
 * Two pieces of state sit outside the word:
 *
 *   - deadline_ns, the end of the current open period.  It is raised (never
 *     lowered) BEFORE the CAS that opens, so a reader that sees the open
 *     word with acquire also sees a deadline at least as new as that
 *     opening.  A thread whose opening CAS loses has raised it too, by at
 *     most its own clock plus reset_ns: the breaker may stay open a little
 *     longer, never shorter.
 *
 *   - fail_ns[], the times of the latest failed calls in closed state, a
 *     ring filled at fetch_add indices.  After storing its time, a failing
 *     caller reads the word again: if the generation moved on meanwhile, its
 *     store may have landed after the history was cleared for a later
 *     closed generation, so it takes it back.  The history is cleared BEFORE
 *     the CAS that closes, and those stores, loads and CASes are sequentially
 *     consistent, so either the clear overwrote a stale store or the stale
 *     caller sees the new generation and removes it.  (Two failures at the
 *     very same nanosecond in the same slot could make the take-back remove
 *     the wrong one; the cost is one failure not counted.)
 *
 * The fast paths stay short: a closed admission is one acquire load and a
 * compare; a rejection adds a load of the deadline and a relaxed counter.
 */
#include <assert.h>
#include <errno.h>

#include "breaker.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
	       "the breaker needs lock-free 64-bit atomics (shared memory)");

/* The word: state | admitted << 2 | successes << 12 | generation << 22. */
#define WORD_STATE_MASK 0x3ULL
#define WORD_ADMITTED_SHIFT 2
#define WORD_SUCCESSES_SHIFT 12
#define WORD_COUNT_MASK 0x3ffULL
#define WORD_GEN_SHIFT 22
#define WORD_GEN_MASK ((1ULL << (64 - WORD_GEN_SHIFT)) - 1)

_Static_assert(ENGINE_BREAKER_MAX_PROBES <= WORD_COUNT_MASK,
	       "probe counts must fit their 10 bits");

static unsigned word_state(uint64_t w)
{
	return (unsigned)(w & WORD_STATE_MASK);
}

static unsigned word_admitted(uint64_t w)
{
	return (unsigned)((w >> WORD_ADMITTED_SHIFT) & WORD_COUNT_MASK);
}

static unsigned word_successes(uint64_t w)
{
	return (unsigned)((w >> WORD_SUCCESSES_SHIFT) & WORD_COUNT_MASK);
}

static uint64_t word_gen(uint64_t w)
{
	return w >> WORD_GEN_SHIFT;
}

/* A new state, one generation after @w, with no probes. */
static uint64_t word_next(uint64_t w, unsigned state)
{
	return ((word_gen(w) + 1) & WORD_GEN_MASK) << WORD_GEN_SHIFT | state;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/*
 * Memory-ordering points.
 *
 * word_load(): acquire; pairs with the release half of word_cas().  Seeing
 * an open word publishes the deadline raised before the opening CAS.
 *
 * word_load_sc() and word_cas(): sequentially consistent.  With the
 * history's seq_cst stores they form the store-then-load handshake described
 * at the top: a failing caller's "store my time, then reload the word" and
 * a closing caller's "clear the history, then CAS the word" cannot both
 * miss each other.  On x86 a seq_cst load is a plain load and a CAS is a
 * locked instruction either way, so this costs nothing on the hot paths.
 */
static uint64_t word_load(const struct engine_breaker *b)
{
	return atomic_load_explicit(&b->word, memory_order_acquire);
}

static uint64_t word_load_sc(const struct engine_breaker *b)
{
	return atomic_load_explicit(&b->word, memory_order_seq_cst);
}

/* On failure *@expected receives the current word. */
static bool word_cas(struct engine_breaker *b, uint64_t *expected,
		     uint64_t desired)
{
	return atomic_compare_exchange_strong_explicit(
		&b->word, expected, desired, memory_order_seq_cst,
		memory_order_seq_cst);
}

/*
 * deadline_load(): acquire, read after word_load(); the word's acquire is
 * what guarantees freshness, this one only keeps the pair in order on
 * weakly ordered machines.  deadline_raise(): release, and only ever
 * upwards, so a late loser cannot pull the deadline below the one its
 * winner wrote.
 */
static uint64_t deadline_load(const struct engine_breaker *b)
{
	return atomic_load_explicit(&b->deadline_ns, memory_order_acquire);
}

static void deadline_raise(struct engine_breaker *b, uint64_t deadline)
{
	uint64_t cur =
		atomic_load_explicit(&b->deadline_ns, memory_order_relaxed);

	while (cur < deadline &&
	       !atomic_compare_exchange_weak_explicit(
		       &b->deadline_ns, &cur, deadline, memory_order_release,
		       memory_order_relaxed))
		;
}

/* Counters are statistics: relaxed, each exact on its own. */
static void count(_Atomic uint64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* Bookkeeping of the thread whose CAS made a transition. */
static void transitioned(struct engine_breaker *b, bool opened, uint64_t now)
{
	if (opened)
		count(&b->opens);
	count(&b->transitions);
	atomic_store_explicit(&b->changed_ns, now, memory_order_relaxed);
}

int engine_breaker_config_check(const struct engine_breaker_config *cfg)
{
	if (cfg->failures < 1 || cfg->failures > ENGINE_BREAKER_MAX_FAILURES)
		return -EINVAL;
	if (cfg->probes < 1 || cfg->probes > ENGINE_BREAKER_MAX_PROBES)
		return -EINVAL;
	if (cfg->window_ns == 0 || cfg->reset_ns == 0)
		return -EINVAL;
	return 0;
}

int engine_breaker_init(struct engine_breaker *b,
			const struct engine_breaker_config *cfg, uint64_t now)
{
	int ret = engine_breaker_config_check(cfg);

	if (ret < 0)
		return ret;
	b->cfg = *cfg;
	atomic_init(&b->deadline_ns, 0);
	atomic_init(&b->opens, 0);
	atomic_init(&b->fast_fails, 0);
	atomic_init(&b->probes, 0);
	atomic_init(&b->transitions, 0);
	atomic_init(&b->changed_ns, now);
	atomic_init(&b->fail_seq, 0);
	/* Only the first cfg.failures slots are ever used, and only those
	 * may exist (engine_breaker_size). */
	for (unsigned i = 0; i < cfg->failures; i++)
		atomic_init(&b->fail_ns[i], 0);
	atomic_init(&b->word, ENGINE_BREAKER_STATE_CLOSED);
	return 0;
}

/*
 * Open -> half-open, from the open word *@w.  Returns true if this caller
 * made the transition (*@w then holds the new word), false if the word had
 * changed (*@w then holds the current word).
 */
static bool to_half_open(struct engine_breaker *b, uint64_t *w, uint64_t now)
{
	uint64_t next = word_next(*w, ENGINE_BREAKER_STATE_HALF_OPEN);

	if (!word_cas(b, w, next))
		return false;
	transitioned(b, false, now);
	*w = next;
	return true;
}

enum engine_breaker_admission engine_breaker_admit(
	struct engine_breaker *b, uint64_t now,
	struct engine_breaker_ticket *ticket)
{
	uint64_t w = word_load(b);

	ticket->transition = ENGINE_BREAKER_NONE;
	for (;;) {
		ticket->generation = word_gen(w);
		switch (word_state(w)) {
		case ENGINE_BREAKER_STATE_CLOSED:
			ticket->admission = ENGINE_BREAKER_ADMIT;
			return ENGINE_BREAKER_ADMIT;
		case ENGINE_BREAKER_STATE_OPEN:
			if (now < deadline_load(b))
				goto reject;
			if (to_half_open(b, &w, now))
				ticket->transition = ENGINE_BREAKER_HALF_OPENED;
			break;
		case ENGINE_BREAKER_STATE_HALF_OPEN:
			if (word_admitted(w) >= b->cfg.probes)
				goto reject;
			if (word_cas(b, &w,
				     w + (1ULL << WORD_ADMITTED_SHIFT))) {
				count(&b->probes);
				ticket->admission = ENGINE_BREAKER_PROBE;
				return ENGINE_BREAKER_PROBE;
			}
			break;
		default:
			assert(!"breaker word holds no valid state");
			goto reject;
		}
	}
reject:
	count(&b->fast_fails);
	ticket->admission = ENGINE_BREAKER_REJECT;
	return ENGINE_BREAKER_REJECT;
}

/*
 * True when the history holds cfg.failures failures, all within
 * (now - window_ns, now].  A time after @now (another thread's clock ran
 * ahead) counts as within.
 */
static bool history_full(const struct engine_breaker *b, uint64_t now)
{
	for (unsigned i = 0; i < b->cfg.failures; i++) {
		uint64_t stamp = atomic_load_explicit(&b->fail_ns[i],
						      memory_order_seq_cst);

		if (stamp == 0)
			return false;
		if (stamp - 1 <= now && now - (stamp - 1) >= b->cfg.window_ns)
			return false;
	}
	return true;
}

static void history_clear(struct engine_breaker *b)
{
	for (unsigned i = 0; i < b->cfg.failures; i++)
		atomic_store_explicit(&b->fail_ns[i], 0, memory_order_seq_cst);
}

static enum engine_breaker_transition closed_failure(struct engine_breaker *b,
						     uint64_t gen, uint64_t now)
{
	uint64_t w = word_load_sc(b);
	uint64_t seq, stamp;
	_Atomic uint64_t *slot;

	if (word_gen(w) != gen)
		return ENGINE_BREAKER_STALE;
	seq = atomic_fetch_add_explicit(&b->fail_seq, 1, memory_order_relaxed);
	slot = &b->fail_ns[seq % b->cfg.failures];
	stamp = sat_add(now, 1);
	atomic_store_explicit(slot, stamp, memory_order_seq_cst);

	w = word_load_sc(b);
	if (word_gen(w) != gen) {
		/* Too late: take the time back unless it was overwritten. */
		atomic_compare_exchange_strong_explicit(slot, &stamp, 0,
							memory_order_seq_cst,
							memory_order_seq_cst);
		return ENGINE_BREAKER_STALE;
	}
	if (!history_full(b, now))
		return ENGINE_BREAKER_NONE;

	deadline_raise(b, sat_add(now, b->cfg.reset_ns));
	if (!word_cas(b, &w, word_next(w, ENGINE_BREAKER_STATE_OPEN)))
		/* Closed only leaves by opening: another failure opened it. */
		return ENGINE_BREAKER_NONE;
	transitioned(b, true, now);
	return ENGINE_BREAKER_OPENED;
}

static enum engine_breaker_transition probe_result(struct engine_breaker *b,
						   uint64_t gen, bool ok,
						   uint64_t now)
{
	uint64_t w = word_load_sc(b);

	for (;;) {
		unsigned successes = word_successes(w) + 1;

		if (word_gen(w) != gen ||
		    word_state(w) != ENGINE_BREAKER_STATE_HALF_OPEN)
			return ENGINE_BREAKER_STALE;
		if (!ok) {
			deadline_raise(b, sat_add(now, b->cfg.reset_ns));
			if (!word_cas(b, &w,
				      word_next(w, ENGINE_BREAKER_STATE_OPEN)))
				continue;
			transitioned(b, true, now);
			return ENGINE_BREAKER_REOPENED;
		}
		/* More results than probes: a ticket recorded twice. */
		if (successes > word_admitted(w))
			return ENGINE_BREAKER_STALE;
		if (successes < b->cfg.probes) {
			if (word_cas(b, &w, w + (1ULL << WORD_SUCCESSES_SHIFT)))
				return ENGINE_BREAKER_NONE;
			continue;
		}
		history_clear(b);
		if (!word_cas(b, &w, word_next(w, ENGINE_BREAKER_STATE_CLOSED)))
			continue;
		transitioned(b, false, now);
		return ENGINE_BREAKER_CLOSED;
	}
}

enum engine_breaker_transition engine_breaker_record(
	struct engine_breaker *b, const struct engine_breaker_ticket *ticket,
	bool ok, uint64_t now)
{
	switch (ticket->admission) {
	case ENGINE_BREAKER_ADMIT:
		if (!ok)
			return closed_failure(b, ticket->generation, now);
		if (word_gen(word_load(b)) != ticket->generation)
			return ENGINE_BREAKER_STALE;
		return ENGINE_BREAKER_NONE;
	case ENGINE_BREAKER_PROBE:
		return probe_result(b, ticket->generation, ok, now);
	case ENGINE_BREAKER_REJECT:
		break;
	}
	return ENGINE_BREAKER_STALE;
}

enum engine_breaker_transition engine_breaker_poll(struct engine_breaker *b,
						   uint64_t now,
						   uint64_t *next_deadline)
{
	uint64_t w = word_load(b);

	while (word_state(w) == ENGINE_BREAKER_STATE_OPEN) {
		uint64_t deadline = deadline_load(b);

		if (now < deadline) {
			*next_deadline = deadline;
			return ENGINE_BREAKER_NONE;
		}
		if (to_half_open(b, &w, now)) {
			*next_deadline = ENGINE_BREAKER_NO_DEADLINE;
			return ENGINE_BREAKER_HALF_OPENED;
		}
	}
	*next_deadline = ENGINE_BREAKER_NO_DEADLINE;
	return ENGINE_BREAKER_NONE;
}

enum engine_breaker_state engine_breaker_state(const struct engine_breaker *b)
{
	return (enum engine_breaker_state)word_state(word_load(b));
}

void engine_breaker_stats(const struct engine_breaker *b,
			  struct engine_breaker_stats *out)
{
	uint64_t w = word_load(b);

	out->state = (enum engine_breaker_state)word_state(w);
	out->generation = word_gen(w);
	out->deadline_ns = deadline_load(b);
	out->changed_ns =
		atomic_load_explicit(&b->changed_ns, memory_order_relaxed);
	out->opens = atomic_load_explicit(&b->opens, memory_order_relaxed);
	out->fast_fails =
		atomic_load_explicit(&b->fast_fails, memory_order_relaxed);
	out->probes = atomic_load_explicit(&b->probes, memory_order_relaxed);
	out->transitions =
		atomic_load_explicit(&b->transitions, memory_order_relaxed);
}

const char *engine_breaker_state_name(enum engine_breaker_state state)
{
	switch (state) {
	case ENGINE_BREAKER_STATE_CLOSED:
		return "closed";
	case ENGINE_BREAKER_STATE_OPEN:
		return "open";
	case ENGINE_BREAKER_STATE_HALF_OPEN:
		return "half_open";
	}
	return "?";
}

const char *engine_breaker_transition_name(enum engine_breaker_transition t)
{
	switch (t) {
	case ENGINE_BREAKER_NONE:
		return "none";
	case ENGINE_BREAKER_OPENED:
		return "opened";
	case ENGINE_BREAKER_HALF_OPENED:
		return "half_opened";
	case ENGINE_BREAKER_CLOSED:
		return "closed";
	case ENGINE_BREAKER_REOPENED:
		return "reopened";
	case ENGINE_BREAKER_STALE:
		return "stale";
	}
	return "?";
}

const char *engine_breaker_admission_name(
	enum engine_breaker_admission admission)
{
	switch (admission) {
	case ENGINE_BREAKER_ADMIT:
		return "admit";
	case ENGINE_BREAKER_PROBE:
		return "probe";
	case ENGINE_BREAKER_REJECT:
		return "reject";
	}
	return "?";
}
