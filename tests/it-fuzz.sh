#!/usr/bin/env bash
# Fuzzing: build tests/fuzz_request.c with clang's libFuzzer, ASan and
# UBSan, and run it for a bounded time (REGONCE_FUZZ_SECONDS, default 60)
# from the seed corpus in tests/fuzz-corpus. It must find nothing.
# Pools: none (the stack only for its state folder)
. "$REGONCE_SRCDIR/tests/lib.sh"
if [ "${REGONCE_IT_SANITIZE:-0}" = 1 ]; then
	echo "1..0 # SKIP fuzzing runs in the plain pass of ./stack check"
	exit 0
fi
command -v clang >/dev/null || { echo "Bail out! clang is missing"; exit 1; }

S=$REGONCE_SRCDIR
OUT=$VAR/fuzz
mkdir -p "$OUT/corpus"
cp "$S"/tests/fuzz-corpus/* "$OUT/corpus/"
PKGS="json-c libmariadb fcgi libargon2 libcrypto"
# shellcheck disable=SC2046 # pkg-config prints lists; every worker source but main.c
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$REGONCE_BUILDDIR" -I"$S/fcgi-app" $(pkg-config --cflags $PKGS) \
	"$S/tests/fuzz_request.c" $(ls "$S"/fcgi-app/*.c | grep -v '/main\.c$') \
	$(pkg-config --libs $PKGS) -o "$OUT/fuzz_request" >"$OUT/build.log" 2>&1
ok $? "the fuzz target builds with -fsanitize=fuzzer,address,undefined"
[ -x "$OUT/fuzz_request" ] || { cat "$OUT/build.log" | sed 's/^/# /'; done_testing; exit 1; }

"$OUT/fuzz_request" -max_total_time="${REGONCE_FUZZ_SECONDS:-60}" -max_len=4096 \
	-artifact_prefix="$OUT/" -print_final_stats=1 "$OUT/corpus" >"$OUT/run.log" 2>&1
RC=$?
RUNS=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/run.log")
echo "# fuzz: ${RUNS:-?} executions in ${REGONCE_FUZZ_SECONDS:-60} s"
is "$RC" 0 "the fuzzer found no crash, leak or UB (${RUNS:-?} executions)"
[ "$RC" -eq 0 ] || grep -E 'ERROR|SUMMARY|artifact' "$OUT/run.log" | sed 's/^/# /'
done_testing
