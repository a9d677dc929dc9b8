package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/ternmail/tern/core/internal/config"
	"github.com/ternmail/tern/core/internal/secrets"
)

// daemonConfig loads the daemon configuration of a command: the file
// given, or the embedded defaults, with --state overriding.
func daemonConfig(path, state string) (config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, err
	}
	if state != "" {
		cfg.StateDir = state
	}
	return cfg, nil
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tern status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "daemon configuration `file`")
	state := fs.String("state", "", "state `directory` (overrides the configuration)")
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := daemonConfig(*path, *state)
	if err != nil {
		fmt.Fprintf(stderr, "tern status: %v\n", err)
		return 2
	}
	out := struct {
		Daemon  string          `json:"daemon"`
		Health  json.RawMessage `json:"health,omitempty"`
		Secrets secrets.Health  `json:"secrets"`
	}{Daemon: "not running at " + daemonURL(cfg)}
	// The daemon knows best; ask it first.
	client := &http.Client{Timeout: 3 * time.Second}
	if resp, err := client.Get(daemonURL(cfg) + "/healthz"); err == nil {
		var raw json.RawMessage
		if json.NewDecoder(resp.Body).Decode(&raw) == nil {
			out.Daemon, out.Health = "running at "+daemonURL(cfg), raw
		}
		resp.Body.Close()
	}
	// The secrets backend, checked from here too.
	sec, err := secrets.Open(ctx, cfg.Secrets, cfg.StateDir)
	if err != nil {
		out.Secrets = secrets.Health{Backend: or(cfg.Secrets.Backend, "embedded"), Detail: err.Error()}
	} else {
		out.Secrets = sec.Health(ctx)
		sec.Close()
	}
	if *jsonOut {
		writeJSON(stdout, out)
	} else {
		fmt.Fprintf(stdout, "Daemon:   %s\n", out.Daemon)
		state := "ok"
		if !out.Secrets.OK {
			state = "UNAVAILABLE"
		}
		fmt.Fprintf(stdout, "Secrets:  %s, %s — %s\n", out.Secrets.Backend, state, out.Secrets.Detail)
		if out.Secrets.Backend == "vault" && out.Secrets.OK {
			renew := "not renewable"
			if out.Secrets.TokenRenewable {
				renew = "renewable"
			}
			ttl := "no expiry"
			if out.Secrets.TokenTTL > 0 {
				ttl = out.Secrets.TokenTTL.Round(time.Second).String() + " left"
			}
			fmt.Fprintf(stdout, "Token:    %s, %s\n", ttl, renew)
		}
		if out.Health != nil {
			var h struct {
				Status string            `json:"status"`
				Checks map[string]string `json:"checks"`
			}
			json.Unmarshal(out.Health, &h)
			fmt.Fprintf(stdout, "Health:   %s %v\n", h.Status, h.Checks)
		}
	}
	if !out.Secrets.OK {
		return 1
	}
	return 0
}

const secretsUsage = `Usage:
  tern secrets list [--config FILE]
  tern secrets migrate --to vault --config FILE [--delete-embedded]

Credentials live in the secrets layer only: the embedded encrypted store
(default) or HashiCorp Vault ([secrets] in the configuration). "list" shows
the paths (never the values). "migrate --to vault" copies every secret from
the embedded store into the Vault configured under [secrets.vault], checks
each copy, and tells you to set backend = "vault".
`

func runSecrets(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tern secrets", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, secretsUsage, "\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("config", "", "daemon configuration `file`")
	state := fs.String("state", "", "state `directory` (overrides the configuration)")
	to := fs.String("to", "", "with migrate: the `backend` to move to (vault)")
	deleteEmbedded := fs.Bool("delete-embedded", false, "with migrate: delete the embedded store's file after a successful copy")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(words) != 1 {
		fs.Usage()
		return 2
	}
	cfg, err := daemonConfig(*path, *state)
	if err != nil {
		fmt.Fprintf(stderr, "tern secrets: %v\n", err)
		return 2
	}
	switch words[0] {
	case "list":
		sec, err := secrets.Open(ctx, cfg.Secrets, cfg.StateDir)
		if err != nil {
			fmt.Fprintf(stderr, "tern secrets list: %v\n", err)
			return 1
		}
		defer sec.Close()
		paths, err := sec.List(ctx, "")
		if err != nil {
			fmt.Fprintf(stderr, "tern secrets list: %v\n", err)
			return 1
		}
		for _, p := range paths {
			fmt.Fprintln(stdout, p)
		}
		return 0
	case "migrate":
		if *to != "vault" {
			fmt.Fprintln(stderr, "tern secrets migrate: --to vault is the only destination")
			return 2
		}
		if cfg.Secrets.Vault.Address == "" {
			fmt.Fprintln(stderr, "tern secrets migrate: configure [secrets.vault] (address, and token_file or role_id_file + secret_id_file) first")
			return 2
		}
		embeddedCfg := cfg.Secrets
		embeddedCfg.Backend = "embedded"
		from, err := secrets.Open(ctx, embeddedCfg, cfg.StateDir)
		if err != nil {
			fmt.Fprintf(stderr, "tern secrets migrate: embedded store: %v\n", err)
			return 1
		}
		defer from.Close()
		vaultStore, err := secrets.OpenVault(ctx, cfg.Secrets.Vault)
		if err != nil {
			fmt.Fprintf(stderr, "tern secrets migrate: vault: %v\n", err)
			return 1
		}
		defer vaultStore.Close()
		copied, err := secrets.Copy(ctx, from, vaultStore, "")
		if err != nil {
			fmt.Fprintf(stderr, "tern secrets migrate: %v (nothing was deleted; run it again)\n", err)
			return 1
		}
		for _, p := range copied {
			a, _ := from.Get(ctx, p)
			b, err := vaultStore.Get(ctx, p)
			if err != nil || a != b {
				fmt.Fprintf(stderr, "tern secrets migrate: %s did not read back from Vault (nothing was deleted)\n", p)
				return 1
			}
		}
		fmt.Fprintf(stdout, "%d secrets copied to Vault (%s) and checked.\nNow set backend = \"vault\" under [secrets] in the configuration.\n", len(copied), cfg.Secrets.Vault.Address)
		if *deleteEmbedded {
			file := or(cfg.Secrets.File, cfg.StateDir+"/secrets.json")
			if err := os.Remove(file); err != nil {
				fmt.Fprintf(stderr, "tern secrets migrate: delete %s: %v\n", file, err)
				return 1
			}
			fmt.Fprintf(stdout, "Deleted %s.\n", file)
		}
		return 0
	}
	fs.Usage()
	return 2
}
