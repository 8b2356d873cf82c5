/* SPDX-License-Identifier: MIT */
/*
 * test_engine.c - ringsided from the outside: the real engine runs as a
 * child process on a generated INI configuration, reading real sources
 * (tmpfs files, procfs files, FIFOs, ptys, TCP, UDP and Unix sockets on
 * loopback, fed by ringside-sim or by peers the harness forks), and its
 * batches are read back through libringside exactly as a client would.
 *
 * What is asserted is behaviour, never timing: sequence numbers 1, 2, 3
 * without a gap, every sensor in every batch in configuration order, the
 * status and errno of each fault, healthy sensors unaffected by faulty
 * ones, clean stops.  Where a count over a duration is checked, the bound
 * is half of what the period promises.
 *
 * The harness (tests/harness.h) keeps a registry of every child, mount and
 * descriptor a test holds, and the suite's .fini takes them all down, with
 * the segments and the temporary directory, whether the test passed or an
 * assertion ended it.  Set RINGSIDE_TEST_VERBOSE to have the children's
 * logs, and one line per batch taken, copied to stderr at the end of each
 * test.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <criterion/parameterized.h>

#include "harness.h"
#include "ringside.h"

TestSuite(engine, .init = h_init, .fini = h_fini, .timeout = 30);

/* ---- the command line -------------------------------------------------- */

Test(engine, once_prints_one_json_line_that_parses)
{
	char name[40], cfg[256], temp[256], missing[256], bin[256];
	char out[8192], py[4096];
	char *argv[] = { bin, "-c", cfg, "--once", NULL };
	const char *nl;
	int fd, status;
	pid_t pid;

	h_name(name, sizeof(name), "o");
	h_path(temp, sizeof(temp), "temp");
	h_path(missing, sizeof(missing), "missing");
	h_put_text(temp, "42.5\n");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\n\n"
		 "[sensor a]\nsource = file:%s\nunit = C\n\n"
		 "[sensor b]\nsource = file:/proc/loadavg\n\n"
		 "[sensor c]\nsource = file:%s\n",
		 temp, missing);
	h_bin(bin, sizeof(bin), "ringsided");
	pid = h_spawn(argv, &fd, "once.log");
	h_read_all(fd, out, sizeof(out), 5000);
	h_expect_exit(pid, 5000, 0);

	/* One line, ending in a newline, holding one object. */
	nl = strchr(out, '\n');
	cr_assert_not_null(nl, "no line on stdout: '%s'", out);
	cr_assert_eq(nl[1], '\0', "more than one line: '%s'", out);
	cr_assert_eq(out[0], '{');
	cr_assert_eq(nl[-1], '}');
	cr_assert_not_null(strstr(out, "\"seq\":1,"), "%s", out);
	cr_assert_not_null(strstr(out, "\"total\":3"), "%s", out);
	cr_assert_not_null(strstr(out, "\"available\":2"), "%s", out);
	cr_assert_not_null(strstr(out, "\"degraded\":true"), "%s", out);
	cr_assert_not_null(strstr(out, "\"value\":42.5"), "%s", out);
	cr_assert_not_null(strstr(out, "\"error\":\"ENOENT\""), "%s", out);

	/* And a JSON parser agrees, field by field. */
	h_path(py, sizeof(py), "once.json");
	h_put_text(py, out);
	{
		char *pargv[] = {
			"python3",
			"-c",
			"import json, sys\n"
			"text = open(sys.argv[1]).read()\n"
			"assert text.endswith('\\n') and text.count('\\n') == "
			"1\n"
			"d = json.loads(text)\n"
			"assert d['seq'] == 1 and d['total'] == 3, d\n"
			"assert d['available'] == 2 and d['degraded'] is True\n"
			"assert d['lost'] == 0 and d['engine'] == sys.argv[2]\n"
			"assert isinstance(d['epoch'], int) and d['epoch'] > "
			"0\n"
			"r = d['readings']\n"
			"assert [x['sensor'] for x in r] == ['a', 'b'], r\n"
			"assert r[0]['value'] == 42.5 and r[0]['unit'] == 'C'\n"
			"assert r[0]['attempts'] == 1, r\n"
			"assert isinstance(r[1]['value'], (int, float))\n"
			"m = d['missing']\n"
			"assert [x['sensor'] for x in m] == ['c'], m\n"
			"assert m[0]['status'] == 'failed', m\n"
			"assert m[0]['error'] == 'ENOENT', m\n"
			"assert m[0]['attempts'] == 1, m\n",
			py,
			name,
			NULL
		};
		pid_t ppid = h_spawn(pargv, NULL, "python.log");

		cr_assert_eq(h_wait(ppid, 10000, &status), 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
			cr_log_warn("python3 not found: JSON parse skipped");
		} else {
			h_slurp("python.log", py, sizeof(py));
			cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
				  "the line does not parse as the contract "
				  "says: %s\n%s",
				  out, py);
		}
	}
}

Test(engine, check_reports_every_problem_as_file_line_and_exits_2)
{
	char name[40], cfg[256], bin[256], seg[96], log[4096], want[300];
	char *argv[] = { bin, "-c", cfg, "--check", NULL };
	pid_t pid;
	FILE *f;

	h_name(name, sizeof(name), "c");
	h_path(cfg, sizeof(cfg), "bad.ini");
	f = fopen(cfg, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"[engine]\n"			/* 1 */
		"name = %s\n"			/* 2 */
		"period = 0ms\n"		/* 3 */
		"\n"				/* 4 */
		"[sensor a]\n"			/* 5 */
		"source = file:/proc/loadavg\n" /* 6 */
		"colour = blue\n"		/* 7 */
		"[sensor a]\n"			/* 8 */
		"source = file:/proc/uptime\n", /* 9 */
		name);
	fclose(f);
	snprintf(seg, sizeof(seg), "/dev/shm/ringside.%s", name);

	h_bin(bin, sizeof(bin), "ringsided");
	pid = h_spawn(argv, NULL, "check.log");
	h_expect_exit(pid, 5000, 2);
	h_slurp("check.log", log, sizeof(log));
	snprintf(want, sizeof(want), "%s:3: ", cfg);
	cr_assert_not_null(strstr(log, want), "no '%s' in:\n%s", want, log);
	snprintf(want, sizeof(want), "%s:7: ", cfg);
	cr_assert_not_null(strstr(log, want), "no '%s' in:\n%s", want, log);
	snprintf(want, sizeof(want), "%s:8: ", cfg);
	cr_assert_not_null(strstr(log, want), "no '%s' in:\n%s", want, log);
	cr_assert_eq(access(seg, F_OK), -1, "--check created %s", seg);
}

Test(engine, check_accepts_a_good_config_and_creates_no_segment)
{
	char name[40], cfg[256], bin[256], seg[96];
	char *argv[] = { bin, "-c", cfg, "--check", NULL };
	pid_t pid;

	h_name(name, sizeof(name), "g");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n");
	snprintf(seg, sizeof(seg), "/dev/shm/ringside.%s", name);
	h_bin(bin, sizeof(bin), "ringsided");
	pid = h_spawn(argv, NULL, "check.log");
	h_expect_exit(pid, 5000, 0);
	cr_assert_eq(access(seg, F_OK), -1, "--check created %s", seg);
}

/* ---- batches, sources, clean stops ------------------------------------- */

