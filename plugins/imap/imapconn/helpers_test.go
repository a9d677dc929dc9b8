package imapconn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/sdk/connector"
)

// settingsFor returns settings reaching inst in the given TLS mode, with
// the test CA; extra entries are added or override.
func settingsFor(inst testserver.Instance, mode string, extra map[string]any) json.RawMessage {
	s := map[string]any{"host": inst.Host, "tls": mode}
	switch mode {
	case "implicit":
		s["port"] = inst.TLSPort
		s["ca_file"] = testserver.CAFile()
	case "starttls":
		s["port"] = inst.Port
		s["ca_file"] = testserver.CAFile()
	default:
		s["port"] = inst.Port
		s["allow_plaintext"] = true
	}
	for k, v := range extra {
		if v == nil {
			delete(s, k)
			continue
		}
		s[k] = v
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}

// request returns an open request for a fresh user on inst.
func request(t *testing.T, inst testserver.Instance, mode string, extra map[string]any) *connector.OpenRequest {
	t.Helper()
	testserver.Ensure(t)
	return &connector.OpenRequest{
		Settings:   settingsFor(inst, mode, extra),
		User:       testserver.User(t, "imapconn-"+inst.Name),
		Credential: connector.Credential{Mode: "password", Secret: testserver.Password()},
	}
}

// traceLog collects a connector's log, trace included, in memory; with
// TERN_IMAP_TRACE set, it also goes to stderr.
type traceLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *traceLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if os.Getenv("TERN_IMAP_TRACE") != "" {
		os.Stderr.Write(p)
	}
	return l.buf.Write(p)
}

func (l *traceLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTraceLogger(level slog.Level) (*slog.Logger, *traceLog) {
	l := &traceLog{}
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level})), l
}

// testLogger logs at debug level, or traces with TERN_IMAP_TRACE set.
func testLogger() *slog.Logger {
	if os.Getenv("TERN_IMAP_TRACE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: connector.LevelTraceData}))
	}
	return slog.New(slog.DiscardHandler)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*60*1e9)
	t.Cleanup(cancel)
	return ctx
}

func itoa(n int) string { return strconv.Itoa(n) }
