/*
 * regonce worker: start-up (config, log, database), signals and the
 * FastCGI accept loop. spawn-fcgi hands each worker the listening socket
 * as fd 0 and forks the pool; every worker has its own DB connection.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <fcgiapp.h>
#include <getopt.h>
#include <mysql.h>
#include <signal.h>
#include <stdarg.h>
#include <syslog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#ifdef REGONCE_TEST_BUILD
#include "hooks.h"
#endif

#define IDEM_PURGE_EVERY_S	60

/* Exit codes of -t and of a worker's start (regonce(8), regonce-spawn). */
#define EXIT_DB_DOWN		3	/* -t: only the database is unreachable */
#define EXIT_DB_REFUSED		4	/* the database refuses this config */

static volatile sig_atomic_t	stop_requested;
static volatile sig_atomic_t	reopen_requested;

/* SIGHUP: reopen the log file (logrotate) before the next request. */
static void
main_on_hup(int signo)
{
	(void)signo;
	reopen_requested = 1;
}

/*
 * A worker that cannot start says why on stderr and to syslog: under
 * spawn-fcgi's fork mode stderr is /dev/null, and syslog reaches the
 * journal. Then exit 1.
 */
static void __attribute__((__noreturn__)) PRINTFLIKE(1, 2)
main_die(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fputs("regonce: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	openlog("regonce", LOG_PID, LOG_DAEMON);
	va_start(ap, fmt);
	vsyslog(LOG_ERR, fmt, ap);
	va_end(ap);
	closelog();
	exit(1);
}

/* SIGTERM/SIGINT/SIGUSR1: stop accepting; the request in hand finishes. */
static void
main_on_signal(int signo)
{
	(void)signo;
	stop_requested = 1;
	FCGX_ShutdownPending();
}

/* Install the stop handler without SA_RESTART, so accept() returns. */
static void
main_signals(sigset_t *stop_set)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = main_on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(stop_set);
	sigaddset(stop_set, SIGTERM);
	sigaddset(stop_set, SIGINT);
	sigaddset(stop_set, SIGUSR1);
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGUSR1, &sa, NULL) == -1)
		fatalx("sigaction failed");
	/* A log reopen must not cut a DB call short: restart syscalls. */
	sa.sa_handler = main_on_hup;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGHUP, &sa, NULL) == -1)
		fatalx("sigaction failed");
	signal(SIGPIPE, SIG_IGN);
}

/* Usage: to stdout with status 0 when asked for (-h), else to stderr. */
static void __attribute__((__noreturn__))
main_usage(FILE *fp, int status)
{
	fprintf(fp, "usage: regonce [-tT] [-c config-file]\n"
	    "       regonce -h | -V\n"
	    "  -c FILE  configuration (default: $REGONCE_CONF, else built-in "
	    "defaults)\n"
	    "  -t       check the configuration and the database, then exit\n"
	    "  -T       print the effective configuration, then exit\n"
	    "  -h       this help (--help); -V the version (--version)\n"
	    "Every key can be set as REGONCE_<KEY> in the environment.\n"
	    "See regonce(8) and regonce.conf(5). Bugs: %s\n",
	    PACKAGE_BUGREPORT);
	exit(status);
}

/*
 * -t, the log file cannot be opened: say why. A missing directory is
 * named as such (open says ENOENT for it and for a missing file alike).
 */
static void
main_check_log_dir(const char *path)
{
	char		dir[PATH_MAX];
	struct stat	sb;
	int		err = errno;

	if (err == ENOENT && snprintf(dir, sizeof(dir), "%s", path) <
	    (int)sizeof(dir)) {
		if (stat(dirname(dir), &sb) == -1 && errno == ENOENT)
			printf("regonce: log_file %s: directory %s does not "
			    "exist\n", path, dir);
		else
			/* The directory is there; creating in it is not. */
			printf("regonce: log_file %s: cannot be created in %s: "
			    "%s\n", path, dir, strerror(EACCES));
		return;
	}
	printf("regonce: log_file %s: %s\n", path, strerror(err));
}

