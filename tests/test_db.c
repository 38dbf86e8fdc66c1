/*
 * Unit tests for the store (fcgi-app/db*.c) at the Connector/C seam: this
 * file defines the mysql_* functions the store calls (the library is not
 * linked), and plays a scripted server behind them. What is checked is
 * the store's own handling of binds and fetches: string lengths, truncated or NULL columns, the
 * GET_LOCK answers, and error numbers turned into enum db_status.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "app.h"

#define FAKE_STMTS	16

/* The scripted server: what the next execute and fetch come to. */
static struct {
	unsigned int	 execute_errno;	/* 0: the statement runs */
	int		 rows;		/* rows the fetches hand out */
	int		 fetch_rc;	/* 1: the fetch itself fails */
	unsigned long long id;		/* column 0 */
	const char	*text;		/* column 1 (find), NULL: SQL NULL */
	size_t		 text_len;
	long long	 number;	/* GET_LOCK/RELEASE_LOCK's column */
	int		 number_null;
	int		 freed;		/* mysql_stmt_free_result calls */
	/* A two-statement text query: its SQL, each statement's error,
	 * and the value of the lock function among them. */
	char		 query[256];
	unsigned int	 first_errno;
	unsigned int	 second_errno;
	const char	*lock_value;	/* NULL: SQL NULL */
	unsigned int	 store_errno;	/* the lock's result fails to come */
	int		 no_row;	/* the lock's result has no row */
	unsigned int	 conn_errno;	/* what mysql_errno says */
	MYSQL_BIND	 params[4];	/* the last execute's parameters */
	unsigned long	 param_lens[4];
	/* The compound statement's row: (number, id, text); its columns,
	 * and what reading the answer after the row comes to. */
	int		 compound;
	unsigned int	 field_count;
	int		 next_rc;	/* -1: no more; 1: it fails */
	int		 next_calls;
} srv;

static MYSQL		 fake_conn;
static MYSQL_STMT	 fake_stmt[FAKE_STMTS];
static int		 nstmts;
static MYSQL_BIND	*bound_result[FAKE_STMTS];
static MYSQL_BIND	*bound_param[FAKE_STMTS];
static unsigned int	 stmt_errno[FAKE_STMTS];

static int
stmt_index(MYSQL_STMT *stmt)
{
	return ((int)(stmt - fake_stmt));
}

/* --- the library, as db.c sees it ----------------------------------- */

MYSQL *
mysql_init(MYSQL *mysql)
{
	(void)mysql;
	return (&fake_conn);
}

int
mysql_optionsv(MYSQL *mysql, enum mysql_option option, ...)
{
	(void)mysql;
	(void)option;
	return (0);
}

/*
 * db.c drives every waiting call through the non-blocking API: each
 * _start here finishes at once (returns 0), so no _cont is ever due.
 */
int
mysql_real_connect_start(MYSQL **ret, MYSQL *mysql, const char *host,
    const char *user, const char *passwd, const char *db, unsigned int port,
    const char *unix_socket, unsigned long clientflag)
{
	(void)host; (void)user; (void)passwd; (void)db; (void)port;
	(void)unix_socket; (void)clientflag;
	*ret = mysql;
	return (0);
}

/* A _cont is never due: each _start above has finished. */
static int
fake_cont(void)
{
	fail_msg("a non-blocking call was continued, but none was waiting");
	return (0);
}

int
mysql_real_query_start(int *ret, MYSQL *mysql, const char *q,
    unsigned long length)
{
	(void)mysql;
	/* Only a lock query (alone or with its transaction statement) is
	 * scripted; the rest succeed. */
	srv.conn_errno = 0;
	if (memmem(q, length, "_LOCK(", 6) != NULL) {
		snprintf(srv.query, sizeof(srv.query), "%.*s", (int)length, q);
		srv.conn_errno = srv.first_errno;
	}
	*ret = srv.conn_errno != 0;
	return (0);
}

int
mysql_next_result_start(int *ret, MYSQL *mysql)
{
	(void)mysql;
	srv.conn_errno = srv.second_errno;
	*ret = srv.second_errno != 0;
	return (0);
}

int
mysql_next_result_cont(int *ret, MYSQL *mysql, int status)
{
	(void)ret; (void)mysql; (void)status;
	return (fake_cont());
}

static MYSQL_RES	fake_res;
static char		*fake_row[1];

int
mysql_store_result_start(MYSQL_RES **ret, MYSQL *mysql)
{
	(void)mysql;
	srv.conn_errno = srv.store_errno;
	*ret = srv.store_errno != 0 ? NULL : &fake_res;
	return (0);
}

int
mysql_store_result_cont(MYSQL_RES **ret, MYSQL *mysql, int status)
{
	(void)ret; (void)mysql; (void)status;
	return (fake_cont());
}

MYSQL_ROW
mysql_fetch_row(MYSQL_RES *res)
{
	(void)res;
	if (srv.no_row)
		return (NULL);
	fake_row[0] = (char *)srv.lock_value;
	return (fake_row);
}

