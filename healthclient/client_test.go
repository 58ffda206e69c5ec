package healthclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
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

// The tests share one Temporal dev server (the temporal CLI binary) and one
// in-process worker running the real ClusterHealth workflow and activities
// over an in-memory engine. Each test uses its own cluster IDs.
var (
	serverOnce sync.Once
	server     *devserver.Server
	serverErr  error
	testWorker worker.Worker
)

func TestMain(m *testing.M) {
	code := m.Run()
	if testWorker != nil {
		testWorker.Stop()
	}
	if server != nil {
		server.Client().Close()
		if err := server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop temporal dev server:", err)
		}
	}
	os.Exit(code)
}

// temporalClient returns a client of the shared dev server, starting the
// server and the worker on first use. A missing server binary fails the test.
func temporalClient(t *testing.T) client.Client {
	t.Helper()
	testkit.Integration(t, "a Temporal dev server")
	serverOnce.Do(func() { serverErr = startServer() })
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	return server.Client()
}

func startServer() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	server, err = devserver.Start(ctx, devserver.Options{Output: io.Discard})
	if err != nil {
		return fmt.Errorf("start temporal dev server (set TEMPORAL_CLI_PATH, or run scripts/install-temporal.sh): %w", err)
	}
	// Every cluster exists with two ACTIVE nodes <id>-n1 and <id>-n2, healthy,
	// and every recovery succeeds at once.
	engine := enginetest.New(nil)
	engine.AnyCluster(func(id string) []health.Node { return enginetest.TwoNodes(id + "-") })
	testWorker = worker.New(server.Client(), workflows.TaskQueue, worker.Options{})
	testWorker.RegisterWorkflowWithOptions(workflows.ClusterHealth, workflow.RegisterOptions{Name: workflows.WorkflowName})
	testWorker.RegisterActivity(engine.Activities())
	if err := testWorker.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	return nil
}

// registration parses a small policy the way the starter does.
func registration(t *testing.T, clusterID string) health.Registration {
	t.Helper()
	const spec = `
type: senlin.policy.health
version: 1.1
properties:
  detection:
    interval: 60
    detection_modes:
      - type: NODE_STATUS_POLL_URL
        options:
          poll_url: "http://{nodename}.example/health"
  recovery:
    actions:
      - name: RECREATE
`
	pol, err := health.ParsePolicy([]byte(spec), health.DefaultLimits)
	if err != nil {
		t.Fatalf("parse policy: %v", err)
	}
	return pol.Registration(clusterID)
}

// clusterID is a cluster ID unique to the test.
func clusterID(t *testing.T) string {
	return strings.ReplaceAll(t.Name(), "/", "-")
}

// waitTimeout bounds each wait for the workflow to show a change, and
// waitTick is how often the tests look.
const (
	waitTimeout = 20 * time.Second
	waitTick    = 50 * time.Millisecond
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestRegisterTwiceRunsOneWorkflow(t *testing.T) {
	tc := temporalClient(t)
	hc := healthclient.New(tc)
	ctx := testContext(t)
	id := clusterID(t)
	reg := registration(t, id)

	run1, err := hc.Register(ctx, reg, healthclient.RegisterOptions{})
	if err != nil {
		t.Fatalf("first register: %v", err)
	}
	reg.Interval = 120
	run2, err := hc.Register(ctx, reg, healthclient.RegisterOptions{})
	if err != nil {
		t.Fatalf("second register: %v", err)
	}
	if run1 == "" || run2 != run1 {
		t.Fatalf("second register: got run %q, want the first run %q", run2, run1)
	}

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		entries, err := hc.List(ctx, healthclient.ListFilter{})
		require.NoError(c, err, "list")
		var mine []healthclient.ListEntry
		for _, e := range entries {
			if e.ClusterID == id {
				mine = append(mine, e)
			}
		}
		if len(mine) != 1 || mine[0].RunID != run1 {
			c.Errorf("list: got %+v, want one entry of run %s", mine, run1)
			return
		}
		if !mine[0].Enabled || mine[0].StartTime.IsZero() {
			c.Errorf("list: got %+v, want enabled with a start time", mine[0])
		}
	}, waitTimeout, waitTick)

	// The second registration reached the running workflow as an update.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := hc.Status(ctx, id)
		require.NoError(c, err, "status")
		if st.Registration.Interval != 120 {
			c.Errorf("status: got interval %d, want 120", st.Registration.Interval)
		}
	}, waitTimeout, waitTick)
	unregister(t, tc, hc, id, run1)
}

