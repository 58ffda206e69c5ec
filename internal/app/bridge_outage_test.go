package app_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/devserver"
	"github.com/clusterhealth/healthd/internal/metrics"
	"github.com/clusterhealth/healthd/internal/testkit/rabbittest"
)

// TestBridgeHoldsNotificationsWhileTemporalIsDown stops the real Temporal
// server, publishes a failure notification, and checks that the bridge keeps
// it unacknowledged in RabbitMQ while it retries; once the server is back on
// the same address and database, the notification reaches the workflow and
// its recovery action appears. Nothing is lost and nothing is acted on twice.
func TestBridgeHoldsNotificationsWhileTemporalIsDown(t *testing.T) {
	ctx := context.Background()
	port, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	opts := devserver.Options{
		Address: "127.0.0.1:" + strconv.Itoa(port),
		DBFile:  filepath.Join(t.TempDir(), "temporal.db"),
	}
	// The server in use, stopped last: after the app, whatever the outcome.
	var srv *devserver.Server
	t.Cleanup(func() {
		if srv != nil {
			_ = srv.Stop()
		}
	})
	start := func() {
		t.Helper()
		var err error
		if srv, err = devserver.Start(ctx, opts); err != nil {
			t.Fatalf("start Temporal dev server (run scripts/install-temporal.sh): %v", err)
		}
	}
	start()
	s := startEventsStackOn(t, opts.Address, func(c *app.Config) {
		// Keep the retries frequent, so that the test does not wait out a
		// long backoff once the server is back.
		c.Bridge.RetryBackoffMax = time.Second
		c.Bridge.SignalTimeout = 2 * time.Second
	})
	f := loadFixture(t, "member.nova.compute.instance.shutdown.end.messagingv2")
	cid, node := f.event.ClusterID, f.event.Signal.NodeID
	s.registerEvents(t, ctx, cid, f.event.Signal.Project, node)
	require.Eventually(t, func() bool { return s.status(ctx, cid).ClusterID != "" }, 30*time.Second, waitTick, "waiting for the workflow to learn its cluster")

	if err := srv.Stop(); err != nil {
		t.Fatalf("stop Temporal: %v", err)
	}
	srv = nil
	retried := func() float64 { return bridgeCount(t, s, metrics.BridgeRetried) }
	before := retried()
	s.publish(t, f, f.body)
	require.Eventually(t, func() bool { return retried() >= before+2 }, 30*time.Second, waitTick, "waiting for the bridge to retry the signal at least twice")

	// Held, not lost: unacknowledged by the bridge's consumer, not ready,
	// not dead-lettered, and nothing acted on.
	queue := s.cfg.Bridge.NovaQueue
	if ready, unacked := queueDepth(t, queue); ready != 0 || unacked != 1 {
		t.Fatalf("with Temporal down, queue %s: got %d ready and %d unacknowledged, want 0 and 1", queue, ready, unacked)
	}
	if ready, unacked := queueDepth(t, s.cfg.Bridge.DeadLetterQueue); ready+unacked != 0 {
		t.Fatalf("with Temporal down: %d messages dead-lettered, want none", ready+unacked)
	}
	if n := bridgeCount(t, s, metrics.BridgeSignalled); n != 0 {
		t.Fatalf("with Temporal down: %v notifications counted as signalled, want 0", n)
	}
	if acts, err := s.app.Store.ListActions(ctx, cid); err != nil || len(acts) != 0 {
		t.Fatalf("with Temporal down: got %d actions (err %v), want none", len(acts), err)
	}

	start()
	require.Eventually(t, func() bool {
		return s.status(ctx, cid).Counters.RecoveriesSucceeded == 1
	}, 60*time.Second, waitTick, "waiting for the held notification to become a recovery")
	acts, err := s.app.Store.ListActions(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 || acts[0].NodeID != node {
		t.Fatalf("after Temporal came back: got actions %+v, want one for node %s", acts, node)
	}
	require.Eventually(t, func() bool {
		ready, unacked := queueDepth(t, queue)
		return ready == 0 && unacked == 0
	}, 30*time.Second, waitTick, "waiting for the queue to be empty")
	if n := bridgeCount(t, s, metrics.BridgeSignalled); n != 1 {
		t.Errorf("after Temporal came back: %v notifications counted as signalled, want 1", n)
	}
	t.Logf("signal retried %v times while Temporal was down", retried()-before)
}

// bridgeCount reads the bridge's outcome counter of the stack's app.
func bridgeCount(t testing.TB, s *eventsStack, outcome metrics.BridgeOutcome) float64 {
	t.Helper()
	var m dto.Metric
	if err := s.app.Metrics.BridgeMessages.WithLabelValues(string(outcome)).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// queueDepth asks the local RabbitMQ broker, through rabbitmqctl, how many
// messages of a queue are ready and how many are delivered but not yet
// acknowledged. AMQP itself only tells the ready ones.
func queueDepth(t testing.TB, queue string) (ready, unacked int) {
	t.Helper()
	out, err := rabbittest.LocalCtl(amqpURL(), "list_queues", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == queue {
			r, err1 := strconv.Atoi(f[1])
			u, err2 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil {
				t.Fatalf("rabbitmqctl list_queues: cannot read %q", line)
			}
			return r, u
		}
	}
	t.Fatalf("rabbitmqctl list_queues: no queue %s in:\n%s", queue, out)
	return 0, 0
}
