// Package runner turns a mailbox pair into an engine job: it starts the
// connectors' plugins, checks their roles, finds how an administrator logs
// in when that is not known yet, guards logins against hammering, and
// fetches credentials from the secrets layer at the moment a session
// opens. `tern migrate` and the console's scheduler share it, so a user
// migrated from the CLI and later from the console has one ledger.
package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ternmail/tern/core/internal/auth"
	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/pluginhost"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
)

// Plugins gives the connector of a plugin id (the plugin host).
type Plugins interface {
	Connector(id string) (connector.Connector, error)
}

// Side is one side of a migration, ready to open sessions.
type Side struct {
	// Name is "source" or "target".
	Name   string
	Config *connectors.Config
	// Conn is the plugin's connector behind the login guard.
	Conn connector.Connector
	// Username, if set, replaces the mailbox user as the login name of a
	// user's own password (CLI --source-username).
	Username string
	reg      *connectors.Registry
}

// Detector is told when an administrator's login method has to be found
// by a connection test, and of its report.
type Detector func(side string, c *connectors.Config, sample string, d *connectors.Detection)

// NewSide starts c's plugin and checks that it can play role. When c logs
// in with an administrator whose method is not known yet, it runs the
// connection test with sample (a user of the migration) and stores what
// it finds; detected, if not nil, hears about it.
func NewSide(ctx context.Context, reg *connectors.Registry, plugins Plugins, guard *auth.Guard, name string, c *connectors.Config, role connector.Role, sample string, detected Detector) (*Side, error) {
	managed, err := pluginFor(ctx, plugins, name, c, role)
	if err != nil {
		return nil, err
	}
	ac := c.AuthConfig()
	if ac.Mode() == auth.ModeAdmin && sample != "" {
		if _, err := ac.AdminMode(); err != nil {
			det, err := reg.Test(ctx, managed, c, sample, "")
			if err != nil {
				return nil, fmt.Errorf("%s connection test: %w", name, err)
			}
			if detected != nil {
				detected(name, c, sample, det)
			}
			if _, err := c.AuthConfig().AdminMode(); err != nil {
				return nil, connector.Errorf(connector.KindAuth, "%s: administrator %s could not open %s's mailbox in any way the server offers (see the connection test of connector %s)", name, c.Auth.AdminUser, sample, c.Name)
			}
		}
	}
	conn := guard.Wrap(managed, c.Server(), func(cred connector.Credential, user string) string {
		return c.AuthConfig().Describe(cred, user)
	})
	return &Side{Name: name, Config: c, Conn: conn, reg: reg}, nil
}

// pluginFor returns the connector of c's plugin, checking that it can
// play role.
func pluginFor(ctx context.Context, plugins Plugins, name string, c *connectors.Config, role connector.Role) (connector.Connector, error) {
	managed, err := plugins.Connector(c.Plugin)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d, err := managed.Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !d.HasRole(role) {
		return nil, connector.Errorf(connector.KindPermanent, "%s: connector %s cannot be a %s (roles: %v)", name, c.Plugin, role, d.Roles)
	}
	return managed, nil
}

// VerifyLogin checks a user's own source password by a live login: it
// opens mailbox on the source connector c as login (mailbox when empty)
// with password, the way a pass would open it with the user's own
// password (the connector's settings, a plain password login), and
// closes the session at once. guard, if not nil, counts and may refuse
// the login like the migrations' logins (auth.ErrBlocked). The error
// keeps its kind: connector.KindAuth for a refused password, another kind
// for a server that cannot be reached or answers wrong. The password is
// registered with logx.Redact and is in no error.
func VerifyLogin(ctx context.Context, plugins Plugins, guard *auth.Guard, c *connectors.Config, mailbox, login, password string) error {
	logx.Redact(password)
	conn, err := pluginFor(ctx, plugins, "source", c, connector.RoleSource)
	if err != nil {
		return err
	}
	if guard != nil {
		conn = guard.Wrap(conn, c.Server(), func(cred connector.Credential, user string) string {
			return auth.Config{}.Describe(cred, user)
		})
	}
	if login == "" {
		login = mailbox
	}
	req := &connector.OpenRequest{Settings: c.SettingsJSON(), User: mailbox,
		Credential: connector.Credential{Mode: connector.ModePassword, Username: login, Secret: password}}
	src, err := conn.OpenSource(ctx, req)
	if err != nil {
		return err
	}
	src.Close(context.WithoutCancel(ctx))
	return nil
}

