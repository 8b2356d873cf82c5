/* SPDX-License-Identifier: MIT */
/*
 * test_lecture.c - the resilience lecture's examples, as integration tests:
 * the real engine on sensors simulated by ringside-sim, read back through
 * libringside.
 *
 *   1. A sensor failing 60% of its reads, with retry_attempts = 4, fails
 *      0.6^4 (about 13%) of its calls; with retry_attempts = 1, 60%.
 *   2. A sustained outage under a breaker of 3 failures in 5 s with a 1 s
 *      reset: it opens after the third failed call, is "open" with no I/O
 *      while open, lets one probe through per reset interval, closes when
 *      the sensor is back; the healthy sensors never notice.
 *   3. Five sensors S0..S4 with S3 down: every batch on time, degraded,
 *      4 of 5 available, S3 named with its error, the four others present.
 *   4. Retry and breaker stacked: a transient failure is absorbed by the
 *      retry and never opens the breaker; a sustained one opens it.
 *
 * Every attempt on a request feed of ringside-sim is one request, and with
 * --seed the sim's fault for request n of a feed is the same on every run,
 * so the counts below repeat from run to run; the bounds are nevertheless
 * those a fresh seed would meet (a binomial bound of 4.5 sigma), and
 * $RINGSIDE_TEST_SEED runs the suite on another seed.  Nothing
 * here measures time: the assertions are on statuses, their order, and
 * counters.  "On time" is a gapless seq with the engine's own
 * late_batches counter within what scheduler noise makes (H_OFF_TIME), in
 * configurations where every call ends well before its deadline.  The breaker's timings are reported (cr_log_info), never
 * asserted.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "harness.h"
#include "ringside.h"

#define LECTURE_SEED "39" /* --seed of the sim runs: lecture 39 */
#define LECTURE_SIGMAS 4.5

TestSuite(lecture, .init = h_init, .fini = h_fini, .timeout = 60);

/* The sim's seed: LECTURE_SEED, or $RINGSIDE_TEST_SEED to try others. */
static const char *lecture_seed(void)
{
	const char *seed = getenv("RINGSIDE_TEST_SEED");

	return seed != NULL && *seed ? seed : LECTURE_SEED;
}

/*
 * Whether @share of @n trials fits a success probability @p: within
 * LECTURE_SIGMAS standard deviations of the binomial proportion.
 */
static bool lecture_fits(double share, double p, uint64_t n)
{
	return fabs(share - p) <=
	       LECTURE_SIGMAS * sqrt(p * (1 - p) / (double)n);
}

/*
 * Take the next batch: true with one.  Once @stop is true the engine is
 * sent SIGTERM, once; the batches it still publishes are taken, and false
 * is returned when it has stopped cleanly and every batch was taken, so
 * that the counters read afterwards cover exactly the batches seen.
 */
static bool lecture_next(struct h_feed *f, pid_t pid, bool stop)
{
	static bool stopping;
	int ret;

	if (stop && !stopping) {
		cr_assert_eq(kill(pid, SIGTERM), 0);
		stopping = true;
	}
	ret = h_try_next(f, H_BATCH_MS);
	if (ret == 1)
		return true;
	cr_assert(stopping, "no batch after seq %llu (%d)",
		  (unsigned long long)f->seq, ret);
	cr_assert_eq(ret, RINGSIDE_CLOSED, "the engine did not stop cleanly");
	h_expect_exit(pid, 5000, 0);
	return false;
}

/* ---- 1. retry: 0.6^4 ---------------------------------------------------- */

/*
 * Four flaky sensors per retry setting, each on its own feed, so that 2000
 * calls of each setting take 10 s at a 20 ms period.  A failed request
 * closes the connection (the sim's fail=); the retry reconnects.
 */
