/* SPDX-License-Identifier: MIT */
/*
 * common.c - the shared parts of the C benchmark peers; see common.h.
 *
 * Nothing here runs per reading except the source helpers, and those make
 * exactly the syscalls a reading needs (one pread, one read, one send), so
 * the peers' CPU figures measure their designs, not this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

volatile sig_atomic_t peer_stop_requested;

/* ---- process ------------------------------------------------------------- */

static void usage(FILE *out, const char *system, const char *what)
{
	fprintf(out,
		"usage: peer-%s -c FILE [--duration SECONDS]\n"
		"\n"
		"A benchmark peer of ringsided: %s.\n"
		"Reads the ringsided configuration FILE (file:, stream:, tcp:\n"
		"and unix: sources), runs a tick every period for SECONDS\n"
		"(until SIGTERM or SIGINT without --duration), and prints one\n"
		"JSON line: system, sensors, batches, readings, degraded,\n"
		"missed_ticks, steady_cpu_us, steady_readings, lateness_us\n"
		"{p50, p99, max}.\n"
		"Exit status: 0, or 2 on a usage or configuration error.\n",
		system, what);
}

int peer_args_parse(int argc, char **argv, const char *system, const char *what,
		    struct peer_args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	double d;
	int c;

	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, "c:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->config = optarg;
			break;
		case 'd':
			errno = 0;
			d = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !isfinite(d) || d <= 0 || d > 1e6) {
				fprintf(stderr,
					"peer-%s: --duration: not a number of "
					"seconds above 0: '%s'\n",
					system, optarg);
				return -EINVAL;
			}
			a->duration_ns = (uint64_t)(d * 1e9);
			break;
		case 'h':
			usage(stdout, system, what);
			return 1;
		default:
			usage(stderr, system, what);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "peer-%s: unexpected argument '%s'\n", system,
			argv[optind]);
		return -EINVAL;
	}
	if (a->config == NULL) {
		fprintf(stderr, "peer-%s: -c FILE is required\n", system);
		return -EINVAL;
	}
	return 0;
}

int peer_config_load(struct engine_config *cfg, const char *path,
		     const char *system)
{
	size_t i;
	int ret;

	engine_config_init(cfg);
	ret = engine_config_load(cfg, path);
	if (ret < 0) {
		for (i = 0; i < engine_config_error_count(cfg); i++)
			fprintf(stderr, "%s\n", engine_config_error(cfg, i));
		if (engine_config_error_count(cfg) == 0)
			fprintf(stderr, "%s: %s\n", path, strerror(-ret));
		return ret;
	}
	for (i = 0; i < cfg->nr_sensors; i++) {
		const struct engine_config_sensor *s = &cfg->sensors[i];

		if (s->source.kind == ENGINE_CONFIG_SOURCE_UDP) {
			fprintf(stderr,
				"%s:%u: sensor %s: udp: sources are not "
				"supported by peer-%s\n",
				path, s->decl_line, s->name, system);
			ret = -EINVAL;
		}
	}
	return ret;
}

static void on_stop(int sig)
{
	(void)sig;
	peer_stop_requested = 1;
}

void peer_process_init(void)
{
	struct sigaction sa;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

uint64_t peer_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PEER_NS + (uint64_t)ts.tv_nsec;
}

void peer_sleep_until(uint64_t at_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(at_ns / PEER_NS),
		.tv_nsec = (long)(at_ns % PEER_NS),
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
		       EINTR &&
	       !peer_stop_requested)
		;
}

uint64_t peer_seed(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)getpid() ^
	       ((uint64_t)ts.tv_sec * PEER_NS + (uint64_t)ts.tv_nsec);
}

/* ---- ticks --------------------------------------------------------------- */

void peer_ticks_init(struct peer_ticks *t, const struct engine_config *cfg,
		     uint64_t duration_ns, uint64_t now)
{
	t->base_ns = now;
	t->period_ns = cfg->period_ns;
	t->deadline_ns = cfg->deadline_ns;
	t->stop_ns = duration_ns > 0 ? now + duration_ns : UINT64_MAX;
}

uint64_t peer_tick_ns(const struct peer_ticks *t, uint64_t n)
{
	return t->base_ns + n * t->period_ns;
}

uint64_t peer_tick_due(const struct peer_ticks *t, uint64_t scheduled,
		       uint64_t now, uint64_t *missed)
{
	uint64_t n = now > t->base_ns ? (now - t->base_ns) / t->period_ns : 0;

	if (n < scheduled)
		n = scheduled;
	/* Too late for its batch: skipped, never published late. */
	if (now > peer_tick_ns(t, n) + t->deadline_ns)
		n++;
	*missed += n - scheduled;
	return n;
}

uint64_t peer_tick_from(const struct peer_ticks *t, uint64_t first,
			uint64_t now)
{
	uint64_t n = 0;

	if (now > t->base_ns)
		n = (now - t->base_ns + t->period_ns - 1) / t->period_ns;
	return n < first ? first : n;
}

