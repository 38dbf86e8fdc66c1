/*
 * Named locks (GET_LOCK, RELEASE_LOCK): one mechanism for every lock the
 * project takes, an openid's, an Idempotency-Key's, a migration's. A lock
 * call is a text query holding only the lock's name and its wait, and it
 * can carry the transaction statement that goes with it in the same
 * round trip (START TRANSACTION after GET_LOCK; COMMIT or ROLLBACK before
 * RELEASE_LOCK): the session has CLIENT_MULTI_STATEMENTS, the server
 * runs them in order and stops at the first that fails.
 *
 * The name is written into SQL text, so it is built here from a digest
 * (db_lock_name) and checked here before any text is made of it
 * (db_lock_name_ok): no request data ever reaches it.
 *
 * Not on a Galera node: there a COMMIT that lost certification inside a
 * pair was seen answered OK (it-cluster: two "created" for one row), so
 * each statement goes alone (db_send_pair, db_next_result).
 */
#include "config.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "db_int.h"

/*
 * A lock name: prefix plus the first DB_LOCK_HEX hex digits (lowercase)
 * of the SHA-256 of "<database>/<table>/" and bytes: named locks are the
 * server's, not a database's, so the name says which database's table it
 * guards (two deployments on one server never wait for each other). The
 * same whatever the server's case rules for lock names are, and under
 * MySQL's 64-character limit.
 */
