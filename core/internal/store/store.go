// Package store keeps Tern's state in Badger. It is the only package that
// imports Badger, and the only one that opens the state directory.
//
// # Key schema
//
// Every key starts with the schema version, then the entity:
//
//	v1/meta/schema                                  schema version record ("1")
//	v1/ledger/<mailbox>/f/<folder>/state            ledger.FolderState (JSON)
//	v1/ledger/<mailbox>/f/<folder>/m/<validity>/<id> ledger.Entry (JSON)
//	v1/ledger/<mailbox>/f/<folder>/i/<validity>/<id> in-flight mark (empty)
//	v1/ledger/<mailbox>/f/<folder>/s/<validity>/<id> skipped mark (empty)
//	v1/ledger/<mailbox>/c/<target folder>/<ref>     claim: "<folder>/<validity>/<id>"
//	v1/<entity>/<id>...                             other records (Put/Get/Scan)
//
// Components are escaped so that a "/" inside a folder name or ID cannot
// be confused with the separator ("%" → "%25", "/" → "%2F").
//
// # Schema versions
//
// Open writes the schema version on a new store and refuses a store
// written by a newer Tern. A future version 2 adds a migration from 1 in
// [migrations] that rewrites keys in place, then bumps the record.
//
// # Durability
//
// The ledger must survive a power cut, not only a crash of the process,
// but not every write needs its own sync. Badger writes go through one
// append-only log in order, so a write that survives a crash implies that
// every earlier one did. The writes the exactly-once protocol depends on
// (in-flight marks, which must be on disk before the append they announce
// begins) are followed by an explicit sync; everything else (done marks,
// checkpoints, skips) may be lost in a power cut without harm, because the
// in-flight mark that precedes it is reconciled on resume. One sync per
// page of messages instead of one per message: on the benchmark this took
// a third off the wall time. Put, Delete and SetFolder sync unless
// Options.NoSync is set.
//
// # Memory
//
// Badger's defaults (five 64 MiB memtables, a 256 MiB block cache) suit a
// database server, not an appliance whose whole budget is 150 MB; the
// options here are sized for millions of ledger entries in a few tens of MB.
//
// No secret is ever stored here: credentials live in the secrets layer.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// SchemaVersion is the version of the key schema this code writes.
const SchemaVersion = 1

const schemaKey = "v1/meta/schema"

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("store: not found")

// Options configure Open. A nil *Options means the defaults.
type Options struct {
	// NoSync turns synced writes off (tests and benchmarks of other parts).
	NoSync bool
	// InMemory keeps everything in memory (tests); the directory is unused.
	InMemory bool
	// Logger receives Badger's warnings and errors.
	Logger *slog.Logger
}

// DB is an open store.
type DB struct {
	db      *badger.DB
	sync    bool // sync the writes that must be durable
	log     *slog.Logger
	pending pending // asynchronous ledger commits, of every mailbox
}

// migrations upgrade a store from the version in its key to the next one.
var migrations = map[int]func(*badger.DB) error{}

// Open opens (creating if needed) the store in dir.
func Open(dir string, o *Options) (*DB, error) {
	if o == nil {
		o = &Options{}
	}
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(false).
		WithInMemory(o.InMemory).
		WithLogger(badgerLogger{o.Logger}).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(8).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(4 << 20).
		WithValueLogFileSize(64 << 20).
		WithValueThreshold(1 << 10).
		WithNumCompactors(2).
		WithNumVersionsToKeep(1).
		WithCompactL0OnClose(true)
	if o.InMemory {
		opts.Dir, opts.ValueDir = "", ""
	}
	bdb, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", dir, err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &DB{db: bdb, log: log, sync: !o.NoSync && !o.InMemory}
	if err := d.checkSchema(); err != nil {
		bdb.Close()
		return nil, err
	}
	return d, nil
}

func (d *DB) checkSchema() error {
	var v int
	err := d.Get(context.Background(), schemaKey, &v)
	if errors.Is(err, ErrNotFound) {
		return d.Put(context.Background(), schemaKey, SchemaVersion)
	}
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	for v < SchemaVersion {
		m, ok := migrations[v]
		if !ok {
			return fmt.Errorf("state store has schema version %d and no migration to %d", v, v+1)
		}
		if err := m(d.db); err != nil {
			return fmt.Errorf("migrate state store from schema %d: %w", v, err)
		}
		v++
		if err := d.Put(context.Background(), schemaKey, v); err != nil {
			return err
		}
	}
	if v > SchemaVersion {
		return fmt.Errorf("state store has schema version %d; this Tern understands up to %d (downgrade is not supported)", v, SchemaVersion)
	}
	return nil
}

// Close waits for pending writes and closes the store.
func (d *DB) Close() error {
	d.pending.wait()
	return d.db.Close()
}

// Sync makes every write so far durable.
func (d *DB) Sync(context.Context) error {
	d.pending.wait()
	return d.db.Sync()
}

// Key joins escaped components into a key.
func Key(parts ...string) string {
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = Escape(p)
	}
	return strings.Join(esc, "/")
}

var escaper = strings.NewReplacer("%", "%25", "/", "%2F")

// Escape escapes one key component.
func Escape(s string) string { return escaper.Replace(s) }

// Put stores v as JSON under key.
func (d *DB) Put(_ context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := d.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(key), b) }); err != nil {
		return err
	}
	return d.durable()
}

// durable syncs the log when durability is on.
func (d *DB) durable() error {
	if !d.sync {
		return nil
	}
	return d.db.Sync()
}

// Get loads the JSON under key into v; ErrNotFound if missing.
func (d *DB) Get(_ context.Context, key string, v any) error {
	return d.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
	})
}

// Delete removes key.
func (d *DB) Delete(_ context.Context, key string) error {
	if err := d.db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte(key)) }); err != nil {
		return err
	}
	return d.durable()
}

// Scan calls fn with every key under prefix and its raw JSON value, in key
// order.
func (d *DB) Scan(ctx context.Context, prefix string, fn func(key string, value []byte) error) error {
	return d.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			if err := item.Value(func(b []byte) error { return fn(string(item.Key()), b) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// Keys returns every key under prefix (for tests and diagnostics).
func (d *DB) Keys(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	err := d.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, string(it.Item().KeyCopy(nil)))
		}
		return nil
	})
	return keys, err
}

// badgerLogger sends Badger's warnings and errors to slog; its chatty info
// and debug lines are dropped.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	if b.l != nil {
		b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)), "module", "badger")
	}
}

func (b badgerLogger) Warningf(f string, a ...any) {
	if b.l != nil {
		b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)), "module", "badger")
	}
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
