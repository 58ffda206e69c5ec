package engine_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/engine"
)

func TestWebhookSignature(t *testing.T) {
	// A receiver in any language computes the same value: HMAC-SHA256 of
	// "<t>.<body>" in lower-case hex (python3 -c 'import hmac,hashlib;
	// print(hmac.new(b"whsec",b"1700000000.{}",hashlib.sha256).hexdigest())').
	got := engine.WebhookSignature("whsec", time.Unix(1700000000, 0), []byte("{}"))
	want := "t=1700000000,v1=7d44587dddbaf4c7f70fef20f48cd594834ffea1641e3ac227b84408298738af"
	if got != want {
		t.Errorf("WebhookSignature: got %q, want %q", got, want)
	}
}

func TestVerifyWebhookSignature(t *testing.T) {
	const secret = "whsec-test"
	body := []byte(`{"action_id":"a1","cluster_id":"c1"}`)
	signedAt := time.Unix(1700000000, 0)
	good := engine.WebhookSignature(secret, signedAt, body)
	mac := strings.TrimPrefix(good, "t=1700000000,v1=")
	other := engine.WebhookSignature("old-secret", signedAt, body)
	otherMAC := strings.TrimPrefix(other, "t=1700000000,v1=")
	tests := []struct {
		name    string
		secret  string
		header  string
		body    []byte
		now     time.Time
		maxAge  time.Duration
		wantErr error // nil: valid
	}{
		{"good", secret, good, body, signedAt.Add(time.Minute), 0, nil},
		{"good, spaces and an unknown scheme", secret, " t=1700000000 , v0=abc, v1=" + mac, body, signedAt, 0, nil},
		{"good among rotated secrets", secret, "t=1700000000,v1=" + otherMAC + ",v1=" + mac, body, signedAt, 0, nil},
		{"clock of the sender a little ahead", secret, good, body, signedAt.Add(-time.Minute), 0, nil},
		{"bad MAC: other secret", secret, other, body, signedAt, 0, engine.ErrBadSignature},
		{"bad MAC: body changed", secret, good, []byte(`{"action_id":"a2","cluster_id":"c1"}`), signedAt, 0, engine.ErrBadSignature},
		{"bad MAC: time changed", secret, "t=1700000001,v1=" + mac, body, signedAt, 0, engine.ErrBadSignature},
		{"stale beyond the default", secret, good, body, signedAt.Add(engine.DefaultSignatureMaxAge + time.Second), 0, engine.ErrStaleSignature},
		{"stale beyond maxAge", secret, good, body, signedAt.Add(31 * time.Second), 30 * time.Second, engine.ErrStaleSignature},
		{"from the future", secret, good, body, signedAt.Add(-time.Hour), 0, engine.ErrStaleSignature},
		{"no header", secret, "", body, signedAt, 0, engine.ErrMalformedSignature},
		{"no t", secret, "v1=" + mac, body, signedAt, 0, engine.ErrMalformedSignature},
		{"t not a number", secret, "t=yesterday,v1=" + mac, body, signedAt, 0, engine.ErrMalformedSignature},
		{"two t", secret, "t=1700000000,t=1700000000,v1=" + mac, body, signedAt, 0, engine.ErrMalformedSignature},
		{"no v1", secret, "t=1700000000", body, signedAt, 0, engine.ErrMalformedSignature},
		{"v1 not hex", secret, "t=1700000000,v1=zz" + mac[2:], body, signedAt, 0, engine.ErrMalformedSignature},
		{"v1 too short", secret, "t=1700000000,v1=" + mac[:10], body, signedAt, 0, engine.ErrMalformedSignature},
		{"not key=value", secret, "1700000000," + mac, body, signedAt, 0, engine.ErrMalformedSignature},
		{"no secret", "", good, body, signedAt, 0, engine.ErrNoWebhookSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := engine.VerifyWebhookSignature(tt.secret, tt.header, tt.body, tt.now, tt.maxAge)
			if tt.wantErr == nil {
				if err != nil {
					t.Errorf("got error %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want one wrapping %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), tt.secret) && tt.secret != "" {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

// ExampleVerifyWebhookSignature is what an engine written in Go does with a
// recover webhook call before acting on it.
func ExampleVerifyWebhookSignature() {
	secret := "the value of ENGINE_WEBHOOK_SECRET"
	body := []byte(`{"action_id":"a1"}`)
	header := engine.WebhookSignature(secret, time.Now(), body) // what the executor sent
	if err := engine.VerifyWebhookSignature(secret, header, body, time.Now(), 0); err != nil {
		fmt.Println("reject with 401:", err)
		return
	}
	fmt.Println("verified")
	// Output: verified
}
