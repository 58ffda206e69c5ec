package workflows

import (
	"maps"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
)

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
