// Package admins keeps the console's administrator accounts in the state
// store: a name, an argon2id hash of the password, whether the password
// must be changed at the next login, and the failed-login counter that
// locks an account for a while.
//
// # Passwords
//
// Hashes are argon2id (RFC 9106) in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so that the parameters can
// change without invalidating stored hashes. The parameters (19 MiB, two
// passes, one lane) are OWASP's minimum for argon2id, chosen for a
// 2-core appliance with a small memory budget; at most two hashes run at
// once so that a burst of logins cannot exhaust memory.
//
// A password is never stored, logged or returned; the one-time password
// of the first start is returned once by [Store.EnsureInitial] and the
// daemon prints it on stderr, not through the logger.
//
// # Lockout
//
// After [MaxFailures] wrong passwords in a row an account is locked for
// [LockFor]; a success resets the count. [Store.Authenticate] answers an
// unknown name, a wrong password and a locked account with the same
// [ErrBadCredentials] (it still hashes for an unknown name, so timing does
// not tell either), and reports the lock to the caller through
// [AuthResult] for the audit log only.
//
// # Keys
//
//	v1/admin/<name>   Admin (JSON)
package admins

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/ternmail/tern/core/internal/store"
)

// Policy.
const (
	// MinPasswordLength is the shortest password accepted, in characters.
	MinPasswordLength = 12
	// MaxPasswordLength bounds the work of one hash.
	MaxPasswordLength = 256
	// MaxFailures wrong passwords in a row lock an account…
	MaxFailures = 5
	// … for LockFor.
	LockFor = 15 * time.Minute
	// InitialName is the account created on the first start.
	InitialName = "admin"
)

// Errors.
var (
	// ErrBadCredentials: unknown name, wrong password or locked account.
	ErrBadCredentials = errors.New("wrong name or password, or the account is locked for a while")
	// ErrNotFound: no such administrator.
	ErrNotFound = errors.New("no such administrator")
	// ErrExists: an administrator of that name exists.
	ErrExists = errors.New("an administrator of that name exists")
	// ErrLastAdmin: the last administrator cannot be deleted.
	ErrLastAdmin = errors.New("the last administrator cannot be deleted")
	// ErrInvalid: a name or password that the policy refuses.
	ErrInvalid = errors.New("invalid")
)

