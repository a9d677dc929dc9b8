package imapconn

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

// parseSettings parses with the generic profile.
func parseSettings(raw json.RawMessage) (*config, error) {
	Generic.prepare()
	return Generic.parseSettings(raw)
}

// login builds a generic login with mechanism mech.
func login(req *connector.OpenRequest, mech imapkit.Mechanism) (imapkit.Login, error) {
	return Generic.login(req, &config{mechanism: mech, masterSep: DefaultMasterUserSeparator})
}

func TestParseSettings(t *testing.T) {
	good := []struct {
		in   string
		addr string
		tls  imapkit.TLSMode
	}{
		{`{"host":"imap.example.org"}`, "imap.example.org:993", imapkit.TLSImplicit},
		{`{"host":"imap.example.org","tls":"starttls"}`, "imap.example.org:143", imapkit.TLSStartTLS},
		{`{"host":"10.0.0.1","tls":"none","allow_plaintext":true,"port":1143}`, "10.0.0.1:1143", imapkit.TLSNone},
		{`{"host":"::1"}`, "[::1]:993", imapkit.TLSImplicit},
		{`{"host":"[2001:db8::1]","port":10993}`, "[2001:db8::1]:10993", imapkit.TLSImplicit},
	}
	for _, g := range good {
		c, err := parseSettings(json.RawMessage(g.in))
		if err != nil {
			t.Errorf("parseSettings(%s): %v", g.in, err)
			continue
		}
		if c.addr != g.addr || c.tls != g.tls || c.maxConns != DefaultMaxConnections || c.pageSize != DefaultPageSize ||
			c.connectTimeout != 30*time.Second || c.ioTimeout != 2*time.Minute || c.mechanism != imapkit.MechAuto {
			t.Errorf("parseSettings(%s) = %+v", g.in, c)
		}
	}
	c, err := parseSettings(json.RawMessage(`{"host":"h","auth_mechanism":"login","max_connections":8,"page_size":250,"timeouts":{"connect":5,"io":600},"ca_file":"/etc/ca.pem"}`))
	if err != nil || c.mechanism != imapkit.MechLogin || c.maxConns != 8 || c.pageSize != 250 ||
		c.connectTimeout != 5*time.Second || c.ioTimeout != 10*time.Minute || c.caFile != "/etc/ca.pem" {
		t.Errorf("full settings: %+v, %v", c, err)
	}
	if c.masterSep != "*" {
		t.Errorf("master_user_separator defaults to %q", c.masterSep)
	}
	if c, err := parseSettings(json.RawMessage(`{"host":"h","master_user_separator":"%%"}`)); err != nil || c.masterSep != "%%" {
		t.Errorf("master_user_separator: %+v, %v", c, err)
	}

	bad := map[string]string{
		``:                          "host is required",
		`{}`:                        "host is required",
		`{"host":""}`:               "host is required",
		`[]`:                        "cannot unmarshal",
		`{"host":"h","hots":1}`:     `unknown field "hots"`,
		`{"host":"imaps://h"}`:      "without a scheme",
		`{"host":"h:993"}`:          `set host "h" and port 993`,
		`{"host":"a b"}`:            "not a host name",
		`{"host":"h","port":70000}`: "port 70000 is out of range",
		`{"host":"h","port":"993"}`: "port must be of type integer",
		`{"host":"h","tls":"ssl"}`:  `tls must be "implicit", "starttls" or "none", not "ssl"`,
		`{"host":"h","tls":"none"}`: "allow_plaintext",
		`{"host":"h","tls":"none","allow_plaintext":true,"ca_file":"x"}`: `tls is "none"`,
		`{"host":"h","ca_file":"x","insecure_skip_verify":true}`:         "exclude each other",
		`{"host":"h","auth_mechanism":"cram-md5"}`:                       `auth_mechanism must be "auto", "plain" or "login"`,
		`{"host":"h","master_user_separator":"a b"}`:                     "master_user_separator",
		`{"host":"h","master_user_separator":"123456789"}`:               "1 to 8 characters",
		`{"host":"h","max_connections":100}`:                             "max_connections must be between 1 and 32",
		`{"host":"h","page_size":-1}`:                                    "page_size must be between 1 and 10000",
		`{"host":"h","timeouts":{"io":1}}`:                               "timeouts.io must be between 5 and 3600",
		`{"host":"h","timeouts":{"connect":0.5}}`:                        "timeouts.connect must be of type integer",
		`{"host":"h"} {"host":"i"}`:                                      "trailing data",
	}
	for in, want := range bad {
		_, err := parseSettings(json.RawMessage(in))
		if !errors.Is(err, connector.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("parseSettings(%s) = %v, want ErrInvalid saying %q", in, err, want)
		}
	}
}

