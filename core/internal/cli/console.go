package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/scheduler"
)

const projectsUsage = `Usage:
  tern projects list
  tern projects create NAME --source CONNECTOR --target CONNECTOR [settings]
  tern projects show PROJECT
  tern projects update PROJECT [settings]
  tern projects delete PROJECT

A project joins a source and a target connector with what to migrate.
PROJECT is a project's id or name. These commands talk to the running
daemon (tern serve) through its API.
`

const batchesUsage = `Usage:
  tern batches list PROJECT
  tern batches start PROJECT [--users U1,U2 | --status new,failed | --all] [--name N]
                     [--at 2026-12-01T20:00] [--window "mon-fri 20:00-06:00"]...
                     [--concurrency N] [--delta-every 24h]
  tern batches status PROJECT BATCH [--watch 2s]
  tern batches pause|resume|cancel|rerun PROJECT BATCH

A batch runs users of a project under a schedule; rerun starts a delta
pass (only what is new). BATCH is a batch's id or name.
`

const reportsUsage = `Usage:
  tern reports PROJECT --user USER [--csv] [--all]   a user's last pass (every pass with --all)
  tern reports PROJECT --batch BATCH [--csv]         a batch's summary, a line per user
`

// settingsFlags are a project's settings as flags.
type settingsFlags struct {
	source, target, since, before  string
	include, exclude, rename       stringList
	maxSize                        int64
	noFlags, noSpecialUse, skipDel bool
	workers                        int
	rate                           float64
}

func (f *settingsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.source, "source", "", "source `connector`")
	fs.StringVar(&f.target, "target", "", "target `connector`")
	fs.Var(&f.include, "include", "migrate only folders matching `pattern` (repeatable; \"Work/**\")")
	fs.Var(&f.exclude, "exclude", "leave out folders matching `pattern` (repeatable)")
	fs.Var(&f.rename, "rename", "rename a folder and its children: `from=to` (repeatable)")
	fs.StringVar(&f.since, "since", "", "only messages from this `date` (YYYY-MM-DD)")
	fs.StringVar(&f.before, "before", "", "only messages before this `date` (YYYY-MM-DD)")
	fs.Int64Var(&f.maxSize, "max-size", 0, "leave out messages larger than `bytes`")
	fs.BoolVar(&f.noFlags, "no-flags", false, "migrate messages without their flags")
	fs.BoolVar(&f.noSpecialUse, "no-special-use", false, "do not map Sent, Drafts, Trash, Junk, Archive to the target's")
	fs.BoolVar(&f.skipDel, "skip-deleted", false, "leave out messages flagged \\Deleted")
	fs.IntVar(&f.workers, "workers", 0, "messages copied at once per mailbox (throttling)")
	fs.Float64Var(&f.rate, "rate", 0, "at most `n` messages a second per mailbox (throttling)")
}

// apply copies the flags that were given over p.
func (f *settingsFlags) apply(fs *flag.FlagSet, p *project.Project) error {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	s := &p.Settings
	if set["source"] {
		p.Source = f.source
	}
	if set["target"] {
		p.Target = f.target
	}
	if set["include"] {
		s.Include = f.include
	}
	if set["exclude"] {
		s.Exclude = f.exclude
	}
	if set["rename"] {
		s.Rename = nil
		for _, r := range f.rename {
			from, to, ok := strings.Cut(r, "=")
			if !ok {
				return fmt.Errorf("--rename %q: want from=to", r)
			}
			s.Rename = append(s.Rename, engine.Rename{From: from, To: to})
		}
	}
	if set["since"] {
		s.Since = f.since
	}
	if set["before"] {
		s.Before = f.before
	}
	if set["max-size"] {
		s.MaxSize = f.maxSize
	}
	if set["no-flags"] {
		s.NoFlags = f.noFlags
	}
	if set["no-special-use"] {
		s.NoSpecialUse = f.noSpecialUse
	}
	if set["skip-deleted"] {
		s.SkipDeleted = f.skipDel
	}
	if set["workers"] {
		s.Workers = f.workers
	}
	if set["rate"] {
		s.MessagesPerSecond = f.rate
	}
	return nil
}

