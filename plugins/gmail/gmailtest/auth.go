package gmailtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"
)

// GrantTypeJWTBearer is the grant of the service-account flow (RFC 7523; target-apis.md §1.1).
const GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// googleTokenURL is the audience Google itself accepts besides the key's token_uri.
const googleTokenURL = "https://oauth2.googleapis.com/token"

// DefaultScopes are the scopes a service account is delegated for when ServiceAccountConfig.Scopes is nil:
// what the connector may ask for (§1.1).
var DefaultScopes = []string{ScopeGmailInsert, ScopeGmailLabels, ScopeGmailModify, ScopeGmailReadonly, ScopeMail, ScopeDirectoryUserReadonly}

// ServiceAccountConfig describes a service account and its domain-wide delegation (Admin console → Security →
// API controls → Domain-wide delegation, §1.1).
type ServiceAccountConfig struct {
	Name    string   // the account part of client_email; default "tern-migrator"
	Project string   // project_id; default "tern-test"
	Domains []string // domains the client ID is delegated in; nil means every domain of the server's users
	Scopes  []string // scopes authorised for the client ID; nil means DefaultScopes
}

// ServiceAccount is a service account of the emulator, with its RSA key.
type ServiceAccount struct {
	Email     string
	ClientID  string
	KeyID     string
	ProjectID string
	Key       *rsa.PrivateKey

	s       *Server
	domains []string // guarded by s.mu; nil = all
	scopes  []string // guarded by s.mu
}

