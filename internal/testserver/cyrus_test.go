package testserver_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
)

// TestCyrusLogins shows that both Cyrus instances check real passwords,
// that CyrusAdmin (admins, proxyservers) and CyrusPlainAdmin (admins only)
// may act for a user with SASL PLAIN authzid while CyrusNoProxyAdmin may
// not, and that the administrators list the users' mailboxes.
func TestCyrusLogins(t *testing.T) {
	t.Parallel()
	for _, inst := range testserver.Cyruses {
		t.Run(inst.Name, func(t *testing.T) {
			t.Parallel()
			alice, bob := testserver.User(t, "cyrus-alice"), testserver.User(t, "cyrus-bob")
			testserver.AddCyrusUser(t, inst, alice, "alice-pw")
			testserver.AddCyrusUser(t, inst, bob, "bob-pw")
			// A marker in alice's INBOX tells her mailbox from others'.
			testserver.Seed(t, inst, alice, "INBOX", small()[:1])

			tc, err := testserver.TLSConfig()
			if err != nil {
				t.Fatal(err)
			}
			// LOGIN over STARTTLS and over implicit TLS.
			for _, dial := range []func() (*imapclient.Client, error){
				func() (*imapclient.Client, error) {
					return imapclient.DialStartTLS(inst.Addr(), &imapclient.Options{TLSConfig: tc})
				},
				func() (*imapclient.Client, error) {
					return imapclient.DialTLS(inst.TLSAddr(), &imapclient.Options{TLSConfig: tc})
				},
			} {
				c, err := dial()
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Login(alice, "wrong").Wait(); err == nil {
					t.Error("a wrong password logged in")
				}
				if err := c.Login(testserver.User(t, "ghost"), "alice-pw").Wait(); err == nil {
					t.Error("a user that was never added logged in")
				}
				if err := c.Login(alice, "alice-pw").Wait(); err != nil {
					t.Errorf("alice's own password: %v", err)
				} else {
					inboxHolds(t, c, alice, 1)
				}
				c.Close()
			}
			// AUTHENTICATE PLAIN with her own password, and a wrong one.
			if c, err := testserver.LoginPlain(inst, "", alice, "alice-pw"); err != nil {
				t.Errorf("PLAIN with alice's password: %v", err)
			} else {
				c.Close()
			}
			if c, err := testserver.LoginPlain(inst, "", alice, "bob-pw"); err == nil {
				c.Close()
				t.Error("PLAIN with a wrong password logged in")
			}

			// Acting for alice.
			for _, a := range []struct {
				admin, password string
				allowed         bool
			}{
				{testserver.CyrusAdmin, testserver.CyrusAdminPassword, true},
				{testserver.CyrusPlainAdmin, testserver.CyrusPlainAdminPassword, true},
				{testserver.CyrusNoProxyAdmin, testserver.CyrusNoProxyAdminPassword, false},
			} {
				c, err := testserver.LoginPlain(inst, alice, a.admin, a.password)
				switch {
				case a.allowed && err != nil:
					t.Errorf("%s acting for alice: %v", a.admin, err)
				case a.allowed:
					inboxHolds(t, c, alice, 1)
					if ns := personalPrefix(t, c); ns != inst.Prefix {
						t.Errorf("%s for alice: personal namespace %q, want %q", a.admin, ns, inst.Prefix)
					}
					c.Close()
				case err == nil:
					c.Close()
					t.Errorf("%s acted for alice; Cyrus must refuse it", a.admin)
				default:
					t.Logf("%s acting for alice is refused: %v", a.admin, err)
					var ie *imap.Error
					if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo {
						t.Errorf("%s's refusal is not a NO: %v", a.admin, err)
					}
				}
			}
			// A wrong administrator password is refused too.
			if c, err := testserver.LoginPlain(inst, alice, testserver.CyrusAdmin, "wrong"); err == nil {
				c.Close()
				t.Error("the admin's authzid login took a wrong password")
			}

			// The administrators (and noproxyadmin, through its ACL) list
			// the users' mailboxes.
			for _, a := range [][2]string{
				{testserver.CyrusAdmin, testserver.CyrusAdminPassword},
				{testserver.CyrusNoProxyAdmin, testserver.CyrusNoProxyAdminPassword},
			} {
				c, err := testserver.LoginPlain(inst, "", a[0], a[1])
				if err != nil {
					t.Fatalf("%s: %v", a[0], err)
				}
				list, err := c.List("", "user"+inst.Separator+"%", nil).Collect()
				c.Close()
				if err != nil {
					t.Fatalf("%s: list: %v", a[0], err)
				}
				var got []string
				for _, l := range list {
					got = append(got, l.Mailbox)
					if string(l.Delim) != inst.Separator {
						t.Errorf("%s: delimiter %q", l.Mailbox, l.Delim)
					}
				}
				for _, u := range []string{alice, bob} {
					if !slices.Contains(got, inst.CyrusMailbox(u)) {
						t.Errorf("%s's LIST \"\" \"user%s%%\" lacks %s: %q", a[0], inst.Separator, inst.CyrusMailbox(u), got)
					}
				}
			}
		})
	}
}

