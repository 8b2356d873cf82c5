/* SPDX-License-Identifier: MIT */
/*
 * config.c - the INI configuration of ringsided, read with libinih.
 *
 * libinih splits "key = value" lines and strips comments, but it reports only
 * the first bad line, passes no line number to the handler (Debian builds it
 * without INI_HANDLER_LINENO), cuts lines longer than its buffer, and treats
 * an indented line as the continuation of the previous value. So the text
 * reaches libinih through our own reader, cfg_reader(), which sees every line
 * first:
 *
 *  - it counts lines, so the handler, which libinih calls before it asks for
 *    the next line, knows the current line number;
 *  - it strips leading blanks, so an indented key is a key, never a
 *    continuation;
 *  - it reports lines that libinih would cut or choke on (too long, a NUL
 *    byte, a malformed section header, a line without '=') and hands libinih
 *    an empty line in their place;
 *  - it tracks section headers itself, including sections without keys,
 *    which libinih does not announce.
 *
 * The handler then files each key into the object of the current section,
 * through a table of keys (type, place in the struct, range). A section that
 * cannot be used (a duplicate, a bad sensor name) still has its keys parsed
 * into a scratch object, so their errors are reported too.
 *
 * Checks that involve several keys (a sensor without source, min > max,
 * deadline > period, a key for another kind of source) run once the whole
 * file is read, after [defaults] are merged. Every problem is collected with
 * its line and the list is sorted by line at the end. The struct
 * engine_config is filled only when there is none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"

#define NS_PER_US 1000ULL
#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL
#define NS_PER_MIN (60 * NS_PER_S)
#define NS_PER_HOUR (3600 * NS_PER_S)

/* A configuration file larger than this is a mistake, not a config. */
#define CFG_FILE_MAX (4u << 20)

/* Room for a quoted piece of user text in a message. */
#define CFG_QUOTE_MAX 72

enum cfg_engine_key {
	EK_NAME,
	EK_PERIOD,
	EK_DEADLINE,
	EK_RING,
	EK_SHM_MODE,
	EK_COUNT,
};

enum cfg_sensor_key {
	SK_SOURCE,
	SK_REQUEST,
	SK_LINE,
	SK_FIELD,
	SK_OFFSET,
	SK_SCALE,
	SK_MIN,
	SK_MAX,
	SK_UNIT,
	SK_SERIAL,
	SK_MAX_AGE,
	SK_TIMEOUT,
	SK_RETRY_ATTEMPTS,
	SK_RETRY_BASE,
	SK_RETRY_MAX,
	SK_RETRY_JITTER,
	SK_BREAKER_FAILURES,
	SK_BREAKER_WINDOW,
	SK_BREAKER_RESET,
	SK_BREAKER_PROBES,
	SK_COUNT,
};

#define KIND_BIT(k) (1u << (k))

enum cfg_section {
	SEC_NONE,     /* before the first header */
	SEC_ENGINE,   /* [engine] */
	SEC_DEFAULTS, /* [defaults] */
	SEC_SENSOR,   /* [sensor NAME] */
	SEC_IGNORED,  /* an unknown or malformed header: keys are skipped */
};

/* Which keys a section has seen, which were valid, and on which lines. */
struct cfg_keys_seen {
	uint32_t seen;
	uint32_t set;
	unsigned int line[SK_COUNT];
};

struct cfg_sensor_item {
	struct engine_config_sensor s;
	struct cfg_keys_seen k;
};

struct cfg_engine_item {
	struct engine_config e; /* only the engine settings are used */
	struct cfg_keys_seen k;
	unsigned int decl_line;
	bool present;
};

struct cfg_error {
	unsigned int line;
	size_t seq;
	char *msg;
};

struct cfg_parser;

struct cfg_key {
	const char *name;
	int (*parse)(struct cfg_parser *p, const struct cfg_key *k,
		     const char *val, void *obj);
	size_t offset; /* of the value in the section's object */
	size_t size;   /* bytes copied when a default is merged */
	uint64_t lo, hi;
	const char *range;  /* lo and hi for people */
	unsigned int kinds; /* source kinds the key applies to; 0: all */
};

struct cfg_parser {
	struct engine_config *cfg;
	const char *file;
	const char *text;
	size_t len;
	size_t pos;
	unsigned int lineno;

	/* The section being read and where its keys go. */
	enum cfg_section sec;
	void *obj;
	struct cfg_keys_seen *seen;
	const struct cfg_key *keys;
	size_t nr_keys;
	char label[CFG_QUOTE_MAX + 16];

	struct cfg_engine_item engine;
	struct cfg_engine_item engine_scratch;
	struct cfg_sensor_item defaults;
	unsigned int defaults_line;
	bool defaults_present;
	struct cfg_sensor_item scratch;
	struct cfg_sensor_item *sensors;
	size_t nr_sensors;
	size_t cap_sensors;
	size_t nr_sensor_headers; /* good or not */

	struct cfg_error *errors;
	size_t nr_errors;
	size_t cap_errors;
	size_t lost_errors;
	bool oom;
};

/* Messages */

__attribute__((format(printf, 3, 0))) static void cfg_verror(
	struct cfg_parser *p, unsigned int line, const char *fmt, va_list ap)
{
	char msg[512];
	char *full;
	int n;

	if (p->nr_errors >= ENGINE_CONFIG_ERRORS_MAX) {
		p->lost_errors++;
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line)
		n = asprintf(&full, "%s:%u: %s", p->file, line, msg);
	else
		n = asprintf(&full, "%s: %s", p->file, msg);
	if (n < 0)
		goto err_oom;
	if (p->nr_errors == p->cap_errors) {
		size_t cap = p->cap_errors ? 2 * p->cap_errors : 8;
		struct cfg_error *e = realloc(p->errors, cap * sizeof(*e));

		if (!e)
			goto err_free;
		p->errors = e;
		p->cap_errors = cap;
	}
	p->errors[p->nr_errors].line = line;
	p->errors[p->nr_errors].seq = p->nr_errors;
	p->errors[p->nr_errors].msg = full;
	p->nr_errors++;
	return;
err_free:
	free(full);
err_oom:
	p->oom = true;
}

__attribute__((format(printf, 3, 4))) static void cfg_error_at(
	struct cfg_parser *p, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verror(p, line, fmt, ap);
	va_end(ap);
}

/* An error on the line being read. */
__attribute__((format(printf, 2, 3))) static void cfg_error(
	struct cfg_parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verror(p, p->lineno, fmt, ap);
	va_end(ap);
}

/*
 * Copy user text into dst for a message, with control bytes shown as '?'
 * and long text cut short, so a message stays one readable line.
 */
static const char *cfg_quote(char *dst, size_t size, const char *src,
			     size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len && n + 4 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (i < len) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
	return dst;
}

#define Q(buf, s) cfg_quote(buf, sizeof(buf), s, strlen(s))

