package imapconn_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

// formatReport renders a report for the test log.
func formatReport(rep *connector.TestReport) string {
	var b strings.Builder
	s := rep.Server
	fmt.Fprintf(&b, "server %s\n  greeting: %s\n  TLS: %s\n  product: %s\n  SASL: %s\n  capabilities: %s\n",
		s.Address, s.Greeting, s.TLS, s.Product, strings.Join(s.AuthMechanisms, " "), strings.Join(s.Capabilities, " "))
	for _, a := range rep.Attempts {
		res := "OK"
		if !a.OK {
			res = fmt.Sprintf("FAILED (%s): %s", a.Kind, a.Error)
		}
		fmt.Fprintf(&b, "  attempt %-15s %s: %s\n", a.Mode, a.Login, res)
	}
	fmt.Fprintf(&b, "  recommended: %q\n", rep.Recommended)
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}

// reportLeaks fails if any secret shows anywhere in the report.
func reportLeaks(t *testing.T, rep *connector.TestReport, secrets ...string) {
	t.Helper()
	b, _ := json.Marshal(rep)
	for _, s := range secrets {
		if s != "" && strings.Contains(string(b), s) {
			t.Fatalf("the report shows a secret (%q):\n%s", s, formatReport(rep))
		}
	}
}

func attempt(rep *connector.TestReport, mode, login string) *connector.LoginAttempt {
	for i, a := range rep.Attempts {
		if a.Mode == mode && strings.Contains(a.Login, login) {
			return &rep.Attempts[i]
		}
	}
	return nil
}

func hasNote(rep *connector.TestReport, words string) bool {
	return slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, words) })
}

