/*
 * Test-only pause point, compiled into tests/regonce-hooked alone (never
 * into fcgi-app/regonce). A fault test makes a registration stop between
 * INSERT and COMMIT, holding the named lock and an open transaction, so it
 * can kill or signal the worker at exactly that moment.
 *
 * With REGONCE_TEST_PAUSE_DIR set: if DIR/pause.OPENID exists when the
 * registration of OPENID reaches the pause point, the worker writes its
 * PID to DIR/paused.OPENID and waits until DIR/pause.OPENID is removed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"

/* Wait at the pause point if the test asked for it. */
void
test_hook_pause(const char *openid, size_t len)
{
	const char	*dir = getenv("REGONCE_TEST_PAUSE_DIR");
	char		 gate[PATH_MAX], mark[PATH_MAX], tmp[PATH_MAX];
	struct timespec	 tick = { 0, 10 * 1000 * 1000 };
	FILE		*fp;

	if (dir == NULL || *dir == '\0' || len > 64 || memchr(openid, '/', len) != NULL)
		return;
	snprintf(gate, sizeof(gate), "%s/pause.%.*s", dir, (int)len, openid);
	if (access(gate, F_OK) != 0)
		return;
	snprintf(mark, sizeof(mark), "%s/paused.%.*s", dir, (int)len, openid);
	snprintf(tmp, sizeof(tmp), "%s/tmp.%.*s", dir, (int)len, openid);
	if ((fp = fopen(tmp, "w")) != NULL) {
		fprintf(fp, "%ld\n", (long)getpid());
		fclose(fp);
		rename(tmp, mark);	/* the test sees the whole PID or none */
	}
	log_warn("test hook: paused %.*s before COMMIT", (int)len, openid);
	while (access(gate, F_OK) == 0)
		nanosleep(&tick, NULL);
	log_warn("test hook: resumed %.*s", (int)len, openid);
}
