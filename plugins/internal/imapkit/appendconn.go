package imapkit

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/sdk/connector"
)

// AppendConn is imapkit's second, narrow IMAP client: one authenticated
// connection that selects a mailbox (to learn its PERMANENTFLAGS) and
// stores messages with MULTIAPPEND (RFC 3502), streaming each message into
// its literal as it arrives. go-imap v2.0.0-beta.8 can send neither
// MULTIAPPEND nor non-synchronizing literals (see the package doc). It
// speaks only what it needs: the greeting, CAPABILITY, LOGIN,
// AUTHENTICATE PLAIN, PROXYAUTH, SELECT, EXAMINE, APPEND, ID, NAMESPACE,
// NOOP and LOGOUT. Besides MULTIAPPEND it serves to log in where go-imap
// cannot (PROXYAUTH, see Dial) and to probe servers (connection tests:
// the greeting, the capabilities before and after the login, ID).
//
// It shares Conn's plumbing: the same dialing (TLS modes, verification,
// STARTTLS), the same Login types, the same wire connection (contexts,
// rolling inactivity timeout, BYE text, trace with credentials redacted)
// and the same error classification. It is not safe for concurrent use;
// an AppendPool hands it to one operation at a time.
type AppendConn struct {
	// ID names the connection in logs ("imap-7").
	ID string
	// Addr is the server's host:port.
	Addr string

	wc       *wireConn
	br       *bufio.Reader
	bw       *bufio.Writer
	log      *slog.Logger
	caps     imap.CapSet
	capsRaw  []string // caps as the server spelled them
	capsSeen bool     // the last command's responses carried capabilities
	greeting string   // the greeting line, without "* "
	before   []string // capabilities before the login, as spelled
	tls      *tls.ConnectionState
	tags     uint64
	broken   bool // a command was abandoned half-way or the stream is out of step

	mailbox  string
	readOnly bool
	sel      *imap.SelectData

	lastUsed time.Time
}

// maxResponseLine bounds one line of a server response (without its
// literals, which are skipped).
const maxResponseLine = 256 << 10

// errProtocol marks a server response that makes no sense here; the
// connection is out of step and is dropped.
var errProtocol = errors.New("unexpected server response")

// DialAppend connects as Dial does (TLS mode, verification, STARTTLS,
// greeting, login with o.Login) and returns a connection for MULTIAPPEND.
// Errors are classified as Dial's.
func DialAppend(ctx context.Context, o *Options) (*AppendConn, error) {
	_, connectTimeout, _, _ := o.defaults()
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	l, err := dialLink(ctx, cctx, o)
	if err != nil {
		return nil, err
	}
	c, err := startAppendConn(ctx, cctx, l, o)
	if err != nil {
		return nil, err
	}
	l.log.Debug("imap append connection ready", "conn", l.id, "addr", o.Address, "tls", string(l.mode), "multiappend", c.caps.Has(imap.CapMultiAppend), "literal+", c.caps.Has(imap.CapLiteralPlus))
	return c, nil
}

