package gmailtest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"

	"github.com/ternmail/tern/plugins/gmail/gmailtest"
)

// Every upload shape stores the exact bytes (§5 cross-cutting, §5.1.1).
func TestUploadTypesStoreExactBytes(t *testing.T) {
	srv, _ := fixture(t)
	h := newRaw(t, srv, alice)
	raw := rawMessage("exact@example.net", "Wed, 04 Jan 2006 08:00:00 +0100")
	check := func(name string, r response) {
		t.Helper()
		if r.code != 200 {
			t.Fatalf("%s: %d %s", name, r.code, r.body)
		}
		id, _ := r.json(t)["id"].(string)
		if sha256.Sum256(srv.RawMessage(alice, id)) != sha256.Sum256(raw) {
			t.Fatalf("%s: stored bytes differ", name)
		}
	}
	check("multipart", h.importMultipart(alice, "", labelJSON("INBOX"), raw))
	check("media", h.do("POST", "/upload/gmail/v1/users/me/messages/import?uploadType=media", raw, "Content-Type", "message/rfc822"))
	check("json raw", h.do("POST", "/gmail/v1/users/me/messages/import", []byte(`{"raw":"`+base64.RawURLEncoding.EncodeToString(raw)+`"}`), "Content-Type", "application/json"))
	check("insert multipart", func() response {
		body, ct := multipartBody(t, `{}`, "message/rfc822", raw)
		return h.do("POST", "/upload/gmail/v1/users/me/messages?uploadType=multipart", body, "Content-Type", ct)
	}())

	// Resumable by hand: the session, a 256 KiB chunk (308 + Range), the status query, the last chunk.
	big := append(rawMessage("big@example.net", "Wed, 04 Jan 2006 08:00:00 +0100"), bytes.Repeat([]byte("0123456789abcde\n"), 20000)...)
	r := h.do("POST", "/upload/gmail/v1/users/me/messages/import?uploadType=resumable&neverMarkSpam=true", []byte(labelJSON("STARRED")),
		"Content-Type", "application/json", "X-Upload-Content-Type", "message/rfc822", "X-Upload-Content-Length", fmt.Sprint(len(big)))
	loc := r.header.Get("Location")
	if r.code != 200 || !strings.Contains(loc, "upload_id=") {
		t.Fatalf("session: %d %v", r.code, r.header)
	}
	const chunk = 256 * 1024
	r = h.do("PUT", loc, big[:chunk], "Content-Range", fmt.Sprintf("bytes 0-%d/*", chunk-1))
	if r.code != 308 || r.header.Get("Range") != fmt.Sprintf("bytes=0-%d", chunk-1) {
		t.Fatalf("first chunk: %d %v", r.code, r.header)
	}
	r = h.do("PUT", loc, nil, "Content-Range", "bytes */*")
	if r.code != 308 || r.header.Get("Range") != fmt.Sprintf("bytes=0-%d", chunk-1) {
		t.Fatalf("status query: %d %v", r.code, r.header)
	}
	// A chunk that is not a multiple of 256 KiB (and not the last) is refused.
	wantError(t, h.do("PUT", loc, big[chunk:chunk+1000], "Content-Range", fmt.Sprintf("bytes %d-%d/*", chunk, chunk+999)), 400, "badRequest", "")
	// The Go client's variant: X-GUploader-No-308 turns 308 into 200 + X-HTTP-Status-Code-Override.
	r = h.do("POST", loc, big[:chunk], "Content-Range", fmt.Sprintf("bytes 0-%d/*", chunk-1), "X-GUploader-No-308", "yes")
	if r.code != 200 || r.header.Get("X-Http-Status-Code-Override") != "308" {
		t.Fatalf("resent first chunk with No-308: %d %v", r.code, r.header)
	}
	r = h.do("PUT", loc, big[chunk:], "Content-Range", fmt.Sprintf("bytes %d-%d/%d", chunk, len(big)-1, len(big)))
	if r.code != 200 {
		t.Fatalf("last chunk: %d %s", r.code, r.body)
	}
	m := r.json(t)
	if !bytes.Equal(srv.RawMessage(alice, m["id"].(string)), big) {
		t.Fatal("resumable: stored bytes differ")
	}
	if stored, _ := srv.Message(alice, m["id"].(string)); stored.Params.UploadType != "resumable" || !stored.Params.NeverMarkSpam || stored.LabelIDs[0] != "STARRED" {
		t.Fatalf("resumable: %+v", stored)
	}
	// The session is gone once complete.
	wantError(t, h.do("PUT", loc, nil, "Content-Range", "bytes */*"), 404, "notFound", "")
}

