package imapconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

// source is a mailbox opened for reading. Every folder is opened with
// EXAMINE, never SELECT.
type source struct{ *session }

var _ connector.Source = (*source)(nil)

// Status implements connector.Source.
func (s *source) Status(ctx context.Context, folder string) (*connector.FolderStatus, error) {
	var st *connector.FolderStatus
	err := s.run(ctx, folder, always, func(c *imapkit.Conn) error {
		data, err := s.status(ctx, c, folder, &imap.StatusOptions{NumMessages: true, UIDValidity: true})
		if err != nil {
			return err
		}
		st = &connector.FolderStatus{Validity: uidValidity(data.UIDValidity)}
		if data.NumMessages != nil {
			st.Messages = int64(*data.NumMessages)
		}
		return nil
	})
	return st, err
}

// examine opens folder read-only (EXAMINE) on c, unless c has it open
// already; with refresh it is opened again, to see the folder as it is
// now. A folder that does not exist is connector.ErrNotFound.
func (s *source) examine(ctx context.Context, c *imapkit.Conn, folder string, refresh bool) (*imap.SelectData, error) {
	sd, err := c.Select(ctx, folder, true, refresh)
	if err != nil {
		return nil, s.notFound(ctx, c, folder, err)
	}
	return sd, nil
}

// List implements connector.Source.
//
// It opens the folder with EXAMINE (CONDSTORE where offered) to learn
// UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ, which make the checkpoint. With
// a checkpoint of the same UIDVALIDITY it lists, in ascending UID order,
// the messages whose flags changed (FlagsOnly: those with a MODSEQ above
// the checkpoint's under CONDSTORE, every older message without it), then
// the messages added since (full metadata); when UIDNEXT and
// HIGHESTMODSEQ are unchanged it sends nothing more at all. Without a
// usable checkpoint it lists everything. UIDs come from one UID SEARCH;
// metadata from one UID FETCH per page, each on whichever pooled
// connection is free.
func (s *source) List(ctx context.Context, folder string, q *connector.ListQuery, fn func([]connector.Message) error) (*connector.ListResult, error) {
	if q == nil {
		q = &connector.ListQuery{}
	}
	deliver := q.PageSize
	if deliver <= 0 {
		deliver = s.cfg.pageSize
	}
	since, haveSince := parseCheckpoint(q.Since)

	var (
		now              checkpoint
		flagUIDs, newUID imap.UIDSet
		listedAt         time.Time
	)
	err := s.run(ctx, folder, always, func(c *imapkit.Conn) error {
		flagUIDs, newUID = nil, nil
		listedAt = time.Now()
		sd, err := s.examine(ctx, c, folder, true)
		if err != nil {
			return err
		}
		now = checkpoint{validity: sd.UIDValidity, uidNext: uint32(sd.UIDNext), modSeq: sd.HighestModSeq}
		if now.uidNext == 0 {
			// RFC 2060 servers may leave UIDNEXT out of EXAMINE.
			st, err := s.status(ctx, c, folder, &imap.StatusOptions{UIDNext: true})
			if err != nil {
				return err
			}
			now.uidNext = uint32(st.UIDNext)
		}
		if sd.NumMessages == 0 {
			return nil
		}
		hi := uint32(0) // no upper bound if UIDNEXT is still unknown
		if now.uidNext > 0 {
			hi = now.uidNext - 1
		}
		lo := uint32(1)
		if haveSince && since.validity == now.validity {
			if now.modSeq != 0 && since.modSeq != 0 && now.uidNext != 0 && since.uidNext == now.uidNext && since.modSeq == now.modSeq {
				return nil // nothing changed
			}
			lo = since.uidNext
			if since.uidNext > 1 {
				old := imap.UIDSet{{Start: 1, Stop: imap.UID(since.uidNext - 1)}}
				switch {
				case now.modSeq != 0 && since.modSeq != 0 && now.modSeq <= since.modSeq:
					// No flag changed.
				case now.modSeq != 0 && since.modSeq != 0:
					// RFC 7162 §3.1.5: MODSEQ n matches mod-sequences >= n.
					flagUIDs, err = uidSearch(ctx, c, "search changed flags in "+strconv.Quote(folder),
						&imap.SearchCriteria{UID: []imap.UIDSet{old}, ModSeq: &imap.SearchCriteriaModSeq{ModSeq: since.modSeq + 1}}, 1, since.uidNext-1)
				default:
					flagUIDs, err = uidSearch(ctx, c, "search "+strconv.Quote(folder), &imap.SearchCriteria{UID: []imap.UIDSet{old}}, 1, since.uidNext-1)
				}
				if err != nil {
					return err
				}
			}
		}
		if hi != 0 && lo > hi {
			return nil
		}
		newUID, err = uidSearch(ctx, c, "search "+strconv.Quote(folder),
			&imap.SearchCriteria{UID: []imap.UIDSet{{{Start: imap.UID(lo), Stop: imap.UID(hi)}}}}, lo, hi)
		return err
	})
	if err != nil {
		return nil, err
	}
	if now.uidNext == 0 {
		// Still unknown: the next listing starts after the highest UID.
		now.uidNext = 1
		if n := len(newUID); n > 0 {
			now.uidNext = uint32(newUID[n-1].Stop) + 1
		}
	}

	pager := &pager{s: s, folder: folder, validity: now.validity, listedAt: listedAt, deliver: deliver, fn: fn}
	if err := pager.run(ctx, flagUIDs, flagOptions); err != nil {
		return nil, err
	}
	if err := pager.run(ctx, newUID, metaOptions); err != nil {
		return nil, err
	}
	return &connector.ListResult{Checkpoint: connector.Checkpoint(now.String()), Validity: uidValidity(now.validity)}, nil
}

