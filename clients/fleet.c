/* SPDX-License-Identifier: MIT */
/*
 * fleet.c - the pure core of ringside-bridge (see fleet.h): names, the
 * cursor file, the resume decision and the window of publishes.
 *
 * Everything that reaches this file from outside is taken as hostile: a
 * Nats-Msg-Id read back from a stream anyone may publish to, a cursor file
 * a crash or a person may have mangled, a --nats list typed by hand.  The
 * parsers accept exactly the forms they document and nothing else, with
 * numbers checked for overflow, so that junk becomes -EINVAL and never a
 * resume point.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet.h"

#define FLEET_DUP_MIN_NS (120ULL * 1000000000ULL) /* 2 minutes */
#define FLEET_CURSOR_MAX 64 /* bytes: two 20-digit numbers and change */
#define FLEET_DEFAULT_PORT "4222"

/* ---- names -------------------------------------------------------------- */

static int fleet_printable(char c)
{
	return c > 0x20 && c < 0x7f;
}

/* [A-Za-z0-9_-]{1,32}, as ringside_name_valid(), kept here so that the core
 * needs nothing from the segment's library. */
static int fleet_name_valid(const char *name)
{
	size_t n;

	for (n = 0; name[n] != '\0'; n++) {
		char c = name[n];

		if (n >= RINGSIDE_NAME_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

int fleet_host_valid(const char *host)
{
	size_t n;

	for (n = 0; host[n] != '\0'; n++) {
		char c = host[n];

		if (n >= FLEET_HOST_MAX || !fleet_printable(c) || c == '/' ||
		    c == '*' || c == '>')
			return 0;
	}
	return n > 0;
}

int fleet_prefix_valid(const char *prefix)
{
	size_t n, token = 0;

	for (n = 0; prefix[n] != '\0'; n++) {
		char c = prefix[n];

		if (n >= FLEET_PREFIX_MAX || !fleet_printable(c) || c == '*' ||
		    c == '>')
			return 0;
		if (c == '.') {
			if (token == 0)
				return 0; /* an empty token */
			token = 0;
		} else {
			token++;
		}
	}
	return token > 0;
}

int fleet_stream_valid(const char *stream)
{
	size_t n;

	for (n = 0; stream[n] != '\0'; n++) {
		char c = stream[n];

		if (n >= FLEET_STREAM_MAX || !fleet_printable(c) || c == '.' ||
		    c == '*' || c == '>' || c == '/' || c == '\\')
			return 0;
	}
	return n > 0;
}

int fleet_subject(char *buf, size_t len, const char *prefix, const char *host,
		  const char *name)
{
	size_t i, n;
	int ret;

	if (!fleet_prefix_valid(prefix) || !fleet_host_valid(host) ||
	    !fleet_name_valid(name))
		return -EINVAL;
	ret = snprintf(buf, len, "%s.%s.%s", prefix, host, name);
	if (ret < 0 || (size_t)ret >= len)
		return -ENOSPC;
	/* Only the host's own dots: the prefix keeps its tokens. */
	n = strlen(prefix) + 1;
	for (i = n; i < n + strlen(host); i++)
		if (buf[i] == '.')
			buf[i] = '_';
	return ret;
}

/* The length of the token at @s (up to '.' or the end). */
static size_t fleet_token_len(const char *s)
{
	const char *dot = strchr(s, '.');

	return dot != NULL ? (size_t)(dot - s) : strlen(s);
}

int fleet_subject_match(const char *pattern, const char *subject)
{
	for (;;) {
		size_t pl = fleet_token_len(pattern);
		size_t sl = fleet_token_len(subject);

		if (pl == 1 && pattern[0] == '>' && pattern[1] == '\0')
			return sl > 0;
		if (sl == 0)
			return 0;
		if (!(pl == 1 && pattern[0] == '*') &&
		    (pl != sl || memcmp(pattern, subject, pl) != 0))
			return 0;
		pattern += pl;
		subject += sl;
		if (*pattern == '\0' || *subject == '\0')
			return *pattern == '\0' && *subject == '\0';
		pattern++;
		subject++;
	}
}

int fleet_id_format(char *buf, size_t len, const struct fleet_id *id)
{
	int ret;

	if (!fleet_host_valid(id->host) || !fleet_name_valid(id->name) ||
	    id->epoch == 0 || id->seq == 0)
		return -EINVAL;
	if (id->gap) {
		if (id->first == 0 || id->first > id->seq)
			return -EINVAL;
		ret = snprintf(buf, len, "%s/%s/%llu/gap-%llu-%llu", id->host,
			       id->name, (unsigned long long)id->epoch,
			       (unsigned long long)id->first,
			       (unsigned long long)id->seq);
	} else {
		ret = snprintf(buf, len, "%s/%s/%llu/%llu", id->host, id->name,
			       (unsigned long long)id->epoch,
			       (unsigned long long)id->seq);
	}
	if (ret < 0 || (size_t)ret >= len)
		return -ENOSPC;
	return ret;
}

/*
 * A decimal number at *@s, strictly: at least one digit, no sign, no
 * leading zero, no overflow.  Advances *@s past it.  Returns 0 or -EINVAL.
 */
static int fleet_number(const char **s, uint64_t *v)
{
	const char *p = *s;
	uint64_t x = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	if (*p == '0' && p[1] >= '0' && p[1] <= '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (x > (UINT64_MAX - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	*s = p;
	*v = x;
	return 0;
}

/* Copy the field at @s up to @sep into @dst (@max bytes with NUL); advance
 * @s past the separator.  Returns 0 or -EINVAL (empty, too long, no @sep). */
static int fleet_field(const char **s, char sep, char *dst, size_t max)
{
	const char *end = strchr(*s, sep);
	size_t n;

	if (end == NULL)
		return -EINVAL;
	n = (size_t)(end - *s);
	if (n == 0 || n >= max)
		return -EINVAL;
	memcpy(dst, *s, n);
	dst[n] = '\0';
	*s = end + 1;
	return 0;
}

int fleet_id_parse(const char *s, struct fleet_id *id)
{
	const char *p = s;

	memset(id, 0, sizeof(*id));
	if (fleet_field(&p, '/', id->host, sizeof(id->host)) < 0 ||
	    !fleet_host_valid(id->host))
		goto err;
	if (fleet_field(&p, '/', id->name, sizeof(id->name)) < 0 ||
	    !fleet_name_valid(id->name))
		goto err;
	if (fleet_number(&p, &id->epoch) < 0 || *p++ != '/' || id->epoch == 0)
		goto err;
	if (strncmp(p, "gap-", 4) == 0) {
		p += 4;
		id->gap = true;
		if (fleet_number(&p, &id->first) < 0 || *p++ != '-' ||
		    fleet_number(&p, &id->seq) < 0)
			goto err;
		if (id->first == 0 || id->first > id->seq)
			goto err;
	} else {
		if (fleet_number(&p, &id->seq) < 0 || id->seq == 0)
			goto err;
		id->first = id->seq;
	}
	if (*p != '\0')
		goto err;
	return 0;

err:
	memset(id, 0, sizeof(*id));
	return -EINVAL;
}

int fleet_gap_header(char *buf, size_t len, uint64_t first, uint64_t last)
{
	int ret;

	if (first == 0 || first > last)
		return -EINVAL;
	ret = snprintf(buf, len, "%llu-%llu", (unsigned long long)first,
		       (unsigned long long)last);
	if (ret < 0 || (size_t)ret >= len)
		return -ENOSPC;
	return ret;
}

int fleet_gap_data(char *buf, size_t len, const struct fleet_id *gap)
{
	/* The host's printable ASCII needs escaping only for '"' and '\'. */
	char host[2 * FLEET_HOST_MAX + 1];
	size_t i, n = 0;
	int ret;

	if (!gap->gap || !fleet_host_valid(gap->host) ||
	    !fleet_name_valid(gap->name) || gap->epoch == 0 ||
	    gap->first == 0 || gap->first > gap->seq)
		return -EINVAL;
	for (i = 0; gap->host[i] != '\0'; i++) {
		if (gap->host[i] == '"' || gap->host[i] == '\\')
			host[n++] = '\\';
		host[n++] = gap->host[i];
	}
	host[n] = '\0';
	ret = snprintf(buf, len,
		       "{\"engine\":\"%s\",\"host\":\"%s\",\"epoch\":%llu,"
		       "\"gap\":{\"first\":%llu,\"last\":%llu,\"lost\":%llu}}",
		       gap->name, host, (unsigned long long)gap->epoch,
		       (unsigned long long)gap->first,
		       (unsigned long long)gap->seq,
		       (unsigned long long)(gap->seq - gap->first + 1));
	if (ret < 0 || (size_t)ret >= len)
		return -ENOSPC;
	return ret;
}

/* ---- the command line ---------------------------------------------------- */

/* 1 if [@s, @s + @n) is a host: a name or IPv4 address ([A-Za-z0-9.-_]) or
 * a bracketed IPv6 address ([hex digits, ':' and '.']). */
static int fleet_url_host(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']')
			return 0;
		for (i = 1; i < n - 1; i++)
			if (!((s[i] >= '0' && s[i] <= '9') ||
			      (s[i] >= 'a' && s[i] <= 'f') ||
			      (s[i] >= 'A' && s[i] <= 'F') || s[i] == ':' ||
			      s[i] == '.'))
				return 0;
		return 1;
	}
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		      s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

/*
 * Where HOST[:PORT] starts in URL @u: after the scheme and any user.  NULL
 * for an unknown scheme, an empty user or one that is not printable.
 */
static const char *fleet_url_hostport(const char *u)
{
	const char *at, *p, *sep = strstr(u, "://");

	if (sep != NULL) {
		size_t n = (size_t)(sep - u);

		if (!((n == 4 && strncmp(u, "nats", 4) == 0) ||
		      (n == 3 && strncmp(u, "tls", 3) == 0)))
			return NULL;
		u = sep + 3;
	}
	at = strrchr(u, '@');
	if (at == NULL)
		return u;
	if (at == u)
		return NULL;
	for (p = u; p < at; p++)
		if (!fleet_printable(*p) || *p == '/')
			return NULL;
	return at + 1;
}

/* Split HOST[:PORT] @hp into the host's length and the port text ("" when
 * none).  Returns 0, or -EINVAL. */
static int fleet_url_split_port(const char *hp, size_t *hostlen,
				const char **port)
{
	const char *colon;

	if (hp[0] == '[') {
		const char *close = strchr(hp, ']');

		if (close == NULL)
			return -EINVAL;
		if (close[1] != '\0' && close[1] != ':')
			return -EINVAL;
		colon = close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = strchr(hp, ':');
	}
	*hostlen = colon != NULL ? (size_t)(colon - hp) : strlen(hp);
	*port = colon != NULL ? colon + 1 : NULL;
	return 0;
}

static int fleet_url_valid(const char *u)
{
	const char *hp = fleet_url_hostport(u), *port;
	uint64_t v;
	size_t hl;

	if (hp == NULL || fleet_url_split_port(hp, &hl, &port) < 0 ||
	    !fleet_url_host(hp, hl))
		return 0;
	if (port == NULL)
		return 1;
	if (fleet_number(&port, &v) < 0 || *port != '\0' || v == 0 || v > 65535)
		return 0;
	return 1;
}

int fleet_urls_split(char *list, const char **urls, int max)
{
	int n = 0;
	char *p = list;

	for (;;) {
		char *comma = strchr(p, ',');

		if (comma != NULL)
			*comma = '\0';
		if (*p == '\0' || !fleet_url_valid(p))
			return -EINVAL;
		if (n >= max)
			return -E2BIG;
		urls[n++] = p;
		if (comma == NULL)
			return n;
		p = comma + 1;
	}
}

int fleet_duration_parse(const char *text, uint64_t *ns)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {
		{ "", 1000000ULL },	 { "us", 1000ULL },
		{ "ms", 1000000ULL },	 { "s", 1000000000ULL },
		{ "m", 60000000000ULL }, { "h", 3600000000000ULL },
	};
	const char *s = text, *frac = NULL, *suffix;
	uint64_t whole = 0, unit = 0, part = 0, div;
	size_t digits = 0, i;

	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		unsigned d = (unsigned)(*s - '0');

		if (whole > (UINT64_MAX - d) / 10)
			return -ERANGE;
		whole = whole * 10 + d;
	}
	if (*s == '.')
		for (frac = ++s; *s >= '0' && *s <= '9'; s++)
			digits++;
	if (digits == 0)
		return -EINVAL;
	suffix = s;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(suffix, units[i].suffix) == 0)
			unit = units[i].ns;
	if (unit == 0)
		return -EINVAL;
	if (whole > UINT64_MAX / unit)
		return -ERANGE;
	/* Each fractional digit is worth unit / 10^k: below a nanosecond,
	 * digits fall off (rounded down). */
	for (div = unit / 10; frac != NULL && frac < suffix && div > 0;
	     frac++, div /= 10)
		part += (uint64_t)(*frac - '0') * div;
	if (whole * unit > UINT64_MAX - part)
		return -ERANGE;
	*ns = whole * unit + part;
	return 0;
}

