package main_test

// Real Cyrus IMAP as a source, through the tern binary: a stored cyrus
// connector, its connection test, automated user retrieval, and a
// migration in administrator mode (SASL PLAIN authzid); an administrator
// that may not act for users gets the self-service advice.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
)

func TestCyrusAdministratorAndDiscovery(t *testing.T) {
	for _, inst := range testserver.Cyruses {
		t.Run(inst.Name, func(t *testing.T) {
			h := newHarness(t)
			h.env = append(h.env, "CYRUS_ADMIN_PW="+testserver.CyrusAdminPassword, "CYRUS_NOPROXY_PW="+testserver.CyrusNoProxyAdminPassword)
			tern := func(args ...string) (string, int) {
				out, err := h.commandArgs(args...).CombinedOutput()
				code := 0
				if ee, ok := err.(interface{ ExitCode() int }); ok {
					code = ee.ExitCode()
				}
				return string(out), code
			}
			user := testserver.User(t, "cy")
			other := testserver.User(t, "cy-other")
			testserver.AddCyrusUser(t, inst, user, randomPassword())
			testserver.AddCyrusUser(t, inst, other, randomPassword())
			kept, refused := testserver.CyrusAccepts(corpus.Hard())
			testserver.SeedMailbox(t, inst, user, kept)
			t.Logf("%d hard-corpus messages Cyrus refuses on APPEND (bare LF, headers without line end)", len(refused))

			add := func(name, admin, env string) {
				out, code := tern("connectors", "add", name, "--plugin", "cyrus", "--host", inst.Host, "--port", fmt.Sprint(inst.Port), "--tls", "starttls",
					"--ca-file", testserver.CAFile(), "--admin-user", admin, "--admin-password-env", env)
				if code != 0 {
					t.Fatalf("add %s: %s", name, out)
				}
			}
			add("cyrus", testserver.CyrusAdmin, "CYRUS_ADMIN_PW")
			out, code := tern("connectors", "test", "cyrus", "--sample-user", user)
			if code != 0 || !strings.Contains(out, "Recommended:  admin_authzid") {
				t.Fatalf("connection test: exit %d\n%s", code, out)
			}
			t.Logf("connection test, %s as cyrusadmin:\n%s", inst.Name, out)

			// Automated user retrieval.
			out, code = tern("users", "discover", "cyrus", "--json")
			var users []struct{ Login string }
			if code != 0 || json.Unmarshal([]byte(out), &users) != nil {
				t.Fatalf("discover: exit %d\n%s", code, out)
			}
			var logins []string
			for _, u := range users {
				logins = append(logins, u.Login)
			}
			if !slices.Contains(logins, user) || !slices.Contains(logins, other) {
				t.Fatalf("discovered %v, want %s and %s among them", logins, user, other)
			}

			// Migrate in administrator mode through the stored connector.
			dst := testserver.User(t, "cy-dst")
			r := h.migrate("--source-connector", "cyrus", "--user", user, "--target-user", dst)
			if r.code != 0 {
				t.Fatalf("migrate: %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			requireSameFrom(t, inst, user, dst)

			// An administrator that may not act for users: the test says
			// self-service is the way, and a migration fails clearly.
			add("cyrus-noproxy", testserver.CyrusNoProxyAdmin, "CYRUS_NOPROXY_PW")
			out, code = tern("connectors", "test", "cyrus-noproxy", "--sample-user", user)
			if code == 0 || !strings.Contains(strings.ToLower(out), "self-service") {
				t.Fatalf("connection test of an administrator that may not act for users: exit %d\n%s", code, out)
			}
			t.Logf("connection test, %s as noproxyadmin:\n%s", inst.Name, out)
			r = h.migrate("--source-connector", "cyrus-noproxy", "--user", user, "--target-user", testserver.User(t, "cy-np"))
			if r.code == 0 || !strings.Contains(strings.ToLower(r.stderr+r.stdout), "self-service") {
				t.Fatalf("migration with noproxyadmin: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}
