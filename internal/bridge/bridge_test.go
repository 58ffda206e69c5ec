package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/metrics"
	"github.com/clusterhealth/healthd/internal/testkit"
	"github.com/clusterhealth/healthd/internal/testkit/rabbittest"
)

// Integration tests run against a real RabbitMQ: the local one, or the one
// TEST_AMQP_URL names. They fail when it cannot be reached. Every test uses
// exchanges and queues of its own, deleted at the end.

const defaultTestAMQPURL = "amqp://guest:guest@127.0.0.1:5672/"

// waitTimeout bounds every wait on a condition, and waitTick is how often
// the wait checks it.
const (
	waitTimeout = 20 * time.Second
	waitTick    = 5 * time.Millisecond
)

func testAMQPURL() string {
	if u := os.Getenv("TEST_AMQP_URL"); u != "" {
		return u
	}
	return defaultTestAMQPURL
}

// testEnv is a test's own topology on the broker and a connection to inspect
// and publish with.
type testEnv struct {
	t    *testing.T
	cfg  Config
	conn *amqp.Connection
	ch   *amqp.Channel
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvAt(t, testAMQPURL())
}

// newTestEnvAt is newTestEnv on the broker at amqpURL.
func newTestEnvAt(t *testing.T, amqpURL string) *testEnv {
	t.Helper()
	testkit.Integration(t, "RabbitMQ")
	prefix := "healthd-test." + strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")) + "." + randomHex(t)
	env := &testEnv{
		t: t,
		cfg: Config{
			URL:                 amqpURL,
			NovaExchange:        prefix + ".nova",
			HeatExchange:        prefix + ".heat",
			NovaQueue:           prefix + ".q-nova",
			HeatQueue:           prefix + ".q-heat",
			DeadLetterExchange:  prefix + ".dlx",
			DeadLetterQueue:     prefix + ".dead",
			RetryBackoffMin:     10 * time.Millisecond,
			RetryBackoffMax:     100 * time.Millisecond,
			ReconnectBackoffMin: 20 * time.Millisecond,
			ReconnectBackoffMax: 200 * time.Millisecond,
			SignalTimeout:       5 * time.Second,
			ConnectionName:      prefix,
		},
	}
	env.connect()
	t.Cleanup(func() {
		conn := env.conn
		// A failed passive declare may have closed the channel; use a new one.
		ch, err := conn.Channel()
		if err == nil {
			for _, q := range []string{env.cfg.NovaQueue, env.cfg.HeatQueue, env.cfg.DeadLetterQueue} {
				if _, err := ch.QueueDelete(q, false, false, false); err != nil {
					t.Logf("cleanup: delete queue %s: %v", q, err)
				}
			}
			for _, x := range []string{env.cfg.NovaExchange, env.cfg.HeatExchange, env.cfg.DeadLetterExchange} {
				if err := ch.ExchangeDelete(x, false, false); err != nil {
					t.Logf("cleanup: delete exchange %s: %v", x, err)
				}
			}
		}
		_ = conn.Close()
	})
	return env
}

// connect opens the connection and the confirming channel to publish with,
// again after the broker restarted.
func (e *testEnv) connect() {
	e.t.Helper()
	conn, err := amqp.Dial(e.cfg.URL)
	if err != nil {
		e.t.Fatalf("RabbitMQ at %s is required for this test (set TEST_AMQP_URL): %v", redactURL(e.cfg.URL), err)
	}
	ch, err := conn.Channel()
	if err != nil {
		e.t.Fatalf("open channel: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		e.t.Fatalf("enable publisher confirms: %v", err)
	}
	if e.conn != nil {
		_ = e.conn.Close()
	}
	e.conn, e.ch = conn, ch
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// exchangeFor maps a capture's exchange (nova, heat) to the test's own.
func (e *testEnv) exchangeFor(captured string) string {
	switch captured {
	case "nova":
		return e.cfg.NovaExchange
	case "heat":
		return e.cfg.HeatExchange
	}
	e.t.Fatalf("fixture exchange %q: want nova or heat", captured)
	return ""
}

// publish sends a body with the properties oslo.messaging gives its
// notifications and waits for the broker to confirm it.
func (e *testEnv) publish(exchange, routingKey string, props amqpProps, body []byte) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	headers := amqp.Table{}
	for k, v := range props.Headers {
		headers[k] = v
	}
	dc, err := e.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, routingKey, true, false, amqp.Publishing{
		ContentType:     props.ContentType,
		ContentEncoding: props.ContentEncoding,
		DeliveryMode:    props.DeliveryMode,
		Headers:         headers,
		Body:            body,
	})
	if err != nil {
		e.t.Fatalf("publish to %s with key %s: %v", exchange, routingKey, err)
	}
	if ok, err := dc.WaitContext(ctx); !ok || err != nil {
		e.t.Fatalf("publish to %s with key %s: got confirm %t, %v; want an ack", exchange, routingKey, ok, err)
	}
}

