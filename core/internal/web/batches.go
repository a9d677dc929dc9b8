package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/scheduler"
)

const (
	routeBatches       = "batches.list"
	routeBatchNew      = "batches.new"
	routeBatchCreate   = "batches.create"
	routeBatch         = "batches.show"
	routeBatchProgress = "batches.progress"
)

// batchCall is one of the scheduler's controls (Scheduler.Pause…).
type batchCall func(*scheduler.Scheduler, context.Context, string, string) error

// batchActions are the scheduler's controls over a batch: the action in
// the URL and the route name (batches.pause…), what the audit log and the
// flash say, and the call.
var batchActions = []struct {
	name, done string
	call       batchCall
}{
	{"pause", "paused", (*scheduler.Scheduler).Pause},
	{"resume", "resumed", (*scheduler.Scheduler).Resume},
	{"cancel", "cancelled", (*scheduler.Scheduler).Cancel},
	{"rerun", "started a delta pass", (*scheduler.Scheduler).Rerun},
}

func (s *Server) registerBatches(con, api *echo.Group) {
	con.GET("/projects/:p/batches", s.batchesPage).Name = routeBatches
	con.GET("/projects/:p/batches/new", s.batchNewPage).Name = routeBatchNew
	con.POST("/projects/:p/batches", s.batchCreate).Name = routeBatchCreate
	con.GET("/projects/:p/batches/:b", s.batchPage).Name = routeBatch
	con.GET("/projects/:p/batches/:b/progress", s.batchProgressPartial).Name = routeBatchProgress

	api.GET("/projects/:p/batches", s.apiBatches)
	api.POST("/projects/:p/batches", s.apiBatchCreate)
	api.GET("/projects/:p/batches/:b", s.apiBatch)
	for _, a := range batchActions {
		con.POST("/projects/:p/batches/:b/"+a.name, s.batchControl(a.name, a.done, a.call)).Name = "batches." + a.name
		api.POST("/projects/:p/batches/:b/"+a.name, s.apiBatchControl(a.name, a.call))
	}
	// The dashboard's live parts need the scheduler too.
	s.registerDashboard(con, api)
}

// batchParam loads the batch of the :b parameter of project p: an id, or
// a name (the newest batch of that name).
func (s *Server) batchParam(c echo.Context, p *project.Project) (*project.Batch, error) {
	ref := pathParam(c, "b")
	ctx := c.Request().Context()
	b, err := s.o.Projects.Batch(ctx, p.ID, ref)
	if errors.Is(err, project.ErrNotFound) {
		bs, lerr := s.o.Projects.Batches(ctx, p.ID)
		if lerr != nil {
			return nil, lerr
		}
		for _, x := range bs {
			if x.Name == ref {
				return x, nil
			}
		}
		return nil, echo.NewHTTPError(http.StatusNotFound, "no batch "+strconv.Quote(ref)+" in project "+p.Name)
	}
	return b, err
}

// pathParam is a path parameter unescaped: Echo routes an escaped path
// ("wave%201%2F2" for a name with a slash) on its raw form and leaves
// its parameters escaped.
func pathParam(c echo.Context, name string) string {
	v := c.Param(name)
	if c.Request().URL.RawPath != "" {
		if u, err := url.PathUnescape(v); err == nil {
			return u
		}
	}
	return v
}

// projectBatchParams loads the :p project and its :b batch.
func (s *Server) projectBatchParams(c echo.Context) (*project.Project, *project.Batch, error) {
	p, err := s.projectParam(c)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.batchParam(c, p)
	return p, b, err
}

// schedulerError gives the scheduler's refusals their HTTP status: a
// control that does not fit the batch's state is a conflict.
func schedulerError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, scheduler.ErrState), errors.Is(err, scheduler.ErrBusy):
		return echo.NewHTTPError(http.StatusConflict, err.Error())
	case errors.Is(err, scheduler.ErrClosed):
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, project.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, err.Error())
	}
	return err
}

