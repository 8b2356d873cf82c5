/* SPDX-License-Identifier: MIT */
/*
 * demo.c - `ringsided --demo`: the resilience lecture's five-sensor
 * pipeline, live.  ringside-sim plays the sensors (S0..S4, where S3 goes
 * down for a while and comes back, and a flaky sensor that fails 60% of
 * its reads), the engine reads them into segment "demo", ringside-tail
 * shows every batch, and a summary closes the run.
 *
 * The helpers are found beside the ringsided executable, so the demo runs
 * from the build tree and from an installation alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "demo.h"
#include "engine.h"
#include "log.h"

#define DEMO_FEEDS 6

/* The directory holding this executable, for its sibling programs. */
static int self_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n <= 0)
		return -errno;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash == NULL)
		return -EINVAL;
	*slash = '\0';
	return 0;
}

/* A UDP port free right now on loopback, for the engine to bind. */
static int free_udp_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static pid_t spawn(char *const argv[], int *out_fd)
{
	int pfd[2] = { -1, -1 };
	pid_t pid;

	if (out_fd != NULL && pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (out_fd != NULL)
			dup2(pfd[1], STDOUT_FILENO);
		execv(argv[0], argv);
		fprintf(stderr, "ringsided: %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	if (out_fd != NULL) {
		close(pfd[1]);
		*out_fd = pfd[0];
	}
	return pid;
}

static void stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

static void summary(struct engine *e)
{
	uint64_t *c = e->stats.counter;
	uint32_t i;

	printf("\nringside demo: %llu batches, %llu degraded (%.0f%%), "
	       "%llu missed ticks\n",
	       (unsigned long long)c[RINGSIDE_EC_BATCHES],
	       (unsigned long long)c[RINGSIDE_EC_DEGRADED],
	       c[RINGSIDE_EC_BATCHES]
		       ? 100.0 * (double)c[RINGSIDE_EC_DEGRADED] /
				 (double)c[RINGSIDE_EC_BATCHES]
		       : 0.0,
	       (unsigned long long)c[RINGSIDE_EC_MISSED_TICKS]);
	printf("%-7s %6s %6s %6s %8s %9s %6s %10s %s\n", "sensor", "calls",
	       "ok", "failed", "retries", "retry_ok", "opens", "fast_fails",
	       "breaker");
	for (i = 0; i < e->nsensors; i++) {
		uint64_t *s = e->sensors[i].stats.counter;

		printf("%-7s %6llu %6llu %6llu %8llu %9llu %6llu %10llu %s\n",
		       e->cfg->sensors[i].name,
		       (unsigned long long)s[RINGSIDE_SC_CALLS],
		       (unsigned long long)s[RINGSIDE_SC_OK],
		       (unsigned long long)s[RINGSIDE_SC_FAILED],
		       (unsigned long long)s[RINGSIDE_SC_RETRIES],
		       (unsigned long long)s[RINGSIDE_SC_RETRY_OK],
		       (unsigned long long)s[RINGSIDE_SC_OPENS],
		       (unsigned long long)s[RINGSIDE_SC_FAST_FAILS],
		       ringside_breaker_name((unsigned)s[RINGSIDE_SC_BREAKER]));
	}
	fflush(stdout);
}

/* Read the simulator's "ready KIND ADDRESS" lines, one per feed. */
static int read_ready(int fd, char addr[DEMO_FEEDS][128])
{
	FILE *f = fdopen(fd, "r");
	char line[256], kind[16];
	int n = 0;

	if (f == NULL)
		return -errno;
	while (n < DEMO_FEEDS && fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "ready %15s %127s", kind, addr[n]) == 2)
			n++;
	}
	fclose(f);
	return n == DEMO_FEEDS ? 0 : -EPROTO;
}

