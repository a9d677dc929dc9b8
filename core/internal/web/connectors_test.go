package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ternmail/tern/core/internal/audit"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/memconnector"
)

// acme is a third-party connector whose settings schema has every kind
// of field the console renders.
type acme struct{ *memconnector.Connector }

const acmeSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "ACME Mail server",
  "description": "Reaches an ACME Mail 9 server over its admin protocol.",
  "type": "object",
  "required": ["host"],
  "properties": {
    "host": {"type": "string", "title": "Server", "description": "Host name of the ACME server.", "minLength": 1, "maxLength": 253},
    "port": {"type": "integer", "title": "Port", "minimum": 1, "maximum": 65535, "default": 4190},
    "secure": {"type": "boolean", "title": "Use TLS", "default": true},
    "mode": {"type": "string", "title": "Protocol", "enum": ["fast", "compatible"], "default": "fast"},
    "ratio": {"type": ["number", "null"], "title": "Throttle ratio", "minimum": 0, "maximum": 1},
    "folders": {"type": "array", "title": "Skip folders", "items": {"type": "string"}},
    "timeouts": {"type": "object", "title": "Timeouts", "properties": {
      "connect": {"type": "integer", "title": "Connect (s)", "default": 30}
    }}
  }
}`

func (acme) Describe(context.Context) (*connector.Description, error) {
	return &connector.Description{ID: "acme", Version: "9.1.0", Summary: "ACME Mail (third party)", ProtocolVersion: connector.ProtocolVersion,
		Roles: []connector.Role{connector.RoleSource}, SettingsSchema: json.RawMessage(acmeSchema)}, nil
}

const adminSecret = "adm-Secret-7xq"

func connectorEnv(t *testing.T) (*testEnv, *browser) {
	mem := memconnector.New(&memconnector.Options{AdminUser: "admin", AdminPassword: adminSecret})
	mem.AddUser("alice", "alice-own-pw")
	e := newEnv(t, fakePlugins{"mem": mem, "acme": acme{memconnector.New(nil)}})
	return e, e.admin("root")
}

func TestConnectorFormFromSchema(t *testing.T) {
	e, b := connectorEnv(t)
	r := b.get("/connectors/new")
	if r.code != http.StatusOK || !strings.Contains(r.body, `<option value="acme">acme — ACME Mail (third party) (source)</option>`) {
		t.Fatalf("plugin choice: %d %s", r.code, r.body)
	}
	r = b.get("/connectors/new?plugin=acme")
	for _, want := range []string{
		`<legend>ACME Mail server</legend>`,
		`Reaches an ACME Mail 9 server over its admin protocol.`,
		`<input type="text" id="f-host" name="settings.host" value="" minlength="1" maxlength="253" required`,
		`Host name of the ACME server.`,
		`<input type="number" id="f-port" name="settings.port" value="4190" step="1" min="1" max="65535"`,
		`<input type="checkbox" id="f-secure" name="settings.secure" value="true" checked>`,
		`<option value="fast" selected>fast</option>`,
		`<option value="compatible" >compatible</option>`,
		`name="settings.ratio" value="" step="any" min="0" max="1"`,
		`<textarea id="f-folders" name="settings.folders"`,
		`Timeouts › Connect (s)`,
		`name="settings.timeouts.connect" value="30"`,
		`name="admin_password"`, `name="user_password"`, `<option value="proxyauth" >proxyauth</option>`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	if t.Failed() {
		t.Log(r.body)
	}
	// Wrong values: the form again, 422, with the reasons.
	form := url.Values{"name": {"acme1"}, "plugin": {"acme"}, "settings.host": {""}, "settings.port": {"70000"}, "settings.mode": {"slow"}, "settings.timeouts.connect": {"x"}}
	r = b.post("/connectors/new?plugin=acme", "/connectors", form)
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Required.") || !strings.Contains(r.body, "Enter a value from 1 to 65535.") ||
		!strings.Contains(r.body, "Choose one of fast, compatible.") || !strings.Contains(r.body, "Enter a whole number.") {
		t.Fatalf("invalid form: %d %s", r.code, r.body)
	}
	form = url.Values{"name": {"acme1"}, "plugin": {"acme"}, "settings.host": {"mail.acme.test"}, "settings.port": {"993"}, "settings.mode": {"compatible"},
		"settings.ratio": {"0.5"}, "settings.folders": {"Spam\r\nTrash\n"}, "settings.timeouts.connect": {"10"}}
	r = b.post("/connectors/new?plugin=acme", "/connectors", form)
	if r.code != http.StatusSeeOther || r.h.Get("Location") != "/connectors/acme1" {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	cc, err := e.srv.o.Connectors.Get(t.Context(), "acme1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(cc.Settings)
	if string(got) != `{"folders":["Spam","Trash"],"host":"mail.acme.test","mode":"compatible","port":993,"ratio":0.5,"secure":false,"timeouts":{"connect":10}}` {
		t.Fatalf("settings: %s", got)
	}
	// The edit page shows the stored values.
	r = b.get("/connectors/acme1")
	for _, want := range []string{`value="mail.acme.test"`, `name="settings.port" value="993"`, `<input type="checkbox" id="f-secure" name="settings.secure" value="true" >`,
		`<option value="compatible" selected>`, "Spam\nTrash</textarea>", `Connector saved`} {
		if !strings.Contains(r.body, want) && !(want == "Connector saved" && strings.Contains(r.body, "Connector acme1 saved.")) {
			t.Errorf("edit page lacks %s", want)
		}
	}
	// Creating the same name again is refused on the form.
	if r := b.post("/connectors/new?plugin=acme", "/connectors", form); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "exists") {
		t.Fatalf("duplicate: %d", r.code)
	}
}

func TestConnectorSecretsAndTest(t *testing.T) {
	e, b := connectorEnv(t)
	form := url.Values{"name": {"old"}, "plugin": {"mem"}, "settings.delimiter": {"/"}, "admin_user": {"admin"}, "admin_method": {"auto"}, "admin_password": {adminSecret}}
	if r := b.post("/connectors/new?plugin=mem", "/connectors", form); r.code != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	noSecret := func(where, body string) {
		t.Helper()
		if strings.Contains(body, adminSecret) || strings.Contains(body, "alice-own-pw") {
			t.Fatalf("%s shows a password", where)
		}
	}
	r := b.get("/connectors/old")
	noSecret("edit page", r.body)
	if !strings.Contains(r.body, `Administrator or magic password <span class="badge badge-ok">set</span>`) ||
		!strings.Contains(r.body, `Single user&#39;s password <span class="badge badge-none">not set</span>`) {
		t.Fatalf("secret state not shown: %s", r.body)
	}
	// Test connection with htmx: the report alone.
	tok := b.csrf("/connectors/old")
	r = b.do("POST", "/connectors/old/test", url.Values{"sample_user": {"alice"}, "sample_password": {"alice-own-pw"}}, map[string]string{"X-CSRF-Token": tok, "HX-Request": "true"})
	if r.code != http.StatusOK || strings.Contains(r.body, "<html") || !strings.Contains(r.body, "in-memory mailboxes ready") ||
		!strings.Contains(r.body, `<span class="badge badge-ok">admin_authzid</span>`) || !strings.Contains(r.body, "authzid=alice authcid=admin") {
		t.Fatalf("htmx test: %d %s", r.code, r.body)
	}
	noSecret("test report", r.body)
	checkHTML(t, "test report", r.body)
	// Without JavaScript: the report in a page.
	r = b.post("/connectors/old", "/connectors/old/test", url.Values{"sample_user": {"alice"}})
	if r.code != http.StatusOK || !strings.Contains(r.body, "<html") || !strings.Contains(r.body, "admin_authzid") {
		t.Fatalf("plain test: %d", r.code)
	}
	// The list shows the result.
	r = b.get("/connectors")
	if !strings.Contains(r.body, `<span class="badge badge-ok">admin_authzid</span>`) || !strings.Contains(r.body, "administrator admin (admin_authzid)") {
		t.Fatalf("list: %s", r.body)
	}
	noSecret("list", r.body)
	// An update with empty password fields keeps the password.
	upd := url.Values{"settings.delimiter": {"."}, "admin_user": {"admin"}, "admin_method": {"authzid"}}
	if r := b.post("/connectors/old", "/connectors/old", upd); r.code != http.StatusSeeOther {
		t.Fatalf("update: %d %s", r.code, r.body)
	}
	cc, _ := e.srv.o.Connectors.Get(t.Context(), "old")
	if !cc.Auth.HasAdminSecret || cc.Auth.AdminMethod != "authzid" || cc.Settings["delimiter"] != "." {
		t.Fatalf("after update: %+v", cc)
	}
	// A new single-user password; then removing the administrator's
	// without removing the administrator user is refused.
	upd.Set("user_password", "alice-own-pw")
	b.post("/connectors/old", "/connectors/old", upd)
	upd.Del("user_password")
	upd.Set("clear_admin_password", "true")
	if r := b.post("/connectors/old", "/connectors/old", upd); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "has no password") {
		t.Fatalf("admin without password: %d", r.code)
	}
	upd.Set("admin_user", "")
	upd.Set("admin_method", "auto")
	if r := b.post("/connectors/old", "/connectors/old", upd); r.code != http.StatusSeeOther {
		t.Fatalf("clear: %d %s", r.code, r.body)
	}
	cc, _ = e.srv.o.Connectors.Get(t.Context(), "old")
	if cc.Auth.HasAdminSecret || !cc.Auth.HasUserSecret {
		t.Fatalf("after clearing: %+v", cc.Auth)
	}
	for _, p := range []string{"/connectors/old", "/connectors", "/audit", "/"} {
		noSecret(p, b.get(p).body)
	}
	for _, p := range []string{"/api/v1/connectors", "/api/v1/connectors/old", "/api/v1/audit"} {
		noSecret(p, e.api("GET", p, "").body)
	}
	// Delete.
	if r := b.post("/connectors/old", "/connectors/old/delete", nil); r.code != http.StatusSeeOther || r.h.Get("Location") != "/connectors" {
		t.Fatalf("delete: %d", r.code)
	}
	if r := b.get("/connectors/old"); r.code != http.StatusNotFound {
		t.Fatalf("after delete: %d", r.code)
	}
	// One audit entry per change, by root.
	p, _ := e.srv.audit.List(t.Context(), audit.Query{Action: "connector"})
	var actions []string
	for _, en := range p.Entries {
		if en.Admin != "root" || en.Object != "connector old" {
			t.Fatalf("entry %+v", en)
		}
		actions = append(actions, en.Action)
	}
	want := "connector.delete connector.update connector.update connector.update connector.test connector.test connector.create"
	if strings.Join(actions, " ") != want {
		t.Fatalf("audit: %v", actions)
	}
}

