package cli

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"unicode/utf8"
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

// LineError is a bad CSV line.
type LineError struct {
	Line   int
	Reason string
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

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

var userColumns = map[string]string{
	"source_user": "source_user", "source": "source_user", "user": "source_user", "username": "source_user",
	"target_user": "target_user", "target": "target_user", "emailaddress": "target_user", "email": "target_user",
	"source_password": "source_password", "password": "source_password",
	"target_password": "target_password",
}

// ParseUsers reads a user list: CSV with a header naming the columns
// source_user (required), target_user, source_password and
// target_password. Lines starting with # are comments. Every bad line is
// reported with its number and reason; no pair is returned then.
func ParseUsers(r io.Reader) ([]UserPair, error) {
	data, err := io.ReadAll(io.LimitReader(r, 64<<20+1))
	if err != nil {
		return nil, err
	}
	if len(data) > 64<<20 {
		return nil, errors.New("user list larger than 64 MiB")
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM from spreadsheets
	if !utf8.Valid(data) {
		return nil, errors.New("user list is not UTF-8 text (save it as CSV UTF-8)")
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("user list is empty")
	}
	if err != nil {
		return nil, fmt.Errorf("user list header: %w", err)
	}
	cols := map[string]int{}
	for i, h := range header {
		name, ok := userColumns[strings.ToLower(strings.TrimSpace(h))]
		if !ok {
			return nil, fmt.Errorf("user list header: unknown column %q (use source_user, target_user, source_password, target_password)", h)
		}
		if _, dup := cols[name]; dup {
			return nil, fmt.Errorf("user list header: column %q given twice", name)
		}
		cols[name] = i
	}
	if _, ok := cols["source_user"]; !ok {
		return nil, errors.New("user list header: a source_user column is required")
	}
	get := func(rec []string, col string) string {
		i, ok := cols[col]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	var out []UserPair
	var bad []LineError
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, LineError{Line: pe.Line, Reason: pe.Err.Error()})
				continue
			}
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != len(header) {
			bad = append(bad, LineError{Line: line, Reason: fmt.Sprintf("%d fields, the header has %d", len(rec), len(header))})
			continue
		}
		p := UserPair{Line: line, SourceUser: get(rec, "source_user"), TargetUser: get(rec, "target_user"),
			SourcePassword: get(rec, "source_password"), TargetPassword: get(rec, "target_password")}
		if p.TargetUser == "" {
			p.TargetUser = p.SourceUser
		}
		switch {
		case p.SourceUser == "":
			bad = append(bad, LineError{Line: line, Reason: "source_user is empty"})
			continue
		case strings.ContainsAny(p.SourceUser+p.TargetUser, " \t\r\n"):
			bad = append(bad, LineError{Line: line, Reason: "a user name contains white space"})
			continue
		case strings.Contains(p.TargetUser, "@"):
			if _, err := mail.ParseAddress(p.TargetUser); err != nil {
				bad = append(bad, LineError{Line: line, Reason: fmt.Sprintf("target_user %q is not a valid address", p.TargetUser)})
				continue
			}
		}
		key := p.SourceUser + "\x00" + p.TargetUser
		if first, dup := seen[key]; dup {
			bad = append(bad, LineError{Line: line, Reason: fmt.Sprintf("%s → %s is already on line %d", p.SourceUser, p.TargetUser, first)})
			continue
		}
		seen[key] = line
		out = append(out, p)
	}
	if len(bad) > 0 {
		return nil, &CSVError{Lines: bad}
	}
	if len(out) == 0 {
		return nil, errors.New("user list has no users")
	}
	return out, nil
}
