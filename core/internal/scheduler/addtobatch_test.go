package scheduler

import (
	"sync"
	"testing"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/sdk/connector"
)

// AddToBatch: a user joins a running batch's pass; a done batch is
// reopened for its current pass and runs only the added user; a user that
// finished the pass runs it again; the batch's schedule and state apply.
func TestAddToBatch(t *testing.T) {
	e := newEnv(t, Options{}, 4)
	u0, u1, u2, u3 := e.users[0], e.users[1], e.users[2], e.users[3]
	b := e.batch(e.p, project.Schedule{}, 0, u0)
	e.s.Tick()
	c0 := e.next()

	// Joining while the batch runs: the new user runs the same pass.
	if err := e.s.AddToBatch(e.ctx, e.p.ID, b.ID, u1.ID); err != nil {
		t.Fatal(err)
	}
	c1 := e.next()
	if c1.u.ID != u1.ID {
		t.Fatalf("started %s, want u1", c1.u.SourceUser)
	}
	// Adding a user whose pass runs changes nothing.
	if err := e.s.AddToBatch(e.ctx, e.p.ID, b.ID, u1.ID); err != nil {
		t.Fatal(err)
	}
	c0.ok()
	c1.ok()
	e.waitBatch(b, project.BatchDone)
	e.noCall()
	if sb := e.stored(b); sb.Pass != 1 || len(sb.Users) != 2 {
		t.Fatalf("batch after its pass: pass %d users %v", sb.Pass, sb.Users)
	}

	// A done batch is reopened for pass 1: only the added user runs.
	if err := e.s.AddToBatch(e.ctx, e.p.ID, b.ID, u2.ID); err != nil {
		t.Fatal(err)
	}
	if sb := e.stored(b); sb.State != project.BatchScheduled || sb.Pass != 1 || !sb.Finished.IsZero() {
		t.Fatalf("reopened batch: %+v", sb)
	}
	e.s.Tick()
	c2 := e.next()
	if c2.u.ID != u2.ID {
		t.Fatalf("started %s, want u2", c2.u.SourceUser)
	}
	e.noCall()
	c2.finish(engine.StatusFailed, connector.KindAuth, "login refused")
	e.waitBatch(b, project.BatchDone)
	e.waitStatus(project.StatusFailed, u2)
	if e.r.runsOf("u0") != 1 || e.r.runsOf("u1") != 1 {
		t.Fatalf("finished users ran again: u0 %d, u1 %d", e.r.runsOf("u0"), e.r.runsOf("u1"))
	}

	// A user that finished the pass (failed) runs it again when added
	// again, and only that user.
	if err := e.s.AddToBatch(e.ctx, e.p.ID, b.ID, u2.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.user(u2).Finished[b.ID]; ok {
		t.Fatal("u2 still has its finished pass recorded")
	}
	e.s.Tick()
	c2 = e.next()
	if c2.u.ID != u2.ID {
		t.Fatalf("started %s, want u2 again", c2.u.SourceUser)
	}
	e.noCall()
	c2.ok()
	e.waitBatch(b, project.BatchDone)
	e.waitStatus(project.StatusDone, u2)
	if got := e.reportSummary(u2); len(got) != 2 || got[0] != "1/1/failed" || got[1] != "1/1/ok" {
		t.Fatalf("u2 reports %v", got)
	}

	// After a restart the done batch is not tracked; adding loads it.
	e.s.Close()
	e.s = e.start(e.r)
	if err := e.s.AddToBatch(e.ctx, e.p.ID, b.ID, u3.ID); err != nil {
		t.Fatal(err)
	}
	e.s.Tick()
	if c := e.next(); c.u.ID != u3.ID {
		t.Fatalf("after restart: started %s, want u3", c.u.SourceUser)
	} else {
		c.ok()
	}
	e.waitBatch(b, project.BatchDone)
	e.noCall()

	// A cancelled batch takes no one.
	if err := e.s.Cancel(e.ctx, e.p.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.s.AddToBatch(e.ctx, e.p.ID, b.ID, u0.ID), ErrState)
}

// A paused batch takes a new user as paused; it runs after Resume. A
// batch's window applies to added users.
func TestAddToPausedBatch(t *testing.T) {
	e := newEnv(t, Options{}, 2)
	u0, u1 := e.users[0], e.users[1]
	b := e.batch(e.p, project.Schedule{Windows: []project.Window{{Start: "20:00", End: "06:00"}}}, 0, u0)
	e.s.Tick()
	e.noCall() // noon: outside the window
	if err := e.s.Pause(e.ctx, e.p.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AddToBatch(e.ctx, e.p.ID, b.ID, u1.ID); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(project.StatusPaused, u1)
	if err := e.s.Resume(e.ctx, e.p.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	e.s.Tick()
	e.noCall()
	e.waitStatus(project.StatusQueued, u1)
	e.clock.Set(monday("21:00"))
	e.s.Tick()
	calls := e.nextN(2)
	if calls["u1"] == nil {
		t.Fatalf("u1 did not start in the window: %v", calls)
	}
	// A batch never submitted is refused.
	nb := &project.Batch{Project: e.p.ID, Users: []string{u0.ID}}
	if err := e.st.PutBatch(e.ctx, nb); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.s.AddToBatch(e.ctx, e.p.ID, nb.ID, u1.ID), ErrState)
	for _, c := range calls {
		c.ok()
	}
}

// OnPassEnd is called once per pass that ended for good, after its
// report was saved, and not for a pass that will be retried.
func TestOnPassEnd(t *testing.T) {
	var mu sync.Mutex
	var ends []string
	var e *env
	e = newEnv(t, Options{MaxRetries: 1, OnPassEnd: func(p *project.Project, u *project.User, rep *project.RunReport) {
		// The report is saved and the user stored with its outcome.
		rs := e.reports(u)
		mu.Lock()
		defer mu.Unlock()
		if len(rs) == 0 || rs[len(rs)-1].Report != nil && rs[len(rs)-1].Report.Status != rep.Report.Status {
			t.Errorf("OnPassEnd before the report was saved")
		}
		// The scheduler can be called from the hook.
		e.s.UserProgress(p.ID, u.ID)
		ends = append(ends, u.SourceUser+":"+string(u.Status)+":"+rep.Batch)
	}}, 2)
	u0, u1 := e.users[0], e.users[1]
	b := e.batch(e.p, project.Schedule{}, 0, u0, u1)
	e.s.Tick()
	calls := e.nextN(2)
	calls["u0"].ok()
	calls["u1"].finish(engine.StatusFailed, connector.KindTemporary, "connection reset")
	e.eventually("the retry to be due", func() bool { return e.user(u1).Status == project.StatusWaiting })
	e.clock.Add(e.s.backoff(1))
	e.s.Tick()
	c := e.next()
	c.finish(engine.StatusFailed, connector.KindTemporary, "connection reset")
	e.waitBatch(b, project.BatchDone)
	e.eventually("two OnPassEnd calls", func() bool { mu.Lock(); defer mu.Unlock(); return len(ends) >= 2 })
	e.s.Close()
	mu.Lock()
	defer mu.Unlock()
	want := []string{"u0:done:" + b.ID, "u1:failed:" + b.ID}
	if len(ends) != 2 || ends[0] != want[0] || ends[1] != want[1] {
		t.Fatalf("OnPassEnd calls %v, want %v", ends, want)
	}
}
