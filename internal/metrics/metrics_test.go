package metrics_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/metrics"
	"github.com/clusterhealth/healthd/internal/triage"
	"github.com/clusterhealth/healthd/workflows"
)

// collect gathers what c exports.
func collect(c prometheus.Collector) []prometheus.Metric {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var ms []prometheus.Metric
	for m := range ch {
		ms = append(ms, m)
	}
	return ms
}

func collectCount(c prometheus.Collector) int { return len(collect(c)) }

// counterValue is the value of a collector that exports exactly one counter.
func counterValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ms := collect(c)
	if len(ms) != 1 {
		t.Fatalf("got %d metrics, want 1", len(ms))
	}
	var pb dto.Metric
	if err := ms[0].Write(&pb); err != nil {
		t.Fatalf("write metric: %v", err)
	}
	return pb.GetCounter().GetValue()
}

func TestMetricsCount(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	h := m.SDKHandler()
	h.Counter(workflows.MetricRounds).Inc(2)
	h.WithTags(map[string]string{workflows.TagVerdict: "healthy"}).Counter(workflows.MetricChecks).Inc(1)
	h.WithTags(map[string]string{workflows.TagVerdict: "unhealthy"}).Counter(workflows.MetricChecks).Inc(2)
	h.WithTags(map[string]string{workflows.TagVerdict: "skipped"}).Counter(workflows.MetricChecks).Inc(3)
	h.WithTags(map[string]string{workflows.TagOutcome: "succeeded"}).Counter(workflows.MetricRecoveries).Inc(1)
	h.Counter(workflows.MetricRecoveriesOverdue).Inc(1)
	h.WithTags(map[string]string{"other": "x"}).WithTags(map[string]string{workflows.TagReason: triage.ReasonNoLifecycle}).
		Counter(workflows.MetricSignalsIgnored).Inc(1)
	h.Timer(workflows.MetricDetectionToRecovery).Record(90 * time.Second)
	// The decisions counter the README promises (it was dropped).
	h.WithTags(map[string]string{workflows.TagAction: string(triage.Hold), workflows.TagReason: triage.ReasonMaxUnhealthy}).
		Counter(workflows.MetricDecisions).Inc(2)
	// The SDK's own metrics, and kinds the workflow does not emit, are dropped.
	h.Counter("temporal_request").Inc(5)
	h.Gauge(workflows.MetricRounds).Update(7)
	h.Timer("temporal_request_latency").Record(time.Second)
	m.BridgeMessage(metrics.BridgeMalformed)
	m.EngineAction(health.ActionSucceeded)
	m.EngineReclaim()

	tests := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"rounds", m.Rounds, 2},
		{"healthy checks", m.Checks.WithLabelValues("healthy"), 1},
		{"unhealthy checks", m.Checks.WithLabelValues("unhealthy"), 2},
		{"skipped checks", m.Checks.WithLabelValues("skipped"), 3},
		{"unknown checks", m.Checks.WithLabelValues("unknown"), 0},
		{"succeeded recoveries", m.Recoveries.WithLabelValues("succeeded"), 1},
		{"overdue recoveries", m.RecoveriesOverdue, 1},
		{"ignored for no lifecycle events", m.SignalsIgnored.WithLabelValues(triage.ReasonNoLifecycle), 1},
		{"clusters held", m.Decisions.WithLabelValues(string(triage.Hold), triage.ReasonMaxUnhealthy), 2},
		{"malformed messages", m.BridgeMessages.WithLabelValues("malformed"), 1},
		{"succeeded actions", m.EngineActions.WithLabelValues("succeeded"), 1},
		{"engine reclaims", m.EngineReclaims, 1},
	}
	for _, tt := range tests {
		if got := counterValue(t, tt.c); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	var pb dto.Metric
	if err := m.DetectionToRecovery.Write(&pb); err != nil {
		t.Fatal(err)
	}
	if got := pb.GetHistogram(); got.GetSampleCount() != 1 || got.GetSampleSum() != 90 {
		t.Errorf("detection to recovery: got %d samples summing to %v, want 1 of 90", got.GetSampleCount(), got.GetSampleSum())
	}
}

func TestMetricsSeriesExportedFromStart(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	tests := []struct {
		name string
		c    prometheus.Collector
		want int
	}{
		{"checks by verdict", m.Checks, 4},
		{"recoveries by outcome", m.Recoveries, len(health.Outcomes())},
		{"ignored signals by reason", m.SignalsIgnored, 8},
		{"bridge messages by outcome", m.BridgeMessages, 7},
		{"engine actions by status", m.EngineActions, 4},
	}
	for _, tt := range tests {
		if got := collectCount(tt.c); got != tt.want {
			t.Errorf("%s: got %d series, want %d", tt.name, got, tt.want)
		}
	}
}

