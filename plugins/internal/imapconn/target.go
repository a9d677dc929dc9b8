package imapconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

// target is a mailbox opened for writing. Folders are opened with SELECT
// (read-write), for UID STORE and to learn their PERMANENTFLAGS.
type target struct {
	*session

	mu   sync.Mutex
	perm map[string]flagFilter // folder → what its last SELECT allowed
}

var (
	_ connector.Target         = (*target)(nil)
	_ connector.TargetLookup   = (*target)(nil)
	_ connector.TargetFlagSync = (*target)(nil)
)

// selectFolder opens folder read-write on c and remembers its flag filter.
func (t *target) selectFolder(ctx context.Context, c *imapkit.Conn, folder string, refresh bool) (*imap.SelectData, error) {
	sd, err := c.Select(ctx, folder, false, refresh)
	if err != nil {
		return nil, t.notFound(ctx, c, folder, err)
	}
	t.mu.Lock()
	t.perm[folder] = newFlagFilter(sd)
	t.mu.Unlock()
	return sd, nil
}

// filterFor returns folder's flag filter, selecting it on c the first
// time (which also proves that the folder exists before any APPEND).
func (t *target) filterFor(ctx context.Context, c *imapkit.Conn, folder string) (flagFilter, error) {
	t.mu.Lock()
	f, ok := t.perm[folder]
	t.mu.Unlock()
	if ok {
		return f, nil
	}
	sd, err := t.selectFolder(ctx, c, folder, false)
	if err != nil {
		return flagFilter{}, err
	}
	return newFlagFilter(sd), nil
}

