package app_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	computeservices "github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/stretchr/testify/assert"
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
	return runOpenStackAppAs(t, b, openstacktest.MemberCloud)
}

// runOpenStackAppAs is runOpenStackApp with the credentials of cloud; an
// admin's list every project's servers.
func runOpenStackAppAs(t *testing.T, b *openstacktest.Bench, cloud string) (*app.Main, client.Client) {
	t.Helper()
	srv := startTemporal(t)
	cfg := testConfig(t, srv.Address)
	cfg.Engine.Driver = engine.DriverOpenStack
	cfg.Engine.OpenStackRefresh = time.Second
	cfg.Engine.OpenStackAllProjects = cloud == openstacktest.AdminCloud
	m := app.New(cfg, zaptest.NewLogger(t))
	m.Getenv = func(k string) string {
		switch k {
		case "OS_CLOUD":
			return cloud
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

	startPolling(t, c, clusterID, health.NodeStatusPolling, health.OpReboot)
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

// startPolling starts the workflow of a cluster of the driver, polling
// mode every 2 s (grace 1 s) and recovering by op, with the fencing given.
func startPolling(t *testing.T, c client.Client, clusterID string, mode health.DetectionType, op health.Operation, fencing ...string) {
	t.Helper()
	reg := health.Registration{ClusterID: clusterID, Interval: 2, NodeUpdateTimeout: 1, RecoveryConditional: health.AnyFailed,
		DetectionModes: []health.DetectionMode{{Type: mode}}, Recovery: health.RecoveryAction{Name: op}, Fencing: fencing,
		NodeDeleteTimeout: 20}
	if _, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: workflows.WorkflowID(clusterID),
		TaskQueue: workflows.TaskQueue}, workflows.WorkflowName, workflows.Input{Registration: reg}); err != nil {
		t.Fatal(err)
	}
}

// adoptServers writes the cluster's row for the openstack driver, boots n
// servers that carry its ID in their metadata, and waits until the driver
// has made them its nodes.
func adoptServers(t *testing.T, m *app.Main, b *openstacktest.Bench, clusterID string, n int) ([]servers.Server, func(int) string) {
	t.Helper()
	ctx := context.Background()
	if err := m.Store.UpsertCluster(ctx, health.Cluster{ID: clusterID, Name: clusterID, Project: b.Member.ProjectID,
		ProfileType: health.NovaServerProfile}); err != nil {
		t.Fatal(err)
	}
	nodeID := func(i int) string { return fmt.Sprintf("%s-node-%02d", clusterID, i) }
	srvs := b.Boot(t, b.Member, clusterID, n, func(i int) map[string]string {
		return map[string]string{openstack.MetaClusterID: clusterID, openstack.MetaNodeID: nodeID(i)}
	})
	require.Eventually(t, func() bool {
		nodes, err := m.Store.ListNodes(ctx, clusterID)
		return err == nil && len(nodes) == n && !slices.ContainsFunc(nodes, func(n health.Node) bool { return n.PhysicalStatus != "ACTIVE" })
	}, time.Minute, waitTick, "waiting for the driver to adopt the %d servers", n)
	return srvs, nodeID
}

// LIFECYCLE_EVENTS with the openstack driver: Nova's own notifications of a
// stopped server, through the bridge, end in a RECREATE through Nova; the
// node follows its new server.
func TestOpenStackDriverRecreatesOnNovaEvents(t *testing.T) {
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	t.Setenv("OS_CLOUD", openstacktest.MemberCloud)
	t.Setenv("OS_CLIENT_CONFIG_FILE", b.ConfigFile)
	s := startEventsStackOn(t, startTemporal(t).Address, func(cfg *app.Config) {
		cfg.Bridge.NovaExchange = "nova"
		cfg.Engine.Driver = engine.DriverOpenStack
		cfg.Engine.OpenStackRefresh = time.Second
	})
	clusterID := fmt.Sprintf("os-events-%d", time.Now().UnixNano())
	srvs, nodeID := adoptServers(t, s.app, b, clusterID, 4)
	if _, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(clusterID), TaskQueue: workflows.TaskQueue},
		workflows.WorkflowName, workflows.Input{Registration: eventsRegistration(clusterID, health.Safety{})}); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return s.status(ctx, clusterID).NodeCount == 4 }, 30*time.Second, waitTick,
		"waiting for the workflow to learn its cluster")

	old := srvs[0]
	start := time.Now()
	if err := servers.Stop(ctx, b.Member.Compute, old.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	var moved health.Node
	require.Eventually(t, func() bool {
		n, err := s.app.Store.GetNode(ctx, nodeID(1))
		moved = n
		acts, aerr := s.app.Store.ListActions(ctx, clusterID)
		return err == nil && aerr == nil && n.PhysicalID != old.ID && n.PhysicalStatus == "ACTIVE" &&
			len(acts) > 0 && acts[0].Status == health.ActionSucceeded
	}, 2*time.Minute, waitTick, "waiting for the recovery, and the node to follow its recreated server")
	t.Logf("stop → recreated server ACTIVE and adopted: %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { _ = servers.Delete(context.Background(), b.Member.Compute, moved.PhysicalID).ExtractErr() })
	acts, err := s.app.Store.ListActions(ctx, clusterID)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 || acts[0].NodeID != nodeID(1) || acts[0].Params.Operation != health.OpRecreate || acts[0].Status != health.ActionSucceeded {
		t.Errorf("actions: got %+v, want one succeeded RECREATE of %s", acts, nodeID(1))
	}
}

// A zone outage with the openstack driver and NODE_STATUS_POLLING: 5 of 10
// servers stopped get nothing (held by max_unhealthy); once 3 are started by
// hand, only the other 2 are recovered through Nova.
func TestOpenStackDriverHoldsAZoneOutage(t *testing.T) {
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	m, c := runOpenStackApp(t, b)
	clusterID := fmt.Sprintf("os-zone-%d", time.Now().UnixNano())
	srvs, nodeID := adoptServers(t, m, b, clusterID, 10)
	startPolling(t, c, clusterID, health.NodeStatusPolling, health.OpReboot)
	require.Eventually(t, func() bool { return clusterStatus(ctx, c, clusterID).Counters.Rounds >= 1 }, time.Minute, waitTick,
		"waiting for the first round")
	for _, s := range srvs[:5] {
		if err := servers.Stop(ctx, b.Member.Compute, s.ID).ExtractErr(); err != nil {
			t.Fatal(err)
		}
	}
	require.Eventually(t, func() bool {
		st := clusterStatus(ctx, c, clusterID)
		return st.Hold != nil && st.Counters.Unhealthy >= 5
	}, time.Minute, waitTick, "waiting for the outage to be held")
	// Rounds go on; nothing is asked for.
	rounds := clusterStatus(ctx, c, clusterID).Counters.Rounds
	require.Eventually(t, func() bool { return clusterStatus(ctx, c, clusterID).Counters.Rounds >= rounds+3 }, time.Minute, waitTick,
		"waiting for three more rounds")
	if acts, _ := m.Store.ListActions(ctx, clusterID); len(acts) != 0 {
		t.Fatalf("actions while 5 of 10 are stopped: got %d, want none", len(acts))
	}
	for _, s := range srvs[:3] {
		if err := servers.Start(ctx, b.Member.Compute, s.ID).ExtractErr(); err != nil {
			t.Fatal(err)
		}
	}
	require.Eventually(t, func() bool {
		acts, err := m.Store.ListActions(ctx, clusterID)
		done := 0
		for _, a := range acts {
			if a.Status == health.ActionSucceeded {
				done++
			}
		}
		return err == nil && done == 2
	}, 2*time.Minute, waitTick, "waiting for the 2 still stopped to be recovered")
	acts, _ := m.Store.ListActions(ctx, clusterID)
	var got []string
	for _, a := range acts {
		got = append(got, a.NodeID)
	}
	slices.Sort(got)
	if want := []string{nodeID(4), nodeID(5)}; !slices.Equal(got, want) {
		t.Errorf("actions: got %v, want %v", got, want)
	}
	for _, s := range srvs {
		b.WaitStatus(t, b.Member, s.ID, "ACTIVE", time.Minute)
	}
}

// HYPERVISOR_STATUS_POLLING with the openstack driver as an admin: a compute
// host forced down (as an operator's or a monitor's fencing does) is seen in
// Nova's service list; its servers are evacuated to the other host after
// the policy's COMPUTE fencing disabled it with a reason; the servers of the
// other host are left alone.
func TestOpenStackDriverEvacuatesADownHost(t *testing.T) {
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	m, c := runOpenStackAppAs(t, b, openstacktest.AdminCloud)
	admin := b.Admin
	clusterID := fmt.Sprintf("os-evacuate-%d", time.Now().UnixNano())
	if err := m.Store.UpsertCluster(ctx, health.Cluster{ID: clusterID, Name: clusterID, Project: admin.ProjectID,
		ProfileType: health.NovaServerProfile}); err != nil {
		t.Fatal(err)
	}
	meta := func(host string) func(int) map[string]string {
		return func(i int) map[string]string {
			return map[string]string{openstack.MetaClusterID: clusterID, openstack.MetaNodeID: fmt.Sprintf("%s-%s-%d", clusterID, host, i)}
		}
	}
	// 2 of 5 on the host that goes down: within max_unhealthy (40%).
	onDown := b.BootOn(t, admin, "fake-1", clusterID+"-a", 2, meta("fake-1"))
	onUp := b.BootOn(t, admin, "fake-2", clusterID+"-b", 3, meta("fake-2"))
	require.Eventually(t, func() bool {
		nodes, err := m.Store.ListNodes(ctx, clusterID)
		return err == nil && len(nodes) == 5 && !slices.ContainsFunc(nodes, func(n health.Node) bool { return n.HypervisorState != "up" })
	}, time.Minute, waitTick, "waiting for the driver to adopt the 5 servers with their hosts' state")

	startPolling(t, c, clusterID, health.HypervisorStatusPolling, health.OpRecreate, openstack.FenceCompute)
	require.Eventually(t, func() bool { return clusterStatus(ctx, c, clusterID).Counters.Rounds >= 1 }, time.Minute, waitTick,
		"waiting for the first round")

	compute := *admin.Compute
	compute.Microversion = "2.53"
	svc := computeService(t, &compute, "fake-1")
	t.Cleanup(func() { restoreCompute(t, &compute, "fake-1") })
	start := time.Now()
	if _, err := computeservices.Update(ctx, &compute, svc.ID, forcedDown(true)).Extract(); err != nil {
		t.Fatal(err)
	}
	for _, s := range onDown {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			got, err := servers.Get(ctx, &compute, s.ID).Extract()
			if err == nil && got.Status == "ACTIVE" && got.Host == "fake-2" && got.TaskState == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %s: not ACTIVE on fake-2 two minutes after fake-1 went down (%+v, %v)", s.Name, got, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	t.Logf("fake-1 forced down → its 2 servers ACTIVE on fake-2: %s", time.Since(start).Round(time.Millisecond))
	fenced := computeService(t, &compute, "fake-1")
	if fenced.Status != "disabled" || !strings.Contains(fenced.DisabledReason, "fenced by healthd") {
		t.Errorf("fake-1 after the evacuation: got status %s reason %q, want disabled by healthd's fencing", fenced.Status, fenced.DisabledReason)
	}
	if !assert.Eventually(t, func() bool {
		acts, err := m.Store.ListActions(ctx, clusterID)
		done := 0
		for _, a := range acts {
			if a.Status == health.ActionSucceeded {
				done++
			}
		}
		return err == nil && len(acts) == 2 && done == 2
	}, 3*time.Minute, waitTick, "waiting for the two recoveries to be finished") {
		// Read again here: the condition may still run in its own goroutine.
		acts, err := m.Store.ListActions(ctx, clusterID)
		var seen []string
		for _, a := range acts {
			seen = append(seen, fmt.Sprintf("%s %s %s (%s, %d attempts)", a.NodeID, a.Status, a.Reason, a.CreatedAt.Format(time.TimeOnly), a.Attempts))
		}
		t.Fatalf("actions of the cluster (%d, read error %v): %q", len(acts), err, seen)
	}
	for _, s := range onUp {
		got, err := servers.Get(ctx, &compute, s.ID).Extract()
		if err != nil || got.Host != "fake-2" || got.Status != "ACTIVE" {
			t.Errorf("server %s of the other host: got %+v (%v), want left ACTIVE on fake-2", s.Name, got, err)
		}
	}
}

// computeService is the nova-compute service of a host.
func computeService(t *testing.T, c *gophercloud.ServiceClient, host string) computeservices.Service {
	t.Helper()
	pages, err := computeservices.List(c, computeservices.ListOpts{Binary: "nova-compute", Host: host}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	list, err := computeservices.ExtractServices(pages)
	if err != nil || len(list) != 1 {
		t.Fatalf("nova-compute of %s: got %v (%v), want one", host, list, err)
	}
	return list[0]
}

// forcedDown sets a compute service's forced_down both ways.
type forcedDown bool

func (f forcedDown) ToServiceUpdateMap() (map[string]any, error) {
	return map[string]any{"forced_down": bool(f)}, nil
}

// restoreCompute brings an evacuated host back: Nova refuses to force it up
// until its compute process has restarted and cleaned up the servers that
// left it, so the process is restarted (openstack-down's way, by its PID,
// then openstack-up.sh), then the service forced up and enabled.
func restoreCompute(t *testing.T, c *gophercloud.ServiceClient, host string) {
	t.Helper()
	pidFile := "/var/lib/healthd-openstack/run/nova-compute-" + host + ".pid"
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			_ = syscall.Kill(-pid, syscall.SIGTERM)
			for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	up := exec.Command("bash", filepath.Join(openstacktest.Root(), "scripts", "openstack-up.sh"))
	if out, err := up.CombinedOutput(); err != nil {
		t.Errorf("restart nova-compute of %s: %v\n%s", host, err, out)
		return
	}
	svc := computeService(t, c, host)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := computeservices.Update(context.Background(), c, svc.ID, forcedDown(false)).Extract()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("force %s up: %v", host, err)
			return
		}
		time.Sleep(time.Second)
	}
	if _, err := computeservices.Update(context.Background(), c, svc.ID, computeservices.UpdateOpts{Status: computeservices.ServiceEnabled}).Extract(); err != nil {
		t.Errorf("enable %s: %v", host, err)
	}
}
