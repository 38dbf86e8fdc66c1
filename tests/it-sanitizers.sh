#!/usr/bin/env bash
# With ./stack check --sanitize: stop every worker pool (LeakSanitizer
# reports at exit), then fail on any ASan/UBSan report the workers wrote.
# It runs last.
# Pools: main (and it stops every pool)
. "$REGONCE_SRCDIR/tests/lib.sh"
if [ "${REGONCE_IT_SANITIZE:-0}" != 1 ]; then
	echo "1..0 # SKIP not a sanitizer build (./stack check --sanitize)"
	exit 0
fi
# The report channel itself: a worker whose stderr is /dev/null must have
# been started with log_path, or a report could not reach this test.
WORKER=$(head -n 1 "$VAR/run/main.pid")
tr '\0' '\n' <"/proc/$WORKER/environ" | grep -q "^ASAN_OPTIONS=log_path=$VAR/log/asan"
ok $? "workers run with ASAN_OPTIONS log_path under $VAR/log"
nm "$REGONCE_BUILDDIR/fcgi-app/regonce" | grep -q __asan_init
ok $? "the worker is an ASan build"

for pidfile in "$VAR"/run/*.pid; do
	case $pidfile in */mysqld.pid | */nginx.pid) continue ;; esac
	for pid in $(cat "$pidfile"); do kill -TERM "$pid" 2>/dev/null; done
	for pid in $(cat "$pidfile"); do await 300 bash -c "! ps -o stat= -p $pid | grep -qv Z"; done
done
REPORTS=$(ls "$VAR"/log/asan.* "$VAR"/log/ubsan.* 2>/dev/null)
is "$REPORTS" "" "no AddressSanitizer or UBSan report from any worker"
for report in $REPORTS; do head -30 "$report" | sed 's/^/# /'; done
done_testing
