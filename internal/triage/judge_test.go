package triage

import (
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

func TestJudge(t *testing.T) {
	now := t0
	ok := health.ModeResult{Type: health.NodeStatusPollURL, Verdict: health.Healthy, Detail: "200"}
	bad := health.ModeResult{Type: health.NodeStatusPollURL, Verdict: health.Unhealthy, Detail: "503"}
	badStatus := health.ModeResult{Type: health.NodeStatusPolling, Verdict: health.Unhealthy, Detail: "SHUTOFF"}
	unknown := health.ModeResult{Type: health.NodeStatusPolling, Verdict: health.Unknown, Detail: "stale"}
	old := now.Add(-time.Hour)
	cases := []struct {
		name     string
		cond     health.Conditional
		status   health.NodeStatus
		results  []health.ModeResult
		updated  time.Time
		want     health.Verdict
		fragment string
	}{
		{"not ACTIVE is skipped", health.AnyFailed, health.NodeRecovering, []health.ModeResult{bad}, old, health.Skipped, "node is RECOVERING"},
		{"any failed: one fails", health.AnyFailed, health.NodeActive, []health.ModeResult{ok, badStatus}, old, health.Unhealthy, "SHUTOFF"},
		{"any failed: all pass", health.AnyFailed, health.NodeActive, []health.ModeResult{ok}, old, health.Healthy, "200"},
		{"any failed: unknown is not healthy", health.AnyFailed, health.NodeActive, []health.ModeResult{ok, unknown}, old, health.Unknown, "stale"},
		{"all failed: one passes", health.AllFailed, health.NodeActive, []health.ModeResult{bad, ok}, old, health.Healthy, "200"},
		{"all failed: both fail", health.AllFailed, health.NodeActive, []health.ModeResult{bad, badStatus}, old, health.Unhealthy, "503"},
		{"all failed: one unknown", health.AllFailed, health.NodeActive, []health.ModeResult{bad, unknown}, old, health.Unknown, "stale"},
		{"no mode ran", health.AnyFailed, health.NodeActive, nil, old, health.Unknown, "no detection mode ran"},
		{"within grace", health.AnyFailed, health.NodeActive, []health.ModeResult{bad}, now.Add(-100 * time.Second), health.Healthy, "within grace period (updated 1m40s ago, grace 5m0s)"},
		{"just past grace", health.AnyFailed, health.NodeActive, []health.ModeResult{bad}, now.Add(-301 * time.Second), health.Unhealthy, "503"},
		{"never updated: no grace", health.AnyFailed, health.NodeActive, []health.ModeResult{bad}, time.Time{}, health.Unhealthy, "503"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, why := Judge(tc.cond, 300*time.Second, tc.status, tc.results, tc.updated, now)
			if v != tc.want || !strings.Contains(why, tc.fragment) {
				t.Errorf("got %s (%s), want %s containing %q", v, why, tc.want, tc.fragment)
			}
		})
	}
}

func TestStaleEvent(t *testing.T) {
	const arn = "arn:openstack:heat::t:stacks/web/2f4e9a63"
	cases := []struct {
		event, node string
		stale       bool
	}{
		{"", "srv-1", false},
		{"srv-1", "", false},
		{"srv-1", "srv-1", false},
		{arn, "2f4e9a63", false},
		{"srv-1", "srv-2", true},
		{arn, "other", true},
	}
	for _, tc := range cases {
		why, stale := StaleEvent(tc.event, tc.node)
		if stale != tc.stale || (stale && !strings.Contains(why, "node now has "+tc.node)) {
			t.Errorf("StaleEvent(%q, %q): got %v %q, want %v", tc.event, tc.node, stale, why, tc.stale)
		}
	}
}

func TestEvaluateShortCircuits(t *testing.T) {
	modes := []health.DetectionMode{{Type: health.NodeStatusPolling}, {Type: health.NodeStatusPollURL}, {Type: health.HypervisorStatusPolling}}
	cases := []struct {
		name     string
		cond     health.Conditional
		verdicts []health.Verdict // of the modes, in order
		suspect  int              // index of a suspect result, -1 for none
		want     int              // modes run
	}{
		{"any failed stops at the first failure", health.AnyFailed, []health.Verdict{health.Healthy, health.Unhealthy, health.Unhealthy}, -1, 2},
		{"any failed runs all while healthy", health.AnyFailed, []health.Verdict{health.Healthy, health.Unknown, health.Healthy}, -1, 3},
		{"all failed stops at the first healthy", health.AllFailed, []health.Verdict{health.Unhealthy, health.Healthy, health.Unhealthy}, -1, 2},
		{"all failed runs all while failing", health.AllFailed, []health.Verdict{health.Unhealthy, health.Unhealthy, health.Unhealthy}, -1, 3},
		{"a suspect failure does not stop", health.AnyFailed, []health.Verdict{health.Unhealthy, health.Healthy, health.Unhealthy}, 0, 3},
	}
	for _, tc := range cases {
		ran := 0
		got := Evaluate(tc.cond, modes, func(m health.DetectionMode) health.ModeResult {
			i := ran
			ran++
			return health.ModeResult{Verdict: tc.verdicts[i], Suspect: i == tc.suspect}
		})
		if ran != tc.want || len(got) != tc.want {
			t.Errorf("%s: ran %d modes, returned %d results; want %d", tc.name, ran, len(got), tc.want)
		}
		for i, r := range got {
			if r.Type != modes[i].Type {
				t.Errorf("%s: result %d is of %s, want %s", tc.name, i, r.Type, modes[i].Type)
			}
		}
	}
}
