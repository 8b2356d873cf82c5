/* SPDX-License-Identifier: MIT */
/*
 * test_top.c - ringside-top in a real terminal: the real engine runs on
 * two tmpfs file sensors (one healthy, one whose file does not exist), and
 * ringside-top runs in a detached tmux session of 80x24 whose screen is
 * read back with `tmux capture-pane -p`.
 *
 * What is asserted is what a user sees, never timing: the sensor names,
 * the healthy value with its unit, the failing sensor's failed(ENOENT),
 * the breaker column, the sort order after `s`, the exit status after `q`
 * (written to a file by the pane's shell: tmux's own #{pane_dead_status}
 * is sometimes never filled in), the engine's life (waiting, live, dead,
 * a new segment), a terminal too small and then resized.  Every wait is a
 * generous poll of the screen.
 *
 * Each test process has a tmux server of its own (-L top<pid>, its socket
 * in the temporary directory through TMUX_TMPDIR) and segment names that
 * start with tt<pid>.  The suite's .fini kills the tmux server (and so
 * ringside-top) and the engine, and removes the segments and the
 * temporary directory, whether the test passed or not.  Tests that need
 * tmux are skipped when it is not installed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#define TH_START_MS 5000   /* an engine creates its segment by then */
#define TH_SCREEN_MS 10000 /* the screen shows what is expected by then */
#define TH_SCREEN_MAX 16384

static struct {
	pid_t engine;	 /* 0: none running */
	bool tmux;	 /* a tmux server of ours may be running */
	char dir[64];	 /* temporary directory, on tmpfs */
	char name[24];	 /* segment name: tt<pid> */
	char socket[24]; /* tmux -L socket name: top<pid> */
	char bin[PATH_MAX];
	char screen[TH_SCREEN_MAX]; /* the last capture */
} th;

static uint64_t th_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void th_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void th_path(char *buf, size_t len, const char *file)
{
	int n = snprintf(buf, len, "%s/%s", th.dir, file);

	cr_assert(n > 0 && (size_t)n < len, "path too long: %s", file);
}

/*
 * In a child about to exec: die with the test, take no descriptor of the
 * test runner along (a tmux server lives on after its client exits), and
 * start with default signals.  Returns false when the test is already
 * gone.
 */
static bool th_child_setup(pid_t parent, int in, int out, int err)
{
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		return false;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	dup2(in, 0);
	dup2(out, 1);
	dup2(err, 2);
	close_range(3, ~0U, 0);
	return true;
}

/*
 * Run @argv to its end, its stdout into @out (NUL-terminated, may be
 * NULL), stdin and stderr on /dev/null.  Returns the exit status, or -1
 * when it did not exit normally.
 */
static int th_run(char *const argv[], char *out, size_t len)
{
	pid_t parent = getpid(), pid;
	int pfd[2], status = 0;
	size_t n = 0;

	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0, "pipe: %s", strerror(errno));
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (!th_child_setup(parent, null, pfd[1], null))
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		char sink[512];
		char *dst = out != NULL && n + 1 < len ? out + n : sink;
		size_t room = dst == sink ? sizeof(sink) : len - 1 - n;
		ssize_t r = read(pfd[0], dst, room);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (dst != sink)
			n += (size_t)r;
	}
	close(pfd[0]);
	if (out != NULL)
		out[n] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * tmux on our own server: "tmux -L SOCKET" and the arguments, up to a
 * NULL.  Returns as th_run().
 */
