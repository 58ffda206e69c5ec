// Package enginecontract is the engine contract as one test suite: what the
// activities rely on of an activities.Store, checked the same way against
// every implementation, the production store on a real Postgres and the
// in-memory engine of workflow tests and simulations, so that the double
// cannot drift from what it stands for.
//
// Each implementation's tests call Run with a way to make a fresh Subject.
package enginecontract

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
)

// Subject is one implementation under test, holding nothing yet.
type Subject struct {
	// Store is what the activities call.
	Store activities.Store
	// AddCluster stores a cluster and its nodes, as an engine does.
	AddCluster func(t *testing.T, c health.Cluster, nodes ...health.Node)
	// Finish ends an action as its executor does (SUCCEEDED, FAILED or
	// CANCELLED).
	Finish func(t *testing.T, actionID string, status health.ActionStatus, reason string)
}

// Run runs every rule of the contract, each on a fresh subject.
func Run(t *testing.T, fresh func(t *testing.T) Subject) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, fresh(t)) })
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, s Subject)
}{
	{"a cluster is read back, an unknown one is not found", clusterRead},
	{"every node of a cluster is listed, whatever its status", nodesListed},
	{"members are the given ids that are nodes of the cluster", membersFiltered},
	{"a recovery is created once per idempotency key", oncePerKey},
	{"a node's active recovery is joined under another key", activeJoined},
	{"a finished recovery is not joined", finishedNotJoined},
	{"recoveries of two nodes are two actions", twoNodes},
	{"an empty idempotency key is refused", emptyKey},
	{"an action is read back with its parameters, an unknown one is not found", actionRead},
	{"a sweep's records replace the cluster's previous ones", sweepReplaces},
	{"health events are accepted", eventsAccepted},
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// seed adds cluster c1 (nodes n1, n2 ACTIVE, n3 ERROR) and c2 (node n4).
func seed(t *testing.T, s Subject) {
	t.Helper()
	s.AddCluster(t, health.Cluster{ID: "c1", Name: "web", Project: "p1", User: "u1", ProfileType: health.NovaServerProfile},
		health.Node{ID: "n1", Name: "web-1", PhysicalID: "s1", Status: health.NodeActive},
		health.Node{ID: "n2", Name: "web-2", PhysicalID: "s2", Status: health.NodeActive},
		health.Node{ID: "n3", Name: "web-3", PhysicalID: "s3", Status: health.NodeError})
	s.AddCluster(t, health.Cluster{ID: "c2", Name: "db", Project: "p2", User: "u2", ProfileType: health.NovaServerProfile},
		health.Node{ID: "n4", Name: "db-1", PhysicalID: "s4", Status: health.NodeActive})
}

var params = health.RecoverParams{Operation: health.OpReboot, OperationParams: map[string]any{"type": "SOFT"},
	Fencing: []string{"COMPUTE"}, DeleteTimeout: 30}

func create(t *testing.T, s Subject, key, nodeID string) (health.Action, bool) {
	t.Helper()
	a, created, err := s.Store.CreateRecoverAction(ctxOf(t), key, "c1", nodeID, params)
	if err != nil {
		t.Fatalf("CreateRecoverAction(%s, %s): %v", key, nodeID, err)
	}
	return a, created
}

func clusterRead(t *testing.T, s Subject) {
	seed(t, s)
	c, err := s.Store.GetCluster(ctxOf(t), "c1")
	if err != nil || c.ID != "c1" || c.Name != "web" || c.Project != "p1" || c.ProfileType != health.NovaServerProfile {
		t.Errorf("GetCluster(c1): got %+v, %v; want c1 named web of project p1", c, err)
	}
	if _, err := s.Store.GetCluster(ctxOf(t), "ghost"); !errors.Is(err, health.ErrNotFound) {
		t.Errorf("GetCluster(ghost): got %v, want an error wrapping health.ErrNotFound", err)
	}
}

func nodesListed(t *testing.T, s Subject) {
	seed(t, s)
	nodes, err := s.Store.ListNodes(ctxOf(t), "c1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range nodes {
		got[n.ID] = fmt.Sprintf("%s %s %s %s", n.ClusterID, n.Name, n.PhysicalID, n.Status)
	}
	want := map[string]string{"n1": "c1 web-1 s1 ACTIVE", "n2": "c1 web-2 s2 ACTIVE", "n3": "c1 web-3 s3 ERROR"}
	if !maps.Equal(got, want) {
		t.Errorf("ListNodes(c1): got %v, want %v", got, want)
	}
	if nodes, err := s.Store.ListNodes(ctxOf(t), "ghost"); err != nil || len(nodes) != 0 {
		t.Errorf("ListNodes(ghost): got %v, %v; want none and no error", nodes, err)
	}
}

func membersFiltered(t *testing.T, s Subject) {
	seed(t, s)
	ids, err := s.Store.MemberNodes(ctxOf(t), "c1", []string{"n3", "n4", "ghost", "n1"})
	slices.Sort(ids)
	if err != nil || !slices.Equal(ids, []string{"n1", "n3"}) {
		t.Errorf("MemberNodes(c1, n3 n4 ghost n1): got %v, %v; want n1 n3 (n4 is of c2)", ids, err)
	}
	if ids, err := s.Store.MemberNodes(ctxOf(t), "c1", nil); err != nil || len(ids) != 0 {
		t.Errorf("MemberNodes(c1, none): got %v, %v; want none", ids, err)
	}
}

func oncePerKey(t *testing.T, s Subject) {
	seed(t, s)
	a, created := create(t, s, "k1", "n1")
	if !created || a.Status != health.ActionReady || a.NodeID != "n1" || a.ClusterID != "c1" || a.Action != health.ActionNodeRecover {
		t.Fatalf("first request: got %+v created=%v; want a new READY NODE_RECOVER of n1", a, created)
	}
	again, created := create(t, s, "k1", "n1")
	if created || again.ID != a.ID {
		t.Errorf("the same key again: got %s created=%v; want the action %s, not created", again.ID, created, a.ID)
	}
	s.Finish(t, a.ID, health.ActionSucceeded, "")
	after, created := create(t, s, "k1", "n1")
	if created || after.ID != a.ID || after.Status != health.ActionSucceeded {
		t.Errorf("the same key once finished: got %s %s created=%v; want the finished action %s", after.ID, after.Status, created, a.ID)
	}
}

func activeJoined(t *testing.T, s Subject) {
	seed(t, s)
	a, _ := create(t, s, "round-1/n1", "n1")
	b, created := create(t, s, "signal-7/n1", "n1")
	if created || b.ID != a.ID {
		t.Errorf("another key while n1's recovery is READY: got %s created=%v; want its action %s joined", b.ID, created, a.ID)
	}
}

func finishedNotJoined(t *testing.T, s Subject) {
	seed(t, s)
	a, _ := create(t, s, "round-1/n1", "n1")
	s.Finish(t, a.ID, health.ActionFailed, "server ERROR")
	b, created := create(t, s, "round-2/n1", "n1")
	if !created || b.ID == a.ID || b.Status != health.ActionReady {
		t.Errorf("another key after n1's recovery FAILED: got %s %s created=%v; want a new READY action", b.ID, b.Status, created)
	}
	got, err := s.Store.GetAction(ctxOf(t), a.ID)
	if err != nil || got.Status != health.ActionFailed || got.Reason != "server ERROR" {
		t.Errorf("the finished action: got %s %q, %v; want FAILED with its reason", got.Status, got.Reason, err)
	}
}

func twoNodes(t *testing.T, s Subject) {
	seed(t, s)
	a, _ := create(t, s, "k/n1", "n1")
	b, created := create(t, s, "k/n2", "n2")
	if !created || b.ID == a.ID || b.NodeID != "n2" {
		t.Errorf("n2 while n1 recovers: got %+v created=%v; want a new action of n2", b, created)
	}
}

func emptyKey(t *testing.T, s Subject) {
	seed(t, s)
	if a, _, err := s.Store.CreateRecoverAction(ctxOf(t), "", "c1", "n1", params); err == nil {
		t.Errorf("an empty key: got %+v, want an error", a)
	}
}

func actionRead(t *testing.T, s Subject) {
	seed(t, s)
	a, _ := create(t, s, "k1", "n1")
	got, err := s.Store.GetAction(ctxOf(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.IdempotencyKey != "k1" || got.Params.Operation != health.OpReboot ||
		got.Params.OperationParams["type"] != "SOFT" || !slices.Equal(got.Params.Fencing, []string{"COMPUTE"}) ||
		got.Params.DeleteTimeout != 30 || got.CreatedAt.IsZero() {
		t.Errorf("GetAction: got %+v, want k1's action with its parameters and creation time", got)
	}
	if _, err := s.Store.GetAction(ctxOf(t), "00000000-0000-0000-0000-000000000000"); !errors.Is(err, health.ErrNotFound) {
		t.Errorf("GetAction(unknown): got %v, want an error wrapping health.ErrNotFound", err)
	}
}

func sweepReplaces(t *testing.T, s Subject) {
	seed(t, s)
	ctx := ctxOf(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := func(node string, v health.Verdict) health.CheckRecord {
		return health.CheckRecord{NodeID: node, Verdict: v, Reason: "probe " + string(v), Since: at, CheckedAt: at}
	}
	sweep := func(cluster string, recs ...health.CheckRecord) {
		t.Helper()
		sum := health.SweepSummary{At: at, Nodes: 3}
		for _, r := range recs {
			sum.Count(r.Verdict)
		}
		if err := s.Store.RecordSweep(ctx, cluster, sum, recs); err != nil {
			t.Fatalf("RecordSweep(%s): %v", cluster, err)
		}
	}
	verdicts := func(cluster string) map[string]health.Verdict {
		t.Helper()
		got, err := s.Store.NodeExceptions(ctx, cluster)
		if err != nil {
			t.Fatalf("NodeExceptions(%s): %v", cluster, err)
		}
		out := map[string]health.Verdict{}
		for id, r := range got {
			if r.NodeID != id || r.Reason != "probe "+string(r.Verdict) || !r.CheckedAt.Equal(at) {
				t.Errorf("NodeExceptions(%s)[%s]: got %+v, want the record as it was given", cluster, id, r)
			}
			out[id] = r.Verdict
		}
		return out
	}
	sweep("c1", rec("n1", health.Unhealthy), rec("n2", health.Unknown))
	sweep("c2", rec("n4", health.Unhealthy))
	sweep("c1", rec("n3", health.Unhealthy))
	if got, want := verdicts("c1"), map[string]health.Verdict{"n3": health.Unhealthy}; !maps.Equal(got, want) {
		t.Errorf("c1 after its second sweep: got %v, want %v (the first sweep's records replaced)", got, want)
	}
	if got, want := verdicts("c2"), map[string]health.Verdict{"n4": health.Unhealthy}; !maps.Equal(got, want) {
		t.Errorf("c2: got %v, want %v (untouched by c1's sweeps)", got, want)
	}
	sweep("c1")
	if got := verdicts("c1"); len(got) != 0 {
		t.Errorf("c1 after a sweep with no exception: got %v, want none", got)
	}
}

func eventsAccepted(t *testing.T, s Subject) {
	seed(t, s)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	err := s.Store.AddHealthEvents(ctxOf(t), []health.HealthEvent{
		{ClusterID: "c1", NodeID: "n1", At: at, From: health.Healthy, To: health.Unhealthy, Reason: "probe failed"},
		{ClusterID: "c1", NodeID: "n1", At: at.Add(time.Minute), From: health.Unhealthy, To: health.Healthy}})
	if err != nil {
		t.Errorf("AddHealthEvents: %v", err)
	}
	if err := s.Store.AddHealthEvents(ctxOf(t), nil); err != nil {
		t.Errorf("AddHealthEvents(none): %v", err)
	}
}
