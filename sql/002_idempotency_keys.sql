-- 002: stored answers for the Idempotency-Key header. Safe to run again.
--
-- A request that carries a key has its answer (status and body bytes)
-- stored here, in the same transaction as the user row when it creates
-- one, so a retry with the same key gets the very same answer. Keys are
-- stored as their SHA-256; fingerprint is an HMAC-SHA-256 of method, path and
-- body, so a key reused with another body is refused (422), never
-- answered with someone else's answer. Rows older than idempotency_ttl_s
-- count as absent and are purged in small batches by the workers.
--
-- Upgrading: apply this file, then grant the worker's account
--   GRANT SELECT, INSERT, DELETE ON yourdb.idempotency_keys TO 'regonce'@'localhost';
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key_hash    BINARY(32) NOT NULL,
  fingerprint BINARY(32) NOT NULL,
  status      SMALLINT UNSIGNED NOT NULL,
  body        VARBINARY(1024) NOT NULL,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (key_hash),
  KEY ix_idempotency_keys_created (created_at)
) ENGINE=InnoDB;
