/*
 * Metrics: counters for the whole pool, not one process. The workers are
 * separate processes, so each claims a slot in a file every worker maps
 * MAP_SHARED (metrics_file) and counts there with relaxed atomic adds: no
 * lock, no syscall, no allocation on the request path. A scrape sums
 * every slot. A slot whose worker died is claimed again with its counts
 * kept, so the pool's sums never go back when the supervisor respawns one.
 *
 * File: a header (magic, layout version, slot count, sizes), then
 * METRICS_SLOTS slots, then one overflow slot that every worker without a
 * slot of its own shares (atomic adds make that safe; only the live
 * workers gauge misses them).
 */
#include "config.h"

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"

#define METRICS_MAGIC	"regonceM"
#define METRICS_LAYOUT	2	/* bump on any change to the structs below */
#define METRICS_OPEN_TRIES 5

struct metrics_header {
	char		 magic[8];
	uint32_t	 layout;
	uint32_t	 slots;
	uint32_t	 slot_size;
	uint32_t	 results;
	uint32_t	 buckets;
	uint32_t	 counters;
} __attribute__((aligned(64)));

struct metrics_slot {
	_Atomic int	 pid;			/* 0: free */
	_Atomic uint64_t counter[METRIC__COUNT];
	_Atomic uint64_t requests[METRICS_RESULTS];
	_Atomic uint64_t duration[METRICS_BUCKETS + 1];	/* last: +Inf */
	_Atomic uint64_t duration_us;
} __attribute__((aligned(64)));		/* a cache line of its own */

struct metrics_file {
	struct metrics_header	hdr;
	struct metrics_slot	slot[METRICS_SLOTS + 1];	/* + overflow */
};

/* Upper bounds of the latency buckets, in microseconds. */
static const uint64_t metrics_bounds_us[METRICS_BUCKETS] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
	2500000, 5000000, 10000000
};

/* Without a file, counts go here: the hot path never tests for "off". */
static struct metrics_slot	 metrics_local;
static struct metrics_slot	*metrics_mine = &metrics_local;
static struct metrics_file	*metrics_map;
static int			 metrics_index = -1;

/* Is the header the one this build writes? */
static int
metrics_header_ok(const struct metrics_header *hdr)
{
	return (memcmp(hdr->magic, METRICS_MAGIC, sizeof(hdr->magic)) == 0 &&
	    hdr->layout == METRICS_LAYOUT && hdr->slots == METRICS_SLOTS &&
	    hdr->slot_size == sizeof(struct metrics_slot) &&
	    hdr->results == METRICS_RESULTS &&
	    hdr->buckets == METRICS_BUCKETS && hdr->counters == METRIC__COUNT);
}

/* Is the open fd still the file at path (not unlinked by a peer)? */
static int
metrics_same_file(int fd, const char *path)
{
	struct stat	a, b;

	return (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

/*
 * Map the file at path, creating and initialising it if new. Workers
 * starting at once serialise on flock(); a file of another layout (an
 * upgrade) is unlinked and made anew, so workers of the old build keep
 * their mapping of the old inode and never see the new layout. NULL with
 * *why set on failure.
 */
static struct metrics_file *
metrics_map_file(const char *path, const char **why)
{
	struct metrics_file	*map;
	struct stat		 st;
	int			 fd, tries;

	for (tries = 0; tries < METRICS_OPEN_TRIES; tries++) {
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) == -1 ||
		    flock(fd, LOCK_EX) == -1 || fstat(fd, &st) == -1) {
			*why = strerror(errno);
			goto fail;
		}
		if (!metrics_same_file(fd, path)) {
			close(fd);	/* a peer replaced it: open the new one */
			continue;
		}
		if (st.st_size == 0 &&
		    ftruncate(fd, sizeof(struct metrics_file)) == -1) {
			*why = strerror(errno);
			goto fail;
		}
		if (st.st_size != 0 && st.st_size != sizeof(*map)) {
			log_warn("metrics_file %s has another size (%lld bytes, "
			    "not %zu): another layout; making it anew", path,
			    (long long)st.st_size, sizeof(*map));
			unlink(path);
			close(fd);
			continue;
		}
		map = mmap(NULL, sizeof(*map), PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			*why = strerror(errno);
			goto fail;
		}
		if (st.st_size == 0) {
			/* New: ftruncate zeroed it; the header goes last. */
			map->hdr.layout = METRICS_LAYOUT;
			map->hdr.slots = METRICS_SLOTS;
			map->hdr.slot_size = sizeof(struct metrics_slot);
			map->hdr.results = METRICS_RESULTS;
			map->hdr.buckets = METRICS_BUCKETS;
			map->hdr.counters = METRIC__COUNT;
			memcpy(map->hdr.magic, METRICS_MAGIC,
			    sizeof(map->hdr.magic));
		} else if (!metrics_header_ok(&map->hdr)) {
			log_warn("metrics_file %s has another layout (version "
			    "%u, this build writes %u); making it anew", path,
			    map->hdr.layout, METRICS_LAYOUT);
			munmap(map, sizeof(*map));
			unlink(path);
			close(fd);
			continue;
		}
		/* Unlock first: the mapping holds the open file, and with it
		 * the lock, past close(). */
		flock(fd, LOCK_UN);
		close(fd);
		return (map);
	}
	*why = "it keeps being replaced";
	return (NULL);
fail:
	if (fd != -1)
		close(fd);
	return (NULL);
}

