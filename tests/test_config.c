/* SPDX-License-Identifier: MIT */
/*
 * test_config.c - engine/config.c reads the INI configuration of SPEC.md:
 * a full file gives exact values, omitted keys their defaults, [defaults]
 * applies to every sensor (its own key wins), and every problem - unknown
 * keys and sections, bad values, out-of-range numbers, duplicates, bad names
 * and sources - is reported as "FILE:LINE: message", all of them, each on
 * its line.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "config.h"

#define MS 1000000ULL
#define SEC 1000000000ULL

static struct engine_config cfg;

static void setup(void)
{
	engine_config_init(&cfg);
}

static void teardown(void)
{
	engine_config_exit(&cfg);
}

TestSuite(config, .init = setup, .fini = teardown);

/* The two lines of a minimal [engine], and a minimal sensor after it. */
#define ENGINE "[engine]\nname = e\n"
#define SENSOR "[sensor s]\nsource = file:/x\n"

static int load(const char *text)
{
	return engine_config_load_string(&cfg, "t.ini", text);
}

static void dump_errors(void)
{
	size_t i;

	for (i = 0; i < engine_config_error_count(&cfg); i++)
		cr_log_info("%s", engine_config_error(&cfg, i));
}

static void load_ok(const char *text)
{
	int ret = load(text);

	if (ret != 0)
		dump_errors();
	cr_assert_eq(ret, 0, "load returned %d", ret);
	cr_assert_eq(engine_config_error_count(&cfg), 0);
}

/* Problem i is at line and says needle. */
static void expect_error(size_t i, unsigned int line, const char *needle)
{
	char prefix[32];
	const char *msg = engine_config_error(&cfg, i);

	cr_assert_not_null(msg, "no problem %zu", i);
	snprintf(prefix, sizeof(prefix), "t.ini:%u: ", line);
	cr_assert(strncmp(msg, prefix, strlen(prefix)) == 0,
		  "'%s' is not at line %u", msg, line);
	cr_assert(strstr(msg, needle), "'%s' does not say '%s'", msg, needle);
}

Test(config, reads_a_full_file_with_exact_values)
{
	const struct engine_config_sensor *s;

	load_ok("; ringside test configuration\n"
		"# another comment\n"
		"[engine]\n"
		"name = plant-1_a          ; segment name\n"
		"period = 250ms\n"
		"deadline = 200ms\n"
		"ring = 4096\n"
		"shm_mode = 0600\n"
		"\n"
		"[sensor temp.0]\n"
		"source = file:/sys/class/hwmon/hwmon0/temp1_input\n"
		"line = 2\n"
		"field = 1\n"
		"offset = -12.5\n"
		"scale = 0.001\n"
		"min = -40\n"
		"max = 125\n"
		"unit = °C\n"
		"max_age = 1s\n"
		"timeout = 20ms\n"
		"retry_attempts = 7\n"
		"retry_base = 10ms\n"
		"retry_max = 1.5s\n"
		"retry_jitter = decorrelated\n"
		"breaker_failures = 9\n"
		"breaker_window = 1m\n"
		"breaker_reset = 30s\n"
		"breaker_probes = 2\n"
		"[sensor tty]\n"
		"source = stream:/dev/ttyUSB0\n"
		"serial = 115200 7e2\n"
		"[sensor rpc]\n"
		"source = tcp:[::1]:7000\n"
		"request = READ\\r\\n\n"
		"[sensor sock]\n"
		"source = unix:/run/meter.sock\n"
		"[sensor dgram]\n"
		"source = udp:0.0.0.0:9999\n");

	cr_assert_str_eq(cfg.name, "plant-1_a");
	cr_assert_eq(cfg.period_ns, 250 * MS);
	cr_assert_eq(cfg.deadline_ns, 200 * MS);
	cr_assert_eq(cfg.ring, 4096);
	cr_assert_eq(cfg.shm_mode, 0600);
	cr_assert_eq(cfg.nr_sensors, 5);

	s = &cfg.sensors[0];
	cr_assert_str_eq(s->name, "temp.0");
	cr_assert_eq(s->index, 0);
	cr_assert_eq(s->decl_line, 10);
	cr_assert_eq(s->source.kind, ENGINE_CONFIG_SOURCE_FILE);
	cr_assert_str_eq(s->source.path, "/sys/class/hwmon/hwmon0/temp1_input");
	cr_assert_eq(s->request_len, 0);
	cr_assert_eq(s->value.line, 2);
	cr_assert_eq(s->value.field, 1);
	cr_assert_eq(s->value.offset, -12.5);
	cr_assert_eq(s->value.scale, 0.001);
	cr_assert_eq(s->value.min, -40.0);
	cr_assert_eq(s->value.max, 125.0);
	cr_assert_str_eq(s->unit, "°C");
	cr_assert_not(s->serial.set);
	cr_assert_eq(s->max_age_ns, 1 * SEC);
	cr_assert_eq(s->timeout_ns, 20 * MS);
	cr_assert_eq(s->retry_attempts, 7);
	cr_assert_eq(s->retry_base_ns, 10 * MS);
	cr_assert_eq(s->retry_max_ns, 1500 * MS);
	cr_assert_eq(s->retry_jitter, ENGINE_CONFIG_JITTER_DECORRELATED);
	cr_assert_eq(s->breaker_failures, 9);
	cr_assert_eq(s->breaker_window_ns, 60 * SEC);
	cr_assert_eq(s->breaker_reset_ns, 30 * SEC);
	cr_assert_eq(s->breaker_probes, 2);

	s = &cfg.sensors[1];
	cr_assert_str_eq(s->name, "tty");
	cr_assert_eq(s->index, 1);
	cr_assert_eq(s->source.kind, ENGINE_CONFIG_SOURCE_STREAM);
	cr_assert_str_eq(s->source.path, "/dev/ttyUSB0");
	cr_assert(s->serial.set);
	cr_assert_eq(s->serial.baud, 115200);
	cr_assert_eq(s->serial.speed, B115200);
	cr_assert_eq(s->serial.data_bits, 7);
	cr_assert_eq(s->serial.parity, 'E');
	cr_assert_eq(s->serial.stop_bits, 2);

	s = &cfg.sensors[2];
	cr_assert_eq(s->source.kind, ENGINE_CONFIG_SOURCE_TCP);
	cr_assert_str_eq(s->source.host, "::1");
	cr_assert_eq(s->source.port, 7000);
	cr_assert_eq(s->request_len, 6);
	cr_assert(memcmp(s->request, "READ\r\n", 6) == 0);

	s = &cfg.sensors[3];
	cr_assert_eq(s->source.kind, ENGINE_CONFIG_SOURCE_UNIX);
	cr_assert_str_eq(s->source.path, "/run/meter.sock");

	s = &cfg.sensors[4];
	cr_assert_eq(s->index, 4);
	cr_assert_eq(s->source.kind, ENGINE_CONFIG_SOURCE_UDP);
	cr_assert_str_eq(s->source.host, "0.0.0.0");
	cr_assert_eq(s->source.port, 9999);
}

