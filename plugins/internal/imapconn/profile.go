package imapconn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

// Profile makes the generic IMAP connector into one of Tern's
// IMAP-speaking connectors (imap, postfix, cyrus): its identity, how its
// settings are presented and defaulted, the credential modes it offers,
// and hooks for what a server family does differently. The session code
// is the same for all of them.
type Profile struct {
	// ID is the connector's ID, the suffix of its binary
	// tern-connector-<ID>.
	ID string
	// Version is the connector's version (semver).
	Version string
	// Summary is Describe's one line for humans.
	Summary string
	// Title and Description head the settings schema (the console's form).
	Title, Description string
	// SettingDescriptions replace the descriptions of settings, by their
	// JSON name (top level, or "timeouts.io").
	SettingDescriptions map[string]string
	// Defaults replace the defaults of top-level settings, by JSON name:
	// they apply when a setting is missing (or zero) and show in the
	// schema. Booleans cannot default to true (false would mean "unset").
	Defaults map[string]any
	// CredentialModes are the modes the connector offers (connector.Mode…),
	// the preferred first; others are refused with ErrInvalid, and a
	// connection test tries only these, recommending the first that works
	// in this order.
	CredentialModes []string
	// ListUsers, if set, lists the mailboxes the administrator can see,
	// calling fn with pages of users, over l.Conn, a connection logged in
	// as the administrator (its own login); it makes the connector a
	// connector.UserLister.
	ListUsers func(ctx context.Context, l *UserListing, fn func([]connector.User) error) error
	// DetectionNotes, if set, adds the profile's advice to a connection
	// test's report.
	DetectionNotes func(d *Detection) []string
	// LoginAdvice, if set, is asked when opening a session fails because
	// the login was refused (connector.KindAuth), with the credential
	// mode; what it returns, if not "", is added to the error's message
	// (e.g. which server setting lets an administrator act for users, and
	// that self-service is the way without one). The error keeps its kind.
	LoginAdvice func(mode string, err error) string
	// CheckInbox makes opening a session also check that the mailbox's
	// INBOX exists (STATUS INBOX), for servers where a login can work
	// without a mailbox behind it: Cyrus lets an administrator act for
	// any name, existing or not, and a session on a mailbox that does not
	// exist would list no folders rather than fail. A missing INBOX is
	// connector.KindNotFound.
	CheckInbox bool
	// InboxUnlisted, if set, is called by Folders when the server's LIST
	// shows no INBOX for user, with the hierarchy as listed; an error it
	// returns is Folders' error. A server that hides a mailbox's folders
	// from its own user (Cyrus with "." as separator, for a user whose
	// name holds a ".") would otherwise look like an empty mailbox, and a
	// migration would copy nothing without a word.
	InboxUnlisted func(user string, h *connector.Hierarchy) error

	defaults Settings // Defaults, decoded
	schema   json.RawMessage
}

// Detection is what a connection test learned, for
// Profile.DetectionNotes.
type Detection struct {
	// Report is the report so far (its Notes included).
	Report *connector.TestReport
	// Prefix and Delimiter are the personal namespace's, when a login
	// worked and the server has NAMESPACE (NamespaceKnown).
	Prefix, Delimiter string
	NamespaceKnown    bool
	// OtherUsersPrefix and OtherUsersDelimiter are the other users'
	// namespace's ("user/" on Cyrus), when NamespaceKnown and the server
	// has one (OtherUsersKnown).
	OtherUsersPrefix, OtherUsersDelimiter string
	OtherUsersKnown                       bool
	// SampleUser and Admin are the test request's sample user and
	// administrator login name ("" if none).
	SampleUser, Admin string
	// AdminOwn is the administrator's own login (also in Report.Attempts),
	// nil if it was not tried.
	AdminOwn *connector.LoginAttempt
}

