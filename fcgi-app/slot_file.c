/*
 * Slot files: the pool-wide caps (db_cap.c on connections, hash_cap.c on
 * hashes) count in files every worker opens in one folder and locks with
 * flock. Files and flock, not shared memory: they work the same under
 * suexec, across processes that share nothing else, and the kernel frees
 * a dead worker's slot with its descriptors.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "app.h"

/*
 * Open (creating, 0600: the owner's alone) file name in folder dir. The
 * first worker makes the folder (0700); workers starting together (after
 * a boot empties /run) may race to, and all get it.
 */
int
slot_file_open(const char *dir, const char *name)
{
	char	path[PATH_MAX];
	int	fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1 && errno == ENOENT &&
	    (mkdir(dir, 0700) == 0 || errno == EEXIST))
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	return (fd);
}

#define FLOCK_TICK_MS	10	/* the alarm repeats this often */

/* SIGALRM only ends a blocking flock (no SA_RESTART). */
static void
slot_file_on_alarm(int signo)
{
	(void)signo;
}

/*
 * flock(fd, LOCK_EX), waiting in the kernel (woken the moment the holder
 * lets go), no longer than deadline. 0 held; -1 not (errno EINTR: the
 * deadline came first; else flock's own error). The alarm repeats until
 * the wait ends: a first one that came before flock slept (a preempted
 * worker, a deadline a few ms away) must not leave it waiting for good.
 */
int
slot_file_lock(int fd, int64_t deadline)
{
	struct sigaction	sa, old;
	struct itimerval	timer, off;
	sigset_t		alrm, mask;
	int64_t			left;
	int			rc, saved;

	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return (0);
	if (errno != EWOULDBLOCK)
		return (-1);
	if ((left = deadline_left_ms(deadline)) <= 0) {
		errno = EINTR;
		return (-1);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = slot_file_on_alarm;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, &old) == -1)
		return (-1);
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &alrm, &mask);
	memset(&timer, 0, sizeof(timer));
	memset(&off, 0, sizeof(off));
	if (left > 3600000)
		left = 3600000;
	timer.it_value.tv_sec = (time_t)(left / 1000);
	timer.it_value.tv_usec = (suseconds_t)(left % 1000) * 1000;
	timer.it_interval.tv_usec = FLOCK_TICK_MS * 1000;
	setitimer(ITIMER_REAL, &timer, NULL);
	/* Another signal may end it early too: wait on until the deadline. */
	while ((rc = flock(fd, LOCK_EX)) == -1 && errno == EINTR &&
	    deadline_left_ms(deadline) > 0)
		continue;
	saved = errno;
	setitimer(ITIMER_REAL, &off, NULL);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	sigaction(SIGALRM, &old, NULL);
	errno = saved;
	return (rc);
}
