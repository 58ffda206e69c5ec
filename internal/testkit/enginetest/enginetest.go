// Package enginetest is an in-memory engine contract for tests that run the
// real activities without Postgres: an Engine is an activities.Store, an
// activities.URLProber and an activities.Clock at once.
//
// Add clusters with AddCluster (a workflow test that knows its one cluster),
// or let every cluster ID exist with AnyCluster (a shared worker serving many
// tests, each with a cluster of its own). Then register e.Activities() with a
// worker or a test environment. Every poll URL is healthy until SetHealthy
// says otherwise; every recovery action finishes as soon as it is created, with
// the status SetAutoFinish names (SUCCEEDED unless changed), and leaves its node
// updated and healthy, as the reference engine does. The test reads what the
// activities did through ActionCount, Actions, ProbeCount, ClusterReads and
// Events.
//
// Every method is safe for concurrent use.
package enginetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
)

// The Engine stands in for what the activities consume.
var (
	_ activities.Store     = (*Engine)(nil)
	_ activities.URLProber = (*Engine)(nil)
	_ activities.Clock     = (*Engine)(nil)
)

// PollInterval is the fallback poll of WaitForAction in the activities that
// Activities returns: the engine has no watcher to wake it, and its actions
// finish at once, so a short poll keeps waits short.
const PollInterval = 10 * time.Millisecond

// Engine is an in-memory engine contract: clusters, nodes, recovery actions
// and the health events recorded, with the verdict of each node's poll URL.
// Make one with New.
type Engine struct {
	now func() time.Time

	mu         sync.Mutex
	clusters   map[string]*cluster // by ID
	order      []string            // cluster IDs in the order they were added
	anyNodes   func(clusterID string) []health.Node
	actions    map[string]health.Action // by idempotency key
	keys       []string                 // idempotency keys in the order of creation
	events     []health.HealthEvent
	autoFinish health.ActionStatus
	unhealthy  map[string]bool                          // poll-URL verdict by node name
	failing    map[string]bool                          // nodes, by name, whose recoveries fail
	checks     map[string]map[string]health.CheckRecord // RecordSweep's records, by cluster and node
	sweeps     map[string]health.SweepSummary           // the last sweep, by cluster
	probes     map[string]int                           // poll-URL attempts by node name
	reads      int                                      // GetCluster calls
}

type cluster struct {
	rec   health.Cluster
	nodes []health.Node
}

// New returns an engine holding no cluster whose clock is now; nil means
// time.Now. A workflow test passes its test environment's Now, so that the
// times the engine stamps follow the workflow's clock.
func New(now func() time.Time) *Engine {
	if now == nil {
		now = time.Now
	}
	return &Engine{now: now, clusters: map[string]*cluster{}, actions: map[string]health.Action{},
		autoFinish: health.ActionSucceeded, unhealthy: map[string]bool{}, probes: map[string]int{}}
}

// Activities returns the activities over the engine: it is their store,
// prober and clock. A sweep probes up to 4 nodes at once.
func (e *Engine) Activities() *activities.Activities {
	return &activities.Activities{Store: e, Prober: e, Clock: e, SweepConcurrency: 4, PollInterval: PollInterval}
}

// AddCluster stores the cluster and its nodes, replacing any cluster of the
// same ID. Each node gets the cluster's ID; one without a status is ACTIVE,
// and one without a creation time was created an hour ago, past any grace
// period.
func (e *Engine) AddCluster(c health.Cluster, nodes ...health.Node) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addLocked(c, nodes)
}

func (e *Engine) addLocked(c health.Cluster, nodes []health.Node) *cluster {
	cl := &cluster{rec: c}
	for _, n := range nodes {
		n.ClusterID = c.ID
		if n.Status == "" {
			n.Status = health.NodeActive
		}
		if n.InitAt.IsZero() {
			n.InitAt = e.now().Add(-time.Hour)
		}
		cl.nodes = append(cl.nodes, n)
	}
	if _, ok := e.clusters[c.ID]; !ok {
		e.order = append(e.order, c.ID)
	}
	e.clusters[c.ID] = cl
	return cl
}

// AnyCluster makes every cluster ID exist: a cluster never added is added
// when first read, named "cluster <id>" in project p1, with the nodes that
// nodes returns for its ID (completed as AddCluster does).
func (e *Engine) AnyCluster(nodes func(clusterID string) []health.Node) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.anyNodes = nodes
}

// TwoNodes returns the nodes node-1 and node-2, with the IDs idPrefix+"n1" and
// idPrefix+"n2", on the ACTIVE servers s1 and s2: enough of a cluster for a
// test that needs clusters to exist but not what they hold. Use it with
// AnyCluster.
func TwoNodes(idPrefix string) []health.Node {
	var nodes []health.Node
	for _, i := range []string{"1", "2"} {
		nodes = append(nodes, health.Node{ID: idPrefix + "n" + i, Name: "node-" + i, PhysicalID: "s" + i, PhysicalStatus: "ACTIVE"})
	}
	return nodes
}