func TestUploadRefusals(t *testing.T) {
	srv, _ := fixture(t)
	h := newRaw(t, srv, alice)
	raw := rawMessage("r@example.net", "")
	enc := func(s string) []byte { return []byte(`{"raw":"` + s + `"}`) }
	jsonImport := func(body []byte) response {
		return h.do("POST", "/gmail/v1/users/me/messages/import", body, "Content-Type", "application/json")
	}
	// raw must be base64url without padding: '+', '/' and '=' are refused (§5.1.1).
	std := []byte("subject: ??>>\r\n\r\n?")
	if s := base64.StdEncoding.EncodeToString(std); !strings.ContainsAny(s, "+/") {
		t.Fatalf("fixture %q has no + or /", s)
	}
	wantError(t, jsonImport(enc(base64.StdEncoding.EncodeToString(std))), 400, "invalidArgument", "")
	wantError(t, jsonImport(enc(base64.URLEncoding.EncodeToString([]byte("Subject: x\r\n\r\n")))), 400, "invalidArgument", "")
	wantError(t, jsonImport([]byte(`{"labelIds":["INBOX"]}`)), 400, "badRequest", "")
	// Media must be message/*.
	wantError(t, h.do("POST", "/upload/gmail/v1/users/me/messages/import?uploadType=media", raw, "Content-Type", "text/plain"), 400, "badRequest", "Media type 'text/plain' is not supported. Valid media types: [message/*]")
	body, ct := multipartBody(t, `{}`, "application/octet-stream", raw)
	wantError(t, h.do("POST", "/upload/gmail/v1/users/me/messages/import?uploadType=multipart", body, "Content-Type", ct), 400, "badRequest", "")
	wantError(t, h.do("POST", "/upload/gmail/v1/users/me/messages/import?uploadType=resumable", nil, "X-Upload-Content-Type", "image/png"), 400, "badRequest", "")
	// An upload path needs an uploadType.
	wantError(t, h.do("POST", "/upload/gmail/v1/users/me/messages/import", raw, "Content-Type", "message/rfc822"), 400, "badRequest", "")
	// internalDateSource is an enum.
	wantError(t, h.importMultipart(alice, "&internalDateSource=now", `{}`, raw), 400, "badRequest", "")
	// Labels: unknown ids, SENT and DRAFT are refused (§1.3, §5.1.4).
	for _, l := range []string{"Label_99", "SENT", "DRAFT", "inbox"} {
		wantError(t, h.importMultipart(alice, "", labelJSON("INBOX", l), raw), 400, "invalidArgument", "Invalid label: "+l)
	}
	if n := len(srv.Messages(alice)); n != 0 {
		t.Fatalf("%d messages stored by refused requests", n)
	}
}

// The size limit: 52,428,800 bytes of media; one more → 413 with Google's error body (§1.2, §5.1.2).
func TestSizeLimit(t *testing.T) {
	srv, _ := fixture(t)
	h := newRaw(t, srv, alice)
	over := make([]byte, gmailtest.MaxMessageSize+1)
	copy(over, "Subject: big\r\n\r\n")
	r := h.do("POST", "/upload/gmail/v1/users/me/messages/import?uploadType=media", over, "Content-Type", "message/rfc822")
	wantError(t, r, 413, "uploadTooLarge", "Media larger than the maximum size of 52428800 bytes")
	over = nil
	// A resumable session that declares too much is refused at once.
	wantError(t, h.do("POST", "/upload/gmail/v1/users/me/messages/import?uploadType=resumable", nil,
		"X-Upload-Content-Type", "message/rfc822", "X-Upload-Content-Length", fmt.Sprint(gmailtest.MaxMessageSize+1)), 413, "uploadTooLarge", "")
	if n := len(srv.Messages(alice)); n != 0 {
		t.Fatalf("%d messages stored", n)
	}

	// At the limit, and one byte over, with a small limit: multipart, JSON raw, and the Go client's resumable upload.
	small, sa := fixture(t, gmailtest.WithMaxMessageSize(300*1024))
	hs := newRaw(t, small, alice)
	at := append(rawMessage("at@example.net", ""), bytes.Repeat([]byte("x"), 300*1024)...)[:300*1024]
	if r := hs.importMultipart(alice, "", `{}`, at); r.code != 200 {
		t.Fatalf("at the limit: %d %s", r.code, r.body)
	}
	wantError(t, hs.importMultipart(alice, "", `{}`, append(at, 'y')), 413, "uploadTooLarge", "")
	wantError(t, hs.do("POST", "/gmail/v1/users/me/messages/import", []byte(`{"raw":"`+base64.RawURLEncoding.EncodeToString(append(at, 'y'))+`"}`)), 413, "uploadTooLarge", "")
	svc := gmailService(t, small, sa, alice)
	_, err := svc.Users.Messages.Import(alice, &gmail.Message{}).
		Media(bytes.NewReader(append(at, 'y')), googleapi.ContentType("message/rfc822"), googleapi.ChunkSize(256*1024)).Context(context.Background()).Do()
	if ge := apiErr(t, err); ge.Code != 413 {
		t.Fatalf("go client resumable over the limit: %v", err)
	}
	if n := len(small.Messages(alice)); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
}

