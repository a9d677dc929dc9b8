// Package browsertest drives a real headless Chromium (Debian's chromium
// package, installed by scripts/install-deps.sh) from Go tests with
// chromedp. A test gets a browser tab whose JavaScript errors, console
// errors and Content-Security-Policy violations fail the test, so a page
// that "works" only because nothing checked the browser's complaints does
// not pass.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds the Chromium binary: $TERN_CHROMIUM, then chromium and
// chromium-browser on PATH.
func Path() (string, error) {
	if p := os.Getenv("TERN_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found: run scripts/install-deps.sh (Debian package chromium) or set TERN_CHROMIUM")
}

// Tab is a browser tab of a test.
type Tab struct {
	t   testing.TB
	Ctx context.Context

	mu       sync.Mutex
	problems []string
	allowed  []string
}

// New starts a headless Chromium with a fresh profile and returns a tab;
// everything is closed when the test ends. Chromium's background
// networking is off: the machine reaches nothing but loopback.
func New(t testing.TB) *Tab {
	t.Helper()
	path, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	tab := &Tab{t: t, Ctx: ctx}
	// The first action starts the browser; it binds the browser's life to
	// ctx, so it runs without a timeout of its own.
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				tab.problem(fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.String(), m.URL, m.Line+1))
			}
		}
	}()
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		<-done
		tab.mu.Lock()
		defer tab.mu.Unlock()
		for _, p := range tab.problems {
			t.Errorf("browser: %s", p)
		}
	})
	return tab
}

// Allow marks browser complaints containing text as expected (e.g. the
// 403 of a request a test makes fail on purpose).
func (b *Tab) Allow(text string) {
	b.mu.Lock()
	b.allowed = append(b.allowed, text)
	b.mu.Unlock()
}

func (b *Tab) problem(p string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.allowed {
		if strings.Contains(p, a) {
			return
		}
	}
	b.problems = append(b.problems, p)
}

// Problems returns the complaints seen so far (and forgets them).
func (b *Tab) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// Do runs actions with a timeout, failing the test with step's name and
// the page's body.
func (b *Tab) Do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\npage body:\n%s", step, err, b.body())
	}
}

func (b *Tab) body() string {
	ctx, cancel := context.WithTimeout(b.Ctx, 5*time.Second)
	defer cancel()
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	if len(html) > 4000 {
		html = html[:4000] + "…"
	}
	return html
}

// Text returns the visible text of the first node matching the CSS
// selector sel.
func (b *Tab) Text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("text of %s: %v\npage body:\n%s", sel, err, b.body())
	}
	return s
}

// Eval evaluates a JavaScript expression and returns its value.
func Eval[T any](b *Tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// WaitText waits until the text of the first node matching the CSS
// selector sel contains want, polling; it fails the test after timeout
// with what was there.
func (b *Tab) WaitText(sel, want string, timeout time.Duration) string {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	expr := fmt.Sprintf(`(() => { const n = document.querySelector(%q); return n ? n.innerText : ""; })()`, sel)
	var last string
	for {
		ctx, cancel := context.WithTimeout(b.Ctx, 5*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		cancel()
		if err == nil {
			last = v
			if strings.Contains(last, want) {
				return last
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waited %v for %q in %s; it says %q (err %v)\npage body:\n%s", timeout, want, sel, last, err, b.body())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Load runs actions that open a page (a click on a link or on a form's
// submit button, a navigation; an htmx request answered with HX-Redirect
// counts) and waits until it has loaded. It returns the HTTP status of
// the page's document, after redirects.
func (b *Tab) Load(step string, actions ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("%s: %v\npage body:\n%s", step, err, b.body())
	}
	var status int64
	if resp != nil {
		status = resp.Status
	}
	return status
}

// HTML returns the document's HTML as it is now (after scripts and htmx
// swaps).
func (b *Tab) HTML() string {
	b.t.Helper()
	return Eval[string](b, `document.documentElement.outerHTML`)
}

// URL returns the address of the page.
func (b *Tab) URL() string {
	b.t.Helper()
	return Eval[string](b, `location.href`)
}

// Response is what Fetch got.
type Response struct {
	Status int `json:"status"`
	// Header holds the response's headers, with lower-case names.
	Header map[string]string `json:"header"`
	Body   string            `json:"body"`
}

// Fetch GETs url from the page with fetch(), as the page's own scripts
// would: with the browser's cookies (HttpOnly ones too) and under the
// page's Content-Security-Policy. A download link's target is read so.
func (b *Tab) Fetch(url string) Response {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	arg, _ := json.Marshal(url)
	expr := fmt.Sprintf(`fetch(%s, {credentials: "same-origin"}).then(async r => {
		const header = {};
		r.headers.forEach((v, k) => { header[k] = v; });
		return JSON.stringify({status: r.status, header, body: await r.text()});
	})`, arg)
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("fetch %s: %v", url, err)
	}
	var r Response
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		b.t.Fatalf("fetch %s: %v", url, err)
	}
	return r
}