bool peer_tick_stops(const struct peer_ticks *t, uint64_t n)
{
	return peer_stop_requested || peer_tick_ns(t, n) >= t->stop_ns;
}

/* ---- report -------------------------------------------------------------- */

int peer_report_init(struct peer_report *r, uint64_t duration_ns,
		     uint64_t period_ns)
{
	uint64_t ticks = duration_ns / period_ns;

	memset(r, 0, sizeof(*r));
	r->cap = ticks + 2 < 64 ? 64 : ticks + 2;
	r->warmup = ticks / 5 > 2 ? ticks / 5 : 2;
	r->lateness_us = malloc(r->cap * sizeof(*r->lateness_us));
	return r->lateness_us == NULL ? -ENOMEM : 0;
}

void peer_report_exit(struct peer_report *r)
{
	free(r->lateness_us);
	r->lateness_us = NULL;
}

/* The process's user + system time so far, every thread, microseconds. */
static uint64_t cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

void peer_report_batch(struct peer_report *r, uint32_t ok, uint32_t total,
		       uint64_t lateness_ns)
{
	uint64_t us = lateness_ns / 1000;

	if (r->batches == r->cap) {
		uint32_t *p = realloc(r->lateness_us,
				      2 * r->cap * sizeof(*r->lateness_us));

		if (p != NULL) {
			r->lateness_us = p;
			r->cap *= 2;
		}
	}
	if (r->batches < r->cap)
		r->lateness_us[r->batches] =
			us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	r->batches++;
	r->readings += ok;
	if (ok < total)
		r->degraded++;
	/*
	 * Read after every batch past the warm-up, not once at the end: what
	 * a peer does after its last batch (threads already at the next
	 * tick's calls) has no readings to share it with.
	 */
	if (r->batches == r->warmup) {
		r->warm_cpu_us = cpu_us();
		r->warm_readings = r->readings;
	} else if (r->batches > r->warmup) {
		r->last_cpu_us = cpu_us();
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p of the values <= it. */
static uint32_t rank(const uint32_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)ceil(p * (double)n);
	return v[k == 0 ? 0 : k - 1];
}

void peer_report_print(struct peer_report *r, const char *system,
		       size_t sensors)
{
	size_t n = r->batches < r->cap ? r->batches : r->cap;

	qsort(r->lateness_us, n, sizeof(*r->lateness_us), cmp_u32);
	printf("{\"system\":\"%s\",\"sensors\":%zu,\"batches\":%llu,"
	       "\"readings\":%llu,\"degraded\":%llu,\"missed_ticks\":%llu,",
	       system, sensors, (unsigned long long)r->batches,
	       (unsigned long long)r->readings, (unsigned long long)r->degraded,
	       (unsigned long long)r->missed_ticks);
	/* No steady state without a batch after the warm-up: the keys are
	 * left out rather than made 0. */
	if (r->batches > r->warmup)
		printf("\"steady_cpu_us\":%llu,\"steady_readings\":%llu,",
		       (unsigned long long)(r->last_cpu_us - r->warm_cpu_us),
		       (unsigned long long)(r->readings - r->warm_readings));
	printf("\"lateness_us\":{\"p50\":%u,\"p99\":%u,\"max\":%u}}\n",
	       rank(r->lateness_us, n, 0.50), rank(r->lateness_us, n, 0.99),
	       n > 0 ? r->lateness_us[n - 1] : 0);
	fflush(stdout);
}

/* ---- sources ------------------------------------------------------------- */

bool peer_is_push(const struct engine_config_sensor *c)
{
	switch (c->source.kind) {
	case ENGINE_CONFIG_SOURCE_STREAM:
		return true;
	case ENGINE_CONFIG_SOURCE_TCP:
	case ENGINE_CONFIG_SOURCE_UNIX:
		return c->request_len == 0;
	default:
		return false;
	}
}

void peer_addr_resolve(const struct engine_config_sensor *c,
		       struct peer_addr *a)
{
	const struct engine_config_source *src = &c->source;
	struct addrinfo hints, *ai;
	char port[8];

	memset(a, 0, sizeof(*a));
	if (src->kind == ENGINE_CONFIG_SOURCE_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;

		if (strlen(src->path) >= sizeof(un->sun_path)) {
			a->error = ENAMETOOLONG;
			return;
		}
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, src->path);
		a->len = sizeof(*un);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", src->port);
	if (getaddrinfo(src->host, port, &hints, &ai) != 0) {
		a->error = EHOSTUNREACH;
		return;
	}
	memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
	a->len = ai->ai_addrlen;
	freeaddrinfo(ai);
}

int peer_file_read(const struct engine_config_sensor *c, int *fd, char *buf,
		   double *value)
{
	ssize_t n;

	if (*fd < 0) {
		*fd = open(c->source.path,
			   O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOATIME);
		if (*fd < 0 && errno == EPERM)
			*fd = open(c->source.path,
				   O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (*fd < 0)
			return -errno;
	}
	n = pread(*fd, buf, PEER_FILE_BUF, 0);
	if (n < 0) {
		int err = -errno;

		close(*fd);
		*fd = -1;
		return err;
	}
	if (n > ENGINE_VALUE_RECORD_MAX)
		return -EMSGSIZE;
	return engine_value_parse_lines(&c->value, buf, (size_t)n, value);
}

int peer_stream_open(const char *path)
{
	struct stat st;
	int fd, flags = O_RDONLY;

	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISFIFO(st.st_mode))
		flags = O_RDWR;
	fd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void set_timeouts(int fd, uint64_t ns)
{
	struct timeval tv = {
		.tv_sec = (time_t)(ns / PEER_NS),
		.tv_usec = (suseconds_t)(ns % PEER_NS / 1000),
	};

	if (tv.tv_sec == 0 && tv.tv_usec == 0)
		tv.tv_usec = 1; /* 0 would mean no timeout at all */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int peer_socket_connect(const struct peer_addr *a, uint64_t timeout_ns,
			bool *pending)
{
	bool nonblock = timeout_ns == 0;
	int fd, err;

	*pending = false;
	if (a->error != 0)
		return -a->error;
	fd = socket(a->ss.ss_family,
		    SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0),
		    0);
	if (fd < 0)
		return -errno;
	if (!nonblock)
		set_timeouts(fd, timeout_ns);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		return fd;
	err = errno;
	if (err == EINPROGRESS && nonblock) {
		*pending = true;
		return fd;
	}
	close(fd);
	/* A blocking connect that timed out (SO_SNDTIMEO) says EINPROGRESS. */
	return err == EINPROGRESS ? -ETIMEDOUT : -err;
}

int peer_socket_error(int fd)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

/* One read straight into the framer's free space. */
static ssize_t frame_read(int fd, struct engine_frame *fr)
{
	size_t avail;
	char *p = engine_frame_space(fr, &avail);
	ssize_t n;

	if (avail == 0) {
		/* Cannot happen: the framer drops over-long lines. */
		engine_frame_reset(fr);
		p = engine_frame_space(fr, &avail);
	}
	n = read(fd, p, avail);
	if (n > 0)
		engine_frame_commit(fr, (size_t)n);
	return n < 0 ? -errno : n;
}

int peer_push_read(int fd, bool socket, struct engine_frame *fr,
		   const struct engine_value_spec *spec,
		   struct peer_record *rec, uint64_t now)
{
	ssize_t n = frame_read(fd, fr);
	const char *line;
	int len;

	if (n == 0)
		return socket ? -ECONNRESET : -EPIPE;
	if (n < 0)
		return n == -EWOULDBLOCK ? -EAGAIN : (int)n;
	while ((len = engine_frame_next(fr, &line)) != -EAGAIN) {
		double v = 0;
		int err = len < 0 ? -len
				  : -engine_value_parse(spec, line, (size_t)len,
							&v);

		rec->seq++;
		rec->at_ns = now;
		rec->value = v;
		rec->error = err;
	}
	return (int)n;
}

bool peer_record_take(struct peer_record *rec, uint64_t now,
		      uint64_t max_age_ns, int *err, double *value)
{
	if (rec->seq == 0 || rec->seq == rec->used ||
	    now - rec->at_ns > max_age_ns)
		return false;
	rec->used = rec->seq;
	*err = rec->error;
	*value = rec->value;
	return true;
}

int peer_reply_read(int fd, struct engine_frame *fr,
		    const struct engine_value_spec *spec, int *err,
		    double *value)
{
	ssize_t n = frame_read(fd, fr);
	const char *line;
	int len;

	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return n == -EWOULDBLOCK ? -EAGAIN : (int)n;
	len = engine_frame_next(fr, &line);
	if (len == -EAGAIN)
		return 0;
	*value = 0;
	*err = len < 0 ? -len
		       : -engine_value_parse(spec, line, (size_t)len, value);
	return 1;
}

int peer_request_send(int fd, const struct engine_config_sensor *c)
{
	ssize_t n = send(fd, c->request, c->request_len, MSG_NOSIGNAL);

	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return (size_t)n == c->request_len ? 0 : -EAGAIN;
}

struct engine_breaker *peer_breaker_new(const struct engine_config_sensor *c)
{
	struct engine_breaker_config bc = {
		.failures = c->breaker_failures,
		.probes = c->breaker_probes,
		.window_ns = c->breaker_window_ns,
		.reset_ns = c->breaker_reset_ns,
	};
	struct engine_breaker *b =
		aligned_alloc(64, engine_breaker_size(bc.failures));

	if (b != NULL)
		engine_breaker_init(b, &bc, peer_now_ns());
	return b;
}
