// Package project keeps the console's domain: projects (a source and a
// target connector with what to migrate), their users (mailbox pairs) and
// batches (users started together under a schedule). It only stores and
// validates; the scheduler runs batches, the web layer and the CLI edit
// them.
//
// # Keys
//
//	v1/project/<id>            Project
//	v1/user/<project>/<id>     User
//	v1/batch/<project>/<id>    Batch
//	v1/userreport/<project>/<user>/<started>  RunReport
//
// # Who writes what
//
// The console and the CLI write projects, users and batches. The
// scheduler (package scheduler) owns a batch's State, Pass, Started,
// Finished, NextPass and Submitted, and a user's Status, Error, Waiting,
// Batch, Passes, LastRun, Totals, Finished and Requested; it writes them
// with UpdateBatch and UpdateUser, which serialise read-modify-write.
//
// # Secrets
//
// Nothing here holds a secret. A user's own passwords (per-user mode, or
// entered through self-service) live in the secrets layer at
// secrets.MailboxSource(user.ID) and secrets.MailboxTarget(user.ID); the
// User only says that they are there. Deleting a user or a project deletes
// them.
package project

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
)

// ErrNotFound is returned for a missing project, user or batch.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a name or user is already taken.
var ErrConflict = errors.New("already exists")

// Settings say what a project migrates ("global settings").
type Settings struct {
	// Include and Exclude are folder glob patterns on logical paths
	// ("Work/**"); Exclude wins.
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
	// Rename maps a folder (and its children) to another path.
	Rename []engine.Rename `json:"rename,omitempty"`
	// NoSpecialUse turns off mapping Sent, Drafts, Trash, Junk and Archive
	// onto the target's folders of the same use.
	NoSpecialUse bool `json:"no_special_use,omitempty"`
	// Since and Before bound the messages' dates (YYYY-MM-DD, inclusive
	// and exclusive); empty is open.
	Since  string `json:"since,omitempty"`
	Before string `json:"before,omitempty"`
	// MaxSize leaves out larger messages (bytes); 0 is no limit.
	MaxSize int64 `json:"max_size,omitempty"`
	// NoFlags migrates messages without their flags and turns off flag
	// sync on delta passes.
	NoFlags bool `json:"no_flags,omitempty"`
	// SkipDeleted leaves out messages flagged \Deleted.
	SkipDeleted bool `json:"skip_deleted,omitempty"`
	// Workers is the number of messages copied at once per mailbox
	// (throttling); 0 is the engine's default.
	Workers int `json:"workers,omitempty"`
	// MessagesPerSecond caps each mailbox's copy rate; 0 is no cap.
	MessagesPerSecond float64 `json:"messages_per_second,omitempty"`
}

// Validate checks the settings.
func (s *Settings) Validate() error {
	for _, p := range append(append([]string{}, s.Include...), s.Exclude...) {
		if _, err := path.Match(strings.ReplaceAll(p, "**", "*"), ""); err != nil {
			return fmt.Errorf("folder pattern %q: %v", p, err)
		}
	}
	for _, r := range s.Rename {
		if strings.TrimSpace(r.From) == "" || strings.TrimSpace(r.To) == "" {
			return fmt.Errorf("rename rule %q=%q: both sides are needed", r.From, r.To)
		}
	}
	since, err := ParseDate(s.Since)
	if err != nil {
		return fmt.Errorf("since: %v", err)
	}
	before, err := ParseDate(s.Before)
	if err != nil {
		return fmt.Errorf("before: %v", err)
	}
	if !since.IsZero() && !before.IsZero() && !before.After(since) {
		return fmt.Errorf("date range: before (%s) must be after since (%s)", s.Before, s.Since)
	}
	if s.MaxSize < 0 || s.Workers < 0 || s.MessagesPerSecond < 0 {
		return errors.New("maximum size, workers and rate cannot be negative")
	}
	if s.Workers > 64 {
		return errors.New("workers: at most 64")
	}
	return nil
}

// ParseDate parses YYYY-MM-DD ("" is the zero time).
func ParseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return t, fmt.Errorf("%q is not a date (want YYYY-MM-DD)", s)
	}
	return t, nil
}