// The schema describes every setting, with a title and a description for
// the console, and nothing else.
func TestSettingsSchema(t *testing.T) {
	c := New(nil, nil)
	checkSchema(t, c.p.schema)
	var schema struct {
		Title      string
		Properties map[string]struct{ Default any }
	}
	if err := json.Unmarshal(c.p.schema, &schema); err != nil || schema.Title != "IMAP server" || schema.Properties["master_user_separator"].Default != "*" {
		t.Errorf("schema %s (%v)", c.p.schema, err)
	}
}

func checkSchema(t *testing.T, settingsSchema []byte) {
	t.Helper()
	var schema struct {
		Schema     string `json:"$schema"`
		Type       string
		Required   []string
		Properties map[string]struct {
			Type        string
			Title       string
			Description string
			Enum        []string
			Default     any
			Properties  map[string]struct {
				Type, Title, Description string
			}
		}
		AdditionalProperties bool `json:"additionalProperties"`
	}
	if err := json.Unmarshal([]byte(settingsSchema), &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Schema != "https://json-schema.org/draft/2020-12/schema" || schema.Type != "object" || schema.AdditionalProperties || !slices.Equal(schema.Required, []string{"host"}) {
		t.Errorf("schema header: %+v", schema)
	}
	check := func(typ reflect.Type, props map[string]string, path string) {
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if _, ok := props[name]; !ok {
				t.Errorf("setting %s%s is not in the schema", path, name)
			}
			delete(props, name)
		}
		for name := range props {
			t.Errorf("schema property %s%s is not a setting", path, name)
		}
	}
	top := map[string]string{}
	for name, p := range schema.Properties {
		top[name] = p.Type
		if p.Title == "" || (p.Description == "" && p.Properties == nil) {
			t.Errorf("property %s lacks a title or description", name)
		}
		for sub, sp := range p.Properties {
			if sp.Title == "" || sp.Description == "" || sp.Type == "" {
				t.Errorf("property %s.%s lacks a type, title or description", name, sub)
			}
		}
	}
	check(reflect.TypeFor[Settings](), top, "")
	sub := map[string]string{}
	for name := range schema.Properties["timeouts"].Properties {
		sub[name] = ""
	}
	check(reflect.TypeFor[Timeouts](), sub, "timeouts.")
	if e := schema.Properties["tls"].Enum; !slices.Equal(e, []string{"implicit", "starttls", "none"}) {
		t.Errorf("tls enum %q", e)
	}
	if e := schema.Properties["auth_mechanism"].Enum; !slices.Equal(e, []string{"auto", "plain", "login"}) {
		t.Errorf("auth_mechanism enum %q", e)
	}
}

