/*
 * Configuration: defaults, then a "key = value" file, then REGONCE_<KEY>
 * environment variables. Read once at start-up; every value is checked and
 * a bad one is reported with the key (and file line) that carried it.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"

enum key_type { KEY_STRING, KEY_UINT, KEY_CHOICE };

struct config_key {
	const char		*name;
	enum key_type		 type;
	size_t			 offset;
	size_t			 size;		/* KEY_STRING: buffer size */
	unsigned long		 min, max;	/* KEY_UINT */
	const char *const	*choices;	/* KEY_CHOICE: NULL-ended */
	const char		*value;		/* the default, parsed as any */
};

/* A choice is stored as its index in an int-sized enum or int field. */
_Static_assert(sizeof(enum reg_strategy) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum idem_mode) == sizeof(int), "enum size");

/*
 * The installed worker knows only the strategies that are safe; the
 * negative controls (strategy naive, db_isolation, naive_delay_ms) exist
 * only in the test build, tests/regonce-test: see tests/hooks.h.
 */
static const char *const strategy_names[] = {
	[STRATEGY_NAMED_LOCK] = "named_lock",
	[STRATEGY_UNIQUE] = "unique",
	[STRATEGY_NAMED_LOCK_COMPOUND] = "named_lock_compound",
	[STRATEGY_AUTO] = "auto",
#ifdef REGONCE_TEST_BUILD
	[STRATEGY_NAIVE] = "naive",
#endif
	NULL
};

#ifdef REGONCE_TEST_BUILD
static const char *const isolation_names[] = {
	"read_committed",
	"repeatable_read",
	NULL
};
#endif

static const char *const idem_mode_names[] = {
	[IDEM_MODE_OFF] = "off",
	[IDEM_MODE_OPTIONAL] = "optional",
	[IDEM_MODE_REQUIRED] = "required",
	NULL
};

static const char *const no_yes_names[] = { "no", "yes", NULL };

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
	NULL
};

#define STR(field, def) KEY_STRING, offsetof(struct config, field), \
	sizeof(((struct config *)0)->field), 0, 0, NULL, def
#define NUM(field, lo, hi, def) KEY_UINT, offsetof(struct config, field), \
	0, lo, hi, NULL, def
#define ONE_OF(field, names, def) KEY_CHOICE, \
	offsetof(struct config, field), 0, 0, 0, names, def

/* Every key regonce knows; conf/regonce.conf.example documents each one. */
static const struct config_key config_keys[] = {
	{ "db_socket",		 STR(db_socket, "/run/mysqld/mysqld.sock") },
	{ "db_host",		 STR(db_host, "localhost") },
	{ "db_port",		 NUM(db_port, 1, 65535, "3306") },
	{ "db_user",		 STR(db_user, "regonce") },
	{ "db_password",	 STR(db_password, "") },
	{ "db_name",		 STR(db_name, "regonce") },
	{ "db_connect_timeout_s", NUM(db_connect_timeout_s, 1, 60, "3") },
	{ "db_timeout_s",	 NUM(db_timeout_s, 1, 3600, "10") },
	{ "strategy",		 ONE_OF(strategy, strategy_names, "auto") },
	{ "lock_timeout_ms",	 NUM(lock_timeout_ms, 1, 3600000, "3000") },
	{ "request_timeout_ms",	 NUM(request_timeout_ms, 100, 3600000, "25000") },
	{ "web_timeout_s",	 NUM(web_timeout_s, 1, 3600, "30") },
	{ "retry_max",		 NUM(retry_max, 1, 10, "3") },
	{ "max_body_bytes",	 NUM(max_body_bytes, 64, 1048576, "16384") },
	{ "argon2_memory_kib",	 NUM(argon2_memory_kib, 8, 4194304, "19456") },
	{ "argon2_iterations",	 NUM(argon2_iterations, 1, 100, "2") },
	{ "argon2_parallelism",	 NUM(argon2_parallelism, 1, 64, "1") },
	{ "password_min_length", NUM(password_min_length, 1, 1024, "8") },
	{ "hash_cap_dir",	 STR(hash_cap_dir, "") },
	{ "base_path",		 STR(base_path, "") },
	{ "log_level",		 ONE_OF(log_level, log_level_names, "info") },
	{ "log_file",		 STR(log_file, "") },
	{ "idempotency",	 ONE_OF(idempotency, idem_mode_names,
				    "optional") },
	{ "idempotency_ttl_s",	 NUM(idempotency_ttl_s, 60, 31536000, "86400") },
	{ "idempotency_max_keys", NUM(idempotency_max_keys, 1, 100000000,
				    "100000") },
	{ "fingerprint_key_file", STR(fingerprint_key_file,
				    "/etc/regonce/fingerprint.key") },
	{ "metrics_file",	 STR(metrics_file, "") },
	{ "fcgi_read_timeout_ms", NUM(fcgi_read_timeout_ms, 100, 3600000,
				    "5000") },
	{ "metrics_allow",	 STR(metrics_allow, "127.0.0.0/8, ::1") },
	{ "db_max_connections",	 NUM(db_max_connections, 0, 10000, "0") },
	{ "db_cap_dir",		 STR(db_cap_dir, "") },
	{ "db_idle_release_ms",	 NUM(db_idle_release_ms, 0, 86400000, "0") },
	{ "db_password_readable", ONE_OF(db_password_readable, no_yes_names,
				    "no") },
#ifdef REGONCE_TEST_BUILD
	{ "db_isolation",	 ONE_OF(db_repeatable_read, isolation_names,
				    "read_committed") },
	{ "naive_delay_ms",	 NUM(naive_delay_ms, 0, 10000, "0") },
#endif
};

