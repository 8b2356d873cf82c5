/* SPDX-License-Identifier: MIT */
/*
 * batch.h - what a sensor's entry in a batch says, as a pure function of
 * the sensor's newest call result and of the tick being published.
 *
 * A batch reports, per sensor: the call started at its tick if it ended
 * by the deadline; otherwise the result of an earlier call that ended
 * since the previous batch, marked late; otherwise pending.  A sensor
 * whose breaker refused this tick's call is open.  Each result is
 * published at most once.
 */
#ifndef ENGINE_BATCH_H
#define ENGINE_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "ringside.h"

/* The newest ended call of one sensor. */
struct engine_result {
	uint64_t tick;	     /* tick number at which the call started */
	double value;	     /* when ok */
	int error;	     /* positive errno when failed, 0 when ok */
	uint32_t latency_us; /* first attempt's start to the call's end */
	uint8_t attempts;
	bool valid;	  /* a call has ended at all */
	bool unpublished; /* not yet in any batch */
};

/*
 * engine_result_end - record a call that started at tick number @tick and
 * ended, after @attempts attempts, with @error (positive errno, 0 for ok)
 * and @value; @start_ns and @now are its first attempt's start and its
 * end.  The result waits for the next batch.
 */
void engine_result_end(struct engine_result *res, uint64_t tick, int error,
		       double value, unsigned attempts, uint64_t start_ns,
		       uint64_t now);

/*
 * engine_batch_entry - fill @out for tick number @tick from @res (marked
 * published when used); @rejected_tick is the tick at which the breaker
 * last refused a call (UINT64_MAX: never).  Returns 1 if the entry is ok,
 * 0 if not.
 */
int engine_batch_entry(struct engine_result *res, uint64_t rejected_tick,
		       uint64_t tick, struct ringside_reading *out);

#endif
