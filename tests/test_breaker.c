/* SPDX-License-Identifier: MIT */
/*
 * test_breaker.c - the circuit breaker of engine/breaker.c, one thread, the
 * clock in hand: the lecture's sequence, the window, exact probe counts,
 * fast-fails that are no failures, stale results, and a table of sequences
 * with their final state.  Concurrency is tested by tests/stress_breaker.c.
 *
 * Decided here: a successful call in closed state does NOT reset the failure
 * count.  SPEC.md opens the breaker "when that many failed calls fall within
 * the window", so failures age out with the window only.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "breaker.h"

#define MS 1000000ULL
#define SEC 1000000000ULL

TestSuite(breaker);

static struct engine_breaker breaker;

static void setup(uint32_t failures, uint64_t window, uint64_t reset,
		  uint32_t probes)
{
	struct engine_breaker_config cfg = {
		.failures = failures,
		.probes = probes,
		.window_ns = window,
		.reset_ns = reset,
	};

	cr_assert_eq(engine_breaker_init(&breaker, &cfg, 0), 0);
}

/* The lecture's breaker: 3 failures in 5 s open it, 5 s reset, 1 probe. */
static void setup_lecture(void)
{
	setup(3, 5 * SEC, 5 * SEC, 1);
}

/*
 * One call at @now that ends at @now: admitted, then recorded as @ok.
 * A rejected call records nothing.  Returns the transition.
 */
static enum engine_breaker_transition call_at(
	bool ok, uint64_t now, enum engine_breaker_admission *admission)
{
	struct engine_breaker_ticket t;
	enum engine_breaker_admission a;

	a = engine_breaker_admit(&breaker, now, &t);
	if (admission)
		*admission = a;
	if (a == ENGINE_BREAKER_REJECT)
		return ENGINE_BREAKER_NONE;
	return engine_breaker_record(&breaker, &t, ok, now);
}

static enum engine_breaker_transition fail_at(uint64_t now)
{
	return call_at(false, now, NULL);
}

static enum engine_breaker_transition succeed_at(uint64_t now)
{
	return call_at(true, now, NULL);
}

static enum engine_breaker_state state(void)
{
	return engine_breaker_state(&breaker);
}

static struct engine_breaker_stats stats(void)
{
	struct engine_breaker_stats s;

	engine_breaker_stats(&breaker, &s);
	return s;
}

static void open_at(uint64_t t0)
{
	cr_assert_eq(fail_at(t0), ENGINE_BREAKER_NONE);
	cr_assert_eq(fail_at(t0 + 1 * MS), ENGINE_BREAKER_NONE);
	cr_assert_eq(fail_at(t0 + 2 * MS), ENGINE_BREAKER_OPENED);
}

