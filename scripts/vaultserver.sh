#!/usr/bin/env bash
# A real HashiCorp Vault for the tests: the program in scripts/vaultserver
# (Vault's own core and HTTP API, in-memory storage; its doc comment says
# why it is a Go module of its own). scripts/test-servers.sh calls this
# script; internal/testserver.Vault calls it too, so `go test` works alone.
#
#   scripts/vaultserver.sh build    build the binary if its sources changed
#   scripts/vaultserver.sh path     build if needed, print the binary's path
#   scripts/vaultserver.sh start    start the shared instance (idempotent;
#                                   restarts it when the binary changed)
#   scripts/vaultserver.sh stop     stop it
#   scripts/vaultserver.sh status   show whether it runs
#   scripts/vaultserver.sh env      print the environment the tests read
#   scripts/vaultserver.sh test     run the program's own tests (real Vault
#                                   checks: KV v2, AppRole, TTLs, seal, TLS)
#
# The shared instance: one Vault with two listeners on 127.0.0.1,
#   18200  plain HTTP          (TERN_TEST_VAULT_PORT)
#   18201  HTTPS, test CA      (TERN_TEST_VAULT_TLS_PORT)
# initialised with 5 unseal key shares (threshold 3), unsealed, KV version 2
# at secret/, AppRole at approle/. Its state lives in memory: a restart
# makes a new Vault with a new root token and new keys, which the info file
# then says. In $TERN_TEST_SERVERS_DIR/vault (default
# /tmp/tern-test-servers/vault):
#   info.json  address, root token, all unseal keys (base64), CA path…
#              (mode 0600, written atomically when the server is ready)
#   ca.pem     the CA that signed the HTTPS listener's certificate
#   vault.log  Vault's log (warn level) and the program's errors
#   pid, stamp the running process and the build it runs
# Tests share this instance, so they never seal it: a test that seals
# starts a private one (testserver.NewVault, on ports of its own).
#
# The binary: $TERN_CACHE_DIR/bin/vaultserver (default ~/.cache/tern), kept
# outside the work tree so that every checkout on the machine reuses it; it
# is rebuilt only when the sources (go.mod, go.sum, non-test .go files) or
# the Go version change, stamped in vaultserver.stamp beside it. A first
# build on an empty Go build cache takes about 9 minutes on 2 cores (the
# Vault module is large); after that, a rebuild is a link of a few seconds.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$HERE/vaultserver
GO=${GO:-go}
CACHE=${TERN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tern}
BIN=$CACHE/bin/vaultserver
DIR=${TERN_TEST_SERVERS_DIR:-/tmp/tern-test-servers}/vault
PORT=${TERN_TEST_VAULT_PORT:-18200}
TLS_PORT=${TERN_TEST_VAULT_TLS_PORT:-18201}

log() { echo "vault: $*"; }
die() { echo "vault: $*" >&2; exit 1; }

# stamp prints a digest of what the binary is built from.
stamp() {
	(
		cd "$SRC"
		"$GO" version
		echo "flags: -trimpath -ldflags=-s -w"
		find . -maxdepth 1 -type f \( -name go.mod -o -name go.sum -o \( -name '*.go' ! -name '*_test.go' \) \) -print | LC_ALL=C sort | xargs sha256sum
	) | sha256sum | cut -c1-16
}