// A profile retitles the schema, describes settings its own way and
// changes defaults, which then apply to settings that leave them out.
func TestProfileSchemaAndDefaults(t *testing.T) {
	p := &Profile{
		ID: "test", Version: "0.1.0", Summary: "s", Title: "Test server", Description: "A test.",
		SettingDescriptions: map[string]string{"host": "The test host.", "timeouts.io": "Patience."},
		Defaults:            map[string]any{"tls": "starttls", "master_user_separator": "#", "max_connections": 2},
		CredentialModes:     []string{connector.ModePassword, connector.ModeAdminMaster},
	}
	c := New(p, nil)
	checkSchema(t, p.schema)
	var schema struct {
		Title, Description string
		Properties         map[string]struct {
			Description string
			Default     any
			Properties  map[string]struct{ Description string }
		}
	}
	if err := json.Unmarshal(p.schema, &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Title != "Test server" || schema.Description != "A test." || schema.Properties["host"].Description != "The test host." ||
		schema.Properties["timeouts"].Properties["io"].Description != "Patience." || schema.Properties["tls"].Default != "starttls" ||
		schema.Properties["max_connections"].Default != 2.0 {
		t.Errorf("schema %s", p.schema)
	}
	cfg, err := p.parseSettings(json.RawMessage(`{"host":"h"}`))
	if err != nil || cfg.tls != imapkit.TLSStartTLS || cfg.addr != "h:143" || cfg.masterSep != "#" || cfg.maxConns != 2 {
		t.Errorf("defaults not applied: %+v, %v", cfg, err)
	}
	cfg, err = p.parseSettings(json.RawMessage(`{"host":"h","tls":"implicit","max_connections":5}`))
	if err != nil || cfg.tls != imapkit.TLSImplicit || cfg.maxConns != 5 {
		t.Errorf("explicit settings lost to defaults: %+v, %v", cfg, err)
	}
	d, _ := c.Describe(t.Context())
	if d.ID != "test" || !slices.Equal(d.Capabilities.CredentialModes, p.CredentialModes) || !d.Capabilities.TestConnection || d.Capabilities.ListUsers {
		t.Errorf("description %+v", d)
	}
	// A mode the profile does not offer is refused.
	_, err = p.login(&connector.OpenRequest{User: "u", Credential: connector.Credential{Mode: connector.ModeAdminAuthzid, AuthUser: "a", Secret: "s"}}, cfg)
	if !errors.Is(err, connector.ErrInvalid) || !strings.Contains(err.Error(), `not supported by the test connector (supported: "password", "admin_master")`) {
		t.Errorf("unoffered mode: %v", err)
	}
	for _, bad := range []*Profile{
		{ID: "x", Version: "1", Summary: "s", Title: "t"},
		{ID: "x", Version: "1", Summary: "s", Title: "t", CredentialModes: []string{"oauth"}},
		{ID: "x", Version: "1", Summary: "s", Title: "t", CredentialModes: []string{"password"}, Defaults: map[string]any{"hots": 1}},
		{ID: "x", Version: "1", Summary: "s", Title: "t", CredentialModes: []string{"password"}, Defaults: map[string]any{"allow_plaintext": true}},
		{ID: "x", Version: "1", Summary: "s", Title: "t", CredentialModes: []string{"password"}, Defaults: map[string]any{"tls": "ssl"}},
		{ID: "x", Version: "1", Summary: "s", Title: "t", CredentialModes: []string{"password"}, SettingDescriptions: map[string]string{"timeouts.x": ""}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("profile %+v accepted", bad)
				}
			}()
			New(bad, nil)
		}()
	}
}

