package metrics_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/clusterhealth/healthd/internal/metrics"
	"github.com/clusterhealth/healthd/workflows"
)

// The fleet gauges are read at scrape time, at most once per GaugeTTL;
// a failed read serves nothing until a first success, then the last
// values, and is counted.
func TestFleetGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	reads := 0
	var fail error = errors.New("temporal: unavailable")
	metrics.RegisterClusters(reg, func(context.Context) (map[string]float64, error) {
		reads++
		if fail != nil {
			return nil, fail
		}
		return map[string]float64{"healthy": 7, "degraded": 2}, nil
	})
	gather := func() (map[string]float64, float64) {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		states, errs := map[string]float64{}, -1.0
		for _, f := range families {
			for _, m := range f.GetMetric() {
				switch f.GetName() {
				case "healthd_clusters":
					states[label(m, "state")] = m.GetGauge().GetValue()
				case "healthd_gauge_read_errors_total":
					errs = m.GetCounter().GetValue()
				}
			}
		}
		return states, errs
	}
	if states, errs := gather(); len(states) != 0 || errs != 1 {
		t.Errorf("a failed first read: got %v and %v errors, want no value and 1 error", states, errs)
	}
	fail = nil
	states, _ := gather()
	if len(states) != len(workflows.HealthStates) || states["healthy"] != 7 || states["degraded"] != 2 || states["recovering"] != 0 {
		t.Errorf("after a read: got %v, want every state, 7 healthy, 2 degraded, the others 0", states)
	}
	before := reads
	fail = errors.New("must not be read again within the TTL")
	if again, errs := gather(); again["healthy"] != 7 || reads != before || errs != 1 {
		t.Errorf("a second scrape within %s: got %v, %d more reads, %v errors; want the cached values", metrics.GaugeTTL, again, reads-before, errs)
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
