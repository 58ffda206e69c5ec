package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/demo"
	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/health"
)

// discard is a Store that keeps nothing.
type discard struct{}

func (discard) UpsertCluster(context.Context, health.Cluster) error { return nil }
func (discard) UpsertNode(context.Context, health.Node) error       { return nil }

// TestRecoverWebhookVerifiesSignature: with a webhook secret the demo's
// webhook refuses unsigned, wrongly signed and stale calls, and recovers the
// node of a call signed as the engine signs it; without one it takes any call.
func TestRecoverWebhookVerifiesSignature(t *testing.T) {
	const secret = "whsec-demo"
	key := engine.ClusterWebhookKey(secret, demo.ClusterID)
	body, err := json.Marshal(engine.WebhookRequest{ActionID: "a1", ClusterID: demo.ClusterID, NodeName: "web-1", Operation: "RECREATE"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		secret    string
		signature string
		want      int
	}{
		{"unsigned", secret, "", http.StatusUnauthorized},
		{"other secret", secret, engine.WebhookSignature("other", time.Now(), body), http.StatusUnauthorized},
		{"stale", secret, engine.WebhookSignature(key, time.Now().Add(-time.Hour), body), http.StatusUnauthorized},
		{"signed with the secret itself", secret, engine.WebhookSignature(secret, time.Now(), body), http.StatusUnauthorized},
		{"signed with another cluster's key", secret, engine.WebhookSignature(engine.ClusterWebhookKey(secret, "other"), time.Now(), body), http.StatusUnauthorized},
		{"signed", secret, engine.WebhookSignature(key, time.Now(), body), http.StatusOK},
		{"no secret, unsigned", "", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			d, err := demo.Start(ctx, "127.0.0.1:0", 1, tt.secret, discard{}, zaptest.NewLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL+"/recover", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.signature != "" {
				req.Header.Set(engine.SignatureHeader, tt.signature)
			}
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("POST /recover: got %s, want %d", resp.Status, tt.want)
			}
		})
	}
}