// inboxHolds checks that c, logged in as user, sees user's INBOX with n
// messages.
func inboxHolds(t *testing.T, c *imapclient.Client, user string, n uint32) {
	t.Helper()
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Errorf("%s: examine INBOX: %v", user, err)
		return
	}
	if sel.NumMessages != n {
		t.Errorf("%s: INBOX holds %d messages, want %d: not the user's mailbox", user, sel.NumMessages, n)
	}
}

func personalPrefix(t *testing.T, c *imapclient.Client) string {
	t.Helper()
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) == 0 {
		t.Fatalf("namespace: %v %+v", err, ns)
	}
	return ns.Personal[0].Prefix
}

// TestCyrusHardCorpus seeds the hard corpus into a user on each Cyrus
// instance, message by message, and checks what Cyrus did with each case
// against CyrusStores: refused with the predicted words, or stored as
// predicted (byte for byte, or with its header's 8-bit bytes munged),
// with its INTERNALDATE and flags, in the right folder, special-use
// attributes included. It logs the case-by-case outcome.
func TestCyrusHardCorpus(t *testing.T) {
	t.Parallel()
	hard := corpus.Hard()
	snaps := make([]testserver.Mailbox, len(testserver.Cyruses))
	t.Run("seed", func(t *testing.T) {
		for n, inst := range testserver.Cyruses {
			t.Run(inst.Name, func(t *testing.T) {
				t.Parallel()
				user := testserver.User(t, "cyrus-hard")
				testserver.AddCyrusUser(t, inst, user, "pw")
				c := testserver.Dial(t, inst, user)
				want := map[string][]testserver.Record{}
				accepted := 0
				for _, f := range hard {
					if err := testserver.CreateFolder(c, inst, f.Name); err != nil {
						t.Fatal(err)
					}
					want[f.Name] = []testserver.Record{}
					for _, m := range f.Messages {
						stored, refusal := testserver.CyrusStores(m.Bytes())
						err := testserver.Append(c, inst, f.Name, m)
						var outcome string
						switch {
						case err != nil && refusal == "":
							t.Errorf("%s/%s: refused, but CyrusStores predicts it is stored: %v", f.Name, m.Case, err)
						case err != nil && !strings.Contains(err.Error(), "NO "+refusal):
							t.Errorf("%s/%s: refused with %v, CyrusStores predicts %q", f.Name, m.Case, err, refusal)
						case err == nil && refusal != "":
							t.Errorf("%s/%s: stored, but CyrusStores predicts %q", f.Name, m.Case, refusal)
						case err != nil:
							outcome = "refused: " + refusal
						case bytes.Equal(stored, m.Bytes()):
							outcome = "stored as appended"
						default:
							outcome = fmt.Sprintf("stored with %d header bytes turned into 'X'", diffCount(stored, m.Bytes()))
						}
						if outcome != "" {
							t.Logf("%-16s %-28s %s", f.Name, m.Case, outcome)
						}
						if err == nil {
							accepted++
							flags := slices.Clone(m.Flags)
							slices.Sort(flags)
							sum := sha256.Sum256(stored)
							want[f.Name] = append(want[f.Name], testserver.Record{
								SHA256: hex.EncodeToString(sum[:]), Size: int64(len(stored)),
								InternalDate: m.Date.UTC().Truncate(time.Second), Flags: flags,
							})
						}
					}
				}
				snap := testserver.Snapshot(t, inst, user)
				if got := names(snap); !slices.Equal(got, sortedNames(hard)) {
					t.Errorf("folders %q, want %q", got, sortedNames(hard))
				}
				if snap.Count() != accepted {
					t.Errorf("%d messages served, %d accepted", snap.Count(), accepted)
				}
				var expect testserver.Mailbox
				for _, f := range hard {
					expect = append(expect, testserver.Folder{Name: f.Name, Messages: want[f.Name]})
				}
				if diff := testserver.Compare(expect, snap, nil); len(diff) > 0 {
					t.Errorf("Cyrus serves other than CyrusStores predicts:\n%s", strings.Join(diff, "\n"))
				}
				for _, f := range hard {
					if f.SpecialUse == "" {
						continue
					}
					if sf := snap.Folder(f.Name); sf == nil || !slices.Contains(sf.Attrs, f.SpecialUse) {
						t.Errorf("folder %q without %s: %+v", f.Name, f.SpecialUse, sf)
					}
				}
				// A snapshot only reads.
				if diff := testserver.Compare(snap, testserver.Snapshot(t, inst, user), nil); len(diff) > 0 {
					t.Errorf("snapshot changed the mailbox:\n%s", strings.Join(diff, "\n"))
				}
				snaps[n] = snap
			})
		}
	})
	if t.Failed() {
		return
	}
	// The two instances hold the same logical mailbox.
	if diff := testserver.Compare(snaps[0], snaps[1], nil); len(diff) > 0 {
		t.Errorf("cyrus and cyrusdot serve the hard corpus differently:\n%s", strings.Join(diff, "\n"))
	}
}

