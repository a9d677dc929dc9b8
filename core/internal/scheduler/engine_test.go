package scheduler

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/memconnector"
)

// engineRunner runs passes with the real engine between two in-memory
// connectors, the ledger in the store.
type engineRunner struct {
	eng      *engine.Engine
	db       *store.DB
	src, dst *memconnector.Connector
	sealed   *atomic.Bool // the secrets backend is unavailable
}

func (r *engineRunner) Run(ctx context.Context, p *project.Project, u *project.User, prog *engine.Progress) *engine.Report {
	mailbox := u.SourceUser + "->" + u.TargetUser
	side := func(login, secret string) func(context.Context) (*connector.OpenRequest, error) {
		return func(context.Context) (*connector.OpenRequest, error) {
			if r.sealed != nil && r.sealed.Load() {
				return nil, fmt.Errorf("credentials: %w: Vault is sealed", engine.ErrWait)
			}
			return &connector.OpenRequest{Settings: []byte(`{}`), User: login, Credential: connector.Credential{Mode: "password", Secret: secret}}, nil
		}
	}
	opts := p.Settings.Options()
	opts.RetryBase, opts.RetryMax, opts.PageSize = time.Millisecond, 5*time.Millisecond, 10
	return r.eng.Run(ctx, &engine.Job{
		Mailbox:  mailbox,
		Ledger:   r.db.Ledger(mailbox),
		Source:   engine.Endpoint{Connector: r.src, Request: side(u.SourceUser, "src-pw"), Label: "mem " + u.SourceUser},
		Target:   engine.Endpoint{Connector: r.dst, Request: side(u.TargetUser, "dst-pw"), Label: "mem " + u.TargetUser},
		Options:  opts,
		Progress: prog,
	})
}

func seedMail(c *memconnector.Connector, login string, n int) {
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		folder := "INBOX"
		if i%3 == 0 {
			folder = "Archive"
		}
		c.Seed(login, folder, []byte(fmt.Sprintf("From: a@example.com\r\nMessage-ID: <%s-%d@example.com>\r\nSubject: %d\r\n\r\nbody %d of %s\r\n", login, i, i, i, login)), base.Add(time.Duration(i)*time.Hour), `\Seen`)
	}
}

// messageIDs lists the Message-IDs in a user's mailbox, sorted, per folder.
func messageIDs(c *memconnector.Connector, login string) []string {
	var out []string
	for _, f := range c.FolderNames(login) {
		for _, m := range c.Messages(login, f) {
			_, rest, _ := strings.Cut(string(m.Data), "Message-ID: ")
			id, _, _ := strings.Cut(rest, "\r\n")
			out = append(out, f+" "+id)
		}
	}
	slices.Sort(out)
	return out
}

