package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/sdk/connector"
)

// errStateInUse says the state directory is held by another tern process
// (the daemon, normally).
var errStateInUse = errors.New("in use by another tern process")

// connectorStore is where `tern connectors` and `tern users discover`
// work: the state directory itself, or — when the daemon holds it — the
// daemon's JSON API, so that the commands work whether tern serve runs
// or not.
type connectorStore interface {
	List(ctx context.Context) ([]*connectors.Config, error)
	Get(ctx context.Context, name string) (*connectors.Config, error)
	// Add stores c with its passwords ("" for none); replace allows an
	// existing connector of that name to be replaced.
	Add(ctx context.Context, c *connectors.Config, admin, user string, replace bool) error
	Delete(ctx context.Context, name string) error
	Test(ctx context.Context, name, sample, userSecret string) (*connectors.Detection, error)
	Users(ctx context.Context, name string) ([]connector.User, error)
	Close()
}

// openConnectors opens the state directory, or the daemon's API when the
// daemon holds it (saying so on stderr).
func (s *stateFlags) openConnectors(ctx context.Context, stderr io.Writer, withPlugins bool) (connectorStore, error) {
	env, err := s.open(ctx, stderr, withPlugins)
	if err == nil {
		return localConnectors{env}, nil
	}
	if !errors.Is(err, errStateInUse) {
		return nil, err
	}
	af := apiFlags{config: s.config, state: s.state}
	c, cerr := af.client()
	if cerr != nil {
		return nil, fmt.Errorf("%w, and its API cannot be used: %v", err, cerr)
	}
	fmt.Fprintf(stderr, "tern: the daemon holds the state directory; working through its API at %s\n", c.base)
	return remoteConnectors{c}, nil
}

type localConnectors struct{ env *cmdEnv }

func (l localConnectors) List(ctx context.Context) ([]*connectors.Config, error) {
	return l.env.reg.List(ctx)
}

func (l localConnectors) Get(ctx context.Context, name string) (*connectors.Config, error) {
	return l.env.reg.Get(ctx, name)
}

func (l localConnectors) Add(ctx context.Context, c *connectors.Config, admin, user string, replace bool) error {
	if _, err := l.env.reg.Get(ctx, c.Name); err == nil && !replace {
		return fmt.Errorf("connector %q exists (use --replace)", c.Name)
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if _, err := l.env.plugins.Connector(c.Plugin); err != nil {
		return err
	}
	if admin != "" {
		if err := l.env.reg.SetAdminSecret(ctx, c, admin); err != nil {
			return err
		}
	}
	if user != "" {
		if err := l.env.reg.SetUserSecret(ctx, c, user); err != nil {
			return err
		}
	}
	return l.env.reg.Put(ctx, c)
}

func (l localConnectors) Delete(ctx context.Context, name string) error {
	return l.env.reg.Delete(ctx, name)
}

func (l localConnectors) Test(ctx context.Context, name, sample, userSecret string) (*connectors.Detection, error) {
	c, err := l.env.reg.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	conn, err := l.env.plugins.Connector(c.Plugin)
	if err != nil {
		return nil, err
	}
	return l.env.reg.Test(ctx, conn, c, sample, userSecret)
}

func (l localConnectors) Users(ctx context.Context, name string) ([]connector.User, error) {
	c, err := l.env.reg.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	conn, err := l.env.plugins.Connector(c.Plugin)
	if err != nil {
		return nil, err
	}
	return l.env.reg.ListUsers(ctx, conn, c)
}

func (l localConnectors) Close() { l.env.close() }

type remoteConnectors struct{ c *apiClient }

func (r remoteConnectors) List(ctx context.Context) ([]*connectors.Config, error) {
	var out []*connectors.Config
	return out, r.c.do(ctx, "GET", "/connectors", nil, &out)
}

func (r remoteConnectors) Get(ctx context.Context, name string) (*connectors.Config, error) {
	var out connectors.Config
	if err := r.c.do(ctx, "GET", "/connectors/"+pathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (r remoteConnectors) Add(ctx context.Context, c *connectors.Config, admin, user string, replace bool) error {
	body := struct {
		*connectors.Config
		AdminPassword string `json:"admin_password,omitempty"`
		UserPassword  string `json:"user_password,omitempty"`
	}{c, admin, user}
	err := r.c.do(ctx, "POST", "/connectors", body, nil)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		if !replace {
			return fmt.Errorf("connector %q exists (use --replace)", c.Name)
		}
		return r.c.do(ctx, "PUT", "/connectors/"+pathEscape(c.Name), body, nil)
	}
	return err
}

func (r remoteConnectors) Delete(ctx context.Context, name string) error {
	return r.c.do(ctx, "DELETE", "/connectors/"+pathEscape(name), nil, nil)
}

func (r remoteConnectors) Test(ctx context.Context, name, sample, userSecret string) (*connectors.Detection, error) {
	var out connectors.Detection
	body := map[string]string{"sample_user": sample, "user_password": userSecret}
	if err := r.c.do(ctx, "POST", "/connectors/"+pathEscape(name)+"/test", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (r remoteConnectors) Users(ctx context.Context, name string) ([]connector.User, error) {
	var out []connector.User
	return out, r.c.do(ctx, "GET", "/connectors/"+pathEscape(name)+"/users", nil, &out)
}

func (r remoteConnectors) Close() {}