/* URL @u's HOST:PORT, the default port filled in, into @buf. */
static void fleet_server_key(const char *u, char *buf, size_t len)
{
	const char *hp = fleet_url_hostport(u), *port = NULL;
	size_t hl;

	if (hp == NULL || fleet_url_split_port(hp, &hl, &port) < 0) {
		hp = u;
		hl = strlen(u);
	}
	snprintf(buf, len, "%.*s:%s", (int)hl, hp,
		 port != NULL ? port : FLEET_DEFAULT_PORT);
}

int fleet_servers_distinct(const char *const *urls, int n)
{
	char a[512], b[512];
	int i, j, count = 0;

	for (i = 0; i < n; i++) {
		fleet_server_key(urls[i], a, sizeof(a));
		for (j = 0; j < i; j++) {
			fleet_server_key(urls[j], b, sizeof(b));
			if (strcmp(a, b) == 0)
				break;
		}
		if (j == i)
			count++;
	}
	return count;
}

uint64_t fleet_dup_window_ns(uint32_t ring, uint64_t period_ns)
{
	uint64_t whole;

	/* 2 * ring * period, saturating: a period of hours with a big ring
	 * must not wrap to a short window. */
	if (period_ns != 0 && 2ULL * ring > (uint64_t)INT64_MAX / period_ns)
		return (uint64_t)INT64_MAX;
	whole = 2ULL * ring * period_ns;
	return whole > FLEET_DUP_MIN_NS ? whole : FLEET_DUP_MIN_NS;
}

