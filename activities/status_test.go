package activities_test

import (
	"testing"
	"time"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
)

// NODE_STATUS_POLLING and HYPERVISOR_STATUS_POLLING judge only values the
// engine refreshed within the input's StatusMaxAge (the database stamps each
// write); older ones are unknown, whatever they say.
func TestCheckClusterStatusFreshness(t *testing.T) {
	stale := time.Now().Add(-10 * time.Minute)
	node := func(id, physical string, at time.Time) health.Node {
		return health.Node{ID: id, Name: id, PhysicalID: "srv-" + id, Status: health.NodeActive,
			PhysicalStatus: physical, PhysicalStatusAt: at,
			HypervisorState: "up", HypervisorStatus: "enabled", HypervisorAt: at}
	}
	env, _, _, _ := setup(t, nil,
		node("fresh-active", "ACTIVE", time.Time{}), // written now: stamped by the database
		node("fresh-paused", "PAUSED", time.Time{}),
		node("stale-active", "ACTIVE", stale),
		node("stale-shutoff", "SHUTOFF", stale),
	)
	modes := []health.DetectionType{health.NodeStatusPolling, health.HypervisorStatusPolling}
	tests := []struct {
		name   string
		maxAge time.Duration
		want   map[string][2]health.Verdict // node: status verdict, hypervisor verdict
	}{
		{"default max age", 0, map[string][2]health.Verdict{
			"fresh-active":  {health.Healthy, health.Healthy},
			"fresh-paused":  {health.Unhealthy, health.Healthy},
			"stale-active":  {health.Unknown, health.Unknown},
			"stale-shutoff": {health.Unknown, health.Unknown},
		}},
		{"registration max age of 5 min rounds", health.Registration{Interval: 300}.StatusMaxAge(), map[string][2]health.Verdict{
			"fresh-active":  {health.Healthy, health.Healthy},
			"fresh-paused":  {health.Unhealthy, health.Healthy},
			"stale-active":  {health.Healthy, health.Healthy},
			"stale-shutoff": {health.Unhealthy, health.Healthy},
		}},
	}
	for _, tt := range tests {
		for i, mode := range modes {
			t.Run(tt.name+"/"+string(mode), func(t *testing.T) {
				var a *activities.Activities
				v, err := env.ExecuteActivity(a.CheckCluster, activities.CheckClusterInput{ClusterID: "c1",
					Modes: []health.DetectionMode{{Type: mode}}, Conditional: health.AnyFailed, StatusMaxAge: tt.maxAge})
				if err != nil {
					t.Fatal(err)
				}
				var res activities.CheckClusterResult
				if err := v.Get(&res); err != nil {
					t.Fatal(err)
				}
				if len(res.Nodes) != len(tt.want) {
					t.Fatalf("nodes: got %d, want %d", len(res.Nodes), len(tt.want))
				}
				for _, n := range res.Nodes {
					want := tt.want[n.Name][i]
					if len(n.Results) != 1 || n.Results[0].Verdict != want {
						t.Errorf("%s: got %+v, want %s", n.Name, n.Results, want)
					}
				}
			})
		}
	}
}
