/* SPDX-License-Identifier: MIT */
/*
 * test_engine.c - ringsided from the outside: the real engine runs as a
 * child process on a generated INI configuration, reading real sources
 * (tmpfs files, procfs files, FIFOs, ptys, TCP, UDP and Unix sockets on
 * loopback, fed by ringside-sim or by peers this file forks), and its
 * batches are read back through libringside exactly as a client would.
 *
 * What is asserted is behaviour, never timing: sequence numbers 1, 2, 3
 * without a gap, every sensor in every batch in configuration order, the
 * status and errno of each fault, healthy sensors unaffected by faulty
 * ones, clean stops.  Where a count over a duration is checked, the bound
 * is half of what the period promises.
 *
 * The harness (the h_ helpers below) keeps a registry of every child it
 * starts and of every descriptor it holds.  The suite's .fini kills the
 * children, removes the segments named te<pid>... and the temporary
 * directory, whether the test passed or an assertion ended it; children
 * also get PR_SET_PDEATHSIG, so a test killed by its timeout takes them
 * along; a later run removes what a crashed test left behind.  Programs
 * are found in $RINGSIDE_BIN, else build/bin.  Set RINGSIDE_TEST_VERBOSE
 * to have the children's logs, and one line per batch taken, copied to
 * stderr at the end of each test.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <criterion/parameterized.h>

#include "ringside.h"

#define H_CHILDREN_MAX 16
#define H_FDS_MAX 32
#define H_SENSORS_MAX 16
#define H_ATTACH_MS 5000 /* a started engine creates its segment by then */
#define H_BATCH_MS 3000	 /* a running engine publishes a batch by then */

/*
 * The keys of a healthy file sensor among faulty ones whose [defaults]
 * set short timeouts: a pread takes microseconds, but a loaded virtual
 * machine can stall a thread for a few tens of them.
 */
#define FILE_KEYS "timeout = 40ms\nretry_attempts = 1\n\n"

/* ---- the harness ------------------------------------------------------- */

static struct {
	pid_t child[H_CHILDREN_MAX]; /* 0: free or reaped */
	int fd[H_FDS_MAX];	     /* descriptors to close at the end */
	unsigned nfd;
	unsigned nlog;
	char dir[64];	 /* temporary directory, on tmpfs */
	char prefix[24]; /* te<pid>: every segment name starts so */
	bool verbose;	 /* $RINGSIDE_TEST_VERBOSE: logs and batches */
	FILE *trace;	 /* verbose: every batch taken, one line each */
} h;

static uint64_t h_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t h_now_ms(void)
{
	return h_now_ns() / 1000000;
}

static void h_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void h_keep_fd(int fd)
{
	cr_assert_lt(h.nfd, H_FDS_MAX, "harness: too many descriptors");
	h.fd[h.nfd++] = fd;
}

static void h_keep_child(pid_t pid)
{
	unsigned i;

	for (i = 0; i < H_CHILDREN_MAX; i++) {
		if (h.child[i] == 0) {
			h.child[i] = pid;
			return;
		}
	}
	kill(pid, SIGKILL);
	cr_assert_fail("harness: too many children");
}

static void h_forget_child(pid_t pid)
{
	unsigned i;

	for (i = 0; i < H_CHILDREN_MAX; i++)
		if (h.child[i] == pid)
			h.child[i] = 0;
}

/* @name inside the temporary directory. */
static void h_path(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", h.dir, name);

	cr_assert(n > 0 && (size_t)n < len, "path too long: %s", name);
}

/* The program @prog, from $RINGSIDE_BIN or build/bin. */
static void h_bin(char *buf, size_t len, const char *prog)
{
	const char *dir = getenv("RINGSIDE_BIN");

	snprintf(buf, len, "%s/%s", dir != NULL && *dir ? dir : "build/bin",
		 prog);
}

/* A segment name unique to this test process: te<pid><tag>. */
static void h_name(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "%s%s", h.prefix, tag);
}

static void h_dump_logs(void)
{
	struct dirent *de;
	DIR *d = opendir(h.dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[256], line[512];
		FILE *f;

		if (strstr(de->d_name, ".log") == NULL)
			continue;
		h_path(path, sizeof(path), de->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL)
			fprintf(stderr, "%s %s: %s", h.prefix, de->d_name,
				line);
		fclose(f);
	}
	closedir(d);
}

/* Remove directory @path and the files in it (it holds no directory). */
static void h_remove_dir(const char *path)
{
	struct dirent *de;
	DIR *d;

	if (path[0] == '\0')
		return;
	d = opendir(path);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(path);
}

/*
 * A test process that crashed or hit its timeout never ran .fini: remove
 * what such a process left in /dev/shm (rstest-<pid>-* directories and
 * te<pid> segments) once that pid is gone.
 */
static void h_remove_orphans(void)
{
	struct dirent *de;
	DIR *d = opendir("/dev/shm");

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		bool dir = false;
		char path[300];
		char *end;
		long pid;

		if (strncmp(n, "rstest-", 7) == 0) {
			n += 7;
			dir = true;
		} else if (strncmp(n, "ringside.te", 11) == 0) {
			n += 11;
		} else if (strncmp(n, ".ringside.te", 12) == 0) {
			n += 12;
		} else {
			continue;
		}
		pid = strtol(n, &end, 10);
		if (end == n || pid <= 0 || (dir && *end != '-') ||
		    (!dir && (*end < 'A' || *end > 'z')))
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s", de->d_name);
		if (dir)
			h_remove_dir(path);
		else
			unlink(path);
	}
	closedir(d);
}

/* Every /dev/shm entry of ours: ringside.te<pid>* and its temporaries. */
static void h_remove_segments(void)
{
	char plain[48];
	struct dirent *de;
	DIR *d = opendir("/dev/shm");

	if (d == NULL)
		return;
	snprintf(plain, sizeof(plain), "ringside.%s", h.prefix);
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (n[0] == '.')
			n++;
		if (strncmp(n, plain, strlen(plain)) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

static void h_init(void)
{
	memset(&h, 0, sizeof(h));
	snprintf(h.prefix, sizeof(h.prefix), "te%ld", (long)getpid());
	h.verbose = getenv("RINGSIDE_TEST_VERBOSE") != NULL;
	h_remove_orphans();
	snprintf(h.dir, sizeof(h.dir), "/dev/shm/rstest-%ld-XXXXXX",
		 (long)getpid());
	if (mkdtemp(h.dir) == NULL) {
		h.dir[0] = '\0';
		cr_assert_fail("mkdtemp: %s", strerror(errno));
	}
	if (h.verbose) {
		char path[256];

		h_path(path, sizeof(path), "batches.log");
		h.trace = fopen(path, "w");
	}
	/* Peers write to sockets the engine may have closed. */
	signal(SIGPIPE, SIG_IGN);
}

static void h_fini(void)
{
	unsigned i;

	for (i = 0; i < H_CHILDREN_MAX; i++) {
		if (h.child[i] > 0) {
			kill(h.child[i], SIGKILL);
			waitpid(h.child[i], NULL, 0);
			h.child[i] = 0;
		}
	}
	for (i = 0; i < h.nfd; i++)
		close(h.fd[i]);
	h.nfd = 0;
	if (h.trace != NULL)
		fclose(h.trace);
	h.trace = NULL;
	if (h.verbose)
		h_dump_logs();
	h_remove_segments();
	h_remove_dir(h.dir);
}

TestSuite(engine, .init = h_init, .fini = h_fini, .timeout = 30);

/*
 * Start @argv (argv[0] a path, or a name looked up in PATH).  stdin is
 * /dev/null; stdout goes to a pipe whose read end lands in *@out when @out
 * is not NULL (kept by the harness), else to /dev/null; stderr goes to
 * the file @log in the temporary directory when not NULL.  Returns the pid.
 */
static pid_t h_spawn(char *const argv[], int *out, const char *log)
{
	pid_t parent = getpid(), pid;
	int pfd[2] = { -1, -1 };
	char logpath[256];

	if (log != NULL)
		h_path(logpath, sizeof(logpath), log);
	if (out != NULL)
		cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0, "pipe: %s",
			     strerror(errno));
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		sigset_t none;
		int null = open("/dev/null", O_RDWR);
		int err = log != NULL
				  ? open(logpath, O_WRONLY | O_CREAT | O_APPEND,
					 0644)
				  : null;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(null, 0);
		dup2(out != NULL ? pfd[1] : null, 1);
		dup2(err >= 0 ? err : null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	h_keep_child(pid);
	if (out != NULL) {
		close(pfd[1]);
		h_keep_fd(pfd[0]);
		*out = pfd[0];
	}
	return pid;
}

/*
 * Wait up to @timeout_ms for @pid to end.  Returns 0 with its wait status
 * in *@status, or -ETIMEDOUT.
 */
static int h_wait(pid_t pid, int timeout_ms, int *status)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid) {
			h_forget_child(pid);
			return 0;
		}
		if (r < 0)
			return -errno;
		if (h_now_ms() >= end)
			return -ETIMEDOUT;
		h_sleep_ms(5);
	}
}

