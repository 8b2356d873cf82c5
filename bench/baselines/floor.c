/* SPDX-License-Identifier: MIT */
/*
 * floor.c - peer-floor: the cost of the reads alone, with no resilience.
 *
 * One thread.  Every tick (clock_nanosleep on an absolute CLOCK_MONOTONIC
 * time, so the schedule never drifts) it visits every sensor in turn:
 *
 *   file:             pread at offset 0 and parse;
 *   stream:, push sockets
 *                     non-blocking reads until there is nothing left, and
 *                     the newest complete line read in this tick is the
 *                     reading (none: the sensor is not ok this tick);
 *   request sockets   a blocking send and a blocking read of one line,
 *                     bounded by SO_RCVTIMEO = the sensor's timeout so that
 *                     a silent peer never stops the loop; a failure closes
 *                     the connection, which the next tick opens again.
 *
 * No retry, no breaker, no deadline: the batch is the count of ok readings,
 * published when the visit is over.  Ticks that the visit overran are
 * skipped and counted as missed, by the engine's rule.  This is the lower
 * bound of CPU per reading that the other systems are measured against.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define SYSTEM "floor"

struct floor_sensor {
	const struct engine_config_sensor *cfg;
	int fd; /* -1 when closed */
	bool push;
	bool socket;
	struct engine_frame *frame; /* streams and sockets */
	struct peer_record rec;
	struct peer_addr addr;
};

static void source_close(struct floor_sensor *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->frame != NULL)
		engine_frame_reset(s->frame);
}

/* Open a push source, or connect a socket (blocking, bounded). */
static int source_open(struct floor_sensor *s)
{
	bool pending;
	int fd;

	if (!s->socket) {
		fd = peer_stream_open(s->cfg->source.path);
		if (fd < 0)
			return fd;
		s->fd = fd;
		return 0;
	}
	/* A push socket connects without blocking; until the connect has
	 * completed its reads say EAGAIN (or ENOTCONN). */
	fd = peer_socket_connect(&s->addr, 0, &pending);
	if (fd < 0)
		return fd;
	s->fd = fd;
	return 0;
}

/* Read what a push source has, and take the newest line of this tick. */
static bool read_push(struct floor_sensor *s, uint64_t now)
{
	uint64_t before;
	int ret, err;
	double v;

	if (s->fd < 0 && source_open(s) < 0)
		return false;
	before = s->rec.seq;
	while ((ret = peer_push_read(s->fd, s->socket, s->frame, &s->cfg->value,
				     &s->rec, now)) > 0)
		;
	if (ret != -EAGAIN && ret != -ENOTCONN) {
		source_close(s);
		return false;
	}
	if (s->rec.seq == before)
		return false;
	return peer_record_take(&s->rec, now, UINT64_MAX, &err, &v) && err == 0;
}

static bool read_request(struct floor_sensor *s)
{
	bool pending;
	int ret, err;
	double v;

	if (s->fd < 0) {
		int fd = peer_socket_connect(&s->addr, s->cfg->timeout_ns,
					     &pending);

		if (fd < 0)
			return false;
		s->fd = fd;
	}
	engine_frame_reset(s->frame);
	if (peer_request_send(s->fd, s->cfg) < 0)
		goto fail;
	while ((ret = peer_reply_read(s->fd, s->frame, &s->cfg->value, &err,
				      &v)) == 0)
		;
	if (ret < 0)
		goto fail; /* -EAGAIN: SO_RCVTIMEO expired */
	return err == 0;
fail:
	source_close(s);
	return false;
}

int main(int argc, char **argv)
{
	struct engine_config cfg;
	struct floor_sensor *sensors;
	struct peer_report rep;
	struct peer_ticks ticks;
	struct peer_args args;
	char *buf;
	uint64_t n, now;
	size_t i, nr;
	int ret;

	ret = peer_args_parse(argc, argv, SYSTEM,
			      "a plain read loop, no resilience at all", &args);
	if (ret != 0)
		return ret > 0 ? 0 : 2;
	peer_process_init();
	if (peer_config_load(&cfg, args.config, SYSTEM) < 0)
		return 2;
	nr = cfg.nr_sensors;
	sensors = calloc(nr, sizeof(*sensors));
	buf = malloc(PEER_FILE_BUF);
	if (sensors == NULL || buf == NULL ||
	    peer_report_init(&rep, args.duration_ns, cfg.period_ns) < 0) {
		fprintf(stderr, "peer-%s: out of memory\n", SYSTEM);
		return 1;
	}
	for (i = 0; i < nr; i++) {
		struct floor_sensor *s = &sensors[i];

		s->cfg = &cfg.sensors[i];
		s->fd = -1;
		s->push = peer_is_push(s->cfg);
		s->socket = s->cfg->source.kind == ENGINE_CONFIG_SOURCE_TCP ||
			    s->cfg->source.kind == ENGINE_CONFIG_SOURCE_UNIX;
		if (s->cfg->source.kind == ENGINE_CONFIG_SOURCE_FILE)
			continue;
		s->frame = malloc(sizeof(*s->frame));
		if (s->frame == NULL) {
			fprintf(stderr, "peer-%s: out of memory\n", SYSTEM);
			return 1;
		}
		engine_frame_init(s->frame);
		if (s->socket)
			peer_addr_resolve(s->cfg, &s->addr);
		if (s->push)
			source_open(s); /* so that records queue up */
	}

	now = peer_now_ns();
	peer_ticks_init(&ticks, &cfg, args.duration_ns, now);
	n = 0;
	for (;;) {
		uint64_t tick_ns, ok = 0;

		n = peer_tick_due(&ticks, n, now, &rep.missed_ticks);
		if (peer_tick_stops(&ticks, n))
			break;
		tick_ns = peer_tick_ns(&ticks, n);
		if (tick_ns > now) {
			peer_sleep_until(tick_ns);
			now = peer_now_ns();
			continue; /* asks again: the sleep may have overrun */
		}
		for (i = 0; i < nr; i++) {
			struct floor_sensor *s = &sensors[i];
			double v;

			if (s->cfg->source.kind == ENGINE_CONFIG_SOURCE_FILE)
				ok += peer_file_read(s->cfg, &s->fd, buf, &v) ==
				      0;
			else if (s->push)
				ok += read_push(s, now);
			else
				ok += read_request(s);
		}
		now = peer_now_ns();
		peer_report_batch(&rep, (uint32_t)ok, (uint32_t)nr,
				  now - tick_ns);
		n++;
	}
	peer_report_print(&rep, SYSTEM, nr);
	for (i = 0; i < nr; i++) {
		source_close(&sensors[i]);
		free(sensors[i].frame);
	}
	free(sensors);
	free(buf);
	peer_report_exit(&rep);
	engine_config_exit(&cfg);
	return 0;
}
