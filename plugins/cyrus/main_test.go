package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

// The built binary is tern-connector-cyrus: "describe" prints its
// description; started by the host, it runs a connection test, lists the
// users and copies a mailbox from Cyrus (separator ".") to Dovecot inside
// the plugin (CopyTo between two of its sessions), all over the plugin
// protocol, tracing without secrets.
func TestPluginBinary(t *testing.T) {
	testserver.Ensure(t)
	bin, out := connectortest.BuildPlugin(t, "cyrus")
	var desc struct {
		ID           string `json:"id"`
		Capabilities struct {
			ListUsers       bool
			TestConnection  bool
			CredentialModes []string
		} `json:"capabilities"`
	}
	if err := json.Unmarshal(out, &desc); err != nil || desc.ID != "cyrus" || !desc.Capabilities.TestConnection || !desc.Capabilities.ListUsers ||
		!slices.Equal(desc.Capabilities.CredentialModes, []string{"admin_authzid", "password"}) {
		t.Fatalf("describe printed %s (%v)", out, err)
	}
	t.Logf("describe: %s", out)

	p, logs := connectortest.StartPlugin(t, bin)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := p.Connector()

	inst, dst := testserver.CyrusDot, testserver.DovecotDst
	user := testserver.User(t, "cyrus-bin")
	testserver.AddCyrusUser(t, inst, user, "own-secret")
	kept, _ := testserver.CyrusAccepts(corpus.Hard())
	var small corpus.Mailbox
	for _, f := range kept {
		f.Messages = slices.DeleteFunc(slices.Clone(f.Messages), func(m corpus.Message) bool { return m.Size > 1<<20 })
		small = append(small, f)
	}
	testserver.SeedMailbox(t, inst, user, small)
	settings, _ := json.Marshal(map[string]any{"host": inst.Host, "port": inst.Port, "tls": "starttls", "ca_file": testserver.CAFile()})
	admin := connector.AdminCredential{AuthUser: testserver.CyrusAdmin, Secret: testserver.CyrusAdminPassword}

	rep, err := c.(connector.ConnectionTester).TestConnection(ctx, &connector.TestRequest{Settings: settings, SampleUser: user, Admin: &admin})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Recommended != connector.ModeAdminAuthzid || !strings.HasPrefix(rep.Server.Product, "Cyrus IMAP") || len(rep.Attempts) != 2 {
		t.Fatalf("report over the wire: %+v", rep)
	}

	var logins []string
	err = c.(connector.UserLister).ListUsers(ctx, &connector.ListUsersRequest{Settings: settings, Admin: admin, Mode: rep.Recommended},
		func(page []connector.User) error {
			for _, u := range page {
				logins = append(logins, u.Login)
			}
			return nil
		})
	if err != nil || !slices.Contains(logins, user) {
		t.Fatalf("ListUsers: %v; %d users, %q among them: %v", err, len(logins), user, slices.Contains(logins, user))
	}

	src, err := c.OpenSource(ctx, &connector.OpenRequest{Settings: settings, User: user,
		Credential: connector.Credential{Mode: connector.ModeAdminAuthzid, AuthUser: admin.AuthUser, Secret: admin.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	dstSettings, _ := json.Marshal(map[string]any{"host": dst.Host, "port": dst.TLSPort, "ca_file": testserver.CAFile()})
	dstUser := testserver.User(t, "cyrus-bin-dst")
	tgt, err := c.OpenTarget(ctx, &connector.OpenRequest{Settings: dstSettings, User: dstUser,
		Credential: connector.Credential{Mode: connector.ModePassword, Secret: testserver.Password()}})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(ctx)
	h, err := src.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range h.Folders {
		if f.NoSelect {
			continue
		}
		name, err := dst.ServerName(inst.LogicalName(f.Name, '.'))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tgt.EnsureFolder(ctx, name, f.SpecialUse); err != nil {
			t.Fatal(err)
		}
		var items []connector.CopyItem
		if _, err := src.List(ctx, f.Name, nil, func(page []connector.Message) error {
			for _, m := range page {
				items = append(items, connector.CopyItem{ID: m.ID, InternalDate: m.InternalDate, Flags: m.Flags, MessageID: m.MessageID, Fingerprint: m.Fingerprint})
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			continue
		}
		outs, err := src.(connector.SourceCopier).CopyTo(ctx, f.Name, items, tgt, name)
		if err != nil {
			t.Fatalf("CopyTo %q: %v", f.Name, err)
		}
		for i, o := range outs {
			if o.Err != nil {
				t.Fatalf("CopyTo %q item %d: %v", f.Name, i, o.Err)
			}
		}
	}
	if d := testserver.Compare(testserver.Snapshot(t, inst, user), testserver.Snapshot(t, dst, dstUser), nil); len(d) > 0 {
		t.Fatalf("target differs from source:\n%s", strings.Join(d, "\n"))
	}

	// An administrator that may not act for users: the open fails with
	// the advice, across the wire.
	_, err = c.OpenSource(ctx, &connector.OpenRequest{Settings: settings, User: user,
		Credential: connector.Credential{Mode: connector.ModeAdminAuthzid, AuthUser: testserver.CyrusNoProxyAdmin, Secret: testserver.CyrusNoProxyAdminPassword}})
	if !errors.Is(err, connector.ErrAuth) || !strings.Contains(err.Error(), "self-service") {
		t.Errorf("noproxyadmin: %v", err)
	}

	time.Sleep(100 * time.Millisecond) // let the last log lines through
	log := logs.String()
	if !strings.Contains(log, "AUTHENTICATE PLAIN "+connector.Redacted) {
		t.Errorf("plugin log lacks the redacted login")
	}
	for _, secret := range []string{testserver.CyrusAdminPassword, testserver.CyrusNoProxyAdminPassword, testserver.Password()} {
		if strings.Contains(log, secret) {
			t.Fatalf("plugin log shows a password:\n%s", log)
		}
	}
}