// startAppendConn reads the greeting on l, learns the capabilities and
// logs in with o.Login, closing l if anything fails. cctx bounds the
// greeting (the connect timeout).
func startAppendConn(ctx, cctx context.Context, l *link, o *Options) (*AppendConn, error) {
	c := &AppendConn{
		ID:   l.id,
		Addr: o.Address,
		wc:   l.wc,
		br:   bufio.NewReaderSize(l.wc, 16<<10),
		bw:   bufio.NewWriterSize(l.wc, 64<<10),
		log:  l.log,
		tls:  l.tls,
	}
	fail := func(err error) (*AppendConn, error) {
		c.wc.Close()
		return nil, err
	}
	what := "greeting from " + o.Address
	preauth := false
	if l.greeting != "" {
		// The greeting came before STARTTLS (the link serves a synthetic
		// one): keep the real one for probes.
		c.greeting = l.greeting
	}
	err := c.op(cctx, what, func() error {
		r, err := c.read()
		if err != nil {
			return err
		}
		if r.tag != "*" {
			return fmt.Errorf("%w: greeting %q", errProtocol, r.kind)
		}
		if c.greeting == "" {
			c.greeting = strings.TrimSpace(r.kind + " " + r.codeText())
		}
		c.noteCaps(r)
		switch r.kind {
		case "OK":
		case "PREAUTH":
			preauth = true
		case "BYE":
			return r.imapError()
		default:
			return fmt.Errorf("%w: greeting %q", errProtocol, r.kind)
		}
		return nil
	})
	if err != nil {
		return fail(dialError(ctx, err, what))
	}
	if !c.capsSeen {
		if err := c.capability(cctx); err != nil {
			return fail(dialError(ctx, err, "capabilities of "+o.Address))
		}
	}
	c.before = c.capsRaw
	if !preauth && o.Login != nil {
		c.capsSeen = false
		if err := o.Login.Authenticate(ctx, c); err != nil {
			return fail(authError(err))
		}
		// Capabilities change with the login (RFC 9051 §6.2.3); most
		// servers send them in the login's OK.
		if !c.capsSeen {
			if err := c.capability(ctx); err != nil {
				return fail(err)
			}
		}
	}
	c.lastUsed = time.Now()
	return c, nil
}

// Greeting returns the server's greeting line without its "* " (the real
// one, read before STARTTLS where there was one).
func (c *AppendConn) Greeting() string { return c.greeting }

// CapsBeforeLogin returns the capabilities the server announced before
// the login, as it spelled them.
func (c *AppendConn) CapsBeforeLogin() []string { return c.before }

// CapsList returns the current capabilities as the server spelled them.
func (c *AppendConn) CapsList() []string { return c.capsRaw }

// TLS returns the state of the connection's TLS, nil without TLS.
func (c *AppendConn) TLS() *tls.ConnectionState { return c.tls }

// Caps returns the server's capabilities (after the login, once Dial
// returned).
func (c *AppendConn) Caps() imap.CapSet { return c.caps }

// Selected returns the mailbox selected on c, "" if none, and whether it
// was opened with EXAMINE.
func (c *AppendConn) Selected() (mailbox string, readOnly bool) { return c.mailbox, c.readOnly }

// SelectData returns what the last SELECT reported, nil if no mailbox is
// selected.
func (c *AppendConn) SelectData() *imap.SelectData { return c.sel }

// Broken reports whether the connection can no longer be used.
func (c *AppendConn) Broken() bool {
	if c.broken || c.wc.isClosed() {
		return true
	}
	ioErr, interrupted, _ := c.wc.state()
	return ioErr != nil || interrupted
}

// Abort breaks the connection at once; a command in progress is never
// completed, so the server discards it.
func (c *AppendConn) Abort() {
	c.broken = true
	c.wc.interrupt()
	c.wc.Close()
}

// Close logs out (briefly, when the connection is healthy) and closes it.
func (c *AppendConn) Close() error {
	if !c.Broken() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c.simple(ctx, "logout", "LOGOUT", nil)
		cancel()
	}
	c.wc.Close()
	c.log.Debug("imap connection closed", "conn", c.ID)
	return nil
}

func (c *AppendConn) idleSince() time.Time { return c.lastUsed }
func (c *AppendConn) markUsed()            { c.lastUsed = time.Now() }
func (c *AppendConn) logDropped()          { c.log.Debug("imap connection dropped", "conn", c.ID) }

// Noop sends NOOP.
func (c *AppendConn) Noop(ctx context.Context) error {
	return c.simple(ctx, "noop", "NOOP", nil)
}

func (c *AppendConn) capability(ctx context.Context) error {
	return c.simple(ctx, "capabilities of "+c.Addr, "CAPABILITY", nil)
}

// Select opens mailbox with SELECT and returns what the server reported
// of it: FLAGS, PERMANENTFLAGS (nil when missing or empty, as go-imap
// reports them), EXISTS, UIDVALIDITY and UIDNEXT. If the mailbox is
// selected already it returns what the SELECT reported then.
func (c *AppendConn) Select(ctx context.Context, mailbox string) (*imap.SelectData, error) {
	return c.open(ctx, mailbox, false)
}

