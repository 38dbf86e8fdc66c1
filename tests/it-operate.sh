#!/usr/bin/env bash
# Integration: what an operator runs into, on the real pool.
#  - a pool that cannot start says why, on the wrapper's stderr (a forked
#    worker's stderr is /dev/null), and starts nothing;
#  - the wrapper run again while its pool runs refuses, and leaves the
#    pid file alone;
#  - regonce -t checks the log file without creating it (as root it would
#    leave a file the workers cannot open), and tells a database that is
#    down (exit 3) from a bad configuration (exit 1);
#  - SIGHUP: each worker opens log_file again before its next request, so
#    logrotate can move the file away.
# Pools: main
. "$REGONCE_SRCDIR/tests/lib.sh"

WORKER=$REGONCE_BUILDDIR/fcgi-app/regonce
SPAWN=$REGONCE_BUILDDIR/conf/regonce-spawn
RUN_USER=""
[ "$(id -u)" -eq 0 ] && RUN_USER=regonce
json() { printf '{"openid":"%s","username":"u","password":"12345678"}' "$1"; }

# spawn CONF NAME: the wrapper as ops run it, on a socket of its own.
spawn() {
	REGONCE_BIN=$WORKER REGONCE_CONF=$1 REGONCE_SOCKET=$VAR/run/$2.sock \
		REGONCE_PIDFILE=$VAR/run/$2.pid REGONCE_WORKERS=2 \
		REGONCE_RUN_USER=$RUN_USER REGONCE_SOCKET_GROUP=$(id -gn) \
		"$SPAWN" 2>&1
}

# --- start-up failures are said where they are seen ----------------------
BAD=$VAR/pools/op-bad.conf
printf 'db_socket = %s\ndb_port = 70000\n' "$REGONCE_IT_DB_SOCKET" >"$BAD"
[ -z "$RUN_USER" ] || chown "$RUN_USER" "$BAD"
OUT=$(spawn "$BAD" op-bad)
RC=$?
echo "# $OUT"
is "$RC" 1 "a bad value: the wrapper exits 1"
grep -q "not started: .*db_port is too large" <<<"$OUT"
ok $? "... and says which key, on its stderr"
[ ! -e "$VAR/run/op-bad.sock" ] && [ ! -e "$VAR/run/op-bad.pid" ]
ok $? "... and starts nothing"
if [ -n "$RUN_USER" ]; then
	# doc/operations.md's chmod 0640 on a root-owned file: root can read it,
	# the workers cannot. Checked as the workers' user, it shows.
	UNREADABLE=$VAR/pools/op-root.conf
	cp "$VAR/pools/main.conf" "$UNREADABLE"
	chown root:root "$UNREADABLE"
	chmod 0640 "$UNREADABLE"
	OUT=$(spawn "$UNREADABLE" op-root)
	RC=$?
	echo "# $OUT"
	grep -q "Permission denied" <<<"$OUT" && [ "$RC" = 1 ]
	ok $? "a config the workers cannot read: refused, and said (Permission denied)"
fi

# --- the wrapper run again --------------------------------------------------
BEFORE=$(cat "$VAR/run/main.pid")
OUT=$(spawn "$VAR/pools/main.conf" main)
RC=$?
echo "# $OUT"
is "$RC" 1 "the wrapper again on a running pool: exit 1"
grep -q "already running" <<<"$OUT"
ok $? "... saying it is already running"
is "$(cat "$VAR/run/main.pid")" "$BEFORE" "... and its pid file is untouched"

# --- regonce -t --------------------------------------------------------------
CHECK=$VAR/pools/op-check.conf
NEWLOG=$VAR/log/op-never-created.log
printf 'db_socket = %s\nlog_file = %s\n' "$REGONCE_IT_DB_SOCKET" "$NEWLOG" >"$CHECK"
"$WORKER" -t -c "$CHECK" >/dev/null 2>&1
[ ! -e "$NEWLOG" ]
ok $? "regonce -t leaves a missing log file missing"
printf 'db_socket = /nonexistent/mysqld.sock\n' >"$CHECK"
"$WORKER" -t -c "$CHECK" >/dev/null 2>&1
is "$?" 3 "regonce -t, database unreachable: exit 3"
printf 'db_port = 0\n' >"$CHECK"
"$WORKER" -t -c "$CHECK" >/dev/null 2>&1
is "$?" 1 "regonce -t, bad configuration: exit 1"

# --- SIGHUP reopens the log ---------------------------------------------------
LOG=$VAR/log/regonce-main.log
mv "$LOG" "$LOG.1"
for pid in $(cat "$VAR/run/main.pid"); do kill -HUP "$pid"; done
register "$(json "op-$RUN-hup")"
is "$STATUS $(field code)" "200 0" "after SIGHUP the pool serves"
logged() { grep -q "openid=op-$RUN-hup " "$LOG"; }
await 100 logged
ok $? "its line is in the new log file"
grep -q "openid=op-$RUN-hup " "$LOG.1"
ok $((!$?)) "and not in the moved one"
is "$(stat -c %a "$LOG")" 640 "the new log file is 0640"
ALIVE=0
for pid in $(cat "$VAR/run/main.pid"); do alive "$pid" && ALIVE=$((ALIVE + 1)); done
is "$ALIVE" "$(wc -w <"$VAR/run/main.pid")" "SIGHUP stops no worker"
rm -f "$LOG.1"

done_testing
