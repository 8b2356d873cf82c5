/* SPDX-License-Identifier: MIT */
/*
 * test_nats.c - the 3-node NATS JetStream cluster of tests/nats.h: ports,
 * the servers' command lines, restarts, and the questions a test asks the
 * cluster through libnats (is JetStream up, who leads a stream, what does
 * the stream hold, message by message).  It holds no test: it is linked
 * into the runner with the suites that use it (tests/test_bridge.c).
 *
 * The servers are children of the harness (h_spawn), so its .fini kills
 * them; their store directories are in the harness's temporary
 * directory, which .fini removes with all it holds.  The test's one
 * connection lives in this file's statics rather than in the caller's
 * struct: a test ended by an assertion has left its stack frame by the
 * time .fini runs the hook that closes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <nats/nats.h>

#include "harness.h"
#include "nats.h"

#define HN_PORT_LO 10000   /* ports are chosen from here ... */
#define HN_PORT_HI 32767   /* ... to below the ephemeral range, at most here */
#define HN_PORTS 6	   /* a slot: three client ports, three route ports */
#define HN_ATTEMPTS 8	   /* slots tried before giving up */
#define HN_STOP_MS 10000   /* a server stops on SIGTERM by then */
#define HN_REQUEST_MS 2000 /* one JetStream API request */
#define HN_POLL_MS 100

/* The test's connection, closed by hn_fini() from the harness's .fini. */
static struct {
	natsConnection *nc;
	jsCtx *js;
	bool hooked;
} hn;

/* ---- ports ------------------------------------------------------------- */

/*
 * The first port above the ones we may use: the start of the kernel's
 * ephemeral range, where connect() picks the local ports of outgoing
 * connections.  A node that is down must find its port free when it
 * starts again, and below that range only an explicit bind can take it.
 */
static unsigned hn_port_ceiling(void)
{
	unsigned lo = HN_PORT_HI + 1, hi;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	if (f != NULL) {
		if (fscanf(f, "%u %u", &lo, &hi) != 2)
			lo = HN_PORT_HI + 1;
		fclose(f);
	}
	if (lo > HN_PORT_HI + 1 || lo < HN_PORT_LO + 64 * HN_PORTS)
		lo = HN_PORT_HI + 1; /* a range that leaves us nothing: ours */
	return lo;
}

