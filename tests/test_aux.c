/* SPDX-License-Identifier: MIT */
/*
 * test_aux.c - the counters segments of other programs (shm/aux.c),
 * /dev/shm/ringside.NAME@PROGRAM: counters and keys round trip from the
 * writer to a reader; a reader never takes a torn copy from a writer
 * updating them as fast as it can; one live writer per name; the state
 * reads live, then closed after a clean close, or dead once the writer's
 * process is killed; a corrupt, truncated or foreign file is refused with
 * -EPROTO and a reason, never a crash; bad names and keys with -EINVAL;
 * and ringside_aux_list finds a name's programs, sorted, and nothing else.
 *
 * Segments are named te<pid>... by the harness, whose .fini removes every
 * /dev/shm entry with that prefix (an engine name of ours followed by
 * @PROGRAM included) whatever the outcome.  A forked writer never
 * asserts: it reports through its exit status and a byte on a pipe.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "harness.h"
#include "layout.h"
#include "ringside.h"

#define NOBODY 65534

TestSuite(aux, .init = h_init, .fini = h_fini, .timeout = 30);

static const char *const three[] = { "published", "gaps", "breaker" };

/* ---- helpers ---------------------------------------------------------------- */

static void create_ok(struct ringside_aux *a, const char *name,
		      const char *program, const char *const *keys, uint32_t n)
{
	int ret = ringside_aux_create(a, name, program, keys, n, 0600);

	cr_assert_eq(ret, 0, "create %s@%s: %s", name, program,
		     ringside_strerror(ret));
	cr_assert(a->writable);
}

static void attach_ok(struct ringside_aux *a, const char *name,
		      const char *program)
{
	int ret = ringside_aux_attach(a, name, program, 0);

	cr_assert_eq(ret, 0, "attach %s@%s: %s", name, program,
		     ringside_strerror(ret));
	cr_assert_not(a->writable);
}

static void aux_file(char *path, size_t len, const char *name,
		     const char *program)
{
	int n = snprintf(path, len, "/dev/shm/ringside.%s@%s", name, program);

	cr_assert(n > 0 && (size_t)n < len);
}

/* One consistent update: counter i becomes @values[i]. */
static void publish(struct ringside_aux *a, const uint64_t *values, uint32_t n)
{
	uint32_t i;

	ringside_aux_begin(a);
	for (i = 0; i < n; i++)
		ringside_aux_set(a, i, values[i]);
	ringside_aux_end(a);
}

static void expect_values(const struct ringside_aux *a, const uint64_t *want,
			  uint32_t n)
{
	uint64_t got[RINGSIDE_AUX_MAX];
	uint32_t i;
	int ret;

	memset(got, 0xa5, sizeof(got));
	ret = ringside_aux_read(a, got, n);
	cr_assert_eq(ret, 0, "read: %d", ret);
	for (i = 0; i < n; i++)
		cr_assert_eq(got[i], want[i], "counter %u: %llu, not %llu", i,
			     (unsigned long long)got[i],
			     (unsigned long long)want[i]);
}

