package web

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
)

const (
	routeUserReport     = "reports.user"
	routeUserReportCSV  = "reports.user_csv"
	routeBatchReport    = "reports.batch"
	routeBatchReportCSV = "reports.batch_csv"
)

// registerReports registers the reports pages and API calls.
func (s *Server) registerReports(con, api *echo.Group) {
	con.GET("/projects/:p/users/:u/report", s.userReportPage).Name = routeUserReport
	con.GET("/projects/:p/users/:u/report.csv", s.userReportCSV).Name = routeUserReportCSV
	con.GET("/projects/:p/batches/:b/report", s.batchReportPage).Name = routeBatchReport
	con.GET("/projects/:p/batches/:b/report.csv", s.batchReportCSV).Name = routeBatchReportCSV

	api.GET("/projects/:p/users/:u/report", s.apiUserReport)
	api.GET("/projects/:p/users/:u/reports", s.apiUserReports)
	api.GET("/projects/:p/users/:u/report.csv", s.userReportCSV)
	api.GET("/projects/:p/batches/:b/report", s.apiBatchReport)
	api.GET("/projects/:p/batches/:b/report.csv", s.batchReportCSV)
}

// userReports are a user's pass reports (oldest first) and the one the
// query selects: ?run=K (the K-th, from 1), ?pass=N (the newest try of
// pass N), else the newest. Selected is nil when the user has none.
type userReports struct {
	Project  *project.Project
	User     *project.User
	Runs     []*project.RunReport
	Selected *project.RunReport
	// Run is the selected report's number (from 1).
	Run int
}

func (s *Server) userReports(c echo.Context) (*userReports, error) {
	p, u, err := s.projectUser(c)
	if err != nil {
		return nil, err
	}
	rs, err := s.o.Projects.Reports(c.Request().Context(), p.ID, u.ID)
	if err != nil {
		return nil, err
	}
	ur := &userReports{Project: p, User: u, Runs: rs, Run: len(rs)}
	if v := c.QueryParam("run"); v != "" {
		if ur.Run, err = strconv.Atoi(v); err != nil || ur.Run < 1 || ur.Run > len(rs) {
			return nil, echo.NewHTTPError(http.StatusNotFound, "no run "+strconv.Quote(v)+" of user "+u.SourceUser+" (it has "+strconv.Itoa(len(rs))+")")
		}
	} else if v := c.QueryParam("pass"); v != "" {
		n, _ := strconv.Atoi(v)
		ur.Run = 0
		for i, r := range rs {
			if r.Pass == n {
				ur.Run = i + 1
			}
		}
		if ur.Run == 0 {
			return nil, echo.NewHTTPError(http.StatusNotFound, "no pass "+strconv.Quote(v)+" of user "+u.SourceUser)
		}
	}
	if ur.Run > 0 {
		ur.Selected = rs[ur.Run-1]
	}
	return ur, nil
}

// Pages

type userReportData struct {
	*userReports
	Report reportView
	// History are the runs, newest first.
	History []runRow
	Batches map[string]string // batch ID → name
}

type runRow struct {
	N int
	*project.RunReport
	Selected bool
}

// reportView adds what the report page shows to a pass's report.
type reportView struct{ *project.RunReport }

// Items are the skipped and failed messages of every folder.
func (v reportView) Items() []reportItem {
	var out []reportItem
	for _, f := range v.Report.Folders {
		for _, it := range f.Items {
			if it.Kind != "note" {
				out = append(out, reportItem{f.Source, it})
			}
		}
	}
	return out
}

// Notes are the folders' notes and the messages' fidelity notes.
func (v reportView) Notes() []reportItem {
	var out []reportItem
	for _, f := range v.Report.Folders {
		for _, n := range f.Notes {
			out = append(out, reportItem{f.Source, engine.Item{Kind: "note", Reason: n}})
		}
		for _, it := range f.Items {
			if it.Kind == "note" {
				out = append(out, reportItem{f.Source, it})
			}
		}
	}
	return out
}

