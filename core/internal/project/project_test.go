package project

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/testkit"
)

func newStore(t *testing.T) (*Store, secrets.Store) {
	t.Helper()
	db, sec := testkit.Stores(t)
	return NewStore(db, sec), sec
}

func TestWindowOpen(t *testing.T) {
	at := func(day time.Weekday, hm string) time.Time {
		// 2026-11-22 is a Sunday.
		c, _ := time.ParseInLocation("2006-01-02 15:04", "2026-11-22 "+hm, time.Local)
		return c.AddDate(0, 0, int(day))
	}
	night := Window{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, Start: "20:00", End: "06:00"}
	for _, c := range []struct {
		day  time.Weekday
		hm   string
		want bool
	}{
		{time.Monday, "19:59", false},
		{time.Monday, "20:00", true},
		{time.Monday, "23:59", true},
		{time.Tuesday, "05:59", true}, // Monday's night
		{time.Tuesday, "06:00", false},
		{time.Saturday, "03:00", true},  // Friday's night
		{time.Saturday, "21:00", false}, // no Saturday night
		{time.Monday, "03:00", false},   // Sunday's night is not in it
	} {
		if got := night.Open(at(c.day, c.hm)); got != c.want {
			t.Errorf("%s %s: open %v, want %v", c.day, c.hm, got, c.want)
		}
	}
	day := Window{Start: "09:00", End: "17:30"}
	if !day.Open(at(time.Sunday, "17:29")) || day.Open(at(time.Sunday, "17:30")) || day.Open(at(time.Sunday, "08:59")) {
		t.Error("day window boundaries")
	}
	for _, bad := range []Window{{Start: "25:00", End: "06:00"}, {Start: "20:00", End: "20:00"}, {Start: "8", End: "9:00"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	s := Schedule{StartAt: at(time.Monday, "12:00"), Windows: []Window{day}}
	if s.Open(at(time.Monday, "11:00")) || !s.Open(at(time.Monday, "12:00")) || s.Open(at(time.Monday, "18:00")) {
		t.Error("schedule: start time and window")
	}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	s, sec := newStore(t)
	p := &Project{Name: "old to new", Source: "old", Target: "new", Settings: Settings{Since: "2020-01-01", Before: "2019-01-01"}}
	if err := s.PutProject(ctx, p); err == nil {
		t.Fatal("an empty date range was accepted")
	}
	p.Settings = Settings{Include: []string{"Work/**"}, MaxSize: 10 << 20, Since: "2020-01-01"}
	if err := s.PutProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.PutProject(ctx, &Project{Name: "old to new", Source: "a", Target: "b"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate project name: %v", err)
	}
	o := p.Settings.Options()
	if o.Filter.MaxSize != 10<<20 || o.Filter.Since.Year() != 2020 || o.Rules.Include[0] != "Work/**" {
		t.Fatalf("options: %+v", o)
	}

	u := &User{Project: p.ID, SourceUser: "alice", TargetUser: "alice@new.example"}
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if u.Status != StatusNew || u.ID == "" {
		t.Fatalf("new user: %+v", u)
	}
	if err := s.PutUser(ctx, &User{Project: p.ID, SourceUser: "ALICE", TargetUser: "a2@new.example"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate source login: %v", err)
	}
	if err := s.PutUser(ctx, &User{Project: p.ID, SourceUser: "bob", TargetUser: "bob@@new"}); err == nil {
		t.Fatal("a bad target address was accepted")
	}
	if err := s.SetUserPasswords(ctx, p.ID, u.ID, "alice-pw", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(ctx, p.ID, u.ID); !got.HasSourcePassword || got.HasTargetPassword {
		t.Fatalf("password flags: %+v", got)
	}
	if v, err := sec.Get(ctx, secrets.MailboxSource(u.ID)); err != nil || v != "alice-pw" {
		t.Fatalf("secret: %q %v", v, err)
	}

	b := &Batch{Project: p.ID, Users: []string{u.ID}}
	if err := s.PutBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBatch(ctx, &Batch{Project: p.ID, Users: []string{"unone"}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("batch of an unknown user: %v", err)
	}
	b.State = BatchRunning
	s.PutBatch(ctx, b)
	if err := s.DeleteProject(ctx, p.ID); err == nil {
		t.Fatal("deleted a project with a running batch")
	}
	s.UpdateBatch(ctx, p.ID, b.ID, func(b *Batch) error { b.State = BatchCancelled; return nil })

	rep := &engine.Report{Started: time.Now(), Status: engine.StatusOK}
	if err := s.SaveReport(ctx, &RunReport{Project: p.ID, User: u.ID, Pass: 1, Report: rep}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.LatestReport(ctx, p.ID, u.ID); err != nil || r.Pass != 1 {
		t.Fatalf("latest report: %+v %v", r, err)
	}

	if err := s.DeleteProject(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sec.Get(ctx, secrets.MailboxSource(u.ID)); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("the user's secret survived its deletion: %v", err)
	}
	if _, err := s.User(ctx, p.ID, u.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("user survived: %v", err)
	}
}

// A user's totals add up what passes did and keep what the last one found.
func TestUserAddPass(t *testing.T) {
	var u User
	u.AddPass(&engine.Report{Totals: engine.Counts{SourceMessages: 10, Copied: 8, Bytes: 800, Failed: 2, Skipped: 1, FlagsUpdated: 1}})
	u.AddPass(&engine.Report{Totals: engine.Counts{SourceMessages: 12, Copied: 4, Bytes: 400, Present: 8, FlagsUpdated: 3}})
	want := engine.Counts{SourceMessages: 12, Copied: 12, Bytes: 1200, Present: 8, Failed: 0, Skipped: 1, FlagsUpdated: 4}
	if u.Totals != want {
		t.Fatalf("totals %+v, want %+v", u.Totals, want)
	}
}

// AllUsers lists every project's users (and no reports).
func TestAllUsers(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	for _, name := range []string{"one", "two"} {
		p := &Project{Name: name, Source: "a", Target: "b"}
		if err := s.PutProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		u := &User{Project: p.ID, SourceUser: "alice", TargetUser: "alice@example.com", Finished: map[string]BatchPass{"b1": {Pass: 2, Status: StatusDone}}}
		if err := s.PutUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveReport(ctx, &RunReport{Project: p.ID, User: u.ID, Pass: 1, Report: &engine.Report{Started: time.Now()}, Interrupted: "shutdown"}); err != nil {
			t.Fatal(err)
		}
	}
	us, err := s.AllUsers(ctx)
	if err != nil || len(us) != 2 || us[0].Finished["b1"].Pass != 2 {
		t.Fatalf("all users: %v %v", us, err)
	}
}

// The source login index: a renamed user frees its old login, a deleted
// one its login, and a stale index entry does not block anyone.
func TestLoginIndex(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	p := &Project{Name: "p", Source: "a", Target: "b"}
	if err := s.PutProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	u := &User{Project: p.ID, SourceUser: "Alice", TargetUser: "alice@x.example"}
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	u.SourceUser = "alice2"
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.PutUser(ctx, &User{Project: p.ID, SourceUser: "alice", TargetUser: "a3@x.example"}); err != nil {
		t.Fatalf("the old login stayed taken: %v", err)
	}
	if err := s.PutUser(ctx, &User{Project: p.ID, SourceUser: "ALICE2", TargetUser: "a4@x.example"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("the new login is free: %v", err)
	}
	if err := s.DeleteUser(ctx, p.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.PutUser(ctx, &User{Project: p.ID, SourceUser: "alice2", TargetUser: "a5@x.example"}); err != nil {
		t.Fatalf("a deleted user's login stayed taken: %v", err)
	}
	// A stale entry (its user is gone without the index knowing).
	s.db.Put(ctx, loginKey(p.ID, "bob"), "unone")
	if err := s.PutUser(ctx, &User{Project: p.ID, SourceUser: "bob", TargetUser: "bob@x.example"}); err != nil {
		t.Fatalf("a stale index entry blocked bob: %v", err)
	}
}