void
mysql_free_result(MYSQL_RES *res)
{
	(void)res;
	srv.freed++;
}


int
mysql_real_connect_cont(MYSQL **ret, MYSQL *mysql, int status)
{
	(void)ret; (void)mysql; (void)status;
	return (fake_cont());
}

int
mysql_real_query_cont(int *ret, MYSQL *mysql, int status)
{
	(void)ret; (void)mysql; (void)status;
	return (fake_cont());
}

int
mysql_stmt_prepare_cont(int *ret, MYSQL_STMT *stmt, int status)
{
	(void)ret; (void)stmt; (void)status;
	return (fake_cont());
}

int
mysql_stmt_execute_cont(int *ret, MYSQL_STMT *stmt, int status)
{
	(void)ret; (void)stmt; (void)status;
	return (fake_cont());
}

int
mysql_stmt_fetch_cont(int *ret, MYSQL_STMT *stmt, int status)
{
	(void)ret; (void)stmt; (void)status;
	return (fake_cont());
}

int
mysql_stmt_free_result_cont(my_bool *ret, MYSQL_STMT *stmt, int status)
{
	(void)ret; (void)stmt; (void)status;
	return (fake_cont());
}

int
mysql_ping_cont(int *ret, MYSQL *mysql, int status)
{
	(void)ret; (void)mysql; (void)status;
	return (fake_cont());
}

my_socket
mysql_get_socket(MYSQL *mysql)
{
	(void)mysql;
	return (-1);
}

unsigned int
mysql_get_timeout_value_ms(const MYSQL *mysql)
{
	(void)mysql;
	return (0);
}

unsigned int
mysql_errno(MYSQL *mysql)
{
	(void)mysql;
	return (srv.conn_errno);
}

const char *
mysql_error(MYSQL *mysql)
{
	(void)mysql;
	return ("");
}

unsigned long
mysql_thread_id(MYSQL *mysql)
{
	(void)mysql;
	return (1);
}

int
mysql_ping_start(int *ret, MYSQL *mysql)
{
	(void)mysql;
	*ret = 0;
	return (0);
}

void
mysql_close(MYSQL *mysql)
{
	(void)mysql;
}

MYSQL_STMT *
mysql_stmt_init(MYSQL *mysql)
{
	(void)mysql;
	assert_true(nstmts < FAKE_STMTS);
	return (&fake_stmt[nstmts++]);
}

int
mysql_stmt_prepare_start(int *ret, MYSQL_STMT *stmt, const char *q,
    unsigned long length)
{
	(void)stmt; (void)q; (void)length;
	*ret = 0;
	return (0);
}

my_bool
mysql_stmt_bind_param(MYSQL_STMT *stmt, MYSQL_BIND *bind)
{
	bound_param[stmt_index(stmt)] = bind;
	return (0);
}

int
mysql_stmt_execute_start(int *ret, MYSQL_STMT *stmt)
{
	MYSQL_BIND	*bind = bound_param[stmt_index(stmt)];
	int		 i;

	/* Keep what db.c bound, as the server would have received it. */
	for (i = 0; i < 4 && bind != NULL && bind[i].buffer_type ==
	    MYSQL_TYPE_STRING; i++) {
		srv.params[i] = bind[i];
		srv.param_lens[i] = *bind[i].length;
	}
	stmt_errno[stmt_index(stmt)] = srv.execute_errno;
	*ret = srv.execute_errno != 0;
	return (0);
}

my_bool
mysql_stmt_bind_result(MYSQL_STMT *stmt, MYSQL_BIND *bind)
{
	bound_result[stmt_index(stmt)] = bind;
	return (0);
}

/* Copy a string column the way Connector/C does: length is the whole. */
static int
fake_fetch_string(MYSQL_BIND *bind, const char *text, size_t len)
{
	size_t	n = len < bind->buffer_length ? len : bind->buffer_length;

	*bind->is_null = text == NULL;
	*bind->length = (unsigned long)len;
	if (text != NULL)
		memcpy(bind->buffer, text, n);
	return (text != NULL && len > bind->buffer_length);
}

static int
fake_fetch(MYSQL_STMT *stmt)
{
	MYSQL_BIND	*bind = bound_result[stmt_index(stmt)];
	int		 truncated = 0;

	if (srv.fetch_rc == 1) {
		stmt_errno[stmt_index(stmt)] = CR_SERVER_LOST;
		return (1);
	}
	if (srv.rows-- <= 0)
		return (MYSQL_NO_DATA);
	if (srv.compound) {
		*(long long *)bind[0].buffer = srv.number;
		*(unsigned long long *)bind[1].buffer = srv.id;
		truncated = fake_fetch_string(&bind[2], srv.text, srv.text_len);
		return (truncated ? MYSQL_DATA_TRUNCATED : 0);
	}
	if (bind[0].buffer_type == MYSQL_TYPE_LONGLONG && bind[0].is_null) {
		/* SELECT GET_LOCK(...) / RELEASE_LOCK(...) */
		*(long long *)bind[0].buffer = srv.number;
		*bind[0].is_null = srv.number_null;
		return (0);
	}
	*(unsigned long long *)bind[0].buffer = srv.id;
	truncated = fake_fetch_string(&bind[1], srv.text, srv.text_len);
	return (truncated ? MYSQL_DATA_TRUNCATED : 0);
}

