package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/admins"
	"github.com/ternmail/tern/core/internal/audit"
)

type loginData struct {
	Name, Next, Error, Notice string
}

func (s *Server) loginPage(c echo.Context) error {
	if currentAdmin(c) != nil {
		return redirectTo(c, "/")
	}
	d := loginData{Next: c.QueryParam("next")}
	if c.QueryParam("bye") != "" {
		d.Notice = "You are logged out."
	}
	return s.render(c, Page{Name: "login", Title: "Log in", Data: d})
}

func (s *Server) login(c echo.Context) error {
	ctx := c.Request().Context()
	name, pw := c.FormValue("name"), c.FormValue("password")
	d := loginData{Name: name, Next: c.FormValue("next")}
	ip := clientIP(c)
	if !s.limiter.allowed(ip) {
		d.Error = "Too many failed logins from this address. Wait a few minutes and try again."
		return s.render(c, Page{Name: "login", Title: "Log in", Status: http.StatusTooManyRequests, Data: d})
	}
	a, res, err := s.admins.Authenticate(ctx, name, pw)
	if err != nil {
		if !errors.Is(err, admins.ErrBadCredentials) {
			return err
		}
		s.limiter.fail(ip)
		// Only names of real accounts reach the audit log: a password
		// typed into the name field must not.
		switch {
		case res.JustLocked:
			s.recordAs(c, name, "admin.locked", "admin "+name, "locked after repeated wrong passwords")
		case res.Known && !res.Locked:
			s.recordAs(c, name, "login.failed", "admin "+name, "wrong password")
		case res.Known:
			s.recordAs(c, name, "login.failed", "admin "+name, "account locked")
		}
		d.Error = admins.ErrBadCredentials.Error() + "."
		return s.render(c, Page{Name: "login", Title: "Log in", Status: http.StatusUnauthorized, Data: d})
	}
	s.limiter.succeed(ip)
	// A new session (new ID, new CSRF token) at every login; the old one,
	// if any, ends.
	s.sessions.Delete(ctx, currentSession(c))
	id, ss, err := s.sessions.Create(ctx, a.Name)
	if err != nil {
		return err
	}
	s.setCookie(c, sessionCookie, id, 0)
	s.setCookie(c, csrfCookie, "", -1)
	c.Set(ctxSession, ss)
	c.Set(ctxAdmin, a)
	s.record(c, "login", "admin "+a.Name, "")
	s.sessions.Sweep(ctx)
	if a.MustChange {
		return s.redirect(c, routePassword)
	}
	return redirectTo(c, safeNext(d.Next))
}

func (s *Server) logout(c echo.Context) error {
	s.record(c, "logout", "admin "+currentAdmin(c).Name, "")
	if err := s.sessions.Delete(c.Request().Context(), currentSession(c)); err != nil {
		return err
	}
	s.setCookie(c, sessionCookie, "", -1)
	return redirectTo(c, "/login?bye=1")
}

func (s *Server) registerAccount(con *echo.Group) {
	con.GET("/account/password", s.passwordPage).Name = routePassword
	con.POST("/account/password", s.changePassword).Name = routePasswordPost
}

type passwordData struct {
	Error     string
	MinLength int
}

func (s *Server) passwordPage(c echo.Context) error {
	return s.render(c, Page{Name: "password", Title: "Change your password", Nav: "-", Data: passwordData{MinLength: admins.MinPasswordLength}})
}

// changePassword changes the administrator's own password and ends the
// account's other sessions.
func (s *Server) changePassword(c echo.Context) error {
	ctx := c.Request().Context()
	a := currentAdmin(c)
	d := passwordData{MinLength: admins.MinPasswordLength}
	next := c.FormValue("new")
	err := fmt.Errorf("%w password: the two new passwords differ", admins.ErrInvalid)
	if next == c.FormValue("confirm") {
		err = s.admins.ChangePassword(ctx, a.Name, c.FormValue("current"), next)
	}
	if err != nil {
		if !errors.Is(err, admins.ErrInvalid) {
			return err
		}
		d.Error = err.Error()
		return s.render(c, Page{Name: "password", Title: "Change your password", Nav: "-", Status: http.StatusUnprocessableEntity, Data: d})
	}
	if err := s.sessions.DeleteFor(ctx, a.Name, currentSession(c)); err != nil {
		return err
	}
	s.record(c, "admin.password", "admin "+a.Name, "changed own password")
	s.flash(c, FlashSuccess, "Your password is changed.")
	return s.redirect(c, routeDashboard)
}

// record appends an audit entry for what the current administrator (or
// the API token, as "api") just changed. An entry that cannot be written
// is logged: the change itself is done by then.
func (s *Server) record(c echo.Context, action, object, detail string) {
	who := "api"
	if a := currentAdmin(c); a != nil {
		who = a.Name
	}
	s.recordAs(c, who, action, object, detail)
}

func (s *Server) recordAs(c echo.Context, who, action, object, detail string) {
	if s.audit == nil {
		return
	}
	err := s.audit.Record(c.Request().Context(), audit.Entry{Admin: who, Action: action, Object: object, Detail: detail, Remote: clientIP(c)})
	if err != nil {
		s.log.Error("audit entry not written", "action", action, "object", object, "err", err)
	}
}
