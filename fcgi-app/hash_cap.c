/*
 * At most as many password hashes at once as the host has cores, across
 * every worker sharing hash_cap_dir. An argon2id hash at the shipped cost
 * works through 19 MiB: eight at once on two cores evict each other from
 * the cache and together do about 0.86 of the work of two
 * (doc/benchmarks.md), and a pool has more workers than cores so that
 * lock waits do not idle it. A hash waits for a slot instead.
 *
 * Slots are files, locked with flock, as db_cap.c's: a dead worker's slot
 * is freed with its descriptors, and they work under suexec. A worker
 * that finds none free sleeps in the kernel on one of them (its own pick,
 * so waiters spread over the slots) and wakes when it is let go, or when
 * the request's time is up. The cap only saves CPU: a folder that cannot
 * be used is logged once and the hash runs uncapped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"

#define HASH_CAP_MAX	256	/* slot files at most, whatever the host */

static int		cap_fd[HASH_CAP_MAX];	/* slot i's file, or -1 */
static unsigned int	cap_slots;		/* 0: not yet counted */
static int		cap_held = -1;		/* the slot held, or -1 */
static int		cap_broken;		/* the folder failed: uncapped */
static unsigned int	cap_turn;		/* the next slot to wait on */

/* How many hashes may run at once: the CPUs this process may run on. */
unsigned int
hash_cap_slots(void)
{
	cpu_set_t	set;
	int		n;

	if (cap_slots != 0)
		return (cap_slots);
	CPU_ZERO(&set);
	n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) :
	    (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	cap_slots = n > HASH_CAP_MAX ? HASH_CAP_MAX : (unsigned int)n;
	for (n = 0; n < HASH_CAP_MAX; n++)
		cap_fd[n] = -1;
	return (cap_slots);
}

/* Slot i's file, opened once (created 0600, the folder 0700 if missing). */
static int
hash_cap_file(const struct config *cfg, unsigned int i)
{
	char	path[PATH_MAX];

	if (cap_fd[i] != -1)
		return (cap_fd[i]);
	if (snprintf(path, sizeof(path), "%s/hash-%u", cfg->hash_cap_dir, i) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	cap_fd[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (cap_fd[i] == -1 && errno == ENOENT &&
	    mkdir(cfg->hash_cap_dir, 0700) == 0)
		cap_fd[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	return (cap_fd[i]);
}

/*
 * Hold a slot before hashing: 0 once held (or when hashes are not
 * capped), -1 when none came free before deadline.
 */
int
hash_cap_take(const struct config *cfg, int64_t deadline)
{
	unsigned int	i, n;
	int		fd;

	if (cfg->hash_cap_dir[0] == '\0' || cap_broken || cap_held != -1)
		return (0);
	n = hash_cap_slots();
	for (i = 0; i < n; i++) {
		if ((fd = hash_cap_file(cfg, i)) == -1) {
			log_error("hash_cap_dir %s: %s; password hashes run "
			    "uncapped", cfg->hash_cap_dir, strerror(errno));
			cap_broken = 1;
			return (0);
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			cap_held = (int)i;
			return (0);
		}
	}
	/* All taken: wait on one, each worker starting at its own. */
	i = (unsigned int)(getpid() + cap_turn++) % n;
	if (deadline_flock(cap_fd[i], deadline) == -1)
		return (-1);
	cap_held = (int)i;
	return (0);
}

/* Give the slot back (the file stays open for the next hash). */
void
hash_cap_give(void)
{
	if (cap_held != -1) {
		flock(cap_fd[cap_held], LOCK_UN);
		cap_held = -1;
	}
}
