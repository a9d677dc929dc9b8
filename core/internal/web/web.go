package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/admins"
	"github.com/ternmail/tern/core/internal/audit"
	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/mailer"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/scheduler"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/selfservice"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
)

// Health reports the state of a dependency.
type Health func(ctx context.Context) error

// PluginInfo describes an installed plugin binary (for the system page).
type PluginInfo struct {
	ID     string `json:"id"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	// Error says why the plugin was refused, "" if usable.
	Error string `json:"error,omitempty"`
}

// Plugins gives the web layer the connector of a plugin id and the list
// of installed plugins.
type Plugins interface {
	Connector(id string) (connector.Connector, error)
	List() []PluginInfo
}

// Options configure a Server. Everything but the health endpoints needs
// DB; the JSON API needs APIToken.
type Options struct {
	Version string
	Logger  *slog.Logger
	// Checks are run by /healthz, by name.
	Checks map[string]Health
	// Info returns extra data for /healthz (plugins, ...).
	Info func() any

	// DB is the state store: sessions, administrators, audit log.
	DB *store.DB
	// APIToken is the bearer token of /api/v1 (and /metrics).
	APIToken   string
	Connectors *connectors.Registry
	Plugins    Plugins
	// Projects holds projects, users, batches and reports; Scheduler runs
	// the batches (both nil: no projects pages).
	Projects  *project.Store
	Scheduler *scheduler.Scheduler
	// Mailer sends Tern's own mail; its settings are on the system page.
	Mailer *mailer.Mailer
	// SelfService, if set (with Projects and Scheduler), serves the
	// self-service pages (/s/<token>), invitations and the projects'
	// self-service settings. PublicURL is the appliance's URL as users
	// reach it (https://tern.example.org), the base of the links in
	// invitations; empty, the console's origin of the sending request is
	// used.
	SelfService *selfservice.Service
	PublicURL   string
	// Secrets is the secrets layer (its Health for the system page).
	Secrets secrets.Store
	// Metrics, if set, returns Tern's own metrics for /metrics (the
	// scheduler's gauges and counters); see Metric.
	Metrics func(ctx context.Context) []Metric
	// SecureCookies marks cookies Secure even over plain HTTP (behind a
	// TLS-terminating proxy); over TLS they always are.
	SecureCookies bool
	// SessionIdle and SessionAbsolute override the session expiries.
	SessionIdle, SessionAbsolute time.Duration
}

// Server is the HTTP server: console, JSON API, health and metrics.
type Server struct {
	e        *echo.Echo
	log      *slog.Logger
	o        Options
	admins   *admins.Store
	sessions *admins.Sessions
	audit    *audit.Log
	tmpl     *templates
	limiter  *loginLimiter
	metrics  http.Handler
}

// New returns a server.
func New(o Options) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{e: e, log: o.Logger, o: o, limiter: newLoginLimiter()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if o.DB != nil {
		s.admins = admins.New(o.DB)
		s.sessions = admins.NewSessions(o.DB)
		if o.SessionIdle > 0 {
			s.sessions.Idle = o.SessionIdle
		}
		if o.SessionAbsolute > 0 {
			s.sessions.Absolute = o.SessionAbsolute
		}
		s.audit = audit.New(o.DB)
	}
	s.tmpl = mustTemplates(s)
	e.HTTPErrorHandler = s.handleError
	e.Use(securityHeaders)
	e.GET("/healthz", s.health)
	e.GET("/readyz", s.health)
	s.routes()
	return s
}

// Admins returns the administrator store (the daemon creates the first
// account through it).
func (s *Server) Admins() *admins.Store { return s.admins }

type healthResponse struct {
	Status  string            `json:"status"`
	Version string            `json:"version"`
	Checks  map[string]string `json:"checks"`
	Info    any               `json:"info,omitempty"`
}

func (s *Server) health(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	resp := healthResponse{Status: "ok", Version: s.o.Version, Checks: map[string]string{}}
	for name, check := range s.o.Checks {
		if err := check(ctx); err != nil {
			resp.Status = "unhealthy"
			resp.Checks[name] = err.Error()
		} else {
			resp.Checks[name] = "ok"
		}
	}
	if s.o.Info != nil {
		resp.Info = s.o.Info()
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
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}
