/*
 * The store: one MariaDB connection per worker process, its prepared
 * statements, and the mapping of MySQL error numbers to enum db_status.
 * MYSQL_OPT_RECONNECT is never set: a silent reconnect would drop our
 * transaction and our GET_LOCK lock without telling us. On DB_LOST the
 * caller reconnects explicitly and starts the registration over.
 *
 * Every call that waits on the server goes through Connector/C's
 * non-blocking API, so that db_wait() can cut the wait to the request's
 * deadline: MYSQL_OPT_READ_TIMEOUT is fixed at connect time, a deadline
 * is not. A wait that reaches the deadline shuts the socket down, the
 * call ends with CR_SERVER_LOST, and the connection is closed.
 */
#include "config.h"

#include <sys/socket.h>

#include <errmsg.h>
#include <errno.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#ifndef ER_USER_LOCK_DEADLOCK
#define ER_USER_LOCK_DEADLOCK	3058	/* MySQL 5.7+; MariaDB says 1213 */
#endif

enum db_stmt_id {
	STMT_FIND,
	STMT_FIND_FOR_UPDATE,
	STMT_INSERT,
	STMT_GET_LOCK,
	STMT_RELEASE_LOCK,
	/* Idempotency-Key: prepared on first use, so a worker whose database
	 * lacks sql/002_idempotency_keys.sql still serves requests without. */
	STMT_IDEM_FIND,
	STMT_IDEM_EXPIRE,
	STMT_IDEM_STORE,
	STMT_IDEM_PURGE,
	/* named_lock_compound: prepared at connect when it is the strategy. */
	STMT_REGISTER,
	STMT__COUNT
};

#define STMT__EAGER	STMT_IDEM_FIND	/* prepared at connect: those before */

static const char *const db_stmt_sql[STMT__COUNT] = {
	[STMT_FIND] =
	    "SELECT id, password_hash FROM users WHERE openid = ?",
	[STMT_FIND_FOR_UPDATE] =
	    "SELECT id, password_hash FROM users WHERE openid = ? FOR UPDATE",
	[STMT_INSERT] =
	    "INSERT INTO users (openid, username, password_hash) "
	    "VALUES (?, ?, ?)",
	[STMT_GET_LOCK] = "SELECT GET_LOCK(?, ?)",
	[STMT_RELEASE_LOCK] = "SELECT RELEASE_LOCK(?)",
	[STMT_IDEM_FIND] =
	    "SELECT fingerprint, status, body, "
	    "created_at < NOW() - INTERVAL ? SECOND "
	    "FROM idempotency_keys WHERE key_hash = ?",
	[STMT_IDEM_EXPIRE] =
	    "DELETE FROM idempotency_keys WHERE key_hash = ? "
	    "AND created_at < NOW() - INTERVAL ? SECOND",
	[STMT_IDEM_STORE] =
	    "INSERT INTO idempotency_keys (key_hash, fingerprint, status, body) "
	    "VALUES (?, ?, ?, ?)",
	[STMT_IDEM_PURGE] =
	    "DELETE FROM idempotency_keys "
	    "WHERE created_at < NOW() - INTERVAL ? SECOND LIMIT ?",
	/*
	 * named_lock's sequence as one MariaDB compound statement: the server
	 * runs it all on one execution, one round trip. Parameters: the lock
	 * name, the lock wait (s), the openid (twice), username, hash. The
	 * answer is one row: what happened (0 inserted, 1 found: the row's
	 * id and hash, 2 GET_LOCK said 0, 3 it said NULL), then the id.
	 * On an SQL error the handler rolls back, releases the lock, and
	 * the error reaches the client unchanged (1062, 1213, ...); a
	 * killed statement may skip it (db_register_compound). LIMIT 1: a
	 * table without the UNIQUE index may already hold two rows.
	 */
	[STMT_REGISTER] =
	    "BEGIN NOT ATOMIC "
	    "DECLARE v_lock VARCHAR(64) CHARACTER SET ascii DEFAULT ?; "
	    "DECLARE v_got INT; "
	    "DECLARE v_id BIGINT UNSIGNED; "
	    "DECLARE v_hash VARCHAR(255) CHARACTER SET ascii; "
	    "DECLARE EXIT HANDLER FOR SQLEXCEPTION "
	    "BEGIN ROLLBACK; DO RELEASE_LOCK(v_lock); RESIGNAL; END; "
	    "SET v_got = GET_LOCK(v_lock, ?); "
	    "IF v_got IS NULL THEN SELECT 3, NULL, NULL; "
	    "ELSEIF v_got = 0 THEN SELECT 2, NULL, NULL; "
	    "ELSE "
	    "START TRANSACTION; "
	    "SELECT id, password_hash INTO v_id, v_hash FROM users "
	    "WHERE openid = ? LIMIT 1 FOR UPDATE; "
	    "IF v_id IS NULL THEN "
	    "INSERT INTO users (openid, username, password_hash) "
	    "VALUES (?, ?, ?); "
	    "SET v_id = LAST_INSERT_ID(); "
	    "COMMIT; DO RELEASE_LOCK(v_lock); SELECT 0, v_id, NULL; "
	    "ELSE "
	    "ROLLBACK; DO RELEASE_LOCK(v_lock); SELECT 1, v_id, v_hash; "
	    "END IF; "
	    "END IF; "
	    "END",
};

struct db {
	const struct config	*cfg;
	MYSQL			*conn;
	MYSQL_STMT		*stmt[STMT__COUNT];
	int			 wsrep;		/* the server is a Galera node */
	int64_t			 deadline;	/* DEADLINE_NONE: none */
	int			 deadline_hit;	/* the last call ran out */
	unsigned int		 last_errno;
	char			 last_error[256];
	const char		*second;	/* Galera: b of a pair, unsent */
};