int
mysql_stmt_fetch_start(int *ret, MYSQL_STMT *stmt)
{
	*ret = fake_fetch(stmt);
	return (0);
}

int
mysql_stmt_free_result_start(my_bool *ret, MYSQL_STMT *stmt)
{
	(void)stmt;
	srv.freed++;
	srv.rows = 0;
	*ret = 0;
	return (0);
}

unsigned int
mysql_stmt_field_count(MYSQL_STMT *stmt)
{
	(void)stmt;
	return (srv.field_count);
}

int
mysql_stmt_next_result_start(int *ret, MYSQL_STMT *stmt)
{
	srv.next_calls++;
	if (srv.next_rc > 0)
		stmt_errno[stmt_index(stmt)] = CR_SERVER_LOST;
	*ret = srv.next_rc;
	return (0);
}

int
mysql_stmt_next_result_cont(int *ret, MYSQL_STMT *stmt, int status)
{
	(void)ret; (void)stmt; (void)status;
	return (fake_cont());
}

my_bool
mysql_stmt_close(MYSQL_STMT *stmt)
{
	(void)stmt;
	return (0);
}

unsigned int
mysql_stmt_errno(MYSQL_STMT *stmt)
{
	return (stmt_errno[stmt_index(stmt)]);
}

const char *
mysql_stmt_error(MYSQL_STMT *stmt)
{
	(void)stmt;
	return ("scripted error");
}

my_ulonglong
mysql_stmt_affected_rows(MYSQL_STMT *stmt)
{
	(void)stmt;
	return (0);
}

my_ulonglong
mysql_stmt_insert_id(MYSQL_STMT *stmt)
{
	(void)stmt;
	return (42);
}

/* --- fixtures -------------------------------------------------------- */

static struct config	 cfg;
static struct db	*db;

static int
setup(void **state)
{
	(void)state;
	memset(&srv, 0, sizeof(srv));
	memset(stmt_errno, 0, sizeof(stmt_errno));
	nstmts = 0;
	config_defaults(&cfg);
	log_open("-", LOG_LEVEL_ERROR);
	db = db_new(&cfg);
	assert_int_equal(db_connect(db), DB_OK);
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	db_free(db);
	return (0);
}

/* Script one row of (id, text) for the next fetch. */
static void
row(unsigned long long id, const char *text, size_t len)
{
	srv.rows = 1;
	srv.id = id;
	srv.text = text;
	srv.text_len = len;
}

/* --- db_find_user ---------------------------------------------------- */

/* The fetched hash ends at the length the server sent, not at a NUL. */
static void
test_find_terminates_by_length(void **state)
{
	struct db_user	user;
	int		found;

	(void)state;
	row(7, "$argon2id$abcXXXX", 13);
	assert_int_equal(db_find_user(db, "o", 1, 0, &user, &found), DB_OK);
	assert_int_equal(found, 1);
	assert_int_equal(user.id, 7);
	assert_string_equal(user.password_hash, "$argon2id$abc");
	assert_true(srv.freed > 0);
}

/* A hash that fills the buffer exactly, or overflows it, matches nothing. */
static void
test_find_too_long_is_no_hash(void **state)
{
	static char	long_hash[PW_HASH_MAX + 10];
	struct db_user	user;
	int		found;

	(void)state;
	memset(long_hash, 'h', sizeof(long_hash));
	row(8, long_hash, PW_HASH_MAX);
	assert_int_equal(db_find_user(db, "o", 1, 0, &user, &found), DB_OK);
	assert_int_equal(found, 1);
	assert_string_equal(user.password_hash, "");
	row(8, long_hash, sizeof(long_hash));
	assert_int_equal(db_find_user(db, "o", 1, 1, &user, &found), DB_OK);
	assert_int_equal(found, 1);
	assert_string_equal(user.password_hash, "");
}

/* A NULL hash (the original table allows it) is a row with no hash. */
static void
test_find_null_hash(void **state)
{
	struct db_user	user;
	int		found;

	(void)state;
	row(9, NULL, 0);
	assert_int_equal(db_find_user(db, "o", 1, 0, &user, &found), DB_OK);
	assert_int_equal(found, 1);
	assert_string_equal(user.password_hash, "");
}

/* No row: not found, and the openid went out with its exact length. */
static void
test_find_absent(void **state)
{
	struct db_user	user;
	int		found = 1;

	(void)state;
	assert_int_equal(db_find_user(db, "a\0b", 3, 0, &user, &found),
	    DB_OK);
	assert_int_equal(found, 0);
	assert_int_equal(srv.param_lens[0], 3);
	assert_memory_equal(srv.params[0].buffer, "a\0b", 3);
}