Test(lecture,
     retry_of_4_attempts_turns_60_percent_failed_reads_into_13_percent_failed_calls)
{
	enum { PER = 4, N = 2 * PER, CALLS = 2000 };
	static const unsigned attempts[2] = { 4, 1 };
	char name[40], cfg[4096], feeds[N][96], addr[N][128], sensors[3000];
	const char *fp[N];
	struct ringside_sensor_stats st[N];
	uint64_t ok[N] = { 0 }, failed[N] = { 0 }, pending[N] = { 0 };
	uint64_t least = 0, end;
	uint64_t calls[2] = { 0 }, fails[2] = { 0 }, tries[2] = { 0 };
	uint64_t timeouts[2] = { 0 };
	size_t off = 0;
	unsigned i, g;
	struct h_feed f;
	pid_t pid;

	for (i = 0; i < N; i++) {
		snprintf(feeds[i], sizeof(feeds[i]),
			 "tcp:127.0.0.1:0,mode=request,fail=0.6,value=%u", i);
		fp[i] = feeds[i];
	}
	h_sim_with("60", lecture_seed(), fp, N, addr);
	for (i = 0; i < N; i++)
		off += (size_t)snprintf(sensors + off, sizeof(sensors) - off,
					"[sensor r%u_%u]\n"
					"source = tcp:127.0.0.1:%u\n"
					"retry_attempts = %u\n\n",
					attempts[i / PER], i % PER,
					h_addr_port(addr[i]),
					attempts[i / PER]);
	h_name(name, sizeof(name), "r");
	h_config(cfg, sizeof(cfg), name, "20ms",
		 "[defaults]\nrequest = get\\n\ntimeout = 40ms\n"
		 "retry_base = 1ms\nretry_max = 2ms\n"
		 "breaker_failures = 1000\n\n%s",
		 sensors);
	pid = h_engine(cfg, "60");
	h_attach(&f, name, pid, N);

	/*
	 * A call's result shows in one batch at most: its own, or a later
	 * one where it is marked late.
	 */
	end = h_now_ms() + 45000;
	while (lecture_next(&f, pid, least * PER >= CALLS)) {
		least = UINT64_MAX;
		for (i = 0; i < N; i++) {
			const struct ringside_reading *v = &f.v[i];
			unsigned want = attempts[i / PER];

			cr_assert(!h_is(v, "open"), "sensor %u open", i);
			if (v->status == RINGSIDE_OK) {
				ok[i]++;
				cr_assert_float_eq(v->value, (double)i, 1e-9);
				cr_assert_leq(v->attempts, want);
			} else if (v->status == RINGSIDE_FAILED) {
				failed[i]++;
				cr_assert_eq(v->attempts, want,
					     "sensor %u failed after %u "
					     "attempts",
					     i, v->attempts);
			} else {
				pending[i]++;
			}
			if (ok[i] + failed[i] < least)
				least = ok[i] + failed[i];
		}
		cr_assert_lt(h_now_ms(), end,
			     "only %llu calls per sensor in 45 s",
			     (unsigned long long)least);
	}

	/*
	 * The counters agree with the batches, and they are the figures.  A
	 * call that ended after its deadline, when the next tick's call ended
	 * by its own, is counted but shows in no batch: at most one per
	 * batch where the sensor was pending.
	 */
	h_stats(&f, NULL, st);
	for (i = 0; i < N; i++) {
		const uint64_t *c = st[i].counter;

		cr_assert_geq(c[RINGSIDE_SC_OK], ok[i],
			      "sensor %u: %llu ok calls counted, %llu seen", i,
			      (unsigned long long)c[RINGSIDE_SC_OK],
			      (unsigned long long)ok[i]);
		cr_assert_geq(c[RINGSIDE_SC_FAILED], failed[i],
			      "sensor %u: %llu failed calls counted, %llu seen",
			      i, (unsigned long long)c[RINGSIDE_SC_FAILED],
			      (unsigned long long)failed[i]);
		cr_assert_leq(c[RINGSIDE_SC_CALLS] - ok[i] - failed[i],
			      pending[i],
			      "sensor %u: %llu calls counted, %llu seen, "
			      "%llu pending",
			      i, (unsigned long long)c[RINGSIDE_SC_CALLS],
			      (unsigned long long)(ok[i] + failed[i]),
			      (unsigned long long)pending[i]);
		cr_assert_eq(c[RINGSIDE_SC_CALLS],
			     c[RINGSIDE_SC_OK] + c[RINGSIDE_SC_FAILED]);
		cr_assert_eq(c[RINGSIDE_SC_OPENS], 0);
		calls[i / PER] += c[RINGSIDE_SC_CALLS];
		fails[i / PER] += c[RINGSIDE_SC_FAILED];
		tries[i / PER] += c[RINGSIDE_SC_ATTEMPTS];
		timeouts[i / PER] += c[RINGSIDE_SC_TIMEOUTS];
	}
	for (g = 0; g < 2; g++) {
		double p = pow(0.6, attempts[g]);
		double share = (double)fails[g] / (double)calls[g];
		double per = (double)tries[g] / (double)calls[g];
		double mean = 0, square = 0;
		unsigned j;

		/*
		 * Attempts per call: attempt j is made with probability
		 * 0.6^(j-1), so E[A] = sum 0.6^(j-1) and E[A^2] = sum
		 * (2j - 1) 0.6^(j-1).  That they fit too says that every
		 * attempt was one independent read.
		 */
		for (j = 1; j <= attempts[g]; j++) {
			mean += pow(0.6, j - 1);
			square += (2 * j - 1) * pow(0.6, j - 1);
		}
		cr_log_info("retry_attempts = %u: %llu of %llu calls failed "
			    "(%.2f%%, expected %.2f%%), %.3f attempts per "
			    "call (expected %.3f), %llu attempts timed out",
			    attempts[g], (unsigned long long)fails[g],
			    (unsigned long long)calls[g], 100 * share, 100 * p,
			    per, mean, (unsigned long long)timeouts[g]);
		cr_assert_geq(calls[g], CALLS);
		cr_assert(lecture_fits(share, p, calls[g]),
			  "retry_attempts = %u: %.4f of %llu calls failed, "
			  "not %.4f",
			  attempts[g], share, (unsigned long long)calls[g], p);
		/* A call cut short by the stop made attempts but no call. */
		cr_assert_leq(fabs(per - mean),
			      LECTURE_SIGMAS * sqrt((square - mean * mean) /
						    (double)calls[g]) +
				      (double)(PER * attempts[g]) /
					      (double)calls[g],
			      "retry_attempts = %u: %.4f attempts per call, "
			      "not %.4f",
			      attempts[g], per, mean);
	}
	h_done();
}

