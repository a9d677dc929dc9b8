package connector

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
)

// MaxHeaderSection bounds how much of a message HeaderSection reads: a
// header section longer than this is cut there (both sides cut it the same
// way, so fingerprints still match).
const MaxHeaderSection = 256 << 10

// Fingerprint identifies a message's content from its exact size and its
// header section (see [HeaderSection]). Two messages with equal fingerprints
// are, for migration purposes, the same message: byte-identical copies have
// equal fingerprints, and a mailbox may hold several of them.
//
// The result is "v1:" followed by 32 hex digits of a SHA-256.
func Fingerprint(size int64, header []byte) string {
	h := sha256.New()
	h.Write([]byte("tern-fingerprint-v1\x00"))
	h.Write(strconv.AppendInt(nil, size, 10))
	h.Write([]byte{0})
	h.Write(header)
	return "v1:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// HeaderSection returns the header section of a message: its bytes up to
// and including the first empty line (CRLF CRLF, or LF LF for messages with
// bare line feeds), the whole message if it has no empty line, and at most
// [MaxHeaderSection] bytes.
func HeaderSection(msg []byte) []byte {
	if len(msg) > MaxHeaderSection {
		msg = msg[:MaxHeaderSection]
	}
	if end := headerEnd(msg); end >= 0 {
		return msg[:end]
	}
	return msg
}

// headerEnd returns the offset just after the empty line that ends the
// header section, or -1.
func headerEnd(b []byte) int {
	// An empty line at the very start: the header section is that line.
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return 2
	}
	if bytes.HasPrefix(b, []byte("\n")) {
		return 1
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		rest := b[i+1:]
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			return i + 3
		}
		if bytes.HasPrefix(rest, []byte("\n")) {
			return i + 2
		}
	}
	return -1
}

// ReadHeaderSection reads the header section from r (which must start at
// the beginning of a message) and returns it; r is left positioned after
// it or wherever reading stopped.
func ReadHeaderSection(r io.Reader) ([]byte, error) {
	br := bufio.NewReaderSize(r, 4096)
	var out []byte
	for len(out) < MaxHeaderSection {
		line, err := br.ReadSlice('\n')
		out = append(out, line...)
		if len(line) > 0 && (bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n"))) {
			break
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return HeaderSection(out), nil
}

// MessageIDOf returns the value of the first Message-ID header field in a
// header section, unfolded and trimmed, or "" if there is none.
func MessageIDOf(header []byte) string {
	lines := bytes.SplitAfter(header, []byte("\n"))
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		colon := bytes.IndexByte(line, ':')
		if colon < 0 || !bytes.EqualFold(bytes.TrimRight(line[:colon], " \t"), []byte("Message-ID")) {
			continue
		}
		val := append([]byte(nil), line[colon+1:]...)
		for j := i + 1; j < len(lines) && len(lines[j]) > 0 && (lines[j][0] == ' ' || lines[j][0] == '\t'); j++ {
			val = append(val, lines[j]...)
		}
		val = bytes.ReplaceAll(val, []byte("\r"), nil)
		val = bytes.ReplaceAll(val, []byte("\n"), nil)
		return string(bytes.TrimSpace(val))
	}
	return ""
}
