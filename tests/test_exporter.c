/* SPDX-License-Identifier: MIT */
/*
 * test_exporter.c - ringside-exporter from the outside: a real ringsided
 * runs as a child on file sensors in a tmpfs directory, the exporter runs
 * as another child on a free loopback port, and /metrics is fetched with a
 * plain HTTP/1.0 request over a socket, as Prometheus would.
 *
 * What is asserted is what a scraper relies on: a healthy sensor's value
 * series, a failing sensor's value series left out while its up series
 * says 0, counters and the latency histogram present, label values
 * escaped, the engine's liveness followed across a stop, a kill and a
 * restart, 404 and 405 where due, and exit statuses.  When promtool is
 * installed (Debian's prometheus package), the page must also pass
 * `promtool check metrics`; without it that test is skipped.
 *
 * Nothing waits for a fixed time: every expectation is polled for until
 * a generous deadline.  The suite's .fini kills the children and removes
 * the segments named tx<pid>... and the temporary directory, whether the
 * test passed or an assertion ended it; children also get
 * PR_SET_PDEATHSIG.  Programs are found in $RINGSIDE_BIN, else build/bin.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#define X_CHILDREN_MAX 8
#define X_START_MS 5000	 /* a started program is serving by then */
#define X_METRIC_MS 8000 /* an expected series shows up by then */
#define X_PAGE_MAX (256 * 1024)
#define X_PROMTOOL "/usr/bin/promtool"

/* ---- the harness ------------------------------------------------------- */

static struct {
	pid_t child[X_CHILDREN_MAX]; /* 0: free or reaped */
	unsigned nlog;
	char dir[64];	 /* temporary directory, on tmpfs */
	char prefix[24]; /* tx<pid>: every segment name starts so */
} x;

/* The last page fetched: status, and the body after the headers. */
static char x_reply[X_PAGE_MAX];
static int x_status;
static const char *x_body;

static uint64_t x_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void x_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void x_keep_child(pid_t pid)
{
	unsigned i;

	for (i = 0; i < X_CHILDREN_MAX; i++) {
		if (x.child[i] == 0) {
			x.child[i] = pid;
			return;
		}
	}
	kill(pid, SIGKILL);
	cr_assert_fail("harness: too many children");
}

static void x_forget_child(pid_t pid)
{
	unsigned i;

	for (i = 0; i < X_CHILDREN_MAX; i++)
		if (x.child[i] == pid)
			x.child[i] = 0;
}

/* @name inside the temporary directory. */
static void x_path(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", x.dir, name);

	cr_assert(n > 0 && (size_t)n < len, "path too long: %s", name);
}

/* The program @prog, from $RINGSIDE_BIN or build/bin. */
static void x_bin(char *buf, size_t len, const char *prog)
{
	const char *dir = getenv("RINGSIDE_BIN");

	snprintf(buf, len, "%s/%s", dir != NULL && *dir ? dir : "build/bin",
		 prog);
}

/* A segment name unique to this test process: tx<pid><tag>. */
static void x_name(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "%s%s", x.prefix, tag);
}

static void x_remove_dir(void)
{
	struct dirent *de;
	DIR *d;

	if (x.dir[0] == '\0')
		return;
	d = opendir(x.dir);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(x.dir);
}

