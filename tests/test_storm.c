/*
 * The kill storm: a traced writer of 2 processes x 3 threads calling as fast
 * as it can is SIGKILLed at a random moment, from the first instant (while
 * the shim is still creating the file) to 15 ms in, again and again.  Every
 * trace must read whole, and hold exactly the calls the program completed,
 * plus at most one in flight per thread: the program counts each call after
 * it returned in a shared file that outlives the kill.  Three runs in four
 * append to one trace (the path the next run must be able to use); every
 * fourth starts a fresh file.  ST_STORM_KILLS sets the count (make stress).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define STORM_PROCS 2
#define STORM_THREADS 3
#define STORM_SLOTS (STORM_PROCS * STORM_THREADS)

static char dir[64];

static void setup(void)
{
	h_tmpdir(dir, sizeof dir);
}

static void teardown(void)
{
	h_rmdir(dir);
}

TestSuite(storm, .init = setup, .fini = teardown, .timeout = 3600);

static long *storm_counters(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0 && ftruncate(fd, STORM_SLOTS * sizeof(long)) == 0);
	long *slots = mmap(NULL, STORM_SLOTS * sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED,
			   fd, 0);
	cr_assert(slots != MAP_FAILED);
	close(fd);
	return slots;
}

static long storm_sum(const long *slots)
{
	long sum = 0;
	for (int i = 0; i < STORM_SLOTS; i++)
		sum += __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
	return sum;
}

/* Starts argv (under the shim, writing trace, with the "NAME=value" strings
 * of env) in a process group of its own, kills the group after delay_us,
 * and reaps every process of it (this test is their subreaper). */
static void storm_spawn(const char *trace, char *const argv[], const char *const *env,
			long delay_us)
{
	char lib[4096];
	const char *preload = h_preload(lib, sizeof lib);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		setenv("LD_PRELOAD", preload, 1);
		setenv("SOCKTRACE_FILE", trace, 1);
		setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	struct timespec ts = {delay_us / 1000000, (delay_us % 1000000) * 1000};
	nanosleep(&ts, NULL);
	kill(-pid, SIGKILL);
	int reaped = 0;
	while (waitpid(-1, NULL, 0) > 0 && reaped++ < 64)
		;
}

static void storm_run(const char *trace, const char *counters, long delay_us)
{
	char edges[256], nprocs[8], nthreads[8];
	h_path(edges, sizeof edges, "progs/edges");
	snprintf(nprocs, sizeof nprocs, "%d", STORM_PROCS);
	snprintf(nthreads, sizeof nthreads, "%d", STORM_THREADS);
	char *const argv[] = {edges, "storm", (char *)counters, nprocs, nthreads, NULL};
	storm_spawn(trace, argv, NULL, delay_us);
}

/* Calls recorded or counted as dropped, in every trace of the run. */
static long storm_recorded(const char *trace, int kill_no, long delay_us)
{
	struct st_trace t;
	int rc = st_trace_load(&t, trace, 0);
	cr_assert_eq(rc, 0, "kill %d after %ld us: %s: %s", kill_no, delay_us, trace, t.error);
	long n = (long)(h_count(&t, ST_OP_GETPEERNAME, 0) + t.dropped);
	st_trace_free(&t);
	return n;
}

