package postfixconn

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

// ID is the connector's ID.
const ID = "postfix"

// Profile is tern-connector-postfix's profile.
var Profile = &imapconn.Profile{
	ID:      ID,
	Version: "1.0.0",
	Summary: "Dovecot behind Postfix (Maildir++), as source or target: magic password by default, Dovecot master users, per-user passwords",
	Title:   "Dovecot behind Postfix",
	Description: "A mail server where Postfix delivers the mail and Dovecot serves it over IMAP, as on most self-hosted Linux servers. " +
		"Such servers usually have no administrator account: leave the administrator user blank and give the \"magic password\", " +
		"a password that Dovecot accepts for every account (for instance a static passdb limited to Tern's address); Tern then uses it " +
		"as each user's password. Per-user passwords work too. If Dovecot has a master user (auth_master_user_separator), give it as " +
		"the administrator: Tern logs in as user*master. Maildir++ keeps a user's folders under \"INBOX.\" with \".\" as separator " +
		"(INBOX.Sent, INBOX.Projects.2024); Tern reads this from the server (NAMESPACE) and maps folder names itself.",
	SettingDescriptions: map[string]string{
		"host": "Host name or IP address of the Dovecot IMAP server (usually the Postfix machine itself), without port or scheme, " +
			"e.g. mail.example.com. With TLS, Dovecot's certificate (ssl_cert) must be valid for this name.",
		"master_user_separator": "Only for a Dovecot master user given as administrator: Dovecot's auth_master_user_separator. " +
			"Tern logs in as the user's name, this separator and the master user's name, e.g. alice*admin. \"*\" is the usual one.",
		"max_connections": "How many IMAP connections one mailbox session may open, so that several messages are fetched or stored " +
			"in parallel. Dovecot allows 10 per user and IP address by default (mail_max_userip_connections).",
	},
	CredentialModes: []string{connector.ModePassword, connector.ModeAdminMaster, connector.ModeAdminAuthzid},
	DetectionNotes:  notes,
}

// New returns the connector; log is as for imapconn.New.
func New(log *slog.Logger) *imapconn.Connector { return imapconn.New(Profile, log) }

// notes adds Dovecot-specific advice to a connection test.
func notes(d *imapconn.Detection) []string {
	var out []string
	rep := d.Report
	if p := rep.Server.Product; p != "" && !strings.HasPrefix(p, "Dovecot") {
		out = append(out, fmt.Sprintf("The server looks like %s, not Dovecot: the generic IMAP connector may suit it better.", p))
	}
	if len(rep.Attempts) > 0 && rep.Recommended == "" {
		out = append(out, "To give Tern a magic password, add a Dovecot passdb that accepts one password for every user from Tern's address "+
			"(passdb { driver = static; args = password=… allow_nets=<Tern's IP> } after the usual one); for an administrator "+
			"account, a master user (auth_master_user_separator = * and a passwd-file passdb with master = yes and pass = yes).")
	}
	return out
}
