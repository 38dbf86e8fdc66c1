#!/usr/bin/env bash
# Integration: a real 3-node Galera cluster (./stack cluster up), one pool
# per node over TCP, one nginx upstream across them. It starts the
# cluster itself and stops it at the end.
#  1. a 300 x 4 storm across the three pools: one row per openid on every
#     node, exactly one "created" per openid; the certification conflicts
#     (1213 at COMMIT) are retried and end as "exists";
#  2. one registration held open between INSERT and COMMIT on node 1 while
#     the same openid arrives at node 2: node 2 takes the "same" named
#     lock at once (it is node-local) and creates the row; node 1's COMMIT
#     loses certification (1213), its retry reads causally and answers
#     "exists". Control: on the original table, which has no UNIQUE
#     index, the same two requests leave two rows, both "created";
#  3. negative control for the storm: naive check-then-insert from two
#     nodes must count duplicates;
#  4. node 2 killed (SIGKILL) and restarted under a storm: no duplicate on
#     any node, no "created" without its row, requests that reach the
#     dead node are answered 503 JSON (never 502/504/HTML), it rejoins.
# Pools: its own cluster (./stack cluster up: c1-c3, p1 p2, o1 o2, n1 n2)
. "$REGONCE_SRCDIR/tests/lib.sh"
CLUSTER_NAME=cluster
. "$REGONCE_SRCDIR/tests/cluster-lib.sh"

cluster_up
for n in 1 2 3; do
	is "$(cstatus "$n" wsrep_local_state_comment) $(cstatus "$n" wsrep_cluster_size)" \
		"Synced 3" "cluster: node $n is Synced in a cluster of 3"
done
grep -q 'guarantee: Galera node (wsrep_on=ON)' "$CVAR/log/regonce-c1.log"
ok $? "cluster: the workers detect wsrep and log the guarantee in force"
# Pool c3 is configured named_lock_compound: on Galera it must send each
# statement alone, as named_lock does (the storms below include it).
grep -q 'named_lock_compound runs as named_lock on a Galera node' \
	"$CVAR/log/regonce-c3.log"
ok $? "cluster: pool c3 (named_lock_compound) says it runs as named_lock"

# --- 1. the storm across three nodes --------------------------------------
PREFIX="cl-$RUN-storm-"
STORM=$("$REPLAY" --url "$URL/register" --users 300 --replays 4 --concurrency 32 \
	--prefix "$PREFIX" --db-conf "$CVAR/pools/c1.conf" --json)
RC=$?
echo "# storm: $STORM"
j() { jq -r ".$1" <<<"$STORM"; }
is "$RC" 0 "storm: regonce-replay exits 0"
is "$(j requests) $(j created) $(j exists)" "1200 300 900" \
	"storm: 1200 requests, exactly one 'created' per openid, the rest 'exists'"
is "$(j openids_created_twice) $(j openids_incomplete) $(j server_errors) $(j transport_errors)" \
	"0 0 0 0" "storm: none created twice, every copy answered, no 5xx"
is "$(j duplicates) $(j lost)" "0 0" "storm: no duplicates, no lost 'created' (node 1)"
for n in 1 2 3; do
	is "$(node_rows "$n" regonce "$PREFIX")" "300 300" \
		"storm: node $n holds one row per openid"
done
LINES=$(cat "$CVAR"/log/regonce-c[123].log | grep -F "openid=$PREFIX")
CONFLICTS=$(grep -c 'errnos=[0-9,]*1213' <<<"$LINES" || true)
echo "# storm figures: $(j requests_per_s) requests/s, $CONFLICTS requests retried after 1213 ($((CONFLICTS * 1000 / 1200)) per 1,000), p99 $(jq -r .latency_ms.p99 <<<"$STORM") ms"
is "$(grep 'errnos=[0-9,]*1213' <<<"$LINES" | grep -vc 'result=exists' || true)" 0 \
	"storm: every request that lost certification (1213) ended 'exists'"

# --- 2. the same openid on two nodes at once ------------------------------
OID="cl-$RUN-hand"
handover regonce $((HTTP + 1)) $((HTTP + 2)) "$OID"
is "$SECOND" "200 0" "handover: node 2 creates the row while node 1 holds the named lock"
grep -F "openid=$OID " "$CVAR/log/regonce-p2.log" | grep -q 'lock=1 '
ok $? "handover: node 2's GET_LOCK answered 1 (the lock is node-local)"
is "$FIRST" "200 -1" "handover: node 1's COMMIT loses certification; its retry answers 'exists'"
grep -F "openid=$OID " "$CVAR/log/regonce-p1.log" | grep -q 'result=exists attempts=2 lock=1 errnos=1213'
ok $? "handover: node 1 logged the 1213 and a second attempt"
for n in 1 2 3; do
	is "$(node_rows "$n" regonce "$OID")" "1 1" "handover: one row on node $n"
