package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// setting ties one Config field to its environment variable, its flag and the
// rule its value must follow. The table in settings is the only place that
// names them.
type setting struct {
	env   string
	usage string
	value value
}

// value is a pflag.Value that also checks a value set directly in the struct.
// Set rejects what it cannot parse and never echoes a secret; String never
// returns one.
type value interface {
	pflag.Value
	check() error
}

// settings lists every setting of c, bound to c's fields.
func (c *Config) settings() []setting {
	return []setting{
		{"TEMPORAL_ADDRESS", "host:port of the Temporal frontend", &stringValue{p: &c.TemporalAddress, rule: hostPort}},
		{"TEMPORAL_NAMESPACE", "Temporal namespace", &stringValue{p: &c.TemporalNamespace, rule: nonEmpty}},
		{"TEMPORAL_TASK_QUEUE", "task queue of the ClusterHealth workflow", &stringValue{p: &c.TemporalTaskQueue, rule: nonEmpty}},
		{"DATABASE_URL", "Postgres connection URL of the engine contract", &secretValue{p: &c.DatabaseURL, rule: postgresURL, redact: redactPostgres}},
		{"AMQP_URL", "RabbitMQ URL the bridge consumes from", &secretValue{p: &c.AMQPURL, rule: amqpURL, redact: redactURL}},
		{"LOG_FORMAT", "log format: json or console", &stringValue{p: &c.LogFormat, rule: oneOf(LogFormatJSON, LogFormatConsole)}},
		{"LOG_LEVEL", "log level: debug, info, warn or error", &stringValue{p: &c.LogLevel, rule: oneOf("debug", "info", "warn", "error")}},
		{"METRICS_ADDR", `host:port serving /metrics, /healthz and /readyz ("off" or "" disables)`, &metricsValue{p: &c.MetricsAddr}},
		{"HEALTH_CHECK_INTERVAL_MIN", "smallest detection interval a cluster may ask for, in seconds", &intValue{p: &c.HealthCheckIntervalMin, min: 1}},
		{"CHECK_INTERVAL_MAX", "largest detection interval, in seconds", &intValue{p: &c.CheckIntervalMax, min: 1}},
		{"SWEEP_CONCURRENCY", "probes one round runs at the same time", &intValue{p: &c.SweepConcurrency, min: 1, max: 1024}},
		{"WORKER_ACTIVITY_POLLERS", "activity task polls the health worker keeps open", &intValue{p: &c.ActivityPollers, min: 1, max: 256}},
		{"WORKER_WORKFLOW_POLLERS", "workflow task polls the health worker keeps open", &intValue{p: &c.WorkflowPollers, min: 1, max: 256}},
		{"ENGINE_WORKERS", "recover actions the reference engine runs at the same time", &intValue{p: &c.EngineWorkers, min: 1}},
		{"ENGINE_WEBHOOK_TIMEOUT", "timeout of one recovery webhook call", &durationValue{p: &c.EngineWebhookTimeout}},
		{"ENGINE_LEASE", "how long the engine's claim on an action holds unrenewed; a dead engine's actions are taken over after it", &durationValue{p: &c.EngineLease}},
		{"NOVA_CONTROL_EXCHANGE", "exchange Nova publishes notifications to", &stringValue{p: &c.NovaControlExchange, rule: nonEmpty}},
		{"HEAT_CONTROL_EXCHANGE", "exchange Heat publishes notifications to", &stringValue{p: &c.HeatControlExchange, rule: nonEmpty}},
		{"BRIDGE_NOVA_QUEUE", "the bridge's own queue for Nova notifications", &stringValue{p: &c.BridgeNovaQueue, rule: nonEmpty}},
		{"BRIDGE_HEAT_QUEUE", "the bridge's own queue for Heat notifications", &stringValue{p: &c.BridgeHeatQueue, rule: nonEmpty}},
		{"BRIDGE_DEAD_LETTER_EXCHANGE", "exchange receiving notifications the bridge cannot parse", &stringValue{p: &c.BridgeDeadLetterExchange, rule: nonEmpty}},
		{"BRIDGE_DEAD_LETTER_QUEUE", "durable queue holding the notifications the bridge rejected", &stringValue{p: &c.BridgeDeadLetterQueue, rule: nonEmpty}},
		{"BRIDGE_PREFETCH", "AMQP prefetch count of each bridge consumer", &intValue{p: &c.BridgePrefetch, min: 1, max: 65535}},
		{"BRIDGE_CONCURRENCY", "notifications each bridge consumer handles at the same time (at most the prefetch)", &intValue{p: &c.BridgeConcurrency, min: 1, max: 65535}},
		{"BRIDGE_SIGNAL_TIMEOUT", "timeout of one signal call to Temporal", &durationValue{p: &c.BridgeSignalTimeout}},
		{"BRIDGE_RETRY_BACKOFF_MAX", "largest wait between attempts to signal while Temporal is unreachable", &durationValue{p: &c.BridgeRetryBackoffMax}},
		{"BRIDGE_RECONNECT_BACKOFF_MAX", "largest wait between attempts to reconnect to RabbitMQ", &durationValue{p: &c.BridgeReconnectBackoffMax}},
		{"AMQP_DURABLE_EXCHANGES", "the control exchanges are durable (oslo's amqp_durable_queues)", &boolValue{p: &c.AMQPDurableExchanges}},
		{"DEV_DATA_DIR", "directory of the dev server's data", &stringValue{p: &c.DevDataDir, rule: nonEmpty}},
		{"DEV_UI_PORT", "port of the dev server's Temporal Web UI", &intValue{p: &c.DevUIPort, min: 1, max: 65535}},
	}
}