// A batch interrupted by a shutdown mid-pass and resumed by a new
// scheduler over the reopened store ends with every message on the target
// exactly once; the interrupted pass's report says so.
func TestEngineShutdownAndResumeExactlyOnce(t *testing.T) {
	const perUser = 150
	dir := t.TempDir()
	open := func() (*store.DB, *project.Store) {
		db, err := store.Open(filepath.Join(dir, "db"), &store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		sec, err := secrets.OpenEmbedded(filepath.Join(dir, "s.json"), filepath.Join(dir, "s.key"))
		if err != nil {
			t.Fatal(err)
		}
		return db, project.NewStore(db, sec)
	}
	db, st := open()
	ctx := context.Background()
	var appends atomic.Int64
	reached := make(chan struct{})
	var once sync.Once
	src := memconnector.New(nil)
	dst := memconnector.New(&memconnector.Options{Fault: func(op, _, _, _ string) error {
		if op == "append" {
			if appends.Add(1) == 40 {
				once.Do(func() { close(reached) })
			}
			if appends.Load() > 40 {
				time.Sleep(time.Millisecond) // slow enough to be stopped mid-pass
			}
		}
		return nil
	}})
	p := &project.Project{Name: "mem", Source: "mem-src", Target: "mem-dst"}
	if err := st.PutProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	var users []*project.User
	for _, login := range []string{"alice", "bob"} {
		src.AddUser(login, "src-pw")
		dst.AddUser(login+"@example.com", "dst-pw")
		seedMail(src, login, perUser)
		u := &project.User{Project: p.ID, SourceUser: login, TargetUser: login + "@example.com"}
		if err := st.PutUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	b := &project.Batch{Project: p.ID, Users: []string{users[0].ID, users[1].ID}}
	if err := st.PutBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: monday("12:00")}
	// One mailbox at a time: store.DB's ledgers share one WaitGroup for
	// their asynchronous commits, and two mailboxes syncing at once can
	// make it panic ("WaitGroup is reused before previous Wait has
	// returned"); see the report of this package's author.
	o := Options{Now: clk.Now, Tick: time.Hour, Concurrency: 1}
	eng := engine.New(engine.Config{})
	s := New(st, &engineRunner{eng: eng, db: db, src: src, dst: dst}, o)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Submit(ctx, p.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	s.Tick()
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the pass did not get going")
	}
	s.Close()
	copied := 0
	for _, u := range users {
		copied += len(messageIDs(dst, u.TargetUser))
	}
	if copied == 0 || copied >= 2*perUser {
		t.Fatalf("%d messages on the target after the shutdown: the pass was not stopped mid-way", copied)
	}
	// Alice was running (one mailbox at a time, 40 of her 150 messages
	// stored); bob waits for his turn.
	for i, u := range users {
		rs, err := st.Reports(ctx, p.ID, u.ID)
		if err != nil || len(rs) != 1-i || i == 0 && rs[0].Interrupted != "shutdown" {
			t.Fatalf("%s: reports after the shutdown %+v %v", u.SourceUser, rs, err)
		}
		if got, _ := st.User(ctx, p.ID, u.ID); got.Status != project.StatusQueued {
			t.Fatalf("%s is %s after the shutdown", u.SourceUser, got.Status)
		}
	}
	if got, _ := st.Batch(ctx, p.ID, b.ID); got.State != project.BatchRunning {
		t.Fatalf("batch %s after the shutdown", got.State)
	}
	db.Close()

	// The daemon comes back.
	db, st = open()
	defer db.Close()
	s = New(st, &engineRunner{eng: eng, db: db, src: src, dst: dst}, o)
	defer s.Close()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := st.Batch(ctx, p.ID, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == project.BatchDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s after 20 s", got.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, u := range users {
		want, got := messageIDs(src, u.SourceUser), messageIDs(dst, u.TargetUser)
		if len(want) != perUser || !slices.Equal(got, want) {
			t.Errorf("%s: target holds %d messages, source %d (or they differ)", u.SourceUser, len(got), len(want))
		}
		rs, _ := st.Reports(ctx, p.ID, u.ID)
		var stored int64
		for _, r := range rs {
			stored += r.Report.Totals.Copied + r.Report.Totals.Reconciled
		}
		if last := rs[len(rs)-1]; len(rs) != 2-i || last.Interrupted != "" || last.Report.Status != engine.StatusOK || stored != perUser {
			last := rs[len(rs)-1]
			t.Errorf("%s: %d reports, last %s %q (interrupted %q), %d messages stored by the two passes", u.SourceUser, len(rs), last.Report.Status, last.Report.Error, last.Interrupted, stored)
		}
		if got, _ := st.User(ctx, p.ID, u.ID); got.Status != project.StatusDone || got.Passes != 1 {
			t.Errorf("%s: status %s passes %d", u.SourceUser, got.Status, got.Passes)
		}
	}
}

// While the secrets backend is unavailable the user is waiting, with the
// reason; when it is back the pass goes on by itself.
func TestEngineWaitingForSecrets(t *testing.T) {
	e := newEnv(t, Options{}, 0)
	src, dst := memconnector.New(nil), memconnector.New(nil)
	src.AddUser("carol", "src-pw")
	dst.AddUser("carol@example.com", "dst-pw")
	seedMail(src, "carol", 20)
	carol := &project.User{Project: e.p.ID, SourceUser: "carol", TargetUser: "carol@example.com"}
	if err := e.st.PutUser(e.ctx, carol); err != nil {
		t.Fatal(err)
	}
	var sealed atomic.Bool
	sealed.Store(true)
	e.s.Close()
	e.s = e.start(&engineRunner{eng: engine.New(engine.Config{}), db: e.db, src: src, dst: dst, sealed: &sealed})
	b := e.batch(e.p, project.Schedule{}, 0, carol)
	e.s.Tick()
	e.eventually("carol to wait", func() bool {
		e.s.Tick()
		return e.user(carol).Status == project.StatusWaiting
	})
	if w := e.user(carol).Waiting; !strings.Contains(w, "Vault is sealed") {
		t.Fatalf("waiting %q", w)
	}
	if m := e.s.Metrics(); m.Waiting != 1 || m.Running != 0 {
		t.Fatalf("metrics while waiting %+v", m)
	}
	if up, _ := e.s.UserProgress(e.p.ID, carol.ID); up.Status != project.StatusWaiting || !strings.Contains(up.Waiting, "sealed") {
		t.Fatalf("progress while waiting %+v", up)
	}
	sealed.Store(false)
	e.waitBatch(b, project.BatchDone)
	if got := e.user(carol); got.Status != project.StatusDone || got.Waiting != "" || got.Totals.Copied != 20 {
		t.Fatalf("after the wait %+v", got)
	}
	if got := len(messageIDs(dst, "carol@example.com")); got != 20 {
		t.Fatalf("%d messages on the target", got)
	}
}
