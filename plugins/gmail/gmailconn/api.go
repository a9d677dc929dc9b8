package gmailconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/ternmail/tern/sdk/connector"
)

// api is one mailbox's access to the Gmail API: the service impersonating
// the user with one scope, the user's quota limiter and the retry policy.
type api struct {
	c       *Connector
	set     *Settings
	ts      *tokenSource
	svc     *gmail.Service
	hc      *http.Client
	quota   *quota
	key     *serviceKey
	subject string
	scope   string
	log     *slog.Logger
}

// newAPI builds the API access for subject with scope and checks that a
// token can be had (so that a refused delegation fails the open call).
func (c *Connector) newAPI(ctx context.Context, set *Settings, subject, secret, scope string) (*api, error) {
	base, err := set.baseTransport()
	if err != nil {
		return nil, err
	}
	ts, key, err := c.tokens.source(secret, subject, scope, base)
	if err != nil {
		return nil, err
	}
	if _, err := ts.Token(); err != nil {
		ts.invalidate() // a later open tries again
		return nil, tokenError(err, key, subject, scope)
	}
	hc := &http.Client{Transport: &traceTransport{log: c.log, base: &oauth2.Transport{Source: ts, Base: base}}}
	svc, err := gmail.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(set.Endpoint))
	if err != nil {
		return nil, connector.Wrap(connector.KindInvalid, "gmail: API client", err)
	}
	return &api{
		c: c, set: set, ts: ts, svc: svc, hc: hc, quota: c.quotas.get(strings.ToLower(subject), set.UnitsPerMinute),
		key: key, subject: subject, scope: scope, log: c.log.With("user", subject),
	}, nil
}

// callKind says whether a call may be repeated after an answer that does
// not prove it failed (a 5xx, a dropped connection).
type callKind int

const (
	// idempotent calls (reads, label look-ups, label changes) are retried
	// after server errors.
	idempotent callKind = iota
	// writes (import, label creation) are retried only after answers
	// that prove nothing happened (rate limits); after a server error the
	// caller decides (an import may have landed: the engine looks it up).
	write
)

