// Package metrics defines the Prometheus metrics of every healthd process in
// one place and serves them with the liveness and readiness endpoints.
//
// Labels are deliberately low-cardinality: no cluster or node IDs, which belong
// in logs, the status query and the health_events timeline.
package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel"
	"go.temporal.io/sdk/client"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

const namespace = "healthd"

// ignoreReasons are the reason labels of healthd_recover_signals_ignored_total.
var ignoreReasons = []string{triage.ReasonNoNodeID, triage.ReasonInvalid, triage.ReasonDuplicate, triage.ReasonPaused,
	triage.ReasonOtherProject, triage.ReasonInFlight, triage.ReasonNoLifecycle, triage.ReasonNotMember}

// BridgeOutcome is what the signal bridge did with one notification.
type BridgeOutcome string

// Bridge outcomes.
const (
	// BridgeSignalled: the cluster's workflow accepted the recover signal.
	BridgeSignalled BridgeOutcome = "signalled"
	// BridgeNotRegistered: no workflow for the cluster; acknowledged.
	BridgeNotRegistered BridgeOutcome = "not_registered"
	// BridgeIgnored: not a health-relevant notification (event, filter).
	BridgeIgnored BridgeOutcome = "ignored"
	// BridgeMalformed: the body could not be parsed; dead-lettered.
	BridgeMalformed BridgeOutcome = "malformed"
	// BridgeRetried: Temporal was unreachable; left unacknowledged for redelivery.
	BridgeRetried BridgeOutcome = "retried"
	// BridgeTooOld: the event is older than BRIDGE_MAX_EVENT_AGE (queued
	// through an outage); acknowledged, not signalled.
	BridgeTooOld BridgeOutcome = "too_old"
	// BridgeRefused: Temporal refused the signal for good (permission
	// denied, invalid argument); dead-lettered.
	BridgeRefused BridgeOutcome = "refused"
)

// Metrics holds every healthd metric. Each process registers all of them and
// updates the ones it owns; the others stay at zero. The methods are safe for
// concurrent use and do nothing on a nil *Metrics, so tests may pass nil.
type Metrics struct {
	// Rounds counts finished polling rounds, failed ones included
	// (healthd_rounds_total).
	Rounds prometheus.Counter
	// Checks counts node verdicts by verdict (healthd_checks_total).
	Checks *prometheus.CounterVec
	// Recoveries counts finished recoveries by outcome (healthd_recoveries_total).
	Recoveries *prometheus.CounterVec
	// RecoveriesOverdue counts recoveries that outlived their wait bound
	// (healthd_recoveries_overdue_total); each is still watched to its end.
	RecoveriesOverdue prometheus.Counter
	// DetectionToRecovery is the time from the first failed check of a node
	// (or the notification's own timestamp) to the end of its successful
	// recovery action (healthd_detection_to_recovery_seconds).
	DetectionToRecovery prometheus.Histogram
	// SignalsIgnored counts recover requests not acted on, by reason
	// (healthd_recover_signals_ignored_total).
	SignalsIgnored *prometheus.CounterVec
	// Decisions counts the decision core's changes of decision (a node
	// held, quarantined, needing a human, a cluster hold), by action and
	// reason (healthd_decisions_total).
	Decisions *prometheus.CounterVec
	// BridgeMessages counts notifications by outcome (healthd_bridge_messages_total).
	BridgeMessages *prometheus.CounterVec
	// EngineActions counts the status changes the reference engine made to
	// actions, by new status in lower case (healthd_engine_actions_total).
	EngineActions *prometheus.CounterVec
	// EngineReclaims counts the actions the reference engine took over from
	// an executor whose lease ran out (healthd_engine_reclaims_total): an
	// engine process died, or lost the database, in the middle of an action.
	EngineReclaims prometheus.Counter

	// sdk receives the Temporal SDK's own metrics (SDKHandler).
	sdk client.MetricsHandler
}

