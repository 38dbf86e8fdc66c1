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
 * so waiters spread over the slots) and wakes when it is let go, to look
 * at them all again now and then, or when the request's time is up. The
 * cap only saves CPU: a folder that cannot be used is logged once and
 * the hash runs uncapped.
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
#define HASH_CAP_LOOK_MS 20	/* a waiter looks at every slot this often */

static int		cap_fd[HASH_CAP_MAX];	/* slot i's file, or -1 */
static unsigned int	cap_slots;		/* 0: not yet counted */
static int		cap_held = -1;		/* the slot held, or -1 */
static int		cap_logged;		/* the folder's failure, said */
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

/*
 * Slot i's file, opened once (created 0600; the folder 0700, by whichever
 * worker comes first: they start together after a boot empties /run).
 */
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
	    (mkdir(cfg->hash_cap_dir, 0700) == 0 || errno == EEXIST))
		cap_fd[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	return (cap_fd[i]);
}

/* The folder failed: said once, and this hash runs uncapped (the next
 * tries again: a full file table passes). */
static int
hash_cap_failed(const struct config *cfg)
{
	if (!cap_logged)
		log_error("hash_cap_dir %s: %s; password hashes run uncapped",
		    cfg->hash_cap_dir, strerror(errno));
	cap_logged = 1;
	return (0);
}

/*
 * Hold a slot before hashing: 0 once held (or when hashes are not
 * capped, or the folder fails), -1 when none came free before deadline.
 * A waiter sleeps on one slot (each worker its own pick) and looks at
 * them all again every HASH_CAP_LOOK_MS, so a slot let go elsewhere is
 * not left idle for long.
 */
int
hash_cap_take(const struct config *cfg, int64_t deadline)
{
	unsigned int	i, n;
	int64_t		step;

	if (cfg->hash_cap_dir[0] == '\0' || cap_held != -1)
		return (0);
	n = hash_cap_slots();
	for (;;) {
		for (i = 0; i < n; i++) {
			if (hash_cap_file(cfg, i) == -1)
				return (hash_cap_failed(cfg));
			if (flock(cap_fd[i], LOCK_EX | LOCK_NB) == 0) {
				cap_held = (int)i;
				return (0);
			}
		}
		if (deadline_left_ms(deadline) <= 0) {
			errno = EINTR;
			return (-1);
		}
		i = (unsigned int)(getpid() + cap_turn++) % n;
		step = clock_mono_us() / 1000 + HASH_CAP_LOOK_MS;
		if (deadline != DEADLINE_NONE && deadline < step)
			step = deadline;
		if (deadline_flock(cap_fd[i], step) == 0) {
			cap_held = (int)i;
			return (0);
		}
		if (errno != EINTR)
			return (hash_cap_failed(cfg));
	}
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
