package app_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/triage"
	"github.com/clusterhealth/healthd/workflows"
)

// Against the real stack: 10 nodes, 5 failed and staying failed. Over
// several rounds no recovery is asked for and the status says why; then 3
// come back, and only the 2 still failed are recovered.
func TestZoneOutageEndToEnd(t *testing.T) {
	ctx := context.Background()
	temporalSrv := startTemporal(t)
	m := runApp(t, testConfig(t, temporalSrv.Address), zaptest.NewLogger(t), app.RoleHealth, app.RoleEngine)
	var names []string
	for i := 1; i <= 10; i++ {
		names = append(names, fmt.Sprintf("n-%d", i))
	}
	ns := newNodes(t, names...)
	ns.mu.Lock()
	for _, n := range names[:5] {
		ns.broken[n] = true
	}
	ns.mu.Unlock()
	if err := seedCluster(ctx, m.Store, "c-zone", ns.hook.URL, names); err != nil {
		t.Fatal(err)
	}
	c := dialTemporal(t, temporalSrv.Address)
	startCluster(t, c, pollURLRegistration("c-zone", ns.srv.URL, 1))
	status := func() workflows.Status { return clusterStatus(ctx, c, "c-zone") }

	require.Eventually(t, func() bool { return status().Hold != nil }, 60*time.Second, waitTick, "waiting for the cluster hold")
	rounds := status().Counters.Rounds
	require.Eventually(t, func() bool { return status().Counters.Rounds >= rounds+3 }, 60*time.Second, waitTick, "waiting for 3 more rounds")
	s := status()
	if s.Hold.Reason != triage.ReasonMaxUnhealthy || !strings.HasPrefix(s.Hold.Detail, "held: 5 of 10 unhealthy, above max_unhealthy 40%") {
		t.Errorf("hold: got %+v, want held for max_unhealthy", s.Hold)
	}
	if acts, err := m.Store.ListActions(ctx, "c-zone"); err != nil || len(acts) != 0 {
		t.Fatalf("actions while 5 of 10 are down: got %d (err %v), want 0", len(acts), err)
	}
	if got := ns.webhook.Load(); got != 0 {
		t.Errorf("webhook calls while held: got %d, want 0", got)
	}
	events, err := m.Store.HealthTimeline(ctx, store.HealthEventFilter{ClusterID: "c-zone"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(events, func(e health.HealthEvent) bool { return e.NodeID == "" && e.To == "cluster hold max_unhealthy" }) {
		t.Errorf("health events: got %+v, want the cluster hold", events)
	}

	ns.mu.Lock()
	for _, n := range names[:3] {
		ns.broken[n] = false
	}
	ns.mu.Unlock()
	require.Eventually(t, func() bool { return status().Counters.RecoveriesSucceeded == 2 }, 60*time.Second, waitTick, "waiting for the 2 still failed to be recovered")
	acts, err := m.Store.ListActions(ctx, "c-zone")
	if err != nil {
		t.Fatal(err)
	}
	var recovered []string
	for _, a := range acts {
		recovered = append(recovered, a.NodeID)
	}
	slices.Sort(recovered)
	if !slices.Equal(recovered, []string{"id-n-4", "id-n-5"}) {
		t.Errorf("recovered: got %v, want id-n-4 and id-n-5", recovered)
	}
	if s := status(); s.Hold != nil {
		t.Errorf("hold after 3 came back: got %+v, want none", s.Hold)
	}
	recordHistory(t, c, workflows.WorkflowID("c-zone"), "zone_outage")
}