/*
 * Run one non-blocking Connector/C call to its end: "start" begins it,
 * "cont" (which may use "ready", the events that occurred) continues it
 * after each wait.
 */
#define DB_RUN(db, start, cont) do {					\
	int ready;							\
	for (ready = (start); ready != 0; ready = (cont))		\
		ready = db_wait((db), ready);				\
} while (0)

/* Map a MySQL/MariaDB error number to what the caller must do about it. */
enum db_status
db_classify(unsigned int err)
{
	switch (err) {
	case 0:
		return (DB_OK);
	case ER_DUP_ENTRY:
	case ER_DUP_ENTRY_WITH_KEY_NAME:
		return (DB_DUPLICATE);
	case ER_LOCK_DEADLOCK:
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_USER_LOCK_DEADLOCK:
	case ER_QUERY_INTERRUPTED:
		return (DB_RETRY);
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	/* Answers left unread (db_read_lock_row): the session is unusable. */
	case CR_COMMANDS_OUT_OF_SYNC:
	/* A Galera node out of the primary component, or still joining:
	 * "WSREP has not yet prepared node for application use". */
	case ER_UNKNOWN_COM_ERROR:
	case ER_CONNECTION_KILLED:
	case ER_SERVER_SHUTDOWN:
	case ER_CON_COUNT_ERROR:
	case 4031:	/* ER_CLIENT_INTERACTION_TIMEOUT (MariaDB 10.3+) */
		return (DB_LOST);
	default:
		return (DB_ERROR);
	}
}

static void	db_disconnect(struct db *);
static enum db_status	db_prepare_late(struct db *, enum db_stmt_id);

/*
 * Wait for what a non-blocking call asked for, no longer than the
 * library's own timeout (db_timeout_s, db_connect_timeout_s) nor the
 * request's deadline. Returns the events that occurred, for its _cont.
 */
static int
db_wait(struct db *db, int status)
{
	struct pollfd	pfd;
	int64_t		left = deadline_left_ms(db->deadline);
	int		timeout = -1, ours = 0, rc, ready = 0;

	pfd.fd = mysql_get_socket(db->conn);
	pfd.events = (short)((status & MYSQL_WAIT_READ ? POLLIN : 0) |
	    (status & MYSQL_WAIT_WRITE ? POLLOUT : 0) |
	    (status & MYSQL_WAIT_EXCEPT ? POLLPRI : 0));
	if (status & MYSQL_WAIT_TIMEOUT)
		timeout = (int)mysql_get_timeout_value_ms(db->conn);
	if (left < INT64_MAX && (timeout < 0 || left < timeout)) {
		timeout = left > 0 ? (int)left : 0;
		ours = 1;
	}
	while ((rc = poll(&pfd, 1, timeout)) == -1 && errno == EINTR)
		continue;
	if (rc > 0) {
		if (pfd.revents & (POLLIN | POLLERR | POLLHUP))
			ready |= MYSQL_WAIT_READ;
		if (pfd.revents & (POLLOUT | POLLERR | POLLHUP))
			ready |= MYSQL_WAIT_WRITE;
		if (pfd.revents & POLLPRI)
			ready |= MYSQL_WAIT_EXCEPT;
		return (ready & status);
	}
	if (rc == 0 && ours) {
		/* The budget is spent: end the call now, with an error. */
		db->deadline_hit = 1;
		shutdown(pfd.fd, SHUT_RDWR);
		return (status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE |
		    MYSQL_WAIT_EXCEPT));
	}
	return (MYSQL_WAIT_TIMEOUT);
}

/* The request's deadline for the calls that follow (DEADLINE_NONE: none). */
void
db_set_deadline(struct db *db, int64_t deadline)
{
	db->deadline = deadline;
}

/* Remember the last error; a lost connection is closed for good. */
static enum db_status
db_fail(struct db *db, unsigned int err, const char *text)
{
	enum db_status	st = db_classify(err);

	if (db->deadline_hit) {
		/* Whatever the library made of the shut socket. */
		err = CR_SERVER_LOST;
		text = "the request's time budget ran out waiting for the "
		    "database";
		st = DB_LOST;
	}
	db->deadline_hit = 0;
	metrics_db_error(st);
	db->last_errno = err;
	strncpy(db->last_error, text, sizeof(db->last_error) - 1);
	db->last_error[sizeof(db->last_error) - 1] = '\0';
	/* After 2006/2013 the handle is dead: say so to the next caller. */
	if (st == DB_LOST)
		db_disconnect(db);
	return (st);
}

/* Is there a connection to use? */
int
db_connected(struct db *db)
{
	return (db->conn != NULL);
}

/* The connection's error as a status. */
static enum db_status
db_conn_fail(struct db *db)
{
	return (db_fail(db, mysql_errno(db->conn), mysql_error(db->conn)));
}

/* A statement's error as a status. */
static enum db_status
db_stmt_fail(struct db *db, MYSQL_STMT *stmt)
{
	return (db_fail(db, mysql_stmt_errno(stmt), mysql_stmt_error(stmt)));
}

/* Errno of the last failed call, 0 if none. */
unsigned int
db_errno(struct db *db)
{
	return (db->last_errno);
}

/* Text of the last failed call. */
const char *
db_error(struct db *db)
{
	return (db->last_error);
}

/* A handle for cfg, not yet connected. */
struct db *
db_new(const struct config *cfg)
{
	struct db	*db;

	if ((db = calloc(1, sizeof(*db))) == NULL)
		fatalx("db_new: out of memory");
	db->cfg = cfg;
	return (db);
}

/* Close statements and the connection; the handle can connect again. */
static void
db_disconnect(struct db *db)
{
	int	i;

	db->second = NULL;
	for (i = 0; i < STMT__COUNT; i++) {
		if (db->stmt[i] != NULL)
			mysql_stmt_close(db->stmt[i]);
		db->stmt[i] = NULL;
	}
	if (db->conn != NULL)
		mysql_close(db->conn);
	db->conn = NULL;
}

