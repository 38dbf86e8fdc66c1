# shellcheck shell=bash
# Usage: ./stack up
# Summary: install what is missing, build, start; prints a curl line
# Usage: ./stack down
# Summary: stop what ./stack up started
# Usage: ./stack status
# Summary: what is running
# Usage: ./stack reload
# Summary: the main pool takes its configuration and binary again, as
#          systemctl reload does (regonce-spawn --reload)
#
# stack.d/up.sh: the dev stack: MariaDB, the main pool and nginx on
# REGONCE_HTTP_PORT, state in $VAR. check, bench and demo use these verbs
# on their own state folders.

# ./stack up: packages, build, database, the main pool, nginx.
cmd_up() {
	mkdir -p "$VAR"/{run,log}
	need_packages "${PACKAGES_BUILD[@]}" "${PACKAGES_UP[@]}"
	build
	db_start
	db_setup
	rm -f "$VAR/pools/list"
	run_user_setup
	# Supervised, as regonce.service runs it: ./stack reload works.
	POOL_SUPERVISE=1 pool_start main regonce \
		"${REGONCE_STRATEGY:-auto}" "$HTTP_PORT"
	nginx_start
	say "regonce is up: http://127.0.0.1:$HTTP_PORT/register ($WORKERS workers)"
	cat <<-EOF
		try:
		  curl -s -H 'Content-Type: application/json' \\
		    -d '{"openid":"o-demo-1","username":"demo","password":"correct horse"}' \\
		    http://127.0.0.1:$HTTP_PORT/register
		logs: $VAR/log/   config: $VAR/pools/main.conf (then ./stack reload)
		stop: ./stack down
		regonce-migrate's account: $VAR/migrate.conf
	EOF
}

# ./stack reload: regonce-spawn --reload on the main pool: its config is
# checked, then each worker is replaced while the socket stays open.
cmd_reload() {
	pid_alive "$VAR/run/main.pid" || die "no main pool runs: ./stack up"
	run_user_setup
	pool_spawn main "$TOP/fcgi-app/regonce" --reload ||
		die "reload refused: see $VAR/log/spawn-fcgi.log"
	tail -n 1 "$VAR/log/spawn-fcgi.log"
}

# ./stack down: nginx, Apache, every pool of pools/list, MariaDB, by PID.
cmd_down() {
	if [ -f "$VAR/run/nginx.pid" ]; then
		stop_pids "$VAR/run/nginx.pid"
	fi
	stop_pids "$VAR/run/apache.pid"
	stop_pids "$VAR/run/apache-fcgid.pid"
	stop_listed_pools
	stop_pids "$VAR/run/mysqld.pid"
	say "stopped (state kept in $VAR)"
}

# ./stack status: each process of $VAR, running or stopped (exit 1 if any
# is stopped).
cmd_status() {
	local name port pid rc=0
	show() {
		if pid_alive "$2"; then
			printf '%-22s running (pid %s)\n' "$1" "$(paste -sd' ' "$2")"
		else
			printf '%-22s stopped\n' "$1"; rc=1
		fi
	}
	show mariadb "$VAR/run/mysqld.pid"
	if [ -f "$VAR/pools/list" ]; then
		while read -r name port; do
			show "pool $name (:$port)" "$VAR/run/$name.pid"
		done < <(sort -u "$VAR/pools/list")
	fi
	show nginx "$VAR/run/nginx.pid"
	[ ! -f "$VAR/run/apache.pid" ] || show apache "$VAR/run/apache.pid"
	return $rc
}
