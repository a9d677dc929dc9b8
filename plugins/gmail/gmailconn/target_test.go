package gmailconn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ternmail/tern/plugins/gmail/gmailconn"
	"github.com/ternmail/tern/plugins/gmail/gmailtest"
	"github.com/ternmail/tern/sdk/connector"
)

func testSettings() *gmailconn.Settings {
	return &gmailconn.Settings{SentLabel: gmailconn.DefaultSentLabel, DraftsLabel: gmailconn.DefaultDraftsLabel, KeywordPrefix: gmailconn.DefaultKeywordPrefix}
}

func TestLabelName(t *testing.T) {
	set := testSettings()
	for _, c := range []struct{ folder, special, name, system string }{
		{"INBOX", "", "", "INBOX"},
		{"Inbox", "", "", "INBOX"},
		{"Junk", connector.SpecialJunk, "", "SPAM"},
		{"Deleted Items", connector.SpecialTrash, "", "TRASH"},
		{"SPAM", "", "", "SPAM"},
		{"TRASH", "", "", "TRASH"},
		{"Sent", connector.SpecialSent, "Sent (imported)", ""},
		{"Drafts", connector.SpecialDrafts, "Drafts (imported)", ""},
		{"Sent", "", "Sent (imported)", ""},
		{"Archive", connector.SpecialArchive, "Archive (imported)", ""},
		{"archive/2019", "", "archive (imported)/2019", ""},
		{"Work/Inbox", "", "Work/Inbox (imported)", ""},
		{"Spam", "", "Spam (imported)", ""},
		{"CATEGORY_SOCIAL", "", "CATEGORY_SOCIAL (imported)", ""},
		{" Padded /x ", "", "Padded/x", ""},
		{"a//b", "", "a/_/b", ""},
		{"Projects & Plans/Q1 2024", "", "Projects & Plans/Q1 2024", ""},
		{"Входящие/Отчёты", "", "Входящие/Отчёты", ""},
	} {
		name, system := gmailconn.LabelName(c.folder, c.special, set)
		if name != c.name || system != c.system {
			t.Errorf("LabelName(%q, %q) = %q, %q; want %q, %q", c.folder, c.special, name, system, c.name, c.system)
		}
		if system == "" {
			// The rule is idempotent: the engine appends to the name
			// EnsureFolder returned.
			if again, _ := gmailconn.LabelName(name, "", set); again != name {
				t.Errorf("LabelName(%q) = %q, not stable", name, again)
			}
		}
	}
}

func TestMapFlags(t *testing.T) {
	set := testSettings()
	p := gmailconn.MapFlags([]string{`\Seen`, `\Flagged`, `\Answered`, `\Draft`, `\Recent`, "$Label1"}, set)
	if got := fmt.Sprint(gmailconn.PlanLabels(p)); got != "[STARRED] [] [\\Answered \\Draft $Label1]" {
		t.Errorf("flags → %s", got)
	}
	p = gmailconn.MapFlags(nil, set)
	if got := fmt.Sprint(gmailconn.PlanLabels(p)); got != "[UNREAD] [] []" {
		t.Errorf("no flags → %s", got)
	}
	set.KeywordLabels = true
	p = gmailconn.MapFlags([]string{"$Label1", "Inbox", `\Deleted`}, set)
	if got := fmt.Sprint(gmailconn.PlanLabels(p)); got != "[UNREAD] [Keywords/$Label1 Keywords/Inbox (imported)] [\\Deleted]" {
		t.Errorf("keyword labels → %s", got)
	}
}

func appendMsg(t *testing.T, tg connector.Target, folder string, data []byte, date time.Time, flags ...string) *connector.AppendResult {
	t.Helper()
	res, err := tg.Append(context.Background(), folder, &connector.AppendMessage{Size: int64(len(data)), Body: bytes.NewReader(data), InternalDate: date, Flags: flags})
	if err != nil {
		t.Fatalf("Append to %q: %v", folder, err)
	}
	return res
}

func message(id, date, body string) []byte {
	s := "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: test " + id + "\r\n"
	if id != "" {
		s += "Message-ID: <" + id + "@example.org>\r\n"
	}
	if date != "" {
		s += "Date: " + date + "\r\n"
	}
	return []byte(s + "\r\n" + body + "\r\n")
}

