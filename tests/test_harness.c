/* SPDX-License-Identifier: MIT */
/*
 * test_harness.c - the integration-test harness declared in harness.h:
 * children, descriptors and FUSE mounts kept in a registry that the
 * suite's .fini takes down, engine and ringside-sim spawning, misbehaving
 * peers, and a batch reader that checks the contract of every batch it
 * takes.  It holds no test: it is linked into the runner with the suites
 * that use it (tests/test_engine.c, tests/test_lecture.c, ...).
 *
 * The registry is per process.  Criterion runs every test in a process
 * of its own, with the suite's .init before and .fini after, so each test
 * starts from an empty registry, and whatever it leaves is taken down
 * even when an assertion ended it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "harness.h"

/* ---- the registry ------------------------------------------------------ */

static struct {
	pid_t child[H_CHILDREN_MAX]; /* 0: free or reaped */
	int fd[H_FDS_MAX];	     /* descriptors to close at the end */
	unsigned nfd;
	char mnt[H_MOUNTS_MAX][128];	     /* FUSE mounts, "" when free */
	pid_t mnt_pid[H_MOUNTS_MAX];	     /* the tool_fuse serving each */
	void (*fini_fn[H_FINI_MAX])(void *); /* h_at_fini(), in order */
	void *fini_arg[H_FINI_MAX];
	unsigned nfini;
	unsigned nlog;
	char dir[64];	 /* temporary directory, on tmpfs */
	char prefix[24]; /* te<pid>: every segment name starts so */
	bool verbose;	 /* $RINGSIDE_TEST_VERBOSE: logs and batches */
	FILE *trace;	 /* verbose: every batch taken, one line each */
} h;

uint64_t h_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t h_now_ms(void)
{
	return h_now_ns() / 1000000;
}

void h_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void h_keep_fd(int fd)
{
	cr_assert_lt(h.nfd, H_FDS_MAX, "harness: too many descriptors");
	h.fd[h.nfd++] = fd;
}

void h_close(int fd)
{
	unsigned i;

	for (i = 0; i < h.nfd; i++) {
		if (h.fd[i] == fd) {
			h.fd[i] = h.fd[--h.nfd];
			break;
		}
	}
	close(fd);
}

void h_at_fini(void (*fn)(void *arg), void *arg)
{
	cr_assert_lt(h.nfini, H_FINI_MAX, "harness: too many fini hooks");
	h.fini_fn[h.nfini] = fn;
	h.fini_arg[h.nfini++] = arg;
}

void h_keep_child(pid_t pid)
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

void h_forget_child(pid_t pid)
{
	unsigned i;

	for (i = 0; i < H_CHILDREN_MAX; i++)
		if (h.child[i] == pid)
			h.child[i] = 0;
	for (i = 0; i < H_MOUNTS_MAX; i++)
		if (h.mnt_pid[i] == pid)
			h.mnt_pid[i] = 0;
}

void h_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	h_reap(pid);
}

/* @name inside the temporary directory. */
void h_path(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", h.dir, name);

	cr_assert(n > 0 && (size_t)n < len, "path too long: %s", name);
}

/* @prog in the directory $@var, else @fallback, made absolute. */
static void h_program(char *buf, size_t len, const char *var,
		      const char *fallback, const char *prog)
{
	const char *dir = getenv(var);
	char abs[PATH_MAX];
	int n;

	if (dir == NULL || *dir == '\0')
		dir = fallback;
	if (realpath(dir, abs) != NULL)
		dir = abs;
	n = snprintf(buf, len, "%s/%s", dir, prog);
	cr_assert(n > 0 && (size_t)n < len, "path too long: %s/%s", dir, prog);
}

/* The program @prog, from $RINGSIDE_BIN or build/bin. */
void h_bin(char *buf, size_t len, const char *prog)
{
	h_program(buf, len, "RINGSIDE_BIN", "build/bin", prog);
}

