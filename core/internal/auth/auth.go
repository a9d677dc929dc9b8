// Package auth turns the way an administrator said to log in to a source
// (an administrator account, a "magic password", or each user's own
// password) into the credential a connector receives, and keeps failing
// logins from hammering an account or a server.
//
// # Modes
//
//   - Administrator account: one administrator login and password open
//     every mailbox. The method is how the server wants it: SASL PLAIN with
//     an authorization identity (connector.ModeAdminAuthzid), a master-user
//     login string "user*admin" (connector.ModeAdminMaster) or PROXYAUTH
//     (connector.ModeAdminProxyAuth). "auto" takes the method that the
//     connection test found working.
//   - Magic password: the administrator user name is left blank; the
//     administrator password is used as the password of every user
//     (connector.ModePassword with the shared secret).
//   - Per-user passwords: each user's own password (from the user list).
//
// # Failed logins
//
// A refused login is a permanent error for that user: it is reported with
// its reason and never retried in a loop. [Guard] also counts refusals per
// account and per server, across runs (it keeps them in the store): after
// too many, further logins fail at once, without reaching the server,
// until the block expires — so a wrong administrator password with five
// hundred users costs a handful of refused logins, not five hundred, and
// no account gets locked by the server's own brute-force protection.
package auth

import (
	"fmt"
	"strings"

	"github.com/ternmail/tern/sdk/connector"
)

// Mode is how a source's mailboxes are opened.
type Mode string

// The modes.
const (
	ModeAdmin   Mode = "admin"    // one administrator account
	ModeMagic   Mode = "magic"    // one password for every account
	ModePerUser Mode = "per_user" // each user's own password
)

// Methods of administrator login.
const (
	MethodAuto      = "auto"
	MethodAuthzid   = "authzid"
	MethodMaster    = "master"
	MethodProxyAuth = "proxyauth"
)

var methodModes = map[string]string{
	MethodAuthzid:   connector.ModeAdminAuthzid,
	MethodMaster:    connector.ModeAdminMaster,
	MethodProxyAuth: connector.ModeAdminProxyAuth,
}

// Config is how to log in to one source (without the secrets).
type Config struct {
	// AdminUser is the administrator login; empty with an administrator
	// password means the magic password.
	AdminUser string
	// HasAdminSecret says an administrator (or magic) password is
	// configured.
	HasAdminSecret bool
	// Method is the administrator login method: auto, authzid, master,
	// proxyauth ("" is auto).
	Method string
	// Detected is the credential mode a connection test recommended; used
	// when Method is auto.
	Detected string
}

// Mode returns the configured mode.
func (c Config) Mode() Mode {
	switch {
	case c.AdminUser != "":
		return ModeAdmin
	case c.HasAdminSecret:
		return ModeMagic
	}
	return ModePerUser
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.AdminUser != "" && !c.HasAdminSecret {
		return fmt.Errorf("administrator %q has no password", c.AdminUser)
	}
	switch c.Method {
	case "", MethodAuto, MethodAuthzid, MethodMaster, MethodProxyAuth:
	default:
		return fmt.Errorf("administrator login method %q: want auto, authzid, master or proxyauth", c.Method)
	}
	if c.Method != "" && c.Method != MethodAuto && c.AdminUser == "" {
		return fmt.Errorf("administrator login method %q needs an administrator user", c.Method)
	}
	return nil
}

// AdminMode returns the connector credential mode for the administrator,
// or an error if none is known yet (auto without a detection result).
func (c Config) AdminMode() (string, error) {
	if m, ok := methodModes[c.Method]; ok {
		return m, nil
	}
	if strings.HasPrefix(c.Detected, "admin_") {
		return c.Detected, nil
	}
	return "", fmt.Errorf("the administrator login method is not known yet: run a connection test with a sample user, or choose one (authzid, master, proxyauth)")
}

// Credential returns the credential that opens user's mailbox. userSecret
// is the user's own password (per-user mode), adminSecret the
// administrator's or the magic password.
func (c Config) Credential(user, userSecret, adminSecret string) (connector.Credential, error) {
	switch c.Mode() {
	case ModeAdmin:
		mode, err := c.AdminMode()
		if err != nil {
			return connector.Credential{}, err
		}
		return connector.Credential{Mode: mode, AuthUser: c.AdminUser, Secret: adminSecret}, nil
	case ModeMagic:
		return connector.Credential{Mode: connector.ModePassword, Username: user, Secret: adminSecret}, nil
	}
	if userSecret == "" {
		return connector.Credential{}, fmt.Errorf("no password for %s (per-user mode)", user)
	}
	return connector.Credential{Mode: connector.ModePassword, Username: user, Secret: userSecret}, nil
}

// Describe says in words how user's mailbox is opened with cred, for
// error messages and reports; it never contains a secret.
func (c Config) Describe(cred connector.Credential, user string) string {
	switch cred.Mode {
	case connector.ModeAdminAuthzid:
		return fmt.Sprintf("administrator mode: %s acting for %s (SASL PLAIN with authzid)", cred.AuthUser, user)
	case connector.ModeAdminMaster:
		return fmt.Sprintf("administrator mode: %s as master user for %s", cred.AuthUser, user)
	case connector.ModeAdminProxyAuth:
		return fmt.Sprintf("administrator mode: %s, then PROXYAUTH %s", cred.AuthUser, user)
	}
	if c.Mode() == ModeMagic {
		return fmt.Sprintf("magic password: the administrator password as %s's password", user)
	}
	return fmt.Sprintf("per-user password of %s", user)
}

// Account returns the account a login uses: the administrator for the
// administrator modes, the user otherwise. Failed logins are counted per
// account.
func Account(cred connector.Credential, user string) string {
	if cred.AuthUser != "" && cred.Mode != "" && cred.Mode != connector.ModePassword {
		return cred.AuthUser
	}
	if cred.Username != "" {
		return cred.Username
	}
	return user
}
