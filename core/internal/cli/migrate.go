package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/ternmail/tern/core/internal/auth"
	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/pluginhost"
	"github.com/ternmail/tern/core/internal/runner"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
)

// MigrateConfig is the configuration file of `tern migrate` (TOML). Flags
// override it.
type MigrateConfig struct {
	// State is the directory of the state store (the ledger).
	State string `toml:"state"`
	// Plugins is the directory with the tern-connector-* binaries.
	Plugins string `toml:"plugins"`
	// Concurrency is the number of mailboxes migrated at once.
	Concurrency int `toml:"concurrency"`
	// Workers is the number of messages copied at once per mailbox.
	Workers int `toml:"workers"`
	// LogLevel is trace, debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// Users is a CSV user list (see ParseUsers).
	Users string `toml:"users"`

	// Secrets chooses where credentials live (default: an encrypted file in
	// the state directory; or Vault).
	Secrets secrets.Config `toml:"secrets"`

	Source EndpointConfig `toml:"source"`
	Target EndpointConfig `toml:"target"`
	Rules  RulesConfig    `toml:"rules"`
	Filter FilterConfig   `toml:"filter"`
}

// RulesConfig configures the folder rules.
type RulesConfig struct {
	Include      []string          `toml:"include"`
	Exclude      []string          `toml:"exclude"`
	Rename       map[string]string `toml:"rename"`
	NoSpecialUse bool              `toml:"no_special_use"`
}

// FilterConfig configures the message filters.
type FilterConfig struct {
	MaxSize     int64  `toml:"max_size"`
	Since       string `toml:"since"`
	Before      string `toml:"before"`
	SkipDeleted bool   `toml:"skip_deleted"`
	NoFlagSync  bool   `toml:"no_flag_sync"`
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type migrateFlags struct {
	config, state, plugins, user, targetUser, users, logLevel, reportFile string
	concurrency, workers                                                  int
	jsonOut, quiet                                                        bool
	progress                                                              time.Duration
	src, dst                                                              endpointFlags
	include, exclude, rename                                              stringList
	maxSize                                                               int64
	since, before                                                         string
	skipDeleted, noFlagSync                                               bool
}

const migrateUsage = `Usage: tern migrate [flags]

Migrates one mailbox (--user) or many (--users FILE.csv) from a source to a
target, without the console. Re-running the same command copies only what is
new and syncs changed flags; an interrupted run resumes exactly where it
stopped, without losing or duplicating a message.

Passwords never go on the command line: put them in a file (--source-password-file)
or an environment variable (TERN_SOURCE_PASSWORD, TERN_TARGET_PASSWORD), or
in the source_password / target_password columns of the user list.

Example:
  TERN_SOURCE_PASSWORD=… TERN_TARGET_PASSWORD=… tern migrate \
    --source imap --source-host old.example.com \
    --target imap --target-host new.example.com --target-tls starttls \
    --user alice

Exit status: 0 when every message was migrated, 1 when anything failed or
was skipped (see the summary), 2 when the command or its input is wrong.

Flags:
`

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tern migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, migrateUsage)
		fs.PrintDefaults()
	}
	var f migrateFlags
	fs.StringVar(&f.config, "config", "", "TOML configuration `file` (flags override it)")
	fs.StringVar(&f.state, "state", "", "state `directory` (the ledger that makes re-runs exact); default ~/.local/state/tern")
	fs.StringVar(&f.plugins, "plugins", "", "`directory` with tern-connector-* plugins (default: next to the tern binary)")
	fs.StringVar(&f.user, "user", "", "the mailbox `user` to migrate")
	fs.StringVar(&f.targetUser, "target-user", "", "the target mailbox `user`, when it differs from --user")
	fs.StringVar(&f.users, "users", "", "CSV `file` of users: header source_user,target_user[,source_password,target_password]")
	fs.IntVar(&f.concurrency, "concurrency", 0, "mailboxes migrated at once (default 4)")
	fs.IntVar(&f.workers, "workers", 0, "messages copied at once per mailbox (default 4)")
	fs.BoolVar(&f.jsonOut, "json", false, "print the summary as JSON")
	fs.StringVar(&f.reportFile, "report", "", "write the full reports (every folder and skipped item) as JSON to `file`")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines")
	fs.DurationVar(&f.progress, "progress", 2*time.Second, "progress line `interval`")
	fs.StringVar(&f.logLevel, "log-level", "", "log `level`: trace, debug, info, warn, error (default warn)")
	f.src.register(fs, "source-", "source")
	f.dst.register(fs, "target-", "target")
	fs.Var(&f.include, "include", "only migrate folders matching this `glob` (logical path with /, e.g. 'Work/**'; repeatable)")
	fs.Var(&f.exclude, "exclude", "do not migrate folders matching this `glob` (repeatable)")
	fs.Var(&f.rename, "rename", "rename a folder and its children: `from=to` (repeatable)")
	fs.Int64Var(&f.maxSize, "max-size", 0, "leave out messages larger than this many `bytes`")
	fs.StringVar(&f.since, "since", "", "leave out messages received before this `date` (YYYY-MM-DD)")
	fs.StringVar(&f.before, "before", "", "leave out messages received on or after this `date` (YYYY-MM-DD)")
	fs.BoolVar(&f.skipDeleted, "skip-deleted", false, "leave out messages flagged \\Deleted")
	fs.BoolVar(&f.noFlagSync, "no-flag-sync", false, "do not update flags of messages copied earlier")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tern migrate: unexpected argument %q (passwords are never arguments; see --help)\n", fs.Arg(0))
		return 2
	}
	cfg, pairs, err := f.resolve(fs)
	if err != nil {
		fmt.Fprintf(stderr, "tern migrate: %v\n", err)
		return 2
	}
	m, err := newMigration(ctx, cfg, pairs, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tern migrate: %v\n", err)
		return 2
	}
	defer m.close()
	reports := m.run(ctx, !f.quiet && f.progress > 0, f.progress)
	if f.reportFile != "" {
		b, _ := json.MarshalIndent(reports, "", "  ")
		if err := os.WriteFile(f.reportFile, append(b, '\n'), 0o600); err != nil {
			fmt.Fprintf(stderr, "tern migrate: write report: %v\n", err)
		}
	}
	if f.jsonOut {
		printJSONSummary(stdout, reports)
	} else {
		printSummary(stdout, reports)
	}
	for _, r := range reports {
		if r.Status != engine.StatusOK {
			return 1
		}
	}
	return 0
}