/* Wait for @pid and assert that it exited with @code. */
static void h_expect_exit(pid_t pid, int timeout_ms, int code)
{
	int status = 0;

	cr_assert_eq(h_wait(pid, timeout_ms, &status), 0,
		     "pid %d did not exit within %d ms", (int)pid, timeout_ms);
	cr_assert(WIFEXITED(status), "pid %d ended by signal %d", (int)pid,
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	cr_assert_eq(WEXITSTATUS(status), code, "pid %d exited %d, not %d",
		     (int)pid, WEXITSTATUS(status), code);
}

/* Read @fd to EOF (or @timeout_ms) into @buf, NUL-terminated. */
static size_t h_read_all(int fd, char *buf, size_t len, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = h_now_ms();
		ssize_t r;

		if (now >= end)
			break;
		if (poll(&p, 1, (int)(end - now)) <= 0)
			continue;
		r = read(fd, buf + n, len - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

/* Read the file @name of the temporary directory into @buf. */
static void h_slurp(const char *name, char *buf, size_t len)
{
	char path[256];
	int fd;

	h_path(path, sizeof(path), name);
	buf[0] = '\0';
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	h_read_all(fd, buf, len, 1000);
	close(fd);
}

/* Write @len bytes to @path atomically: a temporary, then a rename. */
static void h_put(const char *path, const char *data, size_t len)
{
	char tmp[300];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0, "%s: %s", tmp, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	cr_assert_eq(rename(tmp, path), 0, "rename %s: %s", path,
		     strerror(errno));
}

static void h_put_text(const char *path, const char *text)
{
	h_put(path, text, strlen(text));
}

/*
 * Write the configuration of engine @name (period @period) followed by
 * the printf-formatted @fmt into the temporary directory; its path goes
 * into @path.
 */
__attribute__((format(printf, 5, 6))) static void h_config(char *path,
							   size_t len,
							   const char *name,
							   const char *period,
							   const char *fmt, ...)
{
	char file[64];
	va_list ap;
	FILE *f;

	snprintf(file, sizeof(file), "%s.ini", name);
	h_path(path, len, file);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fprintf(f, "[engine]\nname = %s\nperiod = %s\n\n", name, period);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

/* Start ringsided on @cfg (stopping by itself after @duration seconds). */
static pid_t h_engine(const char *cfg, const char *duration)
{
	char bin[256], log[32];
	char *argv[] = { bin, "-c", (char *)cfg, "--duration", (char *)duration,
			 NULL };

	h_bin(bin, sizeof(bin), "ringsided");
	snprintf(log, sizeof(log), "engine-%u.log", h.nlog++);
	return h_spawn(argv, NULL, log);
}

/*
 * Start ringside-sim with @nfeeds feeds and wait for its ready lines; the
 * address of feed i goes into addr[i] (feeds are announced in order).
 */
static pid_t h_sim(const char *const *feeds, unsigned nfeeds, char addr[][128])
{
	char bin[256], buf[4096], log[32];
	char *argv[H_SENSORS_MAX + 4];
	unsigned i, n = 0, ready = 0;
	size_t len = 0;
	uint64_t end;
	int out;
	pid_t pid;

	h_bin(bin, sizeof(bin), "ringside-sim");
	argv[n++] = bin;
	argv[n++] = "--duration";
	argv[n++] = "30";
	for (i = 0; i < nfeeds; i++)
		argv[n++] = (char *)feeds[i];
	argv[n] = NULL;
	snprintf(log, sizeof(log), "sim-%u.log", h.nlog++);
	pid = h_spawn(argv, &out, log);

	end = h_now_ms() + 5000;
	while (ready < nfeeds && h_now_ms() < end) {
		struct pollfd p = { .fd = out, .events = POLLIN };
		char *nl;
		ssize_t r;

		if (poll(&p, 1, 100) <= 0)
			continue;
		r = read(out, buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			char kind[16];

			*nl = '\0';
			if (sscanf(buf, "ready %15s %127s", kind,
				   addr[ready]) == 2)
				ready++;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
	}
	cr_assert_eq(ready, nfeeds, "ringside-sim: %u of %u feeds ready", ready,
		     nfeeds);
	return pid;
}

/* The port of a sim ready address "HOST:PORT". */
static unsigned h_addr_port(const char *addr)
{
	const char *colon = strrchr(addr, ':');

	cr_assert_not_null(colon, "no port in %s", addr);
	return (unsigned)atoi(colon + 1);
}

/* A socket of @type bound to 127.0.0.1:@port (0: any); its port out. */
static int h_bind(int type, unsigned port, unsigned *bound)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int one = 1;
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
		     "bind 127.0.0.1:%u: %s", port, strerror(errno));
	getsockname(fd, (struct sockaddr *)&sin, &len);
	if (bound != NULL)
		*bound = ntohs(sin.sin_port);
	return fd;
}

/* A loopback port on which nothing listens (bound, then closed). */
static unsigned h_closed_port(int type)
{
	unsigned port;
	int fd = h_bind(type, 0, &port);

	close(fd);
	return port;
}

/* A TCP listener on 127.0.0.1 (@port 0: any), kept by the harness. */
static int h_listen(unsigned port, int backlog, unsigned *bound)
{
	int fd = h_bind(SOCK_STREAM, port, bound);

	cr_assert_eq(listen(fd, backlog), 0, "listen: %s", strerror(errno));
	h_keep_fd(fd);
	return fd;
}

static void h_mkfifo(char *path, size_t len, const char *name)
{
	h_path(path, len, name);
	cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo %s: %s", path,
		     strerror(errno));
}

/* ---- peers: misbehaving servers, in a forked child --------------------- */

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

struct peer_client {
	int fd;
	const struct peer *p;
	uint64_t due_ms; /* PEER_ODDSLOW: a reply held back until then */
	unsigned long held;
};

static unsigned long peer_requests; /* PEER_ODDSLOW, over all clients */
static unsigned long peer_accepts;  /* PEER_SPLIT */

static void peer_send_number(int fd, unsigned long n)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%lu\n", n);

	send(fd, buf, (size_t)len, MSG_NOSIGNAL);
}

static void peer_line(struct peer_client *c)
{
	char buf[64];
	int n;

	switch (c->p->kind) {
	case PEER_VALUE:
		n = snprintf(buf, sizeof(buf), "%g\n", c->p->value);
		send(c->fd, buf, (size_t)n, MSG_NOSIGNAL);
		break;
	case PEER_JUNK:
		send(c->fd, "junk!\n", 6, MSG_NOSIGNAL);
		break;
	case PEER_MIDLINE:
		send(c->fd, "12.5", 4, MSG_NOSIGNAL);
		close(c->fd);
		c->fd = -1;
		break;
	case PEER_ODDSLOW:
		if (++peer_requests % 2 == 0) {
			peer_send_number(c->fd, peer_requests);
		} else {
			c->held = peer_requests;
			c->due_ms = h_now_ms() + 100;
		}
		break;
	default:
		break;
	}
}

/* The child's loop; it never returns and never asserts. */
static void peer_run(const struct peer *peers, unsigned n)
{
	struct peer_client cl[64];
	unsigned i, ncl = 0, polled;
	uint64_t next_udp = 0;

	for (;;) {
		struct pollfd pfd[H_SENSORS_MAX + 64];
		unsigned np = 0;
		uint64_t now = h_now_ms();

		if (now >= next_udp) {
			for (i = 0; i < n; i++) {
				struct sockaddr_in to = {
					.sin_family = AF_INET,
					.sin_port =
						htons((uint16_t)peers[i].port),
					.sin_addr.s_addr =
						htonl(INADDR_LOOPBACK),
				};
				char buf[64];
				int len;

				if (peers[i].kind != PEER_UDP)
					continue;
				len = snprintf(buf, sizeof(buf), "%g\n",
					       peers[i].value);
				sendto(peers[i].fd, buf, (size_t)len, 0,
				       (struct sockaddr *)&to, sizeof(to));
			}
			next_udp = now + 10;
		}
		for (i = 0; i < ncl; i++) {
			if (cl[i].due_ms == 0 || h_now_ms() < cl[i].due_ms)
				continue;
			peer_send_number(cl[i].fd, cl[i].held);
			cl[i].due_ms = 0;
		}
		for (i = 0; i < n; i++) {
			pfd[np].fd =
				peers[i].kind == PEER_UDP ? -1 : peers[i].fd;
			pfd[np++].events = POLLIN;
		}
		for (i = 0; i < ncl; i++) {
			pfd[np].fd = cl[i].fd;
			pfd[np++].events = POLLIN;
		}
		if (poll(pfd, np, 10) <= 0)
			continue;
		polled = ncl; /* clients accepted below have no pfd yet */
		for (i = 0; i < n; i++) {
			int fd;

			if (!(pfd[i].revents & POLLIN))
				continue;
			fd = accept4(peers[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			if (peers[i].kind == PEER_SPLIT) {
				if (++peer_accepts % 2 == 1)
					send(fd, "99", 2, MSG_NOSIGNAL);
				else
					send(fd, ".5\n", 3, MSG_NOSIGNAL);
			}
			if (peers[i].kind == PEER_SLAM ||
			    peers[i].kind == PEER_SPLIT || ncl == 64) {
				close(fd);
				continue;
			}
			memset(&cl[ncl], 0, sizeof(cl[ncl]));
			cl[ncl].fd = fd;
			cl[ncl++].p = &peers[i];
		}
		for (i = 0; i < polled; i++) {
			char buf[4096];
			ssize_t r;
			char *p;

			if (!(pfd[n + i].revents &
			      (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(cl[i].fd, buf, sizeof(buf));
			if (r <= 0) {
				close(cl[i].fd);
				cl[i].fd = -1;
				continue;
			}
			for (p = buf;
			     cl[i].fd >= 0 &&
			     (p = memchr(p, '\n', (size_t)(buf + r - p))) !=
				     NULL;
			     p++)
				peer_line(&cl[i]);
		}
		/* Drop the closed ones; pfd is rebuilt next time round. */
		for (i = 0; i < ncl;) {
			if (cl[i].fd < 0)
				cl[i] = cl[--ncl];
			else
				i++;
		}
	}
}

/* Fork the peers' child; the listeners stay open in this process too. */
static void h_peers(const struct peer *peers, unsigned n)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		peer_run(peers, n);
		_exit(0);
	}
	h_keep_child(pid);
}

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

static struct h_feed *h_current; /* the test's reader, for h_done() */

/* Attach to segment @name of engine @pid, which has @n sensors. */
static void h_attach(struct h_feed *f, const char *name, pid_t pid, uint32_t n)
{
	uint64_t end = h_now_ms() + H_ATTACH_MS;
	struct ringside_params p;
	int ret;

	memset(f, 0, sizeof(*f));
	f->engine = pid;
	f->n = n;
	for (;;) {
		ret = ringside_reader_attach(&f->r, name, 0);
		if (ret == 0 && (pid == 0 || ringside_reader_pid(&f->r) == pid))
			break;
		if (ret == 0)
			ringside_reader_detach(&f->r); /* an older one */
		cr_assert(ret == 0 || ret == -ENOENT, "attach %s: %s", name,
			  ringside_strerror(ret));
		if (pid != 0 && waitpid(pid, NULL, WNOHANG) == pid) {
			h_forget_child(pid);
			cr_assert_fail("engine %s exited before its segment "
				       "appeared",
				       name);
		}
		cr_assert_lt(h_now_ms(), end, "no segment %s after %d ms", name,
			     H_ATTACH_MS);
		h_sleep_ms(10);
	}
	f->attached = true;
	h_current = f;
	cr_assert_eq(ringside_reader_params(&f->r, &p), 0);
	cr_assert_eq(p.nsensors, n, "segment has %u sensors, not %u",
		     p.nsensors, n);
}

/*
 * What a reading says, as one word: "ok", "open", "pending", or the
 * errno name of a failure ("ETIMEDOUT").
 */
static const char *h_what(const struct ringside_reading *v)
{
	if (v->status == RINGSIDE_FAILED)
		return ringside_errno_name(v->error);
	return ringside_status_name(v->status);
}

static bool h_is(const struct ringside_reading *v, const char *what)
{
	return strcmp(h_what(v), what) == 0;
}

static bool h_late(const struct ringside_reading *v)
{
	return (v->flags & RINGSIDE_READING_LATE) != 0;
}

/* The check made on every batch taken: the contract of SPEC.md. */
static void h_check_batch(struct h_feed *f)
{
	const struct ringside_batch *b = &f->b;
	uint32_t i, ok = 0;

	cr_assert_eq(b->lost, 0, "batch %llu: %llu lost",
		     (unsigned long long)b->seq, (unsigned long long)b->lost);
	cr_assert_eq(b->seq, f->seq + 1, "batch %llu after %llu: a gap",
		     (unsigned long long)b->seq, (unsigned long long)f->seq);
	cr_assert_eq(b->total, f->n, "batch %llu holds %u sensors, not %u",
		     (unsigned long long)b->seq, b->total, f->n);
	cr_assert_eq(b->nreadings, f->n);
	cr_assert_gt(b->tick_mono_ns, f->tick_ns,
		     "batch %llu: its tick is not after the previous one's",
		     (unsigned long long)b->seq);
	cr_assert_geq(b->published_mono_ns, b->tick_mono_ns,
		      "batch %llu published before its tick",
		      (unsigned long long)b->seq);
	for (i = 0; i < f->n; i++) {
		const struct ringside_reading *v = &f->v[i];

		cr_assert_leq(v->status, RINGSIDE_PENDING, "bad status %u",
			      v->status);
		if (v->status == RINGSIDE_OK) {
			ok++;
			cr_assert_eq(v->error, 0);
			cr_assert_geq(v->attempts, 1);
		} else if (v->status == RINGSIDE_FAILED) {
			cr_assert_neq(v->error, 0, "failed without an errno");
			cr_assert_geq(v->attempts, 1);
		}
	}
	if (h.trace != NULL) {
		fprintf(h.trace, "batch %llu:", (unsigned long long)b->seq);
		for (i = 0; i < f->n; i++)
			fprintf(h.trace, " %s%s%s%.6g", h_what(&f->v[i]),
				h_late(&f->v[i]) ? "(late)" : "",
				f->v[i].status == RINGSIDE_OK ? "=" : "",
				f->v[i].status == RINGSIDE_OK ? f->v[i].value
							      : 0.0);
		fputc('\n', h.trace);
		fflush(h.trace);
	}
	cr_assert_eq(b->available, ok, "available %u, but %u ok", b->available,
		     ok);
	cr_assert_eq(!!(b->flags & RINGSIDE_BATCH_DEGRADED), ok < f->n,
		     "degraded flag wrong in batch %llu",
		     (unsigned long long)b->seq);
	f->seq = b->seq;
	f->tick_ns = b->tick_mono_ns;
	f->batches++;
}

/*
 * Take the next batch, waiting up to @timeout_ms.  Returns 1 with a
 * (checked) batch in f->b and f->v, 0 on timeout, or RINGSIDE_CLOSED /
 * RINGSIDE_DEAD when the engine is gone and every batch was taken.
 */
static int h_try_next(struct h_feed *f, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		uint64_t now;
		int ev;

		if (ringside_reader_next(&f->r, &f->b, f->v, H_SENSORS_MAX) >
		    0) {
			h_check_batch(f);
			return 1;
		}
		now = h_now_ms();
		if (now >= end)
			return 0;
		ev = ringside_reader_wait(
			&f->r, (int)(end - now < 100 ? end - now : 100));
		if (ev == RINGSIDE_CLOSED || ev == RINGSIDE_DEAD ||
		    ev == RINGSIDE_REPLACED) {
			if (ringside_reader_next(&f->r, &f->b, f->v,
						 H_SENSORS_MAX) > 0) {
				h_check_batch(f);
				return 1;
			}
			return ev;
		}
	}
}

/* Take the next batch; one must come. */
static void h_next(struct h_feed *f)
{
	int ret = h_try_next(f, H_BATCH_MS);

	cr_assert_eq(ret, 1, "no batch after seq %llu (%s)",
		     (unsigned long long)f->seq,
		     ret == 0		      ? "timeout"
		     : ret == RINGSIDE_CLOSED ? "closed"
		     : ret == RINGSIDE_DEAD   ? "engine died"
					      : "replaced");
}

static void h_expect_value(const struct h_feed *f, uint32_t i, double value)
{
	const struct ringside_reading *v = &f->v[i];

	cr_assert(h_is(v, "ok"), "batch %llu sensor %u: %s, not a value",
		  (unsigned long long)f->b.seq, i, h_what(v));
	cr_assert_float_eq(v->value, value, 1e-9,
			   "batch %llu sensor %u: %g, not %g",
			   (unsigned long long)f->b.seq, i, v->value, value);
}

/*
 * The counters, consistent.  The engine updates them just after it
 * publishes a batch, so they are at least as new as the batch before the
 * last one taken, and maybe not yet as new as the last.
 */
static void h_stats(struct h_feed *f, struct ringside_engine_stats *e,
		    struct ringside_sensor_stats *s)
{
	int i, ret = -EAGAIN;

	for (i = 0; i < 100 && ret == -EAGAIN; i++)
		ret = ringside_reader_stats(&f->r, e, s, f->n);
	cr_assert_eq(ret, 0, "stats: %s", ringside_strerror(ret));
}

/*
 * Detach the test's reader; called at the end of each test that attaches.
 * A test ended by an assertion leaves its mapping to the exit of its
 * process (the reader lives in that test's stack frame, gone by .fini).
 */
static void h_done(void)
{
	if (h_current != NULL && h_current->attached)
		ringside_reader_detach(&h_current->r);
	h_current = NULL;
}

static unsigned h_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	cr_assert_not_null(d, "%s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ---- the command line -------------------------------------------------- */

Test(engine, once_prints_one_json_line_that_parses)
{
	char name[40], cfg[256], temp[256], missing[256], bin[256];
	char out[8192], py[4096];
	char *argv[] = { bin, "-c", cfg, "--once", NULL };
	const char *nl;
	int fd, status;
	pid_t pid;

	h_name(name, sizeof(name), "o");
	h_path(temp, sizeof(temp), "temp");
	h_path(missing, sizeof(missing), "missing");
	h_put_text(temp, "42.5\n");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\n\n"
		 "[sensor a]\nsource = file:%s\nunit = C\n\n"
		 "[sensor b]\nsource = file:/proc/loadavg\n\n"
		 "[sensor c]\nsource = file:%s\n",
		 temp, missing);
	h_bin(bin, sizeof(bin), "ringsided");
	pid = h_spawn(argv, &fd, "once.log");
	h_read_all(fd, out, sizeof(out), 5000);
	h_expect_exit(pid, 5000, 0);

	/* One line, ending in a newline, holding one object. */
	nl = strchr(out, '\n');
	cr_assert_not_null(nl, "no line on stdout: '%s'", out);
	cr_assert_eq(nl[1], '\0', "more than one line: '%s'", out);
	cr_assert_eq(out[0], '{');
	cr_assert_eq(nl[-1], '}');
	cr_assert_not_null(strstr(out, "\"seq\":1,"), "%s", out);
	cr_assert_not_null(strstr(out, "\"total\":3"), "%s", out);
	cr_assert_not_null(strstr(out, "\"available\":2"), "%s", out);
	cr_assert_not_null(strstr(out, "\"degraded\":true"), "%s", out);
	cr_assert_not_null(strstr(out, "\"value\":42.5"), "%s", out);
	cr_assert_not_null(strstr(out, "\"error\":\"ENOENT\""), "%s", out);

	/* And a JSON parser agrees, field by field. */
	h_path(py, sizeof(py), "once.json");
	h_put_text(py, out);
	{
		char *pargv[] = {
			"python3",
			"-c",
			"import json, sys\n"
			"text = open(sys.argv[1]).read()\n"
			"assert text.endswith('\\n') and text.count('\\n') == "
			"1\n"
			"d = json.loads(text)\n"
			"assert d['seq'] == 1 and d['total'] == 3, d\n"
			"assert d['available'] == 2 and d['degraded'] is True\n"
			"assert d['lost'] == 0 and d['engine'] == sys.argv[2]\n"
			"assert isinstance(d['epoch'], int) and d['epoch'] > "
			"0\n"
			"r = d['readings']\n"
			"assert [x['sensor'] for x in r] == ['a', 'b'], r\n"
			"assert r[0]['value'] == 42.5 and r[0]['unit'] == 'C'\n"
			"assert r[0]['attempts'] == 1, r\n"
			"assert isinstance(r[1]['value'], (int, float))\n"
			"m = d['missing']\n"
			"assert [x['sensor'] for x in m] == ['c'], m\n"
			"assert m[0]['status'] == 'failed', m\n"
			"assert m[0]['error'] == 'ENOENT', m\n"
			"assert m[0]['attempts'] == 1, m\n",
			py,
			name,
			NULL
		};
		pid_t ppid = h_spawn(pargv, NULL, "python.log");

		cr_assert_eq(h_wait(ppid, 10000, &status), 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
			cr_log_warn("python3 not found: JSON parse skipped");
		} else {
			h_slurp("python.log", py, sizeof(py));
			cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
				  "the line does not parse as the contract "
				  "says: %s\n%s",
				  out, py);
		}
	}
}

Test(engine, check_reports_every_problem_as_file_line_and_exits_2)
{
	char name[40], cfg[256], bin[256], seg[96], log[4096], want[300];
	char *argv[] = { bin, "-c", cfg, "--check", NULL };
	pid_t pid;
	FILE *f;

	h_name(name, sizeof(name), "c");
	h_path(cfg, sizeof(cfg), "bad.ini");
	f = fopen(cfg, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"[engine]\n"			/* 1 */
		"name = %s\n"			/* 2 */
		"period = 0ms\n"		/* 3 */
		"\n"				/* 4 */
		"[sensor a]\n"			/* 5 */
		"source = file:/proc/loadavg\n" /* 6 */
		"colour = blue\n"		/* 7 */
		"[sensor a]\n"			/* 8 */
		"source = file:/proc/uptime\n", /* 9 */
		name);
	fclose(f);
	snprintf(seg, sizeof(seg), "/dev/shm/ringside.%s", name);

	h_bin(bin, sizeof(bin), "ringsided");
	pid = h_spawn(argv, NULL, "check.log");
	h_expect_exit(pid, 5000, 2);
	h_slurp("check.log", log, sizeof(log));
	snprintf(want, sizeof(want), "%s:3: ", cfg);
	cr_assert_not_null(strstr(log, want), "no '%s' in:\n%s", want, log);
	snprintf(want, sizeof(want), "%s:7: ", cfg);
	cr_assert_not_null(strstr(log, want), "no '%s' in:\n%s", want, log);
	snprintf(want, sizeof(want), "%s:8: ", cfg);
	cr_assert_not_null(strstr(log, want), "no '%s' in:\n%s", want, log);
	cr_assert_eq(access(seg, F_OK), -1, "--check created %s", seg);
}

Test(engine, check_accepts_a_good_config_and_creates_no_segment)
{
	char name[40], cfg[256], bin[256], seg[96];
	char *argv[] = { bin, "-c", cfg, "--check", NULL };
	pid_t pid;

	h_name(name, sizeof(name), "g");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n");
	snprintf(seg, sizeof(seg), "/dev/shm/ringside.%s", name);
	h_bin(bin, sizeof(bin), "ringsided");
	pid = h_spawn(argv, NULL, "check.log");
	h_expect_exit(pid, 5000, 0);
	cr_assert_eq(access(seg, F_OK), -1, "--check created %s", seg);
}

/* ---- batches, sources, clean stops ------------------------------------- */

Test(engine, batches_are_gapless_and_hold_every_sensor_in_order)
{
	enum { TEMP, LOAD, UPTIME, FIFO, PTY, UNIXS, TCPREQ, UDP, N };
	static const char *const names[N] = { "temp", "load", "uptime", "fifo",
					      "pty",  "unix", "tcpreq", "udp" };
	char name[40], cfg[256], temp[256], fifo[256], usock[256];
	char feeds[4][300], addr[4][128];
	const char *fp[4] = { feeds[0], feeds[1], feeds[2], feeds[3] };
	unsigned udp_port, i, ok[N] = { 0 };
	struct peer peers[1];
	struct h_feed f;
	double last_uptime = 0;
	pid_t pid;

	h_name(name, sizeof(name), "b");
	h_path(temp, sizeof(temp), "temp");
	h_path(fifo, sizeof(fifo), "f.fifo");
	h_path(usock, sizeof(usock), "u.sock");
	h_put_text(temp, "21.5\n");
	snprintf(feeds[0], sizeof(feeds[0]), "fifo:%s,value=3,rate=100", fifo);
	snprintf(feeds[1], sizeof(feeds[1]), "pty:p,value=5,rate=100");
	snprintf(feeds[2], sizeof(feeds[2]), "unix:%s,value=9,rate=100", usock);
	snprintf(feeds[3], sizeof(feeds[3]),
		 "tcp:127.0.0.1:0,mode=request,value=7");
	h_sim(fp, 4, addr);

	peers[0] = (struct peer){ .kind = PEER_UDP, .value = 4.5 };
	udp_port = h_closed_port(SOCK_DGRAM);
	peers[0].port = udp_port;
	peers[0].fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	h_keep_fd(peers[0].fd);
	h_peers(peers, 1);

	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 2\nretry_base = 5ms\n"
		 "retry_max = 5ms\ntimeout = 20ms\n\n"
		 "[sensor temp]\nsource = file:%s\nunit = C\n" FILE_KEYS
		 "[sensor load]\nsource = file:/proc/loadavg\n"
		 "field = 0\n" FILE_KEYS
		 "[sensor uptime]\nsource = file:/proc/uptime\n" FILE_KEYS
		 "[sensor fifo]\nsource = stream:%s\n\n"
		 "[sensor pty]\nsource = stream:%s\nserial = 9600 8N1\n\n"
		 "[sensor unix]\nsource = unix:%s\n\n"
		 "[sensor tcpreq]\nsource = tcp:127.0.0.1:%u\n"
		 "request = get\\n\n\n"
		 "[sensor udp]\nsource = udp:127.0.0.1:%u\n",
		 temp, addr[0], addr[1], addr[2], h_addr_port(addr[3]),
		 udp_port);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, N);

	for (i = 0; i < N; i++) {
		char sname[RINGSIDE_NAME_MAX + 1], unit[RINGSIDE_UNIT_MAX + 1];

		cr_assert_eq(ringside_reader_sensor(&f.r, i, sname, unit), 0);
		cr_assert_str_eq(sname, names[i], "sensor %u", i);
		cr_assert_str_eq(unit, i == TEMP ? "C" : "");
	}
	while (f.batches < 30) {
		h_next(&f);
		if (f.batches == 1)
			cr_assert_eq(f.b.seq, 1, "the first batch is %llu",
				     (unsigned long long)f.b.seq);
		/* Files and procfs answer at every tick. */
		h_expect_value(&f, TEMP, 21.5);
		cr_assert(h_is(&f.v[LOAD], "ok"), "load: %s",
			  h_what(&f.v[LOAD]));
		cr_assert_geq(f.v[LOAD].value, 0);
		cr_assert(h_is(&f.v[UPTIME], "ok"), "uptime: %s",
			  h_what(&f.v[UPTIME]));
		cr_assert_geq(f.v[UPTIME].value, last_uptime);
		last_uptime = f.v[UPTIME].value;
		for (i = 0; i < N; i++)
			ok[i] += f.v[i].status == RINGSIDE_OK;
		if (h_is(&f.v[FIFO], "ok"))
			h_expect_value(&f, FIFO, 3);
		if (h_is(&f.v[PTY], "ok"))
			h_expect_value(&f, PTY, 5);
		if (h_is(&f.v[UNIXS], "ok"))
			h_expect_value(&f, UNIXS, 9);
		if (h_is(&f.v[TCPREQ], "ok"))
			h_expect_value(&f, TCPREQ, 7);
		if (h_is(&f.v[UDP], "ok"))
			h_expect_value(&f, UDP, 4.5);
	}
	/* Pushed and requested values arrive in most batches. */
	for (i = FIFO; i < N; i++)
		cr_assert_geq(ok[i], 15, "%s ok in only %u of 30 batches",
			      names[i], ok[i]);
	h_done();
}

