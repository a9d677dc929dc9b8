package gmailconn

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"google.golang.org/api/googleapi"

	"github.com/ternmail/tern/sdk/connector"
)

// rawMeta is what messages.get?format=raw says besides the body.
type rawMeta struct {
	ID           string
	LabelIDs     []string
	InternalDate int64 // ms since the epoch
	HistoryID    uint64
}

// resetWriter is a sink for a message body that can start over (when a
// call is retried).
type resetWriter interface {
	io.Writer
	Reset()
}

// getRaw fetches a message with format=raw and streams its decoded body
// into sink, never holding the base64 text whole: the Go client would
// decode the JSON answer (a third larger than the message) in memory.
func (a *api) getRaw(ctx context.Context, id string, sink resetWriter) (*rawMeta, error) {
	var meta *rawMeta
	err := a.do(ctx, "get message "+id, costGet, idempotent, func(ctx context.Context) error {
		sink.Reset()
		u := a.set.Endpoint + "gmail/v1/users/me/messages/" + url.PathEscape(id) + "?format=raw&alt=json&prettyPrint=false"
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		res, err := a.hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if err := googleapi.CheckResponse(res); err != nil {
			return err
		}
		meta, err = decodeRaw(bufio.NewReaderSize(res.Body, 64<<10), sink)
		return err
	})
	return meta, err
}

// decodeRaw reads a Message resource, streaming the "raw" member's
// base64url text through a decoder into sink.
func decodeRaw(r *bufio.Reader, sink io.Writer) (*rawMeta, error) {
	m := &rawMeta{}
	if err := expect(r, '{'); err != nil {
		return nil, err
	}
	sawRaw := false
	for {
		c, err := skipSpace(r)
		if err != nil {
			return nil, err
		}
		if c == '}' {
			break
		}
		if c == ',' {
			continue
		}
		if c != '"' {
			return nil, fmt.Errorf("gmail: unexpected %q in a message resource", c)
		}
		key, err := r.ReadString('"')
		if err != nil {
			return nil, err
		}
		key = key[:len(key)-1]
		if err := expect(r, ':'); err != nil {
			return nil, err
		}
		if key == "raw" {
			if err := expect(r, '"'); err != nil {
				return nil, err
			}
			dec := base64.NewDecoder(base64.RawURLEncoding, &b64Text{r: r})
			if _, err := io.Copy(sink, dec); err != nil {
				return nil, fmt.Errorf("gmail: decoding the raw message: %w", err)
			}
			sawRaw = true
			continue
		}
		v, err := readValue(r)
		if err != nil {
			return nil, err
		}
		switch key {
		case "id":
			json.Unmarshal(v, &m.ID)
		case "labelIds":
			json.Unmarshal(v, &m.LabelIDs)
		case "internalDate":
			m.InternalDate = jsonInt(v)
		case "historyId":
			m.HistoryID = uint64(jsonInt(v))
		}
	}
	if !sawRaw {
		return nil, connector.Errorf(connector.KindTemporary, "gmail: the message %s came without its raw content", m.ID)
	}
	return m, nil
}

// jsonInt reads an int64 given as a JSON number or string.
func jsonInt(v []byte) int64 {
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// b64Text reads the characters of a JSON string holding base64url text,
// up to its closing quote, dropping padding.
type b64Text struct {
	r    *bufio.Reader
	done bool
}

func (t *b64Text) Read(p []byte) (int, error) {
	if t.done {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) {
		if n > 0 && t.r.Buffered() == 0 {
			break
		}
		c, err := t.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		switch {
		case c == '"':
			t.done = true
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		case c == '=', c == '\r', c == '\n':
		case c == '\\':
			return n, errors.New("gmail: escaped character in base64 text")
		default:
			p[n] = c
			n++
		}
	}
	return n, nil
}

func skipSpace(r *bufio.Reader) (byte, error) {
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c, nil
		}
	}
}

func expect(r *bufio.Reader, want byte) error {
	c, err := skipSpace(r)
	if err != nil {
		return err
	}
	if c != want {
		return fmt.Errorf("gmail: unexpected %q in a message resource, want %q", c, want)
	}
	return nil
}

// readValue returns the bytes of one JSON value (not the raw body, so
// small).
func readValue(r *bufio.Reader) ([]byte, error) {
	c, err := skipSpace(r)
	if err != nil {
		return nil, err
	}
	out := []byte{c}
	depth := 0
	switch c {
	case '{', '[':
		depth = 1
	case '"':
		return readString(r, out)
	default:
		for {
			b, err := r.ReadByte()
			if err != nil {
				return nil, err
			}
			if b == ',' || b == '}' || b == ']' || b == ' ' || b == '\n' || b == '\r' || b == '\t' {
				r.UnreadByte()
				return out, nil
			}
			out = append(out, b)
		}
	}
	for depth > 0 {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		if b == '"' {
			if out, err = readString(r, append(out, b)); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, b)
		switch b {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	return out, nil
}

// readString reads the rest of a JSON string whose opening quote is
// already in out.
func readString(r *bufio.Reader, out []byte) ([]byte, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		if b == '\\' {
			e, err := r.ReadByte()
			if err != nil {
				return nil, err
			}
			out = append(out, e)
			continue
		}
		if b == '"' {
			return out, nil
		}
	}
}

// headerSink keeps a body's size and header section, for listings and
// look-ups that need the fingerprint but not the body.
type headerSink struct {
	hdr []byte
	n   int64
}

func (h *headerSink) Write(p []byte) (int, error) {
	if room := connector.MaxHeaderSection - len(h.hdr); room > 0 {
		h.hdr = append(h.hdr, p[:min(room, len(p))]...)
	}
	h.n += int64(len(p))
	return len(p), nil
}

func (h *headerSink) Reset() { h.hdr, h.n = h.hdr[:0], 0 }

// fingerprint returns the body's fingerprint, header section and
// Message-ID.
func (h *headerSink) fingerprint() (fp string, header []byte, msgID string) {
	header = connector.HeaderSection(h.hdr)
	return connector.Fingerprint(h.n, header), header, connector.MessageIDOf(header)
}
