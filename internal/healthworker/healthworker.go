// Package healthworker holds the settings of the health worker: the interval
// limits it enforces on every registration, which the starter validates
// policies against too, and how much work it takes on at once.
package healthworker

import (
	"fmt"

	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/probe"
)

// Limits bound the detection interval of every registration, in seconds:
// Senlin's health_check_interval_min and check_interval_max.
type Limits struct {
	// IntervalMin is the smallest detection interval a registration may ask
	// for (HEALTH_CHECK_INTERVAL_MIN).
	IntervalMin int
	// IntervalMax caps the detection interval (CHECK_INTERVAL_MAX).
	IntervalMax int
}

// DefaultLimits returns Senlin's defaults: 60 s to an hour.
func DefaultLimits() Limits { return Limits{IntervalMin: 60, IntervalMax: 3600} }

// Settings binds HEALTH_CHECK_INTERVAL_MIN and CHECK_INTERVAL_MAX to l.
func (l *Limits) Settings() []config.Setting {
	return []config.Setting{
		config.Int("HEALTH_CHECK_INTERVAL_MIN", "smallest detection interval a cluster may ask for, in seconds", &l.IntervalMin, 1, 0),
		config.Int("CHECK_INTERVAL_MAX", "largest detection interval, in seconds", &l.IntervalMax, 1, 0),
	}
}

// Check reports a maximum below the minimum.
func (l Limits) Check() []*config.FieldError {
	if l.IntervalMin > 0 && l.IntervalMax > 0 && l.IntervalMax < l.IntervalMin {
		return []*config.FieldError{{Var: "CHECK_INTERVAL_MAX", Rule: fmt.Sprintf(
			"must not be below HEALTH_CHECK_INTERVAL_MIN (%d), got %d", l.IntervalMin, l.IntervalMax)}}
	}
	return nil
}

// Config is the section of the health worker's settings: its Limits and its
// concurrency.
type Config struct {
	Limits
	// SweepConcurrency bounds the probes one round runs at the same time
	// (SWEEP_CONCURRENCY).
	SweepConcurrency int
	// ProbeConcurrency bounds the probes the worker runs at the same time,
	// over all its rounds (PROBE_CONCURRENCY): rounds that fall due together
	// queue for it instead of opening a connection each. It allows
	// [Config.Sweeps] rounds to probe at once.
	ProbeConcurrency int
	// ProbeClusterConcurrency bounds one cluster's share of them
	// (PROBE_CLUSTER_CONCURRENCY): a cluster whose nodes never answer holds
	// at most this many, and the other clusters' rounds stay on time. 0
	// means ClusterShare's default.
	ProbeClusterConcurrency int
	// ActivityPollers is the number of activity task polls the worker keeps
	// open (WORKER_ACTIVITY_POLLERS). With too few, an activity scheduled
	// while every poll is busy waits in the server's backlog: with two, the
	// SDK's default, one notification in twenty-five took 2 s instead of
	// 15 ms (scripts/bench-latency.sh).
	ActivityPollers int
	// WorkflowPollers is the number of workflow task polls the worker keeps
	// open (WORKER_WORKFLOW_POLLERS).
	WorkflowPollers int
}

// DefaultConfig returns the health worker settings used when nothing is set.
func DefaultConfig() Config {
	return Config{Limits: DefaultLimits(), SweepConcurrency: 32, ProbeConcurrency: probe.DefaultInFlight,
		ActivityPollers: 8, WorkflowPollers: 2}
}

// Settings binds the limits, SWEEP_CONCURRENCY, PROBE_CONCURRENCY and the
// WORKER_ poller variables to c.
func (c *Config) Settings() []config.Setting {
	return append(c.Limits.Settings(),
		config.Int("SWEEP_CONCURRENCY", "probes one round runs at the same time", &c.SweepConcurrency, 1, 1024),
		config.Int("PROBE_CONCURRENCY", "probes the health worker runs at the same time, over all its rounds (at least SWEEP_CONCURRENCY)", &c.ProbeConcurrency, 1, 65536),
		config.Int("PROBE_CLUSTER_CONCURRENCY", "most of those one cluster's probes may hold (from SWEEP_CONCURRENCY to PROBE_CONCURRENCY; 0: a quarter of PROBE_CONCURRENCY, at least SWEEP_CONCURRENCY), so that a cluster whose nodes never answer cannot starve the others", &c.ProbeClusterConcurrency, 0, 65536),
		config.Int("WORKER_ACTIVITY_POLLERS", "activity task polls the health worker keeps open", &c.ActivityPollers, 1, 256),
		config.Int("WORKER_WORKFLOW_POLLERS", "workflow task polls the health worker keeps open", &c.WorkflowPollers, 1, 256),
	)
}

// Check reports the rules of the limits, and a round allowed more probes
// than the whole worker.
func (c Config) Check() []*config.FieldError {
	errs := c.Limits.Check()
	if c.ProbeConcurrency < c.SweepConcurrency {
		errs = append(errs, &config.FieldError{Var: "PROBE_CONCURRENCY", Rule: fmt.Sprintf(
			"must not be below SWEEP_CONCURRENCY (%d), got %d", c.SweepConcurrency, c.ProbeConcurrency)})
	}
	if n := c.ProbeClusterConcurrency; n != 0 && c.ProbeConcurrency >= c.SweepConcurrency && (n < c.SweepConcurrency || n > c.ProbeConcurrency) {
		errs = append(errs, &config.FieldError{Var: "PROBE_CLUSTER_CONCURRENCY", Rule: fmt.Sprintf(
			"must be from SWEEP_CONCURRENCY (%d) to PROBE_CONCURRENCY (%d), got %d", c.SweepConcurrency, c.ProbeConcurrency, c.ProbeClusterConcurrency)})
	}
	return errs
}

// ClusterShare is the probes one cluster may hold at once:
// PROBE_CLUSTER_CONCURRENCY, else a quarter of PROBE_CONCURRENCY but at
// least SWEEP_CONCURRENCY.
func (c Config) ClusterShare() int {
	if c.ProbeClusterConcurrency > 0 {
		return c.ProbeClusterConcurrency
	}
	return min(max(c.ProbeConcurrency/4, c.SweepConcurrency), c.ProbeConcurrency)
}

// Sweeps is the number of rounds that sweep at the same time: twice
// PROBE_CONCURRENCY / SWEEP_CONCURRENCY, at least 2, so that the probes stay
// busy while some sweeps read and write the database. The others wait their
// turn in the worker, first come first served.
func (c Config) Sweeps() int { return max(2, 2*c.ProbeConcurrency/max(1, c.SweepConcurrency)) }
