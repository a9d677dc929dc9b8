package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/sdk/connector"
)

// Runner runs one pass over one user. It never returns nil. Cancelling
// ctx stops the pass at a safe point; a later pass resumes exactly (the
// engine's ledger). It updates prog while it runs.
type Runner interface {
	Run(ctx context.Context, p *project.Project, u *project.User, prog *engine.Progress) *engine.Report
}

// Options tune a Scheduler. Zero values take the defaults.
type Options struct {
	// Concurrency is the number of mailboxes migrated at once over all
	// batches (default 4). A batch's own Concurrency may lower it for
	// that batch.
	Concurrency int
	// ConnectorLimit, if set, returns the most mailboxes a connector may
	// serve at once (0 or less: no limit). A running user counts against
	// its project's source and its target connector (once if they are the
	// same).
	ConnectorLimit func(name string) int
	// RetryBase and RetryMax bound the exponential backoff before a pass
	// that failed with a temporary error is tried again (default 1 minute
	// and 30 minutes); MaxRetries is how many times it is tried again
	// before the user is failed (default 5; negative: never).
	RetryBase, RetryMax time.Duration
	MaxRetries          int
	// Tick is how often start times, windows, retries, delta schedules
	// and progress are looked at (default 1 second).
	Tick time.Duration
	// RateWindow is the sliding window over which rates are measured
	// (default 1 minute).
	RateWindow time.Duration
	// Now returns the time (default time.Now); tests set a fake clock.
	Now func() time.Time
	// Logger receives the scheduler's log lines.
	Logger *slog.Logger
	// OnPassEnd, if set, is called when a user's pass ended for good
	// (done, partial, or failed with no retry left), after its report
	// was saved: p is the project, u the user as stored then, rep the
	// saved report. Interrupted, cancelled and to-be-retried passes do
	// not call it. It runs in the pass's goroutine without the
	// scheduler's lock (it may call the scheduler), before Close returns;
	// it should not block for long.
	OnPassEnd func(p *project.Project, u *project.User, rep *project.RunReport)
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Minute
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 30 * time.Minute
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.RateWindow <= 0 {
		o.RateWindow = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Errors of the control calls.
var (
	// ErrState: the call does not fit the batch's state (resuming a
	// running batch, re-running one that has a pass in progress, …).
	ErrState = errors.New("not possible in the batch's state")
	// ErrBusy: a pass over the user is already queued or running.
	ErrBusy = errors.New("a pass over this user is already queued or running")
	// ErrClosed: the scheduler was closed.
	ErrClosed = errors.New("the scheduler is closed")
)

// interrupt is why a running pass was stopped by the scheduler; it is the
// cause of the pass's cancelled context and goes into the saved report.
type interrupt string

func (i interrupt) Error() string { return string(i) }

// The reasons for stopping a pass.
const (
	errWindow    interrupt = "window closed"
	errPaused    interrupt = "paused"
	errCancelled interrupt = "cancelled"
	errShutdown  interrupt = "shutdown"
	errRemoved   interrupt = "batch deleted"
)

// key names a batch or a user: project and ID.
type key struct{ project, id string }

// slotState is where a user stands in one pass.
type slotState int

const (
	pending  slotState = iota // waiting for its turn, window or the batch's resumption
	running                   // a pass is running (passRun set)
	retrying                  // failed with a temporary error, tried again at retryAt
	finished                  // the pass ended; outcome says how
)

// slot is one user's place in a pass: of a batch, or of a pass over the
// user alone (batch nil).
type slot struct {
	user           key
	batch          *batchRun
	source, target string // logins, for progress rows
	pass           int
	state          slotState
	failures       int // tries that failed with a temporary error
	retryAt        time.Time
	outcome        project.Status
	err            string
	run            *passRun
	last           snapshot // counters of the last try
	requested      time.Time
}

// passRun is a pass in progress.
type passRun struct {
	slot    *slot
	cancel  context.CancelCauseFunc
	prog    *engine.Progress
	started time.Time
	conns   []string
	waiting string
	// seen are the counters already added to the totals.
	seenMsgs, seenBytes int64
	meter               meter
}

// batchRun is a batch the scheduler tracks.
type batchRun struct {
	key     key
	b       *project.Batch // the stored batch as last read or written
	slots   []*slot        // in the batch's user order
	running int
}

func (br *batchRun) slot(user string) *slot {
	for _, sl := range br.slots {
		if sl.user.id == user {
			return sl
		}
	}
	return nil
}

// Scheduler runs batches of users: see the package documentation.
type Scheduler struct {
	st     *project.Store
	runner Runner
	o      Options
	log    *slog.Logger

	mu      sync.Mutex
	started bool
	closed  bool
	batches map[key]*batchRun
	singles []*slot          // passes over a user alone, in request order
	running map[key]*passRun // by user
	conns   map[string]int   // running mailboxes by connector
	totals  counters         // since New
	meter   meter            // of totals
	hist    history          // of totals
	stopped chan struct{}    // closed when the loop ends
	stop    context.CancelFunc
	kick    chan struct{}
	wg      sync.WaitGroup // passes
}

// counters are the scheduler's running totals.
type counters struct {
	messages, bytes                 int64
	started, ok, partial, failed    int64
	interrupted, retries, cancelled int64
}

// New returns a scheduler over a store. Nothing runs before Start.
func New(st *project.Store, r Runner, o Options) *Scheduler {
	o = o.withDefaults()
	return &Scheduler{
		st: st, runner: r, o: o, log: o.Logger,
		batches: map[key]*batchRun{},
		running: map[key]*passRun{},
		conns:   map[string]int{},
		hist:    history{every: SampleEvery, n: int(History / SampleEvery)},
		kick:    make(chan struct{}, 1),
	}
}

// bg is the context of the scheduler's own store calls: they are short
// and must not be cut off halfway by a caller's deadline.
var bg = context.Background()

// Start loads the submitted batches that are not over (scheduled,
// running, paused, or done with delta passes to come) and the passes over
// single users that were asked for, and starts the loop. Users that were
// running when the daemon stopped are queued again and their passes
// resume where they stopped. ctx bounds the loading only; the scheduler
// runs until Close.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return errors.New("scheduler already started")
	}
	bs, err := s.st.AllBatches(ctx)
	if err != nil {
		return fmt.Errorf("load batches: %w", err)
	}
	slices.SortFunc(bs, func(a, b *project.Batch) int { return a.Submitted.Compare(b.Submitted) })
	for _, b := range bs {
		if b.Submitted.IsZero() || b.State == project.BatchCancelled || b.State == project.BatchDone && b.NextPass.IsZero() {
			continue
		}
		if _, ok := s.batches[key{b.Project, b.ID}]; ok {
			continue // submitted before Start
		}
		br, err := s.loadLocked(ctx, b)
		if err != nil {
			return err
		}
		for _, sl := range br.slots {
			if sl.state == pending {
				s.restLocked(sl, "")
			}
		}
		s.log.Info("batch resumed", "project", b.Project, "batch", b.ID, "state", b.State, "pass", b.Pass)
	}
	us, err := s.st.AllUsers(ctx)
	if err != nil {
		return fmt.Errorf("load users: %w", err)
	}
	slices.SortFunc(us, func(a, b *project.User) int { return a.Requested.Compare(b.Requested) })
	for _, u := range us {
		if !u.Requested.IsZero() {
			sl := &slot{user: key{u.Project, u.ID}, source: u.SourceUser, target: u.TargetUser, pass: u.Passes + 1, requested: u.Requested}
			s.singles = append(s.singles, sl)
			s.restLocked(sl, "")
		}
	}
	loopCtx, stop := context.WithCancel(context.Background())
	s.stop, s.stopped, s.started = stop, make(chan struct{}), true
	go s.loop(loopCtx)
	s.roundLocked()
	return nil
}

