package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ternmail/tern/core/internal/audit"
)

func TestAdminsPageAndAPI(t *testing.T) {
	e := newEnv(t, fakePlugins{})
	b := e.admin("root")
	r := b.get("/admins")
	if !strings.Contains(r.body, "root <span class=\"muted\">(you)</span>") || strings.Contains(r.body, "argon2") {
		t.Fatalf("admins page: %s", r.body)
	}
	form := url.Values{"name": {"ops"}, "password": {testPassword}, "confirm": {testPassword}}
	if r := b.post("/admins", "/admins", form); r.code != http.StatusSeeOther {
		t.Fatalf("add: %d %s", r.code, r.body)
	}
	r = b.get("/admins")
	if !strings.Contains(r.body, "must change password") || !strings.Contains(r.body, "Administrator ops added") {
		t.Fatalf("after add: %s", r.body)
	}
	if r := b.post("/admins", "/admins", form); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "exists") {
		t.Fatalf("add twice: %d", r.code)
	}
	// ops logs in, must change the password, then deletes nobody but
	// cannot delete themself.
	ops := e.browser()
	if r := ops.login("ops", testPassword); r.h.Get("Location") != "/account/password" {
		t.Fatalf("ops first login: %s", r.h.Get("Location"))
	}
	ops.post("/account/password", "/account/password", url.Values{"current": {testPassword}, "new": {testPassword + "!"}, "confirm": {testPassword + "!"}})
	if r := ops.post("/admins", "/admins/ops/delete", nil); r.code != http.StatusSeeOther {
		t.Fatalf("delete self: %d", r.code)
	}
	if r := ops.get("/admins"); !strings.Contains(r.body, "you cannot delete your own account") {
		t.Fatalf("self-delete message missing: %s", r.body)
	}
	// root deletes ops: their session ends at once.
	if r := b.post("/admins", "/admins/ops/delete", nil); r.code != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.code)
	}
	if r := ops.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("deleted admin still in: %d", r.code)
	}
	// API: list, create, reset, delete.
	r = e.api("GET", "/api/v1/admins", "")
	var list []adminView
	if json.Unmarshal([]byte(r.body), &list); r.code != http.StatusOK || len(list) != 1 || list[0].Name != "root" || strings.Contains(r.body, "hash") {
		t.Fatalf("API list: %d %s", r.code, r.body)
	}
	if r := e.api("POST", "/api/v1/admins", `{"name":"svc","password":"`+testPassword+`"}`); r.code != http.StatusCreated || !strings.Contains(r.body, `"must_change":true`) {
		t.Fatalf("API create: %d %s", r.code, r.body)
	}
	if r := e.api("POST", "/api/v1/admins", `{"name":"svc2","password":"short"}`); r.code != http.StatusBadRequest {
		t.Fatalf("API short password: %d %s", r.code, r.body)
	}
	if r := e.api("POST", "/api/v1/admins/svc/password", `{"password":"`+testPassword+`-new","must_change":false}`); r.code != http.StatusNoContent {
		t.Fatalf("API reset: %d %s", r.code, r.body)
	}
	e.browser().login("svc", testPassword+"-new")
	if r := e.api("DELETE", "/api/v1/admins/svc", ""); r.code != http.StatusNoContent {
		t.Fatalf("API delete: %d %s", r.code, r.body)
	}
	if r := e.api("DELETE", "/api/v1/admins/root", ""); r.code != http.StatusBadRequest {
		t.Fatalf("API delete the last: %d %s", r.code, r.body)
	}
	// Every change is in the audit log, by who did it.
	p, _ := e.srv.audit.List(t.Context(), audit.Query{Action: "admin"})
	var got []string
	for _, en := range p.Entries {
		got = append(got, en.Admin+":"+en.Action+":"+en.Object)
	}
	want := "api:admin.delete:admin svc api:admin.password:admin svc api:admin.create:admin svc root:admin.delete:admin ops ops:admin.password:admin ops root:admin.create:admin ops"
	if strings.Join(got, " ") != want {
		t.Fatalf("audit:\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	for _, en := range p.Entries {
		if strings.Contains(en.Detail, testPassword) {
			t.Fatalf("password in the audit log: %+v", en)
		}
	}
}

func TestAuditPageAndAPI(t *testing.T) {
	e := newEnv(t, fakePlugins{})
	b := e.admin("root")
	for i := range 60 {
		e.srv.audit.Record(t.Context(), audit.Entry{Admin: "bob", Action: "thing.poke", Object: "thing " + string(rune('a'+i%26))})
	}
	r := b.get("/audit")
	if r.code != http.StatusOK || !strings.Contains(r.body, "<code>thing.poke</code>") || !strings.Contains(r.body, `href="/audit?after=`) {
		t.Fatalf("audit page: %d %s", r.code, r.body)
	}
	r = b.get("/audit?admin=root")
	if strings.Contains(r.body, "thing.poke") || !strings.Contains(r.body, "<code>login</code>") {
		t.Fatalf("filter by admin: %s", r.body)
	}
	r = e.api("GET", "/api/v1/audit?admin=bob&limit=50", "")
	var p audit.Page
	if json.Unmarshal([]byte(r.body), &p); len(p.Entries) != 50 || p.Next == "" {
		t.Fatalf("API page 1: %d entries, next %q", len(p.Entries), p.Next)
	}
	r = e.api("GET", "/api/v1/audit?admin=bob&limit=50&after="+p.Next, "")
	p = audit.Page{}
	if json.Unmarshal([]byte(r.body), &p); len(p.Entries) != 10 || p.Next != "" {
		t.Fatalf("API page 2: %d entries, next %q", len(p.Entries), p.Next)
	}
}

func TestSystemPageAndMetrics(t *testing.T) {
	e := newEnv(t, fakePlugins{"mem": nil}, func(o *Options) {
		o.Metrics = func(context.Context) []Metric {
			return []Metric{{Name: "tern_mailboxes_running", Help: "Mailbox passes running.", Value: 3},
				{Name: "tern_passes_total", Counter: true, Labels: map[string]string{"outcome": "ok"}, Value: 7}}
		}
	})
	b := e.admin("root")
	r := b.get("/system")
	for _, want := range []string{"embedded", `<span class="badge badge-ok">ok</span>`, strings.Repeat("ab", 32), "checksum mismatch", "Tern test"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("system page lacks %q", want)
		}
	}
	r = e.api("GET", "/api/v1/system", "")
	if r.code != http.StatusOK || !strings.Contains(r.body, `"backend":"embedded"`) || !strings.Contains(r.body, `"id":"broken"`) {
		t.Fatalf("API system: %d %s", r.code, r.body)
	}
	// /metrics: token or session, nothing else.
	if r := e.browser().get("/metrics"); r.code != http.StatusUnauthorized {
		t.Fatalf("metrics without credentials: %d", r.code)
	}
	r = e.api("GET", "/metrics", "")
	for _, want := range []string{"go_goroutines", "process_", "tern_mailboxes_running 3", `tern_passes_total{outcome="ok"} 7`, "# TYPE tern_passes_total counter"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if r := b.get("/metrics"); r.code != http.StatusOK || !strings.Contains(r.body, "tern_mailboxes_running") {
		t.Fatalf("metrics with a session: %d", r.code)
	}
}
