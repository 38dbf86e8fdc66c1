#!/usr/bin/env bash
# Graceful reload of the supervised pool (regonce-spawn --reload, what
# systemctl reload runs), on a pool of its own behind nginx:
#  - a storm of 1,200 requests (600 registrations, each sent twice) through
#    two reloads: every answer 200 (created or exists), every registration
#    created exactly once, and every worker PID new after each reload while
#    the supervisor's stays;
#  - a reload with a broken configuration is refused with the reason (the
#    wrapper's exit status, and the supervisor's log line when it is sent
#    HUP directly) and the pool keeps its workers and serves;
#  - the negative control: the same storm through a restart (stop, then
#    start, what systemctl restart does) gets errors from nginx while the
#    socket is gone;
#  - a supervisor started with HUP ignored (nohup, a script's background
#    job) reloads all the same.
# Pools: reload (supervised, offset 24)
set -u
. "$REGONCE_SRCDIR/tests/lib.sh"

URL=${REGONCE_IT_URL_RELOAD:-}
WORKERS=${REGONCE_WORKERS:-4}
NAME=reload
CONF=$VAR/pools/$NAME.conf
PIDFILE=$VAR/run/$NAME.pid
LOG=$VAR/log/regonce-$NAME.log
if [ -z "$URL" ] || ! pid_alive "$PIDFILE"; then
	echo "1..0 # SKIP no supervised reload pool (./stack check starts one)"
	exit 0
fi
RUN_USER=""
[ "$(id -u)" -eq 0 ] && RUN_USER=regonce

# spawn ARGS...: the wrapper as pools.sh runs this pool, settings in the
# environment.
spawn() {
	REGONCE_DEFAULTS="" REGONCE_BIN="$REGONCE_BUILDDIR/fcgi-app/regonce" \
		REGONCE_CONF="$CONF" REGONCE_SOCKET="$VAR/run/$NAME.sock" \
		REGONCE_WORKERS="$WORKERS" REGONCE_PIDFILE="$PIDFILE" \
		REGONCE_RUN_USER="$RUN_USER" \
		REGONCE_SOCKET_GROUP="${RUN_USER:-$(id -gn)}" \
		"$REGONCE_BUILDDIR/conf/regonce-spawn" "$@"
}
supervisor() { head -n 1 "$PIDFILE"; }
# workers: the supervisor's live worker children (not zombies, not its
# once-a-second sleep), sorted, on one line; one ps, cheap to poll.
workers() {
	ps -o pid=,stat=,comm= --ppid "$(supervisor)" 2>/dev/null |
		awk '$3 == "regonce" && $2 !~ /^Z/ { print $1 }' |
		sort -n | paste -sd' '
}
count() { wc -w <<<"$1"; }
# none_of OLD: WORKERS workers run, and none of them is in OLD.
none_of() {
	local now pid
	now=$(workers)
	[ "$(count "$now")" -eq "$WORKERS" ] || return 1
	for pid in $1; do
		grep -qw "$pid" <<<"$now" && return 1
	done
	return 0
}
full() { [ "$(count "$(workers)")" -eq "$WORKERS" ]; }
rows_in() {
	sql "SELECT COUNT(*) FROM users WHERE openid LIKE '$1%'"
}
at_least() { [ "$(rows_in "$1")" -ge "$2" ]; }

# storm PREFIX OUT: 600 registrations, each sent twice at once, one
# released every 10 ms (about 6 s in all), in the background (pid STORM).
storm() {
	"$REPLAY" --url "$URL/register" --users 600 --replays 2 --concurrency 8 \
		--interval-ms 10 --prefix "$1" --db-conf "$CONF" --json >"$2" 2>&1 &
	STORM=$!
}
# summary OUT: requests created exists unknown transport server twice
# incomplete duplicates lost, from the report.
summary() {
	jq -r '[.requests, .created, .exists, .outcome_unknown,
		.transport_errors, .server_errors, .openids_created_twice,
		.openids_incomplete, .duplicates, .lost] | @tsv' "$1" | tr '\t' ' '
}

await 100 full
SUP=$(supervisor)
is "$(ps -o comm= -p "$SUP")" regonce-spawn "the supervisor runs (pid $SUP)"
FIRST=$(workers)
is "$(count "$FIRST")" "$WORKERS" "$WORKERS workers: $FIRST"

