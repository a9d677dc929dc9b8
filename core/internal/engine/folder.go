package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ternmail/tern/core/internal/ledger"
	"github.com/ternmail/tern/sdk/connector"
)

// folderRun is one folder's pass.
type folderRun struct {
	plan       FolderPlan
	validity   string
	target     *connector.TargetFolder
	pending    sync.WaitGroup
	mu         sync.Mutex
	rep        *FolderReport
	incomplete bool // something failed: do not advance the checkpoint
}

func (f *folderRun) count(fn func(c *Counts)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.rep.Counts)
}

func (f *folderRun) item(it Item, failed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rep.Items = append(f.rep.Items, it)
	if failed {
		f.incomplete = true
	}
}

func (f *folderRun) note(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rep.Notes = append(f.rep.Notes, fmt.Sprintf(format, args...))
}

// folder runs one folder's pass and returns its report.
func (r *run) folder(ctx context.Context, fp FolderPlan) *FolderReport {
	start := time.Now()
	f := &folderRun{plan: fp, rep: &FolderReport{Source: fp.Source, Target: fp.Target, Notes: slices.Clone(fp.Notes)}}
	err := r.folderPass(ctx, f)
	f.pending.Wait()
	if err != nil && ctx.Err() == nil {
		f.rep.Error = r.red.scrub(err.Error())
		r.log.Error("folder pass failed", "folder", fp.Source, "err", f.rep.Error)
	} else if err != nil {
		f.rep.Error = "stopped: " + r.red.scrub(context.Cause(ctx).Error())
	}
	f.rep.Duration = time.Since(start)
	return f.rep
}

