/*
 * The users statements: the pre-check, the FOR UPDATE lookup and the
 * INSERT, prepared at connect (a missing table or grant shows at start,
 * not on the first request).
 */
#include "config.h"

#include <string.h>

#include "db_int.h"

static const char *const db_users_sql[] = {
	[STMT_FIND] =
	    "SELECT id, password_hash FROM users WHERE openid = ?",
	[STMT_FIND_FOR_UPDATE] =
	    "SELECT id, password_hash FROM users WHERE openid = ? FOR UPDATE",
	[STMT_INSERT] =
	    "INSERT INTO users (openid, username, password_hash) "
	    "VALUES (?, ?, ?)",
};

/* Prepare the users statements in a new session. */
enum db_status
db_users_prepare(struct db *db)
{
	enum db_status	st;
	int		i;

	for (i = STMT_FIND; i <= STMT_INSERT; i++)
		if ((st = db_prepare_stmt(db, i, db_users_sql[i])) != DB_OK)
			return (st);
	return (DB_OK);
}

/* Bind a user's two columns, id and password_hash, at cols[0] and [1]. */
void
db_bind_user(MYSQL_BIND *cols, struct db_user *user, unsigned long *hash_len,
    my_bool *hash_null)
{
	cols[0].buffer_type = MYSQL_TYPE_LONGLONG;
	cols[0].is_unsigned = 1;
	cols[0].buffer = &user->id;
	db_bind_column(&cols[1], MYSQL_TYPE_STRING, user->password_hash,
	    sizeof(user->password_hash), hash_len);
	cols[1].is_null = hash_null;
}

/*
 * End a fetched password hash at the length the server sent (fetch
 * status rc). A hash we cannot hold whole can never equal ours: "".
 */
void
db_hash_end(struct db_user *user, int rc, my_bool is_null, unsigned long len)
{
	if (rc == MYSQL_DATA_TRUNCATED || is_null ||
	    len >= sizeof(user->password_hash))
		user->password_hash[0] = '\0';
	else
		user->password_hash[len] = '\0';
}

/* Look an openid up; for_update takes the row lock inside a transaction. */
enum db_status
db_find_user(struct db *db, const char *openid, size_t len, int for_update,
    struct db_user *user, int *found)
{
	enum db_stmt_id	 id = for_update ? STMT_FIND_FOR_UPDATE : STMT_FIND;
	MYSQL_BIND	 param, result[2];
	unsigned long	 param_len, hash_len = 0;
	my_bool		 hash_null = 0;
	enum db_status	 st;
	int		 rc;

	*found = 0;
	memset(user, 0, sizeof(*user));
	memset(&param, 0, sizeof(param));
	db_bind_string(&param, openid, len, &param_len);
	if ((st = db_execute(db, id, db_users_sql[id], &param)) != DB_OK)
		return (st);

	memset(result, 0, sizeof(result));
	db_bind_user(result, user, &hash_len, &hash_null);
	if (mysql_stmt_bind_result(db->stmt[id], result) != 0)
		return (db_stmt_fail(db, db->stmt[id]));
	rc = db_fetch(db, db->stmt[id]);
	if (rc == 0 || rc == MYSQL_DATA_TRUNCATED) {
		*found = 1;
		db_hash_end(user, rc, hash_null, hash_len);
	} else if (rc == 1) {
		st = db_stmt_fail(db, db->stmt[id]);
	}
	/* Drain further rows: a table without the UNIQUE index may have them. */
	if (db->stmt[id] != NULL)
		db_free_result(db, db->stmt[id]);
	return (st);
}

/* Insert a user; DB_DUPLICATE when the UNIQUE index already has openid. */
enum db_status
db_insert_user(struct db *db, const char *openid, size_t openid_len,
    const char *username, size_t username_len, const char *password_hash,
    uint64_t *user_id)
{
	MYSQL_BIND	 params[3];
	unsigned long	 lens[3];
	enum db_status	 st;

	memset(params, 0, sizeof(params));
	db_bind_string(&params[0], openid, openid_len, &lens[0]);
	db_bind_string(&params[1], username, username_len, &lens[1]);
	db_bind_string(&params[2], password_hash, strlen(password_hash),
	    &lens[2]);
	if ((st = db_execute(db, STMT_INSERT, db_users_sql[STMT_INSERT],
	    params)) != DB_OK)
		return (st);
	*user_id = mysql_stmt_insert_id(db->stmt[STMT_INSERT]);
	return (DB_OK);
}
