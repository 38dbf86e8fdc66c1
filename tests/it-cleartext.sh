#!/usr/bin/env bash
# Integration: what a body may and may not leave behind, and the answers
# around it, through nginx on the real pool.
#  - a body with a NUL and garbage after the object is refused;
#  - Content-Type is parsed: JSON in UTF-8 only;
#  - a maximum-size body stays in nginx's memory (no client_body_temp
#    file, no "buffered to a temporary file" warning);
#  - after a registration no worker's memory holds the clear password
#    (control: the same scan finds the database password, which a worker
#    keeps by design, so the scan can see what is there);
#  - paths under the location get the worker's JSON 404; //register works.
# Pools: main
. "$REGONCE_SRCDIR/tests/lib.sh"

MEMSCAN=$REGONCE_BUILDDIR/tests/memscan
json() { printf '{"openid":"%s","username":"u","password":"%s"}' "$1" "${2:-12345678}"; }

# --- bodies ------------------------------------------------------------------
BODY_FILE=$(mktemp)
{ json "ct-$RUN-nul"; printf '\0GARBAGE'; } >"$BODY_FILE"
request "$REGONCE_IT_URL/register" POST -H 'Content-Type: application/json' \
	--data-binary @"$BODY_FILE"
is "$STATUS $(field error) $(rows "ct-$RUN-nul")" "400 invalid_json 0" \
	"a NUL and garbage after the object: 400, nothing written"
printf '%s GARBAGE' "$(json "ct-$RUN-space")" >"$BODY_FILE"
request "$REGONCE_IT_URL/register" POST -H 'Content-Type: application/json' \
	--data-binary @"$BODY_FILE"
is "$STATUS $(field error) $(rows "ct-$RUN-space")" "400 invalid_json 0" \
	"control: the same with a space instead of the NUL: 400"
rm -f "$BODY_FILE"

# ctype TYPE SUFFIX: register with that Content-Type; prints "STATUS code".
ctype() {
	request "$REGONCE_IT_URL/register" POST -H "Content-Type: $1" \
		--data-binary "$(json "ct-$RUN-$2")"
	echo "$STATUS $(field code)"
}
is "$(ctype 'application/json; charset=utf-16' u16) $(rows "ct-$RUN-u16")" "415 -2 0" \
	"charset=utf-16: 415, nothing written"
is "$(ctype 'application/json garbage' garb) $(rows "ct-$RUN-garb")" "415 -2 0" \
	"'application/json garbage': 415, nothing written"
is "$(ctype 'application/json; charset=UTF-8' u8)" "200 0" "charset=UTF-8: accepted"

# The worker's log holds openids: not readable by others.
is "$(stat -c %a "$VAR/log/regonce-main.log")" 640 "the worker's log file is mode 0640"
# The worker's account may read and insert into users, nothing wider.
GRANTS=$(sql "SHOW GRANTS FOR 'regonce'@'localhost'")
echo "$GRANTS" | sed 's/^/# /'
grep -q 'ON `regonce`\.\*' <<<"$GRANTS"
ok $((!$?)) "no grant on the whole database"
grep -q 'GRANT SELECT, INSERT ON `regonce`\.`users`' <<<"$GRANTS"
ok $? "SELECT, INSERT on regonce.users"

# A body of exactly the allowed size: in memory, never on disk.
PAD=$(head -c 20000 /dev/zero | tr '\0' 'x')
BIG=$(printf '{"openid":"ct-%s-big","username":"u","password":"12345678","pad":"%s"}' "$RUN" "$PAD")
BIG=${BIG:0:$((16384 - 2))}'"}'
is "${#BIG}" 16384 "the big body is exactly 16384 bytes (max_body_bytes)"
WARNINGS=$(grep -c 'buffered to a temporary file' "$VAR/log/nginx-error.log" || true)
register "$BIG"
is "$STATUS $(field code)" "200 0" "a maximum-size body is registered"
is "$(grep -c 'buffered to a temporary file' "$VAR/log/nginx-error.log" || true)" "$WARNINGS" \
	"nginx did not buffer it to a temporary file"
is "$(find "$VAR/nginx/body" -type f | wc -l)" 0 "client_body_temp holds no file"

# --- no clear password left in a worker -------------------------------------
SECRET="pw-$RUN-do-not-keep"
register "$(json "ct-$RUN-mem" "$SECRET")"
is "$STATUS $(field code)" "200 0" "memory: registered with a marked password"
DB_PASSWORD=$(sed -n 's/^db_password = //p' "$VAR/pools/main.conf")
FOUND=0 CONTROL=0 SCANNED=0
for pid in $( [ "${REGONCE_IT_SANITIZE:-0}" = 1 ] || cat "$VAR/run/main.pid"); do
	"$MEMSCAN" "$pid" "$DB_PASSWORD"
	case $? in 0) CONTROL=$((CONTROL + 1)) ;; 2) continue ;; esac
	SCANNED=$((SCANNED + 1))
	"$MEMSCAN" "$pid" "$SECRET" && FOUND=$((FOUND + 1))
done
if [ "${REGONCE_IT_SANITIZE:-0}" = 1 ]; then
	# ASan's heap is one huge reservation that memscan does not read.
	ok 0 "memory: # SKIP under ASan"
elif [ "$SCANNED" -eq 0 ]; then
	ok 0 "memory: # SKIP /proc/PID/mem is not readable here"
else
	is "$CONTROL" "$SCANNED" "memory control: the scan finds the db password in every worker"
	is "$FOUND" 0 "memory: no worker holds the clear password ($SCANNED scanned)"
fi

# --- paths ---------------------------------------------------------------------
request "$REGONCE_IT_URL/register/" POST -H 'Content-Type: application/json' \
	--data-binary "$(json "ct-$RUN-slash")"
is "$STATUS $(field error)" "404 not_found" "/register/: the worker's JSON 404"
request "$REGONCE_IT_URL//register" POST -H 'Content-Type: application/json' \
	--data-binary "$(json "ct-$RUN-dbl")"
is "$STATUS $(field code)" "200 0" "//register is /register (nginx's normalised path)"

done_testing