/* Every /dev/shm entry of ours: ringside.tx<pid>* and its temporaries. */
static void x_remove_segments(void)
{
	char plain[48];
	struct dirent *de;
	DIR *d = opendir("/dev/shm");

	if (d == NULL)
		return;
	snprintf(plain, sizeof(plain), "ringside.%s", x.prefix);
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (n[0] == '.')
			n++;
		if (strncmp(n, plain, strlen(plain)) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

static void x_init(void)
{
	memset(&x, 0, sizeof(x));
	snprintf(x.prefix, sizeof(x.prefix), "tx%ld", (long)getpid());
	snprintf(x.dir, sizeof(x.dir), "/dev/shm/rsexp-%ld-XXXXXX",
		 (long)getpid());
	if (mkdtemp(x.dir) == NULL) {
		x.dir[0] = '\0';
		cr_assert_fail("mkdtemp: %s", strerror(errno));
	}
	signal(SIGPIPE, SIG_IGN);
}

static void x_fini(void)
{
	unsigned i;

	for (i = 0; i < X_CHILDREN_MAX; i++) {
		if (x.child[i] > 0) {
			kill(x.child[i], SIGKILL);
			waitpid(x.child[i], NULL, 0);
			x.child[i] = 0;
		}
	}
	x_remove_segments();
	x_remove_dir();
}

TestSuite(exporter, .init = x_init, .fini = x_fini, .timeout = 60);

/*
 * Start @argv with stdin from @in (NULL: /dev/null), stdout and stderr
 * into the file @log of the temporary directory.  Returns the pid.
 */
static pid_t x_spawn(char *const argv[], const char *in, const char *log)
{
	pid_t parent = getpid(), pid;
	char logpath[256];

	x_path(logpath, sizeof(logpath), log);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		sigset_t none;
		int fin = open(in != NULL ? in : "/dev/null", O_RDONLY);
		int fout = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || fin < 0 || fout < 0)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(fin, 0);
		dup2(fout, 1);
		dup2(fout, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	x_keep_child(pid);
	return pid;
}

/*
 * Wait up to @timeout_ms for @pid to end.  Returns 0 with its wait status
 * in *@status, or -ETIMEDOUT.
 */
static int x_wait(pid_t pid, int timeout_ms, int *status)
{
	uint64_t end = x_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid) {
			x_forget_child(pid);
			return 0;
		}
		if (r < 0)
			return -errno;
		if (x_now_ms() >= end)
			return -ETIMEDOUT;
		x_sleep_ms(5);
	}
}

/* Wait for @pid and assert that it exited with @code. */
static void x_expect_exit(pid_t pid, int timeout_ms, int code)
{
	int status = 0;

	cr_assert_eq(x_wait(pid, timeout_ms, &status), 0,
		     "pid %d did not exit within %d ms", (int)pid, timeout_ms);
	cr_assert(WIFEXITED(status), "pid %d ended by signal %d", (int)pid,
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	cr_assert_eq(WEXITSTATUS(status), code, "pid %d exited %d, not %d",
		     (int)pid, WEXITSTATUS(status), code);
}

/* Read the file @path into @buf, NUL-terminated (empty if missing). */
static void x_slurp(const char *path, char *buf, size_t len)
{
	ssize_t n = 0, r;
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		while ((size_t)n + 1 < len &&
		       (r = read(fd, buf + n, len - 1 - (size_t)n)) > 0)
			n += r;
		close(fd);
	}
	buf[n] = '\0';
}

/* Write @text to @path atomically: a temporary, then a rename. */
static void x_put_text(const char *path, const char *text)
{
	char tmp[300];
	size_t len = strlen(text);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0, "%s: %s", tmp, strerror(errno));
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	cr_assert_eq(rename(tmp, path), 0, "rename %s: %s", path,
		     strerror(errno));
}

/* A loopback TCP port on which nothing listens (bound, then closed). */
static unsigned x_free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
		     "bind: %s", strerror(errno));
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	return ntohs(sin.sin_port);
}

/*
 * The engine @name on two file sensors of the temporary directory:
 * "good" reads the file good (unit @unit) and "bad" a file that does not
 * exist, with one attempt per call.  The file good holds 23.5.
 */
static void x_config(char *path, size_t len, const char *name, const char *unit)
{
	char good[256], bad[256], file[64];
	FILE *f;

	x_path(good, sizeof(good), "good");
	x_path(bad, sizeof(bad), "missing");
	x_put_text(good, "23.5\n");
	snprintf(file, sizeof(file), "%s.ini", name);
	x_path(path, len, file);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fprintf(f,
		"[engine]\nname = %s\nperiod = 50ms\n\n"
		"[defaults]\ntimeout = 20ms\nretry_attempts = 1\n\n"
		"[sensor good]\nsource = file:%s\nunit = %s\n\n"
		"[sensor bad]\nsource = file:%s\nunit = V\n",
		name, good, unit, bad);
	fclose(f);
}

static pid_t x_engine(const char *cfg)
{
	char bin[256], log[32];
	char *argv[] = { bin, "-c", (char *)cfg, "--duration", "50", NULL };

	x_bin(bin, sizeof(bin), "ringsided");
	snprintf(log, sizeof(log), "engine-%u.log", x.nlog++);
	return x_spawn(argv, NULL, log);
}

