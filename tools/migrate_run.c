/*
 * regonce-migrate's steps. Every step reads what is left to do from the
 * tables themselves (no progress file): a row still in the table and not
 * in the audit table has not been moved; a password that is not an
 * argon2id PHC string has not been hashed; a column or index that is not
 * there yet has not been built. So a run killed at any point is resumed
 * by running it again, and a run after success finds nothing to do.
 *
 * Order: hash, quarantine the rows regonce would refuse, merge duplicates,
 * convert openid to ascii_bin, build the UNIQUE index online, drop the
 * clear-text column, hash the audit table, then account for every row.
 * Each batch is one short transaction at READ COMMITTED (no gap locks, so
 * the old endpoint's INSERTs never wait on us); argon2 runs before the
 * transaction opens, never inside it.
 */
#include "config.h"

#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "migrate.h"

#define MIG_PW_MAX		4096	/* longest clear password we take */
#define MIG_RETRIES		20	/* DDL attempts when rows keep arriving */

/* Byte-for-byte: the rule regonce applies to openids. */
#define OPENID_BYTES	"CAST(`openid` AS BINARY)"
/* Rows regonce would refuse: bad openid (reg_validate), or no password. */
#define REFUSED		"(`openid` IS NULL OR LENGTH(`openid`) = 0 OR " \
	"LENGTH(`openid`) > 255 OR " OPENID_BYTES " REGEXP '[^!-~]' OR {N})"
#define PHC_REGEXP	"'^[$]argon2id[$]v=19[$]m=[0-9]+,t=[0-9]+,p=[0-9]+" \
	"[$][A-Za-z0-9+/]+[$][A-Za-z0-9+/]+$'"

static const char Q_TABLE_EXISTS[] =
    "SELECT COUNT(*) FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?";
static const char Q_COLUMNS[] =
    "SELECT COLUMN_NAME, COALESCE(COLLATION_NAME, ''), IS_NULLABLE "
    "FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? "
    "ORDER BY ORDINAL_POSITION";
static const char Q_UNIQUE[] =
    "SELECT COUNT(*) FROM information_schema.STATISTICS "
    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? "
    "AND INDEX_NAME = 'uq_users_openid' AND NON_UNIQUE = 0 "
    "AND COLUMN_NAME = 'openid'";
static const char Q_COUNT[] = "SELECT COUNT(*) FROM {X}";
static const char Q_IDS[] = "SELECT id FROM {X} ORDER BY id";
static const char Q_REFUSED_COUNT[] =
    "SELECT COUNT(*) FROM {T} WHERE " REFUSED;
static const char Q_DUP_OPENIDS[] =
    "SELECT COUNT(*) FROM (SELECT 1 FROM {T} WHERE NOT " REFUSED
    " GROUP BY " OPENID_BYTES " HAVING COUNT(*) > 1) d";
static const char Q_DUP_ROWS[] =
    "SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM {T} "
    "WHERE NOT " REFUSED " GROUP BY " OPENID_BYTES " HAVING n > 1) d";
/* Openids that differ from another one only by case. */
static const char Q_CASE_VARIANTS[] =
    "SELECT COALESCE(SUM(n), 0) FROM (SELECT COUNT(DISTINCT " OPENID_BYTES
    ") AS n FROM {T} WHERE NOT " REFUSED " GROUP BY "
    "CAST(LOWER(`openid`) AS BINARY) HAVING n > 1) v";
static const char Q_TO_HASH_REGONCE[] =
    "SELECT COUNT(*) FROM {X} WHERE `password_hash` IS NOT NULL AND "
    "CAST(`password_hash` AS BINARY) NOT REGEXP " PHC_REGEXP;
static const char Q_TO_HASH_LEGACY_DRY[] =
    "SELECT COUNT(*) FROM {X} WHERE `password` IS NOT NULL";
static const char Q_TO_HASH_LEGACY[] =
    "SELECT COUNT(*) FROM {X} WHERE `password_hash` IS NULL AND "
    "`password` IS NOT NULL";
static const char Q_HASH_BATCH_REGONCE[] =
    "SELECT id, `password_hash` FROM {X} WHERE id > ? AND "
    "`password_hash` IS NOT NULL AND CAST(`password_hash` AS BINARY) "
    "NOT REGEXP " PHC_REGEXP " ORDER BY id LIMIT ?";
static const char Q_HASH_BATCH_LEGACY[] =
    "SELECT id, `password` FROM {X} WHERE id > ? AND "
    "`password_hash` IS NULL AND `password` IS NOT NULL "
    "ORDER BY id LIMIT ?";
/* The WHERE re-checks the clear text: a row changed since is left alone. */
static const char Q_HASH_UPDATE_REGONCE[] =
    "UPDATE {X} SET `password_hash` = ? WHERE id = ? AND "
    "CAST(`password_hash` AS BINARY) = ?";
static const char Q_HASH_UPDATE_LEGACY[] =
    "UPDATE {X} SET `password_hash` = ? WHERE id = ? AND "
    "`password_hash` IS NULL AND CAST(`password` AS BINARY) = ?";
static const char Q_REFUSED_BATCH[] =
    "SELECT id, " OPENID_BYTES ", {N} FROM {T} WHERE " REFUSED
    " ORDER BY id LIMIT ?";
/*
 * Every row regonce would take, sorted by openid bytes, then id: the rows
 * of one openid are adjacent and the first is the one kept. One sort; a
 * GROUP BY joined back to the table was a nested loop (a minute a batch
 * at 100,000 rows).
 */
static const char Q_DUP_SCAN[] =
    "SELECT id, " OPENID_BYTES " FROM {T} WHERE NOT " REFUSED
    " ORDER BY " OPENID_BYTES ", id";
