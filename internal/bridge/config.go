package bridge

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/clusterhealth/healthd/internal/config"
)

// Config configures a Bridge, and is the bridge section of the bridge
// process's settings: the fields a variable sets name it. Zero fields take
// the value of DefaultConfig (see WithDefaults).
type Config struct {
	// URL is the AMQP URL, amqp://user:password@host:5672/vhost (AMQP_URL).
	// It is never logged with its password. With amqps:// the bridge
	// connects over TLS and verifies the server's certificate and host name.
	URL string
	// CAFile is a PEM file of the CA certificates that an amqps:// server's
	// certificate must be signed by (AMQP_CA_FILE); empty trusts the
	// system's roots. It is read at each connection.
	CAFile string
	// NovaExchange is Nova's control exchange (NOVA_CONTROL_EXCHANGE).
	NovaExchange string
	// HeatExchange is Heat's control exchange (HEAT_CONTROL_EXCHANGE).
	HeatExchange string
	// NovaQueue and HeatQueue are the bridge's own durable queues
	// (BRIDGE_NOVA_QUEUE, BRIDGE_HEAT_QUEUE). Replicas share them as competing
	// consumers. They must not be oslo's default queues, which are named like
	// the routing keys and read by other services.
	NovaQueue string
	HeatQueue string
	// RoutingKeys bind both queues to their exchange.
	RoutingKeys []string
	// DeadLetterExchange receives the bodies that cannot be parsed, a durable
	// fanout exchange of the bridge's own (BRIDGE_DEAD_LETTER_EXCHANGE).
	DeadLetterExchange string
	// DeadLetterQueue is bound to DeadLetterExchange, where rejected
	// notifications wait for inspection (BRIDGE_DEAD_LETTER_QUEUE).
	DeadLetterQueue string
	// Prefetch limits the unacknowledged deliveries per queue
	// (BRIDGE_PREFETCH).
	Prefetch int
	// Concurrency is the number of deliveries handled at once per queue, at
	// most Prefetch (BRIDGE_CONCURRENCY).
	Concurrency int
	// ExchangeDurable is the durability the bridge gives an exchange it has to
	// create because oslo.messaging has not declared it yet
	// (AMQP_DURABLE_EXCHANGES). It must match the deployment's
	// [oslo_messaging_rabbit] amqp_durable_queues (default false, oslo's
	// default): a publisher whose declaration differs gets 406 and its
	// notifications are lost. Existing exchanges are only checked passively.
	ExchangeDurable bool
	// RetryBackoffMin and RetryBackoffMax bound the capped exponential backoff
	// between attempts to signal while Temporal is unreachable; the
	// notification stays unacknowledged meanwhile (the maximum is
	// BRIDGE_RETRY_BACKOFF_MAX).
	RetryBackoffMin time.Duration
	RetryBackoffMax time.Duration
	// ReconnectBackoffMin and ReconnectBackoffMax bound the backoff between
	// connection attempts to RabbitMQ (the maximum is
	// BRIDGE_RECONNECT_BACKOFF_MAX).
	ReconnectBackoffMin time.Duration
	ReconnectBackoffMax time.Duration
	// SignalTimeout bounds one signal call (BRIDGE_SIGNAL_TIMEOUT). A call in
	// flight at shutdown is allowed to finish within it.
	SignalTimeout time.Duration
	// DialTimeout bounds connecting and the AMQP handshake.
	DialTimeout time.Duration
	// Heartbeat is the AMQP heartbeat interval.
	Heartbeat time.Duration
	// ConnectionName is shown by RabbitMQ for the bridge's connection.
	ConnectionName string
	// QueueMaxLength and MessageTTL bound the bridge's queues
	// (BRIDGE_QUEUE_MAX_LENGTH, BRIDGE_MESSAGE_TTL): through a long outage
	// of Temporal (or of the bridge) they would otherwise collect all of
	// Nova's traffic until RabbitMQ's memory alarm blocks every publisher,
	// OpenStack's own services included. What overflows (the oldest) or
	// expires goes to the dead-letter exchange.
	QueueMaxLength int
	MessageTTL     time.Duration
	// DeadLetterMaxLength bounds the dead-letter queue
	// (BRIDGE_DEAD_LETTER_MAX_LENGTH); beyond it, the oldest are dropped.
	DeadLetterMaxLength int
	// MaxEventAge drops, counted, the events older than it by their own
	// timestamp (BRIDGE_MAX_EVENT_AGE): a power-off hours old, delivered
	// after an outage, is about a server that may be fine again. Zero: no
	// limit.
	MaxEventAge time.Duration
}