// progress returns a batch's live progress; a batch that was never
// submitted (its submission failed) is shown as stored, with no users.
func (s *Server) progress(ctx context.Context, b *project.Batch) (scheduler.BatchProgress, error) {
	bp, err := s.o.Scheduler.BatchProgress(ctx, b.Project, b.ID)
	if errors.Is(err, scheduler.ErrState) && b.Submitted.IsZero() {
		return scheduler.BatchProgress{Project: b.Project, Batch: b.ID, Name: b.Name, State: b.State, Pass: b.Pass, ByStatus: map[project.Status]int{}}, nil
	}
	return bp, schedulerError(err)
}

// projectBatches loads the :p project and its batches with their
// progress, newest first.
func (s *Server) projectBatches(c echo.Context) (*project.Project, []batchRow, error) {
	p, err := s.projectParam(c)
	if err != nil {
		return nil, nil, err
	}
	ctx := c.Request().Context()
	bs, err := s.o.Projects.Batches(ctx, p.ID)
	if err != nil {
		return nil, nil, err
	}
	rows := make([]batchRow, 0, len(bs))
	for _, b := range bs {
		bp, err := s.progress(ctx, b)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, batchRow{bp, b})
	}
	return p, rows, nil
}

// batchInput is a new batch as the console's form and the API give it.
type batchInput struct {
	Name string `json:"name"`
	// Users are user IDs or source logins; Status selects every user with
	// one of these statuses; All selects every user of the project. They
	// add up.
	Users       []string  `json:"users"`
	Status      []string  `json:"status"`
	All         bool      `json:"all"`
	StartAt     time.Time `json:"start_at"`
	Windows     []string  `json:"windows"`
	Concurrency int       `json:"concurrency"`
	DeltaEvery  string    `json:"delta_every"`
}

// fieldError is a bad request about one field of the batch form.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.msg }
func (e *fieldError) Unwrap() error { return errBadRequest }

func fieldErr(field, format string, args ...any) error {
	return &fieldError{field, fmt.Sprintf(format, args...)}
}

// selectUsers resolves a batch's selection to user IDs of p: the users
// named (in their order), then those of the statuses or all, in the
// project's order, each once.
func (s *Server) selectUsers(ctx context.Context, p *project.Project, in *batchInput) ([]string, error) {
	us, err := s.o.Projects.Users(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	byRef := make(map[string]*project.User, 2*len(us))
	for _, u := range us {
		byRef[u.ID] = u
		byRef["login:"+strings.ToLower(u.SourceUser)] = u
	}
	var ids []string
	seen := map[string]bool{}
	add := func(u *project.User) {
		if !seen[u.ID] {
			seen[u.ID] = true
			ids = append(ids, u.ID)
		}
	}
	var unknown []string
	for _, ref := range in.Users {
		ref = strings.TrimSpace(ref)
		if ref == "" {
			continue
		}
		u := byRef[ref]
		if u == nil {
			u = byRef["login:"+strings.ToLower(ref)]
		}
		if u == nil {
			unknown = append(unknown, strconv.Quote(ref))
			continue
		}
		add(u)
	}
	if len(unknown) > 0 {
		return nil, fieldErr("users", "no user %s in project %s", strings.Join(unknown, ", "), p.Name)
	}
	statuses := map[project.Status]bool{}
	for _, st := range in.Status {
		if st = strings.TrimSpace(st); st == "" {
			continue
		}
		if !slices.Contains(project.Statuses, project.Status(st)) {
			return nil, fieldErr("users", "no status %q (want one of %v)", st, project.Statuses)
		}
		statuses[project.Status(st)] = true
	}
	for _, u := range us {
		if in.All || statuses[u.Status] {
			add(u)
		}
	}
	if len(ids) == 0 {
		switch {
		case len(statuses) > 0:
			return nil, fieldErr("users", "no user of project %s has the status %s", p.Name, strings.Join(in.Status, " or "))
		case in.All:
			return nil, fieldErr("users", "project %s has no users yet", p.Name)
		}
		return nil, fieldErr("users", "select at least one user for the batch")
	}
	return ids, nil
}

// schedule reads a batch's schedule.
func (in *batchInput) schedule() (project.Schedule, error) {
	sc := project.Schedule{StartAt: in.StartAt}
	for _, line := range in.Windows {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		w, err := project.ParseWindow(line)
		if err != nil {
			return sc, fieldErr("windows", "%v", err)
		}
		sc.Windows = append(sc.Windows, w)
	}
	if v := strings.TrimSpace(in.DeltaEvery); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return sc, fieldErr("delta_every", "delta passes: %q is not a duration (write e.g. 24h or 90m)", v)
		}
		sc.DeltaEvery = d
	}
	if err := sc.Validate(); err != nil {
		field := "windows"
		if sc.DeltaEvery != 0 && sc.DeltaEvery < time.Minute {
			field = "delta_every"
		}
		return sc, fieldErr(field, "%v", err)
	}
	return sc, nil
}

