package imapkit

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/sdk/connector"
)

// masterOptions returns options for the master instance (folders under
// "INBOX.", per-user passwords, master user "admin") over implicit TLS,
// logging in with l and tracing into rec.
func masterOptions(t *testing.T, l Login, rec *recorder) *Options {
	t.Helper()
	testserver.Ensure(t)
	inst := testserver.DovecotMaster
	cfg, err := TLSConfig(inst.Host, testserver.CAFile(), false)
	if err != nil {
		t.Fatal(err)
	}
	return &Options{Address: inst.TLSAddr(), TLS: TLSImplicit, TLSConfig: cfg, Login: l, Logger: slog.New(rec)}
}

// plainPayloads returns the SASL PLAIN initial responses that carry
// secret for every pair of identities, as they would show in a trace.
func plainPayloads(secret string, names ...string) []string {
	var out []string
	for _, authz := range append([]string{""}, names...) {
		for _, authc := range names {
			out = append(out, base64.StdEncoding.EncodeToString([]byte(authz+"\x00"+authc+"\x00"+secret)))
		}
	}
	return out
}

func assertNoLeak(t *testing.T, where, text string, leaks []string) {
	t.Helper()
	for _, l := range leaks {
		if l != "" && strings.Contains(text, l) {
			t.Fatalf("%s shows %q:\n%s", where, l, text)
		}
	}
}

// dialBoth logs in with o through both clients (go-imap's and imapkit's
// own) and opens INBOX read-only on each.
func dialBoth(t *testing.T, o *Options) error {
	t.Helper()
	c, err := Dial(ctxFor(t), o)
	if err != nil {
		return fmt.Errorf("Dial: %w", err)
	}
	defer c.Close()
	if _, err := c.Select(ctxFor(t), "INBOX", true, false); err != nil {
		return fmt.Errorf("Dial, examine: %w", err)
	}
	ac, err := DialAppend(ctxFor(t), o)
	if err != nil {
		return fmt.Errorf("DialAppend: %w", err)
	}
	defer ac.Close()
	if _, err := ac.Examine(ctxFor(t), "INBOX"); err != nil {
		return fmt.Errorf("DialAppend, examine: %w", err)
	}
	return nil
}

// Every login mode Dovecot has opens a user's mailbox, through go-imap and
// through imapkit's own client alike, and the trace never shows a
// password, raw or inside a SASL payload.
func TestLoginModesDovecot(t *testing.T) {
	user := testserver.User(t, "imapkit-modes")
	testserver.AddUser(t, testserver.DovecotMaster, user, "own-secret")
	admin, adminPW := testserver.DovecotMaster.MasterUser, testserver.MasterPassword()
	for _, tc := range []struct {
		name string
		l    Login
		cmd  string // in the trace
	}{
		{"password-plain", &PasswordLogin{Username: user, Password: "own-secret"}, "AUTHENTICATE PLAIN " + connector.Redacted},
		{"password-login", &PasswordLogin{Username: user, Password: "own-secret", Mechanism: MechLogin}, "LOGIN " + connector.Redacted},
		{"authzid", &AuthzidLogin{User: user, AuthUser: admin, Password: adminPW}, "AUTHENTICATE PLAIN " + connector.Redacted},
		{"master-login", &MasterLogin{User: user, AuthUser: admin, Separator: "*", Password: adminPW, Mechanism: MechLogin}, "LOGIN " + connector.Redacted},
		{"master-plain", &MasterLogin{User: user, AuthUser: admin, Separator: "*", Password: adminPW, Mechanism: MechPlain}, "AUTHENTICATE PLAIN " + connector.Redacted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{level: connector.LevelTraceData}
			if err := dialBoth(t, masterOptions(t, tc.l, rec)); err != nil {
				t.Fatal(err)
			}
			all := rec.all()
			if strings.Count(all, tc.cmd) != 2 {
				t.Errorf("trace lacks %q twice:\n%s", tc.cmd, all)
			}
			assertNoLeak(t, "trace", all, append(plainPayloads("own-secret", user), append(plainPayloads(adminPW, user, admin, user+"*"+admin), "own-secret", adminPW)...))
		})
	}
}

