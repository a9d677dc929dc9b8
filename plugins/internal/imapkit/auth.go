package imapkit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"

	"github.com/ternmail/tern/sdk/connector"
)

// Login authenticates a freshly connected connection: a Conn (go-imap) or
// an AppendConn (imapkit's own client), both of which are Authenticators.
// There is one type per credential mode of the connector contract:
//
//   - PasswordLogin: a user's own password, or the "magic password"
//     (connector.ModePassword), by AUTHENTICATE PLAIN or LOGIN;
//   - AuthzidLogin: SASL PLAIN with an authorization identity, the
//     administrator acting for the user (connector.ModeAdminAuthzid);
//   - MasterLogin: the master-user login string "user*admin" with the
//     administrator's password (connector.ModeAdminMaster);
//   - ProxyAuthLogin: the administrator logs in, then PROXYAUTH user
//     (connector.ModeAdminProxyAuth). go-imap cannot send PROXYAUTH, so
//     Dial logs such a connection in with imapkit's own client before
//     go-imap sees it (see the package doc).
//
// Authenticate runs inside the connection's operation (its context and
// timeouts apply). A refusal comes back as KindAuth (KindInvalid for a
// mode the server cannot do at all), its message saying which mode, the
// login string and the server's words, with a reading of them (wrong
// password, no such user, administrator not allowed), never the secret.
type Login interface {
	// Describe says who logs in and how, for logs and error messages: a
	// login name and the mode, never a secret.
	Describe() string
	// Command says what Authenticate sends to a server with caps (before
	// the login), without any secret: `LOGIN "alice*admin"`,
	// `AUTHENTICATE PLAIN authzid="alice" authcid="admin"`.
	Command(caps imap.CapSet) string
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

// proxyAuthenticator is an Authenticator that can send PROXYAUTH: only
// imapkit's own client (go-imap has no way to send a command it does not
// know).
type proxyAuthenticator interface {
	Authenticator
	proxyAuth(ctx context.Context, what, user string) error
}

// rawLogin marks the Logins that need imapkit's own client: Dial logs in
// with it and hands the authenticated connection to go-imap.
type rawLogin interface {
	Login
	needsRawClient()
}

var (
	_ Authenticator      = (*Conn)(nil)
	_ proxyAuthenticator = (*AppendConn)(nil)
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

// pick returns the mechanism m stands for on a server with caps, or why
// the server refuses every way of sending a password.
func (m Mechanism) pick(caps imap.CapSet) (Mechanism, error) {
	switch m {
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

// pickOrLogin is pick for Command: LOGIN when nothing fits.
func (m Mechanism) pickOrLogin(caps imap.CapSet) Mechanism {
	if got, err := m.pick(caps); err == nil {
		return got
	}
	return MechLogin
}

func mechName(m Mechanism) string {
	if m == MechPlain {
		return "AUTHENTICATE PLAIN"
	}
	return "LOGIN"
}

// sendPassword logs in as username (acting as identity with PLAIN) with
// mech.
func sendPassword(ctx context.Context, c Authenticator, what string, mech Mechanism, identity, username, password string) error {
	if mech == MechPlain {
		return c.AuthPlain(ctx, what, identity, username, password)
	}
	return c.AuthLogin(ctx, what, username, password)
}

// q quotes a name for messages.
func q(s string) string { return strconv.Quote(s) }

// PasswordLogin logs in with a user name and a password (the user's own,
// or the "magic password" every account shares): connector.ModePassword.
type PasswordLogin struct {
	Username  string
	Password  string
	Mechanism Mechanism
}

var _ Login = (*PasswordLogin)(nil)

// Describe implements Login.
func (l *PasswordLogin) Describe() string {
	return fmt.Sprintf("login as %s (mode %q)", q(l.Username), connector.ModePassword)
}

// Command implements Login.
func (l *PasswordLogin) Command(caps imap.CapSet) string {
	if l.Mechanism.pickOrLogin(caps) == MechPlain {
		return "AUTHENTICATE PLAIN authcid=" + q(l.Username)
	}
	return "LOGIN " + q(l.Username)
}

// Authenticate implements Login.
func (l *PasswordLogin) Authenticate(ctx context.Context, c Authenticator) error {
	mech, err := l.Mechanism.pick(c.Caps())
	if err != nil {
		return connector.Errorf(connector.KindAuth, "%s: %v", l.Describe(), err)
	}
	what := fmt.Sprintf("login as %s with %s (mode %q)", q(l.Username), mechName(mech), connector.ModePassword)
	err = sendPassword(ctx, c, what, mech, "", l.Username, l.Password)
	return refusal(err, func(r *imap.Error) (string, connector.Kind) {
		switch {
		case saysNoSuchUser(r):
			return fmt.Sprintf("the server says there is no user %s", q(l.Username)), connector.KindAuth
		case codeIs(r, imap.ResponseCodeAuthorizationFailed):
			return fmt.Sprintf("the password was accepted, but %s may not log in", q(l.Username)), connector.KindAuth
		}
		return fmt.Sprintf("wrong password, or no user %s; the server does not say which", q(l.Username)), connector.KindAuth
	})
}

// AuthzidLogin logs in as the administrator AuthUser with its password,
// acting for User: SASL PLAIN with an authorization identity (RFC 4616
// §2; Dovecot master users, Cyrus proxy servers, Zimbra):
// connector.ModeAdminAuthzid. A server without AUTH=PLAIN cannot do it.
type AuthzidLogin struct {
	User     string
	AuthUser string
	Password string
}

var _ Login = (*AuthzidLogin)(nil)

// Describe implements Login.
func (l *AuthzidLogin) Describe() string {
	return fmt.Sprintf("administrator %s acting for %s (mode %q)", q(l.AuthUser), q(l.User), connector.ModeAdminAuthzid)
}

// Command implements Login.
func (l *AuthzidLogin) Command(imap.CapSet) string {
	return fmt.Sprintf("AUTHENTICATE PLAIN authzid=%s authcid=%s", q(l.User), q(l.AuthUser))
}

// Authenticate implements Login.
func (l *AuthzidLogin) Authenticate(ctx context.Context, c Authenticator) error {
	what := fmt.Sprintf("%s (mode %q)", l.Command(nil), connector.ModeAdminAuthzid)
	if !c.Caps().Has(imap.AuthCap("PLAIN")) {
		hint := ""
		if c.Caps().Has(imap.CapLoginDisabled) || c.Caps().Has(imap.CapStartTLS) {
			hint = "; over TLS it may offer more"
		}
		return connector.Errorf(connector.KindInvalid, "%s: the server offers no SASL PLAIN (its mechanisms: %s), so the administrator cannot act for another user with an authorization identity%s; choose another administrator method",
			what, mechList(c.Caps()), hint)
	}
	err := c.AuthPlain(ctx, what, l.User, l.AuthUser, l.Password)
	return refusal(err, adminHint(l.AuthUser, l.User, "an administrator allowed to act for other users"))
}

// MasterLogin logs in with the master-user login string User + Separator
// + AuthUser and the administrator's password, by LOGIN or AUTHENTICATE
// PLAIN (Dovecot's auth_master_user_separator, UW-IMAP):
// connector.ModeAdminMaster.
type MasterLogin struct {
	User      string
	AuthUser  string
	Separator string
	Password  string
	Mechanism Mechanism
}

var _ Login = (*MasterLogin)(nil)

// LoginString returns the login name sent: "user*admin".
func (l *MasterLogin) LoginString() string { return l.User + l.Separator + l.AuthUser }

// Describe implements Login.
func (l *MasterLogin) Describe() string {
	return fmt.Sprintf("login as %s (mode %q: master user %s for %s)", q(l.LoginString()), connector.ModeAdminMaster, q(l.AuthUser), q(l.User))
}

// Command implements Login.
func (l *MasterLogin) Command(caps imap.CapSet) string {
	if l.Mechanism.pickOrLogin(caps) == MechPlain {
		return "AUTHENTICATE PLAIN authcid=" + q(l.LoginString())
	}
	return "LOGIN " + q(l.LoginString())
}

// Authenticate implements Login.
func (l *MasterLogin) Authenticate(ctx context.Context, c Authenticator) error {
	mech, err := l.Mechanism.pick(c.Caps())
	if err != nil {
		return connector.Errorf(connector.KindAuth, "%s: %v", l.Describe(), err)
	}
	what := fmt.Sprintf("login as %s with %s (mode %q: master user %s for %s)", q(l.LoginString()), mechName(mech), connector.ModeAdminMaster, q(l.AuthUser), q(l.User))
	err = sendPassword(ctx, c, what, mech, "", l.LoginString(), l.Password)
	return refusal(err, adminHint(l.AuthUser, l.User, fmt.Sprintf("a master user of this server, or its master-user separator is not %s", q(l.Separator))))
}

// ProxyAuthLogin logs in as the administrator AuthUser with its password
// (LOGIN or AUTHENTICATE PLAIN), then becomes User with "PROXYAUTH user"
// (Sun Java System / iPlanet / Netscape Messaging Server):
// connector.ModeAdminProxyAuth.
type ProxyAuthLogin struct {
	User      string
	AuthUser  string
	Password  string
	Mechanism Mechanism
}

var _ rawLogin = (*ProxyAuthLogin)(nil)

func (*ProxyAuthLogin) needsRawClient() {}

// Describe implements Login.
func (l *ProxyAuthLogin) Describe() string {
	return fmt.Sprintf("administrator %s, then PROXYAUTH %s (mode %q)", q(l.AuthUser), q(l.User), connector.ModeAdminProxyAuth)
}

// Command implements Login.
func (l *ProxyAuthLogin) Command(caps imap.CapSet) string {
	first := "LOGIN " + q(l.AuthUser)
	if l.Mechanism.pickOrLogin(caps) == MechPlain {
		first = "AUTHENTICATE PLAIN authcid=" + q(l.AuthUser)
	}
	return first + ", then PROXYAUTH " + q(l.User)
}

// Authenticate implements Login. c must be imapkit's own client
// (AppendConn); Dial sees to that.
func (l *ProxyAuthLogin) Authenticate(ctx context.Context, c Authenticator) error {
	pc, ok := c.(proxyAuthenticator)
	if !ok {
		return connector.Errorf(connector.KindInvalid, "%s: this connection cannot send PROXYAUTH", l.Describe())
	}
	mech, err := l.Mechanism.pick(c.Caps())
	if err != nil {
		return connector.Errorf(connector.KindAuth, "%s: %v", l.Describe(), err)
	}
	what := fmt.Sprintf("administrator login as %s with %s (mode %q)", q(l.AuthUser), mechName(mech), connector.ModeAdminProxyAuth)
	err = sendPassword(ctx, c, what, mech, "", l.AuthUser, l.Password)
	if err != nil {
		return refusal(err, func(r *imap.Error) (string, connector.Kind) {
			if saysNoSuchUser(r) {
				return fmt.Sprintf("the server says there is no user %s", q(l.AuthUser)), connector.KindAuth
			}
			return fmt.Sprintf("wrong administrator password, or no user %s; the server does not say which", q(l.AuthUser)), connector.KindAuth
		})
	}
	what = fmt.Sprintf("PROXYAUTH %s after the administrator %s logged in (mode %q)", q(l.User), q(l.AuthUser), connector.ModeAdminProxyAuth)
	err = pc.proxyAuth(ctx, what, l.User)
	return refusal(err, func(r *imap.Error) (string, connector.Kind) {
		switch {
		case r.Type == imap.StatusResponseTypeBad:
			return "the server does not know PROXYAUTH; choose another administrator method", connector.KindInvalid
		case saysNoSuchUser(r):
			return fmt.Sprintf("the server says there is no user %s", q(l.User)), connector.KindAuth
		}
		return fmt.Sprintf("the administrator's login worked, but %s may not act for %s, or there is no user %s; the server does not say which", q(l.AuthUser), q(l.User), q(l.User)), connector.KindAuth
	})
}

// adminHint reads a refusal of an administrator login for user: the
// server's codes tell a wrong administrator password (or an account that
// is no administrator: what) from an accepted administrator who may not
// open this mailbox, which is how Dovecot answers for a user that does
// not exist.
func adminHint(admin, user, what string) func(r *imap.Error) (string, connector.Kind) {
	return func(r *imap.Error) (string, connector.Kind) {
		switch {
		case saysNoSuchUser(r):
			return fmt.Sprintf("the server says there is no user %s", q(user)), connector.KindAuth
		case codeIs(r, imap.ResponseCodeAuthorizationFailed):
			return fmt.Sprintf("the administrator's password was accepted, but it may not open %s: there is no such user, or %s may not act for it", q(user), q(admin)), connector.KindAuth
		}
		return fmt.Sprintf("wrong administrator password, or %s is not %s", q(admin), what), connector.KindAuth
	}
}

// refusal turns a login's failure into the error Dial returns. A server's
// refusal (NO or BAD) is read by hint, which says what it means and
// which kind it is; the message keeps what (the operation: mode and login
// string) and the server's words. Codes that call for another kind keep
// it (UNAVAILABLE is temporary, a backoff hint throttling), as do a lost
// connection and an ended context.
func refusal(err error, hint func(r *imap.Error) (string, connector.Kind)) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	r := Response(err)
	var ce *connector.Error
	if r == nil || !errors.As(err, &ce) {
		return authError(err)
	}
	switch ce.Kind {
	case connector.KindTemporary, connector.KindThrottled, connector.KindUnavailable:
		return err
	}
	text, kind := hint(r)
	switch {
	case codeIs(r, imap.ResponseCodeExpired):
		text = "the password has expired"
	case codeIs(r, imap.ResponseCodeContactAdmin):
		text = "the server asks to contact its administrator (the account may be locked)"
	}
	what := strings.TrimSuffix(ce.Message, ": server said")
	return &connector.Error{Kind: kind, Message: what, Err: refusedError{r: r, hint: text}}
}

// refusedError is a refused login: the server's response and what it
// means. Response finds the response in its chain.
type refusedError struct {
	r    *imap.Error
	hint string
}

func (e refusedError) Error() string {
	return "refused: server said " + Describe(e.r) + " (" + e.hint + ")"
}

func (e refusedError) Unwrap() error { return e.r }

func codeIs(r *imap.Error, code imap.ResponseCode) bool {
	return strings.EqualFold(string(r.Code), string(code))
}

// noSuchUser are words servers use when they say that a user does not
// exist. Most servers do not say (Dovecot answers AUTHENTICATIONFAILED
// either way, so as not to reveal which users exist).
var noSuchUser = []string{"no such user", "unknown user", "user unknown", "user not found", "user does not exist", "user doesn't exist", "no such account", "account does not exist", "account doesn't exist", "mailbox does not exist"}

func saysNoSuchUser(r *imap.Error) bool {
	t := strings.ToLower(r.Text)
	return slices.ContainsFunc(noSuchUser, func(w string) bool { return strings.Contains(t, w) })
}

// mechList lists the SASL mechanisms caps announce, "none" if none.
func mechList(caps imap.CapSet) string {
	var m []string
	for c := range caps {
		if name, ok := strings.CutPrefix(strings.ToUpper(string(c)), "AUTH="); ok {
			m = append(m, name)
		}
	}
	if len(m) == 0 {
		return "none"
	}
	slices.Sort(m)
	return strings.Join(m, ", ")
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
