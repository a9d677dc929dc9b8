package connector

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by what the caller should do about it.
type Kind int

// The kinds. Their numbers are part of the wire protocol.
const (
	// KindUnknown is an unclassified error; callers treat it as temporary.
	KindUnknown Kind = iota
	// KindAuth: the credential was refused. Retrying with the same one is
	// pointless and may lock the account.
	KindAuth
	// KindNotFound: the folder or message does not exist (any more).
	KindNotFound
	// KindThrottled: the system asks us to slow down; see RetryAfter.
	KindThrottled
	// KindTooLarge: the message exceeds what the target accepts.
	KindTooLarge
	// KindPermanent: this item will fail the same way every time.
	KindPermanent
	// KindTemporary: a transient failure; try again later.
	KindTemporary
	// KindInvalid: the settings or the request are wrong.
	KindInvalid
	// KindUnsupported: the connector does not do this.
	KindUnsupported
	// KindUnavailable: the connection or session is gone (a dropped
	// connection, a restarted plugin); open a new session and try again.
	KindUnavailable
)

var kindNames = [...]string{
	KindUnknown:     "unknown",
	KindAuth:        "auth",
	KindNotFound:    "not found",
	KindThrottled:   "throttled",
	KindTooLarge:    "too large",
	KindPermanent:   "permanent",
	KindTemporary:   "temporary",
	KindInvalid:     "invalid",
	KindUnsupported: "unsupported",
	KindUnavailable: "unavailable",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// MarshalText writes the kind's name (JSON reports say "auth", not 1).
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown error kind %q", b)
}

// kindError is the sentinel of a kind.
type kindError Kind

func (e kindError) Error() string { return Kind(e).String() }

// Sentinels, one per kind, for errors.Is.
var (
	ErrAuth        error = kindError(KindAuth)
	ErrNotFound    error = kindError(KindNotFound)
	ErrThrottled   error = kindError(KindThrottled)
	ErrTooLarge    error = kindError(KindTooLarge)
	ErrPermanent   error = kindError(KindPermanent)
	ErrTemporary   error = kindError(KindTemporary)
	ErrInvalid     error = kindError(KindInvalid)
	ErrUnsupported error = kindError(KindUnsupported)
	ErrUnavailable error = kindError(KindUnavailable)
)

// Error is a classified error. It matches its kind's sentinel with
// errors.Is and wraps the cause, if any.
type Error struct {
	// Kind classifies the error.
	Kind Kind
	// Message says what happened, for humans. It never holds a secret.
	Message string
	// RetryAfter is the system's hint for throttled errors, 0 if none.
	RetryAfter time.Duration
	// Err is the cause, if any (not sent over the wire; its text is part of
	// Message).
	Err error

	// complete says Message already holds Err's text (Errorf with %w).
	complete bool
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Err != nil && !e.complete {
		if msg == "" {
			msg = e.Err.Error()
		} else {
			msg += ": " + e.Err.Error()
		}
	}
	if msg == "" {
		msg = e.Kind.String()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of e's kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(kindError)
	return ok && Kind(k) == e.Kind
}

// Errorf returns an error of kind k with a formatted message; %w wraps.
func Errorf(k Kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: k, Message: err.Error(), Err: errors.Unwrap(err), complete: true}
}

// Wrap classifies err as kind k with a message prefix; nil stays nil.
func Wrap(k Kind, msg string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Message: msg, Err: err}
}

// Throttled returns a throttling error with a retry-after hint.
func Throttled(retryAfter time.Duration, format string, args ...any) error {
	return &Error{Kind: KindThrottled, Message: fmt.Sprintf(format, args...), RetryAfter: retryAfter}
}

// KindOf returns the kind of err: the kind of the first *Error or sentinel
// in its chain, KindUnknown if there is none.
func KindOf(err error) Kind {
	if err == nil {
		return KindUnknown
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var k kindError
	if errors.As(err, &k) {
		return Kind(k)
	}
	return KindUnknown
}

// IsTemporary reports whether trying again later may succeed: temporary,
// throttled, unavailable and unclassified errors are; auth, not found, too
// large, permanent, invalid and unsupported errors are not, and neither is
// a cancelled context.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	switch KindOf(err) {
	case KindUnknown, KindTemporary, KindThrottled, KindUnavailable:
		return true
	}
	return false
}

// RetryAfter returns the retry-after hint in err's chain, 0 if none.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
