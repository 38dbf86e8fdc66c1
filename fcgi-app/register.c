/*
 * The registration path, read top to bottom: reg_user() is the entry,
 * then the steps in the order a request takes them: validate (a keyed
 * request: its Idempotency-Key's step first) -> pre-check -> the
 * strategy reg_plan() picks, which hashes only once it knows the row is
 * absent -> retry what can be retried -> a log line.
 *
 *   named_lock           GET_LOCK + START TRANSACTION -> SELECT ... FOR
 *                        UPDATE -> hash -> INSERT -> COMMIT + RELEASE_LOCK
 *   named_lock_compound  pre-check, GET_LOCK, START TRANSACTION, SELECT
 *                        ... FOR UPDATE as one statement -> hash ->
 *                        INSERT, COMMIT, RELEASE_LOCK as one statement
 *   unique               hash -> INSERT: the UNIQUE index answers repeats
 *
 * Under a lock the copies of one registration wait for the first and
 * find its row: one password hash per registration, however many copies.
 *
 * The result is an enum reg_result plus a reason: only the web layer
 * speaks HTTP.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"

#ifdef REGONCE_TEST_BUILD
#include "hooks.h"		/* tests/: pause points, the naive delay */
#else
#define TEST_HOOK_BEFORE_INSERT(cfg)		do { } while (0)
#define TEST_HOOK_BEFORE_COMMIT(openid, len)	do { } while (0)
#define TEST_HOOK_AFTER_COMMIT(openid, len)	do { } while (0)
#endif

/* What one attempt came to. */
enum reg_step {
	STEP_DONE,	/* out->result is final */
	STEP_INSERTED,	/* the row is written, not yet committed */
	STEP_NEXT,	/* go on to the next step */
	STEP_RETRY,	/* deadlock or lock wait timeout: try again */
	STEP_LOST	/* connection lost: reconnect, try again */
};

/* What the request's log line says; the logic never reads it back. */
struct reg_trace {
	enum db_lock_answer lock;	/* GET_LOCK's answer */
	unsigned int	 errnos[4];	/* DB errors seen, first four */
	unsigned int	 nerrnos;
};

/* Everything one registration works with. */
struct reg_ctx {
	struct db		*db;
	const struct config	*cfg;
	const struct reg_input	*in;
	struct reg_outcome	*out;
	struct reg_trace	 trace;
	int64_t			 deadline;	/* the request's time budget */
	int			 unknown;	/* a COMMIT was sent, not answered */
	const struct reg_idem	*idem;		/* NULL: no Idempotency-Key */
	struct idem_hold	 key;		/* the key's lock, if held */
	char			 hash[PW_HASH_MAX];	/* "" until hashed */
	enum reg_strategy	 used;		/* reg_plan()'s, for the log */
};

/* An attempt's open transaction: how it began, what ends with it. */
struct reg_txn {
	int		 by_lock;	/* GET_LOCK began it: FOR UPDATE first */
	const char	*lock;		/* released with its end; NULL: none */
};

/* Time the rest of an attempt needs after the lock wait. */
#define REG_RESERVE_MS	100

/* How long this worker's last password hash took (us). */
static int64_t	reg_hash_last_us;

static enum reg_step	reg_attempt(struct reg_ctx *);
static enum reg_step	reg_hash(struct reg_ctx *);
static int64_t		reg_reserve_ms(const struct reg_ctx *);
static int64_t		reg_wait_left_ms(const struct reg_ctx *);
static enum reg_strategy reg_plan(const struct reg_ctx *);
static enum reg_step	reg_named_lock(struct reg_ctx *);
static enum reg_step	reg_compound(struct reg_ctx *);
static enum reg_step	reg_unique(struct reg_ctx *);
static enum reg_step	reg_lock_wait(struct reg_ctx *, char *,
			    unsigned int *);
static enum reg_step	reg_lock_not_ours(struct reg_ctx *);
static enum reg_step	reg_transaction(struct reg_ctx *,
			    const struct reg_txn *);