done

OID="cl-$RUN-orig"
handover regonce_orig $((HTTP + 3)) $((HTTP + 4)) "$OID"
is "$SECOND $FIRST" "200 0 200 0" \
	"control: without the UNIQUE index both nodes answer 'created'"
is "$(node_rows 1 regonce_orig "$OID")" "2 1" \
	"control: two rows for one openid: the named lock alone does not hold across nodes"

# --- 3. the storm's negative control --------------------------------------
NAIVE=$("$REPLAY" --url "http://127.0.0.1:$((HTTP + 5))/register" --users 50 \
	--replays 2 --concurrency 32 --prefix "cl-$RUN-naive-" \
	--db-conf "$CVAR/pools/n1.conf" --json)
echo "# naive control: $NAIVE"
[ "$(jq -r .duplicates <<<"$NAIVE")" -gt 0 ]
ok $? "naive control: a storm across two nodes counts its duplicates ($(jq -r .duplicates <<<"$NAIVE") of 50)"

# --- 4. a node killed and restarted under a storm -------------------------
PREFIX="cl-$RUN-kill-"
REPORT=$(mktemp)
KILL_STARTED=$(date +%s)
"$REPLAY" --url "$URL/register" --users 300 --replays 4 --concurrency 16 \
	--interval-ms 10 --prefix "$PREFIX" --db-conf "$CVAR/pools/c1.conf" \
	--json >"$REPORT" &
REPLAY_PID=$!
some_rows() { [ "$(node_sql 1 "SELECT COUNT(*) FROM users WHERE openid LIKE '$PREFIX%'")" -ge 30 ]; }
await 300 some_rows
ok $? "kill: the storm is writing"
cluster kill-node 2
ok $? "kill: node 2 killed (SIGKILL)"
await 300 csees 1 2
ok $? "kill: nodes 1 and 3 go on as a cluster of 2"
register "$(json "cl-$RUN-dead")" "http://127.0.0.1:$((HTTP + 2))"
is "$STATUS $(field error)" "503 db_unavailable" \
	"kill: a request to node 2's pool is answered 503 db_unavailable, in JSON"
grep -qi 'retry-after' <<<"$HEADERS"
ok $? "kill: with Retry-After"
cluster start-node 2 >"$VAR/log/cluster-rejoin.log" 2>&1
ok $? "kill: node 2 restarts and rejoins (Synced)"
echo "# node 2 was back after $(($(date +%s) - KILL_STARTED)) s; the storm was $(alive "$REPLAY_PID" && echo still || echo no longer) running"
await 300 csees 2 3
ok $? "kill: the cluster is 3 again"
wait "$REPLAY_PID"
RC=$?
KILL_REPORT=$(cat "$REPORT")
rm -f "$REPORT"
echo "# kill storm: $KILL_REPORT"
k() { jq -r ".$1" <<<"$KILL_REPORT"; }
is "$(k duplicates) $(k lost) $(k openids_created_twice) $(k unclaimed)" "0 0 0 0" \
	"kill: no duplicates, no lost 'created', none created twice, no unclaimed row (node 1)"
is "$(jq -r '[.outcomes | keys[] | select(test("^(200 (created|exists)|503 (db_unavailable|busy|outcome_unknown|request_expired))$") | not)] | join(",")' <<<"$KILL_REPORT")" "" \
	"kill: every answer is 200 or the worker's JSON 503 (no 502, 504, HTML)"
is "$(k transport_errors)" 0 "kill: every request answered"
is "$RC" 0 "kill: regonce-replay exits 0"
ROWS1=$(node_rows 1 regonce "$PREFIX")
for n in 1 2 3; do
	is "$(node_rows "$n" regonce "$PREFIX" | awk '{ print ($1 == $2) ? "unique" : "DUPLICATES" }')" \
		unique "kill: no openid has two rows on node $n"
done
is "$(node_rows 2 regonce "$PREFIX") $(node_rows 3 regonce "$PREFIX")" "$ROWS1 $ROWS1" \
	"kill: nodes 2 and 3 hold the same rows as node 1 ($ROWS1)"
LINES=$(cat "$CVAR"/log/regonce-c[123].log | grep -F "openid=$PREFIX")
echo "# kill figures: $(k requests_per_s) requests/s, $(grep -c 'errnos=[0-9,]*1213' <<<"$LINES" || true) requests retried after 1213, $(k outcome_unknown) outcome_unknown, outcomes $(jq -c .outcomes <<<"$KILL_REPORT"), $(($(date +%s) - KILL_STARTED)) s"

cluster down >/dev/null 2>&1
ok $? "cluster: stopped"
echo "# cluster part took $(($(date +%s) - STARTED)) s"
done_testing