// publishFixture sends a capture to the test's exchange of the same service.
func (e *testEnv) publishFixture(f fixture) {
	e.t.Helper()
	e.publish(e.exchangeFor(f.amqp.Exchange), f.amqp.RoutingKey, f.amqp, f.body)
}

// publishBody sends a body with a capture's properties and routing.
func (e *testEnv) publishBody(f fixture, body []byte) {
	e.t.Helper()
	e.publish(e.exchangeFor(f.amqp.Exchange), f.amqp.RoutingKey, f.amqp, body)
}

// ready returns the number of messages ready in a queue (unacknowledged ones
// are not counted).
func (e *testEnv) ready(queue string) int {
	e.t.Helper()
	ch, err := e.conn.Channel()
	if err != nil {
		e.t.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		e.t.Fatalf("inspect queue %s: %v", queue, err)
	}
	return q.Messages
}

// drain takes every ready message off a queue.
func (e *testEnv) drain(queue string) []amqp.Delivery {
	e.t.Helper()
	var out []amqp.Delivery
	for {
		d, ok, err := e.ch.Get(queue, true)
		if err != nil {
			e.t.Fatalf("get from %s: %v", queue, err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

// temporalOutage fails signals while Temporal is down, as a client that
// cannot reach the server would; use its fail method as fakeSignaller.fail.
type temporalOutage struct {
	mu   sync.Mutex
	down bool
}

func (o *temporalOutage) set(down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = down
}

func (o *temporalOutage) fail(int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down {
		return errors.New("temporal: connection refused")
	}
	return nil
}

// recorded is one signal a fakeSignaller received.
type recorded struct {
	cluster string
	sig     health.RecoverSignal
	back    bool
}

// fakeSignaller records signals; fail, when set, decides the result of each
// call (numbered from 1) and a nil result records the signal.
type fakeSignaller struct {
	mu      sync.Mutex
	calls   int
	signals []recorded
	fail    func(call int) error
}

func (f *fakeSignaller) Signal(_ context.Context, ev Event) error {
	f.mu.Lock()
	f.calls++
	call, fail := f.calls, f.fail
	f.mu.Unlock()
	if fail != nil {
		if err := fail(call); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, recorded{ev.ClusterID, ev.Signal, ev.Back})
	return nil
}

func (f *fakeSignaller) snapshot() (calls int, signals []recorded) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, slices.Clone(f.signals)
}

// running is a bridge started by startBridge.
type running struct {
	*Bridge
	outcomes *prometheus.CounterVec
	logs     *observer.ObservedLogs
	cancel   context.CancelFunc
	done     chan struct{} // closed when Run returned
	runErr   error         // what Run returned, once done is closed
}

// startBridge runs a bridge until the test ends and waits until it consumes.
func startBridge(t *testing.T, cfg Config, s Signaller) *running {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel)).Core()))
	outcomes := metrics.New(prometheus.NewRegistry()).BridgeMessages
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Bridge: New(cfg, s, logger, outcomes), outcomes: outcomes, logs: logs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.runErr = r.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	require.Eventually(t, func() bool { return r.Ready() == nil }, waitTimeout, waitTick, "waiting for the bridge to consume")
	return r
}

// stop shuts the bridge down and waits for Run to return nil.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.runErr != nil {
			t.Errorf("Run: got %v, want nil after shutdown", r.runErr)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("Run did not return within %s of shutdown", waitTimeout)
	}
}

