// Package temporalclient holds the settings with which every healthd process
// reaches Temporal: the frontend, the namespace and the task queue of the
// ClusterHealth workflows.
package temporalclient

import (
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/workflows"
)

// Config is the Temporal section of the settings of the health worker, the
// bridge, dev mode and the starter.
type Config struct {
	// Address is the host:port of the Temporal frontend (TEMPORAL_ADDRESS).
	Address string
	// Namespace is the Temporal namespace (TEMPORAL_NAMESPACE).
	Namespace string
	// TaskQueue is the task queue of the ClusterHealth workflow and its
	// activities (TEMPORAL_TASK_QUEUE).
	TaskQueue string
}

// DefaultConfig returns the Temporal settings used when nothing is set: a
// local server.
func DefaultConfig() Config {
	return Config{Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: workflows.TaskQueue}
}

// Settings binds the TEMPORAL_ variables to c.
func (c *Config) Settings() []config.Setting {
	return []config.Setting{
		config.String("TEMPORAL_ADDRESS", "host:port of the Temporal frontend", &c.Address, config.HostPort),
		config.String("TEMPORAL_NAMESPACE", "Temporal namespace", &c.Namespace, config.NonEmpty),
		config.String("TEMPORAL_TASK_QUEUE", "task queue of the ClusterHealth workflow", &c.TaskQueue, config.NonEmpty),
	}
}
