package gmailconn

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"

	"github.com/ternmail/tern/sdk/connector"
)

// target is a mailbox session that imports.
type target struct {
	a      *api
	labels labelCache

	mu  sync.Mutex
	fps map[string]candidate // message ID → size and fingerprint (immutable)
}

// candidate is a Gmail message as a look-up sees it.
type candidate struct {
	id          string
	size        int64
	fingerprint string
	labelIDs    []string
	historyID   uint64
}

var (
	_ connector.Target         = (*target)(nil)
	_ connector.TargetLookup   = (*target)(nil)
	_ connector.TargetFlagSync = (*target)(nil)
)

// Folders lists INBOX, SPAM (\Junk), TRASH (\Trash), the sent and drafts
// labels of the settings (\Sent, \Drafts; listed even before they exist,
// so that the engine maps special-use folders onto them) and every user
// label. The delimiter is "/".
func (t *target) Folders(ctx context.Context) (*connector.Hierarchy, error) {
	if err := t.a.loadLabels(ctx, &t.labels); err != nil {
		return nil, err
	}
	sent, _ := LabelName("", connector.SpecialSent, t.a.set)
	drafts, _ := LabelName("", connector.SpecialDrafts, t.a.set)
	h := &connector.Hierarchy{Delimiter: "/", Folders: []connector.Folder{
		{Name: labelInbox, Delimiter: "/"},
		{Name: labelSpam, Delimiter: "/", SpecialUse: connector.SpecialJunk},
		{Name: labelTrash, Delimiter: "/", SpecialUse: connector.SpecialTrash},
		{Name: sent, Delimiter: "/", SpecialUse: connector.SpecialSent},
		{Name: drafts, Delimiter: "/", SpecialUse: connector.SpecialDrafts},
	}}
	for _, l := range t.labels.userLabels() {
		if strings.EqualFold(l.Name, sent) || strings.EqualFold(l.Name, drafts) {
			continue
		}
		h.Folders = append(h.Folders, connector.Folder{Name: l.Name, Delimiter: "/"})
	}
	return h, nil
}

// EnsureFolder maps the folder to a label (see LabelName) and creates it
// and its parents. The watermark is the mailbox's historyId.
func (t *target) EnsureFolder(ctx context.Context, name, specialUse string) (*connector.TargetFolder, error) {
	n, system := LabelName(name, specialUse, t.a.set)
	tf := &connector.TargetFolder{Name: system}
	if system == "" {
		l, created, err := t.a.ensureLabel(ctx, &t.labels, n)
		if err != nil {
			return nil, err
		}
		tf.Name, tf.Created = l.Name, created
	}
	hid, err := t.a.historyID(ctx)
	if err != nil {
		return nil, err
	}
	tf.Watermark = strconv.FormatUint(hid, 10)
	return tf, nil
}

// historyID returns the mailbox's current historyId (users.getProfile).
func (a *api) historyID(ctx context.Context) (uint64, error) {
	var p *gmail.Profile
	err := a.do(ctx, "get profile", costProfile, idempotent, func(ctx context.Context) error {
		var err error
		p, err = a.svc.Users.GetProfile("me").Context(ctx).Do()
		return err
	})
	if err != nil {
		return 0, err
	}
	return p.HistoryId, nil
}

