package main_test

// Credentials in the secrets layer, through the tern binary: a migration
// with every credential in a real Vault (AppRole), Vault sealed in the
// middle of a migration and unsealed again, the leak search (no password
// in the state directory, the logs, the report or any process's
// arguments), tern status, tern secrets migrate --to vault, and a daemon
// that refuses to start with an unusable backend.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
)

// vaultAppRole makes an AppRole confined to prefix and returns the TOML of
// a [secrets] section that uses it.
func vaultAppRole(t *testing.T, v testserver.VaultInfo, prefix string) string {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: v.Addr})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(v.RootToken)
	name := strings.ReplaceAll(prefix, "/", "-")
	policy := fmt.Sprintf(`path "secret/data/%[1]s/*" { capabilities = ["create","read","update","delete","list"] }
path "secret/metadata/%[1]s/*" { capabilities = ["read","list","delete"] }
path "secret/metadata/%[1]s" { capabilities = ["list"] }`, prefix)
	if err := c.Sys().PutPolicy(name, policy); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("auth/approle/role/"+name, map[string]any{"token_policies": name, "token_ttl": "1h"}); err != nil {
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
	dir := t.TempDir()
	roleFile, secretFile := filepath.Join(dir, "role_id"), filepath.Join(dir, "secret_id")
	os.WriteFile(roleFile, []byte(r.Data["role_id"].(string)), 0o600)
	os.WriteFile(secretFile, []byte(s.Data["secret_id"].(string)), 0o600)
	return fmt.Sprintf("[secrets]\nbackend = \"vault\"\n[secrets.vault]\naddress = %q\nprefix = %q\nrole_id_file = %q\nsecret_id_file = %q\n",
		v.Addr, prefix, roleFile, secretFile)
}

// vaultPaths lists what Vault holds under prefix (as root).
func vaultPaths(t *testing.T, v testserver.VaultInfo, prefix string) []string {
	c, _ := api.NewClient(&api.Config{Address: v.Addr})
	c.SetToken(v.RootToken)
	var out []string
	var walk func(string)
	walk = func(d string) {
		s, err := c.Logical().List("secret/metadata/" + prefix + "/" + d)
		if err != nil || s == nil {
			return
		}
		for _, k := range s.Data["keys"].([]any) {
			if name := k.(string); strings.HasSuffix(name, "/") {
				walk(d + name)
			} else {
				out = append(out, d+name)
			}
		}
	}
	walk("")
	return out
}

// watchArgs samples the command lines of pid and its children until stop
// closes, and returns every distinct one.
func watchArgs(pid int, stop <-chan struct{}) func() []string {
	var mu sync.Mutex
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for _, p := range append([]int{pid}, childPids(pid)...) {
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); err == nil && len(b) > 0 {
					mu.Lock()
					seen[string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))] = true
					mu.Unlock()
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() []string {
		<-done
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for k := range seen {
			out = append(out, k)
		}
		return out
	}
}

// leakSearch fails the test if any secret appears in any file under dir
// or in any of the texts.
func leakSearch(t *testing.T, secrets []string, dir string, texts map[string]string) {
	t.Helper()
	files := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("read %s: %v", p, err)
			return nil
		}
		files++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("secret %q found in %s", s[:6]+"…", p)
			}
		}
		return nil
	})
	if files == 0 {
		t.Fatalf("no files under %s: the search proved nothing", dir)
	}
	for name, text := range texts {
		if text == "" {
			t.Fatalf("%s is empty: the search proved nothing", name)
		}
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("secret %q found in %s", s[:6]+"…", name)
			}
		}
	}
	t.Logf("searched %d files and %d outputs for %d secrets", files, len(texts), len(secrets))
}

// runWatched runs a tern command, capturing its output and the command
// lines of its process tree.
func runWatched(t *testing.T, cmd *exec.Cmd) (stdout, stderr string, args []string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	collect := watchArgs(cmd.Process.Pid, stop)
	err := cmd.Wait()
	close(stop)
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), collect(), code
}

