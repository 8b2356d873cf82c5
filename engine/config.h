/* SPDX-License-Identifier: MIT */
/*
 * config.h - the INI configuration of ringsided.
 *
 * engine_config_load() reads a file such as
 *
 *	[engine]
 *	name = plant1
 *	period = 100ms
 *
 *	[defaults]
 *	timeout = 50ms
 *
 *	[sensor s0]
 *	source = file:/sys/class/hwmon/hwmon0/temp1_input
 *	scale = 0.001
 *	unit = C
 *
 * into a struct engine_config: the engine settings and an array of sensors
 * in file order, every key resolved (own value, else [defaults], else the
 * built-in default). Nothing is half-accepted: either the whole file is
 * valid, or the load fails and every problem found is kept, in line order, as
 * a "FILE:LINE: message" string for `ringsided --check` and SIGHUP to print.
 *
 * Keys of [engine]:      name, period, deadline, ring, shm_mode.
 * Keys of [sensor NAME]: source, request, line, field, offset, scale, min,
 *   max, unit, serial, max_age, timeout, retry_attempts, retry_base,
 *   retry_max, retry_jitter, breaker_failures, breaker_window,
 *   breaker_reset, breaker_probes.
 * [defaults] takes every sensor key except source. It applies to every
 * sensor wherever it appears in the file; a sensor's own key wins. A default
 * that does not apply to a sensor's kind of source (request, line, serial)
 * is ignored for that sensor; the same key set in the sensor's own section
 * is an error.
 *
 * Durations are a decimal number with a unit: us, ms, s, m or h ("1.5s");
 * a bare number is milliseconds. Lines are limited to what libinih can hold
 * (198 bytes); leading blanks are ignored (there are no continuation lines).
 *
 * Loading allocates (the sensor array, the messages); it is not a hot path.
 * The config owns everything it points to until engine_config_exit().
 */
#ifndef ENGINE_CONFIG_H
#define ENGINE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>

#include "value.h"

#define ENGINE_CONFIG_NAME_MAX 32     /* engine and sensor names, bytes */
#define ENGINE_CONFIG_UNIT_MAX 23     /* unit text, bytes */
#define ENGINE_CONFIG_PATH_MAX 256    /* file:, stream:, unix: paths */
#define ENGINE_CONFIG_HOST_MAX 256    /* tcp:, udp: hosts */
#define ENGINE_CONFIG_REQUEST_MAX 256 /* decoded request bytes */
#define ENGINE_CONFIG_SENSORS_MAX 16384
#define ENGINE_CONFIG_ERRORS_MAX 1000 /* messages kept; the rest counted */

enum engine_config_source_kind {
	ENGINE_CONFIG_SOURCE_FILE,   /* file:PATH, read whole each tick */
	ENGINE_CONFIG_SOURCE_STREAM, /* stream:PATH, FIFO, tty, char device */
	ENGINE_CONFIG_SOURCE_TCP,    /* tcp:HOST:PORT */
	ENGINE_CONFIG_SOURCE_UNIX,   /* unix:PATH, a stream socket */
	ENGINE_CONFIG_SOURCE_UDP,    /* udp:HOST:PORT, bound by the engine */
};

struct engine_config_source {
	enum engine_config_source_kind kind;
	/* file, stream, unix: the path; empty for tcp and udp. */
	char path[ENGINE_CONFIG_PATH_MAX];
	/*
	 * tcp, udp: a host name, an IPv4 address or an IPv6 address (the
	 * brackets of "[::1]" removed, a "%zone" kept), ready for
	 * getaddrinfo(); empty for the others.
	 */
	char host[ENGINE_CONFIG_HOST_MAX];
	uint16_t port; /* tcp, udp: 1 to 65535; 0 for the others */
};

enum engine_config_jitter {
	ENGINE_CONFIG_JITTER_NONE,
	ENGINE_CONFIG_JITTER_FULL,
	ENGINE_CONFIG_JITTER_EQUAL,
	ENGINE_CONFIG_JITTER_DECORRELATED,
};

/* `serial = 9600 8N1`: raw mode at those settings, for a tty stream. */
struct engine_config_serial {
	bool set;	   /* false: leave the tty as it is */
	uint32_t baud;	   /* 9600 */
	speed_t speed;	   /* B9600, for cfsetispeed()/cfsetospeed() */
	uint8_t data_bits; /* 5 to 8 */
	char parity;	   /* 'N', 'E' or 'O' */
	uint8_t stop_bits; /* 1 or 2 */
};

