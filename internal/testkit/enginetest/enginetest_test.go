package enginetest_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/testkit/enginetest"
)

var mode = health.DetectionMode{Type: health.NodeStatusPollURL, PollURL: "http://nodes.test/{nodename}/health"}

func TestRecoveryFinishesAndMendsTheNode(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	e := enginetest.New(func() time.Time { return now })
	e.AddCluster(health.Cluster{ID: "c1", Name: "web"}, health.Node{ID: "n1", Name: "web-1"}, health.Node{ID: "n2", Name: "web-2"})
	e.SetHealthy("web-2", false)

	if got := e.Probe(ctx, "c1", urlFor(t, mode, "web-2"), mode); got.Healthy || !got.ConnError {
		t.Errorf("probe of an unhealthy node: got %+v, want a connection error", got)
	}
	a, created, err := e.CreateRecoverAction(ctx, "k1", "c1", "n2", health.RecoverParams{Operation: health.OpReboot})
	if err != nil || !created || a.Status != health.ActionSucceeded || !a.UpdatedAt.Equal(now) {
		t.Fatalf("create: got %+v created %v err %v, want a new SUCCEEDED action updated now", a, created, err)
	}
	if again, created, _ := e.CreateRecoverAction(ctx, "k1", "c1", "n2", health.RecoverParams{}); created || again.ID != a.ID {
		t.Errorf("create again: got %s created %v, want %s not created", again.ID, created, a.ID)
	}
	if got := e.Probe(ctx, "c1", urlFor(t, mode, "web-2"), mode); !got.Healthy {
		t.Errorf("probe after the recovery: got %+v, want healthy", got)
	}
	if got, want := e.ProbeCount("web-2"), 2; got != want {
		t.Errorf("probes: got %d, want %d", got, want)
	}
	nodes, _ := e.ListNodes(ctx, "c1")
	if len(nodes) != 2 || !nodes[1].UpdatedAt.Equal(now) || nodes[0].Status != health.NodeActive ||
		!nodes[0].InitAt.Equal(now.Add(-time.Hour)) || nodes[0].ClusterID != "c1" {
		t.Errorf("nodes: got %+v, want ACTIVE nodes of c1 made an hour ago, n2 updated now", nodes)
	}
	if got, err := e.GetAction(ctx, a.ID); err != nil || !reflect.DeepEqual(got, a) {
		t.Errorf("get action: got %+v %v, want %+v", got, err, a)
	}
	if got := e.Actions(); e.ActionCount() != 1 || !reflect.DeepEqual(got, []health.Action{a}) {
		t.Errorf("actions: got %+v, want only %+v", got, a)
	}
}

func TestActionsStayReadyWithoutAutoFinish(t *testing.T) {
	ctx := context.Background()
	e := enginetest.New(nil)
	e.AddCluster(health.Cluster{ID: "c1"}, health.Node{ID: "n1", Name: "web-1"})
	e.SetHealthy("web-1", false)
	e.SetAutoFinish("")
	a, _, _ := e.CreateRecoverAction(ctx, "k1", "c1", "n1", health.RecoverParams{})
	if a.Status != health.ActionReady {
		t.Errorf("action: got %s, want READY", a.Status)
	}
	if got := e.Probe(ctx, "c1", urlFor(t, mode, "web-1"), mode); got.Healthy {
		t.Errorf("probe: got %+v, want the node still unhealthy", got)
	}
	e.AddAction(health.Action{ID: "a9", IdempotencyKey: "k9", Status: health.ActionSucceeded})
	if got := e.Actions(); len(got) != 2 || got[1].ID != "a9" {
		t.Errorf("actions: got %+v, want k1's then a9", got)
	}
}

func TestMissingAndAnyCluster(t *testing.T) {
	ctx := context.Background()
	e := enginetest.New(nil)
	e.AddCluster(health.Cluster{ID: "c1"})
	e.RemoveCluster("c1")
	if _, err := e.GetCluster(ctx, "c1"); !errors.Is(err, health.ErrNotFound) {
		t.Errorf("removed cluster: got %v, want ErrNotFound", err)
	}
	if got := e.ClusterReads(); got != 1 {
		t.Errorf("cluster reads: got %d, want 1", got)
	}

	e.AnyCluster(func(id string) []health.Node { return enginetest.TwoNodes(id + "-") })
	cl, err := e.GetCluster(ctx, "x")
	if err != nil || cl.ID != "x" || cl.Name != "cluster x" {
		t.Fatalf("any cluster: got %+v %v, want cluster x", cl, err)
	}
	nodes, _ := e.ListNodes(ctx, "x")
	if len(nodes) != 2 || nodes[0].ID != "x-n1" || nodes[1].Name != "node-2" || nodes[1].ClusterID != "x" {
		t.Errorf("nodes of any cluster: got %+v, want x-n1 and node-2 of x", nodes)
	}
	if got := e.Probe(ctx, "c1", "http://nowhere.test/", mode); got.Healthy || got.Detail != "no such node" {
		t.Errorf("probe of no node: got %+v, want no such node", got)
	}
	if err := e.AddHealthEvents(ctx, []health.HealthEvent{{NodeID: "x-n1"}}); err != nil || len(e.Events()) != 1 {
		t.Errorf("events: got %+v %v, want the one added", e.Events(), err)
	}
}

func urlFor(t *testing.T, m health.DetectionMode, name string) string {
	t.Helper()
	u, err := m.URLFor(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
