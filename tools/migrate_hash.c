/*
 * regonce-migrate: hashing. Every clear password of the table (or of the
 * audit table) goes through the worker's own pw_hash, in batches: argon2
 * first, with no transaction open, then one short UPDATE transaction per
 * batch. Resumable: a hashed row no longer matches the batch query.
 */
#include "config.h"

#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "migrate.h"

#define MIG_PW_MAX		4096	/* longest clear password we take */

/*
 * The walk: the first batch takes the lowest ids (? = 0), every later one
 * the ids after the last seen. No sentinel id: 0 and negative ids are ids.
 */
static const char Q_HASH_BATCH_REGONCE[] =
    "SELECT id, `password_hash` FROM {X} WHERE (? = 0 OR id > ?) AND "
    "`password_hash` IS NOT NULL AND CAST(`password_hash` AS BINARY) "
    "NOT REGEXP " PHC_REGEXP " ORDER BY id LIMIT ?";

static const char Q_HASH_BATCH_LEGACY[] =
    "SELECT id, `password` FROM {X} WHERE (? = 0 OR id > ?) AND "
    "`password_hash` IS NULL AND `password` IS NOT NULL "
    "ORDER BY id LIMIT ?";

/* The WHERE re-checks the clear text: a row changed since is left alone. */
static const char Q_HASH_UPDATE_REGONCE[] =
    "UPDATE {X} SET `password_hash` = ? WHERE id = ? AND "
    "CAST(`password_hash` AS BINARY) = ?";

static const char Q_HASH_UPDATE_LEGACY[] =
    "UPDATE {X} SET `password_hash` = ? WHERE id = ? AND "
    "`password_hash` IS NULL AND CAST(`password` AS BINARY) = ?";

struct mig_clear {
	uint64_t	 id;
	char		*clear;
	size_t		 len;
	char		 hash[PW_HASH_MAX];
};

/* Wipe and free a batch of clear passwords. */
static void
mig_clear_free(struct mig_clear *rows, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (rows[i].clear != NULL) {
			pw_wipe(rows[i].clear, rows[i].len);
			free(rows[i].clear);
		}
		rows[i].clear = NULL;
	}
}

/* Read up to a batch of rows whose password is still clear text. */
static int
mig_hash_fetch(struct mig *mig, int started, uint64_t after,
    struct mig_clear *rows, size_t *n)
{
	MYSQL_STMT		*stmt;
	MYSQL_BIND		 result[2];
	struct mig_param	 params[3];
	unsigned long long	 id;
	unsigned long		 len;
	char			*buf, idtext[24];
	int			 fetched, rc = -1;

	*n = 0;
	if ((buf = malloc(MIG_PW_MAX)) == NULL)
		fatalx("regonce-migrate: out of memory");
	stmt = mig_prepare(mig, mig_pw_shape(mig) == SHAPE_LEGACY ?
	    Q_HASH_BATCH_LEGACY : Q_HASH_BATCH_REGONCE);
	if (stmt == NULL)
		goto out_buf;
	memset(params, 0, sizeof(params));
	params[0].type = params[2].type = MIG_PARAM_U64;
	params[0].u64 = started != 0;
	params[1].type = MIG_PARAM_ID;
	params[1].u64 = after;
	params[2].u64 = mig->args.batch;
	memset(result, 0, sizeof(result));
	result[0].buffer_type = MYSQL_TYPE_LONGLONG;
	result[0].is_unsigned = !mig->id_signed;
	result[0].buffer = &id;
	result[1].buffer_type = MYSQL_TYPE_STRING;
	result[1].buffer = buf;
	result[1].buffer_length = MIG_PW_MAX;
	result[1].length = &len;
	if (mig_query_rows(mig, stmt, params, 3, result) == -1)
		goto out;
	while ((fetched = mysql_stmt_fetch(stmt)) == 0 ||
	    fetched == MYSQL_DATA_TRUNCATED) {
		if (fetched == MYSQL_DATA_TRUNCATED) {
			mig_fail(mig, 0, "row %s: password longer than %d "
			    "bytes", mig_id_text(mig, id, idtext,
			    sizeof(idtext)), MIG_PW_MAX);
			goto out;
		}
		/* Already an argon2id PHC string: the SQL test's twin. */
		if (mig_pw_shape(mig) == SHAPE_REGONCE && mig_is_phc(buf, len))
			continue;
		rows[*n].id = id;
		rows[*n].len = len;
		if ((rows[*n].clear = malloc(len + 1)) == NULL)
			fatalx("regonce-migrate: out of memory");
		memcpy(rows[*n].clear, buf, len);
		rows[*n].clear[len] = '\0';
		(*n)++;
	}
	rc = mig_fetched(mig, stmt, fetched);
out:
	mysql_stmt_free_result(stmt);
	mysql_stmt_close(stmt);
out_buf:
	pw_wipe(buf, MIG_PW_MAX);
	free(buf);
	return (rc);
}

