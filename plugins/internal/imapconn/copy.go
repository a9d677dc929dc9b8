package imapconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

var _ connector.SourceCopier = (*source)(nil)

// CopyTo implements connector.SourceCopier for a target session of this
// connector whose server offers MULTIAPPEND (RFC 3502); for any other
// target it returns connector.ErrUnsupported and does nothing, and the
// caller copies message by message.
//
// The batch costs one UID FETCH (UID BODY.PEEK[]) on a source connection
// with the folder EXAMINEd and one MULTIAPPEND on one of the target's
// MULTIAPPEND connections (imapkit.AppendConn): each body streams from the
// FETCH literal straight into the next APPEND literal as it arrives, so
// memory does not grow with message sizes. Messages are appended in the
// order the server returns them; outcomes come back in item order.
//
// The outcomes follow from MULTIAPPEND being atomic:
//
//   - a message the source does not return (or an ID that is no UID): a
//     source error, connector.ErrNotFound; a UID the source does not show
//     yet is asked for once more after a NOOP;
//   - a message over the target's APPENDLIMIT: left out of the command
//     (its literal read and dropped), a target error, connector.ErrTooLarge;
//   - the target refuses the command (NO or BAD): none was stored; every
//     message of the command gets a target error with the refusal,
//     classified (TRYCREATE → not found, TOOBIG → too large, …); so do
//     all of them when SELECT refuses the target folder;
//   - the source fails in mid-batch (a lost connection, an error in a
//     literal): the target connection is broken before the command's end,
//     so nothing is stored, and CopyTo fails as a whole with
//     connector.ErrUnavailable;
//   - the target connection fails: CopyTo fails as a whole. Before the
//     command's end went out nothing was stored; after it, the messages
//     may or may not have been stored, and the caller looks them up.
//
// On success each outcome has the message's Ref (the APPENDUID), the
// flags the folder refused (DroppedFlags, as Append) and its Size.
func (s *source) CopyTo(ctx context.Context, folder string, items []connector.CopyItem, dst connector.Target, dstFolder string) ([]connector.CopyOutcome, error) {
	t, ok := dst.(*target)
	if !ok {
		return nil, connector.Errorf(connector.KindUnsupported, "copy: the target is not a session of the IMAP connector in this process")
	}
	if !t.caps.Has(imap.CapMultiAppend) {
		return nil, connector.Errorf(connector.KindUnsupported, "copy: the target server has no MULTIAPPEND")
	}
	b := &batch{
		s: s, t: t, folder: folder, dstFolder: dstFolder, items: items,
		outs:    make([]connector.CopyOutcome, len(items)),
		byUID:   make(map[uint32]int, len(items)),
		fetched: make([]bool, len(items)),
		dropped: make([][]string, len(items)),
		sizes:   make([]int64, len(items)),
		limit:   t.appendLimit(),
	}
	return b.run(ctx)
}

// batch is one CopyTo call.
type batch struct {
	s                 *source
	t                 *target
	folder, dstFolder string
	items             []connector.CopyItem
	outs              []connector.CopyOutcome

	byUID   map[uint32]int // UID → item
	want    imap.UIDSet
	fetched []bool     // the source returned the item's body
	dropped [][]string // flags the folder refused, per item
	sizes   []int64
	sent    []int // items in the MULTIAPPEND, in order
	added   bool  // a message was given to the MULTIAPPEND

	limit  int64
	filter flagFilter
	ma     *imapkit.MultiAppend
	// targetErr is the MULTIAPPEND's failure in mid-batch.
	targetErr error
}

// errTargetFailed stops the FETCH loop when the target failed; the
// failure itself is in batch.targetErr.
var errTargetFailed = errors.New("target failed")

