/* SPDX-License-Identifier: MIT */
/*
 * sim.c - ringside-sim, simulated sensor feeds with fault profiles.
 *
 * Each FEED on the command line is one simulated sensor: a FIFO or a pty
 * that is written lines, a file that is rewritten atomically, a TCP or Unix
 * listener that pushes lines to its clients or answers request lines, or a
 * UDP sender. A fault profile per feed (fail, latency, hang, garbage, down
 * windows, flapping) decides what becomes of each record or reply.
 *
 * One thread runs one epoll loop. Every deadline (the next record of a
 * feed, its next up/down change, a delayed reply, the end of the run) sits
 * in one binary heap behind one timerfd, so thousands of feeds cost one
 * wakeup per distinct deadline and no file descriptor each.
 *
 * Repeatability: every random choice is a pure function of the seed, the
 * feed's index, the record (or request) number and a draw number, never of
 * timing. Records are numbered by their slot in time (slot n is due at
 * start + latency + n / rate); requests by their order of arrival at the
 * feed. So with --seed the n-th record of a feed, and the fault that hits
 * it, are the same on every run, however loaded the machine is.
 *
 * Ownership: struct sim owns the feeds; a feed owns its descriptors and its
 * clients. A closed client leaves its feed's list and the timer heap at
 * once, but its memory is freed only after the current batch of epoll
 * events, because a later event of the same batch may still point at it.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#ifndef RINGSIDE_VERSION
#define RINGSIDE_VERSION "unknown"
#endif

#define SIM_NAME "ringside-sim"
#define SIM_NS 1000000000ull

/* One formatted record, newline included, always fits. */
#define SIM_RECORD_MAX 512
/* Unsent bytes kept for a client that does not read; past that it is
 * disconnected (the kernel's socket buffer has filled up before this). */
#define SIM_OUT_MAX (64 * 1024)
/* Replies a client may have waiting on latency= before it is disconnected. */
#define SIM_QUEUE_MAX 32
#define SIM_RATE_MAX 100000.0
/* Seconds and milliseconds on the command line stay far from overflow. */
#define SIM_SECONDS_MAX 1e9
#define SIM_EVENTS 256
/* A listener or FIFO that cannot be reopened is retried this often. */
#define SIM_RETRY_NS (1 * SIM_NS)
/* accept() out of descriptors: stop accepting for this long. */
#define SIM_ACCEPT_PAUSE_NS (SIM_NS / 10)

/* Room for a Unix socket path, its NUL included (108 on Linux). */
#define SIM_SUN_PATH_SIZE (sizeof(((struct sockaddr_un *)0)->sun_path))

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct sim;
struct sim_io;
struct sim_timer;

/* Called by the loop when io->fd reports events. */
typedef void (*sim_io_fn)(struct sim *s, struct sim_io *io, uint32_t events);
/* Called when t->due has passed; t is no longer queued. */
typedef void (*sim_timer_fn)(struct sim *s, struct sim_timer *t, uint64_t now);

/* A descriptor in the epoll set; epoll's data.ptr points at it. */
struct sim_io {
	int fd;
	sim_io_fn fn;
};

/* A deadline in the heap (CLOCK_MONOTONIC nanoseconds). */
struct sim_timer {
	uint64_t due;
	size_t slot; /* index in the heap + 1; 0 when not queued */
	sim_timer_fn fn;
};

enum sim_kind { SIM_FIFO, SIM_PTY, SIM_FILE, SIM_TCP, SIM_UNIX, SIM_UDP };

static const char *const sim_kind_names[] = {
	[SIM_FIFO] = "fifo", [SIM_PTY] = "pty",	  [SIM_FILE] = "file",
	[SIM_TCP] = "tcp",   [SIM_UNIX] = "unix", [SIM_UDP] = "udp",
};

enum sim_reply { SIM_REPLY_VALUE, SIM_REPLY_GARBAGE, SIM_REPLY_FAIL };

/*
 * The draws made for record (or request) n. Each is its own stream, so
 * that changing one probability never shifts the others' outcomes.
 */
enum sim_draw {
	SIM_DRAW_HANG,
	SIM_DRAW_FAIL,
	SIM_DRAW_GARBAGE,
	SIM_DRAW_NOISE,
	SIM_DRAW_JUNK,
	SIM_DRAW_BYTES,
};

/* A down window, nanoseconds from the start: down in [start, end). */
struct sim_window {
	uint64_t start;
	uint64_t end;
};

/* A reply held back by latency=. */
struct sim_pending {
	uint64_t due;
	uint64_t n;
	enum sim_reply what;
};

struct sim_feed;

/* A connection accepted on a tcp or unix feed. */
struct sim_client {
	struct sim_io io; /* fd -1 once closed */
	struct sim_feed *feed;
	struct sim_client *prev;
	struct sim_client *next; /* in feed->clients, then in the zombies */
	struct sim_timer reply;	 /* due of queue[qhead] */
	struct sim_pending queue[SIM_QUEUE_MAX];
	unsigned int qhead;
	unsigned int qlen;
	char *out; /* SIM_OUT_MAX bytes, allocated on the first short send */
	size_t out_len;
	bool want_out; /* EPOLLOUT is in the epoll set */
};

struct sim_feed {
	/* From the command line. */
	const char *spec; /* the argument as given, for messages */
	enum sim_kind kind;
	char *address; /* the part after "KIND:", without the options */
	char *host;    /* tcp, udp: for getaddrinfo (no brackets) */
	char *port;
	double value;
	double noise;
	double rate;
	double fail;
	double hang;
	double garbage;
	uint64_t latency; /* ns */
	struct sim_window *down;
	size_t ndown;
	uint64_t flap_up; /* ns; 0: no flapping */
	uint64_t flap_down;
	bool request;
	bool format_int; /* the conversion is %lld of the rounded value */
	char format[48];

	/* State. */
	uint64_t seed;
	bool is_down;
	bool created;	  /* the path is ours: remove it at exit */
	bool paused;	  /* the listener is out of the epoll set */
	bool warned;	  /* a runtime error has been reported once */
	struct sim_io io; /* FIFO, pty master, listener or UDP socket */
	int slave;	  /* pty: our own hold on the slave */
	int hold;	  /* tcp while down: the port, bound, not listening */
	char *tmp;	  /* file: the temporary that is renamed over it */
	char *ready;	  /* ADDRESS of the ready line */
	struct sockaddr_storage addr; /* tcp, unix: where to listen again */
	socklen_t addrlen;
	struct sim_timer push;	/* next record slot */
	struct sim_timer state; /* next change of is_down */
	struct sim_timer retry; /* reopen, or accept again */
	uint64_t slot;		/* number of the next record slot */
	uint64_t nreq;		/* requests received */
	struct sim_client *clients;

	/* Counters for the summary. */
	uint64_t records; /* records and replies written, garbage included */
	uint64_t garbled;
	uint64_t failed;
	uint64_t hung;
	uint64_t accepted;
	uint64_t dropped; /* clients cut off: not reading, or too far ahead */
};

struct sim {
	int epfd;
	struct sim_io timer;  /* timerfd armed at the heap's first deadline */
	struct sim_io signal; /* signalfd for SIGINT, SIGTERM, SIGHUP */
	uint64_t armed;	      /* deadline the timerfd is set to; 0: none */
	uint64_t t0;	      /* the start: down windows count from here */
	uint64_t now;	      /* sampled after each epoll_wait */
	struct sim_timer **heap;
	size_t heap_len;
	size_t heap_cap;
	size_t heap_need; /* timers that exist; heap_cap never falls below */
	struct sim_feed *feeds;
	size_t nfeeds;
	struct sim_client *zombies;
	struct sim_timer end;
	uint64_t seed;
	double duration; /* seconds; < 0: until a signal */
	bool stop;
	bool quiet;
};

