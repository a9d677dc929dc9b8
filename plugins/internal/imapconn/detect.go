package imapconn

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

// TestConnection implements connector.ConnectionTester: one connection
// without a login learns what the server is (greeting, TLS, capabilities,
// SASL mechanisms, ID), then each way of logging in that the request's
// credentials allow is tried once, on a connection of its own, and counts
// as working only if INBOX then opens (EXAMINE). See the package doc.
func (c *Connector) TestConnection(ctx context.Context, req *connector.TestRequest) (*connector.TestReport, error) {
	cfg, err := c.p.parseSettings(req.Settings)
	if err != nil {
		return nil, err
	}
	t := &tester{
		c:   c,
		cfg: cfg,
		req: req,
		log: c.log.With("connector", c.p.ID, "role", "test", "mailbox", req.SampleUser),
		rep: &connector.TestReport{Server: connector.ServerInfo{Address: cfg.addr}},
	}
	if err := t.probe(ctx); err != nil {
		return nil, err
	}
	if !t.untrusted {
		t.attempts(ctx)
	}
	for _, a := range t.all {
		t.rep.Attempts = append(t.rep.Attempts, *a)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.recommend()
	t.notes()
	return t.rep, nil
}

// tester is one connection test in progress.
type tester struct {
	c   *Connector
	cfg *config
	req *connector.TestRequest
	log *slog.Logger
	rep *connector.TestReport

	caps      imap.CapSet // before the login
	before    []string    // the same, as spelled
	after     []string    // after the first login that worked
	untrusted bool        // the certificate did not verify: no login tried
	id        map[string]string

	ns         bool // the namespace is known
	prefix     string
	delim      string
	other      bool // the other users' namespace is known
	otherPfx   string
	otherDelim string

	// Outcomes by role, for the notes.
	own          *connector.LoginAttempt // the administrator's own login
	ownNoMailbox string                  // why its INBOX did not open
	admin        []*connector.LoginAttempt
	magic, user  *connector.LoginAttempt
	recommended  *connector.LoginAttempt
	skipped      []string // notes on modes not tried
	stop         string   // why no more logins were tried, if so
	all          []*connector.LoginAttempt
	anyUser      string // a user that does not exist but was let in
}

// probe connects without logging in. A certificate that does not verify is
// reported (with what an unverified second look shows) rather than
// returned: nothing with a password is sent to such a server.
func (t *tester) probe(ctx context.Context) error {
	opts, err := t.c.dialOptions(t.cfg, nil, t.log)
	if err != nil {
		return err
	}
	ac, err := imapkit.DialAppend(ctx, opts)
	if err != nil {
		if connector.KindOf(err) != connector.KindInvalid || t.cfg.tls == imapkit.TLSNone || ctx.Err() != nil {
			return err
		}
		// A second look without verification, to say what the server is.
		look := *opts
		look.TLSConfig = opts.TLSConfig.Clone()
		look.TLSConfig.InsecureSkipVerify = true
		ac2, err2 := imapkit.DialAppend(ctx, &look)
		if err2 != nil {
			return err
		}
		t.untrusted = true
		t.describe(ctx, ac2)
		t.rep.Server.TLS = tlsText(t.cfg, ac2.TLS(), false) + ", NOT trusted: " + err.Error()
		ac2.Close()
		return nil
	}
	t.describe(ctx, ac)
	ac.Close()
	return nil
}

// describe fills the server information from an unauthenticated
// connection.
func (t *tester) describe(ctx context.Context, ac *imapkit.AppendConn) {
	s := &t.rep.Server
	s.Greeting = ac.Greeting()
	t.caps = ac.Caps()
	t.before = ac.CapsBeforeLogin()
	s.Capabilities = slices.Clone(t.before)
	s.AuthMechanisms = mechanisms(t.before)
	s.TLS = tlsText(t.cfg, ac.TLS(), true)
	if id, err := ac.ServerID(ctx); err == nil {
		t.id = id
	} else {
		t.log.Debug("imap ID failed", "err", err)
	}
	s.Product = product(s.Greeting, t.id)
}

// attempts tries the logins the request's credentials allow, each once.
func (t *tester) attempts(ctx context.Context) {
	user := t.req.SampleUser
	if user == "" {
		return
	}
	mech := t.cfg.mechanism
	admin := t.req.Admin
	if admin != nil && admin.Secret == "" {
		t.skipped = append(t.skipped, "No administrator password was given: the administrator modes were not tried.")
		admin = nil
	}
	if admin != nil && admin.AuthUser != "" {
		own := &imapkit.PasswordLogin{Username: admin.AuthUser, Password: admin.Secret, Mechanism: mech}
		t.own = t.try(ctx, connector.ModePassword, own, " (the administrator's own login)", true)
		for _, mode := range []string{connector.ModeAdminAuthzid, connector.ModeAdminMaster, connector.ModeAdminProxyAuth} {
			if !t.c.p.offers(mode) || t.stop != "" {
				continue
			}
			var l imapkit.Login
			switch mode {
			case connector.ModeAdminAuthzid:
				if !t.caps.Has(imap.AuthCap("PLAIN")) {
					t.skipped = append(t.skipped, fmt.Sprintf("The server offers no SASL PLAIN (its mechanisms: %s): logging in for a user with an authorization identity (%s) is impossible there.", orNone(t.rep.Server.AuthMechanisms), mode))
					continue
				}
				l = &imapkit.AuthzidLogin{User: user, AuthUser: admin.AuthUser, Password: admin.Secret}
			case connector.ModeAdminMaster:
				l = &imapkit.MasterLogin{User: user, AuthUser: admin.AuthUser, Separator: t.cfg.masterSep, Password: admin.Secret, Mechanism: mech}
			case connector.ModeAdminProxyAuth:
				if !t.own.OK {
					t.skipped = append(t.skipped, fmt.Sprintf("PROXYAUTH (%s) was not tried: it starts with the administrator's own login, which failed.", mode))
					continue
				}
				l = &imapkit.ProxyAuthLogin{User: user, AuthUser: admin.AuthUser, Password: admin.Secret, Mechanism: mech}
			}
			a := t.try(ctx, mode, l, "", false)
			if a.OK && mode == connector.ModeAdminMaster {
				t.checkMaster(ctx, a, admin)
			}
			t.admin = append(t.admin, a)
		}
	}
	passwords := t.c.p.offers(connector.ModePassword)
	if admin != nil && admin.AuthUser == "" {
		if !passwords {
			t.skipped = append(t.skipped, fmt.Sprintf("A magic password (an administrator password without an administrator user) is not a way of the %s connector.", t.c.p.ID))
		} else if t.stop == "" {
			t.magic = t.try(ctx, connector.ModePassword, &imapkit.PasswordLogin{Username: user, Password: admin.Secret, Mechanism: mech}, " with the magic password", false)
		}
	}
	if t.req.UserSecret != "" && passwords && t.stop == "" {
		t.user = t.try(ctx, connector.ModePassword, &imapkit.PasswordLogin{Username: user, Password: t.req.UserSecret, Mechanism: mech}, " with the user's own password", false)
	}
}

// try logs in once with l and opens INBOX read-only. For the
// administrator's own login (own), the login alone counts: an
// administrator may well have no mailbox.
func (t *tester) try(ctx context.Context, mode string, l imapkit.Login, label string, own bool) *connector.LoginAttempt {
	a := &connector.LoginAttempt{Mode: mode, Login: l.Command(t.caps) + label}
	t.all = append(t.all, a)
	opts, err := t.c.dialOptions(t.cfg, l, t.log)
	if err == nil {
		var ac *imapkit.AppendConn
		if ac, err = imapkit.DialAppend(ctx, opts); err == nil {
			defer ac.Close()
			if t.after == nil {
				t.after = ac.CapsList()
			}
			if _, xerr := ac.Examine(ctx, "INBOX"); xerr != nil {
				if !own {
					err = fmt.Errorf(errNoInbox+": %w", xerr)
				} else {
					t.ownNoMailbox = xerr.Error()
				}
			} else if !t.ns {
				if ns, nerr := ac.Namespaces(ctx); nerr == nil && ns != nil && ns.Personal.OK {
					t.ns, t.prefix, t.delim = true, ns.Personal.Prefix, ns.Personal.Delim
					t.other, t.otherPfx, t.otherDelim = ns.Other.OK, ns.Other.Prefix, ns.Other.Delim
				}
			}
		}
	}
	if err != nil {
		a.Error, a.Kind = err.Error(), connector.KindOf(err)
		t.log.Debug("connection test: login failed", "mode", mode, "login", a.Login, "err", err)
		if a.Kind == connector.KindUnavailable || a.Kind == connector.KindThrottled {
			// The server is gone or asks to slow down: more logins now
			// would only hammer it.
			t.stop = fmt.Sprintf("The test stopped after %s: %s", a.Login, err)
		}
		return a
	}
	a.OK = true
	return a
}

// errNoInbox starts the error of a login that worked but whose INBOX
// did not open.
const errNoInbox = "logged in, but INBOX does not open"

// checkMaster makes sure a master-user string that worked did open the
// user's mailbox: a server without master users may take "alice*admin"
// for a user name of its own (a Dovecot whose static passdb accepts one
// password for every name: the magic password), and the mailbox opened
// would be another, new one. One more login, as a user that does not
// exist, tells: a real master-user setup refuses it.
func (t *tester) checkMaster(ctx context.Context, a *connector.LoginAttempt, admin *connector.AdminCredential) {
	var b [5]byte
	rand.Read(b[:])
	ghost := "tern-no-such-user-" + hex.EncodeToString(b[:])
	l := &imapkit.MasterLogin{User: ghost, AuthUser: admin.AuthUser, Separator: t.cfg.masterSep, Password: admin.Secret, Mechanism: t.cfg.mechanism}
	opts, err := t.c.dialOptions(t.cfg, l, t.log)
	if err != nil {
		return
	}
	ac, err := imapkit.DialAppend(ctx, opts)
	if err != nil {
		if k := connector.KindOf(err); k == connector.KindUnavailable || k == connector.KindThrottled {
			t.stop = fmt.Sprintf("The test stopped after checking %s: %s", l.Command(t.caps), err)
			return
		}
		a.Login += fmt.Sprintf(" (checked: %q, a user that does not exist, was refused)", l.LoginString())
		return
	}
	ac.Close()
	t.anyUser = l.LoginString()
	a.OK = false
	a.Kind = connector.KindInvalid
	a.Error = fmt.Sprintf("the server also let %q in, a user that does not exist: it takes the login string for a user name of its own (no master users), so this mode would open another, empty mailbox", l.LoginString())
	a.Login += fmt.Sprintf(" (checked with %q)", l.LoginString())
}

// recommend picks the first mode of the profile's order that worked with
// the credential the administrator set up for migrations: an
// administrator mode when an administrator was given, else the magic
// password; the user's own password only when neither worked. The
// administrator's own login is never a way into users' mailboxes.
func (t *tester) recommend() {
	for _, group := range [][]*connector.LoginAttempt{t.admin, {t.magic}, {t.user}} {
		for _, mode := range t.c.p.CredentialModes {
			for _, a := range group {
				if a != nil && a.OK && a.Mode == mode {
					t.rep.Recommended, t.recommended = mode, a
					return
				}
			}
		}
	}
}

func (t *tester) note(format string, args ...any) {
	t.rep.Notes = append(t.rep.Notes, fmt.Sprintf(format, args...))
}

// notes writes the advice.
func (t *tester) notes() {
	user := strconv.Quote(t.req.SampleUser)
	if t.cfg.tls == imapkit.TLSNone {
		t.note("The connection is not encrypted: passwords and mail cross the network readable by anyone on the path.")
	}
	if t.untrusted {
		t.note("The server's certificate does not verify, so no password was sent to it. Set ca_file to the authority that signed it (or connect with the name the certificate is for).")
		t.profileNotes()
		return
	}
	if t.caps.Has(imap.CapLoginDisabled) {
		t.note("The server refuses LOGIN on this connection (LOGINDISABLED); passwords go by AUTHENTICATE only.")
	}
	if t.cfg.insecure {
		t.note("The certificate is not verified (insecure_skip_verify): anyone on the path could read the passwords. For tests only.")
	}
	switch {
	case t.req.SampleUser == "":
		t.note("No sample user given: only the server was probed. Give one to learn which login works.")
	case t.req.Admin == nil && t.req.UserSecret == "":
		t.note("Neither an administrator credential nor the user's password was given: no login was tried.")
	}
	t.rep.Notes = append(t.rep.Notes, t.skipped...)
	if t.stop != "" {
		t.note("%s.", strings.TrimSuffix(t.stop, "."))
	}
	if t.own != nil && t.stop == "" {
		t.adminNotes(user)
	}
	if t.anyUser != "" && t.own != nil && t.own.OK {
		t.note("The server lets any user name in with the administrator's password (even %q): that password is a magic password. Leave the administrator user blank to use it as each user's password.", t.anyUser)
	}
	if t.magic != nil && !t.magic.OK {
		t.note("The magic password was refused for %s: the server has no password shared by every account, it is another one, or %s does not exist. Without an administrator account, each user's own password (per-user or self-service) remains.", user, user)
	}
	if t.user != nil && !t.user.OK {
		t.note("%s's own password was refused.", user)
	}
	if t.req.SampleUser != "" && len(t.rep.Attempts) > 0 {
		if t.recommended == nil {
			t.note("No login opened %s's mailbox: migrations with these credentials would fail.", user)
		} else {
			t.note("Recommended: %s (%s).", t.recommended.Mode, t.recommended.Login)
		}
	}
	if t.ns && t.prefix != "" {
		style := ""
		if t.prefix == "INBOX." && t.delim == "." && !strings.HasPrefix(t.rep.Server.Product, "Cyrus") {
			style = " (Maildir++ style)"
		}
		t.note("Folders live under the personal namespace %q with separator %q%s; Tern reads this from NAMESPACE and maps folder names itself.", t.prefix, t.delim, style)
	}
	if t.after != nil && !slices.Equal(t.after, t.before) {
		t.rep.Server.Capabilities = slices.Clone(t.after)
		t.note("Capabilities before login: %s.", strings.Join(t.before, " "))
	}
	t.profileNotes()
}

func (t *tester) profileNotes() {
	if t.c.p.DetectionNotes != nil {
		d := &Detection{Report: t.rep, Prefix: t.prefix, Delimiter: t.delim, NamespaceKnown: t.ns,
			OtherUsersPrefix: t.otherPfx, OtherUsersDelimiter: t.otherDelim, OtherUsersKnown: t.other, SampleUser: t.req.SampleUser}
		if t.req.Admin != nil {
			d.Admin = t.req.Admin.AuthUser
		}
		if t.own != nil {
			own := *t.own
			d.AdminOwn = &own
		}
		t.rep.Notes = append(t.rep.Notes, t.c.p.DetectionNotes(d)...)
	}
}

// adminNotes reads the administrator's attempts.
func (t *tester) adminNotes(user string) {
	admin := strconv.Quote(t.req.Admin.AuthUser)
	anyOK := slices.ContainsFunc(t.admin, func(a *connector.LoginAttempt) bool { return a.OK })
	authorization := slices.ContainsFunc(t.admin, func(a *connector.LoginAttempt) bool {
		return !a.OK && strings.Contains(a.Error, string(imap.ResponseCodeAuthorizationFailed))
	})
	noInbox := slices.ContainsFunc(t.admin, func(a *connector.LoginAttempt) bool {
		return !a.OK && strings.HasPrefix(a.Error, errNoInbox)
	})
	switch {
	case t.anyUser != "":
		// Said below: the password is a magic password.
	case !anyOK && noInbox:
		// The server let the administrator in for the user (Cyrus does so
		// for any name), but there is no mailbox behind it.
		t.note("The administrator %s logged in for %s, but %s's INBOX does not open: check that the sample user exists (Cyrus lets an administrator log in for any name, even one without a mailbox).", admin, user, user)
	case t.own.OK && !anyOK && len(t.admin) > 0:
		cyrus := ""
		if p := t.rep.Server.Product; p == "" || strings.HasPrefix(p, "Cyrus") {
			// Cyrus lets every account in admins act for users;
			// proxyservers lets other accounts do so (a Murder frontend).
			cyrus = " (on Cyrus it must be listed in proxyservers or in admins in imapd.conf)"
		}
		t.note("The administrator %s logs in, but the server does not let it act for %s by any method tried: the administrator may not act for users%s. Without that, use self-service (each user's own password).", admin, user, cyrus)
	case !t.own.OK && anyOK:
		t.note("The administrator %s cannot log in as itself (normal for a Dovecot master user, which has no mailbox of its own); that does not matter.", admin)
	case !t.own.OK && !anyOK && authorization:
		t.note("The administrator's password was accepted, but %s could not be opened: check that the sample user exists.", user)
	case !t.own.OK && !anyOK:
		t.note("No administrator login worked: the administrator password is wrong, or %s is no administrator (master user) of this server.", admin)
	}
	if t.own.OK && t.ownNoMailbox != "" {
		t.note("The administrator %s has no mailbox of its own (%s); that is usual and does not matter.", admin, t.ownNoMailbox)
	}
}

// tlsText describes the connection's protection.
func tlsText(cfg *config, st *tls.ConnectionState, verified bool) string {
	if cfg.tls == imapkit.TLSNone || st == nil {
		return "none (plaintext)"
	}
	mode := "implicit TLS"
	if cfg.tls == imapkit.TLSStartTLS {
		mode = "STARTTLS"
	}
	s := tls.VersionName(st.Version) + " (" + mode + ")"
	if len(st.PeerCertificates) > 0 {
		s += ", certificate " + certText(st.PeerCertificates[0])
	}
	switch {
	case !verified:
	case cfg.insecure:
		s += ", NOT verified (insecure_skip_verify)"
	case cfg.caFile != "":
		s += ", verified against ca_file " + cfg.caFile
	default:
		s += ", verified against the system's trusted authorities"
	}
	return s
}

func certText(c *x509.Certificate) string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = []string{c.Subject.CommonName}
	}
	s := "for " + strings.Join(names, ", ")
	if issuer := c.Issuer.CommonName; issuer != "" {
		s += " issued by " + issuer
	}
	return s
}

