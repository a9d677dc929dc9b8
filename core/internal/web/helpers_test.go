package web

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/scheduler"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
)

type fakePlugins map[string]connector.Connector

func (f fakePlugins) Connector(id string) (connector.Connector, error) {
	c, ok := f[id]
	if !ok {
		return nil, fmt.Errorf("no connector plugin %q", id)
	}
	return c, nil
}

func (f fakePlugins) List() []PluginInfo {
	var out []PluginInfo
	for id := range f {
		out = append(out, PluginInfo{ID: id, Path: "/plugins/tern-connector-" + id, SHA256: strings.Repeat("ab", 32)})
	}
	out = append(out, PluginInfo{ID: "broken", Path: "/plugins/tern-connector-broken", Error: "checksum mismatch"})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// testEnv is a console with its stores, served by httptest.
type testEnv struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	db    *store.DB
	sec   secrets.Store
	token string
}

const testPassword = "correct-horse-battery"

func newEnv(t *testing.T, plugins fakePlugins, mod ...func(*Options)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(dir, &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sec, err := secrets.OpenEmbedded(filepath.Join(dir, "secrets.json"), filepath.Join(dir, "secrets.key"))
	if err != nil {
		t.Fatal(err)
	}
	o := Options{DB: db, APIToken: strings.Repeat("t", 64), Connectors: connectors.NewRegistry(db, sec), Plugins: plugins, Secrets: sec, Version: "test"}
	// As in the daemon, the projects pages are there (the layout links to
	// them); this scheduler is not started, so nothing runs. Tests of
	// migrations set their own in mod.
	o.Projects = project.NewStore(db, sec)
	o.Scheduler = scheduler.New(o.Projects, nil, scheduler.Options{})
	for _, m := range mod {
		m(&o)
	}
	s := New(o)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &testEnv{t: t, srv: s, ts: ts, db: db, sec: sec, token: o.APIToken}
}

// browser is a client with cookies that does not follow redirects.
type browser struct {
	e *testEnv
	c *http.Client
}

func (e *testEnv) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	code int
	body string
	h    http.Header
}

func (b *browser) do(method, path string, form url.Values, hdr map[string]string) resp {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.e.ts.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	r, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer r.Body.Close()
	out, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, string(out), r.Header}
}

func (b *browser) get(path string) resp { return b.do("GET", path, nil, nil) }

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]{64})"`)

// csrf fetches page and returns the token of its first form (pagoda's
// way: GET the page, then POST).
func (b *browser) csrf(page string) string {
	b.e.t.Helper()
	r := b.get(page)
	m := csrfRe.FindStringSubmatch(r.body)
	if m == nil {
		b.e.t.Fatalf("no CSRF token on %s (%d): %s", page, r.code, r.body)
	}
	return m[1]
}

// post submits a form from page (fetching the page's CSRF token first).
func (b *browser) post(page, path string, form url.Values) resp {
	b.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf(page))
	return b.do("POST", path, form, nil)
}

// login logs in and fails the test if that does not work.
func (b *browser) login(name, pw string) resp {
	b.e.t.Helper()
	r := b.post("/login", "/login", url.Values{"name": {name}, "password": {pw}})
	if r.code != http.StatusSeeOther {
		b.e.t.Fatalf("login %s: %d %s", name, r.code, r.body)
	}
	return r
}

// admin creates an administrator who need not change the password and
// returns a browser logged in as them.
func (e *testEnv) admin(name string) *browser {
	e.t.Helper()
	if _, err := e.srv.admins.Create(e.t.Context(), name, testPassword, false); err != nil {
		e.t.Fatal(err)
	}
	b := e.browser()
	b.login(name, testPassword)
	return b
}

// api calls the JSON API with the token.
func (e *testEnv) api(method, path, body string) resp {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.token)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Body.Close()
	out, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, string(out), r.Header}
}