Test(engine, sigterm_publishes_the_tick_and_closes_the_segment)
{
	char name[40], cfg[256];
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "t");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n\n"
		 "[sensor b]\nsource = file:/proc/uptime\n");
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	while (f.batches < 5)
		h_next(&f);
	cr_assert_eq(kill(pid, SIGTERM), 0);
	h_expect_exit(pid, 5000, 0);

	/* Every batch up to the last is there, then the segment is closed. */
	while (h_try_next(&f, H_BATCH_MS) == 1)
		;
	cr_assert_eq(f.seq, ringside_reader_head(&f.r));
	cr_assert_eq(ringside_reader_state(&f.r), RINGSIDE_CLOSED);
	cr_assert_eq(ringside_reader_wait(&f.r, 1000), RINGSIDE_CLOSED);
	h_done();
}

Test(engine, duration_stops_the_engine_as_sigterm_does)
{
	char name[40], cfg[256], bin[256];
	char *argv[] = { bin, "-c", cfg, "--duration", "0.5", NULL };
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "d");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n");
	h_bin(bin, sizeof(bin), "ringsided");
	pid = h_spawn(argv, NULL, "engine.log");
	h_expect_exit(pid, 10000, 0);

	/* The segment outlives the engine: read it all from seq 1. */
	h_attach(&f, name, 0, 1);
	while (h_try_next(&f, 1000) == 1)
		cr_assert(h_is(&f.v[0], "ok"), "%s", h_what(&f.v[0]));
	cr_assert_geq(f.batches, 5, "only %llu batches in 0.5 s at 50 ms",
		      (unsigned long long)f.batches);
	cr_assert_eq(ringside_reader_state(&f.r), RINGSIDE_CLOSED);
	h_done();
}

