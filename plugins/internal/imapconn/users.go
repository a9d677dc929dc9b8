package imapconn

import (
	"context"
	"fmt"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

// ListUsers implements connector.UserLister for profiles with a
// ListUsers hook: the administrator logs in as itself (its own login; the
// request's mode is how it opens users' mailboxes, not how it lists them)
// and the hook lists what it can see. Other profiles have no way to list
// an IMAP server's users and return ErrUnsupported.
func (c *Connector) ListUsers(ctx context.Context, req *connector.ListUsersRequest, fn func([]connector.User) error) error {
	if c.p.ListUsers == nil {
		return connector.Errorf(connector.KindUnsupported, "the %s connector cannot list users: IMAP has no command for it", c.p.ID)
	}
	cfg, err := c.p.parseSettings(req.Settings)
	if err != nil {
		return err
	}
	if req.Admin.AuthUser == "" || req.Admin.Secret == "" {
		return connector.Errorf(connector.KindInvalid, "listing users needs the administrator's login name and password")
	}
	l := &imapkit.PasswordLogin{Username: req.Admin.AuthUser, Password: req.Admin.Secret, Mechanism: cfg.mechanism}
	opts, err := c.dialOptions(cfg, l, c.log.With("connector", c.p.ID, "role", "list-users"))
	if err != nil {
		return err
	}
	conn, err := imapkit.Dial(ctx, opts)
	if err != nil {
		if connector.KindOf(err) == connector.KindAuth {
			return connector.Wrap(connector.KindAuth, fmt.Sprintf("listing users: the administrator %q could not log in as itself", req.Admin.AuthUser), err)
		}
		return err
	}
	defer conn.Close()
	return c.p.ListUsers(ctx, &UserListing{Conn: conn, Admin: req.Admin.AuthUser, PageSize: UsersPageSize}, fn)
}

// UsersPageSize is the number of users ListUsers hands to its callback
// at a time.
const UsersPageSize = 500
