/*
 * The compound statements of strategy named_lock_compound, prepared once
 * per session. The first takes the openid's lock and reads its row (the
 * lock is kept only when the row is absent: the caller hashes then); the
 * second runs named_lock's sequence (GET_LOCK unless this session holds
 * the lock already, START TRANSACTION, SELECT ... FOR UPDATE, INSERT,
 * COMMIT, RELEASE_LOCK) as one MariaDB compound statement: one round trip
 * each. They need MariaDB 10.1.1 or later; the caller asks for them
 * (db_want_compound) and decides when they run.
 */
#include "config.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <string.h>

#include "db_int.h"

/*
 * Parameters: the lock name, the lock wait (s), the openid. The answer is
 * one row: what happened (0 absent: the lock is held, 1 found: the row's
 * id and hash, the lock released, 2 GET_LOCK said 0, 3 it said NULL),
 * the id, the hash. On an SQL error the handler releases a lock it got.
 */
static const char db_lock_look_sql[] =
    "BEGIN NOT ATOMIC "
    "DECLARE v_lock VARCHAR(64) CHARACTER SET ascii DEFAULT ?; "
    "DECLARE v_got INT; "
    "DECLARE v_id BIGINT UNSIGNED; "
    "DECLARE v_hash VARCHAR(255) CHARACTER SET ascii; "
    "DECLARE EXIT HANDLER FOR SQLEXCEPTION "
    "BEGIN IF v_got = 1 THEN DO RELEASE_LOCK(v_lock); END IF; RESIGNAL; "
    "END; "
    "SET v_got = GET_LOCK(v_lock, ?); "
    "IF v_got IS NULL THEN SELECT 3, NULL, NULL; "
    "ELSEIF v_got = 0 THEN SELECT 2, NULL, NULL; "
    "ELSE "
    "SELECT id, password_hash INTO v_id, v_hash FROM users "
    "WHERE openid = ? LIMIT 1; "
    "IF v_id IS NULL THEN SELECT 0, NULL, NULL; "
    "ELSE DO RELEASE_LOCK(v_lock); SELECT 1, v_id, v_hash; "
    "END IF; "
    "END IF; "
    "END";

/*
 * Parameters: the lock name, the lock wait (s), the openid (twice),
 * username, hash. The lock is taken only if this session does not hold
 * it (after db_lock_look), so one RELEASE_LOCK lets it go. The answer is
 * one row: what happened (0 inserted, 1 found: the row's id and hash,
 * 2 GET_LOCK said 0, 3 it said NULL), then the id. On an SQL error the handler rolls back, releases the
 * lock, and the error reaches the client unchanged (1062, 1213, ...); a
 * killed statement may skip it (db_register_compound). LIMIT 1: a table
 * without the UNIQUE index may already hold two rows.
 */
static const char db_compound_sql[] =
    "BEGIN NOT ATOMIC "
    "DECLARE v_lock VARCHAR(64) CHARACTER SET ascii DEFAULT ?; "
    "DECLARE v_got INT; "
    "DECLARE v_id BIGINT UNSIGNED; "
    "DECLARE v_hash VARCHAR(255) CHARACTER SET ascii; "
    "DECLARE EXIT HANDLER FOR SQLEXCEPTION "
    "BEGIN ROLLBACK; DO RELEASE_LOCK(v_lock); RESIGNAL; END; "
    "SET v_got = IF(IS_USED_LOCK(v_lock) <=> CONNECTION_ID(), 1, "
    "GET_LOCK(v_lock, ?)); "
    "IF v_got IS NULL THEN SELECT 3, NULL, NULL; "
    "ELSEIF v_got = 0 THEN SELECT 2, NULL, NULL; "
    "ELSE "
    "START TRANSACTION; "
    "SELECT id, password_hash INTO v_id, v_hash FROM users "
    "WHERE openid = ? LIMIT 1 FOR UPDATE; "
    "IF v_id IS NULL THEN "
    "INSERT INTO users (openid, username, password_hash) "
    "VALUES (?, ?, ?); "
    "SET v_id = LAST_INSERT_ID(); "
    "COMMIT; DO RELEASE_LOCK(v_lock); SELECT 0, v_id, NULL; "
    "ELSE "
    "ROLLBACK; DO RELEASE_LOCK(v_lock); SELECT 1, v_id, v_hash; "
    "END IF; "
    "END IF; "
    "END";

