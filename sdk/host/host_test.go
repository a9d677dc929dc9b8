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
	"sync"
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

func TestTraceDataLevelSurvives(t *testing.T) {
	// The plugin logs at every level; the host's logger must receive each
	// line at its own level, trace data included.
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte(`package main
import ("context"; "github.com/ternmail/tern/sdk/connector"; "github.com/ternmail/tern/sdk/memconnector"; "github.com/ternmail/tern/sdk/serve")
type c struct{ *memconnector.Connector }
func (x c) Describe(ctx context.Context) (*connector.Description, error) {
	l := serve.Logger()
	l.Log(ctx, connector.LevelTraceData, "data line")
	l.Log(ctx, connector.LevelTrace, "trace line")
	l.Debug("debug line")
	return x.Connector.Describe(ctx)
}
func main() { serve.Run(c{memconnector.New(nil)}) }
`), 0o644)
	bin := filepath.Join(dir, "tern-connector-mem")
	cmd := exec.Command("go", "build", "-o", bin, src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		level slog.Level
		want  map[string]slog.Level
		not   []string
	}{
		{connector.LevelTraceData, map[string]slog.Level{"data line": connector.LevelTraceData, "trace line": connector.LevelTrace, "debug line": slog.LevelDebug}, nil},
		{connector.LevelTrace, map[string]slog.Level{"trace line": connector.LevelTrace}, []string{"data line"}},
	} {
		rec := &recorder{}
		p, err := host.Start(bin, host.WithLogLevel(tc.level), host.WithLogger(slog.New(rec)))
		if err != nil {
			t.Fatal(err)
		}
		p.Connector().Describe(context.Background())
		p.Kill()
		got := rec.levels()
		for msg, lvl := range tc.want {
			if l, ok := got[msg]; !ok || l != lvl {
				t.Errorf("at %v: %q arrived at %v (present %v), want %v", tc.level, msg, l, ok, lvl)
			}
		}
		for _, msg := range tc.not {
			if _, ok := got[msg]; ok {
				t.Errorf("at %v: %q arrived", tc.level, msg)
			}
		}
	}
}

type recorder struct {
	mu   sync.Mutex
	recs map[string]slog.Level
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recs == nil {
		r.recs = map[string]slog.Level{}
	}
	r.recs[rec.Message] = rec.Level
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }
func (r *recorder) levels() map[string]slog.Level {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recs
}
