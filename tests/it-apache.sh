#!/usr/bin/env bash
# Apache 2.4 (mod_proxy_fcgi with the shipped conf/apache-regonce.conf) in
# front of the main pool: the API's answers come through as they do
# through nginx, what Apache answers itself is JSON in the same shape, the
# worker's own 503 is not masked, and a replay storm through it leaves one
# row per openid.
# Pools: apache (Apache in front of main, and of a missing socket), main
set -u
. "$REGONCE_SRCDIR/tests/lib.sh"

URL=${REGONCE_IT_URL_APACHE:-}
DOWN=${REGONCE_IT_URL_APACHE_DOWN:-}
if [ -z "$URL" ] || [ -z "$DOWN" ]; then
	echo "1..0 # SKIP no Apache (./stack check starts one)"
	exit 0
fi
PIDS_BEFORE=$(pids main)
OK_FIELDS='"username":"u","password":"password1"'
json_type() { grep -qi '^content-type: application/json; charset=utf-8$' <<<"$HEADERS"; }

register "{\"openid\":\"ap-$RUN-1\",$OK_FIELDS}" "$URL"
is "$STATUS $(field code)" "200 0" "created through Apache"
json_type
ok $? "the answer is JSON (Content-Type)"
register "{\"openid\":\"ap-$RUN-1\",$OK_FIELDS}" "$URL"
is "$STATUS $(field code)" "200 -1" "the same openid again is 'exists'"
is "$(rows "ap-$RUN-1")" 1 "one row"

register '{"openid":' "$URL"
is "$STATUS $(field error)" "400 invalid_json" "broken JSON is 400 invalid_json"
register "{\"openid\":\"\",$OK_FIELDS}" "$URL"
is "$STATUS $(field error) $(field field)" "400 invalid_field openid" \
	"an empty openid is 400 invalid_field"
request "$URL/register" GET
is "$STATUS $(field error)" "405 method_not_allowed" "GET /register is 405"
grep -qi '^allow: POST$' <<<"$HEADERS"
ok $? "405 carries Allow: POST"
big=$(head -c 20000 /dev/zero | tr '\0' a)
request "$URL/register" POST -H 'Content-Type: application/json' \
	--data-binary "{\"openid\":\"ap-$RUN-big\",\"username\":\"$big\"}"
is "$STATUS $(field error)" "413 body_too_large" "a body over the limit is 413 JSON"
request "$URL/register" POST -H 'Content-Type: text/plain' \
	--data-binary "{\"openid\":\"ap-$RUN-2\",$OK_FIELDS}"
is "$STATUS $(field error)" "415 unsupported_media_type" "text/plain is 415"
# Apache matches the decoded path, the worker routes on the raw
# REQUEST_URI (as behind nginx): this reaches the worker, which knows no
# such endpoint.
request "$URL/regist%65r" POST -H 'Content-Type: application/json' \
	--data-binary "{\"openid\":\"ap-$RUN-3\",$OK_FIELDS}"
is "$STATUS $(field error)" "404 not_found" "an endpoint the worker does not know is 404 JSON"
request "$URL/healthz" GET
is "$STATUS $BODY" '200 {"status":"ok"}' "healthz answers ok"
# As behind nginx: a path under /register reaches the worker, whose 404
# is JSON (Apache's own would be HTML).
request "$URL/register/x" POST -H 'Content-Type: application/json' \
	--data-binary "{\"openid\":\"ap-$RUN-5\",$OK_FIELDS}"
is "$STATUS $(field error)" "404 not_found" "/register/x reaches the worker: its JSON 404"
# A chunked body (no Content-Length), as curl sends it when told to:
# what it gets through mod_proxy_fcgi, as doc/operations.md says.
request "$URL/register" POST -H 'Content-Type: application/json' \
	-H 'Transfer-Encoding: chunked' \
	--data-binary "{\"openid\":\"ap-$RUN-chunked\",$OK_FIELDS}"
echo "# chunked through Apache: $STATUS $BODY"
is "$STATUS $(field code) $(rows "ap-$RUN-chunked")" "200 0 1" \
	"a chunked body through Apache: 200 created, one row (as documented)"

# What Apache answers itself: no worker on the socket.
register "{\"openid\":\"ap-$RUN-4\",$OK_FIELDS}" "$DOWN"
is "$STATUS $(field error)" "503 backend_unavailable" \
	"no pool behind the socket: Apache's own 503, as JSON"
json_type
ok $? "... with a JSON Content-Type"
grep -qi '^retry-after: 5$' <<<"$HEADERS"
ok $? "... and Retry-After"

# The worker's own 503 passes untouched: a test client holds the lock.
BUSY="ap-$RUN-busy"
NAME=$(lock_name "$BUSY")
mariadb --no-defaults --socket="$REGONCE_IT_DB_SOCKET" -u root -N \
	-e "SELECT GET_LOCK('$NAME', 10); SELECT SLEEP(60);" >/dev/null 2>&1 &
HOLDER=$!
await 100 lock_held "$NAME"
register "{\"openid\":\"$BUSY\",$OK_FIELDS}" "$URL"
is "$STATUS $(field error)" "503 busy" "the worker's 503 busy comes through, not Apache's"
is "$(grep -ci '^retry-after:' <<<"$HEADERS") $(grep -ci '^content-type:' <<<"$HEADERS")" \
	"1 1" "one Retry-After and one Content-Type on it"
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
await 100 lock_free "$NAME"
ok $? "the holder is gone"

# A replay storm through Apache: 100 users, each sent 3 times at once.
report=$("$REPLAY" --url "$URL/register" --users 100 --replays 3 \
	--db-conf "$VAR/pools/main.conf" --json)
is "$?" 0 "regonce-replay through Apache exits 0"
is "$(jq -r '[.created, .exists, .duplicates, .lost, .transport_errors, .server_errors] | @tsv' <<<"$report" | tr '\t' ' ')" \
	"100 200 0 0 0 0" "100 created, 200 exists, 0 duplicates, 0 lost, no errors"

is "$(pids main)" "$PIDS_BEFORE" "no worker died"
done_testing
