// Package imapconn is the IMAP connector that Tern's IMAP-speaking
// connectors share: any IMAP4rev1 server as a migration source, a target,
// or both. A [Profile] makes it one connector or another: [Generic] is
// tern-connector-imap (plugins/imap), plugins/postfix/postfixconn's
// profile is tern-connector-postfix, and plugins/cyrus/cyrusconn's
// tern-connector-cyrus. The IMAP plumbing (dialing, logins,
// errors, trace, pools, MULTIAPPEND) lives in plugins/internal/imapkit.
//
// # Profiles
//
// Plugins may not import each other (scripts/check-deps.sh), so the
// connector lives here, under plugins/internal, and each plugin is a
// profile plus a main. A profile gives the connector's ID, version and
// summary; the settings schema's title and description, its own
// descriptions of settings and its own defaults (which apply to settings
// left out and show in the schema; the settings and their validation stay
// one list, schema.go); the credential modes offered, preferred first
// (others are refused with ErrInvalid, and a connection test tries only
// these); and hooks for what a server family does differently:
//
//   - ListUsers: listing users. ListUsers logs the administrator in as
//     itself (its own login, whatever the request's Mode) and hands the
//     hook a [UserListing]: the connection, the administrator's name and
//     the page size ([UsersPageSize]); a refused login is KindAuth naming
//     the administrator. Without the hook the connector is no UserLister
//     in its description and ListUsers returns ErrUnsupported.
//   - DetectionNotes: advice in connection tests, from a [Detection]
//     (the report, the personal and other users' namespaces, the sample
//     user, the administrator and its own login's outcome).
//   - LoginAdvice: advice added to a refused login's error when a session
//     opens (it keeps its kind): which server setting lets an
//     administrator act for users, that self-service is the way without.
//   - CheckInbox: the open also asks STATUS INBOX, for servers that let a
//     login in without a mailbox behind it (Cyrus, for an administrator
//     acting for any name); a missing INBOX is KindNotFound.
//   - InboxUnlisted: asked by Folders when LIST shows no INBOX, so that a
//     server that hides a mailbox's folders from its own user is an error
//     rather than an empty mailbox.
//
// A profile that makes no sense panics in New, so at the plugin's start.
//
// # Listing users: only where the server tells
//
// IMAP has no command that lists a server's users. Cyrus shows an
// administrator every user's mailbox in the other users' namespace, and
// its profile lists them from there. Generic (tern-connector-imap) does
// not offer listing, even on servers that have an other users'
// namespace: the capability is announced per connector, not per server,
// so the console would offer it for Dovecot, Exchange and Gmail, where it
// fails; and where such a namespace exists outside Cyrus (Dovecot with
// ACLs and shared mailboxes, Courier) it holds the users who shared
// folders with the account, not the server's users: a list that looks
// complete and is not. On a Cyrus server, Generic's connection test
// points at the cyrus connector instead.
//
// # Sessions and connections
//
// OpenSource and OpenTarget parse the settings, log in once (so that a
// wrong password or an unreachable server fails the open) and keep a pool
// of up to max_connections authenticated connections (default 4). Each
// call takes a connection, preferring one that already has the folder
// selected, so that consecutive calls on a folder cost no SELECT; core
// fetches and appends in parallel across the pool. A call whose
// connection broke before it had any effect (a listing, a STATUS, a
// flag change, a lookup, a fetch before its first byte) runs once more on
// a new connection; one that may have had an effect (an APPEND, a body
// already streaming) fails with connector.ErrUnavailable and core decides.
// The password stays in the session's memory for these reconnects and is
// dropped with it.
//
// # Reading without changing
//
// A source session opens folders with EXAMINE, never SELECT, and fetches
// bodies with BODY.PEEK[]: nothing in the source mailbox changes, not even
// \Seen. A body streams from the connection's buffer to the caller (a
// 25 MB message allocates about 200 KB) and keeps its connection until
// Close; closing a body with more than 256 KiB unread drops the
// connection rather than reading the rest.
//
// # Listing and checkpoints
//
// List reopens the folder with EXAMINE (CONDSTORE) to learn UIDVALIDITY,
// UIDNEXT and HIGHESTMODSEQ, which make the checkpoint
// ("imap1:<uidvalidity>:<uidnext>:<highestmodseq>"). The UIDs to list come
// from one UID SEARCH (ESEARCH ranges where offered); their metadata from
// one UID FETCH (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER]) per
// page_size messages (default 1000), each on whichever connection is
// free, and no connection is held while the caller handles a page. The
// fingerprint is connector.Fingerprint(RFC822.SIZE, header section); the
// header bytes are hashed and dropped as they arrive.
//
// With a checkpoint of the same UIDVALIDITY, List returns the messages
// whose flags changed as FlagsOnly entries (under CONDSTORE: UID SEARCH
// MODSEQ; without it every older message, as there is no way to tell),
// then the messages added since, in full. If UIDNEXT and HIGHESTMODSEQ
// did not move, the EXAMINE is all it costs. Messages that arrive during
// a listing are left for the next one: the listing stops at the UIDNEXT
// it started with.
//
// # Writing
//
// A target session opens folders with SELECT, which also reports their
// PERMANENTFLAGS. Append sends the INTERNALDATE and the flags the folder
// keeps: system flags it lists, keywords only if it lists \* (or names
// them); \Recent is never sent; the rest comes back as DroppedFlags. A
// server that lists \* is trusted with system flags even if it leaves
// them out; an empty PERMANENTFLAGS cannot be told from a missing one
// (go-imap reports both as nil), and both let every flag through. With
// UIDPLUS the APPENDUID is the Ref. A message over the server's
// APPENDLIMIT is refused before its body is read (connector.ErrTooLarge),
// as is one the server refuses with [TOOBIG]. If the body fails or ends
// early, the connection is cut before the literal completes, so the
// server stores nothing.
//
// EnsureFolder asks STATUS, and CREATEs (with CREATE-SPECIAL-USE where
// offered) and SUBSCRIBEs what is missing; parents are the server's
// business (RFC 9051 §6.3.4). A folder that another session created in
// between ([ALREADYEXISTS]) is asked for again, not an error. The watermark is "<uidvalidity>:<uidnext>".
// Lookup runs UID SEARCH UID <uidnext>:* LARGER size-1 SMALLER size+1
// [HEADER Message-ID <id>] and compares the fingerprints of the
// candidates. SetFlags is UID STORE FLAGS.SILENT, filtered like Append.
//
// # Copying in batches
//
// A source session implements connector.SourceCopier for target sessions
// of this connector in the same process (the plugin's server calls it for
// core's batches of small messages, and for single messages): one UID
// FETCH (UID BODY.PEEK[]) of the whole batch on a source connection, and
// one MULTIAPPEND (RFC 3502) on a target connection, each body streaming
// from its FETCH literal into its APPEND literal as it arrives, with
// non-synchronizing literals where the target has LITERAL+. Memory does not
// grow with message sizes (a batch holding a 25 MB message allocates about
// 150 KB). go-imap cannot send MULTIAPPEND, so the target side is
// imapkit.AppendConn, a narrow client of imapkit's own; a target session
// keeps a second pool of those, dialled on the first copy, reused across
// batches and closed with the session. Both pools share one budget of
// max_connections: when it is spent, a pool that needs a connection
// closes an idle one of the other pool, or waits.
//
// A target without MULTIAPPEND, or a target of another connector or
// process, gets connector.ErrUnsupported and nothing happens; the SDK then
// copies message by message (Fetch → Append). The target folder is
// SELECTed on the MULTIAPPEND connection for its PERMANENTFLAGS, and flags
// are filtered as by Append, DroppedFlags per message. A message over
// APPENDLIMIT is left out of the command (ErrTooLarge); one the source does
// not return is a source ErrNotFound (after one NOOP and FETCH more, for
// messages newer than the connection's view). MULTIAPPEND is atomic: a NO
// gives every message of the batch a target error with the refusal,
// classified, and stored none of them. If the source fails in mid-batch,
// the target connection is broken before the command's end, so nothing is
// stored, and the call fails as a whole (ErrUnavailable); if the target
// connection fails, the call fails as a whole too, and core looks the
// messages up. Messages go in the order the source returns them; the
// APPENDUIDs are their Refs, and outcomes come back in item order.
//
// # Capabilities
//
// Describe announces delta checkpoints, lookup, flag sync, keywords,
// connection tests and the profile's credential modes (user listing only
// with a profile hook). MaxMessageSize stays 0: the APPENDLIMIT is a
// property of the server instance, unknown to Describe, so Append
// enforces it instead.
//
// # Folder names
//
// Core sees UTF-8 names, full paths with the server's delimiter; go-imap
// encodes and decodes modified UTF-7 on the wire. The hierarchy's
// delimiter and prefix are the personal namespace's (NAMESPACE, else the
// delimiter of LIST "" ""), and folders of other users' and shared
// namespaces are left out. A server name that is not valid modified
// UTF-7 breaks the LIST (go-imap gives up on it).
//
// # Errors
//
// Settings errors are connector.ErrInvalid and name the setting. A
// refused login is ErrAuth with the mode, the login string, the mechanism
// and the server's words and what they mean, never the password (see
// Credentials); the login is tried once per open, never in a loop. [NONEXISTENT] and [TRYCREATE] are
// ErrNotFound (for servers without these codes, a LIST decides); [TOOBIG]
// ErrTooLarge; any other NO on one item ErrPermanent; a lost connection
// or a timeout ErrUnavailable; Microsoft 365's "Suggested Backoff Time"
// connector.Throttled with the hint. See imapkit for the details.
//
// # Logging
//
// The logger gets connection events at debug level and, at
// connector.LevelTrace, every protocol line with LOGIN and AUTHENTICATE
// credentials replaced by connector.Redacted; message contents appear
// only at connector.LevelTraceData.
//
// # Credentials
//
// The mailbox is Credential.Username, or OpenRequest.User when that is
// empty. Credential.Mode chooses an imapkit.Login; a mode the profile
// does not offer is ErrInvalid, as are a missing password and an
// administrator mode without Credential.AuthUser:
//
//   - "password" (or ""): log in as the mailbox with Secret, by
//     AUTHENTICATE PLAIN or LOGIN (auth_mechanism). This is a user's own
//     password, and equally the "magic password": core puts the
//     administrator's password in Secret when the administrator user was
//     left blank, and the connector cannot tell them apart (nor needs to).
//   - "admin_authzid": AUTHENTICATE PLAIN with the mailbox as
//     authorization identity and AuthUser as authentication identity
//     (Dovecot master users, Cyrus proxyservers, Zimbra). A server without
//     AUTH=PLAIN is ErrInvalid without a login.
//   - "admin_master": the login string mailbox + master_user_separator +
//     AuthUser ("alice*admin") with Secret, by PLAIN or LOGIN as
//     auth_mechanism says.
//   - "admin_proxyauth": AuthUser logs in with Secret, then "PROXYAUTH
//     mailbox" (Sun/iPlanet); imapkit does this before go-imap sees the
//     connection.
//
// Every connection of a session logs in the same way, the go-imap ones
// and the MULTIAPPEND ones of copies alike. A profile with CheckInbox
// also makes sure the mailbox has an INBOX when the session opens. Dovecot tells a wrong
// administrator password (AUTHENTICATIONFAILED) from a user that does not
// exist behind a correct one (AUTHORIZATIONFAILED), and the errors say
// so; where a server does not tell, the error says that it does not.
//
// # Connection tests
//
// TestConnection (connector.ConnectionTester) first connects without
// logging in and reports the server: address, greeting (the real one,
// also under STARTTLS), TLS version, certificate names and issuer and
// whether it was verified, capabilities, SASL mechanisms, and a product
// guessed from ID (RFC 2971) and the greeting (Dovecot, Cyrus, Courier,
// Exchange, Zimbra, Sun/Oracle Messaging Server and others). A certificate
// that does not verify stops the test there: a second, unverified look
// fills in the server information, no password is sent, and the report
// says why (rather than an error, so the console can show it).
//
// Then, for TestRequest.SampleUser, each login the credentials allow is
// tried once, on a connection of its own, and counts as working only if
// INBOX then opens with EXAMINE. With an administrator (Admin.AuthUser):
// the administrator's own login (which tells a wrong administrator
// password from an administrator that may not act for users; it counts
// without a mailbox of its own, and is never recommended), SASL PLAIN
// authzid (skipped, with a note, where the server has no AUTH=PLAIN), the
// master-user string with the configured separator, and PROXYAUTH (only
// if the administrator's own login worked) — as far as the profile
// offers them. Without an administrator user: the magic password. With
// UserSecret: the user's own password. A master-user string that works
// is checked with one more login, as a user that does not exist: a server
// without master users that lets every name in with that password (a
// static passdb: a magic password) would take "alice*admin" for a user
// of its own and open another, empty mailbox, so then the mode does not
// count as working, and a note says the password is a magic password.
// (Dovecot itself refuses "*" in user names unless auth_username_chars
// allows it.) Nothing is retried, and a server
// that hangs up or throttles ends the test: a handful of logins at most,
// never a loop. ServerInfo.Capabilities are those after the first login
// that worked (those before it are in a note when they differ); the
// personal namespace is read once a mailbox opened.
//
// Recommended is the first mode in the profile's order that worked with
// the credential meant for migrations: an administrator mode when an
// administrator was given (core's "auto" method only takes those), else
// the magic password, and the user's own password only when neither
// worked. Notes read the outcomes: an administrator that logs in but may
// act for nobody (on Cyrus: in neither admins nor proxyservers; use
// self-service), a login for a user whose INBOX does not open (Cyrus lets
// an administrator in for any name: check the user exists), a master
// user that cannot log in as itself (harmless), a wrong administrator
// password, a sample user that does not exist, a refused magic password,
// no SASL PLAIN, plaintext, the "INBOX." namespace; then the profile's
// own advice. LoginAttempt.Login says what was sent (the login string,
// authzid and authcid) and never a secret; errors are those of a session
// open.
package imapconn
