package testserver_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
)

func sum(m corpus.Message) string {
	h := sha256.New()
	io.Copy(h, m.Open())
	return hex.EncodeToString(h.Sum(nil))
}

// TestHardCorpusRoundTrip seeds the hard corpus into both instances and
// checks that each serves it as given and that both serve the same bytes.
func TestHardCorpusRoundTrip(t *testing.T) {
	t.Parallel()
	hard := corpus.Hard()
	srcUser, dstUser := testserver.User(t, "hard-src"), testserver.User(t, "hard-dst")
	testserver.SeedMailbox(t, testserver.DovecotSrc, srcUser, hard)
	testserver.SeedMailbox(t, testserver.DovecotDst, dstUser, hard)
	src := testserver.Snapshot(t, testserver.DovecotSrc, srcUser)
	dst := testserver.Snapshot(t, testserver.DovecotDst, dstUser)

	if diff := testserver.Compare(src, dst, nil); len(diff) > 0 {
		t.Errorf("the two instances serve the hard corpus differently:\n%s", strings.Join(diff, "\n"))
	}
	if src.Count() != hard.Count() {
		t.Errorf("snapshot has %d messages, corpus %d", src.Count(), hard.Count())
	}
	for _, f := range hard {
		sf := src.Folder(f.Name)
		if sf == nil {
			t.Errorf("folder %q not in snapshot (have %v)", f.Name, names(src))
			continue
		}
		for _, m := range f.Messages {
			want := slices.Clone(m.Flags)
			slices.Sort(want)
			date := m.Date.UTC()
			lf := m.Case == "bare-lf" || m.Case == "mixed-line-ends"
			i := slices.IndexFunc(sf.Messages, func(r testserver.Record) bool {
				return (lf || r.SHA256 == sum(m)) && r.InternalDate.Equal(date) && slices.Equal(r.Flags, want)
			})
			if i < 0 {
				t.Errorf("%s/%s: no record with its bytes, date %v and flags %v", f.Name, m.Case, date, want)
				continue
			}
			if m.Case == "bare-lf" {
				// Dovecot stores bare LF as given and serves CRLF.
				crlf := strings.ReplaceAll(string(m.Bytes()), "\n", "\r\n")
				h := sha256.Sum256([]byte(crlf))
				if r := sf.Messages[i]; r.SHA256 != hex.EncodeToString(h[:]) || r.Size != int64(len(crlf)) {
					t.Errorf("bare-lf: served %d bytes, not the %d of its CRLF form", r.Size, len(crlf))
				}
			}
			if !lf && sf.Messages[i].Size != m.Size {
				t.Errorf("%s/%s: served %d bytes, appended %d", f.Name, m.Case, sf.Messages[i].Size, m.Size)
			}
		}
	}
	// Snapshot only reads: a second one is the same (no \Seen set by the fetch).
	again := testserver.Snapshot(t, testserver.DovecotSrc, srcUser)
	if diff := testserver.Compare(src, again, nil); len(diff) > 0 {
		t.Errorf("snapshot changed the mailbox:\n%s", strings.Join(diff, "\n"))
	}
	if f := src.Folder("Sent"); f == nil || !slices.Contains(f.Attrs, `\Sent`) {
		t.Errorf("Sent folder without \\Sent attribute: %+v", f)
	}
}

