package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/auth"
	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/runner"
	"github.com/ternmail/tern/core/internal/scheduler"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/sdk/memconnector"
)

// consoleEnv is a console over a real scheduler and runner, whose
// connectors are two in-memory plugins: "memsrc" (with an administrator
// who can list its users) and "memdst".
type consoleEnv struct {
	*testEnv
	projects *project.Store
	sched    *scheduler.Scheduler
	src, dst *memconnector.Connector
	// passEnd, if set by a mod, hears the scheduler's ends of passes.
	passEnd func(*project.Project, *project.User, *project.RunReport)
	plugins fakePlugins
}

const (
	srcAdminPw = "Src-Admin-Pw-7"
	dstMagicPw = "Dst-Magic-Pw-8"
)

// newConsoleEnv makes the console; mods run after the scheduler is made
// (o.Projects, o.Scheduler set), with the env's plugins in ce.plugins.
func newConsoleEnv(t *testing.T, mods ...func(*consoleEnv, *Options)) *consoleEnv {
	t.Helper()
	ce := &consoleEnv{
		src: memconnector.New(&memconnector.Options{AdminUser: "root", AdminPassword: srcAdminPw}),
		dst: memconnector.New(nil),
	}
	plugins := fakePlugins{"memsrc": ce.src, "memdst": ce.dst}
	ce.plugins = plugins
	ce.testEnv = newEnv(t, plugins, func(o *Options) {
		ce.projects = project.NewStore(o.DB, o.Secrets)
		run := &runner.Runner{DB: o.DB, Registry: o.Connectors, Plugins: plugins, Guard: auth.NewGuard(o.DB, nil), Engine: engine.New(engine.Config{})}
		ce.sched = scheduler.New(ce.projects, run, scheduler.Options{Tick: 20 * time.Millisecond, RetryBase: time.Hour,
			OnPassEnd: func(p *project.Project, u *project.User, rr *project.RunReport) {
				if ce.passEnd != nil {
					ce.passEnd(p, u, rr)
				}
			}})
		o.Projects, o.Scheduler = ce.projects, ce.sched
		for _, m := range mods {
			m(ce, o)
		}
	})
	if err := ce.sched.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ce.sched.Close)
	ctx := context.Background()
	reg := ce.srv.o.Connectors
	old := &connectors.Config{Name: "old", Plugin: "memsrc", Settings: map[string]any{"delimiter": "."}, Auth: connectors.Auth{AdminUser: "root", AdminMethod: "authzid"}}
	nw := &connectors.Config{Name: "new", Plugin: "memdst"}
	for c, pw := range map[*connectors.Config]string{old: srcAdminPw, nw: dstMagicPw} {
		if err := reg.SetAdminSecret(ctx, c, pw); err != nil {
			t.Fatal(err)
		}
		if err := reg.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return ce
}

// project creates a project through the API and returns it.
func (ce *consoleEnv) project(name string) *project.Project {
	ce.t.Helper()
	r := ce.api("POST", "/api/v1/projects", fmt.Sprintf(`{"name":%q,"source":"old","target":"new"}`, name))
	if r.code != http.StatusCreated {
		ce.t.Fatalf("create project: %d %s", r.code, r.body)
	}
	var p project.Project
	json.Unmarshal([]byte(r.body), &p)
	return &p
}

