package postfixconn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/postfix/postfixconn"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// testLogger traces with TERN_IMAP_TRACE set, else discards.
func testLogger() *slog.Logger {
	if os.Getenv("TERN_IMAP_TRACE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: connector.LevelTraceData}))
	}
	return slog.New(slog.DiscardHandler)
}

// settings reaches inst over implicit TLS with the test CA.
func settings(inst testserver.Instance) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"host": inst.Host, "port": inst.TLSPort, "ca_file": testserver.CAFile()})
	return b
}

// userPool hands out users of the master instance, created together: the
// instance re-reads its user list at most once a second, and the suite
// opens a few dozen fresh mailboxes.
type userPool struct {
	mu    sync.Mutex
	users []string
}

func newUserPool(t *testing.T, n int) *userPool {
	p := &userPool{}
	for range n {
		p.users = append(p.users, testserver.User(t, "postfix"))
	}
	testserver.AddUsers(t, testserver.DovecotMaster, "own-secret", p.users...)
	return p
}

func (p *userPool) get(t *testing.T) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.users) == 0 {
		t.Fatal("user pool exhausted: raise its size")
	}
	u := p.users[0]
	p.users = p.users[1:]
	return u
}

func masterRequest(user, mode, secret string) *connector.OpenRequest {
	return &connector.OpenRequest{
		Settings:   settings(testserver.DovecotMaster),
		User:       user,
		Credential: connector.Credential{Mode: mode, AuthUser: testserver.DovecotMaster.MasterUser, Secret: secret},
	}
}

// The SDK's conformance suite against the layout the connector is for:
// the master instance (Maildir++, folders under "INBOX.", separator "."),
// opened as the master user with the login string "user*admin".
func TestConformance(t *testing.T) {
	testserver.Ensure(t)
	pool := newUserPool(t, 40)
	connectortest.Run(t, connectortest.Harness{
		Connector: postfixconn.New(testLogger()),
		Mailbox: func(t *testing.T) *connector.OpenRequest {
			return masterRequest(pool.get(t), connector.ModeAdminMaster, testserver.MasterPassword())
		},
		BadCredential: func(t *testing.T) *connector.OpenRequest {
			return masterRequest(pool.get(t), connector.ModeAdminMaster, "wrong-"+testserver.MasterPassword())
		},
	})
}

// Describe says what the connector is for and offers the magic password
// first.
func TestDescribe(t *testing.T) {
	d, err := postfixconn.New(nil).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "postfix" || !slices.Equal(d.Capabilities.CredentialModes, []string{connector.ModePassword, connector.ModeAdminMaster, connector.ModeAdminAuthzid}) ||
		!d.Capabilities.TestConnection || d.Capabilities.ListUsers || !strings.Contains(d.Summary, "Postfix") {
		t.Fatalf("description %+v", d)
	}
	var schema struct {
		Title, Description string
		Properties         map[string]struct {
			Description string
			Default     any
		}
	}
	if err := json.Unmarshal(d.SettingsSchema, &schema); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Postfix", "Dovecot", "no administrator account", "administrator user blank", "magic password", `"INBOX."`, `"."`, "NAMESPACE", "user*master"} {
		if !strings.Contains(schema.Title+" "+schema.Description, want) {
			t.Errorf("schema description lacks %q: %s", want, schema.Description)
		}
	}
	if p := schema.Properties["master_user_separator"]; p.Default != "*" || !strings.Contains(p.Description, "auth_master_user_separator") {
		t.Errorf("master_user_separator: %+v", p)
	}
	if p := schema.Properties["host"]; !strings.Contains(p.Description, "Dovecot") {
		t.Errorf("host: %+v", p)
	}
	// PROXYAUTH is not offered: Dovecot does not know it.
	_, err = postfixconn.New(nil).OpenSource(context.Background(), &connector.OpenRequest{Settings: settings(testserver.DovecotMaster), User: "u",
		Credential: connector.Credential{Mode: connector.ModeAdminProxyAuth, AuthUser: "a", Secret: "s"}})
	if connector.KindOf(err) != connector.KindInvalid || !strings.Contains(err.Error(), "postfix connector") {
		t.Errorf("PROXYAUTH: %v", err)
	}
}

