package connectortest

import (
	"bytes"
	"log/slog"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/host"
)

// BuildPlugin builds the plugin main of the current directory (where a
// plugin's package tests run) as tern-connector-<id> in a temporary
// directory, and returns its path and what its "describe" command
// printed.
func BuildPlugin(t testing.TB, id string) (bin string, describe []byte) {
	t.Helper()
	bin = filepath.Join(t.TempDir(), "tern-connector-"+id)
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "describe").Output()
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	return bin, out
}

// StartPlugin starts the plugin binary bin through the host, logging at
// trace level into the returned Log (so a test can check that no secret
// reaches it); the plugin is killed when the test ends.
func StartPlugin(t testing.TB, bin string) (*host.Plugin, *Log) {
	t.Helper()
	logs := &Log{}
	p, err := host.Start(bin, host.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: connector.LevelTrace}))), host.WithLogLevel(connector.LevelTrace))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p, logs
}

// Log collects a plugin's log lines; it is safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns what was logged so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
