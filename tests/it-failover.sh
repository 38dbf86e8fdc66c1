#!/usr/bin/env bash
# Integration: a database that answers but takes no writes, and one that
# stops answering, as during a failover.
#  1. read_only = 1 (what a demoted primary says): a registration is
#     503 db_unavailable with Retry-After, nothing written, and /healthz
#     says 503 too, so a load balancer stops sending traffic; once
#     read_only = 0 the same request is created.
#  2. MariaDB stopped (SIGSTOP): /healthz answers 503 from the worker
#     within its own budget (2 s), not after the connection's read and
#     connect timeouts (10 s + 3 s by default), which would hold the
#     worker and the prober alike.
# Pools: main
. "$REGONCE_SRCDIR/tests/lib.sh"

RUN=$(date +%s%N)
json() { printf '{"openid":"%s","username":"u","password":"12345678"}' "$1"; }
# Whatever happens, the server is left writable and running.
MYSQLD=$(head -n 1 "$VAR/run/mysqld.pid")
trap 'kill -CONT "$MYSQLD" 2>/dev/null; sql "SET GLOBAL read_only = 0" 2>/dev/null' EXIT

# --- 1. read-only ----------------------------------------------------------
OID="fo-$RUN-ro"
sql "SET GLOBAL read_only = 1"
is "$(sql "SELECT @@global.read_only")" 1 "the server is read-only"
register "$(json "$OID")"
is "$STATUS $(field error)" "503 db_unavailable" \
	"read-only: a registration is 503 db_unavailable (not 500)"
grep -qi '^retry-after: [0-9]' <<<"$HEADERS"
ok $? "read-only: with Retry-After"
is "$(rows "$OID")" 0 "read-only: nothing written"
request "$REGONCE_IT_URL/healthz" GET
is "$STATUS $(field status)" "503 unavailable" "read-only: /healthz says 503"
echo "# healthz: $BODY"
sql "SET GLOBAL read_only = 0"
request "$REGONCE_IT_URL/healthz" GET
is "$STATUS" 200 "writable again: /healthz says 200"
register "$(json "$OID")"
is "$STATUS $(field code)" "200 0" "writable again: the same request is created"

# --- 2. stalled ------------------------------------------------------------
# The probe's own bound (8 s) is four times the budget: a worker that
# answered within its budget is well inside it, one that waited for its
# timeouts (13 s) is not, and curl then reports no answer at all.
kill -STOP "$MYSQLD"
STATUS=$(curl -s -m 8 -o /dev/null -w '%{http_code}' "$REGONCE_IT_URL/healthz")
kill -CONT "$MYSQLD"
is "$STATUS" 503 "stalled: /healthz answers 503 within its budget"
await 300 eval '[ "$(curl -s -o /dev/null -w "%{http_code}" "$REGONCE_IT_URL/healthz")" = 200 ]'
ok $? "running again: /healthz says 200"

done_testing
