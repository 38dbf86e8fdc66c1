/*
 * regonce-replay: reproduce the duplicate-registration race against a live
 * endpoint and check the table afterwards.
 *
 *   regonce-replay --url URL --users N --replays R --concurrency C
 *                  [--prefix P] [--db-conf FILE] [--timeout S]
 *                  [--interval-ms MS] [--json]
 *
 * The R copies of one registration are handed to libcurl together, so
 * they reach the server at the same moment; at most C are in flight.
 */
#include "config.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "replay.h"

#define BODY_MAX	2048

struct xfer {
	struct replay_result	*res;
	struct curl_slist	*headers;
	int			 replayed;	/* Idempotency-Replayed seen */
	size_t			 len;
	char			 body[BODY_MAX];
};

/* A keyed copy told "in use" goes again after this many seconds. */
#define REPLAY_IN_USE_PAUSE	0.05

/* Keyed copies waiting to be sent again, with when. */
struct replay_retry {
	struct replay_result	*res;
	double			 due;
};

/* Keep what fits of a response body. */
static size_t
replay_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer	*xfer = arg;
	size_t		 n = size * nmemb, room = BODY_MAX - xfer->len;

	memcpy(xfer->body + xfer->len, data, n < room ? n : room);
	xfer->len += n < room ? n : room;
	return (n);
}

/* Note a replayed answer (the header says so). */
static size_t
replay_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer	*xfer = arg;
	size_t		 n = size * nmemb, name = strlen("Idempotency-Replayed:");

	if (n > name && strncasecmp(data, "Idempotency-Replayed:", name) == 0 &&
	    strstr(data + name, "true") != NULL)
		xfer->replayed = 1;
	return (n);
}

/* clock_mono_us in seconds, the unit of the schedule below. */
static double
replay_now(void)
{
	return ((double)clock_mono_us() / 1e6);
}

/* Queue one copy of user's registration on the multi handle. */
static void
replay_add(CURLM *multi, const struct replay_args *args, unsigned int user,
    struct replay_result *res)
{
	struct xfer	*xfer;
	CURL		*easy;
	char		 payload[256], key[128];

	if ((xfer = calloc(1, sizeof(*xfer))) == NULL ||
	    (easy = curl_easy_init()) == NULL) {
		fprintf(stderr, "regonce-replay: out of memory\n");
		exit(3);
	}
	res->user = user;
	xfer->res = res;
	snprintf(payload, sizeof(payload), "{\"openid\":\"%s%u\","
	    "\"username\":\"replay user %u\",\"password\":\"replay-pw-%u\"}",
	    args->prefix, user, user, user);
	xfer->headers = curl_slist_append(NULL,
	    "Content-Type: application/json");
	if (args->idempotency_key) {
		/* Every copy of one registration carries the same key. */
		snprintf(key, sizeof(key), "Idempotency-Key: \"%s%u-key\"",
		    args->prefix, user);
		xfer->headers = curl_slist_append(xfer->headers, key);
	}
	curl_easy_setopt(easy, CURLOPT_URL, args->url);
	curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, payload);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, xfer->headers);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, replay_write);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, xfer);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, replay_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, xfer);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, xfer);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, (long)args->timeout_s);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_multi_add_handle(multi, easy);
}

/*
 * Record a finished transfer and free it. 1: a keyed copy was told its
 * key is in use (the draft's 409: the original still runs): send *res
 * again.
 */
static int
replay_done(CURLM *multi, CURL *easy, CURLcode code,
    struct replay_result **resp)
{
	struct replay_result	*res;
	struct xfer		*xfer;
	curl_off_t		 total_us = 0;
	long			 status = 0;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&xfer);
	res = *resp = xfer->res;
	if (code == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
	replay_classify(xfer->res, status, xfer->body, xfer->len);
	xfer->res->replayed = xfer->replayed;
	xfer->res->latency_ms = (double)total_us / 1000.0;
	curl_multi_remove_handle(multi, easy);
	curl_easy_cleanup(easy);
	curl_slist_free_all(xfer->headers);
	free(xfer);
	return (res->status == 409 &&
	    strcmp(res->error, "idempotency_key_in_use") == 0);
}

