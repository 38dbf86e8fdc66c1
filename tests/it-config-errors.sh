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
#  - a supervised pool whose respawned worker the database refuses (a
#    grant revoked while it ran) is stopped by its supervisor, exit 1,
#    said in the log and on stderr;
#  - a database that is down stays "start anyway" (exit 3);
#  - a log_file in a missing directory is said to be one; a hash_cap_dir
#    that cannot be made is said, not fatal;
#  - doc/operations.md's database set-up (CREATE DATABASE, CREATE USER
#    with a password or unix_socket, the least grants) runs as written,
#    and regonce -t then passes.
# Pools: none of its own (the stack's MariaDB, its own sockets)
. "$REGONCE_SRCDIR/tests/lib.sh"

WORKER=${REGONCE_IT_WORKER:-$REGONCE_BUILDDIR/fcgi-app/regonce}
SPAWN=$REGONCE_BUILDDIR/conf/regonce-spawn
RUN_USER=""
[ "$(id -u)" -eq 0 ] && RUN_USER=regonce
PASSWORD=$(cat "$VAR/db-password")
NL=$'\n'
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
		printf 'fingerprint_key_file = %s\n' "$VAR/fingerprint.key"
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

check "$(conf hash-cap "hash_cap_dir = $VAR/no-such-dir/hash-cap")"
is "$RC" 0 "a hash_cap_dir that cannot be made: not fatal, exit 0"
grep -q "hash_cap_dir $VAR/no-such-dir/hash-cap cannot be created: .*hashes will run uncapped" <<<"$OUT"
ok $? "... saying so ($OUT)"

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

# --- the supervisor gives up on a worker the database refuses -----------
# The pool starts with the grants it needs; then one is revoked (a change
# on the database side) and a worker dies: its replacement refuses to
# start (exit 4), and the supervisor stops the pool and exits 1, saying
# why, instead of running a worker short or respawning for ever.
sql "CREATE USER IF NOT EXISTS 'ce_live'@'localhost' IDENTIFIED BY 'ce-pw-5'"
sql "GRANT SELECT, INSERT ON regonce.users TO 'ce_live'@'localhost'"
LIVE=$(conf live 'db_user = ce_live' 'db_password = ce-pw-5' 'idempotency = off' \
	"log_file = $VAR/log/config-errors-live.log")
: >"$VAR/log/config-errors-live.log"
[ -z "$RUN_USER" ] || chown "$RUN_USER" "$VAR/log/config-errors-live.log"
rm -f "$VAR/run/ce-live.sock"
REGONCE_DEFAULTS="" REGONCE_BIN=$WORKER REGONCE_CONF=$LIVE \
	REGONCE_SOCKET=$VAR/run/ce-live.sock REGONCE_PIDFILE=$VAR/run/ce-live.pid \
	REGONCE_WORKERS=2 REGONCE_RUN_USER=$RUN_USER \
	REGONCE_SOCKET_GROUP="${RUN_USER:-$(id -gn)}" \
	"$SPAWN" --supervise </dev/null >"$VAR/log/config-errors-live.out" 2>&1 &
LIVE_SUP=$!
live_workers() {
	ps -o pid=,stat=,comm= --ppid "$LIVE_SUP" 2>/dev/null |
		awk '$3 == "regonce" && $2 !~ /^Z/ { print $1 }'
}
two() { [ "$(live_workers | wc -l)" -eq 2 ]; }
await 100 two
ok $? "a supervised pool starts with the grants it needs"
VICTIMS=$(live_workers | paste -sd' ')
sql "REVOKE INSERT ON regonce.users FROM 'ce_live'@'localhost'"
kill -KILL "${VICTIMS%% *}"
gone() { ! alive "$LIVE_SUP"; }
await 300 gone
ok $? "INSERT revoked, a worker killed: the supervisor gives up"
if alive "$LIVE_SUP"; then
	kill -TERM "$LIVE_SUP"
	await 300 gone
