package gmailtest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// MaxMessageSize is the media limit of users.messages.import and insert: maxSize 52428800 in the discovery
// document (target-apis.md §1.2, §5.1.2).
const MaxMessageSize = 52428800

// Server is a Gmail API, Admin SDK Directory and OAuth2 token emulator on an httptest.Server.
// All its methods are safe for concurrent use.
type Server struct {
	t    testing.TB
	cfg  config
	http *httptest.Server

	mu        sync.Mutex
	accounts  map[string]*ServiceAccount // by client_email
	tokens    map[string]*token
	users     map[string]*user // by lower-case email
	uploads   map[string]*upload
	log       []Request
	inflight  map[string]int // by user
	peak      map[string]int
	credFly   map[string]int // by credential (service account email or "direct")
	credPeak  map[string]int
	faults    []*FaultRule
	quota     quotaState
	idSeq     uint64
	tokenSeq  uint64
	uploadSeq uint64
}

type config struct {
	clock          Clock
	userUnits      int
	userWindow     time.Duration
	projectUnits   int
	projectWindow  time.Duration
	dailyUnits     int
	userConc       int
	maxSize        int64
	spamMarkers    [][]byte
	tokenLifetime  time.Duration
	reserved       []string
	verbose        bool
	concRetryAfter time.Duration
}

// Option configures a Server.
type Option func(*config)

// WithClock replaces the default VirtualClock (which starts at 2026-01-05 09:00 UTC).
func WithClock(c Clock) Option { return func(cfg *config) { cfg.clock = c } }

// WithUserQuota sets the per-user bucket: units per window (default 15,000 per minute, §1.5). 0 disables it.
func WithUserQuota(units int, window time.Duration) Option {
	return func(cfg *config) { cfg.userUnits, cfg.userWindow = units, window }
}

// WithProjectQuota sets the per-project bucket (default 1,200,000 units per minute, §1.5). 0 disables it.
func WithProjectQuota(units int, window time.Duration) Option {
	return func(cfg *config) { cfg.projectUnits, cfg.projectWindow = units, window }
}

// WithDailyLimit sets a per-project daily budget of units (per virtual UTC day); over it → 403
// dailyLimitExceeded (§1.5). Off by default.
func WithDailyLimit(units int) Option { return func(cfg *config) { cfg.dailyUnits = units } }

// WithUserConcurrency caps the concurrent requests per user; the request over the cap gets 429
// "Too many concurrent requests for user" with Retry-After (§1.5, §5.1.6). Off by default.
func WithUserConcurrency(n int) Option { return func(cfg *config) { cfg.userConc = n } }

// WithMaxMessageSize lowers (or raises) the media size limit (default MaxMessageSize), so that tests of the
// 413 path need not move 50 MiB.
func WithMaxMessageSize(n int64) Option { return func(cfg *config) { cfg.maxSize = n } }

// WithSpamMarker makes import's classification put a message in SPAM when neverMarkSpam is false and the raw
// bytes contain marker (§1.2 "delivery scanning and classification", §5.1.5).
func WithSpamMarker(marker string) Option {
	return func(cfg *config) { cfg.spamMarkers = append(cfg.spamMarkers, []byte(marker)) }
}

// WithTokenLifetime sets the lifetime of issued access tokens on the emulator's clock (default 1 hour).
func WithTokenLifetime(d time.Duration) Option { return func(cfg *config) { cfg.tokenLifetime = d } }

// WithReservedLabelNames adds names (compared case-insensitively) that labels.create refuses, such as the
// localized system names of §1.3 ("Enviado").
func WithReservedLabelNames(names ...string) Option {
	return func(cfg *config) { cfg.reserved = append(cfg.reserved, names...) }
}

// WithVerbose logs every request with t.Logf.
func WithVerbose() Option { return func(cfg *config) { cfg.verbose = true } }

// DefaultStart is where the default VirtualClock starts.
var DefaultStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// New starts an emulator; it is closed by t.Cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{
		clock:          NewVirtualClock(DefaultStart),
		userUnits:      15000,
		userWindow:     time.Minute,
		projectUnits:   1200000,
		projectWindow:  time.Minute,
		maxSize:        MaxMessageSize,
		tokenLifetime:  time.Hour,
		concRetryAfter: time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		t:        t,
		cfg:      cfg,
		accounts: map[string]*ServiceAccount{},
		tokens:   map[string]*token{},
		users:    map[string]*user{},
		uploads:  map[string]*upload{},
		inflight: map[string]int{},
		peak:     map[string]int{},
		credFly:  map[string]int{},
		credPeak: map[string]int{},
		idSeq:    0x19a0000000000000,
	}
	s.quota.init()
	s.http = httptest.NewServer(s.routes())
	t.Cleanup(s.http.Close)
	return s
}

// URL is the server's base URL without a trailing slash (http://127.0.0.1:port).
func (s *Server) URL() string { return s.http.URL }

// Endpoint is the value for option.WithEndpoint of google.golang.org/api: URL() + "/".
func (s *Server) Endpoint() string { return s.http.URL + "/" }

// TokenURL is the OAuth2 token endpoint (the token_uri of the service-account keys).
func (s *Server) TokenURL() string { return s.http.URL + "/token" }

// Clock returns the server's clock.
func (s *Server) Clock() Clock { return s.cfg.clock }

// Advance moves the virtual clock; it fails the test if the server does not run on a *VirtualClock.
func (s *Server) Advance(d time.Duration) {
	s.t.Helper()
	vc, ok := s.cfg.clock.(*VirtualClock)
	if !ok {
		s.t.Fatalf("gmailtest: Advance needs a *VirtualClock, the server has %T", s.cfg.clock)
	}
	vc.Advance(d)
}

func (s *Server) now() time.Time { return s.cfg.clock.Now() }

// Request is one entry of the request log.
type Request struct {
	Time       time.Time // on the server's clock, at arrival
	Method     string
	Path       string
	Query      string
	Op         string // "messages.import", "labels.create", "token", … (the method name of the discovery document)
	User       string // the mailbox addressed ({userId} resolved, or the token subject)
	Credential string // the service account's client_email ("direct" for Server.Token tokens)
	Status     int    // 0 when the connection was reset without a response
	Fault      string // the injected fault, if any
	Duration   time.Duration
}

// Requests returns a copy of the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// RequestsFor returns the logged requests of one op ("messages.import"), in order.
func (s *Server) RequestsFor(op string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// ResetLog empties the request log and the in-flight peaks.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
	s.peak = map[string]int{}
	s.credPeak = map[string]int{}
}

// InFlight is the number of requests for user being served now.
func (s *Server) InFlight(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight[strings.ToLower(user)]
}

// MaxInFlight is the highest number of concurrent requests seen for user.
func (s *Server) MaxInFlight(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak[strings.ToLower(user)]
}

// CredentialInFlight is the number of requests being served now for a credential (client_email).
func (s *Server) CredentialInFlight(cred string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.credFly[cred]
}

// MaxCredentialInFlight is the highest number of concurrent requests seen for a credential.
func (s *Server) MaxCredentialInFlight(cred string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.credPeak[cred]
}

// recorder buffers a response so that the fault layer can still decide to drop it (reset after commit).
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(p)
}
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) flush(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	if r.code == 0 {
		r.code = 200
	}
	w.WriteHeader(r.code)
	_, _ = w.Write(r.body.Bytes())
}
