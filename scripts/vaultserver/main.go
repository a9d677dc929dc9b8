// Command vaultserver runs a real HashiCorp Vault for Tern's tests: Vault's
// own core (github.com/hashicorp/vault/vault) on in-memory storage, served
// by Vault's own HTTP handler on loopback addresses. It is no mock: the
// token store, the seal (Shamir keys, sys/seal and sys/unseal), KV version
// 2 and AppRole are Vault's code, and tests reach them only over HTTP.
//
// # Why a module of its own
//
// Tern stores credentials in Vault, and its tests need a real Vault on a
// machine with no Docker and no network beyond the Go module proxy, where
// Debian packages no Vault. Vault is a Go program, so it is built from the
// module proxy — but github.com/hashicorp/vault drags in hundreds of
// modules (cloud SDKs, gRPC, Raft…) and takes minutes to build cold. Kept
// in this module (github.com/ternmail/tern/scripts/vaultserver), none of it
// enters Tern's go.mod, `go test ./...` in the repository's root never
// compiles it, and the product depends only on the light client library
// github.com/hashicorp/vault/api.
//
// Vault v1.21.4's go.mod points github.com/hashicorp/vault/sdk at its own
// ./sdk directory; outside Vault's repository the released sdk v0.20.0 is
// the one that builds with it, hence the replace directive in go.mod.
//
// Vault's source is under the Business Source License (BUSL-1.1); this
// program is a test tool and never part of what Tern builds or ships.
//
// What is left out of a real `vault server`: the CLI, the UI, storage
// backends other than in-memory, HA and clustering, and every plugin but
// KV and AppRole (Vault's registry of built-in plugins would link every
// cloud SDK; see registry in server.go).
//
// # Use
//
//	vaultserver [-addr 127.0.0.1:0] [-tls] [-tls-addr ADDR] [-info FILE]
//	            [-ca FILE] [-log FILE] [-log-level warn] [-watch-stdin]
//
// It listens on -addr (plain HTTP, or HTTPS with -tls) and, with -tls-addr,
// on a second, HTTPS address of the same Vault. It initialises Vault
// through sys/init (5 key shares, threshold 3), unseals it through
// sys/unseal, mounts KV version 2 at secret/ and enables AppRole at
// approle/, all on its HTTP API; then it writes the -info file atomically
// (JSON: addr, tls_addr, ca_cert, root_token, unseal_keys_b64 — every
// share —, unseal_threshold, kv_mount, approle_mount, vault_version, pid)
// and prints one line, "vaultserver: ready ADDR", to standard output. For
// HTTPS it makes a self-signed CA and writes its PEM to -ca (default:
// ca.pem beside the info file); the server's certificate names 127.0.0.1,
// ::1 and localhost. It runs until SIGTERM or SIGINT or, with
// -watch-stdin, until its standard input closes (so a test's server dies
// with the test). Vault's log goes to standard error, or -log, at
// -log-level.
//
// Storage is in memory: a restarted server is a new Vault with new keys
// and a new root token, and rewrites the info file.
//
// scripts/vaultserver.sh builds it (only when its sources changed) and runs
// the shared test instance; internal/testserver.Vault gives it to tests.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "vaultserver:", err)
		os.Exit(1)
	}
}

// run is main with its inputs and outputs; it returns when the server has
// stopped. stop, if not nil, also stops it when closed.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, stop <-chan struct{}) error {
	fs := flag.NewFlagSet("vaultserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen `address` (host:port; port 0 picks one)")
	useTLS := fs.Bool("tls", false, "serve HTTPS on -addr with a self-signed CA")
	tlsAddr := fs.String("tls-addr", "", "also serve HTTPS on this `address` (same Vault)")
	infoFile := fs.String("info", "", "write the server's description (JSON) to this `file` when ready")
	caFile := fs.String("ca", "", "write the CA certificate (PEM) to this `file` (default: ca.pem beside -info)")
	logFile := fs.String("log", "", "append Vault's log to this `file` (default: standard error)")
	logLevel := fs.String("log-level", "warn", "Vault's log `level`: trace, debug, info, warn, error, off")
	watchStdin := fs.Bool("watch-stdin", false, "stop when standard input reaches end of file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		return fmt.Errorf("bad -log-level %q", *logLevel)
	}
	if (*useTLS || *tlsAddr != "") && *caFile == "" {
		if *infoFile == "" {
			return errors.New("-tls and -tls-addr need -ca or -info")
		}
		*caFile = filepath.Join(filepath.Dir(*infoFile), "ca.pem")
	}
	var logOut io.Writer = stderr
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		logOut = f
	}

	// Catch signals before anything that takes time, so a stop during
	// start-up is not lost.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	srv, err := Start(Config{Addr: *addr, TLS: *useTLS, TLSAddr: *tlsAddr, CAFile: *caFile, Log: logOut, LogLevel: level})
	if err != nil {
		return err
	}
	defer srv.Close()
	if *infoFile != "" {
		b, err := json.MarshalIndent(srv.Info, "", "  ")
		if err != nil {
			return err
		}
		// The file holds the root token and the unseal keys.
		if err := writeFileAtomic(*infoFile, append(b, '\n'), 0o600); err != nil {
			return err
		}
	}
	line := "vaultserver: ready " + srv.Info.Addr
	if srv.Info.TLSAddr != "" {
		line += " " + srv.Info.TLSAddr
	}
	fmt.Fprintln(stdout, line)

	eof := make(chan struct{})
	if *watchStdin {
		go func() {
			io.Copy(io.Discard, bufio.NewReader(stdin))
			close(eof)
		}()
	}
	select {
	case <-sigs:
	case <-eof:
	case <-stop:
	}
	return srv.Close()
}
