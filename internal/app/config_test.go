package app_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/devserver"
	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/healthworker"
	"github.com/clusterhealth/healthd/internal/logging"
	"github.com/clusterhealth/healthd/internal/netguard"
	"github.com/clusterhealth/healthd/internal/temporalclient"
)

// load returns the defaults overridden by the environment env, every
// section loaded.
func load(env map[string]string) (app.Config, error) {
	c := app.Defaults()
	err := config.Load(func(k string) string { return env[k] }, c.AllSections()...)
	return c, err
}

func TestConfigDefaults(t *testing.T) {
	got, err := load(nil)
	if err != nil {
		t.Fatalf("load(empty env): got error %v, want nil", err)
	}
	if !reflect.DeepEqual(got, app.Defaults()) {
		t.Errorf("load(empty env) differs from Defaults()")
	}
	want := map[string]string{
		"TEMPORAL_ADDRESS":              "127.0.0.1:7233",
		"TEMPORAL_NAMESPACE":            "default",
		"TEMPORAL_TASK_QUEUE":           "cluster-health",
		"DATABASE_URL":                  "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"SKIP_MIGRATIONS":               "false",
		"RETENTION":                     "2160h0m0s",
		"AMQP_URL":                      "amqp://guest:xxxxx@127.0.0.1:5672/",
		"AMQP_CA_FILE":                  "",
		"LOG_FORMAT":                    "json",
		"LOG_LEVEL":                     "info",
		"METRICS_ADDR":                  "127.0.0.1:9464",
		"PPROF_ADDR":                    "off",
		"PPROF_ANY_ADDR":                "false",
		"HEALTH_CHECK_INTERVAL_MIN":     "60",
		"CHECK_INTERVAL_MAX":            "3600",
		"SWEEP_CONCURRENCY":             "32",
		"PROBE_CONCURRENCY":             "256",
		"PROBE_CLUSTER_CONCURRENCY":     "0",
		"PROBE_ALLOW_CIDRS":             "",
		"PROBE_DENY_CIDRS":              "",
		"WORKER_ACTIVITY_POLLERS":       "8",
		"WORKER_WORKFLOW_POLLERS":       "2",
		"ENGINE_WORKERS":                "4",
		"ENGINE_WEBHOOK_TIMEOUT":        "30s",
		"ENGINE_LEASE":                  "1m0s",
		"ENGINE_WEBHOOK_SECRET":         "",
		"ENGINE_DRIVER":                 "webhook",
		"OPENSTACK_REFRESH":             "15s",
		"OPENSTACK_ALL_PROJECTS":        "false",
		"NOVA_CONTROL_EXCHANGE":         "nova",
		"HEAT_CONTROL_EXCHANGE":         "heat",
		"BRIDGE_QUEUE_MAX_LENGTH":       "100000",
		"BRIDGE_MESSAGE_TTL":            "1h0m0s",
		"BRIDGE_DEAD_LETTER_MAX_LENGTH": "100000",
		"BRIDGE_MAX_EVENT_AGE":          "10m0s",
		"BRIDGE_NOVA_QUEUE":             "healthd.nova",
		"BRIDGE_HEAT_QUEUE":             "healthd.heat",
		"BRIDGE_DEAD_LETTER_EXCHANGE":   "healthd.dlx",
		"BRIDGE_DEAD_LETTER_QUEUE":      "healthd.dead",
		"BRIDGE_PREFETCH":               "32",
		"BRIDGE_CONCURRENCY":            "4",
		"BRIDGE_SIGNAL_TIMEOUT":         "10s",
		"BRIDGE_RETRY_BACKOFF_MAX":      "30s",
		"BRIDGE_RECONNECT_BACKOFF_MAX":  "30s",
		"AMQP_DURABLE_EXCHANGES":        "false",
		"DEV_DATA_DIR":                  ".data",
		"DEV_UI_PORT":                   "8233",

		"TEMPORAL_TLS":                           "",
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH":       "",
		"TEMPORAL_TLS_SERVER_NAME":               "",
		"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION": "false",
		"TEMPORAL_TLS_CLIENT_CERT_PATH":          "",
		"TEMPORAL_TLS_CLIENT_KEY_PATH":           "",
		"TEMPORAL_API_KEY":                       "",
		"TEMPORAL_API_KEY_PLAINTEXT":             "false",
		"TEMPORAL_CODEC_KEYS_FILE":               "",
		"TEMPORAL_CONFIG_FILE":                   "",
		"TEMPORAL_PROFILE":                       "",
	}
	if r := config.Redacted(got.AllSections()...); !reflect.DeepEqual(r, want) {
		t.Errorf("defaults:\ngot  %v\nwant %v", r, want)
	}
	if got.Bridge.URL != "amqp://guest:guest@127.0.0.1:5672/" {
		t.Errorf("AMQP_URL default: got %q, want the local broker as guest", got.Bridge.URL)
	}
	if err := config.Validate(got.AllSections()...); err != nil {
		t.Errorf("Validate(defaults): got %v, want nil", err)
	}
}

