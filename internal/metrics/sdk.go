package metrics

import (
	"maps"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"

	"github.com/clusterhealth/healthd/workflows"
)

// SDKHandler returns a Temporal SDK metrics handler that feeds what the
// ClusterHealth workflow emits (the workflows.Metric* names) into these
// metrics, and every other name, the SDK's own metrics (temporal_request,
// temporal_workflow_task_schedule_to_start_latency, ...), into the SDK's
// OpenTelemetry handler, exported on the same registry with Temporal's
// names, as Temporal's Go SDK dashboard (temporal-go-sdk-otel) reads them.
// The SDK calls it only outside replay, so a replayed workflow task counts
// nothing twice. A nil *Metrics gives a handler that drops everything.
func (m *Metrics) SDKHandler() client.MetricsHandler {
	return sdkHandler{m: m}
}

type sdkHandler struct {
	m    *Metrics
	tags map[string]string
}

// sdkBuckets are the bounds (seconds) of the SDK's latency histograms:
// OpenTelemetry's default ones are made for milliseconds.
var sdkBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// newSDKHandler is the SDK's OpenTelemetry metrics handler, exported to reg.
// An error of the meter (an instrument that cannot be made) drops that
// metric and is reported to onError.
func newSDKHandler(reg prometheus.Registerer, onError func(error)) client.MetricsHandler {
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		panic(err) // a second exporter on one registry: a programming error
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter),
		sdkmetric.WithView(sdkmetric.NewView(sdkmetric.Instrument{Unit: "s"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: sdkBuckets}})))
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter: provider.Meter("temporal-sdk-go"), UseMonotonicCounters: true, OnError: onError,
	})
}

// rest is the handler of the names that are not healthd's, with the tags.
func (h sdkHandler) rest() client.MetricsHandler {
	if h.m == nil || h.m.sdk == nil {
		return client.MetricsNopHandler
	}
	if len(h.tags) == 0 {
		return h.m.sdk
	}
	return h.m.sdk.WithTags(h.tags)
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
	return h.rest().Counter(name)
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	return h.rest().Gauge(name)
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	if h.m != nil && name == workflows.MetricDetectionToRecovery {
		hist := h.m.DetectionToRecovery
		return timerFunc(func(d time.Duration) { hist.Observe(d.Seconds()) })
	}
	return h.rest().Timer(name)
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) {
	if d > 0 {
		f(d)
	}
}

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