/* A fetch that loses the connection is DB_LOST, and the handle is shut. */
static void
test_find_fetch_lost(void **state)
{
	struct db_user	user;
	int		found;

	(void)state;
	srv.fetch_rc = 1;
	assert_int_equal(db_find_user(db, "o", 1, 0, &user, &found), DB_LOST);
	assert_int_equal(found, 0);
	assert_int_equal(db_errno(db), CR_SERVER_LOST);
	assert_false(db_connected(db));
}

/* --- db_insert_user -------------------------------------------------- */

static void
test_insert_binds_lengths(void **state)
{
	uint64_t	id = 0;

	(void)state;
	assert_int_equal(db_insert_user(db, "oid", 3, "\xe5\xbc\xa0", 3,
	    "$argon2id$h", &id), DB_OK);
	assert_int_equal(id, 42);
	assert_int_equal(srv.param_lens[0], 3);
	assert_int_equal(srv.param_lens[1], 3);
	assert_int_equal(srv.param_lens[2], strlen("$argon2id$h"));
	assert_int_equal(srv.params[2].buffer_length, strlen("$argon2id$h"));
}

/* Error numbers come back as what the caller must do. */
static void
test_insert_errors(void **state)
{
	uint64_t	id;

	(void)state;
	srv.execute_errno = ER_DUP_ENTRY;
	assert_int_equal(db_insert_user(db, "o", 1, "u", 1, "h", &id),
	    DB_DUPLICATE);
	srv.execute_errno = ER_LOCK_DEADLOCK;
	assert_int_equal(db_insert_user(db, "o", 1, "u", 1, "h", &id),
	    DB_RETRY);
	assert_true(db_connected(db));
	srv.execute_errno = ER_NO_SUCH_TABLE;
	assert_int_equal(db_insert_user(db, "o", 1, "u", 1, "h", &id),
	    DB_ERROR);
	srv.execute_errno = CR_SERVER_GONE_ERROR;
	assert_int_equal(db_insert_user(db, "o", 1, "u", 1, "h", &id),
	    DB_LOST);
	assert_false(db_connected(db));
	/* Closed stays closed: no call reaches a dead handle. */
	srv.execute_errno = 0;
	assert_int_equal(db_insert_user(db, "o", 1, "u", 1, "h", &id),
	    DB_LOST);
}

/* --- GET_LOCK / RELEASE_LOCK ----------------------------------------- */

/*
 * A lock alone: one text query holding only the name and the wait; its
 * answer is 1, 0 or NULL.
 */
static void
test_lock_answers(void **state)
{
	enum db_lock_answer	answer;

	(void)state;
	srv.lock_value = "1";
	assert_int_equal(db_get_lock(db, "regonce:x", 3000, DB_TXN_NONE,
	    &answer), DB_OK);
	assert_int_equal(answer, LOCK_ONE);
	assert_string_equal(srv.query, "SELECT GET_LOCK('regonce:x', 3.000)");
	srv.lock_value = "0";
	assert_int_equal(db_get_lock(db, "regonce:x", 0, DB_TXN_NONE,
	    &answer), DB_OK);
	assert_int_equal(answer, LOCK_ZERO);
	assert_string_equal(srv.query, "SELECT GET_LOCK('regonce:x', 0.000)");
	srv.lock_value = NULL;
	assert_int_equal(db_get_lock(db, "regonce:x", 3000, DB_TXN_NONE,
	    &answer), DB_OK);
	assert_int_equal(answer, LOCK_NULL);
	srv.lock_value = "1";
	assert_int_equal(db_release_lock(db, DB_TXN_NONE, "regonce:x",
	    &answer), DB_OK);
	assert_int_equal(answer, LOCK_ONE);
	assert_string_equal(srv.query, "SELECT RELEASE_LOCK('regonce:x')");
	assert_int_equal(srv.next_calls, 0);
	assert_string_equal(db_lock_answer_name(LOCK_NULL), "null");
}

/*
 * 1235 (ER_NOT_SUPPORTED_YET, Galera with MDEV-30473) is the answer
 * "refused", not a failure; the connection stays and the number is kept.
 */
static void
test_lock_refused(void **state)
{
	enum db_lock_answer	answer;

	(void)state;
	srv.first_errno = ER_NOT_SUPPORTED_YET;
	assert_int_equal(db_get_lock(db, "regonce:x", 3000, DB_TXN_NONE,
	    &answer), DB_OK);
	assert_int_equal(answer, LOCK_REFUSED);
	assert_int_equal(db_errno(db), ER_NOT_SUPPORTED_YET);
	assert_true(db_connected(db));
	assert_string_equal(db_lock_answer_name(LOCK_REFUSED), "refused");
	/* Any other error stays an error. */
	srv.first_errno = ER_NO_SUCH_TABLE;
	assert_int_equal(db_get_lock(db, "regonce:x", 3000, DB_TXN_NONE,
	    &answer), DB_ERROR);
	assert_int_equal(answer, LOCK_FAILED);
}

