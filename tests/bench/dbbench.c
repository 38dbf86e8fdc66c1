/*
 * dbbench: the database-only baseline of ./stack bench. It calls the
 * worker's own reg_user() (linked from libregonce.a, so the statements
 * cannot drift from the worker's) with the config a pool uses, from N
 * forked processes, each with its own connection: no HTTP, no FastCGI.
 * Built by make, never installed; it exists to measure.
 *
 *   dbbench -c CONF [-n PROCS] [-d SECONDS | -N COUNT] [-r K] [-R RUN]
 *   dbbench --hash-rate [-d SECONDS]
 *
 * Registration i (one shared counter for all processes) uses the openid
 * bench-RUN-floor(i/K): with K > 1 consecutive numbers go to whichever
 * processes are free, so the K copies of an openid run at the same time
 * on different connections, as tests/bench/register.lua sends them.
 * Prints one JSON line.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <mysql.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"

#define PROCS_MAX	1024
#define RESULTS		(REG_INTERNAL + 1)
/* Latency histogram: 64 exact µs buckets, then 32 per power of two. */
#define HIST_SUB	32
#define HIST_BUCKETS	(2 * HIST_SUB + 40 * HIST_SUB)

struct proc_stats {
	uint64_t	 hist[HIST_BUCKETS];
	uint64_t	 results[RESULTS];
	uint64_t	 max_us;
	int64_t		 end_us;	/* when its last registration ended */
};

/* Shared by every process (MAP_SHARED): the counter and the stats. */
struct shared {
	atomic_ulong	 next;		/* the next registration number */
	int64_t		 start_us;
	struct proc_stats proc[];
};

struct args {
	const char	*conf;
	unsigned int	 procs;
	double		 seconds;	/* 0: run until count */
	unsigned long	 count;		/* 0: run until seconds */
	unsigned int	 replays;
	char		 run[64];
	int		 hash_rate;
};

/* Usage: to stdout with status 0 when asked for (--help), else stderr. */
static void __attribute__((__noreturn__))
usage(FILE *fp, int status)
{
	fprintf(fp, "usage: dbbench -c CONF [-n PROCS] [-d SECONDS | "
	    "-N COUNT] [-r K] [-R RUN]\n"
	    "       dbbench --hash-rate [-d SECONDS]\n"
	    "  -c, --config CONF   the pool's regonce config (strategy, "
	    "argon2 cost, DB)\n"
	    "  -n, --procs N       processes, one connection each (1)\n"
	    "  -d, --duration S    run for S seconds (5; 2 for --hash-rate)\n"
	    "  -N, --count N       run N registrations in all instead\n"
	    "  -r, --replays K     each openid registered K times at once (1)\n"
	    "  -R, --run ID        openids are bench-ID-<n> (default: time.pid)\n"
	    "      --hash-rate     pw_hash at the default argon2 cost, one "
	    "process: hashes/s\n");
	exit(status);
}

/* A number in [lo, hi] from the option's text, or exit 2. */
static unsigned long
parse_num(const char *opt, const char *text, unsigned long lo,
    unsigned long hi)
{
	unsigned long	 value;
	char		*end;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || text[0] == '-' ||
	    value < lo || value > hi) {
		fprintf(stderr, "dbbench: %s must be %lu..%lu: %s\n", opt, lo,
		    hi, text);
		exit(2);
	}
	return (value);
}

/* Seconds, a positive decimal, or exit 2. */
static double
parse_seconds(const char *text)
{
	double	 value;
	char	*end;

	errno = 0;
	value = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !(value > 0) ||
	    value > 86400) {
		fprintf(stderr, "dbbench: --duration must be > 0 s: %s\n",
		    text);
		exit(2);
	}
	return (value);
}