func TestLoginModes(t *testing.T) {
	cfg := &config{mechanism: imapkit.MechLogin, masterSep: "%"}
	req := func(mode, username string) *connector.OpenRequest {
		return &connector.OpenRequest{User: "alice@example.org", Credential: connector.Credential{Mode: mode, Username: username, AuthUser: "admin", Secret: "pw"}}
	}
	l, err := Generic.login(req(connector.ModeAdminAuthzid, ""), cfg)
	if a, ok := l.(*imapkit.AuthzidLogin); err != nil || !ok || a.User != "alice@example.org" || a.AuthUser != "admin" || a.Password != "pw" {
		t.Errorf("authzid: %+v, %v", l, err)
	}
	l, err = Generic.login(req(connector.ModeAdminMaster, "alice"), cfg)
	if m, ok := l.(*imapkit.MasterLogin); err != nil || !ok || m.LoginString() != "alice%admin" || m.Mechanism != imapkit.MechLogin {
		t.Errorf("master: %+v, %v", l, err)
	}
	l, err = Generic.login(req(connector.ModeAdminProxyAuth, ""), cfg)
	if p, ok := l.(*imapkit.ProxyAuthLogin); err != nil || !ok || p.User != "alice@example.org" || p.AuthUser != "admin" {
		t.Errorf("proxyauth: %+v, %v", l, err)
	}
	noAdmin := req(connector.ModeAdminMaster, "")
	noAdmin.Credential.AuthUser = ""
	if _, err := Generic.login(noAdmin, cfg); !errors.Is(err, connector.ErrInvalid) || !strings.Contains(err.Error(), "AuthUser") {
		t.Errorf("administrator mode without AuthUser: %v", err)
	}
	noSecret := req(connector.ModeAdminAuthzid, "")
	noSecret.Credential.Secret = ""
	if _, err := Generic.login(noSecret, cfg); !errors.Is(err, connector.ErrInvalid) || !strings.Contains(err.Error(), `the administrator "admin"`) {
		t.Errorf("administrator mode without a password: %v", err)
	}
}

func TestLogin(t *testing.T) {
	l, err := login(&connector.OpenRequest{User: "bob@example.org", Credential: connector.Credential{Secret: "pw"}}, imapkit.MechAuto)
	if err != nil || l.(*imapkit.PasswordLogin).Username != "bob@example.org" {
		t.Errorf("login with OpenRequest.User: %+v, %v", l, err)
	}
	l, err = login(&connector.OpenRequest{User: "bob@example.org", Credential: connector.Credential{Mode: "password", Username: "bob", Secret: "pw"}}, imapkit.MechAuto)
	if err != nil || l.(*imapkit.PasswordLogin).Username != "bob" {
		t.Errorf("login with Credential.Username: %+v, %v", l, err)
	}
	for _, req := range []*connector.OpenRequest{
		{User: "bob"},
		{Credential: connector.Credential{Secret: "pw"}},
		{User: "bob", Credential: connector.Credential{Mode: "oauth2", Secret: "tok"}},
	} {
		if _, err := login(req, imapkit.MechAuto); !errors.Is(err, connector.ErrInvalid) || strings.Contains(err.Error(), "tok") {
			t.Errorf("login(%v) = %v, want ErrInvalid without the secret", req.Credential, err)
		}
	}
}

func TestFlagFilter(t *testing.T) {
	sys := []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}
	in := []string{`\seen`, `\Flagged`, "$Label1", "custom", `\Recent`, `\Important`, "bad kw", "", `\SEEN`, "(x"}
	cases := []struct {
		name    string
		sd      *imap.SelectData
		kept    []imap.Flag
		dropped []string
	}{
		{"wildcard", &imap.SelectData{PermanentFlags: append(slices.Clone(sys), imap.FlagWildcard)},
			[]imap.Flag{imap.FlagSeen, imap.FlagFlagged, "$Label1", "custom"}, []string{`\Recent`, `\Important`, "bad kw", "(x"}},
		{"system only", &imap.SelectData{PermanentFlags: sys},
			[]imap.Flag{imap.FlagSeen, imap.FlagFlagged}, []string{"$Label1", "custom", `\Recent`, `\Important`, "bad kw", "(x"}},
		{"listed keyword", &imap.SelectData{PermanentFlags: []imap.Flag{imap.FlagSeen, "$label1"}},
			[]imap.Flag{imap.FlagSeen, "$Label1"}, []string{`\Flagged`, "custom", `\Recent`, `\Important`, "bad kw", "(x"}},
		{"read-only", &imap.SelectData{PermanentFlags: []imap.Flag{}},
			nil, []string{`\seen`, `\Flagged`, "$Label1", "custom", `\Recent`, `\Important`, "bad kw", "(x"}},
		{"not reported", &imap.SelectData{},
			[]imap.Flag{imap.FlagSeen, imap.FlagFlagged, "$Label1", "custom"}, []string{`\Recent`, `\Important`, "bad kw", "(x"}},
	}
	for _, c := range cases {
		kept, dropped := newFlagFilter(c.sd).filter(in)
		if !slices.Equal(kept, c.kept) || !slices.Equal(dropped, c.dropped) {
			t.Errorf("%s: kept %q dropped %q; want %q and %q", c.name, kept, dropped, c.kept, c.dropped)
		}
	}
}

