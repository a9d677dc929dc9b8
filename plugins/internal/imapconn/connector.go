package imapconn

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

// Connector is an IMAP connector with a profile (Generic for
// tern-connector-imap). It keeps no state: every session it opens owns
// its connections.
type Connector struct {
	p   *Profile
	log *slog.Logger
}

var (
	_ connector.Connector        = (*Connector)(nil)
	_ connector.ConnectionTester = (*Connector)(nil)
	_ connector.UserLister       = (*Connector)(nil)
)

// New returns the connector of profile p (nil: Generic). log receives
// connection events at debug level and, at connector.LevelTrace, the
// protocol trace (credentials redacted; message contents only at
// connector.LevelTraceData). nil discards. A profile that makes no sense
// panics.
func New(p *Profile, log *slog.Logger) *Connector {
	if p == nil {
		p = Generic
	}
	p.prepare()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Connector{p: p, log: log}
}

// Profile returns the connector's profile.
func (c *Connector) Profile() *Profile { return c.p }

// Describe implements connector.Connector.
func (c *Connector) Describe(context.Context) (*connector.Description, error) {
	return &connector.Description{
		ID:              c.p.ID,
		Version:         c.p.Version,
		ProtocolVersion: connector.ProtocolVersion,
		Summary:         c.p.Summary,
		Roles:           []connector.Role{connector.RoleSource, connector.RoleTarget},
		Capabilities: connector.Capabilities{
			DeltaCheckpoints: true,
			Lookup:           true,
			FlagSync:         true,
			Keywords:         true,
			TestConnection:   true,
			ListUsers:        c.p.ListUsers != nil,
			CredentialModes:  slices.Clone(c.p.CredentialModes),
			// MaxMessageSize stays 0: it is the server's APPENDLIMIT, known
			// only per instance once connected; Append enforces it.
		},
		SettingsSchema: slices.Clone(c.p.schema),
	}, nil
}

// OpenSource implements connector.Connector. The session reads with
// EXAMINE only, so nothing in the mailbox changes, not even \Seen.
func (c *Connector) OpenSource(ctx context.Context, req *connector.OpenRequest) (connector.Source, error) {
	s, err := c.open(ctx, req, connector.RoleSource)
	if err != nil {
		return nil, err
	}
	return &source{s}, nil
}

// OpenTarget implements connector.Connector.
func (c *Connector) OpenTarget(ctx context.Context, req *connector.OpenRequest) (connector.Target, error) {
	s, err := c.open(ctx, req, connector.RoleTarget)
	if err != nil {
		return nil, err
	}
	return &target{session: s, perm: make(map[string]flagFilter)}, nil
}

