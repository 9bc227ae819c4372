#!/bin/sh
# Installs the system packages the Go tests need: Debian's nginx, used by
# pkg/nginx for `nginx -t` on rewritten configs and for the live proxy test.
#
# Idempotent and non-interactive: it does nothing when nginx is already
# installed, and it never leaves an nginx service running (the package would
# otherwise start one on port 80, which tests and other services may need).
set -eu

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
	echo "install-test-deps: nginx already installed ($(command -v nginx || echo /usr/sbin/nginx))"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo -n"
	else
		echo "install-test-deps: must run as root (or with passwordless sudo) to install nginx" >&2
		exit 1
	fi
fi

# policy-rc.d exiting 101 tells invoke-rc.d and deb-systemd-invoke not to
# start services during the install; only add one when none is in place, and
# remove only the one added here.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=""
if [ ! -e "$POLICY" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
	$SUDO chmod 0755 "$POLICY"
	ADDED_POLICY=1
fi
cleanup() {
	if [ -n "$ADDED_POLICY" ]; then
		$SUDO rm -f "$POLICY"
	fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx </dev/null

# Belt and braces for hosts where the policy was bypassed: stop the packaged
# service if the install started it (it was not installed before this script).
if [ -s /run/nginx.pid ] && $SUDO kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
	echo "install-test-deps: stopping the nginx service the package started"
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		$SUDO systemctl stop nginx || $SUDO /usr/sbin/nginx -s stop || true
		$SUDO systemctl disable nginx >/dev/null 2>&1 || true
	else
		$SUDO /usr/sbin/nginx -s stop || true
	fi
fi

echo "install-test-deps: installed $(/usr/sbin/nginx -v 2>&1)"
