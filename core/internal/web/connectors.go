package web

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/secrets"
)

// secretChange is what a create or update does to a connector's
// passwords: a new value, a removal, or nothing.
type secretChange struct {
	Admin, User           string
	ClearAdmin, ClearUser bool
}

// saveConnector validates and stores a connector and its password
// changes, and records the audit entry (console and API). With create, a
// connector of that name must not exist.
func (s *Server) saveConnector(c echo.Context, cc *connectors.Config, sc secretChange, create bool) error {
	ctx := c.Request().Context()
	reg := s.o.Connectors
	logx.Redact(sc.Admin)
	logx.Redact(sc.User)
	if create {
		if _, err := reg.Get(ctx, cc.Name); err == nil {
			return echo.NewHTTPError(http.StatusConflict, fmt.Sprintf("connector %q exists", cc.Name))
		}
		cc.Detection, cc.Created = nil, cc.Created.UTC()
		cc.Auth.HasAdminSecret, cc.Auth.HasUserSecret = false, false
	}
	if _, err := s.o.Plugins.Connector(cc.Plugin); err != nil {
		return badRequest("%v", err)
	}
	cc.Adhoc = false
	// Validate with the passwords as they will be, before writing any.
	check := *cc
	check.Auth.HasAdminSecret = (cc.Auth.HasAdminSecret && !sc.ClearAdmin) || sc.Admin != ""
	check.Auth.HasUserSecret = (cc.Auth.HasUserSecret && !sc.ClearUser) || sc.User != ""
	if err := check.Validate(); err != nil {
		return badRequest("%v", err)
	}
	var changed []string
	if sc.Admin != "" {
		if err := reg.SetAdminSecret(ctx, cc, sc.Admin); err != nil {
			return err
		}
		changed = append(changed, "administrator password set")
	} else if sc.ClearAdmin && cc.Auth.HasAdminSecret {
		if err := reg.Secrets().Delete(ctx, secrets.ConnectorAdmin(cc.Name)); err != nil {
			return err
		}
		cc.Auth.HasAdminSecret = false
		changed = append(changed, "administrator password removed")
	}
	if sc.User != "" {
		if err := reg.SetUserSecret(ctx, cc, sc.User); err != nil {
			return err
		}
		changed = append(changed, "user password set")
	} else if sc.ClearUser && cc.Auth.HasUserSecret {
		if err := reg.Secrets().Delete(ctx, secrets.ConnectorUser(cc.Name)); err != nil {
			return err
		}
		cc.Auth.HasUserSecret = false
		changed = append(changed, "user password removed")
	}
	if err := reg.Put(ctx, cc); err != nil {
		return badRequest("%v", err)
	}
	action := "connector.update"
	if create {
		action = "connector.create"
	}
	detail := "plugin " + cc.Plugin + ", " + cc.Server()
	for _, ch := range changed {
		detail += "; " + ch
	}
	s.record(c, action, "connector "+cc.Name, detail)
	return nil
}

// deleteConnector deletes a connector and its secrets (console and API).
func (s *Server) deleteConnector(c echo.Context, name string) error {
	if err := s.o.Connectors.Delete(c.Request().Context(), name); err != nil {
		return err
	}
	s.record(c, "connector.delete", "connector "+name, "with its passwords")
	return nil
}

// testConnector runs a connection test with a sample user and stores the
// result on the connector (console and API). userSecret is the sample
// user's own password, used for this test only.
func (s *Server) testConnector(c echo.Context, name, sampleUser, userSecret string) (*connectors.Detection, error) {
	ctx := c.Request().Context()
	cc, conn, err := s.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	logx.Redact(userSecret)
	if v, err := s.o.Connectors.AdminSecret(ctx, cc); err == nil {
		logx.Redact(v)
	}
	d, err := s.o.Connectors.Test(ctx, conn, cc, sampleUser, userSecret)
	if err != nil {
		return nil, err
	}
	detail := "no login worked"
	if d.Report != nil && d.Report.Recommended != "" {
		detail = "recommended " + d.Report.Recommended
	}
	s.record(c, "connector.test", "connector "+name, "sample user "+sampleUser+": "+detail)
	return d, nil
}

func (s *Server) registerConnectors(con, api *echo.Group) {
	s.registerConnectorsAPI(api)
	con.GET("/connectors", s.connectorsPage).Name = routeConnectors
}

func (s *Server) connectorsPage(c echo.Context) error {
	list, err := s.o.Connectors.List(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, Page{Name: "connectors", Title: "Connectors", Data: list})
}
