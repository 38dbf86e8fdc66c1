/*
 * regonce worker: start-up (config, log, database), signals and the
 * FastCGI accept loop. spawn-fcgi hands each worker the listening socket
 * as fd 0 and forks the pool; every worker has its own DB connection.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fcgiapp.h>
#include <getopt.h>
#include <mysql.h>
#include <signal.h>
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

static volatile sig_atomic_t	stop_requested;

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

/* -t: report whether the config loads, the log opens, the DB answers. */
static int
main_check(const struct config *cfg)
{
	struct db	*db;
	int		 rc = 0, fd;

	if (cfg->log_file[0] != '\0' && strcmp(cfg->log_file, "-") != 0) {
		fd = open(cfg->log_file, O_WRONLY | O_APPEND | O_CREAT, 0640);
		if (fd == -1) {
			printf("regonce: log_file %s: %s\n", cfg->log_file,
			    strerror(errno));
			return (1);
		}
		close(fd);
	}
	db = db_new(cfg);
	if (db_connect(db) == DB_OK)
		printf("regonce: configuration ok; database %s answers "
		    "(strategy %s)\n", cfg->db_name,
		    config_strategy_name(cfg->strategy));
	else {
		printf("regonce: configuration ok; database error %u: %s\n",
		    db_errno(db), db_error(db));
		rc = 1;
	}
	db_free(db);
	return (rc);
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
	if (config_load(&cfg, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "regonce: %s\n", err);
		return (1);
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
	if (geteuid() == 0) {
		fprintf(stderr, "regonce: refusing to run as root; have "
		    "spawn-fcgi drop privileges (-u, see conf/regonce-spawn)\n");
		return (1);
	}
	if (FCGX_IsCGI()) {
		fprintf(stderr, "regonce: fd 0 is not a FastCGI listening "
		    "socket; start me with spawn-fcgi (see conf/)\n");
		return (1);
	}

	log_open(cfg.log_file, cfg.log_level);
#ifdef REGONCE_TEST_BUILD
	test_build_warn(&cfg);
#endif
	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");
	main_signals(&stop_set);
	if (FCGX_InitRequest(&req, 0, 0) != 0)
		fatalx("FCGX_InitRequest failed");

	db = db_new(&cfg);
	/* A database that is down now is retried per request, not fatal. */
	if (db_connect(db) != DB_OK)
		log_warn("db_connect(%s): error %u: %s; retrying per request",
		    cfg.db_name, db_errno(db), db_error(db));
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
		log_set_request(++served);
		req_handle(&req, db, &cfg);
		FCGX_Finish_r(&req);
		log_set_request(0);
		/* Expired Idempotency-Keys go between requests, once a minute. */
		if (time(NULL) - last_purge >= IDEM_PURGE_EVERY_S) {
			idem_purge(db, &cfg);
			last_purge = time(NULL);
		}
	}
	log_info("worker stopping after %lu requests", served);
	db_free(db);
	mysql_library_end();
	return (0);
}