// count reads one outcome counter.
func (r *running) count(outcome metrics.BridgeOutcome) int {
	m := &dto.Metric{}
	if err := r.outcomes.WithLabelValues(string(outcome)).Write(m); err != nil {
		panic(err)
	}
	return int(m.GetCounter().GetValue())
}

func (r *running) counts() string {
	var b strings.Builder
	for _, o := range outcomeLabels {
		fmt.Fprintf(&b, "%s=%d ", o, r.count(o))
	}
	return b.String()
}

// TestBridgeFixtures publishes every capture as oslo.messaging did and checks
// that exactly the cluster members are signalled and the rest acknowledged.
func TestBridgeFixtures(t *testing.T) {
	env := newTestEnv(t)
	sig := &fakeSignaller{}
	b := startBridge(t, env.cfg, sig)

	fixtures := loadFixtures(t)
	var wantSignals []recorded
	for _, f := range fixtures {
		env.publishFixture(f)
		if w := fixtureWants[f.name]; w.kind == KindRecover {
			wantSignals = append(wantSignals, recorded{cluster: w.cluster, sig: w.signal})
		}
	}
	wantIgnored := len(fixtures) - len(wantSignals)
	require.Eventually(t, func() bool {
		return b.count(metrics.BridgeSignalled) == len(wantSignals) && b.count(metrics.BridgeIgnored) == wantIgnored
	}, waitTimeout, waitTick, "waiting for %d signalled and %d ignored", len(wantSignals), wantIgnored)
	b.stop(t)

	_, got := sig.snapshot()
	byMessage := func(a, b recorded) int { return strings.Compare(a.sig.MessageID, b.sig.MessageID) }
	slices.SortFunc(got, byMessage)
	slices.SortFunc(wantSignals, byMessage)
	if !slices.Equal(got, wantSignals) {
		t.Errorf("got signals %+v, want %+v", got, wantSignals)
	}
	if n := b.count(metrics.BridgeMalformed) + b.count(metrics.BridgeRetried) + b.count(metrics.BridgeNotRegistered); n != 0 {
		t.Errorf("got counts %s, want only signalled and ignored", b.counts())
	}
	for _, q := range []string{env.cfg.NovaQueue, env.cfg.HeatQueue, env.cfg.DeadLetterQueue} {
		if n := env.ready(q); n != 0 {
			t.Errorf("queue %s: got %d messages after shutdown, want 0 (all acknowledged)", q, n)
		}
	}
}

// TestBridgeDeadLettersMalformed is scenario 75 on the wire: bodies that cannot
// be parsed go to the dead-letter queue, unchanged, and a valid event after
// them is still signalled.
func TestBridgeDeadLettersMalformed(t *testing.T) {
	env := newTestEnv(t)
	sig := &fakeSignaller{}
	b := startBridge(t, env.cfg, sig)

	nova := fixtureByName(t, memberNova)
	heat := fixtureByName(t, memberHeat)
	bad := map[string]fixture{
		"this is not json": nova,
		`{"oslo.version": "2.0", "oslo.message": {"event_type": "compute.instance.shutdown.end"}}`:      heat,
		string(editFixture(t, memberNova, func(m map[string]any) { delete(payloadOf(m), "metadata") })): nova,
		string(editFixture(t, memberHeat, func(m map[string]any) { delete(payloadOf(m), "tags") })):     heat,
	}
	for body, f := range bad {
		env.publishBody(f, []byte(body))
	}
	env.publishFixture(nova)

	require.Eventually(t, func() bool {
		return b.count(metrics.BridgeMalformed) == len(bad) && b.count(metrics.BridgeSignalled) == 1
	}, waitTimeout, waitTick, "waiting for every malformed body dead-lettered and the valid one signalled")
	var dead []amqp.Delivery
	require.Eventually(t, func() bool {
		dead = append(dead, env.drain(env.cfg.DeadLetterQueue)...)
		return len(dead) >= len(bad)
	}, waitTimeout, waitTick, "waiting for the dead-letter queue to hold them")
	for _, d := range dead {
		if _, ok := bad[string(d.Body)]; !ok {
			t.Errorf("dead-lettered body %q: want one of the malformed bodies, unchanged", d.Body)
		}
		if _, ok := d.Headers["x-death"]; !ok {
			t.Errorf("dead-lettered message: got headers %v, want x-death", d.Headers)
		}
		if d.ContentType != "application/json" {
			t.Errorf("dead-lettered message: got content type %q, want the original application/json", d.ContentType)
		}
	}
	if len(dead) != len(bad) {
		t.Errorf("got %d dead-lettered messages, want %d", len(dead), len(bad))
	}
	if _, got := sig.snapshot(); len(got) != 1 || got[0].sig.MessageID != fixtureWants[memberNova].messageID {
		t.Errorf("got signals %+v, want only the valid event", got)
	}
}

