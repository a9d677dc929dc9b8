package web

import (
	"net"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// ContentSecurityPolicy is sent with every response. Scripts and styles
// come from /static only: no inline <script>, no style="" attributes, no
// CDN. htmx is configured through <meta name="htmx-config"> so that it
// injects no <style> element and never evaluates code.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

// securityHeaders sets the security headers of every response.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if c.Request().TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// loginLimiter counts failed logins per client address, whatever the
// name tried, so that guessing names or spraying passwords over many
// accounts is slowed too (the per-account lock is in admins).
type loginLimiter struct {
	mu    sync.Mutex
	fails map[string]*ipFails
	now   func() time.Time
}

type ipFails struct {
	n     int
	first time.Time
}

const (
	maxFailsPerIP = 20
	ipWindow      = 15 * time.Minute
)

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{fails: map[string]*ipFails{}, now: time.Now}
}

func clientIP(c echo.Context) string {
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}

// allowed reports whether ip may try to log in now.
func (l *loginLimiter) allowed(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.fails[ip]
	if !ok {
		return true
	}
	if l.now().Sub(f.first) > ipWindow {
		delete(l.fails, ip)
		return true
	}
	return f.n < maxFailsPerIP
}

func (l *loginLimiter) fail(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for k, f := range l.fails { // keep the map small
		if now.Sub(f.first) > ipWindow {
			delete(l.fails, k)
		}
	}
	f, ok := l.fails[ip]
	if !ok {
		f = &ipFails{first: now}
		l.fails[ip] = f
	}
	f.n++
}

func (l *loginLimiter) succeed(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, ip)
}