// Admin is an administrator account, without its password.
type Admin struct {
	Name string `json:"name"`
	// Hash is the argon2id PHC string; never sent anywhere.
	Hash string `json:"hash"`
	// MustChange forces a new password at the next login.
	MustChange bool      `json:"must_change,omitempty"`
	Created    time.Time `json:"created"`
	// PasswordChanged is when the password was last set.
	PasswordChanged time.Time `json:"password_changed"`
	// LastLogin is the last successful login.
	LastLogin time.Time `json:"last_login,omitzero"`
	// Failures counts wrong passwords since the last success.
	Failures int `json:"failures,omitempty"`
	// LockedUntil is set when Failures reached MaxFailures.
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

// Locked reports whether the account is locked at t.
func (a *Admin) Locked(t time.Time) bool { return t.Before(a.LockedUntil) }

// Store keeps the administrators.
type Store struct {
	db  *store.DB
	mu  sync.Mutex // serialises read-modify-write of accounts
	now func() time.Time
}

// New returns the store of administrators kept in db.
func New(db *store.DB) *Store { return &Store{db: db, now: time.Now} }

// SetClock replaces the clock (tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

func key(name string) string { return store.Key("v1", "admin", name) }

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.@-]{0,63}$`)

// ValidName checks an administrator name.
func ValidName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w name %q: use 1 to 64 lower-case letters, digits, '.', '_', '@' and '-'", ErrInvalid, name)
	}
	return nil
}

// ValidPassword checks a new password against the policy.
func ValidPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLength:
		return fmt.Errorf("%w password: use at least %d characters", ErrInvalid, MinPasswordLength)
	case n > MaxPasswordLength:
		return fmt.Errorf("%w password: use at most %d characters", ErrInvalid, MaxPasswordLength)
	case strings.TrimSpace(pw) != pw:
		return fmt.Errorf("%w password: no spaces at the start or end", ErrInvalid)
	}
	return nil
}

// Get returns an administrator.
func (s *Store) Get(ctx context.Context, name string) (*Admin, error) {
	var a Admin
	if err := s.db.Get(ctx, key(name), &a); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
		}
		return nil, err
	}
	return &a, nil
}

// List returns every administrator, by name.
func (s *Store) List(ctx context.Context) ([]*Admin, error) {
	var out []*Admin
	err := s.db.Scan(ctx, "v1/admin/", func(_ string, v []byte) error {
		var a Admin
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		out = append(out, &a)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Create adds an administrator. mustChange forces a new password at the
// first login.
func (s *Store) Create(ctx context.Context, name, password string, mustChange bool) (*Admin, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := ValidPassword(password); err != nil {
		return nil, err
	}
	h, err := hashPassword(password)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.Get(ctx, name); err == nil {
		return nil, fmt.Errorf("%w: %q", ErrExists, name)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	now := s.now().UTC()
	a := &Admin{Name: name, Hash: h, MustChange: mustChange, Created: now, PasswordChanged: now}
	return a, s.db.Put(ctx, key(name), a)
}

// SetPassword sets a new password, unlocks the account, and sets whether
// it must be changed at the next login.
func (s *Store) SetPassword(ctx context.Context, name, password string, mustChange bool) error {
	if err := ValidPassword(password); err != nil {
		return err
	}
	h, err := hashPassword(password)
	if err != nil {
		return err
	}
	return s.update(ctx, name, func(a *Admin) {
		a.Hash, a.MustChange, a.PasswordChanged = h, mustChange, s.now().UTC()
		a.Failures, a.LockedUntil = 0, time.Time{}
	})
}

// ChangePassword replaces an administrator's password after checking the
// current one (the console's "change my password").
func (s *Store) ChangePassword(ctx context.Context, name, current, next string) error {
	a, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	if !checkPassword(a.Hash, current) {
		return fmt.Errorf("%w: the current password is wrong", ErrInvalid)
	}
	if current == next {
		return fmt.Errorf("%w password: choose a password different from the current one", ErrInvalid)
	}
	return s.SetPassword(ctx, name, next, false)
}

// Delete removes an administrator; the last one stays.
func (s *Store) Delete(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.Get(ctx, name); err != nil {
		return err
	}
	all, err := s.List(ctx)
	if err != nil {
		return err
	}
	if len(all) <= 1 {
		return ErrLastAdmin
	}
	return s.db.Delete(ctx, key(name))
}

func (s *Store) update(ctx context.Context, name string, fn func(*Admin)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	fn(a)
	return s.db.Put(ctx, key(name), a)
}

// AuthResult says what happened at a login, for the audit log.
type AuthResult struct {
	// Known is true when the name is an administrator.
	Known bool
	// Locked is true when the account was locked (before or by this
	// attempt).
	Locked bool
	// JustLocked is true when this attempt locked the account.
	JustLocked bool
}

// dummyHash is checked for unknown names so that they take as long as
// known ones.
var dummyHash = func() string {
	h, _ := hashPassword("not a password of anyone's")
	return h
}()

// Authenticate checks a login. It returns the administrator, or
// ErrBadCredentials for an unknown name, a wrong password or a locked
// account alike.
func (s *Store) Authenticate(ctx context.Context, name, password string) (*Admin, AuthResult, error) {
	var res AuthResult
	if len(password) > 4*MaxPasswordLength { // bytes; no hash of a megabyte
		password = password[:4*MaxPasswordLength]
	}
	a, err := s.Get(ctx, name)
	if errors.Is(err, ErrNotFound) {
		checkPassword(dummyHash, password)
		return nil, res, ErrBadCredentials
	}
	if err != nil {
		return nil, res, err
	}
	res.Known = true
	ok := checkPassword(a.Hash, password)
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, err = s.Get(ctx, name); err != nil { // fresh copy under the lock
		return nil, res, err
	}
	now := s.now().UTC()
	if a.Locked(now) {
		res.Locked = true
		return nil, res, ErrBadCredentials
	}
	if !ok {
		a.Failures++
		if a.Failures >= MaxFailures {
			a.LockedUntil, a.Failures = now.Add(LockFor), 0
			res.Locked, res.JustLocked = true, true
		}
		if err := s.db.Put(ctx, key(name), a); err != nil {
			return nil, res, err
		}
		return nil, res, ErrBadCredentials
	}
	a.Failures, a.LockedUntil, a.LastLogin = 0, time.Time{}, now
	if err := s.db.Put(ctx, key(name), a); err != nil {
		return nil, res, err
	}
	return a, res, nil
}

// Unlock clears an account's lock and failure count.
func (s *Store) Unlock(ctx context.Context, name string) error {
	return s.update(ctx, name, func(a *Admin) { a.Failures, a.LockedUntil = 0, time.Time{} })
}

// EnsureInitial creates the administrator InitialName with a random
// one-time password when there is no administrator at all. It returns the
// password when it created the account ("" otherwise); the caller shows
// it once and never logs it.
func (s *Store) EnsureInitial(ctx context.Context) (string, error) {
	all, err := s.List(ctx)
	if err != nil || len(all) > 0 {
		return "", err
	}
	pw := RandomPassword()
	if _, err := s.Create(ctx, InitialName, pw, true); err != nil {
		return "", err
	}
	return pw, nil
}

// RandomPassword returns a random password: 26 characters of base32
// (128 bits), easy to type from a terminal.
func RandomPassword() string { return rand.Text() }

// argon2id parameters (see the package doc).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// hashing bounds the hashes running at once.
var hashing = make(chan struct{}, 2)

func argonKey(pw string, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	hashing <- struct{}{}
	defer func() { <-hashing }()
	return argon2.IDKey([]byte(pw), salt, t, m, p, n)
}

func hashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	k := argonKey(pw, salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(k)), nil
}

// checkPassword compares pw with a PHC argon2id hash in constant time.
func checkPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<20 || t > 16 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argonKey(pw, salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