/*
 * wsrep_on is read at connect: 1 is a Galera node, 0 or no row is not.
 * A Galera node that is not ready (1047) is a lost connection: retry.
 */
static void
test_wsrep_detected(void **state)
{
	(void)state;
	assert_false(db_wsrep(db));
	/* Each connect takes its statements from the fake's pool again. */
	nstmts = 0;
	srv.rows = 1, srv.number = 1;
	assert_int_equal(db_connect(db), DB_OK);
	assert_true(db_wsrep(db));
	nstmts = 0;
	srv.rows = 1, srv.number = 0;
	assert_int_equal(db_connect(db), DB_OK);
	assert_false(db_wsrep(db));
	assert_int_equal(db_classify(ER_UNKNOWN_COM_ERROR), DB_LOST);
	assert_int_equal(db_classify(ER_LOCK_DEADLOCK), DB_RETRY);
	/* read_only (a failover): nothing written, retry later. */
	assert_int_equal(db_classify(ER_OPTION_PREVENTS_STATEMENT),
	    DB_READ_ONLY);
}

/*
 * No row, or a failed call, is never mistaken for an answer. A release
 * whose answer did not come ends the session (named locks are
 * re-entrant: one left held would count up); 0 or NULL keep it.
 */
static void
test_lock_failures(void **state)
{
	enum db_lock_answer	answer;

	(void)state;
	srv.no_row = 1;
	assert_int_equal(db_get_lock(db, "regonce:x", 3000, DB_TXN_NONE,
	    &answer), DB_LOST);
	assert_int_equal(answer, LOCK_FAILED);
	assert_false(db_connected(db));
	srv.no_row = 0;
	nstmts = 0;
	assert_int_equal(db_connect(db), DB_OK);
	srv.lock_value = "0";
	assert_int_equal(db_release_lock(db, DB_TXN_NONE, "regonce:x",
	    &answer), DB_OK);
	assert_int_equal(answer, LOCK_ZERO);
	assert_true(db_connected(db));
	srv.first_errno = ER_NO_SUCH_TABLE;
	assert_int_equal(db_release_lock(db, DB_TXN_NONE, "regonce:x",
	    &answer), DB_ERROR);
	assert_int_equal(answer, LOCK_FAILED);
	assert_false(db_connected(db));
	/* A release never begins a transaction. */
	nstmts = 0;
	assert_int_equal(db_connect(db), DB_OK);
	srv.first_errno = 0;
	srv.query[0] = '\0';
	assert_int_equal(db_release_lock(db, DB_TXN_BEGIN, "regonce:x",
	    &answer), DB_ERROR);
	assert_string_equal(srv.query, "");
}

/*
 * A lock name is the prefix and 48 hex digits of the SHA-256 of
 * "<database>/<table>/" and the exact bytes: case and NUL count, the
 * database and table count, every length fits, a short buffer is refused.
 */
static void
test_lock_name(void **state)
{
	char	name[DB_LOCK_NAME_MAX], other[DB_LOCK_NAME_MAX];
	char	long_openid[256];

	(void)state;
	assert_int_equal(db_lock_name(db, "regonce:", "users", "abc", 3, name,
	    sizeof(name)), 0);
	/* sha256sum of "regonce/users/abc" (db_name is regonce). */
	assert_string_equal(name, "regonce:49d77e2208e62d65d82ae6800d746062"
	    "f607188ecb06f5a8");
	db_lock_name(db, "regonce:", "users", "oAbC", 4, name, sizeof(name));
	db_lock_name(db, "regonce:", "users", "oabc", 4, other, sizeof(other));
	assert_string_not_equal(name, other);
	db_lock_name(db, "regonce:", "users", "a\0b", 3, name, sizeof(name));
	db_lock_name(db, "regonce:", "users", "a", 1, other, sizeof(other));
	assert_string_not_equal(name, other);
	/* Another table, another database: another lock. */
	db_lock_name(db, "regonce:", "users", "abc", 3, name, sizeof(name));
	db_lock_name(db, "regonce:", "users2", "abc", 3, other, sizeof(other));
	assert_string_not_equal(name, other);
	snprintf(cfg.db_name, sizeof(cfg.db_name), "regonce_staging");
	db_lock_name(db, "regonce:", "users", "abc", 3, other, sizeof(other));
	assert_string_not_equal(name, other);
	memset(long_openid, 'x', sizeof(long_openid));
	assert_int_equal(db_lock_name(db, "regonce:", "users", long_openid,
	    255, name, sizeof(name)), 0);
	assert_int_equal(strlen(name), strlen("regonce:") + DB_LOCK_HEX);
	assert_int_equal(db_lock_name(db, "regonce:", "users", "abc", 3, name,
	    10), -1);
}

/* --- the paired round trips ------------------------------------------ */

/*
 * GET_LOCK + START TRANSACTION travel as one text query holding only the
 * lock name and the timeout; the lock's answer is the first result.
 */