// createBatch stores a batch of p's users and submits it to the
// scheduler (console and API).
func (s *Server) createBatch(c echo.Context, p *project.Project, in *batchInput) (*project.Batch, error) {
	ctx := c.Request().Context()
	ids, err := s.selectUsers(ctx, p, in)
	if err != nil {
		return nil, err
	}
	sc, err := in.schedule()
	if err != nil {
		return nil, err
	}
	if in.Concurrency < 0 || in.Concurrency > 256 {
		return nil, fieldErr("concurrency", "mailboxes at once: 0 (the default) to 256")
	}
	b := &project.Batch{Project: p.ID, Name: strings.TrimSpace(in.Name), Users: ids, Concurrency: in.Concurrency, Schedule: sc, CreatedBy: "api"}
	if a := currentAdmin(c); a != nil {
		b.CreatedBy = a.Name
	}
	if err := b.Validate(); err != nil {
		return nil, badRequest("%v", err)
	}
	if err := s.o.Projects.PutBatch(ctx, b); err != nil {
		if errors.Is(err, project.ErrNotFound) { // a user deleted meanwhile
			return nil, badRequest("%v", err)
		}
		return nil, err
	}
	if err := s.o.Scheduler.Submit(ctx, p.ID, b.ID); err != nil {
		// Leave no batch behind that would never run.
		if derr := s.o.Projects.DeleteBatch(ctx, p.ID, b.ID); derr != nil {
			s.log.Warn("unsubmitted batch not deleted", "batch", b.ID, "err", derr)
		}
		return nil, schedulerError(err)
	}
	s.record(c, "batch.create", "batch "+b.Name+" of project "+p.Name, scheduleSummary(b))
	return s.o.Projects.Batch(ctx, p.ID, b.ID)
}

// scheduleSummary says in a line whom and when a batch runs (the audit
// log and the batch page).
func scheduleSummary(b *project.Batch) string {
	parts := []string{strconv.Itoa(len(b.Users)) + " users"}
	if b.Schedule.StartAt.IsZero() {
		parts = append(parts, "from now")
	} else {
		parts = append(parts, "from "+when(b.Schedule.StartAt))
	}
	if len(b.Schedule.Windows) > 0 {
		ws := make([]string, len(b.Schedule.Windows))
		for i, w := range b.Schedule.Windows {
			ws[i] = w.String()
		}
		parts = append(parts, "during "+strings.Join(ws, ", "))
	}
	if b.Concurrency > 0 {
		parts = append(parts, strconv.Itoa(b.Concurrency)+" at once")
	}
	if b.Schedule.DeltaEvery > 0 {
		parts = append(parts, "a delta pass every "+b.Schedule.DeltaEvery.String())
	}
	return strings.Join(parts, "; ")
}

// controlBatch runs one of the scheduler's controls (console and API).
func (s *Server) controlBatch(c echo.Context, p *project.Project, b *project.Batch, action string, call batchCall) (*project.Batch, error) {
	ctx := c.Request().Context()
	if err := schedulerError(call(s.o.Scheduler, ctx, p.ID, b.ID)); err != nil {
		return nil, err
	}
	nb, err := s.o.Projects.Batch(ctx, p.ID, b.ID)
	if err != nil {
		return nil, err
	}
	s.record(c, "batch."+action, "batch "+b.Name+" of project "+p.Name, fmt.Sprintf("now %s, pass %d", nb.State, nb.Pass))
	return nb, nil
}

// Pages

type batchesData struct {
	Project *project.Project
	Batches []batchRow
}

// batchRow is a batch in the list: its progress and schedule.
type batchRow struct {
	scheduler.BatchProgress
	Batch *project.Batch
}

func (s *Server) batchesPage(c echo.Context) error {
	p, rows, err := s.projectBatches(c)
	if err != nil {
		return err
	}
	return s.render(c, Page{Name: "batches", Title: "Batches of " + p.Name, Data: batchesData{p, rows}})
}