func TestEnsureFolder(t *testing.T) {
	e := newEnv(t)
	user := e.user("folders")
	tg := e.target(t, user, nil)
	ctx := context.Background()
	check := func(name, special, wantName string, wantCreated bool) *connector.TargetFolder {
		t.Helper()
		f, err := tg.EnsureFolder(ctx, name, special)
		if err != nil {
			t.Fatalf("EnsureFolder(%q, %q): %v", name, special, err)
		}
		if f.Name != wantName || f.Created != wantCreated || f.Watermark == "" {
			t.Fatalf("EnsureFolder(%q, %q) = %+v; want %q created=%v", name, special, f, wantName, wantCreated)
		}
		return f
	}
	check("Junk", connector.SpecialJunk, "SPAM", false)
	check("Trash", connector.SpecialTrash, "TRASH", false)
	check("INBOX", "", "INBOX", false)
	check("Sent", connector.SpecialSent, "Sent (imported)", true)
	check("Archive/2019/Q1", "", "Archive (imported)/2019/Q1", true)
	for _, parent := range []string{"Archive (imported)", "Archive (imported)/2019"} {
		if _, ok := e.srv.LabelByName(user, parent); !ok {
			t.Errorf("parent label %q not created", parent)
		}
	}
	// An existing label in another case is that label.
	e.srv.CreateLabel(user, "work")
	check("Work", "", "work", false)
	check("Projects", "", "Projects", true)
	// A label created behind the session's back (another session): the
	// create gets 409 and the existing label is used.
	e.srv.CreateLabel(user, "Clients")
	check("CLIENTS", "", "Clients", false)
	h, err := tg.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	specials := map[string]string{}
	for _, f := range h.Folders {
		if f.SpecialUse != "" {
			specials[f.SpecialUse] = f.Name
		}
	}
	if specials[connector.SpecialJunk] != "SPAM" || specials[connector.SpecialTrash] != "TRASH" || specials[connector.SpecialSent] != "Sent (imported)" || specials[connector.SpecialDrafts] != "Drafts (imported)" {
		t.Errorf("special-use folders %v", specials)
	}
	// Appending to a label that does not exist is ErrNotFound.
	_, err = tg.Append(ctx, "Nope", &connector.AppendMessage{Size: 3, Body: strings.NewReader("a\r\n")})
	if !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("Append to a missing label: %v", err)
	}
}

// Import parameters, labels from flags, notes for what Gmail cannot keep.
func TestAppendParamsAndNotes(t *testing.T) {
	e := newEnv(t)
	user := e.user("notes")
	tg := e.target(t, user, nil)
	ctx := context.Background()
	sent, err := tg.EnsureFolder(ctx, "Sent", connector.SpecialSent)
	if err != nil {
		t.Fatal(err)
	}
	received := time.Date(2016, 3, 1, 10, 31, 0, 0, time.UTC)

	// Date header close to the received date: no note.
	res := appendMsg(t, tg, "INBOX", message("close", "Tue, 1 Mar 2016 10:30:00 +0000", "a"), received, `\Flagged`)
	if len(res.Notes) != 0 || len(res.DroppedFlags) != 0 {
		t.Errorf("plain import: notes %q, dropped %q", res.Notes, res.DroppedFlags)
	}
	m, _ := e.srv.Message(user, res.Ref)
	p := m.Params
	if p.Method != "import" || p.InternalDateSource != "dateHeader" || !p.NeverMarkSpam || p.ProcessForCalendar || p.UploadType != "multipart" {
		t.Errorf("import params %+v", p)
	}
	if !slices.Equal(p.LabelIDs, []string{"INBOX", "STARRED", "UNREAD"}) {
		t.Errorf("labels sent %q", p.LabelIDs)
	}

	// A Date header far from the received date, a sent folder, flags
	// Gmail cannot keep.
	res = appendMsg(t, tg, sent.Name, message("far", "Mon, 1 Feb 2016 08:00:00 +0000", "b"), received, `\Seen`, `\Answered`, `\Draft`, "$Label1")
	notes := strings.Join(res.Notes, "\n")
	for _, want := range []string{"SENT label cannot be set", "Date: header, 2016-02-01T08:00:00Z", "received date 2016-03-01T10:31:00Z"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes %q lack %q", notes, want)
		}
	}
	if !slices.Equal(res.DroppedFlags, []string{`\Answered`, `\Draft`, "$Label1"}) {
		t.Errorf("dropped %q", res.DroppedFlags)
	}
	m, _ = e.srv.Message(user, res.Ref)
	if slices.Contains(m.LabelIDs, "SENT") || slices.Contains(m.LabelIDs, "UNREAD") {
		t.Errorf("labels %q", m.LabelIDs)
	}

	// No Date header: Gmail dates it at the import.
	res = appendMsg(t, tg, "INBOX", message("nodate", "", "c"), received)
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "no valid Date: header") {
		t.Errorf("notes without Date: %q", res.Notes)
	}

	// Keyword labels when the settings say so.
	tk := e.target(t, user, map[string]any{"keyword_labels": true})
	res = appendMsg(t, tk, "INBOX", message("kw", "Tue, 1 Mar 2016 10:30:00 +0000", "d"), received, "$Label1", `\Seen`)
	if len(res.DroppedFlags) != 0 {
		t.Errorf("dropped with keyword labels: %q", res.DroppedFlags)
	}
	l, ok := e.srv.LabelByName(user, "Keywords/$Label1")
	m, _ = e.srv.Message(user, res.Ref)
	if !ok || !slices.Contains(m.LabelIDs, l.ID) {
		t.Errorf("keyword label %+v on %q", l, m.LabelIDs)
	}
}

