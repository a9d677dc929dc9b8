package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ternmail/tern/core/internal/connectors"
)

// EndpointConfig configures one side of a migration: a stored connector
// (Use), or a connector described here.
type EndpointConfig struct {
	// Use names a connector stored with `tern connectors add`.
	Use string `toml:"use"`
	// Connector is the plugin id ("imap").
	Connector string `toml:"connector"`
	// Settings are the connector's settings (see `tern plugins describe`).
	Settings map[string]any `toml:"settings"`
	// PasswordFile and PasswordEnv say where a user's own password is; a
	// password is never given on the command line. PasswordEnv defaults to
	// TERN_SOURCE_PASSWORD / TERN_TARGET_PASSWORD.
	PasswordFile string `toml:"password_file"`
	PasswordEnv  string `toml:"password_env"`
	// Username is the login name when it differs from the mailbox user.
	Username string `toml:"username"`
	// AdminUser is the administrator login that opens every mailbox. Left
	// empty with an administrator password, the password is the "magic
	// password" of every account.
	AdminUser string `toml:"admin_user"`
	// AdminPasswordFile and AdminPasswordEnv say where the administrator
	// (or magic) password is. Without either, TERN_SOURCE_ADMIN_PASSWORD /
	// TERN_TARGET_ADMIN_PASSWORD is used when it is set.
	AdminPasswordFile string `toml:"admin_password_file"`
	AdminPasswordEnv  string `toml:"admin_password_env"`
	// AdminMethod is how the administrator logs in for a user: auto (what
	// the connection test found), authzid, master or proxyauth.
	AdminMethod string `toml:"admin_method"`
}

// endpointFlags are the flags of one side; prefix is "source-", "target-"
// or "" (for `tern connectors add`).
type endpointFlags struct {
	prefix                                                                 string
	use, connector, host, tls, caFile, passwordFile, passwordEnv, username string
	adminUser, adminPasswordFile, adminPasswordEnv, adminMethod            string
	port                                                                   int
	insecure, plaintext                                                    bool
	set                                                                    stringList
}

func (f *endpointFlags) register(fs *flag.FlagSet, prefix, what string) {
	f.prefix = prefix
	if prefix != "" {
		side := strings.TrimSuffix(prefix, "-")
		fs.StringVar(&f.connector, side, "", "`plugin` id of the "+what+" connector (e.g. imap)")
		fs.StringVar(&f.use, prefix+"connector", "", "use the stored connector `name` (see tern connectors) as the "+what)
	} else {
		fs.StringVar(&f.connector, "plugin", "", "`plugin` id (e.g. imap)")
	}
	fs.StringVar(&f.host, prefix+"host", "", what+" server `host`")
	fs.IntVar(&f.port, prefix+"port", 0, what+" server `port`")
	fs.StringVar(&f.tls, prefix+"tls", "", what+" TLS `mode`: implicit, starttls or none")
	fs.StringVar(&f.caFile, prefix+"ca-file", "", "PEM `file` of CAs to trust for the "+what)
	fs.BoolVar(&f.insecure, prefix+"insecure-skip-verify", false, "do not verify the "+what+"'s TLS certificate (unsafe)")
	fs.BoolVar(&f.plaintext, prefix+"allow-plaintext", false, "allow an unencrypted connection to the "+what)
	fs.StringVar(&f.passwordFile, prefix+"password-file", "", "`file` holding a user's own "+what+" password")
	fs.StringVar(&f.passwordEnv, prefix+"password-env", "", "environment `variable` holding a user's own "+what+" password")
	fs.StringVar(&f.username, prefix+"username", "", "login `name` on the "+what+" when it differs from the mailbox user")
	fs.StringVar(&f.adminUser, prefix+"admin-user", "", "administrator `login` that opens every "+what+" mailbox (leave it out, with an administrator password, for the magic password)")
	fs.StringVar(&f.adminPasswordFile, prefix+"admin-password-file", "", "`file` holding the "+what+" administrator (or magic) password")
	fs.StringVar(&f.adminPasswordEnv, prefix+"admin-password-env", "", "environment `variable` holding the "+what+" administrator (or magic) password")
	fs.StringVar(&f.adminMethod, prefix+"admin-method", "", "how the administrator logs in for a user: `auto` (detected), authzid, master, proxyauth")
	fs.Var(&f.set, prefix+"set", "connector setting `key=value` for the "+what+" (repeatable; JSON values allowed)")
}

