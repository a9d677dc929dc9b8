#!/usr/bin/env bash
# Enforces the dependency rules of ARCHITECTURE.md on direct imports:
#   sdk imports nothing of ours (and no heavy library of core's);
#   plugins/<x> import sdk, plugins/internal/* and their client library, never core or another plugin;
#   core imports sdk, never plugins;
#   each heavy library lives in one package (Badger: store, Echo and Prometheus: web,
#   Vault: secrets, go-plugin: sdk host/serve, chromedp: internal/browsertest,
#   Google's API client: plugins/gmail).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
bad() { echo "check-deps: $*" >&2; fail=1; }

list() { go list -f '{{.ImportPath}}{{range .Imports}} {{.}}{{end}}{{range .TestImports}} {{.}}{{end}}' "$@"; }

while read -r pkg imports; do
	for imp in $imports; do
		case "$pkg" in
		github.com/ternmail/tern/core/*)
			case "$imp" in github.com/ternmail/tern/plugins/*) bad "$pkg imports $imp (core never imports plugins)";; esac ;;
		github.com/ternmail/tern/plugins/internal/*)
			case "$imp" in github.com/ternmail/tern/core/*) bad "$pkg imports $imp";; esac ;;
		github.com/ternmail/tern/plugins/*)
			p=${pkg#github.com/ternmail/tern/plugins/}; p=${p%%/*}
			case "$imp" in
			github.com/ternmail/tern/core/*) bad "$pkg imports $imp (plugins never import core)";;
			github.com/ternmail/tern/plugins/internal/*) ;;
			github.com/ternmail/tern/plugins/"$p"|github.com/ternmail/tern/plugins/"$p"/*) ;;
			github.com/ternmail/tern/plugins/*) bad "$pkg imports $imp (a plugin never imports another)";;
			esac ;;
		esac
		case "$imp" in
		github.com/dgraph-io/badger/*) [[ "$pkg" == github.com/ternmail/tern/core/internal/store ]] || bad "$pkg imports Badger (only core/internal/store may)";;
		github.com/labstack/echo/*) [[ "$pkg" == github.com/ternmail/tern/core/internal/web* ]] || bad "$pkg imports Echo (only core/internal/web may)";;
		github.com/hashicorp/vault/*) [[ "$pkg" == github.com/ternmail/tern/core/internal/secrets* ]] || bad "$pkg imports Vault (only core/internal/secrets may)";;
		github.com/hashicorp/go-plugin*) bad "$pkg imports go-plugin (only the sdk's serve and host may)";;
		github.com/prometheus/*) [[ "$pkg" == github.com/ternmail/tern/core/internal/web ]] || bad "$pkg imports Prometheus (only core/internal/web may)";;
		github.com/chromedp/*) [[ "$pkg" == github.com/ternmail/tern/internal/browsertest ]] || bad "$pkg imports chromedp (only internal/browsertest may)";;
		google.golang.org/api|google.golang.org/api/*)
			[[ "$pkg" == github.com/ternmail/tern/plugins/gmail || "$pkg" == github.com/ternmail/tern/plugins/gmail/* ]] || bad "$pkg imports $imp (only plugins/gmail may use Google's API client)";;
		esac
	done
done < <(list ./...)

while read -r pkg imports; do
	for imp in $imports; do
		case "$imp" in
		github.com/ternmail/tern/sdk/*) ;;
		github.com/ternmail/tern/*) bad "$pkg imports $imp (the sdk imports nothing of ours)";;
		github.com/dgraph-io/*|github.com/labstack/*|github.com/hashicorp/vault/*) bad "$pkg imports $imp (not an sdk dependency)";;
		github.com/hashicorp/go-plugin*)
			case "$pkg" in github.com/ternmail/tern/sdk/serve|github.com/ternmail/tern/sdk/host|github.com/ternmail/tern/sdk/internal/rpcplugin|github.com/ternmail/tern/sdk/connectortest) ;;
			*) bad "$pkg imports go-plugin (only serve, host and their internals may)";; esac ;;
		esac
	done
done < <(cd sdk && list ./...)

[ $fail -eq 0 ] && echo "check-deps: ok"
exit $fail