/*
 * -t, the database: does it answer, and does it take this configuration
 * (credentials, database, the grants each statement needs)? The users
 * statements are prepared by the connect; idempotency_keys' here, when
 * the keys are on (refused only when they are required). 0 yes, EXIT_DB_REFUSED if the database refuses (a
 * worker would refuse to start), EXIT_DB_DOWN if it does not answer.
 */
static int
main_check_db(struct db *db, const struct config *cfg)
{
	const char	*why;
	enum db_status	 st;

	st = db_connect(db);
	/*
	 * Optional keys and no table (or no grant) yet: requests without a
	 * key are still served (an upgrade in progress, doc/operations.md);
	 * said, not refused. Required keys: no request could be served.
	 */
	if (st == DB_OK && cfg->idempotency != IDEM_MODE_OFF &&
	    (st = db_idem_prepare(db)) != DB_OK && db_connected(db) &&
	    (cfg->idempotency == IDEM_MODE_OPTIONAL ||
	    db_refusal(db_errno(db)) == NULL)) {
		printf("regonce: idempotency_keys cannot be used: error %u: "
		    "%s; requests with an Idempotency-Key will get 500\n",
		    db_errno(db), db_error(db));
		st = DB_OK;
	}
	if (st == DB_OK) {
		printf("regonce: configuration ok; database %s answers "
		    "(strategy: %s%s%s)\n", cfg->db_name,
		    config_strategy_name(cfg->strategy),
		    cfg->strategy == STRATEGY_AUTO ? " -> " : "",
		    cfg->strategy == STRATEGY_AUTO ? config_strategy_name(
		    reg_strategy_in_use(db, cfg)) : "");
		return (0);
	}
	if ((why = db_refusal(db_errno(db))) != NULL) {
		printf("regonce: configuration refused by the database: %s; "
		    "error %u: %s\n", why, db_errno(db), db_error(db));
		return (EXIT_DB_REFUSED);
	}
	/* Not 1: a pool may start while the database is down. */
	printf("regonce: configuration ok; database error %u: %s\n",
	    db_errno(db), db_error(db));
	return (EXIT_DB_DOWN);
}

/*
 * -t: can the workers use path (a file or folder they share) with mode,
 * or create it in its folder? 0, or why not (an errno; ENOENT: its
 * folder is missing or cannot be written). An empty path is unused.
 */
static int
main_unusable(const char *path, int mode)
{
	char	dir[PATH_MAX];

	if (path[0] == '\0' || access(path, mode) == 0)
		return (0);
	if (errno != ENOENT)
		return (errno);
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return (ENAMETOOLONG);
	return (access(dirname(dir), W_OK | X_OK) == 0 ? 0 : errno);
}

/*
 * -t: does the config load, can the log be written, does the DB answer?
 * Exit 0 yes; 1 the configuration or the log is wrong; 4 the database
 * refuses it; 3 only the database is unreachable.
 */
static int
main_check(const struct config *cfg)
{
	struct db	*db;
	char		 dir[PATH_MAX];
	int		 rc = 0, fd, err;

	/* Checked, never created: -t run as root must not leave a root-owned
	 * log file that the workers then cannot open. */
	if (cfg->log_file[0] != '\0' && strcmp(cfg->log_file, "-") != 0) {
		fd = open(cfg->log_file, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd == -1 && errno == ENOENT &&
		    snprintf(dir, sizeof(dir), "%s", cfg->log_file) <
		    (int)sizeof(dir) && access(dirname(dir), W_OK | X_OK) == 0)
			printf("regonce: log_file %s will be created\n",
			    cfg->log_file);
		else if (fd == -1) {
			main_check_log_dir(cfg->log_file);
			return (1);
		} else
			close(fd);
	} else if (cfg->log_file[0] == '\0' && access("/dev/log", W_OK) != 0)
		printf("regonce: log_file is empty (syslog) but /dev/log is "
		    "missing: the workers log to stderr instead\n");
	/* Not fatal: without them the pool serves, with no metrics or no
	 * cap on hashes. */
	if ((err = main_unusable(cfg->metrics_file, R_OK | W_OK)) != 0)
		printf("regonce: metrics_file %s cannot be %s: %s; metrics will "
		    "be off\n", cfg->metrics_file, err == ENOENT ? "created" :
		    "written", strerror(err));
	if ((err = main_unusable(cfg->hash_cap_dir, R_OK | W_OK | X_OK)) != 0)
		printf("regonce: hash_cap_dir %s cannot be %s: %s; password "
		    "hashes will run uncapped\n", cfg->hash_cap_dir,
		    err == ENOENT ? "created" : "used", strerror(err));
	if (geteuid() == 0)
		printf("regonce: checked as root; the workers run as another "
		    "user: check as that user too\n");
	db = reg_store_new(cfg);
	rc = main_check_db(db, cfg);
	db_free(db);
	return (rc);
}

