/* Unit tests for config.c: defaults, each key's checks, file and env. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "app.h"

struct set_case {
	const char	*key;
	const char	*value;
	const char	*error;		/* NULL: accepted; else a substring */
};

static const struct set_case set_cases[] = {
	{ "db_port", "3307", NULL },
	{ "db_port", "70000", "db_port is too large: '70000'" },
	{ "db_port", "0", "db_port is too small" },
	{ "db_port", "-1", "db_port is not a whole number" },
	{ "db_port", "33o6", "db_port is not a whole number" },
	{ "db_port", "", "db_port is not a whole number" },
	{ "db_port", "99999999999999999999999", "db_port is too large" },
	{ "lock_timeout_ms", "1500", NULL },
	{ "lock_timeout_ms", "0", "lock_timeout_ms is too small" },
	{ "strategy", "unique", NULL },
	{ "strategy", "named_lock_compound", NULL },
	{ "strategy", "auto", NULL },
	{ "strategy", "redis", "strategy is not one of named_lock, unique, named_lock_compound, auto: 'redis'" },
	/* The negative controls live only in tests/regonce-test. */
	{ "strategy", "naive", "strategy is not one of named_lock, unique, named_lock_compound, auto: 'naive'" },
	{ "naive_delay_ms", "10", "unknown key 'naive_delay_ms'" },
	{ "db_isolation", "repeatable_read", "unknown key 'db_isolation'" },
	{ "log_level", "debug", NULL },
	{ "log_level", "loud", "log_level is not one of" },
	{ "max_body_bytes", "1048577", "max_body_bytes is too large" },
	{ "argon2_memory_kib", "4", "argon2_memory_kib is too small" },
	{ "password_min_length", "0", "password_min_length is too small" },
	{ "no_such_key", "1", "unknown key 'no_such_key'" },
	{ "db_name", "a-name-that-is-far-too-long-for-mariadb-to-accept-as-a-"
	    "database-name", "db_name is too long" },
};

/* Each row: accepted, or refused with a message naming the key. */
static void
test_config_set_table(void **state)
{
	struct config	cfg;
	char		err[CONFIG_ERR_MAX];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(set_cases) / sizeof(set_cases[0]); i++) {
		const struct set_case *c = &set_cases[i];
		int rc;

		config_defaults(&cfg);
		err[0] = '\0';
		rc = config_set(&cfg, c->key, c->value, err, sizeof(err));
		if (c->error == NULL) {
			if (rc != 0)
				fail_msg("%s=%s refused: %s", c->key, c->value,
				    err);
		} else if (rc != -1 || strstr(err, c->error) == NULL)
			fail_msg("%s=%s: want '%s', got rc %d '%s'", c->key,
			    c->value, c->error, rc, err);
	}
}

/* The defaults are the documented ones. */
static void
test_config_defaults(void **state)
{
	struct config	cfg;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.strategy, STRATEGY_AUTO);
	assert_int_equal(cfg.lock_timeout_ms, 3000);
	assert_int_equal(cfg.db_timeout_s, 10);
	assert_int_equal(cfg.max_body_bytes, 16384);
	assert_int_equal(cfg.argon2_memory_kib, 19456);
	assert_int_equal(cfg.argon2_iterations, 2);
	assert_int_equal(cfg.argon2_parallelism, 1);
	assert_int_equal(cfg.password_min_length, 8);
	assert_string_equal(cfg.base_path, "");
	assert_string_equal(cfg.db_name, "regonce");
}

