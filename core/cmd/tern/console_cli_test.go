package main_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
)

// offline runs a tern command that works on the state directory itself
// (tern connectors), while the daemon is stopped.
func (d *daemon) offline(env []string, args ...string) string {
	d.t.Helper()
	args = append(args, "--config", d.config, "--state", d.state, "--plugins", binDir)
	cmd := exec.Command(filepath.Join(binDir, "tern"), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		d.t.Fatalf("tern %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// mustCLI runs a command against the daemon and fails the test unless it
// exits with want.
func (d *daemon) mustCLI(want int, args ...string) string {
	d.t.Helper()
	out, errOut, code := d.CLI(args...)
	if code != want {
		d.t.Fatalf("tern %v: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", args, code, want, out, errOut)
	}
	return out + errOut
}

// waitBatch watches a batch with `tern batches status --watch` until it
// is in state want.
func (d *daemon) waitBatch(project, batch, want string, timeout time.Duration) string {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := d.mustCLI(0, "batches", "status", project, batch)
		if strings.Contains(out, ": "+want+", pass") {
			return out
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("batch %s not %s after %v:\n%s\ndaemon log (tail):\n%s", batch, want, timeout, out, tail(d.Log(), 40))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// seedUsers gives n fresh users mail on the source: msgs messages in
// INBOX and a few in a subfolder.
func seedUsers(t *testing.T, prefix string, n, msgs int, seed int64) []string {
	t.Helper()
	var users []string
	for i := range n {
		u := testserver.User(t, fmt.Sprintf("%s%d", prefix, i))
		mb := corpus.Bench(1, msgs, seed+int64(i))[0]
		testserver.Seed(t, testserver.DovecotSrc, u, "INBOX", mb.Folder("INBOX").Messages)
		testserver.Seed(t, testserver.DovecotSrc, u, "Projekte/2024", mb.Folder("INBOX").Messages[:5])
		users = append(users, u)
	}
	return users
}

// The console's flow from the command line, against a running daemon and
// the real Dovecot servers: connectors, a project, a CSV import with a bad
// line, a batch to done, reports, a rate-limited delta pass paused and
// resumed, and a daemon killed mid-batch that finishes after its restart
// without loss or duplicate.
func TestConsoleCLI(t *testing.T) {
	testserver.Ensure(t)
	d := startDaemon(t, "")
	// Connectors are set up on the state directory, daemon stopped.
	d.Stop()
	env := []string{"MAGIC=" + testserver.Password()}
	for name, port := range map[string]int{"old": testserver.DovecotSrc.Port, "new": testserver.DovecotDst.Port} {
		d.offline(env, "connectors", "add", name, "--plugin", "imap", "--host", "127.0.0.1", "--port", strconv.Itoa(port),
			"--tls", "starttls", "--ca-file", testserver.CAFile(), "--admin-password-env", "MAGIC")
	}
	d.Restart()
	// With the daemon running, tern connectors works through its API.
	d.offline(env, "connectors", "add", "spare", "--plugin", "imap", "--host", "127.0.0.1", "--port", strconv.Itoa(testserver.DovecotDst.Port),
		"--tls", "starttls", "--ca-file", testserver.CAFile(), "--admin-password-env", "MAGIC")
	if out := d.offline(nil, "connectors", "list"); !strings.Contains(out, "through its API") || !strings.Contains(out, "spare") || !strings.Contains(out, "old") {
		t.Fatalf("connectors list while the daemon runs:\n%s", out)
	}
	d.offline(nil, "connectors", "delete", "spare")

	d.mustCLI(0, "projects", "create", "mig", "--source", "old", "--target", "new", "--exclude", "Trash")
	if out := d.mustCLI(0, "projects", "list"); !strings.Contains(out, "mig") || !strings.Contains(out, "old") {
		t.Fatalf("projects list:\n%s", out)
	}
	users := seedUsers(t, "cli", 3, 40, 1)
	csv := filepath.Join(t.TempDir(), "users.csv")
	lines := "source_user,target_user\n"
	for _, u := range users {
		lines += u + "," + u + "\n"
	}
	lines += "broken,not@an@address\n"
	os.WriteFile(csv, []byte(lines), 0o600)

	// A dry run says what would happen and writes nothing.
	out := d.mustCLI(1, "users", "import", "mig", csv, "--dry-run")
	if !strings.Contains(out, "would import 3 new") || !strings.Contains(out, "line 5:") {
		t.Fatalf("dry run:\n%s", out)
	}
	if out := d.mustCLI(0, "users", "list", "mig"); strings.Contains(out, users[0]) {
		t.Fatalf("the dry run imported users:\n%s", out)
	}
	out = d.mustCLI(1, "users", "import", "mig", csv)
	if !strings.Contains(out, "imported 3 new") || !strings.Contains(out, "1 bad lines") {
		t.Fatalf("import:\n%s", out)
	}

	// A batch of every user, to done.
	d.mustCLI(0, "batches", "start", "mig", "--all", "--name", "first")
	out = d.waitBatch("mig", "first", "done", 90*time.Second)
	if !strings.Contains(out, "users done 3/3") {
		t.Fatalf("batch status:\n%s", out)
	}
	for _, u := range users {
		requireSameFrom(t, testserver.DovecotSrc, u, u)
	}
	// Reports: a user's, as a table and as CSV; the batch's CSV.
	if out := d.mustCLI(0, "reports", "mig", "--user", users[0]); !strings.Contains(out, users[0]) || !strings.Contains(out, "ok") {
		t.Fatalf("user report:\n%s", out)
	}
	rep := d.mustCLI(0, "reports", "mig", "--user", users[0], "--csv")
	if m := regexp.MustCompile(`(?m)^INBOX,INBOX,(\d+),(\d+),`).FindStringSubmatch(rep); m == nil || m[1] != m[2] || m[1] == "0" {
		t.Fatalf("user report CSV (want INBOX with every source message copied):\n%s", rep)
	}
	if out := d.mustCLI(0, "reports", "mig", "--batch", "first", "--csv"); strings.Count(out, "\n") < 4 || !strings.Contains(out, users[2]) {
		t.Fatalf("batch report CSV:\n%s", out)
	}

	// A delta pass, slowed down by the project's rate limit, paused and
	// resumed.
	for i, u := range users {
		testserver.Seed(t, testserver.DovecotSrc, u, "INBOX", corpus.Bench(1, 30, 100+int64(i))[0].Folder("INBOX").Messages)
	}
	d.mustCLI(0, "projects", "update", "mig", "--rate", "10", "--workers", "1")
	d.mustCLI(0, "batches", "rerun", "mig", "first")
	d.waitBatch("mig", "first", "running", 30*time.Second)
	if out := d.mustCLI(0, "batches", "pause", "mig", "first"); !strings.Contains(out, "paused") {
		t.Fatalf("pause:\n%s", out)
	}
	out = d.waitBatch("mig", "first", "paused", 10*time.Second)
	time.Sleep(time.Second)
	if again := d.mustCLI(0, "batches", "status", "mig", "first"); !strings.Contains(again, ": paused") {
		t.Fatalf("the batch did not stay paused:\n%s", again)
	}
	d.mustCLI(0, "batches", "resume", "mig", "first")
	d.waitBatch("mig", "first", "done", 90*time.Second)
	for _, u := range users {
		requireSameFrom(t, testserver.DovecotSrc, u, u)
	}

	// kill -9 of the daemon mid-batch: after the restart the batch goes
	// on by itself and finishes without loss or duplicate.
	for i, u := range users {
		testserver.Seed(t, testserver.DovecotSrc, u, "INBOX", corpus.Bench(1, 40, 200+int64(i))[0].Folder("INBOX").Messages)
	}
	d.mustCLI(0, "batches", "rerun", "mig", "first")
	d.waitBatch("mig", "first", "running", 30*time.Second)
	time.Sleep(1500 * time.Millisecond)
	d.Kill()
	d.Restart()
	out = d.waitBatch("mig", "first", "done", 120*time.Second)
	for _, u := range users {
		requireSameFrom(t, testserver.DovecotSrc, u, u)
	}

	// A delta pass over one user with nothing new copies nothing.
	d.mustCLI(0, "users", "run", "mig", users[0])

	// Prometheus metrics with the API token.
	req, _ := http.NewRequest("GET", d.Addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+d.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "tern_messages_copied_total") || !strings.Contains(string(body), `tern_passes_total{outcome="ok"}`) {
		t.Fatalf("metrics: %d\n%s", resp.StatusCode, body)
	}
	// Errors are clear: an unknown project, a batch of nobody.
	if _, errOut, code := d.CLI("batches", "start", "nope", "--all"); code == 0 || !strings.Contains(errOut, "no project") {
		t.Fatalf("unknown project: exit %d %s", code, errOut)
	}
}
