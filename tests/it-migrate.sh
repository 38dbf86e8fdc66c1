#!/usr/bin/env bash
# Integration: regonce-migrate adopts tables the old code filled.
#  - the duplicates are real: the naive pool (tests/regonce-test, the
#    original check-then-insert) fills regonce_mig.users through nginx;
#  - a legacy-shaped copy (clear `password` column, no password_hash) is
#    made from those rows, since the naive worker only writes
#    password_hash: the race's duplicates, with clear passwords;
#  - --dry-run changes nothing; a run killed (-9) mid-way resumes; the
#    end state: no duplicates, the earliest row kept, every row accounted
#    for, uq_users_openid, openid ascii_bin, every password verifies, no
#    clear text anywhere; a second run changes nothing;
#  - the regonce-named table is migrated while a replay storm still writes
#    through the naive code: 0 duplicates and every row accounted for;
#  - the worker's account (SELECT, INSERT) cannot migrate anything;
#  - --online-tries 0 builds the index under LOCK TABLES.
# Pools: mignaive
. "$REGONCE_SRCDIR/tests/lib.sh"

MIGRATE="$REGONCE_BUILDDIR/tools/regonce-migrate"
PWCHECK="$REGONCE_BUILDDIR/tests/pwcheck"
DB=regonce_mig
P="mig-$RUN-"
PHC="'^[$]argon2id[$]v=19[$]m=[0-9]+,t=[0-9]+,p=[0-9]+[$][A-Za-z0-9+/]+[$][A-Za-z0-9+/]+$'"

# migrate ARGS...: the tool, on its own account, on this database, at a
# cheap argon2 cost.
migrate() {
	REGONCE_DB_NAME=$DB REGONCE_ARGON2_MEMORY_KIB=8 REGONCE_ARGON2_ITERATIONS=1 \
		"$MIGRATE" -c "$VAR/migrate.conf" "$@"
}
q() { sql "$DB" "$1"; }
count() { q "SELECT COUNT(*) FROM \`$1\`"; }
# dups TABLE: openids (byte for byte) with more than one row.
dups() {
	q "SELECT COUNT(*) FROM (SELECT 1 FROM \`$1\` WHERE openid IS NOT NULL
		GROUP BY CAST(openid AS BINARY) HAVING COUNT(*) > 1) d"
}
has_unique() {
	q "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '$DB'
		AND TABLE_NAME = '$1' AND INDEX_NAME = 'uq_users_openid' AND NON_UNIQUE = 0"
}
checksum() { q "CHECKSUM TABLE \`$1\` EXTENDED" | cut -f2; }
# j FIELD: a member of the last JSON report.
j() { jq -r ".$1" <<<"$OUT"; }

# --- the old code's table, filled by the old code -----------------------

"$REPLAY" --url "$REGONCE_IT_URL_MIGNAIVE/register" --users 50 --replays 3 \
	--concurrency 32 --prefix "$P" --json >/dev/null
[ "$(dups users)" -gt 0 ]
ok $? "the naive pool left duplicate openids ($(dups users) of 50): there is something to migrate"
# What else such a table holds: case variants (one user to the old
# collation, two to regonce), openids regonce refuses, a row without a
# password, and clear text in password_hash.
q "INSERT INTO users (openid, username, password_hash) VALUES
	('${P}Case', 'c', 'clear-case-1'), ('${P}case', 'c', 'clear-case-2'),
	('${P}case', 'c', 'clear-case-3'), ('bad openid $RUN', 'b', 'clear-b'),
	(NULL, 'n', 'clear-n'), (CONCAT('${P}', _utf8mb4 x'c3bc'), 'u', 'clear-u'),
	('${P}nopw', 'p', NULL)"

# The legacy shape: the same rows (the race's duplicates), the password
# in clear text in `password`, no password_hash; clear = legacy-pw-<id>.
q "CREATE TABLE legacy (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	openid VARCHAR(255) NULL, username VARCHAR(255) NULL, password VARCHAR(255) NULL)
	ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
q "INSERT INTO legacy SELECT id, openid, username,
	IF(password_hash IS NULL, NULL, CONCAT('legacy-pw-', id)) FROM users"