func TestStatusDisableEnable(t *testing.T) {
	tc := temporalClient(t)
	hc := healthclient.New(tc)
	ctx := testContext(t)
	id := clusterID(t)
	reg := registration(t, id)

	run, err := hc.Register(ctx, reg, healthclient.RegisterOptions{})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := hc.Status(ctx, id)
		switch {
		case err != nil:
			c.Errorf("status: %v", err)
		case st.ClusterID != id || st.Registration.ClusterID != id:
			c.Errorf("status: got cluster %q with registration of %q, want %q", st.ClusterID, st.Registration.ClusterID, id)
		case st.Registration.Recovery.Name != health.OpRecreate:
			c.Errorf("status: got recovery %q, want %q", st.Registration.Recovery.Name, health.OpRecreate)
		case !st.Enabled:
			c.Errorf("status: got disabled, want enabled")
		case st.Counters.Rounds < 1 || st.NodeCount != 2:
			c.Errorf("status: got %d rounds and %d nodes, want the first round done over 2 nodes", st.Counters.Rounds, st.NodeCount)
		}
	}, waitTimeout, waitTick)

	if err := hc.Disable(ctx, id, workflows.DisableSignal{Requester: "alice", Reason: "maintenance", ForSeconds: 3600}); err != nil {
		t.Fatalf("disable: %v", err)
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := hc.Status(ctx, id)
		switch {
		case err != nil:
			c.Errorf("status: %v", err)
		case st.Enabled || st.State != workflows.StateDisabled:
			c.Errorf("status after disable: got enabled %t, state %q, want disabled", st.Enabled, st.State)
		case !strings.Contains(st.EnabledNote, "alice") || st.DisabledUntil.IsZero():
			c.Errorf("status after disable: got note %q, until %v, want alice's note and a lease end", st.EnabledNote, st.DisabledUntil)
		}
	}, waitTimeout, waitTick)
	disabled := false
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		entries, err := hc.List(ctx, healthclient.ListFilter{State: workflows.StateDisabled, Enabled: &disabled})
		require.NoError(c, err, "list disabled")
		if !slices.ContainsFunc(entries, func(e healthclient.ListEntry) bool { return e.ClusterID == id }) {
			c.Errorf("list disabled: got %+v, want %s among them", entries, id)
		}
	}, waitTimeout, waitTick)

	// Bob's enable does not lift alice's pause; hers does.
	if err := hc.Enable(ctx, id, workflows.EnableSignal{Requester: "bob"}); err != nil {
		t.Fatalf("enable: %v", err)
	}
	if err := hc.Enable(ctx, id, workflows.EnableSignal{Requester: "alice"}); err != nil {
		t.Fatalf("enable: %v", err)
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := hc.Status(ctx, id)
		switch {
		case err != nil:
			c.Errorf("status: %v", err)
		case !st.Enabled || !strings.Contains(st.EnabledNote, "enabled by alice"):
			c.Errorf("status after enable: got enabled %t, note %q, want enabled by alice", st.Enabled, st.EnabledNote)
		}
	}, waitTimeout, waitTick)

	// An operator's recover request is acted on: the fake engine succeeds at once.
	if err := hc.Recover(ctx, id, health.RecoverSignal{NodeID: id + "-n1", Source: "operator"}); err != nil {
		t.Fatalf("recover: %v", err)
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := hc.Status(ctx, id)
		require.NoError(c, err, "status")
		if st.Counters.RecoveriesSucceeded != 1 || len(st.Recent) != 1 || st.Recent[0].Source != "operator" {
			c.Errorf("status after recover: got %d succeeded, recent %+v, want one operator recovery",
				st.Counters.RecoveriesSucceeded, st.Recent)
		}
	}, waitTimeout, waitTick)
	unregister(t, tc, hc, id, run)
}

// unregister unregisters the cluster and waits for its workflow to complete.
func unregister(t *testing.T, tc client.Client, hc *healthclient.Client, id, runID string) {
	t.Helper()
	ctx := testContext(t)
	if err := hc.Unregister(ctx, id, workflows.UnregisterSignal{Requester: "test", Reason: "done"}); err != nil {
		t.Fatalf("unregister: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := tc.GetWorkflow(wctx, workflows.WorkflowID(id), runID).Get(wctx, nil); err != nil {
		t.Fatalf("workflow after unregister: got %v, want it completed", err)
	}
}

func TestUnregisterThenNotRegistered(t *testing.T) {
	tc := temporalClient(t)
	hc := healthclient.New(tc)
	ctx := testContext(t)
	id := clusterID(t)

	run, err := hc.Register(ctx, registration(t, id), healthclient.RegisterOptions{Disabled: true})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := hc.Status(ctx, id)
		switch {
		case err != nil:
			c.Errorf("status: %v", err)
		case st.Enabled || st.Counters.Rounds != 0:
			c.Errorf("status of a cluster registered disabled: got enabled %t after %d rounds, want disabled, no round",
				st.Enabled, st.Counters.Rounds)
		}
	}, waitTimeout, waitTick)
	unregister(t, tc, hc, id, run)

	// The finished workflow answers nothing, and receives nothing.
	if _, err := hc.Status(ctx, id); !errors.Is(err, healthclient.ErrNotRegistered) {
		t.Errorf("status after unregister: got %v, want ErrNotRegistered", err)
	}
	if err := hc.Enable(ctx, id, workflows.EnableSignal{}); !errors.Is(err, healthclient.ErrNotRegistered) {
		t.Errorf("enable after unregister: got %v, want ErrNotRegistered", err)
	}

	// Registering again starts a new run.
	run2, err := hc.Register(ctx, registration(t, id), healthclient.RegisterOptions{})
	if err != nil {
		t.Fatalf("register again: %v", err)
	}
	if run2 == run {
		t.Fatalf("register again: got the finished run %s, want a new one", run)
	}
	unregister(t, tc, hc, id, run2)
}

