# Shared helpers for the integration tests (sourced). They speak TAP, so
# automake's harness counts every case. Each test runs against the stack
# that ./stack check starts; without it they are skipped.

if [ -z "${REGONCE_IT_URL:-}" ]; then
	echo "1..0 # SKIP no stack: run ./stack check"
	exit 0
fi
for tool in curl jq mariadb; do
	command -v "$tool" >/dev/null || { echo "Bail out! $tool is missing"; exit 1; }
done

# await, alive, pid_alive, not: ./stack's process helpers, written once.
. "$REGONCE_SRCDIR/stack.d/lib.sh"

# ok, is, done_testing: the TAP helpers, shared with the static checks.
. "$REGONCE_SRCDIR/tests/tap.sh"
REPLAY="$REGONCE_BUILDDIR/tools/regonce-replay"
VAR=$REGONCE_IT_VAR

# request URL METHOD [curl args...]: sets STATUS, BODY and HEADERS.
request() {
	local url=$1 method=$2 out
	shift 2
	out=$(mktemp)
	STATUS=$(curl -s -o "$out.body" -D "$out.headers" -w '%{http_code}' \
		-X "$method" "$@" "$url") || STATUS=000
	BODY=$(cat "$out.body" 2>/dev/null)
	HEADERS=$(tr -d '\r' <"$out.headers" 2>/dev/null)
	rm -f "$out" "$out.body" "$out.headers"
}

# register JSON [BASE-URL]: POST JSON to /register.
register() {
	request "${2:-$REGONCE_IT_URL}/register" POST \
		-H 'Content-Type: application/json' --data-binary "$1"
}

# field NAME: a member of the last response body ("" if absent).
field() {
	jq -r --arg f "$1" 'if type == "object" and has($f) then .[$f] | tostring else "" end' \
		<<<"$BODY" 2>/dev/null
}

# sql [DATABASE] QUERY: one query, tab-separated, no column names.
sql() {
	local db=regonce
	[ $# -eq 2 ] && { db=$1; shift; }
	mariadb --no-defaults --socket="$REGONCE_IT_DB_SOCKET" -u root -N -B \
		"$db" -e "$1"
}

# rows OPENID: how many rows hold exactly this openid.
rows() {
	sql "SELECT COUNT(*) FROM users WHERE openid = BINARY '$1'"
}

# pids POOL: the pool's worker PIDs, sorted, on one line.
pids() {
	sort -n "$VAR/run/$1.pid" | paste -sd' '
}

# lock_name OPENID [DATABASE [TABLE]]: the named lock regonce takes for it
# (database regonce, table users unless named): a digest of
# "<database>/<table>/<openid>" (fcgi-app/db_lock.c).
lock_name() {
	printf 'regonce:%s' "$(printf '%s/%s/%s' "${2:-regonce}" \
		"${3:-users}" "$1" | sha256sum | cut -c1-48)"
}

# lock_held NAME / lock_free NAME: is a named lock taken right now?
lock_held() {
	[ "$(sql "SELECT IS_USED_LOCK('$1') IS NOT NULL")" = 1 ]
}
lock_free() {
	[ "$(sql "SELECT IS_USED_LOCK('$1') IS NULL")" = 1 ]
}

# lock_hold NAME / lock_drop: take a named lock from a session of its own,
# as another client would, until dropped (the session ends, the lock goes).
lock_hold() {
	LOCK_IN=$(mktemp -u)
	mkfifo "$LOCK_IN"
	mariadb --no-defaults --socket="$REGONCE_IT_DB_SOCKET" -u root -N \
		<"$LOCK_IN" >/dev/null &
	LOCK_HOLDER=$!
	exec 8>"$LOCK_IN"
	echo "SELECT GET_LOCK('$1', 10);" >&8
	await 100 lock_held "$1"
}
lock_drop() {
	exec 8>&-
	wait "$LOCK_HOLDER"
	rm -f "$LOCK_IN"
}

# commits_block / commits_release: hold every COMMIT on the server, from a
# session of its own (BACKUP STAGE BLOCK_COMMIT), until released.
commits_block() {
	HOLD_IN=$(mktemp -u) HOLD_OUT=$(mktemp)
	mkfifo "$HOLD_IN"
	mariadb --no-defaults --socket="$REGONCE_IT_DB_SOCKET" -u root -N \
		--unbuffered <"$HOLD_IN" >"$HOLD_OUT" 2>&1 &
	HOLD=$!
	exec 7>"$HOLD_IN"
	echo "BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT; SELECT 'commits-blocked';" >&7
	await 300 grep -q commits-blocked "$HOLD_OUT"
}
commits_release() {
	echo "BACKUP STAGE END;" >&7
	exec 7>&-
	wait "$HOLD"
	rm -f "$HOLD_IN" "$HOLD_OUT"
}

# A unique openid prefix per test run.
RUN=$(date +%s%N | sha256sum | cut -c1-8)
