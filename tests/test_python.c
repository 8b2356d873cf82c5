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
 * snapshot per interval and leaves with 0 on SIGTERM.
 *
 * The harness keeps every child it starts; the suite's .fini kills them
 * and removes the segments named tp<pid>... and the temporary directory,
 * whatever the test's outcome.  Children get PR_SET_PDEATHSIG, and
 * engines a --duration, so that nothing outlives a test killed by its
 * timeout for long.  Programs come from $RINGSIDE_BIN, else build/bin;
 * libringside from $RINGSIDE_LIB, else build/lib; both relative to the
 * top of the source tree, where the tests run.  Without python3 the tests
 * that need it are skipped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "ringside.h"

#define TP_CHILDREN_MAX 8
#define TP_ATTACH_MS 10000 /* a started engine creates its segment by then */
#define TP_ENGINE_S "60"   /* an engine stops by itself after this */

extern char **environ;

static struct {
	pid_t child[TP_CHILDREN_MAX]; /* 0: free or reaped */
	char dir[64];		      /* temporary directory, on tmpfs */
	char prefix[24];    /* tp<pid>: every segment name starts so */
	char bin[PATH_MAX]; /* where the programs are */
	char lib[PATH_MAX]; /* where libringside.so is */
} tp;

/* ---- the harness ------------------------------------------------------- */

static void tp_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* $@var, else @fallback made absolute (the child may run elsewhere). */
static void tp_dir_from_env(char *buf, size_t len, const char *var,
			    const char *fallback)
{
	const char *dir = getenv(var);

	if (dir != NULL && *dir != '\0') {
		snprintf(buf, len, "%s", dir);
		return;
	}
	if (realpath(fallback, buf) == NULL)
		snprintf(buf, len, "%s", fallback);
}

static void tp_path(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", tp.dir, name);

	cr_assert(n > 0 && (size_t)n < len, "path too long: %s", name);
}

static void tp_prog(char *buf, size_t len, const char *prog)
{
	snprintf(buf, len, "%s/%s", tp.bin, prog);
}

/* A segment name unique to this test process: tp<pid><tag>. */
static void tp_name(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "%s%s", tp.prefix, tag);
}

static void tp_keep_child(pid_t pid)
{
	unsigned i;

	for (i = 0; i < TP_CHILDREN_MAX; i++) {
		if (tp.child[i] == 0) {
			tp.child[i] = pid;
			return;
		}
	}
	kill(pid, SIGKILL);
	cr_assert_fail("harness: too many children");
}

/* Wait for child @pid; returns its wait status. */
static int tp_reap(pid_t pid)
{
	unsigned i;
	int status = 0;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (i = 0; i < TP_CHILDREN_MAX; i++)
		if (tp.child[i] == pid)
			tp.child[i] = 0;
	return status;
}