// Close stops every running pass at a safe point and waits for them. Their
// reports are saved as interrupted and their users queued, so that Start
// in the next daemon resumes them.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for _, pr := range s.running {
		pr.cancel(errShutdown)
	}
	if s.stop != nil {
		s.stop()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.stopped != nil {
		<-s.stopped
	}
}

func (s *Scheduler) loop(ctx context.Context) {
	defer close(s.stopped)
	t := time.NewTicker(s.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		s.Tick()
	}
}

// kickLocked asks the loop for a round soon.
func (s *Scheduler) kickLocked() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Tick runs one round now: it samples progress, moves batches by their
// schedules (start times, windows, delta passes), starts retries that are
// due and starts passes while the limits allow. The loop calls it every
// Options.Tick and after every change; tests with a fake clock call it
// directly.
func (s *Scheduler) Tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started && !s.closed {
		s.roundLocked()
	}
}

func (s *Scheduler) roundLocked() {
	now := s.o.Now()
	s.sampleLocked(now)
	for _, br := range s.batchListLocked() {
		s.advanceLocked(br, now)
	}
	s.startPassesLocked(now)
}

// batchListLocked returns the tracked batches, first submitted first.
func (s *Scheduler) batchListLocked() []*batchRun {
	out := make([]*batchRun, 0, len(s.batches))
	for _, br := range s.batches {
		out = append(out, br)
	}
	slices.SortFunc(out, func(a, b *batchRun) int {
		if c := a.b.Submitted.Compare(b.b.Submitted); c != 0 {
			return c
		}
		return cmpKey(a.key, b.key)
	})
	return out
}

