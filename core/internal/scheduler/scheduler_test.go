package scheduler

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/sdk/connector"
)

// A batch runs its users within the global limit, records their
// outcomes and reports, and is done when every user finished.
func TestBatchRunsToDone(t *testing.T) {
	e := newEnv(t, Options{Concurrency: 2}, 3)
	u0, u1, u2 := e.users[0], e.users[1], e.users[2]
	b := e.batch(e.p, project.Schedule{}, 0, e.users...)
	if got := e.stored(b); got.Pass != 1 || got.Submitted.IsZero() {
		t.Fatalf("submitted batch: pass %d submitted %v", got.Pass, got.Submitted)
	}
	e.s.Tick()
	calls := e.nextN(2)
	if calls["u0"] == nil || calls["u1"] == nil {
		t.Fatalf("first two users not started: %v", calls)
	}
	e.noCall()
	e.waitStatus(project.StatusRunning, u0, u1)
	e.waitStatus(project.StatusQueued, u2)
	if st := e.stored(b).State; st != project.BatchRunning {
		t.Fatalf("batch %s", st)
	}
	wantErr(t, e.s.Submit(e.ctx, e.p.ID, b.ID), ErrState)

	calls["u0"].prog.Copied.Store(7)
	calls["u0"].ok()
	c2 := e.next() // the freed place goes to u2 at once
	if c2.u.ID != u2.ID {
		t.Fatalf("started %s, want u2", c2.u.SourceUser)
	}
	calls["u1"].finish(engine.StatusPartial, 0, "")
	c2.finish(engine.StatusFailed, connector.KindAuth, "login refused")
	e.waitBatch(b, project.BatchDone)
	e.waitStatus(project.StatusDone, u0)
	e.waitStatus(project.StatusPartial, u1)
	e.waitStatus(project.StatusFailed, u2)
	if got := e.user(u2); got.Error != "login refused" || got.Passes != 1 {
		t.Fatalf("u2: error %q passes %d", got.Error, got.Passes)
	}
	got := e.user(u0)
	if got.Passes != 1 || got.Totals.Copied != 7 || got.Finished[b.ID] != (project.BatchPass{Pass: 1, Status: project.StatusDone}) || got.Batch != b.ID || got.LastRun.IsZero() {
		t.Fatalf("u0 after its pass: %+v", got)
	}
	for u, want := range map[*project.User]string{u0: "1/1/ok", u1: "1/1/partial", u2: "1/1/failed"} {
		if got := e.reportSummary(u); !slices.Equal(got, []string{want}) {
			t.Errorf("%s reports %v, want %s", u.SourceUser, got, want)
		}
		if rs := e.reports(u); rs[0].Batch != b.ID {
			t.Errorf("%s report batch %q", u.SourceUser, rs[0].Batch)
		}
	}
	if sb := e.stored(b); sb.Finished.IsZero() || sb.Started.IsZero() || !sb.NextPass.IsZero() {
		t.Fatalf("done batch: %+v", sb)
	}
	m := e.s.Metrics()
	if m.PassesStarted != 3 || m.PassesOK != 1 || m.PassesPartial != 1 || m.PassesFailed != 1 || m.Retries != 0 || m.Running != 0 || m.Queued != 0 || m.BatchesActive != 0 {
		t.Fatalf("metrics %+v", m)
	}
	e.s.Tick()
	e.noCall()
}

// Limits: global, per batch and per connector; passes over the same user
// never overlap, even in two batches.
func TestLimits(t *testing.T) {
	e := newEnv(t, Options{Concurrency: 3, ConnectorLimit: func(name string) int {
		return map[string]int{"gmail": 1}[name]
	}}, 6)
	p2 := e.project("second", "imap", "gmail")
	others := e.addUsers(p2, "g", 3)
	e.batch(e.p, project.Schedule{}, 2, e.users[:3]...) // two at once at most
	e.batch(e.p, project.Schedule{}, 0, e.users...)     // u0–u2 again
	e.batch(p2, project.Schedule{}, 0, others...)
	e.s.Tick()
	// Run everything, finishing the oldest call each time, and check
	// the peak concurrency.
	finishedCalls := 0
	var open []*call
	for finishedCalls < 12 {
		for {
			select {
			case c := <-e.r.calls:
				open = append(open, c)
				continue
			case <-time.After(50 * time.Millisecond):
			}
			break
		}
		if len(open) == 0 {
			t.Fatalf("nothing runs after %d passes", finishedCalls)
		}
		open[0].ok()
		open = open[1:]
		finishedCalls++
	}
	e.idle()
	e.noCall()
	r := e.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.max != 3 || r.connMax["gmail"] != 1 || len(r.twice) != 0 {
		t.Fatalf("peak %d (want 3), gmail %d (want 1), users run twice at once: %v", r.max, r.connMax["gmail"], r.twice)
	}
	for _, u := range e.users {
		want := 1
		if u.SourceUser <= "u2" {
			want = 2
		}
		if r.runs[u.SourceUser] != want {
			t.Errorf("%s ran %d times, want %d", u.SourceUser, r.runs[u.SourceUser], want)
		}
	}
}

