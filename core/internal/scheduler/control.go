package scheduler

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ternmail/tern/core/internal/project"
)

// batchLocked returns a tracked batch, loading a submitted one from the
// store if needed (a done or cancelled batch after a restart).
func (s *Scheduler) batchLocked(ctx context.Context, projectID, batchID string) (*batchRun, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if br, ok := s.batches[key{projectID, batchID}]; ok {
		return br, nil
	}
	b, err := s.st.Batch(ctx, projectID, batchID)
	if err != nil {
		return nil, err
	}
	if b.Submitted.IsZero() {
		return nil, fmt.Errorf("batch %s was never submitted: %w", b.Name, ErrState)
	}
	return s.loadLocked(ctx, b)
}

func stateErr(b *project.Batch, what string) error {
	return fmt.Errorf("batch %s is %s, cannot %s: %w", b.Name, b.State, what, ErrState)
}

// Submit hands a stored batch to the scheduler: its first pass is
// scheduled, its users queued, and it runs from its start time in its
// windows. A batch is submitted once; see Rerun for more passes.
func (s *Scheduler) Submit(ctx context.Context, projectID, batchID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	b, err := s.st.Batch(ctx, projectID, batchID)
	if err != nil {
		return err
	}
	if !b.Submitted.IsZero() {
		return fmt.Errorf("batch %s was already submitted: %w", b.Name, ErrState)
	}
	br := &batchRun{key: key{projectID, batchID}, b: b}
	s.batches[br.key] = br
	if err := s.newPassLocked(br, s.o.Now()); err != nil {
		delete(s.batches, br.key)
		return err
	}
	s.log.Info("batch submitted", "project", projectID, "batch", batchID, "users", len(b.Users), "start", b.Schedule.StartAt)
	return nil
}

// Pause stops the batch's running passes at a safe point and holds its
// users (status paused) until Resume.
func (s *Scheduler) Pause(ctx context.Context, projectID, batchID string) error {
	return s.move(ctx, projectID, batchID, "pause", project.BatchPaused,
		[]project.BatchState{project.BatchScheduled, project.BatchRunning}, []project.BatchState{project.BatchPaused},
		func(br *batchRun) { s.interruptLocked(br, errPaused) })
}

// Resume lets a paused batch go on where it stopped.
func (s *Scheduler) Resume(ctx context.Context, projectID, batchID string) error {
	return s.move(ctx, projectID, batchID, "resume", project.BatchScheduled,
		[]project.BatchState{project.BatchPaused}, []project.BatchState{project.BatchScheduled, project.BatchRunning},
		func(*batchRun) { s.kickLocked() })
}

// move sets a batch in one of the states from to state to, runs then and
// stores the status of its waiting users. A batch in one of the states
// already is left as it is; any other state is ErrState.
func (s *Scheduler) move(ctx context.Context, projectID, batchID, verb string, to project.BatchState, from, already []project.BatchState, then func(*batchRun)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	br, err := s.batchLocked(ctx, projectID, batchID)
	if err != nil {
		return err
	}
	switch {
	case slices.Contains(already, br.b.State):
		return nil
	case !slices.Contains(from, br.b.State):
		return stateErr(br.b, verb)
	}
	if err := s.updateBatchLocked(br, func(b *project.Batch) { b.State = to }); err != nil {
		return err
	}
	then(br)
	s.restPendingLocked(br)
	return nil
}

// restPendingLocked stores the status of the batch's users that wait.
func (s *Scheduler) restPendingLocked(br *batchRun) {
	for _, sl := range br.slots {
		if sl.state == pending || sl.state == retrying {
			s.restLocked(sl, sl.err)
		}
	}
}

// Cancel stops the batch: running passes stop at a safe point, users
// that had not finished the pass are cancelled, and no delta pass
// follows. Rerun can start it again.
func (s *Scheduler) Cancel(ctx context.Context, projectID, batchID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	br, err := s.batchLocked(ctx, projectID, batchID)
	if err != nil {
		return err
	}
	if br.b.State == project.BatchCancelled {
		return nil
	}
	if err := s.updateBatchLocked(br, func(b *project.Batch) {
		b.State, b.NextPass = project.BatchCancelled, time.Time{}
		if b.Finished.IsZero() {
			b.Finished = s.o.Now()
		}
	}); err != nil {
		return err
	}
	s.interruptLocked(br, errCancelled)
	now := s.o.Now()
	for _, sl := range br.slots {
		if sl.state == pending || sl.state == retrying {
			s.endLocked(sl, project.StatusCancelled, "", nil, now)
		}
	}
	s.log.Info("batch cancelled", "project", projectID, "batch", batchID)
	return nil
}

