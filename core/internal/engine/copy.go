package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ternmail/tern/core/internal/ledger"
	"github.com/ternmail/tern/sdk/connector"
)

// item is one message to copy; its entry is already in flight.
type item struct {
	msg   connector.Message
	entry *ledger.Entry
}

// task is work for one worker: one message, or a batch of small messages
// of one folder that a connector can copy together (IMAP: one FETCH, one
// MULTIAPPEND).
type task struct {
	folder *folderRun
	items  []*item
}

// batches groups a page's messages into tasks: consecutive small messages
// share a task up to BatchSize messages and BatchBytes bytes, when the
// sessions can copy directly; larger ones, and all of them otherwise, go
// one by one.
func (r *run) batches(f *folderRun, items []*item) []*task {
	var out []*task
	if r.noDirectCopy.Load() || r.opts.BatchSize <= 1 {
		for _, it := range items {
			out = append(out, &task{folder: f, items: []*item{it}})
		}
		return out
	}
	var cur *task
	var bytes int64
	for _, it := range items {
		if it.msg.Size > r.opts.BatchBytes/4 {
			out = append(out, &task{folder: f, items: []*item{it}})
			continue
		}
		if cur == nil || len(cur.items) >= r.opts.BatchSize || bytes+it.msg.Size > r.opts.BatchBytes {
			cur = &task{folder: f}
			bytes = 0
			out = append(out, cur)
		}
		cur.items = append(cur.items, it)
		bytes += it.msg.Size
	}
	return out
}

// runTask copies a task's messages and records every outcome.
func (r *run) runTask(ctx context.Context, t *task) {
	f := t.folder
	defer func() {
		for range t.items {
			f.pending.Done()
		}
	}()
	if ctx.Err() != nil {
		return // the entries stay in flight and are reconciled next time
	}
	if r.limiter != nil {
		if err := r.limiter.WaitN(ctx, len(t.items)); err != nil {
			return
		}
	}
	var largest int64
	for _, it := range t.items {
		largest = max(largest, it.msg.Size)
	}
	w := r.e.weight(largest, r.opts.ChunkSize)
	if err := r.e.budget.Acquire(ctx, w); err != nil {
		return
	}
	defer r.e.budget.Release(w)
	if len(t.items) == 1 {
		r.copy(ctx, f, t.items[0], false)
		return
	}
	r.copyBatch(ctx, t)
}

// copyBatch copies a batch in one call; the items that fail, or all of
// them if the call fails, are copied one by one with the usual retries.
func (r *run) copyBatch(ctx context.Context, t *task) {
	f := t.folder
	retry := func(maybeLanded bool, items ...*item) {
		for _, it := range items {
			r.copy(ctx, f, it, maybeLanded)
		}
	}
	src, sgen, err := r.src.source(ctx)
	if err != nil {
		retry(false, t.items...)
		return
	}
	cp, ok := src.(connector.SourceCopier)
	if !ok {
		retry(false, t.items...)
		return
	}
	tgt, tgen, err := r.tgt.target(ctx)
	if err != nil {
		retry(false, t.items...)
		return
	}
	reqs := make([]connector.CopyItem, len(t.items))
	for i, it := range t.items {
		reqs[i] = copyItem(it)
	}
	outs, err := cp.CopyTo(ctx, f.plan.Source, reqs, tgt, t.items[0].entry.TargetFolder)
	switch {
	case errors.Is(err, connector.ErrUnsupported):
		r.noDirectCopy.Store(true)
		retry(false, t.items...)
		return
	case err != nil:
		// The call failed as a whole: any message may have landed.
		if connector.KindOf(err) == connector.KindUnavailable {
			r.src.reset(sgen)
			r.tgt.reset(tgen)
		}
		r.log.Warn("batch copy failed; copying its messages one by one", "folder", f.plan.Source, "messages", len(t.items), "err", r.red.scrub(err.Error()))
		retry(true, t.items...)
		return
	}
	for i, it := range t.items {
		o := outs[i]
		if o.Err == nil && o.Result != nil {
			if o.Size > 0 && o.Size != it.msg.Size {
				it.entry.Size = o.Size
			}
			r.done(ctx, f, it, o.Result)
			continue
		}
		// One message failed; the others are unaffected. A definite
		// refusal or a source failure means it was not stored.
		var ce *connector.CopyError
		maybe := !(errors.As(o.Err, &ce) && ce.Source) && !definite(o.Err)
		retry(maybe, it)
	}
}

