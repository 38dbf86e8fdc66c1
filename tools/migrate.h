/*
 * regonce-migrate: adopt an existing users table. migrate.c holds main
 * and the report; migrate_args.c the command line; migrate_sql.c the
 * statement helpers (identifier checks, templates, prepared statements,
 * and the statements several steps share: BEGIN, a table's columns);
 * migrate_hash.c the hashing, migrate_move.c the rows moved to the audit
 * table, migrate_run.c the schema steps and the order of it all.
 */
#ifndef REGONCE_MIGRATE_H
#define REGONCE_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"

#define MIG_AUDIT_SUFFIX	"_migrated_duplicates"
/* The audit table's name must stay within MySQL's 64-character limit. */
#define MIG_TABLE_MAX		(64 - (sizeof(MIG_AUDIT_SUFFIX) - 1))
#define MIG_IDENT_MAX		64
#define MIG_BATCH_DEFAULT	500
#define MIG_BATCH_MAX		100000
#define MIG_ONLINE_TRIES	5
#define MIG_ONLINE_TRIES_MAX	20
#define MIG_COLS_MAX		8192
#define MIG_SQL_MAX		(MIG_COLS_MAX * 2 + 2048)
#define MIG_ERR_MAX		1024
#define MIG_DDL_WAIT_S		10	/* metadata lock wait per DDL, s */
#define MIG_WAYS		2	/* online, then a locked copy */
#define MIG_REFUSED_SHOWN	20	/* refused rows listed by id */

/* Byte-for-byte, as regonce compares openids. */
#define OPENID_BYTES	"CAST(`openid` AS BINARY)"
/* Rows regonce would refuse: no openid, a bad one (openid.c), no password. */
#define REFUSED		"(`openid` IS NULL OR " \
	OPENID_SQL_REFUSED("`openid`") " OR {N})"
#define PHC_REGEXP	"'^[$]argon2id[$]v=19[$]m=[0-9]+,t=[0-9]+,p=[0-9]+" \
	"[$][A-Za-z0-9+/]+[$][A-Za-z0-9+/]+$'"

struct mig_args {
	const char	*conf;
	char		 table[MIG_IDENT_MAX + 1];
	unsigned int	 batch;
	unsigned int	 online_tries;	/* online DDL attempts before locking */
	int		 dry_run;
	int		 json;
};

/* Where the clear passwords are: see doc/migration.md. */
enum mig_shape {
	SHAPE_REGONCE,	/* password_hash only: PHC strings or clear text */
	SHAPE_LEGACY	/* password (clear); password_hash added by us */
};

/* A row kept out of the table because regonce would refuse it. */
struct mig_refused {
	uint64_t	 id;
	const char	*reason;
};

struct mig_stats {
	uint64_t	 rows_before;
	uint64_t	 rows_after;
	uint64_t	 rows_arrived;	/* written by others while we ran */
	uint64_t	 audit_before;
	uint64_t	 audit_rows;	/* moved by this run */
	uint64_t	 audit_total;
	uint64_t	 duplicate_openids;
	uint64_t	 duplicate_rows;
	uint64_t	 case_variants;
	uint64_t	 refused;
	uint64_t	 hashed;
	uint64_t	 to_hash;	/* --dry-run: rows that would be hashed */
	unsigned int	 batches;
	int64_t		 hash_us, move_us, ddl_us;	/* time per phase */
	unsigned int	 unique_retries;
	unsigned int	 convert_retries;
	int		 unique_index;
	int		 changed;
	int		 accounted;	/* every row at start is in one place */
	char		 convert_how[96];	/* "ALGORITHM=COPY, LOCK=SHARED" */
	char		 unique_how[96];
	char		 retry_note[160];	/* why the last DDL retry was */
	struct mig_refused refused_rows[MIG_REFUSED_SHOWN];
	unsigned int	 refused_shown;
};