int engine_demo(double duration)
{
	char bin[PATH_MAX - 64], sim[PATH_MAX], tail[PATH_MAX];
	char feed[DEMO_FEEDS][256], addr[DEMO_FEEDS][128], ini[64];
	char simdur[32], dir[] = "/tmp/ringside-demo.XXXXXX";
	struct engine_config cfg;
	struct engine e;
	pid_t sim_pid, tail_pid = -1;
	int udp_port, out_fd, ret = 1;
	FILE *f;

	if (duration <= 0)
		duration = 15;
	if (self_dir(bin, sizeof(bin)) < 0 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "ringsided: demo: cannot set up: %s\n",
			strerror(errno));
		return 1;
	}
	snprintf(sim, sizeof(sim), "%s/ringside-sim", bin);
	snprintf(tail, sizeof(tail), "%s/ringside-tail", bin);
	udp_port = free_udp_port();

	/* S0..S4 of the lecture, and the flaky sensor of Example 39.1. */
	snprintf(feed[0], sizeof(feed[0]),
		 "tcp:127.0.0.1:0,mode=request,value=21.5,noise=0.3");
	snprintf(feed[1], sizeof(feed[1]),
		 "udp:127.0.0.1:%d,value=48,noise=2,rate=20", udp_port);
	snprintf(feed[2], sizeof(feed[2]),
		 "fifo:%s/s2,value=101.3,noise=0.1,rate=20", dir);
	snprintf(feed[3], sizeof(feed[3]),
		 "tcp:127.0.0.1:0,value=3.3,noise=0.05,rate=20,down=4+6");
	snprintf(feed[4], sizeof(feed[4]), "file:%s/s4,value=0.92,noise=0.01",
		 dir);
	snprintf(feed[5], sizeof(feed[5]),
		 "tcp:127.0.0.1:0,mode=request,value=7,noise=0.5,fail=0.6");
	snprintf(simdur, sizeof(simdur), "%.0f", duration + 5);
	{
		char *argv[] = { sim,	  "--seed", "39",    "--duration",
				 simdur,  feed[0],  feed[1], feed[2],
				 feed[3], feed[4],  feed[5], NULL };

		sim_pid = spawn(argv, &out_fd);
	}
	if (sim_pid < 0 || read_ready(out_fd, addr) < 0) {
		fprintf(stderr,
			"ringsided: demo: %s did not start its "
			"feeds\n",
			sim);
		goto err_sim;
	}

	snprintf(ini, sizeof(ini), "%s/demo.ini", dir);
	f = fopen(ini, "w");
	if (f == NULL)
		goto err_sim;
	fprintf(f,
		"; the resilience lecture's pipeline, played by ringside-sim\n"
		"[engine]\nname = demo\nperiod = 200ms\n\n"
		"[defaults]\ntimeout = 40ms\nretry_attempts = 4\n"
		"retry_base = 10ms\nretry_max = 40ms\n"
		"breaker_failures = 3\nbreaker_window = 5s\n"
		"breaker_reset = 1s\n\n"
		"[sensor S0]\nsource = tcp:%s\nrequest = read\\n\nunit = C\n\n"
		"[sensor S1]\nsource = udp:127.0.0.1:%d\nunit = %%RH\n\n"
		"[sensor S2]\nsource = stream:%s/s2\nunit = kPa\n\n"
		"[sensor S3]\nsource = tcp:%s\nunit = V\n\n"
		"[sensor S4]\nsource = file:%s/s4\nunit = ratio\n\n"
		"[sensor flaky]\nsource = tcp:%s\nrequest = read\\n\n",
		addr[0], udp_port, dir, addr[3], dir, addr[5]);
	fclose(f);

	engine_config_init(&cfg);
	if (engine_config_load(&cfg, ini) < 0) {
		size_t i;

		for (i = 0; i < engine_config_error_count(&cfg); i++)
			fprintf(stderr, "%s\n", engine_config_error(&cfg, i));
		goto err_cfg;
	}
	if (access(tail, X_OK) == 0) {
		char *argv[] = { tail, "demo", "--from", "oldest", NULL };

		/* The tail waits for the segment the engine is about to
		 * create, then follows it until the engine stops. */
		tail_pid = spawn(argv, NULL);
	} else {
		printf("(%s is not built: batches are not shown)\n", tail);
	}
	printf("ringside demo: S0..S4 and a flaky sensor for %.0f s; S3 goes "
	       "down at 4 s for 6 s\n\n",
	       duration);
	fflush(stdout);

	memset(&e, 0, sizeof(e));
	e.cfg = &cfg;
	e.signal_fd = -1;
	e.stop_at_ns = engine_now_ns() + (uint64_t)(duration * 1e9);
	ret = engine_run(&e);
	if (tail_pid > 0)
		waitpid(tail_pid, NULL, 0);
	summary(&e);
	engine_release(&e);
err_cfg:
	engine_config_exit(&cfg);
err_sim:
	stop(sim_pid);
	unlink(ini);
	{
		char p[64];

		snprintf(p, sizeof(p), "%s/s2", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/s4", dir);
		unlink(p);
	}
	rmdir(dir);
	return ret;
}
