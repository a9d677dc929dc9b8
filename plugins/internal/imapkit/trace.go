package imapkit

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"sync"

	"github.com/ternmail/tern/sdk/connector"
)

// maxTraceLine bounds how much of one protocol line the trace shows.
const maxTraceLine = 2048

// tracer logs a connection's protocol lines at connector.LevelTrace and
// literal contents at connector.LevelTraceData. It parses the client's
// side to keep credentials out of the log, whatever the client library
// sends: the arguments of LOGIN (quoted strings or literals alike) and
// everything of AUTHENTICATE after the mechanism name, including the
// client's answers to challenges until the server ends the command.
type tracer struct {
	log  *slog.Logger
	conn string
	data bool // literal contents are logged too

	mu        sync.Mutex
	sensitive bool   // the client's current command carries credentials
	continues bool   // the client's current command goes on after a literal
	authTag   string // tag of an AUTHENTICATE still in progress
}

// newTracer returns a tracer, or nil when the logger does not log traces.
func newTracer(log *slog.Logger, conn string) *tracer {
	if log == nil || !log.Enabled(context.Background(), connector.LevelTrace) {
		return nil
	}
	return &tracer{log: log, conn: conn, data: log.Enabled(context.Background(), connector.LevelTraceData)}
}

func (t *tracer) emit(level slog.Level, dir, msg string, text string) {
	t.log.Log(context.Background(), level, msg, "conn", t.conn, "dir", dir, "line", text)
}

func render(line []byte, size int) string {
	s := string(line)
	if size > len(line)+2 {
		s += " …(" + strconv.Itoa(size) + " bytes)"
	}
	return s
}

// clientLine logs a line the client sent. lit is the size of the literal
// announced at its end, if any.
func (t *tracer) clientLine(line []byte, size int, lit int64) {
	t.mu.Lock()
	var text string
	switch {
	case t.continues:
		// The rest of a command after a literal.
		text = render(line, size)
		if t.sensitive {
			text = connector.Redacted
		}
	case t.authTag != "":
		// An answer to an AUTHENTICATE challenge.
		text = connector.Redacted
	default:
		tag, cmd, rest := splitCommand(line)
		switch {
		case bytes.EqualFold(cmd, []byte("LOGIN")):
			t.sensitive = true
			text = string(tag) + " LOGIN " + connector.Redacted
		case bytes.EqualFold(cmd, []byte("AUTHENTICATE")):
			t.sensitive = true
			t.authTag = string(tag)
			mech, ir, _ := bytes.Cut(rest, []byte(" "))
			text = string(tag) + " AUTHENTICATE " + string(mech)
			if len(ir) > 0 {
				text += " " + connector.Redacted
			}
		default:
			t.sensitive = false
			text = render(line, size)
		}
	}
	if lit > 0 {
		t.continues = true
	} else {
		t.continues = false
		if t.authTag == "" {
			t.sensitive = false
		}
	}
	t.mu.Unlock()
	t.emit(connector.LevelTrace, "C", "imap", text)
}

// clientLiteral logs literal bytes the client sent (message bodies of
// APPEND), never those of a command carrying credentials.
func (t *tracer) clientLiteral(b []byte) {
	t.mu.Lock()
	sensitive := t.sensitive
	t.mu.Unlock()
	if sensitive || !t.data {
		return
	}
	t.emit(connector.LevelTraceData, "C", "imap literal", string(b))
}

// serverLine logs a line the server sent and notices the end of an
// AUTHENTICATE exchange.
func (t *tracer) serverLine(line []byte, size int, lit int64) {
	t.mu.Lock()
	if t.authTag != "" && bytes.HasPrefix(line, []byte(t.authTag+" ")) {
		t.authTag = ""
		t.sensitive = false
	}
	t.mu.Unlock()
	t.emit(connector.LevelTrace, "S", "imap", render(line, size))
}

// serverLiteral logs literal bytes the server sent (message contents).
func (t *tracer) serverLiteral(b []byte) {
	if t.data {
		t.emit(connector.LevelTraceData, "S", "imap literal", string(b))
	}
}

// splitCommand splits "tag SP command [SP rest]". A "UID" prefix stays
// part of the command's rest; only LOGIN and AUTHENTICATE matter here.
func splitCommand(line []byte) (tag, cmd, rest []byte) {
	tag, after, _ := bytes.Cut(line, []byte(" "))
	cmd, rest, _ = bytes.Cut(after, []byte(" "))
	return tag, cmd, rest
}