static void
test_begin_locked(void **state)
{
	enum db_lock_answer	answer;

	(void)state;
	srv.lock_value = "1";
	assert_int_equal(db_get_lock(db, "regonce:0a1b", 2500, DB_TXN_BEGIN,
	    &answer), DB_OK);
	assert_int_equal(answer, LOCK_ONE);
	assert_string_equal(srv.query,
	    "SELECT GET_LOCK('regonce:0a1b', 2.500); START TRANSACTION");
	srv.lock_value = "0";
	assert_int_equal(db_get_lock(db, "regonce:0a1b", 1, DB_TXN_BEGIN,
	    &answer), DB_OK);
	assert_int_equal(answer, LOCK_ZERO);
	assert_string_equal(srv.query,
	    "SELECT GET_LOCK('regonce:0a1b', 0.001); START TRANSACTION");
	srv.lock_value = NULL;
	assert_int_equal(db_get_lock(db, "regonce:0a1b", 1000, DB_TXN_BEGIN,
	    &answer), DB_OK);
	assert_int_equal(answer, LOCK_NULL);
}

/*
 * A failed GET_LOCK runs nothing after it; 1235 is "refused" and the
 * transaction is begun on its own; a failed START TRANSACTION keeps the
 * lock's answer, so the caller knows to release it.
 */
static void
test_begin_locked_failures(void **state)
{
	enum db_lock_answer	answer;

	(void)state;
	srv.first_errno = ER_LOCK_DEADLOCK;
	assert_int_equal(db_get_lock(db, "regonce:ab", 1000, DB_TXN_BEGIN,
	    &answer), DB_RETRY);
	assert_int_equal(answer, LOCK_FAILED);
	srv.first_errno = ER_NOT_SUPPORTED_YET;
	assert_int_equal(db_get_lock(db, "regonce:ab", 1000, DB_TXN_BEGIN,
	    &answer), DB_OK);
	assert_int_equal(answer, LOCK_REFUSED);
	srv.first_errno = 0;
	srv.lock_value = "1";
	srv.second_errno = ER_NO_SUCH_TABLE;
	assert_int_equal(db_get_lock(db, "regonce:ab", 1000, DB_TXN_BEGIN,
	    &answer), DB_ERROR);
	assert_int_equal(answer, LOCK_ONE);
	srv.second_errno = CR_SERVER_LOST;
	assert_int_equal(db_get_lock(db, "regonce:ab", 1000, DB_TXN_BEGIN,
	    &answer), DB_LOST);
	assert_false(db_connected(db));
}

/*
 * On a Galera node each statement of a pair goes alone (a COMMIT that
 * lost certification was seen answered OK inside a pair).
 */
static void
test_pairs_split_on_galera(void **state)
{
	enum db_lock_answer	answer;

	(void)state;
	nstmts = 0;
	srv.rows = 1, srv.number = 1;	/* wsrep_on = 1 */
	assert_int_equal(db_connect(db), DB_OK);
	assert_true(db_wsrep(db));
	srv.query[0] = '\0';
	srv.lock_value = "1";
	assert_int_equal(db_get_lock(db, "regonce:ab", 1000, DB_TXN_BEGIN,
	    &answer), DB_OK);
	assert_int_equal(answer, LOCK_ONE);
	/* GET_LOCK went alone; START TRANSACTION followed on its own. */
	assert_string_equal(srv.query, "SELECT GET_LOCK('regonce:ab', 1.000)");
	assert_int_equal(db_release_lock(db, DB_TXN_COMMIT, "regonce:ab",
	    &answer), DB_OK);
	assert_int_equal(answer, LOCK_ONE);
	/* So did RELEASE_LOCK, after the COMMIT. */
	assert_string_equal(srv.query, "SELECT RELEASE_LOCK('regonce:ab')");
}

/*
 * A lock answer that does not come whole leaves the pair's other answer
 * unread: the connection is dropped (DB_LOST), never left out of sync. A
 * server error there ends the query and keeps the connection.
 */
static void
test_lock_answer_missing(void **state)
{
	enum db_lock_answer	answer;

	(void)state;
	srv.no_row = 1;
	assert_int_equal(db_get_lock(db, "regonce:ab", 1000, DB_TXN_BEGIN,
	    &answer), DB_LOST);
	assert_false(db_connected(db));
	srv.no_row = 0;
	nstmts = 0;
	assert_int_equal(db_connect(db), DB_OK);
	srv.store_errno = CR_OUT_OF_MEMORY;
	assert_int_equal(db_get_lock(db, "regonce:ab", 1000, DB_TXN_BEGIN,
	    &answer), DB_LOST);
	assert_false(db_connected(db));
	nstmts = 0;
	srv.store_errno = 0;
	assert_int_equal(db_connect(db), DB_OK);
	srv.store_errno = ER_LOCK_DEADLOCK;
	assert_int_equal(db_get_lock(db, "regonce:ab", 1000, DB_TXN_BEGIN,
	    &answer), DB_RETRY);
	assert_true(db_connected(db));
}

