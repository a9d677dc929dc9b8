package connectortest

import (
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/internal/rpcplugin"
)

// Pipe serves c over an in-process gRPC connection with the plugin
// protocol and returns the host's side of it: a connector.Connector whose
// every call crosses the real wire (protobuf, chunked bodies, error
// translation). It is closed when the test ends.
func Pipe(t testing.TB, c connector.Connector) connector.Connector {
	t.Helper()
	p := &rpcplugin.GRPCPlugin{Impl: c}
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{rpcplugin.PluginName: p})
	t.Cleanup(func() {
		client.Close()
		p.CloseSessions()
	})
	raw, err := client.Dispense(rpcplugin.PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return raw.(connector.Connector)
}
