package workflows

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
)

// fakeEngine is an in-memory engine contract: clusters, nodes and actions.
// When autoFinish is set, a new action finishes at once with that status and
// the node's updated_at is refreshed, as the reference engine does.
type fakeEngine struct {
	mu         sync.Mutex
	now        func() time.Time
	cluster    health.Cluster
	nodes      []health.Node
	actions    map[string]health.Action // by key
	events     []health.HealthEvent
	autoFinish health.ActionStatus
	healthy    map[string]bool // poll-URL verdict by node name
	probes     map[string]int  // poll-URL attempts by node name
}

func newFakeEngine(now func() time.Time, nodes ...health.Node) *fakeEngine {
	e := &fakeEngine{now: now, cluster: health.Cluster{ID: "c1", Name: "web", Project: "p1"},
		actions: map[string]health.Action{}, healthy: map[string]bool{}, probes: map[string]int{}, autoFinish: health.ActionSucceeded}
	for _, n := range nodes {
		n.ClusterID = "c1"
		if n.Status == "" {
			n.Status = health.NodeActive
		}
		e.nodes = append(e.nodes, n)
		e.healthy[n.Name] = true
	}
	return e
}

func (e *fakeEngine) activities() *activities.Activities {
	return &activities.Activities{Store: e, Prober: e, Clock: e, SweepConcurrency: 4, PollInterval: 10 * time.Millisecond}
}

func (e *fakeEngine) Now() time.Time { return e.now() }

func (e *fakeEngine) GetCluster(_ context.Context, id string) (health.Cluster, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if id != e.cluster.ID {
		return health.Cluster{}, fmt.Errorf("cluster %s: %w", id, health.ErrNotFound)
	}
	return e.cluster, nil
}

func (e *fakeEngine) ListNodes(_ context.Context, id string) ([]health.Node, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]health.Node(nil), e.nodes...), nil
}

func (e *fakeEngine) CreateRecoverAction(_ context.Context, key, cid, nid string, p health.RecoverParams) (health.Action, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a, ok := e.actions[key]; ok {
		return a, false, nil
	}
	a := health.Action{ID: fmt.Sprintf("a%d", len(e.actions)+1), IdempotencyKey: key, ClusterID: cid, NodeID: nid,
		Action: health.ActionNodeRecover, Params: p, Status: health.ActionReady, CreatedAt: e.now()}
	if e.autoFinish != "" {
		a.Status = e.autoFinish
		for i := range e.nodes {
			if e.nodes[i].ID == nid {
				e.nodes[i].UpdatedAt = e.now()
				e.healthy[e.nodes[i].Name] = true
			}
		}
	}
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

func (e *fakeEngine) AddHealthEvents(_ context.Context, ev []health.HealthEvent) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev...)
	return nil
}

func (e *fakeEngine) Probe(_ context.Context, url string, m health.DetectionMode) health.ProbeResult {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.nodes {
		if m.URLFor(n.Name) == url {
			e.probes[n.Name]++
			if e.healthy[n.Name] {
				return health.ProbeResult{Healthy: true, StatusCode: 200, Detail: "200 OK"}
			}
			return health.ProbeResult{ConnError: true, StatusCode: 503, Detail: "503 Service Unavailable"}
		}
	}
	return health.ProbeResult{ConnError: true, Detail: "no such node"}
}

func (e *fakeEngine) setHealthy(name string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.healthy[name] = ok
}

func (e *fakeEngine) actionCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.actions)
}

func (e *fakeEngine) probeCount(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.probes[name]
}
