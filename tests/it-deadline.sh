#!/usr/bin/env bash
# Integration: one time budget per request, and the truth when it runs out.
# The "budget" pool has request_timeout_ms = 2000, well below nginx's 30 s.
#  1. a request already past its budget when a worker picks it up is
#     answered 503 request_expired and writes nothing (control: the same
#     request on time is created);
#  2. commits blocked (BACKUP STAGE BLOCK_COMMIT) past the budget: the
#     client is told outcome_unknown, never a 504, and the row that lands
#     later is there;
#  3. MariaDB stopped (SIGSTOP) while 16 registrations arrive: every one
#     gets the worker's JSON 503, none nginx's 504, and no row appears;
#  4. MariaDB restarted (TERM, then KILL) under a storm with the default
#     budget: every openid with a row had a copy told created or
#     outcome_unknown, none was created twice, no "created" lost its row;
#     KILL again on the named_lock_compound pool.
# Pools: main, budget, compound
. "$REGONCE_SRCDIR/tests/lib.sh"

BUDGET=$REGONCE_IT_URL_BUDGET
json() { printf '{"openid":"%s","username":"u","password":"12345678"}' "$1"; }

# fcgi_register OPENID START: straight to the budget pool's socket, with
# REGONCE_REQUEST_START as nginx would set it.
fcgi_register() {
	local body out
	body=$(json "$1")
	out=$(printf '%s' "$body" | env -i REQUEST_METHOD=POST \
		CONTENT_TYPE=application/json CONTENT_LENGTH=${#body} \
		REQUEST_URI=/register REGONCE_REQUEST_START="$2" \
		cgi-fcgi -bind -connect "$VAR/run/budget.sock" | tr -d '\r')
	STATUS=$(sed -n 's/^Status: \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
	BODY=$(sed '1,/^$/d' <<<"$out")
}

# --- 1. past its budget before it starts ----------------------------------
NOW=$(date +%s.%3N)
fcgi_register "dl-$RUN-late" "$(awk -v n="$NOW" 'BEGIN { printf "%.3f", n - 10 }')"
is "$STATUS $(field error) $(rows "dl-$RUN-late")" "503 request_expired 0" \
	"expired: a request 10 s old on a 2 s budget is refused, nothing written"
fcgi_register "dl-$RUN-ontime" "$(date +%s.%3N)"
is "$STATUS $(field code) $(rows "dl-$RUN-ontime")" "200 0 1" \
	"expired control: the same request on time is created"

# --- 2. commits blocked past the budget -----------------------------------
OID="dl-$RUN-commit"
commits_block
ok $? "blocked: commits are blocked (BACKUP STAGE BLOCK_COMMIT)"
register "$(json "$OID")" "$BUDGET"
is "$STATUS $(field error)" "503 outcome_unknown" \
	"blocked: the client is told outcome_unknown (not 504, not 'created')"
commits_release
# Released, the server finishes the COMMIT it was blocked in, or notices
# first that the client has gone and rolls back: which, no client could
# have been told. Its session ends either way (the lock goes with it).
await 300 lock_free "$(lock_name "$OID")"
ok $? "blocked: the blocked session has ended"
LANDED=$(rows "$OID")
echo "# blocked: the COMMIT landed: $LANDED"
grep -F "openid=$OID " "$VAR/log/regonce-budget.log" | grep -q 'result=outcome_unknown'
ok $? "blocked: the worker logged result=outcome_unknown"
register "$(json "$OID")" "$BUDGET"
if [ "$LANDED" = 1 ]; then
	is "$STATUS $(field code)" "200 -1" "blocked: it landed; a retry is told exists"
else
	is "$STATUS $(field code) $(rows "$OID")" "200 0 1" \
		"blocked: it did not land; a retry registers it"
fi

# --- 3. MariaDB stopped while requests arrive -----------------------------
MYSQLD=$(head -n 1 "$VAR/run/mysqld.pid")
OUTS=$(mktemp -d)
kill -STOP "$MYSQLD"
CURLS=()
for i in $(seq 1 16); do
	curl -s -m 60 -o "$OUTS/$i.body" -w '%{http_code}' \
		-H 'Content-Type: application/json' -d "$(json "dl-$RUN-stop-$i")" \
		"$BUDGET/register" >"$OUTS/$i.status" &
	CURLS+=($!)
done
wait "${CURLS[@]}"
kill -CONT "$MYSQLD"
ANSWERS=$(for i in $(seq 1 16); do
	echo "$(cat "$OUTS/$i.status") $(jq -r .error <"$OUTS/$i.body" 2>/dev/null)"
done | sort | uniq -c | awk '{ printf "%s %s x%s; ", $2, $3, $1 }')
echo "# stopped: $ANSWERS"
is "$(for f in "$OUTS"/*.status; do cat "$f"; echo; done | grep -vc '^503$')" 0 \
	"stopped: all 16 answered 503 by the worker"
is "$(cat "$OUTS"/*.body | jq -r .error | grep -Evc '^(db_unavailable|request_expired)$')" 0 \
	"stopped: each says db_unavailable or request_expired (JSON, none from nginx)"
rm -rf "$OUTS"
is "$(sql "SELECT COUNT(*) FROM users WHERE openid LIKE 'dl-$RUN-stop-%'")" 0 \
	"stopped: no row was written behind those answers"
register "$(json "dl-$RUN-after-stop")" "$BUDGET"
is "$STATUS $(field code)" "200 0" "stopped: the same workers serve again once it runs"

# --- 4. MariaDB restarted under a storm -----------------------------------
# restart_storm HOW [POOL]: TERM (./stack db stop) or KILL (kill -9),
# mid-storm, on pool main (named_lock) or the one named.
restart_storm() {
	local how=$1 pool=${2:-main} prefix="dl-$RUN-$1-${2:-main}-" report pid rc
	local var=REGONCE_IT_URL${2:+_${2^^}} label="$1 storm${2:+ on $2}"
	local url=${!var}
	report=$(mktemp)
	"$REPLAY" --url "$url/register" --users 200 --replays 4 \
		--concurrency 16 --interval-ms 10 --prefix "$prefix" \
		--db-conf "$VAR/pools/$pool.conf" --json >"$report" &
	pid=$!
	some_rows() { [ "$(sql "SELECT COUNT(*) FROM users WHERE openid LIKE '$prefix%'")" -ge 30 ]; }
	await 300 some_rows
	ok $? "$label: the run is writing"
	if [ "$how" = TERM ]; then
		REGONCE_VAR=$VAR "$REGONCE_SRCDIR/stack" db stop
	else
		MYSQLD=$(head -n 1 "$VAR/run/mysqld.pid")
		kill -KILL "$MYSQLD"
		await 300 not alive "$MYSQLD"
	fi
	REGONCE_VAR=$VAR "$REGONCE_SRCDIR/stack" db start
	ok $? "$label: MariaDB is back"
	wait "$pid"
	rc=$?
	echo "# $label: $(cat "$report")"
	echo "# $label: $(grep -F "openid=$prefix" "$VAR/log/regonce-$pool.log" | grep -c 'commit=unanswered') requests lost the answer to their COMMIT and chased it"
	is "$(jq -r '"\(.unclaimed) \(.lost) \(.openids_created_twice) \(.duplicates)"' "$report")" "0 0 0 0" \
		"$label: no row nobody was told of, no lost 'created', none created twice, no duplicates"
	is "$(jq -r '[.outcomes | keys[] | select(startswith("502") or startswith("504"))] | length' "$report") $(jq -r .transport_errors "$report")" \
		"0 0" "$label: no 502, no 504, every request answered"
	is "$rc" 0 "$label: regonce-replay exits 0"
	rm -f "$report"
}
# named_lock_compound: its COMMIT travels inside its last statement.
# First, so that the main pool's workers, which later tests use, are the
# ones that reconnected last.
restart_storm KILL compound
restart_storm TERM
restart_storm KILL

done_testing
