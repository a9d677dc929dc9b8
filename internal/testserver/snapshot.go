package testserver

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Record is what the referee knows of one message.
type Record struct {
	// SHA256 is the hex SHA-256 of the bytes of BODY[] as served (after
	// SnapshotOptions.IgnoreHeaderFields, if any, were removed).
	SHA256 string
	// Size is the number of bytes hashed.
	Size int64
	// InternalDate in UTC, to the second.
	InternalDate time.Time
	// Flags, sorted, without \Recent.
	Flags []string
	// Ignored counts the header fields SnapshotOptions.IgnoreHeaderFields
	// removed before hashing. Compare does not look at it.
	Ignored int
}

// String describes r briefly for difference reports.
func (r Record) String() string {
	return fmt.Sprintf("sha256 %s…, %d bytes, %s, flags (%s)", r.SHA256[:12], r.Size,
		r.InternalDate.Format("2006-01-02 15:04:05Z"), strings.Join(r.Flags, " "))
}

func (r Record) compare(o Record) int {
	return cmp.Or(
		strings.Compare(r.SHA256, o.SHA256),
		cmp.Compare(r.Size, o.Size),
		r.InternalDate.Compare(o.InternalDate),
		slices.Compare(r.Flags, o.Flags),
	)
}

// Folder is one folder of a snapshot.
type Folder struct {
	// Name is the logical name: UTF-8, "/" as separator, "INBOX".
	Name string
	// Attrs holds the LIST attributes (e.g. `\Sent`), sorted.
	Attrs []string
	// Messages in canonical order (by digest, size, date, flags).
	Messages []Record
}

// Bytes returns the sum of the messages' sizes.
func (f Folder) Bytes() int64 {
	var n int64
	for _, r := range f.Messages {
		n += r.Size
	}
	return n
}

// Mailbox is a snapshot of a user's folders, sorted by name.
type Mailbox []Folder

// Folder returns the folder with the given logical name, or nil.
func (mb Mailbox) Folder(name string) *Folder {
	for i := range mb {
		if mb[i].Name == name {
			return &mb[i]
		}
	}
	return nil
}

// Count returns the number of messages in all folders.
func (mb Mailbox) Count() int {
	n := 0
	for _, f := range mb {
		n += len(f.Messages)
	}
	return n
}

// Bytes returns the total size of all messages.
func (mb Mailbox) Bytes() int64 {
	var n int64
	for _, f := range mb {
		n += f.Bytes()
	}
	return n
}

// SnapshotOptions tunes TakeSnapshot. A nil *SnapshotOptions means the
// zero value.
type SnapshotOptions struct {
	// IgnoreHeaderFields lists header fields (case-insensitive) removed,
	// with their continuation lines, before hashing; e.g. "X-TUID", which
	// mbsync adds. Only the top-level header is filtered.
	IgnoreHeaderFields []string
	// Prefix is the personal namespace's prefix, removed from folder
	// names (Snapshot sets it to the instance's).
	Prefix string
}

// Snapshot returns the contents of user's mailbox on inst: every selectable
// folder with a record per message. It only reads (EXAMINE, BODY.PEEK), so
// it changes no flag, and it streams each body into its hash.
func Snapshot(t testing.TB, inst Instance, user string) Mailbox {
	t.Helper()
	c := Dial(t, inst, user)
	mb, err := TakeSnapshot(c, &SnapshotOptions{Prefix: inst.Prefix})
	if err != nil {
		t.Fatalf("testserver: snapshot %s on %s: %v", user, inst.Name, err)
	}
	return mb
}

