package gmailtest_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jws"

	"github.com/ternmail/tern/plugins/gmail/gmailtest"
)

// retrieveError unwraps the token endpoint's refusal. golang.org/x/oauth2/jwt does not fill ErrorCode (only
// the Body), so the OAuth error code is read from the body, as a connector must.
func retrieveError(t *testing.T, err error) *oauth2.RetrieveError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("want *oauth2.RetrieveError, got %v", err)
	}
	if re.ErrorCode == "" {
		var body struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(re.Body, &body)
		re.ErrorCode = body.Error
	}
	return re
}

func TestTokenGrant(t *testing.T) {
	srv, sa := fixture(t)
	tok, err := sa.JWTConfig(alice, gmailtest.ScopeGmailInsert).TokenSource(context.Background()).Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || time.Until(tok.Expiry) < 50*time.Minute {
		t.Fatalf("token = %+v", tok)
	}
	log := srv.RequestsFor("token")
	if len(log) != 1 || log[0].Status != 200 || log[0].Credential != sa.Email || log[0].User != alice {
		t.Fatalf("log = %+v", log)
	}
	// The token works for the subject's mailbox, and for "me".
	svc := gmailService(t, srv, sa, alice)
	if p, err := svc.Users.GetProfile("me").Do(); err != nil || p.EmailAddress != alice {
		t.Fatalf("profile %+v, %v", p, err)
	}
}

func TestTokenRefusals(t *testing.T) {
	srv, sa := fixture(t)
	narrow := srv.AddServiceAccount(gmailtest.ServiceAccountConfig{Name: "narrow", Scopes: []string{gmailtest.ScopeGmailInsert}})
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		acct   *gmailtest.ServiceAccount
		sub    string
		scopes []string
	}{
		{"undelegated domain", sa, "eve@other.org", []string{gmailtest.ScopeGmailInsert}},
		{"unknown user", sa, "nobody@example.com", []string{gmailtest.ScopeGmailInsert}},
		{"disallowed scope", narrow, alice, []string{gmailtest.ScopeGmailInsert, gmailtest.ScopeGmailReadonly}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.acct.JWTConfig(tc.sub, tc.scopes...).TokenSource(ctx).Token()
			re := retrieveError(t, err)
			if re.Response.StatusCode != 401 || re.ErrorCode != "unauthorized_client" {
				t.Fatalf("got %d %q (%s)", re.Response.StatusCode, re.ErrorCode, re.Body)
			}
		})
	}
	// Narrow is fine within its scopes, and in any domain (Domains nil).
	if _, err := narrow.JWTConfig("eve@other.org", gmailtest.ScopeGmailInsert).TokenSource(ctx).Token(); err != nil {
		t.Fatal(err)
	}
	// Revoking the delegation mid-test takes effect at the next grant.
	sa.SetDelegation([]string{"example.com"}, []string{gmailtest.ScopeGmailLabels})
	_, err := sa.JWTConfig(alice, gmailtest.ScopeGmailInsert).TokenSource(ctx).Token()
	if re := retrieveError(t, err); re.ErrorCode != "unauthorized_client" {
		t.Fatalf("after revocation: %v", err)
	}
}

