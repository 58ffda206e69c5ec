package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The operator commands of the decision core, against a real Temporal server:
// maintain answers with the decision; clear and approve of a node that needs
// neither are refused with the field named; pauses are per requester.
func TestOperatorCommandsAgainstTemporal(t *testing.T) {
	addr := startTemporal(t)
	policy := writeFile(t, "good.yaml", goodPolicy)
	mustStarter(t, addr, "register", "--cluster", "c9", "--policy", policy)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, msg := statusOf(t, addr, "c9")
		if msg != "" || st.Counters.Rounds < 1 {
			c.Errorf("status: %s %+v", msg, st.Counters)
		}
	}, waitTimeout, waitTick)

	out := mustStarter(t, addr, "maintain", "--cluster", "c9", "--node", "n1", "--for", "2h", "--reason", "kernel upgrade")
	if !strings.Contains(out, "in maintenance by") || !strings.Contains(out, ": kernel upgrade, until") {
		t.Errorf("maintain: got %q", out)
	}
	for _, args := range [][]string{
		{"clear", "--cluster", "c9", "--node", "n2"},
		{"approve", "--cluster", "c9", "--node", "n2"},
	} {
		code, _, errOut := starter(t, addr, args...)
		if code == 0 || !strings.Contains(errOut, "node_id: ") {
			t.Errorf("%s of a node that needs none: exit %d, stderr %q, want refused naming node_id", args[0], code, errOut)
		}
	}
	if code, _, errOut := starter(t, addr, "maintain", "--cluster", "c9", "--node", "n1", "--for", "1h", "--end"); code == 0 ||
		!strings.Contains(errOut, "none of the others can be") && !strings.Contains(errOut, "[end for]") && !strings.Contains(errOut, "if any flags in the group") {
		t.Errorf("maintain --for with --end: exit %d, stderr %q, want refused", code, errOut)
	}

	mustStarter(t, addr, "disable", "--cluster", "c9", "--indefinite", "--reason", "investigating")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, msg := statusOf(t, addr, "c9")
		if msg != "" || st.Enabled || !strings.Contains(st.EnabledNote, "(until lifted)") {
			c.Errorf("after disable --indefinite: %s enabled %v note %q", msg, st.Enabled, st.EnabledNote)
		}
	}, waitTimeout, waitTick)
	mustStarter(t, addr, "enable", "--cluster", "c9", "--all")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, msg := statusOf(t, addr, "c9")
		if msg != "" || !st.Enabled {
			c.Errorf("after enable --all: %s enabled %v", msg, st.Enabled)
		}
	}, waitTimeout, waitTick)
}

// simulate runs a shipped scenario offline and checks its expectations.
func TestSimulateCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	begin := time.Now()
	if code := run(context.Background(), []string{"simulate", "--scenario", "zone-outage", "--check"}, &out, &errOut); code != 0 {
		t.Fatalf("simulate: exit %d, stderr %s", code, errOut.String())
	}
	for _, want := range []string{"scenario zone-outage: 10 nodes, 40m0s", "cluster hold max_unhealthy: held: 5 of 10 unhealthy", "2 recovery actions asked of the engine"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("simulate output lacks %q; got:\n%s", want, out.String())
		}
	}
	t.Logf("40 simulated minutes in %s", time.Since(begin).Round(time.Millisecond))
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"simulate", "--scenario", "no-such"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "shipped: approval-timeout") {
		t.Errorf("unknown scenario: exit %d, stderr %q, want the shipped names", code, errOut.String())
	}
}