// pager fetches a listing's UIDs page by page and hands them to the
// caller's fn. No connection is held while fn runs, so core may fetch
// bodies from within fn without starving the pool.
type pager struct {
	s        *source
	folder   string
	validity uint32
	listedAt time.Time
	deliver  int
	fn       func([]connector.Message) error
}

func (p *pager) run(ctx context.Context, uids imap.UIDSet, opts *imap.FetchOptions) error {
	if len(uids) == 0 {
		return nil
	}
	var page []fetched
	for set := range uidPages(uids, p.s.cfg.pageSize) {
		err := p.s.run(ctx, p.folder, always, func(c *imapkit.Conn) error {
			page = page[:0]
			// A connection that opened the folder before the listing
			// began may not see its newest messages yet.
			stale := c.SelectedAt().Before(p.listedAt)
			sd, err := p.s.examine(ctx, c, p.folder, stale)
			if err != nil {
				return err
			}
			if sd.UIDValidity != p.validity {
				return connector.Errorf(connector.KindTemporary, "UIDVALIDITY of %s changed during the listing (%d, now %d)", strconv.Quote(p.folder), p.validity, sd.UIDValidity)
			}
			what := fmt.Sprintf("fetch metadata of %d messages in %s", uidCount(set), strconv.Quote(p.folder))
			return uidFetch(ctx, c, what, set, opts, func(f fetched) {
				if set.Contains(imap.UID(f.uid)) {
					page = append(page, f)
				}
			})
		})
		if err != nil {
			return err
		}
		slices.SortFunc(page, func(a, b fetched) int { return int(a.uid) - int(b.uid) })
		page = slices.CompactFunc(page, func(a, b fetched) bool { return a.uid == b.uid })
		msgs := make([]connector.Message, len(page))
		for i := range page {
			msgs[i] = page[i].msg
		}
		for len(msgs) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(p.deliver, len(msgs))
			if err := p.fn(msgs[:n:n]); err != nil {
				return err
			}
			msgs = msgs[n:]
		}
	}
	return nil
}