func TestConfigLoadOverrides(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*app.Config) // changes the defaults into the wanted config
	}{
		{"every variable", map[string]string{
			"TEMPORAL_ADDRESS": "temporal:7233", "TEMPORAL_NAMESPACE": "prod", "TEMPORAL_TASK_QUEUE": "tq",
			"DATABASE_URL": "postgresql://u:p@db/healthd", "AMQP_URL": "amqps://u:p@mq:5671/vhost",
			"LOG_FORMAT": "console", "LOG_LEVEL": "debug", "METRICS_ADDR": ":9000",
			"HEALTH_CHECK_INTERVAL_MIN": "30", "CHECK_INTERVAL_MAX": "7200", "SWEEP_CONCURRENCY": "1024",
			"PROBE_CONCURRENCY": "2048", "WORKER_ACTIVITY_POLLERS": "16", "WORKER_WORKFLOW_POLLERS": "4",
			"PROBE_ALLOW_CIDRS": "127.0.0.1,10.0.0.0/8", "PROBE_DENY_CIDRS": "10.9.0.0/16",
			"ENGINE_WORKERS": "16", "ENGINE_WEBHOOK_TIMEOUT": "45s", "ENGINE_LEASE": "5m", "ENGINE_WEBHOOK_SECRET": "whsec",
			"ENGINE_DRIVER": "openstack", "OPENSTACK_REFRESH": "1m", "OPENSTACK_ALL_PROJECTS": "true",
			"NOVA_CONTROL_EXCHANGE": "nova2", "HEAT_CONTROL_EXCHANGE": "heat2",
			"BRIDGE_NOVA_QUEUE": "q.nova", "BRIDGE_HEAT_QUEUE": "q.heat",
			"BRIDGE_DEAD_LETTER_EXCHANGE": "dlx", "BRIDGE_DEAD_LETTER_QUEUE": "q.dead",
			"BRIDGE_PREFETCH": "5", "BRIDGE_CONCURRENCY": "2", "BRIDGE_SIGNAL_TIMEOUT": "3s",
			"BRIDGE_RETRY_BACKOFF_MAX": "2m", "BRIDGE_RECONNECT_BACKOFF_MAX": "5s", "AMQP_DURABLE_EXCHANGES": "true",
			"DEV_DATA_DIR": "/var/lib/healthd", "DEV_UI_PORT": "18233",
		}, func(c *app.Config) {
			c.Temporal = temporalclient.Config{Address: "temporal:7233", Namespace: "prod", TaskQueue: "tq"}
			c.Database.URL, c.Bridge.URL = "postgresql://u:p@db/healthd", "amqps://u:p@mq:5671/vhost"
			c.Log, c.Metrics.Addr = logging.Config{Format: "console", Level: "debug"}, ":9000"
			c.Health = healthworker.Config{Limits: healthworker.Limits{IntervalMin: 30, IntervalMax: 7200},
				SweepConcurrency: 1024, ProbeConcurrency: 2048, ActivityPollers: 16, WorkflowPollers: 4}
			c.Network = netguard.Config{Allow: "127.0.0.1,10.0.0.0/8", Deny: "10.9.0.0/16"}
			c.Engine = engine.Config{Workers: 16, WebhookTimeout: 45 * time.Second, Lease: 5 * time.Minute, WebhookSecret: "whsec",
				Driver: engine.DriverOpenStack, OpenStackRefresh: time.Minute, OpenStackAllProjects: true}
			b := &c.Bridge
			b.NovaExchange, b.HeatExchange, b.NovaQueue, b.HeatQueue = "nova2", "heat2", "q.nova", "q.heat"
			b.DeadLetterExchange, b.DeadLetterQueue, b.Prefetch, b.Concurrency = "dlx", "q.dead", 5, 2
			b.SignalTimeout, b.RetryBackoffMax, b.ReconnectBackoffMax = 3*time.Second, 2*time.Minute, 5*time.Second
			b.ExchangeDurable = true
			c.Dev = devserver.Config{DataDir: "/var/lib/healthd", UIPort: 18233}
		}},
		{"other forms", map[string]string{
			"TEMPORAL_ADDRESS": "[::1]:7233", "DATABASE_URL": "host=db user=u dbname=healthd", "METRICS_ADDR": "off",
			"SWEEP_CONCURRENCY": "1", "AMQP_DURABLE_EXCHANGES": "1",
		}, func(c *app.Config) {
			c.Temporal.Address, c.Database.URL, c.Metrics.Addr = "[::1]:7233", "host=db user=u dbname=healthd", ""
			c.Health.SweepConcurrency, c.Bridge.ExchangeDurable = 1, true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := load(tt.env)
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			want := app.Defaults()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}

func TestConfigLoadReportsEveryInvalidValue(t *testing.T) {
	bad := map[string]string{
		"TEMPORAL_ADDRESS":            "localhost",
		"TEMPORAL_NAMESPACE":          "  ",
		"DATABASE_URL":                "mysql://root:hunter2@db/x",
		"AMQP_URL":                    "http://guest:s3cret@mq/",
		"LOG_FORMAT":                  "xml",
		"LOG_LEVEL":                   "trace",
		"METRICS_ADDR":                "nowhere",
		"HEALTH_CHECK_INTERVAL_MIN":   "x",
		"CHECK_INTERVAL_MAX":          "-1",
		"SWEEP_CONCURRENCY":           "1025",
		"PROBE_CONCURRENCY":           "0",
		"PROBE_ALLOW_CIDRS":           "10.0.0.0/33",
		"PROBE_DENY_CIDRS":            "metadata.internal",
		"ENGINE_WORKERS":              "0",
		"ENGINE_WEBHOOK_TIMEOUT":      "30",
		"BRIDGE_PREFETCH":             "65536",
		"AMQP_DURABLE_EXCHANGES":      "maybe",
		"DEV_UI_PORT":                 "http",
		"NOVA_CONTROL_EXCHANGE":       " ",
		"TEMPORAL_TASK_QUEUE":         "\t",
		"BRIDGE_DEAD_LETTER_EXCHANGE": " ",
	}
	_, err := load(bad)
	if err == nil {
		t.Fatal("got nil error, want one error per invalid variable")
	}
	got := make(map[string]string)
	for _, fe := range config.FieldErrors(err) {
		if _, dup := got[fe.Var]; dup {
			t.Errorf("%s reported twice", fe.Var)
		}
		got[fe.Var] = fe.Error()
	}
	want := map[string]string{
		"TEMPORAL_ADDRESS":            `TEMPORAL_ADDRESS: must be host:port with a port from 1 to 65535, got "localhost"`,
		"TEMPORAL_NAMESPACE":          `TEMPORAL_NAMESPACE: must not be empty, got "  "`,
		"TEMPORAL_TASK_QUEUE":         `TEMPORAL_TASK_QUEUE: must not be empty, got "\t"`,
		"DATABASE_URL":                `DATABASE_URL: must be a postgres:// or postgresql:// URL or a key=value connection string (value not shown: it may hold a password)`,
		"AMQP_URL":                    `AMQP_URL: must be an amqp:// or amqps:// URL with a host (value not shown: it may hold a password)`,
		"LOG_FORMAT":                  `LOG_FORMAT: must be one of json, console, got "xml"`,
		"LOG_LEVEL":                   `LOG_LEVEL: must be one of debug, info, warn, error, got "trace"`,
		"METRICS_ADDR":                `METRICS_ADDR: must be host:port with a port from 1 to 65535 or "off", got "nowhere"`,
		"HEALTH_CHECK_INTERVAL_MIN":   `HEALTH_CHECK_INTERVAL_MIN: must be a positive integer, got "x"`,
		"CHECK_INTERVAL_MAX":          `CHECK_INTERVAL_MAX: must be a positive integer, got "-1"`,
		"SWEEP_CONCURRENCY":           `SWEEP_CONCURRENCY: must be an integer from 1 to 1024, got "1025"`,
		"PROBE_CONCURRENCY":           `PROBE_CONCURRENCY: must be an integer from 1 to 65536, got "0"`,
		"PROBE_ALLOW_CIDRS":           `PROBE_ALLOW_CIDRS: must be comma-separated CIDRs (10.0.0.0/8) or addresses, got "10.0.0.0/33"`,
		"PROBE_DENY_CIDRS":            `PROBE_DENY_CIDRS: must be comma-separated CIDRs (10.0.0.0/8) or addresses, got "metadata.internal"`,
		"ENGINE_WORKERS":              `ENGINE_WORKERS: must be a positive integer, got "0"`,
		"ENGINE_WEBHOOK_TIMEOUT":      `ENGINE_WEBHOOK_TIMEOUT: must be a positive Go duration such as 30s or 1m30s, got "30"`,
		"BRIDGE_PREFETCH":             `BRIDGE_PREFETCH: must be an integer from 1 to 65535, got "65536"`,
		"AMQP_DURABLE_EXCHANGES":      `AMQP_DURABLE_EXCHANGES: must be true or false, got "maybe"`,
		"DEV_UI_PORT":                 `DEV_UI_PORT: must be an integer from 1 to 65535, got "http"`,
		"NOVA_CONTROL_EXCHANGE":       `NOVA_CONTROL_EXCHANGE: must not be empty, got " "`,
		"BRIDGE_DEAD_LETTER_EXCHANGE": `BRIDGE_DEAD_LETTER_EXCHANGE: must not be empty, got " "`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\ngot  %q\nwant %q", got, want)
	}
	for _, secret := range []string{"hunter2", "s3cret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains the password %q", err, secret)
		}
	}
}

func TestConfigValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*app.Config)
		want   []string // every FieldError, in order; nil when valid
	}{
		{"defaults", func(*app.Config) {}, nil},
		{"metrics disabled", func(c *app.Config) { c.Metrics.Addr = "" }, nil},
		{"max equals min", func(c *app.Config) { c.Health.IntervalMax = c.Health.IntervalMin }, nil},
		{"keyword DSN", func(c *app.Config) { c.Database.URL = "host=/run/postgresql dbname=healthd" }, nil},
		{"max below min", func(c *app.Config) { c.Health.IntervalMin, c.Health.IntervalMax = 120, 60 },
			[]string{"CHECK_INTERVAL_MAX: must not be below HEALTH_CHECK_INTERVAL_MIN (120), got 60"}},
		{"probes below one round's", func(c *app.Config) { c.Health.SweepConcurrency, c.Health.ProbeConcurrency = 64, 32 },
			[]string{"PROBE_CONCURRENCY: must not be below SWEEP_CONCURRENCY (64), got 32"}},
		{"same exchanges", func(c *app.Config) { c.Bridge.HeatExchange = c.Bridge.NovaExchange },
			[]string{`HEAT_CONTROL_EXCHANGE: must differ from NOVA_CONTROL_EXCHANGE, got "nova" for both: every notification would be read twice`}},
		{"same bridge queues", func(c *app.Config) { c.Bridge.HeatQueue = c.Bridge.NovaQueue },
			[]string{`BRIDGE_HEAT_QUEUE: must differ from BRIDGE_NOVA_QUEUE, got "healthd.nova" for both`}},
		{"dead-letter queue is a consumed queue", func(c *app.Config) { c.Bridge.DeadLetterQueue = c.Bridge.HeatQueue },
			[]string{`BRIDGE_DEAD_LETTER_QUEUE: must differ from BRIDGE_NOVA_QUEUE and BRIDGE_HEAT_QUEUE, got "healthd.heat"`}},
		{"oslo's default queue", func(c *app.Config) { c.Bridge.NovaQueue = "notifications.info" },
			[]string{`BRIDGE_NOVA_QUEUE: must not be "notifications.info", oslo's default queue for that routing key, which other services read: name the bridge's own queue`}},
		{"lease not above the webhook timeout", func(c *app.Config) { c.Engine.WebhookTimeout, c.Engine.Lease = time.Minute, time.Minute },
			[]string{"ENGINE_LEASE: must be above ENGINE_WEBHOOK_TIMEOUT (1m0s), got 1m0s"}},
		{"an unknown engine driver", func(c *app.Config) { c.Engine.Driver = "vmware" },
			[]string{`ENGINE_DRIVER: must be webhook or openstack, got "vmware"`}},
		{"concurrency above prefetch", func(c *app.Config) { c.Bridge.Prefetch, c.Bridge.Concurrency = 2, 3 },
			[]string{"BRIDGE_CONCURRENCY: must not be above BRIDGE_PREFETCH (2), got 3"}},
		{"backoff below its minimum", func(c *app.Config) { c.Bridge.RetryBackoffMax = 100 * time.Millisecond },
			[]string{"BRIDGE_RETRY_BACKOFF_MAX: must not be below the shortest backoff (500ms), got 100ms"}},
		{"bridge timings", func(c *app.Config) { c.Bridge.SignalTimeout, c.Bridge.RetryBackoffMax = 0, -time.Second },
			[]string{
				"BRIDGE_SIGNAL_TIMEOUT: must be a positive Go duration such as 30s or 1m30s, got 0s",
				"BRIDGE_RETRY_BACKOFF_MAX: must be a positive Go duration such as 30s or 1m30s, got -1s",
			}},
		{"zero values", func(c *app.Config) { c.Health.SweepConcurrency, c.Engine.WebhookTimeout, c.Dev.UIPort = 0, 0, 70000 },
			[]string{
				"SWEEP_CONCURRENCY: must be an integer from 1 to 1024, got 0",
				"ENGINE_WEBHOOK_TIMEOUT: must be a positive Go duration such as 30s or 1m30s, got 0s",
				"DEV_UI_PORT: must be an integer from 1 to 65535, got 70000",
			}},
		{"empty URLs", func(c *app.Config) { c.Database.URL, c.Bridge.URL = "", "" },
			[]string{
				"DATABASE_URL: must be a postgres:// or postgresql:// URL or a key=value connection string (value not shown: it may hold a password)",
				"AMQP_URL: must be an amqp:// or amqps:// URL with a host (value not shown: it may hold a password)",
			}},
		{"unparsable URL", func(c *app.Config) { c.Database.URL = "postgres://u:hunter2@db:port/x" },
			[]string{"DATABASE_URL: must be a postgres:// or postgresql:// URL or a key=value connection string (value not shown: it may hold a password)"}},
		{"bad metrics address", func(c *app.Config) { c.Metrics.Addr = "9464" },
			[]string{`METRICS_ADDR: must be host:port with a port from 1 to 65535 or empty, got "9464"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := app.Defaults()
			tt.modify(&c)
			var got []string
			for _, fe := range config.FieldErrors(config.Validate(c.AllSections()...)) {
				got = append(got, fe.Error())
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Validate():\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestConfigRedacted(t *testing.T) {
	tests := []struct {
		name     string
		env      string
		value    string
		want     string
		password string
	}{
		{"default database URL has no password", "DATABASE_URL", "", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", ""},
		{"default AMQP password", "AMQP_URL", "", "amqp://guest:xxxxx@127.0.0.1:5672/", ""},
		{"database URL password", "DATABASE_URL", "postgres://app:hunter2@db:5432/healthd?sslmode=require", "postgres://app:xxxxx@db:5432/healthd?sslmode=require", "hunter2"},
		{"database URL password parameter", "DATABASE_URL", "postgres://app@db/healthd?password=hunter2&sslmode=require", "postgres://app@db/healthd?password=xxxxx&sslmode=require", "hunter2"},
		{"database keyword password", "DATABASE_URL", "host=db user=app password=hunter2 dbname=healthd", "host=db user=app password=xxxxx dbname=healthd", "hunter2"},
		{"database quoted keyword password", "DATABASE_URL", "host=db password='hunter 2' sslpassword=k3y", "host=db password=xxxxx sslpassword=xxxxx", "hunter"},
		{"AMQP URL password", "AMQP_URL", "amqps://svc:s3cret@mq:5671/prod", "amqps://svc:xxxxx@mq:5671/prod", "s3cret"},
		{"unparsable URL is not shown", "AMQP_URL", "amqp://svc:s3cret@mq:bad/", "(unparsable, not shown)", "s3cret"},
		{"metrics disabled", "METRICS_ADDR", "off", "off", ""},
		{"webhook secret", "ENGINE_WEBHOOK_SECRET", "whsec-4f1d", "xxxxx", "whsec-4f1d"},
		{"duration", "ENGINE_WEBHOOK_TIMEOUT", "90s", "1m30s", ""},
		{"bool", "AMQP_DURABLE_EXCHANGES", "yes", "false", ""}, // invalid: the default stays
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := load(map[string]string{tt.env: tt.value})
			r := config.Redacted(c.AllSections()...)
			if got := r[tt.env]; got != tt.want {
				t.Errorf("Redacted()[%s]: got %q, want %q", tt.env, got, tt.want)
			}
			if tt.password == "" {
				return
			}
			for name, s := range map[string]string{
				"Redacted":        fmt.Sprint(r),
				"%v":              fmt.Sprintf("%v", c),
				"%+v":             fmt.Sprintf("%+v", &c),
				"%#v":             fmt.Sprintf("%#v", c),
				"%+v of Bridge":   fmt.Sprintf("%+v", c.Bridge),
				"%#v of Database": fmt.Sprintf("%#v", c.Database),
				"%+v of Engine":   fmt.Sprintf("%+v", c.Engine),
				"%#v of Engine":   fmt.Sprintf("%#v", c.Engine),
				"RedactedURL":     c.Database.RedactedURL(),
				"Validate":        fmt.Sprint(config.Validate(c.AllSections()...)),
			} {
				if strings.Contains(s, tt.password) {
					t.Errorf("%s output %q contains the password %q", name, s, tt.password)
				}
			}
		})
	}
}

// TestConfigSections checks that a process reads the settings of its roles
// only: an engine neither lists nor checks the bridge's.
func TestConfigSections(t *testing.T) {
	tests := []struct {
		roles       []string
		has, hasNot []string
	}{
		{[]string{app.RoleHealth}, []string{"TEMPORAL_TASK_QUEUE", "DATABASE_URL", "HEALTH_CHECK_INTERVAL_MIN", "WORKER_ACTIVITY_POLLERS", "LOG_LEVEL", "METRICS_ADDR"},
			[]string{"AMQP_URL", "ENGINE_LEASE", "DEV_UI_PORT"}},
		{[]string{app.RoleEngine}, []string{"DATABASE_URL", "ENGINE_LEASE", "LOG_FORMAT", "METRICS_ADDR"},
			[]string{"TEMPORAL_ADDRESS", "AMQP_URL", "BRIDGE_PREFETCH", "SWEEP_CONCURRENCY"}},
		{[]string{app.RoleBridge}, []string{"TEMPORAL_ADDRESS", "AMQP_URL", "BRIDGE_PREFETCH", "AMQP_DURABLE_EXCHANGES"},
			[]string{"DATABASE_URL", "ENGINE_WORKERS", "CHECK_INTERVAL_MAX"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.roles, ","), func(t *testing.T) {
			c := app.Defaults()
			sections := c.Sections(tt.roles...)
			r := config.Redacted(sections...)
			for _, v := range tt.has {
				if _, ok := r[v]; !ok {
					t.Errorf("got no %s, want it", v)
				}
			}
			bad := map[string]string{}
			for _, v := range tt.hasNot {
				if _, ok := r[v]; ok {
					t.Errorf("got %s, want only the roles' settings", v)
				}
				bad[v] = "0"
			}
			if err := config.Load(func(k string) string { return bad[k] }, sections...); err != nil {
				t.Errorf("loading invalid settings of other roles: got %v, want nil", err)
			}
		})
	}
}
