package web

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/secrets"
)

func (s *Server) registerSystem(con, api *echo.Group) {
	con.GET("/system", s.systemPage).Name = routeSystem
	api.GET("/system", s.apiSystem)
	s.registerSMTP(con, api)
}

// systemInfo is the system page and GET /api/v1/system.
type systemInfo struct {
	Version string         `json:"version"`
	Secrets secrets.Health `json:"secrets"`
	// TokenTTL is the Vault token's remaining lifetime in words ("" if
	// not applicable).
	TokenTTL string       `json:"token_ttl,omitempty"`
	Plugins  []PluginInfo `json:"plugins"`
	// SMTP is the outgoing mail form (console only; nil without a mailer).
	SMTP *smtpView `json:"-"`
}

func (s *Server) systemInfo(ctx context.Context) systemInfo {
	si := systemInfo{Version: s.o.Version, Plugins: []PluginInfo{}}
	if s.o.Secrets != nil {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		si.Secrets = s.o.Secrets.Health(ctx)
		if si.Secrets.TokenTTL > 0 {
			si.TokenTTL = si.Secrets.TokenTTL.Round(time.Second).String()
		}
	}
	if s.o.Plugins != nil {
		si.Plugins = append(si.Plugins, s.o.Plugins.List()...)
	}
	return si
}

func (s *Server) systemPage(c echo.Context) error {
	si := s.systemInfo(c.Request().Context())
	v, err := s.smtpView(c)
	if err != nil {
		return err
	}
	si.SMTP = v
	return s.render(c, Page{Name: "system", Title: "System", Data: si})
}

func (s *Server) apiSystem(c echo.Context) error {
	return c.JSON(http.StatusOK, s.systemInfo(c.Request().Context()))
}
