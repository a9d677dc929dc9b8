package gmailconn

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
	_ "time/tzdata" // Google's daily quotas reset at midnight Pacific time

	"github.com/ternmail/tern/sdk/connector"
)

// Quota costs of the calls the connector makes (developers.google.com/
// gmail/api/reference/quota).
const (
	costImport     = 25
	costInsert     = 25
	costLabelsList = 1
	costLabelsGet  = 1
	costLabelsNew  = 5
	costList       = 5
	costGet        = 5
	costModify     = 5
	costHistory    = 2
	costProfile    = 1
)

// burstUnits is how many quota units may be spent at once. The limiter
// refills at (units per minute − burst) / 60 per second, so that no
// window of a minute ever holds more than the ceiling, whether Google
// counts in fixed or sliding minutes.
const burstUnits = 100

// Clock is the connector's time: real time, or a test's virtual clock
// (an emulator's quota window).
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// quota paces one mailbox's calls (all its sessions in this process
// share it) and remembers a daily limit until it resets.
type quota struct {
	mu           sync.Mutex
	units        int
	lim          *rate.Limiter
	blockedUntil time.Time
	blockReason  string
}

func newQuota(unitsPerMinute int) *quota {
	r := rate.Limit(float64(unitsPerMinute-burstUnits) / 60)
	return &quota{units: unitsPerMinute, lim: rate.NewLimiter(r, burstUnits)}
}

// quotas holds the per-user limiters of a connector.
type quotas struct {
	mu sync.Mutex
	m  map[string]*quota
}

func (q *quotas) get(user string, unitsPerMinute int) *quota {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = map[string]*quota{}
	}
	if x, ok := q.m[user]; ok && x.units == unitsPerMinute {
		return x
	}
	x := newQuota(unitsPerMinute)
	q.m[user] = x
	return x
}

// wait blocks until cost units may be spent, or returns the throttled
// error of a daily limit that has not reset yet.
func (q *quota) wait(ctx context.Context, clk Clock, cost int) error {
	now := clk.Now()
	q.mu.Lock()
	if now.Before(q.blockedUntil) {
		until, why := q.blockedUntil, q.blockReason
		q.mu.Unlock()
		return connector.Throttled(until.Sub(now), "gmail: %s; the mailbox waits until %s", why, until.UTC().Format(time.RFC3339))
	}
	r := q.lim.ReserveN(now, cost)
	q.mu.Unlock()
	if !r.OK() {
		return connector.Errorf(connector.KindInvalid, "gmail: a call of %d quota units exceeds the limiter's burst", cost)
	}
	if d := r.DelayFrom(now); d > 0 {
		if err := clk.Sleep(ctx, d); err != nil {
			r.CancelAt(clk.Now())
			return err
		}
	}
	return nil
}

// block stops the mailbox's calls until the daily quota resets.
func (q *quota) block(until time.Time, why string) {
	q.mu.Lock()
	if until.After(q.blockedUntil) {
		q.blockedUntil, q.blockReason = until, why
	}
	q.mu.Unlock()
}

// pacific is where Google's daily quotas reset at midnight.
var pacific = func() *time.Location {
	l, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		return time.FixedZone("PST", -8*3600)
	}
	return l
}()

// nextDailyReset returns the next midnight Pacific time after now (plus a
// minute of margin).
func nextDailyReset(now time.Time) time.Time {
	p := now.In(pacific)
	mid := time.Date(p.Year(), p.Month(), p.Day()+1, 0, 1, 0, 0, pacific)
	return mid
}

// backoff is the wait before retry n (1, 2, …): 2^(n-1) seconds up to
// a minute, plus up to a second of jitter (as Google's guide and GYB do),
// and at least the server's Retry-After.
func backoff(n int, retryAfter time.Duration, jitter func() float64) time.Duration {
	d := time.Second << min(n-1, 6)
	if d > time.Minute {
		d = time.Minute
	}
	if jitter == nil {
		jitter = rand.Float64
	}
	d += time.Duration(jitter() * float64(time.Second))
	return max(d, retryAfter)
}