/*
 * End a request. libfcgi closes the connection with a "lingering" close:
 * shutdown, then wait (up to 2 s) for the web server to hang up, so that
 * unread input cannot turn into a reset that loses the answer. Each
 * request would hold its worker for that wait. When the input was read
 * to its end nothing unread is left, so the request is detached
 * (FCGX_Detach) and libfcgi closes the socket at once. Whether it was is
 * asked without waiting: the socket is non-blocking for that one read,
 * so a body still on its way (Apache streams it) is never waited for;
 * such a request keeps the lingering close.
 */
static void
main_finish(FCGX_Request *req)
{
	int	flags, c, err;

	if (req->in != NULL &&
	    (flags = fcntl(req->ipcFd, F_GETFL)) != -1 &&
	    fcntl(req->ipcFd, F_SETFL, flags | O_NONBLOCK) == 0) {
		c = FCGX_GetChar(req->in);
		err = FCGX_GetError(req->in);
		(void)fcntl(req->ipcFd, F_SETFL, flags);
		if (c == EOF && err == 0)
			FCGX_Detach(req);
	}
	FCGX_Finish_r(req);
}

/*
 * The worker accepts each connection itself, so that it can give it a
 * read timeout (fcgi_read_timeout_ms) before libfcgi reads a byte: a web
 * server that stalls mid-record would otherwise hold the worker for good.
 * (A timeout set on the listening socket does not reach the sockets
 * accept() returns for AF_UNIX; Linux copies it for TCP only.)
 * FCGX_Accept_r then reads the request from req->ipcFd; keepConnection
 * stops it from closing that fd first. A connection kept alive by the
 * web server (FCGI_KEEP_CONN) is read again, under the same timeout.
 * Returns 0, or a negative errno.
 */
static int
main_accept(FCGX_Request *req, unsigned int timeout_ms)
{
	struct timeval	tv;
	int		fd;

	if (req->ipcFd >= 0)
		return (0);
	if ((fd = accept(0, NULL, NULL)) == -1)
		return (-errno);
	tv.tv_sec = (time_t)(timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1) {
		log_error("setsockopt(SO_RCVTIMEO): %s", strerror(errno));
		close(fd);
		return (-EPROTO);
	}
	req->ipcFd = fd;
	req->keepConnection = 1;
	return (0);
}

/*
 * Does the environment name a database? Then it configures the worker
 * even without a file, as before config_find existed.
 */
static int
main_env_configures(void)
{
	static const char *const names[] = { "REGONCE_DB_SOCKET",
	    "REGONCE_DB_HOST", "REGONCE_DB_USER", "REGONCE_DB_NAME",
	    "REGONCE_DB_PASSWORD" };
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (getenv(names[i]) != NULL)
			return (1);
	return (0);
}

/*
 * A worker that found no usable configuration (config_find.c) does not
 * exit, which under mod_fcgid would only restart it and leave the
 * customer an Apache 500 and a line in a log they cannot read. It says
 * why in regonce-error.log beside the executable (else on stderr, the
 * web server's error log) and answers every request JSON 500
 * not_configured; the body does not carry the reason, which may name
 * paths and values.
 */
