/*
 * Unit tests for register.c. The store is cut at the db_* seam: each
 * db_* function below plays back what the test scripted with will_return,
 * so every path (1062, 1213, GET_LOCK 0/NULL, a lost connection) is hit
 * in a known order, and cmocka fails a test that leaves a script unused.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "app.h"

#define FOUND_OURS	2	/* find: the row holds the hash we inserted */

static char	inserted_hash[PW_HASH_MAX];
static unsigned long long hashes_before;	/* the counter at setup */

/* Password hashes since setup, read from the rendered /metrics. */
static unsigned long long
hashes(void)
{
	const char		*name = "\nregonce_password_hashes_total ";
	unsigned long long	 n;
	size_t			 len;
	char			*text, *at;

	text = metrics_render(NULL, 0, &len);
	assert_non_null(text);
	at = strstr(text, name);
	assert_non_null(at);
	n = strtoull(at + strlen(name), NULL, 10);
	free(text);
	return (n - hashes_before);
}
static int	fake_connected = 1;
static int	fake_wsrep;

/* A scripted status; DB_LOST closes the connection, as db.c does. */
static enum db_status
scripted(enum db_status st)
{
	if (st == DB_LOST)
		fake_connected = 0;
	return (st);
}

/* --- the scripted store -------------------------------------------- */

int
db_connected(struct db *db)
{
	(void)db;
	return (fake_connected);
}

enum db_status
db_reconnect(struct db *db)
{
	enum db_status	st = mock_type(enum db_status);

	(void)db;
	fake_connected = st == DB_OK;
	return (st);
}

enum db_status
db_find_user(struct db *db, const char *openid, size_t len, int for_update,
    struct db_user *user, int *found)
{
	(void)db;
	(void)openid;
	(void)len;
	check_expected(for_update);
	*found = mock_type(int);
	memset(user, 0, sizeof(*user));
	user->id = 7;
	if (*found == FOUND_OURS) {
		strcpy(user->password_hash, inserted_hash);
		*found = 1;
	} else
		strcpy(user->password_hash, "$argon2id$someone-else");
	return (scripted(mock_type(enum db_status)));
}

enum db_status
db_insert_user(struct db *db, const char *openid, size_t openid_len,
    const char *username, size_t username_len, const char *password_hash,
    uint64_t *user_id)
{
	(void)db;
	(void)openid;
	(void)openid_len;
	(void)username;
	(void)username_len;
	/* The hash is done before the insert, and is argon2id. */
	assert_memory_equal(password_hash, "$argon2id$v=19$", 15);
	strcpy(inserted_hash, password_hash);
	*user_id = 99;
	return (scripted(mock_type(enum db_status)));
}

/*
 * A lock call plays back its script: the answer, the status; with
 * DB_TXN_BEGIN, then START TRANSACTION's (db_begin) if GET_LOCK did not
 * fail, as the paired round trip does.
 */
enum db_status
db_get_lock(struct db *db, const char *name, unsigned int timeout_ms,
    enum db_txn then, enum db_lock_answer *answer)
{
	enum db_status	st;

	if (strncmp(name, "regonce-key:", 12) == 0) {
		/* An Idempotency-Key's lock is never waited for. */
		assert_int_equal(timeout_ms, 0);
		assert_int_equal(then, DB_TXN_NONE);
	} else {
		assert_memory_equal(name, REG_LOCK_PREFIX,
		    strlen(REG_LOCK_PREFIX));
		/* lock_timeout_ms, or less when the budget is short. */
		assert_in_range(timeout_ms, 1, 3000);
		assert_int_equal(then, DB_TXN_BEGIN);
	}
	*answer = mock_type(enum db_lock_answer);
	if ((st = scripted(mock_type(enum db_status))) != DB_OK ||
	    then != DB_TXN_BEGIN)
		return (st);
	return (db_begin(db));
}

/*
 * A release plays back its first statement's script (COMMIT, ROLLBACK),
 * then, if that succeeded, answers 1 for the lock.
 */
enum db_status
db_release_lock(struct db *db, enum db_txn first, const char *name,
    enum db_lock_answer *released)
{
	enum db_status	st = DB_OK;

	(void)name;
	*released = LOCK_NOT_ASKED;
	if (first != DB_TXN_NONE)
		st = first == DB_TXN_COMMIT ? db_commit(db) : db_rollback(db);
	if (st == DB_OK) {
		function_called();
		*released = LOCK_ONE;
	}
	return (st);
}

/* A lock name: the prefix and a stand-in for the digest. */
int
db_lock_name(struct db *db, const char *prefix, const char *table,
    const void *bytes, size_t len, char *out, size_t outlen)
{
	(void)db;
	(void)table;
	(void)bytes;
	if (snprintf(out, outlen, "%s%zu", prefix, len) >= (int)outlen)
		return (-1);
	return (0);
}
/* reg_store_new's store: never connected here. */
struct db *
db_new(const struct config *cfg)
{
	(void)cfg;
	return (NULL);
}

void
db_want_compound(struct db *db, int needed)
{
	(void)db;
	(void)needed;
}

/* strategy auto's question: were the compound statements prepared? */
static int	fake_compound_ready;

