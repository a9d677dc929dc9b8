package imapconn_test

import (
	"strings"
	"testing"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

// Connection tests against the real Cyrus: an administrator in
// proxyservers acts for users with SASL PLAIN authzid (and nothing else
// works: no master users, no PROXYAUTH); one that is no administrator
// logs in as itself but may act for nobody, and the report says to list
// it in proxyservers or use self-service; the user's own password then is
// what works.
func TestConnectionCyrus(t *testing.T) {
	inst := testserver.Cyrus
	user := testserver.User(t, "detect-cyrus")
	testserver.AddCyrusUser(t, inst, user, "own-secret")
	c := imapconn.New(nil, testLogger())
	for _, tc := range []struct {
		name        string
		admin, pw   string
		recommended string
		note        string
	}{
		{"proxy administrator", testserver.CyrusAdmin, testserver.CyrusAdminPassword, connector.ModeAdminAuthzid, "Recommended: admin_authzid"},
		{"not an administrator", testserver.CyrusNoProxyAdmin, testserver.CyrusNoProxyAdminPassword, connector.ModePassword, "the administrator may not act for users (on Cyrus it must be listed in proxyservers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep, err := c.TestConnection(ctxFor(t), &connector.TestRequest{Settings: settingsFor(inst, "starttls", nil), SampleUser: user,
				Admin: &connector.AdminCredential{AuthUser: tc.admin, Secret: tc.pw}, UserSecret: "own-secret"})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("Cyrus, %s:\n%s", tc.name, formatReport(rep))
			reportLeaks(t, rep, tc.pw, "own-secret")
			if !strings.HasPrefix(rep.Server.Product, "Cyrus IMAP 3.6") || rep.Recommended != tc.recommended || !hasNote(rep, tc.note) || !hasNote(rep, `namespace "INBOX/" with separator "/";`) {
				t.Errorf("product %q, recommended %q", rep.Server.Product, rep.Recommended)
			}
			if a := attempt(rep, connector.ModePassword, "own login"); a == nil || !a.OK {
				t.Errorf("the administrator's own login: %+v", a)
			}
			if a := attempt(rep, connector.ModePassword, "own password"); a == nil || !a.OK {
				t.Errorf("the user's own password: %+v", a)
			}
		})
	}
}
