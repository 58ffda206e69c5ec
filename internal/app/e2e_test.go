package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/devserver"
	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
	"github.com/clusterhealth/healthd/internal/testkit"
	"github.com/clusterhealth/healthd/internal/testkit/temporaltest"
	"github.com/clusterhealth/healthd/workflows"
)

// envTemporal chooses the Temporal that startTemporal starts: unset or "dev"
// for the dev server, "server" for the Temporal server on PostgreSQL
// (temporaltest; scripts/temporal-server.sh sets it).
const envTemporal = "HEALTHD_TEST_TEMPORAL"

// testTemporal is a Temporal frontend of a test.
type testTemporal struct{ Address string }

// startTemporal starts a real Temporal for the test, the dev server unless
// HEALTHD_TEST_TEMPORAL says otherwise; it fails the test when its binaries
// are missing.
func startTemporal(t testing.TB) testTemporal { return startTemporalWith(t, nil) }

// startTemporalWith is startTemporal with dynamic config values.
func startTemporalWith(t testing.TB, dynamic map[string]string) testTemporal {
	t.Helper()
	testkit.Integration(t, "a Temporal server")
	switch kind := os.Getenv(envTemporal); kind {
	case "", "dev":
	case "server":
		return testTemporal{Address: temporaltest.Start(t, temporaltest.Options{DynamicConfig: dynamic}).Address}
	default:
		t.Fatalf("%s=%q: want dev or server", envTemporal, kind)
	}
	srv, err := devserver.Start(context.Background(), devserver.Options{DynamicConfig: dynamic})
	if err != nil {
		t.Fatalf("start Temporal dev server (run scripts/install-temporal.sh): %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return testTemporal{Address: srv.Address}
}

// nodes is a set of httptest "nodes" whose health can be switched.
type nodes struct {
	mu      sync.Mutex
	broken  map[string]bool
	srv     *httptest.Server
	webhook atomic.Int32
	hook    *httptest.Server
	// requests are the webhook calls received, in order.
	requests []engine.WebhookRequest
}

// lastRequest is the latest webhook call, if any.
func (n *nodes) lastRequest() (engine.WebhookRequest, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.requests) == 0 {
		return engine.WebhookRequest{}, false
	}
	return n.requests[len(n.requests)-1], true
}

func newNodes(t testing.TB, names ...string) *nodes {
	n := &nodes{broken: map[string]bool{}}
	for _, name := range names {
		n.broken[name] = false
	}
	n.srv = nodeServer(t, func(_ *http.Request, name string) bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.broken[name]
	})
	n.hook = webhookServer(t, func(_ http.ResponseWriter, _ *http.Request, req engine.WebhookRequest) {
		n.webhook.Add(1)
		n.mu.Lock()
		n.requests = append(n.requests, req)
		n.broken[req.NodeName] = false
		n.mu.Unlock()
	})
	return n
}

// nodeServer serves the poll URLs /<node name> of test nodes until the test
// ends: 503 while down says the node is down (down may hold the request, to
// make a slow node), else a body that pollURLRegistration's pattern matches.
func nodeServer(t testing.TB, down func(r *http.Request, name string) bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down(r, strings.Trim(r.URL.Path, "/")) {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "status: ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// webhookServer serves a recovery webhook until the test ends: each request
// the engine POSTs is decoded and handed to on, which may answer it (200 when
// it writes nothing).
func webhookServer(t testing.TB, on func(w http.ResponseWriter, r *http.Request, req engine.WebhookRequest)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req engine.WebhookRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		on(w, r, req)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// waitTick is how often a wait on the running services checks its condition.
const waitTick = 100 * time.Millisecond

// testAllow is PROBE_ALLOW_CIDRS in the tests: their nodes, status URLs and
// webhooks listen on loopback.
const testAllow = "127.0.0.0/8"

// testConfig is the configuration of an app under test: the Temporal server
// at address, a fresh migrated database of the test's own and no metrics
// listener.
func testConfig(t testing.TB, address string) app.Config {
	t.Helper()
	cfg := app.Defaults()
	cfg.Temporal.Address = address
	cfg.Database.URL = storetest.DSN(t)
	cfg.Metrics.Addr = ""
	cfg.Health.IntervalMin = 1 // the tests' clusters poll every few seconds
	cfg.Network.Allow = testAllow
	// The tests publish captured notifications, whose timestamps are old.
	cfg.Bridge.MaxEventAge = 0
	return cfg
}

// dialTemporal returns a client of the server, closed when the test ends.
func dialTemporal(t testing.TB, address string) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: address})
	if err != nil {
		t.Fatalf("dial Temporal at %s: %v", address, err)
	}
	t.Cleanup(c.Close)
	return c
}

