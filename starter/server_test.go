package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/devserver"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/testkit"
	"github.com/clusterhealth/healthd/internal/testkit/enginetest"
	"github.com/clusterhealth/healthd/workflows"
)

// startTemporal starts a Temporal dev server (the temporal CLI binary) and a
// worker running the real ClusterHealth workflow and activities over an
// in-memory engine; both stop when the test ends. It returns the server's
// address. A missing binary fails the test.
func startTemporal(t *testing.T) string {
	t.Helper()
	testkit.Integration(t, "a Temporal dev server")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{Output: io.Discard})
	if err != nil {
		t.Fatalf("start temporal dev server (set TEMPORAL_CLI_PATH, or run scripts/install-temporal.sh): %v", err)
	}
	t.Cleanup(func() {
		srv.Client().Close()
		if err := srv.Stop(); err != nil {
			t.Logf("stop temporal dev server: %v", err)
		}
	})
	w := worker.New(srv.Client(), workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.ClusterHealth, workflow.RegisterOptions{Name: workflows.WorkflowName})
	// Every cluster exists with two ACTIVE nodes n1 and n2, healthy, and every
	// recovery succeeds at once.
	engine := enginetest.New(nil)
	engine.AnyCluster(func(string) []health.Node { return enginetest.TwoNodes("") })
	w.RegisterActivity(engine.Activities())
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return srv.Address
}

