package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/auth"
	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/web/schemaform"
	"github.com/ternmail/tern/sdk/connector"
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
	for _, k := range []struct {
		what, value string
		clear       bool
		has         *bool
		set         func(context.Context, *connectors.Config, string) error
		path        string
	}{
		{"administrator password", sc.Admin, sc.ClearAdmin, &cc.Auth.HasAdminSecret, reg.SetAdminSecret, secrets.ConnectorAdmin(cc.Name)},
		{"user password", sc.User, sc.ClearUser, &cc.Auth.HasUserSecret, reg.SetUserSecret, secrets.ConnectorUser(cc.Name)},
	} {
		switch {
		case k.value != "":
			if err := k.set(ctx, cc, k.value); err != nil {
				return err
			}
			changed = append(changed, k.what+" set")
		case k.clear && *k.has:
			if err := reg.Secrets().Delete(ctx, k.path); err != nil {
				return err
			}
			*k.has = false
			changed = append(changed, k.what+" removed")
		}
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
	con.GET("/connectors/new", s.connectorNew).Name = routeConnectorNew
	con.POST("/connectors", s.connectorCreate).Name = routeConnectorCreate
	con.GET("/connectors/:name", s.connectorEdit).Name = routeConnectorEdit
	con.POST("/connectors/:name", s.connectorUpdate).Name = routeConnectorUpdate
	con.POST("/connectors/:name/delete", s.connectorDelete).Name = routeConnectorDelete
	con.POST("/connectors/:name/test", s.connectorTest).Name = routeConnectorTest
}

// pluginView is a plugin as the connector pages show it.
type pluginView struct {
	ID, Summary, Version string
	Roles                []string
	Error                string
	desc                 *connector.Description
}

// describe asks a plugin for its description; a plugin that cannot
// answer is shown with the reason.
func (s *Server) describe(ctx context.Context, id string) pluginView {
	pv := pluginView{ID: id}
	conn, err := s.o.Plugins.Connector(id)
	if err == nil {
		pv.desc, err = conn.Describe(ctx)
	}
	if err != nil {
		pv.Error = logx.Scrub(err.Error())
		return pv
	}
	pv.Summary, pv.Version = pv.desc.Summary, pv.desc.Version
	for _, r := range pv.desc.Roles {
		pv.Roles = append(pv.Roles, string(r))
	}
	return pv
}

// connectorRow is a line of the connectors list.
type connectorRow struct {
	*connectors.Config
	Roles []string
	Login string
}

func (s *Server) connectorsPage(c echo.Context) error {
	ctx := c.Request().Context()
	list, err := s.o.Connectors.List(ctx)
	if err != nil {
		return err
	}
	plugins := map[string]pluginView{}
	rows := make([]connectorRow, 0, len(list))
	for _, cc := range list {
		pv, ok := plugins[cc.Plugin]
		if !ok {
			pv = s.describe(ctx, cc.Plugin)
			plugins[cc.Plugin] = pv
		}
		rows = append(rows, connectorRow{Config: cc, Roles: pv.Roles, Login: loginWords(cc)})
	}
	return s.render(c, Page{Name: "connectors", Title: "Connectors", Data: rows})
}

// loginWords says how a connector logs in, without secrets.
func loginWords(cc *connectors.Config) string {
	ac := cc.AuthConfig()
	switch ac.Mode() {
	case auth.ModeAdmin:
		mode, err := ac.AdminMode()
		if err != nil {
			mode = "method not tested yet"
		}
		return "administrator " + cc.Auth.AdminUser + " (" + mode + ")"
	case auth.ModeMagic:
		return "magic password"
	}
	return "per-user passwords"
}

// connectorForm is the create and edit page.
type connectorForm struct {
	New    bool
	Name   string
	Plugin pluginView
	// Plugins to choose from (new connector, no plugin chosen yet).
	Plugins []pluginView
	Title   string
	Help    string
	Fields  []schemaform.Field
	// The login part.
	AdminUser, AdminMethod        string
	Concurrency                   int
	Methods                       []string
	HasAdminSecret, HasUserSecret bool
	Errors                        map[string]string
	Detection                     *connectors.Detection
	SampleUser                    string
}

var adminMethods = []string{auth.MethodAuto, auth.MethodAuthzid, auth.MethodMaster, auth.MethodProxyAuth}

// buildForm fills the page for cc (nil settings: a new form with the
// schema's defaults).
func (s *Server) buildForm(ctx context.Context, cc *connectors.Config, isNew bool, errs map[string]string) (*connectorForm, *schemaform.Form, error) {
	f := &connectorForm{New: isNew, Name: cc.Name, Plugin: s.describe(ctx, cc.Plugin), Methods: adminMethods,
		AdminUser: cc.Auth.AdminUser, AdminMethod: or(cc.Auth.AdminMethod, auth.MethodAuto), Concurrency: cc.Concurrency,
		HasAdminSecret: cc.Auth.HasAdminSecret, HasUserSecret: cc.Auth.HasUserSecret, Errors: errs, Detection: cc.Detection}
	if f.Detection != nil {
		f.SampleUser = f.Detection.SampleUser
	}
	if f.Plugin.desc == nil {
		return f, nil, badRequest("plugin %s: %s", cc.Plugin, f.Plugin.Error)
	}
	sf, err := schemaform.Parse(f.Plugin.desc.SettingsSchema)
	if err != nil {
		return f, nil, badRequest("plugin %s: %v", cc.Plugin, err)
	}
	f.Title, f.Help = sf.Title, sf.Description
	f.Fields = sf.Fields(cc.Settings, errs)
	return f, sf, nil
}

