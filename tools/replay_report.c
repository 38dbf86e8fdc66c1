/*
 * regonce-replay's arithmetic: argument parsing, sorting answers into
 * buckets, latency percentiles and the report (table or JSON).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "replay.h"

/* The numeric options: each a whole number within its bounds. */
static const struct replay_number {
	const char	*name;
	unsigned long	 min, max;
	size_t		 offset;	/* of an unsigned int in replay_args */
} replay_numbers[] = {
	{ "users", 1, 1000000, offsetof(struct replay_args, users) },
	{ "replays", 1, 100, offsetof(struct replay_args, replays) },
	{ "concurrency", 1, 1024, offsetof(struct replay_args, concurrency) },
	{ "timeout", 1, 3600, offsetof(struct replay_args, timeout_s) },
	{ "interval-ms", 0, 60000, offsetof(struct replay_args, interval_ms) },
};

/* Set the numeric option name from text, within its bounds. */
static int
replay_number(struct replay_args *args, const char *name, const char *text,
    char *err, size_t errlen)
{
	const struct replay_number	*num = NULL;
	char				*end;
	unsigned long			 value;
	size_t				 i;

	for (i = 0; i < sizeof(replay_numbers) / sizeof(replay_numbers[0]); i++)
		if (strcmp(replay_numbers[i].name, name) == 0)
			num = &replay_numbers[i];
	if (num == NULL)
		fatalx("replay: '%s' is in options[] but not replay_numbers[]",
		    name);
	errno = 0;
	value = strtoul(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 ||
	    value < num->min || value > num->max) {
		snprintf(err, errlen, "--%s takes a whole number from %lu to "
		    "%lu, not '%s'", name, num->min, num->max, text);
		return (-1);
	}
	*(unsigned int *)(void *)((char *)args + num->offset) =
	    (unsigned int)value;
	return (0);
}

