package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/ternmail/tern/core/internal/auth"
	"github.com/ternmail/tern/core/internal/config"
	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/pluginhost"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
)

const connectorsUsage = `Usage:
  tern connectors add NAME --plugin imap --host HOST [connection flags] [--admin-user U --admin-password-file F]
  tern connectors list
  tern connectors show NAME
  tern connectors test NAME --sample-user USER [--user-password-file F]
  tern connectors delete NAME

A connector is a configured plugin: a server, how to reach it, and how to log
in to its mailboxes. With an administrator user and password, one account
opens every mailbox (--admin-method auto finds how: SASL PLAIN authzid, a
master-user login "user*admin", or PROXYAUTH). With an administrator password
and no administrator user, the password is every user's ("magic password").
Without either, each user's own password is needed.

"test" reports the server's greeting, TLS, capabilities and SASL mechanisms,
and which ways of logging in open the sample user's mailbox; the result is
stored on the connector and used by migrations. Passwords are never stored:
a connector remembers the file or environment variable that holds them.
`

// stateFlags are the flags every command that opens the state store has.
type stateFlags struct {
	config, state, plugins, logLevel string
}

func (s *stateFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.config, "config", "", "daemon configuration `file` (tern.toml: secrets backend, directories)")
	fs.StringVar(&s.state, "state", "", "state `directory` (default: the configuration's, else ~/.local/state/tern)")
	fs.StringVar(&s.plugins, "plugins", "", "`directory` with tern-connector-* plugins (default: next to the tern binary)")
	fs.StringVar(&s.logLevel, "log-level", "warn", "log `level`")
}

// env is what a command works with: the store, the secrets, the
// connectors, the plugins.
type cmdEnv struct {
	db      *store.DB
	secrets secrets.Store
	reg     *connectors.Registry
	plugins *pluginhost.Host
}

func (s *stateFlags) open(ctx context.Context, stderr io.Writer, withPlugins bool) (*cmdEnv, error) {
	level, err := logx.ParseLevel(s.logLevel)
	if err != nil {
		return nil, err
	}
	log := logx.New(stderr, level, false)
	state, plugins := defaultStateDir(), DefaultPluginsDir()
	var sc secrets.Config
	if s.config != "" {
		cfg, err := config.Load(s.config)
		if err != nil {
			return nil, err
		}
		state, plugins, sc = cfg.StateDir, cfg.PluginsDir, cfg.Secrets
	}
	if s.state != "" {
		state = s.state
	}
	if s.plugins != "" {
		plugins = s.plugins
	}
	db, err := openStore(state, log)
	if err != nil {
		return nil, err
	}
	sec, err := secrets.Open(ctx, sc, state)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("secrets backend: %w", err)
	}
	e := &cmdEnv{db: db, secrets: sec, reg: connectors.NewRegistry(db, sec)}
	if withPlugins {
		if e.plugins, err = pluginhost.New(plugins, &pluginhost.Options{Logger: log, LogLevel: level}); err != nil {
			e.close()
			return nil, err
		}
	}
	return e, nil
}

func (e *cmdEnv) close() {
	if e.plugins != nil {
		e.plugins.Close()
	}
	e.secrets.Close()
	e.db.Close()
}

// secretInput is where the command line says a secret is: a file or an
// environment variable. It is read once and stored in the secrets layer;
// Tern keeps no reference to it.
type secretInput struct {
	File, Env string
}

func (s secretInput) given() bool { return s.File != "" || s.Env != "" }

func (s secretInput) read() (string, error) {
	switch {
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		logx.Redact(v)
		return v, nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		logx.Redact(v)
		return v, nil
	}
	return "", errors.New("no password given")
}

func (s secretInput) String() string {
	if s.File != "" {
		return "file " + s.File
	}
	return "environment variable " + s.Env
}

