/*
 * Unit tests for hash_cap.c: no more hashes at once than slots, across
 * processes (each test's "other workers" hold slot files of their own),
 * and a waiter woken by a slot let go, not by its deadline.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "app.h"

static char	dir[PATH_MAX / 2];	/* the slots' folder, not yet made */
static struct config cfg;

/* Another worker's hold on slot i: its own open file, locked. */
static int
other_takes(unsigned int i)
{
	char	path[PATH_MAX];
	int	fd;

	snprintf(path, sizeof(path), "%s/hash-%u", dir, i);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd != -1);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	return (fd);
}

/* Is slot i held by someone (this process's hash_cap included)? */
static int
held(unsigned int i)
{
	char	path[PATH_MAX];
	int	fd, rc;

	snprintf(path, sizeof(path), "%s/hash-%u", dir, i);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd != -1);
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

	(void)state;
	for (i = 0; i < n; i++)
		fd[i] = other_takes(i);
	assert_int_equal(hash_cap_take(&cfg, in_ms(50)), -1);
	/* One let go: taken at once. */
	close(fd[n - 1]);
	assert_int_equal(hash_cap_take(&cfg, in_ms(-1)), 0);
	assert_true(held(n - 1));
	hash_cap_give();
	for (i = 0; i + 1 < n; i++)
		close(fd[i]);
}

/* Does /proc/locks show process pid waiting for a flock? */
static int
flock_waiter(pid_t pid)
{
	char	line[256], *p;
	FILE	*fp;
	long	who;
	int	found = 0;

	if ((fp = fopen("/proc/locks", "r")) == NULL)
		return (0);
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		found = (p = strstr(line, "-> FLOCK")) != NULL &&
		    sscanf(p, "-> FLOCK %*s %*s %ld", &who) == 1 && who == pid;
	fclose(fp);
	return (found);
}

/*
 * Every slot held by a child; the take waits in the kernel, with a
 * deadline far off, and gets a slot when the child lets go of them (once
 * it sees the waiter in /proc/locks).
 */
static void
test_woken(void **state)
{
	int		ready[2], status;
	unsigned int	i, n = hash_cap_slots();
	pid_t		pid;
	char		c;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	if ((pid = fork()) == 0) {
		for (i = 0; i < n; i++)
			(void)other_takes(i);
		(void)write(ready[1], "x", 1);
		/* Not a timing: a bound, so a take that never waits fails
		 * the test instead of hanging it. */
		for (i = 0; i < 30000 && !flock_waiter(getppid()); i++)
			usleep(1000);
		_exit(i < 30000 ? 0 : 1);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(hash_cap_take(&cfg, in_ms(600000)), 0);
	hash_cap_give();
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(ready[0]);
	close(ready[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uncapped),
		cmocka_unit_test(test_free_slot),
		cmocka_unit_test(test_all_taken),
		cmocka_unit_test(test_woken),
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