static int
main_unconfigured(const char *reason)
{
	static char	log_path[PATH_MAX];
	char		dir[PATH_MAX];
	struct resp_detail detail;
	FCGX_Request	req;
	sigset_t	stop_set;
	unsigned long	served = 0;
	int		fd;

	if (geteuid() == 0)
		main_die("refusing to run as root (%s)", reason);
	if (FCGX_IsCGI())
		main_die("%s", reason);
	if (config_exe_dir(dir, sizeof(dir)) != NULL &&
	    snprintf(log_path, sizeof(log_path), "%s/regonce-error.log",
	    dir) < (int)sizeof(log_path) &&
	    (fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) != -1) {
		close(fd);
		log_open(log_path, LOG_LEVEL_INFO);
	} else
		log_open("-", LOG_LEVEL_INFO);
	log_error("not configured: %s; every request is answered 500 "
	    "not_configured until that is fixed and the worker restarted",
	    reason);
	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		fatalx("FCGX_Init failed");
	main_signals(&stop_set);
	memset(&detail, 0, sizeof(detail));
	while (!stop_requested && FCGX_Accept_r(&req) >= 0) {
		served++;
		req_send(&req, RESP_NOT_CONFIGURED, &detail);
		main_finish(&req);
	}
	log_info("unconfigured worker stopping after %lu requests", served);
	return (0);
}

/*
 * The worker's first connect. A database that is down now is retried per
 * request, not fatal. One that refuses this configuration (1045, 1044,
 * 1049, a missing grant) would refuse every request: the worker does not
 * start, says why in the log, on stderr and to syslog, and exits
 * EXIT_DB_REFUSED, which regonce-spawn's supervisor takes as "give up".
 */
static void
main_db_start(struct db *db, const struct config *cfg)
{
	const char	*why;

	if (db_connect(db) == DB_OK)
		return;
	if ((why = db_refusal(db_errno(db))) == NULL) {
		log_warn("db_connect(%s): error %u: %s; retrying per request",
		    cfg->db_name, db_errno(db), db_error(db));
		return;
	}
	log_error("not starting: the database refuses this configuration: "
	    "%s; error %u: %s", why, db_errno(db), db_error(db));
	fprintf(stderr, "regonce: not starting: the database refuses this "
	    "configuration: %s; error %u: %s\n", why, db_errno(db),
	    db_error(db));
	/* An empty log_file is syslog: log_error said it there already. */
	if (cfg->log_file[0] != '\0') {
		openlog("regonce", LOG_PID, LOG_DAEMON);
		syslog(LOG_ERR, "not starting: the database refuses this "
		    "configuration: %s; error %u: %s", why, db_errno(db),
		    db_error(db));
		closelog();
	}
	exit(EXIT_DB_REFUSED);
}