/* ---- the cursor file ---------------------------------------------------- */

int fleet_cursor_parse(const char *text, size_t len, struct fleet_cursor *c)
{
	char line[FLEET_CURSOR_MAX];
	const char *p = line;
	struct fleet_cursor v;

	if (len == 0 || len >= sizeof(line) || memchr(text, '\0', len) != NULL)
		return -EINVAL;
	memcpy(line, text, len);
	line[len] = '\0';
	if (line[len - 1] == '\n')
		line[len - 1] = '\0';
	if (fleet_number(&p, &v.epoch) < 0 || *p++ != ' ' ||
	    fleet_number(&p, &v.seq) < 0 || *p != '\0' || v.epoch == 0)
		return -EINVAL;
	*c = v;
	return 0;
}

int fleet_cursor_read(const char *path, struct fleet_cursor *c)
{
	char buf[FLEET_CURSOR_MAX];
	struct stat st;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	/* A FIFO or a device at the path must not block or feed us. */
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	ret = -EINVAL;
	if (!S_ISREG(st.st_mode) || st.st_size >= (off_t)sizeof(buf))
		goto out;
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	ret = fleet_cursor_parse(buf, (size_t)n, c);
out:
	close(fd);
	return ret;
}

/* fsync the directory holding @path, so that the rename itself lasts. */
static int fleet_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, ret = 0;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int fleet_cursor_write(const char *path, const struct fleet_cursor *c)
{
	char tmp[PATH_MAX], line[FLEET_CURSOR_MAX];
	int fd, n, ret;
	ssize_t w;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	n = snprintf(line, sizeof(line), "%llu %llu\n",
		     (unsigned long long)c->epoch, (unsigned long long)c->seq);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0644);
	if (fd < 0)
		return -errno;
	w = write(fd, line, (size_t)n);
	if (w != n) {
		ret = w < 0 ? -errno : -EIO;
		goto err_unlink;
	}
	if (fsync(fd) < 0) {
		ret = -errno;
		goto err_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = -errno;
		goto err_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto err_unlink;
	}
	/* The cursor is a hint: a directory that cannot be synced (some
	 * file systems refuse) still holds the renamed file. */
	fleet_sync_dir(path);
	return 0;

