#!/usr/bin/env bash
# The shared-hosting kit for real (issue 18): Debian's apache2 with
# mod_fcgid starts register.fcgi from a customer's folder, configured only
# by the kit's .htaccess and register.fcgi.conf beside the program
# (stack.d/fcgid.sh, conf/apache-fcgid-stack.conf).
#  - under suexec (the customer's account, uid >= 1000, files 0600/0700)
#    and without (www-data, config 0644 with db_password_readable = yes,
#    the guide's way through): register,
#    replay, bad JSON, healthz; the config and the log are not served;
#  - under suexec the log is the customer's and they read it;
#  - idempotency on (the default) with no key given: the worker makes the
#    fingerprint key beside its config (private/fingerprint.key) at
#    start, a keyed request works and its retry gets the same answer;
#    under suexec the key is the customer's, 0600, 32 bytes; over the
#    web it is not served;
#  - a folder with the program and no configuration: JSON 500
#    not_configured and the reason in regonce-error.log there;
#  - a 200 KB body: JSON 413 (not mod_fcgid's bare 500);
#  - a storm (60 users x 4, 16 clients) on an account WITH
#    MAX_USER_CONNECTIONS 5, mod_fcgid free to start 16 processes: exact,
#    0 x 503.
# Pools: none of its own (Apache starts the program); main for row counts
. "$REGONCE_SRCDIR/tests/lib.sh"

SUEXEC=${REGONCE_IT_URL_FCGID:-}
PLAIN=${REGONCE_IT_URL_FCGID_PLAIN:-}
ROOT=${REGONCE_IT_FCGID_ROOT:-}
CUSTOMER=${REGONCE_IT_FCGID_CUSTOMER:-}
[ -n "$SUEXEC" ] && [ -n "$ROOT" ] ||
	{ echo "1..0 # SKIP Apache with mod_fcgid is not running"; exit 0; }
json() { printf '{"openid":"%s","username":"u","password":"12345678"}' "$1"; }
# kreg KEY JSON URL: register with an Idempotency-Key.
kreg() {
	request "$3/register" POST -H 'Content-Type: application/json' \
		-H "Idempotency-Key: \"$1\"" --data-binary "$2"
}

for site in suexec plain; do
	url=$SUEXEC
	[ "$site" = plain ] && url=$PLAIN
	request "$url/healthz" GET
	is "$STATUS $(field status)" "200 ok" "$site: GET /healthz through mod_fcgid"
	register "$(json "fg-$RUN-$site")" "$url"
	is "$STATUS $(field code)" "200 0" "$site: register: created"
	register "$(json "fg-$RUN-$site")" "$url"
	is "$STATUS $(field code)" "200 -1" "$site: the same again: exists"
	is "$(rows "fg-$RUN-$site")" 1 "$site: one row"
	register '{"openid": ' "$url"
	is "$STATUS $(field error)" "400 invalid_json" "$site: bad JSON: 400 invalid_json"
	request "$url/register.fcgi.conf" GET
	is "$STATUS" 403 "$site: the configuration is not served"
	request "$url/private/regonce.log" GET
	is "$STATUS" 403 "$site: the log folder is not served"
	request "$url/metrics" GET
	is "$STATUS" 404 "$site: /metrics from loopback reaches the worker (metrics off: 404)"
	# Idempotency is on by default: the key the worker made at start.
	kreg "fgk-$RUN-$site" "$(json "fgk-$RUN-$site")" "$url"
	first="$STATUS $BODY"
	is "$STATUS $(field code)" "200 0" "$site: a keyed request: created"
	kreg "fgk-$RUN-$site" "$(json "fgk-$RUN-$site")" "$url"
	is "$STATUS $BODY" "$first" "$site: its retry with the same key: the same answer"
	grep -qi '^Idempotency-Replayed: true' <<<"$HEADERS"
	ok $? "$site: ... marked Idempotency-Replayed"
	request "$url/private/fingerprint.key" GET
	is "$STATUS" 403 "$site: the fingerprint key is not served"
