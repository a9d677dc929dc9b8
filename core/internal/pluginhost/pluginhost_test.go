package pluginhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ternmail/tern/sdk/connector"
)

var pluginBin string // built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tern-pluginhost-test")
	if err != nil {
		panic(err)
	}
	pluginBin = filepath.Join(dir, "memplugin")
	out, err := exec.Command("go", "build", "-o", pluginBin, "./testdata/memplugin").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build fixture plugin: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// pluginDir returns a directory holding the fixture as tern-connector-mem.
func pluginDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, pluginBin, filepath.Join(dir, Prefix+"mem"))
	return dir
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func newHost(t *testing.T, dir string, o *Options) *Host {
	t.Helper()
	h, err := New(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestDiscoverAndUse(t *testing.T) {
	dir := pluginDir(t)
	os.WriteFile(filepath.Join(dir, Prefix+"notes.txt"), []byte("not a plugin"), 0o644)
	h := newHost(t, dir, nil)
	infos := h.List()
	if len(infos) != 1 || infos[0].ID != "mem" || len(infos[0].SHA256) != 64 || infos[0].Error != "" {
		t.Fatalf("List = %+v", infos)
	}
	m, err := h.Connector("mem")
	if err != nil {
		t.Fatal(err)
	}
	d, err := m.Describe(ctx(t))
	if err != nil || d.ID != "mem" {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	tgt, err := m.OpenTarget(ctx(t), &connector.OpenRequest{User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("Subject: x\r\n\r\nhello\r\n")
	if _, err := tgt.Append(ctx(t), "INBOX", &connector.AppendMessage{Size: int64(len(msg)), Body: bytes.NewReader(msg)}); err != nil {
		t.Fatal(err)
	}
	src, err := m.OpenSource(ctx(t), &connector.OpenRequest{User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := src.Status(ctx(t), "INBOX")
	if err != nil || st.Messages != 1 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if _, err := h.Connector("nope"); err == nil || !strings.Contains(err.Error(), "tern-connector-nope") {
		t.Fatalf("unknown plugin: %v", err)
	}
}

func TestRestartAfterCrash(t *testing.T) {
	h := newHost(t, pluginDir(t), nil)
	m, _ := h.Connector("mem")
	src, err := m.OpenSource(ctx(t), &connector.OpenRequest{User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	pid := m.Pid()
	if pid == 0 {
		t.Fatal("no pid")
	}
	// Kill the plugin behind the host's back, as a crash would.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for m.Pid() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := src.Folders(ctx(t)); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("session on a dead plugin: %v, want ErrUnavailable", err)
	}
	src2, err := m.OpenSource(ctx(t), &connector.OpenRequest{User: "bob"})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	if _, err := src2.Folders(ctx(t)); err != nil {
		t.Fatalf("new session: %v", err)
	}
	if m.Pid() == pid || m.Pid() == 0 {
		t.Fatalf("plugin not restarted: pid %d → %d", pid, m.Pid())
	}
	// A plugin that crashes inside a call is restarted too.
	if _, err := m.OpenSource(ctx(t), &connector.OpenRequest{User: "crash"}); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("crashing open: %v", err)
	}
	if _, err := m.OpenSource(ctx(t), &connector.OpenRequest{User: "bob"}); err != nil {
		t.Fatalf("open after a crash in a call: %v", err)
	}
}

func TestRestartLimit(t *testing.T) {
	h := newHost(t, pluginDir(t), &Options{MaxRestarts: 2})
	m, _ := h.Connector("mem")
	var err error
	for range 6 {
		_, err = m.OpenSource(ctx(t), &connector.OpenRequest{User: "crash"})
	}
	if err == nil || !strings.Contains(err.Error(), "not restarting") {
		t.Fatalf("after repeated crashes: %v", err)
	}
}

func TestSwappedBinaryRefused(t *testing.T) {
	dir := pluginDir(t)
	h := newHost(t, dir, nil)
	m, _ := h.Connector("mem")
	if _, err := m.Describe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// Replace the binary while Tern runs, then make the plugin restart.
	path := filepath.Join(dir, Prefix+"mem")
	b, _ := os.ReadFile(path)
	os.Remove(path)
	os.WriteFile(path, append(b, 0), 0o755)
	syscall.Kill(m.Pid(), syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	_, err := m.OpenSource(ctx(t), &connector.OpenRequest{User: "bob"})
	if err == nil || !strings.Contains(err.Error(), "changed since it was pinned") {
		t.Fatalf("swapped binary: %v", err)
	}
}

func TestManifest(t *testing.T) {
	dir := pluginDir(t)
	sum, _ := hashFile(filepath.Join(dir, Prefix+"mem"))
	os.WriteFile(filepath.Join(dir, ManifestName), []byte(sum+"  "+Prefix+"mem\n"), 0o644)
	h := newHost(t, dir, nil)
	if inf := h.List(); len(inf) != 1 || !inf[0].Manifest || inf[0].Error != "" {
		t.Fatalf("with a matching manifest: %+v", inf)
	}
	os.WriteFile(filepath.Join(dir, ManifestName), []byte(strings.Repeat("0", 64)+"  "+Prefix+"mem\n"), 0o644)
	h2 := newHost(t, dir, nil)
	if inf := h2.List(); len(inf) != 1 || !strings.Contains(inf[0].Error, "does not match") {
		t.Fatalf("with a wrong manifest: %+v", inf)
	}
	if _, err := h2.Connector("mem"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("refused plugin usable: %v", err)
	}
}

func TestIDMismatch(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, pluginBin, filepath.Join(dir, Prefix+"other"))
	h := newHost(t, dir, nil)
	m, _ := h.Connector("other")
	if _, err := m.Describe(ctx(t)); err == nil || !strings.Contains(err.Error(), `says its id is "mem"`) {
		t.Fatalf("id mismatch: %v", err)
	}
}

// A plugin is hashed when first used, not at discovery: a command that
// needs one plugin does not hash every binary; a refused one is refused
// when used, also without List.
func TestPinnedOnFirstUse(t *testing.T) {
	dir := pluginDir(t)
	copyFile(t, filepath.Join(dir, Prefix+"mem"), filepath.Join(dir, Prefix+"other"))
	sum, _ := hashFile(filepath.Join(dir, Prefix+"mem"))
	os.WriteFile(filepath.Join(dir, ManifestName), []byte(sum+"  "+Prefix+"mem\n"+strings.Repeat("0", 64)+"  "+Prefix+"other\n"), 0o644)
	h := newHost(t, dir, nil)
	if _, err := h.Connector("mem"); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	hashed := map[string]bool{}
	for _, inf := range h.infos {
		hashed[inf.ID] = inf.SHA256 != ""
	}
	h.mu.Unlock()
	if !hashed["mem"] || hashed["other"] {
		t.Fatalf("hashed after using mem: %v", hashed)
	}
	if _, err := h.Connector("other"); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("a plugin whose hash is not the manifest's was usable: %v", err)
	}
}
