/* SPDX-License-Identifier: MIT */
/*
 * mkseeds.c - write the binary seed corpora of the fuzz targets:
 * segments for fuzz_reader and fuzz_reader_fd, spec-and-record inputs for
 * fuzz_value, schedule-and-stream inputs for fuzz_frame.  (The config seeds
 * are plain text files, kept by hand.)
 *
 *	mkseeds DIR     writes DIR/reader, DIR/value, DIR/frame
 *
 * Segments are built by the real writer in memory
 * (ringside_writer_init_mem, ringside_writer_publish, the counters), then
 * some are damaged the ways a file can be: truncated, a bad magic, sizes
 * that do not add up, names without their NUL, a head far past the slots,
 * a counters' seqlock left odd.  The epoch and pid are fixed afterwards so
 * that the files are the same on every run.  It is a plain program, built
 * with the normal compiler; the seeds it made are committed under
 * tests/fuzz/corpus/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layout.h"

static const char *outdir;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void put(const char *target, const char *name, const void *data,
		size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (!f)
		die(path);
	if (len && fwrite(data, 1, len, f) != len)
		die(path);
	if (fclose(f) != 0)
		die(path);
}

/* fuzz_reader and fuzz_reader_fd share these. */
static void put_segment(const char *name, const void *data, size_t len)
{
	put("reader", name, data, len);
}

/*
 * Build a segment of ring batches of n sensors with `batches` published,
 * counters set, closed when asked. Returns it (malloc'ed), size in *len.
 */
static char *segment(uint32_t ring, uint32_t n, uint32_t batches, int closed,
		     size_t *len)
{
	static const char *const units[] = { "C", "%", "hPa", "",
					     "V", "A", "rpm", "m/s" };
	struct ringside_params p = {
		.name = "plant1",
		.ring = ring,
		.nsensors = n,
		.period_ns = 100000000,
		.deadline_ns = 80000000,
		.mode = 0640,
	};
	struct ringside_reading *v = calloc(n, sizeof(*v));
	const char **names = calloc(n, sizeof(*names));
	const char **unit = calloc(n, sizeof(*unit));
	char(*text)[24] = calloc(n, sizeof(*text));
	struct ringside_engine_stats e = { { 0 } };
	struct ringside_sensor_stats s;
	struct ringside_writer w;
	struct ringside_batch b;
	struct seg_header *h;
	char *mem;
	uint32_t i, k;

	*len = ringside_segment_size(ring, n);
	mem = calloc(1, *len);
	if (!v || !names || !unit || !text || !mem)
		die("calloc");
	for (i = 0; i < n; i++) {
		snprintf(text[i], sizeof(text[i]), "s%u.temp", i);
		names[i] = text[i];
		unit[i] = units[i % 8];
	}
	if (ringside_writer_init_mem(&w, mem, *len, &p, names, unit) < 0)
		die("ringside_writer_init_mem");
	for (k = 1; k <= batches; k++) {
		memset(&b, 0, sizeof(b));
		b.tick_us = 1700000000000000ULL + k * 100000ULL;
		b.published_us = b.tick_us + 80000;
		b.tick_mono_ns = k * 100000000ULL;
		b.published_mono_ns = b.tick_mono_ns + 80000000ULL;
		b.total = n;
		for (i = 0; i < n; i++) {
			memset(&v[i], 0, sizeof(v[i]));
			v[i].latency_us = 100 * i + k;
			v[i].attempts = 1;
			v[i].status = (uint8_t)((i + k) % 4);
			if (v[i].status == RINGSIDE_OK) {
				v[i].value = 20.5 + i - 0.25 * k;
				b.available++;
			} else if (v[i].status == RINGSIDE_FAILED) {
				v[i].error = ETIMEDOUT;
				v[i].attempts = 4;
			}
			if (k % 3 == 0)
				v[i].flags = RINGSIDE_READING_LATE;
		}
		if (b.available < n)
			b.flags = RINGSIDE_BATCH_DEGRADED;
		if (ringside_writer_publish(&w, &b, v) < 0)
			die("ringside_writer_publish");
	}
	ringside_writer_stats_begin(&w);
	for (i = 0; i < RINGSIDE_EC_COUNT; i++)
		e.counter[i] = 10 * i + batches;
	ringside_writer_engine_set(&w, &e);
	for (i = 0; i < n; i++) {
		memset(&s, 0, sizeof(s));
		for (k = 0; k < RINGSIDE_SC_COUNT; k++)
			s.counter[k] = i + k;
		s.hist[i % RINGSIDE_HIST_BUCKETS] = batches;
		ringside_writer_sensor_set(&w, i, &s);
	}
	ringside_writer_stats_end(&w);
	if (closed)
		ringside_writer_close(&w, closed == 2);
	h = (struct seg_header *)mem;
	h->epoch_us = 1700000000000000ULL;
	h->pid = 4242;
	free(v);
	free(names);
	free(unit);
	free(text);
	return mem;
}

