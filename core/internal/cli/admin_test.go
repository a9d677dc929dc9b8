package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ternmail/tern/core/internal/admins"
	"github.com/ternmail/tern/core/internal/store"
)

func TestAdminCommands(t *testing.T) {
	dir := t.TempDir()
	run := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		Stdin = strings.NewReader(stdin)
		t.Cleanup(func() { Stdin = os.Stdin })
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"admin"}, append(args, "--state", dir)...), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, e := run("short\n", "create", "ops"); code != 1 || !strings.Contains(e, "at least 12") {
		t.Fatalf("short password: %d %s", code, e)
	}
	if code, out, e := run("a-long-enough-pw\n", "create", "ops"); code != 0 || !strings.Contains(out, "created") {
		t.Fatalf("create: %d %s %s", code, out, e)
	}
	if code, _, e := run("a-long-enough-pw\n", "create", "ops"); code != 1 || !strings.Contains(e, "exists") {
		t.Fatalf("create twice: %d %s", code, e)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("another-long-pw\n"), 0o600)
	if code, out, e := run("", "reset-password", "ops", "--password-file", pwFile); code != 0 || !strings.Contains(out, "reset") {
		t.Fatalf("reset: %d %s %s", code, out, e)
	}
	if code, _, e := run("", "reset-password", "nobody", "--password-file", pwFile); code != 1 || !strings.Contains(e, "no such administrator") {
		t.Fatalf("reset unknown: %d %s", code, e)
	}
	if code, out, _ := run("", "list"); code != 0 || !strings.Contains(out, "ops") || !strings.Contains(out, "must change password") {
		t.Fatalf("list: %d %s", code, out)
	}
	db, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// While the daemon holds the store, the command says what to do.
	if code, _, e := run("", "list"); code != 1 || !strings.Contains(e, `stop "tern serve" first`) {
		t.Fatalf("store in use: %d %s", code, e)
	}
	a, _, err := admins.New(db).Authenticate(context.Background(), "ops", "another-long-pw")
	if err != nil || !a.MustChange {
		t.Fatalf("login with the reset password: %+v %v", a, err)
	}
	db.Close()
}
