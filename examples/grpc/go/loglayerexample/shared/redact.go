package shared

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	pb "loglayerexample/loglayerpb"
)

// Redactor is a loglayer plugin that hides secrets: the values of secret keys in the
// metadata and the data, and "key=value" pairs with a secret key in string messages.
// It implements three hooks and DispatchBatch.
type Redactor struct {
	pb.UnimplementedLogLayerPluginServer

	// ID is the plugin ID that Describe reports.
	ID string
	// PanicOn, when not empty, makes the message hook panic on a message equal to it:
	// the crash that a host must survive.
	PanicOn string
	// PrintOn, when not empty, makes the message hook write a plain line to stdout and
	// one to stderr on a message equal to it: go-plugin carries both to the host over
	// its GRPCStdio stream, and hosts use it to prove they read that stream.
	PrintOn string
}

const redacted = "[REDACTED]"

var secretKeys = map[string]bool{"password": true, "token": true, "secret": true, "authorization": true}

var secretPairs = regexp.MustCompile(`(?i)\b(password|token|secret|authorization)=\S+`)

func isSecret(key string) bool { return secretKeys[strings.ToLower(key)] }

// scrub returns value with the values of secret keys replaced, at any depth, and whether
// anything was replaced.
func scrub(value interface{}) (interface{}, bool) {
	switch v := value.(type) {
	case map[string]interface{}:
		changed := false
		out := make(map[string]interface{}, len(v))
		for key, item := range v {
			if isSecret(key) {
				out[key] = redacted
				changed = true
				continue
			}
			clean, c := scrub(item)
			out[key] = clean
			changed = changed || c
		}
		return out, changed
	case []interface{}:
		changed := false
		out := make([]interface{}, len(v))
		for i, item := range v {
			clean, c := scrub(item)
			out[i] = clean
			changed = changed || c
		}
		return out, changed
	}
	return value, false
}

func decode(raw []byte) (interface{}, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var value interface{}
	if err := json.Unmarshal(raw, &value); err != nil {
		return nil, fmt.Errorf("bad JSON from the host: %v", err)
	}
	return value, nil
}

// Describe reports the plugin's ID and hooks.
func (r *Redactor) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{
		Id:    r.ID,
		Hooks: []string{"on_metadata_called", "on_before_data_out", "on_before_message_out"},
		Batch: true,
	}, nil
}

// OnMetadataCalled returns the metadata with secret values replaced.
func (r *Redactor) OnMetadataCalled(_ context.Context, in *pb.Value) (*pb.Value, error) {
	value, err := decode(in.Json)
	if err != nil {
		return nil, err
	}
	clean, changed := scrub(value)
	if !changed {
		return in, nil
	}
	out, err := json.Marshal(clean)
	return &pb.Value{Json: out}, err
}

// dataChanges returns the keys to merge into the data: each top-level secret key
// with the placeholder as its value; nil when there is none.
func dataChanges(raw []byte) ([]byte, error) {
	value, err := decode(raw)
	if err != nil {
		return nil, err
	}
	data, _ := value.(map[string]interface{})
	changes := map[string]interface{}{}
	for key, item := range data {
		if isSecret(key) {
			changes[key] = redacted
		} else if clean, changed := scrub(item); changed {
			changes[key] = clean
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	return json.Marshal(changes)
}

// OnBeforeDataOut merges the placeholder over secret values of the data.
func (r *Redactor) OnBeforeDataOut(_ context.Context, in *pb.Params) (*pb.Value, error) {
	out, err := dataChanges(in.Data)
	return &pb.Value{Json: out}, err
}

// messageChanges returns the messages with secret pairs hidden; nil when unchanged.
func (r *Redactor) messageChanges(raw []byte) ([]byte, error) {
	value, err := decode(raw)
	if err != nil {
		return nil, err
	}
	messages, _ := value.([]interface{})
	changed := false
	for i, message := range messages {
		text, ok := message.(string)
		if !ok {
			continue
		}
		if r.PanicOn != "" && text == r.PanicOn {
			panic("redact: asked to panic by message " + text)
		}
		if r.PrintOn != "" && text == r.PrintOn {
			fmt.Fprintln(os.Stdout, "redact: plain stdout line")
			fmt.Fprintln(os.Stderr, "redact: plain stderr line")
		}
		if clean := secretPairs.ReplaceAllString(text, "$1="+redacted); clean != text {
			messages[i] = clean
			changed = true
		}
	}
	if !changed {
		return nil, nil
	}
	return json.Marshal(messages)
}

// OnBeforeMessageOut hides "password=..." and the like in string messages.
func (r *Redactor) OnBeforeMessageOut(_ context.Context, in *pb.Params) (*pb.Value, error) {
	out, err := r.messageChanges(in.Messages)
	return &pb.Value{Json: out}, err
}

type hookFailure struct {
	Hook    string `json:"hook"`
	Message string `json:"message"`
}

// batchOutcome is one outcome of a batch's "outcomes" JSON array. The redactor has no
// send gate, so "send" is left out: every entry may go to every transport.
type batchOutcome struct {
	Data     json.RawMessage `json:"data,omitempty"`
	Messages json.RawMessage `json:"messages,omitempty"`
	Failures []hookFailure   `json:"failures,omitempty"`
}

// DispatchBatch runs the data and message hooks over every entry, each a row
// [level, messages, data, metadata, error, fields, prefix]. A failure on one entry is
// reported for that entry only; its fallback is to leave it unchanged. An entry that
// nothing changed gets a null outcome.
func (r *Redactor) DispatchBatch(_ context.Context, in *pb.Batch) (*pb.BatchResult, error) {
	var rows [][]json.RawMessage
	if err := json.Unmarshal(in.Entries, &rows); err != nil {
		return nil, fmt.Errorf("bad batch from the host: %v", err)
	}
	outcomes := make([]*batchOutcome, len(rows))
	for i, row := range rows {
		if len(row) != 7 {
			return nil, fmt.Errorf("bad batch from the host: a row of %d values", len(row))
		}
		outcome := &batchOutcome{}
		if data, err := dataChanges(row[2]); err != nil {
			outcome.Failures = append(outcome.Failures, hookFailure{"on_before_data_out", err.Error()})
		} else {
			outcome.Data = data
		}
		if messages, err := r.messageChanges(row[1]); err != nil {
			outcome.Failures = append(outcome.Failures, hookFailure{"on_before_message_out", err.Error()})
		} else {
			outcome.Messages = messages
		}
		if outcome.Data != nil || outcome.Messages != nil || outcome.Failures != nil {
			outcomes[i] = outcome
		}
	}
	out, err := json.Marshal(outcomes)
	return &pb.BatchResult{Outcomes: out}, err
}
