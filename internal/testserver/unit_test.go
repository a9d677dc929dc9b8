package testserver

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestStripHeaderFields(t *testing.T) {
	in := "Received: x\r\nX-TUID: abc\r\n  continued\r\nSubject: s\r\nx-tuid: second\r\n\r\nX-TUID: in body stays\r\n"
	hs := stripHeaderFields(strings.NewReader(in), []string{"X-TUID"})
	out, err := io.ReadAll(hs)
	if err != nil {
		t.Fatal(err)
	}
	if hs.removed != 2 {
		t.Errorf("removed %d fields, want 2", hs.removed)
	}
	want := "Received: x\r\nSubject: s\r\n\r\nX-TUID: in body stays\r\n"
	if string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	// Header only, no final line end.
	out, _ = io.ReadAll(stripHeaderFields(strings.NewReader("A: 1\r\nX-TUID: 2\r\nB: 3"), []string{"x-tuid"}))
	if string(out) != "A: 1\r\nB: 3" {
		t.Errorf("got %q", out)
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ logical, src, dst string }{
		{"INBOX", "INBOX", "INBOX"},
		{"inbox", "INBOX", "INBOX"},
		{"Projects & Plans/Q1 2024", "Projects & Plans.Q1 2024", "Projects & Plans/Q1 2024"},
		{"Входящие/Отчёты", "Входящие.Отчёты", "Входящие/Отчёты"},
	} {
		s, err := DovecotSrc.ServerName(tt.logical)
		d, err2 := DovecotDst.ServerName(tt.logical)
		if err != nil || err2 != nil || s != tt.src || d != tt.dst {
			t.Errorf("%q: %q %q (%v %v)", tt.logical, s, d, err, err2)
		}
		if back := LogicalName(s, '.'); back != strings.Replace(tt.logical, "inbox", "INBOX", 1) {
			t.Errorf("LogicalName(%q) = %q", s, back)
		}
	}
	if _, err := DovecotSrc.ServerName("v1.2"); err == nil {
		t.Error(`"v1.2" accepted on an instance with separator "."`)
	}
	if got := LogicalName("inbox.Sub", '.'); got != "INBOX/Sub" {
		t.Errorf("got %q", got)
	}
	// Under a prefix: every folder is under "INBOX.", INBOX has no children.
	for logical, wire := range map[string]string{"INBOX": "INBOX", "Sent": "INBOX.Sent", "Projects & Plans/Q1 2024": "INBOX.Projects & Plans.Q1 2024"} {
		got, err := DovecotMaster.ServerName(logical)
		if err != nil || got != wire {
			t.Errorf("master %q: %q, %v", logical, got, err)
		}
		if back := DovecotMaster.LogicalName(wire, '.'); back != logical {
			t.Errorf("master LogicalName(%q) = %q", wire, back)
		}
	}
	if _, err := DovecotMaster.ServerName("INBOX/Sub"); err == nil {
		t.Error("a child of INBOX accepted under the INBOX. prefix")
	}
}

func rec(sum string, flags ...string) Record {
	return Record{SHA256: sum + strings.Repeat("0", 64-len(sum)), Size: 10, InternalDate: time.Unix(1e9, 0).UTC(), Flags: flags}
}

func TestDiffPairsCopies(t *testing.T) {
	src := Mailbox{{Name: "A", Messages: []Record{rec("1", `\Seen`), rec("1"), rec("2")}}, {Name: "B", Messages: []Record{rec("3")}}}
	// Same multiset in another order; B merged into A by the folder map.
	dst := Mailbox{{Name: "A", Messages: []Record{rec("3"), rec("2"), rec("1"), rec("1", `\Seen`)}}}
	merge := func(s string) string { return "A" }
	if d := Diff(src, dst, merge); !d.Equal() {
		t.Errorf("equal mailboxes differ: %v", d.Lines)
	}
	// Both copies of "1" now lack \Seen: one flag mismatch, nothing missing.
	dst[0].Messages[3].Flags = nil
	d := Diff(src, dst, merge)
	if d.FlagMismatch != 1 || d.Missing != 0 || d.Duplicates != 0 || len(d.Lines) != 1 {
		t.Errorf("got %+v", *d)
	}
	if !strings.Contains(d.Lines[0], `folder "A" (from "A", "B")`) {
		t.Errorf("label: %s", d.Lines[0])
	}
	// An empty INBOX on the target is not an extra folder.
	if d := Diff(nil, Mailbox{{Name: "INBOX"}}, nil); !d.Equal() {
		t.Errorf("empty INBOX reported: %v", d.Lines)
	}
}
