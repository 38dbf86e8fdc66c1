/*
 * The store's connection: one MariaDB session per worker process, set
 * up once after each connect (isolation, lock wait, Galera's causal
 * reads) with the statements it runs prepared. MYSQL_OPT_RECONNECT is
 * never set: a silent reconnect would drop our transaction and our
 * GET_LOCK lock without telling us. On DB_LOST the caller reconnects
 * explicitly and starts the registration over.
 *
 * The files beside this one (db_int.h): db_io.c, the non-blocking I/O
 * engine and the errors; db_users.c, db_lock.c, db_compound.c and
 * db_idem.c, one family of statements each.
 */
#include "config.h"

#include <errmsg.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

#define DB_SET_WAIT	"SET SESSION innodb_lock_wait_timeout = ?"

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

/*
 * Prepare the compound statements (db_compound.c) at each connect from
 * now on. needed: the caller runs them only, and wants a server that
 * cannot to fail the connect, not each request; else (strategy auto) it
 * asks db_compound_ready() and runs named_lock where they are not.
 */
void
db_want_compound(struct db *db, int needed)
{
	db->want_compound = 1;
	db->compound_needed = needed;
}

/* Are the compound statements prepared on this session? */
int
db_compound_ready(struct db *db)
{
	return (db->conn != NULL && db->compound_ready);
}

/* strategy auto: say its pick at connect, whenever the pick changes. */
static void
db_log_auto(const struct db *db)
{
	static int	logged = -1;

	if (db->cfg->strategy != STRATEGY_AUTO ||
	    logged == db->compound_ready)
		return;
	logged = db->compound_ready;
	if (db->compound_ready)
		log_info("strategy auto -> named_lock_compound: the server "
		    "prepares its compound statements");
	else
		log_info("strategy auto -> named_lock: %s", db->wsrep ?
		    "a Galera node sends each statement alone" :
		    "the server cannot prepare the compound statements");
}

/* Close and free a handle. */
void
db_free(struct db *db)
{
	if (db == NULL)
		return;
	db_disconnect(db);
	db_cap_release();
	free(db);
}

/*
 * A server variable that is 1 or not: *on. A variable the server does not
 * have (MySQL has no wsrep_on) fails the statement: that is 0 too. Only
 * a lost connection is an error.
 */
static enum db_status
db_variable_on(struct db *db, const char *sql, int *on)
{
	MYSQL_STMT	*stmt;
	MYSQL_BIND	 result;
	long long	 value = 0;
	my_bool		 is_null = 0;
	enum db_status	 st = DB_OK;

	*on = 0;
	if ((stmt = mysql_stmt_init(db->conn)) == NULL)
		return (db_conn_fail(db));
	memset(&result, 0, sizeof(result));
	result.buffer_type = MYSQL_TYPE_LONGLONG;
	result.buffer = &value;
	result.is_null = &is_null;
	if (db_prepare(db, stmt, sql) != 0 ||
	    db_stmt_execute(db, stmt) != 0 ||
	    mysql_stmt_bind_result(stmt, &result) != 0) {
		if (db_classify(mysql_stmt_errno(stmt)) == DB_LOST ||
		    db->deadline_hit)
			st = db_stmt_fail(db, stmt);
	} else {
		if (db_fetch(db, stmt) == 0 && !is_null && value == 1)
			*on = 1;
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
		if (db->want_compound && db->compound_needed)
			log_info("strategy named_lock_compound runs as "
			    "named_lock on a Galera node: the compound "
			    "statement is not prepared there, each statement "
			    "is sent alone");
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

	/* A Galera node with replication on? A plain MariaDB says OFF. */
	if ((st = db_variable_on(db, "SELECT @@wsrep_on", &db->wsrep)) !=
	    DB_OK || !db->wsrep)
		return (st);
	/*
	 * Causal reads: each SELECT (the pre-check and the FOR UPDATE) first
	 * waits until this node has applied every write set the cluster had
	 * certified when it was sent. After a COMMIT that lost certification
	 * (1213) the retry then sees the winner's row and answers "exists".
	 */
	return (db_query(db, "SET SESSION wsrep_sync_wait = 1"));
}

static enum db_status	db_connect_once(struct db *);

/*
 * Open the connection: with a slot of the pool-wide cap first (db_cap.c),
 * and through the server's "too many connections" refusals, waited out
 * with back-off while the request's budget lasts. A failure gives the
 * slot back.
 */
enum db_status
db_connect(struct db *db)
{
	enum db_status	st;
	unsigned int	attempt = 0;

	db_disconnect(db);
	if (db_cap_acquire(db->cfg, db->deadline) == -1)
		return (db_fail(db, CR_SERVER_LOST, "no connection slot came "
		    "free within the request's time budget "
		    "(db_max_connections)"));
	/* Only a request waits: at start-up (no deadline) one try. */
	while ((st = db_connect_once(db)) != DB_OK &&
	    db->deadline != DEADLINE_NONE && db_cap_refused(db->last_errno) &&
	    db_cap_backoff(db->deadline, ++attempt) == 0)
		continue;
	if (attempt > 0)
		log_info("db_connect: %s after %u refusals for too many "
		    "connections", st == DB_OK ? "connected" : "gave up",
		    attempt);
	if (st != DB_OK)
		db_cap_release();
	return (st);
}

/* Open the connection once and prepare what every session runs. */
static enum db_status
db_connect_once(struct db *db)
{
	const struct config	*cfg = db->cfg;
	unsigned int		 connect_s = cfg->db_connect_timeout_s;
	unsigned int		 io_s = cfg->db_timeout_s;
	const char		*socket = NULL, *host = cfg->db_host;
	MYSQL			*connected;
	enum db_status		 st;

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
	/* Multi-statements: a lock and its transaction statement share a round
	 * trip (db_lock.c); no data travels as text. */
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
	if ((st = db_users_prepare(db)) != DB_OK)
		goto fail;
	/* Asked for: a server that cannot run it says so now. */
	db->compound_ready = 0;
	if (db->want_compound && !db->wsrep) {
		st = db_compound_prepare(db, db->compound_needed);
		if (st == DB_OK)
			db->compound_ready = 1;
		else if (st == DB_LOST || db->compound_needed)
			goto fail;
	}
	db_log_guarantee(db);
	db_log_auto(db);
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
	/* No error: a connection opened when needed, or let go idle. */
	if (db->last_errno != 0)
		log_warn("db_reconnect: after error %u: %s", db->last_errno,
		    db->last_error);
	return (db_connect(db));
}

/*
 * Is the server there, and does it take writes? Reconnects once if the
 * connection was lost. DB_READ_ONLY: it answers, but read_only is on (a
 * failover in progress): registrations would be refused.
 */
enum db_status
db_ping(struct db *db)
{
	enum db_status	st = DB_OK;
	int		rc = -1, read_only;

	if (db->conn != NULL) {
		DB_RUN(db, mysql_ping_start(&rc, db->conn),
		    mysql_ping_cont(&rc, db->conn, ready));
		if (rc != 0)
			db_conn_fail(db);
	}
	if (rc != 0 && (st = db_connect(db)) != DB_OK)
		return (st);
	if ((st = db_variable_on(db, "SELECT @@global.read_only",
	    &read_only)) != DB_OK)
		return (st);
	return (read_only ? DB_READ_ONLY : DB_OK);
}
