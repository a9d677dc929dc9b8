package mailer

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ternmail/tern/core/internal/testkit"
	"github.com/ternmail/tern/internal/testserver"
)

func newMailer(t *testing.T) *Mailer {
	t.Helper()
	db, sec := testkit.Stores(t)
	return New(db, sec)
}

// Delivery through the real Postfix of the test servers, into a real
// mailbox: implicit TLS and STARTTLS, verified against the test CA, with
// AUTH; a wrong password, an untrusted certificate and a refused
// recipient give clear errors.
func TestSendThroughPostfix(t *testing.T) {
	testserver.Ensure(t)
	ctx := context.Background()
	m := newMailer(t)
	px := testserver.Postfix
	for _, c := range []struct {
		tls  string
		port int
	}{{"implicit", px.TLSPort}, {"starttls", px.Port}} {
		st := &Settings{Host: px.Host, Port: c.port, TLS: c.tls, CAFile: testserver.CAFile(), Username: px.User, From: "tern@" + px.Domain, FromName: "Tern"}
		if err := m.Save(ctx, st, px.Password, false); err != nil {
			t.Fatal(err)
		}
		user := testserver.User(t, "mailer")
		subject := "Grüße über " + c.tls
		if err := m.Send(ctx, Message{To: testserver.MailAddress(user), Subject: subject, Text: "Hallo,\n.dot line\nbye\n"}); err != nil {
			t.Fatalf("%s: %v", c.tls, err)
		}
		raw := testserver.WaitForMail(t, testserver.DovecotSrc, user, nil, 20e9)
		if !bytes.Contains(raw, []byte("Auto-Submitted: auto-generated")) || !bytes.Contains(raw, []byte("\r\n.dot line\r\n")) || !bytes.Contains(raw, []byte(`From: "Tern" <tern@test.example>`)) {
			t.Fatalf("%s: delivered message:\n%s", c.tls, raw)
		}
	}
	fail := func(what string, st *Settings, pw, to, want string) {
		t.Helper()
		if err := m.Save(ctx, st, pw, false); err != nil {
			t.Fatal(err)
		}
		err := m.Send(ctx, Message{To: to, Subject: "x", Text: "x"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", what, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "wrong-pw") {
			t.Errorf("%s: the password is in the error", what)
		}
	}
	base := Settings{Host: px.Host, Port: px.TLSPort, TLS: "implicit", CAFile: testserver.CAFile(), Username: px.User, From: "tern@" + px.Domain}
	s1 := base
	fail("wrong password", &s1, "wrong-pw", testserver.MailAddress("x"), "login as tern-mailer refused")
	s2 := base
	s2.CAFile = ""
	fail("untrusted certificate", &s2, px.Password, testserver.MailAddress("x"), "certificate")
	s3 := base
	fail("foreign recipient", &s3, px.Password, "someone@elsewhere.example", "RCPT TO")
}
