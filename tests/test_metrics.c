/*
 * Unit tests for metrics.c: slots claimed in a shared file, a dead
 * worker's slot reclaimed with its counts, sums across slots (and what
 * one slot alone would have said), a file of another layout made anew,
 * and the text exposition: HELP/TYPE first, cumulative buckets,
 * +Inf = _count.
 */
#include "config.h"

#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "app.h"

static char	 dir[] = "/tmp/test_metrics.XXXXXX";
static char	 path[sizeof(dir) + 16];

static const struct metrics_result results[] = {
	{ "created", "200" },
	{ "busy", "503" },
};
#define NRESULTS	(sizeof(results) / sizeof(results[0]))

/* A fresh file for each test. */
static int
setup(void **state)
{
	(void)state;
	unlink(path);
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	metrics_close();
	unlink(path);
	return (0);
}

/* The rendered text; the caller frees it. */
static char *
render(void)
{
	size_t	 len;
	char	*text = metrics_render(results, NRESULTS, &len);

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return (text);
}

/* The value of the sample line that starts with "series ". */
static double
value(const char *text, const char *series)
{
	const char	*p;
	size_t		 n = strlen(series);

	for (p = text; p != NULL; p = p != NULL ? p + 1 : NULL) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return (strtod(p + n + 1, NULL));
		p = strchr(p, '\n');
	}
	fail_msg("no sample %s in:\n%s", series, text);
	return (-1);
}

#define REQ(name, code) \
	"regonce_requests_total{result=\"" name "\",code=\"" code "\"}"

/*
 * Fork a worker that opens the file and counts n requests and one
 * registration; return once it has. With release, it then waits for a
 * byte there; without, it exits at once without metrics_close(), as a
 * killed worker would.
 */
