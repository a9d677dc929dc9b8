package selfservice

import (
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/auth"
	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/runner"
	"github.com/ternmail/tern/core/internal/scheduler"
)

// With the real scheduler and runner: the user's password is checked
// live, the pass runs in the self-service batch with that password, the
// mail arrives on the target, and the done e-mail is sent once.
func TestWithScheduler(t *testing.T) {
	var e *env
	var sched *scheduler.Scheduler
	e = newEnv(t, func(o *Options) {
		run := &runner.Runner{DB: o.DB, Registry: o.Connectors, Plugins: o.Plugins, Guard: auth.NewGuard(o.DB, nil), Engine: engine.New(engine.Config{})}
		sched = scheduler.New(o.Projects, run, scheduler.Options{Tick: 10 * time.Millisecond, OnPassEnd: func(p *project.Project, u *project.User, rr *project.RunReport) {
			e.s.PassEnded(p, u, rr)
		}})
		o.Scheduler = sched
		o.Guard = run.Guard
	})
	if err := sched.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sched.Close)
	u := e.user("jo@old.test", "jo@new.test", "Jo-Secret-11")
	for i := range 3 {
		e.src.Seed("jo@old.test", "INBOX", []byte("Message-ID: <m"+string(rune('0'+i))+"@x>\r\nSubject: hi\r\n\r\nbody\r\n"), time.Now())
	}
	tok := e.invite(u)
	_, err := e.s.Submit(e.ctx, tok, "192.0.2.1", "", "nope")
	wantErr(t, err, ErrWrongPassword)
	inv, err := e.s.Submit(e.ctx, tok, "192.0.2.1", "", "Jo-Secret-11")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.inv(u).State != StateDone {
		if time.Now().After(deadline) {
			t.Fatalf("not done: %+v", e.inv(u))
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.s.wg.Wait()
	if got := len(e.dst.Messages("jo@new.test", "INBOX")); got != 3 {
		t.Fatalf("%d messages on the target", got)
	}
	var done int
	for _, m := range e.mail.all() {
		if m.To == "jo@old.test" && strings.Contains(m.Subject, "has been moved") {
			done++
			if !strings.Contains(m.Text, "3 messages copied") {
				t.Errorf("done e-mail: %s", m.Text)
			}
		}
	}
	if done != 1 {
		t.Fatalf("%d done e-mails", done)
	}
	b, _ := e.projects.Batch(e.ctx, e.p.ID, inv.Batch)
	if b.State != project.BatchDone {
		t.Fatalf("batch %s", b.State)
	}
	if pr := e.s.Progress(e.ctx, e.inv(u)); !pr.Ended || pr.Copied != 3 {
		t.Fatalf("progress %+v", pr)
	}
}
