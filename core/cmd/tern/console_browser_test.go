package main_test

// The console's end-to-end test: an administrator drives the whole
// product in a real headless Chromium (internal/browsertest) against the
// real daemon (tern serve) and the real Dovecot instances: first login
// and the forced password change, connectors made with the form the
// plugin's schema generates and their connection test, a project, a CSV
// import with a bad line, a batch followed live to its end, a user's
// report and its CSV, pause and resume of a throttled batch, and kill -9
// of the daemon in the middle of a delta pass, after which the batch goes
// on by itself. An independent IMAP client then checks every target
// mailbox against its source: nothing lost, nothing twice. No page may
// show a password, and the browser may report no JavaScript error,
// console error or CSP violation.

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ternmail/tern/internal/browsertest"
	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
)

// console is the administrator's browser on a daemon.
type console struct {
	t   *testing.T
	d   *daemon
	tab *browsertest.Tab
	// secrets must appear in no page.
	secrets []*regexp.Regexp
	pages   int
}

// noSecret adds a password that no page may show. A password is found as
// a whole word, so that a short one ("secret") is not found inside
// "secrets store".
func (c *console) noSecret(pw string) {
	c.secrets = append(c.secrets, regexp.MustCompile(`(^|[^A-Za-z0-9_-])`+regexp.QuoteMeta(pw)+`($|[^A-Za-z0-9_-])`))
}

// check fails the test if the page as the browser has it now shows a
// password.
func (c *console) check(where string) {
	c.t.Helper()
	c.pages++
	c.noSecretIn(where+": the page", c.tab.HTML())
}

// load runs actions that open a page, requires status 200 and checks the
// page for secrets.
func (c *console) load(step string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if status := c.tab.Load(step, actions...); status != 200 {
		c.t.Fatalf("%s: status %d\n%s", step, status, c.tab.Text("main"))
	}
	c.check(step)
}

// open opens a page of the console by its path.
func (c *console) open(path string) {
	c.t.Helper()
	c.load("open "+path, chromedp.Navigate(c.d.Addr+path))
}

// submit clicks a submit button (or link) that opens a page.
func (c *console) submit(step, sel string) {
	c.t.Helper()
	c.load(step, chromedp.Click(chromedp.CSS(sel)))
}

// fill sets form fields: pairs of CSS selector and value.
func (c *console) fill(step string, pairs ...string) {
	c.t.Helper()
	var actions []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(pairs); i += 2 {
		actions = append(actions, chromedp.SetValue(chromedp.CSS(pairs[i]), pairs[i+1]))
	}
	c.tab.Do(step, actions...)
}

// login logs in through the login page.
func (c *console) login(name, pw string) {
	c.t.Helper()
	c.open("/login")
	c.fill("login form", `input[name=name]`, name, `input[name=password]`, pw)
	c.submit("log in as "+name, `main form button[type=submit]`)
}

// number reads the integer shown in sel.
func (c *console) number(sel string) int {
	c.t.Helper()
	s := strings.TrimSpace(browsertest.Eval[string](c.tab, fmt.Sprintf(`document.querySelector(%q)?.innerText ?? ""`, sel)))
	n, err := strconv.Atoi(s)
	if err != nil {
		c.t.Fatalf("%s shows %q, not a number", sel, s)
	}
	return n
}