/* Small text helpers */

static bool cfg_is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	       c == '\f';
}

static bool cfg_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool cfg_is_alnum(unsigned char c)
{
	return cfg_is_digit(c) || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

/* Engine names: [A-Za-z0-9_-]; sensor names also allow '.'. */
static bool cfg_valid_name(const char *s, size_t len, bool dot)
{
	size_t i;

	if (len == 0 || len > ENGINE_CONFIG_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!cfg_is_alnum(c) && c != '_' && c != '-' &&
		    !(dot && c == '.'))
			return false;
	}
	return true;
}

/*
 * Parse a whole string of decimal digits. Returns 0, -EINVAL for anything
 * but digits (signs included), -ERANGE past UINT64_MAX.
 */
static int cfg_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned int d;

		if (!cfg_is_digit((unsigned char)*s))
			return -EINVAL;
		d = (unsigned int)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int engine_config_parse_duration(const char *text, uint64_t *ns)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {
		{ "", NS_PER_MS }, { "us", NS_PER_US }, { "ms", NS_PER_MS },
		{ "s", NS_PER_S }, { "m", NS_PER_MIN }, { "h", NS_PER_HOUR },
	};
	const char *s = text, *frac, *suffix;
	uint64_t ipart = 0, unit = 0, v, f = 0, div;
	size_t digits = 0, i;

	while (cfg_is_digit((unsigned char)*s)) {
		unsigned int d = (unsigned int)(*s - '0');

		if (ipart > (UINT64_MAX - d) / 10)
			return -ERANGE;
		ipart = ipart * 10 + d;
		s++;
		digits++;
	}
	frac = NULL;
	if (*s == '.') {
		frac = ++s;
		while (cfg_is_digit((unsigned char)*s)) {
			s++;
			digits++;
		}
	}
	if (digits == 0)
		return -EINVAL;
	suffix = s;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(suffix, units[i].suffix) == 0) {
			unit = units[i].ns;
			break;
		}
	}
	if (!unit)
		return -EINVAL;
	if (ipart > UINT64_MAX / unit)
		return -ERANGE;
	v = ipart * unit;
	/*
	 * Each fractional digit is worth unit / 10^k nanoseconds; digits
	 * below a nanosecond fall off, so the result is rounded down.
	 */
	for (div = unit / 10; frac && frac < suffix && div; frac++, div /= 10)
		f += (uint64_t)(*frac - '0') * div;
	if (v > UINT64_MAX - f)
		return -ERANGE;
	*ns = v + f;
	return 0;
}

/* Key parsers: each returns 0, or reports the problem and returns -1. */

#define FIELD(obj, k, type) ((type *)((char *)(obj) + (k)->offset))

static int cfg_store_uint(const struct cfg_key *k, void *obj, uint64_t v)
{
	if (k->size == sizeof(uint64_t))
		*FIELD(obj, k, uint64_t) = v;
	else
		*FIELD(obj, k, uint32_t) = (uint32_t)v;
	return 0;
}

static int cfg_parse_duration_key(struct cfg_parser *p, const struct cfg_key *k,
				  const char *val, void *obj)
{
	char q[CFG_QUOTE_MAX];
	uint64_t ns;
	int ret;

	ret = engine_config_parse_duration(val, &ns);
	if (ret == -ERANGE) {
		cfg_error(p, "%s: '%s' is out of range (%s)", k->name,
			  Q(q, val), k->range);
		return -1;
	}
	if (ret < 0) {
		cfg_error(p,
			  "%s: '%s' is not a duration (a number with us, ms, "
			  "s, m or h)",
			  k->name, Q(q, val));
		return -1;
	}
	if (ns < k->lo || ns > k->hi) {
		cfg_error(p, "%s: '%s' is out of range (%s)", k->name,
			  Q(q, val), k->range);
		return -1;
	}
	return cfg_store_uint(k, obj, ns);
}

static int cfg_parse_uint_key(struct cfg_parser *p, const struct cfg_key *k,
			      const char *val, void *obj)
{
	char q[CFG_QUOTE_MAX];
	uint64_t v;
	int ret;

	ret = cfg_parse_u64(val, &v);
	if (ret == -EINVAL) {
		cfg_error(p, "%s: '%s' is not a whole number (%s)", k->name,
			  Q(q, val), k->range);
		return -1;
	}
	if (ret < 0 || v < k->lo || v > k->hi) {
		cfg_error(p, "%s: '%s' is out of range (%s)", k->name,
			  Q(q, val), k->range);
		return -1;
	}
	return cfg_store_uint(k, obj, v);
}

static int cfg_parse_pow2_key(struct cfg_parser *p, const struct cfg_key *k,
			      const char *val, void *obj)
{
	char q[CFG_QUOTE_MAX];
	uint64_t v;

	if (cfg_parse_u64(val, &v) < 0 || v < k->lo || v > k->hi ||
	    (v & (v - 1)) != 0) {
		cfg_error(p, "%s: '%s' is not a power of two from %s", k->name,
			  Q(q, val), k->range);
		return -1;
	}
	return cfg_store_uint(k, obj, v);
}

static int cfg_parse_mode_key(struct cfg_parser *p, const struct cfg_key *k,
			      const char *val, void *obj)
{
	char q[CFG_QUOTE_MAX];
	const char *s;
	unsigned long v = 0;

	for (s = val; *s >= '0' && *s <= '7' && v <= 0777; s++)
		v = v * 8 + (unsigned long)(*s - '0');
	if (s == val || *s || v > 0777) {
		cfg_error(p, "%s: '%s' is not an octal mode (%s)", k->name,
			  Q(q, val), k->range);
		return -1;
	}
	*FIELD(obj, k, mode_t) = (mode_t)v;
	return 0;
}

static int cfg_parse_double_key(struct cfg_parser *p, const struct cfg_key *k,
				const char *val, void *obj)
{
	char q[CFG_QUOTE_MAX];
	double v;

	if (engine_value_number(val, strlen(val), &v) < 0) {
		cfg_error(p, "%s: '%s' is not a finite decimal number", k->name,
			  Q(q, val));
		return -1;
	}
	*FIELD(obj, k, double) = v;
	return 0;
}

static int cfg_parse_name_key(struct cfg_parser *p, const struct cfg_key *k,
			      const char *val, void *obj)
{
	char q[CFG_QUOTE_MAX];
	size_t len = strlen(val);

	if (!cfg_valid_name(val, len, false)) {
		cfg_error(p,
			  "%s: '%s' is not a valid engine name "
			  "([A-Za-z0-9_-], 1 to 32 characters)",
			  k->name, Q(q, val));
		return -1;
	}
	memcpy(FIELD(obj, k, char), val, len + 1);
	return 0;
}

