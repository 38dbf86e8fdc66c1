# shellcheck shell=bash
# stack.d/pools.sh: the worker pools (spawn-fcgi, and the supervised shape
# of regonce.service), nginx in front of them and, for it-apache, Apache.
# POOLS is the one table of check's, demo's and bench's pools.

# The pools of check, demo and bench: command, name, database, strategy, port
# offset from HTTP_PORT, binary, extra config lines (';' between them).
# Binary "worker" is fcgi-app/regonce, as installed; "test" is
# tests/regonce-test, the same worker plus the negative controls (naive,
# REPEATABLE READ) and the pause point, which the installed one refuses.
POOLS=(
	"check main regonce named_lock 0 worker"
	"check unique regonce unique 1 worker"
	"check naive regonce_orig naive 2 test"
	"check gap regonce named_lock 3 worker argon2_memory_kib=8;argon2_iterations=1"
	"check gaprr regonce named_lock 4 test argon2_memory_kib=8;argon2_iterations=1;db_isolation=repeatable_read"
	"check origlock regonce_orig named_lock 5 worker"
	"check hooks regonce named_lock 6 test"
	"check budget regonce named_lock 7 worker request_timeout_ms=2000;lock_timeout_ms=1000;db_timeout_s=2"
	"check keyreq regonce named_lock 8 worker idempotency=required"
	"check mignaive regonce_mig naive 9 test"
	"check keyhooks regonce named_lock 10 test"
	"check compound regonce named_lock_compound 11 worker idempotency=off"
	"check origcompound regonce_orig named_lock_compound 12 worker"
	"check keyshort regonce named_lock 15 worker idempotency_ttl_s=60;argon2_memory_kib=8;argon2_iterations=1"
	"check keys regonce_keys named_lock 13 worker idempotency_max_keys=50;idempotency_ttl_s=60;argon2_memory_kib=8;argon2_iterations=1"
	"check stall regonce named_lock 14 worker fcgi_read_timeout_ms=1000;argon2_memory_kib=8;argon2_iterations=1"
	"demo demo-naive regonce_demo_orig naive 1 test"
	"demo demo-origlock regonce_demo_orig named_lock 2 worker"
	"demo demo-lock regonce_demo named_lock 3 worker"
	"demo demo-unique regonce_demo unique 4 worker"
	"bench lock regonce named_lock 0 worker argon2_memory_kib=64;argon2_iterations=1"
	"bench unique regonce unique 1 worker argon2_memory_kib=64;argon2_iterations=1"
	"bench compound regonce named_lock_compound 2 worker argon2_memory_kib=64;argon2_iterations=1"
	"bench auto regonce auto 3 worker argon2_memory_kib=64;argon2_iterations=1"
)

# Print the rows of POOLS that belong to command $1.
pools_of() {
	local row
	for row in "${POOLS[@]}"; do
		[ "${row%% *}" = "$1" ] && echo "$row"
	done
	return 0
}

# Start every pool of command $1, each on HTTP_PORT + its offset.
pools_start() {
	local cmd name db strategy offset binary extra bin pause lines
	mkdir -p "$VAR/pause"
	[ -z "$RUN_USER" ] || chown "$RUN_USER:$RUN_USER" "$VAR/pause"
	while read -r cmd name db strategy offset binary extra; do
		bin=$TOP/fcgi-app/regonce pause=""
		if [ "$binary" = test ]; then
			bin=$TOP/tests/regonce-test pause=$VAR/pause
		fi
		lines=()
		[ -z "$extra" ] || IFS=';' read -r -a lines <<<"$extra"
		POOL_BIN=$bin POOL_PAUSE_DIR=$pause \
			pool_start "$name" "$db" "$strategy" \
			$((HTTP_PORT + offset)) "${lines[@]}"
	done < <(pools_of "$1")
}

# Stop every pool of command $1 and forget it.
pools_stop() {
	local cmd name rest
	while read -r cmd name rest; do
		stop_pids "$VAR/run/$name.pid"
		rm -f "$VAR/run/$name.sock"
		[ ! -f "$VAR/pools/list" ] || sed -i "/^$name /d" "$VAR/pools/list"
	done < <(pools_of "$1")
}

# Workers never run as root (regonce refuses): as root, ./stack runs them
# as the system user "regonce", which must reach var/.
RUN_USER=""
run_user_setup() {
	[ "$(id -u)" -eq 0 ] || return 0
	RUN_USER=regonce
	if ! id -u "$RUN_USER" >/dev/null 2>&1; then
		useradd --system --user-group --no-create-home \
			--home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER" ||
			die "cannot create the system user $RUN_USER"
	fi
	mkdir -p "$VAR/pools"
	chown "$RUN_USER:$RUN_USER" "$VAR/log" "$VAR/pools"
	runuser -u "$RUN_USER" -- test -w "$VAR/log" ||
		die "user $RUN_USER cannot reach $VAR (check the parent folders' x bits)"
}

