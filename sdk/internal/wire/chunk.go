package wire

import (
	"fmt"
	"io"

	"github.com/ternmail/tern/sdk/connector"
)

// RecvFunc returns the next chunk of a stream: its offset and data, or
// io.EOF at the end of the stream.
type RecvFunc func() (offset int64, data []byte, err error)

// ChunkReader reassembles a body of known size from a chunk stream. It
// checks that chunks arrive in order and that the body has exactly the
// announced size, and holds at most one chunk at a time.
type ChunkReader struct {
	recv RecvFunc
	size int64
	off  int64 // bytes handed out so far
	next int64 // offset the next chunk must have
	cur  []byte
	err  error
}

// NewChunkReader returns a reader for a body of size bytes. first is the
// data of the first chunk (offset 0), already received with the metadata.
func NewChunkReader(size int64, first []byte, recv RecvFunc) *ChunkReader {
	r := &ChunkReader{recv: recv, size: size, cur: first, next: int64(len(first))}
	if r.next > size {
		r.err = connector.Errorf(connector.KindPermanent, "body stream: first chunk of %d bytes exceeds announced size %d", r.next, size)
	}
	return r
}

// Size returns the announced size.
func (r *ChunkReader) Size() int64 { return r.size }

// Read implements io.Reader.
func (r *ChunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		off, data, err := r.recv()
		switch {
		case err == io.EOF && r.next == r.size:
			r.err = io.EOF
		case err == io.EOF:
			r.err = connector.Errorf(connector.KindUnavailable, "body stream ended after %d of %d bytes", r.next, r.size)
		case err != nil:
			r.err = err
		case off != r.next:
			r.err = connector.Errorf(connector.KindPermanent, "body stream: chunk at offset %d, expected %d", off, r.next)
		case r.next+int64(len(data)) > r.size:
			r.err = connector.Errorf(connector.KindPermanent, "body stream: %d bytes exceed announced size %d", r.next+int64(len(data)), r.size)
		default:
			r.cur = data
			r.next += int64(len(data))
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.off += int64(n)
	return n, nil
}

// SendFunc sends one chunk; first is true for the first chunk, which must
// carry the metadata.
type SendFunc func(first bool, offset int64, data []byte) error

// SendChunks reads exactly size bytes from body and sends them in chunks of
// chunkSize using buf (len(buf) >= chunkSize) as scratch space. A body
// shorter or longer than size is an error. An empty body sends one empty
// first chunk, so the metadata always travels.
func SendChunks(body io.Reader, size int64, buf []byte, send SendFunc) error {
	var off int64
	first := true
	for {
		want := int64(len(buf))
		if rest := size - off; rest < want {
			want = rest
		}
		n, err := io.ReadFull(body, buf[:want])
		if err != nil && err != io.ErrUnexpectedEOF && !(err == io.EOF && want == 0) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read body at offset %d of %d: %w", off+int64(n), size, err)
		}
		if int64(n) < want {
			return connector.Errorf(connector.KindPermanent, "body ended after %d of %d announced bytes", off+int64(n), size)
		}
		if n > 0 || first {
			if serr := send(first, off, buf[:n]); serr != nil {
				return serr
			}
			first = false
		}
		off += int64(n)
		if off == size {
			// The body must end here.
			var one [1]byte
			if m, _ := body.Read(one[:]); m > 0 {
				return connector.Errorf(connector.KindPermanent, "body is longer than its announced size %d", size)
			}
			return nil
		}
	}
}
