# shellcheck shell=bash
# Usage: ./stack mysql [ARGS...]
# Summary: a MariaDB client on the local database (args passed on)
# Usage: ./stack db stop|start
# Summary: stop or start only the database (fault tests)
#
# stack.d/db.sh: the throwaway MariaDB under $VAR (Unix socket only), the
# databases and accounts the pools use, and the two verbs above.

DB_DIR() { echo "$VAR/db"; }
# DB_SOCKET: another server's socket (./stack cluster: node 1's).
DB_SOCK() { echo "${DB_SOCKET:-$VAR/run/mysqld.sock}"; }

# A root client on the stack's server; arguments passed on.
db_client() {
	mariadb --no-defaults --socket="$(DB_SOCK)" -u root "$@"
}

# Start the server (its datadir made the first time); wait until it answers.
db_start() {
	local dir
	dir=$(DB_DIR)
	if pid_alive "$VAR/run/mysqld.pid"; then
		return 0
	fi
	local as_root=()
	[ "$(id -u)" -eq 0 ] && as_root=(--user=root)
	if [ ! -d "$dir/mysql" ]; then
		say "initialising MariaDB in $dir"
		mkdir -p "$dir"
		mariadb-install-db --no-defaults --datadir="$dir" "${as_root[@]}" \
			--auth-root-authentication-method=socket \
			--auth-root-socket-user="$(id -un)" --skip-test-db \
			>"$VAR/log/mariadb-install.log" 2>&1 ||
			die "mariadb-install-db failed: see $VAR/log/mariadb-install.log"
	fi
	# Unix socket only: nothing listens on the network.
	setsid mariadbd --no-defaults --datadir="$dir" "${as_root[@]}" \
		--socket="$(DB_SOCK)" --skip-networking \
		--pid-file="$VAR/run/mysqld.pid" --log-error="$VAR/log/mariadb.log" \
		--innodb-buffer-pool-size="${DB_BUFFER_POOL:-64M}" --max-connections=300 \
		--character-set-server=utf8mb4 \
		--collation-server=utf8mb4_general_ci \
		</dev/null >/dev/null 2>&1 &
	await 600 db_client -e 'SELECT 1' ||
		die "MariaDB did not start: see $VAR/log/mariadb.log"
}

# Create database $1 and the app's account, run the schema files that
# follow, in order, then grant the account SELECT and INSERT on the users
# table alone (and DELETE on idempotency_keys, for expired keys): all the
# worker needs, the grants doc/operations.md gives, no wider.
# DB_ACCOUNT_HOSTS: where the account may connect from ("localhost", the
# unix socket; ./stack cluster adds 127.0.0.1 for its TCP pools).
DB_ACCOUNT_HOSTS="localhost"
db_create() {
	local name=$1 password file host
	shift
	password=$(cat "$VAR/db-password")
	db_client -e "CREATE DATABASE IF NOT EXISTS \`$name\`"
	for host in $DB_ACCOUNT_HOSTS; do
		db_client -e "CREATE USER IF NOT EXISTS 'regonce'@'$host' IDENTIFIED BY '$password'"
	done
	for file in "$@"; do
		db_client "$name" <"$file"
	done
	for host in $DB_ACCOUNT_HOSTS; do
		db_client -e "GRANT SELECT, INSERT ON \`$name\`.\`users\` TO 'regonce'@'$host'"
		# Idempotency-Key's stored answers, where sql/002 made the table.
		if [ -n "$(db_client -N -e "SHOW TABLES FROM \`$name\` LIKE 'idempotency_keys'")" ]; then
			db_client -e "GRANT SELECT, INSERT, DELETE ON \`$name\`.\`idempotency_keys\` TO 'regonce'@'$host'"
		fi
	done
}

# The app's database and account, and regonce-migrate's.
db_setup() {
	if [ ! -s "$VAR/db-password" ]; then
		(umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$VAR/db-password")
	fi
	db_create regonce sql/[0-9][0-9][0-9]_*.sql
	db_migrate_account
}

# regonce-migrate's own account, with the rights the worker's must never
# have (ALTER, CREATE, UPDATE, DELETE, LOCK TABLES), on the stack's
# databases (regonce, regonce_*), and var/migrate.conf (0600) for it.
db_migrate_account() {
	local password
	if [ ! -s "$VAR/migrate-db-password" ]; then
		(umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$VAR/migrate-db-password")
	fi
	password=$(cat "$VAR/migrate-db-password")
	db_client <<-SQL
		CREATE USER IF NOT EXISTS 'regonce_migrate'@'localhost' IDENTIFIED BY '$password';
		ALTER USER 'regonce_migrate'@'localhost' IDENTIFIED BY '$password';
		GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX,
		    LOCK TABLES ON \`regonce%\`.* TO 'regonce_migrate'@'localhost';
	SQL
	(umask 077 && cat >"$VAR/migrate.conf" <<-EOF
		# written by ./stack: regonce-migrate's account, not the worker's
		db_socket = $(DB_SOCK)
		db_user = regonce_migrate
		db_password = $password
		db_name = regonce
	EOF
	)
}

# ./stack mysql: a root client on the regonce database.
cmd_mysql() {
	exec mariadb --no-defaults --socket="$(DB_SOCK)" -u root regonce "$@"
}

# ./stack db stop|start: only the database, state kept (fault tests).
cmd_db() {
	case "${1:-}" in
	stop) stop_pids "$VAR/run/mysqld.pid" ;;
	start) mkdir -p "$VAR"/{run,log}; db_start ;;
	*) die "usage: ./stack db stop|start" ;;
	esac
}

# db_capped_account NAME: an account like regonce's (same password and
# rights on database regonce) created WITH MAX_USER_CONNECTIONS 5, as a
# shared host caps its customers (it-capped).
db_capped_account() {
	local name=$1 password
	password=$(cat "$VAR/db-password")
	db_client <<-SQL
		CREATE USER IF NOT EXISTS '$name'@'localhost' IDENTIFIED BY '$password'
		    WITH MAX_USER_CONNECTIONS 5;
		ALTER USER '$name'@'localhost' WITH MAX_USER_CONNECTIONS 5;
		GRANT SELECT, INSERT ON \`regonce\`.\`users\` TO '$name'@'localhost';
		GRANT SELECT, INSERT, DELETE ON \`regonce\`.\`idempotency_keys\`
		    TO '$name'@'localhost';
	SQL
}
