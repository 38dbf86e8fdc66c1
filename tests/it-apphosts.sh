#!/usr/bin/env bash
# Integration: several app hosts, one database. ./stack cluster up --plain
# runs one MariaDB (wsrep off) on 127.0.0.1 over TCP, and the same pools
# as the Galera test, each reaching it as a separate host would, behind
# one nginx upstream. The lock lives in the database, not in a process:
#  1. a 300 x 4 storm across three pools: one row and one "created" per
#     openid; negative control: naive check-then-insert from two pools
#     must count duplicates. Pool c3 runs named_lock_compound: its
#     statements take the same lock as the others' statements;
#  2. one registration held between INSERT and COMMIT in one pool while
#     the same openid arrives at another: the second waits on the named
#     lock, then answers "exists"; on the original table too (no UNIQUE
#     index), where it-cluster.sh shows Galera's nodes let both through.
# Pools: its own cluster (./stack cluster up --plain: c1-c3, p1 p2, o1 o2, n1 n2)
. "$REGONCE_SRCDIR/tests/lib.sh"
CLUSTER_NAME=apphosts
. "$REGONCE_SRCDIR/tests/cluster-lib.sh"

cluster_up --plain
grep -q 'guarantee: one server (wsrep off)' "$CVAR/log/regonce-c1.log"
ok $? "apphosts: the workers see a single server and log the guarantee in force"
grep -q '^db_host = 127.0.0.1' "$CVAR/pools/c2.conf" &&
	! grep -q '^db_socket = .' "$CVAR/pools/c2.conf"
ok $? "apphosts: the pools reach MariaDB over TCP on 127.0.0.1"

# --- 1. the storm across three pools --------------------------------------
PREFIX="ah-$RUN-storm-"
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
is "$(j duplicates) $(j lost) $(node_rows 1 regonce "$PREFIX")" "0 0 300 300" \
	"storm: one row per openid, every 'created' has its row"
for pool in c1 c2 c3; do
	[ "$(grep -cF "openid=$PREFIX" "$CVAR/log/regonce-$pool.log")" -gt 0 ]
	ok $? "storm: pool $pool served part of it"
done

NAIVE=$("$REPLAY" --url "http://127.0.0.1:$((HTTP + 5))/register" --users 50 \
	--replays 2 --concurrency 32 --prefix "ah-$RUN-naive-" \
	--db-conf "$CVAR/pools/n1.conf" --json)
echo "# naive control: $NAIVE"
[ "$(jq -r .duplicates <<<"$NAIVE")" -gt 0 ]
ok $? "naive control: a storm across two pools counts its duplicates ($(jq -r .duplicates <<<"$NAIVE") of 50)"

# --- 2. the same openid in two pools at once ------------------------------
# lock_waiter: is a session waiting on a named lock (the second request)?
lock_waiter() {
	[ "$(node_sql 1 "SELECT COUNT(*) FROM information_schema.PROCESSLIST
		WHERE INFO LIKE 'SELECT GET_LOCK%' AND STATE = 'User lock'")" -ge 1 ]
}
waits() { await 300 lock_waiter; ok $? "$1: the second pool waits on the named lock"; }

OID="ah-$RUN-hand"
handover regonce $((HTTP + 1)) $((HTTP + 2)) "$OID" waits regonce
is "$FIRST $SECOND" "200 0 200 -1" \
	"handover: the first is created, the second, let through after it, is told 'exists'"
is "$(node_rows 1 regonce "$OID")" "1 1" "handover: one row"

OID="ah-$RUN-orig"
handover regonce_orig $((HTTP + 3)) $((HTTP + 4)) "$OID" waits regonce_orig
is "$FIRST $SECOND" "200 0 200 -1" \
	"original table: the named lock alone serialises the two pools"
is "$(node_rows 1 regonce_orig "$OID")" "1 1" "original table: one row"

cluster down >/dev/null 2>&1
ok $? "apphosts: stopped"
echo "# apphosts part took $(($(date +%s) - STARTED)) s"
done_testing