// EnsureFolder implements connector.Target: STATUS tells whether the
// folder exists (and gives the watermark); if not, CREATE makes it (with
// its special use where the server has CREATE-SPECIAL-USE; parents are
// the server's business, RFC 9051 §6.3.4) and SUBSCRIBE shows it to mail
// clients.
func (t *target) EnsureFolder(ctx context.Context, name, specialUse string) (*connector.TargetFolder, error) {
	if name == "" || strings.ContainsAny(name, "\r\n\x00") {
		return nil, connector.Errorf(connector.KindInvalid, "invalid folder name %q", name)
	}
	var tf *connector.TargetFolder
	err := t.run(ctx, "", always, func(c *imapkit.Conn) error {
		opts := &imap.StatusOptions{UIDValidity: true, UIDNext: true}
		st, err := t.status(ctx, c, name, opts)
		created := false
		if err != nil {
			k := connector.KindOf(err)
			if k != connector.KindNotFound && k != connector.KindPermanent {
				return err
			}
			var co *imap.CreateOptions
			if specialUse != "" && isSpecialUse(imap.MailboxAttr(specialUse)) && c.Caps().Has(imap.CapCreateSpecialUse) {
				co = &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttr(canonicalAttr(imap.MailboxAttr(specialUse)))}}
			}
			cerr := c.Do(ctx, "create folder "+strconv.Quote(name), func() error { return c.Client.Create(name, co).Wait() })
			if r := imapkit.Response(cerr); r != nil && r.Code == imap.ResponseCodeAlreadyExists {
				// Another session created it since the STATUS (or STATUS
				// fails on a folder that exists): ask once more.
				if st, err = t.status(ctx, c, name, opts); err != nil {
					return err
				}
			} else if cerr != nil {
				return cerr
			} else {
				created = true
				c.Do(ctx, "subscribe "+strconv.Quote(name), func() error { return c.Client.Subscribe(name).Wait() })
				if st, err = t.status(ctx, c, name, opts); err != nil {
					return err
				}
			}
		}
		tf = &connector.TargetFolder{Name: name, Created: created, Watermark: watermark{validity: st.UIDValidity, uidNext: uint32(st.UIDNext)}.String()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tf, nil
}

// appendLimit returns the server's APPENDLIMIT (RFC 7889), 0 if none.
func (t *target) appendLimit() int64 {
	if l, ok := t.caps.AppendLimit(); ok && l != nil {
		return int64(*l)
	}
	return 0
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// Append implements connector.Target: APPEND with the INTERNALDATE and the
// flags the folder's PERMANENTFLAGS allow (the others are returned as
// DroppedFlags), streaming the body through a 64 KiB buffer. With UIDPLUS
// the APPENDUID is the Ref. An APPEND is never retried here: if the
// connection drops half-way, the message may or may not be stored, so the
// error is KindUnavailable and core looks it up before trying again.
func (t *target) Append(ctx context.Context, folder string, m *connector.AppendMessage) (*connector.AppendResult, error) {
	what := fmt.Sprintf("append %d bytes to %s", m.Size, strconv.Quote(folder))
	if m.Size < 0 {
		return nil, connector.Errorf(connector.KindInvalid, "%s: negative size", what)
	}
	if limit := t.appendLimit(); limit > 0 && m.Size > limit {
		return nil, connector.Errorf(connector.KindTooLarge, "%s: the server accepts at most %d bytes (APPENDLIMIT)", what, limit)
	}
	c, filter, err := t.prepareAppend(ctx, folder)
	if err != nil {
		return nil, err
	}
	kept, dropped := filter.filter(m.Flags)
	opts := &imap.AppendOptions{Flags: kept}
	if !m.InternalDate.IsZero() {
		opts.Time = m.InternalDate
	}

	end := c.Begin(ctx)
	cmd := c.Client.Append(folder, m.Size, opts)
	src := &readErr{r: io.LimitReader(m.Body, m.Size)}
	bufp := copyBufs.Get().(*[]byte)
	n, copyErr := io.CopyBuffer(cmd, src, *bufp)
	copyBufs.Put(bufp)
	if src.err != nil || (copyErr == nil && n < m.Size) {
		// The body failed or ended early: break the connection before the
		// literal is complete, so that the server stores nothing.
		c.Abort()
		cmd.Close()
		cmd.Wait()
		end()
		t.pool.Discard(c)
		if src.err != nil {
			if connector.KindOf(src.err) != connector.KindUnknown {
				return nil, src.err
			}
			return nil, connector.Wrap(connector.KindTemporary, what+": read message body", src.err)
		}
		return nil, connector.Errorf(connector.KindInvalid, "%s: the body ended after %d bytes", what, n)
	}
	closeErr := cmd.Close()
	data, err := cmd.Wait()
	end()
	if err == nil && closeErr != nil {
		err = closeErr
	}
	if err == nil && copyErr != nil {
		err = copyErr
	}
	if err != nil {
		err = c.Classify(ctx, err, what)
		if r := imapkit.Response(err); r != nil && (r.Code == imap.ResponseCodeTryCreate || r.Code == imap.ResponseCodeNonExistent) {
			t.mu.Lock()
			delete(t.perm, folder)
			t.mu.Unlock()
		}
		t.pool.Put(c)
		return nil, err
	}
	t.pool.Put(c)
	res := &connector.AppendResult{DroppedFlags: dropped}
	if data != nil && data.UID != 0 {
		res.Ref = strconv.FormatUint(uint64(data.UID), 10)
	}
	return res, nil
}

// prepareAppend takes a connection for an APPEND to folder and learns the
// folder's flag filter; nothing is sent yet, so a connection that turns
// out broken is replaced once.
func (t *target) prepareAppend(ctx context.Context, folder string) (*imapkit.Conn, flagFilter, error) {
	for attempt := 0; ; attempt++ {
		c, err := t.pool.Get(ctx, folder)
		if err != nil {
			return nil, flagFilter{}, err
		}
		filter, err := t.filterFor(ctx, c, folder)
		if err == nil {
			return c, filter, nil
		}
		broken := c.Broken()
		t.pool.Put(c)
		if !broken || attempt > 0 || ctx.Err() != nil || connector.KindOf(err) != connector.KindUnavailable {
			return nil, flagFilter{}, err
		}
	}
}

// readErr remembers the error of the reader (the message body), to tell it
// from the writer's (the connection).
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = err
	}
	return n, err
}