// TestBridgeRetriesUntilSignalAccepted: while the signaller fails (Temporal
// down), the delivery stays unacknowledged and is retried in place; once the
// signaller accepts it, it is signalled exactly once and acknowledged.
func TestBridgeRetriesUntilSignalAccepted(t *testing.T) {
	env := newTestEnv(t)
	const failures = 3
	inFailingCall := make(chan struct{})
	release := make(chan struct{})
	sig := &fakeSignaller{fail: func(call int) error {
		if call == 2 {
			close(inFailingCall)
			<-release
		}
		if call <= failures {
			return errors.New("temporal: connection refused")
		}
		return nil
	}}
	b := startBridge(t, env.cfg, sig)
	f := fixtureByName(t, memberNova)
	env.publishFixture(f)

	select {
	case <-inFailingCall:
	case <-time.After(waitTimeout):
		t.Fatalf("the signaller was not retried within %s", waitTimeout)
	}
	// The bridge holds the message: nothing ready, and, where rabbitmqctl can
	// tell, one unacknowledged.
	if n := env.ready(env.cfg.NovaQueue); n != 0 {
		t.Errorf("during retries: got %d ready messages, want 0 (held by the bridge)", n)
	}
	if out, err := rabbitmqctl("list_queues", "--no-table-headers", "name", "messages_unacknowledged"); err == nil {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(env.cfg.NovaQueue) + `\s+1$`).MatchString(out) {
			t.Errorf("during retries: rabbitmqctl list_queues: got %q, want %s with 1 unacknowledged", out, env.cfg.NovaQueue)
		}
	} else {
		t.Logf("rabbitmqctl unavailable (%v); unacknowledged state checked through shutdown in TestBridgeShutdownRequeuesWhileRetrying", err)
	}
	close(release)

	require.Eventually(t, func() bool { return b.count(metrics.BridgeSignalled) == 1 }, waitTimeout, waitTick, "waiting for the signal to be accepted")
	b.stop(t)
	calls, got := sig.snapshot()
	if calls != failures+1 || len(got) != 1 {
		t.Errorf("got %d calls and %d signals, want %d calls and exactly 1 signal", calls, len(got), failures+1)
	}
	if n := b.count(metrics.BridgeRetried); n != failures {
		t.Errorf("got retried=%d, want %d", n, failures)
	}
	if n := env.ready(env.cfg.NovaQueue); n != 0 {
		t.Errorf("after shutdown: got %d messages back in the queue, want 0 (acknowledged once signalled)", n)
	}
}

// TestBridgeShutdownRequeuesWhileRetrying: a delivery still being retried at
// shutdown goes back to the queue (it was never acknowledged), and the next
// bridge signals it once Temporal is back.
func TestBridgeShutdownRequeuesWhileRetrying(t *testing.T) {
	env := newTestEnv(t)
	down := &fakeSignaller{fail: func(int) error { return errors.New("temporal: unavailable") }}
	b := startBridge(t, env.cfg, down)
	f := fixtureByName(t, memberNova)
	env.publishFixture(f)
	require.Eventually(t, func() bool { return b.count(metrics.BridgeRetried) >= 2 }, waitTimeout, waitTick, "waiting for two failed attempts")
	b.stop(t)

	if n := env.ready(env.cfg.NovaQueue); n != 1 {
		t.Fatalf("after shutdown: got %d messages in the queue, want the unsignalled one back", n)
	}
	up := &fakeSignaller{}
	b2 := startBridge(t, env.cfg, up)
	require.Eventually(t, func() bool { return b2.count(metrics.BridgeSignalled) == 1 }, waitTimeout, waitTick, "waiting for the requeued delivery to be signalled")
	b2.stop(t)
	if _, got := up.snapshot(); len(got) != 1 || got[0].sig.MessageID != fixtureWants[memberNova].messageID {
		t.Errorf("got signals %+v, want the requeued event once", got)
	}
	if _, got := down.snapshot(); len(got) != 0 {
		t.Errorf("got %d signals through the failing signaller, want 0", len(got))
	}
}

