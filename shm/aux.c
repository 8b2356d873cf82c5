/* SPDX-License-Identifier: MIT */
/*
 * aux.c - the counters of other programs: a program that works on an
 * engine's batches (ringside-bridge) keeps a few named 64-bit counters in
 * a small segment of its own, /dev/shm/ringside.NAME@PROGRAM, which
 * ringside-stat shows beside the engine's.  The bytes are drawn in
 * layout.h.
 *
 * Such a segment lives as the engine's does, through the same helpers
 * (segment.c): built under a temporary name, locked (the OFD write lock
 * that means "alive", which the kernel drops however the writer ends) and
 * renamed into place; opened by readers read-only, without following a
 * symbolic link, from a trusted owner only, its header and keys read with
 * pread and validated against the file's size before anything is mapped.
 * Its counters sit under one seqlock, as the engine's do.
 *
 * The name's lock file is held only while the segment is built: it makes
 * "is a writer there? if not, rename ours into place" one step, and once
 * the new file stands at the path, its own liveness lock answers every
 * later writer with -EBUSY.  Nothing is left behind but the segment, which
 * stays after its writer stops (marked closed) or dies, so that its last
 * counters can still be read; the next writer of that name replaces it.
 *
 * '@' is never part of an engine name, so NAME@PROGRAM never names an
 * engine's segment, and no engine's name can be made to name this one.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"

#define AUX_PREFIX "/dev/shm/ringside."

/* ---- names ----------------------------------------------------------------- */

