/*
 * Living within a small connection cap (a shared host's account WITH
 * MAX_USER_CONNECTIONS 5, and a web server free to start as many workers
 * as it likes). Three parts:
 *  - a pool-wide cap, db_max_connections: a worker holds one of N slot
 *    files (slot_file.c) in db_cap_dir for as long as it means to use a
 *    connection. Waiters queue on a "gate" file, so one polls the slots
 *    at a time; a holder that sees the gate taken lets go after its
 *    request;
 *  - a connection let go when idle (db_idle_release_ms), or after each
 *    request when capped without an idle time;
 *  - a refusal for too many connections (1226, 1203, 1040) waited out
 *    with back-off inside the request's budget, not answered 503 at once.
 */
#include "config.h"

#include <errno.h>
#include <mysqld_error.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "db_int.h"

#define CAP_BACKOFF_MIN_MS	1
#define CAP_BACKOFF_MAX_MS	32
#define CAP_WAITERS_EVERY_MS	20	/* an idle holder looks this often */

static int	cap_gate = -1;		/* <db_cap_dir>/gate, opened once */
static int	cap_slot = -1;		/* the slot file held, locked */

/*
 * Sleep the attempt's back-off (1, 2, 4 ... 32 ms, never past the
 * deadline). -1 when no time is left.
 */
int
db_cap_backoff(int64_t deadline, unsigned int attempt)
{
	struct timespec	ts;
	int64_t		left = deadline_left_ms(deadline);
	int64_t		ms = CAP_BACKOFF_MIN_MS;

	while (attempt-- > 1 && ms < CAP_BACKOFF_MAX_MS)
		ms *= 2;
	/* Some spread, so waiters do not wake in step. */
	ms += getpid() % (ms + 1);
	if (left <= 0)
		return (-1);
	if (ms > left)
		ms = left;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
	return (0);
}

/*
 * Hold a slot before connecting: 0 once held (or when there is no cap),
 * -1 when none came free before the deadline.
 */
int
db_cap_acquire(const struct config *cfg, int64_t deadline)
{
	char		name[32];
	unsigned int	i, attempt = 0;
	int		fd;

	if (cfg->db_max_connections == 0 || cap_slot != -1)
		return (0);
	if (cap_gate == -1 && (cap_gate = slot_file_open(cfg->db_cap_dir, "gate")) == -1) {
		log_error("db_cap_dir %s: %s", cfg->db_cap_dir, strerror(errno));
		return (-1);
	}
	if (slot_file_lock(cap_gate, deadline) == -1)
		return (-1);
	for (;;) {
		for (i = 0; i < cfg->db_max_connections; i++) {
			snprintf(name, sizeof(name), "slot-%u", i);
			if ((fd = slot_file_open(cfg->db_cap_dir, name)) == -1)
				continue;
			if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
				cap_slot = fd;
				break;
			}
			close(fd);
		}
		if (cap_slot != -1 || db_cap_backoff(deadline, ++attempt) == -1)
			break;
	}
	flock(cap_gate, LOCK_UN);
	if (attempt > 0)
		log_debug("db_cap: %s a slot after %u waits",
		    cap_slot != -1 ? "got" : "found no", attempt);
	return (cap_slot != -1 ? 0 : -1);
}

/* Give the slot back (closing the file drops its lock). */
void
db_cap_release(void)
{
	if (cap_slot != -1) {
		close(cap_slot);
		cap_slot = -1;
	}
}

/* Is a worker waiting for a slot (holding or queued on the gate)? */
static int
cap_waiters(void)
{
	if (cap_gate == -1)
		return (0);
	if (flock(cap_gate, LOCK_EX | LOCK_NB) == 0) {
		flock(cap_gate, LOCK_UN);
		return (0);
	}
	return (errno == EWOULDBLOCK);
}

/* Is this error the server's "too many connections" (for this account)? */
int
db_cap_refused(unsigned int err)
{
	return (err == ER_USER_LIMIT_REACHED ||
	    err == ER_TOO_MANY_USER_CONNECTIONS || err == ER_CON_COUNT_ERROR);
}

/*
 * Between requests, before accept: wait for the next request on fd (the
 * listening socket, or the kept connection) and let the database
 * connection and its slot go when idle past db_idle_release_ms, or when
 * capped and another worker waits for a slot. Returns when fd is ready
 * or a signal came; accept does the rest.
 */
void
db_idle(struct db *db, int fd)
{
	const struct config	*cfg = db->cfg;
	struct pollfd		 pfd;
	unsigned int		 idle = cfg->db_idle_release_ms, waited = 0;
	int			 step, rc;

	if (idle == 0 && cfg->db_max_connections == 0)
		return;
	/*
	 * Capped without an idle time: let go after every request. Workers
	 * sharing one listening socket (spawn-fcgi) must not: one that saw a
	 * request coming may lose it to another and then wait in accept,
	 * holding a slot nobody can use.
	 */
	if (idle == 0) {
		db_disconnect(db);
		db_cap_release();
		return;
	}
	for (;;) {
		if (!db_connected(db) && cap_slot == -1)
			return;
		if ((idle > 0 && waited >= idle) ||
		    (cfg->db_max_connections > 0 && cap_waiters())) {
			db_disconnect(db);
			db_cap_release();
			log_debug("db_idle: connection let go after %u ms idle",
			    waited);
			return;
		}
		step = cfg->db_max_connections > 0 ? CAP_WAITERS_EVERY_MS : -1;
		if (idle > 0 && (step == -1 || idle - waited < (unsigned)step))
			step = (int)(idle - waited);
		pfd.fd = fd;
		pfd.events = POLLIN;
		if ((rc = poll(&pfd, 1, step)) != 0)
			return;
		waited += (unsigned int)step;
	}
}
