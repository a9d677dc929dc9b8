package imapconn_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

// Every credential mode opens a mailbox on the server that has it: the
// master-user string and SASL PLAIN authzid on the master instance, a
// user's own password there too, the magic password on src and dst. Each
// session reads (the hierarchy, with the master instance's "INBOX."
// prefix) and writes (one message, through go-imap's APPEND and through
// the MULTIAPPEND client of a copy), and the trace never shows a secret.
func TestCredentialModes(t *testing.T) {
	master := testserver.DovecotMaster
	user := testserver.User(t, "modes")
	testserver.AddUser(t, master, user, "own-secret")
	adminPW := testserver.MasterPassword()
	admin := func(mode string) connector.Credential {
		return connector.Credential{Mode: mode, AuthUser: master.MasterUser, Secret: adminPW}
	}
	msg := []byte("From: a@example.org\r\nSubject: modes\r\nMessage-ID: <modes@example.org>\r\n\r\nHello.\r\n")
	for _, tc := range []struct {
		name     string
		inst     testserver.Instance
		user     string
		cred     connector.Credential
		extra    map[string]any
		prefix   string
		wantCmds []string
	}{
		{"master string, LOGIN", master, user, admin(connector.ModeAdminMaster), map[string]any{"auth_mechanism": "login"}, "INBOX.", []string{"LOGIN " + connector.Redacted}},
		{"master string, PLAIN", master, user, admin(connector.ModeAdminMaster), nil, "INBOX.", []string{"AUTHENTICATE PLAIN " + connector.Redacted}},
		{"authzid", master, user, admin(connector.ModeAdminAuthzid), map[string]any{"auth_mechanism": "login"}, "INBOX.", []string{"AUTHENTICATE PLAIN " + connector.Redacted}},
		{"own password", master, user, connector.Credential{Mode: connector.ModePassword, Secret: "own-secret"}, nil, "INBOX.", []string{"AUTHENTICATE PLAIN " + connector.Redacted}},
		{"magic password on src", testserver.DovecotSrc, testserver.User(t, "modes-magic"), connector.Credential{Mode: connector.ModePassword, Secret: testserver.Password()}, nil, "", nil},
		{"magic password on dst", testserver.DovecotDst, testserver.User(t, "modes-magic"), connector.Credential{Mode: connector.ModePassword, Secret: testserver.Password()}, map[string]any{"auth_mechanism": "login"}, "", []string{"LOGIN " + connector.Redacted}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec, log := newWireRecorder(connector.LevelTraceData)
			c := imapconn.New(nil, log)
			req := &connector.OpenRequest{Settings: settingsFor(tc.inst, "implicit", tc.extra), User: tc.user, Credential: tc.cred}
			tgt, err := c.OpenTarget(ctxFor(t), req)
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close(ctxFor(t))
			if _, err := tgt.Append(ctxFor(t), "INBOX", &connector.AppendMessage{Size: int64(len(msg)), Body: bytes.NewReader(msg)}); err != nil {
				t.Fatal(err)
			}
			src, err := c.OpenSource(ctxFor(t), req)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close(ctxFor(t))
			h, err := src.Folders(ctxFor(t))
			if err != nil || h.Prefix != tc.prefix || h.Delimiter != tc.inst.Separator {
				t.Fatalf("hierarchy %+v, %v", h, err)
			}
			msgs := list(t, src, "INBOX", nil).msgs
			if len(msgs) == 0 {
				t.Fatal("INBOX is empty")
			}
			// MULTIAPPEND connections log in the same way.
			sent := tc.inst.Prefix + "Sent"
			if _, err := tgt.EnsureFolder(ctxFor(t), sent, connector.SpecialSent); err != nil {
				t.Fatal(err)
			}
			outs, err := src.(connector.SourceCopier).CopyTo(ctxFor(t), "INBOX", itemsOf(msgs[:1]), tgt, sent)
			if err != nil || outs[0].Err != nil {
				t.Fatalf("CopyTo: %v %+v", err, outs)
			}
			for _, want := range tc.wantCmds {
				if n := strings.Count(strings.Join(rec.commands("", 0), "\n"), want); n < 2 {
					t.Errorf("%q sent %d times, want one per connection kind", want, n)
				}
			}
			assertNoSecret(t, rec.String(), tc.user, tc.cred.Secret)
			assertNoSecret(t, rec.String(), master.MasterUser, tc.cred.Secret)
		})
	}
}

