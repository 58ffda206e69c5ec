package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// fieldErrors returns the FieldErrors joined in err, in order.
func fieldErrors(t *testing.T, err error) []*FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("got error %T %q, want a joined error", err, err)
	}
	var out []*FieldError
	for _, e := range joined.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("got error %T %q, want *FieldError", e, e)
		}
		out = append(out, fe)
	}
	return out
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load(empty env): got error %v, want nil", err)
	}
	want := Config{
		TemporalAddress:           "127.0.0.1:7233",
		TemporalNamespace:         "default",
		TemporalTaskQueue:         "cluster-health",
		DatabaseURL:               "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		AMQPURL:                   "amqp://guest:guest@127.0.0.1:5672/",
		LogFormat:                 "json",
		LogLevel:                  "info",
		MetricsAddr:               "127.0.0.1:9464",
		HealthCheckIntervalMin:    60,
		CheckIntervalMax:          3600,
		SweepConcurrency:          32,
		ActivityPollers:           8,
		WorkflowPollers:           2,
		EngineWorkers:             4,
		EngineWebhookTimeout:      30 * time.Second,
		EngineLease:               time.Minute,
		NovaControlExchange:       "nova",
		HeatControlExchange:       "heat",
		BridgeNovaQueue:           "healthd.nova",
		BridgeHeatQueue:           "healthd.heat",
		BridgeDeadLetterExchange:  "healthd.dlx",
		BridgeDeadLetterQueue:     "healthd.dead",
		BridgePrefetch:            32,
		BridgeConcurrency:         4,
		BridgeSignalTimeout:       10 * time.Second,
		BridgeRetryBackoffMax:     30 * time.Second,
		BridgeReconnectBackoffMax: 30 * time.Second,
		AMQPDurableExchanges:      false,
		DevDataDir:                ".data",
		DevUIPort:                 8233,
	}
	if got != want {
		t.Errorf("Load(empty env):\ngot  %#v\nwant %#v", got.Redacted(), want.Redacted())
	}
	if got != Defaults() {
		t.Errorf("Load(empty env) differs from Defaults()")
	}
	if err := Defaults().Validate(); err != nil {
		t.Errorf("Defaults().Validate(): got %v, want nil", err)
	}
	if got, want := got.MinCheckInterval(), time.Minute; got != want {
		t.Errorf("MinCheckInterval: got %v, want %v", got, want)
	}
	if got, want := got.MaxCheckInterval(), time.Hour; got != want {
		t.Errorf("MaxCheckInterval: got %v, want %v", got, want)
	}
}

