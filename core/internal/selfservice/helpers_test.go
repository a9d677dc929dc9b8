package selfservice

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/mailer"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/scheduler"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/core/internal/testkit"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/memconnector"
)

type plugins map[string]connector.Connector

func (p plugins) Connector(id string) (connector.Connector, error) {
	if c, ok := p[id]; ok {
		return c, nil
	}
	return nil, errors.New("no plugin " + id)
}

// outbox captures the e-mails sent; fail, if set, fails every send.
type outbox struct {
	mu   sync.Mutex
	msgs []mailer.Message
	fail error
}

func (o *outbox) Send(_ context.Context, m mailer.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	o.msgs = append(o.msgs, m)
	return nil
}

func (o *outbox) all() []mailer.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]mailer.Message(nil), o.msgs...)
}

var linkRe = regexp.MustCompile(`https://tern\.test/s/(\S+)`)

// last returns the last e-mail to addr and the token of its link.
func (o *outbox) last(t *testing.T, to string) (mailer.Message, string) {
	t.Helper()
	msgs := o.all()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == to {
			m := linkRe.FindStringSubmatch(msgs[i].Text)
			if m == nil {
				return msgs[i], ""
			}
			return msgs[i], m[1]
		}
	}
	t.Fatalf("no e-mail to %s in %d", to, len(msgs))
	return mailer.Message{}, ""
}

// fakeScheduler records batches submitted and users added.
type fakeScheduler struct {
	mu        sync.Mutex
	submitted []string
	added     []string
	refuse    error // AddToBatch's error
	progress  map[string]scheduler.UserProgress
}

func (f *fakeScheduler) Submit(_ context.Context, _, b string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submitted = append(f.submitted, b)
	return nil
}

func (f *fakeScheduler) AddToBatch(_ context.Context, _, b, u string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return f.refuse
	}
	f.added = append(f.added, b+":"+u)
	return nil
}

func (f *fakeScheduler) UserProgress(_, u string) (scheduler.UserProgress, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.progress[u]
	return p, ok
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// env is a project over in-memory connectors with a service.
type env struct {
	t        *testing.T
	ctx      context.Context
	db       *store.DB
	sec      secrets.Store
	projects *project.Store
	reg      *connectors.Registry
	src, dst *memconnector.Connector
	plugins  plugins
	p        *project.Project
	mail     *outbox
	sched    *fakeScheduler
	clock    *clock
	s        *Service
}

const base = "https://tern.test"

func newEnv(t *testing.T, mod ...func(*Options)) *env {
	t.Helper()
	db, sec := testkit.Stores(t)
	e := &env{t: t, ctx: context.Background(), db: db, sec: sec, projects: project.NewStore(db, sec), reg: connectors.NewRegistry(db, sec),
		src: memconnector.New(nil), dst: memconnector.New(nil), mail: &outbox{}, sched: &fakeScheduler{},
		clock: &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}}
	e.plugins = plugins{"memsrc": e.src, "memdst": e.dst}
	for _, c := range []*connectors.Config{
		// Named after its server: the in-memory connector has no host
		// setting, and the server's name falls back to the connector's.
		{Name: "imap.old.test", Plugin: "memsrc", Settings: map[string]any{"delimiter": "."}},
		{Name: "new", Plugin: "memdst"},
	} {
		if c.Name == "new" { // a magic password opens the target
			if err := e.reg.SetAdminSecret(e.ctx, c, "Magic-Target-Pw"); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.reg.Put(e.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	e.p = &project.Project{Name: "Move", Source: "imap.old.test", Target: "new"}
	if err := e.projects.PutProject(e.ctx, e.p); err != nil {
		t.Fatal(err)
	}
	o := Options{DB: db, Secrets: sec, Projects: e.projects, Connectors: e.reg, Plugins: e.plugins, Scheduler: e.sched, Mailer: e.mail, Now: e.clock.Now}
	for _, m := range mod {
		m(&o)
	}
	e.s = New(o)
	t.Cleanup(e.s.Close)
	return e
}

// user adds a user with a password on the source server.
func (e *env) user(login, target, password string) *project.User {
	e.t.Helper()
	u := &project.User{Project: e.p.ID, SourceUser: login, TargetUser: target}
	if err := e.projects.PutUser(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	e.src.AddUser(login, password)
	return u
}

// invite sends u's invitation and returns the link's token.
func (e *env) invite(u *project.User) string {
	e.t.Helper()
	rs, err := e.s.Send(e.ctx, e.p.ID, []string{u.ID}, base, "ada")
	if err != nil || len(rs) != 1 || rs[0].Error != "" {
		e.t.Fatalf("send: %v %+v", err, rs)
	}
	_, tok := e.mail.last(e.t, rs[0].Recipient)
	if tok == "" {
		e.t.Fatal("no link in the invitation")
	}
	return tok
}

func (e *env) inv(u *project.User) *Invitation {
	e.t.Helper()
	inv, err := e.s.Invitation(e.ctx, e.p.ID, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return inv
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

// failOpens replaces the source plugin with one whose opens of a user
// fail as fault says.
func (e *env) failOpens(fault func(user string) error) {
	e.src = memconnector.New(&memconnector.Options{Fault: func(op, user, _, _ string) error {
		if op == "open" {
			return fault(user)
		}
		return nil
	}})
	e.plugins["memsrc"] = e.src
}
