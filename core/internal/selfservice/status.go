package selfservice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/mailer"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
)

// Reasons of a failed migration, in plain words for the user (the
// technical error is in the report, for the administrator).
const (
	reasonAuth   = "the server no longer accepts your password (it may have been changed)."
	reasonServer = "the server could not be reached, or was too busy, several times in a row."
	reasonOther  = "a problem the administrator has to look at (the details are in the migration report)."
)

// plainReason says why a pass failed, for the user.
func plainReason(rep *engine.Report) string {
	switch k := rep.ErrorKind; {
	case k == connector.KindAuth:
		return reasonAuth
	case k == connector.KindUnknown, k == connector.KindTemporary, k == connector.KindThrottled, k == connector.KindUnavailable:
		return reasonServer
	}
	return reasonOther
}

// PassEnded is the scheduler's Options.OnPassEnd: when the pass of a
// user whose invitation is migrating ends, the invitation is done (done
// or partial) or failed, the user gets the matching e-mail (once; in the
// background), and with a retention of 0 the password is deleted at
// once. Passes of other users, and later passes (an administrator's
// delta pass) change nothing.
func (s *Service) PassEnded(p *project.Project, u *project.User, rr *project.RunReport) {
	ctx := context.Background()
	if rr == nil || rr.Report == nil {
		return
	}
	now := s.now()
	inv, err := s.update(ctx, p.ID, u.ID, func(x *Invitation) error {
		if x.State != StateMigrating || x.Batch != "" && rr.Batch != "" && rr.Batch != x.Batch {
			return errSkip // not a self-service pass
		}
		if rr.Report.Status == engine.StatusFailed {
			x.State, x.FailedAt, x.Reason = StateFailed, now, plainReason(rr.Report)
		} else {
			x.State, x.DoneAt, x.Reason = StateDone, now, ""
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, errSkip) && !errors.Is(err, ErrNotFound) {
			s.log.Error("self-service invitation not updated at the end of a pass", "project", p.ID, "user", u.ID, "err", err)
		}
		return
	}
	s.log.Info("self-service migration ended", "project", p.ID, "user", u.ID, "state", inv.State)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.mailEnd(ctx, p, u, inv)
		if st, err := s.Settings(ctx, p.ID); err == nil && st.RetentionHours == 0 {
			if err := s.deleteCredentials(ctx, inv); err != nil {
				s.log.Error("self-service password not deleted", "project", p.ID, "user", u.ID, "err", err)
			}
		}
	}()
}

// mailEnd sends the done or failed e-mail and records it.
func (s *Service) mailEnd(ctx context.Context, p *project.Project, u *project.User, inv *Invitation) {
	err := func() error {
		st, err := s.Settings(ctx, p.ID)
		if err != nil {
			return err
		}
		d, err := s.data(ctx, p, u, inv)
		if err != nil {
			return err
		}
		t := st.Templates.Done
		if inv.State == StateFailed {
			t = st.Templates.Failed
		}
		subject, text, err := t.Render(d)
		if err != nil {
			return fmt.Errorf("template: %w", err)
		}
		return s.o.Mailer.Send(ctx, mailer.Message{To: inv.Recipient, Subject: subject, Text: text})
	}()
	if err != nil {
		s.log.Error("self-service completion e-mail not sent", "project", p.ID, "user", u.ID, "to", inv.Recipient, "err", err)
	}
	s.update(ctx, p.ID, u.ID, func(x *Invitation) error {
		if err != nil {
			x.MailError = err.Error()
		} else {
			x.MailedAt, x.MailError = s.now(), ""
		}
		return nil
	})
}

