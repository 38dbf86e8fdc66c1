/*
 * The registration path, top to bottom:
 *
 *   validate -> pre-check -> hash -> GET_LOCK -> START TRANSACTION ->
 *   SELECT ... FOR UPDATE -> INSERT -> COMMIT -> RELEASE_LOCK
 *
 * One attempt runs in reg_attempt() with one cleanup ladder; reg_user()
 * retries attempts that lost a deadlock or the connection. The result is
 * an enum reg_result plus a reason: only the web layer speaks HTTP.
 */
#include "config.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"

/* What one attempt came to. */
enum reg_step {
	STEP_DONE,	/* out->result is final */
	STEP_RETRY,	/* deadlock or lock wait timeout: try again */
	STEP_LOST	/* connection lost: reconnect, try again */
};

/* What the caller's log line says about an attempt. */
struct reg_trace {
	int		 lock;		/* GET_LOCK: 1, 0, -1 (NULL), 2 (not asked) */
	unsigned int	 errnos[4];	/* DB errors seen, first four */
	unsigned int	 nerrnos;
};

static const char *const reg_result_names[] = {
	[REG_CREATED] = "created",
	[REG_EXISTS] = "exists",
	[REG_INVALID] = "invalid",
	[REG_BUSY] = "busy",
	[REG_DB_UNAVAILABLE] = "db_unavailable",
	[REG_INTERNAL] = "internal",
};

/* Short name of a result, for logs. */
const char *
reg_result_name(enum reg_result result)
{
	return (reg_result_names[result]);
}

/*
 * The named-lock name for an openid: REG_LOCK_PREFIX plus the first 192
 * bits of SHA-256 over the exact openid bytes, in lowercase hex: 56 ASCII
 * bytes, under MySQL's 64-character and MariaDB's 192-byte limits, and the
 * same whatever the server's case rules for lock names are.
 */
int
reg_lock_name(const char *openid, size_t len, char *out, size_t outlen)
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		digest[EVP_MAX_MD_SIZE];
	unsigned int		digest_len = 0;
	size_t			prefix = strlen(REG_LOCK_PREFIX), i;

	if (outlen < REG_LOCK_NAME_MAX)
		return (-1);
	if (EVP_Digest(openid, len, digest, &digest_len, EVP_sha256(),
	    NULL) != 1 || digest_len * 2 < REG_LOCK_HEX)
		return (-1);
	memcpy(out, REG_LOCK_PREFIX, prefix);
	for (i = 0; i < REG_LOCK_HEX / 2; i++) {
		out[prefix + 2 * i] = hex[digest[i] >> 4];
		out[prefix + 2 * i + 1] = hex[digest[i] & 0xf];
	}
	out[prefix + REG_LOCK_HEX] = '\0';
	return (0);
}

/*
 * Length of the valid UTF-8 sequence at text (strict: no overlong forms,
 * no surrogates, nothing above U+10FFFF), or 0 if it is not one.
 */