static const char Q_AUDIT_CREATE[] =
    "CREATE TABLE IF NOT EXISTS {A} ("
    "merged_into BIGINT UNSIGNED NULL COMMENT 'id of the row kept', "
    "migrate_reason VARCHAR(40) CHARACTER SET ascii NOT NULL DEFAULT '', "
    "migrated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
    "PRIMARY KEY (id)) ENGINE=InnoDB SELECT * FROM {T} WHERE 0";
static const char Q_MOVE_COPY[] =
    "INSERT INTO {A} ({C}, merged_into, migrate_reason) "
    "SELECT {C}, ?, ? FROM {T} WHERE id = ?";
/* A duplicate moves only if its kept row is still there, same openid. */
static const char Q_MOVE_DUP[] =
    "INSERT INTO {A} ({C}, merged_into, migrate_reason) "
    "SELECT {C}, ?, ? FROM {T} d WHERE d.id = ? AND EXISTS (SELECT 1 FROM "
    "{T} k WHERE k.id = ? AND CAST(k.`openid` AS BINARY) = "
    "CAST(d.`openid` AS BINARY))";
static const char Q_MOVE_DELETE[] = "DELETE FROM {T} WHERE id = ?";
/* Aliases are locked by name too: d and k are Q_MOVE_DUP's. */
static const char Q_LOCK_TABLES[] =
    "LOCK TABLES {T} WRITE, {T} AS d READ, {T} AS k READ, {A} WRITE";
static const char Q_AUDIT_CLEAR_LEFT[] =
    "SELECT COUNT(*) FROM {A} WHERE `password` IS NOT NULL AND "
    "`password_hash` IS NULL";

/* DDL: {W} is how: online first, a copy only where MariaDB refuses. */
static const char DDL_ADD_HASH[] =
    "ALTER TABLE {T} ADD COLUMN `password_hash` VARCHAR(255) "
    "CHARACTER SET ascii COLLATE ascii_bin NULL{W}";
static const char DDL_OPENID[] =
    "ALTER TABLE {T} MODIFY `openid` VARCHAR(255) CHARACTER SET ascii "
    "COLLATE ascii_bin NOT NULL{W}";
static const char DDL_OPENID_HASH[] =
    "ALTER TABLE {T} MODIFY `openid` VARCHAR(255) CHARACTER SET ascii "
    "COLLATE ascii_bin NOT NULL, MODIFY `password_hash` VARCHAR(255) "
    "CHARACTER SET ascii COLLATE ascii_bin NOT NULL{W}";
static const char DDL_HASH[] =
    "ALTER TABLE {T} MODIFY `password_hash` VARCHAR(255) CHARACTER SET "
    "ascii COLLATE ascii_bin NOT NULL{W}";
static const char DDL_CREATED_AT[] =
    "ALTER TABLE {T} ADD COLUMN `created_at` TIMESTAMP NOT NULL "
    "DEFAULT CURRENT_TIMESTAMP{W}";
static const char DDL_UNIQUE[] =
    "ALTER TABLE {T} ADD UNIQUE KEY `uq_users_openid` (`openid`){W}";
/* NOT NULL in the same statement: it fails, and drops nothing, if a row
 * arrived with a clear password and no hash since the last sweep. */
static const char DDL_DROP_CLEAR[] =
    "ALTER TABLE {T} DROP COLUMN `password`, MODIFY `password_hash` "
    "VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL{W}";
static const char DDL_AUDIT_DROP_CLEAR[] =
    "ALTER TABLE {A} DROP COLUMN `password`{W}";