// resolve merges the config file and the flags and loads the user list.
func (f *migrateFlags) resolve(fs *flag.FlagSet) (*MigrateConfig, []UserPair, error) {
	cfg := &MigrateConfig{}
	if f.config != "" {
		md, err := toml.DecodeFile(f.config, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("config file: %w", err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return nil, nil, fmt.Errorf("config file %s: unknown key %q", f.config, und[0].String())
		}
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["state"] {
		cfg.State = f.state
	}
	if set["plugins"] {
		cfg.Plugins = f.plugins
	}
	if set["concurrency"] {
		cfg.Concurrency = f.concurrency
	}
	if set["workers"] {
		cfg.Workers = f.workers
	}
	if set["log-level"] {
		cfg.LogLevel = f.logLevel
	}
	if set["users"] {
		cfg.Users = f.users
	}
	if err := f.src.apply(fs, &cfg.Source); err != nil {
		return nil, nil, err
	}
	if err := f.dst.apply(fs, &cfg.Target); err != nil {
		return nil, nil, err
	}
	cfg.Rules.Include = append(cfg.Rules.Include, f.include...)
	cfg.Rules.Exclude = append(cfg.Rules.Exclude, f.exclude...)
	for _, r := range f.rename {
		from, to, ok := strings.Cut(r, "=")
		if !ok {
			return nil, nil, fmt.Errorf("--rename %q: want from=to", r)
		}
		if cfg.Rules.Rename == nil {
			cfg.Rules.Rename = map[string]string{}
		}
		cfg.Rules.Rename[from] = to
	}
	if set["max-size"] {
		cfg.Filter.MaxSize = f.maxSize
	}
	if set["since"] {
		cfg.Filter.Since = f.since
	}
	if set["before"] {
		cfg.Filter.Before = f.before
	}
	if set["skip-deleted"] {
		cfg.Filter.SkipDeleted = f.skipDeleted
	}
	if set["no-flag-sync"] {
		cfg.Filter.NoFlagSync = f.noFlagSync
	}

	var pairs []UserPair
	switch {
	case f.user != "" && cfg.Users != "":
		return nil, nil, errors.New("give --user or --users, not both")
	case f.user != "":
		tu := f.targetUser
		if tu == "" {
			tu = f.user
		}
		pairs = []UserPair{{SourceUser: f.user, TargetUser: tu}}
	case cfg.Users != "":
		file, err := os.Open(cfg.Users)
		if err != nil {
			return nil, nil, err
		}
		defer file.Close()
		pairs, err = ParseUsers(file)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", cfg.Users, err)
		}
	default:
		return nil, nil, errors.New("nothing to migrate: give --user NAME or --users FILE.csv")
	}
	return cfg, pairs, nil
}

// migration is one `tern migrate` run.
type migration struct {
	cfg     *MigrateConfig
	pairs   []UserPair
	db      *store.DB
	secrets secrets.Store
	reg     *connectors.Registry
	host    *pluginhost.Host
	eng     *engine.Engine
	src     *runner.Side
	dst     *runner.Side
	opts    engine.Options
	stderr  io.Writer
}

func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "tern")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "tern")
	}
	return "tern-state"
}

