package imapkit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/sdk/connector"
)

// maxBackoff caps a server's backoff hint, so that a garbled or hostile
// number cannot park a mailbox for days.
const maxBackoff = time.Hour

// ParseBackoff finds Microsoft 365's throttling hint in a response text,
// such as "Request is throttled. Suggested Backoff Time: 2000 milliseconds",
// and returns it. The unit defaults to milliseconds (the only one Exchange
// Online uses); "seconds" is understood too. Hints above an hour are capped.
func ParseBackoff(text string) (time.Duration, bool) {
	const marker = "suggested backoff time"
	i := indexFold(text, marker)
	if i < 0 {
		return 0, false
	}
	rest := text[i+len(marker):]
	rest = strings.TrimLeft(rest, " \t")
	rest = strings.TrimPrefix(rest, ":")
	rest = strings.TrimLeft(rest, " \t")
	var n int64
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		if n < int64(maxBackoff/time.Millisecond) {
			n = n*10 + int64(rest[digits]-'0')
		}
		digits++
	}
	if digits == 0 {
		return 0, false
	}
	unit := strings.ToLower(strings.TrimLeft(rest[digits:], " \t"))
	d := time.Duration(n) * time.Millisecond
	if strings.HasPrefix(unit, "sec") {
		d = time.Duration(min(n, int64(maxBackoff/time.Second))) * time.Second
	}
	return min(d, maxBackoff), true
}

// indexFold is strings.Index, ignoring ASCII case.
func indexFold(s, substr string) int {
	n := len(substr)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], substr) {
			return i
		}
	}
	return -1
}

// ResponseKind classifies a NO, BAD or BYE response by its response code
// (RFC 5530 and friends). Responses without a code that says otherwise are
// KindPermanent: the command failed for this item and will fail again.
func ResponseKind(e *imap.Error) connector.Kind {
	if e.Type == imap.StatusResponseTypeBye {
		return connector.KindUnavailable
	}
	switch strings.ToUpper(string(e.Code)) {
	case string(imap.ResponseCodeAuthenticationFailed), string(imap.ResponseCodeAuthorizationFailed),
		string(imap.ResponseCodeExpired), string(imap.ResponseCodeContactAdmin):
		return connector.KindAuth
	case string(imap.ResponseCodeNonExistent), string(imap.ResponseCodeTryCreate):
		return connector.KindNotFound
	case string(imap.ResponseCodeTooBig):
		return connector.KindTooLarge
	case "THROTTLED":
		return connector.KindThrottled
	case string(imap.ResponseCodeUnavailable), string(imap.ResponseCodeInUse),
		string(imap.ResponseCodeServerBug), string(imap.ResponseCodeOverQuota):
		// OVERQUOTA: the contract has no quota kind; the mailbox may get
		// room again (the admin raises the quota), so core retries later.
		return connector.KindTemporary
	case string(imap.ResponseCodePrivacyRequired):
		return connector.KindInvalid
	}
	return connector.KindPermanent
}

// Describe renders a response for humans: "NO [NONEXISTENT] Mailbox
// doesn't exist: X".
func Describe(e *imap.Error) string {
	var b strings.Builder
	b.WriteString(string(e.Type))
	if e.Code != "" {
		b.WriteString(" [")
		b.WriteString(string(e.Code))
		b.WriteString("]")
	}
	if e.Text != "" {
		b.WriteString(" ")
		b.WriteString(e.Text)
	}
	return b.String()
}

// FromResponse turns a server's refusal into a classified error whose
// message starts with what (the operation, e.g. `select "INBOX"`).
// Throttling hints in the text win over the response code.
// The server's response stays in the error chain: [Response] finds it.
func FromResponse(e *imap.Error, what string) error {
	if d, ok := ParseBackoff(e.Text); ok {
		return &connector.Error{Kind: connector.KindThrottled, Message: what + ": server is throttling", RetryAfter: d, Err: responseError{e}}
	}
	return &connector.Error{Kind: ResponseKind(e), Message: what + ": server said", Err: responseError{e}}
}

// responseError shows a response as Describe does, without go-imap's
// "imap:" prefix.
type responseError struct{ r *imap.Error }

func (e responseError) Error() string { return Describe(e.r) }
func (e responseError) Unwrap() error { return e.r }

// Response returns the server response in err's chain, or nil.
func Response(err error) *imap.Error {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie
	}
	return nil
}

// errInterrupted is the I/O error of a connection whose context ended.
var errInterrupted = errors.New("operation interrupted")

// classifyIO classifies an error that is not a server response: a broken
// or unusable connection. bye is the text of the server's last BYE, if any.
func classifyIO(err error, what, bye string) error {
	if bye != "" {
		if d, ok := ParseBackoff(bye); ok {
			return &connector.Error{Kind: connector.KindThrottled, Message: what + ": server closed the connection: BYE " + bye, RetryAfter: d}
		}
		return &connector.Error{Kind: connector.KindUnavailable, Message: what + ": server closed the connection: BYE " + bye, Err: err}
	}
	if certErr := certificateError(err); certErr != "" {
		return &connector.Error{Kind: connector.KindInvalid, Message: what + ": " + certErr}
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return connector.Wrap(connector.KindUnavailable, what+": server did not answer in time", err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return connector.Wrap(connector.KindUnavailable, what+": connection closed", err)
	}
	return connector.Wrap(connector.KindUnavailable, what+": connection failed", err)
}

// certificateError explains a TLS certificate verification failure, or
// returns "" if err is not one.
func certificateError(err error) string {
	var (
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalid     x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknownAuth):
		return fmt.Sprintf("TLS certificate of the server is not trusted: %v (set ca_file to the CA that signed it, or, for tests only, insecure_skip_verify)", unknownAuth)
	case errors.As(err, &hostErr):
		return fmt.Sprintf("TLS certificate does not match the host name: %v (connect with the name in the certificate)", hostErr)
	case errors.As(err, &invalid):
		return fmt.Sprintf("TLS certificate is invalid: %v", invalid)
	case errors.As(err, &verifyErr):
		return fmt.Sprintf("TLS certificate verification failed: %v", verifyErr.Err)
	}
	return ""
}

// ctxErr returns the context's error, wrapped with what, or nil.
func ctxErr(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
