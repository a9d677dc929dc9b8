package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/sdk/connector"
)

// sampleReport is a partial pass over two folders, one of them with
// names that a spreadsheet would take for formulas.
func sampleReport(at time.Time) *engine.Report {
	return &engine.Report{
		Status: engine.StatusPartial, Started: at, Finished: at.Add(90 * time.Second), Duration: 90 * time.Second,
		Totals: engine.Counts{SourceMessages: 12, Copied: 9, Bytes: 9000, Present: 1, Skipped: 1, Failed: 1},
		Folders: []*engine.FolderReport{
			{Source: "INBOX", Target: "INBOX", Counts: engine.Counts{SourceMessages: 10, Copied: 8, Bytes: 8000, Present: 1, Skipped: 1},
				Items: []engine.Item{{ID: "17", MessageID: "<a@x>", Size: 40 << 20, Kind: "skipped", Reason: "larger than the limit"}},
				Notes: []string{"UIDVALIDITY changed; messages matched by fingerprint"}},
			{Source: `=HYPERLINK("http://evil")`, Target: "@home", Counts: engine.Counts{SourceMessages: 2, Copied: 1, Bytes: 1000, Failed: 1, Excluded: 3},
				Items: []engine.Item{
					{ID: "4", MessageID: "@evil", Size: 1000, Kind: "failed", Reason: "-refused by the target"},
					{ID: "5", MessageID: "<b@x>", Size: 10, Kind: "note", Reason: "target refused flags"},
				},
				Error: "+2 messages failed"},
		},
		Excluded: []string{"Trash"},
	}
}

const sampleCSV = "source folder,target folder,source messages,copied,already there,skipped,failed,excluded,bytes,error\n" +
	"INBOX,INBOX,10,8,1,1,0,0,8000,\n" +
	`"'=HYPERLINK(""http://evil"")",'@home,2,1,0,0,1,3,1000,'+2 messages failed` + "\n" +
	"\n" +
	"folder,message,message-id,size,kind,reason\n" +
	"INBOX,17,<a@x>,41943040,skipped,larger than the limit\n" +
	`"'=HYPERLINK(""http://evil"")",4,'@evil,1000,failed,'-refused by the target` + "\n"