func (b *batch) run(ctx context.Context) ([]connector.CopyOutcome, error) {
	for i, it := range b.items {
		uid, ok := parseUID(it.ID)
		if !ok {
			b.outs[i].Err = &connector.CopyError{Source: true, Err: connector.Errorf(connector.KindNotFound, "%q is not a message ID of this connector (a UID)", it.ID)}
			continue
		}
		if _, dup := b.byUID[uid]; dup {
			b.outs[i].Err = &connector.CopyError{Source: true, Err: connector.Errorf(connector.KindInvalid, "message %d is in the batch twice", uid)}
			continue
		}
		b.byUID[uid] = i
		b.want.AddNum(imap.UID(uid))
	}
	if len(b.want) == 0 {
		return b.outs, nil
	}

	// The target first: a refused folder costs no FETCH.
	ac, err := b.t.appender(ctx, b.dstFolder)
	if err != nil {
		if imapkit.Response(err) != nil {
			b.failPending(false, err)
			return b.outs, nil
		}
		return nil, err
	}
	defer b.t.appenders.Put(ac)
	b.filter = newFlagFilter(ac.SelectData())
	b.ma = ac.MultiAppend(ctx, b.dstFolder)
	defer b.ma.Abort() // a no-op once finished

	srcErr := b.fetchAll(ctx)
	switch {
	case srcErr != nil && imapkit.Response(srcErr) != nil && !b.added:
		// The source refused the folder (EXAMINE): nothing to copy.
		b.failPending(true, srcErr)
		return b.outs, nil
	case srcErr != nil:
		// Never complete the MULTIAPPEND: the target stores nothing.
		b.ma.Abort()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("copy from %s: %w", strconv.Quote(b.folder), err)
		}
		if connector.KindOf(srcErr) == connector.KindUnavailable {
			return nil, srcErr
		}
		return nil, connector.Wrap(connector.KindUnavailable, "copy from "+strconv.Quote(b.folder)+": reading the source failed, nothing was stored", srcErr)
	case b.targetErr != nil:
		if imapkit.Response(b.targetErr) == nil {
			return nil, b.targetErr
		}
		// Refused before its end (a synchronizing literal's go-ahead
		// denied): nothing was stored.
		b.failPending(false, b.targetErr)
		return b.outs, nil
	}

	for uid, i := range b.byUID {
		if !b.fetched[i] {
			b.outs[i].Err = &connector.CopyError{Source: true, Err: connector.Errorf(connector.KindNotFound, "fetch message %d from %s: no such message", uid, strconv.Quote(b.folder))}
		}
	}
	res, err := b.ma.Finish()
	if err != nil {
		if imapkit.Response(err) == nil {
			return nil, err
		}
		b.failPending(false, err)
		return b.outs, nil
	}
	for k, i := range b.sent {
		r := &connector.AppendResult{DroppedFlags: b.dropped[i]}
		if res.UIDs != nil {
			r.Ref = strconv.FormatUint(uint64(res.UIDs[k]), 10)
		}
		b.outs[i] = connector.CopyOutcome{Result: r, Size: b.sizes[i]}
	}
	b.s.log.Debug("imap batch copied", "folder", b.folder, "target_folder", b.dstFolder, "messages", len(b.items), "stored", len(b.sent))
	return b.outs, nil
}

// failPending gives every item without an outcome yet the error err, of
// the source or of the target.
func (b *batch) failPending(source bool, err error) {
	for _, i := range b.byUID {
		if b.outs[i].Err == nil && b.outs[i].Result == nil {
			b.outs[i] = connector.CopyOutcome{Err: &connector.CopyError{Source: source, Err: err}}
		}
	}
}

// fetchAll streams the wanted messages from the source into the
// MULTIAPPEND. It returns the source's failure; a failure of the target
// ends it early and is left in b.targetErr.
func (b *batch) fetchAll(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		c, err := b.s.examined(ctx, b.folder)
		if err != nil {
			return err
		}
		err = b.fetch(ctx, c, b.want)
		if err == nil && b.targetErr == nil {
			if missing := b.missing(); len(missing) > 0 {
				// They may be newer than the connection's view of the
				// folder.
				if err = c.Noop(ctx); err == nil {
					err = b.fetch(ctx, c, missing)
				}
			}
		}
		broken := c.Broken()
		b.s.pool.Put(c)
		if err == nil || !broken || attempt > 0 || b.added || ctx.Err() != nil || connector.KindOf(err) != connector.KindUnavailable {
			return err
		}
		// Nothing reached the target yet: once more on a new connection.
		b.s.log.Debug("imap connection lost; trying again on a new one", "conn", c.ID, "err", err)
	}
}

// missing returns the wanted UIDs the source did not return.
func (b *batch) missing() imap.UIDSet {
	var out imap.UIDSet
	for uid, i := range b.byUID {
		if !b.fetched[i] {
			out.AddNum(imap.UID(uid))
		}
	}
	return out
}

