#!/usr/bin/env bash
# Integration: Idempotency-Key, through nginx on the real pool and MariaDB.
#  - a retry with the key gets the original answer byte for byte, marked
#    Idempotency-Replayed, and nothing runs again; another body: 422;
#    malformed keys: 400; "required" without a key: 400;
#  - while the first request with a key runs, a second one gets 409;
#  - the answer lost after COMMIT (the client gone): the retry with the key
#    gets the original "created" and user_id; without a key, "exists"
#    (the negative control, and the reason this exists);
#  - outcome_unknown (commits blocked past the budget): a retry with the
#    key learns the truth; the stored answer exists exactly when the row
#    does;
#  - a replay storm with keys: every copy of a registration gets the same
#    answer.
# Pools: main, keyreq, keyhooks, budget
. "$REGONCE_SRCDIR/tests/lib.sh"

# The test worker's pause points, on a pool of its own (it-faults stops
# the hooks pool).
HOOKS=$REGONCE_IT_URL_KEYHOOKS
PAUSE=$VAR/pause
json() { printf '{"openid":"%s","username":"u","password":"12345678"}' "$1"; }

# kreg KEY-HEADER-VALUE JSON [BASE-URL]: register with an Idempotency-Key.
kreg() {
	request "${3:-$REGONCE_IT_URL}/register" POST -H 'Content-Type: application/json' \
		-H "Idempotency-Key: $1" --data-binary "$2"
}
replayed() { grep -qi '^Idempotency-Replayed: true' <<<"$HEADERS"; }
# stored KEY: is there a stored answer for this key (its SHA-256)?
stored() { sql "SELECT COUNT(*) FROM idempotency_keys WHERE key_hash = UNHEX(SHA2('$1', 256))"; }

# --- the stored answer ---------------------------------------------------
K="k-$RUN-first"
kreg "\"$K\"" "$(json "ik-$RUN-1")"
FIRST_STATUS=$STATUS FIRST_BODY=$BODY
is "$STATUS $(field code)" "200 0" "first request with a key: created"
replayed
ok $((!$?)) "the first answer is not marked as a replay"
kreg "\"$K\"" "$(json "ik-$RUN-1")"
is "$STATUS" "$FIRST_STATUS" "the retry gets the same status"
is "$BODY" "$FIRST_BODY" "the retry gets the same body, byte for byte"
replayed
ok $? "the retry is marked Idempotency-Replayed: true"
is "$(rows "ik-$RUN-1")" 1 "one row"
# (attempts=2 when the worker's connection died earlier: a reconnect.)
grep -F "openid=ik-$RUN-1 " "$VAR/log/regonce-main.log" | tail -n 1 |
	grep -qE 'result=replayed attempts=[0-9]+ lock=- '
ok $? "the retry ran no registration (logged replayed, no lock taken)"

kreg "\"$K\"" "$(json "ik-$RUN-other")"
is "$STATUS $(field error) $(rows "ik-$RUN-other")" "422 idempotency_key_reused 0" \
	"the same key with another body: 422, nothing written"

for bad in "$K" '""' "\"$(head -c 256 /dev/zero | tr '\0' k)\"" '"a\tb"' "\"$K\", \"$K\""; do
	kreg "$bad" "$(json "ik-$RUN-bad")"
	is "$STATUS $(field error)" "400 invalid_idempotency_key" \
		"malformed key ${bad:0:24}...: 400"
done
is "$(rows "ik-$RUN-bad")" 0 "malformed keys wrote nothing"
kreg "\"$(head -c 255 /dev/zero | tr '\0' k)-$RUN\"" "$(json "ik-$RUN-long")"
is "$STATUS $(field error)" "400 invalid_idempotency_key" "256 characters with the run id: 400"
# Two Idempotency-Key header lines (nginx passes both): not one sf-string.
for second in "\"k-$RUN-two\"" "\"k-$RUN-one\""; do
	request "$REGONCE_IT_URL/register" POST -H 'Content-Type: application/json' \
		-H "Idempotency-Key: \"k-$RUN-one\"" -H "Idempotency-Key: $second" \
		--data-binary "$(json "ik-$RUN-two")"
	is "$STATUS $(field error)" "400 invalid_idempotency_key" \
		"two Idempotency-Key headers (then $second): 400"
done
is "$(rows "ik-$RUN-two") $(stored "k-$RUN-one")" "0 0" \
	"two keys: nothing written, nothing stored"

register "$(json "ik-$RUN-req")" "$REGONCE_IT_URL_KEYREQ"
is "$STATUS $(field error)" "400 idempotency_key_required" "required: no key, 400"
kreg "\"k-$RUN-req\"" "$(json "ik-$RUN-req")" "$REGONCE_IT_URL_KEYREQ"
is "$STATUS $(field code)" "200 0" "required: with a key, created"

# "exists" is an answer too: stored, and replayed.
register "$(json "ik-$RUN-ex")"
kreg "\"k-$RUN-ex\"" "$(json "ik-$RUN-ex")"
EX_BODY=$BODY
is "$STATUS $(field code) $(stored "k-$RUN-ex")" "200 -1 1" "exists with a key: answered and stored"
kreg "\"k-$RUN-ex\"" "$(json "ik-$RUN-ex")"
replayed
is "$?:$BODY" "0:$EX_BODY" "its retry: the same exists, replayed"