LEGACY_ROWS=$(count legacy)
LEGACY_DUP_OPENIDS=$(dups legacy)
[ "$(q "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$DB'
	AND TABLE_NAME = 'legacy' AND COLUMN_NAME = 'password_hash'")" = 0 ]
ok $? "legacy table: clear password column, no password_hash"

# --- command line and rights ------------------------------------------------

"$MIGRATE" --help >/dev/null
ok $? "--help exits 0"
"$MIGRATE" -c "$VAR/migrate.conf" --table 'users;drop' >/dev/null 2>&1
is "$?" 2 "a table name that is not a plain identifier is refused (exit 2)"
"$MIGRATE" -c "$VAR/migrate.conf" --table legacy --batch 0 >/dev/null 2>&1
is "$?" 2 "--batch 0 is refused (exit 2)"
is "$(stat -c %a "$VAR/migrate.conf")" 600 "var/migrate.conf is 0600"
# DELETE on idempotency_keys alone: expired stored answers (sql/002).
grants=$(sql "SHOW GRANTS FOR 'regonce'@'localhost'" | grep -v '`idempotency_keys`')
! grep -qE 'ALTER|DELETE|UPDATE|CREATE|ALL PRIVILEGES' <<<"$grants"
ok $? "the worker's account has no ALTER, DELETE, UPDATE or CREATE (but DELETE on idempotency_keys)"
grep -q 'ALTER' <<<"$(sql "SHOW GRANTS FOR 'regonce_migrate'@'localhost'")"
ok $? "the migration account has ALTER"

# The worker's own account, on a table with work to do: refused, unchanged.
q "CREATE TABLE rights LIKE users"
q "INSERT INTO rights (openid, username, password_hash) VALUES ('r1', 'r', 'x'), ('r1', 'r', 'y')"
sum=$(checksum rights)
grep '^db_' "$VAR/pools/mignaive.conf" >"$VAR/worker-db.conf"
chmod 600 "$VAR/worker-db.conf"
out=$(REGONCE_ARGON2_MEMORY_KIB=8 REGONCE_ARGON2_ITERATIONS=1 \
	"$MIGRATE" -c "$VAR/worker-db.conf" --table rights 2>&1)
rc=$?
# Its grants name the users table alone: it cannot even see this one.
[ $rc -ne 0 ] && grep -qE 'denied|no table' <<<"$out"
ok $? "the worker's account cannot migrate (exit $rc: $(head -c 120 <<<"$out"))"
is "$(checksum rights) $(count rights)" "$sum 2" "... and the table is as it was"

# --- the locked build, at once --------------------------------------------------

# --online-tries 0: the last sweep and the index build run under LOCK
# TABLES (the fallback when duplicates keep landing in online builds).
q "CREATE TABLE locked LIKE users"
q "INSERT INTO locked (openid, username, password_hash) VALUES ('l1', 'l', 'pw-l1'),
	('l1', 'l', 'pw-l1b'), ('L1', 'l', 'pw-L1'), ('l2', 'l', 'pw-l2')"
OUT=$(migrate --table locked --online-tries 0 --json)
is "$?" 0 "--online-tries 0 exits 0"
grep -q 'inside LOCK TABLES' <<<"$(j unique_build)"
ok $? "... the index was built under LOCK TABLES ($(j unique_build))"
is "$(count locked) $(count locked_migrated_duplicates) $(dups locked) $(has_unique locked)" \
	"3 1 0 1" "... 3 rows kept (l1, L1, l2), 1 merged, no duplicates, the index is there"

# --- dry run -----------------------------------------------------------------

sum=$(checksum legacy)
OUT=$(migrate --table legacy --dry-run --json)
is "$?" 0 "--dry-run exits 0"
echo "# dry run: $OUT"
is "$(checksum legacy)" "$sum" "--dry-run: legacy's checksum is unchanged"
is "$(q "SHOW TABLES LIKE 'legacy_migrated_duplicates'")" "" "--dry-run: no audit table"
is "$(j changed) $(j duplicate_openids) $(j refused) $(j to_hash)" \
	"false $LEGACY_DUP_OPENIDS 4 $((LEGACY_ROWS - 1))" \
	"--dry-run reports the duplicates, 4 refused rows, the passwords to hash"