static enum reg_step	reg_insert(struct reg_ctx *);
static enum reg_step	reg_duplicate(struct reg_ctx *);
static enum reg_step	reg_found(struct reg_ctx *, const struct db_user *);
static enum db_status	reg_end(struct reg_ctx *, int, const char *);
static void		reg_abandon(struct reg_ctx *, const char *);
static enum reg_step	reg_done(struct reg_ctx *, enum reg_result,
			    const char *);
static enum reg_step	reg_db_failed(struct reg_ctx *, enum db_status,
			    const char *);
static void		reg_trace_errno(struct reg_ctx *);
static int		reg_known(const struct reg_outcome *);
static int		reg_backoff(const struct reg_ctx *, unsigned int);
static void		reg_log(const struct reg_ctx *);

/*
 * A store handle with what the strategy runs: named_lock_compound's
 * statement is prepared at each connect, so a server that cannot run it
 * fails the connect with the reason logged, not each request.
 */
struct db *
reg_store_new(const struct config *cfg)
{
	struct db	*db = db_new(cfg);

	if (cfg->strategy == STRATEGY_NAMED_LOCK_COMPOUND ||
	    cfg->strategy == STRATEGY_AUTO)
		db_want_compound(db, cfg->strategy != STRATEGY_AUTO);
	return (db);
}

/*
 * The strategy a connected store runs for an unkeyed request: auto's
 * pick, or the configured one. For regonce -t and the log.
 */
enum reg_strategy
reg_strategy_in_use(struct db *db, const struct config *cfg)
{
	if (cfg->strategy != STRATEGY_AUTO)
		return (cfg->strategy);
	return (db_compound_ready(db) ? STRATEGY_NAMED_LOCK_COMPOUND :
	    STRATEGY_NAMED_LOCK);
}

/*
 * Register one user exactly once, retrying what can be retried, all
 * before deadline. A COMMIT whose answer was lost is not given up after
 * retry_max attempts: the worker reconnects until the budget runs out,
 * and the pre-check finds the row holding this request's own hash if it
 * landed. Only when the budget ends first is the answer "outcome
 * unknown"; then no other answer would be the truth.
 */
void
reg_user(struct db *db, const struct config *cfg, const struct reg_input *in,
    const struct reg_idem *idem, int64_t deadline, struct reg_outcome *out)
{
	struct reg_ctx	ctx;
	enum reg_step	step;

	memset(out, 0, sizeof(*out));
	memset(&ctx, 0, sizeof(ctx));
	ctx.db = db;
	ctx.cfg = cfg;
	ctx.in = in;
	ctx.out = out;
	/* Every registration has a budget, even one no web server timed. */
	if (deadline == DEADLINE_NONE)
		deadline = deadline_at(0, cfg->request_timeout_ms);
	ctx.deadline = deadline;
	ctx.idem = idem;
	ctx.trace.lock = LOCK_NOT_ASKED;
	ctx.used = cfg->strategy;
	/* Without a key, bad input touches nothing (keyed: reg_attempt). */
	if (idem == NULL &&
	    reg_validate(cfg, in, &out->field, &out->reason) == -1) {
		out->result = REG_INVALID;
		return;
	}
	db_set_deadline(db, deadline);
	/* A worker whose connection died earlier reconnects first. */
	step = db_connected(db) ? STEP_DONE : STEP_LOST;
	for (out->attempts = 1; ; out->attempts++) {
		if (step == STEP_LOST && db_reconnect(db) != DB_OK)
			reg_trace_errno(&ctx);
		else
			step = reg_attempt(&ctx);
		/* A lost connection took the key's lock with it. */
		if (step == STEP_LOST)
			ctx.key.locked = 0;
		if (step == STEP_DONE && (!ctx.unknown || reg_known(out)))
			break;
		if (!ctx.unknown && out->attempts >= cfg->retry_max)
			break;
		if (!reg_backoff(&ctx, out->attempts))
			break;
		metrics_count(METRIC_RETRIES);
	}
	if (ctx.unknown && (step != STEP_DONE || !reg_known(out)))
		reg_done(&ctx, REG_OUTCOME_UNKNOWN, "the database stopped "
		    "answering after COMMIT was sent");
	else if (step == STEP_RETRY)
		reg_done(&ctx, REG_BUSY,
		    "the database kept reporting lock conflicts");
	else if (step == STEP_LOST)
		reg_done(&ctx, REG_DB_UNAVAILABLE,
		    "the database is unreachable");
	if (ctx.key.locked && idem_end(db, cfg, idem, &ctx.key, out) != DB_OK)
		reg_trace_errno(&ctx);
	db_set_deadline(db, DEADLINE_NONE);
	pw_wipe(ctx.hash, sizeof(ctx.hash));
	reg_log(&ctx);
}