/* Whether 127.0.0.1:@port can be bound now, as a server binds it. */
static bool hn_port_free(unsigned port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int one = 1, ok;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/*
 * The first port of a slot where all HN_PORTS ports are free, starting
 * from the slot that attempt @attempt of this pid maps to.  Tests running
 * at the same time have nearby pids, so consecutive pids get consecutive
 * slots and never meet.
 */
static unsigned hn_slot(unsigned attempt)
{
	unsigned ceiling = hn_port_ceiling();
	unsigned nslots = (ceiling - HN_PORT_LO) / HN_PORTS;
	unsigned slot = ((unsigned)getpid() + attempt * 211) % nslots;
	unsigned tried, k;

	for (tried = 0; tried < nslots; tried++) {
		unsigned base = HN_PORT_LO + slot * HN_PORTS;

		for (k = 0; k < HN_PORTS && hn_port_free(base + k); k++)
			;
		if (k == HN_PORTS)
			return base;
		slot = (slot + 1) % nslots;
	}
	cr_assert_fail("nats: no %d free loopback ports below %u", HN_PORTS,
		       ceiling);
	return 0;
}

/* ---- the servers ------------------------------------------------------- */

static const char *hn_server(void)
{
	const char *s = getenv("RINGSIDE_NATS");

	return s != NULL && *s != '\0' ? s : HN_SERVER;
}

/* Lay out node @i of a cluster whose ports start at @base. */
static void hn_node_init(struct hn_cluster *c, unsigned i, unsigned base,
			 unsigned attempt)
{
	struct hn_node *n = &c->node[i];
	char dir[32];

	memset(n, 0, sizeof(*n));
	n->port = base + i;
	n->cport = base + HN_NODES + i;
	snprintf(n->name, sizeof(n->name), "n%u", i);
	snprintf(n->url, sizeof(n->url), "nats://127.0.0.1:%u", n->port);
	snprintf(dir, sizeof(dir), "nats-%u-%s", attempt, n->name);
	h_path(n->store, sizeof(n->store), dir);
}

/* Start the server of node @i, its log into nats-NODE-START.log. */
static void hn_node_spawn(struct hn_cluster *c, unsigned i)
{
	struct hn_node *n = &c->node[i];
	char port[16], cluster[64], routes[128];
	char *argv[] = { (char *)hn_server(),
			 "-js",
			 "-n",
			 n->name,
			 "--cluster_name",
			 c->name,
			 "-cluster",
			 cluster,
			 "-routes",
			 routes,
			 "-sd",
			 n->store,
			 "-a",
			 "127.0.0.1",
			 "-p",
			 port,
			 NULL };
	unsigned j;
	size_t len = 0;

	cr_assert_eq(n->pid, 0, "nats: node %s is already running", n->name);
	snprintf(port, sizeof(port), "%u", n->port);
	snprintf(cluster, sizeof(cluster), "nats://127.0.0.1:%u", n->cport);
	routes[0] = '\0';
	for (j = 0; j < HN_NODES; j++) {
		if (j == i)
			continue;
		len += (size_t)snprintf(routes + len, sizeof(routes) - len,
					"%snats://127.0.0.1:%u",
					len > 0 ? "," : "", c->node[j].cport);
	}
	snprintf(n->log, sizeof(n->log), "nats-%u-%u.log", i, n->starts);
	n->starts++;
	n->pid = h_spawn(argv, NULL, n->log);
}

/* Close the test's connection, if any. */
static void hn_disconnect(struct hn_cluster *c)
{
	if (hn.js != NULL)
		jsCtx_Destroy(hn.js);
	if (hn.nc != NULL)
		natsConnection_Destroy(hn.nc);
	hn.js = NULL;
	hn.nc = NULL;
	if (c != NULL) {
		c->nc = NULL;
		c->js = NULL;
	}
}

/*
 * The hook run by the harness's .fini, once the servers are killed: the
 * connection, then the library's threads and memory.
 */
static void hn_fini(void *arg)
{
	(void)arg;
	hn_disconnect(NULL);
	nats_CloseAndWait(2000);
	hn.hooked = false;
}

/* Connect to the cluster, once one server answers; false while none does. */
static bool hn_connect(struct hn_cluster *c)
{
	const char *urls[HN_NODES];
	natsOptions *o = NULL;
	jsOptions jo;
	natsStatus s;
	unsigned i;

	if (hn.nc != NULL)
		return true;
	for (i = 0; i < HN_NODES; i++)
		urls[i] = c->node[i].url;
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, urls, HN_NODES);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 50);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, HN_REQUEST_MS);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, "ringside-tests");
	cr_assert_eq(s, NATS_OK, "nats options: %s", natsStatus_GetText(s));
	s = natsConnection_Connect(&hn.nc, o);
	natsOptions_Destroy(o);
	if (s != NATS_OK) {
		hn.nc = NULL;
		return false;
	}
	jsOptions_Init(&jo);
	jo.Wait = HN_REQUEST_MS;
	s = natsConnection_JetStream(&hn.js, hn.nc, &jo);
	cr_assert_eq(s, NATS_OK, "nats: JetStream context: %s",
		     natsStatus_GetText(s));
	c->nc = hn.nc;
	c->js = hn.js;
	return true;
}

/* The end of node @i's log (its last @len - 1 bytes at most). */
static const char *hn_log_tail(struct hn_cluster *c, unsigned i, char *buf,
			       size_t len)
{
	static char text[1 << 16];
	size_t n;

	h_slurp(c->node[i].log, text, sizeof(text));
	n = strlen(text);
	memcpy(buf, n >= len ? text + n - (len - 1) : text,
	       n >= len ? len : n + 1);
	return buf;
}