/* The histogram bucket of a latency. */
static unsigned int
hist_index(uint64_t us)
{
	unsigned int	msb, shift;

	if (us < 2 * HIST_SUB)
		return ((unsigned int)us);
	msb = 63 - (unsigned int)__builtin_clzll(us);
	shift = msb - 5;		/* keeps 6 bits: 32..63 */
	if (shift > 40)
		return (HIST_BUCKETS - 1);
	return (2 * HIST_SUB + (shift - 1) * HIST_SUB +
	    (unsigned int)((us >> shift) - HIST_SUB));
}

/* The middle of bucket i, in microseconds. */
static double
hist_value(unsigned int i)
{
	unsigned int	shift, mant;

	if (i < 2 * HIST_SUB)
		return (i);
	shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
	mant = (i - 2 * HIST_SUB) % HIST_SUB + HIST_SUB;
	return (((double)mant + 0.5) * (double)(1ULL << shift));
}

/* The p-th percentile (0..100) of a histogram holding n values, in µs. */
static double
hist_percentile(const uint64_t *hist, uint64_t n, double p)
{
	uint64_t	rank, seen = 0;
	unsigned int	i;

	if (n == 0)
		return (0);
	rank = (uint64_t)(p / 100.0 * (double)n + 0.5);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= rank)
			return (hist_value(i));
	}
	return (hist_value(HIST_BUCKETS - 1));
}

/* One process: connect, say ready, wait for go, register in a loop. */
static int
child(const struct args *a, const struct config *cfg, struct shared *sh,
    unsigned int me, int ready_fd, int go_fd)
{
	struct proc_stats	*st = &sh->proc[me];
	struct reg_input	 in;
	struct reg_outcome	 out;
	struct db		*db;
	char			 openid[128], c = 'r';
	unsigned long		 i;
	int64_t			 t0, t1, stop_us;
	uint64_t		 us;

	db = reg_store_new(cfg);
	if (db_connect(db) != DB_OK) {
		fprintf(stderr, "dbbench: process %u: connect: error %u: %s\n",
		    me, db_errno(db), db_error(db));
		return (1);
	}
	/* Ready, then wait for the parent to close go_fd: EOF is the start.
	 * ready_fd is closed, so a process that died is seen as EOF too. */
	if (write(ready_fd, &c, 1) != 1)
		return (1);
	close(ready_fd);
	if (read(go_fd, &c, 1) != 0)
		return (1);
	stop_us = sh->start_us + (int64_t)(a->seconds * 1e6);

	memset(&in, 0, sizeof(in));
	in.username = "bench user";
	in.username_len = strlen(in.username);
	in.password = "bench password";
	in.password_len = strlen(in.password);
	in.openid = openid;
	for (;;) {
		t0 = clock_mono_us();
		if (a->seconds > 0 && t0 >= stop_us)
			break;
		i = atomic_fetch_add(&sh->next, 1);
		if (a->count > 0 && i >= a->count)
			break;
		in.openid_len = (size_t)snprintf(openid, sizeof(openid),
		    "bench-%s-%lu", a->run, i / a->replays);
		reg_user(db, cfg, &in, NULL, DEADLINE_NONE, &out);
		t1 = clock_mono_us();
		us = (uint64_t)(t1 - t0);
		st->hist[hist_index(us)]++;
		if (us > st->max_us)
			st->max_us = us;
		st->results[out.result]++;
		st->end_us = t1;
	}
	db_free(db);
	return (0);
}