func (s *Server) renderConnectorForm(c echo.Context, status int, f *connectorForm) error {
	title := "Connector " + f.Name
	if f.New {
		title = "New connector"
	}
	return s.render(c, Page{Name: "connector", Title: title, Status: status, Data: f, Nav: "connectors"})
}

func (s *Server) connectorNew(c echo.Context) error {
	ctx := c.Request().Context()
	plugin := c.QueryParam("plugin")
	if plugin == "" {
		f := &connectorForm{New: true}
		for _, p := range s.o.Plugins.List() {
			if p.Error == "" {
				f.Plugins = append(f.Plugins, s.describe(ctx, p.ID))
			}
		}
		return s.renderConnectorForm(c, http.StatusOK, f)
	}
	f, _, err := s.buildForm(ctx, &connectors.Config{Plugin: plugin}, true, nil)
	if err != nil {
		return err
	}
	return s.renderConnectorForm(c, http.StatusOK, f)
}

// readForm reads the posted connector into cc and returns the password
// changes and the errors per field (nil if none).
func (s *Server) readForm(c echo.Context, cc *connectors.Config) (secretChange, *connectorForm, error) {
	ctx := c.Request().Context()
	_, sf, err := s.buildForm(ctx, cc, false, nil)
	if err != nil {
		return secretChange{}, nil, err
	}
	form, err := c.FormParams()
	if err != nil {
		return secretChange{}, nil, badRequest("form: %v", err)
	}
	settings, errs := sf.Decode(form)
	cc.Settings = settings
	cc.Auth.AdminUser = form.Get("admin_user")
	cc.Auth.AdminMethod = form.Get("admin_method")
	if !slices.Contains(adminMethods, cc.Auth.AdminMethod) {
		cc.Auth.AdminMethod = auth.MethodAuto
	}
	if v := strings.TrimSpace(form.Get("concurrency")); v == "" {
		cc.Concurrency = 0
	} else if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 256 {
		if errs == nil {
			errs = map[string]string{}
		}
		errs["concurrency"] = "A whole number from 0 (no limit) to 256."
	} else {
		cc.Concurrency = n
	}
	sc := secretChange{Admin: form.Get("admin_password"), User: form.Get("user_password"),
		ClearAdmin: form.Get("clear_admin_password") != "", ClearUser: form.Get("clear_user_password") != ""}
	if errs != nil {
		f, _, _ := s.buildForm(ctx, cc, false, errs)
		return sc, f, nil
	}
	return sc, nil, nil
}

// saveFromForm saves a posted connector, or shows the form again with
// what is wrong (the passwords typed are not sent back).
func (s *Server) saveFromForm(c echo.Context, cc *connectors.Config, isNew bool) error {
	sc, bad, err := s.readForm(c, cc)
	if err != nil {
		return err
	}
	if bad == nil {
		err = s.saveConnector(c, cc, sc, isNew)
		if err == nil {
			s.flash(c, FlashSuccess, "Connector "+cc.Name+" saved.")
			return s.redirect(c, routeConnectorEdit, cc.Name)
		}
		if code, ok := statusOf(err); !ok || code >= 500 {
			return err
		}
		if bad, _, _ = s.buildForm(c.Request().Context(), cc, false, map[string]string{"form": message(err, http.StatusBadRequest)}); bad == nil {
			return err
		}
	}
	bad.New = isNew
	return s.renderConnectorForm(c, http.StatusUnprocessableEntity, bad)
}

func (s *Server) connectorCreate(c echo.Context) error {
	cc := &connectors.Config{Name: c.FormValue("name"), Plugin: c.FormValue("plugin")}
	return s.saveFromForm(c, cc, true)
}

func (s *Server) connectorEdit(c echo.Context) error {
	ctx := c.Request().Context()
	cc, err := s.o.Connectors.Get(ctx, c.Param("name"))
	if err != nil {
		return err
	}
	f, _, err := s.buildForm(ctx, cc, false, nil)
	if f != nil && f.Plugin.desc == nil {
		// The plugin is gone or broken: still show the connector, to delete it.
		f.Errors = map[string]string{"form": err.Error()}
		return s.renderConnectorForm(c, http.StatusOK, f)
	}
	if err != nil {
		return err
	}
	return s.renderConnectorForm(c, http.StatusOK, f)
}

func (s *Server) connectorUpdate(c echo.Context) error {
	cc, err := s.o.Connectors.Get(c.Request().Context(), c.Param("name"))
	if err != nil {
		return err
	}
	return s.saveFromForm(c, cc, false)
}

func (s *Server) connectorDelete(c echo.Context) error {
	name := c.Param("name")
	if err := s.deleteConnector(c, name); err != nil {
		return err
	}
	s.flash(c, FlashSuccess, "Connector "+name+" deleted, with its passwords.")
	return s.redirect(c, routeConnectors)
}

// testData is the connection test page: a report or why there is none.
type testData struct {
	Name      string
	Detection *connectors.Detection
	Error     string
}

// connectorTest runs the connection test (the edit page posts it with
// htmx and shows the report in place).
func (s *Server) connectorTest(c echo.Context) error {
	name := c.Param("name")
	td := testData{Name: name}
	d, err := s.testConnector(c, name, c.FormValue("sample_user"), c.FormValue("sample_password"))
	if err != nil {
		code, ok := statusOf(err)
		if ok && (code == http.StatusNotFound || code == http.StatusServiceUnavailable) || ok && code >= 500 && code != http.StatusBadGateway {
			return err
		}
		// Unreachable server, wrong settings: that is the test's result.
		td.Error = message(err, http.StatusBadGateway)
	}
	td.Detection = d
	return s.render(c, Page{Name: "connector_test", Title: "Connection test of " + name, Data: td, Nav: "connectors"})
}
