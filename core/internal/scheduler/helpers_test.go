package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/core/internal/testkit"
	"github.com/ternmail/tern/sdk/connector"
)

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// monday is Monday 2026-11-23 at hh:mm, local time.
func monday(hm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", "2026-11-23 "+hm, time.Local)
	if err != nil {
		panic(err)
	}
	return t
}

// call is one Run of the fake runner; the test ends it with finish.
type call struct {
	p    *project.Project
	u    *project.User
	prog *engine.Progress
	ctx  context.Context
	done chan *engine.Report
}

var seq atomic.Int64

// finish ends the call with a status (and an error of a kind if failed).
func (c *call) finish(st engine.Status, kind connector.Kind, errText string) {
	c.done <- &engine.Report{Mailbox: c.u.SourceUser, Status: st, Error: errText, ErrorKind: kind,
		Started: time.Unix(0, seq.Add(1)),
		Totals:  engine.Counts{Copied: c.prog.Copied.Load(), Bytes: c.prog.BytesCopied.Load(), SourceMessages: 10}}
}

func (c *call) ok() { c.finish(engine.StatusOK, 0, "") }

// fakeRunner hands every Run to the test and counts how many run at once,
// overall, per connector and per user.
type fakeRunner struct {
	calls chan *call

	mu       sync.Mutex
	active   int
	max      int
	conn     map[string]int
	connMax  map[string]int
	user     map[string]int
	twice    []string // users run twice at once
	runs     map[string]int
	panicFor string
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{calls: make(chan *call, 100), conn: map[string]int{}, connMax: map[string]int{}, user: map[string]int{}, runs: map[string]int{}}
}

func (r *fakeRunner) Run(ctx context.Context, p *project.Project, u *project.User, prog *engine.Progress) *engine.Report {
	conns := connectorsOf(p)
	r.mu.Lock()
	if u.SourceUser == r.panicFor {
		r.mu.Unlock()
		panic("boom")
	}
	r.active++
	r.max = max(r.max, r.active)
	for _, c := range conns {
		r.conn[c]++
		r.connMax[c] = max(r.connMax[c], r.conn[c])
	}
	r.user[u.ID]++
	if r.user[u.ID] > 1 {
		r.twice = append(r.twice, u.SourceUser)
	}
	r.runs[u.SourceUser]++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.active--
		for _, c := range conns {
			r.conn[c]--
		}
		r.user[u.ID]--
		r.mu.Unlock()
	}()
	c := &call{p: p, u: u, prog: prog, ctx: ctx, done: make(chan *engine.Report, 1)}
	r.calls <- c
	select {
	case rep := <-c.done:
		return rep
	case <-ctx.Done():
		return &engine.Report{Mailbox: u.SourceUser, Status: engine.StatusFailed, Error: context.Cause(ctx).Error(), Started: time.Unix(0, seq.Add(1)),
			Totals: engine.Counts{Copied: prog.Copied.Load()}}
	}
}

// runsOf returns how many times Run was called for a source login.
func (r *fakeRunner) runsOf(login string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[login]
}

// env is a store with a project and users, a fake clock and runner, and
// a started scheduler.
type env struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	sec   secrets.Store
	st    *project.Store
	clock *clock
	r     *fakeRunner
	s     *Scheduler
	o     Options
	p     *project.Project
	users []*project.User
}

func newStore(t *testing.T) (*store.DB, secrets.Store, *project.Store) {
	t.Helper()
	db, sec := testkit.Stores(t)
	return db, sec, project.NewStore(db, sec)
}

func newEnv(t *testing.T, o Options, users int) *env {
	t.Helper()
	db, sec, st := newStore(t)
	e := &env{t: t, ctx: context.Background(), db: db, sec: sec, st: st, clock: &clock{t: monday("12:00")}, r: newFakeRunner()}
	e.p = e.project("main", "old", "new")
	e.users = e.addUsers(e.p, "u", users)
	o.Now = e.clock.Now
	if o.Tick == 0 {
		o.Tick = time.Hour // the test ticks
	}
	e.o = o
	e.s = e.start(e.r)
	return e
}

