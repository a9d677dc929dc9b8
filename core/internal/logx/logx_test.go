package logx

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ternmail/tern/sdk/connector"
)

func TestRedactAndLevels(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, connector.LevelTrace, false)
	Redact("Hunter2-Very-Secret")
	log.Log(nil, connector.LevelTrace, "C: LOGIN alice Hunter2-Very-Secret", "err", errors.New("server said Hunter2-Very-Secret"), "nested", slog.GroupValue(slog.String("pw", "Hunter2-Very-Secret")))
	log.With("arg", "Hunter2-Very-Secret").Info("with")
	log.Log(nil, connector.LevelTraceData, "not shown")
	out := buf.String()
	if strings.Contains(out, "Hunter2") {
		t.Fatalf("secret logged:\n%s", out)
	}
	if !strings.Contains(out, "level=TRACE") || !strings.Contains(out, connector.Redacted) {
		t.Fatalf("unexpected output:\n%s", out)
	}
	if strings.Contains(out, "not shown") {
		t.Fatalf("tracedata shown at trace level")
	}
	for _, s := range []string{"trace", "tracedata", "debug", "info", "warn", "error", ""} {
		if _, err := ParseLevel(s); err != nil {
			t.Errorf("ParseLevel(%q): %v", s, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Errorf("ParseLevel accepted nonsense")
	}
}
