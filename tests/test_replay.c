/*
 * Unit tests for replay_report.c: arguments, tallies, percentiles, the
 * poll's wait.
 */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "replay.h"

#define ARGV(...) (char *[]){ "regonce-replay", __VA_ARGS__, NULL }
#define ARGC(...) ((int)(sizeof((char *[]){ "x", __VA_ARGS__ }) / \
	sizeof(char *)))
#define PARSE(args, err, ...) replay_parse_args(ARGC(__VA_ARGS__), \
	ARGV(__VA_ARGS__), args, err, sizeof(err))

static void
test_args(void **state)
{
	struct replay_args	args;
	char			err[256];

	(void)state;
	assert_int_equal(PARSE(&args, err, "--url", "http://127.0.0.1:1/r"),
	    0);
	assert_int_equal(args.users, 50);
	assert_int_equal(args.replays, 2);
	assert_int_equal(args.concurrency, 32);
	assert_memory_equal(args.prefix, "rp", 2);
	assert_int_equal(PARSE(&args, err, "--url", "u", "--users", "300",
	    "--replays", "4", "--concurrency", "64", "--prefix", "t-",
	    "--interval-ms", "10", "--json"), 0);
	assert_int_equal(args.interval_ms, 10);
	assert_int_equal(args.users, 300);
	assert_int_equal(args.replays, 4);
	assert_int_equal(args.concurrency, 64);
	assert_string_equal(args.prefix, "t-");
	assert_true(args.json);

	assert_int_equal(PARSE(&args, err, "--users", "3"), -1);
	assert_string_equal(err, "--url is required");
	assert_int_equal(PARSE(&args, err, "--url", "u", "--users", "0"), -1);
	assert_non_null(strstr(err, "--users takes a whole number"));
	assert_int_equal(PARSE(&args, err, "--url", "u", "--replays", "x"),
	    -1);
	assert_int_equal(PARSE(&args, err, "--url", "u", "--prefix", "a b"),
	    -1);
	assert_int_equal(PARSE(&args, err, "--url", "u", "--bogus"), -1);
	assert_non_null(strstr(err, "unknown option"));
	assert_int_equal(PARSE(&args, err, "--url", "u", "extra"), -1);
}

static void
test_percentile(void **state)
{
	double	values[] = { 5, 1, 4, 2, 3, 10, 9, 8, 7, 6 };
	double	one[] = { 42 };

	(void)state;
	assert_true(replay_percentile(values, 10, 50) == 5);
	assert_true(replay_percentile(values, 10, 90) == 9);
	assert_true(replay_percentile(values, 10, 99) == 10);
	assert_true(replay_percentile(values, 10, 100) == 10);
	assert_true(replay_percentile(values, 10, 0) == 1);
	assert_true(replay_percentile(one, 1, 50) == 42);
	assert_true(replay_percentile(NULL, 0, 50) == 0);
}

static void
test_classify(void **state)
{
	struct replay_result	res;
	static const char	busy[] = "{\"code\":-3,\"error\":\"busy\"}";

	(void)state;
	replay_classify(&res, 200, "{\"code\":0,\"user_id\":3}", 22);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.code, 0);
	replay_classify(&res, 503, busy, strlen(busy));
	assert_int_equal(res.code, -3);
	assert_string_equal(res.error, "busy");
	replay_classify(&res, 502, "<html>", 6);
	assert_int_equal(res.code, INT_MIN);
	assert_string_equal(res.error, "");
	replay_classify(&res, 0, NULL, 0);
	assert_int_equal(res.status, 0);
}

