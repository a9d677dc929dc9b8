// Package connectors keeps Tern's configured connectors: an instance of a
// plugin (its settings), how to log in to its mailboxes (administrator
// account, magic password or per-user passwords) and what its last
// connection test found. The CLI, the API and later the console share it.
//
// # Secrets
//
// A connector holds no secret: passwords are referenced ([SecretRef]: a
// file or an environment variable of the appliance) and read at the moment
// a session opens. The secrets layer replaces the references with its own.
//
// # Detection
//
// [Test] runs the plugin's connection test with a sample user and stores
// the report on the connector; with the administrator method "auto", the
// method the test recommended is the one migrations use, so the admin
// never has to guess the login format.
package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ternmail/tern/core/internal/auth"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
)

// SecretRef says where a secret is. It is never the secret.
type SecretRef struct {
	// File is a file whose content (without a final newline) is the secret.
	File string `json:"file,omitempty"`
	// Env is an environment variable holding the secret.
	Env string `json:"env,omitempty"`
}

// IsZero reports whether the reference points nowhere.
func (r SecretRef) IsZero() bool { return r.File == "" && r.Env == "" }

// Available reports whether the secret can be read now.
func (r SecretRef) Available() bool {
	_, err := r.Read()
	return err == nil
}

// Read returns the secret.
func (r SecretRef) Read() (string, error) {
	switch {
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			return "", fmt.Errorf("secret file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case r.Env != "":
		v, ok := os.LookupEnv(r.Env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", r.Env)
		}
		return v, nil
	}
	return "", errors.New("no secret configured")
}

// String describes the reference.
func (r SecretRef) String() string {
	switch {
	case r.File != "":
		return "file " + r.File
	case r.Env != "":
		return "environment variable " + r.Env
	}
	return "none"
}

// Auth is how to log in to a connector's mailboxes.
type Auth struct {
	// AdminUser is the administrator login; empty with AdminSecret set
	// means the magic password.
	AdminUser string `json:"admin_user,omitempty"`
	// AdminMethod is auto, authzid, master or proxyauth.
	AdminMethod string `json:"admin_method,omitempty"`
	// AdminSecret is where the administrator (or magic) password is.
	AdminSecret SecretRef `json:"admin_secret,omitzero"`
	// UserSecret is where a single user's own password is (per-user mode
	// without a user list).
	UserSecret SecretRef `json:"user_secret,omitzero"`
}

// Detection is the outcome of the last connection test.
type Detection struct {
	At         time.Time             `json:"at"`
	SampleUser string                `json:"sample_user"`
	AdminUser  string                `json:"admin_user,omitempty"`
	Report     *connector.TestReport `json:"report"`
}

// Config is a configured connector.
type Config struct {
	// Name identifies it ([a-z0-9][a-z0-9_.-]*); "" for an ad-hoc connector
	// of a CLI run.
	Name string `json:"name"`
	// Plugin is the plugin id ("imap").
	Plugin string `json:"plugin"`
	// Settings are the plugin's settings (validated by the plugin).
	Settings map[string]any `json:"settings"`
	Auth     Auth           `json:"auth"`
	// Detection is the last connection test's result.
	Detection *Detection `json:"detection,omitempty"`
	Created   time.Time  `json:"created"`
	Updated   time.Time  `json:"updated"`
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// Validate checks a configuration.
func (c *Config) Validate() error {
	if c.Name != "" && !namePattern.MatchString(c.Name) {
		return fmt.Errorf("connector name %q: use lower-case letters, digits, '.', '_' and '-'", c.Name)
	}
	if c.Plugin == "" {
		return errors.New("no plugin given")
	}
	return c.AuthConfig().Validate()
}

// SettingsJSON returns the settings as the plugin receives them.
func (c *Config) SettingsJSON() []byte {
	s := c.Settings
	if s == nil {
		s = map[string]any{}
	}
	b, _ := json.Marshal(s)
	return b
}

// Server identifies the server the connector reaches: its plugin, host
// and port. Failed logins are counted per server, and a detection result
// belongs to one.
func (c *Config) Server() string {
	host, _ := c.Settings["host"].(string)
	port := ""
	if p, ok := c.Settings["port"]; ok {
		port = fmt.Sprint(p)
	}
	if host == "" {
		return c.Plugin
	}
	if port == "" {
		return c.Plugin + "://" + host
	}
	return c.Plugin + "://" + host + ":" + port
}

// AuthConfig returns the login configuration.
func (c *Config) AuthConfig() auth.Config {
	ac := auth.Config{
		AdminUser:      c.Auth.AdminUser,
		HasAdminSecret: !c.Auth.AdminSecret.IsZero(),
		Method:         c.Auth.AdminMethod,
	}
	if d := c.Detection; d != nil && d.Report != nil && d.AdminUser == c.Auth.AdminUser {
		ac.Detected = d.Report.Recommended
	}
	return ac
}

// Registry stores connectors.
type Registry struct {
	db *store.DB
}

// NewRegistry returns the registry kept in db.
func NewRegistry(db *store.DB) *Registry { return &Registry{db: db} }

func key(name string) string { return store.Key("v1", "connector", name) }

// adhocKey keeps the detection of an ad-hoc (unnamed) connector, by server
// and administrator.
func adhocKey(server, admin string) string { return store.Key("v1", "detection", server, admin) }

// ErrNotFound is returned for an unknown connector.
var ErrNotFound = errors.New("no such connector")

// Get returns a connector.
func (r *Registry) Get(ctx context.Context, name string) (*Config, error) {
	var c Config
	if err := r.db.Get(ctx, key(name), &c); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
		}
		return nil, err
	}
	return &c, nil
}