/* ---- 2. the breaker through a sustained outage -------------------------- */

/*
 * The status of the outage's sensor in one batch, as the breaker sees it:
 * 'v' a value, 'f' a failed call, 'o' open, 'p' pending.
 */
static char lecture_code(const struct ringside_reading *v)
{
	switch (v->status) {
	case RINGSIDE_OK:
		return 'v';
	case RINGSIDE_FAILED:
		return 'f';
	case RINGSIDE_OPEN:
		return 'o';
	default:
		return 'p';
	}
}

/*
 * The outage is the test's own doing, on a port reserved for the whole
 * test: up, a peer answers "3"; down, nothing listens and connecting is
 * refused; up again after the fourth failed probe.  So the count of probes
 * is fixed, and how often they come is seen in the batches: every run of
 * open batches between two probes is the reset interval, 10 ticks.
 */
Test(lecture,
     breaker_opens_on_the_third_failed_call_probes_each_second_and_closes_on_return,
     .timeout = 40)
{
	enum { FILE0, LOAD, LIVE, SVC, N };
	enum { BEFORE, FAILING, OPEN, BACK } phase = BEFORE;
	enum { FAILED_PROBES = 4 };
	char name[40], cfg[2048], temp[256], feed[96], addr[1][128];
	const char *fp[1] = { feed };
	struct ringside_sensor_stats st[N], was[N];
	struct ringside_engine_stats es;
	struct peer peers[1];
	uint64_t down_ns = 0, up_ns = 0, fail3_tick = 0, fail3_lat = 0;
	uint64_t open_tick = 0, probe_tick = 0, back_tick = 0, back_lat = 0;
	unsigned ok_before = 0, fails = 0, probes = 0, opens = 0;
	unsigned ok_after = 0, calls = 0, idle_checks = 0;
	unsigned run = 0, shortest = UINT32_MAX, longest = 0;
	unsigned i, port;
	bool sampled = false;
	struct h_feed f;
	pid_t pid, peer;
	char prev = 0;
	int listener;

	snprintf(feed, sizeof(feed), "tcp:127.0.0.1:0,mode=request,value=7");
	h_sim_with("30", lecture_seed(), fp, 1, addr);
	port = h_reserve_port();
	listener = h_listen_reserved(port, 16);
	peers[0] =
		(struct peer){ .kind = PEER_VALUE, .fd = listener, .value = 3 };
	peer = h_peers(peers, 1);
	h_path(temp, sizeof(temp), "temp");
	h_put_text(temp, "21.5\n");
	h_name(name, sizeof(name), "b");
	h_config(cfg, sizeof(cfg), name, "100ms",
		 "[defaults]\nrequest = get\\n\ntimeout = 20ms\n"
		 "retry_attempts = 2\nretry_base = 2ms\nretry_max = 2ms\n\n"
		 "[sensor file0]\nsource = file:%s\n" H_FILE_KEYS
		 "[sensor load]\nsource = file:/proc/loadavg\n" H_FILE_KEYS
		 "[sensor live]\nsource = tcp:127.0.0.1:%u\n"
		 "retry_attempts = 3\n\n"
		 "[sensor svc]\nsource = tcp:127.0.0.1:%u\n"
		 "breaker_failures = 3\nbreaker_window = 5s\n"
		 "breaker_reset = 1s\n",
		 temp, h_addr_port(addr[0]), port);
	pid = h_engine(cfg, "30");
	h_attach(&f, name, pid, N);

	while (lecture_next(&f, pid, phase == BACK && ok_after >= 20)) {
		const struct ringside_reading *v = &f.v[SVC];
		char c = lecture_code(v);

		cr_assert_lt(f.batches, 300, "no recovery in 300 batches");
		/* The healthy sensors never notice. */
		h_expect_value(&f, FILE0, 21.5);
		cr_assert(h_is(&f.v[LOAD], "ok"), "load: %s",
			  h_what(&f.v[LOAD]));
		h_expect_value(&f, LIVE, 7);
		for (i = 0; i < SVC; i++)
			cr_assert(!h_late(&f.v[i]), "sensor %u late", i);

		cr_assert_neq(c, 'p', "batch %llu: svc pending",
			      (unsigned long long)f.b.seq);
		calls += c == 'v' || c == 'f';
		if (c == 'v')
			h_expect_value(&f, SVC, 3);
		switch (phase) {
		case BEFORE:
			/* Values; after 10 of them, the outage. */
			if (c == 'v') {
				cr_assert(!h_late(v));
				if (++ok_before == 10) {
					h_kill(peer);
					h_close(listener);
					down_ns = h_now_ns();
				}
				break;
			}
			cr_assert_eq(c, 'f', "before the outage: %s",
				     h_what(v));
			cr_assert_neq(down_ns, 0, "svc failed while up: %s",
				      h_what(v));
			phase = FAILING;
			/* fall through */
		case FAILING:
			/* Failed calls, until the third opens it. */
			if (fails < 3) {
				cr_assert_eq(c, 'f', "failure %u: %s",
					     fails + 1, h_what(v));
				if (++fails == 3) {
					fail3_tick = f.b.tick_mono_ns;
					fail3_lat = v->latency_us;
				}
				break;
			}
			cr_assert_eq(c, 'o', "after 3 failed calls: %s",
				     h_what(v));
			phase = OPEN;
			open_tick = f.b.tick_mono_ns;
			/* fall through */
		case OPEN:
			if (c == 'o') {
				cr_assert_eq(v->attempts, 0);
				opens++;
				run++;
				break;
			}
			/* A probe: one call, let through after an open run. */
			cr_assert_eq(prev, 'o',
				     "two calls in a row while open");
			if (probes > 0 && run < shortest)
				shortest = run;
			if (probes > 0 && run > longest)
				longest = run;
			run = 0;
			if (probes++ == 0)
				probe_tick = f.b.tick_mono_ns;
			if (c == 'v') {
				cr_assert_neq(up_ns, 0, "a value while down");
				phase = BACK;
				back_tick = f.b.tick_mono_ns;
				back_lat = v->latency_us;
				ok_after = 1;
				break;
			}
			cr_assert(h_is(v, "ECONNREFUSED"),
				  "probe failed with %s", h_what(v));
			if (probes == FAILED_PROBES) {
				/* The sensor comes back. */
				listener = h_listen_reserved(port, 16);
				peers[0].fd = listener;
				peer = h_peers(peers, 1);
				up_ns = h_now_ns();
			}
			break;
		case BACK:
			/* Closed: a value in every batch. */
			cr_assert_eq(c, 'v', "batch %llu after the return: %s",
				     (unsigned long long)f.b.seq, h_what(v));
			ok_after++;
			break;
		}

		/*
		 * No I/O while open: across a run of open batches the
		 * attempts and connects stand still while the fast-fails
		 * grow.  The counters are as new as the batch before the last
		 * one at least, so a sample taken once two open batches have
		 * been seen covers only ticks at which the breaker refused.
		 */
		if (phase == OPEN && c == 'o' && prev == 'o') {
			h_stats(&f, NULL, st);
			if (sampled) {
				const uint64_t *a = was[SVC].counter;
				const uint64_t *b = st[SVC].counter;

				cr_assert_eq(b[RINGSIDE_SC_ATTEMPTS],
					     a[RINGSIDE_SC_ATTEMPTS],
					     "attempts while open");
				cr_assert_eq(b[RINGSIDE_SC_RECONNECTS],
					     a[RINGSIDE_SC_RECONNECTS],
					     "connects while open");
				cr_assert_eq(b[RINGSIDE_SC_CALLS],
					     a[RINGSIDE_SC_CALLS]);
				cr_assert_geq(b[RINGSIDE_SC_FAST_FAILS],
					      a[RINGSIDE_SC_FAST_FAILS]);
				idle_checks++;
			}
			memcpy(was, st, sizeof(st));
			sampled = true;
		} else {
			sampled = false;
		}
		prev = c;
	}
	h_stats(&f, &es, st);

	cr_assert_gt(idle_checks, 10, "only %u checks of an idle open breaker",
		     idle_checks);
	/*
	 * One probe per reset interval: a run of open batches between two
	 * probes is 1 s of 100 ms ticks; the bounds are generous.
	 */
	cr_assert(shortest >= 4 && longest <= 40,
		  "open runs of %u to %u batches for a 1 s reset at 100 ms",
		  shortest, longest);
	cr_assert_eq(probes, FAILED_PROBES + 1);
	cr_assert_eq(st[SVC].counter[RINGSIDE_SC_PROBES], probes,
		     "%llu probes counted, %u seen",
		     (unsigned long long)st[SVC].counter[RINGSIDE_SC_PROBES],
		     probes);
	/* Opened once, and once more after each failed probe. */
	cr_assert_eq(st[SVC].counter[RINGSIDE_SC_OPENS], FAILED_PROBES + 1);
	cr_assert_eq(st[SVC].counter[RINGSIDE_SC_FAST_FAILS], opens);
	cr_assert_eq(st[SVC].counter[RINGSIDE_SC_BREAKER],
		     RINGSIDE_BREAKER_CLOSED);
	/* Every call shows in a batch, and nothing else was a call. */
	cr_assert_eq(st[SVC].counter[RINGSIDE_SC_CALLS], calls);
	cr_assert_eq(st[SVC].counter[RINGSIDE_SC_CALLS],
		     ok_before + 3 + probes + ok_after - 1);
	h_expect_timely(&f, &es);
	cr_assert_eq(f.b.seq, f.batches, "a batch missing");

	cr_log_info(
		"breaker: down at +0; 3rd failed call ended %.0f ms "
		"later, and opened the breaker; first 'open' batch %.0f ms "
		"after it; first probe %.0f ms after opening; "
		"%u probes, open runs of %u..%u batches of 100 ms; "
		"closed by the probe that ended %.0f ms after the "
		"sensor returned",
		((double)fail3_tick + (double)fail3_lat * 1e3 -
		 (double)down_ns) /
			1e6,
		((double)open_tick - (double)fail3_tick) / 1e6 -
			(double)fail3_lat / 1e3,
		((double)probe_tick - (double)fail3_tick) / 1e6 -
			(double)fail3_lat / 1e3,
		probes, shortest, longest,
		((double)back_tick + (double)back_lat * 1e3 - (double)up_ns) /
			1e6);
	h_done();
}

