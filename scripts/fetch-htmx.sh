#!/usr/bin/env bash
# Vendors htmx from the npm package htmx.org: fetches the pinned version with
# `npm pack` in a temporary directory, checks dist/htmx.min.js against the
# committed SHA-256 and copies it to ui/static/htmx.min.js. The file is
# committed; the console never loads anything from a CDN.
#
# To upgrade: set HTMX_VERSION, run with --update (prints and records the new
# checksum), read the htmx changelog, run the web tests and the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

HTMX_VERSION=2.0.11
# SHA-256 of dist/htmx.min.js of htmx.org@$HTMX_VERSION.
HTMX_SHA256=d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717

dest=ui/static/htmx.min.js
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "htmx.org@$HTMX_VERSION" >/dev/null)
tar -xzf "$tmp"/htmx.org-"$HTMX_VERSION".tgz -C "$tmp" package/dist/htmx.min.js
got=$(sha256sum "$tmp/package/dist/htmx.min.js" | cut -d' ' -f1)

if [[ "${1:-}" == "--update" ]]; then
	sed -i "s/^HTMX_SHA256=.*/HTMX_SHA256=$got/" "$0"
	echo "fetch-htmx: recorded sha256 $got for htmx.org@$HTMX_VERSION"
elif [[ "$got" != "$HTMX_SHA256" ]]; then
	echo "fetch-htmx: htmx.org@$HTMX_VERSION dist/htmx.min.js has sha256 $got, expected $HTMX_SHA256" >&2
	exit 1
fi
cp "$tmp/package/dist/htmx.min.js" "$dest"
echo "fetch-htmx: $dest is htmx.org@$HTMX_VERSION ($got)"