/* The test tool @prog, from $RINGSIDE_TESTS or build/tests. */
void h_tool(char *buf, size_t len, const char *prog)
{
	h_program(buf, len, "RINGSIDE_TESTS", "build/tests", prog);
}

/* A segment name unique to this test process: te<pid><tag>. */
void h_name(char *buf, size_t len, const char *tag)
{
	int n = snprintf(buf, len, "%s%s", h.prefix, tag);

	cr_assert(n > 0 && (size_t)n < len && n <= RINGSIDE_NAME_MAX,
		  "segment name too long: %s%s", h.prefix, tag);
}

void h_segment_path(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "/dev/shm/ringside.%s", name);

	cr_assert(n > 0 && (size_t)n < len, "path too long: %s", name);
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

/*
 * Remove the tree under directory descriptor @dfd (on device @dev), which
 * it closes.  It descends into subdirectories of the same file system
 * only (a server's store, such as a NATS node's): a mount point still in
 * use is on another device, or cannot be looked at once its server is
 * gone, and stays, busy, with what it serves untouched; an unmounted one
 * is an empty directory, and goes.
 */
static void h_remove_tree(int dfd, dev_t dev, unsigned depth)
{
	struct dirent *de;
	DIR *d = fdopendir(dfd);

	if (d == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		int sub;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0 || errno != EISDIR)
			continue;
		if (depth < 16 &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
			    0 &&
		    S_ISDIR(st.st_mode) && st.st_dev == dev) {
			sub = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
			if (sub >= 0)
				h_remove_tree(sub, dev, depth + 1);
		}
		unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

/* Remove directory @path and what it holds, as h_remove_tree() says. */
static void h_remove_dir(const char *path)
{
	struct stat st;
	int dfd;

	if (path[0] == '\0')
		return;
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0) {
		if (fstat(dfd, &st) == 0)
			h_remove_tree(dfd, st.st_dev, 0);
		else
			close(dfd);
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
		else if (unlink(path) < 0 && errno == EISDIR)
			rmdir(path); /* a test's directory in a segment's place */
	}
	closedir(d);
}

/*
 * Every /dev/shm entry of ours: ringside.te<pid>* and its temporaries,
 * and the empty directory a test may have put in a segment's place.
 */
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
		if (strncmp(n, plain, strlen(plain)) == 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) < 0 && errno == EISDIR)
			unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

void h_init(void)
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

/*
 * Run `fusermount3 -u -z @mnt`, quietly and without asserting (from
 * .fini): a lazy unmount detaches even a mount whose server is gone.
 */
static void h_unmount(const char *mnt)
{
	char *argv[] = { "fusermount3", "-u", "-z", (char *)mnt, NULL };
	uint64_t end = h_now_ms() + 5000;
	pid_t pid = fork();

	if (pid < 0)
		return;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, NULL, WNOHANG) == 0) {
		if (h_now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			break;
		}
		h_sleep_ms(5);
	}
}

