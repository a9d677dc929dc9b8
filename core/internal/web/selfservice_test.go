package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/mailer"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/selfservice"
)

// outbox is a mailer that keeps what it sends.
type outbox struct {
	mu   sync.Mutex
	msgs []mailer.Message
}

func (o *outbox) Send(_ context.Context, m mailer.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return nil
}

func (o *outbox) to(addr string) []mailer.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []mailer.Message
	for _, m := range o.msgs {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ssEnv is a console with self-service over the real scheduler and
// runner; its service's clock can be moved.
type ssEnv struct {
	*consoleEnv
	ss   *selfservice.Service
	mail *outbox
	log  *syncBuffer
	mu   sync.Mutex
	skew time.Duration
	p    *project.Project
}

func (e *ssEnv) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Now().Add(e.skew)
}

func (e *ssEnv) advance(d time.Duration) { e.mu.Lock(); e.skew += d; e.mu.Unlock() }

func newSSEnv(t *testing.T) *ssEnv {
	t.Helper()
	e := &ssEnv{mail: &outbox{}, log: &syncBuffer{}}
	e.consoleEnv = newConsoleEnv(t, func(ce *consoleEnv, o *Options) {
		logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
		e.ss = selfservice.New(selfservice.Options{DB: o.DB, Secrets: o.Secrets, Projects: o.Projects, Connectors: o.Connectors,
			Plugins: ce.plugins, Scheduler: o.Scheduler, Mailer: e.mail, Logger: logger, Now: e.now})
		o.SelfService, o.PublicURL, o.Logger = e.ss, "https://tern.test/", logger
		ce.passEnd = e.ss.PassEnded
	})
	t.Cleanup(e.ss.Close)
	e.p = e.project("Self")
	return e
}

// user adds a user whose source password is pw, with n messages.
func (e *ssEnv) user(login, target, pw string, n int) *project.User {
	e.t.Helper()
	u := &project.User{Project: e.p.ID, SourceUser: login, TargetUser: target}
	if err := e.projects.PutUser(e.t.Context(), u); err != nil {
		e.t.Fatal(err)
	}
	e.src.AddUser(login, pw)
	for i := range n {
		e.src.Seed(login, "INBOX", []byte(fmt.Sprintf("Message-ID: <%s-%d@x>\r\nSubject: %d\r\n\r\nbody\r\n", login, i, i)), time.Now())
	}
	return u
}

var tokenRe = regexp.MustCompile(`https://tern\.test/s/([A-Za-z0-9_.-]+)`)

// token returns the link's token in the last e-mail to addr.
func (e *ssEnv) token(addr string) string {
	e.t.Helper()
	ms := e.mail.to(addr)
	if len(ms) == 0 {
		e.t.Fatalf("no e-mail to %s", addr)
	}
	m := tokenRe.FindStringSubmatch(ms[len(ms)-1].Text)
	if m == nil {
		e.t.Fatalf("no link in %q", ms[len(ms)-1].Text)
	}
	return m[1]
}

