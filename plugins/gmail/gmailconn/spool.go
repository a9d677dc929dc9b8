package gmailconn

import (
	"bytes"
	"io"
	"os"
)

// memSpool is how much of a message a spool keeps in memory before it
// moves to a temporary file.
const memSpool = 8 << 20

// spool holds one message body: in memory while small, in a temporary
// file (removed by Close) beyond memSpool. It is re-readable, so an
// upload refused for its rate can be sent again.
type spool struct {
	mem  bytes.Buffer
	file *os.File
	n    int64
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && s.mem.Len()+len(p) > memSpool {
		f, err := os.CreateTemp("", "tern-gmail-*.eml")
		if err != nil {
			return 0, err
		}
		os.Remove(f.Name()) // unlinked: gone with the descriptor, even after a crash
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			f.Close()
			return 0, err
		}
		s.mem = bytes.Buffer{}
		s.file = f
	}
	var n int
	var err error
	if s.file != nil {
		n, err = s.file.Write(p)
	} else {
		n, err = s.mem.Write(p)
	}
	s.n += int64(n)
	return n, err
}

// Reset empties the spool.
func (s *spool) Reset() {
	s.mem.Reset()
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
	s.n = 0
}

// Size is the number of bytes held.
func (s *spool) Size() int64 { return s.n }

// Section returns a reader of the whole content; each call starts anew.
func (s *spool) Section() io.Reader {
	if s.file != nil {
		return io.NewSectionReader(s.file, 0, s.n)
	}
	return bytes.NewReader(s.mem.Bytes())
}

// Close releases the file, if any.
func (s *spool) Close() error {
	s.Reset()
	return nil
}

// spoolBody is a fetched message served from a spool.
type spoolBody struct {
	s *spool
	r io.Reader
}

func (b *spoolBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *spoolBody) Size() int64                { return b.s.Size() }
func (b *spoolBody) Close() error               { return b.s.Close() }
