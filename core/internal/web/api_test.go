package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/memconnector"
)

func newTestAPI(t *testing.T) (http.Handler, string) {
	dir := t.TempDir()
	db, err := store.Open(dir, &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := secrets.OpenEmbedded(filepath.Join(dir, "secrets.json"), filepath.Join(dir, "secrets.key"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tok, err := LoadOrCreateToken(filepath.Join(t.TempDir(), "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	mem := memconnector.New(&memconnector.Options{AdminUser: "admin", AdminPassword: "adm-Secret-7"})
	mem.AddUser("alice", "a")
	mem.AddUser("bob", "b")
	s := New(Options{DB: db, APIToken: tok, Connectors: connectors.NewRegistry(db, sec), Plugins: fakePlugins{"mem": mem}})
	return s.Handler(), tok
}

func do(t *testing.T, h http.Handler, tok, method, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestAPIConnectorsTestAndDiscover(t *testing.T) {
	h, tok := newTestAPI(t)
	if code, _ := do(t, h, "", "GET", "/api/v1/connectors", ""); code != http.StatusUnauthorized {
		t.Fatalf("without token: %d", code)
	}
	if code, _ := do(t, h, "wrong", "GET", "/api/v1/connectors", ""); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	body := `{"name":"old","plugin":"mem","settings":{"host":"mail.example"},"auth":{"admin_user":"admin","admin_method":"auto"},"admin_password":"adm-Secret-7"}`
	if code, out := do(t, h, tok, "POST", "/api/v1/connectors", body); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, out)
	}
	if code, _ := do(t, h, tok, "POST", "/api/v1/connectors", body); code != http.StatusConflict {
		t.Fatalf("create twice: %d", code)
	}
	if code, out := do(t, h, tok, "POST", "/api/v1/connectors", `{"name":"x","plugin":"nope"}`); code != http.StatusBadRequest || !strings.Contains(out, "nope") {
		t.Fatalf("unknown plugin: %d %s", code, out)
	}
	code, out := do(t, h, tok, "POST", "/api/v1/connectors/old/test", `{"sample_user":"alice"}`)
	if code != http.StatusOK {
		t.Fatalf("test: %d %s", code, out)
	}
	var d connectors.Detection
	json.Unmarshal([]byte(out), &d)
	if d.Report == nil || d.Report.Recommended != connector.ModeAdminAuthzid || !d.Report.Attempts[0].OK {
		t.Fatalf("test report: %s", out)
	}
	// The result is stored on the connector.
	_, out = do(t, h, tok, "GET", "/api/v1/connectors/old", "")
	if !strings.Contains(out, `"recommended":"admin_authzid"`) {
		t.Fatalf("stored connector: %s", out)
	}
	code, out = do(t, h, tok, "GET", "/api/v1/connectors/old/users", "")
	if code != http.StatusOK || !strings.Contains(out, `"login":"alice"`) || !strings.Contains(out, `"login":"bob"`) {
		t.Fatalf("users: %d %s", code, out)
	}
	for _, path := range []string{"/api/v1/connectors", "/api/v1/connectors/old"} {
		_, out := do(t, h, tok, "GET", path, "")
		if strings.Contains(out, "adm-Secret-7") {
			t.Fatalf("%s shows the secret: %s", path, out)
		}
	}
	if code, _ := do(t, h, tok, "GET", "/api/v1/connectors/none", ""); code != http.StatusNotFound {
		t.Fatalf("unknown connector: %d", code)
	}
	// A wrong administrator password: the test reports it, nothing leaks.
	bad := `{"name":"old2","plugin":"mem","auth":{"admin_user":"admin"},"admin_password":"wrong-Secret-9"}`
	if code, out := do(t, h, tok, "POST", "/api/v1/connectors", bad); code != http.StatusCreated || strings.Contains(out, "wrong-Secret-9") {
		t.Fatalf("create old2: %d %s", code, out)
	}
	_, out = do(t, h, tok, "POST", "/api/v1/connectors/old2/test", `{"sample_user":"alice"}`)
	if !strings.Contains(out, `"ok":false`) || strings.Contains(out, "wrong-Secret-9") {
		t.Fatalf("test with a wrong password: %s", out)
	}
	if code, _ := do(t, h, tok, "DELETE", "/api/v1/connectors/old", ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
}

func TestTokenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tok")
	a, err := LoadOrCreateToken(p)
	if err != nil || len(a) != 64 {
		t.Fatalf("%q %v", a, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode())
	}
	if b, _ := LoadOrCreateToken(p); b != a {
		t.Fatal("token changed on reload")
	}
}