// batchForm is the new batch form as typed, kept across an error.
type batchForm struct {
	Name, StartAt, Windows, Concurrency, DeltaEvery string
	All                                             bool
}

type batchNewData struct {
	Project *project.Project
	// Selected are the users picked one by one (hidden fields).
	Selected []*project.User
	Statuses []statusChoice
	Form     batchForm
	Errors   map[string]string
}

type statusChoice struct {
	Status  project.Status
	Users   int
	Checked bool
}

// batchNewPage is the new batch form, with the selection of the query
// (?user=…&status=…&all=1) if any.
func (s *Server) batchNewPage(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	f := batchForm{Name: q.Get("name"), All: q.Get("all") == "1"}
	return s.renderBatchNew(c, http.StatusOK, p, q["user"], q["status"], f, nil)
}

func (s *Server) renderBatchNew(c echo.Context, status int, p *project.Project, users, statuses []string, f batchForm, errs map[string]string) error {
	us, err := s.o.Projects.Users(c.Request().Context(), p.ID)
	if err != nil {
		return err
	}
	d := batchNewData{Project: p, Form: f, Errors: errs}
	count := map[project.Status]int{}
	for _, u := range us {
		count[u.Status]++
		if slices.Contains(users, u.ID) {
			d.Selected = append(d.Selected, u)
		}
	}
	for _, st := range project.Statuses {
		d.Statuses = append(d.Statuses, statusChoice{st, count[st], slices.Contains(statuses, string(st))})
	}
	return s.render(c, Page{Name: "batch_new", Title: "New batch in " + p.Name, Status: status, Data: d})
}

// localTimeLayouts are what an <input type="datetime-local"> sends.
var localTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05"}

// batchCreate starts a batch from the users page's selection or the new
// batch form; a form error shows the form again (422) with the selection.
func (s *Server) batchCreate(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return badRequest("form: %v", err)
	}
	f := batchForm{Name: form.Get("name"), StartAt: strings.TrimSpace(form.Get("start_at")), Windows: form.Get("windows"),
		Concurrency: strings.TrimSpace(form.Get("concurrency")), DeltaEvery: form.Get("delta_every"), All: form.Get("all") == "1"}
	in := &batchInput{Name: f.Name, Users: form["user"], Status: form["status"], All: f.All,
		Windows: strings.Split(f.Windows, "\n"), DeltaEvery: f.DeltaEvery}
	errs := map[string]string{}
	if f.StartAt != "" {
		for _, layout := range localTimeLayouts {
			if t, perr := time.ParseInLocation(layout, f.StartAt, time.Local); perr == nil {
				in.StartAt = t
				break
			}
		}
		if in.StartAt.IsZero() {
			errs["start_at"] = "Not a date and time (YYYY-MM-DDTHH:MM)."
		}
	}
	if f.Concurrency != "" {
		if in.Concurrency, err = strconv.Atoi(f.Concurrency); err != nil {
			errs["concurrency"] = "A whole number, 0 to 256."
		}
	}
	var b *project.Batch
	if len(errs) == 0 {
		b, err = s.createBatch(c, p, in)
		var fe *fieldError
		switch code, _ := statusOf(err); {
		case err == nil:
		case errors.As(err, &fe):
			errs[fe.field] = fe.msg
		case code == http.StatusBadRequest:
			errs["form"] = message(err, code)
		default:
			return err
		}
	}
	if len(errs) > 0 {
		return s.renderBatchNew(c, http.StatusUnprocessableEntity, p, form["user"], form["status"], f, errs)
	}
	s.flash(c, FlashSuccess, fmt.Sprintf("Batch %s of %d users submitted: %s.", b.Name, len(b.Users), scheduleSummary(b)))
	return s.redirect(c, routeBatch, p.ID, b.ID)
}

// batchData is the batch page and its live part.
type batchData struct {
	Project  *project.Project
	Batch    *project.Batch
	Progress progressView
	Schedule string
	// Live: the progress changes by itself (scheduled, running, paused).
	Live bool
}

