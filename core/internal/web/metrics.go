package web

import (
	"context"
	"crypto/subtle"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric is one sample of Tern's own metrics, handed to /metrics by the
// Options.Metrics hook. It keeps Prometheus's client library inside this
// package: the scheduler fills Metrics without importing it.
type Metric struct {
	// Name is the full metric name, e.g. "tern_mailboxes_running".
	Name string
	Help string
	// Counter marks a counter (monotonic); otherwise a gauge.
	Counter bool
	Labels  map[string]string
	Value   float64
}

// metricsHandler serves Go runtime, process and Tern metrics in the
// Prometheus text format.
func (s *Server) metricsHandler() echo.HandlerFunc {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.o.Metrics != nil {
		reg.MustRegister(hookCollector{s.o.Metrics})
	}
	return echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil}))
}

// metricsAuth lets /metrics be read with the API token (scrapers) or a
// console session (an administrator looking).
func (s *Server) metricsAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.validToken(c) {
			return next(c)
		}
		if s.sessions != nil {
			if ck, err := c.Cookie(sessionCookie); err == nil {
				if _, err := s.sessions.Get(c.Request().Context(), ck.Value); err == nil {
					return next(c)
				}
			}
		}
		return unauthorized(c)
	}
}

// hookCollector turns the hook's samples into Prometheus metrics; it is
// unchecked, since the hook's metric set may change between scrapes.
type hookCollector struct {
	fn func(context.Context) []Metric
}

func (hookCollector) Describe(chan<- *prometheus.Desc) {}

func (h hookCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range h.fn(context.Background()) {
		keys := make([]string, 0, len(m.Labels))
		for k := range m.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = m.Labels[k]
		}
		typ := prometheus.GaugeValue
		if m.Counter {
			typ = prometheus.CounterValue
		}
		help := m.Help
		if strings.TrimSpace(help) == "" {
			help = m.Name
		}
		pm, err := prometheus.NewConstMetric(prometheus.NewDesc(m.Name, help, keys, nil), typ, m.Value, vals...)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(prometheus.NewDesc(m.Name, help, nil, nil), err)
			continue
		}
		ch <- pm
	}
}

// validToken reports whether the request carries the API token.
func (s *Server) validToken(c echo.Context) bool {
	tok, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
	return ok && s.o.APIToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.o.APIToken)) == 1
}

func unauthorized(c echo.Context) error {
	c.Response().Header().Set("WWW-Authenticate", `Bearer realm="tern"`)
	return c.JSON(http.StatusUnauthorized, apiError{"missing or wrong API token"})
}