void h_fini(void)
{
	unsigned i;

	/*
	 * A FUSE server first, asked nicely: it fails the reads blocked in
	 * it and unmounts.  A child blocked in such a read cannot die before
	 * the read ends, so every child is then killed before any is
	 * reaped.
	 */
	for (i = 0; i < H_MOUNTS_MAX; i++)
		if (h.mnt_pid[i] > 0)
			kill(h.mnt_pid[i], SIGTERM);
	for (i = 0; i < H_MOUNTS_MAX; i++)
		if (h.mnt_pid[i] > 0 &&
		    h_wait(h.mnt_pid[i], 2000, NULL) == -ETIMEDOUT)
			kill(h.mnt_pid[i], SIGKILL);
	for (i = 0; i < H_CHILDREN_MAX; i++)
		if (h.child[i] > 0)
			kill(h.child[i], SIGKILL);
	for (i = 0; i < H_CHILDREN_MAX; i++) {
		if (h.child[i] > 0) {
			waitpid(h.child[i], NULL, 0);
			h.child[i] = 0;
		}
	}
	while (h.nfini > 0) {
		h.nfini--;
		h.fini_fn[h.nfini](h.fini_arg[h.nfini]);
	}
	for (i = 0; i < H_MOUNTS_MAX; i++) {
		if (h.mnt[i][0] != '\0')
			h_unmount(h.mnt[i]);
		h.mnt[i][0] = '\0';
		h.mnt_pid[i] = 0;
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

/*
 * In the child: a stream that goes to the pipe @pfd, else to the file
 * @path when not NULL (opened for writing with @flags), else to @null.
 */
static int h_child_stream(const int *pfd, const char *path, int flags, int null)
{
	if (pfd[1] >= 0)
		return pfd[1];
	if (path != NULL)
		return open(path, flags, 0644);
	return null;
}

/*
 * Start @argv with its streams as @io says.  The child dies with the test
 * process (PR_SET_PDEATHSIG), starts as from a shell (no signal blocked,
 * SIGPIPE default) and takes no descriptor of the test along: a daemon it
 * forks (a tmux server) must not hold the runner's pipes.  A child that
 * cannot open its streams exits 127, as one that cannot exec does.
 */
pid_t h_spawn_io(char *const argv[], const struct h_stdio *io)
{
	const int wflags = O_WRONLY | O_CREAT | O_TRUNC | O_APPEND;
	char in[256], out[256], err[256];
	int opipe[2] = { -1, -1 }, epipe[2] = { -1, -1 };
	pid_t parent = getpid(), pid;

	if (io->in != NULL)
		h_path(in, sizeof(in), io->in);
	if (io->out_file != NULL)
		h_path(out, sizeof(out), io->out_file);
	if (io->err_file != NULL)
		h_path(err, sizeof(err), io->err_file);
	if (io->out != NULL)
		cr_assert_eq(pipe2(opipe, O_CLOEXEC), 0, "pipe: %s",
			     strerror(errno));
	if (io->err != NULL)
		cr_assert_eq(pipe2(epipe, O_CLOEXEC), 0, "pipe: %s",
			     strerror(errno));
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		sigset_t none;
		int null = open("/dev/null", O_RDWR);
		int ifd = io->in != NULL ? open(in, O_RDONLY) : null;
		int ofd = h_child_stream(
			opipe, io->out_file != NULL ? out : NULL, wflags, null);
		int efd = h_child_stream(
			epipe, io->err_file != NULL ? err : NULL, wflags, null);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || null < 0 || ifd < 0 || ofd < 0 ||
		    efd < 0)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(ifd, 0);
		dup2(ofd, 1);
		dup2(efd, 2);
		close_range(3, ~0U, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	h_keep_child(pid);
	if (io->out != NULL) {
		close(opipe[1]);
		h_keep_fd(opipe[0]);
		*io->out = opipe[0];
	}
	if (io->err != NULL) {
		close(epipe[1]);
		h_keep_fd(epipe[0]);
		*io->err = epipe[0];
	}
	return pid;
}

pid_t h_spawn(char *const argv[], int *out, const char *log)
{
	return h_spawn_io(argv,
			  &(struct h_stdio){ .out = out, .err_file = log });
}

/*
 * Wait up to @timeout_ms for @pid to end.  Returns 0 with its wait status
 * in *@status, or -ETIMEDOUT.
 */
int h_wait(pid_t pid, int timeout_ms, int *status)
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

/* Wait for child @pid to end, however long it takes; its wait status. */
int h_reap(pid_t pid)
{
	int status = 0;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	h_forget_child(pid);
	return status;
}

/* Wait for @pid and assert that it exited with @code. */
void h_expect_exit(pid_t pid, int timeout_ms, int code)
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
size_t h_read_all(int fd, char *buf, size_t len, int timeout_ms)
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
void h_slurp(const char *name, char *buf, size_t len)
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
void h_put(const char *path, const void *data, size_t len)
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

void h_put_text(const char *path, const char *text)
{
	h_put(path, text, strlen(text));
}

/*
 * Write the configuration of engine @name (period @period) followed by
 * the printf-formatted @fmt into the file @name.ini of the temporary
 * directory; its path goes into @path.
 */
void h_config(char *path, size_t len, const char *name, const char *period,
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

/* Start ringsided on @cfg for @duration seconds, stderr into @log. */
static pid_t h_engine_log(const char *cfg, const char *duration, char *log,
			  size_t len)
{
	char bin[256];
	char *argv[] = { bin, "-c", (char *)cfg, "--duration", (char *)duration,
			 NULL };

	h_bin(bin, sizeof(bin), "ringsided");
	snprintf(log, len, "engine-%u.log", h.nlog++);
	return h_spawn(argv, NULL, log);
}

/* Start ringsided on @cfg (stopping by itself after @duration seconds). */
pid_t h_engine(const char *cfg, const char *duration)
{
	char log[32];

	return h_engine_log(cfg, duration, log, sizeof(log));
}

/*
 * Start ringsided and wait for its segment @name, a file other than inode
 * @old_ino.  The engine writes a segment whole and renames it into place,
 * so one that stands can be attached to at once.
 */
pid_t h_engine_ready(const char *cfg, const char *duration, const char *name,
		     ino_t old_ino, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	char seg[96], log[32], text[4096];
	struct stat st;
	pid_t pid;

	pid = h_engine_log(cfg, duration, log, sizeof(log));
	h_segment_path(seg, sizeof(seg), name);
	while (stat(seg, &st) < 0 || st.st_ino == old_ino) {
		if (h_wait(pid, 0, NULL) == 0) {
			h_slurp(log, text, sizeof(text));
			cr_assert_fail("ringsided exited before segment %s "
				       "appeared: %s",
				       name, text);
		}
		if (h_now_ms() >= end) {
			h_slurp(log, text, sizeof(text));
			cr_assert_fail("no segment %s after %d ms: %s", name,
				       timeout_ms, text);
		}
		h_sleep_ms(20);
	}
	return pid;
}

/*
 * Start ringside-sim with @nfeeds feeds for @duration seconds (with --seed
 * @seed unless NULL) and wait for its ready lines; the address of feed i
 * goes into addr[i] (feeds are announced in order).
 */
pid_t h_sim_with(const char *duration, const char *seed,
		 const char *const *feeds, unsigned nfeeds, char addr[][128])
{
	char bin[256], buf[4096], log[32];
	char *argv[H_SENSORS_MAX + 6];
	unsigned i, n = 0, ready = 0;
	size_t len = 0;
	uint64_t end;
	int out;
	pid_t pid;

	cr_assert_leq(nfeeds, H_SENSORS_MAX, "harness: too many feeds");
	h_bin(bin, sizeof(bin), "ringside-sim");
	argv[n++] = bin;
	argv[n++] = "--duration";
	argv[n++] = (char *)duration;
	if (seed != NULL) {
		argv[n++] = "--seed";
		argv[n++] = (char *)seed;
	}
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

pid_t h_sim(const char *const *feeds, unsigned nfeeds, char addr[][128])
{
	return h_sim_with("30", NULL, feeds, nfeeds, addr);
}

/*
 * Skip the test, saying why.  Criterion ends a skipped test's process
 * without running the suite's .fini, so the harness takes down what the
 * test holds first.
 */
void h_skip(const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	h_fini();
	cr_skip_test("%s", why);
}

/*
 * Mount tests/tool_fuse on a new directory of the temporary directory.  The
 * mount point is registered before the server starts, so .fini unmounts it
 * whatever happens next.
 */
pid_t h_fuse(char *mnt, size_t len, unsigned slow_ms)
{
	char tool[256], ms[16], name[16], log[16], buf[256], why[512];
	char *argv[] = { tool, "--slow-ms", ms, mnt, NULL };
	size_t got = 0;
	unsigned slot;
	uint64_t end;
	int out, status;
	pid_t pid;

	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		snprintf(why, sizeof(why), "no FUSE: /dev/fuse: %s",
			 strerror(errno));
		h_skip("%s", why);
	}
	h_tool(tool, sizeof(tool), "tool_fuse");
	cr_assert_eq(access(tool, X_OK), 0, "%s: %s (is it built?)", tool,
		     strerror(errno));
	for (slot = 0; slot < H_MOUNTS_MAX && h.mnt[slot][0] != '\0'; slot++)
		;
	cr_assert_lt(slot, H_MOUNTS_MAX, "harness: too many mounts");
	snprintf(name, sizeof(name), "fuse-%u", slot);
	snprintf(log, sizeof(log), "fuse-%u.log", slot);
	snprintf(ms, sizeof(ms), "%u", slow_ms);
	h_path(mnt, len, name);
	cr_assert_lt(strlen(mnt), sizeof(h.mnt[slot]), "mount path too long");
	cr_assert_eq(mkdir(mnt, 0755), 0, "mkdir %s: %s", mnt, strerror(errno));
	memcpy(h.mnt[slot], mnt, strlen(mnt) + 1);
	pid = h_spawn(argv, &out, log);
	h.mnt_pid[slot] = pid;

	buf[0] = '\0';
	end = h_now_ms() + 5000;
	while (strchr(buf, '\n') == NULL && got < sizeof(buf) - 1) {
		struct pollfd p = { .fd = out, .events = POLLIN };
		ssize_t r;

		cr_assert_lt(h_now_ms(), end, "tool_fuse: not ready in 5 s");
		if (poll(&p, 1, 100) <= 0)
			continue;
		r = read(out, buf + got, sizeof(buf) - 1 - got);
		if (r <= 0)
			break; /* it exited, saying why on stderr */
		got += (size_t)r;
		buf[got] = '\0';
	}
	if (strncmp(buf, "ready ", 6) != 0) {
		/* It could not mount: no FUSE for us here, as it says why. */
		h_wait(pid, 5000, &status);
		memcpy(why, "tool_fuse cannot mount here: ", 29);
		h_slurp(log, why + 29, sizeof(why) - 29);
		h_skip("%s", why);
	}
	return pid;
}

/* The port of a sim ready address "HOST:PORT". */
unsigned h_addr_port(const char *addr)
{
	const char *colon = strrchr(addr, ':');

	cr_assert_not_null(colon, "no port in %s", addr);
	return (unsigned)atoi(colon + 1);
}

/* A socket of @type with option @opt bound to 127.0.0.1:@port (0: any). */
static int h_bind_opt(int type, int opt, unsigned port, unsigned *bound)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int one = 1;
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, opt, &one, sizeof(one)), 0,
		     "setsockopt: %s", strerror(errno));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
		     "bind 127.0.0.1:%u: %s", port, strerror(errno));
	getsockname(fd, (struct sockaddr *)&sin, &len);
	if (bound != NULL)
		*bound = ntohs(sin.sin_port);
	return fd;
}