/* Fail the test, quoting the log of node @i, which exited. */
static void hn_node_died(struct hn_cluster *c, unsigned i, int status)
{
	char tail[1536];

	cr_assert_fail("nats: node %s (port %u) exited (status 0x%x): %s",
		       c->node[i].name, c->node[i].port, (unsigned)status,
		       hn_log_tail(c, i, tail, sizeof(tail)));
}

/*
 * Whether a node that should be running has exited; with @busy, whether
 * it did so because a port was taken (the status is then left to the
 * caller).  Any other exit fails the test.
 */
static bool hn_node_exited(struct hn_cluster *c, unsigned i, bool *busy)
{
	static char text[1 << 16];
	int status = 0;

	if (c->node[i].pid == 0 || h_wait(c->node[i].pid, 0, &status) != 0)
		return false;
	c->node[i].pid = 0;
	h_slurp(c->node[i].log, text, sizeof(text));
	if (busy != NULL && strstr(text, "address already in use") != NULL) {
		*busy = true;
		return true;
	}
	hn_node_died(c, i, status);
	return true;
}

void hn_node_expect_alive(struct hn_cluster *c, unsigned i)
{
	cr_assert_neq(c->node[i].pid, 0, "nats: node %s is not running",
		      c->node[i].name);
	hn_node_exited(c, i, NULL);
}

/*
 * Wait until JetStream answers: the meta leader is elected, which takes a
 * majority of the nodes.  A node that exits meanwhile fails the test,
 * unless @busy is given: then a port taken makes it return -EADDRINUSE.
 */
static int hn_wait(struct hn_cluster *c, int timeout_ms, bool *busy)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	unsigned i;

	for (;;) {
		jsAccountInfo *ai = NULL;
		jsErrCode jerr = 0;

		for (i = 0; i < HN_NODES; i++)
			if (hn_node_exited(c, i, busy))
				return -EADDRINUSE;
		if (hn_connect(c) &&
		    js_GetAccountInfo(&ai, hn.js, NULL, &jerr) == NATS_OK) {
			jsAccountInfo_Destroy(ai);
			return 0;
		}
		if (h_now_ms() >= end)
			return -ETIMEDOUT;
		h_sleep_ms(HN_POLL_MS);
	}
}

int hn_wait_ready(struct hn_cluster *c, int timeout_ms)
{
	return hn_wait(c, timeout_ms, NULL);
}

void hn_start(struct hn_cluster *c)
{
	const char *server = hn_server();
	unsigned attempt, i;

	if (access(server, X_OK) != 0)
		h_skip("no NATS server: %s: %s", server, strerror(errno));
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "rs%ld", (long)getpid());
	if (!hn.hooked) {
		h_at_fini(hn_fini, NULL);
		hn.hooked = true;
	}
	for (attempt = 0; attempt < HN_ATTEMPTS; attempt++) {
		unsigned base = hn_slot(attempt);
		bool busy = false;
		size_t len = 0;
		int ret;

		for (i = 0; i < HN_NODES; i++)
			hn_node_init(c, i, base, attempt);
		for (i = 0; i < HN_NODES; i++) {
			len += (size_t)snprintf(
				c->urls + len, sizeof(c->urls) - len, "%s%s",
				i > 0 ? "," : "", c->node[i].url);
			hn_node_spawn(c, i);
		}
		ret = hn_wait(c, HN_READY_MS, &busy);
		if (ret == 0)
			return;
		if (!busy) {
			char t0[512], t1[512], t2[512];

			cr_assert_fail("nats: no JetStream meta leader after "
				       "%d ms; logs end:\n%s\n%s\n%s",
				       HN_READY_MS,
				       hn_log_tail(c, 0, t0, sizeof(t0)),
				       hn_log_tail(c, 1, t1, sizeof(t1)),
				       hn_log_tail(c, 2, t2, sizeof(t2)));
		}
		/* Someone took a port between our look and the bind. */
		cr_log_info("nats: a port of %u-%u was taken; moving on", base,
			    base + HN_PORTS - 1);
		for (i = 0; i < HN_NODES; i++)
			if (c->node[i].pid != 0)
				hn_node_kill(c, i);
		hn_disconnect(c);
	}
	cr_assert_fail("nats: no free ports after %d attempts", HN_ATTEMPTS);
}

