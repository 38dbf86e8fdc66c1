#!/usr/bin/env bash
# Integration: commits held by the server (BACKUP STAGE BLOCK_COMMIT), on
# strategy unique, where a new registration's autocommit INSERT is its
# COMMIT. The worker's read times out (db_timeout_s) while the commit
# waits; it reconnects and tries again; the abandoned session's row
# commits once the hold ends, and the retry's INSERT meets it (1062). That
# row holds the request's own password hash: the answer must be "created",
# never "exists" for the request's own new row. Holds of as many
# registrations as the pool has workers, until 10 commits or more were
# held.
# Pools: unique
. "$REGONCE_SRCDIR/tests/lib.sh"

RUN=$(date +%s%N)
URL=$REGONCE_IT_URL_UNIQUE
LOG=$VAR/log/regonce-unique.log
N=$(wc -l <"$VAR/run/unique.pid")
json() { printf '{"openid":"%s","username":"u","password":"12345678"}' "$1"; }
reconnects() { grep -c 'db_reconnect: after error' "$LOG" || true; }

# hold ROUND: hold commits, send N new registrations, let the commits go
# once every worker has given up its first connection; sets OUTS.
hold() {
	local round=$1 before i
	commits_block
	ok $? "round $round: commits are held"
	before=$(reconnects)
	OUTS=$(mktemp -d)
	CURLS=()
	for i in $(seq 1 "$N"); do
		curl -s -m 60 -o "$OUTS/$i.body" -w '%{http_code}' \
			-H 'Content-Type: application/json' \
			-d "$(json "hc-$RUN-$round-$i")" "$URL/register" \
			>"$OUTS/$i.status" &
		CURLS+=($!)
	done
	# Each worker's read times out while its commit is held (10 s).
	await 600 eval '[ "$(reconnects)" -ge $((before + N)) ]'
	ok $? "round $round: every worker gave up a connection whose commit was held"
	commits_release
	wait "${CURLS[@]}"
}

false_exists=0
ROUNDS=$(((10 + N - 1) / N))
for round in $(seq 1 "$ROUNDS"); do
	hold "$round"
	for i in $(seq 1 "$N"); do
		answer="$(cat "$OUTS/$i.status") $(jq -r .code <"$OUTS/$i.body" 2>/dev/null)"
		[ "$answer" = "200 -1" ] && false_exists=$((false_exists + 1))
		echo "# round $round, request $i: $answer, rows $(rows "hc-$RUN-$round-$i")"
	done
	rm -rf "$OUTS"
done
is "$false_exists" 0 "no request was told 'exists' for its own new row ($((ROUNDS * N)) held commits)"
is "$(sql "SELECT COUNT(*) FROM users WHERE openid LIKE 'hc-$RUN-%'")" "$((ROUNDS * N))" \
	"one row per registration"
is "$(grep -F "openid=hc-$RUN-" "$LOG" | grep -c 'result=created')" "$((ROUNDS * N))" \
	"each was told 'created'"

done_testing
