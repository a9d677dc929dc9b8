package corpus

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Zones the hard corpus's dates are given in.
var (
	zUTC      = time.UTC
	zBerlin   = time.FixedZone("+0100", 1*3600)
	zLA       = time.FixedZone("-0800", -8*3600)
	zTokyo    = time.FixedZone("+0900", 9*3600)
	zIndia    = time.FixedZone("+0530", 5*3600+1800)
	zNewfound = time.FixedZone("-0330", -(3*3600 + 1800))
	zChatham  = time.FixedZone("+1345", 13*3600+45*60)
	zMoscow   = time.FixedZone("+0300", 3*3600)
)

// LargeSize is the size of the hard corpus's large message (25 MiB).
const LargeSize = 25 << 20

// hardBuilder collects the hard corpus's messages; each gets the next date
// of a walk over ten years and a varied zone.
type hardBuilder struct {
	n int
}

var hardZones = []*time.Location{zBerlin, zLA, zTokyo, zUTC, zIndia, zNewfound, zChatham, zMoscow}

// date returns the i-th date: from 2015-01-07 to 2025 in steps of about
// 97 days, at varied times of day, in rotating zones.
func (b *hardBuilder) date() time.Time {
	i := b.n
	b.n++
	base := time.Date(2015, 1, 7, 8, 13, 27, 0, time.UTC)
	t := base.Add(time.Duration(i) * (97*24*time.Hour + 3*time.Hour + 7*time.Minute + 11*time.Second))
	return t.In(hardZones[i%len(hardZones)])
}