Test(engine, batches_are_gapless_and_hold_every_sensor_in_order)
{
	enum { TEMP, LOAD, UPTIME, FIFO, PTY, UNIXS, TCPREQ, UDP, N };
	static const char *const names[N] = { "temp", "load", "uptime", "fifo",
					      "pty",  "unix", "tcpreq", "udp" };
	char name[40], cfg[256], temp[256], fifo[256], usock[256];
	char feeds[4][300], addr[4][128];
	const char *fp[4] = { feeds[0], feeds[1], feeds[2], feeds[3] };
	unsigned udp_port, i, ok[N] = { 0 };
	struct peer peers[1];
	struct h_feed f;
	double last_uptime = 0;
	pid_t pid;

	h_name(name, sizeof(name), "b");
	h_path(temp, sizeof(temp), "temp");
	h_path(fifo, sizeof(fifo), "f.fifo");
	h_path(usock, sizeof(usock), "u.sock");
	h_put_text(temp, "21.5\n");
	snprintf(feeds[0], sizeof(feeds[0]), "fifo:%s,value=3,rate=100", fifo);
	snprintf(feeds[1], sizeof(feeds[1]), "pty:p,value=5,rate=100");
	snprintf(feeds[2], sizeof(feeds[2]), "unix:%s,value=9,rate=100", usock);
	snprintf(feeds[3], sizeof(feeds[3]),
		 "tcp:127.0.0.1:0,mode=request,value=7");
	h_sim(fp, 4, addr);

	peers[0] = (struct peer){ .kind = PEER_UDP, .value = 4.5 };
	udp_port = h_closed_port(SOCK_DGRAM);
	peers[0].port = udp_port;
	peers[0].fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	h_keep_fd(peers[0].fd);
	h_peers(peers, 1);

	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 2\nretry_base = 5ms\n"
		 "retry_max = 5ms\ntimeout = 20ms\n\n"
		 "[sensor temp]\nsource = file:%s\nunit = C\n" H_FILE_KEYS
		 "[sensor load]\nsource = file:/proc/loadavg\n"
		 "field = 0\n" H_FILE_KEYS
		 "[sensor uptime]\nsource = file:/proc/uptime\n" H_FILE_KEYS
		 "[sensor fifo]\nsource = stream:%s\n\n"
		 "[sensor pty]\nsource = stream:%s\nserial = 9600 8N1\n\n"
		 "[sensor unix]\nsource = unix:%s\n\n"
		 "[sensor tcpreq]\nsource = tcp:127.0.0.1:%u\n"
		 "request = get\\n\n\n"
		 "[sensor udp]\nsource = udp:127.0.0.1:%u\n",
		 temp, addr[0], addr[1], addr[2], h_addr_port(addr[3]),
		 udp_port);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, N);

	for (i = 0; i < N; i++) {
		char sname[RINGSIDE_NAME_MAX + 1], unit[RINGSIDE_UNIT_MAX + 1];

		cr_assert_eq(ringside_reader_sensor(&f.r, i, sname, unit), 0);
		cr_assert_str_eq(sname, names[i], "sensor %u", i);
		cr_assert_str_eq(unit, i == TEMP ? "C" : "");
	}
	while (f.batches < 30) {
		h_next(&f);
		if (f.batches == 1)
			cr_assert_eq(f.b.seq, 1, "the first batch is %llu",
				     (unsigned long long)f.b.seq);
		/* Files and procfs answer at every tick. */
		h_expect_value(&f, TEMP, 21.5);
		cr_assert(h_is(&f.v[LOAD], "ok"), "load: %s",
			  h_what(&f.v[LOAD]));
		cr_assert_geq(f.v[LOAD].value, 0);
		cr_assert(h_is(&f.v[UPTIME], "ok"), "uptime: %s",
			  h_what(&f.v[UPTIME]));
		cr_assert_geq(f.v[UPTIME].value, last_uptime);
		last_uptime = f.v[UPTIME].value;
		for (i = 0; i < N; i++)
			ok[i] += f.v[i].status == RINGSIDE_OK;
		if (h_is(&f.v[FIFO], "ok"))
			h_expect_value(&f, FIFO, 3);
		if (h_is(&f.v[PTY], "ok"))
			h_expect_value(&f, PTY, 5);
		if (h_is(&f.v[UNIXS], "ok"))
			h_expect_value(&f, UNIXS, 9);
		if (h_is(&f.v[TCPREQ], "ok"))
			h_expect_value(&f, TCPREQ, 7);
		if (h_is(&f.v[UDP], "ok"))
			h_expect_value(&f, UDP, 4.5);
	}
	/* Pushed and requested values arrive in most batches. */
	for (i = FIFO; i < N; i++)
		cr_assert_geq(ok[i], 15, "%s ok in only %u of 30 batches",
			      names[i], ok[i]);
	h_done();
}

Test(engine, sigterm_publishes_the_tick_and_closes_the_segment)
{
	char name[40], cfg[256];
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "t");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n\n"
		 "[sensor b]\nsource = file:/proc/uptime\n");
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	while (f.batches < 5)
		h_next(&f);
	cr_assert_eq(kill(pid, SIGTERM), 0);
	h_expect_exit(pid, 5000, 0);

	/* Every batch up to the last is there, then the segment is closed. */
	while (h_try_next(&f, H_BATCH_MS) == 1)
		;
	cr_assert_eq(f.seq, ringside_reader_head(&f.r));
	cr_assert_eq(ringside_reader_state(&f.r), RINGSIDE_CLOSED);
	cr_assert_eq(ringside_reader_wait(&f.r, 1000), RINGSIDE_CLOSED);
	h_done();
}

Test(engine, duration_stops_the_engine_as_sigterm_does)
{
	char name[40], cfg[256], bin[256];
	char *argv[] = { bin, "-c", cfg, "--duration", "0.5", NULL };
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "d");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n");
	h_bin(bin, sizeof(bin), "ringsided");
	pid = h_spawn(argv, NULL, "engine.log");
	h_expect_exit(pid, 10000, 0);

	/* The segment outlives the engine: read it all from seq 1. */
	h_attach(&f, name, 0, 1);
	while (h_try_next(&f, 1000) == 1)
		cr_assert(h_is(&f.v[0], "ok"), "%s", h_what(&f.v[0]));
	cr_assert_geq(f.batches, 5, "only %llu batches in 0.5 s at 50 ms",
		      (unsigned long long)f.batches);
	cr_assert_eq(ringside_reader_state(&f.r), RINGSIDE_CLOSED);
	h_done();
}

Test(engine, killed_engine_is_reported_dead)
{
	char name[40], cfg[256];
	struct h_feed f;
	uint64_t end;
	pid_t pid;
	int ev = RINGSIDE_TIMEOUT;

	h_name(name, sizeof(name), "k");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n");
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	h_next(&f);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	h_forget_child(pid);
	end = h_now_ms() + 10000;
	while (h_now_ms() < end) {
		ev = h_try_next(&f, 500);
		if (ev == RINGSIDE_DEAD || ev == RINGSIDE_CLOSED)
			break;
	}
	cr_assert_eq(ev, RINGSIDE_DEAD, "a killed engine gave event %d", ev);
	h_done();
}

/* ---- file sources: values and faults ----------------------------------- */

/*
 * One file and what it must give.  Criterion hands the parameters to a
 * fresh process, so they hold arrays, never pointers.
 */
struct file_case {
	char content[32]; /* empty: the file does not exist */
	size_t big;	  /* > 0: that many '7's and a newline instead */
	char keys[48];	  /* more keys for the sensor */
	char expect[16];  /* "ok" or an errno name */
	double value;	  /* when ok */
};