func TestNeverRegistered(t *testing.T) {
	hc := healthclient.New(temporalClient(t))
	ctx := testContext(t)
	id := clusterID(t)

	calls := []struct {
		name string
		call func() error
	}{
		{"recover", func() error { return hc.Recover(ctx, id, health.RecoverSignal{NodeID: "n1", Source: "operator"}) }},
		{"enable", func() error { return hc.Enable(ctx, id, workflows.EnableSignal{}) }},
		{"disable", func() error { return hc.Disable(ctx, id, workflows.DisableSignal{}) }},
		{"update", func() error { return hc.Update(ctx, registration(t, id)) }},
		{"unregister", func() error { return hc.Unregister(ctx, id, workflows.UnregisterSignal{}) }},
		{"status", func() error { _, err := hc.Status(ctx, id); return err }},
	}
	for _, c := range calls {
		err := c.call()
		if !errors.Is(err, healthclient.ErrNotRegistered) {
			t.Errorf("%s: got %v, want ErrNotRegistered", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), id) {
			t.Errorf("%s: got %q, want the cluster ID %s in it", c.name, err, id)
		}
	}
}

// TestInvalidInput needs no server: bad input is rejected before any call.
func TestInvalidInput(t *testing.T) {
	hc := healthclient.New(nil)
	ctx := context.Background()
	valid := registration(t, "c1")
	noModes := valid
	noModes.DetectionModes = nil

	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"register without cluster", func() error {
			_, err := hc.Register(ctx, health.Registration{}, healthclient.RegisterOptions{})
			return err
		}, "cluster_id"},
		{"register without modes", func() error {
			_, err := hc.Register(ctx, noModes, healthclient.RegisterOptions{})
			return err
		}, "properties.detection.detection_modes"},
		{"update without cluster", func() error { return hc.Update(ctx, health.Registration{}) }, "cluster_id"},
		{"enable without cluster", func() error { return hc.Enable(ctx, "", workflows.EnableSignal{}) }, "cluster_id"},
		{"disable without cluster", func() error { return hc.Disable(ctx, "", workflows.DisableSignal{}) }, "cluster_id"},
		{"disable for negative", func() error { return hc.Disable(ctx, "c1", workflows.DisableSignal{ForSeconds: -1}) }, "for_seconds"},
		{"recover without cluster", func() error { return hc.Recover(ctx, "", health.RecoverSignal{NodeID: "n1"}) }, "cluster_id"},
		{"recover without node", func() error { return hc.Recover(ctx, "c1", health.RecoverSignal{}) }, "node_id"},
		{"unregister without cluster", func() error { return hc.Unregister(ctx, "", workflows.UnregisterSignal{}) }, "cluster_id"},
		{"status without cluster", func() error { _, err := hc.Status(ctx, ""); return err }, "cluster_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestListQuery(t *testing.T) {
	yes := true
	tests := []struct {
		f    healthclient.ListFilter
		want string
	}{
		{healthclient.ListFilter{}, "WorkflowType = 'ClusterHealth' AND ExecutionStatus = 'Running'"},
		{healthclient.ListFilter{State: "degraded", Enabled: &yes},
			"WorkflowType = 'ClusterHealth' AND ExecutionStatus = 'Running' AND HealthState = 'degraded' AND HealthEnabled = true"},
		{healthclient.ListFilter{State: `it's`}, `WorkflowType = 'ClusterHealth' AND ExecutionStatus = 'Running' AND HealthState = 'it\'s'`},
	}
	for _, tt := range tests {
		if got := healthclient.ListQuery(tt.f); got != tt.want {
			t.Errorf("ListQuery(%+v):\ngot  %s\nwant %s", tt.f, got, tt.want)
		}
	}
}
