// Package logx sets up Tern's logging: log/slog everywhere, with two trace
// levels below debug (connector.LevelTrace for protocol lines,
// connector.LevelTraceData for message contents), and a handler that
// scrubs registered secrets from every record as a last line of defence.
//
// Secrets must not reach a log line in the first place: credentials travel
// in connector.Credential, whose every rendering is redacted, and
// connectors replace them in their wire traces. [Redact] catches what slips
// through anyway (a server that quotes a password in an error, say).
package logx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/ternmail/tern/sdk/connector"
)

// ParseLevel parses trace, tracedata, debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "tracedata":
		return connector.LevelTraceData, nil
	case "trace":
		return connector.LevelTrace, nil
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (trace, tracedata, debug, info, warn, error)", s)
}

// LevelName names a level for humans and for plugins.
func LevelName(l slog.Level) string {
	switch {
	case l <= connector.LevelTraceData:
		return "TRACEDATA"
	case l < slog.LevelDebug:
		return "TRACE"
	}
	return l.String()
}

// New returns a logger writing text (or JSON) lines to w at level.
func New(w io.Writer, level slog.Level, json bool) *slog.Logger {
	opts := &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey {
				if l, ok := a.Value.Any().(slog.Level); ok {
					a.Value = slog.StringValue(LevelName(l))
				}
			}
			return a
		},
	}
	var h slog.Handler
	if json {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(&redactHandler{next: h})
}

var (
	secretsMu sync.RWMutex
	secrets   []string
)

// Redact registers a secret that must never appear in a log line. Short
// values (under four bytes) are not registered: they would mangle
// ordinary text and protect nothing.
func Redact(secret string) {
	if len(secret) < 4 {
		return
	}
	secretsMu.Lock()
	defer secretsMu.Unlock()
	for _, s := range secrets {
		if s == secret {
			return
		}
	}
	secrets = append(secrets, secret)
}

// Scrub replaces every registered secret in s.
func Scrub(s string) string {
	secretsMu.RLock()
	defer secretsMu.RUnlock()
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, connector.Redacted)
		}
	}
	return s
}

type redactHandler struct{ next slog.Handler }

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactHandler) Handle(ctx context.Context, r slog.Record) error {
	secretsMu.RLock()
	n := len(secrets)
	secretsMu.RUnlock()
	if n == 0 {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(scrubAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func scrubAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Scrub(v.String()))
	case slog.KindGroup:
		g := v.Group()
		attrs := make([]any, len(g))
		for i, x := range g {
			attrs[i] = scrubAttr(x)
		}
		return slog.Group(a.Key, attrs...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, Scrub(err.Error()))
		}
		return slog.String(a.Key, Scrub(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = scrubAttr(a)
	}
	return &redactHandler{next: h.next.WithAttrs(out)}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{next: h.next.WithGroup(name)}
}
