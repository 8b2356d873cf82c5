/* SPDX-License-Identifier: MIT */
/*
 * test_python.c - the clients that read counters and batches without
 * being the engine: the Python module clients/python/ringside.py (its own
 * unittest suite, run here as one test) and ringside-stat, both against a
 * real ringsided started as a child on a configuration of tmpfs files.
 *
 * ringside-stat is checked from the outside, as a script would use it:
 * its JSON parses (python3's json module judges) and has the keys of the
 * users' contract in their order; a missing segment and an invalid one
 * are clear one-line errors with exit status 1; usage errors exit 2; a
 * stopped or killed engine shows as closed or dead; watch mode prints a
 * snapshot per interval and leaves with 0 on SIGTERM.  The counters of
 * other programs (/dev/shm/ringside.NAME@PROGRAM, made here with
 * ringside_aux_create) follow the engine's, in the table, in the JSON and
 * in Reader.stats() alike, with their state; a corrupt one is a warning.
 *
 * The children, segments and temporary files are the harness's
 * (tests/harness.h): its .fini takes them down whatever the test's
 * outcome, and engines get a --duration, so that nothing outlives a test
 * killed by its timeout for long.  Programs come from $RINGSIDE_BIN, else
 * build/bin; libringside from $RINGSIDE_LIB, else build/lib; both
 * relative to the top of the source tree, where the tests run, and
 * exported to the children as absolute paths.  Without python3 the tests
 * that need it are skipped.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "harness.h"
#include "ringside.h"

#define TP_ATTACH_MS 10000 /* a started engine creates its segment by then */
#define TP_ENGINE_S "60"   /* an engine stops by itself after this */

/*
 * Export $@var as @fallback made absolute when it is not set: the
 * children (the module's tests, which start programs and load
 * libringside) find them through it, and may run elsewhere.
 */
static void tp_export_dir(const char *var, const char *fallback)
{
	const char *dir = getenv(var);
	char abs[PATH_MAX];

	if (dir != NULL && *dir != '\0')
		return;
	setenv(var, realpath(fallback, abs) != NULL ? abs : fallback, 1);
}

static void tp_init(void)
{
	h_init();
	tp_export_dir("RINGSIDE_BIN", "build/bin");
	tp_export_dir("RINGSIDE_LIB", "build/lib");
}

TestSuite(python, .init = tp_init, .fini = h_fini, .timeout = 120);

/* The exit status of a child that must have exited (not been killed). */
static int tp_exit_status(int status, const char *what)
{
	cr_assert(WIFEXITED(status), "%s did not exit (signal %d)", what,
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

/*
 * Run @argv to its end, its stdout and stderr into the files @out and
 * @err of the temporary directory (NULL: /dev/null); its exit status.
 */
static int tp_run(char *const argv[], const char *out, const char *err)
{
	pid_t pid = h_spawn_io(
		argv, &(struct h_stdio){ .out_file = out, .err_file = err });

	return tp_exit_status(h_reap(pid), argv[0]);
}

/* 1 when python3 can be run from PATH. */
static int tp_have_python(void)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX], exe[PATH_MAX + 16];
	const char *p, *colon;

	for (p = path != NULL ? path : "/usr/bin:/bin"; *p != '\0';
	     p = *colon ? colon + 1 : colon) {
		size_t n;

		colon = strchr(p, ':');
		if (colon == NULL)
			colon = p + strlen(p);
		n = (size_t)(colon - p);
		if (n == 0 || n >= sizeof(dir))
			continue;
		memcpy(dir, p, n);
		dir[n] = '\0';
		snprintf(exe, sizeof(exe), "%s/python3", dir);
		if (access(exe, X_OK) == 0)
			return 1;
	}
	return 0;
}

static void tp_need_python(void)
{
	if (!tp_have_python())
		h_skip("python3 is not installed");
}

/*
 * Start ringsided on a configuration of three sensors (a tmpfs file,
 * /proc/loadavg, a file that does not exist) as segment te<pid>@tag, and
 * wait until it has published @batches batches.  Returns its pid; the
 * segment's name goes into @name.
 */