// Small messages go in one multipart request, large ones resumable.
func TestUploadTypes(t *testing.T) {
	e := newEnv(t)
	user := e.user("upload")
	tg := e.target(t, user, map[string]any{"resumable_above": 262144})
	small := message("small", "Tue, 1 Mar 2016 10:30:00 +0000", "x")
	big := message("big", "Tue, 1 Mar 2016 10:30:00 +0000", strings.Repeat("0123456789abcdef\r\n", 40000)) // 720 kB: 3 chunks
	rs := appendMsg(t, tg, "INBOX", small, time.Time{})
	rb := appendMsg(t, tg, "INBOX", big, time.Time{})
	ms, _ := e.srv.Message(user, rs.Ref)
	mb, _ := e.srv.Message(user, rb.Ref)
	if ms.Params.UploadType != "multipart" || mb.Params.UploadType != "resumable" {
		t.Errorf("upload types %q, %q", ms.Params.UploadType, mb.Params.UploadType)
	}
	if !bytes.Equal(e.srv.RawMessage(user, rb.Ref), big) {
		t.Errorf("the resumable upload changed the bytes")
	}
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("read a body that is too large") }

func TestTooLarge(t *testing.T) {
	e := newEnv(t, gmailtest.WithMaxMessageSize(1000))
	tg := e.target(t, e.user("large"), nil)
	_, err := tg.Append(context.Background(), "INBOX", &connector.AppendMessage{Size: gmailconn.MaxMessageSize + 1, Body: failReader{}})
	if !errors.Is(err, connector.ErrTooLarge) {
		t.Fatalf("Append over 50 MiB: %v", err)
	}
	// Gmail's own refusal (413) is ErrTooLarge too.
	data := message("big", "Tue, 1 Mar 2016 10:30:00 +0000", strings.Repeat("x", 2000))
	_, err = tg.Append(context.Background(), "INBOX", &connector.AppendMessage{Size: int64(len(data)), Body: bytes.NewReader(data)})
	if !errors.Is(err, connector.ErrTooLarge) {
		t.Fatalf("Append refused by the server for its size: %v", err)
	}
}

// The same message in several folders is one Gmail message with several
// labels; identical copies in one folder stay copies.
func TestMergeAcrossFolders(t *testing.T) {
	e := newEnv(t)
	user := e.user("merge")
	tg := e.target(t, user, nil)
	ctx := context.Background()
	work, _ := tg.EnsureFolder(ctx, "Work", "")
	data := message("shared", "Tue, 1 Mar 2016 10:30:00 +0000", "in two folders")
	r1 := appendMsg(t, tg, "INBOX", data, time.Time{})
	r2 := appendMsg(t, tg, work.Name, data, time.Time{}, `\Seen`, `\Flagged`)
	if r1.Ref != r2.Ref {
		t.Fatalf("two Gmail messages %s, %s for one message in two folders", r1.Ref, r2.Ref)
	}
	if len(r2.Notes) != 1 || !strings.Contains(r2.Notes[0], "already imported from another folder") {
		t.Errorf("merge notes %q", r2.Notes)
	}
	m, _ := e.srv.Message(user, r1.Ref)
	l, _ := e.srv.LabelByName(user, "Work")
	if !slices.Contains(m.LabelIDs, "INBOX") || !slices.Contains(m.LabelIDs, l.ID) || !slices.Contains(m.LabelIDs, "STARRED") || slices.Contains(m.LabelIDs, "UNREAD") {
		t.Errorf("merged labels %q", m.LabelIDs)
	}
	// A second copy in the same folder is a second message.
	r3 := appendMsg(t, tg, "INBOX", data, time.Time{})
	if r3.Ref == r1.Ref || len(e.srv.Messages(user)) != 2 {
		t.Errorf("a second copy in INBOX was merged: %s", r3.Ref)
	}
	// Same Message-ID, other content: not merged.
	other := message("shared", "Tue, 1 Mar 2016 10:30:00 +0000", "other content")
	r4 := appendMsg(t, tg, work.Name, other, time.Time{})
	if r4.Ref == r1.Ref || r4.Ref == r3.Ref {
		t.Errorf("a different message with the same Message-ID was merged")
	}
}