/* Connect to 127.0.0.1:@port: the socket, or -errno. */
static int x_connect(unsigned port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * One HTTP/1.0 request, @method @path, read to EOF into x_reply;
 * x_status and x_body are set from the reply.
 */
static void x_request(unsigned port, const char *method, const char *path)
{
	char req[256];
	uint64_t end = x_now_ms() + 5000;
	size_t n = 0;
	char *sep;
	int fd, len;

	fd = x_connect(port);
	cr_assert_geq(fd, 0, "connect to port %u: %s", port, strerror(-fd));
	len = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: x\r\n\r\n",
		       method, path);
	cr_assert_eq(write(fd, req, (size_t)len), len, "write: %s",
		     strerror(errno));
	while (n + 1 < sizeof(x_reply)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = x_now_ms();
		ssize_t r;

		cr_assert_lt(now, end, "no complete reply to %s %s", method,
			     path);
		if (poll(&p, 1, (int)(end - now)) <= 0)
			continue;
		r = read(fd, x_reply + n, sizeof(x_reply) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	x_reply[n] = '\0';
	x_status = 0;
	cr_assert_eq(sscanf(x_reply, "HTTP/1.%*c %d", &x_status), 1,
		     "not an HTTP reply: %.80s", x_reply);
	sep = strstr(x_reply, "\r\n\r\n");
	cr_assert_not_null(sep, "no end of headers: %.200s", x_reply);
	x_body = sep + 4;
}

static void x_scrape(unsigned port)
{
	x_request(port, "GET", "/metrics");
	cr_assert_eq(x_status, 200, "GET /metrics: %d", x_status);
}

/* Whether the body holds the line @line, whole. */
static bool x_has_line(const char *line)
{
	size_t n = strlen(line);
	const char *p = x_body;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == x_body || p[-1] == '\n') && p[n] == '\n')
			return true;
		p += n;
	}
	return false;
}

/* Whether some line of the body starts with @prefix. */
static bool x_has_prefix(const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p = x_body;

	for (;;) {
		if (strncmp(p, prefix, n) == 0)
			return true;
		p = strchr(p, '\n');
		if (p == NULL)
			return false;
		p++;
	}
}

/* Scrape until the line @line appears, or fail after X_METRIC_MS. */
static void x_scrape_until(unsigned port, const char *line)
{
	uint64_t end = x_now_ms() + X_METRIC_MS;

	for (;;) {
		x_scrape(port);
		if (x_has_line(line))
			return;
		cr_assert_lt(x_now_ms(), end, "no line '%s' in:\n%s", line,
			     x_body);
		x_sleep_ms(50);
	}
}

/* Start the exporter on segment @name and wait until it answers. */
static pid_t x_exporter(const char *name, unsigned port)
{
	char bin[256], listen[32], log[32];
	char *argv[] = { bin, (char *)name, "--listen", listen, NULL };
	uint64_t end = x_now_ms() + X_START_MS;
	int fd, status = 0;
	pid_t pid;

	x_bin(bin, sizeof(bin), "ringside-exporter");
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	snprintf(log, sizeof(log), "exporter-%u.log", x.nlog++);
	pid = x_spawn(argv, NULL, log);
	for (;;) {
		fd = x_connect(port);
		if (fd >= 0)
			break;
		cr_assert_neq(x_wait(pid, 0, &status), 0,
			      "the exporter exited early (status %#x)", status);
		cr_assert_lt(x_now_ms(), end, "the exporter never listened");
		x_sleep_ms(10);
	}
	close(fd);
	return pid;
}

/* An engine on x_config(@unit) and an exporter on it: its port. */
static unsigned x_start_both(const char *name, const char *unit, pid_t *engine,
			     pid_t *exporter)
{
	char cfg[256], line[128];
	unsigned port = x_free_port();
	pid_t e, p;

	x_config(cfg, sizeof(cfg), name, unit);
	e = x_engine(cfg);
	p = x_exporter(name, port);
	snprintf(line, sizeof(line), "ringside_engine_up{engine=\"%s\"} 1",
		 name);
	x_scrape_until(port, line);
	if (engine != NULL)
		*engine = e;
	if (exporter != NULL)
		*exporter = p;
	return port;
}

/* The value of the epoch series of @name in the body, as text. */
static void x_epoch(const char *name, char *buf, size_t len)
{
	char prefix[96];
	const char *p;
	size_t n;

	snprintf(prefix, sizeof(prefix),
		 "\nringside_engine_epoch_seconds{engine=\"%s\"} ", name);
	p = strstr(x_body, prefix);
	cr_assert_not_null(p, "no epoch in:\n%s", x_body);
	p += strlen(prefix);
	n = strcspn(p, "\n");
	cr_assert_lt(n, len);
	memcpy(buf, p, n);
	buf[n] = '\0';
}

