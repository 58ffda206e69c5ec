package app_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clusterhealth/healthd/internal/bridge"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/triage"
	"github.com/clusterhealth/healthd/workflows"
)

// burstCluster is a LIFECYCLE_EVENTS cluster of ten nodes for the burst
// tests, registered with settle as its event_settle (nil: the default).
type burstCluster struct {
	id      string
	project string
	nodes   []string // node ids; instance i-<node id>
}

func newBurstCluster(t testing.TB, ctx context.Context, s *eventsStack, name, project string, settle *int) burstCluster {
	t.Helper()
	c := burstCluster{id: fmt.Sprintf("%s-%d", name, time.Now().UnixNano()), project: project}
	var nodes []health.Node
	for i := range 10 {
		id := fmt.Sprintf("%s-node-%02d", name, i)
		c.nodes = append(c.nodes, id)
		nodes = append(nodes, health.Node{ID: id, Name: fmt.Sprintf("web-%02d", i), PhysicalID: "i-" + id})
	}
	s.registerEventsWith(t, ctx, c.id, project, health.Safety{EventSettle: settle}, nodes...)
	// Max-unhealthy needs the cluster's size.
	require.Eventually(t, func() bool { return s.status(ctx, c.id).NodeCount == 10 }, 30*time.Second, waitTick,
		"waiting for the workflow of %s to learn its cluster", c.id)
	return c
}

// publishNova publishes the capture f, edited to be about node i of the
// cluster, stamped now.
func (c burstCluster) publishNova(t testing.TB, s *eventsStack, f fixture, i int, eventType, state string, want bridge.Kind) {
	t.Helper()
	node := c.nodes[i]
	body := novaBody(t, f, c.id, novaEdit{nodeID: node, instanceID: "i-" + node, messageID: fmt.Sprintf("%s-%s-%d", f.name[:12], node, time.Now().UnixNano()),
		eventType: eventType, state: state, now: true}, want)
	s.publish(t, f, body)
}

// publishGhost publishes f about a node ID the cluster does not have, as a
// tenant who sets a server's metadata can.
func (c burstCluster) publishGhost(t testing.TB, s *eventsStack, f fixture, node string) {
	t.Helper()
	body := novaBody(t, f, c.id, novaEdit{nodeID: node, instanceID: "i-" + node, messageID: fmt.Sprintf("%s-%s-%d", f.name[:12], node, time.Now().UnixNano()),
		now: true}, bridge.KindRecover)
	s.publish(t, f, body)
}

func (c burstCluster) actionNodes(t testing.TB, ctx context.Context, s *eventsStack) []string {
	t.Helper()
	acts, err := s.app.Store.ListActions(ctx, c.id)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range acts {
		ids = append(ids, a.NodeID)
	}
	slices.Sort(ids)
	return ids
}

