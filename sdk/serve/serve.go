// Package serve runs a connector as a Tern plugin. A connector's main is
// one call, with any connector.Connector:
//
//	func main() {
//		serve.Run(myconn.New(serve.Logger()))
//	}
//
// Tern's own plugins do the same (plugins/cyrus/main.go:
// serve.Run(cyrusconn.New(serve.Logger()))).
//
// Run speaks go-plugin's handshake and the gRPC connector protocol on the
// socket the host asks for. Run with the argument "describe", the binary
// prints its description as JSON (as packer plugins do), so an admin can
// inspect a connector without a host. Run by hand without a host, it says
// that it is a plugin and exits.
//
// # Logging
//
// [Logger] writes JSON lines to stderr in the layout go-plugin's host
// parses ("@level", "@message", "@timestamp"), so the host re-levels them
// into core's log. The level comes from TERN_PLUGIN_LOG_LEVEL, which the
// host sets (trace, debug, info, warn, error).
//
// # Parent watch
//
// A plugin whose host died (even by kill -9) exits within a second instead
// of lingering with open connections.
package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/internal/rpcplugin"
)

// LogLevelEnv is the environment variable with the plugin's log level.
const LogLevelEnv = "TERN_PLUGIN_LOG_LEVEL"

// CPUProfileEnv names a directory: when set, the plugin writes a CPU
// profile there until it is stopped (performance work only).
const CPUProfileEnv = "TERN_PLUGIN_CPUPROFILE"

var (
	loggerOnce sync.Once
	logger     *slog.Logger
)

// ParseLevel parses a level name: trace, tracedata, debug, info, warn,
// error. Unknown names give info.
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "tracedata":
		return connector.LevelTraceData
	case "trace":
		return connector.LevelTrace
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Logger returns the plugin's logger, which writes to stderr for the host.
func Logger() *slog.Logger {
	loggerOnce.Do(func() {
		logger = slog.New(newHCLogHandler(os.Stderr, ParseLevel(os.Getenv(LogLevelEnv))))
	})
	return logger
}

var idPattern = regexp.MustCompile(`^[a-z0-9_]+$`)

// Validate checks a description for the mistakes that would make a host
// refuse the connector.
func Validate(d *connector.Description) error {
	if !idPattern.MatchString(d.ID) {
		return fmt.Errorf("connector id %q must match %s", d.ID, idPattern)
	}
	if d.ProtocolVersion != connector.ProtocolVersion {
		return fmt.Errorf("connector %s speaks protocol %d, this SDK speaks %d", d.ID, d.ProtocolVersion, connector.ProtocolVersion)
	}
	if len(d.Roles) == 0 {
		return fmt.Errorf("connector %s declares no role", d.ID)
	}
	for _, r := range d.Roles {
		if r != connector.RoleSource && r != connector.RoleTarget {
			return fmt.Errorf("connector %s declares unknown role %q", d.ID, r)
		}
	}
	var schema map[string]any
	if err := json.Unmarshal(d.SettingsSchema, &schema); err != nil {
		return fmt.Errorf("connector %s: settings schema is not a JSON object: %v", d.ID, err)
	}
	if schema["type"] != "object" {
		return fmt.Errorf("connector %s: settings schema must describe an object", d.ID)
	}
	caps := d.Capabilities
	if !d.HasRole(connector.RoleTarget) && (caps.Lookup || caps.FlagSync || caps.Keywords) {
		return fmt.Errorf("connector %s announces target capabilities without the target role", d.ID)
	}
	if !d.HasRole(connector.RoleSource) && caps.DeltaCheckpoints {
		return fmt.Errorf("connector %s announces delta checkpoints without the source role", d.ID)
	}
	return nil
}

// CheckCapabilities checks that c implements the connector-level
// interfaces its description announces.
func CheckCapabilities(c connector.Connector, d *connector.Description) error {
	if _, ok := c.(connector.ConnectionTester); d.Capabilities.TestConnection && !ok {
		return fmt.Errorf("connector %s announces TestConnection but does not implement connector.ConnectionTester", d.ID)
	}
	if _, ok := c.(connector.UserLister); d.Capabilities.ListUsers && !ok {
		return fmt.Errorf("connector %s announces ListUsers but does not implement connector.UserLister", d.ID)
	}
	return nil
}

// Run serves c as a plugin and does not return until the host ends the
// plugin. It panics if c's description is invalid, so that a broken
// connector fails in its own tests rather than in a migration.
func Run(c connector.Connector) {
	d, err := c.Describe(context.Background())
	if err != nil {
		panic(fmt.Sprintf("serve: describe: %v", err))
	}
	if err := Validate(d); err != nil {
		panic("serve: " + err.Error())
	}
	if err := CheckCapabilities(c, d); err != nil {
		panic("serve: " + err.Error())
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "describe":
			printDescription(d)
			return
		case "version", "--version", "-version":
			fmt.Printf("tern-connector-%s %s (protocol %d.%d)\n", d.ID, d.Version, connector.ProtocolVersion, connector.ProtocolVersionMinor)
			return
		}
	}
	watchParent()
	if dir := os.Getenv(CPUProfileEnv); dir != "" {
		if f, err := os.Create(filepath.Join(dir, fmt.Sprintf("tern-connector-%s-%d.pprof", d.ID, os.Getpid()))); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	sets := rpcplugin.PluginSets(c)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  rpcplugin.Handshake,
		VersionedPlugins: sets,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, rpcplugin.ServerOptions()...)...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       "tern-connector-" + d.ID,
			Output:     os.Stderr,
			JSONFormat: true,
			Level:      hclog.LevelFromString(levelName(ParseLevel(os.Getenv(LogLevelEnv)))),
		}),
	})
	for _, set := range sets {
		if p, ok := set[rpcplugin.PluginName].(*rpcplugin.GRPCPlugin); ok {
			p.CloseSessions()
		}
	}
}

func printDescription(d *connector.Description) {
	out := struct {
		ID              string                 `json:"id"`
		Version         string                 `json:"version"`
		ProtocolVersion int                    `json:"protocol_version"`
		Summary         string                 `json:"summary"`
		Roles           []connector.Role       `json:"roles"`
		Capabilities    connector.Capabilities `json:"capabilities"`
		SettingsSchema  json.RawMessage        `json:"settings_schema"`
	}{d.ID, d.Version, d.ProtocolVersion, d.Summary, d.Roles, d.Capabilities, d.SettingsSchema}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(b))
}

// watchParent exits the process when its parent goes away, so a plugin
// never outlives a host that was killed.
func watchParent() {
	ppid := os.Getppid()
	if ppid <= 1 {
		return
	}
	go func() {
		for {
			time.Sleep(500 * time.Millisecond)
			if os.Getppid() != ppid {
				os.Exit(2)
			}
		}
	}()
}
