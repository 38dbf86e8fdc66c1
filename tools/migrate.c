/*
 * regonce-migrate: adopt an existing users table (duplicates, clear-text
 * passwords, a case-folding openid) so regonce can serve it.
 *
 *   regonce-migrate -c migrate.conf --table NAME [--dry-run] [--batch N]
 *                   [--json]
 *
 * It reads the worker's config format from its own file, for its own
 * database account: it needs ALTER, CREATE, UPDATE and DELETE, which the
 * worker's account must never have.
 */
#include "config.h"

#include <json-c/json.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "migrate.h"

/* The connection's read timeout must outlast a table copy (ALTER). */
#define MIG_DB_TIMEOUT_S	3600
#define MIG_LOCK_KEY		"regonce migrate"	/* a space: no openid */

static void
mig_usage(FILE *fp)
{
	fprintf(fp, "usage: regonce-migrate -c FILE --table NAME [--dry-run] "
	    "[--batch N]\n"
	    "                       [--online-tries N] [--json]\n"
	    "Moves a users table to regonce's shape: duplicates merged into "
	    "the earliest row\n"
	    "(copied first to NAME%s), passwords hashed with argon2id,\n"
	    "openid ascii_bin with the UNIQUE index uq_users_openid. Safe to "
	    "interrupt and run again.\n"
	    "Exit status: 0 done (or nothing to do), 1 failed, 2 usage, "
	    "3 could not start,\n"
	    "4 refused (foreign keys reference the table): nothing "
	    "changed.\n", MIG_AUDIT_SUFFIX);
}

/* A span of clock_mono_us, in seconds for the report. */
#define MIG_SECONDS(us)		((double)(us) / 1e6)

/* Session settings of our own: strict (a bad value fails, never bends),
 * and a DDL gives up waiting for its metadata lock instead of queueing
 * the old endpoint's writes behind it for a day. */
static int
mig_session(struct mig *mig)
{
	struct mig_param	wait = { MIG_PARAM_U64, MIG_DDL_WAIT_S, NULL, 0,
				    0 };

	if (mig_exec(mig, "SET SESSION sql_mode = "
	    "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'", NULL, 0, NULL) == -1)
		return (-1);
	return (mig_exec(mig, "SET SESSION lock_wait_timeout = ?", &wait, 1,
	    NULL));
}

/* One run at a time per table: a named lock on our own connection. */
static int
mig_lock(struct mig *mig, char *name, size_t namelen)
{
	enum db_lock_answer	 answer;

	if (db_lock_name(mig->db, REG_LOCK_PREFIX, mig->args.table,
	    MIG_LOCK_KEY, strlen(MIG_LOCK_KEY), name, namelen) == -1)
		return (mig_fail(mig, 0, "lock name does not fit"));
	if (db_get_lock(mig->db, name, 1000, DB_TXN_NONE, &answer) != DB_OK)
		return (mig_fail(mig, db_errno(mig->db), "%s",
		    db_error(mig->db)));
	if (answer != LOCK_ONE)
		return (mig_fail(mig, 0, "another regonce-migrate is working "
		    "on %s.%s", mig->cfg.db_name, mig->args.table));
	return (0);
}

static const char *
mig_shape_name(enum mig_shape shape)
{
	return (shape == SHAPE_LEGACY ? "legacy (clear `password` column)" :
	    "regonce columns (password_hash: PHC strings or clear text)");
}

