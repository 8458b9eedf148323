#!/bin/sh
# Install every Debian package tristack needs to build, test, run and bench.
# Idempotent: when everything is present it prints nothing and exits 0.
# Runs `apt-get update` at most once, and only when something is missing.
# Services that Debian would start on install (nginx, mariadb, haproxy) are
# kept from starting: tristack starts its own instances with its own files.
set -eu

PACKAGES="
build-essential pkg-config clang libclang-rt-14-dev clang-format
libssl-dev openssl ca-certificates
libmariadb-dev mariadb-server mariadb-client mariadb-backup
libinih-dev libjansson-dev libldns-dev zlib1g-dev
iproute2 nftables procps psmisc
curl wrk dnsutils haproxy nginx sysbench testssl.sh nsd
python3 python3-pytest python3-websocket
prometheus prometheus-mysqld-exporter prometheus-alertmanager chromium keepalived
certbot pebble
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
# mariabackup must be the server's version (tristack rebuild copies a running
# instance's files): with the server installed before it, the server is
# installed again with it, so that apt brings both to the same version.
case " $missing " in
*" mariadb-backup "*) case " $missing " in *" mariadb-server "*) ;; *) missing="$missing mariadb-server" ;; esac ;;
esac

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "install-deps: missing packages:$missing (run as root to install them)" >&2
		exit 1
	fi
else
	SUDO=
fi

echo "install-deps: installing:$missing"
# Keep Debian's maintainer scripts from starting daemons (and binding :80,
# :3306) on this machine: policy-rc.d exit 101 = "action forbidden".
policy=${TRISTACK_POLICY_RC:-/usr/sbin/policy-rc.d} # overridable for tests/e2e/test_install_deps.py
made_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	made_policy=1
fi
cleanup() { if [ "$made_policy" -eq 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done"