err_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return ret;
}

/* ---- where to resume ----------------------------------------------------- */

/* Whether @p is about epoch @epoch and names a batch already published. */
static int fleet_pos_counts(const struct fleet_pos *p,
			    const struct fleet_resume_in *in, unsigned bit,
			    unsigned *ignored)
{
	if (p == NULL || p->epoch != in->epoch)
		return 0;
	if (p->seq > in->newest) {
		*ignored |= bit;
		return 0;
	}
	return 1;
}

/* Whether @p names an earlier epoch (of the same engine: the caller only
 * passes positions that are ours). */
static int fleet_pos_older(const struct fleet_pos *p, uint64_t epoch)
{
	return p != NULL && p->epoch < epoch;
}

void fleet_resume_decide(const struct fleet_resume_in *in,
			 struct fleet_resume *out)
{
	uint64_t next, stored;

	memset(out, 0, sizeof(*out));
	if (fleet_pos_counts(in->done, in, FLEET_IGNORED_DONE, &out->ignored)) {
		next = in->done->seq + 1;
		out->source = FLEET_SOURCE_DONE;
		if (fleet_pos_counts(in->stream, in, FLEET_IGNORED_STREAM,
				     &out->ignored) &&
		    in->stream->seq + 1 < next) {
			next = in->stream->seq + 1;
			out->source = FLEET_SOURCE_STREAM;
		}
	} else if (fleet_pos_counts(in->stream, in, FLEET_IGNORED_STREAM,
				    &out->ignored)) {
		next = in->stream->seq + 1;
		out->source = FLEET_SOURCE_STREAM;
	} else if (fleet_pos_counts(in->cursor, in, FLEET_IGNORED_CURSOR,
				    &out->ignored)) {
		next = in->cursor->seq + 1;
		out->source = FLEET_SOURCE_CURSOR;
	} else {
		out->source = FLEET_SOURCE_FROM;
		if (fleet_pos_older(in->done, in->epoch) ||
		    fleet_pos_older(in->stream, in->epoch) ||
		    fleet_pos_older(in->cursor, in->epoch) ||
		    in->from == FLEET_FROM_FIRST)
			next = 1;
		else if (in->from == FLEET_FROM_NOW)
			next = in->newest + 1;
		else
			next = in->oldest;
	}
	if (next == 0)
		next = 1;
	/*
	 * The stream's chain is whole up to its last message: a batch the
	 * stream stored whose ack never came back (the cluster went down
	 * just then) is behind our own progress, but no gap marker may name
	 * it as lost.
	 */
	stored = next - 1;
	if (fleet_pos_counts(in->stream, in, FLEET_IGNORED_STREAM,
			     &out->ignored) &&
	    in->stream->seq > stored)
		stored = in->stream->seq;
	if (next < in->oldest) {
		if (stored + 1 < in->oldest) {
			out->gap_first = stored + 1;
			out->gap_last = in->oldest - 1;
		}
		next = in->oldest;
	}
	out->next = next;
}

