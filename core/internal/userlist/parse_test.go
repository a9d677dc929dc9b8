package userlist

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
)

// lines joins lines with LF and ends the file with one.
func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// short is an entry without Text, for comparisons.
type short struct {
	Line                               int
	Source, Target, SourcePw, TargetPw string
	UserRoot, SourceHost, TargetHost   string
}

func shorts(es []Entry) []short {
	out := []short{}
	for _, e := range es {
		out = append(out, short{e.Line, e.SourceUser, e.TargetUser, e.SourcePassword, e.TargetPassword, e.UserRoot, e.SourceHost, e.TargetHost})
	}
	return out
}

// errs renders line errors as "line: reason".
func errs(le []LineError) []string {
	out := []string{}
	for _, e := range le {
		out = append(out, fmt.Sprintf("%d: %s", e.Line, e.Reason))
	}
	return out
}

func utf16With(s string, order binary.AppendByteOrder, bom []byte) []byte {
	b := append([]byte(nil), bom...)
	for _, u := range utf16.Encode([]rune(s)) {
		b = order.AppendUint16(b, u)
	}
	return b
}

func TestParseFormats(t *testing.T) {
	for _, c := range []struct {
		name   string
		in     string
		opts   Options
		format Format
		want   []short
		errs   []string
		texts  []string // Text of each entry, if given
	}{{
		name: "tern with comments, BOM, quoting and aliases",
		in: "\xef\xbb\xbf# exported 2026-01-05\n" + lines(
			"Source_User, target_user ,source_password,target_password",
			"alice,alice@new.example,pw-a,",
			"# a comment",
			"",
			`bob,,"p,w",tpw`,
			"  ,  ,  ,  ",
			`"carol","carol@new.example","",""`,
		),
		format: FormatTern,
		want: []short{
			{Line: 3, Source: "alice", Target: "alice@new.example", SourcePw: "pw-a"},
			{Line: 6, Source: "bob", Target: "bob", SourcePw: "p,w", TargetPw: "tpw"},
			{Line: 8, Source: "carol", Target: "carol@new.example"},
		},
		texts: []string{"alice,alice@new.example,***,", `bob,,***,***`, "carol,carol@new.example,,"},
	}, {
		name:   "tern aliases, one column",
		in:     lines("user", "alice", "bob@old.example"),
		format: FormatTern,
		want:   []short{{Line: 2, Source: "alice", Target: "alice"}, {Line: 3, Source: "bob@old.example", Target: "bob@old.example"}},
	}, {
		name:   "tern, CRLF line endings",
		in:     "source_user,target_user,password\r\nalice,alice@new.example,secret\r\n\r\nbob,bob@new.example,\r\n",
		format: FormatTern,
		want: []short{
			{Line: 2, Source: "alice", Target: "alice@new.example", SourcePw: "secret"},
			{Line: 4, Source: "bob", Target: "bob@new.example"},
		},
	}, {
		name:   "tern, semicolons (European Excel)",
		in:     lines("source_user;target_user;source_password", "alice;alice@new.example;pw,with,commas", `bob;bob@new.example;"pw;semi"`),
		format: FormatTern,
		want: []short{
			{Line: 2, Source: "alice", Target: "alice@new.example", SourcePw: "pw,with,commas"},
			{Line: 3, Source: "bob", Target: "bob@new.example", SourcePw: "pw;semi"},
		},
		texts: []string{"alice;alice@new.example;***", "bob;bob@new.example;***"},
	}, {
		name:   "tern, default target domain",
		in:     lines("source_user,target_user", "alice,", "bob@old.example,", "carol,c@new.example"),
		opts:   Options{DefaultTargetDomain: "@new.example"},
		format: FormatTern,
		want: []short{
			{Line: 2, Source: "alice", Target: "alice@new.example"},
			{Line: 3, Source: "bob@old.example", Target: "bob@old.example"},
			{Line: 4, Source: "carol", Target: "c@new.example"},
		},
	}, {
		name:   "tern, quoted fields with commas and line breaks keep line numbers",
		in:     lines("source_user,target_user,source_password", `alice,alice@new.example,"multi`, `line, password"`, "bob,bob@new.example,x", `"car`, `ol",carol@new.example,y`, "dave,dave@new.example,z"),
		format: FormatTern,
		want: []short{
			{Line: 4, Source: "bob", Target: "bob@new.example", SourcePw: "x"},
			{Line: 7, Source: "dave", Target: "dave@new.example", SourcePw: "z"},
		},
		errs: []string{"2: source_password contains a line break", "5: source_user contains a line break"},
	}, {
		name: "exchange sample",
		in: lines(
			"EmailAddress,UserName,Password,UserRoot",
			`terry.adams@new.example,OLD\terry.adams,Pa55-terry,`,
			"ann.beebe@new.example,ann.beebe*mailadmin,Adm1n-pw,",
			"#no-comments-in-Exchange,x,y,",
			"paul.west@new.example,#paul.west@old.example#mailadmin#,Adm1n-pw,",
			"zoe.ray@new.example,mailadmin,Adm1n-pw,/users/zoe.ray",
			"max.ray@new.example,mailadmin,Adm1n-pw,/users/max.ray",
			"bad,mailadmin,Adm1n-pw,",
			"zoe.ray2@new.example,MailAdmin,Adm1n-pw,/Users/Zoe.Ray",
		),
		format: FormatExchange,
		want: []short{
			{Line: 2, Source: `OLD\terry.adams`, Target: "terry.adams@new.example", SourcePw: "Pa55-terry"},
			{Line: 3, Source: "ann.beebe*mailadmin", Target: "ann.beebe@new.example", SourcePw: "Adm1n-pw"},
			{Line: 5, Source: "#paul.west@old.example#mailadmin#", Target: "paul.west@new.example", SourcePw: "Adm1n-pw"},
			{Line: 6, Source: "mailadmin", Target: "zoe.ray@new.example", SourcePw: "Adm1n-pw", UserRoot: "/users/zoe.ray"},
			{Line: 7, Source: "mailadmin", Target: "max.ray@new.example", SourcePw: "Adm1n-pw", UserRoot: "/users/max.ray"},
		},
		errs: []string{
			`4: EmailAddress "#no-comments-in-Exchange" is not a valid address`,
			`8: EmailAddress "bad" is not a valid address`,
			`9: duplicate: source login "MailAdmin" is already on line 6`,
		},
	}, {
		name:   "exchange, any case and order, no UserRoot, semicolons",
		in:     lines("USERNAME;emailaddress;PassWord", "alice;alice@new.example;pw"),
		format: FormatExchange,
		want:   []short{{Line: 2, Source: "alice", Target: "alice@new.example", SourcePw: "pw"}},
		texts:  []string{"alice;alice@new.example;***"},
	}, {
		name: "exchange UserRoot kept",
		in:   lines("EmailAddress,UserName,Password,UserRoot", "zoe@new.example,mailadmin,pw,/users/zoe"),
		want: []short{{Line: 2, Source: "mailadmin", Target: "zoe@new.example", SourcePw: "pw", UserRoot: "/users/zoe"}},
	}, {
		name: "imapsync sample",
		in: lines(
			"# host1;user1;password1;host2;user2;password2;",
			"# the last semicolon keeps a CR out of password2",
			"",
			"imap.old.example;alice;secret1;imap.new.example;alice@new.example;secret2;",
			"imap.old.example;bob;s e c r e t;imap.new.example;bob;;",
			"imap.old.example;carol;;imap.new.example;carol@new.example;pw2",
			"imap.old.example;dave;pw;imap.new.example;dave@new.example",
			"imap.old.example;erin;pw;imap.new.example;erin@new.example;pw2;extra",
		),
		format: FormatImapsync,
		want: []short{
			{Line: 4, Source: "alice", Target: "alice@new.example", SourcePw: "secret1", TargetPw: "secret2", SourceHost: "imap.old.example", TargetHost: "imap.new.example"},
			{Line: 5, Source: "bob", Target: "bob", SourcePw: "s e c r e t", SourceHost: "imap.old.example", TargetHost: "imap.new.example"},
			{Line: 6, Source: "carol", Target: "carol@new.example", TargetPw: "pw2", SourceHost: "imap.old.example", TargetHost: "imap.new.example"},
		},
		errs: []string{
			"7: 5 fields, want 6: host1;user1;password1;host2;user2;password2;",
			"8: 7 fields, want 6: host1;user1;password1;host2;user2;password2;",
		},
		texts: []string{
			"imap.old.example;alice;***;imap.new.example;alice@new.example;***;",
			"imap.old.example;bob;***;imap.new.example;bob;;",
			"imap.old.example;carol;;imap.new.example;carol@new.example;***",
		},
	}, {
		name:   "imapsync, CRLF",
		in:     "h1;alice;pw1;h2;alice;pw2;\r\nh1;bob;pw1;h2;bob;pw2\r\n",
		format: FormatImapsync,
		want: []short{
			{Line: 1, Source: "alice", Target: "alice", SourcePw: "pw1", TargetPw: "pw2", SourceHost: "h1", TargetHost: "h2"},
			{Line: 2, Source: "bob", Target: "bob", SourcePw: "pw1", TargetPw: "pw2", SourceHost: "h1", TargetHost: "h2"},
		},
	}, {
		name:   "imapsync whose first login looks like a column name",
		in:     lines("h1;user;password;h2;user@new.example;password;"),
		format: FormatImapsync,
		want:   []short{{Line: 1, Source: "user", Target: "user@new.example", SourcePw: "password", TargetPw: "password", SourceHost: "h1", TargetHost: "h2"}},
	}, {
		name:   "forced tern reads an Exchange header through the aliases",
		in:     lines("EmailAddress,UserName,Password", "alice@new.example,alice,pw"),
		opts:   Options{Format: FormatTern},
		format: FormatTern,
		want:   []short{{Line: 2, Source: "alice", Target: "alice@new.example", SourcePw: "pw"}},
	}} {
		t.Run(c.name, func(t *testing.T) {
			res, err := Parse(strings.NewReader(c.in), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.format != "" && res.Format != c.format {
				t.Errorf("format %q, want %q", res.Format, c.format)
			}
			if got := shorts(res.Entries); !reflect.DeepEqual(got, c.want) {
				t.Errorf("entries\n got %+v\nwant %+v", got, c.want)
			}
			if c.errs == nil {
				c.errs = []string{}
			}
			if got := errs(res.Errors); !reflect.DeepEqual(got, c.errs) {
				t.Errorf("errors\n got %q\nwant %q", got, c.errs)
			}
			if res.Lines != len(res.Entries)+len(res.Errors) {
				t.Errorf("Lines %d, want %d", res.Lines, len(res.Entries)+len(res.Errors))
			}
			for i, want := range c.texts {
				if got := res.Entries[i].Text; got != want {
					t.Errorf("entry %d text %q, want %q", i, got, want)
				}
			}
		})
	}
}

func TestParseEncodings(t *testing.T) {
	const tsv = "source_user\ttarget_user\tsource_password\r\njürgen\tjürgen@new.example\tpässwort\r\nbob\t\tpw\r\n"
	want := []short{
		{Line: 2, Source: "jürgen", Target: "jürgen@new.example", SourcePw: "pässwort"},
		{Line: 3, Source: "bob", Target: "bob", SourcePw: "pw"},
	}
	for name, in := range map[string][]byte{
		"UTF-8 with BOM":                    append([]byte("\xef\xbb\xbf"), tsv...),
		"UTF-16 LE with BOM (Unicode Text)": utf16With(tsv, binary.LittleEndian, []byte{0xFF, 0xFE}),
		"UTF-16 BE with BOM":                utf16With(tsv, binary.BigEndian, []byte{0xFE, 0xFF}),
	} {
		res, err := Parse(bytes.NewReader(in), Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := shorts(res.Entries); !reflect.DeepEqual(got, want) || len(res.Errors) != 0 {
			t.Errorf("%s: %+v %v", name, got, res.Errors)
		}
	}
}

func TestParseLineErrors(t *testing.T) {
	long := strings.Repeat("x", MaxField+1)
	in := lines(
		"source_user,target_user,source_password", // 1
		"alice,alice@new.example,pw",              // 2 ok
		",nobody@new.example,pw",                  // 3 empty source
		"carol,carol@@new.example,pw",             // 4 bad address
		"dave,<dave@new.example>,pw",              // 5 not the whole field
		"erin",                                    // 6 too few fields
		"frank,frank@new.example,pw,extra",        // 7 too many fields
		"ALICE,alice2@new.example,pw",             // 8 duplicate source, any case
		"gina,Alice@New.Example,pw",               // 9 duplicate target, any case
		"h ans,hans@new.example,pw",               // 10 white space
		"ivan,ivan@new.example,\"a\x00b\"",        // 11 NUL
		"jo\x01e,joe@new.example,pw",              // 12 control character
		long+",long@new.example,pw",               // 13 too long
		"kim,kim@new.example,"+long,               // 14 password too long
		`"lea,lea@new.example,pw`,                 // 15 unterminated quote: eats the rest
		"mia,mia@new.example,pw",                  // 16 (inside the quote)
	)
	res, err := Parse(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"3: source_user is empty",
		`4: target_user "carol@@new.example" is not a valid address`,
		`5: target_user "<dave@new.example>" is not a valid address`,
		"6: 1 fields, the header has 3",
		"7: 4 fields, the header has 3",
		`8: duplicate: source login "ALICE" is already on line 2`,
		`9: duplicate: target "Alice@New.Example" is already on line 2`,
		"10: a user name contains white space",
		"11: source_password contains a NUL byte",
		"12: source_user contains a control character",
		"13: source_user is longer than 320 bytes",
		"14: source_password is longer than 320 bytes",
		"15: extraneous or missing \" in quoted-field (the quoted field runs on to line 16)",
	}
	if got := errs(res.Errors); !reflect.DeepEqual(got, want) {
		t.Errorf("errors\n got %q\nwant %q", got, want)
	}
	if len(res.Entries) != 1 || res.Entries[0].Line != 2 || res.Lines != 14 {
		t.Errorf("entries %v, lines %d", res.Entries, res.Lines)
	}
	texts := map[int]string{
		6:  "erin",
		7:  "frank,***,***,***",
		8:  "ALICE,alice2@new.example,***",
		14: "kim,kim@new.example,***",
		15: `"lea,***,***`,
	}
	for _, e := range res.Errors {
		if w, ok := texts[e.Line]; ok && e.Text != w {
			t.Errorf("line %d text %q, want %q", e.Line, e.Text, w)
		}
		if strings.Contains(e.Text, "pw") || strings.Contains(e.Reason, "pw") {
			t.Errorf("line %d shows a password: %+v", e.Line, e)
		}
	}
}

func TestParseBareQuote(t *testing.T) {
	// A bare quote in a password: the line cannot be split, so only its
	// first field is shown.
	res, err := Parse(strings.NewReader(lines("source_user,source_password", `alice,se"cret`, "bob,pw")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := errs(res.Errors); len(got) != 1 || !strings.HasPrefix(got[0], `2: bare " in non-quoted-field`) || res.Errors[0].Text != "alice,***" {
		t.Fatalf("errors %q %+v", got, res.Errors)
	}
	if len(res.Entries) != 1 || res.Entries[0].Line != 3 {
		t.Fatalf("entries %v", res.Entries)
	}
	// Password first: nothing of an unsplittable line is shown.
	res, err = Parse(strings.NewReader(lines("source_password,source_user", `se"cret,alice`)), Options{})
	if err != nil || len(res.Errors) != 1 || res.Errors[0].Text != "***,***" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestParseFileErrors(t *testing.T) {
	big := "source_user\n" + strings.Repeat("someone\n", 200)
	for _, c := range []struct {
		name string
		in   string
		opts Options
		kind error
		msg  string
	}{
		{"empty", "", Options{}, ErrEmpty, "empty"},
		{"only comments and blanks", "# nothing\n\n   \n", Options{}, ErrEmpty, "empty"},
		{"BOM only", "\xef\xbb\xbf", Options{}, ErrEmpty, "empty"},
		{"too large", big, Options{MaxBytes: 1000}, ErrTooLarge, "larger than 1000 bytes, the limit"},
		{"too many", big, Options{MaxEntries: 100}, ErrTooManyEntries, "more than 100 users"},
		{"unknown format", lines("alice,alice@new.example,secret"), Options{}, ErrFormat, "line 1 is neither a known header nor an imapsync line; accepted: a Tern header"},
		{"unknown column", lines("# list", "login,password", "x,y"), Options{}, ErrFormat, `line 2: unknown column "login"`},
		{"data-like unknown column is not echoed", lines("user,S3cret!"), Options{}, ErrFormat, "unknown column number 2"},
		{"missing source", lines("target_user", "x"), Options{}, ErrFormat, "lacks the required column source_user"},
		{"exchange missing UserName", lines("EmailAddress,Password", "a@b.example,x"), Options{Format: FormatExchange}, ErrFormat, "lacks the required column UserName"},
		{"exchange header for tern", lines("EmailAddress,UserName,Password,UserRoot"), Options{Format: FormatTern}, ErrFormat, `unknown column "UserRoot"`},
		{"tern header for exchange", lines("source_user,target_user"), Options{Format: FormatExchange}, ErrFormat, `unknown column "source_user"`},
		{"no header when forced", lines("h1;u1;p1;h2;u2;p2;"), Options{Format: FormatTern}, ErrFormat, "line 1 is not a header"},
		{"column twice", lines("source_user,user"), Options{}, ErrFormat, `column "source_user" given twice`},
		{"latin-1", "source_user,target_user\nalice,alice@new.example\nj\xfcrgen,j\xfcrgen@new.example\n", Options{}, ErrEncoding, "line 3 is not UTF-8 text"},
		{"latin-1 says what to do", "source_user\n\xe9\n", Options{}, ErrEncoding, "save the file as UTF-8"},
		{"xlsx", "PK\x03\x04\x14\x00\x06\x00", Options{}, ErrNotText, "Excel workbook (.xlsx)"},
		{"binary", string([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0x3e, 0}), Options{}, ErrNotText, "binary"},
		{"UTF-16 without BOM", string(utf16With("source_user\nalice\n", binary.LittleEndian, nil)), Options{}, ErrNotText, "UTF-16"},
		{"UTF-16 odd length", string(append(utf16With("source_user\n", binary.LittleEndian, []byte{0xFF, 0xFE}), 'x')), Options{}, ErrEncoding, "odd number of bytes"},
		{"UTF-16 lone surrogate", string(utf16With("source_user\n", binary.LittleEndian, []byte{0xFF, 0xFE})) + "\x00\xd8a\x00", Options{}, ErrEncoding, "line 2 is not valid UTF-16"},
	} {
		_, err := Parse(strings.NewReader(c.in), c.opts)
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want %v saying %q", c.name, err, c.kind, c.msg)
		}
	}
	if _, err := Parse(strings.NewReader("x"), Options{Format: "xlsx"}); err == nil {
		t.Error("an unknown forced format was accepted")
	}
}

func TestParseDefaultLimit(t *testing.T) {
	// Just over 10 MiB, generated: the default limit.
	var b strings.Builder
	b.WriteString("source_user,target_user\n")
	for i := 0; b.Len() <= DefaultMaxBytes; i++ {
		fmt.Fprintf(&b, "user%07d,user%07d@new.example\n", i, i)
	}
	_, err := Parse(strings.NewReader(b.String()), Options{})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "10 MiB") {
		t.Fatalf("error %v", err)
	}
}

func TestRedaction(t *testing.T) {
	const secret, secret2 = "Sup3r-Secret!", "Other-S3cret?"
	in := lines(
		"source_user,target_user,source_password,target_password",
		"alice,alice@new.example,"+secret+","+secret2,
		"bob,bob@@new.example,"+secret+","+secret2,        // bad address
		"carol,"+secret+","+secret2,                       // too few fields
		"dave,dave@new.example,"+secret+","+secret2+",x",  // too many
		"erin,erin@new.example,\""+secret+"\n\","+secret2, // line break in a password
		"alice,alice@new.example,"+secret+","+secret2,     // duplicate
	)
	res, err := Parse(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || len(res.Errors) != 5 {
		t.Fatalf("%d entries, %d errors", len(res.Entries), len(res.Errors))
	}
	e := res.Entries[0]
	if e.SourcePassword != secret || e.TargetPassword != secret2 {
		t.Fatalf("passwords not read: %q %q", e.SourcePassword, e.TargetPassword)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("entry", "entry", e, "result", res)
	js, _ := json.Marshal(res)
	out := fmt.Sprintf("%v %+v %#v %s %q %v %+v %#v", e, e, e, e, e, res, res, res.Entries) +
		fmt.Sprint(res.Errors, e.String()) + logs.String() + string(js)
	for _, le := range res.Errors {
		out += le.Error() + le.Text
	}
	for _, s := range []string{secret, secret2} {
		if strings.Contains(out, s) {
			t.Errorf("a password shows:\n%s", out)
		}
	}
	if !strings.Contains(out, "alice@new.example") || !strings.Contains(out, `"has_source_password":true`) {
		t.Errorf("the output lost the entry:\n%s", out)
	}
}