ParameterizedTestParameters(engine, file_values_and_faults)
{
	static struct file_case cases[] = {
		{ "21.5\n", 0, "", "ok", 21.5 },
		{ "45000\n", 0, "scale = 0.001\n", "ok", 45 },
		{ "1000\n", 0, "offset = 24\nscale = 0.5\n", "ok", 512 },
		{ "1 2 3\n", 0, "field = 2\n", "ok", 3 },
		{ "a b\nc 7\n", 0, "line = 1\nfield = 1\n", "ok", 7 },
		{ "hello\n", 0, "", "EBADMSG", 0 },
		{ "\n", 0, "", "EBADMSG", 0 },
		{ "nan\n", 0, "", "EBADMSG", 0 },
		{ "inf\n", 0, "", "EBADMSG", 0 },
		{ "1e999\n", 0, "", "EBADMSG", 0 },
		{ "1 2\n", 0, "field = 5\n", "EBADMSG", 0 },
		{ "150\n", 0, "min = 0\nmax = 100\n", "ERANGE", 0 },
		{ "-5\n", 0, "min = 0\nmax = 100\n", "ERANGE", 0 },
		{ "100\n", 0, "min = 0\nmax = 100\n", "ok", 100 },
		{ "", 5000, "", "EMSGSIZE", 0 },
		{ "", 0, "", "ENOENT", 0 },
	};

	return cr_make_param_array(struct file_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct file_case *c, engine, file_values_and_faults)
{
	char name[40], cfg[256], path[256], bin[256];
	char *argv[] = { bin, "-c", cfg, "--once", NULL };
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "f");
	h_path(path, sizeof(path), "value");
	if (c->big > 0) {
		char *buf = malloc(c->big + 1);

		cr_assert_not_null(buf);
		memset(buf, '7', c->big);
		buf[c->big] = '\n';
		h_put(path, buf, c->big + 1);
		free(buf);
	} else if (c->content[0] != '\0') {
		h_put_text(path, c->content);
	}
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor s]\nsource = file:%s\nretry_attempts = 1\n%s", path,
		 c->keys);
	h_bin(bin, sizeof(bin), "ringsided");
	pid = h_spawn(argv, NULL, "once.log");
	h_expect_exit(pid, 5000, 0);

	h_attach(&f, name, 0, 1);
	h_next(&f);
	cr_assert_str_eq(h_what(&f.v[0]), c->expect, "content '%s'",
			 c->big > 0 ? "(5000 bytes)" : c->content);
	if (c->expect[0] == 'o')
		h_expect_value(&f, 0, c->value);
	else
		cr_assert_eq(f.v[0].attempts, 1);
	h_done();
}

Test(engine, vanished_file_reports_enoent_and_recovers)
{
	char name[40], cfg[256], path[256];
	struct h_feed f;
	bool seen = false;
	pid_t pid;

	h_name(name, sizeof(name), "v");
	h_path(path, sizeof(path), "value");
	h_put_text(path, "1.5\n");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\nbreaker_failures = 1000\n\n"
		 "[sensor v]\nsource = file:%s\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n",
		 path);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	h_next(&f);
	h_expect_value(&f, 0, 1.5);

	cr_assert_eq(unlink(path), 0);
	while (!seen && f.batches < 100) {
		h_next(&f);
		cr_assert(h_is(&f.v[1], "ok"), "load: %s", h_what(&f.v[1]));
		seen = h_is(&f.v[0], "ENOENT");
		if (!seen && !h_is(&f.v[0], "ok"))
			cr_assert_fail("a vanished file gave %s",
				       h_what(&f.v[0]));
	}
	cr_assert(seen, "no ENOENT after the file vanished");

	h_put_text(path, "2.5\n");
	seen = false;
	while (!seen && f.batches < 200) {
		h_next(&f);
		cr_assert(h_is(&f.v[1], "ok"), "load: %s", h_what(&f.v[1]));
		seen = h_is(&f.v[0], "ok");
		if (seen)
			h_expect_value(&f, 0, 2.5);
		else
			cr_assert(h_is(&f.v[0], "ENOENT"), "%s",
				  h_what(&f.v[0]));
	}
	cr_assert(seen, "the file came back but its value did not");
	h_done();
}

/*
 * "Each tick the whole file is read": a reading whose call started after
 * the file was replaced (the way a well-behaved writer updates a file:
 * write a temporary, rename it over) or removed must show that, not the
 * content of the file that used to be at the path.
 */
Test(engine, replaced_or_removed_file_is_seen_at_the_next_tick)
{
	char name[40], cfg[256], path[256];
	struct h_feed f;
	unsigned checked = 0;
	uint64_t t;
	pid_t pid;

	h_name(name, sizeof(name), "r");
	h_path(path, sizeof(path), "value");
	h_put_text(path, "1.5\n");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor v]\nsource = file:%s\nretry_attempts = 1\n"
		 "breaker_failures = 1000\n",
		 path);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	h_next(&f);
	h_expect_value(&f, 0, 1.5);

	h_put_text(path, "2.5\n");
	t = h_now_ns();
	while (checked < 5) {
		h_next(&f);
		if (f.b.tick_mono_ns <= t || h_late(&f.v[0]))
			continue;
		h_expect_value(&f, 0, 2.5);
		checked++;
	}

	cr_assert_eq(unlink(path), 0);
	t = h_now_ns();
	checked = 0;
	while (checked < 5) {
		h_next(&f);
		if (f.b.tick_mono_ns <= t || h_late(&f.v[0]))
			continue;
		cr_assert(h_is(&f.v[0], "ENOENT"),
			  "batch %llu, ticked after the unlink: %s %g",
			  (unsigned long long)f.b.seq, h_what(&f.v[0]),
			  f.v[0].value);
		checked++;
	}
	h_done();
}

/*
 * A file read that blocks in the kernel for 3 s (a stuck sysfs driver,
 * played by tests/tool_fuse) holds its own sensor and nothing else: every
 * batch is published, gapless and on time, with the healthy files beside
 * it read in each one; the slow sensor times out, three times, and its
 * breaker opens.  A read still inside the kernel is never started again
 * and an open breaker starts none, so the blocked reads do not pile up.
 * The healthy files get a timeout far longer than a read: what is tested
 * is that the blocked read holds none of them back (the worker pool grows
 * past it), not how fast a loaded machine reads tmpfs.
 */
/*
 * A file sensor on a FUSE file whose every read blocks in the kernel for
 * @slow_ms, beside healthy files: no batch is late, the healthy sensors
 * are ok in every one of @nbatches batches, the slow one times out, opens
 * its breaker and probes, and only a few reads ever reach the file system.
 */