// Request returns the function that builds the open request of user,
// reading the secret from the secrets layer at that moment: the user's
// own password at ownPath when own is set, else the connector's. When the
// secrets backend is unavailable (Vault sealed or unreachable) the job
// waits instead of failing.
func (s *Side) Request(user, ownPath string, own bool) func(context.Context) (*connector.OpenRequest, error) {
	settings := s.Config.SettingsJSON()
	return func(ctx context.Context) (*connector.OpenRequest, error) {
		ac := s.Config.AuthConfig()
		var userSecret, adminSecret string
		var err error
		switch {
		case own:
			userSecret, err = s.reg.Secrets().Get(ctx, ownPath)
		case ac.Mode() != auth.ModePerUser:
			adminSecret, err = s.reg.AdminSecret(ctx, s.Config)
		default:
			userSecret, err = s.reg.UserSecret(ctx, s.Config)
		}
		if errors.Is(err, secrets.ErrUnavailable) {
			return nil, fmt.Errorf("%s credentials: %w: %w", s.Name, engine.ErrWait, err)
		}
		if errors.Is(err, secrets.ErrNotFound) {
			return nil, connector.Errorf(connector.KindAuth, "%s: no password for %s: give the user a password, or the connector an administrator or magic password", s.Name, user)
		}
		if err != nil {
			return nil, connector.Wrap(connector.KindAuth, s.Name+" credentials", err)
		}
		logx.Redact(userSecret)
		logx.Redact(adminSecret)
		if own {
			// A user's own password is a plain login, whatever the
			// connector's administrator would do.
			ac = auth.Config{}
		}
		cred, err := ac.Credential(user, userSecret, adminSecret)
		if err != nil {
			return nil, connector.Wrap(connector.KindAuth, s.Name, err)
		}
		if s.Username != "" && cred.Mode == connector.ModePassword {
			cred.Username = s.Username
		}
		return &connector.OpenRequest{Settings: settings, User: user, Credential: cred}, nil
	}
}

// MailboxID is the ledger key of a source/target pair: the connectors'
// plugins and servers and the two users. Other settings (TLS mode,
// timeouts, how to log in, the connectors' names) may change between
// runs without losing the ledger.
func MailboxID(src, dst *connectors.Config, sourceUser, targetUser string) string {
	h := sha256.New()
	for _, part := range []string{src.Plugin, fmt.Sprint(src.Settings["host"]), fmt.Sprint(src.Settings["port"]), sourceUser,
		dst.Plugin, fmt.Sprint(dst.Settings["host"]), fmt.Sprint(dst.Settings["port"]), targetUser} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "cli-" + hex.EncodeToString(h.Sum(nil)[:12])
}

// Job builds the engine job of one pair.
func Job(db *store.DB, src, dst *Side, sourceUser, targetUser string, ownSource, ownTarget string, opts engine.Options, prog *engine.Progress) *engine.Job {
	id := MailboxID(src.Config, dst.Config, sourceUser, targetUser)
	return &engine.Job{
		Mailbox: id,
		Ledger:  db.Ledger(id),
		Source: engine.Endpoint{Connector: src.Conn, Label: src.Config.Plugin + " " + sourceUser,
			Request: src.Request(sourceUser, ownSource, ownSource != "")},
		Target: engine.Endpoint{Connector: dst.Conn, Label: dst.Config.Plugin + " " + targetUser,
			Request: dst.Request(targetUser, ownTarget, ownTarget != "")},
		Options:  opts,
		Progress: prog,
	}
}