func cmpKey(a, b key) int {
	if a.project != b.project {
		if a.project < b.project {
			return -1
		}
		return 1
	}
	switch {
	case a.id < b.id:
		return -1
	case a.id > b.id:
		return 1
	}
	return 0
}

// loadLocked builds the tracked state of a stored batch: a user has the
// current pass still to run unless it finished it (User.Finished).
func (s *Scheduler) loadLocked(ctx context.Context, b *project.Batch) (*batchRun, error) {
	br := &batchRun{key: key{b.Project, b.ID}, b: b}
	for _, id := range b.Users {
		sl, err := s.newSlotLocked(ctx, br, id)
		if err != nil {
			return nil, err
		}
		br.slots = append(br.slots, sl)
	}
	s.batches[br.key] = br
	return br, nil
}

func (s *Scheduler) newSlotLocked(ctx context.Context, br *batchRun, id string) (*slot, error) {
	b := br.b
	sl := &slot{user: key{b.Project, id}, batch: br, pass: b.Pass}
	u, err := s.st.User(ctx, b.Project, id)
	switch {
	case errors.Is(err, project.ErrNotFound):
		sl.state, sl.outcome, sl.err = finished, project.StatusFailed, "the user was deleted"
		return sl, nil
	case err != nil:
		return nil, fmt.Errorf("load user %s: %w", id, err)
	}
	sl.source, sl.target = u.SourceUser, u.TargetUser
	if f, ok := u.Finished[b.ID]; ok && f.Pass >= b.Pass {
		sl.state, sl.outcome = finished, f.Status
	} else if b.State == project.BatchCancelled {
		sl.state, sl.outcome = finished, project.StatusCancelled
	}
	return sl, nil
}

// advanceLocked moves a batch along its schedule.
func (s *Scheduler) advanceLocked(br *batchRun, now time.Time) {
	b, err := s.st.Batch(bg, br.key.project, br.key.id)
	if errors.Is(err, project.ErrNotFound) {
		s.log.Warn("batch deleted while tracked: its passes stop", "project", br.key.project, "batch", br.key.id)
		s.interruptLocked(br, errRemoved)
		delete(s.batches, br.key)
		return
	}
	if err != nil {
		s.log.Error("read batch", "project", br.key.project, "batch", br.key.id, "err", err)
		return
	}
	br.b = b
	s.refreshUsersLocked(br, true)
	switch b.State {
	case project.BatchDone:
		if b.Schedule.DeltaEvery > 0 && !b.NextPass.IsZero() && !now.Before(b.NextPass) {
			s.log.Info("scheduled delta pass", "project", b.Project, "batch", b.ID, "pass", b.Pass+1)
			s.newPassLocked(br, now)
		}
	case project.BatchScheduled:
		if b.Schedule.Open(now) {
			s.updateBatchLocked(br, func(b *project.Batch) {
				b.State = project.BatchRunning
				if b.Started.IsZero() {
					b.Started = now
				}
			})
		}
	case project.BatchRunning:
		if !b.Schedule.Open(now) {
			s.log.Info("window closed: the batch's passes stop until the next one", "project", b.Project, "batch", b.ID)
			s.updateBatchLocked(br, func(b *project.Batch) { b.State = project.BatchScheduled })
			s.interruptLocked(br, errWindow)
		}
	}
	s.checkDoneLocked(br, now)
}

