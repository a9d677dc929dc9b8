package main

// End to end: real Dovecot → tern migrate (the tern binary, the IMAP and
// Gmail plugins as processes) → the Gmail emulator. The emulator's stored
// bytes, labels and UNREAD/STARRED are compared with an independent IMAP
// snapshot of the source, message by message.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/gmail/gmailconn"
	"github.com/ternmail/tern/plugins/gmail/gmailtest"
	"github.com/ternmail/tern/sdk/connector"
)

var (
	e2eOnce sync.Once
	e2eBin  string
	e2eErr  error
)

// e2eBinaries builds tern and the imap and gmail plugins once.
func e2eBinaries(t *testing.T) string {
	t.Helper()
	e2eOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tern-gmail-e2e")
		if err != nil {
			e2eErr = err
			return
		}
		for pkg, out := range map[string]string{"./core/cmd/tern": "tern", "./plugins/imap": "tern-connector-imap", "./plugins/gmail": "tern-connector-gmail"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
			cmd.Dir = testserver.RepoRoot()
			if b, err := cmd.CombinedOutput(); err != nil {
				e2eErr = fmt.Errorf("build %s: %v\n%s", pkg, err, b)
				return
			}
		}
		e2eBin = dir
	})
	if e2eErr != nil {
		t.Fatal(e2eErr)
	}
	return e2eBin
}

// gmailRun is a tern migrate from Dovecot src into the emulator.
type gmailRun struct {
	t     *testing.T
	bin   string
	state string
	srv   *gmailtest.Server
	key   []byte
	set   []string // extra --target-set key=value
	extra []string // more tern migrate arguments
}

func newGmailRun(t *testing.T, opts ...gmailtest.Option) *gmailRun {
	testserver.Ensure(t)
	r := &gmailRun{t: t, bin: e2eBinaries(t), state: t.TempDir(), srv: gmailtest.New(t, opts...)}
	r.key = r.srv.AddServiceAccount(gmailtest.ServiceAccountConfig{}).KeyJSON()
	return r
}

func (r *gmailRun) command(src, dst string) *exec.Cmd {
	args := []string{"migrate", "--state", r.state, "--plugins", r.bin, "--json", "--progress", "200ms",
		"--source", "imap", "--source-host", "127.0.0.1", "--source-port", strconv.Itoa(testserver.DovecotSrc.Port),
		"--source-tls", "starttls", "--source-ca-file", testserver.CAFile(),
		"--target", "gmail", "--target-set", "endpoint=" + r.srv.Endpoint(),
		"--user", src, "--target-user", dst}
	for _, s := range r.set {
		args = append(args, "--target-set", s)
	}
	args = append(args, r.extra...)
	cmd := exec.Command(filepath.Join(r.bin, "tern"), args...)
	cmd.Env = append(os.Environ(), "TERN_SOURCE_PASSWORD="+testserver.Password(), "TERN_TARGET_ADMIN_PASSWORD="+string(r.key))
	return cmd
}

