package engine_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
	"github.com/ternmail/tern/sdk/memconnector"
)

// env is a source and a target in memory with a ledger on disk.
type env struct {
	t        *testing.T
	src, dst *memconnector.Connector
	srcConn  connector.Connector
	dstConn  connector.Connector
	db       *store.DB
	eng      *engine.Engine
	user     string
	dstUser  string
	srcSet   string
	dstSet   string
	opts     engine.Options
}

func newEnv(t *testing.T, srcOpts, dstOpts *memconnector.Options, wire bool) *env {
	t.Helper()
	db, err := store.Open(t.TempDir(), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, src: memconnector.New(srcOpts), dst: memconnector.New(dstOpts), db: db, eng: engine.New(engine.Config{}), user: "alice", dstUser: "alice",
		srcSet: `{"delimiter":"."}`, dstSet: `{"delimiter":"/"}`,
		opts: engine.Options{RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond, PageSize: 3}}
	e.src.AddUser("alice", "src-Secret-9")
	e.dst.AddUser("alice", "dst-Secret-9")
	e.srcConn, e.dstConn = e.src, e.dst
	if wire {
		e.srcConn, e.dstConn = connectortest.Pipe(t, e.src), connectortest.Pipe(t, e.dst)
	}
	return e
}

func (e *env) job() *engine.Job {
	return &engine.Job{
		Mailbox: "alice->alice",
		Ledger:  e.db.Ledger("alice->alice"),
		Source: engine.Endpoint{Connector: e.srcConn, Label: "mem alice", Request: func(context.Context) (*connector.OpenRequest, error) {
			return &connector.OpenRequest{Settings: []byte(e.srcSet), User: e.user, Credential: connector.Credential{Mode: "password", Secret: "src-Secret-9"}}, nil
		}},
		Target: engine.Endpoint{Connector: e.dstConn, Label: "mem alice", Request: func(context.Context) (*connector.OpenRequest, error) {
			return &connector.OpenRequest{Settings: []byte(e.dstSet), User: e.dstUser, Credential: connector.Credential{Mode: "password", Secret: "dst-Secret-9"}}, nil
		}},
		Options: e.opts,
	}
}

func (e *env) run() *engine.Report {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return e.eng.Run(ctx, e.job())
}

type rec struct {
	sum   string
	date  time.Time
	flags string
}

func snapshot(c *memconnector.Connector, user string, rename func(string) string) map[string][]rec {
	out := map[string][]rec{}
	for _, f := range c.FolderNames(user) {
		name := f
		if rename != nil {
			name = rename(f)
		}
		for _, m := range c.Messages(user, f) {
			fl := slices.Clone(m.Flags)
			slices.Sort(fl)
			out[name] = append(out[name], rec{fmt.Sprintf("%x", sha256.Sum256(m.Data)), m.InternalDate.UTC(), strings.Join(fl, " ")})
		}
		slices.SortFunc(out[name], func(a, b rec) int { return strings.Compare(a.sum+a.flags, b.sum+b.flags) })
		if len(out[name]) == 0 {
			delete(out, name)
		}
	}
	return out
}

func dots(s string) string { return strings.ReplaceAll(s, ".", "/") }

// requireEqual checks that the target holds exactly the source's messages.
func (e *env) requireEqual() {
	e.t.Helper()
	want := snapshot(e.src, e.user, dots)
	got := snapshot(e.dst, e.dstUser, nil)
	for f, w := range want {
		g := got[f]
		if len(g) != len(w) {
			e.t.Errorf("folder %q: target has %d messages, source %d", f, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				e.t.Errorf("folder %q message %d: target %+v, source %+v", f, i, g[i], w[i])
			}
		}
	}
	for f, g := range got {
		if _, ok := want[f]; !ok {
			e.t.Errorf("target folder %q (%d messages) has no source", f, len(g))
		}
	}
}

var base = time.Date(2015, 1, 1, 12, 0, 0, 0, time.UTC)

func message(i int, extra string) []byte {
	return []byte(fmt.Sprintf("From: a@example.com\r\nSubject: message %d\r\nMessage-ID: <m%d@example.com>\r\n\r\nBody %d %s\r\n", i, i, i, extra))
}

