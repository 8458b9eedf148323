#!/bin/bash
# install.sh - put one host of a tristack stack on this Debian 12 server.
#
# `tristack bundle HOST` makes each host's copy of it from deploy/install.sh,
# with the host's settings in place of the marker line below. Run that copy
# as root from the unpacked bundle:
#
#     tar xzf tristack-web-01.tar.gz && sudo ./tristack-web-01/install.sh
#
# Running it again is harmless: it converges. Files are replaced only when
# they differ, MariaDB is restarted only when its settings changed, a
# migration is applied once, and a daemon is restarted only when its binary
# or its unit changed; when only the stack file, its secrets or certificates
# did, tristack's daemons are reloaded (SIGHUP: nothing refused, nothing in
# flight lost) and the agents (failover monitor, db-guard, vrrp-check)
# restarted. A unit or timer an earlier bundle had and this one has not is
# stopped and removed.
set -euo pipefail
export LC_ALL=C # globs in byte order: migrations apply by name

# @BUNDLE_SETTINGS@

PREFIX=/usr/local
CONF_DIR=/etc/tristack
STATE=/var/lib/tristack
SHARE=$PREFIX/share/tristack
MARIADB_CNF=/etc/mysql/mariadb.conf.d/60-tristack.cnf

cd "$(dirname "$(readlink -f "$0")")"

say() { printf '==> %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() {
	printf 'install.sh: %s\n' "$*" >&2
	exit 1
}

# put SRC DST MODE [OWNER]: install SRC as DST unless DST is the same
# already; returns 0 when it wrote DST, 1 when nothing changed.
put() {
	local src=$1 dst=$2 mode=$3 owner=${4:-root}
	if [ -f "$dst" ] && cmp -s "$src" "$dst" &&
		[ "$(stat -c '%a %U' "$dst")" = "${mode#0} $owner" ]; then
		return 1
	fi
	install -D -m "$mode" -o "$owner" -g "$(id -gn "$owner")" "$src" "$dst"
	return 0
}

# ---- the machine ----

[ "$(id -u)" = 0 ] || die "run me as root (sudo $0)"
if [ -r /etc/os-release ]; then
	# shellcheck disable=SC1091
	. /etc/os-release
fi
if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 12 ]; then
	[ "${TRISTACK_ANY_OS:-}" = 1 ] ||
		die "this is ${PRETTY_NAME:-an unknown system}; the bundle is built for Debian 12 (bookworm). TRISTACK_ANY_OS=1 to try anyway"
	warn "not Debian 12 (${PRETTY_NAME:-unknown}): going on as TRISTACK_ANY_OS=1 asks"
fi
say "$HOST ($ROLES) of $DOMAIN"

say "packages: ${PACKAGES[*]}"
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

say "user tristack, $STATE, $CONF_DIR"
getent group tristack >/dev/null || groupadd --system tristack
id -u tristack >/dev/null 2>&1 ||
	useradd --system --gid tristack --home-dir "$STATE" --no-create-home \
		--shell /usr/sbin/nologin tristack
install -d -m 0755 "$CONF_DIR" "$SHARE"
install -d -m 0750 -o tristack -g tristack "$STATE" "$STATE/log" "$STATE/run"
install -d -m 0700 -o tristack -g tristack "$STATE/secrets" "$STATE/tls"
# [lb] acme_directory: tristack-certs-renew.timer renews the certificates
acme=0
case " ${TIMERS[*]} " in *" tristack-certs-renew "*) acme=1 ;; esac
if [ $acme = 1 ]; then
	# certbot's webroot: the renewal runs as tristack, and `certs renew`
	# run by hand as root leaves it root's
	install -d -m 0755 -o tristack -g tristack "$STATE/acme"
	chown -R tristack:tristack "$STATE/acme"
fi

# ---- files ----

