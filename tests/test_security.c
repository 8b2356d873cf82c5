/* SPDX-License-Identifier: MIT */
/*
 * test_security.c - who can put what at /dev/shm/ringside.NAME, and what
 * the engine and its readers do about it: a file or lock file of another
 * user is refused by the writer and never opened for writing, a symbolic
 * link is replaced or refused but never written through, a segment of an
 * untrusted owner is refused by readers, a name cannot lead outside
 * /dev/shm, and the engine runs as nobody.
 *
 * Refusals of symlinks, directories, truncated and garbage files by
 * readers, and the read-only mapping of readers (PROT_READ, a store
 * faults), are in test_ring.c; they are not repeated here.
 *
 * Tests that need another user (uid 65534, nobody) chown files or drop to
 * it in a forked child, so they run as root and are skipped otherwise.
 * Segments are named te<pid>... by the harness, whose .fini removes them
 * (and their lock and temporary files) whatever the outcome.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "ringside.h"

#define NOBODY 65534

TestSuite(security, .init = h_init, .fini = h_fini, .timeout = 30);

static const char *const one_sensor[] = { "a" };

static void need_root(void)
{
	if (geteuid() != 0)
		h_skip("needs root, to give files to uid %d", NOBODY);
}

static void params_init(struct ringside_params *p, const char *name,
			uint32_t mode)
{
	size_t n = strlen(name);

	/* Never truncate: a cut name could be a valid one. */
	cr_assert_leq(n, RINGSIDE_NAME_MAX, "no room for \"%s\"", name);
	memset(p, 0, sizeof(*p));
	memcpy(p->name, name, n);
	p->ring = 8;
	p->nsensors = 1;
	p->period_ns = 100000000;
	p->deadline_ns = 80000000;
	p->mode = mode;
}

static int create(struct ringside_writer *w, const char *name, uint32_t mode)
{
	struct ringside_params p;

	params_init(&p, name, mode);
	return ringside_writer_create(w, &p, one_sensor, NULL);
}

/* Write @text into a new file @path of mode 0644 owned by @uid. */
static void put_owned(const char *path, const char *text, uid_t uid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchown(fd, uid, uid), 0, "chown: %s", strerror(errno));
	close(fd);
}

/* Assert that @path holds exactly @text and belongs to @uid. */
static void expect_untouched(const char *path, const char *text, uid_t uid)
{
	char buf[64] = { 0 };
	struct stat st;
	int fd;

	cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
	cr_assert(S_ISREG(st.st_mode), "%s is still a regular file", path);
	cr_assert_eq(st.st_uid, uid, "%s still belongs to %u", path,
		     (unsigned)uid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(read(fd, buf, sizeof(buf) - 1), (ssize_t)strlen(text));
	close(fd);
	cr_assert_str_eq(buf, text, "%s was written to", path);
}

/* Entries of /dev/shm named .ringside.@name.* (temporary or lock files). */
static unsigned count_dot_files(const char *name)
{
	char prefix[64];
	struct dirent *de;
	unsigned n = 0;
	DIR *d = opendir("/dev/shm");

	cr_assert_not_null(d);
	snprintf(prefix, sizeof(prefix), ".ringside.%s.", name);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void expect_why(int ret, const char *part)
{
	cr_assert_not_null(strstr(ringside_strerror(ret), part),
			   "message \"%s\" lacks \"%s\"",
			   ringside_strerror(ret), part);
}

/* ---- the writer -------------------------------------------------------- */

Test(security, the_writer_refuses_a_file_of_another_user_at_its_path)
{
	char name[40], path[96], want[160];
	struct ringside_writer w;
	int ret;

	need_root();
	h_name(name, sizeof(name), "wforeign");
	h_segment_path(path, sizeof(path), name);
	put_owned(path, "forged", NOBODY);

	ret = create(&w, name, 0640);
	cr_assert_eq(ret, -EPERM, "create gave %d", ret);
	snprintf(want, sizeof(want),
		 "a file owned by another user (uid %d) stands at %s", NOBODY,
		 path);
	cr_assert_str_eq(ringside_strerror(ret), want);
	expect_untouched(path, "forged", NOBODY);
	cr_assert_eq(count_dot_files(name), 0, "a temporary file was left");
}

Test(security, the_writer_refuses_a_lock_file_of_another_user)
{
	char name[40], path[96], lock[96];
	struct ringside_writer w;
	int ret;

	need_root();
	h_name(name, sizeof(name), "lforeign");
	h_segment_path(path, sizeof(path), name);
	snprintf(lock, sizeof(lock), "/dev/shm/.ringside.%s.lock", name);
	put_owned(lock, "", NOBODY);

	ret = create(&w, name, 0640);
	cr_assert_eq(ret, -EPERM, "create gave %d", ret);
	expect_why(ret, "lock file owned by another user (uid 65534)");
	expect_untouched(lock, "", NOBODY);
	cr_assert_eq(access(path, F_OK), -1, "a segment was made");
}

Test(security, the_writer_never_follows_a_symlink_at_its_lock_file)
{
	char name[40], path[96], lock[96], victim[256];
	struct ringside_writer w;
	int ret;

	h_name(name, sizeof(name), "llink");
	h_segment_path(path, sizeof(path), name);
	snprintf(lock, sizeof(lock), "/dev/shm/.ringside.%s.lock", name);
	h_path(victim, sizeof(victim), "victim");
	put_owned(victim, "precious", geteuid());
	cr_assert_eq(symlink(victim, lock), 0);

	ret = create(&w, name, 0640);
	cr_assert_eq(ret, -EPERM, "create gave %d", ret);
	expect_why(ret, "symbolic link");
	expect_untouched(victim, "precious", geteuid());
	cr_assert_eq(access(path, F_OK), -1, "a segment was made");
}

/*
 * test_ring.c shows a symlink to an existing file replaced, the file
 * untouched; a dangling one must not make the writer create its target.
 */
Test(security, the_writer_replaces_a_dangling_symlink_and_creates_no_target)
{
	char name[40], path[96], target[256];
	struct ringside_writer w;
	struct stat st;

	h_name(name, sizeof(name), "wdangle");
	h_segment_path(path, sizeof(path), name);
	h_path(target, sizeof(target), "planted");
	cr_assert_eq(symlink(target, path), 0);

	cr_assert_eq(create(&w, name, 0640), 0);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode), "the symlink was replaced");
	cr_assert_eq(st.st_uid, geteuid());
	cr_assert_eq(access(target, F_OK), -1, "the link's target was made");
	ringside_writer_close(&w, 0);
}