func seedCorpus(c *memconnector.Connector, user string) {
	twin := []byte("Subject: twin\r\nMessage-ID: <twin@example.com>\r\n\r\nsame\r\n")
	for i := range 7 {
		c.Seed(user, "INBOX", message(i, ""), base.AddDate(i, 0, 0), `\Seen`)
	}
	c.Seed(user, "INBOX", twin, base, `\Flagged`)
	c.Seed(user, "INBOX", twin, base, `\Flagged`)
	c.Seed(user, "INBOX", []byte("Subject: no id, no body"), base.AddDate(0, 6, 0))
	c.Seed(user, "Entwürfe.Alt", message(10, "ü"), base.AddDate(9, 11, 0), `$Forwarded`, `\Answered`)
	c.Seed(user, "Входящие.Отчёты", message(11, "ё"), base.AddDate(3, 0, 0))
	c.Seed(user, "Projects & Plans.Q1 2024", message(12, ""), base.AddDate(4, 0, 0), "custom")
}

func TestMigrateExactlyOnce(t *testing.T) {
	for _, wire := range []bool{false, true} {
		t.Run(fmt.Sprintf("wire=%v", wire), func(t *testing.T) {
			e := newEnv(t, nil, nil, wire)
			seedCorpus(e.src, "alice")
			rep := e.run()
			if rep.Status != engine.StatusOK || rep.Totals.Copied != 13 {
				t.Fatalf("first pass: status %s, copied %d, error %q", rep.Status, rep.Totals.Copied, rep.Error)
			}
			e.requireEqual()

			// A re-run copies nothing.
			rep = e.run()
			if rep.Status != engine.StatusOK || rep.Totals.Copied != 0 {
				t.Fatalf("re-run: status %s, copied %d", rep.Status, rep.Totals.Copied)
			}
			e.requireEqual()

			// A delta pass copies what is new and syncs changed flags.
			e.src.Seed("alice", "INBOX", message(20, ""), base)
			e.src.Seed("alice", "New.Folder", message(21, ""), base)
			if err := e.src.SetFlags("alice", "INBOX", 1, `\Seen`, `\Answered`, "$Label"); err != nil {
				t.Fatal(err)
			}
			rep = e.run()
			if rep.Totals.Copied != 2 || rep.Totals.FlagsUpdated != 1 {
				t.Fatalf("delta: copied %d (want 2), flags updated %d (want 1)", rep.Totals.Copied, rep.Totals.FlagsUpdated)
			}
			e.requireEqual()
		})
	}
}

// One plugin process serving both sides: bodies are copied inside it.
func TestMigrateWithinOnePlugin(t *testing.T) {
	e := newEnv(t, nil, nil, false)
	e.dst = e.src
	e.dstUser = "alice-new"
	e.src.AddUser("alice-new", "dst-Secret-9")
	shared := connectortest.Pipe(t, e.src)
	e.srcConn, e.dstConn = shared, shared
	seedCorpus(e.src, "alice")
	rep := e.run()
	if rep.Status != engine.StatusOK || rep.Totals.Copied != 13 {
		t.Fatalf("status %s copied %d: %s", rep.Status, rep.Totals.Copied, rep.Error)
	}
	e.requireEqual()
	e.src.Seed("alice", "INBOX", message(50, ""), base)
	if rep := e.run(); rep.Totals.Copied != 1 {
		t.Fatalf("delta copied %d", rep.Totals.Copied)
	}
	e.requireEqual()
}

func TestUIDValidityChange(t *testing.T) {
	e := newEnv(t, nil, nil, false)
	seedCorpus(e.src, "alice")
	if rep := e.run(); rep.Status != engine.StatusOK {
		t.Fatalf("first pass: %s %s", rep.Status, rep.Error)
	}
	e.src.Renumber("alice", "INBOX")
	e.src.Seed("alice", "INBOX", message(30, ""), base)
	rep := e.run()
	if rep.Totals.Copied != 1 || rep.Totals.Rematched != 10 {
		t.Fatalf("after UIDVALIDITY change: copied %d (want 1), rematched %d (want 10)", rep.Totals.Copied, rep.Totals.Rematched)
	}
	e.requireEqual()
	// And the next pass is a plain delta again.
	rep = e.run()
	if rep.Status != engine.StatusOK || rep.Totals.Copied != 0 || rep.Totals.Rematched != 0 {
		t.Fatalf("pass after rekey: %+v", rep.Totals)
	}
	e.requireEqual()
}