int
db_compound_ready(struct db *db)
{
	(void)db;
	return (fake_compound_ready);
}

const char *
db_lock_answer_name(enum db_lock_answer answer)
{
	(void)answer;
	return ("-");
}

/* The key's stored answer, if the script says there is one. */
static struct db_idem	stored_answer;
static struct db_idem	saved_answer;

enum db_status
db_idem_find(struct db *db, const unsigned char *key_hash,
    struct db_idem *row, int *found)
{
	(void)db;
	(void)key_hash;
	*found = mock_type(int);
	*row = stored_answer;
	return (scripted(mock_type(enum db_status)));
}

enum db_status
db_idem_store(struct db *db, const unsigned char *key_hash,
    const struct db_idem *row, int expired, unsigned int ttl_s)
{
	(void)db;
	(void)key_hash;
	(void)expired;
	(void)ttl_s;
	function_called();
	saved_answer = *row;
	return (DB_OK);
}

enum db_status
db_idem_purge(struct db *db, unsigned int limit, unsigned long *deleted)
{
	(void)db;
	(void)limit;
	*deleted = 0;
	return (DB_OK);
}

/* Unexpired answers stored, as the cap's count sees them. */
static unsigned int	fake_live_keys;
static unsigned int	live_counts;	/* db_idem_live calls */

enum db_status
db_idem_live(struct db *db, unsigned int cap, unsigned int *live)
{
	(void)db;
	live_counts++;
	*live = fake_live_keys < cap ? fake_live_keys : cap;
	return (DB_OK);
}

void
db_set_deadline(struct db *db, int64_t deadline)
{
	(void)db;
	(void)deadline;
}

enum db_status
db_begin(struct db *db)
{
	(void)db;
	return (scripted(mock_type(enum db_status)));
}

enum db_status
db_commit(struct db *db)
{
	(void)db;
	return (scripted(mock_type(enum db_status)));
}

enum db_status
db_rollback(struct db *db)
{
	(void)db;
	function_called();
	return (DB_OK);
}

int
db_wsrep(struct db *db)
{
	(void)db;
	return (fake_wsrep);
}

/*
 * named_lock_compound's last round trip plays back its status; one that
 * is DB_OK or DB_LOST wrote the row (whether or not the answer came).
 */
enum db_status
db_register_compound(struct db *db, const char *lock, const char *openid,
    size_t openid_len, const char *username, size_t username_len,
    const char *hash, struct db_user *user)
{
	enum db_status	st = mock_type(enum db_status);

	(void)db;
	(void)openid;
	(void)openid_len;
	(void)username;
	(void)username_len;
	assert_memory_equal(lock, REG_LOCK_PREFIX, strlen(REG_LOCK_PREFIX));
	/* The hash is done before the round trip, and is argon2id. */
	assert_memory_equal(hash, "$argon2id$v=19$", 15);
	memset(user, 0, sizeof(*user));
	if (st == DB_OK || st == DB_LOST) {
		user->id = 99;
		strcpy(inserted_hash, hash);
	}
	return (scripted(st));
}

/*
 * named_lock_compound's first round trip plays back its script: the
 * lock's answer (LOCK_NOT_ASKED: the pre-check found the row), whether
 * the row was found (FOUND_OURS: with the hash of an earlier insert),
 * then the status.
 */
enum db_status
db_lock_look(struct db *db, const char *lock, unsigned int timeout_ms,
    const char *openid, size_t openid_len, enum db_lock_answer *answer,
    struct db_user *user, int *found)
{
	int	what;

	(void)db;
	(void)openid;
	(void)openid_len;
	assert_memory_equal(lock, REG_LOCK_PREFIX, strlen(REG_LOCK_PREFIX));
	assert_in_range(timeout_ms, 1, 3000);
	*answer = mock_type(enum db_lock_answer);
	what = mock_type(int);
	*found = what != 0;
	memset(user, 0, sizeof(*user));
	if (what == FOUND_OURS) {
		user->id = 7;
		strcpy(user->password_hash, inserted_hash);
	} else if (what) {
		user->id = 7;
		strcpy(user->password_hash, "$argon2id$someone-else");
	}
	return (scripted(mock_type(enum db_status)));
}

static void
look(enum db_lock_answer answer, int found, enum db_status st)
{
	will_return(db_lock_look, answer);
	will_return(db_lock_look, found);
	will_return(db_lock_look, st);
}

static void
compound(enum db_status st)
{
	will_return(db_register_compound, st);
}

unsigned int
db_errno(struct db *db)
{
	(void)db;
	return (1213);
}

const char *
db_error(struct db *db)
{
	(void)db;
	return ("scripted error");
}

/* --- scripting helpers --------------------------------------------- */

static void
find(int for_update, int found, enum db_status st)
{
	expect_value(db_find_user, for_update, for_update);
	will_return(db_find_user, found);
	will_return(db_find_user, st);
}

static void
lock(enum db_lock_answer answer, enum db_status st)
{
	will_return(db_get_lock, answer);
	will_return(db_get_lock, st);
}