# --- killed mid-run, then resumed ---------------------------------------------

# The production cost (about 50 ms a hash) and batches of 5: the run is
# still hashing when two batches have committed.
hashed_rows() { q "SELECT COUNT(*) FROM legacy WHERE password_hash IS NOT NULL"; }
two_batches() { [ "$(hashed_rows)" -ge 10 ]; }
# The binary itself in the background (not the shell function), so that
# $! is its PID and -9 reaches it.
REGONCE_DB_NAME=$DB REGONCE_ARGON2_MEMORY_KIB=19456 REGONCE_ARGON2_ITERATIONS=2 \
	"$MIGRATE" -c "$VAR/migrate.conf" --table legacy --batch 5 \
	>"$VAR/log/migrate-killed.log" 2>&1 &
MIG_PID=$!
await 600 two_batches
ok $? "the first run commits batches (hashed: $(hashed_rows))"
kill -KILL "$MIG_PID" 2>/dev/null
ok $? "the first run was still running and is killed (-9)"
wait "$MIG_PID" 2>/dev/null
partial=$(hashed_rows)
[ "$partial" -lt $((LEGACY_ROWS - 1)) ]
ok $? "killed mid-way: $partial of $((LEGACY_ROWS - 1)) passwords hashed"

OUT=$(migrate --table legacy --batch 5 --json)
is "$?" 0 "the resumed run exits 0"
echo "# resumed: $OUT"
is "$(j unique_index) $(j changed)" "true true" "resumed run: unique index built, changes made"
is "$(j rows_before)" "$(( $(j rows_after) + $(j audit_rows) ))" \
	"resumed run: rows before = rows after + rows moved to the audit table"
is "$(( $(count legacy) + $(count legacy_migrated_duplicates) ))" "$LEGACY_ROWS" \
	"every row of the original table is in the table or the audit table"
is "$(q "SELECT COUNT(*) FROM legacy l JOIN legacy_migrated_duplicates d USING (id)")" 0 \
	"no row is in both"
is "$(dups legacy)" 0 "no duplicate openids are left"
is "$(has_unique legacy)" 1 "uq_users_openid is there, UNIQUE"
is "$(q "SELECT CONCAT(CHARACTER_SET_NAME, ' ', COLLATION_NAME, ' ', IS_NULLABLE)
	FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$DB' AND TABLE_NAME = 'legacy'
	AND COLUMN_NAME = 'openid'")" "ascii ascii_bin NO" "openid is ascii_bin NOT NULL"
is "$(q "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$DB'
	AND TABLE_NAME IN ('legacy', 'legacy_migrated_duplicates') AND COLUMN_NAME = 'password'")" 0 \
	"no clear password column in the table or the audit table"
is "$(q "SELECT COUNT(*) FROM legacy_migrated_duplicates d JOIN legacy k
	ON k.id = d.merged_into AND CAST(k.openid AS BINARY) = CAST(d.openid AS BINARY)
	WHERE d.migrate_reason = 'duplicate' AND d.merged_into < d.id")" \
	"$(q "SELECT COUNT(*) FROM legacy_migrated_duplicates WHERE migrate_reason = 'duplicate'")" \
	"each merged row points at the kept row of its openid, which is earlier"
is "$(q "SELECT COUNT(*) FROM legacy_migrated_duplicates d WHERE migrate_reason = 'duplicate'
	AND EXISTS (SELECT 1 FROM legacy_migrated_duplicates e WHERE e.id < d.merged_into
	AND CAST(e.openid AS BINARY) = CAST(d.openid AS BINARY))")" 0 \
	"the kept row is the earliest of its openid"
is "$(q "SELECT COUNT(*) FROM legacy WHERE openid IN (BINARY '${P}Case', BINARY '${P}case')")" 2 \
	"case variants are two users: both kept"