func (r *run) folderPass(ctx context.Context, f *folderRun) error {
	L := r.job.Ledger
	var st *connector.FolderStatus
	err := r.retry(ctx, "folder status", r.src, func(ctx context.Context) (err error) {
		s, _, err := r.src.source(ctx)
		if err == nil {
			st, err = s.Status(ctx, f.plan.Source)
		}
		return err
	})
	if errors.Is(err, connector.ErrNotFound) {
		f.note("folder disappeared from the source before it was copied")
		return nil
	}
	if err != nil {
		return fmt.Errorf("status of %q: %w", f.plan.Source, err)
	}
	f.validity = st.Validity
	f.rep.Counts.SourceMessages = st.Messages

	err = r.retry(ctx, "create target folder", r.tgt, func(ctx context.Context) (err error) {
		t, _, err := r.tgt.target(ctx)
		if err == nil {
			f.target, err = t.EnsureFolder(ctx, f.plan.Target, f.plan.SpecialUse)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create target folder %q: %w", f.plan.Target, err)
	}
	f.rep.Target = f.target.Name

	prev, err := L.Folder(ctx, f.plan.Source)
	if err != nil {
		return fmt.Errorf("read ledger: %w", err)
	}
	// Messages in flight when an earlier pass stopped come first.
	validities := []string{st.Validity}
	if prev != nil && prev.Validity != "" && prev.Validity != st.Validity {
		validities = append(validities, prev.Validity)
	}
	for _, v := range validities {
		if err := r.reconcile(ctx, f, v); err != nil {
			return err
		}
	}

	// Messages skipped by earlier passes stay in every report until they
	// are gone from the source.
	{
		skipped, err := L.Skipped(ctx, f.plan.Source, st.Validity)
		if err != nil {
			return fmt.Errorf("read ledger: %w", err)
		}
		for _, e := range skipped {
			f.count(func(c *Counts) { c.Skipped++ })
			f.item(Item{ID: e.ID, MessageID: e.MessageID, Size: e.Size, Kind: "skipped", Reason: e.Reason}, false)
		}
	}

	rekey := prev != nil && prev.Validity != "" && prev.Validity != st.Validity
	var since connector.Checkpoint
	var old *rekeyIndex
	if rekey {
		f.note("the source folder's UIDVALIDITY changed from %s to %s; messages are matched by fingerprint instead of copied again", prev.Validity, st.Validity)
		old, err = r.buildRekeyIndex(ctx, f, prev.Validity)
		if err != nil {
			return err
		}
	} else if prev != nil {
		since = prev.Checkpoint
	}

	var res *connector.ListResult
	err = r.retry(ctx, "list messages", r.src, func(ctx context.Context) (err error) {
		s, _, err := r.src.source(ctx)
		if err != nil {
			return err
		}
		res, err = s.List(ctx, f.plan.Source, &connector.ListQuery{Since: since, PageSize: r.opts.PageSize}, func(page []connector.Message) error {
			return r.page(ctx, f, page, old)
		})
		return err
	})
	// Wait for this folder's copies before judging the pass.
	f.pending.Wait()
	if err != nil {
		return fmt.Errorf("list %q: %w", f.plan.Source, err)
	}
	if res.Validity != "" && res.Validity != st.Validity {
		return connector.Errorf(connector.KindTemporary, "UIDVALIDITY of %q changed during the pass (%s → %s); the next pass rematches", f.plan.Source, st.Validity, res.Validity)
	}
	f.mu.Lock()
	incomplete := f.incomplete
	f.mu.Unlock()
	if incomplete || ctx.Err() != nil {
		// The next pass lists from the old checkpoint and retries.
		return nil
	}
	if rekey {
		if err := L.DropValidity(ctx, f.plan.Source, prev.Validity); err != nil {
			return fmt.Errorf("drop old ledger entries: %w", err)
		}
	}
	return L.SetFolder(ctx, f.plan.Source, &ledger.FolderState{Validity: st.Validity, Checkpoint: res.Checkpoint, TargetFolder: f.target.Name})
}

// page handles one page of source metadata: compares it with the ledger,
// syncs flags of known messages and queues the missing ones.
func (r *run) page(ctx context.Context, f *folderRun, page []connector.Message, old *rekeyIndex) error {
	L := r.job.Ledger
	var mark []*ledger.Entry
	var items []*item
	for i := range page {
		m := &page[i]
		e, err := L.Get(ctx, f.plan.Source, f.validity, m.ID)
		if err != nil {
			return fmt.Errorf("read ledger: %w", err)
		}
		if m.FlagsOnly {
			if e != nil && e.State == ledger.StateDone {
				r.syncFlags(ctx, f, e, m.Flags)
			}
			continue
		}
		if e != nil {
			switch e.State {
			case ledger.StateDone:
				f.count(func(c *Counts) { c.Present++ })
				r.job.Progress.Present.Add(1)
				r.syncFlags(ctx, f, e, m.Flags)
			case ledger.StateSkipped:
				// Reported from the ledger's skipped index at the start
				// of the pass.
			default:
				// Still in flight after reconciliation: the target could
				// not tell whether it has the message. Copying it again
				// could duplicate it, so it is reported instead.
				f.count(func(c *Counts) { c.Failed++ })
				f.item(Item{ID: m.ID, MessageID: m.MessageID, Size: m.Size, Kind: "failed", Reason: "an earlier copy was interrupted and the target cannot look messages up to tell whether it arrived"}, true)
			}
			continue
		}
		if old != nil {
			if prevEntry := old.take(m.Fingerprint); prevEntry != nil {
				moved := *prevEntry
				moved.ID = m.ID
				if err := L.Commit(ctx, f.plan.Source, f.validity, &moved); err != nil {
					return err
				}
				f.count(func(c *Counts) { c.Rematched++ })
				r.job.Progress.Present.Add(1)
				r.syncFlags(ctx, f, &moved, m.Flags)
				continue
			}
		}
		if reason := r.excluded(m); reason != "" {
			f.count(func(c *Counts) { c.Excluded++ })
			continue
		}
		if r.opts.NoFlags {
			m.Flags = nil
		}
		if max := r.caps.MaxMessageSize; max > 0 && m.Size > max {
			e := &ledger.Entry{ID: m.ID, State: ledger.StateSkipped, Fingerprint: m.Fingerprint, MessageID: m.MessageID, Size: m.Size,
				TargetFolder: f.target.Name, Reason: fmt.Sprintf("message of %d bytes exceeds the target's limit of %d bytes", m.Size, max)}
			if err := L.Commit(ctx, f.plan.Source, f.validity, e); err != nil {
				return err
			}
			f.count(func(c *Counts) { c.Skipped++ })
			r.job.Progress.Skipped.Add(1)
			f.item(Item{ID: m.ID, MessageID: m.MessageID, Size: m.Size, Kind: "skipped", Reason: e.Reason}, false)
			continue
		}
		e = &ledger.Entry{ID: m.ID, Fingerprint: m.Fingerprint, MessageID: m.MessageID, Size: m.Size,
			TargetFolder: f.target.Name, Watermark: f.target.Watermark}
		mark = append(mark, e)
		items = append(items, &item{msg: *m, entry: e})
	}
	// One durable write marks the whole page in flight before any of it is
	// appended.
	if err := L.MarkInflight(ctx, f.plan.Source, f.validity, mark); err != nil {
		return fmt.Errorf("mark in flight: %w", err)
	}
	r.job.Progress.ToCopy.Add(int64(len(items)))
	for _, t := range r.batches(f, items) {
		f.pending.Add(len(t.items))
		select {
		case r.tasks <- t:
		case <-ctx.Done():
			f.pending.Add(-len(t.items))
			return context.Cause(ctx)
		}
	}
	return nil
}

// excluded returns why the filters leave a message out, "" if they don't.
func (r *run) excluded(m *connector.Message) string {
	fl := r.opts.Filter
	switch {
	case fl.MaxSize > 0 && m.Size > fl.MaxSize:
		return "larger than the size limit"
	case !fl.Since.IsZero() && !m.InternalDate.IsZero() && m.InternalDate.Before(fl.Since):
		return "older than the date range"
	case !fl.Before.IsZero() && !m.InternalDate.IsZero() && !m.InternalDate.Before(fl.Before):
		return "newer than the date range"
	case fl.SkipDeleted && slices.ContainsFunc(m.Flags, func(s string) bool { return s == connector.FlagDeleted }):
		return "flagged \\Deleted"
	}
	return ""
}

// syncFlags brings a copied message's flags on the target in line with
// the source's current flags.
func (r *run) syncFlags(ctx context.Context, f *folderRun, e *ledger.Entry, flags []string) {
	now := normFlags(flags)
	if slices.Equal(now, normFlags(e.Flags)) || r.opts.NoFlagSync || r.opts.NoFlags {
		return
	}
	if !r.caps.FlagSync || e.Ref == "" {
		f.note("flags of message %s changed on the source but the target cannot update them", e.ID)
		return
	}
	var res *connector.SetFlagsResult
	err := r.retry(ctx, "update flags", r.tgt, func(ctx context.Context) error {
		t, _, err := r.tgt.target(ctx)
		if err != nil {
			return err
		}
		fs, ok := t.(connector.TargetFlagSync)
		if !ok {
			return connector.Errorf(connector.KindUnsupported, "target cannot update flags")
		}
		res, err = fs.SetFlags(ctx, e.TargetFolder, e.Ref, now)
		return err
	})
	if errors.Is(err, connector.ErrNotFound) {
		f.note("message %s was deleted on the target; its flags were not updated", e.ID)
		return
	}
	if err != nil {
		f.item(Item{ID: e.ID, MessageID: e.MessageID, Size: e.Size, Kind: "failed", Reason: "update flags: " + r.red.scrub(err.Error())}, true)
		f.count(func(c *Counts) { c.Failed++ })
		return
	}
	if len(res.DroppedFlags) > 0 {
		f.item(Item{ID: e.ID, MessageID: e.MessageID, Size: e.Size, Kind: "note", Reason: fmt.Sprintf("target refused flags %q", res.DroppedFlags)}, false)
	}
	updated := *e
	updated.Flags = now
	if err := r.job.Ledger.Commit(ctx, f.plan.Source, f.validity, &updated); err != nil {
		f.note("ledger: %v", err)
		return
	}
	f.count(func(c *Counts) { c.FlagsUpdated++ })
	r.job.Progress.FlagsUpdated.Add(1)
}

// reconcile resolves the entries left in flight by an earlier pass: found
// on the target (and not claimed by another entry) they are done; not
// found, they are dropped and copied again.
func (r *run) reconcile(ctx context.Context, f *folderRun, validity string) error {
	L := r.job.Ledger
	entries, err := L.Inflight(ctx, f.plan.Source, validity)
	if err != nil || len(entries) == 0 {
		return err
	}
	r.log.Info("reconciling messages left in flight", "folder", f.plan.Source, "count", len(entries))
	for _, e := range entries {
		r.claimMu.Lock()
		ref, found, err := r.lookupClaim(ctx, e)
		r.claimMu.Unlock()
		if errors.Is(err, connector.ErrUnsupported) {
			// Without lookup there is no way to tell; leave it in flight
			// (the listing reports it) rather than risk a duplicate.
			continue
		}
		if err != nil {
			return fmt.Errorf("reconcile message %s: %w", e.ID, err)
		}
		if !found {
			if err := L.Drop(ctx, f.plan.Source, validity, e.ID); err != nil {
				return err
			}
			continue
		}
		e.State, e.Ref = ledger.StateDone, ref
		if err := L.Commit(ctx, f.plan.Source, validity, e); err != nil {
			return err
		}
		f.count(func(c *Counts) { c.Reconciled++ })
	}
	return nil
}

// rekeyIndex holds the done entries of a folder's previous validity by
// fingerprint, for matching after a UIDVALIDITY change.
type rekeyIndex struct {
	byFP map[string][]*ledger.Entry
}

func (x *rekeyIndex) take(fp string) *ledger.Entry {
	list := x.byFP[fp]
	if len(list) == 0 {
		return nil
	}
	e := list[0]
	x.byFP[fp] = list[1:]
	return e
}

// buildRekeyIndex indexes the done entries of the old validity, minus
// those already matched to the new validity by an interrupted rekey.
func (r *run) buildRekeyIndex(ctx context.Context, f *folderRun, oldValidity string) (*rekeyIndex, error) {
	L := r.job.Ledger
	used := map[string]bool{}
	err := L.Entries(ctx, f.plan.Source, f.validity, func(e *ledger.Entry) error {
		if e.Ref != "" {
			used[e.TargetFolder+"\x00"+e.Ref] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	x := &rekeyIndex{byFP: map[string][]*ledger.Entry{}}
	err = L.Entries(ctx, f.plan.Source, oldValidity, func(e *ledger.Entry) error {
		if e.State == ledger.StateDone && !used[e.TargetFolder+"\x00"+e.Ref] {
			x.byFP[e.Fingerprint] = append(x.byFP[e.Fingerprint], e)
		}
		return nil
	})
	return x, err
}