/* Write a formatted message into the caller's error buffer. */
static int PRINTFLIKE(3, 4)
config_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return (-1);
}

/* Set a choice key: its value must be one of the key's names. */
static int
config_set_choice(const struct config_key *ck, int *field, const char *value,
    char *err, size_t errlen)
{
	size_t	i, used;

	for (i = 0; ck->choices[i] != NULL; i++)
		if (strcmp(ck->choices[i], value) == 0) {
			*field = (int)i;
			return (0);
		}
	used = (size_t)snprintf(err, errlen, "%s is not one of", ck->name);
	for (i = 0; ck->choices[i] != NULL && used < errlen; i++)
		used += (size_t)snprintf(err + used, errlen - used, "%s %s",
		    i ? "," : "", ck->choices[i]);
	if (used < errlen)
		snprintf(err + used, errlen - used, ": '%s'", value);
	return (-1);
}

/* Parse an unsigned decimal within [min, max]: no sign, no junk, no atoi. */
static int
config_parse_uint(const char *value, unsigned long min, unsigned long max,
    unsigned long *out, const char **why)
{
	char		*end;
	unsigned long	 number;

	if (!isdigit((unsigned char)value[0])) {
		*why = "not a whole number";
		return (-1);
	}
	errno = 0;
	number = strtoul(value, &end, 10);
	if (*end != '\0') {
		*why = "not a whole number";
		return (-1);
	}
	if (errno == ERANGE || number > max) {
		*why = "too large";
		return (-1);
	}
	if (number < min) {
		*why = "too small";
		return (-1);
	}
	*out = number;
	return (0);
}

/* Name of a strategy, as written in the config. */
const char *
config_strategy_name(enum reg_strategy strategy)
{
	return (strategy_names[strategy]);
}

/* The table entry of a key, or NULL. */
static const struct config_key *
config_key_find(const char *key)
{
	size_t	i;

	for (i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++)
		if (strcmp(config_keys[i].name, key) == 0)
			return (&config_keys[i]);
	return (NULL);
}

/* Set one key from its text; on error name the key and the bad value. */
int
config_set(struct config *cfg, const char *key, const char *value, char *err,
    size_t errlen)
{
	const struct config_key	*ck;
	char			*field;
	const char		*why;
	unsigned long		 number;

	if ((ck = config_key_find(key)) == NULL)
		return (config_fail(err, errlen, "unknown key '%s'", key));
	field = (char *)cfg + ck->offset;

	switch (ck->type) {
	case KEY_STRING:
		if (strlen(value) >= ck->size)
			return (config_fail(err, errlen,
			    "%s is too long (at most %zu bytes)", key,
			    ck->size - 1));
		memcpy(field, value, strlen(value) + 1);
		break;
	case KEY_UINT:
		if (config_parse_uint(value, ck->min, ck->max, &number,
		    &why) == -1)
			return (config_fail(err, errlen,
			    "%s is %s: '%s' (allowed %lu to %lu)", key, why,
			    value, ck->min, ck->max));
		*(unsigned int *)(void *)field = (unsigned int)number;
		break;
	case KEY_CHOICE:
		return (config_set_choice(ck, (int *)(void *)field, value, err,
		    errlen));
	}
	return (0);
}

