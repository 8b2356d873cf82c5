/* SPDX-License-Identifier: MIT */
/*
 * log.c - one line per event on stderr: a UTC time stamp, the level and
 * the message.  A line is formatted whole and written with one write(2),
 * so lines from the engine and from its file workers never interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum engine_log_level log_level = ENGINE_LOG_INFO;

int engine_log_set_level(const char *name)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	unsigned i;

	for (i = 0; i < 4; i++) {
		if (strcmp(name, names[i]) == 0) {
			log_level = (enum engine_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int engine_log_enabled(enum engine_log_level level)
{
	return level >= log_level;
}

void engine_log(enum engine_log_level level, const char *fmt, ...)
{
	static const char *const tags[] = { "debug", "info", "warn", "error" };
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level < log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, tags[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
