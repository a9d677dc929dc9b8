package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/sdk/connector"
)

// Plugins gives the API the connector of a plugin id.
type Plugins interface {
	Connector(id string) (connector.Connector, error)
}

// API serves the JSON API under /api/v1. Every request needs the API
// token (Authorization: Bearer …); the console's login comes later.
type API struct {
	Token      string
	Connectors *connectors.Registry
	Plugins    Plugins
}

// LoadOrCreateToken returns the API token kept in path, creating a random
// one (readable by the owner only) on first use.
func LoadOrCreateToken(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if tok := strings.TrimSpace(string(b)); len(tok) >= 32 {
			return tok, nil
		}
		return "", fmt.Errorf("API token file %s is too short; delete it to get a new one", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var b [32]byte
	rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

// apiError is the JSON error body.
type apiError struct {
	Error string `json:"error"`
}

func (a *API) register(e *echo.Echo) {
	g := e.Group("/api/v1", a.auth)
	g.GET("/connectors", a.listConnectors)
	g.POST("/connectors", a.createConnector)
	g.GET("/connectors/:name", a.getConnector)
	g.DELETE("/connectors/:name", a.deleteConnector)
	g.POST("/connectors/:name/test", a.testConnector)
	g.GET("/connectors/:name/users", a.discoverUsers)
}

func (a *API) auth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || a.Token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(a.Token)) != 1 {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="tern"`)
			return c.JSON(http.StatusUnauthorized, apiError{"missing or wrong API token"})
		}
		return next(c)
	}
}

// fail answers an error with the status its kind calls for. Secrets never
// reach error texts (they are references), and logx scrubs any that a
// server quoted.
func fail(c echo.Context, err error) error {
	code := http.StatusBadGateway
	switch {
	case errors.Is(err, connectors.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, connector.ErrInvalid), errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	case errors.Is(err, connector.ErrUnsupported):
		code = http.StatusNotImplemented
	case errors.Is(err, connector.ErrAuth):
		code = http.StatusUnprocessableEntity
	case errors.Is(err, secrets.ErrUnavailable):
		code = http.StatusServiceUnavailable
	}
	return c.JSON(code, apiError{logx.Scrub(err.Error())})
}

var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

func (a *API) listConnectors(c echo.Context) error {
	list, err := a.Connectors.List(c.Request().Context())
	if err != nil {
		return fail(c, err)
	}
	if list == nil {
		list = []*connectors.Config{}
	}
	return c.JSON(http.StatusOK, list)
}

func (a *API) getConnector(c echo.Context) error {
	cc, err := a.Connectors.Get(c.Request().Context(), c.Param("name"))
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(http.StatusOK, cc)
}

// connectorInput is a connector as the API receives it: the passwords
// are write-only, stored in the secrets layer and never sent back.
type connectorInput struct {
	connectors.Config
	AdminPassword string `json:"admin_password,omitempty"`
	UserPassword  string `json:"user_password,omitempty"`
}

func (a *API) createConnector(c echo.Context) error {
	var in connectorInput
	if err := c.Bind(&in); err != nil {
		return fail(c, badRequest("body: %v", err))
	}
	logx.Redact(in.AdminPassword)
	logx.Redact(in.UserPassword)
	ctx := c.Request().Context()
	cc := &in.Config
	if _, err := a.Connectors.Get(ctx, cc.Name); err == nil {
		return c.JSON(http.StatusConflict, apiError{fmt.Sprintf("connector %q exists", cc.Name)})
	}
	if _, err := a.Plugins.Connector(cc.Plugin); err != nil {
		return fail(c, badRequest("%v", err))
	}
	cc.Detection, cc.Adhoc = nil, false
	cc.Auth.HasAdminSecret, cc.Auth.HasUserSecret = in.AdminPassword != "", in.UserPassword != ""
	if err := cc.Validate(); err != nil {
		return fail(c, badRequest("%v", err))
	}
	if in.AdminPassword != "" {
		if err := a.Connectors.SetAdminSecret(ctx, cc, in.AdminPassword); err != nil {
			return fail(c, err)
		}
	}
	if in.UserPassword != "" {
		if err := a.Connectors.SetUserSecret(ctx, cc, in.UserPassword); err != nil {
			return fail(c, err)
		}
	}
	if err := a.Connectors.Put(ctx, cc); err != nil {
		return fail(c, badRequest("%v", err))
	}
	return c.JSON(http.StatusCreated, cc)
}

func (a *API) deleteConnector(c echo.Context) error {
	if err := a.Connectors.Delete(c.Request().Context(), c.Param("name")); err != nil {
		return fail(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

type testRequest struct {
	SampleUser string `json:"sample_user"`
	// UserPassword is the sample user's own password, used for this test
	// only and not stored.
	UserPassword string `json:"user_password"`
}

func (a *API) testConnector(c echo.Context) error {
	var in testRequest
	if err := c.Bind(&in); err != nil {
		return fail(c, badRequest("body: %v", err))
	}
	ctx := c.Request().Context()
	cc, conn, err := a.lookup(ctx, c.Param("name"))
	if err != nil {
		return fail(c, err)
	}
	logx.Redact(in.UserPassword)
	if s, err := a.Connectors.AdminSecret(ctx, cc); err == nil {
		logx.Redact(s)
	}
	d, err := a.Connectors.Test(ctx, conn, cc, in.SampleUser, in.UserPassword)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(http.StatusOK, d)
}

func (a *API) discoverUsers(c echo.Context) error {
	ctx := c.Request().Context()
	cc, conn, err := a.lookup(ctx, c.Param("name"))
	if err != nil {
		return fail(c, err)
	}
	l, ok := conn.(connector.UserLister)
	if !ok {
		return fail(c, connector.Errorf(connector.KindUnsupported, "connector %s cannot list users", cc.Plugin))
	}
	if cc.Auth.AdminUser == "" || !cc.Auth.HasAdminSecret {
		return fail(c, badRequest("listing users needs the connector's administrator login"))
	}
	secret, err := a.Connectors.AdminSecret(ctx, cc)
	if err != nil {
		return fail(c, err)
	}
	logx.Redact(secret)
	mode, _ := cc.AuthConfig().AdminMode()
	users := []connector.User{}
	err = l.ListUsers(ctx, &connector.ListUsersRequest{Settings: cc.SettingsJSON(), Admin: connector.AdminCredential{AuthUser: cc.Auth.AdminUser, Secret: secret}, Mode: mode},
		func(page []connector.User) error { users = append(users, page...); return nil })
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(http.StatusOK, users)
}

func (a *API) lookup(ctx context.Context, name string) (*connectors.Config, connector.Connector, error) {
	cc, err := a.Connectors.Get(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	conn, err := a.Plugins.Connector(cc.Plugin)
	if err != nil {
		return nil, nil, err
	}
	return cc, conn, nil
}