// Connection tests against each real server. The reports are logged
// (go test -v -run TestConnectionReports) for people to read.
func TestConnectionReports(t *testing.T) {
	testserver.Ensure(t)
	master := testserver.DovecotMaster
	user := testserver.User(t, "detect")
	testserver.AddUser(t, master, user, "own-secret")
	adminPW := testserver.MasterPassword()
	postfix := imapconn.New(postfixProfile(), testLogger())
	generic := imapconn.New(nil, testLogger())
	for _, tc := range []struct {
		name  string
		c     *imapconn.Connector
		inst  testserver.Instance
		tls   string
		extra map[string]any
		req   connector.TestRequest
		check func(t *testing.T, rep *connector.TestReport)
	}{{
		name: "src, magic password", c: postfix, inst: testserver.DovecotSrc, tls: "implicit",
		req: connector.TestRequest{SampleUser: testserver.User(t, "detect-magic"), Admin: &connector.AdminCredential{Secret: testserver.Password()}},
		check: func(t *testing.T, rep *connector.TestReport) {
			if rep.Recommended != connector.ModePassword || len(rep.Attempts) != 1 || !rep.Attempts[0].OK || !strings.Contains(rep.Attempts[0].Login, "with the magic password") {
				t.Errorf("magic password not recommended")
			}
			if !strings.Contains(rep.Server.TLS, "(implicit TLS), certificate for localhost, 127.0.0.1 issued by Tern test CA, verified against ca_file") {
				t.Errorf("TLS %q", rep.Server.TLS)
			}
		},
	}, {
		name: "dst, magic password over STARTTLS", c: generic, inst: testserver.DovecotDst, tls: "starttls",
		req: connector.TestRequest{SampleUser: testserver.User(t, "detect-magic"), Admin: &connector.AdminCredential{Secret: testserver.Password()}},
		check: func(t *testing.T, rep *connector.TestReport) {
			if rep.Recommended != connector.ModePassword || !strings.Contains(rep.Server.TLS, "(STARTTLS)") {
				t.Errorf("recommended %q, TLS %q", rep.Recommended, rep.Server.TLS)
			}
			if !slices.Contains(rep.Server.Capabilities, "MULTIAPPEND") || !hasNote(rep, "Capabilities before login: IMAP4rev1") {
				t.Errorf("capabilities after the login are not reported")
			}
		},
	}, {
		name: "master, administrator (postfix)", c: postfix, inst: master, tls: "implicit",
		req: connector.TestRequest{SampleUser: user, Admin: &connector.AdminCredential{AuthUser: master.MasterUser, Secret: adminPW}, UserSecret: "own-secret"},
		check: func(t *testing.T, rep *connector.TestReport) {
			// Postfix prefers the master-user string to authzid.
			if rep.Recommended != connector.ModeAdminMaster {
				t.Errorf("recommended %q", rep.Recommended)
			}
			for _, want := range []struct{ mode, login string }{
				{connector.ModeAdminMaster, `authcid="` + user + `*admin" (checked: "tern-no-such-user-`},
				{connector.ModeAdminAuthzid, `AUTHENTICATE PLAIN authzid="` + user + `" authcid="admin"`},
				{connector.ModePassword, "with the user's own password"},
			} {
				if a := attempt(rep, want.mode, want.login); a == nil || !a.OK {
					t.Errorf("%s %s did not work", want.mode, want.login)
				}
			}
			if a := attempt(rep, connector.ModePassword, "own login"); a == nil || a.OK || a.Kind != connector.KindAuth {
				t.Errorf("the master user's own login: %+v", a)
			}
			if !hasNote(rep, "cannot log in as itself") || !hasNote(rep, `personal namespace "INBOX." with separator "."`) {
				t.Errorf("notes lack the master user or the namespace")
			}
			if attempt(rep, connector.ModeAdminProxyAuth, "") != nil {
				t.Error("postfix tried PROXYAUTH")
			}
		},
	}, {
		name: "master, administrator (generic)", c: generic, inst: master, tls: "starttls", extra: map[string]any{"auth_mechanism": "login"},
		req: connector.TestRequest{SampleUser: user, Admin: &connector.AdminCredential{AuthUser: master.MasterUser, Secret: adminPW}},
		check: func(t *testing.T, rep *connector.TestReport) {
			if rep.Recommended != connector.ModeAdminAuthzid || !hasNote(rep, "PROXYAUTH (admin_proxyauth) was not tried") {
				t.Errorf("recommended %q", rep.Recommended)
			}
		},
	}, {
		name: "master, wrong administrator password", c: postfix, inst: master, tls: "implicit",
		req: connector.TestRequest{SampleUser: user, Admin: &connector.AdminCredential{AuthUser: master.MasterUser, Secret: "wrong-" + adminPW}},
		check: func(t *testing.T, rep *connector.TestReport) {
			if rep.Recommended != "" || len(rep.Attempts) != 3 || !hasNote(rep, "the administrator password is wrong") || !hasNote(rep, "To give Tern a magic password") {
				t.Errorf("wrong administrator password not explained")
			}
		},
	}, {
		name: "master, no such user", c: postfix, inst: master, tls: "implicit",
		req: connector.TestRequest{SampleUser: testserver.User(t, "detect-ghost"), Admin: &connector.AdminCredential{AuthUser: master.MasterUser, Secret: adminPW}},
		check: func(t *testing.T, rep *connector.TestReport) {
			if rep.Recommended != "" || !hasNote(rep, "check that the sample user exists") {
				t.Errorf("a user that does not exist is not explained")
			}
		},
	}, {
		name: "master, magic password refused", c: postfix, inst: master, tls: "implicit",
		req: connector.TestRequest{SampleUser: user, Admin: &connector.AdminCredential{Secret: adminPW}},
		check: func(t *testing.T, rep *connector.TestReport) {
			if rep.Recommended != "" || !hasNote(rep, "The magic password was refused") {
				t.Errorf("refused magic password not explained")
			}
		},
	}, {
		name: "src, an administrator on a server without one", c: generic, inst: testserver.DovecotSrc, tls: "implicit",
		req: connector.TestRequest{SampleUser: testserver.User(t, "detect-any"), Admin: &connector.AdminCredential{AuthUser: "admin", Secret: testserver.Password()}},
		check: func(t *testing.T, rep *connector.TestReport) {
			// "admin" logs in with the shared password, like any name, but
			// may act for nobody: Dovecot refuses "user*admin" (no master
			// users, and "*" is no user name character) and authzid.
			if a := attempt(rep, connector.ModePassword, "own login"); a == nil || !a.OK {
				t.Errorf("own login %+v", a)
			}
			if rep.Recommended != "" || !hasNote(rep, "the administrator may not act for users") {
				t.Errorf("recommended %q", rep.Recommended)
			}
		},
	}, {
		name: "src, certificate not trusted", c: generic, inst: testserver.DovecotSrc, tls: "implicit", extra: map[string]any{"ca_file": nil},
		req: connector.TestRequest{SampleUser: user, Admin: &connector.AdminCredential{Secret: testserver.Password()}},
		check: func(t *testing.T, rep *connector.TestReport) {
			if len(rep.Attempts) != 0 || !strings.Contains(rep.Server.TLS, "NOT trusted") || rep.Server.Product != "Dovecot" || !hasNote(rep, "no password was sent") {
				t.Errorf("untrusted certificate not reported")
			}
		},
	}, {
		name: "src, server only", c: generic, inst: testserver.DovecotSrc, tls: "none",
		check: func(t *testing.T, rep *connector.TestReport) {
			if len(rep.Attempts) != 0 || rep.Server.TLS != "none (plaintext)" || !hasNote(rep, "No sample user given") || !hasNote(rep, "not encrypted") {
				t.Errorf("server-only probe")
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // Dovecot answers each refusal after half a second
			req := tc.req
			req.Settings = settingsFor(tc.inst, tc.tls, tc.extra)
			rep, err := tc.c.TestConnection(ctxFor(t), &req)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s (%s connector):\n%s", tc.name, tc.c.Profile().ID, formatReport(rep))
			if rep.Server.Product != "Dovecot" || !strings.Contains(rep.Server.Greeting, "Dovecot (Debian) ready.") || !slices.Equal(rep.Server.AuthMechanisms, []string{"PLAIN", "LOGIN"}) {
				t.Errorf("server %+v", rep.Server)
			}
			secrets := []string{adminPW, "own-secret"}
			if req.Admin != nil {
				secrets = append(secrets, req.Admin.Secret)
			}
			reportLeaks(t, rep, secrets...)
			tc.check(t, rep)
			if t.Failed() {
				t.Logf("report:\n%s", formatReport(rep))
			}
		})
	}
}

// postfixProfile returns a profile like tern-connector-postfix's (which
// lives in a plugin package that this one may not import): the password
// first, then the master-user string, then authzid.
func postfixProfile() *imapconn.Profile {
	return &imapconn.Profile{
		ID: "postfix", Version: "1.0.0", Summary: "Dovecot behind Postfix", Title: "Dovecot behind Postfix",
		CredentialModes: []string{connector.ModePassword, connector.ModeAdminMaster, connector.ModeAdminAuthzid},
		DetectionNotes: func(d *imapconn.Detection) []string {
			if d.Report.Recommended == "" && len(d.Report.Attempts) > 0 {
				return []string{"To give Tern a magic password, …"}
			}
			return nil
		},
	}
}

// Servers no Debian package provides, scripted: each mode is tried once
// (one login each, never again), and the report reads the outcomes.
func TestConnectionScripted(t *testing.T) {
	users := map[string]string{"alice": "alice-pw"}
	for _, tc := range []struct {
		name   string
		f      *fakeIMAP
		logins int
		check  func(t *testing.T, rep *connector.TestReport)
	}{{
		name: "Sun Java System Messaging Server: PROXYAUTH",
		f: &fakeIMAP{greeting: "mail.example.org Sun Java(tm) System Messaging Server 6.3-7.04 (built Sep 26 2008)",
			before: []string{"IMAP4rev1", "AUTH=PLAIN", "ID"}, after: []string{"IMAP4rev1", "NAMESPACE", "X-NETSCAPE"},
			users: users, admin: "admin", adminPW: "admin-pw", proxyAuth: true, noAdminMailbox: true},
		logins: 4, // own, authzid, master string, LOGIN before PROXYAUTH
		check: func(t *testing.T, rep *connector.TestReport) {
			if rep.Recommended != connector.ModeAdminProxyAuth || rep.Server.Product != "Sun/Oracle Messaging Server 6.3" {
				t.Errorf("recommended %q, product %q", rep.Recommended, rep.Server.Product)
			}
			if a := attempt(rep, connector.ModeAdminProxyAuth, `authcid="admin", then PROXYAUTH "alice"`); a == nil || !a.OK {
				t.Errorf("PROXYAUTH attempt %+v", a)
			}
			if a := attempt(rep, connector.ModePassword, "own login"); a == nil || !a.OK || !hasNote(rep, "has no mailbox of its own") {
				t.Errorf("own login %+v", a)
			}
		},
	}, {
		name: "Cyrus without proxyservers",
		f: &fakeIMAP{greeting: "mail.example.org Cyrus IMAP 3.6.1-Debian-3.6.1-4 server ready",
			before: []string{"IMAP4rev1", "AUTH=PLAIN", "AUTH=LOGIN", "SASL-IR", "ID"}, after: []string{"IMAP4rev1", "NAMESPACE"},
			users: users, admin: "cyrusadmin", adminPW: "admin-pw"},
		logins: 4, // own, authzid, master string, LOGIN before PROXYAUTH (BAD)
		check: func(t *testing.T, rep *connector.TestReport) {
			if rep.Recommended != "" || rep.Server.Product != "Cyrus IMAP 3.6.1" {
				t.Errorf("recommended %q, product %q", rep.Recommended, rep.Server.Product)
			}
			if !hasNote(rep, "the administrator may not act for users") || !hasNote(rep, "proxyservers") || !hasNote(rep, "use self-service") {
				t.Error("no advice on proxyservers and self-service")
			}
			if a := attempt(rep, connector.ModeAdminProxyAuth, ""); a == nil || a.Kind != connector.KindInvalid || !strings.Contains(a.Error, "does not know PROXYAUTH") {
				t.Errorf("PROXYAUTH attempt %+v", a)
			}
		},
	}, {
		name: "no SASL PLAIN",
		f: &fakeIMAP{greeting: "Courier-IMAP ready. Copyright 1998-2018 Double Precision, Inc.",
			before: []string{"IMAP4rev1", "AUTH=CRAM-MD5"}, after: []string{"IMAP4rev1"},
			users: users, admin: "admin", adminPW: "admin-pw"},
		logins: 3, // own, master string, LOGIN before PROXYAUTH; no authzid
		check: func(t *testing.T, rep *connector.TestReport) {
			if attempt(rep, connector.ModeAdminAuthzid, "") != nil || !hasNote(rep, "offers no SASL PLAIN (its mechanisms: CRAM-MD5)") {
				t.Error("authzid tried, or its impossibility not explained")
			}
			if rep.Server.Product != "Courier-IMAP" || rep.Recommended != "" || hasNote(rep, "proxyservers") || !hasNote(rep, "the administrator may not act for users") {
				t.Errorf("product %q, recommended %q", rep.Server.Product, rep.Recommended)
			}
		},
	}, {
		name: "every name logs in: a magic password given as administrator",
		f: &fakeIMAP{greeting: "IMAP ready", before: []string{"IMAP4rev1", "AUTH=PLAIN"}, after: []string{"IMAP4rev1"},
			users: users, admin: "admin", adminPW: "m4gic-pw", anyName: "m4gic-pw"},
		logins: 5, // own, authzid, master string and its check, LOGIN before PROXYAUTH
		check: func(t *testing.T, rep *connector.TestReport) {
			// "alice*admin" logs in, as a user of its own: the master-user
			// string must not pass for working.
			a := attempt(rep, connector.ModeAdminMaster, `(checked with "tern-no-such-user-`)
			if a == nil || a.OK || a.Kind != connector.KindInvalid || !strings.Contains(a.Error, "a user that does not exist") {
				t.Errorf("master-user string on a server that lets every name in: %+v", a)
			}
			if rep.Recommended != "" || !hasNote(rep, "that password is a magic password. Leave the administrator user blank") || hasNote(rep, "proxyservers") {
				t.Errorf("recommended %q; no advice to use it as a magic password", rep.Recommended)
			}
		},
	}, {
		name: "server hangs up: no more attempts",
		f: &fakeIMAP{greeting: "IMAP ready", before: []string{"IMAP4rev1", "AUTH=PLAIN"}, after: []string{"IMAP4rev1"},
			users: users, admin: "admin", adminPW: "admin-pw", bye: true},
		logins: 1,
		check: func(t *testing.T, rep *connector.TestReport) {
			if len(rep.Attempts) != 1 || rep.Attempts[0].Kind != connector.KindUnavailable || !hasNote(rep, "The test stopped after") || !hasNote(rep, "Too many connections") || hasNote(rep, "password is wrong") {
				t.Error("the test went on after the server hung up")
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.t = t
			tc.f.start()
			c := imapconn.New(nil, testLogger())
			rep, err := c.TestConnection(ctxFor(t), &connector.TestRequest{
				Settings:   tc.f.settings(""),
				SampleUser: "alice",
				Admin:      &connector.AdminCredential{AuthUser: tc.f.admin, Secret: tc.f.adminPW},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s:\n%s", tc.name, formatReport(rep))
			reportLeaks(t, rep, tc.f.adminPW)
			if n := tc.f.loginCount(); n != tc.logins {
				t.Errorf("%d logins, want %d: %q", n, tc.logins, tc.f.log)
			}
			tc.check(t, rep)
		})
	}
}

// A session opened with PROXYAUTH works through go-imap (which cannot send
// the command; imapkit logs in first) and over the plugin protocol.
func TestProxyAuthSession(t *testing.T) {
	f := &fakeIMAP{t: t, greeting: "Sun Java(tm) System Messaging Server 6.3", before: []string{"IMAP4rev1", "AUTH=PLAIN"},
		after: []string{"IMAP4rev1", "NAMESPACE"}, users: map[string]string{"alice": "x"}, admin: "admin", adminPW: "admin-pw", proxyAuth: true}
	f.start()
	for _, via := range []string{"direct", "wire"} {
		var c connector.Connector = imapconn.New(nil, testLogger())
		if via == "wire" {
			c = connectortest.Pipe(t, c)
		}
		req := &connector.OpenRequest{Settings: f.settings(""), User: "alice",
			Credential: connector.Credential{Mode: connector.ModeAdminProxyAuth, AuthUser: "admin", Secret: "admin-pw"}}
		src, err := c.OpenSource(ctxFor(t), req)
		if err != nil {
			t.Fatalf("%s: %v", via, err)
		}
		h, err := src.Folders(ctxFor(t))
		if err != nil || len(h.Folders) != 1 || h.Folders[0].Name != "INBOX" {
			t.Fatalf("%s: folders %+v, %v", via, h, err)
		}
		src.Close(ctxFor(t))
		// Refused: the administrator may not act for this user.
		f.refuseProxy.Store(true)
		_, err = c.OpenSource(ctxFor(t), req)
		f.refuseProxy.Store(false)
		if !connectorIsAuth(err) || !strings.Contains(err.Error(), `PROXYAUTH "alice"`) || strings.Contains(err.Error(), "admin-pw") {
			t.Fatalf("%s: refused PROXYAUTH: %v", via, err)
		}
	}
}

func connectorIsAuth(err error) bool { return connector.KindOf(err) == connector.KindAuth }