// A connection reset after Gmail stored the message: Append fails in a
// way that does not prove a refusal, and Lookup (what the engine does
// before trying again) finds the message, so it is not imported twice.
func TestResetAfterCommitReconciles(t *testing.T) {
	for _, c := range []struct {
		name string
		id   string
	}{{"with Message-ID", "reset"}, {"without Message-ID", ""}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			user := e.user("reset")
			tg := e.target(t, user, nil)
			ctx := context.Background()
			f, err := tg.EnsureFolder(ctx, "Folder", "")
			if err != nil {
				t.Fatal(err)
			}
			appendMsg(t, tg, f.Name, message("before", "Tue, 1 Mar 2016 10:30:00 +0000", "earlier"), time.Time{})
			mid, _ := tg.EnsureFolder(ctx, "Folder", "")
			data := message(c.id, "Tue, 1 Mar 2016 10:30:00 +0000", "reset after commit")
			rule := e.srv.AddFault(gmailtest.ResetAfterCommit("messages.import"))
			_, err = tg.Append(ctx, f.Name, &connector.AppendMessage{Size: int64(len(data)), Body: bytes.NewReader(data)})
			if err == nil || !connector.IsTemporary(err) || rule.Fired() != 1 {
				t.Fatalf("Append with a reset after commit: %v (fired %d)", err, rule.Fired())
			}
			h := connector.HeaderSection(data)
			refs, err := tg.(connector.TargetLookup).Lookup(ctx, f.Name, &connector.LookupQuery{
				MessageID: connector.MessageIDOf(h), Fingerprint: connector.Fingerprint(int64(len(data)), h), Size: int64(len(data)), Since: mid.Watermark})
			if err != nil || len(refs) != 1 || !bytes.Equal(e.srv.RawMessage(user, refs[0]), data) {
				t.Fatalf("Lookup after the reset: %q, %v", refs, err)
			}
			if n := len(e.srv.Messages(user)); n != 2 {
				t.Fatalf("%d messages stored, want 2", n)
			}
		})
	}
}

