#!/usr/bin/env bash
# The man pages against the programs they describe: regonce.conf(5)
# documents exactly the keys "regonce -T" prints, with the defaults it
# prints; every page formats without a groff warning; -h and --version
# answer as the pages say. The key comparison runs over a page with a
# key taken out first, to show it can fail.
# Pools: none (static)
set -u
SRC=${REGONCE_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${REGONCE_BUILDDIR:-$SRC}
WORKER=$BUILD/fcgi-app/regonce
REPLAY=$BUILD/tools/regonce-replay
PAGES="$SRC/fcgi-app/regonce.8 $SRC/fcgi-app/regonce.conf.5 $SRC/tools/regonce-replay.1
	$SRC/tests/bench/dbbench.1
	$SRC/conf/regonce-spawn.8"

. "$SRC/tests/tap.sh"

command -v groff >/dev/null || { echo "Bail out! groff is missing (groff-base)"; exit 1; }
[ -x "$WORKER" ] || { echo "Bail out! $WORKER is not built"; exit 1; }

# documented PAGE: "key = default" for each ".B key = default" entry.
documented() {
	sed -n 's/^\.B \([a-z0-9_]*\) =\(.*\)$/\1 =\2/p' "$1" |
		sed -e 's/\\-/-/g' -e 's/ *$//' | sort
}

# effective: "key = value" as the worker prints it, defaults only (no
# file, no REGONCE_* from this environment).
effective() {
	env -i "$WORKER" -T | sed 's/ *$//' | sort
}

# key_drift PAGE: keys one side has and the other lacks, as "+key" (only
# the program) and "-key" (only the page); nothing when they agree.
key_drift() {
	comm -3 <(effective | cut -d' ' -f1) <(documented "$1" | cut -d' ' -f1) |
		sed -e 's/^\t/-/' -e 's/^\([^-]\)/+\1/'
}

CONF5=$SRC/fcgi-app/regonce.conf.5
BAD=$(mktemp)
sed '0,/^\.B [a-z0-9_]* =/{/^\.B [a-z0-9_]* =/d}' "$CONF5" >"$BAD"
[ -n "$(key_drift "$BAD")" ]
ok $? "the key comparison notices a page with one key taken out"
rm -f "$BAD"

[ "$(effective | wc -l)" -gt 10 ]
ok $? "regonce -T prints the configuration ($(effective | wc -l) keys)"
drift=$(key_drift "$CONF5")
is "$drift" "" "regonce.conf(5) documents every key regonce -T prints, and no other"
wrong=$(comm -3 <(effective) <(documented "$CONF5") | paste -sd'|')
is "$wrong" "" "regonce.conf(5) shows the defaults regonce -T prints"
masked=$(env -i REGONCE_DB_PASSWORD=s3cret "$WORKER" -T | grep '^db_password =')
is "$masked" "db_password = ********" "regonce -T masks a set db_password"

for page in $PAGES; do
	warnings=$(groff -ww -z -man "$page" 2>&1)
	is "$warnings" "" "groff -ww formats $(basename "$page") without warnings"
done

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$BUILD/config.h")
# usage_ok PROGRAM NAME: -h/--help print usage to stdout and exit 0,
# -V/--version print "NAME VERSION", an unknown option exits 2 with the
# usage on stderr only.
usage_ok() {
	local prog=$1 name=$2 opt out err status
	for opt in -h --help; do
		out=$("$prog" "$opt" 2>/dev/null); status=$?
		[ $status -eq 0 ] && [[ "$out" == "usage: $name "* ]]
		ok $? "$name $opt prints the usage to stdout and exits 0"
	done
	for opt in -V --version; do
		out=$("$prog" "$opt"); status=$?
		is "$out:$status" "$name $version:0" "$name $opt prints its version"
	done
	out=$("$prog" --no-such-option 2>/dev/null); status=$?
	err=$("$prog" --no-such-option 2>&1 >/dev/null)
	[ $status -eq 2 ] && [ -z "$out" ] && [[ "$err" == *"usage: $name "* ]]
	ok $? "$name with an unknown option exits 2, usage on stderr"
}
usage_ok "$WORKER" regonce
if [ -x "$REPLAY" ]; then
	usage_ok "$REPLAY" regonce-replay
else
	ok 0 "# SKIP regonce-replay is not built (no libcurl)"
fi

done_testing