// TestBridgeNotRegistered: a cluster without a workflow is acknowledged,
// counted and logged once.
func TestBridgeNotRegistered(t *testing.T) {
	env := newTestEnv(t)
	sig := &fakeSignaller{fail: func(int) error {
		return fmt.Errorf("signal recover: %w", healthclient.ErrNotRegistered)
	}}
	b := startBridge(t, env.cfg, sig)
	for _, name := range []string{memberNova, memberNovaVersioned, memberHeat} {
		env.publishFixture(fixtureByName(t, name))
	}
	require.Eventually(t, func() bool { return b.count(metrics.BridgeNotRegistered) == 3 }, waitTimeout, waitTick, "waiting for three not_registered")
	b.stop(t)
	if n := b.count(metrics.BridgeRetried) + b.count(metrics.BridgeSignalled); n != 0 {
		t.Errorf("got counts %s, want neither retried nor signalled", b.counts())
	}
	logged := b.logs.FilterMessageSnippet("not registered").FilterField(zap.String("cluster_id", fxCluster)).Len()
	if logged != 1 {
		t.Errorf("got %d log lines about cluster %s not being registered, want 1", logged, fxCluster)
	}
	for _, q := range []string{env.cfg.NovaQueue, env.cfg.HeatQueue} {
		if n := env.ready(q); n != 0 {
			t.Errorf("queue %s: got %d messages after shutdown, want 0 (acknowledged)", q, n)
		}
	}
}

// TestBridgeReconnects closes the bridge's connection from the server, as a
// RabbitMQ restart would, and checks that the bridge reconnects by itself,
// redeclares its topology and processes the next message.
func TestBridgeReconnects(t *testing.T) {
	env := newTestEnv(t)
	sig := &fakeSignaller{}
	b := startBridge(t, env.cfg, sig)
	if n := b.connections.Load(); n != 1 {
		t.Fatalf("got %d connections, want 1", n)
	}
	forceClose(t, b.Bridge, env.cfg.ConnectionName)
	require.Eventually(t, func() bool { return b.connections.Load() >= 2 && b.Ready() == nil }, waitTimeout, waitTick, "waiting for a new connection")

	env.publishFixture(fixtureByName(t, memberHeat))
	require.Eventually(t, func() bool { return b.count(metrics.BridgeSignalled) == 1 }, waitTimeout, waitTick, "waiting for the next message to be signalled")
	if _, got := sig.snapshot(); len(got) != 1 || got[0].sig.Source != SourceHeat {
		t.Errorf("got signals %+v, want the heat event", got)
	}
}

// TestBridgeRedeliversAfterConnectionLossDuringRetry: a delivery being retried
// when the connection drops is redelivered on the new connection and
// signalled once.
func TestBridgeRedeliversAfterConnectionLossDuringRetry(t *testing.T) {
	env := newTestEnv(t)
	outage := &temporalOutage{down: true}
	sig := &fakeSignaller{fail: outage.fail}
	b := startBridge(t, env.cfg, sig)
	env.publishFixture(fixtureByName(t, memberNovaVersioned))
	require.Eventually(t, func() bool { return b.count(metrics.BridgeRetried) >= 1 }, waitTimeout, waitTick, "waiting for a failed attempt")

	forceClose(t, b.Bridge, env.cfg.ConnectionName)
	require.Eventually(t, func() bool { return b.connections.Load() >= 2 }, waitTimeout, waitTick, "waiting for a new connection")
	outage.set(false)

	require.Eventually(t, func() bool { return b.count(metrics.BridgeSignalled) == 1 }, waitTimeout, waitTick, "waiting for the redelivered message to be signalled")
	b.stop(t)
	if _, got := sig.snapshot(); len(got) != 1 || got[0].sig.Event != EventPowerOff {
		t.Errorf("got signals %+v, want the power-off event once", got)
	}
	if n := env.ready(env.cfg.NovaQueue); n != 0 {
		t.Errorf("after shutdown: got %d messages in the queue, want 0", n)
	}
}