/* Nothing but a digest's hex digits reaches the SQL text. */
static void
test_lock_name_checked(void **state)
{
	enum db_lock_answer	answer;

	(void)state;
	srv.query[0] = '\0';
	assert_int_equal(db_get_lock(db, "x'); DROP TABLE users; --",
	    1000, DB_TXN_BEGIN, &answer), DB_ERROR);
	assert_int_equal(db_release_lock(db, DB_TXN_COMMIT, "regonce:AB",
	    &answer), DB_ERROR);
	assert_int_equal(db_release_lock(db, DB_TXN_NONE, "regonce:a b",
	    &answer), DB_ERROR);
	assert_string_equal(srv.query, "");
}

/*
 * COMMIT + RELEASE_LOCK: the COMMIT's status is what counts; a failed
 * COMMIT leaves the release undone (the caller rolls back and releases).
 */
static void
test_end_unlocked(void **state)
{
	enum db_lock_answer	released;

	(void)state;
	srv.lock_value = "1";
	assert_int_equal(db_release_lock(db, DB_TXN_COMMIT, "regonce:ab",
	    &released), DB_OK);
	assert_int_equal(released, LOCK_ONE);
	assert_string_equal(srv.query,
	    "COMMIT; SELECT RELEASE_LOCK('regonce:ab')");
	assert_int_equal(db_release_lock(db, DB_TXN_ROLLBACK, "regonce:ab",
	    &released), DB_OK);
	assert_string_equal(srv.query,
	    "ROLLBACK; SELECT RELEASE_LOCK('regonce:ab')");
	srv.first_errno = ER_LOCK_DEADLOCK;
	assert_int_equal(db_release_lock(db, DB_TXN_COMMIT, "regonce:ab",
	    &released), DB_RETRY);
	assert_int_equal(released, LOCK_NOT_ASKED);
	assert_true(db_connected(db));
	/* A failed ROLLBACK would leave the lock held: the session ends. */
	assert_int_equal(db_release_lock(db, DB_TXN_ROLLBACK, "regonce:ab",
	    &released), DB_RETRY);
	assert_false(db_connected(db));
	nstmts = 0;
	srv.first_errno = 0;
	assert_int_equal(db_connect(db), DB_OK);
	/* Committed, but the release failed: the session is ended. */
	srv.first_errno = 0;
	srv.second_errno = ER_NO_SUCH_TABLE;
	assert_int_equal(db_release_lock(db, DB_TXN_COMMIT, "regonce:ab",
	    &released), DB_OK);
	assert_int_equal(released, LOCK_FAILED);
	assert_false(db_connected(db));
	nstmts = 0;
	srv.second_errno = 0;
	assert_int_equal(db_connect(db), DB_OK);
	/* Committed, then the connection went: still committed. */
	srv.first_errno = 0;
	srv.second_errno = CR_SERVER_LOST;
	assert_int_equal(db_release_lock(db, DB_TXN_COMMIT, "regonce:ab",
	    &released), DB_OK);
	assert_int_equal(released, LOCK_FAILED);
	assert_false(db_connected(db));
}

/* --- named_lock_compound's two round trips ------------------------- */

/* Script a compound statement's answer row: (what, id, hash). */
static void
compound_row(long long what, unsigned long long id, const char *hash)
{
	srv.compound = 1;
	srv.field_count = 3;
	srv.next_rc = -1;
	srv.rows = 1;
	srv.number = what;
	srv.id = id;
	srv.text = hash;
	srv.text_len = hash != NULL ? strlen(hash) : 0;
}

static enum db_status
look_call(enum db_lock_answer *answer, struct db_user *user, int *found)
{
	return (db_lock_look(db, "regonce:ab", 3000, "o", 1, answer, user,
	    found));
}

static enum db_status
register_call(struct db_user *user)
{
	return (db_register_compound(db, "regonce:ab", "o", 1, "u", 1,
	    "$argon2id$h", user));
}

/* Each answer row means what it says; the statement's end is read. */
static void
test_compound_answers(void **state)
{
	static const struct {
		long long		what;
		enum db_lock_answer	answer;
		int			found;
	} rows[] = {
		{ 0, LOCK_ONE, 0 },		/* absent: lock and txn open */
		{ 1, LOCK_ONE, 1 },		/* found under the lock */
		{ 2, LOCK_ZERO, 0 },
		{ 3, LOCK_NULL, 0 },
		{ 4, LOCK_NOT_ASKED, 1 }	/* found by the pre-check */
	};
	enum db_lock_answer	answer;
	struct db_user		user;
	int			found;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		compound_row(rows[i].what, rows[i].found ? 7 : 0,
		    rows[i].found ? "$argon2id$old" : NULL);
		assert_int_equal(look_call(&answer, &user, &found), DB_OK);
		assert_int_equal(answer, rows[i].answer);
		assert_int_equal(found, rows[i].found);
		if (found) {
			assert_int_equal(user.id, 7);
			assert_string_equal(user.password_hash,
			    "$argon2id$old");
		}
	}
	/* The lock name travels as a bound parameter, by its length. */
	assert_int_equal(srv.param_lens[0], strlen("regonce:ab"));
	compound_row(0, 99, NULL);
	srv.next_calls = 0;
	assert_int_equal(register_call(&user), DB_OK);
	assert_int_equal(user.id, 99);
	assert_int_equal(srv.next_calls, 1);
	assert_true(db_connected(db));
}

