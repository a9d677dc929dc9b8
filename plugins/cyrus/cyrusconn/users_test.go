package cyrusconn_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/cyrus/cyrusconn"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

// listAll lists users with l as admin, checking the pages' sizes.
func listAll(t *testing.T, l connector.UserLister, inst testserver.Instance, admin, password string) ([]connector.User, error) {
	t.Helper()
	var users []connector.User
	err := l.ListUsers(ctxFor(t), &connector.ListUsersRequest{Settings: settings(inst, true),
		Admin: connector.AdminCredential{AuthUser: admin, Secret: password}, Mode: connector.ModeAdminAuthzid},
		func(page []connector.User) error {
			if len(page) == 0 || len(page) > 500 {
				t.Errorf("a page of %d users", len(page))
			}
			users = append(users, page...)
			return nil
		})
	return users, err
}

// refereeMailboxes lists, as admin and without Tern, the mailboxes
// directly under user/ (user.): one per user the admin may see.
func refereeMailboxes(t *testing.T, inst testserver.Instance, admin, password string) []string {
	t.Helper()
	c, err := testserver.LoginPlain(inst, "", admin, password)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l, err := c.List("", "user"+inst.Separator+"%", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range l {
		if slices.Contains(d.Attrs, imap.MailboxAttrNoSelect) {
			t.Errorf("referee: %s is \\Noselect", d.Mailbox)
		}
		out = append(out, d.Mailbox)
	}
	return out
}

// ListUsers on both Cyrus instances: the users' logins come back from
// their mailboxes' names, a dotted name included (user.john^doe under
// unixhierarchysep: no, user/john.doe under yes); folders below a user's
// INBOX are no users; the list is exactly what the server shows the
// administrator, mailbox for mailbox; noproxyadmin, no admin but with the
// lookup right on the tests' users, lists them too (a subset of
// cyrusadmin's list); a wrong administrator password is KindAuth, an
// account that sees no user's mailbox KindPermanent with the reason; over
// the plugin protocol the same.
func TestListUsers(t *testing.T) {
	testserver.Ensure(t)
	for _, inst := range testserver.Cyruses {
		t.Run(inst.Name, func(t *testing.T) {
			t.Parallel()
			alice := newCyrusUser(t, inst, "lu-alice")
			bob := newCyrusUser(t, inst, "lu-bob")
			dotted := newCyrusUser(t, inst, "john.doe")
			if !strings.Contains(dotted, ".") {
				t.Fatalf("user %q has no dot", dotted)
			}
			// Folders below an INBOX are not users.
			testserver.Seed(t, inst, bob, "Projects/2024", nil)
			testserver.Seed(t, inst, dotted, "Sent", nil)
			mine := []string{alice, bob, dotted}

			for _, via := range []string{"direct", "wire"} {
				t.Run(via, func(t *testing.T) {
					var c connector.Connector = cyrusconn.New(testLogger())
					if via == "wire" {
						c = connectortest.Pipe(t, c)
					}
					l, ok := c.(connector.UserLister)
					if !ok {
						t.Fatal("the connector is no UserLister")
					}
					users, err := listAll(t, l, inst, testserver.CyrusAdmin, testserver.CyrusAdminPassword)
					if err != nil {
						t.Fatal(err)
					}
					ref := refereeMailboxes(t, inst, testserver.CyrusAdmin, testserver.CyrusAdminPassword)
					var logins []string
					for _, u := range users {
						logins = append(logins, u.Login)
						if !slices.Contains(ref, inst.CyrusMailbox(u.Login)) {
							t.Errorf("listed %q, whose mailbox %s the server does not show", u.Login, inst.CyrusMailbox(u.Login))
						}
						hidden := inst.Separator == "." && strings.Contains(u.Login, ".")
						if hidden != strings.Contains(u.Note, "unixhierarchysep") || (!hidden && u.Note != "") || u.Address != "" ||
							strings.Contains(u.Login, "/") || strings.Contains(u.Login, "^") {
							t.Errorf("user %+v", u)
						}
					}
					// Other tests add users meanwhile: every mailbox the
					// referee saw after the listing was listed, or is newer.
					if len(users) > len(ref) || len(users) < len(ref)-50 {
						t.Errorf("listed %d users; the server shows %d mailboxes", len(users), len(ref))
					}
					for _, u := range mine {
						if !slices.Contains(logins, u) {
							t.Errorf("%q not listed", u)
						}
					}
					for _, lg := range logins {
						if strings.HasSuffix(lg, "Projects") || strings.HasSuffix(lg, "Sent") {
							t.Errorf("a folder listed as user: %q", lg)
						}
					}
					if len(slices.Compact(slices.Sorted(slices.Values(logins)))) != len(logins) {
						t.Error("a login listed twice")
					}
					t.Logf("%s, cyrusadmin, %s: %d users, among them %q (mailbox %s)", inst.Name, via, len(users), dotted, inst.CyrusMailbox(dotted))

					// noproxyadmin: no admin, but "lr" on the tests' users.
					np, err := listAll(t, l, inst, testserver.CyrusNoProxyAdmin, testserver.CyrusNoProxyAdminPassword)
					if err != nil {
						t.Fatalf("noproxyadmin: %v", err)
					}
					var npLogins []string
					for _, u := range np {
						npLogins = append(npLogins, u.Login)
						if !slices.Contains(ref, inst.CyrusMailbox(u.Login)) {
							t.Errorf("noproxyadmin listed %q, which cyrusadmin does not see", u.Login)
						}
					}
					for _, u := range mine {
						if !slices.Contains(npLogins, u) {
							t.Errorf("noproxyadmin: %q not listed", u)
						}
					}
					t.Logf("%s, noproxyadmin, %s: %d users", inst.Name, via, len(np))

					// A wrong administrator password.
					_, err = listAll(t, l, inst, testserver.CyrusAdmin, "wrong-password")
					if !(connector.KindOf(err) == connector.KindAuth) || strings.Contains(err.Error(), "wrong-password") || !strings.Contains(err.Error(), `"cyrusadmin"`) {
						t.Errorf("wrong password: %v", err)
					}
					t.Logf("%s, wrong password, %s: %v", inst.Name, via, err)

					// An account that may see no user's mailbox.
					_, err = listAll(t, l, inst, alice, "own-secret")
					if !(connector.KindOf(err) == connector.KindPermanent) || !strings.Contains(err.Error(), "sees no user's mailbox") || !strings.Contains(err.Error(), "admins") {
						t.Errorf("a plain user: %v", err)
					}
					t.Logf("%s, plain user, %s: %v", inst.Name, via, err)

					// The callback's error ends the listing.
					stop := connector.Errorf(connector.KindPermanent, "enough")
					err = l.ListUsers(ctxFor(t), &connector.ListUsersRequest{Settings: settings(inst, false),
						Admin: connector.AdminCredential{AuthUser: testserver.CyrusAdmin, Secret: testserver.CyrusAdminPassword}},
						func([]connector.User) error { return stop })
					if err == nil || !strings.Contains(err.Error(), "enough") {
						t.Errorf("callback error: %v", err)
					}
				})
			}
		})
	}
}

// Listing needs the administrator's login name and password.
func TestListUsersInvalid(t *testing.T) {
	c := cyrusconn.New(nil)
	err := c.ListUsers(context.Background(), &connector.ListUsersRequest{Settings: settings(testserver.Cyrus, false),
		Admin: connector.AdminCredential{Secret: "magic"}}, func([]connector.User) error { return nil })
	if !(connector.KindOf(err) == connector.KindInvalid) {
		t.Errorf("no administrator user: %v", err)
	}
}
