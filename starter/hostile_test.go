package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/temporalclient"
)

// TestHostileClusterIDsContactNoServer: every command that takes --cluster
// refuses an ID outside health.ClusterIDRule, naming the flag and the rule,
// before it dials anything.
func TestHostileClusterIDsContactNoServer(t *testing.T) {
	good := writeFile(t, "good.yaml", goodPolicy)
	ids := []struct{ id, want string }{
		{"my cluster", "holds ' '"},
		{"a/b", "holds '/'"},
		{"../x", "holds '.' at byte 0"},
		{"c\n1", `holds '\n'`},
		{"c'; DROP TABLE nodes; --", `holds '\''`},
		{"c\xff", "not valid UTF-8"},
		{strings.Repeat("c", 129), "129 bytes long"},
	}
	commands := [][]string{
		{"register", "--policy", good},
		{"update", "--policy", good},
		{"validate", "--policy", good},
		{"unregister"}, {"enable"}, {"disable"}, {"status"}, {"events"},
		{"recover", "--node", "n1"},
		{"approve", "--node", "n1"}, {"deny", "--node", "n1"}, {"clear", "--node", "n1"}, {"maintain", "--node", "n1"},
	}
	for _, c := range commands {
		for _, id := range ids {
			t.Run(c[0]+" "+id.id, func(t *testing.T) {
				a, _ := offline(t, nil)
				err := execute(a, append(c, "--cluster", id.id)...)
				if err == nil || !strings.HasPrefix(err.Error(), "--cluster: cluster_id: ") || !strings.Contains(err.Error(), id.want) {
					t.Fatalf("got %v, want --cluster: cluster_id: ... %s", err, id.want)
				}
			})
		}
	}
}

// checksOnly is a starter whose client has no server behind it: a request
// that got past healthclient's checks would panic on the nil Temporal client.
func checksOnly(t *testing.T) *app {
	t.Helper()
	a, _ := offline(t, nil)
	a.dial = func(context.Context, temporalclient.Config) (*healthclient.Client, func(), error) {
		return healthclient.New(nil), func() {}, nil
	}
	return a
}

// TestHostileSignalValuesRefused: absurd flag values are refused by the
// starter or by healthclient, with the flag or the field named.
func TestHostileSignalValuesRefused(t *testing.T) {
	long := strings.Repeat("n", 257)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"disable", "--cluster", "c1", "--for", "8785h"}, "--for must be at most 8784h0m0s (366 days), got 8785h0m0s"},
		{[]string{"maintain", "--cluster", "c1", "--node", "n1", "--for", "100000h"}, "--for must be at most 8784h0m0s"},
		{[]string{"recover", "--cluster", "c1", "--node", long}, "node_id: is 257 bytes long, more than the 256 allowed"},
		{[]string{"recover", "--cluster", "c1", "--node", "n1", "--reason", strings.Repeat("r", 1025)}, "event: is 1025 bytes long"},
		{[]string{"approve", "--cluster", "c1", "--node", long}, "node_id: is 257 bytes long"},
		{[]string{"maintain", "--cluster", "c1", "--node", "n\n1"}, `node_id: must not hold the control character '\n'`},
		{[]string{"disable", "--cluster", "c1", "--reason", strings.Repeat("r", 1025)}, "reason: is 1025 bytes long"},
		{[]string{"enable", "--cluster", "c1", "--reason", "x\x00"}, `reason: must not hold the control character '\x00'`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " ")[:min(60, len(strings.Join(tt.args, " ")))], func(t *testing.T) {
			err := execute(checksOnly(t), tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "--") && !errors.Is(err, healthclient.ErrInvalid) {
				t.Errorf("got %v, want a flag error or one wrapping healthclient.ErrInvalid", err)
			}
		})
	}
}
