package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/clusterhealth/healthd/internal/testkit"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/store/storetest"
)

// A real Prometheus (Debian's prometheus binary) scrapes the dev system's
// /metrics (worker/dev --demo) with healthd's alert rules loaded; a demo
// node is broken, and Prometheus's HTTP API must show the recovery:
// healthd_recoveries_total{outcome="succeeded"} rose and the
// detection-to-recovery histogram has a sample; the SDK's own metrics are
// there; the rules are loaded and healthy, and the process is ready
// (healthd_ready).
func TestPrometheusScrapesTheDevSystem(t *testing.T) {
	testkit.Integration(t, "Prometheus and a Temporal server")
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed (Debian's prometheus package; scripts/ensure-services.sh installs it)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dev")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/clusterhealth/healthd/worker/dev").CombinedOutput(); err != nil {
		t.Fatalf("go build worker/dev: %v\n%s", err, out)
	}
	metricsAddr, demoAddr := loopbackAddr(t), loopbackAddr(t)
	dev := exec.Command(bin, "--demo", "--bridge=false", "--demo-addr", demoAddr)
	dev.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+loopbackAddr(t), "DEV_UI_PORT="+strings.TrimPrefix(loopbackAddr(t), "127.0.0.1:"),
		"DEV_DATA_DIR="+filepath.Join(dir, "data"), "DATABASE_URL="+storetest.DSN(t), "METRICS_ADDR="+metricsAddr, "LOG_FORMAT=json")
	devOut := &syncBuffer{}
	dev.Stdout, dev.Stderr = devOut, devOut
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dev.Process.Signal(os.Interrupt)
		_ = dev.Wait()
		if t.Failed() {
			t.Logf("dev system's output:\n%s", devOut.String())
		}
	})

	rules, err := filepath.Abs(filepath.Join("..", "..", "deploy", "prometheus", "healthd-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: healthd-health
    static_configs:
      - targets: [%q]
`, rules, metricsAddr), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := loopbackAddr(t)
	prom := exec.Command(promBin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)
	promOut := &syncBuffer{}
	prom.Stdout, prom.Stderr = promOut, promOut
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = prom.Process.Kill()
		_ = prom.Wait()
		if t.Failed() {
			t.Logf("prometheus's output:\n%s", promOut.String())
		}
	})
	api := "http://" + promAddr

	// query returns the value of an instant query's single sample; -1 when
	// it has none.
	query := func(q string) float64 {
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := getJSON(api+"/api/v1/query?"+url.Values{"query": {q}}.Encode(), &r); err != nil || r.Status != "success" || len(r.Data.Result) != 1 {
			return -1
		}
		s, _ := r.Data.Result[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return -1
		}
		return v
	}
	waitFor := func(what string, within time.Duration, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(within); !ok(); time.Sleep(500 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting %s for %s", within, what)
			}
		}
	}
	waitFor("the dev system to be scraped and ready", 2*time.Minute, func() bool { return query(`healthd_ready{job="healthd-health"}`) == 1 })
	waitFor("a round of the demo cluster", time.Minute, func() bool { return query(`healthd_rounds_total`) >= 1 })
	// The fleet gauges: the demo cluster counted by its state (read every
	// 30 s at most), no recovery in flight.
	waitFor("the demo cluster in healthd_clusters", 2*time.Minute, func() bool { return query(`sum(healthd_clusters)`) == 1 })
	if got := query(`sum(healthd_recoveries_in_flight)`); got != 0 {
		t.Errorf("recoveries in flight before a node broke: got %v, want 0", got)
	}
	if got := query(`healthd_recoveries_total{outcome="succeeded"}`); got != 0 {
		t.Fatalf("succeeded recoveries before a node broke: got %v, want 0", got)
	}

	resp, err := http.Post("http://"+demoAddr+"/nodes/web-2/break", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	broke := time.Now()
	waitFor("Prometheus to see the recovery succeed", 2*time.Minute, func() bool {
		return query(`healthd_recoveries_total{outcome="succeeded"}`) >= 1
	})
	if got := query(`healthd_detection_to_recovery_seconds_count`); got < 1 {
		t.Errorf("detection-to-recovery samples: got %v, want at least 1", got)
	}
	// The latency Prometheus computes from the histogram is that of the
	// recovery: at most the time since the node broke.
	if got := query(`healthd_detection_to_recovery_seconds_sum / healthd_detection_to_recovery_seconds_count`); got <= 0 || got > time.Since(broke).Seconds() {
		t.Errorf("mean detection-to-recovery: got %v s, want within the %s since the node broke", got, time.Since(broke).Round(time.Second))
	}
	t.Logf("Prometheus saw the recovery %s after the node broke", time.Since(broke).Round(time.Second))
	// The SDK's own metrics, with Temporal's names.
	if got := query(`sum(temporal_request_total{job="healthd-health"})`); got < 1 {
		t.Errorf("temporal_request_total: got %v, want the SDK's requests counted", got)
	}
	if got := query(`sum(temporal_workflow_task_schedule_to_start_latency_seconds_count{job="healthd-health"})`); got < 1 {
		t.Errorf("workflow task schedule-to-start samples: got %v, want some", got)
	}

	var rulesResp struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name   string `json:"name"`
					Health string `json:"health"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := getJSON(api+"/api/v1/rules", &rulesResp); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rulesResp.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				t.Errorf("rule %s: health %q, want ok", r.Name, r.Health)
			}
		}
	}
	if n < 10 {
		t.Errorf("rules loaded: got %d, want healthd-rules.yml's", n)
	}
}

// getJSON GETs a URL and decodes its JSON answer.
func getJSON(u string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
