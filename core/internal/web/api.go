package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/sdk/connector"
)

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

// apiAuth requires the API token (Authorization: Bearer …) on /api/v1.
// The API carries no cookie, so it needs no CSRF token.
func (s *Server) apiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.validToken(c) {
			return unauthorized(c)
		}
		c.Set(ctxAPI, true)
		return next(c)
	}
}

// fail answers an API error with the status its kind calls for; an error
// of no known kind came from a connector or its server: 502. Secrets
// never reach error texts (they are references), and logx scrubs any
// that a server quoted.
func fail(c echo.Context, err error) error {
	code, ok := statusOf(err)
	if !ok {
		code = http.StatusBadGateway
	}
	return c.JSON(code, apiError{message(err, code)})
}

func (s *Server) registerConnectorsAPI(api *echo.Group) {
	api.GET("/connectors", s.apiListConnectors)
	api.POST("/connectors", s.apiCreateConnector)
	api.GET("/connectors/:name", s.apiGetConnector)
	api.PUT("/connectors/:name", s.apiUpdateConnector)
	api.DELETE("/connectors/:name", s.apiDeleteConnector)
	api.POST("/connectors/:name/test", s.apiTestConnector)
	api.GET("/connectors/:name/users", s.apiDiscoverUsers)
}

func (s *Server) apiListConnectors(c echo.Context) error {
	list, err := s.o.Connectors.List(c.Request().Context())
	if err != nil {
		return fail(c, err)
	}
	if list == nil {
		list = []*connectors.Config{}
	}
	return c.JSON(http.StatusOK, list)
}

func (s *Server) apiGetConnector(c echo.Context) error {
	cc, err := s.o.Connectors.Get(c.Request().Context(), c.Param("name"))
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
	// ClearAdminPassword and ClearUserPassword remove a stored password
	// (update only).
	ClearAdminPassword bool `json:"clear_admin_password,omitempty"`
	ClearUserPassword  bool `json:"clear_user_password,omitempty"`
}

func (in *connectorInput) secrets() secretChange {
	return secretChange{Admin: in.AdminPassword, User: in.UserPassword, ClearAdmin: in.ClearAdminPassword, ClearUser: in.ClearUserPassword}
}

func (s *Server) apiCreateConnector(c echo.Context) error {
	var in connectorInput
	if err := c.Bind(&in); err != nil {
		return fail(c, badRequest("body: %v", err))
	}
	cc := &in.Config
	if err := s.saveConnector(c, cc, in.secrets(), true); err != nil {
		return fail(c, err)
	}
	return c.JSON(http.StatusCreated, cc)
}

func (s *Server) apiUpdateConnector(c echo.Context) error {
	var in connectorInput
	if err := c.Bind(&in); err != nil {
		return fail(c, badRequest("body: %v", err))
	}
	old, err := s.o.Connectors.Get(c.Request().Context(), c.Param("name"))
	if err != nil {
		return fail(c, err)
	}
	cc := &in.Config
	cc.Name, cc.Plugin = old.Name, or(cc.Plugin, old.Plugin)
	cc.Auth.HasAdminSecret, cc.Auth.HasUserSecret = old.Auth.HasAdminSecret, old.Auth.HasUserSecret
	cc.Created, cc.Detection = old.Created, old.Detection
	if err := s.saveConnector(c, cc, in.secrets(), false); err != nil {
		return fail(c, err)
	}
	return c.JSON(http.StatusOK, cc)
}

func (s *Server) apiDeleteConnector(c echo.Context) error {
	if err := s.deleteConnector(c, c.Param("name")); err != nil {
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

func (s *Server) apiTestConnector(c echo.Context) error {
	var in testRequest
	if err := c.Bind(&in); err != nil {
		return fail(c, badRequest("body: %v", err))
	}
	d, err := s.testConnector(c, c.Param("name"), in.SampleUser, in.UserPassword)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(http.StatusOK, d)
}

func (s *Server) apiDiscoverUsers(c echo.Context) error {
	ctx := c.Request().Context()
	cc, conn, err := s.lookup(ctx, c.Param("name"))
	if err != nil {
		return fail(c, err)
	}
	users, err := s.o.Connectors.ListUsers(ctx, conn, cc)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(http.StatusOK, users)
}

func (s *Server) lookup(ctx context.Context, name string) (*connectors.Config, connector.Connector, error) {
	cc, err := s.o.Connectors.Get(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	conn, err := s.o.Plugins.Connector(cc.Plugin)
	if err != nil {
		return nil, nil, err
	}
	return cc, conn, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
