package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ternmail/tern/core/internal/mailer"
)

func TestSMTPSettings(t *testing.T) {
	e := newEnv(t, nil, func(o *Options) { o.Mailer = mailer.New(o.DB, o.Secrets) })
	b := e.admin("ada")
	if r := b.get("/system"); !strings.Contains(r.body, `id="smtp-form"`) || strings.Contains(r.body, `id="smtp-test"`) {
		t.Fatalf("system page before any setting: %s", r.body)
	}
	form := url.Values{"host": {"smtp.example"}, "port": {"587"}, "tls": {"starttls"}, "username": {"tern"}, "password": {"Smtp-Pw-4"}, "from": {"tern@example.com"}}
	if r := b.post("/system", "/system/smtp", form); r.code != http.StatusSeeOther {
		t.Fatalf("save: %d %s", r.code, r.body)
	}
	st, err := e.srv.o.Mailer.Settings(t.Context())
	if err != nil || st.Host != "smtp.example" || !st.HasPassword || st.Username != "tern" {
		t.Fatalf("settings %+v %v", st, err)
	}
	if v, _ := e.sec.Get(t.Context(), mailer.PasswordPath); v != "Smtp-Pw-4" {
		t.Fatalf("the password is not in the secrets layer: %q", v)
	}
	page := b.get("/system")
	if strings.Contains(page.body, "Smtp-Pw-4") || !strings.Contains(page.body, `id="smtp-test"`) {
		t.Fatalf("system page after saving (shows the password, or no test form): %s", page.body)
	}
	if r := e.api("GET", "/api/v1/system/smtp", ""); r.code != 200 || strings.Contains(r.body, "Smtp-Pw-4") || !strings.Contains(r.body, `"has_password":true`) {
		t.Fatalf("API: %d %s", r.code, r.body)
	}
	// Keeping the password when the field is left empty; refusing TLS none
	// unless allowed.
	form.Set("password", "")
	form.Set("tls", "none")
	if r := b.post("/system", "/system/smtp", form); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "clear text") {
		t.Fatalf("TLS none: %d %s", r.code, r.body)
	}
	form.Set("tls", "implicit")
	form.Set("port", "465")
	if r := b.post("/system", "/system/smtp", form); r.code != http.StatusSeeOther {
		t.Fatalf("save without a password: %d %s", r.code, r.body)
	}
	if st, _ := e.srv.o.Mailer.Settings(t.Context()); !st.HasPassword || st.TLS != "implicit" {
		t.Fatalf("the stored password was lost: %+v", st)
	}
	// A test mail to a server that is not there: a clear error, no 500.
	e.api("PUT", "/api/v1/system/smtp", `{"host":"127.0.0.1","port":1,"tls":"implicit","from":"tern@example.com"}`)
	r := e.api("POST", "/api/v1/system/smtp/test", `{"to":"alice@example.com"}`)
	if r.code != http.StatusBadGateway || !strings.Contains(r.body, "could not be sent") {
		t.Fatalf("test mail to nowhere: %d %s", r.code, r.body)
	}
	// Without a CSRF token nothing changes.
	if r := b.do("POST", "/system/smtp", url.Values{"host": {"evil.example"}}, nil); r.code != http.StatusForbidden {
		t.Fatalf("no CSRF: %d", r.code)
	}
	if !strings.Contains(auditActions(t, e), "system.smtp") {
		t.Fatal("no audit entry")
	}
}
