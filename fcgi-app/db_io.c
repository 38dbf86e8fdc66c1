/*
 * The store's I/O engine: every call that waits on the server goes
 * through Connector/C's non-blocking API and db_wait(), so that the wait
 * ends at the request's deadline (MYSQL_OPT_READ_TIMEOUT is fixed at
 * connect time, a deadline is not). A wait that reaches the deadline
 * shuts the socket down, the call ends with CR_SERVER_LOST, and the
 * connection is closed. Errors end here too: db_fail() maps an error
 * number to what the caller must do (enum db_status) and keeps the text.
 */
#include "config.h"

#include <sys/socket.h>

#include <errmsg.h>
#include <errno.h>
#include <mysqld_error.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

#ifndef ER_READ_ONLY_MODE
#define ER_READ_ONLY_MODE	1836
#endif
#ifndef ER_USER_LOCK_DEADLOCK
#define ER_USER_LOCK_DEADLOCK	3058	/* MySQL 5.7+; MariaDB says 1213 */
#endif

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
	/* "running with the --read-only option": our statements meet only
	 * that option. A failover in progress, not a bug: retry later. */
	case ER_OPTION_PREVENTS_STATEMENT:
	case ER_READ_ONLY_MODE:
		return (DB_READ_ONLY);
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

/*
 * Is error err the database refusing this configuration (credentials, the
 * database, a grant) rather than being down? Such an error does not go
 * away by retrying: a worker must not start with it. Returns what to fix,
 * or NULL for any other error.
 */
const char *
db_refusal(unsigned int err)
{
	switch (err) {
	case ER_ACCESS_DENIED_ERROR:		/* 1045 */
		return ("access denied: check db_user, db_password and the "
		    "user's host (or unix_socket authentication)");
	case ER_DBACCESS_DENIED_ERROR:		/* 1044 */
		return ("the user may not use db_name: GRANT it the "
		    "privileges on that database's tables");
	case ER_BAD_DB_ERROR:			/* 1049 */
		return ("unknown database: db_name names no database "
		    "(CREATE DATABASE, then the schema in sql/)");
	case ER_TABLEACCESS_DENIED_ERROR:	/* 1142 */
	case ER_COLUMNACCESS_DENIED_ERROR:	/* 1143 */
		return ("a grant is missing (see the grants in regonce(8))");
	default:
		return (NULL);
	}
}

/*
 * Wait for what a non-blocking call asked for, no longer than the
 * library's own timeout (db_timeout_s, db_connect_timeout_s) nor the
 * request's deadline. Returns the events that occurred, for its _cont.
 */
int
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
enum db_status
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
enum db_status
db_conn_fail(struct db *db)
{
	return (db_fail(db, mysql_errno(db->conn), mysql_error(db->conn)));
}

/* A statement's error as a status. */
enum db_status
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

/* Close statements and the connection; the handle can connect again. */
void
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

/* Bind a buffer of len bytes as type; *lenp is its length (in and out). */
static void
db_bind_buffer(MYSQL_BIND *bind, enum enum_field_types type,
    const void *value, size_t len, unsigned long *lenp)
{
	*lenp = (unsigned long)len;
	bind->buffer_type = type;
	bind->buffer = (void *)(uintptr_t)value;
	bind->buffer_length = (unsigned long)len;
	bind->length = lenp;
}

/*
 * Bind a result column into size bytes at buf: its length starts at 0,
 * and only a fetched non-NULL value sets it.
 */
void
db_bind_column(MYSQL_BIND *bind, enum enum_field_types type, void *buf,
    size_t size, unsigned long *lenp)
{
	db_bind_buffer(bind, type, buf, size, lenp);
	*lenp = 0;
}

/* Bind a string parameter. */
void
db_bind_string(MYSQL_BIND *bind, const char *value, size_t len,
    unsigned long *lenp)
{
	db_bind_buffer(bind, MYSQL_TYPE_STRING, value, len, lenp);
}

/* Bind bytes (a hash, a stored body): binary, never charset-converted. */
void
db_bind_bytes(MYSQL_BIND *bind, const void *value, size_t len,
    unsigned long *lenp)
{
	db_bind_buffer(bind, MYSQL_TYPE_BLOB, value, len, lenp);
}

/* Bind an unsigned int parameter. */
void
db_bind_uint(MYSQL_BIND *bind, unsigned int *value)
{
	bind->buffer_type = MYSQL_TYPE_LONG;
	bind->is_unsigned = 1;
	bind->buffer = value;
}

/* Send one text query and read its (first) answer. */
enum db_status
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
enum db_status
db_query(struct db *db, const char *sql)
{
	return (db_send(db, sql, strlen(sql)));
}

/* Prepare a statement, within the deadline. */
int
db_prepare(struct db *db, MYSQL_STMT *stmt, const char *sql)
{
	int	rc;

	DB_RUN(db, mysql_stmt_prepare_start(&rc, stmt, sql, strlen(sql)),
	    mysql_stmt_prepare_cont(&rc, stmt, ready));
	return (rc);
}

/* Prepare statement id of this session from its SQL. */
enum db_status
db_prepare_stmt(struct db *db, enum db_stmt_id id, const char *sql)
{
	enum db_status	st;

	if ((db->stmt[id] = mysql_stmt_init(db->conn)) == NULL)
		return (db_conn_fail(db));
	if (db_prepare(db, db->stmt[id], sql) == 0)
		return (DB_OK);
	st = db_stmt_fail(db, db->stmt[id]);
	if (db->stmt[id] != NULL) {
		mysql_stmt_close(db->stmt[id]);
		db->stmt[id] = NULL;
	}
	return (st);
}

/* Execute a prepared statement whose parameters are bound. */
int
db_stmt_execute(struct db *db, MYSQL_STMT *stmt)
{
	int	rc;

	metrics_count(METRIC_DB_ROUND_TRIPS);
	DB_RUN(db, mysql_stmt_execute_start(&rc, stmt),
	    mysql_stmt_execute_cont(&rc, stmt, ready));
	return (rc);
}

/*
 * Run statement id with its parameters bound; one not yet prepared in
 * this session is prepared first, from sql.
 */
enum db_status
db_execute(struct db *db, enum db_stmt_id id, const char *sql,
    MYSQL_BIND *params)
{
	MYSQL_STMT	*stmt;
	enum db_status	 st;

	if (db->conn == NULL)
		return (db_fail(db, CR_SERVER_GONE_ERROR, "not connected"));
	if (db->stmt[id] == NULL &&
	    (st = db_prepare_stmt(db, id, sql)) != DB_OK)
		return (st);
	stmt = db->stmt[id];
	if (mysql_stmt_bind_param(stmt, params) != 0 ||
	    db_stmt_execute(db, stmt) != 0)
		return (db_stmt_fail(db, stmt));
	return (DB_OK);
}

/* Fetch the next row of a statement's result. */
int
db_fetch(struct db *db, MYSQL_STMT *stmt)
{
	int	rc;

	DB_RUN(db, mysql_stmt_fetch_start(&rc, stmt),
	    mysql_stmt_fetch_cont(&rc, stmt, ready));
	return (rc);
}

/* Read and drop what is left of a result (a table without the index). */
void
db_free_result(struct db *db, MYSQL_STMT *stmt)
{
	my_bool	rc;

	DB_RUN(db, mysql_stmt_free_result_start(&rc, stmt),
	    mysql_stmt_free_result_cont(&rc, stmt, ready));
}

/* The connection itself, for tools that run statements of their own. */
MYSQL *
db_handle(struct db *db)
{
	return (db->conn);
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
