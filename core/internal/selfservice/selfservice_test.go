package selfservice

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/scheduler"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
)

// Links: a sent link verifies; any change to it, another user's
// signature, garbage, expiry, revocation, a re-send and a deleted user
// all give the one error ErrInvalidLink. The signing key is made on
// first use in the secrets layer, never in the state store.
func TestLinks(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice@old.test", "alice@new.test", "alice-pw")
	bob := e.user("bob@old.test", "bob@new.test", "bob-pw")
	tok := e.invite(alice)
	bobTok := e.invite(bob)

	inv, err := e.s.Verify(e.ctx, tok)
	if err != nil || inv.User != alice.ID || inv.State != StateSent {
		t.Fatalf("verify: %v %+v", err, inv)
	}
	msg, _ := e.mail.last(t, "alice@old.test")
	if !strings.Contains(msg.Text, "imap.old.test") || !strings.Contains(msg.Text, "alice@new.test") || !strings.Contains(msg.Text, "https://tern.test/s/"+tok) {
		t.Fatalf("invitation text: %s", msg.Text)
	}
	if want := e.clock.Now().Add(14 * 24 * time.Hour); !inv.Expires.Equal(want) {
		t.Fatalf("expires %v, want %v", inv.Expires, want)
	}

	// The key: in the secrets layer, 32 bytes, not in Badger.
	k, err := e.sec.Get(e.ctx, KeyPath)
	if err != nil || len(k) != 64 {
		t.Fatalf("signing key: %v (%d hex digits)", err, len(k))
	}
	e.db.Scan(e.ctx, "", func(key string, v []byte) error {
		if strings.Contains(string(v), k) {
			t.Errorf("the signing key is in the state store at %s", key)
		}
		return nil
	})

	invalid := func(what, token string) {
		t.Helper()
		got, err := e.s.Verify(e.ctx, token)
		if err != ErrInvalidLink || got != nil {
			t.Errorf("%s: %v %v, want ErrInvalidLink", what, got, err)
		}
	}
	payload, sig, _ := strings.Cut(tok, ".")
	_, bobSig, _ := strings.Cut(bobTok, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	invalid("payload changed", flip(payload, 3)+"."+sig)
	invalid("expiry changed", flip(payload, len(payload)-2)+"."+sig)
	invalid("signature changed", payload+"."+flip(sig, 5))
	invalid("bob's signature", payload+"."+bobSig)
	for _, g := range []string{"", ".", "abc", payload, payload + ".", "." + sig, "%%%." + sig, strings.Repeat("A", 500), tok + "x"} {
		invalid("garbage "+g, g)
	}
	// A forged token over a known id with another expiry.
	inv2 := *inv
	inv2.Expires = inv.Expires.Add(24 * time.Hour)
	forged, _ := sign([]byte(strings.Repeat("k", 32)), &inv2)
	invalid("wrong key", forged)
	// The id of an invitation, signed with the right key for another
	// user, opens nothing either.
	key, _ := hex.DecodeString(k)
	inv3 := *inv
	inv3.User = bob.ID
	other, _ := sign(key, &inv3)
	invalid("another user's id", other)

	// A re-send supersedes the old link.
	newTok := e.invite(alice)
	invalid("superseded", tok)
	if _, err := e.s.Verify(e.ctx, newTok); err != nil {
		t.Fatalf("new link: %v", err)
	}
	if got := e.inv(alice); got.SentCount != 2 {
		t.Fatalf("sent count %d", got.SentCount)
	}
	// Revoked.
	if _, err := e.s.Revoke(e.ctx, e.p.ID, alice.ID, "ada"); err != nil {
		t.Fatal(err)
	}
	invalid("revoked", newTok)
	// Expired.
	e.clock.Add(14*24*time.Hour + time.Second)
	invalid("expired", bobTok)
	// A deleted user.
	e.clock.Add(-14*24*time.Hour - time.Second)
	if _, err := e.s.Verify(e.ctx, bobTok); err != nil {
		t.Fatal(err)
	}
	e.projects.DeleteUser(e.ctx, e.p.ID, bob.ID)
	invalid("deleted user", bobTok)

	// A new service over the same secrets reads the same key.
	s2 := New(e.s.o)
	if _, err := s2.Verify(e.ctx, e.invite(e.user("carol@old.test", "carol@new.test", "pw"))); err != nil {
		t.Fatalf("another service: %v", err)
	}
}

// Templates: the defaults are valid; errors name the problem; rendering
// fills the data; previews show every e-mail.
func TestTemplates(t *testing.T) {
	if err := DefaultTemplates().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		t    Template
		want string
	}{
		{Template{Subject: "Hi {{.Login", Text: "x {{.Link}}"}, "subject"},
		{Template{Subject: "Hi", Text: "{{.Password}} {{.Link}}"}, "there is no {{.Password}}"},
		{Template{Subject: "Hi\n{{.Login}}", Text: "{{.Link}}"}, "one line"},
		{Template{Subject: "", Text: "{{.Link}}"}, "cannot be empty"},
		{Template{Subject: "Hi", Text: "no link here"}, "must contain the link"},
		{Template{Subject: strings.Repeat("x", 201), Text: "{{.Link}}"}, "at most 200"},
	} {
		ts := DefaultTemplates()
		ts.Invitation = c.t
		if err := ts.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.t, err, c.want)
		}
	}
	ts := DefaultTemplates()
	ts.Failed.Text = "{{.Nope}}"
	if err := ts.Validate(); err == nil || !strings.Contains(err.Error(), "failed e-mail") {
		t.Errorf("failed template: %v", err)
	}
	subject, text, err := Template{Subject: "Move {{.Login}}", Text: "{{.Server}} {{.Address}} {{.Link}} {{.Expires}} {{.Project}} {{.Copied}}"}.Render(SampleData())
	if err != nil || subject != "Move jane.doe@old.example" ||
		text != "imap.old.example jane.doe@new.example https://tern.example/s/EXAMPLE-LINK Tuesday 15 January 2030, 18:00 UTC Old to new 1234" {
		t.Fatalf("render: %v %q %q", err, subject, text)
	}
	pv := DefaultTemplates().Preview()
	if len(pv) != 3 || pv[0].Name != "invitation" || !strings.Contains(pv[0].Text, "EXAMPLE-LINK") || pv[2].Error != "" || !strings.Contains(pv[2].Text, reasonAuth) {
		t.Fatalf("preview %+v", pv)
	}
}

