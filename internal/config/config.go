// Package config holds the settings of every healthd process: the workers, the
// dev-mode main and the starter CLI.
//
// Settings come from environment variables, and command-line flags override
// them:
//
//	cfg, err := config.Load(os.Getenv)   // defaults, then the environment
//	cfg.RegisterFlags(fs)                // flag defaults are the loaded values
//	fs.Parse(os.Args[1:])
//	err = cfg.Validate()                 // every problem at once
//
// Defaults live in one place, [Defaults]. Secrets (the passwords in DATABASE_URL
// and AMQP_URL) never appear in errors, in flag help or in [Config.Redacted];
// log the result of Redacted, never the Config's fields.
package config

import (
	"errors"
	"fmt"
	"time"
)

// Log formats accepted by LOG_FORMAT.
const (
	// LogFormatJSON is the production log format: one JSON object a line.
	LogFormatJSON = "json"
	// LogFormatConsole is the human-readable log format for development.
	LogFormatConsole = "console"
)

// MetricsOff is the METRICS_ADDR (and --metrics-addr) value that disables the
// metrics listener; an empty flag value does the same. An empty environment
// variable cannot, because it reads the same as an unset one.
const MetricsOff = "off"

// Config holds every setting of the healthd processes. The zero value is not
// useful: start from [Defaults] or [Load].
type Config struct {
	// TemporalAddress is the host:port of the Temporal frontend (TEMPORAL_ADDRESS).
	TemporalAddress string
	// TemporalNamespace is the Temporal namespace (TEMPORAL_NAMESPACE).
	TemporalNamespace string
	// TemporalTaskQueue is the task queue of the ClusterHealth workflow and its
	// activities (TEMPORAL_TASK_QUEUE).
	TemporalTaskQueue string

	// DatabaseURL is the Postgres connection string of the engine contract, a
	// postgres:// URL or a key=value string (DATABASE_URL). It may hold a
	// password: never log it, log [Config.Redacted] instead.
	DatabaseURL string
	// AMQPURL is the RabbitMQ URL the bridge consumes from (AMQP_URL). It may
	// hold a password: never log it, log [Config.Redacted] instead.
	AMQPURL string

	// LogFormat is LogFormatJSON or LogFormatConsole (LOG_FORMAT).
	LogFormat string
	// LogLevel is debug, info, warn or error (LOG_LEVEL).
	LogLevel string
	// MetricsAddr is the host:port serving /metrics, /healthz and /readyz;
	// empty disables the listener (METRICS_ADDR, "off" disables).
	MetricsAddr string

	// HealthCheckIntervalMin is the smallest detection interval a registration
	// may ask for, in seconds (HEALTH_CHECK_INTERVAL_MIN, Senlin's
	// health_check_interval_min).
	HealthCheckIntervalMin int
	// CheckIntervalMax caps the detection interval, in seconds
	// (CHECK_INTERVAL_MAX, Senlin's check_interval_max).
	CheckIntervalMax int
	// SweepConcurrency bounds the probes one round runs at the same time
	// (SWEEP_CONCURRENCY).
	SweepConcurrency int
	// ActivityPollers is the number of activity task polls the health worker
	// keeps open (WORKER_ACTIVITY_POLLERS). With too few, an activity
	// scheduled while every poll is busy waits in the server's backlog: with
	// two, the SDK's default, one notification in twenty-five took 2 s
	// instead of 15 ms (scripts/bench-latency.sh).
	ActivityPollers int
	// WorkflowPollers is the number of workflow task polls the health worker
	// keeps open (WORKER_WORKFLOW_POLLERS).
	WorkflowPollers int

	// EngineWorkers is the number of recover actions the reference engine
	// executes at the same time (ENGINE_WORKERS).
	EngineWorkers int
	// EngineWebhookTimeout bounds one call of a recovery webhook
	// (ENGINE_WEBHOOK_TIMEOUT, a Go duration such as 30s).
	EngineWebhookTimeout time.Duration
	// EngineLease is how long the reference engine's claim on an action holds
	// without renewal; an action of an engine process that died is taken over
	// once it runs out (ENGINE_LEASE). It must exceed EngineWebhookTimeout.
	EngineLease time.Duration

	// NovaControlExchange is the exchange Nova publishes notifications to
	// (NOVA_CONTROL_EXCHANGE).
	NovaControlExchange string
	// HeatControlExchange is the exchange Heat publishes notifications to
	// (HEAT_CONTROL_EXCHANGE).
	HeatControlExchange string
	// BridgeNovaQueue is the bridge's own queue bound to the Nova exchange
	// (BRIDGE_NOVA_QUEUE); never one of oslo's default queues.
	BridgeNovaQueue string
	// BridgeHeatQueue is the bridge's own queue bound to the Heat exchange
	// (BRIDGE_HEAT_QUEUE).
	BridgeHeatQueue string
	// BridgeDeadLetterExchange receives the messages the bridge cannot parse
	// (BRIDGE_DEAD_LETTER_EXCHANGE).
	BridgeDeadLetterExchange string
	// BridgeDeadLetterQueue is the durable queue bound to the dead-letter
	// exchange, where rejected notifications wait for inspection
	// (BRIDGE_DEAD_LETTER_QUEUE).
	BridgeDeadLetterQueue string
	// BridgePrefetch is the AMQP prefetch count of each bridge consumer
	// (BRIDGE_PREFETCH).
	BridgePrefetch int
	// BridgeConcurrency is the number of notifications each bridge consumer
	// handles at the same time, at most BridgePrefetch (BRIDGE_CONCURRENCY).
	BridgeConcurrency int
	// BridgeSignalTimeout bounds one signal call to Temporal
	// (BRIDGE_SIGNAL_TIMEOUT).
	BridgeSignalTimeout time.Duration
	// BridgeRetryBackoffMax caps the backoff between attempts to signal while
	// Temporal is unreachable; the notification stays unacknowledged meanwhile
	// (BRIDGE_RETRY_BACKOFF_MAX).
	BridgeRetryBackoffMax time.Duration
	// BridgeReconnectBackoffMax caps the backoff between attempts to reconnect
	// to RabbitMQ (BRIDGE_RECONNECT_BACKOFF_MAX).
	BridgeReconnectBackoffMax time.Duration
	// AMQPDurableExchanges tells whether the deployment declares its control
	// exchanges durable (AMQP_DURABLE_EXCHANGES, oslo's amqp_durable_queues).
	AMQPDurableExchanges bool

	// DevDataDir is where dev mode keeps the Temporal dev server's database
	// (DEV_DATA_DIR).
	DevDataDir string
	// DevUIPort is the port of the dev server's Temporal Web UI (DEV_UI_PORT).
	DevUIPort int
}

