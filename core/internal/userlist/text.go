package userlist

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// saveAs is the advice every encoding error ends with.
const saveAs = `save the file as UTF-8 (in Excel: Save As, "CSV UTF-8 (Comma delimited)") and try again`

// decodeText turns the upload into UTF-8 text: a UTF-8 byte-order mark is
// dropped, UTF-16 with a byte-order mark (Excel's "Unicode Text") is
// decoded; anything else must be valid UTF-8.
func decodeText(raw []byte) (string, error) {
	switch {
	case bytes.HasPrefix(raw, bomUTF8):
		raw = raw[len(bomUTF8):]
	case bytes.HasPrefix(raw, bomUTF16LE):
		return decodeUTF16(raw[2:], binary.LittleEndian)
	case bytes.HasPrefix(raw, bomUTF16BE):
		return decodeUTF16(raw[2:], binary.BigEndian)
	}
	if err := checkText(raw); err != nil {
		return "", err
	}
	return string(raw), nil
}

func decodeUTF16(b []byte, order binary.ByteOrder) (string, error) {
	if len(b)%2 != 0 {
		return "", fileErr(ErrEncoding, "the file says it is UTF-16 but has an odd number of bytes (cut short?): %s", saveAs)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = order.Uint16(b[2*i:])
	}
	line := 1
	for i := 0; i < len(u); i++ {
		c := rune(u[i])
		switch {
		case c == '\n':
			line++
		case utf16.IsSurrogate(c):
			if c < 0xDC00 && i+1 < len(u) && u[i+1] >= 0xDC00 && u[i+1] <= 0xDFFF {
				i++
				continue
			}
			return "", fileErr(ErrEncoding, "line %d is not valid UTF-16 text: %s", line, saveAs)
		}
	}
	text := []byte(string(utf16.Decode(u)))
	if err := checkText(text); err != nil {
		return "", err
	}
	return string(text), nil
}

// checkText refuses binary files (with a hint for the usual suspects)
// and bytes that are not UTF-8, naming the first bad line.
func checkText(b []byte) error {
	switch {
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		return fileErr(ErrNotText, "this is a ZIP file, such as an Excel workbook (.xlsx), not a CSV file: %s", saveAs)
	case bytes.HasPrefix(b, []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")):
		return fileErr(ErrNotText, "this is an old Excel workbook (.xls), not a CSV file: %s", saveAs)
	case bytes.HasPrefix(b, []byte("%PDF")):
		return fileErr(ErrNotText, "this is a PDF document, not a CSV file")
	}
	sample := b[:min(len(b), 4096)]
	nul, ctl := 0, 0
	for _, c := range sample {
		switch {
		case c == 0:
			nul++
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r':
			ctl++
		}
	}
	if nul*16 > len(sample) {
		return fileErr(ErrNotText, "the file holds binary data (many NUL bytes); if it is UTF-16 text without a byte-order mark, %s", saveAs)
	}
	if (nul+ctl)*10 > len(sample) {
		return fileErr(ErrNotText, "the file holds binary data, not text: upload a CSV file")
	}
	if utf8.Valid(b) {
		return nil
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			line := bytes.Count(b[:i], []byte("\n")) + 1
			return fileErr(ErrEncoding, "line %d is not UTF-8 text (Excel's plain \"CSV\" saves Latin-1/Windows-1252): %s", line, saveAs)
		}
		i += n
	}
	return nil
}
