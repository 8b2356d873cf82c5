/* SPDX-License-Identifier: MIT */
/*
 * common.c - helpers shared by the ringside-* clients (see common.h).
 *
 * The sensor table is the one allocation a client makes per segment: the
 * pointer arrays first, then the fixed-size name and unit strings they
 * point at, so that one free() undoes it and nothing is allocated per
 * batch.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common.h"

#define NAME_LEN (RINGSIDE_NAME_MAX + 1)
#define UNIT_LEN (RINGSIDE_UNIT_MAX + 1)

int client_sensors_load(struct client_sensors *s,
			const struct ringside_reader *r)
{
	size_t per = 2 * sizeof(char *) + NAME_LEN + UNIT_LEN;
	char *text;
	uint32_t i, n = r->nsensors;

	memset(s, 0, sizeof(*s));
	/* One byte more than needed, so a segment of no sensors still
	 * gets a pointer that is not NULL. */
	s->mem = malloc((size_t)n * per + 1);
	if (s->mem == NULL)
		return -ENOMEM;
	s->names = s->mem;
	s->units = s->names + n;
	text = (char *)(s->units + n);
	for (i = 0; i < n; i++) {
		char *name = text + (size_t)i * (NAME_LEN + UNIT_LEN);
		char *unit = name + NAME_LEN;

		if (ringside_reader_sensor(r, i, name, unit) < 0)
			name[0] = unit[0] = '\0';
		s->names[i] = name;
		s->units[i] = unit;
	}
	s->n = n;
	return 0;
}

void client_sensors_exit(struct client_sensors *s)
{
	free(s->mem);
	memset(s, 0, sizeof(*s));
}

int client_sensors_same(const struct client_sensors *a,
			const struct client_sensors *b)
{
	uint32_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->names[i], b->names[i]) != 0)
			return 0;
	return 1;
}

int client_segment_wait(struct ringside_reader *r, const char *name,
			unsigned flags, client_idle_fn idle, void *arg)
{
	int attached = r->base != NULL;
	int ret;

	for (;;) {
		/* A failed attach leaves @r empty, ready for the next try; a
		 * failed reattach leaves the old segment attached. */
		if (attached)
			ret = ringside_reader_reattach(r, flags);
		else
			ret = ringside_reader_attach(r, name, flags);
		if (ret == 0)
			return 0;
		if (ret != -ENOENT && ret != -EAGAIN)
			return ret;
		if (idle != NULL) {
			ret = idle(arg);
			if (ret != 0)
				return ret;
		}
		client_sleep_ms(CLIENT_POLL_MS);
	}
}

int client_format_time(char *buf, size_t len, uint64_t us, unsigned digits)
{
	time_t sec = (time_t)(us / 1000000);
	unsigned frac = (unsigned)(us % 1000000);
	struct tm tm;
	size_t n;

	if (gmtime_r(&sec, &tm) == NULL)
		return -EINVAL;
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return -ENOSPC;
	/* ".ffffffZ" and a NUL at most. */
	if (len - n < 9)
		return -ENOSPC;
	if (digits >= 6)
		n += (size_t)snprintf(buf + n, len - n, ".%06uZ", frac);
	else if (digits >= 3)
		n += (size_t)snprintf(buf + n, len - n, ".%03uZ", frac / 1000);
	else
		n += (size_t)snprintf(buf + n, len - n, "Z");
	return (int)n;
}

int client_parse_u64(const char *s, uint64_t *v)
{
	unsigned long long x;
	char *end;

	/* strtoull would take a sign and leading blanks; we do not. */
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*v = x;
	return 0;
}

int client_output_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };
	struct stat st;

	/* Only a pipe or a socket can lose its reader; a terminal or a
	 * file reports nothing of the kind, so do not ask. */
	if (fstat(fd, &st) < 0 ||
	    !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return 0;
	if (poll(&p, 1, 0) <= 0)
		return 0;
	return (p.revents & (POLLERR | POLLHUP)) != 0;
}

int client_format_value(char *buf, size_t len, double v)
{
	int prec, n = 0;

	/* The shortest of %.15g..%.17g that reads back as the same double:
	 * 0.1 stays "0.1", and no value loses a bit. */
	for (prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, len, "%.*g", prec, v);
		if (n < 0 || (size_t)n >= len)
			return -ENOSPC;
		if (strtod(buf, NULL) == v)
			break;
	}
	return n;
}

void client_sleep_ms(unsigned ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000,
	};

	nanosleep(&ts, NULL);
}

void client_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	exit(2);
}

void client_bad_option(const char *prog, int opt, char **argv)
{
	if (opt == ':')
		client_usage_error(prog, "%s needs an argument",
				   argv[optind - 1]);
	if (optopt != 0)
		client_usage_error(prog, "unknown option '-%c'", optopt);
	client_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
}

const char *client_name_operand(const char *prog, int argc, char **argv)
{
	if (optind >= argc)
		client_usage_error(prog, "a segment NAME is needed");
	if (optind + 1 < argc)
		client_usage_error(prog, "one segment NAME only, got '%s' too",
				   argv[optind + 1]);
	if (!ringside_name_valid(argv[optind]))
		client_usage_error(prog,
				   "invalid segment name '%s' "
				   "([A-Za-z0-9_-], 1 to 32 characters)",
				   argv[optind]);
	return argv[optind];
}

uint64_t client_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
