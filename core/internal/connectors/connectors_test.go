package connectors

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/core/internal/testkit"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/memconnector"
)

func openReg(t *testing.T) (*Registry, *store.DB) {
	db, sec := testkit.Stores(t)
	return NewRegistry(db, sec), db
}

func TestRegistryAndDetection(t *testing.T) {
	reg, db := openReg(t)
	ctx := context.Background()
	c := &Config{Name: "oldmail", Plugin: "mem", Settings: map[string]any{"host": "mail.example", "port": 993},
		Auth: Auth{AdminUser: "admin", AdminMethod: "auto"}}
	if err := reg.SetAdminSecret(ctx, c, "adm-Secret-1"); err != nil {
		t.Fatal(err)
	}
	if err := reg.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c.Server() != "mem://mail.example:993" {
		t.Fatalf("server %q", c.Server())
	}
	if _, err := c.AuthConfig().AdminMode(); err == nil {
		t.Fatal("auto mode known before any test")
	}
	mem := memconnector.New(&memconnector.Options{AdminUser: "admin", AdminPassword: "adm-Secret-1"})
	mem.AddUser("alice", "pw")
	d, err := reg.Test(ctx, mem, c, "alice", "")
	if err != nil || d.Report.Recommended != connector.ModeAdminAuthzid {
		t.Fatalf("test: %+v %v", d, err)
	}
	got, err := reg.Get(ctx, "oldmail")
	if err != nil || got.Detection == nil || got.Detection.SampleUser != "alice" {
		t.Fatalf("stored: %+v %v", got, err)
	}
	if mode, err := got.AuthConfig().AdminMode(); err != nil || mode != connector.ModeAdminAuthzid {
		t.Fatalf("mode after the test: %q %v", mode, err)
	}
	// The detection belongs to that administrator.
	got.Auth.AdminUser = "someone-else"
	if _, err := got.AuthConfig().AdminMode(); err == nil {
		t.Fatal("a detection for another administrator was used")
	}
	// No secret is in the state store.
	err = db.Scan(ctx, "", func(k string, v []byte) error {
		if strings.Contains(k+string(v), "adm-Secret-1") {
			t.Fatalf("secret in the store under %q", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := reg.List(ctx)
	if len(list) != 1 {
		t.Fatalf("list: %d", len(list))
	}
	if err := reg.Delete(ctx, "oldmail"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Get(ctx, "oldmail"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	// Deleting a connector deletes its secrets.
	if _, err := reg.Secrets().Get(ctx, secrets.ConnectorAdmin("oldmail")); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("secret after delete: %v", err)
	}
	// Ad-hoc connectors keep their detection by server and administrator.
	adhoc := &Config{Name: AdhocName("mem://x", "admin"), Adhoc: true, Plugin: "mem", Settings: map[string]any{"host": "x"}, Auth: Auth{AdminUser: "admin"}}
	reg.SetAdminSecret(ctx, adhoc, "adm-Secret-1")
	if _, err := reg.Test(ctx, mem, adhoc, "alice", ""); err != nil {
		t.Fatal(err)
	}
	again := &Config{Name: adhoc.Name, Adhoc: true, Plugin: "mem", Settings: map[string]any{"host": "x"}, Auth: Auth{AdminUser: "admin", HasAdminSecret: true}}
	reg.LoadDetection(ctx, again)
	if mode, err := again.AuthConfig().AdminMode(); err != nil || mode != connector.ModeAdminAuthzid {
		t.Fatalf("ad-hoc detection not found again: %q %v", mode, err)
	}
	for _, bad := range []*Config{{Name: "Bad Name", Plugin: "mem"}, {Name: "x"}, {Name: "y", Plugin: "mem", Auth: Auth{AdminUser: "a"}}} {
		if reg.Put(ctx, bad) == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}
