#!/usr/bin/env bash
# Integration: concurrent storms through nginx on the real pool.
#  - 300 users, each sent 4 times at once, 32 in flight: one row and one
#    "created" per openid, no 5xx, for named_lock, named_lock_compound
#    and unique, and for both named_lock strategies on the original
#    table, which has no UNIQUE index (the lock alone must hold);
#  - negative control: the same race on the original table with the naive
#    strategy must produce duplicates, or this test could not see them;
#  - round trips, from the pool's own db_round_trips_total: a new
#    registration on named_lock_compound costs 2 (the pre-check, lock
#    and FOR UPDATE statement; the INSERT, COMMIT and release statement),
#    a repeat 1; control: named_lock's new registration costs
#    more, so the count tells the two paths apart;
#  - 300 distinct openids in one index gap: no deadlock (1213) at READ
#    COMMITTED; negative control: at REPEATABLE READ the same storm
#    deadlocks.
# Pools: main, unique, naive, gap, gaprr, origlock, compound, origcompound
. "$REGONCE_SRCDIR/tests/lib.sh"

# storm NAME URL DATABASE-CONF USERS REPLAYS: run the replay tool, keep JSON.
storm() {
	local name=$1 url=$2 conf=$3 users=$4 replays=$5
	STORM_PREFIX="st-$RUN-$name-"
	STORM=$("$REPLAY" --url "$url/register" --users "$users" --replays "$replays" \
		--concurrency 32 --prefix "$STORM_PREFIX" --db-conf "$conf" --json)
	STORM_RC=$?
	echo "# $name: $STORM"
}

# j FIELD: a member of the last storm's report.
j() { jq -r ".$1" <<<"$STORM"; }

# clean_storm LABEL USERS REPLAYS: the invariants of a correct storm.
clean_storm() {
	local label=$1 users=$2 replays=$3
	is "$STORM_RC" 0 "$label: regonce-replay exits 0"
	is "$(j requests)" $((users * replays)) "$label: every request was sent"
	is "$(j created)" "$users" "$label: exactly one 'created' per openid"
	is "$(j openids_created_twice)" 0 "$label: no openid answered 'created' twice"
	is "$(j openids_incomplete)" 0 \
		"$label: for every openid, created + exists = its requests"
	is "$(j server_errors) $(j transport_errors)" "0 0" "$label: no 5xx, no transport error"
	is "$(j duplicates) $(j extra_rows)" "0 0" "$label: no openid has two rows"
	is "$(j lost)" 0 "$label: every 'created' has its row"
}

# round_trips URL OPENID: the pool's db_round_trips_total moved by one
# registration of OPENID, into TRIPS. Scrapes touch no database; each
# pool's workers are connected (a storm just ran on it).
round_trips() {
	local before after
	trips_now() {
		request "$1/metrics" GET
		awk '$1 == "regonce_db_round_trips_total" { print $2 }' <<<"$BODY"
	}
	before=$(trips_now "$1")
	register "$(printf '{"openid":"%s","username":"u","password":"12345678"}' "$2")" "$1"
	RT_STATUS="$STATUS $(field code)"
	after=$(trips_now "$1")
	TRIPS=$((after - before))
}

storm named_lock "$REGONCE_IT_URL" "$VAR/pools/main.conf" 300 4
clean_storm "named_lock storm 300x4" 300 4
round_trips "$REGONCE_IT_URL" "rt-$RUN-lock"
is "$RT_STATUS" "200 0" "named_lock: the counted registration is created (code 0)"
[ "$TRIPS" -gt 2 ]
ok $? "round-trip control: a new named_lock registration costs more than 2 ($TRIPS)"

storm unique "$REGONCE_IT_URL_UNIQUE" "$VAR/pools/unique.conf" 300 4
clean_storm "unique storm 300x4" 300 4

# On the original table (no UNIQUE index) the named lock alone suffices.
storm origlock "$REGONCE_IT_URL_ORIGLOCK" "$VAR/pools/origlock.conf" 300 4
clean_storm "named_lock on the original table 300x4" 300 4

# The same sequence as two compound statements: look and lock, hash, the rest.
storm compound "$REGONCE_IT_URL_COMPOUND" "$VAR/pools/compound.conf" 300 4
clean_storm "named_lock_compound storm 300x4" 300 4
round_trips "$REGONCE_IT_URL_COMPOUND" "rt-$RUN-compound"
is "$RT_STATUS $TRIPS" "200 0 2" \
	"named_lock_compound: a new registration (code 0) costs 2 round trips"
round_trips "$REGONCE_IT_URL_COMPOUND" "rt-$RUN-compound"
is "$RT_STATUS $TRIPS" "200 -1 1" "named_lock_compound: a repeat (code -1) costs 1"
storm origcompound "$REGONCE_IT_URL_ORIGCOMPOUND" \
	"$VAR/pools/origcompound.conf" 300 4
clean_storm "named_lock_compound on the original table 300x4" 300 4

# The negative control: the original bug, on the original table.
storm naive "$REGONCE_IT_URL_NAIVE" "$VAR/pools/naive.conf" 50 2
is "$STORM_RC" 1 "naive control: regonce-replay exits 1 (it found the bug)"
[ "$(j duplicates)" -gt 0 ]
ok $? "naive control: duplicates appear ($(j duplicates) of 50 openids)"

# Distinct openids that all fall into one gap of the unique index.
gap_storm() {
	local name=$1 url=$2 log=$3
	sql "INSERT IGNORE INTO users (openid, username, password_hash) VALUES
		('gap-$RUN-$name-a', 'fence', 'x'), ('gap-$RUN-$name-z', 'fence', 'x')"
	storm "$name" "$url" "$VAR/pools/$name.conf" 300 1
	# Only our prefix: the openid is in each request's log line.
	DEADLOCKS=$(grep -F "openid=$STORM_PREFIX" "$log" | grep -c 'errnos=[0-9,]*1213' || true)
}
gap_storm gap "$REGONCE_IT_URL_GAP" "$VAR/log/regonce-gap.log"
clean_storm "one-gap storm (READ COMMITTED)" 300 1
is "$DEADLOCKS" 0 "one-gap storm: no deadlock at READ COMMITTED"

gap_storm gaprr "$REGONCE_IT_URL_GAPRR" "$VAR/log/regonce-gaprr.log"
is "$STORM_RC" 0 "gap control: regonce-replay ran and checked the table"
[ "$DEADLOCKS" -gt 0 ]
ok $? "gap control: REPEATABLE READ deadlocks ($DEADLOCKS requests saw 1213)"

done_testing