// mechanisms returns the SASL mechanisms in a capability list.
func mechanisms(caps []string) []string {
	var out []string
	for _, c := range caps {
		if len(c) > 5 && strings.EqualFold(c[:5], "AUTH=") {
			out = append(out, strings.ToUpper(c[5:]))
		}
	}
	return out
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// products maps words of greetings and ID names to server software, in
// the order they are tried.
var products = []struct {
	re   *regexp.Regexp
	name string
}{
	{regexp.MustCompile(`(?i)\bdovecot\b`), "Dovecot"},
	{regexp.MustCompile(`(?i)\bcyrus\b`), "Cyrus IMAP"},
	{regexp.MustCompile(`(?i)courier`), "Courier-IMAP"},
	{regexp.MustCompile(`(?i)microsoft exchange|outlook\.office365|\bexchange\b`), "Microsoft Exchange"},
	{regexp.MustCompile(`(?i)zimbra`), "Zimbra"},
	{regexp.MustCompile(`(?i)\bgimap\b`), "Gmail"},
	{regexp.MustCompile(`(?i)sun java|iplanet|netscape messaging|oracle communications messaging|messaging multiplexor`), "Sun/Oracle Messaging Server"},
	{regexp.MustCompile(`(?i)\buw imap|IMAP4rev1 20\d\d[a-z]?\.\d+`), "UW IMAP"},
	{regexp.MustCompile(`(?i)kerio`), "Kerio Connect"},
	{regexp.MustCompile(`(?i)communigate`), "CommuniGate Pro"},
	{regexp.MustCompile(`(?i)icewarp|merak`), "IceWarp"},
	{regexp.MustCompile(`(?i)axigen`), "Axigen"},
	{regexp.MustCompile(`(?i)mdaemon`), "MDaemon"},
	{regexp.MustCompile(`(?i)smartermail`), "SmarterMail"},
	{regexp.MustCompile(`(?i)hmailserver`), "hMailServer"},
	{regexp.MustCompile(`(?i)stalwart`), "Stalwart"},
	{regexp.MustCompile(`(?i)\bjames\b`), "Apache James"},
	{regexp.MustCompile(`(?i)groupwise`), "GroupWise"},
	{regexp.MustCompile(`(?i)domino|lotus`), "HCL Domino"},
	{regexp.MustCompile(`(?i)\bmox\b`), "mox"},
}

// versionRE finds a version number right after a product's name in a
// greeting ("Cyrus IMAP v3.6.1-Debian", "Courier-IMAP ready" has none).
var versionRE = regexp.MustCompile(`^[\w\s()-]{0,32}?\bv?(\d+\.\d+(?:\.\d+)*)`)

// product guesses the server software from its ID (RFC 2971) and its
// greeting (without the response code, which lists capabilities); ""
// when neither tells.
func product(greeting string, id map[string]string) string {
	if i := strings.Index(greeting, "] "); strings.Contains(greeting, "[") && i >= 0 {
		greeting = greeting[i+2:]
	}
	for _, text := range []string{id["name"] + " " + id["vendor"], greeting} {
		for _, p := range products {
			loc := p.re.FindStringIndex(text)
			if loc == nil {
				continue
			}
			version := id["version"]
			if version == "" && text == greeting {
				if m := versionRE.FindStringSubmatch(text[loc[1]:]); m != nil {
					version = m[1]
				}
			}
			if version != "" {
				return p.name + " " + version
			}
			return p.name
		}
	}
	return ""
}