/* 1 if @p is a valid program name, [a-z0-9_-]{1,32}; 0 if not. */
static int aux_program_valid(const char *p)
{
	size_t n;

	for (n = 0; p[n] != '\0'; n++) {
		char c = p[n];

		if (n >= RINGSIDE_NAME_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

/*
 * 1 if the @len bytes at @k (@len > 31) hold a valid key, [a-z0-9_]{1,31}
 * and a NUL, and not "state": ringside-stat shows the program's state
 * beside its counters, under that name.
 */
static int aux_key_valid(const char *k, size_t len)
{
	size_t n;

	for (n = 0; n < len && k[n] != '\0'; n++) {
		char c = k[n];

		if (n >= RINGSIDE_AUX_KEY_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return 0;
	}
	return n > 0 && strcmp(k, "state") != 0;
}

/* 1 if @keys (@n of them, AUX_KEY_SIZE bytes apart) are valid and unique:
 * one JSON object holds them all. */
static int aux_keys_valid(const char *keys, uint32_t n)
{
	uint32_t i, j;

	for (i = 0; i < n; i++) {
		const char *k = keys + (size_t)i * AUX_KEY_SIZE;

		if (!aux_key_valid(k, AUX_KEY_SIZE))
			return 0;
		for (j = 0; j < i; j++)
			if (strcmp(k, keys + (size_t)j * AUX_KEY_SIZE) == 0)
				return 0;
	}
	return 1;
}

/* "/dev/shm/ringside.NAME@PROGRAM" into @buf, "NAME@PROGRAM" into @tag
 * (both may be NULL); -EINVAL for a bad name or program. */
static int aux_path(char *buf, size_t len, char *tag, size_t tag_len,
		    const char *name, const char *program)
{
	int n;

	if (name == NULL || program == NULL || !ringside_name_valid(name) ||
	    !aux_program_valid(program))
		return -EINVAL;
	n = snprintf(buf, len, AUX_PREFIX "%s@%s", name, program);
	if (n < 0 || (size_t)n >= len)
		return -EINVAL;
	n = snprintf(tag, tag_len, "%s@%s", name, program);
	if (n < 0 || (size_t)n >= tag_len)
		return -EINVAL;
	return 0;
}

/* ---- the bytes ------------------------------------------------------------- */

static struct aux_header *aux_header(const struct ringside_aux *a)
{
	return a->mem;
}

/* Key @i, AUX_KEY_SIZE bytes.  Found from a->n, the validated count, never
 * from the header, which its writer could change after we looked. */
static const char *aux_key_at(const struct ringside_aux *a, uint32_t i)
{
	return (const char *)a->mem + sizeof(struct aux_header) +
	       (size_t)i * AUX_KEY_SIZE;
}

static uint64_t *aux_values(const struct ringside_aux *a)
{
	return (uint64_t *)((char *)a->mem + sizeof(struct aux_header) +
			    (size_t)a->n * AUX_KEY_SIZE);
}

/*
 * aux_check_header - validate an untrusted header against the size of the
 * file holding it.  Returns 0, or -EPROTO with *why set to a static text.
 */
static int aux_check_header(const struct aux_header *h, uint64_t file_size,
			    const char **why)
{
	if (file_size < sizeof(*h)) {
		*why = "file too small for a counters segment header";
		return -EPROTO;
	}
	if (h->magic != AUX_MAGIC) {
		*why = "not a ringside counters segment (bad magic)";
		return -EPROTO;
	}
	if (h->version != AUX_VERSION) {
		*why = "unsupported counters segment layout version";
		return -EPROTO;
	}
	if (h->key_size != AUX_KEY_SIZE) {
		*why = "counters segment record sizes do not match this layout";
		return -EPROTO;
	}
	if (h->n == 0 || h->n > RINGSIDE_AUX_MAX) {
		*why = "counters segment counter count out of range";
		return -EPROTO;
	}
	if (h->total_size != aux_size(h->n)) {
		*why = "counters segment sizes do not add up";
		return -EPROTO;
	}
	if (h->total_size != file_size) {
		*why = "counters segment file size does not match its header";
		return -EPROTO;
	}
	return 0;
}

/* What aux_fill() lays out, through seg_create(). */
struct aux_layout {
	const char *const *keys;
	uint32_t n;
};

/* Lay out a fresh segment in @base, which holds aux_size(n) zeroes: every
 * counter starts at 0. */
static void aux_fill(void *base, void *arg)
{
	const struct aux_layout *l = arg;
	struct aux_header *h = base;
	char *keys = (char *)base + sizeof(*h);
	uint32_t i;

	h->magic = AUX_MAGIC;
	h->version = AUX_VERSION;
	h->total_size = aux_size(l->n);
	h->n = l->n;
	h->pid = (int32_t)getpid();
	h->key_size = AUX_KEY_SIZE;
	h->state = SEG_LIVE;
	for (i = 0; i < l->n; i++)
		memcpy(keys + (size_t)i * AUX_KEY_SIZE, l->keys[i],
		       strlen(l->keys[i]));
}

/* ---- the writer ------------------------------------------------------------ */

/* The keys as the caller gives them: each valid, none twice. */
static int aux_check_keys(const char *const *keys, uint32_t n)
{
	uint32_t i, j;

	if (keys == NULL || n == 0 || n > RINGSIDE_AUX_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (keys[i] == NULL ||
		    !aux_key_valid(keys[i], RINGSIDE_AUX_KEY_MAX + 1))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (strcmp(keys[i], keys[j]) == 0)
				return -EINVAL;
	}
	return 0;
}

int ringside_aux_create(struct ringside_aux *a, const char *name,
			const char *program, const char *const *keys,
			uint32_t n, mode_t mode)
{
	char tag[2 * RINGSIDE_NAME_MAX + 2];
	struct aux_layout l = { keys, n };
	struct stat st;
	void *base;
	int lock_fd, fd, ret;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	seg_clear_why();
	if ((mode & ~(mode_t)0777) != 0 || aux_check_keys(keys, n) < 0)
		return -EINVAL;
	ret = aux_path(a->path, sizeof(a->path), tag, sizeof(tag), name,
		       program);
	if (ret < 0)
		return ret;

	lock_fd = seg_name_lock(tag);
	if (lock_fd < 0) {
		ret = lock_fd;
		goto err;
	}
	fd = seg_previous(a->path, &st);
	if (fd >= 0)
		close(fd); /* a stopped or dead writer's: replaced below */
	else if (fd != -ENOENT)
		ret = fd;
	if (ret == 0)
		ret = seg_create(a->path, tag, (uint32_t)mode, aux_size(n),
				 aux_fill, &l, &base, &fd);
	/* From here on the new file's own liveness lock keeps the name. */
	seg_name_unlock(tag, lock_fd);
	if (ret < 0)
		goto err;
	a->mem = base;
	a->size = aux_size(n);
	a->fd = fd;
	a->n = n;
	a->writable = 1;
	return 0;

err:
	if (ret == -EBUSY)
		seg_set_why_err(-EBUSY, "a live %s of engine %s holds %s",
				program, name, a->path);
	return ret;
}

void ringside_aux_begin(struct ringside_aux *a)
{
	if (a->mem != NULL && a->writable)
		seg_seqlock_begin(&aux_header(a)->seq);
}

void ringside_aux_set(struct ringside_aux *a, uint32_t i, uint64_t value)
{
	/* One relaxed store: the seqlock says afterwards whether a reader's
	 * copy was stable. */
	if (a->mem != NULL && a->writable && i < a->n)
		seg_store_relaxed(&aux_values(a)[i], value);
}

void ringside_aux_end(struct ringside_aux *a)
{
	if (a->mem != NULL && a->writable)
		seg_seqlock_end(&aux_header(a)->seq);
}

void ringside_aux_close(struct ringside_aux *a)
{
	if (a->mem == NULL)
		return;
	/* Readers load the state with acquire before they ask the lock:
	 * stored before the lock goes, it reads as "stopped", not "dead",
	 * and the release orders the last counters before it. */
	if (a->writable)
		seg_store_release(&aux_header(a)->state, SEG_CLOSED);
	ringside_aux_detach(a);
}

/* ---- readers --------------------------------------------------------------- */

int ringside_aux_attach(struct ringside_aux *a, const char *name,
			const char *program, unsigned flags)
{
	char tag[2 * RINGSIDE_NAME_MAX + 2];
	char keys[RINGSIDE_AUX_MAX * AUX_KEY_SIZE];
	struct aux_header h;
	struct stat st;
	const char *why;
	size_t len;
	ssize_t got;
	void *mem;
	int fd, ret;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	seg_clear_why();
	ret = aux_path(a->path, sizeof(a->path), tag, sizeof(tag), name,
		       program);
	if (ret < 0)
		return ret;
	fd = seg_open_ro(a->path);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		seg_set_why("not a regular file");
		ret = -EPROTO;
		goto err_close;
	}
	ret = seg_check_trust(&st, flags);
	if (ret < 0)
		goto err_close;

	/* Header and keys come from pread, checked against the file's size
	 * before anything is mapped: a short file cannot raise SIGBUS. */
	got = pread(fd, &h, sizeof(h), 0);
	if (got < 0) {
		ret = -errno;
		goto err_close;
	}
	if (got != (ssize_t)sizeof(h)) {
		seg_set_why("file too small for a counters segment header");
		ret = -EPROTO;
		goto err_close;
	}
	ret = aux_check_header(&h, (uint64_t)st.st_size, &why);
	if (ret < 0) {
		seg_set_why(why);
		goto err_close;
	}
	len = (size_t)h.n * AUX_KEY_SIZE;
	got = pread(fd, keys, len, sizeof(h));
	if (got < 0) {
		ret = -errno;
		goto err_close;
	}
	if (got != (ssize_t)len) {
		seg_set_why("counters segment file size does not match its "
			    "header");
		ret = -EPROTO;
		goto err_close;
	}
	if (!aux_keys_valid(keys, h.n)) {
		seg_set_why("counters segment holds an invalid key");
		ret = -EPROTO;
		goto err_close;
	}
	mem = mmap(NULL, h.total_size, PROT_READ, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	a->mem = mem;
	a->size = h.total_size;
	a->fd = fd;
	a->n = h.n;
	a->writable = 0;
	return 0;

err_close:
	close(fd);
	return ret;
}

void ringside_aux_detach(struct ringside_aux *a)
{
	if (a->mem != NULL)
		munmap(a->mem, a->size);
	if (a->fd >= 0)
		close(a->fd);
	a->mem = NULL;
	a->fd = -1;
	a->writable = 0;
}

int ringside_aux_key(const struct ringside_aux *a, uint32_t i,
		     char key[RINGSIDE_AUX_KEY_MAX + 1])
{
	const char *k;
	size_t n;

	if (a->mem == NULL || i >= a->n)
		return -EINVAL;
	k = aux_key_at(a, i);
	n = strnlen(k, RINGSIDE_AUX_KEY_MAX);
	memcpy(key, k, n);
	key[n] = '\0';
	return 0;
}

/* What ringside_aux_read() copies under the seqlock. */
struct aux_copy {
	const uint64_t *src;
	uint64_t *dst;
	uint32_t n;
};

static void aux_copy(void *arg)
{
	const struct aux_copy *c = arg;

	seg_load_words(c->dst, c->src, (size_t)c->n * sizeof(uint64_t));
}

int ringside_aux_read(const struct ringside_aux *a, uint64_t *values,
		      uint32_t n)
{
	struct aux_copy c = { NULL, values, n };

	if (a->mem == NULL)
		return -EINVAL;
	if (c.n > a->n)
		c.n = a->n;
	c.src = aux_values(a);
	/* The writer's own lock never looks free to itself: no fallback. */
	return seg_seqlock_read(&aux_header(a)->seq, a->writable ? -1 : a->fd,
				aux_copy, &c);
}

int ringside_aux_state(const struct ringside_aux *a)
{
	const struct aux_header *h = aux_header(a);
	int alive;

	if (a->mem == NULL)
		return -EINVAL;
	if (seg_load_acquire(&h->state) == SEG_CLOSED)
		return RINGSIDE_CLOSED;
	if (a->writable)
		return RINGSIDE_TIMEOUT;
	alive = seg_alive(a->fd);
	if (alive < 0)
		return alive;
	if (alive)
		return RINGSIDE_TIMEOUT;
	/* The writer marks the segment closed before it lets go of the lock:
	 * a close between the two looks above reads as closed, not dead. */
	return seg_load_acquire(&h->state) == SEG_CLOSED ? RINGSIDE_CLOSED
							 : RINGSIDE_DEAD;
}

/* ---- finding them ---------------------------------------------------------- */

/*
 * Put @prog into @v, which holds @held names in order and room for @max:
 * the @max smallest names seen so far stay, sorted.
 */
static void aux_list_insert(char (*v)[RINGSIDE_NAME_MAX + 1], int held, int max,
			    const char *prog)
{
	int pos = held, last;

	while (pos > 0 && strcmp(prog, v[pos - 1]) < 0)
		pos--;
	if (pos >= max)
		return;
	last = held < max ? held : max - 1; /* the one that moves out last */
	memmove(v[pos + 1], v[pos], (size_t)(last - pos) * sizeof(v[0]));
	snprintf(v[pos], sizeof(v[pos]), "%s", prog);
}

int ringside_aux_list(const char *name, char programs[][RINGSIDE_NAME_MAX + 1],
		      int max)
{
	char prefix[RINGSIDE_NAME_MAX + 16];
	struct dirent *de;
	size_t plen;
	int count = 0;
	DIR *d;

	if (name == NULL || !ringside_name_valid(name) || max < 0 ||
	    (max > 0 && programs == NULL))
		return -EINVAL;
	plen = (size_t)snprintf(prefix, sizeof(prefix), "ringside.%s@", name);
	d = opendir("/dev/shm");
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		const char *prog = de->d_name + plen;

		/* Temporaries and lock files start with a dot; whatever
		 * else is not NAME@PROGRAM is not ours to show. */
		if (strncmp(de->d_name, prefix, plen) != 0 ||
		    !aux_program_valid(prog))
			continue;
		aux_list_insert(programs, count < max ? count : max, max, prog);
		count++;
	}
	closedir(d);
	return count;
}