static int cfg_parse_unit_key(struct cfg_parser *p, const struct cfg_key *k,
			      const char *val, void *obj)
{
	char q[CFG_QUOTE_MAX];
	size_t i, len = strlen(val);

	if (len > ENGINE_CONFIG_UNIT_MAX) {
		cfg_error(p, "%s: '%s' is longer than %d bytes", k->name,
			  Q(q, val), ENGINE_CONFIG_UNIT_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)val[i];

		if (c < 0x20 || c == 0x7f) {
			cfg_error(p, "%s: control characters are not allowed",
				  k->name);
			return -1;
		}
	}
	memcpy(FIELD(obj, k, char), val, len + 1);
	return 0;
}

static int cfg_parse_jitter_key(struct cfg_parser *p, const struct cfg_key *k,
				const char *val, void *obj)
{
	static const enum engine_config_jitter all[] = {
		ENGINE_CONFIG_JITTER_NONE,
		ENGINE_CONFIG_JITTER_FULL,
		ENGINE_CONFIG_JITTER_EQUAL,
		ENGINE_CONFIG_JITTER_DECORRELATED,
	};
	char q[CFG_QUOTE_MAX];
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(val, engine_config_jitter_name(all[i])) == 0) {
			*FIELD(obj, k, enum engine_config_jitter) = all[i];
			return 0;
		}
	}
	cfg_error(p, "%s: '%s' is not one of none, full, equal, decorrelated",
		  k->name, Q(q, val));
	return -1;
}

