package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
)

type config struct {
	users, perUser  int
	seed            int64
	keep            bool
	ternArgs        string
	json            bool
	only            string
	seedConns       int
	mbsyncParallel  int
	reuse           string
	work            string
	build           bool
	sampleEvery     time.Duration
	verify          bool
	snapshotConns   int
	mbsyncPipeline  int
	ternConcurrency int
}

func main() {
	var c config
	flag.IntVar(&c.users, "users", 4, "number of users (mailboxes)")
	flag.IntVar(&c.perUser, "per-user", 2000, "messages per user")
	flag.Int64Var(&c.seed, "seed", 1, "corpus seed")
	flag.BoolVar(&c.keep, "keep", false, "keep the mailboxes and the work directory (state, configs, logs)")
	flag.StringVar(&c.ternArgs, "tern-args", "", "extra arguments for `tern migrate` (split on spaces)")
	flag.BoolVar(&c.json, "json", false, "print the results as JSON on stdout")
	flag.StringVar(&c.only, "only", "all", "what to run: all, tern, mbsync, seed")
	flag.IntVar(&c.seedConns, "seed-conns", 2, "APPEND connections per user while seeding")
	flag.IntVar(&c.mbsyncParallel, "mbsync-parallel", 4, "mbsync processes at once (one per user)")
	flag.StringVar(&c.reuse, "reuse", "", "reuse source users seeded (and kept) by an earlier run with this prefix; skips seeding")
	flag.StringVar(&c.work, "work", "", "work directory (default: a new temporary directory)")
	flag.BoolVar(&c.build, "build", false, "rebuild bin/tern and bin/tern-connector-imap even if present")
	flag.DurationVar(&c.sampleEvery, "sample", 20*time.Millisecond, "RSS sampling interval")
	flag.BoolVar(&c.verify, "verify", true, "compare targets with the source after migrating")
	flag.IntVar(&c.snapshotConns, "snapshot-conns", 4, "users snapshotted at once while verifying")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// logf reports progress on stderr, so stdout stays clean for -json.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func runID() string {
	var b [3]byte
	rand.Read(b[:])
	return time.Now().Format("0102-1504") + "-" + hex.EncodeToString(b[:])
}

