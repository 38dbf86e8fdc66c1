/*
 * regonce: internal interfaces, one heading per file.
 * Layers call only downward: entry -> web -> logic -> store -> support.
 */
#ifndef REGONCE_APP_H
#define REGONCE_APP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define PRINTFLIKE(fmt, args) __attribute__((__format__(printf, fmt, args)))

/* config.c */

enum reg_strategy {
	STRATEGY_NAMED_LOCK,	/* GET_LOCK + SELECT ... FOR UPDATE + INSERT */
	STRATEGY_UNIQUE,	/* INSERT, the UNIQUE index answers duplicates */
	STRATEGY_NAMED_LOCK_COMPOUND,	/* named_lock in two MariaDB compound
					 * statements */
	STRATEGY_AUTO,		/* the compound where the server can, else
				 * named_lock: the default */
#ifdef REGONCE_TEST_BUILD
	STRATEGY_NAIVE,		/* the original bug: tests/regonce-test only */
#endif
};

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Idempotency-Key: ignored, honoured when sent, or demanded. */
enum idem_mode { IDEM_MODE_OFF, IDEM_MODE_OPTIONAL, IDEM_MODE_REQUIRED };

struct config {
	char		 db_socket[PATH_MAX];
	char		 db_host[256];
	unsigned int	 db_port;
	char		 db_user[128];
	char		 db_password[256];
	char		 db_name[65];
	unsigned int	 db_connect_timeout_s;
	unsigned int	 db_timeout_s;
	enum reg_strategy strategy;
	unsigned int	 lock_timeout_ms;
	unsigned int	 request_timeout_ms;	/* from arrival to answer */
	unsigned int	 web_timeout_s;		/* the web server's, for checks */
	unsigned int	 retry_max;
	unsigned int	 max_body_bytes;
	unsigned int	 argon2_memory_kib;
	unsigned int	 argon2_iterations;
	unsigned int	 argon2_parallelism;
	unsigned int	 password_min_length;
	char		 hash_cap_dir[PATH_MAX];	/* "": hashes not capped */
	char		 base_path[128];
	enum log_level	 log_level;
	char		 log_file[PATH_MAX];
	enum idem_mode	 idempotency;
	unsigned int	 idempotency_ttl_s;
	unsigned int	 idempotency_max_keys;	/* unexpired stored answers */
	char		 fingerprint_key_file[PATH_MAX];	/* HMAC key */
	char		 metrics_file[PATH_MAX];	/* "": metrics off */
	unsigned int	 fcgi_read_timeout_ms;	/* a stalled web server */
	char		 metrics_allow[512];	/* addresses/CIDRs (addr_allow.c) */
	unsigned int	 db_max_connections;	/* 0: no pool-wide cap */
	char		 db_cap_dir[PATH_MAX];	/* the cap's slot files */
	unsigned int	 db_idle_release_ms;	/* 0: keep the connection */
	int		 db_password_readable;	/* 1: others may read the file */
#ifdef REGONCE_TEST_BUILD
	/* Negative controls, in tests/regonce-test only (tests/hooks.h). */
	int		 db_repeatable_read;
	unsigned int	 naive_delay_ms;
#endif
};

#define CONFIG_ENV_PREFIX	"REGONCE_"
#define CONFIG_ERR_MAX		512

/* Which keys of the file config_load reads; the environment: all. */
enum config_scope {
	CONFIG_ALL,	/* the worker, regonce-migrate, dbbench */
	CONFIG_DB_ONLY	/* regonce-replay: db_* only, the rest unread */
};

void		 config_defaults(struct config *);
int		 config_set(struct config *, const char *, const char *, char *,
		     size_t);
int		 config_load(struct config *, const char *, enum config_scope,
		     char *, size_t);
int		 config_check(const struct config *, char *, size_t);
const char	*config_strategy_name(enum reg_strategy);

/* config_find.c */

int		 config_find(char *, size_t);
void		 config_rebase(struct config *, const char *);
const char	*config_exe_dir(char *, size_t);

/* addr_allow.c */

int		 addr_list_check(const char *, char *, size_t);
int		 addr_allowed(const char *, const char *);

/* log.c */