// Every recording method of Metrics works on a nil *Metrics (a process
// without metrics) and does nothing there, and records on a real one.
func TestNilMetricsIsNoop(t *testing.T) {
	calls := []struct {
		name   string
		call   func(*metrics.Metrics)
		series func(*metrics.Metrics) prometheus.Collector
	}{
		{"SDK counter", func(m *metrics.Metrics) { m.SDKHandler().Counter(workflows.MetricRounds).Inc(1) },
			func(m *metrics.Metrics) prometheus.Collector { return m.Rounds }},
		{"SDK timer", func(m *metrics.Metrics) {
			m.SDKHandler().Timer(workflows.MetricDetectionToRecovery).Record(time.Second)
		}, func(m *metrics.Metrics) prometheus.Collector { return m.DetectionToRecovery }},
		{"bridge message", func(m *metrics.Metrics) { m.BridgeMessage(metrics.BridgeSignalled) },
			func(m *metrics.Metrics) prometheus.Collector { return m.BridgeMessages }},
		{"engine action", func(m *metrics.Metrics) { m.EngineAction(health.ActionFailed) },
			func(m *metrics.Metrics) prometheus.Collector { return m.EngineActions }},
		{"engine reclaim", func(m *metrics.Metrics) { m.EngineReclaim() },
			func(m *metrics.Metrics) prometheus.Collector { return m.EngineReclaims }},
	}
	for _, c := range calls {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s on a nil *Metrics: panicked: %v", c.name, r)
				}
			}()
			c.call(nil)
		}()
		m := metrics.New(prometheus.NewRegistry())
		before := sampleCount(t, c.series(m))
		c.call(m)
		if after := sampleCount(t, c.series(m)); after != before+1 {
			t.Errorf("%s on a real *Metrics: samples went from %v to %v, want one more", c.name, before, after)
		}
	}
}

// sampleCount sums what a counter, counter vector or histogram collected:
// counter values and histogram sample counts.
func sampleCount(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	var n float64
	for _, m := range collect(c) {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		n += d.GetCounter().GetValue() + float64(d.GetHistogram().GetSampleCount())
	}
	return n
}

