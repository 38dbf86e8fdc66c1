/*
 * Time budgets. A request gets one deadline on the monotonic clock, fixed
 * from when the web server received it; every wait below (connect, each
 * read and write, the named lock, back-off between attempts) is cut to
 * what is left, so the worker answers before the web server gives up;
 * a wait for a slot file's flock too (deadline_flock). The monotonic
 * clock itself is read here, for everyone (metrics, the back-off's
 * jitter, the tools' timings).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <time.h>

#include "app.h"

/* Microseconds on the monotonic clock (vDSO: no system call). */
int64_t
clock_mono_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

/* Milliseconds on the wall clock, as the web server stamps arrivals. */
static int64_t
clock_wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * The deadline of a request the web server received at arrived_ms (wall
 * clock; 0 when it did not say) with budget_ms to spend. An arrival in
 * the future (clocks apart, or a forged value) counts as now.
 */
int64_t
deadline_at(int64_t arrived_ms, unsigned int budget_ms)
{
	int64_t	wall = clock_wall_ms(), mono = clock_mono_us() / 1000;

	if (arrived_ms <= 0 || arrived_ms > wall)
		arrived_ms = wall;
	return (mono - (wall - arrived_ms) + budget_ms);
}

/* Milliseconds left before deadline (0 or less: spent); 0 = no deadline. */
int64_t
deadline_left_ms(int64_t deadline)
{
	if (deadline == 0)
		return (INT64_MAX);
	return (deadline - clock_mono_us() / 1000);
}

#define FLOCK_TICK_MS	10	/* the alarm repeats this often */

/* SIGALRM only ends a blocking flock (no SA_RESTART). */
static void
deadline_on_alarm(int signo)
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
deadline_flock(int fd, int64_t deadline)
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
	sa.sa_handler = deadline_on_alarm;
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
