package imapconn_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

func openSource(t *testing.T, c *imapconn.Connector, req *connector.OpenRequest) (connector.Source, error) {
	t.Helper()
	src, err := c.OpenSource(ctxFor(t), req)
	if err == nil {
		t.Cleanup(func() { src.Close(ctxFor(t)) })
	}
	return src, err
}

// Certificates are verified by default: without the test CA the server's
// certificate is refused with a message naming the problem; with ca_file
// or (explicitly) insecure_skip_verify the session opens.
func TestTLSVerification(t *testing.T) {
	c := imapconn.New(nil, testLogger())
	for _, mode := range []string{"implicit", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			_, err := openSource(t, c, request(t, testserver.DovecotSrc, mode, map[string]any{"ca_file": nil}))
			if !errors.Is(err, connector.ErrInvalid) {
				t.Fatalf("without the CA: %v, want ErrInvalid", err)
			}
			for _, want := range []string{"not trusted", "certificate signed by unknown authority", "ca_file"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if _, err := openSource(t, c, request(t, testserver.DovecotSrc, mode, nil)); err != nil {
				t.Errorf("with ca_file: %v", err)
			}
			if _, err := openSource(t, c, request(t, testserver.DovecotSrc, mode, map[string]any{"ca_file": nil, "insecure_skip_verify": true})); err != nil {
				t.Errorf("with insecure_skip_verify: %v", err)
			}
		})
	}
	t.Run("bad ca_file", func(t *testing.T) {
		_, err := openSource(t, c, request(t, testserver.DovecotSrc, "implicit", map[string]any{"ca_file": "/nonexistent/ca.pem"}))
		if !errors.Is(err, connector.ErrInvalid) || !strings.Contains(err.Error(), "ca_file") {
			t.Fatalf("missing CA file: %v, want ErrInvalid naming ca_file", err)
		}
	})
}

// tls "none" sends the password in clear: refused unless allow_plaintext.
func TestPlaintextNeedsOptIn(t *testing.T) {
	c := imapconn.New(nil, testLogger())
	_, err := openSource(t, c, request(t, testserver.DovecotSrc, "none", map[string]any{"allow_plaintext": nil}))
	if !errors.Is(err, connector.ErrInvalid) || !strings.Contains(err.Error(), "allow_plaintext") {
		t.Fatalf("tls none without allow_plaintext: %v, want ErrInvalid naming allow_plaintext", err)
	}
	if _, err := openSource(t, c, request(t, testserver.DovecotSrc, "none", nil)); err != nil {
		t.Fatalf("tls none with allow_plaintext: %v", err)
	}
}

// Both login methods work; the trace shows which was used and never the
// password, not even base64-encoded.
func TestAuthMechanisms(t *testing.T) {
	for _, tc := range []struct{ mech, wantCmd string }{
		{"auto", "AUTHENTICATE PLAIN " + connector.Redacted},
		{"plain", "AUTHENTICATE PLAIN " + connector.Redacted},
		{"login", "LOGIN " + connector.Redacted},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			rec, log := newWireRecorder(connector.LevelTraceData)
			req := request(t, testserver.DovecotDst, "starttls", map[string]any{"auth_mechanism": tc.mech})
			src, err := openSource(t, imapconn.New(nil, log), req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := src.Folders(ctxFor(t)); err != nil {
				t.Fatal(err)
			}
			if cmds := rec.commands("", 0); !containsPrefix(cmds, tc.wantCmd) {
				t.Errorf("commands %q lack %q", cmds, tc.wantCmd)
			}
			assertNoSecret(t, rec.String(), req.User, req.Credential.Secret)
		})
	}
}

// A refused login is ErrAuth, says who and how, and never shows the
// password: neither in the error nor in the trace, whichever way the
// password travels (in SASL PLAIN; quoted or, with non-ASCII, as a
// literal in LOGIN).
func TestWrongPassword(t *testing.T) {
	// Two attempts only: Dovecot delays logins from an IP that failed
	// (anvil's auth penalty, up to 15 s).
	for mech, pw := range map[string]string{"plain": "wrong-secret", "login": `wr"ong\päss{5}`} {
		t.Run(mech, func(t *testing.T) {
			rec, log := newWireRecorder(connector.LevelTraceData)
			req := request(t, testserver.DovecotSrc, "implicit", map[string]any{"auth_mechanism": mech})
			req.Credential.Secret = pw
			_, err := openSource(t, imapconn.New(nil, log), req)
			if !errors.Is(err, connector.ErrAuth) {
				t.Fatalf("wrong password: %v, want ErrAuth", err)
			}
			mechName := map[string]string{"plain": "AUTHENTICATE PLAIN", "login": "LOGIN"}[mech]
			for _, want := range []string{req.User, mechName, "AUTHENTICATIONFAILED"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			assertNoSecret(t, err.Error(), req.User, pw)
			assertNoSecret(t, rec.String(), req.User, pw)
			if mech == "login" && !strings.Contains(rec.String(), "LOGIN "+connector.Redacted) {
				t.Errorf("trace lacks the redacted LOGIN:\n%s", rec)
			}
		})
	}
}

func containsPrefix(l []string, prefix string) bool {
	for _, s := range l {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// assertNoSecret fails if text shows the password, raw or as it travels
// in SASL PLAIN.
func assertNoSecret(t *testing.T, text, user, secret string) {
	t.Helper()
	leaks := []string{secret, base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + secret))}
	for _, l := range leaks {
		if strings.Contains(text, l) {
			t.Fatalf("the password shows (%q):\n%s", l, text)
		}
	}
}
