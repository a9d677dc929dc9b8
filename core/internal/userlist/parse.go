package userlist

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
)

// Defaults and limits.
const (
	DefaultMaxBytes   = 10 << 20
	DefaultMaxEntries = 50000
	// MaxField is the longest field accepted, in bytes (320 is the
	// longest e-mail address: 64 for the local part, @, 255 for the
	// domain).
	MaxField = 320
)

// Options tune Parse.
type Options struct {
	// Format forces a format; "" detects it from the content.
	Format Format
	// MaxBytes is the largest file accepted (DefaultMaxBytes if 0).
	MaxBytes int64
	// MaxEntries is the most data lines accepted (DefaultMaxEntries if
	// 0, no limit if negative).
	MaxEntries int
	// DefaultTargetDomain, if set, makes the target source@domain for a
	// line without a target whose source login has no @ (without it,
	// the target is the source login itself).
	DefaultTargetDomain string
}

// column is what a field holds.
type column int

const (
	colNone column = iota
	colSourceUser
	colTargetUser
	colSourcePassword
	colTargetPassword
	colUserRoot
	colSourceHost
	colTargetHost
	numColumns
)

func (c column) password() bool { return c == colSourcePassword || c == colTargetPassword }

// ternColumns are the Tern header names and their aliases (lower case).
var ternColumns = map[string]column{
	"source_user": colSourceUser, "source": colSourceUser, "user": colSourceUser, "username": colSourceUser,
	"target_user": colTargetUser, "target": colTargetUser, "emailaddress": colTargetUser, "email": colTargetUser,
	"source_password": colSourcePassword, "password": colSourcePassword,
	"target_password": colTargetPassword,
}

var ternNames = [numColumns]string{
	colSourceUser: "source_user", colTargetUser: "target_user",
	colSourcePassword: "source_password", colTargetPassword: "target_password",
}

var exchangeColumns = map[string]column{
	"emailaddress": colTargetUser, "username": colSourceUser, "password": colSourcePassword, "userroot": colUserRoot,
}

var exchangeNames = [numColumns]string{
	colTargetUser: "EmailAddress", colSourceUser: "UserName", colSourcePassword: "Password", colUserRoot: "UserRoot",
}

var imapsyncNames = [numColumns]string{
	colSourceHost: "host1", colSourceUser: "user1", colSourcePassword: "password1",
	colTargetHost: "host2", colTargetUser: "user2", colTargetPassword: "password2",
}

const accepted = "accepted: a Tern header naming the columns source_user, target_user, source_password, target_password; " +
	"an Exchange Online header EmailAddress,UserName,Password[,UserRoot]; " +
	"or imapsync lines host1;user1;password1;host2;user2;password2;"

// layout is how a file's fields map to columns.
type layout struct {
	format Format
	cols   []column
	names  *[numColumns]string
	delim  rune
	// header is the header's line (0 without one).
	header int
	// trailer is imapsync's empty last field ("…;password2;").
	trailer bool
}

