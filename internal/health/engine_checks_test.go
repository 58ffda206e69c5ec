package health_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

// checkNow is the time the checks of these tests run at.
var checkNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func TestStatusMaxAge(t *testing.T) {
	tests := []struct {
		name string
		reg  health.Registration
		want time.Duration
	}{
		{"three rounds of 60 s", health.Registration{Interval: 60}, 3 * time.Minute},
		{"three rounds of 5 min", health.Registration{Interval: 300}, 15 * time.Minute},
		{"the cap on the interval counts", health.Registration{Interval: 600, IntervalMax: 120}, 6 * time.Minute},
		{"short rounds floor at 60 s", health.Registration{Interval: 10}, time.Minute},
		{"no interval floors at 60 s", health.Registration{}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.reg.StatusMaxAge(); got != tt.want {
				t.Errorf("StatusMaxAge: got %v, want %v", got, tt.want)
			}
		})
	}
	if got, want := health.DefaultStatusMaxAge, (health.Registration{Interval: 60}).StatusMaxAge(); got != want {
		t.Errorf("DefaultStatusMaxAge: got %v, want %v (StatusMaxAge of a 60 s round)", got, want)
	}
}

func TestIsFailedResourceStatus(t *testing.T) {
	tests := []struct {
		status string
		want   bool
	}{
		// Nova servers.
		{"ERROR", true},
		{"SHUTOFF", true},
		{"DELETED", true},
		{"NOT_FOUND", true},
		// F-9: the same as the pause.end and soft_delete.end events.
		{"PAUSED", true},
		{"SOFT_DELETED", true},
		{"ACTIVE", false},
		{"SUSPENDED", false},
		{"RESCUE", false},
		{"REBUILD", false},
		{"BUILD", false},
		// Heat stacks (F-12).
		{"DELETE_COMPLETE", true},
		{"CREATE_FAILED", true},
		{"UPDATE_FAILED", true},
		{"DELETE_FAILED", true},
		{"CREATE_COMPLETE", false},
		{"UPDATE_IN_PROGRESS", false},
		// Case and space do not matter.
		{" paused ", true},
		{"soft_deleted", true},
		{"active", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			if got := health.IsFailedResourceStatus(tt.status); got != tt.want {
				t.Errorf("IsFailedResourceStatus(%q): got %v, want %v", tt.status, got, tt.want)
			}
		})
	}
}

