# shellcheck shell=bash source-path=SCRIPTDIR
# Usage: ./stack check [--sanitize]
# Summary: the stack on its own ports and var/check, then every test, the
#          seconds each took, and "N passed, N failed"
#          (--sanitize: an ASan + UBSan build)
#
# stack.d/check.sh: ./stack check. Every pool of POOLS marked "check", the
# supervised pool, Apache and the it-deb port, then make check with each
# pool's URL in REGONCE_IT_URL_<NAME>; make distcheck after a full run.
# Each test runs under stack.d/time-test, which notes its seconds.

# shellcheck source=up.sh
. "$STACK_D/up.sh"	# cmd_down
# shellcheck source=cluster.sh
. "$STACK_D/cluster.sh"	# cluster_down, for a cluster test cut short
# shellcheck source=fcgid.sh
. "$STACK_D/fcgid.sh"	# fcgid_start: Apache + mod_fcgid (it-fcgid)

cmd_check() {
	local base=${REGONCE_CHECK_HTTP_PORT:-18080} rc=0 summary pass fail
	local cmd name db strategy offset rest url urls=() cluster times started
	[ "${1:-}" = --sanitize ] && SANITIZE=1
	VAR=$TOP/var/check
	HTTP_PORT=$base
	# A fresh state every time: nothing from an earlier run can hide a bug.
	[ -d "$VAR" ] && cmd_down >/dev/null 2>&1 || true
	# The clusters the cluster tests start, if one of them was cut short.
	for cluster in "$VAR"/*/cluster-mode; do
		[ -f "$cluster" ] || continue
		(VAR=$(dirname "$cluster") && cluster_down >/dev/null 2>&1) || true
	done
	rm -rf "$VAR"
	mkdir -p "$VAR"/{run,log}
	if [ "$SANITIZE" -eq 1 ]; then
		# Sanitizer reports from workers (whose stderr is /dev/null) land
		# here; tests/it-sanitizers.sh fails on any.
		export ASAN_OPTIONS="log_path=$VAR/log/asan:detect_leaks=1"
		export UBSAN_OPTIONS="log_path=$VAR/log/ubsan:print_stacktrace=1"
	fi
	need_packages "${PACKAGES_BUILD[@]}" "${PACKAGES_UP[@]}" \
		"${PACKAGES_CHECK[@]}"
	# "check TESTS=" builds the test programs (the test worker among
	# them) without running anything yet.
	build check TESTS=
	db_start
	db_setup
	db_create regonce_orig tests/fixtures/original_users.sql
	db_create regonce_mig tests/fixtures/original_users.sql
	# it-keys fills its own table to a tiny idempotency_max_keys.
	db_create regonce_keys sql/[0-9][0-9][0-9]_*.sql
	rm -f "$VAR/pools/list"
	run_user_setup
	pools_start check
	# --- ops: deployment shapes (it-supervise) ---
	# Cheap hashing: the test is about the pool, not argon2.
	supervised_pool_start supervise $((base + 20)) \
		"argon2_memory_kib = 8" "argon2_iterations = 1"
	export REGONCE_IT_URL_SUPERVISE="http://127.0.0.1:$((base + 20))"
	# it-reload's own supervised pool: reloads and restarts it.
	supervised_pool_start reload $((base + 24)) \
		"argon2_memory_kib = 8" "argon2_iterations = 1"
	export REGONCE_IT_URL_RELOAD="http://127.0.0.1:$((base + 24))"
	apache_start main $((base + 21)) $((base + 22))
	export REGONCE_IT_URL_APACHE="http://127.0.0.1:$((base + 21))"
	export REGONCE_IT_URL_APACHE_DOWN="http://127.0.0.1:$((base + 22))"
	# it-deb runs the installed package as user regonce: its socket lives
	# in a folder that user owns, reached by nginx as the "deb" pool's.
	mkdir -p "$VAR/run/deb"
	[ -z "$RUN_USER" ] || chown "$RUN_USER:$RUN_USER" "$VAR/run/deb"
	ln -sfn deb/regonce.sock "$VAR/run/deb.sock"
	echo "deb $((base + 23))" >>"$VAR/pools/list"
	export REGONCE_IT_URL_DEB="http://127.0.0.1:$((base + 23))"
	# --- shared hosting (it-capped, it-metrics-allow) ---
	# Two pools of 12 workers, each on an account capped at 5
	# connections: one with the pool-wide cap, one without (the
	# negative control, on a short budget). Cheap hashing: the test is
	# about connections, not argon2.
	db_capped_account regonce_cap5a
	db_capped_account regonce_cap5b
	db_capped_account regonce_cap5c
	mkdir -p "$VAR/run/capped-slots"
	[ -z "$RUN_USER" ] || chown "$RUN_USER:$RUN_USER" "$VAR/run/capped-slots"
	POOL_WORKERS=12 pool_start capped regonce named_lock $((base + 41)) \
		"db_user = regonce_cap5a" "db_max_connections = 5" \
		"db_cap_dir = $VAR/run/capped-slots" \
		"argon2_memory_kib = 8" "argon2_iterations = 1"
	POOL_WORKERS=12 pool_start uncapped regonce named_lock $((base + 42)) \
		"db_user = regonce_cap5b" "request_timeout_ms = 3000" \
		"lock_timeout_ms = 1000" "argon2_memory_kib = 8" \
		"argon2_iterations = 1"
	export REGONCE_IT_URL_CAPPED="http://127.0.0.1:$((base + 41))"
	export REGONCE_IT_URL_UNCAPPED="http://127.0.0.1:$((base + 42))"
	# /metrics open to 127.0.0.1 alone, in the worker's own config.
	pool_start metricsallow regonce named_lock $((base + 43)) \
		"metrics_allow = 127.0.0.1"
	# A shared host: Apache + mod_fcgid, with and without suexec.
	fcgid_start $((base + 44)) $((base + 45))
	# --- end shared hosting ---
	# --- end ops ---
	nginx_start
	trap 'cmd_down >/dev/null 2>&1 || true' EXIT

	say "running unit and integration tests"
	# Each pool's URL: REGONCE_IT_URL for main, REGONCE_IT_URL_<NAME> else.
	while read -r cmd name db strategy offset rest; do
		url=http://127.0.0.1:$((base + offset))
		if [ "$name" = main ]; then
			urls+=("REGONCE_IT_URL=$url")
		else
			urls+=("REGONCE_IT_URL_${name^^}=$url")
		fi
	done < <(pools_of check)
	# Each test's seconds, as "SECONDS NAME" lines (stack.d/time-test).
	times=$VAR/log/test-seconds
	: >"$times"
	# The cluster tests start their own cluster on these ports.
	env "${urls[@]}" REGONCE_IT_VAR="$VAR" REGONCE_IT_SANITIZE="$SANITIZE" \
		REGONCE_IT_DB_SOCKET="$(DB_SOCK)" \
		REGONCE_IT_CLUSTER_HTTP_PORT=$((base + 30)) \
		REGONCE_IT_CLUSTER_PORT="${REGONCE_CHECK_CLUSTER_PORT:-$((base + 120))}" \
		REGONCE_CHECK_TIMES="$times" \
		make -j1 check ${REGONCE_CHECK_TESTS:+TESTS="$REGONCE_CHECK_TESTS"} \
		LOG_COMPILER="$STACK_D/time-test" SH_LOG_COMPILER="$STACK_D/time-test" \
		>"$VAR/log/make-check.log" 2>&1 || rc=$?
	grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP|XFAIL):' "$VAR/log/make-check.log" || true
	if [ $rc -ne 0 ]; then
		for log in tests/*.log; do
			grep -qE '^(not ok|Bail out)' "$log" 2>/dev/null || continue
			say "--- $log"
			tail -40 "$log"
		done
	fi
	summary=$(grep -E '^# (PASS|FAIL|ERROR|XPASS):' "$VAR/log/make-check.log" || true)
	pass=$(awk '/^# PASS:/ {print $3}' <<<"$summary")
	fail=$(awk '/^# (FAIL|ERROR|XPASS):/ {n += $3} END {print n + 0}' <<<"$summary")
	[ -n "$pass" ] || { pass=0; fail=$((fail + 1)); }
	[ $rc -eq 0 ] || [ "$fail" -gt 0 ] || fail=1
	# The tarball builds, checks, installs and uninstalls on its own (the
	# build as shipped only: distcheck's own configure has no sanitizers).
	if [ "$SANITIZE" -eq 0 ] && [ -z "${REGONCE_CHECK_TESTS:-}" ]; then
		started=$SECONDS
		if make distcheck >"$VAR/log/distcheck.log" 2>&1; then
			echo "PASS: make distcheck"
			pass=$((pass + 1))
		else
			echo "FAIL: make distcheck (see $VAR/log/distcheck.log)"
			tail -20 "$VAR/log/distcheck.log"
			fail=$((fail + 1))
		fi
		echo "$((SECONDS - started)) make distcheck" >>"$times"
	fi
	say "seconds per test, slowest first:"
	sort -k1,1nr "$times" | awk '{ n = $1; $1 = ""; printf "%6d s %s\n", n, $0 }'
	echo "${pass} passed, ${fail} failed"
	[ "$fail" -eq 0 ]
}
