// Package config holds the daemon's configuration: a TOML file whose every
// key has an embedded default, so `tern serve` runs with no file at all
// (that is what `make run` does). Unknown keys are errors, so a typo never
// passes silently.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"

	"github.com/ternmail/tern/core/internal/secrets"
)

// Config is the daemon's configuration.
type Config struct {
	// Listen is the address of the console and API.
	Listen string `toml:"listen"`
	// StateDir holds the state store (Badger).
	StateDir string `toml:"state_dir"`
	// PluginsDir holds the tern-connector-* binaries.
	PluginsDir string `toml:"plugins_dir"`
	// LogLevel is trace, debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// LogJSON writes logs as JSON lines.
	LogJSON bool `toml:"log_json"`
	// PublicURL is the console's address as users reach it, for the links
	// of self-service invitations (default: http:// + Listen).
	PublicURL string `toml:"public_url"`
	// Concurrency is the number of mailboxes migrated at once over every
	// batch (default 4).
	Concurrency int `toml:"concurrency"`
	// Secrets chooses where credentials live: the embedded encrypted store
	// (default) or HashiCorp Vault.
	Secrets secrets.Config `toml:"secrets"`
}

// Default returns the embedded defaults. StateDir and PluginsDir default to
// ./var/state and the directory of the tern binary, so a checkout runs
// without root; the appliance's packaged config points them at /var/lib/tern
// and /usr/lib/tern/plugins.
func Default() Config {
	plugins := "."
	if exe, err := os.Executable(); err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
		plugins = filepath.Dir(exe)
	}
	return Config{
		Listen:     "127.0.0.1:8080",
		StateDir:   filepath.Join("var", "state"),
		PluginsDir: plugins,
		LogLevel:   "info",
	}
}

// Load reads a TOML file over the defaults; path "" gives the defaults.
func Load(path string) (Config, error) {
	c := Default()
	if path != "" {
		md, err := toml.DecodeFile(path, &c)
		if err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return c, fmt.Errorf("config %s: unknown key %q", path, und[0].String())
		}
	}
	return c, c.Validate()
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %q: %v", c.Listen, err)
	}
	if c.Concurrency < 0 || c.Concurrency > 256 {
		return fmt.Errorf("concurrency %d: 0 (default) to 256", c.Concurrency)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("public_url %q: want http(s)://host[:port][/path]", c.PublicURL)
		}
	}
	if c.StateDir == "" {
		return fmt.Errorf("state_dir is empty")
	}
	if c.PluginsDir == "" {
		return fmt.Errorf("plugins_dir is empty")
	}
	switch c.Secrets.Backend {
	case "", "embedded":
	case "vault":
		if c.Secrets.Vault.Address == "" {
			return fmt.Errorf("secrets: the vault backend needs [secrets.vault] address")
		}
		if c.Secrets.Vault.TokenFile == "" && (c.Secrets.Vault.RoleIDFile == "" || c.Secrets.Vault.SecretIDFile == "") {
			return fmt.Errorf("secrets: the vault backend needs token_file, or role_id_file and secret_id_file (AppRole)")
		}
	default:
		return fmt.Errorf("secrets backend %q: want embedded or vault", c.Secrets.Backend)
	}
	return nil
}
