package shared

import (
	"os"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
)

// ServeRedactor serves a Redactor with go-plugin's gRPC server, logging to stderr as
// hclog JSON lines (which loglayer hosts, like go-plugin hosts, turn into log entries).
func ServeRedactor(r *Redactor) {
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       r.ID,
		Level:      hclog.Info,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	logger.Info("redaction plugin starting", "panic_on", r.PanicOn)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         map[string]plugin.Plugin{PluginName: &LogLayerPlugin{Impl: r}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          logger,
	})
}
