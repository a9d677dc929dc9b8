package testserver

// HashiCorp Vault for the tests: the real Vault of scripts/vaultserver
// (Vault's own core and HTTP API on in-memory storage), run by
// scripts/vaultserver.sh. These helpers speak plain HTTP (net/http): Vault's
// client library is core/internal/secrets's alone (scripts/check-deps.sh),
// and a referee that shares no code with the code under test judges it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// VaultInfo describes a running Vault: initialised, unsealed, with KV
// version 2 at KVMount ("secret") and AppRole at AppRoleMount ("approle").
type VaultInfo struct {
	// Addr is the plain-HTTP URL ("http://127.0.0.1:18200" for the shared
	// server); TLSAddr the HTTPS URL of the same Vault, whose certificate
	// (for 127.0.0.1, ::1 and localhost) CAFile's CA signed.
	Addr    string `json:"addr"`
	TLSAddr string `json:"tls_addr"`
	CAFile  string `json:"ca_cert"`
	// RootToken is the initial root token.
	RootToken string `json:"root_token"`
	// UnsealKeys are all the unseal key shares, base64 as sys/unseal takes
	// them; UnsealThreshold of them unseal.
	UnsealKeys      []string `json:"unseal_keys_b64"`
	UnsealThreshold int      `json:"unseal_threshold"`
	KVMount         string   `json:"kv_mount"`
	AppRoleMount    string   `json:"approle_mount"`
	// InfoFile is the JSON file the server wrote all this to.
	InfoFile string `json:"-"`

	// shared: the server of Vault, which SealVault refuses to seal.
	shared bool
}

// VaultInfoFile is the info file of the shared server.
func VaultInfoFile() string { return filepath.Join(Dir(), "vault", "info.json") }

var (
	vaultOnce sync.Once
	vaultInfo VaultInfo
	vaultErr  error
)

// Vault returns the shared Vault, starting it with scripts/vaultserver.sh
// if needed (which builds the server first: minutes on an empty Go build
// cache), and fails the test if it cannot run. If the server is sealed it
// is unsealed first. Tests share it, in this process and in others (go
// test runs packages in parallel), so they keep to their own paths and
// names, and never seal it: a test that seals uses NewVault.
func Vault(t testing.TB) VaultInfo {
	t.Helper()
	vaultOnce.Do(func() { vaultInfo, vaultErr = startVault() })
	if vaultErr != nil {
		t.Fatalf("test Vault unavailable: %v", vaultErr)
	}
	if err := unsealVault(vaultInfo); err != nil {
		t.Fatalf("test Vault: %v", err)
	}
	return vaultInfo
}

func startVault() (VaultInfo, error) {
	cmd := exec.Command(filepath.Join(RepoRoot(), "scripts", "vaultserver.sh"), "start")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return VaultInfo{}, fmt.Errorf("scripts/vaultserver.sh start: %v\n%s", err, out)
	}
	v, err := readVaultInfo(VaultInfoFile())
	if err != nil {
		return v, err
	}
	v.shared = true
	if _, err := vaultSealStatus(v); err != nil {
		return v, fmt.Errorf("scripts/vaultserver.sh started a Vault that does not answer: %w", err)
	}
	return v, nil
}

func readVaultInfo(file string) (VaultInfo, error) {
	var v VaultInfo
	b, err := os.ReadFile(file)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%s: %w", file, err)
	}
	if v.Addr == "" || v.RootToken == "" || len(v.UnsealKeys) == 0 {
		return v, fmt.Errorf("%s: incomplete", file)
	}
	v.InfoFile = file
	return v, nil
}