Test(engine, killed_engine_is_reported_dead)
{
	char name[40], cfg[256];
	struct h_feed f;
	uint64_t end;
	pid_t pid;
	int ev = RINGSIDE_TIMEOUT;

	h_name(name, sizeof(name), "k");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n");
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	h_next(&f);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	h_forget_child(pid);
	end = h_now_ms() + 10000;
	while (h_now_ms() < end) {
		ev = h_try_next(&f, 500);
		if (ev == RINGSIDE_DEAD || ev == RINGSIDE_CLOSED)
			break;
	}
	cr_assert_eq(ev, RINGSIDE_DEAD, "a killed engine gave event %d", ev);
	h_done();
}

/* ---- file sources: values and faults ----------------------------------- */

/*
 * One file and what it must give.  Criterion hands the parameters to a
 * fresh process, so they hold arrays, never pointers.
 */
struct file_case {
	char content[32]; /* empty: the file does not exist */
	size_t big;	  /* > 0: that many '7's and a newline instead */
	char keys[48];	  /* more keys for the sensor */
	char expect[16];  /* "ok" or an errno name */
	double value;	  /* when ok */
};

ParameterizedTestParameters(engine, file_values_and_faults)
{
	static struct file_case cases[] = {
		{ "21.5\n", 0, "", "ok", 21.5 },
		{ "45000\n", 0, "scale = 0.001\n", "ok", 45 },
		{ "1000\n", 0, "offset = 24\nscale = 0.5\n", "ok", 512 },
		{ "1 2 3\n", 0, "field = 2\n", "ok", 3 },
		{ "a b\nc 7\n", 0, "line = 1\nfield = 1\n", "ok", 7 },
		{ "hello\n", 0, "", "EBADMSG", 0 },
		{ "\n", 0, "", "EBADMSG", 0 },
		{ "nan\n", 0, "", "EBADMSG", 0 },
		{ "inf\n", 0, "", "EBADMSG", 0 },
		{ "1e999\n", 0, "", "EBADMSG", 0 },
		{ "1 2\n", 0, "field = 5\n", "EBADMSG", 0 },
		{ "150\n", 0, "min = 0\nmax = 100\n", "ERANGE", 0 },
		{ "-5\n", 0, "min = 0\nmax = 100\n", "ERANGE", 0 },
		{ "100\n", 0, "min = 0\nmax = 100\n", "ok", 100 },
		{ "", 5000, "", "EMSGSIZE", 0 },
		{ "", 0, "", "ENOENT", 0 },
	};

	return cr_make_param_array(struct file_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct file_case *c, engine, file_values_and_faults)
{
	char name[40], cfg[256], path[256], bin[256];
	char *argv[] = { bin, "-c", cfg, "--once", NULL };
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "f");
	h_path(path, sizeof(path), "value");
	if (c->big > 0) {
		char *buf = malloc(c->big + 1);

		cr_assert_not_null(buf);
		memset(buf, '7', c->big);
		buf[c->big] = '\n';
		h_put(path, buf, c->big + 1);
		free(buf);
	} else if (c->content[0] != '\0') {
		h_put_text(path, c->content);
	}
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor s]\nsource = file:%s\nretry_attempts = 1\n%s", path,
		 c->keys);
	h_bin(bin, sizeof(bin), "ringsided");
	pid = h_spawn(argv, NULL, "once.log");
	h_expect_exit(pid, 5000, 0);

	h_attach(&f, name, 0, 1);
	h_next(&f);
	cr_assert_str_eq(h_what(&f.v[0]), c->expect, "content '%s'",
			 c->big > 0 ? "(5000 bytes)" : c->content);
	if (c->expect[0] == 'o')
		h_expect_value(&f, 0, c->value);
	else
		cr_assert_eq(f.v[0].attempts, 1);
	h_done();
}

