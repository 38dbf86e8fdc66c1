/*
 * The stored answer of an Idempotency-Key (IETF httpapi draft): a step of
 * the registration path, in the same transaction as the user row.
 *
 * Requests with the same key are serialised on a named lock of the key's
 * digest, taken without waiting: a second one while the first runs is
 * told "in use" (409), never queued. With the lock held, the stored
 * answer decides: the same fingerprint (method, path, body) gets it
 * replayed; another fingerprint is refused (422); none means the request
 * runs, and its answer is stored with what it wrote.
 *
 * Storage is bounded: a new key first purges a few expired answers, then
 * counts the unexpired ones up to idempotency_max_keys; at the cap it is
 * refused (503 key_storage_full) before any other work, storing nothing.
 */
#include "config.h"

#include <string.h>

#include "app.h"

#define IDEM_LOCK_PREFIX	"regonce-key:"
#define IDEM_PURGE_BATCH	500
/* Each new key deletes up to this many expired answers before it is
 * stored: more than the one it adds, so expired answers never pile up,
 * and few enough to keep its DELETE short. */
#define IDEM_INSERT_PURGE	8
/* Once the cap is reached, a worker refuses new keys without asking
 * the database for this long: a flood at the cap costs no scans. */
#define IDEM_FULL_RECHECK_US	1000000
/* A count that left at least half the cap and this many answers free
 * holds for IDEM_ROOMY_RECHECK_US: more new keys than that in a second,
 * across every worker, would be needed to pass the cap meanwhile. */
#define IDEM_ROOMY_FREE		10000
#define IDEM_ROOMY_RECHECK_US	1000000

/* Until when (clock_mono_us) this worker knows storage to be full, or
 * to have room to spare. */
static int64_t	idem_full_until_us;
static int64_t	idem_roomy_until_us;

static enum db_status	idem_room(struct db *, const struct config *,
			    int *);

/*
 * The key's step, first of a keyed registration: take the key's lock
 * and read its stored answer. *verdict says what to do; the verdicts
 * that end the request (in use, replay, reused, full) have set out's result
 * (and out->stored: the answer to replay). hold says whether the lock
 * is ours (all verdicts but IDEM_IN_USE) and keeps its name for
 * idem_end().
 */
enum db_status
idem_begin(struct db *db, const struct config *cfg,
    const struct reg_idem *idem, struct idem_hold *hold,
    enum idem_verdict *verdict, struct reg_outcome *out)
{
	enum db_lock_answer	answer;
	enum db_status		st;
	int			found, room = 0;

	hold->locked = hold->expired = 0;
	if (db_lock_name(db, IDEM_LOCK_PREFIX, "idempotency_keys",
	    idem->key_hash, DB_HASH_BYTES, hold->lock,
	    sizeof(hold->lock)) == -1)
		return (DB_ERROR);
	/* Timeout 0: a request with this key is running, or it is not. */
	if ((st = db_get_lock(db, hold->lock, 0, DB_TXN_NONE,
	    &answer)) != DB_OK)
		return (st);
	if (answer != LOCK_ONE) {
		*verdict = IDEM_IN_USE;
		out->result = REG_KEY_IN_USE;
		out->reason = "a request with this Idempotency-Key is still "
		    "running";
		return (DB_OK);
	}
	/* A new answer to store (none, or an expired one): room for it? */
	if ((st = db_idem_find(db, idem->key_hash, &out->stored,
	    &found)) != DB_OK || (found != 1 &&
	    (st = idem_room(db, cfg, &room)) != DB_OK)) {
		/* No verdict: the lock goes now (with the session if lost). */
		if (db_connected(db))
			db_release_lock(db, DB_TXN_NONE, hold->lock, &answer);
		return (st);
	}
	hold->locked = 1;
	if (found == 2 || found == 0) {
		*verdict = found == 2 ? IDEM_EXPIRED : IDEM_NEW;
		hold->expired = found == 2;
		if (!room) {
			*verdict = IDEM_FULL;
			out->result = REG_KEY_STORAGE_FULL;
			out->reason = "idempotency_max_keys unexpired "
			    "Idempotency-Key answers are stored";
		}
	} else if (memcmp(out->stored.fingerprint, idem->fingerprint,
	    DB_HASH_BYTES) == 0) {
		*verdict = IDEM_REPLAY;
		out->result = REG_REPLAYED;
	} else {
		*verdict = IDEM_REUSED;
		out->result = REG_KEY_REUSED;
		out->reason = "this Idempotency-Key was used with another "
		    "request";
	}
	return (DB_OK);
}

