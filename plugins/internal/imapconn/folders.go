package imapconn

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

// namespaces is what NAMESPACE (RFC 2342) says: the personal namespace's
// prefix and delimiter, and the prefixes of the other users' and shared
// namespaces, whose folders are not the mailbox's own.
type namespaces struct {
	prefix  string
	delim   string
	foreign []string
}

// namespaces asks the server once per session.
func (s *session) namespaces(ctx context.Context, c *imapkit.Conn) (*namespaces, error) {
	s.nsMu.Lock()
	defer s.nsMu.Unlock()
	if s.ns != nil {
		return s.ns, nil
	}
	ns := &namespaces{}
	if c.Caps().Has(imap.CapNamespace) {
		var data *imap.NamespaceData
		err := c.Do(ctx, "namespace", func() error {
			var err error
			data, err = c.Client.Namespace().Wait()
			return err
		})
		if err != nil {
			return nil, err
		}
		if len(data.Personal) > 0 {
			ns.prefix = data.Personal[0].Prefix
			if d := data.Personal[0].Delim; d != 0 {
				ns.delim = string(d)
			}
		}
		for _, d := range append(append([]imap.NamespaceDescriptor(nil), data.Other...), data.Shared...) {
			if d.Prefix != "" {
				ns.foreign = append(ns.foreign, d.Prefix)
			}
		}
	} else {
		// Without NAMESPACE, LIST "" "" returns the root's delimiter
		// (RFC 9051 §6.3.9).
		err := c.Do(ctx, "list delimiter", func() error {
			l, err := c.Client.List("", "", nil).Collect()
			if err == nil && len(l) > 0 && l[0].Delim != 0 {
				ns.delim = string(l[0].Delim)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	s.ns = ns
	return ns, nil
}

// Folders implements connector.Source and connector.Target: LIST "" "*",
// with RETURN (SPECIAL-USE) where the server has LIST-EXTENDED, without
// the other users' and shared namespaces.
func (s *session) Folders(ctx context.Context) (*connector.Hierarchy, error) {
	var h *connector.Hierarchy
	err := s.run(ctx, "", always, func(c *imapkit.Conn) error {
		ns, err := s.namespaces(ctx, c)
		if err != nil {
			return err
		}
		var opts *imap.ListOptions
		if c.Caps().Has(imap.CapListExtended) && c.Caps().Has(imap.CapSpecialUse) {
			opts = &imap.ListOptions{ReturnSpecialUse: true}
		}
		var list []*imap.ListData
		if err := c.Do(ctx, "list folders", func() error {
			var err error
			list, err = c.Client.List("", "*", opts).Collect()
			return err
		}); err != nil {
			return err
		}
		h = &connector.Hierarchy{Delimiter: ns.delim, Prefix: ns.prefix}
		inbox := false
		for _, l := range list {
			if ns.isForeign(l.Mailbox) {
				continue
			}
			h.Folders = append(h.Folders, folderOf(l))
			inbox = inbox || strings.EqualFold(l.Mailbox, "INBOX")
		}
		if !inbox && s.p.InboxUnlisted != nil {
			return s.p.InboxUnlisted(s.user, h)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (ns *namespaces) isForeign(name string) bool {
	for _, p := range ns.foreign {
		if strings.HasPrefix(name, p) || name+ns.delim == p || name == strings.TrimSuffix(p, ns.delim) {
			return true
		}
	}
	return false
}

var specialUses = []imap.MailboxAttr{
	imap.MailboxAttrAll, imap.MailboxAttrArchive, imap.MailboxAttrDrafts, imap.MailboxAttrFlagged,
	imap.MailboxAttrJunk, imap.MailboxAttrSent, imap.MailboxAttrTrash,
}

func folderOf(l *imap.ListData) connector.Folder {
	f := connector.Folder{Name: l.Mailbox}
	if l.Delim != 0 {
		f.Delimiter = string(l.Delim)
	}
	inbox := strings.EqualFold(l.Mailbox, "INBOX")
	for _, a := range l.Attrs {
		switch {
		case strings.EqualFold(string(a), string(imap.MailboxAttrNoSelect)), strings.EqualFold(string(a), string(imap.MailboxAttrNonExistent)):
			f.NoSelect = true
		case !inbox && f.SpecialUse == "" && isSpecialUse(a):
			f.SpecialUse = canonicalAttr(a)
		default:
			f.Attributes = append(f.Attributes, string(a))
		}
	}
	return f
}

func isSpecialUse(a imap.MailboxAttr) bool {
	for _, su := range specialUses {
		if strings.EqualFold(string(a), string(su)) {
			return true
		}
	}
	return false
}

func canonicalAttr(a imap.MailboxAttr) string {
	for _, su := range specialUses {
		if strings.EqualFold(string(a), string(su)) {
			return string(su)
		}
	}
	return string(a)
}

// status runs STATUS. A folder the server does not know is KindNotFound.
func (s *session) status(ctx context.Context, c *imapkit.Conn, folder string, opts *imap.StatusOptions) (*imap.StatusData, error) {
	var data *imap.StatusData
	err := c.Do(ctx, "status of "+strconv.Quote(folder), func() error {
		var err error
		data, err = c.Client.Status(folder, opts).Wait()
		return err
	})
	if err != nil {
		return nil, s.notFound(ctx, c, folder, err)
	}
	return data, nil
}

// notFound makes a refusal concerning folder KindNotFound when the folder
// does not exist, for servers that say so without RFC 5530's NONEXISTENT
// code: it looks the name up with LIST.
func (s *session) notFound(ctx context.Context, c *imapkit.Conn, folder string, err error) error {
	if connector.KindOf(err) != connector.KindPermanent || imapkit.Response(err) == nil || c.Broken() {
		return err
	}
	exists := false
	lerr := c.Do(ctx, "list "+strconv.Quote(folder), func() error {
		l, err := c.Client.List("", folder, nil).Collect()
		for _, d := range l {
			if d.Mailbox == folder || (strings.EqualFold(folder, "INBOX") && d.Mailbox == "INBOX") {
				exists = true
			}
		}
		return err
	})
	if lerr != nil || exists {
		return err
	}
	var ce *connector.Error
	if errors.As(err, &ce) {
		out := *ce
		out.Kind = connector.KindNotFound
		return &out
	}
	return err
}

// uidValidity renders a UIDVALIDITY as a FolderStatus.Validity.
func uidValidity(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
