package selfservice

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/ternmail/tern/core/internal/store"
)

// State is where an invitation stands.
type State string

// The states; see the package documentation.
const (
	StateSent        State = "sent"        // the e-mail went out
	StateOpened      State = "opened"      // the link was opened
	StateCredentials State = "credentials" // a password was verified and stored, not queued yet
	StateMigrating   State = "migrating"   // queued or running in the self-service batch
	StateDone        State = "done"        // the pass ended (done or partial)
	StateFailed      State = "failed"      // the pass failed; the user may enter the password again
	StateRevoked     State = "revoked"     // an administrator revoked the link
)

// Invitation is a user's self-service invitation: its current link and
// what happened to it. One per user of a project; a re-send replaces the
// link (a new ID) and keeps the history of the credentials.
type Invitation struct {
	Project string `json:"project"`
	User    string `json:"user"`
	// ID is the current link's random identifier (128 bits, hex). A link
	// also needs its signature, which only the signing key in the
	// secrets layer makes: the ID alone opens nothing.
	ID    string `json:"id"`
	State State  `json:"state"`
	// Recipient is the address the last e-mail went to.
	Recipient string `json:"recipient"`
	// Base is the appliance's public URL the link was made for.
	Base    string    `json:"base"`
	Created time.Time `json:"created"`
	// Expires is when the current link stops working.
	Expires   time.Time `json:"expires"`
	SentCount int       `json:"sent_count"`
	SentAt    time.Time `json:"sent_at"`
	SentBy    string    `json:"sent_by,omitempty"`
	// OpenedAt is when the current link was first opened.
	OpenedAt time.Time `json:"opened_at,omitzero"`
	// FailedLogins counts the refused passwords of the current link.
	FailedLogins    int       `json:"failed_logins,omitempty"`
	LastFailedLogin time.Time `json:"last_failed_login,omitzero"`
	// CredentialsAt is when the user's password was last verified and
	// stored; CredentialsDeleted when the retention sweeper deleted it.
	CredentialsAt      time.Time `json:"credentials_at,omitzero"`
	CredentialsDeleted time.Time `json:"credentials_deleted,omitzero"`
	// Batch is the self-service batch the user was queued in.
	Batch    string    `json:"batch,omitempty"`
	QueuedAt time.Time `json:"queued_at,omitzero"`
	// DoneAt and FailedAt are when the last migration ended; Reason says
	// in plain words why it failed.
	DoneAt   time.Time `json:"done_at,omitzero"`
	FailedAt time.Time `json:"failed_at,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	// MailedAt is when the completion (or failure) e-mail went out;
	// MailError why it did not.
	MailedAt  time.Time `json:"mailed_at,omitzero"`
	MailError string    `json:"mail_error,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// Ended is when the last migration ended (zero if none did).
func (inv *Invitation) Ended() time.Time {
	if inv.DoneAt.After(inv.FailedAt) {
		return inv.DoneAt
	}
	return inv.FailedAt
}

// HoldsCredentials says the user's self-service password is still in
// the secrets layer.
func (inv *Invitation) HoldsCredentials() bool {
	return !inv.CredentialsAt.IsZero() && inv.CredentialsDeleted.Before(inv.CredentialsAt)
}

// ref is the id index's value: whose invitation an id is.
type ref struct {
	Project string `json:"project"`
	User    string `json:"user"`
}

func invitationKey(project, user string) string { return store.Key("v1", "invitation", project, user) }
func invitationPrefix(project string) string    { return store.Key("v1", "invitation", project) + "/" }
func idKey(id string) string                    { return store.Key("v1", "invitationid", id) }
func settingsKey(project string) string         { return store.Key("v1", "selfservice", project) }

// Invitation returns a user's invitation; ErrNotFound if none.
func (s *Service) Invitation(ctx context.Context, project, user string) (*Invitation, error) {
	var inv Invitation
	if err := s.o.DB.Get(ctx, invitationKey(project, user), &inv); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return &inv, nil
}

// Invitations lists a project's invitations, newest sent first.
func (s *Service) Invitations(ctx context.Context, project string) ([]*Invitation, error) {
	return s.scan(ctx, invitationPrefix(project))
}

func (s *Service) scan(ctx context.Context, prefix string) ([]*Invitation, error) {
	var out []*Invitation
	err := s.o.DB.Scan(ctx, prefix, func(_ string, b []byte) error {
		inv := new(Invitation)
		if err := json.Unmarshal(b, inv); err != nil {
			return err
		}
		out = append(out, inv)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].SentAt.After(out[j].SentAt) })
	return out, err
}

// put stores an invitation and its id index; old, if set and different,
// is the id it replaces.
func (s *Service) put(ctx context.Context, inv *Invitation, oldID string) error {
	if err := s.o.DB.Put(ctx, idKey(inv.ID), ref{inv.Project, inv.User}); err != nil {
		return err
	}
	if err := s.o.DB.Put(ctx, invitationKey(inv.Project, inv.User), inv); err != nil {
		return err
	}
	if oldID != "" && oldID != inv.ID {
		return s.o.DB.Delete(ctx, idKey(oldID))
	}
	return nil
}

// update applies fn to the stored invitation and saves it, serialised
// with every other update of the service. fn returning errSkip leaves it
// unchanged.
func (s *Service) update(ctx context.Context, project, user string, fn func(*Invitation) error) (*Invitation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, err := s.Invitation(ctx, project, user)
	if err != nil {
		return nil, err
	}
	oldID := inv.ID
	if err := fn(inv); err != nil {
		return inv, err
	}
	return inv, s.put(ctx, inv, oldID)
}

// errSkip tells update to save nothing.
var errSkip = errors.New("skip")

// remove deletes an invitation and its index.
func (s *Service) remove(ctx context.Context, inv *Invitation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.o.DB.Delete(ctx, idKey(inv.ID)); err != nil {
		return err
	}
	return s.o.DB.Delete(ctx, invitationKey(inv.Project, inv.User))
}