func TestConnectorsAPIUpdate(t *testing.T) {
	e, _ := connectorEnv(t)
	if r := e.api("POST", "/api/v1/connectors", `{"name":"m","plugin":"mem","auth":{"admin_user":"admin"},"admin_password":"`+adminSecret+`"}`); r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	r := e.api("PUT", "/api/v1/connectors/m", `{"settings":{"delimiter":"."},"auth":{"admin_user":"admin","admin_method":"master"}}`)
	if r.code != http.StatusOK || !strings.Contains(r.body, `"has_admin_secret":true`) || strings.Contains(r.body, adminSecret) {
		t.Fatalf("update: %d %s", r.code, r.body)
	}
	if r := e.api("PUT", "/api/v1/connectors/nope", `{}`); r.code != http.StatusNotFound {
		t.Fatalf("update unknown: %d", r.code)
	}
	p, _ := e.srv.audit.List(t.Context(), audit.Query{Admin: "api"})
	if len(p.Entries) != 2 || p.Entries[0].Action != "connector.update" {
		t.Fatalf("audit: %+v", p.Entries)
	}
}

// The form's per-connector limit is stored, and a bad one is refused with
// its reason.
func TestConnectorConcurrency(t *testing.T) {
	e := newEnv(t, fakePlugins{"mem": memconnector.New(nil)})
	b := e.admin("ada")
	r := b.post("/connectors/new?plugin=mem", "/connectors", url.Values{"name": {"lim"}, "plugin": {"mem"}, "concurrency": {"3"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	c, err := e.srv.o.Connectors.Get(t.Context(), "lim")
	if err != nil || c.Concurrency != 3 {
		t.Fatalf("stored %+v %v", c, err)
	}
	if r := b.get("/connectors/lim"); !strings.Contains(r.body, `name="concurrency" min="0" max="256" value="3"`) {
		t.Fatalf("the form does not show the limit: %s", r.body)
	}
	r = b.post("/connectors/lim", "/connectors/lim", url.Values{"concurrency": {"-2"}})
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "A whole number from 0") {
		t.Fatalf("bad limit: %d %s", r.code, r.body)
	}
}
