package health_test

import (
	"testing"

	"github.com/clusterhealth/healthd/internal/health"
)

// BenchmarkURLFor measures the expansion of a poll URL template for one node:
// a plain name in the path, a name that needs percent-encoding, and a
// template without {nodename}, which is returned as it is. "url-for" reads
// the template again for the node (URLFor); "template" reads it once and
// expands it for each node, as the sweep does.
func BenchmarkURLFor(b *testing.B) {
	cases := []struct {
		name, template, node string
	}{
		{"path", "http://10.0.0.1:8080/health/{nodename}?check=full", "node-0042"},
		{"escaped", "http://10.0.0.1:8080/health/{nodename}", "node 42/ü"},
		{"host", "http://{nodename}.nodes.example:8080/healthz", "node-0042"},
		{"literal", "http://10.0.0.1:8080/healthz", "node-0042"},
	}
	for _, c := range cases {
		m := health.DetectionMode{Type: health.NodeStatusPollURL, PollURL: c.template}
		if _, err := m.URLFor(c.node); err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		b.Run(c.name+"/url-for", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.URLFor(c.node); err != nil {
					b.Fatal(err)
				}
			}
		})
		t := m.Template()
		b.Run(c.name+"/template", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := t.For(c.node); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