Test(engine, vanished_file_reports_enoent_and_recovers)
{
	char name[40], cfg[256], path[256];
	struct h_feed f;
	bool seen = false;
	pid_t pid;

	h_name(name, sizeof(name), "v");
	h_path(path, sizeof(path), "value");
	h_put_text(path, "1.5\n");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\nbreaker_failures = 1000\n\n"
		 "[sensor v]\nsource = file:%s\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n",
		 path);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	h_next(&f);
	h_expect_value(&f, 0, 1.5);

	cr_assert_eq(unlink(path), 0);
	while (!seen && f.batches < 100) {
		h_next(&f);
		cr_assert(h_is(&f.v[1], "ok"), "load: %s", h_what(&f.v[1]));
		seen = h_is(&f.v[0], "ENOENT");
		if (!seen && !h_is(&f.v[0], "ok"))
			cr_assert_fail("a vanished file gave %s",
				       h_what(&f.v[0]));
	}
	cr_assert(seen, "no ENOENT after the file vanished");

	h_put_text(path, "2.5\n");
	seen = false;
	while (!seen && f.batches < 200) {
		h_next(&f);
		cr_assert(h_is(&f.v[1], "ok"), "load: %s", h_what(&f.v[1]));
		seen = h_is(&f.v[0], "ok");
		if (seen)
			h_expect_value(&f, 0, 2.5);
		else
			cr_assert(h_is(&f.v[0], "ENOENT"), "%s",
				  h_what(&f.v[0]));
	}
	cr_assert(seen, "the file came back but its value did not");
	h_done();
}

/*
 * "Each tick the whole file is read": a reading whose call started after
 * the file was replaced (the way a well-behaved writer updates a file:
 * write a temporary, rename it over) or removed must show that, not the
 * content of the file that used to be at the path.
 */
Test(engine, replaced_or_removed_file_is_seen_at_the_next_tick)
{
	char name[40], cfg[256], path[256];
	struct h_feed f;
	unsigned checked = 0;
	uint64_t t;
	pid_t pid;

	h_name(name, sizeof(name), "r");
	h_path(path, sizeof(path), "value");
	h_put_text(path, "1.5\n");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor v]\nsource = file:%s\nretry_attempts = 1\n"
		 "breaker_failures = 1000\n",
		 path);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	h_next(&f);
	h_expect_value(&f, 0, 1.5);

	h_put_text(path, "2.5\n");
	t = h_now_ns();
	while (checked < 5) {
		h_next(&f);
		if (f.b.tick_mono_ns <= t || h_late(&f.v[0]))
			continue;
		h_expect_value(&f, 0, 2.5);
		checked++;
	}

	cr_assert_eq(unlink(path), 0);
	t = h_now_ns();
	checked = 0;
	while (checked < 5) {
		h_next(&f);
		if (f.b.tick_mono_ns <= t || h_late(&f.v[0]))
			continue;
		cr_assert(h_is(&f.v[0], "ENOENT"),
			  "batch %llu, ticked after the unlink: %s %g",
			  (unsigned long long)f.b.seq, h_what(&f.v[0]),
			  f.v[0].value);
		checked++;
	}
	h_done();
}

/* ---- streams ----------------------------------------------------------- */

/*
 * Write @line into the FIFO and take the next batch: sensor 0 reads a
 * file, sensor 1 the FIFO.  A batch can be out just after its tick, so a
 * record written then is almost a period old at the next tick: the FIFO
 * sensor's max_age is long, and each record is still taken only once.
 */
static void fifo_feed(struct h_feed *f, int fd, const char *line, size_t len)
{
	if (len > 0)
		cr_assert_eq(write(fd, line, len), (ssize_t)len, "write: %s",
			     strerror(errno));
	h_next(f);
	cr_assert(h_is(&f->v[0], "ok"), "load: %s", h_what(&f->v[0]));
	/* Whatever the stream shows, a value is one that was written. */
	if (h_is(&f->v[1], "ok"))
		cr_assert(f->v[1].value == 1.5 || f->v[1].value == 2.5,
			  "stream value %g was never written", f->v[1].value);
}

Test(engine, stream_junk_and_long_lines_fail_then_the_stream_resynchronises)
{
	char name[40], cfg[256], fifo[256], *big;
	struct h_feed f;
	bool seen = false;
	pid_t pid;
	int fd;

	h_name(name, sizeof(name), "s");
	h_mkfifo(fifo, sizeof(fifo), "s.fifo");
	fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	h_keep_fd(fd);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\nbreaker_failures = 1000\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor s]\nsource = stream:%s\ntimeout = 40ms\n"
		 "max_age = 1s\n",
		 fifo);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);

	while (!seen && f.batches < 40) {
		fifo_feed(&f, fd, "1.5\n", 4);
		seen = h_is(&f.v[1], "ok");
	}
	cr_assert(seen, "no value from the stream");

	fifo_feed(&f, fd, "hello\n", 6);
	seen = h_is(&f.v[1], "EBADMSG");
	while (!seen && f.batches < 80) {
		fifo_feed(&f, fd, "", 0);
		seen = h_is(&f.v[1], "EBADMSG");
	}
	cr_assert(seen, "junk on the stream did not give EBADMSG");

	big = malloc(5001);
	cr_assert_not_null(big);
	memset(big, '7', 5000);
	big[5000] = '\n';
	fifo_feed(&f, fd, big, 5001);
	free(big);
	seen = h_is(&f.v[1], "EMSGSIZE");
	while (!seen && f.batches < 120) {
		fifo_feed(&f, fd, "", 0);
		seen = h_is(&f.v[1], "EMSGSIZE");
	}
	cr_assert(seen, "a 5000-byte line did not give EMSGSIZE");

	seen = false;
	while (!seen && f.batches < 160) {
		fifo_feed(&f, fd, "2.5\n", 4);
		seen = h_is(&f.v[1], "ok") && f.v[1].value == 2.5;
	}
	cr_assert(seen, "the stream did not resynchronise after a long line");
	h_done();
}

/* ---- sockets ----------------------------------------------------------- */

Test(engine, request_peers_over_tcp_and_unix_give_values)
{
	char name[40], cfg[256], usock[256], feeds[2][300], addr[2][128];
	const char *fp[2] = { feeds[0], feeds[1] };
	unsigned ok[2] = { 0, 0 }, i;
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "q");
	h_path(usock, sizeof(usock), "r.sock");
	snprintf(feeds[0], sizeof(feeds[0]),
		 "tcp:127.0.0.1:0,mode=request,value=7");
	snprintf(feeds[1], sizeof(feeds[1]), "unix:%s,mode=request,value=8",
		 usock);
	h_sim(fp, 2, addr);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor t]\nsource = tcp:127.0.0.1:%u\nrequest = read\\r\\n\n"
		 "\n[sensor u]\nsource = unix:%s\nrequest = read\\n\n",
		 h_addr_port(addr[0]), addr[1]);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	while (f.batches < 20) {
		h_next(&f);
		for (i = 0; i < 2; i++) {
			if (!h_is(&f.v[i], "ok"))
				continue;
			h_expect_value(&f, i, i == 0 ? 7 : 8);
			ok[i]++;
		}
	}
	cr_assert_geq(ok[0], 10, "tcp ok in %u of 20 batches", ok[0]);
	cr_assert_geq(ok[1], 10, "unix ok in %u of 20 batches", ok[1]);
	h_done();
}

