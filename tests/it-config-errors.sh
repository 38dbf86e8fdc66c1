#!/usr/bin/env bash
# Integration: a configuration the database refuses fails fast and loudly.
#  - regonce -t with a wrong password (1045), an unknown database (1049),
#    no access to the database (1044), a missing grant on users or (keys
#    required) on idempotency_keys (1142): exit 4 (not 3, "database
#    down"), naming it;
#  - the wrapper (regonce-spawn) refuses to start such a pool, and starts
#    nothing;
#  - a worker started without the wrapper's check (a supervisor's respawn)
#    refuses to start: exit 4, the reason in its log file and on stderr;
#  - a database that is down stays "start anyway" (exit 3);
#  - a log_file in a missing directory is said to be one.
# Pools: none of its own (the stack's MariaDB, its own sockets)
. "$REGONCE_SRCDIR/tests/lib.sh"

WORKER=${REGONCE_IT_WORKER:-$REGONCE_BUILDDIR/fcgi-app/regonce}
SPAWN=$REGONCE_BUILDDIR/conf/regonce-spawn
RUN_USER=""
[ "$(id -u)" -eq 0 ] && RUN_USER=regonce
PASSWORD=$(cat "$VAR/db-password")
CONFS=$VAR/pools/config-errors
mkdir -p "$CONFS"
[ -z "$RUN_USER" ] || chown "$RUN_USER" "$CONFS"

# conf NAME LINES...: a config file with the stack's database settings,
# then LINES (a later key wins); prints its path.
conf() {
	local name=$1 file
	shift
	file=$CONFS/$name.conf
	(umask 077 && : >"$file")
	{
		printf 'db_socket = %s\ndb_user = regonce\ndb_password = %s\n' \
			"$REGONCE_IT_DB_SOCKET" "$PASSWORD"
		printf 'db_name = regonce\nlog_file = %s\n' "$VAR/log/config-errors.log"
		printf '%s\n' "$@"
	} >"$file"
	[ -z "$RUN_USER" ] || chown "$RUN_USER" "$file"
	echo "$file"
}

# check CONF: regonce -t as the workers' user; sets RC and OUT.
check() {
	OUT=$(${RUN_USER:+runuser -u "$RUN_USER" --} "$WORKER" -t -c "$1" 2>&1)
	RC=$?
	printf '# %s\n' "$OUT"
}

# Accounts with less than the worker needs, dropped at the end.
sql "CREATE USER IF NOT EXISTS 'ce_select'@'localhost' IDENTIFIED BY 'ce-pw-1'"
sql "GRANT SELECT ON regonce.users TO 'ce_select'@'localhost'"
sql "CREATE USER IF NOT EXISTS 'ce_users'@'localhost' IDENTIFIED BY 'ce-pw-2'"
sql "GRANT SELECT, INSERT ON regonce.users TO 'ce_users'@'localhost'"
sql "CREATE USER IF NOT EXISTS 'ce_none'@'localhost' IDENTIFIED BY 'ce-pw-3'"
# A grant on a database nobody created: the server then says 1049 (to a
# user with no grant there it says 1044, and shows nothing of what exists).
sql "GRANT SELECT ON regonce_ce_missing.* TO 'ce_none'@'localhost'"
drop_users() {
	sql "DROP USER IF EXISTS 'ce_select'@'localhost', 'ce_users'@'localhost', 'ce_none'@'localhost'"
}
trap drop_users EXIT

: >>"$VAR/log/config-errors.log"
[ -z "$RUN_USER" ] || chown "$RUN_USER" "$VAR/log/config-errors.log"

GOOD=$(conf good)
check "$GOOD"
is "$RC" 0 "regonce -t on the stack's own settings: exit 0"

check "$(conf password 'db_password = not-the-password')"
is "$RC" 4 "a wrong password: regonce -t exits 4, not 3 (database down)"
grep -q "access denied.*error 1045" <<<"$OUT"
ok $? "... naming it: access denied, error 1045"

check "$(conf unknown-db 'db_user = ce_none' 'db_password = ce-pw-3' 'db_name = regonce_ce_missing')"
is "$RC" 4 "an unknown database: exit 4"
grep -q "unknown database.*error 1049" <<<"$OUT"
ok $? "... naming it: unknown database, error 1049"

