package main_test

// The self-service end-to-end test (issue 6), in a real headless Chromium
// against the real daemon (tern serve), a real Postfix and the real
// Dovecot instances. An administrator sets the outgoing mail server on
// the System page and sends a test mail; makes a source connector with
// no administrator or magic password (users give their own) and a target
// with a magic password, a project and two users; and sends them
// invitations from the users page. The invitation travels through
// Postfix into the user's own mailbox, where the test reads it over
// IMAP. In a browser that never logged in to the console, the user opens
// the link, gives a wrong password (a clear error), then the right one,
// and closes the browser while the move runs. The move ends by itself:
// the target mailbox holds the source's messages byte for byte, the
// completion e-mail arrives, the users page and the link say "done".
// A revoked link, a superseded one (re-sent), a tampered one, one with
// a forged expiry and a made-up one get the same answer, byte for byte.
// No page shows a password; the public pages show nothing of the
// console.
//
// Expiry: a link whose real expiry has passed needs a clock the test
// cannot move in a daemon (links live at least a day). The unit tests of
// core/internal/selfservice cover real expiry with a fake clock; here a
// link whose expiry field was set in the past (its signature then fails,
// as it would for anyone who tries) and the superseded link stand for
// it: Verify gives every invalid link the one answer checked here.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ternmail/tern/internal/browsertest"
	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
)

// The subjects of the default templates (selfservice.DefaultTemplates)
// and of the System page's test mail.
const (
	subjectInvitation = "Your mailbox is moving: please start your migration"
	subjectDone       = "Your mailbox has been moved"
	subjectTest       = "Tern: test mail"
)

// The one answer to every link that does not open a page.
const invalidLinkText = "This link is not valid any more"

// ternMail is an e-mail of Tern's as it reached a mailbox.
type ternMail struct {
	raw           []byte
	from, subject string
	// text is the body, decoded, with "\n" line ends.
	text string
}

func parseMail(raw []byte) (ternMail, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ternMail{}, err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return ternMail{}, err
	}
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil {
		return ternMail{}, err
	}
	var body io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	text, err := io.ReadAll(body)
	if err != nil {
		return ternMail{}, err
	}
	return ternMail{raw: raw, from: from.Address, subject: subject, text: strings.ReplaceAll(string(text), "\r\n", "\n")}, nil
}

// waitMail waits for an e-mail with subject in the INBOX of user on the
// src Dovecot (where Postfix delivers test.example), for which match, if
// not nil, is true too.
func waitMail(t *testing.T, user, subject string, match func(ternMail) bool) ternMail {
	t.Helper()
	var got ternMail
	testserver.WaitForMail(t, testserver.DovecotSrc, user, func(raw []byte) bool {
		m, err := parseMail(raw)
		if err != nil || m.subject != subject || match != nil && !match(m) {
			return false
		}
		got = m
		return true
	}, 30*time.Second)
	return got
}

var linkRe = regexp.MustCompile(`https?://\S+/s/[A-Za-z0-9_.-]+`)

// link returns the one self-service link of the e-mail.
func (m ternMail) link(t *testing.T) string {
	t.Helper()
	links := linkRe.FindAllString(m.text, -1)
	if len(links) != 1 {
		t.Fatalf("e-mail %q: %d links, want 1:\n%s", m.subject, len(links), m.text)
	}
	return links[0]
}

// public checks a page that users reach from an invitation: no
// password, and nothing of the console (no header, navigation, footer,
// log-out form, nor any link).
func (c *console) public(where string) {
	c.t.Helper()
	c.check(where)
	if n := browsertest.Eval[int](c.tab, `document.querySelectorAll("header, nav, footer, form.logout, a[href], link[rel=icon]").length`); n != 0 {
		c.t.Fatalf("%s: the public page shows %d parts of the console:\n%s", where, n, c.tab.HTML())
	}
}

// invitationState is the invitation badge of user's row on the users
// page (open).
func (c *console) invitationState(user string) string {
	c.t.Helper()
	return browsertest.Eval[string](c.tab, fmt.Sprintf(
		`[...document.querySelectorAll("#users tbody tr")].find(r => r.innerText.includes(%q))?.querySelector("[data-invitation]")?.dataset.invitation ?? ""`, user))
}

// requireInvitations opens the users page of project and requires each
// user's invitation state.
func (c *console) requireInvitations(projectPath string, want map[string]string) {
	c.t.Helper()
	c.open(projectPath + "/users")
	for user, state := range want {
		if got := c.invitationState(user); got != state {
			c.t.Fatalf("the users page shows %s's invitation %q, want %q:\n%s", user, got, state, c.tab.Text("#users tbody"))
		}
	}
}