# --- a storm through two reloads ---------------------------------------------
OUT=$(mktemp)
P="rl-$RUN-"
storm "$P" "$OUT"
await 300 at_least "$P" 100
ok $? "the storm is flowing (100 rows in)"
R=$(spawn --reload 2>&1)
is "$?" 0 "reload 1 is accepted: $R"
await 300 none_of "$FIRST"
ok $? "reload 1: every worker is new ($(workers))"
SECOND=$(workers)
await 300 at_least "$P" 250
ok $? "the storm flows on (250 rows in)"
R=$(spawn --reload 2>&1)
is "$?" 0 "reload 2 is accepted: $R"
alive "$STORM"
ok $? "... while the storm still runs ($(rows_in "$P") of 600 rows in)"
await 300 none_of "$SECOND"
ok $? "reload 2: every worker is new again ($(workers))"
THIRD=$(workers)
wait "$STORM"
is "$?" 0 "regonce-replay exits 0 (no duplicate, no lost row)"
printf '# %s\n' "$(jq -c '{requests, created, exists, transport_errors, server_errors, outcomes, wall_s}' "$OUT")"
is "$(summary "$OUT")" "1200 600 600 0 0 0 0 0 0 0" \
	"1,200 requests through two reloads: 600 created, 600 exists, no other answer, each row once"
is "$(rows_in "$P")" 600 "600 rows, one per registration"
is "$(supervisor)" "$SUP" "the supervisor is the same process"
for pid in $FIRST $SECOND; do
	grep -qw "$pid" <<<"$THIRD" && echo "# $pid is still a worker"
done
none_of "$FIRST $SECOND"
ok $? "no worker of before either reload is left"
stops=$(grep -c 'worker stopping' "$LOG")
[ "$stops" -ge $((2 * WORKERS)) ]
ok $? "the replaced workers stopped gracefully ($stops 'worker stopping' lines)"

# --- a broken configuration is refused ---------------------------------------
cp -p "$CONF" "$CONF.good"
echo "db_pasword = typo" >>"$CONF"
R=$(spawn --reload 2>&1)
RC=$?
printf '# %s\n' "$R"
is "$RC" 1 "reload with a broken config: the wrapper exits 1"
grep -q "not reloaded: .*db_pasword" <<<"$R"
ok $? "... naming the bad key"
# Sent straight to the supervisor, as kill -HUP would: it checks too.
kill -HUP "$SUP"
refused() { grep -q "reload refused, the pool runs on unchanged: .*db_pasword" "$LOG"; }
await 100 refused
ok $? "HUP with a broken config: the supervisor refuses, in the log"
is "$(workers)" "$THIRD" "... and keeps its workers"
register "{\"openid\":\"rl-$RUN-after\",\"username\":\"u\",\"password\":\"password1\"}" "$URL"
is "$STATUS:$(field code)" "200:0" "the pool serves on"
mv "$CONF.good" "$CONF"

# --- negative control: the same storm through a restart ----------------------
P="rs-$RUN-"
storm "$P" "$OUT"
await 300 at_least "$P" 100
ok $? "the control storm is flowing"
stop_pids "$PIDFILE"
spawn --supervise </dev/null >>"$VAR/log/spawn-fcgi.log" 2>&1 &
await 100 pid_alive "$PIDFILE" && await 100 test -S "$VAR/run/$NAME.sock" && await 100 full
ok $? "restarted: a new supervisor and $WORKERS workers"
await 300 at_least "$P" 250
ok $? "the control storm flows on after the restart"
stop_pids "$PIDFILE"
# Started with HUP ignored, as under nohup: the reload below must work.
(trap '' HUP && spawn --supervise) </dev/null >>"$VAR/log/spawn-fcgi.log" 2>&1 &
await 100 pid_alive "$PIDFILE" && await 100 test -S "$VAR/run/$NAME.sock" && await 100 full
ok $? "restarted again (HUP ignored where it was started)"
wait "$STORM"
printf '# %s\n' "$(jq -c '{requests, created, exists, transport_errors, server_errors, outcomes, wall_s}' "$OUT")"
failed=$(jq -r '.requests - .created - .exists' "$OUT")
[ "$failed" -gt 0 ]
ok $? "control: through two restarts, $failed of 1,200 requests got no 200"
rm -f "$OUT"

# --- a supervisor started with HUP ignored still reloads ---------------------
BEFORE=$(workers)
R=$(spawn --reload 2>&1)
is "$?" 0 "reload of a pool started under nohup is accepted: $R"
await 300 none_of "$BEFORE"
ok $? "... and every worker is new ($(workers))"

done_testing