/* The exit status of a child that must have exited (not been killed). */
static int tp_exit_status(int status, const char *what)
{
	cr_assert(WIFEXITED(status), "%s did not exit (signal %d)", what,
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

/* Remove every /dev/shm entry of ours: ringside.tp<pid>* and the
 * engine's temporaries and lock files, .ringside.tp<pid>*. */
static void tp_remove_segments(void)
{
	char plain[48];
	struct dirent *de;
	DIR *d = opendir("/dev/shm");

	if (d == NULL)
		return;
	snprintf(plain, sizeof(plain), "ringside.%s", tp.prefix);
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (n[0] == '.')
			n++;
		if (strncmp(n, plain, strlen(plain)) != 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno == EISDIR)
			unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

/* Remove the temporary directory and the files in it. */
static void tp_remove_dir(void)
{
	struct dirent *de;
	DIR *d;

	if (tp.dir[0] == '\0')
		return;
	d = opendir(tp.dir);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(tp.dir);
}

/*
 * A test process that crashed or hit its timeout never ran .fini: remove
 * what such a process left in /dev/shm (rspytest-<pid>-* directories,
 * tp<pid> segments) once that pid is gone.
 */
static void tp_remove_orphans(void)
{
	struct dirent *de;
	DIR *d = opendir("/dev/shm");

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		int dir = 0;
		char *end;
		long pid;

		if (strncmp(n, "rspytest-", 9) == 0) {
			n += 9;
			dir = 1;
		} else if (strncmp(n, "ringside.tp", 11) == 0) {
			n += 11;
		} else if (strncmp(n, ".ringside.tp", 12) == 0) {
			n += 12;
		} else {
			continue;
		}
		pid = strtol(n, &end, 10);
		if (end == n || pid <= 0 || (dir && *end != '-') ||
		    (!dir && *end != '.' && (*end < 'a' || *end > 'z')))
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if (dir) {
			int dfd = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			DIR *sub = dfd >= 0 ? fdopendir(dfd) : NULL;
			struct dirent *f;

			while (sub != NULL && (f = readdir(sub)) != NULL)
				if (f->d_name[0] != '.')
					unlinkat(dfd, f->d_name, 0);
			if (sub != NULL)
				closedir(sub);
			unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
		} else if (unlinkat(dirfd(d), de->d_name, 0) < 0 &&
			   errno == EISDIR) {
			unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
		}
	}
	closedir(d);
}

static void tp_init(void)
{
	memset(&tp, 0, sizeof(tp));
	snprintf(tp.prefix, sizeof(tp.prefix), "tp%ld", (long)getpid());
	tp_remove_orphans();
	tp_dir_from_env(tp.bin, sizeof(tp.bin), "RINGSIDE_BIN", "build/bin");
	tp_dir_from_env(tp.lib, sizeof(tp.lib), "RINGSIDE_LIB", "build/lib");
	snprintf(tp.dir, sizeof(tp.dir), "/dev/shm/rspytest-%ld-XXXXXX",
		 (long)getpid());
	if (mkdtemp(tp.dir) == NULL) {
		tp.dir[0] = '\0';
		cr_assert_fail("mkdtemp: %s", strerror(errno));
	}
	/* A pipe whose reader left must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
}

static void tp_fini(void)
{
	unsigned i;

	for (i = 0; i < TP_CHILDREN_MAX; i++) {
		if (tp.child[i] > 0) {
			kill(tp.child[i], SIGKILL);
			waitpid(tp.child[i], NULL, 0);
			tp.child[i] = 0;
		}
	}
	tp_remove_segments();
	tp_remove_dir();
}

TestSuite(python, .init = tp_init, .fini = tp_fini, .timeout = 120);

/*
 * Start @argv (argv[0] a path, or a name looked up in PATH) with
 * RINGSIDE_BIN and RINGSIDE_LIB set.  stdin is /dev/null; stdout goes to
 * the file @out in the temporary directory, or to a pipe whose read end
 * lands in *@pipe_out, or to /dev/null; stderr to the file @err, or
 * /dev/null.  Returns the pid.
 */
static pid_t tp_spawn(char *const argv[], const char *out, int *pipe_out,
		      const char *err)
{
	char outpath[256], errpath[256];
	pid_t parent = getpid(), pid;
	int pfd[2] = { -1, -1 };

	if (out != NULL)
		tp_path(outpath, sizeof(outpath), out);
	if (err != NULL)
		tp_path(errpath, sizeof(errpath), err);
	if (pipe_out != NULL)
		cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0, "pipe: %s",
			     strerror(errno));
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		int ofd = out != NULL	     ? open(outpath,
						    O_WRONLY | O_CREAT | O_TRUNC, 0600)
			  : pipe_out != NULL ? pfd[1]
					     : null;
		int efd = err != NULL ? open(errpath,
					     O_WRONLY | O_CREAT | O_TRUNC, 0600)
				      : null;

		/* Gone with the test process, even when it is killed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || null < 0 || ofd < 0 || efd < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		dup2(null, STDIN_FILENO);
		dup2(ofd, STDOUT_FILENO);
		dup2(efd, STDERR_FILENO);
		setenv("RINGSIDE_BIN", tp.bin, 1);
		setenv("RINGSIDE_LIB", tp.lib, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pipe_out != NULL) {
		close(pfd[1]);
		*pipe_out = pfd[0];
	}
	tp_keep_child(pid);
	return pid;
}

/* Run @argv to its end; returns its exit status. */
static int tp_run(char *const argv[], const char *out, const char *err)
{
	return tp_exit_status(tp_reap(tp_spawn(argv, out, NULL, err)), argv[0]);
}

/* The file @name of the temporary directory, NUL-terminated, into @buf. */
static void tp_read(const char *name, char *buf, size_t len)
{
	char path[256];
	ssize_t n;
	int fd;

	tp_path(path, sizeof(path), name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, len - 1);
	close(fd);
	cr_assert_geq(n, 0, "read %s: %s", path, strerror(errno));
	buf[n] = '\0';
}

static void tp_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0, "write %s: %s", path, strerror(errno));
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
		cr_skip_test("python3 is not installed");
}

/*
 * Start ringsided on a configuration of three sensors (a tmpfs file,
 * /proc/loadavg, a file that does not exist) as segment tp<pid>@tag, and
 * wait until it has published @batches batches.  Returns its pid; the
 * segment's name goes into @name.
 */
static pid_t tp_engine(const char *tag, char *name, size_t len,
		       uint64_t batches)
{
	char config[256], value[256], text[1024], prog[PATH_MAX + 32];
	char file[64];
	struct ringside_reader r;
	unsigned waited;
	pid_t pid;
	int ret;

	tp_name(name, len, tag);
	tp_path(value, sizeof(value), "value");
	tp_write(value, "21.5\n");
	snprintf(text, sizeof(text),
		 "[engine]\nname = %s\nperiod = 10ms\n\n"
		 "[defaults]\ntimeout = 20ms\nretry_base = 1ms\n"
		 "retry_max = 2ms\nbreaker_reset = 200ms\n\n"
		 "[sensor temp]\nsource = file:%s\nunit = C\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor gone]\nsource = file:%s/missing\n",
		 name, value, tp.dir);
	snprintf(file, sizeof(file), "%s.ini", name);
	tp_path(config, sizeof(config), file);
	tp_write(config, text);
	snprintf(file, sizeof(file), "%s.log", name);
	tp_prog(prog, sizeof(prog), "ringsided");
	pid = tp_spawn((char *const[]){ prog, "-c", config, "--duration",
					TP_ENGINE_S, NULL },
		       NULL, NULL, file);

	for (waited = 0;; waited += 20) {
		ret = ringside_reader_attach(&r, name, RINGSIDE_FROM_OLDEST);
		if (ret == 0)
			break;
		cr_assert_eq(ret, -ENOENT, "attach %s: %s", name,
			     ringside_strerror(ret));
		cr_assert_lt(waited, TP_ATTACH_MS, "no segment %s", name);
		if (waitpid(pid, &ret, WNOHANG) != 0) {
			char text_log[4096];

			tp_read(file, text_log, sizeof(text_log));
			cr_assert_fail("ringsided exited early (status %d): %s",
				       ret, text_log);
		}
		tp_sleep_ms(20);
	}
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
		tp_sleep_ms(1);
	}
	kill(pid, SIGKILL);
	tp_reap(pid);
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
		cr_skip_test("libringside.so is built with -fsanitize=%s",
			     getenv("RINGSIDE_SANITIZE"));
	cr_assert_eq(access(test, R_OK), 0,
		     "%s: %s (the tests run from the top of the source tree)",
		     test, strerror(errno));
	status = tp_run((char *const[]){ "python3", "-B", "-m", "unittest",
					 "-v", (char *)test, NULL },
			NULL, "unittest.log");
	if (status != 0) {
		tp_read("unittest.log", out, sizeof(out));
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

	tp_prog(prog, sizeof(prog), "ringside-stat");
	status = tp_run((char *const[]){ prog, (char *)name, "--json", NULL },
			"stat.json", "stat.err");
	tp_read("stat.err", err, sizeof(err));
	cr_assert_eq(status, 0, "ringside-stat exited %d: %s", status, err);
	tp_path(out, sizeof(out), "stat.json");
	status = tp_run((char *const[]){ "python3", "-c",
					 (char *)stat_json_check, out,
					 (char *)name, (char *)state, NULL },
			NULL, "check.err");
	tp_read("check.err", err, sizeof(err));
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
	cr_assert_eq(tp_exit_status(tp_reap(pid), "ringsided"), 0);
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

	tp_prog(prog, sizeof(prog), "ringside-stat");
	tp_name(name, sizeof(name), "none");
	status = tp_run((char *const[]){ prog, name, NULL }, "out", "err");
	tp_read("err", err, sizeof(err));
	cr_assert_eq(status, 1, "exit %d, stderr: %s", status, err);
	cr_assert_not_null(strstr(err, "no segment"), "stderr: %s", err);
	cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1,
		     "not one line: %s", err);
	tp_read("out", err, sizeof(err));
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

	tp_prog(prog, sizeof(prog), "ringside-stat");
	tp_name(name, sizeof(name), c->what);
	snprintf(path, sizeof(path), "/dev/shm/ringside.%s", name);
	memset(junk, 'x', sizeof(junk) - 1);
	junk[sizeof(junk) - 1] = '\0';
	if (strcmp(c->what, "garbage") == 0) {
		tp_write(path, junk);
	} else if (strcmp(c->what, "empty") == 0) {
		tp_write(path, "");
	} else if (strcmp(c->what, "directory") == 0) {
		cr_assert_eq(mkdir(path, 0700), 0, "mkdir: %s",
			     strerror(errno));
	} else {
		tp_path(target, sizeof(target), "target");
		tp_write(target, junk);
		cr_assert_eq(symlink(target, path), 0, "symlink: %s",
			     strerror(errno));
	}
	status = tp_run((char *const[]){ prog, name, "--json", NULL }, "out",
			"err");
	tp_read("err", err, sizeof(err));
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

	tp_prog(prog, sizeof(prog), "ringside-stat");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[5] = { prog };
		int status;

		memcpy(argv + 1, cases[i], sizeof(cases[i]));
		status = tp_run(argv, "out", "err");
		tp_read("err", err, sizeof(err));
		cr_assert_eq(status, 2, "case %u: exit %d, stderr: %s", i,
			     status, err);
		cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1,
			     "case %u: not one line: %s", i, err);
	}
}

Test(python, stat_help_and_version_exit_0)
{
	char prog[PATH_MAX + 32], out[4096];

	tp_prog(prog, sizeof(prog), "ringside-stat");
	cr_assert_eq(
		tp_run((char *const[]){ prog, "--help", NULL }, "out", NULL),
		0);
	tp_read("out", out, sizeof(out));
	cr_assert_not_null(strstr(out, "Usage: ringside-stat NAME"), "%s", out);
	cr_assert_eq(
		tp_run((char *const[]){ prog, "--version", NULL }, "out", NULL),
		0);
	tp_read("out", out, sizeof(out));
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
	tp_prog(prog, sizeof(prog), "ringside-stat");
	pid = tp_spawn((char *const[]){ prog, name, "--watch", "0.1",
					*mode != '\0' ? (char *)mode : NULL,
					NULL },
		       NULL, &fd, "err");
	f = fdopen(fd, "r");
	cr_assert_not_null(f);
	while (seen < lines && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, want) != NULL)
			seen++;
	cr_assert_eq(seen, lines, "the watch ended after %u of %u", seen,
		     lines);
	kill(pid, SIGTERM);
	fclose(f);
	status = tp_exit_status(tp_reap(pid), "ringside-stat --watch");
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
