// Package web serves Tern's HTTP interface with Echo (its only importer):
// for now the health endpoints that `tern serve` and monitoring use; the
// console and the JSON API grow here.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Health reports the state of a dependency.
type Health func(ctx context.Context) error

// Server is the HTTP server.
type Server struct {
	e       *echo.Echo
	log     *slog.Logger
	version string
	checks  map[string]Health
	extra   func() any
}

// Options configure a Server.
type Options struct {
	Version string
	Logger  *slog.Logger
	// Checks are run by /healthz, by name.
	Checks map[string]Health
	// Info returns extra data for /healthz (plugins, ...).
	Info func() any
	// API, if set, is served under /api/v1.
	API *API
}

// New returns a server.
func New(o Options) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{e: e, log: o.Logger, version: o.Version, checks: o.Checks, extra: o.Info}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		code := http.StatusInternalServerError
		msg := "internal error"
		var he *echo.HTTPError
		if errors.As(err, &he) {
			code = he.Code
			msg = http.StatusText(code)
		} else {
			s.log.Error("request failed", "path", c.Path(), "err", err)
		}
		if !c.Response().Committed {
			c.JSON(code, map[string]string{"error": msg})
		}
	}
	e.GET("/healthz", s.health)
	e.GET("/readyz", s.health)
	if o.API != nil {
		o.API.register(e)
	}
	return s
}

type healthResponse struct {
	Status  string            `json:"status"`
	Version string            `json:"version"`
	Checks  map[string]string `json:"checks"`
	Info    any               `json:"info,omitempty"`
}

func (s *Server) health(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	resp := healthResponse{Status: "ok", Version: s.version, Checks: map[string]string{}}
	for name, check := range s.checks {
		if err := check(ctx); err != nil {
			resp.Status = "unhealthy"
			resp.Checks[name] = err.Error()
		} else {
			resp.Checks[name] = "ok"
		}
	}
	if s.extra != nil {
		resp.Info = s.extra()
	}
	code := http.StatusOK
	if resp.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	return c.JSON(code, resp)
}

// Handler returns the HTTP handler (for tests).
func (s *Server) Handler() http.Handler { return s.e }

// Serve serves on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.e, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}