// Lookup implements connector.TargetLookup: UID SEARCH narrows the folder
// to messages of the exact size (LARGER size-1 SMALLER size+1), stored at
// or after the watermark's UIDNEXT (when its UIDVALIDITY still holds), and
// with the Message-ID when there is one; the fingerprints of their header
// sections (BODY.PEEK[HEADER]) then decide.
func (t *target) Lookup(ctx context.Context, folder string, q *connector.LookupQuery) ([]string, error) {
	var since watermark
	if q.Since != "" {
		var ok bool
		if since, ok = parseWatermark(q.Since); !ok {
			return nil, connector.Errorf(connector.KindInvalid, "%q is not a watermark of this connector", q.Since)
		}
	}
	var refs []uint32
	err := t.run(ctx, folder, always, func(c *imapkit.Conn) error {
		refs = refs[:0]
		if m, _ := c.Selected(); m == folder {
			// Bring the view up to date with appends made on the other
			// connections of the session.
			if err := c.Noop(ctx); err != nil {
				return err
			}
		}
		sd, err := t.selectFolder(ctx, c, folder, false)
		if err != nil {
			return err
		}
		from := uint32(1)
		if since.validity != 0 && since.validity == sd.UIDValidity {
			from = since.uidNext
		}
		criteria := &imap.SearchCriteria{UID: []imap.UIDSet{{{Start: imap.UID(from), Stop: 0}}}}
		if q.Size > 0 {
			criteria.Larger, criteria.Smaller = q.Size-1, q.Size+1
		}
		if q.MessageID != "" {
			criteria.Header = []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: q.MessageID}}
		}
		uids, err := uidSearch(ctx, c, "search "+strconv.Quote(folder), criteria, from, 0)
		if err != nil || len(uids) == 0 {
			return err
		}
		what := fmt.Sprintf("fetch headers of %d messages in %s", uidCount(uids), strconv.Quote(folder))
		return uidFetch(ctx, c, what, uids, lookupOptions, func(f fetched) {
			if f.uid < from || f.size != q.Size || f.msg.Fingerprint != q.Fingerprint {
				return
			}
			if q.MessageID != "" && f.msg.MessageID != q.MessageID {
				return
			}
			refs = append(refs, f.uid)
		})
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(refs)
	refs = slices.Compact(refs)
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = strconv.FormatUint(uint64(r), 10)
	}
	return out, nil
}

// SetFlags implements connector.TargetFlagSync: UID STORE ref FLAGS.SILENT
// with the flags the folder's PERMANENTFLAGS allow. A ref that no longer
// exists changes nothing (IMAP's STORE says nothing about it).
func (t *target) SetFlags(ctx context.Context, folder, ref string, flags []string) (*connector.SetFlagsResult, error) {
	uid, ok := parseUID(ref)
	if !ok {
		return nil, connector.Errorf(connector.KindNotFound, "%q is not a message ref of this connector (a UID)", ref)
	}
	var res *connector.SetFlagsResult
	err := t.run(ctx, folder, always, func(c *imapkit.Conn) error {
		sd, err := t.selectFolder(ctx, c, folder, false)
		if err != nil {
			return err
		}
		kept, dropped := newFlagFilter(sd).filter(flags)
		what := fmt.Sprintf("store flags of message %d in %s", uid, strconv.Quote(folder))
		if err := c.Do(ctx, what, func() error {
			return c.Client.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{Op: imap.StoreFlagsSet, Silent: true, Flags: kept}, nil).Close()
		}); err != nil {
			return err
		}
		res = &connector.SetFlagsResult{DroppedFlags: dropped}
		return nil
	})
	return res, err
}