// TestBridgeGracefulShutdown: at shutdown the delivery in flight finishes and
// is acknowledged, the prefetched ones go back to the queue, and Run returns.
func TestBridgeGracefulShutdown(t *testing.T) {
	env := newTestEnv(t)
	cfg := env.cfg
	cfg.Concurrency = 1
	cfg.Prefetch = 8
	inFlight := make(chan struct{})
	release := make(chan struct{})
	sig := &fakeSignaller{fail: func(call int) error {
		if call == 1 {
			close(inFlight)
			<-release
		}
		return nil
	}}
	b := startBridge(t, cfg, sig)
	const messages = 3
	for i := range messages {
		env.publishBody(fixtureByName(t, memberNova), editFixture(t, memberNova, func(m map[string]any) {
			m["message_id"] = fmt.Sprintf("shutdown-%d", i)
		}))
	}
	select {
	case <-inFlight:
	case <-time.After(waitTimeout):
		t.Fatalf("no signal in flight within %s", waitTimeout)
	}
	b.cancel()
	select {
	case <-b.done:
		t.Fatal("Run returned with a signal in flight")
	default:
	}
	close(release)
	b.stop(t)

	_, got := sig.snapshot()
	if len(got) != 1 || got[0].sig.MessageID != "shutdown-0" {
		t.Errorf("got signals %+v, want only the one in flight", got)
	}
	if n := env.ready(env.cfg.NovaQueue); n != messages-1 {
		t.Errorf("after shutdown: got %d messages in the queue, want the %d prefetched ones requeued", n, messages-1)
	}
	if err := b.Ready(); err == nil {
		t.Errorf("Ready after shutdown: got nil, want an error")
	}
}

// TestBridgeTopology: an exchange oslo.messaging declared durable is accepted
// as it is (checked passively); a missing one is created with oslo's own
// arguments; the bridge's queues are durable and dead-letter.
func TestBridgeTopology(t *testing.T) {
	env := newTestEnv(t)
	// Nova's exchange exists, durable (amqp_durable_queues=true); the
	// bridge is configured with the default, non-durable.
	if err := env.ch.ExchangeDeclare(env.cfg.NovaExchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatalf("declare durable exchange: %v", err)
	}
	sig := &fakeSignaller{}
	b := startBridge(t, env.cfg, sig)
	env.publishFixture(fixtureByName(t, memberNova))
	env.publishFixture(fixtureByName(t, memberHeat))
	require.Eventually(t, func() bool { return b.count(metrics.BridgeSignalled) == 2 }, waitTimeout, waitTick, "waiting for both events signalled")

	// Declaring with the same arguments succeeds; any other closes the channel.
	redeclare := []struct {
		what string
		fn   func(ch *amqp.Channel) error
	}{
		{"nova exchange still durable", func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare(env.cfg.NovaExchange, amqp.ExchangeTopic, true, false, false, false, nil)
		}},
		{"heat exchange created as oslo declares it", func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare(env.cfg.HeatExchange, amqp.ExchangeTopic, false, false, false, false, nil)
		}},
		{"nova queue durable, dead-lettering and bounded", func(ch *amqp.Channel) error {
			d := DefaultConfig()
			_, err := ch.QueueDeclare(env.cfg.NovaQueue, true, false, false, false, amqp.Table{"x-dead-letter-exchange": env.cfg.DeadLetterExchange,
				"x-max-length": int64(d.QueueMaxLength), "x-overflow": "drop-head", "x-message-ttl": d.MessageTTL.Milliseconds()})
			return err
		}},
		{"dead-letter exchange durable fanout", func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare(env.cfg.DeadLetterExchange, amqp.ExchangeFanout, true, false, false, false, nil)
		}},
	}
	for _, r := range redeclare {
		ch, err := env.conn.Channel()
		if err != nil {
			t.Fatalf("open channel: %v", err)
		}
		if err := r.fn(ch); err != nil {
			t.Errorf("%s: redeclare: %v", r.what, err)
		}
		_ = ch.Close()
	}
}