// UserListing is what Profile.ListUsers works with.
type UserListing struct {
	// Conn is logged in as the administrator itself (not for a user).
	Conn *imapkit.Conn
	// Admin is the administrator's login name.
	Admin string
	// PageSize is the suggested number of users per call of fn.
	PageSize int
}

// Generic is the profile of tern-connector-imap: any IMAP4rev1 server,
// every administrator mode (SASL PLAIN authzid first: it is the standard
// one), then passwords.
var Generic = &Profile{
	ID:          "imap",
	Version:     "1.1.0",
	Summary:     "Any IMAP server, as source or target (TLS, STARTTLS, CONDSTORE deltas, UIDPLUS, MULTIAPPEND batches)",
	Title:       "IMAP server",
	Description: "Any IMAP4rev1 server: Dovecot, Cyrus, Courier, Exchange, Zimbra, a hosting provider's mail service.",
	CredentialModes: []string{
		connector.ModeAdminAuthzid, connector.ModeAdminMaster, connector.ModeAdminProxyAuth, connector.ModePassword,
	},
	DetectionNotes: genericNotes,
}

// genericNotes points at the connector made for the server, where Tern
// has one.
func genericNotes(d *Detection) []string {
	if strings.HasPrefix(d.Report.Server.Product, "Cyrus") {
		return []string{"The server is Cyrus IMAP: the cyrus connector (tern-connector-cyrus) reads its namespaces the same way and can also list its users (tern users discover)."}
	}
	return nil
}

var knownModes = []string{connector.ModePassword, connector.ModeAdminAuthzid, connector.ModeAdminMaster, connector.ModeAdminProxyAuth}

// prepare checks p and computes what it derives; a bad profile is a
// programming error and panics (at New, so at the plugin's start).
func (p *Profile) prepare() {
	if p.schema != nil {
		return
	}
	if p.ID == "" || p.Version == "" || p.Summary == "" || p.Title == "" {
		panic("imapconn: profile needs ID, Version, Summary and Title")
	}
	if len(p.CredentialModes) == 0 {
		panic("imapconn: profile " + p.ID + " offers no credential mode")
	}
	for _, m := range p.CredentialModes {
		if !slices.Contains(knownModes, m) {
			panic(fmt.Sprintf("imapconn: profile %s: unknown credential mode %q", p.ID, m))
		}
	}
	for name, v := range p.Defaults {
		if !isSetting(name) || strings.Contains(name, ".") {
			panic(fmt.Sprintf("imapconn: profile %s: default for unknown setting %q", p.ID, name))
		}
		if v == true {
			panic(fmt.Sprintf("imapconn: profile %s: boolean %q cannot default to true", p.ID, name))
		}
	}
	for name := range p.SettingDescriptions {
		if !isSetting(name) {
			panic(fmt.Sprintf("imapconn: profile %s: description for unknown setting %q", p.ID, name))
		}
	}
	if len(p.Defaults) > 0 {
		b, _ := json.Marshal(p.Defaults)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p.defaults); err != nil {
			panic(fmt.Sprintf("imapconn: profile %s: defaults: %v", p.ID, err))
		}
		// The defaults must themselves be valid settings.
		s := p.defaults
		s.Host = "example.org"
		if _, err := p.check(&s); err != nil {
			panic(fmt.Sprintf("imapconn: profile %s: defaults: %v", p.ID, err))
		}
	}
	p.schema = p.buildSchema()
}

// applyDefaults fills the zero top-level fields of s with the profile's
// defaults.
func (p *Profile) applyDefaults(s *Settings) {
	v, d := reflect.ValueOf(s).Elem(), reflect.ValueOf(p.defaults)
	for i := range v.NumField() {
		if v.Field(i).IsZero() && !d.Field(i).IsZero() {
			v.Field(i).Set(d.Field(i))
		}
	}
}

// offers reports whether p offers mode ("" is ModePassword).
func (p *Profile) offers(mode string) bool {
	if mode == "" {
		mode = connector.ModePassword
	}
	return slices.Contains(p.CredentialModes, mode)
}