// internalDateSource: import defaults to dateHeader, insert to receivedTime; a missing or unparseable Date:
// falls back to the clock (§1.2, §1.9, §5.1.3).
func TestInternalDateSource(t *testing.T) {
	srv, _ := fixture(t)
	h := newRaw(t, srv, alice)
	now := srv.Clock().Now()
	header := time.Date(2006, 1, 2, 22, 4, 5, 0, time.UTC)
	dated := rawMessage("d@example.net", "Mon, 02 Jan 2006 15:04:05 -0700")
	insert := func(query string, raw []byte) response {
		body, ct := multipartBody(t, `{}`, "message/rfc822", raw)
		return h.do("POST", "/upload/gmail/v1/users/me/messages?uploadType=multipart"+query, body, "Content-Type", ct)
	}
	for _, tc := range []struct {
		name     string
		r        response
		want     time.Time
		fallback bool
	}{
		{"import default", h.importMultipart(alice, "", `{}`, dated), header, false},
		{"import dateHeader", h.importMultipart(alice, "&internalDateSource=dateHeader", `{}`, dated), header, false},
		{"import receivedTime", h.importMultipart(alice, "&internalDateSource=receivedTime", `{}`, dated), now, false},
		{"import no Date", h.importMultipart(alice, "", `{}`, rawMessage("n@example.net", "")), now, true},
		{"import bad Date", h.importMultipart(alice, "", `{}`, rawMessage("b@example.net", "yesterday at noon")), now, true},
		{"insert default", insert("", dated), now, false},
		{"insert dateHeader", insert("&internalDateSource=dateHeader", dated), header, false},
	} {
		m := tc.r.json(t)
		want := fmt.Sprint(tc.want.UnixMilli())
		if tc.r.code != 200 || m["internalDate"] != want {
			t.Errorf("%s: internalDate %v, want %s (%d %s)", tc.name, m["internalDate"], want, tc.r.code, tc.r.body)
			continue
		}
		if got, _ := srv.Message(alice, m["id"].(string)); got.DateFallback != tc.fallback {
			t.Errorf("%s: DateFallback = %v", tc.name, got.DateFallback)
		}
		srv.Advance(time.Minute)
		now = srv.Clock().Now()
	}
}

// Insert adds SENT when From: is the user; import applies only the given labels, plus SPAM from classification
// unless neverMarkSpam (§1.3, §5.1.5).
func TestClassificationAndSent(t *testing.T) {
	srv, _ := fixture(t, gmailtest.WithSpamMarker("X-Spam-Fixture: yes"))
	h := newRaw(t, srv, alice)
	labelsOf := func(r response) string {
		t.Helper()
		if r.code != 200 {
			t.Fatalf("%d %s", r.code, r.body)
		}
		m, _ := srv.Message(alice, r.json(t)["id"].(string))
		return strings.Join(m.LabelIDs, ",")
	}
	own := []byte("From: Alice <ALICE@example.com>\r\nSubject: mine\r\n\r\nhi\r\n")
	body, ct := multipartBody(t, labelJSON("INBOX"), "message/rfc822", own)
	if got := labelsOf(h.do("POST", "/upload/gmail/v1/users/me/messages?uploadType=multipart", body, "Content-Type", ct)); got != "INBOX,SENT" {
		t.Errorf("insert from the user: %s", got)
	}
	if got := labelsOf(h.importMultipart(alice, "", labelJSON("INBOX"), own)); got != "INBOX" {
		t.Errorf("import from the user: %s", got)
	}
	spam := rawMessage("s@example.net", "", "X-Spam-Fixture: yes")
	if got := labelsOf(h.importMultipart(alice, "", labelJSON("INBOX", "UNREAD"), spam)); got != "UNREAD,SPAM" {
		t.Errorf("import of spam: %s", got)
	}
	if got := labelsOf(h.importMultipart(alice, "&neverMarkSpam=true", labelJSON("INBOX", "UNREAD"), spam)); got != "INBOX,UNREAD" {
		t.Errorf("import of spam with neverMarkSpam: %s", got)
	}
	if got := labelsOf(h.importMultipart(alice, "", `{}`, rawMessage("plain@example.net", ""))); got != "" {
		t.Errorf("import without labels: %q", got)
	}
	body, ct = multipartBody(t, labelJSON("INBOX"), "message/rfc822", spam)
	if got := labelsOf(h.do("POST", "/upload/gmail/v1/users/me/messages?uploadType=multipart", body, "Content-Type", ct)); got != "INBOX" {
		t.Errorf("insert of spam (no classification): %s", got)
	}
}