// assertion signs a claim set by hand, to break one rule at a time.
func assertion(t *testing.T, key *rsa.PrivateKey, kid string, cs *jws.ClaimSet) string {
	t.Helper()
	s, err := jws.Encode(&jws.Header{Algorithm: "RS256", Typ: "JWT", KeyID: kid}, cs, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenAssertionChecks(t *testing.T) {
	srv, sa := fixture(t)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now()
	good := func() *jws.ClaimSet {
		return &jws.ClaimSet{Iss: sa.Email, Scope: gmailtest.ScopeGmailInsert, Aud: srv.TokenURL(), Iat: now.Unix(), Exp: now.Add(time.Hour).Unix(), Sub: alice}
	}
	with := func(change func(*jws.ClaimSet)) string {
		cs := good()
		change(cs)
		return assertion(t, sa.Key, sa.KeyID, cs)
	}
	h := rawHTTP{t: t, srv: srv, c: srv.HTTPClient("")}
	post := func(form url.Values) response {
		return h.do("POST", "/token", []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	}
	grant := func(a string) response {
		return post(url.Values{"grant_type": {gmailtest.GrantTypeJWTBearer}, "assertion": {a}})
	}
	if r := grant(assertion(t, sa.Key, sa.KeyID, good())); r.code != 200 {
		t.Fatalf("good assertion: %d %s", r.code, r.body)
	}
	cases := []struct {
		name, a, err string
	}{
		{"bad signature", assertion(t, other, sa.KeyID, good()), "invalid_grant"},
		{"wrong kid", assertion(t, sa.Key, "0123", good()), "invalid_grant"},
		{"unknown iss", with(func(cs *jws.ClaimSet) { cs.Iss = "ghost@tern-test.iam.gserviceaccount.com" }), "invalid_grant"},
		{"wrong aud", with(func(cs *jws.ClaimSet) { cs.Aud = "https://example.com/token" }), "invalid_grant"},
		{"expired", with(func(cs *jws.ClaimSet) {
			cs.Iat, cs.Exp = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
		}), "invalid_grant"},
		{"longer than an hour", with(func(cs *jws.ClaimSet) { cs.Exp = now.Add(2 * time.Hour).Unix() }), "invalid_grant"},
		{"no scope", with(func(cs *jws.ClaimSet) { cs.Scope = "" }), "invalid_scope"},
		{"not a JWS", "a.b", "invalid_grant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := grant(tc.a)
			if m := r.json(t); r.code != 400 || m["error"] != tc.err {
				t.Fatalf("got %d %s", r.code, r.body)
			}
		})
	}
	r := post(url.Values{"grant_type": {"client_credentials"}})
	if m := r.json(t); r.code != 400 || m["error"] != "unsupported_grant_type" {
		t.Fatalf("grant type: %d %s", r.code, r.body)
	}
	// Google's own token URL is an accepted audience too.
	if r := grant(with(func(cs *jws.ClaimSet) { cs.Aud = "https://oauth2.googleapis.com/token" })); r.code != 200 {
		t.Fatalf("google aud: %d %s", r.code, r.body)
	}
}

func TestBearerChecks(t *testing.T) {
	srv, sa := fixture(t, gmailtest.WithTokenLifetime(10*time.Minute))
	insertOnly := newRaw(t, srv, alice, gmailtest.ScopeGmailInsert)
	// Subject ≠ {userId} → 403.
	r := insertOnly.importMultipart("bob@example.com", "", `{}`, rawMessage("x@y", ""))
	wantError(t, r, 403, "forbidden", "Delegation denied for alice@example.com")
	// A scope that does not cover the method → 403 insufficientPermissions.
	wantError(t, insertOnly.do("GET", "/gmail/v1/users/me/labels", nil), 403, "insufficientPermissions", "Request had insufficient authentication scopes.")
	// No token, a made-up token → 401.
	anon := rawHTTP{t: t, srv: srv, c: &http.Client{}}
	wantError(t, anon.do("GET", "/gmail/v1/users/me/labels", nil), 401, "required", "")
	wantError(t, anon.do("GET", "/gmail/v1/users/me/labels", nil, "Authorization", "Bearer ya29.forged"), 401, "authError", "Invalid Credentials")
	// A service-account token without a subject has no mailbox.
	wantError(t, newRaw(t, srv, "").do("GET", "/gmail/v1/users/me/profile", nil), 400, "failedPrecondition", "")
	// A suspended user's mailbox is not served.
	wantError(t, newRaw(t, srv, "gone@example.com").do("GET", "/gmail/v1/users/me/profile", nil), 400, "failedPrecondition", "Mail service not enabled")
	// Tokens expire on the virtual clock.
	labels := newRaw(t, srv, alice, gmailtest.ScopeGmailLabels)
	if r := labels.do("GET", "/gmail/v1/users/me/labels", nil); r.code != 200 {
		t.Fatalf("labels: %d %s", r.code, r.body)
	}
	srv.Advance(10 * time.Minute)
	wantError(t, labels.do("GET", "/gmail/v1/users/me/labels", nil), 401, "authError", "Invalid Credentials")
	// The Go client sees the 403 as a *googleapi.Error.
	svc := gmailService(t, srv, sa, alice)
	_, err := svc.Users.Labels.List("bob@example.com").Do()
	if ge := apiErr(t, err); ge.Code != 403 || !strings.Contains(ge.Message, "Delegation denied") {
		t.Fatalf("go client: %v", err)
	}
}
