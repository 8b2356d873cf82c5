/* SPDX-License-Identifier: MIT */
/*
 * tool_fuse.c - a tiny FUSE file system that stands in for a slow or stuck
 * sysfs driver, for the tests and benchmarks that need a file whose read
 * blocks inside the kernel.
 *
 *   tool_fuse [--slow-ms N] MOUNTPOINT
 *
 * It mounts MOUNTPOINT, prints "ready MOUNTPOINT" on stdout and serves,
 * in the foreground, with libfuse's multithreaded loop (a read that hangs
 * holds one FUSE thread; the others go on serving):
 *
 *   fast     "42\n" at once
 *   slow     "43\n" after SLOW_MS milliseconds (default 3000)
 *   hang     "44\n" once `release` is written; until then the read blocks
 *   slow_ms  read or write SLOW_MS as a decimal number
 *   release  any write ends every hang read in progress (later reads of
 *            `hang` block again)
 *   stats    "fast N slow N hang N hung N": reads answered or begun per
 *            file, and hang reads blocked now
 *
 * As with a sysfs attribute, only the read at offset 0 produces the text
 * (and is slow or hangs); a read past it returns end-of-file at once.
 * Files are opened direct_io and nothing is cached, so every read reaches
 * this process.  A reader blocked here is blocked in the kernel like one on
 * a stuck bus: FUSE interrupts are not honoured, so even a fatal signal
 * leaves the reading thread waiting until the read is answered.
 *
 * SIGTERM, SIGINT and SIGHUP end the loop: blocked reads then fail with
 * EIO (within WAIT_SLICE_MS) so that the loop's threads can be joined, and
 * the file system is unmounted.  It is mounted with auto_unmount, so even
 * a SIGKILL leaves no dead mount behind; `fusermount3 -u -z MOUNTPOINT`
 * is the remedy where that option is unavailable.  Exit status 0 after a
 * clean unmount, 1 on a runtime failure, 2 on a usage error.
 */
#define FUSE_USE_VERSION 35

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#ifndef RINGSIDE_VERSION
#define RINGSIDE_VERSION "unknown"
#endif

#define WAIT_SLICE_MS 50 /* how often a blocked read looks for the exit */
#define SLOW_MS_MAX 3600000
#define FILE_SIZE 4096 /* what stat says, as for a sysfs attribute */

enum tool_file {
	TF_FAST,
	TF_SLOW,
	TF_HANG,
	TF_SLOW_MS,
	TF_RELEASE,
	TF_STATS,
	TF_COUNT,
};

static const struct {
	const char *name;
	mode_t mode;
} tool_files[TF_COUNT] = {
	[TF_FAST] = { "fast", 0444 },	    [TF_SLOW] = { "slow", 0444 },
	[TF_HANG] = { "hang", 0444 },	    [TF_SLOW_MS] = { "slow_ms", 0644 },
	[TF_RELEASE] = { "release", 0200 }, [TF_STATS] = { "stats", 0444 },
};

/* Shared by every FUSE thread, under lock. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* release written, or the session is ending */
	unsigned slow_ms;
	uint64_t release_gen; /* bumped by each write to `release` */
	uint64_t reads[TF_COUNT];
	unsigned hung;
	struct fuse *fuse;
} tool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.slow_ms = 3000,
};

static uint64_t tool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static bool tool_exiting(void)
{
	return fuse_session_exited(fuse_get_session(tool.fuse)) != 0;
}

/*
 * Wait on tool.cond (lock held) until @until_ns or for one slice, whichever
 * comes first: the session's end is noticed by looking, since a signal
 * handler cannot signal a condition variable.
 */
static void tool_wait_slice(uint64_t until_ns)
{
	uint64_t now = tool_now_ns();
	uint64_t at = now + (uint64_t)WAIT_SLICE_MS * 1000000;
	struct timespec ts;

	if (until_ns != 0 && until_ns < at)
		at = until_ns;
	ts.tv_sec = (time_t)(at / 1000000000);
	ts.tv_nsec = (long)(at % 1000000000);
	pthread_cond_timedwait(&tool.cond, &tool.lock, &ts);
}