Test(breaker, lecture_sequence_opens_rejects_half_opens_and_closes)
{
	struct engine_breaker_ticket t;
	uint64_t next;

	setup_lecture();
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_CLOSED);
	cr_assert_eq(engine_breaker_poll(&breaker, 0, &next),
		     ENGINE_BREAKER_NONE);
	cr_assert_eq(next, ENGINE_BREAKER_NO_DEADLINE);

	/* Three failures in five seconds open it. */
	cr_assert_eq(fail_at(0), ENGINE_BREAKER_NONE);
	cr_assert_eq(fail_at(1 * SEC), ENGINE_BREAKER_NONE);
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_CLOSED);
	cr_assert_eq(fail_at(2 * SEC), ENGINE_BREAKER_OPENED);
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_OPEN);

	/* Open: every call fails fast until the reset interval is over. */
	cr_assert_eq(engine_breaker_admit(&breaker, 2 * SEC, &t),
		     ENGINE_BREAKER_REJECT);
	cr_assert_eq(engine_breaker_admit(&breaker, 7 * SEC - 1, &t),
		     ENGINE_BREAKER_REJECT);
	cr_assert_eq(engine_breaker_poll(&breaker, 3 * SEC, &next),
		     ENGINE_BREAKER_NONE);
	cr_assert_eq(next, 7 * SEC, "arm the timer at open + reset");

	/* Half-open after the reset: one probe, which closes it. */
	cr_assert_eq(engine_breaker_poll(&breaker, 7 * SEC, &next),
		     ENGINE_BREAKER_HALF_OPENED);
	cr_assert_eq(next, ENGINE_BREAKER_NO_DEADLINE);
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_HALF_OPEN);
	cr_assert_eq(engine_breaker_admit(&breaker, 7 * SEC, &t),
		     ENGINE_BREAKER_PROBE);
	{
		struct engine_breaker_ticket other;

		cr_assert_eq(engine_breaker_admit(&breaker, 7 * SEC, &other),
			     ENGINE_BREAKER_REJECT, "only one probe");
	}
	cr_assert_eq(engine_breaker_record(&breaker, &t, true, 7 * SEC),
		     ENGINE_BREAKER_CLOSED);
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_CLOSED);

	/* Down again: this time the probe fails and the reset restarts. */
	cr_assert_eq(fail_at(8 * SEC), ENGINE_BREAKER_NONE);
	cr_assert_eq(fail_at(9 * SEC), ENGINE_BREAKER_NONE);
	cr_assert_eq(fail_at(10 * SEC), ENGINE_BREAKER_OPENED);
	cr_assert_eq(engine_breaker_poll(&breaker, 15 * SEC, &next),
		     ENGINE_BREAKER_HALF_OPENED);
	cr_assert_eq(engine_breaker_admit(&breaker, 15 * SEC, &t),
		     ENGINE_BREAKER_PROBE);
	cr_assert_eq(engine_breaker_record(&breaker, &t, false, 16 * SEC),
		     ENGINE_BREAKER_REOPENED);
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_OPEN);
	cr_assert_eq(engine_breaker_poll(&breaker, 21 * SEC - 1, &next),
		     ENGINE_BREAKER_NONE);
	cr_assert_eq(next, 21 * SEC, "reset counted from the failed probe");
	cr_assert_eq(engine_breaker_admit(&breaker, 21 * SEC - 1, &t),
		     ENGINE_BREAKER_REJECT);
	cr_assert_eq(engine_breaker_poll(&breaker, 21 * SEC, &next),
		     ENGINE_BREAKER_HALF_OPENED);

	struct engine_breaker_stats s = stats();
	cr_assert_eq(s.state, ENGINE_BREAKER_STATE_HALF_OPEN);
	cr_assert_eq(s.opens, 3, "two opens and one reopen");
	cr_assert_eq(s.fast_fails, 4);
	cr_assert_eq(s.probes, 2);
	/* open, half, closed, open, half, reopen, half */
	cr_assert_eq(s.transitions, 7);
	cr_assert_eq(s.changed_ns, 21 * SEC);
	cr_assert_eq(s.generation, 7);
}

Test(breaker, failures_spread_wider_than_the_window_never_open)
{
	setup_lecture();
	/* One failure every 2.5 s: any three span exactly 5 s, not within. */
	for (uint64_t t = 0; t < 1000 * SEC; t += 2500 * MS)
		cr_assert_eq(fail_at(t), ENGINE_BREAKER_NONE, "at %llu ns",
			     (unsigned long long)t);
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_CLOSED);
	/* The last two were at 995 s and 997.5 s: one more within 5 s. */
	cr_assert_eq(fail_at(1000 * SEC - 1), ENGINE_BREAKER_OPENED);
}