// AddServiceAccount creates a service account with a fresh 2048-bit RSA key.
func (s *Server) AddServiceAccount(cfg ServiceAccountConfig) *ServiceAccount {
	s.t.Helper()
	if cfg.Name == "" {
		cfg.Name = "tern-migrator"
	}
	if cfg.Project == "" {
		cfg.Project = "tern-test"
	}
	if cfg.Scopes == nil {
		cfg.Scopes = DefaultScopes
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		s.t.Fatalf("gmailtest: generate key: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.accounts) + 1
	sa := &ServiceAccount{
		Email:     fmt.Sprintf("%s@%s.iam.gserviceaccount.com", cfg.Name, cfg.Project),
		ClientID:  fmt.Sprintf("1000000000000000000%02d", n),
		KeyID:     fmt.Sprintf("%040x", n*0x9e3779b9),
		ProjectID: cfg.Project,
		Key:       key,
		s:         s,
		domains:   lowerAll(cfg.Domains),
		scopes:    append([]string(nil), cfg.Scopes...),
	}
	s.accounts[sa.Email] = sa
	return sa
}

// SetDelegation replaces the account's delegated domains (nil: all) and scopes, e.g. to revoke a scope mid-test.
func (sa *ServiceAccount) SetDelegation(domains, scopes []string) {
	sa.s.mu.Lock()
	defer sa.s.mu.Unlock()
	sa.domains, sa.scopes = lowerAll(domains), append([]string(nil), scopes...)
}

// KeyJSON is the service-account key file as the Cloud console downloads it, with token_uri pointing at the
// emulator: what goes into the connector's secret.
func (sa *ServiceAccount) KeyJSON() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(sa.Key)
	if err != nil {
		panic(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	b, _ := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  sa.ProjectID,
		"private_key_id":              sa.KeyID,
		"private_key":                 string(keyPEM),
		"client_email":                sa.Email,
		"client_id":                   sa.ClientID,
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   sa.s.TokenURL(),
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/" + strings.ReplaceAll(sa.Email, "@", "%40"),
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	return b
}

// JWTConfig is google.JWTConfigFromJSON(KeyJSON(), scopes...) with Subject set: exactly what a connector builds.
func (sa *ServiceAccount) JWTConfig(subject string, scopes ...string) *jwt.Config {
	cfg, err := google.JWTConfigFromJSON(sa.KeyJSON(), scopes...)
	if err != nil {
		panic(err)
	}
	cfg.Subject = subject
	return cfg
}

// token is an issued access token.
type token struct {
	value   string
	cred    string // client_email, or "direct"
	project string
	subject string
	scopes  []string
	expiry  time.Time // on the server's clock
}

func (t *token) has(scopes []string) bool {
	for _, have := range t.scopes {
		for _, want := range scopes {
			if have == want {
				return true
			}
		}
	}
	return false
}

// Token mints an access token for subject without the JWT flow (credential "direct", project "tern-test"), for
// raw HTTP tests. Subject must be a user of the server ("" for a token without delegation).
func (s *Server) Token(subject string, scopes ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issue("direct", "tern-test", subject, scopes).value
}

// HTTPClient is an http.Client that sends Server.Token(subject, scopes...) as a bearer token.
func (s *Server) HTTPClient(subject string, scopes ...string) *http.Client {
	return &http.Client{Transport: bearer{tok: s.Token(subject, scopes...), base: http.DefaultTransport}}
}

type bearer struct {
	tok  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return b.base.RoundTrip(r)
}

// issue must be called with s.mu held.
func (s *Server) issue(cred, project, subject string, scopes []string) *token {
	s.tokenSeq++
	t := &token{
		value:   fmt.Sprintf("ya29.emulated-%d-%x", s.tokenSeq, sha256.Sum256([]byte(cred+subject))),
		cred:    cred,
		project: project,
		subject: strings.ToLower(subject),
		scopes:  append([]string(nil), scopes...),
		expiry:  s.now().Add(s.cfg.tokenLifetime),
	}
	s.tokens[t.value] = t
	return t
}

type oauthError struct {
	status int
	code   string
	desc   string
}

func writeOAuthError(w http.ResponseWriter, e oauthError) {
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

var (
	errUnauthorizedClient = oauthError{401, "unauthorized_client",
		"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."}
	errBadSignature = oauthError{400, "invalid_grant", "Invalid JWT Signature."}
	errBadTime      = oauthError{400, "invalid_grant",
		"Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."}
)

// serveToken is the OAuth2 token endpoint for the JWT-bearer grant with domain-wide delegation (§1.1, §5.1.8).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{header: http.Header{}}
	entry := Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, Op: "token"}
	entry.Credential, entry.User = s.grant(rec, r)
	entry.Status = rec.code
	entry.Duration = time.Since(start)
	rec.flush(w)
	s.mu.Lock()
	s.log = append(s.log, entry)
	s.mu.Unlock()
}

func (s *Server) grant(w http.ResponseWriter, r *http.Request) (cred, subject string) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, oauthError{400, "invalid_request", err.Error()})
		return "", ""
	}
	if gt := r.PostForm.Get("grant_type"); gt != GrantTypeJWTBearer {
		writeOAuthError(w, oauthError{400, "unsupported_grant_type", "Invalid grant_type: " + gt})
		return "", ""
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		writeOAuthError(w, oauthError{400, "invalid_grant", "Invalid JWT: the assertion is not a JWS."})
		return "", ""
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Exp   int64  `json:"exp"`
		Iat   int64  `json:"iat"`
		Sub   string `json:"sub"`
		Prn   string `json:"prn"`
	}
	if decodeSegment(parts[0], &hdr) != nil || decodeSegment(parts[1], &claims) != nil {
		writeOAuthError(w, oauthError{400, "invalid_grant", "Invalid JWT: the header or claims are not JSON."})
		return "", ""
	}
	s.mu.Lock()
	sa := s.accounts[claims.Iss]
	s.mu.Unlock()
	if sa == nil {
		writeOAuthError(w, oauthError{400, "invalid_grant", "Invalid grant: account not found"})
		return claims.Iss, claims.Sub
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || hdr.Alg != "RS256" || (hdr.Kid != "" && hdr.Kid != sa.KeyID) ||
		rsa.VerifyPKCS1v15(&sa.Key.PublicKey, crypto.SHA256, digest[:], sig) != nil {
		writeOAuthError(w, errBadSignature)
		return sa.Email, claims.Sub
	}
	if claims.Aud != s.TokenURL() && claims.Aud != googleTokenURL {
		writeOAuthError(w, oauthError{400, "invalid_grant", "Invalid JWT: Failed audience check."})
		return sa.Email, claims.Sub
	}
	// The assertion is stamped by the client's real clock, so it is checked against real time; the token it
	// buys lives on the server's clock.
	now := time.Now().Unix()
	if claims.Exp <= now || claims.Iat > now+300 || claims.Exp-claims.Iat > 3600 || claims.Exp < claims.Iat {
		writeOAuthError(w, errBadTime)
		return sa.Email, claims.Sub
	}
	scopes := strings.Fields(claims.Scope)
	if len(scopes) == 0 {
		writeOAuthError(w, oauthError{400, "invalid_scope", "Empty or missing scope not allowed."})
		return sa.Email, claims.Sub
	}
	sub := claims.Sub
	if sub == "" {
		sub = claims.Prn
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub != "" && !s.delegated(sa, sub, scopes) {
		writeOAuthError(w, errUnauthorizedClient)
		return sa.Email, sub
	}
	t := s.issue(sa.Email, sa.ProjectID, sub, scopes)
	writeJSON(w, 200, map[string]any{
		"access_token": t.value,
		"expires_in":   int(s.cfg.tokenLifetime/time.Second) - 1,
		"token_type":   "Bearer",
	})
	return sa.Email, sub
}

// delegated reports whether sa may impersonate sub with scopes: sub is a user of the server in a domain sa is
// delegated in, and every scope is authorised for the client ID (§1.1, §5.1.8). Called with s.mu held.
func (s *Server) delegated(sa *ServiceAccount, sub string, scopes []string) bool {
	u := s.users[strings.ToLower(sub)]
	if u == nil {
		return false
	}
	if sa.domains != nil && !contains(sa.domains, u.domain()) {
		return false
	}
	for _, sc := range scopes {
		if !contains(sa.scopes, sc) {
			return false
		}
	}
	return true
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// authenticate resolves the bearer token, checks its scopes against the method and its subject against
// {userId} (§5.1.8).
func (c *call) authenticate() *apiError {
	s := c.s
	r := c.r
	c.email = r.PathValue("userId")
	if c.rt.kind == kindUploadChunk {
		return c.resolveUpload()
	}
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		e := newAPIError(401, "required", "Login Required.")
		e.location = "Authorization"
		return e
	}
	s.mu.Lock()
	t := s.tokens[v]
	s.mu.Unlock()
	if t == nil || !s.now().Before(t.expiry) {
		return errAuth()
	}
	c.tok, c.cred = t, t.cred
	if !t.has(c.rt.scopes) {
		return errInsufficientScope()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.rt.kind == kindDirectory {
		c.email = t.subject
		u := s.users[t.subject]
		if u == nil || !u.Admin {
			return newAPIError(403, "forbidden", "Not Authorized to access this resource/api")
		}
		return nil
	}
	if t.subject == "" {
		// A service account without a subject has no mailbox.
		return newAPIError(400, "failedPrecondition", "Precondition check failed.")
	}
	if c.email == "me" {
		c.email = t.subject
	}
	if !strings.EqualFold(c.email, t.subject) {
		return newAPIError(403, "forbidden", "Delegation denied for "+t.subject)
	}
	u := s.users[t.subject]
	if u == nil || u.Suspended || !u.mailbox {
		return newAPIError(400, "failedPrecondition", "Mail service not enabled")
	}
	c.user, c.email = u, u.Email
	return nil
}

func lowerAll(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = strings.ToLower(v)
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