// Options returns the engine options for these settings.
func (s *Settings) Options() engine.Options {
	since, _ := ParseDate(s.Since)
	before, _ := ParseDate(s.Before)
	rename := append([]engine.Rename(nil), s.Rename...)
	return engine.Options{
		Workers:    s.Workers,
		Rules:      engine.Rules{Include: s.Include, Exclude: s.Exclude, Rename: rename, NoSpecialUse: s.NoSpecialUse},
		Filter:     engine.Filter{MaxSize: s.MaxSize, Since: since, Before: before, SkipDeleted: s.SkipDeleted},
		NoFlagSync: s.NoFlags,
	}
}

// Project joins a source and a target connector.
type Project struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Source and Target are connector names.
	Source   string    `json:"source"`
	Target   string    `json:"target"`
	Settings Settings  `json:"settings"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// Validate checks a project.
func (p *Project) Validate() error {
	if strings.TrimSpace(p.Name) == "" {
		return errors.New("a project needs a name")
	}
	if p.Source == "" || p.Target == "" {
		return errors.New("a project needs a source and a target connector")
	}
	return p.Settings.Validate()
}

// Status is where a user's migration stands.
type Status string

const (
	StatusNew       Status = "new"       // never run
	StatusQueued    Status = "queued"    // in a batch, waiting for its turn or window
	StatusRunning   Status = "running"   // a pass is running
	StatusWaiting   Status = "waiting"   // paused by a fault (secrets unavailable, retry backoff)
	StatusPaused    Status = "paused"    // its batch is paused
	StatusDone      Status = "done"      // the last pass migrated everything
	StatusPartial   Status = "partial"   // the last pass skipped or failed some messages
	StatusFailed    Status = "failed"    // the last pass could not run (login refused, …)
	StatusCancelled Status = "cancelled" // its batch was cancelled
)

// Statuses lists every status, for filters.
var Statuses = []Status{StatusNew, StatusQueued, StatusRunning, StatusWaiting, StatusPaused, StatusDone, StatusPartial, StatusFailed, StatusCancelled}

// User is one mailbox pair of a project.
type User struct {
	ID         string `json:"id"`
	Project    string `json:"project"`
	SourceUser string `json:"source_user"`
	TargetUser string `json:"target_user"`
	// HasSourcePassword and HasTargetPassword say the user's own password
	// is in the secrets layer (secrets.MailboxSource/Target(ID)); else
	// the connector's credentials (administrator, magic or single user)
	// are used.
	HasSourcePassword bool `json:"has_source_password,omitempty"`
	HasTargetPassword bool `json:"has_target_password,omitempty"`
	// SourceLogin, if set, is the login that goes with the user's own
	// source password when it differs from SourceUser (a user who gave
	// their own login through self-service). SourceUser stays the
	// mailbox and the ledger's key.
	SourceLogin string `json:"source_login,omitempty"`
	// Origin says how the user got here: manual, csv, discovered,
	// self-service.
	Origin string `json:"origin,omitempty"`
	Status Status `json:"status"`
	// Error is the last pass's error, if any.
	Error string `json:"error,omitempty"`
	// Waiting says why a user in StatusWaiting waits (the secrets
	// backend is unavailable, a retry is due at a time, …).
	Waiting string `json:"waiting,omitempty"`
	// Batch is the batch the user last ran in.
	Batch string `json:"batch,omitempty"`
	// Passes counts finished passes; LastRun is when the last one ended.
	Passes  int       `json:"passes,omitempty"`
	LastRun time.Time `json:"last_run,omitzero"`
	// Totals adds up the counts of every finished pass (see AddPass).
	Totals engine.Counts `json:"totals"`
	// Finished maps a batch ID to the last pass of that batch the user
	// finished (ran to its end, whatever the outcome). A user whose entry
	// is below the batch's Pass still has the current pass to run.
	Finished map[string]BatchPass `json:"finished,omitempty"`
	// Requested is when a pass over this user alone was asked for (outside
	// of a batch's pass) and has not finished yet; zero otherwise. The
	// scheduler resumes such passes after a restart.
	Requested time.Time `json:"requested,omitzero"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// BatchPass is a user's last finished pass of a batch.
type BatchPass struct {
	Pass   int    `json:"pass"`
	Status Status `json:"status"`
}