static struct seg_header *hdr(char *mem)
{
	return (struct seg_header *)mem;
}

static void segments(void)
{
	struct seg_sensor *t;
	struct seg_slot *slot;
	size_t len;
	char *m;

	m = segment(2, 1, 0, 0, &len);
	put_segment("r2-n1-empty", m, len);
	/* No sensor at all: the writer refuses it, a reader must not. */
	hdr(m)->nsensors = 0;
	hdr(m)->slot_size = sizeof(struct seg_slot);
	hdr(m)->total_size = hdr(m)->ring_off + 2 * sizeof(struct seg_slot);
	put_segment("r2-n0", m, hdr(m)->total_size);
	/* The input of tests/test_fuzz_regress.c: a head of UINT64_MAX. */
	hdr(m)->head = UINT64_MAX;
	memset(m + offsetof(struct seg_header, state) + 4, 0,
	       hdr(m)->total_size - offsetof(struct seg_header, state) - 4);
	put_segment("regress-head-max", m, hdr(m)->total_size);
	free(m);

	m = segment(4, 3, 6, 0, &len);
	put_segment("r4-n3-lapped", m, len);
	put_segment("truncated-4000", m, 4000);
	put_segment("truncated-header", m, sizeof(struct seg_header) - 1);
	put_segment("truncated-100", m, 100);
	hdr(m)->head = UINT64_MAX;
	put_segment("head-max", m, len);
	hdr(m)->head = UINT64_MAX - 1;
	slot = seg_slot_at(m, hdr(m)->ring_off, hdr(m)->slot_size,
			   (UINT64_MAX - 1) & 3);
	slot->seq = UINT64_MAX - 1;
	put_segment("head-max-slot-match", m, len);
	hdr(m)->head = 6;
	slot->seq = 12345;
	put_segment("slot-seq-wrong", m, len);
	hdr(m)->stats_seq = 7;
	put_segment("stats-odd", m, len);
	free(m);

	m = segment(8, 8, 3, 1, &len);
	put_segment("r8-n8-closed", m, len);
	t = (struct seg_sensor *)(m + hdr(m)->sensors_off);
	memset(t[0].name, 'A', sizeof(t[0].name));
	memset(t[1].unit, '"', sizeof(t[1].unit));
	memset(t[2].unit, '\n', sizeof(t[2].unit));
	put_segment("names-unterminated", m, len);
	hdr(m)->total_size++;
	put_segment("size-mismatch", m, len);
	hdr(m)->total_size--;
	hdr(m)->magic ^= 1;
	put_segment("bad-magic", m, len);
	hdr(m)->magic ^= 1;
	memset(hdr(m)->name, 'x', sizeof(hdr(m)->name));
	put_segment("engine-name-unterminated", m, len);
	free(m);

	m = segment(16, 2, 40, 2, &len);
	put_segment("r16-n2-replaced", m, len);
	hdr(m)->ring = 3;
	put_segment("ring-not-pow2", m, len);
	free(m);
}