// Fetch implements connector.Source: UID FETCH uid (BODY.PEEK[]), so the
// message stays unread. The body streams from the connection, which stays
// the body's until Close; a message the connection's view does not show
// is looked for again after a NOOP (it may be newer than the view).
func (s *source) Fetch(ctx context.Context, folder, id string) (connector.Body, error) {
	uid, ok := parseUID(id)
	if !ok {
		return nil, connector.Errorf(connector.KindNotFound, "%q is not a message ID of this connector (a UID)", id)
	}
	for attempt := 0; ; attempt++ {
		c, err := s.pool.Get(ctx, folder)
		if err != nil {
			return nil, err
		}
		b, err := s.fetchBody(ctx, c, folder, uid)
		if err == nil {
			return b, nil
		}
		broken := c.Broken()
		s.pool.Put(c)
		if !broken || attempt > 0 || ctx.Err() != nil || connector.KindOf(err) != connector.KindUnavailable {
			return nil, err
		}
	}
}

var bodyOptions = &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}

// fetchBody starts the FETCH and returns a body reading the literal. On
// error, the command is over and c can go back to the pool.
func (s *source) fetchBody(ctx context.Context, c *imapkit.Conn, folder string, uid uint32) (*body, error) {
	what := fmt.Sprintf("fetch message %d from %s", uid, strconv.Quote(folder))
	if _, err := s.examine(ctx, c, folder, false); err != nil {
		return nil, err
	}
	for try := 0; try < 2; try++ {
		if try > 0 {
			if err := c.Noop(ctx); err != nil {
				return nil, err
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		end := c.Begin(ctx)
		cmd := c.Client.Fetch(imap.UIDSetNum(imap.UID(uid)), bodyOptions)
		for m := cmd.Next(); m != nil; m = cmd.Next() {
			for item := m.Next(); item != nil; item = m.Next() {
				bs, ok := item.(imapclient.FetchItemDataBodySection)
				if !ok || bs.Literal == nil {
					continue
				}
				return &body{s: s, c: c, ctx: ctx, what: what, cmd: cmd, lit: bs.Literal, size: bs.Literal.Size(), end: end}, nil
			}
		}
		err := cmd.Close()
		end()
		if err != nil {
			return nil, c.Classify(ctx, err, what)
		}
	}
	return nil, connector.Errorf(connector.KindNotFound, "%s: no such message", what)
}

// drainLimit is how much of an unread body Close reads to keep the
// connection; beyond it the connection is dropped instead.
const drainLimit = 256 << 10

// body streams a message literal straight from the connection's buffer: a
// 25 MB message flows through the reader's own small buffer, never whole
// in memory.
type body struct {
	s    *source
	c    *imapkit.Conn
	ctx  context.Context
	what string
	cmd  *imapclient.FetchCommand
	lit  imap.LiteralReader
	size int64
	end  func()

	mu     sync.Mutex
	n      int64
	err    error
	closed bool
}

var _ connector.Body = (*body)(nil)

func (b *body) Size() int64 { return b.size }

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errors.New("read of a closed body")
	}
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.lit.Read(p)
	b.n += int64(n)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) && b.n == b.size:
		b.err = io.EOF
	case errors.Is(err, io.EOF):
		b.err = connector.Errorf(connector.KindUnavailable, "%s: connection ended after %d of %d bytes", b.what, b.n, b.size)
	default:
		b.err = b.c.Classify(b.ctx, err, fmt.Sprintf("%s (after %d of %d bytes)", b.what, b.n, b.size))
	}
	return n, b.err
}

// Close ends the FETCH and gives the connection back. A body left with
// more than drainLimit bytes unread, or broken, costs the connection
// instead (IMAP cannot stop a literal half-way).
func (b *body) Close() error {
	if !b.mu.TryLock() {
		// A Read is blocked on the connection: break it to end the Read.
		b.c.Abort()
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.err != nil && !errors.Is(b.err, io.EOF) || b.size-b.n > drainLimit {
		b.c.Abort()
		io.Copy(io.Discard, b.lit) // unblocks the client library's reader
		b.cmd.Close()
		b.end()
		b.s.pool.Discard(b.c)
		return nil
	}
	io.Copy(io.Discard, b.lit)
	err := b.cmd.Close()
	b.end()
	if err != nil {
		b.s.pool.Discard(b.c)
		return b.c.Classify(b.ctx, err, b.what)
	}
	b.s.pool.Put(b.c)
	return nil
}