// Examine opens mailbox read-only with EXAMINE (RFC 9051 §6.3.3) and
// returns what the server reported of it, as Select does.
func (c *AppendConn) Examine(ctx context.Context, mailbox string) (*imap.SelectData, error) {
	return c.open(ctx, mailbox, true)
}

func (c *AppendConn) open(ctx context.Context, mailbox string, readOnly bool) (*imap.SelectData, error) {
	if c.sel != nil && c.mailbox == mailbox && c.readOnly == readOnly {
		return c.sel, nil
	}
	verb := "SELECT"
	if readOnly {
		verb = "EXAMINE"
	}
	data := &imap.SelectData{}
	// A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
	c.mailbox, c.sel = "", nil
	err := c.simple(ctx, strings.ToLower(verb)+" "+strconv.Quote(mailbox), verb+" "+encodeMailbox(mailbox), func(r *response) {
		selectData(data, r)
	})
	if err != nil {
		return nil, err
	}
	c.mailbox, c.readOnly, c.sel = mailbox, readOnly, data
	return data, nil
}

// ServerID exchanges identities (RFC 2971) where the server has ID, sending
// Tern's name, and returns the server's fields (nil if it has no ID or
// sends NIL).
func (c *AppendConn) ServerID(ctx context.Context) (map[string]string, error) {
	if !c.caps.Has(imap.CapID) {
		return nil, nil
	}
	var fields map[string]string
	err := c.simple(ctx, "id", `ID ("name" "Tern")`, func(r *response) {
		if r.kind == "ID" {
			fields = parseIDList(r.rest)
		}
	})
	return fields, err
}

// Namespace returns the personal namespace's prefix and delimiter
// (RFC 2342), ok false where the server has no NAMESPACE or no personal
// namespace.
func (c *AppendConn) Namespace(ctx context.Context) (prefix, delim string, ok bool, err error) {
	ns, err := c.Namespaces(ctx)
	if err != nil || ns == nil || !ns.Personal.OK {
		return "", "", false, err
	}
	return ns.Personal.Prefix, ns.Personal.Delim, true, nil
}

// NamespaceEntry is the first namespace of one kind in a NAMESPACE
// response: its prefix and delimiter ("" for none), OK false when the
// server has none of that kind (NIL).
type NamespaceEntry struct {
	Prefix, Delim string
	OK            bool
}

// Namespaces is what NAMESPACE (RFC 2342) says: the first personal,
// other users' and shared namespace. Cyrus shows its users' mailboxes to
// an administrator in the other users' namespace ("user/", or "Other
// Users/" with altnamespace).
type Namespaces struct {
	Personal, Other, Shared NamespaceEntry
}

// Namespaces asks NAMESPACE; nil (and no error) where the server has no
// NAMESPACE.
func (c *AppendConn) Namespaces(ctx context.Context) (*Namespaces, error) {
	if !c.caps.Has(imap.CapNamespace) {
		return nil, nil
	}
	var ns *Namespaces
	err := c.simple(ctx, "namespace", "NAMESPACE", func(r *response) {
		if r.kind == "NAMESPACE" {
			ns = parseNamespaces(r.rest)
		}
	})
	if err != nil {
		return nil, err
	}
	if ns == nil {
		ns = &Namespaces{}
	}
	return ns, nil
}

// proxyAuth sends PROXYAUTH user (Sun Java System Messaging Server): the
// administrator's session becomes user's.
func (c *AppendConn) proxyAuth(ctx context.Context, what, user string) error {
	return c.op(ctx, what, func() error {
		tag := c.nextTag()
		c.bw.WriteString(tag + " PROXYAUTH ")
		if err := c.writeAString(tag, user); err != nil {
			return err
		}
		c.bw.WriteString("\r\n")
		if err := c.bw.Flush(); err != nil {
			return err
		}
		_, err := c.wait(tag, nil, nil)
		return err
	})
}

