#!/usr/bin/env bash
# The worker guards /metrics itself (metrics_allow, checked against
# REMOTE_ADDR), so a web server that restricts nothing leaves it closed.
# Straight to the pools' FastCGI sockets with cgi-fcgi, no web server:
#  - pool metricsallow (metrics_allow = 127.0.0.1): from 127.0.0.1 200,
#    from 127.0.0.2 403 JSON "forbidden", with no REMOTE_ADDR 403;
#  - pool main (the default, loopback: 127.0.0.0/8 and ::1): from
#    127.0.0.2 and ::1 200, from 10.1.2.3 and 2001:db8::1 403 JSON;
#  - negative control: the same scrape from 127.0.0.2 differs only by
#    pool, so the 403 is the worker's list, not the address's reach.
# Pools: main, metricsallow
. "$REGONCE_SRCDIR/tests/lib.sh"

command -v cgi-fcgi >/dev/null || { echo "Bail out! cgi-fcgi is missing"; exit 1; }

# fcgi POOL REMOTE-ADDR: GET /metrics on the pool's socket into STATUS, BODY
# ("-" as the address: none passed).
fcgi() {
	local out params=(REQUEST_METHOD=GET REQUEST_URI=/metrics
		SCRIPT_NAME=/metrics SERVER_PROTOCOL=HTTP/1.1)
	[ "$2" = - ] || params+=("REMOTE_ADDR=$2")
	out=$(env -i "${params[@]}" PATH="$PATH" \
		cgi-fcgi -bind -connect "$VAR/run/$1.sock" | tr -d '\r')
	STATUS=$(sed -n '1s/^Status: \([0-9]*\).*/\1/p' <<<"$out")
	BODY=$(sed '1,/^$/d' <<<"$out")
}

fcgi metricsallow 127.0.0.1
is "$STATUS" 200 "metrics_allow = 127.0.0.1: from 127.0.0.1 200"
grep -q '^regonce_requests_total' <<<"$BODY"
ok $? "... with the counters"
fcgi metricsallow 127.0.0.2
is "$STATUS $(field error)" "403 forbidden" "... from 127.0.0.2 (loopback, not listed) 403 JSON forbidden"
fcgi metricsallow -
is "$STATUS $(field error)" "403 forbidden" "... with no REMOTE_ADDR 403 (fails closed)"

fcgi main 127.0.0.2
is "$STATUS" 200 "default (loopback): from 127.0.0.2 200 (negative control for the 403 above)"
fcgi main ::1
is "$STATUS" 200 "default: from ::1 200"
fcgi main 10.1.2.3
is "$STATUS $(field error) $(field code)" "403 forbidden -2" "default: from 10.1.2.3 403 JSON"
fcgi main 2001:db8::1
is "$STATUS $(field error)" "403 forbidden" "default: from 2001:db8::1 403 JSON"
fcgi main ::ffff:10.1.2.3
is "$STATUS" 403 "default: from ::ffff:10.1.2.3 (IPv4-mapped) 403"
fcgi main ::ffff:127.0.0.1
is "$STATUS" 200 "default: from ::ffff:127.0.0.1 (IPv4-mapped loopback) 200"

done_testing