// command parses a console command's flags and words and returns its
// client; ok false means the exit status is in code.
func command(name, usageText string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (af *apiFlags, fs *flag.FlagSet, words []string, c *apiClient, code int) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText, "\nFlags:\n"); fs.PrintDefaults() }
	af = &apiFlags{}
	af.register(fs)
	if extra != nil {
		extra(fs)
	}
	words, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, nil, nil, 0
		}
		return nil, nil, nil, nil, 2
	}
	if len(words) == 0 {
		fs.Usage()
		return nil, nil, nil, nil, 2
	}
	c, err = af.client()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, nil, nil, nil, 1
	}
	return af, fs, words, c, -1
}

func runProjects(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var sf settingsFlags
	af, fs, words, c, code := command("tern projects", projectsUsage, args, stderr, sf.register)
	if code >= 0 {
		return code
	}
	name := "tern projects " + words[0]
	want := map[string]int{"list": 1, "create": 2, "show": 2, "update": 2, "delete": 2}
	if n, ok := want[words[0]]; !ok || len(words) != n {
		fs.Usage()
		return 2
	}
	switch words[0] {
	case "list":
		var ps []*project.Project
		if err := c.do(ctx, "GET", "/projects", nil, &ps); err != nil {
			return fail(stderr, name, err)
		}
		if af.json {
			writeJSON(stdout, ps)
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSOURCE\tTARGET")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.ID, p.Name, p.Source, p.Target)
		}
		tw.Flush()
		return 0
	case "create", "update":
		p := &project.Project{Name: words[1]}
		method, path := "POST", "/projects"
		if words[0] == "update" {
			if err := c.do(ctx, "GET", "/projects/"+pathEscape(words[1]), nil, p); err != nil {
				return fail(stderr, name, err)
			}
			method, path = "PUT", "/projects/"+pathEscape(p.ID)
		}
		if err := sf.apply(fs, p); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 2
		}
		var out project.Project
		if err := c.do(ctx, method, path, p, &out); err != nil {
			return fail(stderr, name, err)
		}
		if af.json {
			writeJSON(stdout, out)
		} else {
			fmt.Fprintf(stdout, "project %s (%s): %s → %s\n", out.Name, out.ID, out.Source, out.Target)
		}
		return 0
	case "show":
		var p project.Project
		if err := c.do(ctx, "GET", "/projects/"+pathEscape(words[1]), nil, &p); err != nil {
			return fail(stderr, name, err)
		}
		writeJSON(stdout, p)
		return 0
	case "delete":
		if err := c.do(ctx, "DELETE", "/projects/"+pathEscape(words[1]), nil, nil); err != nil {
			return fail(stderr, name, err)
		}
		fmt.Fprintf(stdout, "project %s deleted, with its users and their secrets\n", words[1])
		return 0
	}
	return 2
}

const usersUsage = `Usage:
  tern users discover CONNECTOR [--json|--csv]
                         list the mailboxes a connector's administrator can see
  tern users list PROJECT [--status STATUS] [--search TEXT]
  tern users add PROJECT SOURCE_USER [TARGET_USER]
                         [--source-password-file F] [--target-password-file F]
  tern users import PROJECT FILE [--dry-run] [--format tern|exchange|imapsync]
                         Tern's CSV (source_user,target_user[,source_password,target_password]),
                         Exchange Online's (EmailAddress,UserName,Password[,UserRoot]) or
                         imapsync batch lines (host1;user1;password1;host2;user2;password2)
  tern users retrieve PROJECT
                         add the users the source connector lists (automated retrieval)
  tern users run PROJECT USER
                         a delta pass over one user now
  tern users delete PROJECT USER

USER is a user's id or source login. All but discover talk to the running
daemon (tern serve) through its API.
`