static int tool_lookup(const char *path)
{
	int i;

	if (path[0] != '/')
		return -ENOENT;
	for (i = 0; i < TF_COUNT; i++)
		if (strcmp(path + 1, tool_files[i].name) == 0)
			return i;
	return -ENOENT;
}

static void *tool_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Every read must reach us: no page cache, no attribute cache. */
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	return NULL;
}

static int tool_getattr(const char *path, struct stat *st,
			struct fuse_file_info *fi)
{
	int f;

	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	f = tool_lookup(path);
	if (f < 0)
		return f;
	st->st_mode = S_IFREG | tool_files[f].mode;
	st->st_nlink = 1;
	st->st_size = FILE_SIZE;
	return 0;
}

static int tool_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
			off_t off, struct fuse_file_info *fi,
			enum fuse_readdir_flags flags)
{
	int i;

	if (strcmp(path, "/") != 0)
		return -ENOTDIR;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	for (i = 0; i < TF_COUNT; i++)
		fill(buf, tool_files[i].name, NULL, 0, 0);
	return 0;
}

static int tool_open(const char *path, struct fuse_file_info *fi)
{
	int f = tool_lookup(path);

	if (f < 0)
		return f;
	if ((fi->flags & O_ACCMODE) != O_RDONLY && f != TF_SLOW_MS &&
	    f != TF_RELEASE)
		return -EACCES;
	if ((fi->flags & O_ACCMODE) != O_WRONLY && f == TF_RELEASE)
		return -EACCES;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
}

/* `echo N > slow_ms` truncates first. */
static int tool_truncate(const char *path, off_t size,
			 struct fuse_file_info *fi)
{
	int f = tool_lookup(path);

	if (f < 0)
		return f;
	return f == TF_SLOW_MS || f == TF_RELEASE ? 0 : -EACCES;
}

/* Sleep SLOW_MS; returns 0, or -EIO when the session ends first. */
static int tool_slow(void)
{
	uint64_t until;
	int ret = 0;

	pthread_mutex_lock(&tool.lock);
	until = tool_now_ns() + (uint64_t)tool.slow_ms * 1000000;
	while (tool_now_ns() < until) {
		if (tool_exiting()) {
			ret = -EIO;
			break;
		}
		tool_wait_slice(until);
	}
	pthread_mutex_unlock(&tool.lock);
	return ret;
}

/* Block until `release` is written (0) or the session ends (-EIO). */
static int tool_hang(void)
{
	uint64_t gen;
	int ret = 0;

	pthread_mutex_lock(&tool.lock);
	gen = tool.release_gen;
	tool.hung++;
	while (tool.release_gen == gen) {
		if (tool_exiting()) {
			ret = -EIO;
			break;
		}
		tool_wait_slice(0);
	}
	tool.hung--;
	pthread_mutex_unlock(&tool.lock);
	return ret;
}

static int tool_read(const char *path, char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	char text[128];
	int f = tool_lookup(path), n, ret = 0;

	if (f < 0)
		return f;
	if (off > 0)
		return 0; /* the whole text comes with the read at 0 */
	pthread_mutex_lock(&tool.lock);
	tool.reads[f]++;
	switch (f) {
	case TF_SLOW_MS:
		n = snprintf(text, sizeof(text), "%u\n", tool.slow_ms);
		break;
	case TF_STATS:
		n = snprintf(text, sizeof(text),
			     "fast %llu slow %llu hang %llu hung %u\n",
			     (unsigned long long)tool.reads[TF_FAST],
			     (unsigned long long)tool.reads[TF_SLOW],
			     (unsigned long long)tool.reads[TF_HANG],
			     tool.hung);
		break;
	default:
		n = snprintf(text, sizeof(text), "%d\n", 42 + f - TF_FAST);
		break;
	}
	pthread_mutex_unlock(&tool.lock);

	if (f == TF_SLOW)
		ret = tool_slow();
	else if (f == TF_HANG)
		ret = tool_hang();
	if (ret < 0)
		return ret;
	if ((size_t)n > size)
		n = (int)size;
	memcpy(buf, text, (size_t)n);
	return n;
}