static int th_tmux(char *out, size_t len, ...)
{
	char *argv[24] = { "tmux", "-L", th.socket };
	unsigned n = 3;
	va_list ap;

	va_start(ap, len);
	while (n < 23 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	return th_run(argv, out, len);
}

static int th_remove_entry(const char *path, const struct stat *st, int flag,
			   struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Every /dev/shm entry of ours: ringside.tt<pid>* and its temporaries. */
static void th_remove_segments(void)
{
	char plain[48];
	struct dirent *de;
	DIR *d = opendir("/dev/shm");

	if (d == NULL)
		return;
	snprintf(plain, sizeof(plain), "ringside.%s", th.name);
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (n[0] == '.')
			n++;
		if (strncmp(n, plain, strlen(plain)) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

static void th_init(void)
{
	const char *dir = getenv("RINGSIDE_BIN");
	char rel[PATH_MAX];

	memset(&th, 0, sizeof(th));
	snprintf(th.name, sizeof(th.name), "tt%ld", (long)getpid());
	snprintf(th.socket, sizeof(th.socket), "top%ld", (long)getpid());
	snprintf(th.dir, sizeof(th.dir), "/dev/shm/rstop-%ld-XXXXXX",
		 (long)getpid());
	if (mkdtemp(th.dir) == NULL) {
		th.dir[0] = '\0';
		cr_assert_fail("mkdtemp: %s", strerror(errno));
	}
	/* The pane's shell may start elsewhere: an absolute path. */
	snprintf(rel, sizeof(rel), "%s/ringside-top",
		 dir != NULL && *dir ? dir : "build/bin");
	if (realpath(rel, th.bin) == NULL)
		snprintf(th.bin, sizeof(th.bin), "%s", rel);
	/* The tmux server's socket goes into our directory; a tmux around
	 * the test run is not ours to talk to. */
	setenv("TMUX_TMPDIR", th.dir, 1);
	unsetenv("TMUX");
}

/*
 * Kill what runs in our tmux panes, then the server.  SIGKILL to each
 * pane's process group (its shell and ringside-top) first: a program
 * left to die of the SIGHUP of kill-server may linger (a sanitizer's
 * leak check at exit, stalled by the SIGCONT the orphaned group gets).
 */
static void th_kill_tmux(void)
{
	char pids[1024], *p, *end;

	if (th_tmux(pids, sizeof(pids), "list-panes", "-a", "-F", "#{pane_pid}",
		    NULL) == 0) {
		for (p = pids; *p != '\0'; p = end) {
			long pid = strtol(p, &end, 10);

			if (end == p)
				break;
			if (pid > 1) {
				kill((pid_t)-pid, SIGKILL);
				kill((pid_t)pid, SIGKILL);
			}
		}
	}
	th_tmux(NULL, 0, "kill-server", NULL);
}

static void th_fini(void)
{
	if (th.tmux)
		th_kill_tmux();
	if (th.engine > 0) {
		kill(th.engine, SIGKILL);
		waitpid(th.engine, NULL, 0);
		th.engine = 0;
	}
	th_remove_segments();
	if (th.dir[0] != '\0')
		nftw(th.dir, th_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(top, .init = th_init, .fini = th_fini, .timeout = 60);

/* Skip the test when there is no tmux to give ringside-top a terminal. */
static void th_need_tmux(void)
{
	char *argv[] = { "tmux", "-V", NULL };

	if (th_run(argv, NULL, 0) != 0)
		cr_skip_test("tmux is not installed");
}

/*
 * Start ringsided on two sensors, in this order: zeta, a tmpfs file
 * holding 42.5 (unit C), and alpha, a file that does not exist.  alpha
 * makes one attempt per call and its breaker never opens, so that every
 * batch shows it failed(ENOENT).  Waits for the segment.
 */
static void th_start_engine(void)
{
	char conf[128], value[128], missing[128], seg[96], log[128];
	pid_t parent = getpid();
	uint64_t end;
	struct stat st;
	FILE *f;

	th_path(value, sizeof(value), "zeta.value");
	th_path(missing, sizeof(missing), "alpha.value");
	th_path(conf, sizeof(conf), "top.ini");
	th_path(log, sizeof(log), "engine.log");
	f = fopen(value, "w");
	cr_assert_not_null(f);
	fputs("42.5\n", f);
	fclose(f);
	f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"[engine]\nname = %s\nperiod = 100ms\n\n"
		"[sensor zeta]\nsource = file:%s\nunit = C\n\n"
		"[sensor alpha]\nsource = file:%s\nretry_attempts = 1\n"
		"breaker_failures = 1000\n",
		th.name, value, missing);
	fclose(f);

	th.engine = fork();
	cr_assert_geq(th.engine, 0, "fork: %s", strerror(errno));
	if (th.engine == 0) {
		const char *dir = getenv("RINGSIDE_BIN");
		char bin[PATH_MAX];
		int null = open("/dev/null", O_RDWR);
		int err = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (!th_child_setup(parent, null, null, err >= 0 ? err : null))
			_exit(127);
		snprintf(bin, sizeof(bin), "%s/ringsided",
			 dir != NULL && *dir ? dir : "build/bin");
		execl(bin, bin, "-c", conf, "--duration", "55", (char *)NULL);
		_exit(127);
	}
	snprintf(seg, sizeof(seg), "/dev/shm/ringside.%s", th.name);
	end = th_now_ms() + TH_START_MS;
	while (stat(seg, &st) < 0) {
		int status;

		cr_assert_eq(waitpid(th.engine, &status, WNOHANG), 0,
			     "ringsided exited at start (see %s)", log);
		cr_assert_lt(th_now_ms(), end, "no segment %s after %d ms", seg,
			     TH_START_MS);
		th_sleep_ms(20);
	}
}

/*
 * Start ringside-top on our segment in a detached tmux session "top" of
 * @cols x @lines.  The pane's shell writes ringside-top's exit status
 * into top.status when it exits.
 */
static void th_start_top(int cols, int lines)
{
	char status[128], x[16], y[16], cmd[PATH_MAX + 256];

	th_path(status, sizeof(status), "top.status");
	snprintf(x, sizeof(x), "%d", cols);
	snprintf(y, sizeof(y), "%d", lines);
	snprintf(cmd, sizeof(cmd), "'%s' %s; echo $? > '%s'", th.bin, th.name,
		 status);
	th.tmux = true;
	cr_assert_eq(th_tmux(NULL, 0, "-f", "/dev/null", "new-session", "-d",
			     "-s", "top", "-x", x, "-y", y, cmd, NULL),
		     0, "tmux new-session failed");
}

/* The screen of the pane, into th.screen. */
static void th_capture(void)
{
	th.screen[0] = '\0';
	th_tmux(th.screen, sizeof(th.screen), "capture-pane", "-p", "-t", "top",
		NULL);
}

/* The line of the screen that holds @text first, or -1. */
static int th_line_of(const char *text)
{
	const char *at = strstr(th.screen, text), *p;
	int line = 0;

	if (at == NULL)
		return -1;
	for (p = th.screen; p < at; p++)
		line += *p == '\n';
	return line;
}

/* Copy line @line of the screen into @buf. */
static void th_line(int line, char *buf, size_t len)
{
	const char *p = th.screen, *end;
	size_t n;

	while (line-- > 0 && p != NULL) {
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	if (p == NULL) {
		buf[0] = '\0';
		return;
	}
	end = strchr(p, '\n');
	n = end != NULL ? (size_t)(end - p) : strlen(p);
	if (n >= len)
		n = len - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
}

/*
 * Poll the screen until it holds every text of the NULL-terminated list,
 * for up to TH_SCREEN_MS.  Returns true when it does; th.screen holds the
 * last capture either way.
 */
static bool th_screen_shows(const char *text, ...)
{
	uint64_t end = th_now_ms() + TH_SCREEN_MS;

	for (;;) {
		const char *s = text;
		bool all = true;
		va_list ap;

		th_capture();
		va_start(ap, text);
		for (; s != NULL; s = va_arg(ap, const char *))
			if (strstr(th.screen, s) == NULL)
				all = false;
		va_end(ap);
		if (all)
			return true;
		if (th_now_ms() >= end)
			return false;
		th_sleep_ms(100);
	}
}

/* Start the engine and ringside-top, and wait until both sensors show. */
static void th_start_both(void)
{
	th_need_tmux();
	th_start_engine();
	th_start_top(80, 24);
	cr_assert(th_screen_shows("zeta", "alpha", "42.5", "live", NULL),
		  "the sensors never showed; the screen:\n%s", th.screen);
}

/* ---- the tests --------------------------------------------------------- */

Test(top, help_and_version_work_without_a_terminal)
{
	char out[4096];
	char *help[] = { th.bin, "--help", NULL };
	char *version[] = { th.bin, "--version", NULL };

	cr_assert_eq(th_run(help, out, sizeof(out)), 0);
	cr_assert_not_null(strstr(out, "Usage: ringside-top NAME"), "%s", out);
	cr_assert_eq(th_run(version, out, sizeof(out)), 0);
	cr_assert_eq(strncmp(out, "ringside-top ", 13), 0, "%s", out);
}

Test(top, usage_errors_exit_2)
{
	char *none[] = { th.bin, NULL };
	char *two[] = { th.bin, "a", "b", NULL };
	char *bad_name[] = { th.bin, "no/slash", NULL };
	char *bad_interval[] = { th.bin, "a", "--interval", "soon", NULL };
	char *unknown[] = { th.bin, "a", "--colour", NULL };

	cr_assert_eq(th_run(none, NULL, 0), 2);
	cr_assert_eq(th_run(two, NULL, 0), 2);
	cr_assert_eq(th_run(bad_name, NULL, 0), 2);
	cr_assert_eq(th_run(bad_interval, NULL, 0), 2);
	cr_assert_eq(th_run(unknown, NULL, 0), 2);
}

Test(top, shows_values_failures_and_breakers_in_80x24)
{
	char line[256];
	int n;

	th_start_both();
	cr_assert(th_screen_shows("failed(ENOENT)", NULL),
		  "alpha never showed failed(ENOENT); the screen:\n%s",
		  th.screen);
	/* The header names the engine and says it is live. */
	th_line(0, line, sizeof(line));
	cr_assert_eq(strncmp(line, th.name, strlen(th.name)), 0, "%s", line);
	cr_assert_not_null(strstr(line, "live"), "%s", line);
	cr_assert_not_null(strstr(th.screen, "batches"), "%s", th.screen);

	n = th_line_of("zeta ");
	cr_assert_geq(n, 0, "%s", th.screen);
	th_line(n, line, sizeof(line));
	cr_assert_not_null(strstr(line, "42.5 C"), "zeta: %s", line);
	cr_assert_not_null(strstr(line, " ok "), "zeta: %s", line);
	cr_assert_not_null(strstr(line, "closed"), "zeta: %s", line);

	n = th_line_of("alpha ");
	cr_assert_geq(n, 0, "%s", th.screen);
	th_line(n, line, sizeof(line));
	cr_assert_not_null(strstr(line, "failed(ENOENT)"), "alpha: %s", line);
	cr_assert_not_null(strstr(line, "closed"), "alpha: %s", line);
}

Test(top, s_sorts_by_name)
{
	int zeta, alpha;

	th_start_both();
	/* Configuration order first: zeta above alpha. */
	zeta = th_line_of("zeta ");
	alpha = th_line_of("alpha ");
	cr_assert(zeta >= 0 && alpha >= 0 && zeta < alpha, "%s", th.screen);
	cr_assert_not_null(strstr(th.screen, "sort: config"), "%s", th.screen);

	th_tmux(NULL, 0, "send-keys", "-t", "top", "s", NULL);
	cr_assert(th_screen_shows("sort: name", NULL),
		  "no sort indicator after s; the screen:\n%s", th.screen);
	zeta = th_line_of("zeta ");
	alpha = th_line_of("alpha ");
	cr_assert(zeta >= 0 && alpha >= 0 && alpha < zeta,
		  "alpha is not above zeta after s:\n%s", th.screen);
}

Test(top, q_quits_with_status_0)
{
	char path[128], status[16] = "";
	uint64_t end;
	FILE *f;

	th_start_both();
	th_tmux(NULL, 0, "send-keys", "-t", "top", "q", NULL);
	th_path(path, sizeof(path), "top.status");
	end = th_now_ms() + TH_SCREEN_MS;
	while ((f = fopen(path, "r")) == NULL ||
	       fgets(status, sizeof(status), f) == NULL) {
		if (f != NULL)
			fclose(f);
		cr_assert_lt(th_now_ms(), end,
			     "ringside-top still runs after q; the screen:\n%s",
			     th.screen);
		th_sleep_ms(50);
	}
	fclose(f);
	cr_assert_str_eq(status, "0\n", "ringside-top exited %s", status);
}

Test(top, waits_for_the_segment_then_shows_it)
{
	th_need_tmux();
	th_start_top(80, 24);
	cr_assert(th_screen_shows("waiting", "no segment", NULL),
		  "no waiting message; the screen:\n%s", th.screen);
	th_start_engine();
	cr_assert(th_screen_shows("live", "zeta", "42.5", NULL),
		  "the new segment never showed; the screen:\n%s", th.screen);
}

Test(top, says_when_the_engine_is_gone_and_follows_its_restart)
{
	char line[256];

	th_start_both();
	kill(th.engine, SIGKILL);
	waitpid(th.engine, NULL, 0);
	th.engine = 0;
	cr_assert(th_screen_shows("dead", "is gone", NULL),
		  "the dead engine was not reported; the screen:\n%s",
		  th.screen);
	/* The old values stay on the screen while it waits. */
	cr_assert_not_null(strstr(th.screen, "42.5"), "%s", th.screen);

	th_start_engine();
	cr_assert(th_screen_shows("live", "new segment", "42.5", NULL),
		  "the restarted engine was not followed; the screen:\n%s",
		  th.screen);
	th_line(0, line, sizeof(line));
	cr_assert_null(strstr(line, "dead"), "%s", line);
}

Test(top, too_small_a_terminal_gets_one_line_until_resized)
{
	th_need_tmux();
	th_start_engine();
	th_start_top(30, 5);
	cr_assert(th_screen_shows("terminal too small", NULL),
		  "no message in 30x5; the screen:\n%s", th.screen);
	cr_assert_null(strstr(th.screen, "zeta"), "%s", th.screen);

	th_tmux(NULL, 0, "resize-window", "-t", "top", "-x", "80", "-y", "24",
		NULL);
	cr_assert(th_screen_shows("zeta", "alpha", "42.5", NULL),
		  "no table after the resize; the screen:\n%s", th.screen);
	cr_assert_null(strstr(th.screen, "too small"), "%s", th.screen);
}
