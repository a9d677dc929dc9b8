package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/admins"
	"github.com/ternmail/tern/core/internal/web/htmx"
	"github.com/ternmail/tern/ui"
)

// Page is what a console handler renders: the template
// ui/templates/pages/<Name>.html with Data, inside the layout (or alone
// for an htmx request; see render).
type Page struct {
	// Name is the page template's file name without .html.
	Name string
	// Title is the document title (a page may also define "title").
	Title string
	// Status is the HTTP status (default 200; 422 for a form with errors).
	Status int
	// Data is the page's own data: .Data in the template.
	Data any
	// Nav names the navigation entry to highlight (default: the first
	// path segment, "dashboard" for /).
	Nav string
}

// View is the dot of every template: the page plus what the layout needs.
type View struct {
	Title string
	Data  any
	// CSRF is the token forms and htmx requests send back ({{template
	// "csrf" .}} writes the hidden field; the layout sets hx-headers).
	CSRF string
	// Admin is the logged-in administrator, nil on public pages.
	Admin *admins.Admin
	// Flashes are the messages to show once.
	Flashes []admins.Flash
	Version string
	Nav     string
}

// templates are the parsed page sets: each page file is parsed into a
// clone of the layouts and partials, so that every page can define
// "title" and "content" without clashing.
type templates struct {
	pages map[string]*template.Template
	// common holds the layouts and partials (for renderPartial).
	common *template.Template
	static map[string]string // asset name → URL with a content hash
}

func mustTemplates(s *Server) *templates {
	t, err := parseTemplates(s)
	if err != nil {
		panic("web: templates: " + err.Error())
	}
	return t
}

func parseTemplates(s *Server) (*templates, error) {
	t := &templates{pages: map[string]*template.Template{}, static: map[string]string{}}
	err := fs.WalkDir(ui.Static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(ui.Static, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := strings.TrimPrefix(p, "static/")
		t.static[name] = "/static/" + name + "?v=" + hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"url":      s.url,
		"static":   t.staticURL,
		"dict":     dict,
		"when":     when,
		"ago":      ago,
		"join":     strings.Join,
		"bytes":    humanBytes,
		"duration": roundDuration,
		"mib":      func(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) },
	}
	common, err := template.New("").Funcs(funcs).ParseFS(ui.Templates, "templates/layouts/*.html", "templates/partials/*.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(ui.Templates, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		c, err := common.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := c.ParseFS(ui.Templates, f); err != nil {
			return nil, err
		}
		t.pages[strings.TrimSuffix(path.Base(f), ".html")] = c
	}
	t.common = common
	return t, nil
}

func (t *templates) staticURL(name string) (string, error) {
	u, ok := t.static[name]
	if !ok {
		return "", fmt.Errorf("no static asset %q", name)
	}
	return u, nil
}

// url returns the path of a named route with its parameters, failing on
// an unknown name so that a typo breaks the page's test, not a link.
func (s *Server) url(name string, params ...any) (string, error) {
	for _, r := range s.e.Routes() {
		if r.Name == name {
			return s.e.Reverse(name, params...), nil
		}
	}
	return "", fmt.Errorf("no route named %q", name)
}

// humanBytes writes a byte count for people (1.5 MB).
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return strconv.FormatInt(n, 10) + " B"
}

// roundDuration writes a duration to the second (to the millisecond under
// a second).
func roundDuration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// dict builds a map from key, value pairs (to pass several values to a
// partial).
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// when formats a time for tables ("" for the zero time).
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// ago says how long ago t was, roughly.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// view builds the template data of a response; it takes the session's
// flashes (they are shown once).
func (s *Server) view(c echo.Context, title string, data any) *View {
	v := &View{Title: title, Data: data, CSRF: csrfToken(c), Admin: currentAdmin(c), Version: s.o.Version}
	if ss := currentSession(c); ss != nil && len(ss.Flashes) > 0 {
		v.Flashes, ss.Flashes = ss.Flashes, nil
		if err := s.sessions.Save(c.Request().Context(), ss); err != nil {
			s.log.Warn("session save failed", "err", err)
		}
	}
	return v
}

// render is the end of every console handler: it renders p's page in the
// layout, or only its "content" for an htmx request that is not a boosted
// navigation (pagoda's pkg/ui/request.go). Nothing else looks at HX-Request.
func (s *Server) render(c echo.Context, p Page) error {
	t, ok := s.tmpl.pages[p.Name]
	if !ok {
		return fmt.Errorf("no page template %q", p.Name)
	}
	v := s.view(c, p.Title, p.Data)
	v.Nav = p.Nav
	if v.Nav == "" {
		v.Nav = navOf(c.Request().URL.Path)
	}
	name := "base"
	if htmx.GetRequest(c.Request()).Partial() {
		name = "content"
	}
	return s.execute(c, p.Status, t, name, v)
}

// renderPartial sends one fragment of ui/templates/partials (an htmx
// swap target): the template name with data as .Data of the View.
func (s *Server) renderPartial(c echo.Context, status int, name string, data any) error {
	return s.execute(c, status, s.tmpl.common, name, s.view(c, "", data))
}

func (s *Server) execute(c echo.Context, status int, t *template.Template, name string, v *View) error {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	// An htmx swap doesn't replace the messages area: send the flashes
	// out of band.
	if name != "base" && len(v.Flashes) > 0 {
		buf.WriteString(`<div id="messages" hx-swap-oob="true">`)
		if err := t.ExecuteTemplate(&buf, "flashes", v); err != nil {
			return err
		}
		buf.WriteString(`</div>`)
	}
	if status == 0 {
		status = http.StatusOK
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// navOf is the navigation section of a path: its first segment.
func navOf(p string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if seg == "" {
		return "dashboard"
	}
	return seg
}

// redirect answers a form post with 303 See Other to a named route (for
// htmx, HX-Redirect).
func (s *Server) redirect(c echo.Context, route string, params ...any) error {
	u, err := s.url(route, params...)
	if err != nil {
		return err
	}
	return redirectTo(c, u)
}

func redirectTo(c echo.Context, u string) error {
	if htmx.GetRequest(c.Request()).Enabled {
		c.Response().Header().Set(htmx.HeaderRedirect, u)
		return c.NoContent(http.StatusOK)
	}
	return c.Redirect(http.StatusSeeOther, u)
}

// flash keeps a message for the next page of the session.
func (s *Server) flash(c echo.Context, kind, msg string) {
	ss := currentSession(c)
	if ss == nil {
		return
	}
	ss.Flashes = append(ss.Flashes, admins.Flash{Kind: kind, Message: msg})
	if err := s.sessions.Save(c.Request().Context(), ss); err != nil {
		s.log.Warn("session save failed", "err", err)
	}
}

// Flash kinds.
const (
	FlashSuccess = "success"
	FlashError   = "error"
	FlashInfo    = "info"
)