// hdr returns a header block (CRLF lines, with the empty line) with the
// usual fields; extra lines (LF-separated) come after Subject.
func hdr(date time.Time, from, to, subject, msgid string, extra ...string) string {
	var b strings.Builder
	b.WriteString("Return-Path: <" + addrOf(from) + ">\n")
	b.WriteString("Received: from mx.example.net (mx.example.net [192.0.2.25])\n\tby mail.example.org with ESMTPS id 4Xq2; " + date.Format(time.RFC1123Z) + "\n")
	b.WriteString("Date: " + date.Format(time.RFC1123Z) + "\n")
	b.WriteString("From: " + from + "\n")
	b.WriteString("To: " + to + "\n")
	b.WriteString("Subject: " + subject + "\n")
	if msgid != "" {
		b.WriteString("Message-ID: <" + msgid + ">\n")
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	return crlf(b.String())
}

func addrOf(from string) string {
	if i := strings.LastIndexByte(from, '<'); i >= 0 {
		return strings.TrimSuffix(from[i+1:], ">")
	}
	return from
}

const (
	alice = "Alice Example <alice@example.org>"
	bob   = "Bob Builder <bob@example.net>"
	carol = "carol@example.com"
)

func (b *hardBuilder) simple(kase, subject string, flags ...string) Message {
	d := b.date()
	raw := hdr(d, bob, alice, subject, kase+"@hard.example.net",
		"MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii") +
		crlf("\nThis message covers the case "+kase+".\nIt has a short plain-text body.\n")
	return New(kase, []byte(raw), d, flags...)
}

// Hard returns the hard corpus: one mailbox whose folders and messages
// cover the cases listed in the package documentation. It is
// deterministic; all messages but the 25 MiB one are small.
func Hard() Mailbox {
	var b hardBuilder
	var inbox, sent, drafts, trash, archive []Message

	// Plain messages and flags.
	inbox = append(inbox,
		b.simple("plain", "Lunch on Friday?", `\Seen`),
		b.simple("flags-none", "No flags at all"),
		b.simple("flag-seen", "Seen", `\Seen`),
		b.simple("flag-answered", "Answered", `\Seen`, `\Answered`),
		b.simple("flag-flagged", "Flagged", `\Flagged`),
		b.simple("flag-draft", "Draft flag outside Drafts", `\Draft`),
		b.simple("flag-deleted", "Deleted but not expunged", `\Seen`, `\Deleted`),
		b.simple("keyword-forwarded", "Forwarded", `\Seen`, `$Forwarded`),
		b.simple("keyword-junk", "Junk keyword", `$Junk`),
		b.simple("keywords-custom", "Custom keywords", `\Seen`, `Work`, `todo_later`, `$label1`),
		b.simple("flags-all", "Every flag", `\Seen`, `\Answered`, `\Flagged`, `\Draft`, `\Deleted`,
			`$Forwarded`, `$Junk`, `$MDNSent`, `Work`, `todo_later`, `$label1`),
	)

	// No Message-ID.
	{
		d := b.date()
		raw := crlf("Date: " + d.Format(time.RFC1123Z) + "\nFrom: " + carol + "\nTo: " + alice +
			"\nSubject: A message without Message-ID\n\nSome MTAs never add one.\n")
		inbox = append(inbox, New("no-message-id", []byte(raw), d, `\Seen`))
	}

	// Duplicate Message-IDs: same id, different content (a third copy is in Archive).
	const dupID = "same-id-for-three@hard.example.net"
	dupMsg := func(kase, body string) Message {
		d := b.date()
		raw := hdr(d, bob, alice, "Same Message-ID ("+kase+")", dupID) + crlf("\n"+body+"\n")
		return New(kase, []byte(raw), d, `\Seen`)
	}
	inbox = append(inbox,
		dupMsg("dup-message-id-a", "First message carrying this id."),
		dupMsg("dup-message-id-b", "Second, different message carrying the same id."),
	)

	// 8-bit headers.
	{
		d := b.date()
		raw := hdr(d, "Jürgen Müller <juergen@example.de>", "Zoë Ødegård <zoe@example.no>",
			"Grüße aus Köln — 日本語 — Привет", "8bit-utf8@hard.example.net",
			"X-Note: raw UTF-8 in headers, no RFC 2047 encoding") +
			crlf("\nHeader fields above carry raw UTF-8 bytes.\n")
		inbox = append(inbox, New("8bit-header-utf8", []byte(raw), d, `\Seen`))

		d = b.date()
		latin1 := "Subject: Gr\xfc\xdfe aus M\xfcnchen, \xe7a va?\r\nFrom: Fran\xe7ois <francois@example.fr>\r\n"
		raw = crlf("Date: "+d.Format(time.RFC1123Z)+"\nTo: "+alice+"\nMessage-ID: <8bit-latin1@hard.example.net>\n") +
			latin1 + crlf("Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\nK\xe4se und Br\xf6tchen.\n")
		inbox = append(inbox, New("8bit-header-latin1", []byte(raw), d))
	}

	// Broken MIME.
	{
		d := b.date()
		raw := hdr(d, bob, alice, "Broken MIME: boundary", "bad-boundary@hard.example.net",
			"MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="declared-boundary"`) +
			crlf("\n--other-boundary\nContent-Type: text/plain\n\nThe parts use a boundary the header does not declare.\n--other-boundary--\n")
		inbox = append(inbox, New("mime-bad-boundary", []byte(raw), d, `\Seen`))

		d = b.date()
		raw = hdr(d, bob, alice, "Broken MIME: truncated", "truncated@hard.example.net",
			"MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="cut"`) +
			crlf("\n--cut\nContent-Type: text/plain\n\nFirst part.\n--cut\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldY\nWVphYmNkZWZnaGlqa2xtbm9w")
		inbox = append(inbox, New("mime-truncated-multipart", []byte(raw), d))

		d = b.date()
		raw = hdr(d, bob, alice, "Broken MIME: base64", "bad-base64@hard.example.net",
			"MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="b64"`) +
			crlf("\n--b64\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nVGhpcyBpcyBub3Qg!!!dmFsaWQgYmFzZTY0*&^\nYWJj=ZGVm\n====\n--b64--\n")
		inbox = append(inbox, New("mime-bad-base64", []byte(raw), d, `\Seen`))
	}

	// Header-only messages: no empty line, with and without a final line end.
	{
		d := b.date()
		raw := crlf("Date: " + d.Format(time.RFC1123Z) + "\nFrom: " + carol + "\nTo: " + alice +
			"\nSubject: Headers only\nMessage-ID: <headers-only@hard.example.net>\n")
		inbox = append(inbox, New("headers-only", []byte(raw), d))

		d = b.date()
		raw = crlf("Date: " + d.Format(time.RFC1123Z) + "\nFrom: " + carol + "\nTo: " + alice +
			"\nSubject: Headers only, no final line end\nMessage-ID: <headers-only-no-eol@hard.example.net>")
		inbox = append(inbox, New("headers-only-no-eol", []byte(raw), d, `\Seen`))
	}

	// Line ends.
	{
		d := b.date()
		raw := "Date: " + d.Format(time.RFC1123Z) + "\nFrom: " + bob + "\nTo: " + alice +
			"\nSubject: Bare LF line ends\nMessage-ID: <bare-lf@hard.example.net>\n\nEvery line of this message ends in a bare LF.\nServers may serve it with CRLF.\n"
		inbox = append(inbox, New("bare-lf", []byte(raw), d, `\Seen`))

		d = b.date()
		raw = crlf("Date: "+d.Format(time.RFC1123Z)+"\nFrom: "+bob+"\nTo: "+alice+
			"\nSubject: Mixed line ends\nMessage-ID: <mixed-eol@hard.example.net>\n\n") +
			"CRLF header, then LF body lines.\nA stray CR\r in the middle.\r\nAnd a CRLF line.\nLast line.\n"
		inbox = append(inbox, New("mixed-line-ends", []byte(raw), d))
	}

	// A header line far beyond 998 characters.
	{
		d := b.date()
		var refs []string
		for i := range 60 {
			refs = append(refs, fmt.Sprintf("<ref-%02d-long-thread@hard.example.net>", i))
		}
		raw := hdr(d, bob, alice, "Very long References line", "long-line@hard.example.net",
			"References: "+strings.Join(refs, " ")) + crlf("\nThe References field is one unfolded line.\n")
		inbox = append(inbox, New("long-header-line", []byte(raw), d, `\Seen`))
	}

	// Two byte-identical copies in one folder: both must arrive.
	{
		d := b.date()
		raw := []byte(hdr(d, bob, alice, "Identical twin", "twin@hard.example.net") + crlf("\nThis message is in INBOX twice, byte for byte.\n"))
		inbox = append(inbox, New("identical-copy", raw, d, `\Seen`), New("identical-copy", raw, d, `\Seen`))
	}

	// Special-use folders.
	{
		d := b.date()
		sent = append(sent, New("sent", []byte(hdr(d, alice, bob, "Re: Lunch on Friday?", "sent-1@example.org",
			"In-Reply-To: <plain@hard.example.net>", "Bcc: carol@example.com")+crlf("\nFriday works.\n")), d, `\Seen`))
		sent = append(sent, b.simple("sent", "Quarterly report", `\Seen`, `$Forwarded`))

		d = b.date()
		drafts = append(drafts, New("draft-no-date", []byte(crlf("From: "+alice+"\nTo: "+bob+
			"\nSubject: Unfinished draft\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nDear Bob,\n")), d, `\Seen`, `\Draft`))

		trash = append(trash, b.simple("trash-deleted", "Deleted in Trash", `\Seen`, `\Deleted`))
		trash = append(trash, b.simple("trash", "Moved to Trash", `\Seen`))

		archive = append(archive, large(&b))
		archive = append(archive, dupMsg("dup-message-id-c", "Third message with this id, in another folder."))
		archive = append(archive, b.simple("archive-old", "From the archive", `\Seen`))
	}

	// Non-ASCII, nested and punctuated folder names.
	var entw, inc, reports, jp, proj, projQ1 []Message
	entw = append(entw, b.simple("folder-name-umlaut", "In Entwürfe, not the Drafts folder"))
	inc = append(inc, b.simple("folder-name-cyrillic", "In Входящие", `\Seen`))
	reports = append(reports, b.simple("folder-name-cyrillic-nested", "In Входящие/Отчёты", `\Seen`, `\Flagged`))
	{
		d := b.date()
		// ISO-2022-JP body: 7-bit with escape sequences ("日本語" = ESC $ B F| K\ 8l ESC ( B).
		raw := hdr(d, bob, alice, "=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=", "iso2022jp@hard.example.net",
			"MIME-Version: 1.0", "Content-Type: text/plain; charset=ISO-2022-JP", "Content-Transfer-Encoding: 7bit") +
			"\r\n\x1b$BF|K\\8l\x1b(B\r\n"
		jp = append(jp, New("folder-name-cjk", []byte(raw), d, `\Seen`))
	}
	proj = append(proj, b.simple("folder-name-ampersand", "In Projects & Plans"))
	projQ1 = append(projQ1,
		b.simple("folder-name-space-nested", "Q1 kickoff", `\Seen`),
		b.simple("folder-name-space-nested", "Q1 budget", `\Answered`, `\Seen`))

	return Mailbox{
		{Name: "INBOX", Messages: inbox},
		{Name: "Sent", SpecialUse: `\Sent`, Messages: sent},
		{Name: "Drafts", SpecialUse: `\Drafts`, Messages: drafts},
		{Name: "Trash", SpecialUse: `\Trash`, Messages: trash},
		{Name: "Archive", SpecialUse: `\Archive`, Messages: archive},
		{Name: "Entwürfe", Messages: entw},
		{Name: "Входящие", Messages: inc},
		{Name: "Входящие/Отчёты", Messages: reports},
		{Name: "日本語", Messages: jp},
		{Name: "Projects & Plans", Messages: proj},
		{Name: "Projects & Plans/Q1 2024", Messages: projQ1},
	}
}

// large returns the 25 MiB message: text plus a base64 attachment, sized
// to exactly LargeSize bytes, streamed on Open.
func large(b *hardBuilder) Message {
	d := b.date()
	header := hdr(d, bob, alice, "Scans of the whole contract (25 MiB)", "large-25mib@hard.example.net")
	body := text(rand.New(rand.NewPCG(25, 25)), 600)
	a := newAttachment(header, body, "large-boundary-25", "application/pdf", "contract-scans.pdf", seedOf(25), 0)
	// Choose the raw size so the message lands at LargeSize exactly, then
	// pad the text part with the remaining few bytes.
	over := a.size()
	raw := (LargeSize - over) / 78 * 57
	a.rawSize = raw
	pad := int(LargeSize - a.size())
	body = text(rand.New(rand.NewPCG(25, 25)), 600+pad)
	a = newAttachment(header, body, "large-boundary-25", "application/pdf", "contract-scans.pdf", seedOf(25), raw)
	return NewStream("large-25mib", a.size(), a.open, d, `\Seen`, `\Flagged`)
}