/* ---- tests ------------------------------------------------------------- */

Test(exporter, serves_healthy_values_and_leaves_failing_ones_out)
{
	char name[40], line[256];
	unsigned port;

	x_name(name, sizeof(name), "v");
	port = x_start_both(name, "C", NULL, NULL);
	/* The bad sensor's first call fails at once: ENOENT. */
	snprintf(line, sizeof(line),
		 "ringside_sensor_up{engine=\"%s\",sensor=\"bad\"} 0", name);
	x_scrape_until(port, line);

	cr_assert(strstr(x_reply, "version=0.0.4") != NULL,
		  "no text format 0.0.4 in the headers:\n%.300s", x_reply);
	snprintf(line, sizeof(line),
		 "ringside_sensor_value{engine=\"%s\",sensor=\"good\","
		 "unit=\"C\"} 23.5",
		 name);
	cr_assert(x_has_line(line), "no '%s' in:\n%s", line, x_body);
	snprintf(line, sizeof(line),
		 "ringside_sensor_up{engine=\"%s\",sensor=\"good\"} 1", name);
	cr_assert(x_has_line(line), "no '%s' in:\n%s", line, x_body);
	snprintf(line, sizeof(line),
		 "ringside_sensor_value{engine=\"%s\",sensor=\"bad\"", name);
	cr_assert_not(x_has_prefix(line), "a value for the failing sensor:\n%s",
		      x_body);
	cr_assert_not(strstr(x_body, "NaN") != NULL, "NaN in:\n%s", x_body);
	snprintf(line, sizeof(line),
		 "ringside_sensor_status{engine=\"%s\",sensor=\"bad\","
		 "status=\"ok\"} 0",
		 name);
	cr_assert(x_has_line(line), "no '%s' in:\n%s", line, x_body);

	/* Counters, engine and per sensor, and the histogram. */
	cr_assert(x_has_line("# TYPE ringside_batches_total counter"));
	cr_assert(x_has_line("# TYPE ringside_reads_total counter"));
	cr_assert(x_has_line("# TYPE ringside_read_failures_total counter"));
	cr_assert(x_has_line("# TYPE ringside_breaker_state gauge"));
	cr_assert(
		x_has_line("# TYPE ringside_read_duration_seconds histogram"));
	snprintf(line, sizeof(line), "ringside_batches_total{engine=\"%s\"} ",
		 name);
	cr_assert(x_has_prefix(line), "no '%s' in:\n%s", line, x_body);
	snprintf(line, sizeof(line),
		 "ringside_reads_total{engine=\"%s\",sensor=\"good\"} ", name);
	cr_assert(x_has_prefix(line), "no '%s' in:\n%s", line, x_body);
	snprintf(line, sizeof(line),
		 "ringside_read_failures_total{engine=\"%s\",sensor=\"bad\"} ",
		 name);
	cr_assert(x_has_prefix(line), "no '%s' in:\n%s", line, x_body);
	snprintf(line, sizeof(line),
		 "ringside_read_failures_total{engine=\"%s\",sensor=\"bad\"} 0",
		 name);
	cr_assert_not(x_has_line(line), "the failures were not counted:\n%s",
		      x_body);
	snprintf(line, sizeof(line),
		 "ringside_read_duration_seconds_bucket{engine=\"%s\","
		 "sensor=\"good\",le=\"+Inf\"} ",
		 name);
	cr_assert(x_has_prefix(line), "no '%s' in:\n%s", line, x_body);
	snprintf(line, sizeof(line),
		 "ringside_read_duration_seconds_count{engine=\"%s\","
		 "sensor=\"good\"} ",
		 name);
	cr_assert(x_has_prefix(line), "no '%s' in:\n%s", line, x_body);
}

Test(exporter, drops_the_value_of_a_sensor_that_starts_failing)
{
	char name[40], line[256], good[256];
	unsigned port;

	x_name(name, sizeof(name), "d");
	port = x_start_both(name, "C", NULL, NULL);
	snprintf(line, sizeof(line),
		 "ringside_sensor_up{engine=\"%s\",sensor=\"good\"} 1", name);
	x_scrape_until(port, line);

	x_path(good, sizeof(good), "good");
	cr_assert_eq(unlink(good), 0);
	snprintf(line, sizeof(line),
		 "ringside_sensor_up{engine=\"%s\",sensor=\"good\"} 0", name);
	x_scrape_until(port, line);
	snprintf(line, sizeof(line),
		 "ringside_sensor_value{engine=\"%s\",sensor=\"good\"", name);
	cr_assert_not(x_has_prefix(line), "an old value is served:\n%s",
		      x_body);
}

