# shellcheck shell=bash source-path=SCRIPTDIR
# Usage: ./stack bench [--quick | --production] [--strategy L]
#          [--concurrency L] [--replays L] [--rows L] [--duration S]
#          [--workers N] [--keep-conn L] [--no-db]
# Summary: throughput, latency and CPU per request: wrk through nginx and
#          the DB-only baseline (tests/bench/dbbench), named_lock,
#          named_lock_compound, auto and unique; var/bench/results.json,
#          .png (--quick: about a minute, CI; L: a,b,..; --production:
#          the shipped argon2 cost, replays 1 and 4, hashes and CPU per
#          registration beside the physical limit, stack.d/bench-production.sh;
#          --keep-conn off,on: nginx also through an upstream with keepalive
#          N = workers and fastcgi_keep_conn on)
#
# stack.d/bench.sh: ./stack bench, throughput, latency and the cost of a
# request. One MariaDB, the "bench" pools of POOLS (one per strategy, from
# REGONCE_BENCH_HTTP_PORT on) and nginx, in var/bench. For each point
# (strategy, concurrency, replays, table rows) wrk loads the stack through
# nginx (tests/bench/register.lua), then tests/bench/dbbench runs the same
# registrations against the database alone, with the pool's own config. Around each run: CPU ticks of every
# process from /proc, the server's Questions and Com_* counters, the
# workers' VmRSS; after it, the duplicates. Writes var/bench/results.json,
# var/bench/run.json (what was run, on what) and var/bench/throughput.png.

# shellcheck source=up.sh
. "$STACK_D/up.sh"	# cmd_down
# shellcheck source=bench-production.sh
. "$STACK_D/bench-production.sh"	# bench_production

# The Com_* counters a registration moves (SHOW GLOBAL STATUS).
BENCH_COUNTERS="Questions Com_stmt_prepare Com_stmt_execute Com_stmt_close
	Com_stmt_reset Com_begin Com_commit Com_rollback Com_select Com_insert
	Com_set_option"
# The fill's hash: a valid argon2id PHC string nobody's password matches.
BENCH_FILL_HASH='$argon2id$v=19$m=64,t=1,p=1$YmVuY2hmaWxsc2FsdA$XJ4Xlq/g1nLqzb9Fj0bYwOeCH6wL2pJ0a7Hq1cXyU7c'

# utime + stime of the PIDs given, in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the ")" that ends the command name).
bench_ticks() {
	local pid stat fields sum=0
	for pid in "$@"; do
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		read -r -a fields <<<"${stat##*) }"
		sum=$((sum + fields[11] + fields[12]))
	done
	echo "$sum"
}

# --keep-conn on: each bench pool also behind an upstream that keeps up to
# BENCH_KEEPALIVE idle connections per nginx worker process, with
# fastcgi_keep_conn on, on its own port (HTTP_PORT + this + the offset).
BENCH_KEEP_PORTS=10

# Add the --keep-conn on servers to the running nginx: the shipped
# snippet, its fastcgi_pass sent to a keepalive upstream; then reload.
bench_keep_conn_start() {
	local name offset port
	while read -r _ name _ _ offset _; do
		port=$((HTTP_PORT + BENCH_KEEP_PORTS + offset))
		sed "s|fastcgi_pass unix:/run/regonce/regonce.sock;|fastcgi_pass regonce_keep_$name; fastcgi_keep_conn on;|" \
			conf/nginx-regonce.conf >"$VAR/nginx/regonce-keep-$name.conf"
		cat >>"$VAR/nginx/servers.conf" <<-EOF
			upstream regonce_keep_$name {
			    server unix:$VAR/run/$name.sock;
			    keepalive $BENCH_KEEPALIVE;
			}
			server {
			    listen 127.0.0.1:$port;
			    server_name localhost;
			    include $VAR/nginx/regonce-keep-$name.conf;
			}
		EOF
	done < <(pools_of bench)
	nginx -c "$VAR/nginx/nginx.conf" -s reload 2>>"$VAR/log/nginx-error.log" ||
		die "nginx did not reload: see $VAR/log/nginx-error.log"
	while read -r _ name _ _ offset _; do
		port=$((HTTP_PORT + BENCH_KEEP_PORTS + offset))
		await 100 curl -sf "http://127.0.0.1:$port/healthz" ||
			die "nginx answers no healthz on port $port: see $VAR/log/"
	done < <(pools_of bench)
}

