package imapkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/sdk/connector"
)

// MultiAppend is one MULTIAPPEND command (RFC 3502) in progress. Messages
// are added one at a time, each streamed from its reader into its literal,
// and Finish ends the command. The server stores all of the messages or
// none of them.
//
// The literals are non-synchronizing where the server has LITERAL+ (any
// size) or LITERAL- (up to 4096 bytes), so the whole command costs one
// round trip; otherwise each literal waits for the server's go-ahead.
//
// What an error means for the messages:
//
//   - a refusal (the server's NO or BAD, classified by FromResponse, its
//     response kept in the chain for Response): none was stored;
//   - an error before the command's last line was sent (a body that
//     failed, a connection lost while sending, a context that ended): the
//     connection is broken before the command is complete, so none was
//     stored;
//   - an error after it was sent (Sent reports true): they may or may not
//     have been stored.
type MultiAppend struct {
	c       *AppendConn
	ctx     context.Context
	mailbox string
	what    string

	tag  string // set once the command line was begun
	end  func() // ends the connection's operation
	n    int    // messages sent whole
	sent bool   // the command's last line went out
	over bool   // the server answered before the command's end
	done bool   // Finish or Abort was called
	err  error  // the command's failure, returned by every later call
}

// AppendUIDs is what a successful MULTIAPPEND reports (RFC 4315
// APPENDUID).
type AppendUIDs struct {
	// UIDValidity is the mailbox's UIDVALIDITY; 0 if not reported.
	UIDValidity uint32
	// UIDs are the new messages' UIDs in the order they were added; nil
	// when the server did not report them (no UIDPLUS) or reported a
	// number of UIDs other than the number of messages.
	UIDs []imap.UID
}

// dateTimeLayout is IMAP's date-time (RFC 9051 §9), without its quotes.
const dateTimeLayout = "_2-Jan-2006 15:04:05 -0700"

// MultiAppend returns a MULTIAPPEND to mailbox, bound to ctx. Nothing is
// sent until the first Add; every MultiAppend must end with Finish or
// Abort.
func (c *AppendConn) MultiAppend(ctx context.Context, mailbox string) *MultiAppend {
	return &MultiAppend{c: c, ctx: ctx, mailbox: mailbox, what: "append to " + strconv.Quote(mailbox)}
}

// Len returns the number of messages added whole.
func (a *MultiAppend) Len() int { return a.n }

// Sent reports whether the command's last line was sent, after which a
// connection failure leaves open whether the messages were stored.
func (a *MultiAppend) Sent() bool { return a.sent }

// Add sends one more message: its flags (atoms; the caller filters them
// for the mailbox), its date (none if zero) and exactly size bytes read
// from body, as a literal.
//
// If body fails or ends early, the connection is broken before the
// literal is complete, so that the server stores nothing, and Add returns
// an error wrapping body's error (io.ErrUnexpectedEOF for a short body).
// After any error the command is over: later calls return the same error.
func (a *MultiAppend) Add(flags []imap.Flag, date time.Time, size int64, body io.Reader) error {
	if a.err != nil {
		return a.err
	}
	if a.done {
		return errors.New("imapkit: Add after the end of the MULTIAPPEND")
	}
	if size < 0 {
		return connector.Errorf(connector.KindInvalid, "%s: negative size", a.what)
	}
	for _, f := range flags {
		if !atomFlag(string(f)) {
			return connector.Errorf(connector.KindInvalid, "%s: %q is not a flag", a.what, f)
		}
	}
	c := a.c
	if a.tag == "" {
		if err := ctxErr(a.ctx, a.what); err != nil {
			a.err = err
			return err
		}
		if c.Broken() {
			a.err = c.classify(a.ctx, errBroken, a.what)
			return a.err
		}
		a.end = c.wc.begin(a.ctx)
		a.tag = c.nextTag()
		c.bw.WriteString(a.tag + " APPEND " + encodeMailbox(a.mailbox))
	}
	c.bw.WriteByte(' ')
	if len(flags) > 0 {
		c.bw.WriteByte('(')
		for i, f := range flags {
			if i > 0 {
				c.bw.WriteByte(' ')
			}
			c.bw.WriteString(string(f))
		}
		c.bw.WriteString(") ")
	}
	if !date.IsZero() {
		c.bw.WriteString(`"` + date.Format(dateTimeLayout) + `" `)
	}
	if c.nonSync(size) {
		fmt.Fprintf(c.bw, "{%d+}\r\n", size)
	} else {
		fmt.Fprintf(c.bw, "{%d}\r\n", size)
		if err := c.bw.Flush(); err != nil {
			return a.fail(err)
		}
		if err := c.waitContinuation(a.tag); err != nil {
			if Response(err) == nil {
				return a.fail(err)
			}
			// Refused before the literal: the command is over and the
			// connection in step.
			a.over = true
			a.stop()
			c.forget()
			a.err = c.classify(a.ctx, err, a.what)
			return a.err
		}
	}
	src := &sourceReader{r: body}
	n, err := c.bw.ReadFrom(io.LimitReader(src, size))
	if src.err != nil || (err == nil && n < size) {
		// Never complete the literal: the server then stores nothing.
		c.Abort()
		a.stop()
		cause := src.err
		if cause == nil {
			cause = io.ErrUnexpectedEOF
		}
		a.err = fmt.Errorf("%s: message body failed after %d of %d bytes: %w", a.what, n, size, cause)
		return a.err
	}
	if err != nil {
		return a.fail(err)
	}
	a.n++
	return nil
}

