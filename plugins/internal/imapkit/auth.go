package imapkit

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"

	"github.com/ternmail/tern/sdk/connector"
)

// Login authenticates a freshly connected connection: a Conn (go-imap) or
// an AppendConn (imapkit's own MULTIAPPEND client), both of which are
// Authenticators. PasswordLogin is the only implementation today;
// administrator modes slot in as further types:
//
//   - SASL PLAIN with an authorization identity (log in as the admin,
//     act as the user): sasl.NewPlainClient(user, admin, password);
//   - master-user strings ("user*admin" with the admin's password over
//     LOGIN or PLAIN), a PasswordLogin with a composed username;
//   - PROXYAUTH (log in as the admin, then "PROXYAUTH user"), a Login
//     that sends one more command after authenticating (Authenticator
//     then grows a method for it, on both connection types).
//
// Authenticate runs inside the connection's operation (its context and
// timeouts apply) and returns the server's refusal as is; Dial classifies
// it with the text of Describe.
type Login interface {
	// Describe says who logs in and how, for error messages: a login name
	// and a mechanism, never a secret.
	Describe() string
	// Authenticate logs c in.
	Authenticate(ctx context.Context, c Authenticator) error
}

// Authenticator is a connection that a Login can log in: the two ways of
// sending a password, each one operation bound to ctx whose failure is
// returned classified with what (see Conn.Classify), the server's words
// included and the secret never.
type Authenticator interface {
	// Caps returns the server's capabilities before the login.
	Caps() imap.CapSet
	// AuthPlain sends AUTHENTICATE PLAIN (RFC 4616) with an authorization
	// identity ("" to act as username), a user name and a password, with
	// the initial response inline where the server has SASL-IR.
	AuthPlain(ctx context.Context, what, identity, username, password string) error
	// AuthLogin sends the LOGIN command (RFC 9051 §6.2.3).
	AuthLogin(ctx context.Context, what, username, password string) error
}

var (
	_ Authenticator = (*Conn)(nil)
	_ Authenticator = (*AppendConn)(nil)
)

// AuthPlain implements Authenticator.
func (c *Conn) AuthPlain(ctx context.Context, what, identity, username, password string) error {
	return c.Do(ctx, what, func() error {
		return c.Client.Authenticate(sasl.NewPlainClient(identity, username, password))
	})
}

// AuthLogin implements Authenticator.
func (c *Conn) AuthLogin(ctx context.Context, what, username, password string) error {
	return c.Do(ctx, what, func() error { return c.Client.Login(username, password).Wait() })
}

// Mechanism selects how a password is sent.
type Mechanism string

// The mechanisms.
const (
	// MechAuto uses AUTHENTICATE PLAIN when the server offers it, LOGIN
	// otherwise.
	MechAuto Mechanism = "auto"
	// MechPlain uses AUTHENTICATE PLAIN (RFC 4616).
	MechPlain Mechanism = "plain"
	// MechLogin uses the LOGIN command (RFC 9051 §6.2.3).
	MechLogin Mechanism = "login"
)

// PasswordLogin logs in with a user name and a password.
type PasswordLogin struct {
	Username  string
	Password  string
	Mechanism Mechanism
}

var _ Login = (*PasswordLogin)(nil)

// Describe implements Login.
func (l *PasswordLogin) Describe() string {
	return fmt.Sprintf("login as %s", strconv.Quote(l.Username))
}

func (l *PasswordLogin) mechanism(caps imap.CapSet) (Mechanism, error) {
	switch l.Mechanism {
	case MechPlain:
		return MechPlain, nil
	case MechLogin:
		if caps.Has(imap.CapLoginDisabled) {
			return "", errors.New("the server refuses LOGIN on this connection (LOGINDISABLED); use TLS or auth_mechanism \"plain\"")
		}
		return MechLogin, nil
	}
	if caps.Has(imap.AuthCap("PLAIN")) {
		return MechPlain, nil
	}
	if caps.Has(imap.CapLoginDisabled) {
		return "", errors.New("the server offers neither AUTHENTICATE PLAIN nor LOGIN on this connection (LOGINDISABLED); use TLS")
	}
	return MechLogin, nil
}

// Authenticate implements Login.
func (l *PasswordLogin) Authenticate(ctx context.Context, c Authenticator) error {
	mech, err := l.mechanism(c.Caps())
	if err != nil {
		return connector.Errorf(connector.KindAuth, "%s: %v", l.Describe(), err)
	}
	what := fmt.Sprintf("%s with %s", l.Describe(), mechName(mech))
	if mech == MechPlain {
		return c.AuthPlain(ctx, what, "", l.Username, l.Password)
	}
	return c.AuthLogin(ctx, what, l.Username, l.Password)
}

func mechName(m Mechanism) string {
	if m == MechPlain {
		return "AUTHENTICATE PLAIN"
	}
	return "LOGIN"
}

// authError makes a failed login a KindAuth error, unless the server's
// response calls for another kind: UNAVAILABLE is temporary, a backoff
// hint is throttling, a lost connection is unavailable. The message keeps
// the server's words (Do put them there) and never the secret.
func authError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ce *connector.Error
	if !errors.As(err, &ce) {
		return connector.Wrap(connector.KindAuth, "login failed", err)
	}
	switch ce.Kind {
	case connector.KindTemporary, connector.KindUnavailable, connector.KindThrottled, connector.KindInvalid, connector.KindAuth:
		return err
	}
	out := *ce
	out.Kind = connector.KindAuth
	return &out
}
