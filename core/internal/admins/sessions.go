package admins

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/ternmail/tern/core/internal/store"
)

// Session is a console login, kept on the server. The browser holds only
// the random ID; the store holds the session under the SHA-256 of the ID,
// so a copy of the store does not hold live session IDs.
//
//	v1/session/<hex sha256(id)>   Session (JSON)
type Session struct {
	Admin string `json:"admin"`
	// CSRF is the session's anti-forgery token.
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Seen    time.Time `json:"seen"`
	// Flashes are messages for the next page.
	Flashes []Flash `json:"flashes,omitempty"`

	key string // store key
}

// Flash is a one-time message.
type Flash struct {
	Kind    string `json:"kind"` // success, error, info
	Message string `json:"message"`
}

// ErrNoSession: unknown or expired session.
var ErrNoSession = errors.New("no such session")

// Sessions keeps console sessions with an idle and an absolute expiry.
type Sessions struct {
	db *store.DB
	// Idle ends a session unused for that long; Absolute ends any session
	// that old.
	Idle, Absolute time.Duration
	now            func() time.Time
}

// Default expiries.
const (
	DefaultIdle     = 30 * time.Minute
	DefaultAbsolute = 12 * time.Hour
	// touchEvery bounds the writes made to record activity.
	touchEvery = time.Minute
)

// NewSessions returns the sessions kept in db, with the default expiries.
func NewSessions(db *store.DB) *Sessions {
	return &Sessions{db: db, Idle: DefaultIdle, Absolute: DefaultAbsolute, now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *Sessions) SetClock(now func() time.Time) { s.now = now }

func sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return store.Key("v1", "session", hex.EncodeToString(h[:]))
}

// Token returns a random token (session IDs, CSRF tokens): 32 bytes, hex.
func Token() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Create starts a session for admin and returns its ID.
func (s *Sessions) Create(ctx context.Context, admin string) (string, *Session, error) {
	id := Token()
	now := s.now().UTC()
	ss := &Session{Admin: admin, CSRF: Token(), Created: now, Seen: now, key: sessionKey(id)}
	return id, ss, s.db.Put(ctx, ss.key, ss)
}

// Get returns the live session of id, recording the activity; an expired
// one is deleted and reported as ErrNoSession.
func (s *Sessions) Get(ctx context.Context, id string) (*Session, error) {
	return s.get(ctx, id, true)
}

// Peek is Get without counting as activity: for requests a page makes by
// itself (live progress polling), so that an open page does not keep an
// unattended session alive.
func (s *Sessions) Peek(ctx context.Context, id string) (*Session, error) {
	return s.get(ctx, id, false)
}

func (s *Sessions) get(ctx context.Context, id string, touch bool) (*Session, error) {
	if len(id) != 64 {
		return nil, ErrNoSession
	}
	var ss Session
	k := sessionKey(id)
	if err := s.db.Get(ctx, k, &ss); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNoSession
		}
		return nil, err
	}
	ss.key = k
	now := s.now()
	if s.expired(&ss, now) {
		s.db.Delete(ctx, k)
		return nil, ErrNoSession
	}
	if touch && now.Sub(ss.Seen) >= touchEvery {
		ss.Seen = now.UTC()
		if err := s.db.Put(ctx, k, &ss); err != nil {
			return nil, err
		}
	}
	return &ss, nil
}

func (s *Sessions) expired(ss *Session, now time.Time) bool {
	return now.Sub(ss.Seen) > s.Idle || now.Sub(ss.Created) > s.Absolute
}

// Save writes a session back (after adding or taking flashes).
func (s *Sessions) Save(ctx context.Context, ss *Session) error {
	if ss.key == "" {
		return ErrNoSession
	}
	return s.db.Put(ctx, ss.key, ss)
}

// Delete ends a session (logout).
func (s *Sessions) Delete(ctx context.Context, ss *Session) error {
	if ss == nil || ss.key == "" {
		return nil
	}
	return s.db.Delete(ctx, ss.key)
}

// DeleteFor ends every session of admin except keep (nil for all): after
// a password change or reset, or when the account is deleted.
func (s *Sessions) DeleteFor(ctx context.Context, admin string, keep *Session) error {
	return s.sweep(ctx, func(ss *Session) bool {
		return ss.Admin == admin && (keep == nil || ss.key != keep.key)
	})
}

// Sweep deletes the expired sessions.
func (s *Sessions) Sweep(ctx context.Context) error {
	now := s.now()
	return s.sweep(ctx, func(ss *Session) bool { return s.expired(ss, now) })
}

func (s *Sessions) sweep(ctx context.Context, drop func(*Session) bool) error {
	var keys []string
	err := s.db.Scan(ctx, "v1/session/", func(k string, v []byte) error {
		var ss Session
		if json.Unmarshal(v, &ss) != nil {
			keys = append(keys, k)
			return nil
		}
		ss.key = k
		if drop(&ss) {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.db.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
