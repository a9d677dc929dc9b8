package gmailtest

import (
	"strings"
	"time"
)

// bucket is a token bucket of capacity units refilled continuously at units per window: Google documents "units
// per minute" without the algorithm; the old "250 units/user/s moving average" and GYB's bucket (§1.5) are the
// same shape.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time, units int, window time.Duration) {
	if b.last.IsZero() {
		b.tokens, b.last = float64(units), now
		return
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens += float64(units) * float64(el) / float64(window)
		b.tokens = min(b.tokens, float64(units))
		b.last = now
	}
}

type quotaState struct {
	users    map[string]*bucket
	projects map[string]*bucket
	day      map[string]dayCount
}

type dayCount struct {
	day  string
	used int
}

func (q *quotaState) init() {
	q.users, q.projects, q.day = map[string]*bucket{}, map[string]*bucket{}, map[string]dayCount{}
}

// pacific is where Google's daily quotas reset (midnight Pacific time).
var pacific = func() *time.Location {
	if l, err := time.LoadLocation("America/Los_Angeles"); err == nil {
		return l
	}
	return time.FixedZone("PST", -8*3600)
}()

// admit applies the per-user concurrency cap and the quota buckets (§1.5, §5.1.6). A rejected request is not
// charged.
func (s *Server) admit(c *call) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	user := strings.ToLower(c.email)
	if s.cfg.userConc > 0 && s.inflight[user] > s.cfg.userConc {
		e := newAPIError(429, "rateLimitExceeded", "Too many concurrent requests for user")
		e.retryAfter = s.cfg.concRetryAfter
		return e
	}
	cost := c.rt.cost
	if cost == 0 {
		return nil
	}
	now := s.now()
	project := "tern-test"
	if c.tok != nil {
		project = c.tok.project
	}
	ub, ok := take(s.quota.users, user, now, s.cfg.userUnits, s.cfg.userWindow, cost)
	if !ok {
		return newAPIError(403, "userRateLimitExceeded", "User Rate Limit Exceeded")
	}
	pb, ok := take(s.quota.projects, project, now, s.cfg.projectUnits, s.cfg.projectWindow, cost)
	if !ok {
		return newAPIError(403, "rateLimitExceeded", "Rate Limit Exceeded")
	}
	if s.cfg.dailyUnits > 0 {
		day := now.In(pacific).Format(time.DateOnly)
		d := s.quota.day[project]
		if d.day != day {
			d = dayCount{day: day}
		}
		if d.used+cost > s.cfg.dailyUnits {
			return newAPIError(403, "dailyLimitExceeded", "Daily Limit Exceeded")
		}
		d.used += cost
		s.quota.day[project] = d
	}
	if ub != nil {
		ub.tokens -= float64(cost)
	}
	if pb != nil {
		pb.tokens -= float64(cost)
	}
	return nil
}

// take finds (or makes) the bucket of key, refills it, and tells whether cost fits; nil when the limit is off.
func take(m map[string]*bucket, key string, now time.Time, units int, window time.Duration, cost int) (*bucket, bool) {
	if units <= 0 {
		return nil, true
	}
	b := m[key]
	if b == nil {
		b = &bucket{}
		m[key] = b
	}
	b.refill(now, units, window)
	return b, b.tokens >= float64(cost)
}

// QuotaRemaining is what is left in user's bucket now, after refill.
func (s *Server) QuotaRemaining(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.quota.users[strings.ToLower(user)]
	if b == nil {
		return s.cfg.userUnits
	}
	b.refill(s.now(), s.cfg.userUnits, s.cfg.userWindow)
	return int(b.tokens)
}