// RemoveCluster deletes the cluster and its nodes: the engine no longer knows
// it (unless AnyCluster adds it again).
func (e *Engine) RemoveCluster(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.clusters, id)
	e.order = slices.DeleteFunc(e.order, func(c string) bool { return c == id })
}

// clusterLocked returns the cluster, adding it first under AnyCluster.
func (e *Engine) clusterLocked(id string) (*cluster, bool) {
	if cl, ok := e.clusters[id]; ok {
		return cl, true
	}
	if e.anyNodes == nil {
		return nil, false
	}
	return e.addLocked(health.Cluster{ID: id, Name: "cluster " + id, Project: "p1"}, e.anyNodes(id)), true
}

// Cluster returns the cluster record as GetCluster would, without counting a
// read; the zero Cluster when it does not exist.
func (e *Engine) Cluster(id string) health.Cluster {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cl, ok := e.clusterLocked(id); ok {
		return cl.rec
	}
	return health.Cluster{}
}

// SetUpdatedAt sets when every node of that ID last changed status, as an
// engine does when it updates the node.
func (e *Engine) SetUpdatedAt(nodeID string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.eachNodeLocked(func(n *health.Node) {
		if n.ID == nodeID {
			n.UpdatedAt = at
		}
	})
}

func (e *Engine) eachNodeLocked(f func(*health.Node)) {
	for _, id := range e.order {
		cl := e.clusters[id]
		for i := range cl.nodes {
			f(&cl.nodes[i])
		}
	}
}

// SetHealthy sets the verdict of the poll URL of every node of that name.
func (e *Engine) SetHealthy(nodeName string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unhealthy[nodeName] = !ok
}

// SetRecoveryFails makes the recoveries of every node of that name fail (the
// node stays as it was) or, with false, work again.
func (e *Engine) SetRecoveryFails(nodeName string, fails bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failing == nil {
		e.failing = map[string]bool{}
	}
	e.failing[nodeName] = fails
}

// SetAutoFinish sets the status a recovery action has as soon as it is
// created: SUCCEEDED at first; RUNNING keeps the node unhealthy with its
// recovery in flight; "" leaves the action READY and the node as it was.
func (e *Engine) SetAutoFinish(status health.ActionStatus) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.autoFinish = status
}

// AddAction stores an action as it is, under its idempotency key: one the
// engine got before the test starts, such as one asked for by an earlier run.
func (e *Engine) AddAction(a health.Action) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.actions[a.IdempotencyKey]; !ok {
		e.keys = append(e.keys, a.IdempotencyKey)
	}
	e.actions[a.IdempotencyKey] = a
}

// ActionCount is the number of actions the engine holds.
func (e *Engine) ActionCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.actions)
}

// Actions returns the actions the engine holds, in the order they were made.
func (e *Engine) Actions() []health.Action {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]health.Action, 0, len(e.keys))
	for _, k := range e.keys {
		out = append(out, e.actions[k])
	}
	return out
}

// ProbeCount is the number of poll-URL attempts on the node of that name.
func (e *Engine) ProbeCount(nodeName string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.probes[nodeName]
}

// ClusterReads is the number of GetCluster calls.
func (e *Engine) ClusterReads() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reads
}

// Events returns the health events recorded, in order.
func (e *Engine) Events() []health.HealthEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.now() }

// GetCluster returns the cluster and counts the read; the error wraps
// health.ErrNotFound when the cluster does not exist.
func (e *Engine) GetCluster(_ context.Context, id string) (health.Cluster, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reads++
	cl, ok := e.clusterLocked(id)
	if !ok {
		return health.Cluster{}, fmt.Errorf("cluster %s: %w", id, health.ErrNotFound)
	}
	return cl.rec, nil
}

// ListNodes returns the nodes of the cluster; none when it does not exist.
func (e *Engine) ListNodes(_ context.Context, clusterID string) ([]health.Node, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cl, ok := e.clusterLocked(clusterID)
	if !ok {
		return nil, nil
	}
	return slices.Clone(cl.nodes), nil
}

// MemberNodes returns those of ids that are nodes of the cluster.
func (e *Engine) MemberNodes(_ context.Context, clusterID string, ids []string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cl, ok := e.clusterLocked(clusterID)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, n := range cl.nodes {
		if slices.Contains(ids, n.ID) {
			out = append(out, n.ID)
		}
	}
	return out, nil
}