/* ---- 3. graceful degradation: S3 down ----------------------------------- */

Test(lecture, five_sensors_with_s3_down_give_every_batch_degraded_4_of_5)
{
	enum { N = 5, DOWN = 3 };
	char name[40], cfg[2048], feeds[N - 1][96], addr[N - 1][128];
	char json[4096], want[256];
	const char *fp[N - 1], *names[N] = { "S0", "S1", "S2", "S3", "S4" };
	struct ringside_sensor_stats st[N];
	struct ringside_engine_stats es;
	unsigned i, port[N];
	struct h_feed f;
	pid_t pid;

	/* S0, S1, S2 and S4 answer 10, 11, 12 and 14; S3 is refused. */
	for (i = 0; i < N - 1; i++) {
		snprintf(feeds[i], sizeof(feeds[i]),
			 "tcp:127.0.0.1:0,mode=request,value=%u",
			 10 + i + (i >= DOWN));
		fp[i] = feeds[i];
	}
	h_sim_with("30", lecture_seed(), fp, N - 1, addr);
	for (i = 0; i < N; i++)
		port[i] = i == DOWN ? h_reserve_port()
				    : h_addr_port(addr[i - (i > DOWN)]);
	h_name(name, sizeof(name), "d");
	/*
	 * The breaker is left out (it has a test of its own): here S3 is
	 * called, and refused, at every tick, and named with its error.
	 */
	h_config(cfg, sizeof(cfg), name, "100ms",
		 "[defaults]\nrequest = get\\n\ntimeout = 30ms\n"
		 "retry_attempts = 3\nretry_base = 2ms\nretry_max = 4ms\n"
		 "breaker_failures = 1000\n\n"
		 "[sensor S0]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor S1]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor S2]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor S3]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor S4]\nsource = tcp:127.0.0.1:%u\n",
		 port[0], port[1], port[2], port[3], port[4]);
	pid = h_engine(cfg, "30");
	h_attach(&f, name, pid, N);

	while (lecture_next(&f, pid, f.batches >= 30)) {
		const char *p;

		cr_assert(f.b.flags & RINGSIDE_BATCH_DEGRADED,
			  "batch %llu not degraded",
			  (unsigned long long)f.b.seq);
		cr_assert_eq(f.b.available, 4, "batch %llu: %u of 5 available",
			     (unsigned long long)f.b.seq, f.b.available);
		cr_assert_str_eq(h_what(&f.v[DOWN]), "ECONNREFUSED",
				 "batch %llu", (unsigned long long)f.b.seq);
		cr_assert(!h_late(&f.v[DOWN]));
		cr_assert_eq(f.v[DOWN].attempts, 3);
		for (i = 0; i < N; i++) {
			if (i == DOWN)
				continue;
			h_expect_value(&f, i, 10 + i);
			cr_assert(!h_late(&f.v[i]), "S%u late", i);
		}

		/* What a downstream reader gets: the four readings, and S3
		 * apart, with its cause. */
		cr_assert_gt(ringside_json_batch(json, sizeof(json), name,
						 f.r.epoch_us, names, NULL,
						 &f.b, f.v),
			     0);
		cr_assert_not_null(strstr(json, "\"degraded\":true,"
						"\"available\":4,\"total\":5"),
				   "%s", json);
		p = strstr(json, "\"readings\":[");
		cr_assert_not_null(p, "%s", json);
		for (i = 0; i < N; i++) {
			if (i == DOWN)
				continue;
			snprintf(want, sizeof(want),
				 "{\"sensor\":\"S%u\",\"value\":%u,", i,
				 10 + i);
			p = strstr(p, want);
			cr_assert_not_null(p, "no %s in order in %s", want,
					   json);
		}
		cr_assert_not_null(strstr(json,
					  "],\"missing\":[{\"sensor\":\"S3\","
					  "\"status\":\"failed\","
					  "\"error\":\"ECONNREFUSED\","
					  "\"attempts\":3}]}"),
				   "%s", json);
	}
	h_stats(&f, &es, st);
	h_expect_timely(&f, &es);
	cr_assert_eq(es.counter[RINGSIDE_EC_DEGRADED],
		     es.counter[RINGSIDE_EC_BATCHES]);
	cr_assert_eq(f.b.seq, f.batches, "a batch missing");
	for (i = 0; i < N; i++) {
		if (i == DOWN)
			continue;
		cr_assert_eq(
			st[i].counter[RINGSIDE_SC_FAILED], 0,
			"S%u failed %llu calls", i,
			(unsigned long long)st[i].counter[RINGSIDE_SC_FAILED]);
	}
	cr_assert_eq(st[DOWN].counter[RINGSIDE_SC_OK], 0);
	cr_assert_geq(st[DOWN].counter[RINGSIDE_SC_FAILED], 30);
	h_done();
}