void		 log_open(const char *, enum log_level);
void		 log_reopen(void);
void		 log_set_request(unsigned long);
size_t		 log_escape(char *, size_t, const char *, size_t);
void		 log_error(const char *, ...) PRINTFLIKE(1, 2);
void		 log_warn(const char *, ...) PRINTFLIKE(1, 2);
void		 log_info(const char *, ...) PRINTFLIKE(1, 2);
void		 log_debug(const char *, ...) PRINTFLIKE(1, 2);
void		 fatalx(const char *, ...) PRINTFLIKE(1, 2)
		     __attribute__((__noreturn__));

/* deadline.c */

#define DEADLINE_NONE	0

int64_t		 clock_mono_us(void);
int64_t		 deadline_at(int64_t, unsigned int);
int64_t		 deadline_left_ms(int64_t);

/* slot_file.c */

int		 slot_file_open(const char *, const char *);
int		 slot_file_lock(int, int64_t);

/* hash_cap.c */

unsigned int	 hash_cap_slots(void);
int		 hash_cap_take(const struct config *, int64_t);
void		 hash_cap_give(void);

/* utf8.c */

size_t		 utf8_char(const unsigned char *, size_t, unsigned int *);
int		 utf8_valid(const char *, size_t);
int		 utf8_clean(const char *, size_t);

/* openid.c */

#define OPENID_MAX	255	/* bytes; a bare number, for OPENID_MAX_TEXT */
#define OPENID_TEXT_(n)	#n
#define OPENID_TEXT(n)	OPENID_TEXT_(n)
#define OPENID_MAX_TEXT	OPENID_TEXT(OPENID_MAX)	/* "255" */

enum openid_fault { OPENID_FINE, OPENID_EMPTY, OPENID_TOO_LONG,
	OPENID_BAD_BYTE };

enum openid_fault openid_check(const char *, size_t);
const char	*openid_refusal(const char *, size_t);

/*
 * openid_check in SQL, over a column given as a string literal
 * ("`openid`"): true where the C form refuses the bytes, NULL for NULL.
 * LENGTH counts bytes; the REGEXP runs over the bytes, not the collation.
 */
#define OPENID_SQL_REFUSED(col)	"(LENGTH(" col ") = 0 OR LENGTH(" col \
	") > " OPENID_MAX_TEXT " OR CAST(" col " AS BINARY) REGEXP '[^!-~]')"

/* password.c */

#define PW_HASH_MAX	192	/* fits any argon2id PHC string our limits allow */

int		 pw_hash(const struct config *, const char *, size_t, char *,
		     size_t, const char **);
void		 pw_wipe(void *, size_t);

/* The store: db.c, db_io.c and one file per family of statements. */

/* What a database call came to: all the logic layer needs to decide. */
enum db_status {
	DB_OK,
	DB_DUPLICATE,	/* ER_DUP_ENTRY: the UNIQUE index refused the row */
	DB_RETRY,	/* deadlock or lock wait timeout: the transaction is gone */
	DB_LOST,	/* connection gone: reconnect, start over */
	DB_READ_ONLY,	/* the server takes no writes now (read_only, as in a
			 * failover): nothing was written; retry later */
	DB_ERROR	/* anything else: a bug or a broken schema */
};

struct db;

/* db.c: the connection */

struct db	*db_new(const struct config *);
void		 db_want_compound(struct db *, int);
int		 db_compound_ready(struct db *);
void		 db_free(struct db *);
enum db_status	 db_connect(struct db *);
enum db_status	 db_reconnect(struct db *);
enum db_status	 db_ping(struct db *);
int		 db_wsrep(struct db *);

/* db_cap.c: the connection cap, idle release, "too many connections" */

int		 db_cap_acquire(const struct config *, int64_t);
void		 db_cap_release(void);
int		 db_cap_backoff(int64_t, unsigned int);
int		 db_cap_refused(unsigned int);
void		 db_idle(struct db *, int);

/* db_io.c: the non-blocking engine, errors, transactions */

enum db_status	 db_classify(unsigned int);
const char	*db_refusal(unsigned int);
void		 db_set_deadline(struct db *, int64_t);
int		 db_connected(struct db *);
unsigned int	 db_errno(struct db *);
const char	*db_error(struct db *);
enum db_status	 db_begin(struct db *);
enum db_status	 db_commit(struct db *);
enum db_status	 db_rollback(struct db *);
struct st_mysql	*db_handle(struct db *);	/* tools only; NULL if down */

