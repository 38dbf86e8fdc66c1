#!/usr/bin/env bash
# make install into a DESTDIR puts every file a package ships where the
# configured directories say, with those directories written into the
# generated files; make uninstall takes every file away again.
# Pools: none (static)
set -u
SRC=${REGONCE_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${REGONCE_BUILDDIR:-$SRC}
. "$SRC/tests/tap.sh"

# A make of its own, not a job of the make running this test.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$BUILD" "$@"; }
# dir VAR: an installation directory as the build's Makefile expands it.
# shellcheck disable=SC2016 # $($*) is make's, not the shell's
dir() { mk -f Makefile -f - "print-$1" <<<'print-%: ; @echo $($*)'; }

DEST=$(mktemp -d)
trap 'rm -rf "$DEST"' EXIT
prefix=$(dir prefix)
sbindir=$(dir sbindir)
sysconfdir=$(dir sysconfdir)
unitdir=$(dir systemdsystemunitdir)
tmpfilesdir=$(dir tmpfilesdir)
pkgdatadir=$(dir pkgdatadir)
mandir=$(dir mandir)
docdir=$(dir docdir)
have_curl=$(dir HAVE_CURL_TRUE)

log=$(mk install DESTDIR="$DEST" 2>&1)
status=$?
ok $status "make install DESTDIR=... (prefix $prefix, sysconfdir $sysconfdir)"
[ $status -eq 0 ] || printf '# %s\n' "$log" | tail -20

want="$sbindir/regonce $sbindir/regonce-spawn
$docdir/examples/regonce.conf.example $docdir/examples/regonce.logrotate
$pkgdatadir/sql/001_users.sql $pkgdatadir/sql/002_idempotency_keys.sql
$pkgdatadir/sql/003_idempotency_expiry.sql
$pkgdatadir/nginx-regonce.conf $pkgdatadir/apache-regonce.conf
$mandir/man8/regonce.8 $mandir/man8/regonce-spawn.8
$mandir/man5/regonce.conf.5 $docdir/LICENSE $docdir/NEWS"
[ -z "$have_curl" ] && want+=" $(dir bindir)/regonce-replay $mandir/man1/regonce-replay.1"
want+=" $(dir bindir)/regonce-migrate $mandir/man1/regonce-migrate.1"
[ "$unitdir" != no ] && want+=" $unitdir/regonce.service $tmpfilesdir/regonce.conf"
missing=""
for file in $want; do
	[ -f "$DEST$file" ] || missing+=" $file"
done
is "$missing" "" "every file a package ships is installed ($(wc -w <<<"$want") files)"

# A package may put the unit elsewhere (Debian 12: /lib/systemd/system).
outside=$(cd "$DEST" && find . -type f | sed 's|^\.||' |
	grep -v -e "^$prefix/" -e "^$sysconfdir/" -e "^$unitdir/" \
		-e "^$tmpfilesdir/" | paste -sd' ')
is "$outside" "" "nothing is installed outside the prefix, sysconfdir and unit dirs"

[ -x "$DEST$sbindir/regonce" ] && [ -x "$DEST$sbindir/regonce-spawn" ]
ok $? "the worker and the spawn wrapper are executable"
version=$("$DEST$sbindir/regonce" --version 2>&1)
[[ "$version" == "regonce "* ]]
ok $? "the installed worker runs ($version)"

spawn=$DEST$sbindir/regonce-spawn
grep -q "REGONCE_BIN:=$sbindir/regonce}" "$spawn" &&
	grep -q "REGONCE_CONF:=$sysconfdir/regonce.conf}" "$spawn"
ok $? "regonce-spawn names the configured sbindir and sysconfdir"
bash -n "$spawn" && head -n 1 "$spawn" | grep -qx '#!/bin/bash'
ok $? "regonce-spawn is valid bash, and says so on its first line"
if [ "$unitdir" != no ]; then
	grep -qx "ExecReload=$sbindir/regonce-spawn --reload" \
		"$DEST$unitdir/regonce.service"
	ok $? "regonce.service reloads through the installed regonce-spawn"
	grep -qx "ExecStart=$sbindir/regonce-spawn --supervise" \
		"$DEST$unitdir/regonce.service"
	ok $? "regonce.service starts the configured regonce-spawn"
fi
left=$(grep -l '@[a-z]*dir@' "$spawn" "$DEST$unitdir/regonce.service" 2>/dev/null)
is "$left" "" "no @dir@ placeholder is left in the generated files"

mk uninstall DESTDIR="$DEST" >/dev/null 2>&1
ok $? "make uninstall DESTDIR=..."
remaining=$(cd "$DEST" && find . ! -type d | paste -sd' ')
is "$remaining" "" "make uninstall leaves no files behind"

done_testing