/* The usual path up to the INSERT: pre-check, lock, begin, FOR UPDATE. */
static void
up_to_insert(void)
{
	find(0, 0, DB_OK);
	lock(LOCK_ONE, DB_OK);
	will_return(db_begin, DB_OK);
	find(1, 0, DB_OK);
}

static struct config	cfg;
static struct reg_input	good = { "oABC-123", 8, "张三", 6, "correct horse",
			    13 };

static int
setup(void **state)
{
	(void)state;
	config_defaults(&cfg);
	/* Cheap argon2 for tests: the cost is config, the code path is not. */
	cfg.argon2_memory_kib = 8;
	cfg.argon2_iterations = 1;
	cfg.log_level = LOG_LEVEL_ERROR;
	log_open("-", LOG_LEVEL_ERROR);
	fake_connected = 1;
	fake_wsrep = 0;
	inserted_hash[0] = '\0';
	hashes_before = 0;
	hashes_before = hashes();
	fake_compound_ready = 0;
	memset(&stored_answer, 0, sizeof(stored_answer));
	memset(&saved_answer, 0, sizeof(saved_answer));
	fake_live_keys = live_counts = 0;
	idem_full_forget();
	return (0);
}

/* --- the registration flow ----------------------------------------- */

static void
test_created(void **state)
{
	struct reg_outcome	out;

	(void)state;
	up_to_insert();
	will_return(db_insert_user, DB_OK);
	will_return(db_commit, DB_OK);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	assert_int_equal(out.user_id, 99);
	assert_int_equal(out.attempts, 1);
}

/* A repeat ends at the pre-check: no lock, no hash, no insert. */
static void
test_exists_precheck(void **state)
{
	struct reg_outcome	out;

	(void)state;
	find(0, 1, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_EXISTS);
	assert_string_equal(inserted_hash, "");
}

/* The row appeared between pre-check and lock: FOR UPDATE sees it. */
static void
test_exists_under_lock(void **state)
{
	struct reg_outcome	out;

	(void)state;
	find(0, 0, DB_OK);
	lock(LOCK_ONE, DB_OK);
	will_return(db_begin, DB_OK);
	find(1, 1, DB_OK);
	expect_function_call(db_rollback);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_EXISTS);
	/* The copy that waited for the lock never hashed. */
	assert_int_equal(hashes(), 0);
}

/*
 * ER_DUP_ENTRY on the INSERT is "exists", not an error, once the row's
 * hash shows it is someone else's.
 */
static void
test_duplicate_is_exists(void **state)
{
	struct reg_outcome	out;

	(void)state;
	up_to_insert();
	will_return(db_insert_user, DB_DUPLICATE);
	find(0, 1, DB_OK);
	expect_function_call(db_rollback);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_EXISTS);
}

/* A deadlock rolls back, releases, and the whole attempt is retried. */
static void
test_deadlock_retried(void **state)
{
	struct reg_outcome	out;

	(void)state;
	up_to_insert();
	will_return(db_insert_user, DB_RETRY);
	expect_function_call(db_rollback);
	expect_function_call(db_release_lock);
	up_to_insert();
	will_return(db_insert_user, DB_OK);
	will_return(db_commit, DB_OK);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	assert_int_equal(out.attempts, 2);
}

/* Deadlocks every time: give up after retry_max with "busy". */
static void
test_deadlock_exhausted(void **state)
{
	struct reg_outcome	out;
	int			i;

	(void)state;
	for (i = 0; i < 3; i++) {
		up_to_insert();
		will_return(db_insert_user, DB_RETRY);
		expect_function_call(db_rollback);
		expect_function_call(db_release_lock);
	}
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_BUSY);
	assert_int_equal(out.attempts, 3);
}

/*
 * GET_LOCK 0: someone else holds it past the timeout. The transaction
 * that travelled with it is rolled back; there is no lock to release.
 */
static void
test_lock_timeout_busy(void **state)
{
	struct reg_outcome	out;

	(void)state;
	find(0, 0, DB_OK);
	will_return(db_begin, DB_OK);
	lock(LOCK_ZERO, DB_OK);
	expect_function_call(db_rollback);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_BUSY);
}

/* GET_LOCK NULL: the server failed the call. */
static void
test_lock_null_unavailable(void **state)
{
	struct reg_outcome	out;

	(void)state;
	find(0, 0, DB_OK);
	will_return(db_begin, DB_OK);
	lock(LOCK_NULL, DB_OK);
	expect_function_call(db_rollback);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_DB_UNAVAILABLE);
}

/*
 * Galera: the COMMIT loses certification to the same openid inserted on
 * another node (1213). The attempt is retried; its pre-check (a causal
 * read) finds the winner's row: "exists", never "created" twice.
 */
static void
test_certification_conflict_exists(void **state)
{
	struct reg_outcome	out;

	(void)state;
	up_to_insert();
	will_return(db_insert_user, DB_OK);
	will_return(db_commit, DB_RETRY);
	expect_function_call(db_rollback);
	expect_function_call(db_release_lock);
	find(0, 1, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_EXISTS);
	assert_int_equal(out.attempts, 2);
}

