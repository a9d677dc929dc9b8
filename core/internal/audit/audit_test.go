package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ternmail/tern/core/internal/store"
)

func TestLog(t *testing.T) {
	db, err := store.Open(t.TempDir(), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := New(db)
	ctx := context.Background()
	if err := l.Record(ctx, Entry{Admin: "x"}); err == nil {
		t.Fatal("entry without action")
	}
	same := time.Now()
	l.now = func() time.Time { return same } // same instant: keys must still differ
	for i := range 7 {
		admin := "alice"
		if i%2 == 1 {
			admin = "bob"
		}
		action := "connector.create"
		if i == 6 {
			action = "connectors.x"
		}
		if err := l.Record(ctx, Entry{Admin: admin, Action: action, Object: fmt.Sprint("c", i)}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := l.List(ctx, Query{Limit: 3})
	if err != nil || len(p.Entries) != 3 || p.Next == "" || p.Entries[0].Object != "c6" || p.Entries[2].Object != "c4" {
		t.Fatalf("page 1: %+v %v", p, err)
	}
	p, _ = l.List(ctx, Query{Limit: 3, After: p.Next})
	if len(p.Entries) != 3 || p.Entries[0].Object != "c3" {
		t.Fatalf("page 2: %+v", p)
	}
	p, _ = l.List(ctx, Query{Limit: 3, After: p.Next})
	if len(p.Entries) != 1 || p.Next != "" || p.Entries[0].Object != "c0" {
		t.Fatalf("page 3: %+v", p)
	}
	p, _ = l.List(ctx, Query{Admin: "bob"})
	if len(p.Entries) != 3 {
		t.Fatalf("bob: %+v", p)
	}
	p, _ = l.List(ctx, Query{Action: "connector"})
	if len(p.Entries) != 6 {
		t.Fatalf("action prefix: %d", len(p.Entries))
	}
	for i := 1; i < len(p.Entries); i++ {
		if !p.Entries[i].Time.Before(p.Entries[i-1].Time) {
			t.Fatal("not newest first")
		}
	}
}
