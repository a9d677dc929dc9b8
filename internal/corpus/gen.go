package corpus

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"strings"
)

// crlf turns "\n" line ends into "\r\n".
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// seedOf derives a ChaCha8 seed from a base seed and a path of numbers, so
// every message has its own stream whatever order messages are read in.
func seedOf(base int64, path ...uint64) [32]byte {
	h := sha256.New()
	binary.Write(h, binary.LittleEndian, base)
	for _, p := range path {
		binary.Write(h, binary.LittleEndian, p)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

var words = strings.Fields(`the of and to in is that for it as was with be by on not he this are or his
from at which but have an they you were her she there been one all we their has would when if
so no will can more other its into some could them than then only these two may first any my now
such like our over man me even most made after also did many before must through back years where
much your way well down should because each just those people how too little state good very make
world still own see men work long get here between both life being under never day same another
know while last might us great old year off come since against go came right used take three
meeting budget report invoice quarter review project deadline schedule customer server backup
migration release contract proposal agenda minutes draft attached please regards thanks update
status ticket issue question answer team office travel expense approval summary results numbers`)

// text returns exactly n bytes of plain text in CRLF lines of at most 76
// characters, with paragraphs, drawn from rng.
func text(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	b.Grow(n)
	if n < 2 {
		return []byte("\r\n")[:max(n, 0)]
	}
	line := make([]byte, 0, 80)
	fill := func(limit int) {
		line = line[:0]
		for {
			w := words[rng.IntN(len(words))]
			if len(line)+1+len(w) > limit {
				break
			}
			if len(line) > 0 {
				line = append(line, ' ')
			}
			line = append(line, w...)
		}
	}
	for {
		rem := n - b.Len()
		if rem <= 78 {
			// The last line, cut or padded to fit exactly.
			fill(76)
			for len(line) < rem-2 {
				line = append(line, '.')
			}
			line = line[:rem-2]
			b.Write(line)
			b.WriteString("\r\n")
			return b.Bytes()
		}
		if rng.IntN(8) == 0 {
			b.WriteString("\r\n")
			continue
		}
		fill(50 + rng.IntN(24))
		b.Write(line)
		b.WriteString("\r\n")
	}
}

// b64Size is the size of n raw bytes in base64 with 76-character CRLF lines.
func b64Size(n int64) int64 {
	full, k := n/57, n%57
	s := full * 78
	if k > 0 {
		s += (k+2)/3*4 + 2
	}
	return s
}

// b64Reader streams n pseudo-random bytes from a ChaCha8 seed as base64
// in 76-character CRLF lines; it holds one small batch of lines at a time.
type b64Reader struct {
	src  *rand.ChaCha8
	left int64 // raw bytes still to encode
	raw  []byte
	out  []byte
	pos  int
}

func newB64Reader(seed [32]byte, n int64) *b64Reader {
	return &b64Reader{src: rand.NewChaCha8(seed), left: n, raw: make([]byte, 57*256), out: make([]byte, 0, 78*256)}
}

func (r *b64Reader) Read(p []byte) (int, error) {
	if r.pos == len(r.out) {
		if r.left == 0 {
			return 0, io.EOF
		}
		n := int64(len(r.raw))
		if r.left < n {
			n = r.left
		}
		raw := r.raw[:n]
		r.src.Read(raw)
		r.left -= n
		r.out, r.pos = r.out[:0], 0
		for len(raw) > 0 {
			k := min(57, len(raw))
			r.out = base64.StdEncoding.AppendEncode(r.out, raw[:k])
			r.out = append(r.out, '\r', '\n')
			raw = raw[k:]
		}
	}
	n := copy(p, r.out[r.pos:])
	r.pos += n
	return n, nil
}

// attachmentMessage is a multipart/mixed message with a text part and one
// base64 attachment of rawSize pseudo-random bytes, streamed on Open.
type attachmentMessage struct {
	head, mid, tail []byte
	seed            [32]byte
	rawSize         int64
}

func (a attachmentMessage) size() int64 {
	return int64(len(a.head)+len(a.mid)+len(a.tail)) + b64Size(a.rawSize)
}

func (a attachmentMessage) open() io.Reader {
	return io.MultiReader(bytes.NewReader(a.head), bytes.NewReader(a.mid),
		newB64Reader(a.seed, a.rawSize), bytes.NewReader(a.tail))
}

// newAttachment builds a multipart message: header (CRLF lines, without the
// MIME and Content-Type fields, without the final empty line), the text of
// the first part, the attachment's type and file name, and its raw size.
func newAttachment(header string, body []byte, boundary, ctype, filename string, seed [32]byte, rawSize int64) attachmentMessage {
	var head bytes.Buffer
	head.WriteString(header)
	head.WriteString("MIME-Version: 1.0\r\n")
	head.WriteString("Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n")
	head.WriteString("This is a multi-part message in MIME format.\r\n\r\n")
	head.WriteString("--" + boundary + "\r\n")
	head.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	head.Write(body)
	mid := "\r\n--" + boundary + "\r\n" +
		"Content-Type: " + ctype + "; name=\"" + filename + "\"\r\n" +
		"Content-Disposition: attachment; filename=\"" + filename + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n"
	tail := "--" + boundary + "--\r\n"
	return attachmentMessage{head: head.Bytes(), mid: []byte(mid), tail: []byte(tail), seed: seed, rawSize: rawSize}
}