// waitFor polls cond (a JavaScript boolean expression) until it is true.
func (c *console) waitFor(what, cond string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !browsertest.Eval[bool](c.tab, cond) {
		if time.Now().After(deadline) {
			c.t.Fatalf("waited %v for %s; the page says:\n%s", timeout, what, c.tab.Text("main"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// batchState is the badge of the batch page's state.
const batchState = "#batch-progress .toolbar .badge"

// waitState waits until the batch page shows state.
func (c *console) waitState(state string, timeout time.Duration) {
	c.t.Helper()
	c.waitFor("batch state "+state, fmt.Sprintf(`document.querySelector(%q)?.dataset.status === %q`, batchState, state), timeout)
	c.check("batch page in state " + state)
}

// consoleMailbox is a user's mail for the console test: a benchmark
// mailbox (eight folders, two levels, flags, dates in several zones)
// without its messages over 256 KiB, so that the test stays quick.
func consoleMailbox(seed int64, n int) corpus.Mailbox {
	mb := corpus.Bench(1, n, seed)[0]
	for i := range mb {
		var keep []corpus.Message
		for _, m := range mb[i].Messages {
			if m.Size <= 256<<10 {
				keep = append(keep, m)
			}
		}
		mb[i].Messages = keep
	}
	return mb
}

func seedConsole(t *testing.T, users []string, mbs []corpus.Mailbox) {
	t.Helper()
	if _, err := testserver.SeedParallel(testserver.DovecotSrc, users, mbs, 2, nil); err != nil {
		t.Fatal(err)
	}
}

func TestConsoleBrowser(t *testing.T) {
	testserver.Ensure(t)
	start := time.Now()

	// The mail: three users imported from a CSV (batch "first"), two added
	// one by one (batch "second", paused and resumed).
	var src, dst []string
	for i := range 5 {
		src = append(src, testserver.User(t, fmt.Sprintf("con%d", i)))
		dst = append(dst, testserver.User(t, fmt.Sprintf("con%d-new", i)))
	}
	mbs := make([]corpus.Mailbox, len(src))
	for i := range mbs {
		mbs[i] = consoleMailbox(int64(100+i), 110)
	}
	seedConsole(t, src, mbs)

	d := startDaemon(t, "")
	c := &console{t: t, d: d, tab: browsertest.New(t)}
	const newPassword = "Tern-console-e2e-9f4c1d"
	c.noSecret(testserver.Password())
	c.noSecret(d.OneTimePassword)
	c.noSecret(newPassword)

	// 1. First login with the one-time password; the console asks for a
	// password of one's own before anything else.
	c.firstLogin(newPassword)

	// 2. The connectors, with the form generated from the imap plugin's
	// settings schema, and a magic password (no administrator user).
	c.addConnector("oldmail", testserver.DovecotSrc, testserver.Password())
	c.addConnector("newmail", testserver.DovecotDst, testserver.Password())
	c.open("/connectors/oldmail")
	c.fill("sample user", `input[name=sample_user]`, src[0])
	c.tab.Do("test the connection", chromedp.Click(chromedp.CSS(`form[action$="/test"] button[type=submit]`)))
	report := c.tab.WaitText("#test-report", "Recommended", 30*time.Second)
	if !strings.Contains(report, "works") || strings.Contains(report, "no login worked") || !strings.Contains(report, src[0]) {
		t.Fatalf("connection test report:\n%s", report)
	}
	c.check("connection test report")
	c.open("/connectors")
	if list := c.tab.Text("main table"); !strings.Contains(list, "oldmail") || !strings.Contains(list, "newmail") || !strings.Contains(list, "magic password") {
		t.Fatalf("connectors list:\n%s", list)
	}

	// 3. The project.
	projectPath := c.createProject("Console e2e", "oldmail", "newmail")
	t.Logf("steps 1–3 (login, connectors, project) done after %v", time.Since(start).Round(time.Millisecond))

	// 4. Import three users from a CSV with one bad line: the preview
	// names the line, the import leaves it out.
	csvFile := filepath.Join(t.TempDir(), "users.csv")
	csvText := fmt.Sprintf("source_user,target_user\n%s,%s\nbad user,x@example.com\n%s,%s\n%s,%s\n", src[0], dst[0], src[1], dst[1], src[2], dst[2])
	if err := os.WriteFile(csvFile, []byte(csvText), 0o600); err != nil {
		t.Fatal(err)
	}
	c.submit("open the import page", `a[href$="/users/import"]`)
	c.tab.Do("choose the file", chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][name=file]`), []string{csvFile}))
	c.submit("preview the import", `#import-preview`)
	if sum := c.tab.Text("#import-summary"); !strings.HasPrefix(sum, "3 new users") || !strings.Contains(sum, "1 lines left out") {
		t.Fatalf("import preview: %q", sum)
	}
	if errs := c.tab.Text("#import-errors tbody"); !strings.HasPrefix(errs, "3\t") || !strings.Contains(errs, "bad user") {
		t.Fatalf("the preview does not name line 3: %q", errs)
	}
	c.submit("confirm the import", `#import-confirm`)
	c.tab.WaitText("#messages", "3 users added", 5*time.Second)
	users := c.tab.Text("#users tbody")
	for i := range 3 {
		if !strings.Contains(users, src[i]) || !strings.Contains(users, dst[i]) {
			t.Fatalf("the users list lacks %s → %s:\n%s", src[i], dst[i], users)
		}
	}
	if strings.Contains(users, "bad user") {
		t.Fatalf("the bad line was imported:\n%s", users)
	}

	// 5. A batch of the three, followed live to its end; a user's report
	// and its CSV.
	c.selectUsers(src[:3])
	c.fill("batch name", `#users-select input[name=name]`, "first")
	c.submit("start batch first", `#start-batch`)
	firstBatch := strings.TrimPrefix(c.tab.URL(), d.Addr)
	c.waitState("done", 60*time.Second)
	want := 0
	for _, mb := range mbs[:3] {
		want += mb.Count()
	}
	if got := c.tab.Text("#batch-done"); got != "3/3" {
		t.Fatalf("batch first: %s users done, want 3/3", got)
	}
	if got := c.number("#batch-copied"); got != want {
		t.Fatalf("batch first: %d messages copied, want %d", got, want)
	}
	t.Logf("step 5: batch first copied %d messages, done after %v", want, time.Since(start).Round(time.Millisecond))
	c.load("open the report of "+src[0], chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`[...document.querySelectorAll("#batch-users tbody tr")].find(r => r.innerText.includes(%q)).querySelector('a[href$="/report"]').click()`, src[0])))
	c.checkReport(src[0], mbs[0])
	t.Logf("steps 4–5 done after %v", time.Since(start).Round(time.Millisecond))

	// 6. Throttle the project (one message at a time, 5 a second per
	// mailbox) so that a batch runs long enough to be caught; add two
	// users one by one; pause their batch while it runs, and resume it.
	c.open(projectPath)
	c.fill("throttling", `#project-settings input[name=workers]`, "1", `#project-settings input[name=rate]`, "5")
	c.submit("save the settings", `#project-settings button[type=submit]`)
	c.tab.WaitText("#messages", "saved", 5*time.Second)
	c.open(projectPath + "/users")
	for i := 3; i < 5; i++ {
		c.addUser(src[i], dst[i])
	}
	c.selectUsers(src[3:5])
	c.fill("batch name", `#users-select input[name=name]`, "second")
	c.submit("start batch second", `#start-batch`)
	c.waitCopying()
	c.submit("pause batch second", `#batch-pause`)
	c.waitState("paused", 15*time.Second)
	c.waitFor("the running passes to stop", `![...document.querySelectorAll("#batch-users [data-status]")].some(e => e.dataset.status === "running")`, 30*time.Second)
	if rows := c.tab.Text("#batch-users tbody"); strings.Count(rows, "paused") != 2 {
		t.Fatalf("users of the paused batch:\n%s", rows)
	}
	// Paused means nothing more reaches the target, as an IMAP client
	// sees it.
	total := mbs[3].Count() + mbs[4].Count()
	paused, shown := targetCount(t, dst[3:5]), c.number("#batch-copied")
	if paused == 0 || paused >= total {
		t.Fatalf("batch second was paused with %d of %d messages on the target: the test did not pause a running batch", paused, total)
	}
	time.Sleep(3 * time.Second) // the page polls every 2 s
	if now := targetCount(t, dst[3:5]); now != paused {
		t.Fatalf("batch second is paused, yet the target went from %d to %d messages", paused, now)
	}
	if now := c.number("#batch-copied"); now != shown {
		t.Fatalf("batch second is paused, yet the page's copied count went from %d to %d", shown, now)
	}
	t.Logf("step 6: batch second paused with %d of %d messages on the target", paused, total)
	c.submit("resume batch second", `#batch-resume`)
	c.waitState("done", 60*time.Second)
	if got := c.tab.Text("#batch-done"); got != "2/2" {
		t.Fatalf("batch second: %s users done, want 2/2", got)
	}
	// The batch's report adds up the try that the pause stopped and the
	// one that finished the pass.
	c.checkBatchCSV(src[3:5], dst[3:5], "1", []int{mbs[3].Count(), mbs[4].Count()})
	t.Logf("step 6: batch second done after %v", time.Since(start).Round(time.Millisecond))

	// 7. New mail for the first three users and a delta pass of batch
	// first; kill -9 of the daemon in its middle. Started again, the
	// daemon goes on with the pass by itself.
	more := make([]corpus.Mailbox, 3)
	for i := range more {
		more[i] = consoleMailbox(int64(200+i), 110)
	}
	seedConsole(t, src[:3], more)
	c.open(firstBatch)
	c.submit("run a delta pass of batch first", `#batch-rerun`)
	c.waitCopying()
	// Leave the live page first: its polling would fail while the daemon
	// is down, and the browser would say so.
	c.tab.Do("leave the console", chromedp.Navigate("about:blank"))
	d.Kill()
	copied, before, all := targetCount(t, dst[:3]), 0, 0
	for i := range 3 {
		before += mbs[i].Count()
		all += mbs[i].Count() + more[i].Count()
	}
	if copied <= before || copied >= all {
		t.Fatalf("killed with %d messages on the target, %d before the delta pass and %d after: the test did not interrupt a pass that copies", copied, before, all)
	}
	t.Logf("step 7: killed the daemon with %d of %d messages on the target", copied, all)
	d.Restart()
	c.open(firstBatch)
	if strings.Contains(c.tab.URL(), "/login") {
		t.Log("step 7: the session ended with the daemon; logging in again")
		c.login("admin", newPassword)
		c.open(firstBatch)
	}
	c.waitState("done", 90*time.Second)
	if got := c.tab.Text("#batch-done"); got != "3/3" {
		t.Fatalf("batch first after the restart: %s users done, want 3/3", got)
	}
	if got := c.tab.Text("#batch-progress .toolbar p"); !strings.Contains(got, "pass 2") {
		t.Fatalf("batch first after the restart: %q, want pass 2", got)
	}
	// What the killed try copied is in no report: only the passes count.
	c.checkBatchCSV(src[:3], dst[:3], "2", []int{-1, -1, -1})
	t.Logf("step 7: the delta pass finished after the restart, after %v", time.Since(start).Round(time.Millisecond))

	// Every target mailbox holds exactly its source's messages, with
	// their dates and flags: none lost, none twice.
	for i := range src {
		requireSameFrom(t, testserver.DovecotSrc, src[i], dst[i])
	}
	t.Logf("checked %d pages for passwords; all done after %v", c.pages, time.Since(start).Round(time.Millisecond))
}

// waitCopying waits until the batch page shows a user whose pass is
// running and copied messages (a queued user shows its last pass's
// counts, the batch's totals add them up).
func (c *console) waitCopying() {
	c.t.Helper()
	c.waitFor("a running pass that copied messages",
		`[...document.querySelectorAll("#batch-users tbody tr")].some(r => r.querySelector("[data-status=running]") && parseInt(r.cells[3].innerText, 10) > 0)`, 30*time.Second)
}

// targetCount counts the messages of users on the target, as an IMAP
// client sees them.
func targetCount(t *testing.T, users []string) int {
	t.Helper()
	n := 0
	for _, u := range users {
		n += testserver.Snapshot(t, testserver.DovecotDst, u).Count()
	}
	return n
}

// selectUsers ticks the users' boxes on the users page.
func (c *console) selectUsers(users []string) {
	c.t.Helper()
	for _, u := range users {
		c.tab.Do("select "+u, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#users input[type=checkbox][aria-label="select %s"]`, u))))
	}
}

// download fetches the CSV of the download link sel with the browser's
// session and checks its headers and its header row.
func (c *console) download(sel, header string) ([][]string, string) {
	t := c.t
	t.Helper()
	href := browsertest.Eval[string](c.tab, fmt.Sprintf(`document.querySelector(%q).href`, sel))
	r := c.tab.Fetch(href)
	if r.Status != 200 || !strings.HasPrefix(r.Header["content-type"], "text/csv") || !strings.Contains(r.Header["content-disposition"], "attachment") {
		t.Fatalf("CSV %s: status %d, headers %v", href, r.Status, r.Header)
	}
	c.noSecretIn("CSV "+href, r.Body)
	cr := csv.NewReader(strings.NewReader(r.Body))
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("CSV %s: %v\n%s", href, err, r.Body)
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != header {
		t.Fatalf("CSV %s: header %q, want %q", href, rows, header)
	}
	return rows, r.Body
}

// checkBatchCSV checks the batch page's CSV: a row per user with its
// status, passes and failures, and with copied, if not negative, the
// messages copied in all the batch's passes.
func (c *console) checkBatchCSV(src, dst []string, passes string, copied []int) {
	t := c.t
	t.Helper()
	rows, body := c.download(`main a[href$="/report.csv"]`,
		"source,target,status,passes,copied,bytes,skipped,failed,last pass seconds,error")
	if len(rows) != len(src)+1 {
		t.Fatalf("batch CSV: %d users, want %d:\n%s", len(rows)-1, len(src), body)
	}
	for i, row := range rows[1:] {
		if row[0] != src[i] || row[1] != dst[i] || row[2] != "done" || row[3] != passes || row[7] != "0" || copied[i] >= 0 && row[4] != strconv.Itoa(copied[i]) {
			t.Fatalf("batch CSV: row %q, want %s → %s done in %s passes with %d copied:\n%s", row, src[i], dst[i], passes, copied[i], body)
		}
	}
}

// checkReport checks the report page of a user's pass that copied all of
// mb, and its CSV.
func (c *console) checkReport(user string, mb corpus.Mailbox) {
	t := c.t
	t.Helper()
	n := mb.Count()
	if sum := c.tab.Text("#report-summary"); !strings.Contains(sum, fmt.Sprintf("%d in the source · %d copied", n, n)) || !strings.Contains(sum, " 0 failed") {
		t.Fatalf("report of %s:\n%s", user, sum)
	}
	folders := c.tab.Text("#report-folders tbody")
	rows, body := c.download("#report-csv", "source folder,target folder,source messages,copied,already there,skipped,failed,excluded,bytes,error")
	got := map[string][]string{}
	for _, row := range rows[1:] {
		if len(row) == 0 || len(row) == 1 && row[0] == "" {
			break
		}
		got[row[1]] = row
	}
	// The source's folders have their server's names ("." between
	// levels); the target's have "/", as the seeded ones.
	for _, f := range mb {
		row := got[f.Name]
		want := strconv.Itoa(len(f.Messages))
		if row == nil || row[0] != strings.ReplaceAll(f.Name, "/", testserver.DovecotSrc.Separator) || row[2] != want || row[3] != want || row[6] != "0" {
			t.Errorf("report CSV of %s: folder %s: %q, want %s in the source and copied", user, f.Name, row, want)
		}
		if !strings.Contains(folders, f.Name) {
			t.Errorf("the report page of %s lacks folder %s", user, f.Name)
		}
	}
	if t.Failed() {
		t.Fatalf("report CSV:\n%s", body)
	}
}