/* A socket of @type bound to 127.0.0.1:@port (0: any); its port out. */
int h_bind(int type, unsigned port, unsigned *bound)
{
	return h_bind_opt(type, SO_REUSEADDR, port, bound);
}

/* A loopback port on which nothing listens (bound, then closed). */
unsigned h_closed_port(int type)
{
	unsigned port;
	int fd = h_bind(type, 0, &port);

	close(fd);
	return port;
}

/* A TCP listener on 127.0.0.1 (@port 0: any), kept by the harness. */
int h_listen(unsigned port, int backlog, unsigned *bound)
{
	int fd = h_bind(SOCK_STREAM, port, bound);

	cr_assert_eq(listen(fd, backlog), 0, "listen: %s", strerror(errno));
	h_keep_fd(fd);
	return fd;
}

/* A TCP socket with SO_REUSEPORT bound to 127.0.0.1:@port (0: any). */
static int h_bind_shared(unsigned port, unsigned *bound)
{
	int fd = h_bind_opt(SOCK_STREAM, SO_REUSEPORT, port, bound);

	h_keep_fd(fd);
	return fd;
}

/*
 * The holder is bound with SO_REUSEPORT and never listens: a connection to
 * the port finds no listener and is refused, while any other bind to the
 * port (without SO_REUSEPORT, as every program here binds) fails.  A port
 * that was merely closed could be taken by another test at any moment,
 * and a sensor meant to be refused would then reach a stranger.
 */