// TestBridgeRunsWithoutRabbitMQ: an unreachable broker is retried, Ready says
// why without the password, and shutdown still returns promptly.
func TestBridgeRunsWithoutRabbitMQ(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	b := New(Config{
		URL:                 "amqp://healthd:s3cret@" + addr + "/",
		ReconnectBackoffMin: 10 * time.Millisecond,
		ReconnectBackoffMax: 20 * time.Millisecond,
	}, &fakeSignaller{}, zaptest.NewLogger(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	require.Eventually(t, func() bool {
		err := b.Ready()
		return err != nil && !errors.Is(err, errNotConnected)
	}, waitTimeout, waitTick, "waiting for a failed connection attempt")
	if err := b.Ready(); strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Ready: got %q, want no password", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: got %v, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("Run did not return within %s", waitTimeout)
	}
}

func TestRunRejectsInvalidConfig(t *testing.T) {
	b := New(Config{URL: "amqp://u:s3cret@host:notaport/", NovaQueue: "notifications.info", HeatExchange: "nova"}, &fakeSignaller{}, nil, nil)
	err := b.Run(context.Background())
	if err == nil {
		t.Fatal("Run: got nil, want a config error")
	}
	for _, want := range []string{"AMQP_URL:", "BRIDGE_NOVA_QUEUE: must not be \"notifications.info\", oslo's default queue", "HEAT_CONTROL_EXCHANGE: must differ from NOVA_CONTROL_EXCHANGE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("got %q, want no password", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{URL: defaultTestAMQPURL}.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate defaults: %v", err)
	}
	checks := []struct{ name, got, want string }{
		{"nova exchange", c.NovaExchange, "nova"},
		{"heat exchange", c.HeatExchange, "heat"},
		{"nova queue", c.NovaQueue, "healthd.nova"},
		{"heat queue", c.HeatQueue, "healthd.heat"},
		{"dead-letter exchange", c.DeadLetterExchange, "healthd.dlx"},
		{"dead-letter queue", c.DeadLetterQueue, "healthd.dead"},
		{"routing keys", strings.Join(c.RoutingKeys, ","), "versioned_notifications.info,versioned_notifications.error,notifications.info,notifications.error"},
		{"prefetch", fmt.Sprint(c.Prefetch), "32"},
		{"exchange durable", fmt.Sprint(c.ExchangeDurable), "false"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if c.RetryBackoffMin <= 0 || c.RetryBackoffMax < c.RetryBackoffMin {
		t.Errorf("retry backoff: got %s..%s, want a positive range", c.RetryBackoffMin, c.RetryBackoffMax)
	}
}

func TestRedactURL(t *testing.T) {
	got := redactURL("amqp://healthd:s3cret@rabbit:5672/vhost")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "rabbit:5672") {
		t.Errorf("got %q, want the URL without its password", got)
	}
}

// forceClose closes the bridge's connection from the server with rabbitmqctl
// when the broker is local and rabbitmqctl answers, else from the client side
// through the bridge's test hook (both end in NotifyClose).
func forceClose(t *testing.T, b *Bridge, connectionName string) {
	t.Helper()
	out, err := rabbitmqctl("list_connections", "--no-table-headers", "pid", "client_properties")
	if err == nil {
		marker := `{"connection_name","` + connectionName + `"}`
		for line := range strings.SplitSeq(out, "\n") {
			if pid, _, ok := strings.Cut(line, "\t"); ok && strings.Contains(line, marker) {
				if _, err = rabbitmqctl("close_connection", pid, "healthd bridge test: simulated broker restart"); err == nil {
					t.Logf("closed connection %s from the server", pid)
					return
				}
				break
			}
		}
		if err == nil {
			err = fmt.Errorf("no connection named %s", connectionName)
		}
	}
	t.Logf("closing from the client side instead: rabbitmqctl: %v", err)
	if err := b.dropConnection(); err != nil {
		t.Fatalf("drop connection: %v", err)
	}
}

// rabbitmqctl runs rabbitmqctl against the local broker, if the tests use it.
func rabbitmqctl(args ...string) (string, error) {
	return rabbittest.LocalCtl(testAMQPURL(), args...)
}
