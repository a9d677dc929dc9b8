// Package testserver gives tests the real mail servers that
// scripts/test-servers.sh runs on loopback ports, and an independent
// referee for what a migration did to them.
//
// # Servers
//
// DovecotSrc (separator ".", Maildir++) and DovecotDst (separator "/",
// Maildir fs layout) are Dovecot instances with their addresses, the test
// CA (CAFile, TLSConfig) and the shared Password: the "magic password"
// servers. Ensure starts them through the script when they are not up
// yet, so `go test` works on its own once the Debian packages are
// installed (scripts/install-deps.sh). User returns a fresh user name:
// every name logs in and gets an empty mailbox, so tests never clean up.
//
// DovecotMaster is laid out like a Dovecot behind Postfix or a Courier
// server (Maildir++, separator ".", every folder under the prefix
// "INBOX.") and has real users: only those created with AddUser exist,
// each with its own password, so a user that does not exist is refused.
// Its master user (Instance.MasterUser, MasterPassword) opens every
// mailbox with the login string "user*admin" (MasterSeparator) or as the
// SASL PLAIN authcid with the user as authzid; the referee below logs in
// that way there. AddUser waits until Dovecot, which re-reads its
// passwd-file at most once a second, lets the new user in; AddUsers adds
// many with one wait (a conformance suite needs a few dozen).
//
// Cyrus (separator "/", unixhierarchysep) and CyrusDot (separator ".")
// are real Cyrus IMAP 3.6 servers from Debian's packages
// (scripts/cyrus.sh), with the traditional namespace (folders under
// "INBOX/" or "INBOX.") and real users: AddCyrusUser gives a user a
// password in the instance's sasldb and a mailbox. The referee logs in
// there as CyrusAdmin acting for the user (SASL PLAIN authzid);
// CyrusNoProxyAdmin may not act for users, CyrusPlainAdmin shows that
// every Cyrus admin may. Cyrus refuses some messages and rewrites
// others: CyrusStores predicts what it stores (see cyrus.go).
//
// Postfix is a real Postfix (scripts/postfix.sh) on 127.0.0.1:10025
// (STARTTLS) and 10465 (implicit TLS) with SMTP AUTH as Postfix.User: it
// delivers mail for MailAddress(user) over LMTP into user's INBOX on
// DovecotSrc, where WaitForMail finds it.
//
// Tests that need a server fail, never skip, when it cannot be started: a
// suite that silently skips its real-server tests proves nothing.
//
// # The referee
//
// The helpers below use go-imap v2's imapclient directly, never Tern's
// connector, so they judge the connector rather than share its bugs.
//
//   - Dial(t, inst, user) returns a client logged in over STARTTLS,
//     verified against the test CA, closed when the test ends.
//   - Seed(t, inst, user, folder, msgs) creates a folder and its parents
//     and appends corpus messages with their flags and INTERNALDATEs;
//     SeedMailbox seeds a whole corpus.Mailbox; SeedParallel seeds many
//     users over several connections each, without a *testing.T (the
//     benchmark uses it).
//   - Snapshot(t, inst, user) lists every selectable folder and, per
//     message, records the SHA-256 and size of BODY[] as served, the
//     INTERNALDATE (UTC, seconds) and the sorted flags without \Recent. It
//     uses EXAMINE and BODY.PEEK, so it changes nothing, and streams each
//     body into its hash, so a 25 MiB message costs no memory.
//   - Compare(src, dst, folderMap) lists the differences for people: missing
//     and extra folders, and per folder the messages missing, duplicated
//     (extra copies), foreign, or with another INTERNALDATE or other flags.
//     Diff returns the same with counts.
//
// The error-returning forms (Login, CreateFolder, Append, TakeSnapshot,
// SeedParallel) serve programs such as scripts/bench.
//
// # Folder names
//
// Callers use logical names: UTF-8, "/" between levels, "INBOX" for the
// inbox (and upper-case INBOX in its children). Instance.ServerName turns
// them into the instance's names (its separator and prefix); go-imap
// encodes modified UTF-7 on the wire. Instance.LogicalName (and
// LogicalName, without a prefix) maps a LIST answer back, so snapshots of
// the instances compare directly. A level holding the instance's
// separator (a "." on DovecotSrc) cannot be represented and is an error,
// as is a child of INBOX under the prefix "INBOX." (it would be a
// top-level folder).
//
// # What "equal" means
//
// Records compare what servers serve, not what was appended: Dovecot stores
// a bare-LF message as given but serves it with CRLF, so a message seeded
// into the source and migrated to the target compares equal when both
// servers serve the same bytes. Two byte-identical copies in one folder
// are two records and must both exist on the target. Within a folder,
// messages match by content digest first; copies that agree in content
// but not in date or flags are reported as mismatches, not as a missing
// message plus a foreign one.
//
// Special-use folders (Sent, Drafts, Trash, Junk, Archive) get their
// attribute from the instances' configuration by name; Seed does not send
// CREATE-SPECIAL-USE.
package testserver
