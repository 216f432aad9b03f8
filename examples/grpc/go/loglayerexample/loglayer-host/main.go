// Command loglayer-host is a go-plugin host: it launches a loglayer plugin (any
// program, such as "python -m loglayer.isolation.serve module:factory"), completes
// go-plugin's handshake, checks the plugin's health, calls Describe and then each hook
// the plugin described once, stops the plugin (go-plugin's Kill: the controller's
// Shutdown first), and prints the answers, with what the plugin wrote to its stdout and
// stderr (go-plugin's GRPCStdio stream), as one JSON object on stdout. The entry the
// hooks see is tagged with the group "db"; the three entries of the batch (when the
// plugin batches) with "db", nothing, and "db" and "auth".
//
//	loglayer-host [-message TEXT] PROGRAM [ARG...]
//
// -message replaces the message of the entry the hooks are called with.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	pb "loglayerexample/loglayerpb"
	"loglayerexample/shared"
)

func fail(step string, err error) {
	fmt.Fprintf(os.Stderr, "loglayer-host: %s: %v\n", step, err)
	os.Exit(1)
}

// raw keeps a JSON answer as it is; an empty one (the protocol's None) becomes null.
func raw(data []byte) json.RawMessage {
	if len(data) == 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(data)
}

// syncBuffer collects what go-plugin copies from the plugin's GRPCStdio stream, which it
// does on goroutines of its own.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func main() {
	message := flag.String("message", "login password=hunter2 escalate",
		"the message of the entry the hooks are called with")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: loglayer-host [-message TEXT] PROGRAM [ARG...]")
		os.Exit(2)
	}
	messages, err := json.Marshal([]string{*message})
	if err != nil {
		fail("message", err)
	}
	var stdout, stderr syncBuffer
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		Plugins:          map[string]plugin.Plugin{shared.PluginName: &shared.LogLayerPlugin{}},
		Cmd:              exec.Command(flag.Arg(0), flag.Args()[1:]...),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "loglayer-host", Output: os.Stderr, Level: hclog.Info}),
		SyncStdout:       &stdout,
		SyncStderr:       &stderr,
	})
	defer client.Kill()

	conn, err := client.Client()
	if err != nil {
		fail("handshake", err)
	}
	if err := conn.Ping(); err != nil {
		fail("health check", err)
	}
	dispensed, err := conn.Dispense(shared.PluginName)
	if err != nil {
		fail("dispense", err)
	}
	hooks := dispensed.(pb.LogLayerPluginClient)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	described, err := hooks.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		fail("Describe", err)
	}
	params := &pb.Params{
		Level:       20,
		Messages:    messages,
		Data:        []byte(`{"user":"ada","password":"hunter2"}`),
		Fields:      []byte(`{"user":"ada"}`),
		Prefix:      "[go]",
		HasPrefix:   true,
		TransportId: "console",
		Groups:      []string{"db"},
	}
	answers := map[string]interface{}{
		"id":    described.Id,
		"hooks": described.Hooks,
		"batch": described.Batch,
	}
	for _, hook := range described.Hooks {
		switch hook {
		case "on_fields_called":
			out, err := hooks.OnFieldsCalled(ctx, &pb.Value{Json: []byte(`{"password":"hunter2","user":"ada"}`)})
			if err != nil {
				fail(hook, err)
			}
			answers[hook] = raw(out.Json)
		case "on_metadata_called":
			out, err := hooks.OnMetadataCalled(ctx, &pb.Value{Json: []byte(`{"token":"abc","user":"ada"}`)})
			if err != nil {
				fail(hook, err)
			}
			answers[hook] = raw(out.Json)
		case "on_before_data_out":
			out, err := hooks.OnBeforeDataOut(ctx, params)
			if err != nil {
				fail(hook, err)
			}
			answers[hook] = raw(out.Json)
		case "on_before_message_out":
			out, err := hooks.OnBeforeMessageOut(ctx, params)
			if err != nil {
				fail(hook, err)
			}
			answers[hook] = raw(out.Json)
		case "transform_log_level":
			out, err := hooks.TransformLogLevel(ctx, params)
			if err != nil {
				fail(hook, err)
			}
			answers[hook] = out.Level
		case "should_send":
			out, err := hooks.ShouldSend(ctx, params)
			if err != nil {
				fail(hook, err)
			}
			answers[hook] = out.Send
		}
	}
	if described.Batch {
		entries := []byte(`[[20,["a token=x"],{},null,null,{},null],[30,[],{"secret":1},null,null,{},"[go]"],[10,["plain"],{},null,null,{},null]]`)
		groups := []byte(`[["db"],[],["db","auth"]]`)
		out, err := hooks.DispatchBatch(ctx, &pb.Batch{Entries: entries, TransportIds: []string{"console"}, Groups: groups})
		if err != nil {
			fail("DispatchBatch", err)
		}
		answers["dispatch_batch"] = raw(out.Outcomes)
	}
	client.Kill() // waits for the plugin to exit, its GRPCStdio stream copied to the end
	answers["plugin_stdout"] = stdout.String()
	answers["plugin_stderr"] = stderr.String()
	if err := json.NewEncoder(os.Stdout).Encode(answers); err != nil {
		fail("output", err)
	}
}