// starter runs one command line against the server and returns its exit
// status, stdout and stderr.
func starter(t *testing.T, addr string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"--temporal-address", addr, "--timeout", "20s"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustStarter runs a command line that must succeed and returns its stdout.
func mustStarter(t *testing.T, addr string, args ...string) string {
	t.Helper()
	code, out, errOut := starter(t, addr, args...)
	if code != 0 {
		t.Fatalf("starter %s: exit %d, stderr:\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// waitTimeout bounds each wait for the workflow to show a change, and
// waitTick is how often the test looks.
const (
	waitTimeout = 20 * time.Second
	waitTick    = 50 * time.Millisecond
)

// statusOf runs status --json.
func statusOf(t *testing.T, addr, cluster string) (workflows.Status, string) {
	t.Helper()
	code, out, errOut := starter(t, addr, "status", "--cluster", cluster, "--json")
	if code != 0 {
		return workflows.Status{}, errOut
	}
	var st workflows.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return workflows.Status{}, fmt.Sprintf("status --json: %v in %q", err, out)
	}
	return st, ""
}

func TestCommandsAgainstTemporal(t *testing.T) {
	addr := startTemporal(t)
	policy := writeFile(t, "good.yaml", goodPolicy)

	out := mustStarter(t, addr, "register", "--cluster", "c1", "--policy", policy)
	if !strings.Contains(out, "workflow id: cluster-health/c1") || !strings.Contains(out, "run id:") {
		t.Errorf("register: got %q, want the workflow and run IDs", out)
	}
	runID := strings.TrimSpace(out[strings.LastIndex(out, "run id:")+len("run id:"):])
	out = mustStarter(t, addr, "register", "--cluster", "c1", "--policy", policy)
	if !strings.Contains(out, runID) {
		t.Errorf("second register: got %q, want the same run %s", out, runID)
	}

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, msg := statusOf(t, addr, "c1")
		switch {
		case msg != "":
			c.Errorf("%s", msg)
		case !st.Enabled || st.Counters.Rounds < 1 || st.NodeCount != 2:
			c.Errorf("status: got enabled %t, %d rounds, %d nodes, want the first round done", st.Enabled, st.Counters.Rounds, st.NodeCount)
		}
	}, waitTimeout, waitTick)
	out = mustStarter(t, addr, "status", "--cluster", "c1")
	for _, want := range []string{"State:             healthy", "Checks:            enabled", "Nodes: 2 at the last sweep", "2 healthy",
		"Nodes not plainly healthy (0)", "--all-nodes", "Next round:"} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q; got:\n%s", want, out)
		}
	}

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, out, errOut := starter(t, addr, "list", "--json")
		var entries []healthclient.ListEntry
		if code != 0 || json.Unmarshal([]byte(out), &entries) != nil {
			c.Errorf("list --json: exit %d, %q %q", code, out, errOut)
			return
		}
		if len(entries) != 1 || entries[0].ClusterID != "c1" || entries[0].RunID != runID || entries[0].State != workflows.StateHealthy {
			c.Errorf("list: got %+v, want c1 healthy, run %s, alone", entries, runID)
		}
	}, waitTimeout, waitTick)

	out = mustStarter(t, addr, "disable", "--cluster", "c1", "--reason", "upgrade", "--for", "30m")
	if !strings.Contains(out, "resume by themselves") {
		t.Errorf("disable: got %q", out)
	}
	// Temporal records who sent it as the starter says, not as --requester.
	tc, err := client.Dial(client.Options{HostPort: addr})
	require.NoError(t, err)
	defer tc.Close()
	var identity string
	for it := tc.GetWorkflowHistory(context.Background(), workflows.WorkflowID("c1"), "", false, 0); it.HasNext(); {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == workflows.SignalDisable {
			identity = a.GetIdentity()
		}
	}
	if u, _ := user.Current(); !strings.HasPrefix(identity, "healthd-starter "+u.Username+"@") {
		t.Errorf("the disable signal's identity in the history: got %q, want healthd-starter <user>@<host>", identity)
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, msg := statusOf(t, addr, "c1")
		switch {
		case msg != "":
			c.Errorf("%s", msg)
		case st.Enabled || !strings.Contains(st.EnabledNote, "upgrade") || st.DisabledUntil.IsZero():
			c.Errorf("status after disable: got enabled %t, note %q, until %v", st.Enabled, st.EnabledNote, st.DisabledUntil)
		}
	}, waitTimeout, waitTick)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		// The condition runs on a goroutine of its own, where the test must not
		// stop: a failed command is a failed attempt.
		code, out, errOut := starter(t, addr, "list", "--disabled")
		switch {
		case code != 0:
			c.Errorf("list --disabled: exit %d, stderr:\n%s", code, errOut)
		case !strings.Contains(out, "c1") || !strings.Contains(out, "disabled"):
			c.Errorf("list --disabled: got %q, want c1", out)
		}
	}, waitTimeout, waitTick)

	mustStarter(t, addr, "enable", "--cluster", "c1", "--reason", "upgrade done")
	mustStarter(t, addr, "recover", "--cluster", "c1", "--node", "n2", "--reason", "console shows a panic")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, msg := statusOf(t, addr, "c1")
		switch {
		case msg != "":
			c.Errorf("%s", msg)
		case !st.Enabled:
			c.Errorf("status after enable: got disabled")
		case len(st.Recent) != 1 || st.Recent[0].Source != "operator" || !strings.Contains(st.Recent[0].Reason, "console shows a panic"):
			c.Errorf("status after recover: got recent %+v, want the operator's recovery", st.Recent)
		}
	}, waitTimeout, waitTick)

	mustStarter(t, addr, "unregister", "--cluster", "c1", "--reason", "test over")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, _, errOut := starter(t, addr, "status", "--cluster", "c1")
		want := "cluster c1 is not registered: run `starter register --cluster c1 --policy FILE` first"
		if code != 1 || !strings.Contains(errOut, want) {
			c.Errorf("status after unregister: got exit %d, %q, want %q", code, errOut, want)
		}
	}, waitTimeout, waitTick)
	code, _, errOut := starter(t, addr, "recover", "--cluster", "c9", "--node", "n1")
	if code != 1 || !strings.Contains(errOut, "cluster c9 is not registered: run `starter register --cluster c9 --policy FILE` first") {
		t.Errorf("recover on an unregistered cluster: got exit %d, %q", code, errOut)
	}
}
