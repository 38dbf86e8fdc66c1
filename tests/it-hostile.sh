#!/usr/bin/env bash
# Integration: hostile and malformed requests through nginx (and a few
# straight to the worker's FastCGI socket, for what nginx never lets by).
# Each gets its documented status and JSON error; the refused ones write
# nothing; SQL metacharacters that are valid data are stored literally;
# and no worker dies (same PIDs at the end).
# Pools: main
. "$REGONCE_SRCDIR/tests/lib.sh"

URL=$REGONCE_IT_URL
P="h-$RUN"
PIDS_BEFORE=$(pids main)
OK_FIELDS='"username":"u","password":"12345678"'
L256=$(printf 'o%.0s' $(seq 256))
U256=$(printf 'u%.0s' $(seq 256))
P1025=$(printf 'p%.0s' $(seq 1025))
MIB=$(head -c 1048576 /dev/zero | tr '\0' 'o')

# case STATUS ERROR FIELD CONTENT-TYPE BODY: POST it, check the answer.
# A BODY starting with "raw:" has printf %b escapes turned into bytes.
n_cases=0
check_case() {
	local want="$1 $2 $3" ctype=$4 body=$5 label
	label="${2:-ok}${3:+ ($3)}: $(printf '%.50s' "${body#raw:}")"
	if [ "${body#raw:}" != "$body" ]; then
		body=$(printf '%b' "${body#raw:}")
	fi
	request "$URL/register" POST -H "Content-Type: $ctype" --data-binary @- <<<"$body"
	is "$STATUS $(field error) $(field field)" "$want" "$label"
	n_cases=$((n_cases + 1))
}

J=application/json
while IFS='|' read -r st err fld ctype body; do
	[ -n "$st" ] && check_case "$st" "$err" "$fld" "$ctype" "$body"
done <<EOF2
400|invalid_json||$J|{"openid":
400|invalid_json||$J|not json at all
400|invalid_json||$J|{"openid":"$P-1",$OK_FIELDS} trailing
400|invalid_json||$J|{"openid":"$P-2",$OK_FIELDS,}
400|invalid_json||$J|{openid:"$P-3",$OK_FIELDS}
400|invalid_json||$J|{'openid':'$P-4'}
400|invalid_json||$J|{"openid":"$P-5",$OK_FIELDS
400|invalid_json||$J|{"a":[[[[[[[[[[1]]]]]]]]]]}
400|invalid_json||$J|/* comment */ {"openid":"$P-6",$OK_FIELDS}
400|invalid_json||$J|[1,2,3]
400|invalid_json||$J|"a string"
400|invalid_json||$J|42
400|invalid_json||$J|null
400|invalid_json||$J|true
400|invalid_json||$J|[]
400|invalid_field|openid|$J|{"openid":{"x":1},$OK_FIELDS}
400|invalid_field|openid|$J|{"openid":["$P-7"],$OK_FIELDS}
400|invalid_field|openid|$J|{"openid":42,$OK_FIELDS}
400|invalid_field|openid|$J|{"openid":true,$OK_FIELDS}
400|invalid_field|openid|$J|{"openid":null,$OK_FIELDS}
400|invalid_field|openid|$J|{$OK_FIELDS}
400|invalid_field|username|$J|{"openid":"$P-8","username":123,"password":"12345678"}
400|invalid_field|password|$J|{"openid":"$P-9","username":"u","password":false}
400|invalid_field|password|$J|{"openid":"$P-10","username":"u","password":{"p":"12345678"}}
400|invalid_field|openid|$J|{"openid":"",$OK_FIELDS}
400|invalid_field|username|$J|{"openid":"$P-11","username":"","password":"12345678"}
400|invalid_field|password|$J|{"openid":"$P-12","username":"u","password":""}
400|invalid_field|openid|$J|{"openid":"$P-13\u0000x",$OK_FIELDS}
400|invalid_field|username|$J|{"openid":"$P-14","username":"a\u0000b","password":"12345678"}
400|invalid_field|password|$J|{"openid":"$P-15","username":"u","password":"1234\u00005678"}
400|invalid_json||$J|raw:{"openid":"$P-16","username":"\xff\xfe","password":"12345678"}
400|invalid_json||$J|raw:{"openid":"$P-17\xc3\x28",$OK_FIELDS}
400|invalid_field|username|$J|raw:{"openid":"$P-18","username":"\xc0\xaf","password":"12345678"}
400|invalid_field|username|$J|raw:{"openid":"$P-19","username":"\xed\xa0\x80","password":"12345678"}
400|invalid_field|username|$J|raw:{"openid":"$P-20","username":"\xf4\x90\x80\x80","password":"12345678"}
400|invalid_field|openid|$J|{"openid":"$L256",$OK_FIELDS}
413|body_too_large||$J|{"openid":"$MIB",$OK_FIELDS}
400|invalid_field|username|$J|{"openid":"$P-21","username":"$U256","password":"12345678"}
400|invalid_field|password|$J|{"openid":"$P-22","username":"u","password":"$P1025"}
400|invalid_field|username|$J|{"openid":"$P-23","username":"a\u0007b","password":"12345678"}
400|invalid_field|username|$J|{"openid":"$P-24","username":"line\nbreak","password":"12345678"}
400|invalid_field|openid|$J|{"openid":"$P-25\tx",$OK_FIELDS}
400|invalid_json||$J|raw:{"openid":"$P-26","username":"a\x01b","password":"12345678"}
400|invalid_json||$J|raw:{"openid":"$P-31","username":"u","password":"1234\t5678"}
400|invalid_json||$J|raw:{"openid":"$P-32",$OK_FIELDS,"note":"a\nb"}
400|invalid_json||$J|{"openid":"$P-33",$OK_FIELDS,"x":NaN}
400|invalid_json||$J|{"openid":"$P-34",$OK_FIELDS,"x":Infinity}
400|invalid_json||$J|{"openid":"$P-35",$OK_FIELDS,"x":[-Infinity]}
400|invalid_json||$J|raw:\xef\xbb\xbf{"openid":"$P-36",$OK_FIELDS}
400|invalid_field|password|$J|raw:{"openid":"$P-37","username":"u","password":"1234\xed\xa0\x805678"}
400|invalid_field|password|$J|raw:{"openid":"$P-38","username":"u","password":"1234\xf5\x80\x80\x805678"}
400|invalid_field|password|$J|raw:{"openid":"$P-39","username":"u","password":"1234\xc0\xaf5678"}
400|invalid_field|password|$J|raw:{"openid":"$P-40","username":"u","password":"1234\xc1\xbf5678"}
400|invalid_field|password|$J|raw:{"openid":"$P-41","username":"u","password":"1234\xe0\x80\xaf5678"}
400|invalid_field|password|$J|raw:{"openid":"$P-42","username":"u","password":"1234\xf0\x80\x80\xaf5678"}
400|invalid_field|password|$J|raw:{"openid":"$P-43","username":"u","password":"1234\xf4\x90\x80\x805678"}
400|invalid_field|password|$J|{"openid":"$P-44","username":"u","password":"1234\uffff5678"}
400|invalid_field|username|$J|{"openid":"$P-45","username":"a\ufdd0b","password":"12345678"}
400|invalid_field|openid|$J|{"openid":"' OR 1=1 --",$OK_FIELDS}
400|invalid_field|openid|$J|{"openid":"\"; DROP TABLE users; --",$OK_FIELDS}
415|unsupported_media_type||text/plain|{"openid":"$P-27",$OK_FIELDS}
415|unsupported_media_type||application/x-www-form-urlencoded|openid=$P-28&username=u
415|unsupported_media_type||application/jsonp|{"openid":"$P-29",$OK_FIELDS}
EOF2
is "$(sql "SELECT COUNT(*) FROM users WHERE openid LIKE '$P%'")" 0 \
	"none of the $n_cases refused bodies wrote a row"

# Valid data that looks like an attack is stored as it is, once.
while IFS='|' read -r openid username; do
	register "{\"openid\":\"$openid\",\"username\":\"$username\",\"password\":\"12345678\"}"
	is "$STATUS $(field code)" "200 0" "stored literally: $openid / $username"
	is "$(sql "SELECT username FROM users WHERE openid = BINARY '${openid//\'/\'\'}'")" \
		"$username" "the row holds exactly those bytes"
done <<EOF2
$P-x'OR'1'='1|u
$P-sqli-user|Robert'); DROP TABLE users;--
$P-%27%20OR%201%3D1|u
EOF2
is "$(sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'regonce' AND table_name = 'users'")" \
	1 "the users table is still there"

# I-JSON strings: an escaped lone surrogate would be stored as U+FFFD,
# which is not what the client sent, so it is refused; a proper pair is
# stored as its one 4-byte character.
register "{\"openid\":\"$P-surrogate\",\"username\":\"\\ud800\",\"password\":\"12345678\"}"
is "$STATUS $(field error) $(rows "$P-surrogate")" "400 invalid_json 0" \
	"a lone \\ud800 escape is refused, nothing written"
register "{\"openid\":\"$P-lowsur\",\"username\":\"a\\udc00b\",\"password\":\"12345678\"}"
is "$STATUS $(field error) $(rows "$P-lowsur")" "400 invalid_json 0" \
	"a lone \\udc00 escape is refused, nothing written"
register "{\"openid\":\"$P-pair\",\"username\":\"\\ud83d\\ude00\",\"password\":\"12345678\"}"
is "$STATUS $(field code) $(sql "SELECT HEX(username) FROM users WHERE openid = '$P-pair'")" \
	"200 0 F09F9880" "a paired \\ud83d\\ude00 escape is stored as U+1F600"

# The reasons name the problem and never quote the input.
request "$URL/register" POST -H "Content-Type: $J" \
	--data-binary "$(printf '\xef\xbb\xbf{"openid":"%s-bom",%s}' "$P" "$OK_FIELDS")"
is "$STATUS $(field error) $(field message)" \
	"400 invalid_json a byte order mark is not allowed" "a BOM is named as such"
request "$URL/register" POST -H "Content-Type: $J" \
	--data-binary "$(printf '{"openid":"%s-cesu","username":"u","password":"abcd\xed\xb0\x80efgh"}' "$P")"
is "$STATUS $(field error) $(field field)" "400 invalid_field password" \
	"a CESU-8 password is refused"
grep -q abcd <<<"$BODY"
ok $((!$?)) "the password's reason does not quote it"
register "{\"openid\":\"$P-ctlpw\",\"username\":\"u\",\"password\":\"tab\\there\\u0001\"}"
is "$STATUS $(field code)" "200 0" "escaped control characters are a valid password"

# Duplicate keys: json-c keeps the last one (documented in README).
register "{\"openid\":\"$P-first\",\"openid\":\"$P-last\",$OK_FIELDS}"
is "$STATUS $(field code) $(rows "$P-first") $(rows "$P-last")" "200 0 0 1" \
	"duplicate keys: the last one wins"

# Transport-level abuse through nginx.
request "$URL/register" POST -H "Content-Type: $J" -H 'Content-Length: 99999999' --data-binary 'short'
is "$STATUS $(field error)" "413 body_too_large" "huge Content-Length, short body: 413 unread"
request "$URL/register" POST -H "Content-Type: $J"
is "$STATUS $(field error)" "400 invalid_json" "POST without a body or Content-Length: 400"
request "$URL/register" POST --data-binary "{\"openid\":\"$P-30\",$OK_FIELDS}" -H 'Content-Type:'
is "$STATUS $(field error)" "415 unsupported_media_type" "no Content-Type: 415"
for method in GET PUT DELETE PATCH; do
	request "$URL/register" "$method" -H "Content-Type: $J" --data-binary '{}'
	is "$STATUS $(field error)" "405 method_not_allowed" "$method /register: 405"
done
request "$URL/register" POST -H "Content-Type: $J; charset=utf-8" \
	--data-binary "{\"openid\":\"$P-charset\",$OK_FIELDS}"
is "$STATUS $(field code)" "200 0" "application/json with a charset is fine"

# Straight to the worker: what nginx would never pass on.
fcgi() {
	local body=$1
	shift
	BODY=$(printf '%s' "$body" | env -i "$@" REQUEST_URI="${REQUEST_URI:-/register}" \
		cgi-fcgi -bind -connect "$VAR/run/main.sock" | tr -d '\r')
	STATUS=$(sed -n 's/^Status: \([0-9]*\).*/\1/p' <<<"$BODY" | head -n 1)
	BODY=$(sed '1,/^$/d' <<<"$BODY")
}
fcgi 'short' REQUEST_METHOD=POST CONTENT_TYPE=$J CONTENT_LENGTH=100
is "$STATUS $(field error)" "400 invalid_json" "FastCGI: body shorter than CONTENT_LENGTH: 400"
fcgi '{}' REQUEST_METHOD=POST CONTENT_TYPE=$J CONTENT_LENGTH=abc
is "$STATUS $(field error)" "400 invalid_json" "FastCGI: CONTENT_LENGTH not a number: 400"
fcgi '{}' REQUEST_METHOD=POST CONTENT_TYPE=$J CONTENT_LENGTH=99999999999999999999999
is "$STATUS $(field error)" "413 body_too_large" "FastCGI: CONTENT_LENGTH past max_body_bytes: 413 unread"
REQUEST_URI=/nowhere fcgi '' REQUEST_METHOD=GET
is "$STATUS $(field error)" "404 not_found" "FastCGI: unknown path: 404"
fcgi '' REQUEST_METHOD=POST CONTENT_TYPE=$J
is "$STATUS $(field error)" "400 invalid_json" "FastCGI: no CONTENT_LENGTH at all: 400"

is "$(sql "SELECT COUNT(*) FROM users WHERE openid LIKE '$P%'")" 7 \
	"only the 7 valid registrations wrote rows"
is "$(pids main)" "$PIDS_BEFORE" "no worker died (same PIDs)"

done_testing
