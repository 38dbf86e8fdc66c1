#!/usr/bin/env bash
# Integration: POST /register through nginx and the spawn-fcgi pool on the
# real MariaDB: created, exists, case-sensitive openids, passwords, 405,
# healthz, busy while the lock is held. The error rows: it-hostile.sh.
# Pools: main
. "$REGONCE_SRCDIR/tests/lib.sh"

URL=$REGONCE_IT_URL
PIDS_BEFORE=$(pids main)
ROWS_BEFORE=$(sql "SELECT COUNT(*) FROM users")

# --- created, then exists --------------------------------------------
OPENID="it-$RUN-one"
PASSWORD="clear-text-pw-$RUN"
register "{\"openid\":\"$OPENID\",\"username\":\"Zhang San 张三\",\"password\":\"$PASSWORD\"}"
is "$STATUS $(field code) $(field message)" "200 0 注册成功" "a new openid is created"
USER_ID=$(field user_id)
is "$(sql "SELECT id FROM users WHERE openid = '$OPENID'")" "$USER_ID" "user_id is the row's id"
grep -q '^content-type: application/json; charset=utf-8$' <<<"${HEADERS,,}"
ok $? "the answer is JSON (Content-Type)"
is "$(sql "SELECT username FROM users WHERE openid = '$OPENID'")" "Zhang San 张三" \
	"the username keeps its UTF-8"

register "{\"openid\":\"$OPENID\",\"username\":\"other\",\"password\":\"another-pw\"}"
is "$STATUS $(field code) $(field message)" "200 -1 注册失败，Openid已存在" \
	"the same openid again is 'exists'"
is "$(rows "$OPENID")" 1 "still one row"

# A chunked body (no Content-Length): nginx reads it whole and passes it
# on with CONTENT_LENGTH (fastcgi_request_buffering), as doc/operations.md
# says.
request "$URL/register" POST -H 'Content-Type: application/json' \
	-H 'Transfer-Encoding: chunked' \
	--data-binary "{\"openid\":\"it-$RUN-chunked\",\"username\":\"u\",\"password\":\"password1\"}"
echo "# chunked through nginx: $STATUS $BODY"
is "$STATUS $(field code) $(rows "it-$RUN-chunked")" "200 0 1" \
	"a chunked body through nginx: 200 created, one row (as documented)"

# --- passwords --------------------------------------------------------
HASH=$(sql "SELECT password_hash FROM users WHERE openid = '$OPENID'")
case $HASH in '$argon2id$v=19$m=19456,t=2,p=1$'*) r=0 ;; *) r=1 ;; esac
ok $r "the password is stored as an argon2id PHC string (default cost)"
is "$(sql "SELECT COUNT(*) FROM users WHERE password_hash LIKE '%$PASSWORD%'")" 0 \
	"no clear password in the table"
! grep -rqF "$PASSWORD" "$VAR/log"
ok $? "no clear password in any log"

# --- openids are byte-exact --------------------------------------------
register "{\"openid\":\"it-$RUN-oAbC\",\"username\":\"u\",\"password\":\"12345678\"}"
A=$(field code)
register "{\"openid\":\"it-$RUN-oabc\",\"username\":\"u\",\"password\":\"12345678\"}"
is "$A $(field code)" "0 0" "oAbC and oabc are two users"
is "$(sql "SELECT COUNT(*) FROM users WHERE openid IN (BINARY 'it-$RUN-oAbC', BINARY 'it-$RUN-oabc')")" 2 \
	"two rows for them"

request "$URL/register" GET
is "$STATUS $(field error)" "405 method_not_allowed" "GET /register is 405"
grep -qi '^allow: POST$' <<<"$HEADERS"
ok $? "405 carries Allow: POST"
request "$URL/healthz" GET
is "$STATUS $BODY" '200 {"status":"ok"}' "healthz answers ok"

# --- busy: a test client holds the openid's named lock ------------------
BUSY="it-$RUN-busy"
NAME=$(lock_name "$BUSY")
lock_hold "$NAME"
ok $? "the test client holds the lock"
register "{\"openid\":\"$BUSY\",\"username\":\"u\",\"password\":\"12345678\"}"
is "$STATUS $(field code) $(field error)" "503 -3 busy" "a held lock gives 503 busy"
grep -qi '^retry-after: [0-9]' <<<"$HEADERS"
ok $? "busy carries Retry-After"
is "$(rows "$BUSY")" 0 "busy wrote nothing"
lock_drop
await 100 lock_free "$NAME"
register "{\"openid\":\"$BUSY\",\"username\":\"u\",\"password\":\"12345678\"}"
is "$STATUS $(field code)" "200 0" "once released, the same request is created"
lock_free "$NAME"
ok $? "and regonce released its lock"

# --- another database's lock: named locks are the server's, so the name
# says whose table it guards. The same openid's lock for database
# regonce_orig (held as above) must not hold up database regonce's. The
# busy case above is the control: the same hold, this database's name.
OTHER="it-$RUN-other-db"
NAME=$(lock_name "$OTHER" regonce_orig)
lock_hold "$NAME"
ok $? "the test client holds the openid's lock of another database"
register "{\"openid\":\"$OTHER\",\"username\":\"u\",\"password\":\"12345678\"}"
is "$STATUS $(field code)" "200 0" "another database's lock does not hold this one up"
lock_drop

# --- the pool survived all of it -----------------------------------------
is "$(pids main)" "$PIDS_BEFORE" "no worker died (same PIDs)"
is "$(sql "SELECT COUNT(*) FROM users") " "$((ROWS_BEFORE + 6)) " "exactly the 6 good registrations (the chunked one too) wrote rows"

done_testing
