#!/usr/bin/env bash
# valgrind memcheck over every unit test: no invalid access, no leak.
# Pools: none (the unit tests only)
. "$REGONCE_SRCDIR/tests/lib.sh"
if [ "${REGONCE_IT_SANITIZE:-0}" = 1 ]; then
	echo "1..0 # SKIP a sanitizer build cannot run under valgrind"
	exit 0
fi
command -v valgrind >/dev/null || { echo "Bail out! valgrind is missing"; exit 1; }
for test in test_config test_request test_response test_register \
	test_password test_replay test_log; do
	CMOCKA_MESSAGE_OUTPUT=TAP valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
		"$REGONCE_BUILDDIR/tests/$test" >"$VAR/log/valgrind-$test.log" 2>&1
	RC=$?
	is "$RC" 0 "valgrind: $test has no memory errors or leaks"
	[ "$RC" -eq 0 ] || grep -E '==[0-9]+==' "$VAR/log/valgrind-$test.log" | head -20 | sed 's/^/# /'
done
done_testing