/* Fill a config with the built-in defaults. */
void
config_defaults(struct config *cfg)
{
	char	err[CONFIG_ERR_MAX];
	size_t	i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++)
		if (config_set(cfg, config_keys[i].name, config_keys[i].value,
		    err, sizeof(err)) == -1)
			fatalx("built-in default: %s", err);
}

/* Strip leading and trailing blanks in place. */
static char *
config_trim(char *text)
{
	char	*end;

	while (*text == ' ' || *text == '\t')
		text++;
	end = text + strlen(text);
	while (end > text && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return (text);
}

/*
 * Read "key = value" lines; '#' starts a comment line. With CONFIG_DB_ONLY,
 * keys other than db_* are skipped unread: a tool borrowing a worker's file
 * for its database account need not know the worker's other keys.
 */
static int
config_read_file(struct config *cfg, const char *path,
    enum config_scope scope, char *err, size_t errlen)
{
	FILE		*fp;
	struct stat	 st;
	char		 line[PATH_MAX + 256], sub[CONFIG_ERR_MAX];
	char		*key, *value, *eq;
	int		 lineno = 0, rc = 0, has_password = 0;

	if ((fp = fopen(path, "r")) == NULL)
		return (config_fail(err, errlen, "%s: %s", path,
		    strerror(errno)));
	while (rc == 0 && fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			rc = config_fail(err, errlen, "%s:%d: line too long",
			    path, lineno);
			break;
		}
		key = config_trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			rc = config_fail(err, errlen,
			    "%s:%d: expected 'key = value'", path, lineno);
			break;
		}
		*eq = '\0';
		key = config_trim(key);
		value = config_trim(eq + 1);
		/* A worker's key this build lacks (db_isolation) is not ours. */
		if (scope == CONFIG_DB_ONLY && (strncmp(key, "db_", 3) != 0 ||
		    config_key_find(key) == NULL))
			continue;
		if (config_set(cfg, key, value, sub, sizeof(sub)) == -1)
			rc = config_fail(err, errlen, "%s:%d: %s", path,
			    lineno, sub);
		if (strcmp(key, "db_password") == 0 && *value != '\0')
			has_password = 1;
	}
	if (rc == 0 && ferror(fp))
		rc = config_fail(err, errlen, "%s: read error", path);
	/*
	 * A password anyone on the host can read is no secret. Unless the
	 * file says it knows (db_password_readable = yes): a shared host
	 * without suexec, where the web server's account must read it and
	 * so every site's scripts can (doc/shared-hosting.md).
	 */
	if (rc == 0 && has_password && !cfg->db_password_readable &&
	    fstat(fileno(fp), &st) == 0 && (st.st_mode & S_IROTH))
		rc = config_fail(err, errlen, "%s holds db_password and is "
		    "readable by others: chmod o-r it (0600 or 0640), or see "
		    "db_password_readable in regonce.conf(5)", path);
	fclose(fp);
	return (rc);
}

/* Apply REGONCE_<KEY> overrides from the environment. */
static int
config_read_env(struct config *cfg, char *err, size_t errlen)
{
	char		 envname[64], sub[CONFIG_ERR_MAX];
	const char	*value;
	size_t		 i, j;

	for (i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		const char *key = config_keys[i].name;

		snprintf(envname, sizeof(envname), "%s", CONFIG_ENV_PREFIX);
		for (j = 0; key[j] != '\0'; j++)
			envname[strlen(CONFIG_ENV_PREFIX) + j] =
			    (char)toupper((unsigned char)key[j]);
		envname[strlen(CONFIG_ENV_PREFIX) + j] = '\0';
		if ((value = getenv(envname)) == NULL)
			continue;
		if (config_set(cfg, key, value, sub, sizeof(sub)) == -1)
			return (config_fail(err, errlen, "%s: %s", envname,
			    sub));
	}
	return (0);
}