// Settings: defaults, validation on save, the recipient rule, and the
// standing batch following the schedule.
func TestSettings(t *testing.T) {
	e := newEnv(t)
	st, err := e.s.Settings(e.ctx, e.p.ID)
	if err != nil || st.LinkDays != 14 || st.RetentionHours != 168 || st.Recipient != RecipientSource || st.AllowLogin {
		t.Fatalf("defaults: %v %+v", err, st)
	}
	for _, bad := range []func(*Settings){
		func(s *Settings) { s.LinkDays = 0 },
		func(s *Settings) { s.RetentionHours = -1 },
		func(s *Settings) { s.Recipient = "boss" },
		func(s *Settings) { s.Concurrency = 999 },
		func(s *Settings) { s.Windows = []project.Window{{Start: "25:00", End: "06:00"}} },
		func(s *Settings) { s.Templates.Done.Subject = "{{" },
	} {
		s := DefaultSettings()
		bad(s)
		if err := e.s.SaveSettings(e.ctx, e.p.ID, s); err == nil {
			t.Errorf("saved bad settings %+v", s)
		}
	}
	st.AllowLogin, st.RetentionHours, st.Batch = true, 0, "forged"
	if err := e.s.SaveSettings(e.ctx, e.p.ID, st); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.s.Settings(e.ctx, e.p.ID); !got.AllowLogin || got.RetentionHours != 0 || got.Batch != "" {
		t.Fatalf("saved: %+v", got)
	}

	for _, c := range []struct{ src, dst, mode, want string }{
		{"a@old.test", "a@new.test", RecipientSource, "a@old.test"},
		{"a", "a@new.test", RecipientSource, "a@new.test"},
		{"a@old.test", "a@new.test", RecipientTarget, "a@new.test"},
		{"a", "a", RecipientSource, ""},
	} {
		got, err := recipient(&project.User{SourceUser: c.src, TargetUser: c.dst}, c.mode)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("recipient(%s, %s, %s) = %q, %v", c.src, c.dst, c.mode, got, err)
		}
	}
	// A user without any address is reported, the others sent.
	noAddr := e.user("noaddr", "noaddr", "pw")
	ok := e.user("ok@old.test", "ok@new.test", "pw")
	rs, err := e.s.Send(e.ctx, e.p.ID, []string{noAddr.ID, ok.ID, "u-missing"}, base, "ada")
	if err != nil || len(rs) != 3 || rs[0].Error == "" || rs[1].Error != "" || rs[1].Recipient != "ok@old.test" || rs[2].Error == "" {
		t.Fatalf("send: %v %+v", err, rs)
	}
	if _, err := e.s.Send(e.ctx, e.p.ID, []string{ok.ID}, "", "ada"); err != ErrNoBase {
		t.Fatalf("no base: %v", err)
	}
	// A mailer that fails leaves the old link working.
	_, tok := e.mail.last(t, "ok@old.test")
	e.mail.fail = errFake
	rs, _ = e.s.Send(e.ctx, e.p.ID, []string{ok.ID}, base, "ada")
	if rs[0].Error == "" {
		t.Fatal("a failed send has no error")
	}
	if _, err := e.s.Verify(e.ctx, tok); err != nil {
		t.Fatalf("the old link after a failed re-send: %v", err)
	}
}