int
main(int argc, char *argv[])
{
	struct config	 cfg;
	FCGX_Request	 req;
	struct db	*db;
	sigset_t	 stop_set;
	const char	*path = getenv("REGONCE_CONF");
	char		 err[CONFIG_ERR_MAX], found[PATH_MAX];
	const char	*unusable = NULL;
	int		 looked = 0;
	unsigned long	 served = 0;
	time_t		 last_purge = 0;
	int		 ch, check_only = 0, dump_only = 0, key_made, rc;
	static const struct option long_options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};

	while ((ch = getopt_long(argc, argv, "c:tThV", long_options,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check_only = 1;
			break;
		case 'T':
			dump_only = 1;
			break;
		case 'h':
			main_usage(stdout, 0);
		case 'V':
			printf("regonce %s\n", PACKAGE_VERSION);
			return (0);
		default:
			main_usage(stderr, 2);
		}
	}
	if (optind != argc)
		main_usage(stderr, 2);
	if (path != NULL && *path == '\0')
		path = NULL;
	/* Nobody said where: look beside the executable (config_find.c). */
	if (path == NULL && !main_env_configures()) {
		looked = 1;
		if (config_find(found, sizeof(found)) == 0)
			path = found;
		else if (!check_only && !dump_only)
			unusable = found;
	}
	if (unusable == NULL && config_load(&cfg, path, CONFIG_ALL, err,
	    sizeof(err)) == -1) {
		if (check_only || dump_only) {
			fprintf(stderr, "regonce: %s\n", err);
			return (1);
		}
		if (!looked)
			main_die("%s", err);
		unusable = err;
	}
	if (unusable != NULL)
		return (main_unconfigured(unusable));
	/* -T, like sshd -T: what the worker would run with, defaults included. */
	if (dump_only) {
		config_dump(&cfg, stdout);
		return (fflush(stdout) == 0 ? 0 : 1);
	}
	if (mysql_library_init(0, NULL, NULL) != 0) {
		fprintf(stderr, "regonce: mysql_library_init failed\n");
		return (1);
	}
	if (check_only)
		return (main_check(&cfg));
	/* A worker parses what strangers send: never with root's rights. */
	if (geteuid() == 0)
		main_die("refusing to run as root; have spawn-fcgi drop "
		    "privileges (-u, see regonce-spawn)");
	if (FCGX_IsCGI())
		main_die("fd 0 is not a FastCGI listening socket; start me "
		    "with spawn-fcgi (see regonce-spawn)");

	/*
	 * The fingerprint's secret, read once and kept in memory only. A
	 * worker configured by lookup (shared hosting: nobody else to make
	 * it) makes a missing key itself, and one whose key will not do
	 * answers not_configured rather than exit into a restart loop.
	 */
	key_made = 0;
	if (cfg.idempotency != IDEM_MODE_OFF && looked)
		key_made = req_fingerprint_key_make(cfg.fingerprint_key_file,
		    err, sizeof(err));
	if (cfg.idempotency != IDEM_MODE_OFF && (key_made == -1 ||
	    req_fingerprint_key_load(cfg.fingerprint_key_file, err,
	    sizeof(err)) == -1)) {
		if (looked)
			return (main_unconfigured(err));
		main_die("%s (idempotency = off needs no key)", err);
	}
	log_open(cfg.log_file, cfg.log_level);
	if (key_made == 1)
		log_info("fingerprint_key_file %s was missing: made a new key",
		    cfg.fingerprint_key_file);
#ifdef REGONCE_TEST_BUILD
	test_build_warn(&cfg);
#endif
	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");
	main_signals(&stop_set);
	/* No listening socket for libfcgi: main_accept() accepts (above). */
	if (FCGX_InitRequest(&req, -1, 0) != 0)
		fatalx("FCGX_InitRequest failed");

	/* Off (logged) if the file cannot be used: not worth refusing to serve. */
	metrics_open(cfg.metrics_file);
	db = reg_store_new(&cfg);
	/* Under a connection cap or idle release, connect when needed. */
	if (cfg.db_max_connections == 0 && cfg.db_idle_release_ms == 0)
		main_db_start(db, &cfg);
	log_info("worker started: strategy %s, database %s",
	    config_strategy_name(cfg.strategy), cfg.db_name);

	/*
	 * Stop signals are blocked while a request is handled, so they
	 * cannot cut a DB call short; they land only around accept.
	 */
	sigprocmask(SIG_BLOCK, &stop_set, NULL);
	for (;;) {
		sigprocmask(SIG_UNBLOCK, &stop_set, NULL);
		if (stop_requested)
			break;
		/* Idle: let the connection go when configured to. */
		db_idle(db, req.ipcFd >= 0 ? req.ipcFd : 0);
		if (stop_requested)
			break;
		if ((rc = main_accept(&req, cfg.fcgi_read_timeout_ms)) == 0)
			rc = FCGX_Accept_r(&req);
		sigprocmask(SIG_BLOCK, &stop_set, NULL);
		/*
		 * A connection that broke, stalled past the timeout or sent a
		 * bad record before its request was whole: libfcgi closed it
		 * and, having no listening socket, says EBADF. A signal or a
		 * client gone before accept: go round too.
		 */
		if (rc == -EBADF || rc == -EINTR || rc == -ECONNABORTED ||
		    rc == -EPROTO) {
			if (rc == -EBADF)
				log_info("dropped a FastCGI connection before "
				    "its request was whole");
			continue;
		}
		/* Accept_r returns a negative errno, not only -1. */
		if (rc < 0) {
			if (!stop_requested)
				log_error("FCGX_Accept_r: %d", rc);
			break;
		}
		if (reopen_requested) {
			reopen_requested = 0;
			log_reopen();
		}
		log_set_request(++served);
		req_handle(&req, db, &cfg);
		main_finish(&req);
		log_set_request(0);
		/* Expired Idempotency-Keys go between requests, once a minute. */
		if (time(NULL) - last_purge >= IDEM_PURGE_EVERY_S) {
			idem_purge(db, &cfg);
			last_purge = time(NULL);
		}
	}
	log_info("worker stopping after %lu requests", served);
	metrics_close();
	db_free(db);
	mysql_library_end();
	return (0);
}
