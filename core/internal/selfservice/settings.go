package selfservice

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/store"
)

// Recipient modes: where invitations go.
const (
	// RecipientSource (the default) sends to the user's source login when
	// it is an e-mail address, else to the target address: before the
	// move, the mailbox the user reads is the source one.
	RecipientSource = "source"
	// RecipientTarget always sends to the target address (for a target
	// that already receives mail).
	RecipientTarget = "target"
)

// Settings are a project's self-service settings.
type Settings struct {
	Templates Templates `json:"templates"`
	// LinkDays is how long a link works after it is sent (default 14).
	LinkDays int `json:"link_days"`
	// AllowLogin lets users give a login of their own when it differs
	// from their mailbox's name (else the form asks for the password
	// only).
	AllowLogin bool `json:"allow_login"`
	// RetentionHours is how long a user's password is kept after the
	// migration ended (default 168, a week, for delta passes; 0 deletes
	// it at once). After that, another pass needs a new invitation.
	RetentionHours int `json:"retention_hours"`
	// Recipient is RecipientSource or RecipientTarget.
	Recipient string `json:"recipient"`
	// Windows and Concurrency are the self-service batch's schedule
	// (none: any time) and mailboxes at once (0: the scheduler's default).
	Windows     []project.Window `json:"windows"`
	Concurrency int              `json:"concurrency"`
	// Batch is the project's standing self-service batch (set by the
	// service when it makes it; not editable).
	Batch string `json:"batch,omitempty"`
}

// Defaults of the settings.
const (
	DefaultLinkDays       = 14
	DefaultRetentionHours = 7 * 24
	maxLinkDays           = 365
	maxRetentionHours     = 366 * 24
)

// DefaultSettings are a project's settings before anyone changed them.
func DefaultSettings() *Settings {
	return &Settings{Templates: DefaultTemplates(), LinkDays: DefaultLinkDays, RetentionHours: DefaultRetentionHours, Recipient: RecipientSource, Windows: []project.Window{}}
}

// Validate checks the settings.
func (st *Settings) Validate() error {
	if st.LinkDays < 1 || st.LinkDays > maxLinkDays {
		return fmt.Errorf("link lifetime: 1 to %d days", maxLinkDays)
	}
	if st.RetentionHours < 0 || st.RetentionHours > maxRetentionHours {
		return fmt.Errorf("password retention: 0 to %d hours", maxRetentionHours)
	}
	switch st.Recipient {
	case "", RecipientSource, RecipientTarget:
	default:
		return fmt.Errorf("recipient %q: want source or target", st.Recipient)
	}
	if st.Concurrency < 0 || st.Concurrency > 256 {
		return errors.New("mailboxes at once: 0 (the default) to 256")
	}
	sc := project.Schedule{Windows: st.Windows}
	if err := sc.Validate(); err != nil {
		return err
	}
	return st.Templates.Validate()
}

// Settings returns a project's settings (the defaults if none were
// saved).
func (s *Service) Settings(ctx context.Context, projectID string) (*Settings, error) {
	st := DefaultSettings()
	if err := s.o.DB.Get(ctx, settingsKey(projectID), st); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if st.Recipient == "" {
		st.Recipient = RecipientSource
	}
	return st, nil
}

// SaveSettings validates and stores a project's settings (st.Batch is
// ignored: the service keeps it) and gives the standing self-service
// batch, if there is one, the new schedule and concurrency.
func (s *Service) SaveSettings(ctx context.Context, projectID string, st *Settings) error {
	if err := st.Validate(); err != nil {
		return err
	}
	if _, err := s.o.Projects.Project(ctx, projectID); err != nil {
		return err
	}
	s.batchMu.Lock()
	defer s.batchMu.Unlock()
	old, err := s.Settings(ctx, projectID)
	if err != nil {
		return err
	}
	st.Batch = old.Batch
	if st.Windows == nil {
		st.Windows = []project.Window{}
	}
	if err := s.o.DB.Put(ctx, settingsKey(projectID), st); err != nil {
		return err
	}
	if st.Batch == "" {
		return nil
	}
	_, err = s.o.Projects.UpdateBatch(ctx, projectID, st.Batch, func(b *project.Batch) error {
		b.Schedule.Windows, b.Concurrency = st.Windows, st.Concurrency
		return nil
	})
	if errors.Is(err, project.ErrNotFound) {
		return nil // deleted: the next user makes a new one
	}
	return err
}

// recipient is where u's e-mails go under mode.
func recipient(u *project.User, mode string) (string, error) {
	if mode != RecipientTarget && isAddress(u.SourceUser) {
		return u.SourceUser, nil
	}
	if isAddress(u.TargetUser) {
		return u.TargetUser, nil
	}
	if mode == RecipientTarget {
		return "", fmt.Errorf("user %s: the target %q is not an e-mail address", u.SourceUser, u.TargetUser)
	}
	return "", fmt.Errorf("user %s: neither the source login nor the target is an e-mail address", u.SourceUser)
}

func isAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s, "@")
}
