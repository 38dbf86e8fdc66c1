#!/usr/bin/env bash
# Static check: the installed worker cannot reproduce the bug it fixes.
# The negative controls (strategy naive, naive_delay_ms, db_isolation =
# repeatable_read) and the pause point exist only in tests/regonce-test;
# fcgi-app/regonce refuses those keys and values at start-up, naming them,
# and holds none of their code. Each check runs on the test worker too,
# where it must see what it looks for, to show that it can fail.
# Pools: none (static)
set -u
BUILD=${REGONCE_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
WORKER=$BUILD/fcgi-app/regonce
TEST_WORKER=$BUILD/tests/regonce-test
. "${REGONCE_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}/tests/tap.sh"

CONF=$(mktemp)
trap 'rm -f "$CONF"' EXIT

# check_conf BINARY LINE: run "BINARY -t" on a config holding LINE and a
# database that is not there; print what it says.
check_conf() {
	printf 'db_socket = /nonexistent/regonce.sock\n%s\n' "$2" >"$CONF"
	"$1" -t -c "$CONF" 2>&1
}

# naive_code BINARY: does the binary hold the negative controls' code?
naive_code() {
	strings "$1" | grep -qiE 'naive|repeatable'
}

naive_code "$WORKER"
ok $((!$?)) "fcgi-app/regonce holds no 'naive' or 'repeatable' string"
nm "$WORKER" | grep -q test_hook
ok $((!$?)) "fcgi-app/regonce has no test hook symbols"

for line in "strategy = naive" "naive_delay_ms = 5" "db_isolation = repeatable_read"; do
	out=$(check_conf "$WORKER" "$line")
	rc=$?
	key=${line%% *}
	value=${line##* }
	[ $rc -ne 0 ] && grep -q "$key" <<<"$out" && ! grep -q "configuration ok" <<<"$out" &&
		{ [ "$key" != strategy ] || grep -q "'$value'" <<<"$out"; }
	ok $? "fcgi-app/regonce refuses '$line', naming it"
	echo "# $out"
done

if [ -x "$TEST_WORKER" ]; then
	naive_code "$TEST_WORKER"
	ok $? "control: the same strings check finds them in tests/regonce-test"
	for line in "strategy = naive" "naive_delay_ms = 5" "db_isolation = repeatable_read"; do
		check_conf "$TEST_WORKER" "$line" | grep -q "configuration ok"
		ok $? "control: tests/regonce-test accepts '$line'"
	done
else
	echo "# no tests/regonce-test (configure without --enable-test-hooks): controls skipped"
fi

done_testing
