package imapkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ternmail/tern/sdk/connector"
)

// Conn is one authenticated IMAP connection. It is not safe for
// concurrent use: a Pool hands it to one operation at a time. It remembers
// the mailbox it has selected, so that consecutive operations on one
// folder cost no SELECT.
type Conn struct {
	// Client is the go-imap client. Call its methods inside Do, so that
	// the operation's context and timeouts apply.
	Client *imapclient.Client
	// ID names the connection in logs ("imap-7").
	ID string
	// Addr is the server's host:port.
	Addr string

	wc   *wireConn
	log  *slog.Logger
	caps imap.CapSet

	mailbox    string
	readOnly   bool
	sel        *imap.SelectData
	selectedAt time.Time

	lastUsed time.Time
}

// Caps returns the server's capabilities as of the end of the login.
func (c *Conn) Caps() imap.CapSet { return c.caps }

// Do runs fn, which issues commands on c.Client and waits for them, as one
// operation bound to ctx: the inactivity timeout applies, and if ctx ends
// the connection is interrupted (and broken for good). A failure is
// returned classified (see Classify), its message starting with what.
func (c *Conn) Do(ctx context.Context, what string, fn func() error) error {
	if err := ctxErr(ctx, what); err != nil {
		return err
	}
	if c.Broken() {
		return c.Classify(ctx, errBroken, what)
	}
	end := c.wc.begin(ctx)
	err := fn()
	end()
	return c.Classify(ctx, err, what)
}

// errBroken is the error of an operation refused because its connection
// was already broken.
var errBroken = errors.New("connection already broken")

// Begin starts an operation bound to ctx that outlives the call, such as
// streaming a message body to a reader; call end when it is over.
func (c *Conn) Begin(ctx context.Context) (end func()) { return c.wc.begin(ctx) }

// Classify turns an error from the client library into a classified one
// whose message starts with what:
//
//   - a server's NO or BAD: by response code and text (see FromResponse);
//   - the operation's context ended: the context's error;
//   - a dead connection (I/O error, timeout, BYE): KindUnavailable (or
//     KindThrottled with Microsoft 365's backoff hint, or KindInvalid for
//     a certificate that does not verify);
//   - errors already classified are returned as they are.
func (c *Conn) Classify(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	var ce *connector.Error
	if errors.As(err, &ce) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
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
	if c.Broken() {
		return classifyIO(err, what, bye)
	}
	return connector.Wrap(connector.KindUnknown, what, err)
}

// Broken reports whether the connection can no longer be used.
func (c *Conn) Broken() bool {
	ioErr, interrupted, _ := c.wc.state()
	if ioErr != nil || interrupted || c.wc.isClosed() {
		return true
	}
	select {
	case <-c.Client.Closed():
		return true
	default:
		return false
	}
}

// Selected returns the mailbox selected on c, "" if none, and whether it
// was opened read-only (EXAMINE).
func (c *Conn) Selected() (mailbox string, readOnly bool) { return c.mailbox, c.readOnly }

// SelectData returns what the last SELECT or EXAMINE reported, nil if no
// mailbox is selected.
func (c *Conn) SelectData() *imap.SelectData { return c.sel }

// Select opens mailbox with SELECT, or with EXAMINE when readOnly (RFC 9051
// §6.3.2: nothing in it can change, not even \Seen), asking for
// HIGHESTMODSEQ where the server has CONDSTORE. If mailbox is already
// selected in that mode it does nothing, unless refresh is set (to learn
// the current UIDNEXT and HIGHESTMODSEQ).
func (c *Conn) Select(ctx context.Context, mailbox string, readOnly, refresh bool) (*imap.SelectData, error) {
	if !refresh && c.sel != nil && c.mailbox == mailbox && c.readOnly == readOnly {
		return c.sel, nil
	}
	verb := "select"
	if readOnly {
		verb = "examine"
	}
	opts := &imap.SelectOptions{ReadOnly: readOnly, CondStore: c.caps.Has(imap.CapCondStore)}
	var data *imap.SelectData
	start := time.Now()
	err := c.Do(ctx, fmt.Sprintf("%s %s", verb, strconv.Quote(mailbox)), func() error {
		var err error
		data, err = c.Client.Select(mailbox, opts).Wait()
		return err
	})
	if err != nil {
		// A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
		c.mailbox, c.sel = "", nil
		return nil, err
	}
	c.mailbox, c.readOnly, c.sel, c.selectedAt = mailbox, readOnly, data, start
	return data, nil
}

// SelectedAt returns when the selected mailbox was opened: the
// connection's view of it holds at least the messages it held then.
// NOOP brings the view up to date without changing this time.
func (c *Conn) SelectedAt() time.Time { return c.selectedAt }

// Noop sends NOOP, which also brings the selected mailbox's view up to
// date (new messages, expunges).
func (c *Conn) Noop(ctx context.Context) error {
	return c.Do(ctx, "noop", func() error { return c.Client.Noop().Wait() })
}

func (c *Conn) idleSince() time.Time { return c.lastUsed }
func (c *Conn) markUsed()            { c.lastUsed = time.Now() }
func (c *Conn) logDropped()          { c.log.Debug("imap connection dropped", "conn", c.ID) }

// Close logs out (briefly, when the connection is healthy) and closes the
// connection.
func (c *Conn) Close() error {
	if !c.Broken() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c.Do(ctx, "logout", func() error { return c.Client.Logout().Wait() })
		cancel()
	}
	c.Client.Close()
	c.log.Debug("imap connection closed", "conn", c.ID)
	return nil
}

// Abort breaks the connection at once, e.g. in the middle of a literal
// that must not be completed (an APPEND whose body failed): everything
// blocked on it fails, and the server discards the unfinished command.
// Commands in progress must still be closed (FetchCommand.Close,
// AppendCommand.Close) so that the client library's reader can end.
func (c *Conn) Abort() {
	c.wc.interrupt()
	c.wc.Close()
	go c.Client.Close() // waits for the library's reader to end
}
