// Package htmx names the HX-* headers of htmx 2 and reads the request
// ones (after pagoda's pkg/htmx). Only web's render and error handling
// look at them; handlers don't.
package htmx

import "net/http"

// Request headers.
const (
	HeaderRequest     = "HX-Request"     // "true" on every htmx request
	HeaderBoosted     = "HX-Boosted"     // "true" for hx-boost navigation
	HeaderTarget      = "HX-Target"      // id of the target element
	HeaderTrigger     = "HX-Trigger"     // id of the triggering element
	HeaderCurrentURL  = "HX-Current-URL" // the browser's URL
	HeaderHistoryMiss = "HX-History-Restore-Request"
)

// Response headers.
const (
	HeaderRedirect = "HX-Redirect" // client-side redirect (full page load)
	HeaderRefresh  = "HX-Refresh"  // "true": reload the page
	HeaderRetarget = "HX-Retarget" // CSS selector replacing hx-target
	HeaderReswap   = "HX-Reswap"   // replaces hx-swap
	HeaderPushURL  = "HX-Push-Url"
	HeaderTriggerR = "HX-Trigger" // events to trigger on the client
)

// Request is what an htmx request says about itself.
type Request struct {
	Enabled bool // an htmx request
	Boosted bool // hx-boost navigation: wants the whole page
	Target  string
	Trigger string
	// HistoryRestore: htmx asks for the whole page after a history miss.
	HistoryRestore bool
}

// GetRequest reads the htmx headers of r.
func GetRequest(r *http.Request) Request {
	return Request{
		Enabled:        r.Header.Get(HeaderRequest) == "true",
		Boosted:        r.Header.Get(HeaderBoosted) == "true",
		Target:         r.Header.Get(HeaderTarget),
		Trigger:        r.Header.Get(HeaderTrigger),
		HistoryRestore: r.Header.Get(HeaderHistoryMiss) == "true",
	}
}

// Partial reports whether the response should be the page's content only.
func (r Request) Partial() bool { return r.Enabled && !r.Boosted && !r.HistoryRestore }
