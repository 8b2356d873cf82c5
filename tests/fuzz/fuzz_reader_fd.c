/* SPDX-License-Identifier: MIT */
/*
 * fuzz_reader_fd.c - libFuzzer target for a reader's attach-and-validate
 * path through a file: the input is written to a memfd and attached with
 * ringside_reader_attach_fd(), which checks the file's type and size,
 * preads the header and maps the file read-only.  A segment it accepts is
 * then read as a client would (fuzz_reader.h).  AddressSanitizer does not
 * watch a mapping: fuzz_reader.c is the target that finds reads past the
 * end to the byte; this one covers fstat, pread, mmap and the liveness
 * lock query on a real file.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct ringside_reader r;
	size_t done = 0;
	ssize_t n;
	int fd, ret;

	fd = memfd_create("fuzz-segment", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	while (done < len) {
		n = write(fd, data + done, len - done);
		if (n <= 0)
			goto out;
		done += (size_t)n;
	}
	ret = ringside_reader_attach_fd(&r, fd, RINGSIDE_FROM_OLDEST);
	if (ret < 0) {
		check(ret == -EPROTO);
		check(ringside_strerror(ret) != NULL);
		goto out;
	}
	check(r.fd >= 0 && r.fd != fd);
	fuzz_reader_exercise(&r, len);
	ringside_reader_detach(&r);
	check(r.fd == -1);
out:
	close(fd);
	return 0;
}
