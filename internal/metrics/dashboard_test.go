package metrics_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Grafana dashboard (deploy/grafana/healthd.json) cannot drift from the
// code: every panel's PromQL parses with Prometheus's own parser (promtool
// checks it as a recording rule), and every healthd series and label value
// it names is one healthd exports.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "healthd.json"))
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		UID        string            `json:"uid"`
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("healthd.json: %v", err)
	}
	// Grafana's variables, as Grafana would put them in.
	vars := strings.NewReplacer("$__rate_interval", "1m", "$job", ".*")
	var rules, all strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	var walk func([]json.RawMessage)
	walk = func(raws []json.RawMessage) {
		for _, r := range raws {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				expr := vars.Replace(tg.Expr)
				n++
				q, _ := json.Marshal(expr) // a JSON string is a YAML string
				fmt.Fprintf(&rules, "      - record: panel_%d_%s\n        expr: %s\n", p.ID, tg.RefID, q)
				all.WriteString(expr + "\n")
			}
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		all.WriteString(v.Definition + "\n")
	}
	if n < 10 {
		t.Fatalf("queries: got %d, want the dashboard's", n)
	}
	checkSeries(t, "healthd.json", all.String())

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed (Debian's prometheus package; scripts/ensure-services.sh installs it)")
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("the dashboard's PromQL does not parse: %v\n%s", err, out)
	}
}