// TestLeakSearch migrates with known passwords in every credential path
// (administrator, magic and per-user; source and target), at the most
// verbose log level, with the embedded backend and with Vault, then
// searches everything Tern wrote or showed for them.
func TestLeakSearch(t *testing.T) {
	for _, backend := range []string{"embedded", "vault"} {
		t.Run(backend, func(t *testing.T) {
			testserver.Ensure(t)
			work := t.TempDir()  // everything Tern writes: the state directory, the report
			input := t.TempDir() // what the administrator gives it (searched, of course, by nobody)
			state := filepath.Join(work, "state")
			// Per-user passwords on the master Dovecot, from the user list.
			a, apw := seedMasterUser(t, "leak-a")
			b, bpw := seedMasterUser(t, "leak-b")
			da, db := testserver.User(t, "leak-da"), testserver.User(t, "leak-db")
			csv := filepath.Join(input, "users.csv")
			os.WriteFile(csv, []byte(fmt.Sprintf("source_user,target_user,source_password\n%s,%s,%s\n%s,%s,%s\n", a, da, apw, b, db, bpw)), 0o600)
			secretsTOML := ""
			if backend == "vault" {
				secretsTOML = vaultAppRole(t, testserver.Vault(t), "tern-leak-"+strconv.FormatInt(time.Now().UnixNano(), 36))
			}
			cfg := filepath.Join(input, "migrate.toml")
			os.WriteFile(cfg, []byte(secretsTOML), 0o600)
			report := filepath.Join(work, "report.json")
			m := testserver.DovecotMaster
			cmd := exec.Command(filepath.Join(binDir, "tern"), "migrate", "--config", cfg, "--state", state, "--plugins", binDir,
				"--json", "--report", report, "--log-level", "tracedata", "--progress", "100ms", "--users", csv,
				"--source", "imap", "--source-host", m.Host, "--source-port", strconv.Itoa(m.Port), "--source-tls", "starttls", "--source-ca-file", testserver.CAFile(),
				"--target", "imap", "--target-host", "127.0.0.1", "--target-port", strconv.Itoa(testserver.DovecotDst.Port), "--target-tls", "starttls", "--target-ca-file", testserver.CAFile())
			// The target's magic password comes from the environment.
			cmd.Env = append(os.Environ(), "TERN_TARGET_ADMIN_PASSWORD="+testserver.Password())
			stdout, stderr, args, code := runWatched(t, cmd)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			requireSameFrom(t, m, a, da)
			requireSameFrom(t, m, b, db)
			rep, _ := os.ReadFile(report)
			texts := map[string]string{"stdout": stdout, "stderr (all logs, plugins' included, at tracedata)": stderr, "report": string(rep),
				"process arguments": strings.Join(args, "\n")}
			// A second run, of the administrator mode, through a stored
			// connector and the status and list commands.
			env := append(os.Environ(), "ADMIN_PW="+testserver.MasterPassword())
			run := func(args ...string) string {
				args = append(args, "--state", state)
				if args[0] == "connectors" {
					args = append(args, "--plugins", binDir)
				}
				c := exec.Command(filepath.Join(binDir, "tern"), args...)
				c.Env = env
				out, err := c.CombinedOutput()
				if err != nil {
					t.Fatalf("tern %v: %v\n%s", args, err, out)
				}
				return string(out)
			}
			texts["connectors add"] = run("connectors", "add", "master", "--config", cfg, "--plugin", "imap", "--host", m.Host, "--port", strconv.Itoa(m.Port), "--tls", "starttls",
				"--ca-file", testserver.CAFile(), "--admin-user", m.MasterUser, "--admin-password-env", "ADMIN_PW", "--log-level", "trace")
			texts["connectors test"] = run("connectors", "test", "master", "--config", cfg, "--sample-user", a, "--log-level", "trace")
			texts["secrets list"] = run("secrets", "list", "--config", cfg)
			texts["status"] = run("status", "--config", cfg, "--json")
			leakSearch(t, []string{apw, bpw, testserver.MasterPassword()}, work, texts)
		})
	}
}