// fetch runs one UID FETCH of set on c and hands each body to message.
// The source's failure is returned; if the target failed, the FETCH is
// abandoned (which costs the source connection) and nil returned.
func (b *batch) fetch(ctx context.Context, c *imapkit.Conn, set imap.UIDSet) error {
	what := fmt.Sprintf("fetch %d messages from %s", uidCount(set), strconv.Quote(b.folder))
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	end := c.Begin(ctx)
	cmd := c.Client.Fetch(set, bodyOptions)
	var stop error
next:
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		// go-imap, too, relies on the UID coming before the body: it
		// needs it to route a UID FETCH's response to its command.
		var uid uint32
		for item := m.Next(); item != nil; item = m.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = uint32(it.UID)
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				if stop = b.message(ctx, c, what, uid, it.Literal); stop != nil {
					break next
				}
			}
		}
	}
	if stop != nil {
		// IMAP cannot abandon a FETCH half-way: drop the connection.
		c.Abort()
		cmd.Close()
		end()
		if errors.Is(stop, errTargetFailed) {
			return nil
		}
		return stop
	}
	err := cmd.Close()
	end()
	if err == nil {
		return nil
	}
	err = c.Classify(ctx, err, what)
	if imapkit.Response(err) != nil && !c.Broken() {
		// A NO after the data (some messages could not be read): the
		// bodies that came are whole; the others count as missing.
		b.s.log.Debug("imap fetch refused in part", "folder", b.folder, "err", err)
		return nil
	}
	return err
}

// message streams one fetched body into the MULTIAPPEND. It returns the
// source's failure, errTargetFailed if the target failed (see
// b.targetErr), or nil.
func (b *batch) message(ctx context.Context, c *imapkit.Conn, what string, uid uint32, lit imap.LiteralReader) error {
	i, ok := b.byUID[uid]
	if !ok || b.fetched[i] {
		return nil // not asked for: go-imap discards the literal
	}
	b.fetched[i] = true
	size := lit.Size()
	if b.limit > 0 && size > b.limit {
		b.outs[i].Err = &connector.CopyError{Err: connector.Errorf(connector.KindTooLarge,
			"append %d bytes to %s: the server accepts at most %d bytes (APPENDLIMIT)", size, strconv.Quote(b.dstFolder), b.limit)}
		return nil
	}
	kept, dropped := b.filter.filter(b.items[i].Flags)
	body := &literal{r: lit}
	b.added = true
	err := b.ma.Add(kept, b.items[i].InternalDate, size, body)
	switch {
	case body.err != nil:
		return c.Classify(ctx, body.err, fmt.Sprintf("%s: message %d after %d of %d bytes", what, uid, body.n, size))
	case err != nil && body.eof && body.n < size:
		return connector.Errorf(connector.KindUnavailable, "%s: message %d ended after %d of %d bytes", what, uid, body.n, size)
	case err != nil:
		b.targetErr = err
		return errTargetFailed
	}
	b.sent = append(b.sent, i)
	b.dropped[i] = dropped
	b.sizes[i] = size
	return nil
}

// literal counts what is read of a fetched body and remembers how its
// reading ended.
type literal struct {
	r   io.Reader
	n   int64
	eof bool
	err error
}

func (l *literal) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		l.eof = true
	case err != nil:
		l.err = err
	}
	return n, err
}

// examined returns a source connection with folder EXAMINEd; a pooled
// connection that turns out broken is replaced once.
func (s *source) examined(ctx context.Context, folder string) (*imapkit.Conn, error) {
	for attempt := 0; ; attempt++ {
		c, err := s.pool.Get(ctx, folder)
		if err != nil {
			return nil, err
		}
		_, err = s.examine(ctx, c, folder, false)
		if err == nil {
			return c, nil
		}
		broken := c.Broken()
		s.pool.Put(c)
		if !broken || attempt > 0 || ctx.Err() != nil || connector.KindOf(err) != connector.KindUnavailable {
			return nil, err
		}
	}
}

// appender returns a MULTIAPPEND connection with folder selected, and
// remembers the folder's flag filter. A pooled connection that turns out
// broken is replaced once; a folder the server refuses to select is
// connector.ErrNotFound when a LIST confirms it is missing (as for
// Append).
func (t *target) appender(ctx context.Context, folder string) (*imapkit.AppendConn, error) {
	for attempt := 0; ; attempt++ {
		ac, err := t.appenders.Get(ctx, folder)
		if err != nil {
			return nil, err
		}
		sd, err := ac.Select(ctx, folder)
		if err == nil {
			t.mu.Lock()
			t.perm[folder] = newFlagFilter(sd)
			t.mu.Unlock()
			return ac, nil
		}
		broken := ac.Broken()
		t.appenders.Put(ac)
		if !broken || attempt > 0 || ctx.Err() != nil || connector.KindOf(err) != connector.KindUnavailable {
			if connector.KindOf(err) == connector.KindPermanent && imapkit.Response(err) != nil {
				t.run(ctx, "", always, func(c *imapkit.Conn) error {
					err = t.notFound(ctx, c, folder, err)
					return nil
				})
			}
			return nil, err
		}
	}
}