// AddPass adds a finished pass's counts to the user's totals: what the
// pass did (copied, bytes, flags, excluded, skipped, …) adds up, and what
// it found (source messages, present, failed) is the last pass's.
func (u *User) AddPass(r *engine.Report) {
	t, c := &u.Totals, r.Totals
	t.SourceMessages = c.SourceMessages
	t.Present = c.Present
	t.Failed = c.Failed
	t.Excluded = c.Excluded
	t.Copied += c.Copied
	t.Bytes += c.Bytes
	t.Reconciled += c.Reconciled
	t.Rematched += c.Rematched
	t.FlagsUpdated += c.FlagsUpdated
	t.Skipped += c.Skipped
	t.Vanished += c.Vanished
}

// Validate checks a user.
func (u *User) Validate() error {
	if strings.TrimSpace(u.SourceUser) == "" {
		return errors.New("a user needs a source login")
	}
	if strings.ContainsAny(u.SourceUser, "\r\n\x00") || strings.ContainsAny(u.TargetUser, "\r\n\x00") {
		return errors.New("a login cannot contain line breaks or NUL")
	}
	if u.TargetUser == "" {
		return errors.New("a user needs a target address")
	}
	if strings.Contains(u.TargetUser, "@") {
		if a, err := mail.ParseAddress(u.TargetUser); err != nil || a.Address != u.TargetUser {
			return fmt.Errorf("target %q is not a valid e-mail address", u.TargetUser)
		}
	}
	return nil
}

// Window is a time of the week when a batch may run, in the appliance's
// local time: Start to End on the given days ("20:00"–"06:00" spans
// midnight and belongs to the day it starts). No days means every day.
type Window struct {
	Days  []time.Weekday `json:"days,omitempty"`
	Start string         `json:"start"`
	End   string         `json:"end"`
}

// Validate checks a window.
func (w Window) Validate() error {
	s, err := clock(w.Start)
	if err != nil {
		return err
	}
	e, err := clock(w.End)
	if err != nil {
		return err
	}
	if s == e {
		return fmt.Errorf("window %s–%s is empty", w.Start, w.End)
	}
	for _, d := range w.Days {
		if d < time.Sunday || d > time.Saturday {
			return fmt.Errorf("window: no weekday %d", d)
		}
	}
	return nil
}

// clock parses "HH:MM" into minutes after midnight.
func clock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day (want HH:MM)", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Open reports whether t falls in the window.
func (w Window) Open(t time.Time) bool {
	s, _ := clock(w.Start)
	e, _ := clock(w.End)
	m := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	if s < e {
		return m >= s && m < e && w.on(day)
	}
	// Spans midnight: the evening part on its day, the morning part on
	// the day after.
	return (m >= s && w.on(day)) || (m < e && w.on((day+6)%7))
}

func (w Window) on(d time.Weekday) bool {
	if len(w.Days) == 0 {
		return true
	}
	for _, x := range w.Days {
		if x == d {
			return true
		}
	}
	return false
}

// Schedule says when a batch runs.
type Schedule struct {
	// StartAt is when the batch may start; zero is now.
	StartAt time.Time `json:"start_at,omitzero"`
	// Windows, if any, restrict running to these times; a mailbox whose
	// window closes stops at a safe point and goes on in the next one.
	Windows []Window `json:"windows,omitempty"`
	// DeltaEvery, if set, runs a delta pass over the batch's users this
	// long after the previous pass ended, until the batch is cancelled or
	// marked final.
	DeltaEvery time.Duration `json:"delta_every,omitempty"`
}

// Validate checks a schedule.
func (s *Schedule) Validate() error {
	for _, w := range s.Windows {
		if err := w.Validate(); err != nil {
			return err
		}
	}
	if s.DeltaEvery != 0 && s.DeltaEvery < time.Minute {
		return errors.New("delta passes can be at most one a minute")
	}
	return nil
}

// Open reports whether the schedule allows running at t.
func (s *Schedule) Open(t time.Time) bool {
	if !s.StartAt.IsZero() && t.Before(s.StartAt) {
		return false
	}
	if len(s.Windows) == 0 {
		return true
	}
	for _, w := range s.Windows {
		if w.Open(t) {
			return true
		}
	}
	return false
}

// BatchState is where a batch stands.
type BatchState string

const (
	BatchScheduled BatchState = "scheduled" // waiting for its start time or window
	BatchRunning   BatchState = "running"
	BatchPaused    BatchState = "paused"    // by an admin
	BatchDone      BatchState = "done"      // every user's pass ended (delta passes may follow)
	BatchCancelled BatchState = "cancelled" // by an admin
)