static void blocked_read(unsigned slow_ms, unsigned nbatches)
{
	enum { TEMP, SLOW, LOAD, TEMP2, N };
	char name[40], cfg[1024], temp[256], temp2[256], mnt[200], slow[256];
	char stats[256], text[128];
	unsigned long long fast, reads, hang;
	unsigned timedout = 0, opened = 0, other = 0, hung;
	struct ringside_sensor_stats st[N];
	struct ringside_engine_stats es;
	struct h_feed f;
	pid_t pid;
	int fd;

	h_fuse(mnt, sizeof(mnt), slow_ms);
	snprintf(slow, sizeof(slow), "%s/slow", mnt);
	snprintf(stats, sizeof(stats), "%s/stats", mnt);
	h_name(name, sizeof(name), "B");
	h_path(temp, sizeof(temp), "temp");
	h_path(temp2, sizeof(temp2), "temp2");
	h_put_text(temp, "21.5\n");
	h_put_text(temp2, "7\n");
	h_config(cfg, sizeof(cfg), name, "200ms",
		 "[defaults]\ntimeout = 150ms\nretry_attempts = 1\n\n"
		 "[sensor temp]\nsource = file:%s\n\n"
		 "[sensor slow]\nsource = file:%s\ntimeout = 50ms\n"
		 "breaker_failures = 3\nbreaker_window = 5s\n"
		 "breaker_reset = 1s\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor temp2]\nsource = file:%s\n",
		 temp, slow, temp2);
	pid = h_engine(cfg, slow_ms > 5000 ? "40" : "20");
	h_attach(&f, name, pid, N);

	/* Past the end of the first read. */
	while (f.batches < nbatches) {
		const struct ringside_reading *v = &f.v[SLOW];

		h_next(&f);
		h_expect_value(&f, TEMP, 21.5);
		h_expect_value(&f, TEMP2, 7);
		cr_assert(h_is(&f.v[LOAD], "ok"), "load: %s",
			  h_what(&f.v[LOAD]));
		cr_assert(!h_late(&f.v[TEMP]) && !h_late(&f.v[TEMP2]) &&
				  !h_late(&f.v[LOAD]),
			  "batch %llu: a healthy file late",
			  (unsigned long long)f.b.seq);
		if (h_is(v, "ETIMEDOUT")) {
			timedout++;
		} else if (h_is(v, "open")) {
			cr_assert_geq(timedout, 3, "open after %u timeouts",
				      timedout);
			opened++;
		} else {
			/* Pending, or the slow read's own answer, taken by an
			 * attempt that joined it. */
			cr_assert(h_is(v, "pending") || h_is(v, "ok"),
				  "batch %llu: slow: %s",
				  (unsigned long long)f.b.seq, h_what(v));
			if (h_is(v, "ok"))
				h_expect_value(&f, SLOW, 43);
			other++;
		}
		if (f.batches <= 3)
			cr_assert(h_is(v, "ETIMEDOUT"), "batch %llu: slow: %s",
				  (unsigned long long)f.b.seq, h_what(v));
	}
	h_next(&f); /* the counters now cover the batches above */
	h_stats(&f, &es, st);
	h_expect_timely(&f, &es);
	cr_assert_geq(st[SLOW].counter[RINGSIDE_SC_OPENS], 1);
	cr_assert_geq(timedout, 3);
	cr_assert_geq(opened, nbatches * 2 / 5, "slow open in %u of %u batches",
		      opened, nbatches);

	fd = open(stats, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", stats, strerror(errno));
	h_read_all(fd, text, sizeof(text), 1000);
	close(fd);
	cr_assert_eq(sscanf(text, "fast %llu slow %llu hang %llu hung %u",
			    &fast, &reads, &hang, &hung),
		     4, "stats: %s", text);
	cr_log_info("slow sensor: %u timeouts, %u open, %u other in %u "
		    "batches; %llu reads reached the file system",
		    timedout, opened, other, nbatches, reads);
	/* One read blocked from the start, maybe one more since it ended. */
	cr_assert(reads >= 1 && reads <= 3, "%llu reads of slow", reads);
	h_done();
}

Test(engine, file_read_blocked_3_s_in_the_kernel_delays_no_batch)
{
	blocked_read(3000, 25);
}

Test(engine, file_read_blocked_10_s_in_the_kernel_delays_no_batch,
     .timeout = 60)
{
	blocked_read(10000, 60);
}

/* ---- streams ----------------------------------------------------------- */

/*
 * Write @line into the FIFO and take the next batch: sensor 0 reads a
 * file, sensor 1 the FIFO.  A batch can be out just after its tick, so a
 * record written then is almost a period old at the next tick: the FIFO
 * sensor's max_age is long, and each record is still taken only once.
 */
static void fifo_feed(struct h_feed *f, int fd, const char *line, size_t len)
{
	if (len > 0)
		cr_assert_eq(write(fd, line, len), (ssize_t)len, "write: %s",
			     strerror(errno));
	h_next(f);
	cr_assert(h_is(&f->v[0], "ok"), "load: %s", h_what(&f->v[0]));
	/* Whatever the stream shows, a value is one that was written. */
	if (h_is(&f->v[1], "ok"))
		cr_assert(f->v[1].value == 1.5 || f->v[1].value == 2.5,
			  "stream value %g was never written", f->v[1].value);
}

Test(engine, stream_junk_and_long_lines_fail_then_the_stream_resynchronises)
{
	char name[40], cfg[256], fifo[256], *big;
	struct h_feed f;
	bool seen = false;
	pid_t pid;
	int fd;

	h_name(name, sizeof(name), "s");
	h_mkfifo(fifo, sizeof(fifo), "s.fifo");
	fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	h_keep_fd(fd);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\nbreaker_failures = 1000\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor s]\nsource = stream:%s\ntimeout = 40ms\n"
		 "max_age = 1s\n",
		 fifo);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);

	while (!seen && f.batches < 40) {
		fifo_feed(&f, fd, "1.5\n", 4);
		seen = h_is(&f.v[1], "ok");
	}
	cr_assert(seen, "no value from the stream");

	fifo_feed(&f, fd, "hello\n", 6);
	seen = h_is(&f.v[1], "EBADMSG");
	while (!seen && f.batches < 80) {
		fifo_feed(&f, fd, "", 0);
		seen = h_is(&f.v[1], "EBADMSG");
	}
	cr_assert(seen, "junk on the stream did not give EBADMSG");

	big = malloc(5001);
	cr_assert_not_null(big);
	memset(big, '7', 5000);
	big[5000] = '\n';
	fifo_feed(&f, fd, big, 5001);
	free(big);
	seen = h_is(&f.v[1], "EMSGSIZE");
	while (!seen && f.batches < 120) {
		fifo_feed(&f, fd, "", 0);
		seen = h_is(&f.v[1], "EMSGSIZE");
	}
	cr_assert(seen, "a 5000-byte line did not give EMSGSIZE");

	seen = false;
	while (!seen && f.batches < 160) {
		fifo_feed(&f, fd, "2.5\n", 4);
		seen = h_is(&f.v[1], "ok") && f.v[1].value == 2.5;
	}
	cr_assert(seen, "the stream did not resynchronise after a long line");
	h_done();
}

/* ---- sockets ----------------------------------------------------------- */

Test(engine, request_peers_over_tcp_and_unix_give_values)
{
	char name[40], cfg[256], usock[256], feeds[2][300], addr[2][128];
	const char *fp[2] = { feeds[0], feeds[1] };
	unsigned ok[2] = { 0, 0 }, i;
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "q");
	h_path(usock, sizeof(usock), "r.sock");
	snprintf(feeds[0], sizeof(feeds[0]),
		 "tcp:127.0.0.1:0,mode=request,value=7");
	snprintf(feeds[1], sizeof(feeds[1]), "unix:%s,mode=request,value=8",
		 usock);
	h_sim(fp, 2, addr);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor t]\nsource = tcp:127.0.0.1:%u\nrequest = read\\r\\n\n"
		 "\n[sensor u]\nsource = unix:%s\nrequest = read\\n\n",
		 h_addr_port(addr[0]), addr[1]);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	while (f.batches < 20) {
		h_next(&f);
		for (i = 0; i < 2; i++) {
			if (!h_is(&f.v[i], "ok"))
				continue;
			h_expect_value(&f, i, i == 0 ? 7 : 8);
			ok[i]++;
		}
	}
	cr_assert_geq(ok[0], 10, "tcp ok in %u of 20 batches", ok[0]);
	cr_assert_geq(ok[1], 10, "unix ok in %u of 20 batches", ok[1]);
	h_done();
}

