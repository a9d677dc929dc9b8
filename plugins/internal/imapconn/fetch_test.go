package imapconn_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

// Reading a source never changes it: folders are opened with EXAMINE,
// bodies fetched with BODY.PEEK[], so unread mail stays unread.
func TestFetchLeavesMailUnread(t *testing.T) {
	rec, log := newWireRecorder(connector.LevelTrace)
	req := request(t, testserver.DovecotSrc, "implicit", nil)
	raw := rawClient(t, testserver.DovecotSrc, req.User)
	for i := 0; i < 3; i++ {
		if _, err := appendRaw(raw, "INBOX", testMessage, nil); err != nil {
			t.Fatal(err)
		}
	}
	src, err := openSource(t, imapconn.New(nil, log), req)
	if err != nil {
		t.Fatal(err)
	}
	l := list(t, src, "INBOX", nil)
	for _, m := range l.msgs {
		if slices.Contains(m.Flags, `\Seen`) {
			t.Fatalf("message %s seen before the test", m.ID)
		}
		b, err := src.Fetch(ctxFor(t), "INBOX", m.ID)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(b)
		b.Close()
		if err != nil || !bytes.Equal(data, testMessage) {
			t.Fatalf("Fetch %s: %v, %q", m.ID, err, data)
		}
	}
	if _, err := raw.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := raw.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if hasFlag(m.Flags, `\Seen`) {
			t.Errorf("message %d is \\Seen after Fetch", m.SeqNum)
		}
	}
	for _, cmd := range rec.commands("source", 0) {
		if strings.HasPrefix(cmd, "SELECT") || (strings.Contains(cmd, "FETCH") && strings.Contains(cmd, "BODY[")) {
			t.Errorf("source sent %q", cmd)
		}
	}
}

func appendRaw(raw *imapclient.Client, folder string, data []byte, opts *imap.AppendOptions) (*imap.AppendData, error) {
	cmd := raw.Append(folder, int64(len(data)), opts)
	cmd.Write(data)
	cmd.Close()
	return cmd.Wait()
}

// Flags, keywords and INTERNALDATE (with its zone) survive an append;
// \Recent is never sent and is reported dropped.
func TestAppendKeepsFlagsAndDate(t *testing.T) {
	req := request(t, testserver.DovecotDst, "starttls", nil)
	tgt, err := imapconn.New(nil, testLogger()).OpenTarget(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(ctxFor(t))
	date := time.Date(2011, 11, 11, 11, 11, 11, 0, time.FixedZone("", 5*3600+1800))
	res, err := tgt.Append(ctxFor(t), "INBOX", &connector.AppendMessage{
		Size: int64(len(testMessage)), Body: bytes.NewReader(testMessage), InternalDate: date,
		Flags: []string{`\Flagged`, `\answered`, "$Forwarded", "NonJunk", "custom_kw", `\Recent`, `\Seen`, `\Seen`, "bad kw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`\Recent`, "bad kw"}; !slices.Equal(sorted(res.DroppedFlags), want) {
		t.Errorf("DroppedFlags = %q, want %q", res.DroppedFlags, want)
	}
	if res.Ref == "" {
		t.Error("no Ref although Dovecot has UIDPLUS")
	}
	raw := rawClient(t, testserver.DovecotDst, req.User)
	if _, err := raw.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := raw.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, InternalDate: true, UID: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v, %d messages", err, len(msgs))
	}
	m := msgs[0]
	for _, f := range []string{`\Flagged`, `\Answered`, "$Forwarded", "NonJunk", "custom_kw", `\Seen`} {
		if !hasFlag(m.Flags, f) {
			t.Errorf("stored flags %q lack %q", m.Flags, f)
		}
	}
	if !m.InternalDate.Equal(date) {
		t.Errorf("INTERNALDATE %v, want %v", m.InternalDate, date)
	}
	if res.Ref != itoa(int(m.UID)) {
		t.Errorf("Ref %q, UID %d", res.Ref, m.UID)
	}
}

// A cancelled context interrupts a body being streamed; the session goes
// on with the next call.
func TestCancelMidFetch(t *testing.T) {
	req := request(t, testserver.DovecotSrc, "implicit", map[string]any{"max_connections": 1})
	c := imapconn.New(nil, testLogger())
	tgt, err := c.OpenTarget(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(ctxFor(t))
	big := bigMessage(4 << 20)
	res := appendMsg(t, tgt, "INBOX", big)
	src, err := openSource(t, c, req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxFor(t))
	b, err := src.Fetch(ctx, "INBOX", res.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(b, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = io.Copy(io.Discard, b)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v, want context.Canceled", err)
	}
	b.Close()
	// With one connection allowed, this proves it was given back (and
	// replaced).
	data := fetchBytes(t, src, "INBOX", res.Ref)
	if !bytes.Equal(data, big) {
		t.Fatal("message differs after a cancelled fetch")
	}
}

func fetchBytes(t *testing.T, src connector.Source, folder, id string) []byte {
	t.Helper()
	b, err := src.Fetch(ctxFor(t), folder, id)
	if err != nil {
		t.Fatalf("Fetch(%q, %s): %v", folder, id, err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("Fetch(%q, %s): read: %v", folder, id, err)
	}
	if int64(len(data)) != b.Size() {
		t.Fatalf("Fetch(%q, %s): %d bytes, Size %d", folder, id, len(data), b.Size())
	}
	return data
}

// bigMessage returns a valid message of exactly size bytes.
func bigMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: big@example.org\r\nSubject: big\r\nMessage-ID: <big@example.org>\r\n\r\n")
	line := []byte(strings.Repeat("0123456789abcdef", 4) + "\r\n")
	for i := 0; b.Len()+len(line) <= size-2; i++ {
		line[0] = "0123456789"[i%10]
		b.Write(line)
	}
	for b.Len() < size-2 {
		b.WriteByte('x')
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// A session fetches in parallel over max_connections connections, each
// body holding its own until Close; one more waits for a free one.
func TestParallelFetches(t *testing.T) {
	req := request(t, testserver.DovecotDst, "implicit", map[string]any{"max_connections": 3})
	rec, log := newWireRecorder(connector.LevelTrace)
	c := imapconn.New(nil, log)
	tgt, err := c.OpenTarget(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(ctxFor(t))
	var refs []string
	for i := 0; i < 4; i++ {
		refs = append(refs, appendMsg(t, tgt, "INBOX", bigMessage(1<<20+i)).Ref)
	}
	src, err := openSource(t, c, req)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []connector.Body
	for _, ref := range refs[:3] {
		b, err := src.Fetch(ctxFor(t), "INBOX", ref)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	ctx, cancel := context.WithTimeout(ctxFor(t), 200*time.Millisecond)
	defer cancel()
	if _, err := src.Fetch(ctx, "INBOX", refs[3]); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fourth fetch with 3 connections busy: %v, want to wait", err)
	}
	for i, b := range bodies {
		data, err := io.ReadAll(b)
		if err != nil || !bytes.Equal(data, bigMessage(1<<20+i)) {
			t.Fatalf("body %d: %v", i, err)
		}
		b.Close()
	}
	if data := fetchBytes(t, src, "INBOX", refs[3]); !bytes.Equal(data, bigMessage(1<<20+3)) {
		t.Fatal("fourth body differs")
	}
	conns := map[string]bool{}
	rec.mu.Lock()
	for _, l := range rec.lines {
		if l.role == "source" {
			conns[l.conn] = true
		}
	}
	rec.mu.Unlock()
	if len(conns) != 3 {
		t.Errorf("source used %d connections, want 3", len(conns))
	}
}
