// Package testkit holds what core's package tests share: a state store and
// a secrets store (the embedded backend) in a test's temporary directory.
// Only tests import it.
package testkit

import (
	"path/filepath"
	"testing"

	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/store"
)

// Stores opens a state store (writes not synced: tests need no
// durability) and an embedded secrets store in t's temporary directory;
// the state store is closed when the test ends.
func Stores(t testing.TB) (*store.DB, secrets.Store) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sec, err := secrets.OpenEmbedded(filepath.Join(dir, "secrets.json"), filepath.Join(dir, "secrets.key"))
	if err != nil {
		t.Fatal(err)
	}
	return db, sec
}