/* --hash-rate: pw_hash at config.c's defaults, one process. */
static int
hash_rate(double seconds)
{
	struct config	 cfg;
	char		 hash[PW_HASH_MAX];
	const char	*cause;
	unsigned long	 n = 0;
	int64_t		 t0, elapsed;

	config_defaults(&cfg);
	t0 = clock_mono_us();
	do {
		if (pw_hash(&cfg, "bench password", 14, hash, sizeof(hash),
		    &cause) == -1) {
			fprintf(stderr, "dbbench: pw_hash: %s\n", cause);
			return (1);
		}
		n++;
		elapsed = clock_mono_us() - t0;
	} while (elapsed < (int64_t)(seconds * 1e6));
	printf("{\"hashes\":%lu,\"seconds\":%.3f,\"hashes_per_s\":%.1f,"
	    "\"argon2_memory_kib\":%u,\"argon2_iterations\":%u,"
	    "\"argon2_parallelism\":%u}\n", n, (double)elapsed / 1e6,
	    (double)n * 1e6 / (double)elapsed, cfg.argon2_memory_kib,
	    cfg.argon2_iterations, cfg.argon2_parallelism);
	return (0);
}

/* Add up the processes' stats and print the JSON line. */
static void
report(const struct args *a, const struct config *cfg, struct shared *sh,
    double cpu_ms)
{
	static uint64_t		 hist[HIST_BUCKETS];
	uint64_t		 results[RESULTS] = { 0 }, ops = 0, max_us = 0;
	int64_t			 end_us = sh->start_us;
	unsigned int		 p, i;
	double			 seconds;
	int			 r;

	for (p = 0; p < a->procs; p++) {
		const struct proc_stats *st = &sh->proc[p];

		for (i = 0; i < HIST_BUCKETS; i++)
			hist[i] += st->hist[i];
		for (r = 0; r < RESULTS; r++)
			results[r] += st->results[r];
		if (st->max_us > max_us)
			max_us = st->max_us;
		if (st->end_us > end_us)
			end_us = st->end_us;
	}
	for (r = 0; r < RESULTS; r++)
		ops += results[r];
	seconds = (double)(end_us - sh->start_us) / 1e6;
	if (seconds <= 0)
		seconds = 1e-6;
	printf("{\"run\":\"%s\",\"strategy\":\"%s\",\"procs\":%u,"
	    "\"replays\":%u,\"argon2_memory_kib\":%u,\"argon2_iterations\":%u,"
	    "\"ops\":%llu,\"seconds\":%.3f,\"req_per_s\":%.1f,"
	    "\"reg_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
	    "\"max_ms\":%.3f,\"cpu_ms\":%.0f,\"results\":{", a->run,
	    config_strategy_name(cfg->strategy), a->procs, a->replays,
	    cfg->argon2_memory_kib, cfg->argon2_iterations,
	    (unsigned long long)ops, seconds, (double)ops / seconds,
	    (double)results[REG_CREATED] / seconds,
	    hist_percentile(hist, ops, 50) / 1000,
	    hist_percentile(hist, ops, 99) / 1000, (double)max_us / 1000,
	    cpu_ms);
	for (r = 0, i = 0; r < RESULTS; r++) {
		if (results[r] == 0)
			continue;
		printf("%s\"%s\":%llu", i++ ? "," : "",
		    reg_result_name((enum reg_result)r),
		    (unsigned long long)results[r]);
	}
	printf("}}\n");
}

/* CPU time (user + system) of this process and its reaped children. */
static double
cpu_ms_used(void)
{
	struct rusage	self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return ((double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec +
	    kids.ru_utime.tv_sec + kids.ru_stime.tv_sec) * 1e3 +
	    (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec +
	    kids.ru_utime.tv_usec + kids.ru_stime.tv_usec) / 1e3);
}

