#!/usr/bin/env bash
# Installs the Debian packages that the tests, benchmarks and code
# generation need. Idempotent; needs root (or sudo).
#   dovecot-imapd      real IMAP servers for integration tests (scripts/test-servers.sh)
#   dovecot-lmtpd      LMTP into the src instance, which the test Postfix delivers to
#   isync              mbsync, the reference in `make bench`
#   protobuf-compiler  protoc, for `make gen` and its up-to-date check
#   openssl            test certificates
#   chromium           headless browser for the console tests (internal/browsertest)
# and Cyrus IMAP for the tests: scripts/cyrus.sh install downloads Debian's
# cyrus-common, cyrus-imapd and sasl2-bin, unpacks them into a private root
# (they conflict with dovecot-imapd as packages) and installs only their
# shared libraries (libical3, libpcre3, libxapian30, libsasl2-modules-db…),
# and Postfix: scripts/postfix.sh install installs Debian's postfix with
# debconf's "No configuration" (the system's Postfix stays unconfigured,
# stopped and disabled; the tests run a private instance).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
pkgs=(dovecot-imapd dovecot-lmtpd isync protobuf-compiler openssl ca-certificates make git chromium fonts-liberation)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The packages may start the system's Dovecot; the tests never use it.
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
		$SUDO systemctl stop dovecot || true
		$SUDO systemctl disable dovecot >/dev/null 2>&1 || true
	fi
fi

# Cyrus IMAP (says so and returns at once when already installed).
$SUDO "$HERE/cyrus.sh" install
# Postfix (likewise).
$SUDO "$HERE/postfix.sh" install
