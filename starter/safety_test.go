package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

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

// simulate is a binary of its own now: the old command says where it went.
func TestSimulateCommandPointsAtItsBinary(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"simulate", "--scenario", "zone-outage"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "go run ./simulate") {
		t.Errorf("starter simulate: exit %d, stderr %q, want where simulate went", code, errOut.String())
	}
}