// Rerun starts a delta pass over a batch that is done or cancelled: each
// user's pass copies only what is new since its last one.
func (s *Scheduler) Rerun(ctx context.Context, projectID, batchID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	br, err := s.batchLocked(ctx, projectID, batchID)
	if err != nil {
		return err
	}
	if active(br.b.State) {
		return stateErr(br.b, "start another pass before this one ends")
	}
	return s.newPassLocked(br, s.o.Now())
}

// RunUser queues a delta pass over one user alone, whether or not the
// user belongs to a batch. It runs as soon as the limits allow (batches'
// windows do not apply) and its report has no batch. ErrBusy if the user
// already has a pass queued or running.
func (s *Scheduler) RunUser(ctx context.Context, projectID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	k := key{projectID, userID}
	u, err := s.st.User(ctx, projectID, userID)
	if err != nil {
		return err
	}
	if _, ok := s.running[k]; ok || s.pendingElsewhereLocked(k, nil) != nil {
		return fmt.Errorf("user %s: %w", u.SourceUser, ErrBusy)
	}
	sl := &slot{user: k, source: u.SourceUser, target: u.TargetUser, pass: u.Passes + 1, requested: s.o.Now()}
	s.singles = append(s.singles, sl)
	s.restLocked(sl, "")
	s.kickLocked()
	return nil
}

// AddToBatch adds a user to a submitted batch so that the user runs the
// batch's current pass, under the batch's schedule and limits (the
// self-service batch takes its users this way, one at a time):
//
//   - a user not in the batch joins it (its stored user list too);
//   - a user in it that already finished the current pass runs it again
//     (its User.Finished entry for the batch is cleared, so that a
//     restart knows it still has the pass to run);
//   - a user whose pass is queued, waiting or running is left as it is;
//   - a batch that is done is reopened for its current pass (scheduled,
//     Finished and NextPass cleared): the users that finished that pass
//     are not run again, only the added one;
//   - a paused batch takes the user, who waits (paused) for Resume.
//
// A cancelled batch, or one never submitted, is ErrState.
func (s *Scheduler) AddToBatch(ctx context.Context, projectID, batchID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	br, err := s.batchLocked(ctx, projectID, batchID)
	if err != nil {
		return err
	}
	if br.b.State == project.BatchCancelled {
		return stateErr(br.b, "add a user")
	}
	if _, err := s.st.User(ctx, projectID, userID); err != nil {
		return fmt.Errorf("user %s: %w", userID, err)
	}
	sl := br.slot(userID)
	if sl != nil && sl.state != finished && sl.pass == br.b.Pass {
		return nil // already has the current pass to run, or runs it
	}
	// Clear the user's record of the current pass first: newSlotLocked
	// (through refreshUsersLocked) reads it.
	pass := br.b.Pass
	if _, err := s.updateUserLocked(key{projectID, userID}, func(u *project.User) {
		if f, ok := u.Finished[batchID]; ok && f.Pass >= pass {
			delete(u.Finished, batchID)
		}
	}); err != nil {
		return err
	}
	if err := s.updateBatchLocked(br, func(b *project.Batch) {
		if !slices.Contains(b.Users, userID) {
			b.Users = append(b.Users, userID)
		}
		if b.State == project.BatchDone {
			b.State, b.Finished, b.NextPass = project.BatchScheduled, time.Time{}, time.Time{}
		}
	}); err != nil {
		return err
	}
	if sl != nil && sl.run == nil {
		*sl = slot{user: sl.user, batch: br, source: sl.source, target: sl.target, pass: br.b.Pass, last: sl.last}
		s.restLocked(sl, "")
	}
	// A slot still running an older pass (the batch was run again while
	// it stopped) joins the current pass when it ends (finishLocked).
	s.refreshUsersLocked(br, true)
	s.log.Info("user added to batch", "project", projectID, "batch", batchID, "user", userID, "pass", br.b.Pass)
	s.kickLocked()
	return nil
}