func (e *env) project(name, src, dst string) *project.Project {
	e.t.Helper()
	p := &project.Project{Name: name, Source: src, Target: dst}
	if err := e.st.PutProject(e.ctx, p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) addUsers(p *project.Project, prefix string, n int) []*project.User {
	e.t.Helper()
	var out []*project.User
	for i := range n {
		u := &project.User{Project: p.ID, SourceUser: fmt.Sprintf("%s%d", prefix, i), TargetUser: fmt.Sprintf("%s%d@example.com", prefix, i)}
		if err := e.st.PutUser(e.ctx, u); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

// start makes and starts a scheduler on the env's store.
func (e *env) start(r Runner) *Scheduler {
	e.t.Helper()
	s := New(e.st, r, e.o)
	if err := s.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(s.Close)
	return s
}

// batch stores and submits a batch over users.
func (e *env) batch(p *project.Project, sched project.Schedule, conc int, users ...*project.User) *project.Batch {
	e.t.Helper()
	b := &project.Batch{Project: p.ID, Schedule: sched, Concurrency: conc}
	for _, u := range users {
		b.Users = append(b.Users, u.ID)
	}
	if err := e.st.PutBatch(e.ctx, b); err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.Submit(e.ctx, p.ID, b.ID); err != nil {
		e.t.Fatal(err)
	}
	return b
}

// next returns the next Run call.
func (e *env) next() *call {
	e.t.Helper()
	select {
	case c := <-e.r.calls:
		return c
	case <-time.After(5 * time.Second):
		e.t.Fatal("no Run call")
		return nil
	}
}

// nextN returns the next n Run calls by source login.
func (e *env) nextN(n int) map[string]*call {
	e.t.Helper()
	out := map[string]*call{}
	for range n {
		c := e.next()
		out[c.u.SourceUser] = c
	}
	return out
}

// noCall checks that no Run call is waiting to be taken and that no
// pass is running that the test did not take.
func (e *env) noCall() {
	e.t.Helper()
	select {
	case c := <-e.r.calls:
		e.t.Fatalf("unexpected Run of %s", c.u.SourceUser)
	default:
	}
}

// eventually polls cond until it holds (5 s at most).
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) user(u *project.User) *project.User {
	e.t.Helper()
	got, err := e.st.User(e.ctx, u.Project, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *env) stored(b *project.Batch) *project.Batch {
	e.t.Helper()
	got, err := e.st.Batch(e.ctx, b.Project, b.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// waitStatus waits until the users' stored status is st.
func (e *env) waitStatus(st project.Status, users ...*project.User) {
	e.t.Helper()
	for _, u := range users {
		e.eventually(fmt.Sprintf("%s to be %s", u.SourceUser, st), func() bool { return e.user(u).Status == st })
	}
}

// waitBatch waits until the stored batch is in state st.
func (e *env) waitBatch(b *project.Batch, st project.BatchState) {
	e.t.Helper()
	e.eventually(fmt.Sprintf("batch to be %s", st), func() bool { return e.stored(b).State == st })
}

// idle waits until the scheduler runs nothing.
func (e *env) idle() {
	e.t.Helper()
	e.eventually("no running pass", func() bool {
		e.s.mu.Lock()
		defer e.s.mu.Unlock()
		return len(e.s.running) == 0
	})
}

// started is the number of tries started so far.
func (e *env) started() int64 { return e.s.Metrics().PassesStarted }

// reports returns a user's saved reports, oldest first.
func (e *env) reports(u *project.User) []*project.RunReport {
	e.t.Helper()
	rs, err := e.st.Reports(e.ctx, u.Project, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	slices.SortFunc(rs, func(a, b *project.RunReport) int { return a.Report.Started.Compare(b.Report.Started) })
	return rs
}

// reportSummary is "pass/attempt/status/interrupted" for each report.
func (e *env) reportSummary(u *project.User) []string {
	var out []string
	for _, r := range e.reports(u) {
		s := fmt.Sprintf("%d/%d/%s", r.Pass, r.Attempt, r.Report.Status)
		if r.Interrupted != "" {
			s += "/" + r.Interrupted
		}
		out = append(out, s)
	}
	return out
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}
