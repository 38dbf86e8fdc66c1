# shellcheck shell=bash
# stack.d/fcgid.sh: a shared host for tests/it-fcgid.sh. Debian's apache2
# with mod_fcgid (conf/apache-fcgid-stack.conf), a customer account, and
# the customer's folders holding the shared-hosting kit
# (conf/shared-hosting/) as the guide has them copied:
#   suexec/               the kit, run as the customer (files 0600/0700);
#   suexec/unconfigured/  the program alone, no configuration;
#   plain/                the kit without suexec: the program runs as
#                         www-data; the config is 0644 with
#                         db_password_readable = yes (the guide's way
#                         through when the group cannot be www-data).
# The docroots live under /var/www (suexec's compiled-in docroot), one
# folder per check port so two checks do not meet.

FCGID_CUSTOMER=regoncecust

# The customer's account: an ordinary user (uid >= 1000), no login.
fcgid_customer() {
	id -u "$FCGID_CUSTOMER" >/dev/null 2>&1 && return 0
	useradd --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin -K UID_MIN=1000 "$FCGID_CUSTOMER" ||
		die "cannot create the customer account $FCGID_CUSTOMER"
}

# fcgid_kit DIR DB-USER: the kit in DIR, its config from the template with
# the database filled in and cheap hashing (the tests are about the host).
fcgid_kit() {
	local dir=$1 db_user=$2
	mkdir -p "$dir/private"
	cp "$TOP/fcgi-app/regonce" "$dir/register.fcgi"
	cp "$TOP/conf/shared-hosting/htaccess" "$dir/.htaccess"
	sed -e "s|^db_socket = .*|db_socket = $(DB_SOCK)|" \
		-e "s|CUSTOMER_DB_USER|$db_user|" \
		-e "s|CUSTOMER_DB_PASSWORD|$(cat "$VAR/db-password")|" \
		-e "s|CUSTOMER_DB_NAME|regonce|" \
		"$TOP/conf/shared-hosting/register.fcgi.conf.example" \
		>"$dir/register.fcgi.conf"
	printf 'argon2_memory_kib = 8\nargon2_iterations = 1\n' \
		>>"$dir/register.fcgi.conf"
}

# fcgid_start PORT PLAIN-PORT: the docroots and Apache, stopped first if
# it runs. Exports the URLs and folders for it-fcgid.
fcgid_start() {
	local port=$1 plain_port=$2 root=/var/www/regonce-check-$HTTP_PORT
	fcgid_customer
	stop_pids "$VAR/run/apache-fcgid.pid"
	rm -rf "$root"
	# Under suexec: everything the customer's, nothing writable by others.
	fcgid_kit "$root/suexec" regonce_cap5c
	mkdir -p "$root/suexec/unconfigured"
	cp "$TOP/fcgi-app/regonce" "$root/suexec/unconfigured/register.fcgi"
	cp "$TOP/conf/shared-hosting/htaccess" "$root/suexec/unconfigured/.htaccess"
	chown -R "$FCGID_CUSTOMER:$FCGID_CUSTOMER" "$root/suexec"
	chmod 0755 "$root" "$root/suexec" "$root/suexec/unconfigured"
	chmod 0644 "$root/suexec/.htaccess" "$root/suexec/unconfigured/.htaccess"
	chmod 0700 "$root/suexec/register.fcgi" "$root/suexec/private" \
		"$root/suexec/unconfigured/register.fcgi"
	chmod 0600 "$root/suexec/register.fcgi.conf"
	# Without suexec: the program runs as www-data, which must read the
	# config (as others: the customer cannot give it to www-data's
	# group) and write the private folder.
	fcgid_kit "$root/plain" regonce
	sed -i -e '/^db_max_connections/d' -e '/^db_cap_dir/d' \
		"$root/plain/register.fcgi.conf"
	echo "db_password_readable = yes" >>"$root/plain/register.fcgi.conf"
	chown -R "$FCGID_CUSTOMER:$FCGID_CUSTOMER" "$root/plain"
	chmod 0644 "$root/plain/register.fcgi.conf"
	chown www-data:www-data "$root/plain/private"
	chmod 0755 "$root/plain" "$root/plain/register.fcgi"
	mkdir -p "$VAR/apache-fcgid/fcgid"
	chown www-data:www-data "$VAR/apache-fcgid/fcgid"
	sed -e "s|@VAR@|$VAR|g" -e "s|@PORT@|$port|g" \
		-e "s|@PLAIN_PORT@|$plain_port|g" -e "s|@DOCROOT@|$root|g" \
		-e "s|@CUSTOMER@|$FCGID_CUSTOMER|g" \
		"$TOP/conf/apache-fcgid-stack.conf" >"$VAR/apache-fcgid/httpd.conf"
	apache2 -f "$VAR/apache-fcgid/httpd.conf" -k start \
		2>>"$VAR/log/apache-fcgid-error.log" ||
		die "apache2 (mod_fcgid) did not start: see $VAR/log/apache-fcgid-error.log"
	await 100 curl -sf "http://127.0.0.1:$port/healthz" ||
		die "mod_fcgid answers no healthz on port $port: see $VAR/log/apache-fcgid-error.log"
	export REGONCE_IT_URL_FCGID="http://127.0.0.1:$port"
	export REGONCE_IT_URL_FCGID_PLAIN="http://127.0.0.1:$plain_port"
	export REGONCE_IT_FCGID_ROOT="$root"
	export REGONCE_IT_FCGID_CUSTOMER="$FCGID_CUSTOMER"
}