Test(storm, sigkill_at_any_moment_leaves_a_readable_exact_trace)
{
	const char *env = getenv("ST_STORM_KILLS");
	int kills = env ? atoi(env) : 200;
	cr_assert(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	char shared[128], fresh[128], shared_ctr[128], fresh_ctr[128];
	snprintf(shared, sizeof shared, "%s/shared.trace", dir);
	snprintf(fresh, sizeof fresh, "%s/fresh.trace", dir);
	snprintf(shared_ctr, sizeof shared_ctr, "%s/shared.counters", dir);
	snprintf(fresh_ctr, sizeof fresh_ctr, "%s/fresh.counters", dir);
	long *shared_slots = storm_counters(shared_ctr);
	unsigned seed = (unsigned)time(NULL);
	int shared_runs = 0, empty_files = 0;
	for (int k = 0; k < kills; k++) {
		/* a third in the first 3 ms: exec, the loader, the shim creating the file */
		long delay_us = (long)(rand_r(&seed) % (k % 3 == 0 ? 3000 : 15000));
		bool fresh_run = k % 4 == 3;
		if (fresh_run) {
			unlink(fresh);
			long *slots = storm_counters(fresh_ctr);
			storm_run(fresh, fresh_ctr, delay_us);
			long completed = storm_sum(slots);
			if (access(fresh, F_OK) == 0) {
				long got = storm_recorded(fresh, k, delay_us);
				cr_assert(got >= completed && got <= completed + STORM_SLOTS,
					  "kill %d after %ld us: %ld recorded, %ld completed", k, delay_us,
					  got, completed);
			}
			munmap(slots, STORM_SLOTS * sizeof(long));
			continue;
		}
		storm_run(shared, shared_ctr, delay_us);
		shared_runs++;
		long completed = storm_sum(shared_slots);
		if (access(shared, F_OK) != 0) {
			empty_files++;
			continue;
		}
		long got = storm_recorded(shared, k, delay_us);
		cr_assert(got >= completed && got <= completed + (long)STORM_SLOTS * shared_runs,
			  "kill %d after %ld us: %ld recorded, %ld completed over %d runs", k, delay_us,
			  got, completed, shared_runs);
	}
	cr_log_info("storm: %d kills, shared trace of %d runs, %d left no file", kills, shared_runs,
		    empty_files);
}

/*
 * The ring storm: the same kills on a flight recorder (SOCKTRACE_RING=1,
 * 256 KiB: 14 ring chunks, wrapped many times in each run), whose writer
 * (tests/progs/ring storm) names each call in its descriptor: run, thread
 * slot, call number.  After each kill the trace must read whole and hold,
 * for every thread of the run just killed, its newest calls without a gap:
 * up to the last one it counted (or the one in flight), from wherever the
 * ring's window begins; or none, when the thread's newest chunk is older
 * than the window (with 6 threads on few CPUs, one preempted for a few
 * milliseconds while the others wrap the ring).  Three runs in four share the file (a ring left by
 * a killed run, its chunks owned by dead threads, must be taken over).
 * The run's calls, kept or counted overwritten, add up to what it made,
 * but for the chunks a kill may catch while they are being cleared (their
 * old records then lost without being counted): one per thread at most.
 */
#define RING_SLOTS 8
#define RING_CHUNK_EVENTS (16384 / 48)

/* 16 longs: a counter per thread slot (8), then each process's pid */
static long *ring_storm_counters(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0 && ftruncate(fd, 16 * sizeof(long)) == 0);
	long *slots = mmap(NULL, 16 * sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert(slots != MAP_FAILED);
	close(fd);
	return slots;
}

static void ring_storm_run(const char *trace, const char *counters, int run, long delay_us)
{
	char prog[256], runs[16];
	h_path(prog, sizeof prog, "progs/ring");
	snprintf(runs, sizeof runs, "%d", run);
	char *const argv[] = {prog, "storm", (char *)counters, "2", "3", runs, NULL};
	static const char *const env[] = {"SOCKTRACE_RING=1", "SOCKTRACE_SIZE=256K", NULL};
	storm_spawn(trace, argv, env, delay_us);
}

/* Checks the newest calls of run (its counters in slots) are all kept; returns
 * the trace's kept + overwritten events. */
static long ring_storm_check(const char *trace, int run, const long *slots, int kill_no,
			     long delay_us, int *empty)
{
	struct st_trace t;
	int rc = st_trace_load(&t, trace, 0);
	cr_assert_eq(rc, 0, "kill %d after %ld us: %s: %s", kill_no, delay_us, trace, t.error);
	long lo[RING_SLOTS], hi[RING_SLOTS], n[RING_SLOTS];
	for (int s = 0; s < RING_SLOTS; s++)
		lo[s] = LONG_MAX, hi[s] = -1, n[s] = 0;
	/* this run's processes: a ring shared by runs may still hold a chunk
	 * of a run 64 runs ago, whose descriptors read the same */
	long pids[2] = {__atomic_load_n(&slots[8], __ATOMIC_ACQUIRE),
			__atomic_load_n(&slots[9], __ATOMIC_ACQUIRE)};
	for (size_t i = 0; i < t.nevs; i++) {
		unsigned fd = (unsigned)t.evs[i].fd;
		if (!(fd & 1u << 30) || (int)(fd >> 23 & 0x3f) != (run & 0x3f) ||
		    (t.evs[i].pid != pids[0] && t.evs[i].pid != pids[1]))
			continue;
		int s = (int)(fd >> 20 & 7);
		long call = fd & 0xfffff;
		lo[s] = call < lo[s] ? call : lo[s];
		hi[s] = call > hi[s] ? call : hi[s];
		n[s]++;
	}
	for (int s = 0; s < 6; s++) {
		long done = __atomic_load_n(&slots[s], __ATOMIC_ACQUIRE);
		if (n[s] == 0) {
			*empty += 1; /* no call yet, or none in the window */
			continue;
		}
		cr_assert(hi[s] == done - 1 || hi[s] == done,
			  "kill %d after %ld us: slot %d made %ld calls, the newest kept is %ld",
			  kill_no, delay_us, s, done, hi[s]);
		cr_assert_eq(n[s], hi[s] - lo[s] + 1,
			     "kill %d after %ld us: slot %d kept %ld calls from %ld to %ld: a gap",
			     kill_no, delay_us, s, n[s], lo[s], hi[s]);
	}
	long all = (long)(t.nevs + t.overwritten + t.dropped);
	st_trace_free(&t);
	return all;
}

Test(storm, sigkill_while_a_ring_wraps_keeps_the_newest_calls)
{
	const char *env = getenv("ST_STORM_KILLS");
	int kills = env ? atoi(env) / 2 : 100;
	cr_assert(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	char shared[128], fresh[128], ctr[128];
	snprintf(shared, sizeof shared, "%s/ring-shared.trace", dir);
	snprintf(fresh, sizeof fresh, "%s/ring-fresh.trace", dir);
	snprintf(ctr, sizeof ctr, "%s/ring.counters", dir);
	unsigned seed = (unsigned)time(NULL) ^ 0x5a5a;
	long shared_made = 0;
	int shared_runs = 0, empty = 0;
	for (int k = 0; k < kills; k++) {
		long delay_us = (long)(rand_r(&seed) % (k % 3 == 0 ? 3000 : 15000));
		bool fresh_run = k % 4 == 3;
		const char *trace = fresh_run ? fresh : shared;
		if (fresh_run)
			unlink(fresh);
		long *slots = ring_storm_counters(ctr);
		ring_storm_run(trace, ctr, k, delay_us);
		long made = storm_sum(slots);
		if (access(trace, F_OK) == 0) {
			long seen = ring_storm_check(trace, k, slots, k, delay_us, &empty);
			long before = fresh_run ? 0 : shared_made;
			int runs = fresh_run ? 1 : shared_runs + 1;
			cr_assert(seen >= before + made - (long)RING_CHUNK_EVENTS * STORM_SLOTS * runs &&
					  seen <= before + made + (long)STORM_SLOTS * runs,
				  "kill %d after %ld us: %ld kept or overwritten, %ld made", k,
				  delay_us, seen, before + made);
		}
		if (!fresh_run) {
			shared_made += made;
			shared_runs++;
		}
		munmap(slots, 16 * sizeof(long));
	}
	cr_log_info("ring storm: %d kills, %d of %d threads with no call in the window", kills,
		    empty, kills * 6);
}