func run(c config) error {
	switch c.only {
	case "all", "tern", "mbsync", "seed":
	default:
		return fmt.Errorf("-only %q: want all, tern, mbsync or seed", c.only)
	}
	root := testserver.RepoRoot()
	if err := os.Chdir(root); err != nil {
		return err
	}
	logf("starting test servers")
	if out, err := exec.Command("scripts/test-servers.sh", "start").CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/test-servers.sh start: %v\n%s", err, out)
	}
	doTern := c.only == "all" || c.only == "tern"
	doMbsync := c.only == "all" || c.only == "mbsync"
	if doTern {
		if err := buildTern(c.build); err != nil {
			return err
		}
	}
	if doMbsync {
		if _, err := exec.LookPath("mbsync"); err != nil {
			return fmt.Errorf("mbsync not found (Debian package isync): %w", err)
		}
	}

	id := runID()
	work := c.work
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "tern-bench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}

	res := &Results{RunID: id, Users: c.users, PerUser: c.perUser, Seed: c.seed, Work: work}
	prefix := "bench-" + id
	if c.reuse != "" {
		prefix = c.reuse
	}
	res.SourcePrefix = prefix
	srcUsers := names(prefix, "", c.users)
	mbs := corpus.Bench(c.users, c.perUser, c.seed)
	var planned int64
	for _, mb := range mbs {
		planned += mb.Bytes()
	}
	var cleanup []func()
	defer func() {
		if c.keep {
			logf("kept: work directory %s; source users %s-u0…; rerun with -reuse %s", work, prefix, prefix)
			return
		}
		for _, f := range cleanup {
			f()
		}
		os.RemoveAll(work)
	}()
	if c.reuse == "" {
		cleanup = append(cleanup, func() { removeUsers(testserver.DovecotSrc, srcUsers) })
		logf("seeding %d users × %d messages (%.2f GB) into %s over %d connections per user", c.users, c.perUser, float64(planned)/1e9, testserver.DovecotSrc.Name, c.seedConns)
		last := time.Now()
		var mu sync.Mutex
		st, err := testserver.SeedParallel(testserver.DovecotSrc, srcUsers, mbs, c.seedConns, func(n int, b int64) {
			mu.Lock()
			defer mu.Unlock()
			if time.Since(last) > 5*time.Second {
				last = time.Now()
				logf("  seeded %d messages, %.0f MB", n, float64(b)/1e6)
			}
		})
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		res.Seeding = &SeedResult{Messages: st.Messages, Bytes: st.Bytes, Seconds: st.Elapsed.Seconds(), Conns: c.users * c.seedConns,
			MBps: float64(st.Bytes) / 1e6 / st.Elapsed.Seconds(), MsgsPerSec: float64(st.Messages) / st.Elapsed.Seconds()}
		logf("seeded %d messages, %.2f GB in %s (%.1f MB/s, %.0f msg/s)", st.Messages, float64(st.Bytes)/1e9,
			st.Elapsed.Round(time.Millisecond), res.Seeding.MBps, res.Seeding.MsgsPerSec)
	}
	if c.only == "seed" {
		return res.print(c.json)
	}

	var srcSnap []testserver.Mailbox
	if c.verify {
		logf("snapshotting the source")
		t0 := time.Now()
		var err error
		srcSnap, err = snapshots(testserver.DovecotSrc, srcUsers, c.snapshotConns, nil)
		if err != nil {
			return fmt.Errorf("snapshot source: %w", err)
		}
		res.SnapshotSeconds = time.Since(t0).Seconds()
		for _, s := range srcSnap {
			res.SourceMessages += s.Count()
			res.SourceBytes += s.Bytes()
		}
		logf("source: %d messages, %.2f GB served; snapshot took %s", res.SourceMessages, float64(res.SourceBytes)/1e9, time.Since(t0).Round(time.Millisecond))
	} else {
		for _, mb := range mbs {
			res.SourceMessages += mb.Count()
		}
		res.SourceBytes = planned
	}

	var errs []error
	if doTern {
		dst := names(prefix+"-"+id[len(id)-6:], "tern", c.users)
		if c.reuse == "" {
			dst = names(prefix, "tern", c.users)
		}
		cleanup = append(cleanup, func() { removeUsers(testserver.DovecotDst, dst) })
		r, err := benchTern(c, work, srcUsers, dst, srcSnap, res)
		res.Tern = r
		if err != nil {
			errs = append(errs, fmt.Errorf("tern: %w", err))
		}
	}
	if doMbsync {
		dst := names(prefix+"-"+id[len(id)-6:], "mbsync", c.users)
		if c.reuse == "" {
			dst = names(prefix, "mbsync", c.users)
		}
		cleanup = append(cleanup, func() { removeUsers(testserver.DovecotDst, dst) })
		r, err := benchMbsync(c, work, srcUsers, dst, srcSnap, res)
		res.Mbsync = r
		if err != nil {
			errs = append(errs, fmt.Errorf("mbsync: %w", err))
		}
	}
	if err := res.print(c.json); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// names returns n user names: prefix[-kind]-u<i>.
func names(prefix, kind string, n int) []string {
	out := make([]string, n)
	for i := range out {
		if kind != "" {
			out[i] = fmt.Sprintf("%s-%s-u%d", prefix, kind, i)
		} else {
			out[i] = fmt.Sprintf("%s-u%d", prefix, i)
		}
	}
	return out
}

func removeUsers(inst testserver.Instance, users []string) {
	for _, u := range users {
		if err := testserver.RemoveUser(inst, u); err != nil {
			logf("remove %s on %s: %v", u, inst.Name, err)
		}
	}
}