func TestLoadOverrides(t *testing.T) {
	tests := []struct {
		env   string
		value string
		check func(Config) any
		want  any
	}{
		{"TEMPORAL_ADDRESS", "temporal:7233", func(c Config) any { return c.TemporalAddress }, "temporal:7233"},
		{"TEMPORAL_ADDRESS", "[::1]:7233", func(c Config) any { return c.TemporalAddress }, "[::1]:7233"},
		{"TEMPORAL_NAMESPACE", "prod", func(c Config) any { return c.TemporalNamespace }, "prod"},
		{"TEMPORAL_TASK_QUEUE", "tq", func(c Config) any { return c.TemporalTaskQueue }, "tq"},
		{"DATABASE_URL", "postgresql://u:p@db/healthd", func(c Config) any { return c.DatabaseURL }, "postgresql://u:p@db/healthd"},
		{"DATABASE_URL", "host=db user=u dbname=healthd", func(c Config) any { return c.DatabaseURL }, "host=db user=u dbname=healthd"},
		{"AMQP_URL", "amqps://u:p@mq:5671/vhost", func(c Config) any { return c.AMQPURL }, "amqps://u:p@mq:5671/vhost"},
		{"LOG_FORMAT", "console", func(c Config) any { return c.LogFormat }, "console"},
		{"LOG_LEVEL", "debug", func(c Config) any { return c.LogLevel }, "debug"},
		{"METRICS_ADDR", ":9000", func(c Config) any { return c.MetricsAddr }, ":9000"},
		{"METRICS_ADDR", "off", func(c Config) any { return c.MetricsEnabled() }, false},
		{"HEALTH_CHECK_INTERVAL_MIN", "30", func(c Config) any { return c.HealthCheckIntervalMin }, 30},
		{"CHECK_INTERVAL_MAX", "7200", func(c Config) any { return c.CheckIntervalMax }, 7200},
		{"SWEEP_CONCURRENCY", "1024", func(c Config) any { return c.SweepConcurrency }, 1024},
		{"SWEEP_CONCURRENCY", "1", func(c Config) any { return c.SweepConcurrency }, 1},
		{"WORKER_ACTIVITY_POLLERS", "16", func(c Config) any { return c.ActivityPollers }, 16},
		{"WORKER_WORKFLOW_POLLERS", "4", func(c Config) any { return c.WorkflowPollers }, 4},
		{"ENGINE_WORKERS", "16", func(c Config) any { return c.EngineWorkers }, 16},
		{"ENGINE_WEBHOOK_TIMEOUT", "45s", func(c Config) any { return c.EngineWebhookTimeout }, 45 * time.Second},
		{"ENGINE_LEASE", "5m", func(c Config) any { return c.EngineLease }, 5 * time.Minute},
		{"NOVA_CONTROL_EXCHANGE", "nova2", func(c Config) any { return c.NovaControlExchange }, "nova2"},
		{"HEAT_CONTROL_EXCHANGE", "heat2", func(c Config) any { return c.HeatControlExchange }, "heat2"},
		{"BRIDGE_NOVA_QUEUE", "q.nova", func(c Config) any { return c.BridgeNovaQueue }, "q.nova"},
		{"BRIDGE_HEAT_QUEUE", "q.heat", func(c Config) any { return c.BridgeHeatQueue }, "q.heat"},
		{"BRIDGE_DEAD_LETTER_EXCHANGE", "dlx", func(c Config) any { return c.BridgeDeadLetterExchange }, "dlx"},
		{"BRIDGE_PREFETCH", "5", func(c Config) any { return c.BridgePrefetch }, 5},
		{"BRIDGE_DEAD_LETTER_QUEUE", "q.dead", func(c Config) any { return c.BridgeDeadLetterQueue }, "q.dead"},
		{"BRIDGE_CONCURRENCY", "2", func(c Config) any { return c.BridgeConcurrency }, 2},
		{"BRIDGE_SIGNAL_TIMEOUT", "3s", func(c Config) any { return c.BridgeSignalTimeout }, 3 * time.Second},
		{"BRIDGE_RETRY_BACKOFF_MAX", "2m", func(c Config) any { return c.BridgeRetryBackoffMax }, 2 * time.Minute},
		{"BRIDGE_RECONNECT_BACKOFF_MAX", "5s", func(c Config) any { return c.BridgeReconnectBackoffMax }, 5 * time.Second},
		{"AMQP_DURABLE_EXCHANGES", "true", func(c Config) any { return c.AMQPDurableExchanges }, true},
		{"AMQP_DURABLE_EXCHANGES", "1", func(c Config) any { return c.AMQPDurableExchanges }, true},
		{"DEV_DATA_DIR", "/var/lib/healthd", func(c Config) any { return c.DevDataDir }, "/var/lib/healthd"},
		{"DEV_UI_PORT", "18233", func(c Config) any { return c.DevUIPort }, 18233},
	}
	for _, tt := range tests {
		t.Run(tt.env+"="+tt.value, func(t *testing.T) {
			c, err := Load(env(map[string]string{tt.env: tt.value}))
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if got := tt.check(c); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadReportsEveryInvalidValue(t *testing.T) {
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
		"ENGINE_WORKERS":              "0",
		"ENGINE_WEBHOOK_TIMEOUT":      "30",
		"BRIDGE_PREFETCH":             "65536",
		"AMQP_DURABLE_EXCHANGES":      "maybe",
		"DEV_UI_PORT":                 "http",
		"NOVA_CONTROL_EXCHANGE":       " ",
		"TEMPORAL_TASK_QUEUE":         "\t",
		"BRIDGE_DEAD_LETTER_EXCHANGE": " ",
	}
	_, err := Load(env(bad))
	if err == nil {
		t.Fatal("got nil error, want one error per invalid variable")
	}
	got := make(map[string]string)
	for _, fe := range fieldErrors(t, err) {
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
		"ENGINE_WORKERS":              `ENGINE_WORKERS: must be a positive integer, got "0"`,
		"ENGINE_WEBHOOK_TIMEOUT":      `ENGINE_WEBHOOK_TIMEOUT: must be a positive Go duration such as 30s or 1m30s, got "30"`,
		"BRIDGE_PREFETCH":             `BRIDGE_PREFETCH: must be an integer from 1 to 65535, got "65536"`,
		"AMQP_DURABLE_EXCHANGES":      `AMQP_DURABLE_EXCHANGES: must be true or false, got "maybe"`,
		"DEV_UI_PORT":                 `DEV_UI_PORT: must be an integer from 1 to 65535, got "http"`,
		"NOVA_CONTROL_EXCHANGE":       `NOVA_CONTROL_EXCHANGE: must not be empty, got " "`,
		"BRIDGE_DEAD_LETTER_EXCHANGE": `BRIDGE_DEAD_LETTER_EXCHANGE: must not be empty, got " "`,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("error for %s:\ngot  %q\nwant %q", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected error %q", got[k])
		}
	}
	for _, secret := range []string{"hunter2", "s3cret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains the password %q", err, secret)
		}
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // every FieldError, in order; nil when valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"metrics disabled", func(c *Config) { c.MetricsAddr = "" }, nil},
		{"max equals min", func(c *Config) { c.CheckIntervalMax = c.HealthCheckIntervalMin }, nil},
		{"keyword DSN", func(c *Config) { c.DatabaseURL = "host=/run/postgresql dbname=healthd" }, nil},
		{"max below min", func(c *Config) { c.HealthCheckIntervalMin, c.CheckIntervalMax = 120, 60 },
			[]string{"CHECK_INTERVAL_MAX: must not be below HEALTH_CHECK_INTERVAL_MIN (120), got 60"}},
		{"same bridge queues", func(c *Config) { c.BridgeHeatQueue = c.BridgeNovaQueue },
			[]string{`BRIDGE_HEAT_QUEUE: must differ from BRIDGE_NOVA_QUEUE, got "healthd.nova" for both`}},
		{"dead-letter queue is a consumed queue", func(c *Config) { c.BridgeDeadLetterQueue = c.BridgeHeatQueue },
			[]string{`BRIDGE_DEAD_LETTER_QUEUE: must differ from BRIDGE_NOVA_QUEUE and BRIDGE_HEAT_QUEUE, got "healthd.heat"`}},
		{"lease not above the webhook timeout", func(c *Config) { c.EngineWebhookTimeout, c.EngineLease = time.Minute, time.Minute },
			[]string{"ENGINE_LEASE: must be above ENGINE_WEBHOOK_TIMEOUT (1m0s), got 1m0s"}},
		{"concurrency above prefetch", func(c *Config) { c.BridgePrefetch, c.BridgeConcurrency = 2, 3 },
			[]string{"BRIDGE_CONCURRENCY: must not be above BRIDGE_PREFETCH (2), got 3"}},
		{"bridge timings", func(c *Config) { c.BridgeSignalTimeout, c.BridgeRetryBackoffMax = 0, -time.Second },
			[]string{
				"BRIDGE_SIGNAL_TIMEOUT: must be a positive Go duration such as 30s or 1m30s, got 0s",
				"BRIDGE_RETRY_BACKOFF_MAX: must be a positive Go duration such as 30s or 1m30s, got -1s",
			}},
		{"zero values", func(c *Config) { c.SweepConcurrency, c.EngineWebhookTimeout, c.DevUIPort = 0, 0, 70000 },
			[]string{
				"SWEEP_CONCURRENCY: must be an integer from 1 to 1024, got 0",
				"ENGINE_WEBHOOK_TIMEOUT: must be a positive Go duration such as 30s or 1m30s, got 0s",
				"DEV_UI_PORT: must be an integer from 1 to 65535, got 70000",
			}},
		{"empty URLs", func(c *Config) { c.DatabaseURL, c.AMQPURL = "", "" },
			[]string{
				"DATABASE_URL: must be a postgres:// or postgresql:// URL or a key=value connection string (value not shown: it may hold a password)",
				"AMQP_URL: must be an amqp:// or amqps:// URL with a host (value not shown: it may hold a password)",
			}},
		{"unparsable URL", func(c *Config) { c.DatabaseURL = "postgres://u:hunter2@db:port/x" },
			[]string{"DATABASE_URL: must be a postgres:// or postgresql:// URL or a key=value connection string (value not shown: it may hold a password)"}},
		{"bad metrics address", func(c *Config) { c.MetricsAddr = "9464" },
			[]string{`METRICS_ADDR: must be host:port with a port from 1 to 65535 or empty, got "9464"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.modify(&c)
			var got []string
			for _, fe := range fieldErrors(t, c.Validate()) {
				got = append(got, fe.Error())
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Validate():\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
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
		{"duration", "ENGINE_WEBHOOK_TIMEOUT", "90s", "1m30s", ""},
		{"bool", "AMQP_DURABLE_EXCHANGES", "yes", "false", ""}, // invalid: the default stays
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := Load(env(map[string]string{tt.env: tt.value}))
			r := c.Redacted()
			if got := r[tt.env]; got != tt.want {
				t.Errorf("Redacted()[%s]: got %q, want %q", tt.env, got, tt.want)
			}
			if len(r) != len(c.settings()) {
				t.Errorf("Redacted() has %d entries, want %d", len(r), len(c.settings()))
			}
			if tt.password == "" {
				return
			}
			for name, s := range map[string]string{
				"Redacted": fmt.Sprint(r),
				"%v":       fmt.Sprintf("%v", c),
				"%+v":      fmt.Sprintf("%+v", &c),
				"%#v":      fmt.Sprintf("%#v", c),
				"Validate": fmt.Sprint(c.Validate()),
			} {
				if strings.Contains(s, tt.password) {
					t.Errorf("%s output %q contains the password %q", name, s, tt.password)
				}
			}
		})
	}
}

func TestFlagsOverrideEnv(t *testing.T) {
	c, err := Load(env(map[string]string{
		"TEMPORAL_ADDRESS":  "from-env:7233",
		"SWEEP_CONCURRENCY": "8",
		"AMQP_URL":          "amqp://svc:s3cret@mq/",
	}))
	if err != nil {
		t.Fatalf("Load: got error %v, want nil", err)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.RegisterFlags(fs)

	if got, want := fs.Lookup("sweep-concurrency").DefValue, "8"; got != want {
		t.Errorf("--sweep-concurrency default: got %q, want %q (the env value)", got, want)
	}
	if help := fs.FlagUsages(); strings.Contains(help, "s3cret") {
		t.Errorf("flag help contains the password:\n%s", help)
	}
	for _, s := range c.settings() {
		if fs.Lookup(FlagName(s.env)) == nil {
			t.Errorf("no flag --%s for %s", FlagName(s.env), s.env)
		}
	}

	err = fs.Parse([]string{
		"--temporal-address=from-flag:7233",
		"--engine-webhook-timeout", "5s",
		"--amqp-durable-exchanges",
		"--metrics-addr=",
		"--health-check-interval-min", "10",
	})
	if err != nil {
		t.Fatalf("Parse: got error %v, want nil", err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: got error %v, want nil", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"TemporalAddress", c.TemporalAddress, "from-flag:7233"},
		{"SweepConcurrency", c.SweepConcurrency, 8},
		{"EngineWebhookTimeout", c.EngineWebhookTimeout, 5 * time.Second},
		{"AMQPDurableExchanges", c.AMQPDurableExchanges, true},
		{"MetricsEnabled", c.MetricsEnabled(), false},
		{"HealthCheckIntervalMin", c.HealthCheckIntervalMin, 10},
		{"AMQPURL", c.AMQPURL, "amqp://svc:s3cret@mq/"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string // substring of the parse error; "" when parsing succeeds
		notIn   string // must not appear in any error
		valid   bool   // Validate after parsing succeeds
	}{
		{[]string{"--sweep-concurrency=0"}, "must be an integer from 1 to 1024", "", true},
		{[]string{"--log-format=xml"}, "must be one of json, console", "", true},
		{[]string{"--metrics-addr=off"}, "", "", true},
		{[]string{"--database-url=mysql://root:hunter2@db/"}, "", "hunter2", false},
		{[]string{"--amqp-url=amqp://u:hunter2@h:x/"}, "", "hunter2", false},
		{[]string{"--check-interval-max=30"}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := Defaults()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			fs.SetOutput(&strings.Builder{})
			c.RegisterFlags(fs)
			err := fs.Parse(tt.args)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Parse: got error %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Parse: got error %v, want one containing %q", err, tt.wantErr)
			}
			verr := c.Validate()
			if got := verr == nil; got != tt.valid {
				t.Errorf("Validate: got %v, want valid=%v", verr, tt.valid)
			}
			if tt.notIn != "" && strings.Contains(fmt.Sprint(err, verr), tt.notIn) {
				t.Errorf("errors %v / %v contain %q", err, verr, tt.notIn)
			}
		})
	}
}

func TestFlagName(t *testing.T) {
	tests := []struct{ env, want string }{
		{"TEMPORAL_ADDRESS", "temporal-address"},
		{"HEALTH_CHECK_INTERVAL_MIN", "health-check-interval-min"},
		{"AMQP_URL", "amqp-url"},
	}
	for _, tt := range tests {
		if got := FlagName(tt.env); got != tt.want {
			t.Errorf("FlagName(%q): got %q, want %q", tt.env, got, tt.want)
		}
	}
}
