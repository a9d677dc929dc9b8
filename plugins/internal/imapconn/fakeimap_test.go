package imapconn_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeIMAP is a small scripted IMAP server for what no Debian server does:
// PROXYAUTH (Sun Java System Messaging Server), an administrator that may
// log in but not act for users (Cyrus without proxyservers), servers
// without SASL PLAIN. It speaks plaintext only, and just enough IMAP for
// connection tests and for opening a mailbox: CAPABILITY, ID, LOGIN,
// AUTHENTICATE PLAIN, PROXYAUTH, NAMESPACE, LIST, EXAMINE/SELECT INBOX,
// NOOP, LOGOUT.
type fakeIMAP struct {
	t        *testing.T
	greeting string   // after "* OK "
	before   []string // capabilities before the login
	after    []string // after it
	users    map[string]string
	admin    string // may act for users as set below
	adminPW  string
	// authzid: admin may act for users with SASL PLAIN; proxyAuth: with
	// PROXYAUTH (else the command is unknown: BAD); refuseProxy: known
	// but refused.
	authzid, proxyAuth bool
	refuseProxy        atomic.Bool
	// noAdminMailbox: the administrator has no INBOX of its own.
	noAdminMailbox bool
	// bye: the server hangs up on every login ("too many connections").
	bye bool
	// anyName, if set, lets every user name in with this password, each
	// with a mailbox of its own (a static passdb: a magic password).
	anyName string

	mu     sync.Mutex
	logins int      // LOGIN and AUTHENTICATE commands
	log    []string // commands, with credentials left out
	addr   string
}

func (f *fakeIMAP) start() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	var wg sync.WaitGroup
	f.t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { f.serve(c) })
		}
	})
	f.addr = ln.Addr().String()
	return f.addr
}

func (f *fakeIMAP) note(s string) {
	f.mu.Lock()
	f.log = append(f.log, s)
	f.mu.Unlock()
}

func (f *fakeIMAP) loginCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logins
}

