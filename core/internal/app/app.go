// Package app wires the daemon together: it opens the state store, finds
// the plugins, starts the web server, and shuts everything down in reverse
// order when its context ends.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/ternmail/tern/core/internal/admins"
	"github.com/ternmail/tern/core/internal/auth"
	"github.com/ternmail/tern/core/internal/config"
	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/mailer"
	"github.com/ternmail/tern/core/internal/pluginhost"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/runner"
	"github.com/ternmail/tern/core/internal/scheduler"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/selfservice"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/core/internal/web"
	"github.com/ternmail/tern/sdk/connector"
)

// AddressFile is the file in the state directory that holds the running
// daemon's URL, for the CLI.
const AddressFile = "serve-address"

// Version is set by the build (-ldflags "-X ...app.Version=...").
var Version = "dev"

// Run runs the daemon until ctx ends. ready, if not nil, receives the
// listening address once the server accepts connections.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, level slog.Level, ready func(addr string)) error {
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	db, err := store.Open(cfg.StateDir, &store.Options{Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	sec, err := secrets.Open(ctx, cfg.Secrets, cfg.StateDir)
	if err != nil {
		return fmt.Errorf("secrets backend %s is unusable, refusing to start: %w", or(cfg.Secrets.Backend, "embedded"), err)
	}
	defer sec.Close()
	if h := sec.Health(ctx); !h.OK {
		return fmt.Errorf("secrets backend %s is unusable, refusing to start: %s", h.Backend, h.Detail)
	} else {
		log.Info("secrets backend ready", "backend", h.Backend, "detail", h.Detail)
	}
	plugins, err := pluginhost.New(cfg.PluginsDir, &pluginhost.Options{Logger: log, LogLevel: level})
	if err != nil {
		return err
	}
	defer plugins.Close()
	for _, p := range plugins.List() {
		if p.Error != "" {
			log.Warn("connector plugin refused", "id", p.ID, "reason", p.Error)
		} else {
			log.Info("connector plugin found", "id", p.ID, "sha256", p.SHA256)
		}
	}
	tokenPath := filepath.Join(cfg.StateDir, "api-token")
	token, err := web.LoadOrCreateToken(tokenPath)
	if err != nil {
		return fmt.Errorf("API token: %w", err)
	}
	log.Info("JSON API under /api/v1; its bearer token is in a file readable by this user only", "file", tokenPath)
	reg := connectors.NewRegistry(db, sec)
	projects := project.NewStore(db, sec)
	guard := auth.NewGuard(db, nil) // shared: a server's refused logins add up, whoever tried
	mail := mailer.New(db, sec)
	run := &runner.Runner{DB: db, Registry: reg, Plugins: runner.HostPlugins(plugins), Guard: guard,
		Engine: engine.New(engine.Config{Logger: log}), Log: log}
	self := selfservice.New(selfservice.Options{DB: db, Secrets: sec, Projects: projects, Connectors: reg,
		Plugins: runner.HostPlugins(plugins), Guard: guard, Mailer: mail, Logger: log})
	sched := scheduler.New(projects, run, scheduler.Options{
		OnPassEnd:   self.PassEnded,
		Concurrency: cfg.Concurrency,
		ConnectorLimit: func(name string) int {
			c, err := reg.Get(context.Background(), name)
			if err != nil {
				return 0
			}
			return c.Concurrency
		},
		Logger: log,
	})
	self.SetScheduler(sched)
	self.Start()
	defer self.Close() // after the scheduler's, which may still end passes
	if err := sched.Start(ctx); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	defer sched.Close()
	srv := web.New(web.Options{
		DB:          db,
		APIToken:    token,
		Connectors:  reg,
		Projects:    projects,
		Mailer:      mail,
		SelfService: self,
		PublicURL:   cfg.PublicURL,
		Scheduler:   sched,
		Metrics:     func(context.Context) []web.Metric { return schedulerMetrics(sched.Metrics()) },
		Plugins:     pluginSource{plugins},
		Secrets:     sec,
		Version:     Version,
		Logger:      log,
		Checks: map[string]web.Health{
			"store": func(ctx context.Context) error {
				var v int
				return db.Get(ctx, "v1/meta/schema", &v)
			},
			"secrets": func(ctx context.Context) error {
				if h := sec.Health(ctx); !h.OK {
					return fmt.Errorf("%s: %s", h.Backend, h.Detail)
				}
				return nil
			},
		},
		Info: func() any {
			return map[string]any{"plugins": plugins.List(), "secrets": sec.Health(context.Background())}
		},
	})
	// The first start creates the console's administrator with a one-time
	// password, shown here once, on stderr and never through the logger.
	if pw, err := srv.Admins().EnsureInitial(ctx); err != nil {
		return fmt.Errorf("console administrator: %w", err)
	} else if pw != "" {
		fmt.Fprintf(Stderr, "\n  Console administrator created: name %q, one-time password %s\n  (shown once; you choose a new password at the first login)\n\n", admins.InitialName, pw)
		log.Info("console administrator created with a one-time password (printed on stderr, not logged)", "name", admins.InitialName)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("tern is serving", "addr", "http://"+ln.Addr().String(), "state", cfg.StateDir, "plugins", cfg.PluginsDir)
	// The address for the CLI on this machine (the configured one may be
	// port 0, or overridden by --listen).
	addrFile := filepath.Join(cfg.StateDir, AddressFile)
	if err := os.WriteFile(addrFile, []byte("http://"+ln.Addr().String()+"\n"), 0o600); err != nil {
		log.Warn("cannot write the daemon's address file", "file", addrFile, "err", err)
	}
	defer os.Remove(addrFile)
	if ready != nil {
		ready(ln.Addr().String())
	}
	return srv.Serve(ctx, ln)
}

// schedulerMetrics turns the scheduler's counters into Prometheus metrics.
func schedulerMetrics(m scheduler.Metrics) []web.Metric {
	counter := func(name, help string, v int64) web.Metric {
		return web.Metric{Name: "tern_" + name, Help: help, Counter: true, Value: float64(v)}
	}
	gauge := func(name, help string, v float64) web.Metric {
		return web.Metric{Name: "tern_" + name, Help: help, Value: v}
	}
	pass := func(outcome string, v int64) web.Metric {
		return web.Metric{Name: "tern_passes_total", Help: "Mailbox passes by outcome.", Counter: true, Labels: map[string]string{"outcome": outcome}, Value: float64(v)}
	}
	return []web.Metric{
		counter("messages_copied_total", "Messages copied to targets.", m.MessagesCopied),
		counter("bytes_copied_total", "Bytes of messages copied to targets.", m.BytesCopied),
		counter("pass_tries_total", "Mailbox passes started, retries included.", m.PassesStarted),
		counter("pass_retries_total", "Failed tries that are tried again.", m.Retries),
		pass("ok", m.PassesOK), pass("partial", m.PassesPartial), pass("failed", m.PassesFailed),
		pass("interrupted", m.PassesInterrupted), pass("cancelled", m.PassesCancelled),
		gauge("mailboxes_running", "Mailbox passes running.", float64(m.Running)),
		gauge("mailboxes_waiting", "Mailbox passes waiting for the secrets backend or a retry.", float64(m.Waiting)),
		gauge("mailboxes_queued", "Mailbox passes waiting for their turn or window.", float64(m.Queued)),
		gauge("batches_active", "Batches scheduled, running or paused.", float64(m.BatchesActive)),
		gauge("copy_rate_messages", "Messages copied per second, recently.", m.Rate),
		gauge("copy_rate_bytes", "Bytes copied per second, recently.", m.ByteRate),
	}
}

// Stderr receives the first start's one-time password (tests replace it).
var Stderr io.Writer = os.Stderr

// pluginSource adapts the plugin host to the web layer.
type pluginSource struct{ h *pluginhost.Host }

func (p pluginSource) Connector(id string) (connector.Connector, error) { return p.h.Connector(id) }

func (p pluginSource) List() []web.PluginInfo {
	var out []web.PluginInfo
	for _, i := range p.h.List() {
		out = append(out, web.PluginInfo{ID: i.ID, Path: i.Path, SHA256: i.SHA256, Error: i.Error})
	}
	return out
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
