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

// Pool keeps up to max authenticated connections to one mailbox and hands
// each to one operation at a time. A connection that broke (dropped by the
// server or the network, interrupted by a cancelled context) is closed
// when it comes back, and Get dials a new one: a session reconnects and
// logs in again transparently on its next call.
type Pool struct {
	dial  func(ctx context.Context) (*Conn, error)
	slots chan struct{}

	mu     sync.Mutex
	idle   []*Conn
	all    map[*Conn]struct{}
	closed bool
}

// NewPool returns a pool of at most n connections made by dial.
func NewPool(n int, dial func(ctx context.Context) (*Conn, error)) *Pool {
	return &Pool{dial: dial, slots: make(chan struct{}, max(n, 1)), all: make(map[*Conn]struct{})}
}

var errPoolClosed = connector.Errorf(connector.KindUnavailable, "imap session closed")

// Get returns a healthy connection, preferring one that has mailbox
// selected; it waits while max connections are in use. Give it back with
// Put.
func (p *Pool) Get(ctx context.Context, mailbox string) (*Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctxErr(ctx, "wait for an imap connection")
	}
	for {
		c, err := p.takeIdle(mailbox)
		if err != nil {
			<-p.slots
			return nil, err
		}
		if c == nil {
			break
		}
		if c.Broken() || (time.Since(c.lastUsed) > HealthCheckAfter && c.Noop(ctx) != nil) {
			if err := ctx.Err(); err != nil {
				p.discard(c)
				<-p.slots
				return nil, ctxErr(ctx, "wait for an imap connection")
			}
			p.discard(c)
			continue
		}
		return c, nil
	}
	c, err := p.dial(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		<-p.slots
		return nil, errPoolClosed
	}
	p.all[c] = struct{}{}
	p.mu.Unlock()
	return c, nil
}

// takeIdle removes an idle connection from the pool: one with mailbox
// selected if there is one, else the most recently used.
func (p *Pool) takeIdle(mailbox string) (*Conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPoolClosed
	}
	if len(p.idle) == 0 {
		return nil, nil
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
	c := p.idle[i]
	p.idle = append(p.idle[:i], p.idle[i+1:]...)
	return c, nil
}

// Put gives a connection back. A broken one is closed.
func (p *Pool) Put(c *Conn) {
	p.mu.Lock()
	if c.Broken() || p.closed {
		p.mu.Unlock()
		p.discard(c)
	} else {
		c.lastUsed = time.Now()
		p.idle = append(p.idle, c)
		p.mu.Unlock()
	}
	<-p.slots
}

// Discard closes a connection taken with Get instead of giving it back,
// e.g. when a command was abandoned half-way.
func (p *Pool) Discard(c *Conn) {
	p.discard(c)
	<-p.slots
}

func (p *Pool) discard(c *Conn) {
	p.mu.Lock()
	delete(p.all, c)
	p.mu.Unlock()
	c.Abort()
	c.log.Debug("imap connection dropped", "conn", c.ID)
}

// Close logs out of the idle connections and interrupts those in use
// (their operations fail with KindUnavailable).
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	var busy []*Conn
	for c := range p.all {
		busy = append(busy, c)
	}
	p.all = make(map[*Conn]struct{})
	p.mu.Unlock()
	idleSet := make(map[*Conn]bool, len(idle))
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