func TestCheckNodeStatus(t *testing.T) {
	fresh := checkNow.Add(-30 * time.Second)
	const maxAge = 3 * time.Minute
	server := func(status string, at time.Time) health.Node {
		return health.Node{ID: "n1", PhysicalID: "srv-1", Status: health.NodeActive, PhysicalStatus: status, PhysicalStatusAt: at}
	}
	tests := []struct {
		name       string
		node       health.Node
		maxAge     time.Duration
		want       health.Verdict
		wantDetail string
	}{
		{"fresh ACTIVE", server("ACTIVE", fresh), maxAge, health.Healthy, "resource status ACTIVE"},
		{"fresh lower case", server(" active ", fresh), maxAge, health.Healthy, "resource status ACTIVE"},
		{"fresh SUSPENDED", server("SUSPENDED", fresh), maxAge, health.Healthy, "resource status SUSPENDED"},
		{"fresh RESCUE", server("RESCUE", fresh), maxAge, health.Healthy, "resource status RESCUE"},
		{"fresh REBUILD", server("REBUILD", fresh), maxAge, health.Healthy, "resource status REBUILD"},
		{"fresh BUILD", server("BUILD", fresh), maxAge, health.Healthy, "resource status BUILD"},
		{"fresh CREATE_COMPLETE", server("CREATE_COMPLETE", fresh), maxAge, health.Healthy, "resource status CREATE_COMPLETE"},
		{"fresh ERROR", server("ERROR", fresh), maxAge, health.Unhealthy, "resource status ERROR"},
		{"fresh SHUTOFF", server("SHUTOFF", fresh), maxAge, health.Unhealthy, "resource status SHUTOFF"},
		{"fresh DELETED", server("DELETED", fresh), maxAge, health.Unhealthy, "resource status DELETED"},
		{"fresh NOT_FOUND", server("NOT_FOUND", fresh), maxAge, health.Unhealthy, "resource status NOT_FOUND"},
		{"fresh PAUSED (F-9)", server("PAUSED", fresh), maxAge, health.Unhealthy, "resource status PAUSED"},
		{"fresh SOFT_DELETED (F-9)", server("SOFT_DELETED", fresh), maxAge, health.Unhealthy, "resource status SOFT_DELETED"},
		{"fresh DELETE_COMPLETE", server("DELETE_COMPLETE", fresh), maxAge, health.Unhealthy, "resource status DELETE_COMPLETE"},
		{"fresh UPDATE_FAILED", server("UPDATE_FAILED", fresh), maxAge, health.Unhealthy, "resource status UPDATE_FAILED"},
		{"exactly max age is fresh", server("ACTIVE", checkNow.Add(-maxAge)), maxAge, health.Healthy, "resource status ACTIVE"},
		{"observed after now (clock skew) is fresh", server("ACTIVE", checkNow.Add(10*time.Second)), maxAge, health.Healthy, "resource status ACTIVE"},
		{"stale ACTIVE", server("ACTIVE", checkNow.Add(-12*time.Minute)), maxAge, health.Unknown,
			"resource status ACTIVE is 12m old, older than 3m: the engine has not refreshed it"},
		{"stale by a second", server("ACTIVE", checkNow.Add(-maxAge-time.Second)), maxAge, health.Unknown,
			"resource status ACTIVE is 3m1s old, older than 3m: the engine has not refreshed it"},
		{"stale failure is not acted on", server("SHUTOFF", checkNow.Add(-time.Hour)), maxAge, health.Unknown,
			"resource status SHUTOFF is 1h old, older than 3m: the engine has not refreshed it"},
		{"zero time", server("ACTIVE", time.Time{}), maxAge, health.Unknown,
			"resource status ACTIVE has no observation time: the engine has not refreshed it"},
		{"zero time failure", server("ERROR", time.Time{}), maxAge, health.Unknown,
			"resource status ERROR has no observation time: the engine has not refreshed it"},
		{"zero max age is the default", server("ACTIVE", checkNow.Add(-2*time.Minute)), 0, health.Healthy, "resource status ACTIVE"},
		{"zero max age still ends", server("ACTIVE", checkNow.Add(-4*time.Minute)), 0, health.Unknown,
			"resource status ACTIVE is 4m old, older than 3m: the engine has not refreshed it"},
		{"no status reported", server("", fresh), maxAge, health.Unknown, "engine reports no resource status"},
		{"no status, no time", server("", time.Time{}), maxAge, health.Unknown, "engine reports no resource status"},
		{"no physical resource", health.Node{ID: "n1", Status: health.NodeActive}, maxAge, health.Unhealthy,
			"node has no physical resource"},
		{"no physical resource while creating", health.Node{ID: "n1", Status: health.NodeCreating}, maxAge, health.Healthy,
			"no physical resource yet, node is being created"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := health.CheckNodeStatus(tt.node, checkNow, tt.maxAge)
			if got.Verdict != tt.want || got.Detail != tt.wantDetail {
				t.Errorf("CheckNodeStatus: got %s %q, want %s %q", got.Verdict, got.Detail, tt.want, tt.wantDetail)
			}
		})
	}
}

func TestCheckHypervisor(t *testing.T) {
	fresh := checkNow.Add(-30 * time.Second)
	const maxAge = 3 * time.Minute
	hv := func(state, status string, at time.Time) health.Node {
		return health.Node{ID: "n1", PhysicalID: "srv-1", Status: health.NodeActive,
			HypervisorState: state, HypervisorStatus: status, HypervisorAt: at}
	}
	tests := []struct {
		name       string
		node       health.Node
		maxAge     time.Duration
		want       health.Verdict
		wantDetail string
	}{
		{"fresh up/enabled", hv("up", "enabled", fresh), maxAge, health.Healthy, "hypervisor up/enabled"},
		{"fresh upper case", hv(" UP ", "Enabled", fresh), maxAge, health.Healthy, "hypervisor up/enabled"},
		{"fresh state only", hv("up", "", fresh), maxAge, health.Healthy, "hypervisor up/"},
		{"fresh down", hv("down", "enabled", fresh), maxAge, health.Unhealthy, "hypervisor state down"},
		{"fresh disabled", hv("up", "disabled", fresh), maxAge, health.Unhealthy, "hypervisor status disabled"},
		{"fresh down and disabled", hv("down", "disabled", fresh), maxAge, health.Unhealthy, "hypervisor state down"},
		{"fresh not found", hv("", "not_found", fresh), maxAge, health.Unhealthy, "hypervisor not found"},
		{"exactly max age is fresh", hv("up", "enabled", checkNow.Add(-maxAge)), maxAge, health.Healthy, "hypervisor up/enabled"},
		{"stale up/enabled", hv("up", "enabled", checkNow.Add(-12*time.Minute)), maxAge, health.Unknown,
			"hypervisor up/enabled is 12m old, older than 3m: the engine has not refreshed it"},
		{"stale down is not acted on", hv("down", "enabled", checkNow.Add(-90*time.Minute)), maxAge, health.Unknown,
			"hypervisor down/enabled is 1h30m old, older than 3m: the engine has not refreshed it"},
		{"zero time", hv("up", "enabled", time.Time{}), maxAge, health.Unknown,
			"hypervisor up/enabled has no observation time: the engine has not refreshed it"},
		{"zero time disabled", hv("up", "disabled", time.Time{}), maxAge, health.Unknown,
			"hypervisor up/disabled has no observation time: the engine has not refreshed it"},
		{"longer max age", hv("up", "enabled", checkNow.Add(-12*time.Minute)), 15 * time.Minute, health.Healthy,
			"hypervisor up/enabled"},
		{"zero max age is the default", hv("up", "enabled", checkNow.Add(-4*time.Minute)), 0, health.Unknown,
			"hypervisor up/enabled is 4m old, older than 3m: the engine has not refreshed it"},
		{"no hypervisor reported", hv("", "", fresh), maxAge, health.Unknown, "engine reports no hypervisor"},
		{"no hypervisor, no time", hv("", "", time.Time{}), maxAge, health.Unknown, "engine reports no hypervisor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := health.CheckHypervisor(tt.node, checkNow, tt.maxAge)
			if got.Verdict != tt.want || got.Detail != tt.wantDetail {
				t.Errorf("CheckHypervisor: got %s %q, want %s %q", got.Verdict, got.Detail, tt.want, tt.wantDetail)
			}
		})
	}
}