// selectData takes what a SELECT's untagged response says.
func selectData(d *imap.SelectData, r *response) {
	switch {
	case r.kind == "FLAGS":
		d.Flags = parseFlagList(r.rest)
	case r.kind == "EXISTS":
		d.NumMessages = r.num
	case r.kind == "OK" && r.code == "PERMANENTFLAGS":
		d.PermanentFlags = parseFlagList(r.args)
	case r.kind == "OK" && r.code == "UIDVALIDITY":
		n, _ := strconv.ParseUint(r.args, 10, 32)
		d.UIDValidity = uint32(n)
	case r.kind == "OK" && r.code == "UIDNEXT":
		n, _ := strconv.ParseUint(r.args, 10, 32)
		d.UIDNext = imap.UID(n)
	}
}

// parseFlagList parses "(\Seen $Forwarded)"; an empty list is nil.
func parseFlagList(s string) []imap.Flag {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "(")
	if i := strings.IndexByte(s, ')'); i >= 0 {
		s = s[:i]
	}
	var out []imap.Flag
	for _, f := range strings.Fields(s) {
		out = append(out, imap.Flag(f))
	}
	return out
}

// AuthLogin implements Authenticator.
func (c *AppendConn) AuthLogin(ctx context.Context, what, username, password string) error {
	return c.op(ctx, what, func() error {
		tag := c.nextTag()
		c.bw.WriteString(tag + " LOGIN ")
		if err := c.writeAString(tag, username); err != nil {
			return err
		}
		c.bw.WriteByte(' ')
		if err := c.writeAString(tag, password); err != nil {
			return err
		}
		c.bw.WriteString("\r\n")
		if err := c.bw.Flush(); err != nil {
			return err
		}
		_, err := c.wait(tag, nil, nil)
		return err
	})
}

// AuthPlain implements Authenticator.
func (c *AppendConn) AuthPlain(ctx context.Context, what, identity, username, password string) error {
	ir := base64.StdEncoding.EncodeToString([]byte(identity + "\x00" + username + "\x00" + password))
	return c.op(ctx, what, func() error {
		tag := c.nextTag()
		sent := c.caps.Has(imap.CapSASLIR)
		if sent {
			c.bw.WriteString(tag + " AUTHENTICATE PLAIN " + ir + "\r\n")
		} else {
			c.bw.WriteString(tag + " AUTHENTICATE PLAIN\r\n")
		}
		if err := c.bw.Flush(); err != nil {
			return err
		}
		_, err := c.wait(tag, nil, func(*response) error {
			if sent {
				// A second challenge PLAIN has no answer to: cancel
				// (RFC 9051 §6.2.2).
				c.bw.WriteString("*\r\n")
			} else {
				c.bw.WriteString(ir + "\r\n")
				sent = true
			}
			return c.bw.Flush()
		})
		return err
	})
}

// writeAString writes s as a quoted string, or as a literal when it
// cannot be quoted (non-synchronizing where the server allows, else after
// its go-ahead).
func (c *AppendConn) writeAString(tag, s string) error {
	if quotable(s) {
		c.bw.WriteString(quote(s))
		return nil
	}
	if c.nonSync(int64(len(s))) {
		fmt.Fprintf(c.bw, "{%d+}\r\n", len(s))
		c.bw.WriteString(s)
		return nil
	}
	fmt.Fprintf(c.bw, "{%d}\r\n", len(s))
	if err := c.bw.Flush(); err != nil {
		return err
	}
	if err := c.waitContinuation(tag); err != nil {
		return err
	}
	c.bw.WriteString(s)
	return nil
}

// nonSync reports whether a literal of size bytes may be sent without
// waiting for the server's go-ahead (RFC 7888: LITERAL+ for any size,
// LITERAL- up to 4096 bytes).
func (c *AppendConn) nonSync(size int64) bool {
	return c.caps.Has(imap.CapLiteralPlus) || (c.caps.Has(imap.CapLiteralMinus) && size <= 4096)
}

// quotable reports whether s can be sent as a quoted string (RFC 9051 §4.3:
// 7-bit, no CR, LF or NUL).
func quotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c == '\r' || c == '\n' || c >= 0x80 {
			return false
		}
	}
	return true
}

