// Package app wires the processes together: configuration, logging, the
// Temporal client, the Postgres store, the health worker, the reference
// engine, the signal bridge and the metrics endpoint. The worker binary, dev
// mode and end-to-end tests all run through Main.
package app

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/logging"
	"github.com/clusterhealth/healthd/internal/metrics"
	"github.com/clusterhealth/healthd/internal/openstack"
	"github.com/clusterhealth/healthd/internal/probe"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/workflows"
)

// Roles a process can run.
const (
	RoleHealth = "health"
	RoleEngine = "engine"
	RoleBridge = "bridge"
)

// Main runs one or more roles in one process.
type Main struct {
	Config   Config
	Logger   *zap.Logger
	Registry *prometheus.Registry
	Metrics  *metrics.Metrics
	// Getenv reads the variables that are not settings of Config: the
	// OpenStack credentials (OS_CLOUD, OS_*). Nil means os.Getenv.
	Getenv func(string) string

	mu      sync.Mutex
	ready   map[string]func(context.Context) error
	started bool
	// Client and Store are set once Run has connected; see Started.
	Client client.Client
	Store  *store.Store
}

// Started reports whether Run has connected and started every role.
func (m *Main) Started() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.started
}

// New builds a Main with a fresh metrics registry.
func New(cfg Config, logger *zap.Logger) *Main {
	reg := metrics.NewRegistry()
	return &Main{Config: cfg, Logger: logger, Registry: reg, Metrics: metrics.New(reg), ready: map[string]func(context.Context) error{}}
}

// pruneEvery is how often the health worker applies RETENTION.
const pruneEvery = time.Hour

// prune deletes what is older than keep, now and every pruneEvery, until ctx
// ends; a failure is logged and tried again at the next turn.
func (m *Main) prune(ctx context.Context, keep time.Duration) error {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		p, err := m.Store.Prune(ctx, time.Now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil:
			m.Logger.Warn("retention: cannot delete old rows; trying again in an hour", zap.Error(err))
		case err == nil && !p.Skipped && p.HealthEvents+p.Actions+p.NodeChecks > 0:
			m.Logger.Info("retention: old rows deleted", zap.Duration("retention", keep), zap.Int64("health_events", p.HealthEvents),
				zap.Int64("actions", p.Actions), zap.Int64("orphaned_node_checks", p.NodeChecks))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Migrate applies the store migrations and returns.
func (m *Main) Migrate(ctx context.Context) error {
	st, err := store.Open(ctx, m.Config.Database.URL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	m.Logger.Info("database migrated")
	return nil
}

// Run runs the roles until ctx ends, then shuts them down gracefully.
func (m *Main) Run(ctx context.Context, roles ...string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	needStore := slices.Contains(roles, RoleHealth) || slices.Contains(roles, RoleEngine)
	needTemporal := slices.Contains(roles, RoleHealth) || slices.Contains(roles, RoleBridge)

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	goRun := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	goRun("metrics", func(ctx context.Context) error {
		return metrics.Serve(ctx, m.Config.Metrics.Addr, m.Registry, m.readiness, m.Logger)
	})
	goRun("pprof", func(ctx context.Context) error { return metrics.ServePprof(ctx, m.Config.Metrics.PprofAddr) })

	var watcher *store.Watcher
	if needStore {
		st, err := store.Open(ctx, m.Config.Database.URL)
		if err != nil {
			return err
		}
		defer st.Close()
		migrate := st.Migrate
		if m.Config.Database.SkipMigrations {
			migrate = st.CheckSchema
		}
		if err := migrate(ctx); err != nil {
			return err
		}
		m.Store = st
		m.setReady("postgres", st.Ping)
		watcher = store.NewWatcher(st.Pool())
		watcher.OnError = func(err error) { m.Logger.Warn("action watcher", zap.Error(err)) }
		goRun("watcher", watcher.Run)
	}
	if needTemporal {
		c, err := m.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		m.Client = c
		m.setReady("temporal", func(ctx context.Context) error {
			_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		})
	}
	for _, r := range roles {
		switch r {
		case RoleHealth:
			w := worker.New(m.Client, m.Config.Temporal.TaskQueue, worker.Options{
				MaxConcurrentActivityTaskPollers: m.Config.Health.ActivityPollers,
				MaxConcurrentWorkflowTaskPollers: m.Config.Health.WorkflowPollers,
			})
			lim := workflows.Limits{IntervalMin: m.Config.Health.IntervalMin, IntervalMax: m.Config.Health.IntervalMax}
			w.RegisterWorkflowWithOptions(workflows.New(lim), workflow.RegisterOptions{Name: workflows.WorkflowName})
			w.RegisterActivity(&activities.Activities{
				Store:   m.Store,
				Watcher: watcher,
				Prober: probe.New(probe.Options{InFlight: m.Config.Health.ProbeConcurrency, PerCluster: m.Config.Health.ClusterShare(),
					Policy: m.Config.Network.Policy()}),
				Sweeps:           semaphore.NewWeighted(int64(m.Config.Health.Sweeps())),
				SweepConcurrency: m.Config.Health.SweepConcurrency,
			})
			if err := w.Start(); err != nil {
				return fmt.Errorf("health worker: %w", err)
			}
			if keep := m.Config.Database.Retention; keep > 0 {
				goRun("retention", func(ctx context.Context) error { return m.prune(ctx, keep) })
			}
			metrics.RegisterClusters(m.Registry, m.countClusters)
			defer w.Stop()
			m.Logger.Info("health worker started", zap.String("task_queue", m.Config.Temporal.TaskQueue))
		case RoleEngine:
			host, _ := os.Hostname()
			ex := &engine.Executor{
				Store: m.Store, Watcher: watcher, Logger: m.Logger.Named("engine"), Observer: m.Metrics,
				HTTP:    m.Config.Network.Policy().Client(m.Config.Engine.WebhookTimeout),
				Workers: m.Config.Engine.Workers, ID: fmt.Sprintf("%s/%d", host, os.Getpid()),
				Lease: m.Config.Engine.Lease, WebhookSecret: m.Config.Engine.WebhookSecret,
			}
			if m.Config.Engine.Driver == engine.DriverOpenStack {
				getenv := m.Getenv
				if getenv == nil {
					getenv = os.Getenv
				}
				cloud, err := openstack.Connect(ctx, getenv)
				if err != nil {
					return fmt.Errorf("ENGINE_DRIVER=openstack: %w", err)
				}
				ex.Recoverer = openstack.Recoverer{Cloud: cloud}
				syncer := &openstack.Syncer{Cloud: cloud, Store: m.Store, Logger: m.Logger.Named("openstack"),
					Refresh: m.Config.Engine.OpenStackRefresh, AllProjects: m.Config.Engine.OpenStackAllProjects}
				goRun("openstack", syncer.Run)
				m.Logger.Info("openstack driver started", zap.String("credentials", cloud.Name),
					zap.Duration("refresh", m.Config.Engine.OpenStackRefresh))
			}
			metrics.RegisterRecoveriesInFlight(m.Registry, m.countActiveActions)
			goRun("engine", ex.Run)
			m.Logger.Info("engine executor started", zap.Int("workers", m.Config.Engine.Workers),
				zap.String("driver", m.Config.Engine.Driver))
		case RoleBridge:
			if err := m.startBridge(ctx, goRun); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown role %q", r)
		}
	}
	m.mu.Lock()
	m.started = true
	m.mu.Unlock()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	m.Logger.Info("shutting down")
	cancel()
	wg.Wait()
	return err
}

// countClusters counts the running ClusterHealth workflows of each health
// state in Temporal's visibility: one count a state, whatever the fleet.
func (m *Main) countClusters(ctx context.Context) (map[string]float64, error) {
	out := make(map[string]float64, len(workflows.HealthStates))
	for _, state := range workflows.HealthStates {
		r, err := m.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Namespace: m.Config.Temporal.Namespace,
			Query: fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND %s = '%s'",
				workflows.WorkflowName, workflows.SAHealthState.GetName(), state),
		})
		if err != nil {
			return nil, err
		}
		out[state] = float64(r.GetCount())
	}
	return out, nil
}