Test(config, omitted_keys_take_their_defaults)
{
	const struct engine_config_sensor *s;

	load_ok(ENGINE SENSOR);
	cr_assert_str_eq(cfg.name, "e");
	cr_assert_eq(cfg.period_ns, 100 * MS);
	cr_assert_eq(cfg.deadline_ns, 100 * MS);
	cr_assert_eq(cfg.ring, 1024);
	cr_assert_eq(cfg.shm_mode, 0640);
	cr_assert_eq(cfg.nr_sensors, 1);
	s = &cfg.sensors[0];
	cr_assert_eq(s->value.line, 0);
	cr_assert_eq(s->value.field, 0);
	cr_assert_eq(s->value.offset, 0.0);
	cr_assert_eq(s->value.scale, 1.0);
	cr_assert(isinf(s->value.min) && s->value.min < 0);
	cr_assert(isinf(s->value.max) && s->value.max > 0);
	cr_assert_str_eq(s->unit, "");
	cr_assert_eq(s->request_len, 0);
	cr_assert_eq(s->max_age_ns, 100 * MS);
	cr_assert_eq(s->timeout_ns, 50 * MS);
	cr_assert_eq(s->retry_attempts, 4);
	cr_assert_eq(s->retry_base_ns, 100 * MS);
	cr_assert_eq(s->retry_max_ns, 2 * SEC);
	cr_assert_eq(s->retry_jitter, ENGINE_CONFIG_JITTER_FULL);
	cr_assert_eq(s->breaker_failures, 3);
	cr_assert_eq(s->breaker_window_ns, 5 * SEC);
	cr_assert_eq(s->breaker_reset_ns, 5 * SEC);
	cr_assert_eq(s->breaker_probes, 1);
}

Test(config, deadline_and_max_age_follow_the_period)
{
	load_ok("[engine]\nname = e\nperiod = 2s\n" SENSOR);
	cr_assert_eq(cfg.deadline_ns, 2 * SEC);
	cr_assert_eq(cfg.sensors[0].max_age_ns, 2 * SEC);
}