unsigned h_reserve_port(void)
{
	unsigned port;

	h_bind_shared(0, &port);
	return port;
}

int h_listen_reserved(unsigned port, int backlog)
{
	int fd = h_bind_shared(port, NULL);

	cr_assert_eq(listen(fd, backlog), 0, "listen: %s", strerror(errno));
	return fd;
}

void h_mkfifo(char *path, size_t len, const char *name)
{
	h_path(path, len, name);
	cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo %s: %s", path,
		     strerror(errno));
}

/* ---- peers: misbehaving servers, in a forked child --------------------- */

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
pid_t h_peers(const struct peer *peers, unsigned n)
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
	return pid;
}

/* ---- reading batches --------------------------------------------------- */

static struct h_feed *h_current; /* the test's reader, for h_done() */

/* Attach to segment @name of engine @pid, which has @n sensors. */
void h_attach(struct h_feed *f, const char *name, pid_t pid, uint32_t n)
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
const char *h_what(const struct ringside_reading *v)
{
	if (v->status == RINGSIDE_FAILED)
		return ringside_errno_name(v->error);
	return ringside_status_name(v->status);
}

bool h_is(const struct ringside_reading *v, const char *what)
{
	return strcmp(h_what(v), what) == 0;
}

bool h_late(const struct ringside_reading *v)
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
int h_try_next(struct h_feed *f, int timeout_ms)
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
void h_next(struct h_feed *f)
{
	int ret = h_try_next(f, H_BATCH_MS);

	cr_assert_eq(ret, 1, "no batch after seq %llu (%s)",
		     (unsigned long long)f->seq,
		     ret == 0		      ? "timeout"
		     : ret == RINGSIDE_CLOSED ? "closed"
		     : ret == RINGSIDE_DEAD   ? "engine died"
					      : "replaced");
}

