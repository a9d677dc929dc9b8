package gmailtest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/ternmail/tern/plugins/gmail/gmailtest"
)

const alice = "alice@example.com"

// fixture is a server with two users, an admin, a suspended user and a service account delegated for example.com.
func fixture(t *testing.T, opts ...gmailtest.Option) (*gmailtest.Server, *gmailtest.ServiceAccount) {
	t.Helper()
	srv := gmailtest.New(t, opts...)
	srv.AddUser(alice)
	srv.AddUser("bob@example.com")
	srv.AddUser("admin@example.com", gmailtest.Admin())
	srv.AddUser("gone@example.com", gmailtest.Suspended())
	srv.AddUser("eve@other.org")
	sa := srv.AddServiceAccount(gmailtest.ServiceAccountConfig{Domains: []string{"example.com"}})
	return srv, sa
}

// gmailService is what the connector builds: a JWT config from the key JSON, the subject, the emulator endpoint.
func gmailService(t *testing.T, srv *gmailtest.Server, sa *gmailtest.ServiceAccount, subject string, scopes ...string) *gmail.Service {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{gmailtest.ScopeGmailInsert, gmailtest.ScopeGmailLabels, gmailtest.ScopeGmailReadonly}
	}
	ctx := context.Background()
	cfg := sa.JWTConfig(subject, scopes...)
	svc, err := gmail.NewService(ctx, option.WithEndpoint(srv.Endpoint()), option.WithHTTPClient(cfg.Client(ctx)))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func rawMessage(msgID, date string, extra ...string) []byte {
	var b bytes.Buffer
	b.WriteString("From: Carol <carol@example.net>\r\nTo: alice@example.com\r\nSubject: hello\r\n")
	if date != "" {
		b.WriteString("Date: " + date + "\r\n")
	}
	if msgID != "" {
		b.WriteString("Message-ID: <" + msgID + ">\r\n")
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString("Caf\xe9 au lait,\r\nbare LF follows\n\x00NUL and trailing spaces   \r\n")
	return b.Bytes()
}

func apiErr(t *testing.T, err error) *googleapi.Error {
	t.Helper()
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		t.Fatalf("want a *googleapi.Error, got %v", err)
	}
	return ge
}

func TestGoClientImportListGet(t *testing.T) {
	srv, sa := fixture(t)
	svc := gmailService(t, srv, sa, alice)
	raw := rawMessage("m1@example.net", "Mon, 02 Jan 2006 15:04:05 -0700")

	lbl, err := svc.Users.Labels.Create("me", &gmail.Label{Name: "Projects/2019"}).Do()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := svc.Users.Messages.Import("me", &gmail.Message{LabelIds: []string{lbl.Id, "UNREAD"}}).
		Media(bytes.NewReader(raw), googleapi.ContentType("message/rfc822")).
		InternalDateSource("dateHeader").NeverMarkSpam(true).ProcessForCalendar(false).Do()
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.RawMessage(alice, msg.Id); sha256.Sum256(got) != sha256.Sum256(raw) {
		t.Fatalf("stored bytes differ:\n%q\n%q", got, raw)
	}
	want := time.Date(2006, 1, 2, 22, 4, 5, 0, time.UTC).UnixMilli()
	if msg.InternalDate != want {
		t.Errorf("internalDate = %d, want %d", msg.InternalDate, want)
	}
	stored, _ := srv.Message(alice, msg.Id)
	if stored.Params.UploadType != "multipart" || !stored.Params.NeverMarkSpam || stored.Params.InternalDateSource != "dateHeader" {
		t.Errorf("params = %+v", stored.Params)
	}

	list, err := svc.Users.Messages.List("me").Q("rfc822msgid:<m1@example.net>").Do()
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Messages) != 1 || list.Messages[0].Id != msg.Id || list.ResultSizeEstimate != 1 {
		t.Fatalf("list = %+v", list)
	}
	if list, _ := svc.Users.Messages.List("me").Q("rfc822msgid:other@example.net").Do(); len(list.Messages) != 0 {
		t.Fatalf("list for another id = %+v", list.Messages)
	}
	got, err := svc.Users.Messages.Get("me", msg.Id).Format("raw").Do()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := base64URLDecode(got.Raw)
	if err != nil || !bytes.Equal(dec, raw) {
		t.Fatalf("raw round trip: %v", err)
	}
	if !strings.Contains(strings.Join(got.LabelIds, ","), lbl.Id) || got.InternalDate != want {
		t.Errorf("get = %+v", got)
	}
}

func TestGoClientResumableChunks(t *testing.T) {
	srv, sa := fixture(t)
	svc := gmailService(t, srv, sa, alice)
	raw := rawMessage("big@example.net", "Tue, 03 Jan 2006 10:00:00 +0000", "X-Pad: "+strings.Repeat("x", 700*1024))
	msg, err := svc.Users.Messages.Import(alice, &gmail.Message{LabelIds: []string{"INBOX"}}).
		Media(bytes.NewReader(raw), googleapi.ContentType("message/rfc822"), googleapi.ChunkSize(256*1024)).Do()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(srv.RawMessage(alice, msg.Id), raw) {
		t.Fatal("stored bytes differ")
	}
	var chunks int
	for _, r := range srv.Requests() {
		if r.Op == "upload" {
			chunks++
		}
	}
	if chunks != 3 { // 256 KiB + 256 KiB + rest
		t.Errorf("chunks = %d, want 3", chunks)
	}
	if m, _ := srv.Message(alice, msg.Id); m.Params.UploadType != "resumable" {
		t.Errorf("upload type %q", m.Params.UploadType)
	}
}

func TestGoClientMediaTypeMustBeMessage(t *testing.T) {
	srv, sa := fixture(t)
	svc := gmailService(t, srv, sa, alice)
	// Without googleapi.ContentType the client sniffs "text/plain; charset=utf-8".
	_, err := svc.Users.Messages.Import(alice, &gmail.Message{}).Media(strings.NewReader("Subject: x\r\n\r\nbody\r\n")).Do()
	if ge := apiErr(t, err); ge.Code != http.StatusBadRequest || !strings.Contains(ge.Message, "message/*") {
		t.Fatalf("got %v", err)
	}
	if n := len(srv.Messages(alice)); n != 0 {
		t.Fatalf("%d messages stored", n)
	}
}