/* Store the answer to outcome under the key, in the open transaction. */
enum db_status
idem_save(struct db *db, const struct config *cfg,
    const struct reg_idem *idem, const struct reg_outcome *outcome,
    int expired)
{
	struct db_idem	row;

	memset(&row, 0, sizeof(row));
	memcpy(row.fingerprint, idem->fingerprint, DB_HASH_BYTES);
	if (idem->render(outcome, &row) == -1)
		return (DB_ERROR);
	return (db_idem_store(db, idem->key_hash, &row, expired,
	    cfg->idempotency_ttl_s));
}

/*
 * The key's last step: store the answer of a request that wrote nothing
 * (exists, invalid: a "created" was stored with its row), then release
 * the key's lock (a lost connection has released it already). Returns
 * the store's status: a failure is logged here, the caller notes it.
 */
enum db_status
idem_end(struct db *db, const struct config *cfg,
    const struct reg_idem *idem, const struct idem_hold *hold,
    const struct reg_outcome *out)
{
	enum db_lock_answer	answer;
	enum db_status		st = DB_OK;

	if ((out->result == REG_EXISTS || out->result == REG_INVALID) &&
	    (st = idem_save(db, cfg, idem, out, hold->expired)) != DB_OK)
		log_warn("storing the key's answer: error %u: %s",
		    db_errno(db), db_error(db));
	if (!db_connected(db))
		return (st);
	if (db_release_lock(db, DB_TXN_NONE, hold->lock, &answer) != DB_OK ||
	    answer != LOCK_ONE)
		log_warn("release_lock %s: answer %s, error %u", hold->lock,
		    db_lock_answer_name(answer), db_errno(db));
	return (st);
}

/*
 * Delete answers past their own expires_at (each pool's TTL, set when
 * stored), a small batch at a time: a short autocommit DELETE on the
 * expires_at index, between requests.
 */
void
idem_purge(struct db *db, const struct config *cfg)
{
	unsigned long	deleted;

	if (cfg->idempotency == IDEM_MODE_OFF || !db_connected(db))
		return;
	if (db_idem_purge(db, IDEM_PURGE_BATCH, &deleted) != DB_OK)
		log_warn("purging expired Idempotency-Keys: error %u: %s",
		    db_errno(db), db_error(db));
	else if (deleted > 0)
		log_info("purged %lu expired Idempotency-Keys", deleted);
}

/*
 * Whether another answer may be stored (*room): purge a small batch of
 * expired answers (by the expires_at index: O(batch), so they cannot
 * accumulate at any insert rate), then count the unexpired ones, up to
 * the cap. The count reads up to idempotency_max_keys index entries (33
 * ms at 100000, doc/operations.md); at the cap the worker remembers it
 * for IDEM_FULL_RECHECK_US and refuses without a query meanwhile, and a
 * count far below the cap is trusted for IDEM_ROOMY_RECHECK_US, so the
 * scan is paid per new key only once the table is half full. Concurrent
 * requests that each found room may overshoot the cap by at most one
 * answer per worker.
 */
static enum db_status
idem_room(struct db *db, const struct config *cfg, int *room)
{
	unsigned long	deleted;
	unsigned int	live;
	enum db_status	st;
	int64_t		now = clock_mono_us();

	*room = 0;
	if (now < idem_full_until_us)
		return (DB_OK);
	if ((st = db_idem_purge(db, IDEM_INSERT_PURGE, &deleted)) != DB_OK) {
		/* A purge that lost a lock wait is no reason to refuse. */
		if (!db_connected(db))
			return (st);
		log_warn("purging expired Idempotency-Keys before a new one: "
		    "error %u: %s", db_errno(db), db_error(db));
	}
	if (now < idem_roomy_until_us) {
		*room = 1;
		return (DB_OK);
	}
	if ((st = db_idem_live(db, cfg->idempotency_max_keys, &live)) !=
	    DB_OK)
		return (st);
	if (live >= cfg->idempotency_max_keys) {
		idem_full_until_us = now + IDEM_FULL_RECHECK_US;
		log_warn("Idempotency-Key storage is full (%u unexpired "
		    "answers, idempotency_max_keys): new keys are refused",
		    live);
		return (DB_OK);
	}
	if (cfg->idempotency_max_keys - live >= IDEM_ROOMY_FREE &&
	    cfg->idempotency_max_keys - live >= cfg->idempotency_max_keys / 2)
		idem_roomy_until_us = now + IDEM_ROOMY_RECHECK_US;
	*room = 1;
	return (DB_OK);
}

/* Forget that storage was full: the next new key counts again. */
void
idem_full_forget(void)
{
	idem_full_until_us = idem_roomy_until_us = 0;
}