static size_t
reg_utf8_char(const unsigned char *text, size_t left, unsigned int *cp)
{
	size_t		need, i;
	unsigned int	min;

	if (text[0] < 0x80) {
		*cp = text[0];
		return (1);
	} else if ((text[0] & 0xe0) == 0xc0) {
		need = 2, min = 0x80, *cp = text[0] & 0x1f;
	} else if ((text[0] & 0xf0) == 0xe0) {
		need = 3, min = 0x800, *cp = text[0] & 0x0f;
	} else if ((text[0] & 0xf8) == 0xf0) {
		need = 4, min = 0x10000, *cp = text[0] & 0x07;
	} else
		return (0);
	if (left < need)
		return (0);
	for (i = 1; i < need; i++) {
		if ((text[i] & 0xc0) != 0x80)
			return (0);
		*cp = (*cp << 6) | (text[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return (0);
	return (need);
}

/* Is text valid UTF-8 with no control characters (C0, DEL, C1)? */
static int
reg_clean_utf8(const char *text, size_t len)
{
	const unsigned char	*bytes = (const unsigned char *)text;
	size_t			 pos = 0, step;
	unsigned int		 cp;

	while (pos < len) {
		if ((step = reg_utf8_char(bytes + pos, len - pos, &cp)) == 0)
			return (0);
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return (0);
		pos += step;
	}
	return (1);
}

/* Check each field against the API's rules; name the first bad one. */
int
reg_validate(const struct config *cfg, const struct reg_input *in,
    const char **field, const char **reason)
{
	size_t	i;

	*field = "openid";
	if (in->openid_len == 0) {
		*reason = "openid must not be empty";
		return (-1);
	}
	if (in->openid_len > REG_OPENID_MAX) {
		*reason = "openid is longer than 255 bytes";
		return (-1);
	}
	for (i = 0; i < in->openid_len; i++) {
		/* Printable ASCII, no space: openids are opaque tokens. */
		if (in->openid[i] < 0x21 || in->openid[i] > 0x7e) {
			*reason = "openid may hold only printable ASCII "
			    "without spaces";
			return (-1);
		}
	}
	*field = "username";
	if (in->username_len == 0) {
		*reason = "username must not be empty";
		return (-1);
	}
	if (in->username_len > REG_USERNAME_MAX) {
		*reason = "username is longer than 255 bytes";
		return (-1);
	}
	if (!reg_clean_utf8(in->username, in->username_len)) {
		*reason = "username must be UTF-8 without control characters";
		return (-1);
	}
	*field = "password";
	if (in->password_len < cfg->password_min_length) {
		*reason = "password is too short";
		return (-1);
	}
	if (in->password_len > REG_PASSWORD_MAX) {
		*reason = "password is longer than 1024 bytes";
		return (-1);
	}
	if (memchr(in->password, '\0', in->password_len) != NULL) {
		*reason = "password must not contain NUL";
		return (-1);
	}
	*field = NULL;
	*reason = NULL;
	return (0);
}

/* Note a DB error for the request's log line. */
static void
reg_trace_errno(struct reg_trace *trace, struct db *db)
{
	if (trace->nerrnos < sizeof(trace->errnos) / sizeof(trace->errnos[0]))
		trace->errnos[trace->nerrnos++] = db_errno(db);
}

/* Turn a failed DB call into the attempt's step, and out's result. */
static enum reg_step
reg_db_failed(struct db *db, enum db_status st, const char *what,
    struct reg_trace *trace, struct reg_outcome *out)
{
	reg_trace_errno(trace, db);
	switch (st) {
	case DB_RETRY:
		return (STEP_RETRY);
	case DB_LOST:
		return (STEP_LOST);
	default:
		log_error("%s: error %u: %s", what, db_errno(db), db_error(db));
		out->result = REG_INTERNAL;
		out->reason = "unexpected database error";
		return (STEP_DONE);
	}
}

/* A row is there: ours (a retry after a lost COMMIT) or someone else's. */
static enum reg_step
reg_found(const struct db_user *user, const char *hash,
    struct reg_outcome *out)
{
	/* The salt is random: only our own insert can carry our hash. */
	if (hash[0] != '\0' && strcmp(user->password_hash, hash) == 0) {
		out->result = REG_CREATED;
		out->user_id = user->id;
	} else
		out->result = REG_EXISTS;
	return (STEP_DONE);
}

/* Sleep for ms milliseconds: only the naive strategy's demo delay. */
static void
reg_sleep_ms(unsigned int ms)
{
	struct timespec	ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1)
		continue;
}

/*
 * INSERT the user. ER_DUP_ENTRY means the UNIQUE index already holds the
 * openid: "exists". Success sets REG_CREATED, final once committed.
 */
static enum reg_step
reg_insert(struct db *db, const struct reg_input *in, const char *hash,
    struct reg_trace *trace, struct reg_outcome *out)
{
	enum db_status	st;

	st = db_insert_user(db, in->openid, in->openid_len, in->username,
	    in->username_len, hash, &out->user_id);
	if (st == DB_DUPLICATE) {
		reg_trace_errno(trace, db);
		out->result = REG_EXISTS;
		return (STEP_DONE);
	}
	if (st != DB_OK)
		return (reg_db_failed(db, st, "insert", trace, out));
	out->result = REG_CREATED;
	return (STEP_DONE);
}

/* Insert with no lock: the UNIQUE index (unique) or nothing (naive). */
static enum reg_step
reg_insert_unlocked(struct db *db, const struct config *cfg,
    const struct reg_input *in, const char *hash, struct reg_trace *trace,
    struct reg_outcome *out)
{
	if (cfg->strategy == STRATEGY_NAIVE && cfg->naive_delay_ms > 0)
		reg_sleep_ms(cfg->naive_delay_ms);
	return (reg_insert(db, in, hash, trace, out));
}

/*
 * GET_LOCK serialises registrations of one openid across every worker and
 * every host sharing the database; FOR UPDATE covers a row that is already
 * there; the UNIQUE index is the final arbiter, so ER_DUP_ENTRY is EXISTS.
 * The lock is taken before the transaction and released after it ends.
 */
static enum reg_step
reg_insert_locked(struct db *db, const struct config *cfg,
    const struct reg_input *in, const char *hash, struct reg_trace *trace,
    struct reg_outcome *out)
{
	char		 lock_name[REG_LOCK_NAME_MAX];
	struct db_user	 user;
	enum reg_step	 step = STEP_DONE;
	enum db_status	 st;
	int		 in_txn = 0, found, released;

	if (reg_lock_name(in->openid, in->openid_len, lock_name,
	    sizeof(lock_name)) == -1) {
		out->result = REG_INTERNAL;
		out->reason = "cannot derive the lock name";
		return (STEP_DONE);
	}
	/* 1 = ours, 0 = timed out (busy), -1 = NULL: the server failed it. */
	st = db_get_lock(db, lock_name, cfg->lock_timeout_ms, &trace->lock);
	if (st != DB_OK)
		return (reg_db_failed(db, st, "get_lock", trace, out));
	if (trace->lock == 0) {
		out->result = REG_BUSY;
		out->reason = "another registration of this openid is running";
		return (STEP_DONE);
	}
	if (trace->lock != 1) {
		out->result = REG_DB_UNAVAILABLE;
		out->reason = "the database refused the named lock";
		return (STEP_DONE);
	}
	/* From here on the lock is ours: every path ends at out. */

	if ((st = db_begin(db)) != DB_OK) {
		step = reg_db_failed(db, st, "begin", trace, out);
		goto out;
	}
	in_txn = 1;
	if ((st = db_find_user(db, in->openid, in->openid_len, 1, &user,
	    &found)) != DB_OK) {
		step = reg_db_failed(db, st, "select for update", trace, out);
		goto out;
	}
	if (found) {
		step = reg_found(&user, hash, out);
		goto out;
	}
	/* "exists" here means someone without our lock got there first. */
	step = reg_insert(db, in, hash, trace, out);
	if (step != STEP_DONE || out->result != REG_CREATED)
		goto out;
	TEST_HOOK_PAUSE(in->openid, in->openid_len);
	if ((st = db_commit(db)) != DB_OK) {
		step = reg_db_failed(db, st, "commit", trace, out);
		goto out;
	}
	in_txn = 0;
out:
	/* A lost connection already took the transaction and lock with it. */
	if (step == STEP_LOST)
		return (step);
	if (in_txn && db_rollback(db) != DB_OK) {
		reg_trace_errno(trace, db);
		log_warn("rollback: error %u: %s", db_errno(db), db_error(db));
	}
	st = db_release_lock(db, lock_name, &released);
	if (st != DB_OK || released != 1)
		log_warn("release_lock %s: status %d, answer %d, error %u",
		    lock_name, (int)st, st == DB_OK ? released : -2,
		    db_errno(db));
	return (step);
}

/* One attempt: pre-check, hash once, then the strategy's insert. */
static enum reg_step
reg_attempt(struct db *db, const struct config *cfg,
    const struct reg_input *in, char *hash, size_t hashlen,
    struct reg_trace *trace, struct reg_outcome *out)
{
	struct db_user	 user;
	enum db_status	 st;
	const char	*cause;
	int		 found;

	/* Most repeats end here: no lock, no hashing. */
	st = db_find_user(db, in->openid, in->openid_len, 0, &user, &found);
	if (st != DB_OK)
		return (reg_db_failed(db, st, "pre-check", trace, out));
	if (found)
		return (reg_found(&user, hash, out));

	/* Hash before any lock: 50 ms of argon2 must not hold anyone up. */
	if (hash[0] == '\0' &&
	    pw_hash(cfg, in->password, in->password_len, hash, hashlen,
	    &cause) == -1) {
		log_error("pw_hash: %s", cause);
		out->result = REG_INTERNAL;
		out->reason = "password hashing failed";
		return (STEP_DONE);
	}

	if (cfg->strategy == STRATEGY_NAMED_LOCK)
		return (reg_insert_locked(db, cfg, in, hash, trace, out));
	return (reg_insert_unlocked(db, cfg, in, hash, trace, out));
}

/* Back off before retry n (1, 2, ...): 10 ms doubling, plus jitter. */
static void
reg_backoff(unsigned int n)
{
	struct timespec	now;
	unsigned int	base = 10U << (n > 5 ? 5 : n - 1);

	clock_gettime(CLOCK_MONOTONIC, &now);
	reg_sleep_ms(base + (unsigned int)(now.tv_nsec / 1000) % base);
}

/* Register one user exactly once, retrying what can be retried. */
void
reg_user(struct db *db, const struct config *cfg, const struct reg_input *in,
    struct reg_outcome *out)
{
	char		 hash[PW_HASH_MAX] = "";
	char		 errnos[64] = "";
	struct reg_trace trace;
	enum reg_step	 step;
	unsigned int	 i;
	int		 used;

	memset(out, 0, sizeof(*out));
	memset(&trace, 0, sizeof(trace));
	trace.lock = 2;
	if (reg_validate(cfg, in, &out->field, &out->reason) == -1) {
		out->result = REG_INVALID;
		return;
	}
	/* A worker whose connection died earlier reconnects first. */
	step = db_connected(db) ? STEP_DONE : STEP_LOST;
	for (out->attempts = 1; ; out->attempts++) {
		if (step == STEP_LOST && db_reconnect(db) != DB_OK) {
			reg_trace_errno(&trace, db);
			step = STEP_LOST;
		} else
			step = reg_attempt(db, cfg, in, hash, sizeof(hash),
			    &trace, out);
		if (step == STEP_DONE || out->attempts >= cfg->retry_max)
			break;
		reg_backoff(out->attempts);
	}
	if (step == STEP_RETRY) {
		out->result = REG_BUSY;
		out->reason = "the database kept reporting lock conflicts";
	} else if (step == STEP_LOST) {
		out->result = REG_DB_UNAVAILABLE;
		out->reason = "the database is unreachable";
	}
	pw_wipe(hash, sizeof(hash));

	for (i = 0, used = 0; i < trace.nerrnos && used >= 0 &&
	    (size_t)used < sizeof(errnos); i++)
		used += snprintf(errnos + used, sizeof(errnos) - (size_t)used,
		    "%s%u", i ? "," : "", trace.errnos[i]);
	/* log.c escapes the whole line: the openid cannot forge one. */
	log_info("register openid=%.*s strategy=%s result=%s attempts=%u "
	    "lock=%s errnos=%s", (int)in->openid_len, in->openid,
	    config_strategy_name(cfg->strategy),
	    reg_result_name(out->result), out->attempts,
	    trace.lock == 1 ? "1" : trace.lock == 0 ? "0" :
	    trace.lock == -1 ? "null" : "-", errnos[0] ? errnos : "-");
}