void h_expect_value(const struct h_feed *f, uint32_t i, double value)
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
void h_stats(struct h_feed *f, struct ringside_engine_stats *e,
	     struct ringside_sensor_stats *s)
{
	int i, ret = -EAGAIN;

	for (i = 0; i < 100 && ret == -EAGAIN; i++)
		ret = ringside_reader_stats(&f->r, e, s, f->n);
	cr_assert_eq(ret, 0, "stats: %s", ringside_strerror(ret));
}

void h_expect_timely(const struct h_feed *f,
		     const struct ringside_engine_stats *e)
{
	uint64_t late = e->counter[RINGSIDE_EC_LATE];

	if (late > 0)
		cr_log_info("%llu of %llu batches published late",
			    (unsigned long long)late,
			    (unsigned long long)f->batches);
	cr_assert_leq(late, H_OFF_TIME(f->batches),
		      "%llu of %llu batches published late",
		      (unsigned long long)late, (unsigned long long)f->batches);
}

/*
 * Detach the test's reader; called at the end of each test that attaches.
 * A test ended by an assertion leaves its mapping to the exit of its
 * process (the reader lives in that test's stack frame, gone by .fini).
 */
void h_done(void)
{
	if (h_current != NULL && h_current->attached)
		ringside_reader_detach(&h_current->r);
	h_current = NULL;
}

unsigned h_fd_count(pid_t pid)
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