func copyItem(it *item) connector.CopyItem {
	return connector.CopyItem{ID: it.msg.ID, InternalDate: it.msg.InternalDate, Flags: it.msg.Flags, MessageID: it.msg.MessageID, Fingerprint: it.msg.Fingerprint}
}

// stage says where a copy failed.
type stage int

const (
	stageFetch stage = iota
	stageAppend
)

type copyError struct {
	stage stage
	gen   int
	side  *side
	err   error
}

func (e *copyError) Error() string { return e.err.Error() }
func (e *copyError) Unwrap() error { return e.err }

// definite reports whether an append error proves the message was not
// stored (the target refused it), as opposed to a failure after which it
// may or may not have been stored.
func definite(err error) bool {
	switch connector.KindOf(err) {
	case connector.KindTooLarge, connector.KindPermanent, connector.KindInvalid, connector.KindAuth, connector.KindNotFound, connector.KindUnsupported,
		connector.KindThrottled: // a rate-limit answer is a refusal
		return true
	}
	return false
}

// copy copies one message, with retries, and records the outcome.
// maybeLanded says an earlier attempt may have stored it already.
func (r *run) copy(ctx context.Context, f *folderRun, it *item, maybeLanded bool) {
	var lastErr error
	waited := false // the last failure was throttling, already waited for
	throttles := 0
	for attempt := 1; attempt <= r.opts.MaxAttempts; attempt++ {
		if ctx.Err() != nil {
			return // the entry stays in flight and is reconciled next time
		}
		var ce *copyError
		if maybeLanded || (errors.As(lastErr, &ce) && ce.stage == stageAppend && !definite(lastErr)) {
			// The append may have landed before the failure: look
			// before copying again.
			r.claimMu.Lock()
			ref, found, err := r.lookupClaim(ctx, it.entry)
			r.claimMu.Unlock()
			if err == nil && found {
				r.done(ctx, f, it, &connector.AppendResult{Ref: ref})
				return
			}
			maybeLanded = false
		}
		if attempt > 1 && !waited && !sleep(ctx, r.backoff(attempt-1, lastErr)) {
			return
		}
		waited = false
		res, err := r.copyOnce(ctx, f, it)
		if err == nil {
			r.done(ctx, f, it, res)
			return
		}
		lastErr = err
		if ctx.Err() != nil {
			return
		}
		ce = nil
		errors.As(err, &ce)
		kind := connector.KindOf(err)
		if kind == connector.KindUnavailable && ce != nil {
			ce.side.reset(ce.gen)
		}
		if kind == connector.KindThrottled && throttles < maxThrottles {
			throttles++
			// The server says "later": not a failure of this message, so
			// no attempt is used up. It is waited for as long as the
			// server asks (a daily limit pauses the mailbox until it
			// resets), with the progress saying so.
			if !r.throttled(ctx, ce, err) {
				return
			}
			attempt--
			waited = true
			continue
		}
		switch {
		case ce != nil && ce.stage == stageFetch && kind == connector.KindNotFound:
			// Deleted on the source while we worked: nothing to copy.
			r.job.Ledger.Drop(ctx, f.plan.Source, f.validity, it.msg.ID)
			f.count(func(c *Counts) { c.Vanished++ })
			return
		case kind == connector.KindAuth:
			r.fail(fmt.Errorf("login refused during the pass: %w", err))
			return
		case kind == connector.KindTooLarge || kind == connector.KindPermanent || kind == connector.KindInvalid || kind == connector.KindUnsupported:
			r.skip(ctx, f, it, err)
			return
		case ce != nil && ce.stage == stageAppend && kind == connector.KindNotFound:
			// The target folder went away; recreate it and try again.
			r.retry(ctx, "recreate target folder", r.tgt, func(ctx context.Context) error {
				tg, _, err := r.tgt.target(ctx)
				if err == nil {
					_, err = tg.EnsureFolder(ctx, it.entry.TargetFolder, f.plan.SpecialUse)
				}
				return err
			})
		}
		r.log.Warn("copy failed, will retry", "folder", f.plan.Source, "id", it.msg.ID, "attempt", attempt, "err", r.red.scrub(err.Error()))
	}
	// Out of attempts: the entry stays in flight; the next pass reconciles
	// and retries it.
	reason := "gave up: " + r.red.scrub(lastErr.Error())
	f.count(func(c *Counts) { c.Failed++ })
	r.job.Progress.Failed.Add(1)
	f.item(Item{ID: it.msg.ID, MessageID: it.msg.MessageID, Size: it.msg.Size, Kind: "failed", Reason: reason}, true)
	r.log.Error("copy failed", "folder", f.plan.Source, "id", it.msg.ID, "err", reason)
}