/* One attempt: the key's step, pre-check, the strategy (it hashes). */
static enum reg_step
reg_attempt(struct reg_ctx *ctx)
{
	const struct reg_input	*in = ctx->in;
	struct db_user		 user;
	enum idem_verdict	 verdict;
	enum db_status		 st;
	int			 found;

	if (ctx->idem != NULL && !ctx->key.locked) {
		/* The key's lock and its stored answer (idempotency.c). */
		if ((st = idem_begin(ctx->db, ctx->cfg, ctx->idem, &ctx->key,
		    &verdict, ctx->out)) != DB_OK)
			return (reg_db_failed(ctx, st, "idempotency key"));
		if (verdict != IDEM_NEW && verdict != IDEM_EXPIRED)
			return (STEP_DONE);
		/* Keyed: even a refusal is an answer to store. */
		if (reg_validate(ctx->cfg, in, &ctx->out->field,
		    &ctx->out->reason) == -1) {
			ctx->out->result = REG_INVALID;
			return (STEP_DONE);
		}
	}
	ctx->used = reg_plan(ctx);
	/*
	 * Most repeats end here: no lock, no hashing. The compound's first
	 * statement makes this check itself, unless the budget leaves no
	 * lock wait (then a repeat still hears "exists").
	 */
	if (ctx->used != STRATEGY_NAMED_LOCK_COMPOUND ||
	    reg_wait_left_ms(ctx) < 1) {
		st = db_find_user(ctx->db, in->openid, in->openid_len, 0,
		    &user, &found);
		if (st != DB_OK)
			return (reg_db_failed(ctx, st, "pre-check"));
		if (found)
			return (reg_found(ctx, &user));
	}

	switch (ctx->used) {
	case STRATEGY_NAMED_LOCK:
		return (reg_named_lock(ctx));
	case STRATEGY_NAMED_LOCK_COMPOUND:
		return (reg_compound(ctx));
	case STRATEGY_UNIQUE:
		return (reg_unique(ctx));
	case STRATEGY_AUTO:
		break;	/* reg_plan() resolves it */
#ifdef REGONCE_TEST_BUILD
	case STRATEGY_NAIVE:
		/* The original bug (tests only): unique's INSERT, after the
		 * pre-check and a delay (hooks.h), on a table without the
		 * index. */
		return (reg_unique(ctx));
#endif
	}
	return (reg_done(ctx, REG_INTERNAL, "no such strategy"));
}

/*
 * Hash the password once per request, once the row is known absent (under
 * the openid's lock, where there is one): a copy that waited for the lock
 * finds the first copy's row and never hashes. Under READ COMMITTED the
 * FOR UPDATE of an absent openid locks no gap, so only copies of this
 * openid wait while it runs.
 */
