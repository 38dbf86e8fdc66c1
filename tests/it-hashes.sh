#!/usr/bin/env bash
# Integration: a replayed registration costs one password hash.
#  - 40 users, each sent 4 times at once: on named_lock and on
#    named_lock_compound the pool's regonce_password_hashes_total moves
#    by at most 1.1 per registration (the copies wait for the openid's
#    lock and find the first copy's row, unhashed), and the storm is clean;
#  - negative control: strategy unique has no lock, so every copy that
#    passes the pre-check before the first row commits hashes: the same
#    storm costs it more than 1.1 per registration, so the counter sees
#    extra hashes when there are any.
# Pools: main, compound, unique
set -u
. "$REGONCE_SRCDIR/tests/lib.sh"

USERS=40
REPLAYS=4

# hashes URL: the pool's regonce_password_hashes_total (workers share it).
hashes() {
	request "$1/metrics" GET
	awk '$1 == "regonce_password_hashes_total" { print $2 }' <<<"$BODY"
}

# hash_storm NAME URL: a storm of USERS x REPLAYS; HASHES is what it cost.
hash_storm() {
	local name=$1 url=$2 before after report
	before=$(hashes "$url")
	report=$("$REPLAY" --url "$url/register" --users "$USERS" \
		--replays "$REPLAYS" --concurrency 32 \
		--prefix "hs-$RUN-$name-" --db-conf "$VAR/pools/$name.conf" --json)
	is "$?" 0 "$name: the storm is clean (no duplicate, no lost row)"
	is "$(jq -r .created <<<"$report")" "$USERS" \
		"$name: one 'created' per openid"
	is "$(jq -r '.server_errors + .transport_errors' <<<"$report")" 0 \
		"$name: no 5xx, no transport error"
	after=$(hashes "$url")
	HASHES=$((after - before))
	echo "# $name: $HASHES hashes for $USERS registrations x $REPLAYS copies"
}

# per_registration: HASHES / USERS, two decimals, for the messages.
per_registration() {
	awk -v h="$HASHES" -v u="$USERS" 'BEGIN { printf "%.2f", h / u }'
}

[ -n "$(hashes "$REGONCE_IT_URL")" ]
ok $? "/metrics has regonce_password_hashes_total"

hash_storm main "$REGONCE_IT_URL"
[ $((HASHES * 10)) -le $((USERS * 11)) ]
ok $? "named_lock: at most 1.1 hashes per registration ($(per_registration))"

hash_storm compound "$REGONCE_IT_URL_COMPOUND"
[ $((HASHES * 10)) -le $((USERS * 11)) ]
ok $? "named_lock_compound: at most 1.1 hashes per registration ($(per_registration))"

# The control: no lock, so the copies hash too.
hash_storm unique "$REGONCE_IT_URL_UNIQUE"
[ $((HASHES * 10)) -gt $((USERS * 11)) ]
ok $? "unique control: more than 1.1 hashes per registration ($(per_registration))"

done_testing
