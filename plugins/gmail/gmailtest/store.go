package gmailtest

import (
	"bufio"
	"bytes"
	"fmt"
	"net/mail"
	"net/textproto"
	"slices"
	"sort"
	"strings"
	"time"
)

// user is a Workspace user: a Directory entry and, unless NoMailbox, a Gmail mailbox.
type user struct {
	DirectoryUser
	mailbox bool

	labels    map[string]*Label // by id
	labelSeq  int
	msgs      []*stored
	byID      map[string]*stored
	historyID uint64
	history   []historyRecord
	floor     uint64 // history ids below it are too old (404)
}

func (u *user) domain() string {
	_, d, _ := strings.Cut(strings.ToLower(u.Email), "@")
	return d
}

// DirectoryUser is a user as the Admin SDK Directory API lists it (§1.8).
type DirectoryUser struct {
	Email          string
	GivenName      string
	FamilyName     string
	Admin          bool
	Suspended      bool
	Archived       bool
	IsMailboxSetup bool
}

// UserOption configures AddUser.
type UserOption func(*user)

// Admin makes the user a super administrator (the subject the Directory API needs, §1.8).
func Admin() UserOption { return func(u *user) { u.Admin = true } }

// Suspended marks the user suspended: listed by the Directory with suspended=true; Gmail calls for it fail with
// 400 failedPrecondition.
func Suspended() UserOption { return func(u *user) { u.Suspended = true } }

// Archived marks the user archived in the Directory.
func Archived() UserOption { return func(u *user) { u.Archived = true } }

// NoMailbox gives the user no Gmail mailbox (isMailboxSetup=false).
func NoMailbox() UserOption { return func(u *user) { u.mailbox, u.IsMailboxSetup = false, false } }

// Name sets the user's given and family names.
func Name(given, family string) UserOption {
	return func(u *user) { u.GivenName, u.FamilyName = given, family }
}

// systemLabels are Gmail's system labels (gmail/api/guides/labels, §1.3).
var systemLabels = []string{"INBOX", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT", "SENT", "DRAFT", "CHAT",
	"CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS"}

// AddUser adds a user (and its mailbox, with the system labels).
func (s *Server) AddUser(email string, opts ...UserOption) {
	u := &user{
		DirectoryUser: DirectoryUser{Email: email, IsMailboxSetup: true},
		mailbox:       true,
		labels:        map[string]*Label{},
		byID:          map[string]*stored{},
		historyID:     1000,
		floor:         1000,
	}
	local, _, _ := strings.Cut(email, "@")
	u.GivenName, u.FamilyName = local, "Test"
	for _, o := range opts {
		o(u)
	}
	for _, id := range systemLabels {
		l := &Label{ID: id, Name: id, Type: "system"}
		if id != "CHAT" && !strings.HasPrefix(id, "CATEGORY_") {
			l.MessageListVisibility, l.LabelListVisibility = "show", "labelShow"
		}
		u.labels[id] = l
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[strings.ToLower(email)] = u
}

// Label is a Gmail label (users.labels resource).
type Label struct {
	ID                    string `json:"id"`
	Name                  string `json:"name"`
	Type                  string `json:"type"`
	MessageListVisibility string `json:"messageListVisibility,omitempty"`
	LabelListVisibility   string `json:"labelListVisibility,omitempty"`
	MessagesTotal         int    `json:"messagesTotal"`
	MessagesUnread        int    `json:"messagesUnread"`
	ThreadsTotal          int    `json:"threadsTotal"`
	ThreadsUnread         int    `json:"threadsUnread"`
	Color                 *struct {
		TextColor       string `json:"textColor,omitempty"`
		BackgroundColor string `json:"backgroundColor,omitempty"`
	} `json:"color,omitempty"`
}

// ImportParams are the parameters a message was stored with, for tests that check what the connector sent.
type ImportParams struct {
	Method             string // "import" or "insert"
	UploadType         string // "multipart", "resumable", "media", or "" for the JSON raw endpoint
	InternalDateSource string // as sent ("" when absent)
	NeverMarkSpam      bool
	ProcessForCalendar bool
	Deleted            bool
	LabelIDs           []string // as sent
}

// Message is a stored message as tests see it.
type Message struct {
	ID           string
	ThreadID     string
	LabelIDs     []string
	InternalDate time.Time
	MessageID    string // the Message-ID header, without angle brackets
	Size         int
	HistoryID    uint64
	Params       ImportParams
	// DateFallback is true when internalDateSource=dateHeader found no valid Date: and used the clock (§1.9).
	DateFallback bool
}

type stored struct {
	Message
	raw []byte
}

func (m *stored) has(label string) bool { return slices.Contains(m.LabelIDs, label) }

func (m *stored) snapshot() Message {
	c := m.Message
	c.LabelIDs = append([]string(nil), m.LabelIDs...)
	c.Params.LabelIDs = append([]string(nil), m.Params.LabelIDs...)
	return c
}

// historyRecord is one users.history entry.
type historyRecord struct {
	id      uint64
	kind    string // "messageAdded", "labelAdded", "labelRemoved", "messageDeleted"
	msg     Message
	labels  []string // for label changes
	deleted bool
}

func (s *Server) mustUser(email string) *user {
	s.t.Helper()
	u := s.users[strings.ToLower(email)]
	if u == nil {
		s.t.Fatalf("gmailtest: no user %q", email)
	}
	return u
}

// RawMessage returns the exact bytes stored for a message (nil if there is none): the §5 cross-cutting hook.
func (s *Server) RawMessage(email, id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(email)]
	if u == nil || u.byID[id] == nil {
		return nil
	}
	return bytes.Clone(u.byID[id].raw)
}