static int cfg_hex_digit(unsigned char c)
{
	if (cfg_is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char cfg_unknown_escape[] = "unknown escape";

/*
 * Decode the escape after a backslash at *c: \a \b \f \n \r \t \v \\ \' \"
 * \?, \xH or \xHH, and \o to \ooo in octal up to \377. Advances *c past it.
 * Returns NULL with *v set, or what is wrong.
 */
static const char *cfg_unescape(const char **c, unsigned int *v)
{
	static const char from[] = "abfnrtv\\'\"?";
	static const char to[] = "\a\b\f\n\r\t\v\\'\"?";
	const char *s = *c, *e;
	int i, d;

	if (*s == '\0')
		return "ends with a lone '\\'";
	e = strchr(from, *s);
	if (e) {
		*v = (unsigned char)to[e - from];
		*c = s + 1;
		return NULL;
	}
	if (*s == 'x') {
		*v = 0;
		for (i = 0;
		     i < 2 && (d = cfg_hex_digit((unsigned char)s[1])) >= 0;
		     i++, s++)
			*v = *v * 16 + (unsigned int)d;
		*c = s + 1;
		return i ? NULL : "\\x without hex digits";
	}
	if (*s >= '0' && *s <= '7') {
		for (*v = 0, i = 0; i < 3 && *s >= '0' && *s <= '7'; i++)
			*v = *v * 8 + (unsigned int)(*s++ - '0');
		*c = s;
		return *v > 0377 ? "octal escape above \\377" : NULL;
	}
	return cfg_unknown_escape;
}

/* request: the text with C escapes decoded (see cfg_unescape()). */
static int cfg_parse_request_key(struct cfg_parser *p, const struct cfg_key *k,
				 const char *val, void *obj)
{
	struct engine_config_sensor *s = obj;
	char out[ENGINE_CONFIG_REQUEST_MAX];
	const char *c = val, *why;
	size_t n = 0;
	unsigned int v;

	(void)k;
	if (!*val) {
		cfg_error(p, "request: empty");
		return -1;
	}
	while (*c) {
		if (n == sizeof(out)) {
			cfg_error(p, "request: longer than %zu bytes",
				  sizeof(out));
			return -1;
		}
		if (*c != '\\') {
			out[n++] = *c++;
			continue;
		}
		c++;
		why = cfg_unescape(&c, &v);
		if (why == cfg_unknown_escape && (unsigned char)*c >= 0x20 &&
		    *c != 0x7f) {
			cfg_error(p, "request: unknown escape '\\%c'", *c);
			return -1;
		}
		if (why) {
			cfg_error(p, "request: %s", why);
			return -1;
		}
		out[n++] = (char)v;
	}
	memcpy(s->request, out, n);
	s->request_len = n;
	return 0;
}

static const struct {
	uint32_t baud;
	speed_t speed;
} cfg_speeds[] = {
	{ 50, B50 },	       { 75, B75 },	      { 110, B110 },
	{ 134, B134 },	       { 150, B150 },	      { 200, B200 },
	{ 300, B300 },	       { 600, B600 },	      { 1200, B1200 },
	{ 1800, B1800 },       { 2400, B2400 },	      { 4800, B4800 },
	{ 9600, B9600 },       { 19200, B19200 },     { 38400, B38400 },
	{ 57600, B57600 },     { 115200, B115200 },   { 230400, B230400 },
	{ 460800, B460800 },   { 500000, B500000 },   { 576000, B576000 },
	{ 921600, B921600 },   { 1000000, B1000000 }, { 1152000, B1152000 },
	{ 1500000, B1500000 }, { 2000000, B2000000 }, { 2500000, B2500000 },
	{ 3000000, B3000000 }, { 3500000, B3500000 }, { 4000000, B4000000 },
};

/* serial: "SPEED DPS", such as "9600 8N1" or "115200 7E2". */
static int cfg_parse_serial_key(struct cfg_parser *p, const struct cfg_key *k,
				const char *val, void *obj)
{
	struct engine_config_serial *ser = FIELD(obj, k, void);
	char q[CFG_QUOTE_MAX], speed[16];
	const char *c = val, *frame;
	uint64_t baud;
	size_t n, i;
	char parity;

	while (cfg_is_digit((unsigned char)*c))
		c++;
	n = (size_t)(c - val);
	if (n == 0 || n >= sizeof(speed) || !cfg_is_blank((unsigned char)*c))
		goto err_form;
	memcpy(speed, val, n);
	speed[n] = '\0';
	while (cfg_is_blank((unsigned char)*c))
		c++;
	frame = c;
	if (strlen(frame) != 3 || frame[0] < '5' || frame[0] > '8' ||
	    (frame[2] != '1' && frame[2] != '2'))
		goto err_form;
	parity = frame[1];
	if (parity >= 'a' && parity <= 'z')
		parity = (char)(parity - 'a' + 'A');
	if (parity != 'N' && parity != 'E' && parity != 'O')
		goto err_form;
	if (cfg_parse_u64(speed, &baud) < 0)
		goto err_speed;
	for (i = 0; i < sizeof(cfg_speeds) / sizeof(cfg_speeds[0]); i++)
		if (cfg_speeds[i].baud == baud)
			break;
	if (i == sizeof(cfg_speeds) / sizeof(cfg_speeds[0]))
		goto err_speed;
	ser->set = true;
	ser->baud = cfg_speeds[i].baud;
	ser->speed = cfg_speeds[i].speed;
	ser->data_bits = (uint8_t)(frame[0] - '0');
	ser->parity = parity;
	ser->stop_bits = (uint8_t)(frame[2] - '0');
	return 0;
err_speed:
	cfg_error(p, "serial: %s is not a standard speed", speed);
	return -1;
err_form:
	cfg_error(p,
		  "serial: '%s' is not SPEED BITS-PARITY-STOP, such as "
		  "'9600 8N1' (bits 5-8, parity N, E or O, stop 1 or 2)",
		  Q(q, val));
	return -1;
}

/* A host name or an IPv4 address, as it may appear before ":PORT". */
static int cfg_check_host(struct cfg_parser *p, const char *host)
{
	char q[CFG_QUOTE_MAX];
	struct in_addr a4;
	bool numeric = true;
	size_t i, len = strlen(host);

	if (len == 0) {
		cfg_error(p, "source: missing host");
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)host[i];

		if (c == ':') {
			cfg_error(p,
				  "source: an IPv6 address goes in brackets, "
				  "as in tcp:[::1]:PORT");
			return -1;
		}
		if (!cfg_is_alnum(c) && c != '.' && c != '-' && c != '_') {
			cfg_error(p, "source: '%s' is not a valid host name",
				  Q(q, host));
			return -1;
		}
		if (!cfg_is_digit(c) && c != '.')
			numeric = false;
	}
	if (len > 253) {
		cfg_error(p, "source: host name longer than 253 bytes");
		return -1;
	}
	if (numeric && inet_pton(AF_INET, host, &a4) != 1) {
		cfg_error(p, "source: '%s' is not a valid IPv4 address",
			  Q(q, host));
		return -1;
	}
	return 0;
}

/* An IPv6 address from inside brackets, with an optional %zone. */
static int cfg_check_host6(struct cfg_parser *p, const char *host)
{
	char q[CFG_QUOTE_MAX], addr[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;
	const char *zone = strchr(host, '%');
	size_t len = zone ? (size_t)(zone - host) : strlen(host);

	if (len >= sizeof(addr))
		goto err;
	memcpy(addr, host, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET6, addr, &a6) != 1)
		goto err;
	if (zone && !cfg_valid_name(zone + 1, strlen(zone + 1), true))
		goto err;
	return 0;
err:
	cfg_error(p, "source: '[%s]' is not a valid IPv6 address", Q(q, host));
	return -1;
}

static int cfg_parse_host_port(struct cfg_parser *p, const char *kind,
			       const char *addr,
			       struct engine_config_source *src)
{
	char q[CFG_QUOTE_MAX];
	const char *port_text;
	size_t host_len;
	uint64_t port;
	bool v6 = addr[0] == '[';

	if (v6) {
		const char *close = strchr(addr, ']');

		if (!close || close[1] != ':')
			goto err_form;
		host_len = (size_t)(close - addr - 1);
		port_text = close + 2;
		addr++;
	} else {
		const char *colon = strrchr(addr, ':');

		if (!colon)
			goto err_form;
		host_len = (size_t)(colon - addr);
		port_text = colon + 1;
	}
	if (host_len >= sizeof(src->host)) {
		cfg_error(p, "source: host longer than %zu bytes",
			  sizeof(src->host) - 1);
		return -1;
	}
	memcpy(src->host, addr, host_len);
	src->host[host_len] = '\0';
	if (v6 ? cfg_check_host6(p, src->host) : cfg_check_host(p, src->host))
		return -1;
	if (cfg_parse_u64(port_text, &port) < 0 || port < 1 || port > 65535) {
		cfg_error(p, "source: '%s' is not a port (1 to 65535)",
			  Q(q, port_text));
		return -1;
	}
	src->port = (uint16_t)port;
	return 0;
err_form:
	cfg_error(p,
		  "source: expected %s:HOST:PORT, HOST a name, an IPv4 "
		  "address or [IPv6]",
		  kind);
	return -1;
}

static int cfg_parse_source_key(struct cfg_parser *p, const struct cfg_key *k,
				const char *val, void *obj)
{
	static const struct {
		const char *name;
		enum engine_config_source_kind kind;
	} kinds[] = {
		{ "file", ENGINE_CONFIG_SOURCE_FILE },
		{ "stream", ENGINE_CONFIG_SOURCE_STREAM },
		{ "tcp", ENGINE_CONFIG_SOURCE_TCP },
		{ "unix", ENGINE_CONFIG_SOURCE_UNIX },
		{ "udp", ENGINE_CONFIG_SOURCE_UDP },
	};
	struct engine_config_source src;
	char q[CFG_QUOTE_MAX];
	const char *colon = strchr(val, ':'), *rest;
	size_t i, n, max;

	(void)k;
	memset(&src, 0, sizeof(src));
	if (!colon) {
		cfg_error(p,
			  "source: '%s' is not KIND:ADDRESS (file, stream, "
			  "tcp, unix or udp)",
			  Q(q, val));
		return -1;
	}
	n = (size_t)(colon - val);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].name) == n &&
		    memcmp(kinds[i].name, val, n) == 0)
			break;
	if (i == sizeof(kinds) / sizeof(kinds[0])) {
		cfg_error(p,
			  "source: unknown kind '%s' (file, stream, tcp, "
			  "unix or udp)",
			  cfg_quote(q, sizeof(q), val, n));
		return -1;
	}
	src.kind = kinds[i].kind;
	rest = colon + 1;
	switch (src.kind) {
	case ENGINE_CONFIG_SOURCE_FILE:
	case ENGINE_CONFIG_SOURCE_STREAM:
	case ENGINE_CONFIG_SOURCE_UNIX:
		/* A socket path must fit sun_path with its NUL. */
		max = src.kind == ENGINE_CONFIG_SOURCE_UNIX
			      ? sizeof(((struct sockaddr_un *)0)->sun_path) - 1
			      : sizeof(src.path) - 1;
		if (!*rest) {
			cfg_error(p, "source: missing path after '%s:'",
				  kinds[i].name);
			return -1;
		}
		if (strlen(rest) > max) {
			cfg_error(p, "source: path longer than %zu bytes", max);
			return -1;
		}
		strcpy(src.path, rest);
		break;
	case ENGINE_CONFIG_SOURCE_TCP:
	case ENGINE_CONFIG_SOURCE_UDP:
		if (cfg_parse_host_port(p, kinds[i].name, rest, &src) < 0)
			return -1;
		break;
	}
	((struct engine_config_sensor *)obj)->source = src;
	return 0;
}

/* The keys */

#define SPAN(type, first, last)                             \
	(offsetof(type, last) + sizeof(((type *)0)->last) - \
	 offsetof(type, first))
#define EKEY(n, fn, member, lo_, hi_, range_)                        \
	{                                                            \
		.name = n, .parse = fn,                              \
		.offset = offsetof(struct engine_config, member),    \
		.size = sizeof(((struct engine_config *)0)->member), \
		.lo = lo_, .hi = hi_, .range = range_                \
	}