Test(engine, unreachable_sockets_give_econnrefused_and_enoent)
{
	char name[40], cfg[256], dead[256], none[256];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct h_feed f;
	unsigned i;
	pid_t pid;
	int fd;

	h_name(name, sizeof(name), "u");
	h_path(dead, sizeof(dead), "dead.sock");
	h_path(none, sizeof(none), "none.sock");
	/* A socket file with no listener behind it. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_lt(strlen(dead), sizeof(sun.sun_path));
	memcpy(sun.sun_path, dead, strlen(dead) + 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\nbreaker_failures = 1000\n\n"
		 "[sensor tcp]\nsource = tcp:127.0.0.1:%u\nrequest = get\\n\n\n"
		 "[sensor tcppush]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor dead]\nsource = unix:%s\nrequest = get\\n\n\n"
		 "[sensor none]\nsource = unix:%s\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n",
		 h_closed_port(SOCK_STREAM), h_closed_port(SOCK_STREAM), dead,
		 none);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 5);
	while (f.batches < 10) {
		h_next(&f);
		for (i = 0; i < 4; i++)
			cr_assert(!h_late(&f.v[i]), "sensor %u late", i);
		cr_assert_str_eq(h_what(&f.v[0]), "ECONNREFUSED");
		cr_assert_str_eq(h_what(&f.v[1]), "ECONNREFUSED");
		cr_assert_str_eq(h_what(&f.v[2]), "ECONNREFUSED");
		cr_assert_str_eq(h_what(&f.v[3]), "ENOENT");
		cr_assert(h_is(&f.v[4], "ok"), "load: %s", h_what(&f.v[4]));
		for (i = 0; i < 4; i++)
			cr_assert_eq(f.v[i].attempts, 1);
	}
	h_done();
}

Test(engine, open_breaker_fails_fast_without_io)
{
	char name[40], cfg[256];
	struct ringside_sensor_stats st[2];
	struct h_feed f;
	unsigned failed = 0, open = 0;
	pid_t pid;

	h_name(name, sizeof(name), "x");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor c]\nsource = tcp:127.0.0.1:%u\nrequest = get\\n\n"
		 "retry_attempts = 1\nbreaker_failures = 2\n"
		 "breaker_window = 10s\nbreaker_reset = 60s\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n",
		 h_closed_port(SOCK_STREAM));
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	while (f.batches < 15) {
		h_next(&f);
		cr_assert(h_is(&f.v[1], "ok"), "load: %s", h_what(&f.v[1]));
		if (open == 0) {
			cr_assert(h_is(&f.v[0], "ECONNREFUSED") ||
					  h_is(&f.v[0], "open"),
				  "batch %llu: %s", (unsigned long long)f.b.seq,
				  h_what(&f.v[0]));
		} else {
			cr_assert(h_is(&f.v[0], "open"),
				  "batch %llu: %s after the breaker opened",
				  (unsigned long long)f.b.seq, h_what(&f.v[0]));
		}
		failed += h_is(&f.v[0], "ECONNREFUSED");
		open += h_is(&f.v[0], "open");
		if (h_is(&f.v[0], "open"))
			cr_assert_eq(f.v[0].attempts, 0);
	}
	cr_assert_eq(failed, 2, "%u failures before the breaker opened",
		     failed);
	/* The counters follow their batch: once the next one is out, they
	 * hold at least every batch counted above. */
	h_next(&f);
	cr_assert(h_is(&f.v[0], "open"), "%s", h_what(&f.v[0]));
	h_stats(&f, NULL, st);
	cr_assert_eq(st[0].counter[RINGSIDE_SC_BREAKER], RINGSIDE_BREAKER_OPEN);
	cr_assert_eq(st[0].counter[RINGSIDE_SC_OPENS], 1);
	cr_assert_eq(st[0].counter[RINGSIDE_SC_CALLS], 2);
	cr_assert_eq(st[0].counter[RINGSIDE_SC_ATTEMPTS], 2);
	/* No connect at all while open: one socket per failed call. */
	cr_assert_eq(st[0].counter[RINGSIDE_SC_RECONNECTS], 2,
		     "%llu connects for 2 calls",
		     (unsigned long long)st[0].counter[RINGSIDE_SC_RECONNECTS]);
	cr_assert_geq(st[0].counter[RINGSIDE_SC_FAST_FAILS], open);
	h_done();
}

Test(engine, breaker_probe_closes_it_when_the_peer_comes_back)
{
	char name[40], cfg[256];
	struct ringside_sensor_stats st[1];
	struct peer peers[1];
	struct h_feed f;
	unsigned port, after = 0;
	bool open = false, ok = false;
	pid_t pid;

	h_name(name, sizeof(name), "p");
	port = h_closed_port(SOCK_STREAM);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor c]\nsource = tcp:127.0.0.1:%u\nrequest = get\\n\n"
		 "retry_attempts = 1\nbreaker_failures = 2\n"
		 "breaker_window = 10s\nbreaker_reset = 300ms\n",
		 port);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	while (!open && f.batches < 40) {
		h_next(&f);
		open = h_is(&f.v[0], "open");
		if (!open)
			cr_assert(h_is(&f.v[0], "ECONNREFUSED"), "%s",
				  h_what(&f.v[0]));
	}
	cr_assert(open, "the breaker never opened");

	peers[0] = (struct peer){ .kind = PEER_VALUE, .value = 6.25 };
	peers[0].fd = h_listen(port, 16, NULL);
	h_peers(peers, 1);
	while (!ok && f.batches < 200) {
		h_next(&f);
		ok = h_is(&f.v[0], "ok");
	}
	cr_assert(ok, "no value after the peer came back");
	h_expect_value(&f, 0, 6.25);
	while (after < 5) {
		h_next(&f);
		cr_assert(h_is(&f.v[0], "ok") || h_is(&f.v[0], "pending"),
			  "after the probe: %s", h_what(&f.v[0]));
		after++;
	}
	h_stats(&f, NULL, st);
	cr_assert_eq(st[0].counter[RINGSIDE_SC_BREAKER],
		     RINGSIDE_BREAKER_CLOSED);
	cr_assert_geq(st[0].counter[RINGSIDE_SC_PROBES], 1);
	cr_assert_geq(st[0].counter[RINGSIDE_SC_OPENS], 1);
	h_done();
}

Test(engine, silent_sources_give_etimedout)
{
	enum { FIFO, HANG, QUIET, LOAD, N };
	char name[40], cfg[256], fifo[256];
	struct peer peers[2];
	unsigned port[2], i, timedout[LOAD] = { 0 };
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "i");
	h_mkfifo(fifo, sizeof(fifo), "quiet.fifo");
	peers[0] = (struct peer){ .kind = PEER_HANG };
	peers[0].fd = h_listen(0, 16, &port[0]);
	peers[1] = (struct peer){ .kind = PEER_HANG };
	peers[1].fd = h_listen(0, 16, &port[1]);
	h_peers(peers, 2);
	h_config(
		cfg, sizeof(cfg), name, "50ms",
		"[defaults]\nretry_attempts = 1\ntimeout = 20ms\n"
		"breaker_failures = 1000\n\n"
		"[sensor fifo]\nsource = stream:%s\n\n"
		"[sensor hang]\nsource = tcp:127.0.0.1:%u\nrequest = get\\n\n\n"
		"[sensor quiet]\nsource = tcp:127.0.0.1:%u\n\n"
		"[sensor load]\nsource = file:/proc/loadavg\n" H_FILE_KEYS,
		fifo, port[0], port[1]);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, N);
	while (f.batches < 15) {
		h_next(&f);
		cr_assert(h_is(&f.v[LOAD], "ok"), "load: %s",
			  h_what(&f.v[LOAD]));
		for (i = 0; i < LOAD; i++) {
			cr_assert(h_is(&f.v[i], "ETIMEDOUT") ||
					  h_is(&f.v[i], "pending"),
				  "sensor %u: %s", i, h_what(&f.v[i]));
			timedout[i] += h_is(&f.v[i], "ETIMEDOUT");
		}
	}
	for (i = 0; i < LOAD; i++)
		cr_assert_geq(timedout[i], 7, "sensor %u: ETIMEDOUT %u times",
			      i, timedout[i]);
	h_done();
}

