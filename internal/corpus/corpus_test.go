package corpus_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/corpus"
)

func digest(t *testing.T, m corpus.Message) ([32]byte, int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, m.Open())
	if err != nil {
		t.Fatal(err)
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, n
}

func TestHardSizesAndDeterminism(t *testing.T) {
	a, b := corpus.Hard(), corpus.Hard()
	if len(a) != len(b) {
		t.Fatal("folder count differs between calls")
	}
	for i, f := range a {
		for j, m := range f.Messages {
			da, n := digest(t, m)
			if n != m.Size {
				t.Errorf("%s/%s: Open yields %d bytes, Size says %d", f.Name, m.Case, n, m.Size)
			}
			db, _ := digest(t, b[i].Messages[j])
			if da != db {
				t.Errorf("%s/%s: content differs between calls", f.Name, m.Case)
			}
			if m.Date.Nanosecond() != 0 {
				t.Errorf("%s/%s: date has sub-second part", f.Name, m.Case)
			}
			for _, fl := range m.Flags {
				if strings.EqualFold(fl, `\Recent`) {
					t.Errorf("%s/%s: \\Recent flag", f.Name, m.Case)
				}
			}
		}
	}
}

func TestHardCoversCases(t *testing.T) {
	mb := corpus.Hard()
	cases := map[string]int{}
	var minDate, maxDate time.Time
	zones := map[int]bool{}
	var large int64
	for _, f := range mb {
		for _, m := range f.Messages {
			cases[m.Case]++
			if minDate.IsZero() || m.Date.Before(minDate) {
				minDate = m.Date
			}
			if m.Date.After(maxDate) {
				maxDate = m.Date
			}
			_, off := m.Date.Zone()
			zones[off] = true
			if m.Size > 1<<20 {
				large += m.Size
			}
		}
	}
	for _, c := range []string{"plain", "no-message-id", "dup-message-id-a", "dup-message-id-b", "dup-message-id-c",
		"8bit-header-utf8", "8bit-header-latin1", "mime-bad-boundary", "mime-truncated-multipart", "mime-bad-base64",
		"headers-only", "headers-only-no-eol", "bare-lf", "mixed-line-ends", "large-25mib", "flags-all",
		"flag-deleted", "keyword-forwarded", "keyword-junk", "keywords-custom", "folder-name-cjk"} {
		if cases[c] == 0 {
			t.Errorf("case %q missing", c)
		}
	}
	if cases["identical-copy"] != 2 {
		t.Errorf("identical-copy: %d messages, want 2", cases["identical-copy"])
	}
	if y := maxDate.Sub(minDate).Hours() / 24 / 365; y < 9.5 || maxDate.Year() > 2025 {
		t.Errorf("dates span %.1f years (%v – %v), want about ten, up to 2025", y, minDate, maxDate)
	}
	if len(zones) < 6 {
		t.Errorf("only %d zones", len(zones))
	}
	if large != corpus.LargeSize {
		t.Errorf("large messages total %d bytes, want exactly one of %d", large, corpus.LargeSize)
	}
	if total := mb.Bytes() - large; total > 200<<10 {
		t.Errorf("small messages total %d bytes; keep the hard corpus modest", total)
	}
	for _, name := range []string{"INBOX", "Sent", "Drafts", "Trash", "Archive", "Entwürfe", "Входящие/Отчёты", "日本語", "Projects & Plans/Q1 2024"} {
		if mb.Folder(name) == nil {
			t.Errorf("folder %q missing", name)
		}
	}
	twins := mb.Folder("INBOX").Messages
	var raw [][]byte
	for _, m := range twins {
		if m.Case == "identical-copy" {
			raw = append(raw, m.Bytes())
		}
	}
	if !bytes.Equal(raw[0], raw[1]) {
		t.Error("identical copies differ")
	}
	if bytes.Contains(mb.Folder("INBOX").Messages[0].Bytes(), []byte("\r\n")) == false {
		t.Error("plain message lacks CRLF")
	}
}

func TestBenchSizes(t *testing.T) {
	mbs := corpus.Bench(4, 2000, 1)
	var total int64
	var count, huge, att int
	for _, mb := range mbs {
		total += mb.Bytes()
		count += mb.Count()
		for _, f := range mb {
			for _, m := range f.Messages {
				switch m.Case {
				case "bench-huge":
					huge++
					if m.Size < 10e6 || m.Size > 25.1e6 {
						t.Errorf("huge message of %d bytes", m.Size)
					}
				case "bench-attachment":
					att++
				}
			}
		}
	}
	t.Logf("4 × 2000: %d messages, %.2f GB, %d huge, %d with attachments", count, float64(total)/1e9, huge, att)
	if count != 8000 {
		t.Errorf("%d messages", count)
	}
	if total < 0.6e9 || total > 1.0e9 {
		t.Errorf("total %.2f GB, want about 0.8", float64(total)/1e9)
	}
}

func TestBenchStreamsExactly(t *testing.T) {
	a := corpus.Bench(2, 300, 7)
	b := corpus.Bench(2, 300, 7)
	for u := range a {
		for i, f := range a[u] {
			for j, m := range f.Messages {
				da, n := digest(t, m)
				if n != m.Size {
					t.Fatalf("user %d %s #%d (%s): %d bytes, Size %d", u, f.Name, j, m.Case, n, m.Size)
				}
				if db, _ := digest(t, b[u][i].Messages[j]); da != db {
					t.Fatalf("user %d %s #%d: not deterministic", u, f.Name, j)
				}
			}
		}
	}
	if c := corpus.Bench(1, 300, 8); c[0].Bytes() == a[0].Bytes() {
		t.Error("another seed gives the same mailbox")
	}
}
