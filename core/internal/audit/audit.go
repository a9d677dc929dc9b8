// Package audit keeps the append-only log of what administrators did: one
// [Entry] per change (time, administrator, action, object, detail), in
// the state store, listed newest first.
//
// # What goes in
//
// Every console or API action that changes something records one entry;
// so do logins, failed logins of existing accounts and lockouts. An entry
// never holds a secret: "password changed", not the password; the detail
// is free text for people, the action a dotted name for filters
// ("connector.create", "admin.delete", "login.failed").
//
// # Keys
//
//	v1/audit/<16 hex digits: MaxInt64 - UnixNano>   Entry (JSON)
//
// The inverted time makes a forward scan list newest first; times are
// made strictly increasing within the process, so keys never collide.
// There is no update and no delete.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/ternmail/tern/core/internal/store"
)

// Entry is one audit record.
type Entry struct {
	// ID is the entry's key suffix (also the paging cursor).
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Admin string    `json:"admin"`
	// Action is a dotted name: "connector.create", "login", …
	Action string `json:"action"`
	// Object is what the action was about ("connector oldmail").
	Object string `json:"object,omitempty"`
	// Detail says more, for people; never a secret.
	Detail string `json:"detail,omitempty"`
	// Remote is the client's address, when the action came over HTTP.
	Remote string `json:"remote,omitempty"`
}

// Log is the audit log.
type Log struct {
	db   *store.DB
	mu   sync.Mutex
	last int64 // last UnixNano used
	now  func() time.Time
}

// New returns the audit log kept in db.
func New(db *store.DB) *Log { return &Log{db: db, now: time.Now} }

const prefix = "v1/audit/"

// Record appends an entry; its ID and (if zero) Time are set here.
func (l *Log) Record(ctx context.Context, e Entry) error {
	if e.Action == "" {
		return errors.New("audit: entry without an action")
	}
	l.mu.Lock()
	t := e.Time
	if t.IsZero() {
		t = l.now()
	}
	n := t.UnixNano()
	if n <= l.last {
		n = l.last + 1
	}
	l.last = n
	l.mu.Unlock()
	e.Time = time.Unix(0, n).UTC()
	e.ID = fmt.Sprintf("%016x", uint64(math.MaxInt64-n))
	return l.db.Put(ctx, prefix+e.ID, e)
}

// Query selects entries.
type Query struct {
	// Admin keeps the entries of one administrator ("" for all).
	Admin string
	// Action keeps actions equal to it or starting with it and a dot
	// ("connector" keeps "connector.create"); "" for all.
	Action string
	// After is the cursor: the ID of the last entry of the previous page.
	After string
	// Limit is the page size (default 50, at most 500).
	Limit int
}

// Page is one page of entries, newest first.
type Page struct {
	Entries []Entry `json:"entries"`
	// Next is the cursor of the next page, "" at the end.
	Next string `json:"next,omitempty"`
}

// List returns a page of entries, newest first.
func (l *Log) List(ctx context.Context, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, 500)
	p := Page{Entries: []Entry{}}
	after := ""
	if q.After != "" {
		after = prefix + q.After
	}
	errFull := errors.New("page full")
	err := l.db.Scan(ctx, prefix, func(k string, v []byte) error {
		if k <= after {
			return nil
		}
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("audit entry %s: %w", k, err)
		}
		if q.Admin != "" && e.Admin != q.Admin {
			return nil
		}
		if q.Action != "" && e.Action != q.Action && !strings.HasPrefix(e.Action, q.Action+".") {
			return nil
		}
		if len(p.Entries) == q.Limit {
			p.Next = p.Entries[len(p.Entries)-1].ID
			return errFull
		}
		p.Entries = append(p.Entries, e)
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return Page{}, err
	}
	return p, nil
}