/* Two users, two copies each: one got created twice, one got a 503. */
static void
test_tally_and_report(void **state)
{
	struct replay_args	args = { .url = "u", .users = 2, .replays = 2,
				    .concurrency = 4, .prefix = "p-" };
	struct replay_result	res[4] = {
		{ 0, 200, 0, "", 10, 0, 1 }, { 0, 200, 0, "", 20, 0, 1 },
		{ 1, 200, -1, "", 30, 0, 2 }, { 1, 503, -3, "busy", 40, 0, 3 },
	};
	struct replay_report	rep;
	json_object		*json, *member;

	(void)state;
	memset(&rep, 0, sizeof(rep));
	replay_tally(&args, res, 4, &rep);
	assert_int_equal(rep.requests, 4);
	assert_int_equal(rep.created, 2);
	assert_int_equal(rep.exists, 1);
	assert_int_equal(rep.server_errors, 1);
	assert_int_equal(rep.openids_created_twice, 1);
	assert_int_equal(rep.openids_incomplete, 1);	/* user 1's 503 */
	assert_true(rep.p50_ms == 20 && rep.max_ms == 40);
	assert_int_equal(replay_exit_status(&rep), 1);

	json = replay_report_json(&args, &rep);
	assert_true(json_object_object_get_ex(json, "outcomes", &member));
	assert_true(json_object_object_get_ex(member, "503 busy", &member));
	assert_int_equal(json_object_get_int(member), 1);
	assert_false(json_object_object_get_ex(json, "duplicates", &member));
	json_object_put(json);

	rep.openids_created_twice = 0;
	assert_int_equal(replay_exit_status(&rep), 0);
	rep.db_checked = 1;
	rep.duplicates = 1;
	assert_int_equal(replay_exit_status(&rep), 1);
	rep.duplicates = 0;
	rep.lost = 1;
	assert_int_equal(replay_exit_status(&rep), 1);
}

/*
 * With --idempotency-key, replayed answers are no second creation, and a
 * copy whose answer differs from its registration's first is counted.
 */
static void
test_tally_keyed(void **state)
{
	struct replay_args	args = { .url = "u", .users = 2, .replays = 2,
				    .concurrency = 4, .prefix = "p-",
				    .idempotency_key = 1 };
	struct replay_result	res[4] = {
		{ 0, 200, 0, "", 10, 0, 7 }, { 0, 200, 0, "", 20, 1, 7 },
		{ 1, 200, 0, "", 30, 0, 8 }, { 1, 200, 0, "", 40, 1, 9 },
	};
	struct replay_report	rep;

	(void)state;
	memset(&rep, 0, sizeof(rep));
	replay_tally(&args, res, 4, &rep);
	assert_int_equal(rep.created, 2);
	assert_int_equal(rep.replayed, 2);
	assert_int_equal(rep.openids_created_twice, 0);
	assert_int_equal(rep.answers_differ, 1);	/* user 1's replay */
	assert_int_equal(replay_exit_status(&rep), 1);
	res[3].body_hash = 8;
	memset(&rep, 0, sizeof(rep));
	replay_tally(&args, res, 4, &rep);
	assert_int_equal(rep.answers_differ, 0);
	assert_int_equal(replay_exit_status(&rep), 0);
}

/*
 * The poll's timeout: nothing in flight and a registration to send means
 * no wait (it waited 1 s per registration); a full window or the
 * --interval-ms pace, a wait.
 */
static void
test_wait_ms(void **state)
{
	struct replay_args	args = { .url = "u", .users = 20, .replays = 4,
				    .concurrency = 4 };

	(void)state;
	/* Nothing in flight, the next registration due: start it now. */
	assert_int_equal(replay_wait_ms(&args, 1, 0, 100.0, 0, 100.5), 0);
	/* The window is full: only a transfer ending can free a slot. */
	assert_int_equal(replay_wait_ms(&args, 1, 4, 100.0, 0, 100.5), 1000);
	/* A retry due in 250 ms while the window is full. */
	assert_int_equal(replay_wait_ms(&args, 1, 4, 100.0, 100.75, 100.5),
	    251);
	/* All sent, transfers in flight: wait for them. */
	assert_int_equal(replay_wait_ms(&args, 20, 4, 100.0, 0, 100.5), 1000);
	/* --interval-ms: a free slot waits for its release time. */
	args.interval_ms = 100;
	assert_int_equal(replay_wait_ms(&args, 1, 0, 100.75, 0, 100.5), 251);
	assert_int_equal(replay_wait_ms(&args, 1, 0, 100.25, 0, 100.5), 0);
	/* A slot beside one registration in flight (concurrency 8). */
	args.concurrency = 8;
	assert_int_equal(replay_wait_ms(&args, 1, 4, 100.0, 0, 100.5), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_percentile),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_tally_and_report),
		cmocka_unit_test(test_tally_keyed),
		cmocka_unit_test(test_wait_ms),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
