package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/auth"
	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/testkit"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/memconnector"
)

type plugins map[string]connector.Connector

func (p plugins) Connector(id string) (connector.Connector, error) {
	if c, ok := p[id]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("no plugin %q", id)
}

type env struct {
	r        *Runner
	projects *project.Store
	reg      *connectors.Registry
	src, dst *memconnector.Connector
	p        *project.Project
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, sec := testkit.Stores(t)
	e := &env{
		reg: connectors.NewRegistry(db, sec),
		src: memconnector.New(&memconnector.Options{AdminUser: "root", AdminPassword: "Admin-Pw-1"}),
		dst: memconnector.New(nil),
	}
	e.projects = project.NewStore(db, sec)
	e.r = &Runner{DB: db, Registry: e.reg, Plugins: plugins{"memsrc": e.src, "memdst": e.dst},
		Guard: auth.NewGuard(db, nil), Engine: engine.New(engine.Config{})}
	ctx := context.Background()
	old := &connectors.Config{Name: "old", Plugin: "memsrc", Settings: map[string]any{"delimiter": "."}, Auth: connectors.Auth{AdminUser: "root", AdminMethod: "authzid"}}
	if err := e.reg.SetAdminSecret(ctx, old, "Admin-Pw-1"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Put(ctx, old); err != nil {
		t.Fatal(err)
	}
	// The target: a magic password (the in-memory connector lets users
	// without a password of their own in with any).
	nw := &connectors.Config{Name: "new", Plugin: "memdst"}
	if err := e.reg.SetAdminSecret(ctx, nw, "Magic-Pw-3"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Put(ctx, nw); err != nil {
		t.Fatal(err)
	}
	e.p = &project.Project{Name: "p", Source: "old", Target: "new"}
	if err := e.projects.PutProject(ctx, e.p); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) user(t *testing.T, src, dst string) *project.User {
	t.Helper()
	u := &project.User{Project: e.p.ID, SourceUser: src, TargetUser: dst}
	if err := e.projects.PutUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func msg(i int) []byte {
	return []byte(fmt.Sprintf("Message-ID: <r%d@example.com>\r\nSubject: %d\r\n\r\nbody %d\r\n", i, i, i))
}

// A pass over a project's user: the administrator opens the source, the
// user's own target password (in the secrets layer) the target; a second
// pass copies nothing; the project's settings apply.
func TestRun(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	day := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	e.src.AddUser("alice", "alice-own-pw")
	e.dst.AddUser("alice@new.example", "Target-Pw-2")
	for i := range 5 {
		e.src.Seed("alice", "INBOX", msg(i), day.AddDate(0, 0, i), `\Seen`)
	}
	e.src.Seed("alice", "Work.Old", msg(10), day)
	e.src.Seed("alice", "Junk", msg(11), day)
	u := e.user(t, "alice", "alice@new.example")
	if err := e.projects.SetUserPasswords(ctx, e.p.ID, u.ID, "", "Target-Pw-2"); err != nil {
		t.Fatal(err)
	}
	u, _ = e.projects.User(ctx, e.p.ID, u.ID)
	e.p.Settings = project.Settings{Exclude: []string{"Junk"}, Since: "2024-03-02", NoFlags: true}

	prog := &engine.Progress{}
	rep := e.r.Run(ctx, e.p, u, prog)
	if rep.Status != engine.StatusOK {
		t.Fatalf("%s: %s", rep.Status, rep.Error)
	}
	if rep.Source != "alice" || rep.Target != "alice@new.example" {
		t.Fatalf("report names %q → %q", rep.Source, rep.Target)
	}
	// Since 2024-03-02: messages 1–4 of INBOX; Work/Old is older; Junk excluded.
	got := e.dst.Messages("alice@new.example", "INBOX")
	if len(got) != 4 || prog.Copied.Load() != 4 {
		t.Fatalf("INBOX has %d messages, progress says %d copied; want 4", len(got), prog.Copied.Load())
	}
	for _, m := range got {
		if len(m.Flags) != 0 {
			t.Fatalf("flags %q arrived with NoFlags", m.Flags)
		}
	}
	for _, f := range e.dst.FolderNames("alice@new.example") {
		if f == "Junk" {
			t.Fatal("the excluded Junk folder was created")
		}
	}
	if again := e.r.Run(ctx, e.p, u, &engine.Progress{}); again.Status != engine.StatusOK || again.Totals.Copied != 0 {
		t.Fatalf("second pass: %s %s, copied %d", again.Status, again.Error, again.Totals.Copied)
	}
	// The same pair from the CLI has the same ledger.
	sc, _ := e.reg.Get(ctx, "old")
	dc, _ := e.reg.Get(ctx, "new")
	if rep.Mailbox != MailboxID(sc, dc, "alice", "alice@new.example") {
		t.Fatalf("mailbox id %q", rep.Mailbox)
	}
}

// A user's own source password wins over the connector's administrator,
// and a wrong one fails the pass as an authentication error.
func TestOwnPasswordAndErrors(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.src.AddUser("bob", "bob-own-pw")
	e.src.Seed("bob", "INBOX", msg(1), time.Now())
	u := e.user(t, "bob", "bob@new.example")
	e.projects.SetUserPasswords(ctx, e.p.ID, u.ID, "wrong-pw", "")
	u, _ = e.projects.User(ctx, e.p.ID, u.ID)
	rep := e.r.Run(ctx, e.p, u, &engine.Progress{})
	if rep.Status != engine.StatusFailed || rep.ErrorKind != connector.KindAuth {
		t.Fatalf("wrong own password: %s %v %s", rep.Status, rep.ErrorKind, rep.Error)
	}
	e.projects.SetUserPasswords(ctx, e.p.ID, u.ID, "bob-own-pw", "")
	if rep := e.r.Run(ctx, e.p, u, &engine.Progress{}); rep.Status != engine.StatusOK || rep.Totals.Copied != 1 {
		t.Fatalf("own password: %s %s", rep.Status, rep.Error)
	}

	// A project whose connector was deleted: a permanent error, no panic.
	gone := &project.Project{ID: "px", Name: "gone", Source: "missing", Target: "new"}
	rep = e.r.Run(ctx, gone, u, &engine.Progress{})
	if rep.Status != engine.StatusFailed || rep.ErrorKind != connector.KindPermanent {
		t.Fatalf("missing connector: %s %v %s", rep.Status, rep.ErrorKind, rep.Error)
	}
	// A plugin that is not installed.
	e.reg.Put(ctx, &connectors.Config{Name: "ghost", Plugin: "nothere"})
	rep = e.r.Run(ctx, &project.Project{Name: "g", Source: "old", Target: "ghost"}, u, &engine.Progress{})
	if rep.Status != engine.StatusFailed || rep.Error == "" {
		t.Fatalf("missing plugin: %s %s", rep.Status, rep.Error)
	}
}

// recorder remembers the logins of the sessions opened through it.
type recorder struct {
	connector.Connector
	logins []string
}

func (r *recorder) OpenSource(ctx context.Context, req *connector.OpenRequest) (connector.Source, error) {
	r.logins = append(r.logins, req.Credential.Username)
	return r.Connector.OpenSource(ctx, req)
}

// VerifyLogin: a live login with the user's own password; a refused one
// is an authentication error without the password in it; the guard
// counts refusals; a plugin that cannot be a source is refused.
func TestVerifyLogin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.src.AddUser("carol", "carol-own-pw")
	sc, _ := e.reg.Get(ctx, "old")
	if err := VerifyLogin(ctx, e.r.Plugins, nil, sc, "carol", "", "carol-own-pw"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	err := VerifyLogin(ctx, e.r.Plugins, nil, sc, "carol", "", "Wrong-Secret-9")
	if connector.KindOf(err) != connector.KindAuth {
		t.Fatalf("wrong password: %v (kind %v)", err, connector.KindOf(err))
	}
	if strings.Contains(err.Error(), "Wrong-Secret-9") {
		t.Fatalf("the password is in the error: %v", err)
	}
	// A login that is not the mailbox's (the in-memory server refuses it).
	if err := VerifyLogin(ctx, e.r.Plugins, nil, sc, "carol", "someone", "carol-own-pw"); connector.KindOf(err) != connector.KindAuth {
		t.Fatalf("other login: %v", err)
	}
	// Through the guard: three refusals block the account, even for the
	// right password.
	g := auth.NewGuard(e.r.DB, nil)
	for range 3 {
		VerifyLogin(ctx, e.r.Plugins, g, sc, "carol", "", "Wrong-Secret-9")
	}
	if err := VerifyLogin(ctx, e.r.Plugins, g, sc, "carol", "", "carol-own-pw"); !errors.Is(err, auth.ErrBlocked) {
		t.Fatalf("after three refusals: %v", err)
	}
	// A connector whose plugin is missing.
	if err := VerifyLogin(ctx, e.r.Plugins, nil, &connectors.Config{Name: "x", Plugin: "nothere"}, "carol", "", "pw"); err == nil {
		t.Fatal("missing plugin: no error")
	}
}

// A user's own source login (self-service) goes with its own password;
// the mailbox and the ledger stay the source user's.
func TestSourceLogin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	rec := &recorder{Connector: e.src}
	e.r.Plugins = plugins{"memsrc": rec, "memdst": e.dst}
	e.src.AddUser("dave", "dave-own-pw")
	e.src.Seed("dave", "INBOX", msg(1), time.Now())
	u := e.user(t, "dave", "dave@new.example")
	e.projects.SetUserPasswords(ctx, e.p.ID, u.ID, "dave-own-pw", "")
	u, _ = e.projects.UpdateUser(ctx, e.p.ID, u.ID, func(u *project.User) error { u.SourceLogin = "dave"; return nil })
	if rep := e.r.Run(ctx, e.p, u, &engine.Progress{}); rep.Status != engine.StatusOK || rep.Totals.Copied != 1 {
		t.Fatalf("own login: %s %s", rep.Status, rep.Error)
	}
	u.SourceLogin = "dave.other"
	rep := e.r.Run(ctx, e.p, u, &engine.Progress{})
	if rep.Status != engine.StatusFailed || rep.ErrorKind != connector.KindAuth {
		t.Fatalf("a login the server refuses: %s %s", rep.Status, rep.Error)
	}
	if got := rec.logins; len(got) < 2 || got[0] != "dave" || got[len(got)-1] != "dave.other" {
		t.Fatalf("logins %q", got)
	}
}