// A refused login says which mode, what was sent (never the password) and
// what the server said, and reads it: Dovecot answers AUTHENTICATIONFAILED
// for a wrong password, and AUTHORIZATIONFAILED when the master user's
// password was right but the user does not exist.
func TestLoginRefusalsDovecot(t *testing.T) {
	user := testserver.User(t, "imapkit-refused")
	testserver.AddUser(t, testserver.DovecotMaster, user, "own-secret")
	ghost := testserver.User(t, "imapkit-ghost")
	admin, adminPW := testserver.DovecotMaster.MasterUser, testserver.MasterPassword()
	for _, tc := range []struct {
		name string
		l    Login
		want []string
	}{
		{"wrong password", &PasswordLogin{Username: user, Password: "wrong-secret"},
			[]string{`login as "` + user + `" with AUTHENTICATE PLAIN (mode "password")`, "AUTHENTICATIONFAILED", "wrong password, or no user"}},
		{"no such user", &PasswordLogin{Username: ghost, Password: "own-secret", Mechanism: MechLogin},
			[]string{`login as "` + ghost + `" with LOGIN`, "AUTHENTICATIONFAILED", "does not say which"}},
		{"master, wrong admin password", &MasterLogin{User: user, AuthUser: admin, Separator: "*", Password: "wrong-secret", Mechanism: MechLogin},
			[]string{`login as "` + user + `*admin" with LOGIN (mode "admin_master"`, "AUTHENTICATIONFAILED", "wrong administrator password, or \"admin\" is not a master user"}},
		{"master, no such user", &MasterLogin{User: ghost, AuthUser: admin, Separator: "*", Password: adminPW},
			[]string{`login as "` + ghost + `*admin" with AUTHENTICATE PLAIN (mode "admin_master"`, "AUTHORIZATIONFAILED", "the administrator's password was accepted, but it may not open \"" + ghost + "\": there is no such user"}},
		{"authzid, wrong admin password", &AuthzidLogin{User: user, AuthUser: admin, Password: "wrong-secret"},
			[]string{`AUTHENTICATE PLAIN authzid="` + user + `" authcid="admin" (mode "admin_authzid")`, "AUTHENTICATIONFAILED", "wrong administrator password"}},
		{"authzid, no such user", &AuthzidLogin{User: ghost, AuthUser: admin, Password: adminPW},
			[]string{`authzid="` + ghost + `"`, "AUTHORIZATIONFAILED", "there is no such user"}},
		{"authzid, not an administrator", &AuthzidLogin{User: ghost, AuthUser: user, Password: "own-secret"},
			[]string{`authcid="` + user + `"`, "AUTHENTICATIONFAILED", "is not an administrator allowed to act for other users"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // Dovecot answers a refusal after half a second
			rec := &recorder{level: connector.LevelTraceData}
			o := masterOptions(t, tc.l, rec)
			_, err1 := Dial(ctxFor(t), o)
			_, err2 := DialAppend(ctxFor(t), o)
			for _, err := range []error{err1, err2} {
				if !errors.Is(err, connector.ErrAuth) {
					t.Fatalf("got %v, want ErrAuth", err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				assertNoLeak(t, "error", err.Error(), []string{"wrong-secret", "own-secret", adminPW})
				if Response(err) == nil {
					t.Errorf("the server's response is not in the chain of %v", err)
				}
			}
			if err1.Error() != err2.Error() {
				t.Errorf("the two clients word it differently:\n%v\n%v", err1, err2)
			}
			assertNoLeak(t, "trace", rec.all(), append(plainPayloads("wrong-secret", user, ghost, admin, user+"*"+admin), "wrong-secret", adminPW, "own-secret"))
		})
	}
}

// PROXYAUTH (Sun Java System Messaging Server), which no Debian server
// speaks: the administrator logs in, then PROXYAUTH switches to the user.
// go-imap gets the connection authenticated (a synthetic PREAUTH with the
// capabilities) and goes on from there; imapkit's own client does it
// directly. The trace hides the administrator's password.
func TestProxyAuthScripted(t *testing.T) {
	const greeting = "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] mail.example.org Sun Java(tm) System Messaging Server 6.3 ready\r\n"
	login := &ProxyAuthLogin{User: "alice", AuthUser: "admin", Password: `s3cr"et`, Mechanism: MechLogin}
	leaks := []string{`s3cr"et`, `s3cr\"et`}
	t.Run("go-imap", func(t *testing.T) {
		rec := &recorder{level: connector.LevelTraceData}
		addr := fakeServer(t, func(s *scripted) {
			s.send(greeting)
			s.expect("A1 LOGIN \"admin\" \"s3cr\\\"et\"\r\n")
			s.send("A1 OK [CAPABILITY IMAP4rev1 NAMESPACE] admin logged in\r\n")
			s.expect("A2 PROXYAUTH \"alice\"\r\n")
			s.send("A2 OK proxy authentication succeeded\r\n")
			s.expect("T1 EXAMINE INBOX\r\n")
			s.send("* 2 EXISTS\r\n", "* OK [UIDVALIDITY 7] ok\r\n", "T1 OK [READ-ONLY] done\r\n")
			s.expect("T2 LOGOUT\r\n")
			s.send("* BYE bye\r\n", "T2 OK done\r\n")
		})
		c, err := Dial(ctxFor(t), &Options{Address: addr, TLS: TLSNone, Login: login, Logger: slog.New(rec)})
		if err != nil {
			t.Fatal(err)
		}
		if !c.Caps().Has("NAMESPACE") {
			t.Errorf("capabilities after the login: %v", c.Caps())
		}
		sd, err := c.Select(ctxFor(t), "INBOX", true, false)
		if err != nil || sd.NumMessages != 2 || sd.UIDValidity != 7 {
			t.Fatalf("examine after PROXYAUTH: %+v, %v", sd, err)
		}
		c.Close()
		all := rec.all()
		for _, want := range []string{"A1 LOGIN " + connector.Redacted, `A2 PROXYAUTH "alice"`, "T1 EXAMINE INBOX"} {
			if !strings.Contains(all, want) {
				t.Errorf("trace lacks %q:\n%s", want, all)
			}
		}
		assertNoLeak(t, "trace", all, leaks)
	})
	for _, tc := range []struct {
		name   string
		answer string // to PROXYAUTH, or to LOGIN when it starts with "A1"
		kind   error
		want   []string
	}{
		{"proxyauth refused", "A2 NO not authorized\r\n", connector.ErrAuth,
			[]string{`PROXYAUTH "alice" after the administrator "admin" logged in (mode "admin_proxyauth")`, "NO not authorized", `"admin" may not act for "alice"`}},
		{"proxyauth unknown", "A2 BAD Error in IMAP command PROXYAUTH: Unknown command\r\n", connector.ErrInvalid,
			[]string{"BAD Error in IMAP command PROXYAUTH", "the server does not know PROXYAUTH"}},
		{"no such user", "A2 NO [AUTHORIZATIONFAILED] PROXYAUTH failed: no such user\r\n", connector.ErrAuth,
			[]string{`the server says there is no user "alice"`}},
		{"wrong admin password", "A1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", connector.ErrAuth,
			[]string{`administrator login as "admin" with LOGIN (mode "admin_proxyauth")`, "AUTHENTICATIONFAILED", `wrong administrator password, or no user "admin"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, client := range []string{"go-imap", "imapkit"} {
				addr := fakeServer(t, func(s *scripted) {
					s.send(greeting)
					s.expect("A1 LOGIN \"admin\" \"s3cr\\\"et\"\r\n")
					if strings.HasPrefix(tc.answer, "A1") {
						s.send(tc.answer)
						return
					}
					s.send("A1 OK admin logged in\r\n")
					s.expect("A2 PROXYAUTH \"alice\"\r\n")
					s.send(tc.answer)
				})
				o := &Options{Address: addr, TLS: TLSNone, Login: login}
				var err error
				if client == "go-imap" {
					_, err = Dial(ctxFor(t), o)
				} else {
					_, err = DialAppend(ctxFor(t), o)
				}
				if !errors.Is(err, tc.kind) {
					t.Fatalf("%s: %v, want %v", client, err, tc.kind)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q lacks %q", client, err, w)
					}
				}
				assertNoLeak(t, "error", err.Error(), leaks)
			}
		})
	}
}

// PROXYAUTH over imapkit's own client with AUTHENTICATE PLAIN (no SASL-IR)
// and a user name that must travel as a literal.
func TestProxyAuthPlainLiteral(t *testing.T) {
	addr := fakeServer(t, func(s *scripted) {
		s.send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN LITERAL+] ready\r\n")
		s.expect("A1 AUTHENTICATE PLAIN\r\n")
		s.send("+ \r\n")
		s.expect(base64.StdEncoding.EncodeToString([]byte("\x00admin\x00pw")) + "\r\n")
		s.send("A1 OK logged in\r\n")
		s.expect("A2 PROXYAUTH {4+}\r\nälf\r\n")
		s.send("A2 OK [CAPABILITY IMAP4rev1 MULTIAPPEND] proxy\r\n")
		s.expect("A3 LOGOUT\r\n")
		s.send("A3 OK bye\r\n")
	})
	c, err := DialAppend(ctxFor(t), &Options{Address: addr, TLS: TLSNone, Login: &ProxyAuthLogin{User: "älf", AuthUser: "admin", Password: "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has("MULTIAPPEND") {
		t.Errorf("capabilities after PROXYAUTH: %v", c.Caps())
	}
	c.Close()
}

// A server without SASL PLAIN cannot take an authorization identity: the
// login is not attempted, and the error says why and what the server
// offers.
func TestAuthzidNeedsPlain(t *testing.T) {
	for _, client := range []string{"go-imap", "imapkit"} {
		addr := fakeServer(t, func(s *scripted) {
			s.send("* OK [CAPABILITY IMAP4rev1 AUTH=LOGIN AUTH=CRAM-MD5] ready\r\n")
			if line, err := s.r.ReadString('\n'); err == nil && !strings.HasSuffix(line, "LOGOUT\r\n") {
				s.t.Errorf("%s sent %q", client, line)
			}
		})
		o := &Options{Address: addr, TLS: TLSNone, Login: &AuthzidLogin{User: "alice", AuthUser: "admin", Password: "pw"}}
		var err error
		if client == "go-imap" {
			_, err = Dial(ctxFor(t), o)
		} else {
			_, err = DialAppend(ctxFor(t), o)
		}
		if !errors.Is(err, connector.ErrInvalid) || !strings.Contains(err.Error(), "offers no SASL PLAIN (its mechanisms: CRAM-MD5, LOGIN)") || !strings.Contains(err.Error(), "admin_authzid") {
			t.Errorf("%s: %v, want ErrInvalid explaining that PLAIN is missing", client, err)
		}
	}
}

// Servers that say that a user does not exist are understood; other codes
// keep their meaning (an expired password, an account to unlock, a server
// that is unavailable for now).
func TestRefusalWording(t *testing.T) {
	for _, tc := range []struct {
		answer string
		kind   error
		want   string
	}{
		{"A1 NO LOGIN failed: no such user\r\n", connector.ErrAuth, `the server says there is no user "bob"`},
		{"A1 NO [EXPIRED] Password expired\r\n", connector.ErrAuth, "the password has expired"},
		{"A1 NO [CONTACTADMIN] Account locked\r\n", connector.ErrAuth, "contact its administrator"},
		{"A1 NO [UNAVAILABLE] Try later\r\n", connector.ErrTemporary, "Try later"},
		{"A1 NO [AUTHORIZATIONFAILED] not here\r\n", connector.ErrAuth, `the password was accepted, but "bob" may not log in`},
	} {
		addr := fakeServer(t, func(s *scripted) {
			s.send("* OK [CAPABILITY IMAP4rev1] ready\r\n")
			s.expect("A1 LOGIN \"bob\" \"pw\"\r\n")
			s.send(tc.answer)
		})
		_, err := DialAppend(ctxFor(t), &Options{Address: addr, TLS: TLSNone, Login: &PasswordLogin{Username: "bob", Password: "pw"}})
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %v saying %q", tc.answer, err, tc.kind, tc.want)
		}
	}
}

// Command describes what each mode sends, without secrets.
func TestLoginCommand(t *testing.T) {
	plain := imap.CapSet{imap.CapIMAP4rev1: {}, imap.AuthCap("PLAIN"): {}}
	none := imap.CapSet{imap.CapIMAP4rev1: {}}
	for _, tc := range []struct {
		l    Login
		caps imap.CapSet
		want string
	}{
		{&PasswordLogin{Username: "alice", Password: "x"}, plain, `AUTHENTICATE PLAIN authcid="alice"`},
		{&PasswordLogin{Username: "alice", Password: "x"}, none, `LOGIN "alice"`},
		{&AuthzidLogin{User: "alice", AuthUser: "admin", Password: "x"}, plain, `AUTHENTICATE PLAIN authzid="alice" authcid="admin"`},
		{&MasterLogin{User: "alice", AuthUser: "admin", Separator: "*", Password: "x", Mechanism: MechLogin}, plain, `LOGIN "alice*admin"`},
		{&MasterLogin{User: "alice", AuthUser: "admin", Separator: "%", Password: "x"}, plain, `AUTHENTICATE PLAIN authcid="alice%admin"`},
		{&ProxyAuthLogin{User: "alice", AuthUser: "admin", Password: "x"}, none, `LOGIN "admin", then PROXYAUTH "alice"`},
	} {
		if got := tc.l.Command(tc.caps); got != tc.want {
			t.Errorf("Command = %q, want %q", got, tc.want)
		}
		if d := tc.l.Describe(); strings.Contains(d, `"x"`) {
			t.Errorf("Describe shows the password: %s", d)
		}
	}
}

func TestParseIDAndNamespace(t *testing.T) {
	id := parseIDList(`("name" "Cyrus IMAPD" "version" "3.6.1 \"x\"" "os" NIL "vendor" {5})`)
	if id["name"] != "Cyrus IMAPD" || id["version"] != `3.6.1 "x"` || id["os"] != "" || len(id) != 3 {
		t.Errorf("ID fields %q", id)
	}
	if parseIDList("NIL") != nil {
		t.Error("ID NIL parsed")
	}
	for in, want := range map[string][3]string{
		`(("INBOX." ".")) NIL NIL`:                  {"INBOX.", ".", "ok"},
		`(("" "/")) (("~" "/")) (("#shared/" "/"))`: {"", "/", "ok"},
		`(("" NIL))`:                               {"", "", "ok"},
		`NIL (("Other Users/" "/")) NIL`:           {"", "", ""},
		`(("INBOX." "." "X-PARAM" ("a"))) NIL NIL`: {"INBOX.", ".", "ok"},
	} {
		p, d, ok := parsePersonalNamespace(in)
		if p != want[0] || d != want[1] || ok != (want[2] == "ok") {
			t.Errorf("%s: %q %q %v", in, p, d, ok)
		}
	}
	for in, want := range map[string]Namespaces{
		`(("INBOX/" "/")) (("user/" "/")) (("" "/"))`:                            {Personal: NamespaceEntry{"INBOX/", "/", true}, Other: NamespaceEntry{"user/", "/", true}, Shared: NamespaceEntry{"", "/", true}},
		`NIL (("user." ".")) (("" "."))`:                                         {Other: NamespaceEntry{"user.", ".", true}, Shared: NamespaceEntry{"", ".", true}},
		`(("" "/" "X-PARAM" ("a" "b")) ("#mh/" "/")) (("Other Users/" "/")) NIL`: {Personal: NamespaceEntry{"", "/", true}, Other: NamespaceEntry{"Other Users/", "/", true}},
		`NIL NIL NIL`:        {},
		`(("" NIL)) NIL NIL`: {Personal: NamespaceEntry{"", "", true}},
		`garbage`:            {},
	} {
		if got := parseNamespaces(in); *got != want {
			t.Errorf("%s: %+v, want %+v", in, *got, want)
		}
	}
	// The master instance announces its prefix; ID names Dovecot.
	o := masterOptions(t, nil, &recorder{level: slog.LevelInfo})
	c, err := DialAppend(ctxFor(t), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fields, err := c.ServerID(ctxFor(t))
	if err != nil || fields["name"] != "Dovecot" {
		t.Errorf("ID: %q, %v", fields, err)
	}
	if !strings.Contains(c.Greeting(), "Dovecot") || !strings.HasPrefix(c.Greeting(), "OK [CAPABILITY IMAP4rev1") {
		t.Errorf("greeting %q", c.Greeting())
	}
	if c.TLS() == nil || c.TLS().Version == 0 {
		t.Error("no TLS state")
	}
}