func runProjectUsers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var status, search, srcPwFile, dstPwFile, format string
	var dryRun bool
	af, fs, words, c, code := command("tern users", usersUsage, args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&status, "status", "", "with list: only users of this `status`")
		fs.StringVar(&search, "search", "", "with list: only users whose logins contain `text`")
		fs.StringVar(&srcPwFile, "source-password-file", "", "with add: `file` holding the user's own source password")
		fs.StringVar(&dstPwFile, "target-password-file", "", "with add: `file` holding the user's own target password")
		fs.StringVar(&format, "format", "", "with import: the file's `format` (default: detected)")
		fs.BoolVar(&dryRun, "dry-run", false, "with import: check the file and show what would be imported")
	})
	if code >= 0 {
		return code
	}
	name := "tern users " + words[0]
	want := map[string][2]int{"list": {2, 2}, "add": {3, 4}, "import": {3, 3}, "retrieve": {2, 2}, "run": {3, 3}, "delete": {3, 3}}
	if n, ok := want[words[0]]; !ok || len(words) < n[0] || len(words) > n[1] {
		fs.Usage()
		return 2
	}
	base := "/projects/" + pathEscape(words[1]) + "/users"
	switch words[0] {
	case "list":
		q := url.Values{}
		if status != "" {
			q.Set("status", status)
		}
		if search != "" {
			q.Set("q", search)
		}
		var us []*project.User
		if err := c.do(ctx, "GET", base+"?"+q.Encode(), nil, &us); err != nil {
			return fail(stderr, name, err)
		}
		if af.json {
			writeJSON(stdout, us)
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSOURCE\tTARGET\tSTATUS\tCOPIED\tERROR")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", u.ID, u.SourceUser, u.TargetUser, u.Status, u.Totals.Copied, u.Error)
		}
		tw.Flush()
		return 0
	case "add":
		body := map[string]string{"source_user": words[2]}
		if len(words) == 4 {
			body["target_user"] = words[3]
		}
		for key, file := range map[string]string{"source_password": srcPwFile, "target_password": dstPwFile} {
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					fmt.Fprintf(stderr, "%s: %v\n", name, err)
					return 2
				}
				body[key] = strings.TrimRight(string(b), "\r\n")
			}
		}
		var u project.User
		if err := c.do(ctx, "POST", base, body, &u); err != nil {
			return fail(stderr, name, err)
		}
		fmt.Fprintf(stdout, "user %s → %s added (%s)\n", u.SourceUser, u.TargetUser, u.ID)
		return 0
	case "import":
		f, err := os.Open(words[2])
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 2
		}
		defer f.Close()
		q := url.Values{}
		if dryRun {
			q.Set("dry_run", "1")
		}
		if format != "" {
			q.Set("format", format)
		}
		var res importResult
		if err := c.do(ctx, "POST", base+"/import?"+q.Encode(), f, &res); err != nil {
			return fail(stderr, name, err)
		}
		if af.json {
			writeJSON(stdout, res)
		} else {
			verb := "imported"
			if dryRun {
				verb = "would import"
			}
			fmt.Fprintf(stdout, "%s (%s format): %s %d new and %d updated users; %d bad lines\n", words[2], res.Format, verb, res.Added, res.Updated, len(res.Errors))
			for _, e := range res.Errors {
				fmt.Fprintf(stdout, "  line %d: %s\n", e.Line, e.Reason)
			}
		}
		if len(res.Errors) > 0 {
			return 1
		}
		return 0
	case "retrieve":
		var res importResult
		if err := c.do(ctx, "POST", base+"/retrieve", map[string]string{}, &res); err != nil {
			return fail(stderr, name, err)
		}
		if af.json {
			writeJSON(stdout, res)
		} else {
			fmt.Fprintf(stdout, "%d users added, %d already there\n", res.Added, res.Existing)
		}
		return 0
	case "run":
		if err := c.do(ctx, "POST", base+"/"+pathEscape(words[2])+"/run", map[string]string{}, nil); err != nil {
			return fail(stderr, name, err)
		}
		fmt.Fprintf(stdout, "a delta pass over %s is queued\n", words[2])
		return 0
	case "delete":
		if err := c.do(ctx, "DELETE", base+"/"+pathEscape(words[2]), nil, nil); err != nil {
			return fail(stderr, name, err)
		}
		fmt.Fprintf(stdout, "user %s deleted, with its secrets\n", words[2])
		return 0
	}
	return 2
}