Test(engine, unreachable_sockets_give_econnrefused_and_enoent)
{
	char name[40], cfg[256], dead[256], none[256];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct h_feed f;
	unsigned i;
	pid_t pid;
	int fd;

	h_name(name, sizeof(name), "u");
	h_path(dead, sizeof(dead), "dead.sock");
	h_path(none, sizeof(none), "none.sock");
	/* A socket file with no listener behind it. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_lt(strlen(dead), sizeof(sun.sun_path));
	memcpy(sun.sun_path, dead, strlen(dead) + 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\nbreaker_failures = 1000\n\n"
		 "[sensor tcp]\nsource = tcp:127.0.0.1:%u\nrequest = get\\n\n\n"
		 "[sensor tcppush]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor dead]\nsource = unix:%s\nrequest = get\\n\n\n"
		 "[sensor none]\nsource = unix:%s\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n",
		 h_closed_port(SOCK_STREAM), h_closed_port(SOCK_STREAM), dead,
		 none);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 5);
	while (f.batches < 10) {
		h_next(&f);
		for (i = 0; i < 4; i++)
			cr_assert(!h_late(&f.v[i]), "sensor %u late", i);
		cr_assert_str_eq(h_what(&f.v[0]), "ECONNREFUSED");
		cr_assert_str_eq(h_what(&f.v[1]), "ECONNREFUSED");
		cr_assert_str_eq(h_what(&f.v[2]), "ECONNREFUSED");
		cr_assert_str_eq(h_what(&f.v[3]), "ENOENT");
		cr_assert(h_is(&f.v[4], "ok"), "load: %s", h_what(&f.v[4]));
		for (i = 0; i < 4; i++)
			cr_assert_eq(f.v[i].attempts, 1);
	}
	h_done();
}

Test(engine, open_breaker_fails_fast_without_io)
{
	char name[40], cfg[256];
	struct ringside_sensor_stats st[2];
	struct h_feed f;
	unsigned failed = 0, open = 0;
	pid_t pid;

	h_name(name, sizeof(name), "x");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor c]\nsource = tcp:127.0.0.1:%u\nrequest = get\\n\n"
		 "retry_attempts = 1\nbreaker_failures = 2\n"
		 "breaker_window = 10s\nbreaker_reset = 60s\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n",
		 h_closed_port(SOCK_STREAM));
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	while (f.batches < 15) {
		h_next(&f);
		cr_assert(h_is(&f.v[1], "ok"), "load: %s", h_what(&f.v[1]));
		if (open == 0) {
			cr_assert(h_is(&f.v[0], "ECONNREFUSED") ||
					  h_is(&f.v[0], "open"),
				  "batch %llu: %s", (unsigned long long)f.b.seq,
				  h_what(&f.v[0]));
		} else {
			cr_assert(h_is(&f.v[0], "open"),
				  "batch %llu: %s after the breaker opened",
				  (unsigned long long)f.b.seq, h_what(&f.v[0]));
		}
		failed += h_is(&f.v[0], "ECONNREFUSED");
		open += h_is(&f.v[0], "open");
		if (h_is(&f.v[0], "open"))
			cr_assert_eq(f.v[0].attempts, 0);
	}
	cr_assert_eq(failed, 2, "%u failures before the breaker opened",
		     failed);
	/* The counters follow their batch: once the next one is out, they
	 * hold at least every batch counted above. */
	h_next(&f);
	cr_assert(h_is(&f.v[0], "open"), "%s", h_what(&f.v[0]));
	h_stats(&f, NULL, st);
	cr_assert_eq(st[0].counter[RINGSIDE_SC_BREAKER], RINGSIDE_BREAKER_OPEN);
	cr_assert_eq(st[0].counter[RINGSIDE_SC_OPENS], 1);
	cr_assert_eq(st[0].counter[RINGSIDE_SC_CALLS], 2);
	cr_assert_eq(st[0].counter[RINGSIDE_SC_ATTEMPTS], 2);
	/* No connect at all while open: one socket per failed call. */
	cr_assert_eq(st[0].counter[RINGSIDE_SC_RECONNECTS], 2,
		     "%llu connects for 2 calls",
		     (unsigned long long)st[0].counter[RINGSIDE_SC_RECONNECTS]);
	cr_assert_geq(st[0].counter[RINGSIDE_SC_FAST_FAILS], open);
	h_done();
}

Test(engine, breaker_probe_closes_it_when_the_peer_comes_back)
{
	char name[40], cfg[256];
	struct ringside_sensor_stats st[1];
	struct peer peers[1];
	struct h_feed f;
	unsigned port, after = 0;
	bool open = false, ok = false;
	pid_t pid;

	h_name(name, sizeof(name), "p");
	port = h_closed_port(SOCK_STREAM);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor c]\nsource = tcp:127.0.0.1:%u\nrequest = get\\n\n"
		 "retry_attempts = 1\nbreaker_failures = 2\n"
		 "breaker_window = 10s\nbreaker_reset = 300ms\n",
		 port);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	while (!open && f.batches < 40) {
		h_next(&f);
		open = h_is(&f.v[0], "open");
		if (!open)
			cr_assert(h_is(&f.v[0], "ECONNREFUSED"), "%s",
				  h_what(&f.v[0]));
	}
	cr_assert(open, "the breaker never opened");

	peers[0] = (struct peer){ .kind = PEER_VALUE, .value = 6.25 };
	peers[0].fd = h_listen(port, 16, NULL);
	h_peers(peers, 1);
	while (!ok && f.batches < 200) {
		h_next(&f);
		ok = h_is(&f.v[0], "ok");
	}
	cr_assert(ok, "no value after the peer came back");
	h_expect_value(&f, 0, 6.25);
	while (after < 5) {
		h_next(&f);
		cr_assert(h_is(&f.v[0], "ok") || h_is(&f.v[0], "pending"),
			  "after the probe: %s", h_what(&f.v[0]));
		after++;
	}
	h_stats(&f, NULL, st);
	cr_assert_eq(st[0].counter[RINGSIDE_SC_BREAKER],
		     RINGSIDE_BREAKER_CLOSED);
	cr_assert_geq(st[0].counter[RINGSIDE_SC_PROBES], 1);
	cr_assert_geq(st[0].counter[RINGSIDE_SC_OPENS], 1);
	h_done();
}

Test(engine, silent_sources_give_etimedout)
{
	enum { FIFO, HANG, QUIET, LOAD, N };
	char name[40], cfg[256], fifo[256];
	struct peer peers[2];
	unsigned port[2], i, timedout[LOAD] = { 0 };
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "i");
	h_mkfifo(fifo, sizeof(fifo), "quiet.fifo");
	peers[0] = (struct peer){ .kind = PEER_HANG };
	peers[0].fd = h_listen(0, 16, &port[0]);
	peers[1] = (struct peer){ .kind = PEER_HANG };
	peers[1].fd = h_listen(0, 16, &port[1]);
	h_peers(peers, 2);
	h_config(
		cfg, sizeof(cfg), name, "50ms",
		"[defaults]\nretry_attempts = 1\ntimeout = 20ms\n"
		"breaker_failures = 1000\n\n"
		"[sensor fifo]\nsource = stream:%s\n\n"
		"[sensor hang]\nsource = tcp:127.0.0.1:%u\nrequest = get\\n\n\n"
		"[sensor quiet]\nsource = tcp:127.0.0.1:%u\n\n"
		"[sensor load]\nsource = file:/proc/loadavg\n" FILE_KEYS,
		fifo, port[0], port[1]);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, N);
	while (f.batches < 15) {
		h_next(&f);
		cr_assert(h_is(&f.v[LOAD], "ok"), "load: %s",
			  h_what(&f.v[LOAD]));
		for (i = 0; i < LOAD; i++) {
			cr_assert(h_is(&f.v[i], "ETIMEDOUT") ||
					  h_is(&f.v[i], "pending"),
				  "sensor %u: %s", i, h_what(&f.v[i]));
			timedout[i] += h_is(&f.v[i], "ETIMEDOUT");
		}
	}
	for (i = 0; i < LOAD; i++)
		cr_assert_geq(timedout[i], 7, "sensor %u: ETIMEDOUT %u times",
			      i, timedout[i]);
	h_done();
}

Test(engine, slow_call_shows_pending_then_a_late_result)
{
	char name[40], cfg[256];
	struct peer peers[1];
	unsigned port, pending = 0, late = 0;
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "l");
	peers[0] = (struct peer){ .kind = PEER_HANG };
	peers[0].fd = h_listen(0, 16, &port);
	h_peers(peers, 1);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor slow]\nsource = tcp:127.0.0.1:%u\nrequest = get\\n\n"
		 "timeout = 180ms\nretry_attempts = 1\n"
		 "breaker_failures = 1000\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n",
		 port);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	while (f.batches < 30) {
		h_next(&f);
		cr_assert(h_is(&f.v[1], "ok"), "load: %s", h_what(&f.v[1]));
		if (h_is(&f.v[0], "pending")) {
			pending++;
			continue;
		}
		/* A 180 ms call cannot end by a 50 ms deadline. */
		cr_assert(h_is(&f.v[0], "ETIMEDOUT") && h_late(&f.v[0]),
			  "batch %llu: %s%s", (unsigned long long)f.b.seq,
			  h_what(&f.v[0]), h_late(&f.v[0]) ? " late" : "");
		late++;
	}
	cr_assert_geq(pending, 1);
	cr_assert_geq(late, 1);
	/* At most one call in flight: at least 3 batches per call. */
	cr_assert_geq(pending, 2 * late, "%u pending, %u late", pending, late);
	h_done();
}