func diffCount(a, b []byte) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func sortedNames(mb corpus.Mailbox) []string {
	var n []string
	for _, f := range mb {
		n = append(n, f.Name)
	}
	slices.Sort(n)
	return n
}

// TestCyrusStoresModel checks CyrusStores against the real server on
// messages beyond the hard corpus: NUL, bare CR, header lines without a
// colon or with a space in the name, an mbox "From " line, 8-bit bytes in
// a MIME part's header, in the body and in a continuation line, a body
// without a final line end, a 5000-byte header line.
func TestCyrusStoresModel(t *testing.T) {
	t.Parallel()
	inst := testserver.Cyrus
	user := testserver.User(t, "cyrus-model")
	testserver.AddCyrusUser(t, inst, user, "pw")
	c := testserver.Dial(t, inst, user)
	probes := []struct{ name, raw string }{
		{"nul-in-body", "Subject: a\r\n\r\nbody\x00x\r\n"},
		{"bare-cr", "Subject: a\r\n\r\nbody\rx\r\n"},
		{"header-without-colon", "Subject: a\r\nNoColonHere\r\n\r\nbody\r\n"},
		{"space-in-name", "Sub ject: a\r\n\r\nbody\r\n"},
		{"colon-first", ": a\r\n\r\nbody\r\n"},
		{"mbox-from-line", "From x Mon\r\nSubject: a\r\n\r\nbody\r\n"},
		{"8bit-part-header", "Subject: a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Disposition: attachment; filename=\"Grüße.txt\"\r\n\r\nx\r\n--b--\r\n"},
		{"8bit-body", "Subject: a\r\n\r\nK\xe4se\r\n"},
		{"8bit-continuation", "Subject: a\r\n b\xc3\xbc\r\n\r\nbody\r\n"},
		{"body-without-eol", "Subject: a\r\n\r\nbody"},
		{"header-without-eol", "Subject: a"},
		{"long-header-line", "X-Long: " + strings.Repeat("y", 5000) + "\r\n\r\nbody\r\n"},
		{"bare-lf-in-body", "Subject: a\r\n\r\nbody\nmore\r\n"},
	}
	date := time.Date(2020, 2, 29, 12, 0, 0, 0, time.UTC)
	n := uint32(0)
	for _, p := range probes {
		stored, refusal := testserver.CyrusStores([]byte(p.raw))
		err := testserver.Append(c, inst, "INBOX", corpus.New(p.name, []byte(p.raw), date))
		if refusal != "" {
			if err == nil || !strings.Contains(err.Error(), refusal) {
				t.Errorf("%s: want refusal %q, got %v", p.name, refusal, err)
				n++ // stored after all
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: refused (%v), CyrusStores predicts it is stored", p.name, err)
			continue
		}
		n++
		msgs, err := fetchLast(c, n)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(msgs, stored) {
			t.Errorf("%s: served %q, CyrusStores predicts %q", p.name, msgs, stored)
		}
	}
}

// fetchLast returns BODY[] of message n of INBOX.
func fetchLast(c *imapclient.Client, n uint32) ([]byte, error) {
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, err
	}
	msgs, err := c.Fetch(imap.SeqSetNum(n), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("fetch %d: %d messages", n, len(msgs))
	}
	for _, b := range msgs[0].BodySection {
		return b.Bytes, nil
	}
	return nil, fmt.Errorf("fetch %d: no body", n)
}