func (f *fakeIMAP) port() int {
	_, p, _ := net.SplitHostPort(f.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// settings returns plaintext settings reaching f.
func (f *fakeIMAP) settings(extra string) []byte {
	return []byte(fmt.Sprintf(`{"host":"127.0.0.1","port":%d,"tls":"none","allow_plaintext":true%s}`, f.port(), extra))
}

type fakeConn struct {
	f    *fakeIMAP
	r    *bufio.Reader
	w    io.Writer
	user string // logged in as; "" before
	auth string // the authentication identity (the administrator)
}

func (f *fakeIMAP) serve(c net.Conn) {
	defer c.Close()
	fc := &fakeConn{f: f, r: bufio.NewReader(c), w: c}
	fc.send("* OK [CAPABILITY " + strings.Join(f.before, " ") + "] " + f.greeting)
	for {
		tag, cmd, args, err := fc.command()
		if err != nil {
			return
		}
		if !fc.handle(tag, strings.ToUpper(cmd), args) {
			return
		}
	}
}

func (fc *fakeConn) send(lines ...string) {
	for _, l := range lines {
		io.WriteString(fc.w, l+"\r\n")
	}
}

// command reads a command: tag, name and arguments (atoms, quoted strings
// and literals, synchronizing or not).
func (fc *fakeConn) command() (tag, cmd string, args []string, err error) {
	var words []string
	for {
		line, err := fc.r.ReadString('\n')
		if err != nil {
			return "", "", nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		lit := -1
		if i := strings.LastIndexByte(line, '{'); i >= 0 && strings.HasSuffix(line, "}") {
			n := strings.TrimSuffix(line[i+1:len(line)-1], "+")
			if v, err := strconv.Atoi(n); err == nil {
				lit = v
				if !strings.HasSuffix(line, "+}") {
					fc.send("+ go ahead")
				}
				line = line[:i]
			}
		}
		words = append(words, splitWords(line)...)
		if lit < 0 {
			break
		}
		b := make([]byte, lit)
		if _, err := io.ReadFull(fc.r, b); err != nil {
			return "", "", nil, err
		}
		words = append(words, string(b))
	}
	if len(words) < 2 {
		return "", "", nil, fmt.Errorf("bad command %q", words)
	}
	return words[0], words[1], words[2:], nil
}

func splitWords(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		switch {
		case s[i] == ' ':
			i++
		case s[i] == '"':
			var b strings.Builder
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
				b.WriteByte(s[i])
			}
			i++
			out = append(out, b.String())
		default:
			j := strings.IndexByte(s[i:], ' ')
			if j < 0 {
				j = len(s) - i
			}
			out = append(out, s[i:i+j])
			i += j
		}
	}
	return out
}

// login checks authcid's password and whether it may act as authzid.
func (fc *fakeConn) login(authzid, authcid, password string) string {
	f := fc.f
	f.mu.Lock()
	f.logins++
	f.mu.Unlock()
	switch {
	case f.anyName != "" && password == f.anyName && authzid == "":
	case authcid == f.admin && password == f.adminPW:
	case f.users[authcid] != "" && f.users[authcid] == password:
	default:
		return "NO [AUTHENTICATIONFAILED] Authentication failed"
	}
	if authzid != "" && authzid != authcid {
		if authcid != f.admin || !f.authzid {
			return "NO [AUTHORIZATIONFAILED] Login failed: authorization failure"
		}
		if _, ok := f.users[authzid]; !ok {
			return "NO [AUTHORIZATIONFAILED] Login failed: user not found"
		}
		fc.user, fc.auth = authzid, authcid
		return "OK [CAPABILITY " + strings.Join(f.after, " ") + "] Logged in as " + authzid
	}
	fc.user, fc.auth = authcid, authcid
	return "OK [CAPABILITY " + strings.Join(f.after, " ") + "] Logged in"
}

func (fc *fakeConn) handle(tag, cmd string, args []string) bool {
	f := fc.f
	f.note(cmd + " " + strings.Join(publicArgs(cmd, args), " "))
	if f.bye && (cmd == "LOGIN" || cmd == "AUTHENTICATE") {
		f.mu.Lock()
		f.logins++
		f.mu.Unlock()
		fc.send("* BYE Too many connections from your IP")
		return false
	}
	switch cmd {
	case "CAPABILITY":
		caps := f.before
		if fc.user != "" {
			caps = f.after
		}
		fc.send("* CAPABILITY "+strings.Join(caps, " "), tag+" OK done")
	case "ID":
		fc.send(`* ID ("name" "`+strings.Fields(f.greeting + " x")[0]+`")`, tag+" OK done")
	case "NOOP":
		fc.send(tag + " OK done")
	case "LOGOUT":
		fc.send("* BYE bye", tag+" OK done")
		return false
	case "LOGIN":
		if len(args) != 2 {
			fc.send(tag + " BAD arguments")
			break
		}
		fc.send(tag + " " + fc.login("", args[0], args[1]))
	case "AUTHENTICATE":
		if len(args) < 1 || !strings.EqualFold(args[0], "PLAIN") || !hasCap(f.before, "AUTH=PLAIN") {
			fc.send(tag + " NO [CANNOT] Unsupported authentication mechanism")
			break
		}
		ir := ""
		if len(args) > 1 {
			ir = args[1]
		} else {
			fc.send("+ ")
			line, err := fc.r.ReadString('\n')
			if err != nil {
				return false
			}
			ir = strings.TrimRight(line, "\r\n")
		}
		dec, err := base64.StdEncoding.DecodeString(ir)
		parts := strings.Split(string(dec), "\x00")
		if err != nil || len(parts) != 3 {
			fc.send(tag + " BAD bad response")
			break
		}
		fc.send(tag + " " + fc.login(parts[0], parts[1], parts[2]))
	case "PROXYAUTH":
		switch {
		case !f.proxyAuth:
			fc.send(tag + " BAD Error in IMAP command PROXYAUTH: Unknown command")
		case fc.user == "" || fc.user != f.admin:
			fc.send(tag + " NO not authorized to proxy")
		case f.refuseProxy.Load():
			fc.send(tag + " NO proxy authentication refused")
		case len(args) != 1 || f.users[args[0]] == "":
			fc.send(tag + " NO no such user")
		default:
			fc.user = args[0]
			fc.send(tag + " OK proxy authentication succeeded")
		}
	case "NAMESPACE":
		fc.send(`* NAMESPACE (("" "/")) NIL NIL`, tag+" OK done")
	case "LIST":
		fc.send(`* LIST (\HasNoChildren) "/" INBOX`, tag+" OK done")
	case "EXAMINE", "SELECT":
		if fc.user == "" || (fc.user == f.admin && f.noAdminMailbox) || len(args) == 0 || !strings.EqualFold(args[0], "INBOX") {
			fc.send(tag + " NO [NONEXISTENT] Mailbox does not exist")
			break
		}
		fc.send("* FLAGS (\\Seen)", "* 0 EXISTS", "* OK [UIDVALIDITY 9] ok", "* OK [UIDNEXT 1] ok", tag+" OK [READ-ONLY] done")
	default:
		fc.send(tag + " BAD Unknown command " + cmd)
	}
	return true
}

// publicArgs leaves passwords out of the server's command log.
func publicArgs(cmd string, args []string) []string {
	switch cmd {
	case "LOGIN":
		if len(args) > 0 {
			return args[:1]
		}
	case "AUTHENTICATE":
		if len(args) > 0 {
			return args[:1]
		}
	}
	return args
}

func hasCap(caps []string, c string) bool {
	for _, x := range caps {
		if strings.EqualFold(x, c) {
			return true
		}
	}
	return false
}
