package web

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/admins"
	"github.com/ternmail/tern/core/internal/web/htmx"
)

// Cookies.
const (
	sessionCookie = "tern_session"
	// csrfCookie carries the anti-forgery token of visitors without a
	// session (the login form); a session has its own token.
	csrfCookie = "tern_csrf"
	// pollHeader marks a request a page makes by itself.
	pollHeader = "X-Tern-Poll"
	// CSRFHeader and CSRFField are where requests send the token.
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf"
)

// Context keys.
const (
	ctxSession = "tern.session"
	ctxAdmin   = "tern.admin"
	ctxCSRF    = "tern.csrf"
	ctxAPI     = "tern.api" // set when the request carried the API token
)

// currentSession returns the request's live session, nil if none.
func currentSession(c echo.Context) *admins.Session {
	ss, _ := c.Get(ctxSession).(*admins.Session)
	return ss
}

// currentAdmin returns the logged-in administrator, nil if none.
func currentAdmin(c echo.Context) *admins.Admin {
	a, _ := c.Get(ctxAdmin).(*admins.Admin)
	return a
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get(ctxCSRF).(string)
	return t
}

func (s *Server) secure(c echo.Context) bool { return c.Request().TLS != nil || s.o.SecureCookies }

func (s *Server) setCookie(c echo.Context, name, value string, maxAge int) {
	c.SetCookie(&http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure(c), SameSite: http.SameSiteStrictMode})
}

// session loads the request's session and its administrator, if any. A
// session whose administrator was deleted ends here.
//
// Requests with the pollHeader (live progress that a page fetches by
// itself, marked in the templates with hx-headers) do not count as
// activity, so an open dashboard does not keep an unattended session
// alive until its absolute limit.
func (s *Server) session(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(sessionCookie)
		if err != nil || s.sessions == nil {
			return next(c)
		}
		ctx := c.Request().Context()
		get := s.sessions.Get
		if c.Request().Header.Get(pollHeader) != "" {
			get = s.sessions.Peek // the page polls by itself: not activity
		}
		ss, err := get(ctx, ck.Value)
		if errors.Is(err, admins.ErrNoSession) {
			s.setCookie(c, sessionCookie, "", -1)
			return next(c)
		}
		if err != nil {
			return err
		}
		a, err := s.admins.Get(ctx, ss.Admin)
		if errors.Is(err, admins.ErrNotFound) {
			s.sessions.Delete(ctx, ss)
			s.setCookie(c, sessionCookie, "", -1)
			return next(c)
		}
		if err != nil {
			return err
		}
		c.Set(ctxSession, ss)
		c.Set(ctxAdmin, a)
		return next(c)
	}
}

// errCSRF is the answer to a change without the right token.
var errCSRF = echo.NewHTTPError(http.StatusForbidden, "This form has expired or did not come from this console. Reload the page and try again.")

// csrf checks the anti-forgery token of every POST, PUT, PATCH and
// DELETE: the session's token (or, without a session, the csrf cookie's)
// must come back in the X-CSRF-Token header (htmx: hx-headers on <body>)
// or the "csrf" form field. It also makes the token available to render.
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var want string
		if ss := currentSession(c); ss != nil {
			want = ss.CSRF
		} else if ck, err := c.Cookie(csrfCookie); err == nil && len(ck.Value) == 64 {
			want = ck.Value
		} else {
			want = admins.Token()
			s.setCookie(c, csrfCookie, want, 0)
		}
		c.Set(ctxCSRF, want)
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		got := c.Request().Header.Get(CSRFHeader)
		if got == "" {
			got = c.FormValue(CSRFField)
		}
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return errCSRF
		}
		return next(c)
	}
}

// Paths that an administrator who must change the password may reach.
var mustChangeAllowed = map[string]bool{"/account/password": true, "/logout": true}

// requireLogin sends visitors without a session to the login page (an
// htmx request gets HX-Redirect), and an administrator whose password
// must change to the password page.
func (s *Server) requireLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		a := currentAdmin(c)
		if a == nil {
			u := "/login"
			r := c.Request()
			if r.Method == http.MethodGet && !htmx.GetRequest(r).Enabled && r.URL.Path != "/" {
				u += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			return redirectTo(c, u)
		}
		if a.MustChange && !mustChangeAllowed[c.Request().URL.Path] {
			return redirectTo(c, "/account/password")
		}
		return next(c)
	}
}

// safeNext returns a local path to go to after login, "/" for anything
// else (no open redirect).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}
