/*
 * Unit tests for hash_cap.c: no more hashes at once than slots, across
 * processes (each test's "other workers" hold slot files of their own),
 * and a waiter woken by a slot let go (the one it sleeps on, or another),
 * not by its deadline.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "app.h"

static char	dir[PATH_MAX / 2];	/* the slots' folder, not yet made */
static struct config cfg;

/* Slot i's own open file (as another worker has it), or -1. */
static int
slot_open(unsigned int i)
{
	char	name[32];

	snprintf(name, sizeof(name), "hash-%u", i);
	return (slot_file_open(dir, name));
}

/* Another worker's hold on slot i: 0, or -1 (taken, or no file). Plain,
 * for the forked "other worker" too. */
static int
other_takes(unsigned int i, int *fd)
{
	if ((*fd = slot_open(i)) == -1)
		return (-1);
	return (flock(*fd, LOCK_EX | LOCK_NB));
}

/* Is slot i held by someone (this process's hash_cap included)? */
static int
held(unsigned int i)
{
	int	fd, rc;

	assert_true((fd = slot_open(i)) != -1);
	rc = flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	close(fd);
	return (rc);
}

static int64_t
in_ms(int64_t ms)
{
	return (clock_mono_us() / 1000 + ms);
}

static void
test_uncapped(void **state)
{
	struct config	off;

	(void)state;
	config_defaults(&off);
	/* No folder: never a wait, even with no time left. */
	assert_int_equal(hash_cap_take(&off, in_ms(-1)), 0);
	hash_cap_give();
}

static void
test_free_slot(void **state)
{
	(void)state;
	assert_true(hash_cap_slots() >= 1);
	/* A free slot is taken even with no time left to wait. */
	assert_int_equal(hash_cap_take(&cfg, in_ms(-1)), 0);
	assert_true(held(0));
	hash_cap_give();
	assert_false(held(0));
}

/* Every slot held elsewhere: the take fails at its deadline. */
static void
test_all_taken(void **state)
{
	int		fd[256];
	unsigned int	i, n = hash_cap_slots();
	int64_t		deadline;

	(void)state;
	for (i = 0; i < n; i++)
		assert_int_equal(other_takes(i, &fd[i]), 0);
	deadline = in_ms(50);
	errno = 0;
	assert_int_equal(hash_cap_take(&cfg, deadline), -1);
	/* Given up at its deadline, not before, and not for an error. */
	assert_int_equal(errno, EINTR);
	assert_true(deadline_left_ms(deadline) <= 0);
	/* One let go: taken at once. */
	close(fd[n - 1]);
	assert_int_equal(hash_cap_take(&cfg, in_ms(-1)), 0);
	assert_true(held(n - 1));
	hash_cap_give();
	for (i = 0; i + 1 < n; i++)
		close(fd[i]);
}

/*
 * The inode of a file process pid waits to flock (waiting = 1) or holds
 * a flock on (waiting = 0, not_ino: one other than that), per
 * /proc/locks; 0 for none.
 */
static unsigned long
flock_of(pid_t pid, int waiting, unsigned long not_ino)
{
	char		line[256], *p;
	FILE		*fp;
	long		who;
	unsigned long	ino, found = 0;

	if ((fp = fopen("/proc/locks", "r")) == NULL)
		return (0);
	while (found == 0 && fgets(line, sizeof(line), fp) != NULL) {
		p = strstr(line, "FLOCK");
		if (p == NULL || (strstr(line, "->") != NULL) != waiting)
			continue;
		if (sscanf(p, "FLOCK %*s %*s %ld %*x:%*x:%lu", &who,
		    &ino) == 2 && who == pid && ino != not_ino)
			found = ino;
	}
	fclose(fp);
	return (found);
}

/* Await (bounded: not a timing, so a take that never comes fails the
 * test instead of hanging it) flock_of(...) != 0. */
static unsigned long
await_flock(pid_t pid, int waiting, unsigned long not_ino)
{
	unsigned long	ino;
	int		i;

	for (i = 0; i < 30000; i++) {
		if ((ino = flock_of(pid, waiting, not_ino)) != 0)
			return (ino);
		usleep(1000);
	}
	return (0);
}

/*
 * The "other worker" of the next tests, in a child: holds every slot,
 * says so on ready, awaits the parent waiting on one, then lets go of
 * all of them (all = 1), or of one the parent is not waiting on and
 * awaits the parent holding that one while it still holds the rest.
 * Exit 0 when that came, 1 if not. Plain checks and _exit: cmocka's
 * asserts belong to the parent.
 */
static void
other_worker(unsigned int n, int all, int ready)
{
	struct stat	st;
	unsigned long	ino;
	unsigned int	i;
	int		fd[256];

	for (i = 0; i < n; i++)
		if (other_takes(i, &fd[i]) == -1)
			_exit(2);
	if (write(ready, "x", 1) != 1)
		_exit(2);
	if ((ino = await_flock(getppid(), 1, 0)) == 0)
		_exit(1);
	if (all)
		_exit(0);
	for (i = 0; i < n; i++)
		if (fstat(fd[i], &st) == 0 && st.st_ino != ino) {
			close(fd[i]);
			break;
		}
	/* Taken while the slot it slept on is still ours. */
	_exit(await_flock(getppid(), 0, ino) != 0 ? 0 : 1);
}

/* Run other_worker(all) against a take; the slot is held until the
 * child has seen what it awaits. */
static void
take_against_other(int all)
{
	int		ready[2], status;
	unsigned int	n = hash_cap_slots();
	pid_t		pid;
	char		c;

	assert_int_equal(pipe(ready), 0);
	if ((pid = fork()) == 0)
		other_worker(n, all, ready[1]);
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(hash_cap_take(&cfg, in_ms(600000)), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	hash_cap_give();
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(ready[0]);
}

/* Every slot held by another worker: the take waits in the kernel and
 * gets one when they are let go. */
static void
test_woken(void **state)
{
	(void)state;
	take_against_other(1);
}

/* A slot let go other than the one the take sleeps on: it is found (the
 * waiter looks at every slot again), not left idle until the deadline. */
static void
test_other_slot(void **state)
{
	(void)state;
	if (hash_cap_slots() < 2)
		skip();
	take_against_other(0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uncapped),
		cmocka_unit_test(test_free_slot),
		cmocka_unit_test(test_all_taken),
		cmocka_unit_test(test_woken),
		cmocka_unit_test(test_other_slot),
	};
	char	tmp[] = "/tmp/test_hash_cap.XXXXXX", rm[PATH_MAX + 16];
	int	rc;

	if (mkdtemp(tmp) == NULL)
		return (1);
	/* A folder the first take makes. */
	snprintf(dir, sizeof(dir), "%s/slots", tmp);
	config_defaults(&cfg);
	snprintf(cfg.hash_cap_dir, sizeof(cfg.hash_cap_dir), "%s", dir);
	log_open("-", LOG_LEVEL_ERROR);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(rm, sizeof(rm), "rm -rf %s", tmp);
	if (system(rm) != 0)
		rc = 1;
	return (rc);
}