/* db_users.c */

struct db_user {
	uint64_t	 id;
	char		 password_hash[PW_HASH_MAX];
};

enum db_status	 db_find_user(struct db *, const char *, size_t, int,
		     struct db_user *, int *);
enum db_status	 db_insert_user(struct db *, const char *, size_t,
		     const char *, size_t, const char *, uint64_t *);

/* db_lock.c */

/* What GET_LOCK or RELEASE_LOCK answered. */
enum db_lock_answer {
	LOCK_NOT_ASKED,	/* the call was not made */
	LOCK_FAILED,	/* the call failed: see the enum db_status */
	LOCK_ONE,	/* 1: taken / released */
	LOCK_ZERO,	/* 0: timed out / held by another session */
	LOCK_NULL,	/* NULL: an error such as a killed query / no such lock */
	LOCK_REFUSED	/* 1235: the server does not do named locks (Galera) */
};

/* The transaction statement that shares a lock call's round trip. */
enum db_txn { DB_TXN_NONE, DB_TXN_BEGIN, DB_TXN_COMMIT, DB_TXN_ROLLBACK };

#define DB_LOCK_HEX		48	/* 192 bits of SHA-256 */
#define DB_LOCK_NAME_MAX	64	/* MySQL's limit, in characters */

int		 db_lock_name(struct db *, const char *, const char *,
		     const void *, size_t, char *, size_t);
enum db_status	 db_get_lock(struct db *, const char *, unsigned int,
		     enum db_txn, enum db_lock_answer *);
enum db_status	 db_release_lock(struct db *, enum db_txn, const char *,
		     enum db_lock_answer *);
const char	*db_lock_answer_name(enum db_lock_answer);

/* db_compound.c */

enum db_status	 db_lock_look(struct db *, const char *, unsigned int,
		     const char *, size_t, enum db_lock_answer *,
		     struct db_user *, int *);
enum db_status	 db_register_compound(struct db *, const char *,
		     const char *, size_t, const char *, size_t, const char *,
		     struct db_user *);

/* db_idem.c */

#define DB_HASH_BYTES	32	/* SHA-256 */
#define DB_IDEM_BODY_MAX 1024	/* = idempotency_keys.body's size */

/* An answer stored under an Idempotency-Key. */
struct db_idem {
	unsigned char	 fingerprint[DB_HASH_BYTES];
	unsigned int	 status;
	char		 body[DB_IDEM_BODY_MAX];
	size_t		 body_len;
};

enum db_status	 db_idem_prepare(struct db *);
enum db_status	 db_idem_find(struct db *, const unsigned char *,
		     struct db_idem *, int *);
enum db_status	 db_idem_store(struct db *, const unsigned char *,
		     const struct db_idem *, int, unsigned int);
enum db_status	 db_idem_purge(struct db *, unsigned int, unsigned long *);
enum db_status	 db_idem_live(struct db *, unsigned int, unsigned int *);

/* register.c */

enum reg_result {
	REG_CREATED,
	REG_EXISTS,
	REG_INVALID,		/* a field broke a rule: see field and reason */
	REG_BUSY,		/* the named lock was not ours in time */
	REG_DB_UNAVAILABLE,	/* no database connection; nothing written */
	REG_OUTCOME_UNKNOWN,	/* COMMIT sent, answer lost: may have landed */
	REG_EXPIRED,		/* the time budget ran out; nothing written */
	REG_REPLAYED,		/* the key's stored answer, in out->stored */
	REG_KEY_IN_USE,		/* a request with this key is running */
	REG_KEY_REUSED,		/* the key was used with another body */
	REG_KEY_STORAGE_FULL,	/* idempotency_max_keys answers are stored */
	REG_INTERNAL		/* unexpected: logged with the DB error */
};

struct reg_input {
	const char	*openid;
	size_t		 openid_len;
	const char	*username;
	size_t		 username_len;
	const char	*password;
	size_t		 password_len;
};

struct reg_outcome {
	enum reg_result	 result;
	uint64_t	 user_id;	/* REG_CREATED only */
	const char	*field;		/* REG_INVALID only */
	const char	*reason;	/* human-readable, never user data */
	unsigned int	 attempts;
	struct db_idem	 stored;	/* REG_REPLAYED only */
};