/* Is pid a process that can still count? EPERM: alive, someone else's. */
static int
metrics_pid_alive(int pid)
{
	return (pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH));
}

/*
 * Claim a slot for this process: a free one, or one whose owner is dead
 * (its counts stay: they are the pool's). -1 if none.
 */
static int
metrics_claim(struct metrics_file *map, int self)
{
	int	i, owner;

	for (i = 0; i < METRICS_SLOTS; i++) {
		owner = atomic_load(&map->slot[i].pid);
		if (owner == self)
			return (i);	/* a dead worker's pid, reused: ours */
		if (owner != 0 && metrics_pid_alive(owner))
			continue;
		/* Two claimants of one dead slot: the CAS picks one. */
		if (atomic_compare_exchange_strong(&map->slot[i].pid, &owner,
		    self))
			return (i);
	}
	return (-1);
}

/*
 * Count for the pool in the file at path ("" : metrics off, counts stay
 * in this process). 0, or -1 if it cannot be used (logged; metrics off).
 */
int
metrics_open(const char *path)
{
	const char	*why = NULL;

	if (path == NULL || *path == '\0')
		return (0);
	if ((metrics_map = metrics_map_file(path, &why)) == NULL) {
		log_error("metrics_file %s: %s; metrics are off", path, why);
		return (-1);
	}
	metrics_index = metrics_claim(metrics_map, (int)getpid());
	if (metrics_index == -1) {
		log_warn("metrics_file %s: all %d slots belong to live "
		    "workers; this one counts in the shared overflow slot",
		    path, METRICS_SLOTS);
		metrics_mine = &metrics_map->slot[METRICS_SLOTS];
	} else
		metrics_mine = &metrics_map->slot[metrics_index];
	log_debug("metrics: slot %d in %s", metrics_index, path);
	return (0);
}

/* Give the slot back at a clean exit; its counts stay in the file. */
void
metrics_close(void)
{
	int	self = (int)getpid();

	if (metrics_map == NULL)
		return;
	if (metrics_index != -1)
		atomic_compare_exchange_strong(&metrics_map->slot[metrics_index].pid,
		    &self, 0);
	munmap(metrics_map, sizeof(*metrics_map));
	metrics_map = NULL;
	metrics_mine = &metrics_local;
	metrics_index = -1;
}

/* Does a file hold the pool's counts (else /metrics has nothing to say)? */
int
metrics_on(void)
{
	return (metrics_map != NULL);
}

/* This process's slot, -1 for the overflow slot or none. */
int
metrics_slot(void)
{
	return (metrics_index);
}

/* Add n to a counter of this worker's slot. */
void
metrics_add(enum metric id, uint64_t n)
{
	atomic_fetch_add_explicit(&metrics_mine->counter[id], n,
	    memory_order_relaxed);
}

/* Count one. */
void
metrics_count(enum metric id)
{
	metrics_add(id, 1);
}

/* A GET_LOCK call that began at since (clock_mono_us) has returned. */
void
metrics_lock_waited(int64_t since)
{
	int64_t	waited = clock_mono_us() - since;

	metrics_count(METRIC_LOCK_WAITS);
	metrics_add(METRIC_LOCK_WAIT_US, waited > 0 ? (uint64_t)waited : 0);
}