func TestCheckpoint(t *testing.T) {
	cp := checkpoint{validity: 1795691161, uidNext: 42, modSeq: 1 << 40}
	got, ok := parseCheckpoint([]byte(cp.String()))
	if !ok || got != cp {
		t.Errorf("round trip of %v: %v, %v", cp, got, ok)
	}
	for _, bad := range []string{"", "imap1:", "imap1:1:2", "imap1:0:1:1", "imap1:1:0:1", "imap1:x:1:1", "imap2:1:1:1", `{"v":1}`, "imap1:1:1:1:1", "imap1:4294967296:1:1"} {
		if _, ok := parseCheckpoint([]byte(bad)); ok {
			t.Errorf("parseCheckpoint(%q) accepted", bad)
		}
	}
	w := watermark{validity: 7, uidNext: 9}
	if got, ok := parseWatermark(w.String()); !ok || got != w {
		t.Errorf("watermark round trip: %v, %v", got, ok)
	}
	for _, id := range []string{"0", "-1", "01", "+1", "4294967296", "1.0", ""} {
		if _, ok := parseUID(id); ok {
			t.Errorf("parseUID(%q) accepted", id)
		}
	}
}

// Checkpoints and watermarks come back from core's store: whatever they
// hold, parsing must not panic, and what parses must round-trip.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add("imap1:1795691161:42:7")
	f.Add("imap1:1:1:0")
	f.Add("1795691161:42")
	f.Add("imap1:99999999999:1:1")
	f.Fuzz(func(t *testing.T, s string) {
		if cp, ok := parseCheckpoint([]byte(s)); ok {
			if again, ok := parseCheckpoint([]byte(cp.String())); !ok || again != cp {
				t.Fatalf("%q parses to %v, which does not round-trip", s, cp)
			}
		}
		if w, ok := parseWatermark(s); ok {
			if again, ok := parseWatermark(w.String()); !ok || again != w {
				t.Fatalf("%q parses to %v, which does not round-trip", s, w)
			}
		}
		if uid, ok := parseUID(s); ok && uid == 0 {
			t.Fatalf("parseUID(%q) = 0", s)
		}
	})
}

// Flags come from another system's listing: whatever they are, only valid
// atoms go on the wire, and every flag is either kept or reported.
func FuzzFlagFilter(f *testing.F) {
	f.Add(`\Seen`, "$Label1", "bad kw")
	f.Add(`\Recent`, `\*`, "ü")
	f.Add("", "(", `\\x`)
	f.Fuzz(func(t *testing.T, a, b, c string) {
		in := []string{a, b, c}
		for _, sd := range []*imap.SelectData{{}, {PermanentFlags: []imap.Flag{imap.FlagSeen, imap.FlagWildcard}}, {PermanentFlags: []imap.Flag{}}} {
			kept, dropped := newFlagFilter(sd).filter(in)
			for _, k := range kept {
				if !validFlag(string(k)) || strings.EqualFold(string(k), `\Recent`) {
					t.Fatalf("kept %q", k)
				}
			}
			if len(kept)+len(dropped) > len(in) {
				t.Fatalf("%q: kept %q dropped %q", in, kept, dropped)
			}
		}
	})
}