// importResult is the API's answer to an import or a retrieval.
type importResult struct {
	Format   string `json:"format,omitempty"`
	Added    int    `json:"added"`
	Updated  int    `json:"updated"`
	Existing int    `json:"existing,omitempty"`
	Valid    int    `json:"valid"`
	DryRun   bool   `json:"dry_run,omitempty"`
	Errors   []struct {
		Line   int    `json:"line"`
		Reason string `json:"reason"`
		Text   string `json:"text,omitempty"`
	} `json:"errors"`
}

func runBatches(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var users, statuses, bname, at, deltaEvery string
	var windows stringList
	var all bool
	var concurrency int
	var watch time.Duration
	af, fs, words, c, code := command("tern batches", batchesUsage, args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&users, "users", "", "with start: the users (`ids or source logins`, comma-separated)")
		fs.StringVar(&statuses, "status", "", "with start: every user of these `statuses` (comma-separated)")
		fs.BoolVar(&all, "all", false, "with start: every user of the project")
		fs.StringVar(&bname, "name", "", "with start: the batch's `name`")
		fs.StringVar(&at, "at", "", "with start: start at this local `time` (2006-01-02T15:04)")
		fs.Var(&windows, "window", "with start: run only in this `window` (\"mon-fri 20:00-06:00\"; repeatable)")
		fs.IntVar(&concurrency, "concurrency", 0, "with start: mailboxes of the batch at once")
		fs.StringVar(&deltaEvery, "delta-every", "", "with start: a delta pass this long after each pass (`duration`, e.g. 24h)")
		fs.DurationVar(&watch, "watch", 0, "with status: print the progress every `interval` until the batch ends")
	})
	if code >= 0 {
		return code
	}
	name := "tern batches " + words[0]
	want := map[string]int{"list": 2, "start": 2, "status": 3, "pause": 3, "resume": 3, "cancel": 3, "rerun": 3}
	if n, ok := want[words[0]]; !ok || len(words) != n {
		fs.Usage()
		return 2
	}
	base := "/projects/" + pathEscape(words[1]) + "/batches"
	switch words[0] {
	case "list":
		var bs []scheduler.BatchProgress
		if err := c.do(ctx, "GET", base, nil, &bs); err != nil {
			return fail(stderr, name, err)
		}
		if af.json {
			writeJSON(stdout, bs)
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTATE\tPASS\tUSERS DONE\tCOPIED\tFAILED")
		for _, b := range bs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d/%d\t%d\t%d\n", b.Batch, b.Name, b.State, b.Pass, b.Done, len(b.Users), b.Copied, b.Failed)
		}
		tw.Flush()
		return 0
	case "start":
		body := map[string]any{"name": bname, "all": all, "concurrency": concurrency}
		if users != "" {
			body["users"] = strings.Split(users, ",")
		}
		if statuses != "" {
			body["status"] = strings.Split(statuses, ",")
		}
		if at != "" {
			t, err := time.ParseInLocation("2006-01-02T15:04", at, time.Local)
			if err != nil {
				fmt.Fprintf(stderr, "%s: --at %q: want 2006-01-02T15:04\n", name, at)
				return 2
			}
			body["start_at"] = t
		}
		if len(windows) > 0 {
			body["windows"] = []string(windows)
		}
		if deltaEvery != "" {
			body["delta_every"] = deltaEvery
		}
		var b project.Batch
		if err := c.do(ctx, "POST", base, body, &b); err != nil {
			return fail(stderr, name, err)
		}
		if af.json {
			writeJSON(stdout, b)
		} else {
			fmt.Fprintf(stdout, "batch %s (%s) of %d users: %s\n", b.Name, b.ID, len(b.Users), b.State)
		}
		return 0
	case "status":
		for {
			var bp scheduler.BatchProgress
			if err := c.do(ctx, "GET", base+"/"+pathEscape(words[2]), nil, &bp); err != nil {
				return fail(stderr, name, err)
			}
			if af.json {
				writeJSON(stdout, bp)
			} else {
				printBatch(stdout, &bp)
			}
			ended := bp.State == project.BatchDone || bp.State == project.BatchCancelled || bp.State == project.BatchPaused
			if watch <= 0 || ended {
				return 0
			}
			select {
			case <-ctx.Done():
				return 1
			case <-time.After(watch):
			}
		}
	default: // pause, resume, cancel, rerun
		var b project.Batch
		if err := c.do(ctx, "POST", base+"/"+pathEscape(words[2])+"/"+words[0], map[string]string{}, &b); err != nil {
			return fail(stderr, name, err)
		}
		fmt.Fprintf(stdout, "batch %s: %s (pass %d)\n", b.Name, b.State, b.Pass)
		return 0
	}
}

