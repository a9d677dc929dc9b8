package secrets

// Tests of the Vault backend against a real Vault (v1.21 core and HTTP
// API, scripts/vaultserver): KV v2 round trips and versions, token and
// AppRole logins, token expiry and re-login, TLS with a CA file, a sealed
// Vault and its return, a denying policy.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/ternmail/tern/internal/testserver"
)

func root(t *testing.T, v testserver.VaultInfo) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: v.Addr})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(v.RootToken)
	return c
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// uniquePrefix keeps tests that share a Vault apart.
func uniquePrefix(t *testing.T) string {
	return "tern-test/" + strings.NewReplacer("/", "-").Replace(t.Name()) + fmt.Sprintf("-%d", time.Now().UnixNano())
}

// appRole creates a policy over prefix and an AppRole with it, and returns
// the files holding its role_id and secret_id.
func appRole(t *testing.T, v testserver.VaultInfo, prefix string, tokenTTL, maxTTL string) (roleFile, secretFile string) {
	t.Helper()
	c := root(t, v)
	name := strings.NewReplacer("/", "-", "_", "-").Replace(prefix)
	policy := fmt.Sprintf(`path "secret/data/%[1]s/*" { capabilities = ["create","read","update","delete","list"] }
path "secret/metadata/%[1]s/*" { capabilities = ["read","list","delete"] }
path "secret/metadata/%[1]s" { capabilities = ["list"] }`, prefix)
	if err := c.Sys().PutPolicy(name, policy); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("auth/approle/role/"+name, map[string]any{"token_policies": name, "token_ttl": tokenTTL, "token_max_ttl": maxTTL}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Logical().Read("auth/approle/role/" + name + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Logical().Write("auth/approle/role/"+name+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, r.Data["role_id"].(string)), writeFile(t, s.Data["secret_id"].(string))
}

func TestVaultKV(t *testing.T) {
	v := testserver.Vault(t)
	ctx := context.Background()
	prefix := uniquePrefix(t)
	s, err := openVault(ctx, VaultConfig{Address: v.Addr, TokenFile: writeFile(t, v.RootToken), Prefix: prefix}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const pw = "Vault-Pa55-Very-Secret"
	if err := s.Put(ctx, ConnectorAdmin("old/mail"), pw); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, MailboxSource("m1"), "user-secret-1"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, ConnectorAdmin("old/mail")); err != nil || got != pw {
		t.Fatalf("Get = %q, %v", got, err)
	}
	// Rotation writes a new version.
	s.Put(ctx, ConnectorAdmin("old/mail"), pw+"-2")
	if n, err := s.Versions(ctx, ConnectorAdmin("old/mail")); err != nil || n != 2 {
		t.Fatalf("versions %d, %v", n, err)
	}
	// It is really in Vault's KV v2, under the prefix.
	kv, err := root(t, v).KVv2("secret").Get(ctx, prefix+"/"+ConnectorAdmin("old/mail"))
	if err != nil || kv.Data["value"] != pw+"-2" || kv.VersionMetadata.Version != 2 {
		t.Fatalf("raw KV: %+v %v", kv, err)
	}
	if _, err := s.Get(ctx, ConnectorAdmin("none")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	all, err := s.List(ctx, "")
	if err != nil || len(all) != 2 || all[0] != ConnectorAdmin("old/mail") {
		t.Fatalf("List = %v, %v", all, err)
	}
	if err := s.DeletePrefix(ctx, ConnectorPrefix("old/mail")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, ConnectorAdmin("old/mail")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after DeletePrefix: %v", err)
	}
	if _, err := root(t, v).KVv2("secret").GetMetadata(ctx, prefix+"/"+ConnectorAdmin("old/mail")); err == nil {
		t.Fatal("metadata (all versions) left behind")
	}
	if got, _ := s.Get(ctx, MailboxSource("m1")); got != "user-secret-1" {
		t.Fatal("DeletePrefix removed another secret")
	}
	h := s.Health(ctx)
	if !h.OK || h.Backend != "vault" {
		t.Fatalf("health %+v", h)
	}
}

func TestVaultAppRoleAndTokenExpiry(t *testing.T) {
	v := testserver.Vault(t)
	ctx := context.Background()
	prefix := uniquePrefix(t)
	roleFile, secretFile := appRole(t, v, prefix, "3s", "4s")
	s, err := openVault(ctx, VaultConfig{Address: v.Addr, RoleIDFile: roleFile, SecretIDFile: secretFile, Prefix: prefix}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := s.client.Token()
	if h := s.Health(ctx); !h.OK || h.TokenTTL <= 0 || h.TokenTTL > 4*time.Second {
		t.Fatalf("health %+v", h)
	}
	if err := s.Put(ctx, Key("signing"), "k1"); err != nil {
		t.Fatal(err)
	}
	// Tokens live at most 4 s; for 9 s the backend keeps working: it renews,
	// then logs in again.
	deadline := time.Now().Add(9 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if got, err := s.Get(ctx, Key("signing")); err != nil || got != "k1" {
			t.Fatalf("after %v: %q, %v", time.Since(deadline.Add(-9*time.Second)), got, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if s.client.Token() == first {
		t.Fatal("the backend never logged in again although its token expired")
	}
	// The old token is really dead.
	c := root(t, v)
	c.SetToken(first)
	if _, err := c.Auth().Token().LookupSelf(); err == nil {
		t.Fatal("the first token still works; the test proved nothing")
	}
	// A request that finds the token expired logs in again by itself.
	s.client.SetToken(first)
	if got, err := s.Get(ctx, Key("signing")); err != nil || got != "k1" {
		t.Fatalf("with an expired token: %q, %v", got, err)
	}
	// The policy confines it to its prefix: a denial is not "unavailable".
	other, err := openVault(ctx, VaultConfig{Address: v.Addr, RoleIDFile: roleFile, SecretIDFile: secretFile, Prefix: prefix + "-other"}, nil)
	if err == nil {
		err = other.Put(ctx, Key("x"), "y")
		other.Close()
	}
	if err == nil || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("outside the policy: %v", err)
	}
	// A wrong secret_id is a clear error.
	if _, err := OpenVault(ctx, VaultConfig{Address: v.Addr, RoleIDFile: roleFile, SecretIDFile: writeFile(t, "nope"), Prefix: prefix}); err == nil || !strings.Contains(err.Error(), "AppRole") {
		t.Fatalf("wrong secret_id: %v", err)
	}
}

func TestVaultSealedAndBack(t *testing.T) {
	v := testserver.NewVault(t)
	ctx := context.Background()
	s, err := openVault(ctx, VaultConfig{Address: v.Addr, TokenFile: writeFile(t, v.RootToken), Prefix: "tern"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(ctx, Key("k"), "v1"); err != nil {
		t.Fatal(err)
	}
	testserver.SealVault(t, v)
	_, err = s.Get(ctx, Key("k"))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("sealed: %v", err)
	}
	if h := s.Health(ctx); h.OK || !strings.Contains(h.Detail, "sealed") {
		t.Fatalf("health while sealed: %+v", h)
	}
	// A daemon would refuse to start now.
	if _, err := OpenVault(ctx, VaultConfig{Address: v.Addr, TokenFile: writeFile(t, v.RootToken)}); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("open while sealed: %v", err)
	}
	testserver.UnsealVault(t, v)
	if got, err := s.Get(ctx, Key("k")); err != nil || got != "v1" {
		t.Fatalf("after unseal: %q, %v", got, err)
	}
}

func TestVaultTLSAndUnreachable(t *testing.T) {
	v := testserver.Vault(t)
	ctx := context.Background()
	tok := writeFile(t, v.RootToken)
	s, err := OpenVault(ctx, VaultConfig{Address: v.TLSAddr, CAFile: v.CAFile, TokenFile: tok, Prefix: uniquePrefix(t)})
	if err != nil {
		t.Fatalf("TLS with the CA file: %v", err)
	}
	s.Close()
	if _, err := OpenVault(ctx, VaultConfig{Address: v.TLSAddr, TokenFile: tok}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("TLS without the CA: %v", err)
	}
	_, err = OpenVault(ctx, VaultConfig{Address: "http://127.0.0.1:1", TokenFile: tok})
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("unreachable: %v", err)
	}
}
