package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/admins"
)

func (s *Server) registerAdmins(con, api *echo.Group) {
	con.GET("/admins", s.adminsPage).Name = routeAdmins
	con.POST("/admins", s.adminCreate).Name = routeAdminCreate
	con.POST("/admins/:name/delete", s.adminDelete).Name = routeAdminDelete

	api.GET("/admins", s.apiAdmins)
	api.POST("/admins", s.apiAdminCreate)
	api.DELETE("/admins/:name", s.apiAdminDelete)
	api.POST("/admins/:name/password", s.apiAdminPassword)
}

// adminView is an administrator as pages and the API show it: never the hash.
type adminView struct {
	Name            string `json:"name"`
	MustChange      bool   `json:"must_change"`
	Locked          bool   `json:"locked"`
	Created         string `json:"created"`
	PasswordChanged string `json:"password_changed"`
	LastLogin       string `json:"last_login,omitempty"`
}

func (s *Server) adminViews(c echo.Context) ([]adminView, error) {
	list, err := s.admins.List(c.Request().Context())
	if err != nil {
		return nil, err
	}
	out := make([]adminView, 0, len(list))
	for _, a := range list {
		out = append(out, toAdminView(a))
	}
	return out, nil
}

func toAdminView(a *admins.Admin) adminView {
	const f = "2006-01-02T15:04:05Z07:00"
	v := adminView{Name: a.Name, MustChange: a.MustChange, Locked: a.Locked(time.Now()),
		Created: a.Created.Format(f), PasswordChanged: a.PasswordChanged.Format(f)}
	if !a.LastLogin.IsZero() {
		v.LastLogin = a.LastLogin.Format(f)
	}
	return v
}

type adminsData struct {
	Admins []adminView
	Me     string
	// The add form, kept after an error.
	Name   string
	Errors map[string]string
}

func (s *Server) adminsPage(c echo.Context) error {
	return s.renderAdmins(c, http.StatusOK, adminsData{})
}

func (s *Server) renderAdmins(c echo.Context, status int, d adminsData) error {
	var err error
	if d.Admins, err = s.adminViews(c); err != nil {
		return err
	}
	d.Me = currentAdmin(c).Name
	return s.render(c, Page{Name: "admins", Title: "Administrators", Status: status, Data: d})
}

// createAdmin adds an administrator who must choose a password at the
// first login (console and API).
func (s *Server) createAdmin(c echo.Context, name, password string) (*admins.Admin, error) {
	a, err := s.admins.Create(c.Request().Context(), name, password, true)
	if err != nil {
		return nil, err
	}
	s.record(c, "admin.create", "admin "+name, "must change the password at first login")
	return a, nil
}

func (s *Server) adminCreate(c echo.Context) error {
	name := c.FormValue("name")
	if c.FormValue("password") != c.FormValue("confirm") {
		return s.renderAdmins(c, http.StatusUnprocessableEntity, adminsData{Name: name, Errors: map[string]string{"password": "The two passwords differ."}})
	}
	if _, err := s.createAdmin(c, name, c.FormValue("password")); err != nil {
		if code, ok := statusOf(err); ok && code < 500 {
			return s.renderAdmins(c, http.StatusUnprocessableEntity, adminsData{Name: name, Errors: map[string]string{"form": err.Error()}})
		}
		return err
	}
	s.flash(c, FlashSuccess, "Administrator "+name+" added; they choose their own password at the first login.")
	return s.redirect(c, routeAdmins)
}

// deleteAdmin removes another administrator and ends their sessions.
func (s *Server) deleteAdmin(c echo.Context, name string) error {
	if a := currentAdmin(c); a != nil && a.Name == name {
		return badRequest("you cannot delete your own account")
	}
	ctx := c.Request().Context()
	if err := s.admins.Delete(ctx, name); err != nil {
		return err
	}
	if err := s.sessions.DeleteFor(ctx, name, nil); err != nil {
		return err
	}
	s.record(c, "admin.delete", "admin "+name, "")
	return nil
}

func (s *Server) adminDelete(c echo.Context) error {
	name := c.Param("name")
	if err := s.deleteAdmin(c, name); err != nil {
		var code int
		if code, _ = statusOf(err); code != http.StatusBadRequest {
			return err
		}
		s.flash(c, FlashError, message(err, code))
		return s.redirect(c, routeAdmins)
	}
	s.flash(c, FlashSuccess, "Administrator "+name+" deleted.")
	return s.redirect(c, routeAdmins)
}

// API

func (s *Server) apiAdmins(c echo.Context) error {
	list, err := s.adminViews(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

type adminInput struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	// MustChange (password reset only; creation always forces it).
	MustChange *bool `json:"must_change,omitempty"`
}

func (s *Server) apiAdminCreate(c echo.Context) error {
	var in adminInput
	if err := c.Bind(&in); err != nil {
		return badRequest("body: %v", err)
	}
	a, err := s.createAdmin(c, in.Name, in.Password)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toAdminView(a))
}

func (s *Server) apiAdminDelete(c echo.Context) error {
	if err := s.deleteAdmin(c, c.Param("name")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiAdminPassword resets an administrator's password (by default one
// to change at the next login) and ends their sessions.
func (s *Server) apiAdminPassword(c echo.Context) error {
	var in adminInput
	if err := c.Bind(&in); err != nil {
		return badRequest("body: %v", err)
	}
	name := c.Param("name")
	must := in.MustChange == nil || *in.MustChange
	ctx := c.Request().Context()
	if err := s.admins.SetPassword(ctx, name, in.Password, must); err != nil {
		return err
	}
	if err := s.sessions.DeleteFor(ctx, name, nil); err != nil {
		return err
	}
	s.record(c, "admin.password", "admin "+name, "password reset")
	return c.NoContent(http.StatusNoContent)
}