// refreshUsersLocked follows edits of the batch's user list: new users
// join the current pass (their status stored if rest), removed users that
// are not running leave it.
func (s *Scheduler) refreshUsersLocked(br *batchRun, rest bool) {
	if slices.EqualFunc(br.slots, br.b.Users, func(sl *slot, id string) bool { return sl.user.id == id }) {
		return
	}
	var out []*slot
	for _, id := range br.b.Users {
		if sl := br.slot(id); sl != nil {
			out = append(out, sl)
			continue
		}
		sl, err := s.newSlotLocked(bg, br, id)
		if err != nil {
			s.log.Error("add user to batch", "project", br.key.project, "batch", br.key.id, "user", id, "err", err)
			return
		}
		out = append(out, sl)
		if rest && sl.state == pending && active(br.b.State) {
			s.restLocked(sl, "")
		}
	}
	for _, sl := range br.slots {
		if sl.run != nil && !slices.Contains(out, sl) {
			out = append(out, sl) // leaves when its pass ends
		}
	}
	br.slots = out
}

// active reports whether a batch in state st has a pass in progress.
func active(st project.BatchState) bool {
	return st == project.BatchScheduled || st == project.BatchRunning || st == project.BatchPaused
}

// updateBatchLocked applies fn to the stored batch and keeps the result.
func (s *Scheduler) updateBatchLocked(br *batchRun, fn func(*project.Batch)) error {
	b, err := s.st.UpdateBatch(bg, br.key.project, br.key.id, func(b *project.Batch) error { fn(b); return nil })
	if err != nil {
		s.log.Error("update batch", "project", br.key.project, "batch", br.key.id, "err", err)
		return err
	}
	br.b = b
	return nil
}

// updateUserLocked applies fn to the stored user; a deleted user is not
// an error worth more than a log line.
func (s *Scheduler) updateUserLocked(k key, fn func(*project.User)) (*project.User, error) {
	u, err := s.st.UpdateUser(bg, k.project, k.id, func(u *project.User) error { fn(u); return nil })
	if err != nil && !errors.Is(err, project.ErrNotFound) {
		s.log.Error("update user", "project", k.project, "user", k.id, "err", err)
	}
	return u, err
}

// newPassLocked starts a new pass over the batch: every user is queued
// and the batch waits for its schedule.
func (s *Scheduler) newPassLocked(br *batchRun, now time.Time) error {
	err := s.updateBatchLocked(br, func(b *project.Batch) {
		b.Pass++
		b.State = project.BatchScheduled
		b.Started, b.Finished, b.NextPass = time.Time{}, time.Time{}, time.Time{}
		if b.Submitted.IsZero() {
			b.Submitted = now
		}
	})
	if err != nil {
		return err
	}
	s.refreshUsersLocked(br, false)
	for _, sl := range br.slots {
		if sl.run != nil {
			continue // a pass of the cancelled batch still stopping; it ends as cancelled
		}
		*sl = slot{user: sl.user, batch: br, source: sl.source, target: sl.target, pass: br.b.Pass, last: sl.last}
		s.restLocked(sl, "")
	}
	s.kickLocked()
	return nil
}

// checkDoneLocked marks the batch done when every user finished the
// current pass, and schedules the next delta pass.
func (s *Scheduler) checkDoneLocked(br *batchRun, now time.Time) {
	if st := br.b.State; st != project.BatchRunning && st != project.BatchScheduled {
		return
	}
	for _, sl := range br.slots {
		if sl.state != finished || sl.pass < br.b.Pass {
			return
		}
	}
	s.updateBatchLocked(br, func(b *project.Batch) {
		b.State, b.Finished = project.BatchDone, now
		if b.Schedule.DeltaEvery > 0 {
			b.NextPass = now.Add(b.Schedule.DeltaEvery)
		}
	})
	s.log.Info("batch pass done", "project", br.key.project, "batch", br.key.id, "pass", br.b.Pass, "next", br.b.NextPass)
}

