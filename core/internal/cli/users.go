package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ternmail/tern/core/internal/userlist"
)

// UserPair is one mailbox to migrate.
type UserPair struct {
	// Line is the CSV line it came from (0 for --user).
	Line           int
	SourceUser     string
	TargetUser     string
	SourcePassword string
	TargetPassword string
}

// LineError is a bad line of a user list.
type LineError = userlist.LineError

// CSVError lists every bad line of a user list.
type CSVError struct {
	Lines []LineError
}

func (e *CSVError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d bad line(s) in the user list:", len(e.Lines))
	for _, l := range e.Lines {
		b.WriteString("\n  " + l.Error())
	}
	return b.String()
}

// ParseUsers reads a user list in any format userlist.Parse knows (Tern's
// CSV with a header naming the columns source_user (required),
// target_user, source_password and target_password; Exchange Online's
// IMAP migration CSV; imapsync's batch file). Every bad line is reported
// with its number and reason; no pair is returned then.
func ParseUsers(r io.Reader) ([]UserPair, error) {
	res, err := userlist.Parse(r, userlist.Options{MaxBytes: 64 << 20, MaxEntries: -1})
	if err != nil {
		return nil, err
	}
	if len(res.Errors) > 0 {
		return nil, &CSVError{Lines: res.Errors}
	}
	if len(res.Entries) == 0 {
		return nil, errors.New("user list has no users")
	}
	out := make([]UserPair, len(res.Entries))
	for i, e := range res.Entries {
		out[i] = UserPair{Line: e.Line, SourceUser: e.SourceUser, TargetUser: e.TargetUser,
			SourcePassword: e.SourcePassword, TargetPassword: e.TargetPassword}
	}
	return out, nil
}
