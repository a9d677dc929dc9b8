package imapconn_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

// proxy forwards TCP connections to a server and can cut them all, as a
// NAT timeout, a server restart or a flaky link would.
type proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	conns    []net.Conn
	accepted int
	frozen   map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, frozen: make(map[net.Conn]bool)}
	t.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	go p.serve()
	return p
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.accepted++
		p.mu.Unlock()
		go func() { p.copy(s, c); s.Close() }()
		go func() { p.copy(c, s); c.Close() }()
	}
}

// copy forwards src to dst until either ends; once src is frozen, what it
// sends is swallowed, as by a dead link that does not say so.
func (p *proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		frozen := p.frozen[src]
		p.mu.Unlock()
		if n > 0 && !frozen {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// freeze makes the current connections silent without closing them.
func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		p.frozen[c] = true
	}
}

// cut closes every connection going through the proxy.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Cutting every connection of a session costs nothing but a reconnect: the
// next calls dial, log in and succeed. A body being streamed when the cut
// comes fails with ErrUnavailable, so core retries it.
func TestReconnect(t *testing.T) {
	testserver.Ensure(t)
	p := newProxy(t, testserver.DovecotSrc.TLSAddr())
	req := request(t, testserver.DovecotSrc, "implicit", map[string]any{"port": p.port()})
	c := imapconn.New(nil, testLogger())
	tgt, err := c.OpenTarget(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(ctxFor(t))
	src, err := c.OpenSource(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctxFor(t))

	big := bigMessage(8 << 20)
	if _, err := tgt.EnsureFolder(ctxFor(t), "Cut", ""); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, tgt, "Cut", testMessage, `\Seen`)
	bigRef := appendMsg(t, tgt, "Cut", big).Ref
	first := list(t, src, "Cut", nil)
	if len(first.msgs) != 2 {
		t.Fatalf("listed %d messages", len(first.msgs))
	}

	// Cut between calls: every operation of both sessions works after.
	p.cut()
	dials := p.count()
	if l := list(t, src, "Cut", nil); len(l.msgs) != 2 {
		t.Fatalf("after the cut, List returned %d messages", len(l.msgs))
	}
	if _, err := src.Status(ctxFor(t), "Cut"); err != nil {
		t.Fatalf("Status after the cut: %v", err)
	}
	p.cut()
	ref := appendMsg(t, tgt, "Cut", testMessage).Ref
	p.cut()
	if _, err := tgt.(connector.TargetFlagSync).SetFlags(ctxFor(t), "Cut", ref, []string{`\Flagged`}); err != nil {
		t.Fatalf("SetFlags after the cut: %v", err)
	}
	p.cut()
	if got, err := tgt.(connector.TargetLookup).Lookup(ctxFor(t), "Cut", lookupQuery(testMessage, "")); err != nil || len(got) != 2 {
		t.Fatalf("Lookup after the cut: %q, %v", got, err)
	}
	if p.count() <= dials {
		t.Fatal("no new connection after the cut")
	}

	// Cut in the middle of a body.
	b, err := src.Fetch(ctxFor(t), "Cut", bigRef)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(b, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	p.cut()
	_, err = io.Copy(io.Discard, b)
	if !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("body cut mid-stream: %v, want ErrUnavailable", err)
	}
	b.Close()
	if data := fetchBytes(t, src, "Cut", bigRef); !bytes.Equal(data, big) {
		t.Fatal("the message fetched after the cut differs")
	}

	// Cut in the middle of an append: unavailable, and nothing stored
	// half-way.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := tgt.Append(ctxFor(t), "Cut", &connector.AppendMessage{Size: int64(len(big)), Body: pr})
		done <- err
	}()
	pw.Write(big[:2<<20])
	p.cut()
	go func() { pw.Write(big[2<<20:]); pw.Close() }()
	if err := <-done; !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("append cut mid-stream: %v, want ErrUnavailable", err)
	}
	if l := list(t, src, "Cut", nil); len(l.msgs) != 3 {
		t.Fatalf("after the cut append, the folder lists %d messages, want 3", len(l.msgs))
	}
}

func lookupQuery(data []byte, since string) *connector.LookupQuery {
	h := connector.HeaderSection(data)
	return &connector.LookupQuery{
		MessageID: connector.MessageIDOf(h), Fingerprint: connector.Fingerprint(int64(len(data)), h),
		Size: int64(len(data)), Since: since,
	}
}

// A connection that dies without a word (no FIN, no RST) is given up after
// the inactivity timeout, and a call that had no effect yet is run again on
// a new connection.
func TestSilentDeadConnection(t *testing.T) {
	testserver.Ensure(t)
	p := newProxy(t, testserver.DovecotDst.TLSAddr())
	req := request(t, testserver.DovecotDst, "implicit", map[string]any{"port": p.port(), "timeouts": map[string]any{"io": 5}})
	src, err := openSource(t, imapconn.New(nil, testLogger()), req)
	if err != nil {
		t.Fatal(err)
	}
	list(t, src, "INBOX", nil)
	p.freeze()
	start := time.Now()
	if l := list(t, src, "INBOX", nil); len(l.msgs) != 0 {
		t.Fatalf("listed %d messages", len(l.msgs))
	}
	if d := time.Since(start); d < 5*time.Second || d > 20*time.Second {
		t.Errorf("List over a dead connection took %v, want the 5 s timeout and a retry", d)
	}
}