// TestCyrusNames: the logical names map onto each instance's namespace
// (under INBOX, its separator) and back; a dot is a plain character on
// Cyrus (unixhierarchysep) and a separator on CyrusDot.
func TestCyrusNames(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ logical, cyrus, dot string }{
		{"INBOX", "INBOX", "INBOX"},
		{"Sent", "INBOX/Sent", "INBOX.Sent"},
		{"Projects & Plans/Q1 2024", "INBOX/Projects & Plans/Q1 2024", "INBOX.Projects & Plans.Q1 2024"},
	} {
		for _, x := range []struct {
			inst testserver.Instance
			wire string
		}{{testserver.Cyrus, tt.cyrus}, {testserver.CyrusDot, tt.dot}} {
			got, err := x.inst.ServerName(tt.logical)
			if err != nil || got != x.wire {
				t.Errorf("%s %q: %q, %v", x.inst.Name, tt.logical, got, err)
			}
			if back := x.inst.LogicalName(x.wire, rune(x.inst.Separator[0])); back != tt.logical {
				t.Errorf("%s LogicalName(%q) = %q", x.inst.Name, x.wire, back)
			}
		}
	}
	if _, err := testserver.CyrusDot.ServerName("v1.2"); err == nil {
		t.Error(`"v1.2" accepted on cyrusdot`)
	}
	// On Cyrus a dot is an ordinary character.
	user := testserver.User(t, "cyrus-dot-name")
	testserver.AddCyrusUser(t, testserver.Cyrus, user, "pw")
	testserver.Seed(t, testserver.Cyrus, user, "Releases/v1.2", small()[:1])
	snap := testserver.Snapshot(t, testserver.Cyrus, user)
	if f := snap.Folder("Releases/v1.2"); f == nil || len(f.Messages) != 1 {
		t.Errorf("Releases/v1.2 on cyrus: %v (folders %q)", f, names(snap))
	}
}

// TestCyrusSeedMailbox: SeedMailbox (several connections per user, through
// the referee's admin login) and Snapshot work on a Cyrus user, and
// CyrusAccepts leaves out exactly the hard corpus's refused messages.
func TestCyrusSeedMailbox(t *testing.T) {
	t.Parallel()
	kept, refused := testserver.CyrusAccepts(corpus.Hard())
	var cases []string
	for _, m := range refused {
		cases = append(cases, m.Case)
	}
	if want := []string{"headers-only-no-eol", "bare-lf", "mixed-line-ends"}; !slices.Equal(cases, want) {
		t.Errorf("refused %q, want %q", cases, want)
	}
	if kept.Count() != corpus.Hard().Count()-3 || len(kept) != len(corpus.Hard()) {
		t.Errorf("kept %d messages in %d folders", kept.Count(), len(kept))
	}
	mbs := corpus.Bench(1, 40, 7)
	user := testserver.User(t, "cyrus-seed")
	testserver.AddCyrusUser(t, testserver.CyrusDot, user, "pw")
	st, err := testserver.SeedParallel(testserver.CyrusDot, []string{user}, mbs, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap := testserver.Snapshot(t, testserver.CyrusDot, user)
	if st.Messages != 40 || snap.Count() != mbs[0].Count() || snap.Bytes() != mbs[0].Bytes() {
		t.Errorf("seeded %+v; served %d messages, %d bytes; corpus %d, %d", st, snap.Count(), snap.Bytes(), mbs[0].Count(), mbs[0].Bytes())
	}
	for _, f := range mbs[0] {
		if sf := snap.Folder(f.Name); sf == nil || len(sf.Messages) != len(f.Messages) {
			t.Errorf("folder %q: %v (have %q)", f.Name, sf, names(snap))
		}
	}
}
