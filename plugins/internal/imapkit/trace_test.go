package imapkit

import (
	"context"
	"encoding/base64"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ternmail/tern/sdk/connector"
)

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu    sync.Mutex
	level slog.Level
	lines []string
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }
func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// feedChunks feeds s in random pieces, as TCP would deliver it.
func feedChunks(sc *lineScanner, s string, rnd *rand.Rand) {
	for len(s) > 0 {
		n := 1 + rnd.IntN(min(len(s), 17))
		sc.feed([]byte(s[:n]))
		s = s[n:]
	}
}

const secret = `s3cr3t"pässwörd`

// A session transcript: what the client sends and what the server answers,
// in order, with credentials in every shape the client library uses.
var transcript = []struct{ dir, data string }{
	{"S", "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"},
	{"C", "T1 LOGIN alice \"" + secret + "\"\r\n"},
	{"S", "T1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"},
	// Non-ASCII forces literals, for the user name and the password.
	{"C", "T2 LOGIN {5}\r\n"},
	{"S", "+ OK\r\n"},
	{"C", "alice {" + itoa(len(secret)) + "}\r\n"},
	{"S", "+ OK\r\n"},
	{"C", secret + "\r\n"},
	{"S", "T2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"},
	// SASL-IR: the initial response on the command line.
	{"C", "T3 AUTHENTICATE PLAIN AGFsaWNlAHMzY3IzdCJww6Rzc3fDtnJk\r\n"},
	{"S", "T3 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"},
	// No SASL-IR: the response follows a challenge.
	{"C", "T4 AUTHENTICATE PLAIN\r\n"},
	{"S", "+ \r\n"},
	{"C", "AGFsaWNlAHMzY3IzdCJww6Rzc3fDtnJk\r\n"},
	{"S", "T4 OK Logged in\r\n"},
	{"C", "T5 APPEND INBOX (\\Seen) {20+}\r\nSubject: body text\r\n\r\n"},
	{"S", "T5 OK [APPENDUID 1 1] Append completed.\r\n"},
	{"C", "T6 UID FETCH 1 (UID BODY.PEEK[])\r\n"},
	{"S", "* 1 FETCH (UID 1 BODY[] {20}\r\nSubject: body text\r\n)\r\nT6 OK Fetch completed.\r\n"},
}

