#!/usr/bin/env bash
# The self-contained worker (./configure --enable-static-binary; here the
# same link as tests/regonce-static): ldd lists only the C library's own
# objects (libc, libm, the loader, the vDSO; under --sanitize also the
# sanitizer runtimes), and it serves a request: GET /healthz through its
# FastCGI socket with the main pool's config answers 200.
# Negative control: the ordinary worker's ldd lists libfcgi and the other
# shared libraries, so the check can tell the two apart.
# Pools: main (its config and database)
. "$REGONCE_SRCDIR/tests/lib.sh"

STATIC=$REGONCE_BUILDDIR/tests/regonce-static
[ -x "$STATIC" ] || { echo "1..0 # SKIP no static libraries (libfcgi.a, libmariadb.a, ...): tests/regonce-static was not built"; exit 0; }
command -v cgi-fcgi >/dev/null || { echo "Bail out! cgi-fcgi is missing"; exit 1; }

# The shared objects ldd lists that are not the C library's own.
foreign() {
	local allowed='^(linux-vdso\.so|libc\.so|libm\.so|ld-linux-x86-64\.so|libpthread\.so|libdl\.so|librt\.so)'
	[ "${REGONCE_IT_SANITIZE:-0}" = 1 ] &&
		allowed+='|^(libasan\.so|libubsan\.so|libstdc\+\+\.so|libgcc_s\.so)'
	ldd "$1" | awk '{ print $1 }' | sed 's|.*/||' | grep -Ev "$allowed" | paste -sd' '
}
echo "# ldd $STATIC:"
ldd "$STATIC" | sed 's/^/#   /'
is "$(foreign "$STATIC")" "" "the static worker needs only the C library's objects"
ordinary=$(foreign "$REGONCE_BUILDDIR/fcgi-app/regonce")
grep -q libfcgi <<<"$ordinary"
ok $? "negative control: the ordinary worker needs libfcgi and more ($ordinary)"

RUN_USER=""
[ "$(id -u)" -eq 0 ] && RUN_USER=regonce
SOCK=$VAR/run/static-$RUN.sock PIDFILE=$VAR/run/static-$RUN.pid
trap 'stop_pids "$PIDFILE"; rm -f "$SOCK"' EXIT
env -i PATH=/usr/bin:/bin REGONCE_CONF="$VAR/pools/main.conf" \
	spawn-fcgi -s "$SOCK" -M 0666 -P "$PIDFILE" ${RUN_USER:+-u "$RUN_USER" -g "$RUN_USER"} \
	-- "$STATIC" >/dev/null 2>&1
await 50 test -S "$SOCK"
ok $? "the static worker starts under spawn-fcgi"
out=$(env -i REQUEST_METHOD=GET REQUEST_URI=/healthz REMOTE_ADDR=127.0.0.1 \
	cgi-fcgi -bind -connect "$SOCK" | tr -d '\r')
STATUS=$(sed -n '1s/^Status: \([0-9]*\).*/\1/p' <<<"$out")
BODY=$(sed '1,/^$/d' <<<"$out")
is "$STATUS $(field status)" "200 ok" "it serves: GET /healthz answers 200 ok"

done_testing