static uint64_t sim_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SIM_NS + (uint64_t)ts.tv_nsec;
}

/*
 * Randomness. splitmix64's finaliser is a bijection with good avalanche, so
 * mixing (feed seed, n, k) gives independent-looking draws without any
 * state to carry between records.
 */
static uint64_t sim_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Returns draw k for record or request n of feed f. */
static uint64_t sim_draw(const struct sim_feed *f, uint64_t n, enum sim_draw k)
{
	return sim_mix(f->seed ^ sim_mix(n * 8 + (uint64_t)k));
}

/* Returns a uniform double in [0, 1) from 53 bits of x. */
static double sim_unit(uint64_t x)
{
	return (double)(x >> 11) * 0x1p-53;
}

static bool sim_chance(const struct sim_feed *f, uint64_t n, enum sim_draw k,
		       double p)
{
	return p > 0 && sim_unit(sim_draw(f, n, k)) < p;
}

/* ---- Messages ---------------------------------------------------------- */

static void sim_report(const struct sim_feed *f, const char *what, int err)
{
	fprintf(stderr, SIM_NAME ": %s: %s: %s\n", f->spec, what,
		strerror(err));
}

static void sim_complain(const struct sim_feed *f, const char *msg)
{
	fprintf(stderr, SIM_NAME ": %s: %s\n", f->spec, msg);
}

/* A runtime error that may repeat at every record is reported once. */
static void sim_report_once(struct sim_feed *f, const char *what, int err)
{
	if (f->warned)
		return;
	f->warned = true;
	sim_report(f, what, err);
}

/* ---- The timer heap ---------------------------------------------------- */

static void sim_heap_put(struct sim *s, size_t i, struct sim_timer *t)
{
	s->heap[i] = t;
	t->slot = i + 1;
}

static void sim_heap_up(struct sim *s, size_t i)
{
	struct sim_timer *t = s->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (s->heap[parent]->due <= t->due)
			break;
		sim_heap_put(s, i, s->heap[parent]);
		i = parent;
	}
	sim_heap_put(s, i, t);
}

static void sim_heap_down(struct sim *s, size_t i)
{
	struct sim_timer *t = s->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= s->heap_len)
			break;
		if (child + 1 < s->heap_len &&
		    s->heap[child + 1]->due < s->heap[child]->due)
			child++;
		if (s->heap[child]->due >= t->due)
			break;
		sim_heap_put(s, i, s->heap[child]);
		i = child;
	}
	sim_heap_put(s, i, t);
}

static void sim_timer_del(struct sim *s, struct sim_timer *t)
{
	struct sim_timer *last;
	size_t i;

	if (!t->slot)
		return;
	i = t->slot - 1;
	t->slot = 0;
	last = s->heap[--s->heap_len];
	if (last == t)
		return;
	sim_heap_put(s, i, last);
	sim_heap_up(s, i);
	sim_heap_down(s, last->slot - 1);
}

/* Queue t at due, or move it there. Never allocates: see sim_timer_reserve. */
static void sim_timer_add(struct sim *s, struct sim_timer *t, uint64_t due)
{
	sim_timer_del(s, t);
	assert(s->heap_len < s->heap_cap);
	t->due = due;
	sim_heap_put(s, s->heap_len++, t);
	sim_heap_up(s, s->heap_len - 1);
}

/*
 * Make room for n more timers, so that queueing one never allocates.
 * Returns 0 or -ENOMEM.
 */
static int sim_timer_reserve(struct sim *s, size_t n)
{
	size_t cap = s->heap_cap;
	struct sim_timer **heap;

	if (s->heap_need + n > cap) {
		cap = cap ? cap : 64;
		while (cap < s->heap_need + n)
			cap *= 2;
		heap = realloc(s->heap, cap * sizeof(*heap));
		if (!heap)
			return -ENOMEM;
		s->heap = heap;
		s->heap_cap = cap;
	}
	s->heap_need += n;
	return 0;
}

/* Point the timerfd at the first deadline, if it moved. Returns 0 or -errno. */
static int sim_timer_arm(struct sim *s)
{
	uint64_t due = s->heap_len ? s->heap[0]->due : 0;
	struct itimerspec its = { 0 };

	if (due == s->armed)
		return 0;
	its.it_value.tv_sec = (time_t)(due / SIM_NS);
	its.it_value.tv_nsec = (long)(due % SIM_NS);
	if (timerfd_settime(s->timer.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	s->armed = due;
	return 0;
}

static void sim_timer_run(struct sim *s, uint64_t now)
{
	while (s->heap_len && s->heap[0]->due <= now) {
		struct sim_timer *t = s->heap[0];

		sim_timer_del(s, t);
		t->fn(s, t, now);
	}
}

/* ---- Records ----------------------------------------------------------- */

/* Junk that no parser may take for a number; the last kind is binary. */
static const char *const sim_junk[] = { "#@!garbage", "nan", "-inf", "1e999" };
#define SIM_JUNK_KINDS (sizeof(sim_junk) / sizeof(sim_junk[0]) + 1)

/*
 * Binary junk: control bytes and bytes >= 0x7f only, so that it holds no
 * whitespace (it stays one record, one field) and no digit, sign or dot.
 */
static size_t sim_binary(const struct sim_feed *f, uint64_t n, char *buf)
{
	uint64_t r = sim_draw(f, n, SIM_DRAW_BYTES);
	size_t len = 8 + r % 25, i;

	for (i = 0; i < len; i++) {
		unsigned int b;

		r = sim_mix(r);
		b = (unsigned int)(r % 156);
		if (b < 9)
			buf[i] = (char)b; /* 0x00..0x08 */
		else if (b < 27)
			buf[i] = (char)(0x0e + b - 9); /* 0x0e..0x1f */
		else
			buf[i] = (char)(0x7f + b - 27); /* 0x7f..0xff */
	}
	return len;
}

/*
 * Write record n of f into buf (SIM_RECORD_MAX bytes): its value line, or a
 * junk line when garbage is set. Returns the length, newline included.
 */
static size_t sim_record(const struct sim_feed *f, uint64_t n, bool garbage,
			 char *buf)
{
	double v;
	int len;

	if (garbage) {
		uint64_t kind = sim_draw(f, n, SIM_DRAW_JUNK) % SIM_JUNK_KINDS;
		size_t k;

		if (kind < SIM_JUNK_KINDS - 1) {
			k = strlen(sim_junk[kind]);
			memcpy(buf, sim_junk[kind], k);
		} else {
			k = sim_binary(f, n, buf);
		}
		buf[k] = '\n';
		return k + 1;
	}

	v = f->value +
	    f->noise * (2.0 * sim_unit(sim_draw(f, n, SIM_DRAW_NOISE)) - 1.0);
	/* The format was checked by sim_parse_format: one conversion, of a
	 * double or of a long long, bounded width and precision. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (f->format_int) {
		long long i = LLONG_MAX;

		if (v <= -9e18)
			i = LLONG_MIN;
		else if (v < 9e18)
			i = llround(v);

		len = snprintf(buf, SIM_RECORD_MAX - 1, f->format, i);
	} else {
		len = snprintf(buf, SIM_RECORD_MAX - 1, f->format, v);
	}
#pragma GCC diagnostic pop
	if (len < 0)
		len = 0;
	if (len > SIM_RECORD_MAX - 2)
		len = SIM_RECORD_MAX - 2;
	buf[len] = '\n';
	return (size_t)len + 1;
}

/* ---- Clients of tcp and unix feeds ------------------------------------- */

static void sim_client_close(struct sim *s, struct sim_client *c)
{
	struct sim_feed *f = c->feed;

	if (c->io.fd < 0)
		return;
	close(c->io.fd);
	c->io.fd = -1;
	sim_timer_del(s, &c->reply);
	if (c->prev)
		c->prev->next = c->next;
	else
		f->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = s->zombies;
	s->zombies = c;
}

static void sim_client_drop(struct sim *s, struct sim_client *c)
{
	c->feed->dropped++;
	sim_client_close(s, c);
}

static void sim_client_want_out(struct sim *s, struct sim_client *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &c->io };

	if (c->want_out == on)
		return;
	if (on)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->io.fd, &ev) < 0) {
		sim_client_close(s, c);
		return;
	}
	c->want_out = on;
}