func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// encodeMailbox renders a mailbox name for the wire: INBOX as is, any
// other name in modified UTF-7 (RFC 3501 §5.1.3), quoted.
func encodeMailbox(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	return quote(encodeUTF7(name))
}

// simple sends "tag command" and waits for its end; onData sees the
// untagged responses.
func (c *AppendConn) simple(ctx context.Context, what, command string, onData func(*response)) error {
	return c.op(ctx, what, func() error {
		tag := c.nextTag()
		c.bw.WriteString(tag + " " + command + "\r\n")
		if err := c.bw.Flush(); err != nil {
			return err
		}
		_, err := c.wait(tag, onData, nil)
		return err
	})
}

// op runs fn as one operation bound to ctx, as Conn.Do does: the
// inactivity timeout applies, and if ctx ends the connection is
// interrupted for good. Anything but a server's refusal leaves the
// connection out of step, hence broken. The error is classified, its
// message starting with what.
func (c *AppendConn) op(ctx context.Context, what string, fn func() error) error {
	if err := ctxErr(ctx, what); err != nil {
		return err
	}
	if c.Broken() {
		return c.classify(ctx, errBroken, what)
	}
	end := c.wc.begin(ctx)
	err := fn()
	end()
	if err != nil && Response(err) == nil {
		c.broken = true
	}
	return c.classify(ctx, err, what)
}

// classify classifies an error as Conn.Classify does.
func (c *AppendConn) classify(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	var ce *connector.Error
	if errors.As(err, &ce) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if ie := Response(err); ie != nil {
		return FromResponse(ie, what)
	}
	ioErr, interrupted, bye := c.wc.state()
	if interrupted {
		if e := ctxErr(ctx, what); e != nil {
			return e
		}
	}
	if ioErr != nil {
		return classifyIO(ioErr, what, bye)
	}
	return classifyIO(err, what, bye)
}

func (c *AppendConn) nextTag() string {
	c.tags++
	return "A" + strconv.FormatUint(c.tags, 10)
}

// wait reads responses up to the tagged one of tag and returns it: nil
// error for OK, the response as an *imap.Error for NO and BAD. onData
// sees the untagged responses; cont answers continuation requests (nil:
// none is expected).
func (c *AppendConn) wait(tag string, onData func(*response), cont func(*response) error) (*response, error) {
	for {
		r, err := c.read()
		if err != nil {
			return nil, err
		}
		switch r.tag {
		case "*":
			c.noteCaps(r)
			if onData != nil {
				onData(r)
			}
		case "+":
			if cont == nil {
				return nil, fmt.Errorf("%w: continuation request %q", errProtocol, r.text)
			}
			if err := cont(r); err != nil {
				return nil, err
			}
		case tag:
			c.noteCaps(r)
			switch r.kind {
			case "OK":
				return r, nil
			case "NO", "BAD":
				return r, r.imapError()
			}
			return nil, fmt.Errorf("%w: %s %s", errProtocol, r.tag, r.kind)
		default:
			return nil, fmt.Errorf("%w: tag %q while waiting for %q", errProtocol, r.tag, tag)
		}
	}
}

// waitContinuation waits for the server's go-ahead for a synchronizing
// literal of the command tag. If the server answers the command instead,
// the command is over and its answer is returned as an error (an
// *imap.Error for NO and BAD).
func (c *AppendConn) waitContinuation(tag string) error {
	for {
		r, err := c.read()
		if err != nil {
			return err
		}
		switch r.tag {
		case "+":
			return nil
		case "*":
			c.noteCaps(r)
		case tag:
			if r.kind == "NO" || r.kind == "BAD" {
				return r.imapError()
			}
			return fmt.Errorf("%w: %s %s before the literal", errProtocol, r.tag, r.kind)
		default:
			return fmt.Errorf("%w: tag %q while waiting for a continuation", errProtocol, r.tag)
		}
	}
}