/* Seconds on the monotonic clock, for the report's phase times. */
static double
mig_clock(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* A one-parameter count about a table name (information_schema). */
static int
mig_count_named(struct mig *mig, const char *tmpl, const char *name,
    uint64_t *out)
{
	struct mig_param	param = { MIG_PARAM_STR, 0, name, strlen(name), 0 };

	return (mig_value(mig, tmpl, &param, 1, out));
}

/* A count over {X}: the table, or the audit table when on_audit. */
static int
mig_count_on(struct mig *mig, const char *tmpl, int on_audit, uint64_t *out)
{
	int	rc;

	mig->on_audit = on_audit;
	rc = mig_value(mig, tmpl, NULL, 0, out);
	mig->on_audit = 0;
	return (rc);
}

/* Read a table's columns: what regonce needs, and the copy list {C}. */
static int
mig_columns(struct mig *mig, const char *table, int is_audit)
{
	MYSQL_STMT		*stmt;
	MYSQL_BIND		 result[3];
	struct mig_param	 param = { MIG_PARAM_STR, 0, table, strlen(table),
				     0 };
	char			 name[MIG_IDENT_MAX + 2], coll[MIG_IDENT_MAX + 2];
	char			 nullable[8];
	unsigned long		 name_len, coll_len, null_len;
	size_t			 used = 0;
	int			 rc = -1, fetched, has_id = 0, has_openid = 0;
	int			 has_username = 0;

	if ((stmt = mig_prepare(mig, Q_COLUMNS)) == NULL)
		return (-1);
	memset(result, 0, sizeof(result));
	result[0].buffer_type = MYSQL_TYPE_STRING;
	result[0].buffer = name;
	result[0].buffer_length = sizeof(name);
	result[0].length = &name_len;
	result[1].buffer_type = MYSQL_TYPE_STRING;
	result[1].buffer = coll;
	result[1].buffer_length = sizeof(coll);
	result[1].length = &coll_len;
	result[2].buffer_type = MYSQL_TYPE_STRING;
	result[2].buffer = nullable;
	result[2].buffer_length = sizeof(nullable);
	result[2].length = &null_len;
	if (mig_execute(mig, stmt, &param, 1) == -1)
		goto out;
	if (mysql_stmt_bind_result(stmt, result) != 0) {
		mig_fail(mig, mysql_stmt_errno(stmt), "%s",
		    mysql_stmt_error(stmt));
		goto out;
	}
	if (is_audit)
		mig->audit_has_password = 0;
	else {
		mig->cols[0] = '\0';
		mig->has_password = mig->has_hash = mig->has_created_at = 0;
		mig->openid_ok = mig->hash_ok = 0;
	}
	while ((fetched = mysql_stmt_fetch(stmt)) == 0 ||
	    fetched == MYSQL_DATA_TRUNCATED) {
		if (fetched == MYSQL_DATA_TRUNCATED || name_len >= sizeof(name) ||
		    coll_len >= sizeof(coll) || null_len >= sizeof(nullable)) {
			mig_fail(mig, 0, "%s: a column name is too long", table);
			goto out;
		}
		name[name_len] = coll[coll_len] = nullable[null_len] = '\0';
		if (is_audit) {
			if (strcmp(name, "password") == 0)
				mig->audit_has_password = 1;
			continue;
		}
		/* The column list goes into statements: plain names only. */
		if (!mig_ident_ok(name, MIG_IDENT_MAX)) {
			mig_fail(mig, 0, "%s has a column whose name is not "
			    "plain letters, digits and '_'; rename it first",
			    table);
			goto out;
		}
		if (used + strlen(name) + 4 >= sizeof(mig->cols)) {
			mig_fail(mig, 0, "%s has too many columns", table);
			goto out;
		}
		used += (size_t)snprintf(mig->cols + used,
		    sizeof(mig->cols) - used, "%s`%s`", used ? ", " : "", name);
		if (strcmp(name, "id") == 0)
			has_id = 1;
		else if (strcmp(name, "openid") == 0) {
			has_openid = 1;
			mig->openid_ok = strcmp(coll, "ascii_bin") == 0 &&
			    strcmp(nullable, "NO") == 0;
		} else if (strcmp(name, "username") == 0)
			has_username = 1;
		else if (strcmp(name, "password") == 0)
			mig->has_password = 1;
		else if (strcmp(name, "password_hash") == 0) {
			mig->has_hash = 1;
			mig->hash_ok = strcmp(coll, "ascii_bin") == 0 &&
			    strcmp(nullable, "NO") == 0;
		} else if (strcmp(name, "created_at") == 0)
			mig->has_created_at = 1;
	}
	if (fetched != MYSQL_NO_DATA) {
		mig_fail(mig, mysql_stmt_errno(stmt), "%s",
		    mysql_stmt_error(stmt));
		goto out;
	}
	if (!is_audit && !(has_id && has_openid && has_username)) {
		mig_fail(mig, 0, "%s has no id, openid or username column: "
		    "not a users table regonce can adopt", table);
		goto out;
	}
	if (!is_audit && !mig->has_password && !mig->has_hash) {
		mig_fail(mig, 0, "%s has neither a password nor a "
		    "password_hash column", table);
		goto out;
	}
	rc = 0;
out:
	mysql_stmt_free_result(stmt);
	mysql_stmt_close(stmt);
	return (rc);
}

/* Look at the table and the audit table as they are now. */
static int
mig_inspect(struct mig *mig)
{
	uint64_t	n;

	if (mig_count_named(mig, Q_TABLE_EXISTS, mig->args.table, &n) == -1)
		return (-1);
	if (n == 0)
		return (mig_fail(mig, 0, "no table '%s' in this database",
		    mig->args.table));
	if (mig_columns(mig, mig->args.table, 0) == -1)
		return (-1);
	/* A clear `password` column decides the shape, whatever else. */
	mig->shape = mig->has_password ? SHAPE_LEGACY : SHAPE_REGONCE;
	if (mig_count_named(mig, Q_TABLE_EXISTS, mig->audit, &n) == -1)
		return (-1);
	mig->audit_exists = n > 0;
	if (mig->audit_exists && mig_columns(mig, mig->audit, 1) == -1)
		return (-1);
	if (mig_count_named(mig, Q_UNIQUE, mig->args.table, &n) == -1)
		return (-1);
	mig->st.unique_index = n > 0;
	return (0);
}

/* Is this error one a DDL retry can get past (rows arrived, a lock)? */
static int
mig_ddl_data_error(unsigned int err_no)
{
	switch (err_no) {
	case ER_INVALID_USE_OF_NULL:
	case ER_BAD_NULL_ERROR:
	case WARN_DATA_TRUNCATED:
	case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
	case ER_DATA_TOO_LONG:
		return (1);
	default:
		return (0);
	}
}

static int
mig_ddl_dup_error(unsigned int err_no)
{
	return (err_no == ER_DUP_ENTRY || err_no == ER_DUP_KEY ||
	    err_no == ER_DUP_UNKNOWN_IN_INDEX);
}

/*
 * Run an ALTER online (ALGORITHM=INPLACE, LOCK=NONE); where MariaDB
 * refuses that (1846), with the weakest lock it allows, COPY + SHARED:
 * reads go on, writes wait for the copy. *how says which it was.
 */
static int
mig_alter(struct mig *mig, const char *ddl, char *how, size_t howlen)
{
	double	start = mig_clock();
	int	rc;

	for (mig->way = 0; mig->way < MIG_WAYS; mig->way++) {
		rc = mig_exec(mig, ddl, NULL, 0, NULL);
		mig->st.ddl_s += mig_clock() - start;
		start = mig_clock();
		if (rc == 0) {
			if (how != NULL)
				snprintf(how, howlen, "%s",
				    mig_way_name(mig->way));
			mig->st.changed = 1;
			return (0);
		}
		if (mig->err_no != ER_ALTER_OPERATION_NOT_SUPPORTED_REASON &&
		    mig->err_no != ER_ALTER_OPERATION_NOT_SUPPORTED)
			return (-1);
	}
	return (-1);
}

/* Open a batch's transaction; under LOCK TABLES autocommit is off and
 * START TRANSACTION would drop the table locks, so none is sent. */
static int
mig_begin(struct mig *mig)
{
	if (mig->locked)
		return (0);
	if (db_begin(mig->db) != DB_OK)
		return (mig_fail(mig, db_errno(mig->db), "%s",
		    db_error(mig->db)));
	return (0);
}

/* Create the audit table (the table's columns, plus why and when). */
static int
mig_audit_ensure(struct mig *mig)
{
	if (mig->audit_exists)
		return (0);
	if (mig_exec(mig, Q_AUDIT_CREATE, NULL, 0, NULL) == -1)
		return (-1);
	mig->audit_exists = 1;
	mig->st.changed = 1;
	return (mig_columns(mig, mig->audit, 1));
}

/*
 * Copy one row whole into the audit table, then delete it, inside the
 * batch's transaction. A duplicate whose kept row changed meanwhile is
 * left alone (*moved = 0): the next scan sees it again.
 */
static int
mig_move(struct mig *mig, MYSQL_STMT *copy, MYSQL_STMT *del, uint64_t id,
    uint64_t merged_into, const char *reason, int *moved)
{
	struct mig_param	 params[4];
	uint64_t		 copied, deleted;

	*moved = 0;
	memset(params, 0, sizeof(params));
	params[0].type = merged_into ? MIG_PARAM_U64 : MIG_PARAM_NULL;
	params[0].u64 = merged_into;
	params[1].type = MIG_PARAM_STR;
	params[1].str = reason;
	params[1].len = strlen(reason);
	params[2].type = MIG_PARAM_U64;
	params[2].u64 = id;
	params[3].type = MIG_PARAM_U64;
	params[3].u64 = merged_into;
	if (mig_execute(mig, copy, params, merged_into ? 4 : 3) == -1)
		return (-1);
	copied = (uint64_t)mysql_stmt_affected_rows(copy);
	if (copied == 0 && merged_into != 0)
		return (0);
	if (mig_execute(mig, del, &params[2], 1) == -1)
		return (-1);
	deleted = (uint64_t)mysql_stmt_affected_rows(del);
	if (copied != 1 || deleted != 1)
		return (mig_fail(mig, 0, "row %llu: copied %llu, deleted %llu; "
		    "rolled back", (unsigned long long)id,
		    (unsigned long long)copied, (unsigned long long)deleted));
	*moved = 1;
	return (0);
}

struct mig_pick {
	uint64_t	 id;
	uint64_t	 keep;		/* merged into; 0 for a refused row */
	const char	*reason;
};

/* Move a batch of picked rows in one transaction; *moved counts them. */
static int
mig_move_batch(struct mig *mig, struct mig_pick *picks, size_t n,
    size_t *moved)
{
	MYSQL_STMT	*copy = NULL, *del = NULL;
	size_t		 i, done = 0;
	int		 rc = -1, one;

	*moved = 0;
	if (mig_audit_ensure(mig) == -1)
		return (-1);
	/* A batch is all duplicates or all refused rows. */
	if ((copy = mig_prepare(mig, picks[0].keep ? Q_MOVE_DUP :
	    Q_MOVE_COPY)) == NULL ||
	    (del = mig_prepare(mig, Q_MOVE_DELETE)) == NULL)
		goto out;
	if (mig_begin(mig) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		if (mig_move(mig, copy, del, picks[i].id, picks[i].keep,
		    picks[i].reason, &one) == -1) {
			db_rollback(mig->db);
			goto out;
		}
		/* Mark what moved, for the caller's tally. */
		if (!one)
			picks[i].reason = NULL;
		done += (size_t)one;
	}
	if (db_commit(mig->db) != DB_OK) {
		mig_fail(mig, db_errno(mig->db), "%s", db_error(mig->db));
		goto out;
	}
	*moved = done;
	mig->st.audit_rows += done;
	mig->st.batches++;
	if (done > 0)
		mig->st.changed = 1;
	rc = 0;
out:
	if (copy != NULL)
		mysql_stmt_close(copy);
	if (del != NULL)
		mysql_stmt_close(del);
	return (rc);
}

/* Keep a refused row's id and reason for the report. */
static void
mig_note_refused(struct mig *mig, uint64_t id, const char *reason)
{
	mig->st.refused++;
	if (mig->st.refused_shown < MIG_REFUSED_SHOWN) {
		mig->st.refused_rows[mig->st.refused_shown].id = id;
		mig->st.refused_rows[mig->st.refused_shown].reason = reason;
		mig->st.refused_shown++;
	}
}

/*
 * Quarantine: rows whose openid regonce would refuse (or with no password
 * at all) cannot become ascii_bin NOT NULL rows. They move, whole, to the
 * audit table with reason "refused:<why>"; they are listed, not dropped.
 */
static int
mig_quarantine_all(struct mig *mig)
{
	MYSQL_STMT		*stmt;
	MYSQL_BIND		 result[3];
	struct mig_param	 limit = { MIG_PARAM_U64, 0, NULL, 0, 0 };
	struct mig_pick		*picks;
	unsigned long long	 id;
	long long		 no_password;
	char			 openid[REG_OPENID_MAX + 2];
	unsigned long		 openid_len;
	my_bool			 openid_null;
	size_t			 n, i, moved;
	int			 fetched, rc = 0;
	const char		*why;

	limit.u64 = mig->args.batch;
	if ((picks = calloc(mig->args.batch, sizeof(*picks))) == NULL)
		fatalx("regonce-migrate: out of memory");
	for (;;) {
		if ((stmt = mig_prepare(mig, Q_REFUSED_BATCH)) == NULL) {
			rc = -1;
			break;
		}
		memset(result, 0, sizeof(result));
		result[0].buffer_type = MYSQL_TYPE_LONGLONG;
		result[0].is_unsigned = 1;
		result[0].buffer = &id;
		result[1].buffer_type = MYSQL_TYPE_STRING;
		result[1].buffer = openid;
		result[1].buffer_length = sizeof(openid);
		result[1].length = &openid_len;
		result[1].is_null = &openid_null;
		result[2].buffer_type = MYSQL_TYPE_LONGLONG;
		result[2].buffer = &no_password;
		n = 0;
		if (mig_execute(mig, stmt, &limit, 1) == -1 ||
		    mysql_stmt_bind_result(stmt, result) != 0 ||
		    mysql_stmt_store_result(stmt) != 0) {
			if (mig->err_no == 0)
				mig_fail(mig, mysql_stmt_errno(stmt), "%s",
				    mysql_stmt_error(stmt));
			mysql_stmt_close(stmt);
			rc = -1;
			break;
		}
		/* Truncation is fine: the length says "too long" by itself. */
		while ((fetched = mysql_stmt_fetch(stmt)) == 0 ||
		    fetched == MYSQL_DATA_TRUNCATED) {
			why = mig_openid_refusal(openid, openid_len,
			    openid_null);
			if (why == NULL)
				why = "refused:password_null";
			picks[n].id = id;
			picks[n].keep = 0;
			picks[n].reason = why;
			n++;
		}
		mysql_stmt_free_result(stmt);
		mysql_stmt_close(stmt);
		if (n == 0)
			break;
		for (i = 0; i < n; i++)
			mig_note_refused(mig, picks[i].id, picks[i].reason);
		if (mig_move_batch(mig, picks, n, &moved) == -1) {
			rc = -1;
			break;
		}
	}
	free(picks);
	return (rc);
}

/* Remember an openid's kept row once, for duplicate_openids. */
static void
mig_note_keep(uint64_t **keeps, size_t *nkeeps, size_t *cap, uint64_t keep)
{
	uint64_t	*grown;

	if (*nkeeps == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		if ((grown = realloc(*keeps, *cap * sizeof(**keeps))) == NULL)
			fatalx("regonce-migrate: out of memory");
		*keeps = grown;
	}
	(*keeps)[(*nkeeps)++] = keep;
}

static int
mig_cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* Sort and count the distinct values. */
static size_t
mig_distinct(uint64_t *values, size_t n)
{
	size_t	i, distinct = 0;

	if (n == 0)
		return (0);
	qsort(values, n, sizeof(*values), mig_cmp_u64);
	for (i = 0; i < n; i++)
		if (i == 0 || values[i] != values[i - 1])
			distinct++;
	return (distinct);
}

/* Read every duplicate (id, kept id) in one sorted scan. */
static int
mig_dup_scan(struct mig *mig, struct mig_pick **pairs, size_t *npairs)
{
	MYSQL_STMT		*stmt;
	MYSQL_BIND		 result[2];
	struct mig_pick		*grown;
	unsigned long long	 id;
	uint64_t		 keep = 0;
	char			 openid[REG_OPENID_MAX + 1];
	char			 prev[REG_OPENID_MAX + 1];
	unsigned long		 len, prev_len = 0;
	size_t			 cap = 0;
	int			 fetched, have_prev = 0, rc = -1;

	*pairs = NULL;
	*npairs = 0;
	if ((stmt = mig_prepare(mig, Q_DUP_SCAN)) == NULL)
		return (-1);
	memset(result, 0, sizeof(result));
	result[0].buffer_type = MYSQL_TYPE_LONGLONG;
	result[0].is_unsigned = 1;
	result[0].buffer = &id;
	result[1].buffer_type = MYSQL_TYPE_STRING;
	result[1].buffer = openid;
	result[1].buffer_length = sizeof(openid);
	result[1].length = &len;
	if (mig_execute(mig, stmt, NULL, 0) == -1)
		goto out;
	if (mysql_stmt_bind_result(stmt, result) != 0) {
		mig_fail(mig, mysql_stmt_errno(stmt), "%s",
		    mysql_stmt_error(stmt));
		goto out;
	}
	/* Streamed, not stored: only the duplicates are kept in memory. */
	while ((fetched = mysql_stmt_fetch(stmt)) == 0) {
		if (have_prev && len == prev_len &&
		    memcmp(openid, prev, len) == 0) {
			if (*npairs == cap) {
				cap = cap ? cap * 2 : 1024;
				grown = realloc(*pairs, cap * sizeof(**pairs));
				if (grown == NULL)
					fatalx("regonce-migrate: out of memory");
				*pairs = grown;
			}
			(*pairs)[*npairs].id = id;
			(*pairs)[*npairs].keep = keep;
			(*pairs)[*npairs].reason = "duplicate";
			(*npairs)++;
			continue;
		}
		memcpy(prev, openid, len);
		prev_len = len;
		keep = id;
		have_prev = 1;
	}
	/* A valid openid fits; anything longer was refused, not scanned. */
	if (fetched != MYSQL_NO_DATA) {
		mig_fail(mig, mysql_stmt_errno(stmt), "duplicate scan: %s",
		    fetched == MYSQL_DATA_TRUNCATED ? "openid too long" :
		    mysql_stmt_error(stmt));
		goto out;
	}
	rc = 0;
out:
	mysql_stmt_free_result(stmt);
	mysql_stmt_close(stmt);
	return (rc);
}

/*
 * Merge duplicates: for each openid (byte for byte) the lowest id stays;
 * every later row moves to the audit table with merged_into = that id,
 * --batch rows per transaction. Scans again until a scan finds none.
 */
static int
mig_merge_all(struct mig *mig, uint64_t **keeps, size_t *nkeeps, size_t *cap)
{
	struct mig_pick	*pairs;
	size_t		 npairs, at, n, moved, pass_moved, i;
	int		 rc = 0;

	for (;;) {
		if (mig_dup_scan(mig, &pairs, &npairs) == -1)
			return (-1);
		pass_moved = 0;
		for (at = 0; at < npairs && rc == 0; at += n) {
			n = npairs - at < mig->args.batch ? npairs - at :
			    mig->args.batch;
			if (mig_move_batch(mig, pairs + at, n, &moved) == -1) {
				rc = -1;
				break;
			}
			for (i = at; i < at + n; i++)
				if (pairs[i].reason != NULL)
					mig_note_keep(keeps, nkeeps, cap,
					    pairs[i].keep);
			mig->st.duplicate_rows += moved;
			pass_moved += moved;
		}
		free(pairs);
		if (rc == -1 || npairs == 0)
			return (rc);
		/* Found some, moved none: something else keeps changing them. */
		if (pass_moved == 0)
			return (mig_fail(mig, 0, "%zu duplicates could not be "
			    "moved: their kept rows keep changing", npairs));
	}
}

/* mig_merge_all, timed. */
static int
mig_merge(struct mig *mig, uint64_t **keeps, size_t *nkeeps, size_t *cap)
{
	double	start = mig_clock();
	int	rc = mig_merge_all(mig, keeps, nkeeps, cap);

	mig->st.move_s += mig_clock() - start;
	return (rc);
}

/* mig_quarantine_all, timed. */
static int
mig_quarantine(struct mig *mig)
{
	double	start = mig_clock();
	int	rc = mig_quarantine_all(mig);

	mig->st.move_s += mig_clock() - start;
	return (rc);
}

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
mig_hash_fetch(struct mig *mig, uint64_t after, struct mig_clear *rows,
    size_t *n)
{
	MYSQL_STMT		*stmt;
	MYSQL_BIND		 result[2];
	struct mig_param	 params[2];
	unsigned long long	 id;
	unsigned long		 len;
	char			*buf;
	int			 fetched, rc = -1;

	*n = 0;
	if ((buf = malloc(MIG_PW_MAX)) == NULL)
		fatalx("regonce-migrate: out of memory");
	stmt = mig_prepare(mig, mig_pw_shape(mig) == SHAPE_LEGACY ?
	    Q_HASH_BATCH_LEGACY : Q_HASH_BATCH_REGONCE);
	if (stmt == NULL)
		goto out_buf;
	memset(params, 0, sizeof(params));
	params[0].type = params[1].type = MIG_PARAM_U64;
	params[0].u64 = after;
	params[1].u64 = mig->args.batch;
	memset(result, 0, sizeof(result));
	result[0].buffer_type = MYSQL_TYPE_LONGLONG;
	result[0].is_unsigned = 1;
	result[0].buffer = &id;
	result[1].buffer_type = MYSQL_TYPE_STRING;
	result[1].buffer = buf;
	result[1].buffer_length = MIG_PW_MAX;
	result[1].length = &len;
	if (mig_execute(mig, stmt, params, 2) == -1)
		goto out;
	if (mysql_stmt_bind_result(stmt, result) != 0 ||
	    mysql_stmt_store_result(stmt) != 0) {
		mig_fail(mig, mysql_stmt_errno(stmt), "%s",
		    mysql_stmt_error(stmt));
		goto out;
	}
	while ((fetched = mysql_stmt_fetch(stmt)) == 0 ||
	    fetched == MYSQL_DATA_TRUNCATED) {
		if (fetched == MYSQL_DATA_TRUNCATED) {
			mig_fail(mig, 0, "row %llu: password longer than %d "
			    "bytes", id, MIG_PW_MAX);
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
	rc = 0;
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
		params[1].type = MIG_PARAM_U64;
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
	int			 rc = 0;

	if (on_audit && !mig->audit_exists)
		return (0);
	if ((rows = calloc(mig->args.batch, sizeof(*rows))) == NULL)
		fatalx("regonce-migrate: out of memory");
	mig->on_audit = on_audit;
	for (;;) {
		if (mig_hash_fetch(mig, after, rows, &n) == -1) {
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		for (i = 0; i < n; i++)
			if (pw_hash(&mig->cfg, rows[i].clear, rows[i].len,
			    rows[i].hash, sizeof(rows[i].hash), &cause) == -1) {
				rc = mig_fail(mig, 0, "row %llu: argon2id: %s",
				    (unsigned long long)rows[i].id, cause);
				break;
			}
		before = mig->st.hashed;
		if (rc == 0)
			rc = mig_hash_store(mig, rows, n);
		after = rows[n - 1].id;
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
static int
mig_hash(struct mig *mig, int on_audit)
{
	double	start = mig_clock();
	int	rc = mig_hash_table(mig, on_audit);

	mig->st.hash_s += mig_clock() - start;
	return (rc);
}

/* Is id in the sorted array? */
static int
mig_has_id(const uint64_t *ids, size_t n, uint64_t id)
{
	return (n > 0 &&
	    bsearch(&id, ids, n, sizeof(*ids), mig_cmp_u64) != NULL);
}

/*
 * The accounting: every row that was in the table when we started is now
 * in exactly one of the table and the audit table, and no id is in both.
 */
static int
mig_account(struct mig *mig)
{
	uint64_t	*table_ids = NULL, *audit_ids = NULL;
	size_t		 ntable = 0, naudit = 0, i, j;
	int		 rc = -1;

	if (mig_ids(mig, Q_IDS, &table_ids, &ntable) == -1)
		goto out;
	if (mig->audit_exists) {
		mig->on_audit = 1;
		rc = mig_ids(mig, Q_IDS, &audit_ids, &naudit);
		mig->on_audit = 0;
		if (rc == -1)
			goto out;
		rc = -1;
	}
	for (i = 0; i < mig->nids_before; i++)
		if (!mig_has_id(table_ids, ntable, mig->ids_before[i]) &&
		    !mig_has_id(audit_ids, naudit, mig->ids_before[i])) {
			mig_fail(mig, 0, "row %llu is in neither the table "
			    "nor the audit table",
			    (unsigned long long)mig->ids_before[i]);
			goto out;
		}
	for (i = j = 0; i < ntable && j < naudit; ) {
		if (table_ids[i] == audit_ids[j]) {
			mig_fail(mig, 0, "row %llu is in both the table and "
			    "the audit table", (unsigned long long)table_ids[i]);
			goto out;
		}
		if (table_ids[i] < audit_ids[j])
			i++;
		else
			j++;
	}
	mig->st.rows_after = ntable;
	mig->st.audit_total = naudit;
	mig->st.audit_rows = naudit - mig->st.audit_before;
	mig->st.rows_arrived = ntable + naudit - mig->st.rows_before -
	    mig->st.audit_before;
	mig->st.accounted = 1;
	rc = 0;
out:
	free(table_ids);
	free(audit_ids);
	return (rc);
}

/* Before anything changes: the ids, counts, and the case report. */
static int
mig_census(struct mig *mig)
{
	if (mig_ids(mig, Q_IDS, &mig->ids_before, &mig->nids_before) == -1)
		return (-1);
	mig->st.rows_before = mig->nids_before;
	if (mig->audit_exists &&
	    mig_count_on(mig, Q_COUNT, 1, &mig->st.audit_before) == -1)
		return (-1);
	return (mig_count_on(mig, Q_CASE_VARIANTS, 0, &mig->st.case_variants));
}

/* Hash, quarantine and merge in the table: the batch work. */
static int
mig_sweep(struct mig *mig, uint64_t **keeps, size_t *nkeeps, size_t *cap)
{
	if (mig_hash(mig, 0) == -1 || mig_quarantine(mig) == -1 ||
	    mig_merge(mig, keeps, nkeeps, cap) == -1)
		return (-1);
	return (0);
}

/* Leave LOCK TABLES mode; the error that got us here is kept. */
static void
mig_unlock_tables(struct mig *mig)
{
	unsigned int	err_no = mig->err_no;
	char		err[MIG_ERR_MAX];

	memcpy(err, mig->err, sizeof(err));
	db_rollback(mig->db);
	mig_exec(mig, "UNLOCK TABLES", NULL, 0, NULL);
	mig_exec(mig, "SET SESSION autocommit = 1", NULL, 0, NULL);
	mig->locked = 0;
	mig->err_no = err_no;
	memcpy(mig->err, err, sizeof(err));
}

/*
 * Hold the old endpoint's writes off (they wait, they do not fail) for
 * the last sweep and one DDL: nothing can arrive between the two. The
 * lock wait is bounded by lock_wait_timeout (MIG_DDL_WAIT_S).
 */
static int
mig_lock_tables(struct mig *mig)
{
	if (mig_audit_ensure(mig) == -1 ||
	    mig_exec(mig, "SET SESSION autocommit = 0", NULL, 0, NULL) == -1)
		return (-1);
	if (mig_exec(mig, Q_LOCK_TABLES, NULL, 0, NULL) == -1) {
		mig_unlock_tables(mig);
		return (-1);
	}
	mig->locked = 1;
	return (0);
}

/*
 * Run a DDL step, sweeping again and retrying while the old endpoint's
 * rows make it fail (a duplicate, a NULL, a non-ASCII openid). After
 * --online-tries attempts the rest run under LOCK TABLES: a busy endpoint
 * can land a duplicate in every online build window (we saw 8 in a row
 * under it-migrate's storm), a locked one cannot.
 */
static int
mig_ddl_retry(struct mig *mig, const char *ddl, char *how, size_t howlen,
    unsigned int *retries, uint64_t **keeps, size_t *nkeeps, size_t *cap)
{
	unsigned int	attempt;
	int		rc;

	for (attempt = 0; attempt < MIG_RETRIES; attempt++) {
		if (attempt >= mig->args.online_tries) {
			if (mig_lock_tables(mig) == -1)
				return (-1);
			if (mig_sweep(mig, keeps, nkeeps, cap) == -1) {
				mig_unlock_tables(mig);
				return (-1);
			}
		}
		rc = mig_alter(mig, ddl, how, howlen);
		if (mig->locked) {
			mig_unlock_tables(mig);
			if (rc == 0 && how != NULL)
				snprintf(how + strlen(how), howlen - strlen(how),
				    " inside LOCK TABLES WRITE (writers waited)");
		}
		if (rc == 0)
			return (mig_columns(mig, mig->args.table, 0));
		if (!mig_ddl_data_error(mig->err_no) &&
		    !mig_ddl_dup_error(mig->err_no) &&
		    mig->err_no != ER_LOCK_WAIT_TIMEOUT &&
		    mig->err_no != ER_LOCK_DEADLOCK)
			return (-1);
		if (retries != NULL)
			(*retries)++;
		snprintf(mig->st.retry_note, sizeof(mig->st.retry_note),
		    "error %u: %.140s", mig->err_no, mig->err);
		if (attempt + 1 < mig->args.online_tries &&
		    mig_sweep(mig, keeps, nkeeps, cap) == -1)
			return (-1);
	}
	return (mig_fail(mig, mig->err_no, "gave up after %d attempts, "
	    "rows keep arriving: %s", MIG_RETRIES, mig->err));
}

/* --dry-run: count what a run would do; change nothing. */
static int
mig_plan(struct mig *mig)
{
	const char	*to_hash = Q_TO_HASH_REGONCE;

	if (mig->shape == SHAPE_LEGACY)
		to_hash = mig->has_hash ? Q_TO_HASH_LEGACY :
		    Q_TO_HASH_LEGACY_DRY;
	if (mig_count_on(mig, to_hash, 0, &mig->st.to_hash) == -1 ||
	    mig_count_on(mig, Q_REFUSED_COUNT, 0, &mig->st.refused) == -1 ||
	    mig_count_on(mig, Q_DUP_OPENIDS, 0,
	    &mig->st.duplicate_openids) == -1 ||
	    mig_count_on(mig, Q_DUP_ROWS, 0, &mig->st.duplicate_rows) == -1)
		return (-1);
	mig->st.rows_after = mig->st.rows_before;
	mig->st.audit_total = mig->st.audit_before;
	mig->st.accounted = 1;
	return (0);
}

/* The whole migration; -1 with mig->err set on failure. */
int
mig_run(struct mig *mig)
{
	uint64_t	*keeps = NULL, left;
	size_t		 nkeeps = 0, cap = 0;
	const char	*ddl;
	int		 rc = -1, pass;

	/* mig_parse_args kept the name short enough for the suffix. */
	if (strlen(mig->args.table) > MIG_TABLE_MAX)
		return (mig_fail(mig, 0, "table name too long"));
	memcpy(mig->audit, mig->args.table, strlen(mig->args.table));
	memcpy(mig->audit + strlen(mig->args.table), MIG_AUDIT_SUFFIX,
	    sizeof(MIG_AUDIT_SUFFIX));
	if (mig_inspect(mig) == -1 || mig_census(mig) == -1)
		return (-1);
	mig->inspected = 1;
	mig->first_shape = mig->shape;
	mig->first_has_hash = mig->has_hash;
	mig->first_openid_ok = mig->openid_ok;
	mig->first_created_at = mig->has_created_at;
	if (mig->args.dry_run)
		return (mig_plan(mig));

	/* Legacy: a place for the hashes beside the clear column. */
	if (mig->shape == SHAPE_LEGACY && !mig->has_hash) {
		if (mig_alter(mig, DDL_ADD_HASH, NULL, 0) == -1 ||
		    mig_columns(mig, mig->args.table, 0) == -1)
			goto out;
	}
	if (mig_sweep(mig, &keeps, &nkeeps, &cap) == -1)
		goto out;

	/* openid (and a regonce-named password_hash) to ascii_bin NOT NULL. */
	ddl = NULL;
	if (!mig->openid_ok)
		ddl = mig->shape == SHAPE_REGONCE && !mig->hash_ok ?
		    DDL_OPENID_HASH : DDL_OPENID;
	else if (mig->shape == SHAPE_REGONCE && !mig->hash_ok)
		ddl = DDL_HASH;
	if (ddl != NULL && mig_ddl_retry(mig, ddl, mig->st.convert_how,
	    sizeof(mig->st.convert_how), &mig->st.convert_retries, &keeps,
	    &nkeeps, &cap) == -1)
		goto out;
	if (!mig->has_created_at && (mig_alter(mig, DDL_CREATED_AT, NULL,
	    0) == -1 || mig_columns(mig, mig->args.table, 0) == -1))
		goto out;

	/* The UNIQUE index, online; duplicates that arrived are merged. */
	if (!mig->st.unique_index) {
		if (mig_merge(mig, &keeps, &nkeeps, &cap) == -1 ||
		    mig_ddl_retry(mig, DDL_UNIQUE, mig->st.unique_how,
		    sizeof(mig->st.unique_how), &mig->st.unique_retries,
		    &keeps, &nkeeps, &cap) == -1)
			goto out;
		mig->st.unique_index = 1;
	}

	/* Legacy: the clear column goes, once every row has its hash. */
	if (mig->has_password) {
		if (mig_hash(mig, 0) == -1 || mig_quarantine(mig) == -1 ||
		    mig_ddl_retry(mig, DDL_DROP_CLEAR, NULL, 0, NULL, &keeps,
		    &nkeeps, &cap) == -1)
			goto out;
	}

	/* The audit table: hashed too, then its clear column dropped. */
	if (mig_hash(mig, 1) == -1)
		goto out;
	if (mig->audit_exists && mig->audit_has_password) {
		if (mig_count_on(mig, Q_AUDIT_CLEAR_LEFT, 1, &left) == -1)
			goto out;
		if (left > 0) {
			mig_fail(mig, 0, "%llu audit rows still have only a "
			    "clear password", (unsigned long long)left);
			goto out;
		}
		if (mig_alter(mig, DDL_AUDIT_DROP_CLEAR, NULL, 0) == -1 ||
		    mig_columns(mig, mig->audit, 1) == -1)
			goto out;
	}

	/* Clear text the old endpoint wrote since the first sweep. */
	for (pass = 0; pass < 3; pass++) {
		if (mig_count_on(mig, Q_TO_HASH_REGONCE, 0, &left) == -1)
			goto out;
		if (left == 0)
			break;
		if (mig_hash(mig, 0) == -1)
			goto out;
	}
	if (left > 0) {
		mig_fail(mig, 0, "%llu rows still hold clear text",
		    (unsigned long long)left);
		goto out;
	}
	if (mig_account(mig) == -1)
		goto out;
	rc = 0;
out:
	mig->st.duplicate_openids = mig_distinct(keeps, nkeeps);
	free(keeps);
	return (rc);
}