/* ---- 4. retry and breaker stacked -------------------------------------- */

/*
 * Two transient faults, each hitting single attempts: "drops" closes the
 * connection on 20% of the requests, "stalls" never answers 20% of them
 * (the attempt times out).  A call fails only if its 4 attempts all do
 * (0.2^4), so the retry absorbs them, and the breaker, which counts
 * failed calls, never sees 3 within its window.  "gone" is refused at
 * every attempt: its calls fail, and the third opens the breaker.
 */
Test(lecture,
     transient_failures_are_absorbed_by_retry_and_only_a_sustained_one_opens_the_breaker)
{
	enum { FILE0, DROPS, STALLS, GONE, N };
	static const char *const what[N] = { "file0", "drops", "stalls",
					     "gone" };
	char name[40], cfg[2048], temp[256], feeds[2][96], addr[2][128];
	const char *fp[2] = { feeds[0], feeds[1] };
	struct ringside_sensor_stats st[N];
	struct ringside_engine_stats es;
	unsigned retried[N] = { 0 }, gone_fails = 0, gone_open = 0;
	unsigned gone_probes = 0;
	struct h_feed f;
	unsigned i;
	pid_t pid;

	snprintf(feeds[0], sizeof(feeds[0]),
		 "tcp:127.0.0.1:0,mode=request,value=1,fail=0.2");
	snprintf(feeds[1], sizeof(feeds[1]),
		 "tcp:127.0.0.1:0,mode=request,value=2,hang=0.2");
	h_sim_with("30", lecture_seed(), fp, 2, addr);
	h_path(temp, sizeof(temp), "temp");
	h_put_text(temp, "21.5\n");
	h_name(name, sizeof(name), "s");
	/* Every chain of 4 attempts ends within 70 ms of a 100 ms period. */
	h_config(cfg, sizeof(cfg), name, "100ms",
		 "[defaults]\nrequest = get\\n\n"
		 "timeout = 20ms\nretry_attempts = 4\nretry_base = 5ms\n"
		 "retry_max = 20ms\nretry_jitter = none\n"
		 "breaker_failures = 3\nbreaker_window = 5s\n"
		 "breaker_reset = 1s\n\n"
		 "[sensor file0]\nsource = file:%s\n" H_FILE_KEYS
		 "[sensor drops]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor stalls]\nsource = tcp:127.0.0.1:%u\n"
		 "timeout = 15ms\nretry_base = 2ms\nretry_max = 4ms\n\n"
		 "[sensor gone]\nsource = tcp:127.0.0.1:%u\n",
		 temp, h_addr_port(addr[0]), h_addr_port(addr[1]),
		 h_reserve_port());
	pid = h_engine(cfg, "30");
	h_attach(&f, name, pid, N);

	/* 6 s: 60 calls of each, gone's breaker long open. */
	while (lecture_next(&f, pid, f.batches >= 60)) {
		const struct ringside_reading *g = &f.v[GONE];

		h_expect_value(&f, FILE0, 21.5);
		for (i = DROPS; i <= STALLS; i++) {
			const struct ringside_reading *v = &f.v[i];

			cr_assert(!h_is(v, "open"), "batch %llu: %s open",
				  (unsigned long long)f.b.seq, what[i]);
			if (v->status == RINGSIDE_OK) {
				h_expect_value(&f, i, i == DROPS ? 1 : 2);
				retried[i] += v->attempts > 1;
			}
		}
		/*
		 * A sustained failure: failed calls of 4 refused attempts
		 * each, open from the third on but for a failed probe now and
		 * then.
		 */
		cr_assert(h_is(g, "ECONNREFUSED") || h_is(g, "open"),
			  "batch %llu: gone: %s", (unsigned long long)f.b.seq,
			  h_what(g));
		if (h_is(g, "open")) {
			cr_assert_eq(gone_fails, 3,
				     "open after %u failed calls", gone_fails);
			gone_open++;
		} else {
			cr_assert_eq(g->attempts, 4, "gone: %u attempts",
				     g->attempts);
			if (gone_open == 0)
				gone_fails++;
			else
				gone_probes++;
		}
	}
	h_stats(&f, &es, st);

	for (i = DROPS; i <= STALLS; i++) {
		const uint64_t *c = st[i].counter;

		cr_log_info("%s: %llu calls, %llu attempts, %llu timed out, "
			    "%llu ok after a retry, %llu failed, %llu opens",
			    what[i], (unsigned long long)c[RINGSIDE_SC_CALLS],
			    (unsigned long long)c[RINGSIDE_SC_ATTEMPTS],
			    (unsigned long long)c[RINGSIDE_SC_TIMEOUTS],
			    (unsigned long long)c[RINGSIDE_SC_RETRY_OK],
			    (unsigned long long)c[RINGSIDE_SC_FAILED],
			    (unsigned long long)c[RINGSIDE_SC_OPENS]);
		/* Absorbed: retried into values, never open. */
		cr_assert_eq(c[RINGSIDE_SC_OPENS], 0, "%s opened", what[i]);
		cr_assert_eq(c[RINGSIDE_SC_FAST_FAILS], 0);
		cr_assert_gt(c[RINGSIDE_SC_RETRY_OK], 0);
		cr_assert_gt(retried[i], 0);
		cr_assert_gt(c[RINGSIDE_SC_ATTEMPTS], c[RINGSIDE_SC_CALLS]);
		cr_assert_leq(c[RINGSIDE_SC_FAILED], 2, "%s failed %llu calls",
			      what[i],
			      (unsigned long long)c[RINGSIDE_SC_FAILED]);
	}
	cr_assert_gt(st[STALLS].counter[RINGSIDE_SC_TIMEOUTS], 0);
	/*
	 * The breaker counts calls, not attempts: it opened on the third
	 * failed call, the twelfth failed attempt, and each probe since was
	 * one more call of 4 attempts that opened it again.
	 */
	cr_assert_eq(gone_fails, 3);
	cr_assert_gt(gone_open, 20, "gone open in %u batches", gone_open);
	cr_assert_eq(st[GONE].counter[RINGSIDE_SC_FAILED], 3 + gone_probes);
	cr_assert_eq(st[GONE].counter[RINGSIDE_SC_ATTEMPTS],
		     4 * (3 + gone_probes));
	cr_assert_eq(st[GONE].counter[RINGSIDE_SC_OPENS], 1 + gone_probes);
	cr_assert_eq(st[GONE].counter[RINGSIDE_SC_FAST_FAILS], gone_open);
	h_expect_timely(&f, &es);
	h_done();
}