func TestUserReport(t *testing.T) {
	be := newBatchEnv(t)
	b := be.admin("ada")
	u0 := be.users[0]
	ctx := t.Context()
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	// Two passes: an interrupted one of a batch, then one over the user alone.
	bt := &project.Batch{Project: be.p.ID, Name: "first wave", Users: []string{u0.ID}}
	if err := be.projects.PutBatch(ctx, bt); err != nil {
		t.Fatal(err)
	}
	first := &project.RunReport{Project: be.p.ID, User: u0.ID, Batch: bt.ID, Pass: 1, Attempt: 1, Interrupted: "window closed",
		Report: &engine.Report{Status: engine.StatusFailed, Error: "window closed", Started: t0, Finished: t0.Add(time.Hour), Duration: time.Hour,
			Totals: engine.Counts{Copied: 5}}}
	second := &project.RunReport{Project: be.p.ID, User: u0.ID, Pass: 2, Attempt: 2, Report: sampleReport(t0.Add(24 * time.Hour))}
	for _, r := range []*project.RunReport{first, second} {
		if err := be.projects.SaveReport(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	page := "/projects/" + be.p.ID + "/users/" + u0.ID + "/report"
	r := b.get(page)
	if r.code != http.StatusOK {
		t.Fatalf("report page: %d %s", r.code, r.body)
	}
	mustContain(t, "report page", r.body,
		"Pass 2 over this user alone, try 2", `<span class="badge badge-warn">partial</span>`, "after 1m30s",
		"12 in the source · 9 copied (8.8 KB) · 1 already there · 1 skipped · 1 failed · 0 excluded", "Folders left out</dt><dd>Trash",
		"<td>INBOX</td><td>INBOX</td><td>10</td><td>8</td><td>1</td><td>1</td><td>0</td>", "<td>0</td><td>7.8 KB</td>",
		"<td>=HYPERLINK(&#34;http://evil&#34;)</td><td>@home</td>", "&#43;2 messages failed",
		"<td><code>17</code></td><td><code>&lt;a@x&gt;</code></td><td>40.0 MB</td><td>skipped</td><td>larger than the limit</td>",
		"<td>failed</td><td>-refused by the target</td>",
		"UIDVALIDITY changed; messages matched by fingerprint", "<code>5</code>: target refused flags",
		`href="/projects/`+be.p.ID+`/users/`+u0.ID+`/report.csv?run=2"`,
		`<a href="`+page+`?run=1">Show</a>`, "first wave", "window closed", `aria-current="true"`)
	// The notes are not in the items table.
	if strings.Contains(r.body, "<td>note</td>") {
		t.Errorf("a note among the skipped and failed messages")
	}

	// An earlier pass, by number or by pass.
	for _, q := range []string{"?run=1", "?pass=1"} {
		r = b.get(page + q)
		mustContain(t, "pass 1 "+q, r.body, `Pass 1 of batch <a href="/projects/`+be.p.ID+`/batches/`+bt.ID+`">first wave</a>`,
			"interrupted: window closed", "the next pass goes on where this one stopped", "No folder was reached.", `<a href="`+page+`?run=2">Show</a>`)
	}
	for _, q := range []string{"?run=3", "?run=x", "?pass=7"} {
		if r := b.get(page + q); r.code != http.StatusNotFound {
			t.Errorf("%s: %d", q, r.code)
		}
	}

	// The CSV, exactly; by login too (the CLI's way), console and API.
	r = b.get(page + ".csv")
	if r.code != http.StatusOK || r.body != sampleCSV {
		t.Fatalf("CSV: %d\n%s\nwant\n%s", r.code, r.body, sampleCSV)
	}
	if ct, cd := r.h.Get("Content-Type"), r.h.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" || cd != `attachment; filename="report-u0-pass2.csv"` {
		t.Fatalf("CSV headers: %s; %s", ct, cd)
	}
	r = be.api("GET", "/api/v1/projects/main/users/U0/report.csv", "")
	if r.code != http.StatusOK || r.body != sampleCSV {
		t.Fatalf("API CSV: %d %s", r.code, r.body)
	}
	if r := b.get(page + ".csv?run=1"); !strings.HasPrefix(r.body, "source folder,") || strings.Count(r.body, "\n") != 3 {
		t.Fatalf("CSV of pass 1: %q", r.body)
	}

	// The API: the newest, every pass, 404 without any.
	var rr project.RunReport
	r = be.api("GET", "/api/v1/projects/main/users/u0/report", "")
	if err := json.Unmarshal([]byte(r.body), &rr); err != nil || rr.Pass != 2 || rr.Report.Totals.Copied != 9 || len(rr.Report.Folders) != 2 {
		t.Fatalf("API report: %d %s", r.code, r.body)
	}
	var all []project.RunReport
	r = be.api("GET", "/api/v1/projects/main/users/"+u0.ID+"/reports", "")
	if err := json.Unmarshal([]byte(r.body), &all); err != nil || len(all) != 2 || all[0].Interrupted != "window closed" {
		t.Fatalf("API reports: %d %s", r.code, r.body)
	}
	if r := be.api("GET", "/api/v1/projects/main/users/u1/report", ""); r.code != http.StatusNotFound || !strings.Contains(r.body, "no pass report yet") {
		t.Fatalf("API report without a pass: %d %s", r.code, r.body)
	}
	if r := be.api("GET", "/api/v1/projects/main/users/u1/reports", ""); r.code != http.StatusOK || r.body != "[]\n" {
		t.Fatalf("API reports without a pass: %d %q", r.code, r.body)
	}
	if r := be.api("GET", "/api/v1/projects/main/users/ghost/report", ""); r.code != http.StatusNotFound {
		t.Fatalf("unknown user: %d", r.code)
	}
	if r := b.get("/projects/" + be.p.ID + "/users/" + be.users[1].ID + "/report.csv"); r.code != http.StatusNotFound {
		t.Fatalf("CSV without a pass: %d", r.code)
	}
	r = b.get("/projects/" + be.p.ID + "/users/" + be.users[1].ID + "/report")
	mustContain(t, "no pass", r.body, "u1 has no pass yet.")
	if strings.Contains(r.body, "Download CSV") {
		t.Errorf("a CSV link without a report")
	}

	// No password of the user, anywhere.
	for _, p := range []string{page, page + ".csv", page + "?run=1"} {
		if r := b.get(p); strings.Contains(r.body, u0Password) {
			t.Errorf("%s shows the password", p)
		}
	}
	for _, p := range []string{"/report", "/reports", "/report.csv"} {
		if r := be.api("GET", "/api/v1/projects/main/users/u0"+p, ""); strings.Contains(r.body, u0Password) {
			t.Errorf("API %s shows the password", p)
		}
	}
}

func TestCSVSafeAndFileName(t *testing.T) {
	for in, want := range map[string]string{"=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "a=b": "a=b", "": "", "12": "12"} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"jane.doe@example.com": "jane.doe_example.com", `a"b\r\n/..`: "a_b_r_n_..", "..": "report", "ü": "__"} {
		if got := fileSafe(in); got != want {
			t.Errorf("fileSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBatchReport(t *testing.T) {
	be := newBatchEnv(t)
	b := be.admin("ada")
	nb := be.apiBatch(`{"name":"=wave","users":["u0","u1"]}`)
	calls := be.nextN(2)
	rep := sampleReport(be.clock.Now())
	rep.Totals = engine.Counts{Copied: 7, Bytes: 700, Skipped: 1, Failed: 2}
	calls["u0"].end(engine.StatusPartial, rep)
	calls["u1"].end(engine.StatusFailed, &engine.Report{Error: "login refused", ErrorKind: connector.KindAuth})
	be.waitState(nb.ID, project.BatchDone)

	page := "/projects/" + be.p.ID + "/batches/" + nb.ID + "/report"
	r := b.get(page)
	mustContain(t, "batch report", r.body, "Report of batch =wave",
		`<a href="/projects/`+be.p.ID+`/users/`+be.users[0].ID+`/report">u0</a></td><td>u0@example.com</td>`,
		`data-status="partial"`, "<td>1</td><td>7</td><td>700 B</td><td>1</td>", `<span class="error">2</span>`, "1m30s",
		`data-status="failed"`, "login refused", `href="`+page+`.csv"`)

	want := "source,target,status,passes,copied,bytes,skipped,failed,last pass seconds,error\n" +
		"u0,u0@example.com,partial,1,7,700,1,2,90,\n" +
		"u1,u1@example.com,failed,1,0,0,0,0,0,login refused\n"
	r = b.get(page + ".csv")
	if r.code != http.StatusOK || r.body != want || r.h.Get("Content-Disposition") != `attachment; filename="batch-_wave.csv"` {
		t.Fatalf("batch CSV: %d %v\n%s", r.code, r.h, r.body)
	}
	if r := be.api("GET", "/api/v1/projects/main/batches/=wave/report.csv", ""); r.body != want {
		t.Fatalf("API batch CSV: %d %s", r.code, r.body)
	}
	var rows []batchReportRow
	r = be.api("GET", "/api/v1/projects/main/batches/"+nb.ID+"/report", "")
	if err := json.Unmarshal([]byte(r.body), &rows); err != nil || len(rows) != 2 || rows[0].Copied != 7 || rows[0].LastPass != 90*time.Second ||
		rows[1].Status != project.StatusFailed || rows[1].Error != "login refused" {
		t.Fatalf("API batch report: %d %s", r.code, r.body)
	}

	// A delta pass adds up: passes 2, copied 7+3.
	if r := be.api("POST", "/api/v1/projects/main/batches/"+nb.ID+"/rerun", ""); r.code != http.StatusOK {
		t.Fatalf("rerun: %d %s", r.code, r.body)
	}
	calls = be.nextN(2)
	calls["u0"].prog.Copied.Store(3)
	calls["u0"].end(engine.StatusOK, nil)
	calls["u1"].end(engine.StatusOK, nil)
	be.waitState(nb.ID, project.BatchDone)
	rows = nil
	r = be.api("GET", "/api/v1/projects/main/batches/"+nb.ID+"/report", "")
	if err := json.Unmarshal([]byte(r.body), &rows); err != nil || rows[0].Passes != 2 || rows[0].Copied != 10 || rows[0].Failed != 0 ||
		rows[0].Status != project.StatusDone || rows[1].Error != "" {
		t.Fatalf("after a delta pass: %s", r.body)
	}
}