// do runs one call of cost quota units: it waits for the user's quota,
// and retries rate-limit answers (and server errors of idempotent calls)
// with exponential backoff and jitter, up to Settings.MaxRetries. The
// error it returns is classified (connector.Error).
func (a *api) do(ctx context.Context, what string, cost int, kind callKind, fn func(ctx context.Context) error) error {
	refreshed := false
	for attempt := 1; ; attempt++ {
		if err := a.quota.wait(ctx, a.c.clock, cost); err != nil {
			return err
		}
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cl := a.classify(err, kind)
		if cl.status == http.StatusUnauthorized && !refreshed {
			// An access token that expired early or was revoked: get a
			// new one, once.
			refreshed = true
			a.ts.invalidate()
			continue
		}
		if cl.daily {
			until := nextDailyReset(a.c.clock.Now())
			a.quota.block(until, "Gmail's daily limit for "+a.subject+" is used up ("+cl.reason+")")
			return connector.Throttled(until.Sub(a.c.clock.Now()), "gmail: %s: daily limit exceeded (%s); the mailbox pauses until the quota resets at %s", what, cl.reason, until.UTC().Format(time.RFC3339))
		}
		if !cl.retry || attempt > a.set.MaxRetries {
			if cl.retry && cl.throttled {
				return connector.Throttled(max(cl.retryAfter, time.Minute), "gmail: %s: still rate-limited after %d tries: %s", what, attempt, cl.msg)
			}
			return cl.err
		}
		d := backoff(attempt, cl.retryAfter, a.c.jitter)
		a.log.Debug("gmail: retrying", "op", what, "attempt", attempt, "in", d, "err", cl.msg)
		if err := a.c.clock.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// classified is what do makes of a failed call.
type classified struct {
	err        error // the classified error
	msg        string
	status     int
	reason     string
	retry      bool // worth trying again in this call
	throttled  bool
	daily      bool
	retryAfter time.Duration
}

// classify turns a client error into a connector error and a retry
// decision. Kinds: 400 → permanent (a message too large → too large),
// 401/403 without a rate-limit reason → auth (a scope or policy to fix
// in the Admin console), 404 → not found, 409 → permanent (the caller
// handles label conflicts), 413 → too large, 403 rate limits and 429 →
// throttled, 5xx and network errors → temporary.
func (a *api) classify(err error, kind callKind) classified {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		cerr := tokenError(err, a.key, a.subject, a.scope)
		return classified{err: cerr, msg: cerr.Error(), retry: connector.IsTemporary(cerr) && kind == idempotent}
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		// No answer: a dropped connection, a timeout, a reset.
		msg := err.Error()
		return classified{
			err:   connector.Wrap(connector.KindTemporary, "gmail: no answer from the API", err),
			msg:   msg,
			retry: kind == idempotent,
		}
	}
	c := classified{status: ge.Code, msg: apiMessage(ge)}
	if len(ge.Errors) > 0 {
		c.reason = ge.Errors[0].Reason
	}
	if ra := ge.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(ra); err == nil && s > 0 {
			c.retryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			c.retryAfter = max(time.Until(t), 0)
		}
	}
	switch {
	case ge.Code == http.StatusForbidden && (c.reason == "dailyLimitExceeded" || c.reason == "quotaExceeded"):
		c.daily = true
		c.throttled = true
	case ge.Code == http.StatusForbidden && (c.reason == "userRateLimitExceeded" || c.reason == "rateLimitExceeded"),
		ge.Code == http.StatusTooManyRequests:
		c.throttled, c.retry = true, true
		c.err = connector.Throttled(max(c.retryAfter, time.Second), "gmail: rate limited: %s", c.msg)
	case ge.Code == http.StatusUnauthorized:
		c.err = connector.Errorf(connector.KindAuth, "gmail: the access token for %s was refused: %s", a.subject, c.msg)
	case ge.Code == http.StatusForbidden && c.reason == "domainPolicy":
		c.err = connector.Errorf(connector.KindAuth, "gmail: the domain's policy forbids API access for %s: %s (allow the Gmail API for the domain in the Admin console)", a.subject, c.msg)
	case ge.Code == http.StatusForbidden:
		c.err = connector.Errorf(connector.KindAuth, "gmail: access denied for %s: %s (check that the service account %s has domain-wide delegation for %s in the Admin console, Security → API controls)", a.subject, c.msg, a.key.ClientEmail, a.scope)
	case ge.Code == http.StatusNotFound:
		c.err = connector.Errorf(connector.KindNotFound, "gmail: not found: %s (%w)", c.msg, httpStatus(ge.Code))
	case ge.Code == http.StatusRequestEntityTooLarge, ge.Code == http.StatusBadRequest && tooLargeText(c.msg):
		c.err = connector.Errorf(connector.KindTooLarge, "gmail: the message is too large for Gmail: %s", c.msg)
	case ge.Code >= 500:
		c.retry = kind == idempotent
		c.err = connector.Errorf(connector.KindTemporary, "gmail: server error %d: %s", ge.Code, c.msg)
	default:
		c.err = connector.Errorf(connector.KindPermanent, "gmail: refused: %s (%w)", c.msg, httpStatus(ge.Code))
	}
	if c.err == nil {
		c.err = connector.Throttled(c.retryAfter, "gmail: %s", c.msg)
	}
	return c
}

func apiMessage(ge *googleapi.Error) string {
	msg := ge.Message
	if msg == "" && len(ge.Errors) > 0 {
		msg = ge.Errors[0].Message
	}
	if msg == "" {
		msg = http.StatusText(ge.Code)
	}
	if len(ge.Errors) > 0 && ge.Errors[0].Reason != "" {
		msg = fmt.Sprintf("%s [%s]", msg, ge.Errors[0].Reason)
	}
	return msg
}

func tooLargeText(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "too large") || strings.Contains(s, "size limit") || strings.Contains(s, "exceeds")
}

// httpStatus is the HTTP status of a refusal, kept in classified errors'
// chains for the callers that act on it (409 label conflicts).
type httpStatus int

func (h httpStatus) Error() string { return "HTTP " + strconv.Itoa(int(h)) }

// statusOf returns the HTTP status in a classified error's chain, 0 if
// none.
func statusOf(err error) int {
	var h httpStatus
	if errors.As(err, &h) {
		return int(h)
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// traceTransport logs each API request at trace level, without headers
// (the bearer token) and without bodies.
type traceTransport struct {
	log  *slog.Logger
	base http.RoundTripper
}

func (t *traceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.base.RoundTrip(r)
	if t.log.Enabled(r.Context(), connector.LevelTrace) {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.log.Log(r.Context(), connector.LevelTrace, "gmail api", "method", r.Method, "path", r.URL.Path, "upload", r.URL.Query().Get("uploadType"), "status", status, "took", time.Since(start).Round(time.Millisecond), "err", err)
	}
	return res, err
}