// noteCaps takes the capabilities a response lists (CAPABILITY data or
// response code).
func (c *AppendConn) noteCaps(r *response) {
	var list string
	switch {
	case r.tag == "*" && r.kind == "CAPABILITY":
		list = r.rest
	case r.code == "CAPABILITY":
		list = r.args
	default:
		return
	}
	caps := make(imap.CapSet)
	raw := strings.Fields(list)
	for _, f := range raw {
		caps[imap.Cap(strings.ToUpper(f))] = struct{}{}
	}
	c.caps, c.capsRaw, c.capsSeen = caps, raw, true
}

// read reads and parses one response.
func (c *AppendConn) read() (*response, error) {
	line, err := c.readLine()
	if err != nil {
		return nil, err
	}
	return parseResponse(line)
}

// readLine reads one response line, skipping the contents of literals
// inside it (which this client never needs).
func (c *AppendConn) readLine() (string, error) {
	var line []byte
	for {
		chunk, err := c.br.ReadSlice('\n')
		if len(line)+len(chunk) > maxResponseLine {
			return "", fmt.Errorf("%w: a line longer than %d bytes", errProtocol, maxResponseLine)
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		line = trimEOL(line)
		n, start, ok := endLiteral(line)
		if !ok {
			return string(line), nil
		}
		if _, err := io.CopyN(io.Discard, c.br, n); err != nil {
			return "", err
		}
		// The line goes on after the literal; an empty string stands in
		// for it.
		line = append(line[:start], `""`...)
	}
}

// endLiteral returns n and where the announcement starts if line ends
// with a literal announcement {n} (or {n+}, {n-}).
func endLiteral(line []byte) (n int64, start int, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, 0, false
	}
	i := len(line) - 2
	if line[i] == '+' || line[i] == '-' {
		i--
	}
	end := i + 1
	for i >= 0 && line[i] >= '0' && line[i] <= '9' {
		i--
	}
	if i < 0 || line[i] != '{' || end-i-1 == 0 || end-i-1 > 18 {
		return 0, 0, false
	}
	n, err := strconv.ParseInt(string(line[i+1:end]), 10, 64)
	return n, i, err == nil
}

// response is one server response (RFC 9051 §7), as this client needs it.
type response struct {
	// tag is "*" for untagged responses, "+" for continuation requests,
	// else the tag of the command answered.
	tag string
	// kind is OK, NO, BAD, BYE or PREAUTH, or the name of the data
	// (CAPABILITY, FLAGS, EXISTS…), in upper case.
	kind string
	// num is the number of "* n EXISTS" and the like.
	num uint32
	// code and args are the response code ("APPENDUID", in upper case)
	// and its arguments.
	code, args string
	// text is the human-readable text of a status response or a
	// continuation request.
	text string
	// rest is what follows the name of data.
	rest string
}

// parseResponse parses one response line (literals already skipped).
func parseResponse(line string) (*response, error) {
	if strings.HasPrefix(line, "+") {
		return &response{tag: "+", text: strings.TrimPrefix(line[1:], " ")}, nil
	}
	tag, rest, ok := strings.Cut(line, " ")
	if !ok || tag == "" || rest == "" {
		return nil, fmt.Errorf("%w: %q", errProtocol, truncate(line))
	}
	r := &response{tag: tag}
	word, rest, _ := strings.Cut(rest, " ")
	if tag == "*" && word != "" && word[0] >= '0' && word[0] <= '9' {
		n, err := strconv.ParseUint(word, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", errProtocol, truncate(line))
		}
		r.num = uint32(n)
		word, rest, _ = strings.Cut(rest, " ")
	}
	r.kind = strings.ToUpper(word)
	switch r.kind {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("%w: %q", errProtocol, truncate(line))
			}
			code, args, _ := strings.Cut(rest[1:end], " ")
			r.code, r.args = strings.ToUpper(code), args
			rest = strings.TrimPrefix(rest[end+1:], " ")
		}
		r.text = rest
	case "":
		return nil, fmt.Errorf("%w: %q", errProtocol, truncate(line))
	default:
		r.rest = rest
	}
	return r, nil
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// codeText renders a status response's code and text again:
// "[CAPABILITY IMAP4rev1] Dovecot ready.".
func (r *response) codeText() string {
	if r.code == "" {
		return r.text
	}
	code := r.code
	if r.args != "" {
		code += " " + r.args
	}
	return strings.TrimSpace("[" + code + "] " + r.text)
}