/*
 * Prepare the compound statements: a server that cannot says so now, an
 * error when they are needed (else strategy auto says its pick, db.c).
 */
enum db_status
db_compound_prepare(struct db *db, int needed)
{
	enum db_status	st;

	st = db_prepare_stmt(db, STMT_LOCK_LOOK, db_lock_look_sql);
	if (st == DB_OK)
		st = db_prepare_stmt(db, STMT_REGISTER, db_compound_sql);
	if (st != DB_OK && st != DB_LOST && needed)
		log_error("the compound statement of named_lock_compound needs "
		    "MariaDB 10.1.1 or later: error %u: %s", db->last_errno,
		    db->last_error);
	return (st);
}

/* Drop the answers left after a compound statement's row (its end OK). */
static enum db_status
db_stmt_next_results(struct db *db, MYSQL_STMT *stmt)
{
	int	rc;

	for (;;) {
		DB_RUN(db, mysql_stmt_next_result_start(&rc, stmt),
		    mysql_stmt_next_result_cont(&rc, stmt, ready));
		if (rc < 0)
			return (DB_OK);
		if (rc > 0)
			return (db_stmt_fail(db, stmt));
		if (mysql_stmt_field_count(stmt) > 0)
			db_free_result(db, stmt);
	}
}

/*
 * Did the compound statement's error handler surely run for this error?
 * The server's stored-program executor does not promise it for a killed
 * statement (KILL QUERY, max_statement_time) or a fatal error, and a
 * client-side error says nothing of what the server did.
 */
static int
db_compound_handled(unsigned int err)
{
	switch (err) {
	case ER_QUERY_INTERRUPTED:
	case ER_STATEMENT_TIMEOUT:
	case ER_OUTOFMEMORY:
	case ER_OUT_OF_SORTMEMORY:
	case ER_OUT_OF_RESOURCES:
		return (0);
	default:
		return (err < CR_MIN_ERROR || err > CR_MAX_ERROR);
	}
}

/*
 * Run compound statement id with params and read its answer row (what,
 * id, hash) into *what and user. An error but DB_LOST that the
 * statement's handler may have skipped ends the session (its lock and
 * transaction with it) and is DB_LOST.
 */
static enum db_status
db_compound_run(struct db *db, enum db_stmt_id id, const char *sql,
    MYSQL_BIND *params, long long *what, struct db_user *user)
{
	MYSQL_BIND	 result[3];
	MYSQL_STMT	*stmt;
	unsigned long	 hash_len = 0;
	my_bool		 hash_null = 0;
	enum db_status	 st;
	int		 rc;

	*what = -1;
	memset(user, 0, sizeof(*user));
	st = db_execute(db, id, sql, params);
	if (st != DB_OK) {
		if (st != DB_LOST && !db_compound_handled(db->last_errno)) {
			/* Maybe stopped anywhere: the lock held, the COMMIT
			 * done or not. The error number stays for the log. */
			db_disconnect(db);
			return (DB_LOST);
		}
		return (st);
	}
	stmt = db->stmt[id];
	memset(result, 0, sizeof(result));
	result[0].buffer_type = MYSQL_TYPE_LONGLONG;
	result[0].buffer = what;
	db_bind_user(&result[1], user, &hash_len, &hash_null);
	if (mysql_stmt_field_count(stmt) != 3 ||
	    mysql_stmt_bind_result(stmt, result) != 0)
		return (db_fail(db, CR_COMMANDS_OUT_OF_SYNC,
		    "the compound statement's answer is not its row"));
	rc = db_fetch(db, stmt);
	if (rc == 1)
		return (db_stmt_fail(db, stmt));
	if (rc == MYSQL_NO_DATA)
		return (db_fail(db, CR_COMMANDS_OUT_OF_SYNC,
		    "no row from the compound statement"));
	db_hash_end(user, rc, hash_null, hash_len);
	db_free_result(db, stmt);
	/*
	 * The statement's own end: one more answer to read before the next.
	 * The row is the answer (the block ran to its end): if the rest does
	 * not come, the session is dropped, the answer stands.
	 */
	if (db_stmt_next_results(db, stmt) != DB_OK && db->conn != NULL)
		db_disconnect(db);
	return (DB_OK);
}

