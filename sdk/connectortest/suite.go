// Package connectortest is the conformance suite every connector runs from
// its own tests, ours and third parties' alike:
//
//	func TestConformance(t *testing.T) {
//		connectortest.Run(t, connectortest.Harness{
//			Connector: myconn.New(nil),
//			Mailbox:   func(t *testing.T) *connector.OpenRequest { ... a fresh, empty mailbox ... },
//		})
//	}
//
// Run checks the description, then runs the source tests and the target
// tests the connector's roles call for, each twice: in process and through
// [Pipe], an in-process gRPC connection speaking the real plugin protocol.
// A connector that is both source and target is seeded through its own
// target role; a source-only connector supplies [Harness.Seed].
package connectortest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/serve"
)

// Harness tells the suite how to reach the system under test.
type Harness struct {
	// Connector is the connector under test.
	Connector connector.Connector
	// Mailbox returns an open request for a fresh, empty mailbox (a new
	// user on each call), with a valid credential.
	Mailbox func(t *testing.T) *connector.OpenRequest
	// BadCredential, if set, returns an open request whose credential the
	// system refuses; the suite expects connector.ErrAuth.
	BadCredential func(t *testing.T) *connector.OpenRequest
	// Seed stores a message in a folder of the mailbox behind the
	// connector's back, creating the folder. Required for source-only
	// connectors; others are seeded through their target role.
	Seed func(t *testing.T, req *connector.OpenRequest, folder string, m SeedMessage)
	// KeepsBareLF says the system stores bare LF line ends unchanged; the
	// suite then includes a message with them in the byte-exact checks.
	KeepsBareLF bool
	// Stores, if set, says what the system makes of a message it is given:
	// the bytes it will serve, or why it refuses the message. Servers that
	// rewrite messages on purpose (Cyrus replaces 8-bit bytes in headers)
	// describe it here; the suite then expects those bytes and leaves
	// refused messages out. Nil means stored byte for byte.
	Stores func(raw []byte) (stored []byte, refusal string)
	// Keeps, if set, says what the system keeps of a stored message's
	// metadata: the date it will report as INTERNALDATE and the flags it
	// will report. Systems that date messages their own way (Gmail takes
	// the Date: header) or cannot store some flags describe it here; a
	// zero date means the system picks one the suite cannot know (the
	// time of the import) and is not compared. Nil means kept as given.
	Keeps func(m SeedMessage) (date time.Time, flags []string)
	// Timeout bounds each test; default one minute.
	Timeout time.Duration
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Connector == nil || h.Mailbox == nil {
		t.Fatal("connectortest: Harness.Connector and Harness.Mailbox are required")
	}
	if h.Timeout == 0 {
		h.Timeout = time.Minute
	}
	d, err := h.Connector.Describe(context.Background())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	t.Run("Describe", func(t *testing.T) {
		if err := serve.Validate(d); err != nil {
			t.Fatal(err)
		}
		if err := serve.CheckCapabilities(h.Connector, d); err != nil {
			t.Fatal(err)
		}
	})
	for _, mode := range []struct {
		name string
		conn func(t *testing.T) connector.Connector
	}{
		{"direct", func(*testing.T) connector.Connector { return h.Connector }},
		{"wire", func(t *testing.T) connector.Connector { return Pipe(t, h.Connector) }},
	} {
		t.Run(mode.name, func(t *testing.T) {
			s := &suite{h: h, d: d, newConn: mode.conn}
			if d.HasRole(connector.RoleSource) {
				if h.Seed == nil && !d.HasRole(connector.RoleTarget) {
					t.Fatal("connectortest: a source-only connector needs Harness.Seed")
				}
				t.Run("Source", s.runSource)
			}
			if d.HasRole(connector.RoleTarget) {
				t.Run("Target", s.runTarget)
			}
			if h.BadCredential != nil {
				t.Run("BadCredential", s.testBadCredential)
			}
		})
	}
}

type suite struct {
	h       Harness
	d       *connector.Description
	newConn func(t *testing.T) connector.Connector
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) corpus() []SeedMessage {
	c := Corpus()
	if s.h.KeepsBareLF {
		c = append(c, BareLFMessage())
	}
	if s.h.Stores != nil {
		c = slices.DeleteFunc(c, func(m SeedMessage) bool {
			_, refusal := s.h.Stores(m.Data)
			return refusal != ""
		})
	}
	return c
}

