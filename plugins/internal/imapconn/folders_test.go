package imapconn_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

// rawClient logs in to inst as user with go-imap's client directly, to
// check what the connector did from the outside.
func rawClient(t *testing.T, inst testserver.Instance, user string) *imapclient.Client {
	t.Helper()
	pem, err := os.ReadFile(testserver.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := imapclient.DialTLS(inst.TLSAddr(), &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: inst.Host}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, testserver.Password()).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// Folder names are UTF-8 for core and modified UTF-7 on the wire (RFC 9051
// §5.1.3), nested with each server's own separator.
func TestFolderNamesRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		inst testserver.Instance
		mode string
	}{{testserver.DovecotSrc, "implicit"}, {testserver.DovecotDst, "starttls"}} {
		t.Run(tc.inst.Name, func(t *testing.T) {
			t.Parallel()
			rec, log := newWireRecorder(connector.LevelTrace)
			c := imapconn.New(nil, log)
			req := request(t, tc.inst, tc.mode, nil)
			tgt, err := c.OpenTarget(ctxFor(t), req)
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close(ctxFor(t))
			h, err := tgt.Folders(ctxFor(t))
			if err != nil {
				t.Fatal(err)
			}
			if h.Delimiter != tc.inst.Separator || h.Prefix != "" {
				t.Fatalf("hierarchy delimiter %q prefix %q, want %q and none", h.Delimiter, h.Prefix, tc.inst.Separator)
			}
			sep := h.Delimiter
			wire := map[string]string{
				"Entwürfe": "Entw&APw-rfe",
				"Входящие" + sep + "Отчёты": "&BBIERQQ+BDQETwRJBDgENQ-" + sep + "&BB4EQgRHBFEEQgRL-",
				"日本語":                                "&ZeVnLIqe-",
				"Projects & Plans":                   "Projects &- Plans",
				"Name With Spaces":                   "Name With Spaces",
				"Projects & Plans" + sep + "Q1 2024": "Projects &- Plans" + sep + "Q1 2024",
			}
			for name := range wire {
				if _, err := tgt.EnsureFolder(ctxFor(t), name, ""); err != nil {
					t.Fatalf("EnsureFolder(%q): %v", name, err)
				}
				appendMsg(t, tgt, name, testMessage, `\Seen`)
			}
			// What went over the wire.
			trace := strings.Join(rec.commands("target", 0), "\n")
			for name, enc := range wire {
				if !strings.Contains(trace, `CREATE "`+enc+`"`) {
					t.Errorf("no CREATE of %q as %q on the wire:\n%s", name, enc, trace)
				}
			}
			// What the connector lists.
			h, err = tgt.Folders(ctxFor(t))
			if err != nil {
				t.Fatal(err)
			}
			for name := range wire {
				i := slices.IndexFunc(h.Folders, func(f connector.Folder) bool { return f.Name == name })
				if i < 0 {
					t.Errorf("Folders lacks %q: %+v", name, h.Folders)
					continue
				}
				if h.Folders[i].Delimiter != sep {
					t.Errorf("%q has delimiter %q", name, h.Folders[i].Delimiter)
				}
			}
			// What another client sees, and that the folders hold the mail.
			raw := rawClient(t, tc.inst, req.User)
			listed, err := raw.List("", "*", nil).Collect()
			if err != nil {
				t.Fatal(err)
			}
			for name := range wire {
				if !slices.ContainsFunc(listed, func(l *imap.ListData) bool { return l.Mailbox == name }) {
					t.Errorf("go-imap's LIST lacks %q", name)
				}
				st, err := raw.Status(name, &imap.StatusOptions{NumMessages: true}).Wait()
				if err != nil || st.NumMessages == nil || *st.NumMessages != 1 {
					t.Errorf("STATUS %q: %+v, %v; want 1 message", name, st, err)
				}
			}
			src, err := c.OpenSource(ctxFor(t), req)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close(ctxFor(t))
			for name := range wire {
				if l := list(t, src, name, nil); len(l.msgs) != 1 {
					t.Errorf("List(%q): %d messages", name, len(l.msgs))
				}
			}
		})
	}
}

// Special-use attributes come through Folders; INBOX has none.
func TestSpecialUse(t *testing.T) {
	req := request(t, testserver.DovecotDst, "starttls", nil)
	raw := rawClient(t, testserver.DovecotDst, req.User)
	for _, n := range []string{"Sent", "Trash", "Archive"} {
		if err := raw.Create(n, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	src, err := openSource(t, imapconn.New(nil, testLogger()), req)
	if err != nil {
		t.Fatal(err)
	}
	h, err := src.Folders(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"INBOX": "", "Sent": connector.SpecialSent, "Trash": connector.SpecialTrash, "Archive": connector.SpecialArchive}
	for _, f := range h.Folders {
		if su, ok := want[f.Name]; ok && f.SpecialUse != su {
			t.Errorf("%s: special use %q, want %q", f.Name, f.SpecialUse, su)
		}
		delete(want, f.Name)
	}
	if len(want) > 0 {
		t.Errorf("folders missing: %v", want)
	}
}
