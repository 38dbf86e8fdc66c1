#!/usr/bin/env bash
# Integration: Idempotency-Key storage is bounded (idempotency_max_keys)
# and expired answers cannot pile up.
#  - a flood of keyed requests with a bad field (stored without argon2
#    work) fills the table to the cap and no further: the overflow gets 503
#    key_storage_full with Retry-After, and its keys are not stored;
#  - concurrent clients overshoot the cap by at most one answer per worker
#    (the check and the insert are not one statement);
#  - once the stored answers expire, a new key is accepted again, and the
#    new keys' own purges delete the expired rows (8 each).
# Before the cap every request of the flood was stored: 80 rows of 80.
# Pool: keys (database regonce_keys, idempotency_max_keys = 50,
# idempotency_ttl_s = 60).
. "$REGONCE_SRCDIR/tests/lib.sh"

URL=$REGONCE_IT_URL_KEYS
CAP=50
DB=regonce_keys
ksql() { sql "$DB" "$1"; }
live() { ksql "SELECT COUNT(*) FROM idempotency_keys WHERE expires_at >= NOW()"; }
expired() { ksql "SELECT COUNT(*) FROM idempotency_keys WHERE expires_at < NOW()"; }
stored() { ksql "SELECT COUNT(*) FROM idempotency_keys WHERE key_hash = UNHEX(SHA2('$1', 256))"; }
# kbad KEY: a keyed request with a short password (400, stored).
kbad() {
	request "$URL/register" POST -H 'Content-Type: application/json' \
		-H "Idempotency-Key: \"$1\"" \
		--data-binary "{\"openid\":\"kk-$RUN\",\"username\":\"u\",\"password\":\"x\"}"
}
# flood PREFIX COUNT CLIENTS: COUNT keyed bad requests over CLIENTS
# parallel curls; prints each answer's HTTP status, one a line.
flood() {
	seq "$2" | xargs -P "$3" -I{} curl -s -o /dev/null -w '%{http_code}\n' \
		-X POST -H 'Content-Type: application/json' \
		-H "Idempotency-Key: \"$1-{}\"" \
		--data-binary "{\"openid\":\"kk-$RUN\",\"username\":\"u\",\"password\":\"x\"}" \
		"$URL/register"
}
tally() { sort | uniq -c | awk '{ printf "%s%s:%s", sep, $2, $1; sep = " " }'; }

ksql "DELETE FROM idempotency_keys"

# One client, 80 new keys: 50 stored, 30 refused.
got=$(flood "kk-$RUN-seq" 80 1 | tally)
is "$got" "400:$CAP 503:30" "one client, 80 new keys: $CAP answered and stored, 30 refused"
is "$(live)" "$CAP" "the table holds the cap, $CAP answers"

kbad "kk-$RUN-over"
is "$STATUS $(field error)" "503 key_storage_full" "a new key at the cap: 503 key_storage_full"
retry=$(sed -n 's/^Retry-After: *//Ip' <<<"$HEADERS")
ok "$([ -n "$retry" ] && [ "$retry" -ge 1 ]; echo $?)" "with Retry-After ($retry)"
is "$(stored "kk-$RUN-over")" 0 "the refused key is not stored"
kbad "kk-$RUN-seq-1"
is "$STATUS $(field error)" "400 invalid_field" "a stored key is still replayed at the cap"
is "$(rows "kk-$RUN")" 0 "no user row written"

# Expire everything: new keys are accepted again (a worker that saw the
# table full counts again within a second), and each new key deletes
# expired rows before it is stored.
ksql "UPDATE idempotency_keys SET expires_at = NOW() - INTERVAL 1 SECOND"
n=0
accepted() {
	n=$((n + 1))
	kbad "kk-$RUN-again-$n"
	[ "$STATUS" = 400 ]
}
await 100 accepted
ok $? "after expiry a new key is accepted again (try $n)"
before=$(expired)
ok "$([ "$before" -lt "$CAP" ]; echo $?)" "its insert purged expired rows first ($before of $CAP left)"
got=$(flood "kk-$RUN-purge" 10 1 | tally)
is "$got $(expired)" "400:10 0" "10 more new keys: the expired rows are all gone"

# Concurrent clients from an empty table: at most one answer per worker
# past the cap.
workers=$(pids keys | wc -w)
ksql "DELETE FROM idempotency_keys"
got=$(flood "kk-$RUN-par" 120 4 | tally)
n=$(live)
ok "$([ "$n" -ge "$CAP" ] && [ "$n" -le $((CAP + workers - 1)) ]; echo $?)" \
	"4 clients, 120 new keys: $n stored, within $CAP..$((CAP + workers - 1)) ($got)"
is "$(rows "kk-$RUN")" 0 "still no user row written"
done_testing