/* Close and free a handle. */
void
db_free(struct db *db)
{
	if (db == NULL)
		return;
	db_disconnect(db);
	free(db);
}

/* Bind one input string parameter. */
static void
db_bind_string(MYSQL_BIND *bind, const char *value, size_t len,
    unsigned long *lenp)
{
	*lenp = (unsigned long)len;
	bind->buffer_type = MYSQL_TYPE_STRING;
	bind->buffer = (void *)(uintptr_t)value;
	bind->buffer_length = (unsigned long)len;
	bind->length = lenp;
}

#define DB_SET_WAIT	"SET SESSION innodb_lock_wait_timeout = ?"

/* Send one text query and read its (first) answer. */
static enum db_status
db_send(struct db *db, const char *sql, size_t len)
{
	int	rc;

	if (db->conn == NULL)
		return (db_fail(db, CR_SERVER_GONE_ERROR, "not connected"));
	metrics_count(METRIC_DB_ROUND_TRIPS);
	DB_RUN(db, mysql_real_query_start(&rc, db->conn, sql, len),
	    mysql_real_query_cont(&rc, db->conn, ready));
	return (rc != 0 ? db_conn_fail(db) : DB_OK);
}

/* Run a statement that carries no data. */
static enum db_status
db_query(struct db *db, const char *sql)
{
	return (db_send(db, sql, strlen(sql)));
}

/* Prepare a statement, within the deadline. */
static int
db_prepare(struct db *db, MYSQL_STMT *stmt, const char *sql)
{
	int	rc;

	DB_RUN(db, mysql_stmt_prepare_start(&rc, stmt, sql, strlen(sql)),
	    mysql_stmt_prepare_cont(&rc, stmt, ready));
	return (rc);
}

/* Execute a prepared statement whose parameters are bound. */
static int
db_stmt_execute(struct db *db, MYSQL_STMT *stmt)
{
	int	rc;

	metrics_count(METRIC_DB_ROUND_TRIPS);
	DB_RUN(db, mysql_stmt_execute_start(&rc, stmt),
	    mysql_stmt_execute_cont(&rc, stmt, ready));
	return (rc);
}

/* Fetch the next row of a statement's result. */
static int
db_fetch(struct db *db, MYSQL_STMT *stmt)
{
	int	rc;

	DB_RUN(db, mysql_stmt_fetch_start(&rc, stmt),
	    mysql_stmt_fetch_cont(&rc, stmt, ready));
	return (rc);
}

/* Read and drop what is left of a result (a table without the index). */
static void
db_free_result(struct db *db, MYSQL_STMT *stmt)
{
	my_bool	rc;

	DB_RUN(db, mysql_stmt_free_result_start(&rc, stmt),
	    mysql_stmt_free_result_cont(&rc, stmt, ready));
}

/*
 * Is the server a Galera node with replication on? A plain MariaDB says
 * OFF; MySQL has no such variable and fails the statement: that is OFF
 * too. Only a lost connection is an error.
 */
static enum db_status
db_detect_wsrep(struct db *db)
{
	MYSQL_STMT	*stmt;
	MYSQL_BIND	 result;
	long long	 on = 0;
	my_bool		 is_null = 0;
	enum db_status	 st = DB_OK;

	db->wsrep = 0;
	if ((stmt = mysql_stmt_init(db->conn)) == NULL)
		return (db_conn_fail(db));
	memset(&result, 0, sizeof(result));
	result.buffer_type = MYSQL_TYPE_LONGLONG;
	result.buffer = &on;
	result.is_null = &is_null;
	if (db_prepare(db, stmt, "SELECT @@wsrep_on") != 0 ||
	    db_stmt_execute(db, stmt) != 0 ||
	    mysql_stmt_bind_result(stmt, &result) != 0) {
		if (db_classify(mysql_stmt_errno(stmt)) == DB_LOST ||
		    db->deadline_hit)
			st = db_stmt_fail(db, stmt);
	} else {
		if (db_fetch(db, stmt) == 0 && !is_null && on == 1)
			db->wsrep = 1;
		db_free_result(db, stmt);
	}
	mysql_stmt_close(stmt);
	return (st);
}

/* Say which guarantee is in force, at start-up and whenever it changes. */
static void
db_log_guarantee(const struct db *db)
{
	static int	logged = -1;

	if (logged == db->wsrep)
		return;
	logged = db->wsrep;
	if (db->wsrep) {
		log_info("guarantee: Galera node (wsrep_on=ON): GET_LOCK is "
		    "local to this node; across nodes the UNIQUE index on "
		    "openid and certification decide (the COMMIT that loses "
		    "fails with 1213 and is retried), reads are causal "
		    "(wsrep_sync_wait=1)");
		if (db->cfg->strategy == STRATEGY_NAMED_LOCK_COMPOUND)
			log_info("strategy named_lock_compound runs as "
			    "named_lock on a Galera node: each statement is "
			    "sent alone");
	} else
		log_info("guarantee: one server (wsrep off): GET_LOCK "
		    "serialises each openid's registrations across every "
		    "worker and host using this server; the UNIQUE index on "
		    "openid is the backstop");
}

/* Is the connected server a Galera node (wsrep_on = ON)? */
int
db_wsrep(struct db *db)
{
	return (db->wsrep);
}

