/* SPDX-License-Identifier: MIT */
/*
 * log.h - the engine's log: one line per event on stderr, with a level.
 * Only the program layer (main.c and the loop) logs; the core returns.
 */
#ifndef ENGINE_LOG_H
#define ENGINE_LOG_H

enum engine_log_level {
	ENGINE_LOG_DEBUG,
	ENGINE_LOG_INFO,
	ENGINE_LOG_WARN,
	ENGINE_LOG_ERROR,
};

/* Set the lowest level printed; returns -EINVAL for an unknown name. */
int engine_log_set_level(const char *name);
int engine_log_enabled(enum engine_log_level level);

void engine_log(enum engine_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
