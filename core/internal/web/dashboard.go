package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/scheduler"
	"github.com/ternmail/tern/core/internal/secrets"
)

const routeDashboardActivity = "dashboard.activity"

// registerDashboard registers the dashboard's live part and the overview
// API call (the page itself, GET /, is in routes()); both need the
// scheduler.
func (s *Server) registerDashboard(con, api *echo.Group) {
	con.GET("/dashboard/activity", s.dashboardActivity).Name = routeDashboardActivity
	api.GET("/overview", s.apiOverview)
}

type dashboardData struct {
	Connectors int
	Secrets    secrets.Health
	// Activity is the scheduler's summary; nil without a scheduler.
	Activity *activity
}

// activity is the dashboard's live part: totals, active batches and the
// throughput chart.
type activity struct {
	Overview scheduler.Overview
	Active   []activeBatch
	Chart    chart
}

type activeBatch struct {
	Project *project.Project
	progressView
}

type count struct {
	Name string
	N    int
}

// UserCounts are the users by status, in the statuses' order, zeros left out.
func (a *activity) UserCounts() []count {
	var out []count
	for _, st := range project.Statuses {
		if n := a.Overview.Users[st]; n > 0 {
			out = append(out, count{string(st), n})
		}
	}
	return out
}

// BatchCounts are the submitted batches by state, zeros left out.
func (a *activity) BatchCounts() []count {
	var out []count
	for _, st := range []project.BatchState{project.BatchScheduled, project.BatchRunning, project.BatchPaused, project.BatchDone, project.BatchCancelled} {
		if n := a.Overview.Batches[st]; n > 0 {
			out = append(out, count{string(st), n})
		}
	}
	return out
}

// ByteRateText is the bytes copied per second.
func (a *activity) ByteRateText() string { return perSecond(a.Overview.ByteRate) }

func (s *Server) dashboard(c echo.Context) error {
	ctx := c.Request().Context()
	d := dashboardData{}
	if s.o.Connectors != nil {
		list, err := s.o.Connectors.List(ctx)
		if err != nil {
			return err
		}
		d.Connectors = len(list)
	}
	if s.o.Secrets != nil {
		d.Secrets = s.o.Secrets.Health(ctx)
	}
	if s.o.Scheduler != nil && s.o.Projects != nil {
		a, err := s.activity(ctx)
		if err != nil {
			return err
		}
		d.Activity = a
	}
	return s.render(c, Page{Name: "dashboard", Title: "Dashboard", Data: d})
}

// dashboardActivity is the dashboard's live part (htmx polling every 5 s).
func (s *Server) dashboardActivity(c echo.Context) error {
	a, err := s.activity(c.Request().Context())
	if err != nil {
		return err
	}
	return s.renderPartial(c, http.StatusOK, "dashboard_activity", dashboardData{Activity: a})
}

func (s *Server) activity(ctx context.Context) (*activity, error) {
	o, err := s.o.Scheduler.Overview(ctx)
	if err != nil {
		return nil, err
	}
	a := &activity{Overview: o, Chart: throughputChart(s.o.Scheduler.Throughput())}
	bs, err := s.o.Projects.AllBatches(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(bs, func(x, y *project.Batch) int { return x.Submitted.Compare(y.Submitted) })
	projects := map[string]*project.Project{}
	for _, b := range bs {
		if b.Submitted.IsZero() || (b.State != project.BatchScheduled && b.State != project.BatchRunning && b.State != project.BatchPaused) {
			continue
		}
		p, ok := projects[b.Project]
		if !ok {
			if p, err = s.o.Projects.Project(ctx, b.Project); err != nil {
				return nil, err
			}
			projects[b.Project] = p
		}
		bp, err := s.progress(ctx, b)
		if err != nil {
			return nil, err
		}
		a.Active = append(a.Active, activeBatch{p, progressView{bp}})
	}
	return a, nil
}

// overview is GET /api/v1/overview.
type overview struct {
	Overview   scheduler.Overview `json:"overview"`
	Throughput []scheduler.Sample `json:"throughput"`
}

func (s *Server) apiOverview(c echo.Context) error {
	o, err := s.o.Scheduler.Overview(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, overview{o, s.o.Scheduler.Throughput()})
}

// The throughput chart: an SVG drawn on the server (the CSP allows no
// script), a bar per sample of messages copied, with axis labels. The
// geometry is in the viewBox's units; CSS scales it.
const (
	chartW, chartH                 = 720, 200
	chartLeft, chartRight          = 56, 8
	chartTop, chartBottom          = 10, 26
	chartPlotW, chartPlotH float64 = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
)

type chart struct {
	W, H                   int
	Left, Right, Top, Base string // the plot's edges
	Bars                   []chartBar
	YTicks, XTicks         []chartTick
	// Total are the messages and bytes of the samples.
	Total, Bytes int64
	Every        string
}

type chartBar struct {
	X, Y, W, H string
	Title      string
}

type chartTick struct {
	Pos   string // y of a horizontal grid line, or x of a time label
	Label string
	// Anchor aligns a time label: the first starts at its sample, the
	// last ends at it, so that neither leaves the picture.
	Anchor string
}

func coord(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

func throughputChart(samples []scheduler.Sample) chart {
	ch := chart{W: chartW, H: chartH, Left: coord(chartLeft), Right: coord(chartW - chartRight), Top: coord(chartTop),
		Base: coord(chartTop + chartPlotH), Every: scheduler.SampleEvery.String()}
	var peak int64
	for _, x := range samples {
		peak = max(peak, x.Messages)
		ch.Total += x.Messages
		ch.Bytes += x.Bytes
	}
	top := niceCeil(peak)
	for _, v := range []int64{0, top / 2, top} {
		ch.YTicks = append(ch.YTicks, chartTick{coord(chartTop + chartPlotH - float64(v)/float64(top)*chartPlotH), strconv.FormatInt(v, 10), "end"})
	}
	n := len(samples)
	if n == 0 {
		return ch
	}
	w := chartPlotW / float64(n)
	for i, x := range samples {
		if x.Messages <= 0 {
			continue
		}
		h := float64(x.Messages) / float64(top) * chartPlotH
		ch.Bars = append(ch.Bars, chartBar{
			X: coord(chartLeft + float64(i)*w), Y: coord(chartTop + chartPlotH - h), W: coord(max(w-0.3, 0.5)), H: coord(h),
			Title: fmt.Sprintf("%s: %d messages, %s", x.At.Local().Format("15:04:05"), x.Messages, humanBytes(x.Bytes)),
		})
	}
	for k, i := range []int{0, n / 2, n - 1} {
		ch.XTicks = append(ch.XTicks, chartTick{coord(chartLeft + (float64(i)+0.5)*w), samples[i].At.Local().Format("15:04"), []string{"start", "middle", "end"}[k]})
	}
	return ch
}

// niceCeil is the smallest 1, 2 or 5 times a power of ten that is at
// least n (and at least 10, so that an idle chart has a scale).
func niceCeil(n int64) int64 {
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if v := m * p; v >= n && v >= 10 {
				return v
			}
		}
	}
}
