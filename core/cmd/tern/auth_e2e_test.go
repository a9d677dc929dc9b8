package main_test

// The ways of logging in to a source (issue: source authentication modes),
// through the tern binary against real servers: an administrator account
// (Dovecot master user as "user*admin" and as SASL PLAIN authzid, found by
// the connection test or chosen), the magic password, per-user passwords,
// and the failures: a wrong administrator password, a wrong magic
// password, a user that does not exist — each with its own clear reason,
// no password anywhere, and no hammering.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
)

func randomPassword() string {
	var b [9]byte
	rand.Read(b[:])
	return "Pw-" + hex.EncodeToString(b[:])
}

// masterHarness migrates from the Dovecot "master" instance.
func masterHarness(t *testing.T) *harness {
	h := newHarness(t)
	m := testserver.DovecotMaster
	h.source = &m
	h.env = append(h.env, "MASTER_PW="+testserver.MasterPassword())
	return h
}

func seedMasterUser(t *testing.T, prefix string) (user, password string) {
	user, password = testserver.User(t, prefix), randomPassword()
	testserver.AddUser(t, testserver.DovecotMaster, user, password)
	testserver.SeedMailbox(t, testserver.DovecotMaster, user, corpus.Hard())
	return user, password
}

func requireSameFrom(t *testing.T, src testserver.Instance, srcUser, dstUser string) {
	t.Helper()
	a := testserver.Snapshot(t, src, srcUser)
	b := testserver.Snapshot(t, testserver.DovecotDst, dstUser)
	if diff := testserver.Compare(a, b, nil); len(diff) > 0 {
		t.Fatalf("target differs from source:\n%s", strings.Join(diff, "\n"))
	}
	if a.Count() == 0 {
		t.Fatal("empty source")
	}
}

func TestAdministratorModes(t *testing.T) {
	for _, method := range []string{"master", "authzid", "auto"} {
		t.Run(method, func(t *testing.T) {
			h := masterHarness(t)
			user, _ := seedMasterUser(t, "adm-"+method)
			dst := testserver.User(t, "adm-dst")
			r := h.migrate("--user", user, "--target-user", dst,
				"--source-admin-user", testserver.DovecotMaster.MasterUser, "--source-admin-password-env", "MASTER_PW", "--source-admin-method", method)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if s := r.summaries(t)[0]; s.Totals.Copied != int64(hardCount()) {
				t.Fatalf("copied %d", s.Totals.Copied)
			}
			if method == "auto" && !strings.Contains(r.stderr, "Recommended:") {
				t.Fatalf("auto did not run the connection test:\n%s", r.stderr)
			}
			requireSameFrom(t, testserver.DovecotMaster, user, dst)
		})
	}
}

func TestMagicPassword(t *testing.T) {
	h := newHarness(t)
	user, dst := testserver.User(t, "magic-src"), testserver.User(t, "magic-dst")
	testserver.SeedMailbox(t, testserver.DovecotSrc, user, corpus.Hard())
	// No user password at all: only the administrator (magic) password.
	h.env = []string{"TERN_SOURCE_ADMIN_PASSWORD=" + testserver.Password(), "TERN_TARGET_PASSWORD=" + testserver.Password()}
	s := h.mustMigrate("--user", user, "--target-user", dst)
	if s.Totals.Copied != int64(hardCount()) {
		t.Fatalf("copied %d", s.Totals.Copied)
	}
	requireSame(t, user, dst)
}

func TestPerUserPasswords(t *testing.T) {
	h := masterHarness(t)
	a, apw := seedMasterUser(t, "pu-a")
	b, bpw := seedMasterUser(t, "pu-b")
	da, db := testserver.User(t, "pu-da"), testserver.User(t, "pu-db")
	csv := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(csv, []byte(fmt.Sprintf("source_user,target_user,source_password\n%s,%s,%s\n%s,%s,%s\n", a, da, apw, b, db, bpw)), 0o600)
	r := h.migrate("--users", csv)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	requireSameFrom(t, testserver.DovecotMaster, a, da)
	requireSameFrom(t, testserver.DovecotMaster, b, db)
	if strings.Contains(r.stdout+r.stderr, apw) || strings.Contains(r.stdout+r.stderr, bpw) {
		t.Fatal("a password appears in tern's output")
	}
}