# Start pool $1 (name), database $2, strategy $3, on its own socket and
# loopback port $4, with a config file written under var/pools/; further
# arguments are extra "key = value" lines for it. POOL_WORKERS: this
# pool's number of workers, if not WORKERS. POOL_DB_PORT: reach the
# database over TCP on 127.0.0.1 and that port, as another host would.
pool_start() {
	local name=$1 db=$2 strategy=$3 port=$4 conf extra
	local bin=${POOL_BIN:-$TOP/fcgi-app/regonce}
	shift 4
	conf="$VAR/pools/$name.conf"
	mkdir -p "$VAR/pools"
	# The Idempotency-Key fingerprint's secret (HMAC key), one for all
	# pools, readable by the workers' user alone.
	if [ ! -s "$VAR/fingerprint.key" ]; then
		(umask 077 && head -c 32 /dev/urandom >"$VAR/fingerprint.key")
	fi
	[ -z "$RUN_USER" ] || chown "$RUN_USER:$RUN_USER" "$VAR/fingerprint.key"
	(umask 077 && cat >"$conf" <<-EOF
		# written by ./stack for the pool '$name'
		$(if [ -n "${POOL_DB_PORT:-}" ]; then
			printf 'db_socket =\ndb_host = 127.0.0.1\ndb_port = %s' \
				"$POOL_DB_PORT"
		else
			printf 'db_socket = %s' "$(DB_SOCK)"
		fi)
		db_user = regonce
		db_password = $(cat "$VAR/db-password")
		db_name = $db
		strategy = $strategy
		log_file = $VAR/log/regonce-$name.log
		metrics_file = $VAR/run/metrics/$name.metrics
		fingerprint_key_file = $VAR/fingerprint.key
	EOF
	for extra in "$@"; do echo "$extra" >>"$conf"; done
	)
	(umask 027 && : >>"$VAR/log/regonce-$name.log")
	# The pools' metrics files: the workers create them, as RUN_USER.
	mkdir -p "$VAR/run/metrics"
	if [ -n "$RUN_USER" ]; then
		chown "$RUN_USER:$RUN_USER" "$conf" "$VAR/log/regonce-$name.log" \
			"$VAR/run/metrics"
	fi
	# The worker's own check, as the user it will run as: config, log, DB.
	${RUN_USER:+runuser -u "$RUN_USER" --} "$bin" -t -c "$conf" \
		>"$VAR/log/preflight-$name.log" 2>&1 ||
		die "pool $name: $(cat "$VAR/log/preflight-$name.log")"
	[ "$name" = main ] && cp "$conf" "$VAR/regonce.conf"
	echo "$name $port" >>"$VAR/pools/list"
	# A running pool is restarted: a new build or REGONCE_* setting applies.
	stop_pids "$VAR/run/$name.pid"
	if [ "${POOL_SUPERVISE:-0}" = 1 ]; then
		# As regonce.service runs it: the supervisor in the background.
		rm -f "$VAR/run/$name.sock"
		pool_spawn "$name" "$bin" --supervise &
		await 100 test -S "$VAR/run/$name.sock" ||
			die "supervised pool $name has no socket: see $VAR/log/spawn-fcgi.log"
		return 0
	fi
	pool_spawn "$name" "$bin" ||
		die "spawn-fcgi failed for pool $name: see $VAR/log/spawn-fcgi.log"
	await 100 test -S "$VAR/run/$name.sock" ||
		die "pool $name has no socket: see $VAR/log/regonce-$name.log"
}

# pool_spawn NAME BIN [--supervise | --reload | --reopen]: regonce-spawn
# for pool NAME, its settings in the environment (none from
# /etc/default/regonce), its output in var/log/spawn-fcgi.log.
pool_spawn() {
	local name=$1 bin=$2
	shift 2
	REGONCE_DEFAULTS="" REGONCE_BIN="$bin" \
		REGONCE_CONF="$VAR/pools/$name.conf" \
		REGONCE_TEST_PAUSE_DIR="${POOL_PAUSE_DIR:-}" \
		REGONCE_SOCKET="$VAR/run/$name.sock" \
		REGONCE_WORKERS="${POOL_WORKERS:-$WORKERS}" \
		REGONCE_PIDFILE="$VAR/run/$name.pid" REGONCE_RUN_USER="$RUN_USER" \
		REGONCE_SOCKET_GROUP="${RUN_USER:-$(id -gn)}" \
		setsid "$TOP/conf/regonce-spawn" "$@" \
		</dev/null >>"$VAR/log/spawn-fcgi.log" 2>&1
}

