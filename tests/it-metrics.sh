#!/usr/bin/env bash
# GET /metrics through nginx (and Apache) with the shipped snippets:
#  - the text format: Content-Type, HELP/TYPE, cumulative buckets;
#  - the counts are the pool's: across two storms (one keyed), each
#    requests_total{result,code} moves by exactly what regonce-replay
#    tallied, and the histogram's _count by its number of requests;
#  - negative control: the storms were served by several workers, each of
#    which alone saw fewer requests than the tally (per-process counters
#    would have been short), and scrapes answered by different workers
#    give the same totals;
#  - a worker of the supervised pool killed with -9 and respawned: no
#    counter goes back, and the live workers gauge is the pool's size;
#  - loopback only: from 127.0.0.2 (still loopback) the answer is 403.
# Pools: main, apache, supervise
set -u
. "$REGONCE_SRCDIR/tests/lib.sh"

URL=$REGONCE_IT_URL
WORKERS=${REGONCE_WORKERS:-4}
PORT=${URL##*:}

# scrape [BASE-URL [curl args]]: the exposition into SCRAPE, from WORKER.
scrape() {
	request "${1:-$URL}/metrics" GET "${@:2}"
	SCRAPE=$BODY
	WORKER=$(sed -n 's/^# regonce worker pid \([0-9]*\) .*/\1/p' <<<"$SCRAPE")
	OWN=$(sed -n 's/^# regonce worker pid .* requests \([0-9]*\)$/\1/p' <<<"$SCRAPE")
}
# m SERIES [TEXT]: the value of one sample ("missing" if absent).
m() {
	awk -v s="$1" '$1 == s { print $2; f = 1 } END { if (!f) print "missing" }' \
		<<<"${2:-$SCRAPE}"
}
req() { printf 'regonce_requests_total{result="%s",code="%s"}' "$1" "$2"; }
# requests_sum [TEXT]: every requests_total sample but the scrapes'.
requests_sum() {
	awk '/^regonce_requests_total\{/ && !/result="metrics"/ { n += $2 } END { print n + 0 }' \
		<<<"${1:-$SCRAPE}"
}

scrape
is "$STATUS" 200 "GET /metrics through nginx answers 200"
grep -qx 'content-type: text/plain; version=0.0.4; charset=utf-8' <<<"${HEADERS,,}"
ok $? "... as text/plain; version=0.0.4"
untyped=$(awk '/^# TYPE / { t[$3] = 1; next } /^#/ { next }
	{ n = $1; sub(/\{.*/, "", n); b = n; sub(/_(bucket|sum|count)$/, "", b)
	  if (!(n in t) && !(b in t)) print n }' <<<"$SCRAPE" | sort -u | paste -sd' ')
is "$untyped" "" "every sample's family has its TYPE line before it"
helps=$(grep -c '^# HELP ' <<<"$SCRAPE")
is "$helps" "$(grep -c '^# TYPE ' <<<"$SCRAPE")" "a HELP line for each TYPE line ($helps)"

# The live workers gauge: the pool's, not one process's.
live_main() {
	local pid n=0
	for pid in $(pids main); do alive "$pid" && n=$((n + 1)); done
	echo "$n"
}
is "$(m regonce_workers)" "$(live_main)" "regonce_workers = the main pool's live workers ($(live_main))"

request "$URL/metrics" POST -H 'Content-Type: application/json' --data-binary '{}'
is "$STATUS $(field error)" "405 method_not_allowed" "POST /metrics is 405 JSON"
grep -qi '^allow: GET, HEAD$' <<<"$HEADERS"
ok $? "... with Allow: GET, HEAD"

# --- two storms against the main pool, scraped before and after ---------
LOG=$VAR/log/regonce-main.log
scrape
BEFORE=$SCRAPE
plain=$("$REPLAY" --url "$URL/register" --users 100 --replays 4 --concurrency 16 \
	--prefix "mt-$RUN-p-" --json)
is "$?" 0 "storm 100x4 runs clean"
scrape
MIDDLE=$SCRAPE
keyed=$("$REPLAY" --url "$URL/register" --users 50 --replays 3 --concurrency 16 \
	--prefix "mt-$RUN-k-" --idempotency-key --json)
is "$?" 0 "keyed storm 50x3 runs clean"
scrape
AFTER=$SCRAPE
echo "# storms: $(jq -c .outcomes <<<"$plain") $(jq -c .outcomes <<<"$keyed")"
sed 's/^/#   /' <<<"$AFTER"

# delta SERIES [BEFORE AFTER]: how far one sample moved (across both
# storms, unless two scrapes are given).
delta() {
	local before after
	before=$(m "$1" "${2:-$BEFORE}") after=$(m "$1" "${3:-$AFTER}")
	[ "$before" = missing ] && before=0
	echo $((${after%%.*} - ${before%%.*}))
}
# Each bucket of both tallies ("200 created", "503 busy", "200 replayed")
# against its series; no bucket may be a transport error.
declare -A tally
while IFS=$'\t' read -r bucket count; do
	tally[$bucket]=$((${tally[$bucket]:-0} + count))
done < <(jq -r '.outcomes | to_entries[] | "\(.key)\t\(.value)"' <<<"$plain"$'\n'"$keyed")
total=0 wrong=""
for bucket in "${!tally[@]}"; do
	got=$(delta "$(req "${bucket#* }" "${bucket%% *}")")
	[ "$got" = "${tally[$bucket]}" ] || wrong+=" [$bucket] ${tally[$bucket]}/$got"
	total=$((total + tally[$bucket]))
done
requests=$(($(jq .requests <<<"$plain") + $(jq .requests <<<"$keyed")))
is "$total" "$requests" "the tallies' buckets hold all $requests requests"
is "${wrong# }" "" "each requests_total{result,code} moved by its tally (${#tally[@]} results)"
plain_requests=$(jq .requests <<<"$plain")
is "$(($(requests_sum "$MIDDLE") - $(requests_sum "$BEFORE")))" "$plain_requests" \
	"over the plain storm, requests_total (scrapes aside) moved by exactly $plain_requests"
is "$(delta regonce_request_duration_seconds_count "$BEFORE" "$MIDDLE")" \
	"$plain_requests" "... and the latency histogram's _count too"
# regonce-replay sends a keyed copy told 409 (key in use) again, and
# tallies only its final answer: those 409s are the extra requests.
resent=$(($(delta "$(req idempotency_key_in_use 409)") - ${tally[409 idempotency_key_in_use]:-0}))
echo "# keyed copies resent after a 409: $resent"
is "$(($(requests_sum "$AFTER") - $(requests_sum "$BEFORE")))" "$((requests + resent))" \
	"over both, requests_total (scrapes aside) moved by $requests + the $resent resent"
is "$(delta "$(req metrics 200)")" 2 "the two scrapes in between counted themselves, as result=metrics"
created=$(($(jq .created <<<"$plain") + $(jq .created <<<"$keyed")))
exists=$(($(jq .exists <<<"$plain") + $(jq .exists <<<"$keyed")))
is "$(delta 'regonce_registrations_total{outcome="created"}') $(delta 'regonce_registrations_total{outcome="exists"}')" \
	"$created $exists" "registrations_total: $created created, $exists exists"
is "$(delta regonce_idempotency_replays_total)" "$(jq .replayed <<<"$keyed")" \
	"idempotency_replays_total moved by the keyed storm's replays"
is "$(delta regonce_request_duration_seconds_count)" "$((requests + resent))" \
	"the latency histogram's _count moved by as much"
is "$(m 'regonce_request_duration_seconds_bucket{le="+Inf"}' "$AFTER")" \
	"$(m regonce_request_duration_seconds_count "$AFTER")" "its +Inf bucket = _count"
unsorted=$(grep '^regonce_request_duration_seconds_bucket' <<<"$AFTER" |
	awk '$2 < last { print } { last = $2 }')
is "$unsorted" "" "its buckets are cumulative"
[ "$(delta regonce_db_round_trips_total)" -ge "$requests" ]
ok $? "db_round_trips_total moved by at least one per request ($(delta regonce_db_round_trips_total))"
[ "$(delta regonce_lock_waits_total)" -ge "$created" ]
ok $? "lock_waits_total moved by at least one per creation ($(delta regonce_lock_waits_total))"

# --- the negative control: one process saw only part of it -------------
served=$(grep -F "openid=mt-$RUN-" "$LOG" | sed -n 's/.* regonce\[\([0-9]*\)\] .*/\1/p' |
	sort | uniq -c | sort -rn)
echo "# storm requests per worker pid: $(paste -sd, <<<"$served")"
[ "$(wc -l <<<"$served")" -ge 2 ]
ok $? "the storms were served by $(wc -l <<<"$served") workers"
most=$(awk 'NR == 1 { print $1 }' <<<"$served")
[ "$most" -lt "$requests" ]
ok $? "the busiest worker alone answered $most of $requests: its own counters would be short"
# Scrapes until two different workers have answered: the same totals.
first_worker=$WORKER first_sum=$(requests_sum) first_own=$OWN
other_worker() {
	scrape
	[ -n "$WORKER" ] && [ "$WORKER" != "$first_worker" ]
}
await 100 other_worker
ok $? "another worker answers a scrape (pids $first_worker and $WORKER)"
is "$(requests_sum)" "$first_sum" "both give the same requests_total: $first_sum"
[ "$first_own" -lt "$first_sum" ] && [ "$OWN" -lt "$first_sum" ]
ok $? "each counted only part of it itself ($first_own and $OWN of $first_sum)"

# --- loopback only ------------------------------------------------------
request "http://127.0.0.1:$PORT/healthz" GET --interface 127.0.0.2
is "$STATUS" 200 "127.0.0.2 reaches nginx (healthz)"
request "http://127.0.0.1:$PORT/metrics" GET --interface 127.0.0.2
is "$STATUS $(field error)" "403 forbidden" "but /metrics from 127.0.0.2 is 403 JSON"
request "http://127.0.0.1:$PORT/metrics" GET --interface 127.0.0.1
is "$STATUS" 200 "and 200 from 127.0.0.1"

# --- Apache, in front of the same pool ---------------------------------
APACHE=${REGONCE_IT_URL_APACHE:-}
if [ -n "$APACHE" ]; then
	scrape
	nginx_created=$(m "$(req created 200)")
	scrape "$APACHE"
	is "$STATUS" 200 "GET /metrics through Apache answers 200"
	is "$(m "$(req created 200)")" "$nginx_created" \
		"... with the same pool's counts as through nginx"
	request "$APACHE/metrics" GET --interface 127.0.0.2
	is "$STATUS $(field error)" "403 forbidden" "through Apache from 127.0.0.2: 403 JSON"
else
	ok 0 "# SKIP no Apache (./stack check starts one)"
fi

# --- the supervised pool: a worker killed with -9 and respawned --------
SUP=${REGONCE_IT_URL_SUPERVISE:-}
MW=$(head -n 1 "$VAR/run/supervise.pid" 2>/dev/null)
if [ -n "$SUP" ] && [ -n "$MW" ] && alive "$MW"; then
	# The supervisor's worker children (not its once-a-second sleep).
	workers() {
		ps -o pid=,stat=,comm= --ppid "$MW" |
			awk '$3 == "regonce" && $2 !~ /^Z/ { print $1 }' |
			sort -n | paste -sd' '
	}
	full() { [ "$(wc -w <<<"$(workers)")" -eq "$WORKERS" ]; }
	await 100 full
	"$REPLAY" --url "$SUP/register" --users 40 --replays 2 --concurrency 8 \
		--prefix "mk-$RUN-" >/dev/null
	ok $? "the supervised pool serves a storm"
	scrape "$SUP"
	SUP_BEFORE=$SCRAPE
	is "$(m regonce_workers)" "$WORKERS" "its live workers gauge is $WORKERS"
	# Idle now: no request is in flight, so the kill costs none.
	victim=$(awk '{ print $1 }' <<<"$(workers)")
	kill -KILL "$victim"
	ok $? "kill -9 worker $victim"
	replaced() { full && ! grep -qw "$victim" <<<"$(workers)"; }
	await 300 replaced
	ok $? "the supervisor replaces it ($(workers))"
	scrape "$SUP"
	back=$(LC_ALL=C join <(grep '^regonce_.*_total' <<<"$SUP_BEFORE" | LC_ALL=C sort) \
		<(grep '^regonce_.*_total' <<<"$SCRAPE" | LC_ALL=C sort) |
		awk '$3 < $2 { print $1 }')
	is "$back" "" "no counter went back"
	is "$(m "$(req created 200)")" "$(m "$(req created 200)" "$SUP_BEFORE")" \
		"the dead worker's 'created' are still counted"
	is "$(m regonce_workers)" "$WORKERS" "the new worker took a slot: $WORKERS live"
else
	ok 0 "# SKIP no supervised pool (./stack check starts one)"
fi

done_testing
