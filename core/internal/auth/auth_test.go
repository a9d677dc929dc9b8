package auth

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/memconnector"
)

func TestCredentialModes(t *testing.T) {
	cases := []struct {
		cfg      Config
		mode     Mode
		wantMode string
		wantUser string
		secret   string
		words    string
	}{
		{Config{AdminUser: "admin", HasAdminSecret: true, Method: MethodAuthzid}, ModeAdmin, connector.ModeAdminAuthzid, "", "adm", "authzid"},
		{Config{AdminUser: "admin", HasAdminSecret: true, Method: MethodMaster}, ModeAdmin, connector.ModeAdminMaster, "", "adm", "master user"},
		{Config{AdminUser: "admin", HasAdminSecret: true, Method: MethodAuto, Detected: connector.ModeAdminProxyAuth}, ModeAdmin, connector.ModeAdminProxyAuth, "", "adm", "PROXYAUTH"},
		{Config{HasAdminSecret: true}, ModeMagic, connector.ModePassword, "alice", "adm", "magic password"},
		{Config{}, ModePerUser, connector.ModePassword, "alice", "own", "per-user"},
	}
	for _, c := range cases {
		if err := c.cfg.Validate(); err != nil {
			t.Fatalf("%+v: %v", c.cfg, err)
		}
		if c.cfg.Mode() != c.mode {
			t.Fatalf("%+v: mode %s, want %s", c.cfg, c.cfg.Mode(), c.mode)
		}
		cred, err := c.cfg.Credential("alice", "own", "adm")
		if err != nil || cred.Mode != c.wantMode || cred.Username != c.wantUser || cred.Secret != c.secret {
			t.Fatalf("%+v: credential %v, %v", c.cfg, cred, err)
		}
		if d := c.cfg.Describe(cred, "alice"); !strings.Contains(d, c.words) || strings.Contains(d, "adm\x00") {
			t.Fatalf("%+v: describe %q", c.cfg, d)
		}
	}
	if _, err := (Config{AdminUser: "admin", HasAdminSecret: true}).Credential("alice", "", "adm"); err == nil {
		t.Fatal("auto without detection gave a credential")
	}
	if _, err := (Config{}).Credential("alice", "", ""); err == nil {
		t.Fatal("per-user mode without a password gave a credential")
	}
	for _, bad := range []Config{{AdminUser: "a"}, {Method: MethodMaster, HasAdminSecret: true}, {AdminUser: "a", HasAdminSecret: true, Method: "nope"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func openDB(t *testing.T) *store.DB {
	db, err := store.Open(t.TempDir(), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type countingConn struct {
	connector.Connector
	opens atomic.Int64
}

func (c *countingConn) OpenSource(ctx context.Context, req *connector.OpenRequest) (connector.Source, error) {
	c.opens.Add(1)
	return c.Connector.OpenSource(ctx, req)
}

func TestGuardStopsHammering(t *testing.T) {
	db := openDB(t)
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	g := NewGuard(db, &Limits{AccountFailures: 3, AccountWindow: time.Hour, AccountBlock: time.Hour, ServerFailures: 5, ServerWindow: 10 * time.Minute, ServerBlock: 10 * time.Minute})
	g.now = func() time.Time { return now }
	mem := memconnector.New(&memconnector.Options{AdminUser: "admin", AdminPassword: "right"})
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"} {
		mem.AddUser(u, "pw")
	}
	cc := &countingConn{Connector: mem}
	c := g.Wrap(cc, "imap.example:993", nil)
	ctx := context.Background()
	wrongAdmin := func(user string) error {
		_, err := c.OpenSource(ctx, &connector.OpenRequest{User: user, Credential: connector.Credential{Mode: connector.ModeAdminAuthzid, AuthUser: "admin", Secret: "wrong"}})
		return err
	}
	// A wrong administrator password: three refusals reach the server, then
	// every other user fails at once.
	for i, u := range []string{"u1", "u2", "u3", "u4", "u5", "u6"} {
		err := wrongAdmin(u)
		if !errors.Is(err, connector.ErrAuth) {
			t.Fatalf("user %d: %v", i, err)
		}
		if i >= 3 && !errors.Is(err, ErrBlocked) {
			t.Fatalf("user %d not blocked: %v", i, err)
		}
	}
	if n := cc.opens.Load(); n != 3 {
		t.Fatalf("%d logins reached the server, want 3", n)
	}
	// The block survives a restart (a new guard on the same store) and
	// expires.
	g2 := NewGuard(db, &g.limits)
	g2.now = func() time.Time { return now.Add(30 * time.Minute) }
	if err := g2.Check(ctx, "imap.example:993", "admin"); !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "tern auth unblock") {
		t.Fatalf("after restart: %v", err)
	}
	g2.now = func() time.Time { return now.Add(61 * time.Minute) }
	if err := g2.Check(ctx, "imap.example:993", "admin"); err != nil {
		t.Fatalf("block did not expire: %v", err)
	}
	// Other accounts are not blocked by one account's failures …
	if _, err := c.OpenSource(ctx, &connector.OpenRequest{User: "u7", Credential: connector.Credential{Secret: "pw"}}); err != nil {
		t.Fatalf("another account: %v", err)
	}
	// … until the server as a whole has seen too many.
	for _, u := range []string{"u7", "u8"} {
		c.OpenSource(ctx, &connector.OpenRequest{User: u, Credential: connector.Credential{Secret: "bad"}})
	}
	if err := g.Check(ctx, "imap.example:993", "someone-else"); !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "paused") {
		t.Fatalf("server block: %v", err)
	}
	if err := g.Unblock(ctx, "imap.example:993", ""); err != nil {
		t.Fatal(err)
	}
	if err := g.Check(ctx, "imap.example:993", "admin"); err != nil {
		t.Fatalf("after unblock: %v", err)
	}
}

func TestGuardSuccessResets(t *testing.T) {
	g := NewGuard(openDB(t), nil)
	mem := memconnector.New(nil)
	mem.AddUser("a", "pw")
	c := g.Wrap(mem, "s", nil)
	ctx := context.Background()
	for range 2 {
		c.OpenSource(ctx, &connector.OpenRequest{User: "a", Credential: connector.Credential{Secret: "no"}})
	}
	if _, err := c.OpenSource(ctx, &connector.OpenRequest{User: "a", Credential: connector.Credential{Secret: "pw"}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c.OpenSource(ctx, &connector.OpenRequest{User: "a", Credential: connector.Credential{Secret: "no"}})
	}
	if err := g.Check(ctx, "s", "a"); err != nil {
		t.Fatalf("failures before a success still counted: %v", err)
	}
}
