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
 * a generous deadline.  The children, segments and temporary files are
 * the harness's (tests/harness.h): its .fini takes them down whether the
 * test passed or an assertion ended it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "harness.h"

#define X_START_MS 5000	 /* a started program is serving by then */
#define X_METRIC_MS 8000 /* an expected series shows up by then */
#define X_PAGE_MAX (256 * 1024)
#define X_PROMTOOL "/usr/bin/promtool"

/* The last page fetched: status, and the body after the headers. */
static char x_reply[X_PAGE_MAX];
static int x_status;
static const char *x_body;

TestSuite(exporter, .init = h_init, .fini = h_fini, .timeout = 60);

/* Start @argv with stdout and stderr into the file @log. */
static pid_t x_spawn(char *const argv[], const char *log)
{
	return h_spawn_io(
		argv, &(struct h_stdio){ .out_file = log, .err_file = log });
}

/*
 * The engine @name on two file sensors of the temporary directory:
 * "good" reads the file good (unit @unit) and "bad" a file that does not
 * exist, with one attempt per call.  The file good holds 23.5.
 */
static void x_config(char *path, size_t len, const char *name, const char *unit)
{
	char good[256], bad[256];

	h_path(good, sizeof(good), "good");
	h_path(bad, sizeof(bad), "missing");
	h_put_text(good, "23.5\n");
	h_config(path, len, name, "50ms",
		 "[defaults]\ntimeout = 20ms\nretry_attempts = 1\n\n"
		 "[sensor good]\nsource = file:%s\nunit = %s\n\n"
		 "[sensor bad]\nsource = file:%s\nunit = V\n",
		 good, unit, bad);
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
	uint64_t end = h_now_ms() + 5000;
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
		uint64_t now = h_now_ms();
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
	uint64_t end = h_now_ms() + X_METRIC_MS;

	for (;;) {
		x_scrape(port);
		if (x_has_line(line))
			return;
		cr_assert_lt(h_now_ms(), end, "no line '%s' in:\n%s", line,
			     x_body);
		h_sleep_ms(50);
	}
}

/* Start the exporter on segment @name and wait until it answers. */
static pid_t x_exporter(const char *name, unsigned port)
{
	char bin[256], listen[32], log[32];
	char *argv[] = { bin, (char *)name, "--listen", listen, NULL };
	uint64_t end = h_now_ms() + X_START_MS;
	int fd, status = 0;
	pid_t pid;

	h_bin(bin, sizeof(bin), "ringside-exporter");
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	snprintf(log, sizeof(log), "exporter-%u.log", port);
	pid = x_spawn(argv, log);
	for (;;) {
		fd = x_connect(port);
		if (fd >= 0)
			break;
		cr_assert_neq(h_wait(pid, 0, &status), 0,
			      "the exporter exited early (status %#x)", status);
		cr_assert_lt(h_now_ms(), end, "the exporter never listened");
		h_sleep_ms(10);
	}
	close(fd);
	return pid;
}

/* An engine on x_config(@unit) and an exporter on it: its port. */
static unsigned x_start_both(const char *name, const char *unit, pid_t *engine,
			     pid_t *exporter)
{
	char cfg[256], line[128];
	unsigned port = h_closed_port(SOCK_STREAM);
	pid_t e, p;

	x_config(cfg, sizeof(cfg), name, unit);
	e = h_engine(cfg, "50");
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

	h_name(name, sizeof(name), "v");
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

	h_name(name, sizeof(name), "d");
	port = x_start_both(name, "C", NULL, NULL);
	snprintf(line, sizeof(line),
		 "ringside_sensor_up{engine=\"%s\",sensor=\"good\"} 1", name);
	x_scrape_until(port, line);

	h_path(good, sizeof(good), "good");
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
	unsigned port = h_closed_port(SOCK_STREAM);

	h_name(name, sizeof(name), "h");
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
	unsigned port = h_closed_port(SOCK_STREAM);

	h_name(name, sizeof(name), "none");
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
	unsigned port = h_closed_port(SOCK_STREAM);

	h_name(name, sizeof(name), "late");
	x_exporter(name, port);
	x_scrape(port);
	snprintf(line, sizeof(line), "ringside_engine_up{engine=\"%s\"} 0",
		 name);
	cr_assert(x_has_line(line), "no '%s' in:\n%s", line, x_body);

	x_config(cfg, sizeof(cfg), name, "C");
	h_engine(cfg, "50");
	snprintf(line, sizeof(line),
		 "ringside_sensor_value{engine=\"%s\",sensor=\"good\","
		 "unit=\"C\"} 23.5",
		 name);
	x_scrape_until(port, line);
}