// RegisterFlags adds one flag per setting to fs, named after the environment
// variable in kebab case (TEMPORAL_ADDRESS is --temporal-address). Each flag
// writes to c and defaults to c's current value, so call it after [Load]:
// flags then override the environment. Call [Config.Validate] after parsing.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	for _, s := range c.settings() {
		f := fs.VarPF(s.value, FlagName(s.env), "", s.usage+" (env "+s.env+")")
		if _, ok := s.value.(*boolValue); ok {
			f.NoOptDefVal = "true"
		}
	}
}

// FlagName returns the flag name of an environment variable:
// HEALTH_CHECK_INTERVAL_MIN is health-check-interval-min.
func FlagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(env), "_", "-")
}

// stringValue is a plain setting; rule returns what is wrong with a value, or "".
type stringValue struct {
	p    *string
	rule func(string) string
}

func (v *stringValue) String() string { return *v.p }
func (v *stringValue) Type() string   { return "string" }

func (v *stringValue) Set(s string) error {
	if msg := v.rule(s); msg != "" {
		return fmt.Errorf("%s, got %q", msg, s)
	}
	*v.p = s
	return nil
}

func (v *stringValue) check() error {
	if msg := v.rule(*v.p); msg != "" {
		return fmt.Errorf("%s, got %q", msg, *v.p)
	}
	return nil
}

// secretValue is a URL that may hold a password. Set accepts anything, because
// pflag prints the value of a rejected flag; check reports the rule without the
// value, and String shows the value with the password replaced.
type secretValue struct {
	p      *string
	rule   func(string) string
	redact func(string) string
}

func (v *secretValue) String() string     { return v.redact(*v.p) }
func (v *secretValue) Type() string       { return "url" }
func (v *secretValue) Set(s string) error { *v.p = s; return nil }

func (v *secretValue) check() error {
	if msg := v.rule(*v.p); msg != "" {
		return fmt.Errorf("%s (value not shown: it may hold a password)", msg)
	}
	return nil
}

// metricsValue is a host:port, or empty to disable; "off" also disables.
type metricsValue struct{ p *string }

func (v *metricsValue) Type() string { return "string" }

func (v *metricsValue) String() string {
	if *v.p == "" {
		return MetricsOff
	}
	return *v.p
}

func (v *metricsValue) Set(s string) error {
	if s == MetricsOff {
		s = ""
	}
	if s != "" {
		if msg := hostPort(s); msg != "" {
			return fmt.Errorf("%s or %q, got %q", msg, MetricsOff, s)
		}
	}
	*v.p = s
	return nil
}