static pid_t tp_engine(const char *tag, char *name, size_t len,
		       uint64_t batches)
{
	char config[256], value[256], missing[256];
	struct ringside_reader r;
	pid_t pid;
	int ret;

	h_name(name, len, tag);
	h_path(value, sizeof(value), "value");
	h_path(missing, sizeof(missing), "missing");
	h_put_text(value, "21.5\n");
	h_config(config, sizeof(config), name, "10ms",
		 "[defaults]\ntimeout = 20ms\nretry_base = 1ms\n"
		 "retry_max = 2ms\nbreaker_reset = 200ms\n\n"
		 "[sensor temp]\nsource = file:%s\nunit = C\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor gone]\nsource = file:%s\n",
		 value, missing);
	pid = h_engine_ready(config, TP_ENGINE_S, name, 0, TP_ATTACH_MS);
	ret = ringside_reader_attach(&r, name, RINGSIDE_FROM_OLDEST);
	cr_assert_eq(ret, 0, "attach %s: %s", name, ringside_strerror(ret));
	while (ringside_reader_head(&r) < batches) {
		ret = ringside_reader_wait(&r, 1000);
		cr_assert(ret == RINGSIDE_TIMEOUT || ret == RINGSIDE_READY,
			  "ringsided stopped publishing (%d)", ret);
		while (ringside_reader_next(&r, &(struct ringside_batch){ 0 },
					    NULL, 0) > 0)
			;
	}
	ringside_reader_detach(&r);
	return pid;
}

/*
 * SIGKILL engine @pid, segment @name, while its counters are not being
 * updated: stopped first, and let go on a little when the stop caught it
 * in the middle of an update, which would leave them unreadable forever.
 */
static void tp_kill_between_updates(pid_t pid, const char *name)
{
	struct ringside_engine_stats e;
	struct ringside_reader r;
	int ret;

	cr_assert_eq(ringside_reader_attach(&r, name, RINGSIDE_FROM_NOW), 0);
	for (;;) {
		kill(pid, SIGSTOP);
		ret = ringside_reader_stats(&r, &e, NULL, 0);
		if (ret == 0)
			break;
		cr_assert_eq(ret, -EAGAIN);
		kill(pid, SIGCONT);
		h_sleep_ms(1);
	}
	h_kill(pid);
	ringside_reader_detach(&r);
}

/* ---- the Python module ------------------------------------------------- */

Test(python, unittest_suite_of_the_module_passes)
{
	static const char test[] = "clients/python/test_ringside.py";
	char out[65536];
	int status;

	tp_need_python();
	/* python3 is not built with the sanitizers, so it cannot load a
	 * libringside.so that is; the plain build runs this test. */
	if (getenv("RINGSIDE_SANITIZE") != NULL &&
	    getenv("RINGSIDE_SANITIZE")[0] != '\0')
		h_skip("libringside.so is built with -fsanitize=%s",
		       getenv("RINGSIDE_SANITIZE"));
	cr_assert_eq(access(test, R_OK), 0,
		     "%s: %s (the tests run from the top of the source tree)",
		     test, strerror(errno));
	status = tp_run((char *const[]){ "python3", "-B", "-m", "unittest",
					 "-v", (char *)test, NULL },
			NULL, "unittest.log");
	if (status != 0) {
		h_slurp("unittest.log", out, sizeof(out));
		fprintf(stderr, "%s\n", out);
	}
	cr_assert_eq(status, 0, "python3 %s exited with %d (log above)", test,
		     status);
}

/* ---- ringside-stat ----------------------------------------------------- */

/*
 * Judged by python3's json module: the keys of the users' contract, in
 * its order ("state" is ringside-stat's addition), for engine argv[2] in
 * state argv[3].  The engine has published 3 batches: the counters, which
 * it stores after each batch, count 2 at least.
 */