Test(breaker, half_open_admits_exactly_the_configured_probes)
{
	struct engine_breaker_ticket t[4];
	uint64_t next;

	setup(3, 5 * SEC, 5 * SEC, 3);
	open_at(0);
	cr_assert_eq(engine_breaker_poll(&breaker, 6 * SEC, &next),
		     ENGINE_BREAKER_HALF_OPENED);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(engine_breaker_admit(&breaker, 6 * SEC, &t[i]),
			     ENGINE_BREAKER_PROBE, "probe %d", i);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(engine_breaker_admit(&breaker, 6 * SEC, &t[3]),
			     ENGINE_BREAKER_REJECT);

	/* All three must succeed; the third success closes it. */
	cr_assert_eq(engine_breaker_record(&breaker, &t[0], true, 6 * SEC),
		     ENGINE_BREAKER_NONE);
	cr_assert_eq(engine_breaker_record(&breaker, &t[1], true, 6 * SEC),
		     ENGINE_BREAKER_NONE);
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_HALF_OPEN);
	cr_assert_eq(engine_breaker_admit(&breaker, 6 * SEC, &t[3]),
		     ENGINE_BREAKER_REJECT, "successes free no probe slot");
	cr_assert_eq(engine_breaker_record(&breaker, &t[2], true, 6 * SEC),
		     ENGINE_BREAKER_CLOSED);
	cr_assert_eq(stats().probes, 3);
	cr_assert_eq(stats().fast_fails, 11);
}

Test(breaker, one_failed_probe_among_several_reopens)
{
	struct engine_breaker_ticket t[3];
	uint64_t next;

	setup(3, 5 * SEC, 5 * SEC, 3);
	open_at(0);
	engine_breaker_poll(&breaker, 6 * SEC, &next);
	for (int i = 0; i < 3; i++)
		engine_breaker_admit(&breaker, 6 * SEC, &t[i]);
	cr_assert_eq(engine_breaker_record(&breaker, &t[0], true, 6 * SEC),
		     ENGINE_BREAKER_NONE);
	cr_assert_eq(engine_breaker_record(&breaker, &t[1], false, 7 * SEC),
		     ENGINE_BREAKER_REOPENED);
	/* The last probe's result belongs to the half-open that is over. */
	cr_assert_eq(engine_breaker_record(&breaker, &t[2], true, 7 * SEC),
		     ENGINE_BREAKER_STALE);
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_OPEN);
	engine_breaker_poll(&breaker, 7 * SEC, &next);
	cr_assert_eq(next, 12 * SEC);
}

Test(breaker, fast_fails_are_not_failures)
{
	struct engine_breaker_ticket t;
	uint64_t next;

	setup_lecture();
	open_at(0);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(engine_breaker_admit(&breaker, 1 * SEC, &t),
			     ENGINE_BREAKER_REJECT);
		/* Even handed back as a failure, a rejection is ignored. */
		cr_assert_eq(engine_breaker_record(&breaker, &t, false, SEC),
			     ENGINE_BREAKER_STALE);
	}
	cr_assert_eq(stats().fast_fails, 100);
	cr_assert_eq(stats().opens, 1);

	/* Probe ok: closed, and two failures are not enough to reopen. */
	cr_assert_eq(engine_breaker_poll(&breaker, 5 * SEC + 2 * MS, &next),
		     ENGINE_BREAKER_HALF_OPENED);
	cr_assert_eq(succeed_at(5 * SEC + 3 * MS), ENGINE_BREAKER_CLOSED);
	cr_assert_eq(fail_at(5 * SEC + 4 * MS), ENGINE_BREAKER_NONE);
	cr_assert_eq(fail_at(5 * SEC + 5 * MS), ENGINE_BREAKER_NONE);
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_CLOSED);
	cr_assert_eq(stats().opens, 1);
}

