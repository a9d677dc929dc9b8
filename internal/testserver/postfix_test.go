package testserver_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/testserver"
)

// postfixTLS is the test CA's TLS configuration for Postfix's host name.
func postfixTLS(t *testing.T) *tls.Config {
	t.Helper()
	tc, err := testserver.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	tc.ServerName = testserver.Postfix.Host
	return tc
}

// dialPostfix connects to Postfix: implicit TLS on its submissions port,
// or its plain port upgraded with STARTTLS (starttls) or not. TLS is
// verified against the test CA. The client is closed when the test ends.
func dialPostfix(t *testing.T, implicit, starttls bool) *smtp.Client {
	t.Helper()
	pf := testserver.Postfix
	var c *smtp.Client
	var err error
	if implicit {
		conn, derr := tls.Dial("tcp", pf.TLSAddr(), postfixTLS(t))
		if derr != nil {
			t.Fatalf("dial %s: %v", pf.TLSAddr(), derr)
		}
		c, err = smtp.NewClient(conn, pf.Host)
	} else {
		c, err = smtp.Dial(pf.Addr())
	}
	if err != nil {
		t.Fatalf("connect to Postfix: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if starttls {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			t.Fatal("Postfix does not offer STARTTLS")
		}
		if err := c.StartTLS(postfixTLS(t)); err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
	}
	if implicit || starttls {
		if st, ok := c.TLSConnectionState(); !ok || len(st.VerifiedChains) == 0 {
			t.Fatal("the TLS connection was not verified against the test CA")
		}
	}
	return c
}

// invitation is a message with a unique Message-ID, and a body that has
// a dot-stuffed line, 8-bit UTF-8 and a long line: Postfix and Dovecot
// must deliver it byte for byte.
func invitation(t *testing.T, to string) (msg []byte, msgID string) {
	msgID = fmt.Sprintf("<%s@tern.test>", testserver.User(t, "msgid"))
	hdr := []string{
		"From: Tern <" + testserver.Postfix.User + "@" + testserver.Postfix.Domain + ">",
		"To: <" + to + ">",
		"Subject: You are invited to migrate your mailbox",
		"Message-ID: " + msgID,
		"Date: " + time.Now().Format(time.RFC1123Z),
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: 8bit",
	}
	body := "Hello,\r\n\r\n.a line starting with a dot\r\n..and two\r\nGrüße aus Zürich — ✓\r\n" +
		strings.Repeat("x", 900) + "\r\n.\r\nthe end\r\n"
	return []byte(strings.Join(hdr, "\r\n") + "\r\n\r\n" + body), msgID
}

// send sends msg from from to every address in to, and quits.
func send(c *smtp.Client, from string, to []string, msg []byte) error {
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	return c.Quit()
}

// withMessageID matches the message whose header holds msgID.
func withMessageID(msgID string) func([]byte) bool {
	return func(raw []byte) bool { return bytes.Contains(raw, []byte("\r\nMessage-ID: "+msgID+"\r\n")) }
}

// checkDelivered checks that got, as served by IMAP, has every header
// line of sent and exactly its body, and the Received lines of its way:
// Postfix's and Dovecot's LMTP.
func checkDelivered(t *testing.T, got, sent []byte) {
	t.Helper()
	gotHdr, gotBody, ok := bytes.Cut(got, []byte("\r\n\r\n"))
	sentHdr, sentBody, _ := bytes.Cut(sent, []byte("\r\n\r\n"))
	if !ok || !bytes.Equal(gotBody, sentBody) {
		t.Errorf("the body arrived changed:\n got %q\nwant %q", gotBody, sentBody)
	}
	for _, l := range strings.Split(string(sentHdr), "\r\n") {
		if !strings.Contains("\r\n"+string(gotHdr)+"\r\n", "\r\n"+l+"\r\n") {
			t.Errorf("header line %q missing or changed in\n%s", l, gotHdr)
		}
	}
	if !strings.Contains(string(gotHdr), "by mail."+testserver.Postfix.Domain+" (Postfix)") {
		t.Errorf("no Received line of Postfix in\n%s", gotHdr)
	}
	if !strings.Contains(string(gotHdr), " with LMTP\r\n") {
		t.Errorf("no Received line of Dovecot's LMTP in\n%s", gotHdr)
	}
}

