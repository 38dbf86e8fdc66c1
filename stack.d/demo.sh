# shellcheck shell=bash source-path=SCRIPTDIR
# Usage: ./stack demo [--users N] [--replays R] [--concurrency C] [--json]
# Summary: the original incident, replayed four ways, side by side
#
# stack.d/demo.sh: ./stack demo. On the dev stack (started if it is not
# up), the pools of POOLS marked "demo", one regonce-replay run each on a
# fresh table; naive must count duplicates, the others none and no loss.

# shellcheck source=up.sh
. "$STACK_D/up.sh"	# cmd_up

# The demo: the demo pools of POOLS, one replay run each, side by side.
cmd_demo() {
	local users=50 replays=2 concurrency=32 json=0 cmd pool db strategy
	local offset schema report runs="" rc=0 rest
	while [ $# -gt 0 ]; do
		case "$1" in
		--users) users=$2; shift 2 ;;
		--replays) replays=$2; shift 2 ;;
		--concurrency) concurrency=$2; shift 2 ;;
		--json) json=1; shift ;;
		*) die "demo: unknown argument '$1' (see ./stack help)" ;;
		esac
	done
	if ! pid_alive "$VAR/run/nginx.pid" || ! pid_alive "$VAR/run/main.pid" ||
		! pid_alive "$VAR/run/mysqld.pid"; then
		cmd_up >&2
	fi
	need_packages "${PACKAGES_DEMO[@]}" >&2
	# The naive pool runs the test worker: build it too.
	build tests/regonce-test
	db_create regonce_demo_orig tests/fixtures/original_users.sql
	db_create regonce_demo sql/[0-9][0-9][0-9]_*.sql
	run_user_setup
	pools_start demo
	nginx_start
	while read -r cmd pool db strategy offset rest; do
		schema=regonce
		[ "$db" = regonce_demo_orig ] && schema=original
		say "run: $schema table, $strategy: $users users x $replays replays" >&2
		# A fresh table for every run.
		db_client "$db" -e 'TRUNCATE TABLE users'
		report=$(tools/regonce-replay \
			--url "http://127.0.0.1:$((HTTP_PORT + offset))/register" \
			--users "$users" --replays "$replays" --concurrency "$concurrency" \
			--db-conf "$VAR/pools/$pool.conf" --json) || [ $? -eq 1 ] ||
			die "regonce-replay could not run against $pool"
		runs+=$(jq -c --arg schema "$schema" --arg strategy "$strategy" \
			'{schema: $schema, strategy: $strategy, requests, created, exists,
			  duplicates, extra_rows, lost, other: (.requests - .created - .exists)}' \
			<<<"$report")$'\n'
	done < <(pools_of demo)
	# The demo pools go again; the dev stack stays as it was.
	pools_stop demo
	nginx_start

	if [ $json -eq 1 ]; then
		jq -cs '{runs: .}' <<<"$runs"
	else
		printf '%-9s %-11s %8s %8s %7s %11s %10s %5s %6s\n' schema strategy \
			requests created exists duplicates extra_rows lost other
		jq -r '[.schema, .strategy, .requests, .created, .exists, .duplicates,
			.extra_rows, .lost, .other] | @tsv' <<<"$runs" |
			while IFS=$'\t' read -r a b c d e f g h i; do
				printf '%-9s %-11s %8s %8s %7s %11s %10s %5s %6s\n' \
					"$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i"
			done
	fi
	# What the demo promises: naive duplicates, nobody else does or loses.
	jq -se 'all(.[]; if .strategy == "naive" then .duplicates > 0
		else .duplicates == 0 and .lost == 0 end)' <<<"$runs" >/dev/null || rc=1
	[ $rc -eq 0 ] || say "demo: the results are not the expected ones" >&2
	return $rc
}