// The master instance: only added users exist, each with its own password;
// the master user opens their mailboxes (the referee logs in that way);
// folders live under "INBOX." and the logical names leave the prefix out,
// so its snapshot of the hard corpus compares directly with src's.
func TestMasterInstance(t *testing.T) {
	t.Parallel()
	inst := testserver.DovecotMaster
	user := testserver.User(t, "master-inst")
	testserver.AddUser(t, inst, user, "own-password")
	c, err := imapclient.DialInsecure(inst.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, "wrong").Wait(); err == nil {
		t.Fatal("a wrong password logged in")
	}
	if err := c.Login(testserver.User(t, "ghost"), "own-password").Wait(); err == nil {
		t.Fatal("a user that was never added logged in")
	}
	if err := c.Login(user, "own-password").Wait(); err != nil {
		t.Fatalf("the user's own password: %v", err)
	}
	hard := corpus.Hard()
	testserver.SeedMailbox(t, inst, user, hard)
	got := testserver.Snapshot(t, inst, user)
	srcUser := testserver.User(t, "master-ref")
	testserver.SeedMailbox(t, testserver.DovecotSrc, srcUser, hard)
	if diff := testserver.Compare(testserver.Snapshot(t, testserver.DovecotSrc, srcUser), got, nil); len(diff) > 0 {
		t.Errorf("master serves the hard corpus differently from src:\n%s", strings.Join(diff, "\n"))
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var wire []string
	for _, l := range list {
		wire = append(wire, l.Mailbox)
	}
	if !slices.Contains(wire, "INBOX.Sent") || !slices.Contains(wire, "INBOX.Projects & Plans.Q1 2024") {
		t.Errorf("folders on the wire: %q", wire)
	}
	if f := got.Folder("Sent"); f == nil || !slices.Contains(f.Attrs, `\Sent`) {
		t.Errorf("Sent folder without \\Sent attribute: %+v", f)
	}
}

func names(mb testserver.Mailbox) []string {
	var n []string
	for _, f := range mb {
		n = append(n, f.Name)
	}
	return n
}

// small returns a few small hard-corpus messages, including the identical copies.
func small() []corpus.Message {
	var out []corpus.Message
	for _, m := range corpus.Hard().Folder("INBOX").Messages {
		switch m.Case {
		case "plain", "flags-all", "bare-lf", "identical-copy", "no-message-id":
			out = append(out, m)
		}
	}
	return out
}

// TestCompareCatchesDifferences makes targets that differ from the source
// in one way each and checks that Compare reports exactly that.
func TestCompareCatchesDifferences(t *testing.T) {
	t.Parallel()
	msgs := small()
	srcUser := testserver.User(t, "cmp-src")
	testserver.Seed(t, testserver.DovecotSrc, srcUser, "INBOX", msgs)
	testserver.Seed(t, testserver.DovecotSrc, srcUser, "Work/Reports", msgs[:1])
	src := testserver.Snapshot(t, testserver.DovecotSrc, srcUser)

	without := func(i int) []corpus.Message {
		return append(slices.Clone(msgs[:i]), msgs[i+1:]...)
	}
	twin := slices.IndexFunc(msgs, func(m corpus.Message) bool { return m.Case == "identical-copy" })

	tests := []struct {
		name   string
		target func(t *testing.T, user string)
		want   []string // substrings of the one expected line
		check  func(d *testserver.Differences) bool
	}{{
		name: "equal",
		target: func(t *testing.T, user string) {
			testserver.Seed(t, testserver.DovecotDst, user, "INBOX", msgs)
			testserver.Seed(t, testserver.DovecotDst, user, "Work/Reports", msgs[:1])
		},
		check: func(d *testserver.Differences) bool { return d.Equal() && d.Messages() == 0 },
	}, {
		name: "missing message",
		target: func(t *testing.T, user string) {
			testserver.Seed(t, testserver.DovecotDst, user, "INBOX", without(0))
			testserver.Seed(t, testserver.DovecotDst, user, "Work/Reports", msgs[:1])
		},
		want:  []string{`folder "INBOX": 1 of 6 messages missing on target`},
		check: func(d *testserver.Differences) bool { return d.Missing == 1 && d.Messages() == 1 },
	}, {
		name: "one of two identical copies missing",
		target: func(t *testing.T, user string) {
			testserver.Seed(t, testserver.DovecotDst, user, "INBOX", without(twin))
			testserver.Seed(t, testserver.DovecotDst, user, "Work/Reports", msgs[:1])
		},
		want:  []string{`1 of 6 messages missing on target`},
		check: func(d *testserver.Differences) bool { return d.Missing == 1 && d.Messages() == 1 },
	}, {
		name: "duplicate copy",
		target: func(t *testing.T, user string) {
			testserver.Seed(t, testserver.DovecotDst, user, "INBOX", append(slices.Clone(msgs), msgs[0]))
			testserver.Seed(t, testserver.DovecotDst, user, "Work/Reports", msgs[:1])
		},
		want:  []string{`1 of 6 messages duplicated on target`, `(1 on source, 2 on target)`},
		check: func(d *testserver.Differences) bool { return d.Duplicates == 1 && d.Messages() == 1 },
	}, {
		name: "changed flag",
		target: func(t *testing.T, user string) {
			testserver.Seed(t, testserver.DovecotDst, user, "INBOX", msgs)
			testserver.Seed(t, testserver.DovecotDst, user, "Work/Reports", msgs[:1])
			c := testserver.Dial(t, testserver.DovecotDst, user)
			if _, err := c.Select("Work/Reports", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
				t.Fatal(err)
			}
		},
		want: []string{`folder "Work/Reports": 1 of 1 messages with other flags`, `(\Flagged \Seen) on target`},
		check: func(d *testserver.Differences) bool {
			return d.FlagMismatch == 1 && d.Mismatched == 1 && d.Messages() == 1
		},
	}, {
		name: "wrong date",
		target: func(t *testing.T, user string) {
			moved := slices.Clone(msgs)
			moved[1].Date = moved[1].Date.Add(time.Hour)
			testserver.Seed(t, testserver.DovecotDst, user, "INBOX", moved)
			testserver.Seed(t, testserver.DovecotDst, user, "Work/Reports", msgs[:1])
		},
		want:  []string{`1 of 6 messages with another INTERNALDATE`},
		check: func(d *testserver.Differences) bool { return d.DateMismatch == 1 && d.Messages() == 1 },
	}, {
		name: "missing folder",
		target: func(t *testing.T, user string) {
			testserver.Seed(t, testserver.DovecotDst, user, "INBOX", msgs)
		},
		want:  []string{`missing folder "Work" (0 messages)`, `missing folder "Work/Reports" (1 messages)`},
		check: func(d *testserver.Differences) bool { return d.Missing == 1 && len(d.MissingFolders) == 2 },
	}, {
		name: "foreign message",
		target: func(t *testing.T, user string) {
			other := corpus.Hard().Folder("Sent").Messages[:1]
			testserver.Seed(t, testserver.DovecotDst, user, "INBOX", append(slices.Clone(msgs), other...))
			testserver.Seed(t, testserver.DovecotDst, user, "Work/Reports", msgs[:1])
		},
		want:  []string{`folder "INBOX": 1 of 7 messages on target but not in source`},
		check: func(d *testserver.Differences) bool { return d.Extra == 1 && d.Messages() == 1 },
	}, {
		name: "extra folder",
		target: func(t *testing.T, user string) {
			testserver.Seed(t, testserver.DovecotDst, user, "INBOX", msgs)
			testserver.Seed(t, testserver.DovecotDst, user, "Work/Reports", msgs[:1])
			testserver.Seed(t, testserver.DovecotDst, user, "Junk", nil)
		},
		want:  []string{`extra folder "Junk" on target (0 messages)`},
		check: func(d *testserver.Differences) bool { return len(d.ExtraFolders) == 1 },
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			user := testserver.User(t, "cmp-dst")
			tt.target(t, user)
			dst := testserver.Snapshot(t, testserver.DovecotDst, user)
			d := testserver.Diff(src, dst, nil)
			if len(d.Lines) != len(tt.want) && (len(tt.want) != 2 || len(d.Lines) != 1) {
				t.Fatalf("got %d lines, want %d:\n%s", len(d.Lines), len(tt.want), strings.Join(d.Lines, "\n"))
			}
			for _, w := range tt.want {
				if !strings.Contains(strings.Join(d.Lines, "\n"), w) {
					t.Errorf("report lacks %q:\n%s", w, strings.Join(d.Lines, "\n"))
				}
			}
			if !tt.check(d) {
				t.Errorf("counts wrong: %+v", *d)
			}
		})
	}
}

func TestSeedParallel(t *testing.T) {
	t.Parallel()
	testserver.Ensure(t)
	mbs := corpus.Bench(2, 40, 3)
	users := []string{testserver.User(t, "par-a"), testserver.User(t, "par-b")}
	st, err := testserver.SeedParallel(testserver.DovecotSrc, users, mbs, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 80 || st.Bytes != mbs[0].Bytes()+mbs[1].Bytes() {
		t.Errorf("stats %+v", st)
	}
	for i, u := range users {
		snap := testserver.Snapshot(t, testserver.DovecotSrc, u)
		if snap.Count() != mbs[i].Count() || snap.Bytes() != mbs[i].Bytes() {
			t.Errorf("%s: %d messages / %d bytes served, %d / %d seeded", u, snap.Count(), snap.Bytes(), mbs[i].Count(), mbs[i].Bytes())
		}
		for _, f := range mbs[i] {
			if sf := snap.Folder(f.Name); sf == nil || len(sf.Messages) != len(f.Messages) {
				t.Errorf("%s: folder %q wrong: %v", u, f.Name, sf)
			}
		}
	}
}