// A batch's own concurrency holds even when the global limit is higher.
func TestBatchConcurrency(t *testing.T) {
	e := newEnv(t, Options{Concurrency: 8}, 4)
	e.batch(e.p, project.Schedule{}, 1, e.users...)
	e.s.Tick()
	c := e.next()
	e.s.Tick()
	e.noCall()
	if got := e.started(); got != 1 {
		t.Fatalf("%d started", got)
	}
	c.ok()
	e.next().ok()
}

// Windows: nothing starts outside them; a closing window stops running
// passes (users queued, not failed, reports marked) and they go on in
// the next window.
func TestWindows(t *testing.T) {
	e := newEnv(t, Options{}, 2)
	night := project.Window{Start: "20:00", End: "06:00"}
	b := e.batch(e.p, project.Schedule{Windows: []project.Window{night}}, 0, e.users...)
	e.s.Tick()
	if got := e.started(); got != 0 {
		t.Fatalf("%d passes started at noon", got)
	}
	if st := e.stored(b).State; st != project.BatchScheduled {
		t.Fatalf("batch %s at noon", st)
	}
	e.waitStatus(project.StatusQueued, e.users...)

	e.clock.Set(monday("20:00"))
	e.s.Tick()
	first := e.nextN(2)
	e.waitBatch(b, project.BatchRunning)
	first["u0"].prog.Copied.Store(3)

	e.clock.Set(monday("20:00").Add(10 * time.Hour)) // 06:00 Tuesday
	e.s.Tick()
	e.waitStatus(project.StatusQueued, e.users...)
	e.idle()
	if st := e.stored(b).State; st != project.BatchScheduled {
		t.Fatalf("batch %s after the window closed", st)
	}
	for _, u := range e.users {
		if got := e.reportSummary(u); !slices.Equal(got, []string{"1/1/failed/window closed"}) {
			t.Fatalf("%s reports %v", u.SourceUser, got)
		}
		if got := e.user(u); got.Passes != 0 || got.Error != "" {
			t.Fatalf("%s after an interrupted pass: passes %d error %q", u.SourceUser, got.Passes, got.Error)
		}
	}
	e.s.Tick()
	e.noCall()

	e.clock.Set(monday("20:00").Add(24 * time.Hour))
	e.s.Tick()
	for _, c := range e.nextN(2) {
		c.ok()
	}
	e.waitBatch(b, project.BatchDone)
	e.waitStatus(project.StatusDone, e.users...)
	if got := e.reportSummary(e.users[0]); !slices.Equal(got, []string{"1/1/failed/window closed", "1/1/ok"}) {
		t.Fatalf("reports %v", got)
	}
	if m := e.s.Metrics(); m.PassesStarted != 4 || m.PassesInterrupted != 2 || m.PassesOK != 2 || m.MessagesCopied != 3 {
		t.Fatalf("metrics %+v", m)
	}
}

// A start time holds the batch until then.
func TestStartAt(t *testing.T) {
	e := newEnv(t, Options{}, 1)
	b := e.batch(e.p, project.Schedule{StartAt: monday("15:00")}, 0, e.users...)
	e.clock.Set(monday("14:59"))
	e.s.Tick()
	if e.started() != 0 || e.stored(b).State != project.BatchScheduled {
		t.Fatal("started before its time")
	}
	e.clock.Set(monday("15:00"))
	e.s.Tick()
	e.next().ok()
	e.waitBatch(b, project.BatchDone)
	if got := e.stored(b).Started; !got.Equal(monday("15:00")) {
		t.Fatalf("started at %v", got)
	}
}