/* Per-session settings, sent once after each connect. */
static enum db_status
db_session_setup(struct db *db)
{
	/*
	 * READ COMMITTED: a FOR UPDATE on an absent openid takes no gap lock,
	 * so two different openids landing in one gap cannot deadlock.
	 */
	const char	*isolation =
	    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";
	MYSQL_STMT	*stmt;
	MYSQL_BIND	 bind;
	unsigned int	 wait_s;
	enum db_status	 st = DB_OK;

#ifdef REGONCE_TEST_BUILD
	/* The negative control that shows those deadlocks. */
	if (db->cfg->db_repeatable_read)
		isolation =
		    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ";
#endif
	if ((st = db_query(db, isolation)) != DB_OK)
		return (st);

	/* Row lock waits end before the client read timeout does. */
	wait_s = (db->cfg->lock_timeout_ms + 999) / 1000;
	if (wait_s >= db->cfg->db_timeout_s)
		wait_s = db->cfg->db_timeout_s > 1 ? db->cfg->db_timeout_s - 1 : 1;
	if ((stmt = mysql_stmt_init(db->conn)) == NULL)
		return (db_conn_fail(db));
	memset(&bind, 0, sizeof(bind));
	bind.buffer_type = MYSQL_TYPE_LONG;
	bind.is_unsigned = 1;
	bind.buffer = &wait_s;
	if (db_prepare(db, stmt, DB_SET_WAIT) != 0 ||
	    mysql_stmt_bind_param(stmt, &bind) != 0 ||
	    db_stmt_execute(db, stmt) != 0)
		st = db_stmt_fail(db, stmt);
	mysql_stmt_close(stmt);
	if (st != DB_OK)
		return (st);

	if ((st = db_detect_wsrep(db)) != DB_OK || !db->wsrep)
		return (st);
	/*
	 * Causal reads: each SELECT (the pre-check and the FOR UPDATE) first
	 * waits until this node has applied every write set the cluster had
	 * certified when it was sent. After a COMMIT that lost certification
	 * (1213) the retry then sees the winner's row and answers "exists".
	 */
	return (db_query(db, "SET SESSION wsrep_sync_wait = 1"));
}

