// Package memconnector is an in-memory reference connector: a source and a
// target that keep mailboxes in process memory, with the semantics of an
// IMAP server (UIDs, UIDVALIDITY, flags, keywords, checkpoints) and none of
// its wire. It is to Tern what imapmemserver is to go-imap: the connector
// that core's tests use in process, the example a connector author reads
// first, and a connector the conformance suite must pass.
//
// Mailboxes come into existence when they are first opened; users and
// passwords are set with [Connector.AddUser]. Tests reach the stored data
// directly ([Connector.Messages], [Connector.Seed]) and inject faults with
// [Options.Fault].
package memconnector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ternmail/tern/sdk/connector"
)

// ID is the connector's ID.
const ID = "mem"

// Version is the connector's version.
const Version = "1.0.0"

// Options configure a Connector. A nil *Options means the defaults.
type Options struct {
	// Fault, if set, is called before every operation with its name
	// ("open", "folders", "status", "list", "fetch", "ensure", "append",
	// "lookup", "setflags"), the user, the folder and the message ID or
	// size; a non-nil result is returned as the operation's error.
	Fault func(op, user, folder, detail string) error
	// MaxMessageSize rejects larger appends with ErrTooLarge; 0 = none.
	MaxMessageSize int64
	// NoKeywords makes the target refuse keywords (they are dropped and
	// reported, like an IMAP server without \* in PERMANENTFLAGS).
	NoKeywords bool
	// AdminUser and AdminPassword, if set, let that administrator open
	// every mailbox in connector.ModeAdminAuthzid and list the users.
	AdminUser, AdminPassword string
}

// Settings are the connector's settings.
type Settings struct {
	// Delimiter is the hierarchy delimiter; default "/".
	Delimiter string `json:"delimiter,omitempty"`
	// Prefix is the personal namespace prefix; default "".
	Prefix string `json:"prefix,omitempty"`
}

const settingsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "In-memory mailboxes",
  "type": "object",
  "properties": {
    "delimiter": {"type": "string", "title": "Hierarchy delimiter", "maxLength": 1, "default": "/"},
    "prefix": {"type": "string", "title": "Personal namespace prefix", "default": ""}
  },
  "additionalProperties": false
}`

// Connector is the in-memory connector. It is safe for concurrent use.
type Connector struct {
	opts Options

	mu        sync.Mutex
	passwords map[string]string
	boxes     map[string]*mailbox
	validity  uint32
}

var _ connector.Connector = (*Connector)(nil)

// New returns an empty connector.
func New(opts *Options) *Connector {
	c := &Connector{passwords: make(map[string]string), boxes: make(map[string]*mailbox), validity: 1000}
	if opts != nil {
		c.opts = *opts
	}
	return c
}

// AddUser sets a user's password. Users without a password accept any.
func (c *Connector) AddUser(user, password string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.passwords[user] = password
}

type mailbox struct {
	folders map[string]*folder
}

type folder struct {
	name       string
	specialUse string
	validity   uint32
	uidNext    uint32
	modSeq     uint64
	msgs       []*message // ascending UID
}

type message struct {
	uid    uint32
	data   []byte
	date   time.Time
	flags  []string
	modSeq uint64
}

// Description implements connector.Connector.
func (c *Connector) Describe(context.Context) (*connector.Description, error) {
	return &connector.Description{
		ID:              ID,
		Version:         Version,
		ProtocolVersion: connector.ProtocolVersion,
		Summary:         "In-memory mailboxes (reference connector for tests)",
		Roles:           []connector.Role{connector.RoleSource, connector.RoleTarget},
		Capabilities: connector.Capabilities{
			DeltaCheckpoints: true,
			Lookup:           true,
			FlagSync:         true,
			Keywords:         !c.opts.NoKeywords,
			MaxMessageSize:   c.opts.MaxMessageSize,
			TestConnection:   true,
			ListUsers:        true,
			CredentialModes:  []string{connector.ModeAdminAuthzid, connector.ModePassword},
		},
		SettingsSchema: json.RawMessage(settingsSchema),
	}, nil
}

func (c *Connector) fault(op, user, folder, detail string) error {
	if c.opts.Fault == nil {
		return nil
	}
	return c.opts.Fault(op, user, folder, detail)
}

func (c *Connector) open(req *connector.OpenRequest) (*session, error) {
	var s Settings
	if len(req.Settings) > 0 {
		dec := json.NewDecoder(bytes.NewReader(req.Settings))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return nil, connector.Errorf(connector.KindInvalid, "memconnector settings: %v", err)
		}
	}
	if s.Delimiter == "" {
		s.Delimiter = "/"
	}
	if err := c.fault("open", req.User, "", ""); err != nil {
		return nil, err
	}
	if req.User == "" {
		return nil, connector.Errorf(connector.KindInvalid, "no user given")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkLocked(req.User, req.Credential); err != nil {
		return nil, err
	}
	c.boxLocked(req.User)
	return &session{c: c, user: req.User, settings: s}, nil
}

// checkLocked checks a credential for user.
func (c *Connector) checkLocked(user string, cred connector.Credential) error {
	switch cred.Mode {
	case "", connector.ModePassword:
		login := cred.Username
		if login == "" {
			login = user
		}
		if login != user {
			return connector.Errorf(connector.KindAuth, "login as %q refused: it is not the mailbox %q", login, user)
		}
		if pw, ok := c.passwords[user]; ok && pw != cred.Secret {
			return connector.Errorf(connector.KindAuth, "login as %q refused: wrong password", user)
		}
		return nil
	case connector.ModeAdminAuthzid:
		if c.opts.AdminUser == "" || cred.AuthUser != c.opts.AdminUser || cred.Secret != c.opts.AdminPassword {
			return connector.Errorf(connector.KindAuth, "administrator login as %q for %q refused", cred.AuthUser, user)
		}
		if _, ok := c.passwords[user]; !ok && len(c.passwords) > 0 {
			return connector.Errorf(connector.KindAuth, "administrator login for %q refused: no such user", user)
		}
		return nil
	}
	return connector.Errorf(connector.KindInvalid, "credential mode %q is not supported", cred.Mode)
}

var (
	_ connector.ConnectionTester = (*Connector)(nil)
	_ connector.UserLister       = (*Connector)(nil)
)

// TestConnection implements connector.ConnectionTester: it tries the
// user's password and the administrator credential in every mode it knows.
func (c *Connector) TestConnection(_ context.Context, req *connector.TestRequest) (*connector.TestReport, error) {
	rep := &connector.TestReport{Server: connector.ServerInfo{Address: "memory", Greeting: "in-memory mailboxes ready", TLS: "none (in process)", Product: "memconnector"}}
	try := func(mode, login string, cred connector.Credential) {
		c.mu.Lock()
		err := c.checkLocked(req.SampleUser, cred)
		c.mu.Unlock()
		a := connector.LoginAttempt{Mode: mode, Login: login, OK: err == nil}
		if err != nil {
			a.Error, a.Kind = err.Error(), connector.KindOf(err)
		} else if rep.Recommended == "" {
			rep.Recommended = mode
		}
		rep.Attempts = append(rep.Attempts, a)
	}
	if req.SampleUser == "" {
		return rep, nil
	}
	if req.Admin != nil && req.Admin.AuthUser != "" {
		try(connector.ModeAdminAuthzid, "authzid="+req.SampleUser+" authcid="+req.Admin.AuthUser, connector.Credential{Mode: connector.ModeAdminAuthzid, AuthUser: req.Admin.AuthUser, Secret: req.Admin.Secret})
	}
	if req.Admin != nil && req.Admin.AuthUser == "" {
		try(connector.ModePassword, "login "+req.SampleUser+" with the magic password", connector.Credential{Mode: connector.ModePassword, Secret: req.Admin.Secret})
	}
	if req.UserSecret != "" {
		try(connector.ModePassword, "login "+req.SampleUser, connector.Credential{Mode: connector.ModePassword, Secret: req.UserSecret})
	}
	return rep, nil
}

// ListUsers implements connector.UserLister: the users with passwords, for
// the administrator.
func (c *Connector) ListUsers(_ context.Context, req *connector.ListUsersRequest, fn func([]connector.User) error) error {
	c.mu.Lock()
	if c.opts.AdminUser == "" || req.Admin.AuthUser != c.opts.AdminUser || req.Admin.Secret != c.opts.AdminPassword {
		c.mu.Unlock()
		return connector.Errorf(connector.KindAuth, "administrator login as %q refused", req.Admin.AuthUser)
	}
	var users []connector.User
	for u := range c.passwords {
		users = append(users, connector.User{Login: u})
	}
	c.mu.Unlock()
	sort.Slice(users, func(i, j int) bool { return users[i].Login < users[j].Login })
	return fn(users)
}

func (c *Connector) boxLocked(user string) *mailbox {
	b, ok := c.boxes[user]
	if !ok {
		b = &mailbox{folders: make(map[string]*folder)}
		c.boxes[user] = b
		c.ensureLocked(b, "INBOX", "")
	}
	return b
}

func (c *Connector) ensureLocked(b *mailbox, name, specialUse string) (*folder, bool) {
	if f, ok := b.folders[name]; ok {
		return f, false
	}
	c.validity++
	f := &folder{name: name, specialUse: specialUse, validity: c.validity, uidNext: 1, modSeq: 1}
	b.folders[name] = f
	return f, true
}

// OpenSource implements connector.Connector.
func (c *Connector) OpenSource(_ context.Context, req *connector.OpenRequest) (connector.Source, error) {
	s, err := c.open(req)
	if err != nil {
		return nil, err
	}
	return &source{s}, nil
}

// OpenTarget implements connector.Connector.
func (c *Connector) OpenTarget(_ context.Context, req *connector.OpenRequest) (connector.Target, error) {
	s, err := c.open(req)
	if err != nil {
		return nil, err
	}
	return &target{s}, nil
}

type session struct {
	c        *Connector
	user     string
	settings Settings
	closed   bool
}

func (s *session) box() (*mailbox, error) {
	if s.closed {
		return nil, connector.Errorf(connector.KindUnavailable, "session closed")
	}
	return s.c.boxLocked(s.user), nil
}

func (s *session) folder(name string) (*folder, error) {
	b, err := s.box()
	if err != nil {
		return nil, err
	}
	f, ok := b.folders[name]
	if !ok {
		return nil, connector.Errorf(connector.KindNotFound, "folder %q does not exist", name)
	}
	return f, nil
}

func (s *session) Folders(context.Context) (*connector.Hierarchy, error) {
	if err := s.c.fault("folders", s.user, "", ""); err != nil {
		return nil, err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	b, err := s.box()
	if err != nil {
		return nil, err
	}
	h := &connector.Hierarchy{Delimiter: s.settings.Delimiter, Prefix: s.settings.Prefix}
	names := make([]string, 0, len(b.folders))
	for n := range b.folders {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h.Folders = append(h.Folders, connector.Folder{Name: n, Delimiter: s.settings.Delimiter, SpecialUse: b.folders[n].specialUse})
	}
	return h, nil
}

func (s *session) Close(context.Context) error {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.closed = true
	return nil
}

type source struct{ *session }

func (s *source) Status(_ context.Context, name string) (*connector.FolderStatus, error) {
	if err := s.c.fault("status", s.user, name, ""); err != nil {
		return nil, err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	f, err := s.folder(name)
	if err != nil {
		return nil, err
	}
	return &connector.FolderStatus{Validity: strconv.FormatUint(uint64(f.validity), 10), Messages: int64(len(f.msgs))}, nil
}

// checkpoint is the connector's opaque checkpoint.
type checkpoint struct {
	Validity uint32 `json:"v"`
	UIDNext  uint32 `json:"n"`
	ModSeq   uint64 `json:"m"`
}

func (s *source) List(ctx context.Context, name string, q *connector.ListQuery, fn func([]connector.Message) error) (*connector.ListResult, error) {
	if err := s.c.fault("list", s.user, name, ""); err != nil {
		return nil, err
	}
	if q == nil {
		q = &connector.ListQuery{}
	}
	pageSize := q.PageSize
	if pageSize <= 0 {
		pageSize = 500
	}
	// Take a snapshot under the lock, then call fn without it.
	s.c.mu.Lock()
	f, err := s.folder(name)
	if err != nil {
		s.c.mu.Unlock()
		return nil, err
	}
	var since checkpoint
	if len(q.Since) > 0 {
		if json.Unmarshal(q.Since, &since) != nil || since.Validity != f.validity {
			since = checkpoint{}
		}
	}
	res := &connector.ListResult{
		Checkpoint: mustJSON(checkpoint{Validity: f.validity, UIDNext: f.uidNext, ModSeq: f.modSeq}),
		Validity:   strconv.FormatUint(uint64(f.validity), 10),
	}
	var all []connector.Message
	for _, m := range f.msgs {
		switch {
		case since.UIDNext == 0 || m.uid >= since.UIDNext:
			all = append(all, meta(m))
		case m.modSeq > since.ModSeq:
			all = append(all, connector.Message{ID: uidString(m.uid), FlagsOnly: true, Flags: slices.Clone(m.flags)})
		}
	}
	s.c.mu.Unlock()
	for len(all) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(pageSize, len(all))
		if err := fn(all[:n]); err != nil {
			return nil, err
		}
		all = all[n:]
	}
	return res, nil
}

func meta(m *message) connector.Message {
	h := connector.HeaderSection(m.data)
	return connector.Message{
		ID:           uidString(m.uid),
		Size:         int64(len(m.data)),
		InternalDate: m.date,
		Flags:        slices.Clone(m.flags),
		MessageID:    connector.MessageIDOf(h),
		Fingerprint:  connector.Fingerprint(int64(len(m.data)), h),
	}
}

func uidString(uid uint32) string { return strconv.FormatUint(uint64(uid), 10) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (f *folder) find(id string) *message {
	uid, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(f.msgs, uint32(uid), func(m *message, u uint32) int { return int(m.uid) - int(u) })
	if !ok {
		return nil
	}
	return f.msgs[i]
}

func (s *source) Fetch(_ context.Context, name, id string) (connector.Body, error) {
	if err := s.c.fault("fetch", s.user, name, id); err != nil {
		return nil, err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	f, err := s.folder(name)
	if err != nil {
		return nil, err
	}
	m := f.find(id)
	if m == nil {
		return nil, connector.Errorf(connector.KindNotFound, "message %s not in %q", id, name)
	}
	return &body{Reader: bytes.NewReader(m.data), size: int64(len(m.data))}, nil
}

type body struct {
	*bytes.Reader
	size int64
}

func (b *body) Size() int64  { return b.size }
func (b *body) Close() error { return nil }

type target struct{ *session }

var (
	_ connector.TargetLookup   = (*target)(nil)
	_ connector.TargetFlagSync = (*target)(nil)
)

func (t *target) watermark(f *folder) string {
	return fmt.Sprintf("%d:%d", f.validity, f.uidNext)
}

func (t *target) EnsureFolder(_ context.Context, name, specialUse string) (*connector.TargetFolder, error) {
	if err := t.c.fault("ensure", t.user, name, ""); err != nil {
		return nil, err
	}
	if name == "" || strings.ContainsRune(name, 0) {
		return nil, connector.Errorf(connector.KindInvalid, "invalid folder name %q", name)
	}
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	b, err := t.box()
	if err != nil {
		return nil, err
	}
	// Parents first, as an IMAP server with \Noselect-free CREATE would.
	d := t.settings.Delimiter
	parts := strings.Split(name, d)
	for i := 1; i < len(parts); i++ {
		t.c.ensureLocked(b, strings.Join(parts[:i], d), "")
	}
	f, created := t.c.ensureLocked(b, name, specialUse)
	return &connector.TargetFolder{Name: name, Created: created, Watermark: t.watermark(f)}, nil
}

func (t *target) Append(ctx context.Context, name string, m *connector.AppendMessage) (*connector.AppendResult, error) {
	if err := t.c.fault("append", t.user, name, strconv.FormatInt(m.Size, 10)); err != nil {
		return nil, err
	}
	if max := t.c.opts.MaxMessageSize; max > 0 && m.Size > max {
		return nil, connector.Errorf(connector.KindTooLarge, "message of %d bytes exceeds the limit of %d", m.Size, max)
	}
	data := make([]byte, m.Size)
	if _, err := io.ReadFull(m.Body, data); err != nil {
		return nil, connector.Wrap(connector.KindTemporary, "read message body", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	flags, dropped := t.filterFlags(m.Flags)
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	f, err := t.folder(name)
	if err != nil {
		return nil, err
	}
	date := m.InternalDate
	if date.IsZero() {
		date = time.Now()
	}
	f.modSeq++
	msg := &message{uid: f.uidNext, data: data, date: date.Truncate(time.Second), flags: flags, modSeq: f.modSeq}
	f.uidNext++
	f.msgs = append(f.msgs, msg)
	return &connector.AppendResult{Ref: uidString(msg.uid), DroppedFlags: dropped}, nil
}

// filterFlags keeps system flags (minus \Recent) and, unless NoKeywords,
// keywords; it returns what it dropped.
func (t *target) filterFlags(in []string) (kept, dropped []string) {
	for _, fl := range in {
		switch {
		case strings.EqualFold(fl, `\Recent`):
			dropped = append(dropped, fl)
		case strings.HasPrefix(fl, `\`):
			kept = append(kept, fl)
		case t.c.opts.NoKeywords:
			dropped = append(dropped, fl)
		default:
			kept = append(kept, fl)
		}
	}
	return kept, dropped
}

func (t *target) Lookup(_ context.Context, name string, q *connector.LookupQuery) ([]string, error) {
	if err := t.c.fault("lookup", t.user, name, q.Fingerprint); err != nil {
		return nil, err
	}
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	f, err := t.folder(name)
	if err != nil {
		return nil, err
	}
	var from uint32
	if q.Since != "" {
		var v, n uint32
		if _, err := fmt.Sscanf(q.Since, "%d:%d", &v, &n); err != nil {
			return nil, connector.Errorf(connector.KindInvalid, "bad watermark %q", q.Since)
		}
		if v == f.validity {
			from = n
		}
	}
	var refs []string
	for _, m := range f.msgs {
		if m.uid < from || int64(len(m.data)) != q.Size {
			continue
		}
		md := meta(m)
		if md.Fingerprint == q.Fingerprint && (q.MessageID == "" || md.MessageID == q.MessageID) {
			refs = append(refs, md.ID)
		}
	}
	return refs, nil
}

func (t *target) SetFlags(_ context.Context, name, ref string, flags []string) (*connector.SetFlagsResult, error) {
	if err := t.c.fault("setflags", t.user, name, ref); err != nil {
		return nil, err
	}
	kept, dropped := t.filterFlags(flags)
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	f, err := t.folder(name)
	if err != nil {
		return nil, err
	}
	m := f.find(ref)
	if m == nil {
		return nil, connector.Errorf(connector.KindNotFound, "message %s not in %q", ref, name)
	}
	f.modSeq++
	m.flags, m.modSeq = kept, f.modSeq
	return &connector.SetFlagsResult{DroppedFlags: dropped}, nil
}
