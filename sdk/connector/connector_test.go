package connector_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/sdk/connector"
)

func TestErrorKinds(t *testing.T) {
	err := connector.Errorf(connector.KindAuth, "login as %q refused", "alice")
	if !errors.Is(err, connector.ErrAuth) {
		t.Fatalf("errors.Is(%v, ErrAuth) = false", err)
	}
	if errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("auth error matches ErrNotFound")
	}
	wrapped := fmt.Errorf("open mailbox: %w", err)
	if connector.KindOf(wrapped) != connector.KindAuth || connector.IsTemporary(wrapped) {
		t.Fatalf("wrapped auth error: kind %v temporary %v", connector.KindOf(wrapped), connector.IsTemporary(wrapped))
	}
	th := fmt.Errorf("append: %w", connector.Throttled(3*time.Second, "slow down"))
	if !errors.Is(th, connector.ErrThrottled) || !connector.IsTemporary(th) || connector.RetryAfter(th) != 3*time.Second {
		t.Fatalf("throttled: is %v temporary %v retry %v", errors.Is(th, connector.ErrThrottled), connector.IsTemporary(th), connector.RetryAfter(th))
	}
	if !connector.IsTemporary(errors.New("plain")) {
		t.Fatalf("unclassified errors must count as temporary")
	}
	if connector.IsTemporary(connector.ErrTooLarge) || connector.KindOf(connector.ErrTooLarge) != connector.KindTooLarge {
		t.Fatalf("sentinel ErrTooLarge misclassified")
	}
	inner := errors.New("connection reset")
	if e := connector.Errorf(connector.KindUnavailable, "fetch: %w", inner); e.Error() != "fetch: connection reset" || !errors.Is(e, inner) {
		t.Fatalf("Errorf with %%w: %q", e.Error())
	}
	cause := errors.New("eof")
	w := connector.Wrap(connector.KindUnavailable, "read", cause)
	if !errors.Is(w, cause) || !errors.Is(w, connector.ErrUnavailable) || w.Error() != "read: eof" {
		t.Fatalf("Wrap: %v", w)
	}
}

func TestCredentialNeverShowsSecret(t *testing.T) {
	c := connector.Credential{Mode: "password", Username: "alice", Secret: "hunter2-sekrit"}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("open", "cred", c)
	shown := []string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), buf.String(),
		fmt.Sprintf("%v", connector.OpenRequest{User: "alice", Credential: c}),
	}
	if b, err := c.MarshalJSON(); err == nil {
		shown = append(shown, string(b))
	}
	for _, s := range shown {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("secret shown: %s", s)
		}
		if !strings.Contains(s, "alice") {
			t.Fatalf("credential rendering lost the user name: %s", s)
		}
	}
}

func TestHeaderSectionAndFingerprint(t *testing.T) {
	cases := []struct {
		name, msg, header string
	}{
		{"crlf", "Subject: a\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n", "Subject: a\r\nMessage-ID: <x@y>\r\n\r\n"},
		{"lf", "Subject: a\nX: b\n\nbody\n\nmore\n", "Subject: a\nX: b\n\n"},
		{"headers only, no empty line", "Subject: a\r\nX: b\r\n", "Subject: a\r\nX: b\r\n"},
		{"empty header", "\r\nbody", "\r\n"},
		{"no line end", "Subject: a", "Subject: a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := connector.HeaderSection([]byte(c.msg))
			if string(got) != c.header {
				t.Fatalf("HeaderSection = %q, want %q", got, c.header)
			}
			r, err := connector.ReadHeaderSection(strings.NewReader(c.msg))
			if err != nil || string(r) != c.header {
				t.Fatalf("ReadHeaderSection = %q, %v; want %q", r, err, c.header)
			}
		})
	}
	a := connector.Fingerprint(10, []byte("Subject: a\r\n\r\n"))
	if a != connector.Fingerprint(10, []byte("Subject: a\r\n\r\n")) || !strings.HasPrefix(a, "v1:") || len(a) != 35 {
		t.Fatalf("fingerprint not stable or malformed: %q", a)
	}
	if a == connector.Fingerprint(11, []byte("Subject: a\r\n\r\n")) || a == connector.Fingerprint(10, []byte("Subject: b\r\n\r\n")) {
		t.Fatalf("fingerprint ignores size or header")
	}
}

func TestMessageIDOf(t *testing.T) {
	cases := map[string]string{
		"Subject: x\r\nMessage-ID: <a@b>\r\n\r\n":          "<a@b>",
		"message-id:<a@b>\n\n":                             "<a@b>",
		"Message-Id:\r\n <folded@b>\r\nSubject: y\r\n\r\n": "<folded@b>",
		"Subject: no id\r\n\r\n":                           "",
		"X-Message-ID: <no@b>\r\n\r\n":                     "",
	}
	for in, want := range cases {
		if got := connector.MessageIDOf([]byte(in)); got != want {
			t.Errorf("MessageIDOf(%q) = %q, want %q", in, got, want)
		}
	}
}