func (e *ssEnv) waitInvitation(u *project.User, st selfservice.State) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		inv, err := e.ss.Invitation(e.t.Context(), e.p.ID, u.ID)
		if err == nil && inv.State == st {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("invitation of %s: %+v %v, want %s", u.SourceUser, inv, err, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// consoleMarks are what only the console's pages have.
var consoleMarks = []string{"Dashboard", "Log out", "/projects", "/connectors", "/admins", "Back to the dashboard", `href="/"`, "Tern test"}

func noConsole(t *testing.T, what string, r resp) {
	t.Helper()
	for _, m := range consoleMarks {
		if strings.Contains(r.body, m) {
			t.Errorf("%s shows %q of the console: %s", what, m, r.body)
		}
	}
	if csp := r.h.Get("Content-Security-Policy"); csp != ContentSecurityPolicy {
		t.Errorf("%s: CSP %q", what, csp)
	}
}

// The whole flow in the console: invitations from the users page, the
// public page with a wrong then the right password, the migration in the
// self-service batch without the browser, the done e-mail once, the
// status on re-opening; no password anywhere.
func TestSelfServiceFlow(t *testing.T) {
	e := newSSEnv(t)
	const pw = "Alice-Own-Pw-1"
	alice := e.user("alice@old.test", "alice@new.test", pw, 3)
	b := e.admin("ada")
	usersPage := "/projects/" + e.p.ID + "/users"
	if r := b.get(usersPage); !strings.Contains(r.body, `id="send-invitations"`) || !strings.Contains(r.body, "<th>Invitation</th>") {
		t.Fatalf("users page without invitations: %s", r.body)
	}
	if r := b.get("/projects/" + e.p.ID); !strings.Contains(r.body, "/projects/"+e.p.ID+"/selfservice") {
		t.Fatal("the project page does not link the self-service page")
	}
	r := b.post(usersPage, "/projects/"+e.p.ID+"/invitations", url.Values{"user": {alice.ID}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("send: %d %s", r.code, r.body)
	}
	if r := b.get(usersPage); !strings.Contains(r.body, "1 invitations sent.") || !strings.Contains(r.body, `data-invitation="sent"`) {
		t.Fatalf("users page after sending: %s", r.body)
	}
	ms := e.mail.to("alice@old.test")
	if len(ms) != 1 || !strings.Contains(ms[0].Text, "on old") {
		t.Fatalf("invitation e-mails %+v", ms)
	}
	tok := e.token("alice@old.test")
	link := "/s/" + tok

	var pages []resp
	v := e.browser() // the user: no session
	r = v.get(link)
	pages = append(pages, r)
	if r.code != http.StatusOK || !strings.Contains(r.body, "<strong>old</strong>") || !strings.Contains(r.body, `type="password" name="password"`) || strings.Contains(r.body, `name="login"`) {
		t.Fatalf("link page: %d %s", r.code, r.body)
	}
	noConsole(t, "link page", r)
	if r.h.Get("Cache-Control") != "no-store" {
		t.Errorf("link page cache: %q", r.h.Get("Cache-Control"))
	}
	// Without the CSRF token: refused with a public page.
	r = v.do("POST", link, url.Values{"password": {pw}}, nil)
	if r.code != http.StatusForbidden || !strings.Contains(r.body, "This form has expired") {
		t.Fatalf("no CSRF: %d %s", r.code, r.body)
	}
	noConsole(t, "CSRF page", r)
	if inv, _ := e.ss.Invitation(t.Context(), e.p.ID, alice.ID); inv.CredentialsAt.IsZero() == false {
		t.Fatal("a form without CSRF was taken")
	}
	// A wrong password: a clear message, the form again.
	r = v.post(link, link, url.Values{"password": {"Wrong-Guess-9"}})
	pages = append(pages, r)
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "The server refused this password") || !strings.Contains(r.body, `name="password"`) {
		t.Fatalf("wrong password: %d %s", r.code, r.body)
	}
	noConsole(t, "wrong password page", r)
	// The right one: the status page.
	r = v.post(link, link, url.Values{"password": {pw}})
	if r.code != http.StatusSeeOther || r.h.Get("Location") != link {
		t.Fatalf("right password: %d %s", r.code, r.body)
	}
	r = v.get(link)
	pages = append(pages, r)
	if !strings.Contains(r.body, "Your mailbox move") || !strings.Contains(r.body, `id="selfservice-progress"`) {
		t.Fatalf("status page: %s", r.body)
	}
	noConsole(t, "status page", r)
	// The browser is gone; the migration ends by itself.
	e.waitInvitation(alice, selfservice.StateDone)
	if got := len(e.dst.Messages("alice@new.test", "INBOX")); got != 3 {
		t.Fatalf("%d messages on the target", got)
	}
	e.ss.Close() // waits for the e-mail
	done := 0
	for _, m := range e.mail.to("alice@old.test") {
		if strings.Contains(m.Subject, "has been moved") {
			done++
		}
	}
	if done != 1 {
		t.Fatalf("%d done e-mails", done)
	}
	// Re-opening the link: done; the live part says so and stops polling.
	r = e.browser().get(link)
	pages = append(pages, r)
	if !strings.Contains(r.body, `id="selfservice-state">Done`) || strings.Contains(r.body, `name="password"`) {
		t.Fatalf("re-opened link: %s", r.body)
	}
	r = v.get(link + "/status")
	pages = append(pages, r)
	if r.code != http.StatusOK || !strings.Contains(r.body, "Done") || strings.Contains(r.body, "hx-trigger") || !strings.Contains(r.body, `id="selfservice-copied">3`) {
		t.Fatalf("status part: %d %s", r.code, r.body)
	}
	// The self-service batch exists and is done; the user used its own password.
	bs, _ := e.projects.Batches(t.Context(), e.p.ID)
	if len(bs) != 1 || bs[0].Name != selfservice.BatchName || bs[0].State != project.BatchDone {
		t.Fatalf("batches %+v", bs)
	}
	// No password in any page, log line, report or audit entry.
	for _, p := range pages {
		if strings.Contains(p.body, pw) || strings.Contains(p.body, "Wrong-Guess-9") {
			t.Fatalf("a password is on a page: %s", p.body)
		}
	}
	if l := e.log.String(); strings.Contains(l, pw) || strings.Contains(l, "Wrong-Guess-9") {
		t.Fatalf("a password is in the log: %s", l)
	}
	for _, path := range []string{"/api/v1/audit?limit=100", "/api/v1/projects/" + e.p.ID + "/users/" + alice.ID, "/api/v1/projects/" + e.p.ID + "/invitations"} {
		if r := e.api("GET", path, ""); strings.Contains(r.body, pw) {
			t.Fatalf("a password in %s", path)
		}
	}
	rs, _ := e.projects.Reports(t.Context(), e.p.ID, alice.ID)
	raw, _ := json.Marshal(rs)
	if len(rs) == 0 || bytes.Contains(raw, []byte(pw)) {
		t.Fatalf("reports: %d, or with the password", len(rs))
	}
	if r := e.api("GET", "/api/v1/audit?action=invitation", ""); !strings.Contains(r.body, "invitation.send") || !strings.Contains(r.body, "user alice@old.test of project Self") {
		t.Fatalf("audit: %s", r.body)
	}
}

// Every link that does not open a page gets the same answer: garbage, a
// changed signature, a superseded link, a revoked one, an expired one,
// a deleted user's, on every public route.
func TestSelfServiceInvalidLinks(t *testing.T) {
	e := newSSEnv(t)
	bob := e.user("bob@old.test", "bob@new.test", "Bob-Pw-2", 0)
	carol := e.user("carol@old.test", "carol@new.test", "Carol-Pw-3", 0)
	dave := e.user("dave@old.test", "dave@new.test", "Dave-Pw-4", 0)
	erin := e.user("erin@old.test", "erin@new.test", "Erin-Pw-5", 0)
	send := func(u *project.User) string {
		r := e.api("POST", "/api/v1/projects/"+e.p.ID+"/invitations", `{"users":["`+u.SourceUser+`"]}`)
		if r.code != http.StatusOK || strings.Contains(r.body, `"error"`) {
			t.Fatalf("send %s: %d %s", u.SourceUser, r.code, r.body)
		}
		return e.token(u.SourceUser)
	}
	bobTok, carolTok, daveTok, erinTok := send(bob), send(carol), send(dave), send(erin)
	superseded := carolTok
	send(carol)
	if r := e.api("POST", "/api/v1/projects/"+e.p.ID+"/invitations/"+dave.ID+"/revoke", ""); r.code != http.StatusOK || !strings.Contains(r.body, `"state":"revoked"`) {
		t.Fatalf("revoke: %d %s", r.code, r.body)
	}
	if err := e.projects.DeleteUser(t.Context(), e.p.ID, erin.ID); err != nil {
		t.Fatal(err)
	}
	payload, sig, _ := strings.Cut(bobTok, ".")
	tampered := payload + "." + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, sig[:1]) + sig[1:]

	v := e.browser()
	bad := map[string]string{
		"garbage":    "not-a-token",
		"tampered":   tampered,
		"superseded": superseded,
		"revoked":    daveTok,
		"deleted":    erinTok,
		"empty sig":  payload + ".",
	}
	var first *resp
	check := func(what string, r resp) {
		t.Helper()
		if first == nil {
			first = &r
			if r.code != http.StatusNotFound || !strings.Contains(r.body, "This link is not valid any more. Ask your administrator for a new invitation.") {
				t.Fatalf("%s: %d %s", what, r.code, r.body)
			}
			noConsole(t, what, r)
			return
		}
		if r.code != first.code || r.body != first.body {
			t.Errorf("%s answers %d %q, unlike the others (%d %q)", what, r.code, r.body, first.code, first.body)
		}
	}
	for what, tok := range bad {
		check(what+" GET", v.get("/s/"+tok))
		check(what+" status", v.get("/s/"+tok+"/status"))
		check(what+" POST", v.post("/s/"+bobTok, "/s/"+tok, url.Values{"password": {"x"}}))
	}
	check("no such path", v.get("/s/"+bobTok+"/nothing/here"))
	// Expired: a day after the link's 14 days.
	if r := v.get("/s/" + bobTok); r.code != http.StatusOK {
		t.Fatalf("bob's link before it expires: %d", r.code)
	}
	e.advance(15 * 24 * time.Hour)
	check("expired GET", v.get("/s/"+bobTok))
	check("expired POST", v.do("POST", "/s/"+bobTok, url.Values{"password": {"Bob-Pw-2"}, "csrf": {v.csrf("/login")}}, nil))
}

// Refused passwords per link: five, then "try again later" (429) even
// for the right one, until the window passed; a server that fails is
// "try again later" (503).
func TestSelfServiceRateLimit(t *testing.T) {
	e := newSSEnv(t)
	u := e.user("frank@old.test", "frank@new.test", "Frank-Pw-6", 0)
	e.api("POST", "/api/v1/projects/"+e.p.ID+"/invitations", `{"users":["`+u.ID+`"]}`)
	link := "/s/" + e.token("frank@old.test")
	v := e.browser()
	for range 5 {
		if r := v.post(link, link, url.Values{"password": {"Not-Franks-Pw-1"}}); r.code != http.StatusUnprocessableEntity {
			t.Fatalf("wrong password: %d", r.code)
		}
	}
	r := v.post(link, link, url.Values{"password": {"Frank-Pw-6"}})
	if r.code != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many attempts") {
		t.Fatalf("sixth try: %d %s", r.code, r.body)
	}
	e.advance(16 * time.Minute)
	if r := v.post(link, link, url.Values{"password": {"Frank-Pw-6"}}); r.code != http.StatusSeeOther {
		t.Fatalf("after the window: %d %s", r.code, r.body)
	}
}

