package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/ternmail/tern/core/internal/ledger"
	"github.com/ternmail/tern/sdk/connector"
)

// Config configures an Engine.
type Config struct {
	// MemoryBudget bounds the bytes of message data in flight in this
	// process, over all jobs. Default 32 MiB.
	MemoryBudget int64
	// Logger receives the engine's log lines.
	Logger *slog.Logger
}

// Engine runs mailbox jobs. One Engine serves any number of concurrent
// jobs and shares its memory budget between them.
type Engine struct {
	budget    *semaphore.Weighted
	budgetMax int64
	log       *slog.Logger
}

// New returns an engine.
func New(cfg Config) *Engine {
	if cfg.MemoryBudget <= 0 {
		cfg.MemoryBudget = 32 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{budget: semaphore.NewWeighted(cfg.MemoryBudget), budgetMax: cfg.MemoryBudget, log: cfg.Logger}
}

// weight is what a transfer of a message of size bytes costs of the
// budget. Bodies stream, so a large message costs a few chunks, not its
// size.
func (e *Engine) weight(size int64, chunk int) int64 {
	w := min(size, 2*int64(chunk)) + 64<<10
	return min(w, e.budgetMax)
}

// run is one job in progress.
type run struct {
	e      *Engine
	job    *Job
	opts   Options
	log    *slog.Logger
	src    *side
	tgt    *side
	red    *secrets
	caps   connector.Capabilities
	tasks  chan *task
	cancel context.CancelCauseFunc

	claimMu sync.Mutex
	claimed map[string]bool // target folder + "\x00" + ref, claimed in this run

	noDirectCopy atomic.Bool // source and target sessions cannot copy directly

	limiter *rate.Limiter // the mailbox's copy rate, if capped
}

// errMailbox marks errors that end the whole job.
type errMailbox struct{ err error }

func (e errMailbox) Error() string { return e.err.Error() }
func (e errMailbox) Unwrap() error { return e.err }

// Run runs one pass over a mailbox and returns its report. It never
// panics on bad input and never returns without a report; a job that
// could not run has Status failed and Error set.
func (e *Engine) Run(ctx context.Context, job *Job) *Report {
	opts := job.Options.withDefaults()
	if opts.ChunkSize == 0 {
		opts.ChunkSize = 1 << 20
	}
	red := &secrets{}
	r := &run{
		e: e, job: job, opts: opts, red: red,
		log:     e.log.With("mailbox", job.Mailbox),
		src:     &side{ep: job.Source, role: connector.RoleSource, chunk: opts.ChunkSize, red: red},
		tgt:     &side{ep: job.Target, role: connector.RoleTarget, chunk: opts.ChunkSize, red: red},
		claimed: make(map[string]bool),
	}
	if opts.MessagesPerSecond > 0 {
		// At most a second's worth at once: a batch bigger than that
		// would let a burst through before the cap bites.
		r.opts.BatchSize = max(1, min(r.opts.BatchSize, int(math.Ceil(opts.MessagesPerSecond))))
		r.limiter = rate.NewLimiter(rate.Limit(opts.MessagesPerSecond), r.opts.BatchSize)
	}
	if job.Progress == nil {
		job.Progress = &Progress{}
	}
	onWait := func(label string) func(string) {
		return func(reason string) {
			if reason == "" {
				r.log.Info("credentials available again; resuming", "side", label)
			} else if job.Progress.Waiting() == "" {
				r.log.Warn("paused: waiting for credentials", "side", label, "reason", reason)
			}
			if reason != "" {
				reason = label + ": " + reason
			}
			job.Progress.setWaiting(reason)
		}
	}
	r.src.onWait, r.tgt.onWait = onWait("source"), onWait("target")
	rep := &Report{Mailbox: job.Mailbox, Source: job.Source.Label, Target: job.Target.Label, Started: time.Now().UTC()}
	err := r.run(ctx, rep)
	rep.Finished = time.Now().UTC()
	rep.Duration = rep.Finished.Sub(rep.Started)
	for _, f := range rep.Folders {
		rep.Totals.add(f.Counts)
	}
	switch {
	case err != nil:
		rep.Status = StatusFailed
		rep.Error = red.scrub(err.Error())
		rep.ErrorKind = connector.KindOf(err)
	case rep.Totals.Failed > 0 || rep.Totals.Skipped > 0 || slices.ContainsFunc(rep.Folders, func(f *FolderReport) bool { return f.Error != "" }):
		rep.Status = StatusPartial
	default:
		rep.Status = StatusOK
	}
	r.log.Info("mailbox pass finished", "status", rep.Status, "copied", rep.Totals.Copied, "bytes", rep.Totals.Bytes,
		"present", rep.Totals.Present, "skipped", rep.Totals.Skipped, "failed", rep.Totals.Failed, "duration", rep.Duration.Round(time.Millisecond))
	return rep
}

func (r *run) run(ctx context.Context, rep *Report) error {
	if err := r.opts.Rules.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.cancel = cancel
	defer r.src.close()
	defer r.tgt.close()

	desc, err := r.job.Target.Connector.Describe(ctx)
	if err != nil {
		return fmt.Errorf("describe target connector: %w", err)
	}
	r.caps = desc.Capabilities

	var srcH, dstH *connector.Hierarchy
	err = r.retry(ctx, "list source folders", r.src, func(ctx context.Context) (err error) {
		s, _, err := r.src.source(ctx)
		if err == nil {
			srcH, err = s.Folders(ctx)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("source %s: %w", r.job.Source.Label, err)
	}
	err = r.retry(ctx, "list target folders", r.tgt, func(ctx context.Context) (err error) {
		t, _, err := r.tgt.target(ctx)
		if err == nil {
			dstH, err = t.Folders(ctx)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("target %s: %w", r.job.Target.Label, err)
	}
	plan := MakePlan(srcH, dstH, &r.opts.Rules)
	rep.Excluded = plan.Excluded
	r.job.Progress.FoldersTotal.Store(int64(len(plan.Folders)))

	// Workers copy messages of every folder of the mailbox.
	r.tasks = make(chan *task, r.opts.Workers)
	var workers sync.WaitGroup
	for range r.opts.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for t := range r.tasks {
				r.runTask(ctx, t)
			}
		}()
	}
	// Folders are listed a few at a time; their messages share the workers.
	rep.Folders = make([]*FolderReport, len(plan.Folders))
	folderSem := make(chan struct{}, r.opts.Folders)
	var folders sync.WaitGroup
	for i, fp := range plan.Folders {
		select {
		case folderSem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			rep.Folders[i] = &FolderReport{Source: fp.Source, Target: fp.Target, Error: "not started: the job was stopped"}
			continue
		}
		folders.Add(1)
		go func() {
			defer folders.Done()
			defer func() { <-folderSem }()
			rep.Folders[i] = r.folder(ctx, fp)
			r.job.Progress.FoldersDone.Add(1)
		}()
	}
	folders.Wait()
	close(r.tasks)
	workers.Wait()
	if err := r.job.Ledger.Sync(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("sync ledger: %w", err)
	}
	if cause := context.Cause(ctx); cause != nil {
		var em errMailbox
		if errors.As(cause, &em) {
			return em.err
		}
		return cause
	}
	return nil
}

// retry runs op until it succeeds, fails permanently or runs out of
// attempts, backing off between tries and reopening the side's session
// after ErrUnavailable.
func (r *run) retry(ctx context.Context, what string, s *side, op func(context.Context) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		s.mu.Lock()
		gen := s.gen
		s.mu.Unlock()
		err = op(ctx)
		if err == nil || !connector.IsTemporary(err) || attempt >= r.opts.MaxAttempts || ctx.Err() != nil {
			return err
		}
		if errors.Is(err, connector.ErrUnavailable) {
			s.reset(gen)
		}
		d := r.backoff(attempt, err)
		r.log.Warn("retrying", "op", what, "attempt", attempt, "in", d, "err", r.red.scrub(err.Error()))
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// backoff returns the wait before try attempt+1: exponential from
// RetryBase up to RetryMax, or the server's hint up to MaxRetryAfter.
func (r *run) backoff(attempt int, err error) time.Duration {
	if ra := connector.RetryAfter(err); ra > 0 {
		return min(ra, r.opts.MaxRetryAfter)
	}
	d := r.opts.RetryBase << (attempt - 1)
	if d > r.opts.RetryMax || d <= 0 {
		d = r.opts.RetryMax
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// normFlags returns flags in a canonical form for comparison: without
// \Recent, system flags in canonical case, sorted, without duplicates.
func normFlags(in []string) []string {
	out := make([]string, 0, len(in))
	for _, f := range in {
		if strings.EqualFold(f, `\Recent`) || f == "" {
			continue
		}
		if strings.HasPrefix(f, `\`) && len(f) > 1 {
			f = `\` + strings.ToUpper(f[1:2]) + strings.ToLower(f[2:])
		}
		out = append(out, f)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// claim marks a target ref as taken by this run; false if it already was
// (by this run or an earlier one).
func (r *run) claim(ctx context.Context, targetFolder, ref string) (bool, error) {
	key := targetFolder + "\x00" + ref
	if r.claimed[key] {
		return false, nil
	}
	taken, err := r.job.Ledger.Claimed(ctx, targetFolder, ref)
	if err != nil || taken {
		return false, err
	}
	r.claimed[key] = true
	return true, nil
}

// lookupClaim looks an in-flight entry's message up on the target and
// claims the first unclaimed match. found is false if the message is not
// there. Callers hold claimMu.
func (r *run) lookupClaim(ctx context.Context, e *ledger.Entry) (ref string, found bool, err error) {
	var refs []string
	err = r.retry(ctx, "look up message on target", r.tgt, func(ctx context.Context) error {
		t, _, err := r.tgt.target(ctx)
		if err != nil {
			return err
		}
		l, ok := t.(connector.TargetLookup)
		if !ok || !r.caps.Lookup {
			return connector.Errorf(connector.KindUnsupported, "target cannot look messages up")
		}
		refs, err = l.Lookup(ctx, e.TargetFolder, &connector.LookupQuery{
			MessageID: e.MessageID, Fingerprint: e.Fingerprint, Size: e.Size, Since: e.Watermark,
		})
		return err
	})
	if err != nil {
		return "", false, err
	}
	for _, ref := range refs {
		ok, err := r.claim(ctx, e.TargetFolder, ref)
		if err != nil {
			return "", false, err
		}
		if ok {
			return ref, true, nil
		}
	}
	return "", false, nil
}

// fail ends the whole job with err.
func (r *run) fail(err error) {
	r.cancel(errMailbox{err})
}