static const char stat_json_check[] =
	"import json, sys\n"
	"d = json.load(open(sys.argv[1]))\n"
	"top = ['engine', 'epoch', 'state', 'uptime_s', 'batches',\n"
	"       'degraded_batches', 'late_batches', 'missed_ticks', "
	"'sensors']\n"
	"per = ['sensor', 'breaker', 'calls', 'ok', 'failed', 'attempts',\n"
	"       'retries', 'retry_ok', 'timeouts', 'opens', 'fast_fails',\n"
	"       'probes', 'last_error', 'latency_us']\n"
	"assert list(d) == top, list(d)\n"
	"assert d['engine'] == sys.argv[2], d['engine']\n"
	"assert d['state'] == sys.argv[3], d['state']\n"
	"assert isinstance(d['uptime_s'], float)\n"
	"assert d['batches'] >= 2 and d['degraded_batches'] >= 2\n"
	"assert [s['sensor'] for s in d['sensors']] == "
	"['temp', 'load', 'gone']\n"
	"for s in d['sensors']:\n"
	"    assert list(s) == per, list(s)\n"
	"    assert s['breaker'] in ('closed', 'open', 'half_open')\n"
	"    assert list(s['latency_us']) == ['p50', 'p99']\n"
	"    assert s['calls'] == s['ok'] + s['failed']\n"
	"assert d['sensors'][0]['last_error'] is None\n"
	"assert d['sensors'][2]['last_error'] == 'ENOENT'\n";

/* ringside-stat NAME --json into stat.json, checked as above. */
static void tp_check_stat_json(const char *name, const char *state)
{
	char prog[PATH_MAX + 32], out[256], err[4096];
	int status;

	h_bin(prog, sizeof(prog), "ringside-stat");
	status = tp_run((char *const[]){ prog, (char *)name, "--json", NULL },
			"stat.json", "stat.err");
	h_slurp("stat.err", err, sizeof(err));
	cr_assert_eq(status, 0, "ringside-stat exited %d: %s", status, err);
	h_path(out, sizeof(out), "stat.json");
	status = tp_run((char *const[]){ "python3", "-c",
					 (char *)stat_json_check, out,
					 (char *)name, (char *)state, NULL },
			NULL, "check.err");
	h_slurp("check.err", err, sizeof(err));
	cr_assert_eq(status, 0, "the JSON does not hold: %s", err);
}

Test(python, stat_json_parses_and_has_the_contract_keys)
{
	char name[48];

	tp_need_python();
	tp_engine("j", name, sizeof(name), 3);
	tp_check_stat_json(name, "live");
}

Test(python, stat_shows_a_stopped_engine_as_closed)
{
	char name[48];
	pid_t pid;

	tp_need_python();
	pid = tp_engine("c", name, sizeof(name), 3);
	kill(pid, SIGTERM);
	cr_assert_eq(tp_exit_status(h_reap(pid), "ringsided"), 0);
	tp_check_stat_json(name, "closed");
}

Test(python, stat_shows_a_killed_engine_as_dead)
{
	char name[48];
	pid_t pid;

	tp_need_python();
	pid = tp_engine("d", name, sizeof(name), 3);
	tp_kill_between_updates(pid, name);
	tp_check_stat_json(name, "dead");
}

Test(python, stat_without_a_segment_exits_1_with_a_clear_message)
{
	char prog[PATH_MAX + 32], name[48], err[4096];
	int status;

	h_bin(prog, sizeof(prog), "ringside-stat");
	h_name(name, sizeof(name), "none");
	status = tp_run((char *const[]){ prog, name, NULL }, "out", "err");
	h_slurp("err", err, sizeof(err));
	cr_assert_eq(status, 1, "exit %d, stderr: %s", status, err);
	cr_assert_not_null(strstr(err, "no segment"), "stderr: %s", err);
	cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1,
		     "not one line: %s", err);
	h_slurp("out", err, sizeof(err));
	cr_assert_str_empty(err, "stdout: %s", err);
}

