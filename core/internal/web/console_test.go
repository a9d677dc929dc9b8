package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/ternmail/tern/core/internal/admins"
	"github.com/ternmail/tern/core/internal/audit"
)

// pages are the console pages every test of the layout visits.
var pages = []string{"/", "/connectors", "/connectors/new", "/admins", "/audit", "/system", "/account/password"}

func TestLoginRequired(t *testing.T) {
	e := newEnv(t, fakePlugins{})
	b := e.browser()
	for _, p := range pages {
		r := b.get(p)
		if r.code != http.StatusSeeOther || !strings.HasPrefix(r.h.Get("Location"), "/login") {
			t.Errorf("%s without login: %d %s", p, r.code, r.h.Get("Location"))
		}
	}
	if r := b.get("/connectors"); r.h.Get("Location") != "/login?next=%2Fconnectors" {
		t.Errorf("next: %s", r.h.Get("Location"))
	}
	// htmx requests get HX-Redirect.
	r := b.do("GET", "/connectors", nil, map[string]string{"HX-Request": "true"})
	if r.h.Get("HX-Redirect") != "/login" {
		t.Errorf("htmx without login: %d %v", r.code, r.h)
	}
	// The API answers 401 in JSON.
	req, _ := http.NewRequest("GET", e.ts.URL+"/api/v1/admins", nil)
	res, _ := http.DefaultClient.Do(req)
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("Content-Type"), "json") {
		t.Errorf("API without token: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	res.Body.Close()
}

func TestLoginLogoutAndSession(t *testing.T) {
	e := newEnv(t, fakePlugins{})
	b := e.admin("alice")
	if r := b.get("/"); r.code != http.StatusOK || !strings.Contains(r.body, "Dashboard") || !strings.Contains(r.body, "alice") {
		t.Fatalf("dashboard: %d %s", r.code, r.body)
	}
	// next is followed after login, but only to a local path.
	b2 := e.browser()
	b2.get("/audit")
	r := b2.post("/login?next=%2Faudit", "/login", url.Values{"name": {"alice"}, "password": {testPassword}, "next": {"/audit"}})
	if r.h.Get("Location") != "/audit" {
		t.Errorf("next after login: %s", r.h.Get("Location"))
	}
	b3 := e.browser()
	if r := b3.post("/login", "/login", url.Values{"name": {"alice"}, "password": {testPassword}, "next": {"//evil.example/x"}}); r.h.Get("Location") != "/" {
		t.Errorf("open redirect: %s", r.h.Get("Location"))
	}
	// Logout ends the session on the server: the old cookie is useless.
	var old *http.Cookie
	for _, ck := range b.c.Jar.Cookies(mustURL(e.ts.URL)) {
		if ck.Name == sessionCookie {
			old = ck
		}
	}
	if r := b.post("/", "/logout", nil); r.code != http.StatusSeeOther || r.h.Get("Location") != "/login?bye=1" {
		t.Fatalf("logout: %d %s", r.code, r.h.Get("Location"))
	}
	if r := b.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("after logout: %d", r.code)
	}
	req, _ := http.NewRequest("GET", e.ts.URL+"/", nil)
	req.AddCookie(old)
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("old session cookie after logout: %d", res.StatusCode)
	}
	res.Body.Close()
	// Audit: login and logout recorded.
	p, _ := e.srv.audit.List(t.Context(), audit.Query{Admin: "alice"})
	var actions []string
	for _, en := range p.Entries {
		actions = append(actions, en.Action)
	}
	if !strings.Contains(strings.Join(actions, " "), "logout") || !strings.Contains(strings.Join(actions, " "), "login") {
		t.Fatalf("audit: %v", actions)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, fakePlugins{})
	b := e.admin("alice")
	now := time.Now()
	e.srv.sessions.SetClock(func() time.Time { return now.Add(admins.DefaultIdle + time.Minute) })
	if r := b.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("idle session still works: %d", r.code)
	}
	// Absolute expiry: active all along, but too old.
	e.srv.sessions.SetClock(time.Now)
	b = e.browser()
	b.login("alice", testPassword)
	for d := time.Duration(0); d <= admins.DefaultAbsolute+time.Hour; d += 20 * time.Minute {
		e.srv.sessions.SetClock(func() time.Time { return now.Add(d) })
		if r := b.get("/"); r.code != http.StatusOK {
			if d <= admins.DefaultAbsolute {
				t.Fatalf("session ended after %v: %d", d, r.code)
			}
			return
		}
	}
	t.Fatal("session outlived the absolute expiry")
}

