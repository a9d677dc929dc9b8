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
	dial   func(ctx context.Context) (C, error)
	slots  chan struct{}
	budget *Budget // nil: the pool's own limit alone

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

// Budget bounds the connections that several pools of one session keep
// open together (the go-imap and the MULTIAPPEND connections of a target
// session), so that a session never holds more than its max_connections
// however its work is split: a pool that needs a new connection while the
// budget is spent closes an idle connection of another pool, or waits for
// one to come back or close.
type Budget struct {
	mu    sync.Mutex
	max   int
	open  int
	pools []evictor
	wake  chan struct{} // closed when a connection comes back or closes
}

type evictor interface{ evictIdle() bool }

// NewBudget returns a budget of n connections.
func NewBudget(n int) *Budget { return &Budget{max: max(n, 1), wake: make(chan struct{})} }

// ShareBudget makes p count its connections against b. Call it before
// the first Get.
func (p *ConnPool[C]) ShareBudget(b *Budget) {
	b.mu.Lock()
	b.pools = append(b.pools, p)
	b.mu.Unlock()
	p.budget = b
}

// acquire takes a connection's worth of the budget for self: a free one,
// or one of another pool's idle connections, which it closes. Otherwise it
// returns a channel that is closed when it is worth trying again.
func (b *Budget) acquire(self evictor) (wake <-chan struct{}, ok bool) {
	if b == nil {
		return nil, true
	}
	b.mu.Lock()
	if b.open < b.max {
		b.open++
		b.mu.Unlock()
		return nil, true
	}
	wake = b.wake
	pools := append([]evictor(nil), b.pools...)
	b.mu.Unlock()
	for _, q := range pools {
		if q != self && q.evictIdle() {
			return nil, true // its share passes to self
		}
	}
	return wake, false
}

// release gives back n connections' worth.
func (b *Budget) release(n int) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	b.open -= n
	b.broadcast()
	b.mu.Unlock()
}

// notify wakes those waiting: a connection became idle.
func (b *Budget) notify() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.broadcast()
	b.mu.Unlock()
}

func (b *Budget) broadcast() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// evictIdle closes the pool's least recently used idle connection, if
// any, keeping its share of the budget for the caller.
func (p *ConnPool[C]) evictIdle() bool {
	p.mu.Lock()
	if p.closed || len(p.idle) == 0 {
		p.mu.Unlock()
		return false
	}
	c := p.idle[0]
	p.idle = p.idle[1:]
	delete(p.all, c)
	p.mu.Unlock()
	go c.Close()
	return true
}

// Get returns a healthy connection, preferring one that has mailbox
// selected; it waits while max connections are in use (or, with a shared
// Budget, while the budget is spent on connections in use). Give it back
// with Put.
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
			wake, got := p.budget.acquire(p)
			if got {
				break
			}
			select {
			case <-wake:
				continue
			case <-ctx.Done():
				<-p.slots
				return zero, ctxErr(ctx, "wait for an imap connection")
			}
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
		p.budget.release(1)
		<-p.slots
		return zero, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		p.budget.release(1)
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
		p.budget.notify()
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
	_, had := p.all[c]
	delete(p.all, c)
	p.mu.Unlock()
	c.Abort()
	c.logDropped()
	if had {
		p.budget.release(1)
	}
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
	p.budget.release(len(busy))
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