void hn_node_kill(struct hn_cluster *c, unsigned i)
{
	cr_assert_neq(c->node[i].pid, 0, "nats: node %s is not running",
		      c->node[i].name);
	h_kill(c->node[i].pid);
	c->node[i].pid = 0;
}

void hn_node_stop(struct hn_cluster *c, unsigned i)
{
	pid_t pid = c->node[i].pid;

	cr_assert_neq(pid, 0, "nats: node %s is not running", c->node[i].name);
	kill(pid, SIGTERM);
	if (h_wait(pid, HN_STOP_MS, NULL) == -ETIMEDOUT) {
		cr_log_warn("nats: node %s ignored SIGTERM for %d ms",
			    c->node[i].name, HN_STOP_MS);
		h_kill(pid);
	}
	c->node[i].pid = 0;
}

void hn_node_start(struct hn_cluster *c, unsigned i)
{
	hn_node_spawn(c, i);
}

void hn_stop_all(struct hn_cluster *c)
{
	unsigned i;

	/* All at once, so that none sees the others go one by one. */
	for (i = 0; i < HN_NODES; i++)
		if (c->node[i].pid != 0)
			kill(c->node[i].pid, SIGTERM);
	for (i = 0; i < HN_NODES; i++)
		if (c->node[i].pid != 0)
			hn_node_stop(c, i);
}

void hn_start_all(struct hn_cluster *c)
{
	unsigned i;

	for (i = 0; i < HN_NODES; i++)
		if (c->node[i].pid == 0)
			hn_node_spawn(c, i);
}

/* ---- questions to the cluster ------------------------------------------ */

/* Whether @s / @jerr say that what was asked for does not exist. */
static bool hn_missing(natsStatus s, jsErrCode jerr)
{
	return jerr == JSStreamNotFoundErr || jerr == JSNoMessageFoundErr ||
	       (s == NATS_NOT_FOUND && jerr == 0);
}

static const char *hn_error(natsStatus s, jsErrCode jerr, char *buf, size_t len)
{
	const char *last = nats_GetLastError(NULL);

	snprintf(buf, len, "%s (JetStream error %d)%s%s", natsStatus_GetText(s),
		 (int)jerr, last != NULL ? ": " : "", last != NULL ? last : "");
	return buf;
}

/* Stream info, or NULL: *@ret is -ENOENT (no stream) or -EAGAIN. */
static jsStreamInfo *hn_info(struct hn_cluster *c, const char *stream, int *ret,
			     char *why, size_t len)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	if (!hn_connect(c)) {
		*ret = -EAGAIN;
		snprintf(why, len, "no server answers");
		return NULL;
	}
	s = js_GetStreamInfo(&si, hn.js, stream, NULL, &jerr);
	if (s == NATS_OK)
		return si;
	*ret = hn_missing(s, jerr) ? -ENOENT : -EAGAIN;
	hn_error(s, jerr, why, len);
	return NULL;
}

/* The stream's info once it exists and has a leader; fails after HN_ASK_MS. */
static jsStreamInfo *hn_info_led(struct hn_cluster *c, const char *stream)
{
	uint64_t end = h_now_ms() + HN_ASK_MS;
	char why[256] = "";
	int ret;

	for (;;) {
		jsStreamInfo *si = hn_info(c, stream, &ret, why, sizeof(why));

		if (si != NULL && si->Cluster != NULL &&
		    si->Cluster->Leader != NULL &&
		    si->Cluster->Leader[0] != '\0')
			return si;
		if (si != NULL) {
			snprintf(why, sizeof(why), "no leader");
			jsStreamInfo_Destroy(si);
		}
		cr_assert_lt(h_now_ms(), end,
			     "nats: stream %s not led after %d ms: %s", stream,
			     HN_ASK_MS, why);
		h_sleep_ms(HN_POLL_MS);
	}
}