/*
 * Send buf to c, keeping what the socket does not take. A client with more
 * than SIM_OUT_MAX bytes waiting is not reading: it is disconnected.
 */
static void sim_client_send(struct sim *s, struct sim_client *c,
			    const char *buf, size_t len)
{
	ssize_t n = 0;

	if (c->out_len == 0) {
		n = send(c->io.fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == (ssize_t)len)
			return;
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				sim_client_close(s, c);
				return;
			}
			n = 0;
		}
	}
	buf += n;
	len -= (size_t)n;
	if (c->out_len + len > SIM_OUT_MAX) {
		sim_client_drop(s, c);
		return;
	}
	if (!c->out && !(c->out = malloc(SIM_OUT_MAX))) {
		sim_client_drop(s, c);
		return;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	sim_client_want_out(s, c, true);
}

static void sim_client_flush(struct sim *s, struct sim_client *c)
{
	while (c->out_len) {
		ssize_t n = send(c->io.fd, c->out, c->out_len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				sim_client_close(s, c);
			return;
		}
		c->out_len -= (size_t)n;
		memmove(c->out, c->out + n, c->out_len);
	}
	sim_client_want_out(s, c, false);
}

/* Answer request n on c now: a value line, junk, or a closed connection. */
static void sim_reply(struct sim *s, struct sim_client *c, uint64_t n,
		      enum sim_reply what)
{
	struct sim_feed *f = c->feed;
	char buf[SIM_RECORD_MAX];
	size_t len;

	if (what == SIM_REPLY_FAIL) {
		f->failed++;
		sim_client_close(s, c);
		return;
	}
	len = sim_record(f, n, what == SIM_REPLY_GARBAGE, buf);
	f->records++;
	if (what == SIM_REPLY_GARBAGE)
		f->garbled++;
	sim_client_send(s, c, buf, len);
}

static void sim_reply_fire(struct sim *s, struct sim_timer *t, uint64_t now)
{
	struct sim_client *c = container_of(t, struct sim_client, reply);

	while (c->qlen && c->queue[c->qhead].due <= now) {
		struct sim_pending p = c->queue[c->qhead];

		c->qhead = (c->qhead + 1) % SIM_QUEUE_MAX;
		c->qlen--;
		sim_reply(s, c, p.n, p.what);
		if (c->io.fd < 0)
			return;
	}
	if (c->qlen)
		sim_timer_add(s, t, c->queue[c->qhead].due);
}

/*
 * One request line arrived on c. Every choice is drawn from the feed's
 * request number, so a single client sees the same sequence on every run.
 */
static void sim_request(struct sim *s, struct sim_client *c)
{
	struct sim_feed *f = c->feed;
	uint64_t n = f->nreq++;
	enum sim_reply what = SIM_REPLY_VALUE;
	struct sim_pending *p;

	if (sim_chance(f, n, SIM_DRAW_HANG, f->hang)) {
		f->hung++;
		return;
	}
	if (sim_chance(f, n, SIM_DRAW_FAIL, f->fail))
		what = SIM_REPLY_FAIL;
	else if (sim_chance(f, n, SIM_DRAW_GARBAGE, f->garbage))
		what = SIM_REPLY_GARBAGE;
	if (!f->latency) {
		sim_reply(s, c, n, what);
		return;
	}
	if (c->qlen == SIM_QUEUE_MAX) {
		/* Requests pipelined faster than latency lets them out. */
		sim_client_drop(s, c);
		return;
	}
	p = &c->queue[(c->qhead + c->qlen) % SIM_QUEUE_MAX];
	p->due = s->now + f->latency;
	p->n = n;
	p->what = what;
	if (c->qlen++ == 0)
		sim_timer_add(s, &c->reply, p->due);
}

static void sim_client_io(struct sim *s, struct sim_io *io, uint32_t events)
{
	struct sim_client *c = container_of(io, struct sim_client, io);
	char buf[4096];
	int i;

	if (io->fd < 0)
		return; /* closed earlier in this batch */
	if (events & EPOLLOUT) {
		sim_client_flush(s, c);
		if (io->fd < 0)
			return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	/* A bounded number of reads: a flooding client must not starve the
	 * others; level-triggered epoll brings us back for the rest. */
	for (i = 0; i < 16; i++) {
		ssize_t n = recv(io->fd, buf, sizeof(buf), MSG_DONTWAIT);
		const char *p, *end;

		if (n == 0) {
			sim_client_close(s, c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				sim_client_close(s, c);
			return;
		}
		/* A push feed ignores what it is sent; a request feed counts
		 * lines and never looks at their content. */
		if (c->feed->request) {
			end = buf + n;
			for (p = buf; (p = memchr(p, '\n', (size_t)(end - p)));
			     p++) {
				sim_request(s, c);
				if (io->fd < 0)
					return;
			}
		}
		if ((size_t)n < sizeof(buf))
			return;
	}
}

static void sim_listen_pause(struct sim *s, struct sim_feed *f)
{
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, f->io.fd, NULL);
	f->paused = true;
	sim_timer_add(s, &f->retry, s->now + SIM_ACCEPT_PAUSE_NS);
}

static void sim_accept(struct sim *s, struct sim_io *io, uint32_t events)
{
	struct sim_feed *f = container_of(io, struct sim_feed, io);
	int i;

	(void)events;
	for (i = 0; i < 64 && io->fd >= 0; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct sim_client *c;
		int fd, one = 1;

		fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Level-triggered: without a pause the
				 * pending connection would spin the loop. */
				sim_report_once(f, "accept", errno);
				sim_listen_pause(s, f);
			}
			return;
		}
		/* Replies are single small writes: Nagle plus delayed ACKs
		 * would hold them back by tens of milliseconds. */
		if (f->kind == SIM_TCP)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c || sim_timer_reserve(s, 1) < 0) {
			free(c);
			close(fd);
			sim_report_once(f, "accept", ENOMEM);
			sim_listen_pause(s, f);
			return;
		}
		c->io.fd = fd;
		c->io.fn = sim_client_io;
		c->feed = f;
		c->reply.fn = sim_reply_fire;
		ev.data.ptr = &c->io;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			s->heap_need--;
			continue;
		}
		c->next = f->clients;
		if (c->next)
			c->next->prev = c;
		f->clients = c;
		f->accepted++;
	}
}

/* ---- Opening and closing feeds ----------------------------------------- */

static int sim_epoll_add(struct sim *s, struct sim_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
		return -errno;
	return 0;
}

static void sim_io_close(struct sim_io *io)
{
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
}

/*
 * Listen on f->addr again: after a down window, or the first time once the
 * address is resolved. A Unix socket left by the previous listener is
 * removed first. Returns 0 or -errno, with *what naming the failed call.
 */
