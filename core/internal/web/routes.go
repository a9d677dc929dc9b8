package web

import (
	"io/fs"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/ui"
)

// Route names (templates: {{url "connectors.edit" .Name}}; handlers:
// s.redirect(c, "connectors.list")). One constant per route, named
// "<feature>.<action>" as in pagoda's routenames.
const (
	routeDashboard       = "dashboard"
	routeLogin           = "login"
	routeLoginPost       = "login.post"
	routeLogout          = "logout"
	routePassword        = "account.password"
	routePasswordPost    = "account.password.post"
	routeAdmins          = "admins.list"
	routeAdminCreate     = "admins.create"
	routeAdminDelete     = "admins.delete"
	routeAudit           = "audit.list"
	routeSystem          = "system"
	routeConnectors      = "connectors.list"
	routeConnectorNew    = "connectors.new"
	routeConnectorCreate = "connectors.create"
	routeConnectorEdit   = "connectors.edit"
	routeConnectorUpdate = "connectors.update"
	routeConnectorDelete = "connectors.delete"
	routeConnectorTest   = "connectors.test"
)

// routes registers everything. A feature adds one line here: its
// register function gets the console group (login required, CSRF
// checked) and the API group (bearer token).
func (s *Server) routes() {
	static, _ := fs.Sub(ui.Static, "static")
	s.e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", cacheForever(http.FileServerFS(static)))))
	s.e.GET("/metrics", s.metricsHandler(), s.metricsAuth)

	api := s.e.Group("/api/v1", s.apiAuth)
	if s.o.DB == nil { // health endpoints (and a bare API) only
		s.registerConnectorsAPI(api)
		return
	}
	// Pages anyone may see: the login form.
	public := s.e.Group("", s.session, s.csrf)
	public.GET("/login", s.loginPage).Name = routeLogin
	public.POST("/login", s.login).Name = routeLoginPost
	// Everything else needs a login.
	con := s.e.Group("", s.session, s.csrf, s.requireLogin)
	con.POST("/logout", s.logout).Name = routeLogout
	con.GET("/", s.dashboard).Name = routeDashboard

	s.registerAccount(con)
	s.registerAdmins(con, api)
	s.registerAudit(con, api)
	s.registerSystem(con, api)
	s.registerConnectors(con, api)
	if s.o.Projects != nil && s.o.Scheduler != nil {
		s.registerProjects(con, api) // projects.go: projects and their settings
		s.registerUsers(con, api)    // users.go: users, CSV import, retrieval, passes over one user
		s.registerBatches(con, api)  // batches.go: batches, the scheduler's controls, live progress
		s.registerReports(con, api)  // reports.go: per-user and per-batch reports, CSV
		if s.o.SelfService != nil {
			s.registerSelfService(con, api) // selfservice.go: public link pages, invitations, settings
		}
	}
}

// cacheForever lets browsers keep static assets: their URLs carry a hash
// of the content (see the "static" template function).
func cacheForever(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		h.ServeHTTP(w, r)
	})
}