Test(engine, hung_and_broken_peers_never_stop_batches)
{
	enum {
		TEMP,
		LOAD,
		HANG,
		BACKLOG,
		JUNK,
		MIDLINE,
		SLAM,
		SILENT,
		REFUSED,
		N
	};
	char name[40], cfg[256], temp[256], fifo[256];
	struct peer peers[4];
	unsigned port[5], i, failed[N] = { 0 }, bad[N] = { 0 };
	struct h_feed f;
	uint64_t end;
	pid_t pid;

	h_name(name, sizeof(name), "h");
	h_path(temp, sizeof(temp), "temp");
	h_put_text(temp, "21.5\n");
	h_mkfifo(fifo, sizeof(fifo), "silent.fifo");
	peers[0] = (struct peer){ .kind = PEER_HANG };
	peers[0].fd = h_listen(0, 16, &port[0]);
	peers[1] = (struct peer){ .kind = PEER_JUNK };
	peers[1].fd = h_listen(0, 16, &port[1]);
	peers[2] = (struct peer){ .kind = PEER_MIDLINE };
	peers[2].fd = h_listen(0, 16, &port[2]);
	peers[3] = (struct peer){ .kind = PEER_SLAM };
	peers[3].fd = h_listen(0, 16, &port[3]);
	h_peers(peers, 4);
	h_listen(0, 0, &port[4]); /* listens, never accepts */
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 2\nretry_base = 5ms\n"
		 "retry_max = 5ms\nretry_jitter = none\ntimeout = 15ms\n"
		 "breaker_failures = 1000\nbreaker_window = 1s\n"
		 "request = get\\n\n\n"
		 "[sensor temp]\nsource = file:%s\n" FILE_KEYS
		 "[sensor load]\nsource = file:/proc/loadavg\n" FILE_KEYS
		 "[sensor hang]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor backlog]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor junk]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor midline]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor slam]\nsource = tcp:127.0.0.1:%u\n\n"
		 "[sensor silent]\nsource = stream:%s\n\n"
		 "[sensor refused]\nsource = tcp:127.0.0.1:%u\n",
		 temp, port[0], port[4], port[1], port[2], port[3], fifo,
		 h_closed_port(SOCK_STREAM));
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, N);

	/* 2 s at 50 ms promise 40 batches; ask for half. */
	end = h_now_ms() + 2000;
	while (h_now_ms() < end) {
		h_next(&f);
		h_expect_value(&f, TEMP, 21.5);
		cr_assert(h_is(&f.v[LOAD], "ok"), "load: %s",
			  h_what(&f.v[LOAD]));
		for (i = HANG; i < N; i++) {
			const struct ringside_reading *v = &f.v[i];

			cr_assert(!h_is(v, "ok"), "sensor %u gave %g", i,
				  v->value);
			cr_assert(!h_is(v, "open"), "sensor %u open", i);
			if (v->status != RINGSIDE_FAILED)
				continue;
			failed[i]++;
			if (!h_late(v))
				cr_assert_eq(v->attempts, 2,
					     "sensor %u: %u attempts", i,
					     v->attempts);
			switch (i) {
			case HANG:
			case BACKLOG:
			case SILENT:
				bad[i] += !h_is(v, "ETIMEDOUT");
				break;
			case JUNK:
				bad[i] += !h_is(v, "EBADMSG");
				break;
			case REFUSED:
				bad[i] += !h_is(v, "ECONNREFUSED");
				break;
			default: /* a connection closed on us */
				bad[i] += !h_is(v, "ECONNRESET") &&
					  !h_is(v, "EPIPE") &&
					  !h_is(v, "ECONNABORTED");
				break;
			}
			if (bad[i] == 1 && !h_is(v, "ETIMEDOUT"))
				cr_log_info("sensor %u failed with %s", i,
					    h_what(v));
		}
	}
	cr_assert_geq(f.batches, 20, "%llu batches in 2 s at 50 ms",
		      (unsigned long long)f.batches);
	for (i = HANG; i < N; i++) {
		cr_assert_geq(failed[i], 10, "sensor %u failed in %u batches",
			      i, failed[i]);
		cr_assert_eq(bad[i], 0, "sensor %u: %u wrong errors", i,
			     bad[i]);
	}
	h_done();
}

/*
 * A call that ends at once at its tick (here a stream whose path does not
 * exist fails on the spot) must not publish the batch before the sensors
 * after it in the configuration have had their call: they are healthy and
 * must be "ok" in every batch.
 */
Test(engine, sensor_done_at_its_tick_leaves_later_sensors_unaffected)
{
	char name[40], cfg[256], none[256], temp[256];
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "a");
	h_path(none, sizeof(none), "none.fifo");
	h_path(temp, sizeof(temp), "temp");
	h_put_text(temp, "21.5\n");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\nbreaker_failures = 1000\n\n"
		 "[sensor gone]\nsource = stream:%s\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor temp]\nsource = file:%s\n",
		 none, temp);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 3);
	while (f.batches < 10) {
		h_next(&f);
		cr_assert_str_eq(h_what(&f.v[0]), "ENOENT");
		cr_assert(h_is(&f.v[1], "ok") && !h_late(&f.v[1]),
			  "batch %llu: load %s%s", (unsigned long long)f.b.seq,
			  h_what(&f.v[1]), h_late(&f.v[1]) ? " (late)" : "");
		cr_assert(!h_late(&f.v[2]), "batch %llu: temp late",
			  (unsigned long long)f.b.seq);
		h_expect_value(&f, 2, 21.5);
	}
	h_done();
}

Test(engine, stream_that_appears_later_starts_giving_values)
{
	char name[40], cfg[256], fifo[256];
	struct h_feed f;
	bool seen = false;
	pid_t pid;
	int fd;

	h_name(name, sizeof(name), "w");
	h_path(fifo, sizeof(fifo), "late.fifo");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\nbreaker_failures = 1000\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor s]\nsource = stream:%s\ntimeout = 40ms\n",
		 fifo);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	h_next(&f);
	cr_assert_str_eq(h_what(&f.v[1]), "ENOENT");

	h_mkfifo(fifo, sizeof(fifo), "late.fifo");
	fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	h_keep_fd(fd);
	while (!seen && f.batches < 60) {
		cr_assert_eq(write(fd, "6.5\n", 4), 4);
		h_next(&f);
		seen = h_is(&f.v[1], "ok");
		if (!seen)
			cr_assert(h_is(&f.v[1], "ENOENT") ||
					  h_is(&f.v[1], "ETIMEDOUT") ||
					  h_is(&f.v[1], "pending"),
				  "%s", h_what(&f.v[1]));
	}
	cr_assert(seen, "no value once the FIFO appeared");
	h_expect_value(&f, 1, 6.5);
	h_done();
}

/* Send @len bytes to the engine's UDP port and take the next batch. */
static void udp_feed(struct h_feed *f, int fd, const void *data, size_t len)
{
	if (len > 0)
		cr_assert_eq(send(fd, data, len, 0), (ssize_t)len, "send: %s",
			     strerror(errno));
	h_next(f);
	cr_assert(h_is(&f->v[0], "ok"), "load: %s", h_what(&f->v[0]));
	if (h_is(&f->v[1], "ok"))
		cr_assert(f->v[1].value == 3.5 || f->v[1].value == 4.5,
			  "udp value %g was never sent", f->v[1].value);
}

Test(engine, udp_datagrams_give_values_junk_and_oversize_failures)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	char name[40], cfg[256], *big;
	unsigned port;
	struct h_feed f;
	bool seen = false;
	pid_t pid;
	int fd;

	h_name(name, sizeof(name), "d");
	port = h_closed_port(SOCK_DGRAM);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[defaults]\nretry_attempts = 1\nbreaker_failures = 1000\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor u]\nsource = udp:127.0.0.1:%u\ntimeout = 40ms\n"
		 "max_age = 1s\n",
		 port);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	h_keep_fd(fd);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons((uint16_t)port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	h_next(&f); /* the engine has bound the port by its first batch */

	while (!seen && f.batches < 40) {
		udp_feed(&f, fd, "3.5\n", 4);
		seen = h_is(&f.v[1], "ok");
	}
	cr_assert(seen, "no value from datagrams");
	udp_feed(&f, fd, "abc", 3);
	seen = h_is(&f.v[1], "EBADMSG");
	while (!seen && f.batches < 80) {
		udp_feed(&f, fd, "", 0);
		seen = h_is(&f.v[1], "EBADMSG");
	}
	cr_assert(seen, "a junk datagram did not give EBADMSG");

	big = malloc(5000);
	cr_assert_not_null(big);
	memset(big, '7', 5000);
	udp_feed(&f, fd, big, 5000);
	free(big);
	seen = h_is(&f.v[1], "EMSGSIZE");
	while (!seen && f.batches < 120) {
		udp_feed(&f, fd, "", 0);
		seen = h_is(&f.v[1], "EMSGSIZE");
	}
	cr_assert(seen, "a 5000-byte datagram did not give EMSGSIZE");

	seen = false;
	while (!seen && f.batches < 160) {
		udp_feed(&f, fd, "4.5", 3);
		seen = h_is(&f.v[1], "ok") && f.v[1].value == 4.5;
	}
	cr_assert(seen, "no value after the oversized datagram");
	h_done();
}

/*
 * The peer answers every odd request 100 ms late and every even one at
 * once, numbering requests over all connections.  With a 40 ms timeout
 * the first attempt of each call times out and the retry is answered: a
 * value is always even.  An odd value would be a late reply taken for
 * the answer to a later request.
 */
Test(engine, late_reply_is_never_taken_for_a_later_request)
{
	char name[40], cfg[256];
	struct peer peers[1];
	unsigned port, ok = 0, retried = 0;
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "y");
	peers[0] = (struct peer){ .kind = PEER_ODDSLOW };
	peers[0].fd = h_listen(0, 16, &port);
	h_peers(peers, 1);
	h_config(cfg, sizeof(cfg), name, "100ms",
		 "[sensor r]\nsource = tcp:127.0.0.1:%u\nrequest = get\\n\n"
		 "timeout = 40ms\nretry_attempts = 2\nretry_base = 1ms\n"
		 "retry_max = 1ms\nretry_jitter = none\n"
		 "breaker_failures = 1000\n",
		 port);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	while (f.batches < 15) {
		const struct ringside_reading *v = &f.v[0];

		h_next(&f);
		if (!h_is(v, "ok"))
			continue;
		cr_assert(fmod(v->value, 2) == 0,
			  "batch %llu: %g, a late reply to an odd request",
			  (unsigned long long)f.b.seq, v->value);
		ok++;
		retried += v->attempts == 2;
	}
	cr_assert_geq(ok, 7, "only %u values in 15 batches", ok);
	cr_assert_geq(retried, 1, "no value came from a retry");
	h_done();
}

/*
 * A push peer that sends "99" and closes, then ".5\n" and closes: the
 * half line of a closed connection must never be glued to the next one's.
 */
Test(engine, half_line_of_a_closed_connection_is_dropped)
{
	char name[40], cfg[256];
	struct peer peers[1];
	unsigned port, failed = 0;
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "m");
	peers[0] = (struct peer){ .kind = PEER_SPLIT };
	peers[0].fd = h_listen(0, 16, &port);
	h_peers(peers, 1);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor p]\nsource = tcp:127.0.0.1:%u\ntimeout = 20ms\n"
		 "retry_attempts = 1\nbreaker_failures = 1000\n",
		 port);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 2);
	while (f.batches < 20) {
		h_next(&f);
		cr_assert(h_is(&f.v[0], "ok"), "load: %s", h_what(&f.v[0]));
		if (h_is(&f.v[1], "ok"))
			h_expect_value(&f, 1, 0.5);
		failed += f.v[1].status == RINGSIDE_FAILED;
	}
	cr_assert_geq(failed, 1, "the closing peer never made a call fail");
	h_done();
}

