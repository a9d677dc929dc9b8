// Package connector is the contract between Tern's core and its connectors.
//
// Both sides import this package: a connector implements [Connector] (and
// the [Source] and [Target] sessions it opens), and core consumes the same
// interfaces, whether the connector runs in process (tests, [memconnector])
// or as a plugin subprocess reached over gRPC (see the serve and host
// packages). Protobuf never leaks out of the SDK: every call takes and
// returns the plain Go types declared here.
//
// # Lifecycle
//
// A connector value has no state of its own. Core calls [Connector.Describe]
// once, then opens one session per mailbox and role with
// [Connector.OpenSource] or [Connector.OpenTarget]. The [OpenRequest] carries
// the connector instance's settings (JSON that validates against the schema
// returned by Describe) and the mailbox credential, fetched from the secret
// store at that moment. A session may keep connections open until Close; it
// keeps nothing once closed. Durable state (which messages were copied,
// checkpoints) is core's: a connector returns opaque [Checkpoint] tokens and
// core stores them.
//
// # Folders
//
// Folder names are UTF-8 strings, full paths as the server shows them,
// including the personal namespace prefix and using the server's hierarchy
// delimiter. Encodings such as IMAP's modified UTF-7 are the connector's
// business and never reach core.
//
// # Messages
//
// A source lists [Message] metadata in pages and streams bodies with
// [Source.Fetch]; a target receives bodies with [Target.Append] as an
// [io.Reader] whose size is known in advance. Nobody holds a whole message in
// memory on the hot path: implementations stream, and large bodies may be
// spooled to a temporary file that its creator removes.
//
// Message IDs are opaque, stable strings within one folder and one
// [FolderStatus.Validity]; for IMAP they are UIDs. A mailbox is a multiset:
// two byte-identical messages in one folder are two messages, and nothing in
// the contract deduplicates them.
//
// # Fingerprints
//
// [Fingerprint] identifies a message's content from its size and its header
// section. Sources report it in the listing, targets use it in
// [TargetLookup.Lookup], and core stores it in the ledger, so a message can be
// recognised on the target after a crash or a change of UIDVALIDITY without
// copying it again.
//
// # Errors
//
// Errors carry their meaning as a [Kind]: [ErrAuth], [ErrNotFound],
// [ErrThrottled] (with a retry-after hint), [ErrTooLarge], [ErrPermanent],
// [ErrTemporary], [ErrInvalid], [ErrUnsupported] and [ErrUnavailable]. Match
// them with errors.Is; the kind survives the trip over the wire. Callers
// decide retries with [IsTemporary] and [RetryAfter], never by reading
// message text.
//
// # Optional features
//
// Features that not every system has are extension interfaces
// ([TargetLookup], [TargetFlagSync]) announced as [Capabilities] in the
// [Description]. A plugin that announces a capability its sessions do not
// implement is refused when the session opens.
//
// # Copies inside a plugin
//
// When the source and the target session live in the same plugin process
// (an IMAP → IMAP migration), bodies need not travel to core and back:
// [SourceCopier] copies messages between the two sessions inside the
// plugin. The SDK's plugin server does it for every connector by piping
// Fetch into Append; a connector may implement SourceCopier itself to copy
// many messages at once (the IMAP connector uses one UID FETCH and one
// MULTIAPPEND per batch). Core falls back to streaming through Fetch and
// Append whenever CopyTo says ErrUnsupported.
package connector