Test(config, defaults_apply_to_every_sensor_and_own_keys_win)
{
	load_ok("[sensor a]\nsource = file:/a\n"
		"[defaults]\n"
		"timeout = 10ms\n"
		"scale = 2\n"
		"unit = V\n"
		"request = PING\\n\n"
		"line = 3\n"
		"max_age = 7s\n" ENGINE
		"[sensor b]\nsource = tcp:localhost:80\ntimeout = 30ms\n"
		"[sensor c]\nsource = unix:/s\nrequest = GET\n");
	cr_assert_eq(cfg.nr_sensors, 3);
	/* a comes before [defaults] and still gets them. */
	cr_assert_eq(cfg.sensors[0].timeout_ns, 10 * MS);
	cr_assert_eq(cfg.sensors[0].value.scale, 2.0);
	cr_assert_str_eq(cfg.sensors[0].unit, "V");
	cr_assert_eq(cfg.sensors[0].max_age_ns, 7 * SEC);
	cr_assert_eq(cfg.sensors[0].value.line, 3);
	/* A request default is not for a file sensor. */
	cr_assert_eq(cfg.sensors[0].request_len, 0);

	cr_assert_eq(cfg.sensors[1].timeout_ns, 30 * MS);
	cr_assert_eq(cfg.sensors[1].value.scale, 2.0);
	cr_assert_eq(cfg.sensors[1].request_len, 5);
	cr_assert(memcmp(cfg.sensors[1].request, "PING\n", 5) == 0);
	/* line is for file sensors only. */
	cr_assert_eq(cfg.sensors[1].value.line, 0);

	cr_assert_eq(cfg.sensors[2].request_len, 3);
	cr_assert(memcmp(cfg.sensors[2].request, "GET", 3) == 0);
}

Test(config, accepts_comments_blanks_indentation_crlf_and_a_bom)
{
	load_ok("\xEF\xBB\xBF; comment\r\n"
		"[engine]   ; inline comment after a header\r\n"
		"   name = e\r\n"
		"\tperiod = 300ms ; a comment\r\n"
		"\r\n"
		"[ sensor   s ]\r\n"
		"  source = file:/a;b\r\n"
		"  unit = a;b\r\n"
		"  scale = 3\r\n");
	cr_assert_eq(cfg.period_ns, 300 * MS);
	cr_assert_str_eq(cfg.sensors[0].name, "s");
	cr_assert_str_eq(cfg.sensors[0].source.path, "/a;b");
	cr_assert_str_eq(cfg.sensors[0].unit, "a;b");
	cr_assert_eq(cfg.sensors[0].value.scale, 3.0);
}

Test(config, decodes_c_escapes_in_requests)
{
	load_ok(ENGINE
		"[sensor s]\nsource = tcp:10.0.0.1:1\n"
		"request = a\\r\\n\\t\\\\\\\"\\'\\x41\\x7\\0\\101\\1772\n");
	cr_assert_eq(cfg.sensors[0].request_len, 13);
	cr_assert(memcmp(cfg.sensors[0].request, "a\r\n\t\\\"'A\x07\0A\1772",
			 13) == 0);
}

/*
 * Parameters hold arrays, not pointers: Criterion runs each case in a fresh
 * process where the parent's addresses mean nothing.
 */
struct source_case {
	char text[48];
	enum engine_config_source_kind kind;
	char path[32], host[32];
	unsigned port;
};

