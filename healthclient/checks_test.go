package healthclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/workflows"
)

// TestHostileInputRefused needs no server: the client has none (a nil
// Temporal client), so a request that got past the checks would panic. Each
// refusal wraps ErrInvalid and names the field.
func TestHostileInputRefused(t *testing.T) {
	hc := healthclient.New(nil)
	ctx := context.Background()
	long := strings.Repeat("n", health.MaxIDBytes+1)
	text := strings.Repeat("t", health.MaxTextBytes+1)
	year := health.MaxPauseSeconds

	tests := []struct {
		name string
		call func() error
		want []string // substrings of the error
	}{
		// Cluster IDs, on every method.
		{"register with a space in the cluster", func() error {
			_, err := hc.Register(ctx, registration(t, "my cluster"), healthclient.RegisterOptions{})
			return err
		}, []string{"register cluster: cluster_id:", "holds ' '"}},
		{"update with a slash in the cluster", func() error { return hc.Update(ctx, registration(t, "a/b")) },
			[]string{"update cluster: cluster_id:", "holds '/'"}},
		{"enable with a newline in the cluster", func() error { return hc.Enable(ctx, "c\n1", workflows.EnableSignal{}) },
			[]string{"cluster_id:", `holds '\n'`}},
		{"disable with invalid UTF-8 in the cluster", func() error { return hc.Disable(ctx, "c\xff", workflows.DisableSignal{}) },
			[]string{"cluster_id:", "not valid UTF-8"}},
		{"recover in a cluster of 129 bytes", func() error {
			return hc.Recover(ctx, strings.Repeat("c", 129), health.RecoverSignal{NodeID: "n1"})
		}, []string{"cluster_id:", "129 bytes long"}},
		{"unregister a quoted cluster", func() error { return hc.Unregister(ctx, "c'1", workflows.UnregisterSignal{}) },
			[]string{"cluster_id:"}},
		{"status of a cluster with a NUL", func() error { _, err := hc.Status(ctx, "c\x001"); return err },
			[]string{"status of cluster: cluster_id:"}},
		{"approve in a cluster starting with a dash", func() error {
			_, err := hc.Approve(ctx, "-c1", workflows.NodeRequest{NodeID: "n1"})
			return err
		}, []string{"cluster_id:", "holds '-' at byte 0"}},

		// Disable: for_seconds from 0 to a year, not with indefinite.
		{"disable for a negative time", func() error { return hc.Disable(ctx, "c1", workflows.DisableSignal{ForSeconds: -1}) },
			[]string{"disable cluster c1: for_seconds: must be from 0 to 31622400", "got -1"}},
		{"disable for more than a year", func() error {
			return hc.Disable(ctx, "c1", workflows.DisableSignal{ForSeconds: year + 1})
		}, []string{"for_seconds:", "got 31622401"}},
		{"disable for the largest int", func() error {
			return hc.Disable(ctx, "c1", workflows.DisableSignal{ForSeconds: int(^uint(0) >> 1)})
		}, []string{"for_seconds:"}},
		{"disable for a time and indefinitely", func() error {
			return hc.Disable(ctx, "c1", workflows.DisableSignal{ForSeconds: 60, Indefinite: true})
		}, []string{"indefinite:"}},
		{"disable with a huge reason", func() error { return hc.Disable(ctx, "c1", workflows.DisableSignal{Reason: text}) },
			[]string{"reason: is 1025 bytes long"}},
		{"enable with a huge requester", func() error { return hc.Enable(ctx, "c1", workflows.EnableSignal{Requester: long}) },
			[]string{"requester: is 257 bytes long"}},
		{"unregister with a control character in the reason", func() error {
			return hc.Unregister(ctx, "c1", workflows.UnregisterSignal{Reason: "gone\x1b[2J"})
		}, []string{`reason: must not hold the control character '\x1b'`}},

		// Recover: node_id required and at most 256 bytes, event and state at
		// most 1 KiB, every field named.
		{"recover without a node", func() error { return hc.Recover(ctx, "c1", health.RecoverSignal{}) },
			[]string{"recover node of cluster c1: node_id: required"}},
		{"recover a blank node", func() error { return hc.Recover(ctx, "c1", health.RecoverSignal{NodeID: "  "}) },
			[]string{"node_id: required"}},
		{"recover a node id of 257 bytes", func() error { return hc.Recover(ctx, "c1", health.RecoverSignal{NodeID: long}) },
			[]string{"node_id: is 257 bytes long, more than the 256 allowed"}},
		{"recover with a huge event and state", func() error {
			return hc.Recover(ctx, "c1", health.RecoverSignal{NodeID: "n1", Event: text, State: text})
		}, []string{"event: is 1025 bytes long", "state: is 1025 bytes long"}},
		{"recover with a huge message id", func() error {
			return hc.Recover(ctx, "c1", health.RecoverSignal{NodeID: "n1", MessageID: long})
		}, []string{"message_id: is 257 bytes long"}},

		// Node updates: a node is required.
		{"approve without a node", func() error { _, err := hc.Approve(ctx, "c1", workflows.NodeRequest{}); return err },
			[]string{"approve recovery in cluster c1: node_id: required"}},
		{"deny a blank node", func() error { _, err := hc.Deny(ctx, "c1", workflows.NodeRequest{NodeID: "\t"}); return err },
			[]string{"node_id: required"}},
		{"clear a node id of 257 bytes", func() error {
			_, err := hc.Clear(ctx, "c1", workflows.NodeRequest{NodeID: long})
			return err
		}, []string{"node_id: is 257 bytes long"}},
		{"maintain without a node", func() error { _, err := hc.Maintain(ctx, "c1", workflows.MaintainRequest{}); return err },
			[]string{"maintain node of cluster c1: node_id: required"}},
		{"maintain for a negative time", func() error {
			_, err := hc.Maintain(ctx, "c1", workflows.MaintainRequest{NodeID: "n1", ForSeconds: -5})
			return err
		}, []string{"for_seconds: must be from 0 to 31622400", "got -5"}},
		{"maintain for more than a year", func() error {
			_, err := hc.Maintain(ctx, "c1", workflows.MaintainRequest{NodeID: "n1", ForSeconds: year + 1})
			return err
		}, []string{"for_seconds:"}},
		{"end a maintenance with a time", func() error {
			_, err := hc.Maintain(ctx, "c1", workflows.MaintainRequest{NodeID: "n1", End: true, ForSeconds: 60})
			return err
		}, []string{"end:"}},
		{"every problem at once", func() error {
			_, err := hc.Maintain(ctx, "c1", workflows.MaintainRequest{ForSeconds: -1, Reason: text})
			return err
		}, []string{"node_id: required", "reason: is 1025 bytes long", "for_seconds:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, healthclient.ErrInvalid) {
				t.Fatalf("got %v, want an error wrapping ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestValidInputPassesTheChecks: values at the bounds are not refused (with
// no server, such a call fails later, not with ErrInvalid).
func TestValidInputPassesTheChecks(t *testing.T) {
	id := strings.Repeat("n", health.MaxIDBytes)
	text := strings.Repeat("t", health.MaxTextBytes)
	for _, s := range []workflows.DisableSignal{{}, {ForSeconds: 1}, {ForSeconds: health.MaxPauseSeconds}, {Indefinite: true},
		{Requester: id, Reason: text}} {
		if err := healthclient.CheckDisable(s); err != nil {
			t.Errorf("CheckDisable(%+v): got %v, want nil", s, err)
		}
	}
	for _, r := range []workflows.MaintainRequest{{NodeID: "n1"}, {NodeID: id, ForSeconds: health.MaxPauseSeconds}, {NodeID: "n1", End: true},
		{NodeID: "n1", Indefinite: true}} {
		if err := healthclient.CheckMaintain(r); err != nil {
			t.Errorf("CheckMaintain(%+v): got %v, want nil", r, err)
		}
	}
	if err := healthclient.CheckNodeRequest(workflows.NodeRequest{NodeID: id, Requester: id, Reason: text}); err != nil {
		t.Errorf("CheckNodeRequest at the bounds: got %v, want nil", err)
	}
	sig := health.RecoverSignal{NodeID: id, Event: text, State: "multi\nline\ttext", PhysicalID: id, MessageID: id, Source: "operator"}
	if err := healthclient.CheckRecover(sig); err != nil {
		t.Errorf("CheckRecover at the bounds: got %v, want nil", err)
	}
}
