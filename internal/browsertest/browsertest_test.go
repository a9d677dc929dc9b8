package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const csp = "default-src 'self'; script-src 'self'"

func page(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Security-Policy", csp)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><html><head><title>t</title><script src=\"/app.js\"></script></head><body>%s</body></html>", body)
}

// The harness sees what the page does, and fails on what the browser
// complains about: an inline script blocked by the CSP is reported.
func TestHarness(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/app.js":
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, `document.addEventListener("DOMContentLoaded", () => { document.getElementById("b").addEventListener("click", () => { document.getElementById("out").textContent = "clicked " + document.getElementById("in").value; }); });`)
		case "/inline":
			page(w, `<p id="out">x</p><script>document.getElementById("out").textContent = "inline ran";</script>`)
		default:
			page(w, `<input id="in"><button id="b">go</button><p id="out">not yet</p>`)
		}
	}))
	defer srv.Close()

	tab := New(t)
	tab.Do("open", chromedp.Navigate(srv.URL+"/"), chromedp.SendKeys(chromedp.ID("in"), "tern"), chromedp.Click(chromedp.ID("b")))
	if got := tab.WaitText("#out", "clicked tern", 5*time.Second); got != "clicked tern" {
		t.Fatalf("out = %q", got)
	}
	if p := tab.Problems(); len(p) != 0 {
		t.Fatalf("complaints on a clean page: %q", p)
	}

	tab.Do("inline", chromedp.Navigate(srv.URL+"/inline"))
	if got := tab.Text("#out"); got != "x" {
		t.Fatalf("the inline script ran under the CSP: %q", got)
	}
	// Give the browser a moment to report the violation.
	deadline := time.Now().Add(5 * time.Second)
	var p []string
	for time.Now().Before(deadline) {
		if p = append(p, tab.Problems()...); len(p) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(p) == 0 || !strings.Contains(strings.Join(p, " "), "Content Security Policy") {
		t.Fatalf("the CSP violation was not reported: %q", p)
	}
}

// Load waits for the page a click opens and gives its status; Fetch
// reads a download with the browser's HttpOnly cookie.
func TestLoadAndFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			http.SetCookie(w, &http.Cookie{Name: "s", Value: "v1", HttpOnly: true, Path: "/"})
			page(w, `<form method="post" action="/go"><button id="b">go</button></form><a id="csv" href="/file.csv">CSV</a>`)
		case "/go":
			http.Redirect(w, r, "/gone", http.StatusSeeOther)
		case "/gone":
			w.WriteHeader(http.StatusTeapot)
			page(w, `<p id="out">there</p>`)
		case "/file.csv":
			c, err := r.Cookie("s")
			if err != nil {
				http.Error(w, "no cookie", http.StatusForbidden)
				return
			}
			w.Header().Set("Content-Disposition", `attachment; filename="x.csv"`)
			fmt.Fprintf(w, "a,b\n%s,2\n", c.Value)
		}
	}))
	defer srv.Close()

	tab := New(t)
	if status := tab.Load("open", chromedp.Navigate(srv.URL+"/")); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	href := Eval[string](tab, `document.getElementById("csv").href`)
	r := tab.Fetch(href)
	if r.Status != http.StatusOK || r.Body != "a,b\nv1,2\n" || !strings.Contains(r.Header["content-disposition"], "x.csv") {
		t.Fatalf("fetch: %+v", r)
	}
	tab.Allow("status of 418") // the browser reports an error status
	if status := tab.Load("submit", chromedp.Click(chromedp.ID("b"))); status != http.StatusTeapot {
		t.Fatalf("after the redirect: status %d", status)
	}
	if u := tab.URL(); u != srv.URL+"/gone" || !strings.Contains(tab.HTML(), `<p id="out">there</p>`) {
		t.Fatalf("at %s: %s", u, tab.HTML())
	}
}
