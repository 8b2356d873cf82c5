/* SPDX-License-Identifier: MIT */
/*
 * json.c - a batch as the JSON line of the users' contract, shared by the
 * engine (--once), ringside-tail and any other C reader, so that every
 * program prints exactly the same line for the same batch.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringside.h"

struct out {
	char *buf;
	size_t len, pos;
	int err;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o,
						      const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->pos) {
		o->err = -ENOSPC;
		return;
	}
	o->pos += (size_t)n;
}

/* A JSON string; names are [A-Za-z0-9_.-] but units are free text. */
static void put_string(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c < 0x20)
			put(o, "\\u%04x", c);
		else
			put(o, "%c", c);
	}
	put(o, "\"");
}

static void put_time(struct out *o, uint64_t us)
{
	time_t sec = (time_t)(us / 1000000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	put(o, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06uZ\"", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    (unsigned)(us % 1000000));
}

/* The shortest of %.15g..%.17g that reads back as the same double. */
static void put_double(struct out *o, double v)
{
	char tmp[40];
	int prec;

	if (!isfinite(v))
		v = 0; /* values are finite by contract; JSON has no NaN */
	for (prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	put(o, "%s", tmp);
}

const char *ringside_errno_name(int err)
{
	const char *name;

	if (err < 0)
		err = -err;
	if (err == 0)
		return "OK";
	name = strerrorname_np(err);
	return name != NULL ? name : "EIO";
}

int ringside_json_batch(char *buf, size_t len, const char *engine,
			uint64_t epoch_us, const char *const *names,
			const char *const *units,
			const struct ringside_batch *b,
			const struct ringside_reading *v)
{
	struct out o = { .buf = buf, .len = len };
	uint32_t i, n = b->nreadings;
	int first;

	if (len == 0)
		return -ENOSPC;
	buf[0] = '\0';
	put(&o, "{\"engine\":");
	put_string(&o, engine);
	put(&o, ",\"epoch\":%llu,\"seq\":%llu,\"tick\":",
	    (unsigned long long)epoch_us, (unsigned long long)b->seq);
	put_time(&o, b->tick_us);
	put(&o, ",\"published\":");
	put_time(&o, b->published_us);
	put(&o, ",\"degraded\":%s,\"available\":%u,\"total\":%u,\"lost\":%llu",
	    (b->flags & RINGSIDE_BATCH_DEGRADED) ? "true" : "false",
	    b->available, b->total, (unsigned long long)b->lost);
	put(&o, ",\"readings\":[");
	for (i = 0, first = 1; i < n; i++) {
		if (v[i].status != RINGSIDE_OK)
			continue;
		put(&o, "%s{\"sensor\":", first ? "" : ",");
		first = 0;
		put_string(&o, names[i]);
		put(&o, ",\"value\":");
		put_double(&o, v[i].value);
		put(&o, ",\"unit\":");
		put_string(&o,
			   units != NULL && units[i] != NULL ? units[i] : "");
		put(&o, ",\"attempts\":%u,\"latency_us\":%u", v[i].attempts,
		    v[i].latency_us);
		if (v[i].flags & RINGSIDE_READING_LATE)
			put(&o, ",\"late\":true");
		put(&o, "}");
	}
	put(&o, "],\"missing\":[");
	for (i = 0, first = 1; i < n; i++) {
		if (v[i].status == RINGSIDE_OK)
			continue;
		put(&o, "%s{\"sensor\":", first ? "" : ",");
		first = 0;
		put_string(&o, names[i]);
		put(&o, ",\"status\":\"%s\"",
		    ringside_status_name(v[i].status));
		if (v[i].status == RINGSIDE_FAILED)
			put(&o, ",\"error\":\"%s\",\"attempts\":%u",
			    ringside_errno_name(v[i].error), v[i].attempts);
		if (v[i].flags & RINGSIDE_READING_LATE)
			put(&o, ",\"late\":true");
		put(&o, "}");
	}
	put(&o, "]}");
	return o.err ? o.err : (int)o.pos;
}
