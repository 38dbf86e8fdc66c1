#!/usr/bin/env bash
# Integration: each stored Idempotency-Key answer expires by the TTL of the
# pool that stored it (sql/003's expires_at), so pools with other TTLs
# sharing one database never purge each other's answers.
#  - a row stored by the keyshort pool (idempotency_ttl_s = 60) expires 60 s
#    after it was stored, one stored by main (86400) a day after;
#  - a long-TTL pool's answer stored 120 s ago (TTL 3600) survives the
#    short pool's purge, which does delete the short pool's own row of the
#    same age (the control: it shows the purge ran). Before 003 the short
#    pool purged every row older than its own 60 s, and the long row went.
# Pools: main, keyshort (idempotency_ttl_s = 60)
. "$REGONCE_SRCDIR/tests/lib.sh"

SHORT=$REGONCE_IT_URL_KEYSHORT
# kbad KEY URL: a keyed request with a short password: stored, no argon2.
kbad() {
	request "$2/register" POST -H 'Content-Type: application/json' \
		-H "Idempotency-Key: \"$1\"" \
		--data-binary "{\"openid\":\"kx-$RUN\",\"username\":\"u\",\"password\":\"x\"}"
}
hash() { printf "UNHEX(SHA2('%s', 256))" "$1"; }
ttl_of() {
	sql "SELECT TIMESTAMPDIFF(SECOND, created_at, expires_at) FROM idempotency_keys WHERE key_hash = $(hash "$1")"
}
count() { sql "SELECT COUNT(*) FROM idempotency_keys WHERE key_hash = $(hash "$1")"; }

kbad "kx-$RUN-short" "$SHORT"
is "$STATUS $(ttl_of "kx-$RUN-short")" "400 60" \
	"the short pool's answer expires 60 s after it was stored"
kbad "kx-$RUN-long" "$REGONCE_IT_URL"
is "$STATUS $(ttl_of "kx-$RUN-long")" "400 86400" \
	"main's answer expires 86400 s after it was stored"

# Stored 120 s ago: by a pool with TTL 3600 (live for another 3480 s), and
# by the short pool itself (expired 60 s ago).
LONG="kx-$RUN-aged-long" OWN="kx-$RUN-aged-own"
sql "INSERT INTO idempotency_keys (key_hash, fingerprint, status, body, created_at, expires_at) VALUES
	($(hash "$LONG"), $(hash x), 400, '{}', NOW() - INTERVAL 120 SECOND, NOW() + INTERVAL 3480 SECOND),
	($(hash "$OWN"), $(hash x), 400, '{}', NOW() - INTERVAL 120 SECOND, NOW() - INTERVAL 60 SECOND)"
is "$(count "$LONG") $(count "$OWN")" "1 1" "two answers stored 120 s ago"

# Each worker of the short pool purges after its first request, then once
# a minute: send it requests until the expired row is gone.
n=0
own_purged() {
	n=$((n + 1))
	kbad "kx-$RUN-poke-$n" "$SHORT"
	[ "$(count "$OWN")" = 0 ]
}
await 900 own_purged
ok $? "a purge deleted the expired answer (after $n requests)"
is "$(count "$LONG")" 1 "the long-TTL pool's answer of the same age is kept"
done_testing
