/*
 * regonce-migrate's statements. Data only ever travels as bound parameters
 * of prepared statements. Identifiers (the table the operator names, and
 * the columns the server reports for it) cannot be bound: they are checked
 * against ^[A-Za-z0-9_]{1,64}$ and put in backticks, and mig_render() is
 * the only place that puts them into a statement. The statements more
 * than one step needs live here too: a batch's BEGIN and reading a
 * table's columns.
 */
#include "config.h"

#include <mysql.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "migrate.h"

/* Is name a plain identifier of at most max bytes (letters, digits, _)? */
int
mig_ident_ok(const char *name, size_t max)
{
	size_t	i, len = strlen(name);

	if (len == 0 || len > max)
		return (0);
	for (i = 0; i < len; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return (0);
	return (1);
}

/* Append text to out at *used; -1 if it does not fit. */
static int
mig_append(char *out, size_t outlen, size_t *used, const char *text,
    size_t len)
{
	if (*used + len >= outlen)
		return (-1);
	memcpy(out + *used, text, len);
	*used += len;
	out[*used] = '\0';
	return (0);
}

/* Run a prepared SELECT and hold its rows client-side, read into result. */
int
mig_query_rows(struct mig *mig, MYSQL_STMT *stmt, struct mig_param *params,
    unsigned int n, MYSQL_BIND *result)
{
	if (mig_execute(mig, stmt, params, n) == -1)
		return (-1);
	if (mysql_stmt_bind_result(stmt, result) != 0 ||
	    mysql_stmt_store_result(stmt) != 0)
		return (mig_fail(mig, mysql_stmt_errno(stmt), "%s",
		    mysql_stmt_error(stmt)));
	return (0);
}

/* Append a checked identifier in backticks. */
static int
mig_append_ident(char *out, size_t outlen, size_t *used, const char *name)
{
	if (!mig_ident_ok(name, MIG_IDENT_MAX))
		return (-1);
	if (mig_append(out, outlen, used, "`", 1) == -1 ||
	    mig_append(out, outlen, used, name, strlen(name)) == -1)
		return (-1);
	return (mig_append(out, outlen, used, "`", 1));
}

/* How an ALTER runs: online where MariaDB can, else a locked copy. */
const char *
mig_way_name(unsigned int way)
{
	static const char *const ways[MIG_WAYS] = {
		"ALGORITHM=INPLACE, LOCK=NONE",
		"ALGORITHM=COPY, LOCK=SHARED",
	};

	return (ways[way < MIG_WAYS ? way : 0]);
}

/*
 * Where {X}'s clear passwords are now: a `password` column means legacy.
 * Decided per table and per moment, not once: a run killed between the
 * table's last ALTER and the audit table's finds them in different shapes.
 */
enum mig_shape
mig_pw_shape(const struct mig *mig)
{
	if (mig->on_audit)
		return (mig->audit_has_password ? SHAPE_LEGACY : SHAPE_REGONCE);
	return (mig->has_password ? SHAPE_LEGACY : SHAPE_REGONCE);
}

/* The predicate for a row without any password, in {X}'s shape. */
static const char *
mig_no_password(const struct mig *mig)
{
	if (mig_pw_shape(mig) == SHAPE_REGONCE)
		return ("`password_hash` IS NULL");
	/* The audit table is made after password_hash was added. */
	if (mig->on_audit || mig->has_hash)
		return ("(`password` IS NULL AND `password_hash` IS NULL)");
	return ("`password` IS NULL");
}

/*
 * Expand a statement template: {T} is the table, {A} the audit table,
 * {X} whichever of the two is being worked on, {C} the table's column
 * list (checked when it was read), {P} the column holding the passwords
 * to hash, {N} "this row has no password at all" for the current shape,
 * {W} the ALGORITHM and LOCK clauses of the attempt at hand.
 * Nothing else is ever substituted.
 */
int
mig_render(const struct mig *mig, const char *tmpl, char *out,
    size_t outlen)
{
	const char	*p, *close;
	size_t		 used = 0;
	int		 rc = 0;

	out[0] = '\0';
	for (p = tmpl; *p != '\0' && rc == 0; p++) {
		if (p[0] == '{' && p[1] != '\0' && p[2] == '}') {
			close = p + 2;
			switch (p[1]) {
			case 'T':
				rc = mig_append_ident(out, outlen, &used,
				    mig->args.table);
				break;
			case 'A':
				rc = mig_append_ident(out, outlen, &used,
				    mig->audit);
				break;
			case 'X':
				rc = mig_append_ident(out, outlen, &used,
				    mig->on_audit ? mig->audit :
				    mig->args.table);
				break;
			case 'N':
				rc = mig_append(out, outlen, &used,
				    mig_no_password(mig),
				    strlen(mig_no_password(mig)));
				break;
			case 'W':
				rc = mig_append(out, outlen, &used, ", ", 2);
				if (rc == 0)
					rc = mig_append(out, outlen, &used,
					    mig_way_name(mig->way),
					    strlen(mig_way_name(mig->way)));
				break;
			case 'P':
				rc = mig_append_ident(out, outlen, &used,
				    mig_pw_shape(mig) == SHAPE_LEGACY ?
				    "password" :
				    "password_hash");
				break;
			case 'C':
				rc = mig_append(out, outlen, &used, mig->cols,
				    strlen(mig->cols));
				break;
			default:
				return (-1);
			}
			p = close;
			continue;
		}
		rc = mig_append(out, outlen, &used, p, 1);
	}
	return (rc);
}

/*
 * Why regonce would refuse this openid (NULL: it would take it): the
 * worker's rule (openid_check), in the audit table's words.
 */
const char *
mig_openid_refusal(const char *openid, size_t len, int is_null)
{
	static const char *const why[] = {
		[OPENID_FINE] = NULL,
		[OPENID_EMPTY] = "refused:openid_empty",
		[OPENID_TOO_LONG] = "refused:openid_too_long",
		[OPENID_BAD_BYTE] = "refused:openid_bytes",
	};

	if (is_null)
		return ("refused:openid_null");
	return (why[openid_check(openid, len)]);
}

/* Is it an argon2id PHC string as pw_hash writes them? */
int
mig_is_phc(const char *text, size_t len)
{
	static const char	 prefix[] = "$argon2id$v=19$m=";
	size_t			 i = sizeof(prefix) - 1, field, dollars = 0;

	if (len <= i || memcmp(text, prefix, i) != 0)
		return (0);
	/* m=N,t=N,p=N then two base64 fields (salt, tag). */
	for (field = 0; field < 3; field++) {
		if (field > 0) {
			if (i + 2 >= len || text[i] != ',' ||
			    text[i + 1] != "mtp"[field] || text[i + 2] != '=')
				return (0);
			i += 3;
		}
		if (i >= len || text[i] < '0' || text[i] > '9')
			return (0);
		while (i < len && text[i] >= '0' && text[i] <= '9')
			i++;
	}
	for (; i < len; i++) {
		if (text[i] == '$') {
			/* Each of the two fields must be non-empty. */
			if (i + 1 >= len || text[i + 1] == '$')
				return (0);
			dollars++;
			continue;
		}
		if (dollars == 0 || !((text[i] >= 'A' && text[i] <= 'Z') ||
		    (text[i] >= 'a' && text[i] <= 'z') ||
		    (text[i] >= '0' && text[i] <= '9') || text[i] == '+' ||
		    text[i] == '/'))
			return (0);
	}
	return (dollars == 2);
}

/* Record an error for the report; always -1. */
int
mig_fail(struct mig *mig, unsigned int err_no, const char *fmt, ...)
{
	va_list	ap;

	mig->err_no = err_no;
	va_start(ap, fmt);
	vsnprintf(mig->err, sizeof(mig->err), fmt, ap);
	va_end(ap);
	return (-1);
}

/* Prepare a template's statement; NULL (error recorded) on failure. */
MYSQL_STMT *
mig_prepare(struct mig *mig, const char *tmpl)
{
	MYSQL		*conn = db_handle(mig->db);
	MYSQL_STMT	*stmt;
	char		 sql[MIG_SQL_MAX];

	if (conn == NULL) {
		mig_fail(mig, 2006, "the database connection is gone");
		return (NULL);
	}
	if (mig_render(mig, tmpl, sql, sizeof(sql)) == -1) {
		mig_fail(mig, 0, "cannot build the statement for '%.60s'", tmpl);
		return (NULL);
	}
	if ((stmt = mysql_stmt_init(conn)) == NULL) {
		mig_fail(mig, mysql_errno(conn), "%s", mysql_error(conn));
		return (NULL);
	}
	if (mysql_stmt_prepare(stmt, sql, strlen(sql)) != 0) {
		mig_fail(mig, mysql_stmt_errno(stmt), "%s (in: %.80s)",
		    mysql_stmt_error(stmt), sql);
		mysql_stmt_close(stmt);
		return (NULL);
	}
	return (stmt);
}

/* Bind params (n of them) and run a prepared statement. */
int
mig_execute(struct mig *mig, MYSQL_STMT *stmt, struct mig_param *params,
    unsigned int n)
{
	MYSQL_BIND	 binds[8];
	unsigned int	 i;

	if (n > sizeof(binds) / sizeof(binds[0]))
		return (mig_fail(mig, 0, "too many parameters"));
	memset(binds, 0, sizeof(binds));
	for (i = 0; i < n; i++) {
		if (params[i].type == MIG_PARAM_NULL) {
			binds[i].buffer_type = MYSQL_TYPE_NULL;
		} else if (params[i].type == MIG_PARAM_U64 ||
		    params[i].type == MIG_PARAM_ID) {
			binds[i].buffer_type = MYSQL_TYPE_LONGLONG;
			binds[i].is_unsigned = params[i].type == MIG_PARAM_U64 ||
			    !mig->id_signed;
			binds[i].buffer = &params[i].u64;
		} else {
			params[i].len_out = (unsigned long)params[i].len;
			binds[i].buffer_type = MYSQL_TYPE_STRING;
			binds[i].buffer = (void *)(uintptr_t)params[i].str;
			binds[i].buffer_length = (unsigned long)params[i].len;
			binds[i].length = &params[i].len_out;
		}
	}
	if ((n > 0 && mysql_stmt_bind_param(stmt, binds) != 0) ||
	    mysql_stmt_execute(stmt) != 0)
		return (mig_fail(mig, mysql_stmt_errno(stmt), "%s",
		    mysql_stmt_error(stmt)));
	return (0);
}

/* Prepare, run and close a statement; affected rows if asked. */
int
mig_exec(struct mig *mig, const char *tmpl, struct mig_param *params,
    unsigned int n, uint64_t *affected)
{
	MYSQL_STMT	*stmt;
	int		 rc;

	if ((stmt = mig_prepare(mig, tmpl)) == NULL)
		return (-1);
	rc = mig_execute(mig, stmt, params, n);
	if (rc == 0 && affected != NULL)
		*affected = (uint64_t)mysql_stmt_affected_rows(stmt);
	mysql_stmt_close(stmt);
	return (rc);
}

/*
 * The end of a fetch loop: 0 if the rows ran out, else -1 (recorded).
 * MYSQL_DATA_TRUNCATED is no server error: mysql_stmt_error() is empty
 * then (a negative id fetched as unsigned once failed with no text).
 */
int
mig_fetched(struct mig *mig, MYSQL_STMT *stmt, int fetched)
{
	if (fetched == MYSQL_NO_DATA)
		return (0);
	if (fetched == MYSQL_DATA_TRUNCATED)
		return (mig_fail(mig, 0, "a fetched value does not fit its "
		    "buffer (truncated)"));
	return (mig_fail(mig, mysql_stmt_errno(stmt), "%s",
	    mysql_stmt_error(stmt)[0] != '\0' ? mysql_stmt_error(stmt) :
	    "fetch failed without an error text"));
}

/* Free a statement's rows and close it; rc passes through. */
int
mig_done(MYSQL_STMT *stmt, int rc)
{
	mysql_stmt_free_result(stmt);
	mysql_stmt_close(stmt);
	return (rc);
}

/* One unsigned number from a one-row query (NULL counts as 0). */
int
mig_value(struct mig *mig, const char *tmpl, struct mig_param *params,
    unsigned int n, uint64_t *out)
{
	MYSQL_STMT		*stmt;
	MYSQL_BIND		 result;
	unsigned long long	 value = 0;
	my_bool			 is_null = 0;
	int			 rc = -1, fetched;

	*out = 0;
	if ((stmt = mig_prepare(mig, tmpl)) == NULL)
		return (-1);
	memset(&result, 0, sizeof(result));
	result.buffer_type = MYSQL_TYPE_LONGLONG;
	result.is_unsigned = 1;
	result.buffer = &value;
	result.is_null = &is_null;
	if (mig_execute(mig, stmt, params, n) == -1)
		goto out;
	if (mysql_stmt_bind_result(stmt, &result) != 0) {
		mig_fail(mig, mysql_stmt_errno(stmt), "%s",
		    mysql_stmt_error(stmt));
		goto out;
	}
	fetched = mysql_stmt_fetch(stmt);
	if (fetched == 1) {
		mig_fail(mig, mysql_stmt_errno(stmt), "%s",
		    mysql_stmt_error(stmt));
		goto out;
	}
	if (fetched == 0 && !is_null)
		*out = value;
	rc = 0;
out:
	return (mig_done(stmt, rc));
}

/* Every id a one-column query returns, in a malloc'ed array. */
int
mig_ids(struct mig *mig, const char *tmpl, uint64_t **ids, size_t *count)
{
	MYSQL_STMT		*stmt;
	MYSQL_BIND		 result;
	unsigned long long	 value = 0;
	uint64_t		*grown;
	size_t			 cap = 1024;
	int			 rc = -1, fetched;

	*count = 0;
	if ((*ids = malloc(cap * sizeof(**ids))) == NULL)
		fatalx("regonce-migrate: out of memory");
	if ((stmt = mig_prepare(mig, tmpl)) == NULL)
		return (-1);
	memset(&result, 0, sizeof(result));
	result.buffer_type = MYSQL_TYPE_LONGLONG;
	result.is_unsigned = !mig->id_signed;
	result.buffer = &value;
	if (mig_query_rows(mig, stmt, NULL, 0, &result) == -1)
		goto out;
	while ((fetched = mysql_stmt_fetch(stmt)) == 0) {
		if (*count == cap) {
			cap *= 2;
			if ((grown = realloc(*ids, cap * sizeof(**ids))) ==
			    NULL)
				fatalx("regonce-migrate: out of memory");
			*ids = grown;
		}
		(*ids)[(*count)++] = value;
	}
	rc = mig_fetched(mig, stmt, fetched);
	/* SQL's order is signed for a signed column; bsearch needs ours. */
	qsort(*ids, *count, sizeof(**ids), mig_cmp_u64);
out:
	return (mig_done(stmt, rc));
}

/* Open a batch's transaction; under LOCK TABLES autocommit is off and
 * START TRANSACTION would drop the table locks, so none is sent. */
int
mig_begin(struct mig *mig)
{
	if (mig->locked)
		return (0);
	if (db_begin(mig->db) != DB_OK)
		return (mig_fail(mig, db_errno(mig->db), "%s",
		    db_error(mig->db)));
	return (0);
}

static const char Q_COLUMNS[] =
    "SELECT COLUMN_NAME, COALESCE(COLLATION_NAME, ''), IS_NULLABLE, "
    "COLUMN_TYPE NOT LIKE '%unsigned%' FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? "
    "ORDER BY ORDINAL_POSITION";

/* Read a table's columns: what regonce needs, and the copy list {C}. */
int
mig_columns(struct mig *mig, const char *table, int is_audit)
{
	MYSQL_STMT		*stmt;
	MYSQL_BIND		 result[4];
	struct mig_param	 param = { MIG_PARAM_STR, 0, table, strlen(table),
				     0 };
	long long		 is_signed = 0;
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
	result[3].buffer_type = MYSQL_TYPE_LONGLONG;
	result[3].buffer = &is_signed;
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
		if (strcmp(name, "id") == 0) {
			has_id = 1;
			mig->id_signed = is_signed != 0;
		}
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
	if (mig_fetched(mig, stmt, fetched) == -1)
		goto out;
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
	return (mig_done(stmt, rc));
}

/* qsort/bsearch order for ids. */
int
mig_cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* An id as text, signed when the column is. */
const char *
mig_id_text(const struct mig *mig, uint64_t id, char *buf, size_t len)
{
	if (mig->id_signed)
		snprintf(buf, len, "%lld", (long long)(int64_t)id);
	else
		snprintf(buf, len, "%llu", (unsigned long long)id);
	return (buf);
}
