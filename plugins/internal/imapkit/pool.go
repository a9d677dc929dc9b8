package imapkit

import (
	"context"
	"sync"
	"time"

	"github.com/ternmail/tern/sdk/connector"
)

// HealthCheckAfter is how long a connection may sit idle in a pool before
// Get checks it with a NOOP: a server or a NAT box may have dropped it
// without a word, and an APPEND is better not started on a dead one.
const HealthCheckAfter = time.Minute

// pooled is what a pool needs of its connections; *Conn and *AppendConn
// have it.
type pooled interface {
	comparable
	Broken() bool
	Selected() (mailbox string, readOnly bool)
	Noop(ctx context.Context) error
	Close() error
	Abort()
	idleSince() time.Time
	markUsed()
	logDropped()
}

// ConnPool keeps up to max authenticated connections to one mailbox and
// hands each to one operation at a time. A connection that broke (dropped
// by the server or the network, interrupted by a cancelled context) is
// closed when it comes back, and Get dials a new one: a session
// reconnects and logs in again transparently on its next call. Use it as
// Pool (go-imap connections) or AppendPool (MULTIAPPEND connections).
type ConnPool[C pooled] struct {
	dial  func(ctx context.Context) (C, error)
	slots chan struct{}

	mu     sync.Mutex
	idle   []C
	all    map[C]struct{}
	closed bool
}

// Pool is a pool of go-imap connections.
type Pool = ConnPool[*Conn]

// AppendPool is a pool of MULTIAPPEND connections.
type AppendPool = ConnPool[*AppendConn]

// NewPool returns a pool of at most n connections made by dial.
func NewPool(n int, dial func(ctx context.Context) (*Conn, error)) *Pool {
	return newConnPool(n, dial)
}

// NewAppendPool returns a pool of at most n MULTIAPPEND connections made
// by dial.
func NewAppendPool(n int, dial func(ctx context.Context) (*AppendConn, error)) *AppendPool {
	return newConnPool(n, dial)
}

func newConnPool[C pooled](n int, dial func(ctx context.Context) (C, error)) *ConnPool[C] {
	return &ConnPool[C]{dial: dial, slots: make(chan struct{}, max(n, 1)), all: make(map[C]struct{})}
}

var errPoolClosed = connector.Errorf(connector.KindUnavailable, "imap session closed")

// Get returns a healthy connection, preferring one that has mailbox
// selected; it waits while max connections are in use. Give it back with
// Put.
func (p *ConnPool[C]) Get(ctx context.Context, mailbox string) (C, error) {
	var zero C
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return zero, ctxErr(ctx, "wait for an imap connection")
	}
	for {
		c, ok, err := p.takeIdle(mailbox)
		if err != nil {
			<-p.slots
			return zero, err
		}
		if !ok {
			break
		}
		if c.Broken() || (time.Since(c.idleSince()) > HealthCheckAfter && c.Noop(ctx) != nil) {
			if err := ctx.Err(); err != nil {
				p.discard(c)
				<-p.slots
				return zero, ctxErr(ctx, "wait for an imap connection")
			}
			p.discard(c)
			continue
		}
		return c, nil
	}
	c, err := p.dial(ctx)
	if err != nil {
		<-p.slots
		return zero, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		<-p.slots
		return zero, errPoolClosed
	}
	p.all[c] = struct{}{}
	p.mu.Unlock()
	return c, nil
}

// takeIdle removes an idle connection from the pool: one with mailbox
// selected if there is one, else the most recently used.
func (p *ConnPool[C]) takeIdle(mailbox string) (c C, ok bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return c, false, errPoolClosed
	}
	if len(p.idle) == 0 {
		return c, false, nil
	}
	i := len(p.idle) - 1
	if mailbox != "" {
		for j := len(p.idle) - 1; j >= 0; j-- {
			if m, _ := p.idle[j].Selected(); m == mailbox {
				i = j
				break
			}
		}
	}
	c = p.idle[i]
	p.idle = append(p.idle[:i], p.idle[i+1:]...)
	return c, true, nil
}

// Put gives a connection back. A broken one is closed.
func (p *ConnPool[C]) Put(c C) {
	p.mu.Lock()
	if c.Broken() || p.closed {
		p.mu.Unlock()
		p.discard(c)
	} else {
		c.markUsed()
		p.idle = append(p.idle, c)
		p.mu.Unlock()
	}
	<-p.slots
}

// Discard closes a connection taken with Get instead of giving it back,
// e.g. when a command was abandoned half-way.
func (p *ConnPool[C]) Discard(c C) {
	p.discard(c)
	<-p.slots
}

func (p *ConnPool[C]) discard(c C) {
	p.mu.Lock()
	delete(p.all, c)
	p.mu.Unlock()
	c.Abort()
	c.logDropped()
}

// Close logs out of the idle connections and interrupts those in use
// (their operations fail with KindUnavailable).
func (p *ConnPool[C]) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	var busy []C
	for c := range p.all {
		busy = append(busy, c)
	}
	p.all = make(map[C]struct{})
	p.mu.Unlock()
	idleSet := make(map[C]bool, len(idle))
	var wg sync.WaitGroup
	for _, c := range idle {
		idleSet[c] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close()
		}()
	}
	for _, c := range busy {
		if !idleSet[c] {
			c.Abort()
		}
	}
	wg.Wait()
}
