package gmailconn

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"

	"github.com/ternmail/tern/sdk/connector"
)

// Version is the connector's version.
const Version = "0.1.0"

// Options tune a Connector; the zero value is for production.
type Options struct {
	// Logger receives the connector's logs; nil discards them.
	Logger *slog.Logger
	// Clock is the time of the quota limiter and the retry backoff; nil
	// is real time. Tests use an emulator's virtual clock.
	Clock Clock
	// Jitter returns a number in [0, 1) for the backoff's jitter; nil is
	// math/rand.
	Jitter func() float64
}

// Connector is the Google Workspace connector. It keeps, per process, a
// token source per mailbox and scope and a quota limiter per mailbox;
// nothing durable.
type Connector struct {
	log    *slog.Logger
	clock  Clock
	jitter func() float64
	tokens tokens
	quotas quotas
}

// New returns a connector.
func New(o *Options) *Connector {
	if o == nil {
		o = &Options{}
	}
	c := &Connector{log: o.Logger, clock: o.Clock, jitter: o.Jitter}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.clock == nil {
		c.clock = realClock{}
	}
	return c
}

var (
	_ connector.Connector        = (*Connector)(nil)
	_ connector.ConnectionTester = (*Connector)(nil)
	_ connector.UserLister       = (*Connector)(nil)
)

// Describe implements connector.Connector.
func (c *Connector) Describe(context.Context) (*connector.Description, error) {
	return &connector.Description{
		ID:              "gmail",
		Version:         Version,
		ProtocolVersion: connector.ProtocolVersion,
		Summary:         "Google Workspace (Gmail API): imports with users.messages.import, folders as labels; reads Gmail as a source. The password is the service account's JSON key (domain-wide delegation).",
		Roles:           []connector.Role{connector.RoleSource, connector.RoleTarget},
		Capabilities: connector.Capabilities{
			DeltaCheckpoints: true,
			Lookup:           true,
			FlagSync:         true,
			ListUsers:        true,
			TestConnection:   true,
			CredentialModes:  []string{connector.ModePassword},
			MaxMessageSize:   MaxMessageSize,
		},
		SettingsSchema: json.RawMessage(schema),
	}, nil
}

// subjectOf returns the mailbox to impersonate: the credential's user
// name, else the request's user; it must be an address.
func subjectOf(req *connector.OpenRequest) (string, error) {
	switch req.Credential.Mode {
	case "", connector.ModePassword:
	default:
		return "", connector.Errorf(connector.KindInvalid, "gmail: credential mode %q is not supported: give the service account key as the connector's magic password", req.Credential.Mode)
	}
	u := req.Credential.Username
	if u == "" || !strings.Contains(u, "@") && strings.Contains(req.User, "@") {
		u = req.User
	}
	if !strings.Contains(u, "@") {
		return "", connector.Errorf(connector.KindInvalid, "gmail: the user %q is not an e-mail address of the Workspace domain", u)
	}
	return u, nil
}

func (c *Connector) open(ctx context.Context, req *connector.OpenRequest, scope string) (*api, error) {
	set, err := parseSettings(req.Settings)
	if err != nil {
		return nil, err
	}
	subject, err := subjectOf(req)
	if err != nil {
		return nil, err
	}
	return c.newAPI(ctx, set, subject, req.Credential.Secret, scope)
}

// OpenSource implements connector.Connector with scope gmail.readonly.
func (c *Connector) OpenSource(ctx context.Context, req *connector.OpenRequest) (connector.Source, error) {
	a, err := c.open(ctx, req, ScopeSource)
	if err != nil {
		return nil, err
	}
	s := &source{a: a}
	if err := a.loadLabels(ctx, &s.labels); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenTarget implements connector.Connector with scope gmail.modify.
func (c *Connector) OpenTarget(ctx context.Context, req *connector.OpenRequest) (connector.Target, error) {
	a, err := c.open(ctx, req, ScopeTarget)
	if err != nil {
		return nil, err
	}
	t := &target{a: a, fps: map[string]candidate{}}
	if err := a.loadLabels(ctx, &t.labels); err != nil {
		return nil, err
	}
	return t, nil
}
