# shellcheck shell=bash
# Usage: ./stack cluster up [--plain] | down | status | mysql N |
#          kill-node N | start-node N
# Summary: a 3-node Galera cluster on loopback (--plain: one MariaDB over
#          TCP), a pool per node and one nginx upstream across them; state
#          in var/cluster
#
# stack.d/cluster.sh: ./stack cluster, many app hosts and a Galera
# cluster. tests/cluster-lib.sh sources it for the node helpers.
#
# Everything lives under REGONCE_VAR (default var/cluster): node N's
# datadir, socket, pid file, log and my.cnf in nodeN/. As root the nodes
# run as the mysql user Debian's package creates: the rsync SST daemon,
# started as root, would write as "nobody" and fail.
# Node N listens on 127.0.0.1 only, from REGONCE_CLUSTER_PORT (33000)
# + 10 (N - 1): SQL, then group communication, IST and SST. The pools reach
# their node over TCP, as separate app hosts would, and share one nginx
# upstream on REGONCE_HTTP_PORT.

CLUSTER_PORT=${REGONCE_CLUSTER_PORT:-33000}

# The cluster's pools: name, node, database, strategy, port offset from
# HTTP_PORT (pools on one port share an nginx upstream), binary (as in
# POOLS), workers. In --plain mode every pool's node is node 1.
#  c1-c3  one pool per node behind one upstream: the storms.
#  p1 p2  node 1 (the test worker, for its pause point between INSERT
#         and COMMIT) and node 2, one port each: one registration held
#         open on node 1 while the same openid arrives at node 2.
#  o1 o2  the same on the original table (no UNIQUE index): the control
#         that shows what the named lock alone does across nodes.
#  n1 n2  naive check-then-insert on the original table from two nodes:
#         the storm's control (a storm there must count duplicates).
CLUSTER_POOLS=(
	"c1 1 regonce named_lock 0 worker 4"
	"c2 2 regonce named_lock 0 worker 4"
	"c3 3 regonce named_lock_compound 0 worker 4"
	"p1 1 regonce named_lock 1 test 2"
	"p2 2 regonce named_lock 2 worker 2"
	"o1 1 regonce_orig named_lock 3 test 2"
	"o2 2 regonce_orig named_lock 4 worker 2"
	"n1 1 regonce_orig naive 5 test 2"
	"n2 2 regonce_orig naive 5 test 2"
)

# Node N's port of kind $2: sql, gcomm, ist or sst.
cnode_port() {
	local n=$1 kind
	case "$2" in sql) kind=0 ;; gcomm) kind=1 ;; ist) kind=2 ;; sst) kind=3 ;; esac
	echo $((CLUSTER_PORT + 10 * (n - 1) + kind))
}

# How many nodes this cluster has: 3, or 1 with --plain.
cnode_count() {
	if [ "$(cat "$VAR/cluster-mode" 2>/dev/null)" = plain ]; then
		echo 1
	else
		echo 3
	fi
}

# A root client on node N (its unix socket); further arguments passed on.
cnode_client() {
	local n=$1
	shift
	mariadb --no-defaults --socket="$VAR/node$n/mysqld.sock" -u root "$@"
}

# One status variable of node N (empty if it does not answer).
cnode_status() {
	cnode_client "$1" -N -B -e "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null |
		cut -f2
}

# Is node N serving? Plain: it answers. Galera: Synced and in a primary
# component.
cnode_ready() {
	local n=$1
	if [ "$(cat "$VAR/cluster-mode")" = plain ]; then
		cnode_client "$n" -e 'SELECT 1'
		return
	fi
	[ "$(cnode_status "$n" wsrep_local_state_comment)" = Synced ] &&
		[ "$(cnode_status "$n" wsrep_cluster_status)" = Primary ]
}

# Is every node of the cluster in one view (wsrep_cluster_size = $2) as
# node N sees it?
cnode_sees() {
	[ "$(cnode_status "$1" wsrep_cluster_size)" = "$2" ]
}

