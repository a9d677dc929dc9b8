// Package imapconn is the IMAP connector that Tern's IMAP-speaking
// connectors share: any IMAP4rev1 server as a migration source, a target,
// or both. A [Profile] makes it one connector or another: [Generic] is
// tern-connector-imap (plugins/imap), and plugins/postfix/postfixconn's
// profile is tern-connector-postfix. The IMAP plumbing (dialing, logins,
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
// these); and hooks for what a server family does differently: listing
// users (a connection logged in as the administrator is handed to the
// hook; without one the connector is no UserLister in its description
// and ListUsers returns ErrUnsupported) and advice in connection tests. A
// profile that makes no sense panics in New, so at the plugin's start.
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
// business (RFC 9051 §6.3.4). The watermark is "<uidvalidity>:<uidnext>".
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
// Describe announces delta checkpoints, lookup, flag sync and keywords.
// MaxMessageSize stays 0: the APPENDLIMIT is a property of the server
// instance, unknown to Describe, so Append enforces it instead.
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
// refused login is ErrAuth with the login name, the mechanism and the
// server's words, never the password. [NONEXISTENT] and [TRYCREATE] are
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
// Mode "password" (or "") logs in as Credential.Username, or as
// OpenRequest.User when that is empty, with Credential.Secret, by
// AUTHENTICATE PLAIN or LOGIN (auth_mechanism). Administrator modes (SASL
// PLAIN with an authorization identity, master-user strings, PROXYAUTH)
// are planned as further imapkit.Login types selected by Credential.Mode.
package imapconn
