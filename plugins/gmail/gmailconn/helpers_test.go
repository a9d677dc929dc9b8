package gmailconn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmail/tern/plugins/gmail/gmailconn"
	"github.com/ternmail/tern/plugins/gmail/gmailtest"
	"github.com/ternmail/tern/sdk/connector"
)

// virtualClock drives the connector's limiter and backoff on the
// emulator's virtual clock: sleeping advances it, so quota windows and
// retry delays pass instantly and exactly as the emulator counts them.
type virtualClock struct {
	srv    *gmailtest.Server
	slept  atomic.Int64 // total virtual time slept
	sleeps chan time.Duration
}

func (c *virtualClock) Now() time.Time { return c.srv.Clock().Now() }

func (c *virtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.slept.Add(int64(d))
		c.srv.Advance(d)
		if c.sleeps != nil {
			select {
			case c.sleeps <- d:
			default:
			}
		}
	}
	return nil
}

// env is an emulator with a delegated service account and a connector
// on its clock.
type env struct {
	srv   *gmailtest.Server
	sa    *gmailtest.ServiceAccount
	clock *virtualClock
	conn  *gmailconn.Connector
	n     atomic.Int64
}

func newEnv(t *testing.T, opts ...gmailtest.Option) *env {
	t.Helper()
	srv := gmailtest.New(t, opts...)
	e := &env{srv: srv, sa: srv.AddServiceAccount(gmailtest.ServiceAccountConfig{})}
	e.clock = &virtualClock{srv: srv}
	e.conn = gmailconn.New(&gmailconn.Options{Logger: testLogger(), Clock: e.clock, Jitter: func() float64 { return 0.5 }})
	return e
}

func testLogger() *slog.Logger {
	if os.Getenv("GMAILCONN_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: connector.LevelTrace}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// settings returns the connector settings pointing at the emulator, with
// extra keys merged in.
func (e *env) settings(extra map[string]any) json.RawMessage {
	m := map[string]any{"endpoint": e.srv.Endpoint(), "directory_endpoint": e.srv.Endpoint()}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// user adds a fresh mailbox.
func (e *env) user(name string) string {
	email := fmt.Sprintf("%s%d@example.com", name, e.n.Add(1))
	e.srv.AddUser(email)
	return email
}

// request opens user's mailbox with the service account key as the
// magic password.
func (e *env) request(user string, extra map[string]any) *connector.OpenRequest {
	return &connector.OpenRequest{
		Settings:   e.settings(extra),
		User:       user,
		Credential: connector.Credential{Mode: connector.ModePassword, Username: user, Secret: string(e.sa.KeyJSON())},
	}
}

func (e *env) target(t *testing.T, user string, extra map[string]any) connector.Target {
	t.Helper()
	tg, err := e.conn.OpenTarget(context.Background(), e.request(user, extra))
	if err != nil {
		t.Fatalf("OpenTarget(%s): %v", user, err)
	}
	t.Cleanup(func() { tg.Close(context.Background()) })
	return tg
}

func (e *env) source(t *testing.T, user string, extra map[string]any) connector.Source {
	t.Helper()
	s, err := e.conn.OpenSource(context.Background(), e.request(user, extra))
	if err != nil {
		t.Fatalf("OpenSource(%s): %v", user, err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}