build() {
	command -v "$GO" >/dev/null 2>&1 || die "go not found"
	local want
	want=$(stamp)
	[ -x "$BIN" ] && [ "$(cat "$BIN.stamp" 2>/dev/null)" = "$want" ] && return 0
	mkdir -p "$(dirname "$BIN")"
	(
		# One build at a time; a waiting caller finds the binary made.
		flock 9
		[ -x "$BIN" ] && [ "$(cat "$BIN.stamp" 2>/dev/null)" = "$want" ] && exit 0
		log "building $BIN (the first build on an empty Go build cache takes about 9 minutes)" >&2
		local start=$SECONDS tmp="$BIN.tmp.$$"
		if ! "$GO" build -C "$SRC" -trimpath -buildvcs=false -ldflags='-s -w' -o "$tmp" .; then
			rm -f "$tmp"
			die "build failed"
		fi
		mv -f "$tmp" "$BIN"
		echo "$want" >"$BIN.stamp"
		log "built in $((SECONDS - start)) s" >&2
	) 9>"$(dirname "$BIN")/.vaultserver.lock"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# running: the recorded process is alive, is our binary and listens.
running() {
	local pid
	pid=$(cat "$DIR/pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q vaultserver || return 1
	port_open "$PORT"
}

# field NAME prints a string field of info.json (as the program indents it).
field() {
	sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" "$DIR/info.json" 2>/dev/null
}

stop() {
	local pid
	pid=$(cat "$DIR/pid" 2>/dev/null) || { log "not running"; return 0; }
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q vaultserver; then
		kill -TERM "$pid"
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		log "stopped (pid $pid)"
	fi
	rm -f "$DIR/pid" "$DIR/stamp" "$DIR/info.json"
}

start() {
	build
	mkdir -p "$DIR"
	local want
	want=$(cat "$BIN.stamp")
	if running; then
		if [ "$(cat "$DIR/stamp" 2>/dev/null)" = "$want" ] && [ -f "$DIR/info.json" ]; then
			log "running at $(field addr) and $(field tls_addr) (pid $(cat "$DIR/pid"))"
			return 0
		fi
		log "restarting: the binary changed"
		stop
	fi
	rm -f "$DIR/info.json" "$DIR/pid"
	for p in "$PORT" "$TLS_PORT"; do
		port_open "$p" && die "127.0.0.1:$p is taken by another program"
	done
	# setsid and no inherited descriptors: the server outlives this script
	# and whoever ran it (go test waits for its children's output pipes),
	# and holds none of the locks.
	setsid "$BIN" -addr "127.0.0.1:$PORT" -tls-addr "127.0.0.1:$TLS_PORT" \
		-info "$DIR/info.json" -ca "$DIR/ca.pem" -log "$DIR/vault.log" \
		</dev/null >>"$DIR/vault.log" 2>&1 8>&- 9>&- &
	local pid=$!
	echo "$pid" >"$DIR/pid"
	echo "$want" >"$DIR/stamp"
	for _ in $(seq 1 600); do
		if [ -f "$DIR/info.json" ]; then
			log "ready at $(field addr) and $(field tls_addr) (pid $pid); info in $DIR/info.json"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM "$pid" 2>/dev/null || true
	rm -f "$DIR/pid" "$DIR/stamp"
	echo "vault: did not start; the end of $DIR/vault.log:" >&2
	tail -20 "$DIR/vault.log" >&2 || true
	exit 1
}

# The lock serialises start and stop of callers running at once (test
# packages in parallel, each through internal/testserver.Vault).
locked() {
	mkdir -p "$DIR"
	(
		flock 8
		"$@"
	) 8>"$DIR/.lock"
}

cmd=${1:-start}
case "$cmd" in
build) build ;;
path)
	build
	echo "$BIN"
	;;
start) locked start ;;
stop) locked stop ;;
status)
	if running; then
		echo "vault: up on $PORT (HTTPS $TLS_PORT), pid $(cat "$DIR/pid")"
	else
		echo "vault: down"
	fi
	;;
env)
	echo "TERN_TEST_VAULT_ADDR=http://127.0.0.1:$PORT"
	echo "TERN_TEST_VAULT_TLS_ADDR=https://127.0.0.1:$TLS_PORT"
	echo "TERN_TEST_VAULT_CACERT=$DIR/ca.pem"
	echo "TERN_TEST_VAULT_INFO=$DIR/info.json"
	if running; then echo "TERN_TEST_VAULT_TOKEN=$(field root_token)"; fi
	;;
test)
	cd "$SRC"
	"$GO" test -count=1 "${@:2}" ./...
	;;
*)
	echo "usage: $0 build|path|start|stop|status|env|test" >&2
	exit 2
	;;
esac