func TestLoginFailureAndLockout(t *testing.T) {
	e := newEnv(t, fakePlugins{})
	e.srv.admins.Create(t.Context(), "alice", testPassword, false)
	b := e.browser()
	wrong := func(name string) resp {
		return b.post("/login", "/login", url.Values{"name": {name}, "password": {"wrong-password-123"}})
	}
	unknown := wrong("nobody")
	if unknown.code != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", unknown.code)
	}
	for range admins.MaxFailures {
		r := wrong("alice")
		if r.code != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", r.code)
		}
		// Same words for an unknown name and a wrong password.
		if msg(r.body) != msg(unknown.body) {
			t.Fatalf("messages differ: %q vs %q", msg(r.body), msg(unknown.body))
		}
	}
	// Locked: even the right password fails, with the same words.
	r := b.post("/login", "/login", url.Values{"name": {"alice"}, "password": {testPassword}})
	if r.code != http.StatusUnauthorized || msg(r.body) != msg(unknown.body) {
		t.Fatalf("locked account: %d %q", r.code, msg(r.body))
	}
	p, _ := e.srv.audit.List(t.Context(), audit.Query{Action: "admin.locked"})
	if len(p.Entries) != 1 {
		t.Fatalf("lock not audited: %+v", p)
	}
	// No entry names the unknown user (it may be a mistyped password).
	all, _ := e.srv.audit.List(t.Context(), audit.Query{})
	for _, en := range all.Entries {
		if strings.Contains(en.Admin+en.Object, "nobody") {
			t.Fatalf("unknown name in the audit log: %+v", en)
		}
	}
}

// msg extracts the login page's alert.
func msg(body string) string {
	_, after, _ := strings.Cut(body, `role="alert">`)
	m, _, _ := strings.Cut(after, "<")
	return m
}

func TestIPRateLimit(t *testing.T) {
	e := newEnv(t, fakePlugins{})
	e.srv.admins.Create(t.Context(), "alice", testPassword, false)
	b := e.browser()
	for i := range maxFailsPerIP {
		b.post("/login", "/login", url.Values{"name": {"user" + string(rune('a'+i))}, "password": {"x"}})
	}
	r := b.post("/login", "/login", url.Values{"name": {"alice"}, "password": {testPassword}})
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("after %d failures from one address: %d", maxFailsPerIP, r.code)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, fakePlugins{})
	b := e.admin("alice")
	form := url.Values{"name": {"bob"}, "password": {testPassword}, "confirm": {testPassword}}
	// Without a token, with a wrong one: 403, nothing created.
	if r := b.do("POST", "/admins", form, nil); r.code != http.StatusForbidden {
		t.Fatalf("no token: %d", r.code)
	}
	form.Set("csrf", strings.Repeat("0", 64))
	if r := b.do("POST", "/admins", form, nil); r.code != http.StatusForbidden {
		t.Fatalf("wrong token: %d", r.code)
	}
	if r := b.do("POST", "/admins", form, map[string]string{"X-CSRF-Token": "nope", "HX-Request": "true"}); r.code != http.StatusForbidden {
		t.Fatalf("wrong header token: %d", r.code)
	}
	if _, err := e.srv.admins.Get(t.Context(), "bob"); err == nil {
		t.Fatal("bob created without a valid token")
	}
	// The login form needs one too.
	if r := e.browser().do("POST", "/login", url.Values{"name": {"alice"}, "password": {testPassword}}, nil); r.code != http.StatusForbidden {
		t.Fatalf("login without token: %d", r.code)
	}
	// The page's token works, in the form or in the htmx header.
	form.Del("csrf")
	if r := b.post("/admins", "/admins", form); r.code != http.StatusSeeOther {
		t.Fatalf("valid token: %d %s", r.code, r.body)
	}
	tok := b.csrf("/admins")
	if r := b.do("POST", "/admins/bob/delete", url.Values{}, map[string]string{"X-CSRF-Token": tok, "HX-Request": "true"}); r.code != http.StatusOK || r.h.Get("HX-Redirect") != "/admins" {
		t.Fatalf("htmx header token: %d %v", r.code, r.h)
	}
	// A token from before a login does not survive it.
	b2 := e.browser()
	before := b2.csrf("/login")
	b2.login("alice", testPassword)
	if r := b2.do("POST", "/logout", url.Values{"csrf": {before}}, nil); r.code != http.StatusForbidden {
		t.Fatalf("pre-login token after login: %d", r.code)
	}
}

func TestSecurityHeadersAndNoInlineScript(t *testing.T) {
	e := newEnv(t, fakePlugins{})
	b := e.admin("alice")
	all := append([]string{"/login", "/nonexistent", "/static/tern.css", "/healthz"}, pages...)
	anon := e.browser()
	for _, p := range all {
		for _, br := range []*browser{b, anon} {
			r := br.get(p)
			if r.h.Get("Content-Security-Policy") != ContentSecurityPolicy || r.h.Get("X-Content-Type-Options") != "nosniff" ||
				r.h.Get("Referrer-Policy") != "no-referrer" || r.h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: headers %v", p, r.h)
			}
			if strings.HasPrefix(r.h.Get("Content-Type"), "text/html") {
				checkHTML(t, p, r.body)
			}
		}
	}
}