/*
 * A server that refuses GET_LOCK (1235, the Galera releases with
 * MDEV-30473): the registration goes on under the UNIQUE index, and no
 * RELEASE_LOCK is sent for a lock never taken.
 */
static void
test_lock_refused_goes_on(void **state)
{
	struct reg_outcome	out;
	int			i;

	(void)state;
	for (i = 0; i < 2; i++) {
		find(0, 0, DB_OK);
		lock(LOCK_REFUSED, DB_OK);
		will_return(db_begin, DB_OK);
		find(1, 0, DB_OK);
		will_return(db_insert_user, i == 0 ? DB_OK : DB_DUPLICATE);
		if (i == 0)
			will_return(db_commit, DB_OK);
		else {
			find(0, 1, DB_OK);
			expect_function_call(db_rollback);
		}
		reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
		assert_int_equal(out.result, i == 0 ? REG_CREATED : REG_EXISTS);
		assert_int_equal(out.attempts, 1);
	}
}

/*
 * The connection dies at COMMIT, which had in fact committed: after the
 * reconnect the pre-check finds a row with our own hash, so the answer is
 * still "created", once. No rollback or release on a dead connection.
 */
static void
test_lost_at_commit_is_created_once(void **state)
{
	struct reg_outcome	out;

	(void)state;
	up_to_insert();
	will_return(db_insert_user, DB_OK);
	will_return(db_commit, DB_LOST);
	will_return(db_reconnect, DB_OK);
	find(0, FOUND_OURS, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	assert_int_equal(out.user_id, 7);
	assert_int_equal(out.attempts, 2);
}

/*
 * The answer to COMMIT is lost and the server stays away longer than
 * retry_max reconnects: the worker keeps trying within the budget, and
 * finds its own row once the server is back.
 */
static void
test_lost_commit_chased_past_retry_max(void **state)
{
	struct reg_outcome	out;
	int			i;

	(void)state;
	up_to_insert();
	will_return(db_insert_user, DB_OK);
	will_return(db_commit, DB_LOST);
	for (i = 0; i < 5; i++)
		will_return(db_reconnect, DB_LOST);
	will_return(db_reconnect, DB_OK);
	find(0, FOUND_OURS, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	assert_int_equal(out.attempts, 7);
}

/* The budget ends before the server is back: "outcome unknown". */
static void
test_lost_commit_budget_spent(void **state)
{
	struct reg_outcome	out;

	(void)state;
	up_to_insert();
	will_return(db_insert_user, DB_OK);
	will_return(db_commit, DB_LOST);
	will_return_always(db_reconnect, DB_LOST);
	reg_user(NULL, &cfg, &good, NULL, deadline_at(0, 400), &out);
	assert_int_equal(out.result, REG_OUTCOME_UNKNOWN);
	assert_true(out.attempts > 3);
}

/* In autocommit (unique) the INSERT is the COMMIT: lost is unknown too. */
static void
test_unique_lost_insert_unknown(void **state)
{
	struct reg_outcome	out;

	(void)state;
	cfg.strategy = STRATEGY_UNIQUE;
	find(0, 0, DB_OK);
	will_return(db_insert_user, DB_LOST);
	will_return_always(db_reconnect, DB_LOST);
	reg_user(NULL, &cfg, &good, NULL, deadline_at(0, 300), &out);
	assert_int_equal(out.result, REG_OUTCOME_UNKNOWN);
}

/* Lost before COMMIT was sent: nothing was written, db_unavailable. */
static void
test_lost_before_commit_unavailable(void **state)
{
	struct reg_outcome	out;

	(void)state;
	up_to_insert();
	will_return(db_insert_user, DB_LOST);
	will_return_always(db_reconnect, DB_LOST);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_DB_UNAVAILABLE);
	assert_int_equal(out.attempts, 3);
}

/*
 * No time left for the rest (a request picked up late from the queue):
 * request_expired before any hashing and without asking for the lock,
 * not "busy" for an openid nobody else sent.
 */
static void
test_no_time_to_hash(void **state)
{
	struct reg_outcome	out;

	(void)state;
	find(0, 0, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, deadline_at(0, 50), &out);
	assert_int_equal(out.result, REG_EXPIRED);
	assert_string_equal(inserted_hash, "");
}

/*
 * unique: the first INSERT's connection went before its answer came, the
 * retry's pre-check does not see the row yet (its commit was held), and
 * the retry's INSERT meets it (1062): the row holds our own hash, so the
 * answer is "created", never "exists" for our own new row.
 */
static void
test_unique_own_row_is_created(void **state)
{
	struct reg_outcome	out;

	(void)state;
	cfg.strategy = STRATEGY_UNIQUE;
	find(0, 0, DB_OK);
	will_return(db_insert_user, DB_LOST);
	will_return(db_reconnect, DB_OK);
	find(0, 0, DB_OK);
	will_return(db_insert_user, DB_DUPLICATE);
	find(0, FOUND_OURS, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	assert_int_equal(out.user_id, 7);
	assert_int_equal(out.attempts, 2);
}

/*
 * A read-only server (a failover: 1290) refuses the INSERT: nothing was
 * written, so the answer is db_unavailable (503, retry later), not an
 * internal error, and the transaction and lock are let go.
 */
static void
test_read_only_unavailable(void **state)
{
	struct reg_outcome	out;

	(void)state;
	up_to_insert();
	will_return(db_insert_user, DB_READ_ONLY);
	expect_function_call(db_rollback);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_DB_UNAVAILABLE);
	assert_int_equal(out.attempts, 1);
}

/* The connection is gone and stays gone: 503 db_unavailable. */
static void
test_lost_for_good(void **state)
{
	struct reg_outcome	out;

	(void)state;
	find(0, 0, DB_LOST);
	will_return(db_reconnect, DB_LOST);
	will_return(db_reconnect, DB_LOST);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_DB_UNAVAILABLE);
	assert_int_equal(out.attempts, 3);
}

