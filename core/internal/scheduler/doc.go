// Package scheduler runs batches of users: start times, availability
// windows, concurrency limits, retries, pause/resume/cancel, delta passes,
// resumption after a restart, live progress and throughput.
//
// The scheduler does not know how a mailbox job is built (connectors,
// plugins, secrets): a [Runner] runs one pass over one user. Everything
// that must survive a restart is in the project store (batches, users,
// reports); the rest (progress counters, rates, retry counts, the
// throughput history) lives in memory.
//
// # Batch states (project.Batch.State)
//
//	            Submit
//	(stored) ──────────▶ scheduled ◀──── window closes ────┐
//	                      │   ▲                            │
//	  start time reached, │   │ Resume                     │
//	  a window open       ▼   │                            │
//	                     running ──────────────────────────┘
//	                      │   │ Pause (from scheduled too)
//	                      │   └──────▶ paused
//	every user finished   │
//	the pass              ▼
//	                     done ── NextPass reached (DeltaEvery) or Rerun ──▶ scheduled (Pass+1)
//
//	Cancel (from any state but cancelled) ──▶ cancelled ── Rerun ──▶ scheduled (Pass+1)
//
// A batch stored with project.Store.PutBatch does nothing until
// [Scheduler.Submit], which sets Batch.Submitted and starts pass 1. While
// running, its users start as the limits allow; when its window closes
// the running passes stop at a safe point, the batch goes back to
// scheduled and its users to queued (not failed), and they continue in
// the next window (a user waiting for a retry keeps waiting, and retries
// in a window). A pass is over when every user finished it (whatever
// the outcome); the batch is then done, and with Schedule.DeltaEvery its
// next pass is set for Finished+DeltaEvery (Batch.NextPass) and starts by
// itself. Batch.Started and Finished bound the current pass.
//
// # User statuses (project.User.Status)
//
//	queued ──▶ running ──▶ done | partial | failed
//	             │  ▲
//	             ▼  │ Progress.Waiting() clears
//	            waiting (secrets backend unavailable: the pass goes on by itself)
//	running ── failed with a temporary error ──▶ waiting (retry due) ──▶ running
//	running ── window closes / shutdown ──▶ queued
//	queued, running, waiting ── Pause ──▶ paused ── Resume ──▶ queued
//	queued, running, waiting, paused ── Cancel ──▶ cancelled
//
// Outcomes follow the engine's report: ok is done, partial is partial,
// failed is failed. A failed pass whose ErrorKind is temporary, throttled,
// unavailable or unknown is tried again after an exponential backoff
// (Options.RetryBase doubling up to RetryMax), at most Options.MaxRetries
// times; then, or at once for any other kind (a refused login, bad
// settings), the user is failed with the report's error. Every try's
// report is saved with project.Store.SaveReport; a pass stopped by the
// scheduler (window, pause, cancel, shutdown) is saved with
// RunReport.Interrupted set, and the next pass resumes where it stopped
// (the engine's ledger makes that exact). User.Finished records the last
// pass of each batch a user finished, which is how a restart knows who
// still has the current pass to run.
//
// A user in two active batches has one status: that of its running pass,
// else queued while a pass waits in either batch. It never runs twice at
// once.
//
// # Passes over one user
//
// [Scheduler.RunUser] queues a delta pass over one user, in a batch or
// not. It ignores batches' windows (an admin asked for it now) but obeys
// the concurrency limits; its report has no batch and its Pass is the
// user's own pass number. User.Requested marks it until it finishes, so
// it survives a restart.
//
// # Adding a user to a batch
//
// [Scheduler.AddToBatch] adds one user to a submitted batch's current
// pass (the self-service batch takes its users this way, as they enter
// their passwords): a user not in the batch joins it, one that finished
// the pass runs it again, and a done batch is reopened for the same pass
// (scheduled again) without running the users that finished it. A paused
// batch takes the user as paused; a cancelled one refuses (ErrState).
//
// # End of a pass
//
// Options.OnPassEnd, if set, hears of every pass that ended for good
// (done, partial, or failed with no retry left) after its report was
// saved, outside the scheduler's lock; self-service mails its users from
// it.
//
// # Limits
//
// Options.Concurrency bounds the mailboxes running at once over
// everything; Batch.Concurrency bounds a batch's; Options.ConnectorLimit
// bounds a connector's (a user counts against its project's source and
// target connector). Passes over single users are started first, then
// batches in the order they were submitted, users in the batch's order. A
// pass waiting for the secrets backend keeps its place.
//
// # Restart
//
// [Scheduler.Close] stops every pass at a safe point, saves their reports
// as interrupted and queues their users. [Scheduler.Start] loads every
// submitted batch that is scheduled, running, paused or waiting for a
// delta pass, and every requested single pass, and goes on; users left
// running by a crash are queued again. The engine's ledger guarantees no
// message is copied twice.
//
// # Time
//
// Everything is decided on a tick ([Scheduler.Tick]: every Options.Tick,
// and soon after every change) with Options.Now, so tests drive the
// scheduler with a fake clock. Rates are measured over Options.RateWindow
// from the counters sampled at each tick; an ETA is (ToCopy − Copied) /
// rate and unknown while the rate is 0. The throughput history keeps one
// [Sample] per [SampleEvery] over [History].
//
// # Edits
//
// Each tick re-reads the tracked batches, so an admin's edit of a batch's
// schedule, windows, concurrency or users takes effect: new users join
// the current pass, removed users leave it (a running one when its pass
// ends). A batch deleted from the store stops its passes.
package scheduler
