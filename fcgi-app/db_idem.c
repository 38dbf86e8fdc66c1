/*
 * The Idempotency-Key statements: a key's stored answer, storing one in
 * the open transaction, and the purge of expired ones. Prepared on first
 * use, so a worker whose database lacks sql/002_idempotency_keys.sql
 * still serves requests without a key. Each row carries its own expiry
 * (sql/003), set from the storing pool's TTL: pools with other TTLs
 * sharing the database never expire each other's answers.
 */
#include "config.h"

#include <errmsg.h>
#include <string.h>

#include "db_int.h"

static const char *const db_idem_sql[] = {
	[STMT_IDEM_FIND] =
	    "SELECT fingerprint, status, body, expires_at < NOW() "
	    "FROM idempotency_keys WHERE key_hash = ?",
	[STMT_IDEM_EXPIRE] =
	    "DELETE FROM idempotency_keys WHERE key_hash = ? "
	    "AND expires_at < NOW()",
	[STMT_IDEM_STORE] =
	    "INSERT INTO idempotency_keys "
	    "(key_hash, fingerprint, status, body, expires_at) "
	    "VALUES (?, ?, ?, ?, NOW() + INTERVAL ? SECOND)",
	[STMT_IDEM_PURGE] =
	    "DELETE FROM idempotency_keys WHERE expires_at < NOW() LIMIT ?",
	/* A range scan of the expires_at index that stops at the cap. */
	[STMT_IDEM_LIVE] =
	    "SELECT COUNT(*) FROM (SELECT 1 FROM idempotency_keys "
	    "WHERE expires_at >= NOW() LIMIT ?) live",
};

/*
 * Prepare every statement of this file now (regonce -t): a missing grant
 * on idempotency_keys shows as 1142 before any request needs it.
 */
enum db_status
db_idem_prepare(struct db *db)
{
	enum db_status	st;
	int		i;

	for (i = STMT_IDEM_FIND; i <= STMT_IDEM_LIVE; i++)
		if (db->stmt[i] == NULL && (st = db_prepare_stmt(db, i,
		    db_idem_sql[i])) != DB_OK)
			return (st);
	return (DB_OK);
}

/* Run one of this file's statements. */
static enum db_status
db_idem_execute(struct db *db, enum db_stmt_id id, MYSQL_BIND *params)
{
	return (db_execute(db, id, db_idem_sql[id], params));
}

/*
 * The stored answer of an Idempotency-Key (by the SHA-256 of the key):
 * *found 0 (none), 1 (this answer), or 2 (one past its expires_at:
 * expired, to be replaced).
 */
enum db_status
db_idem_find(struct db *db, const unsigned char *key_hash,
    struct db_idem *row, int *found)
{
	MYSQL_BIND	 params[1], result[4];
	unsigned long	 key_len, fp_len = 0, body_len = 0;
	long long	 expired = 0;
	enum db_status	 st;
	int		 rc;

	*found = 0;
	memset(row, 0, sizeof(*row));
	memset(params, 0, sizeof(params));
	db_bind_bytes(&params[0], key_hash, DB_HASH_BYTES, &key_len);
	if ((st = db_idem_execute(db, STMT_IDEM_FIND, params)) != DB_OK)
		return (st);
	memset(result, 0, sizeof(result));
	db_bind_column(&result[0], MYSQL_TYPE_BLOB, row->fingerprint,
	    sizeof(row->fingerprint), &fp_len);
	db_bind_uint(&result[1], &row->status);
	db_bind_column(&result[2], MYSQL_TYPE_BLOB, row->body,
	    sizeof(row->body), &body_len);
	result[3].buffer_type = MYSQL_TYPE_LONGLONG;
	result[3].buffer = &expired;
	if (mysql_stmt_bind_result(db->stmt[STMT_IDEM_FIND], result) != 0)
		return (db_stmt_fail(db, db->stmt[STMT_IDEM_FIND]));
	rc = db_fetch(db, db->stmt[STMT_IDEM_FIND]);
	if (rc == 0 && fp_len == DB_HASH_BYTES &&
	    body_len <= sizeof(row->body)) {
		*found = expired ? 2 : 1;
		row->body_len = body_len;
	} else if (rc == 0 || rc == MYSQL_DATA_TRUNCATED)
		st = db_fail(db, CR_UNKNOWN_ERROR, "stored answer too large");
	else if (rc == 1)
		st = db_stmt_fail(db, db->stmt[STMT_IDEM_FIND]);
	if (db->stmt[STMT_IDEM_FIND] != NULL)
		db_free_result(db, db->stmt[STMT_IDEM_FIND]);
	return (st);
}