Test(engine, slow_call_shows_pending_then_a_late_result)
{
	char name[40], cfg[256];
	struct peer peers[1];
	unsigned port, pending = 0, late = 0;
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "l");
	peers[0] = (struct peer){ .kind = PEER_HANG };
	peers[0].fd = h_listen(0, 16, &port);
	h_peers(peers, 1);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor slow]\nsource = tcp:127.0.0.1:%u\nrequest = get\\n\n"
		 "timeout = 180ms\nretry_attempts = 1\n"
		 "breaker_failures = 1000\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n",
		 port);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	while (f.batches < 30) {
		h_next(&f);
		cr_assert(h_is(&f.v[1], "ok"), "load: %s", h_what(&f.v[1]));
		if (h_is(&f.v[0], "pending")) {
			pending++;
			continue;
		}
		/* A 180 ms call cannot end by a 50 ms deadline. */
		cr_assert(h_is(&f.v[0], "ETIMEDOUT") && h_late(&f.v[0]),
			  "batch %llu: %s%s", (unsigned long long)f.b.seq,
			  h_what(&f.v[0]), h_late(&f.v[0]) ? " late" : "");
		late++;
	}
	cr_assert_geq(pending, 1);
	cr_assert_geq(late, 1);
	/* At most one call in flight: at least 3 batches per call. */
	cr_assert_geq(pending, 2 * late, "%u pending, %u late", pending, late);
	h_done();
}

Test(engine, hung_and_broken_peers_never_stop_batches)
{
	enum {
		TEMP,
		LOAD,
		HANG,
		BACKLOG,
		JUNK,
		MIDLINE,
		SLAM,
		SILENT,
		REFUSED,
		N
	};
	char name[40], cfg[256], temp[256], fifo[256];
	struct peer peers[4];
	unsigned port[5], i, failed[N] = { 0 }, bad[N] = { 0 };
	struct h_feed f;
	uint64_t end;
	pid_t pid;

	h_name(name, sizeof(name), "h");
	h_path(temp, sizeof(temp), "temp");
	h_put_text(temp, "21.5\n");
	h_mkfifo(fifo, sizeof(fifo), "silent.fifo");
	peers[0] = (struct peer){ .kind = PEER_HANG };
	peers[0].fd = h_listen(0, 16, &port[0]);
	peers[1] = (struct peer){ .kind = PEER_JUNK };
	peers[1].fd = h_listen(0, 16, &port[1]);
	peers[2] = (struct peer){ .kind = PEER_MIDLINE };
	peers[2].fd = h_listen(0, 16, &port[2]);
	peers[3] = (struct peer){ .kind = PEER_SLAM };
	peers[3].fd = h_listen(0, 16, &port[3]);
	h_peers(peers, 4);
	h_listen(0, 0, &port[4]); /* listens, never accepts */
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 2\nretry_base = 5ms\n"
		 "retry_max = 5ms\nretry_jitter = none\ntimeout = 15ms\n"
		 "breaker_failures = 1000\nbreaker_window = 1s\n"
		 "request = get\\n\n\n"
		 "[sensor temp]\nsource = file:%s\n" H_FILE_KEYS
		 "[sensor load]\nsource = file:/proc/loadavg\n" H_FILE_KEYS
		 "[sensor hang]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor backlog]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor junk]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor midline]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor slam]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor silent]\nsource = stream:%s\n\n"
		 "[sensor refused]\nsource = tcp:127.0.0.1:%u\n",
		 temp, port[0], port[4], port[1], port[2], port[3], fifo,
		 h_closed_port(SOCK_STREAM));
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, N);

	/* 2 s at 50 ms promise 40 batches; ask for half. */
	end = h_now_ms() + 2000;
	while (h_now_ms() < end) {
		h_next(&f);
		h_expect_value(&f, TEMP, 21.5);
		cr_assert(h_is(&f.v[LOAD], "ok"), "load: %s",
			  h_what(&f.v[LOAD]));
		for (i = HANG; i < N; i++) {
			const struct ringside_reading *v = &f.v[i];

			cr_assert(!h_is(v, "ok"), "sensor %u gave %g", i,
				  v->value);
			cr_assert(!h_is(v, "open"), "sensor %u open", i);
			if (v->status != RINGSIDE_FAILED)
				continue;
			failed[i]++;
			if (!h_late(v))
				cr_assert_eq(v->attempts, 2,
					     "sensor %u: %u attempts", i,
					     v->attempts);
			switch (i) {
			case HANG:
			case BACKLOG:
			case SILENT:
				bad[i] += !h_is(v, "ETIMEDOUT");
				break;
			case JUNK:
				bad[i] += !h_is(v, "EBADMSG");
				break;
			case REFUSED:
				bad[i] += !h_is(v, "ECONNREFUSED");
				break;
			default: /* a connection closed on us */
				bad[i] += !h_is(v, "ECONNRESET") &&
					  !h_is(v, "EPIPE") &&
					  !h_is(v, "ECONNABORTED");
				break;
			}
			if (bad[i] == 1 && !h_is(v, "ETIMEDOUT"))
				cr_log_info("sensor %u failed with %s", i,
					    h_what(v));
		}
	}
	cr_assert_geq(f.batches, 20, "%llu batches in 2 s at 50 ms",
		      (unsigned long long)f.batches);
	for (i = HANG; i < N; i++) {
		cr_assert_geq(failed[i], 10, "sensor %u failed in %u batches",
			      i, failed[i]);
		cr_assert_eq(bad[i], 0, "sensor %u: %u wrong errors", i,
			     bad[i]);
	}
	h_done();
}

/*
 * A call that ends at once at its tick (here a stream whose path does not
 * exist fails on the spot) must not publish the batch before the sensors
 * after it in the configuration have had their call: they are healthy and
 * must be "ok" in every batch.
 */
Test(engine, sensor_done_at_its_tick_leaves_later_sensors_unaffected)
{
	char name[40], cfg[256], none[256], temp[256];
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "a");
	h_path(none, sizeof(none), "none.fifo");
	h_path(temp, sizeof(temp), "temp");
	h_put_text(temp, "21.5\n");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\nbreaker_failures = 1000\n\n"
		 "[sensor gone]\nsource = stream:%s\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor temp]\nsource = file:%s\n",
		 none, temp);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 3);
	while (f.batches < 10) {
		h_next(&f);
		cr_assert_str_eq(h_what(&f.v[0]), "ENOENT");
		cr_assert(h_is(&f.v[1], "ok") && !h_late(&f.v[1]),
			  "batch %llu: load %s%s", (unsigned long long)f.b.seq,
			  h_what(&f.v[1]), h_late(&f.v[1]) ? " (late)" : "");
		cr_assert(!h_late(&f.v[2]), "batch %llu: temp late",
			  (unsigned long long)f.b.seq);
		h_expect_value(&f, 2, 21.5);
	}
	h_done();
}

Test(engine, stream_that_appears_later_starts_giving_values)
{
	char name[40], cfg[256], fifo[256];
	struct h_feed f;
	bool seen = false;
	pid_t pid;
	int fd;

	h_name(name, sizeof(name), "w");
	h_path(fifo, sizeof(fifo), "late.fifo");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\nbreaker_failures = 1000\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor s]\nsource = stream:%s\ntimeout = 40ms\n",
		 fifo);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	h_next(&f);
	cr_assert_str_eq(h_what(&f.v[1]), "ENOENT");

	h_mkfifo(fifo, sizeof(fifo), "late.fifo");
	fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	h_keep_fd(fd);
	while (!seen && f.batches < 60) {
		cr_assert_eq(write(fd, "6.5\n", 4), 4);
		h_next(&f);
		seen = h_is(&f.v[1], "ok");
		if (!seen)
			cr_assert(h_is(&f.v[1], "ENOENT") ||
					  h_is(&f.v[1], "ETIMEDOUT") ||
					  h_is(&f.v[1], "pending"),
				  "%s", h_what(&f.v[1]));
	}
	cr_assert(seen, "no value once the FIFO appeared");
	h_expect_value(&f, 1, 6.5);
	h_done();
}