done

# Under suexec the program ran as the customer, and so did its files.
LOG=$ROOT/suexec/private/regonce.log
is "$(stat -c %U "$LOG" 2>/dev/null)" "$CUSTOMER" "suexec: the log belongs to the customer"
runuser -u "$CUSTOMER" -- grep -q "register openid=fg-$RUN-suexec " "$LOG"
ok $? "suexec: the customer reads their log (the registration is in it)"
is "$(stat -c %a "$ROOT/suexec/register.fcgi.conf")" 600 "suexec: the config stays 0600"
KEY=$ROOT/suexec/private/fingerprint.key
is "$(stat -c '%U %a %s' "$KEY" 2>/dev/null)" "$CUSTOMER 600 32" \
	"suexec: the worker made the key: the customer's, 0600, 32 bytes"
is "$(find "$ROOT/suexec/private" -maxdepth 1 -name 'fingerprint.key.*' | wc -l)" 0 \
	"suexec: no temporary key file left behind"
is "$(stat -c '%U %a %s' "$ROOT/plain/private/fingerprint.key" 2>/dev/null)" "www-data 600 32" \
	"plain: without suexec the key is www-data's, 0600 (what the guide says)"
is "$(stat -c %U "$ROOT/plain/private/regonce.log" 2>/dev/null)" www-data \
	"plain: without suexec the log is www-data's (what the guide says)"

# A body over mod_fcgid's limit.
big=$(mktemp)
head -c 200000 /dev/zero | tr '\0' 'a' >"$big"
request "$SUEXEC/register" POST -H 'Content-Type: application/json' --data-binary "@$big"
rm -f "$big"
is "$STATUS $(field error)" "413 body_too_large" "a 200 KB body: JSON 413 body_too_large"
mid=$(printf '{"openid":"x","username":"u","password":"%s"}' "$(head -c 30000 /dev/zero | tr '\0' 'a')")
register "$mid" "$SUEXEC"
is "$STATUS $(field error)" "413 body_too_large" "a 30 KB body: regonce's own JSON 413"

# No configuration: an answer, and the reason where the customer looks.
request "$SUEXEC/unconfigured/register" POST -H 'Content-Type: application/json' \
	--data-binary "$(json "fg-$RUN-none")"
is "$STATUS $(field error)" "500 not_configured" "no configuration: JSON 500 not_configured"
runuser -u "$CUSTOMER" -- grep -q "not configured: no configuration file" \
	"$ROOT/suexec/unconfigured/regonce-error.log"
ok $? "... and the reason is in regonce-error.log in the customer's folder"

# The storm, under the account's cap of 5.
STORM=$("$REPLAY" --url "$SUEXEC/register" --users 60 --replays 4 --concurrency 16 \
	--prefix "fgs-$RUN-" --db-conf "$VAR/pools/main.conf" --json)
is "$?" 0 "storm: regonce-replay exits 0"
echo "# storm: $(jq -c '{requests, created, exists, server_errors, transport_errors, outcomes, duplicates, extra_rows, lost, wall_s}' <<<"$STORM")"
procs=$(pgrep -u "$CUSTOMER" -c register.fcgi || true)
echo "# mod_fcgid processes of the customer after the storm: $procs"
is "$(jq -r .created <<<"$STORM")" 60 "storm: exactly one 'created' per openid"
is "$(jq -r '.openids_created_twice, .openids_incomplete' <<<"$STORM" | paste -sd' ')" "0 0" \
	"storm: none created twice, every answer created or exists"
is "$(jq -r '.server_errors, .transport_errors' <<<"$STORM" | paste -sd' ')" "0 0" \
	"storm: 0 x 503, no 5xx at all"
is "$(jq -r '.duplicates, .extra_rows, .lost' <<<"$STORM" | paste -sd' ')" "0 0 0" \
	"storm: one row per openid"

done_testing