// checkHTML fails on what the CSP would block: inline scripts, event
// handler attributes, style attributes and elements, javascript: URLs,
// anything loaded from elsewhere.
func checkHTML(t *testing.T, page, body string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "style" {
				t.Errorf("%s: <style> element", page)
			}
			src := ""
			for _, a := range n.Attr {
				k := strings.ToLower(a.Key)
				switch {
				case strings.HasPrefix(k, "on"), k == "style", strings.HasPrefix(k, "hx-on"):
					t.Errorf("%s: <%s %s=%q>", page, n.Data, a.Key, a.Val)
				case strings.HasPrefix(strings.TrimSpace(strings.ToLower(a.Val)), "javascript:"):
					t.Errorf("%s: javascript: URL in <%s %s>", page, n.Data, a.Key)
				case (k == "src" || k == "href" || k == "action") && (strings.Contains(a.Val, "//")):
					t.Errorf("%s: external reference <%s %s=%q>", page, n.Data, a.Key, a.Val)
				}
				if k == "src" {
					src = a.Val
				}
			}
			if n.Data == "script" && (src == "" || n.FirstChild != nil) {
				t.Errorf("%s: inline <script>", page)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}

func TestForcedPasswordChange(t *testing.T) {
	e := newEnv(t, fakePlugins{})
	pw, err := e.srv.admins.EnsureInitial(t.Context())
	if err != nil || pw == "" {
		t.Fatal(pw, err)
	}
	b := e.browser()
	r := b.login(admins.InitialName, pw)
	if r.h.Get("Location") != "/account/password" {
		t.Fatalf("first login goes to %s", r.h.Get("Location"))
	}
	for _, p := range []string{"/", "/connectors", "/admins"} {
		if r := b.get(p); r.code != http.StatusSeeOther || r.h.Get("Location") != "/account/password" {
			t.Fatalf("%s before the change: %d %s", p, r.code, r.h.Get("Location"))
		}
	}
	// A change that the policy refuses, then one that works.
	if r := b.post("/account/password", "/account/password", url.Values{"current": {pw}, "new": {"short"}, "confirm": {"short"}}); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("short password: %d", r.code)
	}
	if r := b.post("/account/password", "/account/password", url.Values{"current": {pw}, "new": {testPassword}, "confirm": {testPassword + "x"}}); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("different passwords: %d", r.code)
	}
	if r := b.post("/account/password", "/account/password", url.Values{"current": {pw}, "new": {testPassword}, "confirm": {testPassword}}); r.code != http.StatusSeeOther {
		t.Fatalf("change: %d %s", r.code, r.body)
	}
	if r := b.get("/"); r.code != http.StatusOK || !strings.Contains(r.body, "Your password is changed.") {
		t.Fatalf("after the change: %d", r.code)
	}
	if _, err := e.srv.admins.EnsureInitial(t.Context()); err != nil {
		t.Fatal(err)
	}
	p, _ := e.srv.audit.List(t.Context(), audit.Query{Action: "admin.password"})
	if len(p.Entries) != 1 || strings.Contains(p.Entries[0].Detail, testPassword) {
		t.Fatalf("audit: %+v", p)
	}
}

func TestErrorPages(t *testing.T) {
	e := newEnv(t, fakePlugins{})
	b := e.admin("alice")
	r := b.get("/no/such/page")
	if r.code != http.StatusNotFound || !strings.Contains(r.body, "<h1>Not Found</h1>") || !strings.Contains(r.h.Get("Content-Type"), "text/html") {
		t.Fatalf("404 page: %d %s", r.code, r.body)
	}
	r = e.api("GET", "/api/v1/nothing", "")
	if r.code != http.StatusNotFound || !strings.HasPrefix(r.body, `{"error":`) {
		t.Fatalf("API 404: %d %s", r.code, r.body)
	}
	if r := e.api("GET", "/api/v1/connectors/none", ""); r.code != http.StatusNotFound {
		t.Fatalf("API unknown connector: %d %s", r.code, r.body)
	}
	// htmx: the message goes to #messages.
	r = b.do("GET", "/no/such/page", nil, map[string]string{"HX-Request": "true"})
	if r.code != http.StatusNotFound || r.h.Get("HX-Retarget") != "#messages" || strings.Contains(r.body, "<html") {
		t.Fatalf("htmx 404: %d %v %s", r.code, r.h, r.body)
	}
}