// Sweep deletes the self-service passwords whose retention has passed
// since the migration ended, and the invitations of users or projects
// that were deleted. It returns how many passwords it deleted.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	all, err := s.scan(ctx, store.Key("v1", "invitation")+"/")
	if err != nil {
		return 0, err
	}
	settings := map[string]*Settings{}
	n := 0
	var errs []error
	for _, inv := range all {
		if _, err := s.o.Projects.User(ctx, inv.Project, inv.User); errors.Is(err, project.ErrNotFound) {
			errs = append(errs, s.remove(ctx, inv)) // the user (and its secrets) are gone
			continue
		}
		ended := inv.Ended()
		if !inv.HoldsCredentials() || ended.Before(inv.CredentialsAt) || inv.State == StateMigrating || inv.State == StateCredentials {
			continue
		}
		st, ok := settings[inv.Project]
		if !ok {
			if st, err = s.Settings(ctx, inv.Project); err != nil {
				errs = append(errs, err)
				continue
			}
			settings[inv.Project] = st
		}
		if s.now().Before(ended.Add(time.Duration(st.RetentionHours) * time.Hour)) {
			continue
		}
		if err := s.deleteCredentials(ctx, inv); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// deleteCredentials deletes a user's self-service password (and login)
// and records it on the invitation.
func (s *Service) deleteCredentials(ctx context.Context, inv *Invitation) error {
	if err := s.o.Secrets.Delete(ctx, secrets.MailboxSource(inv.User)); err != nil && !errors.Is(err, secrets.ErrNotFound) {
		return fmt.Errorf("delete the password of user %s: %w", inv.User, err)
	}
	_, err := s.o.Projects.UpdateUser(ctx, inv.Project, inv.User, func(u *project.User) error {
		u.HasSourcePassword, u.SourceLogin = false, ""
		return nil
	})
	if err != nil && !errors.Is(err, project.ErrNotFound) {
		return err
	}
	_, err = s.update(ctx, inv.Project, inv.User, func(x *Invitation) error {
		x.CredentialsDeleted = s.now()
		return nil
	})
	s.log.Info("self-service password deleted after its retention", "project", inv.Project, "user", inv.User)
	return err
}

// Progress is what the user's status page shows: this user's numbers
// only.
type Progress struct {
	State State `json:"state"`
	// Status is the user's migration status (queued, running, …).
	Status project.Status `json:"status"`
	// Message says where things stand in plain words.
	Message string `json:"message"`
	// Live is true while the scheduler has a pass over the user.
	Live         bool          `json:"live"`
	FoldersDone  int64         `json:"folders_done"`
	FoldersTotal int64         `json:"folders_total"`
	Copied       int64         `json:"copied"`
	ToCopy       int64         `json:"to_copy"`
	Present      int64         `json:"present"`
	ETA          time.Duration `json:"eta_ns"`
	ETAKnown     bool          `json:"eta_known"`
	// Ended is true when nothing more will happen by itself (done or
	// failed): the page stops polling.
	Ended bool `json:"ended"`
}

// Progress returns the status of inv's migration.
func (s *Service) Progress(ctx context.Context, inv *Invitation) Progress {
	pr := Progress{State: inv.State}
	u, err := s.o.Projects.User(ctx, inv.Project, inv.User)
	if err != nil {
		pr.Message, pr.Ended = "The migration cannot be shown.", true
		return pr
	}
	pr.Status, pr.Copied, pr.Present = u.Status, u.Totals.Copied, u.Totals.Present
	if up, ok := s.o.Scheduler.UserProgress(inv.Project, inv.User); ok && inv.State == StateMigrating {
		pr.Live, pr.Status = true, up.Status
		pr.FoldersDone, pr.FoldersTotal = up.FoldersDone, up.FoldersTotal
		pr.Copied, pr.ToCopy, pr.Present = up.Copied, up.ToCopy, up.Present
		// A time left only once the pass knows what it has to copy.
		pr.ETA, pr.ETAKnown = up.ETA, up.ETAKnown && up.Status == project.StatusRunning && up.ToCopy > up.Copied
	}
	switch inv.State {
	case StateDone:
		pr.Ended, pr.Message = true, "Done: your mail has been copied. You will get an e-mail about it."
		if u.Status == project.StatusPartial {
			pr.Message = "Done: your mail has been copied, but a few messages could not be; your administrator has the list."
		}
	case StateFailed:
		pr.Ended, pr.Message = true, "The migration stopped: "+inv.Reason+" Enter your password again to go on."
	case StateMigrating:
		pr.Message = statusMessage(pr.Status)
	default:
		pr.Message = "Your migration has not started yet."
	}
	return pr
}

func statusMessage(st project.Status) string {
	switch st {
	case project.StatusRunning:
		return "Your mail is being copied. You can close this page; you will get an e-mail when it is done."
	case project.StatusWaiting:
		return "The copy waits a moment and goes on by itself. You can close this page."
	case project.StatusPaused:
		return "The copy is paused by your administrator and goes on when they resume it. You can close this page."
	case project.StatusCancelled:
		return "The copy was stopped by your administrator."
	}
	return "Your migration is queued: it starts as soon as the appliance has a free place in its schedule. You can close this page; you will get an e-mail when it is done."
}

// PageInfo is what the public page says about the link's user: the
// server that asks for the password, and whether a login may be given.
type PageInfo struct {
	Server     string
	Login      string
	AllowLogin bool
	Expires    time.Time
}

// Page returns what the public page shows for inv.
func (s *Service) Page(ctx context.Context, inv *Invitation) (*PageInfo, error) {
	p, err := s.o.Projects.Project(ctx, inv.Project)
	if err != nil {
		return nil, err
	}
	u, err := s.o.Projects.User(ctx, inv.Project, inv.User)
	if err != nil {
		return nil, err
	}
	_, server, err := s.source(ctx, p)
	if err != nil {
		return nil, err
	}
	st, err := s.Settings(ctx, inv.Project)
	if err != nil {
		return nil, err
	}
	return &PageInfo{Server: server, Login: u.SourceUser, AllowLogin: st.AllowLogin, Expires: inv.Expires}, nil
}
