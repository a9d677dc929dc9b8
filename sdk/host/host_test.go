package host_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/host"
)

func buildPlugin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tern-connector-mem")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/plugin").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func TestStartDescribeAndStream(t *testing.T) {
	bin := buildPlugin(t)
	sum, _ := os.ReadFile(bin)
	h := sha256.Sum256(sum)
	var logs bytes.Buffer
	p, err := host.Start(bin, host.WithChecksum(h[:]), host.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if p.ProtocolVersion() != connector.ProtocolVersion || p.Pid() == 0 {
		t.Fatalf("protocol %d pid %d", p.ProtocolVersion(), p.Pid())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := p.Connector().Describe(ctx)
	if err != nil || d.ID != "mem" {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	// A 9 MiB body crosses the process boundary intact.
	body := bytes.Repeat([]byte("0123456789abcdef"), 9<<16)
	tgt, err := p.Connector().OpenTarget(ctx, &connector.OpenRequest{User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tgt.Append(ctx, "INBOX", &connector.AppendMessage{Size: int64(len(body)), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	src, err := p.Connector().OpenSource(ctx, &connector.OpenRequest{User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Fetch(ctx, "INBOX", "1")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if !bytes.Equal(got.Bytes(), body) {
		t.Fatalf("body changed on the way: %d bytes back of %d", got.Len(), len(body))
	}
	p.Kill()
	if !p.Exited() {
		t.Fatal("plugin still running after Kill")
	}
	if _, err := src.Folders(ctx); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("call to a killed plugin: %v, want ErrUnavailable", err)
	}
}

func TestChecksumMismatch(t *testing.T) {
	bin := buildPlugin(t)
	wrong := sha256.Sum256([]byte("something else"))
	_, err := host.Start(bin, host.WithChecksum(wrong[:]))
	if !errors.Is(err, host.ErrChecksum) {
		t.Fatalf("Start with a wrong checksum: %v", err)
	}
}

func TestDescribeCommandAndNoHost(t *testing.T) {
	bin := buildPlugin(t)
	out, err := exec.Command(bin, "describe").Output()
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(out, &d); err != nil || d["id"] != "mem" || d["settings_schema"] == nil {
		t.Fatalf("describe printed %s (%v)", out, err)
	}
	// Run by hand, without a host, it says what it is and fails.
	cmd := exec.Command(bin)
	cmd.Env = []string{}
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "plugin") {
		t.Fatalf("run without host: %v %s", err, b)
	}
}

func TestEnvironmentIsMinimal(t *testing.T) {
	// The host's environment may hold secrets; a plugin gets none of it.
	t.Setenv("TERN_SOURCE_PASSWORD", "do-not-leak")
	bin := filepath.Join(t.TempDir(), "envdump")
	src := filepath.Join(t.TempDir(), "main.go")
	os.WriteFile(src, []byte(`package main
import ("fmt"; "os")
func main() { fmt.Fprintln(os.Stderr, os.Environ()); os.Exit(1) }`), 0o644)
	if out, err := exec.Command("go", "build", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var logs bytes.Buffer
	_, err := host.Start(bin, host.WithLogLevel(slog.LevelDebug), host.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))), host.WithStartTimeout(5*time.Second))
	if err == nil {
		t.Fatal("a non-plugin started")
	}
	if strings.Contains(logs.String(), "do-not-leak") {
		t.Fatalf("the plugin saw the host's environment:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "PATH=") {
		t.Fatalf("the plugin's output did not reach the log (test is blind):\n%s", logs.String())
	}
}