/*
 * Store an answer under its key, in whatever transaction is open, to
 * expire ttl_s from now. With expired, the key's old answer (past its
 * expires_at) goes first: keys are reusable after expiry.
 */
enum db_status
db_idem_store(struct db *db, const unsigned char *key_hash,
    const struct db_idem *row, int expired, unsigned int ttl_s)
{
	MYSQL_BIND	 params[5];
	unsigned long	 lens[4];
	unsigned int	 status = row->status;
	enum db_status	 st;

	memset(params, 0, sizeof(params));
	if (expired) {
		db_bind_bytes(&params[0], key_hash, DB_HASH_BYTES, &lens[0]);
		if ((st = db_idem_execute(db, STMT_IDEM_EXPIRE, params)) != DB_OK)
			return (st);
		memset(params, 0, sizeof(params));
	}
	db_bind_bytes(&params[0], key_hash, DB_HASH_BYTES, &lens[0]);
	db_bind_bytes(&params[1], row->fingerprint, DB_HASH_BYTES, &lens[1]);
	db_bind_uint(&params[2], &status);
	db_bind_bytes(&params[3], row->body, row->body_len, &lens[3]);
	db_bind_uint(&params[4], &ttl_s);
	return (db_idem_execute(db, STMT_IDEM_STORE, params));
}

/*
 * Delete up to limit answers past their own expires_at, whichever pool
 * stored them; *deleted says how many.
 */
enum db_status
db_idem_purge(struct db *db, unsigned int limit, unsigned long *deleted)
{
	MYSQL_BIND	 params[1];
	enum db_status	 st;

	*deleted = 0;
	memset(params, 0, sizeof(params));
	db_bind_uint(&params[0], &limit);
	if ((st = db_idem_execute(db, STMT_IDEM_PURGE, params)) != DB_OK)
		return (st);
	*deleted = (unsigned long)mysql_stmt_affected_rows(
	    db->stmt[STMT_IDEM_PURGE]);
	return (DB_OK);
}

/*
 * How many answers are not past their expires_at, counted up to cap
 * (*live <= cap): the cost is that of reading min(live, cap) entries of
 * the expires_at index, whatever the table's size.
 */
enum db_status
db_idem_live(struct db *db, unsigned int cap, unsigned int *live)
{
	MYSQL_BIND	 params[1], result[1];
	long long	 count = 0;
	enum db_status	 st;
	int		 rc;

	*live = 0;
	memset(params, 0, sizeof(params));
	db_bind_uint(&params[0], &cap);
	if ((st = db_idem_execute(db, STMT_IDEM_LIVE, params)) != DB_OK)
		return (st);
	memset(result, 0, sizeof(result));
	result[0].buffer_type = MYSQL_TYPE_LONGLONG;
	result[0].buffer = &count;
	if (mysql_stmt_bind_result(db->stmt[STMT_IDEM_LIVE], result) != 0)
		return (db_stmt_fail(db, db->stmt[STMT_IDEM_LIVE]));
	rc = db_fetch(db, db->stmt[STMT_IDEM_LIVE]);
	if (rc == 0 && count >= 0 && count <= (long long)cap)
		*live = (unsigned int)count;
	else if (rc == 1)
		st = db_stmt_fail(db, db->stmt[STMT_IDEM_LIVE]);
	else
		st = db_fail(db, CR_UNKNOWN_ERROR, "no count of live keys");
	if (db->stmt[STMT_IDEM_LIVE] != NULL)
		db_free_result(db, db->stmt[STMT_IDEM_LIVE]);
	return (st);
}
