// Package rpcplugin binds the connector contract to go-plugin and gRPC: the
// handshake, the versioned plugin sets, a gRPC server that serves a
// connector.Connector with a session table, and a client that implements
// connector.Connector on top of the generated stubs. The public serve and
// host packages are thin layers over it.
package rpcplugin

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ternmail/tern/sdk/connector"
	pb "github.com/ternmail/tern/sdk/internal/proto/v1"
	"github.com/ternmail/tern/sdk/internal/wire"
)

// PluginName is the name of the connector in go-plugin's plugin set.
const PluginName = "connector"

// Handshake is shared by host and plugins. The magic cookie only tells a
// user who runs a connector binary by hand that it is a plugin; it is not a
// security measure (binaries are pinned by checksum for that).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  connector.ProtocolVersion,
	MagicCookieKey:   "TERN_CONNECTOR_PLUGIN",
	MagicCookieValue: "c0nnect-tern-7f3a9d5e",
}

// GRPCPlugin is the go-plugin binding of a connector.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is set on the plugin side only.
	Impl connector.Connector

	srv *server
}

// GRPCServer registers the connector service.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	p.srv = newServer(p.Impl)
	pb.RegisterConnectorServer(s, p.srv)
	return nil
}

// CloseSessions closes the sessions the plugin still holds.
func (p *GRPCPlugin) CloseSessions() {
	if p.srv != nil {
		p.srv.closeAll()
	}
}

// GRPCClient returns a connector.Connector over the connection.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewClient(pb.NewConnectorClient(c)), nil
}

// PluginSets returns the versioned plugin sets. Protocol 1 is the only
// version so far; a later major version adds an entry and keeps this one,
// so that plugins built against an older SDK keep working.
func PluginSets(impl connector.Connector) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		1: {PluginName: &GRPCPlugin{Impl: impl}},
	}
}

// ServerOptions are the gRPC server options of a plugin.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(wire.MaxMessageSize),
		grpc.MaxSendMsgSize(wire.MaxMessageSize),
	}
}

// DialOptions are the gRPC dial options of the host.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(wire.MaxMessageSize),
			grpc.MaxCallSendMsgSize(wire.MaxMessageSize),
		),
	}
}