type reportItem struct {
	Folder string
	engine.Item
}

// passBadge is the badge class of a pass's outcome.
func passBadge(st engine.Status) string {
	switch st {
	case engine.StatusOK:
		return "badge-ok"
	case engine.StatusPartial:
		return "badge-warn"
	}
	return "badge-bad"
}

// Badge is the badge class of the pass's outcome.
func (v reportView) Badge() string { return passBadge(v.Report.Status) }

// Badge is the badge class of the run's outcome.
func (r runRow) Badge() string { return passBadge(r.Report.Status) }

func (s *Server) userReportPage(c echo.Context) error {
	ur, err := s.userReports(c)
	if err != nil {
		return err
	}
	d := userReportData{userReports: ur, Report: reportView{ur.Selected}, Batches: map[string]string{}}
	for i, r := range slices.Backward(ur.Runs) {
		d.History = append(d.History, runRow{i + 1, r, i+1 == ur.Run})
	}
	bs, err := s.o.Projects.Batches(c.Request().Context(), ur.Project.ID)
	if err != nil {
		return err
	}
	for _, b := range bs {
		d.Batches[b.ID] = b.Name
	}
	return s.render(c, Page{Name: "report", Title: "Report of " + ur.User.SourceUser, Data: d})
}

// csvSafe keeps a spreadsheet from reading a cell as a formula (CSV
// injection): a cell that starts with = + - @ (or a tab or carriage
// return) gets a leading '.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// fileSafe makes a name fit for a download's file name.
func fileSafe(v string) string {
	b := []byte(v)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '-' || ch == '_') {
			b[i] = '_'
		}
	}
	out := strings.TrimLeft(string(b), ".")
	if len(out) > 64 {
		out = out[:64]
	}
	if out == "" {
		out = "report"
	}
	return out
}