#define SKEY(n, fn, member, lo_, hi_, range_, kinds_)                       \
	{                                                                   \
		.name = n, .parse = fn,                                     \
		.offset = offsetof(struct engine_config_sensor, member),    \
		.size = sizeof(((struct engine_config_sensor *)0)->member), \
		.lo = lo_, .hi = hi_, .range = range_, .kinds = kinds_      \
	}

static const struct cfg_key cfg_engine_keys[EK_COUNT] = {
	[EK_NAME] = EKEY("name", cfg_parse_name_key, name, 0, 0, ""),
	[EK_PERIOD] = EKEY("period", cfg_parse_duration_key, period_ns,
			   NS_PER_MS, NS_PER_HOUR, "1ms to 1h"),
	[EK_DEADLINE] = EKEY("deadline", cfg_parse_duration_key, deadline_ns,
			     NS_PER_MS, NS_PER_HOUR, "1ms to the period"),
	[EK_RING] =
		EKEY("ring", cfg_parse_pow2_key, ring, 2, 65536, "2 to 65536"),
	[EK_SHM_MODE] = EKEY("shm_mode", cfg_parse_mode_key, shm_mode, 0, 0777,
			     "0 to 0777"),
};

static const struct cfg_key cfg_sensor_keys[SK_COUNT] = {
	[SK_SOURCE] = SKEY("source", cfg_parse_source_key, source, 0, 0, "", 0),
	[SK_REQUEST] = { .name = "request",
			 .parse = cfg_parse_request_key,
			 .offset =
				 offsetof(struct engine_config_sensor, request),
			 .size = SPAN(struct engine_config_sensor, request,
				      request_len),
			 .kinds = KIND_BIT(ENGINE_CONFIG_SOURCE_TCP) |
				  KIND_BIT(ENGINE_CONFIG_SOURCE_UNIX) },
	[SK_LINE] = SKEY("line", cfg_parse_uint_key, value.line, 0, 65535,
			 "0 to 65535", KIND_BIT(ENGINE_CONFIG_SOURCE_FILE)),
	[SK_FIELD] = SKEY("field", cfg_parse_uint_key, value.field, 0, 65535,
			  "0 to 65535", 0),
	[SK_OFFSET] =
		SKEY("offset", cfg_parse_double_key, value.offset, 0, 0, "", 0),
	[SK_SCALE] =
		SKEY("scale", cfg_parse_double_key, value.scale, 0, 0, "", 0),
	[SK_MIN] = SKEY("min", cfg_parse_double_key, value.min, 0, 0, "", 0),
	[SK_MAX] = SKEY("max", cfg_parse_double_key, value.max, 0, 0, "", 0),
	[SK_UNIT] = SKEY("unit", cfg_parse_unit_key, unit, 0, 0, "", 0),
	[SK_SERIAL] = SKEY("serial", cfg_parse_serial_key, serial, 0, 0, "",
			   KIND_BIT(ENGINE_CONFIG_SOURCE_STREAM)),
	[SK_MAX_AGE] = SKEY("max_age", cfg_parse_duration_key, max_age_ns,
			    NS_PER_US, NS_PER_HOUR, "1us to 1h", 0),
	[SK_TIMEOUT] = SKEY("timeout", cfg_parse_duration_key, timeout_ns,
			    NS_PER_US, NS_PER_HOUR, "1us to 1h", 0),
	[SK_RETRY_ATTEMPTS] = SKEY("retry_attempts", cfg_parse_uint_key,
				   retry_attempts, 1, 100, "1 to 100", 0),
	[SK_RETRY_BASE] =
		SKEY("retry_base", cfg_parse_duration_key, retry_base_ns,
		     NS_PER_US, NS_PER_HOUR, "1us to 1h", 0),
	[SK_RETRY_MAX] = SKEY("retry_max", cfg_parse_duration_key, retry_max_ns,
			      NS_PER_US, NS_PER_HOUR, "1us to 1h", 0),
	[SK_RETRY_JITTER] = SKEY("retry_jitter", cfg_parse_jitter_key,
				 retry_jitter, 0, 0, "", 0),
	[SK_BREAKER_FAILURES] = SKEY("breaker_failures", cfg_parse_uint_key,
				     breaker_failures, 1, 1000, "1 to 1000", 0),
	[SK_BREAKER_WINDOW] = SKEY("breaker_window", cfg_parse_duration_key,
				   breaker_window_ns, NS_PER_US,
				   24 * NS_PER_HOUR, "1us to 24h", 0),
	[SK_BREAKER_RESET] =
		SKEY("breaker_reset", cfg_parse_duration_key, breaker_reset_ns,
		     NS_PER_US, 24 * NS_PER_HOUR, "1us to 24h", 0),
	[SK_BREAKER_PROBES] = SKEY("breaker_probes", cfg_parse_uint_key,
				   breaker_probes, 1, 100, "1 to 100", 0),
};

_Static_assert(SK_COUNT <= 32 && (int)EK_COUNT <= (int)SK_COUNT,
	       "key masks are 32 bits and share struct cfg_keys_seen");

static void cfg_engine_defaults(struct engine_config *e)
{
	memset(e, 0, sizeof(*e));
	e->period_ns = 100 * NS_PER_MS;
	e->deadline_ns = e->period_ns;
	e->ring = 1024;
	e->shm_mode = 0640;
}

static void cfg_sensor_defaults(struct engine_config_sensor *s)
{
	memset(s, 0, sizeof(*s));
	engine_value_spec_init(&s->value);
	s->timeout_ns = 50 * NS_PER_MS;
	s->retry_attempts = 4;
	s->retry_base_ns = 100 * NS_PER_MS;
	s->retry_max_ns = 2 * NS_PER_S;
	s->retry_jitter = ENGINE_CONFIG_JITTER_FULL;
	s->breaker_failures = 3;
	s->breaker_window_ns = 5 * NS_PER_S;
	s->breaker_reset_ns = 5 * NS_PER_S;
	s->breaker_probes = 1;
}

/* Sections */

static void cfg_enter(struct cfg_parser *p, enum cfg_section sec, void *obj,
		      struct cfg_keys_seen *seen)
{
	p->sec = sec;
	p->obj = obj;
	p->seen = seen;
	if (seen)
		memset(seen, 0, sizeof(*seen));
	if (sec == SEC_ENGINE) {
		p->keys = cfg_engine_keys;
		p->nr_keys = EK_COUNT;
	} else {
		p->keys = cfg_sensor_keys;
		p->nr_keys = SK_COUNT;
	}
}

static void cfg_enter_scratch_sensor(struct cfg_parser *p)
{
	cfg_sensor_defaults(&p->scratch.s);
	cfg_enter(p, SEC_SENSOR, &p->scratch.s, &p->scratch.k);
}

