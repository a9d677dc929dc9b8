// Package web serves Tern's HTTP interface with Echo (its only importer):
// the admin console (html/template + vendored htmx), the JSON API under
// /api/v1, /healthz and /readyz, and Prometheus's /metrics.
//
// # Layout
//
//	web.go        Server, Options (the dependencies), health endpoints
//	routes.go     route names and the one place where features register
//	render.go     Page, View, render/renderPartial, redirect, flash
//	session.go    session loading, CSRF, requireLogin
//	security.go   security headers (CSP), login rate limit per address
//	errors.go     statusOf (errors → HTTP status), the error handler
//	auth.go       login, logout, own password, record (audit)
//	admins.go audit.go system.go connectors.go   one file per feature:
//	              console handlers and API handlers side by side, sharing
//	              one function per action (saveConnector, deleteAdmin…)
//	selfservice.go  self-service: the public link pages (/s/<token>, their
//	              own layout ui/templates/layouts/public.html, no session,
//	              errors as public pages), invitations and the projects'
//	              self-service settings (package selfservice does the work)
//	api.go        the API's token, auth and the connectors API
//	metrics.go    /metrics and the Metrics hook
//	htmx/         HX-* header names and the request's htmx state
//	schemaform/   forms generated from a plugin's settings JSON Schema
//	API.md        the JSON API, call by call
//
// Templates and assets are in the repository's ui/ directory (package ui,
// embedded): ui/templates/layouts/base.html, ui/templates/pages/<page>.html,
// ui/templates/partials/*.html, ui/static/ (tern.css, htmx.min.js).
//
// # Adding a page
//
//  1. Add your dependency to Options (e.g. Projects *project.Store) and set
//     it in core/internal/app/app.go.
//
//  2. Add route names to routes.go ("projects.list", "projects.create"…)
//     and one line to routes(): s.registerProjects(con, api).
//
//  3. Write projects.go:
//
//     func (s *Server) registerProjects(con, api *echo.Group) {
//     con.GET("/projects", s.projectsPage).Name = routeProjects
//     con.POST("/projects", s.projectCreate).Name = routeProjectCreate
//     api.GET("/projects", s.apiProjects)
//     }
//
//     func (s *Server) projectsPage(c echo.Context) error {
//     list, err := s.o.Projects.List(c.Request().Context())
//     if err != nil {
//     return err // the error handler makes it a page or JSON
//     }
//     return s.render(c, Page{Name: "projects", Title: "Projects", Data: list})
//     }
//
//  4. Write ui/templates/pages/projects.html defining "content" (and, if
//     the title is not Page.Title, "title"). The dot is a [View]: your data
//     is .Data, the administrator .Admin, the token .CSRF. Inside {{range}}
//     use $ for the view: {{template "csrf" $}}.
//
//  5. Add the nav link in ui/templates/layouts/base.html (the comment there
//     shows the line). The highlighted entry is the first path segment.
//
//  6. Test it in projects_test.go with newEnv/admin/post (helpers_test.go).
//
// Every console route registered on con needs a login (requireLogin);
// public pages go on the public group in routes() (only /login is), and
// the self-service pages on their own group (selfservice.go): csrf
// without the session, and publicErrors, so that an error never shows
// the console's error page.
//
// # Full page or htmx fragment
//
// Handlers end in s.render(c, Page{…}). render alone looks at HX-Request:
// for an htmx request (not hx-boost) it sends only the page's "content",
// else the page in the layout. For a fragment that is not a whole page
// (a table row, a test report), define it in ui/templates/partials/ and
// send it with s.renderPartial(c, status, "name", data) — .Data is data.
// Flashes added during the request ride along out of band (#messages).
//
// # Forms and CSRF
//
// Every POST, PUT, PATCH and DELETE outside /api/ needs the CSRF token,
// or it is answered 403: plain forms carry {{template "csrf" .}} (a hidden
// field "csrf"); htmx requests send the X-CSRF-Token header that the
// layout puts in <body hx-headers>. The token belongs to the session and
// changes at every login. Forms post to their own route and answer with
// s.redirect(c, "route.name", params...) (303; HX-Redirect for htmx)
// after success, or re-render the page with Status 422 and the errors in
// .Data. HTML forms cannot send DELETE: use POST /thing/:id/delete.
//
// # Flash messages
//
// s.flash(c, FlashSuccess|FlashError|FlashInfo, "text") keeps a message in
// the session; the next rendered page shows it once.
//
// # Audit
//
// Every change records one entry: s.record(c, "project.create",
// "project "+name, "detail without secrets"). The administrator (or "api"
// for the token) and the client address are filled in. Actions are
// "<entity>.<verb>"; the audit page filters by prefix.
//
// # Errors
//
// Return errors; don't write error responses. The error handler
// (errors.go) maps known errors to a status with statusOf (add your
// package's sentinels there: not found → 404, invalid → 400…), renders
// the error page for browsers, a message in #messages for htmx, and JSON
// {"error": "…"} under /api/, /metrics and /healthz. Unknown errors are
// 500s: logged with their cause, shown as a generic line. API handlers
// may call fail(c, err), which answers 502 for errors of no known kind
// (those come from a connector or its server). echo.NewHTTPError(code,
// "text") sets both.
//
// # Sessions and logins
//
// Sessions live in the state store (admins.Sessions): a random 256-bit ID
// in an HttpOnly, SameSite=Strict cookie (Secure over TLS or with
// Options.SecureCookies), the store holding only its SHA-256. They end
// after 30 minutes idle or 12 hours in all, at logout, and for all of an
// account at a password change, reset or deletion. A new ID is issued at
// login. Five wrong passwords lock an account for 15 minutes; twenty
// failures from one address block that address for 15 minutes; the login
// page says the same for an unknown name, a wrong password and a locked
// account. An account created with a one-time password (the first start,
// `tern admin create`, the admins page) must change it before any other
// page opens.
//
// # Security headers
//
// Every response carries a strict Content-Security-Policy (no inline
// script or style: put styles in ui/static/tern.css and behaviour in hx-*
// attributes; htmx.config comes from <meta name="htmx-config">, with eval
// off), X-Content-Type-Options, Referrer-Policy no-referrer and
// X-Frame-Options DENY. Pages are sent with Cache-Control: no-store.
//
// # API and metrics
//
// /api/v1 needs the bearer token in the state directory's api-token file
// (no cookies, hence no CSRF). Every console action has an API call next
// to it in the same feature file; see API.md. /metrics takes the API
// token (for Prometheus: authorization.credentials_file) or a console
// session, and serves Go and process metrics plus whatever
// Options.Metrics returns.
package web
