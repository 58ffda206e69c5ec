package app_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/openstack"
	"github.com/clusterhealth/healthd/internal/openstacktest"
	"github.com/clusterhealth/healthd/workflows"
)

// runOpenStackApp runs the health worker and the engine with the openstack
// driver, as the bench's project member.
func runOpenStackApp(t *testing.T, b *openstacktest.Bench) (*app.Main, client.Client) {
	t.Helper()
	srv := startTemporal(t)
	cfg := testConfig(t, srv.Address)
	cfg.Engine.Driver = engine.DriverOpenStack
	cfg.Engine.OpenStackRefresh = time.Second
	m := app.New(cfg, zaptest.NewLogger(t))
	m.Getenv = func(k string) string {
		switch k {
		case "OS_CLOUD":
			return openstacktest.MemberCloud
		case "OS_CLIENT_CONFIG_FILE":
			return b.ConfigFile
		}
		return ""
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, app.RoleHealth, app.RoleEngine) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app run: %v", err)
		}
	})
	require.Eventually(t, m.Started, 60*time.Second, waitTick, "waiting for the app to start")
	return m, dialTemporal(t, srv.Address)
}

// The openstack driver on the bench's real Nova, NODE_STATUS_POLLING: it
// adopts six servers that carry the cluster's ID in their metadata (as
// Senlin tags its own) as nodes; one of them stopped is seen SHUTOFF in
// Nova's own server list, recovered by a hard reboot through Nova, and
// ACTIVE again; no other node is touched.
func TestOpenStackDriverRecoversAStoppedServer(t *testing.T) {
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	m, c := runOpenStackApp(t, b)
	suffix := fmt.Sprint(time.Now().UnixNano())
	clusterID := "os-driver-" + suffix
	if err := m.Store.UpsertCluster(ctx, health.Cluster{ID: clusterID, Name: "driver", Project: b.Member.ProjectID,
		ProfileType: openstack.ProfilePrefix + "-1.0"}); err != nil {
		t.Fatal(err)
	}
	meta := func(i int) map[string]string {
		return map[string]string{openstack.MetaClusterID: clusterID, openstack.MetaNodeID: fmt.Sprintf("node-%s-%d", suffix, i)}
	}
	srvs := b.Boot(t, b.Member, "driver-"+suffix, 6, meta)
	require.Eventually(t, func() bool {
		nodes, err := m.Store.ListNodes(ctx, clusterID)
		if err != nil || len(nodes) != 6 {
			return false
		}
		for _, n := range nodes {
			if n.PhysicalStatus != "ACTIVE" {
				return false
			}
		}
		return true
	}, time.Minute, waitTick, "waiting for the driver to adopt the 6 servers")

	reg := health.Registration{ClusterID: clusterID, Interval: 2, NodeUpdateTimeout: 1, RecoveryConditional: health.AnyFailed,
		DetectionModes: []health.DetectionMode{{Type: health.NodeStatusPolling}},
		Recovery:       health.RecoveryAction{Name: health.OpReboot}, NodeDeleteTimeout: 20}
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(clusterID), TaskQueue: workflows.TaskQueue},
		workflows.WorkflowName, workflows.Input{Registration: reg}); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return clusterStatus(ctx, c, clusterID).Counters.Rounds >= 2 }, time.Minute, waitTick,
		"waiting for two rounds of a healthy cluster")
	if acts, _ := m.Store.ListActions(ctx, clusterID); len(acts) != 0 {
		t.Fatalf("actions of a healthy cluster: got %d, want none", len(acts))
	}

	stopped := srvs[2]
	start := time.Now()
	if err := servers.Stop(ctx, b.Member.Compute, stopped.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	var acted time.Duration
	require.Eventually(t, func() bool {
		acts, err := m.Store.ListActions(ctx, clusterID)
		if err == nil && len(acts) > 0 && acted == 0 {
			acted = time.Since(start)
		}
		return err == nil && len(acts) == 1 && acts[0].Status == health.ActionSucceeded
	}, 2*time.Minute, waitTick, "waiting for the recovery of %s", stopped.Name)
	b.WaitStatus(t, b.Member, stopped.ID, "ACTIVE", time.Minute)
	back := time.Since(start)
	t.Logf("stop → action %s → ACTIVE %s", acted.Round(time.Millisecond), back.Round(time.Millisecond))

	acts, err := m.Store.ListActions(ctx, clusterID)
	if err != nil {
		t.Fatal(err)
	}
	if want := meta(3)[openstack.MetaNodeID]; len(acts) != 1 || acts[0].NodeID != want || acts[0].Params.Operation != health.OpReboot {
		t.Errorf("actions: got %+v, want one REBOOT of %s", acts, want)
	}
	for _, s := range srvs {
		got := b.WaitStatus(t, b.Member, s.ID, "ACTIVE", time.Second)
		if got.Status != "ACTIVE" {
			t.Errorf("server %s: got %s, want ACTIVE", s.Name, got.Status)
		}
	}
	// A server deleted leaves the cluster within a refresh.
	gone := srvs[5]
	if err := servers.Delete(ctx, b.Member.Compute, gone.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool {
		nodes, err := m.Store.ListNodes(ctx, clusterID)
		return err == nil && len(nodes) == 5 && !slices.ContainsFunc(nodes, func(n health.Node) bool { return n.PhysicalID == gone.ID })
	}, time.Minute, waitTick, "waiting for the deleted server's node to go")
}
