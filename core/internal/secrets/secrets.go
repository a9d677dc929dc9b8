// Package secrets is the only place where Tern keeps credentials:
// administrator and magic passwords, per-user passwords, self-service
// credentials, OAuth keys and signing keys. Everything else (the state
// store, logs, reports, errors) holds at most a path into it.
//
// # Backends
//
//   - "vault": HashiCorp Vault's KV version 2 engine (the only importer of
//     github.com/hashicorp/vault/api is vault.go): token or AppRole login,
//     renewal and re-login, TLS with a CA file.
//   - "embedded" (the default for a single machine and `make run`): an
//     encrypted file in the state directory; every value is sealed with
//     AES-256-GCM under a key kept in its own 0600 file, with the secret's
//     path as additional data so that a value cannot be moved to another
//     path. `tern secrets migrate --to vault` moves everything to Vault.
//
// # Paths
//
// One scheme for every kind of secret ([Path] builds them):
//
//	connectors/<name>/admin            administrator or magic password
//	connectors/<name>/user             a single user's own password
//	mailboxes/<id>/source              a user's own source password (from a user
//	                                   list, the console, or entered through
//	                                   self-service); <id> is the console's user
//	                                   id or the CLI's mailbox id
//	mailboxes/<id>/target              … and of its target
//	system/smtp                        the outgoing mail server's password
//	keys/<name>                        signing and encryption keys
//	                                   (keys/selfservice-signing: invitation links)
//
// Deleting a connector or a mailbox deletes everything under its prefix;
// writing a secret again keeps the old value as an earlier version.
//
// # Failures
//
// A backend that cannot answer (Vault sealed, unreachable, a token that
// could not be renewed) returns an error matching [ErrUnavailable];
// callers pause and try again later. A missing secret is [ErrNotFound].
package secrets

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Errors.
var (
	// ErrNotFound: no secret at that path.
	ErrNotFound = errors.New("secret not found")
	// ErrUnavailable: the backend cannot answer now (sealed, unreachable);
	// try again later.
	ErrUnavailable = errors.New("secrets backend unavailable")
)

// Store keeps secrets by path.
type Store interface {
	// Get returns the current value at path.
	Get(ctx context.Context, path string) (string, error)
	// Put writes a new version of the value at path.
	Put(ctx context.Context, path, value string) error
	// Delete removes path and all its versions.
	Delete(ctx context.Context, path string) error
	// DeletePrefix removes every secret whose path starts with prefix.
	DeletePrefix(ctx context.Context, prefix string) error
	// List returns the paths under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Health reports the backend's state.
	Health(ctx context.Context) Health
	// Close releases the backend.
	Close() error
}

// Health is a backend's state, for `tern status` and the console.
type Health struct {
	// Backend is "embedded" or "vault".
	Backend string `json:"backend"`
	// OK is true when secrets can be read and written now.
	OK bool `json:"ok"`
	// Detail says where the secrets are and, when not OK, why.
	Detail string `json:"detail"`
	// TokenTTL is the Vault token's remaining lifetime (0 if unknown or
	// not applicable); TokenRenewable says whether it can be renewed.
	TokenTTL       time.Duration `json:"token_ttl_ns,omitempty"`
	TokenRenewable bool          `json:"token_renewable,omitempty"`
}

// Path joins path components, escaping "/" inside them.
func Path(parts ...string) string {
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = strings.NewReplacer("%", "%25", "/", "%2F").Replace(p)
	}
	return strings.Join(esc, "/")
}

// ConnectorAdmin is the path of a connector's administrator (or magic)
// password.
func ConnectorAdmin(name string) string { return Path("connectors", name, "admin") }

// ConnectorUser is the path of a connector's single-user password.
func ConnectorUser(name string) string { return Path("connectors", name, "user") }

// ConnectorPrefix is the prefix of a connector's secrets.
func ConnectorPrefix(name string) string { return Path("connectors", name) + "/" }

// MailboxSource is the path of a mailbox's own source password.
func MailboxSource(mailbox string) string { return Path("mailboxes", mailbox, "source") }

// MailboxTarget is the path of a mailbox's own target password.
func MailboxTarget(mailbox string) string { return Path("mailboxes", mailbox, "target") }

// MailboxPrefix is the prefix of a mailbox's secrets.
func MailboxPrefix(mailbox string) string { return Path("mailboxes", mailbox) + "/" }

// Key is the path of a named key.
func Key(name string) string { return Path("keys", name) }

// validPath checks a path: relative, no empty or dot components.
func validPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return errors.New("secrets: invalid path " + p)
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return errors.New("secrets: invalid path " + p)
		}
	}
	return nil
}

// Copy copies every secret under prefix from one store to another (for
// `tern secrets migrate`); it returns the paths copied.
func Copy(ctx context.Context, from, to Store, prefix string) ([]string, error) {
	paths, err := from.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		v, err := from.Get(ctx, p)
		if err != nil {
			return nil, err
		}
		if err := to.Put(ctx, p, v); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// Config chooses and configures the backend.
type Config struct {
	// Backend is "embedded" (default) or "vault".
	Backend string `toml:"backend" json:"backend"`
	// File and KeyFile are the embedded backend's encrypted file and key
	// (default: secrets.json and secrets.key in the state directory).
	File    string `toml:"file" json:"file,omitempty"`
	KeyFile string `toml:"key_file" json:"key_file,omitempty"`
	// Vault configures the vault backend.
	Vault VaultConfig `toml:"vault" json:"vault,omitzero"`
}

// VaultConfig configures the Vault backend.
type VaultConfig struct {
	// Address is Vault's URL, e.g. https://vault.example:8200.
	Address string `toml:"address" json:"address,omitempty"`
	// CAFile is a PEM file of CAs to trust for Vault's certificate.
	CAFile string `toml:"ca_file" json:"ca_file,omitempty"`
	// Mount is the KV version 2 mount (default "secret"); Prefix is the
	// path under it where Tern keeps its secrets (default "tern").
	Mount  string `toml:"mount" json:"mount,omitempty"`
	Prefix string `toml:"prefix" json:"prefix,omitempty"`
	// Namespace is a Vault Enterprise namespace, if any.
	Namespace string `toml:"namespace" json:"namespace,omitempty"`
	// TokenFile holds a token (token auth). RoleIDFile and SecretIDFile
	// hold an AppRole's credentials (AppRole auth, preferred); AppRoleMount
	// is its mount (default "approle").
	TokenFile    string `toml:"token_file" json:"token_file,omitempty"`
	RoleIDFile   string `toml:"role_id_file" json:"role_id_file,omitempty"`
	SecretIDFile string `toml:"secret_id_file" json:"secret_id_file,omitempty"`
	AppRoleMount string `toml:"approle_mount" json:"approle_mount,omitempty"`
}

// Open opens the configured backend; stateDir is where the embedded
// backend's files go by default. It fails when the backend is unusable, so
// that a daemon refuses to start rather than fail later.
func Open(ctx context.Context, cfg Config, stateDir string) (Store, error) {
	switch cfg.Backend {
	case "", "embedded":
		file, key := cfg.File, cfg.KeyFile
		if file == "" {
			file = stateDir + "/secrets.json"
		}
		if key == "" {
			key = stateDir + "/secrets.key"
		}
		return OpenEmbedded(file, key)
	case "vault":
		return OpenVault(ctx, cfg.Vault)
	}
	return nil, errors.New("secrets backend " + cfg.Backend + ": want embedded or vault")
}