// New creates the metrics and registers them on reg; it panics if they are
// already registered there, as registering twice is a programming error.
// Known label values are initialised so every series is exported from the start.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Rounds: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "rounds_total",
			Help:      "Finished polling rounds, failed ones included.",
		}),
		Checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "checks_total",
			Help:      "Final node verdicts of polling rounds (after confirmation and grace), by verdict (healthy, unhealthy, unknown, skipped).",
		}, []string{"verdict"}),
		Recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "recoveries_total",
			Help:      "Finished recoveries, by outcome.",
		}, []string{"outcome"}),
		RecoveriesOverdue: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "recoveries_overdue_total",
			Help:      "Recoveries whose action outlived the wait bound; each is still watched until it ends.",
		}),
		SignalsIgnored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "recover_signals_ignored_total",
			Help:      "Recover requests not acted on, by reason.",
		}, []string{"reason"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "decisions_total",
			Help:      "Changes of the decision core's decision about a node or a cluster (held, quarantined, needing a human, a cluster hold), by action and reason.",
		}, []string{"action", "reason"}),
		DetectionToRecovery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "detection_to_recovery_seconds",
			Help:      "Time from the first failed check of a node (or the notification's timestamp) to the end of its successful recovery.",
			// From a quick reboot to a slow recreate; a success after the wait
			// bound (an overdue recovery) is observed too.
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200},
		}),
		BridgeMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "bridge_messages_total",
			Help:      "Notifications handled by the signal bridge, by outcome.",
		}, []string{"outcome"}),
		EngineActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "engine_actions_total",
			Help:      "Action status changes made by the reference engine, by new status (running: claims).",
		}, []string{"status"}),
		EngineReclaims: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "engine_reclaims_total",
			Help:      "Actions the reference engine took over from an executor whose lease ran out.",
		}),
	}
	// An instrument the SDK's meter cannot make is dropped, and reported
	// through OpenTelemetry's error handler (standard error).
	m.sdk = newSDKHandler(reg, otel.Handle)
	reg.MustRegister(m.Rounds, m.Checks, m.Recoveries, m.RecoveriesOverdue, m.SignalsIgnored, m.Decisions, m.DetectionToRecovery,
		m.BridgeMessages, m.EngineActions, m.EngineReclaims)

	for _, v := range []health.Verdict{health.Healthy, health.Unhealthy, health.Unknown, health.Skipped} {
		m.Checks.WithLabelValues(string(v))
	}
	for _, o := range health.Outcomes() {
		m.Recoveries.WithLabelValues(o.Label())
	}
	for _, r := range ignoreReasons {
		m.SignalsIgnored.WithLabelValues(r)
	}
	for _, o := range []BridgeOutcome{BridgeSignalled, BridgeNotRegistered, BridgeIgnored, BridgeMalformed, BridgeRetried, BridgeTooOld, BridgeRefused} {
		m.BridgeMessages.WithLabelValues(string(o))
	}
	for _, s := range []health.ActionStatus{health.ActionRunning, health.ActionSucceeded, health.ActionFailed, health.ActionCancelled} {
		m.EngineActions.WithLabelValues(statusLabel(s))
	}
	return m
}

// NewRegistry returns a registry holding the Go runtime and process
// collectors, ready for New.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// BridgeMessage counts one notification handled by the bridge.
func (m *Metrics) BridgeMessage(o BridgeOutcome) {
	if m == nil {
		return
	}
	m.BridgeMessages.WithLabelValues(string(o)).Inc()
}

// EngineAction counts one action status change made by the engine.
func (m *Metrics) EngineAction(s health.ActionStatus) {
	if m == nil {
		return
	}
	m.EngineActions.WithLabelValues(statusLabel(s)).Inc()
}

// EngineReclaim counts one action taken over from an executor whose lease
// ran out.
func (m *Metrics) EngineReclaim() {
	if m == nil {
		return
	}
	m.EngineReclaims.Inc()
}

func statusLabel(s health.ActionStatus) string { return strings.ToLower(string(s)) }