// sendCSV answers with rows as a CSV attachment named file (every cell
// made safe for spreadsheets).
func sendCSV(c echo.Context, file string, rows [][]string) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+file+`"`)
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	for _, row := range rows {
		for i := range row {
			row[i] = csvSafe(row[i])
		}
		if err := w.Write(row); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// userReportRows are a pass's report as CSV: a row per folder, then a row
// per skipped or failed message.
func userReportRows(r *project.RunReport) [][]string {
	rows := [][]string{{"source folder", "target folder", "source messages", "copied", "already there", "skipped", "failed", "excluded", "bytes", "error"}}
	for _, f := range r.Report.Folders {
		n := f.Counts
		rows = append(rows, []string{f.Source, f.Target, itoa(n.SourceMessages), itoa(n.Copied), itoa(n.Present), itoa(n.Skipped), itoa(n.Failed), itoa(n.Excluded), itoa(n.Bytes), f.Error})
	}
	rows = append(rows, []string{}, []string{"folder", "message", "message-id", "size", "kind", "reason"})
	for _, it := range (reportView{r}).Items() {
		rows = append(rows, []string{it.Folder, it.ID, it.MessageID, itoa(it.Size), it.Kind, it.Reason})
	}
	return rows
}

// userReportCSV is the selected (by default the newest) pass's report as
// CSV (console and API).
func (s *Server) userReportCSV(c echo.Context) error {
	ur, err := s.userReports(c)
	if err != nil {
		return err
	}
	if ur.Selected == nil {
		return echo.NewHTTPError(http.StatusNotFound, "user "+ur.User.SourceUser+" has no pass report yet")
	}
	file := "report-" + fileSafe(ur.User.SourceUser) + "-pass" + strconv.Itoa(ur.Selected.Pass) + ".csv"
	return sendCSV(c, file, userReportRows(ur.Selected))
}

// batchReportRow is a user's line in a batch's report.
type batchReportRow struct {
	User       string         `json:"user"`
	SourceUser string         `json:"source_user"`
	TargetUser string         `json:"target_user"`
	Status     project.Status `json:"status"`
	// Passes counts the batch's passes the user has a report of.
	Passes int `json:"passes"`
	// Copied, Bytes and Skipped add up the user's passes in the batch;
	// Failed is the last pass's.
	Copied   int64         `json:"copied"`
	Bytes    int64         `json:"bytes"`
	Skipped  int64         `json:"skipped"`
	Failed   int64         `json:"failed"`
	LastPass time.Duration `json:"last_pass_ns"`
	Error    string        `json:"error,omitempty"`
}

type batchReport struct {
	Project *project.Project
	Batch   *project.Batch
	Rows    []batchReportRow
}

func (s *Server) batchReport(c echo.Context) (*batchReport, error) {
	p, b, err := s.projectBatchParams(c)
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	bp, err := s.progress(ctx, b)
	if err != nil {
		return nil, err
	}
	br := &batchReport{Project: p, Batch: b, Rows: []batchReportRow{}}
	for _, u := range bp.Users {
		row := batchReportRow{User: u.User, SourceUser: u.SourceUser, TargetUser: u.TargetUser, Status: u.Status, Error: u.Error}
		rs, err := s.o.Projects.Reports(ctx, p.ID, u.User)
		if err != nil {
			return nil, err
		}
		var sum project.User // adds the passes up as a user's totals do
		passes := map[int]bool{}
		for _, r := range rs {
			if r.Batch != b.ID {
				continue
			}
			sum.AddPass(r.Report)
			passes[r.Pass] = true
			row.LastPass = r.Report.Duration
			if r.Interrupted == "" { // an interrupted pass's error is only why it stopped
				row.Error = r.Report.Error
			}
		}
		row.Passes = len(passes)
		row.Copied, row.Bytes, row.Skipped, row.Failed = sum.Totals.Copied, sum.Totals.Bytes, sum.Totals.Skipped, sum.Totals.Failed
		if row.Error == "" {
			row.Error = u.Error
		}
		br.Rows = append(br.Rows, row)
	}
	return br, nil
}

func (s *Server) batchReportPage(c echo.Context) error {
	br, err := s.batchReport(c)
	if err != nil {
		return err
	}
	return s.render(c, Page{Name: "batch_report", Title: "Report of batch " + br.Batch.Name, Data: br})
}

// batchReportCSV is a batch's report as CSV (console and API).
func (s *Server) batchReportCSV(c echo.Context) error {
	br, err := s.batchReport(c)
	if err != nil {
		return err
	}
	rows := [][]string{{"source", "target", "status", "passes", "copied", "bytes", "skipped", "failed", "last pass seconds", "error"}}
	for _, r := range br.Rows {
		rows = append(rows, []string{r.SourceUser, r.TargetUser, string(r.Status), strconv.Itoa(r.Passes), itoa(r.Copied), itoa(r.Bytes),
			itoa(r.Skipped), itoa(r.Failed), strconv.FormatFloat(r.LastPass.Seconds(), 'f', 0, 64), r.Error})
	}
	return sendCSV(c, "batch-"+fileSafe(br.Batch.Name)+".csv", rows)
}

// API

func (s *Server) apiUserReport(c echo.Context) error {
	ur, err := s.userReports(c)
	if err != nil {
		return err
	}
	if ur.Selected == nil {
		return echo.NewHTTPError(http.StatusNotFound, "user "+ur.User.SourceUser+" has no pass report yet")
	}
	return c.JSON(http.StatusOK, ur.Selected)
}

func (s *Server) apiUserReports(c echo.Context) error {
	ur, err := s.userReports(c)
	if err != nil {
		return err
	}
	if ur.Runs == nil {
		ur.Runs = []*project.RunReport{}
	}
	return c.JSON(http.StatusOK, ur.Runs)
}

func (s *Server) apiBatchReport(c echo.Context) error {
	br, err := s.batchReport(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, br.Rows)
}
