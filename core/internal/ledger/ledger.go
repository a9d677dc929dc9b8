// Package ledger defines the migration ledger: what core knows, per
// mailbox and source folder, about every message it has copied. The engine
// writes it and the store keeps it (in Badger); this package holds only the
// records and the interface between the two, so neither imports the other.
//
// # Exactly once
//
// The ledger is what makes re-runs and resumes exact. Per source folder it
// keeps the folder's validity (IMAP UIDVALIDITY) and the source's last
// checkpoint; per message (keyed by validity and source ID) an [Entry].
// The engine follows one protocol for every message:
//
//  1. Before a message is appended, its entry is written as [StateInflight]
//     with the target folder's watermark of this pass. MarkInflight is
//     durable before it returns.
//  2. The message is streamed from source to target.
//  3. On the target's acknowledgement the entry becomes [StateDone] with the
//     target's ref, and the ref is claimed so that no other entry can take
//     it.
//
// After a crash at any instant, in-flight entries are reconciled before the
// folder is copied again: the target is asked for messages with the entry's
// fingerprint stored after the watermark; an unclaimed match means the
// append landed (the entry becomes done with that ref), no match means it
// did not (the entry is dropped and the message copied again). A mailbox is
// a multiset: byte-identical copies have equal fingerprints, and claims
// keep each target message matched to one source message.
package ledger

import (
	"context"
	"time"
)

// State is the state of a message's entry.
type State string

// The states.
const (
	// StateInflight: an append may have happened; reconcile before use.
	StateInflight State = "inflight"
	// StateDone: the message is on the target as Ref.
	StateDone State = "done"
	// StateSkipped: the message will not be copied; Reason says why.
	StateSkipped State = "skipped"
)

// Entry is what the ledger knows of one source message.
type Entry struct {
	// ID is the source message ID (IMAP UID).
	ID string `json:"id"`
	// State is the entry's state.
	State State `json:"s"`
	// Fingerprint, MessageID and Size identify the content.
	Fingerprint string `json:"fp"`
	MessageID   string `json:"mid,omitempty"`
	Size        int64  `json:"size"`
	// Flags are the source flags last copied to the target.
	Flags []string `json:"flags,omitempty"`
	// TargetFolder and Ref locate the message on the target (Ref may be
	// empty for an in-flight entry).
	TargetFolder string `json:"tf"`
	Ref          string `json:"ref,omitempty"`
	// Watermark is the target folder's watermark of the pass that wrote
	// the in-flight entry.
	Watermark string `json:"wm,omitempty"`
	// Reason says why a message was skipped.
	Reason string `json:"reason,omitempty"`
	// Updated is when the entry last changed.
	Updated time.Time `json:"t"`
}

// FolderState is what the ledger knows of one source folder.
type FolderState struct {
	// Validity is the source folder's validity the entries belong to.
	Validity string `json:"v"`
	// Checkpoint is the source's checkpoint after the last complete pass.
	Checkpoint []byte `json:"cp,omitempty"`
	// TargetFolder is where the folder was copied to.
	TargetFolder string `json:"tf"`
	// Updated is when the state last changed.
	Updated time.Time `json:"t"`
}

// Ledger is the ledger of one mailbox.
type Ledger interface {
	// Folder returns a source folder's state, nil if the folder is new.
	Folder(ctx context.Context, folder string) (*FolderState, error)
	// SetFolder stores a source folder's state.
	SetFolder(ctx context.Context, folder string, st *FolderState) error
	// Get returns a message's entry, nil if there is none.
	Get(ctx context.Context, folder, validity, id string) (*Entry, error)
	// MarkInflight writes in-flight entries; they are durable when it
	// returns.
	MarkInflight(ctx context.Context, folder, validity string, entries []*Entry) error
	// Inflight returns the in-flight entries of a folder and validity.
	Inflight(ctx context.Context, folder, validity string) ([]*Entry, error)
	// Commit stores a done or skipped entry, clears its in-flight mark and,
	// for a done entry with a ref, claims the ref. Commit may return before
	// the write is durable: losing it in a crash leaves the in-flight entry,
	// which is reconciled.
	Commit(ctx context.Context, folder, validity string, e *Entry) error
	// Skipped returns the skipped entries of a folder and validity.
	Skipped(ctx context.Context, folder, validity string) ([]*Entry, error)
	// Drop deletes an entry and its in-flight mark (an append that did
	// not land).
	Drop(ctx context.Context, folder, validity, id string) error
	// Claimed reports whether a target ref in a target folder belongs to
	// an entry.
	Claimed(ctx context.Context, targetFolder, ref string) (bool, error)
	// Entries calls fn for every entry of a folder and validity.
	Entries(ctx context.Context, folder, validity string, fn func(*Entry) error) error
	// DropValidity deletes every entry of a folder under a validity that
	// is no longer the source's (after their messages were matched under
	// the new one). Claims of moved entries are kept.
	DropValidity(ctx context.Context, folder, validity string) error
	// Sync makes every write so far durable.
	Sync(ctx context.Context) error
}