static enum reg_step
reg_hash(struct reg_ctx *ctx)
{
	const char	*cause;
	int64_t		 since;
	int		 rc;

	if (ctx->hash[0] != '\0')
		return (STEP_NEXT);
	/* A request that cannot finish in its budget never hashes. */
	if (deadline_left_ms(ctx->deadline) < reg_reserve_ms(ctx))
		return (reg_done(ctx, REG_EXPIRED, "the request's time budget "
		    "ran out before its password was hashed"));
	/* A slot (hash_cap.c), waited for no longer than leaves room for
	 * the hash and the rest. */
	if (hash_cap_take(ctx->cfg, ctx->deadline - reg_reserve_ms(ctx)) == -1)
		return (reg_done(ctx, REG_EXPIRED, "the request's time budget "
		    "ran out waiting for a free core to hash its password"));
	metrics_count(METRIC_PASSWORD_HASHES);
	since = clock_mono_us();
	rc = pw_hash(ctx->cfg, ctx->in->password, ctx->in->password_len,
	    ctx->hash, sizeof(ctx->hash), &cause);
	hash_cap_give();
	if (rc == -1) {
		log_error("pw_hash: %s", cause);
		return (reg_done(ctx, REG_INTERNAL,
		    "password hashing failed"));
	}
	reg_hash_last_us = clock_mono_us() - since;
	return (STEP_NEXT);
}

/* What an attempt needs after a lock wait: the hash (unless done), and
 * the rest. */
static int64_t
reg_reserve_ms(const struct reg_ctx *ctx)
{
	return ((ctx->hash[0] != '\0' ? 0 : reg_hash_last_us / 1000) +
	    REG_RESERVE_MS);
}

/*
 * Which strategy runs this request: the configured one, except that
 * named_lock_compound runs as named_lock where it cannot keep its
 * promise in one statement:
 * - a keyed request: the key's answer must commit with the row, and the
 *   compound's last statement commits its INSERT alone;
 * - a Galera node: each statement is sent alone there (db_lock.c), and
 *   the compound statement is not prepared.
 * The store is asked for the compound statement by reg_store_new().
 */
static enum reg_strategy
reg_plan(const struct reg_ctx *ctx)
{
	/* auto: the compound where it was prepared (db.c says which). */
	if (ctx->cfg->strategy == STRATEGY_AUTO)
		return (ctx->idem == NULL && db_compound_ready(ctx->db) ?
		    STRATEGY_NAMED_LOCK_COMPOUND : STRATEGY_NAMED_LOCK);
	if (ctx->cfg->strategy != STRATEGY_NAMED_LOCK_COMPOUND)
		return (ctx->cfg->strategy);
	/* Said once, at connect (db.c). */
	if (db_wsrep(ctx->db))
		return (STRATEGY_NAMED_LOCK);
	if (ctx->idem != NULL) {
		log_debug("strategy named_lock_compound runs as named_lock "
		    "for a keyed request: its answer commits with the row");
		return (STRATEGY_NAMED_LOCK);
	}
	return (STRATEGY_NAMED_LOCK_COMPOUND);
}

/*
 * named_lock. GET_LOCK serialises registrations of one openid across every
 * worker and every host sharing the database; FOR UPDATE covers a row that
 * is already there; the UNIQUE index is the final arbiter, so ER_DUP_ENTRY
 * is EXISTS. The transaction begins once GET_LOCK has returned and ends
 * before RELEASE_LOCK (COMMIT and ROLLBACK do not release a named lock).
 * Both pairs, GET_LOCK + START TRANSACTION and COMMIT + RELEASE_LOCK,
 * travel as one round trip each, so a new registration costs five:
 * pre-check, lock, FOR UPDATE, INSERT, commit. The hash runs between FOR
 * UPDATE and INSERT: a copy that waited finds the row and never hashes.
 * (When GET_LOCK answers 0
 * or NULL the empty transaction that followed it is rolled back.)
 */
