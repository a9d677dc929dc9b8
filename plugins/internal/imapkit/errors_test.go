package imapkit

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/sdk/connector"
)

// Response texts as servers send them. The Microsoft 365 ones are the
// shapes Exchange Online uses for throttled IMAP sessions.
var backoffCases = []struct {
	text string
	want time.Duration
	ok   bool
}{
	{"Request is throttled. Suggested Backoff Time: 2000 milliseconds", 2 * time.Second, true},
	{"Request is throttled. Suggested Backoff Time: 58347 milliseconds", 58347 * time.Millisecond, true},
	{"User is authenticated but not connected. Suggested Backoff Time: 500 milliseconds", 500 * time.Millisecond, true},
	{"Server Unavailable. 15; Suggested Backoff Time: 1 milliseconds", time.Millisecond, true},
	{"suggested backoff time:30 seconds", 30 * time.Second, true},
	{"Suggested Backoff Time: 12", 12 * time.Millisecond, true},
	{"Suggested Backoff Time: 99999999999999999999 milliseconds", time.Hour, true},
	{"Suggested Backoff Time: 86400 seconds", time.Hour, true},
	{"Suggested Backoff Time: soon", 0, false},
	{"Authentication failed.", 0, false},
	{"", 0, false},
}

func TestParseBackoff(t *testing.T) {
	for _, c := range backoffCases {
		got, ok := ParseBackoff(c.text)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseBackoff(%q) = %v, %v; want %v, %v", c.text, got, ok, c.want, c.ok)
		}
	}
}

func FuzzParseBackoff(f *testing.F) {
	for _, c := range backoffCases {
		f.Add(c.text)
	}
	f.Add("* BYE Request is throttled. Suggested Backoff Time: 4294967296 milliseconds")
	f.Add("Suggested Backoff Time:\t-5 milliseconds")
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseBackoff(s)
		if d < 0 || d > maxBackoff {
			t.Fatalf("ParseBackoff(%q) = %v, outside [0, %v]", s, d, maxBackoff)
		}
		if ok && indexFold(s, "suggested backoff time") < 0 {
			t.Fatalf("ParseBackoff(%q) found a hint without the marker", s)
		}
	})
}

func TestResponseKind(t *testing.T) {
	cases := []struct {
		resp imap.Error
		want connector.Kind
	}{
		{imap.Error{Type: "NO", Code: "AUTHENTICATIONFAILED", Text: "Authentication failed."}, connector.KindAuth},
		{imap.Error{Type: "NO", Code: "NONEXISTENT", Text: "Mailbox doesn't exist: X"}, connector.KindNotFound},
		{imap.Error{Type: "NO", Code: "TRYCREATE", Text: "Mailbox doesn't exist: X"}, connector.KindNotFound},
		{imap.Error{Type: "NO", Code: "TOOBIG", Text: "Message too large"}, connector.KindTooLarge},
		{imap.Error{Type: "NO", Code: "OVERQUOTA", Text: "Quota exceeded"}, connector.KindTemporary},
		{imap.Error{Type: "NO", Code: "UNAVAILABLE", Text: "Backend down"}, connector.KindTemporary},
		{imap.Error{Type: "NO", Code: "SERVERBUG", Text: "Internal error"}, connector.KindTemporary},
		{imap.Error{Type: "NO", Code: "PRIVACYREQUIRED", Text: "Use TLS"}, connector.KindInvalid},
		{imap.Error{Type: "NO", Text: "Some other refusal"}, connector.KindPermanent},
		{imap.Error{Type: "BAD", Text: "Error in IMAP command"}, connector.KindPermanent},
		{imap.Error{Type: "BYE", Text: "Shutting down"}, connector.KindUnavailable},
	}
	for _, c := range cases {
		if got := ResponseKind(&c.resp); got != c.want {
			t.Errorf("ResponseKind(%s) = %v, want %v", Describe(&c.resp), got, c.want)
		}
	}
}

func TestFromResponse(t *testing.T) {
	err := FromResponse(&imap.Error{Type: "NO", Code: "NONEXISTENT", Text: "Mailbox doesn't exist: Foo"}, `select "Foo"`)
	if !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("%v is not ErrNotFound", err)
	}
	if want := `select "Foo": server said: NO [NONEXISTENT] Mailbox doesn't exist: Foo`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if r := Response(err); r == nil || r.Code != "NONEXISTENT" {
		t.Errorf("Response(err) = %v", r)
	}
	err = FromResponse(&imap.Error{Type: "NO", Text: "Request is throttled. Suggested Backoff Time: 1500 milliseconds"}, "append")
	if !errors.Is(err, connector.ErrThrottled) || connector.RetryAfter(err) != 1500*time.Millisecond {
		t.Errorf("throttled response: %v (retry after %v)", err, connector.RetryAfter(err))
	}
}

func TestClassifyIO(t *testing.T) {
	err := classifyIO(io.ErrUnexpectedEOF, "fetch", "Request is throttled. Suggested Backoff Time: 3000 milliseconds")
	if !errors.Is(err, connector.ErrThrottled) || connector.RetryAfter(err) != 3*time.Second {
		t.Errorf("BYE with backoff: %v", err)
	}
	if err := classifyIO(io.ErrUnexpectedEOF, "fetch", "Autologout"); !errors.Is(err, connector.ErrUnavailable) || !strings.Contains(err.Error(), "BYE Autologout") {
		t.Errorf("BYE: %v", err)
	}
	if err := classifyIO(&net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, "fetch", ""); !errors.Is(err, connector.ErrUnavailable) {
		t.Errorf("reset: %v", err)
	}
}
