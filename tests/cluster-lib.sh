# Helpers for the tests that run ./stack cluster (sourced after lib.sh):
# it-apphosts.sh (--plain: one MariaDB over TCP) and it-cluster.sh
# (Galera). Each starts its cluster under $VAR/$1 and stops it on exit.

if [ -z "${REGONCE_IT_CLUSTER_PORT:-}" ]; then
	echo "1..0 # SKIP no cluster ports: run ./stack check"
	exit 0
fi
# cnode_sees, cnode_status: ./stack cluster's node helpers (csees below).
. "$REGONCE_SRCDIR/stack.d/cluster.sh"
STARTED=$(date +%s)
CVAR=$VAR/$CLUSTER_NAME
HTTP=$REGONCE_IT_CLUSTER_HTTP_PORT
URL=http://127.0.0.1:$HTTP
PAUSE=$CVAR/pause

# cluster ARGS...: ./stack cluster on the test's state and ports.
cluster() {
	REGONCE_VAR=$CVAR REGONCE_HTTP_PORT=$HTTP \
		REGONCE_CLUSTER_PORT=$REGONCE_IT_CLUSTER_PORT \
		"$REGONCE_SRCDIR/stack" cluster "$@"
}
trap 'cluster down >/dev/null 2>&1' EXIT

# cluster_up ARGS...: start it (ARGS go to "cluster up"), or bail out.
cluster_up() {
	local rc
	mkdir -p "$CVAR"
	cluster up --no-build "$@" >"$VAR/log/$CLUSTER_NAME-up.log" 2>&1
	rc=$?
	ok $rc "$CLUSTER_NAME: nodes, pools and nginx are up"
	if [ $rc -ne 0 ]; then
		tail -20 "$VAR/log/$CLUSTER_NAME-up.log" | sed 's/^/# /'
		echo "Bail out! no cluster"
		exit 1
	fi
	echo "# $CLUSTER_NAME up took $(($(date +%s) - STARTED)) s"
}

# node_sql N [DATABASE] QUERY: a query on node N (causal on Galera: it
# waits until the node has applied what the cluster had committed).
node_sql() {
	local n=$1 db=regonce causal=""
	[ $# -eq 3 ] && { db=$2; shift; }
	[ "$(cat "$CVAR/cluster-mode")" = galera ] &&
		causal="SET SESSION wsrep_sync_wait = 1;"
	mariadb --no-defaults --socket="$CVAR/node$n/mysqld.sock" -u root -N -B \
		"$db" -e "$causal $2"
}

# node_rows N DATABASE PREFIX: "rows openids" for the prefix on node N.
node_rows() {
	node_sql "$1" "$2" "SELECT COUNT(*), COUNT(DISTINCT openid) FROM users
		WHERE openid LIKE '$3%'" | tr '\t' ' '
}

# csees N SIZE / cstatus N VARIABLE: stack.d/cluster.sh's node helpers,
# on the cluster's state folder.
csees() { VAR=$CVAR cnode_sees "$@"; }
cstatus() { VAR=$CVAR cnode_status "$@"; }

json() { printf '{"openid":"%s","username":"u","password":"12345678"}' "$1"; }

# handover DB P1-PORT P2-PORT OPENID [WAIT-CMD...]: hold OPENID between
# INSERT and COMMIT in pool p1 or o1 (node 1, the test worker's pause
# point), send it to the pool on P2-PORT, run WAIT-CMD (await something
# about that second request) if given, then let the first go on. Sets
# FIRST and SECOND to "status code" of each.
handover() {
	local db=$1 port1=$2 port2=$3 oid=$4 out1 out2 pid1 pid2
	shift 4
	out1=$(mktemp) out2=$(mktemp)
	touch "$PAUSE/pause.$oid"
	curl -s -o "$out1" -w '%{http_code}' -H 'Content-Type: application/json' \
		-d "$(json "$oid")" "http://127.0.0.1:$port1/register" >"$out1.status" &
	pid1=$!
	await 300 test -s "$PAUSE/paused.$oid"
	ok $? "$db: node 1 holds the registration between INSERT and COMMIT"
	curl -s -o "$out2" -w '%{http_code}' -H 'Content-Type: application/json' \
		-d "$(json "$oid")" "http://127.0.0.1:$port2/register" >"$out2.status" &
	pid2=$!
	if [ $# -gt 0 ]; then
		"$@"
	else
		wait "$pid2"
	fi
	rm -f "$PAUSE/pause.$oid"
	wait "$pid1" "$pid2"
	FIRST="$(cat "$out1.status") $(jq -r .code <"$out1" 2>/dev/null)"
	SECOND="$(cat "$out2.status") $(jq -r .code <"$out2" 2>/dev/null)"
	rm -f "$out1" "$out1.status" "$out2" "$out2.status" "$PAUSE/paused.$oid"
}