unsigned hn_stream_leader(struct hn_cluster *c, const char *stream)
{
	jsStreamInfo *si = hn_info_led(c, stream);
	unsigned i;

	for (i = 0; i < HN_NODES; i++) {
		if (strcmp(si->Cluster->Leader, c->node[i].name) == 0) {
			jsStreamInfo_Destroy(si);
			return i;
		}
	}
	cr_assert_fail("nats: stream %s led by %s, not one of ours", stream,
		       si->Cluster->Leader);
	return 0;
}

void hn_stream_config(struct hn_cluster *c, const char *stream,
		      struct hn_stream_config *cfg)
{
	jsStreamInfo *si = hn_info_led(c, stream);

	memset(cfg, 0, sizeof(*cfg));
	cr_assert_not_null(si->Config, "nats: stream %s without a config",
			   stream);
	cfg->replicas = (int)si->Config->Replicas;
	cfg->duplicates_ns = si->Config->Duplicates;
	cfg->file = si->Config->Storage == js_FileStorage;
	cfg->nsubjects = si->Config->SubjectsLen;
	if (cfg->nsubjects > 0)
		snprintf(cfg->subject, sizeof(cfg->subject), "%s",
			 si->Config->Subjects[0]);
	jsStreamInfo_Destroy(si);
}

int64_t hn_stream_count(struct hn_cluster *c, const char *stream)
{
	char why[256];
	int ret = 0;
	jsStreamInfo *si = hn_info(c, stream, &ret, why, sizeof(why));
	int64_t n;

	if (si == NULL)
		return ret;
	n = (int64_t)si->State.Msgs;
	jsStreamInfo_Destroy(si);
	return n;
}

/* Copy header @key of @m into @buf ("" when absent). */
static void hn_header(natsMsg *m, const char *key, char *buf, size_t len)
{
	const char *v = NULL;

	buf[0] = '\0';
	if (natsMsgHeader_Get(m, key, &v) == NATS_OK && v != NULL)
		snprintf(buf, len, "%s", v);
}

int hn_last_id(struct hn_cluster *c, const char *stream, const char *subject,
	       char *id, size_t len)
{
	natsMsg *m = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	id[0] = '\0';
	if (!hn_connect(c))
		return -EAGAIN;
	s = js_GetLastMsg(&m, hn.js, stream, subject, NULL, &jerr);
	if (s != NATS_OK)
		return hn_missing(s, jerr) ? 0 : -EAGAIN;
	hn_header(m, "Nats-Msg-Id", id, len);
	natsMsg_Destroy(m);
	return 1;
}

/* Message @seq of @stream, retrying through elections. */
static natsMsg *hn_get(struct hn_cluster *c, const char *stream, uint64_t seq)
{
	uint64_t end = h_now_ms() + HN_ASK_MS;
	char why[256] = "no server answers";

	for (;;) {
		natsMsg *m = NULL;
		jsErrCode jerr = 0;
		natsStatus s;

		if (hn_connect(c)) {
			s = js_GetMsg(&m, hn.js, stream, seq, NULL, &jerr);
			if (s == NATS_OK)
				return m;
			hn_error(s, jerr, why, sizeof(why));
			cr_assert(!hn_missing(s, jerr),
				  "nats: stream %s has no message %llu: %s",
				  stream, (unsigned long long)seq, why);
		}
		cr_assert_lt(h_now_ms(), end,
			     "nats: message %llu of %s not read after %d ms: "
			     "%s",
			     (unsigned long long)seq, stream, HN_ASK_MS, why);
		h_sleep_ms(HN_POLL_MS);
	}
}

void hn_stream_read(struct hn_cluster *c, const char *stream,
		    struct hn_stream *s)
{
	jsStreamInfo *si = hn_info_led(c, stream);
	uint64_t seq;

