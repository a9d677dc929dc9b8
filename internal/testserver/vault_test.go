package testserver_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ternmail/tern/internal/testserver"
)

// vaultCall sends one request to Vault's HTTP API at base and returns the
// status and the decoded JSON answer (nil when there is none).
func vaultCall(t *testing.T, hc *http.Client, base, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+"/v1/"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if b, _ := io.ReadAll(resp.Body); len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, out
}

func tlsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// kvData digs data.data out of a KV v2 read.
func kvData(out map[string]any) map[string]any {
	d, _ := out["data"].(map[string]any)
	dd, _ := d["data"].(map[string]any)
	return dd
}

// TestVaultShared shows that Vault gives the shared server ready for Tern:
// KV version 2 at secret/ and AppRole at approle/, the same Vault over
// HTTP and over HTTPS with the test CA.
func TestVaultShared(t *testing.T) {
	t.Parallel()
	v := testserver.Vault(t)
	if v.Addr == "" || v.TLSAddr == "" || v.CAFile == "" || v.KVMount != "secret" || v.AppRoleMount != "approle" ||
		len(v.UnsealKeys) < v.UnsealThreshold || v.UnsealThreshold < 1 {
		t.Fatalf("info: %+v", v)
	}
	if again := testserver.Vault(t); again.RootToken != v.RootToken {
		t.Fatal("a second call returned another server")
	}
	if testserver.VaultSealed(t, v) {
		t.Fatal("the shared Vault is sealed")
	}

	plain, secure := http.DefaultClient, tlsClient(t, v.CAFile)
	code, mounts := vaultCall(t, plain, v.Addr, "GET", "sys/mounts", v.RootToken, nil)
	if m, _ := mounts["secret/"].(map[string]any); code != 200 || m["type"] != "kv" || fmt.Sprint(m["options"]) != "map[version:2]" {
		t.Fatalf("sys/mounts: %d %v", code, mounts["secret/"])
	}
	code, auths := vaultCall(t, plain, v.Addr, "GET", "sys/auth", v.RootToken, nil)
	if a, _ := auths["approle/"].(map[string]any); code != 200 || a["type"] != "approle" {
		t.Fatalf("sys/auth: %d %v", code, auths["approle/"])
	}

	path := "secret/data/" + testserver.User(t, "testserver-vault")
	code, _ = vaultCall(t, plain, v.Addr, "POST", path, v.RootToken, map[string]any{"data": map[string]any{"password": "s3cret"}})
	if code != 200 {
		t.Fatalf("write: %d", code)
	}
	code, out := vaultCall(t, secure, v.TLSAddr, "GET", path, v.RootToken, nil)
	if code != 200 || kvData(out)["password"] != "s3cret" {
		t.Fatalf("read over HTTPS: %d %v", code, out)
	}
	// HTTPS without the test CA is refused.
	if _, err := http.Get(v.TLSAddr + "/v1/sys/health"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("HTTPS without the CA: %v", err)
	}
}

// TestVaultSealUnseal shows SealVault and UnsealVault on a private server:
// sealed, Vault refuses reads with 503 "Vault is sealed" on both listeners;
// unsealed with the keys of the info file, it serves what it stored.
func TestVaultSealUnseal(t *testing.T) {
	t.Parallel()
	v := testserver.NewVault(t)
	if shared := testserver.Vault(t); v.Addr == shared.Addr || v.RootToken == shared.RootToken {
		t.Fatal("NewVault returned the shared server")
	}
	plain, secure := http.DefaultClient, tlsClient(t, v.CAFile)
	const path = "secret/data/tern/sealing"
	if code, _ := vaultCall(t, plain, v.Addr, "POST", path, v.RootToken, map[string]any{"data": map[string]any{"k": "v"}}); code != 200 {
		t.Fatalf("write: %d", code)
	}

	testserver.SealVault(t, v)
	if !testserver.VaultSealed(t, v) {
		t.Fatal("not sealed")
	}
	for _, c := range []struct {
		hc   *http.Client
		base string
	}{{plain, v.Addr}, {secure, v.TLSAddr}} {
		code, out := vaultCall(t, c.hc, c.base, "GET", path, v.RootToken, nil)
		errs, _ := out["errors"].([]any)
		if code != http.StatusServiceUnavailable || !slices.Contains(errs, any("Vault is sealed")) {
			t.Fatalf("read at %s while sealed: %d %v", c.base, code, out)
		}
	}

	testserver.UnsealVault(t, v)
	if testserver.VaultSealed(t, v) {
		t.Fatal("still sealed")
	}
	code, out := vaultCall(t, secure, v.TLSAddr, "GET", path, v.RootToken, nil)
	if code != 200 || kvData(out)["k"] != "v" {
		t.Fatalf("read after unseal: %d %v", code, out)
	}
}
