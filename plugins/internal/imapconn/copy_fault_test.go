package imapconn_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

// rewriteProxy forwards TCP connections to a server in plaintext and
// rewrites the server's lines, to show the connector a server with other
// capabilities or PERMANENTFLAGS.
type rewriteProxy struct{ ln net.Listener }

func newRewriteProxy(t *testing.T, target string, rewrite func(line string) string) *rewriteProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() {
				br := bufio.NewReader(s)
				for {
					line, err := br.ReadString('\n')
					if line != "" {
						if _, werr := c.Write([]byte(rewrite(line))); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	return &rewriteProxy{ln: ln}
}

func (p *rewriteProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// tapProxy forwards TCP connections to a server and, once armed, counts
// the bytes going up (client to server) and down, calling onUp and
// onDown with the totals; it can cut or silence the connections.
type tapProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  []net.Conn
	silent map[net.Conn]bool // their bytes are swallowed

	armed    atomic.Bool
	up, down atomic.Int64
	onUp     func(total int64)
	onDown   func(total int64)
}

func newTapProxy(t *testing.T, target string) *tapProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tapProxy{ln: ln, target: target, silent: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	go func() {
		for {
			c, err := ln.Accept()
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
			p.mu.Unlock()
			go func() { p.forward(s, c, &p.up, func() func(int64) { return p.onUp }); s.Close() }()
			go func() { p.forward(c, s, &p.down, func() func(int64) { return p.onDown }); c.Close() }()
		}
	}()
	return p
}

func (p *tapProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *tapProxy) forward(dst, src net.Conn, total *atomic.Int64, hook func() func(int64)) {
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		silent := p.silent[src]
		p.mu.Unlock()
		if n > 0 && !silent {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			if p.armed.Load() {
				if f := hook(); f != nil {
					f(total.Add(int64(n)))
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// arm starts counting from zero with the given hooks.
func (p *tapProxy) arm(onUp, onDown func(total int64)) {
	p.mu.Lock()
	p.onUp, p.onDown = onUp, onDown
	p.mu.Unlock()
	p.up.Store(0)
	p.down.Store(0)
	p.armed.Store(true)
}

func (p *tapProxy) disarm() { p.armed.Store(false) }

// cut closes every connection.
func (p *tapProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// silenceServer swallows what the server sends on the current
// connections, as a link that lost the way back would.
func (p *tapProxy) silenceServer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 1; i < len(p.conns); i += 2 {
		p.silent[p.conns[i]] = true
	}
}

// faultPair opens a pair whose source or target goes through a tap proxy
// (implicit TLS), seeds the source with a small message (copied at once,
// to warm the connections up) and returns the items of three more, one of
// them 6 MB.
func faultPair(t *testing.T, side string, extra map[string]any) (*copyPair, *tapProxy, []connector.CopyItem) {
	t.Helper()
	testserver.Ensure(t)
	inst := testserver.DovecotSrc
	if side == "target" {
		inst = testserver.DovecotDst
	}
	tap := newTapProxy(t, inst.TLSAddr())
	srcReq := request(t, testserver.DovecotSrc, "implicit", nil)
	dstReq := request(t, testserver.DovecotDst, "implicit", extra)
	via := map[string]any{"port": tap.port()}
	for k, v := range extra {
		via[k] = v
	}
	if side == "target" {
		dstReq = request(t, testserver.DovecotDst, "implicit", via)
	} else {
		user := srcReq.User
		srcReq = request(t, testserver.DovecotSrc, "implicit", via)
		srcReq.User = user
	}
	p := openPair(t, imapconn.New(nil, testLogger()), srcReq, dstReq)
	msgs := seedSource(t, p.srcUser, "INBOX", bigMessage(2000), bigMessage(3000), bigMessage(6<<20), bigMessage(4000))
	items := itemsOf(msgs)
	outs, err := p.copier(t).CopyTo(ctxFor(t), "INBOX", items[:1], p.tgt, "INBOX")
	if err != nil || outs[0].Err != nil {
		t.Fatalf("warm-up copy: %+v, %v", outs, err)
	}
	return p, tap, items[1:]
}

// targetCount returns the number of messages in the target's INBOX.
func targetCount(t *testing.T, p *copyPair) int {
	t.Helper()
	return len(uidSums(t, testserver.DovecotDst, p.dstUser, "INBOX"))
}

// A connection cut in mid-batch, on either side, fails the call as a
// whole (ErrUnavailable) and stores nothing; the sessions recover on new
// connections.
func TestCopyCut(t *testing.T) {
	for _, side := range []string{"source", "target"} {
		t.Run(side, func(t *testing.T) {
			p, tap, items := faultPair(t, side, nil)
			cutAt := func(total int64) {
				if total > 2<<20 {
					tap.disarm()
					tap.cut()
				}
			}
			if side == "source" {
				tap.arm(nil, cutAt)
			} else {
				tap.arm(cutAt, nil)
			}
			outs, err := p.copier(t).CopyTo(ctxFor(t), "INBOX", items, p.tgt, "INBOX")
			if !errors.Is(err, connector.ErrUnavailable) || outs != nil {
				t.Fatalf("cut in mid-batch: %d outcomes, %v; want ErrUnavailable", len(outs), err)
			}
			if n := targetCount(t, p); n != 1 {
				t.Fatalf("the target holds %d messages after the cut, want the warm-up's 1", n)
			}
			outs, err = p.copier(t).CopyTo(ctxFor(t), "INBOX", items, p.tgt, "INBOX")
			if err != nil {
				t.Fatalf("copy after the cut: %v", err)
			}
			checkStored(t, p, "INBOX", "INBOX", items, outs, nil)
		})
	}
}

// When the target's answer never comes, the call fails as a whole: the
// messages may or may not have been stored (here the server got the whole
// command, so all of them were, none of them half).
func TestCopyTargetAnswerLost(t *testing.T) {
	p, tap, items := faultPair(t, "target", map[string]any{"timeouts": map[string]any{"io": 5}})
	tap.silenceServer()
	outs, err := p.copier(t).CopyTo(ctxFor(t), "INBOX", items, p.tgt, "INBOX")
	if !errors.Is(err, connector.ErrUnavailable) || outs != nil {
		t.Fatalf("answer lost: %d outcomes, %v; want ErrUnavailable", len(outs), err)
	}
	n := targetCount(t, p)
	t.Logf("%v; the target holds %d messages", err, n)
	if n != 1 && n != 1+len(items) {
		t.Fatalf("the target holds %d messages: half a batch", n)
	}
}

// Cancelling the context in mid-batch stops both sides at once: the
// context's error, nothing stored; the sessions go on.
func TestCopyCancel(t *testing.T) {
	p, tap, items := faultPair(t, "target", nil)
	ctx, cancel := context.WithCancel(ctxFor(t))
	tap.arm(func(total int64) {
		if total > 1<<20 {
			cancel()
		}
	}, nil)
	outs, err := p.copier(t).CopyTo(ctx, "INBOX", items, p.tgt, "INBOX")
	if !errors.Is(err, context.Canceled) || outs != nil {
		t.Fatalf("cancelled: %d outcomes, %v; want context.Canceled", len(outs), err)
	}
	tap.disarm()
	if n := targetCount(t, p); n != 1 {
		t.Fatalf("the target holds %d messages after the cancel, want 1", n)
	}
	outs, err = p.copier(t).CopyTo(ctxFor(t), "INBOX", items, p.tgt, "INBOX")
	if err != nil {
		t.Fatalf("copy after the cancel: %v", err)
	}
	checkStored(t, p, "INBOX", "INBOX", items, outs, nil)
}

// The MULTIAPPEND connection's login is redacted in the trace like the
// others', and bodies show only at LevelTraceData.
func TestCopyTrace(t *testing.T) {
	for _, mech := range []string{"login", "plain"} {
		for _, data := range []bool{false, true} {
			level := connector.LevelTrace
			if data {
				level = connector.LevelTraceData
			}
			t.Run(mech+"-"+level.String(), func(t *testing.T) {
				rec, log := newWireRecorder(level)
				dstReq := request(t, testserver.DovecotDst, "starttls", map[string]any{"auth_mechanism": mech})
				p := openPair(t, imapconn.New(nil, log), request(t, testserver.DovecotSrc, "implicit", nil), dstReq)
				body := []byte("From: a@example.org\r\nSubject: trace\r\n\r\nthe hidden plans for the weekend\r\n")
				msgs := seedSource(t, p.srcUser, "INBOX", body)
				outs, err := p.copier(t).CopyTo(ctxFor(t), "INBOX", itemsOf(msgs), p.tgt, "INBOX")
				if err != nil || outs[0].Err != nil {
					t.Fatalf("CopyTo: %+v, %v", outs, err)
				}
				var appendConn string
				rec.mu.Lock()
				for _, l := range rec.lines {
					if l.dir == "C" && strings.Contains(l.line, " APPEND ") {
						appendConn = l.conn
					}
				}
				var login []string
				for _, l := range rec.lines {
					if l.conn == appendConn && l.dir == "C" && (strings.Contains(l.line, "LOGIN") || strings.Contains(l.line, "AUTHENTICATE")) {
						login = append(login, l.line)
					}
				}
				rec.mu.Unlock()
				want := map[string]string{"login": "LOGIN " + connector.Redacted, "plain": "AUTHENTICATE PLAIN " + connector.Redacted}[mech]
				if appendConn == "" || len(login) != 1 || !strings.HasSuffix(login[0], want) {
					t.Errorf("login of the MULTIAPPEND connection %q: %q, want %q", appendConn, login, want)
				}
				assertNoSecret(t, rec.String(), dstReq.User, dstReq.Credential.Secret)
				if strings.Contains(rec.String(), "hidden plans") != data {
					t.Errorf("message contents in the trace at %v: %v", level, !data)
				}
			})
		}
	}
}

// A batch with a 25 MB message streams end to end: copying it allocates
// a small fraction of its size.
func TestCopyLargeStreams(t *testing.T) {
	p := openPair(t, imapconn.New(nil, testLogger()), request(t, testserver.DovecotSrc, "implicit", nil), request(t, testserver.DovecotDst, "implicit", nil))
	seed, err := imapconn.New(nil, testLogger()).OpenTarget(ctxFor(t), func() *connector.OpenRequest {
		r := request(t, testserver.DovecotSrc, "implicit", nil)
		r.User = p.srcUser
		return r
	}())
	if err != nil {
		t.Fatal(err)
	}
	appendMsg(t, seed, "INBOX", testMessage)
	gen := newGenMessage(largeLines)
	if _, err := seed.Append(ctxFor(t), "INBOX", &connector.AppendMessage{Size: gen.size, Body: gen}); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, seed, "INBOX", bigMessage(50000))
	appendMsg(t, seed, "INBOX", testMessage)
	seed.Close(ctxFor(t))
	msgs := list(t, p.src, "INBOX", nil).msgs
	items := itemsOf(msgs)
	// Warm up: connections, TLS, EXAMINE, SELECT.
	if outs, err := p.copier(t).CopyTo(ctxFor(t), "INBOX", items[:1], p.tgt, "INBOX"); err != nil || outs[0].Err != nil {
		t.Fatalf("warm-up: %+v, %v", outs, err)
	}
	const budget = 2 << 20
	var outs []connector.CopyOutcome
	alloc := allocated(func() {
		outs, err = p.copier(t).CopyTo(ctxFor(t), "INBOX", items[1:], p.tgt, "INBOX")
	})
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, p, "INBOX", "INBOX", items[1:], outs, nil)
	if outs[0].Size != gen.size {
		t.Fatalf("copied %d bytes of the large message, want %d", outs[0].Size, gen.size)
	}
	t.Logf("a batch with %d bytes allocated %d bytes", gen.size+50000+int64(len(testMessage)), alloc)
	if alloc > budget {
		t.Errorf("a batch with a %d-byte message allocated %d bytes", gen.size, alloc)
	}
}
