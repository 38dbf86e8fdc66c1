/*
 * regonce-migrate: moving rows out of the table. A row regonce would
 * refuse, or a later row of an openid, is copied whole into the audit
 * table and deleted from the table in one transaction, --batch rows per
 * transaction; nothing leaves the table without its copy.
 */
#include "config.h"

#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "migrate.h"

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

/* merged_into holds any id of the table: signed if its id is. NULL is
 * "merged into nothing" (a refused row); 0 is row 0. */
#define AUDIT_CREATE(type) \
    "CREATE TABLE IF NOT EXISTS {A} (" \
    "merged_into " type " NULL COMMENT 'id of the row kept', " \
    "migrate_reason VARCHAR(40) CHARACTER SET ascii NOT NULL DEFAULT '', " \
    "migrated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), " \
    "PRIMARY KEY (id)) ENGINE=InnoDB SELECT * FROM {T} WHERE 0"

static const char Q_AUDIT_CREATE[] = AUDIT_CREATE("BIGINT UNSIGNED");
static const char Q_AUDIT_CREATE_SIGNED[] = AUDIT_CREATE("BIGINT");

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

/* Create the audit table (the table's columns, plus why and when). */
int
mig_audit_ensure(struct mig *mig)
{
	if (mig->audit_exists)
		return (0);
	if (mig_exec(mig, mig->id_signed ? Q_AUDIT_CREATE_SIGNED :
	    Q_AUDIT_CREATE, NULL, 0, NULL) == -1)
		return (-1);
	mig->audit_exists = 1;
	mig->st.changed = 1;
	return (mig_columns(mig, mig->audit, 1));
}

struct mig_pick {
	uint64_t	 id;
	uint64_t	 keep;		/* the row kept, if merged */
	int		 merged;	/* a duplicate; else a refused row */
	const char	*reason;
};

/*
 * Copy one row whole into the audit table, then delete it, inside the
 * batch's transaction. A duplicate whose kept row changed meanwhile is
 * left alone (*moved = 0): the next scan sees it again.
 */
static int
mig_move(struct mig *mig, MYSQL_STMT *copy, MYSQL_STMT *del,
    const struct mig_pick *pick, int *moved)
{
	struct mig_param	 params[4];
	uint64_t		 copied, deleted;
	char			 idtext[24];

	*moved = 0;
	memset(params, 0, sizeof(params));
	/* The flag, not the value, says "merged": row 0 can be kept. */
	params[0].type = pick->merged ? MIG_PARAM_ID : MIG_PARAM_NULL;
	params[0].u64 = pick->keep;
	params[1].type = MIG_PARAM_STR;
	params[1].str = pick->reason;
	params[1].len = strlen(pick->reason);
	params[2].type = MIG_PARAM_ID;
	params[2].u64 = pick->id;
	params[3].type = MIG_PARAM_ID;
	params[3].u64 = pick->keep;
	if (mig_execute(mig, copy, params, pick->merged ? 4 : 3) == -1)
		return (-1);
	copied = (uint64_t)mysql_stmt_affected_rows(copy);
	if (copied == 0 && pick->merged)
		return (0);
	if (mig_execute(mig, del, &params[2], 1) == -1)
		return (-1);
	deleted = (uint64_t)mysql_stmt_affected_rows(del);
	if (copied != 1 || deleted != 1)
		return (mig_fail(mig, 0, "row %s: copied %llu, deleted %llu; "
		    "rolled back", mig_id_text(mig, pick->id, idtext,
		    sizeof(idtext)),
		    (unsigned long long)copied, (unsigned long long)deleted));
	*moved = 1;
	return (0);
}

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
	if ((copy = mig_prepare(mig, picks[0].merged ? Q_MOVE_DUP :
	    Q_MOVE_COPY)) == NULL ||
	    (del = mig_prepare(mig, Q_MOVE_DELETE)) == NULL)
		goto out;
	if (mig_begin(mig) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		if (mig_move(mig, copy, del, &picks[i], &one) == -1) {
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
	char			 openid[OPENID_MAX + 2];
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
		result[0].is_unsigned = !mig->id_signed;
		result[0].buffer = &id;
		result[1].buffer_type = MYSQL_TYPE_STRING;
		result[1].buffer = openid;
		result[1].buffer_length = sizeof(openid);
		result[1].length = &openid_len;
		result[1].is_null = &openid_null;
		result[2].buffer_type = MYSQL_TYPE_LONGLONG;
		result[2].buffer = &no_password;
		n = 0;
		if (mig_query_rows(mig, stmt, &limit, 1, result) == -1) {
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
			picks[n].merged = 0;
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

/* Sort and count the distinct values. */
size_t
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
	char			 openid[OPENID_MAX + 1];
	char			 prev[OPENID_MAX + 1];
	unsigned long		 len, prev_len = 0;
	size_t			 cap = 0;
	int			 fetched, have_prev = 0, rc = -1;

	*pairs = NULL;
	*npairs = 0;
	if ((stmt = mig_prepare(mig, Q_DUP_SCAN)) == NULL)
		return (-1);
	memset(result, 0, sizeof(result));
	result[0].buffer_type = MYSQL_TYPE_LONGLONG;
	result[0].is_unsigned = !mig->id_signed;
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
			(*pairs)[*npairs].merged = 1;
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
	return (mig_done(stmt, rc));
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
int
mig_merge(struct mig *mig, uint64_t **keeps, size_t *nkeeps, size_t *cap)
{
	int64_t	start = clock_mono_us();
	int	rc = mig_merge_all(mig, keeps, nkeeps, cap);

	mig->st.move_us += clock_mono_us() - start;
	return (rc);
}

/* mig_quarantine_all, timed. */
int
mig_quarantine(struct mig *mig)
{
	int64_t	start = clock_mono_us();
	int	rc = mig_quarantine_all(mig);

	mig->st.move_us += clock_mono_us() - start;
	return (rc);
}