/* The final JSON object. */
static void
mig_print_json(const struct mig *mig, int ok, double seconds)
{
	const struct mig_stats	*st = &mig->st;
	json_object		*obj = json_object_new_object(), *refused;
	unsigned int		 i;

#define ADD_U64(name, value) json_object_object_add(obj, name, \
	json_object_new_int64((int64_t)(value)))
	ADD_U64("rows_before", st->rows_before);
	ADD_U64("rows_after", st->rows_after);
	ADD_U64("audit_rows", st->audit_rows);
	ADD_U64("duplicate_openids", st->duplicate_openids);
	ADD_U64("case_variants", st->case_variants);
	ADD_U64("hashed", st->hashed);
	json_object_object_add(obj, "unique_index",
	    json_object_new_boolean(st->unique_index));
	json_object_object_add(obj, "changed",
	    json_object_new_boolean(st->changed));
	/* Beyond the keys: what the human report says too. */
	json_object_object_add(obj, "ok", json_object_new_boolean(ok));
	json_object_object_add(obj, "dry_run",
	    json_object_new_boolean(mig->args.dry_run));
	json_object_object_add(obj, "table",
	    json_object_new_string(mig->args.table));
	json_object_object_add(obj, "shape", json_object_new_string(
	    mig->first_shape == SHAPE_LEGACY ? "legacy" : "regonce"));
	ADD_U64("rows_arrived", st->rows_arrived);
	ADD_U64("audit_total", st->audit_total);
	ADD_U64("duplicate_rows", st->duplicate_rows);
	ADD_U64("refused", st->refused);
	if (mig->args.dry_run)
		ADD_U64("to_hash", st->to_hash);
	ADD_U64("unique_retries", st->unique_retries);
	ADD_U64("convert_retries", st->convert_retries);
	json_object_object_add(obj, "openid_conversion",
	    json_object_new_string(st->convert_how));
	json_object_object_add(obj, "unique_build",
	    json_object_new_string(st->unique_how));
	json_object_object_add(obj, "last_retry",
	    json_object_new_string(st->retry_note));
	refused = json_object_new_array();
	for (i = 0; i < st->refused_shown; i++) {
		json_object *row = json_object_new_object();

		json_object_object_add(row, "id",
		    json_object_new_int64((int64_t)st->refused_rows[i].id));
		json_object_object_add(row, "reason",
		    json_object_new_string(st->refused_rows[i].reason));
		json_object_array_add(refused, row);
	}
	json_object_object_add(obj, "refused_rows", refused);
	json_object_object_add(obj, "seconds", json_object_new_double(seconds));
	json_object_object_add(obj, "hash_seconds",
	    json_object_new_double(MIG_SECONDS(st->hash_us)));
	json_object_object_add(obj, "move_seconds",
	    json_object_new_double(MIG_SECONDS(st->move_us)));
	json_object_object_add(obj, "ddl_seconds",
	    json_object_new_double(MIG_SECONDS(st->ddl_us)));
	if (!ok)
		json_object_object_add(obj, "error",
		    json_object_new_string(mig->err));
#undef ADD_U64
	puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
	json_object_put(obj);
}

/* --dry-run: what a run would do. */
static void
mig_print_plan(const struct mig *mig)
{
	const struct mig_stats	*st = &mig->st;

	printf("dry run: nothing changed\n");
	printf("  would hash %llu clear passwords\n",
	    (unsigned long long)st->to_hash);
	printf("  would move %llu refused rows and %llu duplicate rows (of "
	    "%llu openids) to %s\n", (unsigned long long)st->refused,
	    (unsigned long long)st->duplicate_rows,
	    (unsigned long long)st->duplicate_openids, mig->audit);
	if (mig->first_shape == SHAPE_LEGACY && !mig->first_has_hash)
		printf("  would add password_hash (online)\n");
	if (!mig->first_openid_ok)
		printf("  would convert openid to ascii_bin NOT NULL (a table "
		    "copy: writes wait while it runs)\n");
	if (!mig->first_created_at)
		printf("  would add created_at\n");
	if (!st->unique_index)
		printf("  would build uq_users_openid online "
		    "(ALGORITHM=INPLACE, LOCK=NONE)\n");
	if (mig->first_shape == SHAPE_LEGACY)
		printf("  would drop the clear password column once every row "
		    "has its hash\n");
}

