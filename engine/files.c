/* SPDX-License-Identifier: MIT */
/*
 * files.c - file sensors: read with pread, inline by the engine thread on
 * file systems whose reads cannot block, by worker threads elsewhere.
 *
 * Two lanes.  A file on tmpfs, ramfs or procfs is read by the engine
 * thread itself, inline, at the cost of a plain pread loop (and with no
 * thread in the process, the kernel's file lookups stay on their
 * single-threaded fast path).  Every other file (sysfs, whose drivers can
 * take milliseconds or hang on a stuck bus; FUSE; disks) goes to the
 * worker lane, and so does an inline file whose read once took longer
 * than a quarter of its timeout: it has proven slow.
 *
 * Why not the ring: on this kernel a procfs or sysfs read submitted to
 * io_uring runs inline inside io_uring_enter, so a slow driver would stall
 * the engine thread, and a tmpfs read is punted to an io-wq worker at
 * about three times the CPU of pread; a linked timeout bounds neither.  A
 * plain pread in a worker costs what a pread loop costs, and a read that
 * blocks in the kernel blocks only its worker.
 *
 * The engine queues sensor indexes at a tick (one lock, one signal for the
 * whole tick), workers pop them, read and parse, and push the index onto
 * the done list; the push that makes the list non-empty writes the
 * eventfd that the engine has a read on in its ring.  When every worker is
 * stuck in one read for longer than that read's timeout while work waits,
 * the pool grows by one worker (up to max_workers), so a hung file can
 * hold at most the worker it hangs in.  A sensor whose read is still
 * inside the kernel is never queued again until that read returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <linux/magic.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "engine.h"
#include "value.h"

#define FILE_BUF 4096		     /* a record is at most this long */
#define IDENTITY_CHECK_NS 1000000000 /* re-stat a kept file this often */

struct worker_arg {
	struct engine_files *f;
	uint32_t id;
};

/* Open @path for reading into job @j; returns 0 or -errno. */
static int open_file(struct engine_file_job *j, const char *path, uint64_t now)
{
	struct stat st;

	/* No atime update per read where we may say so (we own the file):
	 * it is a third of the kernel's work on tmpfs. */
	j->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOATIME);
	if (j->fd < 0 && errno == EPERM)
		j->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (j->fd < 0)
		return -errno;
	if (fstat(j->fd, &st) == 0) {
		j->dev = st.st_dev;
		j->ino = st.st_ino;
	}
	j->checked_ns = now;
	return 0;
}

void engine_files_prepare(struct engine_files *f, uint32_t sensor, uint64_t now)
{
	struct engine_sensor *s = &f->sensors[sensor];

	/* Only the inline lane: a worker-lane open might block. */
	if (s->job.inline_lane && s->job.fd < 0)
		open_file(&s->job, s->cfg->source.path, now);
}

/* Read the whole file at offset 0 and parse it; returns 0 or -errno. */
static int read_file(struct engine_sensor *s, char *buf, uint64_t now,
		     double *value)
{
	struct engine_file_job *j = &s->job;
	const char *path = s->cfg->source.path;
	struct stat st;
	ssize_t n;

	/* A file replaced by rename keeps the old inode in our descriptor:
	 * look at the path now and then, and reopen when it changed. */
	if (j->fd >= 0 &&
	    __atomic_exchange_n(&j->stale, false, __ATOMIC_RELAXED)) {
		close(j->fd);
		j->fd = -1;
	}
	if (j->fd >= 0 && !j->watched &&
	    now - j->checked_ns >= IDENTITY_CHECK_NS) {
		j->checked_ns = now;
		if (stat(path, &st) < 0 || st.st_dev != j->dev ||
		    st.st_ino != j->ino) {
			close(j->fd);
			j->fd = -1;
		}
	}
	if (j->fd < 0) {
		int ret = open_file(j, path, now);

		if (ret < 0)
			return ret;
	}
	n = pread(j->fd, buf, FILE_BUF + 1, 0);
	if (n < 0) {
		int err = -errno;

		close(j->fd);
		j->fd = -1;
		return err;
	}
	if (n > FILE_BUF)
		return -EMSGSIZE;
	return engine_value_parse_lines(&s->cfg->value, buf, (size_t)n, value);
}

