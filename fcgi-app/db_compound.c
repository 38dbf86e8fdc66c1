/*
 * The compound statements of strategy named_lock_compound, prepared once
 * per session: a new registration takes two round trips, the hash
 * between them.
 * - STMT_LOCK_LOOK: the lock-free pre-check; when it finds nothing,
 *   GET_LOCK, START TRANSACTION and SELECT ... FOR UPDATE. Only an absent
 *   row leaves the lock and the transaction open, for the caller to hash.
 * - STMT_REGISTER: INSERT, COMMIT, RELEASE_LOCK in that open transaction.
 * They need MariaDB 10.1.1 or later; the caller asks for them
 * (db_want_compound) and decides when they run.
 */
#include "config.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <string.h>

#include "db_int.h"

/* What STMT_LOCK_LOOK's row says happened. */
enum {
	LOOK_ABSENT,		/* no row: the lock and the transaction are open */
	LOOK_FOUND_LOCKED,	/* the row, found under the lock (released) */
	LOOK_BUSY,		/* GET_LOCK said 0 */
	LOOK_LOCK_NULL,		/* GET_LOCK said NULL */
	LOOK_FOUND		/* the row, found by the pre-check: no lock asked */
};

/*
 * Parameters: the lock name, the openid, the lock wait (s), the openid.
 * The answer is one row: what happened (the LOOK_ values), the id, the
 * hash. On an SQL error the handler rolls back and releases a lock it got.
 * LIMIT 1: a table without the UNIQUE index may already hold two rows.
 */
static const char db_lock_look_sql[] =
    "BEGIN NOT ATOMIC "
    "DECLARE v_lock VARCHAR(64) CHARACTER SET ascii DEFAULT ?; "
    "DECLARE v_got INT; "
    "DECLARE v_id BIGINT UNSIGNED; "
    "DECLARE v_hash VARCHAR(255) CHARACTER SET ascii; "
    "DECLARE EXIT HANDLER FOR SQLEXCEPTION "
    "BEGIN ROLLBACK; IF v_got = 1 THEN DO RELEASE_LOCK(v_lock); END IF; "
    "RESIGNAL; END; "
    "SELECT id, password_hash INTO v_id, v_hash FROM users "
    "WHERE openid = ? LIMIT 1; "
    "IF v_id IS NOT NULL THEN SELECT 4, v_id, v_hash; "
    "ELSE "
    "SET v_got = GET_LOCK(v_lock, ?); "
    "IF v_got IS NULL THEN SELECT 3, NULL, NULL; "
    "ELSEIF v_got = 0 THEN SELECT 2, NULL, NULL; "
    "ELSE "
    "START TRANSACTION; "
    "SELECT id, password_hash INTO v_id, v_hash FROM users "
    "WHERE openid = ? LIMIT 1 FOR UPDATE; "
    "IF v_id IS NULL THEN SELECT 0, NULL, NULL; "
    "ELSE ROLLBACK; DO RELEASE_LOCK(v_lock); SELECT 1, v_id, v_hash; "
    "END IF; "
    "END IF; "
    "END IF; "
    "END";

/*
 * Parameters: the lock name, the openid, username, hash; run in the
 * transaction STMT_LOCK_LOOK left open, under its lock. The answer is one
 * row: 0, the new id, NULL. On an SQL error the handler rolls back,
 * releases the lock, and the error reaches the client unchanged (1062,
 * 1213, ...); a killed statement may skip it (db_compound_run).
 */
static const char db_compound_sql[] =
    "BEGIN NOT ATOMIC "
    "DECLARE v_lock VARCHAR(64) CHARACTER SET ascii DEFAULT ?; "
    "DECLARE EXIT HANDLER FOR SQLEXCEPTION "
    "BEGIN ROLLBACK; DO RELEASE_LOCK(v_lock); RESIGNAL; END; "
    "INSERT INTO users (openid, username, password_hash) "
    "VALUES (?, ?, ?); "
    "COMMIT; DO RELEASE_LOCK(v_lock); "
    "SELECT 0, LAST_INSERT_ID(), NULL; "
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
 * id, hash) into *what and user. An error the statement's handler may
 * have skipped, or an answer without its row, ends the session (its lock
 * and transaction with it) and is DB_LOST.
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
	int		 rc = 0;

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
	/*
	 * Without its row nobody knows where the block stopped (a lock and
	 * a transaction may be open): the session ends, the error stays.
	 */
	if (mysql_stmt_field_count(stmt) != 3 ||
	    mysql_stmt_bind_result(stmt, result) != 0)
		st = db_fail(db, CR_COMMANDS_OUT_OF_SYNC,
		    "the compound statement's answer is not its row");
	else if ((rc = db_fetch(db, stmt)) == 1)
		st = db_stmt_fail(db, stmt);
	else if (rc == MYSQL_NO_DATA)
		st = db_fail(db, CR_COMMANDS_OUT_OF_SYNC,
		    "no row from the compound statement");
	if (st != DB_OK) {
		if (db->conn != NULL)
			db_disconnect(db);
		return (DB_LOST);
	}
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