// TakeSnapshot is Snapshot over a logged-in client, returning errors.
func TakeSnapshot(c *imapclient.Client, opts *SnapshotOptions) (Mailbox, error) {
	if opts == nil {
		opts = &SnapshotOptions{}
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	var mb Mailbox
	for _, l := range list {
		if slices.ContainsFunc(l.Attrs, func(a imap.MailboxAttr) bool {
			return strings.EqualFold(string(a), string(imap.MailboxAttrNoSelect)) ||
				strings.EqualFold(string(a), string(imap.MailboxAttrNonExistent))
		}) {
			continue
		}
		f := Folder{Name: Instance{Prefix: opts.Prefix}.LogicalName(l.Mailbox, l.Delim)}
		for _, a := range l.Attrs {
			f.Attrs = append(f.Attrs, string(a))
		}
		slices.Sort(f.Attrs)
		if f.Messages, err = folderRecords(c, l.Mailbox, opts); err != nil {
			return nil, fmt.Errorf("folder %q: %w", f.Name, err)
		}
		mb = append(mb, f)
	}
	slices.SortFunc(mb, func(a, b Folder) int { return strings.Compare(a.Name, b.Name) })
	return mb, nil
}

func folderRecords(c *imapclient.Client, name string, opts *SnapshotOptions) ([]Record, error) {
	sel, err := c.Select(name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("examine: %w", err)
	}
	if sel.NumMessages == 0 {
		return []Record{}, nil
	}
	fetch := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID:          true,
		Flags:        true,
		InternalDate: true,
		RFC822Size:   true,
		BodySection:  []*imap.FetchItemBodySection{{Peek: true}},
	})
	defer fetch.Close()
	recs := make([]Record, 0, sel.NumMessages)
	for {
		msg := fetch.Next()
		if msg == nil {
			break
		}
		var r Record
		gotBody := false
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch item := item.(type) {
			case imapclient.FetchItemDataFlags:
				for _, f := range item.Flags {
					if !strings.EqualFold(string(f), `\Recent`) {
						r.Flags = append(r.Flags, string(f))
					}
				}
			case imapclient.FetchItemDataInternalDate:
				r.InternalDate = item.Time.UTC().Truncate(time.Second)
			case imapclient.FetchItemDataBodySection:
				if item.Literal == nil {
					continue
				}
				h := sha256.New()
				var src io.Reader = item.Literal
				var sr *headerStripper
				if len(opts.IgnoreHeaderFields) > 0 {
					sr = stripHeaderFields(src, opts.IgnoreHeaderFields)
					src = sr
				}
				n, err := io.Copy(h, src)
				if sr != nil {
					sr.Close()
					r.Ignored = sr.removed
				}
				if err != nil {
					return nil, fmt.Errorf("fetch body: %w", err)
				}
				r.SHA256, r.Size, gotBody = hex.EncodeToString(h.Sum(nil)), n, true
			}
		}
		if !gotBody {
			return nil, fmt.Errorf("fetch: message %d without body", msg.SeqNum)
		}
		if r.Flags == nil {
			r.Flags = []string{}
		}
		slices.Sort(r.Flags)
		recs = append(recs, r)
	}
	if err := fetch.Close(); err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	slices.SortFunc(recs, Record.compare)
	return recs, nil
}

// headerStripper reads a message without some top-level header fields.
type headerStripper struct {
	*io.PipeReader
	// removed counts the fields dropped; read it after EOF.
	removed int
}

// stripHeaderFields returns a reader of r without the named top-level
// header fields (and their continuation lines). It reads the header line
// by line and streams the rest.
func stripHeaderFields(r io.Reader, names []string) *headerStripper {
	pr, pw := io.Pipe()
	hs := &headerStripper{PipeReader: pr}
	go func() {
		br := bufio.NewReaderSize(r, 64<<10)
		dropping := false
		for {
			line, err := br.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				// An over-long header line: keep it whole.
				var long []byte
				long = append(long, line...)
				for err == bufio.ErrBufferFull {
					line, err = br.ReadSlice('\n')
					long = append(long, line...)
				}
				line = long
			}
			if len(line) > 0 {
				cont := line[0] == ' ' || line[0] == '\t'
				end := len(bytes.TrimRight(line, "\r\n")) == 0
				if !cont {
					dropping = false
					for _, n := range names {
						if len(line) > len(n) && line[len(n)] == ':' && strings.EqualFold(string(line[:len(n)]), n) {
							dropping = true
							hs.removed++
						}
					}
				}
				if !dropping {
					if _, werr := pw.Write(line); werr != nil {
						return
					}
				}
				if end {
					_, err = io.Copy(pw, br)
					pw.CloseWithError(err)
					return
				}
			}
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return hs
}
