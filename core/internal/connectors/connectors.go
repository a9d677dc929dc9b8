// Package connectors keeps Tern's configured connectors: an instance of a
// plugin (its settings), how to log in to its mailboxes (administrator
// account, magic password or per-user passwords) and what its last
// connection test found. The CLI, the API and later the console share it.
//
// # Secrets
//
// A connector holds no secret: its administrator (or magic) password and a
// single user's password live in the secrets layer under the connector's
// paths (secrets.ConnectorAdmin, secrets.ConnectorUser) and are read at
// the moment a session opens. Deleting a connector deletes them.
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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/ternmail/tern/core/internal/auth"
	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
)

// Auth is how to log in to a connector's mailboxes.
type Auth struct {
	// AdminUser is the administrator login; empty with AdminSecret set
	// means the magic password.
	AdminUser string `json:"admin_user,omitempty"`
	// AdminMethod is auto, authzid, master or proxyauth.
	AdminMethod string `json:"admin_method,omitempty"`
	// HasAdminSecret says an administrator (or magic) password is in the
	// secrets layer at secrets.ConnectorAdmin(name).
	HasAdminSecret bool `json:"has_admin_secret,omitempty"`
	// HasUserSecret says a single user's own password is at
	// secrets.ConnectorUser(name).
	HasUserSecret bool `json:"has_user_secret,omitempty"`
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
	// Name identifies it ([a-z0-9][a-z0-9_.-]*). Ad-hoc connectors of a CLI
	// run are named after their server (AdhocName) and not listed.
	Name string `json:"name"`
	// Adhoc marks a connector described on the command line, not stored.
	Adhoc bool `json:"-"`
	// Plugin is the plugin id ("imap").
	Plugin string `json:"plugin"`
	// Settings are the plugin's settings (validated by the plugin).
	Settings map[string]any `json:"settings"`
	Auth     Auth           `json:"auth"`
	// Concurrency bounds the mailboxes migrated at once through this
	// connector (0: no limit of its own), to spare its server.
	Concurrency int `json:"concurrency,omitempty"`
	// Detection is the last connection test's result.
	Detection *Detection `json:"detection,omitempty"`
	Created   time.Time  `json:"created"`
	Updated   time.Time  `json:"updated"`
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// Validate checks a configuration.
func (c *Config) Validate() error {
	if !c.Adhoc && !namePattern.MatchString(c.Name) {
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
		HasAdminSecret: c.Auth.HasAdminSecret,
		Method:         c.Auth.AdminMethod,
	}
	if d := c.Detection; d != nil && d.Report != nil && d.AdminUser == c.Auth.AdminUser {
		ac.Detected = d.Report.Recommended
	}
	return ac
}

// AdhocName names the ad-hoc connector of a server and administrator,
// so that its secrets and detection have a stable place.
func AdhocName(server, admin string) string {
	h := sha256.Sum256([]byte(server + "\x00" + admin))
	return "adhoc-" + hex.EncodeToString(h[:8])
}

// Registry stores connectors; their secrets go to the secrets layer.
type Registry struct {
	db      *store.DB
	secrets secrets.Store
}

// NewRegistry returns the registry kept in db, with secrets in sec.
func NewRegistry(db *store.DB, sec secrets.Store) *Registry { return &Registry{db: db, secrets: sec} }

// Secrets returns the secrets layer.
func (r *Registry) Secrets() secrets.Store { return r.secrets }

// SetAdminSecret stores c's administrator (or magic) password.
func (r *Registry) SetAdminSecret(ctx context.Context, c *Config, value string) error {
	if err := r.secrets.Put(ctx, secrets.ConnectorAdmin(c.Name), value); err != nil {
		return err
	}
	c.Auth.HasAdminSecret = true
	return nil
}

// SetUserSecret stores c's single-user password.
func (r *Registry) SetUserSecret(ctx context.Context, c *Config, value string) error {
	if err := r.secrets.Put(ctx, secrets.ConnectorUser(c.Name), value); err != nil {
		return err
	}
	c.Auth.HasUserSecret = true
	return nil
}

// AdminSecret reads c's administrator (or magic) password.
func (r *Registry) AdminSecret(ctx context.Context, c *Config) (string, error) {
	if !c.Auth.HasAdminSecret {
		return "", errors.New("no administrator password is configured")
	}
	return r.secrets.Get(ctx, secrets.ConnectorAdmin(c.Name))
}

// UserSecret reads c's single-user password.
func (r *Registry) UserSecret(ctx context.Context, c *Config) (string, error) {
	if !c.Auth.HasUserSecret {
		return "", errors.New("no user password is configured")
	}
	return r.secrets.Get(ctx, secrets.ConnectorUser(c.Name))
}

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
	if c.Adhoc {
		return errors.New("an ad-hoc connector is not stored")
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

// Delete removes a connector and its secrets.
func (r *Registry) Delete(ctx context.Context, name string) error {
	if _, err := r.Get(ctx, name); err != nil {
		return err
	}
	if err := r.secrets.DeletePrefix(ctx, secrets.ConnectorPrefix(name)); err != nil {
		return fmt.Errorf("delete the connector's secrets: %w", err)
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
	if !c.Adhoc || c.Detection != nil {
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
	if c.Adhoc {
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
	if c.Auth.HasAdminSecret {
		secret, err := r.AdminSecret(ctx, c)
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

// ListUsers lists the mailboxes c's administrator can see (automated user
// retrieval), through conn, c's plugin. It needs the plugin's user
// listing and the connector's administrator login.
func (r *Registry) ListUsers(ctx context.Context, conn connector.Connector, c *Config) ([]connector.User, error) {
	l, ok := conn.(connector.UserLister)
	if !ok {
		return nil, connector.Errorf(connector.KindUnsupported, "connector %s (%s) cannot list users; import a CSV instead", c.Name, c.Plugin)
	}
	if d, err := conn.Describe(ctx); err == nil && !d.Capabilities.ListUsers {
		return nil, connector.Errorf(connector.KindUnsupported, "connector %s (%s) cannot list users; import a CSV instead", c.Name, c.Plugin)
	}
	if c.Auth.AdminUser == "" || !c.Auth.HasAdminSecret {
		return nil, connector.Errorf(connector.KindInvalid, "listing the users of connector %s needs its administrator login (an administrator user and password)", c.Name)
	}
	secret, err := r.AdminSecret(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("administrator password: %w", err)
	}
	logx.Redact(secret)
	mode, _ := c.AuthConfig().AdminMode()
	users := []connector.User{}
	err = l.ListUsers(ctx, &connector.ListUsersRequest{Settings: c.SettingsJSON(), Admin: connector.AdminCredential{AuthUser: c.Auth.AdminUser, Secret: secret}, Mode: mode},
		func(page []connector.User) error { users = append(users, page...); return nil })
	return users, err
}
