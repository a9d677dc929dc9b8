package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ternmail/tern/internal/testserver"
)

// ToolResult is what the benchmark measured of one migration tool.
type ToolResult struct {
	Tool    string   `json:"tool"`
	Command []string `json:"command"`
	// First is the migration into empty target mailboxes; Rerun the same
	// command again with nothing changed.
	First Phase `json:"first"`
	Rerun Phase `json:"rerun"`
	// Throughput of First over the source's messages and served bytes.
	MsgsPerSec float64 `json:"msgs_per_sec"`
	MBps       float64 `json:"mb_per_sec"`
	Verify     *Verify `json:"verify,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// Verify is how the targets compare with the source after both runs.
type Verify struct {
	Equal          bool     `json:"equal"`
	Differing      int      `json:"differing_messages"`
	Missing        int      `json:"missing"`
	Duplicates     int      `json:"duplicates"`
	Extra          int      `json:"extra"`
	DateMismatch   int      `json:"date_mismatch"`
	FlagMismatch   int      `json:"flag_mismatch"`
	ByteDiffering  int      `json:"byte_differing"` // served bytes differ from the source's, before any header is ignored
	IgnoredHeaders []string `json:"ignored_headers,omitempty"`
	MissingFolders []string `json:"missing_folders,omitempty"`
	ExtraFolders   []string `json:"extra_folders,omitempty"`
	Lines          []string `json:"lines,omitempty"`
	Seconds        float64  `json:"seconds"`
}

// verify snapshots dst users and compares each with its source.
func verify(dstUsers []string, src []testserver.Mailbox, conns int, ignore []string) (*Verify, error) {
	t0 := time.Now()
	var opts *testserver.SnapshotOptions
	if len(ignore) > 0 {
		opts = &testserver.SnapshotOptions{IgnoreHeaderFields: ignore}
	}
	dst, err := snapshots(testserver.DovecotDst, dstUsers, conns, opts)
	if err != nil {
		return nil, fmt.Errorf("snapshot target: %w", err)
	}
	v := &Verify{Equal: true, IgnoredHeaders: ignore}
	for i := range dst {
		d := testserver.Diff(src[i], dst[i], nil)
		v.Equal = v.Equal && d.Equal()
		v.Differing += d.Messages()
		v.Missing += d.Missing
		v.Duplicates += d.Duplicates
		v.Extra += d.Extra
		v.DateMismatch += d.DateMismatch
		v.FlagMismatch += d.FlagMismatch
		for _, f := range d.MissingFolders {
			v.MissingFolders = append(v.MissingFolders, dstUsers[i]+": "+f)
		}
		for _, f := range d.ExtraFolders {
			v.ExtraFolders = append(v.ExtraFolders, dstUsers[i]+": "+f)
		}
		for _, l := range d.Lines {
			if len(v.Lines) < 24 {
				v.Lines = append(v.Lines, dstUsers[i]+": "+l)
			}
		}
		// Messages whose bytes differ: those that matched only after
		// ignoring headers, plus those Diff could not match by content.
		for _, f := range dst[i] {
			for _, r := range f.Messages {
				if r.Ignored > 0 {
					v.ByteDiffering++
				}
			}
		}
	}
	v.ByteDiffering += v.Missing
	v.Seconds = time.Since(t0).Seconds()
	return v, nil
}

func throughput(r *ToolResult, res *Results) {
	if r.First.Seconds > 0 {
		r.MsgsPerSec = float64(res.SourceMessages) / r.First.Seconds
		r.MBps = float64(res.SourceBytes) / 1e6 / r.First.Seconds
	}
}

// benchTern migrates srcUsers to dstUsers with bin/tern, twice, and
// verifies the targets.
func benchTern(c config, work string, srcUsers, dstUsers []string, srcSnap []testserver.Mailbox, res *Results) (*ToolResult, error) {
	dir := filepath.Join(work, "tern")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	csvPath := filepath.Join(dir, "users.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		return nil, err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"source_user", "target_user"})
	for i := range srcUsers {
		w.Write([]string{srcUsers[i], dstUsers[i]})
	}
	w.Flush()
	if err := f.Close(); err != nil {
		return nil, err
	}
	bin, _ := filepath.Abs("bin")
	src, dst := testserver.DovecotSrc, testserver.DovecotDst
	args := []string{"migrate",
		"--source", "imap", "--source-host", src.Host, "--source-port", strconv.Itoa(src.Port),
		"--source-tls", "starttls", "--source-ca-file", testserver.CAFile(),
		"--target", "imap", "--target-host", dst.Host, "--target-port", strconv.Itoa(dst.Port),
		"--target-tls", "starttls", "--target-ca-file", testserver.CAFile(),
		"--users", csvPath,
		"--state", filepath.Join(dir, "state"),
		"--plugins", bin,
		"--json",
	}
	args = append(args, strings.Fields(c.ternArgs)...)
	r := &ToolResult{Tool: "tern", Command: append([]string{"bin/tern"}, args...)}
	env := append(os.Environ(), "TERN_SOURCE_PASSWORD="+testserver.Password(), "TERN_TARGET_PASSWORD="+testserver.Password())
	runOnce := func(phase string) (Phase, error) {
		cmd := exec.Command(filepath.Join(bin, "tern"), args...)
		cmd.Env = env
		closeLogs, err := logTo(cmd, dir, phase)
		if err != nil {
			return Phase{}, err
		}
		logf("tern %s: %s", phase, strings.Join(r.Command, " "))
		p := measure([]*exec.Cmd{cmd}, 1, c.sampleEvery)
		closeLogs()
		logf("tern %s: exit %v in %.1fs, peak RSS %s (sum VmHWM %s)", phase, p.ExitCodes, p.Seconds, mib(p.PeakRSS), mib(p.SumHWM))
		if p.ExitCodes[0] != 0 {
			return p, fmt.Errorf("%s run exited with %d; stderr ends:\n%s", phase, p.ExitCodes[0], tail(filepath.Join(dir, phase+".err"), 15))
		}
		return p, nil
	}
	var errs []string
	if r.First, err = runOnce("first"); err != nil {
		errs = append(errs, err.Error())
	}
	throughput(r, res)
	if r.Rerun, err = runOnce("rerun"); err != nil {
		errs = append(errs, err.Error())
	}
	if srcSnap != nil {
		logf("tern: verifying the targets")
		if r.Verify, err = verify(dstUsers, srcSnap, c.snapshotConns, nil); err != nil {
			errs = append(errs, err.Error())
		} else if !r.Verify.Equal {
			errs = append(errs, fmt.Sprintf("targets differ from the source in %d messages:\n%s", r.Verify.Differing, strings.Join(r.Verify.Lines, "\n")))
		}
	}
	if len(errs) > 0 {
		r.Error = strings.Join(errs, "\n")
		return r, fmt.Errorf("%s", r.Error)
	}
	return r, nil
}

// mbsyncConfig is one user's mbsync configuration: far = source, near =
// target, everything pulled, nothing expunged, arrival dates kept.
const mbsyncConfig = `# Generated by scripts/bench for one user.
IMAPAccount src
Host {{.SrcHost}}
Port {{.SrcPort}}
User {{.SrcUser}}
Pass {{.Pass}}
SSLType STARTTLS
CertificateFile {{.CA}}

IMAPStore src
Account src

IMAPAccount dst
Host {{.DstHost}}
Port {{.DstPort}}
User {{.DstUser}}
Pass {{.Pass}}
SSLType STARTTLS
CertificateFile {{.CA}}

IMAPStore dst
Account dst

Channel migrate
Far :src:
Near :dst:
Patterns *
Create Near
Sync Pull
Expunge None
Remove None
CopyArrivalDate yes
SyncState {{.State}}/
`

// benchMbsync migrates srcUsers to dstUsers with mbsync, one process per
// user, c.mbsyncParallel at once, twice, and verifies the targets.
func benchMbsync(c config, work string, srcUsers, dstUsers []string, srcSnap []testserver.Mailbox, res *Results) (*ToolResult, error) {
	dir := filepath.Join(work, "mbsync")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var rcs []string
	for i := range srcUsers {
		state := filepath.Join(dir, fmt.Sprintf("state-u%d", i))
		if err := os.MkdirAll(state, 0o700); err != nil {
			return nil, err
		}
		rc := strings.NewReplacer(
			"{{.SrcHost}}", "localhost", "{{.SrcPort}}", strconv.Itoa(testserver.DovecotSrc.Port),
			"{{.DstHost}}", "localhost", "{{.DstPort}}", strconv.Itoa(testserver.DovecotDst.Port),
			"{{.SrcUser}}", srcUsers[i], "{{.DstUser}}", dstUsers[i],
			"{{.Pass}}", testserver.Password(), "{{.CA}}", testserver.CAFile(), "{{.State}}", state,
		).Replace(mbsyncConfig)
		path := filepath.Join(dir, fmt.Sprintf("u%d.rc", i))
		if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
			return nil, err
		}
		rcs = append(rcs, path)
	}
	r := &ToolResult{Tool: "mbsync", Command: []string{"mbsync", "-c", filepath.Join(dir, "u<i>.rc"), "-a"}}
	runOnce := func(phase string) (Phase, error) {
		var cmds []*exec.Cmd
		var closers []func()
		for i, rc := range rcs {
			cmd := exec.Command("mbsync", "-c", rc, "-a")
			cl, err := logTo(cmd, dir, fmt.Sprintf("%s-u%d", phase, i))
			if err != nil {
				return Phase{}, err
			}
			closers = append(closers, cl)
			cmds = append(cmds, cmd)
		}
		logf("mbsync %s: %d processes, %d at once", phase, len(cmds), c.mbsyncParallel)
		p := measure(cmds, c.mbsyncParallel, c.sampleEvery)
		for _, cl := range closers {
			cl()
		}
		logf("mbsync %s: exit %v in %.1fs, peak RSS %s (sum VmHWM %s)", phase, p.ExitCodes, p.Seconds, mib(p.PeakRSS), mib(p.SumHWM))
		for i, code := range p.ExitCodes {
			if code != 0 {
				return p, fmt.Errorf("%s run for user %d exited with %d; stderr ends:\n%s", phase, i, code, tail(filepath.Join(dir, fmt.Sprintf("%s-u%d.err", phase, i)), 10))
			}
		}
		return p, nil
	}
	var errs []string
	var err error
	if r.First, err = runOnce("first"); err != nil {
		errs = append(errs, err.Error())
	}
	throughput(r, res)
	if r.Rerun, err = runOnce("rerun"); err != nil {
		errs = append(errs, err.Error())
	}
	if srcSnap != nil {
		logf("mbsync: verifying the targets (ignoring X-TUID)")
		if r.Verify, err = verify(dstUsers, srcSnap, c.snapshotConns, []string{"X-TUID"}); err != nil {
			errs = append(errs, err.Error())
		}
	}
	// mbsync's inexactness is a finding, not a failure of the benchmark.
	if len(errs) > 0 {
		r.Error = strings.Join(errs, "\n")
		return r, fmt.Errorf("%s", r.Error)
	}
	return r, nil
}