func (v *metricsValue) check() error {
	if *v.p == "" {
		return nil
	}
	if msg := hostPort(*v.p); msg != "" {
		return fmt.Errorf("%s or empty, got %q", msg, *v.p)
	}
	return nil
}

// intValue is an integer within [min, max]; max 0 means no upper bound.
type intValue struct {
	p        *int
	min, max int
}

func (v *intValue) String() string { return strconv.Itoa(*v.p) }
func (v *intValue) Type() string   { return "int" }

func (v *intValue) rule() string {
	switch {
	case v.max > 0:
		return fmt.Sprintf("must be an integer from %d to %d", v.min, v.max)
	case v.min == 1:
		return "must be a positive integer"
	default:
		return fmt.Sprintf("must be an integer of at least %d", v.min)
	}
}

func (v *intValue) ok(n int) bool { return n >= v.min && (v.max == 0 || n <= v.max) }

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || !v.ok(n) {
		return fmt.Errorf("%s, got %q", v.rule(), s)
	}
	*v.p = n
	return nil
}

func (v *intValue) check() error {
	if !v.ok(*v.p) {
		return fmt.Errorf("%s, got %d", v.rule(), *v.p)
	}
	return nil
}

// durationValue is a positive Go duration such as 30s or 1m30s.
type durationValue struct{ p *time.Duration }

const durationRule = "must be a positive Go duration such as 30s or 1m30s"

func (v *durationValue) String() string { return v.p.String() }
func (v *durationValue) Type() string   { return "duration" }

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return fmt.Errorf("%s, got %q", durationRule, s)
	}
	*v.p = d
	return nil
}

func (v *durationValue) check() error {
	if *v.p <= 0 {
		return fmt.Errorf("%s, got %s", durationRule, *v.p)
	}
	return nil
}

// boolValue is true or false (also 1/0, t/f, as strconv.ParseBool reads them).
type boolValue struct{ p *bool }

func (v *boolValue) String() string   { return strconv.FormatBool(*v.p) }
func (v *boolValue) Type() string     { return "bool" }
func (v *boolValue) IsBoolFlag() bool { return true }
func (v *boolValue) check() error     { return nil }

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("must be true or false, got %q", s)
	}
	*v.p = b
	return nil
}

// Rules: each returns what a value must be, or "" when it is valid.

func nonEmpty(s string) string {
	if strings.TrimSpace(s) == "" {
		return "must not be empty"
	}
	return ""
}

func oneOf(allowed ...string) func(string) string {
	return func(s string) string {
		for _, a := range allowed {
			if s == a {
				return ""
			}
		}
		return "must be one of " + strings.Join(allowed, ", ")
	}
}

func hostPort(s string) string {
	const msg = "must be host:port with a port from 1 to 65535"
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return msg
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return msg
	}
	return ""
}

// postgresURL accepts what pgx accepts: a postgres:// or postgresql:// URL, or
// a key=value connection string. Parse errors are not shown: they quote the
// whole URL, password included.
func postgresURL(s string) string {
	const msg = "must be a postgres:// or postgresql:// URL or a key=value connection string"
	if strings.TrimSpace(s) == "" {
		return msg
	}
	if !strings.Contains(s, "://") {
		if !strings.Contains(s, "=") {
			return msg
		}
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return msg
	}
	return ""
}

func amqpURL(s string) string {
	const msg = "must be an amqp:// or amqps:// URL with a host"
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		return msg
	}
	return ""
}

const redactedPassword = "xxxxx"

// unparsable stands for a URL that cannot be parsed, hence cannot be redacted.
const unparsable = "(unparsable, not shown)"

// redactURL replaces the password of a URL, and any query parameter whose
// name holds "password", by xxxxx.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return unparsable
	}
	q := u.Query()
	changed := false
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, redactedPassword)
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// kvPassword matches password (or sslpassword) in a key=value connection
// string, quoted or not.
var kvPassword = regexp.MustCompile(`(?i)(\b\w*password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

// redactPostgres redacts a postgres URL or key=value connection string.
func redactPostgres(s string) string {
	if strings.Contains(s, "://") {
		return redactURL(s)
	}
	return kvPassword.ReplaceAllString(s, "${1}"+redactedPassword)
}