// NewVault starts a Vault of the test's own on free loopback ports (an
// HTTP and an HTTPS listener, a CA of its own) and stops it when the test
// ends: for tests that seal Vault or otherwise change what other tests
// would see. It takes about half a second (plus the build on first use,
// as for Vault).
func NewVault(t testing.TB) VaultInfo {
	t.Helper()
	out, err := exec.Command(filepath.Join(RepoRoot(), "scripts", "vaultserver.sh"), "path").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%v\n%s", err, ee.Stderr)
		}
		t.Fatalf("scripts/vaultserver.sh path: %v", err)
	}
	bin := strings.TrimSpace(string(out))
	dir := t.TempDir()
	info := filepath.Join(dir, "info.json")
	// Appended to by the server's -log and its standard error alike.
	logFile, err := os.OpenFile(filepath.Join(dir, "vault.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-tls-addr", "127.0.0.1:0", "-info", info,
		"-log", logFile.Name(), "-watch-stdin")
	cmd.Stderr = logFile
	// The server stops when this pipe closes: at cleanup, or when the test
	// process dies.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.HasPrefix(line, "vaultserver: ready ")
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	stop := func() {
		stdin.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	fail := func(format string, args ...any) {
		t.Helper()
		stop()
		l, _ := os.ReadFile(logFile.Name())
		t.Fatalf("private Vault: "+format+"\nlog:\n%s", append(args, l)...)
	}
	select {
	case ok := <-ready:
		if !ok {
			fail("no ready line")
		}
	case <-time.After(2 * time.Minute):
		fail("not ready after 2 minutes")
	}
	t.Cleanup(stop)
	v, err := readVaultInfo(info)
	if err != nil {
		fail("%v", err)
	}
	return v
}

// vaultDo sends a request to v's plain-HTTP address and decodes a JSON
// answer into out (if not nil). It returns the status and Vault's errors.
func vaultDo(v VaultInfo, method, path, token string, body, out any) (int, []string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(v.Addr, "/")+"/v1/"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var e struct{ Errors []string }
	if resp.StatusCode >= 400 {
		json.Unmarshal(b, &e)
		return resp.StatusCode, e.Errors, nil
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil, nil
}

// VaultSealStatus is sys/seal-status's answer, in part.
type VaultSealStatus struct {
	Sealed      bool `json:"sealed"`
	Initialized bool `json:"initialized"`
	T           int  `json:"t"`
	N           int  `json:"n"`
	Progress    int  `json:"progress"`
}

func vaultSealStatus(v VaultInfo) (VaultSealStatus, error) {
	var st VaultSealStatus
	code, errs, err := vaultDo(v, http.MethodGet, "sys/seal-status", "", nil, &st)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("sys/seal-status: %d %q", code, errs)
	}
	return st, err
}

// VaultSealed tells whether v is sealed, failing the test if it cannot.
func VaultSealed(t testing.TB, v VaultInfo) bool {
	t.Helper()
	st, err := vaultSealStatus(v)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sealed
}

// SealVault seals v with its root token (PUT sys/seal), as an operator
// would: until UnsealVault, every request but a few sys/ ones fails with
// status 503 and the error "Vault is sealed". v must come from NewVault:
// sealing the shared server would fail other tests running at the time.
func SealVault(t testing.TB, v VaultInfo) {
	t.Helper()
	if v.shared {
		t.Fatal("SealVault: the shared Vault serves other tests at the same time; seal a private one (NewVault)")
	}
	code, errs, err := vaultDo(v, http.MethodPut, "sys/seal", v.RootToken, nil, nil)
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	if code != http.StatusNoContent && code != http.StatusOK {
		t.Fatalf("seal: status %d %q", code, errs)
	}
	if !VaultSealed(t, v) {
		t.Fatal("seal: Vault says it is not sealed")
	}
}

// UnsealVault unseals v with its unseal keys (PUT sys/unseal, one share
// at a time, as operators do) and waits until it serves requests again.
func UnsealVault(t testing.TB, v VaultInfo) {
	t.Helper()
	if err := unsealVault(v); err != nil {
		t.Fatal(err)
	}
}

func unsealVault(v VaultInfo) error {
	st, err := vaultSealStatus(v)
	if err != nil {
		return err
	}
	for _, k := range v.UnsealKeys {
		if !st.Sealed {
			break
		}
		code, errs, err := vaultDo(v, http.MethodPut, "sys/unseal", "", map[string]string{"key": k}, &st)
		if err != nil {
			return fmt.Errorf("unseal: %w", err)
		}
		if code != http.StatusOK {
			return fmt.Errorf("unseal: status %d %q", code, errs)
		}
	}
	if st.Sealed {
		return fmt.Errorf("still sealed after %d keys (threshold %d, progress %d)", len(v.UnsealKeys), st.T, st.Progress)
	}
	// sys/health answers 200 once the node is unsealed and active.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, errs, err := vaultDo(v, http.MethodGet, "sys/health", "", nil, nil)
		if err == nil && code == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("unsealed, but sys/health still says %d %q %v", code, errs, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
