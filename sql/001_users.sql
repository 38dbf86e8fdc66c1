-- 001: the users table. Safe to run again (IF NOT EXISTS).
--
-- openid is ASCII with a binary collation and a UNIQUE key: the key is the
-- last word on "one row per openid" whatever the application does, and the
-- binary collation keeps 'oAbC' and 'oabc' apart (Debian's server default,
-- utf8mb4_general_ci, would fold them into one user and refuse the second).
-- password_hash holds an argon2id PHC string, never a clear password.
CREATE TABLE IF NOT EXISTS users (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  openid        VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  username      VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
                NOT NULL,
  password_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_users_openid (openid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
