# shellcheck shell=bash source-path=SCRIPTDIR
# stack.d/bench-production.sh: ./stack bench --production, what a
# registration costs at the shipped argon2 cost (argon2id m=19456 KiB
# t=2), where hashing is nearly all of the CPU. One pool ("production",
# bench offset 4) on the product's default strategy and argon2 defaults,
# behind nginx; regonce-replay sends each registration 1 and then 4 times
# at once. Per replays: registrations/s, requests/s, hashes per
# registration from regonce_password_hashes_total and from the workers'
# CPU (/proc/PID/stat) over the CPU of one hash, worker CPU per
# registration; beside them the physical limit measured in the same run:
# as many argon2 hashes in parallel as there are cores, no server
# (tests/bench/dbbench --hash-rate, one process per core). Sourced by
# bench.sh; writes var/bench/production.json.

# The pool's regonce_password_hashes_total ("-" where the worker has none).
bench_prod_hashes() {
	curl -s "http://127.0.0.1:$1/metrics" |
		awk '$1 == "regonce_password_hashes_total" { v = $2 }
			END { print (v == "" ? "-" : v) }'
}

# Hashes/s of $1 dbbench --hash-rate processes at once, summed, and the
# CPU ms of one hash (one process alone, first).
bench_prod_physical() {
	local n=$1 secs=$2 i single total
	single=$(tests/bench/dbbench --hash-rate -d "$secs" | jq .hashes_per_s)
	for i in $(seq "$n"); do
		tests/bench/dbbench --hash-rate -d "$secs" >"$VAR/log/hash-rate-$i.json" &
	done
	wait
	total=$(cat "$VAR"/log/hash-rate-*.json | jq -s 'map(.hashes_per_s) | add')
	echo "$single $total"
}

# One point: replays $1, users $2, concurrency $3, port $4; a JSON line.
bench_prod_point() {
	local replays=$1 users=$2 conc=$3 port=$4 pids t0 h0 t1 h1 report
	pids=$(bench_pids_of "$VAR/run/production.pid")
	bench_reset_rows 0
	h0=$(bench_prod_hashes "$port")
	# shellcheck disable=SC2086 # a PID list
	t0=$(bench_ticks $pids)
	report=$(tools/regonce-replay --url "http://127.0.0.1:$port/register" \
		--users "$users" --replays "$replays" --concurrency "$conc" \
		--prefix "bench-prod-$replays-" --timeout 60 \
		--db-conf "$VAR/pools/production.conf" --json) || true
	# shellcheck disable=SC2086
	t1=$(bench_ticks $pids)
	h1=$(bench_prod_hashes "$port")
	jq -c --argjson replays "$replays" --argjson conc "$conc" \
		--argjson ticks "$((t1 - t0))" --argjson tick_ms "$BENCH_TICK_MS" \
		--arg h0 "$h0" --arg h1 "$h1" '{ replays: $replays,
		concurrency: $conc, users: .users, requests: .requests,
		created: .created, wall_s: .wall_s,
		errors: (.server_errors + .transport_errors),
		duplicates: .duplicates, worker_cpu_ms: ($ticks * $tick_ms),
		hashes: (if $h0 == "-" then null else
			($h1 | tonumber) - ($h0 | tonumber) end) }' <<<"$report"
}

