package connector

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"
)

// ProtocolVersion is the major version of the plugin protocol spoken by this
// SDK. It is the go-plugin handshake's protocol version.
const ProtocolVersion = 1

// ProtocolVersionMinor is the minor version of protocol 1. It must match the
// header of the frozen proto file (a test checks it).
const ProtocolVersionMinor = 0

// Role is what a connector can be in a migration.
type Role string

// The roles.
const (
	RoleSource Role = "source"
	RoleTarget Role = "target"
)

// Description is what a connector says about itself.
type Description struct {
	// ID is the connector's identifier: [a-z0-9_]+, equal to the suffix of
	// its binary tern-connector-<id>.
	ID string
	// Version is the connector's own version (semver).
	Version string
	// ProtocolVersion is the protocol major version the connector speaks.
	ProtocolVersion int
	// Summary is one line for humans.
	Summary string
	// Roles lists the roles the connector can take.
	Roles []Role
	// Capabilities lists optional features.
	Capabilities Capabilities
	// SettingsSchema is a JSON Schema (draft 2020-12) of the settings
	// object in [OpenRequest.Settings]. The console renders forms from it.
	SettingsSchema json.RawMessage
}

// HasRole reports whether d declares role r.
func (d *Description) HasRole(r Role) bool {
	for _, x := range d.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// Capabilities are the optional features of a connector.
type Capabilities struct {
	// DeltaCheckpoints: the source honours ListQuery.Since and lists only
	// what changed since that checkpoint.
	DeltaCheckpoints bool
	// Lookup: the target implements [TargetLookup].
	Lookup bool
	// FlagSync: the target implements [TargetFlagSync].
	FlagSync bool
	// Keywords: the target can store IMAP keywords (some of them may still be
	// refused per folder; Append reports what was dropped).
	Keywords bool
	// ListUsers: the connector implements [UserLister].
	ListUsers bool
	// TestConnection: the connector implements [ConnectionTester].
	TestConnection bool
	// CredentialModes lists the credential modes the connector supports,
	// the preferred first (ModePassword first means that without an
	// administrator login, the "magic password" is the default).
	CredentialModes []string
	// MaxMessageSize is the largest message the target accepts, in bytes;
	// 0 means unknown or unlimited.
	MaxMessageSize int64
}

// OpenRequest opens a mailbox session.
type OpenRequest struct {
	// Settings is the connector instance's configuration as a JSON object
	// that validates against Description.SettingsSchema.
	Settings json.RawMessage
	// User is the mailbox to open: a login name or an address.
	User string
	// Credential is how to log in. It is fetched from the secret store just
	// before the call and never logged.
	Credential Credential
	// ChunkSize is the body chunk size core suggests for streams, in bytes;
	// 0 lets the transport choose (about 1 MiB).
	ChunkSize int
}

// Credential modes: how a connector uses a Credential's fields to open the
// mailbox OpenRequest.User. A connector supports the modes its system
// has and refuses the others with ErrInvalid.
const (
	// ModePassword logs in as Username (or OpenRequest.User when Username
	// is empty) with Secret: the user's own password, or the "magic
	// password" that the administrator set for every account.
	ModePassword = "password"
	// ModeAdminAuthzid logs in as administrator AuthUser with Secret on
	// behalf of User: SASL PLAIN with an authorization identity (RFC 4616;
	// Dovecot master users, Cyrus proxy servers, Zimbra).
	ModeAdminAuthzid = "admin_authzid"
	// ModeAdminMaster logs in with the login string User + separator +
	// AuthUser and Secret (Dovecot's master-user separator, "*" by default;
	// the connector's settings may change it).
	ModeAdminMaster = "admin_master"
	// ModeAdminProxyAuth logs in as AuthUser with Secret, then switches to
	// User with PROXYAUTH (Sun Java System / iPlanet / Netscape Messaging).
	ModeAdminProxyAuth = "admin_proxyauth"
)

// Credential is the secret material that opens a mailbox. Its String,
// GoString, LogValue and MarshalJSON methods never reveal the secret, so a
// credential that ends up in a log line or an error message by mistake
// shows as redacted.
type Credential struct {
	// Mode says how to use the fields (ModePassword, ModeAdmin…); "" is
	// ModePassword.
	Mode string
	// Username is the login name, when it differs from OpenRequest.User.
	Username string
	// AuthUser is the administrator identity in administrator modes.
	AuthUser string
	// Secret is the password or token.
	Secret string
}

// String implements fmt.Stringer without revealing the secret.
func (c Credential) String() string {
	s := "credential(mode=" + c.Mode + ", user=" + c.Username
	if c.AuthUser != "" {
		s += ", authuser=" + c.AuthUser
	}
	if c.Secret != "" {
		s += ", secret=" + Redacted
	}
	return s + ")"
}

// GoString implements fmt.GoStringer (the %#v verb) without the secret.
func (c Credential) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the secret.
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON keeps the secret out of any JSON the credential ends up in.
func (c Credential) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// Redacted replaces secrets wherever they would be shown.
const Redacted = "[redacted]"

// Connector is implemented by every connector.
type Connector interface {
	// Describe returns the connector's description. It has no side effects.
	Describe(ctx context.Context) (*Description, error)
	// OpenSource opens a mailbox for reading. A connector without the
	// source role returns ErrUnsupported.
	OpenSource(ctx context.Context, req *OpenRequest) (Source, error)
	// OpenTarget opens a mailbox for writing. A connector without the
	// target role returns ErrUnsupported.
	OpenTarget(ctx context.Context, req *OpenRequest) (Target, error)
}

// Folder is one folder of a mailbox.
type Folder struct {
	// Name is the full UTF-8 name as the server shows it.
	Name string
	// Delimiter is the hierarchy delimiter of this name, "" for a flat name.
	Delimiter string
	// SpecialUse is one of the RFC 6154 attributes (\Sent, \Drafts, \Trash,
	// \Junk, \Archive, \All, \Flagged) or "" for none. INBOX has none; its
	// name says what it is.
	SpecialUse string
	// NoSelect is true for a folder that holds no messages (a pure parent).
	NoSelect bool
	// Attributes are any other attributes the server reports.
	Attributes []string
}

// Hierarchy is a mailbox's folder tree.
type Hierarchy struct {
	// Delimiter is the hierarchy delimiter of the personal namespace.
	Delimiter string
	// Prefix is the personal namespace's prefix ("INBOX." on Maildir++
	// servers, "" on most others). Folder names include it.
	Prefix string
	// Folders are all folders, in the server's order.
	Folders []Folder
}

// Special-use attributes (RFC 6154).
const (
	SpecialAll     = `\All`
	SpecialArchive = `\Archive`
	SpecialDrafts  = `\Drafts`
	SpecialFlagged = `\Flagged`
	SpecialJunk    = `\Junk`
	SpecialSent    = `\Sent`
	SpecialTrash   = `\Trash`
)

// System flags (RFC 9051 §2.3.2). Keywords are any other atom without a
// leading backslash.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// Checkpoint is an opaque token a source returns to mark how far a listing
// went (for IMAP: UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ). Core stores it
// and gives it back in ListQuery.Since.
type Checkpoint []byte

// FolderStatus describes a source folder at the time of the call.
type FolderStatus struct {
	// Validity changes when the folder's message IDs are no longer valid
	// (IMAP UIDVALIDITY). Core then matches messages by fingerprint.
	Validity string
	// Messages is the number of messages in the folder.
	Messages int64
}

// ListQuery selects what [Source.List] returns.
type ListQuery struct {
	// Since is a checkpoint from an earlier listing of the same folder. With
	// it, a source with DeltaCheckpoints lists messages added since then
	// (full metadata) and messages whose flags changed (FlagsOnly). A source
	// lists everything when Since is nil, when it belongs to another
	// Validity, or when it has no delta support.
	Since Checkpoint
	// PageSize is the suggested number of messages per page; 0 lets the
	// source choose.
	PageSize int
}

// ListResult ends a listing.
type ListResult struct {
	// Checkpoint marks the state of the folder when the listing began. Give
	// it back in the next ListQuery.Since.
	Checkpoint Checkpoint
	// Validity is the folder's validity during the listing.
	Validity string
}

// Message is a message's metadata.
type Message struct {
	// ID is the message's source ID (IMAP: the UID in decimal).
	ID string
	// FlagsOnly is set for a message listed only because its flags changed
	// since the checkpoint; then only ID and Flags are meaningful.
	FlagsOnly bool
	// Size is the exact size of the body Fetch will stream, in bytes.
	Size int64
	// InternalDate is the date the server received the message.
	InternalDate time.Time
	// Flags are system flags (with backslash) and keywords.
	Flags []string
	// MessageID is the Message-ID header's value, "" if there is none.
	MessageID string
	// Fingerprint is Fingerprint(size, header section).
	Fingerprint string
}

// Body is a message body being streamed. Read it to the end, then Close it;
// Close releases the connection even if the body was not read to the end.
type Body interface {
	io.ReadCloser
	// Size is the exact number of bytes the body holds.
	Size() int64
}

// Source is an open mailbox that can be read.
type Source interface {
	// Folders lists the mailbox's folders.
	Folders(ctx context.Context) (*Hierarchy, error)
	// Status returns a folder's current status.
	Status(ctx context.Context, folder string) (*FolderStatus, error)
	// List calls fn with pages of message metadata, in ascending ID order
	// where the system has one. If fn returns an error, List stops and
	// returns it.
	List(ctx context.Context, folder string, q *ListQuery, fn func(page []Message) error) (*ListResult, error)
	// Fetch streams a message's body byte for byte, without changing the
	// message (IMAP: BODY.PEEK[], so \Seen is not set). A message that is
	// gone returns ErrNotFound.
	Fetch(ctx context.Context, folder, id string) (Body, error)
	// Close ends the session.
	Close(ctx context.Context) error
}

// TargetFolder is a folder ready to receive messages.
type TargetFolder struct {
	// Name is the folder's full name on the target.
	Name string
	// Created is true if the folder did not exist before the call.
	Created bool
	// Watermark is an opaque token marking the folder's state before any
	// append of this session (IMAP: UIDVALIDITY and UIDNEXT). Messages
	// appended afterwards are found by a Lookup with Since set to it, and
	// messages that were there before are not, so a lookup never claims a
	// message that the target already held.
	Watermark string
}

// AppendMessage is a message to store on a target.
type AppendMessage struct {
	// Size is the exact size of Body in bytes.
	Size int64
	// Body is the message, byte for byte. Append reads exactly Size bytes.
	Body io.Reader
	// InternalDate is the date to store the message with.
	InternalDate time.Time
	// Flags are the flags and keywords to store it with.
	Flags []string
	// MessageID and Fingerprint are the source's metadata, as hints.
	MessageID   string
	Fingerprint string
}

// AppendResult reports a stored message.
type AppendResult struct {
	// Ref is the target's ID of the new message ("" if the target cannot
	// tell, e.g. an IMAP server without UIDPLUS).
	Ref string
	// DroppedFlags lists flags the target refused to store.
	DroppedFlags []string
	// Notes are fidelity notes for the report (what the target could not
	// keep exactly).
	Notes []string
}

// Target is an open mailbox that can be written.
type Target interface {
	// Folders lists the mailbox's folders.
	Folders(ctx context.Context) (*Hierarchy, error)
	// EnsureFolder creates a folder (and its parents) if it does not exist.
	// specialUse, when not "", asks the target to mark it so where it can.
	EnsureFolder(ctx context.Context, name, specialUse string) (*TargetFolder, error)
	// Append stores a message in a folder. A refusal of this one message
	// (too large, malformed for this target) is ErrTooLarge or
	// ErrPermanent; it does not end the session.
	Append(ctx context.Context, folder string, m *AppendMessage) (*AppendResult, error)
	// Close ends the session.
	Close(ctx context.Context) error
}

// LookupQuery finds messages on a target.
type LookupQuery struct {
	// MessageID is the Message-ID header value; "" for messages without one.
	MessageID string
	// Fingerprint is the content fingerprint; results match it exactly.
	Fingerprint string
	// Size is the message size; results match it exactly.
	Size int64
	// Since is a TargetFolder.Watermark: only messages stored after it are
	// returned. "" means all messages.
	Since string
}

// TargetLookup is implemented by targets with Capabilities.Lookup.
type TargetLookup interface {
	// Lookup returns the refs of messages in folder that match q, in
	// ascending order.
	Lookup(ctx context.Context, folder string, q *LookupQuery) ([]string, error)
}

// SetFlagsResult reports a flag change.
type SetFlagsResult struct {
	// DroppedFlags lists flags the target refused to store.
	DroppedFlags []string
}

// TargetFlagSync is implemented by targets with Capabilities.FlagSync.
type TargetFlagSync interface {
	// SetFlags replaces the flags of the message ref in folder.
	SetFlags(ctx context.Context, folder, ref string, flags []string) (*SetFlagsResult, error)
}

// Log levels below slog.LevelDebug used by connectors: LevelTrace logs
// protocol lines (with credentials always replaced by [Redacted]) and
// LevelTraceData adds message contents.
const (
	LevelTrace     slog.Level = slog.LevelDebug - 4
	LevelTraceData slog.Level = slog.LevelDebug - 8
)

// CopyItem is one message for [SourceCopier.CopyTo].
type CopyItem struct {
	// ID is the source message's ID.
	ID string
	// InternalDate and Flags are what to store the message with.
	InternalDate time.Time
	Flags        []string
	// MessageID and Fingerprint are the source's metadata, as hints.
	MessageID   string
	Fingerprint string
}

// CopyOutcome is the result of copying one item.
type CopyOutcome struct {
	// Result is set when the message was stored.
	Result *AppendResult
	// Size is the number of bytes copied.
	Size int64
	// Err is a *CopyError when the item failed.
	Err error
}

// CopyError is a failed copy: Source says whether reading the source
// failed (then nothing was stored) or the target failed or refused the
// message.
type CopyError struct {
	Source bool
	Err    error
}

func (e *CopyError) Error() string { return e.Err.Error() }

// Unwrap returns the side's error.
func (e *CopyError) Unwrap() error { return e.Err }

// SourceCopier is implemented by source sessions that copy messages
// straight into a target session, without streaming the bodies through the
// caller. The host's sessions of one plugin process do it for every
// connector (bodies then never leave the plugin), and a connector's own
// sessions may do it faster for several messages at once (IMAP: one UID
// FETCH and one MULTIAPPEND).
//
// CopyTo returns one outcome per item, in order. An error instead of
// outcomes means the call as a whole failed: with ErrUnsupported, dst
// cannot be reached this way (another process, another connector) and
// nothing happened; otherwise any of the items may or may not have been
// stored.
type SourceCopier interface {
	CopyTo(ctx context.Context, folder string, items []CopyItem, dst Target, dstFolder string) ([]CopyOutcome, error)
}

// AdminCredential is what an administrator gave a connector to open other
// people's mailboxes: an administrator login and password, or only a
// password ("magic password": AuthUser empty, Secret is every user's
// password).
type AdminCredential struct {
	AuthUser string
	Secret   string
}

// String implements fmt.Stringer without revealing the secret.
func (a AdminCredential) String() string {
	return Credential{Mode: "admin", AuthUser: a.AuthUser, Secret: a.Secret}.String()
}

// GoString implements fmt.GoStringer without the secret.
func (a AdminCredential) GoString() string { return a.String() }

// LogValue implements slog.LogValuer without the secret.
func (a AdminCredential) LogValue() slog.Value { return slog.StringValue(a.String()) }

// MarshalJSON keeps the secret out of any JSON.
func (a AdminCredential) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// TestRequest asks a connector to probe its server.
type TestRequest struct {
	// Settings are the connector instance's settings.
	Settings json.RawMessage
	// SampleUser is a mailbox to try logging in to; "" probes the server
	// only.
	SampleUser string
	// Admin, if set, is the administrator credential to try in every
	// administrator mode the connector knows (or as a magic password when
	// Admin.AuthUser is empty).
	Admin *AdminCredential
	// UserSecret, if set, is SampleUser's own password, tried in
	// ModePassword.
	UserSecret string
}

// ServerInfo describes a server as a connection test saw it.
type ServerInfo struct {
	// Address is the address connected to.
	Address string `json:"address"`
	// Greeting is the server's greeting line.
	Greeting string `json:"greeting"`
	// TLS describes the connection's protection ("TLS 1.3, certificate for
	// imap.example.com verified", "none").
	TLS string `json:"tls"`
	// Capabilities are the capabilities after login, or before it when no
	// login succeeded.
	Capabilities []string `json:"capabilities"`
	// AuthMechanisms are the SASL mechanisms offered.
	AuthMechanisms []string `json:"auth_mechanisms"`
	// Product names the server software when it can be told ("Dovecot",
	// "Cyrus IMAP").
	Product string `json:"product,omitempty"`
}

// LoginAttempt is the outcome of one way of logging in.
type LoginAttempt struct {
	// Mode is the credential mode tried (ModePassword, ModeAdmin…).
	Mode string `json:"mode"`
	// Login describes what was sent, without any secret, e.g.
	// "AUTHENTICATE PLAIN authzid=alice authcid=admin" or
	// "LOGIN alice*admin".
	Login string `json:"login"`
	// OK is true if the login worked and the mailbox could be opened.
	OK bool `json:"ok"`
	// Error says why it did not, with the server's words.
	Error string `json:"error,omitempty"`
	// Kind classifies the failure.
	Kind Kind `json:"kind,omitzero"`
}

// TestReport is the result of a connection test.
type TestReport struct {
	Server ServerInfo `json:"server"`
	// Attempts lists every login tried, in order.
	Attempts []LoginAttempt `json:"attempts"`
	// Recommended is the mode to use for migrations, "" if none worked.
	Recommended string `json:"recommended"`
	// Notes are advice for the administrator (e.g. that self-service is
	// the way for a server whose administrator may not open mailboxes).
	Notes []string `json:"notes,omitempty"`
}

// ConnectionTester is implemented by connectors with
// Capabilities.TestConnection. TestConnection reports what it could learn
// even when logins fail; an error means the server could not be reached
// or the settings are wrong.
type ConnectionTester interface {
	TestConnection(ctx context.Context, req *TestRequest) (*TestReport, error)
}

// ListUsersRequest asks a connector for the mailboxes it can see.
type ListUsersRequest struct {
	Settings json.RawMessage
	// Admin is the administrator credential that lists them.
	Admin AdminCredential
	// Mode is how the administrator logs in (see the credential modes);
	// "" lets the connector choose.
	Mode string
}

// User is a mailbox a connector found.
type User struct {
	// Login is the user's login name on the source.
	Login string `json:"login"`
	// Address is the user's e-mail address, if known.
	Address string `json:"address,omitempty"`
	// DisplayName is the user's name, if known.
	DisplayName string `json:"display_name,omitempty"`
	// Note says anything worth knowing (e.g. "suspended").
	Note string `json:"note,omitempty"`
}

// UserLister is implemented by connectors with Capabilities.ListUsers.
// ListUsers calls fn with pages of users.
type UserLister interface {
	ListUsers(ctx context.Context, req *ListUsersRequest, fn func([]User) error) error
}
