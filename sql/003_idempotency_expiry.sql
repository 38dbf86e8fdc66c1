-- 003: each stored Idempotency-Key answer carries its own expiry. Safe to
-- run again.
--
-- Before 003 a worker purged rows older than its own idempotency_ttl_s,
-- so a pool with a short TTL deleted the answers of pools with a long one
-- sharing the database. Now each row's expires_at is set when it is
-- stored, from the storing pool's TTL, and every pool purges and ignores
-- only rows past their own expires_at.
--
-- Rows stored before 003 get created_at + 86400 s (the default TTL). A
-- worker older than 003 still inserts without the column: its rows get
-- the same default, a day from their insert. Apply this file, then
-- upgrade the workers; the grants of 002 cover the new column.
ALTER TABLE idempotency_keys
  ADD COLUMN IF NOT EXISTS expires_at TIMESTAMP NULL DEFAULT NULL;
UPDATE idempotency_keys SET expires_at = created_at + INTERVAL 86400 SECOND
  WHERE expires_at IS NULL;
ALTER TABLE idempotency_keys
  MODIFY expires_at TIMESTAMP NOT NULL
    DEFAULT (CURRENT_TIMESTAMP + INTERVAL 86400 SECOND),
  ADD KEY IF NOT EXISTS ix_idempotency_keys_expires (expires_at);