// A refused login is a KindAuth error that says which mode, which login
// string and what the server said, and reads it: a wrong administrator
// password, a wrong (magic) password and a user that does not exist each
// come out in their own words. The login happens once; no secret shows in
// the error (also across the plugin protocol) or the trace.
func TestRefusedLogins(t *testing.T) {
	master := testserver.DovecotMaster
	user := testserver.User(t, "refused")
	testserver.AddUser(t, master, user, "own-secret")
	ghost := testserver.User(t, "refused-ghost")
	adminPW := testserver.MasterPassword()
	for _, tc := range []struct {
		name string
		inst testserver.Instance
		user string
		cred connector.Credential
		want []string
	}{
		{"wrong administrator password", master, user,
			connector.Credential{Mode: connector.ModeAdminMaster, AuthUser: "admin", Secret: "wrong-" + adminPW},
			[]string{`login as "` + user + `*admin"`, `mode "admin_master"`, "NO [AUTHENTICATIONFAILED]", `wrong administrator password, or "admin" is not a master user`}},
		{"wrong magic password", testserver.DovecotSrc, testserver.User(t, "refused-magic"),
			connector.Credential{Mode: connector.ModePassword, Secret: "wrong-magic"},
			[]string{`login as "refused-magic-`, `mode "password"`, "NO [AUTHENTICATIONFAILED]", "wrong password, or no user"}},
		{"user that does not exist", master, ghost,
			connector.Credential{Mode: connector.ModeAdminMaster, AuthUser: "admin", Secret: adminPW},
			[]string{`login as "` + ghost + `*admin"`, "NO [AUTHORIZATIONFAILED]", `the administrator's password was accepted, but it may not open "` + ghost + `": there is no such user`}},
		{"user that does not exist, authzid", master, ghost,
			connector.Credential{Mode: connector.ModeAdminAuthzid, AuthUser: "admin", Secret: adminPW},
			[]string{`AUTHENTICATE PLAIN authzid="` + ghost + `" authcid="admin"`, `mode "admin_authzid"`, "there is no such user"}},
		{"wrong own password", master, user,
			connector.Credential{Mode: connector.ModePassword, Secret: "wrong-own"},
			[]string{`login as "` + user + `"`, "wrong password, or no user"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, via := range []string{"direct", "wire"} {
				rec, log := newWireRecorder(connector.LevelTraceData)
				var c connector.Connector = imapconn.New(nil, log)
				if via == "wire" {
					c = connectortest.Pipe(t, c)
				}
				req := &connector.OpenRequest{Settings: settingsFor(tc.inst, "implicit", nil), User: tc.user, Credential: tc.cred}
				_, err := c.OpenSource(ctxFor(t), req)
				if !errors.Is(err, connector.ErrAuth) {
					t.Fatalf("%s: %v, want ErrAuth", via, err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q lacks %q", via, err, w)
					}
				}
				for _, secret := range []string{tc.cred.Secret, adminPW, "own-secret"} {
					assertNoSecret(t, err.Error(), tc.user, secret)
					assertNoSecret(t, rec.String(), tc.user, secret)
				}
				if via == "direct" {
					logins := 0
					for _, cmd := range rec.commands("", 0) {
						if strings.HasPrefix(cmd, "LOGIN") || strings.HasPrefix(cmd, "AUTHENTICATE") {
							logins++
						}
					}
					if logins != 1 {
						t.Errorf("%d logins for one refused open, want 1", logins)
					}
				}
			}
		})
	}
}
