// Package mailer sends Tern's own e-mail (self-service invitations, "your
// migration is done") through the SMTP server set on the console's system
// page: implicit TLS, STARTTLS, or plaintext only when explicitly allowed;
// certificates verified (a CA file, or an explicit opt-out); AUTH PLAIN
// when a login is set. The settings live in the state store, the password
// in the secrets layer (secrets.System("smtp")).
package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
)

// ErrNotConfigured: no SMTP server is set.
var ErrNotConfigured = errors.New("no outgoing mail server is set (System page)")

// Settings are the outgoing mail settings.
type Settings struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	// TLS is "implicit" (submissions, 465), "starttls" (587) or "none".
	TLS string `json:"tls"`
	// AllowPlaintext must be set for TLS "none".
	AllowPlaintext bool `json:"allow_plaintext,omitempty"`
	// CAFile is a PEM file of CAs to trust; InsecureSkipVerify turns
	// verification off (unsafe).
	CAFile             string `json:"ca_file,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
	// Username is the SMTP AUTH login ("" for none); HasPassword says its
	// password is in the secrets layer.
	Username    string `json:"username,omitempty"`
	HasPassword bool   `json:"has_password,omitempty"`
	// From is the sender address; FromName its display name.
	From     string `json:"from"`
	FromName string `json:"from_name,omitempty"`
	// HELO is the name given in EHLO (default: "tern.localdomain").
	HELO string `json:"helo,omitempty"`
}

// Validate checks the settings.
func (s *Settings) Validate() error {
	if strings.TrimSpace(s.Host) == "" {
		return errors.New("the SMTP server's host is missing")
	}
	if s.Port <= 0 || s.Port > 65535 {
		return fmt.Errorf("port %d: want 1 to 65535", s.Port)
	}
	switch s.TLS {
	case "implicit", "starttls":
	case "none":
		if !s.AllowPlaintext {
			return errors.New("TLS none sends the password and the mail in clear text: allow plaintext explicitly to use it")
		}
	default:
		return fmt.Errorf("TLS %q: want implicit, starttls or none", s.TLS)
	}
	if _, err := mail.ParseAddress(s.From); err != nil || !strings.Contains(s.From, "@") {
		return fmt.Errorf("sender %q is not an e-mail address", s.From)
	}
	return nil
}

// Message is a plain-text e-mail.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Mailer sends mail with the stored settings.
type Mailer struct {
	db      *store.DB
	secrets secrets.Store
	// Timeout bounds one delivery (default 30 s).
	Timeout time.Duration
}

// New returns a mailer.
func New(db *store.DB, sec secrets.Store) *Mailer { return &Mailer{db: db, secrets: sec} }

var settingsKey = store.Key("v1", "settings", "smtp")

// PasswordPath is where the SMTP password lives in the secrets layer.
var PasswordPath = secrets.Path("system", "smtp")

// Settings returns the stored settings; ErrNotConfigured if none.
func (m *Mailer) Settings(ctx context.Context) (*Settings, error) {
	var s Settings
	if err := m.db.Get(ctx, settingsKey, &s); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotConfigured
		}
		return nil, err
	}
	return &s, nil
}

// Save stores the settings and, if password is not empty, the password;
// clear removes a stored password.
func (m *Mailer) Save(ctx context.Context, s *Settings, password string, clear bool) error {
	if err := s.Validate(); err != nil {
		return err
	}
	old, err := m.Settings(ctx)
	if err == nil {
		s.HasPassword = old.HasPassword
	}
	switch {
	case password != "":
		if err := m.secrets.Put(ctx, PasswordPath, password); err != nil {
			return fmt.Errorf("store the SMTP password: %w", err)
		}
		s.HasPassword = true
	case clear:
		if err := m.secrets.Delete(ctx, PasswordPath); err != nil && !errors.Is(err, secrets.ErrNotFound) {
			return err
		}
		s.HasPassword = false
	}
	if s.Username != "" && !s.HasPassword {
		return errors.New("an SMTP login needs its password")
	}
	return m.db.Put(ctx, settingsKey, s)
}

// Send sends msg with the stored settings.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	s, err := m.Settings(ctx)
	if err != nil {
		return err
	}
	password := ""
	if s.Username != "" {
		if password, err = m.secrets.Get(ctx, PasswordPath); err != nil {
			return fmt.Errorf("SMTP password: %w", err)
		}
		logx.Redact(password)
	}
	raw, err := Compose(s, msg, time.Now())
	if err != nil {
		return err
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return deliver(ctx, s, password, msg.To, raw)
}

// Compose builds the message: headers (From, To, Subject, Date,
// Message-ID, MIME) and a UTF-8 quoted-printable text body.
func Compose(s *Settings, msg Message, now time.Time) ([]byte, error) {
	to, err := mail.ParseAddress(msg.To)
	if err != nil {
		return nil, fmt.Errorf("recipient %q: %w", msg.To, err)
	}
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Name: s.FromName, Address: s.From}})
	h.SetAddressList("To", []*mail.Address{to})
	h.SetSubject(msg.Subject)
	if err := h.GenerateMessageID(); err != nil {
		return nil, err
	}
	h.Set("Auto-Submitted", "auto-generated")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	text := strings.ReplaceAll(strings.ReplaceAll(msg.Text, "\r\n", "\n"), "\n", "\r\n")
	if _, err := w.Write([]byte(text)); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func tlsConfig(s *Settings) (*tls.Config, error) {
	c := &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.InsecureSkipVerify}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", s.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// deliver speaks SMTP to the server: one message, one recipient.
func deliver(ctx context.Context, s *Settings, password, to string, raw []byte) error {
	tc, err := tlsConfig(s)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	d := &net.Dialer{}
	var conn net.Conn
	if s.TLS == "implicit" {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tc}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("%s: %w", addr, err)
	}
	defer c.Close()
	helo := s.HELO
	if helo == "" {
		helo = "tern.localdomain"
	}
	if err := c.Hello(helo); err != nil {
		return fmt.Errorf("%s: EHLO: %w", addr, err)
	}
	if s.TLS == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("%s does not offer STARTTLS", addr)
		}
		if err := c.StartTLS(tc); err != nil {
			return fmt.Errorf("%s: STARTTLS: %w", addr, err)
		}
	}
	if s.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("%s offers no AUTH for the login %s", addr, s.Username)
		}
		if err := c.Auth(plainAuth{user: s.Username, password: password, tlsOff: s.TLS == "none"}); err != nil {
			return fmt.Errorf("%s: login as %s refused: %w", addr, s.Username, err)
		}
	}
	from, _ := mail.ParseAddress(s.From)
	rcpt, _ := mail.ParseAddress(to)
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("%s: MAIL FROM: %w", addr, err)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return fmt.Errorf("%s: RCPT TO %s: %w", addr, rcpt.Address, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("%s: DATA: %w", addr, err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("%s: DATA: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%s: the message was refused: %w", addr, err)
	}
	return c.Quit()
}

// plainAuth is AUTH PLAIN. net/smtp's PlainAuth refuses a connection
// without TLS to anything but localhost; here plaintext is the admin's
// explicit choice (Settings.AllowPlaintext), checked by Validate.
type plainAuth struct {
	user, password string
	tlsOff         bool
}

func (a plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !a.tlsOff {
		return "", nil, errors.New("refusing to send the password without TLS")
	}
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.password), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge")
	}
	return nil, nil
}