Test(engine, stopped_engine_skips_missed_ticks_and_stays_gapless)
{
	char name[40], cfg[256];
	struct ringside_engine_stats es;
	struct ringside_sensor_stats st[1];
	uint64_t t_stop, t_cont;
	struct h_feed f;
	unsigned inside = 0;
	pid_t pid;

	h_name(name, sizeof(name), "z");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor load]\nsource = file:/proc/loadavg\n");
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	while (f.batches < 3)
		h_next(&f);
	t_stop = h_now_ns();
	cr_assert_eq(kill(pid, SIGSTOP), 0);
	h_sleep_ms(500);
	t_cont = h_now_ns();
	cr_assert_eq(kill(pid, SIGCONT), 0);
	while (f.batches < 13) {
		h_next(&f); /* gapless, ticks increasing */
		/* No tick of the stopped stretch is published. */
		if (f.b.tick_mono_ns > t_stop + 50000000ULL &&
		    f.b.tick_mono_ns + 50000000ULL < t_cont)
			inside++;
	}
	cr_assert_eq(inside, 0, "%u ticks of the stopped stretch published",
		     inside);
	h_next(&f); /* the counters follow their batch */
	h_stats(&f, &es, st);
	cr_assert_geq(es.counter[RINGSIDE_EC_MISSED_TICKS], 5,
		      "%llu missed ticks counted for a 500 ms stop at 50 ms",
		      (unsigned long long)es.counter[RINGSIDE_EC_MISSED_TICKS]);
	cr_assert_geq(es.counter[RINGSIDE_EC_BATCHES], f.seq - 1);
	h_done();
}

/* ---- configuration reloads --------------------------------------------- */

Test(engine, sighup_reloads_a_changed_configuration)
{
	char name[40], cfg[256], path[256];
	struct ringside_engine_stats es;
	struct ringside_sensor_stats st[1];
	struct h_feed f;
	bool seen = false;
	pid_t pid;

	h_name(name, sizeof(name), "H");
	h_path(path, sizeof(path), "value");
	h_put_text(path, "1.5\n");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:%s\n", path);
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	h_next(&f);
	h_expect_value(&f, 0, 1.5);

	/* Same sensors, another scale: the segment stays, values change. */
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:%s\nscale = 2\n", path);
	cr_assert_eq(kill(pid, SIGHUP), 0);
	while (!seen && f.batches < 60) {
		h_next(&f);
		seen = h_is(&f.v[0], "ok") && f.v[0].value == 3;
		if (!seen)
			h_expect_value(&f, 0, 1.5);
	}
	cr_assert(seen, "SIGHUP did not apply the new scale");
	h_next(&f);
	h_stats(&f, &es, st);
	cr_assert_geq(es.counter[RINGSIDE_EC_RELOADS], 1);
	h_done();
}

Test(engine, sighup_with_a_bad_config_keeps_the_old_one)
{
	char name[40], cfg[256], log[8192], want[300];
	struct h_feed f;
	pid_t pid;

	h_name(name, sizeof(name), "B");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n");
	pid = h_engine(cfg, "20"); /* logs to engine-0.log */
	h_attach(&f, name, pid, 1);
	h_next(&f);

	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\n"			 /* line 5 */
		 "source = file:/proc/loadavg\n" /* line 6 */
		 "bogus = 1\n");		 /* line 7 */
	cr_assert_eq(kill(pid, SIGHUP), 0);
	while (f.batches < 15) {
		h_next(&f);
		cr_assert(h_is(&f.v[0], "ok"), "%s", h_what(&f.v[0]));
	}
	cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "the engine exited");
	h_slurp("engine-0.log", log, sizeof(log));
	snprintf(want, sizeof(want), "%s:7:", cfg);
	cr_assert_not_null(strstr(log, want),
			   "the bad line was not reported as '%s':\n%s", want,
			   log);
	h_done();
}

Test(engine, sighup_changing_the_sensors_publishes_a_new_segment)
{
	char name[40], cfg[256];
	struct ringside_params p;
	struct h_feed f;
	uint64_t epoch;
	int ret = 0;
	pid_t pid;

	h_name(name, sizeof(name), "N");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n");
	pid = h_engine(cfg, "20");
	h_attach(&f, name, pid, 1);
	h_next(&f);
	epoch = f.r.epoch_us;

	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor a]\nsource = file:/proc/loadavg\n\n"
		 "[sensor b]\nsource = file:/proc/uptime\n");
	cr_assert_eq(kill(pid, SIGHUP), 0);
	while (f.batches < 60 && (ret = h_try_next(&f, H_BATCH_MS)) == 1)
		;
	cr_assert_eq(ret, RINGSIDE_REPLACED,
		     "no new segment after adding a sensor (event %d)", ret);

	cr_assert_eq(ringside_reader_reattach(&f.r, 0), 0);
	cr_assert_gt(f.r.epoch_us, epoch, "the new epoch is not greater");
	cr_assert_eq(ringside_reader_params(&f.r, &p), 0);
	cr_assert_eq(p.nsensors, 2);
	f.n = 2;
	f.seq = 0;
	f.tick_ns = 0;
	h_next(&f);
	cr_assert_eq(f.b.seq, 1);
	cr_assert(h_is(&f.v[0], "ok") && h_is(&f.v[1], "ok"), "%s %s",
		  h_what(&f.v[0]), h_what(&f.v[1]));
	h_done();
}

/* ---- the program's contract -------------------------------------------- */

/* Run ringsided with @args; its exit code, and stdout into @out. */
static int run_engine(char *const args[], char *out, size_t len)
{
	char bin[256];
	char *argv[8] = { bin };
	int fd, status = 0;
	unsigned i;
	pid_t pid;

	h_bin(bin, sizeof(bin), "ringsided");
	for (i = 0; args[i] != NULL && i < 6; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	pid = h_spawn(argv, &fd, "usage.log");
	h_read_all(fd, out, len, 5000);
	cr_assert_eq(h_wait(pid, 5000, &status), 0);
	cr_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

Test(engine, usage_errors_exit_2_help_and_version_exit_0)
{
	char out[4096], missing[256];
	char *none[] = { NULL };
	char *bogus[] = { "--bogus", NULL };
	char *nofile[] = { "-c", missing, NULL };
	char *help[] = { "--help", NULL };
	char *version[] = { "--version", NULL };

	h_path(missing, sizeof(missing), "missing.ini");
	cr_assert_eq(run_engine(none, out, sizeof(out)), 2);
	cr_assert_eq(run_engine(bogus, out, sizeof(out)), 2);
	cr_assert_eq(run_engine(nofile, out, sizeof(out)), 2);
	cr_assert_eq(run_engine(help, out, sizeof(out)), 0);
	cr_assert_not_null(strstr(out, "usage"), "--help printed: %s", out);
	cr_assert_eq(run_engine(version, out, sizeof(out)), 0);
	cr_assert_not_null(strstr(out, "ringsided"), "--version: %s", out);
}

Test(engine, segment_mode_is_shm_mode_whatever_the_umask)
{
	char name[40], cfg[256], seg[96];
	struct h_feed f;
	struct stat st;
	pid_t pid;

	h_name(name, sizeof(name), "M");
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "shm_mode = 0660\n\n"
		 "[sensor a]\nsource = file:/proc/loadavg\n");
	umask(0077); /* inherited by the engine */
	pid = h_engine(cfg, "20");
	umask(0022);
	h_attach(&f, name, pid, 1);
	snprintf(seg, sizeof(seg), "/dev/shm/ringside.%s", name);
	cr_assert_eq(stat(seg, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0660, "mode %o",
		     (unsigned)(st.st_mode & 07777));
	h_done();
}

/* ---- resources --------------------------------------------------------- */

Test(engine, open_descriptors_do_not_grow_over_1000_ticks, .timeout = 40)
{
	char name[40], cfg[256], temp[256], fifo[256], missing[256];
	struct peer peers[1];
	unsigned port, early = UINT32_MAX, late = UINT32_MAX;
	struct h_feed f;
	uint64_t end;
	pid_t pid;

	h_name(name, sizeof(name), "n");
	h_path(temp, sizeof(temp), "temp");
	h_path(missing, sizeof(missing), "missing");
	h_put_text(temp, "21.5\n");
	h_mkfifo(fifo, sizeof(fifo), "quiet.fifo");
	peers[0] = (struct peer){ .kind = PEER_HANG };
	peers[0].fd = h_listen(0, 64, &port);
	h_peers(peers, 1);
	h_config(cfg, sizeof(cfg), name, "5ms",
		 "[defaults]\nretry_attempts = 1\ntimeout = 3ms\n"
		 "breaker_failures = 1000\nbreaker_window = 1s\n\n"
		 "[sensor temp]\nsource = file:%s\n\n"
		 "[sensor load]\nsource = file:/proc/loadavg\n\n"
		 "[sensor missing]\nsource = file:%s\n\n"
		 "[sensor refused]\nsource = tcp:127.0.0.1:%u\n"
		 "request = get\\n\n\n"
		 "[sensor hang]\nsource = tcp:127.0.0.1:%u\n"
		 "request = get\\n\n\n"
		 "[sensor fifo]\nsource = stream:%s\n\n"
		 "[sensor udp]\nsource = udp:127.0.0.1:%u\n",
		 temp, missing, h_closed_port(SOCK_STREAM), port, fifo,
		 h_closed_port(SOCK_DGRAM));
	pid = h_engine(cfg, "30");
	h_attach(&f, name, pid, 7);

	/*
	 * Sample the count often around tick 100 and tick 1000 and compare
	 * the lows: descriptors in flight come and go, a leak only grows.
	 */
	end = h_now_ms() + 25000;
	while (f.batches < 1000) {
		int ret = h_try_next(&f, 50);

		cr_assert(ret == 0 || ret == 1, "the engine stopped (%d)", ret);
		cr_assert_lt(h_now_ms(), end, "only %llu batches in 25 s",
			     (unsigned long long)f.batches);
		if (f.batches >= 100 && f.batches < 150) {
			unsigned n = h_fd_count(pid);

			early = n < early ? n : early;
		} else if (f.batches >= 950) {
			unsigned n = h_fd_count(pid);

			late = n < late ? n : late;
		}
	}
	cr_log_info("engine descriptors: %u near tick 100, %u near 1000", early,
		    late);
	cr_assert_leq(late, early, "descriptors grew from %u to %u", early,
		      late);
	h_done();
}