// interruptLocked stops the batch's running passes with a reason.
func (s *Scheduler) interruptLocked(br *batchRun, why interrupt) {
	for _, sl := range br.slots {
		if sl.run != nil {
			sl.run.cancel(why)
		}
	}
}

// restLocked stores the status of a user that is not running in the
// slot: queued, paused or cancelled by its batch's state, waiting while
// a retry is due; a user running or queued elsewhere keeps that status.
// reason, if set, is the error a retry waits out.
func (s *Scheduler) restLocked(sl *slot, reason string) {
	if _, busy := s.running[sl.user]; busy {
		return
	}
	st := project.StatusQueued
	waiting := ""
	switch {
	case sl.batch != nil && sl.batch.b.State == project.BatchPaused:
		st = project.StatusPaused
	case sl.batch != nil && sl.batch.b.State == project.BatchCancelled:
		st = project.StatusCancelled
	case sl.state == retrying:
		st = project.StatusWaiting
		waiting = fmt.Sprintf("retry %d of %d at %s after: %s", sl.failures, s.o.MaxRetries, sl.retryAt.Format(time.DateTime), reason)
	}
	s.updateUserLocked(sl.user, func(u *project.User) {
		u.Status, u.Waiting = st, waiting
		if sl.batch != nil {
			u.Batch = sl.batch.key.id
		}
		if !sl.requested.IsZero() {
			u.Requested = sl.requested
		}
	})
}

// pendingElsewhereLocked returns another slot of the user that still has
// a pass to run, if any.
func (s *Scheduler) pendingElsewhereLocked(user key, not *slot) *slot {
	for _, sl := range s.singles {
		if sl != not && sl.user == user && sl.state != finished {
			return sl
		}
	}
	for _, br := range s.batchListLocked() {
		if !active(br.b.State) {
			continue
		}
		if sl := br.slot(user.id); sl != nil && sl != not && br.key.project == user.project && sl.state != finished {
			return sl
		}
	}
	return nil
}

// startPassesLocked starts the passes that are due while the limits
// allow: passes over single users first (an admin asked for them), then
// batches, first submitted first, users in the batch's order.
func (s *Scheduler) startPassesLocked(now time.Time) {
	if s.closed {
		return
	}
	projects := map[string]*project.Project{}
	try := func(sl *slot) bool {
		if len(s.running) >= s.o.Concurrency {
			return false
		}
		if sl.state != pending && !(sl.state == retrying && !now.Before(sl.retryAt)) {
			return true
		}
		if _, busy := s.running[sl.user]; busy {
			return true
		}
		p, ok := projects[sl.user.project]
		if !ok {
			var err error
			if p, err = s.st.Project(bg, sl.user.project); err != nil {
				s.log.Error("read project", "project", sl.user.project, "err", err)
			}
			projects[sl.user.project] = p
		}
		if p == nil {
			return true
		}
		conns := connectorsOf(p)
		if s.o.ConnectorLimit != nil {
			for _, c := range conns {
				if max := s.o.ConnectorLimit(c); max > 0 && s.conns[c] >= max {
					return true
				}
			}
		}
		s.startLocked(sl, p, conns, now)
		return true
	}
	for _, sl := range slices.Clone(s.singles) {
		if !try(sl) {
			return
		}
	}
	for _, br := range s.batchListLocked() {
		if br.b.State != project.BatchRunning {
			continue
		}
		for _, sl := range br.slots {
			if br.b.Concurrency > 0 && br.running >= br.b.Concurrency {
				break
			}
			if !try(sl) {
				return
			}
		}
	}
}

func connectorsOf(p *project.Project) []string {
	if p.Source == p.Target {
		return []string{p.Source}
	}
	return []string{p.Source, p.Target}
}