// crashAfter wraps a target so that the n-th append stores the message and
// then "crashes": it cancels the run before the engine hears of success.
type crashTarget struct {
	connector.Connector
	appends   atomic.Int64
	crashAt   int64
	cancel    context.CancelFunc
	ambiguous bool // instead of crashing, fail the append after storing it
}

func (c *crashTarget) OpenTarget(ctx context.Context, req *connector.OpenRequest) (connector.Target, error) {
	t, err := c.Connector.OpenTarget(ctx, req)
	if err != nil {
		return nil, err
	}
	return &crashSession{Target: t, c: c}, nil
}

type crashSession struct {
	connector.Target
	c *crashTarget
}

func (s *crashSession) Append(ctx context.Context, folder string, m *connector.AppendMessage) (*connector.AppendResult, error) {
	res, err := s.Target.Append(ctx, folder, m)
	if err != nil {
		return nil, err
	}
	if n := s.c.appends.Add(1); n == s.c.crashAt || (s.c.ambiguous && n%3 == 0) {
		if s.c.cancel != nil {
			s.c.cancel()
		}
		return nil, connector.Errorf(connector.KindUnavailable, "connection lost after the append")
	}
	return res, nil
}

func (s *crashSession) Lookup(ctx context.Context, folder string, q *connector.LookupQuery) ([]string, error) {
	return s.Target.(connector.TargetLookup).Lookup(ctx, folder, q)
}

func (s *crashSession) SetFlags(ctx context.Context, folder, ref string, flags []string) (*connector.SetFlagsResult, error) {
	return s.Target.(connector.TargetFlagSync).SetFlags(ctx, folder, ref, flags)
}

func TestCrashBetweenAppendAndLedger(t *testing.T) {
	for _, at := range []int64{1, 5, 9, 13} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			e := newEnv(t, nil, nil, false)
			seedCorpus(e.src, "alice")
			ctx, cancel := context.WithCancel(context.Background())
			ct := &crashTarget{Connector: e.dst, crashAt: at, cancel: cancel}
			e.dstConn = ct
			rep := e.eng.Run(ctx, e.job())
			if rep.Status != engine.StatusFailed {
				t.Fatalf("crashed pass: status %s", rep.Status)
			}
			e.dstConn = e.dst
			rep = e.run()
			if rep.Status != engine.StatusOK {
				t.Fatalf("resumed pass: %s %s", rep.Status, rep.Error)
			}
			if rep.Totals.Reconciled < 1 {
				t.Errorf("resumed pass reconciled %d messages; the crashed one must be found on the target", rep.Totals.Reconciled)
			}
			e.requireEqual()
		})
	}
}

func TestAmbiguousAppendFailuresDoNotDuplicate(t *testing.T) {
	e := newEnv(t, nil, nil, false)
	seedCorpus(e.src, "alice")
	e.dstConn = &crashTarget{Connector: e.dst, ambiguous: true}
	rep := e.run()
	if rep.Status != engine.StatusOK || rep.Totals.Copied != 13 {
		t.Fatalf("status %s copied %d: %+v", rep.Status, rep.Totals.Copied, rep.Folders)
	}
	e.requireEqual()
}

func TestPerItemErrors(t *testing.T) {
	var tries sync.Map
	fault := func(op, user, folder, detail string) error {
		if op != "append" {
			return nil
		}
		switch detail { // the message size
		case fmt.Sprint(len(message(40, "reject-me-please"))):
			return connector.Errorf(connector.KindPermanent, "message rejected: bad header")
		case fmt.Sprint(len(message(10, "ü"))):
			n, _ := tries.LoadOrStore(detail, new(atomic.Int64))
			if n.(*atomic.Int64).Add(1) <= 2 {
				return connector.Errorf(connector.KindTemporary, "try later")
			}
		}
		return nil
	}
	e := newEnv(t, nil, &memconnector.Options{Fault: fault, MaxMessageSize: 150}, false)
	seedCorpus(e.src, "alice")
	big := bytes.Repeat([]byte("x"), 200)
	e.src.Seed("alice", "INBOX", append([]byte("Subject: big\r\n\r\n"), big...), base)
	e.src.Seed("alice", "INBOX", message(40, "reject-me-please"), base)
	rep := e.run()
	if rep.Status != engine.StatusPartial {
		t.Fatalf("status %s, want partial", rep.Status)
	}
	if rep.Totals.Skipped != 2 || rep.Totals.Copied != 13 {
		t.Fatalf("skipped %d (want 2: too large, rejected), copied %d (want 13)", rep.Totals.Skipped, rep.Totals.Copied)
	}
	var reasons []string
	for _, f := range rep.Folders {
		for _, it := range f.Items {
			reasons = append(reasons, it.Reason)
		}
	}
	joined := strings.Join(reasons, "\n")
	if !strings.Contains(joined, "exceeds the target's limit") || !strings.Contains(joined, "bad header") {
		t.Fatalf("reasons do not say why: %q", reasons)
	}
	// Skipped messages stay skipped on a re-run; nothing is copied twice.
	rep = e.run()
	if rep.Totals.Copied != 0 || rep.Totals.Skipped != 2 {
		t.Fatalf("re-run: copied %d skipped %d", rep.Totals.Copied, rep.Totals.Skipped)
	}
}

