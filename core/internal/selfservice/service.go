package selfservice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ternmail/tern/core/internal/auth"
	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/mailer"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/runner"
	"github.com/ternmail/tern/core/internal/scheduler"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
	"github.com/ternmail/tern/sdk/connector"
)

// Errors of the service. The public page shows each in its own words and
// nothing more.
var (
	// ErrInvalidLink is every reason a link does not open a page.
	ErrInvalidLink = errors.New("this link is not valid any more")
	// ErrWrongPassword: the source server refused the password (or none
	// was given); the user may try again.
	ErrWrongPassword = errors.New("the server refused this password")
	// ErrTooManyAttempts: too many refused passwords for this link or
	// from this address; try again later.
	ErrTooManyAttempts = errors.New("too many attempts")
	// ErrTryLater: the password could not be checked now (the server
	// cannot be reached, logins are paused, the secrets layer does not
	// answer, the migration could not be queued).
	ErrTryLater = errors.New("the password cannot be checked now")
	// ErrSubmitted: the migration runs or is done; the page shows it.
	ErrSubmitted = errors.New("the migration was started already")
	// ErrNotFound: no invitation for that user.
	ErrNotFound = errors.New("no invitation")
	// ErrNoBase: no public URL to make links with.
	ErrNoBase = errors.New("the appliance's public URL is not set")
)

// Sender sends an e-mail (the mailer; tests capture messages).
type Sender interface {
	Send(ctx context.Context, m mailer.Message) error
}

// Scheduler is what the service needs of the scheduler.
type Scheduler interface {
	Submit(ctx context.Context, projectID, batchID string) error
	AddToBatch(ctx context.Context, projectID, batchID, userID string) error
	UserProgress(projectID, userID string) (scheduler.UserProgress, bool)
}

var _ Scheduler = (*scheduler.Scheduler)(nil)

// Options are the service's dependencies and limits.
type Options struct {
	DB         *store.DB
	Secrets    secrets.Store
	Projects   *project.Store
	Connectors *connectors.Registry
	Plugins    runner.Plugins
	// Guard, if set, counts the live logins like the migrations' (the
	// same guard as the runner's: a server's refusals add up).
	Guard     *auth.Guard
	Scheduler Scheduler
	Mailer    Sender
	Logger    *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SweepEvery is how often the retention sweeper runs (default 10
	// minutes).
	SweepEvery time.Duration
	// LinkAttempts refused passwords per link and AddressAttempts per
	// client address are allowed within AttemptWindow (defaults 5, 20,
	// 15 minutes).
	LinkAttempts, AddressAttempts int
	AttemptWindow                 time.Duration
	// VerifyTimeout bounds a live login (default 60 s).
	VerifyTimeout time.Duration
}

// BatchName is the name of a project's standing self-service batch.
const BatchName = "self-service"

// Service runs self-service: invitations, links, credentials, the
// self-service batch, completion e-mails and the retention sweeper.
type Service struct {
	o     Options
	log   *slog.Logger
	links *limiter
	addrs *limiter

	keyMu sync.Mutex
	key   []byte

	mu      sync.Mutex // serialises invitation updates
	batchMu sync.Mutex // serialises the making of self-service batches and settings writes

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New returns a service; Start starts its sweeper.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = 10 * time.Minute
	}
	if o.LinkAttempts <= 0 {
		o.LinkAttempts = 5
	}
	if o.AddressAttempts <= 0 {
		o.AddressAttempts = 20
	}
	if o.AttemptWindow <= 0 {
		o.AttemptWindow = 15 * time.Minute
	}
	if o.VerifyTimeout <= 0 {
		o.VerifyTimeout = time.Minute
	}
	return &Service{o: o, log: o.Logger,
		links: newLimiter(o.LinkAttempts, o.AttemptWindow, o.Now),
		addrs: newLimiter(o.AddressAttempts, o.AttemptWindow, o.Now)}
}

func (s *Service) now() time.Time { return s.o.Now().UTC() }

// SetScheduler sets the scheduler after New (the scheduler's
// Options.OnPassEnd needs the service first).
func (s *Service) SetScheduler(sc Scheduler) { s.o.Scheduler = sc }