/* Send @len bytes to the engine's UDP port and take the next batch. */
static void udp_feed(struct h_feed *f, int fd, const void *data, size_t len)
{
	if (len > 0)
		cr_assert_eq(send(fd, data, len, 0), (ssize_t)len, "send: %s",
			     strerror(errno));
	h_next(f);
	cr_assert(h_is(&f->v[0], "ok"), "load: %s", h_what(&f->v[0]));
	if (h_is(&f->v[1], "ok"))
		cr_assert(f->v[1].value == 3.5 || f->v[1].value == 4.5,
			  "udp value %g was never sent", f->v[1].value);
}

Test(engine, udp_datagrams_give_values_junk_and_oversize_failures)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	char name[40], cfg[256], *big;
	unsigned port;
	struct h_feed f;
	bool seen = false;
	pid_t pid;
	int fd;

	h_name(name, sizeof(name), "d");
	port = h_closed_port(SOCK_DGRAM);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\nbreaker_failures = 1000\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor u]\nsource = udp:127.0.0.1:%u\ntimeout = 40ms\n"
		 "max_age = 1s\n",
		 port);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	h_keep_fd(fd);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons((uint16_t)port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	h_next(&f); /* the engine has bound the port by its first batch */

	while (!seen && f.batches < 40) {
		udp_feed(&f, fd, "3.5\n", 4);
		seen = h_is(&f.v[1], "ok");
	}
	cr_assert(seen, "no value from datagrams");
	udp_feed(&f, fd, "abc", 3);
	seen = h_is(&f.v[1], "EBADMSG");
	while (!seen && f.batches < 80) {
		udp_feed(&f, fd, "", 0);
		seen = h_is(&f.v[1], "EBADMSG");
	}
	cr_assert(seen, "a junk datagram did not give EBADMSG");

	big = malloc(5000);
	cr_assert_not_null(big);
	memset(big, '7', 5000);
	udp_feed(&f, fd, big, 5000);
	free(big);
	seen = h_is(&f.v[1], "EMSGSIZE");
	while (!seen && f.batches < 120) {
		udp_feed(&f, fd, "", 0);
		seen = h_is(&f.v[1], "EMSGSIZE");
	}
	cr_assert(seen, "a 5000-byte datagram did not give EMSGSIZE");

	seen = false;
	while (!seen && f.batches < 160) {
		udp_feed(&f, fd, "4.5", 3);
		seen = h_is(&f.v[1], "ok") && f.v[1].value == 4.5;
	}
	cr_assert(seen, "no value after the oversized datagram");
	h_done();
}

/*
 * The peer answers every odd request 100 ms late and every even one at
 * once, numbering requests over all connections.  With a 40 ms timeout
 * the first attempt of each call times out and the retry is answered: a
 * value is always even.  An odd value would be a late reply taken for
 * the answer to a later request.
 */
Test(engine, late_reply_is_never_taken_for_a_later_request)
{
	char name[40], cfg[256];
	struct peer peers[1];
	unsigned port, ok = 0, retried = 0;
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "y");
	peers[0] = (struct peer){ .kind = PEER_ODDSLOW };
	peers[0].fd = h_listen(0, 16, &port);
	h_peers(peers, 1);
	h_config(cfg, sizeof(cfg), name, "100ms",
		 "[sensor r]\nsource = tcp:127.0.0.1:%u\nrequest = get\\n\n"
		 "timeout = 40ms\nretry_attempts = 2\nretry_base = 1ms\n"
		 "retry_max = 1ms\nretry_jitter = none\n"
		 "breaker_failures = 1000\n",
		 port);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	while (f.batches < 15) {
		const struct ringside_reading *v = &f.v[0];

		h_next(&f);
		if (!h_is(v, "ok"))
			continue;
		cr_assert(fmod(v->value, 2) == 0,
			  "batch %llu: %g, a late reply to an odd request",
			  (unsigned long long)f.b.seq, v->value);
		ok++;
		retried += v->attempts == 2;
	}
	cr_assert_geq(ok, 7, "only %u values in 15 batches", ok);
	cr_assert_geq(retried, 1, "no value came from a retry");
	h_done();
}

/*
 * A push peer that sends "99" and closes, then ".5\n" and closes: the
 * half line of a closed connection must never be glued to the next one's.
 */
Test(engine, half_line_of_a_closed_connection_is_dropped)
{
	char name[40], cfg[256];
	struct peer peers[1];
	unsigned port, failed = 0;
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "m");
	peers[0] = (struct peer){ .kind = PEER_SPLIT };
	peers[0].fd = h_listen(0, 16, &port);
	h_peers(peers, 1);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor p]\nsource = tcp:127.0.0.1:%u\ntimeout = 20ms\n"
		 "retry_attempts = 1\nbreaker_failures = 1000\n",
		 port);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	while (f.batches < 20) {
		h_next(&f);
		cr_assert(h_is(&f.v[0], "ok"), "load: %s", h_what(&f.v[0]));
		if (h_is(&f.v[1], "ok"))
			h_expect_value(&f, 1, 0.5);
		failed += f.v[1].status == RINGSIDE_FAILED;
	}
	cr_assert_geq(failed, 1, "the closing peer never made a call fail");
	h_done();
}

Test(engine, stopped_engine_skips_missed_ticks_and_stays_gapless)
{
	char name[40], cfg[256];
	struct ringside_engine_stats es;
	struct ringside_sensor_stats st[1];
	uint64_t t_stop, t_cont;
	struct h_feed f;
	unsigned inside = 0;
	pid_t pid;

	h_name(name, sizeof(name), "z");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor load]\nsource = file:/proc/loadavg\n");
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	while (f.batches < 3)
		h_next(&f);
	t_stop = h_now_ns();
	cr_assert_eq(kill(pid, SIGSTOP), 0);
	h_sleep_ms(500);
	t_cont = h_now_ns();
	cr_assert_eq(kill(pid, SIGCONT), 0);
	while (f.batches < 13) {
		h_next(&f); /* gapless, ticks increasing */
		/* No tick of the stopped stretch is published. */
		if (f.b.tick_mono_ns > t_stop + 50000000ULL &&
		    f.b.tick_mono_ns + 50000000ULL < t_cont)
			inside++;
	}
	cr_assert_eq(inside, 0, "%u ticks of the stopped stretch published",
		     inside);
	h_next(&f); /* the counters follow their batch */
	h_stats(&f, &es, st);
	cr_assert_geq(es.counter[RINGSIDE_EC_MISSED_TICKS], 5,
		      "%llu missed ticks counted for a 500 ms stop at 50 ms",
		      (unsigned long long)es.counter[RINGSIDE_EC_MISSED_TICKS]);
	cr_assert_geq(es.counter[RINGSIDE_EC_BATCHES], f.seq - 1);
	h_done();
}

/* ---- configuration reloads --------------------------------------------- */

Test(engine, sighup_reloads_a_changed_configuration)
{
	char name[40], cfg[256], path[256];
	struct ringside_engine_stats es;
	struct ringside_sensor_stats st[1];
	struct h_feed f;
	bool seen = false;
	pid_t pid;

	h_name(name, sizeof(name), "H");
	h_path(path, sizeof(path), "value");
	h_put_text(path, "1.5\n");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:%s\n", path);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	h_next(&f);
	h_expect_value(&f, 0, 1.5);

	/* Same sensors, another scale: the segment stays, values change. */
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:%s\nscale = 2\n", path);
	cr_assert_eq(kill(pid, SIGHUP), 0);
	while (!seen && f.batches < 60) {
		h_next(&f);
		seen = h_is(&f.v[0], "ok") && f.v[0].value == 3;
		if (!seen)
			h_expect_value(&f, 0, 1.5);
	}
	cr_assert(seen, "SIGHUP did not apply the new scale");
	h_next(&f);
	h_stats(&f, &es, st);
	cr_assert_geq(es.counter[RINGSIDE_EC_RELOADS], 1);
	h_done();
}

