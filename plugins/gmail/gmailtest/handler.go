package gmailtest

import (
	"net"
	"net/http"
	"strings"
	"time"
)

// OAuth scopes (target-apis.md §1.1; the per-method lists are those of the discovery documents gmail-api.json
// and admin-api.json).
const (
	ScopeMail                  = "https://mail.google.com/"
	ScopeGmailInsert           = "https://www.googleapis.com/auth/gmail.insert"
	ScopeGmailLabels           = "https://www.googleapis.com/auth/gmail.labels"
	ScopeGmailModify           = "https://www.googleapis.com/auth/gmail.modify"
	ScopeGmailReadonly         = "https://www.googleapis.com/auth/gmail.readonly"
	ScopeGmailMetadata         = "https://www.googleapis.com/auth/gmail.metadata"
	ScopeGmailMessages         = "https://www.googleapis.com/auth/gmail.messages"
	ScopeGmailMessagesReadonly = "https://www.googleapis.com/auth/gmail.messages.readonly"
	ScopeGmailCompose          = "https://www.googleapis.com/auth/gmail.compose"
	ScopeDirectoryUserReadonly = "https://www.googleapis.com/auth/admin.directory.user.readonly"
	ScopeDirectoryUser         = "https://www.googleapis.com/auth/admin.directory.user"
)

const authPrefix = "https://www.googleapis.com/auth/"

var (
	scopesInsert   = []string{ScopeMail, ScopeGmailInsert, ScopeGmailModify}
	scopesRead     = []string{ScopeMail, ScopeGmailMessages, ScopeGmailMessagesReadonly, ScopeGmailMetadata, ScopeGmailModify, ScopeGmailReadonly}
	scopesModify   = []string{ScopeMail, ScopeGmailMessages, authPrefix + "gmail.messages.delete", authPrefix + "gmail.messages.modify", ScopeGmailModify}
	scopesLabelsRO = []string{ScopeMail, ScopeGmailLabels, authPrefix + "gmail.labels.readonly", ScopeGmailMetadata, ScopeGmailModify, ScopeGmailReadonly}
	scopesLabelsRW = []string{ScopeMail, ScopeGmailLabels, ScopeGmailModify}
	scopesCreate   = []string{ScopeMail, ScopeGmailLabels, authPrefix + "gmail.labels.create", ScopeGmailModify}
	scopesProfile  = []string{ScopeMail, ScopeGmailCompose, ScopeGmailMetadata, ScopeGmailModify, ScopeGmailReadonly}
	scopesHistory  = []string{ScopeMail, ScopeGmailMessages, ScopeGmailMessagesReadonly, ScopeGmailMetadata, ScopeGmailModify, ScopeGmailReadonly}
	scopesDir      = []string{ScopeDirectoryUser, ScopeDirectoryUserReadonly, "https://www.googleapis.com/auth/cloud-platform"}
)

type routeKind int

const (
	kindGmail routeKind = iota
	kindDirectory
	kindUploadChunk
)

// route describes one API method: its discovery name, quota cost (§1.5 and the quota reference page), and the
// scopes that allow it.
type route struct {
	op     string
	cost   int
	scopes []string
	kind   routeKind
	h      func(c *call) *apiError
}

