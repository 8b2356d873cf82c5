/* SPDX-License-Identifier: MIT */
/*
 * batch.c - a sensor's entry in a batch; see batch.h for the rule.
 */
#include <string.h>

#include "batch.h"

void engine_result_end(struct engine_result *res, uint64_t tick, int error,
		       double value, unsigned attempts, uint64_t start_ns,
		       uint64_t now)
{
	uint64_t us = (now - start_ns) / 1000;

	res->tick = tick;
	res->value = value;
	res->error = error;
	res->latency_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	res->attempts = (uint8_t)(attempts > 255 ? 255 : attempts);
	res->valid = true;
	res->unpublished = true;
}

int engine_batch_entry(struct engine_result *res, uint64_t rejected_tick,
		       uint64_t tick, struct ringside_reading *out)
{
	memset(out, 0, sizeof(*out));
	if (rejected_tick == tick) {
		out->status = RINGSIDE_OPEN;
		return 0;
	}
	if (!res->valid || !res->unpublished || res->tick > tick) {
		out->status = RINGSIDE_PENDING;
		return 0;
	}
	res->unpublished = false;
	if (res->tick < tick)
		out->flags |= RINGSIDE_READING_LATE;
	out->attempts = res->attempts;
	out->latency_us = res->latency_us;
	if (res->error != 0) {
		out->status = RINGSIDE_FAILED;
		out->error = (uint8_t)(res->error < 256 ? res->error : 255);
		return 0;
	}
	out->status = RINGSIDE_OK;
	out->value = res->value;
	return 1;
}