// Pause stops passes at a safe point and holds; Resume goes on.
func TestPauseResume(t *testing.T) {
	e := newEnv(t, Options{Concurrency: 1}, 2)
	b := e.batch(e.p, project.Schedule{}, 0, e.users...)
	e.s.Tick()
	c := e.next()
	wantErr(t, e.s.Resume(e.ctx, e.p.ID, b.ID), nil) // already going: nothing to do
	if err := e.s.Pause(e.ctx, e.p.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	<-c.ctx.Done()
	e.waitStatus(project.StatusPaused, e.users...)
	e.idle()
	if st := e.stored(b).State; st != project.BatchPaused {
		t.Fatalf("batch %s", st)
	}
	e.s.Tick()
	e.noCall()
	wantErr(t, e.s.Rerun(e.ctx, e.p.ID, b.ID), ErrState)
	if got := e.reportSummary(e.users[0]); !slices.Equal(got, []string{"1/1/failed/paused"}) {
		t.Fatalf("reports %v", got)
	}
	bp, err := e.s.BatchProgress(e.ctx, e.p.ID, b.ID)
	if err != nil || bp.ByStatus[project.StatusPaused] != 2 {
		t.Fatalf("progress %+v %v", bp, err)
	}

	if err := e.s.Resume(e.ctx, e.p.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	e.s.Tick()
	c = e.next()
	if c.u.ID != e.users[0].ID {
		t.Fatalf("resumed with %s", c.u.SourceUser)
	}
	c.ok()
	e.next().ok()
	e.waitBatch(b, project.BatchDone)
	if e.r.runsOf("u0") != 2 || e.r.runsOf("u1") != 1 {
		t.Fatalf("runs: u0 %d u1 %d", e.r.runsOf("u0"), e.r.runsOf("u1"))
	}
}

// Cancel stops the batch for good: running and queued users are
// cancelled, finished ones keep their outcome; Rerun starts it again.
func TestCancelAndRerun(t *testing.T) {
	e := newEnv(t, Options{Concurrency: 1}, 3)
	b := e.batch(e.p, project.Schedule{DeltaEvery: time.Hour}, 0, e.users...)
	e.s.Tick()
	e.next().ok()
	c := e.next()
	e.waitStatus(project.StatusRunning, e.users[1])
	if err := e.s.Cancel(e.ctx, e.p.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	<-c.ctx.Done()
	e.waitStatus(project.StatusCancelled, e.users[1], e.users[2])
	e.waitStatus(project.StatusDone, e.users[0])
	e.idle()
	sb := e.stored(b)
	if sb.State != project.BatchCancelled || !sb.NextPass.IsZero() {
		t.Fatalf("cancelled batch %+v", sb)
	}
	if got := e.reportSummary(e.users[1]); !slices.Equal(got, []string{"1/1/failed/cancelled"}) {
		t.Fatalf("reports %v", got)
	}
	if len(e.reports(e.users[2])) != 0 {
		t.Fatal("a user that never ran has a report")
	}
	e.clock.Add(2 * time.Hour)
	e.s.Tick()
	e.noCall()
	wantErr(t, e.s.Pause(e.ctx, e.p.ID, b.ID), ErrState)
	wantErr(t, e.s.Resume(e.ctx, e.p.ID, b.ID), ErrState)

	if err := e.s.Rerun(e.ctx, e.p.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.user(e.users[2]); got.Status != project.StatusQueued {
		t.Fatalf("u2 is %s after Rerun", got.Status)
	}
	e.s.Tick()
	for range 3 {
		e.next().ok()
	}
	e.waitBatch(b, project.BatchDone)
	if got := e.stored(b); got.Pass != 2 {
		t.Fatalf("pass %d", got.Pass)
	}
	if got := e.reportSummary(e.users[0]); !slices.Equal(got, []string{"1/1/ok", "2/1/ok"}) {
		t.Fatalf("reports %v", got)
	}
}

// Temporary failures are retried with a capped exponential backoff and
// give up after MaxRetries; a refused login is not retried.
func TestRetries(t *testing.T) {
	e := newEnv(t, Options{RetryBase: time.Minute, RetryMax: 3 * time.Minute, MaxRetries: 3}, 2)
	flaky, refused := e.users[0], e.users[1]
	e.batch(e.p, project.Schedule{}, 0, e.users...)
	e.s.Tick()
	calls := e.nextN(2)
	calls["u1"].finish(engine.StatusFailed, connector.KindAuth, "login refused")
	calls["u0"].finish(engine.StatusFailed, connector.KindTemporary, "connection reset")
	e.waitStatus(project.StatusFailed, refused)
	e.waitStatus(project.StatusWaiting, flaky)
	if w := e.user(flaky).Waiting; !strings.Contains(w, "connection reset") || !strings.Contains(w, "retry 1 of 3") {
		t.Fatalf("waiting %q", w)
	}
	// Backoffs: 1, 2, then 3 (4 capped) minutes.
	for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		e.idle()
		e.clock.Add(wait - time.Second)
		e.s.Tick()
		if got := e.started(); got != int64(2+i) {
			t.Fatalf("retry %d started %v early", i+1, time.Second)
		}
		up, ok := e.s.UserProgress(e.p.ID, flaky.ID)
		if !ok || up.Status != project.StatusWaiting || up.Attempt != i+2 || up.RetryAt.IsZero() {
			t.Fatalf("progress while waiting: %+v", up)
		}
		e.clock.Add(time.Second)
		e.s.Tick()
		c := e.next()
		c.finish(engine.StatusFailed, connector.KindThrottled, "slow down")
	}
	e.waitStatus(project.StatusFailed, flaky)
	if got := e.user(flaky); got.Error != "slow down" || got.Passes != 1 {
		t.Fatalf("given up: error %q passes %d", got.Error, got.Passes)
	}
	if got := e.reportSummary(flaky); !slices.Equal(got, []string{"1/1/failed", "1/2/failed", "1/3/failed", "1/4/failed"}) {
		t.Fatalf("reports %v", got)
	}
	if e.r.runsOf("u0") != 4 || e.r.runsOf("u1") != 1 {
		t.Fatalf("runs %d and %d", e.r.runsOf("u0"), e.r.runsOf("u1"))
	}
	if m := e.s.Metrics(); m.Retries != 3 || m.PassesFailed != 2 {
		t.Fatalf("metrics %+v", m)
	}
}

// A retry that succeeds ends the user done.
func TestRetrySucceeds(t *testing.T) {
	e := newEnv(t, Options{RetryBase: time.Minute}, 1)
	b := e.batch(e.p, project.Schedule{}, 0, e.users...)
	e.s.Tick()
	e.next().finish(engine.StatusFailed, connector.KindUnavailable, "plugin crashed")
	e.waitStatus(project.StatusWaiting, e.users[0])
	e.clock.Add(time.Minute)
	e.s.Tick()
	e.next().ok()
	e.waitBatch(b, project.BatchDone)
	e.waitStatus(project.StatusDone, e.users[0])
	if got := e.reportSummary(e.users[0]); !slices.Equal(got, []string{"1/1/failed", "1/2/ok"}) {
		t.Fatalf("reports %v", got)
	}
	if got := e.user(e.users[0]); got.Error != "" || got.Waiting != "" {
		t.Fatalf("error %q waiting %q", got.Error, got.Waiting)
	}
}

// With DeltaEvery the next pass is set when a pass ends and starts by
// itself.
func TestScheduledDeltaPasses(t *testing.T) {
	e := newEnv(t, Options{}, 1)
	b := e.batch(e.p, project.Schedule{DeltaEvery: time.Hour}, 0, e.users...)
	e.s.Tick()
	e.next().ok()
	e.waitBatch(b, project.BatchDone)
	finished := e.clock.Now()
	if got := e.stored(b).NextPass; !got.Equal(finished.Add(time.Hour)) {
		t.Fatalf("next pass %v", got)
	}
	e.clock.Add(59 * time.Minute)
	e.s.Tick()
	e.noCall()
	e.clock.Add(time.Minute)
	e.s.Tick()
	c := e.next()
	if got := e.stored(b); got.Pass != 2 || got.State != project.BatchRunning || !got.NextPass.IsZero() {
		t.Fatalf("second pass: %+v", got)
	}
	c.ok()
	e.waitBatch(b, project.BatchDone)
	if got := e.stored(b).NextPass; !got.Equal(finished.Add(2 * time.Hour)) {
		t.Fatalf("third pass at %v", got)
	}
	if got := e.user(e.users[0]); got.Passes != 2 || got.Finished[b.ID].Pass != 2 {
		t.Fatalf("user after two passes: %+v", got)
	}
	wantErr(t, e.s.Rerun(e.ctx, e.p.ID, b.ID), nil) // a manual delta pass before the scheduled one
	e.s.Tick()
	e.next().ok()
	e.waitBatch(b, project.BatchDone)
	if got := e.reportSummary(e.users[0]); !slices.Equal(got, []string{"1/1/ok", "2/1/ok", "3/1/ok"}) {
		t.Fatalf("reports %v", got)
	}
}

// A pass over one user alone, inside or outside a batch.
func TestRunUser(t *testing.T) {
	e := newEnv(t, Options{}, 2)
	alone, member := e.users[0], e.users[1]
	if err := e.s.RunUser(e.ctx, e.p.ID, alone.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.s.RunUser(e.ctx, e.p.ID, alone.ID), ErrBusy)
	if got := e.user(alone); got.Status != project.StatusQueued && got.Status != project.StatusRunning || got.Requested.IsZero() {
		t.Fatalf("requested user %+v", got)
	}
	e.s.Tick()
	c := e.next()
	wantErr(t, e.s.RunUser(e.ctx, e.p.ID, alone.ID), ErrBusy)
	c.ok()
	e.waitStatus(project.StatusDone, alone)
	if got := e.user(alone); !got.Requested.IsZero() || got.Passes != 1 || got.Batch != "" {
		t.Fatalf("after the pass %+v", got)
	}
	rs := e.reports(alone)
	if len(rs) != 1 || rs[0].Batch != "" || rs[0].Pass != 1 {
		t.Fatalf("reports %+v", rs)
	}

	// Inside a batch: ignores the batch's window, runs once.
	b := e.batch(e.p, project.Schedule{Windows: []project.Window{{Start: "20:00", End: "21:00"}}}, 0, member)
	wantErr(t, e.s.RunUser(e.ctx, e.p.ID, member.ID), ErrBusy) // queued in the batch
	e.clock.Set(monday("20:00"))
	e.s.Tick()
	e.next().ok()
	e.waitBatch(b, project.BatchDone)
	e.clock.Set(monday("22:00"))
	if err := e.s.RunUser(e.ctx, e.p.ID, member.ID); err != nil {
		t.Fatal(err)
	}
	e.s.Tick()
	e.next().ok()
	e.idle()
	if got := e.reportSummary(member); !slices.Equal(got, []string{"1/1/ok", "2/1/ok"}) {
		t.Fatalf("reports %v", got)
	}
	if got := e.user(member); got.Batch != b.ID || got.Passes != 2 {
		t.Fatalf("member %+v", got)
	}
}

// Close stops passes and queues their users; a new scheduler on the same
// store resumes running batches and requested passes, not what is done.
func TestRestartResumes(t *testing.T) {
	e := newEnv(t, Options{Concurrency: 2}, 4)
	b := e.batch(e.p, project.Schedule{}, 0, e.users[:3]...)
	paused := e.batch(e.p, project.Schedule{}, 0, e.users[3])
	if err := e.s.Pause(e.ctx, e.p.ID, paused.ID); err != nil {
		t.Fatal(err)
	}
	e.s.Tick()
	calls := e.nextN(2)
	calls["u0"].ok()
	c2 := e.next()
	if c2.u.SourceUser != "u2" {
		t.Fatalf("started %s", c2.u.SourceUser)
	}
	e.waitStatus(project.StatusDone, e.users[0])
	e.s.Close()
	if c2.ctx.Err() == nil || calls["u1"].ctx.Err() == nil {
		t.Fatal("Close left passes running")
	}
	e.waitStatus(project.StatusQueued, e.users[1], e.users[2])
	if got := e.reportSummary(e.users[1]); !slices.Equal(got, []string{"1/1/failed/shutdown"}) {
		t.Fatalf("reports %v", got)
	}
	wantErr(t, e.s.Submit(e.ctx, e.p.ID, b.ID), ErrClosed)

	r2 := newFakeRunner()
	e.r = r2
	e.s = e.start(r2)
	rest := e.nextN(2)
	if rest["u1"] == nil || rest["u2"] == nil {
		t.Fatalf("resumed %v", rest)
	}
	for _, c := range rest {
		c.ok()
	}
	e.waitBatch(b, project.BatchDone)
	if r2.runsOf("u0") != 0 || r2.runsOf("u3") != 0 {
		t.Fatal("a done user or a paused batch ran after the restart")
	}
	if err := e.s.Resume(e.ctx, e.p.ID, paused.ID); err != nil {
		t.Fatal(err)
	}
	e.s.Tick()
	e.next().ok()
	e.waitBatch(paused, project.BatchDone)
}

// A crash leaves users running; Start queues and resumes them, and
// passes over single users that were requested.
func TestStartAfterCrash(t *testing.T) {
	e := newEnv(t, Options{}, 2)
	e.s.Close()
	b := &project.Batch{Project: e.p.ID, Users: []string{e.users[0].ID}, State: project.BatchRunning, Pass: 1, Submitted: monday("11:00")}
	if err := e.st.PutBatch(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	never := &project.Batch{Project: e.p.ID, Users: []string{e.users[1].ID}}
	if err := e.st.PutBatch(e.ctx, never); err != nil {
		t.Fatal(err)
	}
	for i, u := range e.users {
		e.st.UpdateUser(e.ctx, e.p.ID, u.ID, func(u *project.User) error {
			u.Status = project.StatusRunning
			if i == 1 {
				u.Requested = monday("11:30")
			}
			return nil
		})
	}
	e.s = e.start(e.r)
	calls := e.nextN(2)
	calls["u0"].ok()
	calls["u1"].ok()
	e.waitBatch(b, project.BatchDone)
	e.waitStatus(project.StatusDone, e.users...)
	if got := e.stored(never); got.State != project.BatchScheduled || got.Pass != 0 {
		t.Fatalf("a batch never submitted ran: %+v", got)
	}
	if e.r.runsOf("u1") != 1 {
		t.Fatalf("u1 ran %d times", e.r.runsOf("u1"))
	}
}

// Rates over the sliding window, ETA, batch totals, throughput samples
// and the overview.
func TestProgressRateETA(t *testing.T) {
	e := newEnv(t, Options{RateWindow: time.Minute}, 2)
	t0 := monday("12:00").Add(5 * time.Second)
	e.clock.Set(t0)
	b := e.batch(e.p, project.Schedule{}, 0, e.users...)
	e.s.Tick()
	calls := e.nextN(2)
	c0, c1 := calls["u0"], calls["u1"]
	c0.prog.ToCopy.Store(300)
	c0.prog.FoldersTotal.Store(4)
	c1.prog.ToCopy.Store(50)

	up, _ := e.s.UserProgress(e.p.ID, e.users[0].ID)
	if up.Status != project.StatusRunning || up.Rate != 0 || up.ETAKnown {
		t.Fatalf("at the start: %+v", up)
	}
	e.clock.Set(t0.Add(10 * time.Second))
	c0.prog.Copied.Store(100)
	c0.prog.BytesCopied.Store(1000)
	c0.prog.FoldersDone.Store(1)
	e.s.Tick()
	up, ok := e.s.UserProgress(e.p.ID, e.users[0].ID)
	if !ok || up.Rate != 10 || up.ByteRate != 100 || !up.ETAKnown || up.ETA != 20*time.Second || up.Copied != 100 || up.FoldersDone != 1 || up.FoldersTotal != 4 || up.Batch != b.ID || up.SourceUser != "u0" {
		t.Fatalf("after 10 s: %+v", up)
	}
	bp, err := e.s.BatchProgress(e.ctx, e.p.ID, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	// u1 has no rate yet: the batch's rate is u0's; 200 + 50 left.
	if bp.Rate != 10 || bp.ToCopy != 350 || bp.Copied != 100 || !bp.ETAKnown || bp.ETA != 25*time.Second || bp.ByStatus[project.StatusRunning] != 2 || len(bp.Users) != 2 {
		t.Fatalf("batch progress %+v", bp)
	}
	// The window slides: 61 s later with no more copies, the rate is 0.
	e.clock.Set(t0.Add(71 * time.Second))
	e.s.Tick()
	if up, _ := e.s.UserProgress(e.p.ID, e.users[0].ID); up.Rate != 0 || up.ETAKnown {
		t.Fatalf("stalled: %+v", up)
	}
	c1.prog.Copied.Store(50)
	c1.prog.BytesCopied.Store(500)
	c0.ok()
	c1.ok()
	e.waitBatch(b, project.BatchDone)

	samples := e.s.Throughput()
	if len(samples) != 360 {
		t.Fatalf("%d samples", len(samples))
	}
	var nonzero []Sample
	for _, s := range samples {
		if s.Messages != 0 || s.Bytes != 0 {
			nonzero = append(nonzero, s)
		}
	}
	want := []Sample{{At: t0.Add(10 * time.Second).Truncate(SampleEvery), Messages: 100, Bytes: 1000}, {At: t0.Add(71 * time.Second).Truncate(SampleEvery), Messages: 50, Bytes: 500}}
	if len(nonzero) != 2 || !nonzero[0].At.Equal(want[0].At) || nonzero[0].Messages != 100 || !nonzero[1].At.Equal(want[1].At) || nonzero[1].Bytes != 500 {
		t.Fatalf("samples %+v, want %+v", nonzero, want)
	}
	if last := samples[len(samples)-1].At; !last.Equal(e.clock.Now().Truncate(SampleEvery)) {
		t.Fatalf("last sample at %v", last)
	}
	e.addUsers(e.p, "new", 1)
	o, err := e.s.Overview(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o.UsersTotal != 3 || o.Users[project.StatusDone] != 2 || o.Users[project.StatusNew] != 1 || o.Batches[project.BatchDone] != 1 || o.Messages != 150 || o.Bytes != 1500 || o.Running != 0 {
		t.Fatalf("overview %+v", o)
	}
	bp, _ = e.s.BatchProgress(e.ctx, e.p.ID, b.ID)
	if bp.Done != 2 || bp.Copied != 150 || bp.ByStatus[project.StatusDone] != 2 {
		t.Fatalf("finished batch progress %+v", bp)
	}
}

// Edits of a stored batch are followed: a new user joins the pass, a
// deleted batch stops its passes.
func TestBatchEdits(t *testing.T) {
	e := newEnv(t, Options{}, 3)
	b := e.batch(e.p, project.Schedule{}, 0, e.users[0])
	e.s.Tick()
	c := e.next()
	if _, err := e.st.UpdateBatch(e.ctx, e.p.ID, b.ID, func(b *project.Batch) error {
		b.Users = append(b.Users, e.users[1].ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.s.Tick()
	c1 := e.next()
	if c1.u.ID != e.users[1].ID {
		t.Fatalf("started %s", c1.u.SourceUser)
	}
	c.ok()
	c1.ok()
	e.waitBatch(b, project.BatchDone)

	gone := e.batch(e.p, project.Schedule{}, 0, e.users[2])
	e.s.Tick()
	c2 := e.next()
	if _, err := e.st.UpdateBatch(e.ctx, e.p.ID, gone.ID, func(b *project.Batch) error { b.State = project.BatchPaused; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeleteBatch(e.ctx, e.p.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	e.s.Tick()
	<-c2.ctx.Done()
	e.waitStatus(project.StatusCancelled, e.users[2])
	_, err := e.s.BatchProgress(e.ctx, e.p.ID, gone.ID)
	wantErr(t, err, project.ErrNotFound)
}

// A runner that panics fails the user, not the daemon.
func TestRunnerPanic(t *testing.T) {
	e := newEnv(t, Options{}, 1)
	e.r.panicFor = "u0"
	b := e.batch(e.p, project.Schedule{}, 0, e.users...)
	e.s.Tick()
	e.waitBatch(b, project.BatchDone)
	if got := e.user(e.users[0]); got.Status != project.StatusFailed || !strings.Contains(got.Error, "boom") {
		t.Fatalf("user %+v", got)
	}
}

func TestBackoff(t *testing.T) {
	s := New(nil, nil, Options{RetryBase: time.Second, RetryMax: 10 * time.Second})
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, s.backoff(n))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("backoff %v", got)
	}
}
