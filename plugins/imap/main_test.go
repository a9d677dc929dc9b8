package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

// logBuffer collects the plugin's log lines as the host relays them.
// The built binary is a plugin: "describe" prints its description, and
// started by the host it copies a message from one Dovecot to the other,
// with a protocol trace in the host's log that never shows the password
// nor, at trace level, message contents.
func TestPluginBinary(t *testing.T) {
	testserver.Ensure(t)
	bin, out := connectortest.BuildPlugin(t, "imap")
	var desc struct {
		ID             string          `json:"id"`
		Roles          []string        `json:"roles"`
		SettingsSchema json.RawMessage `json:"settings_schema"`
	}
	if err := json.Unmarshal(out, &desc); err != nil || desc.ID != "imap" || len(desc.Roles) != 2 || len(desc.SettingsSchema) == 0 {
		t.Fatalf("describe printed %s (%v)", out, err)
	}

	p, logs := connectortest.StartPlugin(t, bin)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := p.Connector()

	user := testserver.User(t, "plugin-binary")
	settings := func(inst testserver.Instance) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"host": inst.Host, "port": inst.TLSPort, "ca_file": testserver.CAFile()})
		return b
	}
	req := func(inst testserver.Instance) *connector.OpenRequest {
		return &connector.OpenRequest{Settings: settings(inst), User: user, Credential: connector.Credential{Mode: "password", Secret: testserver.Password()}}
	}
	msg := []byte("From: a@example.org\r\nSubject: through the plugin\r\nMessage-ID: <plugin@example.org>\r\n\r\nHello.\r\n")

	seed, err := c.OpenTarget(ctx, req(testserver.DovecotSrc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Append(ctx, "INBOX", &connector.AppendMessage{Size: int64(len(msg)), Body: bytes.NewReader(msg), Flags: []string{`\Seen`, "$Label1"}}); err != nil {
		t.Fatal(err)
	}
	seed.Close(ctx)

	src, err := c.OpenSource(ctx, req(testserver.DovecotSrc))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	dst, err := c.OpenTarget(ctx, req(testserver.DovecotDst))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close(ctx)
	var msgs []connector.Message
	if _, err := src.List(ctx, "INBOX", nil, func(page []connector.Message) error { msgs = append(msgs, page...); return nil }); err != nil || len(msgs) != 1 {
		t.Fatalf("List: %d messages, %v", len(msgs), err)
	}
	b, err := src.Fetch(ctx, "INBOX", msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := dst.Append(ctx, "INBOX", &connector.AppendMessage{Size: b.Size(), Body: b, InternalDate: msgs[0].InternalDate, Flags: msgs[0].Flags})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	got, err := dst.(connector.TargetLookup).Lookup(ctx, "INBOX", &connector.LookupQuery{MessageID: msgs[0].MessageID, Fingerprint: msgs[0].Fingerprint, Size: msgs[0].Size})
	if err != nil || len(got) != 1 || got[0] != res.Ref {
		t.Fatalf("Lookup on the target: %q, %v; want [%s]", got, err, res.Ref)
	}

	time.Sleep(100 * time.Millisecond) // let the last log lines through
	log := logs.String()
	for _, want := range []string{"AUTHENTICATE PLAIN " + connector.Redacted, "UID FETCH", "APPEND INBOX"} {
		if !strings.Contains(log, want) {
			t.Errorf("plugin log lacks %q", want)
		}
	}
	if strings.Contains(log, testserver.Password()) {
		t.Fatalf("plugin log shows the password:\n%s", log)
	}
	// Message contents are for connector.LevelTraceData only.
	if strings.Contains(log, "through the plugin") {
		t.Fatalf("plugin log at trace level shows message contents:\n%s", log)
	}
}
