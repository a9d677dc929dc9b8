package userlist

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Format is a user-list format.
type Format string

// The formats Parse reads.
const (
	// FormatTern is Tern's own CSV: a header naming the columns
	// source_user (required), target_user, source_password and
	// target_password.
	FormatTern Format = "tern"
	// FormatExchange is the CSV of Exchange Online's IMAP migration:
	// EmailAddress,UserName,Password[,UserRoot].
	FormatExchange Format = "exchange"
	// FormatImapsync is the file of imapsync's "massive" loops:
	// host1;user1;password1;host2;user2;password2; per line, no header.
	FormatImapsync Format = "imapsync"
)

// Mask replaces a password wherever an entry or a line is shown.
const Mask = "***"

// Entry is one valid line of a user list: a mailbox pair with its own
// passwords, if the line gives them.
//
// Its String, Format (every fmt verb), LogValue and MarshalJSON methods
// never show a password, so an entry can be printed, logged or sent to
// the console's preview as is. The flip side: JSON does not carry the
// passwords, so keep the Result in memory (or parse the upload again)
// between the preview and the import.
type Entry struct {
	// Line is the physical line of the file the entry starts on
	// (1-based; the header is a line too).
	Line int
	// SourceUser is the login on the source server.
	SourceUser string
	// TargetUser is the target address (or login, between IMAP servers).
	TargetUser string
	// SourcePassword and TargetPassword are the user's own passwords;
	// empty means the connector's credentials (administrator, magic
	// password, …) are used.
	SourcePassword string
	TargetPassword string
	// UserRoot is the Exchange format's UserRoot (the user's folder root
	// on the source server, for administrator logins), as given.
	UserRoot string
	// SourceHost and TargetHost are imapsync's host1 and host2, so that
	// a caller can warn when they are not the project's connectors.
	SourceHost string
	TargetHost string
	// Text is the line as read, every password replaced by Mask.
	Text string
}

// HasPasswords reports whether the entry gives a password of its own.
func (e Entry) HasPasswords() bool { return e.SourcePassword != "" || e.TargetPassword != "" }

// String describes the entry without its passwords.
func (e Entry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "line %d: %s -> %s", e.Line, e.SourceUser, e.TargetUser)
	if e.SourcePassword != "" {
		b.WriteString(", source password " + Mask)
	}
	if e.TargetPassword != "" {
		b.WriteString(", target password " + Mask)
	}
	if e.UserRoot != "" {
		b.WriteString(", user root " + e.UserRoot)
	}
	if e.SourceHost != "" || e.TargetHost != "" {
		fmt.Fprintf(&b, ", hosts %s -> %s", e.SourceHost, e.TargetHost)
	}
	return b.String()
}

// Format implements fmt.Formatter: every verb (%v, %+v, %#v, %s, %q…)
// prints String, so a password cannot reach fmt output.
func (e Entry) Format(f fmt.State, _ rune) { io.WriteString(f, e.String()) }

// LogValue implements slog.LogValuer without the passwords.
func (e Entry) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("line", e.Line),
		slog.String("source_user", e.SourceUser),
		slog.String("target_user", e.TargetUser),
		slog.Bool("source_password", e.SourcePassword != ""),
		slog.Bool("target_password", e.TargetPassword != ""),
	)
}

// entryJSON is an entry as the console's preview shows it.
type entryJSON struct {
	Line              int    `json:"line"`
	SourceUser        string `json:"source_user"`
	TargetUser        string `json:"target_user"`
	HasSourcePassword bool   `json:"has_source_password,omitempty"`
	HasTargetPassword bool   `json:"has_target_password,omitempty"`
	UserRoot          string `json:"user_root,omitempty"`
	SourceHost        string `json:"source_host,omitempty"`
	TargetHost        string `json:"target_host,omitempty"`
	Text              string `json:"text"`
}

// MarshalJSON writes the entry without its passwords (has_source_password
// and has_target_password say whether it has them).
func (e Entry) MarshalJSON() ([]byte, error) {
	return json.Marshal(entryJSON{
		Line: e.Line, SourceUser: e.SourceUser, TargetUser: e.TargetUser,
		HasSourcePassword: e.SourcePassword != "", HasTargetPassword: e.TargetPassword != "",
		UserRoot: e.UserRoot, SourceHost: e.SourceHost, TargetHost: e.TargetHost, Text: e.Text,
	})
}

// LineError is a line left out of the list, with the reason.
type LineError struct {
	// Line is the physical line the bad record starts on (1-based).
	Line int `json:"line"`
	// Reason says what is wrong; it names columns, logins and addresses,
	// never a password.
	Reason string `json:"reason"`
	// Text is the line with every password replaced by Mask. When a line
	// cannot be split into the header's columns (wrong number of fields,
	// bad quoting), which field is a password is unknown: then only the
	// first field is shown, and only if the first column is not a
	// password.
	Text string `json:"text,omitempty"`
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Result is a parsed user list.
type Result struct {
	// Format is the format read (detected or forced).
	Format Format `json:"format"`
	// Entries are the valid lines, in file order.
	Entries []Entry `json:"entries"`
	// Errors are the lines left out, in file order.
	Errors []LineError `json:"errors"`
	// Lines counts the data lines read: valid and invalid, not the
	// header, comments or blank lines.
	Lines int `json:"lines"`
}

// Whole-file errors, for errors.Is (their messages say what to do).
var (
	ErrTooLarge       = errors.New("user list too large")
	ErrTooManyEntries = errors.New("too many users in the list")
	ErrEmpty          = errors.New("user list is empty")
	ErrNotText        = errors.New("user list is not a text file")
	ErrEncoding       = errors.New("user list is not UTF-8")
	ErrFormat         = errors.New("user list format not recognised")
)

// fileError is a whole-file error: its own message, one of the
// sentinels above for errors.Is.
type fileError struct {
	kind error
	msg  string
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return e.kind }

func fileErr(kind error, format string, args ...any) error {
	return &fileError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