/* A request's Idempotency-Key, as the web layer hands it down. */
struct reg_idem {
	unsigned char	 key_hash[DB_HASH_BYTES];	/* SHA-256 of the key */
	unsigned char	 fingerprint[DB_HASH_BYTES];	/* method, path, body */
	/* The answer the web layer gives an outcome: status, body bytes. */
	int		(*render)(const struct reg_outcome *, struct db_idem *);
};

#define REG_LOCK_PREFIX		"regonce:"
#define REG_USERNAME_MAX	255
#define REG_PASSWORD_MAX	1024

struct db	*reg_store_new(const struct config *);
enum reg_strategy reg_strategy_in_use(struct db *, const struct config *);
void		 reg_user(struct db *, const struct config *,
		     const struct reg_input *, const struct reg_idem *, int64_t,
		     struct reg_outcome *);

/* validate.c */

int		 reg_validate(const struct config *, const struct reg_input *,
		     const char **, const char **);
const char	*reg_result_name(enum reg_result);

/* idempotency.c */

enum idem_verdict {
	IDEM_NEW,	/* no answer stored: run, and store it */
	IDEM_EXPIRED,	/* one past its expires_at: run, and replace it */
	IDEM_REPLAY,	/* same fingerprint: answer what is stored */
	IDEM_REUSED,	/* another fingerprint: refuse */
	IDEM_IN_USE,	/* a request with this key holds its lock */
	IDEM_FULL	/* no room for another answer: refuse, store nothing */
};

/* A keyed request's hold on its key, from idem_begin to idem_end. */
struct idem_hold {
	char		 lock[DB_LOCK_NAME_MAX];	/* the key's named lock */
	int		 locked;	/* it is ours */
	int		 expired;	/* its old answer is past TTL: replace */
};

enum db_status	 idem_begin(struct db *, const struct config *,
		     const struct reg_idem *, struct idem_hold *,
		     enum idem_verdict *, struct reg_outcome *);
enum db_status	 idem_save(struct db *, const struct config *,
		     const struct reg_idem *, const struct reg_outcome *, int);
enum db_status	 idem_end(struct db *, const struct config *,
		     const struct reg_idem *, const struct idem_hold *,
		     const struct reg_outcome *);
void		 idem_purge(struct db *, const struct config *);
void		 idem_full_forget(void);

/* response.c */

/* Every answer regonce gives: one row each in response.c's table. */
enum resp_kind {
	RESP_CREATED,
	RESP_EXISTS,
	RESP_INVALID_JSON,
	RESP_INVALID_FIELD,
	RESP_BODY_TOO_LARGE,
	RESP_UNSUPPORTED_MEDIA,
	RESP_METHOD_NOT_ALLOWED,
	RESP_NOT_FOUND,
	RESP_BUSY,
	RESP_DB_UNAVAILABLE,
	RESP_OUTCOME_UNKNOWN,
	RESP_EXPIRED,
	RESP_KEY_INVALID,
	RESP_KEY_REQUIRED,
	RESP_KEY_IN_USE,
	RESP_KEY_REUSED,
	RESP_KEY_STORAGE_FULL,
	RESP_INTERNAL,
	RESP_HEALTH_OK,
	RESP_HEALTH_DOWN,
	RESP_FORBIDDEN,		/* /metrics from outside metrics_allow */
	RESP_NOT_CONFIGURED,	/* no usable configuration (config_find.c) */
	RESP__COUNT
};

struct resp_detail {
	uint64_t	 user_id;	/* RESP_CREATED */
	const char	*field;		/* RESP_INVALID_FIELD */
	const char	*message;	/* overrides the table's message */
	const char	*allow;		/* RESP_METHOD_NOT_ALLOWED */
	const struct db_idem *replay;	/* a stored answer, sent as it is */
};

enum resp_kind	 resp_kind_of(enum reg_result);
const char	*resp_name(enum resp_kind);
int		 resp_status(enum resp_kind);
char		*resp_build(enum resp_kind, const struct resp_detail *, size_t *);
int		 resp_render(enum resp_kind, const struct resp_detail *,
		     unsigned int *, char *, size_t, size_t *);
