package cyrusconn

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

// listUsers is the profile's ListUsers: NAMESPACE gives the other users'
// namespace (prefix and separator), and LIST "" "<prefix>%" returns one
// mailbox per user the administrator may see, each user's INBOX. See the
// package doc.
func listUsers(ctx context.Context, l *imapconn.UserListing, fn func([]connector.User) error) error {
	c := l.Conn
	prefix, delim, err := otherUsers(ctx, l)
	if err != nil {
		return err
	}
	var boxes []*imap.ListData
	err = c.Do(ctx, fmt.Sprintf("list %q", prefix+"%"), func() error {
		var err error
		boxes, err = c.Client.List("", prefix+"%", nil).Collect()
		return err
	})
	if err != nil {
		return connector.Wrap(connector.KindOf(err), fmt.Sprintf("listing users: the administrator %q could not list the other users' namespace %q", l.Admin, prefix), err)
	}
	var users []connector.User
	seen := make(map[string]bool)
	for _, b := range boxes {
		d := delim
		if d == "" && b.Delim != 0 {
			d = string(b.Delim)
		}
		u, ok := userOf(b.Mailbox, prefix, d)
		if !ok || seen[u.Login] || slices.Contains(b.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		seen[u.Login] = true
		switch {
		case dotted(u.Login, d):
			u.Note = "cannot be migrated from this server as it is: " + dottedHidden + "; turn unixhierarchysep on first"
		case slices.Contains(b.Attrs, imap.MailboxAttrNoSelect):
			u.Note = "the administrator sees folders of this user but not the INBOX (no lookup right on it, or it was deleted)"
		case u.Login == l.Admin:
			u.Note = "the administrator's own mailbox"
		}
		users = append(users, u)
	}
	if len(users) == 0 {
		return connector.Errorf(connector.KindPermanent,
			"listing users: the administrator %q sees no user's mailbox under %q (Cyrus's other users' namespace): either the server has no users yet, "+
				"or %q is not a Cyrus administrator (admins in imapd.conf) and has no lookup right (l) on users' mailboxes; "+
				"add it to admins, or import the users from a CSV file", l.Admin, prefix, l.Admin)
	}
	return pages(users, l.PageSize, fn)
}

// pages calls fn with users, size at a time (at least one), and stops at
// its first error.
func pages(users []connector.User, size int, fn func([]connector.User) error) error {
	size = max(size, 1)
	for start := 0; start < len(users); start += size {
		if err := fn(users[start:min(start+size, len(users))]); err != nil {
			return err
		}
	}
	return nil
}

// otherUsers returns the prefix and separator of the other users'
// namespace: NAMESPACE's, or, on a server without NAMESPACE, "user"
// followed by the separator of LIST "" "".
func otherUsers(ctx context.Context, l *imapconn.UserListing) (prefix, delim string, err error) {
	c := l.Conn
	if c.Caps().Has(imap.CapNamespace) {
		var data *imap.NamespaceData
		err := c.Do(ctx, "namespace", func() error {
			var err error
			data, err = c.Client.Namespace().Wait()
			return err
		})
		if err != nil {
			return "", "", err
		}
		if len(data.Other) == 0 || data.Other[0].Prefix == "" {
			return "", "", connector.Errorf(connector.KindPermanent, "listing users: the server shows the administrator %q no other users' namespace (NAMESPACE), where Cyrus shows users' mailboxes: is it Cyrus?", l.Admin)
		}
		prefix = data.Other[0].Prefix
		if data.Other[0].Delim != 0 {
			delim = string(data.Other[0].Delim)
		}
		return prefix, delim, nil
	}
	err = c.Do(ctx, "list delimiter", func() error {
		root, err := c.Client.List("", "", nil).Collect()
		if err == nil && len(root) > 0 && root[0].Delim != 0 {
			delim = string(root[0].Delim)
		}
		return err
	})
	if err != nil {
		return "", "", err
	}
	if delim == "" {
		return "", "", connector.Errorf(connector.KindPermanent, "listing users: the server has neither NAMESPACE nor a hierarchy separator, so the users' mailboxes cannot be found")
	}
	return "user" + delim, delim, nil
}

// userOf maps the name of a user's INBOX in the other users' namespace
// (prefix and separator delim) back to the user's login: "user/john.doe"
// and "user.john^doe" are john.doe (under unixhierarchysep: no, Cyrus
// writes a "." in a user name as "^"); with virtual domains the name
// carries the domain ("user/john@example.com", "user.john^doe@example.com")
// and the login keeps it. Names that are no user's INBOX (a folder below
// one, anything outside the prefix) are not.
func userOf(mailbox, prefix, delim string) (connector.User, bool) {
	rest, ok := strings.CutPrefix(mailbox, prefix)
	if !ok {
		return connector.User{}, false
	}
	local, domain := rest, ""
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		local, domain = rest[:i], rest[i+1:]
		if domain == "" {
			return connector.User{}, false
		}
	}
	if local == "" || (delim != "" && strings.Contains(local, delim)) {
		return connector.User{}, false
	}
	if delim == "." {
		local = strings.ReplaceAll(local, "^", ".")
	}
	if domain == "" {
		return connector.User{Login: local}, true
	}
	login := local + "@" + domain
	return connector.User{Login: login, Address: login}, true
}