// login builds the Login for a request's credential: the mailbox is
// Credential.Username, or OpenRequest.User when that is empty; in the
// administrator modes Credential.AuthUser logs in for it.
func (p *Profile) login(req *connector.OpenRequest, cfg *config) (imapkit.Login, error) {
	cred := req.Credential
	if !p.offers(cred.Mode) {
		return nil, connector.Errorf(connector.KindInvalid, "credential mode %q is not supported by the %s connector (supported: %s)", cred.Mode, p.ID, quoteList(p.CredentialModes))
	}
	user := cred.Username
	if user == "" {
		user = req.User
	}
	if user == "" {
		return nil, connector.Errorf(connector.KindInvalid, "no user name to log in with")
	}
	admin := cred.Mode != "" && cred.Mode != connector.ModePassword
	if admin && cred.AuthUser == "" {
		return nil, connector.Errorf(connector.KindInvalid, "credential mode %q needs the administrator's login name (AuthUser)", cred.Mode)
	}
	if cred.Secret == "" {
		who := strconv.Quote(user)
		if admin {
			who = "the administrator " + strconv.Quote(cred.AuthUser)
		}
		return nil, connector.Errorf(connector.KindInvalid, "no password given for %s", who)
	}
	switch cred.Mode {
	case connector.ModeAdminAuthzid:
		return &imapkit.AuthzidLogin{User: user, AuthUser: cred.AuthUser, Password: cred.Secret}, nil
	case connector.ModeAdminMaster:
		return &imapkit.MasterLogin{User: user, AuthUser: cred.AuthUser, Separator: cfg.masterSep, Password: cred.Secret, Mechanism: cfg.mechanism}, nil
	case connector.ModeAdminProxyAuth:
		return &imapkit.ProxyAuthLogin{User: user, AuthUser: cred.AuthUser, Password: cred.Secret, Mechanism: cfg.mechanism}, nil
	}
	return &imapkit.PasswordLogin{Username: user, Password: cred.Secret, Mechanism: cfg.mechanism}, nil
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// dialOptions returns the options that reach the server of cfg and log
// in with l.
func (c *Connector) dialOptions(cfg *config, l imapkit.Login, log *slog.Logger) (*imapkit.Options, error) {
	opts := &imapkit.Options{
		Address:        cfg.addr,
		TLS:            cfg.tls,
		ConnectTimeout: cfg.connectTimeout,
		IOTimeout:      cfg.ioTimeout,
		Login:          l,
		Logger:         log,
	}
	if cfg.tls != imapkit.TLSNone {
		var err error
		opts.TLSConfig, err = imapkit.TLSConfig(cfg.host, cfg.caFile, cfg.insecure)
		if err != nil {
			return nil, connector.Errorf(connector.KindInvalid, "imap settings: ca_file: %v", err)
		}
	}
	return opts, nil
}

func (c *Connector) open(ctx context.Context, req *connector.OpenRequest, role connector.Role) (*session, error) {
	cfg, err := c.p.parseSettings(req.Settings)
	if err != nil {
		return nil, err
	}
	l, err := c.p.login(req, cfg)
	if err != nil {
		return nil, err
	}
	opts, err := c.dialOptions(cfg, l, c.log.With("connector", c.p.ID, "role", string(role), "mailbox", req.User))
	if err != nil {
		return nil, err
	}
	user := req.Credential.Username
	if user == "" {
		user = req.User
	}
	s := &session{
		p:    c.p,
		user: user,
		cfg:  cfg,
		role: role,
		log:  opts.Logger,
		pool: imapkit.NewPool(cfg.maxConns, func(ctx context.Context) (*imapkit.Conn, error) { return imapkit.Dial(ctx, opts) }),
	}
	if role == connector.RoleTarget {
		// MULTIAPPEND connections, dialled when a source copies into
		// this target (see CopyTo).
		s.appenders = imapkit.NewAppendPool(cfg.maxConns, func(ctx context.Context) (*imapkit.AppendConn, error) {
			return imapkit.DialAppend(ctx, opts)
		})
		// Both kinds together stay within max_connections.
		b := imapkit.NewBudget(cfg.maxConns)
		s.pool.ShareBudget(b)
		s.appenders.ShareBudget(b)
	}
	// Log in once now, so that a wrong password or an unreachable server
	// fails the open rather than the first call.
	conn, err := s.pool.Get(ctx, "")
	if err != nil {
		s.pool.Close()
		return nil, c.p.advise(req.Credential.Mode, err)
	}
	s.caps = conn.Caps()
	if c.p.CheckInbox {
		if err := checkInbox(ctx, conn, l); err != nil {
			s.pool.Put(conn)
			s.pool.Close()
			return nil, err
		}
	}
	s.pool.Put(conn)
	s.log.Debug("imap session open", "addr", cfg.addr, "caps", capList(s.caps))
	return s, nil
}

// advise adds the profile's LoginAdvice to a refused login.
func (p *Profile) advise(mode string, err error) error {
	if p.LoginAdvice == nil || connector.KindOf(err) != connector.KindAuth {
		return err
	}
	if mode == "" {
		mode = connector.ModePassword
	}
	if a := p.LoginAdvice(mode, err); a != "" {
		return &advisedError{err: err, advice: a}
	}
	return err
}

// advisedError is an error with the profile's advice after its message;
// it unwraps to the error, so its kind stays.
type advisedError struct {
	err    error
	advice string
}

func (e *advisedError) Error() string { return e.err.Error() + ". " + e.advice }
func (e *advisedError) Unwrap() error { return e.err }

// checkInbox makes sure the mailbox that l logged in to has an INBOX
// (Profile.CheckInbox).
func checkInbox(ctx context.Context, conn *imapkit.Conn, l imapkit.Login) error {
	err := conn.Do(ctx, "status INBOX", func() error {
		_, err := conn.Client.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		return err
	})
	if err == nil {
		return nil
	}
	switch connector.KindOf(err) {
	case connector.KindNotFound, connector.KindPermanent:
		return &connector.Error{Kind: connector.KindNotFound, Err: err,
			Message: l.Describe() + ": the login worked, but there is no INBOX: no such mailbox on this server (the server lets the login in without one; check the user name)"}
	}
	return err
}

func capList(caps imap.CapSet) string {
	l := make([]string, 0, len(caps))
	for c := range caps {
		l = append(l, string(c))
	}
	return strings.Join(l, " ")
}

// session is what sources and targets share: the settings, the pool of
// connections and what the server said about itself.
type session struct {
	p    *Profile
	user string // the mailbox
	cfg  *config
	role connector.Role
	log  *slog.Logger
	pool *imapkit.Pool
	caps imap.CapSet // as of the first login

	// appenders are a target's MULTIAPPEND connections (nil for a source).
	appenders *imapkit.AppendPool

	nsMu sync.Mutex
	ns   *namespaces
}

// Close implements connector.Source and connector.Target.
func (s *session) Close(context.Context) error {
	s.pool.Close()
	if s.appenders != nil {
		s.appenders.Close()
	}
	return nil
}

// run runs op on a pooled connection, preferring one with mailbox
// selected. If op fails because its connection broke (and retry says
// that running it again is harmless), it runs once more on a fresh
// connection: a session survives a dropped connection without bothering
// core, except for an operation that may have taken effect (an APPEND).
func (s *session) run(ctx context.Context, mailbox string, retry func() bool, op func(c *imapkit.Conn) error) error {
	for attempt := 0; ; attempt++ {
		c, err := s.pool.Get(ctx, mailbox)
		if err != nil {
			return err
		}
		err = op(c)
		broken := c.Broken()
		s.pool.Put(c)
		if err == nil || !broken || attempt > 0 || ctx.Err() != nil || connector.KindOf(err) != connector.KindUnavailable || (retry != nil && !retry()) {
			return err
		}
		s.log.Debug("imap connection lost; trying again on a new one", "conn", c.ID, "err", err)
	}
}

// always is a retry func for operations without side effects.
func always() bool { return true }