// Start starts the retention sweeper: a sweep now, then every SweepEvery.
func (s *Service) Start() {
	if s.stop != nil {
		return
	}
	s.stop = make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.o.SweepEvery)
		defer t.Stop()
		for {
			if _, err := s.Sweep(context.Background()); err != nil {
				s.log.Error("self-service retention sweep", "err", err)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the sweeper and waits for e-mails being sent. It may be
// called more than once.
func (s *Service) Close() {
	s.stopOnce.Do(func() {
		if s.stop != nil {
			close(s.stop)
		}
	})
	s.wg.Wait()
}

// source returns the project's source connector and its server's name.
func (s *Service) source(ctx context.Context, p *project.Project) (*connectors.Config, string, error) {
	c, err := s.o.Connectors.Get(ctx, p.Source)
	if err != nil {
		return nil, "", fmt.Errorf("source connector %s: %w", p.Source, err)
	}
	return c, serverName(c), nil
}

// serverName is what users call their server: its host, else the
// connector's name.
func serverName(c *connectors.Config) string {
	if h, ok := c.Settings["host"].(string); ok && h != "" {
		return h
	}
	return c.Name
}

// data builds the template data of inv's user.
func (s *Service) data(ctx context.Context, p *project.Project, u *project.User, inv *Invitation) (TemplateData, error) {
	_, server, err := s.source(ctx, p)
	if err != nil {
		return TemplateData{}, err
	}
	link, err := s.Link(ctx, inv)
	if err != nil {
		return TemplateData{}, err
	}
	return TemplateData{Login: u.SourceUser, Address: u.TargetUser, Server: server, Link: link,
		Expires: formatExpiry(inv.Expires.In(time.Local)), Project: p.Name, Copied: u.Totals.Copied, Reason: inv.Reason}, nil
}

// SendResult is the outcome of sending one user's invitation.
type SendResult struct {
	User       string      `json:"user"`
	SourceUser string      `json:"source_user,omitempty"`
	Recipient  string      `json:"recipient,omitempty"`
	Resent     bool        `json:"resent"`
	State      State       `json:"state,omitempty"`
	Error      string      `json:"error,omitempty"`
	Invitation *Invitation `json:"-"`
}

// Send sends (or re-sends) the invitations of users of a project, by id.
// base is the appliance's public URL for the links; by names who sent
// them. A re-send makes a new link (the old one stops working), resets
// the expiry, the opened time and the failed logins, and keeps what
// happened to the credentials. A user whose migration runs is left out
// (its result says why). The error is for the whole call (no project, no
// base URL); each user's own failure is in its result.
func (s *Service) Send(ctx context.Context, projectID string, userIDs []string, base, by string) ([]SendResult, error) {
	base = strings.TrimRight(strings.TrimSpace(base), "/")
	if base == "" {
		return nil, ErrNoBase
	}
	p, err := s.o.Projects.Project(ctx, projectID)
	if err != nil {
		return nil, err
	}
	st, err := s.Settings(ctx, projectID)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.source(ctx, p); err != nil {
		return nil, err
	}
	out := make([]SendResult, 0, len(userIDs))
	for _, id := range userIDs {
		r := SendResult{User: id}
		inv, err := s.sendOne(ctx, p, st, id, base, by, &r)
		if err != nil {
			r.Error = logx.Scrub(err.Error())
		} else {
			r.State, r.Invitation = inv.State, inv
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *Service) sendOne(ctx context.Context, p *project.Project, st *Settings, userID, base, by string, r *SendResult) (*Invitation, error) {
	u, err := s.o.Projects.User(ctx, p.ID, userID)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", userID, err)
	}
	r.SourceUser = u.SourceUser
	to, err := recipient(u, st.Recipient)
	if err != nil {
		return nil, err
	}
	r.Recipient = to
	old, err := s.Invitation(ctx, p.ID, u.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		old = nil
	case err != nil:
		return nil, err
	case old.State == StateMigrating:
		return nil, fmt.Errorf("user %s: the migration runs; send again when it has ended", u.SourceUser)
	}
	now := s.now()
	inv := &Invitation{Project: p.ID, User: u.ID, Created: now}
	if old != nil {
		c := *old
		inv = &c
		r.Resent = true
	}
	// The link's fields are new; the credentials' history stays.
	inv.ID, inv.State, inv.Recipient, inv.Base = newID(), StateSent, to, base
	inv.Expires = now.Add(time.Duration(st.LinkDays) * 24 * time.Hour).Truncate(time.Second)
	inv.SentAt, inv.SentBy, inv.SentCount = now, by, inv.SentCount+1
	inv.OpenedAt, inv.FailedLogins, inv.LastFailedLogin = time.Time{}, 0, time.Time{}
	inv.RevokedAt, inv.RevokedBy = time.Time{}, ""
	d, err := s.data(ctx, p, u, inv)
	if err != nil {
		return nil, err
	}
	subject, text, err := st.Templates.Invitation.Render(d)
	if err != nil {
		return nil, fmt.Errorf("invitation template: %w", err)
	}
	if err := s.o.Mailer.Send(ctx, mailer.Message{To: to, Subject: subject, Text: text}); err != nil {
		return nil, fmt.Errorf("send to %s: %w", to, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	oldID := ""
	if cur, err := s.Invitation(ctx, p.ID, u.ID); err == nil {
		oldID = cur.ID
	}
	if err := s.put(ctx, inv, oldID); err != nil {
		return nil, err
	}
	s.log.Info("self-service invitation sent", "project", p.ID, "user", u.ID, "to", to, "resent", r.Resent, "expires", inv.Expires)
	return inv, nil
}

// Revoke makes a user's link stop working. The credentials and a
// migration that runs are left as they are (the migration goes on, but
// no e-mail follows it); a re-send makes a new link.
func (s *Service) Revoke(ctx context.Context, projectID, userID, by string) (*Invitation, error) {
	return s.update(ctx, projectID, userID, func(inv *Invitation) error {
		if inv.State == StateRevoked {
			return errSkip
		}
		inv.State, inv.RevokedAt, inv.RevokedBy = StateRevoked, s.now(), by
		return nil
	})
}

// skipped hides errSkip from callers.
func skipped(inv *Invitation, err error) (*Invitation, error) {
	if errors.Is(err, errSkip) {
		return inv, nil
	}
	return inv, err
}

// Open verifies a token and records the first opening of the link.
func (s *Service) Open(ctx context.Context, token string) (*Invitation, error) {
	inv, err := s.Verify(ctx, token)
	if err != nil || !inv.OpenedAt.IsZero() {
		return inv, err
	}
	return skipped(s.update(ctx, inv.Project, inv.User, func(x *Invitation) error {
		if x.ID != inv.ID || !x.OpenedAt.IsZero() {
			return errSkip
		}
		x.OpenedAt = s.now()
		if x.State == StateSent {
			x.State = StateOpened
		}
		return nil
	}))
}

// CanSubmit says whether the link's page asks for a password: not while
// the migration runs or after it is done.
func (inv *Invitation) CanSubmit() bool {
	return inv.State != StateMigrating && inv.State != StateDone && inv.State != StateRevoked
}

// Submit is the public form: it verifies the token, checks the password
// (and the login, where the project allows one) by a live login on the
// source server, stores it in the secrets layer and queues the user's
// migration in the project's self-service batch. addr is the client's
// address (rate limits). The password is in no log, error or record.
func (s *Service) Submit(ctx context.Context, token, addr, login, password string) (*Invitation, error) {
	inv, err := s.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if !inv.CanSubmit() {
		return inv, ErrSubmitted
	}
	link := inv.Project + "/" + inv.User
	if !s.links.allowed(link) || !s.addrs.allowed(addr) {
		return inv, ErrTooManyAttempts
	}
	if password == "" {
		return inv, ErrWrongPassword
	}
	logx.Redact(password)
	st, err := s.Settings(ctx, inv.Project)
	if err != nil {
		return inv, err
	}
	p, err := s.o.Projects.Project(ctx, inv.Project)
	if err != nil {
		return inv, err
	}
	u, err := s.o.Projects.User(ctx, inv.Project, inv.User)
	if err != nil {
		return inv, err
	}
	login = strings.TrimSpace(login)
	if !st.AllowLogin || login == u.SourceUser || strings.ContainsAny(login, "\r\n\x00") {
		login = ""
	}
	cfg, _, err := s.source(ctx, p)
	if err != nil {
		return inv, err
	}
	vctx, cancel := context.WithTimeout(ctx, s.o.VerifyTimeout)
	err = runner.VerifyLogin(vctx, s.o.Plugins, s.o.Guard, cfg, u.SourceUser, login, password)
	cancel()
	log := s.log.With("project", inv.Project, "user", inv.User)
	switch {
	case errors.Is(err, auth.ErrBlocked):
		log.Warn("self-service login not tried: the login guard holds it", "err", err)
		return inv, ErrTryLater
	case err != nil && connector.KindOf(err) == connector.KindAuth:
		s.links.fail(link)
		s.addrs.fail(addr)
		log.Info("self-service password refused by the source server", "addr", addr)
		if x, err := s.update(ctx, inv.Project, inv.User, func(x *Invitation) error {
			x.FailedLogins++
			x.LastFailedLogin = s.now()
			return nil
		}); err == nil {
			inv = x
		}
		return inv, ErrWrongPassword
	case err != nil:
		log.Warn("self-service login could not be checked", "err", err)
		return inv, ErrTryLater
	}
	s.links.reset(link)
	if err := s.o.Projects.SetUserPasswords(ctx, inv.Project, inv.User, password, ""); err != nil {
		log.Error("self-service password not stored", "err", err)
		return inv, ErrTryLater
	}
	if _, err := s.o.Projects.UpdateUser(ctx, inv.Project, inv.User, func(u *project.User) error {
		u.SourceLogin = login
		if u.Origin == "" {
			u.Origin = "self-service"
		}
		return nil
	}); err != nil {
		return inv, err
	}
	// Migrating before the user is queued: a pass that ends at once
	// finds the state it expects.
	now := s.now()
	inv, err = s.update(ctx, inv.Project, inv.User, func(x *Invitation) error {
		x.State, x.CredentialsAt, x.QueuedAt = StateMigrating, now, now
		x.DoneAt, x.FailedAt, x.Reason, x.MailedAt, x.MailError = time.Time{}, time.Time{}, "", time.Time{}, ""
		x.FailedLogins = 0
		return nil
	})
	if err != nil {
		return inv, err
	}
	log.Info("self-service password verified and stored", "own_login", login != "")
	batch, err := s.enqueue(ctx, p, u.ID, st)
	if err != nil {
		log.Error("self-service user not queued", "err", err)
		inv, _ = s.update(ctx, inv.Project, inv.User, func(x *Invitation) error { x.State = StateCredentials; return nil })
		return inv, ErrTryLater
	}
	return s.update(ctx, inv.Project, inv.User, func(x *Invitation) error { x.Batch = batch; return nil })
}

// enqueue adds a user to the project's standing self-service batch,
// making it (with the self-service schedule) when there is none or it
// was cancelled or deleted.
func (s *Service) enqueue(ctx context.Context, p *project.Project, userID string, st *Settings) (string, error) {
	s.batchMu.Lock()
	defer s.batchMu.Unlock()
	if cur, err := s.Settings(ctx, p.ID); err == nil {
		st = cur
	}
	if st.Batch != "" {
		err := s.o.Scheduler.AddToBatch(ctx, p.ID, st.Batch, userID)
		if err == nil {
			return st.Batch, nil
		}
		if !errors.Is(err, project.ErrNotFound) && !errors.Is(err, scheduler.ErrState) {
			return "", err
		}
		s.log.Info("the self-service batch is gone or cancelled: a new one", "project", p.ID, "batch", st.Batch, "err", err)
	}
	b := &project.Batch{Project: p.ID, Name: BatchName, Users: []string{userID}, Concurrency: st.Concurrency,
		Schedule: project.Schedule{Windows: st.Windows}, CreatedBy: "self-service"}
	if err := s.o.Projects.PutBatch(ctx, b); err != nil {
		return "", err
	}
	if err := s.o.Scheduler.Submit(ctx, p.ID, b.ID); err != nil {
		s.o.Projects.DeleteBatch(ctx, p.ID, b.ID)
		return "", err
	}
	st.Batch = b.ID
	if err := s.o.DB.Put(ctx, settingsKey(p.ID), st); err != nil {
		return "", err
	}
	return b.ID, nil
}