is "$(j case_variants)" 2 "the report counts the case variants"
is "$(q "SELECT GROUP_CONCAT(migrate_reason, '=', n ORDER BY migrate_reason) FROM
	(SELECT migrate_reason, COUNT(*) AS n FROM legacy_migrated_duplicates
	WHERE migrate_reason LIKE 'refused:%' GROUP BY migrate_reason) r")" \
	"refused:openid_bytes=2,refused:openid_null=1,refused:password_null=1" \
	"refused rows are kept in the audit table with their reason"
# Every password, kept or merged, against its clear text (legacy-pw-<id>).
verify=$(q "SELECT id, CONCAT('legacy-pw-', id), password_hash FROM legacy UNION ALL
	SELECT id, CONCAT('legacy-pw-', id), password_hash FROM legacy_migrated_duplicates
	WHERE password_hash IS NOT NULL" | "$PWCHECK")
ok $? "every old password verifies against its new hash (argon2id_verify)"
is "$(tail -1 <<<"$verify")" "verified $((LEGACY_ROWS - 1)), failed 0" \
	"... all $((LEGACY_ROWS - 1)) of them (one row had no password)"
q "SELECT id, 'not-the-password', password_hash FROM legacy LIMIT 3" | "$PWCHECK" >/dev/null
[ $? -ne 0 ]
ok $? "control: a wrong password does not verify"
[ "$(checksum legacy)" != "$sum" ]
ok $? "control: the checksum sees the migration's change"

# --- run again: nothing to do ------------------------------------------------

sum=$(checksum legacy)
audit_sum=$(checksum legacy_migrated_duplicates)
OUT=$(migrate --table legacy --json)
is "$?" 0 "a run after success exits 0"
is "$(j changed) $(j hashed) $(j audit_rows)" "false 0 0" "... and changes nothing"
is "$(checksum legacy) $(checksum legacy_migrated_duplicates)" "$sum $audit_sum" \
	"... table and audit table checksums unchanged"
migrate --table legacy | grep -q 'nothing to do'
ok $? "... and says so"

# --- killed between the table's last ALTER and the audit table's ----------------

# The table is done; its audit table still has a clear `password` column
# and a row without a hash (moved before it was hashed). A run resumes it.
q "CREATE TABLE half LIKE legacy"
q "INSERT INTO half SELECT * FROM legacy ORDER BY id LIMIT 1"
q "CREATE TABLE half_migrated_duplicates LIKE legacy_migrated_duplicates"
q "ALTER TABLE half_migrated_duplicates ADD COLUMN password VARCHAR(255) NULL"
q "INSERT INTO half_migrated_duplicates (id, openid, username, password, merged_into,
	migrate_reason) VALUES (100000, 'h', 'h', 'half-pw', 1, 'duplicate')"
OUT=$(migrate --table half --json)
is "$?" 0 "a run resumes a table whose audit table still has clear text"
is "$(q "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$DB'
	AND TABLE_NAME = 'half_migrated_duplicates' AND COLUMN_NAME = 'password'")" 0 \
	"... the audit table's clear column is gone"
verify=$(q "SELECT id, 'half-pw', password_hash FROM half_migrated_duplicates" | "$PWCHECK")
is "$(tail -1 <<<"$verify")" "verified 1, failed 0" "... after its row was hashed"

# --- one run at a time ---------------------------------------------------------

lock=$(lock_name "regonce migrate" "$DB" legacy)
mariadb --no-defaults --socket="$REGONCE_IT_DB_SOCKET" -u root -N -B \
	-e "SELECT GET_LOCK('$lock', 0), SLEEP(30)" >/dev/null 2>&1 &