/* Fill a from argv, or exit 2 with the usage. */
static void
parse_args(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "procs", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'N' },
		{ "replays", required_argument, NULL, 'r' },
		{ "run", required_argument, NULL, 'R' },
		{ "hash-rate", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	memset(a, 0, sizeof(*a));
	a->procs = 1;
	a->replays = 1;
	snprintf(a->run, sizeof(a->run), "%lx.%ld", (unsigned long)time(NULL),
	    (long)getpid());
	while ((ch = getopt_long(argc, argv, "c:n:d:N:r:R:h", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			a->conf = optarg;
			break;
		case 'n':
			a->procs = (unsigned int)parse_num("--procs", optarg, 1,
			    PROCS_MAX);
			break;
		case 'd':
			a->seconds = parse_seconds(optarg);
			break;
		case 'N':
			a->count = parse_num("--count", optarg, 1, 1000000000UL);
			break;
		case 'r':
			a->replays = (unsigned int)parse_num("--replays", optarg,
			    1, 1000);
			break;
		case 'R':
			/* It goes into openids (ASCII, at most 255 bytes). */
			if (strlen(optarg) >= sizeof(a->run) ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
			    strlen(optarg)) {
				fprintf(stderr, "dbbench: --run: at most 63 of "
				    "[A-Za-z0-9._-]\n");
				exit(2);
			}
			snprintf(a->run, sizeof(a->run), "%s", optarg);
			break;
		case 'H':
			a->hash_rate = 1;
			break;
		case 'h':
			usage(stdout, 0);
		default:
			usage(stderr, 2);
		}
	}
	if (optind != argc)
		usage(stderr, 2);
	if (a->seconds > 0 && a->count > 0) {
		fprintf(stderr, "dbbench: --duration or --count, not both\n");
		exit(2);
	}
	if (a->seconds == 0 && a->count == 0)
		a->seconds = a->hash_rate ? 2 : 5;
	if (!a->hash_rate && a->conf == NULL) {
		fprintf(stderr, "dbbench: --config is required\n");
		usage(stderr, 2);
	}
}

/* Fork the processes, start them together, wait, report. */
int
main(int argc, char **argv)
{
	struct args	 a;
	struct config	 cfg;
	struct shared	*sh;
	char		 err[CONFIG_ERR_MAX], c;
	int		 ready[2], go[2], status, failed = 0;
	unsigned int	 p, n;
	size_t		 size;
	pid_t		 pid;

	parse_args(argc, argv, &a);
	if (a.hash_rate)
		return (hash_rate(a.seconds));
	if (config_load(&cfg, a.conf, CONFIG_ALL, err, sizeof(err)) == -1) {
		fprintf(stderr, "dbbench: %s\n", err);
		return (2);
	}
	/* Warnings and errors only: the worker's one line per request is
	 * its own cost, not the database's. */
	log_open("-", LOG_LEVEL_WARN);
	if (mysql_library_init(0, NULL, NULL) != 0) {
		fprintf(stderr, "dbbench: mysql_library_init failed\n");
		return (1);
	}
	size = sizeof(*sh) + a.procs * sizeof(sh->proc[0]);
	sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (sh == MAP_FAILED) {
		perror("dbbench: mmap");
		return (1);
	}
	memset(sh, 0, size);
	if (pipe(ready) == -1 || pipe(go) == -1) {
		perror("dbbench: pipe");
		return (1);
	}
	for (p = 0; p < a.procs; p++) {
		if ((pid = fork()) == -1) {
			perror("dbbench: fork");
			return (1);
		}
		if (pid == 0) {
			close(ready[0]);
			close(go[1]);
			_exit(child(&a, &cfg, sh, p, ready[1], go[0]));
		}
	}
	close(ready[1]);
	close(go[0]);
	/* Every process connected (or gone: read returns 0 early). */
	for (n = 0; n < a.procs && read(ready[0], &c, 1) == 1; n++)
		continue;
	if (n == a.procs) {
		sh->start_us = clock_mono_us();
		close(go[1]);		/* EOF: everybody starts */
	} else {
		close(go[1]);
		failed = 1;
	}
	while ((pid = wait(&status)) != -1 || errno == EINTR) {
		if (pid != -1 && (!WIFEXITED(status) || WEXITSTATUS(status)))
			failed = 1;
	}
	if (failed) {
		fprintf(stderr, "dbbench: a process failed; no figures\n");
		return (1);
	}
	report(&a, &cfg, sh, cpu_ms_used());
	mysql_library_end();
	return (0);
}