// smtpCode is the reply code of an SMTP error, 0 for another error.
func smtpCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// TestPostfixDelivers sends through the real Postfix, over STARTTLS with
// AUTH PLAIN, over implicit TLS with AUTH PLAIN, and in plain text without
// AUTH (allowed for its own domain), to two fresh users, one by its
// address and one by its bare name, and finds the message byte for byte
// in both INBOXes on DovecotSrc over IMAP.
func TestPostfixDelivers(t *testing.T) {
	t.Parallel()
	testserver.Ensure(t)
	pf := testserver.Postfix
	for _, tt := range []struct {
		name               string
		implicit, starttls bool
		auth               bool
	}{
		{"starttls", false, true, true},
		{"submissions", true, false, true},
		{"plain-no-auth", false, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			user, bare := testserver.User(t, "postfix-"+tt.name), testserver.User(t, "postfix-bare")
			c := dialPostfix(t, tt.implicit, tt.starttls)
			if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(mechs, "PLAIN") {
				t.Fatalf("Postfix offers no AUTH PLAIN (%q)", mechs)
			}
			if tt.auth {
				if err := c.Auth(smtp.PlainAuth("", pf.User, pf.Password, pf.Host)); err != nil {
					t.Fatalf("AUTH PLAIN as %s: %v", pf.User, err)
				}
			}
			msg, id := invitation(t, testserver.MailAddress(user))
			start := time.Now()
			if err := send(c, pf.User+"@"+pf.Domain, []string{testserver.MailAddress(user), bare}, msg); err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{user, bare} {
				got := testserver.WaitForMail(t, pf.Mailboxes, u, withMessageID(id), 15*time.Second)
				checkDelivered(t, got, msg)
			}
			t.Logf("delivered to both INBOXes in %v", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestPostfixRefuses checks Postfix's refusals: a wrong password, a
// password of the src Dovecot (Postfix's SASL is its own), relaying to
// another domain without AUTH, and any mail on the submissions port
// without AUTH. With AUTH another domain is refused too, for another
// reason: nothing leaves the machine.
func TestPostfixRefuses(t *testing.T) {
	t.Parallel()
	testserver.Ensure(t)
	pf := testserver.Postfix

	t.Run("wrong-password", func(t *testing.T) {
		t.Parallel()
		for _, login := range [][2]string{{pf.User, "wrong"}, {pf.User, ""}, {testserver.User(t, "src-user"), testserver.Password()}} {
			c := dialPostfix(t, false, true)
			err := c.Auth(smtp.PlainAuth("", login[0], login[1], pf.Host))
			if err == nil {
				t.Errorf("AUTH PLAIN as %s with %q was accepted", login[0], login[1])
			} else if smtpCode(err) != 535 {
				t.Errorf("AUTH PLAIN as %s with %q: %v, want 535", login[0], login[1], err)
			}
		}
	})

	t.Run("relay-without-auth", func(t *testing.T) {
		t.Parallel()
		for _, starttls := range []bool{false, true} {
			c := dialPostfix(t, false, starttls)
			if err := c.Mail(testserver.MailAddress(testserver.User(t, "sender"))); err != nil {
				t.Fatalf("MAIL FROM: %v", err)
			}
			err := c.Rcpt("someone@outside.example")
			if smtpCode(err) != 554 || !strings.Contains(err.Error(), "Relay access denied") {
				t.Errorf("RCPT TO another domain without AUTH (STARTTLS %v): %v, want 554 Relay access denied", starttls, err)
			}
			// The same session may still send to the local domain.
			if err := c.Rcpt(testserver.MailAddress(testserver.User(t, "local"))); err != nil {
				t.Errorf("RCPT TO the local domain without AUTH: %v", err)
			}
		}
	})

	t.Run("submissions-without-auth", func(t *testing.T) {
		t.Parallel()
		c := dialPostfix(t, true, false)
		if err := c.Mail(testserver.MailAddress(testserver.User(t, "sender"))); err != nil {
			t.Fatalf("MAIL FROM: %v", err)
		}
		if err := c.Rcpt(testserver.MailAddress(testserver.User(t, "local"))); smtpCode(err) != 554 {
			t.Errorf("RCPT TO on submissions without AUTH: %v, want 554", err)
		}
	})

	t.Run("other-domain-with-auth", func(t *testing.T) {
		t.Parallel()
		c := dialPostfix(t, false, true)
		if err := c.Auth(smtp.PlainAuth("", pf.User, pf.Password, pf.Host)); err != nil {
			t.Fatalf("AUTH PLAIN: %v", err)
		}
		if err := c.Mail(testserver.MailAddress(testserver.User(t, "sender"))); err != nil {
			t.Fatalf("MAIL FROM: %v", err)
		}
		err := c.Rcpt("someone@outside.example")
		if smtpCode(err) != 550 || !strings.Contains(err.Error(), "delivers only to "+pf.Domain) {
			t.Errorf("RCPT TO another domain with AUTH: %v, want 550 ... delivers only to %s", err, pf.Domain)
		}
	})
}
