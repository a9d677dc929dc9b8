package scheduler

import (
	"context"
	"slices"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
)

// The throughput history: one sample per SampleEvery over History.
const (
	SampleEvery = 10 * time.Second
	History     = time.Hour
)

// Sample is the work of one SampleEvery interval, for the dashboard's
// chart.
type Sample struct {
	// At is the start of the interval.
	At       time.Time `json:"at"`
	Messages int64     `json:"messages"`
	Bytes    int64     `json:"bytes"`
}

// Live is the work of a running pass, or of several added up: counts,
// rates and the time left.
type Live struct {
	// ToCopy is the number of messages found missing on the target so
	// far; Copied and Bytes were stored on the target.
	ToCopy int64 `json:"to_copy"`
	Copied int64 `json:"copied"`
	Bytes  int64 `json:"bytes"`
	// Skipped and Failed messages were not migrated (see the report).
	Skipped int64 `json:"skipped"`
	Failed  int64 `json:"failed"`
	// Rate and ByteRate are messages and bytes per second over the
	// scheduler's rate window.
	Rate     float64 `json:"rate"`
	ByteRate float64 `json:"byte_rate"`
	// ETA is the time left at the current rate: (ToCopy − Copied) / Rate.
	// ETAKnown is false when it cannot be told (no rate yet, or for a
	// batch, users that have not started the pass).
	ETA      time.Duration `json:"eta_ns"`
	ETAKnown bool          `json:"eta_known"`
}

// UserProgress is a user's row in a batch's progress (or the state of a
// pass over the user alone).
type UserProgress struct {
	Project    string `json:"project"`
	User       string `json:"user"`
	SourceUser string `json:"source_user"`
	TargetUser string `json:"target_user"`
	// Batch is the batch of the pass, empty for a pass over the user alone.
	Batch string `json:"batch,omitempty"`
	// Pass is the batch's pass (or the user's own pass number).
	Pass   int            `json:"pass"`
	Status project.Status `json:"status"`
	// Attempt counts the tries of this pass (retries after temporary
	// errors count up).
	Attempt int `json:"attempt"`
	// Waiting says why a waiting user waits; RetryAt is when a retry is due.
	Waiting string    `json:"waiting,omitempty"`
	RetryAt time.Time `json:"retry_at,omitzero"`
	// Error is the last try's error.
	Error string `json:"error,omitempty"`
	// Started is when the running pass started.
	Started time.Time `json:"started,omitzero"`
	// The counts of the running pass, or of the last try if none runs.
	FoldersDone  int64 `json:"folders_done"`
	FoldersTotal int64 `json:"folders_total"`
	Present      int64 `json:"present"`
	Live
}

// BatchProgress is a batch's live state: a row per user and totals.
type BatchProgress struct {
	Project string             `json:"project"`
	Batch   string             `json:"batch"`
	Name    string             `json:"name"`
	State   project.BatchState `json:"state"`
	Pass    int                `json:"pass"`
	// Started and Finished bound the current pass; NextPass is when a
	// scheduled delta pass starts.
	Started  time.Time      `json:"started,omitzero"`
	Finished time.Time      `json:"finished,omitzero"`
	NextPass time.Time      `json:"next_pass,omitzero"`
	Users    []UserProgress `json:"users"`
	// ByStatus counts the rows by status; Done counts the users that
	// finished the pass, whatever the outcome.
	ByStatus map[project.Status]int `json:"by_status"`
	Done     int                    `json:"done"`
	// Live adds up the rows; the ETA is known when every unfinished user
	// has started the pass (so that what is left to copy is known) and
	// the rate is not 0.
	Live
}

// Overview is the dashboard's summary of everything.
type Overview struct {
	// Users counts every project's users by status (from the store).
	Users      map[project.Status]int `json:"users"`
	UsersTotal int                    `json:"users_total"`
	// Batches counts the submitted batches by state.
	Batches map[project.BatchState]int `json:"batches"`
	// Running, Waiting and Queued count passes now (see Metrics).
	Running int `json:"running"`
	Waiting int `json:"waiting"`
	Queued  int `json:"queued"`
	// Messages and Bytes were copied since the scheduler started.
	Messages int64 `json:"messages"`
	Bytes    int64 `json:"bytes"`
	// Rate and ByteRate are per second over the rate window.
	Rate     float64 `json:"rate"`
	ByteRate float64 `json:"byte_rate"`
}