Test(exporter, answers_404_elsewhere_and_405_to_other_methods)
{
	char name[40];
	unsigned port = x_free_port();

	x_name(name, sizeof(name), "h");
	x_exporter(name, port);
	x_request(port, "GET", "/other");
	cr_assert_eq(x_status, 404);
	x_request(port, "GET", "/");
	cr_assert_eq(x_status, 404);
	x_request(port, "GET", "/metrics/");
	cr_assert_eq(x_status, 404);
	x_request(port, "POST", "/metrics");
	cr_assert_eq(x_status, 405);
	cr_assert(strstr(x_reply, "Allow: GET, HEAD") != NULL, "%s", x_reply);
	x_request(port, "DELETE", "/metrics");
	cr_assert_eq(x_status, 405);
	x_request(port, "HEAD", "/metrics");
	cr_assert_eq(x_status, 200);
	cr_assert_str_empty(x_body);
}

Test(exporter, serves_engine_up_0_without_a_segment)
{
	char name[40], line[128];
	unsigned port = x_free_port();

	x_name(name, sizeof(name), "none");
	x_exporter(name, port);
	x_scrape(port);
	snprintf(line, sizeof(line), "ringside_engine_up{engine=\"%s\"} 0",
		 name);
	cr_assert(x_has_line(line), "no '%s' in:\n%s", line, x_body);
	cr_assert(x_has_line("# TYPE ringside_engine_up gauge"));
	cr_assert_not(x_has_prefix("ringside_sensor_"), "%s", x_body);
}

Test(exporter, attaches_to_an_engine_started_after_it)
{
	char name[40], cfg[256], line[256];
	unsigned port = x_free_port();

	x_name(name, sizeof(name), "late");
	x_exporter(name, port);
	x_scrape(port);
	snprintf(line, sizeof(line), "ringside_engine_up{engine=\"%s\"} 0",
		 name);
	cr_assert(x_has_line(line), "no '%s' in:\n%s", line, x_body);

	x_config(cfg, sizeof(cfg), name, "C");
	x_engine(cfg);
	snprintf(line, sizeof(line),
		 "ringside_sensor_value{engine=\"%s\",sensor=\"good\","
		 "unit=\"C\"} 23.5",
		 name);
	x_scrape_until(port, line);
}

Test(exporter, follows_an_engine_that_stops_and_restarts)
{
	char name[40], cfg[256], line[256], epoch1[40], epoch2[40];
	unsigned port;
	pid_t engine;

	x_name(name, sizeof(name), "r");
	port = x_start_both(name, "C", &engine, NULL);
	x_epoch(name, epoch1, sizeof(epoch1));

	kill(engine, SIGTERM);
	x_expect_exit(engine, 5000, 0);
	snprintf(line, sizeof(line), "ringside_engine_up{engine=\"%s\"} 0",
		 name);
	x_scrape_until(port, line);
	snprintf(line, sizeof(line), "ringside_sensor_value{engine=\"%s\"",
		 name);
	cr_assert_not(x_has_prefix(line), "values of a stopped engine:\n%s",
		      x_body);

	snprintf(cfg, sizeof(cfg), "%s/%s.ini", x.dir, name);
	x_engine(cfg);
	snprintf(line, sizeof(line), "ringside_engine_up{engine=\"%s\"} 1",
		 name);
	x_scrape_until(port, line);
	x_epoch(name, epoch2, sizeof(epoch2));
	cr_assert_str_neq(epoch1, epoch2, "the same epoch after a restart");
	cr_assert_gt(strtod(epoch2, NULL), strtod(epoch1, NULL));
}

Test(exporter, reports_a_killed_engine_as_down)
{
	char name[40], line[256];
	unsigned port;
	pid_t engine;

	x_name(name, sizeof(name), "k");
	port = x_start_both(name, "C", &engine, NULL);
	kill(engine, SIGKILL);
	x_wait(engine, 5000, NULL);
	snprintf(line, sizeof(line), "ringside_engine_up{engine=\"%s\"} 0",
		 name);
	x_scrape_until(port, line);
	snprintf(line, sizeof(line), "ringside_sensor_value{engine=\"%s\"",
		 name);
	cr_assert_not(x_has_prefix(line), "values of a dead engine:\n%s",
		      x_body);
}