// Put creates or replaces a connector.
func (r *Registry) Put(ctx context.Context, c *Config) error {
	if c.Name == "" {
		return errors.New("a stored connector needs a name")
	}
	if err := c.Validate(); err != nil {
		return err
	}
	now := time.Now().UTC()
	if c.Created.IsZero() {
		c.Created = now
	}
	c.Updated = now
	return r.db.Put(ctx, key(c.Name), c)
}

// Delete removes a connector.
func (r *Registry) Delete(ctx context.Context, name string) error {
	if _, err := r.Get(ctx, name); err != nil {
		return err
	}
	return r.db.Delete(ctx, key(name))
}

// List returns every connector, by name.
func (r *Registry) List(ctx context.Context) ([]*Config, error) {
	var out []*Config
	err := r.db.Scan(ctx, "v1/connector/", func(_ string, v []byte) error {
		var c Config
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		out = append(out, &c)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// LoadDetection fills in the stored detection of an ad-hoc connector.
func (r *Registry) LoadDetection(ctx context.Context, c *Config) {
	if c.Name != "" || c.Detection != nil {
		return
	}
	var d Detection
	if r.db.Get(ctx, adhocKey(c.Server(), c.Auth.AdminUser), &d) == nil {
		c.Detection = &d
	}
}

// SaveDetection stores a detection on the connector (or, for an ad-hoc
// connector, under its server and administrator).
func (r *Registry) SaveDetection(ctx context.Context, c *Config, d *Detection) error {
	c.Detection = d
	if c.Name == "" {
		return r.db.Put(ctx, adhocKey(c.Server(), c.Auth.AdminUser), d)
	}
	return r.Put(ctx, c)
}

// Test runs the connection test of c's plugin for sampleUser and stores
// the result on c. userSecret is the sample user's own password, if known.
func (r *Registry) Test(ctx context.Context, conn connector.Connector, c *Config, sampleUser, userSecret string) (*Detection, error) {
	t, ok := conn.(connector.ConnectionTester)
	if !ok {
		return nil, fmt.Errorf("connector %s cannot test connections", c.Plugin)
	}
	req := &connector.TestRequest{Settings: c.SettingsJSON(), SampleUser: sampleUser, UserSecret: userSecret}
	if !c.Auth.AdminSecret.IsZero() {
		secret, err := c.Auth.AdminSecret.Read()
		if err != nil {
			return nil, fmt.Errorf("administrator password: %w", err)
		}
		req.Admin = &connector.AdminCredential{AuthUser: c.Auth.AdminUser, Secret: secret}
	}
	rep, err := t.TestConnection(ctx, req)
	if err != nil {
		return nil, err
	}
	d := &Detection{At: time.Now().UTC(), SampleUser: sampleUser, AdminUser: c.Auth.AdminUser, Report: rep}
	if err := r.SaveDetection(ctx, c, d); err != nil {
		return nil, err
	}
	return d, nil
}

// Unwrapper is implemented by connector wrappers (the login guard).
type Unwrapper interface{ Unwrap() connector.Connector }

// Underlying returns the innermost connector of wrappers.
func Underlying(c connector.Connector) connector.Connector {
	for {
		u, ok := c.(Unwrapper)
		if !ok {
			return c
		}
		c = u.Unwrap()
	}
}
