#!/usr/bin/env bash
# Static check: no SQL is built from strings in fcgi-app/ or tools/. Request data
# reaches SQL only as bound parameters of prepared statements. The same
# check runs over a known-bad sample first, to show it can fail.
set -u
SRC=${REGONCE_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$SRC/tests/tap.sh"

# string_built_sql FILE...: print lines that format or concatenate SQL.
string_built_sql() {
	grep -nE '(printf|strcat|strcpy|strncat|asprintf)[[:space:]]*\(.*(SELECT|INSERT|UPDATE|DELETE|REPLACE) ' "$@"
	grep -nE '"[^"]*(SELECT|INSERT|UPDATE|DELETE|REPLACE) [^"]*%[-0-9.]*[sdulx]' "$@"
	# Statements are run only as constants: db_query("..."), or prepared.
	grep -nE 'db_query\(db, [^"]' "$@" | grep -v '? *$' | grep -v 'db_query(db, isolation)'
	grep -nE 'mysql_(real_)?query\(' "$@" | grep -v 'mysql_real_query(db->conn, sql, strlen(sql))'
}

BAD=$(mktemp --suffix=.c)
cat >"$BAD" <<'C'
	snprintf(q, sizeof(q), "SELECT id FROM users WHERE openid = '%s'", openid);
	mysql_query(conn, q);
C
string_built_sql "$BAD" >/dev/null
ok $? "the check finds SQL built with snprintf in a known-bad sample"
rm -f "$BAD"

found=$(string_built_sql "$SRC"/fcgi-app/*.c "$SRC"/tools/*.c)
[ -z "$found" ]
ok $? "no SQL is built from strings in fcgi-app/ and tools/"
[ -n "$found" ] && printf '# %s\n' "$found"

done_testing
