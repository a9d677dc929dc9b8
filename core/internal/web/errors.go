package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/admins"
	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/scheduler"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/web/htmx"
	"github.com/ternmail/tern/sdk/connector"
)

// apiError is the JSON error body.
type apiError struct {
	Error string `json:"error"`
}

var errBadRequest = errors.New("bad request")

// badRequest is an error answered with 400 and its text (which is all the
// client reads: no "bad request:" in front).
func badRequest(format string, args ...any) error {
	return &requestError{fmt.Sprintf(format, args...)}
}

type requestError struct{ msg string }

func (e *requestError) Error() string        { return e.msg }
func (e *requestError) Is(target error) bool { return target == errBadRequest }

// statusOf maps the errors of Tern's packages to HTTP statuses; ok is
// false for an error it does not know.
func statusOf(err error) (code int, ok bool) {
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		return he.Code, true
	case errors.Is(err, connectors.ErrNotFound), errors.Is(err, admins.ErrNotFound):
		return http.StatusNotFound, true
	case errors.Is(err, admins.ErrExists), errors.Is(err, project.ErrConflict), errors.Is(err, scheduler.ErrState), errors.Is(err, scheduler.ErrBusy):
		return http.StatusConflict, true
	case errors.Is(err, project.ErrNotFound):
		return http.StatusNotFound, true
	case errors.Is(err, scheduler.ErrClosed):
		return http.StatusServiceUnavailable, true
	case errors.Is(err, connector.ErrInvalid), errors.Is(err, errBadRequest), errors.Is(err, admins.ErrInvalid), errors.Is(err, admins.ErrLastAdmin):
		return http.StatusBadRequest, true
	case errors.Is(err, connector.ErrUnsupported):
		return http.StatusNotImplemented, true
	case errors.Is(err, connector.ErrAuth):
		return http.StatusUnprocessableEntity, true
	case errors.Is(err, secrets.ErrUnavailable):
		return http.StatusServiceUnavailable, true
	}
	return 0, false
}

// message is what a client is told about err: the text of a known error
// (scrubbed of any secret a server quoted), a generic line otherwise.
func message(err error, code int) string {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if m, ok := he.Message.(string); ok && m != "" {
			return m
		}
		return http.StatusText(he.Code)
	}
	if code >= 500 && code != http.StatusBadGateway && code != http.StatusServiceUnavailable && code != http.StatusNotImplemented {
		return "Something went wrong on the appliance; the log has the details."
	}
	return logx.Scrub(err.Error())
}

// wantsJSON reports whether a request gets JSON errors: the API, the
// health and metrics endpoints, and clients that ask for JSON only.
func wantsJSON(c echo.Context) bool {
	p := c.Request().URL.Path
	if strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz" || p == "/metrics" {
		return true
	}
	acc := c.Request().Header.Get("Accept")
	return strings.Contains(acc, "application/json") && !strings.Contains(acc, "text/html")
}

// handleError is Echo's error handler: JSON for the API, an error page
// (or, for htmx, a message in #messages) for the console. Unknown errors
// are 500s, logged with their cause, never shown.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, known := statusOf(err)
	if !known {
		code = http.StatusInternalServerError
	}
	if code >= 500 {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	msg := message(err, code)
	if wantsJSON(c) {
		c.JSON(code, apiError{msg})
		return
	}
	if htmx.GetRequest(c.Request()).Enabled {
		h := c.Response().Header()
		h.Set(htmx.HeaderRetarget, "#messages")
		h.Set(htmx.HeaderReswap, "innerHTML")
		if rerr := s.renderPartial(c, code, "error_message", msg); rerr != nil {
			c.String(code, msg)
		}
		return
	}
	p := Page{Name: "error", Title: http.StatusText(code), Status: code, Data: struct{ Message string }{msg}, Nav: "-"}
	if rerr := s.render(c, p); rerr != nil {
		s.log.Error("error page failed", "err", rerr)
		c.String(code, msg)
	}
}

// formError splits the error of a form's action: one the administrator
// can fix (a 4xx) comes back as the text to show with the form; any other
// is returned, for the error handler.
func formError(err error) (string, error) {
	if code, ok := statusOf(err); ok && code < 500 {
		return message(err, code), nil
	}
	return "", err
}