/* /dev/shm entries starting with @prefix: temporaries, lock files. */
static int count_entries(const char *prefix)
{
	struct dirent *de;
	DIR *d = opendir("/dev/shm");
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void put_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* The whole of file @path into @buf; its length. */
static size_t get_bytes(const char *path, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	n = read(fd, buf, len);
	cr_assert_gt(n, 0);
	close(fd);
	return (size_t)n;
}

static int read_byte(int fd)
{
	char c;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? (unsigned char)c : -1;
}

/*
 * Fork a writer of @name@@program: it creates the segment, stores 7, 8, 9
 * into its three counters (leaving the update open when @mid_update),
 * says 'r' on a pipe and waits to be killed.  Exit 2: create failed.
 */
static pid_t fork_writer(const char *name, const char *program, int mid_update)
{
	static const uint64_t v[] = { 7, 8, 9 };
	int fds[2];
	pid_t pid;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct ringside_aux a;
		char c = 'r';
		uint32_t i;

		close(fds[0]);
		if (ringside_aux_create(&a, name, program, three, 3, 0600) < 0)
			_exit(2);
		ringside_aux_begin(&a);
		for (i = 0; i < 3; i++)
			ringside_aux_set(&a, i, v[i]);
		if (!mid_update)
			ringside_aux_end(&a);
		if (write(fds[1], &c, 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	h_keep_child(pid);
	close(fds[1]);
	cr_assert_eq(read_byte(fds[0]), 'r', "the writer child did not start");
	close(fds[0]);
	return pid;
}

/* ---- round trips ------------------------------------------------------------ */

Test(aux, counters_round_trip_from_the_writer_to_a_reader)
{
	const uint64_t v1[] = { 12, 0, RINGSIDE_BREAKER_OPEN };
	const uint64_t v2[] = { UINT64_MAX, 1ull << 40, 3 };
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_aux w, r;
	uint64_t got[4] = { 0 };

	h_name(name, sizeof(name), "rt");
	create_ok(&w, name, "bridge", three, 3);
	attach_ok(&r, name, "bridge");
	cr_assert_eq(r.n, 3);
	expect_values(&r, (const uint64_t[]){ 0, 0, 0 }, 3);

	publish(&w, v1, 3);
	expect_values(&r, v1, 3);
	publish(&w, v2, 3);
	ringside_aux_set(&w, 3, 99); /* out of range: nothing */
	expect_values(&r, v2, 3);

	/* Fewer than there are; more is cut to what there are. */
	cr_assert_eq(ringside_aux_read(&r, got, 1), 0);
	cr_assert_eq(got[0], UINT64_MAX);
	cr_assert_eq(got[1], 0);
	got[3] = 77;
	cr_assert_eq(ringside_aux_read(&r, got, 4), 0);
	cr_assert_eq(got[2], 3);
	cr_assert_eq(got[3], 77, "a fourth value was written");

	/* A reader cannot store through its mapping by the API either. */
	ringside_aux_begin(&r);
	ringside_aux_set(&r, 0, 1);
	ringside_aux_end(&r);
	expect_values(&r, v2, 3);

	ringside_aux_detach(&r);
	cr_assert_null(r.mem);
	cr_assert_eq(ringside_aux_read(&r, got, 1), -EINVAL);
	ringside_aux_close(&w);
}

Test(aux, keys_read_back_in_order_and_nothing_beyond_them)
{
	const char *const keys[] = { "a", "published_batches",
				     "abcdefghijklmnopqrstuvwxyz01234" };
	char name[RINGSIDE_NAME_MAX + 1], key[RINGSIDE_AUX_KEY_MAX + 1];
	struct ringside_aux w, r;
	uint32_t i;

	h_name(name, sizeof(name), "keys");
	create_ok(&w, name, "p", keys, 3);
	attach_ok(&r, name, "p");
	for (i = 0; i < 3; i++) {
		memset(key, 'x', sizeof(key));
		cr_assert_eq(ringside_aux_key(&r, i, key), 0);
		cr_assert_str_eq(key, keys[i]);
		cr_assert_eq(ringside_aux_key(&w, i, key), 0);
		cr_assert_str_eq(key, keys[i]);
	}
	cr_assert_eq(ringside_aux_key(&r, 3, key), -EINVAL);
	ringside_aux_detach(&r);
	cr_assert_eq(ringside_aux_key(&r, 0, key), -EINVAL);
	ringside_aux_close(&w);
}

Test(aux, create_builds_in_place_with_its_mode_and_leaves_nothing_else)
{
	char name[RINGSIDE_NAME_MAX + 1], path[128], prefix[96];
	struct ringside_aux w;
	struct stat st;
	mode_t old;

	h_name(name, sizeof(name), "mode");
	old = umask(077); /* the mode asked for wins over the umask */
	cr_assert_eq(ringside_aux_create(&w, name, "bridge", three, 3, 0640),
		     0);
	umask(old);
	aux_file(path, sizeof(path), name, "bridge");
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0640, "mode %o", st.st_mode & 07777);
	cr_assert_eq((uint64_t)st.st_size, aux_size(3));
	cr_assert_eq(((struct aux_header *)w.mem)->pid, getpid());

	/* Neither the temporary nor the name's lock file stays. */
	snprintf(prefix, sizeof(prefix), ".ringside.%s@", name);
	cr_assert_eq(count_entries(prefix), 0);
	ringside_aux_close(&w);
	cr_assert_null(w.mem);
	cr_assert_eq(lstat(path, &st), 0, "a closed segment stays");
	ringside_aux_close(&w); /* twice is harmless */
}

/* ---- the seqlock ------------------------------------------------------------ */

struct hammer {
	struct ringside_aux *a;
	int stop;
};

/* Every update stores the same value k into every counter, k = 1, 2, ...:
 * a copy holding two different values is torn. */
static void *hammer_run(void *arg)
{
	struct hammer *hm = arg;
	uint64_t k;
	uint32_t i;

	for (k = 1; !__atomic_load_n(&hm->stop, __ATOMIC_RELAXED); k++) {
		ringside_aux_begin(hm->a);
		for (i = 0; i < hm->a->n; i++)
			ringside_aux_set(hm->a, i, k);
		ringside_aux_end(hm->a);
		/* Now and then a gap, so that readers get through too. */
		if ((k & 15) == 0)
			sched_yield();
	}
	return NULL;
}

Test(aux, a_reader_never_takes_a_torn_copy_from_a_busy_writer, .timeout = 60)
{
	const char *keys[RINGSIDE_AUX_MAX];
	char name[RINGSIDE_NAME_MAX + 1], buf[RINGSIDE_AUX_MAX][8];
	uint64_t v[RINGSIDE_AUX_MAX], prev = 0, changes = 0, ok = 0;
	struct ringside_aux w, r;
	struct hammer hm;
	pthread_t t;
	uint64_t deadline;
	uint32_t i;
	int ret, busy = 0;

	for (i = 0; i < RINGSIDE_AUX_MAX; i++) {
		snprintf(buf[i], sizeof(buf[i]), "c%u", i);
		keys[i] = buf[i];
	}
	h_name(name, sizeof(name), "torn");
	create_ok(&w, name, "hammer", keys, RINGSIDE_AUX_MAX);
	attach_ok(&r, name, "hammer");
	hm = (struct hammer){ &w, 0 };
	cr_assert_eq(pthread_create(&t, NULL, hammer_run, &hm), 0);

	/* Until the writer has been seen to move many times (or, on a
	 * machine too busy to let it, for 20 s at most). */
	deadline = h_now_ms() + 20000;
	while ((changes < 2000 || ok < 10000) && h_now_ms() < deadline) {
		ret = ringside_aux_read(&r, v, RINGSIDE_AUX_MAX);
		if (ret == -EAGAIN) {
			busy++;
			continue;
		}
		cr_assert_eq(ret, 0);
		ok++;
		for (i = 1; i < RINGSIDE_AUX_MAX; i++)
			cr_assert_eq(v[i], v[0],
				     "torn: counter %u is %llu, counter 0 "
				     "%llu",
				     i, (unsigned long long)v[i],
				     (unsigned long long)v[0]);
		cr_assert_geq(v[0], prev, "went back from %llu to %llu",
			      (unsigned long long)prev,
			      (unsigned long long)v[0]);
		if (v[0] != prev)
			changes++;
		prev = v[0];
	}
	__atomic_store_n(&hm.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	cr_assert_geq(changes, 2,
		      "the writer never moved (%llu reads, %d "
		      "busy)",
		      (unsigned long long)ok, busy);
	cr_log_info("%llu consistent reads, %llu changes, %d -EAGAIN",
		    (unsigned long long)ok, (unsigned long long)changes, busy);
	ringside_aux_detach(&r);
	ringside_aux_close(&w);
}

Test(aux, counters_caught_mid_update_are_refused_with_eagain, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_aux w, r;
	uint64_t v[3];

	h_name(name, sizeof(name), "mid");
	create_ok(&w, name, "bridge", three, 3);
	attach_ok(&r, name, "bridge");
	ringside_aux_begin(&w);
	ringside_aux_set(&w, 0, 5);
	cr_assert_eq(ringside_aux_read(&r, v, 3), -EAGAIN);
	ringside_aux_end(&w);
	expect_values(&r, (const uint64_t[]){ 5, 0, 0 }, 3);
	ringside_aux_detach(&r);
	ringside_aux_close(&w);
}

/* ---- writers and their state ------------------------------------------------ */

Test(aux, a_second_writer_on_a_live_segment_gets_ebusy, .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1], prefix[96];
	struct ringside_aux w1, w2, r;
	int ret;

	h_name(name, sizeof(name), "busy");
	create_ok(&w1, name, "bridge", three, 3);
	publish(&w1, (const uint64_t[]){ 1, 2, 3 }, 3);
	ret = ringside_aux_create(&w2, name, "bridge", three, 2, 0600);
	cr_assert_eq(ret, -EBUSY);
	cr_assert_not_null(strstr(ringside_strerror(ret), "live bridge"), "%s",
			   ringside_strerror(ret));
	cr_assert_null(w2.mem);
	snprintf(prefix, sizeof(prefix), ".ringside.%s@", name);
	cr_assert_eq(count_entries(prefix), 0, "a temporary was left");

	/* The first writer and its counters are untouched. */
	attach_ok(&r, name, "bridge");
	cr_assert_eq(r.n, 3);
	expect_values(&r, (const uint64_t[]){ 1, 2, 3 }, 3);
	ringside_aux_detach(&r);

	/* Another program of the same engine is another segment. */
	create_ok(&w2, name, "other", three, 1);
	ringside_aux_close(&w2);

	/* Once it has stopped, a new writer replaces it, from zero. */
	ringside_aux_close(&w1);
	create_ok(&w2, name, "bridge", three, 2);
	attach_ok(&r, name, "bridge");
	cr_assert_eq(r.n, 2);
	expect_values(&r, (const uint64_t[]){ 0, 0 }, 2);
	cr_assert_eq(ringside_aux_state(&r), RINGSIDE_TIMEOUT);
	ringside_aux_detach(&r);
	ringside_aux_close(&w2);
}

Test(aux, a_writer_in_another_process_holds_the_name_until_killed,
     .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_aux w;
	pid_t pid;

	h_name(name, sizeof(name), "proc");
	pid = fork_writer(name, "bridge", 0);
	cr_assert_eq(ringside_aux_create(&w, name, "bridge", three, 3, 0600),
		     -EBUSY);
	h_kill(pid);
	create_ok(&w, name, "bridge", three, 3);
	ringside_aux_close(&w);
}

Test(aux, the_state_reads_live_then_closed_after_a_clean_close)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_aux w, r, late;

	h_name(name, sizeof(name), "closed");
	create_ok(&w, name, "bridge", three, 3);
	attach_ok(&r, name, "bridge");
	cr_assert_eq(ringside_aux_state(&w), RINGSIDE_TIMEOUT);
	cr_assert_eq(ringside_aux_state(&r), RINGSIDE_TIMEOUT);
	publish(&w, (const uint64_t[]){ 4, 5, 6 }, 3);
	ringside_aux_close(&w);
	cr_assert_eq(ringside_aux_state(&w), -EINVAL);

	/* The reader there and a late one both see it stopped, with its
	 * last counters. */
	cr_assert_eq(ringside_aux_state(&r), RINGSIDE_CLOSED);
	expect_values(&r, (const uint64_t[]){ 4, 5, 6 }, 3);
	attach_ok(&late, name, "bridge");
	cr_assert_eq(ringside_aux_state(&late), RINGSIDE_CLOSED);
	expect_values(&late, (const uint64_t[]){ 4, 5, 6 }, 3);
	ringside_aux_detach(&late);
	ringside_aux_detach(&r);
}

Test(aux, a_writer_killed_by_sigkill_reads_as_dead_with_its_counters,
     .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_aux r, w;
	pid_t pid;

	h_name(name, sizeof(name), "dead");
	pid = fork_writer(name, "bridge", 0);
	attach_ok(&r, name, "bridge");
	cr_assert_eq(((const struct aux_header *)r.mem)->pid, pid);
	cr_assert_eq(ringside_aux_state(&r), RINGSIDE_TIMEOUT);
	expect_values(&r, (const uint64_t[]){ 7, 8, 9 }, 3);
	h_kill(pid);
	cr_assert_eq(ringside_aux_state(&r), RINGSIDE_DEAD);
	expect_values(&r, (const uint64_t[]){ 7, 8, 9 }, 3);
	ringside_aux_detach(&r);

	/* A dead writer's segment is replaced by the next one. */
	create_ok(&w, name, "bridge", three, 3);
	attach_ok(&r, name, "bridge");
	cr_assert_eq(ringside_aux_state(&r), RINGSIDE_TIMEOUT);
	expect_values(&r, (const uint64_t[]){ 0, 0, 0 }, 3);
	ringside_aux_detach(&r);
	ringside_aux_close(&w);
}

Test(aux, a_writer_killed_mid_update_leaves_its_last_counters_readable,
     .timeout = 10)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_aux r;
	uint64_t v[3];
	pid_t pid;

	h_name(name, sizeof(name), "killmid");
	pid = fork_writer(name, "bridge", 1);
	attach_ok(&r, name, "bridge");
	/* Alive and odd: it may yet finish, so no copy is given... */
	cr_assert_eq(ringside_aux_read(&r, v, 3), -EAGAIN);
	h_kill(pid);
	/* ...dead, nothing will change them again. */
	cr_assert_eq(ringside_aux_state(&r), RINGSIDE_DEAD);
	expect_values(&r, (const uint64_t[]){ 7, 8, 9 }, 3);
	ringside_aux_detach(&r);
}

