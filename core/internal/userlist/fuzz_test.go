package userlist

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics on any input, and that a
// password placed in a password column never shows in an error, a line's
// text, fmt output or JSON, whatever lines follow it.
func FuzzParse(f *testing.F) {
	for _, s := range []struct {
		data string
		pw   string
		kind uint8
	}{
		{"alice,alice@new.example,pw\n", "S3cret!pw", 0},
		{"bob,,\"p,w\"\n\"unterminated,x\n", "a\"quote", 0},
		{"carol;carol@new.example;x\n", "semi;colon", 1},
		{"dave\n", "line\nbreak", 2},
		{"h1;erin;p1;h2;erin;p2;\r\nh1;erin;p1;h2\n", "imap-pw!", 3},
		{"\xff\xfe\x00", "tail-pw", 0},
		{"#comment\n\n  ,  \n", "   spaced   ", 2},
		{"x,\"multi\nline\",y\n", "nul\x00pw", 0},
		{"\xef\xbb\xbf" + strings.Repeat("a,", 200) + "\n", strings.Repeat("p", 400), 1},
	} {
		f.Add([]byte(s.data), s.pw, s.kind)
	}
	f.Fuzz(func(t *testing.T, data []byte, pw string, kind uint8) {
		// Any bytes at all: no panic, sane line numbers.
		if res, err := Parse(bytes.NewReader(data), Options{MaxEntries: 1000}); err == nil {
			for _, e := range res.Entries {
				if e.Line < 1 || e.SourceUser == "" {
					t.Fatalf("entry %v", e)
				}
			}
			for _, e := range res.Errors {
				if e.Line < 1 {
					t.Fatalf("error line %d", e.Line)
				}
			}
		}

		// A password in a password column, then the fuzzed lines. The
		// password is wrapped in § so that it cannot turn up by chance in
		// the messages' own words.
		pw = "\u00a7" + pw + "\u00a7"
		if bytes.Contains(data, []byte(pw)) {
			return
		}
		var file string
		switch kind % 4 {
		case 0, 1, 2:
			var b bytes.Buffer
			w := csv.NewWriter(&b)
			w.Comma = []rune{',', ';', ','}[kind%4]
			if kind%4 == 2 {
				w.Write([]string{"EmailAddress", "UserName", "Password", "UserRoot"})
				w.Write([]string{"u1@new.example", "u1", pw, "/users/u1"})
			} else {
				w.Write([]string{"source_user", "target_user", "source_password"})
				w.Write([]string{"u1", "u1@new.example", pw})
			}
			w.Flush()
			file = b.String()
		case 3:
			if strings.ContainsAny(pw, ";\r\n") {
				return
			}
			file = "h1;u1;" + pw + ";h2;u1@new.example;" + pw + ";\n"
		}
		res, err := Parse(strings.NewReader(file+string(data)), Options{MaxEntries: 1000})
		if err != nil {
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("whole-file error shows the password: %v", err)
			}
			return
		}
		if len(res.Entries)+len(res.Errors) == 0 {
			t.Fatal("the password's line is neither an entry nor an error")
		}
		var shown []string
		for _, e := range res.Errors {
			shown = append(shown, e.Error(), e.Text)
		}
		for _, e := range res.Entries {
			js, _ := json.Marshal(e)
			shown = append(shown, fmt.Sprintf("%v", e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e), e.Text, string(js))
		}
		for _, s := range shown {
			if strings.Contains(s, pw) {
				t.Fatalf("a password shows: %q", s)
			}
		}
	})
}
