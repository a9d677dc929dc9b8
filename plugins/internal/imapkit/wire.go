package imapkit

import (
	"bytes"
	"context"
	"net"
	"sync"
	"time"
)

// wireConn is the net.Conn the go-imap client talks to. It sits above TLS,
// so it sees the plaintext protocol, and it owns the connection's
// deadlines:
//
//   - The client library's own SetDeadline calls are ignored: it arms a 30 s
//     read deadline even while a connection waits idle in the pool, which
//     would kill every pooled connection after 30 s of quiet.
//   - While an operation runs (between begin and its end func), every Read
//     and Write first pushes the deadline ioTimeout into the future: a
//     rolling inactivity timeout, so a 25 MB literal may take as long as it
//     needs as long as bytes keep flowing, in either direction (a Write
//     also moves the deadline of a Read pending meanwhile).
//   - When the operation's context ends, interrupt sets the deadline into
//     the past for good; the client's reader fails, the connection is
//     broken and the pool drops it. IMAP has no way to abandon a command
//     half-way, so a cancelled connection is never reused.
//
// It also scans the server's lines to remember the text of a BYE (which
// the client library swallows; it carries Microsoft 365's backoff hint)
// and, when tracing, feeds both directions to the tracer.
type wireConn struct {
	net.Conn // *tls.Conn or the TCP connection

	ioTimeout time.Duration

	// prefix is served before the connection's bytes: the greeting that a
	// STARTTLS upgrade done by imapkit leaves for the client library.
	prefix []byte

	mu          sync.Mutex
	busy        bool
	interrupted bool
	closed      bool
	ioErr       error
	bye         string

	server *lineScanner
	client *lineScanner // nil unless tracing
}

func newWireConn(inner net.Conn, ioTimeout time.Duration, tr *tracer) *wireConn {
	w := &wireConn{Conn: inner, ioTimeout: ioTimeout}
	max := 256
	if tr != nil {
		max = maxTraceLine
	}
	w.server = &lineScanner{maxLine: max, onLine: func(line []byte, size int, lit int64) {
		if bytes.HasPrefix(line, []byte("* BYE")) {
			w.mu.Lock()
			w.bye = string(bytes.TrimSpace(line[len("* BYE"):]))
			w.mu.Unlock()
		}
		if tr != nil {
			tr.serverLine(line, size, lit)
		}
	}}
	if tr != nil {
		w.server.onLit = tr.serverLiteral
		w.client = &lineScanner{maxLine: maxTraceLine, onLine: tr.clientLine, onLit: tr.clientLiteral}
	}
	return w
}

func (w *wireConn) Read(b []byte) (int, error) {
	if len(w.prefix) > 0 {
		n := copy(b, w.prefix)
		w.prefix = w.prefix[n:]
		return n, nil
	}
	w.mu.Lock()
	if w.ioErr != nil {
		// Failures are final: a reader that retries after a timeout (the
		// client library's decoder does) must not get a fresh deadline.
		err := w.ioErr
		w.mu.Unlock()
		return 0, err
	}
	if w.busy && w.ioTimeout > 0 {
		w.Conn.SetReadDeadline(time.Now().Add(w.ioTimeout))
	}
	w.mu.Unlock()
	n, err := w.Conn.Read(b)
	if n > 0 {
		w.server.feed(b[:n])
	}
	if err != nil {
		w.fail(err)
	}
	return n, err
}

func (w *wireConn) Write(b []byte) (int, error) {
	w.mu.Lock()
	if w.ioErr != nil {
		err := w.ioErr
		w.mu.Unlock()
		return 0, err
	}
	if w.ioTimeout > 0 {
		dl := time.Now().Add(w.ioTimeout)
		w.Conn.SetWriteDeadline(dl)
		if w.busy {
			// The server is silent while it takes a literal: bytes
			// flowing out count as activity for a pending read too (the
			// client library's reader waits for the APPEND's answer
			// while the literal is still being sent).
			w.Conn.SetReadDeadline(dl)
		}
	}
	w.mu.Unlock()
	if w.client != nil {
		w.client.feed(b)
	}
	n, err := w.Conn.Write(b)
	if err != nil {
		w.fail(err)
	}
	return n, err
}