static void cfg_sensor_section(struct cfg_parser *p, const char *name,
			       size_t len)
{
	char q[CFG_QUOTE_MAX];
	struct cfg_sensor_item *it;
	size_t i;

	p->nr_sensor_headers++;
	snprintf(p->label, sizeof(p->label), "[sensor %s]",
		 cfg_quote(q, sizeof(q), name, len));
	if (len == 0) {
		cfg_error(p, "[sensor] needs a name, as in [sensor s0]");
		cfg_enter_scratch_sensor(p);
		return;
	}
	if (!cfg_valid_name(name, len, true)) {
		cfg_error(p,
			  "'%s' is not a valid sensor name ([A-Za-z0-9_.-], 1 "
			  "to 32 characters)",
			  cfg_quote(q, sizeof(q), name, len));
		cfg_enter_scratch_sensor(p);
		return;
	}
	for (i = 0; i < p->nr_sensors; i++) {
		it = &p->sensors[i];
		if (strlen(it->s.name) == len &&
		    memcmp(it->s.name, name, len) == 0) {
			cfg_error(p, "duplicate sensor '%s' (first at line %u)",
				  it->s.name, it->s.decl_line);
			cfg_enter_scratch_sensor(p);
			return;
		}
	}
	if (p->nr_sensors == ENGINE_CONFIG_SENSORS_MAX) {
		cfg_error(p, "more than %d sensors", ENGINE_CONFIG_SENSORS_MAX);
		cfg_enter_scratch_sensor(p);
		return;
	}
	if (p->nr_sensors == p->cap_sensors) {
		size_t cap = p->cap_sensors ? 2 * p->cap_sensors : 16;

		it = realloc(p->sensors, cap * sizeof(*it));
		if (!it) {
			p->oom = true;
			cfg_enter_scratch_sensor(p);
			return;
		}
		p->sensors = it;
		p->cap_sensors = cap;
	}
	it = &p->sensors[p->nr_sensors];
	cfg_sensor_defaults(&it->s);
	memcpy(it->s.name, name, len);
	it->s.name[len] = '\0';
	it->s.index = p->nr_sensors;
	it->s.decl_line = p->lineno;
	p->nr_sensors++;
	cfg_enter(p, SEC_SENSOR, &it->s, &it->k);
}

/* Called by the reader on each "[...]" line, with the name trimmed. */
static void cfg_section(struct cfg_parser *p, const char *name, size_t len)
{
	char q[CFG_QUOTE_MAX];

	if (len == 6 && memcmp(name, "engine", 6) == 0) {
		snprintf(p->label, sizeof(p->label), "[engine]");
		if (p->engine.present) {
			cfg_error(p,
				  "duplicate section [engine] (first at "
				  "line %u)",
				  p->engine.decl_line);
			cfg_engine_defaults(&p->engine_scratch.e);
			cfg_enter(p, SEC_ENGINE, &p->engine_scratch.e,
				  &p->engine_scratch.k);
			return;
		}
		p->engine.present = true;
		p->engine.decl_line = p->lineno;
		cfg_enter(p, SEC_ENGINE, &p->engine.e, &p->engine.k);
		return;
	}
	if (len == 8 && memcmp(name, "defaults", 8) == 0) {
		snprintf(p->label, sizeof(p->label), "[defaults]");
		if (p->defaults_present) {
			cfg_error(p,
				  "duplicate section [defaults] (first at "
				  "line %u)",
				  p->defaults_line);
			cfg_enter_scratch_sensor(p);
			p->sec = SEC_DEFAULTS;
			return;
		}
		p->defaults_present = true;
		p->defaults_line = p->lineno;
		cfg_enter(p, SEC_DEFAULTS, &p->defaults.s, &p->defaults.k);
		return;
	}
	if (len >= 6 && memcmp(name, "sensor", 6) == 0 &&
	    (len == 6 || cfg_is_blank((unsigned char)name[6]))) {
		name += 6;
		len -= 6;
		while (len && cfg_is_blank((unsigned char)*name)) {
			name++;
			len--;
		}
		cfg_sensor_section(p, name, len);
		return;
	}
	cfg_error(p, "unknown section [%s] (engine, defaults or sensor NAME)",
		  cfg_quote(q, sizeof(q), name, len));
	cfg_enter(p, SEC_IGNORED, NULL, NULL);
}

/*
 * The first byte of s that is in chars, or that starts an inline comment
 * (';' after a blank), or the final NUL: the rule libinih applies.
 */
static const char *cfg_find_or_comment(const char *s, const char *chars)
{
	bool was_blank = false;

	while (*s && !strchr(chars, *s) && !(was_blank && *s == ';')) {
		was_blank = cfg_is_blank((unsigned char)*s);
		s++;
	}
	return s;
}

/*
 * Look at a line before libinih does: see the header comment. The line is
 * put into str, trimmed and ended with "\n" so that libinih never splits
 * it; a line already reported is replaced by an empty one.
 */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_parser *p = stream;
	size_t max = num > 2 ? (size_t)num - 2 : 0;
	const char *s, *nl, *end;
	size_t n;

	if (p->pos >= p->len)
		return NULL;
	s = p->text + p->pos;
	nl = memchr(s, '\n', p->len - p->pos);
	n = nl ? (size_t)(nl - s) : p->len - p->pos;
	p->pos += n + (nl ? 1 : 0);
	p->lineno++;
	if (p->lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
		s += 3;
		n -= 3;
	}
	while (n && cfg_is_blank((unsigned char)s[n - 1]))
		n--;
	while (n && cfg_is_blank((unsigned char)*s)) {
		s++;
		n--;
	}
	str[0] = '\0';
	if (memchr(s, '\0', n) || n > max) {
		if (n > max)
			cfg_error(p, "line too long (%zu bytes, at most %zu)",
				  n, max);
		else
			cfg_error(p, "line holds a NUL byte");
		/* Keys under a header we cannot read go nowhere. */
		if (n && s[0] == '[')
			cfg_enter(p, SEC_IGNORED, NULL, NULL);
		return str;
	}
	memcpy(str, s, n);
	str[n] = '\0';
	if (n == 0 || str[0] == ';' || str[0] == '#')
		return str;
	if (str[0] == '[') {
		const char *name = str + 1, *tail;
		size_t len;

		end = cfg_find_or_comment(name, "]");
		if (*end != ']') {
			cfg_error(p, "section header without ']'");
			cfg_enter(p, SEC_IGNORED, NULL, NULL);
			str[0] = '\0';
			return str;
		}
		for (tail = end + 1; cfg_is_blank((unsigned char)*tail);)
			tail++;
		if (*tail && *tail != ';' && *tail != '#') {
			cfg_error(p, "unexpected text after ']'");
			cfg_enter(p, SEC_IGNORED, NULL, NULL);
			str[0] = '\0';
			return str;
		}
		len = (size_t)(end - name);
		while (len && cfg_is_blank((unsigned char)*name)) {
			name++;
			len--;
		}
		while (len && cfg_is_blank((unsigned char)name[len - 1]))
			len--;
		cfg_section(p, name, len);
	} else {
		end = cfg_find_or_comment(str, "=:");
		if (*end != '=' && *end != ':') {
			cfg_error(p, "expected 'key = value'");
			str[0] = '\0';
			return str;
		}
	}
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