/* ---- readers ----------------------------------------------------------- */

Test(security, readers_refuse_a_segment_of_another_user_unless_trusted)
{
	char name[40], path[96];
	struct ringside_writer w;
	struct ringside_reader r;
	int ret;

	need_root();
	h_name(name, sizeof(name), "rforeign");
	h_segment_path(path, sizeof(path), name);
	cr_assert_eq(create(&w, name, 0644), 0);
	cr_assert_eq(chown(path, NOBODY, NOBODY), 0);

	unsetenv("RINGSIDE_TRUST_UID");
	ret = ringside_reader_attach(&r, name, 0);
	cr_assert_eq(ret, -EPERM, "attach gave %d", ret);
	cr_assert_str_eq(ringside_strerror(ret),
			 "segment owned by uid 65534, not by us "
			 "(see docs/security.md)");

	cr_assert_eq(ringside_reader_attach(&r, name, RINGSIDE_ANY_OWNER), 0);
	ringside_reader_detach(&r);

	setenv("RINGSIDE_TRUST_UID", "1000,65534", 1);
	cr_assert_eq(ringside_reader_attach(&r, name, 0), 0);
	ringside_reader_detach(&r);
	setenv("RINGSIDE_TRUST_UID", "65534", 1);
	cr_assert_eq(ringside_reader_attach(&r, name, 0), 0);
	ringside_reader_detach(&r);

	setenv("RINGSIDE_TRUST_UID", "65535", 1);
	cr_assert_eq(ringside_reader_attach(&r, name, 0), -EPERM);
	setenv("RINGSIDE_TRUST_UID", "65534x", 1);
	cr_assert_eq(ringside_reader_attach(&r, name, 0), -EPERM);
	setenv("RINGSIDE_TRUST_UID", " 65534", 1);
	cr_assert_eq(ringside_reader_attach(&r, name, 0), -EPERM);
	unsetenv("RINGSIDE_TRUST_UID");
	ringside_writer_close(&w, 0);
}

/*
 * Attach to @name as uid nobody, in a child; its result (0 or -errno) as
 * a positive exit status, 100 when the child could not become nobody.
 */
static int attach_as_nobody(const char *name)
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct ringside_reader r;
		int ret;

		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
		    setuid(NOBODY) < 0)
			_exit(100);
		ret = ringside_reader_attach(&r, name, 0);
		if (ret == 0)
			ringside_reader_detach(&r);
		_exit(-ret);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

Test(security, readers_of_another_user_read_roots_segment_given_read_access)
{
	char name[40], closed[40];
	struct ringside_writer w, v;

	need_root();
	h_name(name, sizeof(name), "rroot");
	h_name(closed, sizeof(closed), "rshut");
	cr_assert_eq(create(&w, name, 0644), 0);
	cr_assert_eq(create(&v, closed, 0600), 0);
	cr_assert_eq(attach_as_nobody(name), 0, "root's segment is trusted");
	cr_assert_eq(attach_as_nobody(closed), EACCES, "mode 0600 keeps out");
	ringside_writer_close(&w, 0);
	ringside_writer_close(&v, 0);
}

Test(security, readers_refuse_a_file_of_the_wrong_size)
{
	char name[40], path[96];
	struct ringside_writer w;
	struct ringside_reader r;
	int ret;

	h_name(name, sizeof(name), "rsize");
	h_segment_path(path, sizeof(path), name);
	cr_assert_eq(create(&w, name, 0640), 0);
	cr_assert_eq(truncate(path, (off_t)w.size + 4096), 0);
	ret = ringside_reader_attach(&r, name, 0);
	cr_assert_eq(ret, -EPROTO, "a page too long: attach gave %d", ret);
	expect_why(ret, "size");
	cr_assert_eq(truncate(path, (off_t)w.size - 64), 0);
	ret = ringside_reader_attach(&r, name, 0);
	cr_assert_eq(ret, -EPROTO, "64 bytes short: attach gave %d", ret);
	expect_why(ret, "size");
	ringside_writer_abandon(&w);
}