# The strategies the bench measures: one pool each in POOLS.
bench_strategies() {
	pools_of bench | awk '{ print $4 }'
}

# The PIDs of pid file $1, space-separated (spawn-fcgi writes one per
# worker, the last without a newline).
bench_pids_of() {
	local pid pids=""
	while read -r pid || [ -n "$pid" ]; do
		[ -z "$pid" ] || pids+="$pid "
	done <"$1"
	echo "$pids"
}

# nginx's master and its workers.
bench_nginx_pids() {
	local master
	master=$(head -n 1 "$VAR/run/nginx.pid")
	echo "$master" $(ps -o pid= --ppid "$master")
}

# VmRSS (KiB) of the PIDs given, as a JSON array.
bench_rss() {
	local pid out=""
	for pid in "$@"; do
		out+="${out:+,}$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo null)"
	done
	echo "[$out]"
}

# The counters of BENCH_COUNTERS, as a JSON object.
bench_counters() {
	local names
	names=$(printf "'%s'," $BENCH_COUNTERS)
	db_client -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN (${names%,})" |
		jq -R -s 'split("\n") | map(select(length > 0) | split("\t") |
			{(.[0]): (.[1] | tonumber)}) | add'
}

# Table $1 rows: the bench's rows go, fill rows stay (a refill per point
# would cost more than the points). 0: TRUNCATE, the cheapest way back.
bench_reset_rows() {
	if [ "$1" -eq 0 ]; then
		db_client regonce -e 'TRUNCATE TABLE users'
	else
		db_client regonce -e "DELETE FROM users WHERE openid LIKE 'bench-%'"
	fi
}

# Fill the table with $1 rows, server-side, from the sequence engine; no
# user data, so no statement to prepare. Prints the seconds it took.
bench_fill() {
	local rows=$1 t0 t1
	db_client regonce -e 'TRUNCATE TABLE users'
	[ "$rows" -gt 0 ] || { echo 0; return 0; }
	t0=$(date +%s.%N)
	db_client regonce -e "INSERT INTO users (openid, username, password_hash)
		SELECT CONCAT('fill-', seq), 'fill user', '$BENCH_FILL_HASH'
		FROM seq_1_to_$rows"
	t1=$(date +%s.%N)
	[ "$(db_client regonce -N -B -e 'SELECT COUNT(*) FROM users')" = "$rows" ] ||
		die "bench: the fill did not leave $rows rows"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }'
}