/* libinih calls this for each "key = value", right after reading it. */
static int cfg_handler(void *user, const char *section, const char *name,
		       const char *value)
{
	struct cfg_parser *p = user;
	char q[CFG_QUOTE_MAX];
	const struct cfg_key *k = NULL;
	size_t i;

	(void)section; /* cfg_reader() tracks sections itself */
	if (!name || !value)
		return 1;
	if (p->sec == SEC_IGNORED)
		return 1;
	if (!*name) {
		cfg_error(p, "missing key before '='");
		return 1;
	}
	if (p->sec == SEC_NONE) {
		cfg_error(p, "key '%s' outside any section", Q(q, name));
		return 1;
	}
	for (i = 0; i < p->nr_keys; i++) {
		if (strcmp(name, p->keys[i].name) == 0) {
			k = &p->keys[i];
			break;
		}
	}
	if (!k) {
		cfg_error(p, "unknown key '%s' in %s", Q(q, name), p->label);
		return 1;
	}
	if (p->sec == SEC_DEFAULTS && i == SK_SOURCE) {
		cfg_error(p, "source cannot be set in [defaults]");
		return 1;
	}
	if (p->seen->seen & (1u << i)) {
		cfg_error(p, "duplicate key '%s' (first at line %u)", k->name,
			  p->seen->line[i]);
		return 1;
	}
	p->seen->seen |= 1u << i;
	p->seen->line[i] = p->lineno;
	if (k->parse(p, k, value, p->obj) == 0)
		p->seen->set |= 1u << i;
	return 1;
}

/* Checks on the whole file */

static bool cfg_own(const struct cfg_keys_seen *k, int key)
{
	return k->seen & (1u << key);
}

static unsigned int cfg_later_line(const struct cfg_keys_seen *k, int a, int b)
{
	unsigned int la = cfg_own(k, a) ? k->line[a] : 0;
	unsigned int lb = cfg_own(k, b) ? k->line[b] : 0;

	return la > lb ? la : lb;
}

/*
 * The checks between keys of one sensor (or of [defaults]), on the values
 * in effect. They are reported only where one of the keys is set, so a
 * conflict inherited from [defaults] is reported once, there.
 */
static void cfg_check_pairs(struct cfg_parser *p,
			    const struct engine_config_sensor *s,
			    const struct cfg_keys_seen *k)
{
	if ((cfg_own(k, SK_MIN) || cfg_own(k, SK_MAX)) &&
	    s->value.min > s->value.max)
		cfg_error_at(p, cfg_later_line(k, SK_MIN, SK_MAX),
			     "min (%g) is greater than max (%g)", s->value.min,
			     s->value.max);
	if ((cfg_own(k, SK_RETRY_BASE) || cfg_own(k, SK_RETRY_MAX)) &&
	    s->retry_base_ns > s->retry_max_ns)
		cfg_error_at(p, cfg_later_line(k, SK_RETRY_BASE, SK_RETRY_MAX),
			     "retry_max is shorter than retry_base");
}

static const char *cfg_kinds_text(unsigned int kinds)
{
	if (kinds == KIND_BIT(ENGINE_CONFIG_SOURCE_FILE))
		return "file:";
	if (kinds == KIND_BIT(ENGINE_CONFIG_SOURCE_STREAM))
		return "stream:";
	return "tcp: and unix:";
}

static void cfg_finish_sensor(struct cfg_parser *p, struct cfg_sensor_item *it,
			      uint64_t period_ns)
{
	struct engine_config_sensor *s = &it->s;
	const struct cfg_sensor_item *d = &p->defaults;
	unsigned int kind_bit = KIND_BIT(s->source.kind);
	bool has_source = it->k.set & (1u << SK_SOURCE);
	int i;

	if (!cfg_own(&it->k, SK_SOURCE))
		cfg_error_at(p, s->decl_line, "sensor '%s' has no source",
			     s->name);
	for (i = 0; i < SK_COUNT; i++) {
		const struct cfg_key *k = &cfg_sensor_keys[i];
		bool applies =
			!k->kinds || (has_source && (k->kinds & kind_bit));

		if (cfg_own(&it->k, i)) {
			if (has_source && !applies)
				cfg_error_at(p, it->k.line[i],
					     "%s: only for %s sources", k->name,
					     cfg_kinds_text(k->kinds));
			continue;
		}
		/* A default for another kind of source is not for us. */
		if ((d->k.set & (1u << i)) && applies)
			memcpy((char *)s + k->offset,
			       (const char *)&d->s + k->offset, k->size);
	}
	if (!(it->k.set & (1u << SK_MAX_AGE)) &&
	    !(d->k.set & (1u << SK_MAX_AGE)))
		s->max_age_ns = period_ns;
	cfg_check_pairs(p, s, &it->k);
}

static void cfg_finish(struct cfg_parser *p)
{
	struct cfg_engine_item *en = &p->engine;
	size_t i;

	if (!en->present) {
		cfg_error_at(p, 1, "missing [engine] section");
	} else {
		if (!cfg_own(&en->k, EK_NAME))
			cfg_error_at(p, en->decl_line,
				     "[engine] needs a name (name = ...)");
		if (!cfg_own(&en->k, EK_DEADLINE))
			en->e.deadline_ns = en->e.period_ns;
		else if ((en->k.set & (1u << EK_DEADLINE)) &&
			 (en->k.set & (1u << EK_PERIOD) ||
			  !cfg_own(&en->k, EK_PERIOD)) &&
			 en->e.deadline_ns > en->e.period_ns)
			cfg_error_at(p, en->k.line[EK_DEADLINE],
				     "deadline: longer than the period");
	}
	/* A bad [sensor ...] header has been reported already. */
	if (p->nr_sensor_headers == 0)
		cfg_error_at(p, 1, "no sensor: add a [sensor NAME] section");
	cfg_check_pairs(p, &p->defaults.s, &p->defaults.k);
	for (i = 0; i < p->nr_sensors; i++)
		cfg_finish_sensor(p, &p->sensors[i], en->e.period_ns);
}

/* Loading */