/* ---- names ------------------------------------------------------------- */

struct bad_name {
	char name[48];
};

ParameterizedTestParameters(security, names_that_leave_dev_shm_are_refused)
{
	static struct bad_name cases[] = {
		{ "../x" },
		{ "a/b" },
		{ "" },
		{ "x23456789012345678901234567890123" }, /* 33 */
		{ "." },
		{ ".." },
		{ "../../tmp/x" },
		{ "/etc/passwd" },
		{ "a.b" },
		{ "a b" },
		{ "a\nb" },
	};

	return cr_make_param_array(struct bad_name, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_name *c, security,
		  names_that_leave_dev_shm_are_refused)
{
	struct ringside_writer w;
	struct ringside_reader r;
	char path[128];

	cr_assert_not(ringside_name_valid(c->name));
	/* struct ringside_params has no room for a longer name. */
	if (strlen(c->name) <= RINGSIDE_NAME_MAX)
		cr_assert_eq(create(&w, c->name, 0640), -EINVAL,
			     "writer: \"%s\"", c->name);
	cr_assert_eq(ringside_reader_attach(&r, c->name, 0), -EINVAL,
		     "reader: \"%s\"", c->name);
	snprintf(path, sizeof(path), "/dev/shm/ringside.%s", c->name);
	cr_assert_eq(access(path, F_OK), -1, "%s exists", path);
	snprintf(path, sizeof(path), "/dev/shm/.ringside.%s.lock", c->name);
	cr_assert_eq(access(path, F_OK), -1, "%s exists", path);
}

/* ---- the engine needs no privilege ------------------------------------- */

/* The hexadecimal value of line "@key:" of /proc/@pid/status, or -1. */
static long long proc_status_hex(pid_t pid, const char *key)
{
	char path[64], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0 &&
		    line[strlen(key)] == ':') {
			v = strtoll(line + strlen(key) + 1, NULL, 16);
			break;
		}
	fclose(f);
	return v;
}

/* Whether uid NOBODY may execute @path (every directory above it
 * included): asked in a child that drops to that uid. */
static bool nobody_can_run(const char *path)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(setgid(NOBODY) == 0 && setuid(NOBODY) == 0 &&
				      access(path, X_OK) == 0
			      ? 0
			      : 1);
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

Test(security, the_engine_runs_as_nobody_and_publishes, .timeout = 30)
{
	char name[40], cfg[256], temp[256], dir[256], log[256], bin[256],
		seg[96];
	char *argv[] = { bin, "-c", cfg, "--duration", "20", NULL };
	pid_t parent = getpid(), pid;
	struct h_feed f;
	struct stat st;
	int logfd;

	need_root();
	/* The harness's directory is root's 0700: let nobody in. */
	h_path(dir, sizeof(dir), "");
	cr_assert_eq(chmod(dir, 0711), 0);
	h_name(name, sizeof(name), "nobody");
	h_path(temp, sizeof(temp), "temp");
	h_put_text(temp, "21.5\n");
	cr_assert_eq(chmod(temp, 0644), 0);
	h_config(cfg, sizeof(cfg), name, "50ms",
		 "[sensor temp]\nsource = file:%s\n", temp);
	cr_assert_eq(chmod(cfg, 0644), 0);
	h_path(log, sizeof(log), "nobody.log");
	h_bin(bin, sizeof(bin), "ringsided");
	if (!nobody_can_run(bin))
		h_skip("uid %d cannot reach %s (a private checkout directory)",
		       NOBODY, bin);
	logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(logfd, 0);

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || dup2(logfd, 2) < 0)
			_exit(127);
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
		    setuid(NOBODY) < 0)
			_exit(126);
		execv(bin, argv);
		_exit(125);
	}
	close(logfd);
	h_keep_child(pid);

	/* Its segment belongs to nobody: this reader (root) must say it
	 * trusts that uid, as a reader of another user would. */
	setenv("RINGSIDE_TRUST_UID", "65534", 1);
	h_attach(&f, name, pid, 1);
	while (f.batches < 3)
		h_next(&f);
	h_expect_value(&f, 0, 21.5);

	h_segment_path(seg, sizeof(seg), name);
	cr_assert_eq(stat(seg, &st), 0);
	cr_assert_eq(st.st_uid, NOBODY, "the segment belongs to the engine");
	cr_assert_eq(st.st_mode & 07777, 0640);
	cr_assert_eq(proc_status_hex(pid, "CapEff"), 0,
		     "the engine holds a capability");
	cr_assert_eq(proc_status_hex(pid, "CapPrm"), 0);
	h_done();
	unsetenv("RINGSIDE_TRUST_UID");
}
