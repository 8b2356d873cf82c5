/* SPDX-License-Identifier: MIT */
/*
 * harness.h - the integration-test harness: helpers that run the real
 * programs (ringsided, ringside-sim, tests/tool_*) as children of a test,
 * feed them through files, FIFOs and sockets, and read the engine's
 * batches back through libringside exactly as a client would, checking
 * the contract of every batch taken.
 *
 * Key invariant: whatever a test starts or creates is registered, and the
 * suite's .fini takes it all down whether the test passed or an assertion
 * ended it: children are killed and reaped, descriptors closed, FUSE
 * mounts unmounted, the segments named te<pid>... and the temporary
 * directory removed.  Children also get PR_SET_PDEATHSIG, so a test
 * killed by its timeout takes them along, and h_init() removes what a
 * crashed test process left behind once its pid is gone.
 *
 * How to use it, in a tests/test_<suite>.c:
 *
 *	#include "harness.h"
 *
 *	TestSuite(mysuite, .init = h_init, .fini = h_fini, .timeout = 30);
 *
 *	Test(mysuite, something_behaves)
 *	{
 *		char name[40], cfg[256];
 *		struct h_feed f;
 *		pid_t pid;
 *
 *		h_name(name, sizeof(name), "x");  (segment te<pid>x)
 *		h_config(cfg, sizeof(cfg), name, "50ms",
 *			 "[sensor a]\nsource = file:/proc/loadavg\n");
 *		pid = h_engine(cfg, "20");        (stops itself after 20 s)
 *		h_attach(&f, name, pid, 1);
 *		while (f.batches < 10) {
 *			h_next(&f);               (checked: gapless, complete)
 *			cr_assert(h_is(&f.v[0], "ok"), "%s", h_what(&f.v[0]));
 *		}
 *		h_done();
 *	}
 *
 * Every suite that uses the harness must name h_init and h_fini in its
 * TestSuite: Criterion runs each test in a process of its own, and the
 * registry lives in that process.  Helpers report trouble through
 * Criterion assertions, so they are called from a test (or its .init),
 * never from a forked child.
 *
 * Programs are found in $RINGSIDE_BIN (else build/bin), test tools in
 * $RINGSIDE_TESTS (else build/tests).  Set RINGSIDE_TEST_VERBOSE to have
 * the children's logs, and one line per batch taken, copied to stderr at
 * the end of each test.  Segment tags passed to h_name() start with a
 * letter, which is how h_init() tells a te<pid> prefix from the tag.
 */
#ifndef RINGSIDE_TESTS_HARNESS_H
#define RINGSIDE_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ringside.h"

#define H_CHILDREN_MAX 16
#define H_FDS_MAX 32
#define H_MOUNTS_MAX 4
#define H_FINI_MAX 4
#define H_SENSORS_MAX 16
#define H_ATTACH_MS 5000 /* a started engine creates its segment by then */
#define H_BATCH_MS 3000	 /* a running engine publishes a batch by then */

/*
 * The keys of a healthy file sensor among faulty ones whose [defaults]
 * set short timeouts: a pread takes microseconds, but a loaded virtual
 * machine can stall a thread for a few tens of them.
 */
#define H_FILE_KEYS "timeout = 40ms\nretry_attempts = 1\n\n"

/* ---- the registry ------------------------------------------------------ */

/* The suite's .init and .fini: set up and take down everything below. */
void h_init(void);
void h_fini(void);

/*
 * Have .fini call @fn(@arg) once every child is killed and reaped, before
 * the temporary directory is removed (the last registered runs first):
 * for what a helper holds in the test process itself, such as a client
 * connection to servers the test started.
 */
void h_at_fini(void (*fn)(void *arg), void *arg);

/* Register descriptor @fd, or child @pid, for .fini to close or kill. */
void h_keep_fd(int fd);
void h_keep_child(pid_t pid);
/* A child reaped by the test itself, which .fini must leave alone. */
void h_forget_child(pid_t pid);
/* Kill child @pid now, reap it and forget it. */
void h_kill(pid_t pid);
/* Close kept descriptor @fd now (and forget it). */
void h_close(int fd);

/* ---- time, names, files ------------------------------------------------ */

uint64_t h_now_ns(void); /* CLOCK_MONOTONIC, as the batches' *_mono_ns */
uint64_t h_now_ms(void);
void h_sleep_ms(unsigned ms);

/* @name inside the test's temporary directory (on tmpfs). */
void h_path(char *buf, size_t len, const char *name);
/*
 * The program @prog, from $RINGSIDE_BIN or build/bin, as an absolute path
 * (a child may run elsewhere, such as a shell in a tmux pane).
 */