// apply copies the flags that were given over c.
func (f *endpointFlags) apply(fs *flag.FlagSet, c *EndpointConfig) error {
	p := f.prefix
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if c.Settings == nil {
		c.Settings = map[string]any{}
	}
	str := func(name string, dst *string, v string) {
		if set[name] {
			*dst = v
		}
	}
	if p != "" {
		str(strings.TrimSuffix(p, "-"), &c.Connector, f.connector)
		str(p+"connector", &c.Use, f.use)
	} else {
		str("plugin", &c.Connector, f.connector)
	}
	setting := func(name, key string, v any) {
		if set[name] {
			c.Settings[key] = v
		}
	}
	setting(p+"host", "host", f.host)
	setting(p+"port", "port", f.port)
	setting(p+"tls", "tls", f.tls)
	setting(p+"ca-file", "ca_file", f.caFile)
	setting(p+"insecure-skip-verify", "insecure_skip_verify", f.insecure)
	setting(p+"allow-plaintext", "allow_plaintext", f.plaintext)
	str(p+"password-file", &c.PasswordFile, f.passwordFile)
	str(p+"password-env", &c.PasswordEnv, f.passwordEnv)
	str(p+"username", &c.Username, f.username)
	str(p+"admin-user", &c.AdminUser, f.adminUser)
	str(p+"admin-password-file", &c.AdminPasswordFile, f.adminPasswordFile)
	str(p+"admin-password-env", &c.AdminPasswordEnv, f.adminPasswordEnv)
	str(p+"admin-method", &c.AdminMethod, f.adminMethod)
	for _, kv := range f.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--%sset %q: want key=value", p, kv)
		}
		var parsed any
		if err := json.Unmarshal([]byte(v), &parsed); err != nil {
			parsed = v
		}
		c.Settings[k] = parsed
	}
	return nil
}

// resolve turns an endpoint configuration into a connector: the stored
// one it names, or an ad-hoc one. Passwords given here (files, environment
// variables) are read once and stored in the secrets layer under the
// connector's paths; from then on they are read from there only. side is
// "source" or "target".
func (c *EndpointConfig) resolve(ctx context.Context, reg *connectors.Registry, side string) (*connectors.Config, error) {
	envPrefix := "TERN_" + strings.ToUpper(side) + "_"
	var cc *connectors.Config
	if c.Use != "" && c.Connector != "" {
		return nil, fmt.Errorf("%s: give --%s PLUGIN or --%s-connector NAME, not both", side, side, side)
	}
	if c.Use != "" {
		stored, err := reg.Get(ctx, c.Use)
		if err != nil {
			return nil, err
		}
		cc = stored
		for k, v := range c.Settings {
			cc.Settings[k] = v // flags override stored settings for this run
		}
	} else {
		if c.Connector == "" {
			return nil, fmt.Errorf("no %s connector: use --%s imap or --%s-connector NAME (or [%s] in the config file)", side, side, side, side)
		}
		cc = &connectors.Config{Plugin: c.Connector, Settings: c.Settings, Adhoc: true}
	}
	if c.AdminUser != "" {
		cc.Auth.AdminUser = c.AdminUser
	}
	if c.AdminMethod != "" {
		cc.Auth.AdminMethod = c.AdminMethod
	}
	if cc.Adhoc {
		cc.Name = connectors.AdhocName(cc.Server(), cc.Auth.AdminUser)
		reg.LoadDetection(ctx, cc)
	}
	admin := secretInput{File: c.AdminPasswordFile, Env: c.AdminPasswordEnv}
	if _, ok := os.LookupEnv(envPrefix + "ADMIN_PASSWORD"); !admin.given() && ok {
		admin.Env = envPrefix + "ADMIN_PASSWORD"
	}
	user := secretInput{File: c.PasswordFile, Env: c.PasswordEnv}
	if _, ok := os.LookupEnv(envPrefix + "PASSWORD"); !user.given() && ok {
		user.Env = envPrefix + "PASSWORD"
	}
	if admin.given() {
		v, err := admin.read()
		if err != nil {
			return nil, fmt.Errorf("%s administrator password (%s): %w", side, admin, err)
		}
		if err := reg.SetAdminSecret(ctx, cc, v); err != nil {
			return nil, fmt.Errorf("%s: store the administrator password: %w", side, err)
		}
	}
	if user.given() {
		v, err := user.read()
		if err != nil {
			return nil, fmt.Errorf("%s password (%s): %w", side, user, err)
		}
		if err := reg.SetUserSecret(ctx, cc, v); err != nil {
			return nil, fmt.Errorf("%s: store the password: %w", side, err)
		}
	}
	if err := cc.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", side, err)
	}
	if !cc.Adhoc && (admin.given() || user.given()) {
		if err := reg.Put(ctx, cc); err != nil {
			return nil, err
		}
	}
	return cc, nil
}
