package engine

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ternmail/tern/core/internal/ledger"
	"github.com/ternmail/tern/sdk/connector"
)

// task is one message to copy.
type task struct {
	folder *folderRun
	msg    connector.Message
	entry  *ledger.Entry // in flight
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
	case connector.KindTooLarge, connector.KindPermanent, connector.KindInvalid, connector.KindAuth, connector.KindNotFound, connector.KindUnsupported:
		return true
	}
	return false
}

// copy copies one message, with retries, and records the outcome.
func (r *run) copy(ctx context.Context, t *task) {
	f := t.folder
	defer f.pending.Done()
	if ctx.Err() != nil {
		return // the entry stays in flight and is reconciled next time
	}
	w := r.e.weight(t.msg.Size, r.opts.ChunkSize)
	if err := r.e.budget.Acquire(ctx, w); err != nil {
		return
	}
	defer r.e.budget.Release(w)

	var lastErr error
	for attempt := 1; attempt <= r.opts.MaxAttempts; attempt++ {
		if attempt > 1 {
			var ce *copyError
			if errors.As(lastErr, &ce) && ce.stage == stageAppend && !definite(lastErr) {
				// The append may have landed before the failure: look
				// before copying again.
				r.claimMu.Lock()
				ref, found, err := r.lookupClaim(ctx, t.entry)
				r.claimMu.Unlock()
				if err == nil && found {
					r.done(ctx, t, &connector.AppendResult{Ref: ref}, true)
					return
				}
			}
			if !sleep(ctx, r.backoff(attempt-1, lastErr)) {
				return
			}
		}
		res, err := r.copyOnce(ctx, t)
		if err == nil {
			r.done(ctx, t, res, false)
			return
		}
		lastErr = err
		if ctx.Err() != nil {
			return
		}
		var ce *copyError
		errors.As(err, &ce)
		if connector.KindOf(err) == connector.KindUnavailable && ce != nil {
			ce.side.reset(ce.gen)
		}
		kind := connector.KindOf(err)
		switch {
		case ce != nil && ce.stage == stageFetch && kind == connector.KindNotFound:
			// Deleted on the source while we worked: nothing to copy.
			r.job.Ledger.Drop(ctx, f.plan.Source, f.validity, t.msg.ID)
			f.count(func(c *Counts) { c.Vanished++ })
			return
		case kind == connector.KindAuth:
			r.fail(fmt.Errorf("login refused during the pass: %w", err))
			return
		case kind == connector.KindTooLarge || kind == connector.KindPermanent || kind == connector.KindInvalid || kind == connector.KindUnsupported:
			r.skip(ctx, t, err)
			return
		case ce != nil && ce.stage == stageAppend && kind == connector.KindNotFound:
			// The target folder went away; recreate it and try again.
			r.retry(ctx, "recreate target folder", r.tgt, func(ctx context.Context) error {
				tg, _, err := r.tgt.target(ctx)
				if err == nil {
					_, err = tg.EnsureFolder(ctx, t.entry.TargetFolder, f.plan.SpecialUse)
				}
				return err
			})
		}
		r.log.Warn("copy failed, will retry", "folder", f.plan.Source, "id", t.msg.ID, "attempt", attempt, "err", r.red.scrub(err.Error()))
	}
	// Out of attempts: the entry stays in flight; the next pass reconciles
	// and retries it.
	reason := r.red.scrub(lastErr.Error())
	f.count(func(c *Counts) { c.Failed++ })
	r.job.Progress.Failed.Add(1)
	f.item(Item{ID: t.msg.ID, MessageID: t.msg.MessageID, Size: t.msg.Size, Kind: "failed", Reason: reason}, true)
	r.log.Error("copy failed", "folder", f.plan.Source, "id", t.msg.ID, "err", reason)
}