Test(exporter, follows_an_engine_that_stops_and_restarts)
{
	char name[40], file[64], cfg[256], line[256], epoch1[40], epoch2[40];
	unsigned port;
	pid_t engine;

	h_name(name, sizeof(name), "r");
	port = x_start_both(name, "C", &engine, NULL);
	x_epoch(name, epoch1, sizeof(epoch1));

	kill(engine, SIGTERM);
	h_expect_exit(engine, 5000, 0);
	snprintf(line, sizeof(line), "ringside_engine_up{engine=\"%s\"} 0",
		 name);
	x_scrape_until(port, line);
	snprintf(line, sizeof(line), "ringside_sensor_value{engine=\"%s\"",
		 name);
	cr_assert_not(x_has_prefix(line), "values of a stopped engine:\n%s",
		      x_body);

	snprintf(file, sizeof(file), "%s.ini", name);
	h_path(cfg, sizeof(cfg), file);
	h_engine(cfg, "50");
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

	h_name(name, sizeof(name), "k");
	port = x_start_both(name, "C", &engine, NULL);
	kill(engine, SIGKILL);
	h_wait(engine, 5000, NULL);
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

	h_name(name, sizeof(name), "e");
	port = x_start_both(name, "a\"b\\c", NULL, NULL);
	snprintf(line, sizeof(line),
		 "ringside_sensor_value{engine=\"%s\",sensor=\"good\","
		 "unit=\"a\\\"b\\\\c\"} 23.5",
		 name);
	x_scrape_until(port, line);
}

Test(exporter, passes_promtool_check_metrics)
{
	char name[40], line[256], page[256], out[4096];
	char *argv[] = { X_PROMTOOL, "check", "metrics", NULL };
	unsigned port;
	int status = 0;
	pid_t pid;

	if (access(X_PROMTOOL, X_OK) != 0)
		h_skip("promtool is not installed (Debian package "
		       "prometheus)");
	h_name(name, sizeof(name), "p");
	port = x_start_both(name,
			    "\xc2\xb0"
			    "C \"x\\y\"",
			    NULL, NULL);
	snprintf(line, sizeof(line),
		 "ringside_sensor_up{engine=\"%s\",sensor=\"bad\"} 0", name);
	x_scrape_until(port, line);

	h_path(page, sizeof(page), "page.txt");
	h_put_text(page, x_body);
	pid = h_spawn_io(argv, &(struct h_stdio){ .in = "page.txt",
						  .out_file = "promtool.log",
						  .err_file = "promtool.log" });
	cr_assert_eq(h_wait(pid, 20000, &status), 0, "promtool hangs");
	h_slurp("promtool.log", out, sizeof(out));
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "promtool check metrics failed:\n%s\non:\n%s", out, x_body);
}

Test(exporter, exits_0_on_sigterm_and_sigint)
{
	char name[40];
	pid_t pid;

	h_name(name, sizeof(name), "s");
	pid = x_exporter(name, h_closed_port(SOCK_STREAM));
	kill(pid, SIGTERM);
	h_expect_exit(pid, 5000, 0);
	pid = x_exporter(name, h_closed_port(SOCK_STREAM));
	kill(pid, SIGINT);
	h_expect_exit(pid, 5000, 0);
}

Test(exporter, exits_1_when_the_address_is_taken)
{
	char bin[256], addr[32], name[40], out[1024];
	char *argv[] = { bin, name, "--listen", addr, NULL };
	unsigned port;
	int fd = h_listen(0, 1, &port);
	pid_t pid;

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	h_name(name, sizeof(name), "b");
	h_bin(bin, sizeof(bin), "ringside-exporter");
	pid = x_spawn(argv, "taken.log");
	h_expect_exit(pid, 5000, 1);
	h_close(fd);
	h_slurp("taken.log", out, sizeof(out));
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
	char bin[256], out[1024];
	char *argv[5] = { bin };
	unsigned i;
	pid_t pid;

	h_bin(bin, sizeof(bin), "ringside-exporter");
	for (i = 0; i < c->n; i++)
		argv[i + 1] = c->args[i];
	argv[i + 1] = NULL;
	pid = x_spawn(argv, "usage.log");
	h_expect_exit(pid, 5000, 2);
	h_slurp("usage.log", out, sizeof(out));
	cr_assert(strncmp(out, "ringside-exporter: ", 19) == 0, "%s", out);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1,
		     "not one line: %s", out);
}