func TestProjectsConsole(t *testing.T) {
	ce := newConsoleEnv(t)
	b := ce.admin("ada")

	// Create with settings from the form.
	form := url.Values{"name": {"Old to new"}, "source": {"old"}, "target": {"new"}, "include": {"INBOX\r\nWork/**"}, "exclude": {"Trash"},
		"rename": {"Old Mail=Archive/Old Mail"}, "since": {"2020-01-01"}, "max_size_mib": {"25"}, "flags": {"on"}, "special_use": {"on"}, "workers": {"2"}}
	r := b.post("/projects", "/projects", form)
	if r.code != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	ps, _ := ce.projects.Projects(t.Context())
	if len(ps) != 1 {
		t.Fatalf("%d projects", len(ps))
	}
	p := ps[0]
	st := p.Settings
	if len(st.Include) != 2 || st.Include[1] != "Work/**" || st.Exclude[0] != "Trash" || st.Rename[0].To != "Archive/Old Mail" ||
		st.Since != "2020-01-01" || st.MaxSize != 25<<20 || st.NoFlags || st.NoSpecialUse || st.Workers != 2 {
		t.Fatalf("settings %+v", st)
	}
	if loc := r.h.Get("Location"); loc != "/projects/"+p.ID+"/users" {
		t.Fatalf("redirect to %q", loc)
	}
	// The list and the project page show it, and the form keeps the settings.
	if r := b.get("/projects"); !strings.Contains(r.body, "Old to new") || !strings.Contains(r.body, "folders INBOX, Work/**") {
		t.Fatalf("projects page: %s", r.body)
	}
	page := b.get("/projects/" + p.ID)
	if !strings.Contains(page.body, "Old Mail=Archive/Old Mail") || !strings.Contains(page.body, `value="25"`) {
		t.Fatalf("project page lost settings: %s", page.body)
	}

	// Bad input: a connector that does not exist, an empty date range, a
	// bad rename rule; each re-renders the form with its reason.
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"name": {"x"}, "source": {"nope"}, "target": {"new"}}, "the source connector &#34;nope&#34; does not exist"},
		{url.Values{"name": {"y"}, "source": {"old"}, "target": {"new"}, "since": {"2024-01-01"}, "before": {"2023-01-01"}}, "must be after"},
		{url.Values{"name": {"z"}, "source": {"old"}, "target": {"new"}, "rename": {"no equals sign"}}, "Write each rule as"},
		{url.Values{"name": {"Old to new"}, "source": {"old"}, "target": {"new"}}, "already exists"},
	} {
		r := b.post("/projects", "/projects", c.form)
		if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, c.want) {
			t.Errorf("%v: %d, want 422 with %q: %s", c.form, r.code, c.want, r.body)
		}
	}
	// Update: flags off.
	r = b.post("/projects/"+p.ID, "/projects/"+p.ID, url.Values{"name": {"Old to new"}, "max_size_mib": {"1.5"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("update: %d %s", r.code, r.body)
	}
	p, _ = ce.projects.Project(t.Context(), p.ID)
	if !p.Settings.NoFlags || p.Settings.MaxSize != 3<<19 {
		t.Fatalf("updated settings %+v", p.Settings)
	}
	// Without a CSRF token, nothing changes.
	if r := b.do("POST", "/projects/"+p.ID+"/delete", url.Values{}, nil); r.code != http.StatusForbidden {
		t.Fatalf("delete without CSRF: %d", r.code)
	}
	if r := b.post("/projects/"+p.ID, "/projects/"+p.ID+"/delete", nil); r.code != http.StatusSeeOther {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	if ps, _ := ce.projects.Projects(t.Context()); len(ps) != 0 {
		t.Fatal("the project survived its deletion")
	}
	// Logged out: the login page.
	if r := ce.browser().get("/projects"); r.code != http.StatusSeeOther || !strings.HasPrefix(r.h.Get("Location"), "/login") {
		t.Fatalf("anonymous: %d %s", r.code, r.h.Get("Location"))
	}
	entries := auditActions(t, ce.testEnv)
	for _, want := range []string{"project.create", "project.update", "project.delete"} {
		if !strings.Contains(entries, want) {
			t.Errorf("no audit entry %s in %s", want, entries)
		}
	}
}

// auditActions returns the audit log's actions as one string.
func auditActions(t *testing.T, e *testEnv) string {
	t.Helper()
	r := e.api("GET", "/api/v1/audit", "")
	if r.code != http.StatusOK {
		t.Fatalf("audit: %d %s", r.code, r.body)
	}
	return r.body
}

func TestProjectsAPI(t *testing.T) {
	ce := newConsoleEnv(t)
	p := ce.project("p1")
	if r := ce.api("GET", "/api/v1/projects/p1", ""); r.code != http.StatusOK || !strings.Contains(r.body, p.ID) {
		t.Fatalf("by name: %d %s", r.code, r.body)
	}
	if r := ce.api("PUT", "/api/v1/projects/"+p.ID, `{"name":"p1","source":"old","target":"new","settings":{"exclude":["Junk"],"no_flags":true}}`); r.code != http.StatusOK {
		t.Fatalf("update: %d %s", r.code, r.body)
	}
	got, _ := ce.projects.Project(t.Context(), p.ID)
	if !got.Settings.NoFlags || got.Settings.Exclude[0] != "Junk" {
		t.Fatalf("settings %+v", got.Settings)
	}
	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/api/v1/projects", `{"name":"p2","source":"old","target":"missing"}`, 400},
		{"POST", "/api/v1/projects", `{"name":"","source":"old","target":"new"}`, 400},
		{"POST", "/api/v1/projects", `{"name":"p1","source":"old","target":"new"}`, 409},
		{"POST", "/api/v1/projects", `{"name":"p3","source":"old","target":"new","settings":{"since":"yesterday"}}`, 400},
		{"POST", "/api/v1/projects", `not json`, 400},
		{"GET", "/api/v1/projects/nope", "", 404},
		{"DELETE", "/api/v1/projects/nope", "", 404},
	} {
		if r := ce.api(c.method, c.path, c.body); r.code != c.code || !strings.Contains(r.body, `"error"`) {
			t.Errorf("%s %s %s: %d %s, want %d with an error", c.method, c.path, c.body, r.code, r.body, c.code)
		}
	}
	// Without the token: 401.
	req, _ := http.NewRequest("GET", ce.ts.URL+"/api/v1/projects", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %v %v", resp.StatusCode, err)
	}
	if r := ce.api("DELETE", "/api/v1/projects/p1", ""); r.code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
}

func TestUsersConsole(t *testing.T) {
	ce := newConsoleEnv(t)
	p := ce.project("p")
	b := ce.admin("ada")
	users := "/projects/" + p.ID + "/users"

	// Add by hand, with an own source password.
	r := b.post(users, users, url.Values{"source_user": {"alice"}, "target_user": {"alice@new.example"}, "source_password": {"Alice-Own-Pw-1"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("add: %d %s", r.code, r.body)
	}
	b.post(users, users, url.Values{"source_user": {"bob"}})
	us, _ := ce.projects.Users(t.Context(), p.ID)
	if len(us) != 2 || !us[0].HasSourcePassword || us[1].TargetUser != "bob" || us[0].Origin != "manual" {
		t.Fatalf("users %+v %+v", us[0], us[1])
	}
	alice := us[0]
	if v, err := ce.sec.Get(t.Context(), secrets.MailboxSource(alice.ID)); err != nil || v != "Alice-Own-Pw-1" {
		t.Fatalf("the password is not in the secrets layer: %q %v", v, err)
	}
	// Errors: a duplicate, a bad address.
	for form, want := range map[string]url.Values{
		"already exists":             {"source_user": {"ALICE"}},
		"not a valid e-mail address": {"source_user": {"carol"}, "target_user": {"carol@@x"}},
	} {
		if r := b.post(users, users, want); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, form) {
			t.Errorf("%v: %d %s", want, r.code, r.body)
		}
	}
	// No page shows a password back.
	for _, page := range []string{users, users + "/" + alice.ID} {
		if r := b.get(page); r.code != 200 || strings.Contains(r.body, "Alice-Own-Pw-1") {
			t.Fatalf("%s: %d, or it shows the password", page, r.code)
		}
	}
	if r := ce.api("GET", "/api/v1"+users, ""); strings.Contains(r.body, "Alice-Own-Pw-1") || !strings.Contains(r.body, `"has_source_password":true`) {
		t.Fatalf("API users: %s", r.body)
	}
	// Search and filter.
	if r := b.get(users + "?q=BOB"); !strings.Contains(r.body, ">bob</a>") || strings.Contains(r.body, ">alice</a>") {
		t.Fatalf("search: %s", r.body)
	}
	if r := b.get(users + "?status=done"); strings.Contains(r.body, ">bob</a>") || !strings.Contains(r.body, "0 of 2 users") {
		t.Fatalf("filter: %s", r.body)
	}
	if r := b.get(users + "?status=bogus"); r.code != http.StatusBadRequest {
		t.Fatalf("bad status filter: %d", r.code)
	}
	// Edit: a new target, and replace the password.
	r = b.post(users+"/"+alice.ID, users+"/"+alice.ID, url.Values{"target_user": {"a.liddell@new.example"}, "source_password": {"Alice-New-Pw-2"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", r.code, r.body)
	}
	if v, _ := ce.sec.Get(t.Context(), secrets.MailboxSource(alice.ID)); v != "Alice-New-Pw-2" {
		t.Fatalf("password not replaced: %q", v)
	}
	// Delete the selected users: they and their secrets are gone.
	r = b.post(users, users+"/delete", url.Values{"user": {alice.ID, us[1].ID}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("delete selected: %d %s", r.code, r.body)
	}
	if us, _ := ce.projects.Users(t.Context(), p.ID); len(us) != 0 {
		t.Fatalf("%d users left", len(us))
	}
	if _, err := ce.sec.Get(t.Context(), secrets.MailboxSource(alice.ID)); err == nil {
		t.Fatal("the deleted user's password is still in the secrets layer")
	}
	// A user form without a CSRF token is refused.
	if r := b.do("POST", users, url.Values{"source_user": {"mallory"}}, nil); r.code != http.StatusForbidden {
		t.Fatalf("no CSRF: %d", r.code)
	}
	if us, _ := ce.projects.Users(t.Context(), p.ID); len(us) != 0 {
		t.Fatal("a user was added without a CSRF token")
	}
}

// upload posts a file to the import form.
func (b *browser) upload(page, path, name string, data []byte, fields map[string]string) resp {
	b.e.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("csrf", b.csrf(page))
	for k, v := range fields {
		w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", name)
	fw.Write(data)
	w.Close()
	req, _ := http.NewRequest("POST", b.e.ts.URL+path, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	r, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer r.Body.Close()
	out, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, string(out), r.Header}
}

func TestUsersImport(t *testing.T) {
	ce := newConsoleEnv(t)
	p := ce.project("p")
	b := ce.admin("ada")
	imp := "/projects/" + p.ID + "/users/import"
	b.post("/projects/"+p.ID+"/users", "/projects/"+p.ID+"/users", url.Values{"source_user": {"zed"}, "target_user": {"zed@new.example"}})

	csv := "source_user,target_user,source_password\n" +
		"alice,alice@new.example,Alice-Pw-9\n" + // 2: ok
		"bob,bob@@new.example,Bob-Pw-9\n" + // 3: bad address
		"carol,carol@new.example,\n" + // 4: ok (no password)
		"alice,alice2@new.example,x\n" + // 5: duplicate of line 2
		"zed,other@new.example,\n" // 6: already in the project with another target
	r := b.upload(imp, imp, "users.csv", []byte(csv), nil)
	if r.code != http.StatusOK {
		t.Fatalf("preview: %d %s", r.code, r.body)
	}
	for _, want := range []string{"<strong>2</strong> new users", "<strong>3</strong> lines left out", "<td>3</td>", "<td>5</td>", "<td>6</td>", "already in the project with target zed@new.example"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("preview lacks %q: %s", want, r.body)
		}
	}
	if strings.Contains(r.body, "Bob-Pw-9") || strings.Contains(r.body, "Alice-Pw-9") {
		t.Fatal("the preview shows a password")
	}
	// Nothing is written before the confirmation.
	if us, _ := ce.projects.Users(t.Context(), p.ID); len(us) != 1 {
		t.Fatalf("%d users after the preview", len(us))
	}
	id := regexpFind(t, r.body, `name="id" value="([0-9a-f]+)"`)
	r = b.post(imp, imp+"/confirm", url.Values{"id": {id}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("confirm: %d %s", r.code, r.body)
	}
	us, _ := ce.projects.Users(t.Context(), p.ID)
	if len(us) != 3 || us[0].SourceUser != "alice" || !us[0].HasSourcePassword || us[1].SourceUser != "carol" {
		t.Fatalf("after the import: %v", us)
	}
	// A preview is used once.
	if r := b.post(imp, imp+"/confirm", url.Values{"id": {id}}); r.code != http.StatusSeeOther {
		t.Fatalf("second confirm: %d", r.code)
	}
	if us2, _ := ce.projects.Users(t.Context(), p.ID); len(us2) != 3 {
		t.Fatal("a preview was imported twice")
	}
	// Whole-file errors: wrong columns, Latin-1, no file.
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"columns": {[]byte("login;mail\nx;y\n"), "format"},
		"latin1":  {[]byte("source_user,target_user\nj\xfcrgen,j@new.example\n"), "UTF-8"},
		"huge":    {bytes.Repeat([]byte("source_user,target_user\n"), (11<<20)/24), "larger than 10 MiB"},
		"binary":  {[]byte("PK\x03\x04\x00\x00\x08\x00 not a CSV at all"), "not a CSV file"},
	} {
		r := b.upload(imp, imp, name+".csv", c.data, nil)
		if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, c.want) {
			t.Errorf("%s: %d, want 422 with %q: %s", name, r.code, c.want, r.body)
		}
	}
	// Exchange Online's CSV through the API: a dry run writes nothing.
	exch := "EmailAddress,UserName,Password\ndave@new.example,dave,Dave-Pw-9\nerin@new.example,erin,Erin-Pw-9\n"
	req := func(q string) resp {
		hr, _ := http.NewRequest("POST", ce.ts.URL+"/api/v1/projects/p/users/import"+q, strings.NewReader(exch))
		hr.Header.Set("Authorization", "Bearer "+ce.token)
		hr.Header.Set("Content-Type", "text/csv")
		res, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return resp{res.StatusCode, string(out), res.Header}
	}
	if r := req("?dry_run=1"); r.code != 200 || !strings.Contains(r.body, `"format":"exchange"`) || !strings.Contains(r.body, `"added":2`) {
		t.Fatalf("dry run: %d %s", r.code, r.body)
	}
	if us, _ := ce.projects.Users(t.Context(), p.ID); len(us) != 3 {
		t.Fatal("the dry run wrote users")
	}
	if r := req(""); r.code != 200 || !strings.Contains(r.body, `"added":2`) {
		t.Fatalf("import: %d %s", r.code, r.body)
	}
	if us, _ := ce.projects.Users(t.Context(), p.ID); len(us) != 5 {
		t.Fatalf("%d users after the Exchange import", len(us))
	}
	if !strings.Contains(auditActions(t, ce.testEnv), "user.import") {
		t.Fatal("no audit entry for the import")
	}
}

func regexpFind(t *testing.T, s, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in %s", re, s)
	}
	return m[1]
}

// A pass over one user, started from the console, migrates the mailbox
// with the real engine; the user page shows the outcome.
func TestUserRunAndRetrieve(t *testing.T) {
	ce := newConsoleEnv(t)
	for _, u := range []string{"alice", "bob"} {
		ce.src.AddUser(u, u+"-pw")
	}
	for i := range 3 {
		ce.src.Seed("alice", "INBOX", []byte(fmt.Sprintf("Message-ID: <%d@x>\r\nSubject: %d\r\n\r\nhi\r\n", i, i)), time.Now(), `\Seen`)
	}
	p := ce.project("p")
	b := ce.admin("ada")
	users := "/projects/" + p.ID + "/users"
	// The source's administrator lists its users: retrieval adds them.
	if r := b.get(users); !strings.Contains(r.body, `id="retrieve"`) {
		t.Fatal("no retrieve button although the source can list users")
	}
	r := b.post(users, users+"/retrieve", nil)
	if r.code != http.StatusSeeOther {
		t.Fatalf("retrieve: %d %s", r.code, r.body)
	}
	us, _ := ce.projects.Users(t.Context(), p.ID)
	if len(us) != 2 || us[0].SourceUser != "alice" || us[0].Origin != "discovered" {
		t.Fatalf("retrieved %v", us)
	}
	if r := ce.api("POST", "/api/v1"+users+"/retrieve", "{}"); r.code != 200 || !strings.Contains(r.body, `"existing":2`) {
		t.Fatalf("second retrieval: %d %s", r.code, r.body)
	}
	alice := us[0]
	r = b.post(users+"/"+alice.ID, users+"/"+alice.ID+"/run", nil)
	if r.code != http.StatusSeeOther {
		t.Fatalf("run: %d %s", r.code, r.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, _ := ce.projects.User(t.Context(), p.ID, alice.ID)
		if u.Status == project.StatusDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pass did not finish: %+v", u)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(ce.dst.Messages("alice", "INBOX")); n != 3 {
		t.Fatalf("target has %d messages", n)
	}
	page := b.get(users + "/" + alice.ID)
	if !strings.Contains(page.body, `data-status="done"`) || !strings.Contains(page.body, "3 messages copied") {
		t.Fatalf("user page: %s", page.body)
	}
	if r := ce.api("POST", "/api/v1"+users+"/nobody/run", "{}"); r.code != http.StatusNotFound {
		t.Fatalf("run an unknown user: %d", r.code)
	}
}
