package cli

import (
	"errors"
	"strings"
	"testing"
)

func TestParseUsers(t *testing.T) {
	in := "\xef\xbb\xbfsource_user,target_user,source_password\n# a comment\nalice,alice@example.com,pw1\nbob,,\"p,w\"\n\n"
	got, err := ParseUsers(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].TargetUser != "alice@example.com" || got[1].TargetUser != "bob" || got[1].SourcePassword != "p,w" || got[0].Line != 3 {
		t.Fatalf("got %+v", got)
	}
}

func TestParseUsersBadLines(t *testing.T) {
	in := strings.Join([]string{
		"source_user,target_user",
		"alice,alice@example.com", // 2 ok
		",bob@example.com",        // 3 empty source
		"carol,carol@@example",    // 4 bad address
		"dave",                    // 5 wrong field count
		"alice,alice@example.com", // 6 duplicate
		"e ve,eve@example.com",    // 7 white space
		`"unterminated,x`,         // 8 CSV syntax
	}, "\n") + "\n"
	_, err := ParseUsers(strings.NewReader(in))
	var ce *CSVError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a CSVError", err)
	}
	want := map[int]string{3: "source_user is empty", 4: "not a valid address", 5: "1 fields", 6: "already on line 2", 7: "white space", 8: "quote"}
	if len(ce.Lines) != len(want) {
		t.Fatalf("bad lines %+v, want %d", ce.Lines, len(want))
	}
	for _, l := range ce.Lines {
		if w, ok := want[l.Line]; !ok || !strings.Contains(l.Reason, w) {
			t.Errorf("line %d: %q, want it to say %q", l.Line, l.Reason, w)
		}
	}
	if !strings.Contains(err.Error(), "line 4:") {
		t.Errorf("message lacks line numbers: %v", err)
	}
}

func TestParseUsersBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          "",
		"unknown column": "login,password\nx,y\n",
		"no source":      "target_user\nx\n",
		"latin-1":        "source_user\nj\xfcrgen\n",
		"header only":    "source_user\n",
	} {
		if _, err := ParseUsers(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestIsDiscover(t *testing.T) {
	for args, want := range map[string]bool{
		"":                                  true,
		"discover cy":                       true,
		"--state /s discover cy --json":     true,
		"--state=/s discover cy":            true,
		"add mig discover":                  false, // a user called "discover"
		"--server http://x list mig":        false,
		"--config discover list mig":        false, // a config file called "discover"
		"import mig users.csv --dry-run":    false,
		"--status discover list mig --json": false,
	} {
		if got := isDiscover(strings.Fields(args)); got != want {
			t.Errorf("isDiscover(%q) = %v, want %v", args, got, want)
		}
	}
}