# Is any node but N running?
cnode_peer_alive() {
	local n=$1 i
	for i in $(seq 1 "$(cnode_count)"); do
		[ "$i" != "$n" ] && pid_alive "$VAR/node$i/mysqld.pid" && return 0
	done
	return 1
}

# Does no socket, in any state, hold one of node N's four ports?
cnode_ports_free() {
	local n=$1 kind filter=""
	for kind in sql gcomm ist sst; do
		filter+="${filter:+ or }sport = :$(cnode_port "$n" "$kind")"
	done
	[ -z "$(ss -Htan "( $filter )")" ]
}

# Is node N ready, or has its process ($2) died? (what await waits for)
cnode_ready_or_gone() {
	cnode_ready "$1" || ! alive "$2"
}

# Start node N: the first of a stopped cluster bootstraps it, the others
# join it (state transfer by IST from the gcache, or by rsync SST).
cnode_start() {
	local n=$1 dir peers="" i wsrep=ON pid bootstrap=() as_user=()
	dir=$VAR/node$n
	pid_alive "$dir/mysqld.pid" && return 0
	[ "$(id -u)" -eq 0 ] && as_user=(--user=mysql)
	[ "$(cat "$VAR/cluster-mode")" = plain ] && wsrep=OFF
	for i in $(seq 1 "$(cnode_count)"); do
		peers+="${peers:+,}127.0.0.1:$(cnode_port "$i" gcomm)"
	done
	mkdir -p "$dir"
	sed -e "s|@DATADIR@|$dir/data|g" -e "s|@SOCKET@|$dir/mysqld.sock|g" \
		-e "s|@PIDFILE@|$dir/mysqld.pid|g" -e "s|@LOGFILE@|$dir/mysqld.log|g" \
		-e "s|@SQL_PORT@|$(cnode_port "$n" sql)|g" -e "s|@WSREP_ON@|$wsrep|g" \
		-e "s|@PEERS@|$peers|g" -e "s|@NODE@|$n|g" \
		-e "s|@GCOMM_PORT@|$(cnode_port "$n" gcomm)|g" \
		-e "s|@IST_PORT@|$(cnode_port "$n" ist)|g" \
		-e "s|@SST_PORT@|$(cnode_port "$n" sst)|g" \
		conf/galera-node.cnf.in >"$dir/my.cnf"
	if [ "$wsrep" = ON ] && ! cnode_peer_alive "$n"; then
		# Nobody to join: this node starts a new cluster. It is the
		# last one stopped (./stack cluster down stops node 1 last), or
		# the operator says so by running this; a dev stack only.
		bootstrap=(--wsrep-new-cluster)
		[ ! -f "$dir/data/grastate.dat" ] ||
			sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' \
				"$dir/data/grastate.dat"
	fi
	if [ ! -d "$dir/data/mysql" ] && { [ ${#bootstrap[@]} -gt 0 ] || [ "$wsrep" = OFF ]; }; then
		say "initialising MariaDB in $dir/data"
		mariadb-install-db --no-defaults --datadir="$dir/data" "${as_user[@]}" \
			--auth-root-authentication-method=socket \
			--auth-root-socket-user="$(id -un)" --skip-test-db \
			>"$dir/install.log" 2>&1 ||
			die "mariadb-install-db failed: see $dir/install.log"
	fi
	# A joiner with an empty datadir gets it whole from a donor (SST).
	mkdir -p "$dir/data"
	[ ${#as_user[@]} -eq 0 ] || chown -R mysql:mysql "$dir"
	# After a crash grastate.dat says seqno -1, and the node would ask
	# for a whole SST. Read its position out of InnoDB first, as Debian's
	# galera_recovery does for systemd, so that it catches up by IST.
	local position=()
	if [ "$wsrep" = ON ] && [ ${#bootstrap[@]} -eq 0 ] &&
		grep -q '^seqno: *-1' "$dir/data/grastate.dat" 2>/dev/null; then
		mariadbd --defaults-file="$dir/my.cnf" "${as_user[@]}" \
			--wsrep-recover --log-error="$dir/recover.log" \
			</dev/null >/dev/null 2>&1 || true
		i=$(sed -n 's/.*WSREP: Recovered position: *\([^ ]*:[0-9-]*\).*/\1/p' \
			"$dir/recover.log" 2>/dev/null | tail -n 1)
		[ -z "$i" ] || position=(--wsrep-start-position="$i")
	fi
	# The node's ports lie in the kernel's ephemeral range (32768-60999
	# on Linux): an outgoing connection (the donor's rsync, a client) may
	# take one as its local port, and hold it in TIME-WAIT for a minute
	# after; the node then dies on "Address already in use". Such a start
	# is tried again once the port is free.
	for i in 1 2 3; do
		setsid mariadbd --defaults-file="$dir/my.cnf" "${as_user[@]}" \
			"${bootstrap[@]}" "${position[@]}" </dev/null >/dev/null 2>&1 &
		pid=$!
		# SST copies a whole datadir: allow it two minutes.
		await 1200 cnode_ready_or_gone "$n" "$pid" || break
		cnode_ready "$n" && return 0
		await 300 not alive "$pid"
		tail -n 50 "$dir/mysqld.log" | grep -q 'Address already in use' || break
		say "node $n: one of its ports was taken; starting it again once free"
		await 900 cnode_ports_free "$n" || true
	done
	die "node $n is not ready: see $dir/mysqld.log"
}

# ./stack cluster up [--plain] [--no-build]: nodes, schema, pools, nginx.
# --no-build: run the binaries as they are (the tests pass it, so that a
# check --sanitize run keeps its sanitizer builds).
cluster_up() {
	local mode=galera n name node db strategy offset binary workers bin pause
	local no_build=0 row
	while [ $# -gt 0 ]; do
		case "$1" in
		--plain) mode=plain ;;
		--no-build) no_build=1 ;;
		*) die "cluster up: unknown argument '$1'" ;;
		esac
		shift
	done
	mkdir -p "$VAR"/{run,log}
	if [ -f "$VAR/cluster-mode" ] && [ "$(cat "$VAR/cluster-mode")" != "$mode" ]; then
		die "$VAR holds a $(cat "$VAR/cluster-mode") cluster: ./stack cluster down, rm -r $VAR"
	fi
	echo "$mode" >"$VAR/cluster-mode"
	need_packages "${PACKAGES_BUILD[@]}" "${PACKAGES_UP[@]}" \
		"${PACKAGES_CLUSTER[@]}"
	# The test worker too: the p, o and n pools run it.
	[ $no_build -eq 1 ] || build tests/regonce-test
	if [ ! -s "$VAR/db-password" ]; then
		(umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$VAR/db-password")
	fi
	cnode_start 1
	# The schema goes to node 1; Galera replicates DDL and accounts to
	# the nodes that join (or gives them node 1's datadir whole).
	DB_ACCOUNT_HOSTS="localhost 127.0.0.1"
	db_create regonce sql/[0-9][0-9][0-9]_*.sql
	db_create regonce_orig tests/fixtures/original_users.sql
	for n in $(seq 2 "$(cnode_count)"); do
		cnode_start "$n"
	done
	[ "$mode" = plain ] || await 300 cnode_sees 1 3 ||
		die "the nodes did not form one cluster of 3: see $VAR/log/node*.log"
	rm -f "$VAR/pools/list"
	run_user_setup
	mkdir -p "$VAR/pause"
	[ -z "$RUN_USER" ] || chown "$RUN_USER:$RUN_USER" "$VAR/pause"
	for row in "${CLUSTER_POOLS[@]}"; do
		read -r name node db strategy offset binary workers <<<"$row"
		[ "$mode" = galera ] || node=1
		bin=$TOP/fcgi-app/regonce pause=""
		[ "$binary" = worker ] || bin=$TOP/tests/regonce-test pause=$VAR/pause
		# The lock wait outlasts the hand-over tests' wait on one
		# server; it stays below db_timeout_s (10 s).
		WORKERS=$workers POOL_BIN=$bin POOL_PAUSE_DIR=$pause \
			POOL_DB_PORT=$(cnode_port "$node" sql) \
			pool_start "$name" "$db" "$strategy" $((HTTP_PORT + offset)) \
			lock_timeout_ms=8000
	done
	nginx_start
	say "cluster is up ($mode): http://127.0.0.1:$HTTP_PORT/register across c1 c2 c3"
}

# ./stack cluster down: nginx, pools, then the nodes, node 1 last (it is
# the one a later "up" bootstraps from).
cluster_down() {
	local n
	stop_pids "$VAR/run/nginx.pid"
	stop_listed_pools
	for n in 3 2 1; do
		stop_pids "$VAR/node$n/mysqld.pid"
	done
	say "cluster stopped (state kept in $VAR)"
}

cluster_status() {
	local n name port rc=0
	for n in $(seq 1 "$(cnode_count)"); do
		if pid_alive "$VAR/node$n/mysqld.pid"; then
			printf 'node %s (:%s) running (pid %s): %s, cluster size %s\n' \
				"$n" "$(cnode_port "$n" sql)" "$(head -n 1 "$VAR/node$n/mysqld.pid")" \
				"$(cnode_status "$n" wsrep_local_state_comment)" \
				"$(cnode_status "$n" wsrep_cluster_size)"
		else
			printf 'node %s (:%s) stopped\n' "$n" "$(cnode_port "$n" sql)"
			rc=1
		fi
	done
	if [ -f "$VAR/pools/list" ]; then
		while read -r name port; do
			if pid_alive "$VAR/run/$name.pid"; then
				printf 'pool %s (:%s) running\n' "$name" "$port"
			else
				printf 'pool %s (:%s) stopped\n' "$name" "$port"; rc=1
			fi
		done < <(sort -u "$VAR/pools/list")
	fi
	if pid_alive "$VAR/run/nginx.pid"; then
		echo "nginx (:$HTTP_PORT) running"
	else
		echo "nginx stopped"; rc=1
	fi
	return $rc
}

# ./stack cluster up|down|status|mysql N|kill-node N|start-node N
cmd_cluster() {
	local sub=${1:-} n=${2:-} pid
	VAR=${REGONCE_VAR:-$TOP/var/cluster}
	DB_SOCKET=$VAR/node1/mysqld.sock
	case "$sub" in
	mysql | kill-node | start-node)
		case "$n" in 1 | 2 | 3) ;; *) die "usage: ./stack cluster $sub 1|2|3" ;; esac
		[ -f "$VAR/cluster-mode" ] || die "no cluster in $VAR: ./stack cluster up"
		[ "$n" -le "$(cnode_count)" ] || die "a --plain cluster has node 1 only"
		;;
	esac
	case "$sub" in
	up) shift; cluster_up "$@" ;;
	down) cluster_down ;;
	status) cluster_status ;;
	mysql) shift 2; exec mariadb --no-defaults --socket="$VAR/node$n/mysqld.sock" \
		-u root regonce "$@" ;;
	kill-node)
		# SIGKILL: a crash, not a shutdown (the fault the tests inject).
		pid_alive "$VAR/node$n/mysqld.pid" || die "node $n is not running"
		pid=$(head -n 1 "$VAR/node$n/mysqld.pid")
		kill -KILL "$pid"
		await 300 not alive "$pid" || die "node $n (pid $pid) survived KILL"
		;;
	start-node) cnode_start "$n" ;;
	*) die "usage: ./stack cluster up [--plain]|down|status|mysql N|kill-node N|start-node N" ;;
	esac
}
