package cyrusconn_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/cyrus/cyrusconn"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/serve"
)

// Describe: the cyrus connector, administrator authzid first, user
// listing and connection tests, and a schema that explains Cyrus's
// separator, namespaces, and who may act for users.
func TestDescribe(t *testing.T) {
	c := cyrusconn.New(nil)
	d, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Validate(d); err != nil {
		t.Fatal(err)
	}
	if err := serve.CheckCapabilities(c, d); err != nil {
		t.Fatal(err)
	}
	if d.ID != "cyrus" || !slices.Equal(d.Capabilities.CredentialModes, []string{connector.ModeAdminAuthzid, connector.ModePassword}) ||
		!d.Capabilities.ListUsers || !d.Capabilities.TestConnection || !d.HasRole(connector.RoleSource) || !d.HasRole(connector.RoleTarget) ||
		!strings.Contains(d.Summary, "Cyrus") {
		t.Fatalf("description %+v", d)
	}
	var schema struct {
		Title, Description string
		Properties         map[string]struct{ Description string }
	}
	if err := json.Unmarshal(d.SettingsSchema, &schema); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s", schema.Title, schema.Description)
	for _, want := range []string{"Cyrus IMAP", "unixhierarchysep: yes", `"/"`, `"."`, "NAMESPACE", "below INBOX", "personal namespace",
		`"Other Users" namespace`, "user/NAME", "user.NAME", "user.john^doe", "admins in imapd.conf", "only in proxyservers", "authzid", "self-service"} {
		if !strings.Contains(schema.Title+" "+schema.Description, want) {
			t.Errorf("schema lacks %q", want)
		}
	}
	for name, want := range map[string]string{"host": "Cyrus", "auth_mechanism": "sasl_mech_list", "master_user_separator": "Not used by Cyrus"} {
		if p := schema.Properties[name]; !strings.Contains(p.Description, want) {
			t.Errorf("%s: %q lacks %q", name, p.Description, want)
		}
	}
	// Master users and PROXYAUTH are not Cyrus's: refused before any login.
	for _, mode := range []string{connector.ModeAdminMaster, connector.ModeAdminProxyAuth} {
		_, err := c.OpenSource(context.Background(), &connector.OpenRequest{Settings: settings(testserver.Cyrus, false), User: "u",
			Credential: connector.Credential{Mode: mode, AuthUser: "a", Secret: "s"}})
		if connector.KindOf(err) != connector.KindInvalid || !strings.Contains(err.Error(), "cyrus connector") {
			t.Errorf("%s: %v", mode, err)
		}
	}
}
