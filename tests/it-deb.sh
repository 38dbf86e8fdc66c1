#!/usr/bin/env bash
# The Debian package: dpkg-buildpackage builds it from a copy of the tree
# (this one is never cleaned), lintian finds no error, it installs, the
# installed service runs as its unit's ExecStart and User say against the
# test database and registers a user through nginx; without systemd, the
# init script starts, reports, reloads and stops the pool, refuses a
# second start, and the packaged config logs to /var/log/regonce, which
# logrotate rotates with the pool running; a purge with the pool running
# leaves no process and none of its files behind.
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
	./etc/regonce.conf ./etc/init.d/regonce ./etc/default/regonce \
	./etc/logrotate.d/regonce; do
	grep -q " $file\$" <<<"$contents" || missing+=" $file"
done
is "$missing" "" "the package holds the worker, tools, schema, snippets, unit, init script, defaults, logrotate and man pages"
is "$(awk '$NF == "./etc/regonce.conf" { print $1 }' <<<"$contents")" "-rw-r-----" \
	"its /etc/regonce.conf is 0640"

# --- install, run as the unit does ------------------------------------
DEBIAN_FRONTEND=noninteractive "${APT[@]}" install "$DEB" >"$WORK/install.log" 2>&1
ok $? "the package installs"
is "$(stat -c '%U:%G %a' /etc/regonce.conf 2>&1)" "root:regonce 640" \
	"postinst gives /etc/regonce.conf to group regonce"
is "$(stat -c '%U:%G %a' /var/log/regonce 2>&1)" "regonce:adm 750" \
	"postinst makes /var/log/regonce, the workers' own"
grep -qx 'log_file = /var/log/regonce/regonce.log' /etc/regonce.conf
ok $? "the packaged config logs to /var/log/regonce/regonce.log"
grep -qx 'hash_cap_dir = /run/regonce/hash-cap' /etc/regonce.conf
ok $? "the packaged config caps hashes at the cores (/run/regonce/hash-cap)"

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
# setpriv execs (runuser would stay as a parent): the PID is the
# supervisor's (it writes it to the pid file in the socket's folder).
# shellcheck disable=SC2086 # exec_start is a command line
setpriv --reuid="$user" --regid="$user" --init-groups -- \
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	"${unit_env[@]}" REGONCE_SOCKET="$VAR/run/deb/regonce.sock" \
	REGONCE_PIDFILE="$VAR/run/deb/regonce.pid" \
	$exec_start >>"$VAR/log/spawn-fcgi.log" 2>&1 &
MW=$!
await 100 test -S "$VAR/run/deb/regonce.sock"
ok $? "the installed service opens its socket"
register "{\"openid\":\"deb-$RUN\",\"username\":\"u\",\"password\":\"password1\"}" "$URL"
is "$STATUS $(field code)" "200 0" "it registers a user through nginx"
is "$(rows "deb-$RUN")" 1 "one row"
# kids PID: the worker children of supervisor PID, "pid user" lines.
kids() {
	ps -o pid=,user=,comm=,stat= --ppid "$1" |
		awk '$3 == "regonce" && $4 !~ /^Z/ { print $1, $2 }'
}
workers=$(kids "$MW" | awk '{ print $2 }' | sort -u | paste -sd' ')
is "$(ps -o comm= -p "$MW") $(ps -o user= -p "$MW") $workers" \
	"regonce-spawn regonce regonce" \
	"the supervisor (regonce-spawn) and its workers run as regonce"
nworkers=$(kids "$MW" | wc -l)
stopped_before=$(grep -c 'worker stopping' "$VAR/log/regonce-deb.log")
kill -TERM "$MW"
wait "$MW"
is "$?" 0 "TERM stops the service cleanly"
MW=""
# A graceful stop is logged; a worker killed by a wrong signal logs nothing.
is "$(($(grep -c 'worker stopping' "$VAR/log/regonce-deb.log") - stopped_before))" "$nworkers" \
	"each of its $nworkers workers stops gracefully"

# --- without systemd: the init script, /etc/default, logs ---------------
INIT=/etc/init.d/regonce
PIDFILE=/run/regonce/regonce.pid
PLOG=/var/log/regonce/regonce.log
printf 'REGONCE_SOCKET=%s\nREGONCE_WORKERS=2\n' "$VAR/run/deb/regonce.sock" \
	>/etc/default/regonce