// The hard corpus goes from a Postfix-style Dovecot (folders under
// "INBOX.", separator ".") opened by the administrator to a "/"-separated
// Dovecot opened with the magic password, through the connector's batch
// copies, in process (master-user string) and over the plugin protocol
// (SASL PLAIN authzid); the referee finds both targets equal to the
// source.
func TestCopyHardCorpus(t *testing.T) {
	testserver.Ensure(t)
	master, dst := testserver.DovecotMaster, testserver.DovecotDst
	srcUser := testserver.User(t, "postfix-hard")
	testserver.AddUser(t, master, srcUser, "own-secret")
	testserver.SeedMailbox(t, master, srcUser, corpus.Hard())
	srcSnap := testserver.Snapshot(t, master, srcUser)
	for _, tc := range []struct{ via, mode string }{{"direct", connector.ModeAdminMaster}, {"wire", connector.ModeAdminAuthzid}} {
		t.Run(tc.via, func(t *testing.T) {
			t.Parallel()
			var c connector.Connector = postfixconn.New(testLogger())
			if tc.via == "wire" {
				c = connectortest.Pipe(t, c)
			}
			src, err := c.OpenSource(ctxFor(t), masterRequest(srcUser, tc.mode, testserver.MasterPassword()))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close(context.Background())
			dstUser := testserver.User(t, "postfix-hard-dst")
			tgt, err := c.OpenTarget(ctxFor(t), &connector.OpenRequest{Settings: settings(dst), User: dstUser,
				Credential: connector.Credential{Mode: connector.ModePassword, Secret: testserver.Password()}})
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close(context.Background())
			h, err := src.Folders(ctxFor(t))
			if err != nil {
				t.Fatal(err)
			}
			if h.Prefix != "INBOX." || h.Delimiter != "." {
				t.Fatalf("source hierarchy: prefix %q, delimiter %q", h.Prefix, h.Delimiter)
			}
			copied := 0
			for _, f := range h.Folders {
				if f.NoSelect {
					continue
				}
				if f.Name != "INBOX" && !strings.HasPrefix(f.Name, "INBOX.") {
					t.Fatalf("folder %q outside the namespace", f.Name)
				}
				dstName, err := dst.ServerName(master.LogicalName(f.Name, '.'))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tgt.EnsureFolder(ctxFor(t), dstName, f.SpecialUse); err != nil {
					t.Fatal(err)
				}
				var msgs []connector.Message
				if _, err := src.List(ctxFor(t), f.Name, nil, func(p []connector.Message) error { msgs = append(msgs, p...); return nil }); err != nil {
					t.Fatal(err)
				}
				for start := 0; start < len(msgs); start += 8 {
					var items []connector.CopyItem
					for _, m := range msgs[start:min(start+8, len(msgs))] {
						items = append(items, connector.CopyItem{ID: m.ID, InternalDate: m.InternalDate, Flags: m.Flags, MessageID: m.MessageID, Fingerprint: m.Fingerprint})
					}
					outs, err := src.(connector.SourceCopier).CopyTo(ctxFor(t), f.Name, items, tgt, dstName)
					if err != nil {
						t.Fatalf("CopyTo %q: %v", f.Name, err)
					}
					for i, o := range outs {
						if o.Err != nil {
							t.Fatalf("CopyTo %q item %d: %v", f.Name, i, o.Err)
						}
					}
					copied += len(outs)
				}
			}
			if copied != corpus.Hard().Count() {
				t.Fatalf("copied %d messages of %d", copied, corpus.Hard().Count())
			}
			if d := testserver.Compare(srcSnap, testserver.Snapshot(t, dst, dstUser), nil); len(d) > 0 {
				t.Fatalf("target differs from source:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

// A connection test on the master instance recommends the master-user
// string (the profile prefers it to authzid) and says how folders are
// laid out; without an administrator the magic password is tried, and
// refused there, with advice for Dovecot.
func TestConnectionTest(t *testing.T) {
	testserver.Ensure(t)
	master := testserver.DovecotMaster
	user := testserver.User(t, "postfix-detect")
	testserver.AddUser(t, master, user, "own-secret")
	c := postfixconn.New(testLogger())
	rep, err := c.TestConnection(ctxFor(t), &connector.TestRequest{Settings: settings(master), SampleUser: user,
		Admin: &connector.AdminCredential{AuthUser: master.MasterUser, Secret: testserver.MasterPassword()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("postfix, administrator:\n%s", format(rep))
	if rep.Recommended != connector.ModeAdminMaster || !has(rep.Notes, `"INBOX." with separator "."`) {
		t.Errorf("report %+v", rep)
	}
	rep, err = c.TestConnection(ctxFor(t), &connector.TestRequest{Settings: settings(master), SampleUser: user,
		Admin: &connector.AdminCredential{Secret: "not-the-magic-password"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("postfix, magic password:\n%s", format(rep))
	if rep.Recommended != "" || len(rep.Attempts) != 1 || rep.Attempts[0].Mode != connector.ModePassword || !has(rep.Notes, "passdb { driver = static") {
		t.Errorf("report %+v", rep)
	}
}

func has(notes []string, s string) bool {
	return slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, s) })
}

func format(rep *connector.TestReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s: %s; %s; product %s; SASL %v\n", rep.Server.Address, rep.Server.Greeting, rep.Server.TLS, rep.Server.Product, rep.Server.AuthMechanisms)
	for _, a := range rep.Attempts {
		fmt.Fprintf(&b, "  %-15s %s ok=%v %s\n", a.Mode, a.Login, a.OK, a.Error)
	}
	fmt.Fprintf(&b, "  recommended %q\n", rep.Recommended)
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}