// DefaultPluginsDir is the directory of the running binary.
func DefaultPluginsDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Dir(exe)
}

func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return t, nil
}

func newMigration(ctx context.Context, cfg *MigrateConfig, pairs []UserPair, stderr io.Writer) (*migration, error) {
	if cfg.State == "" {
		cfg.State = defaultStateDir()
	}
	if cfg.Plugins == "" {
		cfg.Plugins = DefaultPluginsDir()
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "warn"
	}
	level, err := logx.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	log := logx.New(stderr, level, false)
	m := &migration{cfg: cfg, pairs: pairs, stderr: stderr}
	since, err := parseDate(cfg.Filter.Since)
	if err != nil {
		return nil, err
	}
	before, err := parseDate(cfg.Filter.Before)
	if err != nil {
		return nil, err
	}
	m.opts = engine.Options{
		Workers:    cfg.Workers,
		Rules:      engine.Rules{Include: cfg.Rules.Include, Exclude: cfg.Rules.Exclude, NoSpecialUse: cfg.Rules.NoSpecialUse},
		Filter:     engine.Filter{MaxSize: cfg.Filter.MaxSize, Since: since, Before: before, SkipDeleted: cfg.Filter.SkipDeleted},
		NoFlagSync: cfg.Filter.NoFlagSync,
	}
	froms := make([]string, 0, len(cfg.Rules.Rename))
	for from := range cfg.Rules.Rename {
		froms = append(froms, from)
	}
	sort.Strings(froms)
	for _, from := range froms {
		m.opts.Rules.Rename = append(m.opts.Rules.Rename, engine.Rename{From: from, To: cfg.Rules.Rename[from]})
	}
	if err := m.opts.Rules.Validate(); err != nil {
		return nil, err
	}
	for _, p := range pairs {
		logx.Redact(p.SourcePassword)
		logx.Redact(p.TargetPassword)
	}
	if m.db, err = openStore(cfg.State, log); err != nil {
		return nil, err
	}
	if m.secrets, err = secrets.Open(ctx, cfg.Secrets, cfg.State); err != nil {
		m.close()
		return nil, fmt.Errorf("secrets backend: %w", err)
	}
	if h := m.secrets.Health(ctx); !h.OK {
		m.close()
		return nil, fmt.Errorf("secrets backend %s is unusable: %s", h.Backend, h.Detail)
	}
	reg := connectors.NewRegistry(m.db, m.secrets)
	m.reg = reg
	src, err := cfg.Source.resolve(ctx, reg, "source")
	if err != nil {
		m.close()
		return nil, err
	}
	dst, err := cfg.Target.resolve(ctx, reg, "target")
	if err != nil {
		m.close()
		return nil, err
	}
	// Every password must be there before anything starts; the user
	// list's passwords go to the secrets layer, per mailbox.
	for _, side := range []struct {
		name string
		c    *connectors.Config
		csv  func(UserPair) string
		path func(string) string
	}{{"source", src, func(p UserPair) string { return p.SourcePassword }, secrets.MailboxSource},
		{"target", dst, func(p UserPair) string { return p.TargetPassword }, secrets.MailboxTarget}} {
		if err := checkSecrets(side.name, side.c, pairs, side.csv); err != nil {
			m.close()
			return nil, err
		}
		for _, p := range pairs {
			if v := side.csv(p); v != "" {
				if err := m.secrets.Put(ctx, side.path(runner.MailboxID(src, dst, p.SourceUser, p.TargetUser)), v); err != nil {
					m.close()
					return nil, fmt.Errorf("store %s password of %s: %w", side.name, p.SourceUser, err)
				}
			}
		}
	}
	m.host, err = pluginhost.New(cfg.Plugins, &pluginhost.Options{Logger: log, LogLevel: level})
	if err != nil {
		m.close()
		return nil, err
	}
	guard := auth.NewGuard(m.db, nil)
	if m.src, err = m.side(ctx, reg, guard, "source", src, cfg.Source.Username, connector.RoleSource); err != nil {
		m.close()
		return nil, err
	}
	if m.dst, err = m.side(ctx, reg, guard, "target", dst, cfg.Target.Username, connector.RoleTarget); err != nil {
		m.close()
		return nil, err
	}
	m.eng = engine.New(engine.Config{Logger: log})
	return m, nil
}