Test(engine, sighup_with_a_bad_config_keeps_the_old_one)
{
	char name[40], cfg[256], log[8192], want[300];
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "B");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n");
	pid = h_engine(cfg, "20"); /* logs to engine-0.log */
	h_attach(&f, name, pid, 1);
	h_next(&f);

	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\n"			 /* line 5 */
		 "source = file:/proc/loadavg\n" /* line 6 */
		 "bogus = 1\n");		 /* line 7 */
	cr_assert_eq(kill(pid, SIGHUP), 0);
	while (f.batches < 15) {
		h_next(&f);
		cr_assert(h_is(&f.v[0], "ok"), "%s", h_what(&f.v[0]));
	}
	cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "the engine exited");
	h_slurp("engine-0.log", log, sizeof(log));
	snprintf(want, sizeof(want), "%s:7:", cfg);
	cr_assert_not_null(strstr(log, want),
			   "the bad line was not reported as '%s':\n%s", want,
			   log);
	h_done();
}

Test(engine, sighup_changing_the_sensors_publishes_a_new_segment)
{
	char name[40], cfg[256];
	struct ringside_params p;
	struct h_feed f;
	uint64_t epoch;
	int ret = 0;
	pid_t pid;

	h_name(name, sizeof(name), "N");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n");
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	h_next(&f);
	epoch = f.r.epoch_us;

	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n\n"
		 "[sensor b]\nsource = file:/proc/uptime\n");
	cr_assert_eq(kill(pid, SIGHUP), 0);
	while (f.batches < 60 && (ret = h_try_next(&f, H_BATCH_MS)) == 1)
		;
	cr_assert_eq(ret, RINGSIDE_REPLACED,
		     "no new segment after adding a sensor (event %d)", ret);

	cr_assert_eq(ringside_reader_reattach(&f.r, 0), 0);
	cr_assert_gt(f.r.epoch_us, epoch, "the new epoch is not greater");
	cr_assert_eq(ringside_reader_params(&f.r, &p), 0);
	cr_assert_eq(p.nsensors, 2);
	f.n = 2;
	f.seq = 0;
	f.tick_ns = 0;
	h_next(&f);
	cr_assert_eq(f.b.seq, 1);
	cr_assert(h_is(&f.v[0], "ok") && h_is(&f.v[1], "ok"), "%s %s",
		  h_what(&f.v[0]), h_what(&f.v[1]));
	h_done();
}

/* ---- the program's contract -------------------------------------------- */

/* Run ringsided with @args; its exit code, and stdout into @out. */
static int run_engine(char *const args[], char *out, size_t len)
{
	char bin[256];
	char *argv[8] = { bin };
	int fd, status = 0;
	unsigned i;
	pid_t pid;

	h_bin(bin, sizeof(bin), "ringsided");
	for (i = 0; args[i] != NULL && i < 6; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	pid = h_spawn(argv, &fd, "usage.log");
	h_read_all(fd, out, len, 5000);
	cr_assert_eq(h_wait(pid, 5000, &status), 0);
	cr_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

Test(engine, usage_errors_exit_2_help_and_version_exit_0)
{
	char out[4096], missing[256];
	char *none[] = { NULL };
	char *bogus[] = { "--bogus", NULL };
	char *nofile[] = { "-c", missing, NULL };
	char *help[] = { "--help", NULL };
	char *version[] = { "--version", NULL };

	h_path(missing, sizeof(missing), "missing.ini");
	cr_assert_eq(run_engine(none, out, sizeof(out)), 2);
	cr_assert_eq(run_engine(bogus, out, sizeof(out)), 2);
	cr_assert_eq(run_engine(nofile, out, sizeof(out)), 2);
	cr_assert_eq(run_engine(help, out, sizeof(out)), 0);
	cr_assert_not_null(strstr(out, "usage"), "--help printed: %s", out);
	cr_assert_eq(run_engine(version, out, sizeof(out)), 0);
	cr_assert_not_null(strstr(out, "ringsided"), "--version: %s", out);
}

Test(engine, segment_mode_is_shm_mode_whatever_the_umask)
{
	char name[40], cfg[256], seg[96];
	struct h_feed f;
	struct stat st;
	pid_t pid;

	h_name(name, sizeof(name), "M");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "shm_mode = 0660\n\n"
		 "[sensor a]\nsource = file:/proc/loadavg\n");
	umask(0077); /* inherited by the engine */
	pid = h_engine(cfg, "20");
	umask(0022);
	h_attach(&f, name, pid, 1);
	snprintf(seg, sizeof(seg), "/dev/shm/ringside.%s", name);
	cr_assert_eq(stat(seg, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0660, "mode %o",
		     (unsigned)(st.st_mode & 07777));
	h_done();
}

/* ---- resources --------------------------------------------------------- */

Test(engine, open_descriptors_do_not_grow_over_1000_ticks, .timeout = 40)
{
	char name[40], cfg[256], temp[256], fifo[256], missing[256];
	struct peer peers[1];
	unsigned port, early = UINT32_MAX, late = UINT32_MAX;
	struct h_feed f;
	uint64_t end;
	pid_t pid;

	h_name(name, sizeof(name), "n");
	h_path(temp, sizeof(temp), "temp");
	h_path(missing, sizeof(missing), "missing");
	h_put_text(temp, "21.5\n");
	h_mkfifo(fifo, sizeof(fifo), "quiet.fifo");
	peers[0] = (struct peer){ .kind = PEER_HANG };
	peers[0].fd = h_listen(0, 64, &port);
	h_peers(peers, 1);
	h_config(cfg, sizeof(cfg), name, "5ms",
		 "[defaults]\nretry_attempts = 1\ntimeout = 3ms\n"
		 "breaker_failures = 1000\nbreaker_window = 1s\n\n"
		 "[sensor temp]\nsource = file:%s\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor missing]\nsource = file:%s\n\n"
		 "[sensor refused]\nsource = tcp:127.0.0.1:%u\n"
		 "request = get\\n\n\n"
		 "[sensor hang]\nsource = tcp:127.0.0.1:%u\n"
		 "request = get\\n\n\n"
		 "[sensor fifo]\nsource = stream:%s\n\n"
		 "[sensor udp]\nsource = udp:127.0.0.1:%u\n",
		 temp, missing, h_closed_port(SOCK_STREAM), port, fifo,
		 h_closed_port(SOCK_DGRAM));
	pid = h_engine(cfg, "30");
	h_attach(&f, name, pid, 7);

	/*
	 * Sample the count often around tick 100 and tick 1000 and compare
	 * the lows: descriptors in flight come and go, a leak only grows.
	 */
	end = h_now_ms() + 25000;
	while (f.batches < 1000) {
		int ret = h_try_next(&f, 50);

		cr_assert(ret == 0 || ret == 1, "the engine stopped (%d)", ret);
		cr_assert_lt(h_now_ms(), end, "only %llu batches in 25 s",
			     (unsigned long long)f.batches);
		if (f.batches >= 100 && f.batches < 150) {
			unsigned n = h_fd_count(pid);

			early = n < early ? n : early;
		} else if (f.batches >= 950) {
			unsigned n = h_fd_count(pid);

			late = n < late ? n : late;
		}
	}
	cr_log_info("engine descriptors: %u near tick 100, %u near 1000", early,
		    late);
	cr_assert_leq(late, early, "descriptors grew from %u to %u", early,
		      late);
	h_done();
}
