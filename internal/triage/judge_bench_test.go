package triage

import (
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

// BenchmarkJudge measures a node's verdict from its mode results, as the
// sweep computes it once per node: the common case of one healthy poll-URL
// result, three modes of which one failed, and a failure within the grace
// period (which formats a reason).
func BenchmarkJudge(b *testing.B) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	old := now.Add(-time.Hour)
	healthy := []health.ModeResult{{Type: health.NodeStatusPollURL, Verdict: health.Healthy, Detail: "200 OK, pattern matched"}}
	mixed := []health.ModeResult{
		{Type: health.NodeStatusPolling, Verdict: health.Healthy},
		{Type: health.HypervisorStatusPolling, Verdict: health.Unknown, Detail: "hypervisor status is 2h old"},
		{Type: health.NodeStatusPollURL, Verdict: health.Unhealthy, Detail: "503 Service Unavailable"},
	}
	cases := []struct {
		name    string
		cond    health.Conditional
		results []health.ModeResult
		updated time.Time
	}{
		{"one-healthy", health.AnyFailed, healthy, old},
		{"three-any-failed", health.AnyFailed, mixed, old},
		{"three-all-failed", health.AllFailed, mixed, old},
		{"in-grace", health.AnyFailed, mixed, now.Add(-10 * time.Second)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Judge(c.cond, time.Minute, health.NodeActive, c.results, c.updated, now)
			}
		})
	}
}
