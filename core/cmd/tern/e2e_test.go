package main_test

// Black-box tests of the tern binary and its IMAP connector plugin against
// the real Dovecot instances of scripts/test-servers.sh: the hard corpus,
// re-runs, delta passes, a UIDVALIDITY change, kill -9 of tern in the
// middle of a migration, a crashing plugin, and the CLI's error handling.
// Every result is checked message by message by an independent IMAP client
// (internal/testserver), never by asking tern.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
)

var binDir string

// builtPlugins returns the ids of the plugins TestMain built.
func builtPlugins() []string {
	var ids []string
	matches, _ := filepath.Glob(filepath.Join(binDir, "tern-connector-*"))
	for _, m := range matches {
		ids = append(ids, strings.TrimPrefix(filepath.Base(m), "tern-connector-"))
	}
	return ids
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tern-e2e-bin")
	if err != nil {
		panic(err)
	}
	root := testserver.RepoRoot()
	builds := map[string]string{"./core/cmd/tern": "tern"}
	mains, _ := filepath.Glob(filepath.Join(root, "plugins", "*", "main.go"))
	for _, m := range mains {
		id := filepath.Base(filepath.Dir(m))
		builds["./plugins/"+id] = "tern-connector-" + id
	}
	for pkg, out := range builds {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run is one tern migrate invocation's result.
type run struct {
	code           int
	stdout, stderr string
}

type summary struct {
	Source   string   `json:"source"`
	Target   string   `json:"target"`
	Status   string   `json:"status"`
	Error    string   `json:"error"`
	Problems []string `json:"problems"`
	Totals   struct {
		Copied       int64 `json:"copied"`
		Bytes        int64 `json:"bytes"`
		Present      int64 `json:"present"`
		Reconciled   int64 `json:"reconciled"`
		Rematched    int64 `json:"rematched"`
		FlagsUpdated int64 `json:"flags_updated"`
		Skipped      int64 `json:"skipped"`
		Failed       int64 `json:"failed"`
		Excluded     int64 `json:"excluded"`
	} `json:"totals"`
}

func (r run) summaries(t *testing.T) []summary {
	t.Helper()
	var s []summary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("summary is not JSON: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	return s
}

// harness runs tern against the test servers with one state directory.
type harness struct {
	t       *testing.T
	state   string
	env     []string
	reverse bool // migrate from "dst" to "src"
	// source, if set, replaces the source instance (and its port flags).
	source *testserver.Instance
}

func newHarness(t *testing.T) *harness {
	testserver.Ensure(t)
	return &harness{t: t, state: t.TempDir(), env: []string{
		"TERN_SOURCE_PASSWORD=" + testserver.Password(), "TERN_TARGET_PASSWORD=" + testserver.Password(),
	}}
}

func (h *harness) args(extra ...string) []string {
	src, dst := testserver.DovecotSrc, testserver.DovecotDst
	if h.reverse {
		src, dst = dst, src
	}
	if h.source != nil {
		src = *h.source
	}
	a := []string{"migrate", "--state", h.state, "--plugins", binDir, "--json", "--progress", "100ms"}
	if !slices.Contains(extra, "--source-connector") {
		a = append(a, "--source", "imap", "--source-host", src.Host, "--source-port", strconv.Itoa(src.Port), "--source-tls", "starttls", "--source-ca-file", testserver.CAFile())
	}
	a = append(a, "--target", "imap", "--target-host", dst.Host, "--target-port", strconv.Itoa(dst.TLSPort), "--target-tls", "implicit", "--target-ca-file", testserver.CAFile())
	return append(a, extra...)
}

// commandArgs runs tern with exactly these arguments (plus the state and
// plugins directories), in the harness's environment.
func (h *harness) commandArgs(args ...string) *exec.Cmd {
	args = append(args, "--state", h.state, "--plugins", binDir)
	cmd := exec.Command(filepath.Join(binDir, "tern"), args...)
	cmd.Env = append(os.Environ(), h.env...)
	return cmd
}

func (h *harness) command(extra ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, "tern"), h.args(extra...)...)
	cmd.Env = append(os.Environ(), h.env...)
	return cmd
}

func (h *harness) migrate(extra ...string) run {
	h.t.Helper()
	cmd := h.command(extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatal(err)
	}
	return run{code: code, stdout: out.String(), stderr: errb.String()}
}

func (h *harness) mustMigrate(extra ...string) summary {
	h.t.Helper()
	r := h.migrate(extra...)
	if r.code != 0 {
		h.t.Fatalf("tern migrate exited %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	s := r.summaries(h.t)
	if len(s) != 1 {
		h.t.Fatalf("%d summaries", len(s))
	}
	return s[0]
}

// requireSame checks the target mailbox against the source, message by
// message: same folders, same multiset of bodies (SHA-256), same
// INTERNALDATEs and flags.
func requireSame(t *testing.T, srcUser, dstUser string) {
	t.Helper()
	src := testserver.Snapshot(t, testserver.DovecotSrc, srcUser)
	dst := testserver.Snapshot(t, testserver.DovecotDst, dstUser)
	if diff := testserver.Compare(src, dst, nil); len(diff) > 0 {
		t.Fatalf("target differs from source:\n%s", strings.Join(diff, "\n"))
	}
	if src.Count() == 0 {
		t.Fatalf("the source is empty; nothing was tested")
	}
}

func hardCount() int {
	n := 0
	for _, f := range corpus.Hard() {
		n += len(f.Messages)
	}
	return n
}

func TestMigrateHardCorpus(t *testing.T) {
	h := newHarness(t)
	srcUser, dstUser := testserver.User(t, "hard-src"), testserver.User(t, "hard-dst")
	testserver.SeedMailbox(t, testserver.DovecotSrc, srcUser, corpus.Hard())

	s := h.mustMigrate("--user", srcUser, "--target-user", dstUser)
	if s.Status != "ok" || s.Totals.Copied != int64(hardCount()) {
		t.Fatalf("first run: %+v, want %d copied", s, hardCount())
	}
	requireSame(t, srcUser, dstUser)

	// A re-run copies nothing.
	s = h.mustMigrate("--user", srcUser, "--target-user", dstUser)
	if s.Totals.Copied != 0 || s.Status != "ok" {
		t.Fatalf("re-run: %+v", s)
	}
	requireSame(t, srcUser, dstUser)

	// A delta pass copies what is new and syncs changed flags.
	testserver.Seed(t, testserver.DovecotSrc, srcUser, "INBOX", []corpus.Message{
		corpus.New("new-1", []byte("Subject: new one\r\nMessage-ID: <new1@e2e>\r\n\r\nnew\r\n"), time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)),
		corpus.New("new-2", []byte("Subject: new two\r\n\r\nno id\r\n"), time.Date(2024, 5, 2, 8, 0, 0, 0, time.UTC), `\Seen`),
	})
	c := testserver.Dial(t, testserver.DovecotSrc, srcUser)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsSet, Silent: true, Flags: []imap.Flag{imap.FlagSeen, imap.FlagFlagged, "$Important"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	s = h.mustMigrate("--user", srcUser, "--target-user", dstUser)
	if s.Totals.Copied != 2 || s.Totals.FlagsUpdated != 2 {
		t.Fatalf("delta: %+v, want 2 copied and 2 flag updates", s.Totals)
	}
	requireSame(t, srcUser, dstUser)

	// A changed UIDVALIDITY is matched by fingerprint, not copied again.
	doveadm(t, "mailbox", "update", "-u", srcUser, "--uid-validity", "4242", "INBOX")
	s = h.mustMigrate("--user", srcUser, "--target-user", dstUser)
	if s.Totals.Copied != 0 || s.Totals.Rematched == 0 {
		t.Fatalf("after UIDVALIDITY change: %+v, want nothing copied and messages rematched", s.Totals)
	}
	requireSame(t, srcUser, dstUser)
}

// The other direction: "/" on the source, "." on the target.
func TestMigrateHardCorpusReverse(t *testing.T) {
	h := newHarness(t)
	h.reverse = true
	srcUser, dstUser := testserver.User(t, "rev-src"), testserver.User(t, "rev-dst")
	testserver.SeedMailbox(t, testserver.DovecotDst, srcUser, corpus.Hard())
	s := h.mustMigrate("--user", srcUser, "--target-user", dstUser)
	if s.Status != "ok" || s.Totals.Copied != int64(hardCount()) {
		t.Fatalf("first run: %+v, want %d copied", s, hardCount())
	}
	src := testserver.Snapshot(t, testserver.DovecotDst, srcUser)
	dst := testserver.Snapshot(t, testserver.DovecotSrc, dstUser)
	if diff := testserver.Compare(src, dst, nil); len(diff) > 0 {
		t.Fatalf("target differs from source:\n%s", strings.Join(diff, "\n"))
	}
	if s := h.mustMigrate("--user", srcUser, "--target-user", dstUser); s.Totals.Copied != 0 {
		t.Fatalf("re-run copied %d", s.Totals.Copied)
	}
}

func doveadm(t *testing.T, args ...string) {
	t.Helper()
	conf := filepath.Join(testserver.Dir(), testserver.DovecotSrc.Name, "dovecot.conf")
	out, err := exec.Command("doveadm", append([]string{"-c", conf}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("doveadm %v: %v\n%s", args, err, out)
	}
}

// seedBulk gives a user a few hundred messages of realistic sizes, so a
// migration runs long enough to be interrupted.
func seedBulk(t *testing.T, user string, n int) {
	t.Helper()
	mbs := corpus.Bench(1, n, 7)
	if _, err := testserver.SeedParallel(testserver.DovecotSrc, []string{user}, mbs, 4, nil); err != nil {
		t.Fatal(err)
	}
}

var copiedRE = regexp.MustCompile(`copied (\d+)/`)

// startAndWait starts tern and returns once its progress shows at least
// min messages copied.
func startAndWait(t *testing.T, cmd *exec.Cmd, min int) (*bytes.Buffer, func() error) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout = &out
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reached := make(chan struct{})
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := copiedRE.FindStringSubmatch(sc.Text()); m != nil {
				if n, _ := strconv.Atoi(m[1]); n >= min {
					once.Do(func() { close(reached) })
				}
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	select {
	case <-reached:
	case err := <-done:
		t.Fatalf("tern exited before copying %d messages: %v\n%s", min, err, out.String())
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("tern did not copy %d messages in time", min)
	}
	return &out, func() error { return <-done }
}

func childPids(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 {
			if pp, _ := strconv.Atoi(fields[1]); pp == pid {
				out = append(out, p)
			}
		}
	}
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

func TestKill9MidMigrationThenResume(t *testing.T) {
	h := newHarness(t)
	srcUser, dstUser := testserver.User(t, "kill-src"), testserver.User(t, "kill-dst")
	testserver.SeedMailbox(t, testserver.DovecotSrc, srcUser, corpus.Hard())
	// Enough mail that the kills land well before the end: batched copies
	// run at over a thousand messages a second here.
	seedBulk(t, srcUser, 2000)

	for i, at := range []int{40, 250} {
		cmd := h.command("--user", srcUser, "--target-user", dstUser)
		_, wait := startAndWait(t, cmd, at)
		plugins := childPids(cmd.Process.Pid)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		wait()
		// The plugins die with their host.
		deadline := time.Now().Add(5 * time.Second)
		for _, p := range plugins {
			for alive(p) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if alive(p) {
				t.Errorf("kill %d: plugin process %d outlived tern", i, p)
			}
		}
	}
	// The kills really interrupted the migration.
	before := testserver.Snapshot(t, testserver.DovecotDst, dstUser).Count()
	if total := testserver.Snapshot(t, testserver.DovecotSrc, srcUser).Count(); before >= total || before < 200 {
		t.Fatalf("after the kills the target has %d of %d messages; the test did not interrupt a migration", before, total)
	}
	s := h.mustMigrate("--user", srcUser, "--target-user", dstUser)
	if s.Status != "ok" || s.Totals.Copied == 0 {
		t.Fatalf("resumed run: %+v", s)
	}
	t.Logf("resumed run: %d copied, %d found in flight and reconciled, %d already there", s.Totals.Copied, s.Totals.Reconciled, s.Totals.Present)
	requireSame(t, srcUser, dstUser)
	s = h.mustMigrate("--user", srcUser, "--target-user", dstUser)
	if s.Totals.Copied != 0 {
		t.Fatalf("run after resume copied %d", s.Totals.Copied)
	}
}

func TestPluginCrashMidMigration(t *testing.T) {
	h := newHarness(t)
	srcUser, dstUser := testserver.User(t, "crash-src"), testserver.User(t, "crash-dst")
	seedBulk(t, srcUser, 1500)
	cmd := h.command("--user", srcUser, "--target-user", dstUser)
	out, wait := startAndWait(t, cmd, 60)
	plugins := childPids(cmd.Process.Pid)
	if len(plugins) == 0 {
		t.Fatal("no plugin processes found")
	}
	for _, p := range plugins {
		syscall.Kill(p, syscall.SIGKILL)
	}
	if err := wait(); err != nil {
		t.Fatalf("tern did not survive its plugins crashing: %v\n%s", err, out.String())
	}
	var s []summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || len(s) != 1 || s[0].Status != "ok" {
		t.Fatalf("summary after plugin crash: %v %s", err, out.String())
	}
	requireSame(t, srcUser, dstUser)
}

func TestManyUsersFromCSV(t *testing.T) {
	h := newHarness(t)
	var lines []string
	pairs := map[string]string{}
	for i := range 3 {
		s, d := testserver.User(t, fmt.Sprintf("csv%d-src", i)), testserver.User(t, fmt.Sprintf("csv%d-dst", i))
		testserver.Seed(t, testserver.DovecotSrc, s, "INBOX", []corpus.Message{
			corpus.New("csv", []byte(fmt.Sprintf("Subject: user %d\r\n\r\nhello %d\r\n", i, i)), time.Date(2020, 1, i+1, 0, 0, 0, 0, time.UTC), `\Seen`),
		})
		pairs[s] = d
		lines = append(lines, s+","+d)
	}
	csv := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(csv, []byte("source_user,target_user\n"+strings.Join(lines, "\n")+"\n"), 0o600)
	r := h.migrate("--users", csv)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	sums := r.summaries(t)
	if len(sums) != 3 {
		t.Fatalf("%d summaries", len(sums))
	}
	for _, s := range sums {
		if s.Status != "ok" || s.Totals.Copied != 1 {
			t.Errorf("%s: %+v", s.Source, s)
		}
		requireSame(t, s.Source, pairs[s.Source])
	}
}

func TestCLIErrors(t *testing.T) {
	h := newHarness(t)
	src := testserver.User(t, "err-src")
	testserver.Seed(t, testserver.DovecotSrc, src, "INBOX", []corpus.Message{corpus.New("x", []byte("Subject: x\r\n\r\nx\r\n"), time.Now())})

	// A bad CSV line is reported with its number and nothing runs.
	csv := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(csv, []byte("source_user,target_user\nok,ok@example.com\nbad user,x@example.com\n"), 0o600)
	r := h.migrate("--users", csv)
	if r.code != 2 || !strings.Contains(r.stderr, "line 3") {
		t.Fatalf("bad CSV: exit %d, stderr %q", r.code, r.stderr)
	}

	// No password anywhere: a clear error before anything starts.
	h2 := &harness{t: t, state: h.state}
	r = h2.migrate("--user", src)
	if r.code != 2 || !strings.Contains(r.stderr, "TERN_SOURCE_PASSWORD") {
		t.Fatalf("no password: exit %d, stderr %q", r.code, r.stderr)
	}

	// A wrong password fails the mailbox with a clear reason and never
	// shows the password.
	const wrong = "Wrong-Pa55word-xyz"
	h3 := &harness{t: t, state: h.state, env: []string{"TERN_SOURCE_PASSWORD=" + wrong, "TERN_TARGET_PASSWORD=" + testserver.Password()}}
	r = h3.migrate("--user", src, "--log-level", "trace")
	if r.code != 1 {
		t.Fatalf("wrong password: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	s := r.summaries(t)
	if s[0].Status != "failed" || !strings.Contains(strings.ToLower(s[0].Error), "auth") {
		t.Fatalf("wrong password summary: %+v", s[0])
	}
	if strings.Contains(r.stdout+r.stderr, wrong) {
		t.Fatalf("the password appears in tern's output")
	}

	// A password given as an argument is refused.
	r = h.migrate("--user", src, "secret")
	if r.code != 2 || !strings.Contains(r.stderr, "never arguments") {
		t.Fatalf("password as argument: exit %d, stderr %q", r.code, r.stderr)
	}

	// TLS verification is on: without the test CA the target is refused.
	r = h.migrate("--user", src, "--target-ca-file", "")
	if r.code != 1 || !strings.Contains(r.stdout, "certificate") {
		t.Fatalf("untrusted certificate: exit %d\n%s", r.code, r.stdout)
	}
}

func TestServeHealth(t *testing.T) {
	cmd := exec.Command(filepath.Join(binDir, "tern"), "serve", "--listen", "127.0.0.1:0", "--state", t.TempDir(), "--plugins", binDir)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`addr=(http://[0-9.:]+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(30 * time.Second):
		t.Fatal("tern serve did not start")
	}
	resp, err := http.Get(addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
		Info   struct {
			Plugins []struct{ ID, Error string } `json:"plugins"`
		} `json:"info"`
	}
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	var ids []string
	for _, p := range h.Info.Plugins {
		if p.Error == "" {
			ids = append(ids, p.ID)
		}
	}
	if resp.StatusCode != 200 || h.Status != "ok" || h.Checks["store"] != "ok" || !slices.Contains(ids, "imap") || len(ids) != len(builtPlugins()) {
		t.Fatalf("healthz: %d %+v", resp.StatusCode, h)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tern serve did not stop cleanly on SIGTERM: %v", err)
	}
	pw.Close()
}

func TestPluginsCommand(t *testing.T) {
	// A copy of the binary elsewhere, so the default directory finds nothing.
	elsewhere := filepath.Join(t.TempDir(), "tern")
	b, _ := os.ReadFile(filepath.Join(binDir, "tern"))
	os.WriteFile(elsewhere, b, 0o755)
	out, err := exec.Command(elsewhere, "plugins", "list", "--plugins", binDir).CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^imap\s+\S+\s+\[source target\]\s+[0-9a-f]{12}\s+ok$`).Match(out) {
		t.Fatalf("plugins list: %v\n%s", err, out)
	}
	out, err = exec.Command(elsewhere, "plugins", "--plugins", binDir, "describe", "imap").Output()
	var d struct {
		ID             string          `json:"id"`
		SettingsSchema json.RawMessage `json:"settings_schema"`
		SHA256         string          `json:"sha256"`
	}
	if err != nil || json.Unmarshal(out, &d) != nil || d.ID != "imap" || len(d.SHA256) != 64 || !strings.Contains(string(d.SettingsSchema), `"host"`) {
		t.Fatalf("plugins describe: %v\n%s", err, out)
	}
}

func TestConfigFile(t *testing.T) {
	testserver.Ensure(t)
	dir := t.TempDir()
	srcUser, dstUser := testserver.User(t, "cfg-src"), testserver.User(t, "cfg-dst")
	testserver.Seed(t, testserver.DovecotSrc, srcUser, "Work/Reports", []corpus.Message{
		corpus.New("cfg", []byte("Subject: from a config file\r\n\r\nhello\r\n"), time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC), `\Seen`),
	})
	testserver.Seed(t, testserver.DovecotSrc, srcUser, "Junk", []corpus.Message{
		corpus.New("cfg", []byte("Subject: spam\r\n\r\nbuy\r\n"), time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)),
	})
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte(testserver.Password()+"\n"), 0o600)
	cfg := fmt.Sprintf(`state = %q
plugins = %q
users = %q

[source]
connector = "imap"
password_file = %q
[source.settings]
host = "127.0.0.1"
port = %d
tls = "implicit"
ca_file = %q

[target]
connector = "imap"
password_env = "MY_TARGET_PW"
[target.settings]
host = "127.0.0.1"
port = %d
tls = "starttls"
ca_file = %q

[rules]
exclude = ["Junk"]
rename = { "Work" = "Archive/Work" }
`, filepath.Join(dir, "state"), binDir, filepath.Join(dir, "users.csv"), pw,
		testserver.DovecotSrc.TLSPort, testserver.CAFile(), testserver.DovecotDst.Port, testserver.CAFile())
	os.WriteFile(filepath.Join(dir, "migrate.toml"), []byte(cfg), 0o600)
	os.WriteFile(filepath.Join(dir, "users.csv"), []byte("source_user,target_user\n"+srcUser+","+dstUser+"\n"), 0o600)
	cmd := exec.Command(filepath.Join(binDir, "tern"), "migrate", "--config", filepath.Join(dir, "migrate.toml"), "--json")
	cmd.Env = append(os.Environ(), "MY_TARGET_PW="+testserver.Password())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tern migrate --config: %v\n%s", err, out)
	}
	dst := testserver.Snapshot(t, testserver.DovecotDst, dstUser)
	if f := dst.Folder("Archive/Work/Reports"); f == nil || len(f.Messages) != 1 || dst.Folder("Junk") != nil {
		t.Fatalf("target folders after rules: %+v", dst)
	}
	// A typo in the file is an error, not silence.
	os.WriteFile(filepath.Join(dir, "bad.toml"), []byte(cfg+"\nconcurency = 3\n"), 0o600)
	out, err = exec.Command(filepath.Join(binDir, "tern"), "migrate", "--config", filepath.Join(dir, "bad.toml")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "concurency") {
		t.Fatalf("unknown key accepted: %v\n%s", err, out)
	}
}
