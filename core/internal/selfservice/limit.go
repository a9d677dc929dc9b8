package selfservice

import (
	"sync"
	"time"
)

// limiter counts failures per key over a fixed window: after max
// failures within window of the first, the key is refused until the
// window has passed. It lives in memory (a restart forgets it; the
// source server's own lockout and the login guard remain).
type limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu sync.Mutex
	m  map[string]*count
}

type count struct {
	n     int
	first time.Time
}

func newLimiter(max int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{max: max, window: window, now: now, m: map[string]*count{}}
}

// allowed reports whether key may try now.
func (l *limiter) allowed(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.m[key]
	return c == nil || l.now().Sub(c.first) >= l.window || c.n < l.max
}

// fail counts a failure of key.
func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for k, c := range l.m { // keep the map small
		if now.Sub(c.first) >= l.window {
			delete(l.m, k)
		}
	}
	c := l.m[key]
	if c == nil {
		c = &count{first: now}
		l.m[key] = c
	}
	c.n++
}

// reset forgets key's failures.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
}