/* The human report. */
static void
mig_print_text(const struct mig *mig, int ok, double seconds)
{
	const struct mig_stats	*st = &mig->st;
	unsigned int		 i;
	char			 idtext[24];

	/* Failed before the table was read: the message says it all. */
	if (!mig->inspected)
		return;
	printf("regonce-migrate: %s.%s, %s\n", mig->cfg.db_name,
	    mig->args.table, mig_shape_name(mig->first_shape));
	printf("  case variants: %llu openids differ from another only by "
	    "case (one user under the old collation); each is kept\n",
	    (unsigned long long)st->case_variants);
	if (mig->args.dry_run) {
		mig_print_plan(mig);
		return;
	}
	printf("  hashed %llu passwords (argon2id m=%u t=%u p=%u); %u "
	    "batches of at most %u rows in all\n",
	    (unsigned long long)st->hashed,
	    mig->cfg.argon2_memory_kib, mig->cfg.argon2_iterations,
	    mig->cfg.argon2_parallelism, st->batches, mig->args.batch);
	printf("  refused openids moved to %s: %llu\n", mig->audit,
	    (unsigned long long)st->refused);
	for (i = 0; i < st->refused_shown; i++)
		printf("    id %s: %s\n", mig_id_text(mig,
		    st->refused_rows[i].id, idtext, sizeof(idtext)),
		    st->refused_rows[i].reason);
	printf("  duplicates: %llu rows of %llu openids merged into the "
	    "earliest row\n", (unsigned long long)st->duplicate_rows,
	    (unsigned long long)st->duplicate_openids);
	if (st->convert_how[0] != '\0')
		printf("  openid -> ascii_bin: %s (%u retries)\n",
		    st->convert_how, st->convert_retries);
	if (st->unique_how[0] != '\0')
		printf("  uq_users_openid built: %s (%u retries)\n",
		    st->unique_how, st->unique_retries);
	if (st->retry_note[0] != '\0')
		printf("  last DDL retry after: %s\n", st->retry_note);
	if (st->accounted)
		printf("  rows: %llu before + %llu arrived meanwhile = %llu "
		    "after + %llu moved to the audit table (%llu there in "
		    "all)\n", (unsigned long long)st->rows_before,
		    (unsigned long long)st->rows_arrived,
		    (unsigned long long)st->rows_after,
		    (unsigned long long)st->audit_rows,
		    (unsigned long long)st->audit_total);
	if (!ok)
		printf("  FAILED: %s\n", mig->err);
	else if (!st->changed)
		printf("  nothing to do: the table is already in regonce's "
		    "shape (%.1f s)\n", seconds);
	else
		printf("  done in %.1f s (hashing %.1f s, moving rows %.1f s, "
		    "ALTERs %.1f s)\n", seconds, MIG_SECONDS(st->hash_us),
		    MIG_SECONDS(st->move_us), MIG_SECONDS(st->ddl_us));
}

int
main(int argc, char *argv[])
{
	struct mig_args	 args;
	struct mig	*mig;
	char		 err[CONFIG_ERR_MAX], lock[DB_LOCK_NAME_MAX];
	int64_t		 start = clock_mono_us();
	int		 ok, rc = 3;

	if (mig_parse_args(argc, argv, &args, err, sizeof(err)) == -1) {
		if (strcmp(err, "help") == 0) {
			mig_usage(stdout);
			return (0);
		}
		if (strcmp(err, "version") == 0) {
			printf("regonce-migrate %s\n", PACKAGE_VERSION);
			return (0);
		}
		fprintf(stderr, "regonce-migrate: %s\n", err);
		mig_usage(stderr);
		return (2);
	}
	if ((mig = calloc(1, sizeof(*mig))) == NULL) {
		fprintf(stderr, "regonce-migrate: out of memory\n");
		return (3);
	}
	mig->args = args;
	log_open("-", LOG_LEVEL_ERROR);
	/* The worker's parser, all keys: argon2_* set the hashing cost. */
	if (config_load(&mig->cfg, mig->args.conf, CONFIG_ALL, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "regonce-migrate: %s\n", err);
		goto out;
	}
	if (mig->cfg.db_timeout_s < MIG_DB_TIMEOUT_S)
		mig->cfg.db_timeout_s = MIG_DB_TIMEOUT_S;
	if (mysql_library_init(0, NULL, NULL) != 0) {
		fprintf(stderr, "regonce-migrate: library init failed\n");
		goto out;
	}
	mig->db = db_new(&mig->cfg);
	if (db_connect(mig->db) != DB_OK) {
		fprintf(stderr, "regonce-migrate: database %s: error %u: %s\n",
		    mig->cfg.db_name, db_errno(mig->db), db_error(mig->db));
		goto out_db;
	}
	ok = mig_session(mig) == 0 && mig_lock(mig, lock, sizeof(lock)) == 0 &&
	    mig_run(mig) == 0;
	if (mig->args.json)
		mig_print_json(mig, ok, MIG_SECONDS(clock_mono_us() - start));
	else
		mig_print_text(mig, ok, MIG_SECONDS(clock_mono_us() - start));
	if (!ok)
		fprintf(stderr, "regonce-migrate: %s.%s: %s%s\n",
		    mig->cfg.db_name, mig->args.table, mig->err,
		    mig->st.changed ? " (what was done is kept: run it again "
		    "to resume)" : "");
	rc = ok ? 0 : mig->refuse ? 4 : 1;
out_db:
	/* The named lock goes with the connection. */
	db_free(mig->db);
	mysql_library_end();
out:
	free(mig->ids_before);
	free(mig);
	return (rc);
}