static int sim_listen(struct sim *s, struct sim_feed *f, const char **what)
{
	int fd, one = 1, err;

	*what = "socket";
	fd = socket(f->addr.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (f->kind == SIM_TCP) {
		/* SO_REUSEPORT too: while down, the port stays ours through a
		 * socket bound beside this one (see sim_set_down). */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	} else if (f->created)
		unlink(f->address);
	*what = "bind";
	if (bind(fd, (struct sockaddr *)&f->addr, f->addrlen) < 0)
		goto err_close;
	if (f->kind == SIM_UNIX)
		f->created = true;
	*what = "listen";
	if (listen(fd, SOMAXCONN) < 0)
		goto err_close;
	f->io.fd = fd;
	f->io.fn = sim_accept;
	f->paused = false;
	*what = "epoll_ctl";
	err = sim_epoll_add(s, &f->io, EPOLLIN);
	if (err < 0) {
		sim_io_close(&f->io);
		return err;
	}
	return 0;

err_close:
	err = -errno;
	close(fd);
	return err;
}

static int sim_fifo_reopen(struct sim_feed *f)
{
	f->io.fd = open(f->address, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	return f->io.fd < 0 ? -errno : 0;
}

static void sim_retry_fire(struct sim *s, struct sim_timer *t, uint64_t now)
{
	struct sim_feed *f = container_of(t, struct sim_feed, retry);
	const char *what = "open";
	int err = 0;

	if (f->is_down)
		return;
	if (f->kind == SIM_FIFO && f->io.fd < 0) {
		err = sim_fifo_reopen(f);
	} else if (f->kind == SIM_TCP || f->kind == SIM_UNIX) {
		if (f->io.fd < 0) {
			err = sim_listen(s, f, &what);
		} else if (f->paused) {
			what = "epoll_ctl";
			err = sim_epoll_add(s, &f->io, EPOLLIN);
			if (!err)
				f->paused = false;
		}
	}
	if (err < 0) {
		sim_report_once(f, what, -err);
		sim_timer_add(s, t, now + SIM_RETRY_NS);
	}
}

static int sim_file_write(struct sim_feed *f, const char *buf, size_t len)
{
	int fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	if (n != (ssize_t)len) {
		int err = n < 0 ? errno : EIO;

		close(fd);
		unlink(f->tmp);
		return -err;
	}
	if (close(fd) < 0 || rename(f->tmp, f->address) < 0) {
		int err = errno;

		unlink(f->tmp);
		return -err;
	}
	return 0;
}

/*
 * A FIFO or pty that nobody reads fills up (64 KiB for a pipe, a few KiB
 * for a pty). Rather than drop the newest record, throw the backlog away and
 * write it: whoever opens the feed later then finds the latest value last.
 */
static void sim_stream_write(struct sim_feed *f, const char *buf, size_t len)
{
	char scratch[4096];
	int tries;

	for (tries = 0; tries < 2; tries++) {
		ssize_t n = write(f->io.fd, buf, len);

		if (n == (ssize_t)len)
			return;
		if (n >= 0) {
			/* A short write: the rest of the line follows so the
			 * reader never sees two records run together. */
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			sim_report_once(f, "write", errno);
			return;
		}
		if (f->kind == SIM_PTY)
			tcflush(f->slave, TCIFLUSH);
		else
			while (read(f->io.fd, scratch, sizeof(scratch)) > 0)
				;
	}
}

static void sim_emit(struct sim *s, struct sim_feed *f, uint64_t n)
{
	char buf[SIM_RECORD_MAX];
	struct sim_client *c, *next;
	size_t len;
	bool garbage;
	int err;

	if (sim_chance(f, n, SIM_DRAW_FAIL, f->fail)) {
		f->failed++;
		/* A file cannot skip a record unseen: a failed rewrite
		 * leaves it empty until the next one. */
		if (f->kind == SIM_FILE) {
			err = sim_file_write(f, "", 0);
			if (err < 0)
				sim_report_once(f, "write", -err);
		}
		return;
	}
	garbage = sim_chance(f, n, SIM_DRAW_GARBAGE, f->garbage);
	len = sim_record(f, n, garbage, buf);
	f->records++;
	if (garbage)
		f->garbled++;

	switch (f->kind) {
	case SIM_FIFO:
	case SIM_PTY:
		if (f->io.fd >= 0)
			sim_stream_write(f, buf, len);
		break;
	case SIM_FILE:
		err = sim_file_write(f, buf, len);
		if (err < 0)
			sim_report_once(f, "write", -err);
		break;
	case SIM_UDP:
		/* Refused or dropped datagrams are what UDP does. */
		send(f->io.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	case SIM_TCP:
	case SIM_UNIX:
		for (c = f->clients; c; c = next) {
			next = c->next;
			sim_client_send(s, c, buf, len);
		}
		break;
	}
}

static uint64_t sim_slot_due(const struct sim *s, const struct sim_feed *f,
			     uint64_t n)
{
	return s->t0 + f->latency + (uint64_t)((double)n * 1e9 / f->rate);
}

static void sim_push_fire(struct sim *s, struct sim_timer *t, uint64_t now)
{
	struct sim_feed *f = container_of(t, struct sim_feed, push);

	if (!f->is_down)
		sim_emit(s, f, f->slot);
	f->slot++;
	/* After a stall (SIGSTOP, an overloaded machine) the missed slots
	 * are skipped, not sent in a burst. */
	if (sim_slot_due(s, f, f->slot) <= now) {
		f->slot = (uint64_t)((double)(now - s->t0 - f->latency) *
				     f->rate / 1e9);
		while (sim_slot_due(s, f, f->slot) <= now)
			f->slot++;
	}
	sim_timer_add(s, t, sim_slot_due(s, f, f->slot));
}

/* Returns whether f is down at rel nanoseconds from the start. */
static bool sim_down_at(const struct sim_feed *f, uint64_t rel)
{
	size_t i;

	for (i = 0; i < f->ndown; i++)
		if (f->down[i].start <= rel && rel < f->down[i].end)
			return true;
	if (f->flap_up && rel % (f->flap_up + f->flap_down) >= f->flap_up)
		return true;
	return false;
}

/* Returns the first boundary of a down window after rel, or UINT64_MAX. */
static uint64_t sim_next_change(const struct sim_feed *f, uint64_t rel)
{
	uint64_t next = UINT64_MAX;
	size_t i;

	for (i = 0; i < f->ndown; i++) {
		if (f->down[i].start > rel && f->down[i].start < next)
			next = f->down[i].start;
		if (f->down[i].end > rel && f->down[i].end < next)
			next = f->down[i].end;
	}
	if (f->flap_up) {
		uint64_t cycle = f->flap_up + f->flap_down;
		uint64_t base = rel - rel % cycle;
		uint64_t b =
			base + (rel % cycle < f->flap_up ? f->flap_up : cycle);

		if (b < next)
			next = b;
	}
	return next;
}

/* Make f unreachable, or reachable again, in the way its kind allows. */
/* Bind a second, never listening socket to a TCP feed's port. */
static void sim_hold_port(struct sim_feed *f)
{
	int fd, one = 1;

	if (f->hold >= 0)
		return;
	fd = socket(f->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&f->addr, f->addrlen) < 0) {
		close(fd);
		return; /* then the port is merely free while down */
	}
	f->hold = fd;
}

static void sim_set_down(struct sim *s, struct sim_feed *f, bool down)
{
	struct sim_client *c;
	const char *what = "open";
	int err = 0;

	f->is_down = down;
	sim_timer_del(s, &f->retry);
	switch (f->kind) {
	case SIM_FIFO:
		/* The writer goes away: a reader that opened the FIFO
		 * read-only sees EOF, one that opened it read-write sees
		 * silence. */
		if (down)
			sim_io_close(&f->io);
		else
			err = sim_fifo_reopen(f);
		break;
	case SIM_PTY:
	case SIM_UDP:
		/* A pty must keep its path and a datagram has no connection:
		 * down is silence. */
		break;
	case SIM_FILE:
		if (down) {
			if (unlink(f->address) < 0 && errno != ENOENT)
				sim_report_once(f, "unlink", errno);
		} else {
			/* Back at once with the value of the current slot,
			 * not at the next one. */
			sim_emit(s, f, f->slot ? f->slot - 1 : 0);
		}
		break;
	case SIM_TCP:
	case SIM_UNIX:
		if (down) {
			while ((c = f->clients))
				sim_client_close(s, c);
			/* TCP: keep the port bound but not listening, so that
			 * connections are refused and no other process can
			 * take the port before we come back. */
			if (f->kind == SIM_TCP)
				sim_hold_port(f);
			/* Closed, not removed: connecting to the Unix socket
			 * left behind is refused, like TCP. */
			sim_io_close(&f->io);
		} else {
			err = sim_listen(s, f, &what);
			if (!err && f->hold >= 0) {
				close(f->hold);
				f->hold = -1;
			}
		}
		break;
	}
	if (err < 0) {
		sim_report_once(f, what, -err);
		sim_timer_add(s, &f->retry, s->now + SIM_RETRY_NS);
	}
}

static void sim_state_fire(struct sim *s, struct sim_timer *t, uint64_t now)
{
	struct sim_feed *f = container_of(t, struct sim_feed, state);
	uint64_t rel = now - s->t0, next;
	bool down = sim_down_at(f, rel);

	if (down != f->is_down)
		sim_set_down(s, f, down);
	next = sim_next_change(f, rel);
	if (next != UINT64_MAX)
		sim_timer_add(s, t, s->t0 + next);
}

static void sim_pty_io(struct sim *s, struct sim_io *io, uint32_t events)
{
	char buf[4096];
	int i;

	(void)events;
	/* Whatever the engine writes to the slave lands here; nobody wants
	 * it, but unread it would fill the pty and stall its writes. */
	for (i = 0; i < 16; i++) {
		ssize_t n = read(io->fd, buf, sizeof(buf));

		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EIO once every slave is gone; we hold one, so this is
		 * unexpected: stop listening rather than spin. */
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, io->fd, NULL);
		return;
	}
}

static int sim_open_fifo(struct sim_feed *f)
{
	struct stat st;

	if (stat(f->address, &st) == 0) {
		if (!S_ISFIFO(st.st_mode)) {
			sim_complain(f, "exists and is not a FIFO");
			return -EEXIST;
		}
	} else if (errno != ENOENT) {
		sim_report(f, "stat", errno);
		return -errno;
	} else if (mkfifo(f->address, 0666) < 0) {
		sim_report(f, "mkfifo", errno);
		return -errno;
	} else {
		f->created = true;
	}
	if (sim_fifo_reopen(f) < 0) {
		sim_report(f, "open", errno);
		return -errno;
	}
	f->ready = strdup(f->address);
	return f->ready ? 0 : -ENOMEM;
}

static int sim_open_pty(struct sim *s, struct sim_feed *f)
{
	char path[PATH_MAX];
	struct termios tio;
	const char *what;
	int err;

	what = "posix_openpt";
	f->io.fd = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (f->io.fd < 0)
		goto err;
	f->io.fn = sim_pty_io;
	what = "grantpt";
	if (grantpt(f->io.fd) < 0)
		goto err;
	what = "unlockpt";
	if (unlockpt(f->io.fd) < 0)
		goto err;
	what = "ptsname";
	errno = ptsname_r(f->io.fd, path, sizeof(path));
	if (errno)
		goto err;
	/* Our own hold on the slave: without it, writes to the master fail
	 * with EIO whenever no reader has the slave open. */
	what = "open slave";
	f->slave = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (f->slave < 0)
		goto err;
	/* Raw: no echo back into the master, no line editing or signal
	 * characters to mangle binary junk, no CR/NL translation. */
	what = "tcsetattr";
	if (tcgetattr(f->slave, &tio) < 0)
		goto err;
	cfmakeraw(&tio);
	if (tcsetattr(f->slave, TCSANOW, &tio) < 0)
		goto err;
	err = sim_epoll_add(s, &f->io, EPOLLIN);
	if (err < 0) {
		sim_report(f, "epoll_ctl", -err);
		return err;
	}
	f->ready = strdup(path);
	return f->ready ? 0 : -ENOMEM;

err:
	err = errno;
	sim_report(f, what, err);
	return -err;
}

static int sim_open_file(struct sim_feed *f)
{
	const char *slash = strrchr(f->address, '/');
	int dirlen = slash ? (int)(slash - f->address + 1) : 0;
	struct stat st;
	size_t size;
	int fd;

	if (stat(f->address, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			sim_complain(f, "is a directory");
			return -EISDIR;
		}
	} else {
		f->created = true;
	}
	/* The temporary sits beside the file, so rename() is atomic. */
	size = strlen(f->address) + 64;
	f->tmp = malloc(size);
	if (!f->tmp)
		return -ENOMEM;
	snprintf(f->tmp, size, "%.*s.%s.%ld.tmp", dirlen, f->address,
		 f->address + dirlen, (long)getpid());
	fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		sim_report(f, "open", errno);
		return -errno;
	}
	close(fd);
	unlink(f->tmp);
	f->ready = strdup(f->address);
	return f->ready ? 0 : -ENOMEM;
}

