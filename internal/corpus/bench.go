package corpus

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// benchFolders are the folders of a benchmark mailbox with the share of
// messages each gets (per mille).
var benchFolders = []struct {
	name, use string
	share     int
}{
	{"INBOX", "", 450},
	{"Sent", `\Sent`, 150},
	{"Archive", `\Archive`, 40},
	{"Archive/2023", "", 110},
	{"Archive/2024", "", 110},
	{"Projects/Tern", "", 70},
	{"Newsletters", "", 50},
	{"Trash", `\Trash`, 20},
}

var (
	firstNames = strings.Fields("Anna Ben Chiara David Elif Farid Greta Hiro Ines Jonas Kavya Lars Mei Nils Olga Pavel Quinn Rosa Sven Tara Umar Vera Wen Yara Zeno")
	lastNames  = strings.Fields("Meyer Smith Rossi Nguyen Kowalski Yilmaz Haddad Tanaka Silva Berg Patel Larsen Chen Novak Ivanova Dubois Moreau Garcia Olsen Keller")
	domains    = strings.Fields("example.com example.org example.net mail.example.de corp.example.fr lists.example.io")
	mailers    = []string{"Mozilla Thunderbird 115.6.0", "Microsoft Outlook 16.0", "Apple Mail (2.3774.300.61.1.2)", "Roundcube Webmail/1.6.5", "K-9 Mail for Android"}
	attTypes   = []struct{ ctype, ext string }{
		{"application/pdf", "pdf"}, {"image/jpeg", "jpg"}, {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
		{"application/zip", "zip"}, {"image/png", "png"}, {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"},
	}
)

// Bench returns users mailboxes of perUser messages each for the
// benchmark. The same arguments always give the same bytes. Sizes are
// realistic: about 85% text messages of 2–50 KB, 10% with an attachment of
// 100 KB–2 MB and 0.15% (at least one per user) of 10–25 MB; 4 × 2,000
// messages come to about 0.8 GB. Nothing is generated until a message is
// opened: the plan costs a few hundred bytes per message.
func Bench(users, perUser int, seed int64) []Mailbox {
	out := make([]Mailbox, users)
	for u := range users {
		out[u] = benchMailbox(u, perUser, seed)
	}
	return out
}

type benchKind int

const (
	kindText benchKind = iota
	kindAttachment
	kindHuge
)

func benchMailbox(u, perUser int, seed int64) Mailbox {
	rng := rand.New(rand.NewChaCha8(seedOf(seed, uint64(u), 0)))
	// Fix the count of each kind, then shuffle, so totals vary little.
	kinds := make([]benchKind, perUser)
	huge := max(1, (perUser*15+5000)/10000)
	if perUser < 20 {
		huge = 0
	}
	att := perUser / 10
	for i := range kinds {
		switch {
		case i < huge:
			kinds[i] = kindHuge
		case i < huge+att:
			kinds[i] = kindAttachment
		}
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	owner := person(rng)
	folders := make([]Folder, len(benchFolders))
	for i, f := range benchFolders {
		folders[i] = Folder{Name: f.name, SpecialUse: f.use}
	}
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	span := int64(6 * 365 * 24 * time.Hour / time.Second)
	for i := range perUser {
		fi := pickFolder(rng)
		date := start.Add(time.Duration(rng.Int64N(span)) * time.Second).In(benchZones[rng.IntN(len(benchZones))])
		m := benchMessage(rng, seed, u, i, kinds[i], owner, benchFolders[fi].name, date)
		folders[fi].Messages = append(folders[fi].Messages, m)
	}
	return Mailbox(folders)
}

var benchZones = []*time.Location{time.UTC, zBerlin, zLA, zTokyo, zIndia, time.FixedZone("-0500", -5*3600), time.FixedZone("+0200", 2*3600)}

func pickFolder(rng *rand.Rand) int {
	r := rng.IntN(1000)
	for i, f := range benchFolders {
		if r < f.share {
			return i
		}
		r -= f.share
	}
	return 0
}

func person(rng *rand.Rand) string {
	f := firstNames[rng.IntN(len(firstNames))]
	l := lastNames[rng.IntN(len(lastNames))]
	return fmt.Sprintf("%s %s <%s.%s@%s>", f, l, strings.ToLower(f), strings.ToLower(l), domains[rng.IntN(len(domains))])
}

// logUniform returns a size between lo and hi, uniform on a log scale.
func logUniform(rng *rand.Rand, lo, hi float64) int64 {
	return int64(lo * math.Pow(hi/lo, rng.Float64()))
}

func benchMessage(rng *rand.Rand, seed int64, u, i int, kind benchKind, owner, folder string, date time.Time) Message {
	date = date.Truncate(time.Second)
	from, to := person(rng), owner
	if folder == "Sent" {
		from, to = owner, person(rng)
	}
	idSeed := seedOf(seed, uint64(u), uint64(i), 1)
	id := fmt.Sprintf("%x.%d.%d@%s", idSeed[:8], u, i, domains[rng.IntN(len(domains))])
	subject := strings.ToUpper(words[rng.IntN(len(words))][:1]) + words[rng.IntN(len(words))][1:] + " " + words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
	if rng.IntN(4) == 0 {
		subject = "Re: " + subject
	}
	sent := date.Add(-time.Duration(5+rng.IntN(600)) * time.Second)
	var h strings.Builder
	h.WriteString("Return-Path: <" + addrOf(from) + ">\n")
	for hop := range 1 + rng.IntN(3) {
		fmt.Fprintf(&h, "Received: from mx%d.%s (mx%d.%s [198.51.100.%d])\n\tby mail.example.org (Postfix) with ESMTPS id %X\n\tfor <%s>; %s\n",
			hop, domains[rng.IntN(len(domains))], hop, domains[rng.IntN(len(domains))], 1+rng.IntN(250), rng.Uint32(), addrOf(to),
			date.Add(-time.Duration(hop)*time.Second).Format(time.RFC1123Z))
	}
	if rng.IntN(2) == 0 {
		fmt.Fprintf(&h, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=mail;\n\th=from:to:subject:date:message-id; bh=%x=;\n\tb=%x%x\n",
			domains[rng.IntN(len(domains))], rng.Uint64(), rng.Uint64(), rng.Uint64())
	}
	h.WriteString("Date: " + sent.Format(time.RFC1123Z) + "\n")
	h.WriteString("From: " + from + "\n")
	h.WriteString("To: " + to + "\n")
	if rng.IntN(3) == 0 {
		h.WriteString("Cc: " + person(rng) + ", " + person(rng) + "\n")
	}
	h.WriteString("Subject: " + subject + "\n")
	h.WriteString("Message-ID: <" + id + ">\n")
	if strings.HasPrefix(subject, "Re: ") {
		fmt.Fprintf(&h, "In-Reply-To: <%x@%s>\n", rng.Uint64(), domains[rng.IntN(len(domains))])
	}
	if folder == "Newsletters" {
		h.WriteString("List-Id: <news." + domains[rng.IntN(len(domains))] + ">\nList-Unsubscribe: <mailto:unsubscribe@example.com>\n")
	}
	h.WriteString("X-Mailer: " + mailers[rng.IntN(len(mailers))] + "\n")
	header := crlf(h.String())
	flags := benchFlags(rng, folder)

	switch kind {
	case kindText:
		n := int(logUniform(rng, 2000, 50000)) - len(header) - 80
		n = max(n, 200)
		head := header + crlf("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
		bodySeed := seedOf(seed, uint64(u), uint64(i), 2)
		open := func() io.Reader {
			return io.MultiReader(strings.NewReader(head), bytes.NewReader(text(rand.New(rand.NewChaCha8(bodySeed)), n)))
		}
		return NewStream("bench-text", int64(len(head)+n), open, date, flags...)
	default:
		lo, hi := 100e3, 2e6
		kase := "bench-attachment"
		if kind == kindHuge {
			lo, hi, kase = 10e6, 25e6, "bench-huge"
		}
		// Base64 grows the raw bytes by 78/57.
		raw := logUniform(rng, lo, hi) * 57 / 78
		t := attTypes[rng.IntN(len(attTypes))]
		body := text(rand.New(rand.NewChaCha8(seedOf(seed, uint64(u), uint64(i), 2))), 300+rng.IntN(3000))
		boundary := fmt.Sprintf("----=_Part_%d_%d.%d", u, i, rng.Uint32())
		a := newAttachment(header, body, boundary, t.ctype, fmt.Sprintf("%s-%d.%s", words[rng.IntN(len(words))], i, t.ext),
			seedOf(seed, uint64(u), uint64(i), 3), raw)
		return NewStream(kase, a.size(), a.open, date, flags...)
	}
}

func benchFlags(rng *rand.Rand, folder string) []string {
	var f []string
	switch folder {
	case "Sent":
		return []string{`\Seen`}
	case "Trash":
		f = append(f, `\Seen`)
		if rng.IntN(3) == 0 {
			f = append(f, `\Deleted`)
		}
		return f
	}
	if rng.IntN(100) < 80 {
		f = append(f, `\Seen`)
	}
	if rng.IntN(100) < 12 {
		f = append(f, `\Answered`)
	}
	if rng.IntN(100) < 5 {
		f = append(f, `\Flagged`)
	}
	if rng.IntN(100) < 4 {
		f = append(f, `$Forwarded`)
	}
	if rng.IntN(100) < 3 {
		f = append(f, `$label1`)
	}
	if folder == "Newsletters" && rng.IntN(10) == 0 {
		f = append(f, `$Junk`)
	}
	return f
}