struct mig {
	struct mig_args	 args;
	struct config	 cfg;
	struct db	*db;
	enum mig_shape	 shape;		/* the table's, as inspected */
	/* As found at start, for the report. */
	int		 inspected;
	enum mig_shape	 first_shape;
	int		 first_has_hash;
	int		 first_openid_ok;
	int		 first_created_at;
	char		 audit[MIG_IDENT_MAX + 1];
	char		 cols[MIG_COLS_MAX];	/* the table's columns, quoted */
	int		 audit_exists;
	int		 has_password;		/* a `password` column */
	int		 has_hash;		/* a `password_hash` column */
	int		 has_created_at;
	int		 audit_has_password;
	int		 on_audit;		/* {X} is the audit table */
	int		 locked;		/* inside LOCK TABLES */
	unsigned int	 way;			/* {W}: see mig_way_name */
	int		 openid_ok;		/* ascii_bin NOT NULL already */
	int		 hash_ok;		/* password_hash ascii_bin NOT NULL */
	/* A signed id column (ids 0 and below happen): ids are kept as
	 * the 64 bits of their int64 and bound as MIG_PARAM_ID. */
	int		 id_signed;
	int		 refuse;		/* exit 4: refused, nothing changed */
	uint64_t	*ids_before;		/* the table's ids at start */
	size_t		 nids_before;
	unsigned int	 err_no;
	char		 err[MIG_ERR_MAX];
	struct mig_stats st;
};

/* One bound parameter. */
enum mig_param_type {
	MIG_PARAM_U64,
	MIG_PARAM_ID,	/* u64 holds an id: signed or not as the column */
	MIG_PARAM_STR,
	MIG_PARAM_NULL
};

struct mig_param {
	enum mig_param_type	 type;
	uint64_t		 u64;
	const char		*str;
	size_t			 len;
	unsigned long		 len_out;	/* filled in by the binder */
};

struct st_mysql_stmt;
struct st_mysql_bind;

/*
 * The files call in one direction only: migrate.c -> migrate_args.c,
 * migrate_run.c; migrate_run.c -> migrate_hash.c, migrate_move.c; and
 * every one of them -> migrate_sql.c, which calls none of them.
 */

/* migrate_args.c */
int		 mig_parse_args(int, char *[], struct mig_args *, char *,
		     size_t);

/* migrate_run.c */
int		 mig_run(struct mig *);

/* migrate_hash.c */
int		 mig_hash(struct mig *, int);

/* migrate_move.c */
int		 mig_audit_ensure(struct mig *);
int		 mig_quarantine(struct mig *);
int		 mig_merge(struct mig *, uint64_t **, size_t *, size_t *);
size_t		 mig_distinct(uint64_t *, size_t);

/* migrate_sql.c */
int		 mig_ident_ok(const char *, size_t);
const char	*mig_way_name(unsigned int);
enum mig_shape	 mig_pw_shape(const struct mig *);
int		 mig_render(const struct mig *, const char *, char *, size_t);
const char	*mig_openid_refusal(const char *, size_t, int);
int		 mig_is_phc(const char *, size_t);
int		 mig_fail(struct mig *, unsigned int, const char *, ...)
		     PRINTFLIKE(3, 4);
struct st_mysql_stmt *mig_prepare(struct mig *, const char *);
int		 mig_execute(struct mig *, struct st_mysql_stmt *,
		     struct mig_param *, unsigned int);
int		 mig_query_rows(struct mig *, struct st_mysql_stmt *,
		     struct mig_param *, unsigned int, struct st_mysql_bind *);
int		 mig_exec(struct mig *, const char *, struct mig_param *,
		     unsigned int, uint64_t *);
int		 mig_value(struct mig *, const char *, struct mig_param *,
		     unsigned int, uint64_t *);
int		 mig_fetched(struct mig *, struct st_mysql_stmt *, int);
int		 mig_done(struct st_mysql_stmt *, int);
int		 mig_ids(struct mig *, const char *, uint64_t **, size_t *);
int		 mig_begin(struct mig *);
int		 mig_columns(struct mig *, const char *, int);
int		 mig_cmp_u64(const void *, const void *);
const char	*mig_id_text(const struct mig *, uint64_t, char *, size_t);

#endif /* REGONCE_MIGRATE_H */
