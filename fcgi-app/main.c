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
		    "(strategy %s)\n", cfg->db_name,
		    config_strategy_name(cfg->strategy));
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
 * -t: does the config load, can the log be written, does the DB answer?
 * Exit 0 yes; 1 the configuration or the log is wrong; 4 the database
 * refuses it; 3 only the database is unreachable.
 */
static int
main_check(const struct config *cfg)
{
	struct db	*db;
	char		 dir[PATH_MAX];
	int		 rc = 0, fd;

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
	/* Not fatal: without it the pool serves, with no metrics. */
	if (cfg->metrics_file[0] != '\0' && access(cfg->metrics_file,
	    R_OK | W_OK) != 0 && (errno != ENOENT ||
	    snprintf(dir, sizeof(dir), "%s", cfg->metrics_file) >=
	    (int)sizeof(dir) || access(dirname(dir), W_OK | X_OK) != 0))
		printf("regonce: metrics_file %s cannot be %s: %s; metrics will "
		    "be off\n", cfg->metrics_file, errno == ENOENT ? "created" :
		    "written", strerror(errno));
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
	char		 err[CONFIG_ERR_MAX];
	unsigned long	 served = 0;
	time_t		 last_purge = 0;
	int		 ch, check_only = 0, dump_only = 0, rc;
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
	if (config_load(&cfg, path, CONFIG_ALL, err, sizeof(err)) == -1) {
		if (check_only || dump_only) {
			fprintf(stderr, "regonce: %s\n", err);
			return (1);
		}
		main_die("%s", err);
	}
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

	log_open(cfg.log_file, cfg.log_level);
#ifdef REGONCE_TEST_BUILD
	test_build_warn(&cfg);
#endif
	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");
	main_signals(&stop_set);
	if (FCGX_InitRequest(&req, 0, 0) != 0)
		fatalx("FCGX_InitRequest failed");

	/* Off (logged) if the file cannot be used: not worth refusing to serve. */
	metrics_open(cfg.metrics_file);
	db = reg_store_new(&cfg);
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
		rc = FCGX_Accept_r(&req);
		sigprocmask(SIG_BLOCK, &stop_set, NULL);
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
