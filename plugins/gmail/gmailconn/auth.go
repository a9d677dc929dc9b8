package gmailconn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/ternmail/tern/sdk/connector"
)

// The OAuth scopes, as narrow as each role allows.
const (
	// ScopeTarget: import (gmail.insert would do), labels (gmail.labels),
	// plus the rfc822msgid: look-ups and adding a label to a message
	// imported from another folder, which need read and modify access.
	// gmail.modify is the one scope that covers all of it.
	ScopeTarget = "https://www.googleapis.com/auth/gmail.modify"
	// ScopeSource reads messages, labels and history.
	ScopeSource = "https://www.googleapis.com/auth/gmail.readonly"
	// ScopeDirectory lists users with an administrator as the subject.
	ScopeDirectory = "https://www.googleapis.com/auth/admin.directory.user.readonly"
)

// serviceKey is what the connector reads of a service account key.
type serviceKey struct {
	Type        string `json:"type"`
	ClientEmail string `json:"client_email"`
	ClientID    string `json:"client_id"`
	TokenURI    string `json:"token_uri"`
}

// parseKey checks that secret is a service account key and returns what it
// says about itself (never the private key).
func parseKey(secret string) (*serviceKey, error) {
	var k serviceKey
	if err := json.Unmarshal([]byte(secret), &k); err != nil || k.ClientEmail == "" {
		return nil, connector.Errorf(connector.KindAuth, "the connector's password must be a Google service account key (the JSON file from the Cloud console, with client_email and private_key)")
	}
	if k.Type != "" && k.Type != "service_account" {
		return nil, connector.Errorf(connector.KindAuth, "the connector's password is a Google credential of type %q; a service account key (type service_account) is needed", k.Type)
	}
	return &k, nil
}

// tokens caches one token source per key, subject and scope, so that
// the sessions of one mailbox share their access token.
type tokens struct {
	mu      sync.Mutex
	sources map[string]*tokenSource
}

// tokenSource is a cached token source that can drop its token (after
// the API refused it) and fetch a new one on the next call.
type tokenSource struct {
	mu  sync.Mutex
	new func() oauth2.TokenSource
	cur oauth2.TokenSource
}

func (t *tokenSource) Token() (*oauth2.Token, error) {
	t.mu.Lock()
	cur := t.cur
	t.mu.Unlock()
	return cur.Token()
}

// invalidate drops the cached token.
func (t *tokenSource) invalidate() {
	t.mu.Lock()
	t.cur = t.new()
	t.mu.Unlock()
}

// source returns the token source that impersonates subject with scope.
// Token requests use base (the settings' TLS) and never a caller's
// context, so that a token outlives the call that opened the session.
func (t *tokens) source(secret, subject, scope string, base http.RoundTripper) (*tokenSource, *serviceKey, error) {
	key, err := parseKey(secret)
	if err != nil {
		return nil, nil, err
	}
	h := sha256.Sum256([]byte(secret + "\x00" + subject + "\x00" + scope))
	id := hex.EncodeToString(h[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	if ts, ok := t.sources[id]; ok {
		return ts, key, nil
	}
	cfg, err := google.JWTConfigFromJSON([]byte(secret), scope)
	if err != nil {
		return nil, nil, connector.Errorf(connector.KindAuth, "the service account key %s cannot be used: %s", key.ClientEmail, scrubKeyError(err))
	}
	cfg.Subject = subject
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base})
	ts := &tokenSource{new: func() oauth2.TokenSource { return oauth2.ReuseTokenSource(nil, cfg.TokenSource(ctx)) }}
	ts.cur = ts.new()
	if t.sources == nil {
		t.sources = map[string]*tokenSource{}
	}
	t.sources[id] = ts
	return ts, key, nil
}

// scrubKeyError keeps only the first line of a key parsing error, which
// never quotes the key.
func scrubKeyError(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// tokenError classifies a failed token request (a JWT-bearer grant).
// Refusals are configuration errors (KindAuth: not retried, the job
// stops with the message); a token endpoint that cannot be reached or
// answers 5xx is temporary.
func tokenError(err error, key *serviceKey, subject, scope string) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return connector.Wrap(connector.KindUnavailable, "gmail: getting an access token for "+subject, err)
	}
	if re.ErrorCode == "" {
		// x/oauth2/jwt leaves the OAuth error body unparsed.
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(re.Body, &body) == nil {
			re.ErrorCode, re.ErrorDescription = body.Error, body.Description
		}
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	if status >= 500 || status == http.StatusTooManyRequests {
		return connector.Errorf(connector.KindTemporary, "gmail: the token endpoint answered %d for %s: %s", status, subject, describeRetrieve(re))
	}
	switch re.ErrorCode {
	case "unauthorized_client", "access_denied":
		return connector.Errorf(connector.KindAuth,
			"gmail: the service account %s may not act as %s with scope %s (%s). In the Google Admin console, Security → API controls → Domain-wide delegation, authorise client ID %s for %s",
			key.ClientEmail, subject, scope, describeRetrieve(re), key.ClientID, scope)
	case "invalid_grant":
		return connector.Errorf(connector.KindAuth,
			"gmail: Google refused to let %s act as %s (%s): check that %s is a user of the Workspace domain and that the key is still valid",
			key.ClientEmail, subject, describeRetrieve(re), subject)
	case "invalid_client":
		return connector.Errorf(connector.KindAuth,
			"gmail: Google does not know the service account key of %s (%s): the key was deleted or disabled; create a new key in the Cloud console",
			key.ClientEmail, describeRetrieve(re))
	}
	return connector.Errorf(connector.KindAuth, "gmail: the token request for %s was refused (%d): %s", subject, status, describeRetrieve(re))
}

func describeRetrieve(re *oauth2.RetrieveError) string {
	s := re.ErrorCode
	if re.ErrorDescription != "" {
		s += ": " + re.ErrorDescription
	}
	if s == "" {
		s = strings.TrimSpace(string(re.Body))
		if len(s) > 200 {
			s = s[:200]
		}
	}
	return s
}
