package web

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// A page's own polling (X-Tern-Poll) does not count as activity: an
// unattended dashboard's session still ends after the idle limit, while
// an administrator's requests keep it alive.
func TestPollingIsNotActivity(t *testing.T) {
	e := newEnv(t, nil)
	var mu sync.Mutex
	now := time.Now()
	e.srv.sessions.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	b := e.admin("ada")
	if r := b.get("/"); r.code != http.StatusOK || !strings.Contains(r.body, `"X-Tern-Poll": "1"`) {
		t.Fatalf("dashboard: %d, or its polling is not marked", r.code)
	}
	poll := map[string]string{"HX-Request": "true", pollHeader: "1"}
	// Polling every 5 minutes for 40 minutes: the session ends at 30.
	for range 8 {
		advance(5 * time.Minute)
		b.do("GET", "/dashboard/activity", nil, poll)
	}
	if r := b.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("after 40 minutes of polling alone the session is alive: %d", r.code)
	}
	// The same with the administrator's own requests keeps it.
	b = e.browser()
	b.login("ada", testPassword)
	for range 8 {
		advance(5 * time.Minute)
		if r := b.get("/connectors"); r.code != http.StatusOK {
			t.Fatalf("an active session ended: %d", r.code)
		}
	}
}