// TestEveryCredentialInVault migrates with every credential in Vault and
// checks that Vault holds them, per connector and per mailbox.
func TestEveryCredentialInVault(t *testing.T) {
	testserver.Ensure(t)
	v := testserver.Vault(t)
	prefix := "tern-all-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	work := t.TempDir()
	cfg := filepath.Join(work, "migrate.toml")
	os.WriteFile(cfg, []byte(vaultAppRole(t, v, prefix)), 0o600)
	a, apw := seedMasterUser(t, "va")
	da := testserver.User(t, "va-d")
	csv := filepath.Join(work, "users.csv")
	os.WriteFile(csv, []byte(fmt.Sprintf("source_user,target_user,source_password\n%s,%s,%s\n", a, da, apw)), 0o600)
	h := masterHarness(t)
	h.env = []string{"TERN_TARGET_ADMIN_PASSWORD=" + testserver.Password()}
	r := h.migrate("--config", cfg, "--users", csv)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	requireSameFrom(t, testserver.DovecotMaster, a, da)
	paths := vaultPaths(t, v, prefix)
	joined := strings.Join(paths, "\n")
	if !strings.Contains(joined, "mailboxes/") || !strings.Contains(joined, "/source") || !strings.Contains(joined, "connectors/adhoc-") || !strings.Contains(joined, "/admin") {
		t.Fatalf("Vault holds %v; want the mailbox's source password and the target's magic password", paths)
	}
	// Nothing of it in the state directory's secrets file: the embedded
	// store was not used.
	if _, err := os.Stat(filepath.Join(h.state, "secrets.json")); err == nil {
		t.Fatal("the embedded store was created although the backend is Vault")
	}
}

// TestVaultSealedMidMigration seals Vault while a batch of mailboxes is
// being migrated: the run pauses with a clear status, and when Vault is
// unsealed it carries on and finishes without loss or duplicate.
func TestVaultSealedMidMigration(t *testing.T) {
	testserver.Ensure(t)
	v := testserver.NewVault(t)
	work := t.TempDir()
	cfg := filepath.Join(work, "migrate.toml")
	os.WriteFile(cfg, []byte(vaultAppRole(t, v, "tern-seal")), 0o600)
	var lines, pairs []string
	for i := range 5 {
		s, d := testserver.User(t, fmt.Sprintf("seal%d", i)), testserver.User(t, fmt.Sprintf("seal%d-d", i))
		testserver.Seed(t, testserver.DovecotSrc, s, "INBOX", corpus.Bench(1, 150, int64(i))[0].Folder("INBOX").Messages)
		pairs = append(pairs, s, d)
		lines = append(lines, s+","+d)
	}
	csv := filepath.Join(work, "users.csv")
	os.WriteFile(csv, []byte("source_user,target_user\n"+strings.Join(lines, "\n")+"\n"), 0o600)
	h := newHarness(t)
	cmd := h.command("--config", cfg, "--users", csv, "--concurrency", "1")
	var out bytes.Buffer
	cmd.Stdout = &out
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	sealed, paused := make(chan struct{}), make(chan struct{})
	var once, oncePaused sync.Once
	var stderr strings.Builder
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			stderr.WriteString(line + "\n")
			if strings.Contains(line, "mailboxes 1/5") {
				once.Do(func() { testserver.SealVault(t, v); close(sealed) })
			}
			if strings.Contains(line, "PAUSED") && strings.Contains(line, "sealed") {
				oncePaused.Do(func() { close(paused) })
			}
		}
	}()
	select {
	case <-paused:
	case err := <-done:
		t.Fatalf("tern finished without pausing: %v\n%s\n%s", err, out.String(), stderr.String())
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("no pause seen\n%s", stderr.String())
	}
	// Paused for a while: nothing ends.
	select {
	case err := <-done:
		t.Fatalf("tern ended while Vault was sealed: %v\n%s", err, out.String())
	case <-time.After(3 * time.Second):
	}
	testserver.UnsealVault(t, v)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after unseal: %v\n%s\n%s", err, out.String(), stderr.String())
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("tern did not finish after Vault was unsealed")
	}
	for i := 0; i < len(pairs); i += 2 {
		requireSame(t, pairs[i], pairs[i+1])
	}
}