// Parse reads a user list. Its format (FormatTern, FormatExchange or
// FormatImapsync) is detected unless o.Format forces one. Bad lines are
// left out and listed in Result.Errors with their line numbers; the error
// is only for problems with the whole file (too large, empty, not UTF-8
// text, unknown format or columns, too many lines), and its message says
// what to do.
func Parse(r io.Reader, o Options) (*Result, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	o.DefaultTargetDomain = strings.TrimPrefix(strings.TrimSpace(o.DefaultTargetDomain), "@")
	raw, err := io.ReadAll(io.LimitReader(r, o.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the user list: %w", err)
	}
	if int64(len(raw)) > o.MaxBytes {
		return nil, fileErr(ErrTooLarge, "the user list is larger than %s, the limit: split it into several files", size(o.MaxBytes))
	}
	text, err := decodeText(raw)
	if err != nil {
		return nil, err
	}
	first, firstLine := firstDataLine(text)
	if firstLine == 0 {
		return nil, fileErr(ErrEmpty, "the user list is empty (no line but blank lines and # comments)")
	}
	var l *layout
	switch o.Format {
	case "":
		// A header wins; else an imapsync line (even one with a field
		// that looks like a column name, such as the login "user").
		l, err = csvLayout(text, "")
		if (l == nil || err != nil) && imapsyncLine(first) {
			l, err = &layout{format: FormatImapsync}, nil
		}
		if l == nil && err == nil {
			return nil, fileErr(ErrFormat, "line %d is neither a known header nor an imapsync line; %s", firstLine, accepted)
		}
	case FormatTern, FormatExchange:
		if l, err = csvLayout(text, o.Format); l == nil && err == nil {
			err = fileErr(ErrFormat, "line %d is not a header; %s", firstLine, accepted)
		}
	case FormatImapsync:
		l = &layout{format: FormatImapsync}
	default:
		return nil, fmt.Errorf("unknown user-list format %q (tern, exchange or imapsync)", o.Format)
	}
	if err != nil {
		return nil, err
	}
	p := &parser{o: o, l: l, res: &Result{Format: l.format}, sources: map[string]int{}, targets: map[string]int{}, text: text}
	if l.format == FormatImapsync {
		l.names = &imapsyncNames
		l.cols = []column{colSourceHost, colSourceUser, colSourcePassword, colTargetHost, colTargetUser, colTargetPassword}
		l.delim = ';'
		err = p.imapsync()
	} else {
		err = p.csv()
	}
	if err != nil {
		return nil, err
	}
	return p.res, nil
}

func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// firstDataLine returns the first line that is neither blank nor a
// comment, and its number (0 if there is none).
func firstDataLine(text string) (string, int) {
	for i, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return strings.TrimSuffix(line, "\r"), i + 1
		}
	}
	return "", 0
}

// imapsyncLine reports whether line has imapsync's six fields (and
// maybe the empty seventh).
func imapsyncLine(line string) bool {
	f := strings.Split(line, ";")
	return len(f) == 6 || len(f) == 7 && strings.TrimSpace(f[6]) == ""
}

func newCSVReader(text string, delim rune) *csv.Reader {
	cr := csv.NewReader(strings.NewReader(text))
	cr.Comma = delim
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	// A tab delimiter is white space: trimming would merge empty fields.
	cr.TrimLeadingSpace = delim != '\t'
	return cr
}

// sniffHeader reads the first record that is not blank.
func sniffHeader(text string, delim rune) ([]string, int) {
	cr := newCSVReader(text, delim)
	for {
		rec, err := cr.Read()
		if err != nil {
			return nil, 0
		}
		if !blank(rec) {
			line, _ := cr.FieldPos(0)
			return rec, line
		}
	}
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func headerName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// csvLayout finds the header of a Tern or Exchange CSV file: the
// delimiter (comma, semicolon as European Excel writes, or tab as Excel's
// "Unicode Text" does) under which most fields are known column names.
// It returns nil, nil when the first record is no header at all.
func csvLayout(text string, want Format) (*layout, error) {
	var header []string
	var line, best int
	var delim rune
	for _, d := range []rune{',', ';', '\t'} {
		rec, n := sniffHeader(text, d)
		known := 0
		for _, f := range rec {
			h := headerName(f)
			if _, ok := ternColumns[h]; ok || h == "userroot" {
				known++
			}
		}
		if known > best {
			header, line, best, delim = rec, n, known, d
		}
	}
	if best == 0 {
		return nil, nil
	}
	l := &layout{format: want, delim: delim, header: line}
	if l.format == "" {
		l.format = FormatTern
		exchange := true
		names := map[string]bool{}
		for _, f := range header {
			h := headerName(f)
			names[h] = true
			_, ok := exchangeColumns[h]
			exchange = exchange && ok
		}
		if exchange && names["emailaddress"] && names["username"] {
			l.format = FormatExchange
		}
	}
	known, required := ternColumns, []column{colSourceUser}
	l.names = &ternNames
	if l.format == FormatExchange {
		known, required = exchangeColumns, []column{colTargetUser, colSourceUser}
		l.names = &exchangeNames
	}
	seen := map[column]bool{}
	for i, f := range header {
		c, ok := known[headerName(f)]
		if !ok {
			return nil, fileErr(ErrFormat, "line %d: unknown column %s; %s", line, columnName(f, i), accepted)
		}
		if seen[c] {
			return nil, fileErr(ErrFormat, "line %d: column %q given twice", line, l.names[c])
		}
		seen[c] = true
		l.cols = append(l.cols, c)
	}
	for _, c := range required {
		if !seen[c] {
			return nil, fileErr(ErrFormat, "line %d: the header lacks the required column %s (%s file)", line, l.names[c], l.format)
		}
	}
	return l, nil
}

var plainName = regexp.MustCompile(`^[A-Za-z][A-Za-z _.-]{0,39}$`)

// columnName names an unknown header field. A field that does not look
// like a column name (the first line was data, not a header) is named by
// its position only: it might be a password.
func columnName(f string, i int) string {
	if plainName.MatchString(strings.TrimSpace(f)) {
		return fmt.Sprintf("%q", strings.TrimSpace(f))
	}
	return fmt.Sprintf("number %d", i+1)
}

// parser checks records and collects the result.
type parser struct {
	o                Options
	l                *layout
	res              *Result
	sources, targets map[string]int // lower-cased login → line
	// text is the whole file; starts are its lines' offsets, computed
	// when a line that cannot be parsed is first shown.
	text   string
	starts []int
}

func (p *parser) csv() error {
	cr := newCSVReader(p.text, p.l.delim)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if pe.StartLine <= p.l.header {
				continue // before the header: cannot happen, the header was read
			}
			if err := p.count(); err != nil {
				return err
			}
			reason := pe.Err.Error()
			if pe.Line > pe.StartLine {
				reason += fmt.Sprintf(" (the quoted field runs on to line %d)", pe.Line)
			}
			rec := strings.Split(p.physicalLine(pe.StartLine), string(p.l.delim))
			p.res.Errors = append(p.res.Errors, LineError{Line: pe.StartLine, Reason: reason, Text: p.masked(rec, false, false)})
			continue
		}
		if err != nil {
			return err
		}
		line, _ := cr.FieldPos(0)
		if line <= p.l.header {
			if line == p.l.header && p.l.format == FormatExchange {
				// Exchange has no comments, and a Mirapoint UserName
				// (#user@domain#admin#) starts with one.
				cr.Comment = 0
			}
			continue
		}
		if blank(rec) {
			continue
		}
		if err := p.record(line, rec); err != nil {
			return err
		}
	}
}

