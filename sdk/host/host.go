// Package host starts connector plugins and gives core a
// connector.Connector for each. It is the host-side half of the protocol;
// the serve package is the plugin side.
//
// A plugin is started with [Start] from the path of its binary. With
// [WithChecksum] the binary is verified against a SHA-256 before it runs
// (go-plugin's SecureConfig), so a binary swapped after it was pinned is
// refused. The plugin gets a minimal environment (not the host's, which may
// hold secrets), its log lines arrive in the host's *slog.Logger at their
// own level, and on Linux it is killed if the host dies.
package host

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/internal/rpcplugin"
	"github.com/ternmail/tern/sdk/serve"
)

// Plugin is a running connector plugin.
type Plugin struct {
	path   string
	client *plugin.Client
	conn   connector.Connector
}

type options struct {
	checksum []byte
	logger   *slog.Logger
	level    slog.Level
	env      []string
	timeout  time.Duration
}

// Option configures Start.
type Option func(*options)

// WithChecksum pins the binary: Start refuses it unless its SHA-256 equals
// sum.
func WithChecksum(sum []byte) Option { return func(o *options) { o.checksum = sum } }

// WithLogger sets the logger that receives the plugin's log lines and the
// host's own messages about it.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithLogLevel sets the plugin's log level.
func WithLogLevel(l slog.Level) Option { return func(o *options) { o.level = l } }

// WithEnv adds KEY=VALUE entries to the plugin's environment.
func WithEnv(kv ...string) Option { return func(o *options) { o.env = append(o.env, kv...) } }

// WithStartTimeout bounds how long the handshake may take.
func WithStartTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// ErrChecksum is returned when a pinned binary does not match its pin.
var ErrChecksum = errors.New("plugin binary does not match its pinned SHA-256")

// Start launches the plugin binary at path and completes the handshake.
func Start(path string, opts ...Option) (*Plugin, error) {
	o := options{level: slog.LevelInfo, timeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	cmd := exec.Command(path)
	cmd.Env = append(minimalEnv(), serve.LogLevelEnv+"="+levelName(o.level))
	cmd.Env = append(cmd.Env, o.env...)
	setParentDeathSignal(cmd)
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  rpcplugin.Handshake,
		VersionedPlugins: rpcplugin.PluginSets(nil),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		GRPCDialOptions:  rpcplugin.DialOptions(),
		StartTimeout:     o.timeout,
		Logger:           newHCLogger(o.logger, o.level),
	}
	if o.checksum != nil {
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: o.checksum, Hash: sha256.New()}
	}
	client := plugin.NewClient(cfg)
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("start %s: %w", filepath.Base(path), ErrChecksum)
		}
		return nil, fmt.Errorf("start %s: %w", filepath.Base(path), err)
	}
	raw, err := rpc.Dispense(rpcplugin.PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(path), err)
	}
	conn, ok := raw.(connector.Connector)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("start %s: plugin is not a connector", filepath.Base(path))
	}
	return &Plugin{path: path, client: client, conn: conn}, nil
}

// Connector returns the plugin's connector. Calls fail with
// connector.ErrUnavailable once the plugin has exited.
func (p *Plugin) Connector() connector.Connector { return p.conn }

// Path returns the plugin's binary path.
func (p *Plugin) Path() string { return p.path }

// Exited reports whether the plugin process has exited.
func (p *Plugin) Exited() bool { return p.client.Exited() }

// Pid returns the plugin's process ID, 0 if unknown.
func (p *Plugin) Pid() int {
	if rc := p.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// ProtocolVersion returns the protocol version negotiated with the plugin.
func (p *Plugin) ProtocolVersion() int { return p.client.NegotiatedVersion() }

// Kill ends the plugin: gracefully first, then by force.
func (p *Plugin) Kill() { p.client.Kill() }

// Describe starts the plugin at path, asks for its description and stops
// it again.
func Describe(ctx context.Context, path string, opts ...Option) (*connector.Description, error) {
	p, err := Start(path, opts...)
	if err != nil {
		return nil, err
	}
	defer p.Kill()
	return p.Connector().Describe(ctx)
}

// minimalEnv is the environment a plugin gets: enough to run, none of the
// host's variables (which may name secrets).
func minimalEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG", "GOCOVERDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", serve.CPUProfileEnv} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func levelName(l slog.Level) string {
	switch {
	case l <= connector.LevelTraceData:
		return "tracedata"
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
