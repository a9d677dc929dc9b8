package imapconn_test

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/ternmail/tern/sdk/connector"
)

// memServer is go-imap's in-memory IMAP server on a loopback port, for the
// cases Dovecot cannot show: PERMANENTFLAGS without \*, no CONDSTORE, an
// APPENDLIMIT, refusals with chosen response codes. Its sessions can be
// bent with hooks.
type memServer struct {
	addr string
	user *imapmemserver.User

	mu sync.Mutex
	// permanentFlags, if set, replaces what SELECT reports.
	permanentFlags []imap.Flag
	// appendErr, if set, refuses every APPEND with it.
	appendErr *imap.Error
	// appendLimit, if set, is advertised as APPENDLIMIT=n and enforced.
	appendLimit uint32
}

const memUser, memPassword = "alice", "m3m-pässword"

func newMemServer(t *testing.T, caps imap.CapSet) *memServer {
	return newMemServerLimit(t, caps, 0)
}

func newMemServerLimit(t *testing.T, caps imap.CapSet, appendLimit uint32) *memServer {
	t.Helper()
	ms := &memServer{user: imapmemserver.NewUser(memUser, memPassword), appendLimit: appendLimit}
	if err := ms.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem := imapmemserver.New()
	mem.AddUser(ms.user)
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapESearch: {}, imap.CapLiteralPlus: {}}
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			hs := &hookedSession{Session: mem.NewSession(), ms: ms}
			if ms.appendLimit > 0 {
				return &limitedSession{hs}, nil, nil
			}
			return hs, nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ms.addr = ln.Addr().String()
	return ms
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// request returns an open request for the server's user, in plaintext.
func (ms *memServer) request(extra map[string]any) *connector.OpenRequest {
	host, port, _ := net.SplitHostPort(ms.addr)
	s := map[string]any{"host": host, "port": atoi(port), "tls": "none", "allow_plaintext": true}
	for k, v := range extra {
		s[k] = v
	}
	return &connector.OpenRequest{
		Settings:   mustJSON(s),
		User:       memUser,
		Credential: connector.Credential{Mode: "password", Secret: memPassword},
	}
}

// client returns a raw go-imap client logged in to the server.
func (ms *memServer) client(t *testing.T) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(ms.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(memUser, memPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

type hookedSession struct {
	imapserver.Session
	ms *memServer
}

func (s *hookedSession) Select(name string, opts *imap.SelectOptions) (*imap.SelectData, error) {
	d, err := s.Session.Select(name, opts)
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	if d != nil && s.ms.permanentFlags != nil {
		d.PermanentFlags = s.ms.permanentFlags
	}
	return d, err
}

// limitedSession advertises and enforces an APPENDLIMIT.
type limitedSession struct{ *hookedSession }

func (s *limitedSession) AppendLimit() uint32 { return s.ms.appendLimit }

func (s *hookedSession) Append(mailbox string, r imap.LiteralReader, opts *imap.AppendOptions) (*imap.AppendData, error) {
	s.ms.mu.Lock()
	appendErr := s.ms.appendErr
	s.ms.mu.Unlock()
	if appendErr != nil {
		return nil, appendErr
	}
	return s.Session.Append(mailbox, r, opts)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func hasFlag(flags []imap.Flag, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), f) {
			return true
		}
	}
	return false
}
