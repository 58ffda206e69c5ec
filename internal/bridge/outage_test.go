package bridge

import (
	"errors"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/clusterhealth/healthd/internal/metrics"
)

// The bridge under a long outage, against the real broker: its queues are
// bounded by length (the oldest beyond it dead-lettered) and by age (what
// waited beyond the TTL dead-lettered), and so is the dead-letter queue.
func TestBridgeQueueBounds(t *testing.T) {
	env := newTestEnv(t)
	env.cfg.QueueMaxLength, env.cfg.DeadLetterMaxLength = 5, 2
	b := startBridge(t, env.cfg, &fakeSignaller{})
	b.stop(t) // the queues stay, with nobody consuming: an outage
	nova := fixtureByName(t, memberNova)
	for range 8 {
		env.publishFixture(nova)
	}
	require.Eventually(t, func() bool {
		return env.ready(env.cfg.NovaQueue) == 5 && env.ready(env.cfg.DeadLetterQueue) == 2
	}, waitTimeout, waitTick, "waiting for 5 in the queue and the dead-letter queue at its bound of 2 (3 overflowed)")

	ttl := newTestEnv(t)
	ttl.cfg.MessageTTL = 300 * time.Millisecond
	b = startBridge(t, ttl.cfg, &fakeSignaller{})
	b.stop(t)
	ttl.publishFixture(nova)
	ttl.publishFixture(nova)
	require.Eventually(t, func() bool {
		return ttl.ready(ttl.cfg.NovaQueue) == 0 && ttl.ready(ttl.cfg.DeadLetterQueue) == 2
	}, waitTimeout, waitTick, "waiting for both notifications to expire into the dead-letter queue")
}

// A queue declared before the bounds existed (without them) cannot be
// redeclared with them: the bridge uses it as it is, and says how to bound
// it.
func TestBridgeKeepsAnUnboundedQueue(t *testing.T) {
	env := newTestEnv(t)
	if _, err := env.ch.QueueDeclare(env.cfg.NovaQueue, true, false, false, false,
		amqp.Table{"x-dead-letter-exchange": env.cfg.DeadLetterExchange}); err != nil {
		t.Fatal(err)
	}
	sig := &fakeSignaller{}
	b := startBridge(t, env.cfg, sig)
	env.publishFixture(fixtureByName(t, memberNova))
	require.Eventually(t, func() bool { return b.count(metrics.BridgeSignalled) == 1 }, waitTimeout, waitTick, "waiting for the signal")
	if n := b.logs.FilterMessageSnippet("queue exists with other arguments").Len(); n == 0 {
		t.Error("no warning that the queue's bounds are not applied")
	}
}

// Events older than BRIDGE_MAX_EVENT_AGE (the captures are years old) are
// counted and dropped, not signalled; a fresh one is signalled.
func TestBridgeDropsOldEvents(t *testing.T) {
	env := newTestEnv(t)
	env.cfg.MaxEventAge = 10 * time.Minute
	sig := &fakeSignaller{}
	b := startBridge(t, env.cfg, sig)
	nova := fixtureByName(t, memberNova)
	env.publishFixture(nova)
	fresh := editFixture(t, memberNova, func(m map[string]any) {
		m["timestamp"] = time.Now().UTC().Format(TimestampLayout)
		m["message_id"] = "fresh-" + randomHex(t)
	})
	env.publishBody(nova, fresh)
	require.Eventually(t, func() bool {
		return b.count(metrics.BridgeTooOld) == 1 && b.count(metrics.BridgeSignalled) == 1
	}, waitTimeout, waitTick, "waiting for one dropped as too old and one signalled: %s", b.counts())
	if _, got := sig.snapshot(); len(got) != 1 || got[0].sig.MessageID == fixtureWants[memberNova].messageID {
		t.Errorf("signals: got %+v, want only the fresh one", got)
	}
	if n := env.ready(env.cfg.NovaQueue); n != 0 {
		t.Errorf("queue: %d left, want the old one acknowledged", n)
	}
}

// Temporal refusing a signal for good (permission denied, invalid argument)
// is not retried forever: the notification is dead-lettered at once.
func TestBridgeDeadLettersWhatTemporalRefuses(t *testing.T) {
	for _, refusal := range []error{
		serviceerror.NewPermissionDenied("the bridge may not signal in this namespace", ""),
		serviceerror.NewInvalidArgument("bad signal"),
	} {
		env := newTestEnv(t)
		sig := &fakeSignaller{fail: func(int) error { return errors.Join(errors.New("signal"), refusal) }}
		b := startBridge(t, env.cfg, sig)
		env.publishFixture(fixtureByName(t, memberNova))
		require.Eventually(t, func() bool {
			return b.count(metrics.BridgeRefused) == 1 && env.ready(env.cfg.DeadLetterQueue) == 1
		}, waitTimeout, waitTick, "waiting for the refused notification dead-lettered: %s", b.counts())
		if calls, _ := sig.snapshot(); calls != 1 || b.count(metrics.BridgeRetried) != 0 {
			t.Errorf("%T: got %d calls and %d retries, want 1 and none", refusal, calls, b.count(metrics.BridgeRetried))
		}
	}
}