// startLocked starts a pass over the slot's user.
func (s *Scheduler) startLocked(sl *slot, p *project.Project, conns []string, now time.Time) {
	u, err := s.updateUserLocked(sl.user, func(u *project.User) {
		u.Status, u.Error, u.Waiting = project.StatusRunning, "", ""
		if sl.batch != nil {
			u.Batch = sl.batch.key.id
		}
	})
	if err != nil {
		sl.state, sl.outcome, sl.err = finished, project.StatusFailed, "the user cannot be read: "+err.Error()
		s.dropSingleLocked(sl)
		if sl.batch != nil {
			s.checkDoneLocked(sl.batch, now)
		}
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	pr := &passRun{slot: sl, cancel: cancel, prog: &engine.Progress{}, started: now, conns: conns}
	pr.meter.add(s.o.RateWindow, now, 0, 0)
	sl.state, sl.run = running, pr
	s.running[sl.user] = pr
	for _, c := range conns {
		s.conns[c]++
	}
	if sl.batch != nil {
		sl.batch.running++
	}
	s.totals.started++
	s.log.Info("pass started", "project", p.ID, "user", u.ID, "batch", u.Batch, "pass", sl.pass, "attempt", sl.failures+1)
	s.wg.Add(1)
	go s.runPass(ctx, pr, p, u)
}

func (s *Scheduler) runPass(ctx context.Context, pr *passRun, p *project.Project, u *project.User) {
	defer s.wg.Done()
	rep := s.call(ctx, p, u, pr.prog)
	s.mu.Lock()
	end := s.finishLocked(pr, rep, context.Cause(ctx))
	s.kickLocked()
	s.mu.Unlock()
	if end != nil && s.o.OnPassEnd != nil {
		s.o.OnPassEnd(p, end.user, end.report)
	}
}

// passEnd is a pass that ended for good, for Options.OnPassEnd.
type passEnd struct {
	user   *project.User
	report *project.RunReport
}

// call runs the runner; a panic or a nil report becomes a failed report
// rather than a dead daemon.
func (s *Scheduler) call(ctx context.Context, p *project.Project, u *project.User, prog *engine.Progress) (rep *engine.Report) {
	started := time.Now().UTC()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("runner panicked", "project", p.ID, "user", u.ID, "panic", r, "stack", string(debug.Stack()))
			rep = &engine.Report{Status: engine.StatusFailed, Error: fmt.Sprintf("internal error: %v", r), ErrorKind: connector.KindPermanent}
		}
		if rep == nil {
			rep = &engine.Report{Status: engine.StatusFailed, Error: "internal error: no report", ErrorKind: connector.KindPermanent}
		}
		if rep.Started.IsZero() {
			rep.Started, rep.Finished = started, time.Now().UTC()
		}
	}()
	return s.runner.Run(ctx, p, u, prog)
}

// retryable reports whether a failed pass may succeed when tried again.
func retryable(k connector.Kind) bool {
	switch k {
	case connector.KindUnknown, connector.KindTemporary, connector.KindThrottled, connector.KindUnavailable:
		return true
	}
	return false
}

// backoff is the wait before retry n (1, 2, …).
func (s *Scheduler) backoff(n int) time.Duration {
	d := s.o.RetryBase
	for i := 1; i < n && d < s.o.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.o.RetryMax)
}

