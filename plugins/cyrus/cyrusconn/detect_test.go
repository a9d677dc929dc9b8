package cyrusconn_test

import (
	"strings"
	"testing"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/cyrus/cyrusconn"
	"github.com/ternmail/tern/sdk/connector"
)

// Connection tests on both Cyrus instances: cyrusadmin (admins,
// proxyservers) acts for the user, so admin_authzid is recommended;
// plainadmin (admins only) too, as Cyrus lets every admin act for users;
// noproxyadmin logs in but may act for nobody, and the report says to add
// it to admins or use self-service; a wrong administrator password is
// told apart from that by the administrator's own login; a sample user
// that does not exist (Cyrus lets the administrator log in for it) is
// named as such. The reports are logged: they are the connector's
// detection output.
func TestConnection(t *testing.T) {
	testserver.Ensure(t)
	for _, inst := range testserver.Cyruses {
		t.Run(inst.Name, func(t *testing.T) {
			t.Parallel()
			user := newCyrusUser(t, inst, "detect")
			c := cyrusconn.New(testLogger())
			sep := inst.Separator
			for _, tc := range []struct {
				name        string
				admin, pw   string
				user        string
				recommended string
				notes       []string
				ownOK       bool
			}{
				{"cyrusadmin", testserver.CyrusAdmin, testserver.CyrusAdminPassword, user, connector.ModeAdminAuthzid,
					[]string{"Recommended: admin_authzid", `acts for users with SASL PLAIN authzid`, "unixhierarchysep: " + map[string]string{"/": "yes", ".": "no"}[sep],
						`users' mailboxes as user` + sep + `NAME`, `namespace "INBOX` + sep + `" with separator "` + sep + `"`}, true},
				{"plainadmin", testserver.CyrusPlainAdmin, testserver.CyrusPlainAdminPassword, user, connector.ModeAdminAuthzid,
					[]string{"Recommended: admin_authzid"}, true},
				{"noproxyadmin", testserver.CyrusNoProxyAdmin, testserver.CyrusNoProxyAdminPassword, user, "",
					[]string{"the administrator may not act for users", "add \"noproxyadmin\" to admins and restart Cyrus", "self-service",
						"No login opened"}, true},
				{"wrong password", testserver.CyrusAdmin, "wrong-password", user, "",
					[]string{"No administrator login worked", `Cyrus also refused the administrator "cyrusadmin"'s own login`}, false},
				{"no such user", testserver.CyrusAdmin, testserver.CyrusAdminPassword, testserver.User(t, "ghost"), "",
					[]string{"INBOX does not open: check that the sample user exists"}, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rep, err := c.TestConnection(ctxFor(t), &connector.TestRequest{Settings: settings(inst, true), SampleUser: tc.user,
						Admin: &connector.AdminCredential{AuthUser: tc.admin, Secret: tc.pw}})
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("%s, %s:\n%s", inst.Name, tc.name, format(rep))
					if !strings.HasPrefix(rep.Server.Product, "Cyrus IMAP 3.6") || rep.Recommended != tc.recommended {
						t.Errorf("product %q, recommended %q", rep.Server.Product, rep.Recommended)
					}
					for _, n := range tc.notes {
						if !has(rep.Notes, n) {
							t.Errorf("no note says %q", n)
						}
					}
					// Only the modes the profile offers: the administrator's
					// own login and authzid; no master user, no PROXYAUTH.
					if len(rep.Attempts) != 2 || rep.Attempts[0].Mode != connector.ModePassword || rep.Attempts[0].OK != tc.ownOK ||
						rep.Attempts[1].Mode != connector.ModeAdminAuthzid {
						t.Errorf("attempts %+v", rep.Attempts)
					}
					for _, n := range append(rep.Notes, format(rep)) {
						if strings.Contains(n, tc.pw) {
							t.Fatalf("the report shows the password: %s", n)
						}
					}
				})
			}
			// The user's own password, without an administrator.
			rep, err := c.TestConnection(ctxFor(t), &connector.TestRequest{Settings: settings(inst, false), SampleUser: user, UserSecret: "own-secret"})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s, the user's own password:\n%s", inst.Name, format(rep))
			if rep.Recommended != connector.ModePassword || !has(rep.Notes, "Without an administrator, Tern needs each user's password") {
				t.Errorf("recommended %q", rep.Recommended)
			}
		})
	}
}

// Opening a mailbox: an administrator that may not act for users fails
// with KindAuth and the advice (admins, proxyservers, self-service); a
// user that does not exist, whom Cyrus lets the administrator log in for,
// is KindNotFound rather than an empty mailbox.
func TestOpen(t *testing.T) {
	testserver.Ensure(t)
	for _, inst := range testserver.Cyruses {
		t.Run(inst.Name, func(t *testing.T) {
			t.Parallel()
			user := newCyrusUser(t, inst, "open")
			c := cyrusconn.New(testLogger())
			req := adminRequest(inst, user)
			req.Credential.AuthUser, req.Credential.Secret = testserver.CyrusNoProxyAdmin, testserver.CyrusNoProxyAdminPassword
			_, err := c.OpenSource(ctxFor(t), req)
			if connector.KindOf(err) != connector.KindAuth || !strings.Contains(err.Error(), "self-service") || !strings.Contains(err.Error(), "admins") ||
				strings.Contains(err.Error(), testserver.CyrusNoProxyAdminPassword) {
				t.Errorf("noproxyadmin: %v", err)
			}
			t.Logf("%s, noproxyadmin: %v", inst.Name, err)

			ghost := testserver.User(t, "ghost")
			for _, open := range []func() error{
				func() error { _, err := c.OpenSource(ctxFor(t), adminRequest(inst, ghost)); return err },
				func() error { _, err := c.OpenTarget(ctxFor(t), adminRequest(inst, ghost)); return err },
			} {
				err := open()
				if connector.KindOf(err) != connector.KindNotFound || !strings.Contains(err.Error(), "no INBOX") {
					t.Errorf("user that does not exist: %v", err)
				}
				t.Logf("%s, no such user: %v", inst.Name, err)
			}

			// The user's own password opens it.
			src, err := c.OpenSource(ctxFor(t), &connector.OpenRequest{Settings: settings(inst, true), User: user,
				Credential: connector.Credential{Mode: connector.ModePassword, Secret: "own-secret"}})
			if err != nil {
				t.Fatal(err)
			}
			src.Close(ctxFor(t))
		})
	}
}