// openStore opens the state store, saying clearly when another tern
// holds it.
func openStore(dir string, log *slog.Logger) (*store.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	db, err := store.Open(dir, &store.Options{Logger: log})
	if err != nil && strings.Contains(err.Error(), "Cannot acquire directory lock") {
		return nil, fmt.Errorf("state directory %s is %w", dir, errStateInUse)
	}
	return db, err
}

// checkSecrets makes sure every password a side needs is configured.
func checkSecrets(side string, c *connectors.Config, pairs []UserPair, csv func(UserPair) string) error {
	if c.AuthConfig().Mode() != auth.ModePerUser {
		return nil // resolve checked the administrator's
	}
	for _, p := range pairs {
		if csv(p) == "" && !c.Auth.HasUserSecret {
			return fmt.Errorf("%s: no password for %s: set TERN_%s_PASSWORD, use --%s-password-file, an administrator or magic password, or give passwords in the user list",
				side, p.SourceUser, strings.ToUpper(side), side)
		}
	}
	return nil
}

// side starts a side's plugin and checks its role; for an administrator
// whose login method is not known yet, it runs the connection test with
// the first user to find it, and prints the report.
func (m *migration) side(ctx context.Context, reg *connectors.Registry, guard *auth.Guard, name string, c *connectors.Config, username string, role connector.Role) (*runner.Side, error) {
	sample := ""
	if len(m.pairs) > 0 {
		sample = m.pairs[0].SourceUser
		if name == "target" {
			sample = m.pairs[0].TargetUser
		}
	}
	s, err := runner.NewSide(ctx, reg, runner.HostPlugins(m.host), guard, name, c, role, sample, func(side string, c *connectors.Config, sample string, det *connectors.Detection) {
		fmt.Fprintf(m.stderr, "tern: found how administrator %s logs in to %s (connection test with %s):\n", c.Auth.AdminUser, c.Server(), sample)
		printReport(m.stderr, det)
	})
	if err != nil {
		return nil, err
	}
	s.Username = username
	return s, nil
}

func (m *migration) close() {
	if m.host != nil {
		m.host.Close()
	}
	if m.secrets != nil {
		m.secrets.Close()
	}
	if m.db != nil {
		m.db.Close()
	}
}

func (m *migration) job(p UserPair) (*engine.Job, error) {
	id := runner.MailboxID(m.src.Config, m.dst.Config, p.SourceUser, p.TargetUser)
	var ownSrc, ownDst string
	if p.SourcePassword != "" {
		ownSrc = secrets.MailboxSource(id)
	}
	if p.TargetPassword != "" {
		ownDst = secrets.MailboxTarget(id)
	}
	return runner.Job(m.db, m.src, m.dst, p.SourceUser, p.TargetUser, ownSrc, ownDst, m.opts, &engine.Progress{}), nil
}