/* A worker whose connection died earlier reconnects before anything. */
static void
test_reconnect_first(void **state)
{
	struct reg_outcome	out;

	(void)state;
	fake_connected = 0;
	will_return(db_reconnect, DB_OK);
	find(0, 1, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_EXISTS);
}

/* An unexpected DB error is internal; the lock is still released. */
static void
test_error_releases_lock(void **state)
{
	struct reg_outcome	out;

	(void)state;
	up_to_insert();
	will_return(db_insert_user, DB_ERROR);
	expect_function_call(db_rollback);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_INTERNAL);
	/* START TRANSACTION failed after GET_LOCK: the lock is released. */
	find(0, 0, DB_OK);
	lock(LOCK_ONE, DB_OK);
	will_return(db_begin, DB_ERROR);
	expect_function_call(db_rollback);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_INTERNAL);
}

/* unique: no lock at all; the index's 1062 is "exists". */
static void
test_unique_strategy(void **state)
{
	struct reg_outcome	out;

	(void)state;
	cfg.strategy = STRATEGY_UNIQUE;
	find(0, 0, DB_OK);
	will_return(db_insert_user, DB_DUPLICATE);
	find(0, 1, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_EXISTS);
	find(0, 0, DB_OK);
	will_return(db_insert_user, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
}

/* --- Idempotency-Key ------------------------------------------------ */

/* The web layer's answer, reduced to what the tests compare. */
static int
render(const struct reg_outcome *outcome, struct db_idem *row)
{
	row->status = outcome->result == REG_CREATED ? 200 : 299;
	row->body_len = (size_t)snprintf(row->body, sizeof(row->body),
	    "%s:%llu", reg_result_name(outcome->result),
	    (unsigned long long)outcome->user_id);
	return (0);
}

static struct reg_idem	key = { { 1 }, { 2 }, render };

/* The key's lock, then its stored answer (found: 0 none, 1 this one). */
static void
key_begin(int found)
{
	lock(LOCK_ONE, DB_OK);
	will_return(db_idem_find, found);
	will_return(db_idem_find, DB_OK);
}

/* First use: the answer is stored inside the transaction, before COMMIT. */
static void
test_key_created_stored(void **state)
{
	struct reg_outcome	out;

	(void)state;
	key_begin(0);
	up_to_insert();
	will_return(db_insert_user, DB_OK);
	expect_function_call(db_idem_store);
	will_return(db_commit, DB_OK);
	expect_function_call(db_release_lock);	/* the openid's */
	expect_function_call(db_release_lock);	/* the key's */
	reg_user(NULL, &cfg, &good, &key, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	assert_string_equal(saved_answer.body, "created:99");
	assert_memory_equal(saved_answer.fingerprint, key.fingerprint,
	    DB_HASH_BYTES);
}

/* The same key and fingerprint: the stored answer, nothing else runs. */
static void
test_key_replayed(void **state)
{
	struct reg_outcome	out;

	(void)state;
	memcpy(stored_answer.fingerprint, key.fingerprint, DB_HASH_BYTES);
	stored_answer.status = 200;
	stored_answer.body_len = 10;
	memcpy(stored_answer.body, "created:42", 10);
	key_begin(1);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, &key, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_REPLAYED);
	assert_memory_equal(out.stored.body, "created:42", 10);
	assert_string_equal(inserted_hash, "");		/* no hashing */
}

/* The same key with another fingerprint: refused. */
static void
test_key_reused(void **state)
{
	struct reg_outcome	out;

	(void)state;
	memset(stored_answer.fingerprint, 9, DB_HASH_BYTES);
	key_begin(1);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, &key, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_KEY_REUSED);
}

/*
 * idempotency_max_keys answers stored: a new key, even with a bad field,
 * is refused before any work (no validation, no hashing, nothing
 * stored), its lock released; the next new key is refused without
 * counting again, and one below the cap (after a recheck) runs.
 */
static void
test_key_storage_full(void **state)
{
	struct reg_input	bad = good;
	struct reg_outcome	out;

	(void)state;
	cfg.idempotency_max_keys = 50;
	fake_live_keys = 50;
	bad.password_len = 1;
	key_begin(0);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &bad, &key, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_KEY_STORAGE_FULL);
	assert_string_equal(inserted_hash, "");
	assert_int_equal(hashes(), 0);
	assert_int_equal(saved_answer.body_len, 0);	/* nothing stored */
	assert_int_equal(live_counts, 1);

	key_begin(0);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &bad, &key, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_KEY_STORAGE_FULL);
	assert_int_equal(live_counts, 1);	/* remembered: no count */

	idem_full_forget();
	fake_live_keys = 49;
	key_begin(0);
	expect_function_call(db_idem_store);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &bad, &key, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_INVALID);
	assert_int_equal(live_counts, 2);
}