func TestAuthFailureEndsTheMailboxWithoutSecrets(t *testing.T) {
	e := newEnv(t, nil, nil, true)
	seedCorpus(e.src, "alice")
	e.src.AddUser("alice", "something-else")
	rep := e.run()
	if rep.Status != engine.StatusFailed || !strings.Contains(rep.Error, "refused") {
		t.Fatalf("status %s error %q", rep.Status, rep.Error)
	}
	if strings.Contains(rep.Error, "src-Secret-9") {
		t.Fatalf("report shows the password: %q", rep.Error)
	}
}

func TestSecretsScrubbedFromErrors(t *testing.T) {
	fault := func(op, user, folder, detail string) error {
		if op == "append" {
			return connector.Errorf(connector.KindPermanent, "server said: LOGIN alice dst-Secret-9 failed")
		}
		return nil
	}
	e := newEnv(t, nil, &memconnector.Options{Fault: fault}, false)
	e.src.Seed("alice", "INBOX", message(1, ""), base)
	rep := e.run()
	for _, f := range rep.Folders {
		for _, it := range f.Items {
			if strings.Contains(it.Reason, "dst-Secret-9") || !strings.Contains(it.Reason, "[redacted]") {
				t.Fatalf("item reason %q", it.Reason)
			}
		}
	}
	if rep.Totals.Skipped != 1 {
		t.Fatalf("skipped %d", rep.Totals.Skipped)
	}
}

func TestFiltersAndRules(t *testing.T) {
	e := newEnv(t, nil, nil, false)
	seedCorpus(e.src, "alice")
	e.opts.Rules = engine.Rules{Exclude: []string{"Projects & Plans/**"}, Rename: []engine.Rename{{From: "Entwürfe", To: "Archive/Entwürfe"}}}
	e.opts.Filter = engine.Filter{Since: base.AddDate(1, 0, 0)}
	rep := e.run()
	if rep.Status != engine.StatusOK {
		t.Fatalf("%s %s", rep.Status, rep.Error)
	}
	got := e.dst.FolderNames("alice")
	if slices.Contains(got, "Projects & Plans/Q1 2024") || !slices.Contains(got, "Archive/Entwürfe/Alt") {
		t.Fatalf("target folders %q", got)
	}
	// INBOX: 7 messages over 7 years from 2015, twins and the no-id one from 2015: 6 are on or after 2016.
	if n := len(e.dst.Messages("alice", "INBOX")); n != 6 || rep.Totals.Excluded != 4 {
		t.Fatalf("INBOX has %d messages (want 6), excluded %d (want 4)", n, rep.Totals.Excluded)
	}
}

func TestTemporaryErrorsExhaustedLeaveCheckpoint(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	fault := func(op, user, folder, detail string) error {
		if op == "append" && fail.Load() {
			return connector.Errorf(connector.KindTemporary, "busy")
		}
		return nil
	}
	e := newEnv(t, nil, &memconnector.Options{Fault: fault}, false)
	seedCorpus(e.src, "alice")
	rep := e.run()
	if rep.Status != engine.StatusPartial || rep.Totals.Failed != 13 {
		t.Fatalf("status %s failed %d", rep.Status, rep.Totals.Failed)
	}
	fail.Store(false)
	rep = e.run()
	if rep.Status != engine.StatusOK || rep.Totals.Copied != 13 {
		t.Fatalf("second pass: status %s copied %d", rep.Status, rep.Totals.Copied)
	}
	e.requireEqual()
}