/*
 * What stands at the segment's path, and what stat must say about it.
 * Arrays, not pointers: Criterion runs each case in a fresh process.
 */
struct invalid_case {
	char what[16]; /* "garbage", "empty", "directory", "symlink" */
	char message[64];
};

ParameterizedTestParameters(python, stat_refuses_an_invalid_segment)
{
	static struct invalid_case cases[] = {
		{ "garbage", "not a ringside segment (bad magic)" },
		{ "empty", "file too small for a segment header" },
		{ "directory", "not a regular file" },
		{ "symlink", "a symbolic link stands in place of the segment" },
	};

	return cr_make_param_array(struct invalid_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct invalid_case *c, python,
		  stat_refuses_an_invalid_segment)
{
	char prog[PATH_MAX + 32], name[48], path[96], target[256];
	char err[4096], junk[1024];
	int status;

	h_bin(prog, sizeof(prog), "ringside-stat");
	h_name(name, sizeof(name), c->what);
	h_segment_path(path, sizeof(path), name);
	memset(junk, 'x', sizeof(junk) - 1);
	junk[sizeof(junk) - 1] = '\0';
	if (strcmp(c->what, "garbage") == 0) {
		h_put_text(path, junk);
	} else if (strcmp(c->what, "empty") == 0) {
		h_put_text(path, "");
	} else if (strcmp(c->what, "directory") == 0) {
		cr_assert_eq(mkdir(path, 0700), 0, "mkdir: %s",
			     strerror(errno));
	} else {
		h_path(target, sizeof(target), "target");
		h_put_text(target, junk);
		cr_assert_eq(symlink(target, path), 0, "symlink: %s",
			     strerror(errno));
	}
	status = tp_run((char *const[]){ prog, name, "--json", NULL }, "out",
			"err");
	h_slurp("err", err, sizeof(err));
	cr_assert_eq(status, 1, "%s: exit %d, stderr: %s", c->what, status,
		     err);
	cr_assert_not_null(strstr(err, c->message), "%s: stderr: %s", c->what,
			   err);
	cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1,
		     "not one line: %s", err);
}

Test(python, stat_usage_errors_exit_2)
{
	static const char *const cases[][3] = {
		{ NULL },
		{ "--watch", "0", NULL },
		{ "x", "--watch", "soon" },
		{ "x", "--watch", NULL },
		{ "x", "--frobnicate", NULL },
		{ "x", "y", NULL },
		{ "no/slash", NULL },
	};
	char prog[PATH_MAX + 32], err[4096];
	unsigned i;

	h_bin(prog, sizeof(prog), "ringside-stat");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[5] = { prog };
		int status;

		memcpy(argv + 1, cases[i], sizeof(cases[i]));
		status = tp_run(argv, "out", "err");
		h_slurp("err", err, sizeof(err));
		cr_assert_eq(status, 2, "case %u: exit %d, stderr: %s", i,
			     status, err);
		cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1,
			     "case %u: not one line: %s", i, err);
	}
}

Test(python, stat_help_and_version_exit_0)
{
	char prog[PATH_MAX + 32], out[4096];

	h_bin(prog, sizeof(prog), "ringside-stat");
	cr_assert_eq(
		tp_run((char *const[]){ prog, "--help", NULL }, "out", NULL),
		0);
	h_slurp("out", out, sizeof(out));
	cr_assert_not_null(strstr(out, "Usage: ringside-stat NAME"), "%s", out);
	cr_assert_eq(
		tp_run((char *const[]){ prog, "--version", NULL }, "out", NULL),
		0);
	h_slurp("out", out, sizeof(out));
	cr_assert_not_null(strstr(out, ringside_version()), "%s", out);
}

/*
 * ringside-stat @mode --watch 0.1 on a live engine, read from a pipe until
 * @lines lines of output hold @want; then SIGTERM, which must end it with
 * status 0.
 */
