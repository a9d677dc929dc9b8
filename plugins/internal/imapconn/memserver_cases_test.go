package imapconn_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

var testMessage = []byte("From: a@example.org\r\nTo: b@example.org\r\nSubject: test\r\nMessage-ID: <m1@example.org>\r\n\r\nHello.\r\n")

func appendMsg(t *testing.T, tgt connector.Target, folder string, data []byte, flags ...string) *connector.AppendResult {
	t.Helper()
	res, err := tgt.Append(ctxFor(t), folder, &connector.AppendMessage{
		Size: int64(len(data)), Body: bytes.NewReader(data), InternalDate: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), Flags: flags,
	})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

// A folder whose PERMANENTFLAGS lack \* keeps system flags only: keywords
// are not sent, and Append and SetFlags report them dropped.
func TestPermanentFlagsWithoutWildcard(t *testing.T) {
	ms := newMemServer(t, nil)
	ms.permanentFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft, "$Known"}
	rec, log := newWireRecorder(connector.LevelTrace)
	tgt, err := imapconn.New(nil, log).OpenTarget(ctxFor(t), ms.request(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(ctxFor(t))

	res := appendMsg(t, tgt, "INBOX", testMessage, `\Seen`, "$Label1", "$Known", "custom", `\Recent`, `\Flagged`)
	if want := []string{"$Label1", `\Recent`, "custom"}; !slices.Equal(sorted(res.DroppedFlags), want) {
		t.Errorf("DroppedFlags = %q, want %q", res.DroppedFlags, want)
	}
	for _, c := range rec.commands("target", 0) {
		if strings.HasPrefix(c, "APPEND") && (strings.Contains(c, "Label1") || strings.Contains(c, "custom") || strings.Contains(c, "Recent")) {
			t.Errorf("APPEND sent refused flags: %s", c)
		}
	}
	raw := ms.client(t)
	if _, err := raw.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := raw.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v, %d messages", err, len(msgs))
	}
	if f := msgs[0].Flags; !hasFlag(f, `\Seen`) || !hasFlag(f, `\Flagged`) || !hasFlag(f, "$Known") || hasFlag(f, "$Label1") || hasFlag(f, "custom") {
		t.Errorf("stored flags %q", f)
	}

	fs := tgt.(connector.TargetFlagSync)
	sres, err := fs.SetFlags(ctxFor(t), "INBOX", res.Ref, []string{`\Answered`, "$Forwarded"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sres.DroppedFlags, []string{"$Forwarded"}) {
		t.Errorf("SetFlags DroppedFlags = %q", sres.DroppedFlags)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Without CONDSTORE a delta listing cannot tell which flags changed: it
// lists every older message as FlagsOnly, and the new ones in full.
func TestDeltaWithoutCondstore(t *testing.T) {
	ms := newMemServer(t, nil)
	c := imapconn.New(nil, testLogger())
	tgt, err := c.OpenTarget(ctxFor(t), ms.request(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(ctxFor(t))
	src, err := c.OpenSource(ctxFor(t), ms.request(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctxFor(t))
	for i := 0; i < 3; i++ {
		appendMsg(t, tgt, "INBOX", testMessage, `\Seen`)
	}
	first := list(t, src, "INBOX", nil)
	if len(first.msgs) != 3 {
		t.Fatalf("first listing: %d messages", len(first.msgs))
	}
	appendMsg(t, tgt, "INBOX", testMessage)
	delta := list(t, src, "INBOX", first.res.Checkpoint)
	var flagsOnly, full int
	for _, m := range delta.msgs {
		if m.FlagsOnly {
			flagsOnly++
			if !slices.Equal(m.Flags, []string{`\Seen`}) {
				t.Errorf("FlagsOnly %s has flags %q", m.ID, m.Flags)
			}
		} else {
			full++
		}
	}
	if flagsOnly != 3 || full != 1 {
		t.Errorf("delta without CONDSTORE: %d flags-only, %d full; want 3 and 1", flagsOnly, full)
	}
}

// APPENDLIMIT is checked before the body is read; a TOOBIG refusal is
// ErrTooLarge too.
func TestAppendLimit(t *testing.T) {
	ms := newMemServerLimit(t, nil, 1000)
	tgt, err := imapconn.New(nil, testLogger()).OpenTarget(ctxFor(t), ms.request(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(ctxFor(t))
	_, err = tgt.Append(ctxFor(t), "INBOX", &connector.AppendMessage{Size: 2000, Body: failReader{t}})
	if !errors.Is(err, connector.ErrTooLarge) {
		t.Fatalf("Append over APPENDLIMIT: %v, want ErrTooLarge", err)
	}
	ms.mu.Lock()
	ms.appendErr = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too large"}
	ms.mu.Unlock()
	_, err = tgt.Append(ctxFor(t), "INBOX", &connector.AppendMessage{Size: int64(len(testMessage)), Body: bytes.NewReader(testMessage)})
	if !errors.Is(err, connector.ErrTooLarge) || !strings.Contains(err.Error(), "Message too large") {
		t.Fatalf("Append refused with TOOBIG: %v, want ErrTooLarge with the server's text", err)
	}
}

type failReader struct{ t *testing.T }

func (r failReader) Read([]byte) (int, error) {
	r.t.Error("body read although the message is over the limit")
	return 0, errors.New("must not be read")
}

// Microsoft 365's "Suggested Backoff Time" becomes ErrThrottled with the
// hint, and the session goes on.
func TestThrottled(t *testing.T) {
	ms := newMemServer(t, nil)
	tgt, err := imapconn.New(nil, testLogger()).OpenTarget(ctxFor(t), ms.request(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(ctxFor(t))
	ms.mu.Lock()
	ms.appendErr = &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Request is throttled. Suggested Backoff Time: 1500 milliseconds"}
	ms.mu.Unlock()
	_, err = tgt.Append(ctxFor(t), "INBOX", &connector.AppendMessage{Size: int64(len(testMessage)), Body: bytes.NewReader(testMessage)})
	if !errors.Is(err, connector.ErrThrottled) || connector.RetryAfter(err) != 1500*time.Millisecond {
		t.Fatalf("throttled Append: %v (retry after %v), want ErrThrottled after 1.5s", err, connector.RetryAfter(err))
	}
	ms.mu.Lock()
	ms.appendErr = nil
	ms.mu.Unlock()
	appendMsg(t, tgt, "INBOX", testMessage)
}
