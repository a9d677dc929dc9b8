package imapkit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/sdk/connector"
)

func TestEncodeUTF7(t *testing.T) {
	// Computed independently (UTF-16BE, base64 with "," for "/"); the
	// last one is RFC 3501's own example.
	for in, want := range map[string]string{
		"INBOX":              "INBOX",
		"Entwürfe":           "Entw&APw-rfe",
		"日本語":                "&ZeVnLIqe-",
		"Входящие/Отчёты":    "&BBIERQQ+BDQETwRJBDgENQ-/&BB4EQgRHBFEEQgRL-",
		"Projects & Plans":   "Projects &- Plans",
		"a\tb":               "a&AAk-b",
		"😀 smile":            "&2D3eAA- smile",
		"~peter/mail/台北/日本語": "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	} {
		if got := encodeUTF7(in); got != want {
			t.Errorf("encodeUTF7(%q) = %q, want %q", in, got, want)
		}
	}
	if got := encodeMailbox("inbox"); got != "INBOX" {
		t.Errorf("encodeMailbox(inbox) = %q", got)
	}
	if got := encodeMailbox(`a"b\c`); got != `"a\"b\\c"` {
		t.Errorf("encodeMailbox quotes %q", got)
	}
}

func TestParseResponse(t *testing.T) {
	for _, tc := range []struct {
		line string
		want response
	}{
		{"* OK [CAPABILITY IMAP4rev1 LITERAL+] Dovecot ready.", response{tag: "*", kind: "OK", code: "CAPABILITY", args: "IMAP4rev1 LITERAL+", text: "Dovecot ready."}},
		{"A3 OK [APPENDUID 1795693330 5:7] Append completed.", response{tag: "A3", kind: "OK", code: "APPENDUID", args: "1795693330 5:7", text: "Append completed."}},
		{"A4 NO [TRYCREATE] Mailbox doesn't exist: Nope", response{tag: "A4", kind: "NO", code: "TRYCREATE", text: "Mailbox doesn't exist: Nope"}},
		{"A5 no [overquota] Quota exceeded", response{tag: "A5", kind: "NO", code: "OVERQUOTA", text: "Quota exceeded"}},
		{"A6 BAD", response{tag: "A6", kind: "BAD"}},
		{"* 12 EXISTS", response{tag: "*", num: 12, kind: "EXISTS"}},
		{`* FLAGS (\Answered \Seen)`, response{tag: "*", kind: "FLAGS", rest: `(\Answered \Seen)`}},
		{`* OK [PERMANENTFLAGS (\Seen \*)] Flags permitted.`, response{tag: "*", kind: "OK", code: "PERMANENTFLAGS", args: `(\Seen \*)`, text: "Flags permitted."}},
		{"+ OK", response{tag: "+", text: "OK"}},
		{"+", response{tag: "+"}},
		{"* BYE Server shutting down", response{tag: "*", kind: "BYE", text: "Server shutting down"}},
	} {
		got, err := parseResponse(tc.line)
		if err != nil || *got != tc.want {
			t.Errorf("parseResponse(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "A1", "* ", "A1 OK [UNTERMINATED code", "* 99999999999 EXISTS"} {
		if _, err := parseResponse(bad); !errors.Is(err, errProtocol) {
			t.Errorf("parseResponse(%q): %v, want a protocol error", bad, err)
		}
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{"* OK [CAPABILITY IMAP4rev1] x", "A1 OK [APPENDUID 1 1:3] done", "+ go", "* 3 EXISTS", "* LIST () \"/\" {3}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := parseResponse(s); err == nil {
			parseAppendUID(r, 3)
			parseFlagList(r.args)
		}
		endLiteral([]byte(s))
	})
}

func TestExpandUIDSet(t *testing.T) {
	for _, tc := range []struct {
		set  string
		n    int
		want []imap.UID
	}{
		{"5", 1, []imap.UID{5}},
		{"5:7", 3, []imap.UID{5, 6, 7}},
		{"7:5", 3, []imap.UID{5, 6, 7}},
		{"3,5:6,9", 4, []imap.UID{3, 5, 6, 9}},
		{"5:7", 2, nil},
		{"5:7", 4, nil},
		{"1:4294967295", 3, nil},
		{"0", 1, nil},
		{"x", 1, nil},
		{"", 1, nil},
	} {
		if got := expandUIDSet(tc.set, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("expandUIDSet(%q, %d) = %v, want %v", tc.set, tc.n, got, tc.want)
		}
	}
	r, _ := parseResponse("A1 OK [APPENDUID 38505 3955:3956] APPEND completed")
	if got := parseAppendUID(r, 2); got.UIDValidity != 38505 || !slices.Equal(got.UIDs, []imap.UID{3955, 3956}) {
		t.Errorf("parseAppendUID = %+v", got)
	}
	r, _ = parseResponse("A1 OK APPEND completed")
	if got := parseAppendUID(r, 2); got.UIDs != nil {
		t.Errorf("parseAppendUID without UIDPLUS = %+v", got)
	}
}

// appendUser returns the user an Options logs in as.
func appendUser(o *Options) string { return o.Login.(*PasswordLogin).Username }

// stored returns the messages of mailbox as the server serves them (via
// go-imap, the referee): UID → SHA-256 of BODY[], flags and INTERNALDATE.
type storedMsg struct {
	sum   [32]byte
	flags []string
	date  time.Time
}

func stored(t *testing.T, user, mailbox string) map[imap.UID]storedMsg {
	t.Helper()
	c := testserver.Dial(t, testserver.DovecotDst, user)
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("select %s: %v", mailbox, err)
	}
	msgs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatalf("fetch %s: %v", mailbox, err)
	}
	out := make(map[imap.UID]storedMsg)
	for _, m := range msgs {
		var fl []string
		for _, f := range m.Flags {
			if f != `\Recent` {
				fl = append(fl, string(f))
			}
		}
		slices.Sort(fl)
		out[m.UID] = storedMsg{sum: sha256.Sum256(m.BodySection[0].Bytes), flags: fl, date: m.InternalDate}
	}
	return out
}