// A burst of lifecycle events is an outage too, end to end: 5 of 10 servers
// stopped within a second, each reported in Nova's two formats (the
// captures, edited to be about each node), get no recovery and an honest
// hold; once Nova reports 3 of them active again (power_on.end), exactly the
// other 2 are recovered. Then one failure of another node is timed from its
// notification to its action, beside a cluster that judges each request
// alone: what the settle window costs in detection latency.
func TestEventBurstEndToEnd(t *testing.T) {
	ctx := context.Background()
	s := startEventsStack(t)
	legacy := loadFixture(t, "member.nova.compute.instance.shutdown.end.messagingv2")
	versioned := loadFixture(t, "member.nova.versioned.instance.power_off.end.messagingv2")
	project := legacy.event.Signal.Project
	c := newBurstCluster(t, ctx, s, "burst", project, nil)

	start := time.Now()
	for i := range 5 {
		c.publishNova(t, s, legacy, i, "", "", bridge.KindRecover)
		c.publishNova(t, s, versioned, i, "", "", bridge.KindRecover)
	}
	if took := time.Since(start); took > time.Second {
		t.Logf("publishing the burst took %s (more than the second it is meant to take)", took)
	}
	var held workflows.Status
	require.Eventually(t, func() bool {
		held = s.status(ctx, c.id)
		return held.Counters.RecoverSignals == 10 && held.Burst == nil && held.Counters.Bursts >= 1
	}, 30*time.Second, waitTick, "waiting for the burst to be judged")
	if got := c.actionNodes(t, ctx, s); len(got) != 0 {
		t.Errorf("actions after a 5-of-10 burst: got %v, want none", got)
	}
	if held.Hold == nil || held.Hold.Reason != triage.ReasonMaxUnhealthy || !strings.HasPrefix(held.Hold.Detail, "held: 5 of 10 unhealthy") {
		t.Fatalf("status after the burst: got hold %+v, want max_unhealthy, 5 of 10", held.Hold)
	}
	if got := held.Counters.RecoveriesRequested; got != 0 || len(held.InFlight) != 0 {
		t.Errorf("status after the burst: got %d recoveries requested, %d in flight; want none", got, len(held.InFlight))
	}
	// The timeline is written by an activity of its own, after the status
	// changed.
	var events []health.HealthEvent
	require.Eventually(t, func() bool {
		var err error
		events, err = s.app.Store.HealthTimeline(ctx, store.HealthEventFilter{ClusterID: c.id})
		return err == nil && slices.ContainsFunc(events, func(e health.HealthEvent) bool {
			return e.NodeID == "" && string(e.To) == "cluster hold "+triage.ReasonMaxUnhealthy
		})
	}, 30*time.Second, waitTick, "waiting for the cluster hold in health_events (got %v)", events)

	// Nova reports 3 of them active again.
	for i := range 3 {
		c.publishNova(t, s, versioned, i, "instance.power_on.end", "active", bridge.KindBack)
	}
	require.Eventually(t, func() bool {
		return s.status(ctx, c.id).Counters.RecoveriesSucceeded == 2
	}, 30*time.Second, waitTick, "waiting for the 2 still stopped to be recovered")
	if got, want := c.actionNodes(t, ctx, s), []string{c.nodes[3], c.nodes[4]}; !slices.Equal(got, want) {
		t.Errorf("actions after 3 are back: got %v, want %v", got, want)
	}
	if st := s.status(ctx, c.id); st.Hold != nil || st.Counters.NodeBackSignals != 3 {
		t.Errorf("status after 3 are back: got hold %+v and %d node-back signals, want no hold and 3", st.Hold, st.Counters.NodeBackSignals)
	}

	// Twenty notifications about servers that claim the cluster with node
	// IDs it does not have: dropped, never a hold.
	for i := range 20 {
		c.publishGhost(t, s, versioned, fmt.Sprintf("ghost-%d", i))
	}
	require.Eventually(t, func() bool {
		return s.status(ctx, c.id).Counters.SignalsIgnoredBy[triage.ReasonNotMember] == 20
	}, 30*time.Second, waitTick, "waiting for the 20 requests for non-members to be dropped")
	if st := s.status(ctx, c.id); st.Hold != nil || len(c.actionNodes(t, ctx, s)) != 2 {
		t.Errorf("after 20 requests for non-members: got hold %+v and actions %v, want no hold and still the 2", st.Hold, c.actionNodes(t, ctx, s))
	}

	// Detection latency: one failure, from its notification to its action,
	// here and on a cluster that judges each request alone.
	zero := 0
	alone := newBurstCluster(t, ctx, s, "alone", project, &zero)
	latency := func(bc burstCluster, i int) time.Duration {
		before := len(bc.actionNodes(t, ctx, s))
		sent := time.Now()
		bc.publishNova(t, s, versioned, i, "", "", bridge.KindRecover)
		require.Eventually(t, func() bool { return len(bc.actionNodes(t, ctx, s)) > before }, 30*time.Second, 10*time.Millisecond,
			"waiting for the action of node %d of %s", i, bc.id)
		return time.Since(sent)
	}
	settled, single := latency(c, 6), latency(alone, 0)
	t.Logf("notification to action: %s with event_settle %ds (the default), %s with event_settle 0", settled.Round(time.Millisecond),
		health.DefaultEventSettle, single.Round(time.Millisecond))
	if settled < health.DefaultEventSettle*time.Second {
		t.Errorf("a request in a settle window became an action after %s, before the window of %ds closed", settled, health.DefaultEventSettle)
	}
	recordHistory(t, s.temporal, workflows.WorkflowID(c.id), "event_burst")
}
