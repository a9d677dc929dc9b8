package gmailconn

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/api/gmail/v1"

	"github.com/ternmail/tern/sdk/connector"
)

// source is a mailbox session that reads (scope gmail.readonly).
type source struct {
	a      *api
	labels labelCache
}

var _ connector.Source = (*source)(nil)

// Folders lists INBOX, SENT (\Sent), DRAFT (\Drafts), SPAM (\Junk),
// TRASH (\Trash), every user label (keyword labels excepted when keyword
// labels are on) and the virtual Archive folder (\Archive) of messages
// without any folder label. STARRED and UNREAD are flags, IMPORTANT and
// the CATEGORY_ labels Gmail's classification: none is a folder.
func (s *source) Folders(ctx context.Context) (*connector.Hierarchy, error) {
	if err := s.a.loadLabels(ctx, &s.labels); err != nil {
		return nil, err
	}
	h := &connector.Hierarchy{Delimiter: "/", Folders: []connector.Folder{
		{Name: labelInbox, Delimiter: "/"},
		{Name: labelSent, Delimiter: "/", SpecialUse: connector.SpecialSent},
		{Name: labelDraft, Delimiter: "/", SpecialUse: connector.SpecialDrafts},
		{Name: labelSpam, Delimiter: "/", SpecialUse: connector.SpecialJunk},
		{Name: labelTrash, Delimiter: "/", SpecialUse: connector.SpecialTrash},
	}}
	for _, l := range s.labels.userLabels() {
		if isFlagLabel(l.Id, l.Name, s.a.set) {
			continue
		}
		h.Folders = append(h.Folders, connector.Folder{Name: l.Name, Delimiter: "/"})
	}
	h.Folders = append(h.Folders, connector.Folder{Name: archiveFolder, Delimiter: "/", SpecialUse: connector.SpecialArchive})
	return h, nil
}

// folderID resolves a source folder to a label ID ("" for Archive).
func (s *source) folderID(ctx context.Context, folder string) (string, error) {
	switch folder {
	case labelInbox, labelSent, labelDraft, labelSpam, labelTrash:
		return folder, nil
	case archiveFolder:
		return "", nil
	}
	if strings.EqualFold(folder, labelInbox) {
		return labelInbox, nil
	}
	for _, reload := range []bool{false, true} {
		l, err := s.a.findLabel(ctx, &s.labels, folder, reload)
		if err != nil {
			return "", err
		}
		if l != nil && l.Name == folder {
			return l.Id, nil
		}
	}
	return "", connector.Errorf(connector.KindNotFound, "gmail: no label %q", folder)
}

// validity of a folder: its label ID (a label deleted and created again
// under the same name is another folder); message IDs never change.
func validity(labelID string) string {
	if labelID == "" {
		return "archive"
	}
	return labelID
}

// Status implements connector.Source. Messages is the label's message
// count (labels.get), which counts a message in each of its labels; 0
// for the Archive folder, whose size Gmail does not tell.
func (s *source) Status(ctx context.Context, folder string) (*connector.FolderStatus, error) {
	id, err := s.folderID(ctx, folder)
	if err != nil {
		return nil, err
	}
	st := &connector.FolderStatus{Validity: validity(id)}
	if id == "" {
		return st, nil
	}
	var l *gmail.Label
	err = s.a.do(ctx, "get label", costLabelsGet, idempotent, func(ctx context.Context) error {
		var err error
		l, err = s.a.svc.Users.Labels.Get("me", id).Context(ctx).Do()
		return err
	})
	if err != nil {
		return nil, err
	}
	st.Messages = l.MessagesTotal
	return st, nil
}

// checkpoint is "v1:<label ID>:<historyId>".
func makeCheckpoint(labelID string, hid uint64) connector.Checkpoint {
	return connector.Checkpoint("v1:" + validity(labelID) + ":" + strconv.FormatUint(hid, 10))
}

func parseCheckpoint(cp connector.Checkpoint, labelID string) (uint64, bool) {
	parts := strings.Split(string(cp), ":")
	if len(parts) != 3 || parts[0] != "v1" || parts[1] != validity(labelID) {
		return 0, false
	}
	hid, err := strconv.ParseUint(parts[2], 10, 64)
	return hid, err == nil && hid > 0
}

