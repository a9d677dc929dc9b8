package imapkit

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/sdk/connector"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func dovecotOptions(t *testing.T, mode TLSMode) *Options {
	t.Helper()
	testserver.Ensure(t)
	inst := testserver.DovecotDst
	addr := inst.Addr()
	if mode == TLSImplicit {
		addr = inst.TLSAddr()
	}
	cfg, err := TLSConfig(inst.Host, testserver.CAFile(), false)
	if err != nil {
		t.Fatal(err)
	}
	return &Options{
		Address:   addr,
		TLS:       mode,
		TLSConfig: cfg,
		Login:     &PasswordLogin{Username: testserver.User(t, "imapkit"), Password: testserver.Password()},
	}
}

func TestDialModes(t *testing.T) {
	for _, mode := range []TLSMode{TLSImplicit, TLSStartTLS, TLSNone} {
		c, err := Dial(ctxFor(t), dovecotOptions(t, mode))
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if _, err := c.Select(ctxFor(t), "INBOX", true, false); err != nil {
			t.Errorf("%s: %v", mode, err)
		}
		c.Close()
	}
}

func TestDialErrors(t *testing.T) {
	o := dovecotOptions(t, TLSImplicit)
	o.TLSConfig.ServerName = "imap.wrong.example"
	_, err := Dial(ctxFor(t), o)
	if !errors.Is(err, connector.ErrInvalid) || !strings.Contains(err.Error(), "does not match the host name") {
		t.Errorf("certificate for another name: %v, want ErrInvalid", err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, err = Dial(ctxFor(t), &Options{Address: addr, TLS: TLSNone})
	if !errors.Is(err, connector.ErrUnavailable) {
		t.Errorf("closed port: %v, want ErrUnavailable", err)
	}

	// A server that accepts but never greets: the connect timeout.
	ln, _ = net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	_, err = Dial(ctxFor(t), &Options{Address: ln.Addr().String(), TLS: TLSNone, ConnectTimeout: 300 * time.Millisecond})
	if !errors.Is(err, connector.ErrUnavailable) || time.Since(start) > 5*time.Second {
		t.Errorf("silent server: %v after %v, want ErrUnavailable after the connect timeout", err, time.Since(start))
	}

	// STARTTLS refused by a server that does not offer it.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln2.Close()
	go func() {
		c, err := ln2.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("* OK ready\r\n"))
		buf := make([]byte, 100)
		c.Read(buf)
		c.Write([]byte("S1 BAD STARTTLS not supported\r\n"))
		c.Read(buf)
	}()
	_, err = Dial(ctxFor(t), &Options{Address: ln2.Addr().String(), TLS: TLSStartTLS})
	if !errors.Is(err, connector.ErrInvalid) || !strings.Contains(err.Error(), "refused STARTTLS") {
		t.Errorf("STARTTLS refused: %v, want ErrInvalid", err)
	}

	// PREAUTH before STARTTLS would let a MITM skip the upgrade.
	ln3, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln3.Close()
	go func() {
		c, err := ln3.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("* PREAUTH welcome\r\n"))
		c.Read(make([]byte, 100))
	}()
	_, err = Dial(ctxFor(t), &Options{Address: ln3.Addr().String(), TLS: TLSStartTLS})
	if !errors.Is(err, connector.ErrInvalid) || !strings.Contains(err.Error(), "PREAUTH") {
		t.Errorf("PREAUTH with STARTTLS: %v, want ErrInvalid", err)
	}
}

// A cancelled context interrupts a command in progress at once; the
// connection is broken for good.
func TestDoCancel(t *testing.T) {
	c, err := Dial(ctxFor(t), dovecotOptions(t, TLSImplicit))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select(ctxFor(t), "INBOX", true, false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctxFor(t), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Do(ctx, "idle", func() error {
		cmd, err := c.Client.Idle()
		if err != nil {
			return err
		}
		return cmd.Wait() // IDLE never ends on its own
	})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("Do with an expiring context: %v after %v", err, time.Since(start))
	}
	if !c.Broken() {
		t.Fatal("an interrupted connection is not broken")
	}
	if err := c.Noop(ctxFor(t)); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("NOOP on an interrupted connection: %v, want ErrUnavailable", err)
	}
}

// The pool never exceeds its size, waits for a free connection, and
// reuses connections.
func TestPool(t *testing.T) {
	o := dovecotOptions(t, TLSImplicit)
	var dials atomic.Int32
	p := NewPool(2, func(ctx context.Context) (*Conn, error) {
		dials.Add(1)
		return Dial(ctx, o)
	})
	defer p.Close()
	a, err := p.Get(ctxFor(t), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Get(ctxFor(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Select(ctxFor(t), "INBOX", true, false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctxFor(t), 100*time.Millisecond)
	defer cancel()
	if _, err := p.Get(ctx, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third Get of a pool of 2: %v, want to wait until the deadline", err)
	}
	got := make(chan *Conn)
	go func() {
		c, err := p.Get(ctxFor(t), "INBOX")
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	time.Sleep(50 * time.Millisecond)
	p.Put(a)
	p.Put(b)
	c := <-got
	if c != b {
		t.Errorf("Get(INBOX) did not prefer the connection with INBOX selected")
	}
	p.Put(c)
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2", n)
	}
	// A broken connection is replaced.
	c, _ = p.Get(ctxFor(t), "")
	c.Abort()
	p.Put(c)
	c, err = p.Get(ctxFor(t), "")
	if err != nil || c.Broken() {
		t.Fatalf("Get after a broken connection: %v", err)
	}
	p.Put(c)
}

// The client library's own deadlines are ignored; while busy, silence
// longer than the I/O timeout fails the read.
func TestWireConnDeadlines(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	w := newWireConn(client, 100*time.Millisecond, nil)
	w.SetReadDeadline(time.Now().Add(time.Millisecond)) // as go-imap does
	go func() {
		time.Sleep(200 * time.Millisecond)
		server.Write([]byte("* OK idle but alive\r\n"))
	}()
	buf := make([]byte, 100)
	if _, err := w.Read(buf); err != nil {
		t.Fatalf("idle read: %v (the library's deadline applied)", err)
	}
	end := w.begin(context.Background())
	defer end()
	_, err := w.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("busy read past the I/O timeout: %v, want a timeout", err)
	}
	if _, err2 := w.Read(buf); err2 == nil {
		t.Fatal("a read after a timeout succeeded")
	}
}