func (r *gmailRun) migrate(src, dst string) string {
	r.t.Helper()
	out, err := r.command(src, dst).CombinedOutput()
	if err != nil {
		r.t.Fatalf("tern migrate: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("PRIVATE KEY")) {
		r.t.Fatal("the service account key is in tern's output")
	}
	return string(out)
}

// requireExact checks that the emulator holds exactly the source's
// messages: for every (content, label) pair as many messages as the
// source folder has, byte for byte, with UNREAD and STARRED from \Seen
// and \Flagged.
func requireExact(t *testing.T, srv *gmailtest.Server, src, dst string) {
	t.Helper()
	snap := testserver.Snapshot(t, testserver.DovecotSrc, src)
	defaults := gmailconn.DefaultSettings()
	want := map[string]int{}
	state := map[string]string{} // sha256 → "unread starred" expected
	for _, f := range snap {
		use := ""
		for _, a := range f.Attrs {
			switch a {
			case `\Sent`, `\Drafts`, `\Junk`, `\Trash`:
				use = a
			}
		}
		name, system := gmailconn.LabelName(f.Name, use, defaults)
		label := system
		if label == "" {
			label = name
		}
		for _, m := range f.Messages {
			want[m.SHA256+" "+label]++
			state[m.SHA256] = fmt.Sprintf("unread=%v starred=%v", !slices.Contains(m.Flags, connector.FlagSeen), slices.Contains(m.Flags, connector.FlagFlagged))
		}
	}
	names := map[string]string{}
	for _, l := range srv.Labels(dst) {
		names[l.ID] = l.Name
		if l.Type == "system" {
			names[l.ID] = l.ID
		}
	}
	got := map[string]int{}
	for _, m := range srv.Messages(dst) {
		sum := sha256.Sum256(srv.RawMessage(dst, m.ID))
		h := hex.EncodeToString(sum[:])
		unread, starred := slices.Contains(m.LabelIDs, "UNREAD"), slices.Contains(m.LabelIDs, "STARRED")
		if s, ok := state[h]; ok && s != fmt.Sprintf("unread=%v starred=%v", unread, starred) {
			t.Errorf("message %s (%s…): %s in Gmail, want %s", m.ID, h[:12], fmt.Sprintf("unread=%v starred=%v", unread, starred), s)
		}
		for _, id := range m.LabelIDs {
			if id == "UNREAD" || id == "STARRED" {
				continue
			}
			got[h+" "+names[id]]++
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s…: %d in Gmail, %d in the source", k[:12]+k[64:], got[k], n)
		}
	}
	for k, n := range got {
		if want[k] == 0 {
			t.Errorf("%s…: %d in Gmail that the source does not have", k[:12]+k[64:], n)
		}
	}
	if len(want) == 0 {
		t.Fatal("empty source")
	}
	t.Logf("%d (content, label) pairs checked in %d Gmail messages", len(want), len(srv.Messages(dst)))
}

// The hard corpus, from real Dovecot into Gmail, exactly once: a second
// run copies nothing.
func TestGmailEndToEnd(t *testing.T) {
	r := newGmailRun(t)
	src := testserver.User(t, "gmail-hard")
	dst := src + "@example.com"
	r.srv.AddUser(dst)
	testserver.SeedMailbox(t, testserver.DovecotSrc, src, corpus.Hard())
	report := filepath.Join(t.TempDir(), "report.json")
	r.extra = []string{"--report", report}
	out := r.migrate(src, dst)
	requireExact(t, r.srv, src, dst)
	// What Gmail cannot keep is in the report, per message: Sent stored
	// under a label (no SENT by import).
	rep, err := os.ReadFile(report)
	if err != nil || !bytes.Contains(rep, []byte(`"kind": "note"`)) || !bytes.Contains(rep, []byte("Sent (imported)")) {
		t.Fatalf("the report has no fidelity notes (%v):\n%s", err, rep)
	}
	r.extra = nil
	imports := len(r.srv.RequestsFor("messages.import"))
	out = r.migrate(src, dst)
	if n := len(r.srv.RequestsFor("messages.import")); n != imports {
		t.Fatalf("the second run imported %d messages:\n%s", n-imports, out)
	}
	requireExact(t, r.srv, src, dst)
}

// A quota storm and a kill -9: the emulator allows 1,000 units a second
// per user and the connector is told the same ceiling; tern is killed in
// the middle and run again. Everything arrives exactly once, and the
// connector stayed at the ceiling instead of hammering it.
func TestGmailQuotaStormAndKill(t *testing.T) {
	r := newGmailRun(t, gmailtest.WithClock(gmailtest.NewScaledClock(time.Now(), 1)), gmailtest.WithUserQuota(2000, 2*time.Second))
	r.set = []string{"units_per_minute=60000"}
	src := testserver.User(t, "gmail-storm")
	dst := src + "@example.com"
	r.srv.AddUser(dst)
	msgs := corpus.Bench(1, 300, 7)[0].Folder("INBOX").Messages
	testserver.Seed(t, testserver.DovecotSrc, src, "INBOX", msgs)

	cmd := r.command(src, dst)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(r.srv.Messages(dst)) < len(msgs)/3 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no progress:\n%s", buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	killedAt := len(r.srv.Messages(dst))
	if killedAt >= len(msgs) {
		t.Fatalf("the run was over before the kill (%d messages)", killedAt)
	}
	start := time.Now()
	r.migrate(src, dst)
	took := time.Since(start)
	requireExact(t, r.srv, src, dst)

	var imports, refused int
	for _, q := range r.srv.RequestsFor("messages.import") {
		imports++
		if q.Status == 403 || q.Status == 429 {
			refused++
		}
	}
	// The rest of the mailbox at 40 messages a second takes at least
	// (300-killedAt)/40 s minus the first burst; refusals stay rare.
	if refused > imports/10 {
		t.Errorf("%d of %d imports refused by the quota: the connector does not keep to the ceiling", refused, imports)
	}
	t.Logf("killed after %d of %d messages; the re-run took %v; %d imports, %d refused by the quota", killedAt, len(msgs), took.Round(time.Millisecond), imports, refused)
}