// pollURLRegistration watches the nodes of a cluster through an HTTP poll URL
// on base, "<base>/<node name>", every 2 s, recovering by RECREATE.
func pollURLRegistration(clusterID, base string, nodeUpdateTimeout int) health.Registration {
	return health.Registration{
		ClusterID: clusterID, Interval: 2, NodeUpdateTimeout: nodeUpdateTimeout, RecoveryConditional: health.AnyFailed,
		DetectionModes: []health.DetectionMode{{Type: health.NodeStatusPollURL, PollURL: base + "/{nodename}",
			PollURLSSLVerify: true, PollURLConnErrorAsUnhealthy: true, PollURLHealthyResponse: "ok",
			PollURLRetryLimit: 2, PollURLRetryInterval: 1}},
		Recovery: health.RecoveryAction{Name: health.OpRecreate}, NodeDeleteTimeout: 20,
	}
}

// startCluster starts the ClusterHealth workflow of a registration.
func startCluster(t testing.TB, c client.Client, reg health.Registration) {
	t.Helper()
	if _, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: workflows.WorkflowID(reg.ClusterID),
		TaskQueue: workflows.TaskQueue}, workflows.WorkflowName, workflows.Input{Registration: reg}); err != nil {
		t.Fatalf("start the workflow of cluster %s: %v", reg.ClusterID, err)
	}
}

// clusterStatus queries the cluster's workflow; the zero Status while the
// query cannot be answered.
func clusterStatus(ctx context.Context, c client.Client, clusterID string) workflows.Status {
	v, err := c.QueryWorkflow(ctx, workflows.WorkflowID(clusterID), "", workflows.QueryStatus)
	if err != nil {
		return workflows.Status{}
	}
	var s workflows.Status
	_ = v.Get(&s)
	return s
}