/*
 * A count that left half the cap and 10000 answers free is trusted for a
 * second: the next new key does not count again; one close to the cap
 * counts for every new key.
 */
static void
test_key_storage_roomy(void **state)
{
	struct reg_input	bad = good;
	struct reg_outcome	out;
	int			i;

	(void)state;
	bad.password_len = 1;
	cfg.idempotency_max_keys = 100000;
	for (fake_live_keys = 50000, i = 0; i < 2; i++) {
		key_begin(0);
		expect_function_call(db_idem_store);
		expect_function_call(db_release_lock);
		reg_user(NULL, &cfg, &bad, &key, DEADLINE_NONE, &out);
		assert_int_equal(out.result, REG_INVALID);
	}
	assert_int_equal(live_counts, 1);

	idem_full_forget();
	for (fake_live_keys = 50001, i = 0; i < 2; i++) {
		key_begin(0);
		expect_function_call(db_idem_store);
		expect_function_call(db_release_lock);
		reg_user(NULL, &cfg, &bad, &key, DEADLINE_NONE, &out);
		assert_int_equal(out.result, REG_INVALID);
	}
	assert_int_equal(live_counts, 3);
}

/* A request with the key still runs: conflict, and its lock is not ours. */
static void
test_key_in_use(void **state)
{
	struct reg_outcome	out;

	(void)state;
	lock(LOCK_ZERO, DB_OK);
	reg_user(NULL, &cfg, &good, &key, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_KEY_IN_USE);
}

/* "exists" wrote nothing, but its answer is stored for the retry. */
static void
test_key_exists_stored(void **state)
{
	struct reg_outcome	out;

	(void)state;
	key_begin(0);
	find(0, 1, DB_OK);
	expect_function_call(db_idem_store);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, &key, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_EXISTS);
	assert_string_equal(saved_answer.body, "exists:0");
}

/* Keyed bad input is answered, and the answer stored, like any other. */
static void
test_key_invalid_stored(void **state)
{
	struct reg_input	bad = { "", 0, "n", 1, "12345678", 8 };
	struct reg_outcome	out;

	(void)state;
	key_begin(0);
	expect_function_call(db_idem_store);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &bad, &key, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_INVALID);
}

/*
 * COMMIT's answer is lost; after the reconnect the key's stored answer is
 * there (it landed with the row): the retry is its replay.
 */
static void
test_key_lost_commit_replayed(void **state)
{
	struct reg_outcome	out;

	(void)state;
	key_begin(0);
	up_to_insert();
	will_return(db_insert_user, DB_OK);
	expect_function_call(db_idem_store);
	will_return(db_commit, DB_LOST);
	will_return(db_reconnect, DB_OK);
	memcpy(stored_answer.fingerprint, key.fingerprint, DB_HASH_BYTES);
	stored_answer.body_len = 10;
	memcpy(stored_answer.body, "created:99", 10);
	key_begin(1);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, &key, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_REPLAYED);
	assert_memory_equal(out.stored.body, "created:99", 10);
}

/* --- validation and lock names ------------------------------------- */

struct input_case {
	const char	*name;
	const char	*openid, *username, *password;
	size_t		 openid_len, username_len, password_len;
	const char	*field;		/* NULL: valid */
};

static char	long_openid[257], long_username[257], long_password[1026];

#define IN(o, u, p) o, u, p, sizeof(o) - 1, sizeof(u) - 1, sizeof(p) - 1

static const struct input_case input_cases[] = {
	{ "valid", IN("o_1-A.b", "name", "12345678"), NULL },
	{ "printable ascii openid", IN("!~#{}'\";", "n", "12345678"), NULL },
	{ "utf-8 username", IN("o", "\xe5\xbc\xa0\xf0\x9f\x98\x80", "12345678"),
	    NULL },
	{ "empty openid", IN("", "n", "12345678"), "openid" },
	{ "openid with space", IN("o 1", "n", "12345678"), "openid" },
	{ "openid with NUL", IN("o\0", "n", "12345678"), "openid" },
	{ "openid with newline", IN("o\n", "n", "12345678"), "openid" },
	{ "openid non-ascii", IN("\xc3\xa9", "n", "12345678"), "openid" },
	{ "empty username", IN("o", "", "12345678"), "username" },
	{ "username with NUL", IN("o", "a\0b", "12345678"), "username" },
	{ "username with tab", IN("o", "a\tb", "12345678"), "username" },
	{ "username with DEL", IN("o", "a\x7f", "12345678"), "username" },
	{ "username with C1", IN("o", "a\xc2\x85", "12345678"), "username" },
	{ "username bad utf-8", IN("o", "a\xff", "12345678"), "username" },
	{ "username overlong", IN("o", "\xc0\xaf", "12345678"), "username" },
	{ "username surrogate", IN("o", "\xed\xa0\x80", "12345678"),
	    "username" },
	{ "username truncated", IN("o", "\xe5\xbc", "12345678"), "username" },
	{ "username above U+10FFFF", IN("o", "\xf4\x90\x80\x80", "12345678"),
	    "username" },
	{ "short password", IN("o", "n", "1234567"), "password" },
	{ "password with NUL", IN("o", "n", "1234\0678"), "password" },
};