Test(breaker, a_result_from_an_older_generation_is_stale)
{
	struct engine_breaker_ticket old_ok, old_fail, probe;
	uint64_t next;

	setup_lecture();
	/* Two calls start while closed and end after the breaker opened. */
	cr_assert_eq(engine_breaker_admit(&breaker, 0, &old_ok),
		     ENGINE_BREAKER_ADMIT);
	cr_assert_eq(engine_breaker_admit(&breaker, 0, &old_fail),
		     ENGINE_BREAKER_ADMIT);
	open_at(1 * MS);
	cr_assert_eq(engine_breaker_record(&breaker, &old_ok, true, 4 * MS),
		     ENGINE_BREAKER_STALE);
	cr_assert_eq(engine_breaker_record(&breaker, &old_fail, false, 4 * MS),
		     ENGINE_BREAKER_STALE);

	/* Half-open, a probe is out; a late closed result changes nothing. */
	engine_breaker_poll(&breaker, 6 * SEC, &next);
	cr_assert_eq(engine_breaker_admit(&breaker, 6 * SEC, &probe),
		     ENGINE_BREAKER_PROBE);
	cr_assert_eq(engine_breaker_record(&breaker, &old_fail, false, 6 * SEC),
		     ENGINE_BREAKER_STALE);
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_HALF_OPEN);
	cr_assert_eq(engine_breaker_record(&breaker, &probe, true, 6 * SEC),
		     ENGINE_BREAKER_CLOSED);

	/* Closed again: the probe's second result and the old closed
	 * failure are both stale, and neither joins the new history. */
	cr_assert_eq(engine_breaker_record(&breaker, &probe, false, 6 * SEC),
		     ENGINE_BREAKER_STALE);
	cr_assert_eq(fail_at(6 * SEC + 1), ENGINE_BREAKER_NONE);
	cr_assert_eq(
		engine_breaker_record(&breaker, &old_fail, false, 6 * SEC + 2),
		ENGINE_BREAKER_STALE);
	cr_assert_eq(fail_at(6 * SEC + 3), ENGINE_BREAKER_NONE,
		     "a stale failure must not count");
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_CLOSED);
	cr_assert_eq(fail_at(6 * SEC + 4), ENGINE_BREAKER_OPENED);
}

Test(breaker, successes_in_closed_state_do_not_clear_the_window)
{
	setup_lecture();
	cr_assert_eq(fail_at(0), ENGINE_BREAKER_NONE);
	for (int i = 1; i <= 50; i++)
		cr_assert_eq(succeed_at(i * 10 * MS), ENGINE_BREAKER_NONE);
	cr_assert_eq(fail_at(1 * SEC), ENGINE_BREAKER_NONE);
	cr_assert_eq(succeed_at(2 * SEC), ENGINE_BREAKER_NONE);
	cr_assert_eq(fail_at(4 * SEC), ENGINE_BREAKER_OPENED);
}

Test(breaker, closing_clears_the_failure_history)
{
	uint64_t next;

	/* A window longer than the reset: the old failures are still in it. */
	setup(3, 60 * SEC, 5 * SEC, 1);
	open_at(0);
	cr_assert_eq(engine_breaker_poll(&breaker, 5 * SEC + 2 * MS, &next),
		     ENGINE_BREAKER_HALF_OPENED);
	cr_assert_eq(succeed_at(6 * SEC), ENGINE_BREAKER_CLOSED);
	cr_assert_eq(fail_at(7 * SEC), ENGINE_BREAKER_NONE);
	cr_assert_eq(fail_at(8 * SEC), ENGINE_BREAKER_NONE);
	cr_assert_eq(state(), ENGINE_BREAKER_STATE_CLOSED);
	cr_assert_eq(fail_at(9 * SEC), ENGINE_BREAKER_OPENED);
}

Test(breaker, a_single_failure_opens_when_failures_is_one)
{
	setup(1, 1, 5 * SEC, 1);
	cr_assert_eq(succeed_at(0), ENGINE_BREAKER_NONE);
	cr_assert_eq(fail_at(1), ENGINE_BREAKER_OPENED);
}

Test(breaker, admit_half_opens_by_itself_once_the_deadline_passed)
{
	struct engine_breaker_ticket t;

	setup_lecture();
	open_at(0);
	cr_assert_eq(engine_breaker_admit(&breaker, 5 * SEC + 2 * MS - 1, &t),
		     ENGINE_BREAKER_REJECT);
	cr_assert_eq(t.transition, ENGINE_BREAKER_NONE);
	/* No poll ran: the admission makes the transition and takes the probe. */
	cr_assert_eq(engine_breaker_admit(&breaker, 5 * SEC + 2 * MS, &t),
		     ENGINE_BREAKER_PROBE);
	cr_assert_eq(t.transition, ENGINE_BREAKER_HALF_OPENED);
	cr_assert_eq(stats().transitions, 2);
	cr_assert_eq(engine_breaker_record(&breaker, &t, true, 6 * SEC),
		     ENGINE_BREAKER_CLOSED);
}