// maxThrottleWait bounds one wait for a throttling server; after
// maxThrottles refusals of one message, throttling counts as a failure
// (a server that never lets it through).
const (
	maxThrottleWait = 24 * time.Hour
	maxThrottles    = 200
)

// throttled waits as a throttling server asks: its retry-after (up to a
// day), else the usual backoff. A wait of a minute or more shows in the
// job's progress. It returns false if ctx ended.
func (r *run) throttled(ctx context.Context, ce *copyError, err error) bool {
	d := connector.RetryAfter(err)
	if d <= 0 {
		d = r.opts.RetryBase
	}
	d = min(d, maxThrottleWait)
	if d >= time.Minute {
		who := "the server"
		if ce != nil && ce.side != nil {
			who = "the " + ce.side.ep.Label
		}
		reason := fmt.Sprintf("throttled by %s until %s", who, time.Now().Add(d).Format("15:04"))
		r.log.Warn("pausing: throttled", "for", d, "err", r.red.scrub(err.Error()))
		r.job.Progress.setWaiting(reason)
		defer r.job.Progress.setWaiting("")
	}
	return sleep(ctx, d)
}

// copyOnce copies the message from source to target once: inside the
// plugin when both sessions live in one process, streamed through core
// otherwise.
func (r *run) copyOnce(ctx context.Context, f *folderRun, it *item) (*connector.AppendResult, error) {
	src, sgen, err := r.src.source(ctx)
	if err != nil {
		return nil, &copyError{stage: stageFetch, side: r.src, gen: sgen, err: err}
	}
	tgt, tgen, err := r.tgt.target(ctx)
	if err != nil {
		return nil, &copyError{stage: stageFetch, side: r.tgt, gen: tgen, err: err}
	}
	if cp, ok := src.(connector.SourceCopier); ok && !r.noDirectCopy.Load() {
		outs, err := cp.CopyTo(ctx, f.plan.Source, []connector.CopyItem{copyItem(it)}, tgt, it.entry.TargetFolder)
		var ce *connector.CopyError
		switch {
		case errors.Is(err, connector.ErrUnsupported):
			r.noDirectCopy.Store(true) // the sessions live in different processes
		case err != nil:
			if connector.KindOf(err) == connector.KindUnavailable {
				r.src.reset(sgen)
			}
			return nil, &copyError{stage: stageAppend, side: r.tgt, gen: tgen, err: err}
		case outs[0].Err == nil && outs[0].Result != nil:
			if outs[0].Size > 0 && outs[0].Size != it.msg.Size {
				it.entry.Size = outs[0].Size
			}
			return outs[0].Result, nil
		case errors.As(outs[0].Err, &ce) && ce.Source:
			return nil, &copyError{stage: stageFetch, side: r.src, gen: sgen, err: ce.Err}
		default:
			return nil, &copyError{stage: stageAppend, side: r.tgt, gen: tgen, err: outs[0].Err}
		}
	}
	body, err := src.Fetch(ctx, f.plan.Source, it.msg.ID)
	if err != nil {
		return nil, &copyError{stage: stageFetch, side: r.src, gen: sgen, err: err}
	}
	defer body.Close()
	rb := &recordingBody{Body: body}
	res, err := tgt.Append(ctx, it.entry.TargetFolder, &connector.AppendMessage{
		Size:         body.Size(),
		Body:         rb,
		InternalDate: it.msg.InternalDate,
		Flags:        it.msg.Flags,
		MessageID:    it.msg.MessageID,
		Fingerprint:  it.msg.Fingerprint,
	})
	if err != nil {
		if rb.err != nil {
			// Reading the source failed mid-stream; the target was not
			// given a whole message and did not store it.
			return nil, &copyError{stage: stageFetch, side: r.src, gen: sgen, err: rb.err}
		}
		return nil, &copyError{stage: stageAppend, side: r.tgt, gen: tgen, err: err}
	}
	if body.Size() != it.msg.Size {
		it.entry.Size = body.Size()
	}
	return res, nil
}