// imapError returns a status response as go-imap's error type, for
// FromResponse.
func (r *response) imapError() *imap.Error {
	return &imap.Error{Type: imap.StatusResponseType(r.kind), Code: imap.ResponseCode(r.code), Text: r.text}
}

// sexpTokens splits an IMAP list into "(", ")", strings and NIL (as
// "\x00NIL"); literals were replaced by "" already. Atoms come out as
// they are.
func sexpTokens(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		switch ch := s[i]; {
		case ch == ' ':
			i++
		case ch == '(' || ch == ')':
			out = append(out, string(ch))
			i++
		case ch == '"':
			var b strings.Builder
			i++
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
				i++
			}
			i++
			out = append(out, b.String())
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '(' && s[j] != ')' {
				j++
			}
			if strings.EqualFold(s[i:j], "NIL") {
				out = append(out, nilToken)
			} else {
				out = append(out, s[i:j])
			}
			i = j
		}
	}
	return out
}

const nilToken = "\x00NIL"

// parseIDList parses the server's ID fields: ("name" "Dovecot" ...).
func parseIDList(s string) map[string]string {
	t := sexpTokens(s)
	if len(t) < 2 || t[0] != "(" {
		return nil
	}
	out := make(map[string]string)
	for i := 1; i+1 < len(t) && t[i] != ")"; i += 2 {
		if t[i+1] == nilToken || t[i+1] == ")" {
			continue
		}
		out[strings.ToLower(t[i])] = t[i+1]
	}
	return out
}

// parsePersonalNamespace returns the first personal namespace of a
// NAMESPACE response: (("INBOX." ".")) NIL NIL.
func parsePersonalNamespace(s string) (prefix, delim string, ok bool) {
	p := parseNamespaces(s).Personal
	return p.Prefix, p.Delim, p.OK
}

// parseNamespaces reads the three parts of a NAMESPACE response
// (personal, other users', shared), each NIL or a list of descriptors
// ("prefix" "delim" extensions...), and keeps the first descriptor of
// each.
func parseNamespaces(s string) *Namespaces {
	ns := &Namespaces{}
	parts := []*NamespaceEntry{&ns.Personal, &ns.Other, &ns.Shared}
	t := sexpTokens(s)
	for i, part := 0, 0; i < len(t) && part < len(parts); part++ {
		if t[i] == nilToken {
			i++
			continue
		}
		if t[i] != "(" {
			break
		}
		// The part's list: skip to its end, reading the first descriptor.
		depth := 0
		first := true
		for ; i < len(t); i++ {
			switch t[i] {
			case "(":
				depth++
				if depth == 2 && first && i+2 < len(t) && t[i+1] != "(" && t[i+1] != ")" && t[i+1] != nilToken {
					e := parts[part]
					e.Prefix, e.Delim, e.OK = t[i+1], t[i+2], true
					if e.Delim == nilToken || e.Delim == ")" {
						e.Delim = ""
					}
					first = false
				}
				continue
			case ")":
				depth--
			}
			if depth == 0 {
				i++
				break
			}
		}
	}
	return ns
}

// handOver ends c's use of its connection, which was logged in by c, and
// returns what the go-imap client must read first: a PREAUTH greeting
// with the capabilities after the login (none follows a login on the
// wire, RFC 9051 §7.1.4), then whatever the server sent meanwhile that c
// had read ahead. c must not be used afterwards.
func (c *AppendConn) handOver() []byte {
	var b strings.Builder
	b.WriteString("* PREAUTH ")
	if len(c.capsRaw) > 0 {
		b.WriteString("[CAPABILITY " + strings.Join(c.capsRaw, " ") + "] ")
	}
	b.WriteString("logged in by imapkit\r\n")
	ahead, _ := c.br.Peek(c.br.Buffered())
	c.broken = true
	return append([]byte(b.String()), ahead...)
}