Test(exporter, escapes_label_values)
{
	char name[40], line[256];
	unsigned port;

	x_name(name, sizeof(name), "e");
	port = x_start_both(name, "a\"b\\c", NULL, NULL);
	snprintf(line, sizeof(line),
		 "ringside_sensor_value{engine=\"%s\",sensor=\"good\","
		 "unit=\"a\\\"b\\\\c\"} 23.5",
		 name);
	x_scrape_until(port, line);
}

Test(exporter, passes_promtool_check_metrics)
{
	char name[40], line[256], page[256], log[256], out[4096];
	char *argv[] = { X_PROMTOOL, "check", "metrics", NULL };
	unsigned port;
	int fd, status = 0;
	pid_t pid;

	if (access(X_PROMTOOL, X_OK) != 0)
		cr_skip_test("promtool is not installed (Debian package "
			     "prometheus)");
	x_name(name, sizeof(name), "p");
	port = x_start_both(name,
			    "\xc2\xb0"
			    "C \"x\\y\"",
			    NULL, NULL);
	snprintf(line, sizeof(line),
		 "ringside_sensor_up{engine=\"%s\",sensor=\"bad\"} 0", name);
	x_scrape_until(port, line);

	x_path(page, sizeof(page), "page.txt");
	fd = open(page, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, x_body, strlen(x_body)),
		     (ssize_t)strlen(x_body));
	close(fd);
	pid = x_spawn(argv, page, "promtool.log");
	cr_assert_eq(x_wait(pid, 20000, &status), 0, "promtool hangs");
	x_path(log, sizeof(log), "promtool.log");
	x_slurp(log, out, sizeof(out));
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "promtool check metrics failed:\n%s\non:\n%s", out, x_body);
}

Test(exporter, exits_0_on_sigterm_and_sigint)
{
	char name[40];
	pid_t pid;

	x_name(name, sizeof(name), "s");
	pid = x_exporter(name, x_free_port());
	kill(pid, SIGTERM);
	x_expect_exit(pid, 5000, 0);
	pid = x_exporter(name, x_free_port());
	kill(pid, SIGINT);
	x_expect_exit(pid, 5000, 0);
}

Test(exporter, exits_1_when_the_address_is_taken)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char bin[256], addr[32], name[40], log[256], out[1024];
	char *argv[] = { bin, name, "--listen", addr, NULL };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	cr_assert_geq(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u",
		 (unsigned)ntohs(sin.sin_port));
	x_name(name, sizeof(name), "b");
	x_bin(bin, sizeof(bin), "ringside-exporter");
	pid = x_spawn(argv, NULL, "taken.log");
	x_expect_exit(pid, 5000, 1);
	close(fd);
	x_path(log, sizeof(log), "taken.log");
	x_slurp(log, out, sizeof(out));
	cr_assert(strstr(out, "cannot listen on") != NULL, "%s", out);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1,
		     "not one line: %s", out);
}

/* Criterion copies the parameters into the test's process: no pointers. */
struct usage_case {
	unsigned n;
	char args[3][24];
};

ParameterizedTestParameters(exporter, exits_2_on_usage_errors)
{
	static struct usage_case cases[] = {
		{ 0, { "" } },
		{ 2, { "a", "b" } },
		{ 1, { "bad/name" } },
		{ 2, { "a", "--listen" } },
		{ 3, { "a", "--listen", "9750" } },
		{ 3, { "a", "--listen", "127.0.0.1:0" } },
		{ 3, { "a", "--listen", "127.0.0.1:65536" } },
		{ 3, { "a", "--listen", "::1:9750" } },
		{ 3, { "a", "--listen", "[::1]9750" } },
		{ 2, { "a", "--bogus" } },
	};
	return cr_make_param_array(struct usage_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct usage_case *c, exporter, exits_2_on_usage_errors)
{
	char bin[256], log[256], out[1024];
	char *argv[5] = { bin };
	unsigned i;
	pid_t pid;

	x_bin(bin, sizeof(bin), "ringside-exporter");
	for (i = 0; i < c->n; i++)
		argv[i + 1] = c->args[i];
	argv[i + 1] = NULL;
	pid = x_spawn(argv, NULL, "usage.log");
	x_expect_exit(pid, 5000, 2);
	x_path(log, sizeof(log), "usage.log");
	x_slurp(log, out, sizeof(out));
	cr_assert(strncmp(out, "ringside-exporter: ", 19) == 0, "%s", out);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1,
		     "not one line: %s", out);
}
