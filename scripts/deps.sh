#!/bin/sh
# Install the Debian packages wanctl needs to build and test, skipping
# those already present. Safe to run again; says what it installs.
set -eu
PKGS="build-essential cmake pkg-config
libsqlite3-dev libssl-dev libzstd-dev libjansson-dev libmicrohttpd-dev
libcurl4-openssl-dev libcmocka-dev
jq strace xfsprogs e2fsprogs util-linux hyperfine time sqlite3 zstd python3 lcov
prometheus prometheus-alertmanager clang libclang-rt-14-dev
groff-base man-db zsh systemd"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
echo "deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done"
