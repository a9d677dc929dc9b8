package admins

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/store"
)

func openDB(t *testing.T) *store.DB {
	db, err := store.Open(t.TempDir(), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

const pw = "a-good-long-password"

func TestAccounts(t *testing.T) {
	db := openDB(t)
	s := New(db)
	ctx := context.Background()
	first, err := s.EnsureInitial(ctx)
	if err != nil || len(first) < 20 {
		t.Fatalf("initial: %q %v", first, err)
	}
	if again, _ := s.EnsureInitial(ctx); again != "" {
		t.Fatal("a second initial account")
	}
	a, _, err := s.Authenticate(ctx, InitialName, first)
	if err != nil || !a.MustChange {
		t.Fatalf("initial login: %+v %v", a, err)
	}
	if _, err := s.Create(ctx, "Bad Name", pw, false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := s.Create(ctx, "ops", "short", false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short password: %v", err)
	}
	if _, err := s.Create(ctx, "ops", pw, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "ops", pw, false); !errors.Is(err, ErrExists) {
		t.Fatalf("twice: %v", err)
	}
	if err := s.ChangePassword(ctx, "ops", "wrong-current-password", pw+"2"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("wrong current: %v", err)
	}
	if err := s.ChangePassword(ctx, "ops", pw, pw+"2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Authenticate(ctx, "ops", pw+"2"); err != nil {
		t.Fatal(err)
	}
	// No password in the store, only argon2id hashes.
	db.Scan(ctx, "", func(k string, v []byte) error {
		if strings.Contains(string(v), pw) || strings.Contains(string(v), first) {
			t.Fatalf("password stored under %s", k)
		}
		return nil
	})
	got, _ := s.Get(ctx, "ops")
	if !strings.HasPrefix(got.Hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %s", got.Hash)
	}
	if err := s.Delete(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, InitialName); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("last admin: %v", err)
	}
}

func TestLockout(t *testing.T) {
	s := New(openDB(t))
	ctx := context.Background()
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	s.Create(ctx, "ops", pw, false)
	_, res, err := s.Authenticate(ctx, "nobody", pw)
	if !errors.Is(err, ErrBadCredentials) || res.Known {
		t.Fatalf("unknown: %+v %v", res, err)
	}
	for i := 1; i <= MaxFailures; i++ {
		_, res, err := s.Authenticate(ctx, "ops", "wrong")
		if !errors.Is(err, ErrBadCredentials) || !res.Known || res.JustLocked != (i == MaxFailures) {
			t.Fatalf("failure %d: %+v %v", i, res, err)
		}
	}
	if _, res, err := s.Authenticate(ctx, "ops", pw); !errors.Is(err, ErrBadCredentials) || !res.Locked {
		t.Fatalf("locked account let in: %+v %v", res, err)
	}
	now = now.Add(LockFor + time.Second)
	if _, _, err := s.Authenticate(ctx, "ops", pw); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	// A success resets the count.
	for range MaxFailures - 1 {
		s.Authenticate(ctx, "ops", "wrong")
	}
	s.Authenticate(ctx, "ops", pw)
	if _, res, _ := s.Authenticate(ctx, "ops", "wrong"); res.Locked {
		t.Fatal("count not reset by a success")
	}
	// Reset and unlock clear the lock.
	for range MaxFailures {
		s.Authenticate(ctx, "ops", "wrong")
	}
	if err := s.Unlock(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Authenticate(ctx, "ops", pw); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

func TestSessions(t *testing.T) {
	db := openDB(t)
	ss := NewSessions(db)
	ctx := context.Background()
	now := time.Now()
	ss.SetClock(func() time.Time { return now })
	id, s1, err := ss.Create(ctx, "ops")
	if err != nil || len(id) != 64 || len(s1.CSRF) != 64 || s1.CSRF == id {
		t.Fatalf("create: %q %+v %v", id, s1, err)
	}
	// The store holds the ID's hash, not the ID.
	keys, _ := db.Keys(ctx, "v1/session/")
	if len(keys) != 1 || strings.Contains(keys[0], id) {
		t.Fatalf("keys %v", keys)
	}
	if _, err := ss.Get(ctx, "x"); !errors.Is(err, ErrNoSession) {
		t.Fatal(err)
	}
	id2, _, _ := ss.Create(ctx, "ops")
	id3, _, _ := ss.Create(ctx, "other")
	got, err := ss.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got.Flashes = append(got.Flashes, Flash{Kind: "info", Message: "hi"})
	ss.Save(ctx, got)
	if g, _ := ss.Get(ctx, id); len(g.Flashes) != 1 {
		t.Fatal("flash not saved")
	}
	if err := ss.DeleteFor(ctx, "ops", got); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Get(ctx, id); err != nil {
		t.Fatal("kept session deleted")
	}
	if _, err := ss.Get(ctx, id2); !errors.Is(err, ErrNoSession) {
		t.Fatal("other session of ops kept")
	}
	if _, err := ss.Get(ctx, id3); err != nil {
		t.Fatal("another admin's session deleted")
	}
	now = now.Add(DefaultIdle + time.Second)
	if err := ss.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := db.Keys(ctx, "v1/session/"); len(keys) != 0 {
		t.Fatalf("expired sessions kept: %v", keys)
	}
}