/* Send everything; results[] gets one entry per request. */
static void
replay_run(const struct replay_args *args, struct replay_result *results,
    double *wall_s)
{
	CURLM			*multi = curl_multi_init();
	CURLMsg			*msg;
	struct replay_retry	*retries;
	struct replay_result	*res;
	unsigned int		 next_user = 0, in_flight = 0, copy;
	size_t			 next_slot = 0, nretries = 0, i;
	double			 start = replay_now(), next_release = start;
	double			 retry_due;
	int			 running, left, wait_ms;

	retries = calloc((size_t)args->users * args->replays,
	    sizeof(*retries));
	if (multi == NULL || retries == NULL) {
		fprintf(stderr, "regonce-replay: curl_multi_init failed\n");
		exit(3);
	}
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS,
	    (long)args->concurrency);
	for (;;) {
		/* Release the copies of a registration together. */
		while (next_user < args->users && (in_flight == 0 ||
		    in_flight + args->replays <= args->concurrency) &&
		    replay_now() >= next_release) {
			for (copy = 0; copy < args->replays; copy++)
				replay_add(multi, args, next_user,
				    &results[next_slot++]);
			in_flight += args->replays;
			next_user++;
			/* --interval-ms: a steady stream, e.g. across a fault. */
			next_release += args->interval_ms / 1000.0;
		}
		/* Keyed copies told "in use" whose pause is over. */
		for (i = 0; i < nretries; ) {
			if (retries[i].due > replay_now()) {
				i++;
				continue;
			}
			replay_add(multi, args, retries[i].res->user,
			    retries[i].res);
			retries[i] = retries[--nretries];
		}
		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			if (replay_done(multi, msg->easy_handle,
			    msg->data.result, &res)) {
				retries[nretries].res = res;
				retries[nretries++].due = replay_now() +
				    REPLAY_IN_USE_PAUSE;
			} else
				in_flight--;
		}
		if (in_flight == 0 && next_user == args->users)
			break;
		retry_due = 0;
		for (i = 0; i < nretries; i++)
			if (retry_due == 0 || retries[i].due < retry_due)
				retry_due = retries[i].due;
		/* 0 when a slot freed above can take the next registration. */
		wait_ms = replay_wait_ms(args, next_user, in_flight,
		    next_release, retry_due, replay_now());
		curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
	}
	curl_multi_cleanup(multi);
	free(retries);
	*wall_s = replay_now() - start;
}

struct replay_db_ctx {
	const struct replay_args	*args;
	unsigned int			*rows;	/* per user */
};

/* Note one openid of ours with its row count. */
static void
replay_db_row(struct replay_db_ctx *ctx, const char *openid, size_t len,
    unsigned long rows)
{
	size_t			 prefix = strlen(ctx->args->prefix);
	char			 digits[16], *end;
	unsigned long		 user;

	if (len <= prefix || len - prefix >= sizeof(digits))
		return;
	memcpy(digits, openid + prefix, len - prefix);
	digits[len - prefix] = '\0';
	user = strtoul(digits, &end, 10);
	if (*end == '\0' && user < ctx->args->users)
		ctx->rows[user] = (unsigned int)rows;
}

/* Count the rows of every openid that starts with this run's prefix. */
static int
replay_count_rows(MYSQL *conn, struct replay_db_ctx *ctx)
{
	static const char	 sql[] = "SELECT openid, COUNT(*) FROM users "
	    "WHERE LEFT(openid, ?) = ? GROUP BY openid";
	const char		*prefix = ctx->args->prefix;
	MYSQL_STMT		*stmt;
	MYSQL_BIND		 params[2], result[2];
	unsigned long		 prefix_len = strlen(prefix), openid_len;
	unsigned long long	 rows;
	unsigned int		 chars = (unsigned int)prefix_len;
	char			 openid[OPENID_MAX + 1];
	int			 rc = -1, fetched;

	if ((stmt = mysql_stmt_init(conn)) == NULL)
		return (-1);
	memset(params, 0, sizeof(params));
	params[0].buffer_type = MYSQL_TYPE_LONG;
	params[0].is_unsigned = 1;
	params[0].buffer = &chars;
	params[1].buffer_type = MYSQL_TYPE_STRING;
	params[1].buffer = (void *)(uintptr_t)prefix;
	params[1].buffer_length = prefix_len;
	params[1].length = &prefix_len;
	memset(result, 0, sizeof(result));
	result[0].buffer_type = MYSQL_TYPE_STRING;
	result[0].buffer = openid;
	result[0].buffer_length = sizeof(openid);
	result[0].length = &openid_len;
	result[1].buffer_type = MYSQL_TYPE_LONGLONG;
	result[1].is_unsigned = 1;
	result[1].buffer = &rows;
	if (mysql_stmt_prepare(stmt, sql, sizeof(sql) - 1) != 0 ||
	    mysql_stmt_bind_param(stmt, params) != 0 ||
	    mysql_stmt_execute(stmt) != 0 ||
	    mysql_stmt_bind_result(stmt, result) != 0)
		goto out;
	while ((fetched = mysql_stmt_fetch(stmt)) == 0 ||
	    fetched == MYSQL_DATA_TRUNCATED)
		if (fetched == 0)
			replay_db_row(ctx, openid, openid_len,
			    (unsigned long)rows);
	if (fetched == MYSQL_NO_DATA)
		rc = 0;
out:
	if (rc == -1)
		fprintf(stderr, "regonce-replay: counting rows: error %u: %s\n",
		    mysql_stmt_errno(stmt), mysql_stmt_error(stmt));
	mysql_stmt_close(stmt);
	return (rc);
}

