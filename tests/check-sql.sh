#!/usr/bin/env bash
# Static check: no SQL is built from strings in fcgi-app/ or tools/. Request data
# reaches SQL only as bound parameters of prepared statements. The same
# check runs over a known-bad sample first, to show it can fail.
# Pools: none (static)
set -u
SRC=${REGONCE_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$SRC/tests/tap.sh"

# The one exception: db_lock.c writes a named lock's name into the text of its
# lock queries, alone or paired (GET_LOCK + START TRANSACTION, COMMIT +
# RELEASE_LOCK).
# That name is a digest's hex digits, refused by db_lock_name_ok() if it
# is anything else (tests/test_db.c: test_lock_name_checked).
LOCK_TEXT="\"SELECT (GET_LOCK\\('%s', %u\\.%03u\\)|RELEASE_LOCK\\('%s'\\))\""

# string_built_sql FILE...: print lines that format or concatenate SQL.
string_built_sql() {
	grep -nE '(printf|strcat|strcpy|strncat|asprintf)[[:space:]]*\(.*(SELECT|INSERT|UPDATE|DELETE|REPLACE) ' "$@" |
		grep -vE "$LOCK_TEXT"
	grep -nE '"[^"]*(SELECT|INSERT|UPDATE|DELETE|REPLACE) [^"]*%[-0-9.]*[sdulx]' "$@" |
		grep -vE "$LOCK_TEXT"
	# Statements are run only as constants: db_query("..."), or prepared.
	grep -nE 'db_query\(db, [^"]' "$@" | grep -v '? *$' | grep -v 'db_query(db, isolation)'
	grep -nE 'mysql_(real_)?query\(' "$@" | grep -v 'mysql_real_query(db->conn, sql, strlen(sql))'
	# Every lock text is formatted after its name was checked.
	local f
	for f in "$@"; do
		awk '/db_lock_name_ok\(name\)/ { checked = 1 }
		    /^}/ { checked = 0 }
		    /snprintf\(lock_sql/ && !checked { print FILENAME ":" FNR ": " $0 }' "$f"
	done
}

BAD=$(mktemp --suffix=.c)
cat >"$BAD" <<'C'
	snprintf(q, sizeof(q), "SELECT id FROM users WHERE openid = '%s'", openid);
	mysql_query(conn, q);
C
string_built_sql "$BAD" >/dev/null
ok $? "the check finds SQL built with snprintf in a known-bad sample"
cat >"$BAD" <<'C'
	snprintf(lock_sql, sizeof(lock_sql), "SELECT RELEASE_LOCK('%s')",
C
[ -n "$(string_built_sql "$BAD")" ]
ok $? "the check finds a lock text formatted without db_lock_name_ok"
rm -f "$BAD"

found=$(string_built_sql "$SRC"/fcgi-app/*.c "$SRC"/tools/*.c)
[ -z "$found" ]
ok $? "no SQL is built from strings in fcgi-app/ and tools/"
[ -n "$found" ] && printf '# %s\n' "$found"

done_testing
