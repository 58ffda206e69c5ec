// Package activities holds the ClusterHealth activities. Activities is a struct
// of small interfaces defined here; the mains wire concrete adapters (Postgres,
// HTTP prober) into them, so this package never imports pgx, amqp or zap.
package activities

import (
	"context"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

// Store is the engine contract as the activities need it.
type Store interface {
	// GetCluster returns the cluster; the error wraps health.ErrNotFound when absent.
	GetCluster(ctx context.Context, id string) (health.Cluster, error)
	// ListNodes returns every node of the cluster, whatever its status.
	ListNodes(ctx context.Context, clusterID string) ([]health.Node, error)
	// MemberNodes returns those of ids that are nodes of the cluster.
	MemberNodes(ctx context.Context, clusterID string, ids []string) ([]string, error)
	// CreateRecoverAction inserts a READY NODE_RECOVER action unless one with the
	// same idempotency key exists, or the node already has an active (READY or
	// RUNNING) recovery; it returns that action, or the new one, and whether it
	// was created now.
	CreateRecoverAction(ctx context.Context, key, clusterID, nodeID string, p health.RecoverParams) (health.Action, bool, error)
	// GetAction returns the action; the error wraps health.ErrNotFound when absent.
	GetAction(ctx context.Context, id string) (health.Action, error)
	// AddHealthEvents appends entries to the incident timeline.
	AddHealthEvents(ctx context.Context, events []health.HealthEvent) error
	// NodeExceptions returns the check records of the cluster's nodes that
	// were not plainly healthy at its last sweep, by node ID.
	NodeExceptions(ctx context.Context, clusterID string) (map[string]health.CheckRecord, error)
	// RecordSweep stores a sweep's summary and the records of its exceptions,
	// which replace the cluster's previous ones.
	RecordSweep(ctx context.Context, clusterID string, sum health.SweepSummary, recs []health.CheckRecord) error
}

// ActionWatcher wakes waiters when an action may have changed (Postgres
// LISTEN/NOTIFY in production).
type ActionWatcher interface {
	// Watch returns a channel that receives whenever the action may have changed,
	// and a function that stops the watch.
	Watch(actionID string) (<-chan struct{}, func())
}

// URLProber makes one poll-URL attempt.
type URLProber interface {
	// Probe makes the attempt for a node of the cluster clusterID, whose
	// attempts share a bounded part of the prober's slots.
	Probe(ctx context.Context, clusterID, url string, mode health.DetectionMode) health.ProbeResult
}

// Clock tells the time; tests may replace it.
type Clock interface{ Now() time.Time }