static int sim_open_unix(struct sim *s, struct sim_feed *f)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&f->addr;
	const char *what;
	struct stat st;
	int err;

	/* A socket left by an earlier run is stale; anything else is not
	 * ours to remove. */
	if (lstat(f->address, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			sim_complain(f, "exists and is not a socket");
			return -EEXIST;
		}
		unlink(f->address);
	}
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, f->address, strlen(f->address) + 1);
	f->addrlen = sizeof(*sun);
	err = sim_listen(s, f, &what);
	if (err < 0) {
		sim_report(f, what, -err);
		return err;
	}
	f->ready = strdup(f->address);
	return f->ready ? 0 : -ENOMEM;
}

static int sim_resolve(struct sim_feed *f, int type, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_socktype = type,
				  .ai_flags = AI_NUMERICSERV };
	int rc;

	if (type == SOCK_STREAM)
		hints.ai_flags |= AI_PASSIVE;
	rc = getaddrinfo(f->host, f->port, &hints, res);
	if (rc) {
		fprintf(stderr, SIM_NAME ": %s: %s: %s\n", f->spec, f->host,
			rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

/* The ready line keeps the host as given and shows the port really bound. */
static int sim_tcp_ready(struct sim_feed *f)
{
	size_t size = strlen(f->address) + 8;
	const char *colon = strrchr(f->address, ':');
	unsigned int port;

	if (f->addr.ss_family == AF_INET6)
		port = ntohs(((struct sockaddr_in6 *)&f->addr)->sin6_port);
	else
		port = ntohs(((struct sockaddr_in *)&f->addr)->sin_port);
	f->ready = malloc(size);
	if (!f->ready)
		return -ENOMEM;
	snprintf(f->ready, size, "%.*s:%u", (int)(colon - f->address),
		 f->address, port);
	return 0;
}

static int sim_open_tcp(struct sim *s, struct sim_feed *f)
{
	struct addrinfo *res, *ai;
	const char *what = "bind";
	int err;

	err = sim_resolve(f, SOCK_STREAM, &res);
	if (err < 0)
		return err;
	err = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(f->addr))
			continue;
		memcpy(&f->addr, ai->ai_addr, ai->ai_addrlen);
		f->addrlen = ai->ai_addrlen;
		err = sim_listen(s, f, &what);
		if (err == 0)
			break;
	}
	freeaddrinfo(res);
	if (err < 0) {
		sim_report(f, what, -err);
		return err;
	}
	/* With port 0 the kernel chose: listen there again after a down
	 * window, and say where in the ready line. */
	f->addrlen = sizeof(f->addr);
	if (getsockname(f->io.fd, (struct sockaddr *)&f->addr, &f->addrlen)) {
		sim_report(f, "getsockname", errno);
		return -errno;
	}
	return sim_tcp_ready(f);
}

