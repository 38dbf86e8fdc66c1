#!/usr/bin/env bash
# Integration: a web server that stalls mid-record cannot hold the pool.
#  - one connection per worker sends half a FastCGI record and holds on;
#    a normal request must still be answered (bounded by curl --max-time:
#    without a read timeout it is never answered, every worker waits);
#  - every stalled connection was dropped by the worker, not answered;
#  - the workers are the same processes: nothing crashed.
# Pools: stall (fcgi_read_timeout_ms = 1000)
. "$REGONCE_SRCDIR/tests/lib.sh"

STALL="$REGONCE_BUILDDIR/tests/fcgi-stall"
SOCK=$VAR/run/stall.sock
BEFORE=$(pids stall)
N=$(wc -w <<<"$BEFORE")
WORK=$(mktemp -d)
# The stallers' stdin: they hold their connection until it closes.
mkfifo "$WORK/hold"
stallers=()
for i in $(seq "$N"); do
	"$STALL" "$SOCK" <"$WORK/hold" >"$WORK/out.$i" 2>&1 &
	stallers+=($!)
done
exec 9>"$WORK/hold"
sent() { [ "$(cat "$WORK"/out.* 2>/dev/null | grep -c '^sent$')" -eq "$N" ]; }
await 100 sent
ok $? "$N connections (one per worker) sent half a record and hold on"

register "{\"openid\":\"stall-$RUN\",\"username\":\"u\",\"password\":\"12345678\"}" \
	"$REGONCE_IT_URL_STALL" --max-time 20
is "$STATUS $(field code)" "200 0" \
	"a normal request is answered while every worker had a stalled connection"

# Each staller ends with 0 when the worker hung up on it.
for pid in "${stallers[@]}"; do
	await 100 not alive "$pid" || break
done
# Any still held (the old behaviour) let go now, and count as not dropped.
exec 9>&-
dropped=0
for pid in "${stallers[@]}"; do
	wait "$pid" && dropped=$((dropped + 1))
done
is "$dropped" "$N" "every stalled connection was dropped by its worker"
is "$(pids stall)" "$BEFORE" "the workers are the ones that started"
rm -rf "$WORK"
done_testing
