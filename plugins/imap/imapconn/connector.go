package imapconn

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

// ID is the connector's ID.
const ID = "imap"

// Version is the connector's version.
const Version = "1.0.0"

// Connector is the IMAP connector. It keeps no state: every session it
// opens owns its connections.
type Connector struct {
	log *slog.Logger
}

var _ connector.Connector = (*Connector)(nil)

// New returns the connector. log receives connection events at debug level
// and, at connector.LevelTrace, the protocol trace (credentials redacted;
// message contents only at connector.LevelTraceData). nil discards.
func New(log *slog.Logger) *Connector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Connector{log: log}
}

// Describe implements connector.Connector.
func (c *Connector) Describe(context.Context) (*connector.Description, error) {
	return &connector.Description{
		ID:              ID,
		Version:         Version,
		ProtocolVersion: connector.ProtocolVersion,
		Summary:         "Any IMAP server, as source or target (TLS, STARTTLS, CONDSTORE deltas, UIDPLUS, MULTIAPPEND batches)",
		Roles:           []connector.Role{connector.RoleSource, connector.RoleTarget},
		Capabilities: connector.Capabilities{
			DeltaCheckpoints: true,
			Lookup:           true,
			FlagSync:         true,
			Keywords:         true,
			// MaxMessageSize stays 0: it is the server's APPENDLIMIT, known
			// only per instance once connected; Append enforces it.
		},
		SettingsSchema: json.RawMessage(settingsSchema),
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

// login builds the Login for a request's credential.
func login(req *connector.OpenRequest, mech imapkit.Mechanism) (imapkit.Login, error) {
	cred := req.Credential
	switch cred.Mode {
	case "", "password":
		user := cred.Username
		if user == "" {
			user = req.User
		}
		if user == "" {
			return nil, connector.Errorf(connector.KindInvalid, "no user name to log in with")
		}
		if cred.Secret == "" {
			return nil, connector.Errorf(connector.KindInvalid, "no password given for %s", strconv.Quote(user))
		}
		return &imapkit.PasswordLogin{Username: user, Password: cred.Secret, Mechanism: mech}, nil
	}
	return nil, connector.Errorf(connector.KindInvalid, "credential mode %q is not supported (supported: \"password\")", cred.Mode)
}

func (c *Connector) open(ctx context.Context, req *connector.OpenRequest, role connector.Role) (*session, error) {
	cfg, err := parseSettings(req.Settings)
	if err != nil {
		return nil, err
	}
	l, err := login(req, cfg.mechanism)
	if err != nil {
		return nil, err
	}
	opts := &imapkit.Options{
		Address:        cfg.addr,
		TLS:            cfg.tls,
		ConnectTimeout: cfg.connectTimeout,
		IOTimeout:      cfg.ioTimeout,
		Login:          l,
		Logger:         c.log.With("connector", ID, "role", string(role), "mailbox", req.User),
	}
	if cfg.tls != imapkit.TLSNone {
		opts.TLSConfig, err = imapkit.TLSConfig(cfg.host, cfg.caFile, cfg.insecure)
		if err != nil {
			return nil, connector.Errorf(connector.KindInvalid, "imap settings: ca_file: %v", err)
		}
	}
	s := &session{
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
		return nil, err
	}
	s.caps = conn.Caps()
	s.pool.Put(conn)
	s.log.Debug("imap session open", "addr", cfg.addr, "caps", capList(s.caps))
	return s, nil
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
