package host

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sort"

	"github.com/hashicorp/go-hclog"

	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/serve"
)

// hclogLevel names the hclog level that lets lines at l through; hclog's
// lowest is trace, which then also carries trace-data lines.
func hclogLevel(l slog.Level) string {
	if l < slog.LevelDebug {
		return "trace"
	}
	return levelName(l)
}

// newHCLogger returns an hclog.Logger (what go-plugin wants) that forwards
// every line, the plugin's included, to a *slog.Logger at its level.
func newHCLogger(l *slog.Logger, level slog.Level) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "plugin",
		Output:     &slogWriter{log: l},
		JSONFormat: true,
		Level:      hclog.LevelFromString(hclogLevel(level)),
	})
}

type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			w.log.Debug(string(line))
			continue
		}
		msg, _ := m["@message"].(string)
		lvl, _ := m["@level"].(string)
		mod, _ := m["@module"].(string)
		level := parseLevel(lvl)
		if td, _ := m[serve.TraceDataKey].(bool); td {
			level = connector.LevelTraceData
		}
		for _, k := range []string{"@message", "@level", "@timestamp", "@module", "@caller", "timestamp", serve.TraceDataKey} {
			delete(m, k)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		args := make([]any, 0, 2*len(keys)+2)
		if mod != "" {
			args = append(args, "module", mod)
		}
		for _, k := range keys {
			args = append(args, k, m[k])
		}
		w.log.Log(context.Background(), level, msg, args...)
	}
	return len(p), nil
}

func parseLevel(s string) slog.Level {
	switch s {
	case "trace":
		return connector.LevelTrace
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
