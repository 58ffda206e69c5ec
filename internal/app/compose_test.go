package app_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/config"
)

// composeFile is docker-compose.yml as the test reads it.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

// promConfig is deploy/prometheus/prometheus.yml as the test reads it.
type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// docker-compose.yml runs the whole system as documented: each healthd
// process from the image with only settings healthd has, after migrate and
// the Temporal namespace job ended well, without migrating itself, and
// scraped by Prometheus under the job names the alert rules use, with the
// rules loaded. (Where docker-compose is installed, it validates the file
// too; this machine cannot pull the images to run it.)
func TestComposeFile(t *testing.T) {
	root := filepath.Join("..", "..")
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	known := map[string]bool{}
	all := app.Defaults()
	for _, sec := range all.AllSections() {
		for _, s := range sec.Settings() {
			known[s.Env()] = true
			known[s.Env()+config.FileSuffix] = true
		}
	}
	roles := map[string]string{"migrate": "migrate", "health": "health", "engine": "engine", "bridge": "bridge"}
	for name, cmd := range roles {
		svc, ok := cf.Services[name]
		if !ok {
			t.Errorf("service %s: missing", name)
			continue
		}
		if svc.Image != "healthd:dev" || !slices.Equal(svc.Command, []string{cmd}) {
			t.Errorf("service %s: image %q command %v, want healthd:dev %s", name, svc.Image, svc.Command, cmd)
		}
		for v := range svc.Environment {
			if !known[v] {
				t.Errorf("service %s: %s is no setting of healthd", name, v)
			}
		}
		if name == "migrate" {
			if svc.DependsOn["postgres"].Condition != "service_healthy" {
				t.Errorf("migrate: want it to wait for a healthy postgres, got %+v", svc.DependsOn)
			}
			continue
		}
		if svc.Environment["SKIP_MIGRATIONS"] != "true" {
			t.Errorf("service %s: SKIP_MIGRATIONS=%q, want true (the schema is migrate's)", name, svc.Environment["SKIP_MIGRATIONS"])
		}
		for _, dep := range []string{"migrate", "temporal-namespace"} {
			if svc.DependsOn[dep].Condition != "service_completed_successfully" {
				t.Errorf("service %s: want it to wait for %s to complete successfully, got %+v", name, dep, svc.DependsOn)
			}
		}
		if !strings.HasSuffix(svc.Environment["METRICS_ADDR"], ":9464") || strings.HasPrefix(svc.Environment["METRICS_ADDR"], "127.") {
			t.Errorf("service %s: METRICS_ADDR=%q, want :9464 on every interface (Prometheus scrapes it)", name, svc.Environment["METRICS_ADDR"])
		}
	}
	if cf.Services["bridge"].Environment["AMQP_URL"] == "" || cf.Services["bridge"].DependsOn["rabbitmq"].Condition != "service_healthy" {
		t.Errorf("bridge: want AMQP_URL and a healthy rabbitmq first")
	}
	for _, svc := range []string{"postgres", "rabbitmq", "temporal"} {
		if cf.Services[svc].Healthcheck == nil {
			t.Errorf("service %s: no healthcheck, which the others wait for", svc)
		}
	}

	raw, err = os.ReadFile(filepath.Join(root, "deploy", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc promConfig
	if err := yaml.Unmarshal(raw, &pc); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if !slices.Contains(pc.RuleFiles, "healthd-rules.yml") {
		t.Errorf("prometheus.yml: rule_files %v, want healthd-rules.yml", pc.RuleFiles)
	}
	jobs := map[string]string{}
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				jobs[sc.JobName] = target
			}
		}
	}
	for _, role := range []string{"health", "engine", "bridge"} {
		if got := jobs["healthd-"+role]; got != role+":9464" {
			t.Errorf("prometheus.yml: job healthd-%s scrapes %q, want %s:9464", role, got, role)
		}
	}

	if dc, err := exec.LookPath("docker-compose"); err == nil {
		cmd := exec.Command(dc, "-f", filepath.Join(root, "docker-compose.yml"), "config", "-q")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker-compose config: %v\n%s", err, out)
		}
	}
}
