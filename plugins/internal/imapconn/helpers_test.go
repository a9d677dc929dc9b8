package imapconn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"strings"
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

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// wireRecorder is a slog.Handler that keeps the protocol trace (and every
// other record, rendered, for leak checks).
type wireRecorder struct {
	mu    sync.Mutex
	level slog.Level
	lines []wireLine
	all   bytes.Buffer
}

type wireLine struct {
	role, conn, dir, line string
}

func newWireRecorder(level slog.Level) (*wireRecorder, *slog.Logger) {
	r := &wireRecorder{level: level}
	return r, slog.New(r)
}

func (r *wireRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }

func (r *wireRecorder) Handle(_ context.Context, rec slog.Record) error {
	return r.handle(rec, nil)
}

func (r *wireRecorder) handle(rec slog.Record, pre []slog.Attr) error {
	var wl wireLine
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all.WriteString(rec.Level.String() + " " + rec.Message)
	visit := func(a slog.Attr) bool {
		v := a.Value.String()
		r.all.WriteString(" " + a.Key + "=" + v)
		switch a.Key {
		case "role":
			wl.role = v
		case "conn":
			wl.conn = v
		case "dir":
			wl.dir = v
		case "line":
			wl.line = v
		}
		return true
	}
	for _, a := range pre {
		visit(a)
	}
	rec.Attrs(visit)
	r.all.WriteString("\n")
	if rec.Message == "imap" {
		r.lines = append(r.lines, wl)
	}
	if os.Getenv("TERN_IMAP_TRACE") != "" {
		os.Stderr.WriteString(wl.conn + " " + wl.dir + ": " + wl.line + "\n")
	}
	return nil
}

func (r *wireRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &withAttrs{r: r, attrs: attrs}
}
func (r *wireRecorder) WithGroup(string) slog.Handler { return r }

type withAttrs struct {
	r     *wireRecorder
	attrs []slog.Attr
}

func (w *withAttrs) Enabled(ctx context.Context, l slog.Level) bool { return w.r.Enabled(ctx, l) }
func (w *withAttrs) Handle(_ context.Context, rec slog.Record) error {
	return w.r.handle(rec, w.attrs)
}
func (w *withAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &withAttrs{r: w.r, attrs: append(append([]slog.Attr(nil), w.attrs...), attrs...)}
}
func (w *withAttrs) WithGroup(string) slog.Handler { return w }

// commands returns the commands the client sent (tag stripped), from the
// given role's connections ("" for all), since mark.
func (r *wireRecorder) commands(role string, mark int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines[mark:] {
		if l.dir != "C" || (role != "" && l.role != role) {
			continue
		}
		if _, cmd, ok := strings.Cut(l.line, " "); ok {
			out = append(out, cmd)
		}
	}
	return out
}

// mark returns a position for commands.
func (r *wireRecorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lines)
}

func (r *wireRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all.String()
}

type listing struct {
	msgs []connector.Message
	res  *connector.ListResult
}

func list(t *testing.T, src connector.Source, folder string, since connector.Checkpoint) listing {
	t.Helper()
	var l listing
	var err error
	l.res, err = src.List(ctxFor(t), folder, &connector.ListQuery{Since: since}, func(page []connector.Message) error {
		l.msgs = append(l.msgs, page...)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", folder, err)
	}
	return l
}