/* Open the connection and prepare every statement. */
enum db_status
db_connect(struct db *db)
{
	const struct config	*cfg = db->cfg;
	unsigned int		 connect_s = cfg->db_connect_timeout_s;
	unsigned int		 io_s = cfg->db_timeout_s;
	const char		*socket = NULL, *host = cfg->db_host;
	MYSQL			*connected;
	enum db_status		 st;
	int			 i;

	db_disconnect(db);
	db->last_errno = 0;
	db->last_error[0] = '\0';
	db->deadline_hit = 0;
	if (deadline_left_ms(db->deadline) <= 0)
		return (db_fail(db, CR_SERVER_LOST, "the request's time "
		    "budget ran out before connecting"));
	if ((db->conn = mysql_init(NULL)) == NULL)
		return (db_fail(db, CR_OUT_OF_MEMORY, "mysql_init failed"));
	mysql_optionsv(db->conn, MYSQL_OPT_NONBLOCK, 0);
	mysql_optionsv(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
	mysql_optionsv(db->conn, MYSQL_OPT_READ_TIMEOUT, &io_s);
	mysql_optionsv(db->conn, MYSQL_OPT_WRITE_TIMEOUT, &io_s);
	mysql_optionsv(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (cfg->db_socket[0] != '\0') {
		socket = cfg->db_socket;
		host = "localhost";
	}
	/* Multi-statements: see db_send_pair(); no data travels as text. */
	DB_RUN(db, mysql_real_connect_start(&connected, db->conn, host,
	    cfg->db_user, cfg->db_password, cfg->db_name, cfg->db_port, socket,
	    CLIENT_MULTI_STATEMENTS), mysql_real_connect_cont(&connected,
	    db->conn, ready));
	if (connected == NULL) {
		/* Whatever the reason, there is no usable connection. */
		db_conn_fail(db);
		db_disconnect(db);
		return (DB_LOST);
	}
	if ((st = db_session_setup(db)) != DB_OK)
		goto fail;
	for (i = 0; i < STMT__EAGER; i++) {
		if ((db->stmt[i] = mysql_stmt_init(db->conn)) == NULL) {
			st = db_conn_fail(db);
			goto fail;
		}
		if (db_prepare(db, db->stmt[i], db_stmt_sql[i]) != 0) {
			st = db_stmt_fail(db, db->stmt[i]);
			goto fail;
		}
	}
	/* A server that cannot run it says so now, not on each request. */
	if (cfg->strategy == STRATEGY_NAMED_LOCK_COMPOUND && !db->wsrep &&
	    (st = db_prepare_late(db, STMT_REGISTER)) != DB_OK) {
		if (st != DB_LOST)
			log_error("strategy named_lock_compound needs MariaDB "
			    "10.1.1 or later (compound statements): error "
			    "%u: %s", db->last_errno, db->last_error);
		goto fail;
	}
	db_log_guarantee(db);
	log_debug("db_connect: thread id %lu", mysql_thread_id(db->conn));
	return (DB_OK);
fail:
	db_disconnect(db);
	return (st == DB_OK ? DB_ERROR : st);
}

/* Drop the old connection (its locks go with it) and open a new one. */
enum db_status
db_reconnect(struct db *db)
{
	log_warn("db_reconnect: after error %u: %s", db->last_errno,
	    db->last_error);
	return (db_connect(db));
}

/* Is the server there? Reconnects once if the connection was lost. */
enum db_status
db_ping(struct db *db)
{
	int	rc = -1;

	if (db->conn != NULL) {
		DB_RUN(db, mysql_ping_start(&rc, db->conn),
		    mysql_ping_cont(&rc, db->conn, ready));
		if (rc == 0)
			return (DB_OK);
		db_conn_fail(db);
	}
	return (db_connect(db));
}

/* Prepare a statement that is prepared on first use. */
static enum db_status
db_prepare_late(struct db *db, enum db_stmt_id id)
{
	enum db_status	st;

	if ((db->stmt[id] = mysql_stmt_init(db->conn)) == NULL)
		return (db_conn_fail(db));
	if (db_prepare(db, db->stmt[id], db_stmt_sql[id]) == 0)
		return (DB_OK);
	st = db_stmt_fail(db, db->stmt[id]);
	if (db->stmt[id] != NULL) {
		mysql_stmt_close(db->stmt[id]);
		db->stmt[id] = NULL;
	}
	return (st);
}

/* Run a prepared statement with its parameters bound. */
static enum db_status
db_execute(struct db *db, enum db_stmt_id id, MYSQL_BIND *params)
{
	MYSQL_STMT	*stmt;
	enum db_status	 st;

	if (db->conn == NULL)
		return (db_fail(db, CR_SERVER_GONE_ERROR, "not connected"));
	if (db->stmt[id] == NULL && (st = db_prepare_late(db, id)) != DB_OK)
		return (st);
	stmt = db->stmt[id];
	if (mysql_stmt_bind_param(stmt, params) != 0 ||
	    db_stmt_execute(db, stmt) != 0)
		return (db_stmt_fail(db, stmt));
	return (DB_OK);
}

/* Bind a user's two columns, id and password_hash, at cols[0] and [1]. */
static void
db_bind_user(MYSQL_BIND *cols, struct db_user *user, unsigned long *hash_len,
    my_bool *hash_null)
{
	cols[0].buffer_type = MYSQL_TYPE_LONGLONG;
	cols[0].is_unsigned = 1;
	cols[0].buffer = &user->id;
	cols[1].buffer_type = MYSQL_TYPE_STRING;
	cols[1].buffer = user->password_hash;
	cols[1].buffer_length = sizeof(user->password_hash);
	cols[1].length = hash_len;
	cols[1].is_null = hash_null;
}

/*
 * End a fetched password hash at the length the server sent (fetch
 * status rc). A hash we cannot hold whole can never equal ours: "".
 */
static void
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
	if ((st = db_execute(db, id, &param)) != DB_OK)
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
	if ((st = db_execute(db, STMT_INSERT, params)) != DB_OK)
		return (st);
	*user_id = mysql_stmt_insert_id(db->stmt[STMT_INSERT]);
	return (DB_OK);
}

static const char *const db_lock_answer_names[] = {
	[LOCK_NOT_ASKED] = "-",
	[LOCK_FAILED] = "error",
	[LOCK_ONE] = "1",
	[LOCK_ZERO] = "0",
	[LOCK_NULL] = "null",
	[LOCK_REFUSED] = "refused",
};

/* A lock answer as the log writes it. */
const char *
db_lock_answer_name(enum db_lock_answer answer)
{
	return (db_lock_answer_names[answer]);
}

/* Fetch the 1, 0 or NULL a SELECT GET_LOCK/RELEASE_LOCK returns. */
static enum db_status
db_fetch_lock_answer(struct db *db, enum db_stmt_id id,
    enum db_lock_answer *answer)
{
	MYSQL_BIND	 result;
	long long	 number = 0;
	my_bool		 is_null = 0;
	enum db_status	 st = DB_OK;
	int		 rc;

	memset(&result, 0, sizeof(result));
	result.buffer_type = MYSQL_TYPE_LONGLONG;
	result.buffer = &number;
	result.is_null = &is_null;
	if (mysql_stmt_bind_result(db->stmt[id], &result) != 0)
		return (db_stmt_fail(db, db->stmt[id]));
	rc = db_fetch(db, db->stmt[id]);
	if (rc == 1)
		st = db_stmt_fail(db, db->stmt[id]);
	else if (rc == MYSQL_NO_DATA)
		st = db_fail(db, CR_UNKNOWN_ERROR, "no row from lock function");
	else if (is_null)
		*answer = LOCK_NULL;
	else
		*answer = number == 1 ? LOCK_ONE : LOCK_ZERO;
	if (db->stmt[id] != NULL)
		db_free_result(db, db->stmt[id]);
	return (st);
}

/*
 * GET_LOCK(name, timeout): 1 (ours), 0 (timed out) or NULL (an error such
 * as a killed query). The timeout is always finite and positive: MariaDB
 * answers NULL to a negative one instead of waiting. A server that does
 * not do named locks at all answers LOCK_REFUSED with DB_OK: the Galera
 * releases with MDEV-30473 fail GET_LOCK under wsrep with 1235
 * (ER_NOT_SUPPORTED_YET); db_errno() keeps the number.
 */
enum db_status
db_get_lock(struct db *db, const char *name, unsigned int timeout_ms,
    enum db_lock_answer *answer)
{
	MYSQL_BIND	 params[2];
	unsigned long	 name_len;
	double		 timeout_s = timeout_ms / 1000.0;
	enum db_status	 st;

	*answer = LOCK_FAILED;
	memset(params, 0, sizeof(params));
	db_bind_string(&params[0], name, strlen(name), &name_len);
	params[1].buffer_type = MYSQL_TYPE_DOUBLE;
	params[1].buffer = &timeout_s;
	if ((st = db_execute(db, STMT_GET_LOCK, params)) != DB_OK) {
		if (db->last_errno == ER_NOT_SUPPORTED_YET) {
			*answer = LOCK_REFUSED;
			return (DB_OK);
		}
		return (st);
	}
	return (db_fetch_lock_answer(db, STMT_GET_LOCK, answer));
}

/* RELEASE_LOCK(name): 1, 0 (not ours) or NULL (no such lock). */
enum db_status
db_release_lock(struct db *db, const char *name, enum db_lock_answer *answer)
{
	MYSQL_BIND	 param;
	unsigned long	 name_len;
	enum db_status	 st;

	*answer = LOCK_FAILED;
	memset(&param, 0, sizeof(param));
	db_bind_string(&param, name, strlen(name), &name_len);
	if ((st = db_execute(db, STMT_RELEASE_LOCK, &param)) != DB_OK)
		return (st);
	return (db_fetch_lock_answer(db, STMT_RELEASE_LOCK, answer));
}

/* Drop the answers left after a compound statement's row (its end OK). */
static enum db_status
db_stmt_next_results(struct db *db, MYSQL_STMT *stmt)
{
	int	rc;

	for (;;) {
		DB_RUN(db, mysql_stmt_next_result_start(&rc, stmt),
		    mysql_stmt_next_result_cont(&rc, stmt, ready));
		if (rc < 0)
			return (DB_OK);
		if (rc > 0)
			return (db_stmt_fail(db, stmt));
		if (mysql_stmt_field_count(stmt) > 0)
			db_free_result(db, stmt);
	}
}

/*
 * Did the compound statement's error handler surely run for this error?
 * The server's stored-program executor does not promise it for a killed
 * statement (KILL QUERY, max_statement_time) or a fatal error, and a
 * client-side error says nothing of what the server did.
 */
static int
db_compound_handled(unsigned int err)
{
	switch (err) {
	case ER_QUERY_INTERRUPTED:
	case ER_STATEMENT_TIMEOUT:
	case ER_OUTOFMEMORY:
	case ER_OUT_OF_SORTMEMORY:
	case ER_OUT_OF_RESOURCES:
		return (0);
	default:
		return (err < CR_MIN_ERROR || err > CR_MAX_ERROR);
	}
}

/*
 * named_lock_compound's one round trip (STMT_REGISTER): GET_LOCK(lock,
 * timeout), then inside a transaction the FOR UPDATE lookup of openid
 * and, when it finds nothing, the INSERT; COMMIT, RELEASE_LOCK. On DB_OK:
 * *answer is the lock's; with LOCK_ONE, *found says whether the row was
 * there (user: its id and hash) or is now ours (user->id). Any other
 * status but DB_LOST comes after the server rolled back and released the
 * lock. DB_LOST: the COMMIT may have landed; and when the handler was
 * skipped the session is ended here, which ends its transaction and lock.
 */
enum db_status
db_register_compound(struct db *db, const char *lock,
    unsigned int timeout_ms, const char *openid, size_t openid_len,
    const char *username, size_t username_len, const char *hash,
    enum db_lock_answer *answer, struct db_user *user, int *found)
{
	MYSQL_BIND	 params[6], result[3];
	MYSQL_STMT	*stmt;
	unsigned long	 lens[6], hash_len = 0;
	double		 timeout_s = timeout_ms / 1000.0;
	long long	 what = -1;
	my_bool		 hash_null = 0;
	enum db_status	 st;
	int64_t		 since = metrics_clock_us();
	int		 rc;

	*answer = LOCK_FAILED;
	*found = 0;
	memset(user, 0, sizeof(*user));
	memset(params, 0, sizeof(params));
	db_bind_string(&params[0], lock, strlen(lock), &lens[0]);
	params[1].buffer_type = MYSQL_TYPE_DOUBLE;
	params[1].buffer = &timeout_s;
	db_bind_string(&params[2], openid, openid_len, &lens[2]);
	db_bind_string(&params[3], openid, openid_len, &lens[3]);
	db_bind_string(&params[4], username, username_len, &lens[4]);
	db_bind_string(&params[5], hash, strlen(hash), &lens[5]);
	st = db_execute(db, STMT_REGISTER, params);
	metrics_lock_waited(since);
	if (st != DB_OK) {
		if (st != DB_LOST && !db_compound_handled(db->last_errno)) {
			/* Maybe stopped anywhere: the lock held, the COMMIT
			 * done or not. The error number stays for the log. */
			db_disconnect(db);
			return (DB_LOST);
		}
		return (st);
	}
	stmt = db->stmt[STMT_REGISTER];
	memset(result, 0, sizeof(result));
	result[0].buffer_type = MYSQL_TYPE_LONGLONG;
	result[0].buffer = &what;
	db_bind_user(&result[1], user, &hash_len, &hash_null);
	if (mysql_stmt_field_count(stmt) != 3 ||
	    mysql_stmt_bind_result(stmt, result) != 0)
		return (db_fail(db, CR_COMMANDS_OUT_OF_SYNC,
		    "the compound statement's answer is not its row"));
	rc = db_fetch(db, stmt);
	if (rc == 1)
		return (db_stmt_fail(db, stmt));
	if (rc == MYSQL_NO_DATA)
		return (db_fail(db, CR_COMMANDS_OUT_OF_SYNC,
		    "no row from the compound statement"));
	db_hash_end(user, rc, hash_null, hash_len);
	switch (what) {
	case 0:
	case 1:
		*answer = LOCK_ONE;
		*found = what == 1;
		break;
	case 2:
		*answer = LOCK_ZERO;
		break;
	default:
		*answer = LOCK_NULL;
		break;
	}
	db_free_result(db, stmt);
	/*
	 * The statement's own end: one more answer to read before the next.
	 * The row is the answer (the block ran to its end): if the rest does
	 * not come, the session is dropped, the answer stands.
	 */
	if (db_stmt_next_results(db, stmt) != DB_OK && db->conn != NULL)
		db_disconnect(db);
	return (DB_OK);
}

/*
 * A lock name is written into SQL text (db_send_pair): only the
 * characters reg_digest_name() produces may reach it.
 */
static int
db_lock_name_ok(const char *name)
{
	size_t	len = strlen(name);

	if (len == 0 || len >= REG_LOCK_NAME_MAX)
		return (0);
	return (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789:-") ==
	    len);
}

/*
 * The 1, 0 or NULL of the lock function that is the current result of a
 * multi-statement query. The result is stored (one small row), so the
 * fetch and the free never wait.
 */
static enum db_status
db_read_lock_row(struct db *db, enum db_lock_answer *answer)
{
	MYSQL_RES	*res = NULL;
	MYSQL_ROW	 row;

	DB_RUN(db, mysql_store_result_start(&res, db->conn),
	    mysql_store_result_cont(&res, db->conn, ready));
	/*
	 * A server error ends the query (nothing more follows); a failure of
	 * the client's own, or a missing row, leaves the pair's other answer
	 * unread, so the connection is out of sync: CR_COMMANDS_OUT_OF_SYNC
	 * is DB_LOST, and the connection is dropped and opened anew.
	 */
	if (res == NULL) {
		if (mysql_errno(db->conn) >= CR_MIN_ERROR &&
		    db_classify(mysql_errno(db->conn)) != DB_LOST)
			return (db_fail(db, CR_COMMANDS_OUT_OF_SYNC,
			    mysql_error(db->conn)));
		return (db_conn_fail(db));
	}
	if ((row = mysql_fetch_row(res)) == NULL) {
		mysql_free_result(res);
		return (db_fail(db, CR_COMMANDS_OUT_OF_SYNC,
		    "no row from lock function"));
	}
	if (row[0] == NULL)
		*answer = LOCK_NULL;
	else
		*answer = strcmp(row[0], "1") == 0 ? LOCK_ONE : LOCK_ZERO;
	mysql_free_result(res);
	return (DB_OK);
}

/*
 * Two statements that carry no data travel as one text query, one round
 * trip: the session has CLIENT_MULTI_STATEMENTS. The server runs them in
 * order and stops at the first that fails. db_send_pair() sends "a; b"
 * and reads a's answer; db_next_result() reads b's.
 *
 * Not on a Galera node: there a COMMIT that lost certification in such a
 * pair was seen answered OK (it-cluster: two "created" for one row), so
 * each statement goes alone; db_next_result() then sends b.
 */
static enum db_status
db_send_pair(struct db *db, const char *a, const char *b)
{
	char		sql[160];
	enum db_status	st;
	int		n;

	db->second = NULL;
	if (db->wsrep) {
		/* b outlives the pair: the caller's, until db_next_result. */
		if ((st = db_send(db, a, strlen(a))) == DB_OK)
			db->second = b;
		return (st);
	}
	n = snprintf(sql, sizeof(sql), "%s; %s", a, b);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return (db_fail(db, CR_UNKNOWN_ERROR, "statement too long"));
	return (db_send(db, sql, (size_t)n));
}

static enum db_status
db_next_result(struct db *db)
{
	const char	*second = db->second;
	int		 rc;

	if (second != NULL) {
		db->second = NULL;
		return (db_send(db, second, strlen(second)));
	}
	DB_RUN(db, mysql_next_result_start(&rc, db->conn),
	    mysql_next_result_cont(&rc, db->conn, ready));
	if (rc > 0)
		return (db_conn_fail(db));
	if (rc < 0)
		return (db_fail(db, CR_COMMANDS_OUT_OF_SYNC,
		    "a statement's answer is missing"));
	return (DB_OK);
}

/*
 * GET_LOCK(name, timeout), then START TRANSACTION, in one round trip: the
 * transaction begins only once GET_LOCK has returned. *answer is the
 * lock's: ONE (the caller must release it, whatever the status), ZERO,
 * NULL, REFUSED (1235, as db_get_lock; the transaction is then begun on
 * its own) or FAILED. On DB_OK the transaction is open; on any other
 * status the caller rolls back (and releases a lock it got).
 */
enum db_status
db_begin_locked(struct db *db, const char *name, unsigned int timeout_ms,
    enum db_lock_answer *answer)
{
	char		lock_sql[128];
	enum db_status	st;
	int64_t		since = metrics_clock_us();

	*answer = LOCK_FAILED;
	if (!db_lock_name_ok(name))
		return (db_fail(db, CR_UNKNOWN_ERROR, "bad lock name"));
	snprintf(lock_sql, sizeof(lock_sql), "SELECT GET_LOCK('%s', %u.%03u)",
	    name, timeout_ms / 1000, timeout_ms % 1000);
	st = db_send_pair(db, lock_sql, "START TRANSACTION");
	metrics_lock_waited(since);
	if (st != DB_OK) {
		if (db->last_errno != ER_NOT_SUPPORTED_YET)
			return (st);
		*answer = LOCK_REFUSED;
		return (db_begin(db));
	}
	if ((st = db_read_lock_row(db, answer)) != DB_OK)
		return (st);
	return (db_next_result(db));
}

/*
 * COMMIT (or ROLLBACK), then RELEASE_LOCK(name), in one round trip.
 * Returns the COMMIT's status: on DB_OK the transaction is over and
 * *released is the lock's answer (LOCK_ONE, or what to log; LOCK_FAILED
 * if the release itself failed). A COMMIT that fails leaves the lock
 * held (LOCK_NOT_ASKED): the caller rolls back and releases.
 */
enum db_status
db_end_unlocked(struct db *db, int commit, const char *name,
    enum db_lock_answer *released)
{
	char		lock_sql[128];
	enum db_status	st;

	*released = LOCK_NOT_ASKED;
	if (!db_lock_name_ok(name))
		return (db_fail(db, CR_UNKNOWN_ERROR, "bad lock name"));
	snprintf(lock_sql, sizeof(lock_sql), "SELECT RELEASE_LOCK('%s')",
	    name);
	if ((st = db_send_pair(db, commit ? "COMMIT" : "ROLLBACK",
	    lock_sql)) != DB_OK)
		return (st);
	*released = LOCK_FAILED;
	if (db_next_result(db) == DB_OK)
		db_read_lock_row(db, released);
	/*
	 * A release that failed may leave the lock held, and named locks are
	 * re-entrant: this session's next GET_LOCK of the openid would count
	 * up, not wait. Ending the session ends its locks.
	 */
	if (*released == LOCK_FAILED && db->conn != NULL)
		db_disconnect(db);
	return (DB_OK);
}

/* Start a transaction (the session is READ COMMITTED). */
enum db_status
db_begin(struct db *db)
{
	return (db_query(db, "START TRANSACTION"));
}

/* Commit the open transaction. */
enum db_status
db_commit(struct db *db)
{
	return (db_query(db, "COMMIT"));
}

/* Roll the open transaction back. */
enum db_status
db_rollback(struct db *db)
{
	return (db_query(db, "ROLLBACK"));
}

/* The connection itself, for tools that run statements of their own. */
MYSQL *
db_handle(struct db *db)
{
	return (db->conn);
}

/* Bind bytes (a hash, a stored body): binary, never charset-converted. */
static void
db_bind_bytes(MYSQL_BIND *bind, const void *value, size_t len,
    unsigned long *lenp)
{
	*lenp = (unsigned long)len;
	bind->buffer_type = MYSQL_TYPE_BLOB;
	bind->buffer = (void *)(uintptr_t)value;
	bind->buffer_length = (unsigned long)len;
	bind->length = lenp;
}

/* Bind an unsigned int parameter. */
static void
db_bind_uint(MYSQL_BIND *bind, unsigned int *value)
{
	bind->buffer_type = MYSQL_TYPE_LONG;
	bind->is_unsigned = 1;
	bind->buffer = value;
}

/*
 * The stored answer of an Idempotency-Key (by the SHA-256 of the key):
 * *found 0 (none), 1 (this answer), or 2 (one older than ttl_s: expired,
 * to be replaced).
 */
enum db_status
db_idem_find(struct db *db, const unsigned char *key_hash,
    unsigned int ttl_s, struct db_idem *row, int *found)
{
	MYSQL_BIND	 params[2], result[4];
	unsigned long	 key_len, fp_len = 0, body_len = 0;
	long long	 expired = 0;
	enum db_status	 st;
	int		 rc;

	*found = 0;
	memset(row, 0, sizeof(*row));
	memset(params, 0, sizeof(params));
	db_bind_uint(&params[0], &ttl_s);
	db_bind_bytes(&params[1], key_hash, DB_HASH_BYTES, &key_len);
	if ((st = db_execute(db, STMT_IDEM_FIND, params)) != DB_OK)
		return (st);
	memset(result, 0, sizeof(result));
	result[0].buffer_type = MYSQL_TYPE_BLOB;
	result[0].buffer = row->fingerprint;
	result[0].buffer_length = sizeof(row->fingerprint);
	result[0].length = &fp_len;
	result[1].buffer_type = MYSQL_TYPE_LONG;
	result[1].is_unsigned = 1;
	result[1].buffer = &row->status;
	result[2].buffer_type = MYSQL_TYPE_BLOB;
	result[2].buffer = row->body;
	result[2].buffer_length = sizeof(row->body);
	result[2].length = &body_len;
	result[3].buffer_type = MYSQL_TYPE_LONGLONG;
	result[3].buffer = &expired;
	if (mysql_stmt_bind_result(db->stmt[STMT_IDEM_FIND], result) != 0)
		return (db_stmt_fail(db, db->stmt[STMT_IDEM_FIND]));
	rc = db_fetch(db, db->stmt[STMT_IDEM_FIND]);
	if (rc == 0 && fp_len == DB_HASH_BYTES &&
	    body_len <= sizeof(row->body)) {
		*found = expired ? 2 : 1;
		row->body_len = body_len;
	} else if (rc == 0 || rc == MYSQL_DATA_TRUNCATED)
		st = db_fail(db, CR_UNKNOWN_ERROR, "stored answer too large");
	else if (rc == 1)
		st = db_stmt_fail(db, db->stmt[STMT_IDEM_FIND]);
	if (db->stmt[STMT_IDEM_FIND] != NULL)
		db_free_result(db, db->stmt[STMT_IDEM_FIND]);
	return (st);
}

/*
 * Store an answer under its key, in whatever transaction is open. With
 * expired, the key's old answer (past ttl_s) goes first: keys are
 * reusable after expiry.
 */
enum db_status
db_idem_store(struct db *db, const unsigned char *key_hash,
    const struct db_idem *row, int expired, unsigned int ttl_s)
{
	MYSQL_BIND	 params[4];
	unsigned long	 lens[4];
	unsigned int	 status = row->status;
	enum db_status	 st;

	memset(params, 0, sizeof(params));
	if (expired) {
		db_bind_bytes(&params[0], key_hash, DB_HASH_BYTES, &lens[0]);
		db_bind_uint(&params[1], &ttl_s);
		if ((st = db_execute(db, STMT_IDEM_EXPIRE, params)) != DB_OK)
			return (st);
		memset(params, 0, sizeof(params));
	}
	db_bind_bytes(&params[0], key_hash, DB_HASH_BYTES, &lens[0]);
	db_bind_bytes(&params[1], row->fingerprint, DB_HASH_BYTES, &lens[1]);
	db_bind_uint(&params[2], &status);
	db_bind_bytes(&params[3], row->body, row->body_len, &lens[3]);
	return (db_execute(db, STMT_IDEM_STORE, params));
}

/* Delete up to limit answers older than ttl_s; *deleted says how many. */
enum db_status
db_idem_purge(struct db *db, unsigned int ttl_s, unsigned int limit,
    unsigned long *deleted)
{
	MYSQL_BIND	 params[2];
	enum db_status	 st;

	*deleted = 0;
	memset(params, 0, sizeof(params));
	db_bind_uint(&params[0], &ttl_s);
	db_bind_uint(&params[1], &limit);
	if ((st = db_execute(db, STMT_IDEM_PURGE, params)) != DB_OK)
		return (st);
	*deleted = (unsigned long)mysql_stmt_affected_rows(
	    db->stmt[STMT_IDEM_PURGE]);
	return (DB_OK);
}