Test(breaker, bad_configurations_are_rejected)
{
	struct engine_breaker_config ok = {
		.failures = 3,
		.probes = 1,
		.window_ns = 5 * SEC,
		.reset_ns = 5 * SEC,
	};
	struct engine_breaker_config c;

	cr_assert_eq(engine_breaker_config_check(&ok), 0);
	c = ok;
	c.failures = 0;
	cr_assert_eq(engine_breaker_init(&breaker, &c, 0), -EINVAL);
	c.failures = ENGINE_BREAKER_MAX_FAILURES + 1;
	cr_assert_eq(engine_breaker_init(&breaker, &c, 0), -EINVAL);
	c.failures = ENGINE_BREAKER_MAX_FAILURES;
	cr_assert_eq(engine_breaker_init(&breaker, &c, 0), 0);
	c = ok;
	c.probes = 0;
	cr_assert_eq(engine_breaker_config_check(&c), -EINVAL);
	c.probes = ENGINE_BREAKER_MAX_PROBES + 1;
	cr_assert_eq(engine_breaker_config_check(&c), -EINVAL);
	c = ok;
	c.window_ns = 0;
	cr_assert_eq(engine_breaker_config_check(&c), -EINVAL);
	c = ok;
	c.reset_ns = 0;
	cr_assert_eq(engine_breaker_config_check(&c), -EINVAL);
}

Test(breaker, the_largest_history_and_probe_count_work)
{
	struct engine_breaker_ticket t[ENGINE_BREAKER_MAX_PROBES], extra;
	uint64_t next;

	setup(ENGINE_BREAKER_MAX_FAILURES, 10 * SEC, 1 * SEC,
	      ENGINE_BREAKER_MAX_PROBES);
	for (unsigned i = 0; i + 1 < ENGINE_BREAKER_MAX_FAILURES; i++)
		cr_assert_eq(fail_at(i * MS), ENGINE_BREAKER_NONE);
	cr_assert_eq(fail_at(ENGINE_BREAKER_MAX_FAILURES * MS),
		     ENGINE_BREAKER_OPENED);
	engine_breaker_poll(&breaker, 3 * SEC, &next);
	for (unsigned i = 0; i < ENGINE_BREAKER_MAX_PROBES; i++)
		cr_assert_eq(engine_breaker_admit(&breaker, 3 * SEC, &t[i]),
			     ENGINE_BREAKER_PROBE);
	cr_assert_eq(engine_breaker_admit(&breaker, 3 * SEC, &extra),
		     ENGINE_BREAKER_REJECT);
	for (unsigned i = 0; i + 1 < ENGINE_BREAKER_MAX_PROBES; i++)
		cr_assert_eq(
			engine_breaker_record(&breaker, &t[i], true, 3 * SEC),
			ENGINE_BREAKER_NONE);
	cr_assert_eq(engine_breaker_record(&breaker,
					   &t[ENGINE_BREAKER_MAX_PROBES - 1],
					   true, 3 * SEC),
		     ENGINE_BREAKER_CLOSED);
}