// invitationRowButton clicks a button of user's row on the self-service
// page (open): "resend" or "revoke". The page's confirmation dialog is
// answered yes.
func (c *console) invitationRowButton(user, action string) {
	c.t.Helper()
	c.load(action+" the invitation of "+user, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`window.confirm = () => true; [...document.querySelectorAll("#invitations tbody tr")].find(r => r.innerText.includes(%q)).querySelector('form[action$="/%s"] button').click()`, user, action)))
}

// apiInvitation is what `tern invitations list --json` says of one.
type apiInvitation struct {
	Source string `json:"source_user"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// invitationStates lists the invitations of project with the CLI.
func (d *daemon) invitationStates(project string) map[string]apiInvitation {
	d.t.Helper()
	var list []apiInvitation
	out := d.mustCLI(0, "invitations", "list", project, "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		d.t.Fatalf("tern invitations list --json: %v\n%s", err, out)
	}
	m := map[string]apiInvitation{}
	for _, i := range list {
		m[i.Source] = i
	}
	return m
}

// requireSameButLater is requireSameFrom (src Dovecot) for a source
// mailbox that got e-mails after the move: later, as WaitForMail
// returned them, are left out of its INBOX. want is the number of
// messages the target must hold.
func requireSameButLater(t *testing.T, srcUser, dstUser string, want int, later ...[]byte) {
	t.Helper()
	a := testserver.Snapshot(t, testserver.DovecotSrc, srcUser)
	inbox := a.Folder("INBOX")
	for _, raw := range later {
		sum := sha256.Sum256(raw)
		i := slices.IndexFunc(inbox.Messages, func(r testserver.Record) bool { return r.SHA256 == hex.EncodeToString(sum[:]) })
		if i < 0 {
			t.Fatalf("the source INBOX of %s lacks an e-mail that reached it", srcUser)
		}
		inbox.Messages = slices.Delete(inbox.Messages, i, i+1)
	}
	b := testserver.Snapshot(t, testserver.DovecotDst, dstUser)
	if diff := testserver.Compare(a, b, nil); len(diff) > 0 {
		t.Fatalf("target %s differs from source %s:\n%s", dstUser, srcUser, strings.Join(diff, "\n"))
	}
	if b.Count() != want {
		t.Fatalf("target %s holds %d messages, want %d", dstUser, b.Count(), want)
	}
}

// forgeLink returns link with its token changed: the signature's
// character at i replaced, or, with expires set, the expiry field
// rewritten (the signature kept).
func forgeLink(t *testing.T, link string, i int, expires time.Time) string {
	t.Helper()
	base, token, _ := strings.Cut(link, "/s/")
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(sig) <= i {
		t.Fatalf("link %s: not payload.signature", link)
	}
	if expires.IsZero() {
		r := byte('A')
		if sig[i] == r {
			r = 'B'
		}
		return base + "/s/" + payload + "." + sig[:i] + string(r) + sig[i+1:]
	}
	p, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || len(p) != 24 {
		t.Fatalf("link %s: payload %q is not id and expiry", link, payload)
	}
	binary.BigEndian.PutUint64(p[16:], uint64(expires.Unix()))
	return base + "/s/" + base64.RawURLEncoding.EncodeToString(p) + "." + sig
}

func TestSelfServiceBrowser(t *testing.T) {
	testserver.Ensure(t)
	start := time.Now()
	logStep := func(step string) { t.Logf("%s done after %v", step, time.Since(start).Round(time.Millisecond)) }

	// Alice moves her mailbox herself; Bob's invitation is re-sent, then
	// revoked. Their source logins are not addresses, so invitations go
	// to the target address <login>@test.example, which Postfix delivers
	// into the login's own mailbox on the src Dovecot (the one the user
	// reads before the move), and which names the target mailbox on the
	// dst Dovecot (it takes any name). The probe gets the test mail.
	alice, bob, probe := testserver.User(t, "ss-alice"), testserver.User(t, "ss-bob"), testserver.User(t, "ss-probe")
	aliceAddr, bobAddr := testserver.MailAddress(alice), testserver.MailAddress(bob)
	mb := consoleMailbox(61, 80)
	seedConsole(t, []string{alice}, []corpus.Mailbox{mb})

	d := startDaemon(t, "")
	c := &console{t: t, d: d, tab: browsertest.New(t)}
	const newPassword = "Tern-selfservice-e2e-4b7e2a"
	const wrongPassword = "Not-Alices-password-71"
	for _, pw := range []string{testserver.Password(), testserver.Postfix.Password, newPassword, wrongPassword, d.OneTimePassword} {
		c.noSecret(pw)
	}
	c.firstLogin(newPassword)

	// 1. Outgoing mail through the System page's form: the test Postfix
	// with implicit TLS, the test CA and SMTP AUTH; a test mail reaches
	// the probe's mailbox.
	pf := testserver.Postfix
	c.open("/system")
	c.fill("outgoing mail", `#smtp-form input[name=host]`, pf.Host, `#smtp-form input[name=port]`, strconv.Itoa(pf.TLSPort),
		`#smtp-form select[name=tls]`, "implicit", `#smtp-form input[name=ca_file]`, testserver.CAFile(),
		`#smtp-form input[name=username]`, pf.User, `#smtp-form input[name=password]`, pf.Password, `#smtp-form input[name=from]`, "tern@test.example")
	c.submit("save the outgoing mail settings", `#smtp-form button[type=submit]`)
	c.tab.WaitText("#messages", "Outgoing mail settings saved", 5*time.Second)
	if got := c.tab.Text("#smtp-form .badge"); got != "set" {
		t.Fatalf("the System page says the SMTP password is %q, want set", got)
	}
	c.fill("test mail address", `#smtp-test input[name=to]`, testserver.MailAddress(probe))
	c.submit("send a test mail", `#smtp-test button[type=submit]`)
	c.tab.WaitText("#messages", "Test mail sent to "+testserver.MailAddress(probe), 5*time.Second)
	if m := waitMail(t, probe, subjectTest, nil); m.from != "tern@test.example" {
		t.Fatalf("the test mail comes from %q", m.from)
	}
	logStep("step 1 (login, outgoing mail, test mail)")

	// 2. Connectors: the source without any administrator or magic
	// password (users give their own), the target with a magic
	// password; the project, throttled so that the move still runs when
	// the user's browser closes; the two users, added by hand.
	c.addConnector("oldmail", testserver.DovecotSrc, "")
	c.addConnector("newmail", testserver.DovecotDst, testserver.Password())
	c.open("/connectors")
	if list := c.tab.Text("main table tbody"); !regexp.MustCompile(`oldmail\t.*per-user passwords`).MatchString(list) || !regexp.MustCompile(`newmail\t.*magic password`).MatchString(list) {
		t.Fatalf("connectors list, want oldmail with per-user passwords and newmail with a magic password:\n%s", list)
	}
	projectPath := c.createProject("Self-service e2e", "oldmail", "newmail")
	projectID := path.Base(projectPath)
	c.addUser(alice, aliceAddr)
	c.addUser(bob, bobAddr)
	c.open(projectPath)
	c.fill("throttling", `#project-settings input[name=workers]`, "1", `#project-settings input[name=rate]`, "10")
	c.submit("save the settings", `#project-settings button[type=submit]`)
	c.tab.WaitText("#messages", "saved", 5*time.Second)
	logStep("step 2 (connectors, project, users)")

	// 3. Invitations from the users page; they reach the users'
	// mailboxes through Postfix, each with its own link to this console's
	// origin.
	c.open(projectPath + "/users")
	c.selectUsers([]string{alice, bob})
	c.submit("send invitations", `#send-invitations`)
	c.tab.WaitText("#messages", "2 invitations sent", 5*time.Second)
	c.requireInvitations(projectPath, map[string]string{alice: "sent", bob: "sent"})
	invitation := waitMail(t, alice, subjectInvitation, nil)
	aliceLink := invitation.link(t)
	if !strings.HasPrefix(aliceLink, d.Addr+"/s/") {
		t.Fatalf("the link %s is not on the console's origin %s", aliceLink, d.Addr)
	}
	if !strings.Contains(invitation.text, alice) || !strings.Contains(invitation.text, testserver.DovecotSrc.Host) || !strings.Contains(invitation.text, aliceAddr) {
		t.Fatalf("the invitation does not name the login, the source server and the target:\n%s", invitation.text)
	}
	c.noSecretIn("the invitation", string(invitation.raw))
	bobFirst := waitMail(t, bob, subjectInvitation, nil).link(t)
	if bobFirst == aliceLink {
		t.Fatal("alice and bob got the same link")
	}
	logStep("step 3 (invitations sent and read)")

	// 4. Alice opens the link in a browser of her own, never logged in to
	// the console: it names the server and her login; a wrong password
	// is refused with a clear message and the form stays; the right one
	// starts the move, and the status page follows it live. She closes
	// the browser at once.
	u := &console{t: t, d: d, tab: browsertest.New(t), secrets: c.secrets}
	u.tab.Allow("status of 422") // the page of the refused password
	u.load("open the invitation", chromedp.Navigate(aliceLink))
	u.public("the password form")
	if h := u.tab.Text("main h1"); h != "Move your mailbox" {
		t.Fatalf("the link opens %q", h)
	}
	if txt := u.tab.Text("main"); !strings.Contains(txt, testserver.DovecotSrc.Host) || !strings.Contains(txt, alice) {
		t.Fatalf("the page does not name the source server and the login:\n%s", txt)
	}
	c.requireInvitations(projectPath, map[string]string{alice: "opened", bob: "sent"})
	u.fill("a wrong password", `#selfservice-form input[name=password]`, wrongPassword)
	if st := u.tab.Load("submit a wrong password", chromedp.Click(chromedp.CSS(`#selfservice-form button[type=submit]`))); st != 422 {
		t.Fatalf("a wrong password: status %d\n%s", st, u.tab.Text("main"))
	}
	u.public("the refused password")
	if msg := u.tab.Text("#form-error"); !strings.Contains(msg, "The server refused this password") {
		t.Fatalf("a wrong password says %q", msg)
	}
	u.fill("the right password", `#selfservice-form input[name=password]`, testserver.Password())
	u.submit("submit the right password", `#selfservice-form button[type=submit]`)
	if got := u.tab.URL(); got != aliceLink {
		t.Fatalf("after the right password: %s, want the link's page", got)
	}
	u.public("the status page")
	if h := u.tab.Text("main h1"); h != "Your mailbox move" {
		t.Fatalf("after the right password the page says %q", h)
	}
	live := browsertest.Eval[bool](u.tab, `!!document.querySelector("#selfservice-progress[hx-get][hx-trigger]")`)
	if state := u.tab.Text("#selfservice-state"); !live || state != "Waiting" && state != "Copying" {
		t.Fatalf("the status page is not live (polls %v, state %q):\n%s", live, state, u.tab.Text("main"))
	}
	submitted, publicPages := time.Now(), u.pages
	if err := chromedp.Cancel(u.tab.Ctx); err != nil {
		t.Fatalf("close the user's browser: %v", err)
	}
	if st := d.invitationStates(projectID)[alice]; st.State != "migrating" {
		t.Fatalf("after the browser closed the invitation is %+v, want migrating", st)
	}
	logStep("step 4 (wrong and right password, browser closed)")

	// 5. The move ends by itself: the target holds the source's mail
	// (with the invitation that was in it) byte for byte; the completion
	// e-mail arrives with the same link; the users page says done.
	deadline := time.Now().Add(60 * time.Second)
	for st := d.invitationStates(projectID)[alice]; st.State != "done"; st = d.invitationStates(projectID)[alice] {
		if st.State == "failed" || time.Now().After(deadline) {
			t.Fatalf("alice's invitation is %+v, want done\ndaemon log (tail):\n%s", st, tail(d.Log(), 40))
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("the move ended %v after the password was accepted", time.Since(submitted).Round(time.Millisecond))
	done := waitMail(t, alice, subjectDone, nil)
	if got := done.link(t); got != aliceLink {
		t.Fatalf("the completion e-mail links to %s, want %s", got, aliceLink)
	}
	moved := mb.Count() + 1 // the seeded mail and the invitation
	if want := fmt.Sprintf("%d messages copied", moved); !strings.Contains(done.text, want) {
		t.Fatalf("the completion e-mail does not say %q:\n%s", want, done.text)
	}
	c.noSecretIn("the completion e-mail", string(done.raw))
	requireSameButLater(t, alice, aliceAddr, moved, done.raw)
	c.requireInvitations(projectPath, map[string]string{alice: "done", bob: "sent"})
	logStep("step 5 (move done, verified, completion e-mail)")

	// 6. The link, opened again in a new browser, shows the move done.
	u = &console{t: t, d: d, tab: browsertest.New(t), secrets: c.secrets}
	u.tab.Allow("status of 404") // the invalid links below
	u.load("open the link again", chromedp.Navigate(aliceLink))
	u.public("the status page when done")
	if state := u.tab.Text("#selfservice-state"); state != "Done" {
		t.Fatalf("the link of a finished move says %q:\n%s", state, u.tab.Text("main"))
	}
	if browsertest.Eval[bool](u.tab, `!!document.querySelector("#selfservice-progress[hx-get]")`) {
		t.Fatal("the status page of a finished move still polls")
	}
	if got := u.tab.Text("#selfservice-copied"); got != strconv.Itoa(moved) {
		t.Fatalf("the status page says %s messages copied, want %d", got, moved)
	}
	// The live part that the page polls while the move runs.
	if r := u.tab.Fetch(aliceLink + "/status"); r.Status != 200 || !strings.Contains(r.Body, `id="selfservice-progress"`) || !strings.Contains(r.Body, "Done") {
		t.Fatalf("the status part of a finished move: status %d\n%s", r.Status, r.Body)
	}

	// 7. Bob's invitation is re-sent (his first link is superseded), then
	// revoked, from the project's self-service page.
	c.open(projectPath + "/selfservice")
	if row := browsertest.Eval[string](c.tab, fmt.Sprintf(`[...document.querySelectorAll("#invitations tbody tr")].find(r => r.innerText.includes(%q))?.innerText ?? ""`, alice)); !strings.Contains(row, aliceAddr) || !strings.Contains(row, "done") {
		t.Fatalf("alice's row on the self-service page: %q, want sent to %s and done", row, aliceAddr)
	}
	c.invitationRowButton(bob, "resend")
	c.tab.WaitText("#messages", "1 invitations sent", 5*time.Second)
	bobSecond := waitMail(t, bob, subjectInvitation, func(m ternMail) bool { return !strings.Contains(m.text, bobFirst) }).link(t)
	c.invitationRowButton(bob, "revoke")
	c.tab.WaitText("#messages", "The link of "+bob+" was revoked", 5*time.Second)
	if st := d.invitationStates(projectID); st[bob].State != "revoked" || st[alice].State != "done" {
		t.Fatalf("invitations after the revocation: %+v", st)
	}
	c.requireInvitations(projectPath, map[string]string{alice: "done", bob: "revoked"})

	// Every link that does not open a page gets the one answer, byte for
	// byte, whatever the reason.
	invalid := []struct{ why, link string }{
		{"revoked", bobSecond},
		{"revoked (its live part)", bobSecond + "/status"},
		{"superseded by a re-send", bobFirst},
		{"with a tampered signature", forgeLink(t, aliceLink, 10, time.Time{})},
		{"with an expiry set in the past", forgeLink(t, aliceLink, 0, time.Now().Add(-24*time.Hour))},
		{"made up", d.Addr + "/s/" + strings.Repeat("A", 32) + "." + strings.Repeat("B", 43)},
	}
	ref := u.tab.Fetch(invalid[0].link)
	if ref.Status != 404 || !strings.Contains(ref.Body, invalidLinkText) {
		t.Fatalf("a revoked link: status %d\n%s", ref.Status, ref.Body)
	}
	for _, x := range invalid {
		if r := u.tab.Fetch(x.link); r.Status != ref.Status || r.Body != ref.Body {
			t.Fatalf("a link %s: status %d, want the revoked link's %d and the same page\n%s\nthe revoked link's page:\n%s", x.why, r.Status, ref.Status, r.Body, ref.Body)
		}
		if st := u.tab.Load("open a link "+x.why, chromedp.Navigate(x.link)); st != 404 {
			t.Fatalf("a link %s: status %d in the browser", x.why, st)
		}
		u.public("a link " + x.why)
		if txt := u.tab.Text("main"); !strings.Contains(txt, invalidLinkText) {
			t.Fatalf("a link %s says:\n%s", x.why, txt)
		}
	}
	// Alice's link still works.
	u.load("open alice's link after the others", chromedp.Navigate(aliceLink))
	u.tab.WaitText("#selfservice-state", "Done", 5*time.Second)
	logStep("steps 6–7 (done page, invalid links)")

	// 8. No password in what the daemon logged (the one-time password is
	// printed on purpose, at the first start).
	c.secrets = slices.DeleteFunc(c.secrets, func(re *regexp.Regexp) bool {
		return strings.Contains(re.String(), regexp.QuoteMeta(d.OneTimePassword))
	})
	c.noSecretIn("the daemon's log", d.Log())
	t.Logf("checked %d console pages and %d public pages for passwords; all done after %v", c.pages, publicPages+u.pages, time.Since(start).Round(time.Millisecond))
}
