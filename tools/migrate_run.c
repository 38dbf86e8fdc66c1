/*
 * regonce-migrate's steps and their order (hashing in migrate_hash.c, the
 * moves to the audit table in migrate_move.c, shared statements in
 * migrate_sql.c). Every step reads what is left to do from the tables
 * themselves (no progress file): a row still in the table and not
 * in the audit table has not been moved; a password that is not an
 * argon2id PHC string has not been hashed; a column or index that is not
 * there yet has not been built. So a run killed at any point is resumed
 * by running it again, and a run after success finds nothing to do.
 *
 * Order: refuse a table that foreign keys reference (before any change,
 * --dry-run too), hash, quarantine the rows regonce would refuse, merge
 * duplicates, convert openid to ascii_bin, build the UNIQUE index
 * online, drop the clear-text column, hash the audit table, then account
 * for every row.
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

#include "app.h"
#include "migrate.h"

#define MIG_RETRIES		20	/* DDL attempts when rows keep arriving */

static const char Q_TABLE_EXISTS[] =
    "SELECT COUNT(*) FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?";

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

/* The foreign keys of any table (any database) that reference ours. */
static const char Q_FOREIGN_KEYS[] =
    "SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.COLUMN_NAME, k.CONSTRAINT_NAME, "
    "r.DELETE_RULE FROM information_schema.KEY_COLUMN_USAGE k "
    "JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
    "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA "
    "AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
    "AND r.TABLE_NAME = k.TABLE_NAME "
    "WHERE k.REFERENCED_TABLE_SCHEMA = ? AND k.REFERENCED_TABLE_NAME = ? "
    "ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, "
    "k.ORDINAL_POSITION";

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

/*
 * Moving a duplicate or refused row deletes it from the table: a child
 * row ON DELETE CASCADE would go with it, SET NULL would lose its link,
 * RESTRICT would fail half-way. Which kept row a child belongs to is the
 * operator's call, so a table that any foreign key references is refused
 * (exit 4), every constraint named, before anything changes.
 */
static int
mig_foreign_keys(struct mig *mig)
{
	MYSQL_STMT		*stmt;
	MYSQL_BIND		 result[5];
	struct mig_param	 params[2];
	char			 col[5][MIG_IDENT_MAX * 4 + 1];
	unsigned long		 len[5];
	size_t			 used;
	unsigned int		 i, found = 0;
	int			 fetched, rc = -1;

	memset(params, 0, sizeof(params));
	params[0].type = params[1].type = MIG_PARAM_STR;
	params[0].str = mig->cfg.db_name;
	params[0].len = strlen(mig->cfg.db_name);
	params[1].str = mig->args.table;
	params[1].len = strlen(mig->args.table);
	if ((stmt = mig_prepare(mig, Q_FOREIGN_KEYS)) == NULL)
		return (-1);
	memset(result, 0, sizeof(result));
	for (i = 0; i < 5; i++) {
		result[i].buffer_type = MYSQL_TYPE_STRING;
		result[i].buffer = col[i];
		result[i].buffer_length = sizeof(col[i]) - 1;
		result[i].length = &len[i];
	}
	if (mig_query_rows(mig, stmt, params, 2, result) == -1)
		goto out;
	used = (size_t)snprintf(mig->err, sizeof(mig->err), "refused: foreign "
	    "keys reference %s, and merging or quarantining a row deletes "
	    "it (its child rows would go too):", mig->args.table);
	while ((fetched = mysql_stmt_fetch(stmt)) == 0) {
		for (i = 0; i < 5; i++)
			col[i][len[i] < sizeof(col[i]) ? len[i] : 0] = '\0';
		if (used < sizeof(mig->err))
			used += (size_t)snprintf(mig->err + used,
			    sizeof(mig->err) - used, "%s %s%s%s.%s (constraint "
			    "%s, on delete: %s)", found ? "," : "",
			    strcmp(col[0], mig->cfg.db_name) == 0 ? "" : col[0],
			    strcmp(col[0], mig->cfg.db_name) == 0 ? "" : ".",
			    col[1], col[2], col[3], col[4]);
		found++;
	}
	if (mig_fetched(mig, stmt, fetched) == -1)
		goto out;
	if (found == 0) {
		mig->err[0] = '\0';
		rc = 0;
		goto out;
	}
	if (used < sizeof(mig->err))
		snprintf(mig->err + used, sizeof(mig->err) - used, ". Nothing "
		    "was changed. Re-point those rows to the row you keep, or "
		    "drop the constraints, then run again: see "
		    "regonce-migrate(1), FOREIGN KEYS");
	mig->err_no = 0;
	mig->refuse = 1;
out:
	return (mig_done(stmt, rc));
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
	int64_t	start;
	int	rc;

	for (mig->way = 0; mig->way < MIG_WAYS; mig->way++) {
		start = clock_mono_us();
		rc = mig_exec(mig, ddl, NULL, 0, NULL);
		mig->st.ddl_us += clock_mono_us() - start;
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
	if (mig_inspect(mig) == -1 || mig_foreign_keys(mig) == -1 ||
	    mig_census(mig) == -1)
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
