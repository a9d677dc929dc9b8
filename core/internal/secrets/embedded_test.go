package secrets

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEmbedded(t *testing.T) {
	dir := t.TempDir()
	file, key := filepath.Join(dir, "secrets.json"), filepath.Join(dir, "secrets.key")
	s, err := OpenEmbedded(file, key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const pw = "Adm1n-Pa55w0rd-Very-Secret"
	if err := s.Put(ctx, ConnectorAdmin("old/mail"), pw); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, MailboxSource("m1"), "user-secret-1"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, ConnectorAdmin("old/mail")); err != nil || v != pw {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if _, err := s.Get(ctx, ConnectorAdmin("none")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing secret: %v", err)
	}
	// Rotation keeps versions.
	s.Put(ctx, ConnectorAdmin("old/mail"), pw+"-2")
	if s.Versions(ConnectorAdmin("old/mail")) != 2 {
		t.Fatalf("versions: %d", s.Versions(ConnectorAdmin("old/mail")))
	}
	// Nothing readable on disk, the key file is 0600.
	raw, _ := os.ReadFile(file)
	if bytes.Contains(raw, []byte("Very-Secret")) || bytes.Contains(raw, []byte("user-secret")) {
		t.Fatal("plaintext in the secrets file")
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode())
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", fi.Mode())
	}
	// Reopen: the values are there.
	s2, err := OpenEmbedded(file, key)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s2.Get(ctx, ConnectorAdmin("old/mail")); v != pw+"-2" {
		t.Fatalf("after reopen: %q", v)
	}
	list, _ := s2.List(ctx, "connectors/")
	if len(list) != 1 || !strings.HasPrefix(list[0], "connectors/old%2Fmail/") {
		t.Fatalf("List: %v", list)
	}
	if err := s2.DeletePrefix(ctx, ConnectorPrefix("old/mail")); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get(ctx, ConnectorAdmin("old/mail")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after DeletePrefix: %v", err)
	}
	if v, _ := s2.Get(ctx, MailboxSource("m1")); v != "user-secret-1" {
		t.Fatal("DeletePrefix removed another connector's secret")
	}
	// A value moved to another path does not decrypt.
	s2.data.Secrets["keys/x"] = s2.data.Secrets[MailboxSource("m1")]
	if _, err := s2.Get(ctx, "keys/x"); err == nil {
		t.Fatal("a sealed value decrypted under another path")
	}
	// A wrong key is refused at open; a key readable by others too.
	os.WriteFile(filepath.Join(dir, "other.key"), bytes.Repeat([]byte{7}, 32), 0o600)
	if _, err := OpenEmbedded(file, filepath.Join(dir, "other.key")); err == nil || !strings.Contains(err.Error(), "wrong key") {
		t.Fatalf("wrong key: %v", err)
	}
	os.Chmod(key, 0o644)
	if _, err := OpenEmbedded(file, key); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("world-readable key: %v", err)
	}
	for _, bad := range []string{"", "/abs", "a//b", "a/../b", "a/"} {
		if s.Put(ctx, bad, "x") == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
	if h := s.Health(ctx); !h.OK || h.Backend != "embedded" {
		t.Fatalf("health %+v", h)
	}
}