static void tp_watch(const char *mode, const char *want, unsigned lines)
{
	char prog[PATH_MAX + 32], name[48], line[4096];
	unsigned seen = 0;
	FILE *f;
	pid_t pid;
	int fd, status;

	tp_engine("w", name, sizeof(name), 3);
	h_bin(prog, sizeof(prog), "ringside-stat");
	pid = h_spawn_io((char *const[]){ prog, name, "--watch", "0.1",
					  *mode != '\0' ? (char *)mode : NULL,
					  NULL },
			 &(struct h_stdio){ .out = &fd, .err_file = "err" });
	/* A stream of its own: the harness keeps (and closes) fd. */
	f = fdopen(dup(fd), "r");
	cr_assert_not_null(f);
	while (seen < lines && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, want) != NULL)
			seen++;
	cr_assert_eq(seen, lines, "the watch ended after %u of %u", seen,
		     lines);
	kill(pid, SIGTERM);
	fclose(f);
	h_close(fd);
	status = tp_exit_status(h_reap(pid), "ringside-stat --watch");
	cr_assert_eq(status, 0);
}

Test(python, stat_watch_prints_one_json_line_per_interval)
{
	tp_watch("--json", "{\"engine\":\"", 3);
}

Test(python, stat_watch_table_shows_the_rates_of_the_last_interval)
{
	/* Deltas need a previous snapshot: from the second one on. */
	tp_watch("", "batches/s", 2);
}

/* ---- the counters of other programs ------------------------------------ */

static const char *const tp_bridge_keys[] = { "published", "gaps", "breaker" };

/* One consistent update of @a's first @n counters to @v. */
static void tp_aux_set(struct ringside_aux *a, const uint64_t *v, uint32_t n)
{
	uint32_t i;

	ringside_aux_begin(a);
	for (i = 0; i < n; i++)
		ringside_aux_set(a, i, v[i]);
	ringside_aux_end(a);
}

static void tp_aux_create(struct ringside_aux *a, const char *name,
			  const char *program, const char *const *keys,
			  uint32_t n)
{
	int ret = ringside_aux_create(a, name, program, keys, n, 0600);

	cr_assert_eq(ret, 0, "%s@%s: %s", name, program,
		     ringside_strerror(ret));
}

/*
 * Beside engine @name, the segments of four other programs: "bridge",
 * live in this process (published 12, gaps 0, breaker half_open);
 * "archiver", stopped (files 5); "killed", whose writer, a child, was
 * killed (lag 3); and "broken", a corrupt file.  A file whose name is no
 * program's (upper case) is beside them too, and must not be shown.
 */
