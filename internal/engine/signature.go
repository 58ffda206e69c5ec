package engine

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of every recover webhook call.
const (
	// SignatureHeader carries the call's signature when the executor has a
	// WebhookSecret: "t=<unix seconds>,v1=<hex HMAC-SHA256>", see
	// WebhookSignature.
	SignatureHeader = "X-Healthd-Signature"
	// ActionIDHeader carries the action's id, the same as the body's
	// action_id, so that a receiver can deduplicate before it reads the body.
	ActionIDHeader = "X-Healthd-Action-Id"
)

// DefaultSignatureMaxAge is the age of a signature beyond which
// VerifyWebhookSignature rejects a call when its maxAge is zero: long enough
// for clocks a little apart and a slow network, short enough that a recorded
// call cannot be replayed later.
const DefaultSignatureMaxAge = 5 * time.Minute

// Errors of VerifyWebhookSignature; test for them with errors.Is.
var (
	// ErrNoWebhookSecret: the receiver has no secret to verify with.
	ErrNoWebhookSecret = errors.New("webhook signature: no secret to verify with")
	// ErrMalformedSignature: the header is missing or not "t=<unix seconds>,v1=<hex>".
	ErrMalformedSignature = errors.New("webhook signature: malformed " + SignatureHeader + " header")
	// ErrStaleSignature: the signature's time is further from now than maxAge.
	ErrStaleSignature = errors.New("webhook signature: too old or in the future")
	// ErrBadSignature: no v1 value is the HMAC of the body under the secret.
	ErrBadSignature = errors.New("webhook signature: does not match the body")
)

// ClusterWebhookKey is the key that signs the recover webhook calls of one
// cluster: HMAC-SHA256(secret, "healthd webhook key of cluster " + id), in
// hex. Each receiver gets its own cluster's key (`worker webhook-key
// --cluster ID`), never ENGINE_WEBHOOK_SECRET: with one key for all, the
// receiver of one cluster could sign calls that another cluster's receiver
// accepts.
func ClusterWebhookKey(secret, clusterID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("healthd webhook key of cluster " + clusterID))
	return hex.EncodeToString(m.Sum(nil))
}

// WebhookSignature returns the SignatureHeader value of a call with body
// made at t, signed with secret: "t=<unix seconds>,v1=<hex of
// HMAC-SHA256(secret, "<unix seconds>.<body>")>". The time is part of what is
// signed, so a receiver that checks it rejects a recorded call replayed
// later.
func WebhookSignature(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(signatureMAC(secret, ts, body))
}

// signatureMAC is HMAC-SHA256(secret, "<ts>.<body>").
func signatureMAC(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhookSignature checks the SignatureHeader value header of a recover
// webhook call whose raw body is body, received at now, for an engine written
// in Go: it returns nil when one of the header's v1 values is the HMAC of
// "<t>.<body>" under secret and t is within maxAge of now (zero maxAge means
// DefaultSignatureMaxAge). Pass the body exactly as read, before decoding it.
// The error wraps ErrNoWebhookSecret, ErrMalformedSignature,
// ErrStaleSignature or ErrBadSignature; answer any of them with 401 and do
// not act on the call.
//
//	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
//	err := engine.VerifyWebhookSignature(secret, r.Header.Get(engine.SignatureHeader), body, time.Now(), 0)
//
// Several v1 values are accepted so that a sender may sign with an old and a
// new secret while the secret is rotated.
func VerifyWebhookSignature(secret, header string, body []byte, now time.Time, maxAge time.Duration) error {
	if secret == "" {
		return ErrNoWebhookSecret
	}
	if maxAge <= 0 {
		maxAge = DefaultSignatureMaxAge
	}
	var ts string
	var macs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", ErrMalformedSignature, part)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: more than one t", ErrMalformedSignature)
			}
			ts = v
		case "v1":
			mac, err := hex.DecodeString(v)
			if err != nil || len(mac) != sha256.Size {
				return fmt.Errorf("%w: v1 must be %d hex digits", ErrMalformedSignature, 2*sha256.Size)
			}
			macs = append(macs, mac)
		}
		// Other keys (later schemes) are ignored, as Stripe's receivers do.
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: t must be unix seconds", ErrMalformedSignature)
	}
	if len(macs) == 0 {
		return fmt.Errorf("%w: no v1 value", ErrMalformedSignature)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > maxAge || age < -maxAge {
		return fmt.Errorf("%w: signed at %s, %s from now, beyond %s", ErrStaleSignature,
			time.Unix(sec, 0).UTC().Format(time.RFC3339), age.Round(time.Second), maxAge)
	}
	want := signatureMAC(secret, ts, body)
	for _, mac := range macs {
		if hmac.Equal(mac, want) {
			return nil
		}
	}
	return ErrBadSignature
}