bin_changed=()
for b in bin/*; do
	if put "$b" "$PREFIX/bin/$(basename "$b")" 0755; then
		bin_changed+=("$(basename "$b")")
	fi
done
missing_libs=$(ldd bin/* 2>/dev/null | grep 'not found' | sort -u || true)
[ -z "$missing_libs" ] || die "libraries missing for the binaries: $missing_libs"

conf_changed=0
put etc/tristack/foobar.conf "$CONF_DIR/foobar.conf" 0644 && conf_changed=1
put etc/tristack/host "$CONF_DIR/host" 0644 || true
# an LB of a pair: keepalived's configuration (the floating address)
if [ -f etc/tristack/keepalived.conf ]; then
	put etc/tristack/keepalived.conf "$CONF_DIR/keepalived.conf" 0644 && conf_changed=1
fi
if [ -d share ]; then
	# the files the stack file names by relative path (the web root ...),
	# relative to the daemons' working directory
	(cd share && find . -type f) | while read -r f; do
		put "share/$f" "$SHARE/$f" 0644 || true
	done
fi
for f in "${OPERATOR_FILES[@]}"; do
	[ -e "$f" ] || warn "$f (named in the stack file) is not on this machine: install it"
done

secrets_changed=0
if [ -d secrets ]; then
	for f in secrets/*; do
		put "$f" "$STATE/$f" 0600 tristack && secrets_changed=1
	done
fi

tls_changed=0
if [ -d tls ]; then
	for f in tls/*; do
		mode=0644
		case "$f" in *site-*.pem | *.key) mode=0600 ;; esac
		# a certificate from ACME, once `certs renew` installed it, stays:
		# the local CA's of the bundle serve only until then
		if [ $acme = 1 ] &&
			[ -f "$STATE/secrets/acme/live/$(basename "$f" .pem)/fullchain.pem" ]; then
			continue
		fi
		put "$f" "$STATE/$f" "$mode" tristack && tls_changed=1
	done
fi
for f in "${TLS_CERT_FILES[@]}"; do
	if ! runuser -u tristack -- test -r "$f"; then
		die "$f ([lb] tls_cert) is missing or the tristack user cannot read it: install the certificates (docs/deploy.md, certbot), then run me again"
	fi
done

units_changed=() # NAME of NAME.service, NAME.timer of a timer
for u in systemd/*.service systemd/*.timer; do
	[ -e "$u" ] || continue # no timer
	if put "$u" "/etc/systemd/system/$(basename "$u")" 0644; then
		units_changed+=("$(basename "$u" .service)")
	fi
done

# ---- firewall ----

say "firewall: /etc/nftables.d/tristack.nft"
nft -c -f nftables/tristack.nft || die "nftables/tristack.nft does not load (nft -c)"
grep -Eq 'dport (22|ssh) ' nftables/tristack.nft ||
	warn "the firewall opens no SSH port: keep a console to this server at hand"
put nftables/tristack.nft /etc/nftables.d/tristack.nft 0644 || true
if ! grep -Eq '^include "/etc/nftables\.d/(\*|tristack)\.nft"' /etc/nftables.conf 2>/dev/null; then
	[ -f /etc/nftables.conf ] || printf '#!/usr/sbin/nft -f\nflush ruleset\n' >/etc/nftables.conf
	printf '\n# tristack\ninclude "/etc/nftables.d/*.nft"\n' >>/etc/nftables.conf
fi
nft -c -f /etc/nftables.conf || die "/etc/nftables.conf does not load with tristack's rules"
systemctl enable --quiet nftables.service
systemctl reload-or-restart nftables.service

# ---- MariaDB ----

mariadb_ready() {
	for _ in $(seq 60); do
		mariadb -e 'SELECT 1' >/dev/null 2>&1 && return 0
		sleep 1
	done
	die "MariaDB does not answer on its socket (journalctl -u mariadb)"
}

if [ -n "$DB_ROLE" ]; then
	say "MariaDB ($DB_ROLE): $MARIADB_CNF"
	systemctl enable --quiet mariadb.service
	install -d -o mysql -g mysql -m 0750 /var/lib/mysql-files # secure_file_priv
	if put mariadb/60-tristack.cnf "$MARIADB_CNF" 0644; then
		systemctl restart mariadb.service
	else
		systemctl start mariadb.service
	fi
	mariadb_ready
	# what `tristack status` and `tristack promote` on this host look for
	install -d -m 0750 "$STATE/db"
	ln -sfn /run/mysqld/mysqld.sock "$STATE/run/$HOST.db.sock"
	ln -sfn /run/mysqld/mysqld.pid "$STATE/run/$HOST.db.pid"
	# what this instance is now, whatever the bundle says it was made as:
	# a failover (or a promote) may have swapped the roles since
	now_master=$(mariadb -N -B -e 'SHOW SLAVE STATUS' | cut -f2)
	now_ro=$(mariadb -N -B -e 'SELECT @@read_only')
	if [ -n "$FAILOVER_MONITOR" ]; then
		# tristack-db-guard's login: its own Unix account by the socket,
		# local to this instance (not replicated), reading state alone
		mariadb -e "SET SESSION sql_log_bin = 0;
			CREATE USER IF NOT EXISTS 'mysql'@'localhost' IDENTIFIED VIA unix_socket;
			GRANT SLAVE MONITOR ON *.* TO 'mysql'@'localhost'"
	fi
fi

if [ "$DB_ROLE" = primary ] && [ -n "$now_master" ]; then
	die "this instance replicates from $now_master: it is no longer the primary (a failover or a promote moved it; tristack status on ${FAILOVER_MONITOR:-the new primary}). Swap the db roles in the stack file, make the bundles again (docs/deploy.md)"
fi
if [ "$DB_ROLE" = replica ] && [ -z "$now_master" ] && [ "$now_ro" = 0 ]; then
	die "this instance is writable and replicates from no one: it is the primary now (a failover or a promote made it so). Swap the db roles in the stack file, make the bundles again (docs/deploy.md)"
fi

if [ "$DB_ROLE" = primary ]; then
	say "provisioning: schema $SCHEMA, accounts app and repl"
	mariadb <mariadb/provision.sql
	for f in mariadb/migrations/*.sql; do
		[ -e "$f" ] || continue
		v=$(basename "$f" .sql)
		n=$(mariadb -N -B -e "SELECT COUNT(*) FROM \`$SCHEMA\`.schema_migrations WHERE version = '$v'")
		[ "$n" = 0 ] || continue
		mariadb "$SCHEMA" <"$f" || die "migration $v failed"
		mariadb -e "INSERT INTO \`$SCHEMA\`.schema_migrations (version) VALUES ('$v')"
		say "migration $v applied"
	done
	# what the app may do, table by table, once the tables exist
	mariadb <mariadb/grants.sql
fi

if [ "$DB_ROLE" = replica ]; then
	master=$(mariadb -N -B -e 'SHOW SLAVE STATUS' | cut -f2)
	running=$(mariadb -e 'SHOW SLAVE STATUS\G' | grep -c 'Running: Yes' || true)
	if [ "$master" = "$PRIMARY_ADDRESS" ] && [ "$running" = 2 ]; then
		say "replicating from $PRIMARY ($PRIMARY_ADDRESS) already"
	else
		say "replication from $PRIMARY ($PRIMARY_ADDRESS)"
		mariadb <mariadb/replica.sql
	fi
fi

# ---- the daemons ----

say "units: ${UNITS[*]}"
# the failover agents of an earlier bundle that this one no longer has
# ([db] auto_failover turned off, or the monitoring host moved)
for u in tristack-failover-monitor tristack-db-guard; do
	case " ${UNITS[*]} " in *" $u "*) continue ;; esac
	if [ -f "/etc/systemd/system/$u.service" ]; then
		systemctl disable --now --quiet "$u.service" || true
		rm -f "/etc/systemd/system/$u.service"
		[ "$u" = tristack-db-guard ] && { nft delete table inet tsfence 2>/dev/null || true; }
		say "$u: not in this bundle: stopped and removed"
	fi
done
# the renewal timer of an earlier bundle that this one no longer has
# ([lb] acme_directory removed)
t=tristack-certs-renew
if [ $acme = 0 ] &&
	{ [ -f "/etc/systemd/system/$t.timer" ] || [ -f "/etc/systemd/system/$t.service" ]; }; then
	systemctl disable --now --quiet "$t.timer" || true
	systemctl stop --quiet "$t.service" || true
	rm -f "/etc/systemd/system/$t.timer" "/etc/systemd/system/$t.service"
	say "$t.timer: not in this bundle: stopped and removed"
fi
systemctl daemon-reload
for u in "${UNITS[@]}"; do
	systemctl enable --quiet "$u.service"
	restart=0
	for c in "${bin_changed[@]}" "${units_changed[@]}"; do
		[ "$c" = "$u" ] && restart=1
	done
	if ! systemctl is-active --quiet "$u.service"; then
		systemctl start "$u.service" || true
	elif [ $restart = 1 ]; then
		systemctl restart "$u.service"
	elif [ $((conf_changed + secrets_changed + tls_changed)) -gt 0 ]; then
		case "$u" in
		tristack-lb | tristack-web | tristack-app | tristack-dns)
			# SIGHUP: a new generation takes the file (and the secrets and
			# certificates it names) over the same listening sockets; what
			# is in flight finishes; a broken file is refused, logged
			systemctl reload "$u.service"
			;;
		*) systemctl restart "$u.service" ;; # the agents read it at start
		esac
	fi
done
for t in "${TIMERS[@]}"; do
	say "timer: $t.timer"
	systemctl enable --now --quiet "$t.timer"
	case " ${units_changed[*]} " in
	*" $t.timer "*) systemctl restart "$t.timer" ;; # its new schedule
	esac
done
if [ $acme = 1 ]; then
	# Debian's certbot.timer renews /etc/letsencrypt and knows nothing of
	# tristack's folders: ours renews
	if systemctl is-enabled --quiet certbot.timer 2>/dev/null ||
		systemctl is-active --quiet certbot.timer; then
		systemctl disable --now --quiet certbot.timer
		say "certbot.timer (Debian's): disabled, tristack-certs-renew.timer renews"
	fi
	if [ ! -f "$STATE/secrets/acme/live/site-ecdsa/fullchain.pem" ]; then
		say "no certificate from ACME yet: once www.$DOMAIN resolves to this host, systemctl start tristack-certs-renew (journalctl -u tristack-certs-renew)"
	fi
fi

# ---- checks ----

say "checks"
failed=0
for u in "${UNITS[@]}"; do
	if ! systemctl is-active --quiet "$u.service"; then
		printf '  %-14s NOT RUNNING: journalctl -u %s\n' "$u" "$u"
		failed=1
	fi
done
for t in "${TIMERS[@]}"; do
	if ! systemctl is-active --quiet "$t.timer"; then
		printf '  %-14s NOT ACTIVE: systemctl status %s.timer\n' "$t" "$t"
		failed=1
	fi
done
# CHECKS: "daemon URL" pairs; an HTTP answer below 500 within 15 s is up
for c in "${CHECKS[@]}"; do
	name=${c%% *} url=${c#* } code=000
	for _ in $(seq 30); do
		code=$(curl -gks -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
		[ "$code" != 000 ] && [ "$code" -lt 500 ] && break
		sleep 0.5
	done
	if [ "$code" != 000 ] && [ "$code" -lt 500 ]; then
		printf '  %-14s ok  (%s %s)\n' "$name" "$code" "$url"
	else
		printf '  %-14s FAILED (%s %s)\n' "$name" "$code" "$url"
		failed=1
	fi
done
if [ -n "$DB_ROLE" ]; then
	if [ "$DB_ROLE" = primary ]; then
		ro=$(mariadb -N -B -e 'SELECT @@read_only')
		if [ "$ro" = 0 ]; then
			printf '  %-14s ok  (primary, writable)\n' mariadb
		elif [ -n "$FAILOVER_MONITOR" ]; then
			# it starts read-only: the monitor makes it writable
			printf '  %-14s ok  (primary, read-only until tristack failover-monitor on %s makes it writable)\n' \
				mariadb "$FAILOVER_MONITOR"
		else
			printf '  %-14s FAILED (the primary is read-only)\n' mariadb
			failed=1
		fi
	else
		state=""
		for _ in $(seq 30); do
			state=$(mariadb -e 'SHOW SLAVE STATUS\G' |
				grep -E 'Slave_(IO|SQL)_Running:|Seconds_Behind_Master:|Last_(IO_)?Error:' || true)
			[ "$(grep -c 'Running: Yes' <<<"$state")" = 2 ] && break
			sleep 1
		done
		if [ "$(grep -c 'Running: Yes' <<<"$state")" = 2 ]; then
			printf '  %-14s ok  (replica of %s)\n' mariadb "$PRIMARY"
		else
			printf '  %-14s FAILED: not replicating from %s (%s:%s): is its install done, its firewall open to %s?\n%s\n' \
				mariadb "$PRIMARY" "$PRIMARY_ADDRESS" "$DB_PORT" "$HOST" "$state"
			failed=1
		fi
	fi
fi
echo
echo "the stack as this host sees it (the other hosts' daemons show as stopped here):"
"$PREFIX/bin/tristack" -c "$CONF_DIR/foobar.conf" --state "$STATE" status || true
if [ $failed = 1 ]; then
	die "$HOST is installed but not healthy: see above"
fi
say "$HOST is up"
