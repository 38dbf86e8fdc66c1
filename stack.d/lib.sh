# shellcheck shell=bash
# stack.d/lib.sh: the helpers every ./stack verb and the integration tests
# share: messages, "is this process alive", the one await of the project,
# and stopping by PID file. Functions only; tests/lib.sh sources this file
# alone, not the whole stack.

say() { printf 'stack: %s\n' "$*"; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

# Is process $1 running? A zombie is not: PID 1 may reap a killed
# orphan late, and kill -0 still succeeds on it until then.
alive() {
	local state
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "${state#Z}" = "$state" ]
}

# Is the PID in pid file $1 alive?
pid_alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(head -n 1 "$1")
	[ -n "$pid" ] && alive "$pid"
}

# Run a command and invert its status (for await).
not() { ! "$@"; }

# Wait until a command succeeds, polling: up to $1 tenths of a second.
# The one await of the project: tests/lib.sh uses it too.
await() {
	local tries=$1
	shift
	until "$@" >/dev/null 2>&1; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.1
	done
}

# Send TERM to every PID in pid file $1 and wait for each to go.
stop_pids() {
	local file=$1 pid
	[ -f "$file" ] || return 0
	# spawn-fcgi leaves the last PID without a newline: read it too.
	while read -r pid || [ -n "$pid" ]; do
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null || continue
		if ! await 300 not alive "$pid"; then
			say "pid $pid ignored TERM for 30 s; sending KILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done <"$file"
	rm -f "$file"
}

# Stop every pool var/pools/list names, and remove its socket.
stop_listed_pools() {
	local name port
	[ -f "$VAR/pools/list" ] || return 0
	while read -r name port; do
		stop_pids "$VAR/run/$name.pid"
		rm -f "$VAR/run/$name.sock"
	done < <(sort -u "$VAR/pools/list")
}