void h_bin(char *buf, size_t len, const char *prog);
/* The test tool @prog, from $RINGSIDE_TESTS or build/tests, likewise. */
void h_tool(char *buf, size_t len, const char *prog);
/* A segment name unique to this test process: te<pid><tag>. */
void h_name(char *buf, size_t len, const char *tag);
/* The path of segment @name: /dev/shm/ringside.<name>. */
void h_segment_path(char *buf, size_t len, const char *name);

/* Write @len bytes to @path atomically: a temporary, then a rename. */
void h_put(const char *path, const void *data, size_t len);
void h_put_text(const char *path, const char *text);
/* Read the file @name of the temporary directory into @buf. */
void h_slurp(const char *name, char *buf, size_t len);
/* Make the FIFO @name in the temporary directory; its path into @path. */
void h_mkfifo(char *path, size_t len, const char *name);

/*
 * Skip the test, saying why (printf-formatted).  Criterion ends a skipped
 * test's process without running the suite's .fini, so the harness takes
 * down what the test holds first.
 */
__attribute__((noreturn, format(printf, 1, 2))) void h_skip(const char *fmt,
							    ...);

/* ---- children ---------------------------------------------------------- */

/*
 * Where a child's standard streams go.  Files are named in the temporary
 * directory and written from their start; a file named for both stdout and
 * stderr gets both.  Read ends of pipes are kept by the harness (h_close()
 * closes one early).  What is left unset is /dev/null.
 */
struct h_stdio {
	const char *in;	      /* stdin: this file */
	int *out;	      /* stdout: a pipe, its read end into *out */
	const char *out_file; /* else stdout into this file */
	int *err;	      /* stderr: a pipe, its read end into *err */
	const char *err_file; /* else stderr into this file */
};

/*
 * Start @argv (argv[0] a path, or a name looked up in PATH) with its
 * streams as @io says, default signal handling and no other descriptor
 * of the test.  Returns the pid.
 */
pid_t h_spawn_io(char *const argv[], const struct h_stdio *io);
/*
 * The same with stdout to a pipe whose read end lands in *@out when @out
 * is not NULL, and stderr into the file @log when @log is not NULL.
 */
pid_t h_spawn(char *const argv[], int *out, const char *log);
/*
 * Wait up to @timeout_ms for @pid to end.  Returns 0 with its wait status
 * in *@status, or -ETIMEDOUT.
 */
int h_wait(pid_t pid, int timeout_ms, int *status);
/* Wait for child @pid to end, however long it takes; its wait status. */
int h_reap(pid_t pid);
/* Wait for @pid and assert that it exited with @code. */
void h_expect_exit(pid_t pid, int timeout_ms, int code);
/* Read @fd to EOF (or @timeout_ms) into @buf, NUL-terminated. */
size_t h_read_all(int fd, char *buf, size_t len, int timeout_ms);

/*
 * Write the configuration of engine @name (period @period) followed by
 * the printf-formatted @fmt into the file @name.ini of the temporary
 * directory; its path goes into @path.
 */
__attribute__((format(printf, 5, 6))) void h_config(char *path, size_t len,
						    const char *name,
						    const char *period,
						    const char *fmt, ...);
/* Start ringsided on @cfg (stopping by itself after @duration seconds). */
pid_t h_engine(const char *cfg, const char *duration);
/*
 * Start ringsided as h_engine() does and wait up to @timeout_ms for its
 * segment @name to stand in /dev/shm: a new file, when @old_ino is the
 * inode of one it replaces (0: any).  Fails, quoting the engine's log,
 * when the engine exits first or makes none in time.  Returns its pid.
 */
pid_t h_engine_ready(const char *cfg, const char *duration, const char *name,
		     ino_t old_ino, int timeout_ms);

/*
 * Start ringside-sim with @nfeeds feeds (for 30 s) and wait for its ready
 * lines; the address of feed i goes into addr[i] (feeds are announced in
 * order).  h_sim_with() also sets the run's length (@duration seconds)
 * and, unless @seed is NULL, --seed.
 */
pid_t h_sim(const char *const *feeds, unsigned nfeeds, char addr[][128]);
pid_t h_sim_with(const char *duration, const char *seed,
		 const char *const *feeds, unsigned nfeeds, char addr[][128]);
/* The port of a sim ready address "HOST:PORT". */
unsigned h_addr_port(const char *addr);

/*
 * Mount tests/tool_fuse (files fast, slow, hang, release, slow_ms, stats;
 * slow answers after @slow_ms) on a new directory of the temporary
 * directory, whose path goes into @mnt, and wait until it is served.
 * .fini stops it and unmounts (fusermount3 -u -z) even after a failed
 * assertion.  Skips the test when FUSE is unavailable.  Returns its pid.
 */
pid_t h_fuse(char *mnt, size_t len, unsigned slow_ms);

/* ---- sockets ----------------------------------------------------------- */