func TestLoginFailures(t *testing.T) {
	const wrong = "Wrong-Admin-Pw-42"
	t.Run("wrong administrator password", func(t *testing.T) {
		h := masterHarness(t)
		h.env = append(h.env, "BAD_PW="+wrong)
		var lines []string
		for i := range 6 {
			u := testserver.User(t, fmt.Sprintf("wa%d", i))
			testserver.AddUser(t, testserver.DovecotMaster, u, randomPassword())
			lines = append(lines, u+","+u)
		}
		csv := filepath.Join(t.TempDir(), "users.csv")
		os.WriteFile(csv, []byte("source_user,target_user\n"+strings.Join(lines, "\n")+"\n"), 0o600)
		r := h.migrate("--users", csv, "--concurrency", "1", "--log-level", "trace",
			"--source-admin-user", "admin", "--source-admin-password-env", "BAD_PW", "--source-admin-method", "master")
		if r.code != 1 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		paused := 0
		for _, s := range r.summaries(t) {
			if s.Status != "failed" || !strings.Contains(s.Error, "administrator mode") || !strings.Contains(s.Error, "admin") {
				t.Fatalf("summary %+v", s)
			}
			if strings.Contains(s.Error, "paused") {
				paused++
			}
		}
		// Three refusals reach the server; the other users fail at once.
		if paused != 3 {
			t.Fatalf("%d users were stopped by the guard, want 3:\n%s", paused, r.stdout)
		}
		if strings.Contains(r.stdout+r.stderr, wrong) {
			t.Fatal("the password appears in tern's output")
		}
	})
	t.Run("wrong magic password", func(t *testing.T) {
		h := newHarness(t)
		u := testserver.User(t, "wm")
		h.env = []string{"TERN_SOURCE_ADMIN_PASSWORD=" + wrong, "TERN_TARGET_PASSWORD=" + testserver.Password()}
		r := h.migrate("--user", u)
		s := r.summaries(t)[0]
		if r.code != 1 || s.Status != "failed" || !strings.Contains(s.Error, "magic password") || !strings.Contains(s.Error, u) {
			t.Fatalf("exit %d summary %+v", r.code, s)
		}
		if strings.Contains(r.stdout+r.stderr, wrong) {
			t.Fatal("the password appears in tern's output")
		}
	})
	t.Run("user that does not exist", func(t *testing.T) {
		h := masterHarness(t)
		ghost := testserver.User(t, "ghost")
		r := h.migrate("--user", ghost, "--source-admin-user", "admin", "--source-admin-password-env", "MASTER_PW", "--source-admin-method", "master")
		s := r.summaries(t)[0]
		if r.code != 1 || s.Status != "failed" || !strings.Contains(s.Error, ghost) {
			t.Fatalf("exit %d summary %+v", r.code, s)
		}
		t.Logf("nonexistent user: %s", s.Error)
	})
}

func TestConnectorsCommands(t *testing.T) {
	h := masterHarness(t)
	user, _ := seedMasterUser(t, "cc")
	tern := func(args ...string) (string, int) {
		cmd := h.commandArgs(args...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(interface{ ExitCode() int }); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	m := testserver.DovecotMaster
	out, code := tern("connectors", "add", "oldmail", "--plugin", "imap", "--host", m.Host, "--port", fmt.Sprint(m.Port), "--tls", "starttls", "--ca-file", testserver.CAFile(),
		"--admin-user", m.MasterUser, "--admin-password-env", "MASTER_PW")
	if code != 0 {
		t.Fatalf("add: %s", out)
	}
	out, code = tern("connectors", "test", "oldmail", "--sample-user", user)
	if code != 0 || !strings.Contains(out, "Greeting:") || !strings.Contains(out, "Recommended:  admin_") {
		t.Fatalf("test: exit %d\n%s", code, out)
	}
	t.Logf("connection test of the Dovecot master-user server:\n%s", out)
	out, _ = tern("connectors", "show", "oldmail")
	if !strings.Contains(out, "admin_") || strings.Contains(out, testserver.MasterPassword()) {
		t.Fatalf("show: %s", out)
	}
	// A migration through the stored connector uses the detected method.
	dst := testserver.User(t, "cc-dst")
	r := h.migrate("--source-connector", "oldmail", "--user", user, "--target-user", dst)
	if r.code != 0 {
		t.Fatalf("migrate via the stored connector: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	requireSameFrom(t, m, user, dst)
}
