package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/scheduler"
	"github.com/ternmail/tern/sdk/connector"
)

// stepClock is a fake clock for the scheduler.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// stepRunner is a fake scheduler.Runner: every pass waits for the test,
// which sets its progress and ends it.
type stepRunner struct {
	calls chan *stepCall
	clock *stepClock
	seq   atomic.Int64
}

type stepCall struct {
	r    *stepRunner
	u    *project.User
	prog *engine.Progress
	done chan *engine.Report
}

func (r *stepRunner) Run(ctx context.Context, p *project.Project, u *project.User, prog *engine.Progress) *engine.Report {
	c := &stepCall{r: r, u: u, prog: prog, done: make(chan *engine.Report, 1)}
	r.calls <- c
	select {
	case rep := <-c.done:
		return rep
	case <-ctx.Done():
		return &engine.Report{Mailbox: u.SourceUser, Status: engine.StatusFailed, Error: context.Cause(ctx).Error(), Started: r.started(),
			Totals: engine.Counts{Copied: prog.Copied.Load(), Bytes: prog.BytesCopied.Load()}}
	}
}

// started is a distinct start time for each report (reports are keyed
// and ordered by it).
func (r *stepRunner) started() time.Time {
	return r.clock.Now().Add(time.Duration(r.seq.Add(1)) * time.Millisecond)
}

// end finishes the pass with rep (Started set if zero) or, rep nil, with
// a report of its progress.
func (c *stepCall) end(st engine.Status, rep *engine.Report) {
	if rep == nil {
		rep = &engine.Report{Totals: engine.Counts{Copied: c.prog.Copied.Load(), Bytes: c.prog.BytesCopied.Load()}}
	}
	rep.Mailbox, rep.Status = c.u.SourceUser, st
	if rep.Started.IsZero() {
		rep.Started = c.r.started()
	}
	c.done <- rep
}

// batchEnv is a console over a scheduler with a fake runner and clock, a
// project "main" and users u0, u1, u2 (u0 with its own password).
type batchEnv struct {
	*testEnv
	projects *project.Store
	sched    *scheduler.Scheduler
	run      *stepRunner
	clock    *stepClock
	p        *project.Project
	users    []*project.User
}

const u0Password = "U0-Own-Secret-pw"

func newBatchEnv(t *testing.T) *batchEnv {
	t.Helper()
	clock := &stepClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.Local)}
	be := &batchEnv{clock: clock, run: &stepRunner{calls: make(chan *stepCall, 100), clock: clock}}
	be.testEnv = newEnv(t, fakePlugins{}, func(o *Options) {
		be.projects = project.NewStore(o.DB, o.Secrets)
		be.sched = scheduler.New(be.projects, be.run, scheduler.Options{Now: clock.Now, Tick: time.Hour, RetryBase: time.Hour})
		o.Projects, o.Scheduler = be.projects, be.sched
	})
	ctx := context.Background()
	if err := be.sched.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.sched.Close)
	be.p = &project.Project{Name: "main", Source: "old", Target: "new"}
	if err := be.projects.PutProject(ctx, be.p); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		u := &project.User{Project: be.p.ID, SourceUser: fmt.Sprintf("u%d", i), TargetUser: fmt.Sprintf("u%d@example.com", i)}
		if err := be.projects.PutUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		be.users = append(be.users, u)
	}
	if err := be.projects.SetUserPasswords(ctx, be.p.ID, be.users[0].ID, u0Password, u0Password+"-target"); err != nil {
		t.Fatal(err)
	}
	return be
}

// next returns the next pass the scheduler started.
func (be *batchEnv) next() *stepCall {
	be.t.Helper()
	select {
	case c := <-be.run.calls:
		return c
	case <-time.After(5 * time.Second):
		be.t.Fatal("no pass started")
		return nil
	}
}

// nextN returns the next n passes by source login.
func (be *batchEnv) nextN(n int) map[string]*stepCall {
	be.t.Helper()
	out := map[string]*stepCall{}
	for range n {
		c := be.next()
		out[c.u.SourceUser] = c
	}
	return out
}