static enum reg_step
reg_named_lock(struct reg_ctx *ctx)
{
	char			 lock[DB_LOCK_NAME_MAX];
	struct reg_txn		 txn = { 1, lock };
	enum reg_step		 step;
	enum db_status		 st;
	unsigned int		 wait_ms;
	int64_t			 since;
	static int		 refusal_logged;

	if ((step = reg_lock_wait(ctx, lock, &wait_ms)) != STEP_NEXT)
		return (step);
	since = clock_mono_us();
	st = db_get_lock(ctx->db, lock, wait_ms, DB_TXN_BEGIN,
	    &ctx->trace.lock);
	metrics_lock_waited(since);
	if (st != DB_OK) {
		step = reg_db_failed(ctx, st, "get_lock");
		if (step != STEP_LOST)
			reg_abandon(ctx, ctx->trace.lock == LOCK_ONE ? lock :
			    NULL);
		return (step);
	}
	switch (ctx->trace.lock) {
	case LOCK_ONE:
		return (reg_transaction(ctx, &txn));
	case LOCK_REFUSED:
		/*
		 * 1235: a Galera release with MDEV-30473 does not do named
		 * locks. The lock was only ever node-local there; what keeps
		 * one row per openid is the UNIQUE index, with certification
		 * across nodes. Carry on under that, and say so once.
		 */
		reg_trace_errno(ctx);
		if (!refusal_logged) {
			refusal_logged = 1;
			log_warn("guarantee: the server refuses GET_LOCK (error "
			    "%u: %s); registrations go on without the named "
			    "lock, under the UNIQUE index on openid and Galera "
			    "certification", db_errno(ctx->db),
			    db_error(ctx->db));
		}
		txn.lock = NULL;
		return (reg_transaction(ctx, &txn));
	default:
		reg_abandon(ctx, NULL);
		return (reg_lock_not_ours(ctx));
	}
}

/*
 * named_lock_compound, two round trips (db_compound.c): the pre-check,
 * GET_LOCK, START TRANSACTION and SELECT ... FOR UPDATE as one statement,
 * which keeps the lock and the transaction only when the row is absent
 * (a row found: nothing is hashed); the hash; then INSERT, COMMIT and
 * RELEASE_LOCK as one statement. Any error of that statement but DB_LOST
 * comes back after the server rolled back and released the lock. DB_LOST
 * (the connection went, or the store ended a session whose statement was
 * killed) may have taken a COMMIT with it: the retries find out.
 */
static enum reg_step
reg_compound(struct reg_ctx *ctx)
{
	const struct reg_input	*in = ctx->in;
	char			 lock[DB_LOCK_NAME_MAX];
	struct db_user		 user;
	enum reg_step		 step;
	enum db_status		 st;
	unsigned int		 wait_ms;
	int64_t			 since;
	int			 found;

	if ((step = reg_lock_wait(ctx, lock, &wait_ms)) != STEP_NEXT)
		return (step);
	since = clock_mono_us();
	st = db_lock_look(ctx->db, lock, wait_ms, in->openid, in->openid_len,
	    &ctx->trace.lock, &user, &found);
	if (st != DB_OK)
		return (reg_db_failed(ctx, st, "lock and look"));
	/* A wait is counted only when GET_LOCK was asked. */
	if (ctx->trace.lock != LOCK_NOT_ASKED)
		metrics_lock_waited(since);
	if (found)
		return (reg_found(ctx, &user));
	if (ctx->trace.lock != LOCK_ONE)
		return (reg_lock_not_ours(ctx));
	/* The lock and the transaction are open: every way out ends both. */
	if ((step = reg_hash(ctx)) != STEP_NEXT) {
		reg_abandon(ctx, lock);
		return (step);
	}
	st = db_register_compound(ctx->db, lock, in->openid, in->openid_len,
	    in->username, in->username_len, ctx->hash, &user);
	if (st == DB_DUPLICATE) {
		reg_trace_errno(ctx);
		return (reg_duplicate(ctx));
	}
	if (st != DB_OK) {
		if (st == DB_LOST)
			ctx->unknown = 1;
		return (reg_db_failed(ctx, st, "register"));
	}
	ctx->out->user_id = user.id;
	return (reg_done(ctx, REG_CREATED, NULL));
}

