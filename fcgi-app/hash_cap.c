/*
 * At most as many password hashes at once as the host has cores, across
 * every worker sharing hash_cap_dir. An argon2id hash at the shipped cost
 * works through 19 MiB: eight at once on two cores evict each other from
 * the cache and together do about 0.86 of the work of two
 * (doc/benchmarks.md), and a pool has more workers than cores so that
 * lock waits do not idle it. A hash waits for a slot instead.
 *
 * Slots are files locked with flock (slot_file.c), as db_cap.c's. A worker
 * that finds none free sleeps in the kernel on one of them (its own pick,
 * so waiters spread over the slots) and wakes when it is let go, to look
 * at them all again now and then, or when the request's time is up. The
 * cap only saves CPU: a folder that cannot be used is logged once and
 * the hash runs uncapped.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "app.h"

#define HASH_CAP_MAX	256	/* slot files at most, whatever the host */
#define HASH_CAP_LOOK_MS 20	/* a waiter looks at every slot this often */

static int		cap_fd[HASH_CAP_MAX];	/* the slot files, opened once */
static unsigned int	cap_open;		/* how many of them are open */
static int		cap_held = -1;		/* the slot held, or -1 */
static int		cap_logged;		/* the folder's failure, said */
static unsigned int	cap_turn;		/* the next slot to wait on */

/* How many hashes may run at once: the CPUs this process may run on. */
unsigned int
hash_cap_slots(void)
{
	static unsigned int	slots;
	cpu_set_t		set;
	int			n;

	if (slots != 0)
		return (slots);
	CPU_ZERO(&set);
	n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) :
	    (int)sysconf(_SC_NPROCESSORS_ONLN);
	slots = n < 1 ? 1 : n > HASH_CAP_MAX ? HASH_CAP_MAX : (unsigned int)n;
	return (slots);
}

/* The folder or a flock failed: said once, and this hash runs uncapped
 * (the next tries again: a full file table passes). */
static int
hash_cap_uncapped(const struct config *cfg)
{
	if (!cap_logged)
		log_error("hash_cap_dir %s: %s; password hashes run uncapped",
		    cfg->hash_cap_dir, strerror(errno));
	cap_logged = 1;
	return (0);
}

/* Open the slot files not yet open: 0 when all n are. */
static int
hash_cap_open(const struct config *cfg, unsigned int n)
{
	char	name[32];
	int	fd;

	for (; cap_open < n; cap_open++) {
		snprintf(name, sizeof(name), "hash-%u", cap_open);
		if ((fd = slot_file_open(cfg->hash_cap_dir, name)) == -1)
			return (-1);
		cap_fd[cap_open] = fd;
	}
	return (0);
}

/*
 * Hold a slot before hashing: 0 once held (or when hashes are not
 * capped, or the folder fails), -1 (errno EINTR) when none came free
 * before deadline. A waiter sleeps on one slot (each worker its own pick)
 * and looks at them all again every HASH_CAP_LOOK_MS, so a slot let go
 * elsewhere is not left idle for long.
 */
int
hash_cap_take(const struct config *cfg, int64_t deadline)
{
	unsigned int	i, n = hash_cap_slots();
	int64_t		left;

	if (cfg->hash_cap_dir[0] == '\0')
		return (0);
	if (hash_cap_open(cfg, n) == -1)
		return (hash_cap_uncapped(cfg));
	for (;;) {
		for (i = 0; i < n; i++)
			if (flock(cap_fd[i], LOCK_EX | LOCK_NB) == 0) {
				cap_held = (int)i;
				return (0);
			}
		if ((left = deadline_left_ms(deadline)) <= 0) {
			errno = EINTR;
			return (-1);
		}
		i = (unsigned int)(getpid() + cap_turn++) % n;
		if (slot_file_lock(cap_fd[i], left > HASH_CAP_LOOK_MS ?
		    clock_mono_us() / 1000 + HASH_CAP_LOOK_MS : deadline) == 0) {
			cap_held = (int)i;
			return (0);
		}
		if (errno != EINTR)
			return (hash_cap_uncapped(cfg));
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
