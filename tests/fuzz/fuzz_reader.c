/* SPDX-License-Identifier: MIT */
/*
 * fuzz_reader.c - libFuzzer target for a reader's attach-and-validate path,
 * shm/reader.c and shm/segment.c, fed a crafted segment in memory.
 *
 * The input is the whole segment.  It is copied into a buffer of exactly
 * its size, aligned as a mapping would be for the atomic loads, so that
 * AddressSanitizer sees any read past its end.  ringside_reader_attach_mem()
 * must refuse anything whose header does not add up to that size; a
 * segment it accepts is then read as a client would (fuzz_reader.h).
 */
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct ringside_reader r;
	void *mem = NULL;
	int ret;

	if (posix_memalign(&mem, 64, len ? len : 1) != 0)
		return 0;
	if (len)
		memcpy(mem, data, len);
	ret = ringside_reader_attach_mem(&r, mem, len, RINGSIDE_FROM_OLDEST);
	if (ret < 0) {
		check(ret == -EPROTO);
		check(ringside_strerror(ret) != NULL);
		goto out;
	}
	fuzz_reader_exercise(&r, len);
	ringside_reader_detach(&r);

	/* From now: nothing to take until the writer publishes. */
	ret = ringside_reader_attach_mem(&r, mem, len, RINGSIDE_FROM_NOW);
	check(ret == 0);
	fuzz_reader_batches(&r, r.nsensors, r.ring);
	ringside_reader_detach(&r);
out:
	free(mem);
	return 0;
}
