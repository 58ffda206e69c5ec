package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A shipped scenario runs offline and meets its expectations.
func TestSimulateShippedScenario(t *testing.T) {
	var out, errOut bytes.Buffer
	begin := time.Now()
	if code := run(context.Background(), []string{"--scenario", "zone-outage", "--check"}, &out, &errOut); code != 0 {
		t.Fatalf("simulate: exit %d, stderr %s", code, errOut.String())
	}
	for _, want := range []string{"scenario zone-outage: 10 nodes, 40m0s", "cluster hold max_unhealthy: held: 5 of 10 unhealthy", "2 recovery actions asked of the engine"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("simulate output lacks %q; got:\n%s", want, out.String())
		}
	}
	t.Logf("40 simulated minutes in %s", time.Since(begin).Round(time.Millisecond))
}

// Bad input is refused with what is wrong: an unknown scenario lists the
// shipped ones, a policy file names its broken fields.
func TestSimulateRefusesBadInput(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--scenario", "no-such"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "shipped: approval-timeout") {
		t.Errorf("unknown scenario: exit %d, stderr %q, want the shipped names", code, errOut.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("type: senlin.policy.health\nversion: 1.1\nproperties:\n  detection:\n    interval: -5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"--scenario", "zone-outage", "--policy", bad}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "policy "+bad+" is not valid") {
		t.Errorf("bad policy: exit %d, stderr %q, want the policy's problems", code, errOut.String())
	}
}
