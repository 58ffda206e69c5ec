package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterhealth/healthd/workflows"
)

// GaugeTTL is how long a read of a fleet gauge is served before the next
// scrape reads again: the reads (a count per state in Temporal's
// visibility, a count in Postgres) cost the same whatever the fleet, and no
// more often than this.
const GaugeTTL = 30 * time.Second

// gaugeReadTimeout bounds one read, so that a scrape never waits on a
// dependency that does not answer: the last values are served instead.
const gaugeReadTimeout = 5 * time.Second

// readGauges is a gauge vector of one label whose values a function reads
// at scrape time, at most once per GaugeTTL; when a read fails, the last
// values are served and healthd_gauge_read_errors_total counts it.
type readGauges struct {
	desc   *prometheus.Desc
	values []string
	read   func(context.Context) (map[string]float64, error)
	errs   prometheus.Counter

	mu   sync.Mutex
	at   time.Time
	last map[string]float64
}

// RegisterClusters registers healthd_clusters{state}: the registered
// clusters by health state, as read counts them (the health worker counts
// them in Temporal's visibility).
func RegisterClusters(reg prometheus.Registerer, read func(context.Context) (map[string]float64, error)) {
	registerGauges(reg, "clusters", "Registered clusters (running ClusterHealth workflows of the namespace) by health state, "+
		"as their HealthState search attribute says; counted in Temporal's visibility at most every 30 s.",
		"state", workflows.HealthStates, read)
}

// In-flight statuses of healthd_recoveries_in_flight.
const (
	InFlightReady   = "ready"
	InFlightRunning = "running"
)

// RegisterRecoveriesInFlight registers healthd_recoveries_in_flight{status}:
// the recover actions not finished yet, as read counts them (the engine
// counts them in Postgres).
func RegisterRecoveriesInFlight(reg prometheus.Registerer, read func(context.Context) (map[string]float64, error)) {
	registerGauges(reg, "recoveries_in_flight", "Recover actions of every cluster not finished yet, by status "+
		"(ready: waiting for an executor; running: claimed); read from Postgres at most every 30 s.",
		"status", []string{InFlightReady, InFlightRunning}, read)
}

// registerGauges registers, on reg, the gauge healthd_<name>{<label>}
// whose values read returns (one per value of values; a value read does
// not return is 0).
func registerGauges(reg prometheus.Registerer, name, help, label string, values []string, read func(context.Context) (map[string]float64, error)) {
	g := &readGauges{
		desc:   prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, []string{label}, nil),
		values: values,
		read:   read,
		errs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "gauge_read_errors_total",
			Help: "Failed reads of a fleet gauge (its last values were served), by gauge.", ConstLabels: prometheus.Labels{"gauge": name}}),
	}
	reg.MustRegister(g)
}

// Describe and Collect cover the read-errors counter too, so that a scrape
// sees the error of the read it caused (a collector of its own could be
// collected before the read).
func (g *readGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.desc
	g.errs.Describe(ch)
}

func (g *readGauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last == nil || time.Since(g.at) >= GaugeTTL {
		ctx, cancel := context.WithTimeout(context.Background(), gaugeReadTimeout)
		v, err := g.read(ctx)
		cancel()
		if err != nil {
			g.errs.Inc()
		} else {
			g.last, g.at = v, time.Now()
		}
	}
	g.errs.Collect(ch)
	if g.last == nil {
		return // never read: no value rather than a false 0
	}
	for _, v := range g.values {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, g.last[v], v)
	}
}