/* Values that are fine alone but wrong together. */
int
config_check(const struct config *cfg, char *err, size_t errlen)
{
	size_t		len = strlen(cfg->base_path);
	unsigned int	web_ms = cfg->web_timeout_s * 1000U;
	unsigned int	margin = web_ms / 10 > 1000 ? web_ms / 10 : 1000;
	char		bad[64];

	/*
	 * Timeouts nest: lock wait < request budget < the web server's read
	 * timeout, with a margin, so the worker always answers first. The
	 * lock wait is one read on the connection: below db_timeout_s too.
	 */
	if (cfg->lock_timeout_ms >= cfg->request_timeout_ms)
		return (config_fail(err, errlen, "lock_timeout_ms (%u) must be "
		    "below request_timeout_ms (%u)", cfg->lock_timeout_ms,
		    cfg->request_timeout_ms));
	if (cfg->request_timeout_ms + margin > web_ms)
		return (config_fail(err, errlen, "request_timeout_ms (%u) must "
		    "be at least %u ms below web_timeout_s (%u s, the web "
		    "server's read timeout)", cfg->request_timeout_ms, margin,
		    cfg->web_timeout_s));
	if (cfg->lock_timeout_ms >= cfg->db_timeout_s * 1000U)
		return (config_fail(err, errlen, "lock_timeout_ms (%u) must be "
		    "below db_timeout_s (%u s)", cfg->lock_timeout_ms,
		    cfg->db_timeout_s));
	if (len > 0 && (cfg->base_path[0] != '/' ||
	    cfg->base_path[len - 1] == '/'))
		return (config_fail(err, errlen, "base_path must start with "
		    "'/' and not end with one: '%s'", cfg->base_path));
	/* The workers share it: a relative path would follow each one's cwd. */
	if (cfg->metrics_file[0] != '\0' && cfg->metrics_file[0] != '/')
		return (config_fail(err, errlen, "metrics_file must be an "
		    "absolute path: '%s'", cfg->metrics_file));
	if (addr_list_check(cfg->metrics_allow, bad, sizeof(bad)) == -1)
		return (config_fail(err, errlen, "metrics_allow: '%s' is not "
		    "an address or address/bits", bad));
	/* The cap counts in files every worker of the pool opens. */
	if (cfg->db_max_connections > 0 && cfg->db_cap_dir[0] != '/')
		return (config_fail(err, errlen, "db_max_connections needs "
		    "db_cap_dir, an absolute folder the workers share: '%s'",
		    cfg->db_cap_dir));
	if (cfg->hash_cap_dir[0] != '\0' && cfg->hash_cap_dir[0] != '/')
		return (config_fail(err, errlen, "hash_cap_dir must be an "
		    "absolute folder: '%s'", cfg->hash_cap_dir));
	if (cfg->db_socket[0] == '\0' && cfg->db_host[0] == '\0')
		return (config_fail(err, errlen,
		    "one of db_socket or db_host must be set"));
	/* argon2 needs at least 8 KiB per lane. */
	if (cfg->argon2_memory_kib < 8 * cfg->argon2_parallelism)
		return (config_fail(err, errlen, "argon2_memory_kib (%u) must "
		    "be at least 8 x argon2_parallelism (%u)",
		    cfg->argon2_memory_kib, cfg->argon2_parallelism));
	return (0);
}

/*
 * The one loader, for the worker and the tools: defaults, then the file
 * (when a path is given; scope says which of its keys are read), then the
 * environment, then the checks across keys.
 */
int
config_load(struct config *cfg, const char *path, enum config_scope scope,
    char *err, size_t errlen)
{
	config_defaults(cfg);
	if (path != NULL && config_read_file(cfg, path, scope, err,
	    errlen) == -1)
		return (-1);
	/* The file's relative paths name files beside it (config_find.c). */
	if (path != NULL)
		config_rebase(cfg, path);
	if (config_read_env(cfg, err, errlen) == -1)
		return (-1);
	return (config_check(cfg, err, errlen));
}

/*
 * regonce -T: every key of the table with its effective value, one
 * "key = value" line each, in table order. The output reads back as a
 * config file; only a set db_password is masked.
 */
void
config_dump(const struct config *cfg, FILE *fp)
{
	const struct config_key	*ck;
	const char		*field;
	size_t			 i;

	for (i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		ck = &config_keys[i];
		field = (const char *)cfg + ck->offset;
		switch (ck->type) {
		case KEY_STRING:
			if (strcmp(ck->name, "db_password") == 0 &&
			    field[0] != '\0')
				field = "********";
			fprintf(fp, "%s = %s\n", ck->name, field);
			break;
		case KEY_UINT:
			fprintf(fp, "%s = %u\n", ck->name,
			    *(const unsigned int *)(const void *)field);
			break;
		case KEY_CHOICE:
			fprintf(fp, "%s = %s\n", ck->name,
			    ck->choices[*(const int *)(const void *)field]);
			break;
		}
	}
}
