package bridge

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/clusterhealth/healthd/internal/metrics"
	"github.com/clusterhealth/healthd/internal/testkit/rabbittest"
)

// restartTimeout bounds the waits around a broker restart: a node takes
// seconds to stop and start, more on a busy machine.
const restartTimeout = 60 * time.Second

// TestBridgeSurvivesBrokerRestart restarts a real broker, a private node the
// test starts (the shared one serves other tests), under a running bridge. A
// delivery held unacknowledged while Temporal is unreachable survives the
// restart (persistent message, durable queue) and is signalled once Temporal
// is back; the bridge is not ready while the broker is down, reconnects by
// itself, redeclares the exchange the restart dropped and signals what is
// published afterwards. Nothing is lost.
func TestBridgeSurvivesBrokerRestart(t *testing.T) {
	broker := rabbittest.Start(t)
	env := newTestEnvAt(t, broker.URL)
	cfg := env.cfg
	cfg.ReconnectBackoffMin = 100 * time.Millisecond
	cfg.ReconnectBackoffMax = time.Second

	outage := &temporalOutage{}
	sig := &fakeSignaller{fail: outage.fail}
	b := startBridge(t, cfg, sig)

	f := fixtureByName(t, memberNova)
	publish := func(messageID string) {
		t.Helper()
		body := editFixture(t, memberNova, func(m map[string]any) { m["message_id"] = messageID })
		props := f.amqp
		props.DeliveryMode = amqp.Persistent
		env.publish(env.exchangeFor(props.Exchange), props.RoutingKey, props, body)
	}
	signalled := func(messageID string) func() bool {
		return func() bool {
			_, got := sig.snapshot()
			return slices.ContainsFunc(got, func(r recorded) bool { return r.sig.MessageID == messageID })
		}
	}
	const before, held, after = "restart-before", "restart-held", "restart-after"

	// A message before the restart goes through.
	publish(before)
	require.Eventually(t, signalled(before), restartTimeout, waitTick, "waiting for the first message to be signalled")

	// Temporal goes away: the next message is held unacknowledged and retried.
	outage.set(true)
	publish(held)
	require.Eventually(t, func() bool { return b.count(metrics.BridgeRetried) >= 2 }, restartTimeout, waitTick, "waiting for the second message to be retried")
	if n := env.ready(cfg.NovaQueue); n != 0 {
		t.Errorf("during retries: got %d ready messages, want 0 (held by the bridge)", n)
	}
	if out := broker.Ctl(t, "list_queues", "--no-table-headers", "name", "messages_unacknowledged"); !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(cfg.NovaQueue) + `\s+1$`).MatchString(out) {
		t.Errorf("during retries: rabbitmqctl list_queues: got %q, want %s with 1 unacknowledged", out, cfg.NovaQueue)
	}

	// The broker stops: the bridge is not ready and keeps trying to connect.
	if n := b.connections.Load(); n != 1 {
		t.Fatalf("before the restart: got %d connections, want 1", n)
	}
	began := time.Now()
	broker.Stop(t)
	require.Eventually(t, func() bool { return b.Ready() != nil }, restartTimeout, waitTick, "waiting for the bridge to report not ready")
	require.Eventually(t, func() bool {
		err := b.Ready()
		return err != nil && strings.Contains(err.Error(), "connect to")
	}, restartTimeout, waitTick, "waiting for the bridge to fail connecting to the stopped broker")
	t.Logf("while the broker is down: Ready: %v", b.Ready())
	// Ready fails only once the old connection's workers have returned: no
	// attempt on it is counted after this.
	retriedBeforeRestart := b.count(metrics.BridgeRetried)

	// The broker comes back: the bridge reconnects by itself.
	broker.Start(t)
	require.Eventually(t, func() bool { return b.connections.Load() >= 2 && b.Ready() == nil }, restartTimeout, waitTick, "waiting for the bridge to reconnect")
	t.Logf("bridge consuming again %s after the broker began to stop", time.Since(began).Round(time.Millisecond))

	// The held message survived and is redelivered; Temporal is still down,
	// so it is retried on the new connection.
	require.Eventually(t, func() bool {
		return b.count(metrics.BridgeRetried) > retriedBeforeRestart
	}, restartTimeout, waitTick, "waiting for the held message to be redelivered and retried")
	if signalled(held)() {
		t.Fatal("the held message was signalled while Temporal was down")
	}
	outage.set(false)
	require.Eventually(t, signalled(held), restartTimeout, waitTick, "waiting for the held message to be signalled after the restart")

	// The publisher's connection died with the broker; a message published
	// after the restart is signalled too.
	env.connect()
	publish(after)
	require.Eventually(t, signalled(after), restartTimeout, waitTick, "waiting for a message published after the restart to be signalled")
	b.stop(t)

	_, got := sig.snapshot()
	perMessage := make(map[string]int)
	for _, r := range got {
		perMessage[r.sig.MessageID]++
		if r.cluster != fxCluster {
			t.Errorf("got a signal for cluster %q, want %q", r.cluster, fxCluster)
		}
	}
	if ids := slices.Sorted(maps.Keys(perMessage)); !slices.Equal(ids, []string{after, before, held}) {
		t.Errorf("got signals for messages %q, want exactly %q, %q and %q", ids, before, held, after)
	}
	for id, n := range perMessage {
		if n > 1 {
			// Allowed (the workflow deduplicates by message ID) but not expected here.
			t.Logf("message %s signalled %d times", id, n)
		}
	}
	if n := b.count(metrics.BridgeSignalled); n != len(got) {
		t.Errorf("got signalled=%d, want %d, one per signal received", n, len(got))
	}
	if b.count(metrics.BridgeRetried) == 0 || b.count(metrics.BridgeMalformed)+b.count(metrics.BridgeIgnored)+b.count(metrics.BridgeNotRegistered) != 0 {
		t.Errorf("got counts %s, want retried > 0 and only signalled otherwise", b.counts())
	}
	if n := b.connections.Load(); n != 2 {
		t.Errorf("got %d connections, want 2: one before and one after the restart", n)
	}
	// oslo's default exchanges are not durable: the restart dropped the
	// exchange, and the bridge declared it again when it reconnected.
	created := b.logs.FilterMessageSnippet("exchange created").FilterField(zap.String("exchange", cfg.NovaExchange)).Len()
	if created != 2 {
		t.Errorf("nova exchange created %d times, want 2: at the start and after the restart", created)
	}
	for _, q := range []string{cfg.NovaQueue, cfg.HeatQueue, cfg.DeadLetterQueue} {
		if n := env.ready(q); n != 0 {
			t.Errorf("queue %s: got %d messages after shutdown, want 0 (all acknowledged)", q, n)
		}
	}
	t.Logf("final counts: %s; %s", b.counts(), fmt.Sprint(perMessage))
}