static int tool_write(const char *path, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	char text[32], *end;
	unsigned long ms;
	int f = tool_lookup(path);

	if (f == TF_RELEASE) {
		pthread_mutex_lock(&tool.lock);
		tool.release_gen++;
		pthread_cond_broadcast(&tool.cond);
		pthread_mutex_unlock(&tool.lock);
		return (int)size;
	}
	if (f != TF_SLOW_MS)
		return -EACCES;
	if (size == 0 || size >= sizeof(text))
		return -EINVAL;
	memcpy(text, buf, size);
	text[size] = '\0';
	errno = 0;
	ms = strtoul(text, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	if (errno != 0 || end == text || *end != '\0' || ms > SLOW_MS_MAX)
		return -EINVAL;
	pthread_mutex_lock(&tool.lock);
	tool.slow_ms = (unsigned)ms;
	pthread_mutex_unlock(&tool.lock);
	return (int)size;
}

static const struct fuse_operations tool_ops = {
	.init = tool_init,
	.getattr = tool_getattr,
	.readdir = tool_readdir,
	.open = tool_open,
	.truncate = tool_truncate,
	.read = tool_read,
	.write = tool_write,
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: tool_fuse [--slow-ms N] MOUNTPOINT\n"
		"\n"
		"Mount a FUSE file system that stands in for a slow sysfs "
		"driver:\n"
		"fast answers at once, slow after N ms (default 3000), hang "
		"blocks\n"
		"until `release` is written.  Prints \"ready MOUNTPOINT\" "
		"once mounted;\n"
		"SIGTERM or SIGINT unmounts and exits.\n");
}

static int tool_cond_init(void)
{
	pthread_condattr_t ca;
	int ret;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	ret = pthread_cond_init(&tool.cond, &ca);
	pthread_condattr_destroy(&ca);
	return -ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "slow-ms", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *loop;
	const char *mnt;
	unsigned long ms;
	char *end;
	int c, ret, status = 1;

	while ((c = getopt_long(argc, argv, "s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			errno = 0;
			ms = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    ms > SLOW_MS_MAX) {
				fprintf(stderr,
					"tool_fuse: --slow-ms: not a number "
					"of milliseconds: %s\n",
					optarg);
				return 2;
			}
			tool.slow_ms = (unsigned)ms;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tool_fuse %s\n", RINGSIDE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	mnt = argv[optind];
	if (tool_cond_init() < 0) {
		fprintf(stderr, "tool_fuse: cannot create a condition\n");
		return 1;
	}

	if (fuse_opt_add_arg(&args, argv[0]) < 0 ||
	    fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, "fsname=ringside-tool,subtype=tool_fuse,"
				    "auto_unmount") < 0)
		goto err_args;
	tool.fuse = fuse_new(&args, &tool_ops, sizeof(tool_ops), NULL);
	if (tool.fuse == NULL) {
		fprintf(stderr, "tool_fuse: fuse_new failed\n");
		goto err_args;
	}
	if (fuse_mount(tool.fuse, mnt) < 0) {
		fprintf(stderr, "tool_fuse: cannot mount %s\n", mnt);
		goto err_new;
	}
	if (fuse_set_signal_handlers(fuse_get_session(tool.fuse)) < 0) {
		fprintf(stderr, "tool_fuse: cannot install signal handlers\n");
		goto err_mount;
	}
	loop = fuse_loop_cfg_create();
	if (loop == NULL) {
		fprintf(stderr, "tool_fuse: cannot configure the loop\n");
		goto err_signals;
	}
	/* Enough threads that hung reads never starve the others. */
	fuse_loop_cfg_set_max_threads(loop, 64);
	printf("ready %s\n", mnt);
	fflush(stdout);

	ret = fuse_loop_mt(tool.fuse, loop);
	/* 0, or the number of the signal that ended it: both are clean. */
	if (ret < 0)
		fprintf(stderr, "tool_fuse: loop: %s\n", strerror(-ret));
	else
		status = 0;
	fuse_loop_cfg_destroy(loop);
err_signals:
	fuse_remove_signal_handlers(fuse_get_session(tool.fuse));
err_mount:
	fuse_unmount(tool.fuse);
err_new:
	fuse_destroy(tool.fuse);
err_args:
	fuse_opt_free_args(&args);
	pthread_cond_destroy(&tool.cond);
	return status;
}
