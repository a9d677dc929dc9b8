package imapkit

import (
	"encoding/base64"
	"strings"
	"unicode/utf16"
)

// modifiedBase64 is RFC 3501 §5.1.3's base64: "," instead of "/", no
// padding.
var modifiedBase64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// encodeUTF7 encodes a UTF-8 mailbox name in modified UTF-7 (RFC 3501
// §5.1.3), as go-imap does for its own commands: printable US-ASCII
// stands for itself ("&" as "&-"), every other run of characters is
// UTF-16BE in modified base64 between "&" and "-". Invalid UTF-8 becomes
// U+FFFD.
func encodeUTF7(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if ch := s[i]; ch >= 0x20 && ch <= 0x7e {
			b.WriteByte(ch)
			if ch == '&' {
				b.WriteByte('-')
			}
			i++
			continue
		}
		start := i
		for i < len(s) && (s[i] < 0x20 || s[i] > 0x7e) {
			i++
		}
		units := utf16.Encode([]rune(s[start:i]))
		raw := make([]byte, 0, 2*len(units))
		for _, u := range units {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(modifiedBase64.EncodeToString(raw))
		b.WriteByte('-')
	}
	return b.String()
}
