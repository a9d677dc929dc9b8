// Package postfixconn is tern-connector-postfix: a mail server where
// Postfix delivers the mail and Dovecot serves it over IMAP, from Maildir++
// folders, as on most self-hosted Linux mail servers. It is the IMAP
// connector of plugins/internal/imapconn with the [Profile] below; the
// sessions, folders, copies and connection tests are that package's.
//
// # Credentials
//
// Such servers usually have no administrator account that may open other
// people's mailboxes, so the preferred mode is connector.ModePassword:
// with the administrator user left blank, core passes the administrator
// password as every user's password (the "magic password": a Dovecot
// passdb that accepts one password for every account, e.g. a static
// passdb limited to Tern's address), and per-user passwords use the same
// mode. Where Dovecot has a master user (auth_master_user_separator and a
// passdb with master = yes), the administrator logs in as "user*master"
// (ModeAdminMaster; the separator is the setting master_user_separator),
// or with SASL PLAIN and the user as authorization identity
// (ModeAdminAuthzid), which Dovecot's master users also accept. PROXYAUTH
// is not offered: Dovecot does not know it. The order of
// Profile.CredentialModes is the order of preference.
//
// # Folders
//
// Maildir++ keeps a user's folders below INBOX with "." as separator;
// with Courier-compatible settings (namespace prefix "INBOX.") the server
// shows them as "INBOX.Sent", "INBOX.Projects.2024". The connector reads
// the personal namespace (NAMESPACE) and reports its prefix and separator
// in connector.Hierarchy, so core maps names between servers itself; the
// schema says so, and connection tests report the namespace.
//
// # Connection tests
//
// Besides imapconn's advice, the profile says how to give Dovecot a magic
// password or a master user when neither worked, and notes a server that
// does not look like Dovecot.
package postfixconn
