package imapconn

import (
	"bytes"
	"context"
	"io"
	"iter"
	"slices"
	"strconv"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

// headerSection is BODY.PEEK[HEADER]: the header section up to and with
// its empty line, as connector.HeaderSection cuts a whole message.
var headerSection = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}

// metaOptions fetch a message's metadata. BODY.PEEK never sets \Seen.
var metaOptions = &imap.FetchOptions{
	UID: true, Flags: true, InternalDate: true, RFC822Size: true,
	BodySection: []*imap.FetchItemBodySection{headerSection},
}

// flagOptions fetch only flags, for messages listed as FlagsOnly.
var flagOptions = &imap.FetchOptions{UID: true, Flags: true}

// lookupOptions fetch what a fingerprint needs.
var lookupOptions = &imap.FetchOptions{UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{headerSection}}

// fetched is one message of a UID FETCH.
type fetched struct {
	uid  uint32
	msg  connector.Message
	size int64
}

var headerBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// uidFetch runs UID FETCH uids with opts and calls fn for every message
// that came back with its UID, streaming: a header section is read into a
// pooled buffer, turned into a fingerprint and dropped.
func uidFetch(ctx context.Context, c *imapkit.Conn, what string, uids imap.UIDSet, opts *imap.FetchOptions, fn func(fetched)) error {
	return c.Do(ctx, what, func() error {
		cmd := c.Client.Fetch(uids, opts)
		for {
			m := cmd.Next()
			if m == nil {
				break
			}
			f, err := readFetched(m, opts == flagOptions)
			if err != nil {
				cmd.Close()
				return err
			}
			if f.uid != 0 {
				fn(f)
			}
		}
		return cmd.Close()
	})
}

func readFetched(m *imapclient.FetchMessageData, flagsOnly bool) (fetched, error) {
	var f fetched
	var header *bytes.Buffer
	defer func() {
		if header != nil {
			headerBufs.Put(header)
		}
	}()
	for item := m.Next(); item != nil; item = m.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			f.uid = uint32(it.UID)
		case imapclient.FetchItemDataFlags:
			f.msg.Flags = listFlags(it.Flags)
		case imapclient.FetchItemDataInternalDate:
			f.msg.InternalDate = it.Time
		case imapclient.FetchItemDataRFC822Size:
			f.size = it.Size
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil {
				continue
			}
			header = headerBufs.Get().(*bytes.Buffer)
			header.Reset()
			// Read at most what connector.HeaderSection keeps; the client
			// library discards the rest of the literal.
			if _, err := io.Copy(header, io.LimitReader(it.Literal, connector.MaxHeaderSection)); err != nil {
				return f, err
			}
		}
	}
	f.msg.ID = strconv.FormatUint(uint64(f.uid), 10)
	if flagsOnly {
		f.msg.FlagsOnly = true
		if f.msg.Flags == nil {
			f.msg.Flags = []string{}
		}
		return f, nil
	}
	f.msg.Size = f.size
	var h []byte
	if header != nil {
		h = connector.HeaderSection(header.Bytes())
	}
	f.msg.Fingerprint = connector.Fingerprint(f.size, h)
	f.msg.MessageID = connector.MessageIDOf(h)
	return f, nil
}

// uidSearch runs UID SEARCH, with RETURN (ALL) where the server has
// ESEARCH so that the answer comes as compact ranges, and returns the UIDs
// within [lo, hi] (a search for "n:*" matches the last message even below
// n, RFC 9051 §6.4.4), sorted.
func uidSearch(ctx context.Context, c *imapkit.Conn, what string, criteria *imap.SearchCriteria, lo, hi uint32) (imap.UIDSet, error) {
	var opts *imap.SearchOptions
	if c.Caps().Has(imap.CapESearch) {
		opts = &imap.SearchOptions{ReturnAll: true}
	}
	var data *imap.SearchData
	err := c.Do(ctx, what, func() error {
		var err error
		data, err = c.Client.UIDSearch(criteria, opts).Wait()
		return err
	})
	if err != nil {
		return nil, err
	}
	all, _ := data.All.(imap.UIDSet)
	return clampUIDs(all, lo, hi), nil
}

// clampUIDs returns the part of set within [lo, hi] (hi 0: no bound) as
// sorted, disjoint ranges. Dynamic ranges ("*") are dropped.
func clampUIDs(set imap.UIDSet, lo, hi uint32) imap.UIDSet {
	var out imap.UIDSet
	for _, r := range set {
		start, stop := uint32(r.Start), uint32(r.Stop)
		if start == 0 || stop == 0 {
			continue
		}
		if start > stop {
			start, stop = stop, start
		}
		start = max(start, lo)
		if hi != 0 {
			stop = min(stop, hi)
		}
		if start <= stop {
			out = append(out, imap.UIDRange{Start: imap.UID(start), Stop: imap.UID(stop)})
		}
	}
	slices.SortFunc(out, func(a, b imap.UIDRange) int { return int(a.Start) - int(b.Start) })
	// Merge overlaps so that no UID is listed twice.
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.Start <= merged[n-1].Stop+1 {
			merged[n-1].Stop = max(merged[n-1].Stop, r.Stop)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// uidPages yields set in pieces of at most n UIDs, in ascending order.
func uidPages(set imap.UIDSet, n int) iter.Seq[imap.UIDSet] {
	return func(yield func(imap.UIDSet) bool) {
		var page imap.UIDSet
		count := 0
		for _, r := range set {
			start, stop := uint32(r.Start), uint32(r.Stop)
			for start <= stop {
				take := min(uint64(stop-start)+1, uint64(n-count))
				end := start + uint32(take) - 1
				page = append(page, imap.UIDRange{Start: imap.UID(start), Stop: imap.UID(end)})
				count += int(take)
				if count == n {
					if !yield(page) {
						return
					}
					page, count = nil, 0
				}
				if end == stop {
					break
				}
				start = end + 1
			}
		}
		if count > 0 {
			yield(page)
		}
	}
}

// uidCount returns how many UIDs set holds.
func uidCount(set imap.UIDSet) int64 {
	var n int64
	for _, r := range set {
		n += int64(r.Stop) - int64(r.Start) + 1
	}
	return n
}