// parseInterleaved parses flags that may come before, between or after
// the positional words, and returns the words.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return words, nil
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func runConnectors(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tern connectors", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, connectorsUsage, "\nFlags:\n"); fs.PrintDefaults() }
	var sf stateFlags
	sf.register(fs)
	var ef endpointFlags
	ef.register(fs, "", "server")
	sample := fs.String("sample-user", "", "with test: the `user` whose mailbox the test opens")
	userPwFile := fs.String("user-password-file", "", "with test: `file` holding the sample user's own password")
	userPwEnv := fs.String("user-password-env", "", "with test: environment `variable` holding the sample user's own password")
	jsonOut := fs.Bool("json", false, "print JSON")
	replace := fs.Bool("replace", false, "with add: replace an existing connector of that name")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(words) == 0 {
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "tern connectors %s: %v\n", words[0], err)
		return 1
	}
	name := ""
	if len(words) > 1 {
		name = words[1]
	}
	needName := func() bool {
		if name == "" {
			fmt.Fprintf(stderr, "tern connectors %s: which connector? (tern connectors %s NAME)\n", words[0], words[0])
			return false
		}
		return true
	}
	store, err := sf.openConnectors(ctx, stderr, words[0] == "test" || words[0] == "add")
	if err != nil {
		return fail(err)
	}
	defer store.Close()

	switch words[0] {
	case "add":
		if !needName() {
			return 2
		}
		var ec EndpointConfig
		if err := ef.apply(fs, &ec); err != nil {
			return fail(err)
		}
		c := &connectors.Config{Name: name, Plugin: ec.Connector, Settings: ec.Settings,
			Auth: connectors.Auth{AdminUser: ec.AdminUser, AdminMethod: ec.AdminMethod}}
		var adminPw, userPw string
		for _, in := range []struct {
			what string
			in   secretInput
			dst  *string
		}{{"administrator password", secretInput{File: ec.AdminPasswordFile, Env: ec.AdminPasswordEnv}, &adminPw},
			{"user password", secretInput{File: ec.PasswordFile, Env: ec.PasswordEnv}, &userPw}} {
			if !in.in.given() {
				continue
			}
			if *in.dst, err = in.in.read(); err != nil {
				return fail(fmt.Errorf("%s: %w", in.what, err))
			}
		}
		c.Auth.HasAdminSecret, c.Auth.HasUserSecret = adminPw != "", userPw != ""
		if err := store.Add(ctx, c, adminPw, userPw, *replace); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "connector %s added (%s, %s)\n", name, c.Server(), modeWords(c))
		return 0
	case "list":
		list, err := store.List(ctx)
		if err != nil {
			return fail(err)
		}
		if *jsonOut {
			writeJSON(stdout, list)
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSERVER\tLOGIN\tLAST TEST")
		for _, c := range list {
			test := "never"
			if d := c.Detection; d != nil {
				test = fmt.Sprintf("%s with %s: %s", d.At.Format("2006-01-02 15:04"), d.SampleUser, or(d.Report.Recommended, "no login worked"))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Server(), modeWords(c), test)
		}
		tw.Flush()
		return 0
	case "show":
		if !needName() {
			return 2
		}
		c, err := store.Get(ctx, name)
		if err != nil {
			return fail(err)
		}
		if *jsonOut {
			writeJSON(stdout, c)
			return 0
		}
		fmt.Fprintf(stdout, "Connector: %s\nPlugin:    %s\nServer:    %s\nLogin:     %s\n", c.Name, c.Plugin, c.Server(), modeWords(c))
		if c.Detection != nil {
			printReport(stdout, c.Detection)
		}
		return 0
	case "delete":
		if !needName() {
			return 2
		}
		if err := store.Delete(ctx, name); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "connector %s deleted\n", name)
		return 0
	case "test":
		if !needName() {
			return 2
		}
		userSecret := ""
		if in := (secretInput{File: *userPwFile, Env: *userPwEnv}); in.given() {
			if userSecret, err = in.read(); err != nil {
				return fail(fmt.Errorf("sample user's password: %w", err))
			}
		}
		det, err := store.Test(ctx, name, *sample, userSecret)
		if err != nil {
			return fail(err)
		}
		if *jsonOut {
			writeJSON(stdout, det)
		} else {
			printReport(stdout, det)
		}
		if det.Report.Recommended == "" && *sample != "" {
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "tern connectors: unknown subcommand %q\n\n", words[0])
	fs.Usage()
	return 2
}