/* A failed DB call, by the class db_classify gave it. */
void
metrics_db_error(enum db_status st)
{
	switch (st) {
	case DB_DUPLICATE:
		metrics_count(METRIC_DB_DUPLICATE);
		break;
	case DB_RETRY:
		metrics_count(METRIC_DB_RETRY);
		break;
	case DB_LOST:
		metrics_count(METRIC_DB_LOST);
		break;
	default:
		metrics_count(METRIC_DB_ERROR);
		break;
	}
}

/*
 * One answered request: result is the caller's index (< METRICS_RESULTS),
 * us its duration, or -1 to leave it out of the histogram.
 */
void
metrics_request(unsigned int result, int64_t us)
{
	unsigned int	b;

	if (result >= METRICS_RESULTS)
		return;
	atomic_fetch_add_explicit(&metrics_mine->requests[result], 1,
	    memory_order_relaxed);
	if (us < 0)
		return;
	for (b = 0; b < METRICS_BUCKETS && (uint64_t)us > metrics_bounds_us[b];
	    b++)
		continue;
	atomic_fetch_add_explicit(&metrics_mine->duration[b], 1,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&metrics_mine->duration_us, (uint64_t)us,
	    memory_order_relaxed);
}

/* The pool's sums: every slot, the overflow one included. */
static void
metrics_sum(struct metrics_slot *sum, unsigned int *live)
{
	const struct metrics_slot	*slot;
	size_t				 i, j, n = 1;

	memset(sum, 0, sizeof(*sum));
	*live = 0;
	slot = &metrics_local;
	if (metrics_map != NULL) {
		slot = metrics_map->slot;
		n = METRICS_SLOTS + 1;
	}
	for (i = 0; i < n; i++, slot++) {
		if (i < METRICS_SLOTS && metrics_pid_alive(atomic_load(
		    &slot->pid)))
			(*live)++;
#define SUM(field) (sum->field += atomic_load_explicit(&slot->field, \
	memory_order_relaxed))
		for (j = 0; j < METRIC__COUNT; j++)
			SUM(counter[j]);
		for (j = 0; j < METRICS_RESULTS; j++)
			SUM(requests[j]);
		for (j = 0; j <= METRICS_BUCKETS; j++)
			SUM(duration[j]);
		SUM(duration_us);
#undef SUM
	}
}

/* The requests this process alone counted (its slot, or none). */
static uint64_t
metrics_own_requests(void)
{
	uint64_t	n = 0;
	size_t		i;

	for (i = 0; i < METRICS_RESULTS; i++)
		n += atomic_load_explicit(&metrics_mine->requests[i],
		    memory_order_relaxed);
	return (n);
}

