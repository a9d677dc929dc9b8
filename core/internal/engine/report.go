package engine

import (
	"strings"
	"time"

	"github.com/ternmail/tern/sdk/connector"
)

// Status is the outcome of a job.
type Status string

// The outcomes.
const (
	// StatusOK: every selected message is on the target.
	StatusOK Status = "ok"
	// StatusPartial: the job ran to the end, but some messages were
	// skipped or failed; the report lists them.
	StatusPartial Status = "partial"
	// StatusFailed: the job could not run to the end (for instance the
	// login was refused); Error says why.
	StatusFailed Status = "failed"
)

// Report is the result of a job.
type Report struct {
	Mailbox string `json:"mailbox"`
	Source  string `json:"source"`
	Target  string `json:"target"`
	Status  Status `json:"status"`
	Error   string `json:"error,omitempty"`
	// ErrorKind classifies Error (auth, temporary, …), so that a scheduler
	// can tell a pass to retry from one to give up on.
	ErrorKind connector.Kind  `json:"error_kind,omitzero"`
	Started   time.Time       `json:"started"`
	Finished  time.Time       `json:"finished"`
	Duration  time.Duration   `json:"duration_ns"`
	Totals    Counts          `json:"totals"`
	Folders   []*FolderReport `json:"folders"`
	Excluded  []string        `json:"excluded_folders,omitempty"`
}

// Counts are a folder's or a job's message counts.
type Counts struct {
	// SourceMessages is the number of messages in the source folder.
	SourceMessages int64 `json:"source_messages"`
	// Copied messages were stored on the target in this pass.
	Copied int64 `json:"copied"`
	// Bytes is the size of the messages copied in this pass.
	Bytes int64 `json:"bytes"`
	// Present messages were already on the target from earlier passes.
	Present int64 `json:"present"`
	// Reconciled messages were in flight when an earlier pass stopped and
	// were found on the target.
	Reconciled int64 `json:"reconciled"`
	// Rematched messages were recognised by fingerprint after the source
	// folder's UIDVALIDITY changed.
	Rematched int64 `json:"rematched"`
	// FlagsUpdated messages had their flags synced.
	FlagsUpdated int64 `json:"flags_updated"`
	// Excluded messages were left out by the filters.
	Excluded int64 `json:"excluded"`
	// Skipped messages will not be copied (too large, refused); see Items.
	Skipped int64 `json:"skipped"`
	// Failed messages could not be copied this time; a re-run retries them.
	Failed int64 `json:"failed"`
	// Vanished messages were deleted on the source during the pass.
	Vanished int64 `json:"vanished"`
}

func (c *Counts) add(o Counts) {
	c.SourceMessages += o.SourceMessages
	c.Copied += o.Copied
	c.Bytes += o.Bytes
	c.Present += o.Present
	c.Reconciled += o.Reconciled
	c.Rematched += o.Rematched
	c.FlagsUpdated += o.FlagsUpdated
	c.Excluded += o.Excluded
	c.Skipped += o.Skipped
	c.Failed += o.Failed
	c.Vanished += o.Vanished
}

// FolderReport is the result for one folder.
type FolderReport struct {
	Source   string        `json:"source"`
	Target   string        `json:"target"`
	Counts   Counts        `json:"counts"`
	Items    []Item        `json:"items,omitempty"`
	Notes    []string      `json:"notes,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Item is a message that was skipped or failed, or a fidelity note.
type Item struct {
	// ID is the source message ID.
	ID        string `json:"id"`
	MessageID string `json:"message_id,omitempty"`
	Size      int64  `json:"size"`
	// Kind is "skipped", "failed" or "note".
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// redactor removes known secrets from text bound for reports and logs:
// connectors should never put a credential in an error, and this makes
// sure that one that does cannot leak it further.
type redactor []string

func (r redactor) String(s string) string {
	for _, secret := range r {
		if len(secret) >= 3 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}