/* Write text to a fresh temporary file; returns its path. */
static char *
write_temp(const char *text)
{
	static char	path[64];
	int		fd;

	snprintf(path, sizeof(path), "/tmp/regonce-test-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return (path);
}

/* A file sets keys; a bad line is reported with its number. */
static void
test_config_file(void **state)
{
	struct config	 cfg;
	char		 err[CONFIG_ERR_MAX];
	char		*path;

	(void)state;
	path = write_temp("# comment\n\n  db_name = other \n"
	    "lock_timeout_ms=1200\nbase_path = /api\n");
	assert_int_equal(config_load(&cfg, path, CONFIG_ALL, err,
	    sizeof(err)), 0);
	assert_string_equal(cfg.db_name, "other");
	assert_int_equal(cfg.lock_timeout_ms, 1200);
	assert_string_equal(cfg.base_path, "/api");
	unlink(path);

	path = write_temp("db_name = x\ndb_port = 70000\n");
	assert_int_equal(config_load(&cfg, path, CONFIG_ALL, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, ":2: db_port is too large"));
	unlink(path);

	path = write_temp("just words\n");
	assert_int_equal(config_load(&cfg, path, CONFIG_ALL, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: expected 'key = value'"));
	unlink(path);

	assert_int_equal(config_load(&cfg, "/nonexistent/regonce.conf",
	    CONFIG_ALL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
}

/*
 * CONFIG_DB_ONLY (regonce-replay --db-conf): a worker's file, even a test
 * worker's, gives its db_* keys; the others are not read, so neither a key
 * this build lacks nor a bad value of one stops the tool. The db_* keys,
 * the file's mode and the environment are checked as for the worker.
 */
static void
test_config_db_only(void **state)
{
	struct config	 cfg;
	char		 err[CONFIG_ERR_MAX];
	char		*path;

	(void)state;
	path = write_temp("strategy = naive\ndb_isolation = repeatable_read\n"
	    "lock_timeout_ms = lots\ndb_name = shop\ndb_port = 3307\n");
	assert_int_equal(config_load(&cfg, path, CONFIG_ALL, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: strategy is not one of"));
	assert_int_equal(config_load(&cfg, path, CONFIG_DB_ONLY, err,
	    sizeof(err)), 0);
	assert_string_equal(cfg.db_name, "shop");
	assert_int_equal(cfg.db_port, 3307);
	assert_int_equal(cfg.lock_timeout_ms, 3000);
	setenv("REGONCE_DB_NAME", "other", 1);
	assert_int_equal(config_load(&cfg, path, CONFIG_DB_ONLY, err,
	    sizeof(err)), 0);
	assert_string_equal(cfg.db_name, "other");
	unsetenv("REGONCE_DB_NAME");
	unlink(path);

	path = write_temp("strategy = naive\ndb_port = 0\n");
	assert_int_equal(config_load(&cfg, path, CONFIG_DB_ONLY, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, ":2: db_port is too small"));
	unlink(path);

	path = write_temp("db_password = s3cret\n");
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(&cfg, path, CONFIG_DB_ONLY, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "readable by others"));
	unlink(path);
}

/* A file holding a password must not be world-readable. */
static void
test_config_password_file_mode(void **state)
{
	struct config	 cfg;
	char		 err[CONFIG_ERR_MAX];
	char		*path;

	(void)state;
	path = write_temp("db_password = s3cret\n");
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(&cfg, path, CONFIG_ALL, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "readable by others"));
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(config_load(&cfg, path, CONFIG_ALL, err,
	    sizeof(err)), 0);
	assert_string_equal(cfg.db_password, "s3cret");
	unlink(path);
	/* The documented way through, said in the file itself. */
	path = write_temp("db_password = s3cret\ndb_password_readable = yes\n");
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(&cfg, path, CONFIG_ALL, err,
	    sizeof(err)), 0);
	assert_int_equal(config_load(&cfg, path, CONFIG_DB_ONLY, err,
	    sizeof(err)), 0);
	unlink(path);
	/* Without a password the mode does not matter. */
	path = write_temp("db_name = x\n");
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(&cfg, path, CONFIG_ALL, err,
	    sizeof(err)), 0);
	unlink(path);
}

/* metrics_allow: addresses and blocks, IPv4 and IPv6, fails closed. */
static void
test_config_metrics_allow(void **state)
{
	struct config	 cfg;
	char		 err[CONFIG_ERR_MAX];
	char		 bad[64];

	(void)state;
	config_defaults(&cfg);
	assert_true(addr_allowed(cfg.metrics_allow, "127.0.0.1"));
	assert_true(addr_allowed(cfg.metrics_allow, "127.9.8.7"));
	assert_true(addr_allowed(cfg.metrics_allow, "::1"));
	assert_true(addr_allowed(cfg.metrics_allow, "::ffff:127.0.0.2"));
	assert_false(addr_allowed(cfg.metrics_allow, "128.0.0.1"));
	assert_false(addr_allowed(cfg.metrics_allow, "::2"));
	assert_false(addr_allowed(cfg.metrics_allow, NULL));
	assert_false(addr_allowed(cfg.metrics_allow, "localhost"));
	assert_true(addr_allowed("10.0.0.0/9,2001:db8::/32", "10.127.0.1"));
	assert_false(addr_allowed("10.0.0.0/9,2001:db8::/32", "10.128.0.1"));
	assert_true(addr_allowed("10.0.0.0/9 2001:db8::/32", "2001:db8:1::5"));
	assert_false(addr_allowed("10.0.0.0/9 2001:db8::/32", "2001:db9::5"));
	assert_true(addr_allowed("0.0.0.0/0", "192.0.2.1"));
	assert_false(addr_allowed("", "127.0.0.1"));
	assert_int_equal(addr_list_check("10.0.0.0/33", bad, sizeof(bad)), -1);
	assert_string_equal(bad, "10.0.0.0/33");
	assert_int_equal(addr_list_check("::1, 1.2.3.4/x", bad, sizeof(bad)),
	    -1);
	assert_string_equal(bad, "1.2.3.4/x");
	assert_int_equal(config_set(&cfg, "metrics_allow", "127.0.0.1 bogus",
	    err, sizeof(err)), 0);
	assert_int_equal(config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "metrics_allow: 'bogus'"));
}

/* A file's relative paths are taken from its folder; absolute stay. */
static void
test_config_rebase(void **state)
{
	struct config	 cfg;

	(void)state;
	config_defaults(&cfg);
	snprintf(cfg.log_file, sizeof(cfg.log_file), "private/x.log");
	snprintf(cfg.metrics_file, sizeof(cfg.metrics_file), "/run/m");
	snprintf(cfg.db_cap_dir, sizeof(cfg.db_cap_dir), "cap");
	config_rebase(&cfg, "/tmp/site.conf");
	assert_string_equal(cfg.log_file, "/tmp/private/x.log");
	assert_string_equal(cfg.metrics_file, "/run/m");
	assert_string_equal(cfg.db_cap_dir, "/tmp/cap");
	snprintf(cfg.log_file, sizeof(cfg.log_file), "-");
	config_rebase(&cfg, "/tmp/site.conf");
	assert_string_equal(cfg.log_file, "-");
}

/* REGONCE_<KEY> beats the file; a bad one names the variable. */
static void
test_config_env(void **state)
{
	struct config	 cfg;
	char		 err[CONFIG_ERR_MAX];
	char		*path;

	(void)state;
	path = write_temp("argon2_memory_kib = 1024\n");
	setenv("REGONCE_ARGON2_MEMORY_KIB", "64", 1);
	assert_int_equal(config_load(&cfg, path, CONFIG_ALL, err,
	    sizeof(err)), 0);
	assert_int_equal(cfg.argon2_memory_kib, 64);
	setenv("REGONCE_ARGON2_MEMORY_KIB", "lots", 1);
	assert_int_equal(config_load(&cfg, path, CONFIG_ALL, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "REGONCE_ARGON2_MEMORY_KIB: "
	    "argon2_memory_kib is not a whole number"));
	unsetenv("REGONCE_ARGON2_MEMORY_KIB");
	unlink(path);
}

/* Values that only clash together: timeouts must nest, paths be clean. */
static void
test_config_check(void **state)
{
	struct config	cfg;
	char		err[CONFIG_ERR_MAX];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_check(&cfg, err, sizeof(err)), 0);
	cfg.lock_timeout_ms = 10000;
	assert_int_equal(config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "lock_timeout_ms (10000) must be below "
	    "db_timeout_s"));
	config_defaults(&cfg);
	strcpy(cfg.base_path, "/api/");
	assert_int_equal(config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "base_path"));
	config_defaults(&cfg);
	cfg.argon2_parallelism = 4;
	cfg.argon2_memory_kib = 16;
	assert_int_equal(config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "argon2_memory_kib"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_set_table),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_config_db_only),
		cmocka_unit_test(test_config_password_file_mode),
		cmocka_unit_test(test_config_metrics_allow),
		cmocka_unit_test(test_config_rebase),
		cmocka_unit_test(test_config_env),
		cmocka_unit_test(test_config_check),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