# The packaged log file this time (a later key wins).
echo "log_file = $PLOG" >>/etc/regonce.conf
rm -f "$VAR/run/deb/regonce.sock"
out=$("$INIT" start 2>&1)
is "$?" 0 "init script: start ($out)"
SUP=$(head -n 1 "$PIDFILE" 2>/dev/null)
full() { [ "$(kids "$SUP" | wc -l)" -eq 2 ]; }
await 100 full
FIRST=$(kids "$SUP" | awk '{ print $1 }' | sort -n | paste -sd' ')
is "$(ps -o comm= -p "$SUP") $(wc -w <<<"$FIRST")" "regonce-spawn 2" \
	"... the supervisor in $PIDFILE (pid $SUP) runs the 2 workers /etc/default/regonce asks for"
register "{\"openid\":\"deb-init-$RUN\",\"username\":\"u\",\"password\":\"password1\"}" "$URL"
is "$STATUS $(field code)" "200 0" "... and registers a user through nginx"
logged() { grep -q "openid=deb-init-$RUN " "$PLOG"; }
await 100 logged
ok $? "... logged in $PLOG, out of the box"
is "$(stat -c '%U %a' /run/regonce/hash-cap/hash-0 2>&1)" "regonce 600" \
	"... its password hashed holding a slot in /run/regonce/hash-cap"
out=$("$INIT" status 2>&1)
is "$?:$(grep -c "running (pid $SUP)" <<<"$out")" "0:1" "init script: status says running ($out)"
metrics_id=$(stat -c '%i %Y' /run/regonce/regonce.metrics 2>&1)
out=$("$INIT" start 2>&1)
echo "# $out"
grep -q "already running" <<<"$out"
ok $? "init script: a second start says it is already running"
is "$(head -n 1 "$PIDFILE") $(kids "$SUP" | awk '{ print $1 }' | sort -n | paste -sd' ')" \
	"$SUP $FIRST" "... and starts nothing: the same supervisor and workers"
is "$(stat -c '%i %Y' /run/regonce/regonce.metrics 2>&1)" "$metrics_id" \
	"... and leaves the live metrics file alone"
out=$("$INIT" reload 2>&1)
is "$?" 0 "init script: reload ($out)"
renewed() {
	local now pid
	now=$(kids "$SUP" | awk '{ print $1 }')
	[ "$(wc -w <<<"$now")" -eq 2 ] || return 1
	for pid in $FIRST; do grep -qw "$pid" <<<"$now" && return 1; done
	return 0
}
await 300 renewed
ok $? "... every worker is replaced ($(kids "$SUP" | awk '{ print $1 }' | paste -sd' '))"
# logrotate as cron runs it: the file moves away, the pool is told.
if command -v logrotate >/dev/null; then
	logrotate -f -s "$WORK/logrotate.state" /etc/logrotate.d/regonce \
		>"$WORK/logrotate.log" 2>&1
	ok $? "logrotate rotates /var/log/regonce with the installed /etc/logrotate.d/regonce"
	sed 's/^/# /' "$WORK/logrotate.log"
	register "{\"openid\":\"deb-rot-$RUN\",\"username\":\"u\",\"password\":\"password1\"}" "$URL"
	is "$STATUS $(field code)" "200 0" "after the rotation the pool serves"
	rotated() { grep -q "openid=deb-rot-$RUN " "$PLOG"; }
	await 100 rotated
	ok $? "... and logs to the new $PLOG (the reopen reached the workers)"
else
	ok 0 "# SKIP logrotate is missing (Debian package logrotate)"
fi
out=$("$INIT" stop 2>&1)
is "$?" 0 "init script: stop ($out)"
left=""
for pid in $SUP $FIRST; do alive "$pid" && left+=" $pid"; done
is "$left" "" "... and nothing of the pool is left"
"$INIT" status >/dev/null 2>&1
is "$?" 3 "init script: status after stop is 3 (not running)"

# --- purge with the pool running ------------------------------------------
out=$("$INIT" start 2>&1)
is "$?" 0 "init script: start again"
SUP=$(head -n 1 "$PIDFILE" 2>/dev/null)
await 100 full
RUNNING="$SUP $(kids "$SUP" | awk '{ print $1 }' | paste -sd' ')"
files=$(dpkg -L regonce | while read -r path; do [ -d "$path" ] || echo "$path"; done)
DEBIAN_FRONTEND=noninteractive "${APT[@]}" purge regonce >"$WORK/purge.log" 2>&1
ok $? "the package purges, its pool running ($RUNNING)"
left=""
for pid in $RUNNING; do alive "$pid" && left+=" $pid"; done
is "$left" "" "... and no process of that pool is left"
left=""
for path in $files /etc/regonce.conf /var/log/regonce /etc/default/regonce \
	/etc/init.d/regonce; do
	[ -e "$path" ] && left+=" $path"
done
is "$left" "" "no file of the package is left ($(wc -w <<<"$files") files checked)"

done_testing