// Metrics are counters and gauges for Prometheus. Counters count since
// the scheduler was made.
type Metrics struct {
	// Counters.
	MessagesCopied    int64
	BytesCopied       int64
	PassesStarted     int64 // tries started, retries included
	PassesOK          int64 // passes that ended done
	PassesPartial     int64
	PassesFailed      int64 // given up: failed for good or out of retries
	PassesInterrupted int64 // stopped by a window, a pause, a cancel or a shutdown
	PassesCancelled   int64 // users' passes ended by a cancelled batch
	Retries           int64 // failed tries that will be tried again
	// Gauges.
	Running       int // passes running (not waiting)
	Waiting       int // passes waiting for the secrets backend or a retry
	Queued        int // passes waiting for their turn, window or resumption
	BatchesActive int // batches scheduled, running or paused
	Rate          float64
	ByteRate      float64
}

// snapshot are a pass's counts at one moment.
type snapshot struct {
	foldersDone, foldersTotal                       int64
	toCopy, copied, bytes, present, skipped, failed int64
}

// snap reads a pass's counts; rep, if set, is its final report, which
// wins over the live counters.
func snap(p *engine.Progress, rep *engine.Report) snapshot {
	x := snapshot{
		foldersDone: p.FoldersDone.Load(), foldersTotal: p.FoldersTotal.Load(),
		toCopy: p.ToCopy.Load(), copied: p.Copied.Load(), bytes: p.BytesCopied.Load(),
		present: p.Present.Load(), skipped: p.Skipped.Load(), failed: p.Failed.Load(),
	}
	if rep != nil {
		t := rep.Totals
		x.copied, x.bytes, x.present, x.skipped, x.failed = t.Copied, t.Bytes, t.Present, t.Skipped, t.Failed
	}
	return x
}

// meter measures a rate from cumulative counts over a sliding window.
type meter struct{ pts []point }

type point struct {
	at              time.Time
	messages, bytes int64
}

func (m *meter) add(window time.Duration, at time.Time, messages, bytes int64) {
	if n := len(m.pts); n > 0 && !at.After(m.pts[n-1].at) {
		m.pts[n-1].messages, m.pts[n-1].bytes = messages, bytes
	} else {
		m.pts = append(m.pts, point{at, messages, bytes})
	}
	from := at.Add(-window)
	i := 0
	for i < len(m.pts)-1 && m.pts[i].at.Before(from) {
		i++
	}
	m.pts = m.pts[i:]
}

// rate returns messages and bytes per second.
func (m *meter) rate() (float64, float64) {
	if len(m.pts) < 2 {
		return 0, 0
	}
	a, b := m.pts[0], m.pts[len(m.pts)-1]
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 {
		return 0, 0
	}
	return float64(b.messages-a.messages) / dt, float64(b.bytes-a.bytes) / dt
}

// add adds o's counts and rates (not its ETA).
func (l *Live) add(o Live) {
	l.ToCopy += o.ToCopy
	l.Copied += o.Copied
	l.Bytes += o.Bytes
	l.Skipped += o.Skipped
	l.Failed += o.Failed
	l.Rate += o.Rate
	l.ByteRate += o.ByteRate
}

// eta is the time to copy remaining messages at rate.
func eta(remaining int64, rate float64) (time.Duration, bool) {
	if remaining <= 0 {
		return 0, true
	}
	if rate <= 0 {
		return 0, false
	}
	return time.Duration(float64(remaining) / rate * float64(time.Second)).Round(time.Second), true
}

// history keeps the throughput samples.
type history struct {
	every time.Duration
	n     int
	s     []Sample
}

