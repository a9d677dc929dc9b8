#!/usr/bin/env bash
# Installs the Debian packages that the tests, benchmarks and code
# generation need. Idempotent; needs root (or sudo).
#   dovecot-imapd      real IMAP servers for integration tests (scripts/test-servers.sh)
#   isync              mbsync, the reference in `make bench`
#   protobuf-compiler  protoc, for `make gen` and its up-to-date check
#   openssl            test certificates
set -euo pipefail
pkgs=(dovecot-imapd isync protobuf-compiler openssl ca-certificates make git)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages may start the system's Dovecot; the tests never use it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
	$SUDO systemctl stop dovecot || true
	$SUDO systemctl disable dovecot >/dev/null 2>&1 || true
fi