static int sim_open_udp(struct sim_feed *f)
{
	struct addrinfo *res, *ai;
	int err;

	err = sim_resolve(f, SOCK_DGRAM, &res);
	if (err < 0)
		return err;
	for (ai = res; ai; ai = ai->ai_next) {
		f->io.fd = socket(ai->ai_family,
				  SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (f->io.fd < 0) {
			err = -errno;
			continue;
		}
		if (connect(f->io.fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			err = 0;
			break;
		}
		err = -errno;
		sim_io_close(&f->io);
	}
	freeaddrinfo(res);
	if (err < 0) {
		sim_report(f, "connect", -err);
		return err;
	}
	f->ready = strdup(f->address);
	return f->ready ? 0 : -ENOMEM;
}

/* Acquire f's descriptors and paths. Returns 0 or -errno, reported. */
static int sim_feed_open(struct sim *s, struct sim_feed *f)
{
	int err;

	if (sim_timer_reserve(s, 3) < 0)
		return -ENOMEM;
	f->push.fn = sim_push_fire;
	f->state.fn = sim_state_fire;
	f->retry.fn = sim_retry_fire;
	switch (f->kind) {
	case SIM_FIFO:
		err = sim_open_fifo(f);
		break;
	case SIM_PTY:
		err = sim_open_pty(s, f);
		break;
	case SIM_FILE:
		err = sim_open_file(f);
		break;
	case SIM_TCP:
		err = sim_open_tcp(s, f);
		break;
	case SIM_UNIX:
		err = sim_open_unix(s, f);
		break;
	case SIM_UDP:
		err = sim_open_udp(f);
		break;
	default:
		err = -EINVAL;
	}
	if (err == -ENOMEM)
		sim_report(f, "setup", ENOMEM);
	return err;
}

/* Apply the state at the start, write a file's first value, say ready. */
static void sim_feed_start(struct sim *s, struct sim_feed *f)
{
	uint64_t next;

	if (sim_down_at(f, 0))
		sim_set_down(s, f, true);
	next = sim_next_change(f, 0);
	if (next != UINT64_MAX)
		sim_timer_add(s, &f->state, s->t0 + next);

	if (f->kind == SIM_FILE) {
		/* The engine may read the file as soon as it sees the ready
		 * line: slot 0 is written now. */
		if (!f->is_down)
			sim_emit(s, f, 0);
		f->slot = 1;
	}
	if (f->rate > 0 && !f->request)
		sim_timer_add(s, &f->push, sim_slot_due(s, f, f->slot));

	printf("ready %s %s\n", sim_kind_names[f->kind], f->ready);
	fflush(stdout);
}

static void sim_feed_exit(struct sim *s, struct sim_feed *f)
{
	while (f->clients)
		sim_client_close(s, f->clients);
	sim_io_close(&f->io);
	if (f->hold >= 0)
		close(f->hold);
	if (f->slave >= 0)
		close(f->slave);
	if (f->tmp)
		unlink(f->tmp);
	if (f->created)
		unlink(f->address);
	free(f->tmp);
	free(f->ready);
	free(f->down);
	free(f->host);
	free(f->address);
}

/* ---- The command line -------------------------------------------------- */

static char sim_errbuf[256];

/* Parse all of s as a finite number in [lo, hi]. */
static bool sim_number(const char *str, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(str, &end);
	if (end == str || *end || errno || !isfinite(v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static uint64_t sim_seconds_ns(double sec)
{
	return (uint64_t)llround(sec * 1e9);
}

/*
 * Accept a printf format with exactly one conversion of a double (f F e E
 * g G a A) or an integer (d i, given the rounded value), flags, a width and
 * a precision of at most two digits each, and any text without ',' around.
 */
static const char *sim_parse_format(struct sim_feed *f, const char *fmt)
{
	char *out = f->format;
	size_t convs = 0, i, d;

	if (strlen(fmt) > 24)
		return "format= is longer than 24 characters";
	for (i = 0; fmt[i]; i++) {
		bool alt = false;

		*out++ = fmt[i];
		if (fmt[i] != '%')
			continue;
		if (fmt[i + 1] == '%') {
			*out++ = fmt[++i];
			continue;
		}
		if (convs++)
			return "format= takes exactly one conversion";
		while (fmt[i + 1] && strchr("-+ #0", fmt[i + 1])) {
			alt |= fmt[i + 1] == '#';
			*out++ = fmt[++i];
		}
		for (d = 0; d < 2 && fmt[i + 1] >= '0' && fmt[i + 1] <= '9';
		     d++)
			*out++ = fmt[++i];
		if (fmt[i + 1] == '.') {
			*out++ = fmt[++i];
			for (d = 0;
			     d < 2 && fmt[i + 1] >= '0' && fmt[i + 1] <= '9';
			     d++)
				*out++ = fmt[++i];
		}
		i++;
		if (fmt[i] && strchr("fFeEgGaA", fmt[i])) {
			*out++ = fmt[i];
		} else if (fmt[i] && strchr("di", fmt[i]) && !alt) {
			*out++ = 'l';
			*out++ = 'l';
			*out++ = fmt[i];
			f->format_int = true;
		} else {
			return "format= needs one of %f %e %g %a %d, with at "
			       "most two digits of width and of precision";
		}
	}
	*out = '\0';
	if (convs != 1)
		return "format= takes exactly one conversion";
	return NULL;
}

/* down=START+LENGTH[;START+LENGTH...], seconds; adds to earlier ones. */
static const char *sim_parse_down(struct sim_feed *f, char *val)
{
	char *item, *save = NULL;

	for (item = strtok_r(val, ";", &save); item;
	     item = strtok_r(NULL, ";", &save)) {
		char *plus = strchr(item, '+');
		struct sim_window *w;
		double start, len;

		/* strtod would take "5+3" as 5 and stop at the '+'. */
		if (!plus || plus == item)
			return "down= wants START+LENGTH in seconds";
		*plus = '\0';
		if (!sim_number(item, 0, SIM_SECONDS_MAX, &start) ||
		    !sim_number(plus + 1, 0, SIM_SECONDS_MAX, &len) || len <= 0)
			return "down= wants START+LENGTH in seconds, "
			       "LENGTH > 0";
		w = realloc(f->down, (f->ndown + 1) * sizeof(*w));
		if (!w)
			return "out of memory";
		f->down = w;
		w[f->ndown].start = sim_seconds_ns(start);
		w[f->ndown].end = sim_seconds_ns(start + len);
		f->ndown++;
	}
	if (!f->ndown)
		return "down= wants START+LENGTH in seconds";
	return NULL;
}

static const char *sim_parse_option(struct sim_feed *f, const char *key,
				    char *val)
{
	double v;

	if (!strcmp(key, "value")) {
		if (!sim_number(val, -1e300, 1e300, &f->value))
			return "value= wants a number";
	} else if (!strcmp(key, "noise")) {
		if (!sim_number(val, 0, 1e300, &f->noise))
			return "noise= wants a number >= 0";
	} else if (!strcmp(key, "rate")) {
		if (!sim_number(val, 0, SIM_RATE_MAX, &f->rate))
			return "rate= wants records per second, 0 to 100000";
	} else if (!strcmp(key, "fail")) {
		if (!sim_number(val, 0, 1, &f->fail))
			return "fail= wants a probability from 0 to 1";
	} else if (!strcmp(key, "hang")) {
		if (!sim_number(val, 0, 1, &f->hang))
			return "hang= wants a probability from 0 to 1";
	} else if (!strcmp(key, "garbage")) {
		if (!sim_number(val, 0, 1, &f->garbage))
			return "garbage= wants a probability from 0 to 1";
	} else if (!strcmp(key, "latency")) {
		if (!sim_number(val, 0, SIM_SECONDS_MAX * 1e3, &v))
			return "latency= wants milliseconds >= 0";
		f->latency = (uint64_t)llround(v * 1e6);
	} else if (!strcmp(key, "down")) {
		return sim_parse_down(f, val);
	} else if (!strcmp(key, "flap")) {
		char *slash = strchr(val, '/');
		double up, down;

		if (!slash)
			return "flap= wants UP/DOWN in seconds";
		*slash = '\0';
		if (!sim_number(val, 0, SIM_SECONDS_MAX, &up) ||
		    !sim_number(slash + 1, 0, SIM_SECONDS_MAX, &down) ||
		    sim_seconds_ns(up) == 0 || sim_seconds_ns(down) == 0)
			return "flap= wants UP/DOWN in seconds, both > 0";
		f->flap_up = sim_seconds_ns(up);
		f->flap_down = sim_seconds_ns(down);
	} else if (!strcmp(key, "mode")) {
		if (!strcmp(val, "request"))
			f->request = true;
		else if (!strcmp(val, "push"))
			f->request = false;
		else
			return "mode= wants push or request";
	} else if (!strcmp(key, "format")) {
		return sim_parse_format(f, val);
	} else {
		snprintf(sim_errbuf, sizeof(sim_errbuf),
			 "unknown option '%s' (see --help)", key);
		return sim_errbuf;
	}
	return NULL;
}

/* HOST:PORT, or [IPV6]:PORT; PORT from lo to 65535. */
static const char *sim_parse_hostport(struct sim_feed *f, unsigned int lo)
{
	char *a = f->address, *colon, *end;
	unsigned long port;

	colon = strrchr(a, ':');
	if (!colon || colon == a)
		return "wants HOST:PORT";
	if (a[0] == '[') {
		if (colon[-1] != ']' || colon - a < 3)
			return "wants HOST:PORT, an IPv6 HOST in brackets";
		f->host = strndup(a + 1, (size_t)(colon - a - 2));
	} else {
		if (memchr(a, ':', (size_t)(colon - a)))
			return "wants HOST:PORT, an IPv6 HOST in brackets";
		f->host = strndup(a, (size_t)(colon - a));
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < lo || port > 65535 ||
	    colon[1] == '-' || colon[1] == '+' || colon[1] == ' ') {
		snprintf(sim_errbuf, sizeof(sim_errbuf),
			 "wants HOST:PORT, PORT from %u to 65535", lo);
		return sim_errbuf;
	}
	f->port = colon + 1;
	if (!f->host)
		return "out of memory";
	return NULL;
}

/* KIND:ADDRESS[,KEY=VALUE...]. Returns NULL, or what is wrong with it. */
static const char *sim_parse_feed(struct sim_feed *f, const char *arg)
{
	const char *colon = strchr(arg, ':');
	char *opts, *item, *save = NULL;
	const char *err;
	size_t k;

	f->spec = arg;
	f->value = 20;
	f->rate = 10;
	strcpy(f->format, "%.3f");
	f->io.fd = -1;
	f->slave = -1;
	f->hold = -1;

	if (!colon)
		return "wants KIND:ADDRESS (fifo, pty, file, tcp, unix, udp)";
	for (k = 0; k < sizeof(sim_kind_names) / sizeof(sim_kind_names[0]); k++)
		if (strlen(sim_kind_names[k]) == (size_t)(colon - arg) &&
		    !strncmp(arg, sim_kind_names[k], (size_t)(colon - arg)))
			break;
	if (k == sizeof(sim_kind_names) / sizeof(sim_kind_names[0]))
		return "unknown KIND (fifo, pty, file, tcp, unix, udp)";
	f->kind = (enum sim_kind)k;

	f->address = strdup(colon + 1);
	if (!f->address)
		return "out of memory";
	opts = strchr(f->address, ',');
	if (opts)
		*opts++ = '\0';
	if (!f->address[0])
		return "empty ADDRESS";

	switch (f->kind) {
	case SIM_TCP:
		err = sim_parse_hostport(f, 0);
		break;
	case SIM_UDP:
		err = sim_parse_hostport(f, 1);
		break;
	case SIM_UNIX:
		err = NULL;
		if (strlen(f->address) >= SIM_SUN_PATH_SIZE)
			err = "a Unix socket path is at most 107 bytes";
		break;
	default:
		err = strlen(f->address) >= PATH_MAX ? "path too long" : NULL;
	}
	if (err)
		return err;

	for (item = opts ? strtok_r(opts, ",", &save) : NULL; item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');

		if (!eq || eq == item) {
			snprintf(sim_errbuf, sizeof(sim_errbuf),
				 "option '%s' wants KEY=VALUE", item);
			return sim_errbuf;
		}
		*eq = '\0';
		err = sim_parse_option(f, item, eq + 1);
		if (err)
			return err;
	}

	if (f->request && f->kind != SIM_TCP && f->kind != SIM_UNIX)
		return "mode=request is for tcp and unix feeds";
	if (f->hang > 0 && !f->request)
		return "hang= needs mode=request";
	return NULL;
}

static void sim_usage(FILE *out)
{
	fprintf(out,
		"usage: " SIM_NAME " [--duration SECONDS] [--seed N] [--quiet] "
		"FEED...\n"
		"\n"
		"FEED is KIND:ADDRESS[,OPTION=VALUE...]:\n"
		"  fifo:PATH        a FIFO (created if missing), written "
		"lines\n"
		"  pty:NAME         a new pty, written lines; the ready line "
		"names its slave\n"
		"  file:PATH        a file rewritten atomically with the "
		"value\n"
		"  tcp:HOST:PORT    a listener; pushes lines, or answers "
		"request lines\n"
		"  unix:PATH        the same on a Unix stream socket\n"
		"  udp:HOST:PORT    one datagram per record, sent to "
		"HOST:PORT\n"
		"\n"
		"Options:\n"
		"  value=V          base value [20]\n"
		"  noise=A          add uniform noise in [-A, +A] [0]\n"
		"  rate=HZ          records per second, 0 to 100000 [10]\n"
		"  format=FMT       printf format of the value [%%.3f]\n"
		"  mode=MODE        push or request (tcp, unix) [push]\n"
		"  fail=P           a record is skipped, a reply closes the "
		"connection\n"
		"  garbage=P        a record or reply is junk\n"
		"  hang=P           a request is never answered "
		"(mode=request)\n"
		"  latency=MS       delay every record or reply\n"
		"  down=S+L[;S+L]   unreachable from S for L seconds "
		"(repeatable)\n"
		"  flap=UP/DOWN     up UP seconds, down DOWN seconds, "
		"repeating\n"
		"\n"
		"Prints 'ready KIND ADDRESS' per feed on stdout, then runs "
		"until\n"
		"--duration or SIGTERM/SIGINT. See ringside-sim(1).\n");
}

/* ---- The loop ---------------------------------------------------------- */

static void sim_timerfd_io(struct sim *s, struct sim_io *io, uint32_t events)
{
	uint64_t expirations;

	(void)events;
	if (read(io->fd, &expirations, sizeof(expirations)) < 0 &&
	    errno != EAGAIN)
		return;
	s->armed = 0; /* spent: sim_timer_arm sets it again */
}

static void sim_signal_io(struct sim *s, struct sim_io *io, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	if (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		s->stop = true;
}

static void sim_end_fire(struct sim *s, struct sim_timer *t, uint64_t now)
{
	(void)t;
	(void)now;
	s->stop = true;
}

/* Run until --duration or a signal. Returns 0, or 1 after reporting why. */
static int sim_loop(struct sim *s)
{
	struct epoll_event events[SIM_EVENTS];
	const char *what = NULL;
	int err = 0;

	while (!s->stop) {
		int i, n;

		err = sim_timer_arm(s);
		if (err < 0) {
			what = "timerfd_settime";
			break;
		}
		n = epoll_wait(s->epfd, events, SIM_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			what = "epoll_wait";
			break;
		}
		s->now = sim_clock();
		for (i = 0; i < n; i++) {
			struct sim_io *io = events[i].data.ptr;

			io->fn(s, io, events[i].events);
		}
		sim_timer_run(s, s->now);
		while (s->zombies) {
			struct sim_client *c = s->zombies;

			s->zombies = c->next;
			free(c->out);
			free(c);
			s->heap_need--;
		}
	}
	if (err < 0) {
		fprintf(stderr, SIM_NAME ": %s: %s\n", what, strerror(-err));
		return 1;
	}
	return 0;
}

static void sim_summary(const struct sim *s)
{
	uint64_t records = 0, garbled = 0, failed = 0, hung = 0;
	uint64_t accepted = 0, dropped = 0;
	size_t i;

	for (i = 0; i < s->nfeeds; i++) {
		records += s->feeds[i].records;
		garbled += s->feeds[i].garbled;
		failed += s->feeds[i].failed;
		hung += s->feeds[i].hung;
		accepted += s->feeds[i].accepted;
		dropped += s->feeds[i].dropped;
	}
	fprintf(stderr,
		SIM_NAME ": %zu feeds, %" PRIu64 " records (%" PRIu64
			 " garbage), %" PRIu64 " failed, %" PRIu64
			 " hung, %" PRIu64 " clients (%" PRIu64
			 " dropped), seed %" PRIu64 "\n",
		s->nfeeds, records, garbled, failed, hung, accepted, dropped,
		s->seed);
}

static void sim_exit(struct sim *s)
{
	size_t i;

	for (i = 0; i < s->nfeeds; i++)
		sim_feed_exit(s, &s->feeds[i]);
	while (s->zombies) {
		struct sim_client *c = s->zombies;

		s->zombies = c->next;
		free(c->out);
		free(c);
	}
	free(s->feeds);
	free(s->heap);
	if (s->timer.fd >= 0)
		close(s->timer.fd);
	if (s->signal.fd >= 0)
		close(s->signal.fd);
	if (s->epfd >= 0)
		close(s->epfd);
}

static int sim_usage_error(const char *what, const char *why)
{
	if (what)
		fprintf(stderr, SIM_NAME ": %s: %s\n", what, why);
	else
		fprintf(stderr, SIM_NAME ": %s\n", why);
	return 2;
}

/* Two feeds on one path would fight over it, and one would remove it. */
static const char *sim_duplicate(const struct sim *s, size_t i)
{
	const struct sim_feed *f = &s->feeds[i];
	size_t j;

	if (f->kind != SIM_FIFO && f->kind != SIM_FILE && f->kind != SIM_UNIX)
		return NULL;
	for (j = 0; j < i; j++) {
		const struct sim_feed *g = &s->feeds[j];

		if ((g->kind == SIM_FIFO || g->kind == SIM_FILE ||
		     g->kind == SIM_UNIX) &&
		    !strcmp(f->address, g->address))
			return g->spec;
	}
	return NULL;
}

static int sim_parse_args(struct sim *s, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool seeded = false;
	char *end;
	size_t i;
	int c;

	s->duration = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:s:qhV", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'd':
			if (!sim_number(optarg, 0, SIM_SECONDS_MAX,
					&s->duration))
				return sim_usage_error("--duration",
						       "wants seconds >= 0");
			break;
		case 's':
			errno = 0;
			s->seed = strtoull(optarg, &end, 10);
			if (!*optarg || *end || errno || optarg[0] == '-')
				return sim_usage_error(
					"--seed", "wants an unsigned integer");
			seeded = true;
			break;
		case 'q':
			s->quiet = true;
			break;
		case 'h':
			sim_usage(stdout);
			exit(0);
		case 'V':
			printf(SIM_NAME " " RINGSIDE_VERSION "\n");
			exit(0);
		case ':':
			snprintf(sim_errbuf, sizeof(sim_errbuf),
				 "%s wants a value (see --help)",
				 argv[optind - 1]);
			return sim_usage_error(NULL, sim_errbuf);
		default:
			if (optopt)
				snprintf(sim_errbuf, sizeof(sim_errbuf),
					 "unknown option '-%c' (see --help)",
					 optopt);
			else
				snprintf(sim_errbuf, sizeof(sim_errbuf),
					 "unknown option '%s' (see --help)",
					 argv[optind - 1]);
			return sim_usage_error(NULL, sim_errbuf);
		}
	}
	if (optind >= argc)
		return sim_usage_error(NULL, "no FEED given (see --help)");
	if (!seeded && getrandom(&s->seed, sizeof(s->seed), GRND_NONBLOCK) !=
			       (ssize_t)sizeof(s->seed))
		s->seed = sim_clock() ^ ((uint64_t)getpid() << 32);

	s->nfeeds = (size_t)(argc - optind);
	s->feeds = calloc(s->nfeeds, sizeof(*s->feeds));
	if (!s->feeds)
		return sim_usage_error(NULL, "out of memory");
	for (i = 0; i < s->nfeeds; i++) {
		struct sim_feed *f = &s->feeds[i];
		const char *err = sim_parse_feed(f, argv[optind + i]);
		const char *dup;

		if (err) {
			s->nfeeds = i + 1; /* free what was parsed */
			return sim_usage_error(f->spec, err);
		}
		dup = sim_duplicate(s, i);
		if (dup) {
			s->nfeeds = i + 1;
			snprintf(sim_errbuf, sizeof(sim_errbuf),
				 "same path as %s", dup);
			return sim_usage_error(f->spec, sim_errbuf);
		}
		f->seed = sim_mix(s->seed ^ sim_mix(0x5eedull + i));
	}
	return 0;
}

static int sim_init(struct sim *s)
{
	sigset_t mask;
	int err;

	/* Thousands of feeds and their clients need descriptors. */
	bench_raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return -errno;
	s->timer.fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->timer.fd < 0)
		return -errno;
	s->timer.fn = sim_timerfd_io;
	s->signal.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->signal.fd < 0)
		return -errno;
	s->signal.fn = sim_signal_io;
	err = sim_epoll_add(s, &s->timer, EPOLLIN);
	if (err < 0)
		return err;
	err = sim_epoll_add(s, &s->signal, EPOLLIN);
	if (err < 0)
		return err;
	s->end.fn = sim_end_fire;
	return sim_timer_reserve(s, 1);
}

int main(int argc, char **argv)
{
	struct sim s = { .epfd = -1, .timer.fd = -1, .signal.fd = -1 };
	int rc, err;
	size_t i;

	rc = sim_parse_args(&s, argc, argv);
	if (rc)
		goto out;

	err = sim_init(&s);
	if (err < 0) {
		fprintf(stderr, SIM_NAME ": setup: %s\n", strerror(-err));
		rc = 1;
		goto out;
	}
	for (i = 0; i < s.nfeeds; i++) {
		if (sim_feed_open(&s, &s.feeds[i]) < 0) {
			rc = 1;
			goto out;
		}
	}

	/* Down windows, record slots and --duration count from here. */
	s.t0 = s.now = sim_clock();
	for (i = 0; i < s.nfeeds; i++)
		sim_feed_start(&s, &s.feeds[i]);
	if (s.duration >= 0)
		sim_timer_add(&s, &s.end, s.t0 + sim_seconds_ns(s.duration));

	rc = sim_loop(&s);
	if (!s.quiet)
		sim_summary(&s);
out:
	sim_exit(&s);
	return rc;
}