func (s *Server) batchData(c echo.Context) (*batchData, error) {
	p, b, err := s.projectBatchParams(c)
	if err != nil {
		return nil, err
	}
	bp, err := s.progress(c.Request().Context(), b)
	if err != nil {
		return nil, err
	}
	// The progress read the batch after b: its state is the newer.
	b.State, b.Pass, b.Started, b.Finished, b.NextPass = bp.State, bp.Pass, bp.Started, bp.Finished, bp.NextPass
	live := bp.State == project.BatchScheduled || bp.State == project.BatchRunning || bp.State == project.BatchPaused
	return &batchData{Project: p, Batch: b, Progress: progressView{bp}, Schedule: scheduleSummary(b), Live: live}, nil
}

func (s *Server) batchPage(c echo.Context) error {
	d, err := s.batchData(c)
	if err != nil {
		return err
	}
	return s.render(c, Page{Name: "batch", Title: d.Batch.Name, Data: d})
}

// batchProgressPartial is the batch page's live part (htmx polling every
// 2 s); once the batch is over it comes without the trigger, which stops
// the polling.
func (s *Server) batchProgressPartial(c echo.Context) error {
	d, err := s.batchData(c)
	if err != nil {
		return err
	}
	return s.renderPartial(c, http.StatusOK, "batch_progress", d)
}

// batchControl is the console's form for a control: back to the batch
// page with what happened, or why not.
func (s *Server) batchControl(action, done string, call batchCall) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, b, err := s.projectBatchParams(c)
		if err != nil {
			return err
		}
		nb, err := s.controlBatch(c, p, b, action, call)
		if err != nil {
			code, _ := statusOf(err)
			if code != http.StatusConflict {
				return err
			}
			s.flash(c, FlashError, message(err, code))
		} else {
			s.flash(c, FlashSuccess, fmt.Sprintf("Batch %s %s (pass %d, %s).", nb.Name, done, nb.Pass, nb.State))
		}
		return s.redirect(c, routeBatch, p.ID, b.ID)
	}
}

// progressView adds what pages show to a batch's progress.
type progressView struct{ scheduler.BatchProgress }

// Rows are the users' rows.
func (v progressView) Rows() []progressRow {
	out := make([]progressRow, len(v.Users))
	for i, u := range v.Users {
		out[i] = progressRow{u}
	}
	return out
}

// ETAText is the time left, or "unknown".
func (v progressView) ETAText() string { return etaText(v.ETA, v.ETAKnown) }

// ByteRateText is the bytes copied per second.
func (v progressView) ByteRateText() string { return perSecond(v.ByteRate) }

func perSecond(bytes float64) string { return humanBytes(int64(bytes)) + "/s" }

// Percent is how many users finished the pass, in percent.
func (v progressView) Percent() int {
	if len(v.Users) == 0 {
		return 0
	}
	return v.Done * 100 / len(v.Users)
}

type progressRow struct{ scheduler.UserProgress }

// ETAText is the time left, or "" when not running or before the pass
// has counted what it has to copy.
func (r progressRow) ETAText() string {
	if r.Status != project.StatusRunning || r.ToCopy == 0 && r.FoldersTotal == 0 {
		return ""
	}
	return etaText(r.ETA, r.ETAKnown)
}

func etaText(d time.Duration, known bool) string {
	if !known {
		return "unknown"
	}
	return roundDuration(d)
}

// API

func (s *Server) apiBatches(c echo.Context) error {
	_, rows, err := s.projectBatches(c)
	if err != nil {
		return err
	}
	bps := make([]scheduler.BatchProgress, len(rows))
	for i, r := range rows {
		bps[i] = r.BatchProgress
	}
	return c.JSON(http.StatusOK, bps)
}

func (s *Server) apiBatchCreate(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	var in batchInput
	if err := c.Bind(&in); err != nil {
		return badRequest("body: %v", err)
	}
	b, err := s.createBatch(c, p, &in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, b)
}

func (s *Server) apiBatch(c echo.Context) error {
	_, b, err := s.projectBatchParams(c)
	if err != nil {
		return err
	}
	bp, err := s.progress(c.Request().Context(), b)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, bp)
}

func (s *Server) apiBatchControl(action string, call batchCall) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, b, err := s.projectBatchParams(c)
		if err != nil {
			return err
		}
		nb, err := s.controlBatch(c, p, b, action, call)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, nb)
	}
}
