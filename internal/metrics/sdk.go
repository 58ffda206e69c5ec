package metrics

import (
	"maps"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/clusterhealth/healthd/workflows"
)

// SDKHandler returns a Temporal SDK metrics handler that feeds what the
// ClusterHealth workflow emits (the workflows.Metric* names) into these
// metrics. The SDK calls it only outside replay, so a replayed workflow task
// counts nothing twice. Every other name, the SDK's own metrics among them,
// is dropped. A nil *Metrics gives a handler that drops everything.
func (m *Metrics) SDKHandler() client.MetricsHandler {
	return sdkHandler{m: m}
}

type sdkHandler struct {
	m    *Metrics
	tags map[string]string
}

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	if merged == nil {
		merged = make(map[string]string, len(tags))
	}
	maps.Copy(merged, tags)
	return sdkHandler{m: h.m, tags: merged}
}

func (h sdkHandler) Counter(name string) client.MetricsCounter {
	m := h.m
	if m == nil {
		return client.MetricsNopHandler.Counter(name)
	}
	switch name {
	case workflows.MetricRounds:
		return counterFunc(func(d int64) { m.Rounds.Add(float64(d)) })
	case workflows.MetricChecks:
		c := m.Checks.WithLabelValues(h.tags[workflows.TagVerdict])
		return counterFunc(func(d int64) { c.Add(float64(d)) })
	case workflows.MetricRecoveries:
		c := m.Recoveries.WithLabelValues(h.tags[workflows.TagOutcome])
		return counterFunc(func(d int64) { c.Add(float64(d)) })
	case workflows.MetricRecoveriesOverdue:
		return counterFunc(func(d int64) { m.RecoveriesOverdue.Add(float64(d)) })
	case workflows.MetricSignalsIgnored:
		c := m.SignalsIgnored.WithLabelValues(h.tags[workflows.TagReason])
		return counterFunc(func(d int64) { c.Add(float64(d)) })
	case workflows.MetricDecisions:
		c := m.Decisions.WithLabelValues(h.tags[workflows.TagAction], h.tags[workflows.TagReason])
		return counterFunc(func(d int64) { c.Add(float64(d)) })
	}
	return client.MetricsNopHandler.Counter(name)
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	return client.MetricsNopHandler.Gauge(name)
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	if h.m != nil && name == workflows.MetricDetectionToRecovery {
		hist := h.m.DetectionToRecovery
		return timerFunc(func(d time.Duration) { hist.Observe(d.Seconds()) })
	}
	return client.MetricsNopHandler.Timer(name)
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) {
	if d > 0 {
		f(d)
	}
}

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