# ./stack bench --production [--strategy S] [--workers N]
bench_production() {
	local strategy=${1:-auto} port cores physical single total users
	local conc replays cap started=$SECONDS
	VAR=$TOP/var/bench
	# The pool's own port (offset 4): nginx_start awaits healthz there.
	HTTP_PORT=$((${REGONCE_BENCH_HTTP_PORT:-18180} + 4))
	port=$HTTP_PORT
	[ -d "$VAR" ] && cmd_down >/dev/null 2>&1 || true
	rm -rf "$VAR"
	mkdir -p "$VAR"/{run,log}
	trap 'cmd_down >/dev/null 2>&1 || true' EXIT
	need_packages "${PACKAGES_BUILD[@]}" "${PACKAGES_UP[@]}" \
		"${PACKAGES_BENCH[@]}"
	build
	db_start
	db_setup
	rm -f "$VAR/pools/list"
	run_user_setup
	# The shipped argon2 cost: no argon2_* line in the pool's config.
	# Hashes capped at the cores, as the package runs it
	# (BENCH_PROD_HASH_CAP=off: uncapped, to compare).
	cap="hash_cap_dir = $VAR/run/hash-cap"
	[ "${BENCH_PROD_HASH_CAP:-on}" != off ] || cap="hash_cap_dir ="
	pool_start production regonce "$strategy" "$port" "$cap"
	nginx_start
	BENCH_TICK_MS=$((1000 / $(getconf CLK_TCK)))
	cores=$(nproc)
	# Enough in flight to keep every core hashing.
	conc=${BENCH_PROD_CONCURRENCY:-$((WORKERS * 2))}
	users=${BENCH_PROD_USERS:-400}
	say "production cost: strategy $strategy, argon2 defaults, $WORKERS workers, $cores cores, $users users, concurrency $conc, hash cap ${BENCH_PROD_HASH_CAP:-on}"
	read -r single total < <(bench_prod_physical "$cores" 3)
	: >"$VAR/production.jsonl"
	for replays in 1 4; do
		say "point: replays=$replays"
		bench_prod_point "$replays" "$users" "$conc" "$port" \
			>>"$VAR/production.jsonl"
	done
	jq -s --arg strategy "$strategy" --argjson single "$single" \
		--argjson total "$total" --argjson cores "$cores" \
		--arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo -)" '
		def r(n): (. * pow(10; n) | round) / pow(10; n);
		(1000 / $single) as $hash_ms |
		{ commit: $commit, strategy: $strategy, cores: $cores,
		  hash_ms: ($hash_ms | r(2)), physical_hashes_per_s: ($total | r(1)),
		  points: map(. + {
			reg_per_s: (.created / .wall_s | r(1)),
			req_per_s: (.requests / .wall_s | r(1)),
			hashes_per_reg_counter: (if .hashes == null then null
				else (.hashes / .created | r(2)) end),
			hashes_per_reg_cpu: (.worker_cpu_ms / $hash_ms / .created | r(2)),
			worker_cpu_ms_per_reg: (.worker_cpu_ms / .created | r(2)),
			vs_physical: (.created / .wall_s / $total | r(2)) }) }' \
		"$VAR/production.jsonl" >"$VAR/production.json"
	printf '%-20s %3s %6s %8s %8s %9s %9s %9s %6s %4s %4s\n' strategy rep \
		users reg/s req/s hash/reg cpuhash/r cpu_ms/r vsPhys err dup
	jq -r '.strategy as $s | .points[] | [$s, .replays, .users, .reg_per_s,
		.req_per_s, (.hashes_per_reg_counter // "-"), .hashes_per_reg_cpu,
		.worker_cpu_ms_per_reg, .vs_physical, .errors, .duplicates] | @tsv' \
		"$VAR/production.json" | while IFS=$'\t' read -r -a f; do
		printf '%-20s %3s %6s %8s %8s %9s %9s %9s %6s %4s %4s\n' "${f[@]}"
	done
	jq -r '"physical limit: \(.physical_hashes_per_s) hashes/s (\(.cores) argon2 hashes in parallel, no server); one hash \(.hash_ms) ms of CPU",
		"ratios: worker CPU per registration, replays 4 / replays 1: \((.points[1].worker_cpu_ms_per_reg / .points[0].worker_cpu_ms_per_reg * 100 | round) / 100); replays 1 registrations/s / physical limit: \(.points[0].vs_physical)"' \
		"$VAR/production.json"
	say "wrote $VAR/production.json in $((SECONDS - started)) s"
	jq -e 'all(.points[]; .errors == 0 and .duplicates == 0)' \
		"$VAR/production.json" >/dev/null ||
		{ say "bench: FAIL: a point has errors or duplicates"; return 1; }
}