func (p *parser) imapsync() error {
	for i, line := range strings.Split(p.text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		rec := strings.Split(line, ";")
		if len(rec) == 7 && strings.TrimSpace(rec[6]) == "" {
			rec, p.l.trailer = rec[:6], true
		} else {
			p.l.trailer = false
		}
		if err := p.record(i+1, rec); err != nil {
			return err
		}
	}
	return nil
}

// physicalLine returns line n (1-based) of the text.
func (p *parser) physicalLine(n int) string {
	if p.starts == nil {
		p.starts = []int{0}
		for i := 0; i < len(p.text); i++ {
			if p.text[i] == '\n' {
				p.starts = append(p.starts, i+1)
			}
		}
	}
	if n < 1 || n > len(p.starts) {
		return ""
	}
	line := p.text[p.starts[n-1]:]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	return strings.TrimSuffix(line, "\r")
}

// count counts a data line against the limit.
func (p *parser) count() error {
	p.res.Lines++
	if p.o.MaxEntries > 0 && p.res.Lines > p.o.MaxEntries {
		return fileErr(ErrTooManyEntries, "the user list has more than %d users, the limit: split it into several files", p.o.MaxEntries)
	}
	return nil
}

// fail records a bad line.
func (p *parser) fail(line int, rec []string, mapped bool, reason string) {
	p.res.Errors = append(p.res.Errors, LineError{Line: line, Reason: reason, Text: p.masked(rec, mapped, true)})
}