static int cfg_error_cmp(const void *a, const void *b)
{
	const struct cfg_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Give the messages, sorted, to cfg. Returns 0 or -ENOMEM. */
static int cfg_move_errors(struct cfg_parser *p, struct engine_config *cfg)
{
	size_t i, n = p->nr_errors + (p->lost_errors ? 1 : 0);

	if (p->lost_errors) {
		char *more;

		if (asprintf(&more, "%s: %zu more problems not shown", p->file,
			     p->lost_errors) < 0)
			return -ENOMEM;
		p->lost_errors = 0;
		/* Room for it was kept: ERRORS_MAX stops at the cap. */
		if (p->nr_errors == p->cap_errors) {
			struct cfg_error *e = realloc(
				p->errors, (p->cap_errors + 1) * sizeof(*e));

			if (!e) {
				free(more);
				return -ENOMEM;
			}
			p->errors = e;
			p->cap_errors++;
		}
		p->errors[p->nr_errors].line = UINT_MAX;
		p->errors[p->nr_errors].seq = p->nr_errors;
		p->errors[p->nr_errors].msg = more;
		p->nr_errors++;
	}
	if (!n)
		return 0;
	qsort(p->errors, p->nr_errors, sizeof(*p->errors), cfg_error_cmp);
	cfg->errors = calloc(n, sizeof(*cfg->errors));
	if (!cfg->errors)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		cfg->errors[i] = p->errors[i].msg;
		p->errors[i].msg = NULL;
	}
	cfg->nr_errors = n;
	return 0;
}

static void cfg_parser_exit(struct cfg_parser *p)
{
	size_t i;

	for (i = 0; i < p->nr_errors; i++)
		free(p->errors[i].msg);
	free(p->errors);
	free(p->sensors);
}

void engine_config_init(struct engine_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

void engine_config_exit(struct engine_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nr_errors; i++)
		free(cfg->errors[i]);
	free(cfg->errors);
	free(cfg->sensors);
	engine_config_init(cfg);
}

int engine_config_load_buffer(struct engine_config *cfg, const char *name,
			      const char *text, size_t len)
{
	struct cfg_parser p;
	size_t i;
	int ret;

	engine_config_exit(cfg);
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.file = name;
	p.text = text;
	p.len = len;
	cfg_engine_defaults(&p.engine.e);
	cfg_sensor_defaults(&p.defaults.s);
	cfg_enter(&p, SEC_NONE, NULL, NULL);

	ret = ini_parse_stream(cfg_reader, &p, cfg_handler, &p);
	if (ret == -2)
		p.oom = true;
	else if (ret != 0 && p.nr_errors == 0)
		cfg_error_at(&p, ret > 0 ? (unsigned int)ret : 1,
			     "syntax error");
	if (!p.oom)
		cfg_finish(&p);
	if (p.oom) {
		ret = -ENOMEM;
		goto out;
	}
	if (p.nr_errors) {
		ret = cfg_move_errors(&p, cfg);
		if (ret == 0)
			ret = -EINVAL;
		goto out;
	}
	cfg->sensors = calloc(p.nr_sensors, sizeof(*cfg->sensors));
	if (!cfg->sensors) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < p.nr_sensors; i++)
		cfg->sensors[i] = p.sensors[i].s;
	cfg->nr_sensors = p.nr_sensors;
	memcpy(cfg->name, p.engine.e.name, sizeof(cfg->name));
	cfg->period_ns = p.engine.e.period_ns;
	cfg->deadline_ns = p.engine.e.deadline_ns;
	cfg->ring = p.engine.e.ring;
	cfg->shm_mode = p.engine.e.shm_mode;
	ret = 0;
out:
	cfg_parser_exit(&p);
	return ret;
}

int engine_config_load_string(struct engine_config *cfg, const char *name,
			      const char *text)
{
	return engine_config_load_buffer(cfg, name, text, strlen(text));
}

/* Record why the file could not be read, as the one message. */
static int cfg_io_error(struct engine_config *cfg, const char *path, int err)
{
	engine_config_exit(cfg);
	cfg->errors = calloc(1, sizeof(*cfg->errors));
	if (!cfg->errors)
		return -ENOMEM;
	if (err == -EFBIG) {
		if (asprintf(&cfg->errors[0], "%s: larger than %u bytes", path,
			     CFG_FILE_MAX) < 0)
			cfg->errors[0] = NULL;
	} else if (asprintf(&cfg->errors[0], "%s: %s", path, strerror(-err)) <
		   0) {
		cfg->errors[0] = NULL;
	}
	if (!cfg->errors[0]) {
		free(cfg->errors);
		cfg->errors = NULL;
		return -ENOMEM;
	}
	cfg->nr_errors = 1;
	return err;
}

int engine_config_load(struct engine_config *cfg, const char *path)
{
	char *buf = NULL, *grown;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cfg_io_error(cfg, path, -errno);
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			if (cap > CFG_FILE_MAX + 1)
				cap = CFG_FILE_MAX + 1;
			if (len == cap) {
				ret = cfg_io_error(cfg, path, -EFBIG);
				goto err_free;
			}
			grown = realloc(buf, cap);
			if (!grown) {
				ret = -ENOMEM;
				goto err_free;
			}
			buf = grown;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = cfg_io_error(cfg, path, -errno);
			goto err_free;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	ret = engine_config_load_buffer(cfg, path, buf ? buf : "", len);
	free(buf);
	return ret;
err_free:
	free(buf);
	close(fd);
	return ret;
}

size_t engine_config_error_count(const struct engine_config *cfg)
{
	return cfg->nr_errors;
}

const char *engine_config_error(const struct engine_config *cfg, size_t i)
{
	return i < cfg->nr_errors ? cfg->errors[i] : NULL;
}

bool engine_config_same_sensors(const struct engine_config *a,
				const struct engine_config *b)
{
	size_t i;

	if (a->nr_sensors != b->nr_sensors)
		return false;
	for (i = 0; i < a->nr_sensors; i++) {
		if (strcmp(a->sensors[i].name, b->sensors[i].name) != 0 ||
		    strcmp(a->sensors[i].unit, b->sensors[i].unit) != 0)
			return false;
	}
	return true;
}

const char *engine_config_source_kind_name(enum engine_config_source_kind k)
{
	switch (k) {
	case ENGINE_CONFIG_SOURCE_FILE:
		return "file";
	case ENGINE_CONFIG_SOURCE_STREAM:
		return "stream";
	case ENGINE_CONFIG_SOURCE_TCP:
		return "tcp";
	case ENGINE_CONFIG_SOURCE_UNIX:
		return "unix";
	case ENGINE_CONFIG_SOURCE_UDP:
		return "udp";
	}
	return "?";
}

const char *engine_config_jitter_name(enum engine_config_jitter j)
{
	switch (j) {
	case ENGINE_CONFIG_JITTER_NONE:
		return "none";
	case ENGINE_CONFIG_JITTER_FULL:
		return "full";
	case ENGINE_CONFIG_JITTER_EQUAL:
		return "equal";
	case ENGINE_CONFIG_JITTER_DECORRELATED:
		return "decorrelated";
	}
	return "?";
}
