package gmailtest

import (
	"fmt"
	"strings"
	"time"
)

// Always, as Fault.Times, makes a rule fire on every matching request.
const Always = -1

// Fault is a rule of fault injection (target-apis.md §5 cross-cutting, §5.1.7): which requests it matches and
// what it does to them. Rules are tried in the order they were added; the first that fires wins.
type Fault struct {
	// Matching. Empty fields match everything.
	Op           string // "messages.import", "labels.create", … (a resumable upload's chunks match their session's op and "upload")
	Method       string // "POST", …
	PathContains string
	User         string // the addressed mailbox
	Nth          int    // fire from the Nth matching request on (1-based; 0 = the first)
	Times        int    // how many times to fire: 0 = once, Always = every time

	// Effect.
	Status     int           // answer with this status and Google's error body (Reason defaults by status)
	Reason     string        // e.g. "backendError", "rateLimitExceeded"
	Message    string        // default: Google's message for Reason
	RetryAfter time.Duration // a Retry-After header
	Delay      time.Duration // sleep (real time) before answering or going on; alone it makes a slow response
	Reset      bool          // close the connection (TCP reset) before doing anything

	// ResetAfterCommit lets the request store its message, then closes the connection without a response. Only
	// requests that store a message count for Nth.
	ResetAfterCommit bool
}

// FaultRule is an installed Fault.
type FaultRule struct {
	Fault
	s     *Server
	seen  int
	fired int
}

// Fired is how many times the rule fired.
func (r *FaultRule) Fired() int {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.fired
}

// AddFault installs a rule.
func (s *Server) AddFault(f Fault) *FaultRule {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &FaultRule{Fault: f, s: s}
	s.faults = append(s.faults, r)
	return r
}

// ClearFaults removes every rule.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// BackendError is a 503 backendError on op (§1.5: "500/502/503/504 backendError → retry").
func BackendError(op string) Fault {
	return Fault{Op: op, Status: 503, Reason: "backendError"}
}

// TooManyRequests is a 429 on op with Retry-After.
func TooManyRequests(op string, retryAfter time.Duration) Fault {
	return Fault{Op: op, Status: 429, Reason: "rateLimitExceeded", RetryAfter: retryAfter}
}

// ResetAfterCommit stores the message of op's next write, then resets the connection.
func ResetAfterCommit(op string) Fault { return Fault{Op: op, ResetAfterCommit: true} }

// Slow delays op's responses by d.
func Slow(op string, d time.Duration) Fault { return Fault{Op: op, Delay: d, Times: Always} }

var defaultMessages = map[string]string{
	"backendError":          "Backend Error",
	"rateLimitExceeded":     "Too many concurrent requests for user",
	"userRateLimitExceeded": "User Rate Limit Exceeded",
	"dailyLimitExceeded":    "Daily Limit Exceeded",
	"internalError":         "Internal Error",
}

func (r *FaultRule) apiError() *apiError {
	reason := r.Reason
	if reason == "" {
		switch {
		case r.Status == 429:
			reason = "rateLimitExceeded"
		case r.Status >= 500:
			reason = "backendError"
		default:
			reason = "badRequest"
		}
	}
	msg := r.Message
	if msg == "" {
		msg = defaultMessages[reason]
	}
	if msg == "" {
		msg = reason
	}
	e := newAPIError(r.Status, reason, msg)
	e.retryAfter = r.RetryAfter
	return e
}

func (r *FaultRule) describe() string {
	switch {
	case r.ResetAfterCommit:
		return "reset-after-commit"
	case r.Reset:
		return "reset"
	case r.Status != 0:
		return fmt.Sprintf("status %d %s", r.Status, r.apiError().reason)
	default:
		return fmt.Sprintf("delay %s", r.Delay)
	}
}

func (r *FaultRule) matches(c *call, op string) bool {
	f := r.Fault
	if f.Op != "" && f.Op != c.rt.op && f.Op != op {
		return false
	}
	if f.Method != "" && !strings.EqualFold(f.Method, c.r.Method) {
		return false
	}
	if f.PathContains != "" && !strings.Contains(c.r.URL.Path, f.PathContains) {
		return false
	}
	if f.User != "" && !strings.EqualFold(f.User, c.email) {
		return false
	}
	return true
}

// matchFault finds the rule that fires for c, counting it; post selects the ResetAfterCommit rules.
func (s *Server) matchFault(c *call, post bool) *FaultRule {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := c.rt.op
	if c.up != nil {
		op = c.up.route.op
	}
	for _, r := range s.faults {
		if r.ResetAfterCommit != post || !r.matches(c, op) {
			continue
		}
		r.seen++
		limit := r.Times
		if limit == 0 {
			limit = 1
		}
		if r.seen < r.Nth || (limit > 0 && r.fired >= limit) {
			continue
		}
		r.fired++
		return r
	}
	return nil
}
