/* SPDX-License-Identifier: MIT */
/*
 * main.c - ringsided, the engine's program: options, configuration,
 * --check, --once, and the run.  Exit codes: 0 success, 2 usage or
 * configuration error, 1 runtime failure.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "demo.h"
#include "engine.h"
#include "log.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ringsided -c FILE [--name NAME] [--duration SECONDS] "
		"[--once] [--check]\n"
		"                 [--log-level debug|info|warn]\n"
		"       ringsided --demo [--duration SECONDS]\n"
		"\n"
		"Reads the sensors of FILE through io_uring, with retry, a "
		"circuit breaker per\n"
		"sensor and graceful degradation, and publishes one batch per "
		"tick into\n"
		"/dev/shm/ringside.NAME.\n"
		"\n"
		"  -c, --config FILE     the configuration (INI)\n"
		"  -n, --name NAME       override [engine] name\n"
		"  -d, --duration SECS   stop after SECS seconds, as on "
		"SIGTERM\n"
		"      --once            run one tick, print its batch as "
		"JSON, "
		"exit\n"
		"      --check           validate the configuration only\n"
		"      --demo            run the built-in demo pipeline\n"
		"      --log-level LEVEL debug, info (default) or warn\n"
		"  -h, --help            this text\n"
		"  -V, --version         the version\n");
}

void engine_print_json(struct engine *e, const struct ringside_batch *b)
{
	const char **names = calloc(e->nsensors, sizeof(*names));
	const char **units = calloc(e->nsensors, sizeof(*units));
	size_t len = 512 + (size_t)e->nsensors * 160;
	char *buf = malloc(len);
	uint32_t i;

	if (names != NULL && units != NULL && buf != NULL) {
		for (i = 0; i < e->nsensors; i++) {
			names[i] = e->cfg->sensors[i].name;
			units[i] = e->cfg->sensors[i].unit;
		}
		if (ringside_json_batch(buf, len, e->cfg->name, e->seg.epoch_us,
					names, units, b, e->readings) >= 0)
			printf("%s\n", buf);
		fflush(stdout);
	}
	free(names);
	free(units);
	free(buf);
}

int main(int argc, char **argv)
{
	enum { OPT_ONCE = 256, OPT_CHECK, OPT_DEMO, OPT_LOG };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "demo", no_argument, NULL, OPT_DEMO },
		{ "log-level", required_argument, NULL, OPT_LOG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *name = NULL;
	double duration = 0;
	bool once = false, check = false, demo = false;
	struct engine_config cfg;
	struct engine e;
	size_t i;
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:n:d:hV", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'd':
			errno = 0;
			duration = strtod(optarg, &end);
			if (errno != 0 || *end != '\0' || !(duration > 0) ||
			    duration > 1e9) {
				fprintf(stderr,
					"ringsided: --duration: not a positive "
					"number of seconds: %s\n",
					optarg);
				return 2;
			}
			break;
		case OPT_ONCE:
			once = true;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case OPT_DEMO:
			demo = true;
			break;
		case OPT_LOG:
			if (engine_log_set_level(optarg) < 0) {
				fprintf(stderr,
					"ringsided: --log-level: expected "
					"debug, info or warn, not %s\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ringsided %s\n", RINGSIDE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringsided: unexpected argument: %s\n",
			argv[optind]);
		return 2;
	}
	if (demo)
		return engine_demo(duration);
	if (path == NULL) {
		fprintf(stderr, "ringsided: no configuration (-c FILE); see "
				"--help\n");
		return 2;
	}

	engine_config_init(&cfg);
	ret = engine_config_load(&cfg, path);
	if (ret < 0 && engine_config_error_count(&cfg) == 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(-ret));
		engine_config_exit(&cfg);
		return 2;
	}
	for (i = 0; i < engine_config_error_count(&cfg); i++)
		fprintf(stderr, "%s\n", engine_config_error(&cfg, i));
	if (ret < 0) {
		engine_config_exit(&cfg);
		return 2;
	}
	if (name != NULL) {
		if (!ringside_name_valid(name)) {
			fprintf(stderr,
				"ringsided: --name: invalid engine name: %s\n",
				name);
			engine_config_exit(&cfg);
			return 2;
		}
		snprintf(cfg.name, sizeof(cfg.name), "%s", name);
	}
	if (check) {
		engine_config_exit(&cfg);
		return 0;
	}

	memset(&e, 0, sizeof(e));
	e.cfg = &cfg;
	e.config_path = path;
	e.once = once;
	e.name_override = name;
	e.signal_fd = -1;
	if (duration > 0)
		e.stop_at_ns = engine_now_ns() + (uint64_t)(duration * 1e9);
	ret = engine_run(&e);
	engine_release(&e);
	engine_config_exit(&cfg);
	return ret;
}