// The administrators' side: the self-service page (settings, preview,
// validation), revoke and re-send, and the API.
func TestSelfServiceAdmin(t *testing.T) {
	e := newSSEnv(t)
	gina := e.user("gina", "gina@new.test", "Gina-Pw-7", 0)
	b := e.admin("ada")
	page := "/projects/" + e.p.ID + "/selfservice"
	r := b.get(page)
	if r.code != http.StatusOK || !strings.Contains(r.body, "No invitations sent yet") || !strings.Contains(r.body, "EXAMPLE-LINK") || !strings.Contains(r.body, `value="14"`) {
		t.Fatalf("self-service page: %d %s", r.code, r.body)
	}
	form := func(mod func(url.Values)) url.Values {
		d := selfservice.DefaultTemplates()
		f := url.Values{"link_days": {"7"}, "retention_hours": {"0"}, "recipient": {"source"}, "allow_login": {"on"}, "concurrency": {"2"},
			"windows":            {"mon-fri 20:00-06:00"},
			"invitation_subject": {"Move {{.Login}} now"}, "invitation_text": {"Go to {{.Link}} before {{.Expires}}."},
			"done_subject": {d.Done.Subject}, "done_text": {d.Done.Text}, "failed_subject": {d.Failed.Subject}, "failed_text": {d.Failed.Text}}
		if mod != nil {
			mod(f)
		}
		return f
	}
	// Preview: rendered, not saved.
	r = b.post(page, page+"/preview", form(nil))
	if r.code != http.StatusOK || !strings.Contains(r.body, "Move jane.doe@old.example now") || !strings.Contains(r.body, "not saved yet") {
		t.Fatalf("preview: %d %s", r.code, r.body)
	}
	if st, _ := e.ss.Settings(t.Context(), e.p.ID); st.LinkDays != 14 {
		t.Fatal("the preview saved the settings")
	}
	// Bad templates and values: 422 with the reason.
	for _, c := range []struct {
		mod  func(url.Values)
		want string
	}{
		{func(f url.Values) { f.Set("invitation_text", "{{.Password}} {{.Link}}") }, "there is no {{.Password}}"},
		{func(f url.Values) { f.Set("invitation_text", "no link") }, "must contain the link"},
		{func(f url.Values) { f.Set("done_subject", "{{if}}") }, "done e-mail"},
		{func(f url.Values) { f.Set("link_days", "0") }, "link lifetime"},
		{func(f url.Values) { f.Set("windows", "someday") }, "window"},
		{func(f url.Values) { f.Set("retention_hours", "x") }, "not a whole number"},
	} {
		r := b.post(page, page, form(c.mod))
		if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, htmlEscape(c.want)) {
			t.Errorf("%s: %d, want 422 with %q", c.want, r.code, c.want)
		}
	}
	if r := b.post(page, page, form(nil)); r.code != http.StatusSeeOther {
		t.Fatalf("save: %d %s", r.code, r.body)
	}
	st, _ := e.ss.Settings(t.Context(), e.p.ID)
	if st.LinkDays != 7 || st.RetentionHours != 0 || !st.AllowLogin || st.Concurrency != 2 || len(st.Windows) != 1 || st.Templates.Invitation.Subject != "Move {{.Login}} now" {
		t.Fatalf("saved %+v", st)
	}
	// Gina's login is no address: the invitation goes to the target.
	r = b.post("/projects/"+e.p.ID+"/users", "/projects/"+e.p.ID+"/invitations", url.Values{"user": {gina.ID}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("send: %d", r.code)
	}
	if ms := e.mail.to("gina@new.test"); len(ms) != 1 || ms[0].Subject != "Move gina now" {
		t.Fatalf("e-mails %+v", ms)
	}
	first := e.token("gina@new.test")
	// The page lists it; re-send makes a new link, revoke ends it.
	if r := b.get(page); !strings.Contains(r.body, `data-invitation="sent"`) || !strings.Contains(r.body, "gina@new.test") {
		t.Fatalf("page with the invitation: %s", r.body)
	}
	if r := b.post(page, "/projects/"+e.p.ID+"/invitations/"+gina.ID+"/resend", nil); r.code != http.StatusSeeOther {
		t.Fatalf("re-send: %d", r.code)
	}
	second := e.token("gina@new.test")
	if first == second {
		t.Fatal("a re-send kept the link")
	}
	v := e.browser()
	if r := v.get("/s/" + first); r.code != http.StatusNotFound {
		t.Fatalf("the first link after a re-send: %d", r.code)
	}
	// The own-login field is there now.
	if r := v.get("/s/" + second); r.code != http.StatusOK || !strings.Contains(r.body, `name="login"`) {
		t.Fatalf("second link: %d %s", r.code, r.body)
	}
	if r := b.post(page, "/projects/"+e.p.ID+"/invitations/"+gina.ID+"/revoke", nil); r.code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.code)
	}
	if r := v.get("/s/" + second); r.code != http.StatusNotFound {
		t.Fatalf("a revoked link: %d", r.code)
	}
	if r := e.api("GET", "/api/v1/audit?action=invitation", ""); !strings.Contains(r.body, "invitation.resend") || !strings.Contains(r.body, "invitation.revoke") {
		t.Fatalf("audit: %s", r.body)
	}
	if r := e.api("GET", "/api/v1/audit?action=selfservice", ""); !strings.Contains(r.body, "selfservice.update") {
		t.Fatalf("audit: %s", r.body)
	}

	// API: settings (partial update), invitations.
	r = e.api("GET", "/api/v1/projects/"+e.p.ID+"/selfservice", "")
	if r.code != http.StatusOK || !strings.Contains(r.body, `"link_days":7`) || !strings.Contains(r.body, `"windows":["mon,tue,wed,thu,fri 20:00-06:00"]`) {
		t.Fatalf("API settings: %d %s", r.code, r.body)
	}
	r = e.api("PUT", "/api/v1/projects/"+e.p.ID+"/selfservice", `{"link_days":30,"windows":[],"templates":{"done":{"subject":"Moved!"}}}`)
	if r.code != http.StatusOK || !strings.Contains(r.body, `"link_days":30`) || !strings.Contains(r.body, `"subject":"Moved!"`) || !strings.Contains(r.body, `"subject":"Move {{.Login}} now"`) {
		t.Fatalf("API update: %d %s", r.code, r.body)
	}
	if r := e.api("PUT", "/api/v1/projects/"+e.p.ID+"/selfservice", `{"templates":{"failed":{"text":"{{.Nope}}"}}}`); r.code != http.StatusBadRequest {
		t.Fatalf("API bad template: %d %s", r.code, r.body)
	}
	r = e.api("POST", "/api/v1/projects/"+e.p.ID+"/invitations", `{"users":["gina"]}`)
	var out []map[string]any
	json.Unmarshal([]byte(r.body), &out)
	if r.code != http.StatusOK || len(out) != 1 || out[0]["state"] != "sent" || out[0]["resent"] != true || out[0]["id"] != nil {
		t.Fatalf("API send: %d %s", r.code, r.body)
	}
	if r := e.api("POST", "/api/v1/projects/"+e.p.ID+"/invitations", `{"users":["nobody"]}`); r.code != http.StatusBadRequest {
		t.Fatalf("API send to nobody: %d %s", r.code, r.body)
	}
	if r := e.api("POST", "/api/v1/projects/"+e.p.ID+"/invitations/gina/resend", ""); r.code != http.StatusOK || !strings.Contains(r.body, `"sent_count":4`) {
		t.Fatalf("API resend: %d %s", r.code, r.body)
	}
	r = e.api("GET", "/api/v1/projects/"+e.p.ID+"/invitations", "")
	if r.code != http.StatusOK || !strings.Contains(r.body, `"source_user":"gina"`) || strings.Contains(r.body, `"id"`) {
		t.Fatalf("API list: %d %s", r.code, r.body)
	}
	if r := e.api("POST", "/api/v1/projects/"+e.p.ID+"/invitations/nobody/revoke", ""); r.code != http.StatusNotFound {
		t.Fatalf("API revoke of nobody: %d", r.code)
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}
