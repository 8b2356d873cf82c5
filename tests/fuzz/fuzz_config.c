/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c - libFuzzer target for the INI configuration parser,
 * engine/config.c through libinih.
 *
 * The input is a whole configuration file, which may hold any byte (NULs,
 * CRs, a BOM, lines longer than libinih's buffer) and is not NUL-terminated:
 * engine_config_load_buffer() must read only data[0..len).  Besides the
 * sanitizers, the target checks what the header promises of a load:
 *   - it returns 0, -EINVAL or -ENOMEM;
 *   - 0 leaves no message, at least one sensor with a valid name, a ring
 *     that is a power of two, a deadline within the period, min <= max;
 *   - -EINVAL leaves at least one message, each "fuzz.ini:..." with no
 *     newline, sorted by line number;
 *   - loading the same text twice gives the same result (the second load
 *     also frees what the first one left).
 * A broken promise calls __builtin_trap() so that libFuzzer reports it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define FUZZ_FILE "fuzz.ini"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

static bool name_ok(const char *s, bool dot)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > ENGINE_CONFIG_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      (dot && c == '.')))
			return false;
	}
	return true;
}

/* The line number of "fuzz.ini:LINE: ...", or 0 for "fuzz.ini: ...". */
static unsigned long message_line(const char *msg)
{
	size_t n = strlen(FUZZ_FILE);

	check(strncmp(msg, FUZZ_FILE, n) == 0 && msg[n] == ':');
	check(strchr(msg, '\n') == NULL);
	if (msg[n + 1] < '0' || msg[n + 1] > '9')
		return 0;
	return strtoul(msg + n + 1, NULL, 10);
}

static void check_success(const struct engine_config *cfg)
{
	size_t i;

	check(engine_config_error_count(cfg) == 0);
	check(engine_config_error(cfg, 0) == NULL);
	check(name_ok(cfg->name, false));
	check(cfg->nr_sensors >= 1 &&
	      cfg->nr_sensors <= ENGINE_CONFIG_SENSORS_MAX);
	check(cfg->ring >= 2 && cfg->ring <= 65536 &&
	      (cfg->ring & (cfg->ring - 1)) == 0);
	check(cfg->deadline_ns >= 1000000 &&
	      cfg->deadline_ns <= cfg->period_ns);
	check((cfg->shm_mode & ~0777u) == 0);
	for (i = 0; i < cfg->nr_sensors; i++) {
		const struct engine_config_sensor *s = &cfg->sensors[i];

		check(name_ok(s->name, true));
		check(s->index == i);
		check(strlen(s->unit) <= ENGINE_CONFIG_UNIT_MAX);
		check(s->request_len <= ENGINE_CONFIG_REQUEST_MAX);
		check(!(s->value.min > s->value.max));
		check(s->retry_base_ns <= s->retry_max_ns);
		check(s->retry_attempts >= 1 && s->retry_attempts <= 100);
	}
	check(engine_config_same_sensors(cfg, cfg));
}

static void check_failure(const struct engine_config *cfg)
{
	size_t i, n = engine_config_error_count(cfg);
	unsigned long prev = 0;

	check(n >= 1 && n <= ENGINE_CONFIG_ERRORS_MAX + 1);
	check(cfg->nr_sensors == 0 && cfg->sensors == NULL);
	for (i = 0; i < n; i++) {
		const char *msg = engine_config_error(cfg, i);
		unsigned long line;

		check(msg != NULL);
		line = message_line(msg);
		/* The count of messages not kept comes last, without line. */
		if (line == 0 && i == n - 1 && strstr(msg, "not shown"))
			continue;
		check(line >= prev);
		prev = line;
	}
	check(engine_config_error(cfg, n) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct engine_config cfg;
	size_t errors;
	int ret, again;

	engine_config_init(&cfg);
	ret = engine_config_load_buffer(&cfg, FUZZ_FILE, (const char *)data,
					len);
	check(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	if (ret == 0)
		check_success(&cfg);
	else if (ret == -EINVAL)
		check_failure(&cfg);
	errors = engine_config_error_count(&cfg);

	/* A second load into the same config frees the first one's. */
	again = engine_config_load_buffer(&cfg, FUZZ_FILE, (const char *)data,
					  len);
	if (ret != -ENOMEM && again != -ENOMEM) {
		check(again == ret);
		check(engine_config_error_count(&cfg) == errors);
	}
	engine_config_exit(&cfg);
	return 0;
}