static pid_t
worker(int n, int *release)
{
	int	ready[2], hold[2];
	pid_t	pid;
	char	c;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(hold), 0);
	if ((pid = fork()) == 0) {
		close(ready[0]);
		close(hold[1]);
		if (metrics_open(path) != 0)
			_exit(2);
		while (n-- > 0)
			metrics_request(0, 1000);
		metrics_count(METRIC_REG_CREATED);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		if (release != NULL && read(hold[0], &c, 1) == -1)
			_exit(4);
		_exit(0);
	}
	assert_true(pid > 0);
	close(ready[1]);
	close(hold[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	if (release != NULL)
		*release = hold[1];
	else
		close(hold[1]);
	return (pid);
}

static void
reap(pid_t pid)
{
	int	status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* No file: counts stay in the process, and /metrics has nothing. */
static void
test_off(void **state)
{
	(void)state;
	assert_int_equal(metrics_open(""), 0);
	assert_int_equal(metrics_on(), 0);
	assert_int_equal(metrics_slot(), -1);
	metrics_count(METRIC_RETRIES);	/* harmless */
}

/* The first worker takes slot 0; a second live one the next. */
static void
test_claim(void **state)
{
	pid_t	pid;
	int	release;

	(void)state;
	pid = worker(1, &release);
	assert_int_equal(metrics_open(path), 0);
	assert_int_equal(metrics_slot(), 1);
	assert_int_equal(write(release, "x", 1), 1);
	close(release);
	reap(pid);
}

/*
 * A worker killed outright leaves its pid in its slot; the next one
 * claims that slot and the pool's counts stay where they were.
 */
static void
test_reclaim_keeps_counts(void **state)
{
	char	*text;

	(void)state;
	reap(worker(5, NULL));
	assert_int_equal(metrics_open(path), 0);
	assert_int_equal(metrics_slot(), 0);
	text = render();
	assert_true(value(text, REQ("created", "200")) == 5);
	assert_true(value(text, "regonce_registrations_total{outcome=\"created\"}")
	    == 1);
	free(text);
	metrics_request(0, 1000);
	text = render();
	assert_true(value(text, REQ("created", "200")) == 6);
	free(text);
}

/*
 * The sum is the pool's: two live workers' slots plus a dead one's. What
 * this process alone counted (the comment line) is less: per-process
 * counters would have been short.
 */
static void
test_sum_across_slots(void **state)
{
	pid_t	 live;
	int	 release;
	char	*text, own[64];

	(void)state;
	reap(worker(3, NULL));
	live = worker(4, &release);
	assert_int_equal(metrics_open(path), 0);
	metrics_request(1, 2000);
	text = render();
	assert_true(value(text, REQ("created", "200")) == 7);
	assert_true(value(text, "regonce_registrations_total{outcome=\"created\"}")
	    == 2);
	assert_true(value(text, REQ("busy", "503")) == 1);
	assert_true(value(text, "regonce_workers") == 2);
	snprintf(own, sizeof(own), "# regonce worker pid %d slot %d requests 1\n",
	    (int)getpid(), metrics_slot());
	assert_non_null(strstr(text, own));
	free(text);
	assert_int_equal(write(release, "x", 1), 1);
	close(release);
	reap(live);
	text = render();
	assert_true(value(text, "regonce_workers") == 1);
	assert_true(value(text, REQ("created", "200")) == 7);
	free(text);
}

/* A file of another layout (an upgrade) is made anew, and works. */
static void
test_layout_mismatch(void **state)
{
	FILE	*fp;
	char	*text;
	int	 i;

	(void)state;
	for (i = 0; i < 2; i++) {
		/* Another size; then the right size with another header. */
		assert_non_null(fp = fopen(path, "w"));
		if (i == 0)
			fputs("an older layout", fp);
		fclose(fp);
		if (i == 1) {
			assert_int_equal(metrics_open(path), 0);
			metrics_close();
			assert_non_null(fp = fopen(path, "r+"));
			fputs("regonceM\x07", fp);
			fclose(fp);
		}
		assert_int_equal(metrics_open(path), 0);
		assert_int_equal(metrics_on(), 1);
		metrics_request(1, 1);
		text = render();
		assert_true(value(text, REQ("busy", "503")) == 1);
		free(text);
		metrics_close();
		unlink(path);
	}
}

/*
 * The exposition: every family's HELP and TYPE before its samples;
 * buckets cumulative and in order; +Inf = _count; _sum in seconds.
 */
static void
test_render(void **state)
{
	static const long long	 us[] = { 1000, 5000, 30000, 700000, 20000000 };
	char			*text, *line, *save = NULL, family[128] = "";
	double			 last = -1, n;
	size_t			 i, flen;

	(void)state;
	assert_int_equal(metrics_open(path), 0);
	for (i = 0; i < sizeof(us) / sizeof(us[0]); i++)
		metrics_request(0, us[i]);
	metrics_request(1, -1);		/* counted, not timed */
	text = render();
	assert_true(value(text, "regonce_request_duration_seconds_bucket"
	    "{le=\"0.005\"}") == 2);	/* le is inclusive */
	assert_true(value(text, "regonce_request_duration_seconds_bucket"
	    "{le=\"0.05\"}") == 3);
	assert_true(value(text, "regonce_request_duration_seconds_bucket"
	    "{le=\"10\"}") == 4);
	assert_true(value(text, "regonce_request_duration_seconds_bucket"
	    "{le=\"+Inf\"}") == 5);
	assert_true(value(text, "regonce_request_duration_seconds_count") == 5);
	assert_true(value(text, "regonce_request_duration_seconds_sum") ==
	    20.736);
	assert_true(value(text, REQ("busy", "503")) == 1);

	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			flen = strcspn(line + 7, " ");
			assert_true(flen < sizeof(family));
			memcpy(family, line + 7, flen);
			family[flen] = '\0';
			last = -1;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(strncmp(line + 7, family,
			    strlen(family)), 0);
			continue;
		}
		if (line[0] == '#')
			continue;	/* a comment */
		/* A sample of the family just announced. */
		flen = strlen(family);
		assert_true(flen > 0);
		assert_int_equal(strncmp(line, family, flen), 0);
		assert_true(strchr(" {_", line[flen]) != NULL);
		if (strstr(line, "_bucket{") != NULL) {
			n = strtod(strrchr(line, ' ') + 1, NULL);
			assert_true(n >= last);
			last = n;
		}
	}
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reclaim_keeps_counts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sum_across_slots, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_layout_mismatch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_render, setup, teardown),
	};
	int	rc;

	if (mkdtemp(dir) == NULL)
		return (99);
	snprintf(path, sizeof(path), "%s/metrics", dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return (rc);
}
