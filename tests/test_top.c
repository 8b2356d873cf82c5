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
 * Each test process has a tmux server of its own (-S, its socket in the
 * harness's temporary directory) and its own segment, te<pid>t.  The
 * suite's .fini kills the tmux server (and so ringside-top), then lets
 * the harness (tests/harness.h) take down the engine, the segment and
 * the temporary directory, whether the test passed or not.  Tests that
 * need tmux are skipped when it is not installed.
 */
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <criterion/criterion.h>

#include "harness.h"

#define TH_START_MS 5000   /* an engine creates its segment by then */
#define TH_SCREEN_MS 10000 /* the screen shows what is expected by then */
#define TH_SCREEN_MAX 16384

static struct {
	pid_t engine;		    /* the last one started */
	bool tmux;		    /* a tmux server of ours may be running */
	char name[40];		    /* segment name: te<pid>t */
	char socket[256];	    /* tmux -S: in the temporary directory */
	char bin[PATH_MAX];	    /* ringside-top, absolute */
	char screen[TH_SCREEN_MAX]; /* the last capture */
} th;

/*
 * Run @argv to its end, its stdout into @out (NUL-terminated, may be
 * NULL), stdin and stderr on /dev/null.  Returns the exit status, or -1
 * when it did not exit normally.
 */
static int th_run(char *const argv[], char *out, size_t len)
{
	int fd = -1, status;
	pid_t pid = h_spawn_io(
		argv, &(struct h_stdio){ .out = out != NULL ? &fd : NULL });

	if (out != NULL) {
		h_read_all(fd, out, len, TH_SCREEN_MS);
		h_close(fd);
	}
	status = h_reap(pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * tmux on our own server: "tmux -S SOCKET" and the arguments, up to a
 * NULL.  Returns as th_run().
 */
static int th_tmux(char *out, size_t len, ...)
{
	char *argv[24] = { "tmux", "-S", th.socket };
	unsigned n = 3;
	va_list ap;

	va_start(ap, len);
	while (n < 23 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	return th_run(argv, out, len);
}

static void th_init(void)
{
	h_init();
	memset(&th, 0, sizeof(th));
	h_name(th.name, sizeof(th.name), "t");
	h_path(th.socket, sizeof(th.socket), "tmux");
	/* The pane's shell may start elsewhere: an absolute path. */
	h_bin(th.bin, sizeof(th.bin), "ringside-top");
	/* A tmux around the test run is not ours to talk to. */
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

/* The tmux server first: what runs in it is no child of ours. */
static void th_fini(void)
{
	if (th.tmux)
		th_kill_tmux();
	h_fini();
}

TestSuite(top, .init = th_init, .fini = th_fini, .timeout = 60);

/* Skip the test when there is no tmux to give ringside-top a terminal. */
static void th_need_tmux(void)
{
	char *argv[] = { "tmux", "-V", NULL };

	if (th_run(argv, NULL, 0) != 0)
		h_skip("tmux is not installed");
}

/*
 * Start ringsided on two sensors, in this order: zeta, a tmpfs file
 * holding 42.5 (unit C), and alpha, a file that does not exist.  alpha
 * makes one attempt per call and its breaker never opens, so that every
 * batch shows it failed(ENOENT).  Waits for the segment.
 */
static void th_start_engine(void)
{
	char conf[256], value[256], missing[256];

	h_path(value, sizeof(value), "zeta.value");
	h_path(missing, sizeof(missing), "alpha.value");
	h_put_text(value, "42.5\n");
	h_config(conf, sizeof(conf), th.name, "100ms",
		 "[sensor zeta]\nsource = file:%s\nunit = C\n\n"
		 "[sensor alpha]\nsource = file:%s\nretry_attempts = 1\n"
		 "breaker_failures = 1000\n",
		 value, missing);
	th.engine = h_engine_ready(conf, "55", th.name, 0, TH_START_MS);
}

/*
 * Start ringside-top on our segment in a detached tmux session "top" of
 * @cols x @lines.  The pane's shell writes ringside-top's exit status
 * into top.status when it exits.
 */
static void th_start_top(int cols, int lines)
{
	char status[128], x[16], y[16], cmd[PATH_MAX + 256];

	h_path(status, sizeof(status), "top.status");
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
	uint64_t end = h_now_ms() + TH_SCREEN_MS;

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
		if (h_now_ms() >= end)
			return false;
		h_sleep_ms(100);
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
	h_path(path, sizeof(path), "top.status");
	end = h_now_ms() + TH_SCREEN_MS;
	while ((f = fopen(path, "r")) == NULL ||
	       fgets(status, sizeof(status), f) == NULL) {
		if (f != NULL)
			fclose(f);
		cr_assert_lt(h_now_ms(), end,
			     "ringside-top still runs after q; the screen:\n%s",
			     th.screen);
		h_sleep_ms(50);
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
	h_kill(th.engine);
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