/* Write a batch's hashes in one short transaction. */
static int
mig_hash_store(struct mig *mig, struct mig_clear *rows, size_t n)
{
	MYSQL_STMT		*stmt;
	struct mig_param	 params[3];
	size_t			 i;
	int			 rc = -1;

	stmt = mig_prepare(mig, mig_pw_shape(mig) == SHAPE_LEGACY ?
	    Q_HASH_UPDATE_LEGACY : Q_HASH_UPDATE_REGONCE);
	if (stmt == NULL)
		return (-1);
	if (mig_begin(mig) == -1)
		goto out;
	memset(params, 0, sizeof(params));
	for (i = 0; i < n; i++) {
		params[0].type = MIG_PARAM_STR;
		params[0].str = rows[i].hash;
		params[0].len = strlen(rows[i].hash);
		params[1].type = MIG_PARAM_ID;
		params[1].u64 = rows[i].id;
		params[2].type = MIG_PARAM_STR;
		params[2].str = rows[i].clear;
		params[2].len = rows[i].len;
		if (mig_execute(mig, stmt, params, 3) == -1) {
			db_rollback(mig->db);
			goto out;
		}
		/* 0: the row changed or left meanwhile; the next sweep sees. */
		mig->st.hashed += (uint64_t)mysql_stmt_affected_rows(stmt);
	}
	if (db_commit(mig->db) != DB_OK) {
		mig_fail(mig, db_errno(mig->db), "%s", db_error(mig->db));
		goto out;
	}
	rc = 0;
out:
	mysql_stmt_close(stmt);
	return (rc);
}

/*
 * Hash every clear password of {X} with the worker's own pw_hash, in
 * batches: argon2 first (no transaction open), then one short UPDATE
 * transaction per batch. Resumable: a hashed row no longer matches.
 */
static int
mig_hash_table(struct mig *mig, int on_audit)
{
	struct mig_clear	*rows;
	const char		*cause;
	uint64_t		 after = 0, before;
	size_t			 n, i;
	int			 rc = 0, started = 0;
	char			 idtext[24];

	if (on_audit && !mig->audit_exists)
		return (0);
	if ((rows = calloc(mig->args.batch, sizeof(*rows))) == NULL)
		fatalx("regonce-migrate: out of memory");
	mig->on_audit = on_audit;
	for (;;) {
		if (mig_hash_fetch(mig, started, after, rows, &n) == -1) {
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		for (i = 0; i < n; i++)
			if (pw_hash(&mig->cfg, rows[i].clear, rows[i].len,
			    rows[i].hash, sizeof(rows[i].hash), &cause) == -1) {
				rc = mig_fail(mig, 0, "row %s: argon2id: %s",
				    mig_id_text(mig, rows[i].id, idtext,
				    sizeof(idtext)), cause);
				break;
			}
		before = mig->st.hashed;
		if (rc == 0)
			rc = mig_hash_store(mig, rows, n);
		after = rows[n - 1].id;
		started = 1;
		mig_clear_free(rows, n);
		if (rc == -1)
			break;
		if (mig->st.hashed > before)
			mig->st.changed = 1;
		mig->st.batches++;
	}
	mig_clear_free(rows, mig->args.batch);
	mig->on_audit = 0;
	free(rows);
	return (rc);
}

/* mig_hash_table, timed. */
int
mig_hash(struct mig *mig, int on_audit)
{
	int64_t	start = clock_mono_us();
	int	rc = mig_hash_table(mig, on_audit);

	mig->st.hash_us += clock_mono_us() - start;
	return (rc);
}
