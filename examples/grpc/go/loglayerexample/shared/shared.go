// Package shared is what loglayer plugins and hosts written in Go agree on: go-plugin's
// handshake settings and the go-plugin plugin type that carries loglayer's gRPC service.
package shared

import (
	"context"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "loglayerexample/loglayerpb"
)

// Handshake holds the values of loglayer/isolation/_grpc_wire.py: the protocol version
// of loglayer_plugin.proto and the magic cookie a loglayer host sets.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "LOGLAYER_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "7d1c5e0a9b3f4e26a8c2d6f1b0e9a4c3",
}

// PluginName is the key of the plugin in go-plugin's plugin sets.
const PluginName = "loglayer"

// LogLayerPlugin serves Impl (plugin side) or hands out a client (host side). It speaks
// gRPC only: go-plugin's net/rpc protocol is Go-only, and loglayer hosts are not.
type LogLayerPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl pb.LogLayerPluginServer
}

// GRPCServer registers the plugin's implementation on go-plugin's gRPC server.
func (p *LogLayerPlugin) GRPCServer(_ *plugin.GRPCBroker, server *grpc.Server) error {
	pb.RegisterLogLayerPluginServer(server, p.Impl)
	return nil
}

// GRPCClient returns the generated client for the plugin's connection.
func (p *LogLayerPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return pb.NewLogLayerPluginClient(conn), nil
}
