package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

// The built binary is tern-connector-postfix: "describe" prints its
// description, and started by the host it runs a connection test against
// the master instance over the plugin protocol, tracing without secrets.
func TestPluginBinary(t *testing.T) {
	testserver.Ensure(t)
	bin, out := connectortest.BuildPlugin(t, "postfix")
	var desc struct {
		ID           string `json:"id"`
		Capabilities struct {
			TestConnection  bool
			CredentialModes []string
		} `json:"capabilities"`
	}
	if err := json.Unmarshal(out, &desc); err != nil || desc.ID != "postfix" || !desc.Capabilities.TestConnection ||
		!slices.Equal(desc.Capabilities.CredentialModes, []string{"password", "admin_master", "admin_authzid"}) {
		t.Fatalf("describe printed %s (%v)", out, err)
	}

	p, logs := connectortest.StartPlugin(t, bin)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tester, ok := p.Connector().(connector.ConnectionTester)
	if !ok {
		t.Fatal("the plugin's connector is no ConnectionTester")
	}
	master := testserver.DovecotMaster
	user := testserver.User(t, "postfix-binary")
	testserver.AddUser(t, master, user, "own-secret")
	settings, _ := json.Marshal(map[string]any{"host": master.Host, "port": master.Port, "tls": "starttls", "ca_file": testserver.CAFile()})
	rep, err := tester.TestConnection(ctx, &connector.TestRequest{Settings: settings, SampleUser: user,
		Admin: &connector.AdminCredential{AuthUser: master.MasterUser, Secret: testserver.MasterPassword()}, UserSecret: "own-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Recommended != connector.ModeAdminMaster || rep.Server.Product != "Dovecot" || len(rep.Attempts) != 4 || !strings.Contains(rep.Server.TLS, "STARTTLS") {
		t.Fatalf("report over the wire: %+v", rep)
	}
	time.Sleep(100 * time.Millisecond) // let the last log lines through
	log := logs.String()
	if !strings.Contains(log, "AUTHENTICATE PLAIN "+connector.Redacted) {
		t.Errorf("plugin log lacks the redacted login")
	}
	for _, secret := range []string{testserver.MasterPassword(), "own-secret"} {
		if strings.Contains(log, secret) {
			t.Fatalf("plugin log shows a password:\n%s", log)
		}
	}
}