func TestCancelledRunResumes(t *testing.T) {
	e := newEnv(t, nil, nil, true)
	for i := range 200 {
		e.src.Seed("alice", "INBOX", message(i, ""), base)
	}
	ctx, cancel := context.WithCancel(context.Background())
	job := e.job()
	job.Progress = &engine.Progress{}
	go func() {
		for job.Progress.Copied.Load() < 50 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	rep := e.eng.Run(ctx, job)
	if rep.Status == engine.StatusOK {
		t.Fatalf("a cancelled run says ok")
	}
	rep = e.run()
	if rep.Status != engine.StatusOK {
		t.Fatalf("resume: %s %s", rep.Status, rep.Error)
	}
	e.requireEqual()
	if got := len(e.dst.Messages("alice", "INBOX")); got != 200 {
		t.Fatalf("INBOX has %d messages", got)
	}
}

func TestBadRules(t *testing.T) {
	e := newEnv(t, nil, nil, false)
	e.opts.Rules.Include = []string{"[unclosed"}
	rep := e.run()
	if rep.Status != engine.StatusFailed || !strings.Contains(rep.Error, "[unclosed") {
		t.Fatalf("status %s error %q", rep.Status, rep.Error)
	}
}

// batchSource copies batches itself (like a connector with MULTIAPPEND),
// but stores only the first `land` messages of each batch and then fails
// the whole call, as a dropped connection in the middle of a batch would.
type batchConn struct {
	connector.Connector
	land  int
	calls atomic.Int64
}

func (b *batchConn) OpenSource(ctx context.Context, req *connector.OpenRequest) (connector.Source, error) {
	s, err := b.Connector.OpenSource(ctx, req)
	if err != nil {
		return nil, err
	}
	return &batchSource{Source: s, b: b}, nil
}

type batchSource struct {
	connector.Source
	b *batchConn
}

func (s *batchSource) CopyTo(ctx context.Context, folder string, items []connector.CopyItem, dst connector.Target, dstFolder string) ([]connector.CopyOutcome, error) {
	s.b.calls.Add(1)
	outs := make([]connector.CopyOutcome, len(items))
	for i, it := range items {
		if i == s.b.land && len(items) > 1 {
			return nil, connector.Errorf(connector.KindUnavailable, "connection dropped in the middle of the batch")
		}
		body, err := s.Fetch(ctx, folder, it.ID)
		if err != nil {
			outs[i].Err = &connector.CopyError{Source: true, Err: err}
			continue
		}
		res, err := dst.Append(ctx, dstFolder, &connector.AppendMessage{Size: body.Size(), Body: body, InternalDate: it.InternalDate, Flags: it.Flags})
		body.Close()
		if err != nil {
			outs[i].Err = &connector.CopyError{Err: err}
			continue
		}
		outs[i] = connector.CopyOutcome{Result: res, Size: body.Size()}
	}
	return outs, nil
}

func TestBatchCopies(t *testing.T) {
	for _, land := range []int{100, 0, 3} {
		t.Run(fmt.Sprint(land), func(t *testing.T) {
			e := newEnv(t, nil, nil, false)
			for i := range 40 {
				e.src.Seed("alice", "INBOX", message(i, ""), base, `\Seen`)
			}
			twin := []byte("Subject: twin\r\n\r\nsame\r\n")
			e.src.Seed("alice", "INBOX", twin, base)
			e.src.Seed("alice", "INBOX", twin, base)
			e.opts.BatchSize = 8
			bc := &batchConn{Connector: e.src, land: land}
			e.srcConn = bc
			rep := e.run()
			if rep.Status != engine.StatusOK || rep.Totals.Copied != 42 {
				t.Fatalf("status %s copied %d: %+v", rep.Status, rep.Totals.Copied, rep.Folders[0].Items)
			}
			if bc.calls.Load() == 0 {
				t.Fatal("batches were never used")
			}
			e.requireEqual()
		})
	}
}

// A job whose credentials cannot be had for a while (the secrets backend
// is sealed) pauses, says why, and carries on by itself.
func TestPauseWhileCredentialsUnavailable(t *testing.T) {
	e := newEnv(t, nil, nil, false)
	seedCorpus(e.src, "alice")
	job := e.job()
	var sealed atomic.Bool
	sealed.Store(true)
	inner := job.Source.Request
	job.Source.Request = func(ctx context.Context) (*connector.OpenRequest, error) {
		if sealed.Load() {
			return nil, fmt.Errorf("source credentials: %w: Vault is sealed", engine.ErrWait)
		}
		return inner(ctx)
	}
	job.Progress = &engine.Progress{}
	done := make(chan *engine.Report)
	go func() { done <- e.eng.Run(context.Background(), job) }()
	deadline := time.Now().Add(5 * time.Second)
	for job.Progress.Waiting() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if w := job.Progress.Waiting(); !strings.Contains(w, "Vault is sealed") || !strings.Contains(w, "source") {
		t.Fatalf("waiting = %q", w)
	}
	select {
	case rep := <-done:
		t.Fatalf("the job ended while credentials were unavailable: %s %s", rep.Status, rep.Error)
	case <-time.After(1500 * time.Millisecond):
	}
	sealed.Store(false)
	rep := <-done
	if rep.Status != engine.StatusOK || rep.Totals.Copied != 13 || job.Progress.Waiting() != "" {
		t.Fatalf("after the backend came back: %s copied %d waiting %q", rep.Status, rep.Totals.Copied, job.Progress.Waiting())
	}
	e.requireEqual()
}

// NoFlags copies messages without their flags, and a later pass syncs
// none; bytes and dates still arrive unchanged.
func TestNoFlags(t *testing.T) {
	e := newEnv(t, nil, nil, false)
	seedCorpus(e.src, "alice")
	e.opts.NoFlags = true
	if rep := e.run(); rep.Status != engine.StatusOK || rep.Totals.Copied != 13 {
		t.Fatalf("%s %s, copied %d", rep.Status, rep.Error, rep.Totals.Copied)
	}
	for _, f := range e.dst.FolderNames("alice") {
		for _, m := range e.dst.Messages("alice", f) {
			if len(m.Flags) != 0 {
				t.Fatalf("%s: a message arrived with flags %q", f, m.Flags)
			}
		}
	}
	if rep := e.run(); rep.Totals.FlagsUpdated != 0 || rep.Totals.Copied != 0 {
		t.Fatalf("second pass: %+v", rep.Totals)
	}
	// Without the option, flags arrive as on the source.
	e.opts.NoFlags = false
	e.dst = memconnector.New(nil)
	e.dst.AddUser("alice", "dst-Secret-9")
	e.dstConn = e.dst
	e.db = newDB(t)
	e.run()
	e.requireEqual()
}

// MessagesPerSecond caps the copy rate, also with the default batches of
// 50: 20 messages at 10 a second (a burst of at most a second's worth)
// cannot take less than one second.
func TestRateCap(t *testing.T) {
	e := newEnv(t, nil, nil, false)
	for i := range 20 {
		e.src.Seed("alice", "INBOX", message(i, ""), base)
	}
	e.opts.MessagesPerSecond = 10
	start := time.Now()
	rep := e.run()
	if rep.Status != engine.StatusOK || rep.Totals.Copied != 20 {
		t.Fatalf("%s %s copied %d", rep.Status, rep.Error, rep.Totals.Copied)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("20 messages at 10/s took %v", d)
	}
	e.requireEqual()
}

func newDB(t *testing.T) *store.DB {
	db, err := store.Open(t.TempDir(), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A throttling target is waited for as it asks, without using up the
// message's attempts: six refusals in a row with two attempts allowed
// still copy everything, exactly once.
func TestThrottlingUsesNoAttempts(t *testing.T) {
	var mu sync.Mutex
	refusals := 0
	e := newEnv(t, nil, &memconnector.Options{Fault: func(op, user, folder, detail string) error {
		mu.Lock()
		defer mu.Unlock()
		if op == "append" && refusals < 6 {
			refusals++
			return connector.Throttled(5*time.Millisecond, "user rate limit exceeded")
		}
		return nil
	}}, false)
	for i := range 3 {
		e.src.Seed("alice", "INBOX", message(i, ""), base)
	}
	e.opts.MaxAttempts, e.opts.BatchSize = 2, 1
	rep := e.run()
	if rep.Status != engine.StatusOK || rep.Totals.Copied != 3 || refusals != 6 {
		t.Fatalf("%s %s: copied %d after %d refusals", rep.Status, rep.Error, rep.Totals.Copied, refusals)
	}
	e.requireEqual()
}
