package main

// These tests check that the server is a real Vault, through its HTTP API
// only (github.com/hashicorp/vault/api): what Tern's tests will lean on.
// Each test runs its own server (Start, about a second), so they run in
// parallel and a sealed Vault disturbs no other test; TestProgram runs
// the program itself, as scripts/vaultserver.sh does.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
)

// runMainEnv makes the test binary run the program (TestProgram).
const runMainEnv = "VAULTSERVER_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// logWriter sends Vault's log to the test's log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if (cfg.TLS || cfg.TLSAddr != "") && cfg.CAFile == "" {
		cfg.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	}
	cfg.Log = logWriter{t}
	cfg.LogLevel = hclog.Warn
	begin := time.Now()
	s, err := Start(cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Logf("vault %s up in %v at %s", s.Info.VaultVersion, time.Since(begin).Round(time.Millisecond), s.Info.Addr)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// client returns an API client for addr (the server's main address if
// empty) with token.
func client(t *testing.T, info Info, addr, token string) *api.Client {
	t.Helper()
	conf := api.DefaultConfig()
	if addr == "" {
		addr = info.Addr
	}
	conf.Address = addr
	conf.MaxRetries = 0
	if info.CACert != "" {
		if err := conf.ConfigureTLS(&api.TLSConfig{CACert: info.CACert}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func responseError(t *testing.T, err error) *api.ResponseError {
	t.Helper()
	var re *api.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want a response error from Vault, got %v", err)
	}
	return re
}

func TestKVv2(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := client(t, s.Info, "", s.Info.RootToken)
	ctx := ctx(t)

	mounts, err := c.Sys().ListMountsWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := mounts["secret/"]
	if m == nil || m.Type != "kv" || m.Options["version"] != "2" {
		t.Fatalf("secret/ is %+v, want kv version 2", m)
	}

	kv := c.KVv2("secret")
	const path = "tern/accounts/alice"
	if _, err := kv.Get(ctx, path); !errors.Is(err, api.ErrSecretNotFound) {
		t.Fatalf("get before put: %v, want not found", err)
	}
	v1, err := kv.Put(ctx, path, map[string]any{"password": "one"})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := kv.Put(ctx, path, map[string]any{"password": "two", "user": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if v1.VersionMetadata.Version != 1 || v2.VersionMetadata.Version != 2 {
		t.Fatalf("versions %d, %d; want 1, 2", v1.VersionMetadata.Version, v2.VersionMetadata.Version)
	}
	// Check-and-set: a write that names a stale version is refused.
	if _, err := kv.Put(ctx, path, map[string]any{"password": "x"}, api.WithCheckAndSet(1)); err == nil {
		t.Fatal("put with cas=1 on version 2 succeeded")
	} else if !strings.Contains(err.Error(), "check-and-set") {
		t.Fatalf("put with stale cas: %v", err)
	}
	got, err := kv.Get(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["password"] != "two" || got.Data["user"] != "alice" || got.VersionMetadata.Version != 2 {
		t.Fatalf("latest: %+v %+v", got.Data, got.VersionMetadata)
	}
	old, err := kv.GetVersion(ctx, path, 1)
	if err != nil {
		t.Fatal(err)
	}
	if old.Data["password"] != "one" {
		t.Fatalf("version 1: %+v", old.Data)
	}
	versions, err := kv.GetVersionsAsList(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != 2 || versions[0].Version != 1 || versions[1].Version != 2 {
		t.Fatalf("versions: %+v", versions)
	}
	list, err := c.Logical().ListWithContext(ctx, "secret/metadata/tern/accounts")
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := list.Data["keys"].([]any); !slices.Contains(keys, any("alice")) {
		t.Fatalf("list: %+v", list.Data)
	}

	// Soft delete of the latest version, undelete, destroy.
	if err := kv.Delete(ctx, path); err != nil {
		t.Fatal(err)
	}
	if got, err := kv.Get(ctx, path); err != nil || got.Data != nil || got.VersionMetadata.DeletionTime.IsZero() {
		t.Fatalf("after delete: %+v, %v; want no data and a deletion time", got, err)
	}
	if err := kv.Undelete(ctx, path, []int{2}); err != nil {
		t.Fatal(err)
	}
	if got, err := kv.Get(ctx, path); err != nil || got.Data["password"] != "two" {
		t.Fatalf("after undelete: %+v, %v", got, err)
	}
	if err := kv.Destroy(ctx, path, []int{1}); err != nil {
		t.Fatal(err)
	}
	if got, err := kv.GetVersion(ctx, path, 1); err != nil || got.Data != nil || !got.VersionMetadata.Destroyed {
		t.Fatalf("version 1 after destroy: %+v, %v", got, err)
	}

	// Deleting the metadata removes every version.
	if err := kv.DeleteMetadata(ctx, path); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, path); !errors.Is(err, api.ErrSecretNotFound) {
		t.Fatalf("get after delete-metadata: %v, want not found", err)
	}
	if _, err := kv.GetMetadata(ctx, path); err == nil {
		t.Fatal("metadata still there after delete-metadata")
	}
}

func TestAppRole(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	root := client(t, s.Info, "", s.Info.RootToken)
	ctx := ctx(t)

	auths, err := root.Sys().ListAuthWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := auths["approle/"]; a == nil || a.Type != "approle" {
		t.Fatalf("approle/ is %+v", a)
	}
	if _, err := root.KVv2("secret").Put(ctx, "tern/app/db", map[string]any{"password": "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.KVv2("secret").Put(ctx, "other/db", map[string]any{"password": "q"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicyWithContext(ctx, "tern-app", `
path "secret/data/tern/*" { capabilities = ["create", "read", "update"] }
`); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().WriteWithContext(ctx, "auth/approle/role/tern", map[string]any{
		"token_policies":     []string{"tern-app"},
		"token_ttl":          "1h",
		"secret_id_num_uses": 1,
	}); err != nil {
		t.Fatal(err)
	}
	r, err := root.Logical().ReadWithContext(ctx, "auth/approle/role/tern/role-id")
	if err != nil {
		t.Fatal(err)
	}
	roleID, _ := r.Data["role_id"].(string)
	sid, err := root.Logical().WriteWithContext(ctx, "auth/approle/role/tern/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	secretID, _ := sid.Data["secret_id"].(string)
	if roleID == "" || secretID == "" {
		t.Fatalf("role_id %q, secret_id %q", roleID, secretID)
	}

	anon := client(t, s.Info, "", "")
	login := func(roleID, secretID string) (*api.Secret, error) {
		return anon.Logical().WriteWithContext(ctx, "auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	}
	if _, err := login(roleID, "not-the-secret-id"); err == nil {
		t.Fatal("login with a wrong secret_id succeeded")
	} else if re := responseError(t, err); re.StatusCode != http.StatusBadRequest {
		t.Fatalf("login with a wrong secret_id: %v", err)
	}
	sec, err := login(roleID, secretID)
	if err != nil {
		t.Fatal(err)
	}
	if sec.Auth == nil || sec.Auth.ClientToken == "" || !slices.Contains(sec.Auth.Policies, "tern-app") {
		t.Fatalf("login: %+v", sec.Auth)
	}
	app := client(t, s.Info, "", sec.Auth.ClientToken)
	got, err := app.KVv2("secret").Get(ctx, "tern/app/db")
	if err != nil || got.Data["password"] != "p" {
		t.Fatalf("app reads its secret: %+v, %v", got, err)
	}
	if _, err := app.KVv2("secret").Put(ctx, "tern/app/new", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("app writes below its path: %v", err)
	}
	// The policy, not the token, decides: outside its path it is denied.
	_, err = app.KVv2("secret").Get(ctx, "other/db")
	if re := responseError(t, err); re.StatusCode != http.StatusForbidden {
		t.Fatalf("app reads outside its policy: %v, want 403", err)
	}
	// secret_id_num_uses = 1: the secret ID is spent.
	if _, err := login(roleID, secretID); err == nil {
		t.Fatal("second login with a single-use secret_id succeeded")
	}
}

func TestTokenExpires(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	root := client(t, s.Info, "", s.Info.RootToken)
	ctx := ctx(t)

	created := time.Now()
	sec, err := root.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{
		Policies: []string{"default"},
		TTL:      "2s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Auth.LeaseDuration != 2 {
		t.Fatalf("lease duration %d, want 2", sec.Auth.LeaseDuration)
	}
	tok := client(t, s.Info, "", sec.Auth.ClientToken)
	if _, err := tok.Auth().Token().LookupSelfWithContext(ctx); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	for {
		_, err := tok.Auth().Token().LookupSelfWithContext(ctx)
		if err != nil {
			if re := responseError(t, err); re.StatusCode != http.StatusForbidden {
				t.Fatalf("expired token: %v, want 403", err)
			}
			age := time.Since(created)
			if age < 1500*time.Millisecond {
				t.Fatalf("token refused after %v, before its TTL", age)
			}
			t.Logf("token refused %v after creation: %v", age.Round(10*time.Millisecond), err)
			break
		}
		if time.Since(created) > 15*time.Second {
			t.Fatal("a token with a 2 s TTL still works after 15 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The root token is unaffected.
	if _, err := root.Auth().Token().LookupSelfWithContext(ctx); err != nil {
		t.Fatal(err)
	}
}

// sealed asks sys/seal-status, which needs no token.
func sealed(t *testing.T, c *api.Client) *api.SealStatusResponse {
	t.Helper()
	st, err := c.Sys().SealStatusWithContext(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSealUnseal(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	root := client(t, s.Info, "", s.Info.RootToken)
	ctx := ctx(t)
	kv := root.KVv2("secret")
	if _, err := kv.Put(ctx, "tern/sealed", map[string]any{"v": "kept"}); err != nil {
		t.Fatal(err)
	}

	// Sealing needs a token.
	if err := client(t, s.Info, "", "").Sys().SealWithContext(ctx); err == nil {
		t.Fatal("sealed without a token")
	}
	if err := root.Sys().SealWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	if st := sealed(t, root); !st.Sealed || st.T != 3 || st.N != 5 || st.Type != "shamir" {
		t.Fatalf("after seal: %+v", st)
	}
	_, err := kv.Get(ctx, "tern/sealed")
	re := responseError(t, err)
	if re.StatusCode != http.StatusServiceUnavailable || !slices.Contains(re.Errors, "Vault is sealed") {
		t.Fatalf("read while sealed: %v (status %d, errors %q), want 503 Vault is sealed", err, re.StatusCode, re.Errors)
	}

	// A wrong key is refused; fewer than the threshold leave it sealed.
	if _, err := root.Sys().UnsealWithContext(ctx, "AAAA"); err == nil {
		t.Fatal("a bogus unseal key was accepted")
	}
	keys := s.Info.UnsealKeysB64
	for i := 0; i < s.Info.UnsealThreshold-1; i++ {
		st, err := root.Sys().UnsealWithContext(ctx, keys[len(keys)-1-i])
		if err != nil {
			t.Fatal(err)
		}
		if !st.Sealed || st.Progress != i+1 {
			t.Fatalf("after %d keys: %+v", i+1, st)
		}
	}
	st, err := root.Sys().UnsealWithContext(ctx, keys[len(keys)-s.Info.UnsealThreshold])
	if err != nil {
		t.Fatal(err)
	}
	if st.Sealed {
		t.Fatalf("still sealed after %d keys: %+v", s.Info.UnsealThreshold, st)
	}
	// The core comes up again (mounts, token store) right after unsealing.
	var got *api.KVSecret
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err = kv.Get(ctx, "tern/sealed")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || got.Data["v"] != "kept" {
		t.Fatalf("read after unseal: %+v, %v", got, err)
	}
	if _, err := kv.Put(ctx, "tern/sealed", map[string]any{"v": "new"}); err != nil {
		t.Fatalf("write after unseal: %v", err)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	s := start(t, Config{TLS: true, TLSAddr: "127.0.0.1:0"})
	if !strings.HasPrefix(s.Info.Addr, "https://") || !strings.HasPrefix(s.Info.TLSAddr, "https://") {
		t.Fatalf("addresses %q, %q", s.Info.Addr, s.Info.TLSAddr)
	}
	ctx := ctx(t)
	for _, addr := range []string{s.Info.Addr, s.Info.TLSAddr} {
		c := client(t, s.Info, addr, s.Info.RootToken)
		if _, err := c.KVv2("secret").Put(ctx, "tls", map[string]any{"via": addr}); err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		// The certificate also names localhost.
		u, _ := url.Parse(addr)
		c = client(t, s.Info, "https://localhost:"+u.Port(), s.Info.RootToken)
		if got, err := c.KVv2("secret").Get(ctx, "tls"); err != nil || got.Data["via"] != addr {
			t.Fatalf("localhost:%s: %+v, %v", u.Port(), got, err)
		}
	}

	// Without the CA, the certificate is not trusted.
	_, err := http.Get(s.Info.Addr + "/v1/sys/health")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("without the CA: %v, want an unknown-authority error", err)
	}
	// With it, through the standard library alone.
	pem, err := os.ReadFile(s.Info.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the CA file")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(s.Info.TLSAddr + "/v1/sys/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health over TLS: %s", resp.Status)
	}
	// Plain HTTP on the HTTPS port gets no API.
	resp, err = http.Get(strings.Replace(s.Info.Addr, "https://", "http://", 1) + "/v1/sys/health")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered on the HTTPS listener")
		}
	}
}

// program runs the program (this test binary, see TestMain) with args and
// returns it with its parsed ready line's first address.
func program(t *testing.T, args ...string) (*exec.Cmd, io.WriteCloser, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stderr = logWriter{t}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
				t.Errorf("more output: %q", sc.Text())
			}
		}
	}()
	select {
	case line := <-lines:
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "vaultserver:" || f[1] != "ready" {
			t.Fatalf("ready line %q", line)
		}
		return cmd, stdin, f[2]
	case <-time.After(2 * time.Minute):
		t.Fatal("no ready line in 2 minutes")
	}
	return nil, nil, ""
}

func waitExit(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30 s after being told to stop")
	}
}

func TestProgram(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	infoFile := filepath.Join(dir, "state", "info.json")
	logFile := filepath.Join(dir, "vault.log")
	cmd, _, addr := program(t, "-addr", "127.0.0.1:0", "-tls-addr", "127.0.0.1:0", "-info", infoFile, "-log", logFile, "-log-level", "info")

	b, err := os.ReadFile(infoFile)
	if err != nil {
		t.Fatal(err)
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatalf("info file: %v\n%s", err, b)
	}
	if fi, _ := os.Stat(infoFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("info file mode %v, want 0600 (it holds the root token)", fi.Mode().Perm())
	}
	if info.Addr != addr || !strings.HasPrefix(addr, "http://127.0.0.1:") || !strings.HasPrefix(info.TLSAddr, "https://127.0.0.1:") ||
		info.CACert != filepath.Join(dir, "state", "ca.pem") || info.PID != cmd.Process.Pid ||
		len(info.UnsealKeysB64) != 5 || info.UnsealThreshold != 3 || !strings.HasPrefix(info.RootToken, "hvs.") ||
		info.KVMount != "secret" || info.KVVersion != 2 || info.AppRoleMount != "approle" || info.VaultVersion == "" {
		t.Fatalf("info: %s", b)
	}
	if l, err := os.ReadFile(logFile); err != nil || !strings.Contains(string(l), "[INFO]") {
		t.Errorf("vault log at info level: %v\n%s", err, l)
	}

	// Seal, then unseal with every key of the info file over HTTPS, as
	// testserver.UnsealVault does.
	plain := client(t, info, info.Addr, info.RootToken)
	secure := client(t, info, info.TLSAddr, info.RootToken)
	ctx := ctx(t)
	if err := plain.Sys().SealWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	if st := sealed(t, secure); !st.Sealed {
		t.Fatal("not sealed on the HTTPS listener")
	}
	for _, k := range info.UnsealKeysB64 {
		st, err := secure.Sys().UnsealWithContext(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Sealed {
			break
		}
	}
	if st := sealed(t, plain); st.Sealed {
		t.Fatal("still sealed")
	}

	// SIGTERM stops it, and its ports close.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd)
	u, _ := url.Parse(addr)
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after SIGTERM", u.Host)
	}
}

func TestProgramWatchStdin(t *testing.T) {
	t.Parallel()
	cmd, stdin, _ := program(t, "-watch-stdin")
	stdin.Close()
	waitExit(t, cmd)
}

func TestProgramFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-tls"},                 // no -ca nor -info
		{"-log-level", "chatty"}, // bad level
		{"-addr", "256.0.0.1:0"}, // bad address
		{"extra"},                // an argument
	} {
		err := run(args, strings.NewReader(""), io.Discard, io.Discard, nil)
		if err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