// modeWords says how a connector logs in.
func modeWords(c *connectors.Config) string {
	ac := c.AuthConfig()
	switch ac.Mode() {
	case auth.ModeAdmin:
		method := or(c.Auth.AdminMethod, auth.MethodAuto)
		if method == auth.MethodAuto {
			if mode, err := ac.AdminMode(); err == nil {
				method += " → " + mode
			} else {
				method += ", not tested yet"
			}
		}
		return fmt.Sprintf("administrator %s (%s), password in the secrets layer", c.Auth.AdminUser, method)
	case auth.ModeMagic:
		return "magic password (in the secrets layer)"
	}
	return "per-user passwords"
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// printReport prints a connection test for people.
func printReport(w io.Writer, d *connectors.Detection) {
	r := d.Report
	s := r.Server
	fmt.Fprintf(w, "Connection test %s", d.At.Format("2006-01-02 15:04:05 MST"))
	if d.SampleUser != "" {
		fmt.Fprintf(w, " with sample user %s", d.SampleUser)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  Server:       %s", s.Address)
	if s.Product != "" {
		fmt.Fprintf(w, " (%s)", s.Product)
	}
	fmt.Fprintf(w, "\n  Greeting:     %s\n  TLS:          %s\n", s.Greeting, s.TLS)
	fmt.Fprintf(w, "  Capabilities: %s\n  SASL:         %s\n", strings.Join(s.Capabilities, " "), or(strings.Join(s.AuthMechanisms, " "), "(none offered)"))
	if len(r.Attempts) > 0 {
		fmt.Fprintln(w, "  Logins:")
		for _, a := range r.Attempts {
			mark, detail := "ok  ", ""
			if !a.OK {
				mark, detail = "FAIL", " — "+a.Error
			}
			fmt.Fprintf(w, "    %s %-16s %s%s\n", mark, a.Mode, a.Login, detail)
		}
	}
	if d.SampleUser != "" {
		fmt.Fprintf(w, "  Recommended:  %s\n", or(r.Recommended, "nothing worked"))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  Note: %s\n", n)
	}
}

func runUsers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if !isDiscover(args) {
		return runProjectUsers(ctx, args, stdout, stderr)
	}
	fs := flag.NewFlagSet("tern users", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usersUsage, "\nFlags:\n"); fs.PrintDefaults() }
	var sf stateFlags
	sf.register(fs)
	jsonOut := fs.Bool("json", false, "print JSON")
	csvOut := fs.Bool("csv", false, "print a user list (source_user,target_user)")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(words) != 2 || words[0] != "discover" {
		fs.Usage()
		return 2
	}
	store, err := sf.openConnectors(ctx, stderr, true)
	if err != nil {
		fmt.Fprintf(stderr, "tern users discover: %v\n", err)
		return 1
	}
	defer store.Close()
	users, err := store.Users(ctx, words[1])
	if err != nil {
		fmt.Fprintf(stderr, "tern users discover: %v\n", err)
		return 1
	}
	switch {
	case *jsonOut:
		writeJSON(stdout, users)
	case *csvOut:
		cw := csv.NewWriter(stdout)
		cw.Write([]string{"source_user", "target_user"})
		for _, u := range users {
			cw.Write([]string{u.Login, or(u.Address, u.Login)})
		}
		cw.Flush()
	default:
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "LOGIN\tADDRESS\tNAME\tNOTE")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Login, u.Address, u.DisplayName, u.Note)
		}
		tw.Flush()
		fmt.Fprintf(stderr, "%d users\n", len(users))
	}
	return 0
}

// isDiscover tells `tern users discover CONNECTOR` (which works on the
// state directory) from the project commands (which talk to the daemon)
// by the subcommand: the first word that is neither a flag nor a flag's
// value (a user may well be called "discover").
func isDiscover(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a == "discover"
		}
		if name := strings.TrimLeft(a, "-"); !strings.Contains(name, "=") && usersValueFlags[name] {
			i++ // skip the flag's value
		}
	}
	return true // no subcommand: discover's usage
}

// usersValueFlags are the flags of `tern users` that take a value.
var usersValueFlags = map[string]bool{
	"config": true, "state": true, "plugins": true, "log-level": true, "server": true, "token-file": true,
	"status": true, "search": true, "source-password-file": true, "target-password-file": true, "format": true,
}

func runAuth(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tern auth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf stateFlags
	sf.register(fs)
	server := fs.String("server", "", "the `server` as errors name it (e.g. imap://mail.example.com:993)")
	account := fs.String("account", "", "only this `account` (default: every account of the server)")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(words) != 1 || words[0] != "unblock" || *server == "" {
		fmt.Fprintln(stderr, "Usage: tern auth unblock --server SERVER [--account ACCOUNT]\n\nClears the failed-login counters that pause logins after repeated refusals.")
		return 2
	}
	env, err := sf.open(ctx, stderr, false)
	if err != nil {
		fmt.Fprintf(stderr, "tern auth unblock: %v\n", err)
		return 1
	}
	defer env.close()
	if err := auth.NewGuard(env.db, nil).Unblock(ctx, *server, *account); err != nil {
		fmt.Fprintf(stderr, "tern auth unblock: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "unblocked")
	return 0
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
