// Package imapkit holds the go-imap v2 plumbing that Tern's IMAP-speaking
// connectors share (imap, postfix, cyrus): dialing with a TLS
// mode, logging in, binding operations to a context, classifying errors,
// tracing the protocol without secrets, and a small pool of connections
// that reconnects on its own. It also holds a second, narrow IMAP client
// of its own for one job go-imap cannot do: MULTIAPPEND ([AppendConn]).
//
// # Contexts and deadlines
//
// go-imap has no context support, and it sets its own read and write
// deadlines (30 s for a response, 5 min for a literal), including while a
// connection merely waits idle, which would kill every pooled connection
// after 30 s. imapkit gives the client library a net.Conn of its own that
// ignores the library's deadlines and applies Tern's instead: while an
// operation runs ([Conn.Do], [Conn.Begin]) every read and write pushes
// the deadline [Options.IOTimeout] ahead (an inactivity timeout, so a 25 MB
// literal may take as long as it needs while bytes flow; a write also
// moves the deadline of a read pending meanwhile, as the library's reader
// waits for an APPEND's answer while the literal is still going out and
// the server stays silent until it has it all), and when the
// operation's context ends the deadline is set in the past for good
// (context.AfterFunc). IMAP cannot abandon a command half-way, so an
// interrupted connection is broken and never reused.
//
// # TLS
//
// Three modes: implicit TLS (993), STARTTLS (143) and none. Certificates
// are verified by default, against the system's roots or a CA file; the
// opt-out is explicit. STARTTLS is done by imapkit on the raw connection
// before the client library sees it, not by imapclient: that way every
// byte after the upgrade flows through imapkit's connection, where the
// trace sees plaintext; a PREAUTH greeting and bytes smuggled after the
// server's OK are refused. The client library then gets a synthetic
// greeting, as none follows STARTTLS on the wire.
//
// # Login
//
// [Login] is an interface with one type per credential mode of the
// connector contract, and a [Login] works on an [Authenticator], which
// both connection types are, so every mode logs in the go-imap
// connections and the MULTIAPPEND ones alike:
//
//   - [PasswordLogin] (connector.ModePassword: a user's own password or
//     the "magic password"): AUTHENTICATE PLAIN or LOGIN (Mechanism).
//   - [AuthzidLogin] (ModeAdminAuthzid): AUTHENTICATE PLAIN with the user
//     as authorization identity and the administrator as authentication
//     identity (RFC 4616). A server that does not announce AUTH=PLAIN is
//     refused before anything is sent, KindInvalid: the mode is impossible
//     there, whatever the password.
//   - [MasterLogin] (ModeAdminMaster): the login string user + separator +
//     administrator ("alice*admin", Dovecot's auth_master_user_separator)
//     with the administrator's password, by LOGIN or PLAIN.
//   - [ProxyAuthLogin] (ModeAdminProxyAuth): the administrator logs in,
//     then "PROXYAUTH user" (Sun Java System / iPlanet Messaging Server).
//
// go-imap cannot send PROXYAUTH: it has no way to send a command it does
// not know. So a Login that needs it is done by imapkit's own client
// ([AppendConn], which speaks the raw protocol anyway) on the same wire
// connection before go-imap sees it, the way STARTTLS is done; go-imap
// then gets a synthetic "* PREAUTH [CAPABILITY …]" greeting, with the
// capabilities after the login, followed by whatever the server sent that
// the raw client had read ahead, and starts in the authenticated state.
// Every byte still goes through the same wire connection and trace. The
// alternative, patching go-imap or sending raw bytes under its feet, would
// leave its parser out of step.
//
// A refusal is KindAuth (KindInvalid where the server cannot do the mode:
// no AUTH=PLAIN for authzid, BAD to PROXYAUTH). Its message says which
// mode, what was sent (the login string: "alice*admin", authzid and
// authcid; never the password), the server's words, and what they mean
// where the server tells: Dovecot answers AUTHENTICATIONFAILED for a
// wrong password (or an administrator that is none) and
// AUTHORIZATIONFAILED when the master user's password was right but the
// user does not exist; servers that write "no such user" are read as
// such. Where the server does not tell, the message says so ("wrong
// password, or no user "alice" (the server does not say which)") rather
// than guess. UNAVAILABLE stays temporary, a backoff hint throttling.
// [Login.Command] describes what a mode sends, without secrets, for
// connection tests.
//
// # Errors
//
// [Conn.Classify] maps what the library returns onto connector kinds: a
// NO or BAD by its response code ([ResponseKind]: AUTHENTICATIONFAILED →
// auth, NONEXISTENT/TRYCREATE → not found, TOOBIG → too large, no code →
// permanent), a dead connection (I/O error, timeout, BYE) → unavailable,
// a certificate that does not verify → invalid. Microsoft 365's
// "Suggested Backoff Time: N milliseconds", in a NO or in the BYE before
// it hangs up, becomes connector.Throttled with that hint
// ([ParseBackoff]); imapkit watches the server's lines for BYE because
// the library drops its text.
//
// # Tracing
//
// When the logger is enabled for connector.LevelTrace, every protocol line
// is logged in both directions, with LOGIN arguments (quoted or literal)
// and AUTHENTICATE payloads replaced by connector.Redacted; literal
// contents (message bodies) are logged only at connector.LevelTraceData.
// That covers every login mode: an authzid payload is an AUTHENTICATE
// payload (inline with SASL-IR, or as the answer to a challenge), a
// master-user login string travels with its password in LOGIN, and
// PROXYAUTH follows an ordinary LOGIN or AUTHENTICATE; the PROXYAUTH line
// itself names only the user and is shown.
// The client library's DebugWriter is not used: it mixes both directions
// and shows credentials.
//
// # MULTIAPPEND: a second, narrow client
//
// Storing a batch of messages as one MULTIAPPEND command (RFC 3502) costs
// a server far less than one APPEND per message (Dovecot: about a third of
// the CPU), and with non-synchronizing literals (RFC 7888 LITERAL+) the
// whole batch is one round trip. go-imap v2.0.0-beta.8 can do neither: it
// has no MULTIAPPEND, and it honours only LITERAL- (non-synchronizing
// literals up to 4096 bytes), so every larger message waits a round trip
// for the server's go-ahead. [AppendConn] is therefore a minimal client of
// imapkit's own, used for that alone: greeting, CAPABILITY, LOGIN or
// AUTHENTICATE PLAIN (through the same [Login]), SELECT (for the
// mailbox's PERMANENTFLAGS), MULTIAPPEND, NOOP, LOGOUT. Whatever else the
// server says is skipped, literals in its responses included. It also
// does two jobs go-imap cannot: logging in with PROXYAUTH (see Login) and
// probing a server for a connection test, where it keeps what go-imap
// hides: the greeting line (the real one, read before STARTTLS), the
// capabilities before and after the login as the server spelled them,
// the TLS state, ID (RFC 2971) and the namespaces ([AppendConn.Namespaces]:
// the first personal, other users' and shared one; EXAMINE opens the
// mailbox read-only).
//
// It is dialled by the same code as [Conn] (TLS modes, verification,
// STARTTLS done by imapkit), sits on the same wire connection (contexts,
// inactivity timeout, BYE text, trace with credentials redacted and
// bodies only at connector.LevelTraceData) and classifies errors the same
// way ([FromResponse], classifyIO). It reads and writes in the caller's
// goroutine, never in the background.
//
// A [MultiAppend] streams each message from a reader into its literal as
// it comes ({n+} with LITERAL+, or LITERAL- up to 4096 bytes; otherwise
// {n} and a wait for the go-ahead, where a refusal ends the command at
// once), and Finish sends the command's end and reads the answer: the
// APPENDUID (RFC 4315) gives the messages' UIDs in order. The server
// stores all of the messages or none: a NO or BAD stores none; a body
// that fails, a dropped connection or an ended context before the
// command's end breaks the connection before it, so the server stores
// none; only a failure after the end was sent (MultiAppend.Sent) leaves
// it open. After a NO the mailbox is selected again next time, so that a
// mailbox deleted meanwhile shows as NONEXISTENT rather than as the
// server's confusion. If go-imap grows MULTIAPPEND and LITERAL+, this
// client should go.
//
// # Pool
//
// [Pool] (and [AppendPool], the same [ConnPool] for [AppendConn]s) keeps
// up to N authenticated connections per session and hands each to one
// operation at a time, preferring one that already has the wanted mailbox
// selected. A connection that broke is closed when it
// comes back and replaced by a new dial on the next Get, so a session
// survives dropped connections; one idle for more than a minute is
// checked with NOOP first.
package imapkit