char		*resp_replay(unsigned int, const char *, size_t, size_t *);
char		*resp_metrics(const char *, size_t, size_t *);

/* request.c */

struct json_object;
struct FCGX_Request;

void		 req_handle(struct FCGX_Request *, struct db *,
		     const struct config *);

/* request_head.c */

enum req_route { ROUTE_NONE, ROUTE_REGISTER, ROUTE_HEALTHZ, ROUTE_METRICS };

/* The FastCGI params the checks before the body read look at. */
struct req_head {
	const char	*method;
	const char	*uri;
	const char	*content_type;
	const char	*content_length;
};

void		 req_read_head(struct FCGX_Request *, struct req_head *,
		     int64_t *);
enum req_route	 req_route(const char *, const char *);
int		 req_content_length(const char *, size_t, size_t *);
int		 req_is_json(const char *);
int64_t		 req_arrival_ms(const char *);
int		 req_check_head(const struct config *, const struct req_head *,
		     enum req_route *, size_t *, enum resp_kind *,
		     struct resp_detail *);

/* request_body.c */

int		 req_read_body(struct FCGX_Request *, char *, size_t);
int		 req_parse_body(const char *, size_t, struct reg_input *,
		     struct json_object **, enum resp_kind *,
		     struct resp_detail *);
void		 req_wipe_password(struct json_object *);

/* request_key.c */

#define REQ_KEY_MAX	255	/* Idempotency-Key characters */
int		 req_key_header(char **, const char **);
int		 req_idem_key(const char *, char *, size_t *);
int		 req_key_hash(const char *, unsigned char *);
#define REQ_FP_KEY_MIN	32	/* bytes: HMAC-SHA-256's own size */
#define REQ_FP_KEY_MAX	1024

int		 req_fingerprint_key_set(const void *, size_t);
int		 req_fingerprint_key_load(const char *, char *, size_t);
/* request_key_make.c */
int		 req_fingerprint_key_make(const char *, char *, size_t);
int		 req_fingerprint(const struct req_head *, const char *, size_t,
		     unsigned char *);

/* request_answer.c */

void		 req_detail_of(const struct reg_outcome *,
		     struct resp_detail *);
int		 req_render(const struct reg_outcome *, struct db_idem *);
int		 req_send(struct FCGX_Request *, enum resp_kind,
		     const struct resp_detail *);
int		 req_metrics(struct FCGX_Request *);
void		 req_count(enum req_route, enum resp_kind,
		     const struct resp_detail *, int, int64_t);

/* config.c: regonce -T */

void		 config_dump(const struct config *, FILE *);

/* metrics.c */

/* The pool-wide counters (those with labels are listed by family). */
enum metric {
	METRIC_REG_CREATED,	/* registrations_total{outcome} */
	METRIC_REG_EXISTS,
	METRIC_IDEM_REPLAYS,
	METRIC_LOCK_WAITS,	/* GET_LOCK calls for an openid */
	METRIC_LOCK_WAIT_US,	/* time in them */
	METRIC_LOCK_BUSY,	/* GET_LOCK answered 0 */
	METRIC_RETRIES,
	METRIC_DB_DUPLICATE,	/* db_errors_total{class}: db_classify's */
	METRIC_DB_RETRY,
	METRIC_DB_LOST,
	METRIC_DB_ERROR,
	METRIC_DB_ROUND_TRIPS,
	METRIC_PASSWORD_HASHES,	/* argon2 hashes begun */
	METRIC__COUNT
};

#define METRICS_SLOTS	128	/* workers counted each in a slot of its own */
#define METRICS_RESULTS	32	/* request results the web layer may name */
#define METRICS_BUCKETS	11	/* latency buckets below +Inf */

/* A request result index's labels, as the web layer names it. */
struct metrics_result {
	const char	*name;
	const char	*code;
};

int		 metrics_open(const char *);
void		 metrics_close(void);
int		 metrics_on(void);
int		 metrics_slot(void);
void		 metrics_add(enum metric, uint64_t);
void		 metrics_count(enum metric);
void		 metrics_lock_waited(int64_t);
void		 metrics_db_error(enum db_status);
void		 metrics_request(unsigned int, int64_t);
char		*metrics_render(const struct metrics_result *, size_t,
		     size_t *);

#endif /* REGONCE_APP_H */