// CreateRecoverAction returns the action of that idempotency key, or the
// node's active (READY or RUNNING) recovery under another key, as the store
// does; else it creates a NODE_RECOVER action that finishes at once as
// SetAutoFinish says. An empty key is refused.
func (e *Engine) CreateRecoverAction(_ context.Context, key, clusterID, nodeID string, p health.RecoverParams) (health.Action, bool, error) {
	if key == "" {
		return health.Action{}, false, errors.New("create recover action: empty idempotency key")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if a, ok := e.actions[key]; ok {
		return a, false, nil
	}
	for _, k := range e.keys {
		if a := e.actions[k]; a.ClusterID == clusterID && a.NodeID == nodeID && !a.Status.Terminal() {
			return a, false, nil
		}
	}
	now := e.now()
	a := health.Action{ID: fmt.Sprintf("a%d", len(e.actions)+1), IdempotencyKey: key, ClusterID: clusterID, NodeID: nodeID,
		Action: health.ActionNodeRecover, Params: p, Status: health.ActionReady, CreatedAt: now, UpdatedAt: now}
	if e.autoFinish != "" {
		a.Status = e.autoFinish
		e.eachNodeLocked(func(n *health.Node) {
			if n.ClusterID != clusterID || n.ID != nodeID {
				return
			}
			if e.failing[n.Name] {
				a.Status, a.Reason = health.ActionFailed, "recovery failed (the node's recoveries are set to fail)"
				return
			}
			n.UpdatedAt = now
			delete(e.unhealthy, n.Name)
		})
	}
	e.actions[key] = a
	e.keys = append(e.keys, key)
	return a, true, nil
}

// FinishAction gives a READY or RUNNING action its terminal status and
// reason, as an executor does; the error wraps health.ErrNotFound when the
// action does not exist.
func (e *Engine) FinishAction(id string, status health.ActionStatus, reason string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, a := range e.actions {
		if a.ID != id {
			continue
		}
		if a.Status.Terminal() {
			return fmt.Errorf("action %s: already %s", id, a.Status)
		}
		a.Status, a.Reason, a.UpdatedAt = status, reason, e.now()
		e.actions[k] = a
		return nil
	}
	return fmt.Errorf("action %s: %w", id, health.ErrNotFound)
}

// GetAction returns the action; the error wraps health.ErrNotFound when it
// does not exist.
func (e *Engine) GetAction(_ context.Context, id string) (health.Action, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.actions {
		if a.ID == id {
			return a, nil
		}
	}
	return health.Action{}, fmt.Errorf("action %s: %w", id, health.ErrNotFound)
}

// AddHealthEvents records the events; Events returns them.
func (e *Engine) AddHealthEvents(_ context.Context, events []health.HealthEvent) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, events...)
	return nil
}

// Probe answers for the first node, in the order added, whose poll URL under
// the mode is url, and counts the attempt: 200 when the node is healthy, a 503
// connection error when not, and a connection error for a URL of no node.
func (e *Engine) Probe(_ context.Context, _, url string, m health.DetectionMode) health.ProbeResult {
	e.mu.Lock()
	defer e.mu.Unlock()
	var found *health.Node
	e.eachNodeLocked(func(n *health.Node) {
		if u, err := m.URLFor(n.Name); found == nil && err == nil && u == url {
			found = n
		}
	})
	if found == nil {
		return health.ProbeResult{ConnError: true, Detail: "no such node"}
	}
	e.probes[found.Name]++
	if e.unhealthy[found.Name] {
		return health.ProbeResult{ConnError: true, StatusCode: 503, Detail: "503 Service Unavailable"}
	}
	return health.ProbeResult{Healthy: true, StatusCode: 200, Detail: "200 OK"}
}

// NodeExceptions returns the check records RecordSweep kept for the cluster.
func (e *Engine) NodeExceptions(_ context.Context, clusterID string) (map[string]health.CheckRecord, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]health.CheckRecord{}
	for id, r := range e.checks[clusterID] {
		out[id] = r
	}
	return out, nil
}

// RecordSweep keeps the sweep's records in place of the cluster's previous
// ones, and its summary.
func (e *Engine) RecordSweep(_ context.Context, clusterID string, sum health.SweepSummary, recs []health.CheckRecord) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.checks == nil {
		e.checks = map[string]map[string]health.CheckRecord{}
		e.sweeps = map[string]health.SweepSummary{}
	}
	m := make(map[string]health.CheckRecord, len(recs))
	for _, r := range recs {
		m[r.NodeID] = r
	}
	e.checks[clusterID], e.sweeps[clusterID] = m, sum
	return nil
}

// LastSweep is the summary of the cluster's last sweep.
func (e *Engine) LastSweep(clusterID string) health.SweepSummary {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sweeps[clusterID]
}
