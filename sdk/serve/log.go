package serve

import (
	"context"

	"encoding/json"
	"github.com/ternmail/tern/sdk/connector"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// hclogHandler is a slog.Handler that writes one JSON object per record in
// the layout go-plugin's host parses from a plugin's stderr: "@level",
// "@message" and "@timestamp" (hclog's exact format), every attribute as a
// key of its own, groups joined with dots. The host re-levels the line and
// hands it to core's logger.
type hclogHandler struct {
	mu     *sync.Mutex
	w      io.Writer
	level  slog.Leveler
	attrs  []slog.Attr // with group prefixes applied
	prefix string      // current group prefix, "a.b."
}

func newHCLogHandler(w io.Writer, level slog.Leveler) *hclogHandler {
	return &hclogHandler{mu: new(sync.Mutex), w: w, level: level}
}

// TraceDataKey marks log lines at connector.LevelTraceData, which hclog's
// levels cannot express.
const TraceDataKey = "tern_tracedata"

const hclogTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

func (h *hclogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

func (h *hclogHandler) Handle(_ context.Context, r slog.Record) error {
	m := make(map[string]any, 3+len(h.attrs)+r.NumAttrs())
	for _, a := range h.attrs {
		addAttr(m, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addAttr(m, h.prefix, a)
		return true
	})
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	m["@level"] = levelName(r.Level)
	if r.Level <= connector.LevelTraceData {
		// hclog has no level below trace; the host restores it from this.
		m[TraceDataKey] = true
	}
	m["@message"] = r.Message
	m["@timestamp"] = t.Format(hclogTimeFormat)
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err = h.w.Write(b)
	return err
}

func addAttr(m map[string]any, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			addAttr(m, p, g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	key := prefix + a.Key
	if strings.HasPrefix(key, "@") {
		key = "_" + key
	}
	switch v.Kind() {
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			m[key] = err.Error()
			return
		}
		m[key] = v.Any()
	case slog.KindDuration:
		m[key] = v.Duration().String()
	case slog.KindTime:
		m[key] = v.Time().Format(time.RFC3339Nano)
	default:
		m[key] = v.Any()
	}
}

func (h *hclogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range attrs {
		if h.prefix != "" {
			a.Key = h.prefix + a.Key
		}
		h2.attrs = append(h2.attrs, a)
	}
	return &h2
}

func (h *hclogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}
