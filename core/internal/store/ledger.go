package store

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ternmail/tern/core/internal/ledger"
)

// Ledger returns the ledger of a mailbox.
func (d *DB) Ledger(mailbox string) ledger.Ledger {
	return &mailboxLedger{d: d, db: d.db, prefix: "v1/ledger/" + Escape(mailbox) + "/", log: d.log}
}

type mailboxLedger struct {
	d      *DB
	db     *badger.DB
	prefix string
	// pending counts this ledger's commits in flight (Sync waits for
	// them, not for other mailboxes'); the DB's counts every ledger's
	// (Close waits for them).
	pending pending
	log     *slog.Logger
}

var _ ledger.Ledger = (*mailboxLedger)(nil)

func (l *mailboxLedger) folderKey(folder string, rest ...string) []byte {
	return []byte(l.prefix + "f/" + Key(append([]string{folder}, rest...)...))
}

func (l *mailboxLedger) entryKey(folder, validity, id string) []byte {
	return l.folderKey(folder, "m", validity, id)
}

func (l *mailboxLedger) inflightKey(folder, validity, id string) []byte {
	return l.folderKey(folder, "i", validity, id)
}

func (l *mailboxLedger) skipKey(folder, validity, id string) []byte {
	return l.folderKey(folder, "s", validity, id)
}

func (l *mailboxLedger) claimKey(targetFolder, ref string) []byte {
	return []byte(l.prefix + "c/" + Key(targetFolder, ref))
}

func getJSON(txn *badger.Txn, key []byte, v any) (bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

func (l *mailboxLedger) Folder(_ context.Context, folder string) (*ledger.FolderState, error) {
	var st ledger.FolderState
	var ok bool
	err := l.db.View(func(txn *badger.Txn) (err error) {
		ok, err = getJSON(txn, l.folderKey(folder, "state"), &st)
		return err
	})
	if err != nil || !ok {
		return nil, err
	}
	return &st, nil
}

func (l *mailboxLedger) SetFolder(_ context.Context, folder string, st *ledger.FolderState) error {
	st.Updated = time.Now().UTC()
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return l.db.Update(func(txn *badger.Txn) error { return txn.Set(l.folderKey(folder, "state"), b) })
	// Not synced: a lost checkpoint only makes the next pass list more.
}

func (l *mailboxLedger) Get(_ context.Context, folder, validity, id string) (*ledger.Entry, error) {
	var e ledger.Entry
	var ok bool
	err := l.db.View(func(txn *badger.Txn) (err error) {
		ok, err = getJSON(txn, l.entryKey(folder, validity, id), &e)
		return err
	})
	if err != nil || !ok {
		return nil, err
	}
	return &e, nil
}

func (l *mailboxLedger) MarkInflight(_ context.Context, folder, validity string, entries []*ledger.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	now := time.Now().UTC()
	wb := l.db.NewWriteBatch()
	defer wb.Cancel()
	for _, e := range entries {
		e.State, e.Updated = ledger.StateInflight, now
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := wb.Set(l.entryKey(folder, validity, e.ID), b); err != nil {
			return err
		}
		if err := wb.Set(l.inflightKey(folder, validity, e.ID), nil); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	// The marks must be on disk before any of the appends they announce.
	return l.d.durable()
}

func (l *mailboxLedger) Inflight(ctx context.Context, folder, validity string) ([]*ledger.Entry, error) {
	return l.indexed(folder, validity, "i")
}

func (l *mailboxLedger) Skipped(ctx context.Context, folder, validity string) ([]*ledger.Entry, error) {
	return l.indexed(folder, validity, "s")
}

// indexed returns the entries listed in an index (in flight, skipped).
func (l *mailboxLedger) indexed(folder, validity, index string) ([]*ledger.Entry, error) {
	var out []*ledger.Entry
	prefix := string(l.folderKey(folder, index, validity)) + "/"
	err := l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := unescape(strings.TrimPrefix(string(it.Item().Key()), prefix))
			var e ledger.Entry
			ok, err := getJSON(txn, l.entryKey(folder, validity, id), &e)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, &e)
			}
		}
		return nil
	})
	return out, err
}

func (l *mailboxLedger) Commit(_ context.Context, folder, validity string, e *ledger.Entry) error {
	e.Updated = time.Now().UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	txn := l.db.NewTransaction(true)
	defer txn.Discard()
	if err := txn.Set(l.entryKey(folder, validity, e.ID), b); err != nil {
		return err
	}
	if err := txn.Delete(l.inflightKey(folder, validity, e.ID)); err != nil {
		return err
	}
	if e.State == ledger.StateSkipped {
		err = txn.Set(l.skipKey(folder, validity, e.ID), nil)
	} else {
		err = txn.Delete(l.skipKey(folder, validity, e.ID))
	}
	if err != nil {
		return err
	}
	if e.State == ledger.StateDone && e.Ref != "" {
		if err := txn.Set(l.claimKey(e.TargetFolder, e.Ref), []byte(Key(folder, validity, e.ID))); err != nil {
			return err
		}
	}
	// Asynchronous: many commits share one sync. A lost commit leaves the
	// in-flight entry, which reconciliation resolves.
	l.pending.add()
	l.d.pending.add()
	txn.CommitWith(func(err error) {
		defer l.d.pending.done()
		defer l.pending.done()
		if err != nil {
			l.log.Error("ledger commit failed; the entry stays in flight and is reconciled on the next pass", "folder", folder, "id", e.ID, "err", err)
		}
	})
	return nil
}

func (l *mailboxLedger) Drop(_ context.Context, folder, validity, id string) error {
	return l.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(l.entryKey(folder, validity, id)); err != nil {
			return err
		}
		if err := txn.Delete(l.skipKey(folder, validity, id)); err != nil {
			return err
		}
		return txn.Delete(l.inflightKey(folder, validity, id))
	})
}

func (l *mailboxLedger) Claimed(_ context.Context, targetFolder, ref string) (bool, error) {
	var ok bool
	err := l.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(l.claimKey(targetFolder, ref))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		ok = err == nil
		return err
	})
	return ok, err
}

func (l *mailboxLedger) Entries(ctx context.Context, folder, validity string, fn func(*ledger.Entry) error) error {
	prefix := string(l.folderKey(folder, "m", validity)) + "/"
	return l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var e ledger.Entry
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &e) }); err != nil {
				return err
			}
			if err := fn(&e); err != nil {
				return err
			}
		}
		return nil
	})
}

func (l *mailboxLedger) DropValidity(ctx context.Context, folder, validity string) error {
	for _, kind := range []string{"m", "i", "s"} {
		prefix := []byte(string(l.folderKey(folder, kind, validity)) + "/")
		if err := l.db.DropPrefix(prefix); err != nil {
			return err
		}
	}
	return nil
}

func (l *mailboxLedger) Sync(context.Context) error {
	l.pending.wait()
	return l.db.Sync()
}

var unescaper = strings.NewReplacer("%2F", "/", "%25", "%")

func unescape(s string) string { return unescaper.Replace(s) }