// finishLocked records the end of a pass: its report, the user's status
// and the batch's progress. It returns the pass's end when the pass ended
// for good (done, partial, or failed without a retry), nil otherwise.
func (s *Scheduler) finishLocked(pr *passRun, rep *engine.Report, cause error) (end *passEnd) {
	now := s.o.Now()
	sl := pr.slot
	s.accountLocked(pr, now)
	delete(s.running, sl.user)
	for _, c := range pr.conns {
		s.conns[c]--
	}
	if sl.batch != nil {
		sl.batch.running--
	}
	sl.run, sl.last = nil, snap(pr.prog, rep)
	rr := &project.RunReport{Project: sl.user.project, User: sl.user.id, Pass: sl.pass, Report: rep, Attempt: sl.failures + 1}
	if sl.batch != nil {
		rr.Batch = sl.batch.key.id
	}
	var why interrupt
	interrupted := errors.As(cause, &why) && rep.Status != engine.StatusOK
	log := s.log.With("project", sl.user.project, "user", sl.user.id, "batch", rr.Batch, "pass", sl.pass)
	switch {
	case interrupted:
		rr.Interrupted = string(why)
		s.totals.interrupted++
		log.Info("pass interrupted", "why", why)
	case rep.Status == engine.StatusFailed && retryable(rep.ErrorKind) && sl.failures < s.o.MaxRetries:
		s.totals.retries++
		log.Warn("pass failed, will retry", "err", rep.Error, "kind", rep.ErrorKind, "attempt", sl.failures+1)
	}
	if err := s.st.SaveReport(bg, rr); err != nil {
		log.Error("save report", "err", err)
	}
	switch {
	case interrupted && (why == errCancelled || why == errRemoved || sl.batch != nil && sl.batch.b.State == project.BatchCancelled):
		s.endLocked(sl, project.StatusCancelled, "", nil, now)
	case interrupted:
		// Back in line: the next pass resumes where this one stopped.
		sl.state = pending
		s.afterLocked(sl)
	case rep.Status == engine.StatusFailed && retryable(rep.ErrorKind) && sl.failures < s.o.MaxRetries:
		sl.failures++
		sl.state, sl.retryAt, sl.err = retrying, now.Add(s.backoff(sl.failures)), rep.Error
		s.restLocked(sl, rep.Error)
	default:
		st := map[engine.Status]project.Status{engine.StatusOK: project.StatusDone, engine.StatusPartial: project.StatusPartial}[rep.Status]
		if st == "" {
			st = project.StatusFailed
		}
		log.Info("pass finished", "status", st, "copied", rep.Totals.Copied, "err", rep.Error)
		if u := s.endLocked(sl, st, rep.Error, rep, now); u != nil {
			end = &passEnd{user: u, report: rr}
		}
	}
	if br := sl.batch; br != nil && sl.pass < br.b.Pass && active(br.b.State) {
		// The batch was run again while this pass was stopping: the user
		// takes part in the new pass.
		*sl = slot{user: sl.user, batch: br, source: sl.source, target: sl.target, pass: br.b.Pass, last: sl.last}
		s.restLocked(sl, "")
	}
	return end
}

// endLocked finishes a slot with an outcome; rep is the pass's report
// unless it was cancelled. It returns the user as stored (nil if it could
// not be updated).
func (s *Scheduler) endLocked(sl *slot, st project.Status, errText string, rep *engine.Report, now time.Time) *project.User {
	sl.state, sl.outcome, sl.err = finished, st, errText
	switch st {
	case project.StatusDone:
		s.totals.ok++
	case project.StatusPartial:
		s.totals.partial++
	case project.StatusFailed:
		s.totals.failed++
	case project.StatusCancelled:
		s.totals.cancelled++
	}
	u, _ := s.updateUserLocked(sl.user, func(u *project.User) {
		u.Status, u.Error, u.Waiting = st, errText, ""
		if rep != nil {
			u.Passes++
			u.LastRun = now
			u.AddPass(rep)
		}
		if sl.batch != nil && rep != nil {
			if u.Finished == nil {
				u.Finished = map[string]project.BatchPass{}
			}
			u.Finished[sl.batch.key.id] = project.BatchPass{Pass: sl.pass, Status: st}
		}
		if sl.batch == nil {
			u.Requested = time.Time{}
		}
	})
	s.afterLocked(sl)
	if br := sl.batch; br != nil && s.batches[br.key] == br {
		s.checkDoneLocked(br, now)
	}
	return u
}

// afterLocked settles a user whose pass in sl stopped: a single pass that
// is over leaves the list; a user with a pass still to run (here or in
// another batch) shows as queued (or paused, …) again.
func (s *Scheduler) afterLocked(sl *slot) {
	s.dropSingleLocked(sl)
	if sl.state != finished {
		s.restLocked(sl, sl.err)
	} else if o := s.pendingElsewhereLocked(sl.user, sl); o != nil {
		s.restLocked(o, o.err)
	}
	if sl.batch != nil && !slices.Contains(sl.batch.b.Users, sl.user.id) {
		sl.batch.slots = slices.DeleteFunc(sl.batch.slots, func(x *slot) bool { return x == sl })
	}
}

func (s *Scheduler) dropSingleLocked(sl *slot) {
	if sl.batch == nil && sl.state == finished {
		s.singles = slices.DeleteFunc(s.singles, func(x *slot) bool { return x == sl })
	}
}