func (h *history) add(at time.Time, messages, bytes int64) {
	t := at.Truncate(h.every)
	if k := len(h.s); k > 0 && !t.After(h.s[k-1].At) {
		h.s[k-1].Messages += messages
		h.s[k-1].Bytes += bytes
		return
	}
	h.s = append(h.s, Sample{At: t, Messages: messages, Bytes: bytes})
	if len(h.s) > h.n {
		h.s = slices.Delete(h.s, 0, len(h.s)-h.n)
	}
}

// samples returns the n intervals up to now's, empty ones included.
func (h *history) samples(now time.Time) []Sample {
	end := now.Truncate(h.every)
	start := end.Add(-time.Duration(h.n-1) * h.every)
	out := make([]Sample, h.n)
	for i := range out {
		out[i].At = start.Add(time.Duration(i) * h.every)
	}
	for _, x := range h.s {
		if !x.At.Before(start) && !x.At.After(end) {
			i := x.At.Sub(start) / h.every
			out[i].Messages += x.Messages
			out[i].Bytes += x.Bytes
		}
	}
	return out
}

// accountLocked adds what a pass copied since last looked at to the
// totals and the history.
func (s *Scheduler) accountLocked(pr *passRun, now time.Time) {
	m, b := pr.prog.Copied.Load(), pr.prog.BytesCopied.Load()
	dm, db := m-pr.seenMsgs, b-pr.seenBytes
	pr.seenMsgs, pr.seenBytes = m, b
	if dm != 0 || db != 0 {
		s.totals.messages += dm
		s.totals.bytes += db
		s.hist.add(now, dm, db)
	}
}

// sampleLocked reads every running pass: totals, rates, and whether it
// waits for the secrets backend (the user's status follows).
func (s *Scheduler) sampleLocked(now time.Time) {
	for _, pr := range s.running {
		s.accountLocked(pr, now)
		pr.meter.add(s.o.RateWindow, now, pr.seenMsgs, pr.seenBytes)
		if w := pr.prog.Waiting(); w != pr.waiting {
			pr.waiting = w
			st := project.StatusRunning
			if w != "" {
				st = project.StatusWaiting
			}
			s.updateUserLocked(pr.slot.user, func(u *project.User) { u.Status, u.Waiting = st, w })
		}
	}
	s.meter.add(s.o.RateWindow, now, s.totals.messages, s.totals.bytes)
}

// rowLocked is a slot's progress row.
func (s *Scheduler) rowLocked(sl *slot) UserProgress {
	r := UserProgress{
		Project: sl.user.project, User: sl.user.id, SourceUser: sl.source, TargetUser: sl.target,
		Pass: sl.pass, Attempt: sl.failures + 1, Error: sl.err,
	}
	if sl.batch != nil {
		r.Batch = sl.batch.key.id
	}
	x := sl.last
	switch sl.state {
	case running:
		pr := sl.run
		x = snap(pr.prog, nil)
		r.Status, r.Started, r.Waiting = project.StatusRunning, pr.started, pr.prog.Waiting()
		if r.Waiting != "" {
			r.Status = project.StatusWaiting
		}
		r.Rate, r.ByteRate = pr.meter.rate()
		r.ETA, r.ETAKnown = eta(x.toCopy-x.copied, r.Rate)
	case retrying:
		r.Status, r.RetryAt, r.Waiting = project.StatusWaiting, sl.retryAt, "retry after: "+sl.err
	case pending:
		r.Status = project.StatusQueued
		if sl.batch != nil && sl.batch.b.State == project.BatchPaused {
			r.Status = project.StatusPaused
		}
	case finished:
		r.Status = sl.outcome
	}
	r.FoldersDone, r.FoldersTotal = x.foldersDone, x.foldersTotal
	r.ToCopy, r.Copied, r.Bytes = x.toCopy, x.copied, x.bytes
	r.Present, r.Skipped, r.Failed = x.present, x.skipped, x.failed
	return r
}