// run migrates every pair, a few at a time, and returns their reports in
// input order.
func (m *migration) run(ctx context.Context, showProgress bool, every time.Duration) []*engine.Report {
	conc := m.cfg.Concurrency
	if conc <= 0 {
		conc = 4
	}
	jobs := make([]*engine.Job, len(m.pairs))
	reports := make([]*engine.Report, len(m.pairs))
	for i, p := range m.pairs {
		j, err := m.job(p)
		if err != nil {
			reports[i] = &engine.Report{Source: p.SourceUser, Target: p.TargetUser, Status: engine.StatusFailed, Error: err.Error()}
			continue
		}
		jobs[i] = j
	}
	start := time.Now()
	stop := make(chan struct{})
	var pwg sync.WaitGroup
	if showProgress {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					fmt.Fprintln(m.stderr, progressLine(jobs, reports, time.Since(start)))
				}
			}
		}()
	}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, j := range jobs {
		if j == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rep := m.eng.Run(ctx, j)
			rep.Source, rep.Target = m.pairs[i].SourceUser, m.pairs[i].TargetUser
			m.db.Put(context.WithoutCancel(ctx), store.Key("v1", "report", j.Mailbox, rep.Started.Format(time.RFC3339Nano)), rep)
			mu.Lock()
			reports[i] = rep
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	pwg.Wait()
	if showProgress {
		fmt.Fprintln(m.stderr, progressLine(jobs, reports, time.Since(start)))
	}
	return reports
}

func progressLine(jobs []*engine.Job, reports []*engine.Report, elapsed time.Duration) string {
	var done, copied, bytes, toCopy, present, failed, skipped int64
	waiting := ""
	for i, j := range jobs {
		if j == nil {
			continue
		}
		p := j.Progress
		copied += p.Copied.Load()
		bytes += p.BytesCopied.Load()
		toCopy += p.ToCopy.Load()
		present += p.Present.Load()
		failed += p.Failed.Load()
		skipped += p.Skipped.Load()
		if w := p.Waiting(); w != "" && waiting == "" {
			waiting = w
		}
		if reports[i] != nil {
			done++
		}
	}
	secs := max(elapsed.Seconds(), 0.001)
	if waiting != "" {
		waiting = " · PAUSED, waiting: " + waiting
	}
	return fmt.Sprintf("[%s] mailboxes %d/%d · copied %d/%d messages, %s · %.0f msg/s, %s/s · already there %d · skipped %d · failed %d%s",
		elapsed.Round(time.Second), done, len(jobs), copied, toCopy, humanBytes(bytes), float64(copied)/secs, humanBytes(int64(float64(bytes)/secs)), present, skipped, failed, waiting)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return strconv.FormatInt(n, 10) + " B"
}

func printSummary(w io.Writer, reports []*engine.Report) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tTARGET\tSTATUS\tCOPIED\tBYTES\tALREADY THERE\tFLAGS SYNCED\tSKIPPED\tFAILED\tTIME")
	for _, r := range reports {
		t := r.Totals
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Source, r.Target, r.Status, t.Copied, humanBytes(t.Bytes),
			t.Present+t.Reconciled+t.Rematched, t.FlagsUpdated, t.Skipped, t.Failed, r.Duration.Round(time.Millisecond))
	}
	tw.Flush()
	for _, r := range reports {
		if r.Error != "" {
			fmt.Fprintf(w, "%s → %s: %s\n", r.Source, r.Target, r.Error)
		}
		for _, f := range r.Folders {
			if f.Error != "" {
				fmt.Fprintf(w, "%s → %s: folder %q: %s\n", r.Source, r.Target, f.Source, f.Error)
			}
			for _, it := range f.Items {
				if it.Kind != "note" {
					fmt.Fprintf(w, "%s → %s: folder %q message %s (%d bytes) %s: %s\n", r.Source, r.Target, f.Source, it.ID, it.Size, it.Kind, it.Reason)
				}
			}
		}
	}
}

// summary is the JSON form of one mailbox's result.
type summary struct {
	Source     string        `json:"source"`
	Target     string        `json:"target"`
	Status     engine.Status `json:"status"`
	Error      string        `json:"error,omitempty"`
	Totals     engine.Counts `json:"totals"`
	DurationMS int64         `json:"duration_ms"`
	Problems   []string      `json:"problems,omitempty"`
}

func printJSONSummary(w io.Writer, reports []*engine.Report) {
	out := make([]summary, 0, len(reports))
	for _, r := range reports {
		s := summary{Source: r.Source, Target: r.Target, Status: r.Status, Error: r.Error, Totals: r.Totals, DurationMS: r.Duration.Milliseconds()}
		for _, f := range r.Folders {
			if f.Error != "" {
				s.Problems = append(s.Problems, fmt.Sprintf("folder %q: %s", f.Source, f.Error))
			}
			for _, it := range f.Items {
				if it.Kind != "note" {
					s.Problems = append(s.Problems, fmt.Sprintf("folder %q message %s %s: %s", f.Source, it.ID, it.Kind, it.Reason))
				}
			}
		}
		out = append(out, s)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}