// call is one request being served.
type call struct {
	s         *Server
	w         *recorder
	r         *http.Request
	rt        *route
	tok       *token
	user      *user
	email     string // the addressed mailbox
	cred      string
	up        *upload // the resumable session of a chunk request
	committed bool    // a message write was stored (for ResetAfterCommit faults)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.serveToken)
	handle := func(pattern string, rt *route) { mux.Handle(pattern, s.endpoint(rt)) }

	imp := &route{op: "messages.import", cost: 25, scopes: scopesInsert, h: (*call).importMessage}
	ins := &route{op: "messages.insert", cost: 25, scopes: scopesInsert, h: (*call).importMessage}
	// Resumable sessions: the Location answers PUT (the documented protocol) and POST (what the Go client's
	// gensupport sends) with ?upload_id=.
	chunk := s.endpoint(&route{op: "upload", kind: kindUploadChunk, h: (*call).uploadChunk})
	orChunk := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Has("upload_id") {
				chunk.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	for _, prefix := range []string{"/upload", "/resumable/upload"} {
		for _, p := range []struct {
			path string
			rt   *route
		}{{"/messages/import", imp}, {"/messages", ins}} {
			pattern := prefix + "/gmail/v1/users/{userId}" + p.path
			mux.Handle("POST "+pattern, orChunk(s.endpoint(p.rt)))
			mux.Handle("PUT "+pattern, chunk)
		}
	}
	handle("POST /gmail/v1/users/{userId}/messages/import", imp)
	handle("POST /gmail/v1/users/{userId}/messages", ins)
	handle("GET /gmail/v1/users/{userId}/messages", &route{op: "messages.list", cost: 5, scopes: scopesRead, h: (*call).listMessages})
	handle("GET /gmail/v1/users/{userId}/messages/{id}", &route{op: "messages.get", cost: 5, scopes: scopesRead, h: (*call).getMessage})
	handle("POST /gmail/v1/users/{userId}/messages/{id}/modify", &route{op: "messages.modify", cost: 5, scopes: scopesModify, h: (*call).modifyMessage})
	handle("POST /gmail/v1/users/{userId}/messages/batchModify", &route{op: "messages.batchModify", cost: 50, scopes: scopesModify, h: (*call).batchModify})
	handle("GET /gmail/v1/users/{userId}/labels", &route{op: "labels.list", cost: 1, scopes: scopesLabelsRO, h: (*call).listLabels})
	handle("POST /gmail/v1/users/{userId}/labels", &route{op: "labels.create", cost: 5, scopes: scopesCreate, h: (*call).createLabel})
	handle("GET /gmail/v1/users/{userId}/labels/{id}", &route{op: "labels.get", cost: 1, scopes: scopesLabelsRO, h: (*call).getLabel})
	handle("PATCH /gmail/v1/users/{userId}/labels/{id}", &route{op: "labels.patch", cost: 5, scopes: scopesLabelsRW, h: (*call).patchLabel})
	handle("PUT /gmail/v1/users/{userId}/labels/{id}", &route{op: "labels.update", cost: 5, scopes: scopesLabelsRW, h: (*call).patchLabel})
	handle("DELETE /gmail/v1/users/{userId}/labels/{id}", &route{op: "labels.delete", cost: 5, scopes: scopesLabelsRW, h: (*call).deleteLabel})
	handle("GET /gmail/v1/users/{userId}/profile", &route{op: "getProfile", cost: 1, scopes: scopesProfile, h: (*call).getProfile})
	handle("GET /gmail/v1/users/{userId}/history", &route{op: "history.list", cost: 2, scopes: scopesHistory, h: (*call).listHistory})
	handle("GET /admin/directory/v1/users", &route{op: "directory.users.list", kind: kindDirectory, scopes: scopesDir, h: (*call).listDirectoryUsers})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.t.Errorf("gmailtest: unemulated request %s %s", r.Method, r.URL.Path)
		writeAPIError(w, newAPIError(404, "notFound", "Not Found"))
	})
	return mux
}

// endpoint wraps a method with what every call goes through, in Google's order as far as it shows from outside:
// authentication and scopes, then (injected faults), the concurrency cap, the quota buckets, the method itself;
// the request log and in-flight counters around it all.
func (s *Server) endpoint(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		entry := Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Op: rt.op}
		c := &call{s: s, w: &recorder{header: http.Header{}}, r: r, rt: rt}
		reset := false
		defer func() {
			entry.Duration = time.Since(start)
			entry.User, entry.Credential = c.email, c.cred
			if !reset {
				entry.Status = c.w.code
				c.w.flush(w)
			}
			s.mu.Lock()
			s.log = append(s.log, entry)
			s.mu.Unlock()
			if s.cfg.verbose {
				s.t.Logf("gmailtest: %s %s?%s user=%s → %d %s (%s)", entry.Method, entry.Path, entry.Query, entry.User, entry.Status, entry.Fault, entry.Duration)
			}
		}()

		if err := c.authenticate(); err != nil {
			writeAPIError(c.w, err)
			return
		}
		done := s.enter(c.email, c.cred)
		defer done()

		if rule := s.matchFault(c, false); rule != nil {
			entry.Fault = rule.describe()
			if rule.Delay > 0 {
				select {
				case <-time.After(rule.Delay):
				case <-r.Context().Done():
				}
			}
			if rule.Reset {
				reset = true
				hijackAndReset(w)
				return
			}
			if rule.Status != 0 {
				writeAPIError(c.w, rule.apiError())
				return
			}
		}
		if err := s.admit(c); err != nil {
			writeAPIError(c.w, err)
			return
		}
		if err := rt.h(c); err != nil {
			writeAPIError(c.w, err)
			return
		}
		if c.committed {
			if rule := s.matchFault(c, true); rule != nil {
				entry.Fault = rule.describe()
				reset = true
				hijackAndReset(w)
			}
		}
	})
}

// enter counts a request in flight for its user and credential; the returned func leaves.
func (s *Server) enter(user, cred string) func() {
	user = strings.ToLower(user)
	s.mu.Lock()
	s.inflight[user]++
	s.peak[user] = max(s.peak[user], s.inflight[user])
	s.credFly[cred]++
	s.credPeak[cred] = max(s.credPeak[cred], s.credFly[cred])
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.inflight[user]--
		s.credFly[cred]--
		s.mu.Unlock()
	}
}

// hijackAndReset closes the TCP connection without a response, with SO_LINGER 0 so the peer sees a reset
// (target-apis.md §5 cross-cutting: "a connection reset after the write is committed").
func hijackAndReset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("gmailtest: ResponseWriter cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