// copyOnce copies the message from source to target once: inside the
// plugin when both sessions live in one process, streamed through core
// otherwise.
func (r *run) copyOnce(ctx context.Context, t *task) (*connector.AppendResult, error) {
	src, sgen, err := r.src.source(ctx)
	if err != nil {
		return nil, &copyError{stage: stageFetch, side: r.src, gen: sgen, err: err}
	}
	if cp, ok := src.(connector.SourceCopier); ok && !r.noDirectCopy.Load() {
		tgt, tgen, err := r.tgt.target(ctx)
		if err != nil {
			return nil, &copyError{stage: stageFetch, side: r.tgt, gen: tgen, err: err}
		}
		res, err := cp.CopyTo(ctx, t.folder.plan.Source, t.msg.ID, tgt, t.entry.TargetFolder, &connector.AppendMessage{
			InternalDate: t.msg.InternalDate,
			Flags:        t.msg.Flags,
			MessageID:    t.msg.MessageID,
			Fingerprint:  t.msg.Fingerprint,
		})
		var ce *connector.CopyError
		switch {
		case err == nil:
			if res.Size != t.msg.Size {
				t.entry.Size = res.Size
			}
			return &res.AppendResult, nil
		case errors.Is(err, connector.ErrUnsupported) && !errors.As(err, &ce):
			r.noDirectCopy.Store(true) // the sessions live in different processes
		case errors.As(err, &ce) && ce.Source:
			return nil, &copyError{stage: stageFetch, side: r.src, gen: sgen, err: ce.Err}
		default:
			if connector.KindOf(err) == connector.KindUnavailable {
				r.src.reset(sgen)
			}
			return nil, &copyError{stage: stageAppend, side: r.tgt, gen: tgen, err: err}
		}
	}
	body, err := src.Fetch(ctx, t.folder.plan.Source, t.msg.ID)
	if err != nil {
		return nil, &copyError{stage: stageFetch, side: r.src, gen: sgen, err: err}
	}
	defer body.Close()
	tgt, tgen, err := r.tgt.target(ctx)
	if err != nil {
		return nil, &copyError{stage: stageFetch, side: r.tgt, gen: tgen, err: err}
	}
	rb := &recordingBody{Body: body}
	res, err := tgt.Append(ctx, t.entry.TargetFolder, &connector.AppendMessage{
		Size:         body.Size(),
		Body:         rb,
		InternalDate: t.msg.InternalDate,
		Flags:        t.msg.Flags,
		MessageID:    t.msg.MessageID,
		Fingerprint:  t.msg.Fingerprint,
	})
	if err != nil {
		if rb.err != nil {
			// Reading the source failed mid-stream; the target was not
			// given a whole message and did not store it.
			return nil, &copyError{stage: stageFetch, side: r.src, gen: sgen, err: rb.err}
		}
		return nil, &copyError{stage: stageAppend, side: r.tgt, gen: tgen, err: err}
	}
	if body.Size() != t.msg.Size {
		t.entry.Size = body.Size()
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
func (r *run) done(ctx context.Context, t *task, res *connector.AppendResult, reconciled bool) {
	f := t.folder
	e := t.entry
	e.State = ledger.StateDone
	e.Ref = res.Ref
	e.Flags = normFlags(t.msg.Flags)
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
		f.item(Item{ID: t.msg.ID, MessageID: t.msg.MessageID, Size: t.msg.Size, Kind: "note", Reason: fmt.Sprintf("target refused flags %q", res.DroppedFlags)}, false)
	}
	for _, n := range res.Notes {
		f.item(Item{ID: t.msg.ID, MessageID: t.msg.MessageID, Size: t.msg.Size, Kind: "note", Reason: n}, false)
	}
	f.count(func(c *Counts) {
		c.Copied++
		c.Bytes += e.Size
	})
	r.job.Progress.Copied.Add(1)
	r.job.Progress.BytesCopied.Add(e.Size)
}

// skip records a message the target refused for good.
func (r *run) skip(ctx context.Context, t *task, err error) {
	f := t.folder
	reason := r.red.scrub(err.Error())
	e := *t.entry
	e.State, e.Reason = ledger.StateSkipped, reason
	if cerr := r.job.Ledger.Commit(ctx, f.plan.Source, f.validity, &e); cerr != nil {
		f.note("ledger: %v", cerr)
	}
	f.count(func(c *Counts) { c.Skipped++ })
	r.job.Progress.Skipped.Add(1)
	f.item(Item{ID: t.msg.ID, MessageID: t.msg.MessageID, Size: t.msg.Size, Kind: "skipped", Reason: reason}, false)
}