// Batch is users started together.
type Batch struct {
	ID      string   `json:"id"`
	Project string   `json:"project"`
	Name    string   `json:"name"`
	Users   []string `json:"users"`
	// Concurrency is the number of mailboxes of this batch migrated at
	// once (0: the scheduler's default).
	Concurrency int        `json:"concurrency,omitempty"`
	Schedule    Schedule   `json:"schedule"`
	State       BatchState `json:"state"`
	// Pass counts the passes started over the batch (1 is the first).
	Pass     int       `json:"pass"`
	Created  time.Time `json:"created"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// NextPass is when the next scheduled delta pass starts.
	NextPass time.Time `json:"next_pass,omitzero"`
	// Submitted is when the batch was handed to the scheduler; a stored
	// batch that was never submitted does not run, whatever its State.
	Submitted time.Time `json:"submitted,omitzero"`
	// CreatedBy is the admin who made it.
	CreatedBy string `json:"created_by,omitempty"`
}

// Validate checks a batch.
func (b *Batch) Validate() error {
	if len(b.Users) == 0 {
		return errors.New("a batch needs at least one user")
	}
	if b.Concurrency < 0 || b.Concurrency > 256 {
		return errors.New("batch concurrency: 0 to 256")
	}
	return b.Schedule.Validate()
}

// Store keeps projects, users and batches.
type Store struct {
	db      *store.DB
	secrets secrets.Store
	mu      sync.Mutex // serialises read-modify-write of one record
}

// NewStore returns a store.
func NewStore(db *store.DB, sec secrets.Store) *Store { return &Store{db: db, secrets: sec} }

// NewID returns a random identifier with a prefix ("p", "u", "b").
func NewID(prefix string) string {
	const alphabet = "abcdefghijkmnopqrstuvwxyz23456789"
	b := make([]byte, 10)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

func projectKey(id string) string  { return store.Key("v1", "project", id) }
func userKey(p, id string) string  { return store.Key("v1", "user", p, id) }
func userPrefix(p string) string   { return store.Key("v1", "user", p) + "/" }
func batchKey(p, id string) string { return store.Key("v1", "batch", p, id) }
func batchPrefix(p string) string  { return store.Key("v1", "batch", p) + "/" }
func get[T any](ctx context.Context, db *store.DB, key string) (*T, error) {
	v := new(T)
	if err := db.Get(ctx, key, v); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return v, nil
}

func list[T any](ctx context.Context, db *store.DB, prefix string) ([]*T, error) {
	var out []*T
	err := db.Scan(ctx, prefix, func(_ string, b []byte) error {
		v := new(T)
		if err := json.Unmarshal(b, v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// Project returns a project.
func (s *Store) Project(ctx context.Context, id string) (*Project, error) {
	return get[Project](ctx, s.db, projectKey(id))
}

// Projects lists the projects by name.
func (s *Store) Projects(ctx context.Context) ([]*Project, error) {
	ps, err := list[Project](ctx, s.db, store.Key("v1", "project")+"/")
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps, err
}

// PutProject creates (empty ID) or updates a project.
func (s *Store) PutProject(ctx context.Context, p *Project) error {
	if err := p.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.Projects(ctx)
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.Name == p.Name && o.ID != p.ID {
			return fmt.Errorf("project %q: %w", p.Name, ErrConflict)
		}
	}
	now := time.Now().UTC()
	if p.ID == "" {
		p.ID, p.Created = NewID("p"), now
	} else if old, err := s.Project(ctx, p.ID); err != nil {
		return err
	} else {
		p.Created = old.Created
	}
	p.Updated = now
	return s.db.Put(ctx, projectKey(p.ID), p)
}

// DeleteProject deletes a project with its users (and their secrets) and
// batches. It refuses while a batch of the project is running.
func (s *Store) DeleteProject(ctx context.Context, id string) error {
	if _, err := s.Project(ctx, id); err != nil {
		return err
	}
	bs, err := s.Batches(ctx, id)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.State == BatchRunning {
			return fmt.Errorf("batch %s is running: pause or cancel it first", b.Name)
		}
	}
	us, err := s.Users(ctx, id)
	if err != nil {
		return err
	}
	for _, u := range us {
		if err := s.DeleteUser(ctx, id, u.ID); err != nil {
			return err
		}
	}
	for _, b := range bs {
		if err := s.db.Delete(ctx, batchKey(id, b.ID)); err != nil {
			return err
		}
	}
	return s.db.Delete(ctx, projectKey(id))
}

// User returns a user.
func (s *Store) User(ctx context.Context, project, id string) (*User, error) {
	return get[User](ctx, s.db, userKey(project, id))
}

// Users lists a project's users by source login.
func (s *Store) Users(ctx context.Context, project string) ([]*User, error) {
	us, err := list[User](ctx, s.db, userPrefix(project))
	sort.Slice(us, func(i, j int) bool { return us[i].SourceUser < us[j].SourceUser })
	return us, err
}

// PutUser creates (empty ID) or updates a user. A source login is unique
// in a project.
func (s *Store) PutUser(ctx context.Context, u *User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if _, err := s.Project(ctx, u.Project); err != nil {
		return fmt.Errorf("project %s: %w", u.Project, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putUserLocked(ctx, u)
}

func (s *Store) putUserLocked(ctx context.Context, u *User) error {
	// The source login index makes the uniqueness check one read, not a
	// scan of the project (imports add thousands of users).
	var owner string
	switch err := s.db.Get(ctx, loginKey(u.Project, u.SourceUser), &owner); {
	case err == nil && owner != u.ID:
		if _, err := s.User(ctx, u.Project, owner); err == nil {
			return fmt.Errorf("user %s: %w", u.SourceUser, ErrConflict)
		} // else a stale entry (the user is gone): the login is free
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	now := time.Now().UTC()
	if u.ID == "" {
		u.ID, u.Created = NewID("u"), now
		if u.Status == "" {
			u.Status = StatusNew
		}
	} else if old, err := s.User(ctx, u.Project, u.ID); err == nil && !strings.EqualFold(old.SourceUser, u.SourceUser) {
		if err := s.db.Delete(ctx, loginKey(u.Project, old.SourceUser)); err != nil {
			return err
		}
	}
	u.Updated = now
	if err := s.db.Put(ctx, userKey(u.Project, u.ID), u); err != nil {
		return err
	}
	return s.db.Put(ctx, loginKey(u.Project, u.SourceUser), u.ID)
}

// loginKey indexes a project's users by source login (case-insensitive).
func loginKey(project, source string) string {
	return store.Key("v1", "userlogin", project, strings.ToLower(source))
}

// UpdateUser applies fn to the stored user and saves it, atomically with
// respect to other updates through this store.
func (s *Store) UpdateUser(ctx context.Context, project, id string, fn func(*User) error) (*User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.User(ctx, project, id)
	if err != nil {
		return nil, err
	}
	if err := fn(u); err != nil {
		return nil, err
	}
	u.Updated = time.Now().UTC()
	return u, s.db.Put(ctx, userKey(project, id), u)
}

// SetUserPasswords stores a user's own passwords in the secrets layer
// (an empty value leaves that side unchanged) and records that they are
// there.
func (s *Store) SetUserPasswords(ctx context.Context, project, id, source, target string) error {
	if source != "" {
		if err := s.secrets.Put(ctx, secrets.MailboxSource(id), source); err != nil {
			return fmt.Errorf("store source password: %w", err)
		}
	}
	if target != "" {
		if err := s.secrets.Put(ctx, secrets.MailboxTarget(id), target); err != nil {
			return fmt.Errorf("store target password: %w", err)
		}
	}
	_, err := s.UpdateUser(ctx, project, id, func(u *User) error {
		u.HasSourcePassword = u.HasSourcePassword || source != ""
		u.HasTargetPassword = u.HasTargetPassword || target != ""
		return nil
	})
	return err
}

// DeleteUser deletes a user and its secrets (its ledger stays, so that
// adding it again does not copy its mail twice).
func (s *Store) DeleteUser(ctx context.Context, project, id string) error {
	u, err := s.User(ctx, project, id)
	if err != nil {
		return err
	}
	if err := s.secrets.DeletePrefix(ctx, secrets.MailboxPrefix(id)); err != nil {
		return fmt.Errorf("delete the secrets of user %s: %w", id, err)
	}
	if err := s.db.Delete(ctx, userKey(project, id)); err != nil {
		return err
	}
	var owner string
	if err := s.db.Get(ctx, loginKey(project, u.SourceUser), &owner); err == nil && owner == id {
		return s.db.Delete(ctx, loginKey(project, u.SourceUser))
	}
	return nil
}

// Batch returns a batch.
func (s *Store) Batch(ctx context.Context, project, id string) (*Batch, error) {
	return get[Batch](ctx, s.db, batchKey(project, id))
}

// Batches lists a project's batches, newest first.
func (s *Store) Batches(ctx context.Context, project string) ([]*Batch, error) {
	bs, err := list[Batch](ctx, s.db, batchPrefix(project))
	sort.Slice(bs, func(i, j int) bool { return bs[i].Created.After(bs[j].Created) })
	return bs, err
}

// AllUsers lists every project's users.
func (s *Store) AllUsers(ctx context.Context) ([]*User, error) {
	return list[User](ctx, s.db, store.Key("v1", "user")+"/")
}

// AllBatches lists every project's batches.
func (s *Store) AllBatches(ctx context.Context) ([]*Batch, error) {
	return list[Batch](ctx, s.db, store.Key("v1", "batch")+"/")
}

// PutBatch creates (empty ID) or updates a batch.
func (s *Store) PutBatch(ctx context.Context, b *Batch) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if _, err := s.Project(ctx, b.Project); err != nil {
		return fmt.Errorf("project %s: %w", b.Project, err)
	}
	for _, id := range b.Users {
		if _, err := s.User(ctx, b.Project, id); err != nil {
			return fmt.Errorf("user %s: %w", id, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.ID == "" {
		b.ID, b.Created = NewID("b"), time.Now().UTC()
		if b.State == "" {
			b.State = BatchScheduled
		}
		if b.Name == "" {
			b.Name = "batch " + b.Created.Local().Format("2006-01-02 15:04")
		}
	}
	return s.db.Put(ctx, batchKey(b.Project, b.ID), b)
}

// UpdateBatch applies fn to the stored batch and saves it.
func (s *Store) UpdateBatch(ctx context.Context, project, id string, fn func(*Batch) error) (*Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.Batch(ctx, project, id)
	if err != nil {
		return nil, err
	}
	if err := fn(b); err != nil {
		return nil, err
	}
	return b, s.db.Put(ctx, batchKey(project, id), b)
}

// DeleteBatch deletes a batch that is not running; its users stay.
func (s *Store) DeleteBatch(ctx context.Context, project, id string) error {
	b, err := s.Batch(ctx, project, id)
	if err != nil {
		return err
	}
	if b.State == BatchRunning {
		return fmt.Errorf("batch %s is running: pause or cancel it first", b.Name)
	}
	return s.db.Delete(ctx, batchKey(project, id))
}

// RunReport is the report of one pass over one user.
type RunReport struct {
	Project string `json:"project"`
	User    string `json:"user"`
	Batch   string `json:"batch,omitempty"`
	// Pass is the batch's pass number, or for a pass over the user alone
	// (Batch empty) the user's own pass number.
	Pass   int            `json:"pass"`
	Report *engine.Report `json:"report"`
	// Attempt counts the tries of this pass (1 is the first; retries
	// after temporary errors count up).
	Attempt int `json:"attempt,omitempty"`
	// Interrupted, if set, says the pass was stopped before its end and
	// why ("window closed", "paused", "cancelled", "shutdown"); the
	// report then covers only what was done. The next pass resumes
	// exactly where it stopped.
	Interrupted string `json:"interrupted,omitempty"`
}

func reportKey(p, u string, started time.Time) string {
	return store.Key("v1", "userreport", p, u, started.UTC().Format("20060102T150405.000000000Z"))
}

// SaveReport stores the report of a pass.
func (s *Store) SaveReport(ctx context.Context, r *RunReport) error {
	return s.db.Put(ctx, reportKey(r.Project, r.User, r.Report.Started), r)
}

// Reports lists a user's pass reports, oldest first.
func (s *Store) Reports(ctx context.Context, project, user string) ([]*RunReport, error) {
	return list[RunReport](ctx, s.db, store.Key("v1", "userreport", project, user)+"/")
}

// LatestReport returns a user's newest pass report.
func (s *Store) LatestReport(ctx context.Context, project, user string) (*RunReport, error) {
	rs, err := s.Reports(ctx, project, user)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, ErrNotFound
	}
	return rs[len(rs)-1], nil
}