// Finish ends the command and waits for the server's answer. With no
// message added it sends nothing and returns empty AppendUIDs.
func (a *MultiAppend) Finish() (*AppendUIDs, error) {
	if a.err != nil {
		a.done = true
		return nil, a.err
	}
	if a.done {
		return nil, errors.New("imapkit: Finish after the end of the MULTIAPPEND")
	}
	a.done = true
	if a.tag == "" {
		return &AppendUIDs{}, nil
	}
	c := a.c
	// The messages go out first, so that a failure up to here is known
	// to leave the command incomplete.
	if err := c.bw.Flush(); err != nil {
		return nil, a.fail(err)
	}
	a.sent = true
	c.bw.WriteString("\r\n")
	if err := c.bw.Flush(); err != nil {
		return nil, a.fail(err)
	}
	r, err := c.wait(a.tag, nil, nil)
	if err != nil {
		if Response(err) == nil {
			return nil, a.fail(err)
		}
		a.stop()
		// Selecting the mailbox again next time tells a mailbox that went
		// away (a NONEXISTENT) from one that refused these messages.
		c.forget()
		a.err = c.classify(a.ctx, err, a.what)
		return nil, a.err
	}
	a.stop()
	return parseAppendUID(r, a.n), nil
}

// Abort gives the command up. If it was begun and not answered, the
// connection is broken before the command is complete, so the server
// stores nothing.
func (a *MultiAppend) Abort() {
	if a.done {
		return
	}
	a.done = true
	if a.tag != "" && !a.over && !a.sent && a.err == nil {
		a.c.Abort()
	}
	a.stop()
	if a.err == nil {
		a.err = connector.Errorf(connector.KindUnavailable, "%s: given up", a.what)
	}
}

// fail records a failure of the connection: it is broken, and the error
// classified.
func (a *MultiAppend) fail(err error) error {
	a.err = a.c.classify(a.ctx, err, a.what)
	a.c.broken = true
	a.c.wc.interrupt()
	a.stop()
	return a.err
}

// stop ends the connection's operation.
func (a *MultiAppend) stop() {
	if a.end != nil {
		a.end()
		a.end = nil
	}
}

// forget drops the selected mailbox, so that the next Select asks again.
func (c *AppendConn) forget() { c.mailbox, c.readOnly, c.sel = "", false, nil }

// sourceReader remembers the error of the reader (a message body), to
// tell it from the connection's.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}

// atomFlag reports whether f can be sent as a flag: an atom (RFC 9051 §9
// atom-char), optionally after one backslash.
func atomFlag(f string) bool {
	s := strings.TrimPrefix(f, `\`)
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c >= 0x7f:
			return false
		case strings.IndexByte(`(){%*"\]`, c) >= 0:
			return false
		}
	}
	return true
}

// parseAppendUID reads "APPENDUID <uidvalidity> <uid-set>" (RFC 4315) from
// a tagged OK for n messages.
func parseAppendUID(r *response, n int) *AppendUIDs {
	out := &AppendUIDs{}
	if r == nil || r.code != "APPENDUID" {
		return out
	}
	v, set, ok := strings.Cut(r.args, " ")
	validity, err := strconv.ParseUint(v, 10, 32)
	if !ok || err != nil {
		return out
	}
	out.UIDValidity = uint32(validity)
	out.UIDs = expandUIDSet(set, n)
	return out
}

// expandUIDSet expands a uid-set of exactly n UIDs, in order (a range in
// ascending order, whichever way it is written: a server assigns the UIDs
// of one MULTIAPPEND in ascending order); nil if it holds another number or
// is malformed.
func expandUIDSet(set string, n int) []imap.UID {
	out := make([]imap.UID, 0, n)
	for _, part := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil || a == 0 {
			return nil
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil || b == 0 {
				return nil
			}
		}
		if a > b {
			a, b = b, a
		}
		if b-a >= uint64(n-len(out)) {
			return nil
		}
		for u := a; u <= b; u++ {
			out = append(out, imap.UID(u))
		}
	}
	if len(out) != n {
		return nil
	}
	return out
}