// labelsFor returns the label IDs a message gets in folder with flags,
// creating keyword labels when the settings ask for them.
func (t *target) labelsFor(ctx context.Context, folderID string, fp flagPlan) ([]string, error) {
	ids := []string{}
	if folderID != "" {
		ids = append(ids, folderID)
	}
	ids = append(ids, fp.system...)
	for _, k := range fp.keywords {
		l, _, err := t.a.ensureLabel(ctx, &t.labels, k)
		if err != nil {
			return nil, err
		}
		ids = append(ids, l.Id)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// Append imports the message (users.messages.import, raw bytes unchanged,
// internalDateSource=dateHeader, neverMarkSpam, no calendar processing,
// explicit labelIds). A message with the same Message-ID and fingerprint
// already imported from another folder gets this folder's label instead
// of a second copy. Messages over 50 MiB are ErrTooLarge.
func (t *target) Append(ctx context.Context, folder string, m *connector.AppendMessage) (*connector.AppendResult, error) {
	if m.Size > MaxMessageSize {
		return nil, connector.Errorf(connector.KindTooLarge, "gmail: the message has %d bytes; Gmail imports at most %d", m.Size, MaxMessageSize)
	}
	folderID, folderName, err := t.a.folderLabel(ctx, &t.labels, folder)
	if err != nil {
		return nil, err
	}
	// Spool the body: it is read once, checked for its size, and can be
	// sent again after a rate-limit answer.
	sp := &spool{}
	defer sp.Close()
	n, err := io.Copy(sp, io.LimitReader(m.Body, m.Size))
	if err != nil {
		return nil, connector.Wrap(connector.KindTemporary, "gmail: reading the message", err)
	}
	if n != m.Size {
		return nil, connector.Errorf(connector.KindPermanent, "gmail: the message body has %d bytes, %d announced", n, m.Size)
	}
	hs := &headerSink{}
	io.Copy(hs, io.LimitReader(sp.Section(), connector.MaxHeaderSection))
	hs.n = m.Size
	fingerprint, header, msgID := hs.fingerprint()

	fp := MapFlags(m.Flags, t.a.set)
	res := &connector.AppendResult{DroppedFlags: fp.dropped}
	switch folderName {
	case t.sentName():
		res.Notes = append(res.Notes, fmt.Sprintf("Gmail's SENT label cannot be set by an import: stored with the label %q", folderName))
	case t.draftsName():
		res.Notes = append(res.Notes, fmt.Sprintf("Gmail's DRAFT label cannot be set by an import: stored with the label %q, not as a draft", folderName))
	}

	// The same message from another folder: one Gmail message, one more
	// label.
	if msgID != "" {
		c, err := t.sameMessage(ctx, msgID, fingerprint, m.Size, folderID)
		if err != nil {
			return nil, err
		}
		if c != nil {
			if err := t.addToExisting(ctx, c, folderID, fp); err != nil {
				return nil, err
			}
			res.Ref = c.id
			res.Notes = append(res.Notes, fmt.Sprintf("already imported from another folder: the Gmail message %s got this folder's label", c.id))
			return res, nil
		}
	}

	labelIDs, err := t.labelsFor(ctx, folderID, fp)
	if err != nil {
		return nil, err
	}
	var msg *gmail.Message
	err = t.a.do(ctx, "import message", costImport, write, func(ctx context.Context) error {
		var err error
		msg, err = t.a.svc.Users.Messages.Import("me", &gmail.Message{LabelIds: labelIDs}).
			Media(sp.Section(), googleapi.ContentType("message/rfc822"), googleapi.ChunkSize(t.a.set.ResumableAbove)).
			InternalDateSource("dateHeader").NeverMarkSpam(true).ProcessForCalendar(false).
			Fields("id", "labelIds", "internalDate", "historyId").Context(ctx).Do()
		return err
	})
	if err != nil {
		return nil, err
	}
	res.Ref = msg.Id
	if note := dateNote(header, m.InternalDate, msg.InternalDate, t.a.set.dateTolerance()); note != "" {
		res.Notes = append(res.Notes, note)
	}
	t.mu.Lock()
	t.fps[msg.Id] = candidate{id: msg.Id, size: m.Size, fingerprint: fingerprint}
	t.mu.Unlock()
	return res, nil
}

func (t *target) sentName() string {
	n, _ := LabelName("", connector.SpecialSent, t.a.set)
	if l, _ := t.a.findLabel(context.Background(), &t.labels, n, false); l != nil {
		return l.Name
	}
	return n
}

func (t *target) draftsName() string {
	n, _ := LabelName("", connector.SpecialDrafts, t.a.set)
	if l, _ := t.a.findLabel(context.Background(), &t.labels, n, false); l != nil {
		return l.Name
	}
	return n
}

// dateNote says when Gmail's date for the message differs from the
// source's INTERNALDATE by more than tol: Gmail takes the Date: header
// (or, without a valid one, the time of the import).
func dateNote(header []byte, internal time.Time, gmailMillis int64, tol time.Duration) string {
	if internal.IsZero() {
		return ""
	}
	hdrDate, ok := headerDate(header)
	got := hdrDate
	if gmailMillis > 0 {
		got = time.UnixMilli(gmailMillis)
	}
	if !ok && gmailMillis <= 0 {
		return fmt.Sprintf("the message has no valid Date: header: Gmail dates it at the import, not at its received date %s", internal.UTC().Format(time.RFC3339))
	}
	d := got.Sub(internal)
	if d < 0 {
		d = -d
	}
	if d <= tol {
		return ""
	}
	if !ok {
		return fmt.Sprintf("the message has no valid Date: header: Gmail dates it %s (the import), not at its received date %s", got.UTC().Format(time.RFC3339), internal.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("Gmail dates the message by its Date: header, %s, not by its received date %s", got.UTC().Format(time.RFC3339), internal.UTC().Format(time.RFC3339))
}

// headerDate parses the Date: header of a header section.
func headerDate(header []byte) (time.Time, bool) {
	msg, err := mail.ReadMessage(bufio.NewReader(io.MultiReader(bytes.NewReader(header), strings.NewReader("\r\n"))))
	if err != nil {
		return time.Time{}, false
	}
	d, err := msg.Header.Date()
	return d, err == nil
}

// sameMessage finds a Gmail message with this Message-ID and content
// that does not have the folder's label yet (a copy from another
// folder), or nil.
func (t *target) sameMessage(ctx context.Context, msgID, fingerprint string, size int64, folderID string) (*candidate, error) {
	ids, err := t.a.searchMessageID(ctx, msgID)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		c, err := t.candidate(ctx, id)
		if errors.Is(err, connector.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if c.fingerprint == fingerprint && c.size == size && !slices.Contains(c.labelIDs, folderID) {
			return c, nil
		}
	}
	return nil, nil
}

// searchMessageID lists the messages with a Message-ID
// (q=rfc822msgid:, spam and trash included), in ascending ID order.
func (a *api) searchMessageID(ctx context.Context, msgID string) ([]string, error) {
	return a.listIDs(ctx, "", "rfc822msgid:"+strings.TrimSuffix(strings.TrimPrefix(msgID, "<"), ">"), true)
}

// sortIDs sorts Gmail message IDs (hexadecimal) in ascending order.
func sortIDs(ids []string) {
	slices.SortFunc(ids, compareIDs)
}

func compareIDs(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// candidate returns a message's size, fingerprint, labels and historyId:
// one messages.get format=raw, streamed (the body is not kept), or, when
// the content is known from this session, format=minimal.
func (t *target) candidate(ctx context.Context, id string) (*candidate, error) {
	t.mu.Lock()
	known, ok := t.fps[id]
	t.mu.Unlock()
	if ok {
		var msg *gmail.Message
		err := t.a.do(ctx, "get message "+id, costGet, idempotent, func(ctx context.Context) error {
			var err error
			msg, err = t.a.svc.Users.Messages.Get("me", id).Format("minimal").Fields("id", "labelIds", "historyId").Context(ctx).Do()
			return err
		})
		if err != nil {
			return nil, err
		}
		known.labelIDs, known.historyID = msg.LabelIds, msg.HistoryId
		return &known, nil
	}
	hs := &headerSink{}
	meta, err := t.a.getRaw(ctx, id, hs)
	if err != nil {
		return nil, err
	}
	fp, _, _ := hs.fingerprint()
	c := candidate{id: id, size: hs.n, fingerprint: fp}
	t.mu.Lock()
	t.fps[id] = c
	t.mu.Unlock()
	c.labelIDs, c.historyID = meta.LabelIDs, meta.HistoryID
	return &c, nil
}

// addToExisting gives an existing message the folder's label and merges
// the flags: read if any copy was read, starred if any copy was flagged
// (Gmail keeps one state per message).
func (t *target) addToExisting(ctx context.Context, c *candidate, folderID string, fp flagPlan) error {
	add := []string{folderID}
	if fp.flagged {
		add = append(add, labelStarred)
	}
	kw, err := t.labelsFor(ctx, "", flagPlan{keywords: fp.keywords})
	if err != nil {
		return err
	}
	add = append(add, kw...)
	var remove []string
	if fp.seen && slices.Contains(c.labelIDs, labelUnread) {
		remove = append(remove, labelUnread)
	}
	return t.a.modify(ctx, c.id, add, remove)
}

func (a *api) modify(ctx context.Context, id string, add, remove []string) error {
	return a.do(ctx, "modify message "+id, costModify, idempotent, func(ctx context.Context) error {
		_, err := a.svc.Users.Messages.Modify("me", id, &gmail.ModifyMessageRequest{AddLabelIds: add, RemoveLabelIds: remove}).Fields("id").Context(ctx).Do()
		return err
	})
}

// Lookup finds messages of folder matching q: by rfc822msgid: when the
// query has a Message-ID, else among the messages that got the folder's
// label since the watermark (history.list). A match has the folder's
// label, the same size and fingerprint (its raw content is fetched once
// per session to compute it) and, with a watermark, a historyId after it
// (it was imported or labelled later).
func (t *target) Lookup(ctx context.Context, folder string, q *connector.LookupQuery) ([]string, error) {
	folderID, _, err := t.a.folderLabel(ctx, &t.labels, folder)
	if errors.Is(err, connector.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	since, _ := strconv.ParseUint(q.Since, 10, 64)
	var ids []string
	switch {
	case q.MessageID != "":
		ids, err = t.a.searchMessageID(ctx, q.MessageID)
	case since > 0:
		ids, err = t.a.labelledSince(ctx, folderID, since)
		if errors.Is(err, connector.ErrNotFound) { // history too old
			ids, err = t.a.listLabel(ctx, folderID, true)
		}
	default:
		ids, err = t.a.listLabel(ctx, folderID, true)
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		c, err := t.candidate(ctx, id)
		if errors.Is(err, connector.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(c.labelIDs, folderID) || (q.Fingerprint != "" && c.fingerprint != q.Fingerprint) ||
			(q.Size > 0 && c.size != q.Size) || (since > 0 && c.historyID <= since) {
			continue
		}
		out = append(out, id)
	}
	sortIDs(out)
	return out, nil
}

// labelledSince returns the messages added with, or given, label since
// historyId since. A historyId too old for Gmail's history is
// ErrNotFound.
func (a *api) labelledSince(ctx context.Context, labelID string, since uint64) ([]string, error) {
	var ids []string
	err := a.history(ctx, since, labelID, func(h *gmail.History) {
		for _, m := range h.MessagesAdded {
			if m.Message != nil && slices.Contains(m.Message.LabelIds, labelID) {
				ids = append(ids, m.Message.Id)
			}
		}
		for _, l := range h.LabelsAdded {
			if l.Message != nil && slices.Contains(l.LabelIds, labelID) {
				ids = append(ids, l.Message.Id)
			}
		}
	})
	sortIDs(ids)
	return slices.Compact(ids), err
}

// history pages through history.list since a historyId (2 units a page).
func (a *api) history(ctx context.Context, since uint64, labelID string, fn func(*gmail.History)) error {
	token := ""
	for {
		var res *gmail.ListHistoryResponse
		err := a.do(ctx, "list history", costHistory, idempotent, func(ctx context.Context) error {
			call := a.svc.Users.History.List("me").StartHistoryId(since).MaxResults(500).
				HistoryTypes("messageAdded", "labelAdded", "labelRemoved").Context(ctx)
			if labelID != "" {
				call = call.LabelId(labelID)
			}
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
		for _, h := range res.History {
			fn(h)
		}
		if token = res.NextPageToken; token == "" {
			return nil
		}
	}
}

// listLabel returns the IDs of the messages with a label (or all
// messages for ""), ascending.
func (a *api) listLabel(ctx context.Context, labelID string, spamTrash bool) ([]string, error) {
	return a.listIDs(ctx, labelID, "", spamTrash)
}

// listIDs pages through messages.list (500 a page, 5 units each) with a
// label and a query, and returns the IDs in ascending order.
func (a *api) listIDs(ctx context.Context, labelID, q string, spamTrash bool) ([]string, error) {
	var ids []string
	token := ""
	for {
		var res *gmail.ListMessagesResponse
		err := a.do(ctx, "list messages", costList, idempotent, func(ctx context.Context) error {
			call := a.svc.Users.Messages.List("me").IncludeSpamTrash(spamTrash).MaxResults(500).Fields("messages/id", "nextPageToken").Context(ctx)
			if labelID != "" {
				call = call.LabelIds(labelID)
			}
			if q != "" {
				call = call.Q(q)
			}
			if token != "" {
				call = call.PageToken(token)
			}
			var err error
			res, err = call.Do()
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, m := range res.Messages {
			ids = append(ids, m.Id)
		}
		if token = res.NextPageToken; token == "" {
			break
		}
	}
	sortIDs(ids)
	return slices.Compact(ids), nil
}

// SetFlags replaces the flags Gmail keeps (UNREAD, STARRED, keyword
// labels) of a message.
func (t *target) SetFlags(ctx context.Context, folder, ref string, flags []string) (*connector.SetFlagsResult, error) {
	fp := MapFlags(flags, t.a.set)
	var msg *gmail.Message
	err := t.a.do(ctx, "get message "+ref, costGet, idempotent, func(ctx context.Context) error {
		var err error
		msg, err = t.a.svc.Users.Messages.Get("me", ref).Format("minimal").Fields("id", "labelIds").Context(ctx).Do()
		return err
	})
	if err != nil {
		return nil, err
	}
	want, err := t.labelsFor(ctx, "", fp)
	if err != nil {
		return nil, err
	}
	var add, remove []string
	for _, id := range want {
		if !slices.Contains(msg.LabelIds, id) {
			add = append(add, id)
		}
	}
	for _, id := range msg.LabelIds {
		managed := id == labelUnread || id == labelStarred || (t.a.set.KeywordLabels && strings.HasPrefix(t.labels.name(id), t.a.set.KeywordPrefix))
		if managed && !slices.Contains(want, id) {
			remove = append(remove, id)
		}
	}
	if len(add)+len(remove) > 0 {
		if err := t.a.modify(ctx, ref, add, remove); err != nil {
			return nil, err
		}
	}
	return &connector.SetFlagsResult{DroppedFlags: fp.dropped}, nil
}

// Close implements connector.Target.
func (t *target) Close(context.Context) error { return nil }