/* A socket of @type bound to 127.0.0.1:@port (0: any); its port out. */
int h_bind(int type, unsigned port, unsigned *bound);
/* A loopback port on which nothing listens (bound, then closed). */
unsigned h_closed_port(int type);
/* A TCP listener on 127.0.0.1 (@port 0: any), kept by the harness. */
int h_listen(unsigned port, int backlog, unsigned *bound);
/*
 * A loopback TCP port on which nothing listens, held for the whole test:
 * connecting to it is refused, and no other process can take it meanwhile
 * (h_closed_port's port is free for anyone to take).  A sensor can then be
 * brought up and down on it: h_listen_reserved() returns a listener on it
 * (kept; h_close() takes it down, and connections are refused again).
 */
unsigned h_reserve_port(void);
int h_listen_reserved(unsigned port, int backlog);

/* Peers: misbehaving servers, run by one forked child (h_peers). */
enum peer_kind {
	PEER_VALUE,   /* answers each request line with a value */
	PEER_HANG,    /* accepts, reads, never answers */
	PEER_JUNK,    /* answers each request line with junk */
	PEER_MIDLINE, /* answers half a line, then closes */
	PEER_SLAM,    /* closes each connection as soon as it is accepted */
	PEER_UDP,     /* sends a value datagram to port every 10 ms */
	PEER_ODDSLOW, /* answers request n with n, odd ones 100 ms late */
	PEER_SPLIT,   /* pushes "99" and closes, then ".5\n" and closes */
};

struct peer {
	enum peer_kind kind;
	int fd;	       /* listener, or the UDP socket */
	unsigned port; /* PEER_UDP: the destination */
	double value;
};

/*
 * Fork the peers' child; the listeners stay open in this process too.
 * Returns its pid (h_kill() stops it, closing its connections).
 */
pid_t h_peers(const struct peer *peers, unsigned n);

/* ---- reading batches --------------------------------------------------- */

/* A reader following one engine, checking every batch it takes. */
struct h_feed {
	struct ringside_reader r;
	bool attached;
	pid_t engine;
	uint32_t n;	  /* sensors configured */
	uint64_t seq;	  /* of the last batch taken */
	uint64_t tick_ns; /* its tick, CLOCK_MONOTONIC */
	uint64_t batches; /* taken */
	struct ringside_batch b;
	struct ringside_reading v[H_SENSORS_MAX];
};

/*
 * Attach @f to segment @name of engine @pid (0: any engine, such as one
 * already gone), which has @n sensors.
 */
void h_attach(struct h_feed *f, const char *name, pid_t pid, uint32_t n);
/*
 * Take the next batch, waiting up to @timeout_ms.  Returns 1 with a batch
 * in f->b and f->v, 0 on timeout, or RINGSIDE_CLOSED / RINGSIDE_DEAD /
 * RINGSIDE_REPLACED when the engine is gone and every batch was taken.
 * Every batch taken is checked against the contract of SPEC.md: no batch
 * lost, seq gapless, every sensor present, ticks increasing, available
 * and the degraded flag agreeing with the statuses.
 */
int h_try_next(struct h_feed *f, int timeout_ms);
/* Take the next batch; one must come within H_BATCH_MS. */
void h_next(struct h_feed *f);
/*
 * The counters, consistent.  The engine updates them just after it
 * publishes a batch, so they are at least as new as the batch before the
 * last one taken, and maybe not yet as new as the last.  @e may be NULL.
 */
void h_stats(struct h_feed *f, struct ringside_engine_stats *e,
	     struct ringside_sensor_stats *s);
/*
 * A bound on what a loaded two-core machine may make of the engine's
 * schedule over @batches: it can deschedule the engine past the 1 ms late
 * slack, or past a whole period, now and then.  An engine that blocks on
 * a fault is off time on most ticks, which the bound still catches.
 */
#define H_OFF_TIME(batches) (2 + (batches) / 20)
/* The engine published at most H_OFF_TIME(@f->batches) batches late. */
void h_expect_timely(const struct h_feed *f,
		     const struct ringside_engine_stats *e);
/* Detach the test's reader; called at the end of each test that attaches. */
void h_done(void);

/*
 * What a reading says, as one word: "ok", "open", "pending", or the
 * errno name of a failure ("ETIMEDOUT").
 */
const char *h_what(const struct ringside_reading *v);
bool h_is(const struct ringside_reading *v, const char *what);
bool h_late(const struct ringside_reading *v);
/* Assert that sensor @i of the last batch taken is ok with @value. */
void h_expect_value(const struct h_feed *f, uint32_t i, double value);

/* Open descriptors of process @pid. */
unsigned h_fd_count(pid_t pid);

#endif /* RINGSIDE_TESTS_HARNESS_H */
