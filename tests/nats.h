/* SPDX-License-Identifier: MIT */
/*
 * nats.h - a real 3-node NATS JetStream cluster on loopback for the
 * integration tests of ringside-bridge (tests/test_bridge.c), built on the
 * harness of tests/harness.h.
 *
 * Three nats-server processes (/usr/sbin/nats-server, or $RINGSIDE_NATS)
 * run with JetStream on, each with its own client port, route port and
 * store directory inside the test's temporary directory, routed to the
 * other two.  The ports lie below the kernel's ephemeral range, so that no
 * outgoing connection can take the port of a node that is down, and are
 * derived from the pid, so that tests running side by side and a second
 * run on the same machine choose different ones; a port found taken
 * moves the whole cluster on to the next slot.
 *
 * Key invariant: the servers are the harness's children and the store
 * directories live in its temporary directory, so the suite's .fini
 * kills and removes them whether the test passed or not; the test's own
 * connection to the cluster is closed by a hook of that same .fini
 * (h_at_fini).  A test process killed by its timeout takes the servers
 * along (PR_SET_PDEATHSIG), and the next test's h_init() removes its
 * directory.
 *
 * Every helper that asks the cluster something retries through leader
 * elections and restarts until a deadline, and fails the test (a
 * Criterion assertion) with what the cluster last answered when the
 * deadline passes.  Nothing is timed: a deadline only bounds a wait for
 * something that must happen.
 *
 *	struct hn_cluster c;
 *
 *	hn_start(&c);                      (skips without nats-server)
 *	... ringside-bridge NAME --nats c.urls ...
 *	hn_node_kill(&c, hn_stream_leader(&c, "RINGSIDE"));
 *	...
 *	struct hn_stream s;
 *	hn_stream_read(&c, "RINGSIDE", &s);
 *	for (i = 0; i < s.n; i++)  s.msg[i].subject, .id, .gap, .data
 *	hn_stream_exit(&s);
 */
#ifndef RINGSIDE_TESTS_NATS_H
#define RINGSIDE_TESTS_NATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nats/nats.h>

#define HN_NODES 3
#define HN_SERVER "/usr/sbin/nats-server"
#define HN_READY_MS 60000 /* a started cluster elects its leaders by then */
#define HN_ASK_MS 30000	  /* a question to a live cluster is answered by then */

/* One server of the cluster. */
struct hn_node {
	pid_t pid;	/* 0 while stopped */
	unsigned port;	/* client port */
	unsigned cport; /* route port */
	unsigned starts;
	char name[8];	 /* server name: n0, n1, n2 */
	char store[256]; /* its -sd directory */
	char log[32];	 /* its log in the temporary directory */
	char url[64];	 /* nats://127.0.0.1:PORT */
};

struct hn_cluster {
	struct hn_node node[HN_NODES];
	char name[32];	    /* cluster name */
	char urls[3 * 64];  /* the three URLs, comma-separated */
	natsConnection *nc; /* the test's connection, or NULL */
	jsCtx *js;
};

/* One message of a stream, as hn_stream_read() found it. */
struct hn_msg {
	uint64_t seq; /* stream sequence */
	char subject[128];
	char id[128]; /* Nats-Msg-Id, "" when absent */
	char gap[64]; /* Ringside-Gap, "" when absent */
	char *data;   /* NUL-terminated copy of the data */
	size_t len;
};

struct hn_stream {
	struct hn_msg *msg; /* in stream order */
	size_t n;
	uint64_t first_seq, last_seq;
};

/*
 * Start the cluster and wait (up to HN_READY_MS) until JetStream answers:
 * its meta leader is elected.  Skips the test when the server program is
 * missing.  The cluster is the harness's to take down.
 */
void hn_start(struct hn_cluster *c);

/* Stop node @i: SIGTERM, then SIGKILL after 10 s; reaped. */
void hn_node_stop(struct hn_cluster *c, unsigned i);
/* Kill node @i (SIGKILL) and reap it. */
void hn_node_kill(struct hn_cluster *c, unsigned i);
/* Start node @i again, on its ports and its store (it must be down). */
void hn_node_start(struct hn_cluster *c, unsigned i);
void hn_stop_all(struct hn_cluster *c);
void hn_start_all(struct hn_cluster *c);
/* Whether node @i's process is still alive (asserts it did not exit). */
void hn_node_expect_alive(struct hn_cluster *c, unsigned i);

/*
 * Wait up to @timeout_ms for JetStream to answer (meta leader elected).
 * Returns 0, or -ETIMEDOUT.
 */
int hn_wait_ready(struct hn_cluster *c, int timeout_ms);

/*
 * The index of the node leading stream @stream, waiting (HN_ASK_MS) until
 * the stream exists and has a leader.
 */
unsigned hn_stream_leader(struct hn_cluster *c, const char *stream);
/* How a stream is configured, as the cluster reports it. */
struct hn_stream_config {
	int replicas;
	int64_t duplicates_ns; /* the duplicate window */
	bool file;	       /* file storage */
	int nsubjects;
	char subject[64]; /* the first of them */
};

/* The configuration of @stream (waiting as hn_stream_leader() does). */
void hn_stream_config(struct hn_cluster *c, const char *stream,
		      struct hn_stream_config *cfg);
/*
 * The number of messages in @stream, or -ENOENT while it does not exist;
 * -EAGAIN when the cluster gave no answer (down, electing).
 */
int64_t hn_stream_count(struct hn_cluster *c, const char *stream);

/*
 * The last message of @stream on @subject: its Nats-Msg-Id into @id.
 * Returns 1, 0 when there is none (or no stream), -EAGAIN when the
 * cluster gave no answer.
 */
int hn_last_id(struct hn_cluster *c, const char *stream, const char *subject,
	       char *id, size_t len);

/*
 * Read every message of @stream in order, by sequence, into @s (retrying
 * through elections until HN_ASK_MS).  A sequence the stream no longer
 * holds fails the test.  hn_stream_exit() frees it.
 */
void hn_stream_read(struct hn_cluster *c, const char *stream,
		    struct hn_stream *s);
void hn_stream_exit(struct hn_stream *s);

/*
 * Create stream @stream (subjects @subjects, R@replicas, file storage, a
 * duplicate window of @duplicates_ns, 0 for the server's default) and
 * wait until it is led; retries through elections.
 */
void hn_stream_create(struct hn_cluster *c, const char *stream,
		      const char *subjects, int replicas,
		      int64_t duplicates_ns);
/*
 * Publish @data on @subject with the Nats-Msg-Id @id and wait for its ack,
 * retrying through elections (the id makes a retry harmless).
 */
void hn_publish(struct hn_cluster *c, const char *subject, const char *id,
		const char *data);

#endif /* RINGSIDE_TESTS_NATS_H */