/* Fill args from argv; -1 with a message in err on a bad argument. */
int
replay_parse_args(int argc, char *argv[], struct replay_args *args, char *err,
    size_t errlen)
{
	static const struct option options[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "users", required_argument, NULL, 'N' },
		{ "replays", required_argument, NULL, 'N' },
		{ "concurrency", required_argument, NULL, 'N' },
		{ "timeout", required_argument, NULL, 'N' },
		{ "interval-ms", required_argument, NULL, 'N' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "db-conf", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "idempotency-key", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct timespec	 now;
	int		 ch, index, rc = 0;
	size_t		 i;

	memset(args, 0, sizeof(*args));
	args->users = 50;
	args->replays = 2;
	args->concurrency = 32;
	args->timeout_s = 30;
	/* A random prefix: runs never collide, even on a live table. */
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(args->prefix, sizeof(args->prefix), "rp%08lx-",
	    (unsigned long)((now.tv_nsec ^ (now.tv_sec << 20)) & 0xffffffff));
	optind = 1;
	opterr = 0;
	while (rc == 0 &&
	    (ch = getopt_long(argc, argv, "hV", options, &index)) != -1) {
		switch (ch) {
		case 'u':
			args->url = optarg;
			break;
		case 'N':
			rc = replay_number(args, options[index].name, optarg,
			    err, errlen);
			break;
		case 'p':
			if (strlen(optarg) == 0 || strlen(optarg) > 40) {
				snprintf(err, errlen, "--prefix takes 1 to 40 "
				    "characters");
				return (-1);
			}
			for (i = 0; optarg[i] != '\0'; i++)
				if (optarg[i] < 0x21 || optarg[i] > 0x7e) {
					snprintf(err, errlen, "--prefix must be "
					    "printable ASCII without spaces");
					return (-1);
				}
			snprintf(args->prefix, sizeof(args->prefix), "%s",
			    optarg);
			break;
		case 'd':
			args->db_conf = optarg;
			break;
		case 'j':
			args->json = 1;
			break;
		case 'k':
			args->idempotency_key = 1;
			break;
		case 'h':
			snprintf(err, errlen, "help");
			return (-1);
		case 'V':
			snprintf(err, errlen, "version");
			return (-1);
		default:
			snprintf(err, errlen, "unknown option '%s'",
			    argv[optind - 1]);
			return (-1);
		}
	}
	if (rc != 0)
		return (rc);
	if (optind != argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return (-1);
	}
	if (args->url == NULL) {
		snprintf(err, errlen, "--url is required");
		return (-1);
	}
	return (0);
}

/* Compare doubles for qsort. */
static int
replay_cmp(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

/* Nearest-rank percentile p (0..100) of values; sorts them. 0 if none. */
double
replay_percentile(double *values, size_t count, double p)
{
	size_t	rank;

	if (count == 0)
		return (0);
	qsort(values, count, sizeof(values[0]), replay_cmp);
	rank = (size_t)(p / 100.0 * (double)count + 0.999999999);
	if (rank < 1)
		rank = 1;
	if (rank > count)
		rank = count;
	return (values[rank - 1]);
}

/* Read status, code and error out of one response body. */
void
replay_classify(struct replay_result *res, long status, const char *body,
    size_t len)
{
	json_tokener	*tok;
	json_object	*root = NULL, *member;
	size_t		 i;

	res->status = (int)status;
	res->code = INT_MIN;
	res->error[0] = '\0';
	/* FNV-1a: copies' answers compare byte for byte, cheaply. */
	res->body_hash = 14695981039346656037ULL;
	for (i = 0; body != NULL && i < len; i++)
		res->body_hash = (res->body_hash ^ (unsigned char)body[i]) *
		    1099511628211ULL;
	if (status == 0 || body == NULL || len == 0)
		return;
	if ((tok = json_tokener_new()) == NULL)
		return;
	root = json_tokener_parse_ex(tok, body, (int)len);
	json_tokener_free(tok);
	if (root == NULL)
		return;
	if (json_object_object_get_ex(root, "code", &member) &&
	    json_object_is_type(member, json_type_int))
		res->code = json_object_get_int(member);
	if (json_object_object_get_ex(root, "error", &member) &&
	    json_object_is_type(member, json_type_string))
		snprintf(res->error, sizeof(res->error), "%s",
		    json_object_get_string(member));
	json_object_put(root);
}

/* Count one answer in its bucket. */
static void
replay_bucket_add(struct replay_report *rep, const char *name)
{
	unsigned int	i;

	for (i = 0; i < rep->nbuckets; i++)
		if (strcmp(rep->buckets[i].name, name) == 0) {
			rep->buckets[i].count++;
			return;
		}
	if (rep->nbuckets == REPLAY_BUCKETS)
		name = "other", i = REPLAY_BUCKETS - 1;
	else
		i = rep->nbuckets++;
	snprintf(rep->buckets[i].name, sizeof(rep->buckets[i].name), "%s",
	    name);
	rep->buckets[i].count++;
}

/* Turn raw answers into the report's counts and percentiles. */
void
replay_tally(const struct replay_args *args,
    const struct replay_result *results, size_t count,
    struct replay_report *rep)
{
	unsigned int	*created_by_user, *answered_by_user, user;
	double		*latencies;
	char		 name[64];
	size_t		 i, nlat = 0;

	created_by_user = calloc(args->users, sizeof(*created_by_user));
	answered_by_user = calloc(args->users, sizeof(*answered_by_user));
	latencies = calloc(count ? count : 1, sizeof(*latencies));
	if (created_by_user == NULL || answered_by_user == NULL ||
	    latencies == NULL) {
		fprintf(stderr, "regonce-replay: out of memory\n");
		exit(3);
	}
	rep->requests = (unsigned int)count;
	for (i = 0; i < count; i++) {
		const struct replay_result *res = &results[i];

		if (res->status == 0) {
			rep->transport_errors++;
			replay_bucket_add(rep, "transport error");
			continue;
		}
		latencies[nlat++] = res->latency_ms;
		if (res->status >= 500)
			rep->server_errors++;
		if (res->replayed) {
			/* The original answer again: not a second creation. */
			rep->replayed++;
			answered_by_user[res->user]++;
			snprintf(name, sizeof(name), "%d replayed", res->status);
			replay_bucket_add(rep, name);
		} else if (res->status == 200 && res->code == 0) {
			rep->created++;
			created_by_user[res->user]++;
			answered_by_user[res->user]++;
			replay_bucket_add(rep, "200 created");
		} else if (res->status == 200 && res->code == -1) {
			rep->exists++;
			answered_by_user[res->user]++;
			replay_bucket_add(rep, "200 exists");
		} else {
			if (res->status == 503 &&
			    strcmp(res->error, "outcome_unknown") == 0)
				rep->unknown++;
			snprintf(name, sizeof(name), "%d %s", res->status,
			    res->error[0] ? res->error : "(no error slug)");
			replay_bucket_add(rep, name);
		}
	}
	/* Keyed copies must all get the first one's answer, byte for byte. */
	for (i = 0; args->idempotency_key && i < count; i++) {
		const struct replay_result *res = &results[i];
		size_t first = i - i % args->replays;

		if (res->status != results[first].status ||
		    res->body_hash != results[first].body_hash)
			rep->answers_differ++;
	}
	for (user = 0; user < args->users; user++) {
		if (created_by_user[user] > 1)
			rep->openids_created_twice++;
		/* Every copy must end as created or exists: no 503, no 5xx. */
		if (answered_by_user[user] != args->replays)
			rep->openids_incomplete++;
	}
	rep->p50_ms = replay_percentile(latencies, nlat, 50);
	rep->p90_ms = replay_percentile(latencies, nlat, 90);
	rep->p99_ms = replay_percentile(latencies, nlat, 99);
	rep->max_ms = replay_percentile(latencies, nlat, 100);
	free(created_by_user);
	free(answered_by_user);
	free(latencies);
}

/* A number with one decimal, printed as such. */
static json_object *
replay_ms(double value)
{
	char	text[32];

	snprintf(text, sizeof(text), "%.1f", value);
	return (json_object_new_double_s(value, text));
}

/* The report as one JSON object (the caller puts it). */
json_object *
replay_report_json(const struct replay_args *args,
    const struct replay_report *rep)
{
	json_object	*root = json_object_new_object();
	json_object	*outcomes = json_object_new_object();
	json_object	*latency = json_object_new_object();
	unsigned int	 i;

#define ADD_INT(obj, key, value) \
	json_object_object_add(obj, key, json_object_new_int64(value))
	json_object_object_add(root, "url", json_object_new_string(args->url));
	json_object_object_add(root, "prefix",
	    json_object_new_string(args->prefix));
	ADD_INT(root, "users", args->users);
	ADD_INT(root, "replays", args->replays);
	ADD_INT(root, "concurrency", args->concurrency);
	ADD_INT(root, "requests", rep->requests);
	ADD_INT(root, "created", rep->created);
	ADD_INT(root, "exists", rep->exists);
	ADD_INT(root, "outcome_unknown", rep->unknown);
	ADD_INT(root, "replayed", rep->replayed);
	if (args->idempotency_key)
		ADD_INT(root, "answers_differ", rep->answers_differ);
	ADD_INT(root, "transport_errors", rep->transport_errors);
	ADD_INT(root, "server_errors", rep->server_errors);
	ADD_INT(root, "openids_created_twice", rep->openids_created_twice);
	ADD_INT(root, "openids_incomplete", rep->openids_incomplete);
	for (i = 0; i < rep->nbuckets; i++)
		ADD_INT(outcomes, rep->buckets[i].name, rep->buckets[i].count);
	json_object_object_add(root, "outcomes", outcomes);
	json_object_object_add(root, "wall_s", replay_ms(rep->wall_s));
	json_object_object_add(root, "requests_per_s", replay_ms(
	    rep->wall_s > 0 ? rep->requests / rep->wall_s : 0));
	json_object_object_add(latency, "p50", replay_ms(rep->p50_ms));
	json_object_object_add(latency, "p90", replay_ms(rep->p90_ms));
	json_object_object_add(latency, "p99", replay_ms(rep->p99_ms));
	json_object_object_add(latency, "max", replay_ms(rep->max_ms));
	json_object_object_add(root, "latency_ms", latency);
	json_object_object_add(root, "db_checked",
	    json_object_new_boolean(rep->db_checked));
	if (rep->db_checked) {
		ADD_INT(root, "duplicates", rep->duplicates);
		ADD_INT(root, "extra_rows", rep->extra_rows);
		ADD_INT(root, "lost", rep->lost);
		ADD_INT(root, "unclaimed", rep->unclaimed);
	}
#undef ADD_INT
	return (root);
}

/* The report as a table for people. */
void
replay_report_print(const struct replay_args *args,
    const struct replay_report *rep)
{
	unsigned int	i;

	printf("regonce-replay: %u users x %u replays = %u requests, "
	    "concurrency %u, prefix %s\n", args->users, args->replays,
	    rep->requests, args->concurrency, args->prefix);
	printf("  %-28s %8u\n", "created (code 0)", rep->created);
	printf("  %-28s %8u\n", "exists (code -1)", rep->exists);
	for (i = 0; i < rep->nbuckets; i++)
		if (strcmp(rep->buckets[i].name, "200 created") != 0 &&
		    strcmp(rep->buckets[i].name, "200 exists") != 0)
			printf("  %-28s %8u\n", rep->buckets[i].name,
			    rep->buckets[i].count);
	printf("  %-28s %8u\n", "openids created twice",
	    rep->openids_created_twice);
	printf("  %-28s %8u\n", "openids with other answers",
	    rep->openids_incomplete);
	printf("  wall %.2f s, %.1f requests/s; latency ms p50 %.1f p90 %.1f "
	    "p99 %.1f max %.1f\n", rep->wall_s, rep->wall_s > 0 ?
	    rep->requests / rep->wall_s : 0, rep->p50_ms, rep->p90_ms,
	    rep->p99_ms, rep->max_ms);
	if (rep->db_checked)
		printf("  table: %u openids with duplicate rows, %u extra rows, "
		    "%u created but missing, %u rows no copy was told of\n",
		    rep->duplicates, rep->extra_rows, rep->lost,
		    rep->unclaimed);
	else
		printf("  table: not checked (give --db-conf)\n");
}

/*
 * 0: clean; 1: duplicates, lost rows, rows no copy was told of, or an
 * openid "created" twice.
 */
int
replay_exit_status(const struct replay_report *rep)
{
	if (rep->openids_created_twice > 0 || rep->answers_differ > 0)
		return (1);
	if (rep->db_checked && (rep->duplicates > 0 || rep->lost > 0 ||
	    rep->unclaimed > 0))
		return (1);
	return (0);
}

/*
 * How long replay_run may sleep in curl_multi_poll, in ms, once it has
 * released what it could: 0 when the next registration has a free slot
 * and its release time (--interval-ms) has come, or a retry is due; else
 * until the first of those is due, at most 1000. Transfers in flight end
 * the poll sooner: with no free slot, only they or a retry can change
 * anything. retry_due 0: no retry waiting.
 */
int
replay_wait_ms(const struct replay_args *args, unsigned int next_user,
    unsigned int in_flight, double next_release, double retry_due, double now)
{
	double	due = 0, ms;
	int	have_due = 0;

	if (next_user < args->users && (in_flight == 0 ||
	    in_flight + args->replays <= args->concurrency)) {
		due = next_release;
		have_due = 1;
	}
	if (retry_due > 0 && (!have_due || retry_due < due)) {
		due = retry_due;
		have_due = 1;
	}
	if (!have_due)
		return (1000);
	ms = (due - now) * 1000;
	if (ms <= 0)
		return (0);
	/* Rounded up: waking before it is due would only spin. */
	return (ms >= 1000 ? 1000 : (int)ms + 1);
}