HOLDER=$!
await 100 lock_held "$lock"
out=$(migrate --table legacy 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q 'another regonce-migrate' <<<"$out"
ok $? "a second run on the same table at once is refused"
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null

# --- while the old code still writes --------------------------------------------

before=$(count users)
STORM_FILE="$VAR/log/migrate-storm.json"
"$REPLAY" --url "$REGONCE_IT_URL_MIGNAIVE/register" --users 100 --replays 3 \
	--concurrency 32 --interval-ms 40 --prefix "${P}s-" \
	--db-conf "$VAR/pools/mignaive.conf" --json >"$STORM_FILE" &
STORM_PID=$!
storm_writing() { [ "$(q "SELECT COUNT(*) FROM users WHERE openid LIKE '${P}s-%'")" -gt 0 ]; }
await 300 storm_writing
ok $? "the storm is writing through the naive code"
OUT=$(migrate --table users --batch 5 --json)
is "$?" 0 "the migration under the storm exits 0"
echo "# under the storm: $OUT"
wait "$STORM_PID"
STORM=$(cat "$STORM_FILE")
echo "# storm: $STORM"
created=$(jq -r .created <<<"$STORM")
is "$(dups users)" 0 "after the storm: 0 duplicate openids"
is "$(has_unique users)" 1 "after the storm: uq_users_openid is there"
is "$(( $(count users) + $(count users_migrated_duplicates) ))" "$((before + created))" \
	"every row is accounted for: rows before + rows created = table + audit table"
is "$(j rows_before)" "$(( $(j rows_after) + $(j audit_rows) - $(j rows_arrived) ))" \
	"the tool's own accounting: before + arrived = after + moved"
is "$(jq -r .lost <<<"$STORM")" 0 "every 'created' of the storm has its row"
is "$(jq -r '.server_errors + .transport_errors' <<<"$STORM")" 0 \
	"the old endpoint's writers waited for the ALTERs; none failed"
is "$(q "SELECT COUNT(*) FROM users WHERE CAST(password_hash AS BINARY) NOT REGEXP $PHC")" 0 \
	"no clear text left in users.password_hash"
is "$(q "SELECT COUNT(*) FROM users_migrated_duplicates WHERE password_hash IS NOT NULL
	AND CAST(password_hash AS BINARY) NOT REGEXP $PHC")" 0 \
	"no clear text left in the audit table"
verify=$(q "SELECT id, 'clear-case-1', password_hash FROM users WHERE openid = BINARY '${P}Case'
	UNION ALL SELECT id, 'clear-case-2', password_hash FROM users WHERE openid = BINARY '${P}case'
	UNION ALL SELECT id, 'clear-case-3', password_hash FROM users_migrated_duplicates
	WHERE openid = BINARY '${P}case'" | "$PWCHECK")
is "$(tail -1 <<<"$verify")" "verified 3, failed 0" \
	"clear text in password_hash was hashed, kept row and merged row alike"

# --- foreign keys that reference the table --------------------------------------

# Moving a row is a DELETE: a child table ON DELETE CASCADE would lose the
# rows of every moved duplicate and refused row. The tool refuses (exit 4)
# and names the constraint, in --dry-run too, before changing anything.
q "CREATE TABLE fkusers (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	openid VARCHAR(255) NULL, username VARCHAR(255) NULL, password VARCHAR(255) NULL)
	ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
q "INSERT INTO fkusers VALUES (1, 'fk1', 'f', 'fk-pw-1'), (2, 'fk1', 'f', 'fk-pw-2'),
	(3, NULL, 'n', 'fk-pw-3'), (4, 'fk2', 'f', 'fk-pw-4')"
q "CREATE TABLE fkorders (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	user_id BIGINT UNSIGNED NOT NULL, CONSTRAINT fk_orders_user FOREIGN KEY (user_id)
	REFERENCES fkusers (id) ON DELETE CASCADE) ENGINE=InnoDB"
q "INSERT INTO fkorders (user_id) VALUES (1), (2), (2), (3), (4)"
fk_state() { echo "$(count fkusers) $(count fkorders) $(checksum fkusers)"; }
fk_before=$(fk_state)
for mode in --dry-run ''; do
	out=$(migrate --table fkusers $mode 2>&1)
	rc=$?
	echo "# foreign key ${mode:-run} (exit $rc): $out" | head -5
	[ $rc -eq 4 ] && grep -q 'fkorders.user_id' <<<"$out" &&
		grep -q 'fk_orders_user' <<<"$out"
	ok $? "${mode:-a run}: a table that a foreign key references is refused (exit $rc), the constraint named"
	is "$(fk_state)" "$fk_before" "... ${mode:-run}: every parent and child row is still there, unchanged"
done
is "$(q "SHOW TABLES LIKE 'fkusers_migrated_duplicates'")" "" "... and no audit table was made"
OUT=$(migrate --table fkusers --json 2>/dev/null)
is "$(j error | grep -c fk_orders_user)" 1 "--json: the error names the constraint"
# The documented way out: drop the constraint, run, re-point or re-add.
q "ALTER TABLE fkorders DROP FOREIGN KEY fk_orders_user"
migrate --table fkusers >/dev/null
is "$? $(count fkorders)" "0 5" "without the constraint the run succeeds and no child row is lost"

# --- unusual ids: 0, negative -------------------------------------------------------

# A signed id column: row 0 and negative ids must be hashed like any other,
# and a duplicate merged into row 0 (or into a negative row) says so.
q "CREATE TABLE oddids (id BIGINT NOT NULL PRIMARY KEY, openid VARCHAR(255) NULL,
	username VARCHAR(255) NULL, password VARCHAR(255) NULL)
	ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