// BatchProgress returns a batch's live progress.
func (s *Scheduler) BatchProgress(ctx context.Context, projectID, batchID string) (BatchProgress, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	br, err := s.batchLocked(ctx, projectID, batchID)
	if err != nil {
		return BatchProgress{}, err
	}
	b := br.b
	bp := BatchProgress{
		Project: projectID, Batch: batchID, Name: b.Name, State: b.State, Pass: b.Pass,
		Started: b.Started, Finished: b.Finished, NextPass: b.NextPass,
		ByStatus: map[project.Status]int{},
	}
	remainingKnown := true
	var remaining int64
	for _, sl := range br.slots {
		r := s.rowLocked(sl)
		bp.Users = append(bp.Users, r)
		bp.ByStatus[r.Status]++
		bp.add(r.Live)
		switch sl.state {
		case finished:
			bp.Done++
		case running:
			remaining += max(r.ToCopy-r.Copied, 0)
		default:
			remainingKnown = false
		}
	}
	if remainingKnown {
		bp.ETA, bp.ETAKnown = eta(remaining, bp.Rate)
	}
	return bp, nil
}

// UserProgress returns the state of a user's pass: the running one, else
// a queued one, else the last one the scheduler knows of. False if the
// scheduler knows of no pass over the user since it started.
func (s *Scheduler) UserProgress(projectID, userID string) (UserProgress, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key{projectID, userID}
	if pr, ok := s.running[k]; ok {
		return s.rowLocked(pr.slot), true
	}
	if sl := s.pendingElsewhereLocked(k, nil); sl != nil {
		return s.rowLocked(sl), true
	}
	for _, br := range slices.Backward(s.batchListLocked()) {
		if sl := br.slot(userID); sl != nil && br.key.project == projectID {
			return s.rowLocked(sl), true
		}
	}
	return UserProgress{}, false
}

// countsLocked counts the passes running, waiting and queued, and the
// active batches.
func (s *Scheduler) countsLocked() (run, wait, queue, batches int) {
	count := func(sl *slot) {
		switch {
		case sl.state == running && sl.run.prog.Waiting() == "":
			run++
		case sl.state == running || sl.state == retrying:
			wait++
		case sl.state == pending:
			queue++
		}
	}
	for _, sl := range s.singles {
		count(sl)
	}
	for _, br := range s.batches {
		if active(br.b.State) {
			batches++
		}
		for _, sl := range br.slots {
			count(sl)
		}
	}
	return
}

// Metrics returns the scheduler's counters and gauges.
func (s *Scheduler) Metrics() Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.totals
	m := Metrics{
		MessagesCopied: t.messages, BytesCopied: t.bytes,
		PassesStarted: t.started, PassesOK: t.ok, PassesPartial: t.partial, PassesFailed: t.failed,
		PassesInterrupted: t.interrupted, PassesCancelled: t.cancelled, Retries: t.retries,
	}
	m.Running, m.Waiting, m.Queued, m.BatchesActive = s.countsLocked()
	m.Rate, m.ByteRate = s.meter.rate()
	return m
}

// Overview returns the dashboard's totals: users and batches by state
// (read from the store) and the scheduler's live numbers.
func (s *Scheduler) Overview(ctx context.Context) (Overview, error) {
	us, err := s.st.AllUsers(ctx)
	if err != nil {
		return Overview{}, err
	}
	bs, err := s.st.AllBatches(ctx)
	if err != nil {
		return Overview{}, err
	}
	o := Overview{Users: map[project.Status]int{}, Batches: map[project.BatchState]int{}, UsersTotal: len(us)}
	for _, u := range us {
		o.Users[u.Status]++
	}
	for _, b := range bs {
		if !b.Submitted.IsZero() {
			o.Batches[b.State]++
		}
	}
	m := s.Metrics()
	o.Running, o.Waiting, o.Queued = m.Running, m.Waiting, m.Queued
	o.Messages, o.Bytes, o.Rate, o.ByteRate = m.MessagesCopied, m.BytesCopied, m.Rate, m.ByteRate
	return o, nil
}

// Throughput returns the messages and bytes copied per SampleEvery over
// the last History, oldest first, empty intervals included.
func (s *Scheduler) Throughput() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hist.samples(s.o.Now())
}
