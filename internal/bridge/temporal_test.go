package bridge

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/workflows"
)

// signalClient is a Temporal client whose SignalWorkflow records its call and
// returns err; any other method panics (nil embedded interface).
type signalClient struct {
	client.Client
	err                     error
	workflowID, runID, name string
	arg                     any
}

func (c *signalClient) SignalWorkflow(_ context.Context, workflowID, runID, signalName string, arg any) error {
	c.workflowID, c.runID, c.name, c.arg = workflowID, runID, signalName, arg
	return c.err
}

func TestTemporalSignaller(t *testing.T) {
	sig := health.RecoverSignal{NodeID: "n-1", Event: EventShutdown, MessageID: "m-1", Source: SourceNova}
	tests := []struct {
		name          string
		err           error
		notRegistered bool
		back          bool
	}{
		{"accepted", nil, false, false},
		{"a node back", nil, false, true},
		{"workflow not found", serviceerror.NewNotFound("workflow execution already completed"), true, false},
		{"temporal unavailable", serviceerror.NewUnavailable("connection refused"), false, false},
		{"deadline", context.DeadlineExceeded, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &signalClient{err: tt.err}
			err := TemporalSignaller{Client: c}.Signal(context.Background(), Event{ClusterID: "c-1", Signal: sig, Back: tt.back})
			name := workflows.SignalRecover
			if tt.back {
				name = workflows.SignalNodeBack
			}
			if c.workflowID != workflows.WorkflowID("c-1") || c.runID != "" || c.name != name {
				t.Errorf("got SignalWorkflow(%q, %q, %q), want (%q, \"\", %q)", c.workflowID, c.runID, c.name, workflows.WorkflowID("c-1"), name)
			}
			if got, ok := c.arg.(health.RecoverSignal); !ok || got != sig {
				t.Errorf("got signal argument %#v, want %#v", c.arg, sig)
			}
			if (tt.err == nil) != (err == nil) {
				t.Fatalf("got error %v, want error %t", err, tt.err != nil)
			}
			if got := errors.Is(err, healthclient.ErrNotRegistered); got != tt.notRegistered {
				t.Errorf("got errors.Is(err, healthclient.ErrNotRegistered) = %t for %v, want %t", got, err, tt.notRegistered)
			}
			// An error the bridge retries keeps its cause for the log.
			if tt.err != nil && !tt.notRegistered && !errors.Is(err, tt.err) {
				t.Errorf("got %v, want it to wrap %v", err, tt.err)
			}
		})
	}
}
