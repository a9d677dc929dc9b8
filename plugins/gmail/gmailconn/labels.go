package gmailconn

import (
	"context"
	"slices"
	"strings"
	"sync"

	"google.golang.org/api/gmail/v1"

	"github.com/ternmail/tern/sdk/connector"
)

// System label IDs.
const (
	labelInbox   = "INBOX"
	labelSpam    = "SPAM"
	labelTrash   = "TRASH"
	labelSent    = "SENT"
	labelDraft   = "DRAFT"
	labelUnread  = "UNREAD"
	labelStarred = "STARRED"
)

// archiveFolder is the source's virtual folder of messages that have no
// folder label (Gmail's archived mail).
const archiveFolder = "Archive"

// reservedNames are the label names Gmail refuses for user labels
// ("Invalid label name"), compared case-insensitively: the system labels
// and the list GYB keeps (gyb.py), plus the CATEGORY_ names.
var reservedNames = map[string]bool{
	"inbox": true, "spam": true, "trash": true, "unread": true, "starred": true, "important": true,
	"sent": true, "draft": true, "drafts": true, "chat": true, "chats": true, "migrated": true,
	"todo": true, "todos": true, "buzz": true, "bin": true, "allmail": true, "archive": true,
	"archived": true, "muted": true,
	"category_personal": true, "category_social": true, "category_promotions": true,
	"category_updates": true, "category_forums": true,
}

// LabelName maps a target folder name to a Gmail user label name, or to a
// system label ID (system != ""). The rules, applied in order:
//
//  1. The special uses \Junk and \Trash go to SPAM and TRASH; \Sent and
//     \Drafts to the sent and drafts labels of the settings (Gmail's SENT
//     and DRAFT cannot be set by an import).
//  2. INBOX (any case) is INBOX; the names SPAM and TRASH (as the
//     target's folder list shows them) are those system labels.
//  3. Otherwise the name is a user label, "/" nesting: each component is
//     trimmed of leading and trailing blanks (Gmail refuses them), an
//     empty component becomes "_", and a component that is a reserved
//     name (case-insensitive: inbox, spam, trash, sent, drafts, archive,
//     … see reservedNames) gets suffix appended, e.g. "Archive" →
//     "Archive (imported)", "Sent/2019" → "Sent (imported)/2019".
func LabelName(folder, specialUse string, set *Settings) (name, system string) {
	switch specialUse {
	case connector.SpecialJunk:
		return "", labelSpam
	case connector.SpecialTrash:
		return "", labelTrash
	case connector.SpecialSent:
		folder = set.SentLabel
	case connector.SpecialDrafts:
		folder = set.DraftsLabel
	}
	if strings.EqualFold(folder, labelInbox) {
		return "", labelInbox
	}
	if folder == labelSpam || folder == labelTrash {
		return "", folder
	}
	parts := strings.Split(folder, "/")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			p = "_"
		}
		if reservedNames[strings.ToLower(p)] {
			p += DefaultReservedSuffix
		}
		parts[i] = p
	}
	return strings.Join(parts, "/"), ""
}

// labelCache is a session's view of the mailbox's labels.
type labelCache struct {
	mu     sync.Mutex
	byID   map[string]*gmail.Label
	byName map[string]*gmail.Label // lower-case name
	loaded bool
}

func (c *labelCache) set(labels []*gmail.Label) {
	c.byID = map[string]*gmail.Label{}
	c.byName = map[string]*gmail.Label{}
	for _, l := range labels {
		c.byID[l.Id] = l
		if l.Type != "system" {
			c.byName[strings.ToLower(l.Name)] = l
		}
	}
	c.loaded = true
}

func (c *labelCache) add(l *gmail.Label) {
	c.byID[l.Id] = l
	c.byName[strings.ToLower(l.Name)] = l
}