// DefaultConfig returns the bridge settings used when nothing is set: the
// local RabbitMQ, oslo's exchange names and routing keys, and the bridge's
// own queues.
func DefaultConfig() Config {
	return Config{
		URL:          "amqp://guest:guest@127.0.0.1:5672/",
		NovaExchange: "nova",
		HeatExchange: "heat",
		NovaQueue:    "healthd.nova",
		HeatQueue:    "healthd.heat",
		RoutingKeys: []string{
			"versioned_notifications.info", "versioned_notifications.error",
			"notifications.info", "notifications.error",
		},
		DeadLetterExchange:  "healthd.dlx",
		DeadLetterQueue:     "healthd.dead",
		Prefetch:            32,
		Concurrency:         4,
		ExchangeDurable:     false,
		RetryBackoffMin:     500 * time.Millisecond,
		RetryBackoffMax:     30 * time.Second,
		ReconnectBackoffMin: 500 * time.Millisecond,
		ReconnectBackoffMax: 30 * time.Second,
		SignalTimeout:       10 * time.Second,
		DialTimeout:         10 * time.Second,
		Heartbeat:           10 * time.Second,
		ConnectionName:      "healthd-bridge",
		QueueMaxLength:      100000,
		MessageTTL:          time.Hour,
		DeadLetterMaxLength: 100000,
		MaxEventAge:         10 * time.Minute,
	}
}

// WithDefaults returns the configuration with every zero field set to its
// value in DefaultConfig; a zero Concurrency becomes at most Prefetch.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	c.URL = cmp.Or(c.URL, d.URL)
	c.NovaExchange = cmp.Or(c.NovaExchange, d.NovaExchange)
	c.HeatExchange = cmp.Or(c.HeatExchange, d.HeatExchange)
	c.NovaQueue = cmp.Or(c.NovaQueue, d.NovaQueue)
	c.HeatQueue = cmp.Or(c.HeatQueue, d.HeatQueue)
	if len(c.RoutingKeys) == 0 {
		c.RoutingKeys = d.RoutingKeys
	}
	c.DeadLetterExchange = cmp.Or(c.DeadLetterExchange, d.DeadLetterExchange)
	c.DeadLetterQueue = cmp.Or(c.DeadLetterQueue, d.DeadLetterQueue)
	c.Prefetch = cmp.Or(c.Prefetch, d.Prefetch)
	c.Concurrency = cmp.Or(c.Concurrency, min(d.Concurrency, c.Prefetch))
	c.RetryBackoffMin = cmp.Or(c.RetryBackoffMin, d.RetryBackoffMin)
	c.RetryBackoffMax = cmp.Or(c.RetryBackoffMax, d.RetryBackoffMax)
	c.ReconnectBackoffMin = cmp.Or(c.ReconnectBackoffMin, d.ReconnectBackoffMin)
	c.ReconnectBackoffMax = cmp.Or(c.ReconnectBackoffMax, d.ReconnectBackoffMax)
	c.SignalTimeout = cmp.Or(c.SignalTimeout, d.SignalTimeout)
	c.DialTimeout = cmp.Or(c.DialTimeout, d.DialTimeout)
	c.Heartbeat = cmp.Or(c.Heartbeat, d.Heartbeat)
	c.ConnectionName = cmp.Or(c.ConnectionName, d.ConnectionName)
	c.QueueMaxLength = cmp.Or(c.QueueMaxLength, d.QueueMaxLength)
	c.MessageTTL = cmp.Or(c.MessageTTL, d.MessageTTL)
	c.DeadLetterMaxLength = cmp.Or(c.DeadLetterMaxLength, d.DeadLetterMaxLength)
	// A zero MaxEventAge stays zero: no age limit (a library caller's
	// choice; the process's default is DefaultConfig's).
	return c
}

// Settings binds the bridge's variables to c.
func (c *Config) Settings() []config.Setting {
	return []config.Setting{
		config.SecretURL("AMQP_URL", "RabbitMQ URL the bridge consumes from", &c.URL, amqpURL, config.RedactURL),
		config.String("AMQP_CA_FILE", "PEM file of the CA certificates an amqps:// server must present a certificate of (empty: the system's roots)", &c.CAFile, config.PEMCertificates),
		config.String("NOVA_CONTROL_EXCHANGE", "exchange Nova publishes notifications to", &c.NovaExchange, config.NonEmpty),
		config.String("HEAT_CONTROL_EXCHANGE", "exchange Heat publishes notifications to", &c.HeatExchange, config.NonEmpty),
		config.String("BRIDGE_NOVA_QUEUE", "the bridge's own queue for Nova notifications", &c.NovaQueue, config.NonEmpty),
		config.String("BRIDGE_HEAT_QUEUE", "the bridge's own queue for Heat notifications", &c.HeatQueue, config.NonEmpty),
		config.String("BRIDGE_DEAD_LETTER_EXCHANGE", "exchange receiving notifications the bridge cannot parse", &c.DeadLetterExchange, config.NonEmpty),
		config.String("BRIDGE_DEAD_LETTER_QUEUE", "durable queue holding the notifications the bridge rejected", &c.DeadLetterQueue, config.NonEmpty),
		config.Int("BRIDGE_PREFETCH", "AMQP prefetch count of each bridge consumer", &c.Prefetch, 1, 65535),
		config.Int("BRIDGE_CONCURRENCY", "notifications each bridge consumer handles at the same time (at most the prefetch)", &c.Concurrency, 1, 65535),
		config.Duration("BRIDGE_SIGNAL_TIMEOUT", "timeout of one signal call to Temporal", &c.SignalTimeout),
		config.Duration("BRIDGE_RETRY_BACKOFF_MAX", "largest wait between attempts to signal while Temporal is unreachable", &c.RetryBackoffMax),
		config.Duration("BRIDGE_RECONNECT_BACKOFF_MAX", "largest wait between attempts to reconnect to RabbitMQ", &c.ReconnectBackoffMax),
		config.Bool("AMQP_DURABLE_EXCHANGES", "the control exchanges are durable (oslo's amqp_durable_queues)", &c.ExchangeDurable),
		config.Int("BRIDGE_QUEUE_MAX_LENGTH", "most notifications each bridge queue holds; the oldest beyond it go to the dead-letter exchange", &c.QueueMaxLength, 1, 100000000),
		config.Duration("BRIDGE_MESSAGE_TTL", "how long a notification waits in a bridge queue before it goes to the dead-letter exchange", &c.MessageTTL),
		config.Int("BRIDGE_DEAD_LETTER_MAX_LENGTH", "most notifications the dead-letter queue holds; the oldest beyond it are dropped", &c.DeadLetterMaxLength, 1, 100000000),
		config.DurationOrOff("BRIDGE_MAX_EVENT_AGE", "events older than this by their own timestamp are dropped and counted, not signalled (0: no limit)", &c.MaxEventAge),
	}
}