func buildTern(force bool) error {
	for _, b := range []struct{ out, pkg string }{
		{"bin/tern", "./core/cmd/tern"},
		{"bin/tern-connector-imap", "./plugins/imap"},
	} {
		if _, err := os.Stat(b.out); err == nil && !force {
			continue
		}
		logf("building %s", b.out)
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build -o %s %s: %v\n%s", b.out, b.pkg, err, out)
		}
	}
	return nil
}

// snapshots takes the snapshots of users on inst, conns users at a time.
func snapshots(inst testserver.Instance, users []string, conns int, opts *testserver.SnapshotOptions) ([]testserver.Mailbox, error) {
	out := make([]testserver.Mailbox, len(users))
	errs := make([]error, len(users))
	sem := make(chan struct{}, max(conns, 1))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cl, err := testserver.Login(inst, u)
			if err != nil {
				errs[i] = err
				return
			}
			defer cl.Close()
			out[i], errs[i] = testserver.TakeSnapshot(cl, opts)
			cl.Logout().Wait()
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Phase is one measured run of a tool.
type Phase struct {
	Seconds    float64  `json:"seconds"`
	CPUSeconds float64  `json:"cpu_seconds"` // user+sys of the processes and their reaped children
	PeakRSS    int64    `json:"peak_rss_bytes"`
	SumHWM     int64    `json:"sum_vmhwm_bytes"`
	MaxRSSRU   int64    `json:"max_rss_rusage_bytes"` // largest ru_maxrss of one process tree (wait4)
	ExitCodes  []int    `json:"exit_codes"`
	Processes  []string `json:"processes,omitempty"`
	Samples    int      `json:"samples"`
}

// measure runs cmds, at most parallel at once, sampling the memory of
// all their process trees together, and waits for all.
func measure(cmds []*exec.Cmd, parallel int, every time.Duration) Phase {
	s := newTreeSampler(every)
	s.start()
	t0 := time.Now()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		p   Phase
		sem = make(chan struct{}, max(parallel, 1))
	)
	p.ExitCodes = make([]int, len(cmds))
	for i, cmd := range cmds {
		sem <- struct{}{}
		if err := cmd.Start(); err != nil {
			logf("start %s: %v", cmd.Path, err)
			p.ExitCodes[i] = -1
			<-sem
			continue
		}
		s.add(cmd.Process.Pid)
		wg.Go(func() {
			defer func() { <-sem }()
			cmd.Wait()
			st := cmd.ProcessState
			mu.Lock()
			defer mu.Unlock()
			p.ExitCodes[i] = st.ExitCode()
			p.CPUSeconds += (st.UserTime() + st.SystemTime()).Seconds()
			if ru, ok := st.SysUsage().(*syscall.Rusage); ok && ru.Maxrss<<10 > p.MaxRSSRU {
				p.MaxRSSRU = ru.Maxrss << 10
			}
		})
	}
	wg.Wait()
	p.Seconds = time.Since(t0).Seconds()
	p.PeakRSS, p.SumHWM, p.Processes = s.finish()
	p.Samples = s.samples
	return p
}

// logTo points cmd's output at files in dir named base.out and base.err.
func logTo(cmd *exec.Cmd, dir, base string) (closeFn func(), err error) {
	o, err := os.Create(filepath.Join(dir, base+".out"))
	if err != nil {
		return nil, err
	}
	e, err := os.Create(filepath.Join(dir, base+".err"))
	if err != nil {
		o.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = o, e
	return func() { o.Close(); e.Close() }, nil
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, _ := f.Stat()
	off := max(st.Size()-16<<10, 0)
	f.Seek(off, io.SeekStart)
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func sumBytes(mbs []testserver.Mailbox) (n int, b int64) {
	for _, m := range mbs {
		n += m.Count()
		b += m.Bytes()
	}
	return n, b
}
