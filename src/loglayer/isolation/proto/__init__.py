"""The gRPC protocol of out-of-process plugins: ``.proto`` sources and their committed stubs.

``loglayer_plugin.proto`` is loglayer's own service; ``grpc_controller.proto`` and
``grpc_stdio.proto`` declare the two go-plugin services a host and a plugin exchange besides
``grpc.health.v1`` (which comes from ``grpcio-health-checking``). See ``README`` here for the
command that regenerates the stubs.
"""