// serve runs ServeListener on a loopback port and returns its base URL and a
// function that stops it and returns its error.
func serve(t *testing.T, reg *prometheus.Registry, ready func(context.Context) error) (string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- metrics.ServeListener(ctx, ln, reg, ready, zaptest.NewLogger(t)) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("got ServeListener still running 10s after cancel, want it stopped")
			return nil
		}
	})
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("get %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func TestServeEndpoints(t *testing.T) {
	reg := metrics.NewRegistry()
	m := metrics.New(reg)
	var notReady atomic.Pointer[error]
	starting := errors.New("temporal: not connected")
	notReady.Store(&starting)
	ready := func(context.Context) error {
		if p := notReady.Load(); p != nil {
			return *p
		}
		return nil
	}
	base, stop := serve(t, reg, ready)

	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz: got %d %q, want 200 \"ok\\n\"", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "temporal: not connected") {
		t.Errorf("readyz before ready: got %d %q, want 503 naming the error", code, body)
	}
	notReady.Store(nil)
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("readyz when ready: got %d %q, want 200 \"ok\\n\"", code, body)
	}

	m.SDKHandler().WithTags(map[string]string{workflows.TagVerdict: string(health.Unhealthy)}).Counter(workflows.MetricChecks).Inc(1)
	m.BridgeMessage(metrics.BridgeSignalled)
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Errorf("metrics: got status %d, want 200", code)
	}
	for _, want := range []string{
		`healthd_checks_total{verdict="unhealthy"} 1`,
		`healthd_checks_total{verdict="healthy"} 0`,
		`healthd_bridge_messages_total{outcome="signalled"} 1`,
		`healthd_rounds_total 0`,
		`healthd_detection_to_recovery_seconds_count 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics: got a body without %q, want it present", want)
		}
	}

	if code, _ := get(t, base+"/nothing"); code != http.StatusNotFound {
		t.Errorf("unknown path: got %d, want 404", code)
	}
	if err := stop(); err != nil {
		t.Errorf("got ServeListener error %v after cancel, want nil", err)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Errorf("got a connection after shutdown, want the listener closed")
	}
}

func TestServeNilReady(t *testing.T) {
	base, stop := serve(t, prometheus.NewRegistry(), nil)
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("readyz: got %d, want 200 with a nil ready func", code)
	}
	if err := stop(); err != nil {
		t.Errorf("got ServeListener error %v after cancel, want nil", err)
	}
}

func TestServeEmptyAddrDisabled(t *testing.T) {
	if err := metrics.Serve(t.Context(), "", prometheus.NewRegistry(), nil, nil); err != nil {
		t.Errorf("got %v, want nil for an empty address", err)
	}
}

func TestServeBadAddr(t *testing.T) {
	err := metrics.Serve(t.Context(), "127.0.0.1:notaport", prometheus.NewRegistry(), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "metrics: listen on 127.0.0.1:notaport") {
		t.Errorf("got %v, want a listen error naming the address", err)
	}
}

func TestServeAddr(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	// Port 0 picks a free port.
	go func() { done <- metrics.Serve(ctx, "127.0.0.1:0", prometheus.NewRegistry(), nil, zap.New(core)) }()

	var early error
	returned := false
	require.Eventually(t, func() bool {
		select {
		case early = <-done:
			returned = true
			return true
		default:
		}
		return logs.FilterMessage("serving metrics and health endpoints").Len() > 0
	}, 10*time.Second, 10*time.Millisecond, "got no serving log within 10s, want one")
	if returned {
		t.Fatalf("got Serve returning %v before serving, want it serving", early)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("got %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("got Serve still running 10s after cancel, want it stopped")
	}
}

// PPROF_ADDR stays on loopback unless PPROF_ANY_ADDR forces it; the profile
// listener serves no command line.
func TestPprofAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		any  bool
		ok   bool
	}{
		{"", false, true}, {"127.0.0.1:6060", false, true}, {"[::1]:6060", false, true}, {"localhost:6060", false, true},
		{":6060", false, false}, {"0.0.0.0:6060", false, false}, {"10.0.0.5:6060", false, false}, {"0.0.0.0:6060", true, true},
	} {
		c := metrics.Config{PprofAddr: tc.addr, PprofAnyAddr: tc.any}
		errs := c.Check()
		if ok := len(errs) == 0; ok != tc.ok || (!ok && !strings.Contains(errs[0].Error(), "PPROF_ADDR: must be a loopback address")) {
			t.Errorf("PPROF_ADDR=%q PPROF_ANY_ADDR=%v: got %v, want ok=%v", tc.addr, tc.any, errs, tc.ok)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = metrics.ServePprof(ctx, addr) }()
	var resp *http.Response
	for range 100 {
		if resp, err = http.Get("http://" + addr + "/debug/pprof/cmdline"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), os.Args[0]) {
		t.Errorf("/debug/pprof/cmdline: got the command line %q", body)
	}
}

// The SDK's own metrics reach the same registry with Temporal's names (as
// its Go SDK dashboard reads them): counters as _total, timers as
// histograms in seconds, gauges; healthd's own names stay healthd's.
func TestSDKMetricsExported(t *testing.T) {
	reg := metrics.NewRegistry()
	m := metrics.New(reg)
	h := m.SDKHandler().WithTags(map[string]string{"namespace": "default", "task_queue": "cluster-health"})
	h.Counter("temporal_request").Inc(2)
	h.Timer("temporal_workflow_task_schedule_to_start_latency").Record(30 * time.Millisecond)
	h.Gauge("temporal_num_pollers").Update(3)
	h.Counter(workflows.MetricRounds).Inc(1)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range families {
		got[f.GetName()] = f
	}
	one := func(name string) *dto.Metric {
		t.Helper()
		f, ok := got[name]
		if !ok || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: got %v, want one series", name, f)
		}
		m := f.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["namespace"] != "default" || labels["task_queue"] != "cluster-health" {
			t.Errorf("%s: labels %v, want the handler's tags", name, labels)
		}
		return m
	}
	if v := one("temporal_request_total").GetCounter().GetValue(); v != 2 {
		t.Errorf("temporal_request_total: got %v, want 2", v)
	}
	if h := one("temporal_workflow_task_schedule_to_start_latency_seconds").GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 0.03 {
		t.Errorf("schedule-to-start histogram: got %d samples summing %v, want 1 of 0.03 s", h.GetSampleCount(), h.GetSampleSum())
	}
	if v := one("temporal_num_pollers").GetGauge().GetValue(); v != 3 {
		t.Errorf("temporal_num_pollers: got %v, want 3", v)
	}
	if v := counterValue(t, m.Rounds); v != 1 {
		t.Errorf("healthd_rounds_total: got %v, want 1", v)
	}
	for name := range got {
		if strings.HasPrefix(name, "temporal_") && strings.Contains(name, "healthd") {
			t.Errorf("%s: a healthd metric went to the SDK's exporter", name)
		}
	}
}