/* ---- the window of publishes awaiting their acks ---------------------- */

static struct fleet_pending *fleet_window_at(const struct fleet_window *w,
					     uint32_t i)
{
	return &w->slot[(w->head + i) % w->cap];
}

void fleet_window_init(struct fleet_window *w, struct fleet_pending *slots,
		       uint32_t cap)
{
	memset(w, 0, sizeof(*w));
	w->slot = slots;
	w->cap = cap;
}

void fleet_window_clear(struct fleet_window *w)
{
	w->head = 0;
	w->count = 0;
	w->unsettled = 0;
}

int fleet_window_push(struct fleet_window *w, const struct fleet_pending *p,
		      uint64_t now)
{
	struct fleet_pending *e;

	if (w->count >= w->cap)
		return -ENOSPC;
	e = fleet_window_at(w, w->count);
	*e = *p;
	e->sent_ns = now;
	e->state = FLEET_SENT;
	e->sseq = 0;
	e->err = 0;
	e->code = 0;
	w->count++;
	w->unsettled++;
	return 0;
}

/*
 * A tag may be in the window twice: the shell's handle (a message's
 * address) of a publish settled but not taken back yet can be reused by a
 * later publish once the first one's message is freed.  The result goes to
 * the entry of that tag still awaiting one; only when none is does the
 * first result win.
 */