// countActiveActions counts the recover actions in flight by status.
func (m *Main) countActiveActions(ctx context.Context) (map[string]float64, error) {
	n, err := m.Store.ActiveActions(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]float64{metrics.InFlightReady: float64(n[health.ActionReady]), metrics.InFlightRunning: float64(n[health.ActionRunning])}, nil
}

// setReady registers the readiness check of one dependency; readiness runs
// it with a context bounded by metrics.ReadyTimeout.
func (m *Main) setReady(name string, f func(context.Context) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ready[name] = f
}

// Ready reports nil when every dependency of the running roles answers, each
// within metrics.ReadyTimeout.
func (m *Main) Ready() error { return m.readiness(context.Background()) }

// readiness runs the checks at the same time without holding m.mu, so that a
// dependency that hangs delays neither other /readyz requests nor setReady.
func (m *Main) readiness(ctx context.Context) error {
	m.mu.Lock()
	checks := make(map[string]func(context.Context) error, len(m.ready))
	for name, f := range m.ready {
		checks[name] = f
	}
	m.mu.Unlock()
	return metrics.CheckAll(ctx, checks)
}

// dial connects to Temporal, retrying with backoff so workers may start
// before the server.
func (m *Main) dial(ctx context.Context) (client.Client, error) {
	opts, err := m.Config.Temporal.ClientOptions()
	if err != nil {
		return nil, err
	}
	opts.Logger = logging.Temporal(m.Logger.Named("temporal"))
	// The workflow's rounds, verdicts and recoveries reach Prometheus through
	// the SDK, which counts nothing while it replays.
	opts.MetricsHandler = m.Metrics.SDKHandler()
	if tc := opts.ConnectionOptions.TLS; tc != nil && tc.InsecureSkipVerify {
		m.Logger.Warn("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is set: Temporal's certificate is not verified")
	}
	m.Logger.Info("connecting to Temporal", zap.String("address", opts.HostPort), zap.String("namespace", opts.Namespace),
		zap.String("security", m.Config.Temporal.Security()))
	var last error // what made Temporal unreachable, reported rather than ctx's end
	c, err := backoff.Retry(ctx, func() (client.Client, error) {
		c, err := client.DialContext(ctx, opts)
		last = err
		return c, err
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 500 * time.Millisecond, Multiplier: 2, MaxInterval: 15 * time.Second}),
		// No limit on the total time (the library's default stops after 15
		// minutes): a worker waits for the server as long as it takes.
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, wait time.Duration) {
			m.Logger.Warn("cannot reach Temporal, retrying", zap.String("address", m.Config.Temporal.Address),
				zap.Duration("in", wait), zap.Error(err), zap.String("hint", m.Config.Temporal.Hint(err)))
		}))
	if err != nil {
		if hint := m.Config.Temporal.Hint(last); hint != "" {
			return nil, fmt.Errorf("connect to Temporal at %s: %w (%s)", m.Config.Temporal.Address, last, hint)
		}
		return nil, fmt.Errorf("connect to Temporal at %s: %w", m.Config.Temporal.Address, last)
	}
	return c, nil
}