var errFake = connector.Errorf(connector.KindUnavailable, "smtp down")

// The whole flow with a fake scheduler: a wrong password, then the right
// one; the standing batch; the end of the pass, its e-mail once; a failed
// pass and the password entered again.
func TestSubmitFlow(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice@old.test", "alice@new.test", "Alice-Right-1")
	bob := e.user("bob@old.test", "bob@new.test", "Bob-Right-2")
	tok, bobTok := e.invite(alice), e.invite(bob)

	inv, err := e.s.Open(e.ctx, tok)
	if err != nil || inv.State != StateOpened || inv.OpenedAt.IsZero() {
		t.Fatalf("open: %v %+v", err, inv)
	}
	_, err = e.s.Submit(e.ctx, tok, "192.0.2.1", "", "Wrong-Pass-9")
	wantErr(t, err, ErrWrongPassword)
	if got := e.inv(alice); got.FailedLogins != 1 || got.State != StateOpened {
		t.Fatalf("after a wrong password: %+v", got)
	}
	if _, err := e.sec.Get(e.ctx, secrets.MailboxSource(alice.ID)); err == nil {
		t.Fatal("a wrong password was stored")
	}
	_, err = e.s.Submit(e.ctx, tok, "192.0.2.1", "", "")
	wantErr(t, err, ErrWrongPassword)

	inv, err = e.s.Submit(e.ctx, tok, "192.0.2.1", "someone-else", "Alice-Right-1")
	if err != nil || inv.State != StateMigrating || inv.Batch == "" || inv.FailedLogins != 0 || inv.CredentialsAt.IsZero() {
		t.Fatalf("submit: %v %+v", err, inv)
	}
	if pw, _ := e.sec.Get(e.ctx, secrets.MailboxSource(alice.ID)); pw != "Alice-Right-1" {
		t.Fatal("the password is not in the secrets layer")
	}
	u, _ := e.projects.User(e.ctx, e.p.ID, alice.ID)
	if !u.HasSourcePassword || u.SourceLogin != "" {
		t.Fatalf("user after submit: %+v (a login is not allowed by default)", u)
	}
	b, err := e.projects.Batch(e.ctx, e.p.ID, inv.Batch)
	if err != nil || b.Name != BatchName || len(b.Users) != 1 || b.Users[0] != alice.ID {
		t.Fatalf("batch: %v %+v", err, b)
	}
	if len(e.sched.submitted) != 1 || len(e.sched.added) != 0 {
		t.Fatalf("scheduler: submitted %v added %v", e.sched.submitted, e.sched.added)
	}
	_, err = e.s.Submit(e.ctx, tok, "192.0.2.1", "", "Alice-Right-1")
	wantErr(t, err, ErrSubmitted)
	// A re-send while migrating is refused.
	if rs, _ := e.s.Send(e.ctx, e.p.ID, []string{alice.ID}, base, "ada"); rs[0].Error == "" {
		t.Fatal("re-sent while migrating")
	}
	// Bob joins the same batch.
	if inv, err := e.s.Submit(e.ctx, bobTok, "192.0.2.2", "", "Bob-Right-2"); err != nil || inv.Batch != b.ID {
		t.Fatalf("bob: %v %+v", err, inv)
	}
	if len(e.sched.submitted) != 1 || len(e.sched.added) != 1 || e.sched.added[0] != b.ID+":"+bob.ID {
		t.Fatalf("scheduler: submitted %v added %v", e.sched.submitted, e.sched.added)
	}

	// Alice's pass ends: done, one e-mail, even if the hook is called again.
	n := len(e.mail.all())
	u.Totals.Copied = 42
	rr := &project.RunReport{Project: e.p.ID, User: alice.ID, Batch: b.ID, Pass: 1, Report: &engine.Report{Status: engine.StatusOK}}
	e.s.PassEnded(e.p, u, rr)
	e.s.PassEnded(e.p, u, rr)
	e.s.wg.Wait()
	msgs := e.mail.all()[n:]
	if len(msgs) != 1 || msgs[0].To != "alice@old.test" || msgs[0].Subject != "Your mailbox has been moved" || !strings.Contains(msgs[0].Text, "42 messages copied") {
		t.Fatalf("completion e-mails %+v", msgs)
	}
	if got := e.inv(alice); got.State != StateDone || got.DoneAt.IsZero() || got.MailedAt.IsZero() {
		t.Fatalf("after the pass: %+v", got)
	}
	// The link shows the status; no password form.
	if inv, _ := e.s.Verify(e.ctx, tok); inv.CanSubmit() {
		t.Fatal("a done invitation asks for the password")
	}
	// A pass of another batch while Bob migrates changes nothing.
	bu, _ := e.projects.User(e.ctx, e.p.ID, bob.ID)
	e.s.PassEnded(e.p, bu, &project.RunReport{Batch: "b-other", Report: &engine.Report{Status: engine.StatusOK}})
	if got := e.inv(bob); got.State != StateMigrating {
		t.Fatalf("bob after another batch's pass: %s", got.State)
	}
	// Bob's fails: the password was changed.
	e.s.PassEnded(e.p, bu, &project.RunReport{Batch: b.ID, Report: &engine.Report{Status: engine.StatusFailed, ErrorKind: connector.KindAuth, Error: "LOGIN refused for bob"}})
	e.s.wg.Wait()
	m, link := e.mail.last(t, "bob@old.test")
	if m.Subject != "Your mailbox could not be moved" || !strings.Contains(m.Text, reasonAuth) || strings.Contains(m.Text, "LOGIN refused") || link != bobTok {
		t.Fatalf("failed e-mail: %+v", m)
	}
	inv, _ = e.s.Verify(e.ctx, bobTok)
	if inv.State != StateFailed || !inv.CanSubmit() {
		t.Fatalf("bob after the failure: %+v", inv)
	}
	if pr := e.s.Progress(e.ctx, inv); !pr.Ended || !strings.Contains(pr.Message, reasonAuth) {
		t.Fatalf("failed progress %+v", pr)
	}
	// Bob enters the password again: queued again in the batch.
	if inv, err := e.s.Submit(e.ctx, bobTok, "192.0.2.2", "", "Bob-Right-2"); err != nil || inv.State != StateMigrating || inv.Reason != "" {
		t.Fatalf("bob again: %v %+v", err, inv)
	}
	if len(e.sched.added) != 2 {
		t.Fatalf("added %v", e.sched.added)
	}
	// A cancelled batch: the next user gets a new one.
	e.sched.refuse = errState
	carol := e.user("carol@old.test", "carol@new.test", "Carol-3")
	inv, err = e.s.Submit(e.ctx, e.invite(carol), "192.0.2.3", "", "Carol-3")
	if err != nil || inv.Batch == b.ID || len(e.sched.submitted) != 2 {
		t.Fatalf("carol: %v %+v, submitted %v", err, inv, e.sched.submitted)
	}
	// A scheduler that cannot take the user: try again later, the
	// password is kept, the state says credentials.
	e.sched.refuse = errClosed
	dave := e.user("dave@old.test", "dave@new.test", "Dave-4")
	_, err = e.s.Submit(e.ctx, e.invite(dave), "192.0.2.4", "", "Dave-4")
	wantErr(t, err, ErrTryLater)
	if got := e.inv(dave); got.State != StateCredentials || !got.HoldsCredentials() {
		t.Fatalf("dave: %+v", got)
	}
}