int fleet_window_settle(struct fleet_window *w, uintptr_t tag,
			enum fleet_ack state, uint64_t sseq, int err, int code)
{
	bool seen = false;
	uint32_t i;

	for (i = 0; i < w->count; i++) {
		struct fleet_pending *e = fleet_window_at(w, i);

		if (e->tag != tag)
			continue;
		seen = true;
		if (e->state != FLEET_SENT || state == FLEET_SENT)
			continue; /* the first result wins */
		e->state = state;
		e->sseq = sseq;
		e->err = err;
		e->code = code;
		w->unsettled--;
		return 0;
	}
	return seen ? 0 : -ENOENT;
}

uint32_t fleet_window_expire(struct fleet_window *w, uint64_t now,
			     uint64_t timeout_ns)
{
	uint32_t i, n = 0;

	/* Entries are in send order, so their send times only grow: the
	 * first one young enough ends the search. */
	for (i = 0; i < w->count; i++) {
		struct fleet_pending *e = fleet_window_at(w, i);

		if (now < e->sent_ns || now - e->sent_ns < timeout_ns)
			break;
		if (e->state == FLEET_SENT) {
			e->state = FLEET_TIMEDOUT;
			w->unsettled--;
			n++;
		}
	}
	return n;
}

int fleet_window_pop(struct fleet_window *w, struct fleet_pending *out)
{
	struct fleet_pending *e;

	if (w->count == 0)
		return 0;
	e = fleet_window_at(w, 0);
	if (e->state == FLEET_SENT)
		return 0;
	*out = *e;
	w->head = (w->head + 1) % w->cap;
	w->count--;
	return 1;
}

uint64_t fleet_window_oldest_unsettled(const struct fleet_window *w)
{
	uint32_t i;

	for (i = 0; i < w->count; i++) {
		const struct fleet_pending *e = fleet_window_at(w, i);

		if (e->state == FLEET_SENT)
			return e->sent_ns;
	}
	return UINT64_MAX;
}

const struct fleet_pending *fleet_window_front(const struct fleet_window *w)
{
	return w->count > 0 ? fleet_window_at(w, 0) : NULL;
}

bool fleet_window_may_send(const struct fleet_window *w, uint32_t limit,
			   uint64_t now, uint64_t fence_ns)
{
	uint64_t oldest;

	if (w->count == 0)
		return true;
	if (w->count >= limit || w->count >= w->cap)
		return false;
	oldest = fleet_window_oldest_unsettled(w);
	if (oldest == UINT64_MAX)
		return true;
	return now < oldest || now - oldest < fence_ns;
}