// kept returns the date and flags the system reports for a message it
// was given.
func (s *suite) kept(m SeedMessage) (time.Time, []string) {
	if s.h.Keeps == nil {
		return m.InternalDate, m.Flags
	}
	return s.h.Keeps(m)
}

// stored returns the bytes the system serves for a message it was given.
func (s *suite) stored(raw []byte) []byte {
	if s.h.Stores == nil {
		return raw
	}
	out, _ := s.h.Stores(raw)
	return out
}

// mailbox opens a fresh mailbox in both roles the connector has.
type mailbox struct {
	req    *connector.OpenRequest
	src    connector.Source
	tgt    connector.Target
	delim  string
	prefix string
}

func (s *suite) open(t *testing.T) *mailbox {
	t.Helper()
	return s.openOn(t, s.newConn(t))
}

// openOn opens a fresh mailbox on connection c.
func (s *suite) openOn(t *testing.T, c connector.Connector) *mailbox {
	t.Helper()
	ctx := s.ctx(t)
	m := &mailbox{req: s.h.Mailbox(t)}
	var h *connector.Hierarchy
	var err error
	if s.d.HasRole(connector.RoleSource) {
		m.src, err = c.OpenSource(ctx, m.req)
		if err != nil {
			t.Fatalf("OpenSource: %v", err)
		}
		t.Cleanup(func() { m.src.Close(context.Background()) })
		h, err = m.src.Folders(ctx)
	}
	if s.d.HasRole(connector.RoleTarget) {
		m.tgt, err = c.OpenTarget(ctx, m.req)
		if err != nil {
			t.Fatalf("OpenTarget: %v", err)
		}
		t.Cleanup(func() { m.tgt.Close(context.Background()) })
		h, err = m.tgt.Folders(ctx)
	}
	if err != nil {
		t.Fatalf("Folders: %v", err)
	}
	m.delim, m.prefix = h.Delimiter, h.Prefix
	return m
}

// path builds a folder name from its components.
func (m *mailbox) path(parts ...string) string {
	d := m.delim
	if d == "" {
		d = "/"
	}
	return m.prefix + strings.Join(parts, d)
}

// seed stores messages in folder, through the harness or the target role,
// and returns the target refs when the target role was used.
func (s *suite) seed(t *testing.T, m *mailbox, folder string, msgs []SeedMessage) []string {
	t.Helper()
	ctx := s.ctx(t)
	if s.h.Seed != nil {
		for _, sm := range msgs {
			s.h.Seed(t, m.req, folder, sm)
		}
		return nil
	}
	if folder != "INBOX" {
		if _, err := m.tgt.EnsureFolder(ctx, folder, ""); err != nil {
			t.Fatalf("EnsureFolder(%q): %v", folder, err)
		}
	}
	var refs []string
	for i, sm := range msgs {
		res, err := m.tgt.Append(ctx, folder, &connector.AppendMessage{
			Size: int64(len(sm.Data)), Body: bytes.NewReader(sm.Data), InternalDate: sm.InternalDate, Flags: sm.Flags,
		})
		if err != nil {
			t.Fatalf("Append message %d to %q: %v", i, folder, err)
		}
		refs = append(refs, res.Ref)
	}
	return refs
}

