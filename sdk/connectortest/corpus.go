package connectortest

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// SeedMessage is a message the suite stores in a mailbox.
type SeedMessage struct {
	Data         []byte
	InternalDate time.Time
	Flags        []string
}

// Corpus returns the suite's messages: plain, 8-bit headers and body, no
// Message-ID, two byte-identical copies, multipart, and one larger than
// several body chunks. Every message uses CRLF line ends (RFC 5322);
// systems that keep bare LF are tested with BareLFMessage.
func Corpus() []SeedMessage {
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 10, 30, 0, 0, time.UTC) }
	plain := msg("Plain message", "<plain.1@conformance.test>", "Hello.\r\n")
	dup := msg("Identical twin", "<twin@conformance.test>", "Same bytes twice.\r\n")
	return []SeedMessage{
		{Data: plain, InternalDate: d(2016, 3, 1), Flags: []string{`\Seen`}},
		{Data: []byte("From: Jürgen Müller <j@conformance.test>\r\nTo: b@conformance.test\r\nSubject: Grüße aus Köln\r\nMessage-ID: <8bit.1@conformance.test>\r\nDate: Tue, 1 Mar 2016 10:30:00 +0100\r\n\r\nÄrger über Öl – 日本語.\r\n"), InternalDate: time.Date(2017, 7, 14, 23, 59, 59, 0, time.FixedZone("", 2*3600)), Flags: []string{`\Answered`, `\Flagged`}},
		{Data: []byte("From: a@conformance.test\r\nSubject: No Message-ID here\r\nDate: Wed, 2 Mar 2016 10:30:00 +0000\r\n\r\nA message without Message-ID.\r\n"), InternalDate: d(2018, 1, 2), Flags: nil},
		{Data: dup, InternalDate: d(2019, 5, 5), Flags: []string{`\Seen`, "$Label1"}},
		{Data: dup, InternalDate: d(2019, 5, 5), Flags: []string{`\Seen`, "$Label1"}},
		{Data: multipart(), InternalDate: d(2020, 12, 31), Flags: []string{`\Seen`, `\Draft`}},
		{Data: large(3<<20 + 12345), InternalDate: d(2021, 6, 30), Flags: []string{"custom_keyword"}},
	}
}

// BareLFMessage is a message with bare LF line ends.
func BareLFMessage() SeedMessage {
	return SeedMessage{
		Data:         []byte("From: lf@conformance.test\nSubject: bare LF\nMessage-ID: <lf.1@conformance.test>\n\nline one\nline two\n"),
		InternalDate: time.Date(2015, 2, 3, 4, 5, 6, 0, time.UTC),
	}
}

func msg(subject, id, body string) []byte {
	return []byte(fmt.Sprintf("From: Alice <alice@conformance.test>\r\nTo: Bob <bob@conformance.test>\r\nSubject: %s\r\nMessage-ID: %s\r\nDate: Tue, 1 Mar 2016 10:30:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s", subject, id, body))
}

func multipart() []byte {
	return []byte("From: a@conformance.test\r\nSubject: Multipart\r\nMessage-ID: <mp.1@conformance.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nPart one.\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n--b1--\r\n")
}

func large(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: big@conformance.test\r\nSubject: Large message\r\nMessage-ID: <large.1@conformance.test>\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 2)[:70] + "\r\n"
	for i := 0; b.Len()+len(line) <= size-2; i++ {
		if i%1000 == 0 {
			fmt.Fprintf(&b, "%070d\r\n", i) // numbered lines make chunk mix-ups visible
			continue
		}
		b.WriteString(line)
	}
	for b.Len() < size-2 {
		b.WriteByte('A')
	}
	b.WriteString("\r\n")
	return b.Bytes()
}
