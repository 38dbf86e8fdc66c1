/*
 * What tests/regonce-test has and the installed worker has not (see
 * hooks.h): the naive strategy's delay, a loud start-up warning, and the
 * pause point between INSERT and COMMIT.
 *
 * The pause points let a fault test stop a registration while it holds the
 * named lock and an open transaction ("pause", before COMMIT), or once it
 * has committed and not yet answered ("pause-after"), and kill or signal
 * the worker at exactly that moment. With REGONCE_TEST_PAUSE_DIR set: if
 * DIR/POINT.OPENID exists when the registration of OPENID reaches POINT,
 * the worker writes its PID to DIR/paused.OPENID and waits until
 * DIR/POINT.OPENID is removed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "hooks.h"

/* Say loudly, at start-up, that this is not the worker to deploy. */
void
test_build_warn(const struct config *cfg)
{
	log_warn("TEST BUILD: this worker has negative controls and pause "
	    "points; deploy fcgi-app/regonce, never this one");
	if (cfg->strategy == STRATEGY_NAIVE)
		log_warn("strategy is 'naive': check-then-insert without a "
		    "lock. It creates duplicate users under concurrency; it "
		    "exists to reproduce that bug.");
}

/* naive: wait between the check and the insert, widening the race. */
void
test_hook_before_insert(const struct config *cfg)
{
	struct timespec	ts;

	if (cfg->strategy != STRATEGY_NAIVE || cfg->naive_delay_ms == 0)
		return;
	ts.tv_sec = cfg->naive_delay_ms / 1000;
	ts.tv_nsec = (long)(cfg->naive_delay_ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1)
		continue;
}

/* Wait at pause point "point" if the test asked for it. */
void
test_hook_pause(const char *point, const char *openid, size_t len)
{
	const char	*dir = getenv("REGONCE_TEST_PAUSE_DIR");
	char		 gate[PATH_MAX], mark[PATH_MAX], tmp[PATH_MAX];
	struct timespec	 tick = { 0, 10 * 1000 * 1000 };
	FILE		*fp;

	if (dir == NULL || *dir == '\0' || len > 64 || memchr(openid, '/', len) != NULL)
		return;
	snprintf(gate, sizeof(gate), "%s/%s.%.*s", dir, point, (int)len,
	    openid);
	if (access(gate, F_OK) != 0)
		return;
	snprintf(mark, sizeof(mark), "%s/paused.%.*s", dir, (int)len, openid);
	snprintf(tmp, sizeof(tmp), "%s/tmp.%.*s", dir, (int)len, openid);
	if ((fp = fopen(tmp, "w")) != NULL) {
		fprintf(fp, "%ld\n", (long)getpid());
		fclose(fp);
		rename(tmp, mark);	/* the test sees the whole PID or none */
	}
	log_warn("test hook: paused %.*s at %s", (int)len, openid, point);
	while (access(gate, F_OK) == 0)
		nanosleep(&tick, NULL);
	log_warn("test hook: resumed %.*s", (int)len, openid);
}