// The physical status time of one check does not vouch for the hypervisor,
// and the other way round.
func TestStatusTimesAreSeparate(t *testing.T) {
	n := health.Node{ID: "n1", PhysicalID: "srv-1", Status: health.NodeActive,
		PhysicalStatus: "ACTIVE", HypervisorState: "up", HypervisorStatus: "enabled"}
	n.PhysicalStatusAt = checkNow
	if got := health.CheckHypervisor(n, checkNow, time.Minute); got.Verdict != health.Unknown {
		t.Errorf("hypervisor timed only by PhysicalStatusAt: got %s %q, want unknown", got.Verdict, got.Detail)
	}
	n.PhysicalStatusAt, n.HypervisorAt = time.Time{}, checkNow
	if got := health.CheckNodeStatus(n, checkNow, time.Minute); got.Verdict != health.Unknown {
		t.Errorf("resource status timed only by HypervisorAt: got %s %q, want unknown", got.Verdict, got.Detail)
	}
}

// The observation times travel with the node; zero ones are left out, and the
// cluster's status URL never travels (it may carry credentials).
func TestNodeAndClusterJSON(t *testing.T) {
	n := health.Node{ID: "n1", PhysicalStatus: "ACTIVE", PhysicalStatusAt: checkNow}
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"physical_status_at":"2026-01-01T12:00:00Z"`) || strings.Contains(string(b), "hypervisor_at") {
		t.Errorf("node JSON: got %s, want physical_status_at set and no hypervisor_at", b)
	}
	var back health.Node
	if err := json.Unmarshal(b, &back); err != nil || !back.PhysicalStatusAt.Equal(checkNow) {
		t.Errorf("node JSON round trip: got %v (err %v), want %v", back.PhysicalStatusAt, err, checkNow)
	}
	b, err = json.Marshal(health.Cluster{ID: "c1", StatusURL: "http://user:secret@engine/status?token=x"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "secret") || strings.Contains(string(b), "status") {
		t.Errorf("cluster JSON: got %s, want no status URL", b)
	}
}

// A status observed before the node's last status change (the end of its
// recovery, when the engine set it ACTIVE) is of the node before it: a
// server evacuated from a down host is not judged by that host until the
// engine observes it again.
func TestObservationBeforeTheLastChange(t *testing.T) {
	recovered := checkNow.Add(-10 * time.Second)
	n := health.Node{ID: "n1", PhysicalID: "srv-1", Status: health.NodeActive, UpdatedAt: recovered,
		PhysicalStatus: "SHUTOFF", HypervisorState: "down", HypervisorStatus: "disabled"}
	for _, tc := range []struct {
		name string
		at   time.Time
		want health.Verdict
	}{
		{"observed before the change", recovered.Add(-time.Second), health.Unknown},
		{"observed with the change", recovered, health.Unhealthy},
		{"observed after it", recovered.Add(time.Second), health.Unhealthy},
	} {
		n.PhysicalStatusAt, n.HypervisorAt = tc.at, tc.at
		hv, ps := health.CheckHypervisor(n, checkNow, time.Minute), health.CheckNodeStatus(n, checkNow, time.Minute)
		if hv.Verdict != tc.want || ps.Verdict != tc.want {
			t.Errorf("%s: got hypervisor %s %q, resource %s %q; want %s", tc.name, hv.Verdict, hv.Detail, ps.Verdict, ps.Detail, tc.want)
		}
		if tc.want == health.Unknown && !strings.Contains(hv.Detail, "observed before the node's last status change") {
			t.Errorf("%s: got %q, want the reason", tc.name, hv.Detail)
		}
	}
}