// Messages returns the user's messages in the order they were stored (Vault-only deleted ones included).
func (s *Server) Messages(email string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(email)
	out := make([]Message, 0, len(u.msgs))
	for _, m := range u.msgs {
		out = append(out, m.snapshot())
	}
	return out
}

// Message returns one message.
func (s *Server) Message(email, id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(email)
	if m := u.byID[id]; m != nil {
		return m.snapshot(), true
	}
	return Message{}, false
}

// Labels returns the user's labels (system and user), sorted by id.
func (s *Server) Labels(email string) []Label {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(email)
	out := make([]Label, 0, len(u.labels))
	for _, l := range u.labels {
		out = append(out, u.counted(l))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LabelByName finds a label by name, case-insensitively as Gmail compares them.
func (s *Server) LabelByName(email, name string) (Label, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(email)
	if l := u.labelByName(name); l != nil {
		return u.counted(l), true
	}
	return Label{}, false
}

// CreateLabel creates a user label directly (no rules, no quota); it returns the id.
func (s *Server) CreateLabel(email, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(email)
	return u.newLabel(Label{Name: name}).ID
}

// SeedMessage stores a message directly (no quota, no log), as if it had been delivered, with internalDate from
// its Date: header; for tests that read Gmail as a source.
func (s *Server) SeedMessage(email string, raw []byte, labelIDs ...string) Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(email)
	date, fallback := s.dateFrom(raw)
	m := s.store(u, raw, labelIDs, date, ImportParams{Method: "seed"})
	m.DateFallback = fallback
	return m.snapshot()
}

// HistoryID is the user's current historyId.
func (s *Server) HistoryID(email string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustUser(email).historyID
}

// ExpireHistory drops the user's history records: any older startHistoryId now gets 404, as when Gmail no
// longer has it (§1.7, users.history.list).
func (s *Server) ExpireHistory(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(email)
	u.history = nil
	u.floor = u.historyID
}

func (u *user) labelByName(name string) *Label {
	for _, l := range u.labels {
		if strings.EqualFold(l.Name, name) {
			return l
		}
	}
	return nil
}

func (u *user) newLabel(l Label) *Label {
	u.labelSeq++
	l.ID = fmt.Sprintf("Label_%d", u.labelSeq)
	l.Type = "user"
	if l.MessageListVisibility == "" {
		l.MessageListVisibility = "show"
	}
	if l.LabelListVisibility == "" {
		l.LabelListVisibility = "labelShow"
	}
	u.labels[l.ID] = &l
	return &l
}

func (u *user) counted(l *Label) Label {
	c := *l
	threads, unreadThreads := map[string]bool{}, map[string]bool{}
	for _, m := range u.msgs {
		if m.Params.Deleted || !m.has(l.ID) {
			continue
		}
		c.MessagesTotal++
		threads[m.ThreadID] = true
		if m.has("UNREAD") {
			c.MessagesUnread++
			unreadThreads[m.ThreadID] = true
		}
	}
	c.ThreadsTotal, c.ThreadsUnread = len(threads), len(unreadThreads)
	return c
}

// store adds a message (s.mu held): a new id, a thread, history.
func (s *Server) store(u *user, raw []byte, labels []string, date time.Time, p ImportParams) *stored {
	s.idSeq++
	hdr := parseHeader(raw)
	m := &stored{raw: bytes.Clone(raw)}
	m.ID = fmt.Sprintf("%016x", s.idSeq)
	m.ThreadID = u.threadFor(hdr, m.ID)
	m.LabelIDs = dedupe(labels)
	m.InternalDate = date.Truncate(time.Millisecond)
	m.MessageID = strings.Trim(strings.TrimSpace(hdr.Get("Message-Id")), "<>")
	m.Size = len(raw)
	m.Params = p
	u.msgs = append(u.msgs, m)
	u.byID[m.ID] = m
	if !p.Deleted {
		u.record(historyRecord{kind: "messageAdded"}, m)
	}
	m.HistoryID = u.historyID
	return m
}

func (u *user) record(h historyRecord, m *stored) {
	u.historyID++
	h.id = u.historyID
	h.msg = m.snapshot()
	u.history = append(u.history, h)
	m.HistoryID = u.historyID
}

// threadFor puts a reply in the thread of the message it references (In-Reply-To, References); Gmail's own
// threading also looks at subjects and recomputes (§1.9), which is not emulated.
func (u *user) threadFor(h textproto.MIMEHeader, id string) string {
	refs := strings.Fields(h.Get("In-Reply-To") + " " + h.Get("References"))
	for _, ref := range refs {
		ref = strings.Trim(ref, "<>")
		for _, m := range u.msgs {
			if ref != "" && m.MessageID == ref {
				return m.ThreadID
			}
		}
	}
	return id
}

// parseHeader reads the header block; a malformed header yields what could be read.
func parseHeader(raw []byte) textproto.MIMEHeader {
	tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	h, _ := tr.ReadMIMEHeader()
	if h == nil {
		h = textproto.MIMEHeader{}
	}
	return h
}

// dateFrom is internalDateSource=dateHeader: the Date: header "when valid", else now (§1.2, §1.9, §5.1.3).
func (s *Server) dateFrom(raw []byte) (time.Time, bool) {
	d := parseHeader(raw).Get("Date")
	if d != "" {
		if t, err := mail.ParseDate(d); err == nil {
			return t, false
		}
	}
	return s.now(), true
}

func dedupe(in []string) []string {
	out := []string{}
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
