package gmailconn

import (
	"context"
	"fmt"
	"strings"

	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/option"

	"github.com/ternmail/tern/sdk/connector"
)

// directory opens the Admin SDK Directory API as the administrator of
// the settings (or the request's administrator user), with scope
// admin.directory.user.readonly.
func (c *Connector) directory(ctx context.Context, set *Settings, adminUser, secret string) (*api, *admin.Service, error) {
	subject := set.AdminEmail
	if adminUser != "" {
		subject = adminUser
	}
	if subject == "" {
		return nil, nil, connector.Errorf(connector.KindInvalid, "gmail: listing users needs an administrator to impersonate: set the connector's administrator address (admin_email)")
	}
	a, err := c.newAPI(ctx, set, subject, secret, ScopeDirectory)
	if err != nil {
		return nil, nil, err
	}
	svc, err := admin.NewService(ctx, option.WithHTTPClient(a.hc), option.WithEndpoint(set.DirectoryEndpoint))
	if err != nil {
		return nil, nil, connector.Wrap(connector.KindInvalid, "gmail: directory client", err)
	}
	return a, svc, nil
}

// ListUsers implements connector.UserLister: users.list of the
// customer, 500 a page, suspended users left out; archived users and
// users whose mailbox is not set up yet are listed with a note.
func (c *Connector) ListUsers(ctx context.Context, req *connector.ListUsersRequest, fn func([]connector.User) error) error {
	set, err := parseSettings(req.Settings)
	if err != nil {
		return err
	}
	a, svc, err := c.directory(ctx, set, req.Admin.AuthUser, req.Admin.Secret)
	if err != nil {
		return err
	}
	token := ""
	for {
		var res *admin.Users
		err := a.do(ctx, "list users", 1, idempotent, func(ctx context.Context) error {
			call := svc.Users.List().Customer(set.Customer).MaxResults(500).OrderBy("email").Context(ctx)
			if token != "" {
				call = call.PageToken(token)
			}
			var err error
			res, err = call.Do()
			return err
		})
		if err != nil {
			return err
		}
		var page []connector.User
		for _, u := range res.Users {
			if u.Suspended {
				continue
			}
			cu := connector.User{Login: u.PrimaryEmail, Address: u.PrimaryEmail}
			if u.Name != nil {
				cu.DisplayName = u.Name.FullName
			}
			var notes []string
			if u.Archived {
				notes = append(notes, "archived user")
			}
			if !u.IsMailboxSetup {
				notes = append(notes, "mailbox not set up yet")
			}
			cu.Note = strings.Join(notes, "; ")
			page = append(page, cu)
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if token = res.NextPageToken; token == "" {
			return nil
		}
	}
}

// TestConnection implements connector.ConnectionTester. With the service
// account key (the administrator password) and a sample user it gets a
// token for each scope and makes one call with it: labels.list for the
// target scope, getProfile for the source scope; with an administrator
// address, users.list for the directory scope. Each is an attempt in the
// report, with what to fix when it fails.
func (c *Connector) TestConnection(ctx context.Context, req *connector.TestRequest) (*connector.TestReport, error) {
	set, err := parseSettings(req.Settings)
	if err != nil {
		return nil, err
	}
	rep := &connector.TestReport{Server: connector.ServerInfo{Address: set.Endpoint, Product: "Gmail API", TLS: tlsNote(set)}}
	if req.Admin == nil || req.Admin.Secret == "" {
		rep.Notes = append(rep.Notes, "Give the service account's JSON key as the connector's administrator password, without an administrator user (magic password), to test it.")
		return rep, nil
	}
	key, err := parseKey(req.Admin.Secret)
	if err != nil {
		rep.Notes = append(rep.Notes, err.Error())
		return rep, nil
	}
	rep.Server.Greeting = fmt.Sprintf("service account %s (client ID %s)", key.ClientEmail, key.ClientID)
	if req.UserSecret != "" {
		rep.Notes = append(rep.Notes, "Users' own passwords are not used: every mailbox is opened with the service account.")
	}
	attempt := func(login string, fn func() error) bool {
		la := connector.LoginAttempt{Mode: connector.ModePassword, Login: login}
		if err := fn(); err != nil {
			la.Error, la.Kind = err.Error(), connector.KindOf(err)
		} else {
			la.OK = true
		}
		rep.Attempts = append(rep.Attempts, la)
		return la.OK
	}
	if req.SampleUser != "" {
		okT := attempt(fmt.Sprintf("JWT as %s, scope gmail.modify (target), labels.list", req.SampleUser), func() error {
			a, err := c.newAPI(ctx, set, req.SampleUser, req.Admin.Secret, ScopeTarget)
			if err != nil {
				return err
			}
			return a.loadLabels(ctx, &labelCache{})
		})
		okS := attempt(fmt.Sprintf("JWT as %s, scope gmail.readonly (source), getProfile", req.SampleUser), func() error {
			a, err := c.newAPI(ctx, set, req.SampleUser, req.Admin.Secret, ScopeSource)
			if err != nil {
				return err
			}
			_, err = a.historyID(ctx)
			return err
		})
		if okT || okS {
			rep.Recommended = connector.ModePassword
		}
		if !okT {
			rep.Notes = append(rep.Notes, fmt.Sprintf("As a target, the service account needs domain-wide delegation of %s (Admin console → Security → API controls → Domain-wide delegation, client ID %s).", ScopeTarget, key.ClientID))
		}
		if !okS {
			rep.Notes = append(rep.Notes, fmt.Sprintf("As a source, the service account needs domain-wide delegation of %s (client ID %s).", ScopeSource, key.ClientID))
		}
	}
	if set.AdminEmail != "" {
		ok := attempt(fmt.Sprintf("JWT as %s, scope admin.directory.user.readonly, users.list", set.AdminEmail), func() error {
			a, svc, err := c.directory(ctx, set, "", req.Admin.Secret)
			if err != nil {
				return err
			}
			return a.do(ctx, "list users", 1, idempotent, func(ctx context.Context) error {
				_, err := svc.Users.List().Customer(set.Customer).MaxResults(1).Context(ctx).Do()
				return err
			})
		})
		if !ok {
			rep.Notes = append(rep.Notes, fmt.Sprintf("User listing needs domain-wide delegation of %s and an administrator address that is an administrator.", ScopeDirectory))
		}
	}
	return rep, nil
}

func tlsNote(set *Settings) string {
	switch {
	case strings.HasPrefix(set.Endpoint, "http://"):
		return "none"
	case set.InsecureSkipVerify:
		return "TLS, certificate not verified"
	case set.CAFile != "":
		return "TLS, certificate verified with " + set.CAFile
	}
	return "TLS, certificate verified"
}
