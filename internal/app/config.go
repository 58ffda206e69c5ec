package app

import (
	"fmt"
	"slices"

	"github.com/clusterhealth/healthd/internal/bridge"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/devserver"
	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/healthworker"
	"github.com/clusterhealth/healthd/internal/logging"
	"github.com/clusterhealth/healthd/internal/metrics"
	"github.com/clusterhealth/healthd/internal/netguard"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/temporalclient"
)

// Config holds the settings of the worker processes, one section per package
// that reads them. Start from Defaults, then load the sections of the roles a
// process runs (Sections); the others keep their defaults and are not used.
type Config struct {
	// Temporal is where the health worker and the bridge reach Temporal.
	Temporal temporalclient.Config
	// Database is the engine contract of the health worker and the engine.
	Database store.Config
	// Log and Metrics are read by every process.
	Log     logging.Config
	Metrics metrics.Config
	// Network is the address policy of the health worker's probes and the
	// engine's status reads and webhooks.
	Network netguard.Config
	// Health is the health worker's section.
	Health healthworker.Config
	// Engine is the reference engine's section.
	Engine engine.Config
	// Bridge is the signal bridge's section.
	Bridge bridge.Config
	// Dev is dev mode's own section; Main does not read it.
	Dev devserver.Config
}

// Defaults returns the configuration used when nothing is set: every process
// on one machine, talking to local services.
func Defaults() Config {
	return Config{
		Temporal: temporalclient.DefaultConfig(),
		Database: store.DefaultConfig(),
		Log:      logging.DefaultConfig(),
		Metrics:  metrics.DefaultConfig(),
		Health:   healthworker.DefaultConfig(),
		Engine:   engine.DefaultConfig(),
		Bridge:   bridge.DefaultConfig(),
		Dev:      devserver.DefaultConfig(),
	}
}

// Sections returns the sections of c that a process running roles reads,
// bound to c's fields, for config.Load, config.RegisterFlags and
// config.Validate: logging and metrics always, Temporal for the health worker
// and the bridge, the database for the health worker and the engine, and the
// section of each role.
func (c *Config) Sections(roles ...string) []config.Section {
	health, eng, br := slices.Contains(roles, RoleHealth), slices.Contains(roles, RoleEngine), slices.Contains(roles, RoleBridge)
	var s []config.Section
	if health || br {
		s = append(s, &c.Temporal)
	}
	if health || eng {
		s = append(s, &c.Database, &c.Network)
	}
	s = append(s, &c.Log, &c.Metrics)
	if health {
		s = append(s, &c.Health)
	}
	if eng {
		s = append(s, &c.Engine)
	}
	if br {
		s = append(s, &c.Bridge)
	}
	return s
}

// AllSections returns every section of c, bound to c's fields: what dev
// mode, which runs every role and the dev server, reads.
func (c *Config) AllSections() []config.Section {
	return append(c.Sections(RoleHealth, RoleEngine, RoleBridge), &c.Dev)
}

// String returns the redacted settings of every section, so that printing a
// Config by mistake leaks no password.
func (c Config) String() string { return fmt.Sprint(config.Redacted(c.AllSections()...)) }

// GoString returns the redacted settings for %#v, for the same reason as String.
func (c Config) GoString() string { return "app.Config" + c.String() }
