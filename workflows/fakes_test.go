package workflows

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

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
	reads      int             // GetCluster calls
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
	e.reads++
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

func (e *fakeEngine) clusterReads() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reads
}

// recordingMetrics is an SDK metrics handler that keeps what the workflow
// emits: counter totals and timer samples by name and tags.
type recordingMetrics struct {
	mu       sync.Mutex
	tags     map[string]string
	counters map[string]int64
	timers   map[string][]time.Duration
	root     *recordingMetrics
}

func newRecordingMetrics() *recordingMetrics {
	m := &recordingMetrics{counters: map[string]int64{}, timers: map[string][]time.Duration{}}
	m.root = m
	return m
}

func metricKey(name string, tags map[string]string) string {
	k := name
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		k += "," + t + "=" + tags[t]
	}
	return k
}

func (m *recordingMetrics) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(m.tags)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	return &recordingMetrics{tags: merged, root: m.root}
}

func (m *recordingMetrics) Counter(name string) client.MetricsCounter {
	k := metricKey(name, m.tags)
	return counterFunc(func(d int64) {
		m.root.mu.Lock()
		defer m.root.mu.Unlock()
		m.root.counters[k] += d
	})
}

func (m *recordingMetrics) Gauge(string) client.MetricsGauge {
	return client.MetricsNopHandler.Gauge("")
}

func (m *recordingMetrics) Timer(name string) client.MetricsTimer {
	k := metricKey(name, m.tags)
	return timerFunc(func(d time.Duration) {
		m.root.mu.Lock()
		defer m.root.mu.Unlock()
		m.root.timers[k] = append(m.root.timers[k], d)
	})
}

// counter is the total of a counter; tags alternate keys and values.
func (m *recordingMetrics) counter(name string, tags ...string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counters[metricKey(name, pairs(tags))]
}

func (m *recordingMetrics) timer(name string) []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.timers[name])
}

func pairs(kv []string) map[string]string {
	out := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