// masked shows a record with its passwords masked. mapped says the fields
// are known to match the columns; if not, only a first field that is not
// a password is shown. quote re-quotes CSV fields (not for the pieces of
// a line that could not be parsed).
func (p *parser) masked(rec []string, mapped, quote bool) string {
	out := make([]string, len(rec))
	for i, f := range rec {
		show := mapped && !p.l.cols[i].password() || !mapped && i == 0 && len(p.l.cols) > 0 && !p.l.cols[0].password()
		if show || f == "" {
			out[i] = f
		} else {
			out[i] = Mask
		}
	}
	if p.l.format == FormatImapsync || !quote {
		s := strings.Join(out, string(p.l.delim))
		if p.l.trailer {
			s += ";"
		}
		return s
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Comma = p.l.delim
	w.Write(out)
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// record checks one data record and adds it to the entries or errors.
func (p *parser) record(line int, rec []string) error {
	if err := p.count(); err != nil {
		return err
	}
	l := p.l
	if len(rec) != len(l.cols) {
		reason := fmt.Sprintf("%d fields, the header has %d", len(rec), len(l.cols))
		if l.format == FormatImapsync {
			reason = fmt.Sprintf("%d fields, want 6: host1;user1;password1;host2;user2;password2;", len(rec))
		}
		p.fail(line, rec, false, reason)
		return nil
	}
	var v [numColumns]string
	for i, f := range rec {
		c := l.cols[i]
		name := l.names[c]
		switch {
		case len(f) > MaxField:
			p.fail(line, rec, true, fmt.Sprintf("%s is longer than %d bytes", name, MaxField))
			return nil
		case strings.ContainsAny(f, "\r\n"):
			p.fail(line, rec, true, fmt.Sprintf("%s contains a line break", name))
			return nil
		case strings.IndexByte(f, 0) >= 0:
			p.fail(line, rec, true, fmt.Sprintf("%s contains a NUL byte", name))
			return nil
		}
		if !c.password() {
			f = strings.TrimSpace(f)
			if strings.IndexFunc(f, func(r rune) bool { return unicode.IsControl(r) && !unicode.IsSpace(r) }) >= 0 {
				p.fail(line, rec, true, fmt.Sprintf("%s contains a control character", name))
				return nil
			}
		}
		v[c] = f
	}
	e := Entry{Line: line, SourceUser: v[colSourceUser], TargetUser: v[colTargetUser],
		SourcePassword: v[colSourcePassword], TargetPassword: v[colTargetPassword],
		UserRoot: v[colUserRoot], SourceHost: v[colSourceHost], TargetHost: v[colTargetHost],
		Text: p.masked(rec, true, true)}
	if reason := p.check(&e); reason != "" {
		p.res.Errors = append(p.res.Errors, LineError{Line: line, Reason: reason, Text: e.Text})
		return nil
	}
	p.sources[sourceKey(e)] = line
	p.targets[strings.ToLower(e.TargetUser)] = line
	p.res.Entries = append(p.res.Entries, e)
	return nil
}

// check validates an entry (filling in a missing target) and returns why
// it is bad, or "".
func (p *parser) check(e *Entry) string {
	n := p.l.names
	if e.SourceUser == "" {
		return n[colSourceUser] + " is empty"
	}
	if e.TargetUser == "" {
		switch {
		case p.l.format == FormatExchange:
			return n[colTargetUser] + " is empty"
		case p.o.DefaultTargetDomain != "" && !strings.Contains(e.SourceUser, "@"):
			e.TargetUser = e.SourceUser + "@" + p.o.DefaultTargetDomain
		default:
			e.TargetUser = e.SourceUser
		}
	}
	if strings.IndexFunc(e.SourceUser+e.TargetUser, unicode.IsSpace) >= 0 {
		return "a user name contains white space"
	}
	if strings.IndexFunc(e.SourceHost+e.TargetHost, unicode.IsSpace) >= 0 {
		return "a host name contains white space"
	}
	if (p.l.format == FormatExchange || strings.Contains(e.TargetUser, "@")) && !ValidAddress(e.TargetUser) {
		return fmt.Sprintf("%s %q is not a valid address", n[colTargetUser], e.TargetUser)
	}
	if first, dup := p.sources[sourceKey(*e)]; dup {
		return fmt.Sprintf("duplicate: source login %q is already on line %d", e.SourceUser, first)
	}
	if first, dup := p.targets[strings.ToLower(e.TargetUser)]; dup {
		return fmt.Sprintf("duplicate: target %q is already on line %d", e.TargetUser, first)
	}
	return ""
}

// sourceKey identifies a source mailbox: its login, any case, and the
// Exchange UserRoot (Exchange's administrator logins repeat one UserName
// with a UserRoot per user).
func sourceKey(e Entry) string {
	return strings.ToLower(e.SourceUser) + "\x00" + strings.ToLower(e.UserRoot)
}

// ValidAddress reports whether s is a bare e-mail address (no display
// name, no angle brackets, nothing around it).
func ValidAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}