/* The lock's answer and the row's presence from STMT_LOCK_LOOK's "what". */
static void
db_look_what(long long what, enum db_lock_answer *answer, int *found)
{
	switch (what) {
	case LOOK_FOUND:
		*answer = LOCK_NOT_ASKED;
		*found = 1;
		break;
	case LOOK_ABSENT:
	case LOOK_FOUND_LOCKED:
		*answer = LOCK_ONE;
		*found = what == LOOK_FOUND_LOCKED;
		break;
	case LOOK_BUSY:
		*answer = LOCK_ZERO;
		break;
	default:
		*answer = LOCK_NULL;
		break;
	}
}

/*
 * named_lock_compound's first round trip (STMT_LOCK_LOOK): the lock-free
 * lookup of openid and, when it finds nothing, GET_LOCK(lock, timeout),
 * START TRANSACTION and the lookup FOR UPDATE. On DB_OK:
 * - *found: user holds the row's id and hash; *answer is LOCK_NOT_ASKED
 *   (the pre-check found it) or LOCK_ONE (found under the lock, which
 *   is released, and the transaction ended);
 * - else *answer LOCK_ONE: the row is absent, and the lock and an open
 *   transaction are this session's, for db_register_compound() or for
 *   the caller to roll back and release; LOCK_ZERO or LOCK_NULL:
 *   GET_LOCK's answer, nothing open.
 * Any other status: nothing is held (DB_LOST: the session is gone).
 */
enum db_status
db_lock_look(struct db *db, const char *lock, unsigned int timeout_ms,
    const char *openid, size_t openid_len, enum db_lock_answer *answer,
    struct db_user *user, int *found)
{
	MYSQL_BIND	 params[4];
	unsigned long	 lens[4];
	double		 timeout_s = timeout_ms / 1000.0;
	long long	 what;
	enum db_status	 st;

	*answer = LOCK_FAILED;
	*found = 0;
	memset(params, 0, sizeof(params));
	db_bind_string(&params[0], lock, strlen(lock), &lens[0]);
	db_bind_string(&params[1], openid, openid_len, &lens[1]);
	params[2].buffer_type = MYSQL_TYPE_DOUBLE;
	params[2].buffer = &timeout_s;
	db_bind_string(&params[3], openid, openid_len, &lens[3]);
	st = db_compound_run(db, STMT_LOCK_LOOK, db_lock_look_sql, params,
	    &what, user);
	if (st != DB_OK)
		return (st);
	db_look_what(what, answer, found);
	/* The lock is held only while the session lives. */
	if (what == LOOK_ABSENT && db->conn == NULL) {
		*answer = LOCK_FAILED;
		return (DB_LOST);
	}
	return (DB_OK);
}

/*
 * named_lock_compound's last round trip (STMT_REGISTER), in the open
 * transaction and under the lock db_lock_look() left: INSERT, COMMIT,
 * RELEASE_LOCK. DB_OK: user->id is the new row's. Any other status but
 * DB_LOST comes after the server rolled back and released the lock
 * (DB_DUPLICATE: a writer without the lock got there). DB_LOST: the
 * COMMIT may have landed; when the handler was skipped the session is
 * ended here, which ends its transaction and lock.
 */
enum db_status
db_register_compound(struct db *db, const char *lock, const char *openid,
    size_t openid_len, const char *username, size_t username_len,
    const char *hash, struct db_user *user)
{
	MYSQL_BIND	 params[4];
	unsigned long	 lens[4];
	long long	 what;

	memset(params, 0, sizeof(params));
	db_bind_string(&params[0], lock, strlen(lock), &lens[0]);
	db_bind_string(&params[1], openid, openid_len, &lens[1]);
	db_bind_string(&params[2], username, username_len, &lens[2]);
	db_bind_string(&params[3], hash, strlen(hash), &lens[3]);
	return (db_compound_run(db, STMT_REGISTER, db_compound_sql, params,
	    &what, user));
}