func msg(subject string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: a@example.org\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\n", subject, strings.ReplaceAll(subject, " ", "-"))
	for b.Len() < size-2 {
		b.WriteString("line of text\r\n"[:min(14, size-2-b.Len())])
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// Against Dovecot in every TLS mode and with both login methods: one
// MULTIAPPEND stores every message byte for byte with its flags and date,
// and APPENDUID gives their UIDs in order.
func TestAppendConnDovecot(t *testing.T) {
	for _, tc := range []struct {
		mode TLSMode
		mech Mechanism
	}{{TLSImplicit, MechAuto}, {TLSStartTLS, MechPlain}, {TLSNone, MechLogin}} {
		t.Run(string(tc.mode)+"-"+string(tc.mech), func(t *testing.T) {
			o := dovecotOptions(t, tc.mode)
			o.Login.(*PasswordLogin).Mechanism = tc.mech
			c, err := DialAppend(ctxFor(t), o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, cp := range []imap.Cap{imap.CapMultiAppend, imap.CapLiteralPlus, imap.CapUIDPlus} {
				if !c.Caps().Has(cp) {
					t.Fatalf("caps after login lack %s: %v", cp, c.Caps())
				}
			}
			sd, err := c.Select(ctxFor(t), "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(sd.PermanentFlags, imap.FlagWildcard) || sd.UIDValidity == 0 || sd.UIDNext == 0 {
				t.Fatalf("select data %+v", sd)
			}
			if m, _ := c.Selected(); m != "INBOX" {
				t.Fatalf("Selected() = %q", m)
			}
			date := time.Date(2019, 3, 4, 5, 6, 7, 0, time.FixedZone("", -7*3600))
			bodies := [][]byte{msg("one", 200), msg("two", 5000), msg("three", 300<<10)}
			flags := [][]imap.Flag{{imap.FlagSeen, "$Forwarded"}, nil, {imap.FlagFlagged}}
			ma := c.MultiAppend(ctxFor(t), "INBOX")
			for i, b := range bodies {
				d := date.Add(time.Duration(i) * time.Hour)
				if i == 1 {
					d = time.Time{}
				}
				if err := ma.Add(flags[i], d, int64(len(b)), bytes.NewReader(b)); err != nil {
					t.Fatalf("Add %d: %v", i, err)
				}
			}
			res, err := ma.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if len(res.UIDs) != 3 || res.UIDValidity != sd.UIDValidity || !ma.Sent() || ma.Len() != 3 {
				t.Fatalf("Finish = %+v", res)
			}
			got := stored(t, appendUser(o), "INBOX")
			if len(got) != 3 {
				t.Fatalf("%d messages stored", len(got))
			}
			for i, uid := range res.UIDs {
				m, ok := got[uid]
				if !ok || m.sum != sha256.Sum256(bodies[i]) {
					t.Errorf("message %d: UID %d stored %v with another body", i, uid, ok)
				}
				var want []string
				for _, f := range flags[i] {
					want = append(want, string(f))
				}
				slices.Sort(want)
				if !slices.Equal(m.flags, want) {
					t.Errorf("message %d: flags %q, want %q", i, m.flags, want)
				}
				if i != 1 && !m.date.Equal(date.Add(time.Duration(i)*time.Hour)) {
					t.Errorf("message %d: date %v", i, m.date)
				}
			}
			// The connection goes on.
			if err := c.Noop(ctxFor(t)); err != nil || c.Broken() {
				t.Fatalf("NOOP after the append: %v", err)
			}
			// An empty MULTIAPPEND sends nothing.
			if res, err := c.MultiAppend(ctxFor(t), "INBOX").Finish(); err != nil || res.UIDs != nil {
				t.Fatalf("empty MULTIAPPEND: %+v, %v", res, err)
			}
		})
	}
}

// A refused MULTIAPPEND stores nothing and is classified; the connection
// stays usable. With synchronizing literals the refusal comes instead of
// the first go-ahead and ends the command at once.
func TestMultiAppendRefused(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			rec := &recorder{level: connector.LevelTrace}
			o := dovecotOptions(t, TLSImplicit)
			o.Logger = slog.New(rec)
			c, err := DialAppend(ctxFor(t), o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if sync {
				delete(c.caps, imap.CapLiteralPlus)
				delete(c.caps, imap.CapLiteralMinus)
			}
			ma := c.MultiAppend(ctxFor(t), "Nonexistent")
			m := msg("refused", 8000)
			err = ma.Add(nil, time.Time{}, int64(len(m)), bytes.NewReader(m))
			if sync {
				if !errors.Is(err, connector.ErrNotFound) {
					t.Fatalf("first Add with a synchronizing literal: %v, want the refusal", err)
				}
				if err2 := ma.Add(nil, time.Time{}, int64(len(m)), bytes.NewReader(m)); err2 != err {
					t.Fatalf("Add after the refusal: %v", err2)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if err := ma.Add(nil, time.Time{}, int64(len(m)), bytes.NewReader(m)); err != nil {
				t.Fatal(err)
			}
			_, err = ma.Finish()
			if !errors.Is(err, connector.ErrNotFound) {
				t.Fatalf("Finish: %v, want ErrNotFound", err)
			}
			if r := Response(err); r == nil || r.Code != imap.ResponseCodeTryCreate {
				t.Fatalf("response %v, want TRYCREATE", r)
			}
			if c.Broken() {
				t.Fatal("a refusal broke the connection")
			}
			if err := c.Noop(ctxFor(t)); err != nil {
				t.Fatalf("NOOP after the refusal: %v", err)
			}
			if strings.Contains(rec.all(), "{8000}") != sync || strings.Contains(rec.all(), "{8000+}") == sync {
				t.Errorf("literal forms in the trace (sync %v):\n%s", sync, rec.all())
			}
		})
	}
}

// MULTIAPPEND is atomic: Dovecot refuses a zero-byte message in the
// middle of the command (answering before the command's end, while the
// client still sends), and stores none of the others.
func TestMultiAppendAtomic(t *testing.T) {
	o := dovecotOptions(t, TLSImplicit)
	c, err := DialAppend(ctxFor(t), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ma := c.MultiAppend(ctxFor(t), "INBOX")
	for _, b := range [][]byte{msg("a", 3000), {}, msg("b", 200<<10)} {
		if err := ma.Add(nil, time.Time{}, int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = ma.Finish()
	if !errors.Is(err, connector.ErrPermanent) || Response(err) == nil {
		t.Fatalf("Finish: %v, want the server's NO", err)
	}
	if got := stored(t, appendUser(o), "INBOX"); len(got) != 0 {
		t.Fatalf("%d messages stored after a refused MULTIAPPEND", len(got))
	}
	if err := c.Noop(ctxFor(t)); err != nil {
		t.Fatalf("NOOP after the refusal: %v", err)
	}
}

var errBoom = errors.New("source went away")

type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errBoom
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// A body that fails, or ends early, breaks the connection before the
// literal is complete: nothing is stored, and the error says why.
func TestMultiAppendBodyFails(t *testing.T) {
	for name, body := range map[string]func([]byte) io.Reader{
		"error": func(b []byte) io.Reader { return &failAfter{r: bytes.NewReader(b), n: len(b) / 2} },
		"short": func(b []byte) io.Reader { return bytes.NewReader(b[:len(b)/2]) },
	} {
		t.Run(name, func(t *testing.T) {
			o := dovecotOptions(t, TLSImplicit)
			c, err := DialAppend(ctxFor(t), o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ma := c.MultiAppend(ctxFor(t), "INBOX")
			first, second := msg("first", 4000), msg("second", 1<<20)
			if err := ma.Add(nil, time.Time{}, int64(len(first)), bytes.NewReader(first)); err != nil {
				t.Fatal(err)
			}
			err = ma.Add(nil, time.Time{}, int64(len(second)), body(second))
			want := errBoom
			if name == "short" {
				want = io.ErrUnexpectedEOF
			}
			if !errors.Is(err, want) {
				t.Fatalf("Add: %v, want %v", err, want)
			}
			if !c.Broken() {
				t.Fatal("the connection survived an unfinished literal")
			}
			if _, err := ma.Finish(); !errors.Is(err, want) || ma.Sent() {
				t.Fatalf("Finish after the failure: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // let Dovecot see the connection close
			if got := stored(t, appendUser(o), "INBOX"); len(got) != 0 {
				t.Fatalf("%d messages stored", len(got))
			}
		})
	}
}

// slowReader hands out its data a little at a time.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(5 * time.Millisecond)
	return s.r.Read(p[:min(len(p), 16<<10)])
}

// Cancelling the context interrupts a MULTIAPPEND in progress: the
// connection is broken, the error is the context's, nothing is stored.
func TestMultiAppendCancel(t *testing.T) {
	o := dovecotOptions(t, TLSImplicit)
	c, err := DialAppend(ctxFor(t), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := msg("slow", 8<<20)
	ctx, cancel := context.WithCancel(ctxFor(t))
	time.AfterFunc(100*time.Millisecond, cancel)
	ma := c.MultiAppend(ctx, "INBOX")
	start := time.Now()
	err = ma.Add(nil, time.Time{}, int64(len(b)), slowReader{bytes.NewReader(b)})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("Add with a cancelled context: %v after %v", err, time.Since(start))
	}
	ma.Abort()
	if !c.Broken() {
		t.Fatal("an interrupted connection is not broken")
	}
	time.Sleep(100 * time.Millisecond)
	if got := stored(t, appendUser(o), "INBOX"); len(got) != 0 {
		t.Fatalf("%d messages stored", len(got))
	}
}

// The raw client's trace redacts the login exactly like the go-imap
// connections' (LOGIN and AUTHENTICATE PLAIN), and shows message contents
// only at LevelTraceData.
func TestAppendConnTrace(t *testing.T) {
	for _, mech := range []Mechanism{MechLogin, MechPlain} {
		for _, level := range []slog.Level{connector.LevelTrace, connector.LevelTraceData} {
			t.Run(fmt.Sprintf("%s-%v", mech, level), func(t *testing.T) {
				rec := &recorder{level: level}
				o := dovecotOptions(t, TLSStartTLS)
				o.Logger = slog.New(rec)
				pl := o.Login.(*PasswordLogin)
				pl.Mechanism = mech
				c, err := DialAppend(ctxFor(t), o)
				if err != nil {
					t.Fatal(err)
				}
				ma := c.MultiAppend(ctxFor(t), "INBOX")
				body := []byte("Subject: the body\r\n\r\nconfidential words\r\n")
				if err := ma.Add(nil, time.Time{}, int64(len(body)), bytes.NewReader(body)); err != nil {
					t.Fatal(err)
				}
				if _, err := ma.Finish(); err != nil {
					t.Fatal(err)
				}
				c.Close()
				all := rec.all()
				want := "LOGIN " + connector.Redacted
				if mech == MechPlain {
					want = "AUTHENTICATE PLAIN " + connector.Redacted
				}
				if !strings.Contains(all, want) || !strings.Contains(all, "APPEND INBOX {") {
					t.Errorf("trace lacks %q or the APPEND:\n%s", want, all)
				}
				for _, leak := range []string{pl.Password, base64.StdEncoding.EncodeToString([]byte("\x00" + pl.Username + "\x00" + pl.Password))} {
					if strings.Contains(all, leak) {
						t.Fatalf("trace shows %q:\n%s", leak, all)
					}
				}
				if strings.Contains(all, "confidential words") != (level == connector.LevelTraceData) {
					t.Errorf("body in the trace at %v: %v", level, !(level == connector.LevelTraceData))
				}
			})
		}
	}
}

// A wrong password is KindAuth with who, how and the server's words, never
// the password.
func TestAppendConnWrongPassword(t *testing.T) {
	o := dovecotOptions(t, TLSImplicit)
	o.Login.(*PasswordLogin).Password = `wr"ong\päss`
	o.Login.(*PasswordLogin).Mechanism = MechLogin
	_, err := DialAppend(ctxFor(t), o)
	if !errors.Is(err, connector.ErrAuth) {
		t.Fatalf("wrong password: %v, want ErrAuth", err)
	}
	for _, want := range []string{appendUser(o), "LOGIN", "AUTHENTICATIONFAILED"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "päss") {
		t.Fatalf("error shows the password: %v", err)
	}
}

// scripted runs a fake server: each step either expects the client to
// send a line (or raw bytes), or sends something.
type scripted struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func (s *scripted) send(lines ...string) {
	for _, l := range lines {
		s.conn.Write([]byte(l))
	}
}

func (s *scripted) expect(want string) {
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s.r, got); err != nil || string(got) != want {
		s.t.Errorf("server got %q (%v), want %q", got, err, want)
		s.conn.Close()
	}
}

func fakeServer(t *testing.T, script func(s *scripted)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		script(&scripted{t: t, conn: c, r: bufio.NewReader(c)})
	}()
	return ln.Addr().String()
}

// Against a scripted server without LITERAL+ nor capabilities in its
// greeting: CAPABILITY is asked, each literal waits for the go-ahead,
// literals in untagged data are skipped, and the APPENDUID ranges come
// back as UIDs.
func TestAppendConnScripted(t *testing.T) {
	addr := fakeServer(t, func(s *scripted) {
		s.send("* OK hello\r\n")
		s.expect("A1 CAPABILITY\r\n")
		s.send("* CAPABILITY IMAP4rev1 MULTIAPPEND UIDPLUS\r\n", "A1 OK done\r\n")
		s.expect("A2 LOGIN \"u\\\"ser\" {4}\r\n")
		s.send("+ go\r\n")
		s.expect("päs\r\n")
		s.send("A2 OK [CAPABILITY IMAP4rev1 MULTIAPPEND UIDPLUS] in\r\n")
		s.expect("A3 SELECT \"Entw&APw-rfe\"\r\n")
		s.send("* FLAGS (\\Seen)\r\n", "* OK [PERMANENTFLAGS ()] none\r\n", "* 2 EXISTS\r\n",
			"* LIST () \"/\" {5}\r\nab}\r\n\r\n", "* OK [UIDVALIDITY 42] x\r\n", "A3 OK [READ-WRITE] sel\r\n")
		s.expect("A4 APPEND \"Entw&APw-rfe\" (\\Seen) \" 1-Feb-2020 03:04:05 +0000\" {3}\r\n")
		s.send("+ ok\r\n")
		s.expect("abc {2}\r\n")
		s.send("* 3 EXISTS\r\n+ ok\r\n")
		s.expect("de\r\n")
		s.send("A4 OK [APPENDUID 42 8:9] done\r\n")
		s.expect("A5 APPEND \"Entw&APw-rfe\" {1}\r\n")
		s.send("* BYE going down\r\n")
	})
	c, err := DialAppend(ctxFor(t), &Options{Address: addr, TLS: TLSNone, Login: &PasswordLogin{Username: `u"ser`, Password: "päs", Mechanism: MechLogin}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sd, err := c.Select(ctxFor(t), "Entwürfe")
	if err != nil {
		t.Fatal(err)
	}
	if sd.PermanentFlags != nil || sd.UIDValidity != 42 || sd.NumMessages != 2 || !slices.Equal(sd.Flags, []imap.Flag{imap.FlagSeen}) {
		t.Fatalf("select data %+v", sd)
	}
	ma := c.MultiAppend(ctxFor(t), "Entwürfe")
	if err := ma.Add([]imap.Flag{imap.FlagSeen}, time.Date(2020, 2, 1, 3, 4, 5, 0, time.UTC), 3, strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	if err := ma.Add(nil, time.Time{}, 2, strings.NewReader("de")); err != nil {
		t.Fatal(err)
	}
	res, err := ma.Finish()
	if err != nil || !slices.Equal(res.UIDs, []imap.UID{8, 9}) {
		t.Fatalf("Finish: %+v, %v", res, err)
	}
	// A BYE instead of the go-ahead: unavailable, with the server's words.
	ma = c.MultiAppend(ctxFor(t), "Entwürfe")
	err = ma.Add(nil, time.Time{}, 1, strings.NewReader("x"))
	if !errors.Is(err, connector.ErrUnavailable) || !strings.Contains(err.Error(), "going down") || !c.Broken() {
		t.Fatalf("BYE: %v (broken %v)", err, c.Broken())
	}
	// Bad flags never reach the wire.
	if err := c.MultiAppend(ctxFor(t), "x").Add([]imap.Flag{"bad flag"}, time.Time{}, 1, strings.NewReader("x")); !errors.Is(err, connector.ErrInvalid) {
		t.Fatalf("bad flag: %v", err)
	}
}

// A response for a tag that was never sent puts the connection out of
// step: broken.
func TestAppendConnOutOfStep(t *testing.T) {
	addr := fakeServer(t, func(s *scripted) {
		s.send("* PREAUTH [CAPABILITY IMAP4rev1] welcome\r\n")
		s.expect("A1 NOOP\r\n")
		s.send("B7 OK what\r\n")
		s.r.ReadString('\n')
	})
	c, err := DialAppend(ctxFor(t), &Options{Address: addr, TLS: TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Noop(ctxFor(t)); !errors.Is(err, connector.ErrUnavailable) || !c.Broken() {
		t.Fatalf("out of step: %v", err)
	}
}

// An AppendPool reuses connections, prefers one with the mailbox
// selected, and replaces broken ones.
func TestAppendPool(t *testing.T) {
	o := dovecotOptions(t, TLSImplicit)
	dials := 0
	p := NewAppendPool(2, func(ctx context.Context) (*AppendConn, error) {
		dials++
		return DialAppend(ctx, o)
	})
	defer p.Close()
	a, _ := p.Get(ctxFor(t), "")
	b, err := p.Get(ctxFor(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Select(ctxFor(t), "INBOX"); err != nil {
		t.Fatal(err)
	}
	p.Put(b)
	p.Put(a)
	c, _ := p.Get(ctxFor(t), "INBOX")
	if c != b {
		t.Fatal("the connection with INBOX selected was not preferred")
	}
	c.Abort()
	p.Put(c)
	// The broken one is gone: the other idle one, then a new one.
	c1, _ := p.Get(ctxFor(t), "INBOX")
	c2, err := p.Get(ctxFor(t), "INBOX")
	if err != nil || c1 != a || c2 == b || c2.Broken() {
		t.Fatalf("after a broken connection: %v", err)
	}
	p.Put(c1)
	p.Put(c2)
	if dials != 3 {
		t.Errorf("%d dials, want 3", dials)
	}
}

// Bytes flowing out keep a read pending meanwhile alive: the client
// library waits for an APPEND's answer while the literal is still being
// sent, and the server says nothing until it has it all.
func TestWireConnWritesKeepReadsAlive(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	w := newWireConn(client, 150*time.Millisecond, nil)
	end := w.begin(context.Background())
	defer end()
	readErr := make(chan error, 1)
	go func() {
		_, err := w.Read(make([]byte, 10))
		readErr <- err
	}()
	go io.Copy(io.Discard, server)
	for i := 0; i < 10; i++ {
		time.Sleep(50 * time.Millisecond)
		if _, err := w.Write([]byte("literal bytes")); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	select {
	case err := <-readErr:
		t.Fatalf("the pending read failed while writes flowed: %v", err)
	default:
	}
	// Silence in both directions still times out.
	if err := <-readErr; err == nil {
		t.Fatal("the read returned without data")
	}
}

// Pools sharing a Budget never hold more connections together than it
// allows: a pool short of one closes an idle connection of the other, or
// waits for one.
func TestBudget(t *testing.T) {
	o := dovecotOptions(t, TLSImplicit)
	var gDials, aDials atomic.Int32
	b := NewBudget(2)
	gp := NewPool(2, func(ctx context.Context) (*Conn, error) { gDials.Add(1); return Dial(ctx, o) })
	ap := NewAppendPool(2, func(ctx context.Context) (*AppendConn, error) { aDials.Add(1); return DialAppend(ctx, o) })
	gp.ShareBudget(b)
	ap.ShareBudget(b)
	defer gp.Close()
	defer ap.Close()
	open := func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.open
	}

	g1, _ := gp.Get(ctxFor(t), "")
	g2, err := gp.Get(ctxFor(t), "")
	if err != nil || open() != 2 {
		t.Fatalf("two connections: %v, %d open", err, open())
	}
	got := make(chan *AppendConn, 1)
	go func() {
		a, err := ap.Get(ctxFor(t), "")
		if err != nil {
			t.Error(err)
		}
		got <- a
	}()
	select {
	case <-got:
		t.Fatal("a third connection while the budget of 2 is in use")
	case <-time.After(200 * time.Millisecond):
	}
	gp.Put(g1) // idle now: the waiting pool closes it and dials its own
	a1 := <-got
	if a1 == nil || open() != 2 || gDials.Load() != 2 || aDials.Load() != 1 {
		t.Fatalf("after the wait: %d open, dials %d+%d", open(), gDials.Load(), aDials.Load())
	}
	gp.mu.Lock()
	if len(gp.idle) != 0 || len(gp.all) != 1 {
		t.Errorf("the idle connection was not closed: %d idle, %d in all", len(gp.idle), len(gp.all))
	}
	gp.mu.Unlock()

	// With everything in use, a wait ends with the context.
	ctx, cancel := context.WithTimeout(ctxFor(t), 100*time.Millisecond)
	defer cancel()
	if _, err := ap.Get(ctx, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get with the budget spent: %v", err)
	}
	// Idle connections are reused, not redialled.
	gp.Put(g2)
	ap.Put(a1)
	g, _ := gp.Get(ctxFor(t), "")
	a, _ := ap.Get(ctxFor(t), "")
	if g != g2 || a != a1 || gDials.Load() != 2 || aDials.Load() != 1 {
		t.Fatalf("idle connections not reused: dials %d+%d", gDials.Load(), aDials.Load())
	}
	// A broken connection gives its share back.
	a.Abort()
	ap.Put(a)
	if open() != 1 {
		t.Fatalf("%d open after a broken connection, want 1", open())
	}
	gp.Put(g)
}