static void
test_validate_table(void **state)
{
	const char	*field, *reason;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(input_cases) / sizeof(input_cases[0]); i++) {
		const struct input_case	*c = &input_cases[i];
		struct reg_input	 in = { c->openid, c->openid_len,
					    c->username, c->username_len,
					    c->password, c->password_len };
		int			 rc;

		rc = reg_validate(&cfg, &in, &field, &reason);
		if (c->field == NULL && rc != 0)
			fail_msg("%s: refused (%s: %s)", c->name, field,
			    reason);
		if (c->field != NULL && (rc != -1 ||
		    strcmp(field, c->field) != 0 || reason == NULL))
			fail_msg("%s: want %s refused, got rc %d", c->name,
			    c->field, rc);
	}
}

/* Lengths at and past each limit. */
static void
test_validate_limits(void **state)
{
	const char		*field, *reason;
	struct reg_input	 in = { long_openid, 255, "n", 1, "12345678",
				    8 };

	(void)state;
	memset(long_openid, 'o', sizeof(long_openid));
	memset(long_username, 'u', sizeof(long_username));
	memset(long_password, 'p', sizeof(long_password));
	assert_int_equal(reg_validate(&cfg, &in, &field, &reason), 0);
	in.openid_len = 256;
	assert_int_equal(reg_validate(&cfg, &in, &field, &reason), -1);
	assert_string_equal(field, "openid");
	in.openid_len = 1;
	in.username = long_username;
	in.username_len = 255;
	assert_int_equal(reg_validate(&cfg, &in, &field, &reason), 0);
	in.username_len = 256;
	assert_int_equal(reg_validate(&cfg, &in, &field, &reason), -1);
	assert_string_equal(field, "username");
	in.username_len = 1;
	in.password = long_password;
	in.password_len = 1024;
	assert_int_equal(reg_validate(&cfg, &in, &field, &reason), 0);
	in.password_len = 1025;
	assert_int_equal(reg_validate(&cfg, &in, &field, &reason), -1);
	assert_string_equal(field, "password");
	cfg.password_min_length = 12;
	in.password_len = 11;
	assert_int_equal(reg_validate(&cfg, &in, &field, &reason), -1);
}

/* Invalid input touches nothing: no script, so any db call fails. */
static void
test_invalid_touches_nothing(void **state)
{
	struct reg_input	in = { "", 0, "n", 1, "12345678", 8 };
	struct reg_outcome	out;

	(void)state;
	reg_user(NULL, &cfg, &in, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_INVALID);
	assert_string_equal(out.field, "openid");
}

/* --- named_lock_compound: the same answers in two round trips ------- */