func listAll(t *testing.T, ctx context.Context, src connector.Source, folder string, since connector.Checkpoint) ([]connector.Message, *connector.ListResult) {
	t.Helper()
	var all []connector.Message
	res, err := src.List(ctx, folder, &connector.ListQuery{Since: since, PageSize: 3}, func(page []connector.Message) error {
		if len(page) == 0 || len(page) > 3 {
			return fmt.Errorf("page of %d messages with page size 3", len(page))
		}
		all = append(all, page...)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", folder, err)
	}
	return all, res
}

func fetchAll(t *testing.T, ctx context.Context, src connector.Source, folder, id string) []byte {
	t.Helper()
	b, err := src.Fetch(ctx, folder, id)
	if err != nil {
		t.Fatalf("Fetch(%q, %s): %v", folder, id, err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("Fetch(%q, %s): read: %v", folder, id, err)
	}
	if int64(len(data)) != b.Size() {
		t.Fatalf("Fetch(%q, %s): Size() = %d, read %d bytes", folder, id, b.Size(), len(data))
	}
	return data
}

// normFlags returns flags sorted, without \Recent, system flags in their
// canonical case.
func normFlags(in []string) []string {
	var out []string
	for _, f := range in {
		if strings.EqualFold(f, `\Recent`) {
			continue
		}
		if strings.HasPrefix(f, `\`) {
			f = `\` + strings.ToUpper(f[1:2]) + strings.ToLower(f[2:])
		}
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

func sum(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

func (s *suite) runSource(t *testing.T) {
	t.Run("FoldersHaveInbox", func(t *testing.T) {
		m := s.open(t)
		h, err := m.src.Folders(s.ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(h.Folders, func(f connector.Folder) bool { return strings.EqualFold(f.Name, "INBOX") }) {
			t.Fatalf("no INBOX in %+v", h.Folders)
		}
	})
	t.Run("ListAndFetchExact", func(t *testing.T) {
		m := s.open(t)
		ctx := s.ctx(t)
		folder := m.path("Conformance")
		corpus := s.corpus()
		s.seed(t, m, folder, corpus)
		got, res := listAll(t, ctx, m.src, folder, nil)
		if len(got) != len(corpus) {
			t.Fatalf("List returned %d messages, seeded %d", len(got), len(corpus))
		}
		if res.Validity == "" {
			t.Errorf("List returned no validity")
		}
		st, err := m.src.Status(ctx, folder)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if st.Validity != res.Validity || st.Messages != int64(len(corpus)) {
			t.Errorf("Status = %+v, List validity %q and %d messages", st, res.Validity, len(corpus))
		}
		ids := map[string]bool{}
		for i, msg := range got {
			want := corpus[i]
			if msg.FlagsOnly {
				t.Errorf("message %d listed as flags-only without a checkpoint", i)
			}
			if ids[msg.ID] {
				t.Errorf("message %d: ID %q listed twice", i, msg.ID)
			}
			ids[msg.ID] = true
			wantData := s.stored(want.Data)
			if msg.Size != int64(len(wantData)) {
				t.Errorf("message %d: Size %d, want %d", i, msg.Size, len(wantData))
			}
			wantFP := connector.Fingerprint(int64(len(wantData)), connector.HeaderSection(wantData))
			if msg.Fingerprint != wantFP {
				t.Errorf("message %d: Fingerprint %q, want %q", i, msg.Fingerprint, wantFP)
			}
			if wantID := connector.MessageIDOf(connector.HeaderSection(wantData)); msg.MessageID != wantID {
				t.Errorf("message %d: MessageID %q, want %q", i, msg.MessageID, wantID)
			}
			wantDate, wantFlags := s.kept(want)
			if !wantDate.IsZero() && !msg.InternalDate.Equal(wantDate) {
				t.Errorf("message %d: InternalDate %v, want %v", i, msg.InternalDate, wantDate)
			}
			if g, w := normFlags(msg.Flags), normFlags(wantFlags); !slices.Equal(g, w) {
				t.Errorf("message %d: Flags %q, want %q", i, g, w)
			}
			data := fetchAll(t, ctx, m.src, folder, msg.ID)
			if !bytes.Equal(data, wantData) {
				t.Errorf("message %d: fetched %d bytes (sha256 %s), want %d bytes (sha256 %s)", i, len(data), sum(data)[:12], len(wantData), sum(wantData)[:12])
			}
		}
		// Fetching must not mark messages read.
		after, _ := listAll(t, ctx, m.src, folder, nil)
		for i := range after {
			if g, w := normFlags(after[i].Flags), normFlags(got[i].Flags); !slices.Equal(g, w) {
				t.Errorf("message %d: flags changed by Fetch from %q to %q", i, w, g)
			}
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		m := s.open(t)
		ctx := s.ctx(t)
		if _, err := m.src.Status(ctx, m.path("No such folder")); !errors.Is(err, connector.ErrNotFound) {
			t.Errorf("Status of a missing folder: %v, want ErrNotFound", err)
		}
		s.seed(t, m, "INBOX", Corpus()[:1])
		if _, err := m.src.Fetch(ctx, "INBOX", "999999"); !errors.Is(err, connector.ErrNotFound) {
			t.Errorf("Fetch of a missing message: %v, want ErrNotFound", err)
		}
		// The session must still work after the error.
		if got, _ := listAll(t, ctx, m.src, "INBOX", nil); len(got) != 1 {
			t.Errorf("after errors, INBOX lists %d messages, want 1", len(got))
		}
	})
	if s.d.Capabilities.DeltaCheckpoints {
		t.Run("DeltaCheckpoint", s.testDelta)
	}
	if s.d.HasRole(connector.RoleTarget) {
		t.Run("CopyTo", s.testCopyTo)
	}
}

// testCopyTo copies between two mailboxes of the connector with
// SourceCopier, when the source session offers it (over the wire it always
// does).
func (s *suite) testCopyTo(t *testing.T) {
	c := s.newConn(t)
	from, to := s.openOn(t, c), s.openOn(t, c)
	cp, ok := from.src.(connector.SourceCopier)
	if !ok {
		t.Skip("the source session does not copy directly; core streams instead")
	}
	ctx := s.ctx(t)
	corpus := s.corpus()
	s.seed(t, from, "INBOX", corpus)
	listed, _ := listAll(t, ctx, from.src, "INBOX", nil)
	if len(listed) != len(corpus) {
		t.Fatalf("seeded %d, listed %d", len(corpus), len(listed))
	}
	folder := to.path("Copied")
	if _, err := to.tgt.EnsureFolder(ctx, folder, ""); err != nil {
		t.Fatal(err)
	}
	items := make([]connector.CopyItem, 0, len(listed)+1)
	for i, m := range listed {
		items = append(items, connector.CopyItem{ID: m.ID, InternalDate: corpus[i].InternalDate, Flags: corpus[i].Flags, MessageID: m.MessageID, Fingerprint: m.Fingerprint})
		if i == 1 {
			items = append(items, connector.CopyItem{ID: "999999"}) // gone from the source
		}
	}
	outs, err := cp.CopyTo(ctx, "INBOX", items, to.tgt, folder)
	if errors.Is(err, connector.ErrUnsupported) {
		t.Skip("the source session cannot reach this target directly")
	}
	if err != nil || len(outs) != len(items) {
		t.Fatalf("CopyTo: %d outcomes for %d items, %v", len(outs), len(items), err)
	}
	var ce *connector.CopyError
	if !errors.As(outs[2].Err, &ce) || !ce.Source || !errors.Is(outs[2].Err, connector.ErrNotFound) {
		t.Fatalf("outcome of a missing message: %+v", outs[2])
	}
	outs = append(outs[:2], outs[3:]...)
	for i, o := range outs {
		if o.Err != nil || o.Result == nil || o.Size != int64(len(s.stored(corpus[i].Data))) {
			t.Fatalf("outcome %d: %+v", i, o)
		}
	}
	if to.src == nil {
		return
	}
	got, _ := listAll(t, ctx, to.src, folder, nil)
	if len(got) != len(corpus) {
		t.Fatalf("target holds %d messages after copying %d", len(got), len(corpus))
	}
	for i, m := range got {
		want := s.stored(corpus[i].Data)
		if data := fetchAll(t, ctx, to.src, folder, m.ID); !bytes.Equal(data, want) {
			t.Errorf("message %d: copied %d bytes (sha256 %s), want %d (sha256 %s)", i, len(data), sum(data)[:12], len(want), sum(want)[:12])
		}
		if d, _ := s.kept(corpus[i]); !d.IsZero() && !m.InternalDate.Equal(d) {
			t.Errorf("message %d: InternalDate %v, want %v", i, m.InternalDate, d)
		}
		if outs[i].Result.Ref != "" && outs[i].Result.Ref != m.ID {
			t.Errorf("message %d: ref %q, stored as %q", i, outs[i].Result.Ref, m.ID)
		}
	}
}

func (s *suite) testDelta(t *testing.T) {
	m := s.open(t)
	ctx := s.ctx(t)
	corpus := Corpus()[:3]
	refs := s.seed(t, m, "INBOX", corpus)
	first, res := listAll(t, ctx, m.src, "INBOX", nil)
	if len(first) != 3 || len(res.Checkpoint) == 0 {
		t.Fatalf("first listing: %d messages, checkpoint %q", len(first), res.Checkpoint)
	}
	again, res2 := listAll(t, ctx, m.src, "INBOX", res.Checkpoint)
	if len(again) != 0 {
		t.Fatalf("listing since an up-to-date checkpoint returned %d messages: %+v", len(again), again)
	}
	s.seed(t, m, "INBOX", Corpus()[3:4])
	// Change the flags of the first message, through the target role.
	changed := false
	if fs, ok := m.tgt.(connector.TargetFlagSync); ok && s.d.Capabilities.FlagSync && len(refs) > 0 && refs[0] != "" {
		if _, err := fs.SetFlags(ctx, "INBOX", refs[0], []string{`\Seen`, `\Flagged`}); err != nil {
			t.Fatalf("SetFlags: %v", err)
		}
		changed = true
	}
	delta, _ := listAll(t, ctx, m.src, "INBOX", res2.Checkpoint)
	var newMsgs, flagMsgs []connector.Message
	for _, d := range delta {
		if d.FlagsOnly {
			flagMsgs = append(flagMsgs, d)
		} else {
			newMsgs = append(newMsgs, d)
		}
	}
	if len(newMsgs) != 1 || newMsgs[0].Size != int64(len(s.stored(Corpus()[3].Data))) {
		t.Fatalf("delta listing: new messages %+v, want the one added", newMsgs)
	}
	for _, f := range first {
		if f.ID == newMsgs[0].ID {
			t.Fatalf("new message reuses ID %s", f.ID)
		}
	}
	if changed {
		if len(flagMsgs) != 1 || flagMsgs[0].ID != first[0].ID || !slices.Equal(normFlags(flagMsgs[0].Flags), []string{`\Flagged`, `\Seen`}) {
			t.Fatalf("delta listing: flag changes %+v, want message %s with \\Flagged \\Seen", flagMsgs, first[0].ID)
		}
	}
	// A checkpoint from another folder state (garbage) lists everything.
	all, _ := listAll(t, ctx, m.src, "INBOX", connector.Checkpoint("not a checkpoint"))
	if len(all) != 4 {
		t.Fatalf("listing with an unusable checkpoint returned %d messages, want all 4", len(all))
	}
}

func (s *suite) runTarget(t *testing.T) {
	t.Run("EnsureFolder", func(t *testing.T) {
		m := s.open(t)
		ctx := s.ctx(t)
		names := []string{
			m.path("Entwürfe"),
			m.path("Входящие", "Отчёты"),
			m.path("日本語"),
			m.path("Projects & Plans", "Q1 2024"),
		}
		for _, n := range names {
			f, err := m.tgt.EnsureFolder(ctx, n, "")
			if err != nil {
				t.Fatalf("EnsureFolder(%q): %v", n, err)
			}
			if !f.Created || f.Name != n {
				t.Errorf("EnsureFolder(%q) = %+v, want created with the same name", n, f)
			}
			again, err := m.tgt.EnsureFolder(ctx, n, "")
			if err != nil || again.Created {
				t.Errorf("second EnsureFolder(%q) = %+v, %v; want existing", n, again, err)
			}
		}
		h, err := m.tgt.Folders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if !slices.ContainsFunc(h.Folders, func(f connector.Folder) bool { return f.Name == n }) {
				t.Errorf("folder %q missing from Folders", n)
			}
		}
	})
	t.Run("AppendExact", func(t *testing.T) {
		m := s.open(t)
		ctx := s.ctx(t)
		folder := m.path("Append Test")
		corpus := s.corpus()
		refs := s.seedTarget(t, m, folder, corpus)
		if m.src == nil {
			return
		}
		got, _ := listAll(t, ctx, m.src, folder, nil)
		if len(got) != len(corpus) {
			t.Fatalf("after %d appends the folder lists %d messages (a mailbox is a multiset: identical copies must all be kept)", len(corpus), len(got))
		}
		for i, msg := range got {
			want := corpus[i]
			if refs[i] != "" && refs[i] != msg.ID {
				t.Errorf("message %d: Append returned ref %q, listed as %q", i, refs[i], msg.ID)
			}
			if data, wantData := fetchAll(t, ctx, m.src, folder, msg.ID), s.stored(want.Data); !bytes.Equal(data, wantData) {
				t.Errorf("message %d: stored %d bytes (sha256 %s), want %d (sha256 %s)", i, len(data), sum(data)[:12], len(wantData), sum(wantData)[:12])
			}
			wantDate, wantFlags := s.kept(want)
			if !wantDate.IsZero() && !msg.InternalDate.Equal(wantDate) {
				t.Errorf("message %d: InternalDate %v, appended with %v (kept as %v)", i, msg.InternalDate, want.InternalDate, wantDate)
			}
			if !s.d.Capabilities.Keywords {
				wantFlags = slices.DeleteFunc(slices.Clone(wantFlags), func(f string) bool { return !strings.HasPrefix(f, `\`) })
			}
			if g, w := normFlags(msg.Flags), normFlags(wantFlags); !slices.Equal(g, w) {
				t.Errorf("message %d: flags %q, appended with %q", i, g, w)
			}
		}
	})
	t.Run("AppendShortBody", func(t *testing.T) {
		m := s.open(t)
		ctx := s.ctx(t)
		data := Corpus()[0].Data
		_, err := m.tgt.Append(ctx, "INBOX", &connector.AppendMessage{Size: int64(len(data)) + 100, Body: bytes.NewReader(data)})
		if err == nil {
			t.Fatal("Append with a body shorter than its size succeeded")
		}
		if m.src != nil {
			if got, _ := listAll(t, ctx, m.src, "INBOX", nil); len(got) != 0 {
				t.Fatalf("a failed append left %d messages", len(got))
			}
		}
		// The session must still work.
		s.seedTarget(t, m, "INBOX", Corpus()[:1])
	})
	t.Run("AppendMissingFolder", func(t *testing.T) {
		m := s.open(t)
		data := Corpus()[0].Data
		_, err := m.tgt.Append(s.ctx(t), m.path("Does not exist"), &connector.AppendMessage{Size: int64(len(data)), Body: bytes.NewReader(data)})
		if !errors.Is(err, connector.ErrNotFound) {
			t.Fatalf("Append to a missing folder: %v, want ErrNotFound", err)
		}
	})
	if s.d.Capabilities.Lookup {
		t.Run("Lookup", s.testLookup)
	}
	if s.d.Capabilities.FlagSync {
		t.Run("SetFlags", s.testSetFlags)
	}
	if max := s.d.Capabilities.MaxMessageSize; max > 0 && max < 64<<20 {
		t.Run("TooLarge", func(t *testing.T) {
			m := s.open(t)
			data := large(int(max) + 1)
			_, err := m.tgt.Append(s.ctx(t), "INBOX", &connector.AppendMessage{Size: int64(len(data)), Body: bytes.NewReader(data)})
			if !errors.Is(err, connector.ErrTooLarge) {
				t.Fatalf("Append over MaxMessageSize: %v, want ErrTooLarge", err)
			}
		})
	}
}

func (s *suite) seedTarget(t *testing.T, m *mailbox, folder string, msgs []SeedMessage) []string {
	t.Helper()
	h := s.h
	h.Seed = nil
	s2 := *s
	s2.h = h
	return s2.seed(t, m, folder, msgs)
}

func (s *suite) testLookup(t *testing.T) {
	m := s.open(t)
	ctx := s.ctx(t)
	l := m.tgt.(connector.TargetLookup)
	folder := m.path("Lookup")
	before, err := m.tgt.EnsureFolder(ctx, folder, "")
	if err != nil {
		t.Fatal(err)
	}
	corpus := Corpus()
	twin := corpus[3]
	q := func(sm SeedMessage, since string) *connector.LookupQuery {
		data := s.stored(sm.Data)
		h := connector.HeaderSection(data)
		return &connector.LookupQuery{
			MessageID: connector.MessageIDOf(h), Fingerprint: connector.Fingerprint(int64(len(data)), h),
			Size: int64(len(data)), Since: since,
		}
	}
	refs := s.seedTarget(t, m, folder, []SeedMessage{corpus[0], twin})
	mid, err := m.tgt.EnsureFolder(ctx, folder, "")
	if err != nil {
		t.Fatal(err)
	}
	refs = append(refs, s.seedTarget(t, m, folder, []SeedMessage{twin, corpus[2]})...)

	got, err := l.Lookup(ctx, folder, q(twin, before.Watermark))
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if len(got) != 2 || (refs[1] != "" && (got[0] != refs[1] || got[1] != refs[2])) {
		t.Fatalf("Lookup(twin since start) = %q, want both copies %q %q", got, refs[1], refs[2])
	}
	got, err = l.Lookup(ctx, folder, q(twin, mid.Watermark))
	if err != nil || len(got) != 1 || (refs[2] != "" && got[0] != refs[2]) {
		t.Fatalf("Lookup(twin since watermark) = %q, %v; want only the copy appended after it (%q)", got, err, refs[2])
	}
	// A message without Message-ID is found by fingerprint.
	got, err = l.Lookup(ctx, folder, q(corpus[2], mid.Watermark))
	if err != nil || len(got) != 1 {
		t.Fatalf("Lookup(no Message-ID) = %q, %v; want one", got, err)
	}
	// A different message with the same Message-ID is not a match.
	fake := corpus[0]
	fake.Data = append(slices.Clone(fake.Data), "tampered\r\n"...)
	got, err = l.Lookup(ctx, folder, q(fake, ""))
	if err != nil || len(got) != 0 {
		t.Fatalf("Lookup(other content, same Message-ID) = %q, %v; want none", got, err)
	}
	// Before the watermark nothing of the first batch is returned.
	got, err = l.Lookup(ctx, folder, q(corpus[0], mid.Watermark))
	if err != nil || len(got) != 0 {
		t.Fatalf("Lookup(message appended before the watermark) = %q, %v; want none", got, err)
	}
}

func (s *suite) testSetFlags(t *testing.T) {
	m := s.open(t)
	ctx := s.ctx(t)
	f := m.tgt.(connector.TargetFlagSync)
	refs := s.seedTarget(t, m, "INBOX", Corpus()[:2])
	if refs[0] == "" {
		t.Skip("target returns no refs (no UIDPLUS); flags are set through Lookup refs")
	}
	want := []string{`\Answered`, `\Seen`}
	if s.d.Capabilities.Keywords {
		want = append(want, "$Forwarded")
	}
	if _, err := f.SetFlags(ctx, "INBOX", refs[0], want); err != nil {
		t.Fatalf("SetFlags: %v", err)
	}
	if _, err := f.SetFlags(ctx, "INBOX", refs[1], nil); err != nil {
		t.Fatalf("SetFlags(none): %v", err)
	}
	if m.src == nil {
		return
	}
	got, _ := listAll(t, ctx, m.src, "INBOX", nil)
	_, kept := s.kept(SeedMessage{Data: Corpus()[0].Data, Flags: want})
	if g, w := normFlags(got[0].Flags), normFlags(kept); !slices.Equal(g, w) {
		t.Errorf("after SetFlags: %q, want %q", g, w)
	}
	if g := normFlags(got[1].Flags); len(g) != 0 {
		t.Errorf("after clearing flags: %q, want none", g)
	}
}

func (s *suite) testBadCredential(t *testing.T) {
	c := s.newConn(t)
	ctx := s.ctx(t)
	req := s.h.BadCredential(t)
	var err error
	if s.d.HasRole(connector.RoleSource) {
		var src connector.Source
		src, err = c.OpenSource(ctx, req)
		if err == nil {
			src.Close(ctx)
		}
	} else {
		var tgt connector.Target
		tgt, err = c.OpenTarget(ctx, req)
		if err == nil {
			tgt.Close(ctx)
		}
	}
	if !errors.Is(err, connector.ErrAuth) {
		t.Fatalf("open with a bad credential: %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), req.Credential.Secret) && req.Credential.Secret != "" {
		t.Fatalf("the error shows the secret: %v", err)
	}
}