// eventually polls cond for up to 5 s.
func (be *batchEnv) eventually(what string, cond func() bool) {
	be.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			be.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (be *batchEnv) batch(id string) *project.Batch {
	be.t.Helper()
	b, err := be.projects.Batch(context.Background(), be.p.ID, id)
	if err != nil {
		be.t.Fatal(err)
	}
	return b
}

func (be *batchEnv) waitState(id string, st project.BatchState) {
	be.t.Helper()
	be.eventually("batch "+string(st), func() bool { return be.batch(id).State == st })
}

// apiBatch starts a batch through the API and returns it.
func (be *batchEnv) apiBatch(body string) *project.Batch {
	be.t.Helper()
	r := be.api("POST", "/api/v1/projects/"+be.p.ID+"/batches", body)
	if r.code != http.StatusCreated {
		be.t.Fatalf("create batch: %d %s", r.code, r.body)
	}
	var b project.Batch
	if err := json.Unmarshal([]byte(r.body), &b); err != nil {
		be.t.Fatal(err)
	}
	return &b
}

func (be *batchEnv) ids(us ...*project.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

func (be *batchEnv) usersPage() string { return "/projects/" + be.p.ID + "/users" }

func mustContain(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, body)
		}
	}
}

func TestBatchCreateFromSelection(t *testing.T) {
	be := newBatchEnv(t)
	b := be.admin("ada")
	u0, u1, u2 := be.users[0], be.users[1], be.users[2]

	// The users page's selection form: two checked boxes.
	r := b.post(be.usersPage(), "/projects/"+be.p.ID+"/batches", url.Values{"user": be.ids(u0, u1), "name": {"wave 1"}, "start_at": {""}, "windows": {""}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	bs, _ := be.projects.Batches(t.Context(), be.p.ID)
	if len(bs) != 1 {
		t.Fatalf("%d batches", len(bs))
	}
	first := bs[0]
	if r.h.Get("Location") != "/projects/"+be.p.ID+"/batches/"+first.ID {
		t.Fatalf("redirect to %s", r.h.Get("Location"))
	}
	if first.Name != "wave 1" || strings.Join(first.Users, ",") != u0.ID+","+u1.ID || first.CreatedBy != "ada" || first.Submitted.IsZero() || first.Pass != 1 {
		t.Fatalf("stored batch %+v", first)
	}
	calls := be.nextN(2)
	if calls["u0"] == nil || calls["u1"] == nil {
		t.Fatalf("passes started: %v", calls)
	}
	page := b.get(r.h.Get("Location"))
	mustContain(t, "batch page", page.body, "Batch wave 1 of 2 users submitted", "2 users; from now", `hx-trigger="every 2s"`)

	// By status: every new user (u2 only, the others are queued or running).
	r = b.post(be.usersPage(), "/projects/"+be.p.ID+"/batches", url.Values{"status": {"new"}, "start_at": {"2026-12-01T08:30"},
		"windows": {"mon-fri 20:00-06:00\r\nsat,sun 00:00-23:59\r\n"}, "concurrency": {"2"}, "delta_every": {"24h"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("by status: %d %s", r.code, r.body)
	}
	bs, _ = be.projects.Batches(t.Context(), be.p.ID)
	byStatus := bs[0]
	sc := byStatus.Schedule
	if len(bs) != 2 || strings.Join(byStatus.Users, ",") != u2.ID || byStatus.Concurrency != 2 || sc.DeltaEvery != 24*time.Hour ||
		!sc.StartAt.Equal(time.Date(2026, 12, 1, 8, 30, 0, 0, time.Local)) || len(sc.Windows) != 2 ||
		sc.Windows[0].String() != "mon,tue,wed,thu,fri 20:00-06:00" || sc.Windows[1].String() != "sat,sun 00:00-23:59" {
		t.Fatalf("batch by status: %+v", byStatus)
	}
	if !strings.HasPrefix(byStatus.Name, "batch ") {
		t.Fatalf("default name %q", byStatus.Name)
	}
	// The start time is ahead: nothing runs.
	be.sched.Tick()
	select {
	case c := <-be.run.calls:
		t.Fatalf("%s started before its time", c.u.SourceUser)
	case <-time.After(50 * time.Millisecond):
	}

	// Everyone, through the new batch form (which shows the counts by status).
	form := b.get("/projects/" + be.p.ID + "/batches/new?status=failed")
	mustContain(t, "new batch form", form.body, `name="status" value="failed" checked`, `name="all" value="1"`)
	r = b.post("/projects/"+be.p.ID+"/batches/new", "/projects/"+be.p.ID+"/batches", url.Values{"all": {"1"}, "name": {"everyone"}, "start_at": {"2027-01-01T00:00"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("all: %d %s", r.code, r.body)
	}
	bs, _ = be.projects.Batches(t.Context(), be.p.ID)
	if len(bs[0].Users) != 3 || bs[0].Name != "everyone" {
		t.Fatalf("all users: %+v", bs[0])
	}
	if got := auditActions(t, be.testEnv); strings.Count(got, "batch.create") != 3 {
		t.Fatalf("audit: %s", got)
	}

	// The API: logins or IDs, the CLI's fields.
	nb := be.apiBatch(fmt.Sprintf(`{"name":"api","users":["U1",%q],"start_at":"2027-02-01T10:00:00Z","windows":["20:00-06:00"],"concurrency":1,"delta_every":"12h"}`, u2.ID))
	if strings.Join(nb.Users, ",") != u1.ID+","+u2.ID || nb.CreatedBy != "api" || nb.State != project.BatchScheduled || nb.Submitted.IsZero() ||
		!nb.Schedule.StartAt.Equal(time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC)) || nb.Schedule.DeltaEvery != 12*time.Hour || nb.Concurrency != 1 {
		t.Fatalf("API batch %+v", nb)
	}
	nb = be.apiBatch(`{"status":["running"]}`)
	if len(nb.Users) != 2 {
		t.Fatalf("API batch by status: %+v", nb)
	}

	// The list: every batch, newest first, with its numbers and links.
	list := b.get("/projects/" + be.p.ID + "/batches")
	mustContain(t, "batches page", list.body, "wave 1", "everyone", ">0/2<", ">0/3<", `href="/projects/`+be.p.ID+`/batches/`+first.ID+`"`,
		`href="/projects/`+be.p.ID+`/batches/`+first.ID+`/report"`)
	var bps []scheduler.BatchProgress
	r = be.api("GET", "/api/v1/projects/main/batches", "")
	if err := json.Unmarshal([]byte(r.body), &bps); err != nil || len(bps) != 5 || bps[4].Batch != first.ID || len(bps[4].Users) != 2 {
		t.Fatalf("API list: %d %s", r.code, r.body)
	}
}

func TestBatchCreateErrors(t *testing.T) {
	be := newBatchEnv(t)
	b := be.admin("ada")
	u0 := be.users[0]
	create := "/projects/" + be.p.ID + "/batches"
	for _, c := range []struct {
		form url.Values
		want []string
	}{
		{url.Values{"name": {"nobody"}}, []string{"select at least one user for the batch", `value="nobody"`}},
		{url.Values{"user": {u0.ID}, "windows": {"mon-fry 20:00-06:00"}}, []string{`&#34;mon-fry&#34; is not a day`, `name="user" value="` + u0.ID + `"`, "mon-fry 20:00-06:00"}},
		{url.Values{"user": {u0.ID}, "windows": {"20:00-20:00"}}, []string{"is empty"}},
		{url.Values{"user": {u0.ID}, "delta_every": {"daily"}}, []string{`&#34;daily&#34; is not a duration`}},
		{url.Values{"user": {u0.ID}, "delta_every": {"10s"}}, []string{"at most one a minute"}},
		{url.Values{"user": {u0.ID}, "start_at": {"tomorrow"}}, []string{"Not a date and time"}},
		{url.Values{"user": {u0.ID}, "concurrency": {"many"}}, []string{"A whole number"}},
		{url.Values{"user": {u0.ID}, "concurrency": {"999"}}, []string{"0 (the default) to 256"}},
		{url.Values{"status": {"done"}}, []string{"no user of project main has the status done"}},
		{url.Values{"status": {"bogus"}}, []string{`no status &#34;bogus&#34;`}},
		{url.Values{"user": {"u-gone"}}, []string{`no user &#34;u-gone&#34; in project main`}},
	} {
		r := b.post(be.usersPage(), create, c.form)
		if r.code != http.StatusUnprocessableEntity {
			t.Errorf("%v: %d, want 422", c.form, r.code)
			continue
		}
		mustContain(t, fmt.Sprint(c.form), r.body, c.want...)
		checkHTML(t, "422 batch form", r.body)
	}
	for body, want := range map[string]string{
		`{"users":[]}`:                                   "select at least one user",
		`{"users":["u0","ghost","spook"]}`:               `no user \"ghost\", \"spook\" in project main`,
		`{"all":true,"windows":["someday 10:00-11:00"]}`: `\"someday\" is not a day`,
		`{"all":true,"delta_every":"often"}`:             "is not a duration",
		`{"all":true,"concurrency":-1}`:                  "0 (the default) to 256",
		`{"all":true,"start_at":"next tuesday"}`:         "body:",
		`{"status":["cancelled"]}`:                       "has the status cancelled",
		`{"users":["u0"],"windows":["mon 25:00-26:00"]}`: "is not a time of day",
	} {
		r := be.api("POST", "/api/v1/projects/main/batches", body)
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, want) {
			t.Errorf("API %s: %d %s, want 400 with %s", body, r.code, r.body, want)
		}
	}
	if r := be.api("POST", "/api/v1/projects/nope/batches", `{"all":true}`); r.code != http.StatusNotFound {
		t.Errorf("unknown project: %d %s", r.code, r.body)
	}
	if bs, _ := be.projects.Batches(t.Context(), be.p.ID); len(bs) != 0 {
		t.Fatalf("batches stored after errors: %+v", bs)
	}
	// A scheduler that cannot take the batch: 503, and no batch left
	// behind that would never run.
	be.sched.Close()
	if r := be.api("POST", "/api/v1/projects/main/batches", `{"all":true}`); r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "closed") {
		t.Fatalf("closed scheduler: %d %s", r.code, r.body)
	}
	if bs, _ := be.projects.Batches(t.Context(), be.p.ID); len(bs) != 0 {
		t.Fatalf("an unsubmitted batch was left: %+v", bs)
	}
}

func TestBatchFormsNeedCSRFAndLogin(t *testing.T) {
	be := newBatchEnv(t)
	b := be.admin("ada")
	nb := be.apiBatch(`{"all":true,"start_at":"2030-01-01T00:00:00Z"}`)
	base := "/projects/" + be.p.ID + "/batches"
	form := url.Values{"user": {be.users[0].ID}}
	if r := b.do("POST", base, form, nil); r.code != http.StatusForbidden {
		t.Fatalf("create without a token: %d", r.code)
	}
	form.Set("csrf", strings.Repeat("0", 64))
	if r := b.do("POST", base, form, nil); r.code != http.StatusForbidden {
		t.Fatalf("create with a wrong token: %d", r.code)
	}
	for _, a := range []string{"pause", "resume", "cancel", "rerun"} {
		if r := b.do("POST", base+"/"+nb.ID+"/"+a, url.Values{}, map[string]string{"HX-Request": "true", "X-CSRF-Token": "nope"}); r.code != http.StatusForbidden {
			t.Errorf("%s without a valid token: %d", a, r.code)
		}
	}
	if bs, _ := be.projects.Batches(t.Context(), be.p.ID); len(bs) != 1 || be.batch(nb.ID).State != project.BatchScheduled {
		t.Fatalf("a form without its token changed something: %+v", bs)
	}

	anon := be.browser()
	u := "/projects/" + be.p.ID + "/users/" + be.users[0].ID
	for _, p := range []string{base, base + "/new", base + "/" + nb.ID, base + "/" + nb.ID + "/progress", base + "/" + nb.ID + "/report",
		base + "/" + nb.ID + "/report.csv", u + "/report", u + "/report.csv", "/dashboard/activity"} {
		if r := anon.get(p); r.code != http.StatusSeeOther || !strings.HasPrefix(r.h.Get("Location"), "/login") {
			t.Errorf("%s without login: %d %s", p, r.code, r.h.Get("Location"))
		}
	}
	if r := anon.do("POST", base+"/"+nb.ID+"/cancel", url.Values{}, nil); r.code != http.StatusForbidden && r.code != http.StatusSeeOther {
		t.Errorf("cancel without login: %d", r.code)
	}
	req, _ := http.NewRequest("GET", be.ts.URL+"/api/v1/projects/main/batches", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("API without token: %d", res.StatusCode)
	}
	if st := be.batch(nb.ID).State; st != project.BatchScheduled {
		t.Fatalf("state %s", st)
	}
}

func TestBatchControls(t *testing.T) {
	be := newBatchEnv(t)
	b := be.admin("ada")
	nb := be.apiBatch(`{"name":"night","users":["u0","u1"]}`)
	calls := be.nextN(2)
	be.waitState(nb.ID, project.BatchRunning)
	page := "/projects/" + be.p.ID + "/batches/" + nb.ID
	r := b.get(page)
	mustContain(t, "running batch", r.body, `id="batch-pause"`, `id="batch-cancel"`, `hx-confirm="Cancel batch night?`)
	if strings.Contains(r.body, `id="batch-resume"`) || strings.Contains(r.body, `id="batch-rerun"`) {
		t.Errorf("controls of a running batch: %s", r.body)
	}

	// Pause from the console: the passes stop, the page says so.
	r = b.post(page, page+"/pause", nil)
	if r.code != http.StatusSeeOther || r.h.Get("Location") != page {
		t.Fatalf("pause: %d %s", r.code, r.h.Get("Location"))
	}
	be.waitState(nb.ID, project.BatchPaused)
	be.eventually("interrupted reports", func() bool {
		rs, _ := be.projects.Reports(t.Context(), be.p.ID, be.users[0].ID)
		return len(rs) == 1 && rs[0].Interrupted == "paused"
	})
	r = b.get(page)
	mustContain(t, "paused batch", r.body, "Batch night paused (pass 1, paused).", `id="batch-resume"`, `id="batch-cancel"`)
	// Through htmx, the same answer is a client redirect.
	tok := b.csrf(page)
	r = b.do("POST", page+"/resume", url.Values{}, map[string]string{"HX-Request": "true", "X-CSRF-Token": tok})
	if r.code != http.StatusOK || r.h.Get("HX-Redirect") != page {
		t.Fatalf("htmx resume: %d %v", r.code, r.h)
	}
	calls = be.nextN(2)
	be.waitState(nb.ID, project.BatchRunning)

	// Cancel through the API (by name), then what a cancelled batch refuses.
	r = be.api("POST", "/api/v1/projects/main/batches/night/cancel", "")
	var got project.Batch
	if json.Unmarshal([]byte(r.body), &got); r.code != http.StatusOK || got.State != project.BatchCancelled || got.ID != nb.ID {
		t.Fatalf("API cancel: %d %s", r.code, r.body)
	}
	be.eventually("users cancelled", func() bool {
		u, _ := be.projects.User(t.Context(), be.p.ID, be.users[1].ID)
		return u.Status == project.StatusCancelled
	})
	r = b.post(page, page+"/pause", nil)
	if r.code != http.StatusSeeOther {
		t.Fatalf("pause a cancelled batch: %d %s", r.code, r.body)
	}
	r = b.get(page)
	mustContain(t, "refused pause", r.body, "flash-error", "batch night is cancelled, cannot pause", `id="batch-rerun"`)
	if strings.Contains(r.body, `hx-trigger="every 2s"`) {
		t.Errorf("a cancelled batch's page still polls")
	}
	if r := be.api("POST", "/api/v1/projects/main/batches/"+nb.ID+"/resume", ""); r.code != http.StatusConflict || !strings.Contains(r.body, "cannot resume") {
		t.Fatalf("API resume of a cancelled batch: %d %s", r.code, r.body)
	}

	// Rerun: a delta pass, pass 2; a second rerun while it runs is refused.
	r = be.api("POST", "/api/v1/projects/main/batches/"+nb.ID+"/rerun", "")
	if json.Unmarshal([]byte(r.body), &got); r.code != http.StatusOK || got.Pass != 2 || got.State != project.BatchScheduled {
		t.Fatalf("API rerun: %d %s", r.code, r.body)
	}
	calls = be.nextN(2)
	if r := be.api("POST", "/api/v1/projects/main/batches/"+nb.ID+"/rerun", ""); r.code != http.StatusConflict {
		t.Fatalf("rerun of a running batch: %d %s", r.code, r.body)
	}
	calls["u0"].end(engine.StatusOK, nil)
	calls["u1"].end(engine.StatusOK, nil)
	be.waitState(nb.ID, project.BatchDone)
	// The console's rerun of a done batch.
	r = b.post(page, page+"/rerun", nil)
	if r.code != http.StatusSeeOther || be.batch(nb.ID).Pass != 3 {
		t.Fatalf("console rerun: %d pass %d", r.code, be.batch(nb.ID).Pass)
	}
	be.nextN(2)
	// A name with a slash, escaped as the CLI does.
	be.apiBatch(`{"name":"wave 1/2","users":["u2"],"start_at":"2030-01-01T00:00:00Z"}`)
	if r := be.api("POST", "/api/v1/projects/main/batches/wave%201%2F2/pause", ""); r.code != http.StatusOK || !strings.Contains(r.body, `"state":"paused"`) {
		t.Fatalf("pause by a name with a slash: %d %s", r.code, r.body)
	}
	if r := be.api("POST", "/api/v1/projects/main/batches/nope/pause", ""); r.code != http.StatusNotFound {
		t.Fatalf("unknown batch: %d", r.code)
	}
	acts := auditActions(t, be.testEnv)
	for _, a := range []string{"batch.create", "batch.pause", "batch.resume", "batch.cancel", "batch.rerun"} {
		if !strings.Contains(acts, a) {
			t.Errorf("audit lacks %s: %s", a, acts)
		}
	}
}

func TestBatchProgressLive(t *testing.T) {
	be := newBatchEnv(t)
	b := be.admin("ada")
	nb := be.apiBatch(`{"name":"live","users":["u0","u1"]}`)
	calls := be.nextN(2)
	be.sched.Tick() // the first sample, at 0 copied
	c := calls["u0"]
	be.clock.Add(10 * time.Second)
	c.prog.FoldersTotal.Store(3)
	c.prog.FoldersDone.Store(1)
	c.prog.ToCopy.Store(100)
	c.prog.Copied.Store(50)
	c.prog.BytesCopied.Store(5 << 20)
	be.sched.Tick() // 50 in 10 s: 5 messages a second, 10 s left

	partial := "/projects/" + be.p.ID + "/batches/" + nb.ID + "/progress"
	r := b.do("GET", partial, nil, map[string]string{"HX-Request": "true"})
	if r.code != http.StatusOK || strings.Contains(r.body, "<html") {
		t.Fatalf("partial: %d %s", r.code, r.body)
	}
	mustContain(t, "live partial", r.body, `id="batch-progress"`, `hx-get="`+partial+`"`, `hx-trigger="every 2s"`, `hx-swap="outerHTML"`,
		`<span id="batch-copied">50</span> copied of 100 to copy`, `<span id="batch-bytes">5.0 MB</span>`, `<span id="batch-rate">5.0</span> messages/s`,
		`<dd id="batch-eta">10s</dd>`, `<span id="batch-done">0/2</span>`,
		`<td>1/3</td>`, `<td>50/100</td>`, `<td>5.0/s</td>`, `<td>10s</td>`, `href="/projects/`+be.p.ID+`/users/`+be.users[0].ID+`/report"`)
	checkHTML(t, "progress partial", r.body)

	var bp scheduler.BatchProgress
	r = be.api("GET", "/api/v1/projects/main/batches/live", "")
	if err := json.Unmarshal([]byte(r.body), &bp); err != nil || bp.Copied != 50 || bp.Rate != 5 || !bp.ETAKnown || bp.ETA != 10*time.Second || len(bp.Users) != 2 {
		t.Fatalf("API progress: %d %s", r.code, r.body)
	}

	// A waiting user says why.
	calls["u1"].end(engine.StatusFailed, &engine.Report{Error: "server busy", ErrorKind: connector.KindTemporary})
	be.eventually("u1 waiting", func() bool {
		bp, _ := be.sched.BatchProgress(t.Context(), be.p.ID, nb.ID)
		return bp.Users[1].Status == project.StatusWaiting
	})
	r = b.get(partial)
	mustContain(t, "waiting row", r.body, "retry after: server busy", "(retry at ")

	// Once the batch is over, the partial comes without its trigger.
	c.end(engine.StatusOK, nil)
	be.eventually("u0 done", func() bool {
		bp, _ := be.sched.BatchProgress(t.Context(), be.p.ID, nb.ID)
		return bp.Done == 1
	})
	if r := be.api("POST", "/api/v1/projects/main/batches/live/cancel", ""); r.code != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.code, r.body)
	}
	r = b.get(partial)
	if strings.Contains(r.body, "hx-trigger") || strings.Contains(r.body, "hx-get=") {
		t.Fatalf("a cancelled batch's partial still polls: %s", r.body)
	}
	mustContain(t, "final partial", r.body, `<span id="batch-done">2/2</span>`, `id="batch-rerun"`)
}

// pages the batches and reports tests visit for the CSP check.
func TestBatchPagesHaveNoInlineScriptOrStyle(t *testing.T) {
	be := newBatchEnv(t)
	b := be.admin("ada")
	nb := be.apiBatch(`{"name":"csp","users":["u0"]}`)
	c := be.next()
	c.prog.Copied.Store(3)
	be.clock.Add(10 * time.Second)
	be.sched.Tick()
	c.end(engine.StatusPartial, sampleReport(be.clock.Now()))
	be.waitState(nb.ID, project.BatchDone)
	bp := "/projects/" + be.p.ID + "/batches"
	u := "/projects/" + be.p.ID + "/users/" + be.users[0].ID
	for _, p := range []string{"/", "/dashboard/activity", bp, bp + "/new", bp + "/new?user=" + be.users[1].ID, bp + "/" + nb.ID, bp + "/" + nb.ID + "/progress",
		bp + "/" + nb.ID + "/report", u + "/report", u + "/report?run=1", "/projects/" + be.p.ID + "/users/" + be.users[2].ID + "/report"} {
		r := b.get(p)
		if r.code != http.StatusOK || !strings.HasPrefix(r.h.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s", p, r.code, r.body)
			continue
		}
		checkHTML(t, p, r.body)
		if strings.Contains(r.body, u0Password) {
			t.Errorf("%s shows u0's password", p)
		}
	}
	if r := b.get(bp); !strings.Contains(r.body, `aria-current="page">Projects</a>`) {
		t.Errorf("the Projects entry is not highlighted: %s", r.body)
	}
}