/* Count this run's rows: duplicates, extra rows, created-but-missing. */
static int
replay_check_db(const struct replay_args *args,
    const struct replay_result *results, size_t count,
    struct replay_report *rep)
{
	struct replay_db_ctx	 ctx = { args, NULL };
	struct timespec		 tenth = { 0, 100 * 1000 * 1000 };
	struct config		 cfg;
	struct db		*db;
	unsigned char		*created;
	char			 err[CONFIG_ERR_MAX];
	size_t			 i;
	int			 rc = -1;

	if (config_load(&cfg, args->db_conf, CONFIG_DB_ONLY, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "regonce-replay: %s\n", err);
		return (-1);
	}
	created = calloc(args->users, 1);
	ctx.rows = calloc(args->users, sizeof(*ctx.rows));
	if (created == NULL || ctx.rows == NULL) {
		fprintf(stderr, "regonce-replay: out of memory\n");
		exit(3);
	}
	/* 1: some copy was told "created"; 2: "outcome_unknown" only. */
	for (i = 0; i < count; i++) {
		if (results[i].status == 200 && results[i].code == 0)
			created[results[i].user] = 1;
		else if (results[i].status == 503 && created[results[i].user] ==
		    0 && strcmp(results[i].error, "outcome_unknown") == 0)
			created[results[i].user] = 2;
	}
	db = db_new(&cfg);
	/* A run across a database restart may end before the server is back. */
	for (i = 0; db_connect(db) != DB_OK; i++) {
		if (i >= (size_t)args->timeout_s * 10) {
			fprintf(stderr, "regonce-replay: database %s: error %u: "
			    "%s\n", cfg.db_name, db_errno(db), db_error(db));
			goto out;
		}
		nanosleep(&tenth, NULL);
	}
	if (replay_count_rows(db_handle(db), &ctx) == -1)
		goto out;
	for (i = 0; i < args->users; i++) {
		if (ctx.rows[i] > 1) {
			rep->duplicates++;
			rep->extra_rows += ctx.rows[i] - 1;
		}
		if (created[i] == 1 && ctx.rows[i] == 0)
			rep->lost++;
		/* A row that no copy was told about: the client was lied to. */
		if (created[i] == 0 && ctx.rows[i] > 0)
			rep->unclaimed++;
	}
	rep->db_checked = 1;
	rc = 0;
out:
	db_free(db);
	free(created);
	free(ctx.rows);
	return (rc);
}

static void
replay_usage(FILE *fp)
{
	fprintf(fp, "usage: regonce-replay --url URL [--users N] [--replays R] "
	    "[--concurrency C]\n"
	    "                      [--prefix P] [--db-conf FILE] [--timeout S] "
	    "[--interval-ms MS]\n"
	    "                      [--idempotency-key] [--json]\n"
	    "       regonce-replay -h | --help | --version\n"
	    "Sends N registrations, each R times at once, at most C in flight "
	    "(defaults 50, 2, 32);\n"
	    "--interval-ms releases one registration every MS milliseconds "
	    "instead of at once.\n"
	    "--idempotency-key gives the copies of one registration one "
	    "Idempotency-Key;\n"
	    "each must then get the same answer, byte for byte.\n"
	    "With --db-conf (the worker's config) it also counts the table's "
	    "rows for this run.\n"
	    "Exit status: 0 clean, 1 duplicates, lost or unclaimed rows, or "
	    "answers that differ,\n"
	    "2 usage, 3 could not run.\n");
}

int
main(int argc, char *argv[])
{
	struct replay_args	 args;
	struct replay_report	 rep;
	struct replay_result	*results;
	json_object		*json;
	char			 err[256];
	size_t			 total;

	if (replay_parse_args(argc, argv, &args, err, sizeof(err)) == -1) {
		if (strcmp(err, "help") == 0) {
			replay_usage(stdout);
			return (0);
		}
		if (strcmp(err, "version") == 0) {
			printf("regonce-replay %s\n", PACKAGE_VERSION);
			return (0);
		}
		fprintf(stderr, "regonce-replay: %s\n", err);
		replay_usage(stderr);
		return (2);
	}
	log_open("-", LOG_LEVEL_ERROR);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    mysql_library_init(0, NULL, NULL) != 0) {
		fprintf(stderr, "regonce-replay: library init failed\n");
		return (3);
	}
	total = (size_t)args.users * args.replays;
	if ((results = calloc(total, sizeof(*results))) == NULL) {
		fprintf(stderr, "regonce-replay: out of memory\n");
		return (3);
	}
	memset(&rep, 0, sizeof(rep));
	replay_run(&args, results, &rep.wall_s);
	replay_tally(&args, results, total, &rep);
	if (args.db_conf != NULL &&
	    replay_check_db(&args, results, total, &rep) == -1) {
		free(results);
		return (3);
	}

	if (args.json) {
		json = replay_report_json(&args, &rep);
		puts(json_object_to_json_string_ext(json,
		    JSON_C_TO_STRING_PLAIN));
		json_object_put(json);
	} else
		replay_report_print(&args, &rep);
	free(results);
	curl_global_cleanup();
	mysql_library_end();
	return (replay_exit_status(&rep));
}
