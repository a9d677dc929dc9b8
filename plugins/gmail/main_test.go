package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/plugins/gmail/gmailtest"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

// The built binary is a plugin: "describe" prints its description, and
// started by the host it imports a message into the emulator byte for
// byte, finds it again by Message-ID, and never logs the key.
func TestPluginBinary(t *testing.T) {
	bin, out := connectortest.BuildPlugin(t, "gmail")
	var desc struct {
		ID             string          `json:"id"`
		Roles          []string        `json:"roles"`
		SettingsSchema json.RawMessage `json:"settings_schema"`
	}
	if err := json.Unmarshal(out, &desc); err != nil || desc.ID != "gmail" || len(desc.Roles) != 2 || !bytes.Contains(desc.SettingsSchema, []byte("endpoint")) {
		t.Fatalf("describe printed %s (%v)", out, err)
	}

	srv := gmailtest.New(t)
	sa := srv.AddServiceAccount(gmailtest.ServiceAccountConfig{})
	user := "plugin@example.com"
	srv.AddUser(user)

	p, logs := connectortest.StartPlugin(t, bin)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	settings, _ := json.Marshal(map[string]any{"endpoint": srv.Endpoint()})
	key := string(sa.KeyJSON())
	req := &connector.OpenRequest{Settings: settings, User: user, Credential: connector.Credential{Mode: connector.ModePassword, Username: user, Secret: key}}
	tg, err := p.Connector().OpenTarget(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close(ctx)
	f, err := tg.EnsureFolder(ctx, "Projects/2019", "")
	if err != nil || f.Name != "Projects/2019" || !f.Created {
		t.Fatalf("EnsureFolder: %+v, %v", f, err)
	}
	msg := []byte("From: a@example.org\r\nSubject: through the plugin\r\nMessage-ID: <plugin@example.org>\r\nDate: Tue, 1 Mar 2016 10:30:00 +0000\r\n\r\nHello.\r\n")
	res, err := tg.Append(ctx, f.Name, &connector.AppendMessage{Size: int64(len(msg)), Body: bytes.NewReader(msg), Flags: []string{`\Seen`, `\Answered`}})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.RawMessage(user, res.Ref); !bytes.Equal(got, msg) {
		t.Fatalf("stored %q", got)
	}
	if len(res.DroppedFlags) != 1 || res.DroppedFlags[0] != `\Answered` {
		t.Errorf("dropped flags %q, want \\Answered", res.DroppedFlags)
	}
	h := connector.HeaderSection(msg)
	refs, err := tg.(connector.TargetLookup).Lookup(ctx, f.Name, &connector.LookupQuery{
		MessageID: connector.MessageIDOf(h), Fingerprint: connector.Fingerprint(int64(len(msg)), h), Size: int64(len(msg)), Since: f.Watermark})
	if err != nil || len(refs) != 1 || refs[0] != res.Ref {
		t.Fatalf("Lookup: %q, %v; want [%s]", refs, err, res.Ref)
	}

	time.Sleep(100 * time.Millisecond) // let the last log lines through
	log := logs.String()
	if !strings.Contains(log, "/upload/gmail/v1/users/me/messages/import") {
		t.Errorf("plugin log lacks the import request:\n%s", log)
	}
	for _, secret := range []string{"PRIVATE KEY", key[len(key)/2 : len(key)/2+40]} {
		if strings.Contains(log, secret) {
			t.Fatalf("plugin log shows the key:\n%s", log)
		}
	}
	if strings.Contains(log, "through the plugin") {
		t.Fatalf("plugin log at trace level shows message contents:\n%s", log)
	}
}