// Check reports the rules that relate the bridge's settings: AMQP_CA_FILE
// only with an amqps:// URL, distinct exchanges and queues, no oslo default queue, the concurrency within the
// prefetch, and backoffs whose maximum is not below their minimum.
func (c Config) Check() []*config.FieldError {
	var errs []*config.FieldError
	add := func(env, format string, args ...any) {
		errs = append(errs, &config.FieldError{Var: env, Rule: fmt.Sprintf(format, args...)})
	}
	if c.CAFile != "" && c.URL != "" {
		if u, err := url.Parse(c.URL); err == nil && u.Scheme != "amqps" {
			add("AMQP_CA_FILE", "is only used with an amqps:// AMQP_URL, got scheme %s: the connection would not be encrypted", u.Scheme)
		}
	}
	if c.NovaExchange != "" && c.NovaExchange == c.HeatExchange {
		add("HEAT_CONTROL_EXCHANGE", "must differ from NOVA_CONTROL_EXCHANGE, got %q for both: every notification would be read twice", c.HeatExchange)
	}
	if c.NovaQueue != "" && c.NovaQueue == c.HeatQueue {
		add("BRIDGE_HEAT_QUEUE", "must differ from BRIDGE_NOVA_QUEUE, got %q for both", c.HeatQueue)
	}
	if q := c.DeadLetterQueue; q != "" && (q == c.NovaQueue || q == c.HeatQueue) {
		add("BRIDGE_DEAD_LETTER_QUEUE", "must differ from BRIDGE_NOVA_QUEUE and BRIDGE_HEAT_QUEUE, got %q", q)
	}
	for _, q := range []struct{ env, name string }{
		{"BRIDGE_NOVA_QUEUE", c.NovaQueue}, {"BRIDGE_HEAT_QUEUE", c.HeatQueue}, {"BRIDGE_DEAD_LETTER_QUEUE", c.DeadLetterQueue},
	} {
		if slices.Contains(c.RoutingKeys, q.name) {
			add(q.env, "must not be %q, oslo's default queue for that routing key, which other services read: name the bridge's own queue", q.name)
		}
	}
	if c.Prefetch > 0 && c.Concurrency > c.Prefetch {
		add("BRIDGE_CONCURRENCY", "must not be above BRIDGE_PREFETCH (%d), got %d", c.Prefetch, c.Concurrency)
	}
	for _, b := range []struct {
		minField, maxEnv string
		min, max         time.Duration
	}{
		{"RetryBackoffMin", "BRIDGE_RETRY_BACKOFF_MAX", c.RetryBackoffMin, c.RetryBackoffMax},
		{"ReconnectBackoffMin", "BRIDGE_RECONNECT_BACKOFF_MAX", c.ReconnectBackoffMin, c.ReconnectBackoffMax},
	} {
		switch {
		case b.min <= 0:
			add(b.minField, "must be positive, got %s", b.min)
		case b.max > 0 && b.max < b.min:
			add(b.maxEnv, "must not be below the shortest backoff (%s), got %s", b.min, b.max)
		}
	}
	return errs
}

// Validate reports every problem of the configuration at once, one
// *config.FieldError each. Call it on a configuration with defaults applied.
func (c Config) Validate() error { return config.Validate(&c) }

// String returns the redacted settings, so that printing a Config by mistake
// leaks no password.
func (c Config) String() string { return fmt.Sprint(config.Redacted(&c)) }

// GoString returns the redacted settings for %#v, for the same reason as String.
func (c Config) GoString() string { return "bridge.Config" + c.String() }

// amqpURL is the rule of AMQP_URL: what amqp091 can dial, with a host.
func amqpURL(s string) string {
	const msg = "must be an amqp:// or amqps:// URL with a host"
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		return msg
	}
	if _, err := amqp.ParseURI(s); err != nil {
		return msg
	}
	return ""
}