/* New openid: lock and look, hash, the rest; "created" with its id. */
static void
test_compound_created(void **state)
{
	struct reg_outcome	out;

	(void)state;
	cfg.strategy = STRATEGY_NAMED_LOCK_COMPOUND;
	look(LOCK_ONE, 0, DB_OK);
	compound(DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	assert_int_equal(out.user_id, 99);
	assert_int_equal(out.attempts, 1);
	assert_int_equal(hashes(), 1);
	/* A repeat ends at the first statement's pre-check: no lock. */
	look(LOCK_NOT_ASKED, 1, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_EXISTS);
	assert_int_equal(hashes(), 1);
}

/* The row appeared after the pre-check (found under the lock), or an
 * insert without our lock won (1062): both "exists". */
static void
test_compound_exists(void **state)
{
	struct reg_outcome	out;

	(void)state;
	cfg.strategy = STRATEGY_NAMED_LOCK_COMPOUND;
	look(LOCK_ONE, 1, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_EXISTS);
	/* Found under the lock: the copy never hashed. */
	assert_int_equal(hashes(), 0);
	look(LOCK_ONE, 0, DB_OK);
	compound(DB_DUPLICATE);
	find(0, 1, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_EXISTS);
}

/* GET_LOCK 0 is busy, NULL unavailable; a deadlock is retried whole. */
static void
test_compound_lock_answers(void **state)
{
	struct reg_outcome	out;

	(void)state;
	cfg.strategy = STRATEGY_NAMED_LOCK_COMPOUND;
	look(LOCK_ZERO, 0, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_BUSY);
	look(LOCK_NULL, 0, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_DB_UNAVAILABLE);
	/* No lock had: nothing hashed. */
	assert_int_equal(hashes(), 0);
	look(LOCK_FAILED, 0, DB_RETRY);
	look(LOCK_ONE, 0, DB_OK);
	compound(DB_RETRY);
	look(LOCK_ONE, 0, DB_OK);
	compound(DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	assert_int_equal(out.attempts, 3);
	/* Hashed once, kept for the retry. */
	assert_int_equal(hashes(), 1);
}

/*
 * The connection dies during the last round trip, whose COMMIT had
 * landed: the reconnected first statement's pre-check finds our own
 * hash, "created" once. When the server stays away past the budget:
 * "outcome unknown", never "unavailable" (the COMMIT may have landed).
 */
static void
test_compound_lost(void **state)
{
	struct reg_outcome	out;

	(void)state;
	cfg.strategy = STRATEGY_NAMED_LOCK_COMPOUND;
	look(LOCK_ONE, 0, DB_OK);
	compound(DB_LOST);
	will_return(db_reconnect, DB_OK);
	look(LOCK_NOT_ASKED, FOUND_OURS, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	assert_int_equal(out.user_id, 7);
	assert_int_equal(out.attempts, 2);
	look(LOCK_ONE, 0, DB_OK);
	compound(DB_LOST);
	will_return_always(db_reconnect, DB_LOST);
	reg_user(NULL, &cfg, &good, NULL, deadline_at(0, 400), &out);
	assert_int_equal(out.result, REG_OUTCOME_UNKNOWN);
}

/*
 * A budget too short for a lock wait still gets the plain pre-check: a
 * repeat hears "exists", a new openid "request_expired", never "busy".
 */
static void
test_compound_short_budget(void **state)
{
	struct reg_outcome	out;

	(void)state;
	cfg.strategy = STRATEGY_NAMED_LOCK_COMPOUND;
	find(0, 1, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, deadline_at(0, 50), &out);
	assert_int_equal(out.result, REG_EXISTS);
	find(0, 0, DB_OK);
	reg_user(NULL, &cfg, &good, NULL, deadline_at(0, 50), &out);
	assert_int_equal(out.result, REG_EXPIRED);
	assert_int_equal(hashes(), 0);
}

/*
 * A keyed request (its answer must commit with the row) and a Galera
 * node (each statement alone) take named_lock's statements instead.
 */
static void
test_compound_falls_back(void **state)
{
	struct reg_outcome	out;

	(void)state;
	cfg.strategy = STRATEGY_NAMED_LOCK_COMPOUND;
	fake_wsrep = 1;
	up_to_insert();
	will_return(db_insert_user, DB_OK);
	will_return(db_commit, DB_OK);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	fake_wsrep = 0;
	key_begin(0);
	up_to_insert();
	will_return(db_insert_user, DB_OK);
	expect_function_call(db_idem_store);
	will_return(db_commit, DB_OK);
	expect_function_call(db_release_lock);	/* the openid's */
	expect_function_call(db_release_lock);	/* the key's */
	reg_user(NULL, &cfg, &good, &key, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	assert_string_equal(saved_answer.body, "created:99");
}

/*
 * strategy auto runs the compound where the server prepared it (lock and
 * look, then the compound), named_lock's statements where not.
 */
static void
test_auto_picks(void **state)
{
	struct reg_outcome	out;

	(void)state;
	cfg.strategy = STRATEGY_AUTO;
	fake_compound_ready = 1;
	look(LOCK_ONE, 0, DB_OK);
	compound(DB_OK);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	assert_int_equal(out.user_id, 99);
	fake_compound_ready = 0;
	up_to_insert();
	will_return(db_insert_user, DB_OK);
	will_return(db_commit, DB_OK);
	expect_function_call(db_release_lock);
	reg_user(NULL, &cfg, &good, NULL, DEADLINE_NONE, &out);
	assert_int_equal(out.result, REG_CREATED);
	assert_string_equal(config_strategy_name(STRATEGY_AUTO), "auto");
}

#define T(fn) cmocka_unit_test_setup(fn, setup)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_created),
		T(test_exists_precheck),
		T(test_exists_under_lock),
		T(test_certification_conflict_exists),
		T(test_lock_refused_goes_on),
		T(test_duplicate_is_exists),
		T(test_deadlock_retried),
		T(test_deadlock_exhausted),
		T(test_lock_timeout_busy),
		T(test_lock_null_unavailable),
		T(test_lost_at_commit_is_created_once),
		T(test_lost_commit_chased_past_retry_max),
		T(test_lost_commit_budget_spent),
		T(test_unique_lost_insert_unknown),
		T(test_lost_before_commit_unavailable),
		T(test_no_time_to_hash),
		T(test_unique_own_row_is_created),
		T(test_read_only_unavailable),
		T(test_lost_for_good),
		T(test_reconnect_first),
		T(test_error_releases_lock),
		T(test_unique_strategy),
		T(test_compound_created),
		T(test_compound_exists),
		T(test_compound_lock_answers),
		T(test_compound_lost),
		T(test_compound_short_budget),
		T(test_compound_falls_back),
		T(test_auto_picks),
		T(test_key_created_stored),
		T(test_key_replayed),
		T(test_key_reused),
		T(test_key_in_use),
		T(test_key_storage_full),
		T(test_key_storage_roomy),
		T(test_key_exists_stored),
		T(test_key_invalid_stored),
		T(test_key_lost_commit_replayed),
		T(test_validate_table),
		T(test_validate_limits),
		T(test_invalid_touches_nothing),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