func TestEndToEndRecovery(t *testing.T) {
	ctx := context.Background()
	temporalSrv := startTemporal(t)
	m := runApp(t, testConfig(t, temporalSrv.Address), zaptest.NewLogger(t), app.RoleHealth, app.RoleEngine)

	ns := newNodes(t, "n-1", "n-2", "n-3")
	ns.broken["n-2"] = true
	st := m.Store
	if err := seedCluster(ctx, st, "c-e2e", ns.hook.URL, []string{"n-1", "n-2", "n-3"}); err != nil {
		t.Fatal(err)
	}
	// A node the engine is updating is skipped, not judged.
	if err := st.UpsertNode(ctx, health.Node{ID: "id-n-4", ClusterID: "c-e2e", Name: "n-4", PhysicalID: "vm-n-4",
		Status: health.NodeUpdating, InitAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	c := dialTemporal(t, temporalSrv.Address)
	reg := pollURLRegistration("c-e2e", ns.srv.URL, 60)
	reg.Recovery.Params = map[string]any{"image": "web-v2"}
	reg.Fencing = []string{"COMPUTE"}
	startCluster(t, c, reg)
	status := func() workflows.Status { return clusterStatus(ctx, c, "c-e2e") }
	require.Eventually(t, func() bool { return status().Counters.RecoveriesSucceeded == 1 }, 60*time.Second, waitTick, "waiting for the recovery to succeed")
	after := status().Counters.Rounds
	// Two more full rounds must not ask again for the mended node.
	require.Eventually(t, func() bool { return status().Counters.Rounds >= after+2 }, 30*time.Second, waitTick, "waiting for two more rounds")

	acts, err := st.ListActions(ctx, "c-e2e")
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 {
		t.Fatalf("actions: got %d, want exactly 1: %+v", len(acts), acts)
	}
	if got, want := acts[0].NodeID, "id-n-2"; got != want {
		t.Errorf("action node: got %s, want %s", got, want)
	}
	if got, want := acts[0].Status, health.ActionSucceeded; got != want {
		t.Errorf("action status: got %s, want %s", got, want)
	}
	if got := ns.webhook.Load(); got != 1 {
		t.Errorf("webhook calls: got %d, want 1", got)
	}
	// The policy's action params and fencing reach the action and the
	// webhook (Senlin dropped both, F-16).
	if p := acts[0].Params; p.OperationParams["image"] != "web-v2" || len(p.Fencing) != 1 || p.Fencing[0] != "COMPUTE" {
		t.Errorf("action params: got %+v, want operation_params image web-v2 and fencing COMPUTE", p)
	}
	if req, ok := ns.lastRequest(); !ok || req.Operation != string(health.OpRecreate) || req.OperationParams["image"] != "web-v2" ||
		len(req.Fencing) != 1 || req.Fencing[0] != "COMPUTE" || req.ActionID != acts[0].ID {
		t.Errorf("webhook request: got %+v, want RECREATE of action %s with image web-v2 and fencing COMPUTE", req, acts[0].ID)
	}
	// What the workflow counted reached the worker's Prometheus registry:
	// final verdicts (the skipped node among them), the recovery, and its
	// time from the first failed check.
	got := gatherCounts(t, m)
	if got["healthd_rounds_total"] < 3 || got[`healthd_checks_total{verdict="skipped"}`] < 2 ||
		got[`healthd_checks_total{verdict="unhealthy"}`] < 1 || got[`healthd_checks_total{verdict="healthy"}`] < 4 {
		t.Errorf("checks: got %v, want at least 3 rounds, the skipped node counted in each, n-2 unhealthy once", got)
	}
	if got[`healthd_recoveries_total{outcome="succeeded"}`] != 1 || got["healthd_detection_to_recovery_seconds_count"] != 1 {
		t.Errorf("recoveries: got %v, want one succeeded and one detection-to-recovery sample", got)
	}
	// The sample runs from the failed round's start: at least the URL retry
	// interval (1 s) before the action was asked for.
	if d := got["healthd_detection_to_recovery_seconds_sum"]; d < 1 || d > 30 {
		t.Errorf("detection to recovery: got %.3f s, want at least the 1 s retry interval and well under 30 s", d)
	}
	s := status()
	if len(s.Recent) != 1 || s.Recent[0].ActionID != acts[0].ID || s.Recent[0].Outcome != "SUCCEEDED" {
		t.Errorf("status recent recoveries: got %+v, want the SUCCEEDED action %s", s.Recent, acts[0].ID)
	}
	node, err := st.GetNode(ctx, "id-n-2")
	if err != nil {
		t.Fatal(err)
	}
	if node.Status != health.NodeActive || node.UpdatedAt.IsZero() {
		t.Errorf("recovered node: got status %s updated %s, want ACTIVE and updated", node.Status, node.UpdatedAt)
	}
	recordHistory(t, c, workflows.WorkflowID("c-e2e"), "poll_url_recovery")
	evs, err := st.HealthTimeline(ctx, store.HealthEventFilter{ClusterID: "c-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Error("health events: got none, want the incident timeline")
	}
}

// gatherCounts reads the app's registry: counter values by series
// (name{label="value"}), and a histogram's _count and _sum.
func gatherCounts(t testing.TB, m *app.Main) map[string]float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			name := f.GetName()
			if labels := mt.GetLabel(); len(labels) > 0 {
				var parts []string
				for _, l := range labels {
					parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				name += "{" + strings.Join(parts, ",") + "}"
			}
			switch {
			case mt.GetCounter() != nil:
				out[name] = mt.GetCounter().GetValue()
			case mt.GetHistogram() != nil:
				out[name+"_count"] = float64(mt.GetHistogram().GetSampleCount())
				out[name+"_sum"] = mt.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}