int
db_lock_name(struct db *db, const char *prefix, const char *table,
    const void *bytes, size_t len, char *out, size_t outlen)
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		digest[EVP_MAX_MD_SIZE];
	unsigned int		digest_len = 0;
	size_t			plen = strlen(prefix), i;
	EVP_MD_CTX		*md;
	int			ok;

	if (plen + DB_LOCK_HEX + 1 > outlen ||
	    plen + DB_LOCK_HEX + 1 > DB_LOCK_NAME_MAX)
		return (-1);
	if ((md = EVP_MD_CTX_new()) == NULL)
		return (-1);
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, db->cfg->db_name,
	    strlen(db->cfg->db_name)) == 1 &&
	    EVP_DigestUpdate(md, "/", 1) == 1 &&
	    EVP_DigestUpdate(md, table, strlen(table)) == 1 &&
	    EVP_DigestUpdate(md, "/", 1) == 1 &&
	    EVP_DigestUpdate(md, bytes, len) == 1 &&
	    EVP_DigestFinal_ex(md, digest, &digest_len) == 1 &&
	    digest_len * 2 >= DB_LOCK_HEX;
	EVP_MD_CTX_free(md);
	if (!ok)
		return (-1);
	memcpy(out, prefix, plen);
	for (i = 0; i < DB_LOCK_HEX; i++)
		out[plen + i] = hex[(digest[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
	out[plen + DB_LOCK_HEX] = '\0';
	return (0);
}

/* Only the characters db_lock_name() writes may reach SQL text. */
static int
db_lock_name_ok(const char *name)
{
	size_t	len = strlen(name);

	if (len == 0 || len >= DB_LOCK_NAME_MAX)
		return (0);
	return (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789:-") ==
	    len);
}

static const char *const db_lock_answer_names[] = {
	[LOCK_NOT_ASKED] = "-",
	[LOCK_FAILED] = "error",
	[LOCK_ONE] = "1",
	[LOCK_ZERO] = "0",
	[LOCK_NULL] = "null",
	[LOCK_REFUSED] = "refused",
};

/* A lock answer as the log writes it. */
const char *
db_lock_answer_name(enum db_lock_answer answer)
{
	return (db_lock_answer_names[answer]);
}

/*
 * Send a, then b (NULL: none), as one text query. The caller reads a's
 * answer, then db_next_result() reads b's. On a Galera node b waits,
 * unsent, and db_next_result() sends it: b is the caller's until then.
 */
static enum db_status
db_send_pair(struct db *db, const char *a, const char *b)
{
	char		sql[160];
	enum db_status	st;
	int		n;

	db->second = NULL;
	if (b == NULL || db->wsrep) {
		if ((st = db_send(db, a, strlen(a))) == DB_OK)
			db->second = b;
		return (st);
	}
	n = snprintf(sql, sizeof(sql), "%s; %s", a, b);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return (db_fail(db, CR_UNKNOWN_ERROR, "statement too long"));
	return (db_send(db, sql, (size_t)n));
}

/* The answer of the pair's second statement. */
static enum db_status
db_next_result(struct db *db)
{
	const char	*second = db->second;
	int		 rc;

	if (second != NULL) {
		db->second = NULL;
		return (db_send(db, second, strlen(second)));
	}
	DB_RUN(db, mysql_next_result_start(&rc, db->conn),
	    mysql_next_result_cont(&rc, db->conn, ready));
	if (rc > 0)
		return (db_conn_fail(db));
	if (rc < 0)
		return (db_fail(db, CR_COMMANDS_OUT_OF_SYNC,
		    "a statement's answer is missing"));
	return (DB_OK);
}

/*
 * The 1, 0 or NULL of the lock function that is the current result of a
 * multi-statement query. The result is stored (one small row), so the
 * fetch and the free never wait.
 */
static enum db_status
db_read_lock_row(struct db *db, enum db_lock_answer *answer)
{
	MYSQL_RES	*res = NULL;
	MYSQL_ROW	 row;

	DB_RUN(db, mysql_store_result_start(&res, db->conn),
	    mysql_store_result_cont(&res, db->conn, ready));
	/*
	 * A server error ends the query (nothing more follows); a failure of
	 * the client's own, or a missing row, leaves the pair's other answer
	 * unread, so the connection is out of sync: CR_COMMANDS_OUT_OF_SYNC
	 * is DB_LOST, and the connection is dropped and opened anew.
	 */
	if (res == NULL) {
		if (mysql_errno(db->conn) >= CR_MIN_ERROR &&
		    db_classify(mysql_errno(db->conn)) != DB_LOST)
			return (db_fail(db, CR_COMMANDS_OUT_OF_SYNC,
			    mysql_error(db->conn)));
		return (db_conn_fail(db));
	}
	if ((row = mysql_fetch_row(res)) == NULL) {
		mysql_free_result(res);
		return (db_fail(db, CR_COMMANDS_OUT_OF_SYNC,
		    "no row from lock function"));
	}
	if (row[0] == NULL)
		*answer = LOCK_NULL;
	else
		*answer = strcmp(row[0], "1") == 0 ? LOCK_ONE : LOCK_ZERO;
	mysql_free_result(res);
	return (DB_OK);
}

/*
 * GET_LOCK(name, wait): *answer is ONE (ours: the caller must release
 * it, whatever the status), ZERO (the wait ran out), NULL (an error such
 * as a killed query) or FAILED (see the status). The wait is finite:
 * MariaDB answers NULL to a negative one instead of waiting. With then
 * DB_TXN_BEGIN, START TRANSACTION follows in the same round trip, once
 * GET_LOCK has returned: on DB_OK the transaction is open; on any other
 * status the caller rolls back (and releases a lock it got).
 *
 * A server that does not do named locks at all answers LOCK_REFUSED with
 * DB_OK (the transaction, if asked for, is then begun on its own): the
 * Galera releases with MDEV-30473 fail GET_LOCK under wsrep with 1235
 * (ER_NOT_SUPPORTED_YET); db_errno() keeps the number.
 */
enum db_status
db_get_lock(struct db *db, const char *name, unsigned int wait_ms,
    enum db_txn then, enum db_lock_answer *answer)
{
	char		lock_sql[128];
	enum db_status	st;

	*answer = LOCK_FAILED;
	if (!db_lock_name_ok(name))
		return (db_fail(db, CR_UNKNOWN_ERROR, "bad lock name"));
	snprintf(lock_sql, sizeof(lock_sql), "SELECT GET_LOCK('%s', %u.%03u)",
	    name, wait_ms / 1000, wait_ms % 1000);
	st = db_send_pair(db, lock_sql,
	    then == DB_TXN_BEGIN ? "START TRANSACTION" : NULL);
	if (st != DB_OK) {
		if (db->last_errno != ER_NOT_SUPPORTED_YET)
			return (st);
		*answer = LOCK_REFUSED;
		return (then == DB_TXN_BEGIN ? db_begin(db) : DB_OK);
	}
	if ((st = db_read_lock_row(db, answer)) != DB_OK ||
	    then != DB_TXN_BEGIN)
		return (st);
	return (db_next_result(db));
}

/*
 * RELEASE_LOCK(name), after first (DB_TXN_COMMIT or DB_TXN_ROLLBACK) in
 * the same round trip, or alone (DB_TXN_NONE). Returns the status of
 * what ran first: on DB_OK *released is the lock's answer (LOCK_ONE, or
 * what to log; LOCK_FAILED if the release itself failed). A COMMIT that
 * fails leaves the lock held (LOCK_NOT_ASKED): the caller rolls back and
 * releases. A ROLLBACK that fails ends the session, and the lock with it.
 */
enum db_status
db_release_lock(struct db *db, enum db_txn first, const char *name,
    enum db_lock_answer *released)
{
	char		lock_sql[128];
	enum db_status	st;

	*released = LOCK_NOT_ASKED;
	if (first == DB_TXN_BEGIN)
		return (db_fail(db, CR_UNKNOWN_ERROR, "a release begins nothing"));
	if (!db_lock_name_ok(name))
		return (db_fail(db, CR_UNKNOWN_ERROR, "bad lock name"));
	snprintf(lock_sql, sizeof(lock_sql), "SELECT RELEASE_LOCK('%s')",
	    name);
	if (first == DB_TXN_NONE)
		st = db_send_pair(db, lock_sql, NULL);
	else if ((st = db_send_pair(db, first == DB_TXN_COMMIT ? "COMMIT" :
	    "ROLLBACK", lock_sql)) == DB_OK)
		st = db_next_result(db);
	else {
		/* A failed ROLLBACK leaves the lock held: end the session. */
		if (first == DB_TXN_ROLLBACK && db->conn != NULL)
			db_disconnect(db);
		return (st);
	}
	*released = LOCK_FAILED;
	if (st == DB_OK)
		st = db_read_lock_row(db, released);
	/*
	 * A release that failed may leave the lock held, and named locks are
	 * re-entrant: this session's next GET_LOCK of the name would count
	 * up, not wait. Ending the session ends its locks.
	 */
	if (*released == LOCK_FAILED && db->conn != NULL)
		db_disconnect(db);
	return (first == DB_TXN_NONE ? st : DB_OK);
}