static void tp_programs(const char *name, struct ringside_aux *bridge)
{
	static const char *const files[] = { "files" };
	static const char *const lag[] = { "lag" };
	char path[128];
	struct ringside_aux a;
	int fds[2];
	char c;
	pid_t pid;

	tp_aux_create(bridge, name, "bridge", tp_bridge_keys, 3);
	tp_aux_set(bridge,
		   (const uint64_t[]){ 12, 0, RINGSIDE_BREAKER_HALF_OPEN }, 3);
	tp_aux_create(&a, name, "archiver", files, 1);
	tp_aux_set(&a, (const uint64_t[]){ 5 }, 1);
	ringside_aux_close(&a);

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* The child never asserts: a missing 'r' says it failed. */
		close(fds[0]);
		if (ringside_aux_create(&a, name, "killed", lag, 1, 0600) < 0)
			_exit(2);
		tp_aux_set(&a, (const uint64_t[]){ 3 }, 1);
		if (write(fds[1], "r", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	h_keep_child(pid);
	close(fds[1]);
	cr_assert_eq(read(fds[0], &c, 1), 1, "the writer child failed");
	close(fds[0]);
	h_kill(pid);

	snprintf(path, sizeof(path), "/dev/shm/ringside.%s@broken", name);
	h_put_text(path, "not a counters segment\n");
	snprintf(path, sizeof(path), "/dev/shm/ringside.%s@Upper", name);
	h_put_text(path, "junk\n");
}

Test(python, stat_table_shows_the_counters_of_other_programs)
{
	char prog[PATH_MAX + 32], name[48], out[16384], err[4096];
	const char *archiver, *bridge, *killed;
	struct ringside_aux b;
	int status;

	tp_engine("o", name, sizeof(name), 3);
	tp_programs(name, &b);
	h_bin(prog, sizeof(prog), "ringside-stat");
	status = tp_run((char *const[]){ prog, name, NULL }, "out", "err");
	h_slurp("out", out, sizeof(out));
	h_slurp("err", err, sizeof(err));
	cr_assert_eq(status, 0, "exit %d, stderr: %s", status, err);

	/* After the sensors, in name order, with their state. */
	archiver = strstr(out, "\n\narchiver (stopped): files 5\n");
	bridge = strstr(out, "\n\nbridge (running): published 12  gaps 0  "
			     "breaker half_open\n");
	killed = strstr(out, "\n\nkilled (dead): lag 3\n");
	cr_assert(archiver && bridge && killed, "stdout:\n%s", out);
	cr_assert(strstr(out, "SENSOR") < archiver && archiver < bridge &&
			  bridge < killed,
		  "stdout:\n%s", out);
	cr_assert_null(strstr(out, "broken"), "stdout:\n%s", out);
	cr_assert_null(strstr(out, "Upper"), "stdout:\n%s", out);

	/* The corrupt one is a warning, one line, and not an error. */
	cr_assert_not_null(strstr(err, "warning"), "stderr: %s", err);
	cr_assert_not_null(strstr(err, "@broken: file too small for a "
				       "counters segment header"),
			   "stderr: %s", err);
	cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1,
		     "not one line: %s", err);
	ringside_aux_close(&b);
}

/* The members of the programs of tp_programs(), after the engine's own. */
static const char stat_programs_check[] =
	"import json, sys\n"
	"d = json.load(open(sys.argv[1]))\n"
	"own = ['engine', 'epoch', 'state', 'uptime_s', 'batches',\n"
	"       'degraded_batches', 'late_batches', 'missed_ticks', "
	"'sensors']\n"
	"assert list(d) == own + ['archiver', 'bridge', 'killed'], list(d)\n"
	"assert list(d['bridge']) == ['state', 'published', 'gaps', "
	"'breaker'], d['bridge']\n"
	"assert d['bridge'] == {'state': 'running', 'published': 12,\n"
	"                       'gaps': 0, 'breaker': 'half_open'}, "
	"d['bridge']\n"
	"assert d['archiver'] == {'state': 'stopped', 'files': 5}, "
	"d['archiver']\n"
	"assert d['killed'] == {'state': 'dead', 'lag': 3}, d['killed']\n";

Test(python, stat_json_has_a_member_per_other_program)
{
	char prog[PATH_MAX + 32], name[48], out[256], err[4096];
	struct ringside_aux b;
	int status;

	tp_need_python();
	tp_engine("m", name, sizeof(name), 3);
	tp_programs(name, &b);
	h_bin(prog, sizeof(prog), "ringside-stat");
	status = tp_run((char *const[]){ prog, name, "--json", NULL },
			"stat.json", "stat.err");
	h_slurp("stat.err", err, sizeof(err));
	cr_assert_eq(status, 0, "ringside-stat exited %d: %s", status, err);
	cr_assert_not_null(strstr(err, "@broken"), "stderr: %s", err);
	h_path(out, sizeof(out), "stat.json");
	status = tp_run((char *const[]){ "python3", "-c",
					 (char *)stat_programs_check, out,
					 NULL },
			NULL, "check.err");
	h_slurp("check.err", err, sizeof(err));
	cr_assert_eq(status, 0, "the JSON does not hold: %s", err);
	ringside_aux_close(&b);
}

Test(python, stat_watch_shows_other_programs_counters_as_they_change)
{
	char prog[PATH_MAX + 32], name[48], line[8192];
	struct ringside_aux b;
	unsigned seen = 0;
	FILE *f;
	pid_t pid;
	int fd;

	tp_engine("v", name, sizeof(name), 3);
	tp_aux_create(&b, name, "bridge", tp_bridge_keys, 3);
	tp_aux_set(&b, (const uint64_t[]){ 1, 0, 0 }, 3);
	h_bin(prog, sizeof(prog), "ringside-stat");
	pid = h_spawn_io(
		(char *const[]){ prog, name, "--watch", "0.1", "--json", NULL },
		&(struct h_stdio){ .out = &fd, .err_file = "err" });
	f = fdopen(dup(fd), "r");
	cr_assert_not_null(f);
	/* Each value the bridge shows, once seen, is followed by the next:
	 * 1, 2, 3. */
	while (seen < 3 && fgets(line, sizeof(line), f) != NULL) {
		char want[64];

		snprintf(want, sizeof(want),
			 "\"bridge\":{\"state\":\"running\",\"published\":%u,",
			 seen + 1);
		if (strstr(line, want) == NULL)
			continue;
		seen++;
		tp_aux_set(&b, (const uint64_t[]){ seen + 1, 0, 0 }, 3);
	}
	cr_assert_eq(seen, 3, "the watch ended after %u of 3", seen);
	/* Stopped, it is shown so at the next snapshot. */
	ringside_aux_close(&b);
	while (fgets(line, sizeof(line), f) != NULL &&
	       strstr(line, "\"bridge\":{\"state\":\"stopped\"") == NULL)
		;
	cr_assert_not_null(
		strstr(line, "\"state\":\"stopped\",\"published\":4"), "%s",
		line);
	kill(pid, SIGTERM);
	fclose(f);
	h_close(fd);
	cr_assert_eq(tp_exit_status(h_reap(pid), "ringside-stat --watch"), 0);
}

/*
 * Reader.stats() of clients/python/ringside.py holds the same members as
 * ringside-stat --json: the engine is stopped first, so that every value,
 * its own included, is frozen and must agree.
 */
static const char python_programs_check[] =
	"import json, sys\n"
	"sys.path.insert(0, 'clients/python')\n"
	"import ringside\n"
	"theirs = json.load(open(sys.argv[1]))\n"
	"with ringside.Reader(sys.argv[2]) as r:\n"
	"    mine = r.stats()\n"
	"assert mine == theirs, (mine, theirs)\n"
	"assert list(mine)[-3:] == ['archiver', 'bridge', 'killed'], "
	"list(mine)\n"
	"assert mine['bridge']['breaker'] == 'half_open', mine['bridge']\n";

Test(python, python_stats_show_other_programs_as_stat_json_does)
{
	char prog[PATH_MAX + 32], name[48], out[256], err[4096];
	struct ringside_aux b;
	int status;
	pid_t pid;

	tp_need_python();
	/* python3 cannot load a libringside.so built with sanitizers. */
	if (getenv("RINGSIDE_SANITIZE") != NULL &&
	    getenv("RINGSIDE_SANITIZE")[0] != '\0')
		h_skip("libringside.so is built with -fsanitize=%s",
		       getenv("RINGSIDE_SANITIZE"));
	pid = tp_engine("y", name, sizeof(name), 3);
	tp_programs(name, &b);
	kill(pid, SIGTERM);
	cr_assert_eq(tp_exit_status(h_reap(pid), "ringsided"), 0);
	h_bin(prog, sizeof(prog), "ringside-stat");
	status = tp_run((char *const[]){ prog, name, "--json", NULL },
			"stat.json", NULL);
	cr_assert_eq(status, 0);
	h_path(out, sizeof(out), "stat.json");
	status = tp_run((char *const[]){ "python3", "-B", "-c",
					 (char *)python_programs_check, out,
					 name, NULL },
			NULL, "check.err");
	h_slurp("check.err", err, sizeof(err));
	cr_assert_eq(status, 0, "Reader.stats() differs: %s", err);
	ringside_aux_close(&b);
}
