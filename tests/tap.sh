# TAP for every shell test (sourced): automake's harness counts each case.
# The static checks source this alone; integration tests get it through
# tests/lib.sh.

TESTS_RUN=0
TESTS_FAILED=0

# ok COND-EXIT-STATUS DESCRIPTION: record one case.
ok() {
	local status=$1
	shift
	TESTS_RUN=$((TESTS_RUN + 1))
	if [ "$status" -eq 0 ]; then
		echo "ok $TESTS_RUN - $*"
	else
		echo "not ok $TESTS_RUN - $*"
		TESTS_FAILED=$((TESTS_FAILED + 1))
	fi
}

# is GOT WANT DESCRIPTION: equality, with both sides shown on failure.
is() {
	local got=$1 want=$2
	shift 2
	if [ "$got" = "$want" ]; then
		ok 0 "$*"
	else
		ok 1 "$*"
		printf '# Expected: %s\n# But got:  %s\n' "$want" "$got"
	fi
}

# done_testing: the plan comes last; exit non-zero on any failure.
done_testing() {
	echo "1..$TESTS_RUN"
	[ "$TESTS_FAILED" -eq 0 ]
}
