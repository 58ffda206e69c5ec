package engine

import (
	"fmt"
	"time"

	"github.com/clusterhealth/healthd/internal/config"
)

// Config is the section of the engine process's settings.
type Config struct {
	// Workers is the number of recover actions executed at the same time
	// (ENGINE_WORKERS).
	Workers int
	// WebhookTimeout bounds one call of a recovery webhook
	// (ENGINE_WEBHOOK_TIMEOUT, a Go duration such as 30s).
	WebhookTimeout time.Duration
	// Lease is how long the claim on an action holds without renewal; an
	// action of an engine process that died is taken over once it runs out
	// (ENGINE_LEASE). It must exceed WebhookTimeout: see Executor.Lease.
	Lease time.Duration
	// WebhookSecret signs every recover webhook call (ENGINE_WEBHOOK_SECRET):
	// see Executor.WebhookSecret. Empty means unsigned calls. It is a secret:
	// Redacted and errors never show it.
	WebhookSecret string
	// Driver is how actions are carried out (ENGINE_DRIVER): DriverWebhook
	// calls each cluster's recovery webhook; DriverOpenStack calls Nova
	// itself and keeps the clusters of Nova servers current from it, with
	// the credentials of OS_CLOUD or the OS_* variables.
	Driver string
	// OpenStackRefresh is how often the openstack driver reads Nova
	// (OPENSTACK_REFRESH).
	OpenStackRefresh time.Duration
	// OpenStackAllProjects lists the servers of every project, not only
	// the credentials' own (OPENSTACK_ALL_PROJECTS; admin credentials).
	OpenStackAllProjects bool
}

// Drivers.
const (
	DriverWebhook   = "webhook"
	DriverOpenStack = "openstack"
)

// DefaultConfig returns the engine settings used when nothing is set.
func DefaultConfig() Config {
	return Config{Workers: 4, WebhookTimeout: 30 * time.Second, Lease: DefaultLease, Driver: DriverWebhook,
		OpenStackRefresh: 15 * time.Second}
}

// String returns the redacted settings, so that printing a Config by mistake
// leaks no webhook secret.
func (c Config) String() string { return fmt.Sprint(config.Redacted(&c)) }

// GoString returns the redacted settings for %#v, for the same reason as String.
func (c Config) GoString() string { return "engine.Config" + c.String() }

// Settings binds the ENGINE_ variables to c.
func (c *Config) Settings() []config.Setting {
	return []config.Setting{
		config.Int("ENGINE_WORKERS", "recover actions the reference engine runs at the same time", &c.Workers, 1, 0),
		config.Duration("ENGINE_WEBHOOK_TIMEOUT", "timeout of one recovery webhook call", &c.WebhookTimeout),
		config.Duration("ENGINE_LEASE", "how long the engine's claim on an action holds unrenewed; a dead engine's actions are taken over after it", &c.Lease),
		config.String("ENGINE_DRIVER", "how recover actions are carried out: webhook (each cluster's recover_webhook) or openstack (Nova itself, with the credentials of OS_CLOUD or the OS_* variables)",
			&c.Driver, func(v string) string {
				if v != DriverWebhook && v != DriverOpenStack {
					return "must be webhook or openstack"
				}
				return ""
			}),
		config.Duration("OPENSTACK_REFRESH", "how often the openstack driver reads Nova's servers and compute services", &c.OpenStackRefresh),
		config.Bool("OPENSTACK_ALL_PROJECTS", "the openstack driver lists the servers of every project (admin credentials), not only its own project's", &c.OpenStackAllProjects),
		config.Secret("ENGINE_WEBHOOK_SECRET", "key of the HMAC-SHA256 signature ("+SignatureHeader+") of every recover webhook call; empty sends them unsigned", &c.WebhookSecret),
	}
}

// Check reports a lease that one webhook call could outlast.
func (c Config) Check() []*config.FieldError {
	if c.WebhookTimeout > 0 && c.Lease > 0 && c.Lease <= c.WebhookTimeout {
		return []*config.FieldError{{Var: "ENGINE_LEASE", Rule: fmt.Sprintf(
			"must be above ENGINE_WEBHOOK_TIMEOUT (%s), got %s", c.WebhookTimeout, c.Lease)}}
	}
	return nil
}
