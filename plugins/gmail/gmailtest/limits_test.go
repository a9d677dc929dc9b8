package gmailtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/ternmail/tern/plugins/gmail/gmailtest"
)

// Directory users.list: paging, suspended users listed with the flag, an admin subject, its own scope (§1.8).
func TestDirectory(t *testing.T) {
	srv, sa := fixture(t)
	ctx := context.Background()
	dir := func(subject string, scopes ...string) *admin.Service {
		svc, err := admin.NewService(ctx, option.WithEndpoint(srv.Endpoint()), option.WithHTTPClient(sa.JWTConfig(subject, scopes...).Client(ctx)))
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	svc := dir("admin@example.com", gmailtest.ScopeDirectoryUserReadonly)
	var emails []string
	suspended := map[string]bool{}
	pages := 0
	err := svc.Users.List().Customer("my_customer").MaxResults(2).Pages(ctx, func(p *admin.Users) error {
		pages++
		for _, u := range p.Users {
			emails = append(emails, u.PrimaryEmail)
			suspended[u.PrimaryEmail] = u.Suspended
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages != 3 || len(emails) != 5 || emails[0] != "admin@example.com" || !suspended["gone@example.com"] || suspended[alice] {
		t.Fatalf("pages %d: %v %v", pages, emails, suspended)
	}
	res, err := svc.Users.List().Domain("other.org").Do()
	if err != nil || len(res.Users) != 1 || res.Users[0].PrimaryEmail != "eve@other.org" {
		t.Fatalf("domain=other.org: %+v %v", res, err)
	}
	// A subject that is not an administrator → 403; a Gmail scope does not cover the Directory.
	if _, err := dir(alice, gmailtest.ScopeDirectoryUserReadonly).Users.List().Customer("my_customer").Do(); apiErr(t, err).Code != 403 {
		t.Fatalf("non-admin: %v", err)
	}
	_, err = dir("admin@example.com", gmailtest.ScopeGmailReadonly).Users.List().Customer("my_customer").Do()
	if ge := apiErr(t, err); ge.Code != 403 || ge.Errors[0].Reason != "insufficientPermissions" {
		t.Fatalf("gmail scope: %v", err)
	}
	h := newRaw(t, srv, "admin@example.com", gmailtest.ScopeDirectoryUserReadonly)
	wantError(t, h.do("GET", "/admin/directory/v1/users", nil), 400, "badRequest", "")
	wantError(t, h.do("GET", "/admin/directory/v1/users?customer=my_customer&maxResults=501", nil), 400, "invalidArgument", "")
}

const rateLimitBody = `{"error":{"code":403,"message":"User Rate Limit Exceeded","errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded","message":"User Rate Limit Exceeded"}],"status":"PERMISSION_DENIED"}}`

// The per-user bucket: 15,000 units/min, 25 per import → 600 imports, then 403 userRateLimitExceeded with
// Google's body; refilled on the virtual clock; other users unaffected; rejections not charged (§1.5, §5.1.6).
func TestUserQuota(t *testing.T) {
	srv, _ := fixture(t)
	h := newRaw(t, srv, alice)
	raw := rawMessage("q@example.net", "")
	for i := range 600 {
		if r := h.do("POST", "/upload/gmail/v1/users/me/messages/import?uploadType=media", raw, "Content-Type", "message/rfc822"); r.code != 200 {
			t.Fatalf("import %d: %d %s", i, r.code, r.body)
		}
	}
	r := h.do("POST", "/upload/gmail/v1/users/me/messages/import?uploadType=media", raw, "Content-Type", "message/rfc822")
	if r.code != 403 {
		t.Fatalf("import 601: %d", r.code)
	}
	jsonEqual(t, r.body, rateLimitBody)
	// 5-unit calls still fit? No: the bucket is empty, nothing is charged for refusals.
	wantError(t, h.do("GET", "/gmail/v1/users/me/messages", nil), 403, "userRateLimitExceeded", "")
	if q := srv.QuotaRemaining(alice); q != 0 {
		t.Fatalf("remaining %d", q)
	}
	// Another user has a bucket of its own.
	if r := newRaw(t, srv, "bob@example.com").do("GET", "/gmail/v1/users/me/messages", nil); r.code != 200 {
		t.Fatalf("bob: %d %s", r.code, r.body)
	}
	// 100 ms of virtual time refills 25 units (250/s): one import.
	srv.Advance(100 * time.Millisecond)
	if r := h.do("POST", "/upload/gmail/v1/users/me/messages/import?uploadType=media", raw, "Content-Type", "message/rfc822"); r.code != 200 {
		t.Fatalf("after 100ms: %d %s", r.code, r.body)
	}
	wantError(t, h.do("POST", "/upload/gmail/v1/users/me/messages/import?uploadType=media", raw, "Content-Type", "message/rfc822"), 403, "userRateLimitExceeded", "")
	srv.Advance(time.Minute)
	if q := srv.QuotaRemaining(alice); q != 15000 {
		t.Fatalf("after a minute: %d", q)
	}
	if n := len(srv.Messages(alice)); n != 601 {
		t.Fatalf("%d stored", n)
	}
}

func TestProjectAndDailyLimits(t *testing.T) {
	srv, _ := fixture(t, gmailtest.WithProjectQuota(20, time.Minute), gmailtest.WithDailyLimit(1000))
	a, b := newRaw(t, srv, alice), newRaw(t, srv, "bob@example.com")
	for i := range 2 {
		if r := a.do("GET", "/gmail/v1/users/me/messages", nil); r.code != 200 {
			t.Fatalf("alice %d: %d", i, r.code)
		}
		if r := b.do("GET", "/gmail/v1/users/me/messages", nil); r.code != 200 {
			t.Fatalf("bob %d: %d", i, r.code)
		}
	}
	r := b.do("GET", "/gmail/v1/users/me/messages", nil)
	jsonEqual(t, r.body, `{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}],"status":"PERMISSION_DENIED"}}`)

	daily, _ := fixture(t, gmailtest.WithDailyLimit(50))
	d := newRaw(t, daily, alice)
	raw := rawMessage("d@example.net", "")
	for range 2 {
		if r := d.importMultipart(alice, "", `{}`, raw); r.code != 200 {
			t.Fatalf("%d %s", r.code, r.body)
		}
	}
	r = d.importMultipart(alice, "", `{}`, raw)
	jsonEqual(t, r.body, `{"error":{"code":403,"message":"Daily Limit Exceeded","errors":[{"domain":"usageLimits","reason":"dailyLimitExceeded","message":"Daily Limit Exceeded"}],"status":"PERMISSION_DENIED"}}`)
	daily.Advance(24 * time.Hour)
	d = newRaw(t, daily, alice) // the old token expired meanwhile
	if r := d.importMultipart(alice, "", `{}`, raw); r.code != 200 {
		t.Fatalf("next day: %d %s", r.code, r.body)
	}
}

// A ScaledClock lets a real-time test reach and leave the ceiling within a second.
func TestScaledClockQuota(t *testing.T) {
	srv, _ := fixture(t, gmailtest.WithClock(gmailtest.NewScaledClock(gmailtest.DefaultStart, 600)), gmailtest.WithUserQuota(25, time.Minute))
	h := newRaw(t, srv, alice)
	raw := rawMessage("s@example.net", "")
	if r := h.importMultipart(alice, "", `{}`, raw); r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	wantError(t, h.importMultipart(alice, "", `{}`, raw), 403, "userRateLimitExceeded", "")
	time.Sleep(110 * time.Millisecond) // a virtual minute
	if r := h.importMultipart(alice, "", `{}`, raw); r.code != 200 {
		t.Fatalf("after a scaled minute: %d %s", r.code, r.body)
	}
}

// The per-user concurrency cap → 429 with Retry-After; in-flight counters per user and per credential.
func TestConcurrencyAndInFlight(t *testing.T) {
	srv, sa := fixture(t, gmailtest.WithUserConcurrency(2))
	slow := srv.AddFault(gmailtest.Fault{Op: "messages.list", Delay: 300 * time.Millisecond, Times: 2})
	svc := gmailService(t, srv, sa, alice)
	if _, err := svc.Users.Labels.List("me").Do(); err != nil { // fetch the token first
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := svc.Users.Messages.List("me").Do(); err != nil {
				t.Error(err)
			}
		})
	}
	deadline := time.Now().Add(2 * time.Second)
	for srv.InFlight(alice) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if srv.CredentialInFlight(sa.Email) != 2 {
		t.Errorf("credential in flight: %d", srv.CredentialInFlight(sa.Email))
	}
	_, err := svc.Users.Labels.List("me").Do()
	ge := apiErr(t, err)
	if ge.Code != 429 || ge.Errors[0].Reason != "rateLimitExceeded" || ge.Header.Get("Retry-After") != "1" {
		t.Fatalf("third concurrent call: %v %v", err, ge.Header)
	}
	wg.Wait()
	if srv.MaxInFlight(alice) != 3 || srv.MaxCredentialInFlight(sa.Email) != 3 || srv.InFlight(alice) != 0 || slow.Fired() != 2 {
		t.Fatalf("peak %d, credential peak %d, now %d, fired %d", srv.MaxInFlight(alice), srv.MaxCredentialInFlight(sa.Email), srv.InFlight(alice), slow.Fired())
	}
	for _, r := range srv.RequestsFor("messages.list") {
		if r.Duration < 300*time.Millisecond || r.Fault != "delay 300ms" || r.User != alice || r.Credential != sa.Email || r.Status != 200 {
			t.Errorf("log: %+v", r)
		}
	}
}

// Faults by rule: nth request, per user, per op; 503, 429, reset, reset after commit (§5 cross-cutting, §5.1.7).
func TestFaults(t *testing.T) {
	srv, _ := fixture(t)
	h := newRaw(t, srv, alice)
	rule := srv.AddFault(gmailtest.Fault{Op: "messages.list", Nth: 2, Status: 503})
	codes := []int{}
	for range 3 {
		r := h.do("GET", "/gmail/v1/users/me/messages?maxResults=1", nil)
		codes = append(codes, r.code)
		if r.code == 503 {
			jsonEqual(t, r.body, `{"error":{"code":503,"message":"Backend Error","errors":[{"domain":"global","reason":"backendError","message":"Backend Error"}],"status":"UNAVAILABLE"}}`)
		}
	}
	if fmt.Sprint(codes) != "[200 503 200]" || rule.Fired() != 1 {
		t.Fatalf("codes %v, fired %d", codes, rule.Fired())
	}
	log := srv.RequestsFor("messages.list")
	if len(log) != 3 || log[1].Status != 503 || log[1].Fault != "status 503 backendError" || log[1].Query != "maxResults=1" || log[1].Method != "GET" {
		t.Fatalf("log %+v", log)
	}

	// Per user: bob's rule leaves alice alone.
	srv.AddFault(gmailtest.Fault{User: "bob@example.com", Status: 429, RetryAfter: 7 * time.Second, Times: gmailtest.Always})
	if r := h.do("GET", "/gmail/v1/users/me/labels", nil); r.code != 200 {
		t.Fatalf("alice: %d", r.code)
	}
	r := newRaw(t, srv, "bob@example.com").do("GET", "/gmail/v1/users/me/labels", nil)
	wantError(t, r, 429, "rateLimitExceeded", "")
	if r.header.Get("Retry-After") != "7" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}

	// Reset before anything: the client gets a transport error, nothing is stored.
	srv.AddFault(gmailtest.Fault{Op: "messages.insert", Reset: true})
	body, ct := multipartBody(t, `{}`, "message/rfc822", rawMessage("i@example.net", ""))
	req, _ := http.NewRequest("POST", srv.URL()+"/upload/gmail/v1/users/me/messages?uploadType=multipart", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if res, err := h.c.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("reset: got %d", res.StatusCode)
	}
	if n := len(srv.Messages(alice)); n != 0 {
		t.Fatalf("%d stored after a reset", n)
	}
}

// A connection reset after the write committed: the Go client gets an error, the message is stored, and the
// rfc822msgid: probe finds it (the re-run idempotency of §1.4). Also on a resumable upload's last chunk.
func TestResetAfterCommit(t *testing.T) {
	srv, sa := fixture(t)
	svc := gmailService(t, srv, sa, alice)
	rule := srv.AddFault(gmailtest.ResetAfterCommit("messages.import"))
	raw := rawMessage("once@example.net", "")
	_, err := svc.Users.Messages.Import("me", &gmail.Message{LabelIds: []string{"INBOX"}}).
		Media(bytes.NewReader(raw), googleapi.ContentType("message/rfc822")).Do()
	var ge *googleapi.Error
	if err == nil || errors.As(err, &ge) {
		t.Fatalf("want a transport error, got %v", err)
	}
	msgs := srv.Messages(alice)
	if len(msgs) != 1 || !bytes.Equal(srv.RawMessage(alice, msgs[0].ID), raw) || rule.Fired() != 1 {
		t.Fatalf("stored %d, fired %d", len(msgs), rule.Fired())
	}
	list, err := svc.Users.Messages.List("me").Q("rfc822msgid:once@example.net").Do()
	if err != nil || len(list.Messages) != 1 || list.Messages[0].Id != msgs[0].ID {
		t.Fatalf("probe: %+v %v", list, err)
	}
	if log := srv.RequestsFor("messages.import"); log[0].Status != 0 || log[0].Fault != "reset-after-commit" {
		t.Fatalf("log %+v", log[0])
	}
	// Refused writes do not count: the rule fires on the next write that commits.
	srv.AddFault(gmailtest.Fault{Op: "messages.import", ResetAfterCommit: true, Nth: 2})
	if _, err := svc.Users.Messages.Import("me", &gmail.Message{LabelIds: []string{"SENT"}}).
		Media(bytes.NewReader(raw), googleapi.ContentType("message/rfc822")).Do(); apiErr(t, err).Code != 400 {
		t.Fatal(err)
	}
	big := append(rawMessage("big-once@example.net", ""), bytes.Repeat([]byte("z"), 300*1024)...)
	for i, want := range []bool{true, false} { // 1st commit: through; 2nd: reset
		_, err := svc.Users.Messages.Import("me", &gmail.Message{}).
			Media(bytes.NewReader(big), googleapi.ContentType("message/rfc822"), googleapi.ChunkSize(256*1024)).Do()
		if (err == nil) != want {
			t.Fatalf("resumable %d: %v", i, err)
		}
	}
	if n := len(srv.Messages(alice)); n != 3 {
		t.Fatalf("%d stored, want 3", n)
	}
}