/*
 * unique: INSERT alone, the UNIQUE index answers duplicates. In
 * autocommit the INSERT is its own transaction, one round trip; with an
 * Idempotency-Key its answer must join it, so it runs in one.
 */
static enum reg_step
reg_unique(struct reg_ctx *ctx)
{
	const struct reg_txn	txn = { 0, NULL };
	enum reg_step		step;

	TEST_HOOK_BEFORE_INSERT(ctx->cfg);
	if (ctx->idem != NULL)
		return (reg_transaction(ctx, &txn));
	if ((step = reg_insert(ctx)) == STEP_INSERTED)
		return (reg_done(ctx, REG_CREATED, NULL));
	/* The INSERT was its own COMMIT: it may have landed. */
	if (step == STEP_LOST)
		ctx->unknown = 1;
	return (step);
}

/*
 * The openid's lock name, and how long to wait for it: no longer than
 * the budget leaves room for. STEP_NEXT, or the request's final answer.
 */
static enum reg_step
reg_lock_wait(struct reg_ctx *ctx, char *lock, unsigned int *wait_ms)
{
	const struct reg_input	*in = ctx->in;
	int64_t			 left;

	if (db_lock_name(ctx->db, REG_LOCK_PREFIX, "users", in->openid,
	    in->openid_len, lock, DB_LOCK_NAME_MAX) == -1)
		return (reg_done(ctx, REG_INTERNAL,
		    "cannot derive the lock name"));
	left = reg_wait_left_ms(ctx);
	/* The budget ran out, not someone else's registration. */
	if (left < 1)
		return (reg_done(ctx, REG_EXPIRED, "the request's time budget "
		    "ran out before the openid's lock could be waited for"));
	*wait_ms = (unsigned int)left;
	return (STEP_NEXT);
}

/* How long a lock wait may take: the budget less what must follow it. */
static int64_t
reg_wait_left_ms(const struct reg_ctx *ctx)
{
	int64_t	left = deadline_left_ms(ctx->deadline) - reg_reserve_ms(ctx);

	return (left > ctx->cfg->lock_timeout_ms ? ctx->cfg->lock_timeout_ms :
	    left);
}

/* GET_LOCK answered 0 (someone else holds it past the wait) or NULL. */
static enum reg_step
reg_lock_not_ours(struct reg_ctx *ctx)
{
	if (ctx->trace.lock == LOCK_ZERO) {
		metrics_count(METRIC_LOCK_BUSY);
		return (reg_done(ctx, REG_BUSY,
		    "another registration of this openid is running"));
	}
	/* NULL: the server failed the call (killed, out of memory). */
	return (reg_done(ctx, REG_DB_UNAVAILABLE,
	    "the database refused the named lock"));
}

/*
 * The transaction: [SELECT ... FOR UPDATE] -> INSERT -> the key's answer
 * -> COMMIT, and ROLLBACK on every other way out. "created" is said only
 * once COMMIT has returned; a COMMIT whose answer is lost may have landed.
 */
static enum reg_step
reg_transaction(struct reg_ctx *ctx, const struct reg_txn *txn)
{
	const struct reg_input	*in = ctx->in;
	struct reg_outcome	 created;
	struct db_user		 user;
	enum reg_step		 step;
	enum db_status		 st;
	int			 found;

	if (!txn->by_lock && (st = db_begin(ctx->db)) != DB_OK)
		return (reg_db_failed(ctx, st, "begin"));
	if (txn->by_lock) {
		if ((st = db_find_user(ctx->db, in->openid, in->openid_len, 1,
		    &user, &found)) != DB_OK) {
			step = reg_db_failed(ctx, st, "select for update");
			goto out;
		}
		if (found) {
			step = reg_found(ctx, &user);
			goto out;
		}
	}
	/* "exists" here means someone without our lock got there first. */
	if ((step = reg_insert(ctx)) != STEP_INSERTED)
		goto out;
	/* The key's answer lands with the row, or neither does. */
	if (ctx->idem != NULL) {
		memset(&created, 0, sizeof(created));
		created.result = REG_CREATED;
		created.user_id = ctx->out->user_id;
		if ((st = idem_save(ctx->db, ctx->cfg, ctx->idem, &created,
		    ctx->key.expired)) != DB_OK) {
			step = reg_db_failed(ctx, st, "store the key's answer");
			goto out;
		}
	}
	TEST_HOOK_BEFORE_COMMIT(in->openid, in->openid_len);
	if ((st = reg_end(ctx, 1, txn->lock)) != DB_OK) {
		if (st == DB_LOST)
			ctx->unknown = 1;
		step = reg_db_failed(ctx, st, "commit");
		goto out;
	}
	TEST_HOOK_AFTER_COMMIT(in->openid, in->openid_len);
	return (reg_done(ctx, REG_CREATED, NULL));
out:
	/* Every other way out leaves the open transaction (and lock). */
	reg_abandon(ctx, txn->lock);
	return (step);
}