// Runner runs passes over projects' users (the scheduler's Runner).
type Runner struct {
	DB       *store.DB
	Registry *connectors.Registry
	Plugins  Plugins
	Guard    *auth.Guard
	Engine   *engine.Engine
	Log      *slog.Logger

	detect sync.Mutex // one connection test at a time
}

// Run runs one pass over u of p. It never returns nil: a pass that could
// not start has status failed, its reason and the reason's kind.
func (r *Runner) Run(ctx context.Context, p *project.Project, u *project.User, prog *engine.Progress) *engine.Report {
	src, dst, err := r.sides(ctx, p, u)
	if err != nil {
		return &engine.Report{Source: u.SourceUser, Target: u.TargetUser, Status: engine.StatusFailed, Error: err.Error(), ErrorKind: connector.KindOf(err)}
	}
	var ownSrc, ownDst string
	if u.HasSourcePassword {
		ownSrc = secrets.MailboxSource(u.ID)
	}
	if u.HasTargetPassword {
		ownDst = secrets.MailboxTarget(u.ID)
	}
	opts := p.Settings.Options()
	opts.NoFlags = p.Settings.NoFlags
	opts.MessagesPerSecond = p.Settings.MessagesPerSecond
	if u.HasSourcePassword && u.SourceLogin != "" {
		src.Username = u.SourceLogin // a login of the user's own (self-service)
	}
	rep := r.Engine.Run(ctx, Job(r.DB, src, dst, u.SourceUser, u.TargetUser, ownSrc, ownDst, opts, prog))
	rep.Source, rep.Target = u.SourceUser, u.TargetUser
	return rep
}

func (r *Runner) sides(ctx context.Context, p *project.Project, u *project.User) (*Side, *Side, error) {
	get := func(name, side string) (*connectors.Config, error) {
		c, err := r.Registry.Get(ctx, name)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, connectors.ErrNotFound) {
			return nil, connector.Errorf(connector.KindPermanent, "%s connector %q does not exist", side, name)
		}
		return c, err
	}
	sc, err := get(p.Source, "source")
	if err != nil {
		return nil, nil, err
	}
	tc, err := get(p.Target, "target")
	if err != nil {
		return nil, nil, err
	}
	r.detect.Lock()
	defer r.detect.Unlock()
	detected := func(side string, c *connectors.Config, sample string, d *connectors.Detection) {
		if r.Log != nil {
			r.Log.Info("administrator login method detected", "side", side, "connector", c.Name, "sample_user", sample, "method", c.Auth.AdminMethod)
		}
	}
	src, err := NewSide(ctx, r.Registry, r.Plugins, r.Guard, "source", sc, connector.RoleSource, sampleOf(sc, u.SourceUser, u.HasSourcePassword), detected)
	if err != nil {
		return nil, nil, err
	}
	dst, err := NewSide(ctx, r.Registry, r.Plugins, r.Guard, "target", tc, connector.RoleTarget, sampleOf(tc, u.TargetUser, u.HasTargetPassword), detected)
	if err != nil {
		return nil, nil, err
	}
	return src, dst, nil
}

// sampleOf is the user a connection test may use to find the
// administrator's method: none when the user logs in with its own
// password.
func sampleOf(c *connectors.Config, user string, own bool) string {
	if own {
		return ""
	}
	return user
}

// HostPlugins adapts the plugin host to Plugins.
func HostPlugins(h *pluginhost.Host) Plugins { return hostPlugins{h} }

type hostPlugins struct{ h *pluginhost.Host }

func (p hostPlugins) Connector(id string) (connector.Connector, error) {
	m, err := p.h.Connector(id)
	if err != nil {
		return nil, err // not a nil *Managed in a non-nil interface
	}
	return m, nil
}