/* The lock's answer and the row's presence from a compound's "what". */
static void
db_compound_what(long long what, enum db_lock_answer *answer, int *found)
{
	switch (what) {
	case 0:
	case 1:
		*answer = LOCK_ONE;
		*found = what == 1;
		break;
	case 2:
		*answer = LOCK_ZERO;
		break;
	default:
		*answer = LOCK_NULL;
		break;
	}
}

/*
 * GET_LOCK(lock, timeout) and the lookup of openid, one round trip
 * (STMT_LOCK_LOOK). On DB_OK: *answer is the lock's; with LOCK_ONE,
 * *found says whether the row is there (user: its id and hash; the lock
 * is released) or not (the lock is this session's: the caller releases
 * it, or db_register_compound does). Any other status: no lock is held
 * (DB_LOST: the session, and its lock, are gone).
 */
enum db_status
db_lock_look(struct db *db, const char *lock, unsigned int timeout_ms,
    const char *openid, size_t openid_len, enum db_lock_answer *answer,
    struct db_user *user, int *found)
{
	MYSQL_BIND	 params[3];
	unsigned long	 lens[3];
	double		 timeout_s = timeout_ms / 1000.0;
	long long	 what;
	enum db_status	 st;

	*answer = LOCK_FAILED;
	*found = 0;
	memset(params, 0, sizeof(params));
	db_bind_string(&params[0], lock, strlen(lock), &lens[0]);
	params[1].buffer_type = MYSQL_TYPE_DOUBLE;
	params[1].buffer = &timeout_s;
	db_bind_string(&params[2], openid, openid_len, &lens[2]);
	st = db_compound_run(db, STMT_LOCK_LOOK, db_lock_look_sql, params,
	    &what, user);
	if (st == DB_OK)
		db_compound_what(what, answer, found);
	return (st);
}

/*
 * named_lock_compound's last round trip (STMT_REGISTER): GET_LOCK(lock,
 * timeout) unless this session holds it (after db_lock_look), then
 * inside a transaction the FOR UPDATE lookup of openid and, when it
 * finds nothing, the INSERT; COMMIT, RELEASE_LOCK. On DB_OK:
 * *answer is the lock's; with LOCK_ONE, *found says whether the row was
 * there (user: its id and hash) or is now ours (user->id). Any other
 * status but DB_LOST comes after the server rolled back and released the
 * lock. DB_LOST: the COMMIT may have landed; and when the handler was
 * skipped the session is ended here, which ends its transaction and lock.
 */
enum db_status
db_register_compound(struct db *db, const char *lock,
    unsigned int timeout_ms, const char *openid, size_t openid_len,
    const char *username, size_t username_len, const char *hash,
    enum db_lock_answer *answer, struct db_user *user, int *found)
{
	MYSQL_BIND	 params[6];
	unsigned long	 lens[6];
	double		 timeout_s = timeout_ms / 1000.0;
	long long	 what;
	enum db_status	 st;

	*answer = LOCK_FAILED;
	*found = 0;
	memset(params, 0, sizeof(params));
	db_bind_string(&params[0], lock, strlen(lock), &lens[0]);
	params[1].buffer_type = MYSQL_TYPE_DOUBLE;
	params[1].buffer = &timeout_s;
	db_bind_string(&params[2], openid, openid_len, &lens[2]);
	db_bind_string(&params[3], openid, openid_len, &lens[3]);
	db_bind_string(&params[4], username, username_len, &lens[4]);
	db_bind_string(&params[5], hash, strlen(hash), &lens[5]);
	st = db_compound_run(db, STMT_REGISTER, db_compound_sql, params,
	    &what, user);
	if (st == DB_OK)
		db_compound_what(what, answer, found);
	return (st);
}
