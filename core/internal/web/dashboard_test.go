package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/scheduler"
)

func TestDashboard(t *testing.T) {
	be := newBatchEnv(t)
	b := be.admin("ada")

	// Idle: zeros, an empty chart with its scale.
	r := b.get("/")
	mustContain(t, "idle dashboard", r.body, `id="activity" hx-get="/dashboard/activity" hx-headers='{"X-Tern-Poll": "1"}' hx-trigger="every 5s" hx-swap="outerHTML"`,
		"No batch is scheduled, running or paused.", `<svg id="throughput"`, ">10</text>", "3 new")
	if strings.Contains(r.body, `class="bar"`) {
		t.Errorf("bars on an idle chart")
	}

	// A batch at work: 50 messages in 10 s.
	nb := be.apiBatch(`{"name":"night","users":["u0","u1"]}`)
	calls := be.nextN(2)
	be.sched.Tick()
	be.clock.Add(10 * time.Second)
	calls["u0"].prog.ToCopy.Store(200)
	calls["u0"].prog.Copied.Store(50)
	calls["u0"].prog.BytesCopied.Store(3 << 20)
	be.sched.Tick()

	r = b.do("GET", "/dashboard/activity", nil, map[string]string{"HX-Request": "true"})
	if r.code != http.StatusOK || strings.Contains(r.body, "<html") {
		t.Fatalf("activity partial: %d %s", r.code, r.body)
	}
	at := be.clock.Now().Truncate(scheduler.SampleEvery).Local().Format("15:04:05")
	mustContain(t, "activity", r.body, `hx-trigger="every 5s"`,
		`<article class="card" id="overview-mailboxes"><h3>Mailboxes now</h3>`+"\n      "+`<p class="big">2</p><p>running · 0 waiting · 0 queued</p>`,
		`<p class="big">50</p><p>messages · 3.0 MB since the start</p>`, `<p class="big">5.0</p><p>messages/s · 307.2 KB/s</p>`,
		`<p class="big">3</p><p>1 new · 2 running</p>`, "1 running",
		`<a href="/projects/`+be.p.ID+`/batches/`+nb.ID+`">night</a></td><td>main</td>`, "<td>50/200</td><td>5.0/s</td><td>30s</td>",
		"<title>"+at+": 50 messages, 3.0 MB</title>", "50 messages, 3.0 MB in the last hour", ">25</text>", ">50</text>",
		be.clock.Now().Local().Format("15:04")+"</text>", be.clock.Now().Add(-scheduler.History).Add(scheduler.SampleEvery).Local().Format("15:04")+"</text>")
	if n := strings.Count(r.body, `<rect class="bar"`); n != 1 {
		t.Errorf("%d bars, want 1", n)
	}
	checkHTML(t, "activity", r.body)
	// The full page has the same live part.
	mustContain(t, "dashboard", b.get("/").body, `<rect class="bar"`, "night")

	// The API.
	var ov struct {
		Overview   scheduler.Overview `json:"overview"`
		Throughput []scheduler.Sample `json:"throughput"`
	}
	r = be.api("GET", "/api/v1/overview", "")
	if err := json.Unmarshal([]byte(r.body), &ov); err != nil || ov.Overview.Running != 2 || ov.Overview.Messages != 50 || ov.Overview.Rate != 5 ||
		ov.Overview.UsersTotal != 3 || ov.Overview.Batches["running"] != 1 || len(ov.Throughput) != int(scheduler.History/scheduler.SampleEvery) ||
		ov.Throughput[len(ov.Throughput)-1].Messages != 50 {
		t.Fatalf("API overview: %d %s", r.code, r.body)
	}

	// A done batch leaves the active list.
	calls["u0"].end(engine.StatusOK, nil)
	calls["u1"].end(engine.StatusOK, nil)
	be.waitState(nb.ID, "done")
	r = b.get("/dashboard/activity")
	mustContain(t, "after the batch", r.body, "No batch is scheduled, running or paused.", "1 new · 2 done", "1 done")
}

func TestThroughputChart(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.Local)
	var samples []scheduler.Sample
	for i := range 4 {
		samples = append(samples, scheduler.Sample{At: t0.Add(time.Duration(i) * scheduler.SampleEvery), Messages: int64(i * 30), Bytes: int64(i) << 10})
	}
	ch := throughputChart(samples)
	if len(ch.Bars) != 3 || ch.Total != 180 || ch.Bytes != 6<<10 {
		t.Fatalf("chart %+v", ch)
	}
	// 90 at most: a scale of 100; the tallest bar is 90% of the plot.
	if ch.YTicks[2].Label != "100" || ch.YTicks[1].Label != "50" || ch.YTicks[0].Pos != ch.Base || ch.YTicks[2].Pos != ch.Top {
		t.Fatalf("y ticks %+v", ch.YTicks)
	}
	if last := ch.Bars[2]; last.H != coord(0.9*chartPlotH) || last.X != coord(chartLeft+3*chartPlotW/4) {
		t.Fatalf("last bar %+v", last)
	}
	if len(ch.XTicks) != 3 || ch.XTicks[0].Label != "12:00" || ch.XTicks[0].Anchor != "start" || ch.XTicks[2].Anchor != "end" {
		t.Fatalf("x ticks %+v", ch.XTicks)
	}
	for n, want := range map[int64]int64{0: 10, 7: 10, 11: 20, 20: 20, 21: 50, 51: 100, 999: 1000, 1001: 2000} {
		if got := niceCeil(n); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", n, got, want)
		}
	}
	if ch := throughputChart(nil); len(ch.Bars) != 0 || len(ch.XTicks) != 0 || len(ch.YTicks) != 3 {
		t.Fatalf("empty chart %+v", ch)
	}
}