// List lists a folder's messages in ascending ID order. Each message is
// listed in its primary folder only (see primaryFolder), unless the
// settings list it in every label. Metadata comes from format=raw
// (streamed; only the header section is kept), because the fingerprint
// needs the exact size and header bytes. With a checkpoint, only what
// history.list shows changed since is listed; a history too old
// (404) lists everything.
func (s *source) List(ctx context.Context, folder string, q *connector.ListQuery, fn func(page []connector.Message) error) (*connector.ListResult, error) {
	id, err := s.folderID(ctx, folder)
	if err != nil {
		return nil, err
	}
	if q == nil {
		q = &connector.ListQuery{}
	}
	pageSize := q.PageSize
	if pageSize <= 0 {
		pageSize = 100
	}
	hid, err := s.a.historyID(ctx)
	if err != nil {
		return nil, err
	}
	res := &connector.ListResult{Checkpoint: makeCheckpoint(id, hid), Validity: validity(id)}
	if since, ok := parseCheckpoint(q.Since, id); ok {
		err := s.delta(ctx, folder, id, since, pageSize, fn)
		if err == nil || !errors.Is(err, connector.ErrNotFound) {
			return res, err
		}
		s.a.log.Info("gmail: history since the checkpoint is gone; listing the whole folder", "folder", folder)
	}
	spamTrash := id == labelSpam || id == labelTrash || id == "" || s.a.set.ListInEveryLabel
	ids, err := s.a.listLabel(ctx, id, spamTrash)
	if err != nil {
		return nil, err
	}
	return res, s.emit(ctx, folder, ids, nil, pageSize, fn)
}

// emit fetches the metadata of ids and calls fn with pages of the
// messages that belong in folder; flagsOnly holds IDs to list with
// their flags only (current labels given).
func (s *source) emit(ctx context.Context, folder string, ids []string, flagsOnly map[string][]string, pageSize int, fn func([]connector.Message) error) error {
	var page []connector.Message
	flush := func() error {
		if len(page) == 0 {
			return nil
		}
		err := fn(page)
		page = nil
		return err
	}
	for _, id := range ids {
		var m *connector.Message
		if labels, ok := flagsOnly[id]; ok {
			if !s.belongs(labels, folder) {
				continue
			}
			m = &connector.Message{ID: id, FlagsOnly: true, Flags: flagsOf(labels, s.labels.name, s.a.set)}
		} else {
			hs := &headerSink{}
			meta, err := s.a.getRaw(ctx, id, hs)
			if errors.Is(err, connector.ErrNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				return err
			}
			if !s.belongs(meta.LabelIDs, folder) {
				continue
			}
			fp, _, msgID := hs.fingerprint()
			m = &connector.Message{
				ID: id, Size: hs.n, InternalDate: time.UnixMilli(meta.InternalDate),
				Flags: flagsOf(meta.LabelIDs, s.labels.name, s.a.set), MessageID: msgID, Fingerprint: fp,
			}
		}
		page = append(page, *m)
		if len(page) >= pageSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// belongs says whether a message with labels is listed in folder.
func (s *source) belongs(labels []string, folder string) bool {
	if folder == archiveFolder || !s.a.set.ListInEveryLabel {
		return primaryFolder(labels, s.labels.name, s.a.set) == folder
	}
	id, _ := s.folderID(context.Background(), folder)
	return slices.Contains(labels, id)
}

// delta lists what changed since historyId since: messages that arrived
// in the folder (full metadata) and messages whose flags changed
// (FlagsOnly). Messages listed again that the engine already copied are
// recognised by their ID.
func (s *source) delta(ctx context.Context, folder, labelID string, since uint64, pageSize int, fn func([]connector.Message) error) error {
	full := map[string]bool{}
	current := map[string][]string{}
	err := s.a.history(ctx, since, "", func(h *gmail.History) {
		for _, m := range h.MessagesAdded {
			if m.Message != nil {
				full[m.Message.Id] = true
				current[m.Message.Id] = m.Message.LabelIds
			}
		}
		for _, l := range h.LabelsAdded {
			if l.Message != nil {
				current[l.Message.Id] = l.Message.LabelIds
				if s.folderish(l.LabelIds) {
					full[l.Message.Id] = true
				}
			}
		}
		for _, l := range h.LabelsRemoved {
			if l.Message != nil {
				current[l.Message.Id] = l.Message.LabelIds
				if s.folderish(l.LabelIds) {
					full[l.Message.Id] = true
				}
			}
		}
	})
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(current))
	flagsOnly := map[string][]string{}
	for id, labels := range current {
		ids = append(ids, id)
		if !full[id] {
			flagsOnly[id] = labels
		}
	}
	sortIDs(ids)
	return s.emit(ctx, folder, ids, flagsOnly, pageSize, fn)
}

// folderish says whether a label change can move a message between
// folders (as opposed to changing its flags only).
func (s *source) folderish(labelIDs []string) bool {
	for _, id := range labelIDs {
		if !isFlagLabel(id, s.labels.name(id), s.a.set) {
			return true
		}
	}
	return false
}

// Fetch streams a message's raw bytes (format=raw, decoded as it
// arrives into a spool: memory up to 8 MiB, then an unlinked temporary
// file), so its exact size is known before the first byte is read.
func (s *source) Fetch(ctx context.Context, folder, id string) (connector.Body, error) {
	sp := &spool{}
	_, err := s.a.getRaw(ctx, id, sp)
	if err != nil {
		sp.Close()
		if statusOf(err) == 400 { // "Invalid id value"
			return nil, connector.Errorf(connector.KindNotFound, "gmail: no message %s: %v", id, err)
		}
		return nil, err
	}
	return &spoolBody{s: sp, r: sp.Section()}, nil
}

// Close implements connector.Source.
func (s *source) Close(context.Context) error { return nil }