# One point: kind (stack: wrk through nginx; db: dbbench), strategy,
# concurrency, replays, table rows, seconds, keep-conn (on: through the
# keepalive upstream; stack only). Appends its JSON object to
# $VAR/points.jsonl.
bench_point() {
	local kind=$1 strategy=$2 conc=$3 replays=$4 rows=$5 secs=$6
	local keep=${7:-off}
	local pool port run out cpu threads workers nginx mariadbd
	local t_nginx t_workers t_db c_before c_after rss_before rss_after
	local load dups written
	local offset
	# The strategy's pool and port, as the bench rows of POOLS give them.
	read -r _ pool _ _ offset _ < <(pools_of bench | awk -v s="$strategy" '$4 == s')
	port=$((HTTP_PORT + offset))
	[ "$keep" = off ] || port=$((port + BENCH_KEEP_PORTS))
	BENCH_N=$((BENCH_N + 1))
	run=p$BENCH_N
	out=$VAR/log/bench-$run-$kind.out
	cpu=$VAR/log/bench-$run-$kind.cpu
	workers=$(bench_pids_of "$VAR/run/$pool.pid")
	nginx=$(bench_nginx_pids)
	mariadbd=$(head -n 1 "$VAR/run/mysqld.pid")
	bench_reset_rows "$rows"

	# shellcheck disable=SC2086 # PID lists
	{
		t_nginx=$(bench_ticks $nginx)
		t_workers=$(bench_ticks $workers)
		t_db=$(bench_ticks $mariadbd)
		rss_before=$(bench_rss $workers)
	}
	c_before=$(bench_counters)
	# The client's own CPU: bash's time, user and system seconds.
	local TIMEFORMAT='%U %S'
	if [ "$kind" = stack ]; then
		threads=$((conc < 2 ? conc : 2))
		# --timeout as nginx's fastcgi_read_timeout: a slow answer is
		# a latency, not a socket error.
		{ time BENCH_RUN=$run BENCH_REPLAYS=$replays wrk -t"$threads" \
			-c"$conc" -d"${secs}s" --timeout 30s \
			-s tests/bench/register.lua \
			"http://127.0.0.1:$port/register" >"$out" 2>&1; } 2>"$cpu" ||
			die "wrk failed at $run: see $out"
		load=$(sed -n 's/^BENCH_JSON //p' "$out")
		[ -n "$load" ] || die "wrk printed no BENCH_JSON at $run: see $out"
	else
		{ time tests/bench/dbbench -c "$VAR/pools/$pool.conf" -n "$conc" \
			-d "$secs" -r "$replays" -R "$run" >"$out" 2>"$out.err"; } 2>"$cpu" ||
			die "dbbench failed at $run: see $out.err"
		load=$(cat "$out")
	fi
	c_after=$(bench_counters)
	# shellcheck disable=SC2086 # PID lists
	{
		t_nginx=$(( $(bench_ticks $nginx) - t_nginx ))
		t_workers=$(( $(bench_ticks $workers) - t_workers ))
		t_db=$(( $(bench_ticks $mariadbd) - t_db ))
		rss_after=$(bench_rss $workers)
	}
	# The UNIQUE index makes 0 certain; the count is the proof.
	read -r dups written < <(db_client regonce -N -B -e "SELECT
		COUNT(*) - COUNT(DISTINCT openid), COUNT(*) FROM users
		WHERE openid LIKE 'bench-$run-%'")

	jq -cn --arg kind "$kind" --arg strategy "$strategy" \
		--argjson conc "$conc" --argjson replays "$replays" \
		--argjson rows "$rows" --argjson workers "$WORKERS" \
		--arg keep "$keep" --argjson keepalive "$BENCH_KEEPALIVE" \
		--argjson load "$load" --argjson before "$c_before" \
		--argjson after "$c_after" --argjson tick_ms "$BENCH_TICK_MS" \
		--argjson t_nginx "$t_nginx" --argjson t_workers "$t_workers" \
		--argjson t_db "$t_db" --arg client "$(cat "$cpu")" \
		--argjson rss_before "$rss_before" --argjson rss_after "$rss_after" \
		--argjson dups "$dups" --argjson written "$written" \
		--argjson m "$BENCH_M" --argjson t "$BENCH_T" '
		def r(n): (. * pow(10; n) | round) / pow(10; n);
		def per(x; n): if n > 0 then x / n else null end;
		(if $kind == "stack" then
			($load.duration_us / 1e6) as $s |
			($load.socket_errors | add) as $sock |
			{ seconds: ($s | r(3)), requests: $load.requests,
			  created: $load.created,
			  req_per_s: ($load.requests / $s | r(1)),
			  reg_per_s: ($load.created / $s | r(1)),
			  p50_ms: ($load.p50_us / 1000 | r(3)),
			  p99_ms: ($load.p99_us / 1000 | r(3)),
			  max_ms: ($load.max_us / 1000 | r(3)),
			  statuses: $load.statuses, socket_errors: $load.socket_errors,
			  errors: ($sock + ([$load.statuses | to_entries[] |
				select(.key != "200") | .value] | add // 0)) }
		else
			{ seconds: $load.seconds, requests: $load.ops,
			  created: ($load.results.created // 0),
			  req_per_s: $load.req_per_s, reg_per_s: $load.reg_per_s,
			  p50_ms: $load.p50_ms, p99_ms: $load.p99_ms,
			  max_ms: $load.max_ms, results: $load.results,
			  errors: ([$load.results | to_entries[] |
				select(.key != "created" and .key != "exists") |
				.value] | add // 0) }
		end) as $p |
		($after | with_entries(.value -= $before[.key])) as $com |
		# The "after" SHOW STATUS is one question of our own.
		($com.Questions - 1) as $q |
		# Round trips: each prepared execution is one; each text query
		# the worker sends holds exactly one of START TRANSACTION,
		# COMMIT, ROLLBACK (alone or paired with GET_LOCK/RELEASE_LOCK).
		# named_lock_compound (what auto picks on MariaDB) sends no
		# text query: its START TRANSACTION and COMMIT run inside its
		# executions.
		(if $strategy == "named_lock_compound" or $strategy == "auto"
		 then $com.Com_stmt_execute
		 else $com.Com_stmt_execute + $com.Com_begin + $com.Com_commit +
			$com.Com_rollback end) as $rt |
		{ strategy: $strategy, kind: $kind, concurrency: $conc,
		  replays: $replays, table_rows: $rows, workers: $workers,
		  keep_conn: ($kind == "stack" and $keep == "on"),
		  keepalive: (if $kind == "stack" and $keep == "on"
			then $keepalive else null end),
		  argon2: { memory_kib: $m, iterations: $t } } + $p + {
		  cpu_ms_per_req: {
			nginx: (per($t_nginx * $tick_ms; $p.requests) | r(4)),
			workers: (per($t_workers * $tick_ms; $p.requests) | r(4)),
			mariadbd: (per($t_db * $tick_ms; $p.requests) | r(4)),
			client: (per(($client | split(" ") | map(tonumber) | add)
				* 1000; $p.requests) | r(4)) },
		  round_trips: {
			per_req: (per($rt; $p.requests) | r(2)),
			per_reg: (per($rt; $p.created) | r(2)),
			questions_per_req: (per($q; $p.requests) | r(2)),
			questions_per_reg: (per($q; $p.created) | r(2)),
			com: ($com | .Questions = $q) },
		  duplicates: $dups, rows_written: $written,
		  worker_rss_kib: { before: $rss_before, after: $rss_after } }
		' >>"$VAR/points.jsonl"
}

# Print the points of results.json as a table.
bench_table() {
	printf '%-10s %-5s %3s %4s %3s %7s %8s %8s %7s %7s %8s %5s %3s %5s %5s %6s %6s %6s %6s %6s %5s\n' \
		strategy kind kc c rep rows req/s reg/s p50ms p99ms maxms err dup rt/rq q/req \
		ng_ms wk_ms db_ms cl_ms rssMiB ratio
	jq -r '.[] | [.strategy, .kind,
		(if .keep_conn then "on" else "off" end), .concurrency, .replays, .table_rows,
		.req_per_s, .reg_per_s, .p50_ms, .p99_ms, .max_ms, .errors,
		.duplicates, .round_trips.per_req, .round_trips.questions_per_req,
		.cpu_ms_per_req.nginx, .cpu_ms_per_req.workers,
		.cpu_ms_per_req.mariadbd, .cpu_ms_per_req.client,
		((.worker_rss_kib.after | max) / 1024 | . * 10 | round / 10),
		(.ratio_vs_db // "-")] | @tsv' "$VAR/results.json" |
	while IFS=$'\t' read -r -a f; do
		printf '%-10s %-5s %3s %4s %3s %7s %8.0f %8.0f %7.2f %7.2f %8.1f %5s %3s %5s %5s %6.3f %6.3f %6.3f %6.3f %6s %5s\n' \
			"${f[@]}"
	done
}

# Draw requests/s against concurrency at replays=1, table_rows=0, without
# keep-conn.
bench_plot() {
	local stack="" db="" name
	mkdir -p "$VAR/plot"
	for name in $(bench_strategies | sed 's/^/stack-/') \
		$(bench_strategies | sed 's/^/db-/'); do
		jq -r --arg k "${name%%-*}" --arg s "${name#*-}" '.[] |
			select(.kind == $k and .strategy == $s and .replays == 1 and
			(.keep_conn | not) and
			.table_rows == 0) | "\(.concurrency) \(.req_per_s)"' \
			"$VAR/results.json" | sort -n >"$VAR/plot/$name.dat"
		[ -s "$VAR/plot/$name.dat" ] || continue
		if [ "${name%%-*}" = stack ]; then
			stack+="${stack:+ }$name"
		else
			db+="${db:+ }$name"
		fi
	done
	if [ -z "$stack$db" ]; then
		say "no point at replays=1, table_rows=0: no plot"
		return 0
	fi
	gnuplot -e "dir='$VAR/plot'; stack='$stack'; db='$db'" \
		-e "title='regonce: requests/s, replays=1, empty table, $WORKERS workers, argon2id m=$BENCH_M KiB t=$BENCH_T'" \
		tests/bench/throughput.gp 2>"$VAR/log/gnuplot.log" ||
		say "gnuplot failed: see $VAR/log/gnuplot.log"
}

# ./stack bench [--quick] [--strategy L] [--concurrency L] [--replays L]
# [--rows L] [--duration S] [--workers N] [--keep-conn L] [--no-db]
# (L: comma-separated)
cmd_bench() {
	local quick=0 strategies="" concs="" reps="" rows_list="" secs="" db=1
	local production=0 keeps="off"
	local strategy conc replays rows kind keep fill hash rc=0 started
	# The product's default pool size (regonce-spawn), not check's 4.
	WORKERS=${REGONCE_WORKERS:-8}
	while [ $# -gt 0 ]; do
		case "$1" in
		--quick) quick=1; shift ;;
		--production) production=1; shift ;;
		--strategy) strategies=${2//,/ }; shift 2 ;;
		--concurrency) concs=${2//,/ }; shift 2 ;;
		--replays) reps=${2//,/ }; shift 2 ;;
		--rows) rows_list=${2//,/ }; shift 2 ;;
		--duration) secs=$2; shift 2 ;;
		--workers) WORKERS=$2; shift 2 ;;
		--keep-conn) keeps=${2//,/ }; shift 2 ;;
		--no-db) db=0; shift ;;
		*) die "bench: unknown argument '$1' (see ./stack help)" ;;
		esac
	done
	if [ $production -eq 1 ]; then
		bench_production "$strategies"
		return
	fi
	# --quick: the harness at work in about a minute, not figures.
	if [ $quick -eq 1 ]; then
		: "${concs:=8 64}" "${rows_list:=0}" "${secs:=3}"
	fi
	: "${strategies:=$(bench_strategies)}"
	: "${concs:=1 8 32 64 128}" "${reps:=1 3}" "${rows_list:=0 1000000}"
	: "${secs:=8}"
	for strategy in $strategies; do
		bench_strategies | grep -qx "$strategy" ||
			die "bench: --strategy is one or more of:" $(bench_strategies)
	done
	for conc in $concs $reps $rows_list $WORKERS; do
		[[ "$conc" =~ ^[0-9]+$ ]] || die "bench: not a number: $conc"
	done
	[[ "$secs" =~ ^[0-9]+$ ]] && [ "$secs" -gt 0 ] ||
		die "bench: --duration is whole seconds"
	for keep in $keeps; do
		[[ "$keep" =~ ^(on|off)$ ]] || die "bench: --keep-conn is on, off or both"
	done
	# Idle kept connections per nginx worker process: the pool's size.
	BENCH_KEEPALIVE=$WORKERS
	started=$SECONDS
	VAR=$TOP/var/bench
	HTTP_PORT=${REGONCE_BENCH_HTTP_PORT:-18180}
	# A fresh state every time, as check does.
	[ -d "$VAR" ] && cmd_down >/dev/null 2>&1 || true
	rm -rf "$VAR"
	mkdir -p "$VAR"/{run,log}
	# Nothing left running, however the bench ends.
	trap 'cmd_down >/dev/null 2>&1 || true' EXIT
	need_packages "${PACKAGES_BUILD[@]}" "${PACKAGES_UP[@]}" \
		"${PACKAGES_BENCH[@]}"
	build
	# The 1,000,000-row table and its index fit in memory, as they would
	# on a server sized for them (check's 64M would measure the disk).
	DB_BUFFER_POOL=1G db_start
	db_setup
	rm -f "$VAR/pools/list"
	run_user_setup
	pools_start bench
	nginx_start
	[[ " $keeps " != *" on "* ]] || bench_keep_conn_start
	BENCH_M=$(sed -n 's/^argon2_memory_kib *= *//p' "$VAR/pools/lock.conf")
	BENCH_T=$(sed -n 's/^argon2_iterations *= *//p' "$VAR/pools/lock.conf")
	BENCH_TICK_MS=$((1000 / $(getconf CLK_TCK)))
	BENCH_N=0
	: >"$VAR/points.jsonl"

	# Before any load: argon2 at the production cost, one core.
	hash=$(tests/bench/dbbench --hash-rate -d 2)
	say "argon2id cost in this bench: m=$BENCH_M KiB t=$BENCH_T p=1; $WORKERS workers per pool; ${secs} s per point"
	[[ " $keeps " != *" on "* ]] ||
		say "keep-conn on: upstream keepalive $BENCH_KEEPALIVE per nginx worker process ($(($(wc -w <<<"$(bench_nginx_pids)") - 1)) of them), fastcgi_keep_conn on"
	for rows in $rows_list; do
		fill=$(bench_fill "$rows")
		[ "$rows" -eq 0 ] || say "filled $rows rows in $fill s"
		echo "{\"table_rows\":$rows,\"fill_seconds\":$fill}" >>"$VAR/fills.jsonl"
		for strategy in $strategies; do
			for conc in $concs; do
				for replays in $reps; do
					for kind in stack db; do
						[ "$kind" = stack ] || [ $db -eq 1 ] || continue
						for keep in $keeps; do
							if [ "$kind" = db ]; then
								[ "$keep" = "${keeps%% *}" ] || continue
								keep=off
							fi
							say "point: $strategy $kind c$conc replays=$replays rows=$rows keep-conn $keep"
							bench_point "$kind" "$strategy" "$conc" \
								"$replays" "$rows" "$secs" "$keep"
							# The workers drop the connections nginx
							# keeps after fcgi_read_timeout_ms idle (5 s):
							# until then they would hold workers from
							# the next point.
							[ "$keep" = off ] || sleep 6
						done
					done
				done
			done
		done
	done
	# ratio_vs_db: the stack's requests/s over the database alone's, at
	# the same point.
	jq -s 'def key: [.strategy, .concurrency, .replays, .table_rows];
		(map(select(.kind == "db") | {(key | tostring): .req_per_s}) | add // {}) as $db |
		map(if .kind == "stack" and $db[key | tostring] then
			.ratio_vs_db = ((.req_per_s / $db[key | tostring] * 1000 | round) / 1000)
		else . end)' "$VAR/points.jsonl" >"$VAR/results.json"
	jq -n --argjson hash "$hash" --slurpfile fills "$VAR/fills.jsonl" \
		--argjson workers "$WORKERS" --argjson secs "$secs" \
		--argjson m "$BENCH_M" --argjson t "$BENCH_T" \
		--arg mariadb "$(mariadbd --version)" --arg nginx "$(nginx -v 2>&1)" \
		--arg wrk "$(wrk -v 2>&1 | head -n 1)" --arg cpu "$(nproc) x $(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -n 1)" \
		--arg kernel "$(uname -r)" --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo -)" \
		'{commit: $commit, cpu: $cpu, kernel: $kernel, mariadb: $mariadb,
		  nginx: $nginx, wrk: $wrk, workers: $workers, seconds_per_point: $secs,
		  argon2: {memory_kib: $m, iterations: $t}, hash_rate: $hash,
		  fills: $fills}' >"$VAR/run.json"
	bench_plot
	bench_table
	say "argon2id cost above: m=$BENCH_M KiB t=$BENCH_T p=1 (lowered for the bench); cpu columns: ms per request = s per 1,000"
	jq -r '"production hashing rate: \(.hashes_per_s) hashes/s per core (argon2id m=\(.argon2_memory_kib) KiB t=\(.argon2_iterations) p=\(.argon2_parallelism), the defaults)"' <<<"$hash"
	say "wrote $VAR/results.json, $VAR/run.json, $VAR/throughput.png in $((SECONDS - started)) s"
	# A point with an error or a duplicate fails the run (CI).
	if ! jq -e 'all(.[]; .errors == 0 and .duplicates == 0)' \
		"$VAR/results.json" >/dev/null; then
		say "bench: FAIL: a point has errors or duplicates (see the table)"
		rc=1
	fi
	return $rc
}
