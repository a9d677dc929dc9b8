package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/mailer"
)

const (
	routeSMTPSave = "system.smtp"
	routeSMTPTest = "system.smtp.test"
)

// registerSMTP registers the outgoing mail settings (the system page's
// part) and their API calls.
func (s *Server) registerSMTP(con, api *echo.Group) {
	if s.o.Mailer == nil {
		return
	}
	con.POST("/system/smtp", s.smtpSave).Name = routeSMTPSave
	con.POST("/system/smtp/test", s.smtpTest).Name = routeSMTPTest
	api.GET("/system/smtp", s.apiSMTP)
	api.PUT("/system/smtp", s.apiSMTPSave)
	api.POST("/system/smtp/test", s.apiSMTPTest)
}

// smtpInput is the settings as forms and the API give them; the password
// is write-only.
type smtpInput struct {
	mailer.Settings
	Password      string `json:"password,omitempty"`
	ClearPassword bool   `json:"clear_password,omitempty"`
}

// smtpView is what the system page shows of the outgoing mail settings.
type smtpView struct {
	Settings   mailer.Settings
	Configured bool
	Errors     map[string]string
	TestTo     string
}

func (s *Server) smtpView(c echo.Context) (*smtpView, error) {
	if s.o.Mailer == nil {
		return nil, nil
	}
	v := &smtpView{Settings: mailer.Settings{Port: 587, TLS: "starttls"}}
	st, err := s.o.Mailer.Settings(c.Request().Context())
	switch {
	case err == nil:
		v.Settings, v.Configured = *st, true
	case !errors.Is(err, mailer.ErrNotConfigured):
		return nil, err
	}
	return v, nil
}

// saveSMTP stores the settings (console and API) and records it.
func (s *Server) saveSMTP(c echo.Context, in smtpInput) error {
	st := in.Settings
	if err := s.o.Mailer.Save(c.Request().Context(), &st, in.Password, in.ClearPassword); err != nil {
		return badRequest("%v", err)
	}
	detail := st.TLS + " " + st.Host + ":" + strconv.Itoa(st.Port) + ", sender " + st.From
	if in.Password != "" {
		detail += "; password changed (in the secrets layer)"
	}
	s.record(c, "system.smtp", "outgoing mail", detail)
	return nil
}

// sendTestMail sends a test message to to (console and API).
func (s *Server) sendTestMail(c echo.Context, to string) error {
	if strings.TrimSpace(to) == "" {
		return badRequest("give an address to send the test mail to")
	}
	err := s.o.Mailer.Send(c.Request().Context(), mailer.Message{To: to, Subject: "Tern: test mail",
		Text: "This is a test mail from Tern's console (System page).\nIf you can read it, Tern can send invitations and notices.\n"})
	if err != nil {
		if errors.Is(err, mailer.ErrNotConfigured) {
			return badRequest("%v", err)
		}
		return echo.NewHTTPError(http.StatusBadGateway, "the test mail could not be sent: "+err.Error())
	}
	s.record(c, "system.smtp.test", "outgoing mail", "test mail to "+to)
	return nil
}

func smtpFromForm(c echo.Context) smtpInput {
	port, _ := strconv.Atoi(strings.TrimSpace(c.FormValue("port")))
	return smtpInput{
		Settings: mailer.Settings{
			Host: strings.TrimSpace(c.FormValue("host")), Port: port, TLS: c.FormValue("tls"),
			AllowPlaintext: c.FormValue("allow_plaintext") == "on", CAFile: strings.TrimSpace(c.FormValue("ca_file")),
			InsecureSkipVerify: c.FormValue("insecure_skip_verify") == "on", Username: strings.TrimSpace(c.FormValue("username")),
			From: strings.TrimSpace(c.FormValue("from")), FromName: strings.TrimSpace(c.FormValue("from_name")),
		},
		Password:      c.FormValue("password"),
		ClearPassword: c.FormValue("clear_password") != "",
	}
}

func (s *Server) smtpSave(c echo.Context) error {
	in := smtpFromForm(c)
	if err := s.saveSMTP(c, in); err != nil {
		msg, err := formError(err)
		if err != nil {
			return err
		}
		si := s.systemInfo(c.Request().Context())
		v, verr := s.smtpView(c)
		if verr != nil {
			return verr
		}
		v.Settings, v.Errors = in.Settings, map[string]string{"form": msg}
		si.SMTP = v
		return s.render(c, Page{Name: "system", Title: "System", Status: http.StatusUnprocessableEntity, Data: si})
	}
	s.flash(c, FlashSuccess, "Outgoing mail settings saved.")
	return s.redirect(c, routeSystem)
}

func (s *Server) smtpTest(c echo.Context) error {
	to := strings.TrimSpace(c.FormValue("to"))
	if err := s.sendTestMail(c, to); err != nil {
		code, _ := statusOf(err)
		s.flash(c, FlashError, message(err, code))
	} else {
		s.flash(c, FlashSuccess, "Test mail sent to "+to+".")
	}
	return s.redirect(c, routeSystem)
}

// API

func (s *Server) apiSMTP(c echo.Context) error {
	st, err := s.o.Mailer.Settings(c.Request().Context())
	if errors.Is(err, mailer.ErrNotConfigured) {
		return echo.NewHTTPError(http.StatusNotFound, err.Error())
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (s *Server) apiSMTPSave(c echo.Context) error {
	var in smtpInput
	if err := c.Bind(&in); err != nil {
		return badRequest("body: %v", err)
	}
	if err := s.saveSMTP(c, in); err != nil {
		return err
	}
	return s.apiSMTP(c)
}

func (s *Server) apiSMTPTest(c echo.Context) error {
	var in struct {
		To string `json:"to"`
	}
	if err := c.Bind(&in); err != nil {
		return badRequest("body: %v", err)
	}
	if err := s.sendTestMail(c, in.To); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
