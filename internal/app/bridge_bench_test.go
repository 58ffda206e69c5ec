package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clusterhealth/healthd/internal/devserver"
	"github.com/clusterhealth/healthd/internal/health"
)

// withNode rewrites a captured oslo 2.0 delivery so that it is about another
// node, under a fresh message id.
func withNode(t testing.TB, body []byte, nodeID, messageID string) []byte {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if err := json.Unmarshal([]byte(env["oslo.message"].(string)), &msg); err != nil {
		t.Fatal(err)
	}
	msg["message_id"] = messageID
	msg["payload"].(map[string]any)["metadata"].(map[string]any)["cluster_node_id"] = nodeID
	inner, _ := json.Marshal(msg)
	env["oslo.message"] = string(inner)
	out, _ := json.Marshal(env)
	return out
}

// BenchmarkDetectionLatency measures the time from publishing a Nova failure
// notification to RabbitMQ until its recovery action row exists in Postgres,
// through the bridge, Temporal and the ClusterHealth workflow. It reports the
// median and the 99th percentile.
//
// The path holds two Temporal task dispatches (the workflow task the signal
// causes, then the activity that writes the action), each through the
// server's transfer queue. The dev server reads that queue at most 20 times a
// second (history.transferProcessorMaxPollRPS), which alone puts about 100 ms
// on every notification once its burst is spent: "dev-server-defaults" is what
// dev mode gives, "transfer-poll-1000rps" lifts that limit to measure the rest.
func BenchmarkDetectionLatency(b *testing.B) {
	for _, bc := range []struct {
		name    string
		dynamic map[string]string
	}{
		{"dev-server-defaults", nil},
		{"transfer-poll-1000rps", map[string]string{"history.transferProcessorMaxPollRPS": "1000"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv, err := devserver.Start(context.Background(), devserver.Options{DynamicConfig: bc.dynamic})
			if err != nil {
				b.Fatalf("start Temporal dev server (run scripts/install-temporal.sh): %v", err)
			}
			b.Cleanup(func() { _ = srv.Stop() })
			detectionLatency(b, startEventsStackOn(b, srv.Address, nil))
		})
	}
}

func detectionLatency(b *testing.B, s *eventsStack) {
	ctx := context.Background()
	f := loadFixture(b, "member.nova.compute.instance.shutdown.end.messagingv2")
	cid := f.event.ClusterID
	// The pipeline, not the policy: each request judged at once (no settle
	// window), and the hundred failures of the run not held as an outage.
	zero := 0
	s.registerEventsWith(b, ctx, cid, f.event.Signal.Project, health.Safety{EventSettle: &zero, MaxUnhealthy: "100%"})
	require.Eventually(b, func() bool { return s.status(ctx, cid).ClusterID != "" }, 30*time.Second, waitTick, "waiting for the workflow to learn its cluster")

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		node := fmt.Sprintf("bench-node-%06d", i)
		if err := s.app.Store.UpsertNode(ctx, health.Node{ID: node, ClusterID: cid, Name: node, Status: health.NodeActive}); err != nil {
			b.Fatal(err)
		}
		body := withNode(b, f.body, node, fmt.Sprintf("bench-msg-%06d", i))
		b.StartTimer()
		t0 := time.Now()
		s.publish(b, f, body)
		require.EventuallyWithT(b, func(c *assert.CollectT) {
			acts, err := s.app.Store.ListActions(ctx, cid)
			require.NoError(c, err)
			assert.Greater(c, len(acts), i, "actions")
		}, 30*time.Second, 2*time.Millisecond, "no action for %s after 30s", node)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	b.ReportMetric(float64(p(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p(0.99).Microseconds())/1000, "p99-ms")
	b.Logf("publish to action row over %d notifications: p50 %s, p99 %s", len(lat), p(0.50), p(0.99))
}