# --- 409 while the first runs ---------------------------------------------
OID="ik-$RUN-flight" KEY="k-$RUN-flight"
touch "$PAUSE/pause.$OID"
OUT=$(mktemp)
curl -s -o "$OUT" -w '%{http_code}' -H 'Content-Type: application/json' \
	-H "Idempotency-Key: \"$KEY\"" -d "$(json "$OID")" "$HOOKS/register" >"$OUT.status" &
CURL=$!
await 300 test -s "$PAUSE/paused.$OID"
ok $? "in flight: the first request with the key is paused before COMMIT"
kreg "\"$KEY\"" "$(json "$OID")" "$HOOKS"
is "$STATUS $(field error)" "409 idempotency_key_in_use" "in flight: a second one gets 409"
grep -qi '^Retry-After:' <<<"$HEADERS"
ok $? "in flight: with Retry-After"
rm -f "$PAUSE/pause.$OID"
wait "$CURL"
is "$(cat "$OUT.status") $(jq -r .code <"$OUT")" "200 0" "in flight: the first completes, created"
kreg "\"$KEY\"" "$(json "$OID")" "$HOOKS"
replayed
is "$?:$BODY" "0:$(cat "$OUT")" "in flight: then the retry gets its answer, replayed"
rm -f "$OUT" "$OUT.status" "$PAUSE/paused.$OID"

# --- the answer lost after COMMIT ------------------------------------------
# lose_answer OPENID [KEY]: register on the hooks pool, paused after
# COMMIT; the client is killed there, so it never reads the answer.
lose_answer() {
	local oid=$1 key=${2:-} pid
	local hdr=()
	[ -z "$key" ] || hdr=(-H "Idempotency-Key: \"$key\"")
	touch "$PAUSE/pause-after.$oid"
	curl -s -o /dev/null -H 'Content-Type: application/json' "${hdr[@]}" \
		-d "$(json "$oid")" "$HOOKS/register" &
	pid=$!
	await 300 test -s "$PAUSE/paused.$oid"
	ok $? "lost answer ($oid): committed, paused before answering"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	rm -f "$PAUSE/pause-after.$oid"
	await 300 lock_free "$(lock_name "$oid")"
	rm -f "$PAUSE/paused.$oid"
}
OID="ik-$RUN-lost" KEY="k-$RUN-lost"
lose_answer "$OID" "$KEY"
kreg "\"$KEY\"" "$(json "$OID")" "$HOOKS"
replayed
is "$?:$STATUS $(field code) $(field user_id)" \
	"0:200 0 $(sql "SELECT id FROM users WHERE openid = '$OID'")" \
	"lost answer: the retry with the key gets the original created and user_id"
OID="ik-$RUN-lost-nokey"
lose_answer "$OID"
register "$(json "$OID")" "$HOOKS"
is "$STATUS $(field code)" "200 -1" \
	"control: the same without a key is told exists (the client cannot tell it was its own)"

# --- outcome_unknown, then the truth ---------------------------------------
OID="ik-$RUN-unknown" KEY="k-$RUN-unknown"
commits_block
kreg "\"$KEY\"" "$(json "$OID")" "$REGONCE_IT_URL_BUDGET"
is "$STATUS $(field error)" "503 outcome_unknown" "unknown: commits blocked past the budget"
is "$(stored "$KEY") $(rows "$OID")" "0 0" "unknown: neither answer nor row yet"
commits_release
# The server may finish the COMMIT it was blocked in, or notice first that
# the client is gone and roll back: either way, answer and row together.
await 300 lock_free "$(lock_name "$OID")"
LANDED=$(rows "$OID")
echo "# unknown: the blocked COMMIT landed: $LANDED"
is "$(stored "$KEY")" "$LANDED" "unknown: the stored answer exists exactly when the row does"
kreg "\"$KEY\"" "$(json "$OID")" "$REGONCE_IT_URL_BUDGET"
if [ "$LANDED" = 1 ]; then
	replayed
	is "$?:$STATUS $(field code) $(field user_id)" \
		"0:200 0 $(sql "SELECT id FROM users WHERE openid = '$OID'")" \
		"unknown: the retry with the key learns it was created, and its user_id"
else
	replayed
	is "$?:$STATUS $(field code)" "1:200 0" \
		"unknown: it had not landed: the retry with the key registers it now"
fi

# --- a storm with keys ------------------------------------------------------
REPORT=$("$REPLAY" --url "$REGONCE_IT_URL/register" --users 100 --replays 4 \
	--concurrency 32 --prefix "iks-$RUN-" --idempotency-key \
	--db-conf "$VAR/pools/main.conf" --json)
RC=$?
echo "# keyed storm: $REPORT"
is "$RC" 0 "keyed storm: regonce-replay exits 0"
is "$(jq -r '"\(.answers_differ) \(.created) \(.duplicates) \(.lost)"' <<<"$REPORT")" "0 100 0 0" \
	"keyed storm: every copy got its registration's first answer; 100 created, no duplicate"

done_testing
