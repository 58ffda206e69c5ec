package metrics_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/clusterhealth/healthd/internal/metrics"
	"github.com/clusterhealth/healthd/internal/triage"
)

// rulesDir holds the alert rules and their promtool tests.
var rulesDir = filepath.Join("..", "..", "deploy", "prometheus")

// The alert rules pass promtool's check and their unit tests (each alert
// fires on the series it is for, and not on a healthy fleet).
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed (Debian's prometheus package; scripts/ensure-services.sh installs it)")
	}
	for _, args := range [][]string{{"check", "rules", "healthd-rules.yml"}, {"test", "rules", "healthd-rules.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = rulesDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// Every series and label value the alert rules read is one healthd
// exports: a renamed metric or outcome breaks this test, not the alert.
func TestAlertRulesReadExportedSeries(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(rulesDir, "healthd-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, "healthd-rules.yml", string(raw))
}

// exportedSeries is what healthd exports: each family's labels and their
// values (those initialised at start, and the decision core's actions and
// reasons for healthd_decisions_total, which has no series until a
// decision is made).
func exportedSeries(t *testing.T) map[string]map[string][]string {
	t.Helper()
	reg := metrics.NewRegistry()
	metrics.New(reg)
	metrics.Handler(reg, nil, nil) // healthd_ready
	fixed := func(v map[string]float64) func(context.Context) (map[string]float64, error) {
		return func(context.Context) (map[string]float64, error) { return v, nil }
	}
	metrics.RegisterClusters(reg, fixed(map[string]float64{}))
	metrics.RegisterRecoveriesInFlight(reg, fixed(map[string]float64{}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]map[string][]string{} // name → label → values
	for _, f := range families {
		labels := map[string][]string{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = append(labels[l.GetName()], l.GetValue())
			}
		}
		exported[f.GetName()] = labels
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				exported[f.GetName()+suffix] = labels
			}
			exported[f.GetName()+"_bucket"] = map[string][]string{"le": nil}
		}
	}
	actions := []string{"cluster_hold"}
	for _, a := range []triage.Action{triage.Recover, triage.Hold, triage.Ignore, triage.AwaitApproval, triage.Change} {
		actions = append(actions, string(a))
	}
	exported["healthd_decisions_total"] = map[string][]string{"action": actions,
		"reason": {triage.ReasonNeedsHuman, triage.ReasonQuarantined}}
	return exported
}

// checkSeries checks every healthd_ series of text (PromQL, or a file of
// it), and the label values its matchers name, against exportedSeries.
// Labels every scrape adds (job, instance) are not healthd's to check.
func checkSeries(t *testing.T, what, text string) {
	t.Helper()
	exported := exportedSeries(t)
	names := regexp.MustCompile(`healthd_[a-z_]+`).FindAllString(text, -1)
	if len(names) == 0 {
		t.Fatalf("%s: no healthd series", what)
	}
	for _, name := range names {
		if _, ok := exported[name]; !ok {
			t.Errorf("%s reads %s, which healthd does not export", what, name)
		}
	}
	// Each matcher of a healthd series, label="v" or label=~"a|b".
	matcher := regexp.MustCompile(`(healthd_[a-z_]+)\{([^}]*)\}`)
	pair := regexp.MustCompile(`(\w+)=~?"([^"]*)"`)
	for _, m := range matcher.FindAllStringSubmatch(text, -1) {
		for _, p := range pair.FindAllStringSubmatch(m[2], -1) {
			if p[1] == "job" || p[1] == "instance" {
				continue
			}
			values, ok := exported[m[1]][p[1]]
			if !ok {
				t.Errorf("%s: %s has no label %s", what, m[1], p[1])
				continue
			}
			for v := range strings.SplitSeq(p[2], "|") {
				if !slices.Contains(values, v) {
					t.Errorf("%s: %s{%s=%q}: healthd never exports that value (it has %v)", what, m[1], p[1], v, values)
				}
			}
		}
	}
}