struct engine_config_sensor {
	char name[ENGINE_CONFIG_NAME_MAX + 1];
	size_t index;		/* position in the file and in every batch */
	unsigned int decl_line; /* line of its [sensor NAME] header */
	struct engine_config_source source;
	/*
	 * tcp and unix: the bytes sent each tick, C escapes decoded (so they
	 * may include NUL); request_len 0 means push mode.
	 */
	char request[ENGINE_CONFIG_REQUEST_MAX];
	size_t request_len;
	/* line (file only), field, offset, scale, min, max. */
	struct engine_value_spec value;
	char unit[ENGINE_CONFIG_UNIT_MAX + 1];
	struct engine_config_serial serial;	/* stream only */
	uint64_t max_age_ns;			/* default: the period */
	uint64_t timeout_ns;			/* 50ms */
	uint32_t retry_attempts;		/* 4, 1 to 100 */
	uint64_t retry_base_ns;			/* 100ms */
	uint64_t retry_max_ns;			/* 2s, >= retry_base_ns */
	enum engine_config_jitter retry_jitter; /* full */
	uint32_t breaker_failures;		/* 3, 1 to 1000 */
	uint64_t breaker_window_ns;		/* 5s */
	uint64_t breaker_reset_ns;		/* 5s */
	uint32_t breaker_probes;		/* 1, 1 to 100 */
};

struct engine_config {
	char name[ENGINE_CONFIG_NAME_MAX + 1]; /* segment ringside.NAME */
	uint64_t period_ns;		       /* 1ms to 1h, default 100ms */
	uint64_t deadline_ns; /* 1ms to period, default period */
	uint32_t ring;	      /* power of two, 2 to 65536 */
	mode_t shm_mode;      /* default 0640 */
	struct engine_config_sensor *sensors; /* nr_sensors, in file order */
	size_t nr_sensors;

	/*
	 * Problems found by the last load, sorted by line. Past
	 * ENGINE_CONFIG_ERRORS_MAX the last message says how many more there
	 * were.
	 */
	char **errors;
	size_t nr_errors;
};

/* Make cfg empty, ready for a load. Cannot fail. */
void engine_config_init(struct engine_config *cfg);

/* Free everything cfg holds; it can then be initialised again. */
void engine_config_exit(struct engine_config *cfg);

/*
 * Load the file at path into cfg, replacing whatever it held. Returns 0 on
 * success; -EINVAL when the file has problems (see engine_config_error()),
 * in which case the settings and sensors are cleared; -errno when the file
 * cannot be read (one "FILE: reason" message is kept too); -ENOMEM.
 */
int engine_config_load(struct engine_config *cfg, const char *path);

/*
 * As engine_config_load(), from the NUL-terminated text; name is used in
 * messages. Returns 0, -EINVAL or -ENOMEM.
 */
int engine_config_load_string(struct engine_config *cfg, const char *name,
			      const char *text);

/* As engine_config_load_string() for text[0..len), which may hold NULs. */
int engine_config_load_buffer(struct engine_config *cfg, const char *name,
			      const char *text, size_t len);

/* The number of messages left by the last load; 0 after a success. */
size_t engine_config_error_count(const struct engine_config *cfg);

/*
 * Problem i (0-based, below nr_errors) as "FILE:LINE: message", owned by
 * cfg; NULL when i is out of range.
 */
const char *engine_config_error(const struct engine_config *cfg, size_t i);

/*
 * True when a and b have the same sensors: same count, and the same names
 * and units in the same order. The engine keeps its segment on a reload when
 * this holds, and publishes a new one otherwise.
 */
bool engine_config_same_sensors(const struct engine_config *a,
				const struct engine_config *b);

/* "file", "stream", "tcp", "unix", "udp". */
const char *engine_config_source_kind_name(enum engine_config_source_kind k);

/* "none", "full", "equal", "decorrelated". */
const char *engine_config_jitter_name(enum engine_config_jitter j);

/*
 * Parse a duration ("250ms", "1.5s", "2m", "100" = 100ms) into
 * nanoseconds. Returns 0, or -EINVAL (junk, sign, no digits) or -ERANGE
 * (more than UINT64_MAX nanoseconds).
 */
int engine_config_parse_duration(const char *text, uint64_t *ns);

#endif