	memset(s, 0, sizeof(*s));
	s->first_seq = si->State.FirstSeq;
	s->last_seq = si->State.LastSeq;
	s->n = (size_t)si->State.Msgs;
	jsStreamInfo_Destroy(si);
	if (s->n == 0)
		return;
	cr_assert_eq(s->last_seq - s->first_seq + 1, s->n,
		     "nats: stream %s holds %zu messages in %llu..%llu", stream,
		     s->n, (unsigned long long)s->first_seq,
		     (unsigned long long)s->last_seq);
	s->msg = calloc(s->n, sizeof(*s->msg));
	cr_assert_not_null(s->msg);
	for (seq = s->first_seq; seq <= s->last_seq; seq++) {
		struct hn_msg *out = &s->msg[seq - s->first_seq];
		natsMsg *m = hn_get(c, stream, seq);
		int len = natsMsg_GetDataLength(m);

		out->seq = natsMsg_GetSequence(m);
		snprintf(out->subject, sizeof(out->subject), "%s",
			 natsMsg_GetSubject(m));
		hn_header(m, "Nats-Msg-Id", out->id, sizeof(out->id));
		hn_header(m, "Ringside-Gap", out->gap, sizeof(out->gap));
		out->len = len > 0 ? (size_t)len : 0;
		out->data = malloc(out->len + 1);
		cr_assert_not_null(out->data);
		memcpy(out->data, natsMsg_GetData(m), out->len);
		out->data[out->len] = '\0';
		natsMsg_Destroy(m);
		cr_assert_eq(out->seq, seq, "nats: asked for %llu, got %llu",
			     (unsigned long long)seq,
			     (unsigned long long)out->seq);
	}
}

void hn_stream_exit(struct hn_stream *s)
{
	size_t i;

	for (i = 0; i < s->n && s->msg != NULL; i++)
		free(s->msg[i].data);
	free(s->msg);
	memset(s, 0, sizeof(*s));
}

void hn_stream_create(struct hn_cluster *c, const char *stream,
		      const char *subjects, int replicas, int64_t duplicates_ns)
{
	uint64_t end = h_now_ms() + HN_ASK_MS;
	const char *subj[] = { subjects };
	char why[256] = "no server answers";
	jsStreamConfig sc;

	jsStreamConfig_Init(&sc);
	sc.Name = stream;
	sc.Subjects = subj;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.Replicas = replicas;
	sc.Duplicates = duplicates_ns;
	for (;;) {
		jsErrCode jerr = 0;
		natsStatus s;

		if (hn_connect(c)) {
			s = js_AddStream(NULL, hn.js, &sc, NULL, &jerr);
			/* A retry of a request whose answer was lost. */
			if (s == NATS_OK || jerr == JSStreamNameExistErr)
				break;
			hn_error(s, jerr, why, sizeof(why));
		}
		cr_assert_lt(h_now_ms(), end,
			     "nats: stream %s not created after %d ms: %s",
			     stream, HN_ASK_MS, why);
		h_sleep_ms(HN_POLL_MS);
	}
	jsStreamInfo_Destroy(hn_info_led(c, stream));
}

void hn_publish(struct hn_cluster *c, const char *subject, const char *id,
		const char *data)
{
	uint64_t end = h_now_ms() + HN_ASK_MS;
	char why[256] = "no server answers";
	jsPubOptions po;

	jsPubOptions_Init(&po);
	po.MsgId = id;
	for (;;) {
		jsPubAck *pa = NULL;
		jsErrCode jerr = 0;
		natsMsg *m = NULL;
		natsStatus s;

		if (hn_connect(c)) {
			s = natsMsg_Create(&m, subject, NULL, data,
					   (int)strlen(data));
			cr_assert_eq(s, NATS_OK);
			s = js_PublishMsg(&pa, hn.js, m, &po, &jerr);
			natsMsg_Destroy(m);
			if (s == NATS_OK) {
				jsPubAck_Destroy(pa);
				return;
			}
			hn_error(s, jerr, why, sizeof(why));
		}
		cr_assert_lt(h_now_ms(), end,
			     "nats: no ack for %s on %s after %d ms: %s", id,
			     subject, HN_ASK_MS, why);
		h_sleep_ms(HN_POLL_MS);
	}
}