Test(aux, a_writer_that_lets_go_without_closing_reads_as_dead)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_aux w, r;

	h_name(name, sizeof(name), "drop");
	create_ok(&w, name, "bridge", three, 3);
	attach_ok(&r, name, "bridge");
	ringside_aux_detach(&w); /* unmapped and unlocked, not marked */
	cr_assert_eq(ringside_aux_state(&r), RINGSIDE_DEAD);
	ringside_aux_detach(&r);
}

/* ---- what a reader refuses -------------------------------------------------- */

/*
 * What stands at NAME@bad, made from a valid segment of three counters
 * (or as said), and what ringside_strerror() must say about it.  Arrays,
 * not pointers: Criterion runs each case in a fresh process.
 */
struct corrupt_case {
	char what[24];
	char message[48];
};

ParameterizedTestParameters(aux, attach_refuses_a_corrupt_or_foreign_file)
{
	static struct corrupt_case cases[] = {
		{ "empty", "too small" },
		{ "short-header", "too small" },
		{ "header-only", "file size does not match" },
		{ "truncated", "file size does not match" },
		{ "extended", "file size does not match" },
		{ "magic", "bad magic" },
		{ "engine-segment", "bad magic" },
		{ "text", "bad magic" },
		{ "version", "layout version" },
		{ "key-size", "record sizes" },
		{ "count-zero", "count out of range" },
		{ "count-large", "count out of range" },
		{ "total-size", "do not add up" },
		{ "count-shrunk", "do not add up" },
		{ "key-upper", "invalid key" },
		{ "key-unterminated", "invalid key" },
		{ "key-empty", "invalid key" },
		{ "key-duplicate", "invalid key" },
		{ "key-state", "invalid key" },
		{ "directory", "not a regular file" },
		{ "symlink", "symbolic link" },
	};

	return cr_make_param_array(struct corrupt_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct corrupt_case *c, aux,
		  attach_refuses_a_corrupt_or_foreign_file)
{
	char name[RINGSIDE_NAME_MAX + 1], good[128], bad[128], text[2048];
	_Alignas(SEG_CACHELINE) unsigned char buf[16384];
	struct aux_header *h = (struct aux_header *)buf;
	char *keys = (char *)buf + sizeof(*h);
	struct ringside_aux w, r;
	size_t len;
	int ret;

	h_name(name, sizeof(name), "bad");
	create_ok(&w, name, "good", three, 3);
	aux_file(good, sizeof(good), name, "good");
	aux_file(bad, sizeof(bad), name, "bad");
	len = get_bytes(good, buf, sizeof(buf));
	cr_assert_eq(len, aux_size(3));

	if (strcmp(c->what, "empty") == 0) {
		len = 0;
	} else if (strcmp(c->what, "short-header") == 0) {
		len = sizeof(*h) - 1;
	} else if (strcmp(c->what, "header-only") == 0) {
		len = sizeof(*h);
	} else if (strcmp(c->what, "truncated") == 0) {
		len -= 1;
	} else if (strcmp(c->what, "extended") == 0) {
		memset(buf + len, 0, 8);
		len += 8;
	} else if (strcmp(c->what, "magic") == 0) {
		h->magic ^= 1;
	} else if (strcmp(c->what, "engine-segment") == 0) {
		struct ringside_params p = { .ring = 4,
					     .nsensors = 1,
					     .period_ns = 1000000,
					     .deadline_ns = 500000,
					     .mode = 0600 };
		const char *const sensors[] = { "s" };
		struct ringside_writer ew;
		char epath[96];

		h_name(p.name, sizeof(p.name), "eng");
		cr_assert_eq(ringside_writer_create(&ew, &p, sensors, NULL), 0);
		h_segment_path(epath, sizeof(epath), p.name);
		len = get_bytes(epath, buf, sizeof(buf));
		ringside_writer_close(&ew, 0);
	} else if (strcmp(c->what, "text") == 0) {
		memset(text, 'x', sizeof(text));
		memcpy(buf, text, len);
	} else if (strcmp(c->what, "version") == 0) {
		h->version = AUX_VERSION + 1;
	} else if (strcmp(c->what, "key-size") == 0) {
		h->key_size = 16;
	} else if (strcmp(c->what, "count-zero") == 0) {
		h->n = 0;
	} else if (strcmp(c->what, "count-large") == 0) {
		h->n = RINGSIDE_AUX_MAX + 1;
		h->total_size = aux_size(h->n);
	} else if (strcmp(c->what, "total-size") == 0) {
		h->total_size += 8;
	} else if (strcmp(c->what, "count-shrunk") == 0) {
		h->n = 2;
	} else if (strcmp(c->what, "key-upper") == 0) {
		keys[AUX_KEY_SIZE] = 'G';
	} else if (strcmp(c->what, "key-unterminated") == 0) {
		memset(keys + AUX_KEY_SIZE, 'a', AUX_KEY_SIZE);
	} else if (strcmp(c->what, "key-empty") == 0) {
		memset(keys + 2 * AUX_KEY_SIZE, 0, AUX_KEY_SIZE);
	} else if (strcmp(c->what, "key-duplicate") == 0) {
		memcpy(keys + 2 * AUX_KEY_SIZE, keys, AUX_KEY_SIZE);
	} else if (strcmp(c->what, "key-state") == 0) {
		memset(keys, 0, AUX_KEY_SIZE);
		memcpy(keys, "state", 5);
	}
	if (strcmp(c->what, "directory") == 0)
		cr_assert_eq(mkdir(bad, 0700), 0);
	else if (strcmp(c->what, "symlink") == 0)
		cr_assert_eq(symlink(good, bad), 0); /* even to a good one */
	else
		put_bytes(bad, buf, len);

	ret = ringside_aux_attach(&r, name, "bad", 0);
	cr_assert_eq(ret, -EPROTO, "%s: attach gave %d (%s)", c->what, ret,
		     ringside_strerror(ret));
	cr_assert_not_null(strstr(ringside_strerror(ret), c->message), "%s: %s",
			   c->what, ringside_strerror(ret));
	cr_assert_null(r.mem);
	cr_assert_eq(r.fd, -1);

	/* The good one beside it is still read. */
	attach_ok(&r, name, "good");
	ringside_aux_detach(&r);
	ringside_aux_close(&w);
}

Test(aux, attach_says_enoent_for_no_segment)
{
	char name[RINGSIDE_NAME_MAX + 1];
	struct ringside_aux r;

	h_name(name, sizeof(name), "none");
	cr_assert_eq(ringside_aux_attach(&r, name, "bridge", 0), -ENOENT);
	cr_assert_null(r.mem);
}

Test(aux, a_segment_of_an_untrusted_owner_is_refused_unless_trusted)
{
	char name[RINGSIDE_NAME_MAX + 1], path[128];
	struct ringside_aux w, r;
	int ret;

	if (geteuid() != 0)
		h_skip("needs root, to give a file to uid %d", NOBODY);
	h_name(name, sizeof(name), "owner");
	create_ok(&w, name, "bridge", three, 3);
	publish(&w, (const uint64_t[]){ 1, 2, 3 }, 3);
	aux_file(path, sizeof(path), name, "bridge");
	cr_assert_eq(chown(path, NOBODY, NOBODY), 0, "%s", strerror(errno));

	unsetenv("RINGSIDE_TRUST_UID");
	ret = ringside_aux_attach(&r, name, "bridge", 0);
	cr_assert_eq(ret, -EPERM, "attach gave %d", ret);
	cr_assert_not_null(strstr(ringside_strerror(ret), "uid 65534"), "%s",
			   ringside_strerror(ret));

	cr_assert_eq(
		ringside_aux_attach(&r, name, "bridge", RINGSIDE_ANY_OWNER), 0);
	expect_values(&r, (const uint64_t[]){ 1, 2, 3 }, 3);
	ringside_aux_detach(&r);

	setenv("RINGSIDE_TRUST_UID", "1000,65534", 1);
	cr_assert_eq(ringside_aux_attach(&r, name, "bridge", 0), 0);
	ringside_aux_detach(&r);
	unsetenv("RINGSIDE_TRUST_UID");
	ringside_aux_close(&w);
}

/* ---- bad arguments ---------------------------------------------------------- */

/*
 * Arguments ringside_aux_create must refuse with -EINVAL.  name is
 * appended to the test's te<pid> prefix, except "-" (an empty name); n
 * above 3 takes generated keys k0, k1, ...
 */
struct bad_args {
	char name[48];
	char program[48];
	char keys[3][40];
	uint32_t n;
	uint32_t mode;
	int null_keys;
};

ParameterizedTestParameters(aux, create_refuses_bad_names_and_keys)
{
	static struct bad_args cases[] = {
		{ "a@b", "bridge", { "k" }, 1, 0600, 0 },
		{ "a/b", "bridge", { "k" }, 1, 0600, 0 },
		{ "a.b", "bridge", { "k" }, 1, 0600, 0 },
		{ "-", "bridge", { "k" }, 1, 0600, 0 },
		{ "toolongtoolongtoolongtoolongtoolong",
		  "bridge",
		  { "k" },
		  1,
		  0600,
		  0 },
		{ "x", "Bridge", { "k" }, 1, 0600, 0 },
		{ "x", "a.b", { "k" }, 1, 0600, 0 },
		{ "x", "a/b", { "k" }, 1, 0600, 0 },
		{ "x", "a@b", { "k" }, 1, 0600, 0 },
		{ "x", "", { "k" }, 1, 0600, 0 },
		{ "x",
		  "abcdefghijklmnopqrstuvwxyz0123456",
		  { "k" },
		  1,
		  0600,
		  0 },
		{ "x", "bridge", { "Published" }, 1, 0600, 0 },
		{ "x", "bridge", { "with-dash" }, 1, 0600, 0 },
		{ "x", "bridge", { "a.b" }, 1, 0600, 0 },
		{ "x", "bridge", { "" }, 1, 0600, 0 },
		{ "x",
		  "bridge",
		  { "abcdefghijklmnopqrstuvwxyz012345" },
		  1,
		  0600,
		  0 },
		{ "x", "bridge", { "state" }, 1, 0600, 0 },
		{ "x", "bridge", { "a", "b", "a" }, 3, 0600, 0 },
		{ "x", "bridge", { "k" }, 0, 0600, 0 },
		{ "x", "bridge", { "k" }, RINGSIDE_AUX_MAX + 1, 0600, 0 },
		{ "x", "bridge", { "k" }, 1, 01600, 0 },
		{ "x", "bridge", { "k" }, 1, 0600, 1 },
	};

	return cr_make_param_array(struct bad_args, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_args *c, aux, create_refuses_bad_names_and_keys)
{
	char name[96], prefix[RINGSIDE_NAME_MAX + 1], gen[40][8];
	char programs[4][RINGSIDE_NAME_MAX + 1];
	const char *keys[RINGSIDE_AUX_MAX + 1];
	int name_ok, program_ok, ret;
	struct ringside_aux a;
	uint32_t i;

	h_name(prefix, sizeof(prefix), "");
	if (strcmp(c->name, "-") == 0)
		name[0] = '\0';
	else
		snprintf(name, sizeof(name), "%s%s", prefix, c->name);
	for (i = 0; i <= RINGSIDE_AUX_MAX; i++) {
		snprintf(gen[i], sizeof(gen[i]), "k%u", i);
		keys[i] = c->n > 3 || i >= 3 ? gen[i] : c->keys[i];
	}
	ret = ringside_aux_create(&a, name, c->program,
				  c->null_keys ? NULL : keys, c->n,
				  (mode_t)c->mode);
	cr_assert_eq(ret, -EINVAL, "create %s@%s gave %d", name, c->program,
		     ret);
	cr_assert_null(a.mem);

	/* Nothing was made, and a bad name is refused by readers too. */
	name_ok = ringside_name_valid(name);
	program_ok = strcmp(c->program, "bridge") == 0;
	ret = ringside_aux_attach(&a, name, c->program, 0);
	cr_assert_eq(ret, name_ok && program_ok ? -ENOENT : -EINVAL,
		     "attach %s@%s gave %d", name, c->program, ret);
	ret = ringside_aux_list(name, programs, 4);
	cr_assert_eq(ret, name_ok ? 0 : -EINVAL, "list %s gave %d", name, ret);
}

/* ---- finding them ----------------------------------------------------------- */

Test(aux, list_finds_a_names_programs_sorted_and_ignores_junk)
{
	static const char *const junk[] = {
		"Upper",
		"dot.ted",
		"",
		"abcdefghijklmnopqrstuvwxyz0123456",
	};
	char name[RINGSIDE_NAME_MAX + 1], other[RINGSIDE_NAME_MAX + 1];
	char programs[8][RINGSIDE_NAME_MAX + 1], path[160];
	struct ringside_aux zeta, alpha, mid, elsewhere;
	unsigned i;

	h_name(name, sizeof(name), "list");
	h_name(other, sizeof(other), "listx");
	cr_assert_eq(ringside_aux_list(name, programs, 8), 0);

	create_ok(&zeta, name, "zeta", three, 1);
	create_ok(&alpha, name, "alpha", three, 2);
	create_ok(&mid, name, "mid-1_2", three, 3);
	/* Another engine whose name begins with ours. */
	create_ok(&elsewhere, other, "beta", three, 1);
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		aux_file(path, sizeof(path), name, junk[i]);
		put_bytes(path, "junk", 4);
	}
	snprintf(path, sizeof(path), "/dev/shm/.ringside.%s@hidden.XXXXXX",
		 name);
	put_bytes(path, "tmp", 3);
	h_segment_path(path, sizeof(path), name); /* the engine's own */
	put_bytes(path, "x", 1);

	memset(programs, 0, sizeof(programs));
	cr_assert_eq(ringside_aux_list(name, programs, 8), 3);
	cr_assert_str_eq(programs[0], "alpha");
	cr_assert_str_eq(programs[1], "mid-1_2");
	cr_assert_str_eq(programs[2], "zeta");
	cr_assert_str_empty(programs[3]);

	/* Room for fewer: the first ones in order, and how many there are. */
	memset(programs, 0, sizeof(programs));
	cr_assert_eq(ringside_aux_list(name, programs, 2), 3);
	cr_assert_str_eq(programs[0], "alpha");
	cr_assert_str_eq(programs[1], "mid-1_2");
	cr_assert_str_empty(programs[2]);
	cr_assert_eq(ringside_aux_list(name, NULL, 0), 3);
	cr_assert_eq(ringside_aux_list(name, programs, -1), -EINVAL);

	memset(programs, 0, sizeof(programs));
	cr_assert_eq(ringside_aux_list(other, programs, 8), 1);
	cr_assert_str_eq(programs[0], "beta");

	/* A stopped program's segment stays, and is still listed. */
	ringside_aux_close(&zeta);
	cr_assert_eq(ringside_aux_list(name, programs, 8), 3);
	ringside_aux_close(&alpha);
	ringside_aux_close(&mid);
	ringside_aux_close(&elsewhere);
}
