#!/usr/bin/env bash
# The supervised pool, as regonce.service runs it (regonce-spawn
# --supervise: spawn-fcgi + the wrapper's supervisor): a worker killed with -9 is
# replaced, while a steady stream of registrations through nginx sees no
# failed request; the new worker serves; a TERM stops every worker
# gracefully. And the shipped unit passes systemd-analyze verify.
# Pools: supervise
set -u
. "$REGONCE_SRCDIR/tests/lib.sh"

URL=${REGONCE_IT_URL_SUPERVISE:-}
WORKERS=${REGONCE_WORKERS:-4}
MW=$(head -n 1 "$VAR/run/supervise.pid" 2>/dev/null)

# workers: the supervisor's live worker children (not its once-a-second
# sleep), sorted, on one line.
workers() {
	local pid comm
	ps -o pid=,comm= --ppid "$MW" 2>/dev/null | while read -r pid comm; do
		[ "$comm" = regonce ] && alive "$pid" && echo "$pid"
	done | sort -n | paste -sd' '
}
count() { wc -w <<<"$1"; }
stopped() { [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = T ]; }
sockets() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }

# pick_idle: stop one worker that holds no accepted connection (only its
# idle sockets: the listening one and its database connection) and set
# VICTIM to it. A stopped worker cannot take a new connection, so killing
# it then costs no request; a busy one is let go on.
declare -A IDLE_SOCKETS
pick_idle() {
	local pid
	for pid in $(workers); do
		kill -STOP "$pid" 2>/dev/null || continue
		if await 50 stopped "$pid" &&
			[ "$(sockets "$pid")" -le "${IDLE_SOCKETS[$pid]:-0}" ]; then
			VICTIM=$pid
			return 0
		fi
		kill -CONT "$pid" 2>/dev/null
	done
	return 1
}

resume_all() {
	local pid
	for pid in $(workers); do kill -CONT "$pid" 2>/dev/null; done
}
trap resume_all EXIT

if [ -z "$URL" ] || [ -z "$MW" ]; then
	echo "1..0 # SKIP no supervised pool (./stack check starts one)"
	exit 0
fi

is "$(ps -o comm= -p "$MW")" regonce-spawn "the pool's supervisor is regonce-spawn (pid $MW)"
full() { [ "$(count "$(workers)")" -eq "$WORKERS" ]; }
await 100 full
before=$(workers)
is "$(count "$before")" "$WORKERS" "the supervisor runs $WORKERS workers: $before"
# Idle sockets per worker, before any traffic.
for pid in $before; do IDLE_SOCKETS[$pid]=$(sockets "$pid"); done

register "{\"openid\":\"svm-$RUN-first\",\"username\":\"u\",\"password\":\"password1\"}" "$URL"
is "$STATUS:$(field code)" "200:0" "the supervised pool registers through nginx"

# A steady stream: one registration every 20 ms, 400 in all (8 s), counted
# against the table afterwards.
out=$(mktemp)
"$REPLAY" --url "$URL/register" --users 400 --replays 1 --concurrency 8 \
	--interval-ms 20 --prefix "svr-$RUN-" --db-conf "$VAR/pools/supervise.conf" \
	--json >"$out" 2>&1 &
replay=$!
# Kill once the stream is flowing.
flowing() {
	[ "$(sql "SELECT COUNT(*) FROM users WHERE openid LIKE 'svr-$RUN-%'")" -ge 20 ]
}
await 300 flowing
ok $? "the stream is flowing (20 rows in)"
VICTIM=""
await 100 pick_idle
ok $? "an idle worker is found and stopped (pid ${VICTIM:-none})"
kill -0 "$replay" 2>/dev/null && kill -KILL "$VICTIM" 2>/dev/null
ok $? "kill -9 worker $VICTIM while the stream runs"
back() {
	local now
	now=$(workers)
	[ "$(count "$now")" -eq "$WORKERS" ] && ! grep -qw "$VICTIM" <<<"$now"
}
await 300 back
ok $? "the supervisor restarts it: $WORKERS workers again ($(workers))"
after=$(workers)
new=$(comm -13 <(tr ' ' '\n' <<<"$before" | sort) <(tr ' ' '\n' <<<"$after" | sort) | paste -sd' ')
is "$(count "$new")" 1 "exactly one worker is new ($new)"

wait "$replay"
is "$?" 0 "regonce-replay exits 0 (no duplicate, no lost row)"
report=$(cat "$out")
rm -f "$out"
is "$(jq -r '[.requests, .created, .exists, .transport_errors, .server_errors, .lost, .duplicates] | @tsv' <<<"$report" | tr '\t' ' ')" \
	"400 400 0 0 0 0 0" "400 requests: 400 created, no failed request, nothing lost"
[ "$(jq -r .requests <<<"$report")" = 400 ] || printf '# %s\n' "$report"

# Only the new worker left awake: it alone can answer.
for pid in $after; do
	[ "$pid" = "$new" ] || kill -STOP "$pid"
done
for pid in $after; do
	[ "$pid" = "$new" ] || await 50 stopped "$pid"
done
register "{\"openid\":\"svm-$RUN-new\",\"username\":\"u\",\"password\":\"password1\"}" "$URL"
is "$STATUS:$(field code)" "200:0" "the restarted worker serves requests"
resume_all

# A stop, as systemd sends it: the supervisor passes it on as the
# workers' graceful stop, which each logs (a worker killed outright logs
# nothing).
LOG=$VAR/log/regonce-supervise.log
stops_before=$(grep -c 'worker stopping' "$LOG")
kill -TERM "$MW"
gone() { ! alive "$MW"; }
await 300 gone
ok $? "TERM stops the supervisor"
is "$(($(grep -c 'worker stopping' "$LOG") - stops_before))" "$WORKERS" \
	"each of its $WORKERS workers stops gracefully"

# The unit as installed: its paths into a DESTDIR tree, verified there
# (the man pages of Documentation= are looked up in it too).
if ! command -v systemd-analyze >/dev/null; then
	ok 0 "# SKIP systemd-analyze is missing (Debian package systemd)"
else
	dest=$(mktemp -d)
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$REGONCE_BUILDDIR" \
		install DESTDIR="$dest" >/dev/null 2>&1
	unit=$(find "$dest" -name regonce.service)
	sbindir=$(dirname "$(find "$dest" -name regonce-spawn)")
	sed "s|=${sbindir#"$dest"}/|=$sbindir/|" "$unit" >"$dest/regonce.service"
	verify=$(MANPATH=$(dirname "$(dirname "$(find "$dest" -name regonce.8)")") \
		systemd-analyze verify "$dest/regonce.service" 2>&1)
	is "$?:$verify" "0:" "systemd-analyze verify regonce.service"
	# --threshold counts in tenths of the printed 0-10 exposure.
	exposure=$(systemd-analyze security --offline=yes "$dest/regonce.service" \
		2>&1 | sed -n 's/.*Overall exposure level for regonce.service: \([0-9.]*\).*/\1/p')
	systemd-analyze security --offline=yes --threshold=30 \
		"$dest/regonce.service" >/dev/null 2>&1
	ok $? "systemd-analyze security: exposure ${exposure:-?} is at most 3.0 (of 10)"
	rm -rf "$dest"
fi

done_testing
