/*
 * regonce: the store's private header, shared by db*.c and nothing else.
 * It holds the connection struct, the prepared statements' ids, and the
 * I/O engine (db_io.c) every statement family goes through: one wait
 * with the request's deadline, one place that maps errors to a status.
 */
#ifndef REGONCE_DB_INT_H
#define REGONCE_DB_INT_H

#include <mysql.h>

#include "app.h"

/* Every prepared statement of a session, by family. */
enum db_stmt_id {
	STMT_FIND,		/* db_users.c */
	STMT_FIND_FOR_UPDATE,
	STMT_INSERT,
	STMT_IDEM_FIND,		/* db_idem.c */
	STMT_IDEM_EXPIRE,
	STMT_IDEM_STORE,
	STMT_IDEM_PURGE,
	STMT_IDEM_LIVE,
	STMT_LOCK_LOOK,		/* db_compound.c */
	STMT_REGISTER,
	STMT__COUNT
};

struct db {
	const struct config	*cfg;
	MYSQL			*conn;
	MYSQL_STMT		*stmt[STMT__COUNT];
	int			 want_compound;	/* prepare it at connect */
	int			 compound_needed; /* fail a connect without */
	int			 compound_ready; /* prepared this session */
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

/* db_io.c */
int		 db_wait(struct db *, int);
enum db_status	 db_fail(struct db *, unsigned int, const char *);
enum db_status	 db_conn_fail(struct db *);
enum db_status	 db_stmt_fail(struct db *, MYSQL_STMT *);
void		 db_disconnect(struct db *);
enum db_status	 db_send(struct db *, const char *, size_t);
enum db_status	 db_query(struct db *, const char *);
int		 db_prepare(struct db *, MYSQL_STMT *, const char *);
enum db_status	 db_prepare_stmt(struct db *, enum db_stmt_id, const char *);
int		 db_stmt_execute(struct db *, MYSQL_STMT *);
enum db_status	 db_execute(struct db *, enum db_stmt_id, const char *,
		     MYSQL_BIND *);
int		 db_fetch(struct db *, MYSQL_STMT *);
void		 db_free_result(struct db *, MYSQL_STMT *);
void		 db_bind_string(MYSQL_BIND *, const char *, size_t,
		     unsigned long *);
void		 db_bind_bytes(MYSQL_BIND *, const void *, size_t,
		     unsigned long *);
void		 db_bind_uint(MYSQL_BIND *, unsigned int *);
void		 db_bind_column(MYSQL_BIND *, enum enum_field_types, void *,
		     size_t, unsigned long *);

/* db_users.c */
enum db_status	 db_users_prepare(struct db *);
void		 db_bind_user(MYSQL_BIND *, struct db_user *, unsigned long *,
		     my_bool *);
void		 db_hash_end(struct db_user *, int, my_bool, unsigned long);

/* db_compound.c */
enum db_status	 db_compound_prepare(struct db *, int);

#endif /* REGONCE_DB_INT_H */
