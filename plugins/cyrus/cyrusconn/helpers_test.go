package cyrusconn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/sdk/connector"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// testLogger traces with TERN_IMAP_TRACE set, else discards.
func testLogger() *slog.Logger {
	if os.Getenv("TERN_IMAP_TRACE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: connector.LevelTraceData}))
	}
	return slog.New(slog.DiscardHandler)
}

// settings reaches inst with the test CA: implicit TLS, or STARTTLS on
// the plain port.
func settings(inst testserver.Instance, starttls bool) json.RawMessage {
	s := map[string]any{"host": inst.Host, "port": inst.TLSPort, "ca_file": testserver.CAFile()}
	if starttls {
		s["port"], s["tls"] = inst.Port, "starttls"
	}
	b, _ := json.Marshal(s)
	return b
}

// adminRequest opens user's mailbox on a Cyrus instance as the proxy
// administrator, with SASL PLAIN authzid.
func adminRequest(inst testserver.Instance, user string) *connector.OpenRequest {
	return &connector.OpenRequest{
		Settings: settings(inst, false),
		User:     user,
		Credential: connector.Credential{Mode: connector.ModeAdminAuthzid,
			AuthUser: testserver.CyrusAdmin, Secret: testserver.CyrusAdminPassword},
	}
}

// newCyrusUser adds a fresh user to a Cyrus instance.
func newCyrusUser(t *testing.T, inst testserver.Instance, prefix string) string {
	t.Helper()
	u := testserver.User(t, prefix)
	testserver.AddCyrusUser(t, inst, u, "own-secret")
	return u
}

func has(notes []string, s string) bool {
	return slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, s) })
}

func format(rep *connector.TestReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s: %s\n  TLS: %s\n  product %s; SASL %v\n", rep.Server.Address, rep.Server.Greeting, rep.Server.TLS, rep.Server.Product, rep.Server.AuthMechanisms)
	for _, a := range rep.Attempts {
		fmt.Fprintf(&b, "  %-13s %s ok=%v", a.Mode, a.Login, a.OK)
		if a.Error != "" {
			fmt.Fprintf(&b, " [%s] %s", a.Kind, a.Error)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  recommended %q\n", rep.Recommended)
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}