// Defaults returns the configuration used when nothing is set: every process
// on one machine, talking to local services.
func Defaults() Config {
	return Config{
		TemporalAddress:           "127.0.0.1:7233",
		TemporalNamespace:         "default",
		TemporalTaskQueue:         "cluster-health",
		DatabaseURL:               "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		AMQPURL:                   "amqp://guest:guest@127.0.0.1:5672/",
		LogFormat:                 LogFormatJSON,
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
}

// Load returns the defaults overridden by the environment read through getenv
// (os.Getenv in a main, a map lookup in tests); an empty variable counts as
// unset. The error joins one [*FieldError] per problem, all of them at once.
// On error the returned Config holds the default in place of each value that
// could not be parsed.
func Load(getenv func(string) string) (Config, error) {
	c := Defaults()
	var errs []error
	failed := make(map[string]bool)
	for _, s := range c.settings() {
		raw := getenv(s.env)
		if raw == "" {
			continue
		}
		if err := s.value.Set(raw); err != nil {
			errs = append(errs, &FieldError{Var: s.env, Rule: err.Error()})
			failed[s.env] = true
		}
	}
	for _, err := range c.problems() {
		if !failed[err.Var] {
			errs = append(errs, err)
		}
	}
	return c, errors.Join(errs...)
}

// Validate reports every invalid setting at once, joined, one [*FieldError]
// each. Call it again after parsing flags registered by [Config.RegisterFlags].
func (c Config) Validate() error {
	var errs []error
	for _, err := range c.problems() {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// problems checks every setting, then the rules that relate two settings.
func (c Config) problems() []*FieldError {
	var errs []*FieldError
	for _, s := range c.settings() {
		if err := s.value.check(); err != nil {
			errs = append(errs, &FieldError{Var: s.env, Rule: err.Error()})
		}
	}
	if c.HealthCheckIntervalMin > 0 && c.CheckIntervalMax > 0 && c.CheckIntervalMax < c.HealthCheckIntervalMin {
		errs = append(errs, &FieldError{Var: "CHECK_INTERVAL_MAX", Rule: fmt.Sprintf(
			"must not be below HEALTH_CHECK_INTERVAL_MIN (%d), got %d", c.HealthCheckIntervalMin, c.CheckIntervalMax)})
	}
	if c.EngineWebhookTimeout > 0 && c.EngineLease > 0 && c.EngineLease <= c.EngineWebhookTimeout {
		errs = append(errs, &FieldError{Var: "ENGINE_LEASE", Rule: fmt.Sprintf(
			"must be above ENGINE_WEBHOOK_TIMEOUT (%s), got %s", c.EngineWebhookTimeout, c.EngineLease)})
	}
	if c.BridgeNovaQueue != "" && c.BridgeNovaQueue == c.BridgeHeatQueue {
		errs = append(errs, &FieldError{Var: "BRIDGE_HEAT_QUEUE", Rule: fmt.Sprintf(
			"must differ from BRIDGE_NOVA_QUEUE, got %q for both", c.BridgeHeatQueue)})
	}
	if q := c.BridgeDeadLetterQueue; q != "" && (q == c.BridgeNovaQueue || q == c.BridgeHeatQueue) {
		errs = append(errs, &FieldError{Var: "BRIDGE_DEAD_LETTER_QUEUE", Rule: fmt.Sprintf(
			"must differ from BRIDGE_NOVA_QUEUE and BRIDGE_HEAT_QUEUE, got %q", q)})
	}
	if c.BridgePrefetch > 0 && c.BridgeConcurrency > c.BridgePrefetch {
		errs = append(errs, &FieldError{Var: "BRIDGE_CONCURRENCY", Rule: fmt.Sprintf(
			"must not be above BRIDGE_PREFETCH (%d), got %d", c.BridgePrefetch, c.BridgeConcurrency)})
	}
	return errs
}

// FieldError is one invalid setting: the environment variable and the rule it
// breaks (with the offending value, unless the value may hold a secret).
type FieldError struct {
	// Var is the environment variable, for example HEALTH_CHECK_INTERVAL_MIN.
	Var string
	// Rule says what the value must be and, for non-secret settings, what it was.
	Rule string
}

// Error returns "VAR: rule".
func (e *FieldError) Error() string { return e.Var + ": " + e.Rule }

// MinCheckInterval returns HealthCheckIntervalMin as a duration.
func (c Config) MinCheckInterval() time.Duration {
	return time.Duration(c.HealthCheckIntervalMin) * time.Second
}

// MaxCheckInterval returns CheckIntervalMax as a duration.
func (c Config) MaxCheckInterval() time.Duration {
	return time.Duration(c.CheckIntervalMax) * time.Second
}

// MetricsEnabled tells whether the metrics listener should run.
func (c Config) MetricsEnabled() bool { return c.MetricsAddr != "" }

// Redacted returns every setting by environment variable name, safe to log:
// passwords in DATABASE_URL and AMQP_URL are replaced by "xxxxx", and a URL
// that cannot be parsed is not shown at all.
func (c Config) Redacted() map[string]string {
	m := make(map[string]string)
	for _, s := range c.settings() {
		m[s.env] = s.value.String()
	}
	return m
}

// String returns the redacted settings, so that printing a Config by mistake
// leaks no secret.
func (c Config) String() string {
	return fmt.Sprint(c.Redacted())
}

// GoString returns the redacted settings for %#v, for the same reason as String.
func (c Config) GoString() string {
	return "config.Config" + c.String()
}
