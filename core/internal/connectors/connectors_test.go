package connectors

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/memconnector"
)

func openReg(t *testing.T) (*Registry, *store.DB) {
	db, err := store.Open(t.TempDir(), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return NewRegistry(db), db
}

func TestSecretRef(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(f, []byte("s3cret\n"), 0o600)
	if v, err := (SecretRef{File: f}).Read(); err != nil || v != "s3cret" {
		t.Fatalf("file: %q %v", v, err)
	}
	t.Setenv("TERN_TEST_SECRET_REF", "from-env")
	if v, err := (SecretRef{Env: "TERN_TEST_SECRET_REF"}).Read(); err != nil || v != "from-env" {
		t.Fatalf("env: %q %v", v, err)
	}
	if _, err := (SecretRef{Env: "TERN_TEST_UNSET_VAR"}).Read(); err == nil || !strings.Contains(err.Error(), "TERN_TEST_UNSET_VAR") {
		t.Fatalf("unset env: %v", err)
	}
	if !(SecretRef{}).IsZero() || (SecretRef{}).Available() {
		t.Fatal("zero ref")
	}
}

func TestRegistryAndDetection(t *testing.T) {
	reg, db := openReg(t)
	ctx := context.Background()
	t.Setenv("ADM_PW", "adm-Secret-1")
	c := &Config{Name: "oldmail", Plugin: "mem", Settings: map[string]any{"host": "mail.example", "port": 993},
		Auth: Auth{AdminUser: "admin", AdminMethod: "auto", AdminSecret: SecretRef{Env: "ADM_PW"}}}
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
	// No secret is stored anywhere.
	keys, _ := db.Keys(ctx, "")
	for _, k := range keys {
		var raw any
		db.Get(ctx, k, &raw)
		if strings.Contains(k, "adm-Secret-1") {
			t.Fatalf("secret in key %q", k)
		}
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
	// Ad-hoc connectors keep their detection by server and administrator.
	adhoc := &Config{Plugin: "mem", Settings: map[string]any{"host": "x"}, Auth: Auth{AdminUser: "admin", AdminSecret: SecretRef{Env: "ADM_PW"}}}
	if _, err := reg.Test(ctx, mem, adhoc, "alice", ""); err != nil {
		t.Fatal(err)
	}
	again := &Config{Plugin: "mem", Settings: map[string]any{"host": "x"}, Auth: Auth{AdminUser: "admin", AdminSecret: SecretRef{Env: "ADM_PW"}}}
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
