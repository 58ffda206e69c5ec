package app_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/stretchr/testify/require"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/openstacktest"
	"github.com/clusterhealth/healthd/internal/triage"
)

// On the bench's real Nova: the bridge consumes Nova's own deliveries from
// the real "nova" exchange (both formats: instance.power_off.end and
// compute.instance.power_off.end) and turns a stopped server of a
// registered cluster into exactly one recover request; a server of another
// project that claims the cluster in its metadata gets none; a server
// started again is reported back.
func TestNovaNotificationsBecomeOneRecovery(t *testing.T) {
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	suffix := fmt.Sprint(time.Now().UnixNano())
	s := startEventsStackOn(t, startTemporal(t).Address, func(cfg *app.Config) {
		// Nova's own control exchange, with queues of the test's own.
		cfg.Bridge.NovaExchange = "nova"
	})
	clusterID := "nova-" + suffix
	meta := func(i int) map[string]string {
		return map[string]string{"cluster_id": clusterID, "cluster_node_id": fmt.Sprintf("node-%s-%d", suffix, i)}
	}
	mine := b.Boot(t, b.Member, "healthd-"+suffix, 3, meta)
	// Another tenant's server claims to be node 9 of the cluster.
	theirs := b.Boot(t, b.Other, "other-"+suffix, 1, func(int) map[string]string { return meta(9) })

	var nodes []health.Node
	for i, srv := range mine {
		nodes = append(nodes, health.Node{ID: meta(i + 1)["cluster_node_id"], Name: srv.Name, PhysicalID: srv.ID})
	}
	s.registerEventsWith(t, ctx, clusterID, b.Member.ProjectID, health.Safety{}, nodes...)
	require.Eventually(t, func() bool { return s.status(ctx, clusterID).NodeCount == 3 }, 30*time.Second, waitTick,
		"waiting for the workflow to learn its cluster")

	// Stop one of ours: one action, though Nova reports it twice.
	stopped := mine[0]
	if err := servers.Stop(ctx, b.Member.Compute, stopped.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	b.WaitStatus(t, b.Member, stopped.ID, "SHUTOFF", time.Minute)
	require.Eventually(t, func() bool {
		acts, err := s.app.Store.ListActions(ctx, clusterID)
		return err == nil && len(acts) == 1
	}, time.Minute, waitTick, "waiting for the recovery of %s", stopped.Name)

	// Stop theirs: nothing for our cluster.
	if err := servers.Stop(ctx, b.Other.Compute, theirs[0].ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	b.WaitStatus(t, b.Other, theirs[0].ID, "SHUTOFF", time.Minute)
	require.Eventually(t, func() bool {
		return s.status(ctx, clusterID).Counters.SignalsIgnoredBy[triage.ReasonOtherProject] >= 2
	}, time.Minute, waitTick, "waiting for the other project's notifications to be ignored")

	// Start ours again: Nova says it is back.
	if err := servers.Start(ctx, b.Member.Compute, stopped.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	b.WaitStatus(t, b.Member, stopped.ID, "ACTIVE", time.Minute)
	require.Eventually(t, func() bool { return s.status(ctx, clusterID).Counters.NodeBackSignals >= 1 }, time.Minute, waitTick,
		"waiting for Nova's word that %s is back", stopped.Name)

	// Count once every window opened so far has been judged.
	require.Eventually(t, func() bool { return s.status(ctx, clusterID).Burst == nil }, time.Minute, waitTick,
		"waiting for the last settle window to close")
	acts, err := s.app.Store.ListActions(ctx, clusterID)
	if err != nil {
		t.Fatal(err)
	}
	var recovered []string
	for _, a := range acts {
		recovered = append(recovered, a.NodeID)
	}
	if want := []string{meta(1)["cluster_node_id"]}; !slices.Equal(recovered, want) {
		t.Errorf("actions: got %v, want one for %v", recovered, want)
	}
	st := s.status(ctx, clusterID)
	t.Logf("recover signals %d, ignored %v, node-back %d, settle windows %d", st.Counters.RecoverSignals, st.Counters.SignalsIgnoredBy,
		st.Counters.NodeBackSignals, st.Counters.Bursts)
}

// A burst of lifecycle events is an outage too, on the bench's real Nova: 5
// of 10 servers stopped at once get no recovery and an honest hold, through
// Nova's own notifications in both formats; once 3 are started again (Nova
// reports them active), exactly the other 2 are recovered.
func TestNovaBurstIsHeld(t *testing.T) {
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	suffix := fmt.Sprint(time.Now().UnixNano())
	s := startEventsStackOn(t, startTemporal(t).Address, func(cfg *app.Config) { cfg.Bridge.NovaExchange = "nova" })
	clusterID := "nova-burst-" + suffix
	meta := func(i int) map[string]string {
		return map[string]string{"cluster_id": clusterID, "cluster_node_id": fmt.Sprintf("node-%s-%02d", suffix, i)}
	}
	srvs := b.Boot(t, b.Member, "burst-"+suffix, 10, meta)
	var nodes []health.Node
	for i, srv := range srvs {
		nodes = append(nodes, health.Node{ID: meta(i + 1)["cluster_node_id"], Name: srv.Name, PhysicalID: srv.ID})
	}
	s.registerEventsWith(t, ctx, clusterID, b.Member.ProjectID, health.Safety{}, nodes...)
	require.Eventually(t, func() bool { return s.status(ctx, clusterID).NodeCount == 10 }, 30*time.Second, waitTick,
		"waiting for the workflow to learn its cluster")

	act := func(what string, ids []string, do func(string) error, want string) {
		t.Helper()
		start := time.Now()
		errs := make(chan error, len(ids))
		for _, id := range ids {
			go func() { errs <- do(id) }()
		}
		for range ids {
			if err := <-errs; err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		t.Logf("%s %d servers: the calls took %s", what, len(ids), time.Since(start).Round(time.Millisecond))
		for _, id := range ids {
			b.WaitStatus(t, b.Member, id, want, time.Minute)
		}
	}
	var five []string
	for _, srv := range srvs[:5] {
		five = append(five, srv.ID)
	}
	act("stop", five, func(id string) error { return servers.Stop(ctx, b.Member.Compute, id).ExtractErr() }, "SHUTOFF")
	require.Eventually(t, func() bool {
		st := s.status(ctx, clusterID)
		return st.Hold != nil && st.Burst == nil
	}, time.Minute, waitTick, "waiting for the burst to be held")
	held := s.status(ctx, clusterID)
	if acts, _ := s.app.Store.ListActions(ctx, clusterID); len(acts) != 0 || held.Hold.Reason != triage.ReasonMaxUnhealthy {
		t.Fatalf("after 5 of 10 stopped: got %d actions and hold %+v, want none and max_unhealthy", len(acts), held.Hold)
	}
	t.Logf("held: %s (%d recover signals, ignored %v)", held.Hold.Detail, held.Counters.RecoverSignals, held.Counters.SignalsIgnoredBy)

	act("start", five[:3], func(id string) error { return servers.Start(ctx, b.Member.Compute, id).ExtractErr() }, "ACTIVE")
	require.Eventually(t, func() bool {
		acts, err := s.app.Store.ListActions(ctx, clusterID)
		return err == nil && len(acts) >= 2 && s.status(ctx, clusterID).Burst == nil
	}, time.Minute, waitTick, "waiting for the 2 still stopped to be recovered")
	acts, err := s.app.Store.ListActions(ctx, clusterID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range acts {
		got = append(got, a.NodeID)
	}
	slices.Sort(got)
	if want := []string{meta(4)["cluster_node_id"], meta(5)["cluster_node_id"]}; !slices.Equal(got, want) {
		t.Errorf("actions after 3 of 5 are started: got %v, want %v", got, want)
	}
	if st := s.status(ctx, clusterID); st.Hold != nil {
		t.Errorf("after 3 of 5 are started: got hold %+v, want none", st.Hold)
	}
}
