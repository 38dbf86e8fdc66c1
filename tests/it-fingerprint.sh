#!/usr/bin/env bash
# Integration: the stored Idempotency-Key fingerprint is keyed (HMAC under
# fingerprint_key_file), so the table is no dictionary oracle.
#  - a keyed registration stores a fingerprint; it is not the plain SHA-256
#    of method, path and body (what was stored before: a scan of the table
#    for it finds nothing), nor of the body alone.
# Pools: main
. "$REGONCE_SRCDIR/tests/lib.sh"

BODY_SENT="{\"openid\":\"fp-$RUN\",\"username\":\"u\",\"password\":\"fp-secret-$RUN\"}"
request "$REGONCE_IT_URL/register" POST -H 'Content-Type: application/json' \
	-H "Idempotency-Key: \"fp-$RUN\"" --data-binary "$BODY_SENT"
is "$STATUS $(field code)" "200 0" "a keyed registration: created"
stored=$(sql "SELECT COUNT(*) FROM idempotency_keys WHERE key_hash = UNHEX(SHA2('fp-$RUN', 256))")
is "$stored" 1 "its answer and fingerprint are stored"

# The plain SHA-256 the old code stored: method, NUL, path, NUL, body.
plain=$(printf 'POST\0/register\0%s' "$BODY_SENT" | sha256sum | cut -c1-64)
body_only=$(printf '%s' "$BODY_SENT" | sha256sum | cut -c1-64)
is "$(sql "SELECT COUNT(*) FROM idempotency_keys WHERE HEX(fingerprint) IN (UPPER('$plain'), UPPER('$body_only'))")" 0 \
	"no stored fingerprint is the plain SHA-256 of the request or its body"
done_testing
