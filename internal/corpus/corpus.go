package corpus

import (
	"bytes"
	"io"
	"time"
)

// Message is one message to put in a mailbox: its raw bytes, its flags and
// keywords, and its INTERNALDATE. The bytes are produced on demand by Open,
// so a corpus of any size costs little memory until it is read.
type Message struct {
	// Case names what the message covers, e.g. "bare-lf" (see the package
	// documentation for the hard corpus's cases).
	Case string
	// Flags holds IMAP system flags (`\Seen`) and keywords (`$Forwarded`),
	// in the order they are appended. Never `\Recent`.
	Flags []string
	// Date is the INTERNALDATE, with the zone it is appended in. Servers
	// keep second precision; Date has no sub-second part.
	Date time.Time
	// Size is the exact number of bytes Open yields.
	Size int64

	open func() io.Reader
}

// New returns a message with the given bytes. raw is not copied.
func New(kase string, raw []byte, date time.Time, flags ...string) Message {
	return Message{
		Case:  kase,
		Flags: flags,
		Date:  date.Truncate(time.Second),
		Size:  int64(len(raw)),
		open:  func() io.Reader { return bytes.NewReader(raw) },
	}
}

// NewStream returns a message of size bytes whose content open produces
// afresh, identically, on every call.
func NewStream(kase string, size int64, open func() io.Reader, date time.Time, flags ...string) Message {
	return Message{Case: kase, Flags: flags, Date: date.Truncate(time.Second), Size: size, open: open}
}

// Open returns a reader of the message's bytes, from the start. Each call
// returns a new, independent reader.
func (m Message) Open() io.Reader {
	if m.open == nil {
		return bytes.NewReader(nil)
	}
	return m.open()
}

// Bytes reads the whole message into memory. Use it for small messages;
// stream large ones with Open.
func (m Message) Bytes() []byte {
	var b bytes.Buffer
	b.Grow(int(m.Size))
	io.Copy(&b, m.Open())
	return b.Bytes()
}

// Folder is a folder and the messages to put in it.
type Folder struct {
	// Name is the UTF-8 name with "/" as the hierarchy separator; "INBOX"
	// is the inbox. Parents are implied and created by seeders.
	Name string
	// SpecialUse is the RFC 6154 attribute this folder stands for
	// (`\Sent`, `\Drafts`, `\Trash`, `\Junk`, `\Archive`), or "".
	SpecialUse string
	// Messages in append order.
	Messages []Message
}

// Bytes returns the sum of the messages' sizes.
func (f Folder) Bytes() int64 {
	var n int64
	for _, m := range f.Messages {
		n += m.Size
	}
	return n
}

// Mailbox is one user's content: folders in creation order.
type Mailbox []Folder

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

// Folder returns the folder with the given name, or nil.
func (mb Mailbox) Folder(name string) *Folder {
	for i := range mb {
		if mb[i].Name == name {
			return &mb[i]
		}
	}
	return nil
}