// load lists the labels (1 unit).
func (a *api) loadLabels(ctx context.Context, c *labelCache) error {
	var res *gmail.ListLabelsResponse
	err := a.do(ctx, "list labels", costLabelsList, idempotent, func(ctx context.Context) error {
		var err error
		res, err = a.svc.Users.Labels.List("me").Context(ctx).Do()
		return err
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.set(res.Labels)
	c.mu.Unlock()
	return nil
}

// find returns the user label named name (case-insensitively), loading
// the labels once if needed, or nil.
func (a *api) findLabel(ctx context.Context, c *labelCache, name string, reload bool) (*gmail.Label, error) {
	c.mu.Lock()
	l, loaded := c.byName[strings.ToLower(name)], c.loaded
	c.mu.Unlock()
	if l != nil || (loaded && !reload) {
		return l, nil
	}
	if err := a.loadLabels(ctx, c); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byName[strings.ToLower(name)], nil
}

// ensureLabel returns the user label name (a mapped name), creating it
// and its parents if needed. A name that differs only in case from an
// existing label is that label: Gmail compares names case-insensitively
// and answers 409 to a create.
func (a *api) ensureLabel(ctx context.Context, c *labelCache, name string) (*gmail.Label, bool, error) {
	parts := strings.Split(name, "/")
	var l *gmail.Label
	created := false
	for i := range parts {
		n := strings.Join(parts[:i+1], "/")
		var err error
		l, created, err = a.ensureOne(ctx, c, n)
		if err != nil {
			return nil, false, err
		}
	}
	return l, created, nil
}

func (a *api) ensureOne(ctx context.Context, c *labelCache, name string) (*gmail.Label, bool, error) {
	l, err := a.findLabel(ctx, c, name, false)
	if err != nil || l != nil {
		return l, false, err
	}
	var nl *gmail.Label
	err = a.do(ctx, "create label "+name, costLabelsNew, write, func(ctx context.Context) error {
		var err error
		nl, err = a.svc.Users.Labels.Create("me", &gmail.Label{
			Name: name, LabelListVisibility: "labelShow", MessageListVisibility: "show",
		}).Context(ctx).Do()
		return err
	})
	if err == nil {
		c.mu.Lock()
		c.add(nl)
		c.mu.Unlock()
		return nl, true, nil
	}
	if st := statusOf(err); st == 409 || connector.IsTemporary(err) {
		// Exists (another session, another case) or may have been
		// created before a failure: look again.
		if l, lerr := a.findLabel(ctx, c, name, true); lerr == nil && l != nil {
			return l, false, nil
		}
	}
	if connector.KindOf(err) == connector.KindPermanent {
		return nil, false, connector.Errorf(connector.KindPermanent, "gmail: cannot create label %q: %v", name, err)
	}
	return nil, false, err
}

// folderLabel resolves a target folder name to its label ID. A user
// label that does not exist is ErrNotFound.
func (a *api) folderLabel(ctx context.Context, c *labelCache, folder string) (id, name string, err error) {
	n, system := LabelName(folder, "", a.set)
	if system != "" {
		return system, system, nil
	}
	l, err := a.findLabel(ctx, c, n, false)
	if err == nil && l == nil {
		l, err = a.findLabel(ctx, c, n, true)
	}
	if err != nil {
		return "", "", err
	}
	if l == nil {
		return "", "", connector.Errorf(connector.KindNotFound, "gmail: no label %q", n)
	}
	return l.Id, l.Name, nil
}

// userLabels returns the user labels sorted by name.
func (c *labelCache) userLabels() []*gmail.Label {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*gmail.Label
	for _, l := range c.byID {
		if l.Type != "system" {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b *gmail.Label) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// name returns a user label's name, "" for system and unknown labels.
func (c *labelCache) name(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.byID[id]; l != nil && l.Type != "system" {
		return l.Name
	}
	return ""
}

func (c *labelCache) isUser(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.byID[id]
	return l != nil && l.Type != "system"
}