# nginx on one loopback port per pool (pools/list), the shipped snippet
# in each server; started, or reloaded if it runs.
nginx_start() {
	local name names port target user=""
	mkdir -p "$VAR/nginx"/{body,fastcgi,proxy,uwsgi,scgi}
	cp /etc/nginx/fastcgi_params "$VAR/nginx/fastcgi_params"
	: >"$VAR/nginx/servers.conf"
	# One server per port. Pools that share a port sit behind one
	# upstream, as several app hosts would (./stack cluster).
	while read -r port names; do
		name=${names%% *}
		target=unix:$VAR/run/$name.sock
		if [ "$names" != "$name" ]; then
			target=regonce_$port
			{
				echo "upstream $target {"
				for name in $names; do
					echo "    server unix:$VAR/run/$name.sock;"
				done
				echo "}"
			} >>"$VAR/nginx/servers.conf"
			name=$port
		fi
		# The shipped snippet, with this pool's socket or upstream.
		sed "s|unix:/run/regonce/regonce.sock|$target|" \
			conf/nginx-regonce.conf >"$VAR/nginx/regonce-$name.conf"
		cat >>"$VAR/nginx/servers.conf" <<-EOF
			server {
			    listen 127.0.0.1:$port;
			    server_name localhost;
			    include $VAR/nginx/regonce-$name.conf;
			}
		EOF
	done < <(sort -u "$VAR/pools/list" |
		awk '{ names[$2] = names[$2] (names[$2] == "" ? "" : " ") $1 }
			END { for (p in names) print p, names[p] }')
	# As root, nginx workers would drop to nobody and lose the sockets.
	[ "$(id -u)" -eq 0 ] && user="user root;"
	sed -e "s|@VAR@|$VAR|g" -e "s|@USER@|$user|" conf/nginx-stack.conf \
		>"$VAR/nginx/nginx.conf"
	if pid_alive "$VAR/run/nginx.pid"; then
		nginx -c "$VAR/nginx/nginx.conf" -s reload 2>>"$VAR/log/nginx-error.log"
		return 0
	fi
	nginx -c "$VAR/nginx/nginx.conf" 2>>"$VAR/log/nginx-error.log" ||
		die "nginx did not start: see $VAR/log/nginx-error.log"
	await 100 curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" ||
		die "nginx answers no healthz on port $HTTP_PORT: see $VAR/log/"
}

# --- the supervised pool: regonce.service's shape, without systemd ----

# Start pool $1 on loopback port $2 as regonce.service runs it:
# regonce-spawn --supervise, that is spawn-fcgi opening the socket and
# exec'ing the wrapper's supervisor, which forks the workers, restarts any
# that dies and replaces them all on a reload. It stays in the
# background, a child of this script (so it is reaped); the wrapper
# writes its PID (every exec keeps it) to var/run/NAME.pid, and the
# workers are its children. Settings are main's with its own log;
# further arguments are extra "key = value" lines.
supervised_pool_start() {
	local name=$1 port=$2 conf extra
	local bin=${POOL_BIN:-$TOP/fcgi-app/regonce}
	shift 2
	conf="$VAR/pools/$name.conf"
	(umask 077
	sed -e "s|^log_file = .*|log_file = $VAR/log/regonce-$name.log|" \
		-e "s|^metrics_file = .*|metrics_file = $VAR/run/metrics/$name.metrics|" \
		"$VAR/pools/main.conf" >"$conf"
	for extra in "$@"; do echo "$extra" >>"$conf"; done
	)
	: >>"$VAR/log/regonce-$name.log"
	if [ -n "$RUN_USER" ]; then
		chown "$RUN_USER:$RUN_USER" "$conf" "$VAR/log/regonce-$name.log"
	fi
	echo "$name $port" >>"$VAR/pools/list"
	stop_pids "$VAR/run/$name.pid"
	# An old socket would pass the await below before the new one is bound.
	rm -f "$VAR/run/$name.sock"
	pool_spawn "$name" "$bin" --supervise &
	await 100 test -S "$VAR/run/$name.sock" ||
		die "supervised pool $name has no socket: see $VAR/log/spawn-fcgi.log"
}

# --- Apache 2.4 in front of a pool (it-apache) ------------------------

# Start Debian's apache2 on loopback port $2 in front of pool $1, and on
# port $3 in front of a socket nobody listens on, with the shipped snippet
# and a ServerRoot of its own under var/apache. Its pid file is
# var/run/apache.pid (Apache writes it; cmd_down stops it).
apache_start() {
	local pool=$1 port=$2 down_port=$3 user=""
	mkdir -p "$VAR/apache"
	sed "s|unix:/run/regonce/regonce.sock|unix:$VAR/run/$pool.sock|g" \
		conf/apache-regonce.conf >"$VAR/apache/regonce.conf"
	sed "s|unix:/run/regonce/regonce.sock|unix:$VAR/run/no-such-pool.sock|g" \
		conf/apache-regonce.conf >"$VAR/apache/regonce-down.conf"
	[ -n "$RUN_USER" ] && user="User $RUN_USER
Group $RUN_USER"
	sed -e "s|@VAR@|$VAR|g" -e "s|@PORT@|$port|g" \
		-e "s|@DOWN_PORT@|$down_port|g" conf/apache-stack.conf |
		awk -v user="$user" '$0 == "@USER@" { print user; next } { print }' \
		>"$VAR/apache/httpd.conf"
	stop_pids "$VAR/run/apache.pid"
	apache2 -f "$VAR/apache/httpd.conf" -k start \
		2>>"$VAR/log/apache-error.log" ||
		die "apache2 did not start: see $VAR/log/apache-error.log"
	await 100 curl -sf "http://127.0.0.1:$port/healthz" ||
		die "apache2 answers no healthz on port $port: see $VAR/log/apache-error.log"
}
