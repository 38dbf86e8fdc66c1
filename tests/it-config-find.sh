#!/usr/bin/env bash
# Configuration found without environment (issue 18): the worker started
# as mod_fcgid starts it, from a customer's folder, with no REGONCE_CONF
# and no -c (spawn-fcgi with a clean environment, straight to its socket):
#  - no configuration: every request answers JSON 500 not_configured (the
#    body does not carry the reason), the worker keeps serving, and the
#    reason is in regonce-error.log beside the executable;
#  - register.fcgi.conf beside it (named after the executable), whose
#    log_file is relative: found, the relative log lands in the folder,
#    /register answers 200 created;
#  - that config names fingerprint_key_file = fingerprint.key (relative)
#    and no key exists: the worker makes it beside the config (the
#    worker's, 0600, 32 bytes) and serves; a restart uses the same key
#    (a keyed retry across it is replayed); a key that cannot be read
#    (mode 0644): JSON 500 not_configured and the reason in
#    regonce-error.log, the worker still there;
#  - negative control: the same worker with REGONCE_CONF pointing at a
#    missing file is not "looked up": it refuses to start, as before.
# Pools: main (its database and password)
. "$REGONCE_SRCDIR/tests/lib.sh"

command -v cgi-fcgi >/dev/null || { echo "Bail out! cgi-fcgi is missing"; exit 1; }
RUN_USER=""
[ "$(id -u)" -eq 0 ] && RUN_USER=regonce
HOME_DIR=$VAR/run/customer-$RUN
SOCK=$VAR/run/customer-$RUN.sock
PIDFILE=$VAR/run/customer-$RUN.pid
mkdir -p "$HOME_DIR"
cp "$REGONCE_BUILDDIR/fcgi-app/regonce" "$HOME_DIR/register.fcgi"
[ -z "$RUN_USER" ] || chown -R "$RUN_USER:$RUN_USER" "$HOME_DIR"
trap 'stop_pids "$PIDFILE"; rm -f "$SOCK"' EXIT

# start [VAR=VALUE...]: one worker of register.fcgi, environment clean but
# for what is given; waits for its socket.
start() {
	stop_pids "$PIDFILE"
	rm -f "$SOCK"
	env -i PATH=/usr/bin:/bin "$@" spawn-fcgi -s "$SOCK" -M 0666 -P "$PIDFILE" \
		${RUN_USER:+-u "$RUN_USER" -g "$RUN_USER"} -- "$HOME_DIR/register.fcgi" \
		>/dev/null 2>&1
	await 50 test -S "$SOCK"
}
# fcgi METHOD URI [BODY]: one request on the socket, STATUS and BODY set.
fcgi() {
	local out
	out=$(printf '%s' "${3:-}" | env -i PATH="$PATH" REQUEST_METHOD="$1" \
		REQUEST_URI="$2" SCRIPT_NAME="$2" REMOTE_ADDR=127.0.0.1 \
		CONTENT_TYPE=application/json CONTENT_LENGTH="${#3}" \
		${KEY_HEADER:+HTTP_IDEMPOTENCY_KEY="$KEY_HEADER"} cgi-fcgi -bind -connect "$SOCK" | tr -d '\r')
	STATUS=$(sed -n '1s/^Status: \([0-9]*\).*/\1/p' <<<"$out")
	BODY=$(sed '1,/^$/d' <<<"$out")
}

start
ok $? "without any configuration the worker starts (it does not exit)"
fcgi GET /healthz
is "$STATUS $(field error)" "500 not_configured" "GET /healthz: JSON 500 not_configured"
fcgi POST /register '{"openid":"x","username":"u","password":"12345678"}'
is "$STATUS $(field error) $(field code)" "500 not_configured -5" "POST /register: the same"
grep -q "$HOME_DIR" <<<"$BODY"
ok $((! $?)) "... and the body names no path"
pid_alive "$PIDFILE"
ok $? "... and the worker is still there"
grep -q "not configured: no configuration file: looked for $HOME_DIR/register.fcgi.conf" \
	"$HOME_DIR/regonce-error.log" 2>/dev/null
ok $? "the reason is in regonce-error.log in the customer's folder"
sed 's/^/#   /' "$HOME_DIR/regonce-error.log"

# Now a configuration named after the program, with a relative log.
(umask 077 && cat >"$HOME_DIR/register.fcgi.conf" <<-CONF
	db_socket = $REGONCE_IT_DB_SOCKET
	db_user = regonce
	db_password = $(cat "$VAR/db-password")
	db_name = regonce
	log_file = logs/regonce.log
	fingerprint_key_file = fingerprint.key
	argon2_memory_kib = 8
	argon2_iterations = 1
CONF
)
mkdir -p "$HOME_DIR/logs"
[ -z "$RUN_USER" ] || chown -R "$RUN_USER:$RUN_USER" "$HOME_DIR"
start
fcgi POST /register "{\"openid\":\"cf-$RUN\",\"username\":\"u\",\"password\":\"12345678\"}"
is "$STATUS $(field code)" "200 0" "register.fcgi.conf beside the program is found: created"
is "$(rows "cf-$RUN")" 1 "... one row"
grep -q "register openid=cf-$RUN" "$HOME_DIR/logs/regonce.log" 2>/dev/null
ok $? "... logged to logs/regonce.log, relative to the config's folder"
is "$(stat -c '%U %a %s' "$HOME_DIR/fingerprint.key" 2>/dev/null)" \
	"$(id -un ${RUN_USER:-}) 600 32" \
	"no key: the worker made fingerprint.key beside the config, its own, 0600, 32 bytes"
KEY_HEADER="\"cfk-$RUN\""
fcgi POST /register "{\"openid\":\"cfk-$RUN\",\"username\":\"u\",\"password\":\"12345678\"}"
first="$STATUS $BODY"
is "$STATUS $(field code)" "200 0" "a keyed request: created"
key_before=$(od -An -tx1 "$HOME_DIR/fingerprint.key" | tr -d ' \n')
start
fcgi POST /register "{\"openid\":\"cfk-$RUN\",\"username\":\"u\",\"password\":\"12345678\"}"
is "$STATUS $BODY" "$first" "restarted: its retry gets the same answer (the key was kept)"
is "$(od -An -tx1 "$HOME_DIR/fingerprint.key" | tr -d ' \n')" "$key_before" \
	"... and the key file is unchanged"
KEY_HEADER=""
# A key the worker must not use: an answer, not a restart loop.
chmod 0644 "$HOME_DIR/fingerprint.key"
: >"$HOME_DIR/regonce-error.log"
start
fcgi POST /register '{"openid":"x","username":"u","password":"12345678"}'
is "$STATUS $(field error)" "500 not_configured" "a key open to others: JSON 500 not_configured"
pid_alive "$PIDFILE"
ok $? "... and the worker is still there"
grep -q "fingerprint_key_file $HOME_DIR/fingerprint.key: mode 0644" \
	"$HOME_DIR/regonce-error.log" 2>/dev/null
ok $? "... and the reason is in regonce-error.log"

# Negative control: a path that was given is not a lookup.
stop_pids "$PIDFILE"
rm -f "$SOCK"
env -i PATH=/usr/bin:/bin REGONCE_CONF="$HOME_DIR/missing.conf" \
	spawn-fcgi -s "$SOCK" -P "$PIDFILE" ${RUN_USER:+-u "$RUN_USER" -g "$RUN_USER"} \
	-- "$HOME_DIR/register.fcgi" >/dev/null 2>&1
await 20 not pid_alive "$PIDFILE"
ok $? "REGONCE_CONF naming a missing file: the worker exits, as before"

done_testing