/*
 * Hash, then INSERT the user: STEP_INSERTED with out->user_id set; "created" is the
 * caller's to say once the row is durable. ER_DUP_ENTRY means the UNIQUE
 * index already holds the openid: "exists".
 */
static enum reg_step
reg_insert(struct reg_ctx *ctx)
{
	const struct reg_input	*in = ctx->in;
	enum reg_step		 step;
	enum db_status		 st;

	if ((step = reg_hash(ctx)) != STEP_NEXT)
		return (step);
	st = db_insert_user(ctx->db, in->openid, in->openid_len, in->username,
	    in->username_len, ctx->hash, &ctx->out->user_id);
	if (st == DB_DUPLICATE) {
		reg_trace_errno(ctx);
		return (reg_duplicate(ctx));
	}
	if (st != DB_OK)
		return (reg_db_failed(ctx, st, "insert"));
	return (STEP_INSERTED);
}

/*
 * The UNIQUE index refused our row (1062): the openid's row is someone
 * else's (who got there without our lock), or our own from an attempt
 * whose connection went before its answer came (its INSERT or COMMIT
 * landed after all). Only the row's hash can tell.
 */
static enum reg_step
reg_duplicate(struct reg_ctx *ctx)
{
	struct db_user	user;
	enum db_status	st;
	int		found;

	st = db_find_user(ctx->db, ctx->in->openid, ctx->in->openid_len, 0,
	    &user, &found);
	if (st != DB_OK)
		return (reg_db_failed(ctx, st, "read the row that exists"));
	if (!found)
		return (reg_done(ctx, REG_EXISTS, NULL));
	return (reg_found(ctx, &user));
}

/* A row is there: ours (a retry after a lost COMMIT) or someone else's. */
static enum reg_step
reg_found(struct reg_ctx *ctx, const struct db_user *user)
{
	/* The salt is random: only our own insert can carry our hash. */
	if (ctx->hash[0] != '\0' &&
	    strcmp(user->password_hash, ctx->hash) == 0) {
		ctx->out->user_id = user->id;
		return (reg_done(ctx, REG_CREATED, NULL));
	}
	return (reg_done(ctx, REG_EXISTS, NULL));
}

/*
 * Close the transaction: COMMIT or ROLLBACK, with the named lock's
 * RELEASE_LOCK in the same round trip when "lock" is held (NULL: none).
 * A release that is not 1 is logged: the lock is gone either way once
 * the connection is.
 */
static enum db_status
reg_end(struct reg_ctx *ctx, int commit, const char *lock)
{
	enum db_lock_answer	released;
	enum db_status		st;

	if (lock == NULL)
		return (commit ? db_commit(ctx->db) : db_rollback(ctx->db));
	st = db_release_lock(ctx->db, commit ? DB_TXN_COMMIT :
	    DB_TXN_ROLLBACK, lock, &released);
	if (st == DB_OK && released != LOCK_ONE)
		log_warn("release_lock %s: answer %s, error %u", lock,
		    db_lock_answer_name(released), db_errno(ctx->db));
	return (st);
}