/* fuzz_value: field, line (16-bit LE), which doubles follow, then text. */
static void value(const char *name, uint16_t field, uint16_t line,
		  uint8_t which, const double *d, const char *rec)
{
	char buf[256];
	size_t n = 0, i, k = 0;

	buf[n++] = (char)(field & 0xff);
	buf[n++] = (char)(field >> 8);
	buf[n++] = (char)(line & 0xff);
	buf[n++] = (char)(line >> 8);
	buf[n++] = (char)which;
	for (i = 0; i < 4; i++) {
		if (which & (1u << i)) {
			memcpy(buf + n, &d[k++], sizeof(double));
			n += sizeof(double);
		}
	}
	memcpy(buf + n, rec, strlen(rec));
	put("value", name, buf, n + strlen(rec));
}

static void values(void)
{
	static const double iio[] = { 0.001 };
	static const double bounds[] = { -40.0, 125.0 };
	static const double all[] = { -273.15, 2.5, 0.0, 1000.0 };
	char big[4200];

	value("plain", 0, 0, 0, NULL, "23.5");
	value("hwmon", 0, 0, 2, iio, "45000\n");
	value("field2", 2, 0, 0, NULL, "T: 21.0 22.5e1 x");
	value("line1", 0, 1, 0xc, bounds, "# header\n-12.5 C\n99\n");
	value("calibrated", 1, 0, 0xf, all, "\t+.5  7E-2\r\n");
	value("crlf-lines", 0, 2, 0, NULL, "1\r\n2\r\n3\r\n");
	value("not-a-number", 0, 0, 0, NULL, "0x1A nan inf 1e");
	value("out-of-range", 0, 0, 0xc, bounds, "-41");
	value("overflow", 0, 0, 0, NULL, "1e400");
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		/* Over ENGINE_VALUE_RECORD_MAX: -EMSGSIZE. */
		char *buf = malloc(5 + sizeof(big));

		if (!buf)
			die("malloc");
		memset(buf, 0, 5);
		memcpy(buf + 5, big, sizeof(big) - 1);
		put("value", "too-long", buf, 5 + sizeof(big) - 1);
		free(buf);
	}
}

/* fuzz_frame: schedule length - 1, schedule bytes, then the stream. */
static void frame(const char *name, const uint8_t *sched, size_t nsched,
		  const char *stream, size_t len)
{
	char *buf = malloc(1 + nsched + len);

	if (!buf)
		die("malloc");
	buf[0] = (char)(nsched - 1);
	memcpy(buf + 1, sched, nsched);
	memcpy(buf + 1 + nsched, stream, len);
	put("frame", name, buf, 1 + nsched + len);
	free(buf);
}

static void frames(void)
{
	static const uint8_t bytes1[] = { 0 };
	static const uint8_t mixed[] = { 2, 0x40 | 3, 0x80 | 1, 0xc0 | 5 };
	static const uint8_t big[] = { 0x40 | 63, 0x80 | 63 };
	static const char lines[] = "21.5\n22.0\r\n\n23 C\r\n24";
	char *s;
	size_t n;

	frame("bytewise", bytes1, 1, lines, sizeof(lines) - 1);
	frame("mixed", mixed, sizeof(mixed), lines, sizeof(lines) - 1);

	/* 4096 bytes and "\r\n": the longest line; then 4097: too long;
	 * then 5000 with no newline, which fill the buffer.  All of it stays
	 * under the 16 KiB that `make fuzz` gives as -max_len. */
	n = 4096 + 2 + 4097 + 1 + 3 + 5000;
	s = malloc(n);
	if (!s)
		die("malloc");
	memset(s, '7', n);
	s[4096] = '\r';
	s[4097] = '\n';
	s[4098 + 4097] = '\n';
	memcpy(s + 4098 + 4098, "1\n2", 3);
	frame("long-lines", big, sizeof(big), s, n);
	frame("long-lines-direct", mixed, sizeof(mixed), s, n);
	free(s);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds DIR\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) < 0 && errno != EEXIST)
		die(outdir);
	segments();
	values();
	frames();
	return 0;
}