func printBatch(w io.Writer, b *scheduler.BatchProgress) {
	eta := "unknown"
	if b.ETAKnown {
		eta = b.ETA.Round(time.Second).String()
	}
	fmt.Fprintf(w, "batch %s (%s): %s, pass %d · users done %d/%d · copied %d/%d, %s · %.1f msg/s · ETA %s · skipped %d · failed %d\n",
		b.Name, b.Batch, b.State, b.Pass, b.Done, len(b.Users), b.Copied, b.ToCopy, humanBytes(b.Bytes), b.Rate, eta, b.Skipped, b.Failed)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  SOURCE\tTARGET\tSTATUS\tFOLDERS\tCOPIED\tBYTES\tERROR")
	for _, u := range b.Users {
		e := u.Error
		if u.Waiting != "" {
			e = "waiting: " + u.Waiting
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d/%d\t%d/%d\t%s\t%s\n", u.SourceUser, u.TargetUser, u.Status, u.FoldersDone, u.FoldersTotal, u.Copied, u.ToCopy, humanBytes(u.Bytes), e)
	}
	tw.Flush()
}

func runReports(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var user, batch string
	var csvOut, allPasses bool
	af, fs, words, c, code := command("tern reports", reportsUsage, args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "", "the `user` (id or source login)")
		fs.StringVar(&batch, "batch", "", "the `batch` (id or name)")
		fs.BoolVar(&csvOut, "csv", false, "print CSV")
		fs.BoolVar(&allPasses, "all", false, "with --user: every pass, not only the last")
	})
	if code >= 0 {
		return code
	}
	if len(words) != 1 || (user == "") == (batch == "") {
		fs.Usage()
		return 2
	}
	p := "/projects/" + pathEscape(words[0])
	switch {
	case user != "" && csvOut:
		return okOr(stderr, c.do(ctx, "GET", p+"/users/"+pathEscape(user)+"/report.csv", nil, stdout))
	case user != "":
		path := p + "/users/" + pathEscape(user) + "/reports"
		if !allPasses {
			path = p + "/users/" + pathEscape(user) + "/report"
		}
		if af.json || allPasses {
			var v any
			if err := c.do(ctx, "GET", path, nil, &v); err != nil {
				return fail(stderr, "tern reports", err)
			}
			writeJSON(stdout, v)
			return 0
		}
		var r project.RunReport
		if err := c.do(ctx, "GET", path, nil, &r); err != nil {
			return fail(stderr, "tern reports", err)
		}
		printSummary(stdout, []*engine.Report{r.Report})
		return 0
	case csvOut:
		return okOr(stderr, c.do(ctx, "GET", p+"/batches/"+pathEscape(batch)+"/report.csv", nil, stdout))
	default:
		var v any
		if err := c.do(ctx, "GET", p+"/batches/"+pathEscape(batch)+"/report", nil, &v); err != nil {
			return fail(stderr, "tern reports", err)
		}
		writeJSON(stdout, v)
		return 0
	}
}

func okOr(stderr io.Writer, err error) int {
	if err != nil {
		return fail(stderr, "tern reports", err)
	}
	return 0
}