static uint32_t name_hash(int wd, const char *name)
{
	uint32_t h = 2166136261u ^ (uint32_t)wd;

	for (; *name != '\0'; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h;
}

/* Every sensor watched as @name in directory @wd is to be reopened. */
static void mark_stale(struct engine_files *f, int wd, const char *name)
{
	uint32_t h = name_hash(wd, name) & f->wmask;

	for (; f->wtable[h] != UINT32_MAX; h = (h + 1) & f->wmask) {
		struct engine_file_job *j = &f->sensors[f->wtable[h]].job;

		if (j->wd == wd && strcmp(j->base, name) == 0)
			__atomic_store_n(&j->stale, true, __ATOMIC_RELAXED);
	}
}

/* Mark the files named by pending inotify events; called under the lock. */
static void drain_inotify(struct engine_files *f)
{
	char buf[4096]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	if (f->inotify < 0)
		return;
	while ((n = read(f->inotify, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			struct inotify_event *ev = (struct inotify_event *)p;
			uint32_t i;

			if (ev->len > 0)
				mark_stale(f, ev->wd, ev->name);
			if (ev->mask & IN_Q_OVERFLOW)
				for (i = 0; i < f->nsensors; i++)
					__atomic_store_n(
						&f->sensors[i].job.stale, true,
						__ATOMIC_RELAXED);
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* Results that make a worker wake the engine even while work remains. */
#define SIGNAL_BATCH 256

/* Wake the engine for the results in f->done; called under the lock. */
static void signal_engine(struct engine_files *f)
{
	uint64_t one = 1;

	f->signalled = true;
	if (write(f->eventfd, &one, sizeof(one)) < 0)
		(void)0; /* an eventfd counter cannot overflow here */
}

/*
 * A worker takes one job at a time, so that a read stuck in the kernel
 * holds no other sensor's job hostage; the lock is uncontended but for the
 * engine's one visit per tick.
 */
static void *worker_main(void *p)
{
	struct worker_arg *a = p;
	struct engine_files *f = a->f;
	uint32_t id = a->id;
	char *buf = malloc(FILE_BUF + 1);

	free(a);
	if (buf == NULL)
		return NULL;
	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct engine_sensor *s;
		uint64_t now;
		double value = 0;
		uint32_t idx;
		int ret;

		while (f->qlen == 0 && !f->stop)
			pthread_cond_wait(&f->work, &f->lock);
		if (f->stop)
			break;
		idx = f->queue[f->qhead];
		f->qhead = (f->qhead + 1) % f->qcap;
		f->qlen--;
		f->busy++;
		/*
		 * The last job may be the one that hangs: hand over what is
		 * done before starting it, not after.
		 */
		if (f->qlen == 0 && f->ndone > 0 && !f->signalled)
			signal_engine(f);
		now = engine_now_ns();
		/* Also read without the lock, by engine_files_exit. */
		__atomic_store_n(&f->busy_since[id], now, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&f->lock);

		s = &f->sensors[idx];
		ret = read_file(s, buf, now, &value);

		pthread_mutex_lock(&f->lock);
		f->busy--;
		__atomic_store_n(&f->busy_since[id], 0, __ATOMIC_RELAXED);
		s->job.error = ret < 0 ? -ret : 0;
		s->job.value = value;
		s->job.done = true;
		f->done[f->ndone++] = idx;
		/*
		 * Wake the engine once the queue is drained (the usual case:
		 * once per tick), or when many results wait; never twice for
		 * the same results.
		 */
		if (!f->signalled && (f->qlen == 0 || f->ndone >= SIGNAL_BATCH))
			signal_engine(f);
	}
	pthread_mutex_unlock(&f->lock);
	free(buf);
	return NULL;
}

static int spawn(struct engine_files *f)
{
	struct worker_arg *a;
	int ret;

	if (f->nworkers >= f->max_workers)
		return -EAGAIN;
	a = malloc(sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	a->f = f;
	a->id = f->nworkers;
	ret = pthread_create(&f->threads[f->nworkers], NULL, worker_main, a);
	if (ret != 0) {
		free(a);
		return -ret;
	}
	f->nworkers++;
	return 0;
}

/*
 * Watch the directory of every regular file sensor (not procfs or sysfs),
 * so that a replaced or removed file is reopened at its next read.
 */
static void watch_files(struct engine_files *f)
{
	uint32_t i;

	f->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	f->wmask = 1;
	while (f->wmask < 2 * f->nsensors + 1)
		f->wmask <<= 1;
	f->wtable = malloc(f->wmask * sizeof(*f->wtable));
	if (f->inotify < 0 || f->wtable == NULL) {
		/* stat once a second instead */
		if (f->inotify >= 0)
			close(f->inotify);
		f->inotify = -1;
		free(f->wtable);
		f->wtable = NULL;
		f->wmask = 0;
	}
	if (f->wtable != NULL) {
		memset(f->wtable, 0xff, f->wmask * sizeof(*f->wtable));
		f->wmask--;
	}
	for (i = 0; i < f->nsensors; i++) {
		struct engine_sensor *s = &f->sensors[i];
		struct engine_file_job *j = &s->job;
		char dir[ENGINE_CONFIG_PATH_MAX], name[ENGINE_CONFIG_PATH_MAX];
		struct statfs sf;

		if (s->cfg->source.kind != ENGINE_CONFIG_SOURCE_FILE)
			continue;
		snprintf(dir, sizeof(dir), "%s", s->cfg->source.path);
		snprintf(name, sizeof(name), "%s", s->cfg->source.path);
		snprintf(j->base, sizeof(j->base), "%s", basename(name));
		if (statfs(dirname(dir), &sf) < 0)
			continue;
		/* Reads that cannot block go inline; see the top of file. */
		j->inline_lane = sf.f_type == TMPFS_MAGIC ||
				 sf.f_type == RAMFS_MAGIC ||
				 sf.f_type == PROC_SUPER_MAGIC;
		if (sf.f_type == PROC_SUPER_MAGIC || sf.f_type == SYSFS_MAGIC)
			continue; /* never replaced: nothing to watch */
		if (f->inotify < 0)
			continue;
		j->wd = inotify_add_watch(
			f->inotify, dir,
			IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
				IN_DELETE_SELF | IN_MOVE_SELF);
		j->watched = j->wd >= 0;
		if (j->watched) {
			uint32_t h = name_hash(j->wd, j->base) & f->wmask;

			while (f->wtable[h] != UINT32_MAX)
				h = (h + 1) & f->wmask;
			f->wtable[h] = i;
		}
	}
}

int engine_files_init(struct engine_files *f, struct engine_sensor *sensors,
		      uint32_t nfiles)
{
	int ret;

	memset(f, 0, sizeof(*f));
	f->sensors = sensors;
	f->max_workers = 32;
	f->qcap = nfiles + 1;
	f->queue = calloc(f->qcap, sizeof(*f->queue));
	f->done = calloc(f->qcap, sizeof(*f->done));
	f->staged = calloc(f->qcap, sizeof(*f->staged));
	f->inline_buf = malloc(FILE_BUF + 1);
	f->threads = calloc(f->max_workers, sizeof(*f->threads));
	f->busy_since = calloc(f->max_workers, sizeof(*f->busy_since));
	if (f->queue == NULL || f->done == NULL || f->staged == NULL ||
	    f->inline_buf == NULL || f->threads == NULL ||
	    f->busy_since == NULL) {
		ret = -ENOMEM;
		goto err_free;
	}
	f->eventfd = eventfd(0, EFD_CLOEXEC);
	if (f->eventfd < 0) {
		ret = -errno;
		goto err_free;
	}
	f->nsensors = nfiles;
	watch_files(f);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->work, NULL);
	/* Workers start with the first read of the worker lane. */
	return 0;

err_free:
	free(f->queue);
	free(f->done);
	free(f->staged);
	free(f->inline_buf);
	free(f->threads);
	free(f->busy_since);
	return ret;
}

bool engine_files_exit(struct engine_files *f)
{
	uint32_t i, busy;

	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_broadcast(&f->work);
	pthread_mutex_unlock(&f->lock);
	/*
	 * A worker stuck in a read that never returns cannot be joined; it
	 * is detached and the process exits around it.
	 */
	for (i = 0; i < f->nworkers; i++) {
		if (__atomic_load_n(&f->busy_since[i], __ATOMIC_RELAXED) != 0)
			pthread_detach(f->threads[i]);
		else
			pthread_join(f->threads[i], NULL);
	}
	pthread_mutex_lock(&f->lock);
	busy = f->busy;
	pthread_mutex_unlock(&f->lock);
	if (busy == 0) {
		pthread_cond_destroy(&f->work);
		pthread_mutex_destroy(&f->lock);
		free(f->queue);
		free(f->done);
		free(f->staged);
		free(f->inline_buf);
		free(f->threads);
		free(f->busy_since);
		close(f->eventfd);
		if (f->inotify >= 0)
			close(f->inotify);
		free(f->wtable);
		return true;
	}
	return false;
}

/* Voluntary context switches of the calling thread so far. */
static long voluntary_switches(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nvcsw : 0;
}

void engine_files_begin_tick(struct engine_files *f)
{
	pthread_mutex_lock(&f->lock);
	drain_inotify(f);
	pthread_mutex_unlock(&f->lock);
	f->tick_nvcsw = voluntary_switches();
}

int engine_files_read_inline(struct engine_files *f, uint32_t sensor,
			     uint64_t now, uint64_t slow_ns, double *value)
{
	struct engine_sensor *s = &f->sensors[sensor];
	uint64_t start = engine_now_ns();
	int ret = read_file(s, f->inline_buf, now, value);

	/*
	 * Proven slow: this read took long (timed on its own: @now is the
	 * tick's start, long past for the last of thousands of files) and
	 * the thread slept in it (a voluntary switch since the tick began),
	 * rather than being merely preempted on a busy machine.  Workers
	 * read it from now on.
	 */
	if (engine_now_ns() - start > slow_ns &&
	    voluntary_switches() > f->tick_nvcsw)
		s->job.inline_lane = false;
	return ret;
}

/* Stage a read of @sensor's file, unless one is still in a worker; the
 * staged reads go to the workers at the next engine_files_kick(). */
void engine_files_submit(struct engine_files *f, uint32_t sensor)
{
	struct engine_sensor *s = &f->sensors[sensor];

	if (s->job.queued)
		return; /* its read is still in a worker: join it */
	s->job.queued = true;
	s->job.done = false;
	f->staged[f->nstaged++] = sensor;
}

/* Hand every staged read to the workers: one lock, one signal. */
void engine_files_kick(struct engine_files *f)
{
	uint32_t i;

	if (f->nstaged == 0)
		return;
	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->nstaged; i++)
		f->queue[(f->qhead + f->qlen + i) % f->qcap] = f->staged[i];
	f->qlen += f->nstaged;
	if (f->nworkers == 0)
		spawn(f); /* the first file for the worker lane */
	if (f->nstaged == 1)
		pthread_cond_signal(&f->work);
	else
		pthread_cond_broadcast(&f->work);
	pthread_mutex_unlock(&f->lock);
	f->nstaged = 0;
}

uint32_t engine_files_take(struct engine_files *f, uint32_t *out, uint32_t max)
{
	uint32_t n;

	pthread_mutex_lock(&f->lock);
	n = f->ndone < max ? f->ndone : max;
	memcpy(out, f->done, n * sizeof(*out));
	memmove(f->done, f->done + n, (f->ndone - n) * sizeof(*out));
	f->ndone -= n;
	if (f->ndone == 0)
		f->signalled = false; /* the next result signals again */
	pthread_mutex_unlock(&f->lock);
	return n;
}

bool engine_files_check_stuck(struct engine_files *f, uint64_t now,
			      uint64_t stuck_ns)
{
	uint32_t i, stuck = 0;
	bool pending;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->nworkers; i++)
		if (f->busy_since[i] != 0 && now - f->busy_since[i] >= stuck_ns)
			stuck++;
	if (f->qlen > 0 && stuck == f->nworkers)
		spawn(f);
	/* Still something to come: a read in progress or queued. */
	pending = f->qlen > 0 || f->busy > 0;
	pthread_mutex_unlock(&f->lock);
	return pending;
}