/*
 * Leave an open transaction unused: ROLLBACK, with the named lock's
 * release when "lock" is held (NULL: none). A lost connection already
 * took both with it.
 */
static void
reg_abandon(struct reg_ctx *ctx, const char *lock)
{
	if (db_connected(ctx->db) && reg_end(ctx, 0, lock) != DB_OK) {
		reg_trace_errno(ctx);
		log_warn("rollback: error %u: %s", db_errno(ctx->db),
		    db_error(ctx->db));
	}
}

/* The final answer of this request. */
static enum reg_step
reg_done(struct reg_ctx *ctx, enum reg_result result, const char *reason)
{
	ctx->out->result = result;
	ctx->out->reason = reason;
	return (STEP_DONE);
}

/* Turn a failed DB call into the attempt's step. */
static enum reg_step
reg_db_failed(struct reg_ctx *ctx, enum db_status st, const char *what)
{
	reg_trace_errno(ctx);
	switch (st) {
	case DB_RETRY:
		return (STEP_RETRY);
	case DB_LOST:
		return (STEP_LOST);
	case DB_READ_ONLY:
		/* Nothing was written: the answer is "later", not a guess. */
		return (reg_done(ctx, REG_DB_UNAVAILABLE,
		    "the database takes no writes now (read-only)"));
	default:
		log_error("%s: error %u: %s", what, db_errno(ctx->db),
		    db_error(ctx->db));
		return (reg_done(ctx, REG_INTERNAL,
		    "unexpected database error"));
	}
}

/* Note a DB error for the request's log line. */
static void
reg_trace_errno(struct reg_ctx *ctx)
{
	struct reg_trace	*trace = &ctx->trace;

	if (trace->nerrnos < sizeof(trace->errnos) / sizeof(trace->errnos[0]))
		trace->errnos[trace->nerrnos++] = db_errno(ctx->db);
}

/* Does this result say what happened to the row (no "unknown" left)? */
static int
reg_known(const struct reg_outcome *out)
{
	return (out->result == REG_CREATED || out->result == REG_EXISTS ||
	    out->result == REG_REPLAYED);
}

/*
 * Back off before retry n (1, 2, ...): 10 ms doubling up to 320, plus
 * jitter. 0 when the budget leaves no room for another attempt.
 */
static int
reg_backoff(const struct reg_ctx *ctx, unsigned int n)
{
	struct timespec	ts;
	unsigned int	base = 10U << (n > 5 ? 5 : n - 1), pause;

	pause = base + (unsigned int)(clock_mono_us() % base);
	if (deadline_left_ms(ctx->deadline) <= pause + REG_RESERVE_MS)
		return (0);
	ts.tv_sec = pause / 1000;
	ts.tv_nsec = (long)(pause % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1)
		continue;
	return (1);
}

/* The request's one log line: what happened, never the password. */
static void
reg_log(const struct reg_ctx *ctx)
{
	const struct reg_trace	*trace = &ctx->trace;
	char			 errnos[64] = "";
	unsigned int		 i;
	int			 used;

	for (i = 0, used = 0; i < trace->nerrnos && used >= 0 &&
	    (size_t)used < sizeof(errnos); i++)
		used += snprintf(errnos + used, sizeof(errnos) - (size_t)used,
		    "%s%u", i ? "," : "", trace->errnos[i]);
	/* log.c escapes the whole line: the openid cannot forge one. */
	log_info("register openid=%.*s strategy=%s result=%s attempts=%u "
	    "lock=%s errnos=%s%s", (int)ctx->in->openid_len, ctx->in->openid,
	    config_strategy_name(ctx->used != STRATEGY_AUTO ? ctx->used :
	    reg_strategy_in_use(ctx->db, ctx->cfg)),
	    reg_result_name(ctx->out->result), ctx->out->attempts,
	    db_lock_answer_name(trace->lock), errnos[0] ? errnos : "-",
	    ctx->unknown ? " commit=unanswered" : "");
}