func TestStatusAndSecretsMigrate(t *testing.T) {
	v := testserver.Vault(t)
	work := t.TempDir()
	state := filepath.Join(work, "state")
	prefix := "tern-mig-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	vaultTOML := vaultAppRole(t, v, prefix)
	embedded := filepath.Join(work, "embedded.toml")
	os.WriteFile(embedded, []byte(fmt.Sprintf("state_dir = %q\nlisten = \"127.0.0.1:1\"\n", state)), 0o600)
	tovault := filepath.Join(work, "tovault.toml")
	os.WriteFile(tovault, []byte(fmt.Sprintf("state_dir = %q\nlisten = \"127.0.0.1:1\"\n%s", state,
		strings.Replace(vaultTOML, "backend = \"vault\"", "backend = \"embedded\"", 1))), 0o600)
	usevault := filepath.Join(work, "usevault.toml")
	os.WriteFile(usevault, []byte(fmt.Sprintf("state_dir = %q\nlisten = \"127.0.0.1:1\"\n%s", state, vaultTOML)), 0o600)
	tern := func(args ...string) (string, int) {
		c := exec.Command(filepath.Join(binDir, "tern"), args...)
		c.Env = append(os.Environ(), "ADMIN_PW=Status-Test-Admin-Pw")
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	// A connector with its password in the embedded store …
	if out, code := tern("connectors", "add", "old", "--config", embedded, "--plugins", binDir, "--plugin", "imap", "--host", "127.0.0.1",
		"--admin-user", "admin", "--admin-password-env", "ADMIN_PW"); code != 0 {
		t.Fatalf("add: %s", out)
	}
	if out, _ := tern("status", "--config", embedded); !strings.Contains(out, "Secrets:  embedded, ok") {
		t.Fatalf("status (embedded): %s", out)
	}
	// … moves to Vault …
	out, code := tern("secrets", "migrate", "--to", "vault", "--config", tovault, "--delete-embedded")
	if code != 0 || !strings.Contains(out, "1 secrets copied") {
		t.Fatalf("secrets migrate: %d %s", code, out)
	}
	if paths := vaultPaths(t, v, prefix); len(paths) != 1 || paths[0] != "connectors/old/admin" {
		t.Fatalf("Vault holds %v", paths)
	}
	// … and the status says where and how long the token lives.
	out, code = tern("status", "--config", usevault)
	if code != 0 || !strings.Contains(out, "Secrets:  vault, ok") || !strings.Contains(out, "Token:    ") || !strings.Contains(out, "left, renewable") {
		t.Fatalf("status (vault): %d %s", code, out)
	}
	t.Logf("tern status with Vault:\n%s", out)
	if out, _ := tern("secrets", "list", "--config", usevault); strings.TrimSpace(out) != "connectors/old/admin" {
		t.Fatalf("list: %s", out)
	}
	// A daemon with an unusable backend refuses to start.
	broken := filepath.Join(work, "broken.toml")
	tokenFile := filepath.Join(work, "token")
	os.WriteFile(tokenFile, []byte("hvs.not-a-real-token\n"), 0o600)
	os.WriteFile(broken, []byte(fmt.Sprintf("state_dir = %q\nlisten = \"127.0.0.1:0\"\n[secrets]\nbackend = \"vault\"\n[secrets.vault]\naddress = \"http://127.0.0.1:1\"\ntoken_file = %q\n",
		filepath.Join(work, "state2"), tokenFile)), 0o600)
	out, code = tern("serve", "--config", broken, "--plugins", binDir)
	if code == 0 || !strings.Contains(out, "refusing to start") || !strings.Contains(out, "unreachable") {
		t.Fatalf("serve with an unreachable Vault: %d %s", code, out)
	}
}
