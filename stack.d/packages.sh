# shellcheck shell=bash
# stack.d/packages.sh: the Debian packages each verb needs, installed when
# missing, and the build (autogen, configure, make) every verb runs first.

# The packages, by purpose; each verb installs the lists it needs.
# The build: the compiler, autotools and every library configure looks
# for (cmocka too: make check's unit tests exist only if configure found it).
PACKAGES_BUILD=(build-essential autoconf automake pkg-config libfcgi-dev
	libmariadb-dev libjson-c-dev libargon2-dev libssl-dev
	libcurl4-openssl-dev libcmocka-dev)
# What ./stack up runs: MariaDB, nginx, spawn-fcgi; curl for healthz.
PACKAGES_UP=(mariadb-server mariadb-client nginx spawn-fcgi curl)
# What the tests of ./stack check add: cgi-fcgi and jq (every it-*.sh),
# clang and libFuzzer (it-fuzz), valgrind, groff (check-man), multiwatch
# and systemd-analyze (it-supervise), apache2 (it-apache), mod_fcgid and
# suexec (it-fcgid, shared hosting), the package
# tools (it-deb), and what the cluster tests' ./stack cluster needs.
PACKAGES_CHECK=(libfcgi-bin jq clang libclang-rt-14-dev valgrind groff-base
	systemd apache2 libapache2-mod-fcgid apache2-suexec-pristine
	debhelper lintian galera-4 rsync iproute2 logrotate)
# ./stack demo: jq for its table.
PACKAGES_DEMO=(jq)
# ./stack bench: the load (wrk), its results (jq) and the plot.
PACKAGES_BENCH=(wrk jq gnuplot-nox)
# ./stack cluster: Galera, its rsync state transfer, and ss (iproute2).
PACKAGES_CLUSTER=(galera-4 rsync iproute2)

# Install whichever of the packages given is missing (as root).
need_packages() {
	local missing=() pkg
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		die "missing Debian packages; run as root: apt-get install ${missing[*]}"
	fi
	say "installing ${missing[*]}"
	# The packages' own services (a system MariaDB, nginx on port 80) are
	# not wanted: policy-rc.d exit 101 keeps them from starting.
	local policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null ||
		{ [ -z "$policy" ] || rm -f "$policy"; die "apt-get install failed"; }
	[ -z "$policy" ] || rm -f "$policy"
}

# configure's flags: the CI's, the test-hooks worker (a test binary only,
# never the installed worker) and, for check --sanitize, ASan + UBSan.
SANITIZE=0
configure_flags() {
	local flags="--enable-test-hooks ${REGONCE_CONFIGURE_FLAGS:-}"
	[ "$SANITIZE" -eq 1 ] && flags+=" --enable-sanitizers"
	echo $flags
}

# Build; arguments, if any, are a second make run (e.g. check TESTS=).
build() {
	local want have=""
	want=$(configure_flags)
	[ -x configure ] || ./autogen.sh >"$VAR/log/autogen.log" 2>&1 ||
		die "autogen.sh failed: see $VAR/log/autogen.log"
	[ -f config.status ] && have=$(eval "echo $(./config.status --config)")
	if [ ! -f Makefile ] || [ "$have" != "$want" ]; then
		[ -f Makefile ] && make clean >/dev/null 2>&1
		# shellcheck disable=SC2086 # flags are a list
		./configure $want >"$VAR/log/configure.log" 2>&1 ||
			die "configure $want failed: see $VAR/log/configure.log"
	fi
	# Goals in separate runs: "make all check" would run two recursive
	# makes over the same objects at once.
	{ make -j"$(nproc)" && { [ $# -eq 0 ] || make -j"$(nproc)" "$@"; }; } \
		>"$VAR/log/build.log" 2>&1 ||
		{ tail -30 "$VAR/log/build.log"; die "build failed: see $VAR/log/build.log"; }
}