/* "# HELP" and "# TYPE" of one family. */
static void
metrics_family(FILE *fp, const char *name, const char *type,
    const char *help)
{
	fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample without labels. */
static void
metrics_sample(FILE *fp, const char *name, const char *type,
    const char *help, uint64_t value)
{
	metrics_family(fp, name, type, help);
	fprintf(fp, "%s %llu\n", name, (unsigned long long)value);
}

#define SECONDS(us)	((unsigned long long)(us) / 1000000), \
	((unsigned long long)(us) % 1000000)

/*
 * The pool's metrics in the Prometheus text format 0.0.4, in a string to
 * free; NULL: out of memory. results names each request result index
 * (name and HTTP code): the web layer owns those.
 */
char *
metrics_render(const struct metrics_result *results, size_t nresults,
    size_t *len)
{
	struct metrics_slot	 sum;
	FILE			*fp;
	char			*text = NULL;
	uint64_t		 cumulative = 0;
	unsigned int		 live, i;

	if ((fp = open_memstream(&text, len)) == NULL)
		return (NULL);
	metrics_sum(&sum, &live);
#define V(field)	((unsigned long long)atomic_load(&sum.field))
	metrics_family(fp, "regonce_requests_total", "counter",
	    "Requests answered, by result and HTTP status code.");
	for (i = 0; i < nresults && i < METRICS_RESULTS; i++)
		fprintf(fp, "regonce_requests_total{result=\"%s\",code=\"%s\"} "
		    "%llu\n", results[i].name, results[i].code, V(requests[i]));
	metrics_family(fp, "regonce_request_duration_seconds", "histogram",
	    "Time from accepting a request to its answer being written "
	    "(scrapes of /metrics left out).");
	for (i = 0; i < METRICS_BUCKETS; i++) {
		cumulative += V(duration[i]);
		fprintf(fp, "regonce_request_duration_seconds_bucket{le=\"%g\"} "
		    "%llu\n", (double)metrics_bounds_us[i] / 1e6,
		    (unsigned long long)cumulative);
	}
	cumulative += V(duration[METRICS_BUCKETS]);
	fprintf(fp, "regonce_request_duration_seconds_bucket{le=\"+Inf\"} "
	    "%llu\n", (unsigned long long)cumulative);
	fprintf(fp, "regonce_request_duration_seconds_sum %llu.%06llu\n",
	    SECONDS(V(duration_us)));
	fprintf(fp, "regonce_request_duration_seconds_count %llu\n",
	    (unsigned long long)cumulative);
	metrics_family(fp, "regonce_registrations_total", "counter",
	    "Registrations decided: a new user, or an openid already there.");
	fprintf(fp, "regonce_registrations_total{outcome=\"created\"} %llu\n"
	    "regonce_registrations_total{outcome=\"exists\"} %llu\n",
	    V(counter[METRIC_REG_CREATED]), V(counter[METRIC_REG_EXISTS]));
	metrics_sample(fp, "regonce_idempotency_replays_total", "counter",
	    "Stored answers replayed for a repeated Idempotency-Key.",
	    V(counter[METRIC_IDEM_REPLAYS]));
	metrics_sample(fp, "regonce_lock_waits_total", "counter",
	    "GET_LOCK calls for an openid's named lock.",
	    V(counter[METRIC_LOCK_WAITS]));
	metrics_family(fp, "regonce_lock_wait_seconds_total", "counter",
	    "Time spent in those calls (their round trips).");
	fprintf(fp, "regonce_lock_wait_seconds_total %llu.%06llu\n",
	    SECONDS(V(counter[METRIC_LOCK_WAIT_US])));
	metrics_sample(fp, "regonce_lock_busy_total", "counter",
	    "GET_LOCK calls that timed out: another registration of the "
	    "openid held the lock.", V(counter[METRIC_LOCK_BUSY]));
	metrics_sample(fp, "regonce_retries_total", "counter",
	    "Registration attempts started again after a deadlock, lock wait "
	    "timeout or lost connection.", V(counter[METRIC_RETRIES]));
	metrics_family(fp, "regonce_db_errors_total", "counter",
	    "Failed database calls, by class (duplicate, retry, lost, error).");
	fprintf(fp, "regonce_db_errors_total{class=\"duplicate\"} %llu\n"
	    "regonce_db_errors_total{class=\"retry\"} %llu\n"
	    "regonce_db_errors_total{class=\"lost\"} %llu\n"
	    "regonce_db_errors_total{class=\"error\"} %llu\n",
	    V(counter[METRIC_DB_DUPLICATE]), V(counter[METRIC_DB_RETRY]),
	    V(counter[METRIC_DB_LOST]), V(counter[METRIC_DB_ERROR]));
	metrics_sample(fp, "regonce_db_round_trips_total", "counter",
	    "Statement round trips to the database: text queries (a pair "
	    "sent together counts once) and prepared executions, a new "
	    "session's setup among them; not the connect itself, prepares "
	    "or pings.",
	    V(counter[METRIC_DB_ROUND_TRIPS]));
	metrics_sample(fp, "regonce_password_hashes_total", "counter",
	    "Password hashes computed (argon2id): one per new registration, "
	    "none for a copy that finds the row.",
	    V(counter[METRIC_PASSWORD_HASHES]));
	metrics_sample(fp, "regonce_workers", "gauge",
	    "Workers alive that hold a slot in metrics_file.", live);
	/* Which worker answered, and what it alone counted: a comment,
	 * which scrapers ignore; the tests show the sums are the pool's. */
	fprintf(fp, "# regonce worker pid %d slot %d requests %llu\n",
	    (int)getpid(), metrics_index, (unsigned long long)
	    metrics_own_requests());
#undef V
	if (fclose(fp) != 0) {
		free(text);
		return (NULL);
	}
	return (text);
}