fi
wait "$LIVE_SUP"
is "$?" 1 "... and exits 1 (systemd restarts or reports it)"
left=""
for pid in $VICTIMS; do alive "$pid" && left+=" $pid"; done
is "$left" "" "... with no worker left running"
grep -q "not starting: .*INSERT command denied" "$VAR/log/config-errors-live.log" &&
	grep -q "regonce-spawn.*refused to start: the database refuses the configuration.*stopping the pool" \
		"$VAR/log/config-errors-live.log"
ok $? "... the worker's reason and the supervisor's in the log file"
grep -q "refused to start" "$VAR/log/config-errors-live.out"
ok $? "... and the supervisor's on its stderr"
rm -f "$VAR/run/ce-live.sock" "$VAR/run/ce-live.pid"
sql "DROP USER IF EXISTS 'ce_live'@'localhost'"

# --- the database set-up of doc/operations.md, as written -------------------
# Its statements, run as root with the names changed (the stack has its
# own 'regonce' account), then regonce -t as the account they made.
DOC=$REGONCE_SRCDIR/doc/operations.md
setup_sql() {
	sed -n '/^       CREATE DATABASE regonce;$/,/^       GRANT SELECT, INSERT, DELETE ON regonce.idempotency_keys/p' "$DOC" |
		sed -e 's/^ *//' -e "s|/usr/share/regonce/sql/|$REGONCE_SRCDIR/sql/|" \
			-e 's/DATABASE regonce;/DATABASE ce_doc;/' -e 's/USE regonce;/USE ce_doc;/' \
			-e 's/ON regonce\./ON ce_doc./' -e "s/'regonce'@/'$1'@/" \
			-e "s/long-random-secret/$2/"
}
root_client() {
	mariadb --no-defaults --socket="$REGONCE_IT_DB_SOCKET" -u root "$@"
}
drop_doc() {
	root_client -e "DROP DATABASE IF EXISTS ce_doc; DROP USER IF EXISTS 'ce_doc'@'localhost', 'nobody'@'localhost'"
}
drop_doc
STATEMENTS=$(setup_sql ce_doc ce-doc-pw-4)
printf '# %s\n' "$STATEMENTS"
is "$(grep -c . <<<"$STATEMENTS")" 8 "doc/operations.md gives 8 set-up statements"
OUT=$(root_client <<<"$STATEMENTS" 2>&1)
is "$?:$OUT" "0:" "they run as written (password account)"
check "$(conf doc-setup 'db_user = ce_doc' 'db_password = ce-doc-pw-4' 'db_name = ce_doc')"
is "$RC" 0 "... and regonce -t passes on what they made"
# The unix_socket variant: the account named as a system user, no
# password; checked as that user.
SOCKET_USER=$(sed -n "s/^       \(CREATE USER 'regonce'@'localhost' IDENTIFIED VIA unix_socket;\)$/\1/p" "$DOC" |
	sed "s/'regonce'@/'nobody'@/")
is "$SOCKET_USER" "CREATE USER 'nobody'@'localhost' IDENTIFIED VIA unix_socket;" \
	"doc/operations.md gives the unix_socket variant"
GRANTS=$(setup_sql nobody unused | grep '^GRANT')
OUT=$(root_client <<<"$SOCKET_USER$NL$GRANTS" 2>&1)
is "$?:$OUT" "0:" "it runs as written, with the same grants"
SOCK_CONF=$CONFS/doc-socket.conf
(umask 077 && printf 'db_socket = %s\ndb_user = nobody\ndb_name = ce_doc\nlog_file = -\n' \
	"$REGONCE_IT_DB_SOCKET" >"$SOCK_CONF")
chown nobody "$SOCK_CONF"
OUT=$(runuser -u nobody -- "$WORKER" -t -c "$SOCK_CONF" 2>&1)
RC=$?
printf '# %s\n' "$OUT"
is "$RC" 0 "... and regonce -t as system user nobody passes, with no password"
drop_doc

done_testing
