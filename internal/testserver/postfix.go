package testserver

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// SMTPServer is an SMTP server of the tests.
type SMTPServer struct {
	// Name is the server's name ("postfix").
	Name string
	// Host is the address to connect to.
	Host string
	// Port offers plain SMTP and STARTTLS; TLSPort implicit TLS
	// (submissions, RFC 8314), where only authenticated clients send.
	Port, TLSPort int
	// User and Password are the SMTP AUTH account (PLAIN, LOGIN).
	User, Password string
	// Domain is the mail domain: mail for <user>@Domain (MailAddress), or
	// for a bare <user>, lands in the INBOX of <user> on Mailboxes.
	Domain string
	// Mailboxes is the IMAP instance Domain's mail is delivered to.
	Mailboxes Instance
}

// Addr returns host:port of the plain/STARTTLS listener.
func (s SMTPServer) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// TLSAddr returns host:port of the implicit-TLS listener.
func (s SMTPServer) TLSAddr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.TLSPort)) }

// Postfix is a real Postfix 3.7 (Debian's package, scripts/postfix.sh):
// its certificate is signed by the test CA (CAFile, TLSConfig), it offers
// STARTTLS on Port and implicit TLS on TLSPort, and SMTP AUTH with the
// account User/Password (a wrong password is refused). Anyone may send to
// Domain, which it delivers over LMTP to DovecotSrc at once: <user>@Domain
// (or a bare <user>) is the src user <user> (password Password, like every
// src user), so WaitForMail(t, DovecotSrc, user, ...) finds it, with
// Postfix's and Dovecot's Received lines and a Return-Path added and
// everything else as sent. Other domains are refused at RCPT TO: without
// AUTH "554 5.7.1 ... Relay access denied", with AUTH "550 5.7.1 ... the
// Tern test Postfix delivers only to test.example" (nothing leaves the
// machine). Postfix's log is PostfixLog.
var Postfix = SMTPServer{Name: "postfix", Host: "127.0.0.1", Port: 10025, TLSPort: 10465,
	User: "tern-mailer", Password: "mailer-secret", Domain: "test.example", Mailboxes: DovecotSrc}

// postfixLMTP is DovecotSrc's LMTP listener, which Postfix delivers to.
const postfixLMTP = "127.0.0.1:10024"

// PostfixLog is the file Postfix logs to: each message's way from
// smtpd to the LMTP delivery, and every refusal.
func PostfixLog() string { return filepath.Join(Dir(), "postfix", "log", "postfix.log") }

// MailAddress is user's address at Postfix: mail to it lands in user's
// INBOX on DovecotSrc.
func MailAddress(user string) string { return user + "@" + Postfix.Domain }

// WaitForMail polls user's INBOX on inst over IMAP (logged in as Login
// does, read-only, without setting \Seen) until a message for which match
// returns true is there, and returns its bytes as served. A nil match
// takes the first message. It fails the test after timeout, with the end
// of PostfixLog.
func WaitForMail(t testing.TB, inst Instance, user string, match func(raw []byte) bool, timeout time.Duration) []byte {
	t.Helper()
	Ensure(t)
	raw, err := FindMail(inst, user, match, timeout)
	if err != nil {
		t.Fatalf("testserver: %v\nthe end of %s:\n%s", err, PostfixLog(), logTail(PostfixLog(), 20))
	}
	return raw
}

// FindMail is WaitForMail returning an error.
func FindMail(inst Instance, user string, match func(raw []byte) bool, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	c, err := Login(inst, user)
	if err != nil {
		return nil, err
	}
	defer func() { c.Logout().Wait(); c.Close() }()
	next, seen := imap.UID(1), 0
	for {
		// EXAMINE again each round: it shows what was delivered since.
		if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return nil, fmt.Errorf("examine %s's INBOX on %s: %w", user, inst.Name, err)
		}
		body := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: next, Stop: 0}}, &imap.FetchOptions{
			UID: true, BodySection: []*imap.FetchItemBodySection{body},
		}).Collect()
		if err != nil {
			return nil, fmt.Errorf("fetch %s's INBOX on %s: %w", user, inst.Name, err)
		}
		for _, m := range msgs {
			// "next:*" holds the last message even when its UID is lower.
			if m.UID < next {
				continue
			}
			next = m.UID + 1
			seen++
			if raw := m.FindBodySection(body); match == nil || match(raw) {
				return raw, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no message in %s's INBOX on %s matched in %v (%d other messages)", user, inst.Name, timeout, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logTail returns the last n lines of file, or why it cannot.
func logTail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-n):], []byte("\n")))
}