// Rate-limit answers are retried with growing delays (at least the
// server's Retry-After) and the message is stored once; server errors
// of an import are not retried in the connector (it may have landed:
// the engine looks it up first); idempotent calls are retried until
// they give up.
func TestRetries(t *testing.T) {
	e := newEnv(t)
	e.clock.sleeps = make(chan time.Duration, 100)
	user := e.user("retry")
	tg := e.target(t, user, map[string]any{"max_retries": 4})
	ctx := context.Background()
	drain := func() []time.Duration {
		var out []time.Duration
		for {
			select {
			case d := <-e.clock.sleeps:
				out = append(out, d)
			default:
				return out
			}
		}
	}
	drain()

	f := gmailtest.TooManyRequests("messages.import", 7*time.Second)
	f.Times = 2
	e.srv.AddFault(f)
	res := appendMsg(t, tg, "INBOX", message("429", "Tue, 1 Mar 2016 10:30:00 +0000", "x"), time.Time{})
	if got := drain(); len(got) < 2 || got[len(got)-2] < 7*time.Second || got[len(got)-1] < 7*time.Second {
		t.Errorf("delays after 429 with Retry-After 7s: %v", got)
	}
	if len(e.srv.Messages(user)) != 1 || res.Ref == "" {
		t.Errorf("stored %d messages", len(e.srv.Messages(user)))
	}

	f = gmailtest.Fault{Op: "messages.import", Status: 403, Reason: "userRateLimitExceeded", Times: 3}
	e.srv.AddFault(f)
	appendMsg(t, tg, "INBOX", message("403", "Tue, 1 Mar 2016 10:30:00 +0000", "y"), time.Time{})
	if got := drain(); len(got) < 3 || !(got[len(got)-3] < got[len(got)-2] && got[len(got)-2] < got[len(got)-1]) {
		t.Errorf("delays after 403 userRateLimitExceeded are not growing: %v", got)
	}

	rule := e.srv.AddFault(gmailtest.BackendError("messages.import"))
	_, err := tg.Append(ctx, "INBOX", &connector.AppendMessage{Size: 10, Body: strings.NewReader("a: b\r\n\r\nc\r\n")})
	if !errors.Is(err, connector.ErrTemporary) || rule.Fired() != 1 || len(e.srv.RequestsFor("messages.import")) != 8 { // 3 + 4 before, this one not retried
		t.Errorf("503 on import: %v, fired %d, %d import requests", err, rule.Fired(), len(e.srv.RequestsFor("messages.import")))
	}

	f = gmailtest.BackendError("labels.list")
	f.Times = gmailtest.Always
	rule = e.srv.AddFault(f)
	_, err = tg.Folders(ctx)
	got := drain()
	if !errors.Is(err, connector.ErrTemporary) || rule.Fired() != 5 || len(got) != 4 {
		t.Fatalf("labels.list failing for good: %v, fired %d, delays %v", err, rule.Fired(), got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Errorf("delays not growing: %v", got)
		}
	}
	e.srv.ClearFaults()

	// A permanent refusal is not retried.
	e.srv.AddFault(gmailtest.Fault{Op: "messages.import", Status: 400, Reason: "invalidArgument", Message: "Invalid message"})
	n := len(e.srv.RequestsFor("messages.import"))
	_, err = tg.Append(ctx, "INBOX", &connector.AppendMessage{Size: 10, Body: strings.NewReader("a: b\r\n\r\nc\r\n")})
	if !errors.Is(err, connector.ErrPermanent) || len(e.srv.RequestsFor("messages.import")) != n+1 {
		t.Errorf("400 on import: %v, %d requests", err, len(e.srv.RequestsFor("messages.import"))-n)
	}
}

// The daily limit pauses the mailbox: a throttled error with a
// retry-after until Google's reset, and no further request until then.
func TestDailyLimit(t *testing.T) {
	e := newEnv(t, gmailtest.WithDailyLimit(60))
	user := e.user("daily")
	tg := e.target(t, user, nil)
	ctx := context.Background()
	data := message("", "Tue, 1 Mar 2016 10:30:00 +0000", "x")
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		_, err = tg.Append(ctx, "INBOX", &connector.AppendMessage{Size: int64(len(data)), Body: bytes.NewReader(data)})
	}
	if !errors.Is(err, connector.ErrThrottled) || connector.RetryAfter(err) < time.Hour {
		t.Fatalf("over the daily limit: %v (retry after %v)", err, connector.RetryAfter(err))
	}
	n := len(e.srv.Requests())
	_, err = tg.Append(ctx, "INBOX", &connector.AppendMessage{Size: int64(len(data)), Body: bytes.NewReader(data)})
	if !errors.Is(err, connector.ErrThrottled) || len(e.srv.Requests()) != n {
		t.Fatalf("during the pause: %v, %d requests", err, len(e.srv.Requests())-n)
	}
	e.clock.Sleep(ctx, connector.RetryAfter(err))
	appendMsg(t, tg, "INBOX", data, time.Time{})
}

// A storm of imports at the quota ceiling never provokes a rate-limit
// answer: the limiter keeps the pace under Google's 15,000 units a
// minute per user (the emulator counts on the same virtual clock).
func TestQuotaStorm(t *testing.T) {
	e := newEnv(t)
	user := e.user("storm")
	tg := e.target(t, user, nil)
	const n = 800 // 800 × (25 + 5) units: twice the bucket
	start := e.clock.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				data := message(fmt.Sprintf("storm%d", i), "Tue, 1 Mar 2016 10:30:00 +0000", "x")
				if _, err := tg.Append(context.Background(), "INBOX", &connector.AppendMessage{Size: int64(len(data)), Body: bytes.NewReader(data)}); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, r := range e.srv.Requests() {
		if r.Status == 403 || r.Status == 429 {
			t.Fatalf("a request was rate limited: %+v", r)
		}
	}
	if got := len(e.srv.Messages(user)); got != n {
		t.Fatalf("%d messages stored, want %d", got, n)
	}
	// 24,000 units at most 15,000 a minute: at least half a minute of
	// (virtual) pacing after the burst the emulator's bucket allows.
	if el := e.clock.Now().Sub(start); el < 30*time.Second {
		t.Errorf("the storm took %v of quota time", el)
	}
}