// SetDeadline, SetReadDeadline and SetWriteDeadline ignore the client
// library's deadlines; see wireConn.
func (w *wireConn) SetDeadline(time.Time) error      { return nil }
func (w *wireConn) SetReadDeadline(time.Time) error  { return nil }
func (w *wireConn) SetWriteDeadline(time.Time) error { return nil }

// Close closes the connection; the client library calls it when it gives
// up on the connection (a protocol error, Client.Close).
func (w *wireConn) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return w.Conn.Close()
}

func (w *wireConn) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// fail records the first I/O error.
func (w *wireConn) fail(err error) {
	w.mu.Lock()
	if w.ioErr == nil {
		w.ioErr = err
	}
	w.mu.Unlock()
}

// begin marks the start of an operation bound to ctx. The returned func
// ends it.
func (w *wireConn) begin(ctx context.Context) (end func()) {
	w.mu.Lock()
	w.busy = true
	if !w.interrupted && w.ioTimeout > 0 {
		w.Conn.SetReadDeadline(time.Now().Add(w.ioTimeout))
	}
	w.mu.Unlock()
	stop := context.AfterFunc(ctx, w.interrupt)
	return func() {
		stop()
		w.mu.Lock()
		w.busy = false
		if !w.interrupted {
			w.Conn.SetReadDeadline(time.Time{})
		}
		w.mu.Unlock()
	}
}

// interrupt breaks the connection for good: every blocked or future Read
// and Write fails at once.
func (w *wireConn) interrupt() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.interrupted = true
	if w.ioErr == nil {
		w.ioErr = errInterrupted
	}
	w.Conn.SetDeadline(time.Unix(1, 0))
}

// state returns the first I/O error, whether the connection was
// interrupted, and the text of the server's last BYE.
func (w *wireConn) state() (ioErr error, interrupted bool, bye string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ioErr, w.interrupted, w.bye
}

// lineScanner splits one direction of an IMAP stream into lines and
// literals as the bytes go by, keeping at most maxLine bytes of a line.
type lineScanner struct {
	maxLine int
	onLine  func(line []byte, size int, lit int64)
	onLit   func(b []byte)

	line []byte
	size int
	tail []byte // the last bytes of the line, to spot a literal marker
	lit  int64  // literal bytes still to come
}

const tailLen = 24

func (s *lineScanner) feed(b []byte) {
	for len(b) > 0 {
		if s.lit > 0 {
			n := int(min(s.lit, int64(len(b))))
			if s.onLit != nil {
				s.onLit(b[:n])
			}
			s.lit -= int64(n)
			b = b[n:]
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			s.add(b)
			return
		}
		s.add(b[:i+1])
		b = b[i+1:]
		s.end()
	}
}

func (s *lineScanner) add(b []byte) {
	s.size += len(b)
	if room := s.maxLine - len(s.line); room > 0 {
		s.line = append(s.line, b[:min(room, len(b))]...)
	}
	if len(b) >= tailLen {
		s.tail = append(s.tail[:0], b[len(b)-tailLen:]...)
		return
	}
	s.tail = append(s.tail, b...)
	if extra := len(s.tail) - tailLen; extra > 0 {
		copy(s.tail, s.tail[extra:])
		s.tail = s.tail[:tailLen]
	}
}

func (s *lineScanner) end() {
	lit := literalSize(trimEOL(s.tail))
	s.onLine(trimEOL(s.line), s.size, lit)
	s.line, s.tail, s.size = s.line[:0], s.tail[:0], 0
	s.lit = lit
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// literalSize returns n if line ends with a literal marker {n}, {n+} or
// {n-} (RFC 9051 §4.3, RFC 7888), else 0.
func literalSize(line []byte) int64 {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0
	}
	digits := line[open+1 : len(line)-1]
	if len(digits) > 0 && (digits[len(digits)-1] == '+' || digits[len(digits)-1] == '-') {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
