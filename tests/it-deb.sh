#!/usr/bin/env bash
# The Debian package: dpkg-buildpackage builds it from a copy of the tree
# (this one is never cleaned), lintian finds no error, it installs, the
# installed service runs as its unit's ExecStart and User say against the
# test database and registers a user through nginx, and a purge leaves
# none of its files behind.
# Pools: deb (the installed package's own pool; main's database settings)
set -u
. "$REGONCE_SRCDIR/tests/lib.sh"

URL=${REGONCE_IT_URL_DEB:-}
skip() { echo "1..0 # SKIP $*"; exit 0; }
[ -n "$URL" ] || skip "no nginx server for the package (./stack check sets one)"
[ "${REGONCE_IT_SANITIZE:-0}" = 0 ] || skip "the package is built the same in the sanitizer pass"
[ "$(id -u)" -eq 0 ] || skip "installing a package needs root"
for tool in dpkg-buildpackage dh lintian git setpriv; do
	command -v "$tool" >/dev/null || skip "$tool is missing"
done
git -C "$REGONCE_SRCDIR" rev-parse >/dev/null 2>&1 || skip "not a git checkout"

WORK=$(mktemp -d)
MW=""
APT=(apt-get -y -qq -o DPkg::Lock::Timeout=300)
cleanup() {
	if [ -n "$MW" ] && kill -0 "$MW" 2>/dev/null; then
		kill -TERM "$MW"
		wait "$MW" 2>/dev/null
	fi
	if dpkg-query -W -f='${Status}' regonce 2>/dev/null | grep -q installed; then
		DEBIAN_FRONTEND=noninteractive "${APT[@]}" purge regonce >/dev/null 2>&1
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# --- build from a copy: the files git knows (committed or not) ----------
mkdir "$WORK/src"
git -C "$REGONCE_SRCDIR" ls-files -z --cached --others --exclude-standard |
	tar -C "$REGONCE_SRCDIR" --null -T - -cf - | tar -C "$WORK/src" -xf -
# A clean environment, as a build daemon's: the package's own make check
# must not see this run's stack (its integration tests skip there).
(cd "$WORK/src" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$WORK" \
	dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1
status=$?
ok $status "dpkg-buildpackage -us -uc -b builds from a copy of the tree"
[ $status -eq 0 ] || tail -20 "$WORK/build.log" | sed 's/^/# /'
DEB=$(find "$WORK" -maxdepth 1 -name 'regonce_*_*.deb' ! -name '*dbgsym*' | head -n 1)
[ -n "$DEB" ] || { echo "Bail out! no .deb was built"; exit 1; }

lint=$(lintian --fail-on error "$DEB" 2>&1)
ok $? "lintian finds no error ($(grep -c '^W:' <<<"$lint") warnings)"
grep '^[EW]:' <<<"$lint" | sed 's/^/# /'

contents=$(dpkg-deb -c "$DEB")
missing=""
for file in ./usr/sbin/regonce ./usr/sbin/regonce-spawn ./usr/bin/regonce-replay \
	./usr/share/regonce/sql/001_users.sql ./usr/share/regonce/nginx-regonce.conf \
	./usr/share/regonce/apache-regonce.conf ./lib/systemd/system/regonce.service \
	./usr/lib/tmpfiles.d/regonce.conf ./usr/share/man/man8/regonce.8.gz \
	./usr/share/man/man5/regonce.conf.5.gz ./usr/share/man/man1/regonce-replay.1.gz ./usr/share/man/man8/regonce-spawn.8.gz \
	./etc/regonce.conf; do
	grep -q " $file\$" <<<"$contents" || missing+=" $file"
done
is "$missing" "" "the package holds the worker, tools, schema, snippets, unit and man pages"
is "$(awk '$NF == "./etc/regonce.conf" { print $1 }' <<<"$contents")" "-rw-r-----" \
	"its /etc/regonce.conf is 0640"

# --- install, run as the unit does ------------------------------------
DEBIAN_FRONTEND=noninteractive "${APT[@]}" install "$DEB" >"$WORK/install.log" 2>&1
ok $? "the package installs"
is "$(stat -c '%U:%G %a' /etc/regonce.conf 2>&1)" "root:regonce 640" \
	"postinst gives /etc/regonce.conf to group regonce"

UNIT=/lib/systemd/system/regonce.service
user=$(sed -n 's/^User=//p' "$UNIT")
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
mapfile -t unit_env < <(sed -n 's/^Environment=//p' "$UNIT")
is "$user $exec_start" "regonce /usr/sbin/regonce-spawn --supervise" \
	"the unit runs regonce-spawn --supervise as regonce"
# The test database, as an admin would set it; the socket where the
# stack's nginx looks for it (in the unit: /run/regonce/regonce.sock).
grep '^db_' "$VAR/pools/main.conf" >>/etc/regonce.conf
printf '%s\n' "log_file = $VAR/log/regonce-deb.log" "argon2_memory_kib = 8" \
	"argon2_iterations = 1" >>/etc/regonce.conf
: >>"$VAR/log/regonce-deb.log"
chown "$user:$user" "$VAR/log/regonce-deb.log"
rm -f "$VAR/run/deb/regonce.sock"	# so the await below sees the new one
# setpriv execs (runuser would stay as a parent): the PID is multiwatch's.
# shellcheck disable=SC2086 # exec_start is a command line
setpriv --reuid="$user" --regid="$user" --init-groups -- \
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	"${unit_env[@]}" REGONCE_SOCKET="$VAR/run/deb/regonce.sock" \
	$exec_start >>"$VAR/log/spawn-fcgi.log" 2>&1 &
MW=$!
await 100 test -S "$VAR/run/deb/regonce.sock"
ok $? "the installed service opens its socket"
register "{\"openid\":\"deb-$RUN\",\"username\":\"u\",\"password\":\"password1\"}" "$URL"
is "$STATUS $(field code)" "200 0" "it registers a user through nginx"
is "$(rows "deb-$RUN")" 1 "one row"
workers=$(ps -o user= --ppid "$MW" | sort -u | paste -sd' ')
is "$(ps -o comm= -p "$MW") $workers" "multiwatch regonce" \
	"multiwatch and its workers run as regonce"
nworkers=$(wc -w <<<"$(ps -o pid= --ppid "$MW")")
stopped_before=$(grep -c 'worker stopping' "$VAR/log/regonce-deb.log")
kill -TERM "$MW"
wait "$MW"
is "$?" 0 "TERM stops the service cleanly"
MW=""
# A graceful stop is logged; a worker killed by a wrong signal logs nothing.
is "$(($(grep -c 'worker stopping' "$VAR/log/regonce-deb.log") - stopped_before))" "$nworkers" \
	"each of its $nworkers workers stops gracefully"

# --- purge -------------------------------------------------------------
files=$(dpkg -L regonce | while read -r path; do [ -d "$path" ] || echo "$path"; done)
DEBIAN_FRONTEND=noninteractive "${APT[@]}" purge regonce >"$WORK/purge.log" 2>&1
ok $? "the package purges"
left=""
for path in $files /etc/regonce.conf /var/log/regonce; do
	[ -e "$path" ] && left+=" $path"
done
is "$left" "" "no file of the package is left ($(wc -w <<<"$files") files checked)"

done_testing