check "$(conf no-access 'db_user = ce_none' 'db_password = ce-pw-3')"
is "$RC" 4 "a user with no access to the database: exit 4"
grep -q "error 1044" <<<"$OUT"
ok $? "... naming it: error 1044"

SELECT_ONLY=$(conf select-only 'db_user = ce_select' 'db_password = ce-pw-1')
check "$SELECT_ONLY"
is "$RC" 4 "SELECT without INSERT on users: exit 4"
grep -q "grant is missing.*error 1142: INSERT command denied.*users" <<<"$OUT"
ok $? "... naming the missing grant: INSERT on users"

check "$(conf no-idem 'db_user = ce_users' 'db_password = ce-pw-2' 'idempotency = required')"
is "$RC" 4 "idempotency required, no grant on idempotency_keys: exit 4"
grep -q "error 1142: SELECT command denied.*idempotency_keys" <<<"$OUT"
ok $? "... naming the missing grant: SELECT on idempotency_keys"

# Optional keys without their table's grant: an upgrade in progress
# (doc/operations.md), served without keys; said, not refused.
check "$(conf idem-optional 'db_user = ce_users' 'db_password = ce-pw-2' 'idempotency = optional')"
is "$RC" 0 "idempotency optional, no grant on idempotency_keys: exit 0"
grep -q "idempotency_keys cannot be used: error 1142" <<<"$OUT"
ok $? "... and the missing grant is said"

check "$(conf idem-off 'db_user = ce_users' 'db_password = ce-pw-2' 'idempotency = off')"
is "$RC" 0 "idempotency off: SELECT, INSERT on users is enough (exit 0)"

check "$(conf down 'db_socket = /nonexistent/mysqld.sock')"
is "$RC" 3 "a database that does not answer is still exit 3 (start anyway)"

check "$(conf no-log-dir "log_file = $VAR/no-such-dir/regonce.log")"
is "$RC" 1 "a log_file in a missing directory: exit 1"
grep -q "directory $VAR/no-such-dir does not exist" <<<"$OUT"
ok $? "... saying the directory does not exist (not Permission denied)"

# --- the pool does not start -------------------------------------------------
BAD_PW=$(conf spawn-password 'db_password = not-the-password')
OUT=$(REGONCE_BIN=$WORKER REGONCE_CONF=$BAD_PW \
	REGONCE_SOCKET=$VAR/run/ce-bad.sock REGONCE_PIDFILE=$VAR/run/ce-bad.pid \
	REGONCE_WORKERS=2 REGONCE_RUN_USER=$RUN_USER \
	REGONCE_SOCKET_GROUP="${RUN_USER:-$(id -gn)}" "$SPAWN" 2>&1)
RC=$?
printf '# %s\n' "$OUT"
# The old wrapper started it anyway: stop what it started.
[ ! -f "$VAR/run/ce-bad.pid" ] || stop_pids "$VAR/run/ce-bad.pid"
is "$RC" 1 "regonce-spawn with a wrong password: exit 1"
grep -q "not started: .*error 1045" <<<"$OUT"
ok $? "... saying why (error 1045), not 'starting anyway'"
[ ! -e "$VAR/run/ce-bad.sock" ]
ok $? "... and no socket was opened"
rm -f "$VAR/run/ce-bad.sock"

# --- a worker started without the wrapper's check ------------------------
# spawn-fcgi -n execs the worker on the socket, as a supervisor's respawn
# does: its exit status is the worker's.
WLOG=$VAR/log/config-errors-worker.log
: >"$WLOG"
[ -z "$RUN_USER" ] || chown "$RUN_USER" "$WLOG"
printf 'log_file = %s\n' "$WLOG" >>"$SELECT_ONLY"
if [ -n "$RUN_USER" ]; then
	as_user=(-u "$RUN_USER" -g "$RUN_USER")
else
	as_user=()
fi
OUT=$(REGONCE_CONF=$SELECT_ONLY timeout 30 spawn-fcgi -n -s "$VAR/run/ce-worker.sock" \
	"${as_user[@]}" -- "$WORKER" 2>&1)
RC=$?
printf '# %s\n' "$OUT"
rm -f "$VAR/run/ce-worker.sock"
is "$RC" 4 "a worker whose grant is missing refuses to start: exit 4"
grep -q "not starting: .*INSERT command denied" <<<"$OUT"
ok $? "... saying why on stderr"
grep -q "not starting: .*INSERT command denied" "$WLOG"
ok $? "... and in its log file"

done_testing