/* The server's errors come back as they are: 1062, 1213, a lost link. */
static void
test_compound_errors(void **state)
{
	struct db_user		user;

	(void)state;
	srv.execute_errno = ER_DUP_ENTRY;
	assert_int_equal(register_call(&user), DB_DUPLICATE);
	srv.execute_errno = ER_LOCK_DEADLOCK;
	assert_int_equal(register_call(&user), DB_RETRY);
	assert_true(db_connected(db));
	srv.execute_errno = CR_SERVER_LOST;
	assert_int_equal(register_call(&user), DB_LOST);
	assert_false(db_connected(db));
}

/*
 * An answer that is not the one row (no row, other columns, a failed
 * fetch) leaves the session out of step: it is dropped, and the outcome
 * is unknown. When the row came but the statement's end did not, the
 * row is the answer (the block had run to its end) and the session is
 * dropped; but "absent, the lock is yours" is then false (the lock went
 * with the session): DB_LOST.
 */
static void
test_compound_answer_broken(void **state)
{
	enum db_lock_answer	answer;
	struct db_user		user;
	int			found;
	int			i;

	(void)state;
	for (i = 0; i < 6; i++) {
		nstmts = 0;
		srv.execute_errno = 0;
		srv.compound = 0;
		srv.rows = 0;
		assert_int_equal(db_connect(db), DB_OK);
		compound_row(i == 4 ? 1 : 0, 99, i == 4 ? "$argon2id$old" :
		    NULL);
		if (i == 0)
			srv.rows = 0;
		else if (i == 1)
			srv.field_count = 2;
		else if (i == 2)
			srv.fetch_rc = 1;
		else
			srv.next_rc = 1;
		if (i < 3)
			assert_int_equal(register_call(&user), DB_LOST);
		else if (i == 3)
			assert_int_equal(look_call(&answer, &user, &found),
			    DB_LOST);
		else if (i == 4) {
			assert_int_equal(look_call(&answer, &user, &found),
			    DB_OK);
			assert_true(found);
		} else {
			assert_int_equal(register_call(&user), DB_OK);
			assert_int_equal(user.id, 99);
		}
		assert_false(db_connected(db));
		srv.fetch_rc = 0;
	}
}

/*
 * A killed statement (KILL QUERY 1317, max_statement_time 1969) or a
 * fatal error skips the block's handler: the transaction may be open
 * and the lock held, the COMMIT done or not. The session is ended (the
 * server then rolls back and releases) and the status is DB_LOST, so
 * the caller finds out from a new one; the error number stays.
 */
static void
test_compound_killed(void **state)
{
	static const unsigned int	killed[] = { ER_QUERY_INTERRUPTED,
					    ER_STATEMENT_TIMEOUT,
					    ER_OUTOFMEMORY };
	enum db_lock_answer		answer;
	struct db_user			user;
	int				found;
	size_t				i;

	(void)state;
	for (i = 0; i < sizeof(killed) / sizeof(killed[0]); i++) {
		nstmts = 0;
		srv.execute_errno = 0;
		assert_int_equal(db_connect(db), DB_OK);
		srv.execute_errno = killed[i];
		assert_int_equal(i % 2 ? look_call(&answer, &user, &found) :
		    register_call(&user), DB_LOST);
		assert_false(db_connected(db));
		assert_int_equal(db_errno(db), killed[i]);
	}
	/* Control: an error the handler saw keeps the session. */
	nstmts = 0;
	srv.execute_errno = 0;
	assert_int_equal(db_connect(db), DB_OK);
	srv.execute_errno = ER_LOCK_WAIT_TIMEOUT;
	assert_int_equal(register_call(&user), DB_RETRY);
	assert_true(db_connected(db));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_find_terminates_by_length),
		T(test_find_too_long_is_no_hash),
		T(test_find_null_hash),
		T(test_find_absent),
		T(test_find_fetch_lost),
		T(test_insert_binds_lengths),
		T(test_insert_errors),
		T(test_lock_answers),
		T(test_lock_failures),
		T(test_lock_refused),
		T(test_wsrep_detected),
		T(test_begin_locked),
		T(test_begin_locked_failures),
		T(test_lock_name_checked),
		T(test_lock_name),
		T(test_end_unlocked),
		T(test_pairs_split_on_galera),
		T(test_lock_answer_missing),
		T(test_compound_answers),
		T(test_compound_errors),
		T(test_compound_answer_broken),
		T(test_compound_killed),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
