// Package cli is the tern command line: `tern migrate` (one-shot
// migrations without the console), `tern serve` (the daemon), `tern
// plugins` (what connectors are installed) and `tern version`.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/ternmail/tern/core/internal/app"
	"github.com/ternmail/tern/core/internal/config"
	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/pluginhost"
	"github.com/ternmail/tern/sdk/connector"
)

const usage = `Tern migrates mailboxes from IMAP servers to IMAP, Google Workspace,
Microsoft 365 and Exchange.

Usage:
  tern migrate [flags]         migrate mailboxes now, without the console
  tern serve [--config FILE]   run the daemon (console and API)
  tern connectors add|list|show|test|delete
                               configure source and target servers, test how to log in
  tern users discover CONNECTOR
                               list the mailboxes a connector's administrator can see
  tern projects list|create|show|update|delete
                               projects: a source and a target connector, what to migrate
  tern users list|add|import|retrieve|run|delete PROJECT …
                               a project's users (CSV import, automated retrieval)
  tern batches list|start|status|pause|resume|cancel|rerun PROJECT …
                               run users in batches, scheduled by availability
  tern reports PROJECT --user U | --batch B [--csv]
                               what a pass migrated, skipped and why
  tern invitations list|send|resend|revoke PROJECT …
                               self-service: users migrate their own mailbox from an e-mailed link
  tern auth unblock --server S resume logins paused after repeated failures
  tern status                  the daemon, the secrets backend and its Vault token
  tern admin list|create|reset-password|unlock NAME
                               console administrators (with the daemon stopped)
  tern secrets list|migrate    show where secrets are; move them into Vault
  tern plugins [list|describe ID] [--plugins DIR]
                               show the installed connector plugins
  tern version                 print the version

Run "tern <command> --help" for a command's flags.
`

// Main runs the command line and returns the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], stderr)
	case "plugins":
		return runPlugins(ctx, args[1:], stdout, stderr)
	case "connectors":
		return runConnectors(ctx, args[1:], stdout, stderr)
	case "users":
		return runUsers(ctx, args[1:], stdout, stderr)
	case "projects":
		return runProjects(ctx, args[1:], stdout, stderr)
	case "batches":
		return runBatches(ctx, args[1:], stdout, stderr)
	case "reports":
		return runReports(ctx, args[1:], stdout, stderr)
	case "invitations":
		return runInvitations(ctx, args[1:], stdout, stderr)
	case "auth":
		return runAuth(ctx, args[1:], stdout, stderr)
	case "status":
		return runStatus(ctx, args[1:], stdout, stderr)
	case "admin":
		return runAdmin(ctx, args[1:], stdout, stderr)
	case "secrets":
		return runSecrets(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "tern %s (connector protocol %d.%d)\n", app.Version, connector.ProtocolVersion, connector.ProtocolVersionMinor)
		return 0
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tern: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func runServe(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("tern serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML configuration `file` (embedded defaults without it)")
	listen := fs.String("listen", "", "listen `address` (overrides the config)")
	state := fs.String("state", "", "state `directory` (overrides the config)")
	plugins := fs.String("plugins", "", "plugins `directory` (overrides the config)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "tern serve: %v\n", err)
		return 2
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *state != "" {
		cfg.StateDir = *state
	}
	if *plugins != "" {
		cfg.PluginsDir = *plugins
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "tern serve: %v\n", err)
		return 2
	}
	level, err := logx.ParseLevel(cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "tern serve: %v\n", err)
		return 2
	}
	log := logx.New(stderr, level, cfg.LogJSON)
	if err := app.Run(ctx, cfg, log, level, nil); err != nil {
		log.Error("tern serve stopped", "err", err)
		return 1
	}
	return 0
}

func runPlugins(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tern plugins", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("plugins", DefaultPluginsDir(), "plugins `directory`")
	// The subcommand and its argument may come before or after the flags.
	var words []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
	arg := func(i int) string {
		if i < len(words) {
			return words[i]
		}
		return ""
	}
	h, err := pluginhost.New(*dir, nil)
	if err != nil {
		fmt.Fprintf(stderr, "tern plugins: %v\n", err)
		return 1
	}
	defer h.Close()
	switch arg(0) {
	case "", "list":
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tVERSION\tROLES\tSHA256\tSTATUS")
		for _, inf := range h.List() {
			version, roles, status := "-", "-", "ok"
			if inf.Error != "" {
				status = "refused: " + inf.Error
			} else if m, err := h.Connector(inf.ID); err == nil {
				if d, err := m.Describe(ctx); err != nil {
					status = "broken: " + err.Error()
				} else {
					version, roles = d.Version, fmt.Sprint(d.Roles)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", inf.ID, version, roles, inf.SHA256[:min(12, len(inf.SHA256))], status)
		}
		tw.Flush()
		return 0
	case "describe":
		m, err := h.Connector(arg(1))
		if err != nil {
			fmt.Fprintf(stderr, "tern plugins: %v\n", err)
			return 1
		}
		d, err := m.Describe(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "tern plugins: %v\n", err)
			return 1
		}
		out := map[string]any{"id": d.ID, "version": d.Version, "protocol_version": d.ProtocolVersion, "summary": d.Summary,
			"roles": d.Roles, "capabilities": d.Capabilities, "settings_schema": json.RawMessage(d.SettingsSchema), "sha256": m.Info().SHA256}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return 0
	}
	fmt.Fprintf(stderr, "tern plugins: unknown subcommand %q (list, describe ID)\n", arg(0))
	return 2
}