q "INSERT INTO oddids VALUES (0, 'odd0', 'z', 'odd-pw-0'), (-5, 'odd5', 'm', 'odd-pw--5'),
	(3, 'odd0', 'z', 'odd-pw-3'), (7, 'odd0', 'z', 'odd-pw-7'), (9, 'odd9', 'n', 'odd-pw-9'),
	(-9, 'odd5', 'm', 'odd-pw--9')"
out=$(migrate --table oddids 2>&1)
rc=$?
echo "# unusual ids (exit $rc): $(tail -3 <<<"$out")"
is "$rc" 0 "ids 0 and negative: the run exits 0"
verify=$(q "SELECT id, CONCAT('odd-pw-', id), password_hash FROM oddids UNION ALL
	SELECT id, CONCAT('odd-pw-', id), password_hash FROM oddids_migrated_duplicates" |
	"$PWCHECK")
is "$(tail -1 <<<"$verify")" "verified 6, failed 0" "... every password, rows 0 and -5 included, is hashed"
is "$(q "SELECT GROUP_CONCAT(id, '>', COALESCE(merged_into, 'NULL') ORDER BY id)
	FROM oddids_migrated_duplicates")" "-5>-9,3>0,7>0" \
	"... duplicates of row 0 have merged_into = 0, of row -9 merged_into = -9"
OUT=$(migrate --table oddids --json 2>&1)
is "$? $(j changed) $(j hashed)" "0 false 0" "... a rerun exits 0 and changes nothing"
# Row 0 in an unsigned id column, on its own (no negative id to fail first).
q "CREATE TABLE zeroid (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, openid VARCHAR(255) NULL,
	username VARCHAR(255) NULL, password VARCHAR(255) NULL)
	ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
q "INSERT INTO zeroid VALUES (0, 'zero', 'z', 'zero-pw-0'), (4, 'zero', 'z', 'zero-pw-4'),
	(6, 'six', 's', 'zero-pw-6')"
out=$(migrate --table zeroid 2>&1)
rc=$?
echo "# row 0, unsigned (exit $rc): $(tail -2 <<<"$out")"
verify=$(q "SELECT id, CONCAT('zero-pw-', id), password_hash FROM zeroid UNION ALL
	SELECT id, CONCAT('zero-pw-', id), password_hash FROM zeroid_migrated_duplicates" |
	"$PWCHECK")
is "$rc $(tail -1 <<<"$verify")" "0 verified 3, failed 0" "row 0 (unsigned id): exit 0, every password hashed"
is "$(q "SELECT GROUP_CONCAT(id, '>', COALESCE(merged_into, 'NULL')) FROM zeroid_migrated_duplicates")" \
	"4>0" "... the duplicate of row 0 has merged_into = 0"

# --- the man page ----------------------------------------------------------------

if command -v groff >/dev/null; then
	warnings=$(groff -ww -z -man "$REGONCE_SRCDIR/tools/regonce-migrate.1" 2>&1)
	is "$warnings" "" "the man page is clean (groff -ww -z -man)"
else
	ok 0 "# SKIP groff is not installed"
fi

done_testing
