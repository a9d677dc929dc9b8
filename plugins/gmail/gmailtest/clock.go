package gmailtest

import (
	"sync"
	"time"
)

// Clock is the emulator's notion of time: quota windows, token expiry, internalDate "now" and the daily limit
// all read it (target-apis.md §5 cross-cutting: "Use a virtual clock for quota windows and Retry-After").
type Clock interface {
	Now() time.Time
}

// VirtualClock is a Clock that moves only when a test advances it. It is the default.
type VirtualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewVirtualClock returns a clock stopped at start.
func NewVirtualClock(start time.Time) *VirtualClock { return &VirtualClock{now: start} }

// Now returns the clock's time.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *VirtualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *VirtualClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// ScaledClock follows real time multiplied by a speed factor: with speed 60 a quota minute passes in one real
// second. It is for end-to-end tests with a real engine that must reach the quota ceiling within seconds (pair it
// with WithUserQuota to scale the units as well).
type ScaledClock struct {
	start     time.Time
	realStart time.Time
	speed     float64
}

// NewScaledClock returns a clock that starts at start and runs speed times faster than real time.
func NewScaledClock(start time.Time, speed float64) *ScaledClock {
	if speed <= 0 {
		speed = 1
	}
	return &ScaledClock{start: start, realStart: time.Now(), speed: speed}
}

// Now returns start + (real time elapsed) × speed.
func (c *ScaledClock) Now() time.Time {
	elapsed := time.Since(c.realStart)
	return c.start.Add(time.Duration(float64(elapsed) * c.speed))
}