// recordingBody remembers the first read error of a source body.
type recordingBody struct {
	connector.Body
	err error
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.Body.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// done records a copied message.
func (r *run) done(ctx context.Context, f *folderRun, it *item, res *connector.AppendResult) {
	e := it.entry
	e.State = ledger.StateDone
	e.Ref = res.Ref
	e.Flags = normFlags(it.msg.Flags)
	if res.Ref != "" {
		r.claimMu.Lock()
		r.claimed[e.TargetFolder+"\x00"+res.Ref] = true
		r.claimMu.Unlock()
	} else if r.caps.Lookup {
		// No ref from the append (an IMAP server without UIDPLUS): find it,
		// so that flag sync and claims work.
		r.claimMu.Lock()
		if ref, found, err := r.lookupClaim(ctx, e); err == nil && found {
			e.Ref = ref
		}
		r.claimMu.Unlock()
	}
	if err := r.job.Ledger.Commit(ctx, f.plan.Source, f.validity, e); err != nil {
		f.note("ledger: %v", err)
	}
	if len(res.DroppedFlags) > 0 {
		f.item(Item{ID: it.msg.ID, MessageID: it.msg.MessageID, Size: it.msg.Size, Kind: "note", Reason: fmt.Sprintf("target refused flags %q", res.DroppedFlags)}, false)
	}
	for _, n := range res.Notes {
		f.item(Item{ID: it.msg.ID, MessageID: it.msg.MessageID, Size: it.msg.Size, Kind: "note", Reason: n}, false)
	}
	f.count(func(c *Counts) {
		c.Copied++
		c.Bytes += e.Size
	})
	r.job.Progress.Copied.Add(1)
	r.job.Progress.BytesCopied.Add(e.Size)
}

// skip records a message the target refused for good.
func (r *run) skip(ctx context.Context, f *folderRun, it *item, err error) {
	reason := r.red.scrub(err.Error())
	e := *it.entry
	e.State, e.Reason = ledger.StateSkipped, reason
	if cerr := r.job.Ledger.Commit(ctx, f.plan.Source, f.validity, &e); cerr != nil {
		f.note("ledger: %v", cerr)
	}
	f.count(func(c *Counts) { c.Skipped++ })
	r.job.Progress.Skipped.Add(1)
	f.item(Item{ID: it.msg.ID, MessageID: it.msg.MessageID, Size: it.msg.Size, Kind: "skipped", Reason: reason}, false)
}
