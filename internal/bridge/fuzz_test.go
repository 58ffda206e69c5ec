package bridge

import (
	"errors"
	"strings"
	"testing"

	"github.com/clusterhealth/healthd/internal/health"
)

// FuzzParseDelivery checks that no body makes the parser or the classifier
// panic, that every parse error is ErrMalformed, that a recover outcome
// always names a valid cluster ID and carries a signal the client accepts,
// and that reasons stay short.
func FuzzParseDelivery(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.amqp.Exchange, fx.amqp.RoutingKey, fx.body)
	}
	f.Add("nova", "notifications.info", []byte(`{"oslo.version": "2.0", "oslo.message": {"x": 1}}`))
	f.Add("heat", "notifications.error", []byte(`{"oslo.version": "2.0", "oslo.message": "{\"publisher_id\": \"orchestration.h\", \"event_type\": \"orchestration.stack.delete.end\", \"payload\": {\"tags\": [\"cluster_id=c\", \"cluster_node_id=n\"]}}"}`))
	f.Add("nova", "", []byte(`null`))
	f.Add("nova", "notifications.info", []byte(strings.Repeat("[", MaxDepth+1)))
	f.Add("nova", "notifications.info", []byte("{\"publisher_id\": \"compute.\xff\"}"))
	f.Fuzz(func(t *testing.T, exchange, routingKey string, body []byte) {
		n, err := ParseDelivery(exchange, routingKey, body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got error %v, want one wrapping ErrMalformed", err)
			}
			return
		}
		ev, out := Classify(n)
		switch out.Kind {
		case KindRecover:
			if ev.ClusterID == "" || ev.Signal.NodeID == "" || ev.Signal.Event == "" {
				t.Fatalf("got event %+v for a recover outcome, want cluster, node and event", ev)
			}
			if err := health.CheckClusterID(ev.ClusterID); err != nil {
				t.Fatalf("got event %+v for a recover outcome: %v", ev, err)
			}
			if err := ev.Signal.Validate(); err != nil {
				t.Fatalf("got event %+v for a recover outcome: %v", ev, err)
			}
		case KindIgnored, KindMalformed:
			if ev != (Event{}) {
				t.Fatalf("got event %+v for outcome %+v, want none", ev, out)
			}
		default:
			t.Fatalf("got outcome kind %q, want recover, ignored or malformed", out.Kind)
		}
		if out.Reason == "" || len(out.Reason) > maxReasonBytes+len("...") {
			t.Fatalf("got outcome %+v, want a reason of 1 to %d bytes", out, maxReasonBytes)
		}
	})
}

// BenchmarkParseDelivery parses and classifies each capture.
func BenchmarkParseDelivery(b *testing.B) {
	for _, fx := range loadFixtures(b) {
		b.Run(fx.name, func(b *testing.B) {
			b.SetBytes(int64(len(fx.body)))
			b.ReportAllocs()
			for b.Loop() {
				n, err := ParseDelivery(fx.amqp.Exchange, fx.amqp.RoutingKey, fx.body)
				if err != nil {
					b.Fatal(err)
				}
				Classify(n)
			}
		})
	}
}