ParameterizedTestParameters(config, parses_every_kind_of_source)
{
	static struct source_case cases[] = {
		{ "file:/proc/loadavg", ENGINE_CONFIG_SOURCE_FILE,
		  "/proc/loadavg", "", 0 },
		{ "file:rel/a:b", ENGINE_CONFIG_SOURCE_FILE, "rel/a:b", "", 0 },
		{ "stream:/tmp/fifo", ENGINE_CONFIG_SOURCE_STREAM, "/tmp/fifo",
		  "", 0 },
		{ "unix:/run/x.sock", ENGINE_CONFIG_SOURCE_UNIX, "/run/x.sock",
		  "", 0 },
		{ "tcp:localhost:80", ENGINE_CONFIG_SOURCE_TCP, "", "localhost",
		  80 },
		{ "tcp:sensor-1.example.org:65535", ENGINE_CONFIG_SOURCE_TCP,
		  "", "sensor-1.example.org", 65535 },
		{ "tcp:127.0.0.1:1", ENGINE_CONFIG_SOURCE_TCP, "", "127.0.0.1",
		  1 },
		{ "udp:[::]:9000", ENGINE_CONFIG_SOURCE_UDP, "", "::", 9000 },
		{ "udp:[fe80::1%eth0]:9001", ENGINE_CONFIG_SOURCE_UDP, "",
		  "fe80::1%eth0", 9001 },
		{ "tcp:[2001:db8::7]:443", ENGINE_CONFIG_SOURCE_TCP, "",
		  "2001:db8::7", 443 },
	};
	return cr_make_param_array(struct source_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct source_case *c, config, parses_every_kind_of_source)
{
	char text[256];

	snprintf(text, sizeof(text), ENGINE "[sensor s]\nsource = %s\n",
		 c->text);
	load_ok(text);
	cr_assert_eq(cfg.sensors[0].source.kind, c->kind);
	cr_assert_str_eq(cfg.sensors[0].source.path, c->path);
	cr_assert_str_eq(cfg.sensors[0].source.host, c->host);
	cr_assert_eq(cfg.sensors[0].source.port, c->port);
}

struct duration_case {
	char text[32];
	int ret;
	uint64_t ns;
};

ParameterizedTestParameters(config, parses_durations)
{
	static struct duration_case cases[] = {
		{ "100", 0, 100 * MS },
		{ "0", 0, 0 },
		{ "250us", 0, 250000 },
		{ "5ms", 0, 5 * MS },
		{ "1.5s", 0, 1500 * MS },
		{ ".5ms", 0, 500000 },
		{ "2.", 0, 2 * MS },
		{ "2m", 0, 120 * SEC },
		{ "1h", 0, 3600 * SEC },
		{ "0.0000000015s", 0, 1 },
		{ "18446744073709551615us", -ERANGE, 0 },
		{ "99999999999999999999999", -ERANGE, 0 },
		{ "5124096h", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "ms", -EINVAL, 0 },
		{ ".", -EINVAL, 0 },
		{ "-1s", -EINVAL, 0 },
		{ "+1s", -EINVAL, 0 },
		{ "1 s", -EINVAL, 0 },
		{ "1d", -EINVAL, 0 },
		{ "1ns", -EINVAL, 0 },
		{ "1S", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "1.2.3", -EINVAL, 0 },
		{ "10msx", -EINVAL, 0 },
	};
	return cr_make_param_array(struct duration_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct duration_case *c, config, parses_durations)
{
	uint64_t ns = 12345;
	int ret = engine_config_parse_duration(c->text, &ns);

	cr_assert_eq(ret, c->ret, "'%s': %d", c->text, ret);
	if (c->ret == 0)
		cr_assert_eq(ns, c->ns, "'%s': %llu", c->text,
			     (unsigned long long)ns);
}

/* A file with exactly one problem, on a known line. */
struct error_case {
	char text[256];
	unsigned int line;
	char needle[64];
};

ParameterizedTestParameters(config, reports_each_problem_at_its_line)
{
	static struct error_case cases[] = {
		/* Keys and sections */
		{ ENGINE "speed = 3\n" SENSOR, 3,
		  "unknown key 'speed' in [engine]" },
		{ ENGINE SENSOR "colour = red\n", 5,
		  "unknown key 'colour' in [sensor s]" },
		{ ENGINE "[defaults]\nperiod = 1s\n" SENSOR, 4,
		  "unknown key 'period' in [defaults]" },
		{ ENGINE "[foo]\nx = 1\n" SENSOR, 3, "unknown section [foo]" },
		{ ENGINE "[Engine]\n" SENSOR, 3, "unknown section [Engine]" },
		{ "x = 1\n" ENGINE SENSOR, 1, "outside any section" },
		{ ENGINE "name\n" SENSOR, 3, "expected 'key = value'" },
		{ ENGINE "= 5\n" SENSOR, 3, "missing key" },
		{ ENGINE "[sensor s\nsource = file:/y\n" SENSOR, 3,
		  "without ']'" },
		{ ENGINE "[sensor t] x\nsource = file:/y\n" SENSOR, 3,
		  "unexpected text after ']'" },
		{ ENGINE "period = 1s\nperiod = 2s\n" SENSOR, 4,
		  "duplicate key 'period' (first at line 3)" },
		{ ENGINE SENSOR "source = file:/y\n", 5,
		  "duplicate key 'source' (first at line 4)" },
		{ ENGINE SENSOR "[sensor s]\nsource = file:/y\n", 5,
		  "duplicate sensor 's' (first at line 3)" },
		{ ENGINE "[engine]\nname = f\n" SENSOR, 3,
		  "duplicate section [engine] (first at line 1)" },
		{ ENGINE "[defaults]\n[defaults]\n" SENSOR, 4,
		  "duplicate section [defaults] (first at line 3)" },
		{ ENGINE "[defaults]\nsource = file:/x\n" SENSOR, 4,
		  "source cannot be set in [defaults]" },
		/* Names */
		{ "[engine]\nperiod = 1s\n" SENSOR, 1,
		  "[engine] needs a name" },
		{ "[engine]\nname = a.b\n" SENSOR, 2,
		  "not a valid engine name" },
		{ "[engine]\nname = 123456789012345678901234567890123\n" SENSOR,
		  2, "not a valid engine name" },
		{ "[engine]\nname =\n" SENSOR, 2, "not a valid engine name" },
		{ ENGINE "[sensor a b]\nsource = file:/x\n", 3,
		  "'a b' is not a valid sensor name" },
		{ ENGINE "[sensor a/b]\nsource = file:/x\n", 3,
		  "not a valid sensor name" },
		{ ENGINE "[sensor 123456789012345678901234567890123]\n"
			 "source = file:/x\n",
		  3, "not a valid sensor name" },
		{ ENGINE "[sensor]\nsource = file:/x\n", 3,
		  "[sensor] needs a name" },
		{ SENSOR, 1, "missing [engine] section" },
		{ ENGINE "[sensor s]\nunit = C\n", 3,
		  "sensor 's' has no source" },
		{ ENGINE, 1, "no sensor" },
		/* Engine values */
		{ "[engine]\nname = e\nperiod = 0\n" SENSOR, 3,
		  "period: '0' is out of range (1ms to 1h)" },
		{ "[engine]\nname = e\nperiod = 999us\n" SENSOR, 3,
		  "out of range" },
		{ "[engine]\nname = e\nperiod = 2h\n" SENSOR, 3,
		  "out of range" },
		{ "[engine]\nname = e\nperiod = 61m\n" SENSOR, 3,
		  "out of range" },
		{ "[engine]\nname = e\nperiod = -5ms\n" SENSOR, 3,
		  "is not a duration" },
		{ "[engine]\nname = e\nperiod = 10 parsecs\n" SENSOR, 3,
		  "is not a duration" },
		{ "[engine]\nname = e\nperiod = 99999999999999999999\n" SENSOR,
		  3, "out of range" },
		{ "[engine]\nname = e\ndeadline = 200ms\n" SENSOR, 3,
		  "deadline: longer than the period" },
		{ "[engine]\nname = e\ndeadline = 2s\nperiod = 1s\n" SENSOR, 3,
		  "deadline: longer than the period" },
		{ "[engine]\nname = e\ndeadline = 0\n" SENSOR, 3,
		  "out of range" },
		{ "[engine]\nname = e\nring = 3\n" SENSOR, 3,
		  "ring: '3' is not a power of two from 2 to 65536" },
		{ "[engine]\nname = e\nring = 1\n" SENSOR, 3, "power of two" },
		{ "[engine]\nname = e\nring = 0\n" SENSOR, 3, "power of two" },
		{ "[engine]\nname = e\nring = 131072\n" SENSOR, 3,
		  "power of two" },
		{ "[engine]\nname = e\nring = -2\n" SENSOR, 3, "power of two" },
		{ "[engine]\nname = e\nshm_mode = 0999\n" SENSOR, 3,
		  "not an octal mode" },
		{ "[engine]\nname = e\nshm_mode = 01640\n" SENSOR, 3,
		  "not an octal mode" },
		{ "[engine]\nname = e\nshm_mode = rw\n" SENSOR, 3,
		  "not an octal mode" },
		/* Sensor numbers */
		{ ENGINE SENSOR "breaker_probes = 0\n", 5,
		  "breaker_probes: '0' is out of range (1 to 100)" },
		{ ENGINE SENSOR "breaker_probes = 101\n", 5, "out of range" },
		{ ENGINE SENSOR "breaker_failures = 0\n", 5, "out of range" },
		{ ENGINE SENSOR "breaker_failures = 1001\n", 5,
		  "out of range" },
		{ ENGINE SENSOR "retry_attempts = 0\n", 5, "out of range" },
		{ ENGINE SENSOR "retry_attempts = 101\n", 5, "out of range" },
		{ ENGINE SENSOR "retry_attempts = 4x\n", 5,
		  "not a whole number" },
		{ ENGINE SENSOR "retry_attempts = 99999999999999999999999\n", 5,
		  "out of range" },
		{ ENGINE SENSOR "field = -1\n", 5, "not a whole number" },
		{ ENGINE SENSOR "field = 1.5\n", 5, "not a whole number" },
		{ ENGINE SENSOR "line = 65536\n", 5, "out of range" },
		{ ENGINE SENSOR "timeout = 0\n", 5, "out of range" },
		{ ENGINE SENSOR "timeout = 2h\n", 5, "out of range" },
		{ ENGINE SENSOR "timeout = soon\n", 5, "not a duration" },
		{ ENGINE SENSOR "breaker_reset = 25h\n", 5, "out of range" },
		{ ENGINE SENSOR "max_age = 0ms\n", 5, "out of range" },
		{ ENGINE SENSOR "scale = nan\n", 5,
		  "scale: 'nan' is not a finite decimal number" },
		{ ENGINE SENSOR "offset = inf\n", 5, "not a finite" },
		{ ENGINE SENSOR "scale = 0x10\n", 5, "not a finite" },
		{ ENGINE SENSOR "min = 1e999\n", 5, "not a finite" },
		{ ENGINE SENSOR "max =\n", 5, "not a finite" },
		{ ENGINE SENSOR "min = 10\nmax = 5\n", 6,
		  "min (10) is greater than max (5)" },
		{ ENGINE SENSOR "retry_base = 3s\n", 5,
		  "retry_max is shorter than retry_base" },
		{ ENGINE SENSOR "retry_max = 1s\nretry_base = 1500ms\n", 6,
		  "retry_max is shorter than retry_base" },
		{ ENGINE SENSOR "retry_jitter = random\n", 5,
		  "not one of none, full, equal, decorrelated" },
		{ ENGINE SENSOR "unit = 123456789012345678901234\n", 5,
		  "longer than 23 bytes" },
		{ ENGINE SENSOR "unit = a\x01z\n", 5, "control characters" },
		/* Sources */
		{ ENGINE "[sensor s]\nsource = ftp:/x\n", 4,
		  "source: unknown kind 'ftp'" },
		{ ENGINE "[sensor s]\nsource = /dev/ttyS0\n", 4,
		  "is not KIND:ADDRESS" },
		{ ENGINE "[sensor s]\nsource = file:\n", 4, "missing path" },
		{ ENGINE "[sensor s]\nsource = tcp:localhost\n", 4,
		  "expected tcp:HOST:PORT" },
		{ ENGINE "[sensor s]\nsource = tcp::80\n", 4, "missing host" },
		{ ENGINE "[sensor s]\nsource = tcp:h:0\n", 4,
		  "'0' is not a port (1 to 65535)" },
		{ ENGINE "[sensor s]\nsource = tcp:h:65536\n", 4,
		  "is not a port" },
		{ ENGINE "[sensor s]\nsource = udp:h:http\n", 4,
		  "is not a port" },
		{ ENGINE "[sensor s]\nsource = udp:h:-1\n", 4,
		  "is not a port" },
		{ ENGINE "[sensor s]\nsource = udp:::1:80\n", 4,
		  "in brackets" },
		{ ENGINE "[sensor s]\nsource = tcp:[::1]80\n", 4,
		  "expected tcp:HOST:PORT" },
		{ ENGINE "[sensor s]\nsource = tcp:[zz::q]:80\n", 4,
		  "not a valid IPv6 address" },
		{ ENGINE "[sensor s]\nsource = tcp:999.1.1.1:80\n", 4,
		  "not a valid IPv4 address" },
		{ ENGINE "[sensor s]\nsource = tcp:a b:80\n", 4,
		  "not a valid host name" },
		{ ENGINE
		  "[sensor s]\nsource = unix:/"
		  "123456789012345678901234567890123456789012345678901234"
		  "56789012345678901234567890123456789012345678901234567"
		  "\n",
		  4, "path longer than 107 bytes" },
		/* Keys for another kind of source, serial, request */
		{ ENGINE SENSOR "request = GET\n", 5,
		  "request: only for tcp: and unix: sources" },
		{ ENGINE "[sensor s]\nline = 1\nsource = stream:/p\n", 4,
		  "line: only for file: sources" },
		{ ENGINE "[sensor s]\nsource = tcp:h:1\nserial = 9600 8N1\n", 5,
		  "serial: only for stream: sources" },
		{ ENGINE "[sensor s]\nsource = stream:/t\nserial = 9601 8N1\n",
		  5, "9601 is not a standard speed" },
		{ ENGINE "[sensor s]\nsource = stream:/t\nserial = 9600 9N1\n",
		  5, "is not SPEED" },
		{ ENGINE "[sensor s]\nsource = stream:/t\nserial = 9600 8X1\n",
		  5, "is not SPEED" },
		{ ENGINE "[sensor s]\nsource = stream:/t\nserial = 9600 8N3\n",
		  5, "is not SPEED" },
		{ ENGINE "[sensor s]\nsource = stream:/t\nserial = 9600\n", 5,
		  "is not SPEED" },
		{ ENGINE "[sensor s]\nsource = tcp:h:1\nrequest = a\\qb\n", 5,
		  "unknown escape '\\q'" },
		{ ENGINE "[sensor s]\nsource = tcp:h:1\nrequest = ab\\\n", 5,
		  "lone '\\'" },
		{ ENGINE "[sensor s]\nsource = tcp:h:1\nrequest = \\xg\n", 5,
		  "\\x without hex digits" },
		{ ENGINE "[sensor s]\nsource = tcp:h:1\nrequest = \\400\n", 5,
		  "octal escape above" },
		{ ENGINE "[sensor s]\nsource = tcp:h:1\nrequest =\n", 5,
		  "request: empty" },
	};
	return cr_make_param_array(struct error_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct error_case *c, config,
		  reports_each_problem_at_its_line)
{
	int ret = load(c->text);

	dump_errors();
	cr_assert_eq(ret, -EINVAL, "load returned %d", ret);
	cr_assert_eq(engine_config_error_count(&cfg), 1, "%zu problems",
		     engine_config_error_count(&cfg));
	expect_error(0, c->line, c->needle);
	/* A failed load leaves no half-filled configuration. */
	cr_assert_eq(cfg.nr_sensors, 0);
	cr_assert_null(cfg.sensors);
	cr_assert_str_eq(cfg.name, "");
}

Test(config, reports_every_problem_of_a_file_in_line_order)
{
	int ret = load("[engine]\n"	      /* 1 */
		       "name = plant 1\n"     /* 2 */
		       "period = 0\n"	      /* 3 */
		       "ring = 100\n"	      /* 4 */
		       "[sensor a]\n"	      /* 5 */
		       "source = gopher:/x\n" /* 6 */
		       "scale = x\n"	      /* 7 */
		       "[sensor b]\n"	      /* 8 */
		       "[sensor a]\n"	      /* 9 */
		       "source = file:/a\n"   /* 10 */
		       "timeout = -1\n"	      /* 11 */
		       "[sensor c]\n"	      /* 12 */
		       "source = file:/c\n"   /* 13 */
		       "min = 5\n"	      /* 14 */
		       "max = 4\n"	      /* 15 */
		       "bogus = 1\n"	      /* 16 */
		       "[nonsense]\n"	      /* 17 */
		       "whatever = 1\n");     /* 18 */

	dump_errors();
	cr_assert_eq(ret, -EINVAL);
	cr_assert_eq(engine_config_error_count(&cfg), 11);
	expect_error(0, 2, "not a valid engine name");
	expect_error(1, 3, "period");
	expect_error(2, 4, "ring");
	expect_error(3, 6, "unknown kind 'gopher'");
	expect_error(4, 7, "scale");
	expect_error(5, 8, "sensor 'b' has no source");
	expect_error(6, 9, "duplicate sensor 'a' (first at line 5)");
	/* Keys of a duplicate section are still checked. */
	expect_error(7, 11, "timeout");
	expect_error(8, 15, "min (5) is greater than max (4)");
	expect_error(9, 16, "unknown key 'bogus'");
	/* The keys of an unknown section are not reported one by one. */
	expect_error(10, 17, "unknown section [nonsense]");
	cr_assert_null(engine_config_error(&cfg, 11));
}

Test(config, a_conflict_made_by_defaults_is_reported_once_in_defaults)
{
	int ret = load(ENGINE "[defaults]\nretry_base = 5s\n" SENSOR
			      "[sensor t]\nsource = file:/t\n");

	dump_errors();
	cr_assert_eq(ret, -EINVAL);
	cr_assert_eq(engine_config_error_count(&cfg), 1);
	expect_error(0, 4, "retry_max is shorter than retry_base");
}

Test(config, a_conflict_with_a_default_is_reported_in_the_sensor)
{
	int ret = load(ENGINE "[defaults]\nmin = 10\n" SENSOR "max = 5\n");

	dump_errors();
	cr_assert_eq(ret, -EINVAL);
	cr_assert_eq(engine_config_error_count(&cfg), 1);
	expect_error(0, 7, "min (10) is greater than max (5)");
}

Test(config, an_overlong_line_is_reported_not_cut)
{
	char text[1024];
	char path[400];
	int ret;

	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	snprintf(text, sizeof(text),
		 ENGINE "[sensor s]\nsource = file:/%s\nunit = C\nbad = 1\n",
		 path);
	ret = load(text);
	dump_errors();
	cr_assert_eq(ret, -EINVAL);
	/* Line 4 is too long; the sensor then has no source; line 6 goes on. */
	cr_assert_eq(engine_config_error_count(&cfg), 3);
	expect_error(0, 3, "sensor 's' has no source");
	expect_error(1, 4, "line too long (414 bytes, at most 198)");
	expect_error(2, 6, "unknown key 'bad'");
}

Test(config, the_longest_line_that_fits_is_read_whole)
{
	char text[1024];
	char path[200];

	/* "source = file:" is 14 bytes: the line is 198 bytes long. */
	memset(path, 'p', 184);
	path[0] = '/';
	path[184] = '\0';
	snprintf(text, sizeof(text), ENGINE "[sensor s]\nsource = file:%s\n",
		 path);
	load_ok(text);
	cr_assert_str_eq(cfg.sensors[0].source.path, path);
}

Test(config, a_nul_byte_in_the_text_is_reported)
{
	static const char text[] = ENGINE SENSOR "unit = a\0b\n";
	int ret;

	ret = engine_config_load_buffer(&cfg, "t.ini", text, sizeof(text) - 1);
	dump_errors();
	cr_assert_eq(ret, -EINVAL);
	cr_assert_eq(engine_config_error_count(&cfg), 1);
	expect_error(0, 5, "NUL byte");
}

Test(config, a_missing_file_is_an_error_with_its_reason)
{
	int ret = engine_config_load(&cfg, "/nonexistent/ringside.ini");

	cr_assert_eq(ret, -ENOENT);
	cr_assert_eq(engine_config_error_count(&cfg), 1);
	cr_assert_str_eq(
		engine_config_error(&cfg, 0),
		"/nonexistent/ringside.ini: No such file or directory");
}

Test(config, a_directory_is_an_error)
{
	int ret = engine_config_load(&cfg, "/");

	cr_assert_eq(ret, -EISDIR);
	cr_assert_eq(engine_config_error_count(&cfg), 1);
}

Test(config, loads_a_file_and_names_it_in_messages)
{
	char path[64];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "/tmp/ringside-test-config-%d.ini",
		 (int)getpid());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(ENGINE SENSOR, f);
	fclose(f);
	ret = engine_config_load(&cfg, path);
	cr_assert_eq(ret, 0);
	cr_assert_eq(cfg.nr_sensors, 1);

	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(ENGINE SENSOR "oops = 1\n", f);
	fclose(f);
	ret = engine_config_load(&cfg, path);
	unlink(path);
	cr_assert_eq(ret, -EINVAL);
	cr_assert_eq(engine_config_error_count(&cfg), 1);
	cr_assert(strncmp(engine_config_error(&cfg, 0), path, strlen(path)) ==
		  0);
	cr_assert(strstr(engine_config_error(&cfg, 0), ":5: unknown key"));
	/* The failed reload left nothing of the first load behind. */
	cr_assert_eq(cfg.nr_sensors, 0);
}

Test(config, keeps_a_bounded_number_of_messages)
{
	static char text[64 * 1024];
	size_t i, n = 0;
	int ret;

	n += (size_t)snprintf(text + n, sizeof(text) - n, ENGINE SENSOR);
	for (i = 0; i < ENGINE_CONFIG_ERRORS_MAX + 50; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "k%zu = 1\n",
				      i);
	ret = load(text);
	cr_assert_eq(ret, -EINVAL);
	cr_assert_eq(engine_config_error_count(&cfg),
		     ENGINE_CONFIG_ERRORS_MAX + 1);
	cr_assert_str_eq(engine_config_error(&cfg, ENGINE_CONFIG_ERRORS_MAX),
			 "t.ini: 50 more problems not shown");
}

Test(config, same_sensors_compares_names_and_units_in_order)
{
	struct engine_config b;

	engine_config_init(&b);
	load_ok(ENGINE "[sensor a]\nsource = file:/a\nunit = C\n"
		       "[sensor b]\nsource = file:/b\n");
	cr_assert_eq(engine_config_load_string(
			     &b, "b.ini",
			     "[engine]\nname = other\nperiod = 1s\n"
			     "[sensor a]\nsource = tcp:h:1\nunit = C\n"
			     "[sensor b]\nsource = file:/elsewhere\n"),
		     0);
	cr_assert(engine_config_same_sensors(&cfg, &b));

	cr_assert_eq(engine_config_load_string(
			     &b, "b.ini",
			     ENGINE "[sensor a]\nsource = file:/a\nunit = F\n"
				    "[sensor b]\nsource = file:/b\n"),
		     0);
	cr_assert_not(engine_config_same_sensors(&cfg, &b));

	cr_assert_eq(engine_config_load_string(
			     &b, "b.ini",
			     ENGINE "[sensor b]\nsource = file:/b\n"
				    "[sensor a]\nsource = file:/a\nunit = C\n"),
		     0);
	cr_assert_not(engine_config_same_sensors(&cfg, &b));

	cr_assert_eq(engine_config_load_string(
			     &b, "b.ini",
			     ENGINE "[sensor a]\nsource = file:/a\nunit = C\n"),
		     0);
	cr_assert_not(engine_config_same_sensors(&cfg, &b));
	engine_config_exit(&b);
}

Test(config, names_of_kinds_and_jitters)
{
	cr_assert_str_eq(
		engine_config_source_kind_name(ENGINE_CONFIG_SOURCE_STREAM),
		"stream");
	cr_assert_str_eq(
		engine_config_source_kind_name(ENGINE_CONFIG_SOURCE_UDP),
		"udp");
	cr_assert_str_eq(engine_config_jitter_name(ENGINE_CONFIG_JITTER_EQUAL),
			 "equal");
	cr_assert_str_eq(engine_config_jitter_name(ENGINE_CONFIG_JITTER_NONE),
			 "none");
}
