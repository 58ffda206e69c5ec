package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/devserver"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/workflows"
)

// startTemporal starts a Temporal dev server (the temporal CLI binary) and a
// worker running the real ClusterHealth workflow and activities over an
// in-memory engine; both stop when the test ends. It returns the server's
// address. A missing binary fails the test.
func startTemporal(t *testing.T) string {
	t.Helper()
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
	w.RegisterActivity(&activities.Activities{Store: &fakeEngine{actions: map[string]health.Action{}}, Prober: healthyProber{},
		SweepConcurrency: 4, PollInterval: 50 * time.Millisecond})
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return srv.Address
}

// fakeEngine is an in-memory engine contract: every cluster exists with two
// ACTIVE nodes, and every recovery succeeds at once.
type fakeEngine struct {
	mu      sync.Mutex
	actions map[string]health.Action // by idempotency key
}

func (e *fakeEngine) GetCluster(_ context.Context, id string) (health.Cluster, error) {
	return health.Cluster{ID: id, Name: "cluster " + id, Project: "p1"}, nil
}

func (e *fakeEngine) ListNodes(_ context.Context, clusterID string) ([]health.Node, error) {
	at := time.Now().Add(-time.Hour)
	return []health.Node{
		{ID: "n1", ClusterID: clusterID, Name: "node-1", Status: health.NodeActive, InitAt: at, PhysicalID: "s1", PhysicalStatus: "ACTIVE"},
		{ID: "n2", ClusterID: clusterID, Name: "node-2", Status: health.NodeActive, InitAt: at, PhysicalID: "s2", PhysicalStatus: "ACTIVE"},
	}, nil
}

func (e *fakeEngine) CreateRecoverAction(_ context.Context, key, clusterID, nodeID string, p health.RecoverParams) (health.Action, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a, ok := e.actions[key]; ok {
		return a, false, nil
	}
	a := health.Action{ID: fmt.Sprintf("a%d", len(e.actions)+1), IdempotencyKey: key, ClusterID: clusterID, NodeID: nodeID,
		Action: health.ActionNodeRecover, Params: p, Status: health.ActionSucceeded, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	e.actions[key] = a
	return a, true, nil
}

func (e *fakeEngine) GetAction(_ context.Context, id string) (health.Action, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.actions {
		if a.ID == id {
			return a, nil
		}
	}
	return health.Action{}, fmt.Errorf("action %s: %w", id, health.ErrNotFound)
}

func (e *fakeEngine) AddHealthEvents(context.Context, []health.HealthEvent) error { return nil }

// healthyProber finds every poll URL healthy.
type healthyProber struct{}

func (healthyProber) Probe(context.Context, string, health.DetectionMode) health.ProbeResult {
	return health.ProbeResult{Healthy: true, StatusCode: 200, Detail: "200 OK"}
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

// eventually calls cond until it returns "" or the deadline passes, then
// fails with the last thing cond reported.
func eventually(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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

	eventually(t, 20*time.Second, func() string {
		st, msg := statusOf(t, addr, "c1")
		switch {
		case msg != "":
			return msg
		case !st.Enabled || st.Counters.Rounds < 1 || len(st.Nodes) != 2:
			return fmt.Sprintf("status: got enabled %t, %d rounds, %d nodes, want the first round done", st.Enabled, st.Counters.Rounds, len(st.Nodes))
		}
		return ""
	})
	out = mustStarter(t, addr, "status", "--cluster", "c1")
	for _, want := range []string{"State:             healthy", "Checks:            enabled", "node-1", "node-2", "Next round:"} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q; got:\n%s", want, out)
		}
	}

	eventually(t, 20*time.Second, func() string {
		code, out, errOut := starter(t, addr, "list", "--json")
		var entries []healthclient.ListEntry
		if code != 0 || json.Unmarshal([]byte(out), &entries) != nil {
			return fmt.Sprintf("list --json: exit %d, %q %q", code, out, errOut)
		}
		if len(entries) != 1 || entries[0].ClusterID != "c1" || entries[0].RunID != runID || entries[0].State != workflows.StateHealthy {
			return fmt.Sprintf("list: got %+v, want c1 healthy, run %s, alone", entries, runID)
		}
		return ""
	})

	out = mustStarter(t, addr, "disable", "--cluster", "c1", "--reason", "upgrade", "--for", "30m")
	if !strings.Contains(out, "resume by themselves") {
		t.Errorf("disable: got %q", out)
	}
	eventually(t, 20*time.Second, func() string {
		st, msg := statusOf(t, addr, "c1")
		switch {
		case msg != "":
			return msg
		case st.Enabled || !strings.Contains(st.EnabledNote, "upgrade") || st.DisabledUntil.IsZero():
			return fmt.Sprintf("status after disable: got enabled %t, note %q, until %v", st.Enabled, st.EnabledNote, st.DisabledUntil)
		}
		return ""
	})
	eventually(t, 20*time.Second, func() string {
		out := mustStarter(t, addr, "list", "--disabled")
		if !strings.Contains(out, "c1") || !strings.Contains(out, "disabled") {
			return fmt.Sprintf("list --disabled: got %q, want c1", out)
		}
		return ""
	})

	mustStarter(t, addr, "enable", "--cluster", "c1", "--reason", "upgrade done")
	mustStarter(t, addr, "recover", "--cluster", "c1", "--node", "n2", "--reason", "console shows a panic")
	eventually(t, 20*time.Second, func() string {
		st, msg := statusOf(t, addr, "c1")
		switch {
		case msg != "":
			return msg
		case !st.Enabled:
			return "status after enable: got disabled"
		case len(st.Recent) != 1 || st.Recent[0].Source != "operator" || !strings.Contains(st.Recent[0].Reason, "console shows a panic"):
			return fmt.Sprintf("status after recover: got recent %+v, want the operator's recovery", st.Recent)
		}
		return ""
	})

	mustStarter(t, addr, "unregister", "--cluster", "c1", "--reason", "test over")
	eventually(t, 20*time.Second, func() string {
		code, _, errOut := starter(t, addr, "status", "--cluster", "c1")
		want := "cluster c1 is not registered: run `starter register --cluster c1 --policy FILE` first"
		if code != 1 || !strings.Contains(errOut, want) {
			return fmt.Sprintf("status after unregister: got exit %d, %q, want %q", code, errOut, want)
		}
		return ""
	})
	code, _, errOut := starter(t, addr, "recover", "--cluster", "c9", "--node", "n1")
	if code != 1 || !strings.Contains(errOut, "cluster c9 is not registered: run `starter register --cluster c9 --policy FILE` first") {
		t.Errorf("recover on an unregistered cluster: got exit %d, %q", code, errOut)
	}
}
