package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
)

// Limits bound failed logins.
type Limits struct {
	// Account: after AccountFailures refused logins of one account within
	// AccountWindow, its logins are blocked for AccountBlock.
	AccountFailures int
	AccountWindow   time.Duration
	AccountBlock    time.Duration
	// Server: after ServerFailures refused logins on one server within
	// ServerWindow, all its logins are blocked for ServerBlock.
	ServerFailures int
	ServerWindow   time.Duration
	ServerBlock    time.Duration
}

// DefaultLimits are conservative: below the lockout thresholds of common
// servers (Dovecot's auth penalty starts at the first failure; Active
// Directory and many hosters lock accounts after 5 to 10 failures).
var DefaultLimits = Limits{
	AccountFailures: 3, AccountWindow: time.Hour, AccountBlock: time.Hour,
	ServerFailures: 20, ServerWindow: 10 * time.Minute, ServerBlock: 10 * time.Minute,
}

// record is what the guard keeps for an account or a server.
type record struct {
	Failures     []time.Time `json:"failures,omitempty"`
	BlockedUntil time.Time   `json:"blocked_until,omitempty"`
	LastReason   string      `json:"last_reason,omitempty"`
}

// ErrBlocked is returned (wrapped, with kind auth) for a login the guard
// does not let through.
var ErrBlocked = errors.New("login blocked after repeated failures")

// Guard counts refused logins per account and per server. It is safe for
// concurrent use; its records live in the store, so blocks outlast a run.
type Guard struct {
	db     *store.DB
	limits Limits
	now    func() time.Time
	mu     sync.Mutex
}

// NewGuard returns a guard keeping its records in db.
func NewGuard(db *store.DB, limits *Limits) *Guard {
	g := &Guard{db: db, limits: DefaultLimits, now: time.Now}
	if limits != nil {
		g.limits = *limits
	}
	return g
}

func accountKey(server, account string) string {
	return store.Key("v1", "authguard", server, "account", account)
}

func serverKey(server string) string { return store.Key("v1", "authguard", server, "server") }

func (g *Guard) load(ctx context.Context, key string) record {
	var r record
	if err := g.db.Get(ctx, key, &r); err != nil && !errors.Is(err, store.ErrNotFound) {
		return record{}
	}
	return r
}

// Check returns an error if logins of account on server are blocked.
func (g *Guard) Check(ctx context.Context, server, account string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if r := g.load(ctx, serverKey(server)); now.Before(r.BlockedUntil) {
		return &connector.Error{Kind: connector.KindAuth, Err: ErrBlocked, Message: fmt.Sprintf(
			"logins to %s are paused until %s after %d refused logins within %s (last: %s); Tern does not hammer servers",
			server, r.BlockedUntil.Format(time.RFC3339), g.limits.ServerFailures, g.limits.ServerWindow, r.LastReason)}
	}
	if r := g.load(ctx, accountKey(server, account)); now.Before(r.BlockedUntil) {
		return &connector.Error{Kind: connector.KindAuth, Err: ErrBlocked, Message: fmt.Sprintf(
			"logins as %s on %s are paused until %s after %d refused logins (last: %s); fix the credential, then run `tern auth unblock`",
			account, server, r.BlockedUntil.Format(time.RFC3339), g.limits.AccountFailures, r.LastReason)}
	}
	return nil
}

// Failed records a refused login.
func (g *Guard) Failed(ctx context.Context, server, account, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	bump := func(key string, limit int, window, block time.Duration) {
		r := g.load(ctx, key)
		kept := r.Failures[:0]
		for _, t := range r.Failures {
			if now.Sub(t) < window {
				kept = append(kept, t)
			}
		}
		r.Failures = append(kept, now)
		r.LastReason = reason
		if len(r.Failures) >= limit {
			r.BlockedUntil = now.Add(block)
		}
		g.db.Put(ctx, key, r)
	}
	bump(accountKey(server, account), g.limits.AccountFailures, g.limits.AccountWindow, g.limits.AccountBlock)
	bump(serverKey(server), g.limits.ServerFailures, g.limits.ServerWindow, g.limits.ServerBlock)
}

// Succeeded clears an account's failures.
func (g *Guard) Succeeded(ctx context.Context, server, account string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := accountKey(server, account)
	if r := g.load(ctx, key); len(r.Failures) > 0 || !r.BlockedUntil.IsZero() {
		g.db.Delete(ctx, key)
	}
}

// Unblock clears the records of account on server ("" clears the server's
// and every account's).
func (g *Guard) Unblock(ctx context.Context, server, account string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if account != "" {
		return g.db.Delete(ctx, accountKey(server, account))
	}
	prefix := store.Key("v1", "authguard", server) + "/"
	keys, err := g.db.Keys(ctx, prefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := g.db.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// Wrap returns c with every open call checked and counted by the guard;
// server names the server the connector reaches. describe, if not nil,
// says how a login was attempted; a refused login's error starts with it,
// so that the reason names the mode and the login.
func (g *Guard) Wrap(c connector.Connector, server string, describe func(cred connector.Credential, user string) string) connector.Connector {
	return &guarded{Connector: c, g: g, server: server, describe: describe}
}

type guarded struct {
	connector.Connector
	g        *Guard
	server   string
	describe func(connector.Credential, string) string
}

func (w *guarded) open(ctx context.Context, req *connector.OpenRequest, fn func() error) error {
	account := Account(req.Credential, req.User)
	how := func(err error) error {
		if w.describe == nil {
			return err
		}
		return fmt.Errorf("%s: %w", w.describe(req.Credential, req.User), err)
	}
	if err := w.g.Check(ctx, w.server, account); err != nil {
		return how(err)
	}
	err := fn()
	switch {
	case err == nil:
		w.g.Succeeded(ctx, w.server, account)
	case connector.KindOf(err) == connector.KindAuth:
		w.g.Failed(ctx, w.server, account, err.Error())
		return how(err)
	}
	return err
}

func (w *guarded) OpenSource(ctx context.Context, req *connector.OpenRequest) (s connector.Source, err error) {
	err = w.open(ctx, req, func() (err error) { s, err = w.Connector.OpenSource(ctx, req); return err })
	return s, err
}

func (w *guarded) OpenTarget(ctx context.Context, req *connector.OpenRequest) (t connector.Target, err error) {
	err = w.open(ctx, req, func() (err error) { t, err = w.Connector.OpenTarget(ctx, req); return err })
	return t, err
}

// Unwrap returns the guarded connector (for its optional interfaces).
func (w *guarded) Unwrap() connector.Connector { return w.Connector }