func TestTraceRedactsCredentials(t *testing.T) {
	for seed := range uint64(50) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		for _, level := range []slog.Level{connector.LevelTrace, connector.LevelTraceData} {
			rec := &recorder{level: level}
			tr := newTracer(slog.New(rec), "imap-test")
			w := newWireConn(nil, 0, tr)
			for _, step := range transcript {
				if step.dir == "C" {
					feedChunks(w.client, step.data, rnd)
				} else {
					feedChunks(w.server, step.data, rnd)
				}
			}
			log := rec.all()
			for _, leak := range []string{secret, "AGFsaWNlAHMzY3IzdCJww6Rzc3fDtnJk", "s3cr3t"} {
				if strings.Contains(log, leak) {
					t.Fatalf("seed %d, level %v: trace shows %q:\n%s", seed, level, leak, log)
				}
			}
			for _, want := range []string{
				"T1 LOGIN " + connector.Redacted,
				"T3 AUTHENTICATE PLAIN " + connector.Redacted,
				"T4 AUTHENTICATE PLAIN",
				"T4 OK Logged in",
				"T5 APPEND INBOX (\\Seen) {20+}",
				"* 1 FETCH (UID 1 BODY[] {20}",
			} {
				if !strings.Contains(log, want) {
					t.Fatalf("seed %d: trace lacks %q:\n%s", seed, want, log)
				}
			}
			// Literal contents come in pieces, as fed.
			var lit strings.Builder
			for _, l := range rec.lines {
				if _, data, ok := strings.Cut(l, " imap literal conn=imap-test dir=S line="); ok {
					lit.WriteString(data)
				}
			}
			hasBody := strings.Contains(lit.String(), "Subject: body text")
			if hasBody != (level == connector.LevelTraceData) {
				t.Fatalf("seed %d, level %v: message contents in trace = %v", seed, level, hasBody)
			}
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestNoTracerWithoutTraceLevel(t *testing.T) {
	if tr := newTracer(slog.New(&recorder{level: slog.LevelDebug}), "x"); tr != nil {
		t.Fatal("tracer at debug level")
	}
}

// scanOnce returns the lines and literals a scanner reports for s fed in
// pieces.
func scanOnce(s string, rnd *rand.Rand) []string {
	var out []string
	sc := &lineScanner{maxLine: 64}
	sc.onLine = func(line []byte, size int, lit int64) {
		out = append(out, "L"+string(line)+"|"+itoa(size)+"|"+itoa(int(lit)))
	}
	sc.onLit = func(b []byte) {
		if n := len(out); n > 0 && strings.HasPrefix(out[n-1], "D") {
			out[n-1] += string(b)
			return
		}
		out = append(out, "D"+string(b))
	}
	if rnd == nil {
		sc.feed([]byte(s))
	} else {
		feedChunks(sc, s, rnd)
	}
	return out
}

func FuzzLineScanner(f *testing.F) {
	for _, step := range transcript {
		f.Add(step.data, uint64(1))
	}
	f.Add("* 1 FETCH (BODY[] {5}\r\nab\r\nc)\r\n* BYE bye\r\n", uint64(7))
	f.Add("* 1 FETCH (BINARY[] ~{3}\r\n\x00\x01\x02)\r\n", uint64(3))
	f.Add("A {99999999999999999999}\r\n", uint64(2))
	f.Fuzz(func(t *testing.T, s string, seed uint64) {
		whole := scanOnce(s, nil)
		pieces := scanOnce(s, rand.New(rand.NewPCG(seed, 2)))
		if strings.Join(whole, "\x00") != strings.Join(pieces, "\x00") {
			t.Fatalf("scanning %q whole gives %q, in pieces %q", s, whole, pieces)
		}
	})
}

func TestLiteralSize(t *testing.T) {
	cases := map[string]int64{
		"* 1 FETCH (BODY[] {123}": 123, "A APPEND X {5+}": 5, "A LOGIN {3-}": 3, "~{7}": 7,
		"{}": 0, "{12a}": 0, "no literal": 0, "x}": 0, "{1234567890123456789}": 0,
	}
	for in, want := range cases {
		if got := literalSize([]byte(in)); got != want {
			t.Errorf("literalSize(%q) = %d, want %d", in, got, want)
		}
	}
}

// The administrator modes' logins are redacted too: an authorization
// identity in a SASL PLAIN answer to a challenge, a master-user login
// string with its password as literals, and the LOGIN before PROXYAUTH
// (whose user name, not a secret, stays visible).
func TestTraceRedactsAdminLogins(t *testing.T) {
	const pw = `adm!n"pässword`
	authzid := base64.StdEncoding.EncodeToString([]byte("alice\x00admin\x00" + pw))
	steps := []struct{ dir, data string }{
		{"S", "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"},
		{"C", "A1 AUTHENTICATE PLAIN\r\n"},
		{"S", "+ \r\n"},
		{"C", authzid + "\r\n"},
		{"S", "A1 NO [AUTHORIZATIONFAILED] Authorization failed\r\n"},
		{"C", "A2 LOGIN {11}\r\n"},
		{"S", "+ OK\r\n"},
		{"C", "alice*admin {" + itoa(len(pw)) + "}\r\n"},
		{"S", "+ OK\r\n"},
		{"C", pw + "\r\n"},
		{"S", "A2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"},
		{"C", "A3 LOGIN \"admin\" \"adm!n\\\"pässword\"\r\n"},
		{"S", "A3 OK logged in\r\n"},
		{"C", "A4 PROXYAUTH \"alice\"\r\n"},
		{"S", "A4 OK proxied\r\n"},
	}
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 2))
		rec := &recorder{level: connector.LevelTraceData}
		w := newWireConn(nil, 0, newTracer(slog.New(rec), "imap-test"))
		for _, step := range steps {
			if step.dir == "C" {
				feedChunks(w.client, step.data, rnd)
			} else {
				feedChunks(w.server, step.data, rnd)
			}
		}
		log := rec.all()
		for _, leak := range []string{pw, "pässword", authzid, "adm!n"} {
			if strings.Contains(log, leak) {
				t.Fatalf("seed %d: trace shows %q:\n%s", seed, leak, log)
			}
		}
		for _, want := range []string{"A1 AUTHENTICATE PLAIN", "A2 LOGIN " + connector.Redacted, "A3 LOGIN " + connector.Redacted, `A4 PROXYAUTH "alice"`, "A4 OK proxied"} {
			if !strings.Contains(log, want) {
				t.Fatalf("seed %d: trace lacks %q:\n%s", seed, want, log)
			}
		}
	}
}