Test(breaker, another_process_sees_the_state_in_shared_memory, .timeout = 10)
{
	struct engine_breaker *b;
	struct engine_breaker_config cfg = {
		.failures = 3,
		.probes = 1,
		.window_ns = 5 * SEC,
		.reset_ns = 5 * SEC,
	};
	int status;
	pid_t pid;

	b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(b, MAP_FAILED);
	cr_assert_eq(engine_breaker_init(b, &cfg, 0), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct engine_breaker_ticket t;
		int opened = 0;

		for (uint64_t i = 0; i < 3; i++) {
			engine_breaker_admit(b, i, &t);
			opened += engine_breaker_record(b, &t, false, i) ==
				  ENGINE_BREAKER_OPENED;
		}
		_exit(opened == 1 ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_eq(engine_breaker_state(b), ENGINE_BREAKER_STATE_OPEN);
	cr_assert_eq(atomic_load(&b->opens), 1);
	munmap(b, sizeof(*b));
}

Test(breaker, states_transitions_and_admissions_have_names)
{
	cr_assert_str_eq(engine_breaker_state_name(ENGINE_BREAKER_STATE_CLOSED),
			 "closed");
	cr_assert_str_eq(engine_breaker_state_name(ENGINE_BREAKER_STATE_OPEN),
			 "open");
	cr_assert_str_eq(
		engine_breaker_state_name(ENGINE_BREAKER_STATE_HALF_OPEN),
		"half_open");
	cr_assert_str_eq(engine_breaker_transition_name(ENGINE_BREAKER_STALE),
			 "stale");
	cr_assert_str_eq(
		engine_breaker_transition_name(ENGINE_BREAKER_REOPENED),
		"reopened");
	cr_assert_str_eq(engine_breaker_admission_name(ENGINE_BREAKER_PROBE),
			 "probe");
	cr_assert_str_eq(
		engine_breaker_state_name((enum engine_breaker_state)3), "?");
}

/*
 * A sequence of calls and polls, and the state it ends in.  Each op is a
 * letter and a time in ms: f = a call that fails, s = a call that succeeds
 * (a rejected call records nothing), p = a poll.  The ops are held in the
 * struct, not pointed to: Criterion runs each test in a fresh process.
 */
struct sequence_case {
	char ops[64];
	uint32_t failures, probes;
	unsigned window_ms, reset_ms;
	enum engine_breaker_state want;
	unsigned opens;
};

#define CLOSED ENGINE_BREAKER_STATE_CLOSED
#define OPEN ENGINE_BREAKER_STATE_OPEN
#define HALF ENGINE_BREAKER_STATE_HALF_OPEN

ParameterizedTestParameters(breaker, sequences_end_in_the_expected_state)
{
	static struct sequence_case cases[] = {
		{ "f0 f1000 f2000", 3, 1, 5000, 5000, OPEN, 1 },
		{ "f0 f2500 f4999", 3, 1, 5000, 5000, OPEN, 1 },
		{ "f0 f2500 f5000", 3, 1, 5000, 5000, CLOSED, 0 },
		{ "f0 f3000 f6000", 3, 1, 5000, 5000, CLOSED, 0 },
		{ "f0 f1000 f6000 f7000", 3, 1, 5000, 5000, CLOSED, 0 },
		{ "f0 f1000 f6000 f7000 f8000", 3, 1, 5000, 5000, OPEN, 1 },
		{ "f0 s1 f2 s3 f4", 3, 1, 5000, 5000, OPEN, 1 },
		{ "f0 s1 s2 s3 s4", 3, 1, 5000, 5000, CLOSED, 0 },
		{ "f0 f1 f2 p5001", 3, 1, 5000, 5000, OPEN, 1 },
		{ "f0 f1 f2 p5002", 3, 1, 5000, 5000, HALF, 1 },
		{ "f0 f1 f2 f3000 s4000", 3, 1, 5000, 5000, OPEN, 1 },
		{ "f0 f1 f2 p5002 s5003", 3, 1, 5000, 5000, CLOSED, 1 },
		{ "f0 f1 f2 s5002", 3, 1, 5000, 5000, CLOSED, 1 },
		{ "f0 f1 f2 p5002 f5003", 3, 1, 5000, 5000, OPEN, 2 },
		{ "f0 f1 f2 p5002 f5003 p10002", 3, 1, 5000, 5000, OPEN, 2 },
		{ "f0 f1 f2 p5002 f5003 p10003", 3, 1, 5000, 5000, HALF, 2 },
		{ "f0 f1 f2 p5002 s5003 f5004 f5005", 3, 1, 5000, 5000, CLOSED,
		  1 },
		{ "f0 f1 f2 p5002 s5003 f5004 f5005 f5006", 3, 1, 5000, 5000,
		  OPEN, 2 },
		{ "f0 f1 f2 s5002 f5003 f5004", 3, 1, 60000, 5000, CLOSED, 1 },
		{ "f0 f1 f2 s5002 f5003 f5004 f5005", 3, 1, 60000, 5000, OPEN,
		  2 },
		{ "f0 f1 f2 p5002 s5003", 3, 2, 5000, 5000, HALF, 1 },
		{ "f0 f1 f2 p5002 s5003 s5004", 3, 2, 5000, 5000, CLOSED, 1 },
		{ "f0 f1 f2 p5002 s5003 f5004", 3, 2, 5000, 5000, OPEN, 2 },
		{ "f0", 1, 1, 1, 1000, OPEN, 1 },
		{ "f0 p1000 f1000 p2000 f2000 p3000 s3000", 1, 1, 1, 1000,
		  CLOSED, 3 },
		{ "f0 f1 f2 f3 f4", 5, 1, 10, 100, OPEN, 1 },
		{ "f0 f1 f2 f3 f10", 5, 1, 10, 100, CLOSED, 0 },
	};
	return cr_make_param_array(struct sequence_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct sequence_case *c, breaker,
		  sequences_end_in_the_expected_state)
{
	const char *op = c->ops;
	uint64_t next;

	setup(c->failures, c->window_ms * MS, c->reset_ms * MS, c->probes);
	while (*op) {
		char kind = *op++;
		char *end;
		uint64_t now = strtoull(op, &end, 10) * MS;

		cr_assert_neq(end, op, "bad op in \"%s\"", c->ops);
		op = end;
		while (*op == ' ')
			op++;
		if (kind == 'f')
			fail_at(now);
		else if (kind == 's')
			succeed_at(now);
		else if (kind == 'p')
			engine_breaker_poll(&breaker, now, &next);
		else
			cr_assert_fail("bad op %c in \"%s\"", kind, c->ops);
	}
	cr_assert_eq(state(), c->want, "\"%s\": %s, want %s", c->ops,
		     engine_breaker_state_name(state()),
		     engine_breaker_state_name(c->want));
	cr_assert_eq(stats().opens, c->opens, "\"%s\": %llu opens", c->ops,
		     (unsigned long long)stats().opens);
}

/*
 * A breaker in exactly engine_breaker_size() bytes, as the engine's slab
 * holds them: a whole open, half-open, closed cycle and a full window of
 * failures stay inside it (AddressSanitizer would say otherwise).
 */
Test(breaker, lives_in_the_bytes_its_history_needs)
{
	struct engine_breaker_config cfg = {
		.failures = 5,
		.probes = 2,
		.window_ns = 5 * SEC,
		.reset_ns = 1 * SEC,
	};
	struct engine_breaker_ticket t[2];
	struct engine_breaker *b;
	uint64_t i;

	cr_assert_eq(engine_breaker_size(1) % 64, 0);
	cr_assert_lt(engine_breaker_size(5), 256);
	cr_assert_eq(engine_breaker_size(ENGINE_BREAKER_MAX_FAILURES),
		     sizeof(struct engine_breaker));
	b = aligned_alloc(64, engine_breaker_size(cfg.failures));
	cr_assert_not_null(b);
	cr_assert_eq(engine_breaker_init(b, &cfg, 0), 0);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(engine_breaker_admit(b, i, &t[0]),
			     ENGINE_BREAKER_ADMIT);
		cr_assert_eq(engine_breaker_record(b, &t[0], false, i),
			     ENGINE_BREAKER_NONE);
	}
	cr_assert_eq(engine_breaker_admit(b, 4, &t[0]), ENGINE_BREAKER_ADMIT);
	cr_assert_eq(engine_breaker_record(b, &t[0], false, 4),
		     ENGINE_BREAKER_OPENED);
	cr_assert_eq(engine_breaker_admit(b, 5, &t[0]), ENGINE_BREAKER_REJECT);
	cr_assert_eq(engine_breaker_admit(b, 2 * SEC, &t[0]),
		     ENGINE_BREAKER_PROBE);
	cr_assert_eq(engine_breaker_admit(b, 2 * SEC, &t[1]),
		     ENGINE_BREAKER_PROBE);
	cr_assert_eq(engine_breaker_record(b, &t[0], true, 2 * SEC),
		     ENGINE_BREAKER_NONE);
	cr_assert_eq(engine_breaker_record(b, &t[1], true, 2 * SEC),
		     ENGINE_BREAKER_CLOSED);
	free(b);
}