// A login of the user's own, when the project allows it, goes with the
// password (the in-memory server refuses any login but the mailbox's).
func TestOwnLogin(t *testing.T) {
	e := newEnv(t)
	st, _ := e.s.Settings(e.ctx, e.p.ID)
	st.AllowLogin = true
	if err := e.s.SaveSettings(e.ctx, e.p.ID, st); err != nil {
		t.Fatal(err)
	}
	u := e.user("erin@old.test", "erin@new.test", "Erin-5")
	tok := e.invite(u)
	_, err := e.s.Submit(e.ctx, tok, "192.0.2.5", "erin.other", "Erin-5")
	wantErr(t, err, ErrWrongPassword)
	if _, err := e.s.Submit(e.ctx, tok, "192.0.2.5", "erin@old.test", "Erin-5"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.projects.User(e.ctx, e.p.ID, u.ID); got.SourceLogin != "" {
		t.Fatalf("the mailbox's own name stored as a login: %q", got.SourceLogin)
	}
}

var (
	errState  = fmt.Errorf("batch self-service is cancelled: %w", scheduler.ErrState)
	errClosed = fmt.Errorf("closed: %w", scheduler.ErrClosed)
)

// Rate limits: five refused passwords per link, then "too many" even for
// the right one until the window passed; twenty per address over links.
// A server that cannot be reached is "try again later" and not counted.
func TestRateLimits(t *testing.T) {
	e := newEnv(t)
	u := e.user("frank@old.test", "frank@new.test", "Frank-6")
	tok := e.invite(u)
	for range 5 {
		_, err := e.s.Submit(e.ctx, tok, "198.51.100.1", "", "wrong")
		wantErr(t, err, ErrWrongPassword)
	}
	_, err := e.s.Submit(e.ctx, tok, "198.51.100.2", "", "Frank-6")
	wantErr(t, err, ErrTooManyAttempts)
	e.clock.Add(15 * time.Minute)
	if _, err := e.s.Submit(e.ctx, tok, "198.51.100.2", "", "Frank-6"); err != nil {
		t.Fatalf("after the window: %v", err)
	}

	// Per address: 20 refusals over 5 links block the address for all.
	var toks []string
	for i := range 5 {
		toks = append(toks, e.invite(e.user("g"+string(rune('a'+i))+"@old.test", "g@new.test", "right")))
	}
	for i := range 20 {
		_, err := e.s.Submit(e.ctx, toks[i%5], "203.0.113.9", "", "wrong")
		wantErr(t, err, ErrWrongPassword)
	}
	_, err = e.s.Submit(e.ctx, toks[0], "203.0.113.9", "", "right")
	wantErr(t, err, ErrTooManyAttempts)
	// Another address is not blocked (its link has 4 refusals).
	if _, err := e.s.Submit(e.ctx, toks[0], "203.0.113.10", "", "right"); err != nil {
		t.Fatalf("another address: %v", err)
	}

	// The server fails: try again later, not counted.
	down := e.user("down@old.test", "down@new.test", "Down-7")
	dtok := e.invite(down)
	e.failOpens(func(user string) error {
		if user == "down@old.test" {
			return connector.Errorf(connector.KindUnavailable, "connection refused")
		}
		return nil
	})
	for range 7 {
		_, err := e.s.Submit(e.ctx, dtok, "192.0.2.77", "", "Down-7")
		wantErr(t, err, ErrTryLater)
	}
	if got := e.inv(down); got.FailedLogins != 0 {
		t.Fatalf("server failures counted as refusals: %d", got.FailedLogins)
	}
}

// Retention: the password stays for RetentionHours after the migration
// ended, then the sweeper deletes it (and the login) and records it;
// with 0 it goes at the end of the pass. The sweeper also drops the
// invitations of deleted users.
func TestRetention(t *testing.T) {
	e := newEnv(t)
	u := e.user("gina@old.test", "gina@new.test", "Gina-8")
	tok := e.invite(u)
	if _, err := e.s.Submit(e.ctx, tok, "192.0.2.8", "", "Gina-8"); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.s.Sweep(e.ctx); n != 0 {
		t.Fatal("swept a password of a running migration")
	}
	gu, _ := e.projects.User(e.ctx, e.p.ID, u.ID)
	e.s.PassEnded(e.p, gu, &project.RunReport{Report: &engine.Report{Status: engine.StatusPartial}})
	e.s.wg.Wait()
	e.clock.Add(167 * time.Hour)
	if n, err := e.s.Sweep(e.ctx); n != 0 || err != nil {
		t.Fatalf("swept early: %d %v", n, err)
	}
	e.clock.Add(time.Hour)
	if n, err := e.s.Sweep(e.ctx); n != 1 || err != nil {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if _, err := e.sec.Get(e.ctx, secrets.MailboxSource(u.ID)); err == nil {
		t.Fatal("the password is still there")
	}
	if got, _ := e.projects.User(e.ctx, e.p.ID, u.ID); got.HasSourcePassword {
		t.Fatal("the user still says it has a password")
	}
	inv := e.inv(u)
	if inv.HoldsCredentials() || inv.CredentialsDeleted.IsZero() {
		t.Fatalf("invitation %+v", inv)
	}
	if n, _ := e.s.Sweep(e.ctx); n != 0 {
		t.Fatal("swept twice")
	}

	// Retention 0: at the end of the pass.
	st, _ := e.s.Settings(e.ctx, e.p.ID)
	st.RetentionHours = 0
	e.s.SaveSettings(e.ctx, e.p.ID, st)
	h := e.user("hal@old.test", "hal@new.test", "Hal-9")
	if _, err := e.s.Submit(e.ctx, e.invite(h), "192.0.2.9", "", "Hal-9"); err != nil {
		t.Fatal(err)
	}
	hu, _ := e.projects.User(e.ctx, e.p.ID, h.ID)
	e.s.PassEnded(e.p, hu, &project.RunReport{Report: &engine.Report{Status: engine.StatusOK}})
	e.s.wg.Wait()
	if _, err := e.sec.Get(e.ctx, secrets.MailboxSource(h.ID)); err == nil {
		t.Fatal("retention 0: the password is still there")
	}

	// The sweeper goroutine: started, it sweeps; a deleted user's
	// invitation goes.
	e.projects.DeleteUser(e.ctx, e.p.ID, h.ID)
	e.s.Start()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := e.s.Invitation(e.ctx, e.p.ID, h.ID); err == ErrNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not drop the deleted user's invitation")
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.s.Close()
	if keys, _ := e.db.Keys(e.ctx, store.Key("v1", "invitationid")+"/"); len(keys) != 1 {
		t.Fatalf("id index: %v", keys)
	}
}

// Progress shows the user's own numbers from the scheduler while
// migrating.
func TestProgress(t *testing.T) {
	e := newEnv(t)
	u := e.user("ivy@old.test", "ivy@new.test", "Ivy-10")
	tok := e.invite(u)
	inv, _ := e.s.Verify(e.ctx, tok)
	if pr := e.s.Progress(e.ctx, inv); pr.Live || pr.Ended || pr.State != StateSent {
		t.Fatalf("before: %+v", pr)
	}
	inv, _ = e.s.Submit(e.ctx, tok, "192.0.2.10", "", "Ivy-10")
	up := scheduler.UserProgress{Status: project.StatusRunning, FoldersDone: 2, FoldersTotal: 5}
	up.Copied, up.ToCopy, up.ETA, up.ETAKnown = 30, 100, 90*time.Second, true
	e.sched.progress = map[string]scheduler.UserProgress{u.ID: up}
	pr := e.s.Progress(e.ctx, inv)
	if !pr.Live || pr.Copied != 30 || pr.ToCopy != 100 || pr.FoldersDone != 2 || !pr.ETAKnown || pr.ETA != 90*time.Second || !strings.Contains(pr.Message, "being copied") {
		t.Fatalf("running: %+v", pr)
	}
}
