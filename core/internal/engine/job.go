package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/ternmail/tern/core/internal/ledger"
	"github.com/ternmail/tern/sdk/connector"
)

// ErrWait marks an error of Endpoint.Request that passes by itself (the
// secrets backend is sealed or unreachable): the job pauses, reports why
// in Progress.Waiting, and carries on when Request succeeds again.
var ErrWait = errors.New("waiting")

// Endpoint is one side of a mailbox job.
type Endpoint struct {
	// Connector is the connector (a plugin, or one in process).
	Connector connector.Connector
	// Request returns the open request, credential included. It is called
	// each time a session opens, so the credential is fetched from the
	// secret store at that moment and never kept by the engine.
	Request func(ctx context.Context) (*connector.OpenRequest, error)
	// Label names the endpoint in reports and logs ("imap alice").
	Label string
}

// Job is one mailbox to migrate: one pass over every folder.
type Job struct {
	// Mailbox is the ledger's key for this source/target pair.
	Mailbox string
	// Ledger is the mailbox's ledger.
	Ledger ledger.Ledger
	// Source and Target are the two sides.
	Source, Target Endpoint
	// Options tune this job; zero values take the engine's defaults.
	Options Options
	// Progress, if set, is updated while the job runs.
	Progress *Progress
}

// Options tune a job.
type Options struct {
	// Workers is the number of messages copied at once in this mailbox.
	Workers int
	// Folders is the number of folders worked on at once.
	Folders int
	// PageSize is the number of messages per metadata page.
	PageSize int
	// BatchSize and BatchBytes bound a batch of small messages copied in
	// one call when the connector can (default 50 messages, 8 MiB); 1
	// copies one message at a time.
	BatchSize  int
	BatchBytes int64
	// MaxAttempts bounds the tries of one message on temporary errors.
	MaxAttempts int
	// RetryBase and RetryMax bound the exponential backoff between tries
	// (a throttling hint from the server wins, up to MaxRetryAfter).
	RetryBase, RetryMax, MaxRetryAfter time.Duration
	// ChunkSize is the suggested body chunk size.
	ChunkSize int
	// Rules map and select folders.
	Rules Rules
	// Filter selects messages.
	Filter Filter
	// NoFlagSync turns off updating flags of messages copied earlier.
	NoFlagSync bool
	// NoFlags copies messages without their flags (and syncs none).
	NoFlags bool
	// MessagesPerSecond caps the mailbox's copy rate (throttling); 0 is
	// no cap.
	MessagesPerSecond float64
}

// Filter selects the messages to migrate. Messages left out are counted
// as excluded, not as errors.
type Filter struct {
	// MaxSize leaves out larger messages (bytes); 0 means no limit.
	MaxSize int64
	// Since and Before bound the INTERNALDATE; zero means open.
	Since, Before time.Time
	// SkipDeleted leaves out messages flagged \Deleted.
	SkipDeleted bool
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Folders <= 0 {
		o.Folders = 1
	}
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 50
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 8 << 20
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 30 * time.Second
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 10 * time.Minute
	}
	return o
}

// Progress is the live state of a job; its counters are updated
// atomically and may be read at any time.
type Progress struct {
	FoldersTotal, FoldersDone atomic.Int64
	// ToCopy is the number of messages found missing on the target so far.
	ToCopy atomic.Int64
	// Copied and BytesCopied count messages stored on the target.
	Copied, BytesCopied atomic.Int64
	// Present counts messages found already migrated.
	Present atomic.Int64
	// Skipped and Failed count messages not migrated.
	Skipped, Failed atomic.Int64
	// FlagsUpdated counts flag changes synced.
	FlagsUpdated atomic.Int64

	waiting atomic.Pointer[string]
}

// Waiting returns why the job is paused, "" if it is not.
func (p *Progress) Waiting() string {
	if w := p.waiting.Load(); w != nil {
		return *w
	}
	return ""
}

func (p *Progress) setWaiting(reason string) { p.waiting.Store(&reason) }
