package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ternmail/tern/core/internal/ledger"
)

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := Open(dir, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dir
}

func TestSchemaVersion(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.Get(context.Background(), schemaKey, &v); err != nil || v != SchemaVersion {
		t.Fatalf("schema record = %d, %v", v, err)
	}
	// A store written by a newer Tern is refused.
	if err := db.Put(context.Background(), schemaKey, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(dir, nil); err == nil || !strings.Contains(err.Error(), "schema version") {
		t.Fatalf("opening a newer store: %v", err)
	}
}

func TestKeyEscaping(t *testing.T) {
	if got := Key("a/b", "50%", "c"); got != "a%2Fb/50%25/c" {
		t.Fatalf("Key = %q", got)
	}
	db, _ := openTemp(t)
	ctx := context.Background()
	// Folders "a" and "a/m" must not see each other's entries.
	l := db.Ledger("box")
	l.Commit(ctx, "a", "1", &ledger.Entry{ID: "5", State: ledger.StateDone, TargetFolder: "A", Ref: "9"})
	l.Commit(ctx, "a/m", "1", &ledger.Entry{ID: "6", State: ledger.StateDone, TargetFolder: "A", Ref: "10"})
	l.Sync(ctx)
	var ids []string
	l.Entries(ctx, "a", "1", func(e *ledger.Entry) error { ids = append(ids, e.ID); return nil })
	if len(ids) != 1 || ids[0] != "5" {
		t.Fatalf("entries of folder a: %v", ids)
	}
}

func TestLedgerProtocol(t *testing.T) {
	db, dir := openTemp(t)
	ctx := context.Background()
	l := db.Ledger("user@example.com")
	if st, err := l.Folder(ctx, "INBOX"); st != nil || err != nil {
		t.Fatalf("new folder state = %v, %v", st, err)
	}
	if err := l.SetFolder(ctx, "INBOX", &ledger.FolderState{Validity: "7", Checkpoint: []byte("cp"), TargetFolder: "INBOX"}); err != nil {
		t.Fatal(err)
	}
	in := []*ledger.Entry{{ID: "1", Fingerprint: "v1:a", Size: 10, TargetFolder: "INBOX", Watermark: "w"}, {ID: "2", Fingerprint: "v1:b", Size: 11, TargetFolder: "INBOX", Watermark: "w"}}
	if err := l.MarkInflight(ctx, "INBOX", "7", in); err != nil {
		t.Fatal(err)
	}
	fl, err := l.Inflight(ctx, "INBOX", "7")
	if err != nil || len(fl) != 2 || fl[0].State != ledger.StateInflight {
		t.Fatalf("Inflight = %+v, %v", fl, err)
	}
	done := *in[0]
	done.State, done.Ref = ledger.StateDone, "100"
	l.Commit(ctx, "INBOX", "7", &done)
	l.Drop(ctx, "INBOX", "7", "2")
	l.Sync(ctx)
	fl, _ = l.Inflight(ctx, "INBOX", "7")
	if len(fl) != 0 {
		t.Fatalf("after commit and drop, in flight: %+v", fl)
	}
	if e, _ := l.Get(ctx, "INBOX", "7", "2"); e != nil {
		t.Fatalf("dropped entry still there: %+v", e)
	}
	if ok, _ := l.Claimed(ctx, "INBOX", "100"); !ok {
		t.Fatal("ref 100 not claimed after commit")
	}
	if ok, _ := l.Claimed(ctx, "INBOX", "101"); ok {
		t.Fatal("ref 101 claimed")
	}
	// Everything survives a reopen.
	db.Close()
	db2, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	l2 := db2.Ledger("user@example.com")
	e, err := l2.Get(ctx, "INBOX", "7", "1")
	if err != nil || e == nil || e.State != ledger.StateDone || e.Ref != "100" {
		t.Fatalf("after reopen: %+v, %v", e, err)
	}
	st, _ := l2.Folder(ctx, "INBOX")
	if st == nil || st.Validity != "7" || string(st.Checkpoint) != "cp" {
		t.Fatalf("folder state after reopen: %+v", st)
	}
	if err := l2.DropValidity(ctx, "INBOX", "7"); err != nil {
		t.Fatal(err)
	}
	if e, _ := l2.Get(ctx, "INBOX", "7", "1"); e != nil {
		t.Fatalf("entry survived DropValidity: %+v", e)
	}
	if ok, _ := l2.Claimed(ctx, "INBOX", "100"); !ok {
		t.Fatal("DropValidity removed a claim")
	}
	if err := db2.Get(ctx, "v1/nothing", new(int)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v", err)
	}
}

// Mailboxes commit while others sync and while the store closes: no
// panic, no race (go test -race), and every commit is there afterwards.
func TestConcurrentLedgers(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const mailboxes, entries = 4, 300
	var wg sync.WaitGroup
	for m := range mailboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := db.Ledger(fmt.Sprintf("mb%d", m))
			for i := range entries {
				e := &ledger.Entry{ID: strconv.Itoa(i), State: ledger.StateDone, Ref: strconv.Itoa(i), TargetFolder: "INBOX"}
				if err := l.Commit(ctx, "INBOX", "1", e); err != nil {
					t.Error(err)
					return
				}
				if i%7 == 0 {
					if err := l.Sync(ctx); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for m := range mailboxes {
		n := 0
		db.Ledger(fmt.Sprintf("mb%d", m)).Entries(ctx, "INBOX", "1", func(*ledger.Entry) error { n++; return nil })
		if n != entries {
			t.Errorf("mailbox %d has %d entries, want %d", m, n, entries)
		}
	}
}
